"""Differential tests of tornado_c.routing against tornado.routing.

Matchers and URL reversal are checked directly on request objects; routers
with every kind of target (nested routers, connection delegates, plain
callables, applications) are served on 127.0.0.1 with the implementation's
own `HTTPServer` and driven by raw HTTP/1.1 requests.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from typing import Any, Callable, List, Optional, Tuple

import pytest

from conftest import Impl

REFERENCE = Impl("tornado")


def _request(impl: Any, path: str, host: str = "example.com", **headers: str) -> Any:
    httputil = impl.httputil
    hdrs = httputil.HTTPHeaders({"Host": host})
    for name, value in headers.items():
        hdrs[name.replace("_", "-")] = value
    return httputil.HTTPServerRequest(method="GET", uri=path, headers=hdrs, host=host)


def _both(fn: Callable[[Any], Any], impl: Any) -> Any:
    """Run ``fn`` on ``impl`` and on the reference; require the same result."""
    got = fn(impl)
    assert got == fn(REFERENCE)
    return got


def _outcome(call: Callable[[], Any]) -> Any:
    try:
        return ("ok", call())
    except Exception as e:  # noqa: BLE001 - the exception is the result
        return (type(e).__name__, str(e))


PATTERNS = [
    "/",
    "/plain",
    r"/item/(\d+)",
    r"/item/(\d+)/(\w+)$",
    r"^/a/(?P<x>[^/]+)/b/(?P<y>.*)",
    r"/opt/(\d+)?",
    r"/nested/((a)b)",
    r"/noncap/(?:x)(y)",
    r"/esc\.html",
    r"/chars[ab]/(.*)",
    r"/dollar\$/(.*)",
]


def test_path_matches(impl: Any) -> None:
    def run(mod: Any) -> Any:
        routing = mod.routing
        out = []
        for pattern in PATTERNS:
            m = routing.PathMatches(pattern)
            out.append((pattern, m.regex.pattern, m._path, m._group_count))
            for path in ("/", "/plain", "/item/12", "/item/12/ab", "/a/%2F/b/x%20y+z",
                         "/opt/", "/opt/7", "/nested/ab", "/noncap/xy", "/esc.html",
                         "/escxhtml", "/charsa/q", "/dollar$/v", "/item/12/ab/extra"):
                out.append((pattern, path, m.match(_request(mod, path))))
            out.append(_outcome(lambda: m.reverse()))
            out.append(_outcome(lambda: m.reverse(1)))
            out.append(_outcome(lambda: m.reverse("a b/c", b"\xc3\xa9")))
        return out

    _both(run, impl)


def test_path_matches_values(impl: Any) -> None:
    routing = impl.routing
    m = routing.PathMatches(r"/a/(?P<x>[^/]+)/b/(?P<y>.*)")
    assert m.match(_request(impl, "/a/%2F/b/x%20y+z")) == {
        "path_args": [],
        "path_kwargs": {"x": b"/", "y": b"x y+z"},
    }
    assert routing.PathMatches(r"/opt/(\d+)?").match(_request(impl, "/opt/")) == {
        "path_args": [None],
        "path_kwargs": {},
    }
    assert routing.PathMatches(r"/item/(\d+)").reverse(5) == "/item/5"
    with pytest.raises(AssertionError):
        routing.PathMatches(r"/(a)/(?P<b>b)")
    compiled = routing.PathMatches(re.compile("/compiled"))
    assert compiled.regex.pattern == "/compiled"
    assert compiled.match(_request(impl, "/compiled/more")) == {}


def test_unquote_or_none(impl: Any) -> None:
    f = impl.routing._unquote_or_none
    assert f(None) is None
    assert f("a%20b+c%2F") == b"a b+c/"
    assert f("%FF") == b"\xff"


def test_host_and_any_matchers(impl: Any) -> None:
    def run(mod: Any) -> Any:
        routing = mod.routing
        host = routing.HostMatches(r"(www\.)?example\.com")
        host_compiled = routing.HostMatches(re.compile(r"api\."))

        class App:
            default_host = "www.example.com"

        default = routing.DefaultHostMatches(App(), re.compile(r"www\.example\.com$"))
        out = []
        for hostname, extra in [
            ("example.com", {}),
            ("www.example.com:8080", {}),
            ("other.com", {}),
            ("api.example.com", {}),
            ("example.com.evil", {}),
            ("x", {"X_Real_Ip": "1.2.3.4"}),
        ]:
            req = _request(mod, "/", hostname, **extra)
            out.append(
                (
                    host.match(req),
                    host_compiled.match(req),
                    default.match(req),
                    routing.AnyMatches().match(req),
                )
            )
        out.append(host.host_pattern.pattern)
        out.append(routing.Matcher().reverse(1))
        out.append(_outcome(lambda: routing.Matcher().match(_request(mod, "/"))))
        return out

    _both(run, impl)


def test_rule_reprs(impl: Any) -> None:
    def run(mod: Any) -> Any:
        routing = mod.routing

        class Target:
            pass

        rule = routing.Rule(routing.AnyMatches(), "json.dumps", {"a": 1}, "n")
        spec = routing.URLSpec(r"/x/(\d+)", Target, {"k": "v"}, name="spec")
        plain = routing.URLSpec("/y", Target)
        return [
            re.sub(r" at 0x[0-9a-f]+", "", repr(rule)).replace(mod.name, "IMPL"),
            rule.target.__name__,
            rule.target_kwargs,
            rule.name,
            re.sub(r"<class '.*?'>", "<cls>", repr(spec)),
            re.sub(r"<class '.*?'>", "<cls>", repr(plain)),
            spec.regex.pattern,
            spec.kwargs,
            plain.kwargs,
            plain.target_kwargs,
            spec.handler_class is Target,
            spec.reverse(3),
            routing.Rule(routing.AnyMatches(), Target).reverse(),
        ]

    got = _both(lambda m: run(Impl(m.name) if isinstance(m, Impl) else m), impl)
    assert got[1] == "dumps"


def test_reversible_rule_router(impl: Any, caplog: Any) -> None:
    def run(mod: Any) -> Any:
        routing = mod.routing

        class Handler:
            pass

        inner = routing.ReversibleRuleRouter([routing.URLSpec(r"/in/(\d+)", Handler, name="inner")])
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tornado.application"):
            router = routing.ReversibleRuleRouter(
                [
                    (r"/a/(\w+)", Handler, {}, "a"),
                    routing.Rule(routing.PathMatches("/b"), Handler, name="b"),
                    routing.Rule(routing.PathMatches("/b2"), Handler, name="b"),
                    ("/inner.*", inner),
                    [routing.HostMatches("h"), Handler],
                ]
            )
        return [
            router.reverse_url("a", "x y"),
            router.reverse_url("b"),
            router.reverse_url("inner", 7),
            router.reverse_url("nope"),
            sorted(router.named_rules),
            [(r.levelname, r.getMessage()) for r in caplog.records],
            [type(r.matcher).__name__ for r in router.rules],
            _outcome(lambda: routing.ReversibleRouter().reverse_url("x")),
        ]

    got = _both(run, impl)
    assert got[1] == "/b2"
    assert got[5] == [("WARNING", "Multiple handlers named b; replacing previous value")]


def test_rule_router_rejects_bad_rules(impl: Any) -> None:
    routing = impl.routing
    with pytest.raises(AssertionError):
        routing.RuleRouter([("/only-one",)])  # type: ignore
    with pytest.raises(NotImplementedError):
        routing.Router().find_handler(_request(impl, "/"))


# --- served routers ---------------------------------------------------------------

Response = Tuple[int, List[Tuple[str, str]], bytes]


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


def _parse(raw: bytes) -> Response:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() != "date":
            headers.append((name.strip(), value.strip()))
    return int(lines[0].split(" ")[1]), headers, body


def _get(path: str, host: str = "127.0.0.1", method: str = "GET", body: bytes = b"") -> bytes:
    extra = f"Content-Length: {len(body)}\r\n" if body else ""
    return (
        f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{extra}\r\n"
    ).encode() + body


def serve(impl: Any, build: Callable[[Any], Any], raws: List[bytes]) -> List[Response]:
    httpserver = impl.mod("httpserver")

    async def main() -> List[Response]:
        delegate = build(impl)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.setblocking(False)
        server = httpserver.HTTPServer(delegate)
        server.add_sockets([sock])
        try:
            out = []
            for raw in raws:
                out.append(_parse(await _send(sock.getsockname()[1], raw)))
            return out
        finally:
            server.stop()
            await server.close_all_connections()

    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


def build_router(impl: Any) -> Any:
    routing, httputil, web = impl.routing, impl.httputil, impl.web

    def respond(request: Any, text: str, status: int = 200) -> None:
        body = text.encode()
        request.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", status, "OK"),
            httputil.HTTPHeaders({"Content-Length": str(len(body))}),
            body,
        )
        request.connection.finish()

    def callable_target(request: Any, **kwargs: Any) -> None:
        respond(request, "callable %s %s %r %r" % (request.method, request.path, request.body, kwargs))

    class Delegate(httputil.HTTPMessageDelegate):
        def __init__(self, request_conn: Any) -> None:
            self.conn = request_conn
            self.chunks: List[bytes] = []

        def headers_received(self, start_line: Any, headers: Any) -> None:
            self.path = start_line.path

        def data_received(self, chunk: bytes) -> None:
            self.chunks.append(chunk)

        def finish(self) -> None:
            body = b"delegate " + self.path.encode() + b" " + b"".join(self.chunks)
            self.conn.write_headers(
                httputil.ResponseStartLine("HTTP/1.1", 201, "Created"),
                httputil.HTTPHeaders({"Content-Length": str(len(body))}),
                body,
            )
            self.conn.finish()

    class ConnDelegate(httputil.HTTPServerConnectionDelegate):
        def start_request(self, server_conn: Any, request_conn: Any) -> Any:
            return Delegate(request_conn)

    class CustomRouter(routing.Router):
        def find_handler(self, request: Any, **kwargs: Any) -> Any:
            if request.path.endswith("/none"):
                return None
            return Delegate(request.connection)

    class Handler(web.RequestHandler):
        def initialize(self, tag: str = "") -> None:
            self.tag = tag

        def get(self, *args: str) -> None:
            self.write("app %s %r %s" % (self.tag, args, self.reverse_url("h", "q")))

    app = web.Application([web.url(r"/app/h/(\w+)", Handler, {"tag": "t"}, name="h")])
    nested = routing.RuleRouter(
        [
            (r"/nested/call", callable_target),
            (r"/nested/deleg", ConnDelegate()),
        ]
    )
    return routing.RuleRouter(
        [
            routing.Rule(routing.HostMatches("special.example"), callable_target, {"host": "yes"}),
            (r"/call/(\d+)", callable_target),
            (r"/kw/(?P<n>\d+)", callable_target, {"extra": 1}),
            (r"/deleg.*", ConnDelegate()),
            (routing.PathMatches(r"/nested/.*"), nested),
            (r"/custom/.*", CustomRouter()),
            (r"/app/.*", app),
            (r"/unknown", object()),
        ]
    )


def test_served_rule_router(impl: Any) -> None:
    raws = [
        _get("/call/12"),
        _get("/kw/5"),
        _get("/anything", host="special.example"),
        _get("/deleg/x", method="POST", body=b"payload"),
        _get("/nested/call", method="PUT", body=b"b=1"),
        _get("/nested/deleg"),
        _get("/nested/missing"),
        _get("/custom/ok"),
        _get("/custom/none"),
        _get("/app/h/zz"),
        _get("/app/missing"),
        _get("/unknown"),
        _get("/nowhere"),
    ]
    got = serve(impl, build_router, raws)
    want = serve(REFERENCE, build_router, raws)
    assert got == want
    assert got[0][2] == b"callable GET /call/12 b'' {'path_args': [b'12'], 'path_kwargs': {}}"
    assert got[1][2].endswith(b"{'path_args': [], 'path_kwargs': {'n': b'5'}, 'target_kwargs': {'extra': 1}}")
    assert got[2][2] == b"callable GET /anything b'' {'target_kwargs': {'host': 'yes'}}"
    assert got[3][0] == 201 and got[3][2] == b"delegate /deleg/x payload"
    assert got[4][2].startswith(b"callable PUT /nested/call b'b=1'")
    assert [r[0] for r in got[6:9]] == [404, 201, 404]
    assert got[9][2] == b"app t ('zz',) /app/h/q"
    assert got[10][0] == 404  # the application's own 404 page
    assert got[10][2].startswith(b"<html><title>404: Not Found")
    # The default 404 has no Content-Length, so an empty chunked body.
    assert got[11][0] == 404 and got[11][2] == b"0\r\n\r\n"
    assert got[12] == got[11]


# --- Application.find_handler: the rule walk (tornado_c: in C) --------------


def _delegate_summary(delegate: Any) -> Any:
    if delegate is None:
        return None
    return (
        delegate.handler_class.__name__,
        delegate.handler_kwargs,
        delegate.path_args,
        delegate.path_kwargs,
    )


def _route_app(impl: Any) -> Any:
    web = impl.web

    class Plain(web.RequestHandler):
        pass

    class Args(web.RequestHandler):
        pass

    class Named(web.RequestHandler):
        pass

    class Inner(web.RequestHandler):
        pass

    return web.Application(
        [
            (r"/", Plain),
            (r"/kw", Plain, {"x": 1}),
            (r"/items/(\d+)/([^/]*)", Args),
            (r"/opt/(\d+)?", Args),
            (r"/named/(?P<a>[^/]+)/(?P<b>.*)", Named),
            ("/nested", [(r"/nested/(.*)", Inner, {"deep": True})]),
            web.url(r"/url/(?P<n>\d+)", Named, name="numbered"),
        ],
        default_handler_class=None,
    )


ROUTE_PATHS = [
    "/", "/kw", "/items/12/a%20b", "/items/x/y", "/opt/", "/opt/7", "/named/%41/rest/of%2Fit",
    "/nested/x%2By+z", "/nested", "/url/5", "/nowhere", "/%ZZ", "",
]


@pytest.mark.parametrize("path", ROUTE_PATHS)
def test_application_find_handler(impl: Any, path: str) -> None:
    def walk(mod: Any) -> Any:
        app = _route_app(mod)
        return _outcome(lambda: _delegate_summary(app.find_handler(_request(mod, path))))

    _both(walk, impl)


_PREFIX_PATTERNS = [
    "/", "/a", r"/a\.b/(.*)", r"/ab?c/(\d+)", "/x|/y", "/x(?:yz|w)", r"(?i)/CASE/(\w+)",
    r"/p(?i:Q)r", "[/]k", r"/n{2}", r"/(?P<k>[^/]+)/z", r"/static/(.*)", r"/(favicon\.ico)",
    r"/é/(.+)", "(?x)/ s p a c e d", r"/\d+", "/tail$", r"/(a)(b)c", r"/(a(b))c+",
    r"/(?:ab)c", r"/(ab)+", r"/(a)?b", r"/(?P<k>x)/y", r"/(a|b)c", r"/(x(?i:Y))z",
]


def test_literal_prefix_never_rules_out_a_match() -> None:
    """PathMatches._literal_prefix (what the C walk checks before running
    a pattern) is a prefix of every path the pattern matches."""
    import random

    import tornado_c.routing as routing

    rng = random.Random(3)
    alphabet = ["/", "a", "b", ".", "c", "1", "x", "y", "z", "w", "k", "n", "p", "q", "Q", "r",
                "s", "CASE", "case", "é", "static", "favicon.ico", " ", "tail", "ab", "abc",
                "Y", "xYz"]
    matchers = [routing.PathMatches(p) for p in _PREFIX_PATTERNS]
    for matcher in matchers:
        regex, prefix, whole = matcher._literal_prefix
        assert regex is matcher.regex
    for _ in range(20000):
        path = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
        for matcher in matchers:
            if matcher.regex.match(path):
                assert path.startswith(matcher._literal_prefix[1]), (matcher.regex, path)


def test_literal_whole_decides_as_the_pattern() -> None:
    """For a pattern that is literal text and then "$", PathMatches notes
    the text (the C walk compares a path with it instead of running the
    pattern): a path matches exactly when it is that text, or that text and
    a newline.  Any other pattern notes None."""
    import random

    import tornado_c.routing as routing

    # ("/[a]": the parser reads a one-character class as that character)
    literal = ["/", "/a", r"/a\.b", "/tail$", "(?x)/ s p", r"/\$x", "/é/ü", "/a/b/c/", "/[a]"]
    others = ["/x|/y", r"/static/(.*)", r"(?i)/a", "(?m)/a", r"/a\Z", r"/n{2}", "/(a)",
              "/[ab]", "/a.", r"/a\b", "/a$b"]
    for pattern in literal:
        whole = routing.PathMatches(pattern)._literal_prefix[2]
        assert isinstance(whole, str), pattern
    for pattern in others:
        assert routing.PathMatches(pattern)._literal_prefix[2] is None, pattern
    rng = random.Random(5)
    alphabet = ["/", "a", ".", "b", "c", "\n", "\r", "$", "x", "é", "ü", "tail", " ", "s", "p", "A"]
    matchers = [routing.PathMatches(p) for p in literal]
    for _ in range(20000):
        path = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 7)))
        for matcher in matchers:
            whole = matcher._literal_prefix[2]
            assert bool(matcher.regex.match(path)) == (path in (whole, whole + "\n")), (
                matcher.regex, path)
    for matcher in matchers:
        whole = matcher._literal_prefix[2]
        for path in (whole, whole + "\n", whole + "\n\n", whole + "\r", whole[:-1]):
            assert bool(matcher.regex.match(path)) == (path in (whole, whole + "\n")), path


def test_literal_routes_match_as_tornado(impl: Any) -> None:
    """Literal routes are matched as Tornado matches them: exact paths, a
    final newline (which "$" allows), near misses, and a rule whose
    pattern is replaced after it was made."""

    def make_app(web: Any) -> Any:
        class H(web.RequestHandler):
            def get(self) -> None:
                self.write(type(self).__name__ + ":" + repr(self.request.path))

        names = {p: type("H" + str(i), (H,), {}) for i, p in enumerate(["/", "/a", "/a/b$"])}
        app = web.Application([(p, cls) for p, cls in names.items()])
        return app

    def walk(impl: Any) -> List[Any]:
        web = impl.mod("web")
        httputil = impl.mod("httputil")
        app = make_app(web)
        out = []
        for path in ["/", "/a", "/a/b", "/a\n", "//", "/a/", "/a/b\n", "/A", "", "/a/b/"]:
            req = httputil.HTTPServerRequest(method="GET", uri=path or "/")
            req.path = path
            delegate = app.find_handler(req)
            out.append((path, delegate.handler_class.__name__))
        # A pattern replaced on a rule's matcher: the stale literal is not used.
        routing = impl.mod("routing")
        rules = app.wildcard_router.rules
        rules[1].matcher.regex = __import__("re").compile("/b$")
        for path in ["/a", "/b"]:
            req = httputil.HTTPServerRequest(method="GET", uri=path)
            out.append((path, app.find_handler(req).handler_class.__name__))
        assert routing is not None
        return out

    _both(walk, impl)


def test_literal_prefix_reads_into_plain_groups() -> None:
    """The prefix goes on into a group without flags of its own, so a path
    that cannot match a static rule such as ``/(favicon\\.ico)`` is not run
    through its pattern."""
    import tornado_c.routing as routing

    def prefix(pattern: str) -> str:
        return routing.PathMatches(pattern)._literal_prefix[1]

    assert prefix(r"/(favicon\.ico)") == "/favicon.ico"
    assert prefix(r"/(robots\.txt)") == "/robots.txt"
    assert prefix(r"/static/(.*)") == "/static/"
    assert prefix(r"/(a)(b)c") == "/abc"
    assert prefix(r"/(a(b))c+") == "/ab"
    assert prefix(r"/(?:ab)c") == "/abc"
    assert prefix(r"/(?P<k>x)/y") == "/x/y"
    for pattern in (r"/(ab)+", r"/(a)?b", r"/(a|b)c", r"/(?i:Q)r"):
        assert prefix(pattern) == "/", pattern
    assert prefix(r"/(x(?i:Y))z") == "/x"


def test_application_routes_random_paths_as_tornado(impl: Any) -> None:
    """An application of many patterns (prefixes of every kind) routes
    random paths as Tornado does."""
    import random

    rng = random.Random(4)
    alphabet = ["/", "a", "b", ".", "c", "1", "x", "y", "z", "k", "n", "p", "Q", "r", "CASE",
                "static", "favicon.ico", "é", "%2F", "%41"]
    paths = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6)))
             for _ in range(3000)]

    def walk(mod: Any) -> Any:
        web = mod.web

        class H(web.RequestHandler):
            pass

        app = web.Application([(p, H) for p in _PREFIX_PATTERNS[1:]], static_path="/nonexistent")
        return [_outcome(lambda: _delegate_summary(app.find_handler(_request(mod, path))))
                for path in paths]

    _both(walk, impl)


def test_application_route_walk_stops_at_the_match() -> None:
    """The C walk looks at the rules up to the one that matches: a rule of
    another shape further down does not send the request to the Python
    walk; one before the match does (nothing visible has run by then)."""
    import tornado_c.routing as routing
    import tornado_c.web as web
    from tornado_c import _core

    impl = Impl("tornado_c")
    calls: List[str] = []

    class Recording(routing.Matcher):
        def match(self, request: Any) -> Any:
            calls.append(request.path)
            return None

    class Here(web.RequestHandler):
        pass

    after = web.Application([("/here", Here), routing.Rule(Recording(), web.RequestHandler)])
    before = web.Application([routing.Rule(Recording(), web.RequestHandler), ("/here", Here)])
    walked = _core._route(after.default_router, _request(impl, "/here"), web._ROUTE_ENV)
    assert walked.handler_class is Here
    assert _core._route(before.default_router, _request(impl, "/here"),
                        web._ROUTE_ENV) is NotImplemented
    assert calls == []  # neither walk asked the other matcher
    assert before.find_handler(_request(impl, "/here")).handler_class is Here
    assert calls == ["/here"]
    assert after.find_handler(_request(impl, "/else")).handler_class is web.ErrorHandler
    assert calls == ["/here", "/else"]


def test_application_route_walk_reads_targets_of_matches_only() -> None:
    """A rule's target is read when its matcher matches, as in Python: a
    rule further up with a target the C walk does not take (read or not)
    does not send the request to the Python walk unless it matches."""
    import tornado_c.routing as routing
    import tornado_c.web as web
    from tornado_c import _core

    impl = Impl("tornado_c")
    reads: List[str] = []

    class Watched(routing.Rule):
        @property  # type: ignore[override]
        def target(self) -> Any:
            reads.append(self.matcher.regex.pattern)
            return self._target

        @target.setter
        def target(self, value: Any) -> None:
            self._target = value

    class Here(web.RequestHandler):
        pass

    def odd_target(request: Any) -> None:
        pass  # (a plain callable: a target only the Python walk takes)

    app = web.Application([
        Watched(routing.PathMatches("/odd/(.*)"), odd_target),
        Watched(routing.PathMatches("/here/(.*)"), Here),
    ])
    reads.clear()  # (adding the rules looked at them)
    walked = _core._route(app.default_router, _request(impl, "/here/a%20b"), web._ROUTE_ENV)
    assert walked.handler_class is Here and walked.path_args == [b"a b"]
    assert reads == ["/here/(.*)$"]
    reads.clear()
    assert _core._route(app.default_router, _request(impl, "/odd/x"),
                        web._ROUTE_ENV) is NotImplemented
    assert reads == ["/odd/(.*)$"]


def test_application_route_walk_shapes() -> None:
    # tornado_c walks the usual router shape in C and leaves every other
    # one (and every patched or overridden step) to the Python methods.
    import tornado_c.routing as routing
    import tornado_c.web as web
    from tornado_c import _core

    impl = Impl("tornado_c")
    app = _route_app(impl)
    walked = _core._route(app.default_router, _request(impl, "/items/3/x"), web._ROUTE_ENV)
    assert _delegate_summary(walked) == ("Args", {}, [b"3", b"x"], {})
    assert _core._route(app.default_router, _request(impl, "/no"), web._ROUTE_ENV) is None

    hosted = web.Application([("/", web.RequestHandler)])
    hosted.add_handlers(r"other\.example", [("/", web.RequestHandler)])
    assert _core._route(hosted.default_router, _request(impl, "/"), web._ROUTE_ENV) is NotImplemented

    calls: List[str] = []
    originals = (
        routing.RuleRouter.find_handler,
        web._ApplicationRouter.get_target_delegate,
        routing.PathMatches.match,
    )

    def counting(name: str, original: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return original(*args, **kwargs)

        return wrapper

    try:
        routing.RuleRouter.find_handler = counting("find_handler", originals[0])  # type: ignore
        found = app.find_handler(_request(impl, "/items/3/x"))
        routing.RuleRouter.find_handler = originals[0]  # type: ignore
        web._ApplicationRouter.get_target_delegate = counting(  # type: ignore
            "get_target_delegate", originals[1]
        )
        found2 = app.find_handler(_request(impl, "/items/3/x"))
        web._ApplicationRouter.get_target_delegate = originals[1]  # type: ignore
        routing.PathMatches.match = counting("match", originals[2])  # type: ignore
        found3 = app.find_handler(_request(impl, "/items/3/x"))
    finally:
        routing.RuleRouter.find_handler = originals[0]  # type: ignore
        web._ApplicationRouter.get_target_delegate = originals[1]  # type: ignore
        routing.PathMatches.match = originals[2]  # type: ignore
    assert [_delegate_summary(f) for f in (found, found2, found3)] == [
        ("Args", {}, [b"3", b"x"], {})
    ] * 3
    assert calls.count("find_handler") == 2 and calls.count("get_target_delegate") == 2
    assert calls.count("match") >= 1

    class Counting(web.Application):
        def get_handler_delegate(self, *args: Any, **kwargs: Any) -> Any:
            calls.append("get_handler_delegate")
            return super().get_handler_delegate(*args, **kwargs)

    counted = Counting([(r"/(\w+)", web.RequestHandler, {"k": 2})])
    found4 = counted.find_handler(_request(impl, "/abc"))
    assert calls[-1] == "get_handler_delegate"
    assert _delegate_summary(found4) == ("RequestHandler", {"k": 2}, [b"abc"], {})


@pytest.mark.parametrize("path", ["/first", "/other"])
def test_application_with_a_malformed_rule(impl: Any, path: str) -> None:
    # A rule that cannot be read after one that matches: the walk stops at
    # the match, as Tornado's does, and only a request that gets that far
    # meets the broken rule (tornado_c's C walk leaves such a tree to the
    # Python one).
    def walk(mod: Any) -> Any:
        web = mod.web

        class First(web.RequestHandler):
            pass

        app = web.Application([(r"/first", First)])
        app.wildcard_router.rules.append(object())
        return _outcome(lambda: _delegate_summary(app.find_handler(_request(mod, path))))

    _both(walk, impl)


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_rules_pickle_and_copy_with_tornados_state(protocol: int) -> None:
    """Rule (and URLSpec) and PathMatches keep the attributes the route walk
    reads in __slots__ here: they still pickle with any protocol, copy, and
    give the state Tornado's slot-less classes give."""
    import copy
    import pickle

    import tornado.routing as ref_routing
    import tornado.web as ref_web

    from tornado_c import routing, web

    def state(obj: Any) -> Any:
        got = obj.__reduce_ex__(2)[2]
        return {k: (state(v) if hasattr(v, "__reduce_ex__") and isinstance(
            v, (routing.Matcher, ref_routing.Matcher)) else v) for k, v in got.items()}

    def made(r: Any, w: Any) -> List[Any]:
        spec = w.url(r"/a/(\d+)", w.RequestHandler, {"k": 1}, name="a")
        spec.extra = "x"
        return [r.Rule(r.PathMatches("/b"), w.RequestHandler, None, "b"), spec]

    ours, theirs = made(routing, web), made(ref_routing, ref_web)
    for mine, other in zip(ours, theirs):
        assert state(mine).keys() == state(other).keys()
        for obj in (mine, copy.copy(mine), copy.deepcopy(mine),
                    pickle.loads(pickle.dumps(mine, protocol))):
            assert type(obj) is type(mine)
            assert obj.matcher.regex.pattern == mine.matcher.regex.pattern
            assert obj.target is mine.target and obj.name == mine.name
            assert obj.matcher._literal_prefix[1] == mine.matcher._literal_prefix[1]
    assert pickle.loads(pickle.dumps(ours[1], protocol)).extra == "x"


def test_route_walk_honours_a_property_over_a_rule_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    """The C route walk reads Rule.matcher / .target and PathMatches.regex
    from their slots; a property put on the class in their place is used."""
    from tornado_c import httputil, routing, web

    class A(web.RequestHandler):
        pass

    class B(web.RequestHandler):
        pass

    app = web.Application([(r"/a", A)])

    def found() -> Any:
        request = httputil.HTTPServerRequest(
            method="GET", uri="/a", headers=httputil.HTTPHeaders({"Host": "x"}))
        return app.find_handler(request).handler_class

    assert found() is A
    slot = routing.Rule.target  # (a tuple in the handler list becomes a Rule)
    monkeypatch.setattr(routing.Rule, "target", property(lambda self: B))
    assert found() is B
    monkeypatch.setattr(routing.Rule, "target", slot)
    assert found() is A
    original = routing.PathMatches.regex
    monkeypatch.setattr(routing.PathMatches, "regex",
                        property(lambda self: re.compile("/nothing$")))
    assert found() is web.ErrorHandler
    monkeypatch.setattr(routing.PathMatches, "regex", original)
    assert found() is A


def test_route_walk_over_rules_of_several_classes() -> None:
    """The C walk keeps what it found out about the last rule and matcher
    classes it met for the rules that follow: a table mixing Rule classes
    (one reading matcher through a property), PathMatches and a subclass of
    it with its own match is walked as the Python walk walks it."""
    import tornado_c.routing as routing
    import tornado_c.web as web
    from tornado_c import _core

    impl = Impl("tornado_c")
    seen: List[str] = []

    class Plain(routing.Rule):
        pass

    class Watched(routing.Rule):
        @property  # type: ignore[override]
        def matcher(self) -> Any:
            seen.append(self._matcher.regex.pattern)
            return self._matcher

        @matcher.setter
        def matcher(self, value: Any) -> None:
            self._matcher = value

    class Prefix(routing.PathMatches):
        def match(self, request: Any) -> Any:
            seen.append("Prefix.match")
            return super().match(request)

    handlers = {name: type(name, (web.RequestHandler,), {}) for name in "ABCDE"}
    app = web.Application([
        routing.Rule(routing.PathMatches("/a"), handlers["A"]),
        Plain(routing.PathMatches("/b"), handlers["B"]),
        Watched(routing.PathMatches("/c"), handlers["C"]),
        routing.Rule(routing.PathMatches("/d/(.*)"), handlers["D"]),
        Plain(routing.PathMatches("/e"), handlers["E"]),
    ])
    tail = web.Application([
        Plain(routing.PathMatches("/e"), handlers["E"]),
        routing.Rule(Prefix("/p"), handlers["A"]),
    ])
    for path, name in (("/a", "A"), ("/b", "B"), ("/c", "C"), ("/d/x", "D"), ("/e", "E")):
        seen.clear()
        walked = _core._route(app.default_router, _request(impl, path), web._ROUTE_ENV)
        assert walked.handler_class is handlers[name], path
        assert seen == (["/c$"] if name in "CDE" else []), path
        assert app.find_handler(_request(impl, path)).handler_class is handlers[name]
    assert _core._route(app.default_router, _request(impl, "/z"), web._ROUTE_ENV) is None
    seen.clear()
    assert _core._route(tail.default_router, _request(impl, "/e"),
                        web._ROUTE_ENV).handler_class is handlers["E"]
    assert _core._route(tail.default_router, _request(impl, "/p"),
                        web._ROUTE_ENV) is NotImplemented
    assert tail.find_handler(_request(impl, "/p")).handler_class is handlers["A"]
    assert seen == ["Prefix.match"]
