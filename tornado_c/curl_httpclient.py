"""An `.AsyncHTTPClient` backed by libcurl via pycurl
(Tornado's ``tornado.curl_httpclient``).

A single ``pycurl.CurlMulti`` runs every transfer.  libcurl reports which
sockets it wants watched and when it next needs a timer; the `.IOLoop` does
the watching and calls back into libcurl when something is ready.  The
module cannot be imported (`ImportError`) without pycurl.  To use it::

    AsyncHTTPClient.configure("tornado.curl_httpclient.CurlAsyncHTTPClient")
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from functools import partial
from io import BytesIO
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Union

import pycurl  # type: ignore[import-untyped, unused-ignore]

from tornado_c import httputil, ioloop
from tornado_c.escape import native_str, utf8
from tornado_c.httpclient import (
    AsyncHTTPClient,
    HTTPError,
    HTTPRequest,
    HTTPResponse,
    main,
)
from tornado_c.log import app_log

if TYPE_CHECKING:
    from typing import Deque, Tuple  # noqa: F401

curl_log = logging.getLogger("tornado.curl_httpclient")

CR_OR_LF_RE = re.compile(b"\r|\n")

# Methods libcurl has a dedicated boolean option for.
_METHOD_OPTIONS = dict(
    GET=pycurl.HTTPGET, HEAD=pycurl.NOBODY, POST=pycurl.POST, PUT=pycurl.UPLOAD
)
# Other methods allowed without ``allow_nonstandard_methods`` (sent with
# CUSTOMREQUEST).
_CUSTOM_METHODS = {"DELETE", "OPTIONS", "PATCH"}
# Methods that must carry a body.
_BODY_METHODS = ("POST", "PATCH", "PUT")

# libcurl's "what to watch" codes, as IOLoop event masks.
_POLL_TO_EVENTS = dict(
    (
        (pycurl.POLL_NONE, ioloop.IOLoop.NONE),
        (pycurl.POLL_IN, ioloop.IOLoop.READ),
        (pycurl.POLL_OUT, ioloop.IOLoop.WRITE),
        (pycurl.POLL_INOUT, ioloop.IOLoop.READ | ioloop.IOLoop.WRITE),
    )
)

# response.time_info entries read from the handle (besides "queue"); see
# curl_easy_getinfo for their exact meaning.
_TIMING_FIELDS = (
    ("namelookup", pycurl.NAMELOOKUP_TIME),
    ("connect", pycurl.CONNECT_TIME),
    ("appconnect", pycurl.APPCONNECT_TIME),
    ("pretransfer", pycurl.PRETRANSFER_TIME),
    ("starttransfer", pycurl.STARTTRANSFER_TIME),
    ("total", pycurl.TOTAL_TIME),
    ("redirect", pycurl.REDIRECT_TIME),
)

# Prefix character per libcurl debug message type (see _curl_debug).
_DEBUG_MARKERS = {1: "<", 2: ">", 4: ">"}


def _auth_option(mode: Optional[str], complaint: str) -> int:
    # Translate an auth_mode / proxy_auth_mode setting to libcurl's constant.
    if mode in (None, "basic"):
        return pycurl.HTTPAUTH_BASIC
    if mode == "digest":
        return pycurl.HTTPAUTH_DIGEST
    raise ValueError(complaint % mode)


def _encode_header_line(name: str, value: str) -> bytes:
    return native_str(name).encode("ascii") + b": " + native_str(value).encode("latin-1")


class CurlAsyncHTTPClient(AsyncHTTPClient):
    """`.AsyncHTTPClient` on libcurl (through pycurl).

    ``max_clients`` is the number of ``pycurl.Curl`` handles, i.e. of
    requests in flight; further requests are queued.
    """

    def initialize(  # type: ignore[override]
        self, max_clients: int = 10, defaults: Optional[Dict[str, Any]] = None
    ) -> None:
        super().initialize(defaults=defaults)
        # Bookkeeping first: libcurl may call our hooks as soon as they are
        # installed.
        self._timeout: Optional[object] = None
        self._fds: Dict[int, int] = {}  # fd -> IOLoop event mask
        self._requests: "Deque[Tuple[HTTPRequest, Callable[[HTTPResponse], None], float]]" = (
            deque()
        )
        multi = pycurl.CurlMulti()
        multi.setopt(pycurl.M_SOCKETFUNCTION, self._handle_socket)
        multi.setopt(pycurl.M_TIMERFUNCTION, self._set_timeout)
        self._multi: Any = multi
        self._curls = [self._curl_create() for _ in range(max_clients)]
        self._free_list = list(self._curls)
        # Safety net: libcurl occasionally fails to ask for a socket or timer
        # it needs, so every second every transfer gets a nudge.
        sweeper = ioloop.PeriodicCallback(self._handle_force_timeout, 1000)
        sweeper.start()
        self._force_timeout_callback = sweeper
        # Certain libcurl releases crash when a multi handle that never held
        # an easy handle is destroyed; cycle a throwaway one through it.
        primer = pycurl.Curl()
        multi.add_handle(primer)
        multi.remove_handle(primer)

    def close(self) -> None:
        sweeper = self._force_timeout_callback
        sweeper.stop()
        pending = self._timeout
        if pending is not None:
            self.io_loop.remove_timeout(pending)
        for handle in self._curls:
            handle.close()
        self._multi.close()
        super().close()
        # Both reference bound methods of this client; releasing them breaks
        # the reference cycles.
        self._multi = None
        self._force_timeout_callback = None  # type: ignore[assignment]

    def fetch_impl(
        self, request: HTTPRequest, callback: Callable[[HTTPResponse], None]
    ) -> None:
        entry = (request, callback, self.io_loop.time())
        self._requests.append(entry)
        self._process_queue()
        # Let libcurl get going on the next loop iteration.
        self._set_timeout(0)

    def _handle_socket(self, event: int, fd: int, multi: Any, data: bytes) -> None:
        """libcurl's socket hook: start, change or stop watching ``fd``."""
        loop = self.io_loop
        if event == pycurl.POLL_REMOVE:
            if self._fds.pop(fd, None) is not None:
                loop.remove_handler(fd)
            return
        mask = _POLL_TO_EVENTS[event]
        # The fd may be a recycled number whose old socket libcurl closed
        # behind our back (epoll has dropped it), so never just update the
        # registration: drop it and register afresh.
        if fd in self._fds:
            loop.remove_handler(fd)
        self._fds[fd] = mask
        loop.add_handler(fd, self._handle_events, mask)

    def _set_timeout(self, msecs: int) -> None:
        """libcurl's timer hook: (re)arm the single pending timeout."""
        loop = self.io_loop
        if self._timeout is not None:
            loop.remove_timeout(self._timeout)
        due = loop.time() + msecs / 1000.0
        self._timeout = loop.add_timeout(due, self._handle_timeout)

    def _pump(self, action: Callable[..., Any], *args: Any) -> None:
        # Call a multi-handle entry point until libcurl stops asking for an
        # immediate repeat, then collect whatever finished.
        again = True
        while again:
            try:
                status = action(*args)[0]
            except pycurl.error as exc:
                status = exc.args[0]
            again = status == pycurl.E_CALL_MULTI_PERFORM
        self._finish_pending_requests()

    def _handle_events(self, fd: int, events: int) -> None:
        """IOLoop handler for the sockets libcurl asked us to watch."""
        mask = 0
        if events & ioloop.IOLoop.READ:
            mask |= pycurl.CSELECT_IN
        if events & ioloop.IOLoop.WRITE:
            mask |= pycurl.CSELECT_OUT
        self._pump(self._multi.socket_action, fd, mask)

    def _handle_timeout(self) -> None:
        """IOLoop callback for the timer libcurl asked for."""
        self._timeout = None
        self._pump(self._multi.socket_action, pycurl.SOCKET_TIMEOUT, 0)
        # Our clock and libcurl's need not agree on whether the deadline has
        # really passed; ask libcurl when it wants to run next and re-arm.
        wait_ms = self._multi.timeout()
        if wait_ms >= 0:
            self._set_timeout(wait_ms)

    def _handle_force_timeout(self) -> None:
        """Periodic nudge: let libcurl act on anything it lost track of."""
        self._pump(self._multi.socket_all)

    def _finish_pending_requests(self) -> None:
        """Deliver responses for every transfer libcurl reports as done,
        then start queued requests on the handles that freed up."""
        backlog = 1
        while backlog:
            backlog, ok_handles, failures = self._multi.info_read()
            for handle in ok_handles:
                self._finish(handle)
            for handle, code, message in failures:
                self._finish(handle, code, message)
        self._process_queue()

    def _process_queue(self) -> None:
        free = self._free_list
        waiting = self._requests
        while free and waiting:
            handle = free.pop()
            request, callback, queued_at = waiting.popleft()
            self._start_transfer(handle, request, callback, queued_at)

    def _start_transfer(
        self,
        handle: pycurl.Curl,
        request: HTTPRequest,
        callback: Callable[[HTTPResponse], None],
        queued_at: float,
    ) -> None:
        sink = BytesIO()
        received = httputil.HTTPHeaders()
        handle.info = {  # type: ignore[attr-defined]
            "request": request,
            "callback": callback,
            "headers": received,
            "buffer": sink,
            "queue_start_time": queued_at,
            "curl_start_time": time.time(),
            "curl_start_ioloop_time": ioloop.IOLoop.current().time(),
        }
        try:
            self._curl_setup_request(handle, request, sink, received)
        except Exception as exc:
            # We may be running inside _finish_pending_requests, where an
            # exception would escape into libcurl's machinery; turn it into
            # an error response instead.
            free = self._free_list
            free.append(handle)
            callback(HTTPResponse(request=request, code=599, error=exc))
            return
        self._multi.add_handle(handle)

    def _finish(
        self,
        curl: pycurl.Curl,
        curl_error: Optional[int] = None,
        curl_message: Optional[str] = None,
    ) -> None:
        info, curl.info = curl.info, None  # type: ignore[attr-defined]
        self._multi.remove_handle(curl)
        self._free_list.append(curl)

        body: Optional[BytesIO] = info["buffer"]
        assert body is not None
        error: Optional[CurlError] = None
        effective_url: Optional[str] = None
        if curl_error:
            assert curl_message is not None
            error = CurlError(curl_error, curl_message)
            status = error.code
            body.close()
            body = None
        else:
            status = curl.getinfo(pycurl.HTTP_CODE)
            effective_url = curl.getinfo(pycurl.EFFECTIVE_URL)
            body.seek(0)

        began = info["curl_start_ioloop_time"]
        timings = {"queue": began - info["queue_start_time"]}
        for label, option in _TIMING_FIELDS:
            timings[label] = curl.getinfo(option)

        deliver = info["callback"]
        received = info["headers"]
        try:
            response = HTTPResponse(
                request=info["request"],
                code=status,
                headers=received,
                buffer=body,
                effective_url=effective_url,
                error=error,
                reason=received.get("X-Http-Reason", None),
                request_time=self.io_loop.time() - began,
                start_time=info["curl_start_time"],
                time_info=timings,
            )
            deliver(response)
        except Exception:
            self.handle_callback_exception(deliver)

    def handle_callback_exception(self, callback: Any) -> None:
        app_log.error("Exception in callback %r", callback, exc_info=True)

    def _curl_create(self) -> pycurl.Curl:
        handle = pycurl.Curl()
        if curl_log.isEnabledFor(logging.DEBUG):
            handle.setopt(pycurl.DEBUGFUNCTION, self._curl_debug)
            handle.setopt(pycurl.VERBOSE, 1)
        if hasattr(pycurl, "PROTOCOLS"):
            # Only http(s), both for the URL itself and for redirects: no
            # file://, ftp:// and friends.
            web_only = pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS
            for option in (pycurl.PROTOCOLS, pycurl.REDIR_PROTOCOLS):
                handle.setopt(option, web_only)
        return handle

    def _curl_setup_request(
        self,
        curl: pycurl.Curl,
        request: HTTPRequest,
        buffer: BytesIO,
        headers: httputil.HTTPHeaders,
    ) -> None:
        curl.setopt(pycurl.URL, native_str(request.url))
        self._apply_headers(curl, request, headers)
        self._apply_output(curl, request, buffer)
        self._apply_connection(curl, request)
        self._apply_proxy(curl, request)
        self._apply_tls(curl, request)
        self._apply_method_and_body(curl, request)
        self._apply_auth(curl, request)
        for option, path in (
            (pycurl.SSLCERT, request.client_cert),
            (pycurl.SSLKEY, request.client_key),
        ):
            if path is not None:
                curl.setopt(option, path)
        if request.ssl_options is not None:
            raise ValueError("ssl_options not supported in curl_httpclient")
        # With threads around, libcurl must not use signals for its DNS
        # timeouts.  We leave signals on otherwise, because NOSIGNAL without
        # c-ares means no DNS timeout at all.
        if threading.active_count() >= 2:
            curl.setopt(pycurl.NOSIGNAL, 1)
        customize = request.prepare_curl_callback
        if customize is not None:
            customize(curl)

    def _apply_headers(
        self, curl: pycurl.Curl, request: HTTPRequest, received: httputil.HTTPHeaders
    ) -> None:
        # libcurl adds "Expect: 100-continue" (a stall with servers that never
        # answer it) and "Pragma: no-cache" on its own; an empty value
        # suppresses each unless the caller set one.
        outgoing = request.headers
        for unwanted in ("Expect", "Pragma"):
            if unwanted not in outgoing:
                outgoing[unwanted] = ""
        encoded: List[bytes] = [
            _encode_header_line(name, value) for name, value in outgoing.get_all()
        ]
        for line in encoded:
            if CR_OR_LF_RE.search(line) is not None:
                raise ValueError("Illegal characters in header (CR or LF): %r" % line)
        curl.setopt(pycurl.HTTPHEADER, encoded)
        on_header = partial(
            self._curl_header_callback, received, request.header_callback
        )
        curl.setopt(pycurl.HEADERFUNCTION, on_header)

    def _apply_output(self, curl: pycurl.Curl, request: HTTPRequest, sink: BytesIO) -> None:
        consumer = request.streaming_callback
        writer: Callable[[Union[bytes, bytearray]], Any]
        if not consumer:
            writer = sink.write
        else:
            loop = self.io_loop

            def writer(chunk: Union[bytes, bytearray]) -> int:
                # Hand the chunk to the application outside libcurl's call.
                loop.add_callback(consumer, chunk)
                return len(chunk)

        curl.setopt(pycurl.WRITEFUNCTION, writer)

    def _apply_connection(self, curl: pycurl.Curl, request: HTTPRequest) -> None:
        curl.setopt(pycurl.FOLLOWLOCATION, request.follow_redirects)
        curl.setopt(pycurl.MAXREDIRS, request.max_redirects)
        assert request.connect_timeout is not None
        assert request.request_timeout is not None
        curl.setopt(pycurl.CONNECTTIMEOUT_MS, int(request.connect_timeout * 1000))
        curl.setopt(pycurl.TIMEOUT_MS, int(request.request_timeout * 1000))
        agent = request.user_agent
        curl.setopt(
            pycurl.USERAGENT,
            native_str(agent) if agent else "Mozilla/5.0 (compatible; pycurl)",
        )
        if request.network_interface:
            curl.setopt(pycurl.INTERFACE, request.network_interface)
        accepted = "gzip,deflate" if request.decompress_response else None
        curl.setopt(pycurl.ENCODING, accepted)

    def _apply_proxy(self, curl: pycurl.Curl, request: HTTPRequest) -> None:
        host, port = request.proxy_host, request.proxy_port
        if host and port:
            curl.setopt(pycurl.PROXY, host)
            curl.setopt(pycurl.PROXYPORT, port)
            user = request.proxy_username
            if user:
                assert request.proxy_password is not None
                credentials = httputil.encode_username_password(
                    user, request.proxy_password
                )
                curl.setopt(pycurl.PROXYUSERPWD, credentials)
            scheme = _auth_option(
                request.proxy_auth_mode, "Unsupported proxy_auth_mode %s"
            )
            curl.setopt(pycurl.PROXYAUTH, scheme)
            return
        # No proxy for this request: clear anything a previous request on
        # this handle configured.
        try:
            curl.unsetopt(pycurl.PROXY)
        except TypeError:
            # Old pycurl refuses to unset PROXY; the empty string means none.
            curl.setopt(pycurl.PROXY, "")
        curl.unsetopt(pycurl.PROXYUSERPWD)

    def _apply_tls(self, curl: pycurl.Curl, request: HTTPRequest) -> None:
        checking = bool(request.validate_cert)
        curl.setopt(pycurl.SSL_VERIFYPEER, 1 if checking else 0)
        curl.setopt(pycurl.SSL_VERIFYHOST, 2 if checking else 0)
        if request.ca_certs is not None:
            # There is no way back to libcurl's default bundle afterwards
            # (unsetting CAINFO leaves no trust at all), so the setting
            # sticks to this handle: use ca_certs on all requests or none.
            curl.setopt(pycurl.CAINFO, request.ca_certs)
        # Resolve to IPv4 only when IPv6 is explicitly disallowed.
        if request.allow_ipv6 is False:
            family = pycurl.IPRESOLVE_V4
        else:
            family = pycurl.IPRESOLVE_WHATEVER
        curl.setopt(pycurl.IPRESOLVE, family)

    def _apply_method_and_body(self, curl: pycurl.Curl, request: HTTPRequest) -> None:
        method = request.method
        # Reset the per-method switches a previous request may have left on.
        for option in _METHOD_OPTIONS.values():
            curl.setopt(option, False)
        dedicated = _METHOD_OPTIONS.get(method)
        if dedicated is not None:
            curl.unsetopt(pycurl.CUSTOMREQUEST)
            curl.setopt(dedicated, True)
        elif method in _CUSTOM_METHODS or request.allow_nonstandard_methods:
            curl.setopt(pycurl.CUSTOMREQUEST, method)
        else:
            raise KeyError("unknown method " + method)

        wants_body = method in _BODY_METHODS
        has_body = request.body is not None
        if wants_body != has_body and not request.allow_nonstandard_methods:
            raise ValueError(
                "Body must %sbe None for method %s (unless "
                "allow_nonstandard_methods is true)"
                % ("not " if wants_body else "", method)
            )
        if wants_body or has_body:
            if method == "GET":
                # libcurl will not send a GET body (short of CUSTOMREQUEST),
                # and servers are free to ignore one.
                raise ValueError("Body must be None for GET request")
            self._attach_body(curl, method, utf8(request.body or ""))

    def _attach_body(self, curl: pycurl.Curl, method: str, payload: bytes) -> None:
        source = BytesIO(payload)
        curl.setopt(pycurl.READFUNCTION, source.read)
        # Redirects and auth round trips make libcurl rewind and resend the
        # body.  Prefer SEEKFUNCTION; the deprecated IOCTLFUNCTION is only a
        # fallback for pycurl builds without it.
        if hasattr(pycurl, "SEEKFUNCTION"):

            def rewind(offset: int, origin: int) -> int:
                source.seek(offset, origin)
                return 0  # CURL_SEEKFUNC_OK

            curl.setopt(pycurl.SEEKFUNCTION, rewind)
        else:

            def on_ioctl(cmd: int) -> None:
                if cmd == curl.IOCMD_RESTARTREAD:  # type: ignore[attr-defined]
                    source.seek(0)

            curl.setopt(pycurl.IOCTLFUNCTION, on_ioctl)
        size = len(payload)
        if method != "POST":
            curl.setopt(pycurl.UPLOAD, True)
            curl.setopt(pycurl.INFILESIZE, size)
        else:
            curl.setopt(pycurl.POSTFIELDSIZE, size)

    def _apply_auth(self, curl: pycurl.Curl, request: HTTPRequest) -> None:
        user = request.auth_username
        if user is not None:
            assert request.auth_password is not None
            curl.setopt(
                pycurl.HTTPAUTH, _auth_option(request.auth_mode, "Unsupported auth_mode %s")
            )
            secret = httputil.encode_username_password(user, request.auth_password)
            curl.setopt(pycurl.USERPWD, secret)
            curl_log.debug("%s %s (username: %r)", request.method, request.url, user)
        else:
            curl.unsetopt(pycurl.USERPWD)
            curl_log.debug("%s %s", request.method, request.url)

    def _curl_header_callback(
        self,
        headers: httputil.HTTPHeaders,
        header_callback: Optional[Callable[[str], None]],
        header_line_bytes: bytes,
    ) -> None:
        raw = native_str(header_line_bytes.decode("latin1"))
        if header_callback is not None:
            self.io_loop.add_callback(header_callback, raw)
        # Strip only the right side: leading whitespace marks a folded
        # continuation line that parse_line must see.
        text = raw.rstrip()
        if text.startswith("HTTP/"):
            # Status line of a new response (redirect hop, 100 Continue):
            # forget earlier headers and keep the reason phrase as a
            # pseudo-header for _finish.
            headers.clear()
            try:
                status_line = httputil.parse_response_start_line(text)
            except httputil.HTTPInputError:
                return
            text = "X-Http-Reason: %s" % status_line.reason
        if text:
            headers.parse_line(text)

    def _curl_debug(self, debug_type: int, debug_msg: str) -> None:
        # libcurl debug types: 0 informational text, 1/2 header data in/out,
        # 4 body data out.
        marker = _DEBUG_MARKERS.get(debug_type)
        if debug_type == 0:
            curl_log.debug("%s", native_str(debug_msg).strip())
        elif debug_type == 4:
            curl_log.debug("%s %r", marker, debug_msg)
        elif marker is not None:
            for piece in native_str(debug_msg).splitlines():
                curl_log.debug("%s %s", marker, piece)


class CurlError(HTTPError):
    def __init__(self, errno: int, message: str) -> None:
        self.errno = errno
        super().__init__(599, message)


if __name__ == "__main__":
    AsyncHTTPClient.configure(CurlAsyncHTTPClient)
    main()
