"""The native asyncio event loop.

`Loop` is a complete `asyncio.AbstractEventLoop`.  Its hot paths are C
(`tornado_c._core.LoopBase`: the ready queue, the timer heap, one loop
iteration, call_soon / call_later / call_at / call_soon_threadsafe and fd
watching, on libuv).  What is not hot — run_until_complete, the exception
handler API, executors, DNS, subprocesses, signals, socket helpers and
the rarer transports — is asyncio's own Python implementation (the unix
selector loop) running on top of those primitives, so its semantics are
asyncio's exactly.  TCP and unix stream transports are native
(`tornado_c._transport`, on the C stream code).
"""

from __future__ import annotations

import asyncio
import collections
import selectors
import signal
import socket
import sys
import threading
from asyncio import events, sslproto, unix_events
from typing import Any, Dict, NamedTuple, Optional, cast

from tornado_c import _core, _transport

__all__ = ["Loop", "EventLoopPolicy"]

_READ = 1
_WRITE = 2


class _Key(NamedTuple):
    fileobj: Any
    fd: int
    events: int
    data: Any


class _WatcherView:
    """The part of a `selectors.BaseSelector` asyncio's Python code reads.

    asyncio's transports ask ``loop._selector.get_key(fd).events`` for their
    repr; the registrations themselves live in the C watcher table.
    """

    __slots__ = ("_loop",)

    def __init__(self, loop: "Loop") -> None:
        self._loop = loop

    def get_key(self, fileobj: Any) -> _Key:
        loop = self._loop
        if loop is None or loop.is_closed():
            raise KeyError(f"{fileobj!r} is not registered")
        events_ = loop._fd_events(fileobj)
        if not events_:
            raise KeyError(f"{fileobj!r} is not registered")
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        return _Key(fileobj, fd, events_, None)

    def get_map(self) -> dict:
        return {}

    def close(self) -> None:
        self._loop = None  # type: ignore[assignment]


class Loop(_core.LoopBase, unix_events.SelectorEventLoop):  # type: ignore[misc]
    """tornado_c's native event loop (libuv underneath).

    Use it through `tornado_c.install()` (which makes ``asyncio.run()`` and
    `tornado_c.ioloop.IOLoop` use it), `tornado_c.new_event_loop()` or
    `EventLoopPolicy`.
    """

    # Set by asyncio's unix selector loop (not in its type stubs).
    _csock: socket.socket
    _signal_handlers: Dict[int, Any]

    def __init__(self) -> None:
        super().__init__(selector=cast(selectors.BaseSelector, _WatcherView(self)))
        # asyncio's base __init__ gave these to its own pure-Python queues;
        # the C core keeps the real ones.
        self._ready: collections.deque = collections.deque()
        self._wakeup_fd_installed = False

    # -- hooks called from C ------------------------------------------------

    def _report_callback_error(self, handle: Any, exc: BaseException) -> None:
        """A callback raised: report it as asyncio's Handle._run does."""
        from asyncio import format_helpers

        cb = format_helpers._format_callback_source(handle._callback, handle._args)
        context = {
            "message": f"Exception in callback {cb}",
            "exception": exc,
            "handle": handle,
        }
        if handle._source_traceback:
            context["source_traceback"] = handle._source_traceback
        self.call_exception_handler(context)

    def _debug_slow_callback(self, handle: Any, duration: float) -> None:
        if duration >= self.slow_callback_duration:
            from asyncio.log import logger

            logger.warning(
                "Executing %s took %.3f seconds", _format_handle(handle), duration
            )

    # -- the loop ---------------------------------------------------------------

    def run_forever(self) -> None:
        # While this loop runs in the main thread, make signals wake it: a
        # SIGINT must interrupt a poll that would otherwise block for long
        # (libuv restarts an interrupted epoll_wait by itself).
        installed = False
        if (
            not self._wakeup_fd_installed
            and threading.current_thread() is threading.main_thread()
            and not self.is_closed()
            and not self.is_running()
        ):
            try:
                previous = signal.set_wakeup_fd(self._csock.fileno(), warn_on_full_buffer=False)
            except (ValueError, OSError):
                previous = None
            if previous == -1:
                installed = True
            elif previous is not None:
                # Someone else owns the wakeup fd: give it back untouched.
                signal.set_wakeup_fd(previous)
        self._wakeup_fd_installed = self._wakeup_fd_installed or installed
        try:
            super().run_forever()
        finally:
            if installed:
                self._wakeup_fd_installed = False
                if not self._signal_handlers:
                    try:
                        signal.set_wakeup_fd(-1)
                    except (ValueError, OSError):
                        pass

    def close(self) -> None:
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self._closed:
            return
        super().close()
        self._close_native()
        # The completed Future native HTTP writes hand out refers back to
        # the loop: drop it so a closed loop leaves no cycle behind.
        self.__dict__.pop("_tc_done_future", None)

    # -- transports ---------------------------------------------------------------

    def _make_socket_transport(
        self, sock: Any, protocol: Any, waiter: Any = None, *, extra: Any = None,
        server: Any = None,
    ) -> Any:
        # TCP and unix stream sockets get the native transport (csrc/
        # transport.c on the C stream); anything else asyncio's own.
        kind = _transport.stream_kind(sock)
        if kind is None:
            return super()._make_socket_transport(  # type: ignore[misc]
                sock, protocol, waiter, extra=extra, server=server
            )
        return _transport.make_socket_transport(
            self, sock, kind, protocol, waiter, extra, server
        )

    def _make_ssl_transport(
        self, rawsock: Any, protocol: Any, sslcontext: Any, waiter: Any = None, **kwargs: Any
    ) -> Any:
        # TLS stays asyncio's SSLProtocol, over the native transport.  The
        # keyword arguments are asyncio's (the timeouts vary by version).
        kind = _transport.stream_kind(rawsock)
        if kind is None:
            return super()._make_ssl_transport(  # type: ignore[misc]
                rawsock, protocol, sslcontext, waiter, **kwargs
            )
        extra = kwargs.pop("extra", None)
        server = kwargs.pop("server", None)
        ssl_protocol = sslproto.SSLProtocol(
            self, protocol, sslcontext, waiter, kwargs.pop("server_side", False),
            kwargs.pop("server_hostname", None), **kwargs,
        )
        _transport.make_socket_transport(self, rawsock, kind, ssl_protocol, None, extra, server)
        return ssl_protocol._app_transport

    async def _sendfile_native(self, transp: Any, file: Any, offset: int, count: Any) -> int:
        if isinstance(transp, _transport.SocketTransport):
            return await transp._sendfile(file, offset, count)
        return await super()._sendfile_native(  # type: ignore[misc]
            transp, file, offset, count
        )

    async def _sendfile_fallback(self, transp: Any, file: Any, offset: int, count: Any) -> int:
        if isinstance(transp, _transport.SocketTransport):
            return await transp._sendfile_by_writes(file, offset, count)
        return await super()._sendfile_fallback(  # type: ignore[misc]
            transp, file, offset, count
        )

    def remove_signal_handler(self, sig: int) -> bool:
        result = super().remove_signal_handler(sig)
        if (
            result
            and self._wakeup_fd_installed
            and not self._signal_handlers
            and not self.is_closed()
        ):
            # asyncio cleared the wakeup fd; keep waking on signals while the
            # loop runs.
            try:
                signal.set_wakeup_fd(self._csock.fileno(), warn_on_full_buffer=False)
            except (ValueError, OSError):
                pass
        return result

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} running={self.is_running()} "
            f"closed={self.is_closed()} debug={self.get_debug()}>"
        )


def _format_handle(handle: Any) -> str:
    cb = getattr(handle, "_callback", None)
    task = getattr(cb, "__self__", None)
    if isinstance(task, asyncio.Task):
        created = getattr(task, "_source_traceback", None)
        return f"{handle!r} created at {created!r}" if created else repr(task)
    return repr(handle)


class EventLoopPolicy(events.BaseDefaultEventLoopPolicy):  # type: ignore[misc,name-defined]
    """An asyncio event loop policy whose loops are `Loop` instances.

    ``asyncio.set_event_loop_policy(tornado_c.EventLoopPolicy())`` (or
    `tornado_c.install()`) makes ``asyncio.run()`` and ``asyncio.new_event_loop()``
    use the native loop.
    """

    _loop_factory = Loop

    def __init__(self) -> None:
        super().__init__()
        # Subprocess support keeps asyncio's default child watcher machinery.
        self._unix_policy = unix_events.DefaultEventLoopPolicy()

    def get_child_watcher(self) -> Any:  # pragma: no cover - deprecated API
        return self._unix_policy.get_child_watcher()

    def set_child_watcher(self, watcher: Any) -> None:  # pragma: no cover
        self._unix_policy.set_child_watcher(watcher)
