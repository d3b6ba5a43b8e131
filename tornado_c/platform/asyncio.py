"""`.IOLoop` implementations on top of `asyncio` (``tornado.platform.asyncio``).

Each `.IOLoop` is an instance of one of the classes below and owns exactly
one asyncio event loop.  `AsyncIOMainLoop` adopts the thread's current
asyncio loop (this is what `.IOLoop.current` builds); `AsyncIOLoop` asks
`asyncio.new_event_loop` for a fresh one, which is the native loop once
``tornado_c.install()`` has run.  File descriptor handlers become
``add_reader``/``add_writer`` registrations; loops lacking those methods
(Windows' proactor loop, for one) are given them by
`AddThreadSelectorEventLoop`, which runs ``select`` on a helper thread.

.. deprecated:: 5.0
   Applications get these classes automatically and should not need to
   import this module.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import sys
import typing
import warnings
from asyncio.events import _get_running_loop
from functools import lru_cache, partial
from typing import Any, AsyncGenerator, Callable, Dict, List, Optional, Protocol
from typing import Set, Tuple, TypeVar, Union

# For the select-thread fallback.
import atexit
import errno
import select
import socket
import threading

from tornado_c import _core
from tornado_c.gen import convert_yielded
from tornado_c.ioloop import IOLoop, _Selectable

_running_native = _core._running_loop

if typing.TYPE_CHECKING:
    from typing_extensions import TypeVarTuple, Unpack

    _Ts = TypeVarTuple("_Ts")


class _HasFileno(Protocol):
    def fileno(self) -> int:
        pass


_FileDescriptorLike = Union[int, _HasFileno]

_T = TypeVar("_T")

# Live SelectorThreads.  At interpreter exit their threads are stopped, so
# shutdown neither waits for nor races with a thread sitting in select().
_selector_loops: Set["SelectorThread"] = set()


def _atexit_callback() -> None:
    while _selector_loops:
        _selector_loops.pop()._stop_thread()


atexit.register(_atexit_callback)


def _lacks_add_reader(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether ``loop`` needs a helper to watch arbitrary file descriptors."""
    proactor_type = getattr(asyncio, "ProactorEventLoop", None)
    if proactor_type is None or not isinstance(loop, proactor_type):
        # Otherwise it depends on whether add_reader is more than the
        # abstract stub.
        return type(loop).add_reader is asyncio.AbstractEventLoop.add_reader
    return True


class BaseAsyncIOLoop(IOLoop):
    """Common base of `AsyncIOMainLoop` and `AsyncIOLoop`, forwarding each
    `.IOLoop` operation to ``self.asyncio_loop``."""

    def initialize(  # type: ignore[override]
        self, asyncio_loop: asyncio.AbstractEventLoop, **kwargs: Any
    ) -> None:
        self.closing = False
        self.asyncio_loop = asyncio_loop
        # descriptor number -> (what add_handler was given, its handler)
        self.handlers: Dict[int, Tuple[Union[int, _Selectable], Callable]] = {}
        # Where add_reader/add_writer go: the loop itself when it supports
        # them, otherwise a wrapper that selects on a helper thread.
        self.selector_loop: asyncio.AbstractEventLoop = (
            AddThreadSelectorEventLoop(asyncio_loop)  # type: ignore[abstract]
            if _lacks_add_reader(asyncio_loop)
            else asyncio_loop
        )
        self.writers: Set[int] = set()
        self.readers: Set[int] = set()
        registry = IOLoop._ioloop_for_asyncio
        # Loops closed through asyncio itself (bypassing IOLoop.close) leave
        # entries behind; sweep them here so the mapping does not grow.
        for known in tuple(registry):
            if known.is_closed():
                registry.pop(known, None)
        owner = registry.setdefault(asyncio_loop, self)
        if owner is not self:
            raise RuntimeError(
                f"IOLoop {owner} already associated with asyncio loop {asyncio_loop}"
            )
        super().initialize(**kwargs)

    def close(self, all_fds: bool = False) -> None:
        self.closing = True
        watched = list(self.handlers.items())
        for fd, _ in watched:
            self.remove_handler(fd)
        if all_fds:
            for _, (fileobj, _) in watched:
                self.close_fd(fileobj)
        # Drop the registry entry first: once the asyncio loop is closed, a
        # concurrent initialize() could otherwise sweep it away under us.
        del IOLoop._ioloop_for_asyncio[self.asyncio_loop]
        helper = self.selector_loop
        if helper is not self.asyncio_loop:
            helper.close()
        self.asyncio_loop.close()

    def add_handler(  # type: ignore[override]
        self, fd: Union[int, _Selectable], handler: Callable[..., None], events: int
    ) -> None:
        number, fileobj = self.split_fd(fd)
        if number in self.handlers:
            raise ValueError("fd %s added twice" % number)
        self.handlers[number] = (fileobj, handler)
        self._apply_events(number, events)

    def update_handler(self, fd: Union[int, _Selectable], events: int) -> None:
        self._apply_events(self.split_fd(fd)[0], events)

    def _apply_events(self, number: int, events: int) -> None:
        # Bring the reader/writer registrations of ``number`` in line with
        # the event mask.
        if not events & IOLoop.READ:
            self._unwatch_read(number)
        elif number not in self.readers:
            self._watch_read(number)
        if not events & IOLoop.WRITE:
            self._unwatch_write(number)
        elif number not in self.writers:
            self._watch_write(number)

    def remove_handler(self, fd: Union[int, _Selectable]) -> None:
        number = self.split_fd(fd)[0]
        if number in self.handlers:
            self._unwatch_read(number)
            self._unwatch_write(number)
            del self.handlers[number]

    def _watch_read(self, fd: int) -> None:
        self.selector_loop.add_reader(fd, self._handle_events, fd, IOLoop.READ)
        self.readers.add(fd)

    def _watch_write(self, fd: int) -> None:
        self.selector_loop.add_writer(fd, self._handle_events, fd, IOLoop.WRITE)
        self.writers.add(fd)

    def _unwatch_read(self, fd: int) -> None:
        if fd in self.readers:
            self.selector_loop.remove_reader(fd)
            self.readers.discard(fd)

    def _unwatch_write(self, fd: int) -> None:
        if fd in self.writers:
            self.selector_loop.remove_writer(fd)
            self.writers.discard(fd)

    def _handle_events(self, fd: int, events: int) -> None:
        registered, handler = self.handlers[fd]
        handler(registered, events)

    def start(self) -> None:
        self.asyncio_loop.run_forever()

    def stop(self) -> None:
        self.asyncio_loop.stop()

    def call_at(
        self, when: float, callback: Callable, *args: Any, **kwargs: Any
    ) -> object:
        # when is on IOLoop.time()'s (wall-clock) scale, not the asyncio
        # loop's, so turn it into a delay.  asyncio callbacks take no keyword
        # arguments: bind everything up front.
        delay = when - self.time()
        if not delay > 0:
            delay = 0
        bound = partial(callback, *args, **kwargs)
        return self.asyncio_loop.call_later(delay, self._run_callback, bound)

    def remove_timeout(self, timeout: object) -> None:
        timeout.cancel()  # type: ignore[attr-defined]

    def add_callback(self, callback: Callable, *args: Any, **kwargs: Any) -> None:
        # Hot path.  With no arguments the callable is queued as is (no
        # partial); _run_callback still logs failures in partial form.
        if args or kwargs:
            callback = partial(callback, *args, **kwargs)
        loop = self.asyncio_loop
        try:
            # _get_running_loop (asyncio's C helper) returns None instead of
            # raising when nothing runs on this thread; the native loop
            # running here is known without it (and its getpid() call).
            if _running_native() is loop or _get_running_loop() is loop:
                loop.call_soon(self._run_callback, callback)
            else:
                loop.call_soon_threadsafe(self._run_callback, callback)
        except (RuntimeError, AttributeError):
            # Closed loop (a close racing with call_soon_threadsafe gives
            # AttributeError on some loops): the callback is dropped, just
            # as if the loop had closed before getting to it.
            pass

    def add_callback_from_signal(
        self, callback: Callable, *args: Any, **kwargs: Any
    ) -> None:
        warnings.warn("add_callback_from_signal is deprecated", DeprecationWarning)
        bound = partial(callback, *args, **kwargs)
        try:
            self.asyncio_loop.call_soon_threadsafe(self._run_callback, bound)
        except RuntimeError:
            pass

    def run_in_executor(
        self,
        executor: Optional[concurrent.futures.Executor],
        func: Callable[..., _T],
        *args: Any,
    ) -> "asyncio.Future[_T]":
        return self.asyncio_loop.run_in_executor(executor, func, *args)

    def set_default_executor(self, executor: concurrent.futures.Executor) -> None:
        return self.asyncio_loop.set_default_executor(executor)


class AsyncIOMainLoop(BaseAsyncIOLoop):
    """`.IOLoop` adopting the thread's current asyncio loop (as returned by
    ``asyncio.get_event_loop()``).

    .. deprecated:: 5.0
       Instances are made on demand; code should not need this class.

    .. versionchanged:: 5.0
       `close` also closes the adopted asyncio loop.
    """

    def initialize(self, **kwargs: Any) -> None:  # type: ignore[override]
        super().initialize(asyncio.get_event_loop(), **kwargs)

    def _make_current(self) -> None:
        # The adopted loop is current by definition.
        pass


class AsyncIOLoop(BaseAsyncIOLoop):
    """`.IOLoop` owning a separate asyncio loop.

    The loop is made by `asyncio.new_event_loop` (the native loop once
    ``tornado_c.install()`` is in effect) unless one is passed as
    ``asyncio_loop``; either way it is exposed as ``asyncio_loop``.  When an
    `AsyncIOLoop` becomes current, its asyncio loop becomes the current
    asyncio event loop too.

    .. deprecated:: 5.0
       Instances are made on demand; code should not need this class.
    """

    def initialize(self, **kwargs: Any) -> None:  # type: ignore[override]
        self.is_current = False
        if "asyncio_loop" in kwargs:
            super().initialize(**kwargs)
            return
        own_loop = asyncio.new_event_loop()
        try:
            super().initialize(asyncio_loop=own_loop, **kwargs)
        except Exception:
            # Not handed over to anyone yet, so it is ours to close.
            own_loop.close()
            raise

    def close(self, all_fds: bool = False) -> None:
        if self.is_current:
            # Put the previously current asyncio loop back first.
            self._clear_current()
        super().close(all_fds)

    def _make_current(self) -> None:
        if not self.is_current:
            # Remember what was current, to put it back in
            # _clear_current_hook.
            previous: Optional[asyncio.AbstractEventLoop]
            try:
                previous = asyncio.get_event_loop()
            except (RuntimeError, AssertionError):
                previous = None
            self.old_asyncio = previous
            self.is_current = True
        asyncio.set_event_loop(self.asyncio_loop)

    def _clear_current_hook(self) -> None:
        if not self.is_current:
            return
        self.is_current = False
        asyncio.set_event_loop(self.old_asyncio)


def to_tornado_future(asyncio_future: asyncio.Future) -> asyncio.Future:
    """Return a Tornado future for an `asyncio.Future`.

    .. deprecated:: 5.0
       The two are the same type now, so the argument is returned as is.
    """
    return asyncio_future


def to_asyncio_future(tornado_future: asyncio.Future) -> asyncio.Future:
    """Return an `asyncio.Future` for anything a Tornado coroutine can yield.

    .. deprecated:: 5.0
       Same as `tornado.gen.convert_yielded`.
    """
    return convert_yielded(tornado_future)


_POLICY_DEPRECATED = "AnyThreadEventLoopPolicy is deprecated, use asyncio.run or asyncio.new_event_loop instead"


@lru_cache(maxsize=None)
def _make_any_thread_policy() -> type:
    # Made when first requested, since merely referring to asyncio's policy
    # classes triggers deprecation warnings on recent Pythons.
    parent: Optional[type] = None
    if sys.platform == "win32":
        parent = getattr(asyncio, "WindowsSelectorEventLoopPolicy", None)
    if parent is None:
        parent = asyncio.DefaultEventLoopPolicy

    class AnyThreadEventLoopPolicy(parent):  # type: ignore[valid-type,misc]
        """An event loop policy that will create a loop on demand in any
        thread, not just the main one.

        With the standard policy, `asyncio.get_event_loop` (hence
        `.IOLoop.current`) only makes a loop implicitly on the main thread.
        Installing this policy restores the pre-5.0 Tornado behaviour of
        doing so everywhere::

            asyncio.set_event_loop_policy(AnyThreadEventLoopPolicy())

        .. deprecated:: 6.2
           Python is phasing out implicit loop creation; in other threads
           call `asyncio.new_event_loop` or `asyncio.run` explicitly.
        """

        def __init__(self) -> None:
            super().__init__()
            warnings.warn(_POLICY_DEPRECATED, DeprecationWarning, stacklevel=2)

        def get_event_loop(self) -> asyncio.AbstractEventLoop:
            try:
                return super().get_event_loop()
            except RuntimeError:
                pass
            # This thread has no loop yet: create and install one.
            created = self.new_event_loop()
            self.set_event_loop(created)
            return created

    AnyThreadEventLoopPolicy.__module__ = __name__
    return AnyThreadEventLoopPolicy


def __getattr__(name: str) -> Any:
    if name == "AnyThreadEventLoopPolicy":
        return _make_any_thread_policy()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class SelectorThread:
    """Adds ``add_reader``-style fd watching to an asyncio loop by calling
    ``select`` on a background thread.

    The helper thread is an implementation detail: callbacks are always
    invoked on the loop's own thread, in the context captured when the
    `SelectorThread` was built.  `AddThreadSelectorEventLoop` is the usual
    way to use it, but it can also be attached to an already running loop.
    """

    _closed = False

    def __init__(self, real_loop: asyncio.AbstractEventLoop) -> None:
        self._real_loop = real_loop
        # Callbacks run in this (the loop thread's) context.
        self._main_thread_ctx = contextvars.copy_context()
        # Protocol between the two threads: the loop thread deposits the
        # (readers, writers) lists in _select_args and notifies; the select
        # thread picks them up, blocks in select(), then sends the ready
        # descriptors back with call_soon_threadsafe.
        self._readers: Dict[_FileDescriptorLike, Callable[[], Any]] = {}
        self._writers: Dict[_FileDescriptorLike, Callable[[], Any]] = {}
        self._thread: Optional[threading.Thread] = None
        self._closing_selector = False
        self._select_args: Optional[
            Tuple[List[_FileDescriptorLike], List[_FileDescriptorLike]]
        ] = None
        self._select_cond = threading.Condition()
        # The thread belongs to an async generator started when the loop
        # runs; shutdown_asyncgens() finalizes the generator, which closes
        # this object and ends the thread.
        self._thread_manager_handle = self._thread_manager()
        real_loop.call_soon(self._schedule_thread_manager, context=self._main_thread_ctx)
        # Writing to this pair wakes select() so it re-reads the fd lists.
        self._waker_r, self._waker_w = socket.socketpair()
        for end in (self._waker_r, self._waker_w):
            end.setblocking(False)
        _selector_loops.add(self)
        self.add_reader(self._waker_r, self._consume_waker)

    def _schedule_thread_manager(self) -> None:
        self._real_loop.create_task(self._enter_thread_manager())

    async def _enter_thread_manager(self) -> None:
        await self._thread_manager_handle.__anext__()

    def close(self) -> None:
        if self._closed:
            return
        self._stop_thread()
        _selector_loops.discard(self)
        self.remove_reader(self._waker_r)
        for end in (self._waker_r, self._waker_w):
            end.close()
        self._closed = True

    def _stop_thread(self) -> None:
        cond = self._select_cond
        with cond:
            self._closing_selector = True
            cond.notify()
        # It may be blocked in select() rather than waiting on the condition.
        self._wake_selector()
        worker = self._thread
        if worker is not None:
            worker.join()

    async def _thread_manager(self) -> AsyncGenerator[None, None]:
        # Daemonic, so that the atexit hook (not interpreter shutdown) is
        # what ends it.
        worker = threading.Thread(
            target=self._run_select, name="Tornado selector", daemon=True
        )
        self._thread = worker
        # Post the first fd lists; the new thread picks them up as it starts.
        self._start_select()
        worker.start()
        try:
            # Suspended here for the loop's lifetime.
            yield
        except GeneratorExit:
            self.close()
            raise

    def _wake_selector(self) -> None:
        # (A full socket buffer means wake-ups are pending already.)
        if not self._closed:
            with contextlib.suppress(BlockingIOError):
                self._waker_w.send(b"a")

    def _consume_waker(self) -> None:
        try:
            self._waker_r.recv(1024)
        except BlockingIOError:
            pass

    def _start_select(self) -> None:
        # Copy the fd lists here, on the loop thread: the select thread only
        # ever sees these copies.
        request = (list(self._readers), list(self._writers))
        with self._select_cond:
            assert self._select_args is None
            self._select_args = request
            self._select_cond.notify()

    def _run_select(self) -> None:
        # Body of the select thread.
        while True:
            request = self._await_request()
            if request is None:
                return
            readable, writable = self._select_ready(*request)
            self._post_ready(readable, writable)

    def _await_request(
        self,
    ) -> Optional[Tuple[List[_FileDescriptorLike], List[_FileDescriptorLike]]]:
        # Block until the loop thread posts fd lists (or asks us to quit,
        # in which case None is returned).
        cond = self._select_cond
        with cond:
            cond.wait_for(
                lambda: self._closing_selector or self._select_args is not None
            )
            if self._closing_selector:
                return None
            request, self._select_args = self._select_args, None
        return request

    def _select_ready(
        self, to_read: List[_FileDescriptorLike], to_write: List[_FileDescriptorLike]
    ) -> Tuple[List[Any], List[Any]]:
        try:
            # Writers are also watched for exceptional conditions, which is
            # how Windows signals a failed connect; both count as writable.
            readable, writable, failed = select.select(to_read, to_write, to_write)
        except OSError as exc:
            # A descriptor was closed on the loop thread after the lists were
            # copied.  That is expected only if a wake-up is pending (the
            # lists changed); then simply report the waker and start over.
            not_a_socket = getattr(errno, "WSAENOTSOCK", errno.EBADF)
            if exc.errno != not_a_socket:
                raise
            waker_ready = select.select([self._waker_r.fileno()], [], [], 0)[0]
            if not waker_ready:
                raise
            return waker_ready, []
        return readable, writable + failed

    def _post_ready(self, readable: List[Any], writable: List[Any]) -> None:
        try:
            self._real_loop.call_soon_threadsafe(
                self._handle_select, readable, writable, context=self._main_thread_ctx
            )
        except (RuntimeError, AttributeError):
            # The loop has closed (or is closing): there is no one to tell.
            pass

    def _handle_select(
        self, rs: List[_FileDescriptorLike], ws: List[_FileDescriptorLike]
    ) -> None:
        try:
            for ready, table in ((rs, self._readers), (ws, self._writers)):
                for fd in ready:
                    self._handle_event(fd, table)
        finally:
            # Whatever the callbacks did, go back to selecting.
            self._start_select()

    def _handle_event(
        self,
        fd: _FileDescriptorLike,
        cb_map: Dict[_FileDescriptorLike, Callable],
    ) -> None:
        # The registration may have been dropped since select() returned.
        callback = cb_map.get(fd)
        if callback is None:
            return
        callback()

    def _set_callback(
        self,
        table: Dict[_FileDescriptorLike, Callable],
        fd: _FileDescriptorLike,
        callback: Callable[[], Any],
    ) -> None:
        table[fd] = callback
        self._wake_selector()

    def _drop_callback(
        self, table: Dict[_FileDescriptorLike, Callable], fd: _FileDescriptorLike
    ) -> bool:
        if fd not in table:
            return False
        del table[fd]
        self._wake_selector()
        return True

    def add_reader(
        self, fd: _FileDescriptorLike, callback: Callable[..., None], *args: Any
    ) -> None:
        self._set_callback(self._readers, fd, partial(callback, *args))

    def add_writer(
        self, fd: _FileDescriptorLike, callback: Callable[..., None], *args: Any
    ) -> None:
        self._set_callback(self._writers, fd, partial(callback, *args))

    def remove_reader(self, fd: _FileDescriptorLike) -> bool:
        return self._drop_callback(self._readers, fd)

    def remove_writer(self, fd: _FileDescriptorLike) -> bool:
        return self._drop_callback(self._writers, fd)


class AddThreadSelectorEventLoop(asyncio.AbstractEventLoop):
    """Event loop wrapper that supplies ``add_reader`` and friends.

    They are implemented with a `SelectorThread` (``select`` on a second
    thread, callbacks on the wrapped loop's thread); any other attribute is
    taken from the wrapped loop.  Tornado applies it by itself to loops
    without ``add_reader``, such as ``WindowsProactorEventLoop``, and it is
    harmless around any other loop.  `close` closes the wrapped loop as
    well.
    """

    # Names resolved on the wrapper; all other lookups go to the real loop.
    MY_ATTRIBUTES = set(
        "_real_loop _selector close add_reader add_writer remove_reader remove_writer".split()
    )

    def __getattribute__(self, name: str) -> Any:
        lookup = super().__getattribute__
        if name not in AddThreadSelectorEventLoop.MY_ATTRIBUTES:
            return getattr(lookup("_real_loop"), name)
        return lookup(name)

    def __init__(self, real_loop: asyncio.AbstractEventLoop) -> None:
        self._selector = SelectorThread(real_loop)
        self._real_loop = real_loop

    def close(self) -> None:
        self._selector.close()
        self._real_loop.close()

    def add_reader(
        self,
        fd: "_FileDescriptorLike",
        callback: "Callable[[Unpack[_Ts]], Any]",
        *args: "Unpack[_Ts]",
    ) -> None:
        self._selector.add_reader(fd, callback, *args)

    def add_writer(
        self,
        fd: "_FileDescriptorLike",
        callback: "Callable[[Unpack[_Ts]], Any]",
        *args: "Unpack[_Ts]",
    ) -> None:
        self._selector.add_writer(fd, callback, *args)

    def remove_reader(self, fd: "_FileDescriptorLike") -> bool:
        return self._selector.remove_reader(fd)

    def remove_writer(self, fd: "_FileDescriptorLike") -> bool:
        return self._selector.remove_writer(fd)
