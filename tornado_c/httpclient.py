"""HTTP client interfaces, blocking and non-blocking (``tornado.httpclient``).

The asynchronous entry point is `AsyncHTTPClient`; the concrete class it
instantiates is selected with `AsyncHTTPClient.configure` and defaults to
`.simple_httpclient.SimpleAsyncHTTPClient` (`.curl_httpclient` provides an
alternative built on libcurl).  `HTTPClient` wraps it for synchronous code
that has no `.IOLoop` running.  A fetch is described by an `HTTPRequest`,
answered with an `HTTPResponse`, and fails with `HTTPClientError`.

``python -m tornado_c.httpclient URL`` fetches a URL from a shell.
"""

from __future__ import annotations

import datetime
import ssl
import time
import typing
import weakref
from io import BytesIO
from typing import Any, Callable, Dict, Optional, Type, Union, cast

from tornado_c import _core, gen, httputil
from tornado_c.concurrent import Future
from tornado_c.concurrent import future_set_exception_unless_cancelled
from tornado_c.concurrent import future_set_result_unless_cancelled
from tornado_c.escape import native_str, utf8
from tornado_c.ioloop import IOLoop
from tornado_c.util import Configurable


class HTTPClient:
    """Synchronous HTTP client; it owns a private `.IOLoop`.

    For example::

        client = HTTPClient()
        try:
            reply = client.fetch("https://example.com/")
        except HTTPError as err:
            # the server answered with a non-2xx status
            print("HTTP error:", err)
        except Exception as err:
            # e.g. the host could not be reached
            print("Failed:", err)
        else:
            print(reply.body)
        finally:
            client.close()

    Because it runs a loop of its own, it must not be used from a thread
    where an `.IOLoop` is already running; use `AsyncHTTPClient` there.
    The `AsyncHTTPClient` doing the work can be chosen with
    ``async_client_class`` and receives the remaining keyword arguments.
    """

    def __init__(
        self,
        async_client_class: "Optional[Type[AsyncHTTPClient]]" = None,
        **kwargs: Any,
    ) -> None:
        # Stays True unless construction completes, so that __del__ on a
        # half-built object does nothing.
        self._closed = True
        self._io_loop = IOLoop(make_current=False)
        factory = AsyncHTTPClient if async_client_class is None else async_client_class

        async def build_in_loop() -> "AsyncHTTPClient":
            # Running inside the private loop makes the client attach to it
            # rather than to a loop the calling thread may have.
            await gen.sleep(0)
            return factory(**kwargs)

        self._async_client = self._io_loop.run_sync(build_in_loop)
        self._closed = False

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        """Release the client and its private loop."""
        if not self._closed:
            client, loop = self._async_client, self._io_loop
            client.close()
            loop.close()
            self._closed = True

    def fetch(
        self, request: Union["HTTPRequest", str], **kwargs: Any
    ) -> "HTTPResponse":
        """Perform a request and block until its `HTTPResponse` is ready.

        ``request`` is an `HTTPRequest`, or a URL string, in which case the
        keyword arguments are used to build the `HTTPRequest`.

        Failures raise; in particular a non-2xx status raises `HTTPError`,
        unless ``raise_error=False`` is given.
        """
        client = self._async_client
        return self._io_loop.run_sync(lambda: client.fetch(request, **kwargs))


class AsyncHTTPClient(Configurable):
    """Non-blocking HTTP client.

    Usage::

        async def show(url):
            try:
                reply = await AsyncHTTPClient().fetch(url)
            except Exception as err:
                print("fetch failed:", err)
            else:
                print(reply.body)

    Calling the class yields an instance of the implementation chosen with
    `configure`.  Instances are shared: each `.IOLoop` gets one, reused by
    later calls, so constructor arguments only count the first time; pass
    ``force_instance=True`` to get a private instance instead.
    ``defaults`` supplies values for `HTTPRequest` attributes a request
    leaves unset.

    .. versionchanged:: 5.0
       No ``io_loop`` argument any more (it was deprecated in 4.1).
    """

    _instance_cache: Optional[Dict[IOLoop, "AsyncHTTPClient"]] = None

    @classmethod
    def configurable_base(cls) -> Type[Configurable]:
        return AsyncHTTPClient

    @classmethod
    def configurable_default(cls) -> Type[Configurable]:
        from tornado_c.simple_httpclient import SimpleAsyncHTTPClient

        return SimpleAsyncHTTPClient

    @classmethod
    def _async_clients(cls) -> Dict[IOLoop, "AsyncHTTPClient"]:
        # Shared instances, per class the constructor is called on and keyed
        # weakly by loop, so a discarded loop releases its client.
        slot = "_async_client_dict_" + cls.__name__
        table = getattr(cls, slot, None)
        if table is None:
            table = weakref.WeakKeyDictionary()
            setattr(cls, slot, table)
        return table  # type: ignore[return-value]

    def __new__(cls, force_instance: bool = False, **kwargs: Any) -> "AsyncHTTPClient":
        loop = IOLoop.current()
        table: Optional[Dict[IOLoop, AsyncHTTPClient]] = None
        if not force_instance:
            table = cls._async_clients()
            shared = table.get(loop)
            if shared is not None:
                return shared
        client = super().__new__(cls, **kwargs)  # type: ignore[call-arg]
        # Record where the instance lives (its class may be a subclass of
        # cls) so that close() evicts it from that same table.
        client._instance_cache = table
        if table is not None:
            table[client.io_loop] = client
        return client

    def initialize(self, defaults: Optional[Dict[str, Any]] = None) -> None:
        self.io_loop = IOLoop.current()
        merged = dict(HTTPRequest._DEFAULTS)
        merged.update(defaults or {})
        self.defaults = merged
        self._closed = False

    def close(self) -> None:
        """Shut the client down and free its resources.

        Shared instances rarely need this; it is meant for when their
        `.IOLoop` is being closed too, and for ``force_instance=True``
        clients.  A closed client accepts no further calls.
        """
        if self._closed:
            return
        self._closed = True
        table = self._instance_cache
        if table is None:
            return
        evicted = table.pop(self.io_loop, None)
        # The weak entry may already be gone (closing from a destructor);
        # finding some other client there would be a bug.
        if evicted is not None and evicted is not self:
            raise RuntimeError("inconsistent AsyncHTTPClient cache")

    def fetch(
        self,
        request: Union[str, "HTTPRequest"],
        raise_error: bool = True,
        **kwargs: Any,
    ) -> "Future[HTTPResponse]":
        """Start a request; returns a `.Future` for its `HTTPResponse`.

        ``request`` is an `HTTPRequest`, or a URL string, in which case the
        keyword arguments are used to build the `HTTPRequest`.

        A response whose status is not 2xx makes the future fail with
        `HTTPError`; ``raise_error=False`` returns such responses instead.
        Errors without a response (connection failures, timeouts, ...) are
        raised in every case.

        .. versionchanged:: 6.0
           No more ``callback`` argument; ``raise_error=False`` now only
           covers errors that come from the status code.
        """
        if self._closed:
            raise RuntimeError("fetch() called on closed AsyncHTTPClient")
        if not isinstance(request, HTTPRequest):
            request = HTTPRequest(request, **kwargs)
        elif kwargs:
            raise ValueError("kwargs can't be used if request is an HTTPRequest object")
        # The implementation adds headers of its own; give it a private
        # HTTPHeaders copy rather than the caller's object.
        request.headers = httputil.HTTPHeaders(request.headers)
        # (bound to the running loop, as Future() binds it; the native loop
        # given directly saves asyncio the getpid() call of its look-up)
        running = _core._running_loop()
        outcome: "Future[HTTPResponse]" = Future() if running is None else Future(loop=running)

        def deliver(response: "HTTPResponse") -> None:
            tolerated = not raise_error and response._error_is_response_code
            if response.error and not tolerated:
                future_set_exception_unless_cancelled(outcome, response.error)
            else:
                future_set_result_unless_cancelled(outcome, response)

        with_defaults = _RequestProxy(request, self.defaults)
        self.fetch_impl(cast(HTTPRequest, with_defaults), deliver)
        return outcome

    def fetch_impl(
        self, request: "HTTPRequest", callback: Callable[["HTTPResponse"], None]
    ) -> None:
        raise NotImplementedError()

    @classmethod
    def configure(
        cls, impl: "Union[None, str, Type[Configurable]]", **kwargs: Any
    ) -> None:
        """Select the `AsyncHTTPClient` implementation.

        ``impl`` may be a subclass, its dotted import path, or ``None`` to
        go back to ``SimpleAsyncHTTPClient``.  Keyword arguments are given
        to the constructor of every instance created afterwards (e.g.
        ``max_clients``, the per-loop limit on concurrent fetches)::

           AsyncHTTPClient.configure("tornado.curl_httpclient.CurlAsyncHTTPClient")
        """
        super().configure(impl, **kwargs)


class HTTPRequest:
    """Description of one request made by an HTTP client."""

    _headers: Union[Dict[str, str], httputil.HTTPHeaders] = None  # type: ignore

    # Fallbacks for arguments left as None; the AsyncHTTPClient applies
    # them through _RequestProxy.
    _DEFAULTS = {
        "allow_nonstandard_methods": False,
        "connect_timeout": 20.0,
        "decompress_response": True,
        "follow_redirects": True,
        "max_redirects": 5,
        "proxy_password": "",
        "request_timeout": 20.0,
        "validate_cert": True,
    }

    def __init__(
        self,
        url: str,
        method: str = "GET",
        headers: Optional[Union[Dict[str, str], httputil.HTTPHeaders]] = None,
        body: Optional[Union[bytes, str]] = None,
        auth_username: Optional[str] = None,
        auth_password: Optional[str] = None,
        auth_mode: Optional[str] = None,
        connect_timeout: Optional[float] = None,
        request_timeout: Optional[float] = None,
        if_modified_since: Optional[Union[float, datetime.datetime]] = None,
        follow_redirects: Optional[bool] = None,
        max_redirects: Optional[int] = None,
        user_agent: Optional[str] = None,
        use_gzip: Optional[bool] = None,
        network_interface: Optional[str] = None,
        streaming_callback: Optional[Callable[[bytes], None]] = None,
        header_callback: Optional[Callable[[str], None]] = None,
        prepare_curl_callback: Optional[Callable[[Any], None]] = None,
        proxy_host: Optional[str] = None,
        proxy_port: Optional[int] = None,
        proxy_username: Optional[str] = None,
        proxy_password: Optional[str] = None,
        proxy_auth_mode: Optional[str] = None,
        allow_nonstandard_methods: Optional[bool] = None,
        validate_cert: Optional[bool] = None,
        ca_certs: Optional[str] = None,
        allow_ipv6: Optional[bool] = None,
        client_key: Optional[str] = None,
        client_cert: Optional[str] = None,
        body_producer: Optional[
            Callable[[Callable[[bytes], None]], "Future[None]"]
        ] = None,
        expect_100_continue: bool = False,
        decompress_response: Optional[bool] = None,
        ssl_options: Optional[Union[Dict[str, Any], ssl.SSLContext]] = None,
    ) -> None:
        r"""Only ``url`` is required.  Arguments left as ``None`` take the
        client's defaults (see ``AsyncHTTPClient(defaults=...)``).

        What to send:

        :arg str url: the address to request
        :arg str method: request method, ``"GET"`` unless given
        :arg headers: extra request headers, a `dict` or
           `~tornado.httputil.HTTPHeaders`
        :arg body: the request body; `str` is encoded as UTF-8
        :arg collections.abc.Callable body_producer: alternative to ``body``
           for bodies generated on the fly: it is called with a ``write``
           function and returns a `.Future` that resolves once everything is
           written.  Without a ``Content-Length`` header the body is sent
           chunked (simple client only).
        :arg if_modified_since: sets ``If-Modified-Since``; a `datetime` or
           a timestamp (`float`)
        :arg str user_agent: value for the ``User-Agent`` header
        :arg bool decompress_response: ask for a compressed response and
           inflate it on arrival (default: yes)
        :arg bool use_gzip: older name of ``decompress_response``
        :arg bool allow_nonstandard_methods: permit methods the client does
           not know, and bodies where the method normally has none (default:
           no)
        :arg bool expect_100_continue: send ``Expect: 100-continue`` and hold
           the body back until the server agrees (simple client only)

        Authentication:

        :arg str auth_username: user name for HTTP authentication
        :arg str auth_password: password for HTTP authentication
        :arg str auth_mode: ``"basic"`` by default; the simple client knows
           no other mode, the curl client also does ``"digest"``

        Time limits, in seconds (``0`` disables a limit):

        :arg float connect_timeout: for establishing the connection
           (default 20)
        :arg float request_timeout: for the whole request (default 20)

        Redirects:

        :arg bool follow_redirects: follow 3xx responses automatically
           instead of returning them (default: yes)
        :arg int max_redirects: how many redirects to follow at most
           (default 5)

        Receiving:

        :arg collections.abc.Callable streaming_callback: receives the body
           piece by piece as it arrives; the response's ``body`` and
           ``buffer`` are then left empty
        :arg collections.abc.Callable header_callback: receives the header
           block line by line (status line such as ``HTTP/1.0 200 OK\r\n``
           first, an empty ``\r\n`` last); the response's ``headers`` are
           then left empty

        Connection and TLS:

        :arg str network_interface: local interface or source address to
           connect from
        :arg bool allow_ipv6: allow IPv6 addresses (default: yes)
        :arg bool validate_cert: check the server certificate on HTTPS
           (default: yes)
        :arg str ca_certs: PEM file of CA certificates; ``None`` for the
           system defaults
        :arg str client_key: file with the client's private key
        :arg str client_cert: file with the client certificate
        :arg ssl.SSLContext ssl_options: a complete `ssl.SSLContext`
           (simple client only); takes precedence over ``validate_cert``,
           ``ca_certs``, ``client_key`` and ``client_cert``

        Proxying (curl client only):

        :arg str proxy_host: proxy host name
        :arg int proxy_port: proxy port
        :arg str proxy_username: proxy user name
        :arg str proxy_password: proxy password
        :arg str proxy_auth_mode: ``"basic"`` (default) or ``"digest"``

        Curl specifics:

        :arg collections.abc.Callable prepare_curl_callback: called with the
           ``pycurl.Curl`` handle, for options not covered here

        .. note::
            With ``curl_httpclient`` some settings can leak into later
            requests, since ``pycurl`` handles cannot be fully reset.
        """
        # Several of these go through the properties below.
        self.url = url
        self.method = method
        self.headers = headers  # type: ignore[assignment]
        self.body = body  # type: ignore[assignment]
        self.body_producer = body_producer
        self.expect_100_continue = expect_100_continue
        self.user_agent = user_agent
        if if_modified_since:
            stamp = httputil.format_timestamp(if_modified_since)
            self.headers["If-Modified-Since"] = stamp
        self.decompress_response: Optional[bool] = (
            use_gzip if decompress_response is None else decompress_response
        )
        self.allow_nonstandard_methods = allow_nonstandard_methods
        # credentials
        self.auth_mode = auth_mode
        self.auth_username = auth_username
        self.auth_password = auth_password
        # limits and redirects
        self.request_timeout = request_timeout
        self.connect_timeout = connect_timeout
        self.max_redirects = max_redirects
        self.follow_redirects = follow_redirects
        # callbacks
        self.header_callback = header_callback
        self.streaming_callback = streaming_callback
        self.prepare_curl_callback = prepare_curl_callback
        # connection and TLS
        self.allow_ipv6 = allow_ipv6
        self.network_interface = network_interface
        self.ssl_options = ssl_options
        self.validate_cert = validate_cert
        self.client_cert = client_cert
        self.client_key = client_key
        self.ca_certs = ca_certs
        # proxying
        self.proxy_auth_mode = proxy_auth_mode
        self.proxy_username = proxy_username
        self.proxy_password = proxy_password
        self.proxy_host = proxy_host
        self.proxy_port = proxy_port
        self.start_time = time.time()

    @property
    def headers(self) -> httputil.HTTPHeaders:
        # A dict given by the caller is kept as is; AsyncHTTPClient.fetch
        # replaces it with HTTPHeaders before anything reads it.
        return self._headers  # type: ignore[return-value]

    @headers.setter
    def headers(self, value: Union[Dict[str, str], httputil.HTTPHeaders]) -> None:
        if value is None:
            value = httputil.HTTPHeaders()
        self._headers = value

    @property
    def body(self) -> bytes:
        return self._body

    @body.setter
    def body(self, value: Union[bytes, str]) -> None:
        self._body = utf8(value)


class HTTPResponse:
    """The outcome of an HTTP client request.

    Attributes:

    * ``request``: the `HTTPRequest` that was made
    * ``code``: the numeric status, e.g. 200 or 404
    * ``reason``: the status text that came with the code
    * ``headers``: the response headers, a `tornado.httputil.HTTPHeaders`
    * ``effective_url``: the URL finally fetched, after any redirects
    * ``buffer``: a file-like object (`io.BytesIO`) holding the body
    * ``body``: the body as `bytes`, read from ``buffer`` when first used
    * ``error``: the exception describing a failure, or ``None``
    * ``request_time``: seconds spent on the request itself, from name
      resolution to the last byte received; queueing caused by
      ``max_clients`` is not counted, and after redirects only the last hop
      is
    * ``start_time``: wall-clock (`time.time`, not `.IOLoop.time`) moment
      the request started; ``None`` when it timed out still queued
    * ``time_info``: detailed timings in a dict (curl client only)

    .. versionadded:: 5.1
       ``start_time``.
    """

    error: Optional[BaseException] = None
    _error_is_response_code = False
    request: HTTPRequest = None  # type: ignore[assignment]

    def __init__(
        self,
        request: HTTPRequest,
        code: int,
        headers: Optional[httputil.HTTPHeaders] = None,
        buffer: Optional[BytesIO] = None,
        effective_url: Optional[str] = None,
        error: Optional[BaseException] = None,
        request_time: Optional[float] = None,
        time_info: Optional[Dict[str, float]] = None,
        reason: Optional[str] = None,
        start_time: Optional[float] = None,
    ) -> None:
        self.request = (
            request.request if isinstance(request, _RequestProxy) else request
        )
        self.effective_url = effective_url if effective_url is not None else request.url
        self.buffer = buffer
        self._body: Optional[bytes] = None
        self.headers = httputil.HTTPHeaders() if headers is None else headers
        self.time_info = time_info or {}
        self.start_time = start_time
        self.request_time = request_time
        self.code = code
        self.reason = reason or httputil.responses.get(code, "Unknown")
        # A status outside 2xx counts as an error unless a more specific
        # error was given.
        self._error_is_response_code = error is None and not (200 <= code < 300)
        if self._error_is_response_code:
            error = HTTPClientError(code, message=self.reason, response=self)
        self.error = error

    @property
    def body(self) -> bytes:
        source = self.buffer
        if source is None:
            return b""
        cached = self._body
        if cached is None:
            cached = self._body = source.getvalue()
        return cached

    def rethrow(self) -> None:
        """Raise the request's error, if it failed."""
        if self.error:
            raise self.error

    def __repr__(self) -> str:
        pairs = sorted(self.__dict__.items())
        return "%s(%s)" % (
            type(self).__name__,
            ",".join(f"{key}={value!r}" for key, value in pairs),
        )


class HTTPClientError(Exception):
    """Raised when an HTTP request fails.

    Attributes:

    * ``code``: the status code as an integer, e.g. 404; 599 stands for
      "no response at all", such as after a timeout.
    * ``response``: the `HTTPResponse`, when there is one.

    With ``follow_redirects`` off, a redirect also arrives as this error;
    its target is then in ``error.response.headers['Location']``.

    .. versionchanged:: 5.1

       Formerly named ``HTTPError``, which clashed with
       `tornado.web.HTTPError`; ``tornado.httpclient.HTTPError`` is still
       available as an alias.
    """

    def __init__(
        self,
        code: int,
        message: Optional[str] = None,
        response: Optional[HTTPResponse] = None,
    ) -> None:
        super().__init__(code, message, response)
        self.response = response
        self.code = code
        self.message = message if message else httputil.responses.get(code, "Unknown")

    def __str__(self) -> str:
        return "HTTP %d: %s" % (self.code, self.message)

    # The inherited repr would walk into self.response, which points back
    # at this exception.
    __repr__ = __str__


HTTPError = HTTPClientError


class _RequestProxy(_core.RequestProxyBase):
    """Read-only view of a request that falls back on a dict of defaults.

    Internal to the AsyncHTTPClient implementations.  An attribute the
    proxy lacks is the request's, or the default's where the request's is
    None (the lookup is `_core.RequestProxyBase`'s).  A fetch reads most
    options more than once, so the value found is kept on the proxy: the
    request is not meant to change once fetched.
    """

    def __init__(
        self, request: HTTPRequest, defaults: Optional[Dict[str, Any]]
    ) -> None:
        self.request = request
        self.defaults = defaults

    if typing.TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any: ...


def main() -> None:
    """Command-line entry point: fetch each URL given and print it."""
    from tornado_c.options import define, options, parse_command_line

    for name, kind, default in (
        ("print_headers", bool, False),
        ("print_body", bool, True),
        ("follow_redirects", bool, True),
        ("validate_cert", bool, True),
        ("proxy_host", str, None),
        ("proxy_port", int, None),
    ):
        define(name, type=kind, default=default)
    targets = parse_command_line()
    passed_on = ("follow_redirects", "validate_cert", "proxy_host", "proxy_port")
    client = HTTPClient()
    for target in targets:
        settings = {name: getattr(options, name) for name in passed_on}
        try:
            response = client.fetch(target, **settings)
        except HTTPError as err:
            # Error statuses still come with a response worth showing.
            if err.response is None:
                raise
            response = err.response
        if options.print_headers:
            print(response.headers)
        text = native_str(response.body) if options.print_body else None
        if text is not None:
            print(text)
    client.close()


if __name__ == "__main__":
    main()
