"""Differential tests for tornado_c.wsgi against tornado.wsgi.

The WSGI environment is compared directly from request objects; end-to-end
cases serve the same WSGI applications through each implementation's own
HTTPServer on 127.0.0.1 and compare the raw responses (minus ``Date``) and
the ``tornado.access`` log lines (minus the timing).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import io
import logging
import re
import sys
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import pytest

import tornado.wsgi as ref
import tornado_c.wsgi as tc

from conftest import Impl


def _environ_view(env: Dict[str, Any]) -> Dict[str, Any]:
    view = {k: v for k, v in env.items() if k not in ("wsgi.input", "wsgi.errors")}
    view["wsgi.input"] = env["wsgi.input"].read()
    view["wsgi.errors"] = env["wsgi.errors"] is sys.stderr
    return view


REQUESTS = [
    dict(method="GET", uri="/", headers={"Host": "example.com"}),
    dict(method="GET", uri="/p%20q/%E2%98%83?a=1&b=%20", headers={"Host": "example.com:8080"}),
    dict(method="POST", uri="/form", body=b"x=1",
         headers={"Host": "h", "Content-Type": "application/x-www-form-urlencoded",
                  "Content-Length": "3", "X-Custom-Thing": "v", "Cookie": "a=b"}),
    dict(method="PUT", uri="/%FF%00", headers={"Host": "[::1]:99"}),
    dict(method="GET", uri="/", headers={}),
    dict(method="HEAD", uri="/x?", version="HTTP/1.0", headers={"Host": "a:b:c"}),
]


@pytest.mark.parametrize("case", REQUESTS)
@pytest.mark.parametrize("with_executor", [False, True])
def test_environ(case: Dict[str, Any], with_executor: bool) -> None:
    views = []
    for name in ("tornado", "tornado_c"):
        impl = Impl(name)
        httputil = impl.mod("httputil")
        kw = dict(case)
        kw["headers"] = httputil.HTTPHeaders(kw.get("headers", {}))
        request = httputil.HTTPServerRequest(**kw)
        executor = concurrent.futures.ThreadPoolExecutor(1) if with_executor else None
        try:
            container = impl.mod("wsgi").WSGIContainer(lambda e, s: [], executor)
            try:
                view: Any = _environ_view(container.environ(request))
                view["remaining"] = sorted(request.headers.get_all())
            except Exception as e:  # noqa: BLE001 - compared
                view = (type(e).__name__, str(e))
        finally:
            if executor is not None:
                executor.shutdown()
        views.append(view)
    assert views[1] == views[0]


def test_to_wsgi_str() -> None:
    for value in (b"", b"abc", b"\xff\x00\xe9"):
        assert tc.to_wsgi_str(value) == ref.to_wsgi_str(value)
    with pytest.raises(AssertionError):
        tc.to_wsgi_str("text")  # type: ignore[arg-type]


def test_api_shape() -> None:
    def shape(fn: Any) -> Any:
        return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]

    assert shape(tc.WSGIContainer) == shape(ref.WSGIContainer)
    for meth in ("__call__", "handle_request", "environ", "_log"):
        assert shape(getattr(tc.WSGIContainer, meth)) == shape(getattr(ref.WSGIContainer, meth))
    assert inspect.iscoroutinefunction(tc.WSGIContainer.handle_request)
    assert tc.HTTPRequest is __import__("tornado_c.httputil").httputil.HTTPServerRequest


# ---------------------------------------------------------------------------
# End to end


def app_hello(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello ", b"world"]


def app_echo(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = environ["wsgi.input"].read()
    keys = sorted(k for k in environ if k.isupper() and k not in ("REMOTE_ADDR", "SERVER_PORT"))
    start_response("201 Created", [("X-Len", str(len(body)))])
    lines = ["%s=%s" % (k, environ[k]) for k in keys]
    lines.append("multithread=%s" % environ["wsgi.multithread"])
    return [body, b"\n", "\n".join(lines).encode("utf-8")]


def app_write(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    write = start_response("404 Not Found", [("Content-Length", "7"), ("Server", "mine")])
    write(b"via ")
    return [b"wri"]


def app_304(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("304 Not Modified", [])
    return []


class _Closing:
    closed = 0

    def __init__(self) -> None:
        self.parts = [b"a", b"", b"b"]

    def __iter__(self) -> Any:
        return iter(self.parts)

    def close(self) -> None:
        _Closing.closed += 1


def app_closing(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Any:
    start_response("500 Internal Server Error", [("content-type", "x/y")])
    return _Closing()


def app_generator(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Any:
    start_response("200 Fine Thanks", [])
    for i in range(3):
        yield str(i).encode()


APPS = {
    "hello": app_hello,
    "echo": app_echo,
    "write": app_write,
    "304": app_304,
    "closing": app_closing,
    "generator": app_generator,
}

RAW_REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    b"GET /a%20b/c?d=e HTTP/1.1\r\nHost: localhost:1234\r\nConnection: close\r\n"
    b"X-Thing: 1\r\n\r\n",
    b"POST /post HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Length: 5\r\n"
    b"Content-Type: text/plain\r\n\r\nhello",
    b"GET /old HTTP/1.0\r\n\r\n",
]

_LOG_TIME = re.compile(r" [0-9.]+ms$")


def _normalize(raw: bytes) -> Tuple[Any, ...]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = sorted(line for line in lines[1:] if not line.lower().startswith(b"date:"))
    return (lines[0], headers, body)


async def _serve(impl: Impl, app: Any, executor: Optional[concurrent.futures.Executor],
                 requests: List[bytes]) -> List[Any]:
    httpserver = impl.mod("httpserver")
    sock, port = impl.mod("testing").bind_unused_port()
    server = httpserver.HTTPServer(impl.mod("wsgi").WSGIContainer(app, executor))
    server.add_sockets([sock])
    results: List[Any] = []
    try:
        for raw in requests:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(raw)
            try:
                data = await asyncio.wait_for(reader.read(), 10)
                results.append(_normalize(data))
            except asyncio.TimeoutError:
                results.append("timeout")
            writer.close()
            await writer.wait_closed()
    finally:
        server.stop()
        await server.close_all_connections()
    return results


@pytest.mark.parametrize("app_name", sorted(APPS))
@pytest.mark.parametrize("with_executor", [False, True])
def test_end_to_end(app_name: str, with_executor: bool, caplog: pytest.LogCaptureFixture) -> None:
    outcomes = []
    for name in ("tornado", "tornado_c"):
        caplog.clear()
        executor = concurrent.futures.ThreadPoolExecutor(2) if with_executor else None
        _Closing.closed = 0
        try:
            with caplog.at_level(logging.INFO, logger="tornado.access"):
                responses = asyncio.run(_serve(Impl(name), APPS[app_name], executor, RAW_REQUESTS))
        finally:
            if executor is not None:
                executor.shutdown()
        logs = [(r.name, r.levelname, _LOG_TIME.sub("", r.getMessage()))
                for r in caplog.records if r.name == "tornado.access"]
        outcomes.append((responses, logs, _Closing.closed))
    assert outcomes[1] == outcomes[0]
    assert outcomes[1][1], "an access log line per request"


def test_no_start_response(caplog: pytest.LogCaptureFixture) -> None:
    def bad_app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> List[bytes]:
        return [b"x"]

    async def run(impl: Impl) -> Any:
        container = impl.mod("wsgi").WSGIContainer(bad_app)
        httputil = impl.mod("httputil")
        request = httputil.HTTPServerRequest(method="GET", uri="/", headers=httputil.HTTPHeaders())
        with pytest.raises(Exception) as info:
            await container.handle_request(request)
        return str(info.value)

    assert asyncio.run(run(Impl("tornado_c"))) == asyncio.run(run(Impl("tornado")))


def test_environ_input_is_bytesio() -> None:
    httputil = Impl("tornado_c").mod("httputil")
    request = httputil.HTTPServerRequest(method="GET", uri="/", body=b"data",
                                         headers=httputil.HTTPHeaders({"Host": "h"}))
    env = tc.WSGIContainer(app_hello).environ(request)
    assert isinstance(env["wsgi.input"], io.BytesIO)
    assert env["wsgi.multithread"] is False
