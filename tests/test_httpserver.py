"""Differential tests for tornado_c.httpserver (and the server side of
http1connection) against Tornado, over loopback sockets.

The hostile-input table lives in ``tests/http_cases/server_requests.py``; each
case is sent whole and one byte at a time.
"""

from __future__ import annotations

import asyncio
import gzip
import inspect
import logging
import os
import socket
import ssl
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_cases import server_requests  # noqa: E402

QUIET = 0.25  # seconds of silence after which an open connection counts as idle
CASE_TIMEOUT = 20.0


def new_loop(impl: Any) -> asyncio.AbstractEventLoop:
    # tornado_c runs on its native loop unless TORNADO_C_TEST_LOOP=asyncio.
    if impl.name == "tornado_c" and os.environ.get("TORNADO_C_TEST_LOOP") != "asyncio":
        import tornado_c

        return tornado_c.new_event_loop()
    return asyncio.new_event_loop()


def run(impl: Any, coro_fn: Callable[[], Any]) -> Any:
    loop = new_loop(impl)
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(asyncio.wait_for(coro_fn(), CASE_TIMEOUT))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
        asyncio.set_event_loop(None)


def echo_callback(impl: Any) -> Callable[[Any], None]:
    """The legacy request-callback interface: answers every request with
    ``<METHOD> <uri> <body length>``."""
    httputil = impl.mod("httputil")

    def callback(request: Any) -> None:
        body = f"{request.method} {request.uri} {len(request.body)}".encode()
        headers = httputil.HTTPHeaders({"Content-Length": str(len(body))})
        if request.method == "HEAD":
            body = b""
        request.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"), headers, body)
        request.connection.finish()

    return callback


def listen(impl: Any, server: Any) -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    server.add_sockets([sock])
    return sock.getsockname()[1]


def client_exchange(port: int, raw: bytes, bytewise: bool,
                    quiet: float = QUIET) -> Tuple[bytes, bool]:
    """Blocking client (run in a thread): send ``raw``, read until the server
    closes or stays quiet.  Returns (bytes received, closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if bytewise:
                for i in range(len(raw)):
                    s.sendall(raw[i:i + 1])
                    time.sleep(0.0005)
            else:
                s.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass
        s.settimeout(quiet)
        data = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                got = s.recv(65536)
            except socket.timeout:
                return data, False
            except ConnectionResetError:
                return data, True
            if not got:
                return data, True
            data += got
        return data, False


def parse_responses(data: bytes) -> List[Tuple[int, bytes]]:
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, data
        lines = head.split(b"\r\n")
        code = int(lines[0].split(b" ")[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        if code == 100:
            length = 0
        out.append((code, rest[:length]))
        data = rest[length:]
    return out


async def serve_and_send(impl: Any, raw: bytes, bytewise: bool,
                         server_kwargs: Optional[Dict[str, Any]] = None,
                         callback: Any = None, quiet: float = QUIET) -> Tuple[bytes, bool]:
    httpserver = impl.mod("httpserver")
    server = httpserver.HTTPServer(callback or echo_callback(impl),
                                   **(server_kwargs or {}))
    port = listen(impl, server)
    try:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, client_exchange, port, raw, bytewise, quiet)
    finally:
        server.stop()
        await server.close_all_connections()


CASES = server_requests.CASES


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_request_table(impl: Any, case: Any, bytewise: bool,
                       caplog: Any) -> None:
    caplog.set_level(logging.CRITICAL + 1)
    data, closed = run(impl, lambda: serve_and_send(
        impl, case.raw, bytewise, case.server))
    expected = (case.responses, case.closed)
    if impl.name == "tornado_c" and case.strict is not None:
        expected = case.strict
    assert (parse_responses(data), closed) == expected


# --- server behaviour ---------------------------------------------------------

def test_signature(impl: Any) -> None:
    import tornado.httpserver as ref

    mine = impl.mod("httpserver")
    a = inspect.signature(mine.HTTPServer.initialize)
    b = inspect.signature(ref.HTTPServer.initialize)
    assert list(a.parameters) == list(b.parameters)
    assert [p.default for p in a.parameters.values()] == [
        p.default for p in b.parameters.values()]
    assert mine.HTTPRequest is impl.mod("httputil").HTTPServerRequest
    assert mine.HTTPServer.configurable_base() is mine.HTTPServer
    assert mine.HTTPServer.configurable_default() is mine.HTTPServer
    assert issubclass(mine.HTTPServer, impl.mod("tcpserver").TCPServer)
    assert issubclass(mine.HTTPServer, impl.mod("util").Configurable)
    assert issubclass(mine.HTTPServer, impl.mod("httputil").HTTPServerConnectionDelegate)


def test_constructor_args(impl: Any) -> None:
    async def main() -> Any:
        httpserver = impl.mod("httpserver")
        server = httpserver.HTTPServer(
            echo_callback(impl), no_keep_alive=True, xheaders=True, protocol="https",
            decompress_request=True, chunk_size=10, max_header_size=20,
            idle_connection_timeout=3, body_timeout=4, max_body_size=5,
            max_buffer_size=1000, trusted_downstream=["1.1.1.1"])
        p = server.conn_params
        got = (p.no_keep_alive, p.chunk_size, p.max_header_size, p.header_timeout,
               p.max_body_size, p.body_timeout, p.decompress, server.xheaders,
               server.protocol, server.trusted_downstream, server.max_buffer_size,
               server.read_chunk_size, server._connections)
        default = httpserver.HTTPServer(echo_callback(impl)).conn_params
        got += ((default.chunk_size, default.max_header_size, default.header_timeout,
                 default.max_body_size, default.body_timeout),)
        return got
    assert run(impl, main) == (
        True, 10, 20, 3, 5, 4, True, True, "https", ["1.1.1.1"], 1000, 10, set(),
        (65536, 65536, 3600, None, None))


class _Recorder:
    """An HTTPServerConnectionDelegate/HTTPMessageDelegate pair that records
    every call and answers each request."""

    def __init__(self, impl: Any, respond: bool = True) -> None:
        self.impl = impl
        self.events: List[Any] = []
        self.respond = respond

    def make(self) -> Any:
        httputil = self.impl.mod("httputil")
        rec = self

        class Message(httputil.HTTPMessageDelegate):
            def __init__(self, conn: Any) -> None:
                self.conn = conn

            def headers_received(self, start_line: Any, headers: Any) -> None:
                rec.events.append(("headers", tuple(start_line), sorted(headers.get_all()),
                                   self.conn.context.remote_ip,
                                   self.conn.context.protocol))

            def data_received(self, chunk: bytes) -> None:
                rec.events.append(("data", chunk))

            def finish(self) -> None:
                rec.events.append(("finish",))
                if rec.respond:
                    self.conn.write_headers(
                        httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
                        httputil.HTTPHeaders({"Content-Length": "2"}), b"ok")
                    self.conn.finish()

            def on_connection_close(self) -> None:
                rec.events.append(("close",))

        class Server(httputil.HTTPServerConnectionDelegate):
            def start_request(self, server_conn: Any, request_conn: Any) -> Any:
                rec.events.append(("start",))
                return Message(request_conn)

            def on_close(self, server_conn: Any) -> None:
                rec.events.append(("on_close",))

        return Server()


@pytest.mark.parametrize("raw", [
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n"
    b"Host: y\r\nConnection: close\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"1\r\na\r\n2\r\nbc\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nabc",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.2.3.4, 5.6.7.8\r\n"
    b"X-Forwarded-Proto: https\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",
])
@pytest.mark.parametrize("xheaders", [False, True])
def test_delegate_events(impl: Any, raw: bytes, xheaders: bool, caplog: Any) -> None:
    caplog.set_level(logging.CRITICAL + 1)
    rec = _Recorder(impl)
    data, closed = run(impl, lambda: serve_and_send(
        impl, raw, False, {"xheaders": xheaders, "chunk_size": 2}, rec.make()))
    import tornado.httpserver  # noqa: F401  (reference expectations below)
    expected = _reference_events(raw, xheaders)
    # Where a body splits into data_received() chunks depends on how much
    # each side happened to read from the socket (Tornado's own split follows
    # an internal read-ahead heuristic); what is defined is the bytes, their
    # order around the other events, and that no chunk exceeds chunk_size.
    for name, ev in (("tornado_c", rec.events), ("reference", expected[0])):
        assert all(len(e[1]) <= 2 for e in ev if e[0] == "data"), name
    assert (_merge_data(rec.events), parse_responses(data), closed) == (
        _merge_data(expected[0]), *expected[1:])


def _merge_data(events: list) -> list:
    merged: list = []
    for e in events:
        if e[0] == "data" and merged and merged[-1][0] == "data":
            merged[-1] = ("data", merged[-1][1] + e[1])
        else:
            merged.append(e)
    return merged


_REF_CACHE: Dict[Any, Any] = {}


def _reference_events(raw: bytes, xheaders: bool) -> Any:
    key = (raw, xheaders)
    if key not in _REF_CACHE:
        from conftest import Impl

        ref = Impl("tornado")
        rec = _Recorder(ref)
        data, closed = run(ref, lambda: serve_and_send(
            ref, raw, False, {"xheaders": xheaders, "chunk_size": 2}, rec.make()))
        _REF_CACHE[key] = (rec.events, parse_responses(data), closed)
    return _REF_CACHE[key]


@pytest.mark.parametrize("headers,trusted,expected", [
    ({"X-Real-Ip": "4.4.4.4"}, None, ("4.4.4.4", "http")),
    ({"X-Real-Ip": "not-an-ip"}, None, ("127.0.0.1", "http")),
    ({"X-Forwarded-For": "1.1.1.1, 2.2.2.2"}, None, ("2.2.2.2", "http")),
    ({"X-Forwarded-For": "1.1.1.1, 2.2.2.2"}, ["2.2.2.2"], ("1.1.1.1", "http")),
    ({"X-Forwarded-For": "1.1.1.1, 2.2.2.2"}, ["1.1.1.1", "2.2.2.2"],
     ("1.1.1.1", "http")),
    ({"X-Forwarded-For": "::1"}, None, ("::1", "http")),
    ({"X-Scheme": "https"}, None, ("127.0.0.1", "https")),
    ({"X-Forwarded-Proto": "http, https"}, None, ("127.0.0.1", "https")),
    ({"X-Forwarded-Proto": "gopher"}, None, ("127.0.0.1", "http")),
    ({"X-Scheme": "https", "X-Forwarded-Proto": "http"}, None, ("127.0.0.1", "https")),
])
def test_xheaders(impl: Any, headers: Dict[str, str], trusted: Any,
                  expected: Tuple[str, str]) -> None:
    seen: List[Any] = []
    httputil = impl.mod("httputil")

    def callback(request: Any) -> None:
        seen.append((request.remote_ip, request.protocol))
        request.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
            httputil.HTTPHeaders({"Content-Length": "0"}))
        request.connection.finish()

    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode()
    # The second request has no proxy headers: nothing leaks from the first.
    raw = (b"GET / HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n"
           b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    run(impl, lambda: serve_and_send(
        impl, raw, False, {"xheaders": True, "trusted_downstream": trusted}, callback))
    assert seen == [expected, ("127.0.0.1", "http")]


def test_protocol_argument(impl: Any) -> None:
    seen: List[Any] = []
    httputil = impl.mod("httputil")

    def callback(request: Any) -> None:
        seen.append((request.protocol, request.full_url(), request.remote_ip,
                     str(request.connection.context)))
        request.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 204, "No Content"),
            httputil.HTTPHeaders())
        request.connection.finish()

    raw = b"GET /p?q HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    data, closed = run(impl, lambda: serve_and_send(
        impl, raw, False, {"protocol": "https"}, callback))
    assert seen == [("https", "https://h/p?q", "127.0.0.1", "127.0.0.1")]
    assert data.startswith(b"HTTP/1.1 204 No Content\r\n") and closed


def test_decompress_request(impl: Any) -> None:
    body = gzip.compress(b"a=1&b=2&" * 100)
    raw = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\n"
           b"Content-Type: application/x-www-form-urlencoded\r\n"
           b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)) + body
    seen: List[Any] = []
    httputil = impl.mod("httputil")

    def callback(request: Any) -> None:
        seen.append((len(request.body), request.arguments.get("b", [])[:1],
                     request.headers.get("Content-Encoding"),
                     request.headers.get("X-Consumed-Content-Encoding")))
        request.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
            httputil.HTTPHeaders({"Content-Length": "0"}))
        request.connection.finish()

    run(impl, lambda: serve_and_send(
        impl, raw, False, {"decompress_request": True, "chunk_size": 64}, callback))
    assert seen == [(800, [b"2"], None, "gzip")]


def framing_callback(impl: Any) -> Callable[[Any], None]:
    httputil = impl.mod("httputil")

    def callback(request: Any) -> None:
        code = int(request.path[1:])
        conn = request.connection
        has_body = code not in (204, 304) and request.method != "HEAD"
        conn.write_headers(httputil.ResponseStartLine("HTTP/1.1", code, "R"),
                           httputil.HTTPHeaders(), b"ab" if has_body else None)
        if has_body:
            conn.write(b"")
            conn.write(b"cde")
        conn.finish()

    return callback


def reference() -> Any:
    from conftest import Impl

    return Impl("tornado")


@pytest.mark.parametrize("raw", [
    b"GET /200 HTTP/1.1\r\nHost: x\r\n\r\nGET /204 HTTP/1.1\r\nHost: x\r\n\r\n"
    b"GET /304 HTTP/1.1\r\nHost: x\r\n\r\nHEAD /200 HTTP/1.1\r\nHost: x\r\n\r\n"
    b"GET /200 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /200 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /200 HTTP/1.0\r\n\r\n",
    b"GET /101 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
])
def test_response_framing(impl: Any, raw: bytes) -> None:
    """Chunked output for HTTP/1.1 without Content-Length; none for 1.0,
    HEAD, 1xx, 204 and 304; Connection headers added as Tornado does."""
    got = run(impl, lambda: serve_and_send(impl, raw, False, {}, framing_callback(impl)))
    ref = reference()
    want = run(ref, lambda: serve_and_send(ref, raw, False, {}, framing_callback(ref)))
    assert got == want


@pytest.mark.parametrize("mode", ["more", "less", "crlf"])
def test_output_errors(impl: Any, mode: str, caplog: Any) -> None:
    caplog.set_level(logging.CRITICAL + 1)
    httputil = impl.mod("httputil")
    errors: List[str] = []

    def callback(request: Any) -> None:
        conn = request.connection
        try:
            if mode == "crlf":
                conn.write_headers(httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
                                   httputil.HTTPHeaders({"X": "a\r\nb"}))
                return
            conn.write_headers(httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
                               httputil.HTTPHeaders({"Content-Length": "3"}))
            conn.write(b"abcd" if mode == "more" else b"ab")
            conn.finish()
        except Exception as e:
            errors.append(f"{type(e).__name__}: {e}")
            if mode == "crlf":
                conn.finish()

    raw = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    data, closed = run(impl, lambda: serve_and_send(impl, raw, False, {}, callback))
    assert (data, closed) == {
        "more": (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", True),
        "less": (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab", True),
        "crlf": (b"0\r\n\r\n", False),
    }[mode]
    expected = {
        "more": ["HTTPOutputError: Tried to write more data than Content-Length"],
        "less": ["HTTPOutputError: Tried to write 1 bytes less than Content-Length"],
        "crlf": ["ValueError: Illegal characters (CR or LF) in header: b'X: a\\r\\nb'"],
    }[mode]
    assert errors == expected


HEAD_LINE_CASES = [
    ("O\rK", {"A": "1"}),
    ("OK", {"X\n": "v"}),
    ("OK", {"A": "ok", "B": "x\ry"}),
    ("OK", {"A": "x\ny", "B": "\u20ac"}),  # encoding fails before any check
    ("OK", {"A": "\xe9t\xe9", "B": "\u20ac"}),
    ("O\nK", {"A": "\u20ac"}),
    ("\xe9", {"A": "\xe9"}),  # latin-1 text: sent
]


@pytest.mark.parametrize("case", range(len(HEAD_LINE_CASES)))
def test_write_headers_line_errors(impl: Any, case: int, caplog: Any) -> None:
    """write_headers refuses CR or LF in the status line or any field and
    text that is not latin-1, with Tornado's exception for the same line
    (every line is encoded before any is checked)."""
    caplog.set_level(logging.CRITICAL + 1)

    def attempt(impl: Any) -> Tuple[List[str], bytes]:
        httputil = impl.mod("httputil")
        reason, fields = HEAD_LINE_CASES[case]
        errors: List[str] = []

        def callback(request: Any) -> None:
            conn = request.connection
            try:
                conn.write_headers(httputil.ResponseStartLine("HTTP/1.1", 200, reason),
                                   httputil.HTTPHeaders({"Content-Length": "0", **fields}))
            except Exception as e:
                errors.append(f"{type(e).__name__}: {e}")
                conn.write_headers(httputil.ResponseStartLine("HTTP/1.1", 500, "No"),
                                   httputil.HTTPHeaders({"Content-Length": "0"}))
            conn.finish()

        raw = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        data, _closed = run(impl, lambda: serve_and_send(impl, raw, False, {}, callback))
        return errors, data

    ref = reference()
    assert attempt(impl) == attempt(ref)


def test_request_context_properties_honoured(impl: Any) -> None:
    """The request reads connection.context's remote_ip and protocol (from
    their slots in tornado_c); a property put on the context class in their
    place is used, as in Tornado, and the slots are read again once it is
    removed."""
    httpserver = impl.mod("httpserver")
    cls = httpserver._HTTPRequestContext
    seen: List[Tuple[str, str]] = []

    def callback(request: Any) -> None:
        seen.append((request.remote_ip, request.protocol))
        request.connection.write_headers(
            impl.mod("httputil").ResponseStartLine("HTTP/1.1", 200, "OK"),
            impl.mod("httputil").HTTPHeaders({"Content-Length": "0"}))
        request.connection.finish()

    raw = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    run(impl, lambda: serve_and_send(impl, raw, False, {}, callback))
    saved = {name: cls.__dict__[name] for name in ("remote_ip", "protocol") if name in cls.__dict__}
    cls.remote_ip = property(lambda self: "10.9.8.7", lambda self, value: None)
    cls.protocol = property(lambda self: "gopher", lambda self, value: None)
    try:
        run(impl, lambda: serve_and_send(impl, raw, False, {}, callback))
    finally:
        del cls.remote_ip, cls.protocol
        for name, value in saved.items():
            setattr(cls, name, value)
    run(impl, lambda: serve_and_send(impl, raw, False, {}, callback))
    assert seen == [("127.0.0.1", "http"), ("10.9.8.7", "gopher"), ("127.0.0.1", "http")]


def test_malformed_request_logging(impl: Any, caplog: Any) -> None:
    caplog.set_level(logging.INFO)
    raw = b"GET / HTTP/1.1\r\nHost: a,b\r\n\r\n"
    run(impl, lambda: serve_and_send(impl, raw, False))
    records = [(r.name, r.levelname, r.getMessage()) for r in caplog.records
               if r.name.startswith("tornado")]
    assert records == [("tornado.general", "INFO",
                        "Malformed HTTP message from 127.0.0.1: "
                        "Multiple host headers not allowed: 'a,b'")]


def test_application_exception_logged(impl: Any, caplog: Any) -> None:
    caplog.set_level(logging.INFO)

    def callback(request: Any) -> None:
        raise ZeroDivisionError("boom")

    raw = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    # The close comes after the traceback is logged, which a sanitizer build
    # on a busy machine can take longer than QUIET over: wait for it longer.
    data, closed = run(impl, lambda: serve_and_send(impl, raw, False, {}, callback, quiet=5.0))
    assert data == b"" and closed
    records = [(r.name, r.levelname, r.getMessage(), r.exc_info[0].__name__)
               for r in caplog.records if r.name.startswith("tornado")]
    assert records == [("tornado.application", "ERROR", "Uncaught exception",
                        "ZeroDivisionError")]


def test_body_timeout(impl: Any, caplog: Any) -> None:
    caplog.set_level(logging.INFO)
    raw = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab"

    async def main() -> Any:
        httpserver = impl.mod("httpserver")
        server = httpserver.HTTPServer(echo_callback(impl), body_timeout=0.05)
        port = listen(impl, server)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                None, client_exchange, port, raw, False, 5.0)
        finally:
            server.stop()
            await server.close_all_connections()

    data, closed = run(impl, main)
    assert (data, closed) == (b"", True)
    assert [r.getMessage() for r in caplog.records if r.name == "tornado.general"] == [
        "Timeout reading body from 127.0.0.1"]


def _idle_timeout_exchange(impl: Any, raw: bytes) -> Tuple[bytes, bool]:
    # Sends raw to an echo server with a 50 ms idle timeout; what came back
    # and whether the server closed.
    async def main() -> Any:
        httpserver = impl.mod("httpserver")
        server = httpserver.HTTPServer(echo_callback(impl), idle_connection_timeout=0.05)
        port = listen(impl, server)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(None, client_exchange, port, raw, False, 5.0)
        finally:
            server.stop()
            await server.close_all_connections()

    return run(impl, main)


def test_idle_connection_timeout(impl: Any) -> None:
    data, closed = _idle_timeout_exchange(impl, b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET")
    assert (parse_responses(data), closed) == ([(200, b"GET / 0")], True)


def test_malformed_unfinished_head_meets_idle_timeout(impl: Any, caplog: Any) -> None:
    """A head with a fault but no end yet is not answered (Tornado parses a
    head only once it has ended); the idle timeout closes the connection,
    with no response and no "Malformed" line.  Its end arriving in time
    gets the 400 (test_request_table)."""
    caplog.set_level(logging.INFO)
    data, closed = _idle_timeout_exchange(impl, b"GET / HTTP/1.1\r\nX(y): z\r\nHost: x\r\n")
    assert (data, closed) == (b"", True)
    assert not [r for r in caplog.records if "Malformed" in r.getMessage()]


def test_close_all_connections(impl: Any) -> None:
    async def main() -> Any:
        httpserver = impl.mod("httpserver")
        server = httpserver.HTTPServer(echo_callback(impl))
        port = listen(impl, server)
        loop = asyncio.get_running_loop()
        socks = []
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            socks.append(s)
        for s in socks:
            await loop.run_in_executor(None, s.recv, 100)
        n = len(server._connections)
        server.stop()
        await server.close_all_connections()
        remaining = len(server._connections)
        eofs = []
        for s in socks:
            s.settimeout(5)
            eofs.append(await loop.run_in_executor(None, s.recv, 100))
            s.close()
        return n, remaining, eofs

    assert run(impl, main) == (3, 0, [b"", b"", b""])


def test_unix_socket_context(impl: Any, tmp_path: Any) -> None:
    httputil = impl.mod("httputil")
    seen: List[Any] = []

    def callback(request: Any) -> None:
        seen.append((request.remote_ip, str(request.connection.context)))
        request.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
            httputil.HTTPHeaders({"Content-Length": "0"}))
        request.connection.finish()

    path = str(tmp_path / "s")

    async def main() -> Any:
        httpserver = impl.mod("httpserver")
        server = httpserver.HTTPServer(callback)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
        sock.listen(4)
        sock.setblocking(False)
        server.add_sockets([sock])

        def client() -> bytes:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
                c.settimeout(5)
                c.connect(path)
                c.sendall(b"GET / HTTP/1.0\r\n\r\n")
                out = b""
                while True:
                    got = c.recv(100)
                    if not got:
                        return out
                    out += got

        try:
            return await asyncio.get_running_loop().run_in_executor(None, client)
        finally:
            server.stop()
            await server.close_all_connections()

    data = run(impl, main)
    assert data.startswith(b"HTTP/1.1 200 OK")
    assert seen == [("0.0.0.0", "")]


def test_ssl_server(impl: Any) -> None:
    certdir = os.path.join(os.path.dirname(__import__("tornado").__file__), "test")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(os.path.join(certdir, "test.crt"), os.path.join(certdir, "test.key"))
    httputil = impl.mod("httputil")
    seen: List[Any] = []

    def callback(request: Any) -> None:
        seen.append((request.protocol, request.get_ssl_certificate()))
        request.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
            httputil.HTTPHeaders({"Content-Length": "2"}), b"hi")
        request.connection.finish()

    async def main() -> Any:
        httpserver = impl.mod("httpserver")
        server = httpserver.HTTPServer(callback, ssl_options=ctx)
        port = listen(impl, server)

        def client() -> bytes:
            cctx = ssl.create_default_context()
            cctx.check_hostname = False
            cctx.verify_mode = ssl.CERT_NONE
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                with cctx.wrap_socket(raw) as c:
                    c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    out = b""
                    while True:
                        try:
                            got = c.recv(100)
                        except (ssl.SSLError, OSError):
                            return out
                        if not got:
                            return out
                        out += got

        try:
            return await asyncio.get_running_loop().run_in_executor(None, client)
        finally:
            server.stop()
            await server.close_all_connections()

    data = run(impl, main)
    assert parse_responses(data) == [(200, b"hi")]
    assert seen == [("https", None)]


def test_threads_not_leaked() -> None:
    # The executor threads used by the client helper end with their loops.
    assert threading.active_count() < 50


# --- how the engine dispatches requests -------------------------------------
#
# For a plain request callback, and for a router that keeps
# Router.start_request, tornado_c's native connection makes its per-request
# delegate itself (_core.Dispatch) instead of calling
# HTTPServer.start_request; these tests pin down that nothing observable
# changes.

_MULTIPART = (b"--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\n"
              b"file body\r\n--B\r\nContent-Disposition: form-data; name=\"g\"\r\n\r\n"
              b"v\r\n--B--\r\n")
_DISPATCH_REQUESTS = [
    b"GET /p?a=1&a=2&b= HTTP/1.1\r\nHost: example.com:81\r\n\r\n",
    b"POST /form?q=1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded"
    b"\r\nContent-Length: 11\r\n\r\nq=2&r=three",
    b"POST /c HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n3\r\nz=1\r\n4\r\n&y=2\r\n0\r\n\r\n",
    b"POST /m HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_MULTIPART), _MULTIPART),
    b"GET /old HTTP/1.0\r\n\r\n",
]


def _request_summary(request: Any) -> Tuple[Any, ...]:
    return (
        type(request).__name__, request.method, request.uri, request.version,
        request.path, request.query, request.body, request.arguments,
        request.query_arguments, request.body_arguments, sorted(request.files),
        request.host, request.host_name, request.remote_ip, request.protocol,
        request.server_connection is None, request.connection is not None,
        sorted(request.headers.get_all()),
    )


def _recording_callback(which: Any, seen: List[Any], body: bytes) -> Callable[[Any], None]:
    """A request callback for ``which`` that records the request it gets in
    ``seen`` and answers 200 with ``body``."""
    httputil = which.mod("httputil")

    def callback(request: Any) -> None:
        seen.append(_request_summary(request))
        request.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
            httputil.HTTPHeaders({"Content-Length": str(len(body))}), body)
        request.connection.finish()

    return callback


@pytest.mark.parametrize("raw", _DISPATCH_REQUESTS)
def test_callback_request_attributes(impl: Any, raw: bytes) -> None:
    seen: List[Any] = []

    def exchange(which: Any) -> Any:
        callback = _recording_callback(which, seen, b"ok")
        del seen[:]
        data, closed = run(which, lambda: serve_and_send(which, raw, False, {}, callback))
        return list(seen), parse_responses(data), closed

    got = exchange(impl)
    if impl.name == "tornado_c":
        from conftest import Impl

        assert got == exchange(Impl("tornado"))
    assert len(got[0]) == 1 and got[1] == [(200, b"ok")]


@pytest.mark.parametrize("path", ["/hit", "/nope", "/raise"])
def test_router_dispatch(impl: Any, path: str, caplog: Any) -> None:
    """A RuleRouter as the server's target: the request a rule's callable
    target gets, the bare 404 and its debug line when no rule matches, and an
    exception from the target."""
    caplog.set_level(logging.DEBUG)
    seen: List[Any] = []

    def boom(request: Any) -> None:
        raise ValueError("no")

    raw = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()

    def exchange(which: Any) -> Any:
        hit = _recording_callback(which, seen, b"hit")
        del seen[:]
        caplog.clear()
        router = which.mod("routing").RuleRouter([("/hit", hit), ("/raise", boom)])
        data, closed = run(which, lambda: serve_and_send(which, raw, False, {}, router,
                                                         quiet=5.0))
        records = [(r.name, r.levelname, r.getMessage()) for r in caplog.records
                   if r.name.startswith("tornado") and r.name != "tornado.access"]
        return list(seen), data, closed, records

    got = exchange(impl)
    if impl.name == "tornado_c":
        from conftest import Impl

        assert got == exchange(Impl("tornado"))
    if path == "/hit":
        assert got[1].endswith(b"\r\n\r\nhit") and len(got[0]) == 1
    elif path == "/nope":
        assert got[1].startswith(b"HTTP/1.1 404 Not Found\r\n")
        assert ("tornado.application", "DEBUG",
                "Delegate for GET /nope request not found") in got[3]
    else:
        assert ("tornado.application", "ERROR", "Uncaught exception") in got[3]


def test_start_request_override_is_called(impl: Any) -> None:
    """A server that overrides start_request is asked for every request (and,
    as Tornado's request loop does, once more after a closing response)."""
    httpserver = impl.mod("httpserver")
    calls: List[str] = []

    class Counting(httpserver.HTTPServer):
        def start_request(self, server_conn: Any, request_conn: Any) -> Any:
            calls.append("start")
            return super().start_request(server_conn, request_conn)

    raw = (b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")

    async def go() -> Any:
        server = Counting(echo_callback(impl))
        port = listen(impl, server)
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, client_exchange, port, raw, False)
        finally:
            server.stop()
            await server.close_all_connections()

    data, closed = run(impl, go)
    assert parse_responses(data) == [(200, b"GET /a 0"), (200, b"GET /b 0")] and closed
    assert calls == ["start"] * 3


def test_native_dispatch_plan() -> None:
    """When HTTPServer lets the engine dispatch by itself, and how."""
    from tornado_c import httpserver, httputil, routing, web

    def callback(request: Any) -> None:
        pass

    app = web.Application()
    assert httpserver.HTTPServer(callback)._native_dispatch() == (
        1, callback, httputil.HTTPServerRequest, routing._unrouted,
        httputil.HTTPServerRequest.__dict__["_parse_body"])
    assert httpserver.HTTPServer(app)._native_dispatch() == (
        2, app, httputil.HTTPServerRequest, routing._unrouted)
    assert httpserver.HTTPServer(app, xheaders=True)._native_dispatch() is None

    class OwnStart(httpserver.HTTPServer):
        def start_request(self, server_conn: Any, request_conn: Any) -> Any:
            return super().start_request(server_conn, request_conn)

    assert OwnStart(app)._native_dispatch() is None

    class OwnRouterStart(routing.RuleRouter):
        def start_request(self, server_conn: Any, request_conn: Any) -> Any:
            return super().start_request(server_conn, request_conn)

    assert httpserver.HTTPServer(OwnRouterStart())._native_dispatch() is None

    class Plain(httputil.HTTPServerConnectionDelegate):
        pass

    assert httpserver.HTTPServer(Plain())._native_dispatch() is None


def test_application_request_has_server_connection(impl: Any) -> None:
    """Behind an Application (router mode) the handler's request carries the
    server connection, as _RoutingDelegate gives it."""
    web = impl.mod("web")
    seen: List[Any] = []

    class Handler(web.RequestHandler):
        def post(self) -> None:
            seen.append((self.request.server_connection is not None,
                         type(self.request.server_connection).__name__,
                         self.request.body, self.get_body_argument("k")))
            self.write("ok")

    raw = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
           b"Content-Length: 3\r\nConnection: close\r\n\r\nk=v")
    data, closed = run(impl, lambda: serve_and_send(
        impl, raw, False, {}, web.Application([("/", Handler)])))
    assert parse_responses(data) == [(200, b"ok")] and closed
    assert seen == [(True, "HTTP1ServerConnection", b"k=v", "v")]


def test_patched_start_request_is_called(impl: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Instrumentation that patches HTTPServer.start_request or
    Router.start_request keeps being called for every request."""
    httpserver = impl.mod("httpserver")
    routing = impl.mod("routing")
    web = impl.mod("web")
    calls: List[str] = []
    server_start = httpserver.HTTPServer.start_request
    router_start = routing.Router.start_request

    def patched_server(self: Any, server_conn: Any, request_conn: Any) -> Any:
        calls.append("server")
        return server_start(self, server_conn, request_conn)

    def patched_router(self: Any, server_conn: Any, request_conn: Any) -> Any:
        calls.append("router")
        return router_start(self, server_conn, request_conn)

    monkeypatch.setattr(httpserver.HTTPServer, "start_request", patched_server)
    monkeypatch.setattr(routing.Router, "start_request", patched_router)

    class Handler(web.RequestHandler):
        def get(self) -> None:
            self.write("ok")

    raw = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    data, closed = run(impl, lambda: serve_and_send(
        impl, raw, False, {}, web.Application([("/", Handler)])))
    assert parse_responses(data) == [(200, b"ok")]
    # One request, then the extra start Tornado's loop makes after the close.
    assert calls == ["server", "router", "server", "router"]


def test_patched_parse_body_is_called(impl: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A patched HTTPServerRequest._parse_body runs for every request to a
    plain callback, with or without a body to parse (tornado_c's engine
    only skips the original when there is no Content-Type)."""
    httputil = impl.mod("httputil")
    calls: List[str] = []
    original = httputil.HTTPServerRequest._parse_body

    def patched(self: Any) -> None:
        calls.append(self.method)
        original(self)

    seen: List[Any] = []

    def callback(request: Any) -> None:
        seen.append(request.body_arguments)
        body = b"ok"
        request.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
            httputil.HTTPHeaders({"Content-Length": str(len(body))}), body)
        request.connection.finish()

    raw = (
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 3\r\n\r\na=1"
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    data, closed = run(impl, lambda: serve_and_send(impl, raw, False, {}, callback))
    assert parse_responses(data) == [(200, b"ok")] * 3
    assert seen == [{}, {"a": [b"1"]}, {}]
    monkeypatch.setattr(httputil.HTTPServerRequest, "_parse_body", patched)
    seen.clear()
    data, closed = run(impl, lambda: serve_and_send(impl, raw, False, {}, callback))
    assert parse_responses(data) == [(200, b"ok")] * 3
    assert calls == ["GET", "POST", "GET"] and seen == [{}, {"a": [b"1"]}, {}]


def test_native_connection_dispatches_itself() -> None:
    """On the native loop an Application's requests reach find_handler
    straight from the connection, not through routing._RoutingDelegate."""
    import tornado_c
    from tornado_c import web

    callers: List[str] = []

    class Recording(web.Application):
        def find_handler(self, request: Any, **kwargs: Any) -> Any:
            callers.append(sys._getframe(1).f_code.co_name)
            return super().find_handler(request, **kwargs)

    class Handler(web.RequestHandler):
        def get(self) -> None:
            self.write("ok")

    class Fake:
        name = "tornado_c"

        @staticmethod
        def mod(name: str) -> Any:
            import importlib

            return importlib.import_module("tornado_c." + name)

    loop = tornado_c.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        raw = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        data, _ = loop.run_until_complete(serve_and_send(
            Fake(), raw, False, {}, Recording([("/", Handler)])))
    finally:
        loop.close()
        asyncio.set_event_loop(None)
    assert parse_responses(data) == [(200, b"ok")]
    assert len(callers) == 1 and callers[0] != "headers_received"


# --- requests built in C (csrc/request.c) ------------------------------------

_REQUEST_SHAPES = [
    b"GET /p?a=1&a=2&b=&c HTTP/1.1\r\nHost: Example.COM:81\r\n\r\n",
    b"GET /plain HTTP/1.1\r\nHost: x\r\nX-Thing: 1\r\n\r\n",
    b"GET /q? HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /old HTTP/1.0\r\n\r\n",
    b"GET /u?x=%C3%A9&y=%ff HTTP/1.1\r\nHost: [::1]:8\r\n\r\n",
]


# The attributes HTTPServerRequest.__init__ always assigns, in its order
# (all slots but path and query).
_REQUEST_ATTRIBUTES = (
    "method", "uri", "version", "headers", "body", "remote_ip", "protocol",
    "host_name", "host", "files", "connection", "server_connection",
    "_start_time", "_finish_time", "path", "query", "arguments",
    "query_arguments", "body_arguments",
)


def _request_state(request: Any) -> Dict[str, Any]:
    """Every attribute of a request: those __init__ always assigns (each
    must be set), then a copy of its __dict__."""
    state = {name: getattr(request, name) for name in _REQUEST_ATTRIBUTES}
    state["__dict__"] = dict(vars(request))
    return state


@pytest.mark.parametrize("raw", _REQUEST_SHAPES)
@pytest.mark.parametrize("router", [False, True], ids=["callback", "router"])
def test_native_request_equals_python_init(raw: bytes, router: bool) -> None:
    """The request the native server builds has the attributes, with the
    values, that HTTPServerRequest.__init__ gives: the slots it stores
    straight into, and in __dict__ only the two that are not slots."""
    from tornado_c import httputil, web

    from conftest import Impl

    impl = Impl("tornado_c")
    pairs: List[Any] = []

    def record(request: Any) -> None:
        again = httputil.HTTPServerRequest(
            connection=request.connection, server_connection=request.server_connection,
            start_line=httputil.RequestStartLine(request.method, request.uri, request.version),
            headers=request.headers)
        pairs.append((_request_state(request), _request_state(again)))

    def callback(request: Any) -> None:
        record(request)
        request.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
            httputil.HTTPHeaders({"Content-Length": "2"}), b"ok")
        request.connection.finish()

    class Handler(web.RequestHandler):
        def get(self, *args: Any) -> None:
            record(self.request)
            self.set_header("Etag", "x")  # (no sha1 Etag: compared below)
            self.finish(b"ok")

    from tornado_c import _core

    target: Any = callback
    if router:
        target = web.Application([(r"/.*", Handler)])
    built_before = _core._requests_built()
    data, closed = run(impl, lambda: serve_and_send(impl, raw, False, {}, target))
    assert parse_responses(data) == [(200, b"ok")]
    (built, reference), = pairs
    assert list(built) == list(reference) == list(_REQUEST_ATTRIBUTES) + ["__dict__"]
    # path and query are class attributes too (as in Tornado), so not slots.
    assert list(built["__dict__"]) == list(reference["__dict__"]) == ["path", "query"]
    for name in built:
        if name != "_start_time":
            assert built[name] == reference[name], name
    assert abs(built["_start_time"] - time.time()) < 60
    assert _core._requests_built() == built_before + 1  # the C path was taken
    assert (built["server_connection"] is None) != router


def test_native_request_is_an_ordinary_object(monkeypatch: pytest.MonkeyPatch) -> None:
    """A request the native server stored into (slots, csrc/request.c) takes
    other attributes, deletions, weak references and copies; a property put
    on the class in place of one of its slots is used (the C build falls back
    to setattr), and requests are built as before once the slot is back."""
    import copy
    import weakref

    from tornado_c import _core, httputil

    from conftest import Impl

    impl = Impl("tornado_c")
    seen: List[Any] = []

    def callback(request: Any) -> None:
        request.extra = "mine"
        duplicate = copy.copy(request)
        ref = weakref.ref(request)
        seen.append((request.extra, vars(request), duplicate.uri, duplicate.extra,
                     duplicate.headers is request.headers, ref() is request,
                     request.remote_ip))
        del request.body
        with pytest.raises(AttributeError):
            request.body
        request.body = b""
        request.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
            httputil.HTTPHeaders({"Content-Length": "2"}), b"ok")
        request.connection.finish()

    raw = b"GET /x?a=1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    built_before = _core._requests_built()
    run(impl, lambda: serve_and_send(impl, raw, False, {}, callback))
    assert seen == [("mine", {"path": "/x", "query": "a=1", "extra": "mine"}, "/x?a=1", "mine",
                     True, True, "127.0.0.1")]
    assert _core._requests_built() == built_before + 1

    stored: List[Any] = []

    def set_remote_ip(self: Any, value: Any) -> None:
        stored.append(value)
        self.__dict__["_ip"] = value

    monkeypatch.setattr(httputil.HTTPServerRequest, "remote_ip",
                        property(lambda self: "via:" + self.__dict__["_ip"], set_remote_ip))
    seen.clear()
    run(impl, lambda: serve_and_send(impl, raw, False, {}, callback))
    # The build set it through the property (then copy.copy did, with its getter's value).
    assert stored == ["127.0.0.1", "via:127.0.0.1"]
    assert seen[0][-1] == "via:127.0.0.1"
    assert _core._requests_built() == built_before + 2

    monkeypatch.undo()
    seen.clear()
    run(impl, lambda: serve_and_send(impl, raw, False, {}, callback))
    assert seen == [("mine", {"path": "/x", "query": "a=1", "extra": "mine"}, "/x?a=1", "mine",
                     True, True, "127.0.0.1")]
    assert len(stored) == 2
    assert _core._requests_built() == built_before + 3


def test_native_request_honours_patches(monkeypatch: pytest.MonkeyPatch) -> None:
    """A replaced HTTPServerRequest.__init__ is called; replaced helpers
    in httputil (time, parse_qs_bytes, _host_name) are used by the C build."""
    from tornado_c import httputil

    from conftest import Impl

    impl = Impl("tornado_c")
    seen: List[Any] = []

    def callback(request: Any) -> None:
        seen.append((request._start_time, request.arguments, request.host_name,
                     getattr(request, "marked", False)))
        request.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
            httputil.HTTPHeaders({"Content-Length": "2"}), b"ok")
        request.connection.finish()

    raw = b"GET /?a=1 HTTP/1.1\r\nHost: patched.example\r\nConnection: close\r\n\r\n"

    class FakeTime:
        @staticmethod
        def time() -> float:
            return 1234.5

    from tornado_c import _core

    built_before = _core._requests_built()
    monkeypatch.setattr(httputil, "time", FakeTime)
    monkeypatch.setattr(httputil, "parse_qs_bytes", lambda q, keep_blank_values: {"q": [q]})
    monkeypatch.setattr(httputil, "_host_name", lambda host: "named:" + host)
    run(impl, lambda: serve_and_send(impl, raw, False, {}, callback))
    assert seen == [(1234.5, {"q": ["a=1"]}, "named:patched.example", False)]
    assert _core._requests_built() == built_before + 1

    original = httputil.HTTPServerRequest.__init__

    def marking_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.marked = True

    monkeypatch.setattr(httputil.HTTPServerRequest, "__init__", marking_init)
    seen.clear()
    run(impl, lambda: serve_and_send(impl, raw, False, {}, callback))
    assert seen == [(1234.5, {"q": ["a=1"]}, "named:patched.example", True)]
    assert _core._requests_built() == built_before + 1  # __init__ was called instead
