"""Differential tests of tornado_c.locks against tornado.locks."""

from __future__ import annotations

import asyncio
import datetime
import inspect
import re
from typing import Any, Awaitable, Callable, List

import pytest

import tornado.locks


def run(impl: Any, fn: Callable[[], Awaitable[Any]]) -> Any:
    """Run coroutine function ``fn`` to completion on a new IOLoop of ``impl``."""
    loop = impl.ioloop.IOLoop(make_current=False)
    try:
        return loop.run_sync(fn)
    finally:
        loop.close()


def norm(text: str) -> str:
    """Semaphore's repr embeds object.__repr__ (module path and address)."""
    return re.sub(r"<tornado(?:_c)?\.locks\.(\w+) object at 0x[0-9a-f]+", r"<\1", text)


def soon() -> datetime.timedelta:
    return datetime.timedelta(seconds=0.01)


# --- Condition ------------------------------------------------------------


def test_condition_repr(impl: Any) -> None:
    async def main() -> List[str]:
        c = impl.locks.Condition()
        seen = [repr(c)]
        c.wait()
        c.wait()
        seen.append(repr(c))
        c.notify_all()
        seen.append(repr(c))
        return seen

    assert run(impl, main) == ["<Condition>", "<Condition waiters[2]>", "<Condition>"]


def test_condition_notify_order_and_count(impl: Any) -> None:
    async def main() -> List[Any]:
        c = impl.locks.Condition()
        order: List[Any] = []

        async def waiter(i: int) -> None:
            result = await c.wait()
            order.append((i, result))

        tasks = [asyncio.ensure_future(waiter(i)) for i in range(5)]
        await asyncio.sleep(0)
        c.notify()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        order.append("after one")
        c.notify(2)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        order.append("after two")
        c.notify_all()
        await asyncio.gather(*tasks)
        return order

    assert run(impl, main) == [
        (0, True),
        "after one",
        (1, True),
        (2, True),
        "after two",
        (3, True),
        (4, True),
    ]


def test_condition_wait_timeout(impl: Any) -> None:
    async def main() -> List[Any]:
        c = impl.locks.Condition()
        io_loop = impl.ioloop.IOLoop.current()
        by_delta = await c.wait(timeout=soon())
        by_deadline = await c.wait(timeout=io_loop.time() + 0.01)
        return [by_delta, by_deadline, repr(c)]

    # Timed-out waiters stay in the deque until notify or collection.
    assert run(impl, main) == [False, False, "<Condition waiters[2]>"]


def test_condition_notify_skips_timed_out_waiters(impl: Any) -> None:
    async def main() -> List[Any]:
        c = impl.locks.Condition()
        expired = c.wait(timeout=soon())
        live = c.wait()
        assert await expired is False
        c.notify(1)
        return [await live, repr(c)]

    assert run(impl, main) == [True, "<Condition>"]


def test_condition_notify_skips_cancelled_waiter(impl: Any) -> None:
    async def main() -> List[Any]:
        c = impl.locks.Condition()
        first = c.wait()
        second = c.wait()
        first.cancel()
        c.notify(1)
        return [first.cancelled(), await second]

    assert run(impl, main) == [True, True]


def test_condition_garbage_collects_timed_out_waiters(impl: Any) -> None:
    async def main() -> List[str]:
        c = impl.locks.Condition()
        live = c.wait()
        futures = [c.wait(timeout=soon()) for _ in range(100)]
        await asyncio.gather(*futures)
        before = repr(c)
        # The 101st timeout triggers the sweep.
        await c.wait(timeout=soon())
        after = repr(c)
        c.notify_all()
        await live
        return [before, after]

    assert run(impl, main) == ["<Condition waiters[101]>", "<Condition waiters[1]>"]


def test_condition_zero_timeout_means_none(impl: Any) -> None:
    async def main() -> Any:
        c = impl.locks.Condition()
        fut = c.wait(timeout=0)
        await asyncio.sleep(0.01)
        done = fut.done()
        c.notify()
        return [done, await fut]

    assert run(impl, main) == [False, True]


# --- Event ----------------------------------------------------------------


def test_event_repr_and_state(impl: Any) -> None:
    e = impl.locks.Event()
    seen = [repr(e), e.is_set()]
    e.set()
    seen += [repr(e), e.is_set()]
    e.clear()
    seen += [repr(e), e.is_set()]
    assert seen == ["<Event clear>", False, "<Event set>", True, "<Event clear>", False]


def test_event_wait_set_and_clear(impl: Any) -> None:
    async def main() -> List[Any]:
        e = impl.locks.Event()
        w1 = e.wait()
        w2 = e.wait()
        out = [w1.done()]
        e.set()
        await w1
        await w2
        already = e.wait()
        out.append(already.done())
        e.clear()
        blocked = e.wait()
        out.append(blocked.done())
        e.set()
        out.append(await blocked)
        # Setting twice is harmless.
        e.set()
        out.append(e.is_set())
        return out

    assert run(impl, main) == [False, True, False, None, True]


def test_event_wait_timeout(impl: Any) -> None:
    async def main() -> List[Any]:
        e = impl.locks.Event()
        out = []
        for timeout in (soon(), impl.ioloop.IOLoop.current().time() + 0.01):
            try:
                await e.wait(timeout=timeout)
            except impl.util.TimeoutError as exc:
                out.append(type(exc) is impl.gen.TimeoutError)
        # The timed-out waiter left the waiter set, so set() wakes no one.
        await asyncio.sleep(0)
        out.append(len(e._waiters))
        e.set()
        out.append(await e.wait(timeout=soon()))
        return out

    assert run(impl, main) == [True, True, 0, None]


def test_event_wait_timeout_then_set(impl: Any) -> None:
    async def main() -> Any:
        e = impl.locks.Event()
        fut = e.wait(timeout=datetime.timedelta(seconds=10))
        e.set()
        return await fut

    assert run(impl, main) is None


# --- Semaphore ------------------------------------------------------------


def test_semaphore_negative(impl: Any) -> None:
    with pytest.raises(ValueError) as info:
        impl.locks.Semaphore(-1)
    assert str(info.value) == "semaphore initial value must be >= 0"


def test_semaphore_repr(impl: Any) -> None:
    async def main() -> List[str]:
        s = impl.locks.Semaphore(2)
        out = [norm(repr(s))]
        await s.acquire()
        await s.acquire()
        out.append(norm(repr(s)))
        s.acquire()
        s.acquire()
        out.append(norm(repr(s)))
        s.release()
        out.append(norm(repr(s)))
        s.release()
        s.release()
        s.release()
        out.append(norm(repr(s)))
        return out

    assert run(impl, main) == [
        "<Semaphore [unlocked,value:2]>",
        "<Semaphore [locked]>",
        "<Semaphore [locked,waiters:2]>",
        "<Semaphore [locked,waiters:1]>",
        "<Semaphore [unlocked,value:2]>",
    ]


def test_semaphore_fifo(impl: Any) -> None:
    async def main() -> List[int]:
        s = impl.locks.Semaphore(1)
        order: List[int] = []

        async def worker(i: int) -> None:
            async with s:
                order.append(i)
                await asyncio.sleep(0)

        await asyncio.gather(*(worker(i) for i in range(5)))
        return order

    assert run(impl, main) == [0, 1, 2, 3, 4]


def test_semaphore_acquire_result_is_releasing_context_manager(impl: Any) -> None:
    async def main() -> List[Any]:
        s = impl.locks.Semaphore(1)
        with (await s.acquire()) as value:
            inside = norm(repr(s))
        return [value, inside, norm(repr(s))]

    assert run(impl, main) == [
        None,
        "<Semaphore [locked]>",
        "<Semaphore [unlocked,value:1]>",
    ]


def test_semaphore_acquire_timeout(impl: Any) -> None:
    async def main() -> List[Any]:
        s = impl.locks.Semaphore(0)
        out = []
        for timeout in (soon(), impl.ioloop.IOLoop.current().time() + 0.01):
            try:
                await s.acquire(timeout=timeout)
            except impl.gen.TimeoutError:
                out.append("timeout")
        # The timed-out waiters do not consume a later release.
        s.release()
        out.append(norm(repr(s)))
        await s.acquire()
        out.append(norm(repr(s)))
        return out

    assert run(impl, main) == [
        "timeout",
        "timeout",
        "<Semaphore [unlocked,value:1]>",
        "<Semaphore [locked]>",
    ]


def test_semaphore_release_skips_cancelled_waiter(impl: Any) -> None:
    async def main() -> List[Any]:
        s = impl.locks.Semaphore(0)
        first = s.acquire()
        second = s.acquire()
        first.cancel()
        s.release()
        await second
        return [first.cancelled(), norm(repr(s))]

    assert run(impl, main) == [True, "<Semaphore [locked]>"]


def test_semaphore_plain_with_raises(impl: Any) -> None:
    s = impl.locks.Semaphore()
    with pytest.raises(RuntimeError) as info:
        with s:
            pass
    assert str(info.value) == "Use 'async with' instead of 'with' for Semaphore"


def test_semaphore_async_with_releases_on_error(impl: Any) -> None:
    async def main() -> str:
        s = impl.locks.Semaphore()
        try:
            async with s:
                raise KeyError("x")
        except KeyError:
            pass
        return norm(repr(s))

    assert run(impl, main) == "<Semaphore [unlocked,value:1]>"


def test_semaphore_garbage_collects_timed_out_waiters(impl: Any) -> None:
    async def main() -> List[str]:
        s = impl.locks.Semaphore(0)
        futures = [s.acquire(timeout=soon()) for _ in range(101)]
        await asyncio.gather(*futures, return_exceptions=True)
        return [norm(repr(s))]

    assert run(impl, main) == ["<Semaphore [locked]>"]


def test_bounded_semaphore(impl: Any) -> None:
    async def main() -> List[Any]:
        s = impl.locks.BoundedSemaphore(2)
        out = [norm(repr(s))]
        await s.acquire()
        s.release()
        try:
            s.release()
        except ValueError as exc:
            out.append(str(exc))
        out.append(norm(repr(s)))
        return out

    assert run(impl, main) == [
        "<BoundedSemaphore [unlocked,value:2]>",
        "Semaphore released too many times",
        "<BoundedSemaphore [unlocked,value:2]>",
    ]


# --- Lock -----------------------------------------------------------------


def test_lock_repr(impl: Any) -> None:
    async def main() -> List[str]:
        lock = impl.locks.Lock()
        out = [norm(repr(lock))]
        await lock.acquire()
        out.append(norm(repr(lock)))
        lock.acquire()
        out.append(norm(repr(lock)))
        lock.release()
        lock.release()
        out.append(norm(repr(lock)))
        return out

    assert run(impl, main) == [
        "<Lock _block=<BoundedSemaphore [unlocked,value:1]>>",
        "<Lock _block=<BoundedSemaphore [locked]>>",
        "<Lock _block=<BoundedSemaphore [locked,waiters:1]>>",
        "<Lock _block=<BoundedSemaphore [unlocked,value:1]>>",
    ]


def test_lock_release_unlocked(impl: Any) -> None:
    lock = impl.locks.Lock()
    with pytest.raises(RuntimeError) as info:
        lock.release()
    assert str(info.value) == "release unlocked lock"
    assert isinstance(info.value.__context__, ValueError)


def test_lock_plain_with_raises(impl: Any) -> None:
    lock = impl.locks.Lock()
    with pytest.raises(RuntimeError) as info:
        with lock:
            pass
    assert str(info.value) == "Use `async with` instead of `with` for Lock"


def test_lock_async_with_fifo(impl: Any) -> None:
    async def main() -> List[Any]:
        lock = impl.locks.Lock()
        order: List[Any] = []

        async def worker(i: int) -> None:
            async with lock:
                order.append(("in", i))
                await asyncio.sleep(0)
                order.append(("out", i))

        await asyncio.gather(*(worker(i) for i in range(3)))
        return order

    assert run(impl, main) == [
        ("in", 0), ("out", 0), ("in", 1), ("out", 1), ("in", 2), ("out", 2)
    ]


def test_lock_acquire_timeout(impl: Any) -> None:
    async def main() -> List[Any]:
        lock = impl.locks.Lock()
        await lock.acquire()
        out = []
        try:
            await lock.acquire(timeout=soon())
        except impl.util.TimeoutError:
            out.append("timeout")
        lock.release()
        async with lock:
            out.append(norm(repr(lock)))
        return out

    assert run(impl, main) == [
        "timeout",
        "<Lock _block=<BoundedSemaphore [locked]>>",
    ]


def test_lock_with_yield_acquire(impl: Any) -> None:
    async def main() -> List[str]:
        lock = impl.locks.Lock()
        with await lock.acquire():
            inside = norm(repr(lock))
        return [inside, norm(repr(lock))]

    assert run(impl, main) == [
        "<Lock _block=<BoundedSemaphore [locked]>>",
        "<Lock _block=<BoundedSemaphore [unlocked,value:1]>>",
    ]


def test_acquire_returns_future(impl: Any) -> None:
    async def main() -> List[bool]:
        s = impl.locks.Semaphore()
        c = impl.locks.Condition()
        out = [
            isinstance(s.acquire(), asyncio.Future),
            isinstance(c.wait(), asyncio.Future),
        ]
        c.notify_all()
        s.release()
        return out

    assert run(impl, main) == [True, True]


# --- API surface ----------------------------------------------------------

_PUBLIC = {
    "Condition": ["__init__", "wait", "notify", "notify_all"],
    "Event": ["__init__", "is_set", "set", "clear", "wait"],
    "Semaphore": ["__init__", "release", "acquire", "__aenter__", "__aexit__"],
    "BoundedSemaphore": ["__init__", "release", "acquire"],
    "Lock": ["__init__", "acquire", "release", "__aenter__", "__aexit__"],
}


@pytest.mark.parametrize("cls", sorted(_PUBLIC))
def test_signatures_match_reference(cls: str) -> None:
    import tornado_c.locks

    ref = getattr(tornado.locks, cls)
    ours = getattr(tornado_c.locks, cls)
    for name in _PUBLIC[cls]:
        ref_sig = inspect.signature(getattr(ref, name))
        our_sig = inspect.signature(getattr(ours, name))
        assert list(our_sig.parameters) == list(ref_sig.parameters), (cls, name)
        for p in ref_sig.parameters:
            assert our_sig.parameters[p].default == ref_sig.parameters[p].default
            assert our_sig.parameters[p].kind == ref_sig.parameters[p].kind
    assert [c.__name__ for c in ours.__mro__] == [c.__name__ for c in ref.__mro__]


def test_all_matches_reference() -> None:
    import tornado_c.locks

    assert tornado_c.locks.__all__ == tornado.locks.__all__
