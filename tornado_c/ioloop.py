"""The event loop interface (``tornado.ioloop``).

An `IOLoop` is a small facade over one `asyncio` event loop, reachable as
``IOLoop.asyncio_loop``; `IOLoop.current` finds the facade of the running
asyncio loop.  The concrete implementations are in
`tornado_c.platform.asyncio`.  They accept any asyncio loop (tornado_c's
native loop, the standard library loops, uvloop), since file descriptors are
watched with ``add_reader``/``add_writer``.

Applications written today can usually talk to asyncio directly; `IOLoop`
remains for code built on Tornado's API.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import itertools
import math
import numbers
import os
import random
import time
import typing
import warnings
from functools import partial
from inspect import isawaitable
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    Optional,
    Protocol,
    Set,
    Tuple,
    Type,
    TypeVar,
    Union,
)

from tornado_c.concurrent import (
    Future,
    chain_future,
    future_add_done_callback,
    future_set_exc_info,
    is_future,
)
from tornado_c.log import app_log
from tornado_c.util import Configurable, TimeoutError, import_object


class _Selectable(Protocol):
    def fileno(self) -> int:
        pass

    def close(self) -> None:
        pass


_T = TypeVar("_T")
_S = TypeVar("_S", bound=_Selectable)


def _failed_future(error: BaseException) -> Future:
    # A future holding ``error``.  Made in its own frame so that the
    # traceback stored with the error does not lead back to the future.
    failed: Future = Future()
    future_set_exc_info(failed, (type(error), error, error.__traceback__))
    return failed


def _future_from_call(func: Callable) -> Future:
    # run_sync's view of ``func()``: whatever it returns (or raises) as a
    # future.
    try:
        produced = func()
        if produced is not None:
            from tornado_c.gen import convert_yielded

            produced = convert_yielded(produced)
    except Exception as error:
        return _failed_future(error)
    if is_future(produced):
        return produced
    settled: Future = Future()
    settled.set_result(produced)
    return settled


class IOLoop(Configurable):
    """Tornado's event loop object.

    An `IOLoop` is bound to exactly one `asyncio` event loop.
    `IOLoop.current` returns the one belonging to the running asyncio loop,
    while constructing ``IOLoop()`` makes a fresh asyncio loop (through
    `asyncio.new_event_loop`) and wraps that; pass ``make_current=False`` to
    leave the thread's current asyncio loop untouched.

    A typical Tornado program today looks like::

        async def main():
            app = make_app()
            app.listen(8888)
            await asyncio.Event().wait()

        asyncio.run(main())

    .. versionchanged:: 6.2
       ``make_current`` is only ``True`` by default while no event loop is
       running; making a loop current before it runs is deprecated.
    """

    # Event bits for add_handler/update_handler (the values epoll used).
    NONE = 0
    READ = 0x0001
    WRITE = 0x0004
    ERROR = 0x0008 | 0x0010

    # Maps each asyncio loop to its (single) IOLoop.
    _ioloop_for_asyncio: Dict[asyncio.AbstractEventLoop, "IOLoop"] = dict()

    # Tasks started for callers are held here until they finish, so that
    # the garbage collector cannot drop them while they are pending.
    _pending_tasks: Set["Future[Any]"] = set()

    # The asyncio loop this IOLoop wraps (set by BaseAsyncIOLoop.initialize).
    asyncio_loop: asyncio.AbstractEventLoop

    @classmethod
    def configure(
        cls, impl: "Union[None, str, Type[Configurable]]", **kwargs: Any
    ) -> None:
        chosen = import_object(impl) if isinstance(impl, str) else impl
        if isinstance(chosen, type):
            from tornado_c.platform.asyncio import BaseAsyncIOLoop

            if not issubclass(chosen, BaseAsyncIOLoop):
                raise RuntimeError(
                    "only AsyncIOLoop is allowed when asyncio is available"
                )
        super().configure(chosen, **kwargs)

    @staticmethod
    def instance() -> "IOLoop":
        """Old name of `IOLoop.current()`.

        .. deprecated:: 5.0
        """
        return IOLoop.current()

    def install(self) -> None:
        """Old name of `make_current()`.

        .. deprecated:: 5.0
        """
        self.make_current()

    @staticmethod
    def clear_instance() -> None:
        """Old name of `clear_current()`.

        .. deprecated:: 5.0
        """
        IOLoop.clear_current()

    @typing.overload
    @staticmethod
    def current() -> "IOLoop":
        pass

    @typing.overload
    @staticmethod
    def current(instance: bool = True) -> Optional["IOLoop"]:  # noqa: F811
        pass

    @staticmethod
    def current(instance: bool = True) -> Optional["IOLoop"]:  # noqa: F811
        """The `IOLoop` of this thread.

        This is the IOLoop that wraps the running asyncio loop (or, outside a
        running loop, the thread's current one).  An asyncio loop that has no
        IOLoop yet gets one, unless ``instance`` is false, in which case
        ``None`` comes back.  Without any asyncio loop, ``instance=True``
        also creates and installs a new asyncio loop.

        .. deprecated:: 6.2
           Calling this while no asyncio loop is running is deprecated.
        """
        try:
            aio_loop = asyncio.get_event_loop()
        except RuntimeError:
            if not instance:
                return None
            aio_loop = asyncio.new_event_loop()
            asyncio.set_event_loop(aio_loop)
        known = IOLoop._ioloop_for_asyncio.get(aio_loop)
        if known is None and instance:
            from tornado_c.platform.asyncio import AsyncIOMainLoop

            known = AsyncIOMainLoop()
        return known

    def make_current(self) -> None:
        """Install this `IOLoop` (and its asyncio loop) as the thread's current one.

        .. deprecated:: 6.2
           Call ``asyncio.set_event_loop`` directly if you need to.
        """
        message = "make_current is deprecated; start the event loop first"
        warnings.warn(message, category=DeprecationWarning, stacklevel=2)
        self._make_current()

    def _make_current(self) -> None:
        # The asyncio-backed subclasses provide this.
        raise NotImplementedError()

    @staticmethod
    def clear_current() -> None:
        """Unset the thread's current `IOLoop` and asyncio loop.

        .. deprecated:: 6.2
        """
        warnings.warn(
            "clear_current is deprecated", category=DeprecationWarning, stacklevel=2
        )
        IOLoop._clear_current()

    @staticmethod
    def _clear_current() -> None:
        active = IOLoop.current(instance=False)
        if active is None:
            return
        active._clear_current_hook()

    def _clear_current_hook(self) -> None:
        """Hook for subclasses, run when this loop ceases to be current
        (the reverse of `make_current`)."""
        pass

    @classmethod
    def configurable_base(cls) -> Type[Configurable]:
        return IOLoop

    @classmethod
    def configurable_default(cls) -> Type[Configurable]:
        from tornado_c.platform.asyncio import AsyncIOLoop

        return AsyncIOLoop

    def initialize(self, make_current: bool = True) -> None:
        if not make_current:
            return
        self._make_current()

    def close(self, all_fds: bool = False) -> None:
        """Release the loop's resources.

        With ``all_fds`` set, the file descriptors and file objects that were
        given to `add_handler` are closed as well.  Only close a loop whose
        `start` call has already returned.
        """
        raise NotImplementedError()

    @typing.overload
    def add_handler(
        self, fd: int, handler: Callable[[int, int], None], events: int
    ) -> None:
        pass

    @typing.overload  # noqa: F811
    def add_handler(
        self, fd: _S, handler: Callable[[_S, int], None], events: int
    ) -> None:
        pass

    def add_handler(  # noqa: F811
        self, fd: Union[int, _Selectable], handler: Callable[..., None], events: int
    ) -> None:
        """Watch ``fd`` and call ``handler(fd, events)`` when it is ready.

        ``fd`` is a file descriptor number or an object with ``fileno()`` and
        ``close()``; the handler receives whichever was registered.
        ``events`` combines ``IOLoop.READ``, ``IOLoop.WRITE`` and
        ``IOLoop.ERROR`` with ``|``.
        """
        raise NotImplementedError()

    def update_handler(self, fd: Union[int, _Selectable], events: int) -> None:
        """Replace the set of events watched on ``fd``."""
        raise NotImplementedError()

    def remove_handler(self, fd: Union[int, _Selectable]) -> None:
        """Stop watching ``fd``."""
        raise NotImplementedError()

    def start(self) -> None:
        """Run the loop until a callback calls `stop()`."""
        raise NotImplementedError()

    def stop(self) -> None:
        """Ask the loop to stop.

        Called while the loop is idle, it makes the next `start()` return at
        once.  The loop has really stopped only when `start` returns.
        """
        raise NotImplementedError()

    def run_sync(self, func: Callable, timeout: Optional[float] = None) -> Any:
        """Run the loop just long enough to execute ``func``.

        ``func`` returns an awaitable or ``None``; the loop runs until that
        awaitable is resolved and its result is returned (or its error
        raised).  When ``timeout`` seconds pass first, the awaitable is
        cancelled and `asyncio.TimeoutError` is raised.  A common entry
        point::

            async def main():
                ...

            if __name__ == "__main__":
                IOLoop.current().run_sync(main)
        """
        tracked: Optional[Future] = None
        expired = False

        def kick_off() -> None:
            nonlocal tracked
            tracked = _future_from_call(func)
            self.add_future(tracked, lambda _: self.stop())

        def give_up() -> None:
            nonlocal expired
            expired = True
            assert tracked is not None
            # Cancelling lets the loop stop once the work has unwound; if
            # the work refuses cancellation, stop right away.
            if not tracked.cancel():
                self.stop()

        self.add_callback(kick_off)
        alarm = None
        if timeout is not None:
            alarm = self.add_timeout(self.time() + timeout, give_up)
        self.start()
        if alarm is not None:
            self.remove_timeout(alarm)
        assert tracked is not None
        if tracked.done() and not tracked.cancelled():
            return tracked.result()
        if expired:
            raise TimeoutError("Operation timed out after %s seconds" % timeout)
        # The loop was stopped from elsewhere, or the work got cancelled.
        raise RuntimeError("Event loop stopped before Future completed.")

    def time(self) -> float:
        """The loop's notion of the current time, as a float.

        Here it is `time.time`; only differences between values matter.
        """
        return time.time()

    def add_timeout(
        self,
        deadline: Union[float, datetime.timedelta],
        callback: Callable,
        *args: Any,
        **kwargs: Any,
    ) -> object:
        """Schedule ``callback`` for ``deadline``.

        ``deadline`` is either a number comparable to `IOLoop.time` or a
        `datetime.timedelta` counted from now.  The return value is a handle
        for `remove_timeout`.  Must be called on the loop's own thread (use
        `add_callback` to get there from elsewhere).
        """
        if type(deadline) is float:  # the usual case, without the ABC check
            pass
        elif isinstance(deadline, datetime.timedelta):
            deadline = self.time() + deadline.total_seconds()
        elif not isinstance(deadline, numbers.Real):
            raise TypeError("Unsupported deadline %r" % deadline)
        return self.call_at(deadline, callback, *args, **kwargs)

    def call_later(
        self, delay: float, callback: Callable, *args: Any, **kwargs: Any
    ) -> object:
        """Schedule ``callback`` ``delay`` seconds from now.

        Gives back a handle for `remove_timeout` (do not rely on it having a
        ``cancel()`` method as asyncio's handles do).
        """
        when = self.time() + delay
        return self.call_at(when, callback, *args, **kwargs)

    def call_at(
        self, when: float, callback: Callable, *args: Any, **kwargs: Any
    ) -> object:
        """Schedule ``callback`` for the `IOLoop.time` value ``when``; returns
        a handle for `remove_timeout`."""
        return self.add_timeout(when, callback, *args, **kwargs)

    def remove_timeout(self, timeout: object) -> None:
        """Cancel a timeout given its handle.

        Harmless if the callback has run already.
        """
        raise NotImplementedError()

    def add_callback(self, callback: Callable, *args: Any, **kwargs: Any) -> None:
        """Run ``callback`` on the loop's next iteration.

        This is the one `IOLoop` method that may be called from other
        threads (signal handlers excluded).
        """
        raise NotImplementedError()

    def add_callback_from_signal(
        self, callback: Callable, *args: Any, **kwargs: Any
    ) -> None:
        """Variant of `add_callback` meant for signal handlers.

        .. deprecated:: 6.4
           Use ``asyncio.AbstractEventLoop.add_signal_handler``.
        """
        raise NotImplementedError()

    def spawn_callback(self, callback: Callable, *args: Any, **kwargs: Any) -> None:
        """Same as `add_callback`: run ``callback`` on the next iteration."""
        self.add_callback(callback, *args, **kwargs)

    def add_future(
        self,
        future: "Union[Future[_T], concurrent.futures.Future[_T]]",
        callback: Callable[["Future[_T]"], None],
    ) -> None:
        """Call ``callback(future)`` on this loop after ``future`` completes.

        ``future`` has to be a `.Future` (asyncio or `concurrent.futures`);
        other awaitables are not accepted.
        """
        if isinstance(future, Future):
            # asyncio already defers done callbacks to a later iteration;
            # going through _run_callback gets errors logged Tornado's way.
            future.add_done_callback(partial(self._future_done, callback))
            return
        assert is_future(future)
        # Thread-pool futures may complete anywhere: come back through the
        # thread-safe add_callback.
        future_add_done_callback(
            future, partial(self._future_done_elsewhere, callback)
        )

    def _future_done(self, callback: Callable, done: "Future[Any]") -> None:
        self._run_callback(partial(callback, done))

    def _future_done_elsewhere(self, callback: Callable, done: Any) -> None:
        self.add_callback(callback, done)

    def run_in_executor(
        self,
        executor: Optional[concurrent.futures.Executor],
        func: Callable[..., _T],
        *args: Any,
    ) -> "Future[_T]":
        """Submit ``func(*args)`` to an executor and get an awaitable `.Future`.

        ``executor=None`` selects the loop's default executor (a thread pool
        made on first use).  Keyword arguments can be bound with
        `functools.partial`.
        """
        pool = executor if executor is not None else self._default_executor()
        submitted = pool.submit(func, *args)
        mirror: "Future[_T]" = Future()
        self.add_future(submitted, partial(chain_future, b=mirror))
        return mirror

    def _default_executor(self) -> concurrent.futures.Executor:
        try:
            return self._executor
        except AttributeError:
            pass
        workers = _cpu_count() * 5
        self._executor: concurrent.futures.Executor = (
            concurrent.futures.ThreadPoolExecutor(max_workers=workers)
        )
        return self._executor

    def set_default_executor(self, executor: concurrent.futures.Executor) -> None:
        """Make ``executor`` the default of `run_in_executor`."""
        self._executor = executor

    def _run_callback(self, callback: Callable[[], Any]) -> None:
        """Call ``callback()``, logging what it raises.

        Errors go to ``tornado.application`` (cancellation is ignored).  When
        the callback returns something awaitable, a later failure of that is
        logged as well.
        """
        try:
            produced = callback()
            if produced is not None:
                self._watch_returned(produced)
        except asyncio.CancelledError:
            return
        except Exception:
            # add_callback hands over bare callables when there are no
            # arguments; log them in partial form all the same.
            shown = (
                callback
                if isinstance(callback, partial)
                else partial(callback)
            )
            app_log.error("Exception in callback %r", shown, exc_info=True)

    def _watch_returned(self, produced: Any) -> None:
        from tornado_c import gen

        try:
            awaited = gen.convert_yielded(produced)
        except gen.BadYieldError:
            # An ordinary return value: nothing to follow.
            return
        self.add_future(awaited, self._discard_future_result)

    def _discard_future_result(self, future: "Future[Any]") -> None:
        """Fetch the result only so that a failure raises (and is logged)."""
        future.result()

    def split_fd(
        self, fd: Union[int, _Selectable]
    ) -> Tuple[int, Union[int, _Selectable]]:
        # (number, original object): handlers may be registered with either
        # a plain descriptor or a file-like object, and the object itself is
        # needed later for close(all_fds=True).
        if not isinstance(fd, int):
            return fd.fileno(), fd
        return fd, fd

    def close_fd(self, fd: Union[int, _Selectable]) -> None:
        # Close a descriptor number or a file-like object, ignoring OSError.
        shut = fd.close if not isinstance(fd, int) else partial(os.close, fd)
        try:
            shut()
        except OSError:
            pass

    def _register_task(self, f: "Future[Any]") -> None:
        self._pending_tasks.add(f)

    def _unregister_task(self, f: "Future[Any]") -> None:
        self._pending_tasks.discard(f)


def _cpu_count() -> int:
    try:
        from tornado_c.process import cpu_count as counted
    except ImportError:
        return os.cpu_count() or 1
    return counted()


_timeout_sequence = itertools.count()


class _Timeout:
    """A scheduled callback; instances sort by deadline, then by creation."""

    __slots__ = ["deadline", "callback", "tdeadline"]

    def __init__(
        self, deadline: float, callback: Callable[[], None], io_loop: IOLoop
    ) -> None:
        if not isinstance(deadline, numbers.Real):
            raise TypeError("Unsupported deadline %r" % deadline)
        # A per-loop counter when the loop has one, else the module's: the
        # serial number keeps timeouts with equal deadlines in FIFO order.
        serial = next(getattr(io_loop, "_timeout_counter", _timeout_sequence))
        self.tdeadline: Tuple[float, int] = (deadline, serial)
        self.deadline = deadline
        self.callback = callback

    def __lt__(self, other: "_Timeout") -> bool:
        return self.tdeadline < other.tdeadline

    def __le__(self, other: "_Timeout") -> bool:
        return self.tdeadline <= other.tdeadline


class PeriodicCallback:
    """Runs a callback again and again at a fixed interval.

    ``callback_time`` is the interval: a number of milliseconds, or a
    `datetime.timedelta`.

    ``jitter`` spreads the calls out: each interval is drawn at random from
    a range of width ``jitter * callback_time`` around ``callback_time`` (so
    0.1 means up to 5% shorter or longer).

    Calls that would have happened while the callback (or the coroutine it
    returned) was still busy are dropped, keeping to the original schedule.

    Nothing happens until `start` is called.
    """

    def __init__(
        self,
        callback: Callable[[], Optional[Awaitable]],
        callback_time: Union[datetime.timedelta, float],
        jitter: float = 0,
    ) -> None:
        if isinstance(callback_time, datetime.timedelta):
            interval = callback_time / datetime.timedelta(milliseconds=1)
        elif callback_time > 0:
            interval = callback_time
        else:
            raise ValueError("Periodic callback must have a positive callback_time")
        self.callback = callback
        self.callback_time = interval
        self.jitter = jitter
        self._timeout: object = None
        self._running = False

    def start(self) -> None:
        """Begin calling the callback."""
        # Looking the loop up now (not in __init__) allows creating the
        # object on one thread and starting it on the loop's thread.
        loop = self.io_loop = IOLoop.current()
        self._next_timeout = loop.time()
        self._running = True
        self._schedule_next()

    def stop(self) -> None:
        """Stop calling the callback."""
        self._running = False
        pending, self._timeout = self._timeout, None
        if pending is not None:
            self.io_loop.remove_timeout(pending)

    def is_running(self) -> bool:
        """Whether `start` was called (and `stop` was not, since)."""
        return self._running

    async def _run(self) -> None:
        if not self._running:
            return
        try:
            outcome = self.callback()
            if isawaitable(outcome):
                # A coroutine callback counts as running until it finishes.
                await outcome
        except Exception:
            app_log.error("Exception in callback %r", self.callback, exc_info=True)
        finally:
            # Reschedule whatever happened, from the time this call started.
            self._schedule_next()

    def _schedule_next(self) -> None:
        if not self._running:
            return
        loop = self.io_loop
        self._update_next(loop.time())
        self._timeout = loop.add_timeout(self._next_timeout, self._run)

    def _update_next(self, current_time: float) -> None:
        step = self.callback_time / 1000.0
        if self.jitter:
            step *= 1 + self.jitter * (random.random() - 0.5)
        lag = current_time - self._next_timeout
        periods = 1
        if lag >= 0:
            # Calls are spaced start to start; skip over every slot that was
            # missed while the callback ran long, staying on the same grid.
            periods += math.floor(lag / step)
        # Otherwise the clock moved backwards relative to the schedule (or
        # runs slower than the loop's clock): still move one step forward.
        self._next_timeout += periods * step
