"""Server- and client-side support for the WebSocket protocol (RFC 6455).

`WebSocketHandler` turns a `tornado_c.web.RequestHandler` route into a
WebSocket endpoint; `websocket_connect` opens a client connection.  Both
speak protocol version 13 (and accept the draft versions 7 and 8), with
optional ``permessage-deflate`` compression (RFC 7692).

The wire format lives in `_FrameCodec`, a small self-contained encoder and
incremental decoder that the protocol drives one whole message at a time, so
that it can be replaced by a native implementation without touching the
protocol logic.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import os
import struct
import warnings
import zlib
from base64 import b64encode
from functools import lru_cache
from hashlib import sha1
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    Any,
    Awaitable,
    Callable,
    Dict,
    List,
    Optional,
    Tuple,
    Type,
    Union,
    cast,
)
from urllib.parse import urlparse

from tornado_c import gen, httpclient, httputil, simple_httpclient
from tornado_c import web as _web
from tornado_c.concurrent import Future, future_set_result_unless_cancelled
from tornado_c.escape import json_encode, native_str, to_unicode, utf8
from tornado_c.ioloop import IOLoop
from tornado_c.iostream import IOStream, StreamClosedError
from tornado_c.log import app_log, gen_log
from tornado_c.netutil import Resolver
from tornado_c.queues import Queue
from tornado_c.tcpclient import TCPClient
from tornado_c.util import _websocket_mask

if TYPE_CHECKING:
    from typing_extensions import Protocol

    class _WebSocketDelegate(Protocol):
        # What WebSocketProtocol needs from its owner: implemented by
        # WebSocketHandler (server) and WebSocketClientConnection (client).
        def on_ws_connection_close(
            self, close_code: Optional[int] = None, close_reason: Optional[str] = None
        ) -> None:
            pass

        def on_message(self, message: Union[str, bytes]) -> Optional["Awaitable[None]"]:
            pass

        def on_ping(self, data: bytes) -> None:
            pass

        def on_pong(self, data: bytes) -> None:
            pass

        def log_exception(
            self,
            typ: Optional[Type[BaseException]],
            value: Optional[BaseException],
            tb: Optional[TracebackType],
        ) -> None:
            pass


__all__ = [
    "WebSocketError",
    "WebSocketClosedError",
    "WebSocketHandler",
    "WebSocketProtocol",
    "WebSocketProtocol13",
    "WebSocketClientConnection",
    "websocket_connect",
]

_default_max_message_size = 10 * 1024 * 1024

# The GUID of RFC 6455 section 1.3, appended to Sec-WebSocket-Key.
_ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# Logs each distinct message once (for configuration warnings that would
# otherwise repeat for every connection).
de_dupe_gen_log = lru_cache(gen_log.log)


class WebSocketError(Exception):
    pass


class WebSocketClosedError(WebSocketError):
    """Raised by operations on a closed connection.

    .. versionadded:: 3.2
    """

    pass


class _DecompressTooLargeError(Exception):
    pass


class _FrameProtocolError(Exception):
    """The peer broke the framing rules; the connection is aborted."""


class _FrameTooLargeError(Exception):
    """A message exceeds ``max_message_size``; closed with code 1009."""


class _WebSocketParams:
    # Per-connection settings shared by the server and client sides.
    def __init__(
        self,
        ping_interval: Optional[float] = None,
        ping_timeout: Optional[float] = None,
        max_message_size: int = _default_max_message_size,
        compression_options: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.compression_options = compression_options
        self.max_message_size = max_message_size
        self.ping_interval, self.ping_timeout = ping_interval, ping_timeout


def _refuse(handler: _web.RequestHandler, status: int, message: str) -> None:
    # Answer a handshake we will not upgrade with a plain HTTP error page.
    handler.set_status(status)
    handler.finish(message)
    gen_log.debug(message)


# Output methods of RequestHandler that make no sense once the connection
# has been switched to the WebSocket protocol.
_HTTP_ONLY_METHODS = (
    "write", "redirect", "set_header", "set_cookie",
    "set_status", "flush", "finish",
)


# ---------------------------------------------------------------------------
# Server side
# ---------------------------------------------------------------------------


class WebSocketHandler(_web.RequestHandler):
    """A `~tornado.web.RequestHandler` whose route speaks WebSocket.

    Subclasses implement `on_message` to receive data and call
    `write_message` to send it; `open` and `on_close` mark the start and the
    end of a connection.  For example, a handler that answers every message
    with its length::

      class LengthHandler(tornado.websocket.WebSocketHandler):
          def open(self):
              self.count = 0

          def on_message(self, message):
              self.count += 1
              self.write_message({"n": self.count, "length": len(message)})

          def on_close(self):
              logging.info("closed after %d messages", self.count)

    The upgrade request is a normal GET: `prepare` runs before it and can
    refuse the connection by raising `~tornado.web.HTTPError`, and headers
    for the ``101`` response can be added in ``set_default_headers`` or
    ``prepare``.  Do not override `get`.  After the upgrade, methods that
    produce an HTTP response (``write``, ``finish``, ``set_header``, ...)
    raise `RuntimeError`.

    Requests from another origin are refused unless `check_origin` says
    otherwise.
    """

    def __init__(
        self,
        application: _web.Application,
        request: httputil.HTTPServerRequest,
        **kwargs: Any,
    ) -> None:
        super().__init__(application, request, **kwargs)
        self._on_close_called = False
        self.close_code: Optional[int] = None
        self.close_reason: Optional[str] = None
        self.ws_connection: Optional[WebSocketProtocol] = None

    async def get(self, *args: Any, **kwargs: Any) -> None:
        self.open_args = args
        self.open_kwargs = kwargs
        refusal = self._handshake_refusal()
        if refusal is not None:
            _refuse(self, *refusal)
            return
        protocol = self.get_websocket_protocol()
        self.ws_connection = protocol
        if not protocol:
            # A WebSocket version we do not speak: list the ones we do.
            self.set_status(426, "Upgrade Required")
            self.set_header("Sec-WebSocket-Version", "7, 8, 13")
            return
        await protocol.accept_connection(self)

    def _handshake_refusal(self) -> Optional[Tuple[int, str]]:
        # (status, message) when the request cannot be upgraded, else None.
        headers = self.request.headers
        if headers.get("Upgrade", "").lower() != "websocket":
            return 400, 'Can "Upgrade" only to "WebSocket".'
        tokens = {part.strip().lower() for part in headers.get("Connection", "").split(",")}
        if "upgrade" not in tokens:
            return 400, '"Connection" must be "Upgrade".'
        # Browsers send Origin (protocol 13) or Sec-Websocket-Origin (drafts 7
        # and 8).  Clients that send neither are not browsers, and cross-site
        # hijacking is not a concern for them.
        origin_header = "Origin" if "Origin" in headers else "Sec-Websocket-Origin"
        origin = headers.get(origin_header, None)
        if origin is not None and not self.check_origin(origin):
            return 403, "Cross origin websockets not allowed"
        return None

    def _live_connection(self) -> "WebSocketProtocol":
        conn = self.ws_connection
        if conn is None or conn.is_closing():
            raise WebSocketClosedError()
        return conn

    @property
    def ping_interval(self) -> Optional[float]:
        """Seconds between keep-alive pings sent to the client.

        Read from the ``websocket_ping_interval`` application setting; unset
        or ``0`` sends no pings.  See `ping_timeout` for closing connections
        whose pongs stop arriving.
        """
        return self.settings.get("websocket_ping_interval", None)

    @property
    def ping_timeout(self) -> Optional[float]:
        """Seconds to wait for the pong that answers a keep-alive ping.

        Read from the ``websocket_ping_timeout`` application setting and
        only meaningful together with `ping_interval`.  When the pong is
        late the connection is closed.  Unset means the ping interval; a
        value above the interval is reduced to it, and ``0`` disables the
        check.
        """
        return self.settings.get("websocket_ping_timeout", None)

    @property
    def max_message_size(self) -> int:
        """Largest incoming message accepted, in bytes.

        Taken from the ``websocket_max_message_size`` application setting
        (10 MiB when unset).  A bigger message closes the connection with
        status 1009.
        """
        return self.settings.get("websocket_max_message_size", _default_max_message_size)

    def write_message(
        self, message: Union[bytes, str, Dict[str, Any]], binary: bool = False
    ) -> "Future[None]":
        """Send ``message`` to the client.

        ``str`` goes out as a UTF-8 text message and a ``dict`` is first
        serialized to JSON; with ``binary=True`` the bytes are sent as a
        binary message.  Raises `WebSocketClosedError` once the connection
        is closing.  The returned `.Future` resolves when the data has been
        handed to the socket, which can be used for flow control.
        """
        conn = self._live_connection()
        if isinstance(message, dict):
            message = json_encode(message)
        return conn.write_message(message, binary=binary)

    def select_subprotocol(self, subprotocols: List[str]) -> Optional[str]:
        """Choose the subprotocol for this connection.

        Receives the (possibly empty) list the client offered in
        ``Sec-WebSocket-Protocol`` and returns one of its entries, or
        ``None`` to accept the connection without a subprotocol.  Called
        once per handshake; the default chooses none.
        """
        return None

    @property
    def selected_subprotocol(self) -> Optional[str]:
        """What `select_subprotocol` chose for this connection.

        .. versionadded:: 5.1
        """
        conn = self.ws_connection
        assert conn is not None
        return conn.selected_subprotocol

    def get_compression_options(self) -> Optional[Dict[str, Any]]:
        """Enable ``permessage-deflate`` by returning a dict.

        ``None`` (the default) leaves compression off; any dict, even an
        empty one, turns it on.  The keys ``compression_level`` and
        ``mem_level`` are handed to `zlib.compressobj`.
        """
        return None

    def open(self, *args: str, **kwargs: str) -> Optional[Awaitable[None]]:
        """Called once the connection has been upgraded.

        Receives the groups captured by the route's pattern, as `get` of an
        ordinary handler would.  It may be a coroutine; messages are only
        delivered to `on_message` after it has finished.
        """
        pass

    def on_message(self, message: Union[str, bytes]) -> Optional[Awaitable[None]]:
        """Receives each message: ``str`` for text, ``bytes`` for binary.

        Subclasses must implement it.  When it is a coroutine, the next
        message waits until it completes.
        """
        raise NotImplementedError

    def ping(self, data: Union[str, bytes] = b"") -> None:
        """Send a ping frame, with up to 125 bytes of ``data``.

        Periodic pings are simpler to get with the
        ``websocket_ping_interval`` application setting.
        """
        payload = utf8(data)
        self._live_connection().write_ping(payload)

    def on_pong(self, data: bytes) -> None:
        """Called with the payload of each pong frame received."""
        pass

    def on_ping(self, data: bytes) -> None:
        """Called with the payload of each ping frame received (the pong
        has already been sent)."""
        pass

    def on_close(self) -> None:
        """Called once when the connection is gone.

        After a clean closing handshake, `close_code` and `close_reason`
        hold what the client sent, if anything.
        """
        pass

    def close(self, code: Optional[int] = None, reason: Optional[str] = None) -> None:
        """Start the closing handshake.

        The socket is closed once the client answers (or after a short
        grace period).  ``code`` is a status code from RFC 6455 section
        7.4.1 and ``reason`` a short text; both are sent to the client.
        """
        conn = self.ws_connection
        if not conn:
            return
        conn.close(code, reason)
        self.ws_connection = None

    def check_origin(self, origin: str) -> bool:
        """Decide whether a browser request from ``origin`` is allowed.

        ``origin`` is the value of the ``Origin`` header.  The default only
        accepts an origin whose host (and port) equal the request's
        ``Host``; returning ``False`` answers 403.  Accepting other origins
        exposes the endpoint to cross-site WebSocket hijacking, so widen it
        with care (for example, compare against a list of trusted domains).
        """
        allowed = self.request.headers.get("Host")
        return urlparse(origin).netloc.lower() == allowed

    def set_nodelay(self, value: bool) -> None:
        """Turn Nagle's algorithm off (``True``) or on for this connection.

        Useful once the connection is open when many small messages must
        go out without delay.
        """
        conn = self.ws_connection
        assert conn is not None
        conn.set_nodelay(value)

    def on_ws_connection_close(
        self, close_code: Optional[int] = None, close_reason: Optional[str] = None
    ) -> None:
        self.close_code, self.close_reason = close_code, close_reason
        self.on_connection_close()

    def on_connection_close(self) -> None:
        conn = self.ws_connection
        if conn:
            conn.on_connection_close()
            self.ws_connection = None
        if self._on_close_called:
            return
        # on_close runs exactly once, however the connection ended.
        self._on_close_called = True
        self.on_close()
        self._break_cycles()

    def _break_cycles(self) -> None:
        # The handshake calls finish(), but an upgraded handler stays in use
        # (render_string, settings, ...) until the WebSocket closes: keep its
        # references until on_close has run.
        upgraded_and_open = self.get_status() == 101 and not self._on_close_called
        if not upgraded_and_open:
            super()._break_cycles()

    def get_websocket_protocol(self) -> Optional["WebSocketProtocol"]:
        if self.request.headers.get("Sec-WebSocket-Version") not in ("7", "8", "13"):
            return None
        settings = _WebSocketParams(
            self.ping_interval, self.ping_timeout,
            self.max_message_size, self.get_compression_options(),
        )
        return WebSocketProtocol13(self, False, settings)

    def _detach_stream(self) -> IOStream:
        # Take the socket away from the HTTP layer; the response methods are
        # replaced by ones that raise.
        for method_name in _HTTP_ONLY_METHODS:
            setattr(self, method_name, _raise_not_supported_for_websockets)
        return self.detach()


def _raise_not_supported_for_websockets(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("Method not supported for Web Sockets")


# ---------------------------------------------------------------------------
# Protocol
# ---------------------------------------------------------------------------


class WebSocketProtocol(abc.ABC):
    """Interface between a WebSocket endpoint and one protocol revision."""

    def __init__(self, handler: "_WebSocketDelegate") -> None:
        self.handler = handler
        self.stream: Optional[IOStream] = None
        # Set once the peer (client_terminated) or we (server_terminated)
        # have sent a close frame, or the connection was dropped.
        self.client_terminated = self.server_terminated = False

    def _run_callback(
        self, callback: Callable, *args: Any, **kwargs: Any
    ) -> "Optional[Future[Any]]":
        """Call one of the delegate's hooks.

        An exception is logged and drops the connection (the result is then
        None).  A coroutine's result is returned as a Future, whose failure
        the IOLoop will log.
        """
        try:
            outcome = callback(*args, **kwargs)
        except Exception as error:
            self.handler.log_exception(type(error), error, error.__traceback__)
            self._abort()
            return None
        if outcome is None:
            return None
        future = gen.convert_yielded(outcome)
        IOLoop.current().add_future(future, _result_or_raise)
        return future

    def on_connection_close(self) -> None:
        self._abort()

    def _abort(self) -> None:
        """Drop the connection now, without a closing handshake."""
        self.client_terminated = self.server_terminated = True
        stream = self.stream
        if stream is not None:
            stream.close()
        self.close()

    @abc.abstractmethod
    def close(self, code: Optional[int] = None, reason: Optional[str] = None) -> None:
        """Begin (or complete) the closing handshake."""
        raise NotImplementedError()

    @abc.abstractmethod
    def is_closing(self) -> bool:
        """True once either side started closing or the stream is gone."""
        raise NotImplementedError()

    @abc.abstractmethod
    async def accept_connection(self, handler: WebSocketHandler) -> None:
        """Server side: complete the handshake for ``handler``."""
        raise NotImplementedError()

    @abc.abstractmethod
    def write_message(
        self, message: Union[str, bytes, Dict[str, Any]], binary: bool = False
    ) -> "Future[None]":
        """Send one data message."""
        raise NotImplementedError()

    @property
    @abc.abstractmethod
    def selected_subprotocol(self) -> Optional[str]:
        """The negotiated subprotocol, if any."""
        raise NotImplementedError()

    @abc.abstractmethod
    def write_ping(self, data: bytes) -> None:
        """Send a ping control frame."""
        raise NotImplementedError()

    # Used by WebSocketClientConnection.
    @abc.abstractmethod
    def _process_server_headers(
        self, key: Union[str, bytes], headers: httputil.HTTPHeaders
    ) -> None:
        """Client side: validate the server's ``101`` response."""
        raise NotImplementedError()

    @abc.abstractmethod
    def start_pinging(self) -> None:
        """Start the keep-alive pings, if configured."""
        raise NotImplementedError()

    @abc.abstractmethod
    async def _receive_frame_loop(self) -> None:
        """Read and dispatch incoming frames until the connection ends."""
        raise NotImplementedError()

    @abc.abstractmethod
    def set_nodelay(self, x: bool) -> None:
        """Set TCP_NODELAY on the underlying stream."""
        raise NotImplementedError()


def _result_or_raise(future: "Future[Any]") -> None:
    future.result()


def _check_wbits(max_wbits: Optional[int]) -> int:
    if max_wbits is None:
        return zlib.MAX_WBITS
    if not 8 <= max_wbits <= zlib.MAX_WBITS:
        raise ValueError(
            "Invalid max_wbits value %r; allowed range 8-%d"
            % (max_wbits, zlib.MAX_WBITS)
        )
    return max_wbits


def _default_compression_level() -> int:
    gzip = getattr(_web, "GZipContentEncoding", None)
    return getattr(gzip, "GZIP_LEVEL", 6)


class _PerMessageDeflateCompressor:
    """Compresses outgoing messages for ``permessage-deflate``.

    ``persistent`` keeps the LZ77 window between messages (context
    takeover); ``max_wbits`` is the negotiated window size.
    """

    def __init__(
        self,
        persistent: bool,
        max_wbits: Optional[int],
        compression_options: Optional[Dict[str, Any]] = None,
    ) -> None:
        self._max_wbits = _check_wbits(max_wbits)
        options = compression_options or {}
        self._compression_level: int = options.get(
            "compression_level", _default_compression_level()
        )
        self._mem_level: int = options.get("mem_level", 8)
        self._compressor: Any = self._create_compressor() if persistent else None

    def _create_compressor(self) -> Any:
        return zlib.compressobj(
            self._compression_level, zlib.DEFLATED, -self._max_wbits, self._mem_level
        )

    def compress(self, data: bytes) -> bytes:
        compressor = self._compressor or self._create_compressor()
        out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
        # RFC 7692 section 7.2.1: drop the empty stored block's trailer.
        assert out.endswith(b"\x00\x00\xff\xff")
        return out[:-4]


class _PerMessageDeflateDecompressor:
    """Decompresses incoming ``permessage-deflate`` messages, refusing
    any that would expand beyond ``max_message_size``."""

    def __init__(
        self,
        persistent: bool,
        max_wbits: Optional[int],
        max_message_size: int,
        compression_options: Optional[Dict[str, Any]] = None,
    ) -> None:
        self._max_message_size = max_message_size
        self._max_wbits = _check_wbits(max_wbits)
        self._decompressor: Any = self._create_decompressor() if persistent else None

    def _create_decompressor(self) -> Any:
        return zlib.decompressobj(-self._max_wbits)

    def decompress(self, data: bytes) -> bytes:
        decompressor = self._decompressor or self._create_decompressor()
        out = decompressor.decompress(
            data + b"\x00\x00\xff\xff", self._max_message_size
        )
        if decompressor.unconsumed_tail:
            raise _DecompressTooLargeError()
        return out


class _FrameCodec:
    """RFC 6455 framing, independent of streams and of the protocol state.

    `build` serializes one frame.  `feed` takes received bytes and
    `next_message` returns the next complete unit to act on: a control frame
    or a whole (reassembled, unmasked) data message, as
    ``(opcode, payload, compressed)``, or None when more bytes are needed.
    It raises `_FrameTooLargeError` as soon as a frame header announces a
    message over ``max_message_size`` and `_FrameProtocolError` on a framing
    violation.  ``wire_bytes_in`` counts the bytes consumed so far.
    """

    FIN = 0x80
    RSV1 = 0x40
    RSV_MASK = 0x70
    OPCODE_MASK = 0x0F

    def __init__(self, mask_outgoing: bool, max_message_size: int) -> None:
        self.mask_outgoing = mask_outgoing
        self.max_message_size = max_message_size
        # Set once permessage-deflate is negotiated: RSV1 then marks the
        # first frame of a compressed message.
        self.allow_compression = False
        self.wire_bytes_in = 0
        self._buf = bytearray()
        self._pos = 0
        self._fragments: Optional[bytearray] = None
        self._fragment_opcode = 0
        self._fragment_compressed = False

    def build(self, fin: bool, opcode: int, data: bytes, flags: int = 0) -> bytes:
        """Returns one frame carrying ``data``; masked if ``mask_outgoing``."""
        length = len(data)
        if opcode & 0x8:
            if not fin:
                raise ValueError("control frames may not be fragmented")
            if length > 125:
                raise ValueError("control frame payloads may not exceed 125 bytes")
        first = (self.FIN if fin else 0) | opcode | flags
        mask_bit = 0x80 if self.mask_outgoing else 0
        if length < 126:
            header = bytes((first, length | mask_bit))
        elif length <= 0xFFFF:
            header = struct.pack("!BBH", first, 126 | mask_bit, length)
        else:
            header = struct.pack("!BBQ", first, 127 | mask_bit, length)
        if self.mask_outgoing:
            key = os.urandom(4)
            return b"".join((header, key, _websocket_mask(key, data)))
        return header + data

    def feed(self, data: bytes) -> None:
        """Appends received bytes to the parse buffer."""
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def next_message(self) -> Optional[Tuple[int, bytes, bool]]:
        """Parses buffered frames until one yields something to act on."""
        buf = self._buf
        while True:
            pos = self._pos
            available = len(buf) - pos
            if available < 2:
                return None
            first = buf[pos]
            second = buf[pos + 1]
            fin = bool(first & self.FIN)
            opcode = first & self.OPCODE_MASK
            is_control = bool(opcode & 0x8)
            reserved = first & self.RSV_MASK
            compressed = False
            if reserved:
                # RSV1 is the permessage-deflate flag, valid only on the
                # first frame of a data message.
                if (
                    reserved == self.RSV1
                    and self.allow_compression
                    and opcode in (0x1, 0x2)
                ):
                    compressed = True
                else:
                    raise _FrameProtocolError("reserved bits set")
            length = second & 0x7F
            header_len = 2
            if length >= 126:
                if is_control:
                    raise _FrameProtocolError("control frame too long")
                if length == 126:
                    header_len = 4
                    if available < header_len:
                        return None
                    length = (buf[pos + 2] << 8) | buf[pos + 3]
                else:
                    header_len = 10
                    if available < header_len:
                        return None
                    length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
            total = length
            if self._fragments is not None:
                total += len(self._fragments)
            if total > self.max_message_size:
                raise _FrameTooLargeError()
            masked = bool(second & 0x80)
            if masked:
                header_len += 4
            end = pos + header_len + length
            if len(buf) < end:
                return None
            payload = bytes(buf[pos + header_len : end])
            if masked:
                key = bytes(buf[pos + header_len - 4 : pos + header_len])
                payload = _websocket_mask(key, payload)
            self._pos = end
            self.wire_bytes_in += end - pos

            if is_control:
                if not fin:
                    raise _FrameProtocolError("fragmented control frame")
                return opcode, payload, False
            if opcode == 0x0:
                if self._fragments is None:
                    raise _FrameProtocolError("continuation without a message")
                self._fragments += payload
                if not fin:
                    continue
                payload = bytes(self._fragments)
                self._fragments = None
                return self._fragment_opcode, payload, self._fragment_compressed
            if self._fragments is not None:
                raise _FrameProtocolError("new message inside a fragmented one")
            if fin:
                return opcode, payload, compressed
            self._fragments = bytearray(payload)
            self._fragment_opcode = opcode
            self._fragment_compressed = compressed


def _parse_extensions(value: str) -> List[Tuple[str, Dict[str, Optional[str]]]]:
    """Parses a Sec-WebSocket-Extensions value into (name, params) pairs;
    a parameter without ``=`` maps to None."""
    result = []
    for item in value.split(","):
        parts = [p.strip() for p in item.split(";")]
        if not parts[0]:
            continue
        params: Dict[str, Optional[str]] = {}
        for part in parts[1:]:
            if not part:
                continue
            key, eq, val = part.partition("=")
            key = key.strip().lower()
            if eq:
                val = val.strip()
                if len(val) >= 2 and val[0] == val[-1] == '"':
                    val = val[1:-1]
                params[key] = val
            else:
                params[key] = None
        result.append((parts[0].lower(), params))
    return result


def _format_extension(name: str, params: Dict[str, Optional[str]]) -> str:
    parts = [name]
    for key, value in params.items():
        parts.append(key if value is None else "%s=%s" % (key, value))
    return "; ".join(parts)


# Parameters of permessage-deflate (RFC 7692 section 7.1) that we understand.
_DEFLATE_PARAMS = frozenset(
    "%s_%s" % (side, setting)
    for side in ("server", "client")
    for setting in ("no_context_takeover", "max_window_bits")
)

# Frame opcodes (RFC 6455 section 5.2).
_OP_CONTINUATION = 0x0
_OP_TEXT = 0x1
_OP_BINARY = 0x2
_OP_CLOSE = 0x8
_OP_PING = 0x9
_OP_PONG = 0xA

# Request headers without which a server handshake is refused.
_REQUIRED_HANDSHAKE_HEADERS = ("Host", "Sec-Websocket-Key", "Sec-Websocket-Version")

# Seconds we wait for the peer's close frame after sending ours.
_CLOSE_GRACE_PERIOD = 5


def _close_payload(code: Optional[int], reason: Optional[str]) -> bytes:
    # Body of a close frame: an optional status code, then an optional
    # UTF-8 reason (which needs a code in front of it; 1000 is "normal").
    if reason is not None and code is None:
        code = 1000
    body = struct.pack("!H", code) if code is not None else b""
    if reason is None:
        return body
    return body + utf8(reason)


class WebSocketProtocol13(WebSocketProtocol):
    """RFC 6455 WebSocket, as driven by a handler or a client connection.

    The drafts that preceded the RFC under versions 7 and 8 use the same
    wire format and are accepted as well.
    """

    # First-byte bit masks, the same as the codec's.
    FIN = _FrameCodec.FIN
    RSV1, RSV2, RSV3 = _FrameCodec.RSV1, 0x20, 0x10
    RSV_MASK = _FrameCodec.RSV_MASK
    OPCODE_MASK = _FrameCodec.OPCODE_MASK

    # Largest chunk requested from the stream per read.
    _READ_CHUNK = 65536

    stream: IOStream = None  # type: ignore[assignment]

    def __init__(
        self,
        handler: "_WebSocketDelegate",
        mask_outgoing: bool,
        params: _WebSocketParams,
    ) -> None:
        WebSocketProtocol.__init__(self, handler)
        self.mask_outgoing = mask_outgoing
        self.params = params
        self._codec = _FrameCodec(mask_outgoing, params.max_message_size)
        self._compression_options = params.compression_options
        self._compressor: Optional[_PerMessageDeflateCompressor] = None
        self._decompressor: Optional[_PerMessageDeflateDecompressor] = None
        # Whether the message being dispatched arrived compressed.
        self._frame_compressed: Optional[bool] = None
        # Statistics (tests read them): payload bytes before compression,
        # text counted as UTF-8, and raw bytes including framing.
        self._message_bytes_in = self._message_bytes_out = 0
        self._wire_bytes_in = self._wire_bytes_out = 0
        self.close_code: Optional[int] = None
        self.close_reason: Optional[str] = None
        self._selected_subprotocol: Optional[str] = None
        # Timer that drops the connection if the peer never answers our
        # close frame.
        self._waiting: object = None
        self._ping_coroutine: Optional[asyncio.Task] = None
        self._received_pong = False

    # -- handshake, server side ----------------------------------------------

    async def accept_connection(self, handler: WebSocketHandler) -> None:
        try:
            self._handle_websocket_headers(handler)
        except ValueError:
            _refuse(handler, 400, "Missing/Invalid WebSocket headers")
            return
        try:
            await self._accept_connection(handler)
        except (asyncio.CancelledError, ValueError) as failure:
            if isinstance(failure, ValueError):
                gen_log.debug("Malformed WebSocket request received", exc_info=True)
            self._abort()

    def _handle_websocket_headers(self, handler: WebSocketHandler) -> None:
        """Raises ValueError if a header the handshake needs is absent or empty."""
        present = handler.request.headers.get
        if not all(present(name) for name in _REQUIRED_HANDSHAKE_HEADERS):
            raise ValueError("Missing/Invalid WebSocket headers")

    @staticmethod
    def compute_accept_value(key: Union[str, bytes]) -> str:
        """The ``Sec-WebSocket-Accept`` answer to a ``Sec-WebSocket-Key``."""
        return native_str(b64encode(sha1(utf8(key) + _ACCEPT_GUID).digest()))

    def _challenge_response(self, handler: WebSocketHandler) -> str:
        key = handler.request.headers.get("Sec-Websocket-Key")
        return WebSocketProtocol13.compute_accept_value(cast(str, key))

    async def _accept_connection(self, handler: WebSocketHandler) -> None:
        self._choose_subprotocol(handler)
        if self._compression_options is not None:
            self._choose_compression(handler)
        self._send_switching_protocols(handler)
        self.stream = handler._detach_stream()
        self.start_pinging()
        if await self._call_open(handler):
            await self._receive_frame_loop()

    def _choose_subprotocol(self, handler: WebSocketHandler) -> None:
        header = handler.request.headers.get("Sec-WebSocket-Protocol")
        offered = [name.strip() for name in header.split(",")] if header else []
        choice = handler.select_subprotocol(offered)
        self.selected_subprotocol = choice
        if not choice:
            return
        assert choice in offered
        handler.set_header("Sec-WebSocket-Protocol", choice)

    def _choose_compression(self, handler: WebSocketHandler) -> None:
        # Take the first permessage-deflate offer we can honour.
        offers = self._parse_extensions_header(handler.request.headers)
        for params in (p for name, p in offers if name == "permessage-deflate"):
            agreed = self._accept_deflate_offer(params)
            if agreed is None:
                continue
            value = _format_extension("permessage-deflate", agreed)
            handler.set_header("Sec-WebSocket-Extensions", value)
            return

    def _send_switching_protocols(self, handler: WebSocketHandler) -> None:
        accept = self._challenge_response(handler)
        handler.clear_header("Content-Type")
        handler.set_status(101)
        for name, value in (
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", accept),
        ):
            handler.set_header(name, value)
        handler.finish()

    async def _call_open(self, handler: WebSocketHandler) -> bool:
        # Runs handler.open (awaiting it if it is a coroutine); False when
        # it failed, in which case the connection has been dropped.
        try:
            pending = handler.open(*handler.open_args, **handler.open_kwargs)
            if pending is not None:
                await pending
        except Exception as error:
            handler.log_exception(type(error), error, error.__traceback__)
            self._abort()
            return False
        return True

    def _accept_deflate_offer(
        self, params: Dict[str, Optional[str]]
    ) -> Optional[Dict[str, Optional[str]]]:
        """Sets up compression from one client offer and returns the
        parameters to echo, or None to decline an offer we cannot honour."""
        params = dict(params)
        if "client_max_window_bits" in params and params["client_max_window_bits"] is None:
            # A bare client_max_window_bits only says the client could take
            # a limit; we set none, so it is not echoed.
            del params["client_max_window_bits"]
        try:
            self._create_compressors("server", params, self._compression_options)
        except (ValueError, TypeError):
            gen_log.debug("Declined permessage-deflate offer %r", params, exc_info=True)
            self._compressor = None
            self._decompressor = None
            self._codec.allow_compression = False
            return None
        return params

    def _parse_extensions_header(
        self, headers: httputil.HTTPHeaders
    ) -> List[Tuple[str, Dict[str, Optional[str]]]]:
        value = headers.get("Sec-WebSocket-Extensions", "")
        return _parse_extensions(value) if value else []

    @property
    def selected_subprotocol(self) -> Optional[str]:
        return self._selected_subprotocol

    @selected_subprotocol.setter
    def selected_subprotocol(self, value: Optional[str]) -> None:
        self._selected_subprotocol = value

    # -- handshake, client side ----------------------------------------------

    def _process_server_headers(
        self, key: Union[str, bytes], headers: httputil.HTTPHeaders
    ) -> None:
        """Check the server's ``101`` response to our handshake (``key`` is
        the ``Sec-WebSocket-Key`` we sent) and apply what it negotiated."""
        if headers.get("Upgrade", "").lower() != "websocket":
            raise WebSocketError("Invalid Upgrade header in handshake response")
        if headers.get("Connection", "").lower() != "upgrade":
            raise WebSocketError("Invalid Connection header in handshake response")
        if headers.get("Sec-Websocket-Accept") != self.compute_accept_value(key):
            raise WebSocketError("Invalid Sec-WebSocket-Accept in handshake response")
        for name, params in self._parse_extensions_header(headers):
            if name == "permessage-deflate" and self._compression_options is not None:
                self._create_compressors("client", params)
            else:
                raise ValueError("unsupported extension %r" % ((name, params),))
        self.selected_subprotocol = headers.get("Sec-WebSocket-Protocol", None)

    # -- compression ---------------------------------------------------------

    def _get_compressor_options(
        self,
        side: str,
        agreed_parameters: Dict[str, Any],
        compression_options: Optional[Dict[str, Any]] = None,
    ) -> Dict[str, Any]:
        """Converts negotiated extension parameters to keyword arguments for
        the compressor objects of ``side`` ("client" or "server")."""
        wbits = agreed_parameters.get(side + "_max_window_bits", None)
        return {
            "persistent": (side + "_no_context_takeover") not in agreed_parameters,
            "max_wbits": zlib.MAX_WBITS if wbits is None else int(wbits),
            "compression_options": compression_options,
        }

    def _create_compressors(
        self,
        side: str,
        agreed_parameters: Dict[str, Any],
        compression_options: Optional[Dict[str, Any]] = None,
    ) -> None:
        unknown = [name for name in agreed_parameters if name not in _DEFLATE_PARAMS]
        if unknown:
            raise ValueError("unsupported compression parameter %r" % unknown[0])
        # We compress with our side's parameters and inflate with the peer's.
        peer = "client" if side == "server" else "server"
        outgoing = self._get_compressor_options(side, agreed_parameters, compression_options)
        self._compressor = _PerMessageDeflateCompressor(**outgoing)
        incoming = self._get_compressor_options(peer, agreed_parameters, compression_options)
        incoming["max_message_size"] = self.params.max_message_size
        self._decompressor = _PerMessageDeflateDecompressor(**incoming)
        self._codec.allow_compression = True

    # -- sending -------------------------------------------------------------

    def _write_frame(
        self, fin: bool, opcode: int, data: bytes, flags: int = 0
    ) -> "Future[None]":
        frame = self._codec.build(fin, opcode, data, flags)
        self._wire_bytes_out += len(frame)
        return self.stream.write(frame)

    def _send_control(self, opcode: int, payload: bytes) -> None:
        # Control frames written from inside the protocol: a closed stream
        # just means the connection is gone.
        try:
            self._write_frame(True, opcode, payload)
        except StreamClosedError:
            self._abort()

    def write_message(
        self, message: Union[str, bytes, Dict[str, Any]], binary: bool = False
    ) -> "Future[None]":
        """Send one data message (``dict`` as JSON, ``str`` as UTF-8)."""
        if isinstance(message, dict):
            message = json_encode(message)
        payload = utf8(message)
        assert isinstance(payload, bytes)
        self._message_bytes_out += len(payload)
        rsv = 0
        if self._compressor:
            payload = self._compressor.compress(payload)
            rsv = self.RSV1
        opcode = _OP_BINARY if binary else _OP_TEXT
        try:
            written = self._write_frame(True, opcode, payload, flags=rsv)
        except StreamClosedError:
            raise WebSocketClosedError()
        return _translate_closed(written)

    def write_ping(self, data: bytes) -> None:
        """Write a ping control frame carrying ``data``."""
        assert isinstance(data, bytes)
        self._write_frame(True, _OP_PING, data)

    # -- receiving -----------------------------------------------------------

    async def _receive_frame_loop(self) -> None:
        try:
            await self._dispatch_until_closed()
        except StreamClosedError:
            self._abort()
        self.handler.on_ws_connection_close(self.close_code, self.close_reason)

    async def _dispatch_until_closed(self) -> None:
        while not self.client_terminated:
            await self._receive_frame()

    async def _receive_frame(self) -> None:
        """Reads until one control frame or data message is complete, then
        acts on it (waiting for a coroutine ``on_message``)."""
        unit = await self._next_unit()
        if unit is None:
            return
        opcode, data, self._frame_compressed = unit
        pending = self._handle_message(opcode, data)
        if pending is not None:
            await pending

    async def _next_unit(self) -> Optional[Tuple[int, bytes, bool]]:
        # Feed the codec until it yields something.  None means the peer
        # broke the protocol and the connection has been dropped.
        codec = self._codec
        try:
            unit = codec.next_message()
            while unit is None:
                codec.feed(await self.stream.read_bytes(self._READ_CHUNK, partial=True))
                unit = codec.next_message()
        except _FrameTooLargeError:
            self._wire_bytes_in = codec.wire_bytes_in
            self.close(1009, "message too big")
            self._abort()
            return None
        except _FrameProtocolError:
            self._wire_bytes_in = codec.wire_bytes_in
            self._abort()
            return None
        self._wire_bytes_in = codec.wire_bytes_in
        return unit

    def _handle_message(self, opcode: int, data: bytes) -> "Optional[Future[None]]":
        """Act on one complete unit; returns on_message's Future when it is a
        coroutine."""
        if self.client_terminated:
            return None
        if opcode in (_OP_TEXT, _OP_BINARY):
            return self._deliver(opcode == _OP_TEXT, data)
        if opcode == _OP_PONG:
            self._received_pong = True
            return self._run_callback(self.handler.on_pong, data)
        if opcode == _OP_CLOSE:
            self._peer_closed(data)
        elif opcode == _OP_PING:
            self._send_control(_OP_PONG, data)
            self._run_callback(self.handler.on_ping, data)
        else:
            # Reserved opcode.
            self._abort()
        return None

    def _deliver(self, is_text: bool, data: bytes) -> "Optional[Future[None]]":
        if self._frame_compressed:
            inflated = self._inflate(data)
            if inflated is None:
                return None
            data = inflated
        self._message_bytes_in += len(data)
        message: Union[str, bytes] = data
        if is_text:
            try:
                message = data.decode("utf-8")
            except UnicodeDecodeError:
                self._abort()
                return None
        return self._run_callback(self.handler.on_message, message)

    def _inflate(self, data: bytes) -> Optional[bytes]:
        # None (with the connection dropped) for an over-limit or corrupt
        # compressed message.
        decompressor = self._decompressor
        assert decompressor is not None
        try:
            return decompressor.decompress(data)
        except _DecompressTooLargeError:
            self.close(1009, "message too big after decompression")
        except zlib.error:
            pass
        self._abort()
        return None

    def _peer_closed(self, data: bytes) -> None:
        self.client_terminated = True
        if len(data) >= 2:
            (self.close_code,) = struct.unpack_from("!H", data)
            if len(data) > 2:
                self.close_reason = data[2:].decode("utf-8", "replace")
        # Answer with the same status code (RFC 6455 section 5.5.1).
        self.close(self.close_code)

    # -- closing -------------------------------------------------------------

    def close(self, code: Optional[int] = None, reason: Optional[str] = None) -> None:
        """Send our close frame (once) and end the connection as soon as
        both sides have closed."""
        stream = self.stream
        if not self.server_terminated:
            if stream is not None and not stream.closed():
                self._send_control(_OP_CLOSE, _close_payload(code, reason))
            self.server_terminated = True
        if stream is not None:
            if not self.client_terminated:
                self._await_peer_close(stream)
            else:
                self._cancel_close_timer(stream)
                stream.close()
        task, self._ping_coroutine = self._ping_coroutine, None
        if task:
            task.cancel()

    def _await_peer_close(self, stream: IOStream) -> None:
        # The peer gets a grace period to send its own close frame.
        if self._waiting is not None:
            return
        loop = stream.io_loop
        self._waiting = loop.add_timeout(loop.time() + _CLOSE_GRACE_PERIOD, self._abort)

    def _cancel_close_timer(self, stream: IOStream) -> None:
        timer, self._waiting = self._waiting, None
        if timer is not None:
            stream.io_loop.remove_timeout(timer)

    def is_closing(self) -> bool:
        """True when a close frame has been sent or received, or the stream
        was closed without one."""
        return self.stream.closed() or self.client_terminated or self.server_terminated

    def set_nodelay(self, x: bool) -> None:
        self.stream.set_nodelay(x)

    # -- keep-alive pings ----------------------------------------------------

    @property
    def ping_interval(self) -> float:
        interval = self.params.ping_interval
        return interval if interval is not None else 0

    @property
    def ping_timeout(self) -> float:
        timeout = self.params.ping_timeout
        interval = self.ping_interval
        if timeout is None:
            return interval
        if interval and timeout > interval:
            de_dupe_gen_log(
                logging.WARNING,
                f"The websocket_ping_timeout ({timeout}) cannot be longer"
                f" than the websocket_ping_interval ({interval})."
                f"\nSetting websocket_ping_timeout={interval}",
            )
            return interval
        return timeout

    def start_pinging(self) -> None:
        """Launch the keep-alive task, when a ping interval is configured."""
        if self._ping_coroutine or self.ping_interval <= 0:
            return
        self._ping_coroutine = asyncio.create_task(self.periodic_ping())

    @staticmethod
    def ping_sleep_time(*, last_ping_time: float, interval: float, now: float) -> float:
        """Seconds from ``now`` until the ping that follows ``last_ping_time``
        is due (never negative)."""
        return max(0, last_ping_time + interval - now)

    async def periodic_ping(self) -> None:
        """Keep-alive task: ping every `ping_interval` seconds and close the
        connection when a pong does not come back within `ping_timeout`."""
        interval = self.ping_interval
        timeout = self.ping_timeout
        delay = interval
        while True:
            await asyncio.sleep(delay)
            sent_at = self._send_keepalive_ping()
            await asyncio.sleep(timeout)
            pong_missing = timeout > 0 and not self._received_pong
            if pong_missing:
                self.close(reason="ping timed out")
                return
            now = IOLoop.current().time()
            delay = self.ping_sleep_time(last_ping_time=sent_at, interval=interval, now=now)

    def _send_keepalive_ping(self) -> float:
        # Forget earlier pongs, ping, and return when the ping went out.
        self._received_pong = False
        started = IOLoop.current().time()
        self.write_ping(b"")
        return started


def _translate_closed(written: "Future[None]") -> "Future[None]":
    """Returns a Future like ``written`` whose StreamClosedError becomes
    WebSocketClosedError."""
    if written.done() and not written.cancelled() and written.exception() is None:
        return written
    result: Future[None] = Future()

    def copy(f: "Future[None]") -> None:
        if result.done():
            return
        if f.cancelled():
            result.cancel()
            return
        exc = f.exception()
        if exc is None:
            result.set_result(None)
        elif isinstance(exc, StreamClosedError):
            result.set_exception(WebSocketClosedError())
        else:
            result.set_exception(exc)

    written.add_done_callback(copy)
    return result


# ---------------------------------------------------------------------------
# Client side
# ---------------------------------------------------------------------------

# HTTP scheme used for the handshake of each WebSocket scheme.
_HANDSHAKE_SCHEMES = {"ws": "http", "wss": "https"}

# Limits handed to the HTTP connection that carries the handshake.
_HANDSHAKE_MAX_BUFFER = 100 * 1024 * 1024
_HANDSHAKE_MAX_HEADER = 64 * 1024
_HANDSHAKE_MAX_BODY = 100 * 1024 * 1024


def _no_release() -> None:
    # The handshake connection belongs to no client pool.
    return None


class WebSocketClientConnection(simple_httpclient._HTTPConnection):
    """The client end of a WebSocket connection.

    Obtain one from `websocket_connect`; constructing it directly is not
    supported.
    """

    protocol: WebSocketProtocol = None  # type: ignore[assignment]

    def __init__(
        self,
        request: httpclient.HTTPRequest,
        on_message_callback: Optional[Callable[[Union[None, str, bytes]], None]] = None,
        compression_options: Optional[Dict[str, Any]] = None,
        ping_interval: Optional[float] = None,
        ping_timeout: Optional[float] = None,
        max_message_size: int = _default_max_message_size,
        subprotocols: Optional[List[str]] = None,
        resolver: Optional[Resolver] = None,
    ) -> None:
        self.connect_future: Future[WebSocketClientConnection] = Future()
        # Holds at most one unread message, so a slow reader applies
        # back-pressure to the receive loop.
        self.read_queue: Queue[Union[None, str, bytes]] = Queue(1)
        self.key = b64encode(os.urandom(16))
        self._on_message_callback = on_message_callback
        self.close_code: Optional[int] = None
        self.close_reason: Optional[str] = None
        self.params = _WebSocketParams(
            ping_interval, ping_timeout, max_message_size, compression_options
        )
        self._prepare_handshake(request, subprotocols, compression_options)
        self.tcp_client = TCPClient(resolver=resolver)
        super().__init__(
            None, request, _no_release, self._on_http_response,
            _HANDSHAKE_MAX_BUFFER, self.tcp_client,
            _HANDSHAKE_MAX_HEADER, _HANDSHAKE_MAX_BODY,
        )

    def _prepare_handshake(
        self,
        request: httpclient.HTTPRequest,
        subprotocols: Optional[List[str]],
        compression_options: Optional[Dict[str, Any]],
    ) -> None:
        # Turn ``request`` into the HTTP upgrade request.
        ws_scheme, colon, remainder = request.url.partition(":")
        request.url = _HANDSHAKE_SCHEMES[ws_scheme] + colon + remainder
        headers = request.headers
        headers["Upgrade"] = "websocket"
        headers["Connection"] = "Upgrade"
        headers["Sec-WebSocket-Key"] = to_unicode(self.key)
        headers["Sec-WebSocket-Version"] = "13"
        if subprotocols is not None:
            headers["Sec-WebSocket-Protocol"] = ",".join(subprotocols)
        if compression_options is not None:
            # Offer deflate, letting the server pick our window size.
            headers["Sec-WebSocket-Extensions"] = "permessage-deflate; client_max_window_bits"
        # A redirect cannot be followed in the middle of an upgrade.
        request.follow_redirects = False

    def __del__(self) -> None:
        if self.protocol is None:
            return
        # Without this, a connection that was never closed tends to surface
        # only as "Task was destroyed but it is pending" at shutdown.
        warnings.warn("Unclosed WebSocketClientConnection", ResourceWarning)

    def close(self, code: Optional[int] = None, reason: Optional[str] = None) -> None:
        """Start the closing handshake with the server.

        See `WebSocketHandler.close` for ``code`` and ``reason``.
        """
        proto = self.protocol
        if proto is None:
            return
        proto.close(code, reason)
        self.protocol = None  # type: ignore[assignment]

    def on_ws_connection_close(
        self, close_code: Optional[int] = None, close_reason: Optional[str] = None
    ) -> None:
        self.close_code, self.close_reason = close_code, close_reason
        self.on_connection_close()

    def on_connection_close(self) -> None:
        pending = self.connect_future
        if not pending.done():
            pending.set_exception(StreamClosedError())
        # Readers see None once the connection is gone.
        self._on_message(None)
        self.tcp_client.close()
        super().on_connection_close()

    def _on_http_response(self, response: httpclient.HTTPResponse) -> None:
        # Reached only when the server did not switch protocols.
        if self.connect_future.done():
            return
        error = response.error or WebSocketError("Non-websocket response")
        self.connect_future.set_exception(error)

    async def headers_received(
        self,
        start_line: Union[httputil.RequestStartLine, httputil.ResponseStartLine],
        headers: httputil.HTTPHeaders,
    ) -> None:
        assert isinstance(start_line, httputil.ResponseStartLine)
        if start_line.code == 101:
            self._switch_to_websocket(headers)
            return
        await super().headers_received(start_line, headers)

    def _switch_to_websocket(self, headers: httputil.HTTPHeaders) -> None:
        timer, self._timeout = self._timeout, None
        if timer is not None:
            self.io_loop.remove_timeout(timer)
        self.headers = headers
        proto = self.get_websocket_protocol()
        self.protocol = proto
        proto._process_server_headers(self.key, headers)
        proto.stream = self.connection.detach()
        IOLoop.current().add_callback(proto._receive_frame_loop)
        proto.start_pinging()
        # From here on the stream is ours; failures must not be reported
        # through the HTTP client's callback any more.
        self.final_callback = None  # type: ignore[assignment]
        future_set_result_unless_cancelled(self.connect_future, self)

    def write_message(
        self, message: Union[str, bytes, Dict[str, Any]], binary: bool = False
    ) -> "Future[None]":
        """Send ``message`` to the server (see `WebSocketHandler.write_message`).

        Raises `WebSocketClosedError` after the connection was closed; the
        returned `.Future` can be used for flow control.
        """
        proto = self.protocol
        if proto is None:
            raise WebSocketClosedError("Client connection has been closed")
        return proto.write_message(message, binary=binary)

    def read_message(
        self,
        callback: Optional[Callable[["Future[Union[None, str, bytes]]"], None]] = None,
    ) -> Awaitable[Union[None, str, bytes]]:
        """Wait for the next message from the server.

        The result is ``None`` once the connection has closed.  Nothing is
        ever returned here when the connection was created with an
        ``on_message_callback``.  ``callback``, if given, is called with the
        future once it is done.
        """
        next_item = self.read_queue.get()
        if callback is not None:
            as_future = asyncio.ensure_future(next_item)
            self.io_loop.add_future(as_future, callback)
        return next_item

    def on_message(self, message: Union[str, bytes]) -> Optional[Awaitable[None]]:
        return self._on_message(message)

    def _on_message(
        self, message: Union[None, str, bytes]
    ) -> Optional[Awaitable[None]]:
        deliver = self._on_message_callback
        if not deliver:
            return self.read_queue.put(message)
        deliver(message)
        return None

    def ping(self, data: bytes = b"") -> None:
        """Send a ping frame, with up to 125 bytes of ``data``.

        For regular pings, pass ``ping_interval`` to `websocket_connect`.
        """
        payload = utf8(data)
        proto = self.protocol
        if proto is None:
            raise WebSocketClosedError()
        proto.write_ping(payload)

    def on_pong(self, data: bytes) -> None:
        pass

    def on_ping(self, data: bytes) -> None:
        pass

    def get_websocket_protocol(self) -> WebSocketProtocol:
        return WebSocketProtocol13(self, mask_outgoing=True, params=self.params)

    @property
    def selected_subprotocol(self) -> Optional[str]:
        """The subprotocol the server agreed to, or ``None``.

        .. versionadded:: 5.1
        """
        return self.protocol.selected_subprotocol

    def log_exception(
        self,
        typ: "Optional[Type[BaseException]]",
        value: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        assert typ is not None and value is not None
        app_log.error("Uncaught exception %s", value, exc_info=(typ, value, tb))


_CALLBACK_DEPRECATION = (
    "The callback argument to websocket_connect is deprecated. "
    "Use the returned Future instead."
)


def _handshake_request(
    url: Union[str, httpclient.HTTPRequest], connect_timeout: Optional[float]
) -> httpclient.HTTPRequest:
    # The request the client connection will send, with HTTPRequest's
    # defaults filled in.
    if not isinstance(url, httpclient.HTTPRequest):
        request = httpclient.HTTPRequest(url, connect_timeout=connect_timeout)
    else:
        assert connect_timeout is None
        request = url
        # The handshake headers are added to a copy, not the caller's object.
        request.headers = httputil.HTTPHeaders(request.headers)
    proxy = httpclient._RequestProxy(request, httpclient.HTTPRequest._DEFAULTS)
    return cast(httpclient.HTTPRequest, proxy)


def websocket_connect(
    url: Union[str, httpclient.HTTPRequest],
    callback: Optional[Callable[["Future[WebSocketClientConnection]"], None]] = None,
    connect_timeout: Optional[float] = None,
    on_message_callback: Optional[Callable[[Union[None, str, bytes]], None]] = None,
    compression_options: Optional[Dict[str, Any]] = None,
    ping_interval: Optional[float] = None,
    ping_timeout: Optional[float] = None,
    max_message_size: int = _default_max_message_size,
    subprotocols: Optional[List[str]] = None,
    resolver: Optional[Resolver] = None,
) -> "Awaitable[WebSocketClientConnection]":
    """Open a WebSocket client connection.

    ``url`` is a ``ws://`` or ``wss://`` URL or an `.HTTPRequest` for one.
    The returned Future resolves to a `WebSocketClientConnection` once the
    handshake has succeeded.

    Messages are consumed either by awaiting
    `~.WebSocketClientConnection.read_message` repeatedly::

        conn = await websocket_connect("ws://localhost:8888/feed")
        while (msg := await conn.read_message()) is not None:
            handle(msg)

    or by passing ``on_message_callback``.  Either way, ``None`` signals
    that the connection has closed.

    ``compression_options`` has the meaning of
    `.WebSocketHandler.get_compression_options`'s return value.
    ``subprotocols`` lists the subprotocols to offer (see
    ``selected_subprotocol`` for the server's choice); ``ping_interval``,
    ``ping_timeout`` and ``max_message_size`` behave as the corresponding
    `WebSocketHandler` settings.

    .. deprecated:: 6.5
       ``callback`` is deprecated and goes away in Tornado 7.0; use the
       returned Future.
    """
    request = _handshake_request(url, connect_timeout)
    conn = WebSocketClientConnection(
        request, on_message_callback=on_message_callback,
        compression_options=compression_options, ping_interval=ping_interval,
        ping_timeout=ping_timeout, max_message_size=max_message_size,
        subprotocols=subprotocols, resolver=resolver,
    )
    if callback is not None:
        warnings.warn(_CALLBACK_DEPRECATION, DeprecationWarning, stacklevel=2)
        IOLoop.current().add_future(conn.connect_future, callback)
    return conn.connect_future
