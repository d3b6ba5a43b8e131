"""The native HTTP/1 server connection (csrc/http1.c) against Tornado's.

Behaviour the request table in test_httpserver.py does not reach: delegates
that answer late or early, detaching, back-pressure on large responses, and
that nothing accumulates per request.  Each case runs on Tornado (the
reference) and tornado_c, whose server connections run in C on its native
loop.
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import sys
import time
from typing import Any, List

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from test_httpserver import client_exchange, listen, parse_responses, run  # noqa: E402

NATIVE = os.environ.get("TORNADO_C_TEST_LOOP") != "asyncio"


def _respond(impl: Any, conn: Any, body: bytes) -> None:
    httputil = impl.mod("httputil")
    conn.write_headers(
        httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
        httputil.HTTPHeaders({"Content-Length": str(len(body))}),
        body,
    )
    conn.finish()


def _serve(impl: Any, target: Any, raw: bytes, quiet: float = 0.25) -> Any:
    """Serve ``target`` (a request callback or a delegate), send ``raw`` and
    return what the client read and whether the server closed."""

    async def main() -> Any:
        server = impl.mod("httpserver").HTTPServer(target)
        port = listen(impl, server)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                None, client_exchange, port, raw, False, quiet)
        finally:
            server.stop()
            await server.close_all_connections()

    return run(impl, main)


def test_native_connection_is_used(impl: Any) -> None:
    if impl.name != "tornado_c" or not NATIVE:
        pytest.skip("only tornado_c on its native loop runs the C connection")
    seen: List[str] = []

    def callback(request: Any) -> None:
        seen.append(type(request.connection).__name__)
        _respond(impl, request.connection, b"ok")

    data, closed = _serve(impl, callback, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert parse_responses(data) == [(200, b"ok")] and not closed
    assert seen == ["_NativeHTTP1Connection"]


def test_pipelined_requests_answered_later(impl: Any) -> None:
    # Each response is written from a timer, after the request callback has
    # returned; pipelined requests wait their turn and come back in order.
    def callback(request: Any) -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(0.01, _respond, impl, request.connection, request.uri.encode())

    raw = b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(5))
    data, closed = _serve(impl, callback, raw, quiet=0.5)
    assert parse_responses(data) == [(200, b"/%d" % i) for i in range(5)]
    assert not closed


def _early_answer_delegate(impl: Any, events: List[Any]) -> Any:
    httputil = impl.mod("httputil")

    class Message(httputil.HTTPMessageDelegate):
        def __init__(self, conn: Any) -> None:
            self.conn = conn

        def headers_received(self, start_line: Any, headers: Any) -> None:
            events.append("headers")
            _respond(impl, self.conn, b"early")

        def data_received(self, chunk: bytes) -> None:
            events.append(("data", chunk))

        def finish(self) -> None:
            events.append("finish")

        def on_connection_close(self) -> None:
            events.append("close")

    class Server(httputil.HTTPServerConnectionDelegate):
        def start_request(self, server_conn: Any, request_conn: Any) -> Any:
            return Message(request_conn)

    return Server()


def test_answer_before_body_closes_connection(impl: Any) -> None:
    # A response finished before the request body was read leaves the body
    # unread on the wire: the connection cannot carry another request.
    events: List[Any] = []

    raw = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc"
    data, closed = _serve(impl, _early_answer_delegate(impl, events), raw)
    assert parse_responses(data) == [(200, b"early")]
    assert closed
    assert events[0] == "headers" and "finish" not in events


def test_detach_keeps_following_bytes(impl: Any) -> None:
    # Whatever followed the request head (here the start of another
    # protocol) is what the detached stream reads first.
    httputil = impl.mod("httputil")
    got: List[bytes] = []

    class Message(httputil.HTTPMessageDelegate):
        def __init__(self, conn: Any) -> None:
            self.conn = conn

        def headers_received(self, start_line: Any, headers: Any) -> None:
            stream = self.conn.detach()

            async def talk() -> None:
                got.append(await stream.read_bytes(5))
                await stream.write(b"pong!")
                stream.close()

            asyncio.ensure_future(talk())

    class Server(httputil.HTTPServerConnectionDelegate):
        def start_request(self, server_conn: Any, request_conn: Any) -> Any:
            return Message(request_conn)

    raw = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: demo\r\n\r\nping!"
    data, closed = _serve(impl, Server(), raw)
    assert (data, closed, got) == (b"pong!", True, [b"ping!"])


def test_large_response_waits_for_the_reader(impl: Any) -> None:
    # 8 MiB cannot go out at once; the write's Future resolves only once the
    # client has taken it all.
    size = 8 * 1024 * 1024
    resolved: List[bool] = []
    httputil = impl.mod("httputil")

    def callback(request: Any) -> None:
        conn = request.connection
        conn.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
            httputil.HTTPHeaders({"Content-Length": str(size)}),
        )
        future = conn.write(b"x" * size)
        future.add_done_callback(lambda f: resolved.append(f.result() is None))
        conn.finish()

    def slow_client(port: int) -> int:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            total = 0
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return total
                total += len(chunk)

    async def main() -> Any:
        server = impl.mod("httpserver").HTTPServer(callback)
        port = listen(impl, server)
        try:
            loop = asyncio.get_running_loop()
            received = await loop.run_in_executor(None, slow_client, port)
            await asyncio.sleep(0.05)
            return received
        finally:
            server.stop()
            await server.close_all_connections()

    received = run(impl, main)
    assert received > size and resolved == [True]


def _pattern(n: int, seed: int) -> bytes:
    return bytes((i * 7 + seed) % 251 for i in range(n))


# Pieces around the size from which the C connection writes a body from its
# own bytes object (one writev after the head or chunk-size line) instead of
# copying it: 16 KiB.
_PIECES = {
    "/cl": [100_000, 10, 300_001, 16_383, 16_384, 20_000],
    "/chunked": [70_000, 3, 16_384, 200_000, 1, 16_383],
    "/one": [65_536],
}


def _large_writes_exchange(impl: Any) -> bytes:
    httputil = impl.mod("httputil")

    def callback(request: Any) -> None:
        conn = request.connection
        # A small send buffer: large writes go out in part, the rest queued.
        conn.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
        sizes = _PIECES[request.path]
        pieces = [_pattern(n, i) for i, n in enumerate(sizes)]
        fields = {"X-Path": request.path}
        if request.path != "/chunked":
            fields["Content-Length"] = str(sum(sizes))
        conn.write_headers(httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
                           httputil.HTTPHeaders(fields), pieces[0])
        for piece in pieces[1:]:
            conn.write(piece)
        conn.finish()

    raw = b"".join(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p.encode()
                   for p in ["/cl", "/chunked", "/one", "/cl"])
    raw += b"GET /one HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

    def slow_client(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            s.sendall(raw)
            # Nothing read at first, then slowly: the server's writes go out
            # in part and queue the rest.
            time.sleep(0.05)
            pieces = []
            reads = 0
            while True:
                chunk = s.recv(16384 if reads < 60 else 1 << 20)
                if not chunk:
                    return b"".join(pieces)
                reads += 1
                if reads < 60 and reads % 10 == 0:
                    time.sleep(0.005)
                pieces.append(chunk)

    async def main() -> Any:
        server = impl.mod("httpserver").HTTPServer(callback)
        port = listen(impl, server)
        try:
            return await asyncio.get_running_loop().run_in_executor(None, slow_client, port)
        finally:
            server.stop()
            await server.close_all_connections()

    return run(impl, main)


def _parse_framed(data: bytes) -> List[Any]:
    # (status, body) per response, Content-Length or chunked.
    out = []
    while data:
        head, sep, data = data.partition(b"\r\n\r\n")
        assert sep
        lines = head.split(b"\r\n")
        fields = dict(line.lower().split(b": ", 1) for line in lines[1:])
        if b"content-length" in fields:
            size = int(fields[b"content-length"])
            body, data = data[:size], data[size:]
        else:
            assert fields[b"transfer-encoding"] == b"chunked"
            body = b""
            while True:
                line, _, data = data.partition(b"\r\n")
                size = int(line, 16)
                body += data[:size]
                assert data[size:size + 2] == b"\r\n"
                data = data[size + 2:]
                if size == 0:
                    break
        out.append((int(lines[0].split(b" ")[1]), body))
    return out


def test_large_writes_in_order_under_backpressure(impl: Any) -> None:
    # Large and small writes mixed, Content-Length and chunked, pipelined,
    # to a client whose receive buffer is small and that reads slowly: every
    # byte arrives in order, as Tornado sends them.
    data = _large_writes_exchange(impl)
    want = []
    for path in ["/cl", "/chunked", "/one", "/cl", "/one"]:
        want.append((200, b"".join(_pattern(n, i) for i, n in enumerate(_PIECES[path]))))
    assert _parse_framed(data) == want
    if impl.name != "tornado":
        from conftest import Impl

        assert data == _large_writes_exchange(Impl("tornado"))


@pytest.mark.parametrize("declared", [0, 16_383, 16_384, 20_000])
def test_large_write_over_content_length(impl: Any, declared: int) -> None:
    # A body piece that goes past Content-Length is refused before anything
    # of it is sent, however large it is, and the connection is closed.
    httputil = impl.mod("httputil")
    errors: List[str] = []

    def callback(request: Any) -> None:
        conn = request.connection
        try:
            conn.write_headers(httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
                               httputil.HTTPHeaders({"Content-Length": str(declared)}),
                               _pattern(20_001, 1))
        except Exception as e:
            errors.append(f"{type(e).__name__}: {e}")

    data, closed = _serve(impl, callback, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (data, closed) == (b"", True)
    assert errors == ["HTTPOutputError: Tried to write more data than Content-Length"]


def test_nothing_accumulates_per_request(impl: Any) -> None:
    def callback(request: Any) -> None:
        _respond(impl, request.connection, b"ok")

    def client(port: int, count: int) -> int:
        answered = 0
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            for _ in range(count):
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                data = b""
                while not data.endswith(b"ok"):
                    data += s.recv(4096)
                answered += 1
        return answered

    async def main() -> Any:
        server = impl.mod("httpserver").HTTPServer(callback)
        port = listen(impl, server)
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, client, port, 200)  # warm up
            gc.collect()
            before = len(gc.get_objects())
            done = await loop.run_in_executor(None, client, port, 2000)
            gc.collect()
            return done, len(gc.get_objects()) - before
        finally:
            server.stop()
            await server.close_all_connections()

    done, growth = run(impl, main)
    assert done == 2000
    assert growth < 200, growth



# --- replies to the requests of one poll go out together ------------------

def _arrived(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return b""


def _one_pass(impl: Any, count: int, on_request: Any, pad: int = 0) -> List[bytes]:
    """``count`` connections, accepted first, then each sends one request
    (``/0`` ...), all before the server's loop polls again, so that one poll
    finds them all readable.  ``on_request(request, index, clients)`` runs in
    each request callback, before it answers with ``pad`` bytes and ``reply
    <index>``; if it returns something true, the answer is given from a
    callback the loop runs next (which first calls what it returned, when
    that is callable).  Returns what each client got."""

    def callback(request: Any) -> None:
        index = int(request.path[1:])
        reply = b"." * pad + b"reply %d" % index
        later = on_request(request, index, clients)
        if later:
            def answer() -> None:
                if callable(later):
                    later()
                _respond(impl, request.connection, reply)

            asyncio.get_running_loop().call_soon(answer)
        else:
            _respond(impl, request.connection, reply)

    clients: List[socket.socket] = []

    async def main() -> Any:
        server = impl.mod("httpserver").HTTPServer(callback)
        port = listen(impl, server)
        try:
            for _ in range(count):
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                sock.setblocking(False)
                clients.append(sock)
            await asyncio.sleep(0.1)  # every connection accepted and reading
            for i, sock in enumerate(clients):
                sock.sendall(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
            received = [b""] * count
            for _ in range(200):
                await asyncio.sleep(0.01)
                for i, sock in enumerate(clients):
                    received[i] += _arrived(sock) and sock.recv(65536)
                if all(r.endswith(b"reply %d" % i) for i, r in enumerate(received)):
                    break
            return received
        finally:
            for sock in clients:
                sock.close()
            server.stop()
            await server.close_all_connections()

    return run(impl, main)


def test_replies_of_one_poll_go_out_together(impl: Any) -> None:
    # tornado_c holds each reply until the loop has dispatched every
    # connection the poll found readable, then writes them one after the
    # other (the client is woken once for all); Tornado writes each at once.
    if impl.name != "tornado_c" or not NATIVE:
        pytest.skip("only tornado_c's native connection holds replies back")
    seen: List[List[bytes]] = []

    def on_request(request: Any, index: int, clients: List[socket.socket]) -> bool:
        seen.append([_arrived(sock) for sock in clients])
        return False

    received = _one_pass(impl, 4, on_request)
    assert [parse_responses(r) for r in received] == [
        [(200, b"reply %d" % i)] for i in range(4)]
    assert seen == [[b""] * 4] * 4


def test_replies_of_one_ready_pass_go_out_together(impl: Any) -> None:
    # The same for replies written from the callbacks the loop runs after
    # the poll (a handler that awaited something).
    if impl.name != "tornado_c" or not NATIVE:
        pytest.skip("only tornado_c's native connection holds replies back")
    seen: List[List[bytes]] = []

    def on_request(request: Any, index: int, clients: List[socket.socket]) -> Any:
        return lambda: seen.append([_arrived(sock) for sock in clients])

    received = _one_pass(impl, 4, on_request)
    assert [parse_responses(r) for r in received] == [
        [(200, b"reply %d" % i)] for i in range(4)]
    assert seen == [[b""] * 4] * 4


def test_slow_callback_does_not_hold_earlier_replies(impl: Any) -> None:
    # Replies written from callbacks run after the poll: a callback that
    # blocks (20 ms) does not hold back the replies written before it past
    # the callback that follows it.
    order: List[int] = []
    seen: List[List[bool]] = []

    def on_request(request: Any, index: int, clients: List[socket.socket]) -> Any:
        def before_answer() -> None:
            order.append(index)
            seen.append([bool(_arrived(sock)) for sock in clients])

        if index == 1:
            asyncio.get_running_loop().call_soon(time.sleep, 0.02)
        return before_answer

    received = _one_pass(impl, 2, on_request)
    assert [parse_responses(r) for r in received] == [
        [(200, b"reply %d" % i)] for i in range(2)]
    assert order == [0, 1] and seen[1][0], (order, seen)


def test_slow_request_does_not_hold_earlier_replies(impl: Any) -> None:
    # A callback that blocks (here 20 ms, answering later) does not keep the
    # replies written before it waiting for the end of the pass: held
    # replies go out before the next request is dispatched once they have
    # waited a millisecond.
    order: List[int] = []
    seen: List[List[bool]] = []

    def on_request(request: Any, index: int, clients: List[socket.socket]) -> bool:
        order.append(index)
        seen.append([bool(_arrived(sock)) for sock in clients])
        if len(order) == 2:
            time.sleep(0.02)
            return True
        return False

    received = _one_pass(impl, 3, on_request)
    assert [parse_responses(r) for r in received] == [
        [(200, b"reply %d" % i)] for i in range(3)]
    assert seen[2][order[0]], (order, seen)


@pytest.mark.parametrize("pad", [0, 100_000])
def test_reply_held_back_survives_a_close(impl: Any, pad: int) -> None:
    # Another request's callback closes a connection whose reply is written
    # but (on tornado_c) still held back: the reply goes out before the close.
    # (A large body is held by reference, a small one copied.)
    requests: List[Any] = []

    def on_request(request: Any, index: int, clients: List[socket.socket]) -> bool:
        if requests:
            requests[0].connection.stream.close()
        requests.append(request)
        return False

    received = _one_pass(impl, 2, on_request, pad)
    first = int(requests[0].path[1:])
    assert parse_responses(received[first]) == [(200, b"." * pad + b"reply %d" % first)]


# --- bodies: collected whole, or streamed in chunk_size pieces ------------

_BODY = bytes(range(256)) * 1029  # 263,424 bytes: four 64 KiB chunks and a bit


@pytest.mark.parametrize("size", [0, 1, 65535, 65536, 65537, len(_BODY)])
def test_request_bodies_reach_callback_and_handler(impl: Any, size: int) -> None:
    # tornado_c gathers a Content-Length body bigger than chunk_size in one
    # object when the delegate only collects it; what the request callback
    # and a handler see is the same body, and pipelined requests follow.
    body = _BODY[:size]
    web = impl.mod("web")
    got: List[Any] = []

    def callback(request: Any) -> None:
        got.append(request.body == body)
        _respond(impl, request.connection, b"%d" % len(request.body))

    class Upload(web.RequestHandler):
        def post(self) -> None:
            got.append(self.request.body == body)
            self.write(b"%d" % len(self.request.body))

    raw = (
        b"POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
        b"Content-Type: application/octet-stream\r\n\r\n" % size
        + body
        + b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    for target in (callback, web.Application([("/u", Upload), ("/next", Upload)])):
        got.clear()
        data, closed = _serve(impl, target, raw, quiet=0.5)
        responses = parse_responses(data)
        assert responses[0] == (200, b"%d" % size) and got[0] is True
        assert responses[1][0] == (200 if target is callback else 405)
        assert not closed


def test_streamed_body_keeps_chunk_pieces(impl: Any) -> None:
    # A handler that streams the body still gets it in pieces of at most
    # chunk_size, as they arrive.
    web = impl.mod("web")
    pieces: List[int] = []

    @web.stream_request_body
    class Stream(web.RequestHandler):
        def data_received(self, chunk: bytes) -> None:
            pieces.append(len(chunk))

        def put(self) -> None:
            self.write(b"%d" % sum(pieces))

    raw = b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(_BODY) + _BODY
    data, closed = _serve(impl, web.Application([("/", Stream)]), raw, quiet=0.5)
    assert parse_responses(data) == [(200, b"%d" % len(_BODY))]
    assert sum(pieces) == len(_BODY) and max(pieces) <= 65536 and len(pieces) >= 5


def test_body_cut_short_by_the_client(impl: Any) -> None:
    # The client sends half the declared body and closes: no response, no
    # callback, nothing left open (the handle counters are checked after
    # every test).
    calls: List[Any] = []

    def callback(request: Any) -> None:
        calls.append(request)

    raw = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(_BODY) + _BODY[:100000]
    data, closed = _serve(impl, callback, raw)
    assert data == b"" and calls == []


# --- the response head, byte for byte ----------------------------------------


def _head_of(data: bytes) -> bytes:
    head = data.split(b"\r\n\r\n", 1)[0]
    # The Date and Server lines are the only ones that may differ.
    return b"\r\n".join(line for line in head.split(b"\r\n")
                        if not line.lower().startswith((b"date:", b"server:")))


@pytest.mark.parametrize("code, reason, length", [
    (200, "OK", "2"),
    (299, "Ça va \u2713", "2"),         # UTF-8 in the status line
    ("enum", None, "2"),                # an IntEnum code, its reason
    (404, "", "2"),                     # an empty reason
    (200, "OK", "0000000000000000002"),  # 19 digits: past the short parse
])
def test_status_line_and_length(impl: Any, code: Any, reason: Any, length: str) -> None:
    import http

    httputil = impl.mod("httputil")
    if code == "enum":
        code, reason = http.HTTPStatus.CREATED, "Created"

    def callback(request: Any) -> None:
        request.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", code, reason),
            httputil.HTTPHeaders({"Content-Length": length}), b"ok")
        request.connection.finish()

    def exchange(which: Any) -> Any:
        nonlocal httputil
        httputil = which.mod("httputil")
        data, closed = _serve(which, callback, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                              b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        return _head_of(data), data.count(b"\r\n\r\nok"), closed

    got = exchange(impl)
    if impl.name == "tornado_c":
        from conftest import Impl

        assert got == exchange(Impl("tornado"))
    assert got[0].startswith(b"HTTP/1.1 %d " % int(code)) and got[1] == 2


def test_patched_request_init_is_called(impl: Any, monkeypatch: Any) -> None:
    # The engine builds HTTPServerRequest itself when its __init__ is a plain
    # function; a replacement __init__ is what runs, and one that returns a
    # value fails the request as type.__call__ would.
    httputil = impl.mod("httputil")
    original = httputil.HTTPServerRequest.__init__
    calls: List[str] = []

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(kwargs["start_line"].path)
        original(self, *args, **kwargs)

    def callback(request: Any) -> None:
        _respond(impl, request.connection, request.path.encode())

    monkeypatch.setattr(httputil.HTTPServerRequest, "__init__", init)
    data, closed = _serve(impl, callback, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                          b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
    assert parse_responses(data) == [(200, b"/a"), (200, b"/b")] and not closed
    assert calls == ["/a", "/b"]

    def returns_value(self: Any, *args: Any, **kwargs: Any) -> Any:
        original(self, *args, **kwargs)
        return 1

    monkeypatch.setattr(httputil.HTTPServerRequest, "__init__", returns_value)
    data, closed = _serve(impl, callback, b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"/c" not in data


def test_status_line_with_a_line_break_is_refused(impl: Any) -> None:
    # A reason phrase carrying CR/LF would split the head: write_headers
    # refuses it (as Tornado does), and nothing of it reaches the client.
    def exchange(which: Any) -> Any:
        httputil = which.mod("httputil")
        errors: List[str] = []

        def callback(request: Any) -> None:
            try:
                request.connection.write_headers(
                    httputil.ResponseStartLine("HTTP/1.1", 200, "OK\r\nX-Injected: 1"),
                    httputil.HTTPHeaders({"Content-Length": "2"}), b"ok")
            except Exception as e:
                errors.append(type(e).__name__)
                _respond(which, request.connection, b"no")
            else:
                request.connection.finish()

        data, closed = _serve(which, callback, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        return errors, parse_responses(data), closed

    got = exchange(impl)
    if impl.name == "tornado_c":
        from conftest import Impl

        assert got == exchange(Impl("tornado"))
    assert got[0] == ["ValueError"] and got[1] == [(200, b"no")]


def test_field_names_of_every_shape(impl: Any) -> None:
    """Request field names come out in Http-Header-Case, whatever their case,
    length (the C side keeps the last names seen, up to 32 bytes, in a small
    table), and however many distinct ones arrive: the same names as
    Tornado's, with values and repeats kept, over several requests."""
    import random

    rng = random.Random(7)
    names = [f"x-{i}-{'ab' * (i % 20)}" for i in range(150)]  # 4 to 48+ bytes
    names += ["content-TYPE", "HOST", "Accept", "accept", "a", "x-" + "q" * 31, "x-" + "q" * 30]
    raw = b""
    expected = []
    for round_ in range(3):
        picked = rng.sample(names[:-7], 60) + names[-7:]
        rng.shuffle(picked)
        head = [f"{''.join(c.upper() if rng.random() < 0.5 else c for c in n)}: v{round_}-{k}"
                for k, n in enumerate(picked) if n.lower() != "host"]
        raw += ("GET /%d HTTP/1.1\r\nHost: h\r\n" % round_ + "\r\n".join(head)
                + "\r\n\r\n").encode()
        want = impl.mod("httputil").HTTPHeaders({"Host": "h"})
        for line in head:
            name, _, value = line.partition(": ")
            want.add(name, value)
        expected.append(sorted(want.get_all()))
    seen: List[Any] = []

    def callback(request: Any) -> None:
        seen.append(sorted(request.headers.get_all()))
        _respond(impl, request.connection, b"ok")

    data, closed = _serve(impl, callback, raw)
    assert parse_responses(data) == [(200, b"ok")] * 3 and not closed
    assert seen == expected
    assert all(all(type(name) is str for name, _ in pairs) for pairs in seen)


_HEAP_CHILD = r'''
import asyncio, ctypes, socket, threading
import tornado_c
from tornado_c import httpserver, httputil

libc = ctypes.CDLL(None)


class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]


def mmapped(size):
    # Whether malloc(size) is given a block of its own (mmap) or heap.
    blocks = libc.mallinfo2().hblks
    p = libc.malloc(size)
    grew = libc.mallinfo2().hblks > blocks
    libc.free(p)
    return grew


BODY = b"x" * 65536


def respond(request):
    request.connection.write_headers(
        httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
        httputil.HTTPHeaders({"Content-Length": str(len(BODY))}), BODY)
    request.connection.finish()


def client(port, got):
    # (no block over 128 KiB is made, or freed, but the server's)
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    buf = bytearray(100000)
    n = 0
    while n < len(BODY) or not buf[:n].endswith(BODY):
        n += s.recv_into(memoryview(buf)[n:])
    got.append(True)
    s.close()


async def main():
    server = httpserver.HTTPServer(respond)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    server.add_sockets([sock])
    got = []
    t = threading.Thread(target=client, args=(sock.getsockname()[1], got))
    t.start()
    while t.is_alive():
        await asyncio.sleep(0.005)
    server.stop()
    assert got == [True]


loop = tornado_c.new_event_loop()
loop.run_until_complete(main())
loop.close()
print(mmapped(1 << 20))  # (asked once: freeing an mmapped block raises them)
'''


@pytest.mark.skipif(not sys.platform.startswith("linux") or
                    __import__("platform").libc_ver()[0] != "glibc",
                    reason="glibc's malloc thresholds: Linux with glibc only")
def test_held_bodies_keep_the_heap() -> None:
    """A body held by reference until the pass ends raises glibc's dynamic
    malloc thresholds first (csrc/http1.c, h1_prime_heap): a 1 MiB block,
    mmapped in a fresh process, then comes from the heap, whose top is no
    longer trimmed back to 128 KiB every few passes of a file server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    if "libasan" in env.get("LD_PRELOAD", ""):
        pytest.skip("ASan's allocator replaces glibc's malloc")
    import ctypes

    if not hasattr(ctypes.CDLL(None), "mallinfo2"):
        pytest.skip("glibc older than 2.33 (no mallinfo2)")
    import subprocess

    res = subprocess.run([sys.executable, "-c", _HEAP_CHILD], env=env, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["False"]
