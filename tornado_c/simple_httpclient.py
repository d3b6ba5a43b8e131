"""Pure-Python HTTP client (``tornado.simple_httpclient``).

`SimpleAsyncHTTPClient`, the default `.AsyncHTTPClient`, needs nothing
outside this package: it opens `.TCPClient` streams and speaks HTTP/1.1
over them with a client-side `.HTTP1Connection`, one fresh connection per
request.
"""

from __future__ import annotations

import os
import sys
import time
import copy
import re
import ssl
import socket
import base64
import functools
import collections
import urllib.parse
from io import BytesIO
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Type, Union

from tornado_c import gen, httputil, version
from tornado_c.escape import _unicode
from tornado_c.httpclient import AsyncHTTPClient, HTTPError, HTTPRequest
from tornado_c.httpclient import HTTPResponse, _RequestProxy, main
from tornado_c.http1connection import HTTP1Connection, HTTP1ConnectionParameters
from tornado_c.http1connection import _NativeHTTP1ClientConnection, native_client_eligible
from tornado_c.http1connection import _core
from tornado_c import http1connection
from tornado_c.util import GzipDecompressor
from tornado_c.iostream import IOStream, StreamClosedError
from tornado_c.ioloop import IOLoop
from tornado_c.log import gen_log
from tornado_c import netutil
from tornado_c.netutil import DefaultLoopResolver, OverrideResolver, Resolver, is_valid_ip
from tornado_c.netutil import _client_ssl_defaults
from tornado_c.tcpclient import TCPClient

if TYPE_CHECKING:
    from typing import Deque, List, Tuple  # noqa: F401

_Callback = Callable[[HTTPResponse], None]

# Statuses that send the client elsewhere when follow_redirects is on.
_REDIRECT_STATUSES = frozenset((301, 302, 303, 307, 308))

# Request headers that only describe a body; dropped when a redirect turns
# the request into a GET.
_BODY_HEADERS = ("Content-Type", "Content-Length", "Transfer-Encoding", "Content-Encoding")

# Options of HTTPRequest that this client cannot honour.
_PROXY_OPTIONS = ("proxy_host", "proxy_port") + tuple(
    "proxy_" + suffix for suffix in ("username", "password", "auth_mode")
)

_IPV6_LITERAL = re.compile(r"^\[.*\]$")

# Methods a request may be re-sent with after a kept-alive connection fails
# before any answer (RFC 9110 9.2.2).
_RETRY_METHODS = frozenset(("GET", "HEAD", "OPTIONS", "PUT", "DELETE"))


def _shortest(*limits: Optional[float]) -> Optional[float]:
    """The smallest of the given timeouts that is set and non-zero."""
    active = [limit for limit in limits if limit]
    return min(active) if active else None


def _timeout_text(info: Optional[str]) -> str:
    return "Timeout %s" % info if info else "Timeout"


def _strip_userinfo(netloc: str) -> str:
    # "user:pw@host:port" -> "host:port"
    return netloc.rpartition("@")[2]


class HTTPTimeoutError(HTTPError):
    """A request made by SimpleAsyncHTTPClient ran out of time.

    It derives from `.HTTPClientError`, with the conventional code 599,
    for historical reasons.

    .. versionadded:: 5.1
    """

    def __init__(self, message: str) -> None:
        super().__init__(599, message=message)

    def __str__(self) -> str:
        return self.message if self.message else "Timeout"


class HTTPStreamClosedError(HTTPError):
    """SimpleAsyncHTTPClient lost its connection before the response was
    complete.

    A more precise exception (`ConnectionResetError`, for instance) is
    raised in its place when one is known.  Like `HTTPTimeoutError`, it is
    an `.HTTPClientError` with code 599, for historical reasons.

    .. versionadded:: 5.1
    """

    def __init__(self, message: str) -> None:
        super().__init__(599, message=message)

    def __str__(self) -> str:
        return self.message if self.message else "Stream closed"


def _has_unread_data(stream: IOStream) -> bool:
    native = getattr(stream, "_native", None)
    if native is not None:
        return native.read_buffer_size > 0
    return stream._read_buffer_size > 0


class SimpleAsyncHTTPClient(AsyncHTTPClient):
    """`.AsyncHTTPClient` implementation with no dependencies.

    HTTP/1.1 over `.IOStream`.  Limitations: no proxy support, no
    connection reuse unless a request asks for it with a ``Connection:
    keep-alive`` header (plain HTTP only; beyond Tornado, which always
    closes), and ``network_interface`` must be an IP address.

    Settings (given to ``configure()`` for the shared instances, or to the
    constructor together with ``force_instance=True``):

    * ``max_clients``: how many requests may run at once; others wait in a
      queue, and the wait counts towards their ``request_timeout``.
    * ``defaults``: default values for `.HTTPRequest` attributes.
    * ``hostname_mapping``: host name to IP address overrides (handy in
      tests or for local DNS tweaks).
    * ``resolver``: a `.Resolver` to use in place of the default.
    * ``max_buffer_size``: bytes that may be held in memory at once
      (100MB by default).
    * ``max_body_size``: the largest response body accepted; defaults to
      ``max_buffer_size``.  Without a ``streaming_callback`` the lower of
      the two limits applies, with one only ``max_body_size`` does.
    * ``max_header_size``: the largest response header block accepted.

    .. versionchanged:: 4.2
        New ``max_body_size`` setting.
    """

    def initialize(  # type: ignore[override]
        self,
        max_clients: int = 10,
        hostname_mapping: Optional[Dict[str, str]] = None,
        max_buffer_size: int = 104857600,
        resolver: Optional[Resolver] = None,
        defaults: Optional[Dict[str, Any]] = None,
        max_header_size: Optional[int] = None,
        max_body_size: Optional[int] = None,
    ) -> None:
        super().initialize(defaults=defaults)
        self.max_header_size = max_header_size
        self.max_body_size = max_body_size
        self.max_buffer_size = max_buffer_size
        self.max_clients = max_clients
        # Pending fetches in arrival order: (key, request, callback).
        self.queue: "Deque[Tuple[object, HTTPRequest, _Callback]]" = collections.deque()
        # Fetches not started yet: key -> (request, callback, queue timer).
        self.waiting: "Dict[object, Tuple[HTTPRequest, _Callback, object]]" = {}
        # Fetches in progress: key -> (request, callback).
        self.active: "Dict[object, Tuple[HTTPRequest, _Callback]]" = {}
        # Only a resolver created here is closed along with the client.
        base_resolver = resolver or Resolver()
        self.own_resolver = not resolver
        if hostname_mapping is None:
            self.resolver: Resolver = base_resolver
        else:
            self.resolver = OverrideResolver(
                resolver=base_resolver, mapping=hostname_mapping
            )
        self.tcp_client = TCPClient(resolver=self.resolver)
        # Beyond Tornado: connections kept open after a request that asked
        # for "Connection: keep-alive", by (host, port, family, source); and
        # those of the C fetch path, by (host, port, family).
        self._idle_streams: "Dict[Tuple[Any, ...], List[IOStream]]" = {}
        self._native_idle: "Dict[Tuple[Any, ...], List[_NativeFetch]]" = {}

    def close(self) -> None:
        idle, self._idle_streams = self._idle_streams, {}
        for streams in idle.values():
            for stream in streams:
                stream.set_close_callback(None)
                stream.close()
        native_idle, self._native_idle = self._native_idle, {}
        for fetches in native_idle.values():
            for fetch in fetches:
                fetch.close()
        super().close()
        # A resolver passed in by the caller stays open.
        owned = self.resolver if self.own_resolver else None
        if owned is not None:
            owned.close()
        self.tcp_client.close()

    def fetch_impl(
        self, request: HTTPRequest, callback: Callable[[HTTPResponse], None]
    ) -> None:
        if (
            not self.queue
            and len(self.active) < self.max_clients
            and type(self)._process_queue is _PROCESS_QUEUE
            and type(self)._remove_timeout is _REMOVE_TIMEOUT
            and request.connect_timeout is not None
            and request.request_timeout is not None
        ):
            # Nothing queued and room for it: what the queue round below
            # comes to (enqueued, then taken at once, with no timer).
            key = object()
            self.active[key] = (request, callback)
            release = functools.partial(self._release_fetch, key)
            self._handle_request(request, release, callback)
            return
        entry = (object(), request, callback)
        self.queue.append(entry)
        key = entry[0]
        assert request.connect_timeout is not None
        assert request.request_timeout is not None
        timer = None
        if len(self.active) >= self.max_clients:
            # It will have to wait; bound the wait by the request's limits.
            limit = _shortest(request.connect_timeout, request.request_timeout)
            if limit is not None:
                expire = functools.partial(self._on_timeout, key, "in request queue")
                timer = self.io_loop.add_timeout(self.io_loop.time() + limit, expire)
        self.waiting[key] = (request, callback, timer)
        self._process_queue()
        if not self.queue:
            return
        gen_log.debug(
            "max_clients limit reached, request queued. "
            "%d active, %d queued requests." % (len(self.active), len(self.queue))
        )

    def _process_queue(self) -> None:
        while len(self.active) < self.max_clients and self.queue:
            key, request, callback = self.queue.popleft()
            if key in self.waiting:  # otherwise it expired while queued
                self._remove_timeout(key)
                self.active[key] = (request, callback)
                release = functools.partial(self._release_fetch, key)
                self._handle_request(request, release, callback)

    def _connection_class(self) -> type:
        return _HTTPConnection

    def _handle_request(
        self,
        request: HTTPRequest,
        release_callback: Callable[[], None],
        final_callback: Callable[[HTTPResponse], None],
    ) -> None:
        if _native_fetch(self, request, release_callback, final_callback):
            return
        factory = self._connection_class()
        factory(
            self, request, release_callback, final_callback,
            self.max_buffer_size, self.tcp_client,
            self.max_header_size, self.max_body_size,
        )  # fmt: skip

    def _take_idle_stream(self, key: "Tuple[Any, ...]") -> Optional[IOStream]:
        # A kept-alive connection to the same place that is still open and
        # has nothing unread on it, or None.
        streams = self._idle_streams.get(key)
        while streams:
            stream = streams.pop()
            if not streams:
                del self._idle_streams[key]
            stream.set_close_callback(None)
            if not stream.closed() and not _has_unread_data(stream):
                return stream
            stream.close()
            streams = self._idle_streams.get(key)
        return None

    def _keep_idle_stream(self, key: "Tuple[Any, ...]", stream: IOStream) -> None:
        streams = self._idle_streams.setdefault(key, [])
        if stream.closed() or len(streams) >= self.max_clients:
            stream.close()
            if not streams:
                del self._idle_streams[key]
            return
        streams.append(stream)
        # A server closing the idle connection takes it out of the pool.
        stream.set_close_callback(functools.partial(self._forget_idle_stream, key, stream))

    def _forget_idle_stream(self, key: "Tuple[Any, ...]", stream: IOStream) -> None:
        streams = self._idle_streams.get(key)
        if streams and stream in streams:
            streams.remove(stream)
            if not streams:
                del self._idle_streams[key]

    def _release_fetch(self, key: object) -> None:
        del self.active[key]
        self._process_queue()

    def _remove_timeout(self, key: object) -> None:
        if key in self.waiting:
            timer = self.waiting.pop(key)[2]
            if timer is not None:
                self.io_loop.remove_timeout(timer)

    def _on_timeout(self, key: object, info: Optional[str] = None) -> None:
        """Answer a request that waited too long in the queue.

        :arg object key: identifies the queued request.
        :arg str info: what the request was doing, for the error message.
        """
        request, callback, _ = self.waiting[key]
        self.queue.remove((key, request, callback))
        elapsed = self.io_loop.time() - request.start_time
        failure = HTTPTimeoutError(_timeout_text(info))
        self.io_loop.add_callback(
            callback, HTTPResponse(request, 599, error=failure, request_time=elapsed)
        )
        del self.waiting[key]


def _complete_headers(
    request: HTTPRequest, host: str, user: Optional[str], secret: Optional[str]
) -> None:
    # Add what the request needs and the caller left out.  The order of
    # insertion is the order on the wire.
    headers = request.headers
    if "Connection" not in headers:
        headers["Connection"] = "close"
    if "Host" not in headers:
        headers["Host"] = host
    if user is not None:
        assert secret is not None
        if request.auth_mode not in (None, "basic"):
            raise ValueError("unsupported auth_mode %s", request.auth_mode)
        token = base64.b64encode(httputil.encode_username_password(user, secret))
        headers["Authorization"] = "Basic " + _unicode(token)
    if request.user_agent:
        headers["User-Agent"] = request.user_agent
    elif headers.get("User-Agent") is None:
        headers["User-Agent"] = f"Tornado/{version}"
    if not request.allow_nonstandard_methods:
        # A body on a method that takes none (or none where one is
        # expected) is almost always a mistake, so refuse it.
        needs_body = request.method in ("POST", "PATCH", "PUT")
        has_body = not (request.body is None and request.body_producer is None)
        if needs_body != has_body:
            negation = "not " if needs_body else ""
            raise ValueError(
                "Body must %sbe None for method %s (unless "
                "allow_nonstandard_methods is true)" % (negation, request.method)
            )
    if request.expect_100_continue:
        headers["Expect"] = "100-continue"
    if request.body is not None:
        # A body_producer's length is the caller's business (or the body
        # goes out chunked).
        headers["Content-Length"] = str(len(request.body))
    if "Content-Type" not in headers and request.method == "POST":
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if request.decompress_response:
        headers["Accept-Encoding"] = "gzip"


class _HTTPConnection(httputil.HTTPMessageDelegate):
    _SUPPORTED_METHODS = {"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"}
    # (Set by _adopt, for _perform: a request the C fetch path sent.)
    _adopted: "Tuple[IOStream, httputil.RequestStartLine]"

    def __init__(
        self,
        client: Optional[SimpleAsyncHTTPClient],
        request: HTTPRequest,
        release_callback: Callable[[], None],
        final_callback: Callable[[HTTPResponse], None],
        max_buffer_size: int,
        tcp_client: TCPClient,
        max_header_size: int,
        max_body_size: int,
    ) -> None:
        self.io_loop = IOLoop.current()
        self.start_wall_time = time.time()
        self.start_time = self.io_loop.time()
        self.request = request
        self.client = client
        self.tcp_client = tcp_client
        self.final_callback = final_callback
        self.release_callback = release_callback
        self.max_header_size = max_header_size
        self.max_buffer_size = max_buffer_size
        self.max_body_size = max_body_size
        # Response state.
        self.code: Optional[int] = None
        self.headers: Optional[httputil.HTTPHeaders] = None
        self.chunks: "List[bytes]" = []
        self._decompressor = None
        self._sockaddr = None
        self._timeout: object = None
        # Connection reuse (see _keep_alive_requested): which attempt this
        # is, and whether the retry may not take a pooled connection.
        self._attempt = 0
        self._no_pool = False
        self._reused = False
        # run() handles its own errors; anything else is logged by the loop.
        task = gen.convert_yielded(self.run())
        self.io_loop.add_future(task, lambda f: f.result())

    @classmethod
    def _adopt(cls, fetch: "_NativeFetch", stream: IOStream) -> "_HTTPConnection":
        # Takes over a request the C fetch path sent (see _NativeFetch
        # ._handover): the connection and the response bytes read so far
        # are in ``stream``.  Made as _handle_request makes one, the fetch's
        # start times put back before run() starts, which goes straight to
        # reading the response (_perform); from there on all is as if this
        # object had sent the request itself.
        client = fetch.client
        self = cls.__new__(cls)
        self._adopted = (stream, fetch.start_line)
        self.__init__(  # type: ignore[misc]
            client, fetch.request, fetch.release_callback, fetch.final_callback,
            client.max_buffer_size, client.tcp_client,
            client.max_header_size, client.max_body_size,
        )  # fmt: skip
        self.start_time = fetch.start_time
        self.start_wall_time = fetch.start_wall_time
        return self

    def _take_over(self, stream: IOStream, start_line: httputil.RequestStartLine) -> None:
        # The state _perform leaves once the request is sent (_adopt).
        self._locate()
        self._pool_key: "Optional[Tuple[Any, ...]]" = None
        self.stream = stream
        stream.set_close_callback(self.on_connection_close)
        whole_limit = self.request.request_timeout
        if whole_limit:
            self._timeout = self.io_loop.add_timeout(
                self.start_time + whole_limit,
                functools.partial(self._on_timeout, "during request"),
            )
        self.connection = self._create_connection(stream)
        self.connection._request_sent(start_line)

    async def run(self) -> None:
        attempt = self._attempt
        try:
            await self._perform()
        except Exception:
            if attempt != self._attempt:
                return  # a kept-alive connection failed and a retry took over
            if not self._handle_exception(*sys.exc_info()):
                raise

    def _may_retry(self) -> bool:
        # A request sent on a kept-alive connection that the server closed
        # before answering (it may have closed it just as the request went
        # out) is sent again once on a new connection, when that is safe:
        # an idempotent method with no body producer, and nothing received.
        return (
            getattr(self, "_reused", False)
            and self.final_callback is not None
            and self.code is None
            and self.request.method in _RETRY_METHODS
            and self.request.body_producer is None
        )

    def _retry(self) -> None:
        self._reused = False
        self._attempt += 1
        stream = self.stream
        stream.set_close_callback(None)
        stream.close()
        self._remove_timeout()
        self.chunks = []
        self.headers = None
        self._no_pool = True
        task = gen.convert_yielded(self.run())
        self.io_loop.add_future(task, lambda f: f.result())

    def _locate(self) -> "Tuple[str, int]":
        # Parse the URL; returns the host and port to connect to.
        target = urllib.parse.urlsplit(_unicode(self.request.url))
        self.parsed = target
        if target.scheme not in ("http", "https"):
            raise ValueError("Unsupported url scheme: %s" % self.request.url)
        host, port = httputil.split_host_and_port(_strip_userinfo(target.netloc))
        if port is None:
            port = {"https": 443}.get(target.scheme, 80)
        if _IPV6_LITERAL.match(host):
            host = host[1:-1]
        self.parsed_hostname = host
        return host, port

    def _source_address(self) -> Optional[str]:
        interface = self.request.network_interface
        if not interface:
            return None
        if is_valid_ip(interface):
            return interface
        raise ValueError(
            "Unrecognized IPv4 or IPv6 address for network_interface, got %r"
            % (interface,)
        )

    def _check_request_options(self) -> None:
        request = self.request
        if not request.allow_nonstandard_methods:
            if request.method not in self._SUPPORTED_METHODS:
                raise KeyError("unknown method %s" % request.method)
        for option in _PROXY_OPTIONS:
            if getattr(request, option, None):
                raise NotImplementedError("%s not supported" % option)

    async def _perform(self) -> None:
        # (getattr and del: reading self.__dict__ on CPython 3.11+ turns the
        # instance's inline attributes into a dict.)
        adopted = getattr(self, "_adopted", None)
        if adopted is not None:
            del self._adopted
            self._take_over(*adopted)
            await self._read_answer()
            return
        request = self.request
        host, port = self._locate()
        family = socket.AF_UNSPEC
        if request.allow_ipv6 is False:
            family = socket.AF_INET
        tls = self._get_ssl_options(self.parsed.scheme)
        source_ip = self._source_address()

        self._pool_key = None
        reused = None
        if self.client is not None and self._keep_alive_requested() and tls is None:
            self._pool_key = (host, port, family, source_ip, self.max_buffer_size)
            if not self._no_pool:
                reused = self.client._take_idle_stream(self._pool_key)
        self._reused = reused is not None
        if reused is not None:
            stream = reused
        else:
            connect_limit = _shortest(request.connect_timeout, request.request_timeout)
            if connect_limit is not None:
                self._timeout = self.io_loop.add_timeout(
                    self.start_time + connect_limit,
                    functools.partial(self._on_timeout, "while connecting"),
                )
            stream = await self.tcp_client.connect(
                host, port, af=family, ssl_options=tls,
                max_buffer_size=self.max_buffer_size, source_ip=source_ip,
            )  # fmt: skip
        if self.final_callback is None:
            stream.close()  # answered (timed out) while connecting
            return
        self.stream = stream
        stream.set_close_callback(self.on_connection_close)
        self._remove_timeout()
        if self.final_callback is None:
            return
        whole_limit = request.request_timeout
        if whole_limit:
            self._timeout = self.io_loop.add_timeout(
                self.start_time + whole_limit,
                functools.partial(self._on_timeout, "during request"),
            )
        self._check_request_options()
        self._prepare_headers()
        target = self.parsed.path or "/"
        if self.parsed.query:
            target = "%s?%s" % (target, self.parsed.query)
        self.connection = self._create_connection(stream)
        self.connection.write_headers(
            httputil.RequestStartLine(request.method, target, ""), request.headers
        )
        if not request.expect_100_continue:
            await self._write_body(True)
        else:
            # headers_received sends the body once "100 Continue" arrives.
            await self.connection.read_response(self)
            self._settle_stream()

    def _credentials(self) -> "Tuple[Optional[str], Optional[str]]":
        # Userinfo in the URL wins over auth_username/auth_password.
        if self.parsed.username is not None:
            return self.parsed.username, self.parsed.password
        request = self.request
        if request.auth_username is None:
            return None, None
        return request.auth_username, request.auth_password or ""

    def _prepare_headers(self) -> None:
        user, secret = self._credentials()
        _complete_headers(self.request, _strip_userinfo(self.parsed.netloc), user, secret)

    def _get_ssl_options(
        self, scheme: str
    ) -> Union[None, Dict[str, Any], ssl.SSLContext]:
        if scheme != "https":
            return None
        request = self.request
        if request.ssl_options is not None:
            return request.ssl_options
        customized = not request.validate_cert or any(
            value is not None
            for value in (request.ca_certs, request.client_cert, request.client_key)
        )
        if not customized:
            # Nothing request-specific: the shared default context will do.
            return _client_ssl_defaults
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=request.ca_certs
        )
        if not request.validate_cert:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if request.client_cert is not None:
            context.load_cert_chain(request.client_cert, request.client_key)
        # TLS compression is off where possible (CRIME).
        context.options |= getattr(ssl, "OP_NO_COMPRESSION", 0)
        return context

    def _on_timeout(self, info: Optional[str] = None) -> None:
        """Fail the request with `HTTPTimeoutError` when its timer fires.

        :arg str info: what the request was doing, for the error message.
        """
        self._timeout = None
        failure = HTTPTimeoutError(_timeout_text(info))
        if self.final_callback is not None:
            self._handle_exception(HTTPTimeoutError, failure, None)

    def _remove_timeout(self) -> None:
        timer, self._timeout = self._timeout, None
        if timer is not None:
            self.io_loop.remove_timeout(timer)

    def _create_connection(self, stream: IOStream) -> HTTP1Connection:
        stream.set_nodelay(True)
        settings = HTTP1ConnectionParameters(
            decompress=bool(self.request.decompress_response),
            max_body_size=self.max_body_size,
            max_header_size=self.max_header_size,
            no_keep_alive=True,
        )
        if native_client_eligible(stream):
            return _NativeHTTP1ClientConnection(stream, True, settings, self._sockaddr)
        return HTTP1Connection(stream, True, settings, self._sockaddr)

    async def _write_body(self, start_read: bool) -> None:
        request = self.request
        connection = self.connection
        if request.body is not None:
            connection.write(request.body)
        elif request.body_producer is not None:
            producing = request.body_producer(connection.write)
            if producing is not None:
                await producing
        connection.finish()
        if start_read:
            await self._read_answer()

    async def _read_answer(self) -> None:
        # Reads the response to the request sent on self.connection.
        attempt = self._attempt
        try:
            await self.connection.read_response(self)
        except StreamClosedError:
            if attempt != self._attempt:
                return  # superseded by a retry
            if not self._handle_exception(*sys.exc_info()):
                raise
        else:
            self._settle_stream()

    def _take_final_callback(self) -> Optional[Callable[[HTTPResponse], None]]:
        # Each request is answered at most once.
        callback = self.final_callback
        self.final_callback = None  # type: ignore[assignment]
        return callback

    def _release(self) -> None:
        callback = self.release_callback
        self.release_callback = None  # type: ignore[assignment]
        if callback is not None:
            callback()

    def _run_callback(self, response: HTTPResponse) -> None:
        self._release()
        callback = self._take_final_callback()
        if callback is not None:
            self.io_loop.add_callback(callback, response)

    def _handle_exception(
        self,
        typ: "Optional[Type[BaseException]]",
        value: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool:
        if self.final_callback is None:
            # Answered already.  A closed stream is the expected aftermath;
            # other errors are for the caller to deal with.
            return isinstance(value, StreamClosedError)
        if isinstance(value, (StreamClosedError, OSError)) and self._may_retry():
            self._retry()
            return True
        self._remove_timeout()
        failure = value
        if isinstance(value, StreamClosedError):
            failure = value.real_error
            if failure is None:
                failure = HTTPStreamClosedError("Stream closed")
        elapsed = self.io_loop.time() - self.start_time
        response = HTTPResponse(
            self.request, 599, error=failure, request_time=elapsed,
            start_time=self.start_wall_time,
        )  # fmt: skip
        self._run_callback(response)
        # The response has been given up on; make sure the stream does not
        # linger (after a timeout it may still be open).
        stream = getattr(self, "stream", None)
        if stream is not None:
            stream.close()
        return True

    def on_connection_close(self) -> None:
        if self.final_callback is None:
            return
        if self._may_retry():
            self._retry()
            return
        if self.stream.error:
            raise self.stream.error
        try:
            raise HTTPStreamClosedError("Connection closed")
        except HTTPStreamClosedError as closed:
            self._handle_exception(type(closed), closed, closed.__traceback__)

    async def headers_received(
        self,
        first_line: Union[httputil.ResponseStartLine, httputil.RequestStartLine],
        headers: httputil.HTTPHeaders,
    ) -> None:
        assert isinstance(first_line, httputil.ResponseStartLine)
        if 100 <= first_line.code < 200:
            # After an interim response the HTTP layer reads on to the close
            # once the final one is done (as Tornado's does): the connection
            # cannot be reused.
            self._interim_seen = True
        if first_line.code == 100 and self.request.expect_100_continue:
            await self._write_body(False)
            return
        self.headers = headers
        self.code = first_line.code
        self.reason = first_line.reason
        self._response_version = first_line.version
        if self._should_follow_redirect():
            return
        report = self.request.header_callback
        if report is None:
            return
        # Hand the header block over line by line, the way curl does.
        version_, code, reason = first_line
        report(f"{version_} {code} {reason}\r\n")
        for name, value in headers.get_all():
            report(f"{name}: {value}\r\n")
        report("\r\n")

    def _should_follow_redirect(self) -> bool:
        if self.code not in _REDIRECT_STATUSES:
            return False
        request = self.request
        if not request.follow_redirects:
            return False
        assert request.max_redirects is not None
        if request.max_redirects <= 0:
            return False
        return self.headers is not None and self.headers.get("Location") is not None

    def finish(self) -> None:
        assert self.code is not None
        self._remove_timeout()
        first_request = getattr(self.request, "original_request", self.request)
        if self._should_follow_redirect():
            self._follow_redirect(first_request)
            return
        # A streamed body was handed to streaming_callback, not kept.
        if self.request.streaming_callback:
            body = BytesIO()
        else:
            body = BytesIO(b"".join(self.chunks))
        self._run_callback(
            HTTPResponse(
                first_request,
                self.code,
                headers=self.headers,
                buffer=body,
                effective_url=self.request.url,
                reason=getattr(self, "reason", None),
                start_time=self.start_wall_time,
                request_time=self.io_loop.time() - self.start_time,
            )
        )
        self._on_end_request()

    def _follow_redirect(self, original_request: HTTPRequest) -> None:
        proxy = self.request
        assert isinstance(proxy, _RequestProxy)
        assert self.headers is not None
        assert proxy.max_redirects is not None
        # Shallow copy: the follow-up shares (and edits) the headers object.
        follow_up = copy.copy(proxy.request)
        follow_up.url = urllib.parse.urljoin(proxy.url, self.headers["Location"])
        follow_up.max_redirects = proxy.max_redirects - 1
        del follow_up.headers["Host"]
        # Like browsers: 303 makes anything but HEAD a GET, and 301/302 do
        # the same to POST.  The body and its describing headers go away.
        becomes_get = (
            proxy.method != "HEAD" if self.code == 303
            else self.code in (301, 302) and proxy.method == "POST"
        )  # fmt: skip
        if becomes_get:
            follow_up.method = "GET"
            follow_up.body = None  # type: ignore[assignment]
            shared = proxy.headers
            for name in _BODY_HEADERS:
                if name in shared:
                    del shared[name]
        follow_up.original_request = original_request  # type: ignore[attr-defined]
        deliver = self._take_final_callback()
        self._release()
        assert self.client is not None
        pending = self.client.fetch(follow_up, raise_error=False)
        pending.add_done_callback(lambda done: deliver(done.result()))  # type: ignore[misc]
        self._on_end_request()

    def _on_end_request(self) -> None:
        if self._reusable():
            # Pooled once the HTTP layer has let go of it (_settle_stream).
            self._pool_stream = True
            return
        self.stream.close()

    def _keep_alive_requested(self) -> bool:
        # Connection reuse (beyond Tornado) only when the caller asked for
        # it; by default requests say "Connection: close", as Tornado's do.
        value = self.request.headers.get("Connection")
        return value is not None and value.lower() == "keep-alive"

    def _reusable(self) -> bool:
        # The response was read completely and leaves the connection usable.
        headers = self.headers
        if getattr(self, "_pool_key", None) is None or headers is None or self.code is None:
            return False
        if getattr(self, "_interim_seen", False):
            return False
        if getattr(self, "_response_version", "") != "HTTP/1.1":
            return False
        if (headers.get("Connection") or "").lower() == "close":
            return False
        delimited = (
            "Content-Length" in headers
            or (headers.get("Transfer-Encoding") or "").lower() == "chunked"
            or self.code in (204, 304)
            or self.request.method == "HEAD"
        )
        return delimited and not self.stream.closed()

    def _settle_stream(self) -> None:
        if not getattr(self, "_pool_stream", False):
            return
        self._pool_stream = False
        stream = self.stream
        if self.client is None or stream.closed():
            stream.close()
            return
        stream.set_close_callback(None)
        key = self._pool_key
        assert key is not None  # _pool_stream is only set with a key
        self.client._keep_idle_stream(key, stream)

    def data_received(self, chunk: bytes) -> None:
        if self._should_follow_redirect():
            return  # a redirect's own body is discarded
        sink = self.request.streaming_callback
        if sink is None:
            self.chunks.append(chunk)
        else:
            sink(chunk)


# -- the C fetch path -------------------------------------------------------
#
# A request plain enough is done by _core.Fetch (csrc/fetch.c): connected,
# sent and, for a response of the common shape, read and answered without
# the objects above.  What the path stands in for must be this module's own
# code (and TCPClient's, the resolver's), checked on every request; the
# request itself must need nothing the C code does not do.  A response the
# C code does not read is handed over, connection and bytes, to an
# _HTTPConnection (_HTTPConnection._adopt), so its treatment is the usual one.

# The functions the C path stands in for, as this package defines them.
_STOOD_IN_FOR = tuple(
    (owner, name, owner.__dict__[name])
    for owner, names in (
        (_HTTPConnection, ("__init__", "run", "_perform", "_locate", "_prepare_headers",
                           "_create_connection", "_write_body", "_read_answer",
                           "headers_received", "data_received", "finish", "_on_timeout",
                           "_handle_exception", "_run_callback", "on_connection_close",
                           "_get_ssl_options", "_check_request_options")),
        (TCPClient, ("connect", "_create_stream")),
        (DefaultLoopResolver, ("resolve",)),
        (IOStream, ("__init__", "connect", "_connect_natively")),
        (httputil.HTTPHeaders, ("__setitem__", "__contains__", "get")),
        (http1connection._GzipMessageDelegate, ("headers_received", "finish")),
        (http1connection._GzipEagerDelegate, ("data_received",)),
        (GzipDecompressor, ("decompress", "flush")),
    )
    for name in names
)
_STOOD_IN_FOR_OWNERS = tuple(owner for owner, _, _ in _STOOD_IN_FOR)
_STOOD_IN_FOR_NAMES = tuple(name for _, name, _ in _STOOD_IN_FOR)
_STOOD_IN_FOR_ORIGINALS = tuple(original for _, _, original in _STOOD_IN_FOR)
_GETADDRINFO = socket.getaddrinfo
_SOCKET = socket.socket
_NORMALIZE_HEADER = httputil._normalize_header
_CONNECTION_CLASS = SimpleAsyncHTTPClient._connection_class
_PROCESS_QUEUE = SimpleAsyncHTTPClient._process_queue
_REMOVE_TIMEOUT = SimpleAsyncHTTPClient._remove_timeout
_USER_AGENT = f"Tornado/{version}"


def _stood_in_for_intact(client: SimpleAsyncHTTPClient) -> bool:
    return (
        type(client.tcp_client) is TCPClient
        and type(client.resolver) is DefaultLoopResolver
        and type(client)._connection_class is _CONNECTION_CLASS
        and socket.getaddrinfo is _GETADDRINFO
        and socket.socket is _SOCKET
        and netutil._SOCKET_GETADDRINFO is _GETADDRINFO
        and httputil._normalize_header is _NORMALIZE_HEADER
        # (getattr(owner, name) is the original, for each: read from the
        # classes' method caches)
        and _core._resolve_to(_STOOD_IN_FOR_OWNERS, _STOOD_IN_FOR_NAMES, _STOOD_IN_FOR_ORIGINALS)
    )


def _native_fetch(
    client: SimpleAsyncHTTPClient,
    request: HTTPRequest,
    release_callback: Callable[[], None],
    final_callback: Callable[[HTTPResponse], None],
) -> bool:
    """Start ``request`` on the C fetch path; False when it does not apply
    (nothing has been done then).  Which requests apply, and the header
    completion and serialization done for them, are in ``_core.fetch_begin``
    (csrc/fetch.c): the same as _HTTPConnection's ``_prepare_headers``
    (``_complete_headers``) and ``write_headers`` for such a request."""
    return (
        _core is not None
        and _stood_in_for_intact(client)
        and _core.fetch_begin(_NativeFetch, client, request, release_callback, final_callback)
        is not False
    )


_FetchBase: Any = _core.Fetch if _core is not None else object


class _NativeFetch(_FetchBase):
    """A request done by the C fetch path (csrc/fetch.c); these methods
    hear how it ended, as _HTTPConnection's would have."""

    if TYPE_CHECKING:  # (the C type's attributes)
        client: SimpleAsyncHTTPClient
        request: HTTPRequest
        release_callback: Optional[Callable[[], None]]
        final_callback: Optional[Callable[[HTTPResponse], None]]
        io_loop: IOLoop
        start_time: float
        start_wall_time: float
        start_line: httputil.RequestStartLine
        pool_key: Optional[Tuple[str, int, int]]

    def _answer(self, response: HTTPResponse) -> None:
        release, self.release_callback = self.release_callback, None
        if release is not None:
            release()
        callback, self.final_callback = self.final_callback, None
        if callback is not None:
            self.io_loop.add_callback(callback, response)

    def _fetched(
        self,
        code: int,
        reason: str,
        headers: httputil.HTTPHeaders,
        body: bytes,
        reusable: bool = False,
    ) -> None:
        # The response was read in C (as _HTTPConnection.finish).  When
        # ``reusable`` (a keep-alive request answered in HTTP/1.1 with
        # nothing after it), the connection is open and waits for a
        # park() or close().
        request = self.request
        self._answer(
            HTTPResponse(
                getattr(request, "original_request", request),
                code,
                headers=headers,
                buffer=BytesIO(body),
                effective_url=request.url,
                reason=reason,
                start_time=self.start_wall_time,
                request_time=self.io_loop.time() - self.start_time,
            )
        )
        if reusable:
            self._keep(headers)

    def _keep(self, headers: httputil.HTTPHeaders) -> None:
        # As _HTTPConnection._reusable / SimpleAsyncHTTPClient
        # ._keep_idle_stream: pooled unless the server said close, the
        # client is closed or the pool is full.
        client = self.client
        key = self.pool_key
        assert key is not None  # (only keep-alive fetches are reusable)
        if (headers.get("Connection") or "").lower() == "close" or client._closed:
            self.close()
            return
        idle = client._native_idle.setdefault(key, [])
        if len(idle) >= client.max_clients:
            self.close()
            if not idle:
                del client._native_idle[key]
            return
        self.park()
        idle.append(self)

    def _forget(self) -> None:
        # A parked connection closed: out of the pool.
        key = self.pool_key
        assert key is not None  # (only keep-alive fetches are parked)
        idle = self.client._native_idle.get(key)
        if idle and self in idle:
            idle.remove(self)
            if not idle:
                del self.client._native_idle[key]

    def _retry(self) -> None:
        # The kept connection the request went out on was closed before
        # any answer: sent once more on a new connection (as
        # _HTTPConnection._retry).
        release, final = self.release_callback, self.final_callback
        self.release_callback = self.final_callback = None
        try:
            retried = _core.fetch_begin(
                type(self), self.client, self.request, release, final, True
            )
        except Exception as exc:
            retried, failure = False, exc
        else:
            # (Not expected: the request was taken once.)
            failure = HTTPStreamClosedError("Connection closed")
        if retried is False:
            self.release_callback, self.final_callback = release, final
            self._failed(failure)

    def _failed(self, what: Union[str, int, BaseException]) -> None:
        # A timeout ("while connecting" / "during request"), a failed
        # connect (its errno, as IOStream reports it) or another error.
        if isinstance(what, str):
            error: BaseException = HTTPTimeoutError(_timeout_text(what))
        elif isinstance(what, int):
            error = socket.error(what, os.strerror(what))
        else:
            error = what
        self._answer(
            HTTPResponse(
                self.request, 599, error=error,
                request_time=self.io_loop.time() - self.start_time,
                start_time=self.start_wall_time,
            )  # fmt: skip
        )

    def _handover(self, fd: int, data: bytes, error: Optional[OSError]) -> None:
        # The response is not one the C code reads: its connection (fd, a
        # duplicate of the C handle's, now closed) and the bytes read so
        # far go to an _HTTPConnection, with the read error that ended the
        # input, if any.
        try:
            sock = socket.socket(fileno=fd)
        except BaseException:
            os.close(fd)
            raise
        try:
            stream = IOStream(sock, max_buffer_size=self.client.max_buffer_size)
            if data:
                native = stream._native
                if native is not None:
                    native.unread(data)
                else:
                    stream._read_buffer += data
                    stream._read_buffer_size += len(data)
            if error is not None:
                # The socket reads as ended now; the stream closes at that
                # end with the error it would have closed with.
                stream.error = error
            _HTTPConnection._adopt(self, stream)
        except BaseException as exc:
            sock.close()
            self._failed(exc)


if _core is not None:
    _core.fetch_setup(_RequestProxy, _HTTPConnection, _USER_AGENT, time)

if __name__ == "__main__":
    AsyncHTTPClient.configure(SimpleAsyncHTTPClient)
    main()
