"""Differential tests of tornado_c.httpclient against tornado.httpclient.

Every network test talks to a scripted HTTP server on 127.0.0.1 written with
asyncio streams, so the client is tested without either implementation's
server.  Helpers here are shared with test_simple_httpclient.py.
"""

from __future__ import annotations

import asyncio
import datetime
import inspect
import os
import socket
import subprocess
import sys
import threading
from io import BytesIO
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A scripted server handler gets the parsed request and the writer.
Handler = Callable[["Request", asyncio.StreamWriter], Awaitable[None]]


class Request:
    """One request as the scripted server read it."""

    def __init__(self, head: bytes, body: bytes) -> None:
        self.head = head
        self.body = body
        lines = head.decode("latin1").split("\r\n")
        self.method, self.target, self.version = lines[0].split(" ", 2)
        self.header_lines = [line for line in lines[1:] if line]
        self.headers: Dict[str, str] = {}
        for line in self.header_lines:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()


async def read_request(reader: asyncio.StreamReader) -> Optional[Request]:
    """Read one request (Content-Length or chunked body); None on EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    request = Request(head[:-4], b"")
    if request.headers.get("expect", "").lower() == "100-continue":
        return request
    await read_body(reader, request)
    return request


async def read_body(reader: asyncio.StreamReader, request: Request) -> None:
    if "content-length" in request.headers:
        request.body = await reader.readexactly(int(request.headers["content-length"]))
    elif request.headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
            data = await reader.readexactly(size + 2)
            if size == 0:
                break
            chunks.append(data[:-2])
        request.body = b"".join(chunks)


def response_bytes(
    code: int = 200,
    body: bytes = b"",
    headers: Optional[List[Tuple[str, str]]] = None,
    reason: str = "OK",
    content_length: bool = True,
) -> bytes:
    lines = ["HTTP/1.1 %d %s" % (code, reason)]
    for name, value in headers or []:
        lines.append(f"{name}: {value}")
    if content_length:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin1") + body


class ScriptServer:
    """An HTTP server on 127.0.0.1 whose every connection runs ``handler``.

    ``requests`` collects every request read by `serve_simple` handlers.
    """

    def __init__(self, handler: Handler, ssl_context: Any = None) -> None:
        self.handler = handler
        self.ssl_context = ssl_context
        self.requests: List[Request] = []
        self.server: Optional[asyncio.AbstractServer] = None
        self.port = 0
        self.writers: List[asyncio.StreamWriter] = []

    async def __aenter__(self) -> "ScriptServer":
        self.server = await asyncio.start_server(
            self._on_client, "127.0.0.1", 0, ssl=self.ssl_context
        )
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()

    async def _on_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.writers.append(writer)
        try:
            while True:
                request = await read_request(reader)
                if request is None:
                    break
                self.requests.append(request)
                request.reader = reader  # type: ignore[attr-defined]
                keep_going = await self.handler(request, writer)
                if not keep_going:
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def url(self, path: str = "/", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"


def respond(*args: Any, **kwargs: Any) -> Handler:
    """A handler that answers every request with the same response."""
    data = response_bytes(*args, **kwargs)

    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()

    return handler


def run(coro_fn: Callable[[], Awaitable[Any]], timeout: float = 10) -> Any:
    """Run ``coro_fn()`` on a fresh asyncio loop, bounded by ``timeout``."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(asyncio.wait_for(coro_fn(), timeout))
    finally:
        # Server handlers still waiting (the silent ones) are cancelled.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        asyncio.set_event_loop(None)


async def fetch_outcome(client: Any, *args: Any, **kwargs: Any) -> Tuple[str, Any]:
    """Fetch and describe the result as comparable data."""
    try:
        response = await client.fetch(*args, **kwargs)
    except Exception as e:
        response = getattr(e, "response", None)
        return (
            "error",
            (
                type(e).__name__,
                str(e),
                getattr(e, "code", None),
                None if response is None else (response.code, response.body),
            ),
        )
    return "ok", (response.code, response.reason, response.body)


# --- HTTPRequest -----------------------------------------------------------


def test_signatures_match(impl: Any) -> None:
    import tornado.httpclient as ref

    mod = impl.httpclient
    for name in ("HTTPRequest", "HTTPResponse", "HTTPClientError", "_RequestProxy"):
        ref_params = inspect.signature(getattr(ref, name).__init__).parameters
        params = inspect.signature(getattr(mod, name).__init__).parameters
        assert list(params) == list(ref_params)
        assert [p.default for p in params.values()] == [
            p.default for p in ref_params.values()
        ]
    for name in ("fetch", "fetch_impl", "close", "initialize"):
        assert list(inspect.signature(getattr(mod.AsyncHTTPClient, name)).parameters) == list(
            inspect.signature(getattr(ref.AsyncHTTPClient, name)).parameters
        )
    assert list(inspect.signature(mod.HTTPClient.__init__).parameters) == [
        "self",
        "async_client_class",
        "kwargs",
    ]


def test_request_defaults(impl: Any) -> None:
    mod = impl.httpclient
    assert mod.HTTPRequest._DEFAULTS == {
        "connect_timeout": 20.0,
        "request_timeout": 20.0,
        "follow_redirects": True,
        "max_redirects": 5,
        "decompress_response": True,
        "proxy_password": "",
        "allow_nonstandard_methods": False,
        "validate_cert": True,
    }
    request = mod.HTTPRequest("http://example.com/")
    assert request.method == "GET"
    assert isinstance(request.headers, impl.httputil.HTTPHeaders)
    assert list(request.headers.get_all()) == []
    assert request.body is None
    assert request.connect_timeout is None
    assert request.follow_redirects is None
    assert request.decompress_response is None
    assert request.expect_100_continue is False
    assert isinstance(request.start_time, float)


def test_request_properties(impl: Any) -> None:
    mod = impl.httpclient
    request = mod.HTTPRequest("http://example.com/", body="caf\u00e9", use_gzip=False)
    assert request.body == "caf\u00e9".encode("utf-8")
    assert request.decompress_response is False
    request = mod.HTTPRequest(
        "http://example.com/", use_gzip=False, decompress_response=True
    )
    assert request.decompress_response is True
    plain = {"X-A": "1"}
    request = mod.HTTPRequest("http://example.com/", headers=plain)
    assert request.headers is plain
    request.headers = None
    assert isinstance(request.headers, impl.httputil.HTTPHeaders)
    stamp = datetime.datetime(2020, 1, 2, 3, 4, 5)
    request = mod.HTTPRequest("http://example.com/", if_modified_since=stamp)
    assert request.headers["If-Modified-Since"] == "Thu, 02 Jan 2020 03:04:05 GMT"
    request = mod.HTTPRequest("http://example.com/", if_modified_since=0)
    assert "If-Modified-Since" not in request.headers


def test_request_proxy(impl: Any) -> None:
    mod = impl.httpclient
    request = mod.HTTPRequest("http://example.com/", connect_timeout=3)
    proxy = mod._RequestProxy(request, {"connect_timeout": 9, "request_timeout": 7})
    assert proxy.connect_timeout == 3
    assert proxy.request_timeout == 7
    assert proxy.max_redirects is None
    assert mod._RequestProxy(request, None).request_timeout is None
    with pytest.raises(AttributeError):
        proxy.no_such_attribute
    assert getattr(proxy, "original_request", proxy) is proxy


def test_request_proxy_lookup_order(impl: Any) -> None:
    # The proxy's own attributes (instance dict, class, properties) come
    # first; the request's and the defaults' only for what is left.  A
    # subclass may add its own.
    mod = impl.httpclient

    class Sub(mod._RequestProxy):  # type: ignore[name-defined,misc]
        marker = "class"

        @property
        def url(self) -> str:
            return "overridden"

    request = mod.HTTPRequest("http://example.com/", user_agent=None)
    request.marker = "request"
    proxy = Sub(request, {"user_agent": "from-defaults", "marker": "defaults"})
    assert proxy.marker == "class"
    assert proxy.url == "overridden"
    assert proxy.user_agent == "from-defaults"
    assert proxy.request is request and proxy.defaults["marker"] == "defaults"
    proxy.method = "PUT"
    assert proxy.method == "PUT" and request.method == "GET"
    assert isinstance(proxy, mod._RequestProxy)

    # A defaults object only needs get(); its errors come through.
    class Failing(dict):  # type: ignore[type-arg]
        def get(self, *args: Any) -> Any:
            raise KeyError("boom")

    with pytest.raises(KeyError):
        mod._RequestProxy(mod.HTTPRequest("http://example.com/"), Failing()).proxy_host


# --- HTTPResponse and errors ------------------------------------------------


def test_response(impl: Any) -> None:
    mod = impl.httpclient
    request = mod.HTTPRequest("http://example.com/")
    ok = mod.HTTPResponse(request, 200, buffer=BytesIO(b"body"))
    assert ok.error is None and ok.reason == "OK"
    assert ok.body == b"body" and ok.effective_url == "http://example.com/"
    ok.rethrow()
    assert mod.HTTPResponse(request, 204).body == b""
    proxy = mod._RequestProxy(request, {})
    missing = mod.HTTPResponse(proxy, 404, effective_url="http://other/")
    assert missing.request is request
    assert missing.effective_url == "http://other/"
    assert isinstance(missing.error, mod.HTTPClientError)
    assert missing._error_is_response_code
    assert missing.error.response is missing
    assert str(missing.error) == "HTTP 404: Not Found"
    with pytest.raises(mod.HTTPError):
        missing.rethrow()
    odd = mod.HTTPResponse(request, 799)
    assert odd.reason == "Unknown" and str(odd.error) == "HTTP 799: Unknown"
    custom = mod.HTTPResponse(request, 500, reason="Boom", error=ValueError("x"))
    assert isinstance(custom.error, ValueError) and not custom._error_is_response_code
    assert custom.reason == "Boom"
    text = repr(mod.HTTPResponse(request, 200, request_time=1.5, start_time=2.0))
    assert text.startswith("HTTPResponse(_body=None,_error_is_response_code=False,")
    assert "code=200" in text and "request_time=1.5" in text


def test_client_error(impl: Any) -> None:
    mod = impl.httpclient
    assert mod.HTTPError is mod.HTTPClientError
    error = mod.HTTPClientError(503)
    assert error.message == "Service Unavailable" and error.response is None
    assert error.args == (503, None, None)
    assert str(error) == repr(error) == "HTTP 503: Service Unavailable"
    assert str(mod.HTTPClientError(599, "Timeout")) == "HTTP 599: Timeout"


# --- AsyncHTTPClient -----------------------------------------------------------


def test_instance_cache(impl: Any) -> None:
    mod = impl.httpclient

    async def main() -> None:
        a = mod.AsyncHTTPClient()
        assert a is mod.AsyncHTTPClient()
        assert type(a).__name__ == "SimpleAsyncHTTPClient"
        forced = mod.AsyncHTTPClient(force_instance=True)
        assert forced is not a
        forced.close()
        forced.close()  # a second close is harmless
        a.close()
        b = mod.AsyncHTTPClient()
        assert b is not a
        b.close()
        with pytest.raises(RuntimeError, match="fetch\\(\\) called on closed"):
            a.fetch("http://127.0.0.1/")

    run(main)


def test_defaults_and_configure(impl: Any) -> None:
    mod = impl.httpclient

    async def main() -> None:
        client = mod.AsyncHTTPClient(force_instance=True, defaults={"user_agent": "x"})
        assert client.defaults["user_agent"] == "x"
        assert client.defaults["connect_timeout"] == 20.0
        with pytest.raises(ValueError, match="kwargs can't be used"):
            client.fetch(mod.HTTPRequest("http://127.0.0.1/"), method="POST")
        client.close()
        saved = mod.AsyncHTTPClient._save_configuration()
        try:
            mod.AsyncHTTPClient.configure(
                impl.name + ".simple_httpclient.SimpleAsyncHTTPClient", max_clients=3
            )
            configured = mod.AsyncHTTPClient(force_instance=True)
            assert configured.max_clients == 3
            configured.close()
        finally:
            mod.AsyncHTTPClient._restore_configuration(saved)

    run(main)


def test_fetch_codes(impl: Any) -> None:
    mod = impl.httpclient

    async def main() -> List[Any]:
        outcomes = []
        for code in (200, 404, 500):
            async with ScriptServer(respond(code, b"body %d" % code, reason="R")) as srv:
                client = mod.AsyncHTTPClient(force_instance=True)
                outcomes.append(await fetch_outcome(client, srv.url()))
                outcomes.append(await fetch_outcome(client, srv.url(), raise_error=False))
                client.close()
        return outcomes

    assert run(main) == [
        ("ok", (200, "R", b"body 200")),
        ("ok", (200, "R", b"body 200")),
        ("error", ("HTTPClientError", "HTTP 404: R", 404, (404, b"body 404"))),
        ("ok", (404, "R", b"body 404")),
        ("error", ("HTTPClientError", "HTTP 500: R", 500, (500, b"body 500"))),
        ("ok", (500, "R", b"body 500")),
    ]


def test_headers_dict_copied(impl: Any) -> None:
    mod = impl.httpclient

    async def main() -> Tuple[Any, Any]:
        async with ScriptServer(respond(200, b"x")) as srv:
            client = mod.AsyncHTTPClient(force_instance=True)
            headers = {"X-Test": "1"}
            request = mod.HTTPRequest(srv.url(), headers=headers)
            await client.fetch(request)
            client.close()
            return headers, type(request.headers).__name__

    assert run(main) == ({"X-Test": "1"}, "HTTPHeaders")


def _thread_server() -> Tuple[socket.socket, threading.Thread]:
    """A one-shot blocking server in a thread, for the synchronous client."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(10)

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            conn.sendall(response_bytes(200, b"sync body"))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


def test_sync_client(impl: Any) -> None:
    mod = impl.httpclient
    listener, thread = _thread_server()
    try:
        client = mod.HTTPClient()
        try:
            response = client.fetch("http://127.0.0.1:%d/" % listener.getsockname()[1])
            assert response.body == b"sync body"
        finally:
            client.close()
        client.close()
    finally:
        thread.join(10)
        listener.close()


def test_sync_client_refused(impl: Any) -> None:
    mod = impl.httpclient
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = mod.HTTPClient()
    try:
        with pytest.raises(ConnectionRefusedError):
            client.fetch("http://127.0.0.1:%d/" % port)
    finally:
        client.close()


def test_command_line(impl: Any) -> None:
    listener, thread = _thread_server()
    try:
        env = dict(os.environ, PYTHONPATH=ROOT)
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                impl.name + ".httpclient",
                "--print_headers",
                "http://127.0.0.1:%d/" % listener.getsockname()[1],
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            timeout=30,
            cwd=ROOT,
        )
    finally:
        thread.join(10)
        listener.close()
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().splitlines() == ["Content-Length: 9", "", "sync body"]


# --- curl_httpclient -------------------------------------------------------------


def test_curl_import_without_pycurl(impl: Any) -> None:
    code = (
        "import sys; sys.modules['pycurl'] = None\n"
        "try:\n"
        "    import %s.curl_httpclient\n"
        "except ImportError as e:\n"
        "    print('ImportError', type(e).__name__)\n" % impl.name
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=ROOT),
        timeout=30,
        cwd=ROOT,
    )
    assert out.stdout.decode().split() == ["ImportError", "ModuleNotFoundError"], out.stderr


# The reference still uses pycurl's deprecated IOCTLFUNCTION; tornado_c uses
# SEEKFUNCTION and emits no warning.
@pytest.mark.filterwarnings("ignore:IOCTLFUNCTION is deprecated:DeprecationWarning")
def test_curl_client(impl: Any) -> None:
    pytest.importorskip("pycurl")
    curl = impl.mod("curl_httpclient")

    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        if request.target == "/redirect":
            writer.write(response_bytes(302, b"", [("Location", "/final")]))
        else:
            info = "%s %s %s" % (request.method, request.target, request.body.decode())
            writer.write(response_bytes(201, info.encode(), [("X-A", "b")], reason="Made"))
        await writer.drain()

    async def main() -> List[Any]:
        async with ScriptServer(handler) as srv:
            client = curl.CurlAsyncHTTPClient(force_instance=True)
            results = []
            for kwargs in ({}, {"method": "POST", "body": "x=1"}, {"method": "PUT", "body": b"p"}):
                response = await client.fetch(srv.url("/redirect"), **kwargs)
                results.append(
                    (response.code, response.reason, response.body, response.headers["X-A"],
                     response.effective_url.endswith("/final"), sorted(response.time_info))
                )
            results.append(await fetch_outcome(client, srv.url(), method="GET", body=b"x",
                                               allow_nonstandard_methods=True))
            results.append(await fetch_outcome(client, srv.url(), headers={"X": "a\r\nb"}))
            client.close()
        return results

    results = run(main)
    timings = sorted(
        ["queue", "namelookup", "connect", "appconnect", "pretransfer",
         "starttransfer", "total", "redirect"]
    )
    assert results[0] == (201, "Made", b"GET /final ", "b", True, timings)
    assert results[1] == (201, "Made", b"GET /final ", "b", True, timings)
    assert results[2] == (201, "Made", b"PUT /final p", "b", True, timings)
    assert results[3] == ("error", ("ValueError", "Body must be None for GET request", None, None))
    assert results[4] == (
        "error",
        ("ValueError", "Illegal characters in header (CR or LF): b'X: a\\r\\nb'", None, None),
    )
