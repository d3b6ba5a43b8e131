"""Differential tests of tornado_c.concurrent against tornado.concurrent."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import sys
import threading
from typing import Any, Awaitable, Callable, List, Tuple

import pytest

import tornado.concurrent


def run(impl: Any, fn: Callable[[], Awaitable[Any]]) -> Any:
    """Run coroutine function ``fn`` to completion on a new IOLoop of ``impl``."""
    loop = impl.ioloop.IOLoop(make_current=False)
    try:
        return loop.run_sync(fn)
    finally:
        loop.close()


def params(obj: Any) -> List[Tuple[str, Any, Any]]:
    return [
        (p.name, p.kind, p.default) for p in inspect.signature(obj).parameters.values()
    ]


@pytest.mark.parametrize(
    "name",
    [
        "is_future",
        "run_on_executor",
        "chain_future",
        "future_set_result_unless_cancelled",
        "future_set_exception_unless_cancelled",
        "future_set_exc_info",
        "future_add_done_callback",
        "DummyExecutor.submit",
        "DummyExecutor.shutdown",
    ],
)
def test_signatures(impl: Any, name: str) -> None:
    def get(mod: Any) -> Any:
        obj = mod
        for part in name.split("."):
            obj = getattr(obj, part)
        return obj

    assert params(get(impl.concurrent)) == params(get(tornado.concurrent))


def test_future_types(impl: Any) -> None:
    c = impl.concurrent
    assert c.Future is asyncio.Future
    assert c.FUTURES == (concurrent.futures.Future, asyncio.Future)
    assert issubclass(c.ReturnValueIgnoredError, Exception)
    assert isinstance(c.dummy_executor, c.DummyExecutor)
    assert isinstance(c.dummy_executor, concurrent.futures.Executor)

    async def main() -> List[bool]:
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(asyncio.sleep(0))
        coro = asyncio.sleep(0)
        out = [
            c.is_future(loop.create_future()),
            c.is_future(concurrent.futures.Future()),
            c.is_future(task),
            c.is_future(coro),
            c.is_future(None),
        ]
        await task
        await coro
        return out

    coro_check = run(impl, main)
    assert coro_check == [True, True, True, False, False]


def test_set_result_unless_cancelled(impl: Any) -> None:
    c = impl.concurrent

    async def main() -> Any:
        f = asyncio.get_running_loop().create_future()
        c.future_set_result_unless_cancelled(f, 1)
        g = asyncio.get_running_loop().create_future()
        g.cancel()
        c.future_set_result_unless_cancelled(g, 2)
        cf: concurrent.futures.Future = concurrent.futures.Future()
        c.future_set_result_unless_cancelled(cf, 3)
        return f.result(), g.cancelled(), cf.result()

    assert run(impl, main) == (1, True, 3)


def test_set_exception_unless_cancelled(impl: Any, caplog: Any) -> None:
    c = impl.concurrent

    async def main() -> Any:
        f = asyncio.get_running_loop().create_future()
        c.future_set_exception_unless_cancelled(f, ValueError("a"))
        g = asyncio.get_running_loop().create_future()
        g.cancel()
        with caplog.at_level(logging.ERROR, logger="tornado.application"):
            c.future_set_exception_unless_cancelled(g, KeyError("b"))
        return type(f.exception()), g.cancelled()

    assert run(impl, main) == (ValueError, True)
    records = [r for r in caplog.records if r.name == "tornado.application"]
    assert [r.getMessage() for r in records] == ["Exception after Future was cancelled"]
    assert records[0].exc_info is not None and records[0].exc_info[0] is KeyError


def test_set_exc_info(impl: Any) -> None:
    c = impl.concurrent
    cf: concurrent.futures.Future = concurrent.futures.Future()
    try:
        raise ZeroDivisionError("z")
    except ZeroDivisionError:
        c.future_set_exc_info(cf, sys.exc_info())
    assert isinstance(cf.exception(), ZeroDivisionError)
    with pytest.raises(Exception) as info:
        c.future_set_exc_info(concurrent.futures.Future(), (None, None, None))
    assert str(info.value) == "future_set_exc_info called with no exception"
    assert type(info.value) is Exception


def test_add_done_callback_immediate(impl: Any) -> None:
    c = impl.concurrent

    async def main() -> List[str]:
        seen: List[str] = []
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        c.future_add_done_callback(done, lambda f: seen.append("done-now"))
        seen.append("after-done")
        pending = asyncio.get_running_loop().create_future()
        c.future_add_done_callback(pending, lambda f: seen.append("pending"))
        pending.set_result(None)
        seen.append("after-set")
        await asyncio.sleep(0)
        cf: concurrent.futures.Future = concurrent.futures.Future()
        cf.set_result(1)
        c.future_add_done_callback(cf, lambda f: seen.append("cf-now"))
        return seen

    assert run(impl, main) == ["done-now", "after-done", "after-set", "pending", "cf-now"]


def test_chain_future_asyncio(impl: Any) -> None:
    c = impl.concurrent

    async def main() -> Any:
        loop = asyncio.get_running_loop()
        a, b = loop.create_future(), loop.create_future()
        c.chain_future(a, b)
        a.set_result(42)
        r1 = await b

        a, b = loop.create_future(), loop.create_future()
        c.chain_future(a, b)
        a.set_exception(KeyError("x"))
        try:
            await b
        except KeyError as e:
            r2 = e.args
        # b already done: nothing is copied, nothing raises.
        a, b = loop.create_future(), loop.create_future()
        c.chain_future(a, b)
        b.set_result("first")
        a.set_result("second")
        await asyncio.sleep(0)
        r3 = b.result()
        # a already done: copied right away.
        a, b = loop.create_future(), loop.create_future()
        a.set_result("now")
        c.chain_future(a, b)
        r4 = b.done() and b.result()
        return r1, r2, r3, r4

    assert run(impl, main) == (42, ("x",), "first", "now")


def test_chain_future_concurrent(impl: Any) -> None:
    c = impl.concurrent

    async def main() -> Any:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            a = pool.submit(lambda: threading.current_thread().name)
            b = asyncio.get_running_loop().create_future()
            c.chain_future(a, b)
            name = await b
            a2 = pool.submit(lambda: 1 / 0)
            b2 = asyncio.get_running_loop().create_future()
            c.chain_future(a2, b2)
            try:
                await b2
            except ZeroDivisionError:
                err = True
        return name != threading.current_thread().name, err

    assert run(impl, main) == (True, True)


def test_chain_future_to_concurrent(impl: Any) -> None:
    c = impl.concurrent

    async def main() -> Any:
        a = asyncio.get_running_loop().create_future()
        b: concurrent.futures.Future = concurrent.futures.Future()
        c.chain_future(a, b)
        a.set_result(5)
        await asyncio.sleep(0)
        return b.result(timeout=0)

    assert run(impl, main) == 5


def test_dummy_executor(impl: Any) -> None:
    c = impl.concurrent
    f = c.dummy_executor.submit(lambda x, y=1: x + y, 1, y=2)
    assert isinstance(f, concurrent.futures.Future) and f.result() == 3
    f = c.dummy_executor.submit(lambda: 1 / 0)
    assert isinstance(f.exception(), ZeroDivisionError)
    # BaseExceptions are not captured.
    with pytest.raises(KeyboardInterrupt):

        def interrupt() -> None:
            raise KeyboardInterrupt

        c.dummy_executor.submit(interrupt)
    assert c.dummy_executor.shutdown() is None
    assert c.dummy_executor.shutdown(wait=False, cancel_futures=True) is None


def test_run_on_executor(impl: Any) -> None:
    c = impl.concurrent

    class Obj:
        def __init__(self) -> None:
            self.executor = concurrent.futures.ThreadPoolExecutor(1)
            self.other = c.dummy_executor

        @c.run_on_executor
        def default(self, x: int, y: int = 0) -> Tuple[int, bool]:
            """Doc."""
            return x + y, threading.current_thread() is threading.main_thread()

        @c.run_on_executor(executor="other")
        def named(self, x: int) -> Tuple[int, bool]:
            return x, threading.current_thread() is threading.main_thread()

        @c.run_on_executor()
        def fails(self) -> None:
            raise ValueError("bad")

    obj = Obj()

    async def main() -> Any:
        f = obj.default(1, y=2)
        assert isinstance(f, asyncio.Future)
        r1 = await f
        r2 = await obj.named(3)
        try:
            await obj.fails()
        except ValueError as e:
            r3 = str(e)
        return r1, r2, r3

    try:
        assert run(impl, main) == ((3, False), (3, True), "bad")
    finally:
        obj.executor.shutdown()
    assert Obj.default.__name__ == "default" and Obj.default.__doc__ == "Doc."


def test_run_on_executor_bad_args(impl: Any) -> None:
    c = impl.concurrent
    with pytest.raises(ValueError) as info:
        c.run_on_executor(lambda s: None, executor="x")
    assert info.value.args == ("cannot combine positional and keyword args",)
    with pytest.raises(ValueError) as info:
        c.run_on_executor(1, 2)
    assert info.value.args == ("expected 1 argument, got %d", 2)
