"""The HTTP client's C fetch path (csrc/fetch.c) against the Python one.

Every case fetches from a raw loopback server that answers with scripted
bytes (whole, or in small pieces with pauses between them), once with the C
fetch path allowed and once with it turned off (the usual `_HTTPConnection`
path).  Both must agree on everything the caller can see: the response (or
the error), the request bytes the server got, the headers the request object
was given, and the log lines.  Other tests check that the C path really ran
where it should, and that it steps aside whenever a function it stands in
for has been replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import gzip
import logging
import os
import re
import socket
import struct
import sys
from typing import Any, Dict, List, Optional, Tuple

import pytest

import tornado_c
from tornado_c import httputil
from tornado_c import simple_httpclient as sh
from tornado_c.httpclient import HTTPRequest

sys.path.insert(0, os.path.dirname(__file__))

from test_http1_client_native import run  # noqa: E402

pytestmark = pytest.mark.skipif(tornado_c._core is None, reason="needs the C extension")


class LogCatcher(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: List[Tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.name, record.levelno, record.getMessage()))


class Counter:
    """Counts how requests ended on the C path (patching _NativeFetch)."""

    def __init__(self) -> None:
        self.seen: List[str] = []
        self.saved: Dict[str, Any] = {}

    def __enter__(self) -> "Counter":
        for name in ("_fetched", "_failed", "_handover"):
            original = getattr(sh._NativeFetch, name)
            self.saved[name] = original

            def spy(self_: Any, *args: Any, _name: str = name, _orig: Any = original) -> Any:
                self.seen.append(_name)
                return _orig(self_, *args)

            setattr(sh._NativeFetch, name, spy)
        return self

    def __exit__(self, *exc: Any) -> None:
        for name, original in self.saved.items():
            setattr(sh._NativeFetch, name, original)


@contextlib.contextmanager
def c_path(enabled: bool) -> Any:
    """The C fetch path allowed, or turned off for the block."""
    saved = sh._native_fetch
    if not enabled:
        sh._native_fetch = lambda *args: False  # type: ignore[assignment]
    try:
        yield
    finally:
        sh._native_fetch = saved


async def stop_handlers(handlers: List[Any]) -> None:
    """Lets the test server's connection handlers end (one still writing a
    response the client gave up on ends at its next write), then cancels
    any left (the "hang" case)."""
    pending = [task for task in handlers if not task.done()]
    if pending:
        _, left = await asyncio.wait(pending, timeout=0.5)
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)


def ok(code: int = 200, body: bytes = b"hello", extra: str = "", reason: str = "OK") -> bytes:
    head = f"HTTP/1.1 {code} {reason}\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    return head.encode("latin-1") + body


GZ = gzip.compress(b"squeezed " * 20)

# name -> (response bytes, or a special action; fetch keyword arguments)
CASES: Dict[str, Tuple[Any, Dict[str, Any]]] = {
    "plain": (ok(), {}),
    "empty body": (ok(body=b""), {}),
    "big body": (ok(body=b"x" * 300000), {}),
    "404": (ok(404, b"missing", reason="Not Found"), {}),
    "500 no raise": (ok(500, b"oops", reason="Internal Server Error"), {}),
    "latin-1 header": (ok(extra="X-Name: caf\xe9\r\n"), {}),
    "repeated header": (ok(extra="Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n"), {}),
    "extra bytes": (ok() + b"GARBAGE AFTER", {}),
    "custom reason": (ok(reason="Fine Thanks"), {}),
    "204": (b"HTTP/1.1 204 No Content\r\nX: y\r\n\r\n", {}),
    "204 with length": (b"HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\nabc", {}),
    "304": (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", {}),
    "head": (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", {"method": "HEAD"}),
    "http/1.0": (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", {}),
    "chunked": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        {},
    ),
    "chunks": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"
        b"3\r\nabc\r\nA\r\n0123456789\r\n003\r\nxyz\r\n0\r\n\r\n",
        {},
    ),
    "chunked empty": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", {}),
    "chunk extension": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n0\r\n\r\n",
        {"request_timeout": 0.5},
    ),
    "chunk trailer": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX: 1\r\n\r\n",
        {"request_timeout": 0.5},
    ),
    "chunk without crlf": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n",
        {"request_timeout": 0.5},
    ),
    "chunk size line too long": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"0" * 70 + b"3\r\nabc\r\n0\r\n\r\n",
        {"request_timeout": 0.5},
    ),
    "chunk size not hex": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n",
        {"request_timeout": 0.5},
    ),
    "chunked eof": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab", {}),
    "chunked too big": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n" + b"q" * 1024
        + b"\r\n0\r\n\r\n",
        {"client": {"max_body_size": 1000}},
    ),
    "gzip and chunked": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        {"request_timeout": 0.5},
    ),
    "two transfer encodings": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n",
        {"request_timeout": 0.5},
    ),
    "head chunked": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", {"method": "HEAD"}
    ),
    "close delimited": (b"HTTP/1.1 200 OK\r\n\r\nto the end", {}),
    "100 continue": (b"HTTP/1.1 100 Continue\r\n\r\n" + ok(), {}),
    "gzip": (ok(body=GZ, extra="Content-Encoding: gzip\r\n"), {}),
    "gzip kept": (ok(body=GZ, extra="Content-Encoding: gzip\r\n"), {"decompress_response": False}),
    "gzip upper case": (ok(body=GZ, extra="Content-Encoding: GZip\r\n"), {}),
    "gzip then junk": (ok(body=GZ + b"junk", extra="Content-Encoding: gzip\r\n"), {}),
    "gzip cut short": (ok(body=GZ[:-6], extra="Content-Encoding: gzip\r\n"), {}),
    "gzip corrupt": (
        ok(body=GZ[:12] + b"\xff" * 8 + GZ[20:], extra="Content-Encoding: gzip\r\n"),
        {"request_timeout": 0.5},
    ),
    "gzip empty": (ok(body=b"", extra="Content-Encoding: gzip\r\n"), {}),
    "gzip big": (ok(body=gzip.compress(bytes(range(256)) * 2000),
                    extra="Content-Encoding: gzip\r\n"), {}),
    "gzip chunked": (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n" % len(GZ) + GZ + b"\r\n0\r\n\r\n",
        {},
    ),
    "gzip consumed header there": (
        ok(body=GZ, extra="X-Consumed-Content-Encoding: x\r\nContent-Encoding: gzip\r\n"), {}
    ),
    "gzip twice": (
        ok(body=GZ, extra="Content-Encoding: gzip\r\nContent-Encoding: gzip\r\n"), {}
    ),
    "brotli passes": (ok(body=b"br-bytes", extra="Content-Encoding: br\r\n"), {}),
    "gzip head": (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 50\r\n\r\n",
                  {"method": "HEAD"}),
    "redirect": (ok(302, b"", extra="Location: /next\r\n", reason="Found"), {}),
    "redirect not followed": (
        ok(302, b"", extra="Location: /next\r\n", reason="Found"),
        {"follow_redirects": False},
    ),
    "two lengths": (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi", {}),
    "bad length": (b"HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\nhi", {}),
    "length and chunked": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n",
        {},
    ),
    "bare lf": (b"HTTP/1.1 200 OK\nContent-Length: 2\n\nhi", {}),
    "folded": (b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 2\r\n\r\nhi", {}),
    "no reason": (b"HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nhi", {}),
    "bad status line": (b"HTTZ/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", {"request_timeout": 0.5}),
    "control char": (
        b"HTTP/1.1 200 OK\r\nX: a\x01b\r\nContent-Length: 2\r\n\r\nhi", {"request_timeout": 0.5}
    ),
    "bad header name": (
        b"HTTP/1.1 200 OK\r\nX Y: 1\r\nContent-Length: 2\r\n\r\nhi", {"request_timeout": 0.5}
    ),
    "head too big": (ok(extra="X-Big: " + "b" * 3000 + "\r\n"), {"client": {"max_header_size": 1000}}),
    "body too big": (ok(body=b"z" * 5000), {"client": {"max_body_size": 1000}}),
    "buffer too small": (ok(body=b"z" * 5000), {"client": {"max_buffer_size": 1000}}),
    "eof in body": (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc", {}),
    "eof in head": (b"HTTP/1.1 200 OK\r\nContent-Le", {}),
    "nothing": (b"", {}),
    "reset in body": ("rst", {}),
    "timeout": ("hang", {"request_timeout": 0.2}),
    "post": (ok(), {"method": "POST", "body": b"a=1&b=2"}),
    "put with headers": (
        ok(),
        {"method": "PUT", "body": b"{}", "headers": {"Content-Type": "application/json",
                                                      "X-Trace": "t1"}},
    ),
    "user agent": (ok(), {"user_agent": "probe/1.0"}),
    "query and fragment": (ok(), {"path": "/a/b?x=1&y=%20#frag"}),
    "no path": (ok(), {"path": ""}),
    "query only": (ok(), {"path": "?q=1"}),
    "empty query": (ok(), {"path": "/p?"}),
    "fragment only": (ok(), {"path": "#top"}),
    "odd path characters": (ok(), {"path": "/a;b,c/d~e!f'g(h)*[i]@j:k$l"}),
    "caller's host and agent": (
        ok(), {"headers": {"Host": "example.test", "User-Agent": "mine/2", "X-A": "1"}}
    ),
    "caller's content type": (
        ok(), {"method": "POST", "body": b"{}", "headers": {"Content-Type": "text/plain"}}
    ),
    "defaults": (
        ok(),
        {"client": {"defaults": {"user_agent": "from-defaults", "decompress_response": False}}},
    ),
    "no redirects left": (
        ok(302, b"", extra="Location: /next\r\n", reason="Found"), {"max_redirects": 0}
    ),
    "delete": (ok(), {"method": "DELETE"}),
    "options": (ok(), {"method": "OPTIONS"}),
    "patch": (ok(), {"method": "PATCH", "body": b"p"}),
}


async def fetch_case(
    name: str, response: Any, kwargs: Dict[str, Any], native: bool, pieces: bool
) -> Dict[str, Any]:
    got: List[bytes] = []
    handlers: List[Any] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.current_task())
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        body = await reader.readexactly(length) if length else b""
        got.append(head + body)
        if head.startswith(b"GET /next "):
            writer.write(ok(body=b"moved here"))
        elif response == "hang":
            try:
                await asyncio.sleep(1)
            finally:
                writer.close()
        elif response == "rst":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
            await writer.drain()
            await asyncio.sleep(0.05)
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return
        elif pieces and len(response) > 1:
            step = max(1, len(response) // 5)
            try:
                for i in range(0, len(response), step):
                    writer.write(response[i : i + step])
                    await writer.drain()
                    await asyncio.sleep(0.002)
            except ConnectionError:
                pass  # the client gave up on it early
        else:
            writer.write(response)
        try:
            await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    kwargs = dict(kwargs)
    client_kwargs = kwargs.pop("client", {})
    path = kwargs.pop("path", "/x")
    client = sh.SimpleAsyncHTTPClient(force_instance=True, **client_kwargs)
    catcher = LogCatcher()
    loggers = [logging.getLogger(n) for n in ("tornado.general", "tornado.application",
                                              "tornado.access")]
    for logger in loggers:
        logger.addHandler(catcher)
        logger.setLevel(logging.DEBUG)
    request = HTTPRequest(f"http://127.0.0.1:{port}{path}", **kwargs)
    result: Dict[str, Any] = {}
    try:
        with c_path(native), Counter() as counter:
            try:
                response_ = await client.fetch(request, raise_error=False)
                result["response"] = (
                    response_.code, response_.reason, sorted(response_.headers.get_all()),
                    response_.body, response_.effective_url.replace(str(port), "PORT"),
                    type(response_.error).__name__, str(response_.error),
                )
            except Exception as exc:
                result["error"] = (type(exc).__name__, exc.args, str(exc))
            await asyncio.sleep(0.01)
    finally:
        for logger in loggers:
            logger.removeHandler(catcher)
            logger.setLevel(logging.NOTSET)
        client.close()
        server.close()
        await server.wait_closed()
        await stop_handlers(handlers)
    result["sent"] = [g.replace(str(port).encode(), b"PORT") for g in got]
    result["request headers"] = sorted(
        (k, v.replace(str(port), "PORT")) for k, v in request.headers.get_all()
    )
    result["logs"] = [
        (n, lvl, re.sub(r"(Task-\d+|0x[0-9a-f]+)", "-", m.replace(str(port), "PORT")))
        for n, lvl, m in catcher.lines
        if "max_clients" not in m
    ]
    result["c path"] = counter.seen if native else []
    return result


@pytest.mark.parametrize("pieces", [False, True], ids=["whole", "pieces"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_same_as_python_path(name: str, pieces: bool) -> None:
    response, kwargs = CASES[name]
    python = run(fetch_case(name, response, kwargs, False, pieces))
    native = run(fetch_case(name, response, kwargs, True, pieces))
    used = native.pop("c path")
    python.pop("c path")
    assert native == python
    # The C path ran (and either answered or handed over).
    assert len(used) == 1, used


def test_c_path_answers_plain_responses() -> None:
    """Content-Length responses are answered in C; the others handed over."""
    expected = {
        "plain": "_fetched", "404": "_fetched", "204": "_fetched", "head": "_fetched",
        "redirect not followed": "_fetched", "gzip kept": "_fetched", "timeout": "_failed",
        "chunked": "_fetched", "chunks": "_fetched", "chunk trailer": "_handover",
        "chunk extension": "_handover", "redirect": "_handover", "gzip chunked": "_fetched",
        "gzip then junk": "_fetched", "gzip cut short": "_handover", "gzip corrupt": "_handover",
        "brotli passes": "_fetched", "gzip twice": "_handover", "gzip": "_fetched",
        "eof in body": "_handover", "reset in body": "_handover", "100 continue": "_handover",
        "bare lf": "_handover", "head too big": "_handover", "body too big": "_handover",
    }  # fmt: skip
    for name, outcome in expected.items():
        response, kwargs = CASES[name]
        assert run(fetch_case(name, response, kwargs, True, False))["c path"] == [outcome], name


def test_connection_refused() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()

    async def main(native: bool) -> Any:
        client = sh.SimpleAsyncHTTPClient(force_instance=True)
        try:
            with c_path(native), Counter() as counter:
                try:
                    await client.fetch(f"http://127.0.0.1:{port}/")
                except Exception as exc:
                    return type(exc), exc.args, str(exc), counter.seen
        finally:
            client.close()
        raise AssertionError("no error")

    native = run(main(True))
    python = run(main(False))
    assert native[:3] == python[:3] == (ConnectionRefusedError, (111, os.strerror(111)),
                                        "[Errno 111] " + os.strerror(111))
    assert native[3] == ["_failed"]


async def count_c_path(port: int, prepare: Any = None, **kwargs: Any) -> List[str]:
    client = sh.SimpleAsyncHTTPClient(force_instance=True)
    try:
        with Counter() as counter:
            response = await client.fetch(f"http://127.0.0.1:{port}/", **kwargs)
            assert response.code == 200
            if "streaming_callback" not in kwargs:
                assert response.body == b"hello"
        return counter.seen
    finally:
        client.close()


async def hello_server() -> Any:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(ok())
        await writer.drain()
        writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


async def c_path_used(**kwargs: Any) -> List[str]:
    """How a fetch of hello_server's page ended on the C path ([]: it did
    not take it)."""
    server = await hello_server()
    try:
        return await count_c_path(server.sockets[0].getsockname()[1], **kwargs)
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    "owner,name",
    [(owner, name) for owner, name, _ in sh._STOOD_IN_FOR],
    ids=[f"{owner.__name__}.{name}" for owner, name, _ in sh._STOOD_IN_FOR],
)
def test_replaced_function_turns_c_path_off(owner: Any, name: str) -> None:
    """Any function the C path stands in for, once replaced, makes the
    request take the Python path (which then calls it)."""
    original = owner.__dict__[name]
    calls: List[int] = []

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    setattr(owner, name, wrapper)
    try:
        seen = run(c_path_used())
    finally:
        setattr(owner, name, original)
    assert seen == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"streaming_callback": lambda chunk: None},
        {"header_callback": lambda line: None},
        {"auth_username": "u", "auth_password": "p"},
        {"headers": {"Connection": "close"}},
        {"headers": {"Connection": "Keep-Alive, Upgrade"}},
        {"network_interface": "127.0.0.1"},
        {"allow_nonstandard_methods": True},
        {"body_producer": None, "method": "POST", "body": None, "allow_nonstandard_methods": True},
        {"expect_100_continue": True, "method": "POST", "body": b"x"},
    ],
    ids=lambda kw: ",".join(sorted(kw)),
)
def test_requests_the_c_path_leaves_alone(kwargs: Dict[str, Any]) -> None:
    assert run(c_path_used(**kwargs)) == []


@pytest.mark.parametrize(
    "module,name",
    [(socket, "socket"), (socket, "getaddrinfo"), (httputil, "_normalize_header")],
    ids=["socket.socket", "socket.getaddrinfo", "httputil._normalize_header"],
)
def test_replaced_module_function_turns_c_path_off(
    module: Any, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = getattr(module, name)
    calls: List[int] = []

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    assert run(c_path_used()) == []
    assert calls


def test_hostname_and_subclass_take_python_path() -> None:
    class Custom(sh.SimpleAsyncHTTPClient):
        def _connection_class(self) -> type:
            return sh._HTTPConnection

    async def main() -> Tuple[List[str], List[str], List[str]]:
        server = await hello_server()
        port = server.sockets[0].getsockname()[1]
        try:
            with Counter() as counter:
                client = sh.SimpleAsyncHTTPClient(force_instance=True)
                assert (await client.fetch(f"http://localhost:{port}/")).body == b"hello"
                client.close()
                by_name = list(counter.seen)
                client = Custom(force_instance=True)
                assert (await client.fetch(f"http://127.0.0.1:{port}/")).body == b"hello"
                client.close()
                subclass = counter.seen[len(by_name):]
                client = sh.SimpleAsyncHTTPClient(
                    force_instance=True, hostname_mapping={"x": "127.0.0.1"}
                )
                assert (await client.fetch(f"http://127.0.0.1:{port}/")).body == b"hello"
                client.close()
                mapped = counter.seen[len(by_name) + len(subclass):]
            return by_name, subclass, mapped
        finally:
            server.close()
            await server.wait_closed()

    assert run(main()) == ([], [], [])


def test_many_concurrent_fetches_no_leaks() -> None:
    """Many fetches at once (max_clients queueing included) all answer,
    leave no fd and no libuv handle open, and no fetch object behind."""

    def alive() -> int:
        gc.collect()
        return sum(isinstance(o, (sh._NativeFetch, tornado_c.httpclient.HTTPResponse))
                   for o in gc.get_objects())  # fmt: skip

    async def main() -> Tuple[int, int, int, int]:
        server = await hello_server()
        port = server.sockets[0].getsockname()[1]
        client = sh.SimpleAsyncHTTPClient(force_instance=True, max_clients=20)
        url = f"http://127.0.0.1:{port}/"
        try:
            await asyncio.gather(*(client.fetch(url) for _ in range(50)))
            await asyncio.sleep(0.05)
            fds = len(os.listdir("/proc/self/fd"))
            objects = alive()
            with Counter() as counter:
                bodies = await asyncio.gather(*(client.fetch(url) for _ in range(300)))
            assert {r.body for r in bodies} == {b"hello"}
            assert counter.seen == ["_fetched"] * 300
            del bodies
            await asyncio.sleep(0.05)
            return fds, len(os.listdir("/proc/self/fd")), objects, alive()
        finally:
            client.close()
            server.close()
            await server.wait_closed()

    before, after, objects, left = run(main())
    assert after == before
    assert left == objects


def test_loop_closed_with_fetch_pending() -> None:
    """Closing the loop with a fetch in flight closes its handles (no
    crash, no fd left open)."""
    gc.collect()
    fds = len(os.listdir("/proc/self/fd"))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    loop = tornado_c.new_event_loop()
    asyncio.set_event_loop(loop)
    try:

        async def start() -> None:
            client = sh.SimpleAsyncHTTPClient(force_instance=True)
            client.fetch(f"http://127.0.0.1:{port}/", raise_error=False)
            await asyncio.sleep(0.05)

        loop.run_until_complete(start())
    finally:
        loop.close()
        asyncio.set_event_loop(None)
    listener.close()
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) == fds


async def keepalive_case(
    script: List[List[str]], fetches: List[Dict[str, Any]], native: bool, max_clients: int = 10
) -> Dict[str, Any]:
    """Keep-alive requests against a server whose n-th connection answers
    its requests as script[n] says: "ok" (HTTP/1.1, kept open), "close"
    (answered, then closed), "drop" (closed without an answer), "http10",
    "extra" (bytes after the response).  Returns what the caller and the
    server saw."""
    connections: List[List[bytes]] = []
    handlers: List[Any] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.current_task())
        plan = script[len(connections)] if len(connections) < len(script) else ["ok"] * 9
        seen: List[bytes] = []
        connections.append(seen)
        try:
            for step in plan:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                seen.append(head + (await reader.readexactly(length) if length else b""))
                if step == "drop":
                    break
                body = b"answer %d.%d" % (len(connections), len(seen))
                if step == "http10":
                    writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                                 % (len(body), body))
                else:
                    writer.write(ok(body=body) + (b"JUNK" if step == "extra" else b""))
                await writer.drain()
                if step == "close":
                    break
            else:
                await reader.read()  # until the client closes
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = sh.SimpleAsyncHTTPClient(force_instance=True, max_clients=max_clients)
    outcomes: List[Any] = []
    try:
        with c_path(native), Counter() as counter:
            for kwargs in fetches:
                kwargs = dict(kwargs)
                together = kwargs.pop("together", 1)
                headers = {"Connection": "keep-alive"}
                requests = [
                    client.fetch(f"http://127.0.0.1:{port}/k", raise_error=False,
                                 headers=headers, **kwargs)
                    for _ in range(together)
                ]  # fmt: skip
                for outcome in await asyncio.gather(*requests, return_exceptions=True):
                    if isinstance(outcome, Exception):
                        outcomes.append((type(outcome).__name__, str(outcome)))
                    else:
                        outcomes.append((outcome.code, outcome.body, type(outcome.error).__name__))
                await asyncio.sleep(0.02)
        pooled = sum(len(v) for v in client._native_idle.values()) + sum(
            len(v) for v in client._idle_streams.values()
        )
    finally:
        client.close()
        await asyncio.sleep(0.02)
        server.close()
        await server.wait_closed()
        await stop_handlers(handlers)
    return {
        "outcomes": outcomes,
        "connections": [[r.replace(str(port).encode(), b"PORT") for r in c] for c in connections],
        "pooled": pooled,
        "c path": counter.seen,
    }


KEEPALIVE_CASES: Dict[str, Tuple[List[List[str]], List[Dict[str, Any]], int]] = {
    "reused": ([["ok", "ok", "ok"]], [{}, {}, {}], 10),
    "server says close": ([["close"], ["ok"]], [{}, {}], 10),
    "closed while idle": ([["close"], ["ok", "ok"]], [{}, {}, {}], 10),
    "dropped then retried": ([["ok", "drop"], ["ok"]], [{}, {}], 10),
    "post not retried": ([["ok", "drop"], ["ok"]], [{}, {"method": "POST", "body": b"x"}], 10),
    "head and 304": ([["ok", "ok"]], [{"method": "HEAD"}, {}], 10),
    "http/1.0 answer": ([["http10"], ["ok"]], [{}, {}], 10),
    "bytes after": ([["extra"], ["ok"]], [{}, {}], 10),
    "pool limit": ([["ok", "ok"], ["ok", "ok"]], [{"together": 2}, {}], 1),
}


@pytest.mark.parametrize("name", sorted(KEEPALIVE_CASES))
def test_keepalive_same_as_python_path(name: str) -> None:
    """Connection reuse (beyond Tornado) on the C path: the same answers,
    connections and requests on them, and pool, as the Python path's."""
    script, fetches, max_clients = KEEPALIVE_CASES[name]
    python = run(keepalive_case(script, fetches, False, max_clients))
    native = run(keepalive_case(script, fetches, True, max_clients))
    used = native.pop("c path")
    python.pop("c path")
    assert native == python
    assert used and set(used) <= {"_fetched", "_failed", "_handover"}


def test_keepalive_reuse_takes_c_path() -> None:
    result = run(keepalive_case([["ok", "ok", "ok"]], [{}, {}, {}], True))
    assert result["c path"] == ["_fetched"] * 3
    assert len(result["connections"]) == 1 and result["pooled"] == 1


def test_ipv6_literal() -> None:
    """A bracketed IPv6 address takes the C path, with the same outcome."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("no IPv6 loopback address on this machine")

    async def main(native: bool) -> Any:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            writer.write(ok(body=head))
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(serve, "::1", 0)
        port = server.sockets[0].getsockname()[1]
        client = sh.SimpleAsyncHTTPClient(force_instance=True)
        try:
            with c_path(native), Counter() as counter:
                response = await client.fetch(f"http://[::1]:{port}/v6")
            return response.body.replace(str(port).encode(), b"PORT"), counter.seen
        finally:
            client.close()
            server.close()
            await server.wait_closed()

    native = run(main(True))
    python = run(main(False))
    assert native[0] == python[0]
    assert b"Host: [::1]:PORT" in native[0]
    assert native[1] == ["_fetched"] and python[1] == []


def test_fetch_begin_arguments() -> None:
    with pytest.raises(TypeError, match="Fetch subclass"):
        tornado_c._core.fetch_begin(object, None, None, None, None)
    with pytest.raises(TypeError):
        tornado_c._core.fetch_begin(sh._NativeFetch)
    # Anything that is not a _RequestProxy is not for the C path.
    assert tornado_c._core.fetch_begin(sh._NativeFetch, None, object(), None, None) is False


def test_fetch_type_rejects_bad_arguments() -> None:
    loop = tornado_c.new_event_loop()
    try:
        args = (socket.AF_INET, "127.0.0.1", 80, b"GET / HTTP/1.1\r\n\r\n", 1.0, 1.0,
                65536, 1000, False, True, True)  # fmt: skip
        with pytest.raises(ValueError, match="numeric address"):
            tornado_c._core.Fetch(loop, socket.AF_INET, "localhost", *args[2:])
        with pytest.raises(ValueError, match="numeric address"):
            tornado_c._core.Fetch(loop, socket.AF_INET6, "127.0.0.1", *args[2:])
        with pytest.raises(ValueError, match="out of range"):
            tornado_c._core.Fetch(loop, socket.AF_INET, "127.0.0.1", 70000, *args[3:])
        with pytest.raises(TypeError):
            tornado_c._core.Fetch(object(), *args)
        fetch = tornado_c._core.Fetch(loop, *args)
        assert fetch.state == "new"
    finally:
        loop.close()
    with pytest.raises(RuntimeError, match="closed"):
        fetch.start()


def test_stream_unread() -> None:
    """Stream.unread puts bytes back in front of the buffered input (the
    handover's way of giving the Python code what the C path read)."""
    from tornado_c.iostream import IOStream

    async def main() -> Tuple[bytes, bytes, str]:
        left, right = socket.socketpair()
        stream = IOStream(left)
        assert stream._native is not None
        try:
            right.sendall(b"-tail")
            stream._native.unread(b"head")
            first = await stream.read_bytes(9)
            pending = stream.read_bytes(1)
            try:
                stream._native.unread(b"x")
            except RuntimeError as exc:
                refused = str(exc)
            else:
                refused = ""
            right.sendall(b"!")
            return first, await pending, refused
        finally:
            stream.close()
            right.close()

    first, second, refused = run(main())
    assert first == b"head-tail"
    assert second == b"!"
    assert "pending" in refused


def test_handover_waits_for_the_request_body() -> None:
    """A response that needs the Python code arriving while a large request
    body is still being written: the body still goes out in full."""
    size = 8 * 1024 * 1024

    async def main(native: bool) -> Tuple[Any, int]:
        received: List[int] = []

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nX-Early: 1\r\n\r\nearly")  # read to the close
            await writer.drain()
            got = len(await reader.readexactly(size))
            received.append(got)
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = sh.SimpleAsyncHTTPClient(force_instance=True)
        try:
            with c_path(native), Counter() as counter:
                response = await client.fetch(
                    f"http://127.0.0.1:{port}/", method="POST", body=b"b" * size
                )
            assert counter.seen == (["_handover"] if native else [])
            return (response.code, response.body), received[0]
        finally:
            client.close()
            server.close()
            await server.wait_closed()

    assert run(main(True)) == run(main(False)) == ((200, b"early"), size)
