"""Differential tests of tornado_c.queues against tornado.queues."""

from __future__ import annotations

import asyncio
import datetime
import inspect
import re
from typing import Any, Awaitable, Callable, List

import pytest

import tornado.queues


def run(impl: Any, fn: Callable[[], Awaitable[Any]]) -> Any:
    """Run coroutine function ``fn`` to completion on a new IOLoop of ``impl``."""
    loop = impl.ioloop.IOLoop(make_current=False)
    try:
        return loop.run_sync(fn)
    finally:
        loop.close()


def soon() -> datetime.timedelta:
    return datetime.timedelta(seconds=0.01)


def test_constructor_errors(impl: Any) -> None:
    with pytest.raises(TypeError) as info:
        impl.queues.Queue(None)
    assert str(info.value) == "maxsize can't be None"
    with pytest.raises(ValueError) as info2:
        impl.queues.Queue(maxsize=-1)
    assert str(info2.value) == "maxsize can't be negative"


def test_exceptions(impl: Any) -> None:
    q = impl.queues.Queue(1)
    with pytest.raises(impl.queues.QueueEmpty) as empty:
        q.get_nowait()
    assert str(empty.value) == "" and empty.value.args == ()
    q.put_nowait(1)
    with pytest.raises(impl.queues.QueueFull) as full:
        q.put_nowait(2)
    assert full.value.args == ()
    assert impl.queues.QueueEmpty.__bases__ == (Exception,)
    assert impl.queues.QueueFull.__bases__ == (Exception,)


def test_size_queries(impl: Any) -> None:
    q = impl.queues.Queue(2)
    out = [q.maxsize, q.qsize(), q.empty(), q.full()]
    q.put_nowait("a")
    out += [q.qsize(), q.empty(), q.full()]
    q.put_nowait("b")
    out += [q.qsize(), q.empty(), q.full()]
    assert out == [2, 0, True, False, 1, False, False, 2, False, True]
    unbounded = impl.queues.Queue()
    for i in range(1000):
        unbounded.put_nowait(i)
    assert unbounded.maxsize == 0 and not unbounded.full()
    with pytest.raises(AttributeError):
        q.maxsize = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("Queue", [3, 1, 2, 0]),
        ("LifoQueue", [0, 2, 1, 3]),
        ("PriorityQueue", [0, 1, 2, 3]),
    ],
)
def test_order(impl: Any, kind: str, expected: List[int]) -> None:
    q = getattr(impl.queues, kind)()
    for item in (3, 1, 2, 0):
        q.put_nowait(item)
    assert [q.get_nowait() for _ in range(4)] == expected


def test_priority_queue_tuples(impl: Any) -> None:
    q = impl.queues.PriorityQueue()
    for item in [(2, "b"), (0, "high"), (10, "low"), (1, "a")]:
        q.put_nowait(item)
    assert [q.get_nowait()[1] for _ in range(4)] == ["high", "a", "b", "low"]


def test_repr_and_str(impl: Any) -> None:
    async def main() -> List[str]:
        q = impl.queues.Queue(1)
        out = [str(q), repr(q)]
        q.get()
        out.append(str(q))
        q.put_nowait(1)
        out.append(str(q))
        q.put_nowait(2)
        q.put(3)
        out.append(str(q))
        q.get_nowait()
        out.append(str(q))
        lifo = impl.queues.LifoQueue()
        lifo.put_nowait("x")
        out.append(str(lifo))
        prio = impl.queues.PriorityQueue(5)
        prio.put_nowait(2)
        prio.put_nowait(1)
        out.append(str(prio))
        return out

    out = run(impl, main)
    assert re.fullmatch(r"<Queue at 0x[0-9a-f]+ maxsize=1>", out.pop(1))
    assert out == [
        "<Queue maxsize=1>",
        "<Queue maxsize=1 getters[1]>",
        "<Queue maxsize=1 tasks=1>",
        "<Queue maxsize=1 queue=deque([2]) putters[1] tasks=2>",
        "<Queue maxsize=1 queue=deque([3]) tasks=3>",
        "<LifoQueue maxsize=0 queue=['x'] tasks=1>",
        "<PriorityQueue maxsize=5 queue=[1, 2] tasks=2>",
    ]


def test_get_waits_for_put(impl: Any) -> None:
    async def main() -> List[Any]:
        q = impl.queues.Queue()
        g1 = q.get()
        g2 = q.get()
        out = [g1.done(), q.qsize()]
        await q.put("first")
        q.put_nowait("second")
        out += [await g1, await g2, q.qsize()]
        return out

    assert run(impl, main) == [False, 0, "first", "second", 0]


def test_put_waits_for_get(impl: Any) -> None:
    async def main() -> List[Any]:
        q = impl.queues.Queue(1)
        first = q.put(1)
        second = q.put(2)
        third = q.put(3)
        out = [first.done(), second.done(), q.qsize()]
        out.append(q.get_nowait())
        out.append(await second)
        out.append(third.done())
        out.append(await q.get())
        out.append(q.get_nowait())
        await third
        out.append(q.qsize())
        return out

    assert run(impl, main) == [True, False, 1, 1, None, False, 2, 3, 0]


def test_get_timeout(impl: Any) -> None:
    async def main() -> List[Any]:
        q = impl.queues.Queue()
        out = []
        for timeout in (soon(), impl.ioloop.IOLoop.current().time() + 0.01):
            fut = q.get(timeout=timeout)
            try:
                await fut
            except impl.util.TimeoutError as exc:
                out.append(type(exc) is impl.gen.TimeoutError)
        out.append(str(q))
        # The expired getters are skipped: the item stays in the queue.
        q.put_nowait("kept")
        out.append(str(q))
        out.append(await q.get(timeout=soon()))
        return out

    assert run(impl, main) == [
        True,
        True,
        # Each get() first drops expired getters from the head.
        "<Queue maxsize=0 getters[1]>",
        "<Queue maxsize=0 queue=deque(['kept']) tasks=1>",
        "kept",
    ]


def test_put_timeout(impl: Any) -> None:
    async def main() -> List[Any]:
        q = impl.queues.Queue(1)
        q.put_nowait("a")
        out = []
        try:
            await q.put("b", timeout=soon())
        except impl.gen.TimeoutError:
            out.append("timeout")
        out.append(str(q))
        # The expired putter's item never enters the queue.
        out.append(q.get_nowait())
        out.append(str(q))
        with pytest.raises(impl.queues.QueueEmpty):
            q.get_nowait()
        return out

    assert run(impl, main) == [
        "timeout",
        "<Queue maxsize=1 queue=deque(['a']) putters[1] tasks=1>",
        "a",
        "<Queue maxsize=1 tasks=1>",
    ]


def test_cancelled_getter_is_skipped(impl: Any) -> None:
    async def main() -> List[Any]:
        q = impl.queues.Queue()
        g1 = q.get()
        g2 = q.get()
        g1.cancel()
        q.put_nowait("x")
        return [g1.cancelled(), await g2]

    assert run(impl, main) == [True, "x"]


def test_timeout_zero_means_no_timeout(impl: Any) -> None:
    async def main() -> List[Any]:
        q = impl.queues.Queue()
        fut = q.get(timeout=0)
        await asyncio.sleep(0.01)
        out = [fut.done()]
        q.put_nowait(5)
        out.append(await fut)
        return out

    assert run(impl, main) == [False, 5]


def test_task_done_and_join(impl: Any) -> None:
    async def main() -> List[Any]:
        q = impl.queues.Queue()
        out = []
        # join on a fresh queue returns at once.
        await q.join()
        try:
            q.task_done()
        except ValueError as exc:
            out.append(str(exc))
        for i in range(3):
            q.put_nowait(i)
        joined = q.join()
        done_order: List[Any] = []

        async def worker() -> None:
            while True:
                item = await q.get()
                done_order.append(item)
                q.task_done()

        task = asyncio.ensure_future(worker())
        await joined
        out.append(done_order)
        out.append(str(q))
        try:
            await q.join(timeout=soon())
            out.append("joined")
        finally:
            task.cancel()
        q.put_nowait("more")
        try:
            await q.join(timeout=soon())
        except impl.util.TimeoutError:
            out.append("join timed out")
        await asyncio.sleep(0)
        return out

    assert run(impl, main) == [
        "task_done() called too many times",
        [0, 1, 2],
        "<Queue maxsize=0 getters[1]>",
        "joined",
        "join timed out",
    ]


def test_async_iteration(impl: Any) -> None:
    async def main() -> List[Any]:
        q = impl.queues.Queue()
        for i in range(3):
            q.put_nowait(i)
        got = []
        async for item in q:
            got.append(item)
            q.task_done()
            if item == 2:
                break
        it = q.__aiter__()
        nxt = it.__anext__()
        q.put_nowait("later")
        got.append(await nxt)
        return got

    assert run(impl, main) == [0, 1, 2, "later"]


def test_generic_subscript(impl: Any) -> None:
    q = impl.queues.Queue[int]()
    assert type(q) is impl.queues.Queue
    # The subclasses are not generic themselves.
    with pytest.raises(TypeError):
        impl.queues.PriorityQueue[int]


def test_put_returns_future(impl: Any) -> None:
    async def main() -> List[bool]:
        q = impl.queues.Queue()
        put = q.put(1)
        get = q.get()
        return [isinstance(put, asyncio.Future), isinstance(get, asyncio.Future),
                put.done(), get.done()]

    assert run(impl, main) == [True, True, True, True]


def test_subclass_hooks(impl: Any) -> None:
    class Reversing(impl.queues.Queue):  # type: ignore[name-defined]
        def _init(self) -> None:
            self._queue = []

        def _put(self, item: Any) -> None:
            self._queue.insert(0, item)

        def _get(self) -> Any:
            return self._queue.pop(0)

    q = Reversing()
    for i in range(3):
        q.put_nowait(i)
    assert str(q) == "<Reversing maxsize=0 queue=[2, 1, 0] tasks=3>"
    assert [q.get_nowait() for _ in range(3)] == [2, 1, 0]


_PUBLIC = {
    "Queue": ["__init__", "qsize", "empty", "full", "put", "put_nowait", "get",
              "get_nowait", "task_done", "join", "__aiter__"],
    "PriorityQueue": ["__init__", "put", "get"],
    "LifoQueue": ["__init__", "put", "get"],
}


@pytest.mark.parametrize("cls", sorted(_PUBLIC))
def test_signatures_match_reference(cls: str) -> None:
    import tornado_c.queues

    ref = getattr(tornado.queues, cls)
    ours = getattr(tornado_c.queues, cls)
    for name in _PUBLIC[cls]:
        ref_sig = inspect.signature(getattr(ref, name))
        our_sig = inspect.signature(getattr(ours, name))
        assert list(our_sig.parameters) == list(ref_sig.parameters), (cls, name)
        for p in ref_sig.parameters:
            assert our_sig.parameters[p].default == ref_sig.parameters[p].default
            assert our_sig.parameters[p].kind == ref_sig.parameters[p].kind
    assert [c.__name__ for c in ours.__mro__] == [c.__name__ for c in ref.__mro__]


def test_all_matches_reference() -> None:
    import tornado_c.queues

    assert tornado_c.queues.__all__ == tornado.queues.__all__
