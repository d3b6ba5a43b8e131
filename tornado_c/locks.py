"""Coroutine synchronization primitives (``tornado.locks``).

`Condition`, `Event`, `Semaphore`, `BoundedSemaphore` and `Lock`, analogous
to the ones in `asyncio` but with Tornado's timeout arguments: a timeout is a
deadline in `.IOLoop.time` terms (a float) or a `datetime.timedelta` relative
to now, exactly as `.IOLoop.add_timeout` takes it.

None of these objects is thread-safe.
"""

from __future__ import annotations

import functools
import collections
import datetime
import types
from typing import Any, Callable, Tuple, Awaitable, Deque, Optional, Set, Type, Union

from tornado_c import gen, ioloop
from tornado_c.concurrent import Future, future_set_result_unless_cancelled

__all__ = ["Condition", "Event", "Semaphore", "BoundedSemaphore", "Lock"]

_Timeout = Union[float, datetime.timedelta]

# How many timed-out waiters may pile up before the waiter queue is swept.
_SWEEP_EVERY = 100


class _TimeoutGarbageCollector:
    """Base for objects holding a deque of waiter futures.

    Waiters that time out are not removed from the deque at once (that would
    cost O(n)); instead, every hundred timeouts the deque is rebuilt without
    the futures that are already done.
    """

    def __init__(self) -> None:
        self._waiters: Deque[Future[Any]] = collections.deque()
        self._timeouts = 0

    def _garbage_collect(self) -> None:
        # Called once per timed-out waiter.
        self._timeouts += 1
        if self._timeouts > _SWEEP_EVERY:
            self._timeouts = 0
            self._waiters = collections.deque(
                waiter for waiter in self._waiters if not waiter.done()
            )


def _arm_timeout(waiter: Future[Any], timeout: _Timeout, on_timeout: Any) -> None:
    """Run ``on_timeout`` at ``timeout`` unless ``waiter`` finishes first."""
    loop = ioloop.IOLoop.current()
    handle = loop.add_timeout(timeout, on_timeout)
    waiter.add_done_callback(lambda _: loop.remove_timeout(handle))


class Condition(_TimeoutGarbageCollector):
    """Lets coroutines wait until another one notifies them.

    Unlike `threading.Condition` there is no lock to hold around `wait`.
    """

    def __repr__(self) -> str:
        text = f"<{self.__class__.__name__}"
        if self._waiters:
            text += f" waiters[{len(self._waiters)}]"
        return text + ">"

    def wait(self, timeout: Optional[_Timeout] = None) -> Awaitable[bool]:
        """Wait for `notify`.

        The returned future resolves to ``True`` when notified, or to
        ``False`` if ``timeout`` passes first.
        """
        signal: Future[bool] = Future()
        self._waiters.append(signal)
        if timeout:
            _arm_timeout(signal, timeout, functools.partial(self._give_up, signal))
        return signal

    def _give_up(self, signal: "Future[bool]") -> None:
        # A wait's deadline passed before any notify reached it.
        if not signal.done():
            future_set_result_unless_cancelled(signal, False)
        self._garbage_collect()

    def notify(self, n: int = 1) -> None:
        """Wake ``n`` waiters."""
        woken = []
        while n and self._waiters:
            waiter = self._waiters.popleft()
            if waiter.done():
                # Timed out or cancelled: it does not count.
                continue
            n -= 1
            woken.append(waiter)
        for waiter in woken:
            future_set_result_unless_cancelled(waiter, True)

    def notify_all(self) -> None:
        """Wake all waiters."""
        self.notify(len(self._waiters))


class Event:
    """A flag that coroutines can wait on until it is set (cf. `asyncio.Event`)."""

    def __init__(self) -> None:
        self._value = False
        self._waiters: Set[Future[None]] = set()

    def __repr__(self) -> str:
        state = "set" if self.is_set() else "clear"
        return f"<{self.__class__.__name__} {state}>"

    def is_set(self) -> bool:
        """Whether the flag is set."""
        return self._value

    def set(self) -> None:
        """Set the flag and wake every waiter; later `wait` calls return at once."""
        if self._value:
            return
        self._value = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        """Unset the flag, so that `wait` blocks again until `set`."""
        self._value = False

    def wait(self, timeout: Optional[_Timeout] = None) -> Awaitable[None]:
        """Wait until the flag is set.

        The awaitable fails with `tornado.util.TimeoutError` at ``timeout``.
        """
        waiter: Future[None] = Future()
        if self._value:
            waiter.set_result(None)
            return waiter
        self._waiters.add(waiter)
        waiter.add_done_callback(self._waiters.remove)
        if timeout is None:
            return waiter
        limited = gen.with_timeout(timeout, waiter)

        # with_timeout leaves the inner future alone when time runs out;
        # cancel it so that it leaves the waiter set.
        def cancel_inner(_: Any) -> None:
            if not waiter.done():
                waiter.cancel()

        limited.add_done_callback(cancel_inner)
        return limited


class _ReleasingContextManager:
    """Releases a Lock or Semaphore at the end of a ``with`` statement.

    ``with (yield semaphore.acquire()):`` -- the result of `acquire` is one
    of these.
    """

    def __init__(self, obj: Any) -> None:
        self._obj = obj

    def __enter__(self) -> None:
        pass

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_val: Optional[BaseException],
        exc_tb: Optional[types.TracebackType],
    ) -> None:
        self._obj.release()


def _async_with_only(
    message: str, exit_names_traceback: bool = False
) -> Tuple[Callable, Callable, Callable, Callable]:
    """``__enter__``, ``__exit__``, ``__aenter__`` and ``__aexit__`` for a
    primitive used as ``async with obj:`` (acquire, then release).  Plain
    ``with`` cannot wait, so it raises RuntimeError(message).  (The exit
    methods keep the parameter names of Tornado's signatures.)"""

    def __enter__(self: Any) -> None:
        raise RuntimeError(message)

    if exit_names_traceback:

        def __exit__(
            self: Any,
            typ: Optional[Type[BaseException]],
            value: Optional[BaseException],
            traceback: Optional[types.TracebackType],
        ) -> None:
            raise RuntimeError(message)

    else:

        def __exit__(  # type: ignore[misc]
            self: Any,
            typ: Optional[Type[BaseException]],
            value: Optional[BaseException],
            tb: Optional[types.TracebackType],
        ) -> None:
            raise RuntimeError(message)

    async def __aenter__(self: Any) -> None:
        await self.acquire()

    async def __aexit__(
        self: Any,
        typ: Optional[Type[BaseException]],
        value: Optional[BaseException],
        tb: Optional[types.TracebackType],
    ) -> None:
        self.release()

    return __enter__, __exit__, __aenter__, __aexit__


def _checked_initial(value: int) -> int:
    if value < 0:
        raise ValueError("semaphore initial value must be >= 0")
    return value


def _first_pending(waiters: "Deque[Future]") -> "Optional[Future]":
    """Pop waiters until one that is still waiting (not timed out or
    cancelled); None when there is none."""
    while waiters:
        candidate = waiters.popleft()
        if not candidate.done():
            return candidate
    return None


class Semaphore(_TimeoutGarbageCollector):
    """A counter that lets at most ``value`` holders in at once.

    `acquire` takes one unit, waiting while none is left; `release` gives
    one back and hands it to the oldest waiter.  Use it as
    ``async with semaphore:``.
    """

    def __init__(self, value: int = 1) -> None:
        _TimeoutGarbageCollector.__init__(self)
        self._value = _checked_initial(value)

    def __repr__(self) -> str:
        base = super().__repr__()[1:-1]
        if self._value == 0:
            state = "locked"
        else:
            state = f"unlocked,value:{self._value}"
        if self._waiters:
            state += f",waiters:{len(self._waiters)}"
        return f"<{base} [{state}]>"

    def release(self) -> None:
        """Increment the counter and wake one waiter."""
        heir = _first_pending(self._waiters)
        if heir is None:
            self._value += 1
        else:
            # The unit goes straight to the oldest live waiter.
            heir.set_result(_ReleasingContextManager(self))

    def acquire(
        self, timeout: Optional[_Timeout] = None
    ) -> Awaitable[_ReleasingContextManager]:
        """Take one unit, waiting for a `release` if none is left.

        The awaitable resolves to a context manager that releases the unit,
        or fails with `.TimeoutError` at ``timeout``.
        """
        ticket: Future[_ReleasingContextManager] = Future()
        if self._value:
            self._value -= 1
            ticket.set_result(_ReleasingContextManager(self))
        else:
            self._waiters.append(ticket)
            if timeout:
                _arm_timeout(ticket, timeout, functools.partial(self._expire, ticket))
        return ticket

    def _expire(self, ticket: "Future[_ReleasingContextManager]") -> None:
        # The deadline of a waiting acquire passed.
        if not ticket.done():
            ticket.set_exception(gen.TimeoutError())
        self._garbage_collect()

    __enter__, __exit__, __aenter__, __aexit__ = _async_with_only(
        "Use 'async with' instead of 'with' for Semaphore", exit_names_traceback=True
    )


class BoundedSemaphore(Semaphore):
    """A `Semaphore` whose `release` raises `ValueError` if it would raise
    the counter above its initial value."""

    def __init__(self, value: int = 1) -> None:
        Semaphore.__init__(self, value=value)
        self._initial_value = value

    def release(self) -> None:
        """Increment the counter and wake one waiter."""
        over = self._value >= self._initial_value
        if over:
            raise ValueError("Semaphore released too many times")
        Semaphore.release(self)


class Lock:
    """A mutual-exclusion lock for coroutines.

    Starts unlocked.  While it is held, `acquire` waits for `release`;
    waiters get the lock in the order they asked.  Releasing a lock nobody
    holds raises `RuntimeError`.  Use it as ``async with lock:``.
    """

    def __init__(self) -> None:
        self._block = BoundedSemaphore(value=1)

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} _block={self._block}>"

    def acquire(
        self, timeout: Optional[_Timeout] = None
    ) -> Awaitable[_ReleasingContextManager]:
        """Take the lock, waiting while another holder has it.

        The awaitable fails with `tornado.util.TimeoutError` at ``timeout``.
        """
        return self._block.acquire(timeout)

    def release(self) -> None:
        """Let go of the lock; the oldest waiter in `acquire` gets it next.

        Raises `RuntimeError` if the lock is not held.
        """
        try:
            self._block.release()
        except ValueError:
            raise RuntimeError("release unlocked lock")

    __enter__, __exit__, __aenter__, __aexit__ = _async_with_only(
        "Use `async with` instead of `with` for Lock"
    )
