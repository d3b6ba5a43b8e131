"""Buffered, non-blocking streams over sockets, pipes and TLS connections
(Tornado's ``tornado.iostream``).

Classes:

* `BaseIOStream`: the buffering and future handling common to every
  stream, on top of a handful of fd-level hooks.
* `IOStream`: a stream over a non-blocking socket, with `~IOStream.connect`
  and `~IOStream.start_tls`.
* `SSLIOStream`: an `IOStream` that speaks TLS.
* `PipeIOStream`: a stream over a pipe's file descriptor.

Readiness comes from `.IOLoop.add_handler`.  Only the hooks
(`~BaseIOStream.fileno`, `~BaseIOStream.close_fd`,
`~BaseIOStream.read_from_fd`, `~BaseIOStream.write_to_fd` and
`~BaseIOStream.get_fd_error`) talk to the operating system; subclasses
supply them and inherit everything else.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import io
import os
import re
import socket
import ssl
from _socket import socket as _socket_base
import sys
from collections import deque
from numbers import Integral
from types import MethodType, TracebackType
from typing import (
    Any,
    Awaitable,
    Callable,
    Deque,
    Dict,
    List,
    Optional,
    Pattern,
    Tuple,
    Type,
    TypeVar,
    Union,
)

from tornado_c import ioloop
from tornado_c.concurrent import Future, future_set_result_unless_cancelled
from tornado_c.log import gen_log
from tornado_c.netutil import (
    _client_ssl_defaults,
    _server_ssl_defaults,
    ssl_wrap_socket,
)
from tornado_c.util import errno_from_exception

try:
    from tornado_c import _core
except ImportError:  # pragma: no cover - the extension is not built
    _core = None  # type: ignore[assignment]
_override_mask = _core._override_mask if _core is not None else None

__all__ = [
    "BaseIOStream",
    "IOStream",
    "SSLIOStream",
    "PipeIOStream",
    "StreamClosedError",
    "UnsatisfiableReadError",
    "StreamBufferFullError",
]

_IOStreamType = TypeVar("_IOStreamType", bound="IOStream")


def _errno_values(*names: str) -> Tuple[int, ...]:
    # The named errno constants that exist on this platform.
    return tuple(getattr(errno, name) for name in names if hasattr(errno, name))


# A peer that disappeared: the stream is closed without a log line.
_ERRNO_CONNRESET: Tuple[int, ...] = _errno_values(
    "ECONNRESET", "ECONNABORTED", "EPIPE", "ETIMEDOUT",
    "WSAECONNRESET", "WSAECONNABORTED", "WSAETIMEDOUT",
)
if sys.platform == "darwin":
    # A send racing with the socket's teardown fails with EPROTOTYPE there.
    _ERRNO_CONNRESET += _errno_values("EPROTOTYPE")

_ERRNO_WOULDBLOCK: Tuple[int, ...] = _errno_values("EWOULDBLOCK", "EAGAIN")
_ERRNO_INPROGRESS: Tuple[int, ...] = _errno_values("EINPROGRESS", "WSAEINPROGRESS")

_WINDOWS = sys.platform.startswith("win")

# Windows refuses very large sends (ENOBUFS); cap each one there.
_WINDOWS_SEND_LIMIT = 128 * 1024
# OpenSSL takes C int lengths: keep TLS reads and writes below 1 GiB.
_SSL_IO_LIMIT = 1 << 30

_READ = ioloop.IOLoop.READ
_WRITE = ioloop.IOLoop.WRITE
_ERROR = ioloop.IOLoop.ERROR


class StreamClosedError(IOError):
    """Raised when an operation needs an open stream but it is closed.

    Pending and later reads and writes fail with it.  Because the close
    callback is deferred until buffered data has been delivered, this
    error can arrive before that callback runs.

    ``real_error`` holds the exception that closed the stream, if any.
    """

    def __init__(self, real_error: Optional[BaseException] = None) -> None:
        super().__init__("Stream is closed")
        self.real_error = real_error


class UnsatisfiableReadError(Exception):
    """A ``read_until`` or ``read_until_regex`` call exceeded its
    ``max_bytes`` without finding its delimiter or match."""


class StreamBufferFullError(Exception):
    """Raised when a read or write buffer reaches its size limit."""


class _StreamBuffer:
    """Outgoing bytes, queued in order.

    Each entry in ``_buffers`` is either a ``memoryview`` (an append larger
    than ``_large_buf_threshold``, kept without copying and never grown)
    or a ``bytearray`` that collects consecutive small appends until it
    reaches the threshold.
    """

    # Appends larger than this are referenced rather than copied.
    _large_buf_threshold = 2048

    def __init__(self) -> None:
        self._buffers: Deque[Union[bytearray, memoryview]] = deque()
        # Bytes of the first entry that have already been consumed
        # (always 0 when that entry is a bytearray: it is trimmed instead).
        self._head_offset = 0
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def append(self, data: Union[bytes, bytearray, memoryview]) -> None:
        """Queue ``data`` (any bytes-like object) after what is queued."""
        count = len(data)
        if count == 0:
            return
        self._size += count
        chunks = self._buffers
        if count > self._large_buf_threshold:
            chunks.append(data if isinstance(data, memoryview) else memoryview(data))
            return
        tail = chunks[-1] if chunks else None
        if isinstance(tail, bytearray) and len(tail) < self._large_buf_threshold:
            tail.extend(data)
        else:
            chunks.append(bytearray(data))

    def peek(self, size: int) -> memoryview:
        """A view of up to ``size`` queued bytes from the front.

        The view never spans entries, so it may be shorter than ``size``
        (and is empty when nothing is queued).
        """
        assert size > 0
        if not self._buffers:
            return memoryview(b"")
        head = self._buffers[0]
        view = head if isinstance(head, memoryview) else memoryview(head)
        start = self._head_offset
        return view[start : start + size]

    def advance(self, size: int) -> None:
        """Discard ``size`` bytes from the front; that many must be queued."""
        assert 0 < size <= self._size
        self._size -= size
        chunks = self._buffers
        while size:
            head = chunks[0]
            unread = len(head) - self._head_offset
            if size >= unread:
                chunks.popleft()
                self._head_offset = 0
                size -= unread
                continue
            if isinstance(head, memoryview):
                self._head_offset += size
            else:
                # Cut the consumed prefix off so the bytearray can keep
                # absorbing small appends.
                del head[:size]
            break


# The write buffer every native stream shows (BaseIOStream._write_buffer):
# always empty, never appended to while the stream is native.
_NATIVE_EMPTY_WRITE_BUFFER = _StreamBuffer()


class _PerInstance:
    """A class-level default of which each instance gets its own copy, made
    on first access; from then on it is an ordinary instance attribute.

    With ``native_value``, a stream on the native engine reads that
    (shared) value instead and nothing is stored.
    """

    __slots__ = ("name", "factory", "native_value")

    def __init__(
        self, factory: Callable[[], Any], native_value: Optional[Callable[[], Any]] = None
    ) -> None:
        self.name = ""
        self.factory = factory
        self.native_value = native_value

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: Optional[type] = None) -> Any:
        if obj is None:
            return self
        if self.native_value is not None and obj._native is not None:
            return self.native_value()
        value = self.factory()
        # setattr, not obj.__dict__: on CPython 3.11+ touching __dict__
        # turns the instance's inline attribute values into a dict object.
        setattr(obj, self.name, value)
        return value


class BaseIOStream:
    """Buffered reading and writing on a non-blocking file descriptor.

    Writes are queued by `write`; reads are requested with one of the
    ``read_*`` methods.  Each returns an awaitable that resolves when the
    operation is done: with the data (or byte count, for `read_into`) for
    reads, with ``None`` for writes.  When the stream closes, everything
    still outstanding fails with `StreamClosedError`; `set_close_callback`
    offers a notification that does not depend on an operation being in
    progress.  If an error caused the close, it is kept in ``error``.

    Concrete streams provide `fileno`, `close_fd`, `read_from_fd` and
    `write_to_fd`, and may provide `get_fd_error`.
    """

    # The native engine (tornado_c._core.Stream) when this stream runs on it:
    # a connected TCP IOStream on tornado_c's native loop.  Every public
    # method checks it first; None means the pure-Python path below, which
    # serves everything else (SSL, pipes, other loops, subclasses that
    # override the fd primitives).
    _native: Any = None
    # The loop the engine runs on (a _core.LoopBase; set with _native).
    _native_loop: Any

    # The state of a new stream.  These are class attributes so that an
    # instance stores only what it changes (an idle connection on the native
    # engine never touches most of them; see DESIGN.md, memory); the
    # mutable ones (_PerInstance) are made for each instance on first use.
    error: Optional[BaseException] = None
    _closed = False
    # The events registered with the loop (None: not registered yet).
    _state: Optional[int] = None
    _connecting = False
    _connect_future: "Optional[Future[IOStream]]" = None
    # Owned by SSLIOStream, but start_tls and _signal_closed use it too.
    _ssl_connect_future: "Optional[Future[SSLIOStream]]" = None
    _close_callback: Optional[Callable[[], None]] = None

    # Incoming data.  During read_into the caller's buffer stands in for
    # _read_buffer, and what was left over waits in _after_user_read_buffer.
    _read_buffer: bytearray = _PerInstance(bytearray)  # type: ignore[assignment]
    _read_buffer_size = 0
    _user_read_buffer = False
    _after_user_read_buffer: Optional[bytearray] = None
    # The pending read: its future and what would complete it.
    _read_future: Optional[Future] = None
    # Replacements assigned on an IOStream instance (see _Primitive).
    _replaced_read_from_fd: Optional[Tuple[Any]] = None
    _replaced_write_to_fd: Optional[Tuple[Any]] = None
    _read_bytes: Optional[int] = None
    _read_partial = False
    _read_delimiter: Optional[bytes] = None
    _read_regex: Optional[Pattern] = None
    _read_max_bytes: Optional[int] = None
    _read_until_close = False

    # Outgoing data.  The two counters are running totals of bytes queued
    # and bytes sent; each write future waits for the "sent" total to reach
    # the "queued" total recorded with it.  A native stream writes through
    # the engine and shows one shared, always empty _write_buffer.
    _write_buffer: _StreamBuffer = _PerInstance(  # type: ignore[assignment]
        _StreamBuffer, native_value=lambda: _NATIVE_EMPTY_WRITE_BUFFER
    )
    _total_write_index = 0
    _total_write_done_index = 0
    _write_futures: "Deque[Tuple[int, Future[None]]]" = _PerInstance(  # type: ignore[assignment]
        deque
    )

    def __init__(
        self,
        max_buffer_size: Optional[int] = None,
        read_chunk_size: Optional[int] = None,
        max_write_buffer_size: Optional[int] = None,
    ) -> None:
        """Set up an empty, unregistered stream.

        :arg max_buffer_size: cap on buffered incoming data (default
            100 MiB); exceeding it closes the stream.
        :arg read_chunk_size: most bytes requested from the fd per read
            (default 64 KiB, and never above half of ``max_buffer_size``).
        :arg max_write_buffer_size: cap on queued outgoing data (default:
            no cap); `write` raises `StreamBufferFullError` beyond it.
        """
        self.io_loop = ioloop.IOLoop.current()
        self._max_buffer_size = max_buffer_size or 100 * 1024 * 1024
        # Chunks close to the whole buffer limit would trip it needlessly.
        self._read_chunk_size = min(
            read_chunk_size or 64 * 1024, self.max_buffer_size // 2
        )
        # Always set, as Tornado does (a subclass's class attribute of that
        # name does not apply).
        self.max_write_buffer_size = max_write_buffer_size
        # Everything else starts at the class-level defaults above: an
        # instance only stores what it changes.

    # -- hooks for concrete streams ------------------------------------------

    def fileno(self) -> Union[int, ioloop._Selectable]:
        """The file descriptor (or selectable object) to watch."""
        raise NotImplementedError()

    def close_fd(self) -> None:
        """Release the underlying file.

        Only `close` calls this; code using a stream should call `close`.
        """
        raise NotImplementedError()

    def write_to_fd(self, data: memoryview) -> int:
        """Write as much of ``data`` as the fd accepts now; return the
        number of bytes it took."""
        raise NotImplementedError()

    def read_from_fd(self, buf: Union[bytearray, memoryview]) -> Optional[int]:
        """Read at most ``len(buf)`` bytes into ``buf``.

        Return the count read, ``0`` at end of file, or ``None`` when no
        data is available right now (the would-block case).
        """
        raise NotImplementedError()

    def get_fd_error(self) -> Optional[Exception]:
        """Describe a pending error on the fd, or return ``None``.

        Consulted when the `.IOLoop` reports an error event; the result
        (e.g. a `socket.error` built from ``SO_ERROR``) becomes ``error``.
        """
        return None

    # -- reading ---------------------------------------------------------------

    def _on_native(self) -> bool:
        # Whether the native engine serves the next operation.  A stream
        # whose I/O primitives were replaced leaves it (when idle).
        return self._native is not None and (
            self._native_intact() or not self._demote_native()
        )

    def read_until_regex(
        self, regex: bytes, max_bytes: Optional[int] = None
    ) -> Awaitable[bytes]:
        """Read until ``regex`` matches the buffered data.

        Resolves with everything up to and including the end of the first
        match.  With ``max_bytes``, the stream is closed once that many
        bytes have arrived without a match.
        """
        if self._on_native():
            future = self._native_start_read()
            return self._native_read_result(
                future, self._native.read_until_regex(future, re.compile(regex), max_bytes)
            )
        future = self._start_read()
        self._read_regex = re.compile(regex)
        self._read_max_bytes = max_bytes
        return self._run_read(future, bounded_search=True)

    def read_until(
        self, delimiter: bytes, max_bytes: Optional[int] = None
    ) -> Awaitable[bytes]:
        """Read until ``delimiter`` appears.

        Resolves with the data up to and including the delimiter.  With
        ``max_bytes``, the stream is closed once that many bytes have
        arrived without the delimiter.
        """
        if self._on_native():
            future = self._native_start_read()
            return self._native_read_result(
                future, self._native.read_until(future, delimiter, max_bytes)
            )
        future = self._start_read()
        self._read_delimiter = delimiter
        self._read_max_bytes = max_bytes
        return self._run_read(future, bounded_search=True)

    def read_bytes(self, num_bytes: int, partial: bool = False) -> Awaitable[bytes]:
        """Read exactly ``num_bytes`` bytes.

        With ``partial=True``, resolve as soon as any data is available,
        with at most ``num_bytes`` bytes.
        """
        if self._on_native():
            future = self._native_start_read()
            assert isinstance(num_bytes, Integral)
            return self._native_read_result(
                future, self._native.read_bytes(future, num_bytes, partial)
            )
        future = self._start_read()
        assert isinstance(num_bytes, Integral)
        self._read_partial = partial
        self._read_bytes = num_bytes
        return self._run_read(future)

    def read_into(self, buf: bytearray, partial: bool = False) -> Awaitable[int]:
        """Read into the writable buffer ``buf``; resolve with a byte count.

        Resolves once ``buf`` is full, or, with ``partial=True``, as soon
        as any bytes have been stored in it.
        """
        if self._on_native():
            future = self._native_start_read()
            return self._native_read_result(
                future, self._native.read_into(future, buf, partial)
            )
        future = self._start_read()
        wanted = len(buf)
        held = self._read_buffer_size
        # Data already buffered goes first; reads then land directly in
        # ``buf``, which serves as the read buffer until _finish_read.
        leftover = self._read_buffer
        head = min(held, wanted)
        if head:
            buf[:head] = memoryview(leftover)[:head]
        if held >= wanted:
            del leftover[:wanted]
            self._after_user_read_buffer = leftover
        self._read_buffer = buf  # type: ignore[assignment]
        self._read_buffer_size = held
        self._user_read_buffer = True
        self._read_bytes = wanted
        self._read_partial = partial
        return self._run_read(future)

    def read_until_close(self) -> Awaitable[bytes]:
        """Read everything until the stream closes.

        All of it is buffered, up to ``max_buffer_size``; to process data
        as it arrives, loop on `read_bytes(partial=True) <.read_bytes>`.
        """
        if self._on_native():
            future = self._native_start_read()
            return self._native_read_result(future, self._native.read_until_close(future))
        future = self._start_read()
        if not self.closed():
            self._read_until_close = True
            return self._run_read(future)
        self._finish_read(self._read_buffer_size)
        return future

    def _run_read(self, future: Future, bounded_search: bool = False) -> Future:
        # Try to complete a freshly configured read right away.  For the
        # delimiter/regex reads an exceeded max_bytes closes the stream
        # (failing ``future``); any other error is raised to the caller,
        # with the future's own failure marked as seen.
        try:
            self._try_inline_read()
        except UnsatisfiableReadError as e:
            if not bounded_search:
                future.add_done_callback(_retrieve_exception)
                raise
            self._abandon_read(e)
        except BaseException:
            future.add_done_callback(_retrieve_exception)
            raise
        return future

    def _abandon_read(self, e: UnsatisfiableReadError) -> None:
        # max_bytes ran out before the delimiter/match: give up on the
        # connection (the pending read fails with StreamClosedError).
        gen_log.info("Unsatisfiable read, closing connection: %s" % e)
        self.close(exc_info=e)

    # -- writing ---------------------------------------------------------------

    def write(self, data: Union[bytes, memoryview]) -> "Future[None]":
        """Queue ``data`` (bytes or a memoryview) for sending.

        Returns a `.Future` resolving to ``None`` once this data, and
        everything queued before it, has been handed to the OS.
        """
        self._check_closed()
        if self._on_native():
            return self._native_write(data)
        if data:
            self._enqueue(data)
        future: Future[None] = Future()
        future.add_done_callback(_retrieve_exception)
        self._write_futures.append((self._total_write_index, future))
        if self._connecting:
            # Sent once the connection is up.
            return future
        self._handle_write()
        if self._write_buffer:
            self._add_io_state(_WRITE)
        self._maybe_add_error_listener()
        return future

    def _enqueue(self, data: Union[bytes, memoryview]) -> None:
        if isinstance(data, memoryview):
            # Count bytes, whatever the view's item format.
            data = memoryview(data).cast("B")
        size = len(data)
        limit = self.max_write_buffer_size
        if limit is not None and len(self._write_buffer) + size > limit:
            raise StreamBufferFullError("Reached maximum write buffer size")
        self._write_buffer.append(data)
        self._total_write_index += size

    # -- closing ---------------------------------------------------------------

    def set_close_callback(self, callback: Optional[Callable[[], None]]) -> None:
        """Have ``callback`` run (on the IOLoop) when the stream closes.

        Futures of pending operations already fail on close; this also
        covers the case where no operation is pending, such as noticing a
        peer hanging up on an idle connection.
        """
        self._close_callback = callback
        if self._native is not None:
            self._native.watch_close = callback is not None
        else:
            self._maybe_add_error_listener()

    def close(
        self,
        exc_info: Union[
            None,
            bool,
            BaseException,
            Tuple[
                Optional[Type[BaseException]],
                Optional[BaseException],
                Optional[TracebackType],
            ],
        ] = False,
    ) -> None:
        """Close the stream.

        ``exc_info`` records why, in ``error``: an exception, an
        ``exc_info``-style tuple, or any true value to take the exception
        currently being handled.
        """
        if not self.closed():
            self._record_error(exc_info)
            native = self._native
            if native is not None:
                # Resolves a pending read that the buffer satisfies (all of
                # it for read_until_close); the rest fail below.  Dropping
                # on_event breaks the stream <-> engine reference cycle.
                native.close()
                native.on_event = None
            else:
                self._settle_read_on_close()
            if self._state is not None:
                self._state = None
                self.io_loop.remove_handler(self.fileno())
            self.close_fd()
            self._closed = True
        self._signal_closed()

    def _record_error(self, exc_info: Any) -> None:
        if not exc_info:
            return
        if isinstance(exc_info, BaseException):
            self.error = exc_info
        elif isinstance(exc_info, tuple):
            self.error = exc_info[1]
        else:
            in_flight = sys.exc_info()[1]
            if in_flight is not None:
                self.error = in_flight

    def _settle_read_on_close(self) -> None:
        # Data that already satisfies the pending read is delivered rather
        # than lost; read_until_close gets whatever was buffered.
        if self._read_until_close:
            self._read_until_close = False
            self._finish_read(self._read_buffer_size)
            return
        if self._read_future is None:
            return
        try:
            end = self._find_read_pos()
        except UnsatisfiableReadError:
            return
        if end is not None:
            self._read_from_buffer(end)

    def _signal_closed(self) -> None:
        doomed: List[Future] = []
        read_future, self._read_future = self._read_future, None
        if read_future is not None:
            doomed.append(read_future)
        writes = self._write_futures
        if writes:
            doomed.extend(entry[1] for entry in writes)
            writes.clear()
        connect_future, self._connect_future = self._connect_future, None
        if connect_future is not None:
            doomed.append(connect_future)
        for future in doomed:
            if not future.done():
                future.set_exception(StreamClosedError(real_error=self.error))
            # Nobody may be awaiting it: keep asyncio from complaining.
            _retrieve_exception(future)

        handshake = self._ssl_connect_future
        if handshake is not None:
            # Reported separately: only wait_for_handshake callers see it.
            if not handshake.done():
                reason = self.error
                handshake.set_exception(
                    reason if reason is not None else StreamClosedError()
                )
            handshake.exception()
            self._ssl_connect_future = None

        callback, self._close_callback = self._close_callback, None
        if callback is not None:
            self.io_loop.add_callback(callback)
        # Free queued output even if a reference cycle keeps us alive.
        self._write_buffer = None  # type: ignore[assignment]

    def reading(self) -> bool:
        """Whether a read is in progress."""
        if self._native is not None:
            return self._native.reading
        return self._read_future is not None

    def writing(self) -> bool:
        """Whether queued data is still waiting to be sent."""
        if self._native is not None:
            return self._native.write_buffer_size > 0
        return bool(self._write_buffer)

    def closed(self) -> bool:
        """Whether `close` has happened."""
        return self._closed

    def set_nodelay(self, value: bool) -> None:
        """Turn Nagle's algorithm off (``True``) or back on (``False``).

        With no-delay set, small writes leave immediately instead of
        being held back to be coalesced, trading bandwidth for latency.
        Only TCP streams act on it; elsewhere it does nothing.
        """

    def _handle_connect(self) -> None:
        raise NotImplementedError()

    # -- the native engine -------------------------------------------------

    @property
    def read_chunk_size(self) -> int:
        return self._read_chunk_size

    @read_chunk_size.setter
    def read_chunk_size(self, value: int) -> None:
        self._read_chunk_size = value
        if self._native is not None:
            self._native.read_chunk_size = value

    @property
    def max_buffer_size(self) -> int:
        return self._max_buffer_size

    @max_buffer_size.setter
    def max_buffer_size(self, value: int) -> None:
        self._max_buffer_size = value
        if self._native is not None:
            self._native.max_buffer_size = value

    def _native_intact(self) -> bool:
        """False once the I/O primitives the native engine stands in for have
        been replaced (instrumentation or a test patching IOStream, or one
        stream instance): such a stream goes back to the Python path, which
        calls them."""
        # The class (and its bases) through its method cache, in C; the
        # instance through the slots IOStream's _Primitive descriptors keep
        # (looking at self.__dict__ instead would, on CPython 3.11+, give
        # every stream a dict object of its own).
        return (
            not _override_mask(type(self), _NATIVE_NAMES, _NATIVE_ORIGINALS)
            and self._replaced_read_from_fd is None
            and self._replaced_write_to_fd is None
        )

    def _demote_native(self) -> bool:
        """Move the stream from the native engine back to the Python path.
        Possible while nothing is in flight; returns whether it happened."""
        native = self._native
        if native.reading or native.write_buffer_size or self._closed:
            return False
        data = native.take_buffer()
        native.close()
        native.on_event = None
        self._native = None
        # The engine resolved its last read's future itself.
        self._read_future = None
        self._write_buffer = _StreamBuffer()  # the engine had none in Python
        if data:
            self._read_buffer += data
            self._read_buffer_size += len(data)
        self._maybe_add_error_listener()
        return True

    def _native_start_read(self) -> Future:
        if self._native.reading:
            # As _start_read: a read left pending by a close reports the
            # close rather than the programming error.
            self._check_closed()
            assert not self._native.reading, "Already reading"
        # With the loop given, asyncio skips its running-loop lookup (a
        # getpid() system call per Future on CPython 3.11).
        future: Future = Future(loop=self._native_loop)
        self._read_future = future
        return future

    def _native_read_result(self, future: Future, rc: int) -> Future:
        if rc == _core.READ_DONE:
            self._read_future = None
        elif rc == _core.READ_CLOSED:
            self._read_future = None
            future.add_done_callback(_retrieve_exception)
            raise StreamClosedError(real_error=self.error)
        elif rc == _core.READ_ERROR:
            # As the Python path's inline read: a reset closes quietly and
            # fails the future; any other error closes and is raised.
            error = self._native.take_error()
            future.add_done_callback(_retrieve_exception)
            self.close(exc_info=error)  # fails the pending future
            if not self._is_connreset(error):
                raise error
        elif rc == _core.READ_FULL:
            future.add_done_callback(_retrieve_exception)
            gen_log.error("Reached maximum read buffer size")
            self.close()
            raise StreamBufferFullError("Reached maximum read buffer size")
        # READ_PENDING: the engine resolves it; READ_FAILED: the engine
        # reported an unsatisfiable read and the close failed the future.
        return future

    def _native_write(self, data: Union[bytes, memoryview]) -> "Future[None]":
        native = self._native
        future: Future[None] = Future(loop=self._native_loop)
        if data:
            size = data.nbytes if isinstance(data, memoryview) else len(data)
            if (
                self.max_write_buffer_size is not None
                and native.write_buffer_size + size > self.max_write_buffer_size
            ):
                raise StreamBufferFullError("Reached maximum write buffer size")
            try:
                queued = native.write(data)
            except OSError as e:
                future.add_done_callback(_retrieve_exception)
                self._write_futures.append((0, future))
                self._native_event(_core.STREAM_WRITE_ERROR, e)
                return future
        else:
            queued = native.write_buffer_size
        if queued:
            # Resolved once this write (an empty one: everything before it)
            # is out in full, as Tornado's: the engine reports how many of
            # its queued writes are (STREAM_WRITTEN), and these are queued
            # in order.  A close fails it instead, and as in Tornado nobody
            # has to look at that failure (_retrieve_exception does).
            future.add_done_callback(_retrieve_exception)
            self._write_futures.append((native.write_reqs, future))
        else:
            # Written already: a success has no exception to mark as
            # retrieved, so no done callback (it would cost a trip through
            # the loop per write).
            future.set_result(None)
        return future

    def _native_event(self, kind: int, detail: Any) -> None:
        # Everything the native engine reports that is not a completed read.
        if kind == _core.STREAM_DRAIN:
            futures = self._write_futures
            while futures:
                future_set_result_unless_cancelled(futures.popleft()[1], None)
            return
        if kind == _core.STREAM_WRITTEN:
            futures = self._write_futures
            while futures and futures[0][0] <= detail:
                future_set_result_unless_cancelled(futures.popleft()[1], None)
            return
        if self.closed():
            return
        if kind == _core.STREAM_EOF:
            self.close()
        elif kind == _core.STREAM_UNSATISFIABLE:
            e = UnsatisfiableReadError(detail)
            gen_log.info("Unsatisfiable read, closing connection: %s" % e)
            self.close(exc_info=e)
        elif kind == _core.STREAM_BUFFER_FULL:
            gen_log.error("Reached maximum read buffer size")
            self.close()
        elif kind == _core.STREAM_READ_ERROR:
            if not self._is_connreset(detail):
                gen_log.warning("error on read: %s" % detail)
            self.close(exc_info=detail)
        elif kind == _core.STREAM_WRITE_ERROR:
            if not self._is_connreset(detail):
                gen_log.warning("Write error on %s: %s", self.fileno(), detail)
            self.close(exc_info=detail)
        elif kind == _core.STREAM_CONNECT:
            self._native_connected(detail)  # type: ignore[attr-defined]


    # -- event dispatch --------------------------------------------------------

    def _handle_events(self, fd: Union[int, ioloop._Selectable], events: int) -> None:
        if self.closed():
            gen_log.warning("Got events for closed stream %s", fd)
            return
        try:
            self._dispatch_events(events)
        except UnsatisfiableReadError as e:
            self._abandon_read(e)
        except Exception as e:
            gen_log.error("Uncaught exception, closing connection.", exc_info=True)
            self.close(exc_info=e)
            raise

    def _dispatch_events(self, events: int) -> None:
        if self._connecting:
            # A completed connect normally shows up as writability, but
            # some loops signal only an error event.
            self._handle_connect()
        # (Once connected, the stream may have moved onto the native
        # engine, which then receives the socket's events itself.)
        if self._native is not None:
            return
        for flag, handler in ((_READ, self._handle_read), (_WRITE, self._handle_write)):
            if self.closed():
                return
            if events & flag:
                handler()
        if self.closed():
            return
        if events & _ERROR:
            self.error = self.get_fd_error()
            # Defer the close by one loop iteration so that a read callback
            # for data that is already buffered still runs.
            self.io_loop.add_callback(self.close)
            return
        wanted = self._wanted_events()
        if wanted == self._state:
            return
        assert (
            self._state is not None
        ), "shouldn't happen: _handle_events without self._state"
        self._state = wanted
        self.io_loop.update_handler(self.fileno(), wanted)

    def _wanted_events(self) -> int:
        # The events to keep listening for after a round of handling.
        # An idle stream with nothing buffered also listens for reads, so
        # that a peer hanging up is noticed.
        wants_read = self.reading()
        wants_write = self.writing()
        if not (wants_read or wants_write) and self._read_buffer_size == 0:
            wants_read = True
        mask = _ERROR
        if wants_read:
            mask |= _READ
        if wants_write:
            mask |= _WRITE
        return mask

    def _read_target(self) -> Optional[int]:
        # How many buffered bytes make further reading pointless right now:
        # None means "until the fd runs dry" (read_until_close, or a
        # delimiter search without max_bytes), 0 means "no read pending".
        for bound in (self._read_bytes, self._read_max_bytes):
            if bound is not None:
                return bound
        return None if self.reading() else 0

    def _read_to_buffer_loop(self) -> Optional[int]:
        # Pull data from the fd until the pending read is satisfied, the
        # target size is reached, or the fd has nothing more; returns the
        # position the read may consume up to, or None.
        target = self._read_target()
        # Delimiter/regex searches are repeated only when the buffer has
        # doubled since the last one, to stay linear overall.
        search_at = 0
        while not self.closed():
            if self._read_to_buffer() == 0:
                break
            held = self._read_buffer_size
            if target is not None and held >= target:
                break
            if held < search_at:
                continue
            end = self._find_read_pos()
            if end is not None:
                return end
            search_at = held * 2
        return self._find_read_pos()

    def _handle_read(self) -> None:
        try:
            end = self._read_to_buffer_loop()
        except (UnsatisfiableReadError, asyncio.CancelledError):
            raise
        except Exception as e:
            gen_log.warning("error on read: %s" % e)
            self.close(exc_info=e)
            return
        if end is not None:
            self._read_from_buffer(end)

    def _start_read(self) -> Future:
        if self._read_future is not None:
            # A second concurrent read is a caller bug, unless the first
            # is only pending because the stream closed: then the caller
            # gets StreamClosedError.  (Reading from a closed stream is
            # otherwise fine: buffered data may satisfy it.)
            self._check_closed()
            assert self._read_future is None, "Already reading"
        future: Future = Future()
        self._read_future = future
        return future

    def _finish_read(self, size: int) -> None:
        if not self._user_read_buffer:
            outcome: Union[int, bytes] = self._consume(size)
        else:
            # read_into is done with the caller's buffer: return to ours.
            restored = self._after_user_read_buffer
            if restored is None:
                restored = bytearray()
            self._user_read_buffer = False
            self._after_user_read_buffer = None
            self._read_buffer = restored
            self._read_buffer_size = len(restored)
            outcome = size
        waiter, self._read_future = self._read_future, None
        if waiter is not None:
            future_set_result_unless_cancelled(waiter, outcome)
        self._maybe_add_error_listener()

    def _try_inline_read(self) -> None:
        # Buffered data first, then whatever the fd has ready; if the read
        # is still unsatisfied, wait for the loop to report readability.
        end = self._find_read_pos()
        if end is None:
            self._check_closed()
            end = self._read_to_buffer_loop()
        if end is not None:
            self._read_from_buffer(end)
        elif not self.closed():
            # (A close during the loop has already settled the future.)
            self._add_io_state(_READ)

    def _read_to_buffer(self) -> Optional[int]:
        # One read_from_fd call.  Returns the number of bytes added, 0 if
        # none (would block, or end of file, which closes the stream), or
        # None if a connection reset closed the stream.
        if self._user_read_buffer:
            chunk: Any = memoryview(self._read_buffer)[self._read_buffer_size :]
        else:
            chunk = bytearray(self.read_chunk_size)
        try:
            try:
                count = self.read_from_fd(chunk)
            except OSError as e:
                quiet = self._is_connreset(e)
                # Either way the stream is finished; a reset is an ordinary
                # ending, kept in ``error`` but not raised.
                self.close(exc_info=e)
                if quiet:
                    return None
                raise
            if not count:
                if count == 0:
                    self.close()
                return 0
            if not self._user_read_buffer:
                self._read_buffer.extend(memoryview(chunk)[:count])
            self._read_buffer_size += count
        finally:
            # Drop our view/chunk now: an exported buffer cannot be resized.
            chunk = None
        if self._read_buffer_size <= self.max_buffer_size:
            return count
        gen_log.error("Reached maximum read buffer size")
        self.close()
        raise StreamBufferFullError("Reached maximum read buffer size")

    def _read_from_buffer(self, pos: int) -> None:
        # The pending read is satisfied by the first ``pos`` buffered bytes.
        self._read_bytes = None
        self._read_delimiter = None
        self._read_regex = None
        self._read_partial = False
        self._finish_read(pos)

    def _find_read_pos(self) -> Optional[int]:
        # Where the pending read could end in the buffered data, or None.
        held = self._read_buffer_size
        want = self._read_bytes
        if want is not None:
            if held >= want:
                return want
            if held and self._read_partial:
                return held
        pattern: Union[bytes, Pattern, None]
        if self._read_delimiter is not None:
            pattern = self._read_delimiter
            if not self._read_buffer:
                return None
            found = self._read_buffer.find(pattern)
            end = None if found < 0 else found + len(pattern)
        elif self._read_regex is not None:
            pattern = self._read_regex
            if not self._read_buffer:
                return None
            match = pattern.search(self._read_buffer)
            end = None if match is None else match.end()
        else:
            return None
        self._check_max_bytes(pattern, held if end is None else end)
        return end

    def _check_max_bytes(self, delimiter: Union[bytes, Pattern], size: int) -> None:
        limit = self._read_max_bytes
        if limit is None or size <= limit:
            return
        raise UnsatisfiableReadError(
            "delimiter %r not found within %d bytes" % (delimiter, limit)
        )

    def _handle_write(self) -> None:
        queue = self._write_buffer
        while queue:
            span = _WINDOWS_SEND_LIMIT if _WINDOWS else len(queue)
            try:
                sent = self.write_to_fd(queue.peek(span))
            except BlockingIOError:
                break
            except OSError as e:
                self._write_failed(e)
                return
            if not sent:
                break
            queue.advance(sent)
            self._total_write_done_index += sent
        self._release_write_futures()

    def _write_failed(self, e: OSError) -> None:
        # Resets are routine; other failures deserve a log line.
        routine = self._is_connreset(e)
        if not routine:
            gen_log.warning("Write error on %s: %s", self.fileno(), e)
        self.close(exc_info=e)

    def _release_write_futures(self) -> None:
        # Resolve every write whose data has now been sent in full.
        sent_total = self._total_write_done_index
        waiting = self._write_futures
        while waiting and waiting[0][0] <= sent_total:
            future_set_result_unless_cancelled(waiting.popleft()[1], None)

    def _consume(self, loc: int) -> bytes:
        # Take the first ``loc`` bytes off the read buffer.
        if not loc:
            return b""
        assert loc <= self._read_buffer_size
        taken = memoryview(self._read_buffer)[:loc].tobytes()
        del self._read_buffer[:loc]
        self._read_buffer_size -= loc
        return taken

    def _check_closed(self) -> None:
        if not self.closed():
            return
        raise StreamClosedError(real_error=self.error)

    def _maybe_add_error_listener(self) -> None:
        # An idle stream is normally not registered with the loop at all.
        # Register it for reads when someone (a close callback) wants to
        # hear about the peer closing, unless unread data is buffered: a
        # later read should see that data before the close.
        if self._state not in (None, _ERROR):
            return
        if self._close_callback is None or self._read_buffer_size:
            return
        if not self.closed():
            self._add_io_state(_READ)

    def _add_io_state(self, state: int) -> None:
        """Make sure the loop watches for ``state`` (READ and/or WRITE).

        Registration is lazy: operations that complete synchronously never
        touch the loop, and the stream is registered (always including
        ERROR) only when it first has to wait.  An idle stream that should
        still notice a peer close gets a read registration from
        `_maybe_add_error_listener`.
        """
        if self.closed():
            # Nothing more will happen on a closed stream.
            return
        current = self._state
        if current is None:
            self._state = state | _ERROR
            self.io_loop.add_handler(self.fileno(), self._handle_events, self._state)
            return
        if current & state:
            # Already watching (some of) these events.
            return
        self._state = current | state
        self.io_loop.update_handler(self.fileno(), self._state)

    def _is_connreset(self, exc: BaseException) -> bool:
        """Whether ``exc`` means the peer reset or dropped the connection.

        Subclasses may widen this.
        """
        if not isinstance(exc, OSError):
            return False
        return errno_from_exception(exc) in _ERRNO_CONNRESET


def _retrieve_exception(future: "Future[Any]") -> None:
    # Used as a done callback (and called directly) so that a failed
    # future nobody awaited is not reported as "never retrieved".
    if future.cancelled():
        return
    future.exception()


_NATIVE_ELIGIBLE: Dict[type, bool] = {}

# The native engine's kinds by address family.  A socket's family and type
# are read as plain ints from the C socket type (socket.socket's properties
# convert them to enums, which costs more than the rest of the check).
_NATIVE_KINDS = {int(socket.AF_UNIX): 1, int(socket.AF_INET): 0, int(socket.AF_INET6): 0}
_raw_family = _socket_base.family.__get__
_raw_type = _socket_base.type.__get__
_SOCKET_CONNECT = socket.socket.connect
_GETPEERNAME = socket.socket.getpeername


def _native_eligible(cls: type) -> bool:
    """Whether instances of cls may run on the native engine: IOStream and
    subclasses that keep its socket I/O (not SSL, not a subclass that
    overrides the fd primitives or the event handlers)."""
    try:
        return _NATIVE_ELIGIBLE[cls]
    except KeyError:
        pass
    ok = _core is not None and not issubclass(cls, SSLIOStream)
    if ok:
        for name in ("read_from_fd", "write_to_fd", "fileno", "close_fd",
                     "_handle_events", "_handle_read", "_handle_write",
                     "_read_to_buffer"):
            if getattr(cls, name) is not getattr(IOStream, name):
                ok = False
                break
    _NATIVE_ELIGIBLE[cls] = ok
    return ok




class _Primitive:
    """`IOStream.read_from_fd` / `~IOStream.write_to_fd`: the method itself,
    except that assigning a replacement on a stream -- tests and
    instrumentation do -- moves that stream off the native engine at once,
    even with a read pending (the Python path carries the read on), so the
    replacement performs the I/O from then on."""

    def __init__(self, func: Callable[..., Any]) -> None:
        functools.update_wrapper(self, func)  # type: ignore[arg-type]
        self._func = func
        self._slot = "_replaced_" + func.__name__

    def __set_name__(self, owner: type, name: str) -> None:
        setattr(owner, self._slot, None)

    def __get__(self, stream: Any, owner: Optional[type] = None) -> Any:
        if stream is None:
            return self._func
        replaced = getattr(stream, self._slot)
        if replaced is not None:
            return replaced[0]
        return MethodType(self._func, stream)

    def __set__(self, stream: Any, value: Any) -> None:
        setattr(stream, self._slot, (value,))
        stream._primitive_replaced()

    def __delete__(self, stream: Any) -> None:
        if getattr(stream, self._slot) is None:
            raise AttributeError(self._func.__name__)
        setattr(stream, self._slot, None)


class IOStream(BaseIOStream):
    r"""A stream over a non-blocking socket.

    Adds `connect` and `start_tls` to the `BaseIOStream` interface.  The
    socket may come from `socket.accept <socket.socket.accept>` on the
    server side, or be a fresh `socket.socket` on the client side, either
    connected already or to be connected through `IOStream.connect`.

    Fetching a page by hand (real code would use an HTTP client)::

        import socket
        from tornado_c.iostream import IOStream

        async def fetch_head(host):
            stream = IOStream(socket.socket())
            await stream.connect((host, 80))
            request = b"HEAD / HTTP/1.0\r\nHost: " + host.encode() + b"\r\n\r\n"
            await stream.write(request)
            head = await stream.read_until(b"\r\n\r\n")
            stream.close()
            return head
    """

    def __init__(self, socket: socket.socket, *args: Any, **kwargs: Any) -> None:
        self.socket = socket
        self.socket.setblocking(False)
        super().__init__(*args, **kwargs)
        self._maybe_go_native()

    def _native_kind(self, connected: bool = False) -> Optional[int]:
        """The native engine's kind for this stream (0 TCP, 1 Unix socket) if
        it can run on it: a connected stream socket (``connected`` when the
        caller knows it is), an eligible class, and an IOLoop on tornado_c's
        native loop.  None otherwise."""
        if _core is None or not _native_eligible(type(self)):
            return None
        loop = self.io_loop.asyncio_loop
        if not isinstance(loop, _core.LoopBase) or loop.is_closed():
            return None
        sock = self.socket
        if not isinstance(sock, _socket_base) or _raw_type(sock) != socket.SOCK_STREAM:
            return None
        kind = _NATIVE_KINDS.get(_raw_family(sock))
        if kind is None or connected:
            return kind
        # Whether sock.getpeername() succeeds (asked in C unless the socket
        # class has its own): not connected (yet) means connect() moves it
        # later.
        if type(sock).getpeername is _GETPEERNAME:
            return kind if _core._peer_connected(sock.fileno()) else None
        try:
            sock.getpeername()
        except OSError:
            return None
        return kind

    def _maybe_go_native(self, kind: Optional[int] = -1) -> None:
        if kind == -1:
            kind = self._native_kind()
        if kind is not None:
            loop: Any = self.io_loop.asyncio_loop  # (a LoopBase: _native_kind checked)
            try:
                native = _core.Stream(
                    loop, self.socket, kind, self._native_event,
                    self._max_buffer_size, self._read_chunk_size,
                )
            except OSError as e:
                if e.errno not in (errno.EMFILE, errno.ENFILE):
                    raise
                # No fd left for the engine's duplicate of the socket's:
                # this stream stays on the Python path, on the one fd, as
                # Tornado's would.
                return
            self._native_loop = loop
            self._native = native
            if self._close_callback is not None:
                native.watch_close = True

    def fileno(self) -> Union[int, ioloop._Selectable]:
        return self.socket

    def close_fd(self) -> None:
        self.socket.close()
        self.socket = None  # type: ignore[assignment]

    def get_fd_error(self) -> Optional[Exception]:
        code = self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        return socket.error(code, os.strerror(code))

    @_Primitive
    def read_from_fd(self, buf: Union[bytearray, memoryview]) -> Optional[int]:
        try:
            received: Optional[int] = self.socket.recv_into(buf, len(buf))
        except BlockingIOError:
            received = None
        finally:
            # Release the caller's buffer promptly (it may get resized).
            del buf
        return received

    @_Primitive
    def write_to_fd(self, data: memoryview) -> int:
        try:
            sent = self.socket.send(data)  # type: ignore[arg-type]
        finally:
            del data
        return sent

    def _primitive_replaced(self) -> None:
        # read_from_fd or write_to_fd was assigned on this stream: leave the
        # native engine now, so the replacement does the I/O from here on.
        if self._native is None or self._native_intact():
            return
        if not self._demote_native():
            self._demote_reading()

    def _demote_reading(self) -> None:
        """`_demote_native` for a stream with a read pending: the Python
        path takes the read over, with the same future, as a read waiting
        for the fd.  A ``read_into`` (whose buffer the engine is filling) or
        a write in flight stays native until it completes; the next
        operation then moves the stream."""
        native = self._native
        pending = native.pending_read
        if (
            pending is None
            or pending[0] == "into"
            or native.write_buffer_size
            or self._closed
        ):
            return
        kind, argument, count, partial = pending
        future = self._read_future
        native.cancel_read()
        if not self._demote_native():
            return
        if kind == "until":
            self._read_delimiter, self._read_max_bytes = argument, count
        elif kind == "regex":
            self._read_regex, self._read_max_bytes = argument, count
        elif kind == "bytes":
            self._read_bytes, self._read_partial = count, partial
        else:
            self._read_until_close = True
        self._read_future = future
        # The engine would already have finished a read the buffer satisfies
        # (or found it unsatisfiable); this one waits for the fd.
        self._add_io_state(_READ)

    def connect(
        self: _IOStreamType, address: Any, server_hostname: Optional[str] = None
    ) -> "Future[_IOStreamType]":
        """Start connecting the (so far unconnected) socket to ``address``.

        ``address`` is whatever `socket.connect <socket.socket.connect>`
        takes for this socket's family, e.g. ``(host, port)``.  A host
        name there is resolved synchronously, blocking the loop; prefer
        `.TCPClient`, which resolves asynchronously and tries IPv4 and
        IPv6.

        Returns a `.Future` that resolves to this stream once connected.
        `write <BaseIOStream.write>` may be called before that; the data
        goes out after the connection is made.

        ``server_hostname`` only matters for `SSLIOStream`, which uses it
        for SNI and certificate verification.
        """
        future: Future[_IOStreamType] = Future()
        self._connect_future = future  # type: ignore[assignment]
        self._connecting = True
        try:
            if self._connect_natively(address):
                return future
        except OSError as e:
            self.close(exc_info=e)
            return future
        try:
            self.socket.connect(address)
        except BlockingIOError:
            # In progress: completion is reported as writability.
            pass
        except OSError as e:
            # An immediate failure (e.g. ECONNREFUSED on some systems) is
            # reported just like one found later.
            self.close(exc_info=e)
            return future
        self._add_io_state(_WRITE)
        return future

    def start_tls(
        self,
        server_side: bool,
        ssl_options: Optional[Union[Dict[str, Any], ssl.SSLContext]] = None,
        server_hostname: Optional[str] = None,
    ) -> Awaitable["SSLIOStream"]:
        """Upgrade this connection to TLS, as STARTTLS-style protocols do.

        Resolves to a new `SSLIOStream` on the same socket once the
        handshake is done; this stream must not be used afterwards.  Its
        close callback, if any, moves to the new stream.

        The stream has to be idle: no pending reads or writes and nothing
        in its buffers (data still in the kernel's socket buffer is fine).
        Call it right after connecting or right after the last plaintext
        exchange.

        ``ssl_options`` is an `ssl.SSLContext` or a dict of
        `ssl.SSLContext.wrap_socket` arguments; ``server_hostname`` is
        used for SNI and, unless disabled, certificate verification.
        """
        if not self._idle_for_tls():
            raise ValueError("IOStream is not idle; cannot convert to SSL")
        native = self._native
        if native is not None:
            # The TLS stream reads the socket itself from here on.
            native.close()
            native.on_event = None
            self._native = None
            self._write_buffer = _StreamBuffer()
        if ssl_options is None:
            ssl_options = _server_ssl_defaults if server_side else _client_ssl_defaults

        raw, self.socket = self.socket, None  # type: ignore[assignment]
        self.io_loop.remove_handler(raw)
        wrapped = ssl_wrap_socket(
            raw, ssl_options, server_side=server_side,
            server_hostname=server_hostname, do_handshake_on_connect=False,
        )
        close_callback, self._close_callback = self._close_callback, None

        handshake: Future[SSLIOStream] = Future()
        upgraded = SSLIOStream(wrapped, ssl_options=ssl_options)
        upgraded.set_close_callback(close_callback)
        upgraded._ssl_connect_future = handshake
        upgraded.max_buffer_size = self.max_buffer_size
        upgraded.read_chunk_size = self.read_chunk_size
        return handshake

    def _idle_for_tls(self) -> bool:
        busy = (
            self._closed
            or self._read_future is not None
            or bool(self._write_futures)
            or self._connect_future is not None
            or bool(self._read_buffer)
            or bool(self._write_buffer)
        )
        native = self._native
        if native is not None and (native.reading or native.read_buffer_size):
            busy = True
        return not busy

    def _connect_natively(self, address: Any) -> bool:
        # On the native loop, a plain IOStream connecting a TCP socket to a
        # numeric address lets the native engine connect it (libuv): the
        # stream is native from the start, with no fd watcher to add and
        # remove.  False means "connect the usual way"; an immediate
        # failure raises OSError, as socket.connect does.
        if (
            self._native is not None
            or self._closed
            or type(self)._handle_connect is not IOStream._handle_connect
            or type(self).get_fd_error is not IOStream.get_fd_error
            or not isinstance(address, tuple)
            or not 2 <= len(address) <= 4
            or type(address[0]) is not str
            or type(address[1]) is not int
            or not all(type(part) is int for part in address[2:])
            # The engine's own conditions (class, loop, a TCP stream socket;
            # connected=True: it is about to be connected, by the engine).
            or self._native_kind(connected=True) != 0
            or not self._native_intact()
        ):
            return False
        sock = self.socket
        # (A socket class with a connect() of its own has it called.)
        if type(sock).connect is not _SOCKET_CONNECT:
            return False
        family = _raw_family(sock)
        if len(address) > 2 and family != socket.AF_INET6:
            return False
        self._maybe_go_native(0)
        native = self._native
        if native is None:
            return False
        started = native.connect(family, *address)
        if started is NotImplemented:
            # Not a numeric address: the Python path connects, and the
            # stream moves to the engine once connected, as usual.
            native.close()
            native.on_event = None
            self._native = None
            return False
        return True

    def _native_connected(self, status: int) -> None:
        # The outcome of a connect made by _connect_natively (libuv
        # reports -errno).
        self._connect_outcome(-status)

    def _connect_outcome(self, code: int) -> bool:
        # Settles a connect from its errno (0: connected); a failed one
        # closes the stream.  Returns whether it connected.
        if code:
            self.error = socket.error(code, os.strerror(code))
            # Without a connect future nobody would hear about it (a loop
            # may also deliver this as an error event, which closes us).
            if self._connect_future is None:
                fd = self.socket.fileno()
                gen_log.warning("Connect error on fd %s: %s", fd, errno.errorcode[code])
            self.close()
            return False
        waiter, self._connect_future = self._connect_future, None
        if waiter is not None:
            future_set_result_unless_cancelled(waiter, self)
        self._connecting = False
        return True

    def _socket_error_code(self) -> int:
        # The connect outcome from SO_ERROR.  (GNU/Hurd cannot report it
        # for loopback, where failures are synchronous anyway.)
        try:
            return self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        except OSError as e:
            if errno_from_exception(e) != errno.ENOPROTOOPT:
                raise
            return 0

    def _handle_connect(self) -> None:
        if not self._connect_outcome(self._socket_error_code()):
            return
        idle = (
            self._read_future is None
            and not self._write_buffer
            and self._read_buffer_size == 0
        )
        kind = self._native_kind(connected=True) if idle else None
        if kind is not None:
            # Idle right after connecting: hand the socket to the native
            # engine (its callbacks run before anything else touches it).
            if self._state is not None:
                self.io_loop.remove_handler(self.fileno())
                self._state = None
            self._maybe_go_native(kind)
            if self._native is not None:
                # Its own (empty) write buffer is of no further use.
                self._write_buffer = _NATIVE_EMPTY_WRITE_BUFFER

    def set_nodelay(self, value: bool) -> None:
        if self._native is not None:
            self._native.set_nodelay(value)
            return
        sock = self.socket
        if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
            return
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(bool(value)))
        except OSError as e:
            # The socket may be closing underneath us (HTTPServer toggles
            # the flag between requests): ignore EINVAL and resets.
            if e.errno == errno.EINVAL or self._is_connreset(e):
                return
            raise


# The primitives the native engine stands in for (see _native_intact).
# What _native_intact compares, as the classes' own dicts hold them.
_NATIVE_NAMES = ("read_from_fd", "write_to_fd", "_try_inline_read")
_NATIVE_ORIGINALS = (
    IOStream.__dict__["read_from_fd"],
    IOStream.__dict__["write_to_fd"],
    BaseIOStream.__dict__["_try_inline_read"],
)


class SSLIOStream(IOStream):
    """An `IOStream` that speaks TLS.

    A socket that is already connected must be wrapped beforehand, with
    ``do_handshake_on_connect=False``, e.g.
    ``ssl.SSLContext(...).wrap_socket(sock, do_handshake_on_connect=False)``.
    An unconnected socket is wrapped by the stream itself once
    `IOStream.connect` succeeds.
    """

    socket: ssl.SSLSocket = None  # type: ignore[assignment]  # (a class attribute, as in Tornado)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Accepts the `IOStream` arguments plus ``ssl_options``: an
        `ssl.SSLContext` or a dict of `ssl.SSLContext.wrap_socket`
        arguments (used when this stream wraps the socket itself).
        """
        self._ssl_options = kwargs.pop("ssl_options", _client_ssl_defaults)
        super().__init__(*args, **kwargs)
        self._server_hostname: Optional[str] = None
        # True until the handshake completes; the other two say which
        # direction the handshake is currently blocked on.
        self._ssl_accepting = True
        self._handshake_reading = False
        self._handshake_writing = False
        if self._socket_connected():
            # Start the handshake as soon as the socket is writable.
            self._add_io_state(_WRITE)

    def _socket_connected(self) -> bool:
        try:
            self.socket.getpeername()
        except OSError:
            return False
        return True

    def reading(self) -> bool:
        return self._handshake_reading or super().reading()

    def writing(self) -> bool:
        return self._handshake_writing or super().writing()

    def _do_ssl_handshake(self) -> None:
        self._handshake_reading = self._handshake_writing = False
        try:
            self.socket.do_handshake()
        except ssl.SSLError as err:
            if not self._handshake_ssl_error(err):
                raise
        except OSError as err:
            # The peer vanished mid-handshake (resets, port scanners).
            gone = self._is_connreset(err) or err.args[0] in (
                0,
                errno.EBADF,
                errno.ENOTCONN,
            )
            if not gone:
                raise
            self.close(exc_info=err)
        except AttributeError as err:
            # On Linux a connection reset before wrap_socket surfaces here.
            self.close(exc_info=err)
        else:
            # Host name verification already ran inside the handshake
            # (SSLContext.check_hostname).
            self._ssl_accepting = False
            self._finish_ssl_connect()

    def _handshake_ssl_error(self, err: ssl.SSLError) -> bool:
        # React to a handshake SSLError; False means "not ours: re-raise".
        reason = err.args[0]
        if reason == ssl.SSL_ERROR_WANT_READ:
            self._handshake_reading = True
        elif reason == ssl.SSL_ERROR_WANT_WRITE:
            self._handshake_writing = True
        elif reason in (ssl.SSL_ERROR_EOF, ssl.SSL_ERROR_ZERO_RETURN):
            self.close(exc_info=err)
        elif reason in (ssl.SSL_ERROR_SSL, ssl.SSL_ERROR_SYSCALL):
            try:
                peer = self.socket.getpeername()
            except Exception:
                peer = "(not connected)"
            gen_log.warning("SSL Error on %s %s: %s", self.socket.fileno(), peer, err)
            self.close(exc_info=err)
        else:
            return False
        return True

    def _finish_ssl_connect(self) -> None:
        waiter, self._ssl_connect_future = self._ssl_connect_future, None
        if waiter is not None:
            future_set_result_unless_cancelled(waiter, self)

    def _handle_read(self) -> None:
        if not self._ssl_accepting:
            super()._handle_read()
        else:
            self._do_ssl_handshake()

    def _handle_write(self) -> None:
        if not self._ssl_accepting:
            super()._handle_write()
        else:
            self._do_ssl_handshake()

    def connect(
        self, address: Tuple, server_hostname: Optional[str] = None
    ) -> "Future[SSLIOStream]":
        self._server_hostname = server_hostname
        # What the caller waits for is the handshake; a failed TCP connect
        # reaches it too, so the plain connect future's error is not
        # reported on its own.
        super().connect(address).add_done_callback(_retrieve_exception)
        return self.wait_for_handshake()  # type: ignore[return-value]

    def _handle_connect(self) -> None:
        # IOStream's version checks for a failed connect.
        super()._handle_connect()
        if self.closed():
            return
        # Swap the plain socket for a TLS-wrapped one.  The loop knows the
        # fd, which the wrapper shares, so unregister first and register
        # the wrapper with the same events.
        events = self._state
        assert events is not None
        self.io_loop.remove_handler(self.socket)
        self._state = None
        self.socket = ssl_wrap_socket(
            self.socket, self._ssl_options, server_side=False,
            server_hostname=self._server_hostname, do_handshake_on_connect=False,
        )
        self._add_io_state(events)

    def wait_for_handshake(self) -> "Future[SSLIOStream]":
        """Return a `.Future` resolving to this stream once the TLS
        handshake has completed.

        Meant for server-side streams and for streams made by
        `IOStream.start_tls`; `connect` already waits for the handshake.
        Afterwards ``self.socket`` exposes the peer certificate and the
        negotiated ALPN protocol.  Only one call per stream is allowed.
        """
        if self._ssl_connect_future is not None:
            raise RuntimeError("Already waiting")
        waiter: Future[SSLIOStream] = Future()
        self._ssl_connect_future = waiter
        if not self._ssl_accepting:
            self._finish_ssl_connect()
        return waiter

    def write_to_fd(self, data: memoryview) -> int:
        if len(data) > _SSL_IO_LIMIT:
            data = memoryview(data)[:_SSL_IO_LIMIT]
        try:
            sent = self.socket.send(data)  # type: ignore[arg-type]
        except ssl.SSLError as e:
            if e.args[0] != ssl.SSL_ERROR_WANT_WRITE:
                raise
            # The TLS layer cannot take data now: nothing was written.
            sent = 0
        finally:
            del data
        return sent

    def read_from_fd(self, buf: Union[bytearray, memoryview]) -> Optional[int]:
        received: Optional[int] = None
        try:
            # Application data only flows after the handshake.
            if not self._ssl_accepting:
                if len(buf) > _SSL_IO_LIMIT:
                    buf = memoryview(buf)[:_SSL_IO_LIMIT]
                try:
                    received = self.socket.recv_into(buf, len(buf))
                except ssl.SSLError as e:
                    if e.args[0] != ssl.SSL_ERROR_WANT_READ:
                        raise
                except BlockingIOError:
                    pass
        finally:
            del buf
        return received

    def _is_connreset(self, e: BaseException) -> bool:
        # An unexpected EOF at the TLS layer is a reset too.
        eof = isinstance(e, ssl.SSLError) and e.args[0] == ssl.SSL_ERROR_EOF
        return eof or super()._is_connreset(e)


class PipeIOStream(BaseIOStream):
    """A stream over a pipe, given as an integer file descriptor (for
    instance one end of `os.pipe`), not a file object.

    Pipes usually carry data one way, so use an instance either for
    reading or for writing.  Unix only.
    """

    def __init__(self, fd: int, *args: Any, **kwargs: Any) -> None:
        self.fd = fd
        self._fio = io.FileIO(fd, "r+")
        if _WINDOWS:
            # Pipes would need overlapped I/O, which the loop cannot watch.
            raise AssertionError("PipeIOStream is not supported on Windows")
        os.set_blocking(self.fd, False)
        super().__init__(*args, **kwargs)

    def fileno(self) -> int:
        return self.fd

    def close_fd(self) -> None:
        self._fio.close()

    def write_to_fd(self, data: memoryview) -> int:
        try:
            written = os.write(self.fd, data)  # type: ignore[arg-type]
        finally:
            del data
        return written

    def read_from_fd(self, buf: Union[bytearray, memoryview]) -> Optional[int]:
        try:
            got: Optional[int] = self._fio.readinto(buf)  # type: ignore[arg-type]
        except OSError as e:
            if errno_from_exception(e) != errno.EBADF:
                raise
            # Once the writer is gone the fd can poll readable while reads
            # fail with EBADF: treat that as the end of the stream.
            self.close(exc_info=e)
            got = None
        finally:
            del buf
        return got


def doctests() -> Any:
    from doctest import DocTestSuite

    return DocTestSuite()
