"""The native server's Application path (csrc/handler.c) against the Python one.

While `Application.find_handler`, `get_handler_delegate` and
`_HandlerDelegate`'s methods are web.py's own, the native HTTP/1 server does
their work in C.  These tests serve the same requests through the C path,
through the Python path (forced by replacing one of those functions with a
wrapper that calls the original) and through Tornado, and require the same
responses, log lines and handler-visible state; ``_core._web_counts()`` shows
which path ran.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import os
import socket
from typing import Any, Callable, Dict, List, Tuple

import pytest

from conftest import Impl
from test_web import _Capture, _parse_response, _send, request

REFERENCE = Impl("tornado")
NATIVE = Impl("tornado_c")


def _native_loop() -> asyncio.AbstractEventLoop:
    import tornado_c

    return tornado_c.new_event_loop()


def build(web: Any, seen: List[Any], **settings: Any) -> Any:
    class Hello(web.RequestHandler):
        def initialize(self, word: str = "Hello") -> None:
            self.word = word

        def get(self, *args: str, **kwargs: str) -> None:
            seen.append((type(self).__name__, self.path_args, self.path_kwargs,
                         asyncio.current_task() is not None))
            self.write(f"{self.word} {args} {sorted(kwargs.items())}")
            if self.get_query_argument("long", None):
                self.write("." * 2000)

        def post(self, *args: str) -> None:
            body = self.request.body
            self.write(repr((len(body), body[:20], body[-5:],
                             sorted(self.request.body_arguments.items()),
                             self.get_argument("a", None))))

        def head(self, *args: str) -> None:
            self.set_header("X-Head", "1")

    class Async(web.RequestHandler):
        async def get(self) -> None:
            await asyncio.sleep(0)
            self.write("async")

    class Boom(web.RequestHandler):
        def initialize(self) -> None:
            raise ValueError("boom in initialize")

    class Fails(web.RequestHandler):
        def get(self) -> None:
            raise web.HTTPError(403, "nope")

    @web.stream_request_body
    class Streamed(web.RequestHandler):
        def prepare(self) -> None:
            self.pieces: List[bytes] = []

        def data_received(self, chunk: bytes) -> None:
            self.pieces.append(chunk)

        def put(self) -> None:
            self.write(b"|".join(self.pieces))

    return web.Application(
        [
            ("/", Hello),
            ("/w", Hello, {"word": "Bye"}),
            (r"/p/(\d+)/([^/]+)", Hello),
            (r"/k/(?P<a>\d+)/(?P<b>\w+)", Hello),
            ("/async", Async),
            ("/boom", Boom),
            ("/fails", Fails),
            ("/stream", Streamed),
        ],
        **settings,
    )


REQUESTS = [
    request("GET", "/"),
    request("GET", "/w"),
    request("GET", "/p/12/ab%20c%C3%A9"),
    request("GET", "/k/7/x"),
    request("POST", "/?a=q", {"Content-Type": "application/x-www-form-urlencoded"}, b"a=1&b=2"),
    request("POST", "/", {"Content-Type": "application/octet-stream"},
            bytes(range(256)) * 400),  # more than chunk_size: given whole
    request("HEAD", "/"),
    request("GET", "/async"),
    request("GET", "/fails"),
    request("GET", "/missing"),
    request("PUT", "/stream", {"Transfer-Encoding": "chunked"}, b""),
    request("GET", "/boom"),
]
# (PUT /stream: the chunked body is added below; request() adds a
# Content-Length for PUT, which the chunked form replaces.)
REQUESTS[10] = (
    b"PUT /stream HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
)

Result = Tuple[List[Any], List[Tuple[str, str, str]], List[Any]]


def serve(impl: Impl, raws: List[bytes], native: bool = True,
          make_app: Callable[..., Any] = build, **settings: Any) -> Result:
    """Serve make_app(web, seen, **settings) (build() unless given) on impl
    and send each raw request on its own connection: the parsed responses
    (None for a closed connection), the tornado.* log lines and what the
    handlers saw."""
    web = impl.mod("web")
    httpserver = impl.mod("httpserver")
    seen: List[Any] = []
    capture = _Capture()
    loggers = [logging.getLogger(n) for n in ("tornado.access", "tornado.application",
                                                "tornado.general")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(capture)
        lg.setLevel(logging.DEBUG)

    async def main() -> List[Any]:
        server = httpserver.HTTPServer(make_app(web, seen, **settings))
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.setblocking(False)
        server.add_sockets([sock])
        try:
            out = []
            for raw in raws:
                data = await _send(sock.getsockname()[1], raw)
                out.append(_parse_response(data) if data else None)
                for _ in range(3):
                    await asyncio.sleep(0)
            return out
        finally:
            server.stop()
            await server.close_all_connections()

    loop = _native_loop() if native else asyncio.new_event_loop()
    try:
        responses = loop.run_until_complete(main())
    finally:
        loop.close()
        for lg, level in zip(loggers, levels):
            lg.removeHandler(capture)
            lg.setLevel(level)
    return responses, capture.lines, seen


def counts() -> Tuple[int, int, int]:
    from tornado_c import _core

    return _core._web_counts()


def test_native_application_path_matches_tornado() -> None:
    """Every request kind: the C path answers, logs and shows the handlers
    exactly what Tornado does, and is the path taken."""
    before = counts()
    got = serve(NATIVE, REQUESTS)
    after = counts()
    want = serve(REFERENCE, REQUESTS, native=False)
    assert got[0] == want[0]
    assert got[1] == want[1]
    assert got[2] == want[2]
    assert got[0][-1] is None  # /boom: the connection is dropped, as in Tornado
    # Delegates made in C for every routed request (the 404 included) and
    # execute() run in C for all but the streaming handler (and /boom, whose
    # handler never comes to be).
    assert after[0] - before[0] == len(REQUESTS)
    assert after[1] - before[1] == len(REQUESTS) - 2


@pytest.mark.parametrize("settings", [
    {"compress_response": True},
    {"default_handler_class": "Fails"},
    {"compiled_template_cache": False},
    {"static_hash_cache": False},
])
def test_native_application_path_settings(settings: Dict[str, Any]) -> None:
    """Settings execute() and find_handler() read: output transforms,
    default_handler_class / default_handler_args and debug mode's cache
    resets give Tornado's responses."""
    raws = [request("GET", "/?long=1", {"Accept-Encoding": "gzip"}), request("GET", "/missing"),
            request("GET", "/k/1/z", {"Accept-Encoding": "gzip"})]

    def run(impl: Impl, native: bool) -> Result:
        web = impl.mod("web")
        opts = dict(settings)
        if opts.get("default_handler_class") == "Fails":
            class Teapot(web.RequestHandler):
                def initialize(self, code: int) -> None:
                    self.code = code

                def prepare(self) -> None:
                    raise web.HTTPError(self.code)

            opts.update(default_handler_class=Teapot, default_handler_args={"code": 418})
        return serve(impl, raws, native, **opts)

    got, want = run(NATIVE, True), run(REFERENCE, False)
    assert got == want
    if settings.get("compress_response"):
        assert gzip.decompress(got[0][0][3]) == b"Hello () []" + b"." * 2000


def _wrappers(web: Any) -> Dict[str, Tuple[Any, str, Callable[[Any, List[str]], Any]]]:
    """name -> (owner, attribute, make(original, calls)): a wrapper that
    records its call and calls the original."""
    def method(name: str) -> Callable[[Any, List[str]], Any]:
        def make(original: Any, calls: List[str]) -> Any:
            def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
                calls.append(name)
                return original(self, *args, **kwargs)
            return wrapper
        return make

    hd = web._HandlerDelegate
    return {
        "find_handler": (web.Application, "find_handler", method("find_handler")),
        "get_handler_delegate": (web.Application, "get_handler_delegate",
                                 method("get_handler_delegate")),
        "HD.__init__": (hd, "__init__", method("HD.__init__")),
        "HD.headers_received": (hd, "headers_received", method("HD.headers_received")),
        "HD.data_received": (hd, "data_received", method("HD.data_received")),
        "HD.finish": (hd, "finish", method("HD.finish")),
        "HD.execute": (hd, "execute", method("HD.execute")),
        "HD._whole_body": (hd, "_whole_body",
                           lambda original, calls: property(
                               lambda self: (calls.append("HD._whole_body"),
                                             original.fget(self))[1])),
        "ErrorHandler": (web, "ErrorHandler",
                         lambda original, calls: type("ErrorHandler", (original,), {
                             "initialize": lambda self, status_code: (
                                 calls.append("ErrorHandler"),
                                 original.initialize(self, status_code))[1]})),
        "_start_execute": (web, "_start_execute",
                           lambda original, calls: lambda work: (
                               calls.append("_start_execute"), original(work))[1]),
        # (The C path asks the loop running the request instead, while this
        # is asyncio.get_running_loop.)
        "_get_running_loop": (web, "_get_running_loop",
                              lambda original, calls: lambda: (
                                  calls.append("_get_running_loop"), original())[1]),
    }


@pytest.mark.parametrize("name", list(_wrappers(Impl("tornado_c").web)))
def test_native_application_path_calls_patches(name: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A function the C path stands in for, once replaced (instrumentation
    does this), is called for every request that reaches it, and the
    responses do not change."""
    web = NATIVE.web
    owner, attr, make = _wrappers(web)[name]
    original = owner.__dict__[attr] if isinstance(owner, type) else getattr(owner, attr)
    calls: List[str] = []
    plain = serve(NATIVE, REQUESTS)
    monkeypatch.setattr(owner, attr, make(original, calls))
    patched = serve(NATIVE, REQUESTS)
    assert patched == plain
    expected = {
        # Everything routed, the 404 included.
        "find_handler": len(REQUESTS),
        "get_handler_delegate": len(REQUESTS),
        "HD.__init__": len(REQUESTS),
        "HD.headers_received": len(REQUESTS),
        # Bodies: the two POSTs (one piece each) and the streamed PUT's two
        # chunks.
        "HD.data_received": 4,
        "HD.finish": len(REQUESTS),
        # The streamed PUT's execute() runs from headers_received.
        "HD.execute": len(REQUESTS),
        # Asked by the engine for a body over chunk_size (the big POST).
        "HD._whole_body": 1,
        "ErrorHandler": 1,
        # (A private helper: the C path runs the usual case -- a coroutine
        # on a loop with _eager_task -- itself; the streamed PUT's execute()
        # is Python's.)
        "_start_execute": 1,
        # Every handler's _execute but /boom's (whose handler never comes
        # to be).
        "_get_running_loop": len(REQUESTS) - 1,
    }[name]
    assert len(calls) == expected, calls


def test_native_application_path_for_subclass_override() -> None:
    """An Application subclass that overrides find_handler gets its
    override called; get_handler_delegate overridden likewise."""
    web = NATIVE.web
    calls: List[str] = []

    class Routed(web.Application):
        def find_handler(self, request: Any, **kwargs: Any) -> Any:
            calls.append(request.path)
            return super().find_handler(request, **kwargs)

        def get_handler_delegate(self, request: Any, target_class: Any,
                                 target_kwargs: Any = None, path_args: Any = None,
                                 path_kwargs: Any = None) -> Any:
            calls.append(target_class.__name__)
            return super().get_handler_delegate(request, target_class, target_kwargs,
                                                path_args, path_kwargs)

    class Hello(web.RequestHandler):
        def get(self) -> None:
            self.write("hi")

    before = counts()
    (response,), _, _ = serve(NATIVE, [request("GET", "/")],
                              make_app=lambda web, seen: Routed([("/", Hello)]))
    assert response[3] == b"hi"
    assert calls == ["/", "Hello"]
    assert counts()[0] == before[0]  # the override made the delegate
    assert counts()[1] == before[1] + 1


def test_native_delegate_attributes_match_python() -> None:
    """The _HandlerDelegate made in C has __init__'s attributes, with its
    values."""
    from tornado_c import httputil, web

    class Hello(web.RequestHandler):
        def get(self) -> None:
            pass

    app = web.Application([
        (r"/(\d+)", Hello, {"x": 1}),
        (r"/n/(?P<k>\w+)", Hello),
        (r"/plain", Hello),
    ])

    class Conn:
        context = None

    cases = [("/5", {"x": 1}, [b"5"], {}), ("/n/v", None, [], {"k": b"v"}),
             ("/plain", None, [], {})]
    for uri, target_kwargs, path_args, path_kwargs in cases:
        req = httputil.HTTPServerRequest(method="GET", uri=uri, connection=Conn())  # type: ignore
        before = counts()[0]
        found = web._route(app.default_router, req, web._ROUTE_ENV)
        assert counts()[0] == before + 1
        reference = web._HandlerDelegate(app, req, Hello, target_kwargs, path_args, path_kwargs)

        def state(delegate: Any) -> Any:
            # __init__'s attributes are slots (stored into from C): each is
            # set, none is in __dict__, and handler is not set yet.
            assert not hasattr(delegate, "handler")
            return ({name: getattr(delegate, name)
                     for name in web._HandlerDelegate.__slots__ if name != "handler"},
                    vars(delegate))

        assert state(found) == state(reference)
        assert state(found)[1] == {}
        assert type(found) is web._HandlerDelegate


def test_native_delegate_honours_a_property_over_a_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    """handler.c stores into and reads _HandlerDelegate's slots; a property
    put on the class in place of one is what it goes through."""
    from tornado_c import web

    def make_app(web: Any, seen: List[Any]) -> Any:
        class Kw(web.RequestHandler):
            def initialize(self, **kwargs: Any) -> None:
                seen.append(kwargs)

            def get(self) -> None:
                self.write("ok")

        return web.Application([(r"/", Kw, {"a": 1})])

    raw = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    responses, _, seen = serve(Impl("tornado_c"), [raw], make_app=make_app)
    assert seen == [{"a": 1}] and responses[0][0] == 200
    stored: List[Any] = []
    slot = web._HandlerDelegate.handler_kwargs

    def set_kwargs(self: Any, value: Any) -> None:
        stored.append(value)
        self.__dict__["kw"] = value

    monkeypatch.setattr(web._HandlerDelegate, "handler_kwargs",
                        property(lambda self: dict(self.__dict__["kw"], b=2), set_kwargs))
    responses, _, seen = serve(Impl("tornado_c"), [raw], make_app=make_app)
    assert stored == [{"a": 1}] and seen == [{"a": 1, "b": 2}] and responses[0][0] == 200
    monkeypatch.setattr(web._HandlerDelegate, "handler_kwargs", slot)
    responses, _, seen = serve(Impl("tornado_c"), [raw], make_app=make_app)
    assert seen == [{"a": 1}] and stored == [{"a": 1}]


def _handler_slots(handler: Any) -> List[str]:
    base = next(c for c in type(handler).__mro__ if c.__name__ == "RequestHandler")
    return [name for name in getattr(base, "__slots__", ()) if not name.startswith("__")]


def _present(handler: Any) -> List[str]:
    """The names of the handler's attributes set so far, slots included."""
    return sorted([n for n in _handler_slots(handler) if hasattr(handler, n)] + list(vars(handler)))


def _snapshot(handler: Any) -> Tuple[List[str], Dict[str, Any]]:
    # The handler's attributes, in order; the objects made per request by
    # their type and contents (the Date by its presence).
    snap: Dict[str, Any] = {}
    # __init__'s and clear()'s attributes are slots; the rest in __dict__.
    attributes = {name: getattr(handler, name) for name in _handler_slots(handler)}
    attributes.update(vars(handler))
    for key, value in attributes.items():
        if key == "_headers":
            fields = dict(value._dict)
            fields["Date"] = "*" if "Date" in fields else None
            lists = {k: (["*"] if k == "Date" else v) for k, v in value._as_list.items()}
            value = (type(value), fields, lists, value._last_key)
        elif key in ("request", "application"):
            value = type(value)
        snap[key] = value
    return list(attributes), snap


def _probe_app(web: Any, seen: List[Any], **settings: Any) -> Any:
    class Probe(web.RequestHandler):
        def get(self) -> None:
            seen.append(_snapshot(self))
            self.write("ok")

    class Kw(Probe):
        def initialize(self, a: int) -> None:
            self.a = a

    class Defaults(Probe):
        def set_default_headers(self) -> None:
            self.set_header("X-Default", "1")
            seen.append(("set_default_headers", _present(self)))

    return web.Application([("/", Probe), ("/kw", Kw, {"a": 1}), ("/d", Defaults)],
                           **settings)


PROBES = [request("GET", "/"), request("GET", "/kw"), request("GET", "/d")]


def test_native_handler_init_matches_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """A handler made in C (RequestHandler.__init__ and clear()) has the
    attributes Python's __init__ gives it, in the same order, and the
    same responses; initialize(**kwargs) and set_default_headers() are
    called at the same points."""
    web = NATIVE.web
    before = counts()[2]
    native = serve(NATIVE, PROBES, make_app=_probe_app)
    assert counts()[2] == before + len(PROBES)
    original = web.RequestHandler.clear
    monkeypatch.setattr(web.RequestHandler, "clear", lambda self: original(self))
    python = serve(NATIVE, PROBES, make_app=_probe_app)
    assert counts()[2] == before + len(PROBES)  # clear() replaced: Python's __init__
    assert native == python
    reference = serve(REFERENCE, PROBES, native=False, make_app=_probe_app)
    assert native[0] == reference[0]


def test_native_handler_init_honours_replacements(monkeypatch: pytest.MonkeyPatch) -> None:
    """An __init__ in the handler class or in a class after RequestHandler
    in its MRO is called (so the C construction steps aside), and web's
    ``time`` is what dates the response."""
    calls: List[str] = []

    def make_app(web: Any, seen: List[Any]) -> Any:
        class Mixin:
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                calls.append("mixin")
                super().__init__(*args, **kwargs)

        class AfterMixin(web.RequestHandler, Mixin):
            def get(self) -> None:
                self.write("mixin")

        class OwnInit(web.RequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                calls.append("own")
                super().__init__(*args, **kwargs)

            def get(self) -> None:
                self.write("own")

        return web.Application([("/mixin", AfterMixin), ("/own", OwnInit)])

    before = counts()[2]
    responses, _, _ = serve(NATIVE, [request("GET", "/mixin"), request("GET", "/own")],
                            make_app=make_app)
    assert [r[3] for r in responses] == [b"mixin", b"own"]
    assert calls == ["mixin", "own"]
    assert counts()[2] == before

    class FakeTime:
        @staticmethod
        def time() -> float:
            return 1234567890.5

    web = NATIVE.web
    monkeypatch.setattr(web, "time", FakeTime)
    (response,), _, _ = serve(NATIVE, [request("GET", "/")], make_app=_probe_app)
    assert counts()[2] == before + 1
    dated = [v for k, v in response[2] if k == "Date"]
    assert dated == ["*"]  # (normalised by the parser; the value is checked below)
    assert web._date_cache == [1234567890, "Fri, 13 Feb 2009 23:31:30 GMT"]


@pytest.mark.parametrize(
    "now, cached, reused",
    [
        (1234567890.0, 1234567890, True),
        (1234567890.999, 1234567890, True),
        (1234567891.0, 1234567890, False),
        (1234567889.999, 1234567890, False),
        (-0.5, 0, True),  # (int(-0.5) is 0: the short way leaves it to int())
        (-0.5, -1, False),
        (5.0, True, False),  # (an int subclass in the cache: compared as Python does)
        (7.0, 2**80, False),
    ],
)
def test_date_cache_second(monkeypatch: pytest.MonkeyPatch, now: float, cached: Any,
                           reused: bool) -> None:
    """The Date a new handler's headers start with: web._date_cache's text
    while int(time.time()) equals its second (compared without making the
    int), else format_timestamp's, stored back with the new second."""
    web = NATIVE.web
    monkeypatch.setattr(web, "time", type("T", (), {"time": staticmethod(lambda: now)}))
    monkeypatch.setattr(web, "_date_cache", [cached, "Cached, 01 Jan 2000 00:00:00 GMT"])

    def make_app(web: Any, seen: List[Any]) -> Any:
        class H(web.RequestHandler):
            def get(self) -> None:
                seen.append(self._headers["Date"])

        return web.Application([("/", H)])

    _, _, seen = serve(NATIVE, [request("GET", "/")], make_app=make_app)
    if reused:
        assert seen == ["Cached, 01 Jan 2000 00:00:00 GMT"]
        assert web._date_cache == [cached, seen[0]]
    else:
        want = NATIVE.mod("httputil").format_timestamp(now)
        assert seen == [want] and web._date_cache == [int(now), want]


def _header_handler(web: Any) -> Any:
    from tornado_c import httputil

    class Conn:
        context = None

        def set_close_callback(self, callback: Any) -> None:
            pass

    app = web.Application()
    req = httputil.HTTPServerRequest(method="GET", uri="/", connection=Conn())  # type: ignore
    handler = web.RequestHandler(app, req)
    # Two handlers made a moment apart may straddle a second (slow builds):
    # the Date clear() set is not what is compared.
    handler._headers["Date"] = "(the same)"
    return handler


def _outcome(action: Callable[[], Any], handler: Any) -> Any:
    try:
        action()
    except Exception as e:
        return (type(e), e.args)
    return (dict(handler._headers._dict), {k: list(v) for k, v in handler._headers._as_list.items()})


def test_set_header_matches_python() -> None:
    """set_header's C step gives the headers (or the exception) that
    ``self._headers[name] = self._convert_header_value(value)`` gives, for
    every character in a value and the other value types."""
    import datetime

    from tornado_c import _core, web

    values: List[Any] = [chr(c) for c in range(0x180)] + [
        "", "text/html; charset=UTF-8", "a\tb", "caf\u00e9", "\u20ac", "x\r\nInjected: 1",
        0, 7, -12, 10**30, True, False, 1.5, b"bytes", b"\x00", bytearray(b"b"), None,
        datetime.datetime(2020, 1, 2, 3, 4, 5), type("S", (str,), {})("sub"),
    ]
    names = ["Content-Type", "x-custom-NAME", "etag", "", "a-b-c"]
    for name in names:
        for value in values:
            native, python = _header_handler(web), _header_handler(web)

            def python_way() -> None:
                python._headers[name] = python._convert_header_value(value)

            def native_way() -> None:
                if _core._set_header(native, name, value) is NotImplemented:
                    native.set_header(name, value)

            assert _outcome(native_way, native) == _outcome(python_way, python), (name, value)
            assert _outcome(lambda: native.set_header(name, value), native) == \
                _outcome(python_way, python), (name, value)


def test_set_header_calls_replacements(monkeypatch: pytest.MonkeyPatch) -> None:
    """A replaced _convert_header_value, HTTPHeaders.__setitem__ or
    httputil._normalize_header is called by set_header."""
    from tornado_c import httputil, web

    calls: List[str] = []
    convert = web.RequestHandler._convert_header_value
    setitem = httputil.HTTPHeaders.__setitem__
    normalize = httputil._normalize_header
    patches = [
        (web.RequestHandler, "_convert_header_value",
         lambda self, v: (calls.append("convert"), convert(self, v))[1]),
        (httputil.HTTPHeaders, "__setitem__",
         lambda self, k, v: (calls.append("setitem"), setitem(self, k, v))[1]),
        (httputil, "_normalize_header",
         lambda n: (calls.append("normalize"), normalize(n))[1]),
    ]
    for owner, attr, replacement in patches:
        with monkeypatch.context() as m:
            m.setattr(owner, attr, replacement)
            handler = _header_handler(web)
            calls.clear()
            handler.set_header("x-one", "1")
            assert calls, attr
            assert handler._headers["X-One"] == "1"


def _status_app(web: Any, seen: List[Any], **settings: Any) -> Any:
    class Status(web.RequestHandler):
        def get(self, code: str) -> None:
            self.set_status(int(code))
            if int(code) >= 200 and int(code) not in (204, 304):
                self.write("x")

    class Claims(Status):
        def get_status(self) -> int:
            seen.append("get_status")
            return 500

    return web.Application([(r"/s/(\d+)", Status), (r"/claims/(\d+)", Claims)], **settings)


STATUS_REQUESTS = [request("GET", f"/s/{code}") for code in (200, 302, 399, 400, 404, 499, 500, 503)]
STATUS_REQUESTS.append(request("GET", "/claims/200"))


@pytest.mark.parametrize("level", [logging.DEBUG, logging.WARNING, logging.CRITICAL])
def test_log_request_matches_tornado(level: int) -> None:
    """The access line (its level, text and whether it is written) is
    Tornado's for every status class, with the handler's own get_status
    deciding the level."""
    access = logging.getLogger("tornado.access")

    def run(impl: Impl, native: bool) -> Result:
        # (serve() sets DEBUG on the loggers: the lines are filtered here.)
        got = serve(impl, STATUS_REQUESTS, native, make_app=_status_app)
        lines = [line for line in got[1]
                 if line[0] != "tornado.access" or logging.getLevelName(line[1]) >= level]
        return got[0], lines, got[2]

    assert access.level == logging.NOTSET
    got, want = run(NATIVE, True), run(REFERENCE, False)
    assert got[:2] == want[:2]
    # Tornado asks get_status() once per comparison and again for the line;
    # tornado_c once (docs/compatibility.md).
    assert got[2] == ["get_status"] and want[2] == ["get_status"] * 3


def test_log_request_calls_replacements(monkeypatch: pytest.MonkeyPatch) -> None:
    """A replaced Application.log_request, a log_function setting and
    a disabled tornado.access logger are honoured."""
    web = NATIVE.web
    calls: List[Any] = []
    original = web.Application.log_request
    monkeypatch.setattr(web.Application, "log_request",
                        lambda self, handler: (calls.append(handler.get_status()),
                                               original(self, handler))[1])
    responses, lines, _ = serve(NATIVE, STATUS_REQUESTS[:3], make_app=_status_app)
    assert calls == [200, 302, 399]
    assert [line[0] for line in lines] == ["tornado.access"] * 3
    monkeypatch.undo()
    calls.clear()
    _, lines, _ = serve(NATIVE, STATUS_REQUESTS[:2], make_app=_status_app,
                        log_function=lambda handler: calls.append(("fn", handler.get_status())))
    assert calls == [("fn", 200), ("fn", 302)]
    assert lines == []

    class Quiet(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            calls.append("emitted")
            return True

    access = logging.getLogger("tornado.access")
    access.addFilter(Quiet())
    try:
        calls.clear()
        monkeypatch.setattr(access, "isEnabledFor", lambda level: level >= logging.ERROR)
        _, lines, _ = serve(NATIVE, STATUS_REQUESTS, make_app=_status_app)
    finally:
        access.filters.clear()
    # Only the 5xx lines (and /claims, whose get_status says 500) are made.
    assert [line[2].split()[0] for line in lines if line[0] == "tornado.access"] == \
        ["500", "503", "500"]
    assert calls == ["emitted"] * 3


def _logger_app(web: Any, seen: List[Any], **settings: Any) -> Any:
    access = logging.getLogger("tornado.access")

    class Level(web.RequestHandler):
        def get(self, how: str, value: str) -> None:
            if how == "level":
                access.setLevel(int(value))  # (clears the logger's cache)
            else:
                access.disabled = bool(int(value))
            self.set_status(int(self.get_query_argument("status", "200")))

    return web.Application([(r"/(level|disabled)/(\d+)", Level)], **settings)


def test_log_request_follows_the_loggers_state() -> None:
    """Levels set and the logger disabled or enabled between (and during)
    requests decide each access line as on Tornado."""
    access = logging.getLogger("tornado.access")
    raws = [request("GET", path) for path in (
        "/level/10", "/level/30", "/level/30?status=404", "/level/20?status=302",
        "/disabled/1", "/disabled/1?status=500", "/disabled/0?status=500", "/level/40?status=404",
        "/level/40?status=503", "/level/10")]

    def run(impl: Impl, native: bool) -> Result:
        try:
            return serve(impl, raws, native, make_app=_logger_app)
        finally:
            access.disabled = False
            access.setLevel(logging.NOTSET)

    got, want = run(NATIVE, True), run(REFERENCE, False)
    assert got[1] == want[1]
    assert [line[2].split()[0] for line in got[1] if line[0] == "tornado.access"] == \
        ["200", "404", "302", "500", "503", "200"]


def test_log_request_asks_other_loggers(monkeypatch: pytest.MonkeyPatch) -> None:
    """An access logger whose isEnabledFor is its class's own, whose
    disabled flag is a property, or whose cache is not a dict, decides
    the line as it would when asked in Python."""
    web = NATIVE.web
    asked: List[Any] = []

    class Asking(logging.Logger):
        def isEnabledFor(self, level: int) -> bool:
            asked.append(level)
            return level >= logging.WARNING

    class Flagged(logging.Logger):
        off = False

        @property  # type: ignore[override]
        def disabled(self) -> bool:
            asked.append("disabled")
            return self.off

        @disabled.setter
        def disabled(self, value: bool) -> None:
            pass

    class Cache(dict):  # type: ignore[type-arg]
        def __getitem__(self, level: int) -> bool:
            asked.append(("cache", level))
            return level >= logging.ERROR

    class Emitted(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            asked.append(record.getMessage().split()[0])

    def run(logger: logging.Logger) -> None:
        logger.addHandler(Emitted())
        logger.propagate = False
        monkeypatch.setattr(web, "access_log", logger)
        asked.clear()
        serve(NATIVE, STATUS_REQUESTS[:6], make_app=_status_app)

    run(Asking("a"))
    # (Logger.warning asks again before it makes the record.)
    assert asked == [20, 20, 20] + [30, 30, "400", 30, 30, "404", 30, 30, "499"]
    flagged = Flagged("f")
    run(flagged)
    assert [a for a in asked if a != "disabled"] == ["200", "302", "399", "400", "404", "499"]
    flagged.off = True
    run(flagged)
    assert asked == ["disabled"] * 6
    cached = logging.Logger("c")
    cached._cache = Cache()  # type: ignore[attr-defined]
    run(cached)
    assert asked == [("cache", 20)] * 3 + [("cache", 30)] * 3
    asked.clear()
    cached = logging.Logger("c")
    cached.isEnabledFor = lambda level: asked.append(("own", level)) or False  # type: ignore
    run(cached)
    assert asked == [("own", 20)] * 3 + [("own", 30)] * 3


def _finish_app(web: Any, seen: List[Any], **settings: Any) -> Any:
    class Finishing(web.RequestHandler):
        def get(self, case: str) -> None:
            q = self.get_query_argument
            if case == "len":
                # A body of n bytes: Etags across SHA-1's block boundaries.
                n = int(q("n"))
                self.write(bytes((i * 7 + n) % 256 for i in range(n)))
            elif case == "pieces":
                self.write("a")
                self.write(b"bc")
                self.write({"d": [1, 2]})
            elif case == "status":
                self.set_status(int(q("code")))
                if q("body", None):
                    self.write("body")
            elif case == "cookie":
                self.set_cookie("a", "1")
                self.set_cookie("b", "2", path="/x", httponly=True)
                self.write("cookies")
            elif case == "preset":
                self.set_header("Etag", '"mine"')
                self.set_header("Content-Length", "3")
                self.write("abc")
            elif case == "chunk":
                self.finish("given to finish")
                seen.append(self._finished)
            elif case == "chunkdict":
                self.write(b"[")
                self.finish({"a": [1, "</"]})
                seen.append(self._finished)
            elif case == "chunktwice":
                self.finish(b"once")
                try:
                    self.finish(b"twice")
                except RuntimeError as e:
                    seen.append(str(e))
            elif case == "twice":
                self.finish()
                try:
                    self.finish()
                except RuntimeError as e:
                    seen.append(str(e))
            elif case == "reason":
                self.set_status(299, "Fine")
                self.write("r")

        def head(self, case: str) -> None:
            self.write("head body")

        def post(self, case: str) -> None:
            self.write("posted")

        def on_connection_close(self) -> None:
            seen.append("closed")

    return web.Application([(r"/(\w+)", Finishing)], **settings)


FINISH_REQUESTS = (
    [request("GET", f"/len?n={n}") for n in (0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 511, 512,
                                              513, 4000)]
    + [
        request("GET", "/pieces"),
        request("GET", "/status?code=204"),
        request("GET", "/status?code=304"),
        request("GET", "/status?code=404&body=1"),
        request("GET", "/status?code=201&body=1"),
        request("GET", "/status?code=204&body=1"),  # an assertion: a 500
        request("GET", "/cookie"),
        request("GET", "/preset"),
        request("GET", "/chunk"),
        request("GET", "/chunkdict"),
        request("GET", "/chunkdict", {"If-None-Match": '"fcdf47b91c1e22659843831ab851f5f1937cea4e"'}),
        request("GET", "/chunktwice"),
        request("GET", "/twice"),
        request("GET", "/reason"),
        request("HEAD", "/any"),
        request("POST", "/any", {"Content-Type": "text/plain"}, b"x"),
        request("GET", "/len?n=5", {"If-None-Match": '"0c0cc37fc0e40e89a2a9e1f3a3b1a1bd92e02e3a"'}),
        request("GET", "/len?n=3", {"If-None-Match": "*"}),
        request("GET", "/len?n=3", {"If-None-Match": 'W/"nomatch", "other"'}),
    ]
)


def test_finish_matches_tornado() -> None:
    """finish()'s C step gives Tornado's responses, log lines and handler
    state: Etags (body lengths around SHA-1's blocks), If-None-Match and 304s, bodiless statuses, cookies,
    preset headers, HEAD, finish(chunk) and finish() twice."""
    got = serve(NATIVE, FINISH_REQUESTS, make_app=_finish_app)
    want = serve(REFERENCE, FINISH_REQUESTS, native=False, make_app=_finish_app)
    assert got[0] == want[0]
    assert got[1] == want[1]
    assert got[2] == want[2]


def test_finish_etag_matches_hashlib() -> None:
    """The Etag finish() sets is the SHA-1 of the body, in hex between
    quotes, and Content-Length its length, for bodies of many lengths."""
    import hashlib

    from tornado_c import web

    class Fake:
        def __init__(self) -> None:
            self.sent: List[Any] = []

        def set_close_callback(self, callback: Any) -> None:
            pass

        def write_headers(self, start_line: Any, headers: Any, chunk: bytes) -> None:
            self.sent.append((start_line, headers, chunk))

        def finish(self) -> None:
            pass

    app = web.Application(log_function=lambda handler: None)
    for n in list(range(0, 200)) + [511, 512, 513, 1000]:
        body = bytes((i * 31 + n) % 256 for i in range(n))
        conn = Fake()
        req = NATIVE.mod("httputil").HTTPServerRequest(method="GET", uri="/", connection=conn)
        handler = web.RequestHandler(app, req)
        handler._transforms = []
        handler.write(body)
        handler.finish()
        ((line, headers, chunk),) = conn.sent
        assert chunk == body
        assert headers["Etag"] == '"%s"' % hashlib.sha1(body).hexdigest(), n
        assert headers["Content-Length"] == str(n)
        assert handler._finished


def test_sha1_hex_matches_hashlib() -> None:
    """The SHA-1 finish() uses for short bodies (csrc/sha1.c) is hashlib's,
    for every length around the padding boundaries and beyond, and for any
    byte value -- both through the CPU's SHA extensions (where it has them)
    and the portable rounds."""
    import hashlib
    import random

    from tornado_c import _core

    rng = random.Random(11)
    for n in list(range(0, 300)) + [511, 512, 513, 1000, 1100, 2047, 2048, 2049, 4096, 65537]:
        for data in (bytes(rng.getrandbits(8) for _ in range(n)), b"\xff" * n, b"\x00" * n):
            want = hashlib.sha1(data).hexdigest()
            assert _core._sha1_hex(data) == want, n
            assert _core._sha1_hex(data, False) == want, n
    assert _core._sha1_hex(memoryview(b"abc")) == hashlib.sha1(b"abc").hexdigest()
    with pytest.raises(TypeError):
        _core._sha1_hex("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _core._sha1_hex()  # type: ignore[call-arg]


def test_finish_calls_replacements(monkeypatch: pytest.MonkeyPatch) -> None:
    """A handler replacing a method finish() calls (compute_etag, flush,
    set_status, ...), on_finish or _log, or a patched web._sha1, gets it
    called and the same response."""
    web = NATIVE.web
    calls: List[str] = []
    raws = [request("GET", "/len?n=20"), request("GET", "/status?code=304"),
            request("GET", "/len?n=3", {"If-None-Match": "*"})]
    plain = serve(NATIVE, raws, make_app=_finish_app)
    names = ["compute_etag", "set_etag_header", "check_etag_header", "flush", "set_status",
             "_clear_representation_headers", "on_finish", "_log", "_send_whole_response"]
    for name in names:
        original = web.RequestHandler.__dict__[name]

        def wrapper(self: Any, *args: Any, _o: Any = original, _n: str = name,
                    **kwargs: Any) -> Any:
            calls.append(_n)
            return _o(self, *args, **kwargs)

        with monkeypatch.context() as m:
            m.setattr(web.RequestHandler, name, wrapper)
            calls.clear()
            patched = serve(NATIVE, raws, make_app=_finish_app)
        assert patched[0] == plain[0], name
        assert name in calls, name
    sha1 = web._sha1
    with monkeypatch.context() as m:
        m.setattr(web, "_sha1", lambda data: (calls.append("sha1"), sha1(data))[1])
        calls.clear()
        assert serve(NATIVE, raws, make_app=_finish_app)[0] == plain[0]
        assert calls.count("sha1") == 2  # (not for the 304 set by the handler)


def test_finish_c_step_declines_other_cases() -> None:
    """_core._finish does finish() only for the case it covers; for any
    other (output transforms, headers already written, finished, a status
    or buffer of another type, another headers class, no _transforms, a
    body on a bodiless status, a replaced _send_whole_response) it answers
    NotImplemented and leaves the handler untouched, and finish() still
    behaves as Tornado's."""
    from tornado_c import _core, httputil, web

    class Fake:
        def __init__(self) -> None:
            self.sent: List[Any] = []

        def set_close_callback(self, callback: Any) -> None:
            self.sent.append("close callback")

        def write_headers(self, start_line: Any, headers: Any, chunk: bytes) -> None:
            self.sent.append((tuple(start_line), dict(headers), chunk))

        def finish(self) -> None:
            self.sent.append("finish")

    class MyHeaders(httputil.HTTPHeaders):
        pass

    class OwnSend(web.RequestHandler):
        def _send_whole_response(self, connection: Any) -> Any:
            self.sent_by_own = True
            return super()._send_whole_response(connection)

    app = web.Application(log_function=lambda handler: None)

    def make(cls: Any = web.RequestHandler) -> Any:
        conn = Fake()
        req = httputil.HTTPServerRequest(method="GET", uri="/", connection=conn)
        handler = cls(app, req)
        handler._transforms = []
        handler.write(b"body")
        conn.sent.clear()  # (__init__ set the close callback)
        return handler, conn

    def state(handler: Any) -> Dict[str, Any]:
        names = ("_finished", "_headers_written", "_status_code", "_write_buffer")
        out = {name: getattr(handler, name) for name in names}
        out["headers"] = dict(handler._headers)
        return out

    cases: List[Callable[[Any], None]] = [
        lambda h: setattr(h, "_transforms", [web.GZipContentEncoding(h.request)]),
        lambda h: setattr(h, "_transforms", None),
        lambda h: delattr(h, "_transforms"),
        lambda h: setattr(h, "_headers_written", True),
        lambda h: setattr(h, "_finished", True),
        lambda h: setattr(h, "_finished", 0),
        lambda h: setattr(h, "_status_code", 200.0),
        lambda h: setattr(h, "_write_buffer", (b"body",)),
        lambda h: setattr(h, "_headers", MyHeaders(h._headers)),
        lambda h: setattr(h, "_status_code", 204),
    ]
    for i, change in enumerate(cases):
        handler, conn = make()
        change(handler)
        before = state(handler)
        assert _core._finish(handler) is NotImplemented, i
        assert conn.sent == [], i
        assert state(handler) == before, i
    handler, conn = make(OwnSend)
    assert _core._finish(handler) is NotImplemented
    handler.finish()
    assert handler.sent_by_own and handler._finished
    assert conn.sent[-1] == "finish"
    # The covered case: the whole response, the handler finished.
    handler, conn = make()
    assert _core._finish(handler) is not NotImplemented
    assert conn.sent[0] == "close callback" and conn.sent[-1] == "finish"
    ((line, headers, chunk),) = [item for item in conn.sent if isinstance(item, tuple)]
    assert line == ("", 200, "OK") and chunk == b"body"
    assert headers["Content-Length"] == "4" and headers["Etag"].startswith('"')
    assert handler._finished and handler._headers_written and handler._write_buffer == []
    assert handler.ui is None
    assert _core._finish(handler) is NotImplemented
    with pytest.raises(RuntimeError, match="finish\\(\\) called twice"):
        handler.finish()


def test_finish_c_step_errors_propagate() -> None:
    """An exception raised by what finish() calls (the connection's
    write_headers, a patched web._sha1) comes out of finish() as from
    Tornado's."""
    from tornado_c import httputil, web

    class Broken:
        def set_close_callback(self, callback: Any) -> None:
            pass

        def write_headers(self, start_line: Any, headers: Any, chunk: bytes) -> None:
            raise ValueError("no way")

        def finish(self) -> None:
            pass

    app = web.Application(log_function=lambda handler: None)
    req = httputil.HTTPServerRequest(method="GET", uri="/", connection=Broken())
    handler = web.RequestHandler(app, req)
    handler._transforms = []
    handler.write("x")
    with pytest.raises(ValueError, match="no way"):
        handler.finish()
    assert not handler._finished

    class Digest:
        def __init__(self, data: bytes) -> None:
            pass

        def hexdigest(self) -> int:
            return 5

    original = web._sha1
    web._sha1 = Digest  # type: ignore[assignment]
    try:
        req = httputil.HTTPServerRequest(method="GET", uri="/", connection=Broken())
        handler = web.RequestHandler(app, req)
        handler._transforms = []
        with pytest.raises(TypeError):
            handler.finish()
    finally:
        web._sha1 = original


def test_default_headers_are_each_handlers_own() -> None:
    """The default headers of each handler are its own objects (tornado_c
    copies them from the previous handler's while Server and Date are the
    same): changing one handler's -- its dicts, its lists in place --
    leaves the next one's as Tornado makes them."""

    def make_app(web: Any, seen: List[Any], **settings: Any) -> Any:
        class Mutate(web.RequestHandler):
            def get(self) -> None:
                headers = self._headers
                headers._as_list["Content-Type"].append("text/x")
                headers._dict["Content-Type"] = "text/x"
                self.clear_header("Server")
                self.add_header("Date", "again")
                self.write("m")

        class Plain(web.RequestHandler):
            def get(self) -> None:
                seen.append(sorted((k, v) for k, v in self._headers.get_all() if k != "Date"))
                seen.append(len(self._headers.get_list("Date")))
                self.write("p")

        return web.Application([("/m", Mutate), ("/p", Plain)], **settings)

    raws = [request("GET", "/m"), request("GET", "/p"), request("GET", "/m"),
            request("GET", "/p")]
    got = serve(NATIVE, raws, make_app=make_app)
    want = serve(REFERENCE, raws, native=False, make_app=make_app)
    assert got[2] == want[2]
    assert got[0] == want[0]


def _execute_app(web: Any, seen: List[Any], **settings: Any) -> Any:
    class Plain(web.RequestHandler):
        def get(self) -> None:
            seen.append(("get", self.path_args, self.path_kwargs))
            self.write("g")

        def post(self) -> None:
            seen.append(("post", dict(self.request.body_arguments)))
            self.write("p")

        def options(self) -> None:
            self.write("o")

    class OnlyGet(Plain):
        SUPPORTED_METHODS = ("GET",)  # type: ignore[assignment]

    class Prepared(Plain):
        def prepare(self) -> None:
            seen.append("prepare")
            if self.get_query_argument("stop", None):
                self.finish("stopped")

    class Args(Plain):
        def get(self, *args: str, **kwargs: str) -> None:  # type: ignore[override]
            seen.append(("args", args, kwargs))
            self.write("a")

    class Listed(Plain):
        SUPPORTED_METHODS = ["GET", "POST"]  # type: ignore[assignment]

    class Decoding(Args):
        def decode_argument(self, value: bytes, name: Any = None) -> str:
            seen.append(("decode", value, name))
            return "d:" + super().decode_argument(value, name)

    class Instance(Plain):
        def initialize(self) -> None:
            self.get = lambda: (seen.append("instance get"), self.write("i"))  # type: ignore

    return web.Application([("/", Plain), ("/only", OnlyGet), ("/prep", Prepared),
                            (r"/args/(\w+)", Args), (r"/kw/(?P<k>\w+)", Args),
                            (r"/any/([^/]*)/?([^/]*)", Args), (r"/opt/(a)?(b)?", Args),
                            (r"/kwany/(?P<k>[^/]*)", Args), (r"/dec/([^/]*)", Decoding),
                            ("/listed", Listed), ("/inst", Instance)], **settings)


EXECUTE_REQUESTS = [
    request("GET", "/"), request("HEAD", "/"), request("OPTIONS", "/"),
    request("POST", "/", {"Content-Type": "application/x-www-form-urlencoded"}, b"a=1"),
    request("POST", "/", {}, b"raw"), request("POST", "/only", {}, b"x"),
    request("DELETE", "/"), request("GET", "/prep"), request("GET", "/prep?stop=1"),
    request("GET", "/args/x"), request("GET", "/kw/y"), request("POST", "/listed", {}, b""),
    request("GET", "/inst"),
    # path arguments: percent escapes, non-ASCII, empty, unmatched groups,
    # bytes that are not UTF-8 (400), a replaced decode_argument
    request("GET", "/any/%C3%A9t%C3%A9/x+y"), request("GET", "/any/"),
    request("GET", "/any/%FF"), request("GET", "/any/%25"), request("GET", "/opt/a"),
    request("GET", "/opt/"), request("GET", "/kwany/%C3%A9"), request("GET", "/kwany/%FE"),
    request("GET", "/dec/v%20w"), request("GET", "/dec/%FF"),
]


@pytest.mark.parametrize("xsrf", [False, True])
def test_execute_first_steps_match_tornado(xsrf: bool) -> None:
    """_execute's steps before the verb method (taken in C for the usual
    case) give Tornado's responses, log lines and handler state: unsupported
    methods, bodies to parse, xsrf_cookies, prepare(), path arguments, a
    SUPPORTED_METHODS list, a verb method set on the instance."""
    settings = {"xsrf_cookies": True} if xsrf else {}
    got = serve(NATIVE, EXECUTE_REQUESTS, make_app=_execute_app, **settings)
    want = serve(REFERENCE, EXECUTE_REQUESTS, native=False, make_app=_execute_app, **settings)
    assert got == want


def test_execute_plain_declines_other_cases(monkeypatch: pytest.MonkeyPatch) -> None:
    """_core._execute_plain answers the bound verb method only for the usual
    case, and None -- having set nothing -- when _execute must take its
    steps itself: path arguments, a replaced prepare or _parse_body, a body
    to parse, a streaming handler, a finished handler, an unsupported verb."""
    from tornado_c import _core, httputil, web

    class Conn:
        def set_close_callback(self, callback: Any) -> None:
            pass

    app = web.Application()

    def make(method: str = "GET", headers: Any = None, cls: Any = web.RequestHandler) -> Any:
        req = httputil.HTTPServerRequest(method=method, uri="/", connection=Conn(),
                                         headers=httputil.HTTPHeaders(headers or {}))
        return cls(app, req)

    handler = make()
    method = _core._execute_plain(handler, (), {})
    assert method == handler.get and handler.path_args == [] and handler.path_kwargs == {}
    handler = make()
    method = _core._execute_plain(handler, (b"x", None, "\xe9".encode()), {"k": b"", "n": None})
    assert method == handler.get
    assert handler.path_args == ["x", None, "\xe9"]
    assert handler.path_kwargs == {"k": "", "n": None}

    class Decoding(web.RequestHandler):
        def decode_argument(self, value: bytes, name: Any = None) -> str:
            return "d"

    @web.stream_request_body
    class Streaming(web.RequestHandler):
        pass

    class Prep(web.RequestHandler):
        def prepare(self) -> None:
            pass

    declined = [
        (make(), ("x",), {}),
        (make(), (), {"k": "v"}),
        (make(), (b"\xff",), {}),
        (make(), (b"a",), {"k": b"\xc3"}),
        (make(), (bytearray(b"a"),), {}),
        (make(cls=Decoding), (b"a",), {}),
        (make("POST", {"Content-Type": "text/plain"}), (), {}),
        (make("PATCHY"), (), {}),
        (make(cls=Streaming), (), {}),
        (make(cls=Prep), (), {}),
    ]
    finished = make()
    finished._finished = True
    declined.append((finished, (), {}))
    for handler, args, kwargs in declined:
        assert _core._execute_plain(handler, args, kwargs) is None
        assert "path_args" not in vars(handler)
    with monkeypatch.context() as m:
        m.setattr(httputil.HTTPServerRequest, "_parse_body", lambda self: None)
        handler = make()
        assert _core._execute_plain(handler, (), {}) is None
    with monkeypatch.context() as m:
        m.setattr(web, "_unicode", lambda value: "patched")
        handler = make()
        assert _core._execute_plain(handler, (b"a",), {}) is None
        assert "path_args" not in vars(handler)
        assert _core._execute_plain(handler, (), {}) == handler.get


def test_globals_replaced_between_requests_are_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    """Names the native path reads from web's and httputil's globals at
    each request (kept from one request to the next while those modules'
    dicts stay unchanged: csrc/tc.h, tc_globals_get) are read afresh once
    one is replaced, put back, or replaced again: web._sha1 (the Etag) and
    httputil.time (the request's start time)."""
    import hashlib
    import types

    from tornado_c import httputil as c_httputil
    from tornado_c import web as c_web

    real_sha1, real_time = c_web._sha1, c_httputil.time
    monkeypatch.setattr(c_web, "_sha1", real_sha1)  # (put back at the end)
    monkeypatch.setattr(c_httputil, "time", real_time)

    class FakeSha1:
        def __init__(self, data: bytes = b"") -> None:
            pass

        def update(self, data: bytes) -> None:
            pass

        def hexdigest(self) -> str:
            return "f" * 40

    fake_time = types.SimpleNamespace(time=lambda: 1000.0)

    def make_app(web: Any, seen: List[Any]) -> Any:
        class H(web.RequestHandler):
            def get(self) -> None:
                seen.append(self.request._start_time)
                self.write("x")
                # What the rest of this request (the Etag) and the next one
                # (its start time) find in the modules' globals.
                fake = len(seen) % 3 == 1
                c_web._sha1 = FakeSha1 if fake else real_sha1
                c_httputil.time = fake_time if fake else real_time

        return web.Application([("/", H)])

    responses, _, seen = serve(NATIVE, [request("GET", "/")] * 9, make_app=make_app)
    real_tag = '"%s"' % hashlib.sha1(b"x").hexdigest()
    for i, response in enumerate(responses):
        fake = (i + 1) % 3 == 1
        assert dict(response[2])["Etag"] == ('"%s"' % ("f" * 40) if fake else real_tag), i
        assert (seen[i] == 1000.0) == (i > 0 and i % 3 == 1), (i, seen[i])


def test_connection_methods_replaced_mid_connection_are_called() -> None:
    """On one kept-alive connection, write_headers set on the connection
    instance, finish replaced on its class, and both taken away again,
    during a request: that request's response and the later ones go through
    whatever the connection then has (the engine remembers that a
    connection's methods are its own C ones only while neither its class
    nor its __dict__ changes)."""
    from tornado_c import http1connection

    calls: List[str] = []
    cls = http1connection._NativeHTTP1Connection
    native_finish = cls.finish

    def make_app(web: Any, seen: List[Any]) -> Any:
        class H(web.RequestHandler):
            def get(self) -> None:
                conn = self.request.connection
                step = len(seen)
                seen.append(step)
                if step == 1:
                    original = conn.write_headers

                    def wrapped(*args: Any, **kwargs: Any) -> Any:
                        calls.append("write_headers %d" % len(seen))
                        return original(*args, **kwargs)

                    conn.write_headers = wrapped
                elif step == 3:
                    del conn.write_headers

                    def finish(self: Any) -> Any:
                        calls.append("finish %d" % len(seen))
                        return native_finish(self)

                    cls.finish = finish  # type: ignore[method-assign]
                elif step == 5:
                    del cls.finish
                self.write("x")

        return web.Application([("/", H)])

    burst = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 6 + request("GET", "/")
    try:
        responses, _, seen = serve(NATIVE, [burst], make_app=make_app)
    finally:
        if "finish" in cls.__dict__:
            del cls.finish
    assert seen == list(range(7)) and responses[0][0] == 200
    assert calls == ["write_headers 2", "write_headers 3", "finish 4", "finish 5"]


def test_finish_when_due() -> None:
    """_core._finish_when_due: what _execute does after a verb method that
    returned None -- finish() unless the handler finished itself or turned
    auto-finish off; the class's or the instance's own finish() when either
    replaces it; an error from finish() raised -- and the whole of _execute
    around it for those cases."""
    from tornado_c import _core, httputil, web

    sent: List[Any] = []

    class Conn:
        def set_close_callback(self, callback: Any) -> None:
            pass

        def write_headers(self, start_line: Any, headers: Any, chunk: bytes = b"") -> Any:
            sent.append((start_line.code, chunk))

        def finish(self) -> None:
            sent.append("finish")

    app = web.Application()
    calls: List[Any] = []

    class H(web.RequestHandler):
        def get(self, *args: Any, **kwargs: Any) -> Any:
            calls.append((args, kwargs))
            mode = self.request.headers.get("Mode", "")
            if mode == "raise":
                raise ValueError("from get")
            if mode == "finish":
                self.finish("own")
                return None
            if mode == "manual":
                self._auto_finish = False
            if mode == "await":
                return asyncio.sleep(0)
            self.write("body")
            return None

    class OwnFinish(H):
        def finish(self, chunk: Any = None) -> Any:
            calls.append("class finish")
            return super().finish(chunk)

    def make(cls: Any = H, mode: str = "") -> Any:
        req = httputil.HTTPServerRequest(method="GET", uri="/", connection=Conn(),
                                         headers=httputil.HTTPHeaders({"Mode": mode}))
        return cls(app, req)

    def run(handler: Any, args: Any = (), kwargs: Any = None, direct: bool = False) -> None:
        del sent[:], calls[:]
        if direct:
            handler._transforms = []
            assert _core._finish_when_due(handler) is None
        else:
            asyncio.run(handler._execute([], *args, **(kwargs or {})))

    for direct in (True, False):
        handler = make()
        run(handler, direct=direct)
        assert handler._finished and sent == [(200, b"" if direct else b"body"), "finish"]
        handler = make(mode="finish")
        if direct:
            handler._transforms = []
            handler.finish("own")
        run(handler, direct=direct)
        assert sent == ([] if direct else [(200, b"own"), "finish"])  # finished once
        handler = make(mode="manual")
        handler._auto_finish = False
        run(handler, direct=direct)
        assert not handler._finished and sent == []
        handler = make(OwnFinish)
        run(handler, direct=direct)
        assert calls[-1] == "class finish" and sent[-1] == "finish"
        handler = make()
        handler.finish = lambda: calls.append("instance finish")  # type: ignore[method-assign]
        run(handler, direct=direct)
        assert calls[-1] == "instance finish" and not handler._finished and sent == []
    handler = make()
    handler.finish = lambda: 1 / 0  # type: ignore[method-assign]
    with pytest.raises(ZeroDivisionError):
        run(handler, direct=True)
    handler = make()
    run(handler, (b"a%20", "\xe9".encode()), {"k": b"v"})
    assert calls == [(("a%20", "\xe9"), {"k": "v"})] and sent[-1] == "finish"
    handler = make(mode="await")
    run(handler)
    assert handler._finished and sent == [(200, b""), "finish"]  # (after the await)
    handler = make(mode="raise")
    run(handler)
    assert handler._finished and sent[0][0] == 500  # (send_error's page)


def test_static_plain_declines_with_nothing_done(tmp_path: Any) -> None:
    """_core._static_plain answers NotImplemented, having set no attribute
    or header, for every case it leaves to Python, and the pieces for the
    one it takes."""
    from tornado_c import _core, httputil, web

    class Conn:
        def set_close_callback(self, callback: Any) -> None:
            pass

    root = tmp_path / "files"
    root.mkdir()
    (root / "a.txt").write_bytes(b"hello")
    (root / "empty").write_bytes(b"")
    (root / "dir").mkdir()
    (root / "big").write_bytes(b"x" * (web._STATIC_CHUNK + 1))
    app = web.Application(static_path=str(root))
    web.StaticFileHandler.reset()
    web._root_prefixes[str(root)] = str(root) + "/"
    for name in ("a.txt", "empty", "gone", "big"):
        web.StaticFileHandler._static_hashes[str(root / name)] = "h" + name
    env = web._STATIC_ENV

    def make(uri: str = "/", headers: Any = None, method: str = "GET") -> Any:
        req = httputil.HTTPServerRequest(method=method, uri=uri, connection=Conn(),
                                         headers=httputil.HTTPHeaders(headers or {}))
        handler = web.StaticFileHandler(app, req, path=str(root))
        handler._transforms = []
        return handler

    handler = make()
    # (written to the buffer itself: get is StaticFileHandler's, no transforms)
    assert _core._static_plain(handler, "a.txt", True, env) == ()
    assert handler._write_buffer == [b"hello"]
    for transforms in ([object()], None):
        other = make()
        other._transforms = transforms
        assert _core._static_plain(other, "a.txt", True, env) == (b"hello",)
        assert other._write_buffer == []

    class OwnGet(web.StaticFileHandler):
        async def get(self, path: str, include_body: bool = True) -> None:
            await super().get(path, include_body)

    req = httputil.HTTPServerRequest(method="GET", uri="/", connection=Conn(),
                                     headers=httputil.HTTPHeaders())
    other = OwnGet(app, req, path=str(root))
    other._transforms = []
    assert _core._static_plain(other, "a.txt", True, env) == (b"hello",)
    assert handler.absolute_path == str(root / "a.txt") and handler.path == "a.txt"
    assert handler._headers["Etag"] == '"ha.txt"'
    assert handler._headers["Content-Length"] == "5"
    assert handler._headers["Content-Type"] == "text/plain"
    assert handler._stat_result == os.stat(root / "a.txt")
    assert handler._validated_stat == (str(root / "a.txt"), handler._stat_result)
    assert handler.modified == web.datetime.datetime.fromtimestamp(
        int(handler._stat_result.st_mtime), web._UTC)
    handler = make()
    assert _core._static_plain(handler, "empty", True, env) == ()
    declined = [
        (make(), "a.txt", False),
        (make(), "a.txt", 1),
        (make(), b"a.txt", True),
        (make(headers={"Range": "bytes=0-1"}), "a.txt", True),
        (make(headers={"If-None-Match": '"x"'}), "a.txt", True),
        (make(headers={"If-Modified-Since": "x"}), "a.txt", True),
        (make("/?v=1"), "a.txt", True),
        (make(), "./a.txt", True),
        (make(), "dir/../a.txt", True),
        (make(), "dir//a.txt", True),
        (make(), "a.txt/", True),
        (make(), "", True),
        (make(), "/etc/passwd", True),
        (make(), "dir", True),
        (make(), "gone", True),
        (make(), "big", True),
        (make(), "a\0.txt", True),
        (make(), "unhashed.txt", True),
    ]
    for handler, path, include_body in declined:
        before = list(handler._headers.get_all())
        assert _core._static_plain(handler, path, include_body, env) is NotImplemented, path
        assert "absolute_path" not in vars(handler) and "modified" not in vars(handler)
        assert list(handler._headers.get_all()) == before
    other_root = make()
    other_root.root = str(tmp_path)  # not in _root_prefixes yet
    assert _core._static_plain(other_root, "files/a.txt", True, env) is NotImplemented
    with pytest.raises(TypeError):
        _core._static_plain(make(), "a.txt", True, env[:-1])
    web.StaticFileHandler.reset()
    del web._root_prefixes[str(root)]


def test_static_plain_content_type_matches_mimetypes(tmp_path: Any) -> None:
    """The Content-Type _core._static_plain sets (mimetypes.guess_type
    worked out in C on CPython 3.11) is get_content_type()'s, for suffix
    and encoding forms, case, dots, non-ASCII names and a type added with
    mimetypes.add_type."""
    import mimetypes

    from tornado_c import _core, httputil, web

    class Conn:
        def set_close_callback(self, callback: Any) -> None:
            pass

    names = ["a.TXT", "b.tar.gz", "c.tgz", "d.svgz", "e.gz", "f.Z", "g.bz2", "h.xz", "i.br",
             ".hidden", "..dots", "...", "noext", "x.UNKNOWN", "y.tar.GZ", "z.html.gz",
             "w.tar.Z", "\xe9t\xe9.txt", "f.tXt", "a.b.c.json", "x.webp", "t.taz", "u.tz",
             "v.tbz2", "k.\xe9", "m.js.map", "dir.d", "j.zzq", "q.css.bz2"]
    mimetypes.add_type("x/custom-zzq", ".zzq")
    root = tmp_path / "m"
    root.mkdir()
    app = web.Application(static_path=str(root))
    web._root_prefixes[str(root)] = str(root) + "/"
    try:
        for name in names:
            (root / name).write_bytes(b"x")
            web.StaticFileHandler._static_hashes[str(root / name)] = "h"
            req = httputil.HTTPServerRequest(method="GET", uri="/", connection=Conn(),
                                             headers=httputil.HTTPHeaders())
            handler = web.StaticFileHandler(app, req, path=str(root))
            handler._transforms = []
            assert _core._static_plain(handler, name, True, web._STATIC_ENV) == (), name
            assert handler._headers.get("Content-Type") == handler.get_content_type(), name
    finally:
        del web._root_prefixes[str(root)]
        web.StaticFileHandler.reset()
        mimetypes.types_map.pop(".zzq", None)
        if mimetypes._db is not None:
            mimetypes._db.types_map[True].pop(".zzq", None)


def test_write_c_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """_core._write appends what write() would (bytes, UTF-8 of str, JSON of
    a dict with its Content-Type) and answers NotImplemented, having done
    nothing, where write() must act itself."""
    from tornado_c import _core, escape, httputil, web

    class Conn:
        def set_close_callback(self, callback: Any) -> None:
            pass

    app = web.Application()

    def make(cls: Any = web.RequestHandler) -> Any:
        req = httputil.HTTPServerRequest(method="GET", uri="/", connection=Conn(),
                                         headers=httputil.HTTPHeaders())
        return cls(app, req)

    handler = make()
    for chunk in (b"a", "\xe9", {"k": [1, "</"]}, {"x": "set"}):
        assert _core._write(handler, chunk) is None
    assert handler._write_buffer == [b"a", "\xe9".encode(), b'{"k": [1, "<\\/"]}', b'{"x": "set"}']
    assert handler._headers["Content-Type"] == "application/json; charset=UTF-8"
    with pytest.raises(UnicodeEncodeError):
        _core._write(handler, "\ud800")
    with pytest.raises(TypeError):
        _core._write(handler, {"bad": object()})  # json.dumps's own error

    class Number(int):
        pass

    assert _core._write(handler, {"n": Number(3), "t": (1,)}) is None  # (through json.dumps)
    assert handler._write_buffer[-1] == b'{"n": 3, "t": [1]}'
    seen: List[Any] = []

    class Collect:
        def append(self, data: bytes) -> None:
            seen.append(data)

    handler = make()
    handler._write_buffer = Collect()
    assert _core._write(handler, "x") is None and seen == [b"x"]

    class Bytes(bytes):
        pass

    class OwnHeader(web.RequestHandler):
        def set_header(self, name: str, value: Any) -> None:
            super().set_header(name, value)

    finished = make()
    finished._finished = True
    other_headers = make()
    other_headers._headers = {}
    declined = [(finished, b"x"), (make(), Bytes(b"x")), (make(), ["x"]), (make(), 1),
                (make(OwnHeader), {"a": 1}), (other_headers, {"a": 1})]
    for handler, chunk in declined:
        assert _core._write(handler, chunk) is NotImplemented
        assert handler._write_buffer == []
    with monkeypatch.context() as m:
        m.setattr(escape, "json_encode", lambda value: "patched")
        handler = make()
        assert _core._write(handler, {"a": 1}) is NotImplemented
        handler.write({"a": 1})
        assert handler._write_buffer == [b"patched"]


def test_connection_methods_replaced_are_called(monkeypatch: pytest.MonkeyPatch) -> None:
    """finish() and the handler's setup call the request connection's
    write_headers / finish / set_close_callback (straight to their C
    versions while the connection has them); replaced on the connection
    class or set on the connection itself, the replacements are called."""
    calls: List[str] = []

    def make_app(web: Any, seen: List[Any], **settings: Any) -> Any:
        class Hello(web.RequestHandler):
            def get(self) -> None:
                if self.get_query_argument("own", None):
                    conn = self.request.connection
                    real = type(conn).finish
                    conn.finish = lambda: (calls.append("own finish"), real(conn))[1]
                self.write("hello")

        return web.Application([("/", Hello)], **settings)

    raws = [request("GET", "/"), request("GET", "/?own=1")]
    plain = serve(NATIVE, raws, make_app=make_app)
    assert calls == ["own finish"]
    cls = NATIVE.mod("http1connection")._NativeHTTP1Connection
    for name in ("write_headers", "finish", "set_close_callback"):
        original = getattr(cls, name)

        def wrapper(self: Any, *args: Any, _o: Any = original, _n: str = name) -> Any:
            calls.append(_n)
            return _o(self, *args)

        calls.clear()
        with monkeypatch.context() as m:
            m.setattr(cls, name, wrapper)
            assert serve(NATIVE, raws[:1], make_app=make_app)[0] == plain[0][:1]
        assert name in calls, name


def test_native_handler_slots_shadowed_or_patched() -> None:
    """RequestHandler keeps what __init__ and clear() assign in __slots__,
    which the native path stores into; a subclass that shadows one with a
    class attribute, or puts a property in its place, gets them assigned
    as Python's __init__ would (into __dict__, through the property)."""
    stored: List[Any] = []

    def make_app(web: Any, seen: List[Any]) -> Any:
        class Shadow(web.RequestHandler):
            _reason = "class attribute"

            def get(self) -> None:
                seen.append((self._reason, vars(self).get("_reason")))
                self.write("ok")

        class Prop(web.RequestHandler):
            @property
            def _status_code(self) -> int:
                return self.__dict__["code"]

            @_status_code.setter
            def _status_code(self, value: int) -> None:
                stored.append(value)
                self.__dict__["code"] = value

            def get(self) -> None:
                seen.append(self.get_status())
                self.set_status(201)
                self.write("ok")

        return web.Application([("/s", Shadow), ("/p", Prop)])

    raws = [request("GET", "/s"), request("GET", "/p")]
    before = counts()[2]
    responses, _, seen = serve(NATIVE, raws, make_app=make_app)
    assert counts()[2] == before + 2  # both made by the native path
    reference = serve(REFERENCE, raws, native=False, make_app=make_app)
    assert [r[0] for r in responses] == [r[0] for r in reference[0]] == [200, 201]
    assert seen == reference[2] == [("OK", "OK"), 200]
    assert stored == [200, 201, 200, 201]  # (native, then Tornado)


def test_handler_classes_not_kept_alive() -> None:
    """The C paths' per-class caches (slot maps, override masks) do not keep
    a handler class alive: once the application and the class are dropped,
    the class is freed -- not left to be freed (as cyclic garbage) whenever
    its cache entry is reused, which Tornado's circlerefs_test catches."""
    import gc
    import weakref

    refs: List[Any] = []

    def make_app(web: Any, seen: List[Any], **settings: Any) -> Any:
        class Kept(web.RequestHandler):
            def get(self, name: str) -> None:
                self.set_header("X-Name", name)
                self.write({"name": name})

        class KeptStatic(web.StaticFileHandler):
            pass

        refs.append(weakref.ref(Kept))
        refs.append(weakref.ref(KeptStatic))
        return web.Application([(r"/k/(\w+)", Kept)], **settings)

    responses, _, _ = serve(NATIVE, [request("GET", "/k/a"), request("GET", "/k/b")],
                            make_app=make_app)
    assert [r[0] for r in responses] == [200, 200]
    gc.collect()
    assert [r() for r in refs] == [None, None]


def _checks_app(web: Any, seen: List[Any], **settings: Any) -> Any:
    from tornado_c import _core

    class Hello(web.RequestHandler):
        def get(self) -> None:
            seen.append(_core._slotmap_checks())
            self.write("hello")

    return web.Application([(r"/(?:favicon\.ico)?x", web.RequestHandler), (r"/", Hello)],
                           static_path=os.path.dirname(__file__))


def test_slot_maps_are_vouched_for_by_version_tags() -> None:
    """Once the first requests have set up the slot maps of the classes on
    the request path (request, headers, handler, rules, matchers, router),
    later requests find them current by the classes' version tags alone:
    no map is checked descriptor by descriptor again.  (On CPython 3.13,
    where Py_TPFLAGS_VALID_VERSION_TAG is never set, a test of that flag
    made every slot access such a check.)"""
    responses, _, seen = serve(NATIVE, [request("GET", "/")] * 8, make_app=_checks_app)
    assert [r[0] for r in responses] == [200] * 8  # type: ignore[index]
    assert len(seen) == 8
    assert seen[2:] == [seen[2]] * 6, seen
