"""The native client connection against the Python one.

Every case sends a request over a real loopback connection, has a raw socket
server answer it with scripted bytes (whole, or one byte per write), and
reads the response with the Python `HTTP1Connection` and with the C engine
(`_NativeHTTP1ClientConnection`).  The two must agree on everything the
caller can see: the delegate's calls, the outcome of ``read_response``, the
log lines, and the state the stream is left in.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
from typing import Any, Dict, List, Optional, Tuple

import pytest

import tornado_c
from tornado_c import httputil
from tornado_c import http1connection as h1
from tornado_c.tcpclient import TCPClient


class Recorder(httputil.HTTPMessageDelegate):
    """Writes down every call; optionally makes the engine wait."""

    def __init__(self, events: List[Any], slow: bool = False, fail_in: str = "") -> None:
        self.events = events
        self.slow = slow
        self.fail_in = fail_in

    def headers_received(self, start_line: Any, headers: httputil.HTTPHeaders) -> Any:
        self.events.append(("headers", tuple(start_line), sorted(headers.get_all())))
        if self.fail_in == "headers":
            raise RuntimeError("delegate failed in headers_received")
        if self.slow:
            return asyncio.sleep(0.001)
        return None

    def data_received(self, chunk: bytes) -> Any:
        self.events.append(("data", chunk))
        if self.fail_in == "data":
            raise RuntimeError("delegate failed in data_received")
        if self.slow:
            return asyncio.sleep(0.001)
        return None

    def finish(self) -> None:
        self.events.append(("finish",))
        if self.fail_in == "finish":
            raise RuntimeError("delegate failed in finish")

    def on_connection_close(self) -> None:
        self.events.append(("close",))


class LogCatcher(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: List[Tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.name, record.getMessage()))


def merged(events: List[Any]) -> List[Any]:
    # Body pieces depend on how the bytes arrived: compare their sum.
    out: List[Any] = []
    for event in events:
        if event[0] == "data" and out and out[-1][0] == "data":
            out[-1] = ("data", out[-1][1] + event[1])
        else:
            out.append(event)
    return out


async def read_request(reader: asyncio.StreamReader) -> Optional[bytes]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":")[1]))
    return head


async def exchange(
    native: bool,
    responses: List[bytes],
    bytewise: bool,
    method: str = "GET",
    close_after: bool = True,
    params: Optional[Dict[str, Any]] = None,
    slow: bool = False,
    fail_in: str = "",
    body: Optional[bytes] = None,
) -> Dict[str, Any]:
    """Runs the requests (one per scripted response) on one connection."""

    written = [asyncio.Event() for _ in responses]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for data, done in zip(responses, written):
                if await read_request(reader) is None:
                    return
                if bytewise:
                    for i in range(len(data)):
                        writer.write(data[i : i + 1])
                        await writer.drain()
                        await asyncio.sleep(0.0005)
                else:
                    writer.write(data)
                    await writer.drain()
                done.set()
            if close_after:
                writer.close()
            else:
                await reader.read()
        except ConnectionError:
            pass
        finally:
            writer.close()
            for event in written:
                event.set()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    catcher = LogCatcher()
    loggers = [logging.getLogger(n) for n in ("tornado.general", "tornado.application")]
    for logger in loggers:
        logger.addHandler(catcher)
    stream = await TCPClient().connect("127.0.0.1", port)
    result: Dict[str, Any] = {"rounds": []}
    try:
        for done in written:
            events: List[Any] = []
            settings = h1.HTTP1ConnectionParameters(no_keep_alive=True, **(params or {}))
            if native:
                assert h1.native_client_eligible(stream)
                conn: Any = h1._NativeHTTP1ClientConnection(stream, True, settings, "ctx")
            else:
                conn = h1.HTTP1Connection(stream, True, settings, "ctx")
            headers = httputil.HTTPHeaders({"Host": "example", "Connection": "keep-alive"})
            if body is not None:
                headers["Content-Length"] = str(len(body))
            conn.write_headers(httputil.RequestStartLine(method, "/x", "HTTP/1.1"), headers)
            if body is not None:
                conn.write(body)
            conn.finish()
            try:
                outcome: Any = ("ok", await asyncio.wait_for(
                    conn.read_response(Recorder(events, slow, fail_in)), 5))
            except Exception as exc:
                real = getattr(exc, "real_error", None)
                outcome = ("error", type(exc).__name__, str(exc), repr(real))
            # Whatever the server still sends for this round has arrived.
            await asyncio.wait_for(done.wait(), 5)
            await asyncio.sleep(0.01)
            result["rounds"].append((outcome, merged(events), stream.closed()))
            if stream.closed():
                break
    finally:
        stream.close()
        for logger in loggers:
            logger.removeHandler(catcher)
        server.close()
        await server.wait_closed()
    result["logs"] = [line for line in catcher.lines if "Uncaught" not in line[1]] + [
        ("uncaught", str(sum("Uncaught" in line[1] for line in catcher.lines)))
    ]
    return result


def run(coro: Any) -> Any:
    loop = tornado_c.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(asyncio.wait_for(coro, 20))
    finally:
        loop.close()
        asyncio.set_event_loop(None)


def ok(code: int = 200, body: bytes = b"hello", extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 {code} OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body
    )


def chunked(*pieces: bytes, tail: bytes = b"0\r\n\r\n") -> bytes:
    out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    for piece in pieces:
        out += b"%x\r\n%s\r\n" % (len(piece), piece)
    return out + tail


GZ = gzip.compress(b"squeezed " * 20)

# name -> (responses, options)
CASES: Dict[str, Tuple[List[bytes], Dict[str, Any]]] = {
    "content-length": ([ok()], {}),
    "empty-body": ([ok(body=b"")], {}),
    "reason-with-spaces": ([b"HTTP/1.1 200 All Good Here\r\nContent-Length: 2\r\n\r\nok"], {}),
    "http10": ([b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"], {}),
    "repeated-headers": ([ok(extra="X-A: 1\r\nX-A: 2\r\nx-b:  spaced \t\r\nX-E:\r\n")], {}),
    "chunked": ([chunked(b"hello", b" ", b"world" * 30)], {}),
    "chunked-hex-upper": ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"
                           b"A\r\n0123456789\r\n0\r\n\r\n"], {}),
    "until-close": ([b"HTTP/1.1 200 OK\r\n\r\nall of it"], {}),
    "head": ([ok(body=b"")[:-2] + b"\r\n"], {"method": "HEAD"}),
    "head-with-length": ([b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"], {"method": "HEAD"}),
    "204": ([b"HTTP/1.1 204 No Content\r\n\r\n"], {}),
    "204-zero-length": ([b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"], {}),
    "204-with-body": ([b"HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\nabc"], {}),
    "204-chunked": ([b"HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"], {}),
    "304": ([b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"], {}),
    "100-continue": ([b"HTTP/1.1 100 Continue\r\n\r\n" + ok()], {}),
    "1xx-with-body": ([b"HTTP/1.1 103 Early\r\nContent-Length: 1\r\n\r\nx" + ok()], {}),
    "gzip": ([ok(body=GZ, extra="Content-Encoding: gzip\r\n")], {"params": {"decompress": True}}),
    "bad-status-line": ([b"HTTP/1.1 OK\r\nContent-Length: 1\r\n\r\nx"], {}),
    "bad-version": ([b"HTTP/2.0 200 OK\r\nContent-Length: 1\r\n\r\nx"], {}),
    "no-reason": ([b"HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\nx"], {}),
    "two-digit-status": ([b"HTTP/1.1 20 OK\r\nContent-Length: 1\r\n\r\nx"], {}),
    "no-colon": ([b"HTTP/1.1 200 OK\r\nBroken header\r\nContent-Length: 1\r\n\r\nx"], {}),
    "bad-name": ([b"HTTP/1.1 200 OK\r\nBad Name: 1\r\nContent-Length: 1\r\n\r\nx"], {}),
    "control-char": ([b"HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 1\r\n\r\nx"], {}),
    "folded": ([b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 1\r\n\r\nx"], {}),
    "bare-lf": ([b"HTTP/1.1 200 OK\nContent-Length: 1\n\nx"], {}),
    "leading-blank-line": ([b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"], {}),
    "bad-length": ([b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\nx"], {}),
    "two-lengths": ([b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy"], {}),
    "same-lengths": ([b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nxy"], {}),
    "length-and-chunked": ([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                            b"Transfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n"], {}),
    "gzip-coding": ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxy"], {}),
    "bad-chunk-size": ([chunked(tail=b"zz\r\n")], {}),
    "chunk-extension": ([chunked(tail=b"0;x=1\r\n\r\n")], {}),
    "chunk-no-crlf": ([chunked(tail=b"2\r\nxyZZ0\r\n\r\n")], {}),
    "chunk-trailer": ([chunked(b"ab", tail=b"0\r\nX-T: 1\r\n\r\n")], {}),
    "long-size-line": ([chunked(tail=b"0" * 70 + b"1\r\nx\r\n0\r\n\r\n")], {}),
    "oversize-head": ([ok(extra="X-Pad: " + "p" * 200 + "\r\n")], {"params": {"max_header_size": 100}}),
    "oversize-length": ([ok(body=b"x" * 50)], {"params": {"max_body_size": 10}}),
    "oversize-chunked": ([chunked(b"x" * 8, b"y" * 8)], {"params": {"max_body_size": 10}}),
    "close-mid-head": ([b"HTTP/1.1 200 OK\r\nContent-Le"], {}),
    "close-mid-body": ([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"], {}),
    "close-mid-chunk": ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"], {}),
    "keep-alive": ([ok(body=b"one"), chunked(b"two"), ok(body=b"three")], {"close_after": False}),
    "slow-delegate": ([ok(), chunked(b"a", b"b")], {"close_after": False, "slow": True}),
    "failing-headers": ([ok()], {"fail_in": "headers"}),
    "failing-data": ([ok()], {"fail_in": "data"}),
    "failing-finish": ([ok()], {"fail_in": "finish"}),
    "post": ([ok()], {"method": "POST", "body": b"payload"}),
    "chunk-size-latin1": ([chunked(tail=b"\xff\r\n")], {}),
    "body-timeout": ([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"],
                     {"close_after": False, "params": {"body_timeout": 0.2}}),
    "body-timeout-chunked": ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"],
                             {"close_after": False, "params": {"body_timeout": 0.2}}),
}


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_same_as_python(name: str, bytewise: bool) -> None:
    responses, options = CASES[name]
    python = run(exchange(False, responses, bytewise, **options))
    native = run(exchange(True, responses, bytewise, **options))
    assert native == python


def test_native_connection_is_used() -> None:
    """The C engine reads plain responses (no fallback to the Python code)."""
    fallbacks: List[str] = []
    original = h1._NativeHTTP1ClientConnection._fallback_read

    def spy(self: Any, delegate: Any, future: Any) -> None:
        fallbacks.append("fallback")
        original(self, delegate, future)

    h1._NativeHTTP1ClientConnection._fallback_read = spy  # type: ignore[method-assign]
    try:
        result = run(exchange(True, [ok(), chunked(b"ab")], False, close_after=False))
    finally:
        h1._NativeHTTP1ClientConnection._fallback_read = original  # type: ignore[method-assign]
    assert fallbacks == []
    assert [r[0] for r in result["rounds"]] == [("ok", True), ("ok", True)]


def test_simple_client_uses_native_connection() -> None:
    """SimpleAsyncHTTPClient picks the native connection on a plain stream.

    (A body that runs to the connection's close: the C fetch path, which
    reads Content-Length and chunked responses itself, hands it over to the
    client's connection objects.)"""
    made: List[str] = []
    original = h1._NativeHTTP1ClientConnection.read_response

    def spy(self: Any, delegate: Any) -> Any:
        made.append(type(self).__name__)
        return original(self, delegate)

    async def main() -> Any:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\n\r\nnative")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = tornado_c.simple_httpclient.SimpleAsyncHTTPClient(force_instance=True)
        try:
            response = await client.fetch(f"http://127.0.0.1:{port}/")
        finally:
            client.close()
            server.close()
            await server.wait_closed()
        return response.body

    h1._NativeHTTP1ClientConnection.read_response = spy  # type: ignore[method-assign]
    try:
        assert run(main()) == b"native"
    finally:
        h1._NativeHTTP1ClientConnection.read_response = original  # type: ignore[method-assign]
    assert made == ["_NativeHTTP1ClientConnection"]


def offline_connection(native: bool, sent: List[bytes], closed: List[bool]) -> Any:
    """A client connection on a stand-in stream that records what is
    written (``sent``) and whether it was closed (``closed``)."""
    stream: Any = type("S", (), {})()
    stream.max_buffer_size = 1 << 20
    stream.closed = lambda: bool(closed)
    stream.close = lambda: closed.append(True)
    stream.set_close_callback = lambda cb: None
    stream.set_nodelay = lambda value: None

    def write(data: Any) -> Any:
        sent.append(bytes(data))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    stream.write = write
    cls = h1._NativeHTTP1ClientConnection if native else h1.HTTP1Connection
    return cls(stream, True, h1.HTTP1ConnectionParameters(), None)


def test_request_head_serialization() -> None:
    """The request head bytes, and Tornado's errors, from both connections."""

    async def head(native: bool, method: str, headers: httputil.HTTPHeaders) -> Any:
        sent: List[bytes] = []
        conn = offline_connection(native, sent, [])
        try:
            conn.write_headers(httputil.RequestStartLine(method, "/p?q=1", ""), headers)
        except Exception as exc:
            return ("error", type(exc).__name__, str(exc), sorted(headers.get_all()))
        return sent, conn._chunking_output, conn._expected_content_remaining

    cases: List[Tuple[str, List[Tuple[str, str]]]] = [
        ("GET", [("Host", "h"), ("X-A", "1")]),
        ("POST", [("Host", "h")]),
        ("PUT", [("Content-Length", "5")]),
        ("PATCH", [("Content-Length", "x5")]),
        ("GET", [("X-Bad", "a\r\nb")]),
        ("GET", [("X-Latin", "caf\xe9")]),
        ("GET", [("X-Wide", "\u20ac")]),
        ("DELETE", [("X-D", "1"), ("X-D", "2")]),
    ]

    def build(fields: List[Tuple[str, str]]) -> httputil.HTTPHeaders:
        headers = httputil.HTTPHeaders()
        for name, value in fields:
            if name in headers:
                headers._as_list[name].append(value)
            else:
                headers[name] = value
        return headers

    for method, fields in cases:
        python = run(head(False, method, build(fields)))
        native = run(head(True, method, build(fields)))
        assert native == python, (method, fields)


def test_request_body_framing() -> None:
    """Body writes (chunked framing, Content-Length accounting) and their
    errors are the Python connection's."""

    async def send(native: bool, length: Optional[str], pieces: List[bytes]) -> Any:
        sent: List[bytes] = []
        closed: List[bool] = []
        conn = offline_connection(native, sent, closed)
        headers = httputil.HTTPHeaders({"Host": "h"})
        if length is not None:
            headers["Content-Length"] = length
        outcome: List[Any] = []
        try:
            conn.write_headers(httputil.RequestStartLine("POST", "/", ""), headers,
                               chunk=pieces[0])
            for piece in pieces[1:]:
                conn.write(piece)
            conn.finish()
        except Exception as exc:
            outcome.append((type(exc).__name__, str(exc)))
        return sent, outcome, bool(closed), conn._expected_content_remaining

    cases: List[Tuple[Optional[str], List[bytes]]] = [
        (None, [b"ab", b"", b"c" * 300]),
        (None, [b"", memoryview(b"xyz")]),  # type: ignore[list-item]
        ("3", [b"a", b"bc"]),
        ("3", [b"ab", b"cd"]),
        ("3", [b"a"]),
        ("0", [b""]),
    ]
    for length, pieces in cases:
        python = run(send(False, length, pieces))
        native = run(send(True, length, pieces))
        assert native == python, (length, pieces)


def test_no_cycles_and_flat_memory() -> None:
    """A finished read leaves no reference cycle, and repeated exchanges do
    not grow the object count."""
    import gc
    import weakref

    async def one(stream: Any, refs: Optional[List[Any]]) -> None:
        conn = h1._NativeHTTP1ClientConnection(stream, True, h1.HTTP1ConnectionParameters(), None)
        conn.write_headers(
            httputil.RequestStartLine("GET", "/", ""), httputil.HTTPHeaders({"Host": "h"})
        )
        conn.finish()
        events: List[Any] = []
        assert await conn.read_response(Recorder(events)) is True
        if refs is not None:
            refs.append(weakref.ref(conn))

    async def main() -> Tuple[List[Any], int, int]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while await read_request(reader) is not None:
                writer.write(chunked(b"abc", b"def"))
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        stream = await TCPClient().connect("127.0.0.1", port)
        refs: List[Any] = []
        counts = []
        gc.collect()
        gc.disable()
        try:
            for round_ in range(3):
                for _ in range(100):
                    await one(stream, refs if round_ == 0 else None)
                await asyncio.sleep(0)
                counts.append(len(gc.get_objects()))
            alive = [r for r in refs if r() is not None]
        finally:
            gc.enable()
            stream.close()
            server.close()
            await server.wait_closed()
        return alive, counts[1], counts[2]

    alive, second, third = run(main())
    assert alive == []
    assert third - second < 20
