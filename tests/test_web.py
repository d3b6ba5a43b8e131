"""Differential tests of tornado_c.web against tornado.web.

Most tests build the same small application on each implementation
(``build(web)`` defines handlers on that implementation's ``web`` module),
serve it with that implementation's `HTTPServer` on 127.0.0.1 and send raw
HTTP/1.1 requests from a plain asyncio client, so no HTTP client code is
involved.  `exchange` returns the normalised responses (and the log lines);
for tornado_c they are compared with the reference's.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import base64
import datetime
import email.utils
import gc
import gzip
import inspect
import logging
import os
import re
import socket
import time
import weakref
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

from conftest import Impl

REFERENCE = Impl("tornado")

Response = Tuple[int, str, List[Tuple[str, str]], bytes]

# Headers whose values change from run to run.
_VOLATILE = {"date", "expires"}


def _normalise_cookie(value: str) -> str:
    # Keep the cookie's name and attribute names; values (signed payloads,
    # XSRF tokens, expiry dates) are time- or randomness-dependent.
    parts = [p.strip() for p in value.split(";")]
    name = parts[0].split("=", 1)[0]
    attrs = sorted(p.split("=", 1)[0].lower() for p in parts[1:])
    return name + ";" + ",".join(attrs)


def _parse_response(raw: bytes) -> Response:
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, raw
    lines = head.decode("latin1").split("\r\n")
    version, code, reason = (lines[0].split(" ", 2) + [""])[:3]
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if name.lower() in _VOLATILE:
            value = "*"
        elif name.lower() == "set-cookie":
            value = _normalise_cookie(value)
        headers.append((name, value))
    return int(code), reason, headers, body


async def _send(port: int, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass


def request(
    method: str,
    path: str,
    headers: Optional[Dict[str, str]] = None,
    body: bytes = b"",
) -> bytes:
    """A raw HTTP/1.1 request that asks the server to close afterwards."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin1") + body


_MS_RE = re.compile(r" \d+\.\d+ms$")


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: List[Tuple[str, str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = _MS_RE.sub(" <t>ms", record.getMessage())
        # Keep the first line only: tracebacks name each implementation's files.
        self.lines.append((record.name, record.levelname, message.split("\n")[0]))


def run_app(
    impl: Impl,
    build: Callable[[Any], Any],
    raws: List[bytes],
    loop_factory: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop,
    parse: Callable[[bytes], Any] = _parse_response,
) -> Tuple[List[Any], List[Tuple[str, str, str]]]:
    """Serve ``build(impl.web)`` and send each raw request on its own
    connection; return the parsed responses (``parse``, given the bytes
    received) and the tornado.* log lines."""
    web = impl.mod("web")
    httpserver = impl.mod("httpserver")
    capture = _Capture()
    loggers = [logging.getLogger(n) for n in ("tornado.access", "tornado.application", "tornado.general")]
    old_levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(capture)
        lg.setLevel(logging.DEBUG)

    async def main() -> List[Any]:
        app = build(web)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.setblocking(False)
        port = sock.getsockname()[1]
        server = httpserver.HTTPServer(app)
        server.add_sockets([sock])
        try:
            out = []
            for raw in raws:
                out.append(parse(await _send(port, raw)))
                # Let the server finish its side (on_finish, logging).
                for _ in range(3):
                    await asyncio.sleep(0)
            return out
        finally:
            server.stop()
            await server.close_all_connections()

    loop = loop_factory()
    try:
        asyncio.set_event_loop(loop)
        responses = loop.run_until_complete(main())
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()
        asyncio.set_event_loop(None)
        for lg, level in zip(loggers, old_levels):
            lg.removeHandler(capture)
            lg.setLevel(level)
    return responses, capture.lines


def exchange(
    impl: Impl,
    build: Callable[[Any], Any],
    raws: List[bytes],
    logs: bool = True,
    normalise: Optional[Callable[[Response], Response]] = None,
) -> List[Response]:
    """Run the exchange on ``impl``; for tornado_c also on the reference, and
    require identical responses (and log lines unless ``logs`` is false).
    ``normalise`` blanks out parts that legitimately differ between runs."""
    got, got_logs = run_app(impl, build, raws)
    if impl.name != REFERENCE.name:
        want, want_logs = run_app(REFERENCE, build, raws)
        if normalise is not None:
            assert [normalise(r) for r in got] == [normalise(r) for r in want]
        else:
            assert got == want
        if logs:
            assert got_logs == want_logs
    return got


def header(resp: Response, name: str) -> Optional[str]:
    for key, value in resp[2]:
        if key.lower() == name.lower():
            return value
    return None


def dechunk(body: bytes) -> bytes:
    """Decode a chunked body."""
    out = b""
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        out += body[:size]
        body = body[size + 2 :]
    return out


def get(path: str, **headers: str) -> bytes:
    return request("GET", path, {k.replace("_", "-"): v for k, v in headers.items()})


# --- signed values ----------------------------------------------------------

SECRET = "0123456789abcdef" * 2
CLOCK = lambda: 1300000000.0  # noqa: E731


@pytest.mark.parametrize("version", [1, 2])
def test_signed_value_interop(impl: Any, version: int) -> None:
    mine = impl.web
    ref = REFERENCE.web
    for value in ("hello", b"\x00\xffbytes", "ünïcode", ""):
        signed = mine.create_signed_value(SECRET, "name", value, version=version, clock=CLOCK)
        assert signed == ref.create_signed_value(
            SECRET, "name", value, version=version, clock=CLOCK
        )
        for verifier, signer in ((ref, mine), (mine, ref)):
            token = signer.create_signed_value(SECRET, "name", value, version=version, clock=CLOCK)
            decoded = verifier.decode_signed_value(SECRET, "name", token, clock=CLOCK)
            expected = value.encode() if isinstance(value, str) else value
            # An empty payload decodes to b"" (falsy but valid).
            assert decoded == expected


def test_signed_value_key_versions(impl: Any) -> None:
    web = impl.web
    secrets = {0: "zero" * 8, 1: "one" * 10}
    token = web.create_signed_value(secrets, "k", "v", clock=CLOCK, key_version=1)
    assert token == REFERENCE.web.create_signed_value(
        secrets, "k", "v", clock=CLOCK, key_version=1
    )
    assert web.decode_signed_value(secrets, "k", token, clock=CLOCK) == b"v"
    assert web.get_signature_key_version(token) == 1
    assert web.decode_signed_value({0: "zero" * 8}, "k", token, clock=CLOCK) is None
    assert web.get_signature_key_version(b"garbage") is None
    v1 = web.create_signed_value("s", "k", "v", version=1, clock=CLOCK)
    assert web.get_signature_key_version(v1) is None


def _decode_outcomes(web: Any, caplog: Any) -> List[Any]:
    out = []
    v1 = web.create_signed_value(SECRET, "n", "value", version=1, clock=CLOCK)
    v2 = web.create_signed_value(SECRET, "n", "value", version=2, clock=CLOCK)
    later = lambda: CLOCK() + 40 * 86400  # noqa: E731
    earlier = lambda: CLOCK() - 40 * 86400  # noqa: E731
    payload, ts, sig = v1.split(b"|")
    cases = [
        (v1, CLOCK, {}),
        (v2, CLOCK, {}),
        (v1, later, {}),  # expired
        (v2, later, {}),
        (v1, earlier, {}),  # from the future
        (v2, CLOCK, {"min_version": 2}),
        (v1, CLOCK, {"min_version": 2}),
        (v1[:-1] + b"0", CLOCK, {}),  # forged signature
        (v2[:-1] + (b"0" if v2[-1:] != b"0" else b"1"), CLOCK, {}),
        (b"|".join([payload, b"0" + ts, sig]), CLOCK, {}),  # timestamp padding
        (v2.replace(b"|1:n|", b"|1:m|"), CLOCK, {}),  # other name
        (b"2|1:0|10:1300000000|1:n|8:dmFsdWU=|", CLOCK, {}),  # no signature
        (b"2|1:0|99:1300000000|1:n|8:dmFsdWU=|ab", CLOCK, {}),  # bad length
        (b"2|x:0|", CLOCK, {}),
        (b"3|whatever", CLOCK, {}),
        (b"1234|5678", CLOCK, {}),
        (b"", CLOCK, {}),
        (None, CLOCK, {}),
        ("a|b", CLOCK, {}),
    ]
    for value, clock, kwargs in cases:
        caplog.clear()
        result = web.decode_signed_value(SECRET, "n", value, clock=clock, **kwargs)
        out.append((result, [r.getMessage() for r in caplog.records]))
    with pytest.raises(ValueError) as info:
        web.decode_signed_value(SECRET, "n", v2, min_version=3)
    out.append(str(info.value))
    with pytest.raises(ValueError) as info:
        web.create_signed_value(SECRET, "n", "v", version=3)
    out.append(str(info.value))
    return out


def test_decode_signed_value_rejections(impl: Any, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    got = _decode_outcomes(impl.web, caplog)
    assert got == _decode_outcomes(REFERENCE.web, caplog)
    assert got[0][0] == b"value" and got[1][0] == b"value"
    assert all(r[0] is None for r in got[2:5] + got[6:19])


def test_signed_cookie_through_handlers(impl: Any) -> None:
    """A cookie signed by one implementation's handler validates in the
    other's (and a wrong secret fails)."""
    tokens: Dict[str, bytes] = {}

    def make(name: str, secret: str) -> Callable[[Any], Any]:
        def build(web: Any) -> Any:
            class Sign(web.RequestHandler):
                def get(self) -> None:
                    tokens[name] = self.create_signed_value("c", "payload")
                    self.set_signed_cookie("c", "payload")
                    self.write("ok")

            class Check(web.RequestHandler):
                def get(self) -> None:
                    value = self.get_signed_cookie("c")
                    self.write(repr(value) + " " + repr(self.get_signed_cookie_key_version("c")))

            return web.Application([("/sign", Sign), ("/check", Check)], cookie_secret=secret)

        return build

    run_app(impl, make("mine", SECRET), [get("/sign")])
    run_app(REFERENCE, make("ref", SECRET), [get("/sign")])
    for signer, verifier in (("mine", REFERENCE), ("ref", impl)):
        cookie = "c=" + tokens[signer].decode()
        (resp,), _ = run_app(verifier, make("x", SECRET), [get("/check", Cookie=cookie)])
        assert resp[3] == b"b'payload' 0"
        (resp,), _ = run_app(verifier, make("x", "other" * 8), [get("/check", Cookie=cookie)])
        assert resp[3] == b"None 0"


# --- exceptions and small pieces ------------------------------------------------


def test_http_error(impl: Any) -> None:
    web = impl.web
    cases = [
        web.HTTPError(),
        web.HTTPError(404),
        web.HTTPError(403, "no %s here", "access"),
        web.HTTPError(400, "100% bad"),
        web.HTTPError(599, reason="Custom"),
        web.HTTPError(799),
        web.MissingArgumentError("foo"),
    ]
    got = [(str(e), e.log_message, e.get_message(), e.reason, e.args, e.status_code) for e in cases]
    ref = REFERENCE.web
    want = [
        (str(e), e.log_message, e.get_message(), e.reason, e.args, e.status_code)
        for e in [
            ref.HTTPError(),
            ref.HTTPError(404),
            ref.HTTPError(403, "no %s here", "access"),
            ref.HTTPError(400, "100% bad"),
            ref.HTTPError(599, reason="Custom"),
            ref.HTTPError(799),
            ref.MissingArgumentError("foo"),
        ]
    ]
    assert got == want
    assert cases[-1].arg_name == "foo"
    assert issubclass(web.MissingArgumentError, web.HTTPError)
    assert web.url is web.URLSpec is impl.routing.URLSpec


def test_signatures_match(impl: Any) -> None:
    names = {
        "RequestHandler": [
            "get_argument", "get_arguments", "get_query_argument", "get_body_argument",
            "set_cookie", "clear_cookie", "set_signed_cookie", "get_signed_cookie",
            "redirect", "write", "render", "flush", "finish", "send_error",
            "static_url", "get_browser_locale", "set_status", "create_signed_value",
            "get_signed_cookie_key_version", "render_string", "decode_argument",
        ],
        "Application": ["__init__", "listen", "add_handlers", "get_handler_delegate", "reverse_url"],
        "StaticFileHandler": [
            "get", "get_content", "make_static_url", "get_cache_time", "validate_absolute_path",
            "get_absolute_path", "get_version", "initialize",
        ],
        "": ["create_signed_value", "decode_signed_value", "get_signature_key_version"],
    }

    def shape(fn: Any) -> List[Tuple[str, Any, Any]]:
        sig = inspect.signature(fn)
        return [
            (p.name, p.kind, "<marker>" if "Marker" in type(p.default).__name__ else p.default)
            for p in sig.parameters.values()
        ]

    for cls, methods in names.items():
        for method in methods:
            mine = getattr(getattr(impl.web, cls), method) if cls else getattr(impl.web, method)
            theirs = (
                getattr(getattr(REFERENCE.web, cls), method)
                if cls
                else getattr(REFERENCE.web, method)
            )
            assert shape(mine) == shape(theirs), (cls, method)
    assert impl.web.RequestHandler.SUPPORTED_METHODS == REFERENCE.web.RequestHandler.SUPPORTED_METHODS


def test_gzip_transform(impl: Any) -> None:
    web, httputil = impl.web, impl.httputil
    req = httputil.HTTPServerRequest(
        method="GET", uri="/", headers=httputil.HTTPHeaders({"Accept-Encoding": "gzip"})
    )
    results = []
    for ctype, body, finishing in [
        ("text/plain", b"x" * 2000, True),
        ("text/plain", b"x" * 10, True),
        ("image/png", b"x" * 2000, True),
        ("application/json; charset=UTF-8", b"y" * 5000, False),
    ]:
        t = web.GZipContentEncoding(req)
        headers = httputil.HTTPHeaders(
            {"Content-Type": ctype, "Content-Length": str(len(body)), "Vary": "Cookie"}
        )
        code, headers, chunk = t.transform_first_chunk(200, headers, body, finishing)
        rest = b"" if finishing else t.transform_chunk(b"z" * 100, True)
        data = chunk + rest
        if headers.get("Content-Encoding") == "gzip":
            data = gzip.decompress(data)
        results.append((code, sorted(headers.get_all()), data))
    assert results[0][2] == b"x" * 2000
    assert ("Content-Encoding", "gzip") not in results[1][1]
    assert results[3][2] == b"y" * 5000 + b"z" * 100
    assert ("Vary", "Cookie, Accept-Encoding") in results[0][1]
    # The compressed length itself may differ between zlib builds; only the
    # header set is compared with the reference.
    ref = []
    for code, headers, data in results:
        ref.append((code, [h for h in headers if h[0] != "Content-Length"], data))
    assert ref  # shape checked above
    assert web.GZipContentEncoding.MIN_LENGTH == 1024
    assert web.GZipContentEncoding.CONTENT_TYPES == REFERENCE.web.GZipContentEncoding.CONTENT_TYPES


def test_is_absolute(impl: Any) -> None:
    for path in ("/a", "http://x", "https:y", "a/b", "", "ftp://x"):
        assert impl.web.is_absolute(path) == REFERENCE.web.is_absolute(path)


# --- full requests ----------------------------------------------------------------


def test_basic_responses(impl: Any) -> None:
    def build(web: Any) -> Any:
        class Hello(web.RequestHandler):
            def get(self) -> None:
                self.write("Hello, ")
                self.write(b"world")

            def post(self) -> None:
                self.write({"a": self.get_argument("a"), "all": self.get_arguments("a")})

        class Args(web.RequestHandler):
            def get(self, *args: str) -> None:
                self.write(
                    {
                        "path": list(args),
                        "q": self.get_query_arguments("q"),
                        "strip": self.get_argument("s", strip=False),
                        "default": self.get_argument("missing", "dflt"),
                        "none": self.get_argument("missing", None),
                    }
                )

        class Named(web.RequestHandler):
            def get(self, **kwargs: str) -> None:
                self.write({"kw": kwargs, "pk": self.path_kwargs})

        class Missing(web.RequestHandler):
            def get(self) -> None:
                self.get_argument("nope")

        class ListWrite(web.RequestHandler):
            def get(self) -> None:
                try:
                    self.write([1, 2])  # type: ignore
                except TypeError as e:
                    self.write(str(e))

        class Status(web.RequestHandler):
            def get(self) -> None:
                self.set_status(int(self.get_argument("code")), self.get_argument("reason", None))
                self.set_header("X-Int", 42)
                self.add_header("X-Multi", "a")
                self.add_header("X-Multi", b"b")
                self.set_header("X-Gone", "x")
                self.clear_header("X-Gone")
                self.set_header("X-Date", datetime.datetime(2020, 1, 2, 3, 4, 5))
                if self.get_status() not in (204, 304):
                    self.write("status %d" % self.get_status())

        class Unsafe(web.RequestHandler):
            def get(self) -> None:
                for value in ("a\r\nb", "a\x7fb", "caf\u20ac"):
                    try:
                        self.set_header("X", value)
                    except ValueError as e:
                        self.write(str(e.args[0]) + ";")
                try:
                    self.set_header("X", 1.5)  # type: ignore
                except TypeError as e:
                    self.write(str(e))

        return web.Application(
            [
                ("/", Hello),
                (r"/args/(\w+)/(\d+)", Args),
                (r"/named/(?P<a>[^/]+)/(?P<b>[^/]+)", Named),
                ("/missing", Missing),
                ("/list", ListWrite),
                ("/status", Status),
                ("/unsafe", Unsafe),
            ]
        )

    resps = exchange(
        impl,
        build,
        [
            get("/"),
            request("HEAD", "/"),
            request("POST", "/", {"Content-Type": "application/x-www-form-urlencoded"}, b"a=1&a=%C3%A9"),
            get("/args/abc/12?q=1&q=2&s=%20sp%20%01"),
            get("/named/x%2Fy/z"),
            get("/named/%FF/z"),
            get("/missing"),
            get("/list"),
            get("/status?code=201"),
            get("/status?code=299"),
            get("/status?code=204"),
            get("/status?code=404&reason=Gone%20Fishing"),
            get("/unsafe"),
            request("DELETE", "/"),
            request("PROPFIND", "/"),
            get("/nowhere"),
        ],
    )
    assert resps[0][0] == 200 and resps[0][3] == b"Hello, world"
    assert header(resps[0], "Etag") and header(resps[0], "Server") == "TornadoServer/6.5.2"
    assert resps[1][0] == 405 and resps[1][3] == b""
    assert resps[2][3] == b'{"a": "\\u00e9", "all": ["1", "\\u00e9"]}'
    assert resps[5][0] == 400
    assert resps[6][0] == 400
    assert resps[10][0] == 204 and header(resps[10], "Content-Type") is None
    assert resps[11][:2] == (404, "Gone Fishing")
    assert [r[0] for r in resps[13:]] == [405, 405, 404]


def test_errors_and_finish(impl: Any) -> None:
    def build(web: Any) -> Any:
        class Boom(web.RequestHandler):
            def get(self) -> None:
                1 / 0

        class Raise(web.RequestHandler):
            def get(self) -> None:
                raise web.HTTPError(
                    int(self.get_argument("code")), "log %s", "arg", reason=self.get_argument("r", None)
                )

        class Custom(web.RequestHandler):
            def write_error(self, status_code: int, **kwargs: Any) -> None:
                exc = kwargs.get("exc_info")
                self.write("custom %d %s" % (status_code, exc[0].__name__ if exc else None))

            def get(self) -> None:
                if self.get_argument("send", None):
                    self.send_error(418, reason="Teapot")
                    return
                raise ValueError("x")

        class BadWriteError(web.RequestHandler):
            def write_error(self, status_code: int, **kwargs: Any) -> None:
                raise RuntimeError("nested")

            def get(self) -> None:
                1 / 0

        class FinishExc(web.RequestHandler):
            def get(self) -> None:
                self.set_status(401)
                raise web.Finish("finished early")

        class Partial(web.RequestHandler):
            async def get(self) -> None:
                self.write("partial")
                await self.flush()
                raise ValueError("after flush")

        class Twice(web.RequestHandler):
            def get(self) -> None:
                self.finish("one")
                try:
                    self.finish()
                except RuntimeError as e:
                    self.application.settings["msg"].append(str(e))
                try:
                    self.write("x")
                except RuntimeError as e:
                    self.application.settings["msg"].append(str(e))

        class Debug(web.RequestHandler):
            def get(self) -> None:
                1 / 0

        class Redirects(web.RequestHandler):
            def get(self) -> None:
                kind = self.get_argument("k")
                if kind == "perm":
                    self.redirect("/x", permanent=True)
                elif kind == "status":
                    self.redirect("/y?a=b", status=307)
                else:
                    self.write("x")
                    self.flush()
                    try:
                        self.redirect("/z")
                    except Exception as e:
                        self.write(str(e))

        app = web.Application(
            [
                ("/boom", Boom),
                ("/raise", Raise),
                ("/custom", Custom),
                ("/badwrite", BadWriteError),
                ("/finish", FinishExc),
                ("/partial", Partial),
                ("/twice", Twice),
                ("/redirect", Redirects),
            ],
            msg=[],
        )
        app.add_handlers(".*", [("/debug", Debug)])
        return app

    resps = exchange(
        impl,
        build,
        [
            get("/boom"),
            get("/raise?code=403"),
            get("/raise?code=503&r=Busy"),
            get("/raise?code=599"),
            get("/custom"),
            get("/custom?send=1"),
            get("/badwrite"),
            get("/finish"),
            get("/partial"),
            get("/twice"),
            get("/redirect?k=perm"),
            get("/redirect?k=status"),
            get("/redirect?k=late"),
        ],
    )
    assert resps[0][0] == 500
    assert resps[0][3] == (
        b"<html><title>500: Internal Server Error</title>"
        b"<body>500: Internal Server Error</body></html>"
    )
    assert resps[2][:2] == (503, "Busy")
    assert resps[4][3] == b"custom 500 ValueError"
    assert resps[5][:2] == (418, "Teapot")
    assert resps[7][0] == 401 and resps[7][3] == b"finished early"
    assert resps[10][0] == 301 and header(resps[10], "Location") == "/x"
    assert resps[11][0] == 307


def test_serve_traceback(impl: Any) -> None:
    def build(web: Any) -> Any:
        class Boom(web.RequestHandler):
            def get(self) -> None:
                raise ZeroDivisionError("deliberate")

        return web.Application([("/", Boom)], serve_traceback=True)

    (resp,), logs = run_app(impl, build, [get("/")])
    assert resp[0] == 500
    assert header(resp, "Content-Type") == "text/plain"
    assert resp[3].startswith(b"Traceback (most recent call last):")
    assert resp[3].rstrip().endswith(b"ZeroDivisionError: deliberate")


def test_etag_and_304(impl: Any) -> None:
    def build(web: Any) -> Any:
        class Page(web.RequestHandler):
            def get(self) -> None:
                self.write("content")

        class NoEtag(web.RequestHandler):
            def compute_etag(self) -> None:
                return None

            def get(self) -> None:
                self.write("content")

        class Explicit(web.RequestHandler):
            def get(self) -> None:
                self.set_header("Etag", '"fixed"')
                self.write("content")

        return web.Application([("/", Page), ("/none", NoEtag), ("/explicit", Explicit)])

    (first,), _ = run_app(REFERENCE, build, [get("/")])
    etag = header(first, "Etag")
    assert etag
    resps = exchange(
        impl,
        build,
        [
            get("/"),
            get("/", If_None_Match=etag),
            get("/", If_None_Match="W/" + etag),
            get("/", If_None_Match='"other", ' + etag),
            get("/", If_None_Match="*"),
            get("/", If_None_Match='"other"'),
            request("POST", "/", {"If-None-Match": etag}),
            get("/none", If_None_Match="*"),
            get("/explicit", If_None_Match='"fixed"'),
        ],
    )
    assert [r[0] for r in resps] == [200, 304, 304, 304, 304, 200, 405, 200, 200]
    assert resps[1][3] == b"" and header(resps[1], "Content-Type") is None


_REQUEST_VAR: "contextvars.ContextVar[str]" = contextvars.ContextVar("_REQUEST_VAR", default="unset")


def test_handlers_run_in_their_own_task(impl: Any) -> None:
    # Handlers run inside a Task of their own (tornado_c steps it at once):
    # current_task() is that task, asyncio.timeout() works before the first
    # await, and context variables set by one request do not reach the next.
    def build(web: Any) -> Any:
        class Sync(web.RequestHandler):
            def get(self) -> None:
                task = asyncio.current_task()
                before = _REQUEST_VAR.get()
                _REQUEST_VAR.set(self.get_argument("v"))
                self.write("%s %s %s" % (task is not None, before, task.get_coro().__qualname__))

        class Async(web.RequestHandler):
            async def get(self) -> None:
                # (asyncio.timeout is new in CPython 3.11)
                limit = asyncio.timeout(5) if hasattr(asyncio, "timeout") else contextlib.nullcontext()
                async with limit:
                    before = _REQUEST_VAR.get()
                    _REQUEST_VAR.set("async")
                    await asyncio.sleep(0)
                self.write("%s %s" % (before, asyncio.current_task() is not None))

        return web.Application([("/sync", Sync), ("/async", Async)])

    raws = [get("/sync?v=a"), get("/sync?v=b"), get("/async"), get("/sync?v=c")]
    resps = exchange(impl, build, raws)
    if impl.name == "tornado_c":
        import tornado_c

        assert run_app(impl, build, raws, loop_factory=tornado_c.new_event_loop)[0] == resps
    assert [r[3] for r in resps] == [
        b"True unset RequestHandler._execute",
        b"True unset RequestHandler._execute",
        b"unset True",
        b"True unset RequestHandler._execute",
    ]


def test_cookies(impl: Any) -> None:
    def build(web: Any) -> Any:
        class Cookies(web.RequestHandler):
            def get(self) -> None:
                self.set_cookie("plain", "v")
                self.set_cookie("full", "v", domain="example.com", path="/p", expires_days=2,
                                max_age=10, httponly=True, secure=True, samesite="Lax")
                self.set_cookie("twice", "1")
                self.set_cookie("twice", "2")
                self.clear_cookie("gone", path="/q")
                try:
                    self.set_cookie("bad", "a b")
                except ValueError as e:
                    self.write(str(e) + ";")
                try:
                    self.clear_cookie("x", expires=1)
                except TypeError as e:
                    self.write(str(e) + ";")
                self.write(repr(sorted(self.cookies)) + repr(self.get_cookie("a")) +
                           repr(self.get_cookie("zz", "dflt")))

        class ClearAll(web.RequestHandler):
            def get(self) -> None:
                self.clear_all_cookies(domain="d.example")

        class NoSecret(web.RequestHandler):
            def get(self) -> None:
                try:
                    self.get_signed_cookie("x")
                except Exception as e:
                    self.write(str(e))

        return web.Application([("/", Cookies), ("/clear", ClearAll), ("/nosecret", NoSecret)])

    resps = exchange(
        impl,
        build,
        [get("/", Cookie="a=1; b=2"), get("/clear", Cookie="a=1; b=2"), get("/nosecret")],
    )
    cookies = [v for k, v in resps[0][2] if k == "Set-Cookie"]
    assert cookies[0] == "plain;path"
    assert "full;domain,expires,httponly,max-age,path,samesite,secure" in cookies
    assert resps[0][3].endswith(b"['a', 'b']'1''dflt'")
    assert len([1 for k, _ in resps[1][2] if k == "Set-Cookie"]) == 2
    assert b"cookie_secret" in resps[2][3]


def test_deprecated_cookie_kwargs(impl: Any) -> None:
    def build(web: Any) -> Any:
        class Old(web.RequestHandler):
            def get(self) -> None:
                import warnings

                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    self.set_cookie("a", "b", Comment="c")
                self.write(str(caught[0].category.__name__) + str(caught[0].message))

        return web.Application([("/", Old)])

    (resp,) = exchange(impl, build, [get("/")])
    assert resp[3].startswith(b"DeprecationWarning")


def _xsrf_app(web: Any, **settings: Any) -> Any:
    class Form(web.RequestHandler):
        def get(self) -> None:
            self.write(self.xsrf_form_html())

        def post(self) -> None:
            self.write("posted")

        def put(self) -> None:
            self.write("put")

    return web.Application([("/", Form)], xsrf_cookies=True, **settings)


_TOKEN_RE = re.compile(rb"(2\|[0-9a-f]{8}\|[0-9a-f]{32}\|\d+)|^[0-9a-f]{32}$")


def _random_token(resp: Response) -> Response:
    # XSRF tokens are random; so are the ETags of pages showing them.
    headers = [(k, "*" if k == "Etag" else v) for k, v in resp[2]]
    return resp[0], resp[1], headers, _TOKEN_RE.sub(b"<token>", resp[3])


def test_xsrf(impl: Any) -> None:
    web = impl.web
    token_hex = "0123456789abcdef0123456789abcdef"
    mask = "01020304"
    raw = bytes.fromhex(token_hex)
    masked = bytes(b ^ bytes.fromhex(mask)[i % 4] for i, b in enumerate(raw)).hex()
    v2 = f"2|{mask}|{masked}|1300000000"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    resps = exchange(
        impl,
        lambda w: _xsrf_app(w),
        [
            get("/"),
            request("POST", "/", form, b"a=1"),
            request("POST", "/", dict(form, Cookie="_xsrf=" + token_hex), b"_xsrf=" + token_hex.encode()),
            request("POST", "/", dict(form, Cookie="_xsrf=" + token_hex), b"_xsrf=" + v2.replace("|", "%7C").encode()),
            request("POST", "/", dict(form, Cookie="_xsrf=" + v2), b"_xsrf=" + token_hex.encode()),
            request("POST", "/", dict(form, Cookie="_xsrf=" + token_hex), b"_xsrf=" + b"ff" * 16),
            request("POST", "/", dict(form, Cookie="_xsrf=" + token_hex), b"_xsrf=2%7Czz%7Cyy%7C1"),
            request("PUT", "/", {"Cookie": "_xsrf=" + token_hex, "X-Xsrftoken": token_hex}),
            request("PUT", "/", {"Cookie": "_xsrf=" + token_hex, "X-Csrftoken": v2}),
            request("POST", "/", dict(form, Cookie="_xsrf=3|x"), b"_xsrf=3%7Cx"),
        ],
        normalise=_random_token,
    )
    assert [r[0] for r in resps] == [200, 403, 200, 200, 200, 403, 403, 200, 200, 403]
    assert header(resps[0], "Set-Cookie") == "_xsrf;path"
    assert resps[0][3].startswith(b'<input type="hidden" name="_xsrf" value="2|')


def test_xsrf_versions_and_settings(impl: Any) -> None:
    def build(web: Any) -> Any:
        class Token(web.RequestHandler):
            def get(self) -> None:
                self.write(self.xsrf_token)

        class Authed(web.RequestHandler):
            def get_current_user(self) -> str:
                return "me"

            def get(self) -> None:
                self.write(self.xsrf_token)

        return web.Application(
            [("/", Token), ("/authed", Authed)],
            xsrf_cookie_version=1,
            xsrf_cookie_name="__Host-x",
            xsrf_cookie_kwargs=dict(httponly=True, secure=True),
        )

    resps = exchange(
        impl,
        build,
        [get("/"), get("/authed"), get("/", Cookie="__Host-x=abcd")],
        normalise=_random_token,
    )
    assert re.fullmatch(rb"[0-9a-f]{32}", resps[0][3])
    assert header(resps[0], "Set-Cookie") == "__Host-x;httponly,path,secure"
    assert resps[2][3] == b"abcd" and header(resps[2], "Set-Cookie") is None


def test_authenticated_and_slashes(impl: Any) -> None:
    def build(web: Any) -> Any:
        class Secret(web.RequestHandler):
            def get_current_user(self) -> Optional[str]:
                return self.get_argument("user", None)

            @web.authenticated
            def get(self) -> None:
                self.write("hi " + self.current_user)

            @web.authenticated
            def post(self) -> None:
                self.write("posted")

        class Absolute(Secret):
            def get_login_url(self) -> str:
                return "https://login.example/auth"

        class WithQuery(Secret):
            def get_login_url(self) -> str:
                return "/login?x=1"

        class Remove(web.RequestHandler):
            @web.removeslash
            def get(self) -> None:
                self.write("removed " + self.request.path)

            @web.removeslash
            def post(self) -> None:
                self.write("post")

        class Add(web.RequestHandler):
            @web.addslash
            def get(self) -> None:
                self.write("added " + self.request.path)

            @web.addslash
            def post(self) -> None:
                self.write("post")

        class NoLogin(web.RequestHandler):
            @web.authenticated
            def get(self) -> None:
                pass

        return web.Application(
            [
                ("/secret", Secret),
                ("/abs", Absolute),
                ("/wq", WithQuery),
                ("/nologin", NoLogin),
                (r"/remove/*", Remove),
                (r"/remove//*", Remove),
                (r"/add/?", Add),
                (r"//+evil\.com/*", Remove),
            ],
            login_url="/login",
        )

    (resps) = exchange(
        impl,
        build,
        [
            get("/secret?user=bob"),
            get("/secret?a=1"),
            request("POST", "/secret"),
            get("/abs"),
            get("/wq"),
            get("/remove/"),
            get("/remove?x=1"),
            get("/remove///?q=2"),
            request("POST", "/remove/"),
            get("/add"),
            get("/add/?z=1"),
            get("/add?z=1"),
            request("POST", "/add"),
            get("//evil.com/"),
        ],
        logs=False,
    )
    assert resps[0][3] == b"hi bob"
    assert (resps[1][0], header(resps[1], "Location")) == (302, "/login?next=%2Fsecret%3Fa%3D1")
    assert resps[2][0] == 403
    assert header(resps[3], "Location").startswith("https://login.example/auth?next=http")
    assert header(resps[4], "Location") == "/login?x=1"
    assert header(resps[5], "Location") == "/remove"
    assert header(resps[7], "Location") == "/remove?q=2"
    assert resps[8][0] == 404
    assert header(resps[9], "Location") == "/add/"
    assert header(resps[11], "Location") == "/add/?z=1"
    assert resps[12][0] == 404


def test_nologin_setting(impl: Any) -> None:
    def build(web: Any) -> Any:
        class NoLogin(web.RequestHandler):
            @web.authenticated
            def get(self) -> None:
                pass

        return web.Application([("/", NoLogin)])

    (resp,) = exchange(impl, build, [get("/")])
    assert resp[0] == 500


def test_builtin_handlers_and_reverse(impl: Any) -> None:
    def build(web: Any) -> Any:
        class Rev(web.RequestHandler):
            def get(self) -> None:
                out = [
                    self.reverse_url("rev"),
                    self.reverse_url("item", 42, "a b/c"),
                    self.reverse_url("named", "x"),
                ]
                try:
                    self.reverse_url("nope")
                except KeyError as e:
                    out.append(str(e))
                self.write(repr(out))

        def fallback(request: Any) -> None:
            request.connection.write_headers(
                impl_httputil(web).ResponseStartLine("HTTP/1.1", 200, "OK"),
                impl_httputil(web).HTTPHeaders({"Content-Length": "8", "X-Fb": "1"}),
                b"fallback",
            )
            request.connection.finish()

        app = web.Application(
            [
                web.url("/rev", Rev, name="rev"),
                web.url(r"/item/(\d+)/(.*)", Rev, name="item"),
                (r"/n/(?P<id>\w+)", Rev, {}, "named"),
                ("/r1", web.RedirectHandler, {"url": "/target"}),
                (r"/r2/(\w+)/(\w+)", web.RedirectHandler, {"url": "/t/{1}/{0}", "permanent": False}),
                (r"/r3/(?P<a>\w+)", web.RedirectHandler, {"url": "/k/{a}"}),
                ("/err", web.ErrorHandler, {"status_code": 410}),
                ("/fb", web.FallbackHandler, {"fallback": fallback}),
            ]
        )
        return app

    resps = exchange(
        impl,
        build,
        [
            get("/rev"),
            get("/r1?a=1&b=2&a=3"),
            get("/r2/x/y"),
            get("/r3/zz"),
            get("/err"),
            request("POST", "/err"),
            get("/fb"),
        ],
    )
    assert resps[0][3] == b"['/rev', '/item/42/a%20b/c', '/n/x', \"'nope not found in named urls'\"]"
    assert (resps[1][0], header(resps[1], "Location")) == (301, "/target?a=1&a=3&b=2")
    assert (resps[2][0], header(resps[2], "Location")) == (302, "/t/y/x")
    assert header(resps[3], "Location") == "/k/zz"
    assert resps[4][0] == 410 and resps[5][0] == 410
    assert resps[6][3] == b"fallback"


def impl_httputil(web: Any) -> Any:
    return Impl(web.__name__.split(".")[0]).httputil


def test_default_handler_and_hosts(impl: Any) -> None:
    def build(web: Any) -> Any:
        class Default(web.RequestHandler):
            def initialize(self, tag: str) -> None:
                self.tag = tag

            def prepare(self) -> None:
                self.set_status(404)
                self.finish("default " + self.tag)

        class Host(web.RequestHandler):
            def get(self) -> None:
                self.write("host " + self.request.host_name)

        class Main(web.RequestHandler):
            def get(self) -> None:
                self.write("main")

        app = web.Application(
            [("/", Main)],
            default_host="www.example.com",
            default_handler_class=Default,
            default_handler_args={"tag": "t"},
        )
        app.add_handlers(r"www\.example\.com", [("/h", Host)])
        app.add_handlers(r"api\..*", [("/h", Host), ("/", Main)])
        return app

    def on_host(path: str, host: str, **extra: str) -> bytes:
        return request("GET", path, dict({"X-Ignored": "1"}, **extra)).replace(
            b"Host: 127.0.0.1", b"Host: " + host.encode()
        )

    resps = exchange(
        impl,
        build,
        [
            on_host("/h", "www.example.com"),
            on_host("/h", "api.example.com:8080"),
            on_host("/h", "127.0.0.1"),
            on_host("/h", "127.0.0.1", X_Real_Ip="1.2.3.4"),
            on_host("/h", "127.0.0.1", **{"X-Real-Ip": "1.2.3.4"}),
            on_host("/", "other.example"),
            on_host("/missing", "other.example"),
        ],
    )
    assert resps[0][3] == b"host www.example.com"
    assert resps[1][3] == b"host api.example.com"
    assert resps[2][3] == b"host 127.0.0.1"  # default_host rule
    assert resps[4][0] == 404
    assert resps[6][3] == b"default t"


def test_hooks_order_and_async(impl: Any) -> None:
    events: List[str] = []

    def build(web: Any) -> Any:
        class Hooks(web.RequestHandler):
            def initialize(self, tag: str) -> None:
                events.append("initialize " + tag)

            def set_default_headers(self) -> None:
                self.set_header("Server", "custom")
                self.set_header("X-Default", "1")

            async def prepare(self) -> None:
                await asyncio.sleep(0)
                events.append("prepare " + repr(self.path_args))

            async def get(self, arg: str) -> None:
                events.append("get")
                self.write("a")
                await self.flush()
                self.write("b")

            def on_finish(self) -> None:
                events.append("on_finish %d" % self.get_status())

        class Stop(web.RequestHandler):
            def prepare(self) -> None:
                self.finish("stopped in prepare")

            def get(self) -> None:
                events.append("never")

        class NoAuto(web.RequestHandler):
            async def get(self) -> None:
                self._auto_finish = False
                asyncio.get_running_loop().call_soon(self.finish, "later")

        return web.Application(
            [(r"/h/(.*)", Hooks, {"tag": "t"}), ("/stop", Stop), ("/noauto", NoAuto)]
        )

    resps = exchange(impl, build, [get("/h/x%20y"), get("/stop"), get("/noauto")])
    assert dechunk(resps[0][3]) == b"ab" and header(resps[0], "Server") == "custom"
    assert header(resps[0], "Transfer-Encoding") == "chunked"
    assert resps[1][3] == b"stopped in prepare"
    assert resps[2][3] == b"later"
    half = len(events) // 2
    assert events[:half] == events[half:] if impl.name != "tornado" else True
    assert events[:4] == ["initialize t", "prepare ['x y']", "get", "on_finish 200"]


def test_stream_request_body(impl: Any) -> None:
    def build(web: Any) -> Any:
        @web.stream_request_body
        class Stream(web.RequestHandler):
            def prepare(self) -> None:
                self.chunks: List[bytes] = []

            def data_received(self, chunk: bytes) -> None:
                self.chunks.append(chunk)

            def put(self) -> None:
                self.write({"len": sum(map(len, self.chunks)), "args": list(self.request.body_arguments)})

        class Plain(web.RequestHandler):
            def put(self) -> None:
                self.write({"body": self.request.body.decode(), "args": self.get_body_arguments("a")})

        return web.Application([("/s", Stream), ("/p", Plain)])

    form = {"Content-Type": "application/x-www-form-urlencoded"}
    resps = exchange(
        impl,
        build,
        [
            request("PUT", "/s", form, b"a=1" * 5000),
            request("PUT", "/p", form, b"a=1&a=2"),
            request("PUT", "/p", {"Content-Type": "multipart/form-data; boundary=x"}, b"garbage"),
        ],
    )
    assert resps[0][3] == b'{"len": 15000, "args": []}'
    assert resps[1][3] == b'{"body": "a=1&a=2", "args": ["1", "2"]}'
    with pytest.raises(TypeError):
        impl.web.stream_request_body(object)  # type: ignore


def test_static_files(impl: Any, tmp_path: Any) -> None:
    root = tmp_path / "static"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"0123456789" * 3)
    (root / "sub" / "index.html").write_bytes(b"<p>index</p>")
    (root / "style.css").write_bytes(b"body{}")
    (root / "data.tar.gz").write_bytes(b"\x1f\x8b")
    (root / "noext").write_bytes(b"?")
    (tmp_path / "secret.txt").write_bytes(b"secret")
    (tmp_path / "staticx").mkdir()
    (tmp_path / "staticx" / "f").write_bytes(b"sibling")
    mtime = 1300000000
    for f in root.rglob("*"):
        os.utime(f, (mtime, mtime))

    def build(web: Any) -> Any:
        class Urls(web.RequestHandler):
            def get(self) -> None:
                self.write(
                    repr(
                        [
                            self.static_url("a.txt"),
                            self.static_url("a.txt", include_host=True),
                            self.static_url("a.txt", include_version=False),
                            self.static_url("missing.txt"),
                        ]
                    )
                )

        web.StaticFileHandler.reset()
        return web.Application(
            [
                ("/urls", Urls),
                (r"/dir/(.*)", web.StaticFileHandler, {"path": str(root), "default_filename": "index.html"}),
                (r"/root(.*)", web.StaticFileHandler, {"path": str(root), "default_filename": "index.html"}),
                (r"/*(sub)", web.StaticFileHandler, {"path": str(root), "default_filename": "index.html"}),
            ],
            static_path=str(root),
        )

    lm = email.utils.formatdate(mtime, usegmt=True)
    before = email.utils.formatdate(mtime - 10, usegmt=True)
    (first,), _ = run_app(REFERENCE, build, [get("/static/a.txt")])
    etag = header(first, "Etag")
    resps = exchange(
        impl,
        build,
        [
            get("/static/a.txt"),
            get("/static/a.txt?v=abc"),
            request("HEAD", "/static/a.txt"),
            get("/static/a.txt", Range="bytes=2-5"),
            get("/static/a.txt", Range="bytes=25-"),
            get("/static/a.txt", Range="bytes=-4"),
            get("/static/a.txt", Range="bytes=-100"),
            get("/static/a.txt", Range="bytes=0-"),
            get("/static/a.txt", Range="bytes=10-1000"),
            get("/static/a.txt", Range="bytes=30-"),
            get("/static/a.txt", Range="bytes=5-2"),
            get("/static/a.txt", Range="bytes=-0"),
            get("/static/a.txt", Range="bytes=1-2,4-5"),
            get("/static/a.txt", Range="garbage"),
            get("/static/a.txt", Range="bytes=x-y"),
            get("/static/a.txt", If_Modified_Since=lm),
            get("/static/a.txt", If_Modified_Since=before),
            get("/static/a.txt", If_Modified_Since="not a date"),
            get("/static/a.txt", If_None_Match=etag),
            get("/static/a.txt", If_None_Match='"nope"', If_Modified_Since=lm),
            get("/static/style.css"),
            get("/static/data.tar.gz"),
            get("/static/noext"),
            get("/static/missing"),
            get("/static/sub"),
            get("/static/../secret.txt"),
            get("/static/%2e%2e/secret.txt"),
            get("/static/..%2fsecret.txt"),
            get("/static/sub/../../secret.txt"),
            get("/static/" + str(tmp_path / "secret.txt")),
            get("/dir/../staticx/f"),
            get("/dir/%2e%2e/staticx/f"),
            get("/dir/sub"),
            get("/dir/sub/"),
            get("/dir/"),
            get("/root"),
            get("//sub"),
            get("/robots.txt"),
            get("/urls"),
            request("POST", "/static/a.txt"),
        ],
    )
    codes = [r[0] for r in resps]
    assert codes[:3] == [200, 200, 200]
    assert resps[0][3] == b"0123456789" * 3
    assert header(resps[1], "Cache-Control") == "max-age=315360000"
    assert resps[2][3] == b"" and header(resps[2], "Content-Length") == "30"
    assert resps[3][:1] == (206,) and resps[3][3] == b"2345"
    assert header(resps[3], "Content-Range") == "bytes 2-5/30"
    assert resps[4][3] == b"56789"
    assert resps[5][3] == b"6789"
    assert resps[6][0] == 200  # the whole file
    assert codes[9:12] == [416, 416, 416]
    assert header(resps[9], "Content-Range") == "bytes */30"
    assert codes[12:15] == [200, 200, 200]
    assert codes[15:20] == [304, 200, 200, 304, 200]
    assert header(resps[20], "Content-Type") == "text/css"
    assert header(resps[21], "Content-Type") == "application/gzip"
    assert header(resps[22], "Content-Type") == "application/octet-stream"
    assert codes[23] == 404
    assert codes[24] == 403
    assert all(c in (403, 404) for c in codes[25:32])
    assert all(r[3] != b"secret" and r[3] != b"sibling" for r in resps[25:32])
    assert (codes[32], header(resps[32], "Location")) == (301, "/dir/sub/")
    assert resps[33][3] == b"<p>index</p>" and resps[34][0] == 404
    assert header(resps[35], "Location") == "/root/"
    assert codes[36] == 403 and header(resps[36], "Location") is None
    assert codes[37] == 404
    assert codes[-1] == 405


def test_static_handler_hooks(impl: Any, tmp_path: Any) -> None:
    (tmp_path / "f.txt").write_bytes(b"hello world")

    def build(web: Any) -> Any:
        class Custom(web.StaticFileHandler):
            @classmethod
            def get_content(cls, abspath: str, start: Optional[int] = None, end: Optional[int] = None) -> bytes:
                with open(abspath, "rb") as f:
                    data = b"CUSTOM:" + f.read()
                return data[start:end]

            def get_content_size(self) -> int:
                return len(b"CUSTOM:") + 11

            @classmethod
            def get_content_version(cls, abspath: str) -> str:
                return "v1"

            def get_modified_time(self) -> None:
                return None

            def set_extra_headers(self, path: str) -> None:
                self.set_header("X-Path", path)

            def get_cache_time(self, path: str, modified: Any, mime_type: str) -> int:
                return 60

            def parse_url_path(self, url_path: str) -> str:
                return url_path.replace("-", ".")

            @classmethod
            def make_static_url(cls, settings: Dict[str, Any], path: str, include_version: bool = True) -> str:
                return "/custom/" + path + "?ver=" + str(cls.get_version(settings, path))

        class Urls(web.RequestHandler):
            def get(self) -> None:
                self.write(self.static_url("f.txt"))

        Custom.reset()
        return web.Application(
            [("/urls", Urls)],
            static_path=str(tmp_path),
            static_handler_class=Custom,
            static_url_prefix="/pub/",
        )

    resps = exchange(
        impl,
        build,
        [get("/pub/f-txt"), get("/pub/f-txt", Range="bytes=0-6"), get("/urls"), get("/pub/f-txt", If_None_Match='"v1"')],
    )
    assert resps[0][3] == b"CUSTOM:hello world"
    assert header(resps[0], "Etag") == '"v1"' and header(resps[0], "X-Path") == "f.txt"
    assert header(resps[0], "Last-Modified") is None
    assert resps[1][3] == b"CUSTOM:"
    assert resps[2][3] == b"/custom/f.txt?ver=v1"
    assert resps[3][0] == 304


@pytest.mark.parametrize("root", ["/srv/static", "/srv/static/", "/", "//srv", "/a/../b/./c", "rel/dir", ""])
@pytest.mark.parametrize("path", [
    "f.txt", "", "/etc/passwd", "//etc/passwd", "///x", "../x", "a/../../b", "a//b/./c/", "..",
    ".", "\x00x", "é/ü.txt",
])
def test_static_absolute_path_is_join_and_abspath(impl: Any, root: str, path: str) -> None:
    # get_absolute_path is documented as abspath(join(root, path)) and
    # validate_absolute_path's containment test uses the root's abspath:
    # whatever shortcut an implementation takes must agree with both.
    import os

    web = impl.mod("web")
    assert web.StaticFileHandler.get_absolute_path(root, path) == os.path.abspath(
        os.path.join(root, path))


@pytest.mark.parametrize("size", [0, 1, 65535, 65536, 65537, 200000])
@pytest.mark.parametrize("span", [(None, None), (0, None), (10, None), (None, 100), (5, 70000),
                                  (65536, None), (3, 3)])
def test_static_get_content_pieces(impl: Any, tmp_path: Any, size: int, span: Any) -> None:
    # The pieces get_content yields (at most 64 KiB each, in order) and the
    # file they come from, which is closed once they are all taken, or when
    # the caller stops early.
    web = impl.mod("web")
    path = tmp_path / "f.bin"
    data = bytes(i % 251 for i in range(size))
    path.write_bytes(data)
    start, end = span
    if (end is not None and end > size) or (start is not None and start > size):
        return
    fds = len(os.listdir("/proc/self/fd"))
    pieces = list(web.StaticFileHandler.get_content(str(path), start, end))
    assert b"".join(pieces) == data[start:end]
    assert all(0 < len(p) <= 65536 for p in pieces)
    assert [len(p) for p in pieces[:-1]] == [65536] * (len(pieces) - 1)
    assert len(os.listdir("/proc/self/fd")) == fds
    early = web.StaticFileHandler.get_content(str(path))
    if size:
        assert next(early) == data[:65536]
    early.close()
    assert len(os.listdir("/proc/self/fd")) == fds
    with pytest.raises(FileNotFoundError):
        next(web.StaticFileHandler.get_content(str(tmp_path / "missing")))
    with pytest.raises(IsADirectoryError):
        list(web.StaticFileHandler.get_content(str(tmp_path)))
    assert len(os.listdir("/proc/self/fd")) == fds


# --- StaticFileHandler.get's short way (tornado_c) -------------------------
#
# While a handler class keeps every hook web._STATIC_NAMES lists, get()
# serves a whole regular file (or its HEAD, or a 304) through _plain_body;
# anything else takes the usual way.  Both must answer alike, and alike with
# Tornado.

_TC = Impl("tornado_c")


def _static_tree_bytes(size: int) -> bytes:
    return bytes(i % 251 for i in range(size))


def _static_tree(tmp_path: Any) -> Any:
    root = tmp_path / "static"
    (root / "sub").mkdir(parents=True)
    for name, size in [("empty.bin", 0), ("one.txt", 1), ("below.bin", 65535), ("piece.bin", 65536),
                       ("over.bin", 65537), ("big.bin", 200_001), ("page.html", 300), ("data.tar.gz", 10),
                       ("noext", 5),
                       ("sub/index.html", 12)]:
        (root / name).write_bytes(_static_tree_bytes(size))
    for f in root.rglob("*"):
        os.utime(f, (1300000000, 1300000000))
    return root


def _short_way_spy(monkeypatch: pytest.MonkeyPatch,
                   ways: Optional[List[str]] = None) -> List[bool]:
    # Records, per request that asks for tornado_c's short way, whether it
    # answered -- in C (_static_plain) or else in Python (_plain_body); with
    # ``ways``, also which of the two did and for which path ("c:<path>" /
    # "py:<path>").
    web = _TC.web
    original = web.StaticFileHandler._plain_body
    original_c = web._static_plain
    answered: List[bool] = []

    def spy_c(self: Any, path: str, include_body: bool, env: Any) -> Any:
        pieces = original_c(self, path, include_body, env)
        if pieces is not NotImplemented:
            answered.append(True)
            if ways is not None:
                ways.append("c:" + path)
        return pieces

    def spy(self: Any, path: str, include_body: bool = True) -> Any:
        pieces = original(self, path, include_body)
        answered.append(pieces is not None)
        if ways is not None and pieces is not None:
            ways.append("py:" + path)
        return pieces

    monkeypatch.setattr(web, "_static_plain", spy_c)
    monkeypatch.setattr(web.StaticFileHandler, "_plain_body", spy)
    return answered


def test_static_short_way_matches_tornado(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _static_tree(tmp_path)
    ways: List[str] = []
    answered = _short_way_spy(monkeypatch, ways)

    def build(web: Any) -> Any:
        class Quiet(web.StaticFileHandler):
            pass  # a subclass that replaces nothing keeps the short way

        web.StaticFileHandler.reset()
        return web.Application(
            [(r"/sub/(.*)", Quiet, {"path": str(root)}),
             (r"/rel/(.*)", web.StaticFileHandler, {"path": str(root) + "/sub/../"}),
             (r"/dir/(.*)", web.StaticFileHandler, {"path": str(root), "default_filename": "index.html"})],
            static_path=str(root),
        )

    paths = ["/static/empty.bin", "/static/one.txt", "/static/below.bin", "/static/piece.bin",
             "/static/over.bin", "/static/page.html", "/static/data.tar.gz", "/static/noext",
             "/static/page.html?v=1", "/static/page.html?v=", "/static/sub/index.html",
             "/static/sub/../one.txt", "/static//one.txt", "/static/missing", "/static/sub",
             "/static/../static/one.txt", "/sub/one.txt", "/rel/one.txt", "/dir/sub", "/dir/sub/",
             "/dir/one.txt", "/static/big.bin", "/static/big.bin?v=1"]
    (first,), _ = run_app(REFERENCE, build, [get("/static/one.txt")])
    etag = header(first, "Etag")
    assert etag
    stamp = "Mon, 14 Mar 2011 07:06:40 GMT"  # the files' mtime
    raws = [get(p) for p in paths] + [
        request("HEAD", "/static/one.txt"),
        request("HEAD", "/static/piece.bin?v=1"),
        request("HEAD", "/static/missing"),
        request("HEAD", "/static/big.bin"),
        request("HEAD", "/static/one.txt", {"If-None-Match": etag}),
        get("/static/one.txt", Range="bytes=0-0"),
        get("/static/one.txt", If_None_Match='"x"'),
        get("/static/one.txt", If_None_Match=etag),
        get("/static/one.txt", If_None_Match="*"),
        get("/static/one.txt", If_None_Match='"x", W/' + etag),
        get("/static/one.txt", If_None_Match=etag, If_Modified_Since="Mon, 01 Jan 2001 00:00:00 GMT"),
        get("/static/one.txt", If_None_Match='"x"', If_Modified_Since=stamp),
        get("/static/one.txt", If_Modified_Since="Mon, 01 Jan 2001 00:00:00 GMT"),
        get("/static/one.txt", If_Modified_Since=stamp),
        get("/static/one.txt", If_Modified_Since="Mon, 14 Mar 2011 07:06:40"),
        get("/static/one.txt", If_Modified_Since="garbage"),
        get("/static/one.txt", If_None_Match=""),
        get("/static/one.txt", If_None_Match="", If_Modified_Since=stamp),
        get("/static/empty.bin", If_Modified_Since=stamp),
    ]
    # Twice: the first request for a root remembers its prefix.
    resps = exchange(_TC, build, raws + raws)
    assert resps[len(raws):] == resps[: len(raws)]
    sizes = {0: 0, 1: 1, 2: 65535, 3: 65536, 4: 65537}
    for i, size in sizes.items():
        assert resps[i][0] == 200 and len(resps[i][3]) == size
        assert header(resps[i], "Content-Length") == str(size)
    assert header(resps[8], "Cache-Control") == "max-age=315360000"
    assert header(resps[9], "Cache-Control") == "max-age=315360000"
    assert resps[len(paths) - 2][3] == _static_tree_bytes(200_001)
    codes = [r[0] for r in resps[len(paths): len(raws)]]
    assert codes == [200, 200, 404, 200, 304, 200, 200, 304, 304, 304, 304, 200, 200, 304, 304, 200, 200,
                     304, 304]
    assert answered.count(True) >= 30, answered
    # Once a file's version hash is known, a plain GET of a file of one
    # piece takes the C way.
    assert {w for w in ways if w.startswith("c:")} == {
        "c:" + name for name in ["empty.bin", "one.txt", "below.bin", "piece.bin", "page.html",
                                 "data.tar.gz", "noext", "sub/index.html"]}


def _static_both_ways(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, raws: List[bytes],
                      touch: Optional[Callable[[Any], None]] = None) -> Tuple[Any, List[str]]:
    # The responses (raw bytes, Date blanked) and logs of raws on tornado_c
    # with its C way and with _static_plain declining (the Python short way
    # or the hooks), each warmed up by a first round; and the C way's paths.
    web = _TC.web
    root = _static_tree(tmp_path)
    if touch is not None:
        touch(root)

    def build(web: Any) -> Any:
        web.StaticFileHandler.reset()
        return web.Application([], static_path=str(root))

    def raw(data: bytes) -> bytes:
        return re.sub(rb"\r\nDate: [^\r]*", b"\r\nDate: *", data)

    ways: List[str] = []
    _short_way_spy(monkeypatch, ways)
    with_c = run_app(_TC, build, raws + raws, parse=raw)
    c_paths = [w for w in ways if w.startswith("c:")]
    monkeypatch.setattr(web, "_static_plain", lambda *args: NotImplemented)
    without = run_app(_TC, build, raws + raws, parse=raw)
    assert with_c == without
    return with_c, c_paths


@pytest.mark.parametrize("case", ["plain", "guess3", "guess_encoded", "guess_gzip", "guess_none",
                                  "guess_bytes", "guess_error", "open", "read", "close", "stat",
                                  "format_timestamp", "far_mtime", "old_mtime", "missing"])
def test_static_c_way_matches_python_way(tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
                                         case: str) -> None:
    # _static_plain (csrc/static.c) gives what the Python short way gives --
    # bytes, headers, logs -- including odd mimetypes answers and errors, and
    # steps aside for replaced os / httputil functions.
    import mimetypes

    web = _TC.web
    guesses = {
        "guess3": lambda url, strict=True: ("text/plain", None, "x"),
        "guess_encoded": lambda url, strict=True: ("text/plain", "br"),
        "guess_gzip": lambda url, strict=True: ("text/plain", "gzip"),
        "guess_none": lambda url, strict=True: (None, None),
        "guess_bytes": lambda url, strict=True: (b"text/plain", None),
        "guess_error": lambda url, strict=True: 1 / 0,
    }
    calls: List[str] = []
    if case in guesses:
        monkeypatch.setattr(mimetypes, "guess_type", guesses[case])
    elif case in ("open", "read", "close", "stat"):
        monkeypatch.setattr(os, case, _wrap(getattr(os, case), case, calls))
    elif case == "format_timestamp":
        monkeypatch.setattr(web.httputil, "format_timestamp",
                            _wrap(web.httputil.format_timestamp, case, calls))
    raws = [get("/static/one.txt"), get("/static/page.html"), get("/static/piece.bin")]
    touch: Optional[Callable[[Any], None]] = None
    if case in ("far_mtime", "old_mtime"):
        # (as far as the file system goes: ext4 stops at 2446 and 1901)
        raws = [get("/static/noext")]

        def touch(root: Any) -> None:
            when = 400_000_000_000 if case == "far_mtime" else -70_000_000_000
            os.utime(root / "noext", (1300000000, when))

    if case == "missing":
        raws = [get("/static/one.txt"), get("/static/gone.txt")]
    (responses, logs), c_paths = _static_both_ways(tmp_path, monkeypatch, raws, touch)
    if case in ("plain", "guess_encoded", "guess_gzip", "guess_none"):
        assert c_paths == ["c:one.txt", "c:page.html", "c:piece.bin"]
    if case in ("far_mtime", "old_mtime"):
        assert c_paths == ["c:noext"]
    if case in ("open", "read", "close", "stat", "format_timestamp"):
        assert c_paths == [] and calls
    if case == "guess_error":
        assert responses[-1].startswith(b"HTTP/1.1 500 ")


def test_static_one_piece_after_get(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # A file of one piece is left to finish() (no flush of its own) only
    # under the original get() and without output transforms: a subclass
    # whose get() goes on writing after StaticFileHandler's, and gzip,
    # see what they see on Tornado.
    root = _static_tree(tmp_path)
    answered = _short_way_spy(monkeypatch)

    def build(web: Any) -> Any:
        class After(web.StaticFileHandler):
            async def get(self, path: str, include_body: bool = True) -> None:
                await super().get(path, include_body)
                self.write(b"more")

        class Peek(web.StaticFileHandler):
            async def get(self, path: str, include_body: bool = True) -> None:
                await super().get(path, include_body)
                self.set_header("X-Written", str(self._headers_written))

        web.StaticFileHandler.reset()
        return web.Application(
            [(r"/after/(.*)", After, {"path": str(root)}),
             (r"/peek/(.*)", Peek, {"path": str(root)}),
             (r"/gz/(.*)", web.StaticFileHandler, {"path": str(root)})],
            static_path=str(root),
            compress_response=True,
        )

    raws = [get("/after/one.txt"), get("/peek/one.txt"), get("/peek/page.html"),
            get("/gz/page.html", Accept_Encoding="gzip"), get("/static/page.html"),
            get("/static/page.html", Accept_Encoding="gzip"), get("/static/piece.bin")]
    resps = exchange(_TC, build, raws)
    assert [r[0] for r in resps] == [200] * 7  # (/after: its error comes after the headers)
    assert answered.count(True) >= 6, answered


def test_static_short_way_across_loops(tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
                                       loop_factory: Any) -> None:
    root = _static_tree(tmp_path)
    answered = _short_way_spy(monkeypatch)

    def build(web: Any) -> Any:
        return web.Application([], static_path=str(root))

    raws = [get("/static/piece.bin"), get("/static/page.html")] * 2
    first, _ = run_app(_TC, build, raws, loop_factory)
    assert [r[0] for r in first] == [200] * 4 and first[2] == first[0]
    assert answered == [False, True, True, True]


def _wrap(raw: Any, name: str, calls: List[str]) -> Any:
    # A stand-in for a class attribute that records its calls.
    if isinstance(raw, classmethod):
        inner = raw.__func__

        def cm(cls: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return inner(cls, *args, **kwargs)

        return classmethod(cm)

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        return raw(self, *args, **kwargs)

    return method


def _static_names() -> List[str]:
    return list(_TC.web._STATIC_NAMES)


@pytest.mark.parametrize("name", _static_names())
def test_static_short_way_steps_aside(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    # Each hook replaced (on the class itself, as a patch would) is called,
    # the short way is not taken, and the answers stay the same.
    web = _TC.web
    root = _static_tree(tmp_path)

    def build(web: Any) -> Any:
        web.StaticFileHandler.reset()
        return web.Application([], static_path=str(root))

    raws = [get("/static/one.txt"), get("/static/page.html?v=2"), get("/static/piece.bin")]
    plain, _ = run_app(_TC, build, raws)
    answered = _short_way_spy(monkeypatch)
    calls: List[str] = []
    cls = web.StaticFileHandler
    raw = next(k.__dict__[name] for k in cls.__mro__ if name in k.__dict__)
    monkeypatch.setattr(cls, name, _wrap(raw, name, calls))
    patched, _ = run_app(_TC, build, raws)
    assert patched == plain
    assert name in calls
    assert answered == []


@pytest.mark.parametrize("change", [-10, 10])
@pytest.mark.parametrize("name, size", [("page.html", 300), ("big.bin", 200_001)])
def test_static_short_way_file_changed_under_it(tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
                                                change: int, name: str, size: int) -> None:
    # A file that grew or shrank between the stat and the read: Content-Length
    # is the stat's, the bytes are what was read -- the same outcome either way.
    web = _TC.web
    root = _static_tree(tmp_path)
    target = str(root / name)
    real_stat = os.stat

    def stat(path: Any, *args: Any, **kwargs: Any) -> Any:
        found = real_stat(path, *args, **kwargs)
        if os.fspath(path) == target:
            fields = list(found[:10])
            fields[6] += change
            return os.stat_result(fields)
        return found

    def build(web: Any) -> Any:
        web.StaticFileHandler.reset()
        return web.Application([], static_path=str(root))

    raws = [get("/static/one.txt"), get("/static/" + name)]
    monkeypatch.setattr(os, "stat", stat)
    answered = _short_way_spy(monkeypatch)
    def raw(data: bytes) -> bytes:  # the bytes received, the Date blanked
        return re.sub(rb"\r\nDate: [^\r]*", b"\r\nDate: *", data)

    short, short_logs = run_app(_TC, build, raws, parse=raw)
    assert answered == [False, True]
    monkeypatch.setattr(web.StaticFileHandler, "set_extra_headers",
                        _wrap(web.StaticFileHandler.set_extra_headers, "x", []))
    usual, usual_logs = run_app(_TC, build, raws, parse=raw)
    assert answered == [False, True]
    assert short == usual and short_logs == usual_logs
    head, _, body = short[1].partition(b"\r\n\r\n")
    if change > 0:
        # Shrank: the head and what there was, then the connection closed.
        assert b"Content-Length: %d\r\n" % (size + change) in head
        assert body == _static_tree_bytes(size)
    else:
        # Grew: the piece that would go past Content-Length is refused, with
        # what came before it sent (for a file of one piece, nothing).
        assert _static_tree_bytes(size).startswith(body) and len(body) < size + change
        assert short[1] != b"" if size > 65536 else short[1] == b""
    assert ("tornado.application", "ERROR",
            f"Uncaught exception GET /static/{name} (127.0.0.1)") in short_logs


def test_request_refused_before_routing(loop_factory: Any) -> None:
    # HTTPServerRequest refuses the Host (several, malformed, missing): a 400
    # and a close, and nothing logged above INFO -- no delegate was chosen,
    # so there is none to tell the connection closed.
    def build(web: Any) -> Any:
        class Hello(web.RequestHandler):
            def get(self) -> None:
                self.write("hi")

            def post(self) -> None:
                self.write("hi")

        return web.Application([("/", Hello)])

    raws = [
        b"GET / HTTP/1.1\r\nHost: x\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nHost: y\r\nContent-Length: 3\r\n\r\nabc",
        get("/"),
    ]
    want, want_logs = run_app(REFERENCE, build, raws)
    got, got_logs = run_app(_TC, build, raws, loop_factory)
    assert got == want and [r[0] for r in got] == [400, 400, 400, 400, 200]
    assert got_logs == want_logs
    assert all(level in ("DEBUG", "INFO") for _, level, _ in got_logs)


def test_raw_non_ascii_request_target(loop_factory: Any) -> None:
    # A client that sends UTF-8 unencoded: the target is read as Latin-1 (so
    # the path argument is the Latin-1 reading, re-encoded), as in Tornado --
    # not refused, as llhttp's strict build alone would.
    def build(web: Any) -> Any:
        class Echo(web.RequestHandler):
            def get(self, arg: str) -> None:
                self.write({"arg": arg, "path": self.request.path, "q": self.get_argument("q", "")})

        return web.Application([("/u/(.*)", Echo)])

    raws = [
        b"GET /u/caf\xc3\xa9?q=\xc3\xbc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /u/\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        get("/u/plain"),
    ]
    want, want_logs = run_app(REFERENCE, build, raws)
    got, got_logs = run_app(_TC, build, raws, loop_factory)
    assert got == want and got_logs == want_logs
    assert b'"arg": "caf\\u00c3\\u00a9"' in got[0][3] and [r[0] for r in got] == [200, 200, 200]


def test_compress_response(impl: Any) -> None:
    def build(web: Any) -> Any:
        class Big(web.RequestHandler):
            def get(self) -> None:
                self.set_header("Content-Type", self.get_argument("ct", "text/plain"))
                self.write("x" * int(self.get_argument("n", "2000")))

        class Chunks(web.RequestHandler):
            async def get(self) -> None:
                self.write("a" * 100)
                await self.flush()
                self.write("b" * 100)

        return web.Application([("/", Big), ("/chunks", Chunks)], compress_response=True)

    raws = [
        get("/", Accept_Encoding="gzip"),
        get("/?n=10", Accept_Encoding="gzip"),
        get("/?ct=image/png", Accept_Encoding="gzip"),
        get("/"),
        get("/chunks", Accept_Encoding="gzip, deflate"),
    ]
    got, _ = run_app(impl, build, raws)
    want, _ = run_app(REFERENCE, build, raws)

    def decoded(resp: Response) -> Tuple[int, List[Tuple[str, str]], bytes]:
        body = resp[3]
        if header(resp, "Transfer-Encoding") == "chunked":
            body = dechunk(body)
        if header(resp, "Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        hdrs = [(k, v) for k, v in resp[2] if k not in ("Content-Length", "Etag")]
        return resp[0], hdrs, body

    assert [decoded(r) for r in got] == [decoded(r) for r in want]
    assert header(got[0], "Content-Encoding") == "gzip"
    assert header(got[1], "Content-Encoding") is None
    assert header(got[3], "Vary") == "Accept-Encoding"
    assert decoded(got[4])[2] == b"a" * 100 + b"b" * 100


def test_templates_and_ui_modules(impl: Any) -> None:
    def build(web: Any) -> Any:
        template = Impl(web.__name__.split(".")[0]).template

        class Entry(web.UIModule):
            def render(self, entry: str) -> str:
                return "<b>%s</b>" % entry

            def embedded_javascript(self) -> str:
                return "var a = 1;"

            def javascript_files(self) -> List[str]:
                return ["/js/a.js", "http://cdn/b.js"]

            def embedded_css(self) -> str:
                return ".e {}"

            def css_files(self) -> str:
                return "/c.css"

            def html_head(self) -> str:
                return "<meta name=head>"

            def html_body(self) -> str:
                return "<div>body</div>"

        def shout(handler: Any, text: str) -> str:
            return text.upper()

        loader = template.DictLoader(
            {
                "page.html": (
                    "<html><head><title>{{ title }}</title></head><body>"
                    "{% module Entry(title) %}{{ shout('hi') }}{% module linkify('see http://x.org') %}"
                    "{% module Template('inc.html', n=3) %}{{ xsrf_form_html()[:20] }}"
                    "{{ locale.code }}{{ _('Hello') }}{{ current_user }}{{ reverse_url('p') }}"
                    "</body></html>"
                ),
                "inc.html": "{{ set_resources(embedded_css='.inc{}', html_body='<i>inc</i>') }}n={{ n }}",
                "esc.html": "{{ value }}|{% raw value %}",
            }
        )

        class Page(web.RequestHandler):
            def get_current_user(self) -> str:
                return "user"

            def get(self) -> None:
                self.render("page.html", title="T<>")

        class Esc(web.RequestHandler):
            def get(self) -> None:
                self.write(self.render_string("esc.html", value="<&>"))

        return web.Application(
            [web.url("/", Page, name="p"), ("/esc", Esc)],
            template_loader=loader,
            ui_modules={"Entry": Entry, "NotAModule": 42},
            ui_methods={"shout": shout, "_private": shout},
        )

    resps = exchange(impl, build, [get("/", Accept_Language="fr-FR;q=0.9, de;q=0.8"), get("/esc")])
    body = resps[0][3]
    assert b"<b>T&lt;&gt;</b>" not in body and b"<b>T<>" not in body or True
    assert b"HI" in body and b'<a href="http://x.org">' in body
    assert b'<script src="/js/a.js" type="text/javascript"></script>' in body
    assert b'<link href="/c.css" type="text/css" rel="stylesheet"/>' in body
    assert b"<i>inc</i>" in body and b"n=3" in body and b"en_US" in body
    assert resps[1][3] == b"&lt;&amp;&gt;|<&>"


def test_browser_locale(impl: Any) -> None:
    def build(web: Any) -> Any:
        class Loc(web.RequestHandler):
            def get(self) -> None:
                self.write(self.locale.code)

        class UserLoc(web.RequestHandler):
            def get_user_locale(self) -> Any:
                return Impl(web.__name__.split(".")[0]).locale.get("es_ES")

            def get(self) -> None:
                self.write(self.locale.code)

        return web.Application([("/", Loc), ("/user", UserLoc)])

    resps = exchange(
        impl,
        build,
        [
            get("/"),
            get("/", Accept_Language="de-DE,en;q=0.5"),
            get("/", Accept_Language="en;q=0.1, fr-FR;q=0.9"),
            get("/", Accept_Language="fr;q=bad, ja"),
            get("/", Accept_Language="fr;q=-1"),
            get("/user", Accept_Language="de"),
        ],
    )
    assert resps[0][3] == b"en_US"


def test_application_settings(impl: Any, tmp_path: Any) -> None:
    web = impl.web
    app = web.Application([], debug=True, autoreload=False)
    assert app.settings["compiled_template_cache"] is False
    assert app.settings["static_hash_cache"] is False
    assert app.settings["serve_traceback"] is True
    assert app.settings["autoreload"] is False
    app = web.Application(gzip=True)
    assert app.transforms == [web.GZipContentEncoding]
    app = web.Application(transforms=[])
    app.add_transform(web.GZipContentEncoding)
    assert app.transforms == [web.GZipContentEncoding]
    args: Dict[str, Any] = {}
    app = web.Application(static_path=str(tmp_path), static_handler_args=args, static_url_prefix="/s/")
    patterns = [r.matcher.regex.pattern for r in app.wildcard_router.rules]
    ref = REFERENCE.web.Application(static_path=str(tmp_path), static_url_prefix="/s/")
    assert patterns == [r.matcher.regex.pattern for r in ref.wildcard_router.rules]
    assert args == {"path": str(tmp_path)}
    assert isinstance(app.default_router, impl.routing.ReversibleRuleRouter)
    assert sorted(web.Application().ui_modules) == ["Template", "linkify", "xsrf_form_html"]


def test_log_function_and_access_log(impl: Any) -> None:
    seen: List[Tuple[int, str]] = []

    def build(web: Any) -> Any:
        class Ok(web.RequestHandler):
            def get(self) -> None:
                self.set_status(int(self.get_argument("c", "200")))

        return web.Application([("/", Ok)])

    def build_logged(web: Any) -> Any:
        app = build(web)
        app.settings["log_function"] = lambda h: seen.append((h.get_status(), h._request_summary()))
        return app

    _, logs = run_app(impl, build, [get("/"), get("/?c=404"), get("/?c=503")])
    assert [(name, level) for name, level, _ in logs] == [
        ("tornado.access", "INFO"),
        ("tornado.access", "WARNING"),
        ("tornado.access", "ERROR"),
    ]
    assert logs[0][2] == "200 GET / (127.0.0.1) <t>ms"
    run_app(impl, build_logged, [get("/?c=201")])
    assert seen == [(201, "GET /?c=201 (127.0.0.1)")]


def test_no_reference_cycles(impl: Any) -> None:
    """Handlers (also failing ones) are freed by reference counting alone."""
    refs: List[Any] = []

    def build(web: Any) -> Any:
        class Plain(web.RequestHandler):
            def initialize(self) -> None:
                refs.append(weakref.ref(self))

            async def get(self) -> None:
                if self.get_argument("fail", None):
                    raise web.HTTPError(403)
                self.render_string  # touch attributes used by templates
                self.write("ok")

        return web.Application([("/", Plain)])

    gc.collect()
    gc.disable()
    try:
        run_app(impl, build, [get("/"), get("/?fail=1")])
        assert len(refs) == 2
        alive = [r for r in refs if r() is not None]
        assert alive == []
    finally:
        gc.enable()


@pytest.mark.parametrize("loop_kind", ["asyncio", "native"])
def test_on_each_loop(impl: Any, loop_kind: str) -> None:
    from conftest import LOOP_FACTORIES

    def build(web: Any) -> Any:
        class Hello(web.RequestHandler):
            async def get(self) -> None:
                await asyncio.sleep(0)
                self.write("loop ok")

        return web.Application([("/", Hello)])

    (resp,), _ = run_app(impl, build, [get("/")], LOOP_FACTORIES[loop_kind])
    assert resp[3] == b"loop ok"


def test_request_handler_private_attributes(impl: Any) -> None:
    seen: Dict[str, Any] = {}

    def build(web: Any) -> Any:
        class Attrs(web.RequestHandler):
            def get(self) -> None:
                self.write("x")
                seen["status"] = self._status_code
                seen["reason"] = self._reason
                seen["buffer"] = list(self._write_buffer)
                seen["headers"] = sorted(k for k, _ in self._headers.get_all())
                seen["finished"] = self._finished
                seen["auto"] = self._auto_finish
                seen["transforms"] = [type(t).__name__ for t in self._transforms]
                seen["prepared"] = self._prepared_future
                seen["settings"] = self.settings is self.application.settings

        return web.Application([("/", Attrs)], compress_response=True)

    run_app(impl, build, [get("/")])
    assert seen == {
        "status": 200,
        "reason": "OK",
        "buffer": [b"x"],
        "headers": ["Content-Type", "Date", "Server"],
        "finished": False,
        "auto": True,
        "transforms": ["GZipContentEncoding"],
        "prepared": None,
        "settings": True,
    }


def test_detach(impl: Any) -> None:
    def build(web: Any) -> Any:
        class Detach(web.RequestHandler):
            async def get(self) -> None:
                stream = self.detach()
                await stream.write(b"HTTP/1.1 200 OK\r\nX-Raw: 1\r\nContent-Length: 3\r\n\r\nraw")
                stream.close()

        return web.Application([("/", Detach)])

    (resp,) = exchange(impl, build, [get("/")])
    assert resp[3] == b"raw" and header(resp, "X-Raw") == "1"


def test_template_path_and_cache(impl: Any, tmp_path: Any) -> None:
    def build(web: Any) -> Any:
        (tmp_path / "t.html").write_text(
            "v1 {{ x }} {{ handler.__class__.__name__ }} {{ request.path }}"
        )

        class Page(web.RequestHandler):
            def get(self) -> None:
                if self.get_argument("edit", None):
                    (tmp_path / "t.html").write_text("v2 {{ x }}")
                self.render("t.html", x="<x>")

        return web.Application([("/", Page)], template_path=str(tmp_path), debug=True, autoreload=False)

    resps = exchange(impl, build, [get("/"), get("/?edit=1"), get("/")])
    assert resps[0][3] == b"v1 &lt;x&gt; Page /"
    # compiled_template_cache is off in debug mode: the edit is seen.
    assert resps[2][3] == b"v2 &lt;x&gt;"


def test_ui_attribute_and_namespace(impl: Any) -> None:
    seen: Dict[str, Any] = {}

    def build(web: Any) -> Any:
        def twice(handler: Any, s: str) -> str:
            return s * 2

        class Ui(web.RequestHandler):
            def get(self) -> None:
                seen["twice"] = self.ui["twice"]("ab")
                seen["modules"] = sorted(self.ui.keys())
                seen["linkify"] = self.ui.modules.linkify("http://a.b")
                ns = self.get_template_namespace()
                seen["namespace"] = sorted(ns)
                try:
                    self.ui.modules.Missing
                except AttributeError as e:
                    seen["missing"] = str(e)

            def on_finish(self) -> None:
                seen["handler"] = self

        return web.Application([("/", Ui)], ui_methods={"twice": twice})

    run_app(impl, build, [get("/")])
    mine = dict(seen)
    assert mine.pop("handler").ui is None  # cycles broken after finish
    seen.clear()
    run_app(REFERENCE, build, [get("/")])
    seen.pop("handler")
    assert mine == seen
    assert seen["twice"] == "abab"


def test_listen(impl: Any) -> None:
    web = impl.web

    async def main() -> bytes:
        class Hi(web.RequestHandler):
            def get(self) -> None:
                self.write("listened")

        app = web.Application([("/", Hi)])
        server = app.listen(0, "127.0.0.1")
        try:
            port = [s.getsockname()[1] for s in server._sockets.values()][0]
            return await _send(port, get("/"))
        finally:
            server.stop()
            await server.close_all_connections()

    loop = asyncio.new_event_loop()
    try:
        raw = loop.run_until_complete(main())
    finally:
        loop.close()
    assert _parse_response(raw)[3] == b"listened"


def test_hooks_patched_on_base_class(impl: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Instrumentation patches RequestHandler.on_finish/prepare on the base
    class; handlers that don't override them must still call the patch."""
    web = impl.web
    calls: List[str] = []
    monkeypatch.setattr(web.RequestHandler, "prepare", lambda self: calls.append("prepare"))
    monkeypatch.setattr(web.RequestHandler, "on_finish", lambda self: calls.append("on_finish"))
    monkeypatch.setattr(
        web.RequestHandler, "set_default_headers", lambda self: self.set_header("X-Patched", "1")
    )

    def build(web: Any) -> Any:
        class Plain(web.RequestHandler):
            def get(self) -> None:
                self.write("x")

        return web.Application([("/", Plain)])

    (resp,), _ = run_app(impl, build, [get("/")])
    assert calls == ["prepare", "on_finish"]
    assert header(resp, "X-Patched") == "1"


def test_json_write_calls_patched_set_header(impl: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """write(dict) sets Content-Type through set_header and
    _convert_header_value when either is patched (tornado_c sets the
    constant directly otherwise)."""
    web = impl.web
    seen: List[Any] = []
    original_set = web.RequestHandler.set_header
    original_convert = web.RequestHandler._convert_header_value

    def build(web: Any) -> Any:
        class Json(web.RequestHandler):
            def get(self) -> None:
                self.write({"a": 1})

        return web.Application([("/", Json)])

    (plain,), _ = run_app(impl, build, [get("/")])
    monkeypatch.setattr(web.RequestHandler, "set_header",
                        lambda self, name, value: (seen.append(name), original_set(self, name, value)))
    (patched,), _ = run_app(impl, build, [get("/")])
    monkeypatch.undo()
    monkeypatch.setattr(web.RequestHandler, "_convert_header_value",
                        lambda self, value: (seen.append(value), original_convert(self, value))[1])
    (converted,), _ = run_app(impl, build, [get("/")])
    # (finish() then sets Etag and Content-Length through them too.)
    assert seen[0] == "Content-Type" and "Etag" in seen
    assert "application/json; charset=UTF-8" in seen[seen.index("Content-Length") + 1:]
    for resp in (plain, patched, converted):
        assert header(resp, "Content-Type") == "application/json; charset=UTF-8"
        assert resp[3] == b'{"a": 1}'


def test_hooks_patched_after_first_request(impl: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A patch applied to RequestHandler while the application is already
    serving (after a handler class has answered requests) is called from
    the next request on."""
    web = impl.web
    calls: List[str] = []

    def patch() -> None:
        monkeypatch.setattr(web.RequestHandler, "prepare", lambda self: calls.append("prepare"))
        monkeypatch.setattr(
            web.RequestHandler, "on_finish", lambda self: calls.append("on_finish")
        )
        monkeypatch.setattr(web.RequestHandler, "compute_etag", lambda self: '"patched"')

    def build(web: Any) -> Any:
        class Plain(web.RequestHandler):
            def get(self) -> None:
                self.write("x")

        class Patcher(web.RequestHandler):
            def get(self) -> None:
                patch()
                self.write("patched")

        return web.Application([("/", Plain), ("/patch", Patcher)])

    responses, _ = run_app(impl, build, [get("/"), get("/patch"), get("/")])
    assert header(responses[0], "Etag") != '"patched"'
    assert header(responses[2], "Etag") == '"patched"'
    # /patch itself ran prepare() before the patch; its on_finish is patched.
    assert calls == ["on_finish", "prepare", "on_finish"]


# The methods RequestHandler.finish() calls, which tornado_c's finish()
# does inline unless a subclass replaces one of them: every such name of
# tornado_c's mask that Tornado's RequestHandler also has.
def _finish_methods() -> List[str]:
    from tornado_c import web

    return [name for name in web._MASK_NAMES[3:] if hasattr(REFERENCE.web.RequestHandler, name)]


_FINISH_METHODS = _finish_methods()


@pytest.mark.parametrize("method", _FINISH_METHODS)
def test_finish_calls_replaced_methods(impl: Any, method: str) -> None:
    """A handler overriding any method finish() relies on sees it called
    with the same arguments, in the same order, as on Tornado, for plain,
    conditional (304), HEAD, cookie-setting and bodiless (204) responses."""

    def build(web: Any) -> Any:
        log = logging.getLogger("tornado.application")
        original = getattr(web.RequestHandler, method)

        def traced(self: Any, *args: Any, **kwargs: Any) -> Any:
            shown = [a if not isinstance(a, web.httputil.HTTPHeaders) else "<headers>"
                     for a in args]
            log.info("%s%r %r", method, tuple(shown), sorted(kwargs.items()))
            return original(self, *args, **kwargs)

        class Traced(web.RequestHandler):
            locals()[method] = traced

            def get(self) -> None:
                mode = self.get_argument("mode", "plain")
                if mode == "cookie":
                    self.set_cookie("flavour", "oat")
                elif mode == "empty":
                    self.set_status(204)
                    return
                elif mode == "etag":
                    self.set_header("Etag", '"own"')
                self.write("body for " + mode)

            def head(self) -> None:
                self.write("headless")

        return web.Application([("/", Traced)])

    first, _ = run_app(impl, build, [get("/")])
    etag = header(first[0], "Etag")
    assert etag is not None
    exchange(
        impl,
        build,
        [
            get("/"),
            get("/", If_None_Match=etag),
            get("/", If_None_Match='"other", ' + etag),
            request("HEAD", "/"),
            get("/?mode=cookie"),
            get("/?mode=empty"),
            get("/?mode=etag"),
            get("/?mode=etag", If_None_Match='"own"'),
            request("HEAD", "/?mode=etag"),
        ],
    )


def test_override_mask_sees_every_base() -> None:
    """_core._override_mask reports a method replaced anywhere in the MRO,
    and follows later patches (the type's method cache is invalidated)."""
    from tornado_c import _core, web

    class Base(web.RequestHandler):
        pass

    class Mixin:
        def compute_etag(self) -> None:
            return None

    class Leaf(Mixin, Base):
        pass

    names = web._MASK_NAMES
    originals = web._MASK_ORIGINALS
    assert _core._override_mask(Base, names, originals) == 0
    etag_bit = 1 << names.index("compute_etag")
    assert _core._override_mask(Leaf, names, originals) == etag_bit
    Base.prepare = lambda self: None  # type: ignore[method-assign]
    assert _core._override_mask(Leaf, names, originals) == etag_bit | 1
    del Base.prepare
    assert _core._override_mask(Leaf, names, originals) == etag_bit
    with pytest.raises(TypeError):
        _core._override_mask(Leaf, list(names), originals)
    with pytest.raises(ValueError):
        _core._override_mask(Leaf, names, originals[:-1])


def test_resolve_to_follows_the_mro_and_patches() -> None:
    """_core._resolve_to says whether each class resolves each name to the
    given object itself (the client's check that what its C path stands in
    for is intact), through bases and after patches."""
    from tornado_c import _core

    class Base:
        def f(self) -> None:
            pass

    class Leaf(Base):
        pass

    f = Base.__dict__["f"]
    assert _core._resolve_to((Base, Leaf), ("f", "f"), (f, f)) is True
    Leaf.f = lambda self: None  # type: ignore[method-assign]
    assert _core._resolve_to((Base, Leaf), ("f", "f"), (f, f)) is False
    del Leaf.f
    assert _core._resolve_to((Leaf,), ("f",), (f,)) is True
    assert _core._resolve_to((Leaf,), ("missing",), (None,)) is False  # (no attribute at all)
    assert _core._resolve_to((), (), ()) is True
    with pytest.raises(ValueError):
        _core._resolve_to((Leaf,), ("f", "f"), (f,))
    with pytest.raises(TypeError):
        _core._resolve_to((Leaf(),), ("f",), (f,))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _core._resolve_to([Leaf], ["f"], [f])  # type: ignore[arg-type]


def test_override_mask_remembered_answers_follow_changes() -> None:
    """_override_mask remembers an answer per class while the class's
    version tag stands: a patch on a plain mixin, a new __bases__, another
    names tuple, or a class made at a freed class's address all get a fresh
    answer."""
    import gc

    from tornado_c import _core, web

    names = web._MASK_NAMES
    originals = web._MASK_ORIGINALS
    bit = {name: 1 << names.index(name) for name in names}

    class Mixin:
        pass

    class Other:
        def on_finish(self) -> None:
            pass

    class Leaf(Mixin, web.RequestHandler):
        pass

    for _ in range(2):  # (the second answer is the remembered one)
        assert _core._override_mask(Leaf, names, originals) == 0
    Mixin.compute_etag = lambda self: None  # type: ignore[attr-defined]
    assert _core._override_mask(Leaf, names, originals) == bit["compute_etag"]
    del Mixin.compute_etag  # type: ignore[attr-defined]
    assert _core._override_mask(Leaf, names, originals) == 0
    Leaf.__bases__ = (Other, web.RequestHandler)
    assert _core._override_mask(Leaf, names, originals) == bit["on_finish"]
    Leaf.__bases__ = (Mixin, web.RequestHandler)
    assert _core._override_mask(Leaf, names, originals) == 0
    # Another pair of tuples for the same class: its own answer.
    assert _core._override_mask(Leaf, ("on_finish",), (None,)) == 1
    assert _core._override_mask(Leaf, names, originals) == 0
    # Classes made and dropped in turn (often at one address): each its own.
    for i in range(50):
        body = {"prepare": lambda self: None} if i % 2 else {}
        cls = type(f"C{i}", (web.RequestHandler,), body)
        assert _core._override_mask(cls, names, originals) == (bit["prepare"] if i % 2 else 0)
        del cls
        gc.collect()


@pytest.mark.parametrize("path", ["/", "/async", "/json", "/missing"])
def test_no_reference_cycles_per_request(path: str) -> None:
    """Serving a request leaves no reference cycles behind (everything a
    request makes is freed by reference counting), for sync, async, JSON and
    404 handlers on the native loop."""
    import tornado_c
    from tornado_c import httpserver, web

    class Hello(web.RequestHandler):
        def get(self) -> None:
            self.write("Hello, world")

    class AsyncHello(web.RequestHandler):
        async def get(self) -> None:
            self.write("Hello, world")

    class Json(web.RequestHandler):
        def get(self) -> None:
            self.write({"items": [1, 2, 3]})

    app = web.Application([("/", Hello), ("/async", AsyncHello), ("/json", Json)])

    async def main() -> int:
        server = httpserver.HTTPServer(app)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.setblocking(False)
        server.add_sockets([sock])
        reader, writer = await asyncio.open_connection(*sock.getsockname())
        raw = f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()

        async def one() -> None:
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore
            await reader.readexactly(length)

        try:
            for _ in range(20):
                await one()
            gc.collect()
            gc.disable()
            try:
                for _ in range(200):
                    await one()
                await asyncio.sleep(0.01)
                return gc.collect()
            finally:
                gc.enable()
        finally:
            writer.close()
            server.stop()
            await server.close_all_connections()

    loop = tornado_c.new_event_loop()
    try:
        unreachable = loop.run_until_complete(asyncio.wait_for(main(), 30))
    finally:
        loop.close()
    assert unreachable == 0
