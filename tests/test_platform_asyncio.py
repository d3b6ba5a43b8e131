"""Differential tests for tornado_c.platform.asyncio against
tornado.platform.asyncio.

Each test runs on the reference and on tornado_c (``impl``); tests about the
asyncio loop underneath also run on asyncio's default loop and the native loop
(``loop_factory``).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import socket
import threading
import warnings
from typing import Any, Callable, Iterator, List

import pytest


def pa(impl: Any) -> Any:
    return impl.mod("platform.asyncio")


def selector_threads() -> List[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "Tornado selector"]


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


# --- module surface ----------------------------------------------------------


CLASSES = [
    "BaseAsyncIOLoop",
    "AsyncIOMainLoop",
    "AsyncIOLoop",
    "SelectorThread",
    "AddThreadSelectorEventLoop",
]


def _params(fn: Any) -> list:
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize("cls", CLASSES)
def test_method_signatures_match(cls: str) -> None:
    import tornado.platform.asyncio as ref

    import tornado_c.platform.asyncio as tc

    ref_cls, tc_cls = getattr(ref, cls), getattr(tc, cls)
    for name, value in vars(ref_cls).items():
        if not inspect.isfunction(value):
            continue
        assert _params(getattr(tc_cls, name)) == _params(value), name
    for fn in ("to_tornado_future", "to_asyncio_future"):
        assert _params(getattr(tc, fn)) == _params(getattr(ref, fn))


# --- futures -----------------------------------------------------------------


def test_to_tornado_future_is_identity(impl: Any, loop: Any) -> None:
    fut = loop.create_future()
    assert pa(impl).to_tornado_future(fut) is fut


def test_to_asyncio_future(impl: Any, loop: Any) -> None:
    gen = impl.gen

    @gen.coroutine
    def decorated() -> Any:
        yield gen.moment
        return "decorated"

    async def native() -> str:
        return "native"

    async def main() -> List[str]:
        a = await pa(impl).to_asyncio_future(decorated())
        b = await pa(impl).to_asyncio_future(native())
        return [a, b]

    assert loop.run_until_complete(main()) == ["decorated", "native"]
    fut = loop.create_future()
    assert pa(impl).to_asyncio_future(fut) is fut


# --- the IOLoop classes --------------------------------------------------------


def test_class_hierarchy(impl: Any) -> None:
    mod = pa(impl)
    IOLoop = impl.ioloop.IOLoop
    assert issubclass(mod.BaseAsyncIOLoop, IOLoop)
    assert issubclass(mod.AsyncIOMainLoop, mod.BaseAsyncIOLoop)
    assert issubclass(mod.AsyncIOLoop, mod.BaseAsyncIOLoop)
    assert issubclass(mod.AddThreadSelectorEventLoop, asyncio.AbstractEventLoop)


def test_asyncio_loop_created_with_new_event_loop(
    impl: Any, loop_factory: Callable[[], Any]
) -> None:
    created: List[Any] = []
    prepared = loop_factory()

    class Policy(asyncio.DefaultEventLoopPolicy):
        def new_event_loop(self) -> asyncio.AbstractEventLoop:
            created.append(prepared)
            return prepared

    old = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(Policy())
    try:
        io = pa(impl).AsyncIOLoop(make_current=False)
        assert io.asyncio_loop is created[0]
        assert io.selector_loop is io.asyncio_loop
        assert io.is_current is False
        assert io.run_sync(lambda: asyncio.sleep(0, "ok")) == "ok"
        io.close()
        assert created[0].is_closed()
    finally:
        asyncio.set_event_loop_policy(old)


def test_asyncio_main_loop(impl: Any, loop_factory: Callable[[], Any]) -> None:
    mod = pa(impl)
    lp = loop_factory()
    asyncio.set_event_loop(lp)
    try:
        main = mod.AsyncIOMainLoop()
        assert main.asyncio_loop is lp
        assert impl.ioloop.IOLoop.current() is main
        with pytest.raises(RuntimeError, match="already associated"):
            mod.AsyncIOMainLoop()
        main.close()
        assert lp.is_closed()
        assert lp not in impl.ioloop.IOLoop._ioloop_for_asyncio
    finally:
        asyncio.set_event_loop(None)
        if not lp.is_closed():
            lp.close()


def test_close_twice(impl: Any, loop_factory: Callable[[], Any]) -> None:
    io = pa(impl).AsyncIOLoop(asyncio_loop=loop_factory(), make_current=False)
    io.close()
    with pytest.raises(KeyError):
        io.close()


def test_handlers_on_asyncio_loop(impl: Any, loop_factory: Callable[[], Any], sockpair: tuple) -> None:
    a, b = sockpair
    lp = loop_factory()
    io = pa(impl).AsyncIOLoop(asyncio_loop=lp, make_current=False)
    IOLoop = impl.ioloop.IOLoop
    got: List[int] = []
    try:
        io.add_handler(a, lambda fd, ev: (got.append(ev), fd.recv(10)), IOLoop.READ)
        # The IOLoop registered the fd with the asyncio loop itself: removing
        # it there (asyncio's API) reports that it was registered.
        b.send(b"1")

        async def wait() -> None:
            while not got:
                await asyncio.sleep(0.001)

        io.run_sync(wait, timeout=10)
        assert got == [IOLoop.READ]
        assert lp.remove_reader(a.fileno()) is True
        io.readers.discard(a.fileno())
        io.remove_handler(a)
    finally:
        io.close()


def test_add_callback_uses_threadsafe_off_loop(impl: Any, loop_factory: Callable[[], Any]) -> None:
    lp = loop_factory()
    io = pa(impl).AsyncIOLoop(asyncio_loop=lp, make_current=False)
    got: List[str] = []
    try:
        # Not running: the callback still lands and wakes the loop later.
        io.add_callback(got.append, "queued")

        async def main() -> None:
            t = threading.Thread(target=io.add_callback, args=(got.append, "thread"))
            t.start()
            while len(got) < 2:
                await asyncio.sleep(0.001)
            t.join()

        io.run_sync(main, timeout=10)
        assert got == ["queued", "thread"]
    finally:
        io.close()


def test_set_default_executor_reaches_asyncio(impl: Any, loop_factory: Callable[[], Any]) -> None:
    import concurrent.futures

    lp = loop_factory()
    io = pa(impl).AsyncIOLoop(asyncio_loop=lp, make_current=False)
    ex = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="asyncio-default")
    try:
        io.set_default_executor(ex)

        async def main() -> str:
            return await lp.run_in_executor(None, lambda: threading.current_thread().name)

        assert io.run_sync(main).startswith("asyncio-default")
        fut = io.run_in_executor(None, lambda: 1)
        assert isinstance(fut, asyncio.Future)
        assert io.run_sync(lambda: fut) == 1
    finally:
        io.close()
        ex.shutdown()


# --- AnyThreadEventLoopPolicy -------------------------------------------------


def test_any_thread_policy(impl: Any) -> None:
    mod = pa(impl)
    Policy = mod.AnyThreadEventLoopPolicy
    assert Policy is mod.AnyThreadEventLoopPolicy
    assert Policy.__name__ == "AnyThreadEventLoopPolicy"
    assert issubclass(Policy, asyncio.DefaultEventLoopPolicy)
    with pytest.warns(
        DeprecationWarning,
        match="^AnyThreadEventLoopPolicy is deprecated, use asyncio.run or asyncio.new_event_loop instead$",
    ) as rec:
        policy = Policy()
    assert rec[0].filename == __file__
    old = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(policy)
    out: List[Any] = []

    def in_thread() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            lp = asyncio.get_event_loop()
            out.append(isinstance(lp, asyncio.AbstractEventLoop))
            out.append(asyncio.get_event_loop() is lp)
            lp.close()

    try:
        t = threading.Thread(target=in_thread)
        t.start()
        t.join(10)
    finally:
        asyncio.set_event_loop_policy(old)
    assert out == [True, True]


def test_module_getattr(impl: Any) -> None:
    mod = pa(impl)
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        mod.no_such_name


# --- the selector thread ------------------------------------------------------


def test_add_thread_selector_loop(impl: Any, loop_factory: Callable[[], Any], sockpair: tuple) -> None:
    a, b = sockpair
    before = len(selector_threads())
    real = loop_factory()
    wrapped = pa(impl).AddThreadSelectorEventLoop(real)
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    events: List[Any] = []
    try:
        # Everything but the add_reader family is the wrapped loop's.
        assert wrapped.time.__self__ is real
        assert wrapped.is_closed() is False

        def on_read(tag: str) -> None:
            events.append((tag, var.get(), threading.current_thread() is threading.main_thread()))
            a.recv(10)

        async def main() -> None:
            var.set("in-loop")
            wrapped.add_reader(a, on_read, "r")
            b.send(b"x")
            while not events:
                await asyncio.sleep(0.001)
            assert wrapped.remove_reader(a) is True
            assert wrapped.remove_reader(a) is False
            done = asyncio.get_running_loop().create_future()
            wrapped.add_writer(a, lambda: done.done() or done.set_result("w"))
            assert await done == "w"
            assert wrapped.remove_writer(a) is True
            assert wrapped.remove_writer(a) is False

        real.run_until_complete(main())
        assert events[0][0] == "r" and events[0][2] is True
        assert len(selector_threads()) == before + 1
        real.run_until_complete(real.shutdown_asyncgens())
        # shutdown_asyncgens stops the selector thread.
        assert len(selector_threads()) == before
    finally:
        wrapped.close()
        wrapped.close()  # idempotent
    assert real.is_closed()


def test_add_thread_selector_close_without_running(impl: Any, loop_factory: Callable[[], Any]) -> None:
    wrapped = pa(impl).AddThreadSelectorEventLoop(loop_factory())
    wrapped.close()
    assert wrapped._real_loop.is_closed()


def test_ioloop_close_stops_selector_thread(
    impl: Any, loop_factory: Callable[[], Any], sockpair: tuple
) -> None:
    # An IOLoop whose selector_loop is a select-thread wrapper (as on Windows'
    # proactor loop) routes add_handler through it and closes it on close().
    a, b = sockpair
    before = len(selector_threads())
    real = loop_factory()
    io = pa(impl).AsyncIOLoop(asyncio_loop=real, make_current=False)
    io.selector_loop = pa(impl).AddThreadSelectorEventLoop(real)
    IOLoop = impl.ioloop.IOLoop
    got: List[Any] = []
    io.add_handler(a, lambda fd, ev: (got.append((fd, ev)), fd.recv(10)), IOLoop.READ)
    b.send(b"y")

    async def wait() -> None:
        while not got:
            await asyncio.sleep(0.001)

    io.run_sync(wait, timeout=10)
    assert got == [(a, IOLoop.READ)]
    assert len(selector_threads()) == before + 1
    io.close()
    assert real.is_closed()
    assert len(selector_threads()) == before


def test_atexit_callback_stops_threads(impl: Any, loop_factory: Callable[[], Any]) -> None:
    mod = pa(impl)
    real = loop_factory()
    wrapped = mod.AddThreadSelectorEventLoop(real)
    real.run_until_complete(asyncio.sleep(0.01))
    assert wrapped._selector in mod._selector_loops
    thread = wrapped._selector._thread
    assert thread is not None and thread.is_alive()
    mod._atexit_callback()
    assert not thread.is_alive()
    assert wrapped._selector not in mod._selector_loops
    wrapped.close()


def test_loop_without_add_reader_gets_selector_thread(sockpair: tuple) -> None:
    # tornado_c goes further than Tornado (which does this only for the
    # proactor loop): any loop whose class does not implement add_reader is
    # given a selector thread, so add_handler works instead of raising.
    import tornado_c.ioloop as ioloop
    import tornado_c.platform.asyncio as mod

    class NoReaderLoop(asyncio.SelectorEventLoop):
        add_reader = asyncio.AbstractEventLoop.add_reader  # type: ignore[assignment]
        add_writer = asyncio.AbstractEventLoop.add_writer  # type: ignore[assignment]
        remove_reader = asyncio.AbstractEventLoop.remove_reader  # type: ignore[assignment]
        remove_writer = asyncio.AbstractEventLoop.remove_writer  # type: ignore[assignment]

    a, b = sockpair
    before = len(selector_threads())
    io = mod.AsyncIOLoop(asyncio_loop=NoReaderLoop(), make_current=False)
    got: List[int] = []
    try:
        assert isinstance(io.selector_loop, mod.AddThreadSelectorEventLoop)
        io.add_handler(a, lambda fd, ev: (got.append(ev), fd.recv(10)), ioloop.IOLoop.READ)
        b.send(b"z")

        async def wait() -> None:
            while not got:
                await asyncio.sleep(0.001)

        io.run_sync(wait, timeout=10)
        assert got == [ioloop.IOLoop.READ]
    finally:
        io.close()
    assert io.asyncio_loop.is_closed()
    assert len(selector_threads()) == before


def test_running_native_loop_is_known_without_asyncio(loop: Any, loop_kind: str) -> None:
    """_core._running_loop(): the native loop while it runs this thread's
    callbacks (what asyncio.get_running_loop() answers then), None outside
    them, in another thread, and on asyncio's own loop.  add_callback
    (which asks it first) queues from the loop's thread and from others,
    and fetch() binds its future to the running loop, as before."""
    from tornado_c import _core, httpclient
    from tornado_c.ioloop import IOLoop

    seen: List[Any] = []
    assert _core._running_loop() is None

    async def main() -> None:
        running = asyncio.get_running_loop()
        seen.append(_core._running_loop() is (running if loop_kind == "native" else None))
        other: List[Any] = []
        thread = threading.Thread(target=lambda: other.append(_core._running_loop()))
        thread.start()
        thread.join()
        seen.append(other == [None])
        io_loop = IOLoop.current()
        done = asyncio.Event()
        io_loop.add_callback(lambda: seen.append(_core._running_loop() is
                                                 (running if loop_kind == "native" else None)))
        threading.Thread(target=io_loop.add_callback, args=(done.set,)).start()
        await asyncio.wait_for(done.wait(), 5)
        client = httpclient.AsyncHTTPClient(force_instance=True)
        try:
            future = client.fetch("http://127.0.0.1:1/", connect_timeout=0.01)
            seen.append(future.get_loop() is running)
            with pytest.raises(Exception):
                await future
        finally:
            client.close()

    loop.run_until_complete(main())
    assert seen == [True, True, True, True]
    assert _core._running_loop() is None
