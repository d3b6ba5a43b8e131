"""Differential tests for tornado_c.ioloop against tornado.ioloop.

Each test runs once on pure-Python Tornado (the reference) and once on
tornado_c (the ``impl`` fixture) and asserts the behaviour Tornado 6.5 has.
Tests that involve the asyncio loop underneath also run on both loop kinds
(``loop_factory``: asyncio's default loop and the native loop).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import functools
import inspect
import logging
import os
import socket
import threading
import types
from typing import Any, Callable, Iterator, List
from unittest import mock

import pytest

APP_LOG = "tornado.application"


@pytest.fixture
def io_loop(impl: Any, loop_factory: Callable[[], asyncio.AbstractEventLoop]) -> Iterator[Any]:
    """An IOLoop of ``impl`` on a fresh asyncio loop of each kind, not current."""
    asyncio_loop = loop_factory()
    loop = impl.ioloop.IOLoop(asyncio_loop=asyncio_loop, make_current=False)
    try:
        yield loop
    finally:
        if not asyncio_loop.is_closed():
            loop.close()


def run_briefly(io_loop: Any, condition: Callable[[], bool], limit: float = 5.0) -> None:
    """Run ``io_loop`` until ``condition()`` holds (checked each 1 ms), at most
    ``limit`` seconds."""

    async def wait() -> None:
        deadline = io_loop.asyncio_loop.time() + limit
        while not condition():
            assert io_loop.asyncio_loop.time() < deadline, "condition not reached"
            await asyncio.sleep(0.001)

    io_loop.run_sync(wait)


# --- module surface ---------------------------------------------------------


def test_constants(impl: Any) -> None:
    IOLoop = impl.ioloop.IOLoop
    assert (IOLoop.NONE, IOLoop.READ, IOLoop.WRITE, IOLoop.ERROR) == (0, 1, 4, 0x18)


def test_timeout_error_is_asyncios(impl: Any) -> None:
    assert impl.ioloop.TimeoutError is asyncio.TimeoutError


def _params(fn: Any) -> list:
    sig = inspect.signature(fn)
    return [(p.name, p.kind, p.default) for p in sig.parameters.values()]


@pytest.mark.parametrize(
    "owner,name",
    [("IOLoop", n) for n in (
        "configure", "instance", "install", "clear_instance", "current", "make_current",
        "clear_current", "configurable_base", "configurable_default", "initialize",
        "close", "add_handler", "update_handler", "remove_handler", "start", "stop",
        "run_sync", "time", "add_timeout", "call_later", "call_at", "remove_timeout",
        "add_callback", "add_callback_from_signal", "spawn_callback", "add_future",
        "run_in_executor", "set_default_executor", "split_fd", "close_fd",
        "_run_callback", "_discard_future_result",
    )]
    + [("PeriodicCallback", n) for n in ("__init__", "start", "stop", "is_running")],
)
def test_signatures_match(owner: str, name: str) -> None:
    import tornado.ioloop as ref

    import tornado_c.ioloop as tc

    assert _params(getattr(getattr(tc, owner), name)) == _params(
        getattr(getattr(ref, owner), name)
    )


def test_configurable(impl: Any) -> None:
    IOLoop = impl.ioloop.IOLoop
    pa = impl.mod("platform.asyncio")
    assert IOLoop.configurable_base() is IOLoop
    assert IOLoop.configurable_default() is pa.AsyncIOLoop
    with pytest.raises(RuntimeError, match="^only AsyncIOLoop is allowed when asyncio is available$"):
        IOLoop.configure(dict)
    IOLoop.configure(impl.name + ".platform.asyncio.AsyncIOLoop")
    try:
        loop = IOLoop(make_current=False)
        assert type(loop) is pa.AsyncIOLoop
        loop.close()
    finally:
        IOLoop.configure(None)


# --- current / make_current --------------------------------------------------


def test_current_wraps_running_loop(impl: Any, loop_factory: Callable[[], Any]) -> None:
    IOLoop = impl.ioloop.IOLoop
    pa = impl.mod("platform.asyncio")
    seen: List[Any] = []

    async def main() -> None:
        assert IOLoop.current(instance=False) is None
        first = IOLoop.current()
        seen.append(first)
        assert isinstance(first, pa.AsyncIOMainLoop)
        assert first.asyncio_loop is asyncio.get_running_loop()
        assert IOLoop.current() is first
        assert IOLoop.current(instance=False) is first
        assert IOLoop.instance() is first
        assert IOLoop._ioloop_for_asyncio[asyncio.get_running_loop()] is first

    lp = loop_factory()
    try:
        lp.run_until_complete(main())
    finally:
        IOLoop._ioloop_for_asyncio.pop(lp, None)
        lp.close()
    assert seen and seen[0].asyncio_loop is lp


def test_one_ioloop_per_asyncio_loop(impl: Any, loop_factory: Callable[[], Any]) -> None:
    pa = impl.mod("platform.asyncio")
    lp = loop_factory()
    first = pa.AsyncIOLoop(asyncio_loop=lp, make_current=False)
    try:
        with pytest.raises(RuntimeError, match="already associated with asyncio loop"):
            pa.AsyncIOLoop(asyncio_loop=lp, make_current=False)
        # The failed attempt must not have closed a loop it did not create.
        assert not lp.is_closed()
        assert impl.ioloop.IOLoop._ioloop_for_asyncio[lp] is first
    finally:
        first.close()
    assert lp.is_closed()
    assert lp not in impl.ioloop.IOLoop._ioloop_for_asyncio


def test_loops_closed_through_asyncio_are_forgotten(
    impl: Any, loop_factory: Callable[[], Any]
) -> None:
    IOLoop = impl.ioloop.IOLoop
    lp = loop_factory()
    lp.run_until_complete(asyncio.sleep(0))
    lp.call_soon(IOLoop.current)
    lp.call_soon(lp.stop)
    lp.run_forever()
    assert lp in IOLoop._ioloop_for_asyncio
    lp.close()
    # The next IOLoop created sweeps the closed loop out of the mapping.
    fresh = IOLoop(make_current=False)
    try:
        assert lp not in IOLoop._ioloop_for_asyncio
    finally:
        fresh.close()


def test_make_current_and_clear_current(impl: Any) -> None:
    IOLoop = impl.ioloop.IOLoop
    previous = asyncio.new_event_loop()
    asyncio.set_event_loop(previous)
    try:
        io = IOLoop(make_current=False)
        assert asyncio.get_event_loop() is previous
        with pytest.warns(DeprecationWarning, match="^make_current is deprecated; start the event loop first$") as rec:
            io.make_current()
        assert rec[0].filename == __file__
        assert asyncio.get_event_loop() is io.asyncio_loop
        assert IOLoop.current() is io
        with pytest.warns(DeprecationWarning, match="^clear_current is deprecated$") as rec:
            IOLoop.clear_current()
        assert rec[0].filename == __file__
        assert asyncio.get_event_loop() is previous
        with pytest.warns(DeprecationWarning, match="make_current"):
            io.install()
        assert asyncio.get_event_loop() is io.asyncio_loop
        with pytest.warns(DeprecationWarning, match="clear_current"):
            IOLoop.clear_instance()
        assert asyncio.get_event_loop() is previous
        io.close()
    finally:
        asyncio.set_event_loop(None)
        previous.close()


def test_new_ioloop_becomes_current_by_default(impl: Any) -> None:
    IOLoop = impl.ioloop.IOLoop
    previous = asyncio.new_event_loop()
    asyncio.set_event_loop(previous)
    try:
        io = IOLoop()
        assert asyncio.get_event_loop() is io.asyncio_loop
        assert IOLoop.current() is io
        # Closing a current AsyncIOLoop restores the asyncio loop it replaced.
        io.close()
        assert asyncio.get_event_loop() is previous
    finally:
        asyncio.set_event_loop(None)
        previous.close()


def test_current_without_loop_in_thread(impl: Any) -> None:
    IOLoop = impl.ioloop.IOLoop
    out: dict = {}

    def in_thread() -> None:
        out["none"] = IOLoop.current(instance=False)
        created = IOLoop.current()
        out["created"] = created
        out["same"] = asyncio.get_event_loop() is created.asyncio_loop
        created.close()
        asyncio.set_event_loop(None)

    t = threading.Thread(target=in_thread)
    t.start()
    t.join(10)
    assert out["none"] is None
    assert out["same"] is True


# --- run_sync ----------------------------------------------------------------


def test_run_sync_results(io_loop: Any, impl: Any) -> None:
    gen = impl.gen

    async def native() -> str:
        await asyncio.sleep(0)
        return "native"

    @gen.coroutine
    def decorated() -> Any:
        yield gen.moment
        return "decorated"

    assert io_loop.run_sync(lambda: None) is None
    assert io_loop.run_sync(native) == "native"
    assert io_loop.run_sync(decorated) == "decorated"
    assert io_loop.run_sync(lambda: asyncio.sleep(0, "slept"), timeout=5) == "slept"

    async def current_inside() -> Any:
        return impl.ioloop.IOLoop.current()

    assert io_loop.run_sync(current_inside) is io_loop


def test_run_sync_exceptions(io_loop: Any, impl: Any) -> None:
    def sync_fail() -> None:
        raise ZeroDivisionError("sync")

    async def async_fail() -> None:
        await asyncio.sleep(0)
        raise KeyError("async")

    with pytest.raises(ZeroDivisionError, match="sync"):
        io_loop.run_sync(sync_fail)
    with pytest.raises(KeyError, match="async"):
        io_loop.run_sync(async_fail)
    with pytest.raises(impl.gen.BadYieldError):
        io_loop.run_sync(lambda: 42)


def test_run_sync_timeout(io_loop: Any) -> None:
    cancelled: List[bool] = []

    async def forever() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    with pytest.raises(asyncio.TimeoutError, match="^Operation timed out after 0.01 seconds$"):
        io_loop.run_sync(forever, timeout=0.01)
    assert cancelled == [True]


def test_run_sync_stopped_early(io_loop: Any) -> None:
    async def stops_loop() -> None:
        io_loop.stop()
        await asyncio.sleep(60)

    with pytest.raises(RuntimeError, match="^Event loop stopped before Future completed.$"):
        io_loop.run_sync(stops_loop)
    # Clean up the coroutine still pending on the loop.
    for task in asyncio.all_tasks(io_loop.asyncio_loop):
        task.cancel()
    io_loop.asyncio_loop.run_until_complete(asyncio.sleep(0))


# --- timeouts ----------------------------------------------------------------


def test_timeouts(io_loop: Any) -> None:
    order: List[Any] = []
    io_loop.add_timeout(io_loop.time() + 0.03, order.append, "float")
    io_loop.add_timeout(datetime.timedelta(seconds=0.02), order.append, "timedelta")
    io_loop.call_later(0.01, lambda *a, **kw: order.append((a, kw)), 1, 2, k=3)
    io_loop.call_at(io_loop.time() + 0.04, order.append, "call_at")
    handle = io_loop.call_later(0, order.append, "removed")
    io_loop.remove_timeout(handle)
    run_briefly(io_loop, lambda: len(order) == 4)
    assert order == [((1, 2), {"k": 3}), "timedelta", "float", "call_at"]
    # Removing a timeout that already ran is harmless.
    io_loop.remove_timeout(handle)


def test_timeout_removed_by_earlier_timeout(io_loop: Any) -> None:
    ran: List[str] = []
    later = io_loop.call_later(0.02, ran.append, "later")

    def first() -> None:
        ran.append("first")
        io_loop.remove_timeout(later)

    io_loop.call_later(0.01, first)
    io_loop.call_later(0.05, ran.append, "last")
    run_briefly(io_loop, lambda: "last" in ran)
    assert ran == ["first", "last"]


def test_add_timeout_rejects_other_deadlines(io_loop: Any) -> None:
    with pytest.raises(TypeError, match=r"^Unsupported deadline 'soon'$"):
        io_loop.add_timeout("soon", lambda: None)
    with pytest.raises(TypeError, match=r"^Unsupported deadline None$"):
        io_loop.add_timeout(None, lambda: None)


def test_time_is_wall_clock(io_loop: Any) -> None:
    import time

    before = time.time()
    now = io_loop.time()
    assert before <= now <= time.time()


# --- callbacks ---------------------------------------------------------------


def test_add_callback_args_and_order(io_loop: Any) -> None:
    got: List[Any] = []
    io_loop.add_callback(got.append, 1)
    io_loop.spawn_callback(lambda **kw: got.append(kw), x=2)
    io_loop.add_callback(lambda a, b=0: got.append(a + b), 3, b=4)
    run_briefly(io_loop, lambda: len(got) == 3)
    assert got == [1, {"x": 2}, 7]


def test_add_callback_from_other_thread(io_loop: Any) -> None:
    got: List[str] = []

    def worker() -> None:
        io_loop.add_callback(got.append, threading.current_thread().name)

    async def main() -> None:
        t = threading.Thread(target=worker, name="worker-thread")
        t.start()
        while not got:
            await asyncio.sleep(0.001)
        t.join()

    io_loop.run_sync(main, timeout=10)
    assert got == ["worker-thread"]


def test_add_callback_after_close_is_dropped(impl: Any, loop_factory: Callable[[], Any]) -> None:
    io = impl.ioloop.IOLoop(asyncio_loop=loop_factory(), make_current=False)
    io.close()
    io.add_callback(lambda: None)  # no exception
    t = threading.Thread(target=io.add_callback, args=(lambda: None,))
    t.start()
    t.join()


def test_add_callback_from_signal(io_loop: Any) -> None:
    got: List[int] = []
    with pytest.warns(DeprecationWarning, match="^add_callback_from_signal is deprecated$"):
        io_loop.add_callback_from_signal(got.append, 5)
    run_briefly(io_loop, lambda: got == [5])


def test_callback_exception_logged(io_loop: Any, caplog: pytest.LogCaptureFixture) -> None:
    done: List[bool] = []

    def fail(x: int) -> None:
        raise ZeroDivisionError(x)

    with caplog.at_level(logging.ERROR, logger=APP_LOG):
        io_loop.add_callback(fail, 1)
        io_loop.add_callback(done.append, True)
        run_briefly(io_loop, lambda: bool(done))
    records = [r for r in caplog.records if r.name == APP_LOG]
    assert len(records) == 1
    rec = records[0]
    assert rec.levelno == logging.ERROR
    assert rec.msg == "Exception in callback %r"
    assert isinstance(rec.args[0], functools.partial)
    assert rec.args[0].func is fail and rec.args[0].args == (1,)
    assert rec.exc_info[0] is ZeroDivisionError


def test_callback_returning_awaitables(io_loop: Any, impl: Any, caplog: pytest.LogCaptureFixture) -> None:
    ran: List[str] = []

    async def failing_coro() -> None:
        ran.append("coro")
        raise ValueError("from coroutine")

    def failing_future() -> Any:
        fut = impl.concurrent.Future()
        fut.set_exception(KeyError("from future"))
        ran.append("future")
        return fut

    def plain_value() -> int:
        ran.append("value")
        return 42

    def cancelled() -> None:
        ran.append("cancelled")
        raise asyncio.CancelledError()

    with caplog.at_level(logging.ERROR, logger=APP_LOG):
        for cb in (failing_coro, failing_future, plain_value, cancelled):
            io_loop.add_callback(cb)
        run_briefly(io_loop, lambda: len(ran) == 4)
        # Let the done-callbacks of the returned futures run.
        io_loop.run_sync(lambda: asyncio.sleep(0.01))
    records = [r for r in caplog.records if r.name == APP_LOG]
    errors = sorted(type(r.exc_info[1]).__name__ for r in records)
    assert errors == ["KeyError", "ValueError"]
    for r in records:
        assert r.getMessage().startswith("Exception in callback ")


# --- futures and executors ---------------------------------------------------


def test_add_future_asyncio_future(io_loop: Any, impl: Any) -> None:
    got: List[Any] = []

    async def main() -> None:
        fut = impl.concurrent.Future()
        io_loop.add_future(fut, got.append)
        fut.set_result(3)
        # Never inline: the callback runs on a later iteration.
        assert got == []
        while not got:
            await asyncio.sleep(0)
        assert got == [fut]

    io_loop.run_sync(main)


def test_add_future_concurrent_future(io_loop: Any) -> None:
    got: List[Any] = []
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        cfut = ex.submit(lambda: threading.current_thread().name)
        io_loop.add_future(cfut, lambda f: got.append((f, threading.current_thread().name)))
        run_briefly(io_loop, lambda: bool(got))
    assert got[0][0] is cfut
    assert got[0][1] == threading.current_thread().name


def test_add_future_callback_error_logged(io_loop: Any, impl: Any, caplog: pytest.LogCaptureFixture) -> None:
    def bad(f: Any) -> None:
        raise RuntimeError("bad callback")

    async def main() -> None:
        fut = impl.concurrent.Future()
        io_loop.add_future(fut, bad)
        fut.set_result(None)
        await asyncio.sleep(0.01)

    with caplog.at_level(logging.ERROR, logger=APP_LOG):
        io_loop.run_sync(main)
    msgs = [r for r in caplog.records if r.name == APP_LOG]
    assert len(msgs) == 1 and msgs[0].msg == "Exception in callback %r"


def test_run_in_executor(io_loop: Any) -> None:
    async def main() -> Any:
        default = await io_loop.run_in_executor(None, lambda a, b: a * b, 6, 7)
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mine") as ex:
            name = await io_loop.run_in_executor(ex, lambda: threading.current_thread().name)
        return default, name

    default, name = io_loop.run_sync(main)
    assert default == 42
    assert name.startswith("mine")


def test_set_default_executor(io_loop: Any) -> None:
    ex = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="default-ex")
    try:
        io_loop.set_default_executor(ex)

        async def main() -> str:
            return await io_loop.run_in_executor(None, lambda: threading.current_thread().name)

        assert io_loop.run_sync(main).startswith("default-ex")
    finally:
        ex.shutdown()


def test_base_ioloop_run_in_executor(impl: Any, loop_factory: Callable[[], Any]) -> None:
    # IOLoop's own run_in_executor (used by IOLoop subclasses that do not
    # delegate to asyncio) wraps the concurrent future in a Tornado Future.
    base = impl.ioloop.IOLoop
    io = impl.ioloop.IOLoop(asyncio_loop=loop_factory(), make_current=False)
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as ex:
            base.set_default_executor(io, ex)

            async def main() -> Any:
                fut = base.run_in_executor(io, None, lambda: "from base")
                assert isinstance(fut, impl.concurrent.Future)
                return await fut

            assert io.run_sync(main) == "from base"
    finally:
        io.close()


# --- file descriptors --------------------------------------------------------


@pytest.fixture
def sockpair() -> Iterator[tuple]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def test_handler_fd_and_fileobj(io_loop: Any, sockpair: tuple) -> None:
    a, b = sockpair
    IOLoop = type(io_loop)
    events: List[Any] = []

    def on_a(fd: Any, ev: int) -> None:
        events.append(("a", fd, ev))
        fd.recv(100)

    def on_b(fd: Any, ev: int) -> None:
        events.append(("b", fd, ev))
        os.read(fd, 100)

    io_loop.add_handler(a, on_a, IOLoop.READ)
    io_loop.add_handler(b.fileno(), on_b, IOLoop.READ)
    assert set(io_loop.handlers) == {a.fileno(), b.fileno()}
    b.send(b"x")
    a.send(b"y")
    run_briefly(io_loop, lambda: len(events) == 2)
    assert sorted(events, key=lambda e: e[0]) == [
        ("a", a, IOLoop.READ),
        ("b", b.fileno(), IOLoop.READ),
    ]
    with pytest.raises(ValueError, match="^fd %d added twice$" % a.fileno()):
        io_loop.add_handler(a.fileno(), on_a, IOLoop.READ)
    io_loop.remove_handler(a)
    io_loop.remove_handler(b.fileno())
    io_loop.remove_handler(b.fileno())  # unknown fds are ignored
    assert io_loop.handlers == {}


def test_update_handler(io_loop: Any, sockpair: tuple) -> None:
    a, b = sockpair
    IOLoop = type(io_loop)
    events: List[int] = []

    def handler(fd: Any, ev: int) -> None:
        events.append(ev)
        if ev & IOLoop.WRITE:
            io_loop.update_handler(fd, IOLoop.READ)
        else:
            fd.recv(100)

    io_loop.add_handler(a, handler, IOLoop.NONE)
    assert a.fileno() not in io_loop.readers and a.fileno() not in io_loop.writers
    io_loop.update_handler(a, IOLoop.WRITE)
    assert io_loop.writers == {a.fileno()}
    run_briefly(io_loop, lambda: events == [IOLoop.WRITE])
    assert io_loop.readers == {a.fileno()} and io_loop.writers == set()
    b.send(b"z")
    run_briefly(io_loop, lambda: events == [IOLoop.WRITE, IOLoop.READ])
    io_loop.update_handler(a, IOLoop.READ | IOLoop.WRITE)
    assert io_loop.readers == {a.fileno()} and io_loop.writers == {a.fileno()}
    io_loop.update_handler(a, IOLoop.NONE)
    assert io_loop.readers == set() and io_loop.writers == set()
    io_loop.remove_handler(a)


def test_remove_handler_from_handler(io_loop: Any) -> None:
    IOLoop = type(io_loop)
    pairs = [socket.socketpair() for _ in range(2)]
    calls: List[int] = []
    try:
        ends = [p[0] for p in pairs]

        def handler(fd: Any, ev: int) -> None:
            calls.append(fd.fileno())
            for other in ends:
                io_loop.remove_handler(other)

        for end in ends:
            io_loop.add_handler(end, handler, IOLoop.READ)
        for p in pairs:
            p[1].send(b"!")
        run_briefly(io_loop, lambda: bool(calls))
        io_loop.run_sync(lambda: asyncio.sleep(0.01))
        # Only the first handler ran; the other was removed before its turn.
        assert len(calls) == 1
    finally:
        for p in pairs:
            p[0].close()
            p[1].close()


def test_close_all_fds(impl: Any, loop_factory: Callable[[], Any]) -> None:
    io = impl.ioloop.IOLoop(asyncio_loop=loop_factory(), make_current=False)
    IOLoop = impl.ioloop.IOLoop
    a, b = socket.socketpair()
    r, w = os.pipe()
    io.add_handler(a, lambda fd, ev: None, IOLoop.READ)
    io.add_handler(r, lambda fd, ev: None, IOLoop.READ)
    io.close(all_fds=True)
    assert io.closing is True
    assert a.fileno() == -1
    with pytest.raises(OSError):
        os.fstat(r)
    assert io.asyncio_loop.is_closed()
    b.close()
    os.close(w)


def test_close_leaves_fds_open(impl: Any, loop_factory: Callable[[], Any]) -> None:
    io = impl.ioloop.IOLoop(asyncio_loop=loop_factory(), make_current=False)
    a, b = socket.socketpair()
    try:
        io.add_handler(a, lambda fd, ev: None, impl.ioloop.IOLoop.READ)
        io.close()
        assert a.fileno() != -1
        assert io.handlers == {}
    finally:
        a.close()
        b.close()


def test_split_and_close_fd(io_loop: Any) -> None:
    a, b = socket.socketpair()
    assert io_loop.split_fd(7) == (7, 7)
    assert io_loop.split_fd(a) == (a.fileno(), a)
    io_loop.close_fd(a)
    assert a.fileno() == -1
    fd = b.detach()
    io_loop.close_fd(fd)
    io_loop.close_fd(fd)  # already closed: OSError is swallowed
    with pytest.raises(OSError):
        os.fstat(fd)


# --- PeriodicCallback --------------------------------------------------------


def test_periodic_callback_arguments(impl: Any) -> None:
    PC = impl.ioloop.PeriodicCallback
    for bad in (0, -1):
        with pytest.raises(ValueError, match="^Periodic callback must have a positive callback_time$"):
            PC(lambda: None, bad)
    pc = PC(lambda: None, datetime.timedelta(seconds=1.5))
    assert pc.callback_time == 1500.0
    assert pc.jitter == 0
    assert not pc.is_running()
    pc.stop()  # stopping a never-started callback is fine
    assert PC(lambda: None, 10, jitter=0.5).jitter == 0.5


def _schedule(impl: Any, callback_time: float, jitter: float, times: List[float]) -> List[float]:
    pc = impl.ioloop.PeriodicCallback(lambda: None, callback_time, jitter=jitter)
    pc._next_timeout = 1000.0
    out = []
    for now in times:
        pc._update_next(now)
        out.append(round(pc._next_timeout, 9))
    return out


def test_periodic_callback_schedule(impl: Any) -> None:
    # On time, late by a bit, late by several periods, clock moved back.
    times = [1000.0, 1010.5, 1045.0, 1030.0, 1051.0]
    assert _schedule(impl, 10000, 0, times) == [1010.0, 1020.0, 1050.0, 1060.0, 1070.0]


def test_periodic_callback_jitter(impl: Any) -> None:
    with mock.patch("random.random", return_value=1.0):
        high = _schedule(impl, 10000, 0.5, [1000.0, 1000.0])
    with mock.patch("random.random", return_value=0.0):
        low = _schedule(impl, 10000, 0.5, [1000.0, 1000.0])
    assert high == [1012.5, 1025.0]
    assert low == [1007.5, 1015.0]


def test_periodic_callback_runs(io_loop: Any, impl: Any, caplog: pytest.LogCaptureFixture) -> None:
    calls: List[int] = []

    def tick() -> None:
        calls.append(len(calls))
        if len(calls) == 2:
            raise ValueError("tick failed")
        if len(calls) == 4:
            pc.stop()

    pc = impl.ioloop.PeriodicCallback(tick, 1)

    async def main() -> None:
        pc.start()
        assert pc.is_running()
        assert pc.io_loop is io_loop
        while pc.is_running():
            await asyncio.sleep(0.001)

    with caplog.at_level(logging.ERROR, logger=APP_LOG):
        io_loop.run_sync(main, timeout=10)
    assert calls == [0, 1, 2, 3]
    errs = [r for r in caplog.records if r.name == APP_LOG]
    assert len(errs) == 1
    assert errs[0].getMessage() == "Exception in callback %r" % (tick,)


def test_periodic_callback_awaits_coroutines(io_loop: Any, impl: Any) -> None:
    active: List[int] = []
    overlaps: List[bool] = []
    count: List[int] = []

    async def slow() -> None:
        overlaps.append(bool(active))
        active.append(1)
        await asyncio.sleep(0.005)  # longer than the 1 ms period
        active.pop()
        count.append(1)
        if len(count) == 3:
            pc.stop()

    pc = impl.ioloop.PeriodicCallback(slow, datetime.timedelta(milliseconds=1))

    async def main() -> None:
        pc.start()
        while pc.is_running():
            await asyncio.sleep(0.001)

    io_loop.run_sync(main, timeout=10)
    assert len(count) == 3
    assert overlaps == [False, False, False]


def test_periodic_callback_restart(io_loop: Any, impl: Any) -> None:
    calls: List[int] = []
    pc = impl.ioloop.PeriodicCallback(lambda: calls.append(1), 1)

    async def main() -> None:
        pc.start()
        while not calls:
            await asyncio.sleep(0.001)
        pc.stop()
        assert not pc.is_running()
        seen = len(calls)
        await asyncio.sleep(0.01)
        assert len(calls) == seen
        pc.start()
        while len(calls) == seen:
            await asyncio.sleep(0.001)
        pc.stop()

    io_loop.run_sync(main, timeout=10)


def test_timeout_class(impl: Any) -> None:
    io = types.SimpleNamespace()
    T = impl.ioloop._Timeout
    import itertools

    io._timeout_counter = itertools.count()
    first = T(5.0, lambda: None, io)
    second = T(5.0, lambda: None, io)
    earlier = T(1, lambda: None, io)
    assert first < second and first <= second and earlier < first
    with pytest.raises(TypeError, match="Unsupported deadline"):
        T("x", lambda: None, io)
