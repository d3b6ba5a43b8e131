"""Differential tests of tornado_c.gen against tornado.gen."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import datetime
import gc
import importlib
import inspect
import logging
import weakref
from typing import Any, Awaitable, Callable, Generator, List, Tuple

import pytest

import tornado
import tornado.gen

ctx_var: contextvars.ContextVar[str] = contextvars.ContextVar("ctx_var", default="unset")


def run(impl: Any, fn: Callable[[], Awaitable[Any]], timeout: float = 5) -> Any:
    """Run coroutine function ``fn`` to completion on a new IOLoop of ``impl``."""
    loop = impl.ioloop.IOLoop(make_current=False)
    try:
        return loop.run_sync(fn, timeout=timeout)
    finally:
        loop.close()


class Reference:
    """``impl`` for the reference, to compare traces of both in one test."""

    name = "tornado"

    def mod(self, module: str) -> Any:
        return importlib.import_module("tornado." + module)

    def __getattr__(self, module: str) -> Any:
        if module.startswith("_"):
            raise AttributeError(module)
        return self.mod(module)


def params(obj: Any) -> List[Tuple[str, Any, Any]]:
    return [
        (p.name, p.kind, p.default) for p in inspect.signature(obj).parameters.values()
    ]


@pytest.mark.parametrize(
    "name",
    [
        "coroutine",
        "is_coroutine_function",
        "Return",
        "WaitIterator",
        "multi",
        "Multi",
        "multi_future",
        "maybe_future",
        "with_timeout",
        "sleep",
        "convert_yielded",
        "Runner",
        "Runner.run",
        "Runner.handle_yield",
        "Runner.handle_exception",
        "WaitIterator.next",
        "WaitIterator.done",
    ],
)
def test_signatures(impl: Any, name: str) -> None:
    def get(mod: Any) -> Any:
        obj = mod
        for part in name.split("."):
            obj = getattr(obj, part)
        return obj

    assert params(get(impl.gen)) == params(get(tornado.gen))


def test_names(impl: Any) -> None:
    g = impl.gen
    for exc in (
        "KeyReuseError",
        "UnknownKeyError",
        "LeakedCallbackError",
        "BadYieldError",
        "ReturnValueIgnoredError",
    ):
        cls = getattr(g, exc)
        assert issubclass(cls, Exception) and cls.__bases__ == (Exception,)
    assert g.TimeoutError is asyncio.TimeoutError
    assert g.Future is asyncio.Future
    assert g.Multi is g.multi
    assert g.IOLoop is impl.ioloop.IOLoop
    assert g.moment.done() and g.moment.result() is None
    assert "moment" in g.moment.__doc__
    assert g.convert_yielded(None) is g.moment
    assert g.convert_yielded(g.moment) is g.moment


def test_return(impl: Any) -> None:
    r = impl.gen.Return(5)
    assert r.value == 5 and r.args == (5,)
    assert impl.gen.Return().value is None
    assert not isinstance(r, StopIteration)


# --- coroutine: synchronous outcomes ------------------------------------------


def test_coroutine_without_yield(impl: Any) -> None:
    g = impl.gen

    @g.coroutine
    def plain(x: int) -> int:
        return x * 2

    @g.coroutine
    def raises_return() -> None:
        raise g.Return("r")

    @g.coroutine
    def raises_stop() -> None:
        raise StopIteration("s")

    @g.coroutine
    def fails() -> None:
        raise KeyError("k")

    @g.coroutine
    def gen_no_yield() -> Generator[Any, Any, int]:
        if False:
            yield
        return 7

    @g.coroutine
    def gen_fails_first() -> Generator[Any, Any, None]:
        raise ValueError("v")
        yield

    async def main() -> List[Any]:
        out: List[Any] = []
        for fn in (plain, raises_return, raises_stop, gen_no_yield):
            f = fn(4) if fn is plain else fn()
            out.append((isinstance(f, asyncio.Future), f.done(), f.result()))
        for fn in (fails, gen_fails_first):
            f = fn()
            out.append((f.done(), type(f.exception()).__name__))
        return out

    assert run(impl, main) == [
        (True, True, 8),
        (True, True, "r"),
        (True, True, "s"),
        (True, True, 7),
        (True, "KeyError"),
        (True, "ValueError"),
    ]
    assert g.is_coroutine_function(plain)
    assert plain.__name__ == "plain" and plain.__wrapped__.__name__ == "plain"
    assert not g.is_coroutine_function(lambda: None)

    async def native() -> None:
        pass

    assert not g.is_coroutine_function(native)


def test_coroutine_base_exception_propagates(impl: Any) -> None:
    g = impl.gen

    @g.coroutine
    def interrupt() -> None:
        raise KeyboardInterrupt

    async def main() -> None:
        with pytest.raises(KeyboardInterrupt):
            interrupt()

    run(impl, main)


# --- coroutine: yielding ----------------------------------------------------------


def test_yield_kinds(impl: Any) -> None:
    g = impl.gen

    @g.coroutine
    def child(x: Any) -> Generator[Any, Any, Any]:
        yield g.moment
        return x

    async def native(x: Any) -> Any:
        await asyncio.sleep(0)
        return x

    @g.coroutine
    def parent() -> Generator[Any, Any, Any]:
        out = []
        loop = asyncio.get_running_loop()
        f = loop.create_future()
        loop.call_soon(f.set_result, "fut")
        out.append((yield f))
        out.append((yield child("child")))
        out.append((yield native("native")))
        out.append((yield))
        out.append((yield None))
        out.append((yield g.moment))
        out.append((yield [child(1), native(2), child(3)]))
        out.append((yield {"a": child(1), "b": native(2)}))
        out.append((yield []))
        out.append((yield {}))
        out.append((yield g.sleep(0)))
        done = loop.create_future()
        done.set_result("done")
        out.append((yield done))
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            out.append((yield pool.submit(lambda: "thread")))
        out.append((yield asyncio.ensure_future(native("task"))))
        return out

    assert run(impl, parent) == [
        "fut",
        "child",
        "native",
        None,
        None,
        None,
        [1, 2, 3],
        {"a": 1, "b": 2},
        [],
        {},
        None,
        "done",
        "thread",
        "task",
    ]


def test_exceptions_thrown_into_generator(impl: Any) -> None:
    g = impl.gen

    @g.coroutine
    def child() -> Generator[Any, Any, None]:
        yield g.moment
        raise KeyError("child")

    @g.coroutine
    def parent() -> Generator[Any, Any, Any]:
        out = []
        try:
            yield child()
        except KeyError as e:
            out.append(("caught", e.args))
            # The exception is not chained to the Runner's own handling.
            out.append(e.__context__ is None)
        try:
            yield object()
        except g.BadYieldError as e:
            out.append(str(e).startswith("yielded unknown object <object object at"))
        try:
            yield [child(), g.sleep(0)]
        except KeyError:
            out.append("list")
        return out

    assert run(impl, parent) == [("caught", ("child",)), True, True, "list"]


def test_failure_propagates_to_caller(impl: Any) -> None:
    g = impl.gen

    @g.coroutine
    def fails_later() -> Generator[Any, Any, None]:
        yield g.sleep(0)
        raise ValueError("late")

    async def main() -> str:
        try:
            await fails_later()
        except ValueError as e:
            return str(e)
        return "no"

    assert run(impl, main) == "late"


def test_return_value_styles(impl: Any) -> None:
    g = impl.gen

    @g.coroutine
    def via_return() -> Generator[Any, Any, None]:
        yield g.moment
        raise g.Return(1)

    @g.coroutine
    def via_return_statement() -> Generator[Any, Any, int]:
        yield g.moment
        return 2

    @g.coroutine
    def via_empty_return() -> Generator[Any, Any, None]:
        yield g.moment
        raise g.Return()

    async def main() -> List[Any]:
        return [await via_return(), await via_return_statement(), await via_empty_return()]

    assert run(impl, main) == [1, 2, None]


def test_contextvars(impl: Any) -> None:
    g = impl.gen

    @g.coroutine
    def child() -> Generator[Any, Any, Any]:
        seen = [ctx_var.get()]
        ctx_var.set("child")
        yield g.sleep(0)
        seen.append(ctx_var.get())
        yield g.moment
        seen.append(ctx_var.get())
        return seen

    @g.coroutine
    def setter() -> Generator[Any, Any, str]:
        ctx_var.set("inner")
        yield g.moment
        return ctx_var.get()

    async def main() -> Any:
        ctx_var.set("outer")
        a = await child()
        b = ctx_var.get()
        c = await setter()
        d = ctx_var.get()
        return a, b, c, d

    assert run(impl, main) == (["outer", "child", "child"], "outer", "inner", "outer")


def test_cancelled_yielded_future_hangs(impl: Any) -> None:
    """A generator waiting on a future that is cancelled is never resumed
    (Tornado's Runner treats CancelledError as fatal for the step)."""
    g = impl.gen
    steps: List[str] = []

    @g.coroutine
    def waiter(f: Any) -> Generator[Any, Any, None]:
        steps.append("start")
        yield f
        steps.append("resumed")

    async def main() -> Any:
        f = asyncio.get_running_loop().create_future()
        result = waiter(f)
        f.cancel()
        for _ in range(5):
            await asyncio.sleep(0)
        done = result.done()
        # Cancelling the result future also leaves the generator alone.
        f2 = asyncio.get_running_loop().create_future()
        result2 = waiter(f2)
        result2.cancel()
        f2.set_result(None)
        for _ in range(5):
            await asyncio.sleep(0)
        return done, result2.cancelled()

    assert run(impl, main) == (False, True)
    assert steps == ["start", "start", "resumed"]


def test_runner_kept_alive_by_result_future(impl: Any) -> None:
    g = impl.gen

    class Holder:
        pass

    @g.coroutine
    def waits(holder: Any) -> Generator[Any, Any, str]:
        # The future is reachable only through the Runner.
        f = asyncio.get_running_loop().create_future()
        holder.ref = weakref.ref(f)
        yield f
        return "finished"

    async def main() -> Any:
        holder = Holder()
        result = waits(holder)
        gc.collect()
        f = holder.ref()
        alive = f is not None
        f.set_result(None)
        return alive, await result

    assert run(impl, main) == (True, "finished")


def test_abandoned_coroutine_is_collected(impl: Any) -> None:
    g = impl.gen
    closed: List[bool] = []

    @g.coroutine
    def forever() -> Generator[Any, Any, None]:
        try:
            yield asyncio.get_running_loop().create_future()
        finally:
            closed.append(True)

    async def main() -> Any:
        result = forever()
        ref = weakref.ref(result)
        del result
        gc.collect()
        return ref() is None

    assert run(impl, main) is True
    assert closed == [True]


def test_finished_runner_leaves_no_callbacks(impl: Any) -> None:
    """Whatever the Runner keeps on its result future, completion releases
    it: awaiting many coroutines in a row does not accumulate anything."""
    g = impl.gen

    @g.coroutine
    def step(i: int) -> Generator[Any, Any, int]:
        yield g.sleep(0)
        return i

    async def main() -> int:
        total = 0
        for i in range(50):
            total += await step(i)
        await asyncio.sleep(0)
        return total

    assert run(impl, main) == sum(range(50))


# --- ordering: the same interleaving as Tornado ------------------------------------


def ordering_trace(impl: Any) -> List[Any]:
    g = impl.gen
    trace: List[Any] = []

    @g.coroutine
    def a() -> Generator[Any, Any, str]:
        trace.append("a0")
        yield g.moment
        trace.append("a1")
        yield None
        trace.append("a2")
        loop = asyncio.get_running_loop()
        f = loop.create_future()
        f.set_result(1)
        yield f
        trace.append("a3")
        yield g.sleep(0)
        trace.append("a4")
        return "a"

    @g.coroutine
    def b() -> Generator[Any, Any, str]:
        trace.append("b0")
        r = yield a()
        trace.append(("b1", r))
        yield [g.moment, g.sleep(0)]
        trace.append("b2")
        return "b"

    async def c() -> str:
        trace.append("c0")
        await asyncio.sleep(0)
        trace.append("c1")
        await asyncio.sleep(0)
        trace.append("c2")
        return "c"

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.call_soon(trace.append, "soon1")
        fb = b()
        fc = asyncio.ensure_future(c())
        loop.call_soon(trace.append, "soon2")
        fb.add_done_callback(lambda f: trace.append(("b-done", f.result())))
        trace.append(("wait", await g.multi([fb, fc])))

    run(impl, main)
    return trace


def test_ordering_matches_reference(impl: Any) -> None:
    assert ordering_trace(impl) == ordering_trace(Reference())


# --- multi ------------------------------------------------------------------------


def test_multi_results(impl: Any) -> None:
    g = impl.gen

    async def value(x: Any) -> Any:
        await asyncio.sleep(0)
        return x

    async def main() -> Any:
        fut = asyncio.get_running_loop().create_future()
        fut.set_result("f")
        r1 = await g.multi([value(1), fut, value(3)])
        r2 = await g.multi({"x": value(1), "y": fut})
        r3 = await g.multi([])
        r4 = await g.multi({})
        r5 = await g.multi_future([value(5), None])
        r6 = await g.Multi((value(6),))
        same = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(same.set_result, "s")
        r7 = await g.multi([same, same])
        r8 = await g.multi([[value(1), value(2)], {"k": value(3)}])
        return r1, r2, r3, r4, r5, r6, r7, r8

    assert run(impl, main) == (
        [1, "f", 3],
        {"x": 1, "y": "f"},
        [],
        {},
        [5, None],
        [6],
        ["s", "s"],
        [[1, 2], {"k": 3}],
    )


def test_multi_empty_is_done(impl: Any) -> None:
    async def main() -> Any:
        f = impl.gen.multi([])
        d = impl.gen.multi({})
        return f.done(), f.result(), d.done(), d.result()

    assert run(impl, main) == (True, [], True, {})


def test_multi_exceptions_logged(impl: Any, caplog: Any) -> None:
    g = impl.gen

    async def fail(exc: Exception) -> None:
        await asyncio.sleep(0)
        raise exc

    async def main() -> Any:
        out = []
        for quiet in ((), KeyError, (KeyError, ValueError)):
            caplog.clear()
            try:
                await g.multi(
                    [fail(ValueError("v")), fail(KeyError("k")), fail(ValueError("w"))],
                    quiet_exceptions=quiet,
                )
            except Exception as e:
                first = repr(e)
            msgs = [
                (r.name, r.getMessage(), r.exc_info[0].__name__)
                for r in caplog.records
                if r.name.startswith("tornado")
            ]
            out.append((first, msgs))
        return out

    with caplog.at_level(logging.ERROR):
        result = run(impl, main)
    m = "Multiple exceptions in yield list"
    assert result == [
        (
            "ValueError('v')",
            [("tornado.application", m, "KeyError"), ("tornado.application", m, "ValueError")],
        ),
        ("ValueError('v')", [("tornado.application", m, "ValueError")]),
        ("ValueError('v')", []),
    ]


def test_multi_bad_yield(impl: Any) -> None:
    async def main() -> None:
        impl.gen.multi([object()])

    with pytest.raises(impl.gen.BadYieldError):
        run(impl, main)


# --- with_timeout -------------------------------------------------------------------


def test_with_timeout_result(impl: Any) -> None:
    g = impl.gen

    async def main() -> Any:
        loop = impl.ioloop.IOLoop.current()
        r1 = await g.with_timeout(datetime.timedelta(seconds=10), asyncio.sleep(0, "x"))
        r2 = await g.with_timeout(loop.time() + 10, g.sleep(0))
        f = asyncio.get_running_loop().create_future()
        f.set_result("done")
        r3 = await g.with_timeout(datetime.timedelta(seconds=10), f)
        r4 = await g.with_timeout(datetime.timedelta(seconds=10), [g.sleep(0), f])
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            r5 = await g.with_timeout(
                datetime.timedelta(seconds=10), pool.submit(lambda: "thread")
            )
        return r1, r2, r3, r4, r5

    assert run(impl, main) == ("x", None, "done", [None, "done"], "thread")


def test_with_timeout_expires(impl: Any, caplog: Any) -> None:
    g = impl.gen

    async def main() -> Any:
        loop = asyncio.get_running_loop()
        slow = loop.create_future()
        try:
            await g.with_timeout(datetime.timedelta(seconds=0.01), slow)
        except g.TimeoutError as e:
            err = (type(e), e.args)
        # The wrapped future is not cancelled, and its later failure is logged.
        state = slow.cancelled()
        with caplog.at_level(logging.ERROR, logger="tornado.application"):
            slow.set_exception(KeyError("late"))
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        return err, state

    err, state = run(impl, main)
    assert err == (asyncio.TimeoutError, ("Timeout",))
    assert state is False
    records = [r for r in caplog.records if r.name == "tornado.application"]
    assert len(records) == 1
    assert records[0].getMessage().startswith("Exception in Future <Future finished exception=KeyError('late')")
    assert records[0].getMessage().endswith(" after timeout")


def test_with_timeout_quiet(impl: Any, caplog: Any) -> None:
    g = impl.gen

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for exc, quiet in (
            (KeyError("q"), KeyError),
            (ValueError("q"), (KeyError, ValueError)),
            (None, ()),
        ):
            slow = loop.create_future()
            try:
                await g.with_timeout(
                    datetime.timedelta(seconds=0.001), slow, quiet_exceptions=quiet
                )
            except g.TimeoutError:
                pass
            if exc is None:
                slow.cancel()
            else:
                slow.set_exception(exc)
            await asyncio.sleep(0)
            await asyncio.sleep(0)

    with caplog.at_level(logging.ERROR):
        run(impl, main)
    assert [r for r in caplog.records if r.name.startswith("tornado")] == []


def test_with_timeout_bad_yield(impl: Any) -> None:
    async def main() -> None:
        impl.gen.with_timeout(datetime.timedelta(seconds=1), object())

    with pytest.raises(impl.gen.BadYieldError):
        run(impl, main)


# --- sleep / maybe_future / convert_yielded -------------------------------------------


def test_sleep(impl: Any) -> None:
    async def main() -> Any:
        f = impl.gen.sleep(0.001)
        assert isinstance(f, asyncio.Future) and not f.done()
        r = await f
        f2 = impl.gen.sleep(10)
        f2.cancel()
        await asyncio.sleep(0)
        return r, f2.cancelled()

    assert run(impl, main) == (None, True)


def test_maybe_future(impl: Any) -> None:
    async def main() -> Any:
        f = asyncio.get_running_loop().create_future()
        cf: concurrent.futures.Future = concurrent.futures.Future()
        wrapped = impl.gen.maybe_future(3)
        return (
            impl.gen.maybe_future(f) is f,
            impl.gen.maybe_future(cf) is cf,
            isinstance(wrapped, asyncio.Future),
            wrapped.result(),
            impl.gen.maybe_future(None).result(),
        )

    assert run(impl, main) == (True, True, True, 3, None)


def test_convert_yielded(impl: Any) -> None:
    g = impl.gen

    async def native() -> str:
        return "native"

    async def main() -> Any:
        loop = asyncio.get_running_loop()
        f = loop.create_future()
        cf: concurrent.futures.Future = concurrent.futures.Future()
        task = g.convert_yielded(native())
        out = [
            g.convert_yielded(f) is f,
            g.convert_yielded(cf) is cf,
            isinstance(task, asyncio.Task),
            await task,
            await g.convert_yielded([native(), native()]),
            await g.convert_yielded({"k": native()}),
        ]
        with pytest.raises(g.BadYieldError) as info:
            g.convert_yielded(42)
        out.append(str(info.value))
        return out

    assert run(impl, main) == [
        True,
        True,
        True,
        "native",
        ["native", "native"],
        {"k": "native"},
        "yielded unknown object 42",
    ]


def test_convert_yielded_register(impl: Any) -> None:
    g = impl.gen

    class Custom:
        def __init__(self, value: Any) -> None:
            self.value = value

    class MyFuture(asyncio.Future):
        pass

    @g.convert_yielded.register(Custom)
    def _(c: Custom) -> Any:
        f = asyncio.get_running_loop().create_future()
        f.set_result(("converted", c.value))
        return f

    @g.coroutine
    def user() -> Generator[Any, Any, Any]:
        a = yield Custom(1)
        b = yield [Custom(2), Custom(3)]
        mine = MyFuture()
        asyncio.get_running_loop().call_soon(mine.set_result, "sub")
        c = yield mine
        return a, b, c

    assert run(impl, user) == (
        ("converted", 1),
        [("converted", 2), ("converted", 3)],
        "sub",
    )
    assert isinstance(g.convert_yielded, Callable)  # type: ignore[arg-type]
    assert Custom in g.convert_yielded.registry


def test_convert_yielded_register_future_subclass(impl: Any) -> None:
    """A converter registered for asyncio.Future is honoured by the Runner."""
    g = impl.gen
    seen: List[str] = []

    class Marked(asyncio.Future):
        pass

    @g.convert_yielded.register(Marked)
    def _(f: Marked) -> Any:
        seen.append("converter")
        return f

    @g.coroutine
    def user() -> Generator[Any, Any, Any]:
        f = Marked()
        f.set_result(1)
        return (yield f)

    assert run(impl, user) == 1
    assert seen == ["converter"]


_recording: List[str] = []


def test_convert_yielded_register_plain_future(impl: Any) -> None:
    """Even a converter for asyncio.Future itself is used (this stays
    registered for the rest of the run; it returns futures unchanged)."""
    g = impl.gen

    mine: List[Any] = []

    @g.convert_yielded.register(asyncio.Future)
    def _(f: Any) -> Any:
        if mine and f is mine[0]:
            _recording.append(impl.name)
        return f

    @g.coroutine
    def user() -> Generator[Any, Any, Any]:
        f = asyncio.get_running_loop().create_future()
        mine.append(f)
        asyncio.get_running_loop().call_soon(f.set_result, 2)
        return (yield f)

    del _recording[:]
    assert run(impl, user) == 2
    assert _recording == [impl.name]


# --- WaitIterator ----------------------------------------------------------------------


def test_wait_iterator_order(impl: Any) -> None:
    g = impl.gen

    async def main() -> Any:
        loop = asyncio.get_running_loop()
        futs = [loop.create_future() for _ in range(4)]
        futs[2].set_result("already")
        it = g.WaitIterator(*futs)
        order = []
        loop.call_soon(futs[3].set_result, "three")
        loop.call_soon(futs[0].set_exception, KeyError("zero"))
        loop.call_later(0.001, futs[1].set_result, "one")
        while not it.done():
            try:
                r = await it.next()
            except KeyError as e:
                r = ("err", e.args)
            order.append((it.current_index, r, it.current_future is futs[it.current_index]))
        return order, it.current_index, it.current_future

    order, idx, cur = run(impl, main)
    assert order == [
        (2, "already", True),
        (3, "three", True),
        (0, ("err", ("zero",)), True),
        (1, "one", True),
    ]
    assert idx is None and cur is None


def test_wait_iterator_kwargs_and_async_for(impl: Any) -> None:
    g = impl.gen

    async def main() -> Any:
        loop = asyncio.get_running_loop()
        a, b = loop.create_future(), loop.create_future()
        loop.call_soon(b.set_result, "b")
        loop.call_soon(a.set_result, "a")
        it = g.WaitIterator(first=a, second=b)
        seen = []
        async for r in it:
            seen.append((it.current_index, r))
        empty = g.WaitIterator()
        return seen, empty.done()

    assert run(impl, main) == ([("second", "b"), ("first", "a")], True)


def test_wait_iterator_errors(impl: Any) -> None:
    g = impl.gen

    async def main() -> None:
        f = asyncio.get_running_loop().create_future()
        with pytest.raises(ValueError) as info:
            g.WaitIterator(f, k=f)
        assert str(info.value) == "You must provide args or kwargs, not both"

    run(impl, main)


# --- the native loop ------------------------------------------------------------------


def test_runner_on_each_loop(loop: Any) -> None:
    import tornado_c.gen as g

    @g.coroutine
    def inner(i: int) -> Generator[Any, Any, int]:
        yield g.moment
        yield g.sleep(0)
        return i

    @g.coroutine
    def outer() -> Generator[Any, Any, Any]:
        ctx_var.set("x")
        results = yield [inner(i) for i in range(10)]
        results.append((yield inner(10)))
        results.append(ctx_var.get())
        return results

    async def main() -> Any:
        return await outer()

    assert loop.run_until_complete(main()) == list(range(11)) + ["x"]
