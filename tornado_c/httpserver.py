"""A non-blocking, single-threaded HTTP server (Tornado's ``tornado.httpserver``).

Usually created for you by `tornado_c.web.Application.listen`; create an
`HTTPServer` yourself to pass options (TLS, limits, proxy headers) or to
start it from pre-bound sockets.

`HTTPServer` is a `.TCPServer` that speaks HTTP/1.x on each accepted
connection (through `.HTTP1ServerConnection`) and hands every request to its
``request_callback``: an `.HTTPServerConnectionDelegate` such as
`tornado_c.web.Application`, or a plain callable taking an
`.HTTPServerRequest`.
"""

from __future__ import annotations

import socket
import ssl
import typing
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple, Type, Union

from tornado_c import httputil, iostream, netutil
from tornado_c.escape import native_str
from tornado_c.http1connection import HTTP1ConnectionParameters, HTTP1ServerConnection
from tornado_c.tcpserver import TCPServer
from tornado_c.util import Configurable

if typing.TYPE_CHECKING:
    from typing import Set  # noqa: F401


class HTTPServer(TCPServer, Configurable, httputil.HTTPServerConnectionDelegate):
    r"""A non-blocking, single-threaded HTTP server.

    ``request_callback`` is an `.HTTPServerConnectionDelegate` (normally a
    `tornado_c.web.Application`) or, for backwards compatibility, a callable
    that receives each `.HTTPServerRequest` once its body has been read.

    Keep-alive is on by default (HTTP/1.1, or HTTP/1.0 with
    ``Connection: keep-alive``); ``no_keep_alive=True`` closes every
    connection after one request.

    With ``xheaders=True`` the ``X-Real-Ip`` / ``X-Forwarded-For`` and
    ``X-Scheme`` / ``X-Forwarded-Proto`` headers set the request's
    ``remote_ip`` and ``protocol`` (use this behind a reverse proxy).  The
    last ``X-Forwarded-For`` address is used unless it is listed in
    ``trusted_downstream``, in which case the next one to the left is taken.
    ``protocol="https"`` marks requests as HTTPS behind a TLS-terminating
    proxy that sends none of those headers.

    ``ssl_options`` (an `ssl.SSLContext`, or a dict of
    `ssl.SSLContext.wrap_socket` arguments) makes the server speak TLS.

    Limits: ``max_header_size`` (default 64 KiB), ``max_body_size`` and
    ``max_buffer_size`` (default 100 MiB), ``chunk_size`` (how much body is
    read at a time), ``idle_connection_timeout`` (default one hour: how long
    to wait for the next request's headers) and ``body_timeout``.
    ``decompress_request=True`` decodes gzip request bodies.

    Start it with `~.TCPServer.listen`, `~.TCPServer.add_sockets` (e.g.
    after `tornado_c.process.fork_processes`) or, deprecated,
    `~.TCPServer.bind` / `~.TCPServer.start`::

        async def main():
            server = HTTPServer(app)
            server.listen(8888)
            await asyncio.Event().wait()

        asyncio.run(main())

    To serve TLS::

        ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_ctx.load_cert_chain("mydomain.crt", "mydomain.key")
        HTTPServer(app, ssl_options=ssl_ctx)
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Construction happens in initialize(), which Configurable.__new__
        # invokes with the caller's arguments; nothing is left to do here.
        pass

    def initialize(
        self,
        request_callback: Union[
            httputil.HTTPServerConnectionDelegate,
            Callable[[httputil.HTTPServerRequest], None],
        ],
        no_keep_alive: bool = False,
        xheaders: bool = False,
        ssl_options: Optional[Union[Dict[str, Any], ssl.SSLContext]] = None,
        protocol: Optional[str] = None,
        decompress_request: bool = False,
        chunk_size: Optional[int] = None,
        max_header_size: Optional[int] = None,
        idle_connection_timeout: Optional[float] = None,
        body_timeout: Optional[float] = None,
        max_body_size: Optional[int] = None,
        max_buffer_size: Optional[int] = None,
        trusted_downstream: Optional[List[str]] = None,
    ) -> None:
        # The TCP layer first: it validates ssl_options and stores the
        # stream-level buffer settings.
        TCPServer.__init__(
            self, ssl_options, max_buffer_size=max_buffer_size, read_chunk_size=chunk_size
        )
        self.conn_params = HTTP1ConnectionParameters(
            no_keep_alive=no_keep_alive,
            chunk_size=chunk_size,
            max_header_size=max_header_size,
            header_timeout=idle_connection_timeout or _DEFAULT_IDLE_TIMEOUT,
            max_body_size=max_body_size,
            body_timeout=body_timeout,
            decompress=decompress_request,
        )
        self.request_callback = request_callback
        self.xheaders = xheaders
        self.protocol = protocol
        self.trusted_downstream = trusted_downstream
        self._connections: "Set[HTTP1ServerConnection]" = set()

    @classmethod
    def configurable_base(cls) -> Type[Configurable]:
        return HTTPServer

    @classmethod
    def configurable_default(cls) -> Type[Configurable]:
        return HTTPServer

    async def close_all_connections(self) -> None:
        """Close every open connection and wait until each has finished.

        Call `~.TCPServer.stop` first to stop accepting, then ``await
        close_all_connections()`` for a clean shutdown (e.g. in tests).
        Websocket connections are not closed by this method.
        """
        # Each close() ends in on_close(), which drops the connection from
        # the set; keep going until nothing is left (new ones may appear
        # while we wait).
        while self._connections:
            victim = next(iter(self._connections))
            await victim.close()

    def handle_stream(self, stream: iostream.IOStream, address: Tuple) -> None:
        server_conn = HTTP1ServerConnection(
            stream,
            self.conn_params,
            _HTTPRequestContext(stream, address, self.protocol, self.trusted_downstream),
        )
        self._connections.add(server_conn)
        server_conn.start_serving(self)

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        target = self.request_callback
        if isinstance(target, httputil.HTTPServerConnectionDelegate):
            inner = target.start_request(server_conn, request_conn)
        else:
            inner = _CallableAdapter(target, request_conn)
        if not self.xheaders:
            return inner
        return _ProxyAdapter(inner, request_conn)

    def _native_dispatch(self) -> Optional[Tuple[Any, ...]]:
        """What the native HTTP/1 engine needs to serve this server's
        requests without calling `start_request` for each: ``(1, callback,
        HTTPServerRequest, routing._unrouted, the original
        HTTPServerRequest._parse_body)`` for a plain request callback, ``(2,
        router, HTTPServerRequest, routing._unrouted)`` for a router that
        keeps `.Router.start_request`; None when `start_request` is
        overridden, ``xheaders`` is on, or the target is another kind of
        connection delegate (see ``_core.Dispatch``)."""
        # Compared with the original functions, so that a start_request
        # patched onto HTTPServer or Router (instrumentation) is called.
        if type(self).start_request is not _START_REQUEST or self.xheaders:
            return None
        from tornado_c import routing

        target = self.request_callback
        if not isinstance(target, httputil.HTTPServerConnectionDelegate):
            # (The engine skips request._parse_body() when this original
            # would return at once: no Content-Type.)
            return (
                1, target, httputil.HTTPServerRequest, routing._unrouted,
                httputil._PARSE_BODY,
            )  # fmt: skip
        if (
            isinstance(target, routing.Router)
            and type(target).start_request is routing._ROUTER_START_REQUEST
        ):
            return (2, target, httputil.HTTPServerRequest, routing._unrouted)
        return None

    def on_close(self, server_conn: object) -> None:
        self._connections.remove(typing.cast(HTTP1ServerConnection, server_conn))


_START_REQUEST = HTTPServer.__dict__["start_request"]


# How long (seconds) a kept-alive connection may sit idle waiting for the
# next request's headers when the caller does not say.
_DEFAULT_IDLE_TIMEOUT = 3600


class _CallableAdapter(httputil.HTTPMessageDelegate):
    """Collects a whole request, then calls a plain ``request_callback``."""

    def __init__(
        self,
        request_callback: Callable[[httputil.HTTPServerRequest], None],
        request_conn: httputil.HTTPConnection,
    ) -> None:
        self._chunks: List[bytes] = []
        self.delegate = None
        self.request: Optional[httputil.HTTPServerRequest] = None
        self.request_callback = request_callback
        self.connection = request_conn

    def headers_received(
        self,
        start_line: Union[httputil.RequestStartLine, httputil.ResponseStartLine],
        headers: httputil.HTTPHeaders,
    ) -> Optional[Awaitable[None]]:
        self.request = httputil.HTTPServerRequest(
            connection=self.connection,
            start_line=start_line,  # type: ignore[arg-type]
            headers=headers,
        )
        return None

    def data_received(self, chunk: bytes) -> Optional[Awaitable[None]]:
        self._chunks.append(chunk)
        return None

    def finish(self) -> None:
        if self.request is None:
            raise AssertionError("finish() before headers_received()")
        whole = self.request
        whole.body = b"".join(self._chunks)
        whole._parse_body()
        self.request_callback(whole)

    def on_connection_close(self) -> None:
        # The request will never complete; let the buffered body go.
        del self._chunks


class _HTTPRequestContext:
    """The ``context`` of a server connection: peer address, ``remote_ip``
    and ``protocol`` (which proxy headers may override per request)."""

    # The request built in C reads remote_ip and protocol from their slots
    # (csrc/request.c).
    __slots__ = ("address", "trusted_downstream", "address_family", "remote_ip", "protocol",
                 "_orig_remote_ip", "_orig_protocol", "__dict__", "__weakref__")

    def __init__(
        self,
        stream: iostream.IOStream,
        address: Tuple,
        protocol: Optional[str],
        trusted_downstream: Optional[List[str]] = None,
    ) -> None:
        self.address = address
        self.trusted_downstream = set(trusted_downstream) if trusted_downstream else set()
        family = None if stream.socket is None else stream.socket.family
        self.address_family = family
        # Only IP sockets have a meaningful peer address; anything else
        # (unix sockets, ...) reports a placeholder.
        has_ip = family in _IP_FAMILIES and address is not None
        self.remote_ip = address[0] if has_ip else "0.0.0.0"
        if not protocol:
            is_tls = isinstance(stream, iostream.SSLIOStream)
            protocol = "https" if is_tls else "http"
        self.protocol = protocol
        # Remembered so per-request proxy overrides can be rolled back.
        self._orig_remote_ip, self._orig_protocol = self.remote_ip, self.protocol

    def __str__(self) -> str:
        if self.address_family in _IP_FAMILIES:
            return self.remote_ip
        where = self.address
        # Abstract-namespace unix socket names arrive as bytes on Linux.
        return native_str(where) if isinstance(where, bytes) else str(where)

    def _apply_xheaders(self, headers: httputil.HTTPHeaders) -> None:
        """Set ``remote_ip`` and ``protocol`` from proxy headers."""
        candidate = headers.get("X-Real-Ip")
        if candidate is None:
            candidate = self._last_untrusted_hop(
                headers.get("X-Forwarded-For", self.remote_ip)
            )
        if netutil.is_valid_ip(candidate):
            self.remote_ip = candidate

        scheme = headers.get("X-Scheme")
        if scheme is None:
            scheme = headers.get("X-Forwarded-Proto", self.protocol)
        if scheme:
            # A chain of proxies yields a list; the nearest one is last.
            scheme = scheme.rsplit(",", 1)[-1].strip()
        if scheme == "http" or scheme == "https":
            self.protocol = scheme

    def _last_untrusted_hop(self, chain: str) -> str:
        # Scan right to left, passing over our own trusted proxies; if every
        # hop is trusted the leftmost one is what remains.
        hops = [part.strip() for part in chain.split(",")]
        while len(hops) > 1 and hops[-1] in self.trusted_downstream:
            hops.pop()
        return hops[-1]

    def _unapply_xheaders(self) -> None:
        """Undo `_apply_xheaders`: proxy headers apply to one request only,
        not to the next one on the same connection."""
        self.protocol = self._orig_protocol
        self.remote_ip = self._orig_remote_ip


_IP_FAMILIES = (socket.AF_INET, socket.AF_INET6)


class _ProxyAdapter(httputil.HTTPMessageDelegate):
    """Applies proxy headers (``xheaders``) around another delegate."""

    def __init__(
        self,
        delegate: httputil.HTTPMessageDelegate,
        request_conn: httputil.HTTPConnection,
    ) -> None:
        self.delegate = delegate
        self.connection = request_conn

    def headers_received(
        self,
        start_line: Union[httputil.RequestStartLine, httputil.ResponseStartLine],
        headers: httputil.HTTPHeaders,
    ) -> Optional[Awaitable[None]]:
        ctx = self.connection.context  # type: ignore[attr-defined]
        ctx._apply_xheaders(headers)
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Optional[Awaitable[None]]:
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        self._then_restore(self.delegate.finish)

    def on_connection_close(self) -> None:
        self._then_restore(self.delegate.on_connection_close)

    def _then_restore(self, step: Callable[[], None]) -> None:
        # Forward the event, then drop this request's proxy overrides.
        step()
        self._cleanup()

    def _cleanup(self) -> None:
        ctx = self.connection.context  # type: ignore[attr-defined]
        ctx._unapply_xheaders()


# The request class's old name (before 4.0 it lived here).
HTTPRequest = httputil.HTTPServerRequest
