"""HTTP/1.x framing over an `.IOStream` (the ``tornado.http1connection`` API).

Two classes do the work here.  `HTTP1Connection` handles a single message
exchange: it parses the incoming start line, headers and body (fixed length,
chunked, or delimited by connection close) and passes the pieces to an
`.HTTPMessageDelegate`; in the other direction it serializes headers and
body for the `.HTTPConnection` interface, including chunked output and
``Content-Length`` bookkeeping.  `HTTP1ServerConnection` drives a server
connection, creating one `HTTP1Connection` per request it reads.

.. versionadded:: 4.0
"""

from __future__ import annotations

import asyncio
import re
import logging
import types
from typing import Any, Awaitable, Callable, Optional, Tuple, Type, Union, cast

from tornado_c import gen, httputil, iostream
from tornado_c.log import app_log, gen_log
from tornado_c.escape import native_str, utf8
from tornado_c.concurrent import Future
from tornado_c.concurrent import chain_future, future_add_done_callback
from tornado_c.concurrent import future_set_result_unless_cancelled
from tornado_c.concurrent import future_set_exception_unless_cancelled
from tornado_c.util import GzipDecompressor

try:
    from tornado_c import _core
except ImportError:  # pragma: no cover - the extension is always built
    _core = None  # type: ignore[assignment]

CR_OR_LF_RE = re.compile(b"\r|\n")
# Strict integer syntax for lengths and chunk sizes.
DIGITS = re.compile(r"[0-9]+")
HEXDIGITS = re.compile(r"[0-9a-fA-F]+")

# Canned wire data.
_INTERIM_CONTINUE = b"HTTP/1.1 100 (Continue)\r\n\r\n"
_REJECTION = b"HTTP/1.1 400 Bad Request\r\n\r\n"
_TERMINAL_CHUNK = b"0\r\n\r\n"

# End of the header block; a bare LF is tolerated as a line ending.
_HEADER_BLOCK_END = b"\r?\n\r?\n"

# Client methods whose body goes out chunked when no length is given.
_CHUNKABLE_METHODS = ("POST", "PUT", "PATCH")

_DEFAULT_BUFFER_LIMIT = 64 * 1024


class _QuietException(Exception):
    """Signals an error that was logged already and needs no more noise."""

    def __init__(self) -> None:
        pass


class _ExceptionLoggingContext:
    """Context manager for calls into application code.

    Anything escaping the block, except `.HTTPInputError` (which the caller
    answers with a 400), is written to the given logger and replaced by a
    `_QuietException`.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def __enter__(self) -> None:
        pass

    def __exit__(
        self,
        typ: "Optional[Type[BaseException]]",
        value: Optional[BaseException],
        tb: types.TracebackType,
    ) -> None:
        if value is not None and not isinstance(value, httputil.HTTPInputError):
            self.logger.error("Uncaught exception", exc_info=(type(value), value, tb))
            raise _QuietException
        return None


class HTTP1ConnectionParameters:
    """Settings shared by `.HTTP1Connection` and `.HTTP1ServerConnection`."""

    def __init__(
        self,
        no_keep_alive: bool = False,
        chunk_size: Optional[int] = None,
        max_header_size: Optional[int] = None,
        header_timeout: Optional[float] = None,
        max_body_size: Optional[int] = None,
        body_timeout: Optional[float] = None,
        decompress: bool = False,
    ) -> None:
        """
        :arg bool no_keep_alive: serve a single request per connection
        :arg int chunk_size: upper bound on each body piece handed to the
            delegate (64 KiB when unset)
        :arg int max_header_size: upper bound on start line plus headers
            (64 KiB when unset)
        :arg float header_timeout: time limit, in seconds, for the headers
        :arg int max_body_size: upper bound on a body; unset means the
            stream's ``max_buffer_size``
        :arg float body_timeout: time limit, in seconds, for the body
        :arg bool decompress: transparently inflate gzip-encoded bodies
        """
        self.decompress = decompress
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.chunk_size = chunk_size if chunk_size else _DEFAULT_BUFFER_LIMIT
        self.max_body_size = max_body_size
        self.no_keep_alive = no_keep_alive
        self.max_header_size = (
            max_header_size if max_header_size else _DEFAULT_BUFFER_LIMIT
        )


class HTTP1Connection(httputil.HTTPConnection):
    """Reads and writes one HTTP/1.x message pair over a stream.

    Clients create one directly; on servers `HTTP1ServerConnection` makes a
    fresh one for every request on the connection.
    """

    def __init__(
        self,
        stream: iostream.IOStream,
        is_client: bool,
        params: Optional[HTTP1ConnectionParameters] = None,
        context: Optional[object] = None,
    ) -> None:
        """
        :arg stream: the `.IOStream` to talk over
        :arg bool is_client: true for the requesting side
        :arg params: a `.HTTP1ConnectionParameters`, or ``None`` for defaults
        :arg context: opaque value, exposed as ``connection.context``
        """
        settings = params if params is not None else HTTP1ConnectionParameters()
        self.params = settings
        self.stream = stream
        self.context = context
        self.is_client = is_client
        self.no_keep_alive = settings.no_keep_alive
        self._body_timeout = settings.body_timeout
        self._max_body_size = (
            stream.max_buffer_size
            if settings.max_body_size is None
            else settings.max_body_size
        )
        # Direction bookkeeping.
        self._read_finished = False
        self._write_finished = False
        self._disconnect_on_finish = False
        # Completed when the exchange is over in both directions, or when
        # the connection goes away first.
        self._finish_future: "Future[None]" = Future()
        # Message state, filled in as lines are read or written.
        self._request_start_line: Optional[httputil.RequestStartLine] = None
        self._request_headers: Optional[httputil.HTTPHeaders] = None
        self._response_start_line: Optional[httputil.ResponseStartLine] = None
        self._expected_content_remaining: Optional[int] = None
        self._chunking_output = False
        self._pending_write: "Optional[Future[None]]" = None
        self._clear_callbacks()

    # -- reading ---------------------------------------------------------

    def read_response(self, delegate: httputil.HTTPMessageDelegate) -> Awaitable[bool]:
        """Receive one message and pass it to ``delegate``.

        On the client side this is the response (call it once the request
        has been sent); on the server side it is a request.  The result is
        ``True`` when the stream can still be used afterwards.
        """
        target = delegate
        if self.params.decompress:
            target = _GzipMessageDelegate(delegate, self.params.chunk_size)
        return self._read_message(target)

    async def _bounded(self, work: Awaitable[Any], limit: Optional[float]) -> Any:
        # Await ``work``, giving up with gen.TimeoutError after ``limit``
        # seconds when a limit is set.  For a plain read future, giving up
        # closes the stream (the callers close it on a timeout anyway),
        # which ends the wait: a timer does that without wrapping every
        # request's header read in a timeout future (HTTPServer bounds the
        # headers of each request).
        if limit is None or (isinstance(work, Future) and work.done()):
            return await work
        if not isinstance(work, Future):
            # A coroutine (the body reader) may be inside a delegate call at
            # the deadline: gen.with_timeout gives up on it right there.
            return await gen.with_timeout(
                self.stream.io_loop.time() + limit,
                work,
                quiet_exceptions=iostream.StreamClosedError,
            )
        stream = self.stream
        expired = []

        def expire() -> None:
            expired.append(True)
            stream.close()

        timer = stream.io_loop.call_later(limit, expire)
        try:
            return await work
        except iostream.StreamClosedError:
            if expired:
                raise gen.TimeoutError()
            raise
        finally:
            stream.io_loop.remove_timeout(timer)

    async def _notify(self, method: Callable[..., Any], *args: Any) -> None:
        # Call a delegate method, awaiting what it returns, under the
        # logging guard.
        with _ExceptionLoggingContext(app_log):
            outcome = method(*args)
            if outcome is not None:
                await outcome

    async def _pass_body(
        self, delegate: httputil.HTTPMessageDelegate, data: bytes
    ) -> None:
        # Once a server has written its whole response, any remaining
        # request body is read and dropped.
        if self.is_client or not self._write_finished:
            await self._notify(delegate.data_received, data)

    def _take_start_line(
        self, text: str, headers: httputil.HTTPHeaders
    ) -> Union[httputil.RequestStartLine, httputil.ResponseStartLine]:
        if not self.is_client:
            request_line = httputil.parse_request_start_line(text)
            self._request_start_line = request_line
            self._request_headers = headers
            self._disconnect_on_finish = not self._can_keep_alive(
                request_line, headers
            )
            return request_line
        status_line = httputil.parse_response_start_line(text)
        self._response_start_line = status_line
        self._disconnect_on_finish = False
        return status_line

    async def _read_message(self, delegate: httputil.HTTPMessageDelegate) -> bool:
        # True while the delegate has seen headers but not finish(); it is
        # then owed an on_connection_close() if we bail out.
        delegate_open = False
        try:
            try:
                raw_head = await self._bounded(
                    self.stream.read_until_regex(
                        _HEADER_BLOCK_END, max_bytes=self.params.max_header_size
                    ),
                    self.params.header_timeout,
                )
            except gen.TimeoutError:
                self.close()
                return False
            first_line, headers = self._parse_headers(raw_head)
            start_line = self._take_start_line(first_line, headers)
            delegate_open = True
            await self._notify(delegate.headers_received, start_line, headers)
            if self.stream is None:
                # Detached during headers_received (e.g. websocket upgrade).
                delegate_open = False
                return False

            status = 0
            has_body = True
            if self.is_client:
                status = cast(httputil.ResponseStartLine, start_line).code
                sent = self._request_start_line
                has_body = status != 304 and not (
                    sent is not None and sent.method == "HEAD"
                )
                if status >= 100 and status < 200:
                    # An informational reply: it may not carry a body and
                    # the final response comes after it.
                    for framing in ("Content-Length", "Transfer-Encoding"):
                        if framing in headers:
                            raise httputil.HTTPInputError(
                                "Response code %d cannot have body" % status
                            )
                    await self._read_message(delegate)
            elif not self._write_finished and headers.get("Expect") == "100-continue":
                self.stream.write(_INTERIM_CONTINUE)

            if has_body and not await self._consume_body(status, headers, delegate):
                return False
            self._read_finished = True
            if self.is_client or not self._write_finished:
                delegate_open = False
                with _ExceptionLoggingContext(app_log):
                    delegate.finish()
            # Servers hold off the next request until this response is out
            # (or the peer has gone).
            current = self.stream
            if not (
                self._finish_future.done() or current is None or current.closed()
            ):
                current.set_close_callback(self._on_connection_close)
                await self._finish_future
            if self._disconnect_on_finish and self.is_client:
                self.close()
            return self.stream is not None
        except httputil.HTTPInputError as exc:
            gen_log.info("Malformed HTTP message from %s: %s", self.context, exc)
            if not self.is_client:
                await self.stream.write(_REJECTION)
            self.close()
            return False
        finally:
            if delegate_open:
                with _ExceptionLoggingContext(app_log):
                    delegate.on_connection_close()
            self._clear_callbacks()

    async def _consume_body(
        self,
        code: int,
        headers: httputil.HTTPHeaders,
        delegate: httputil.HTTPMessageDelegate,
    ) -> bool:
        # Read the body under the body timeout; False when that ran out
        # (the stream is closed by then).
        reader = self._read_body(code, headers, delegate)
        if reader is None:
            return True
        try:
            await self._bounded(reader, self._body_timeout)
        except gen.TimeoutError:
            gen_log.info("Timeout reading body from %s", self.context)
            self.stream.close()
            return False
        return True

    def _parse_headers(self, data: bytes) -> Tuple[str, httputil.HTTPHeaders]:
        # Stray blank lines ahead of the start line are skipped (RFC 9112 2.2).
        text = data.decode("latin1").lstrip("\r\n")
        cut = text.find("\n")
        return text[:cut].rstrip("\r"), httputil.HTTPHeaders.parse(text[cut:])

    def _declared_length(self, headers: httputil.HTTPHeaders) -> Optional[int]:
        # Validated Content-Length of an incoming message, or None.
        raw = headers.get("Content-Length")
        if raw is None:
            return None
        if "," in raw:
            # A list of one repeated value (as some proxies produce) is
            # collapsed; differing values are an error.
            candidates = re.split(r",\s*", raw)
            if len(set(candidates)) != 1:
                raise httputil.HTTPInputError(
                    "Multiple unequal Content-Lengths: %r" % raw
                )
            raw = candidates[0]
            headers["Content-Length"] = raw
        try:
            length = parse_int(raw)
        except ValueError:
            raise httputil.HTTPInputError(
                "Only integer Content-Length is allowed: %s" % raw
            )
        if length > self._max_body_size:
            raise httputil.HTTPInputError("Content-Length too long")
        return length

    def _read_body(
        self,
        code: int,
        headers: httputil.HTTPHeaders,
        delegate: httputil.HTTPMessageDelegate,
    ) -> Optional[Awaitable[None]]:
        length = self._declared_length(headers)
        chunked = is_transfer_encoding_chunked(headers)
        if code == 204:
            # No Content means exactly that (RFC 9110 15.3.5).
            if chunked or (length is not None and length != 0):
                raise httputil.HTTPInputError(
                    "Response with code %d should not have body" % code
                )
            length = 0
        if chunked:
            return self._read_chunked_body(delegate)
        if length is None:
            # Without framing a response runs to the end of the connection;
            # a request simply has no body.
            return self._read_body_until_close(delegate) if self.is_client else None
        return self._read_fixed_body(length, delegate)

    async def _relay(
        self,
        stream: iostream.IOStream,
        count: int,
        delegate: httputil.HTTPMessageDelegate,
    ) -> None:
        # Move ``count`` body bytes from the stream to the delegate, in
        # pieces no larger than chunk_size.
        limit = self.params.chunk_size
        while count > 0:
            piece = await stream.read_bytes(min(count, limit), partial=True)
            count -= len(piece)
            await self._pass_body(delegate, piece)

    async def _read_fixed_body(
        self, content_length: int, delegate: httputil.HTTPMessageDelegate
    ) -> None:
        await self._relay(self.stream, content_length, delegate)

    async def _read_chunked_body(self, delegate: httputil.HTTPMessageDelegate) -> None:
        stream = self.stream
        received = 0
        while True:
            size_line = await stream.read_until(b"\r\n", max_bytes=64)
            try:
                size = parse_hex_int(native_str(size_line[:-2]))
            except ValueError:
                raise httputil.HTTPInputError("invalid chunk size")
            if not size:
                break
            received += size
            if received > self._max_body_size:
                raise httputil.HTTPInputError("chunked body too large")
            await self._relay(stream, size, delegate)
            if await stream.read_bytes(2) != b"\r\n":
                # Matches Tornado 6.5, where this is an assertion: logged as
                # an uncaught exception, connection dropped without a 400.
                raise AssertionError("chunk data not followed by CRLF")
        # Trailer fields are not accepted: the zero-size chunk must be
        # followed by the closing CRLF.
        if await stream.read_bytes(2) != b"\r\n":
            raise httputil.HTTPInputError("improperly terminated chunked request")

    async def _read_body_until_close(
        self, delegate: httputil.HTTPMessageDelegate
    ) -> None:
        everything = await self.stream.read_until_close()
        await self._pass_body(delegate, everything)

    def _can_keep_alive(
        self, start_line: httputil.RequestStartLine, headers: httputil.HTTPHeaders
    ) -> bool:
        if self.params.no_keep_alive:
            return False
        token = (headers.get("Connection") or "").lower()
        if start_line.version == "HTTP/1.1":
            return token != "close"
        # Older clients must ask for keep-alive, and the request must have
        # a knowable length.
        delimited = (
            "Content-Length" in headers
            or is_transfer_encoding_chunked(headers)
            or getattr(start_line, "method", None) in ("HEAD", "GET")
        )
        return bool(delimited) and token == "keep-alive"

    # -- connection state --------------------------------------------------

    def _mark_finished(self) -> None:
        if not self._finish_future.done():
            future_set_result_unless_cancelled(self._finish_future, None)

    def _clear_callbacks(self) -> None:
        """Forget stored callbacks, so that handler objects are not kept
        alive through reference cycles."""
        self._write_callback: Optional[Callable[[], None]] = None
        self._write_future: "Optional[Future[None]]" = None
        self._close_callback: Optional[Callable[[], None]] = None
        if self.stream is not None:
            self.stream.set_close_callback(None)

    def set_close_callback(self, callback: Optional[Callable[[], None]]) -> None:
        """Register ``callback`` to run if the connection closes.

        This complements `.HTTPMessageDelegate.on_connection_close`, which
        only covers the time a message is being read; a server uses this to
        notice a client that disconnects while its response is pending.
        """
        self._close_callback = callback

    def _on_connection_close(self) -> None:
        pending, self._close_callback = self._close_callback, None
        if pending is not None:
            pending()
        self._mark_finished()
        self._clear_callbacks()

    def close(self) -> None:
        stream = self.stream
        if stream is not None:
            stream.close()
        self._clear_callbacks()
        self._mark_finished()

    def detach(self) -> iostream.IOStream:
        """Hand the stream over to the caller and stop HTTP handling.

        Call this from `.HTTPMessageDelegate.headers_received` only; it is
        how protocols that start as HTTP (websockets, for one) take over
        the connection.
        """
        self._clear_callbacks()
        released, self.stream = self.stream, None  # type: ignore[assignment]
        self._mark_finished()
        return released

    def set_body_timeout(self, timeout: float) -> None:
        """Use ``timeout`` instead of the configured body timeout for the
        current message."""
        self._body_timeout = timeout

    def set_max_body_size(self, max_body_size: int) -> None:
        """Use ``max_body_size`` instead of the configured limit for the
        current message."""
        self._max_body_size = max_body_size

    # -- writing ---------------------------------------------------------

    def _client_start_line(
        self, start_line: httputil.RequestStartLine, headers: httputil.HTTPHeaders
    ) -> bytes:
        self._request_start_line = start_line
        # A request body of unknown size is sent chunked.
        self._chunking_output = (
            "Content-Length" not in headers and start_line.method in _CHUNKABLE_METHODS
        )
        return utf8(f"{start_line[0]} {start_line[1]} HTTP/1.1")

    def _server_start_line(
        self, start_line: httputil.ResponseStartLine, headers: httputil.HTTPHeaders
    ) -> bytes:
        request_line = self._request_start_line
        request_headers = self._request_headers
        assert request_line is not None
        assert request_headers is not None
        self._response_start_line = start_line
        status = start_line.code
        is_http11 = request_line.version == "HTTP/1.1"
        bodyless = (
            request_line.method == "HEAD"
            or status in (204, 304)
            or 100 <= status < 200
        )
        self._chunking_output = (
            is_http11 and not bodyless and "Content-Length" not in headers
        )
        if is_http11 and self._disconnect_on_finish:
            headers["Connection"] = "close"
        if request_line.version == "HTTP/1.0":
            if request_headers.get("Connection", "").lower() == "keep-alive":
                headers["Connection"] = "Keep-Alive"
        return utf8("HTTP/1.1 %d %s" % (start_line[1], start_line[2]))

    def _queue_write(self, payload: Callable[[], bytes]) -> "Future[None]":
        # Returns the future handed to the caller; ``payload`` is only
        # evaluated when the stream is still open.
        result: "Future[None]" = Future()
        self._write_future = result
        if self.stream.closed():
            result.set_exception(iostream.StreamClosedError())
            result.exception()  # nobody is obliged to look at it
            return result
        self._pending_write = self.stream.write(payload())
        future_add_done_callback(self._pending_write, self._on_write_complete)
        return result

    def write_headers(
        self,
        start_line: Union[httputil.RequestStartLine, httputil.ResponseStartLine],
        headers: httputil.HTTPHeaders,
        chunk: Optional[bytes] = None,
    ) -> "Future[None]":
        """Implements `.HTTPConnection.write_headers`."""
        if self.is_client:
            assert isinstance(start_line, httputil.RequestStartLine)
            opening = self._client_start_line(start_line, headers)
        else:
            assert isinstance(start_line, httputil.ResponseStartLine)
            opening = self._server_start_line(start_line, headers)
        if self._chunking_output:
            headers["Transfer-Encoding"] = "chunked"
        if self.is_client:
            no_content = False
        else:
            no_content = (
                self._request_start_line.method == "HEAD"  # type: ignore[union-attr]
                or cast(httputil.ResponseStartLine, start_line).code == 304
            )
        declared = None if no_content else headers.get("Content-Length")
        self._expected_content_remaining = (
            0 if no_content else (None if declared is None else parse_int(declared))
        )
        encoded = [opening] + [
            (native_str(k) + ": " + native_str(v)).encode("latin1")
            for k, v in headers.get_all()
        ]
        for line in encoded:
            if CR_OR_LF_RE.search(line):
                raise ValueError("Illegal characters (CR or LF) in header: %r" % line)

        def assemble() -> bytes:
            block = b"\r\n".join(encoded) + b"\r\n\r\n"
            return block + self._format_chunk(chunk) if chunk else block

        return self._queue_write(assemble)

    def _format_chunk(self, chunk: bytes) -> bytes:
        budget = self._expected_content_remaining
        if budget is not None:
            budget -= len(chunk)
            self._expected_content_remaining = budget
            if budget < 0:
                # Excess bytes would be taken for the next message: give up
                # on the connection instead.
                self.stream.close()
                raise httputil.HTTPOutputError(
                    "Tried to write more data than Content-Length"
                )
        if not (chunk and self._chunking_output):
            return chunk
        return b"".join((b"%x\r\n" % len(chunk), chunk, b"\r\n"))

    def write(self, chunk: bytes) -> "Future[None]":
        """Implements `.HTTPConnection.write`.

        Also accepts, for old callers, a header block already encoded by
        the application in place of a `write_headers` call (deprecated).
        """
        return self._queue_write(lambda: self._format_chunk(chunk))

    def finish(self) -> None:
        """Implements `.HTTPConnection.finish`."""
        shortfall = self._expected_content_remaining
        if shortfall and not self.stream.closed():
            self.stream.close()
            raise httputil.HTTPOutputError(
                "Tried to write %d bytes less than Content-Length" % shortfall
            )
        if self._chunking_output and not self.stream.closed():
            trailer = self.stream.write(_TERMINAL_CHUNK)
            self._pending_write = trailer
            trailer.add_done_callback(self._on_write_complete)
        self._write_finished = True
        # Unread request body left on the wire means the connection cannot
        # carry another request.
        self._disconnect_on_finish = self._disconnect_on_finish or not self._read_finished
        # Push out the last segment now rather than waiting on Nagle.
        self.stream.set_nodelay(True)
        last_write = self._pending_write
        if last_write is not None:
            future_add_done_callback(last_write, self._finish_request)
        else:
            self._finish_request(None)

    def _request_sent(self, start_line: httputil.RequestStartLine) -> None:
        # The request went out by other means (the HTTP client's C fetch
        # path): the state write_headers() and finish() leave behind.
        self._request_start_line = start_line
        self._expected_content_remaining = 0
        self._write_finished = True
        self._disconnect_on_finish = True
        self._finish_request(None)

    def _on_write_complete(self, future: "Future[None]") -> None:
        failure = future.exception()
        if failure is not None and not isinstance(failure, iostream.StreamClosedError):
            future.result()  # re-raises
        callback, self._write_callback = self._write_callback, None
        if callback is not None:
            self.stream.io_loop.add_callback(callback)
        waiter, self._write_future = self._write_future, None
        if waiter is not None:
            future_set_result_unless_cancelled(waiter, None)

    def _finish_request(self, future: "Optional[Future[None]]") -> None:
        self._clear_callbacks()
        if self._disconnect_on_finish and not self.is_client:
            self.close()
            return
        # Pipelined requests that follow may be small again: Nagle back on.
        self.stream.set_nodelay(False)
        self._mark_finished()


class _GzipMessageDelegate(httputil.HTTPMessageDelegate):
    """Delegate wrapper that inflates ``Content-Encoding: gzip`` bodies."""

    def __init__(self, delegate: httputil.HTTPMessageDelegate, chunk_size: int) -> None:
        self._delegate = delegate
        self._chunk_size = chunk_size
        self._decompressor: Optional[GzipDecompressor] = None

    async def _forward(self, data: bytes) -> None:
        outcome = self._delegate.data_received(data)
        if outcome is not None:
            await outcome

    def headers_received(
        self,
        start_line: Union[httputil.RequestStartLine, httputil.ResponseStartLine],
        headers: httputil.HTTPHeaders,
    ) -> Optional[Awaitable[None]]:
        encoding = headers.get("Content-Encoding", "")
        if encoding.lower() == "gzip":
            self._decompressor = GzipDecompressor()
            # The body the delegate gets is plain; record the coding that
            # was stripped.
            headers.add("X-Consumed-Content-Encoding", encoding)
            del headers["Content-Encoding"]
        return self._delegate.headers_received(start_line, headers)

    async def data_received(self, chunk: bytes) -> None:
        inflater = self._decompressor
        if inflater is None:
            await self._forward(chunk)
            return
        # Inflate in bounded steps so that a tiny compressed body cannot
        # blow up into one enormous buffer.
        todo = chunk
        while todo:
            plain = inflater.decompress(todo, self._chunk_size)
            if plain:
                await self._forward(plain)
            todo = inflater.unconsumed_tail
            if todo and not plain:
                raise httputil.HTTPInputError(
                    "encountered unconsumed gzip data without making progress"
                )

    def finish(self) -> None:
        inflater = self._decompressor
        if inflater is not None:
            # Output at this point means the compressed stream was cut short.
            if inflater.flush():
                raise ValueError(
                    "decompressor.flush returned data; possible truncated input"
                )
        return self._delegate.finish()

    def on_connection_close(self) -> None:
        return self._delegate.on_connection_close()


class _GzipEagerDelegate(_GzipMessageDelegate):
    """`_GzipMessageDelegate` whose ``data_received`` returns an awaitable
    only when the wrapped delegate's does (the C engine then goes on at
    once); the calls and their order are the same."""

    def data_received(self, chunk: bytes) -> Optional[Awaitable[None]]:  # type: ignore[override]
        inflater = self._decompressor
        if inflater is None:
            return self._delegate.data_received(chunk)
        todo = chunk
        while todo:
            plain = inflater.decompress(todo, self._chunk_size)
            pending = self._delegate.data_received(plain) if plain else None
            todo = inflater.unconsumed_tail
            if pending is not None:
                return self._go_on(pending, todo)
            if todo and not plain:
                raise httputil.HTTPInputError(
                    "encountered unconsumed gzip data without making progress"
                )
        return None

    async def _go_on(self, pending: Awaitable[None], todo: bytes) -> None:
        await pending
        if todo:
            await _GzipMessageDelegate.data_received(self, todo)


class HTTP1ServerConnection:
    """Server side of an HTTP/1.x connection: a loop reading requests and
    dispatching each to the server's delegate.

    On tornado_c's native loop, with a plain TCP or Unix `.IOStream`, the
    loop runs in C (`_NativeHTTP1Connection`); the delegate sees the same
    calls either way.
    """

    def __init__(
        self,
        stream: iostream.IOStream,
        params: Optional[HTTP1ConnectionParameters] = None,
        context: Optional[object] = None,
    ) -> None:
        """
        :arg stream: the `.IOStream` to serve
        :arg params: a `.HTTP1ConnectionParameters`, or ``None`` for defaults
        :arg context: opaque value, exposed as ``connection.context``
        """
        self.context = context
        self.stream = stream
        self.params = params if params is not None else HTTP1ConnectionParameters()
        self._serving_future: "Optional[Future[None]]" = None
        self._native_conn: "Optional[_NativeHTTP1Connection]" = None

    async def close(self) -> None:
        """Close the stream and wait until the request loop has stopped."""
        self.stream.close()
        native = self._native_conn
        if native is not None:
            # The native loop ends when the stream's close reaches it.
            waiter: "Future[None]" = Future()
            native._end_waiters.append(waiter)
            await waiter
            return
        serving = self._serving_future
        if serving is None:
            return
        try:
            await serving
        except Exception:
            pass  # the loop reports its own failures

    def start_serving(self, delegate: httputil.HTTPServerConnectionDelegate) -> None:
        """Begin reading requests from the stream.

        :arg delegate: a `.HTTPServerConnectionDelegate`
        """
        assert isinstance(delegate, httputil.HTTPServerConnectionDelegate)
        if _native_eligible(self):
            native = _NativeHTTP1Connection(self, delegate)
            self._native_conn = native
            native._begin()
            return
        self._start_python(delegate)

    def _start_python(self, delegate: httputil.HTTPServerConnectionDelegate) -> None:
        loop_future = gen.convert_yielded(self._server_request_loop(delegate))
        self._serving_future = loop_future
        # Any unexpected failure of the loop is reported by the IOLoop.
        self.stream.io_loop.add_future(loop_future, lambda f: f.result())

    async def _serve_one(self, delegate: httputil.HTTPServerConnectionDelegate) -> bool:
        # Handle a single request; False means the connection is done.
        conn = HTTP1Connection(self.stream, False, self.params, self.context)
        message_delegate = delegate.start_request(self, conn)
        try:
            return bool(await conn.read_response(message_delegate))
        except (
            asyncio.CancelledError,
            iostream.UnsatisfiableReadError,
            iostream.StreamClosedError,
        ):
            return False
        except Exception as exc:
            if not isinstance(exc, _QuietException):
                gen_log.error("Uncaught exception", exc_info=True)
            conn.close()
            return False

    async def _server_request_loop(
        self, delegate: httputil.HTTPServerConnectionDelegate
    ) -> None:
        try:
            while await self._serve_one(delegate):
                # Yield between pipelined requests so other connections
                # get a turn.
                await asyncio.sleep(0)
        finally:
            delegate.on_close(self)


def _native_eligible(server_conn: HTTP1ServerConnection) -> bool:
    # The C connection serves the stock classes on a stream that runs on
    # the native engine; anything customised keeps the Python loop.
    stream = server_conn.stream
    return (
        _core is not None
        and type(server_conn) is HTTP1ServerConnection
        and getattr(stream, "_native", None) is not None
        and stream._native_intact()
        and not stream.reading()
    )


class _GzipServerDelegate(httputil.HTTPServerConnectionDelegate):
    # Wraps each request's delegate for decompress_request.
    def __init__(self, inner: httputil.HTTPServerConnectionDelegate, chunk_size: int) -> None:
        self.inner = inner
        self.chunk_size = chunk_size

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        return _GzipMessageDelegate(
            self.inner.start_request(server_conn, request_conn), self.chunk_size
        )

    def on_close(self, server_conn: object) -> None:
        self.inner.on_close(server_conn)


def _abandon_read(stream: iostream.IOStream, message: str) -> None:
    # A bounded read that cannot be satisfied, handled as IOStream does.
    error = iostream.UnsatisfiableReadError(message)
    gen_log.info("Unsatisfiable read, closing connection: %s" % error)
    stream.close(exc_info=error)


def _completed_future(loop: Any) -> "Future[None]":
    # One resolved Future per loop, returned by writes that went out at once.
    done = getattr(loop, "_tc_done_future", None)
    if done is None:
        done = loop.create_future()
        done.set_result(None)
        loop._tc_done_future = done
    return done


_HTTP1ConnBase: Any = _core.HTTP1Conn if _core is not None else object
if _core is not None:
    _core.http1_setup(
        httputil.HTTPHeaders,
        httputil.RequestStartLine,
        httputil.HTTPInputError,
        httputil.HTTPOutputError,
        httputil.ResponseStartLine,
    )


class _NativeHTTP1Connection(_HTTP1ConnBase, httputil.HTTPConnection):
    """The request connection of a server connection run by the C engine.

    One object serves every request of the connection: it is what
    `.HTTPServerConnectionDelegate.start_request` receives and what
    ``request.connection`` is.  ``write_headers``, ``write``, ``finish``,
    ``set_close_callback``, ``set_body_timeout`` and ``set_max_body_size``
    are implemented in C; the methods here handle the rare events.
    """

    is_client = False
    # (read from its slot by the request built in C, csrc/request.c)
    __slots__ = ("context",)

    def __init__(
        self,
        server_conn: HTTP1ServerConnection,
        delegate: httputil.HTTPServerConnectionDelegate,
    ) -> None:
        self.stream = server_conn.stream
        self.params = server_conn.params
        self.context = server_conn.context
        self._server_conn = server_conn
        self._delegate = delegate
        self._end_waiters: "list[Future[None]]" = []
        self._ended = False

    def _begin(self) -> None:
        stream = self.stream
        params = self.params
        delegate = self._delegate
        if params.decompress:
            delegate = _GzipServerDelegate(delegate, params.chunk_size)
        else:
            # An HTTPServer whose start_request would only wrap a callback
            # or a router lets the engine make that wrapper itself.
            plan = getattr(delegate, "_native_dispatch", None)
            config = plan() if plan is not None else None
            if config is not None:
                self._set_dispatch(config)
        stream.set_close_callback(self._on_stream_close)
        # Responses go out whole; Nagle would only delay pipelined ones.
        stream.set_nodelay(True)
        max_body = params.max_body_size
        self._start(
            stream._native,
            delegate,
            self._server_conn,
            _completed_future(stream._native_loop),
            params.chunk_size,
            params.max_header_size,
            stream.max_buffer_size if max_body is None else max_body,
            params.header_timeout or 0.0,
            params.body_timeout or 0.0,
            params.no_keep_alive,
        )

    # -- events from the C engine ---------------------------------------------

    def _on_stream_close(self) -> None:
        delegate, callback, first = self._stream_closed()
        try:
            if delegate is not None:
                with _ExceptionLoggingContext(app_log):
                    delegate.on_connection_close()
            elif callback is not None:
                callback()
        except _QuietException:
            pass
        finally:
            if first:
                self._end()

    def _end(self) -> None:
        # The request loop is over: tell the server, wake close() callers.
        if self._ended:
            return
        self._ended = True
        server_conn = self._server_conn
        # No cycle outlives the connection (circlerefs_test).
        server_conn._native_conn = None
        self._delegate.on_close(server_conn)
        waiters, self._end_waiters = self._end_waiters, []
        for waiter in waiters:
            future_set_result_unless_cancelled(waiter, None)

    def _on_error(self, exc: BaseException) -> None:
        stream = self.stream
        if isinstance(exc, httputil.HTTPInputError):
            gen_log.info("Malformed HTTP message from %s: %s", self.context, exc)
            if stream is not None and not stream.closed():
                sent = stream.write(_REJECTION)
                sent.add_done_callback(lambda f: stream.close())
            return
        if not isinstance(exc, (_QuietException, iostream.StreamClosedError)):
            app_log.error("Uncaught exception", exc_info=exc)
        if stream is not None:
            stream.close()

    def _on_overflow(self) -> None:
        # The head outgrew max_header_size: as Tornado's bounded header read.
        _abandon_read(
            self.stream,
            "regex %r not found within %d bytes"
            % (_HEADER_BLOCK_END, self.params.max_header_size),
        )

    def _on_bad_chunk_line(self) -> None:
        # A chunk-size line past 64 bytes: as Tornado's bounded read of it.
        _abandon_read(self.stream, "delimiter %r not found within 64 bytes" % b"\r\n")

    def _on_timeout(self, in_body: int) -> None:
        if in_body:
            gen_log.info("Timeout reading body from %s", self.context)
        self.stream.close()

    def _wait(self, awaitable: Awaitable[Any]) -> None:
        # A delegate returned an awaitable: carry on once it is done.
        future = gen.convert_yielded(awaitable)

        def settled(f: "Future[Any]") -> None:
            try:
                f.result()
            except Exception as exc:
                if not isinstance(exc, httputil.HTTPInputError):
                    app_log.error("Uncaught exception", exc_info=exc)
                    exc = _QuietException()
                self._on_error(exc)
                return
            self._resume()

        future_add_done_callback(future, settled)

    def _resume_soon(self) -> None:
        self.stream.io_loop.add_callback(self._resume)

    def _fallback(self) -> None:
        # Input the C parser does not take but Tornado's does (a method
        # llhttp does not know): the Python loop serves the rest.
        self._release()
        self.stream.set_close_callback(None)
        server_conn = self._server_conn
        server_conn._native_conn = None
        server_conn._start_python(self._delegate)

    def _close_stream(self) -> None:
        if self.stream is not None:
            self.stream.close()

    def _closed_write(self) -> "Future[None]":
        failed: "Future[None]" = Future()
        failed.set_exception(iostream.StreamClosedError())
        failed.exception()
        return failed

    # -- the rest of HTTPConnection / HTTP1Connection --------------------------

    def detach(self) -> iostream.IOStream:
        """Hand the stream over to the caller and stop HTTP handling (as
        `HTTP1Connection.detach`)."""
        self._release()
        stream = self.stream
        stream.set_close_callback(None)
        self.stream = None  # type: ignore[assignment]
        self._end()
        return stream

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()


_HTTP1ClientBase: Any = _core.HTTP1Client if _core is not None else object
_HEADER_BLOCK_PATTERN = re.compile(_HEADER_BLOCK_END)
_NOT_FOUND = "delimiter %r not found within %d bytes"


class _NativeHTTP1ClientConnection(_HTTP1ClientBase, HTTP1Connection):
    """A client `HTTP1Connection` whose responses are read by the C engine.

    Made by `.SimpleAsyncHTTPClient` for plain TCP or Unix streams on the
    native engine (`native_client_eligible`).  The request head is
    serialized in C; the response head and body are parsed by llhttp in C
    and handed to the delegate as `HTTP1Connection` does.  Heads the C
    code does not take (informational responses, bodies that run to the
    connection close, anything malformed) are read by the Python code of
    `HTTP1Connection`, from the untouched buffer, so the delegate always
    sees Tornado's behaviour.
    """

    _body_timer: Optional[object] = None
    _read_future: "Optional[Future[bool]]" = None

    # -- writing ---------------------------------------------------------

    def _finish_request(self, future: "Optional[Future[None]]") -> None:
        # As HTTP1Connection's, but TCP_NODELAY stays on: the stream either
        # closes or goes back to the client's pool, where the next request
        # would switch it on again straight away.
        self._clear_callbacks()
        self._mark_finished()

    def write_headers(  # noqa: D102 - the head serialized in C
        self, start_line: Any, headers: httputil.HTTPHeaders, chunk: Optional[bytes] = None
    ) -> "Future[None]":
        """Implements `.HTTPConnection.write_headers` (head serialized in C)."""
        if not isinstance(headers, httputil.HTTPHeaders):
            return HTTP1Connection.write_headers(self, start_line, headers, chunk)
        assert isinstance(start_line, httputil.RequestStartLine)
        self._request_start_line = start_line
        head, self._chunking_output, self._expected_content_remaining = (
            _core.h1_request_head(start_line, headers)
        )
        if chunk:
            return self._queue_write(lambda: head + self._format_chunk(chunk))
        return self._queue_write(lambda: head)

    # -- reading ---------------------------------------------------------

    def read_response(self, delegate: httputil.HTTPMessageDelegate) -> Awaitable[bool]:
        """Implements `HTTP1Connection.read_response` (parsed in C)."""
        stream = self.stream
        params = self.params
        if (
            params.header_timeout is not None
            or stream is None
            or stream.closed()
            or stream._native is None
            or not stream._native_intact()
            or stream.reading()
        ):
            return HTTP1Connection.read_response(self, delegate)
        if params.decompress:
            delegate = _GzipEagerDelegate(delegate, params.chunk_size)
        future: "Future[bool]" = Future(loop=stream._native_loop)
        self._read_future = future
        stream.set_close_callback(self._on_stream_close)
        sent = self._request_start_line
        self._read(
            stream._native,
            delegate,
            future,
            params.chunk_size,
            params.max_header_size,
            sent is not None and sent.method == "HEAD",
        )
        return future

    def _on_stream_close(self) -> None:
        self._stream_closed()

    def _fallback_read(
        self, delegate: httputil.HTTPMessageDelegate, future: "Future[bool]"
    ) -> None:
        # A head the C engine leaves to the Python code.
        if self.stream is not None:
            self.stream.set_close_callback(None)
        running = gen.convert_yielded(self._read_message(delegate))
        chain_future(running, future)

    def _wait(self, outcome: Any) -> bool:
        # A delegate method returned an awaitable: True when it is done
        # already (the engine goes on), else the engine waits for _resume.
        if type(outcome) is types.CoroutineType:
            loop = self.stream.io_loop.asyncio_loop if self.stream is not None else None
            eager = getattr(loop, "_eager_task", None)
            if (
                eager is not None
                and loop.get_task_factory() is None
                and asyncio.current_task(loop) is None
            ):
                future = eager(asyncio.Task, outcome)
            else:
                future = asyncio.ensure_future(outcome)
        else:
            future = gen.convert_yielded(outcome)
        if future.done() and not future.cancelled() and future.exception() is None:
            return True
        future_add_done_callback(future, self._settled)
        return False

    def _settled(self, future: "Future[Any]") -> None:
        try:
            future.result()
        except BaseException as exc:
            self._fail(exc)
            return
        self._resume()

    def _settle_read(
        self,
        delegate: Optional[httputil.HTTPMessageDelegate],
        delegate_open: bool,
        future: "Optional[Future[bool]]",
        exc: Optional[BaseException],
        result: Optional[bool],
    ) -> None:
        # The end of every read: the delegate hears of an early end, the
        # callbacks are dropped and the future settles (as the finally
        # clause of HTTP1Connection._read_message).
        timer, self._body_timer = self._body_timer, None
        if timer is not None and self.stream is not None:
            self.stream.io_loop.remove_timeout(timer)
        if delegate_open and delegate is not None:
            try:
                with _ExceptionLoggingContext(app_log):
                    delegate.on_connection_close()
            except Exception as late:
                exc = late
        self._clear_callbacks()
        self._read_future = None
        if future is None:
            return
        if exc is not None:
            future_set_exception_unless_cancelled(future, exc)
            if not future.cancelled():
                future.exception()
        else:
            future_set_result_unless_cancelled(future, bool(result))

    def _read_failed(
        self,
        exc: Optional[BaseException],
        delegate: Optional[httputil.HTTPMessageDelegate],
        delegate_open: bool,
        from_delegate: bool,
        future: "Optional[Future[bool]]",
    ) -> None:
        if exc is None:
            stream = self.stream
            exc = iostream.StreamClosedError(
                real_error=stream.error if stream is not None else None
            )
        elif from_delegate and not isinstance(exc, httputil.HTTPInputError):
            app_log.error("Uncaught exception", exc_info=exc)
            exc = _QuietException()
        result = None
        if isinstance(exc, httputil.HTTPInputError):
            gen_log.info("Malformed HTTP message from %s: %s", self.context, exc)
            self.close()
            exc = None
            result = False
        self._settle_read(delegate, delegate_open, future, exc, result)

    def _read_done(
        self, delegate: httputil.HTTPMessageDelegate, future: "Future[bool]"
    ) -> None:
        # The whole response has been read.
        timer, self._body_timer = self._body_timer, None
        if timer is not None:
            self.stream.io_loop.remove_timeout(timer)
        self._read_finished = True
        try:
            with _ExceptionLoggingContext(app_log):
                delegate.finish()
        except Exception as exc:
            self._read_failed(exc, None, False, False, future)
            return
        finished = self._finish_future
        stream = self.stream
        if not (finished.done() or stream is None or stream.closed()):
            # The request is still being written: wait for it.
            stream.set_close_callback(self._on_connection_close)
            finished.add_done_callback(lambda f: self._read_tail(future))
            return
        self._read_tail(future)

    def _read_tail(self, future: "Future[bool]") -> None:
        if self._disconnect_on_finish:
            self.close()
        self._settle_read(None, False, future, None, self.stream is not None)

    def _read_detached(self, future: "Future[bool]", result: bool) -> None:
        self._settle_read(None, False, future, None, result)

    def _arm_body_timeout(self, seconds: float) -> None:
        self._body_timer = self.stream.io_loop.call_later(seconds, self._body_timed_out)

    def _body_timed_out(self) -> None:
        self._body_timer = None
        state = self._abandon()
        if state is None:
            return
        delegate, delegate_open, future = state
        gen_log.info("Timeout reading body from %s", self.context)
        self.stream.close()
        self._settle_read(delegate, delegate_open, future, None, False)

    def _on_head_overflow(self) -> None:
        # The head outgrew max_header_size: as the stream's bounded read.
        limit = self.params.max_header_size
        _abandon_read(self.stream, _NOT_FOUND % (_HEADER_BLOCK_PATTERN, limit))

    _on_bad_chunk_line = _NativeHTTP1Connection._on_bad_chunk_line

    def detach(self) -> iostream.IOStream:
        """Implements `HTTP1Connection.detach`."""
        self._unhook()
        return HTTP1Connection.detach(self)


def native_client_eligible(stream: iostream.IOStream) -> bool:
    """Whether a client connection on ``stream`` can be the native one: a
    plain TCP or Unix stream (not TLS) running on the native engine."""
    return (
        _core is not None
        and getattr(stream, "_native", None) is not None
        and not isinstance(stream, iostream.SSLIOStream)
        and stream._native_intact()
    )


def parse_int(s: str) -> int:
    """Strict decimal parse: ASCII digits only (``int()`` would also take
    signs, blanks and underscores)."""
    if not DIGITS.fullmatch(s):
        raise ValueError("not an integer: %r" % s)
    return int(s)


def parse_hex_int(s: str) -> int:
    """Strict hexadecimal parse: hex digits only."""
    if not HEXDIGITS.fullmatch(s):
        raise ValueError("not a hexadecimal integer: %r" % s)
    return int(s, 16)


def is_transfer_encoding_chunked(headers: httputil.HTTPHeaders) -> bool:
    """Report whether the message uses chunked transfer coding.

    Any other coding (lists like ``gzip, chunked`` included) is rejected
    with `.HTTPInputError`, as is a message that also carries
    ``Content-Length``: conflicting framing is how requests get smuggled.
    """
    coding = headers.get("Transfer-Encoding")
    if coding is None:
        return False
    problem = None
    if "Content-Length" in headers:
        problem = "Message with both Transfer-Encoding and Content-Length"
    elif coding.lower() != "chunked":
        problem = "Unsupported Transfer-Encoding %s" % coding
    if problem is not None:
        raise httputil.HTTPInputError(problem)
    return True
