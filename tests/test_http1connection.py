"""Differential tests for tornado_c.http1connection (client side and the
module's helpers) against Tornado, over loopback sockets.

The server side is exercised through HTTPServer in test_httpserver.py; the
client-side response table lives in ``tests/http_cases/client_responses.py``
and each case is sent whole and one byte at a time.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import socket
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_cases import client_responses  # noqa: E402

CASE_TIMEOUT = 20.0


def new_loop(impl: Any) -> asyncio.AbstractEventLoop:
    # tornado_c runs on its native loop unless TORNADO_C_TEST_LOOP=asyncio.
    if impl.name == "tornado_c" and os.environ.get("TORNADO_C_TEST_LOOP") != "asyncio":
        import tornado_c

        return tornado_c.new_event_loop()
    return asyncio.new_event_loop()


def run(impl: Any, coro_fn: Any) -> Any:
    loop = new_loop(impl)
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(asyncio.wait_for(coro_fn(), CASE_TIMEOUT))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
        asyncio.set_event_loop(None)


class RawServer:
    """A one-connection blocking server in a thread: reads one request,
    sends ``raw`` (whole or byte by byte), then closes or waits for the
    client to close."""

    def __init__(self, raw: bytes, bytewise: bool, close_after: bool) -> None:
        self.raw = raw
        self.bytewise = bytewise
        self.close_after = close_after
        self.received = b""
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.listener.settimeout(10)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                while b"\r\n\r\n" not in self.received:
                    got = conn.recv(4096)
                    if not got:
                        return
                    self.received += got
                if self.received.startswith(b"POST"):
                    while not self.received.endswith(b"0\r\n\r\n"):
                        got = conn.recv(4096)
                        if not got:
                            return
                        self.received += got
                if self.bytewise:
                    for i in range(len(self.raw)):
                        conn.sendall(self.raw[i:i + 1])
                        time.sleep(0.0005)
                else:
                    conn.sendall(self.raw)
                if self.close_after:
                    return
                while conn.recv(4096):
                    pass
            except OSError:
                return

    def close(self) -> None:
        self.thread.join(10)
        self.listener.close()


def make_delegate(impl: Any, events: List[Any]) -> Any:
    httputil = impl.mod("httputil")

    class Delegate(httputil.HTTPMessageDelegate):
        def headers_received(self, start_line: Any, headers: Any) -> None:
            events.append(("headers", tuple(start_line), sorted(headers.get_all())))

        def data_received(self, chunk: bytes) -> None:
            events.append(("data", chunk))

        def finish(self) -> None:
            events.append(("finish",))

        def on_connection_close(self) -> None:
            events.append(("close",))

    return Delegate()


async def client_exchange(impl: Any, case: Any, bytewise: bool) -> Any:
    iostream = impl.mod("iostream")
    h1 = impl.mod("http1connection")
    httputil = impl.mod("httputil")
    server = RawServer(case.raw, bytewise, case.close_after)
    events: List[Any] = []
    stream = iostream.IOStream(socket.socket())
    try:
        await stream.connect(("127.0.0.1", server.port))
        conn = h1.HTTP1Connection(stream, True, h1.HTTP1ConnectionParameters(**case.params))
        fut = conn.write_headers(
            httputil.RequestStartLine(case.method, "/", "HTTP/1.1"),
            httputil.HTTPHeaders({"Host": "x"}))
        if case.method == "POST":
            conn.write(b"hi")
        conn.finish()
        await fut
        try:
            result: Any = await conn.read_response(make_delegate(impl, events))
        except Exception as e:
            result = type(e).__name__
    finally:
        stream.close()
        await asyncio.get_running_loop().run_in_executor(None, server.close)
    return result, events, server.received


def summarize(result: Any, events: List[Any]) -> Tuple[Any, Optional[int], bytes, Any]:
    code = None
    body = b""
    end = None
    for ev in events:
        if ev[0] == "headers":
            code = ev[1][1]
        elif ev[0] == "data":
            body += ev[1]
        else:
            end = ev[0]
    return result, code, body, end


_REF: Dict[Any, Any] = {}


def reference_exchange(case: Any, bytewise: bool) -> Any:
    key = (case.name, bytewise)
    if key not in _REF:
        from conftest import Impl

        ref = Impl("tornado")
        _REF[key] = run(ref, lambda: client_exchange(ref, case, bytewise))
    return _REF[key]


CASES = client_responses.CASES


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_response_table(impl: Any, case: Any, bytewise: bool, caplog: Any) -> None:
    caplog.set_level(logging.CRITICAL + 1)
    result, events, received = run(impl, lambda: client_exchange(impl, case, bytewise))
    assert summarize(result, events) == (case.result, case.code, case.body, case.end)
    if case.method == "POST":
        assert received == (b"POST / HTTP/1.1\r\nHost: x\r\n"
                            b"Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n")
    else:
        assert received == f"{case.method} / HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    if impl.name == "tornado_c":
        # Same delegate calls (headers, chunking of data aside) as Tornado.
        ref_result, ref_events, _ = reference_exchange(case, bytewise)
        strip = [e for e in events if e[0] != "data"]
        ref_strip = [e for e in ref_events if e[0] != "data"]
        assert (result, strip) == (ref_result, ref_strip)


# --- helpers and classes ------------------------------------------------------

PUBLIC = ["HTTP1Connection", "HTTP1ConnectionParameters", "HTTP1ServerConnection",
          "parse_int", "parse_hex_int", "is_transfer_encoding_chunked",
          "_GzipMessageDelegate", "_ExceptionLoggingContext", "_QuietException",
          "CR_OR_LF_RE", "DIGITS", "HEXDIGITS"]


@pytest.mark.parametrize("name", PUBLIC)
def test_names_and_signatures(name: str) -> None:
    import tornado.http1connection as ref
    import tornado_c.http1connection as mine

    ours, theirs = getattr(mine, name), getattr(ref, name)
    if isinstance(theirs, type):
        for meth, obj in vars(theirs).items():
            if callable(obj) and (not meth.startswith("__") or meth == "__init__"):
                a = inspect.signature(getattr(ours, meth))
                b = inspect.signature(obj)
                assert list(a.parameters) == list(b.parameters), meth
                assert [p.default for p in a.parameters.values()] == [
                    p.default for p in b.parameters.values()], meth
                assert inspect.iscoroutinefunction(getattr(ours, meth)) == \
                    inspect.iscoroutinefunction(obj), meth
    elif callable(theirs) and not hasattr(theirs, "pattern"):
        assert list(inspect.signature(ours).parameters) == list(
            inspect.signature(theirs).parameters)
    else:
        assert ours.pattern == theirs.pattern


@pytest.mark.parametrize("s", ["0", "12", "007", "-1", "+1", " 1", "1 ", "1_0", "",
                               "\u0661", "0x1", "ff", "FF", "fg", "1e3"])
def test_parse_ints(impl: Any, s: str) -> None:
    import tornado.http1connection as ref

    h1 = impl.mod("http1connection")
    for name in ("parse_int", "parse_hex_int"):
        def go(mod: Any) -> Any:
            try:
                return getattr(mod, name)(s)
            except ValueError as e:
                return ("ValueError", str(e))
        assert go(h1) == go(ref)


@pytest.mark.parametrize("headers", [
    {}, {"Transfer-Encoding": "chunked"}, {"Transfer-Encoding": "Chunked"},
    {"Transfer-Encoding": "gzip"}, {"Transfer-Encoding": "chunked, chunked"},
    {"Transfer-Encoding": "chunked", "Content-Length": "1"},
    {"Content-Length": "1"},
])
def test_is_transfer_encoding_chunked(impl: Any, headers: Dict[str, str]) -> None:
    import tornado.http1connection as ref
    import tornado.httputil as ref_util

    def go(h1: Any, hu: Any) -> Any:
        try:
            return h1.is_transfer_encoding_chunked(hu.HTTPHeaders(headers))
        except Exception as e:
            return (type(e).__name__, str(e))
    assert go(impl.mod("http1connection"), impl.mod("httputil")) == go(ref, ref_util)


def test_parameters_defaults(impl: Any) -> None:
    p = impl.mod("http1connection").HTTP1ConnectionParameters()
    assert vars(p) == {"no_keep_alive": False, "chunk_size": 65536,
                       "max_header_size": 65536, "header_timeout": None,
                       "max_body_size": None, "body_timeout": None,
                       "decompress": False}


def test_exception_logging_context(impl: Any, caplog: Any) -> None:
    h1 = impl.mod("http1connection")
    logger = logging.getLogger("test.h1ctx")
    with pytest.raises(h1._QuietException):
        with h1._ExceptionLoggingContext(logger):
            raise KeyError("x")
    with pytest.raises(impl.mod("httputil").HTTPInputError):
        with h1._ExceptionLoggingContext(logger):
            raise impl.mod("httputil").HTTPInputError("bad")
    assert [(r.name, r.getMessage(), r.exc_info[0]) for r in caplog.records] == [
        ("test.h1ctx", "Uncaught exception", KeyError)]


def test_gzip_delegate(impl: Any) -> None:
    import gzip

    h1 = impl.mod("http1connection")
    httputil = impl.mod("httputil")
    events: List[Any] = []
    inner = make_delegate(impl, events)
    d = h1._GzipMessageDelegate(inner, 16)
    headers = httputil.HTTPHeaders({"Content-Encoding": "GZIP", "Content-Length": "9"})
    d.headers_received(httputil.ResponseStartLine("HTTP/1.1", 200, "OK"), headers)
    data = gzip.compress(b"x" * 100)

    async def feed() -> None:
        await d.data_received(data[:10])
        await d.data_received(data[10:])
        d.finish()

    run(impl, feed)
    assert events[0] == ("headers", ("HTTP/1.1", 200, "OK"), [
        ("Content-Length", "9"), ("X-Consumed-Content-Encoding", "GZIP")])
    chunks = [e[1] for e in events if e[0] == "data"]
    assert b"".join(chunks) == b"x" * 100 and max(map(len, chunks)) <= 16
    assert events[-1] == ("finish",)


def test_detach_during_headers(impl: Any) -> None:
    """A delegate that detaches the stream in headers_received takes the
    connection over; read_response resolves to False."""

    async def main() -> Any:
        iostream = impl.mod("iostream")
        h1 = impl.mod("http1connection")
        httputil = impl.mod("httputil")
        server = RawServer(b"HTTP/1.1 101 Switching\r\nUpgrade: x\r\n\r\nafter", False,
                           False)
        stream = iostream.IOStream(socket.socket())
        await stream.connect(("127.0.0.1", server.port))
        conn = h1.HTTP1Connection(stream, True)
        detached: List[Any] = []

        class D(httputil.HTTPMessageDelegate):
            def headers_received(self, start_line: Any, headers: Any) -> None:
                detached.append(conn.detach())

        await conn.write_headers(httputil.RequestStartLine("GET", "/", "HTTP/1.1"),
                                 httputil.HTTPHeaders({"Host": "x"}))
        conn.finish()
        ret = await conn.read_response(D())
        rest = await detached[0].read_bytes(5)
        same = detached[0] is stream
        stream.close()
        await asyncio.get_running_loop().run_in_executor(None, server.close)
        return ret, rest, same, conn.stream

    assert run(impl, main) == (False, b"after", True, None)


def test_write_on_closed_stream(impl: Any) -> None:
    async def main() -> Any:
        iostream = impl.mod("iostream")
        h1 = impl.mod("http1connection")
        httputil = impl.mod("httputil")
        a, b = socket.socketpair()
        b.close()
        stream = iostream.IOStream(a)
        stream.close()
        conn = h1.HTTP1Connection(stream, True)
        f1 = conn.write_headers(httputil.RequestStartLine("GET", "/", "HTTP/1.1"),
                                httputil.HTTPHeaders())
        f2 = conn.write(b"x")
        return (type(f1.exception()).__name__, type(f2.exception()).__name__)

    assert run(impl, main) == ("StreamClosedError", "StreamClosedError")


def test_server_connection_close(impl: Any) -> None:
    """HTTP1ServerConnection.close() ends the request loop and calls
    the delegate's on_close."""

    async def main() -> Any:
        iostream = impl.mod("iostream")
        h1 = impl.mod("http1connection")
        httputil = impl.mod("httputil")
        calls: List[str] = []

        class Server(httputil.HTTPServerConnectionDelegate):
            def start_request(self, server_conn: Any, request_conn: Any) -> Any:
                calls.append("start")
                return httputil.HTTPMessageDelegate()

            def on_close(self, server_conn: Any) -> None:
                calls.append("on_close")

        a, b = socket.socketpair()
        conn = h1.HTTP1ServerConnection(iostream.IOStream(a))
        with pytest.raises(AssertionError):
            conn.start_serving(object())  # type: ignore[arg-type]
        conn.start_serving(Server())
        await asyncio.sleep(0)
        await conn.close()
        b.close()
        return calls

    assert run(impl, main) == ["start", "on_close"]
