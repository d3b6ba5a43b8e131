"""Differential tests for tornado_c.httputil against Tornado's httputil."""

from __future__ import annotations

import copy
import datetime
import doctest
import inspect
import pickle
import time
from typing import Any, Callable

import os
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "tornado_c-hypothesis"))

import tornado.httputil as ref  # noqa: E402

import tornado_c.httputil as tc_httputil  # noqa: E402

HYPOTHESIS_SETTINGS = settings(
    max_examples=500, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def outcome(fn: Callable[[], Any]) -> Any:
    """Run ``fn``: ("ok", result) or ("error", exception class name)."""
    try:
        return ("ok", fn())
    except Exception as e:  # noqa: BLE001
        return ("error", type(e).__name__)


def norm(value: Any) -> Any:
    """Make results of both implementations comparable."""
    if isinstance(value, (ref.HTTPHeaders,)) or type(value).__name__ == "HTTPHeaders":
        return sorted(value.get_all())
    if isinstance(value, tuple) and type(value).__name__ in (
        "RequestStartLine",
        "ResponseStartLine",
    ):
        return (type(value).__name__, tuple(value))
    return value


# --- signatures ------------------------------------------------------------

PUBLIC = [
    "HTTPHeaders", "HTTPServerRequest", "HTTPInputError", "HTTPOutputError",
    "HTTPServerConnectionDelegate", "HTTPMessageDelegate", "HTTPConnection",
    "url_concat", "HTTPFile", "parse_body_arguments", "parse_multipart_form_data",
    "format_timestamp", "RequestStartLine", "ResponseStartLine",
    "parse_request_start_line", "parse_response_start_line",
    "encode_username_password", "split_host_and_port", "qs_to_qsl", "parse_cookie",
    "responses", "HTTP_WHITESPACE", "_parse_header", "_encode_header",
    "_parse_request_range", "_get_content_range", "_normalize_header", "doctests",
    "_unquote_cookie", "_ABNF", "_FORBIDDEN_HEADER_CHARS_RE",
]


@pytest.mark.parametrize("name", PUBLIC)
def test_public_names_and_signatures(name: str) -> None:
    import tornado_c.httputil as mine

    theirs = getattr(ref, name)
    ours = getattr(mine, name)
    if callable(theirs) and not isinstance(theirs, type):
        a, b = inspect.signature(ours), inspect.signature(theirs)
        assert list(a.parameters) == list(b.parameters)
        assert [p.default for p in a.parameters.values()] == [
            p.default for p in b.parameters.values()]
        assert [p.kind for p in a.parameters.values()] == [
            p.kind for p in b.parameters.values()]


def test_method_signatures() -> None:
    import tornado_c.httputil as mine

    for cls in ("HTTPHeaders", "HTTPServerRequest", "HTTPMessageDelegate",
                "HTTPConnection", "HTTPServerConnectionDelegate"):
        for meth, obj in vars(getattr(ref, cls)).items():
            if callable(obj) and not meth.startswith("_") or meth == "__init__":
                a = inspect.signature(getattr(getattr(mine, cls), meth))
                b = inspect.signature(getattr(getattr(ref, cls), meth))
                assert list(a.parameters) == list(b.parameters), (cls, meth)
                for p in a.parameters:
                    assert a.parameters[p].default == b.parameters[p].default
                    assert a.parameters[p].kind == b.parameters[p].kind


def test_doctests_pass(impl: Any) -> None:
    suite = impl.httputil.doctests()
    result = __import__("unittest").TestResult()
    suite.run(result)
    assert result.testsRun > 0
    assert not result.failures and not result.errors


# --- HTTPHeaders -----------------------------------------------------------

def test_headers_multidict(impl: Any) -> None:
    h = impl.httputil.HTTPHeaders({"content-TYPE": "text/html"})
    assert list(h.keys()) == ["Content-Type"]
    h.add("Set-Cookie", "a=1")
    h.add("set-cookie", "b=2")
    assert h["SET-COOKIE"] == "a=1,b=2"
    assert h.get_list("Set-Cookie") == ["a=1", "b=2"]
    assert h.get_list("missing") == []
    assert list(h.get_all()) == [
        ("Content-Type", "text/html"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")
    ]
    h["Set-Cookie"] = "c=3"
    assert h.get_list("set-cookie") == ["c=3"]
    del h["content-type"]
    assert "Content-Type" not in h and "set-cookie" in h
    assert len(h) == 1
    with pytest.raises(KeyError):
        h["nope"]
    assert h.get("nope", "d") == "d"
    assert str(h) == "Set-Cookie: c=3\n"
    h.update({"x-a": "1"}, x_b="2")
    assert sorted(h) == ["Set-Cookie", "X-A", "X_b"]
    assert h.setdefault("X-A", "9") == "1"
    assert h.pop("x-a") == "1"


def test_headers_constructors(impl: Any) -> None:
    H = impl.httputil.HTTPHeaders
    a = H([("A", "1"), ("b", "2")])
    assert sorted(a.items()) == [("A", "1"), ("B", "2")]
    b = H(a)
    b.add("A", "3")
    assert a.get_list("A") == ["1"] and b.get_list("A") == ["1", "3"]
    c = b.copy()
    c.add("A", "4")
    assert b.get_list("A") == ["1", "3"] and c.get_list("A") == ["1", "3", "4"]
    d = copy.copy(b)
    assert type(d) is H and d.get_list("A") == ["1", "3"]
    e = copy.deepcopy(b)
    assert e == b and e is not b
    assert H(a=1)  # values are not validated by item assignment
    assert H() == {}
    assert H({"a": "1"}) == {"A": "1"} and H({"a": "1"}) != {"a": "1"}


def test_headers_pickle(impl: Any) -> None:
    h = impl.httputil.HTTPHeaders()
    h.add("Set-Cookie", "a=1")
    h.add("Set-Cookie", "b=2")
    h2 = pickle.loads(pickle.dumps(h, protocol=pickle.HIGHEST_PROTOCOL))
    assert type(h2) is type(h)
    assert h2.get_list("set-cookie") == ["a=1", "b=2"]
    assert h2["Set-Cookie"] == "a=1,b=2"


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickles_pass_between_tornado_and_tornado_c(protocol: int) -> None:
    """HTTPHeaders and HTTPServerRequest keep their always-set attributes in
    __slots__ here, not in Tornado: each still pickles (any protocol) and
    copies, to the same state as Tornado's, and a pickle made by either
    loads in the other (the module name swapped: the classes are the same
    by name)."""

    def made(mod: Any) -> Any:
        h = mod.HTTPHeaders({"Content-Type": "text/plain"})
        h.add("Set-Cookie", "a=1")
        h.add("Set-Cookie", "b=2")
        h.extra = "x"
        r = mod.HTTPServerRequest("POST", "/p?a=1&a=2", headers=h, body=b"data")
        r.extra = ["y"]
        return h, r

    def state(obj: Any) -> Any:
        return {name: (state(v) if isinstance(v, (ref.HTTPHeaders, tc_httputil.HTTPHeaders))
                       else v) for name, v in obj.__reduce_ex__(2)[2].items()}

    def moved(data: bytes, source: str, target: str) -> bytes:
        # Protocol 0 pickles are text lines: swap the module name there.
        assert protocol == 0
        return data.replace(f"c{source}\n".encode(), f"c{target}\n".encode())

    for mod in (tc_httputil, ref):
        h, r = made(mod)
        for obj in (h, r):
            again = pickle.loads(pickle.dumps(obj, protocol))
            assert type(again) is type(obj)
            assert state(again) == state(obj)
            if obj is r:  # (copy.copy of headers is .copy(): the headers only)
                assert state(copy.copy(obj)) == state(obj)
            assert state(copy.deepcopy(obj)) == state(obj)
    ours, theirs = made(tc_httputil), made(ref)
    for mine, other in zip(ours, theirs):
        want = state(other)
        want.pop("_start_time", None)
        got = state(mine)
        got.pop("_start_time", None)
        assert sorted(got.items(), key=repr) == sorted(want.items(), key=repr)
    if protocol == 0:
        for mine, other in zip(ours, theirs):
            into_ours = pickle.loads(moved(pickle.dumps(other, 0), "tornado.httputil",
                                           "tornado_c.httputil"))
            into_theirs = pickle.loads(moved(pickle.dumps(mine, 0), "tornado_c.httputil",
                                             "tornado.httputil"))
            assert type(into_ours) is type(mine) and type(into_theirs) is type(other)
            assert state(into_ours) == state(other) and state(into_theirs) == state(mine)


def test_headers_slots_patched_over() -> None:
    """A property put on HTTPHeaders in place of one of its slots is what C
    code goes through (HTTPHeaders(dict) is filled in C)."""
    seen = []
    H = tc_httputil.HTTPHeaders
    slot = H.__dict__["_last_key"]
    try:
        H._last_key = property(lambda self: self.__dict__["k"],
                               lambda self, v: (seen.append(v), self.__dict__.update(k=v)))
        h = H({"a": "1"})
        assert seen == [None] and h._last_key is None and h["A"] == "1"
    finally:
        H._last_key = slot
    h = H({"a": "1"})
    assert h._last_key is None and seen == [None] and "k" not in vars(h)


def test_headers_bytes_values(impl: Any) -> None:
    h = impl.httputil.HTTPHeaders()
    h.add("X", b"abc")
    h.add("X", b"def")
    assert h["X"] == "abc,def"
    assert h.get_list("X") == [b"abc", b"def"]


def test_headers_continuation_and_last_key(impl: Any) -> None:
    H = impl.httputil.HTTPHeaders
    h = H.parse("A: one\r\n  two\r\n\tthree\r\nB: x\r\n")
    assert h["A"] == "one two three" and h.get_list("A") == ["one two three"]
    h = H()
    h.add("A", "1")
    h.add("A", "2")
    h.parse_line(" more")
    assert h.get_list("A") == ["1", "2 more"] and h["A"] == "1,2 more"
    with pytest.raises(impl.httputil.HTTPInputError):
        H().parse_line(" leading")


# Hostile header blocks: text -> expected sorted(get_all()) or "error".
HEADER_CASES = [
    ("A: b\r\n", [("A", "b")]),
    ("A: b", [("A", "b")]),
    ("A: b\n", [("A", "b")]),
    ("A: b\r\r\n", "error"),
    ("A: b\r", "error"),
    ("A:b", [("A", "b")]),
    ("A:   b \t ", [("A", "b")]),
    ("A:", [("A", "")]),
    ("A: \x80\xff", [("A", "\x80\xff")]),
    ("A: b\x00c", "error"),
    ("A: b\x7fc", "error"),
    ("A: b\rc", "error"),
    ("A: b\x0bc", "error"),
    ("A: b\tc d", [("A", "b\tc d")]),
    ("A : b", "error"),
    (" A: b", "error"),
    ("A b", "error"),
    (": b", "error"),
    ("A(b): c", "error"),
    ("A\x00: c", "error"),
    ("Ä: c", "error"),
    ("A: \u0100", "error"),
    ("A: b\r\n\r\n", [("A", "b")]),
    ("\r\nA: b", [("A", "b")]),
    ("A: b\r\n \r\n", [("A", "b ")]),
    ("A: b\r\n c\x01", "error"),
    ("Host: a\r\nhost: b", [("Host", "a"), ("Host", "b")]),
    ("Content-Length: 1\r\nContent-Length: 2", [
        ("Content-Length", "1"), ("Content-Length", "2")]),
    ("!#$%&'*+-.^_`|~09azAZ: v", [("!#$%&'*+-.^_`|~09azaz", "v")]),
    ("", []),
    ("\n\n", []),
]


@pytest.mark.parametrize("text,expected", HEADER_CASES)
def test_headers_parse_table(impl: Any, text: str, expected: Any) -> None:
    res = outcome(lambda: sorted(impl.httputil.HTTPHeaders.parse(text).get_all()))
    ref_res = outcome(lambda: sorted(ref.HTTPHeaders.parse(text).get_all()))
    assert res == ref_res
    if expected == "error":
        assert res == ("error", "HTTPInputError")
    else:
        assert res == ("ok", expected)


@pytest.mark.parametrize("text", [
    "A: é\u2603", "A: b\x00", "A: b\x7f", "A: b\tc", "A: \u2603\r\n \u00e9",
])
def test_headers_parse_multipart_mode(impl: Any, text: str) -> None:
    res = outcome(lambda: sorted(
        impl.httputil.HTTPHeaders.parse(text, _chars_are_bytes=False).get_all()))
    assert res == outcome(lambda: sorted(
        ref.HTTPHeaders.parse(text, _chars_are_bytes=False).get_all()))


@pytest.mark.parametrize("line", [
    "A: b", "A: b\r\n", "A: b\n", "A: b\n\n", "A: b\r", "", "\r\n", "A b",
])
def test_parse_line_table(impl: Any, line: str) -> None:
    def run(mod: Any) -> Any:
        h = mod.HTTPHeaders()
        h.parse_line(line)
        return sorted(h.get_all())
    assert outcome(lambda: run(impl.httputil)) == outcome(lambda: run(ref))


# --- start lines -------------------------------------------------------------

REQUEST_LINES = [
    "GET / HTTP/1.1", "GET /a?b=c#d HTTP/1.0", "OPTIONS * HTTP/1.1",
    "GET http://x/ HTTP/1.1", "CONNECT host:443 HTTP/1.1", "M-SEARCH * HTTP/1.1",
    "GET / HTTP/2.0", "GET / HTTP/1.10", "GET / http/1.1", "GET  / HTTP/1.1",
    "GET / HTTP/1.1 ", " GET / HTTP/1.1", "GET /\x7f HTTP/1.1", "GET /\x80 HTTP/1.1",
    "GET / \tHTTP/1.1", "GET", "GET /", "G(T / HTTP/1.1", "GET /a b HTTP/1.1",
    "", "GET /\x00 HTTP/1.1", "GET / HTTP/0.9", "get / HTTP/1.1",
]


@pytest.mark.parametrize("line", REQUEST_LINES)
def test_parse_request_start_line(impl: Any, line: str) -> None:
    res = outcome(lambda: norm(impl.httputil.parse_request_start_line(line)))
    assert res == outcome(lambda: norm(ref.parse_request_start_line(line)))


STATUS_LINES = [
    "HTTP/1.1 200 OK", "HTTP/1.0 404 Not Found", "HTTP/1.1 200 ", "HTTP/1.1 200",
    "HTTP/1.1 2000 OK", "HTTP/1.1 20 OK", "HTTP/2 200 OK", "HTTP/2.0 200 OK",
    "HTTP/1.1 200 O\tK \x80", "HTTP/1.1 200 O\x00K", "http/1.1 200 OK",
    "HTTP/1.1  200 OK", "HTTP/1.1 abc OK",
]


@pytest.mark.parametrize("line", STATUS_LINES)
def test_parse_response_start_line(impl: Any, line: str) -> None:
    res = outcome(lambda: norm(impl.httputil.parse_response_start_line(line)))
    assert res == outcome(lambda: norm(ref.parse_response_start_line(line)))


def test_start_line_tuples(impl: Any) -> None:
    r = impl.httputil.RequestStartLine("GET", "/", "HTTP/1.1")
    assert r.method == "GET" and r.path == "/" and r.version == "HTTP/1.1"
    assert r == ("GET", "/", "HTTP/1.1")
    assert repr(r) == "RequestStartLine(method='GET', path='/', version='HTTP/1.1')"
    s = impl.httputil.ResponseStartLine("HTTP/1.1", 200, "OK")
    assert s.code == 200 and s._fields == ("version", "code", "reason")


# --- HTTPServerRequest -------------------------------------------------------

class _Ctx:
    remote_ip = "10.0.0.1"
    protocol = "https"


class _Sock:
    def getpeercert(self, binary_form: bool = False) -> Any:
        return b"DER" if binary_form else {"subject": ()}


class _Stream:
    socket = _Sock()


class _Conn:
    context = _Ctx()
    stream = _Stream()


def test_request_attributes(impl: Any) -> None:
    hu = impl.httputil
    h = hu.HTTPHeaders({"Host": "Example.COM:8080", "Cookie": 'a=1; b="x y"'})
    conn = _Conn()
    r = hu.HTTPServerRequest(
        method="POST", uri="/p/q?x=1&x=2&e=", version="HTTP/1.1", headers=h,
        body=b"k=v", connection=conn, server_connection="srv",
    )
    assert r.method == "POST" and r.uri == "/p/q?x=1&x=2&e="
    assert r.path == "/p/q" and r.query == "x=1&x=2&e="
    assert r.version == "HTTP/1.1" and r.headers is h and r.body == b"k=v"
    assert r.remote_ip == "10.0.0.1" and r.protocol == "https"
    assert r.host == "Example.COM:8080" and r.host_name == "example.com"
    assert r.arguments == {"x": [b"1", b"2"], "e": [b""]}
    assert r.query_arguments == r.arguments
    assert r.query_arguments is not r.arguments
    assert r.query_arguments["x"] is not r.arguments["x"]
    assert r.body_arguments == {} and r.files == {}
    assert r.connection is conn and r.server_connection == "srv"
    assert r.full_url() == "https://Example.COM:8080/p/q?x=1&x=2&e="
    assert sorted(r.cookies) == ["a", "b"] and r.cookies["b"].value == "x y"
    assert r.cookies is r.cookies
    assert isinstance(r._start_time, float) and r._finish_time is None
    assert r.request_time() >= 0
    r._finish_time = r._start_time + 2.5
    assert r.request_time() == 2.5
    assert r.get_ssl_certificate() == {"subject": ()}
    assert r.get_ssl_certificate(binary_form=True) == b"DER"
    assert repr(r) == (
        "HTTPServerRequest(protocol='https', host='Example.COM:8080', method='POST', "
        "uri='/p/q?x=1&x=2&e=', version='HTTP/1.1', remote_ip='10.0.0.1')"
    )
    r.headers["Content-Type"] = "application/x-www-form-urlencoded"
    r._parse_body()
    assert r.body_arguments == {"k": [b"v"]}
    assert r.arguments["k"] == [b"v"] and "k" not in r.query_arguments


def test_request_defaults(impl: Any) -> None:
    r = impl.httputil.HTTPServerRequest()
    assert (r.method, r.uri, r.version, r.path, r.query) == (
        None, None, "HTTP/1.0", None, None)
    assert r.host == "127.0.0.1" and r.remote_ip is None and r.protocol == "http"
    assert r.arguments == {} and r.body == b"" and r.cookies == {}
    assert type(r)._body_future is None
    r2 = impl.httputil.HTTPServerRequest(
        start_line=impl.httputil.RequestStartLine("GET", "/x", "HTTP/1.0"),
        host="h:1")
    assert (r2.method, r2.path, r2.host, r2.host_name) == ("GET", "/x", "h:1", "h")


HOSTS = [
    "example.com", "EXAMPLE.com:80", "[::1]:8080", "a,b", "a b", "", "a%41",
    "a%4", "a/b", "a@b", "a\x00", "1.2.3.4:", "é", "a;b=c!$&'()*+~",
]


@pytest.mark.parametrize("host", HOSTS)
def test_request_host_validation(impl: Any, host: str) -> None:
    def run(mod: Any) -> Any:
        h = mod.HTTPHeaders()
        h["Host"] = host
        r = mod.HTTPServerRequest(method="GET", uri="/", version="HTTP/1.1", headers=h)
        return (r.host, r.host_name)
    assert outcome(lambda: run(impl.httputil)) == outcome(lambda: run(ref))


def test_request_missing_host(impl: Any) -> None:
    hu = impl.httputil
    with pytest.raises(hu.HTTPInputError):
        hu.HTTPServerRequest(method="GET", uri="/", version="HTTP/1.1")
    r = hu.HTTPServerRequest(method="GET", uri="/", version="HTTP/1.0")
    assert r.host == "127.0.0.1"


COOKIE_HEADERS = [
    "a=1; b=2", 'a="q\\"u\\"o\\t\\101"', "a=b=c", "noeq", ";;;", "  x = y  ",
    "a=1; a=2", "$bad=1; ok=2", "sp ace=1; ok=2", 'a="unterminated', 'a="\\377\\400"',
    "=v", "a=" + '"' + "\\" * 5000 + '"',
]


@pytest.mark.parametrize("header", COOKIE_HEADERS)
def test_parse_cookie_and_request_cookies(impl: Any, header: str) -> None:
    assert impl.httputil.parse_cookie(header) == ref.parse_cookie(header)

    def jar(mod: Any) -> Any:
        h = mod.HTTPHeaders({"Cookie": header})
        r = mod.HTTPServerRequest(uri="/", headers=h)
        return {k: m.value for k, m in r.cookies.items()}
    assert jar(impl.httputil) == jar(ref)


def test_parse_cookie_linear_time(impl: Any) -> None:
    # CVE-2024-52804: quoted values full of backslashes were quadratic.
    header = 'a="' + "\\" * 200_000 + '"'
    t0 = time.process_time()
    impl.httputil.parse_cookie(header)
    # Not a timing assertion proper: only catches the quadratic blow-up.
    assert time.process_time() - t0 < 5


# --- bodies ------------------------------------------------------------------

def _mp(*parts: bytes, boundary: bytes = b"1234") -> bytes:
    return b"".join(b"--" + boundary + b"\r\n" + p + b"\r\n" for p in parts) + (
        b"--" + boundary + b"--\r\n")


MULTIPART = [
    _mp(b'Content-Disposition: form-data; name="a"\r\n\r\nvalue'),
    _mp(b'Content-Disposition: form-data; name="f"; filename="x.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nfile body"),
    _mp(b'Content-Disposition: form-data; name="f"; filename="a\\"b"\r\n\r\n'),
    _mp(b"Content-Disposition: form-data; name=\"f\"; filename*=UTF-8''%C3%A9.txt"
        b"\r\n\r\nx"),
    _mp('Content-Disposition: form-data; name="f"; filename="\u00e9\u2603"\r\n\r\nx'
        .encode()),
    _mp(b'Content-Disposition: form-data; name="f"; filename=""\r\n\r\nempty name'),
    _mp(b'Content-Disposition: form-data; name="a"\r\n\r\n1',
        b'Content-Disposition: form-data; name="a"\r\n\r\n2'),
    _mp(b"Content-Disposition: form-data\r\n\r\nnoname"),
    _mp(b'Content-Disposition: attachment; name="a"\r\n\r\nx'),
    _mp(b'Content-Disposition: form-data; name="a"\r\nno blank line'),
    _mp(b'Content-Disposition: form-data; name="a"\r\nX: \x01\r\n\r\nctl'),
    b'--1234\r\nContent-Disposition: form-data; name="a"\r\n\r\nno final',
    b'--1234\r\nContent-Disposition: form-data; name="a"\r\n\r\nx--1234--',
    b"",
    _mp(b'Content-Disposition: form-data; name="a"\r\n\r\nx', boundary=b'"q"'),
    _mp(b"Content-Disposition: form-data; name=a;b\r\n\r\nx"),
    b"--1234--" * 3,
]


@pytest.mark.parametrize("index", range(len(MULTIPART)))
def test_parse_multipart_table(impl: Any, index: int) -> None:
    body = MULTIPART[index]
    boundary = b'"q"' if b"--q\r\n" in body else b"1234"

    def run(mod: Any) -> Any:
        args: dict = {}
        files: dict = {}
        mod.parse_multipart_form_data(boundary, body, args, files)
        return args, {k: [dict(f) for f in v] for k, v in files.items()}
    assert outcome(lambda: run(impl.httputil)) == outcome(lambda: run(ref))


def test_multipart_many_bad_parts_raise_once(impl: Any, caplog: Any) -> None:
    # CVE-2025-47287: a body of many bad parts used to log once per part.
    body = b"--b\r\nbad\r\n" * 10000 + b"--b--\r\n"
    with pytest.raises(impl.httputil.HTTPInputError):
        impl.httputil.parse_multipart_form_data(b"b", body, {}, {})
    assert not caplog.records


BODY_CASES = [
    ("application/x-www-form-urlencoded", b"a=1&b=&a=3&c", None),
    ("application/x-www-form-urlencoded; charset=utf-8", b"%E2%98%83=%FF", None),
    ("application/x-www-form-urlencoded", b"a=1", {"Content-Encoding": "gzip"}),
    ("multipart/form-data; boundary=1234", MULTIPART[0], None),
    ('multipart/form-data; boundary="q"', MULTIPART[14], None),
    ("multipart/form-data; charset=x; boundary=1234", MULTIPART[1], None),
    ("multipart/form-data", MULTIPART[0], None),
    ("multipart/form-data; boundary=", MULTIPART[0], None),
    ("multipart/form-data; boundary=1234", MULTIPART[7], None),
    ("multipart/form-data; boundary=1234", MULTIPART[0], {"Content-Encoding": "br"}),
    ("text/plain", b"a=1", None),
    ("", b"a=1", None),
]


@pytest.mark.parametrize("index", range(len(BODY_CASES)))
def test_parse_body_arguments(impl: Any, index: int) -> None:
    ctype, body, extra = BODY_CASES[index]

    def run(mod: Any) -> Any:
        args: dict = {"pre": [b"x"]}
        files: dict = {}
        headers = mod.HTTPHeaders(extra) if extra else None
        mod.parse_body_arguments(ctype, body, args, files, headers)
        return args, {k: [dict(f) for f in v] for k, v in files.items()}
    assert outcome(lambda: run(impl.httputil)) == outcome(lambda: run(ref))


def test_httpfile(impl: Any) -> None:
    f = impl.httputil.HTTPFile(filename="a", body=b"b", content_type="c")
    assert f.filename == "a" and f["body"] == b"b" and f.content_type == "c"
    assert isinstance(f, dict)


# --- small helpers -------------------------------------------------------------

@pytest.mark.parametrize("url,args", [
    ("http://a/b", {"c": "d"}),
    ("http://a/b?x=1", [("c", "d"), ("c", "e")]),
    ("http://a/b?x=1#frag", (("c", "d e"),)),
    ("http://a/b?", {}),
    ("/rel?y=&z", {"q": "ü"}),
    ("http://a/b", None),
    ("http://a/b", "bad"),
])
def test_url_concat(impl: Any, url: str, args: Any) -> None:
    assert outcome(lambda: impl.httputil.url_concat(url, args)) == outcome(
        lambda: ref.url_concat(url, args))


class _ShiftedDatetime(datetime.datetime):
    # A subclass whose utctimetuple() is its own: format_timestamp must ask it.
    def utctimetuple(self) -> time.struct_time:
        return (self + datetime.timedelta(hours=1)).replace(tzinfo=None).timetuple()


@pytest.mark.parametrize("ts", [
    0, 1359312200, 1359312200.9, time.gmtime(1359312200), (2013, 1, 27, 18, 43, 20),
    datetime.datetime(2013, 1, 27, 18, 43, 20),
    datetime.datetime(2013, 1, 27, 18, 43, 20,
                      tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
    "bad",
])
def test_format_timestamp(impl: Any, ts: Any) -> None:
    assert outcome(lambda: impl.httputil.format_timestamp(ts)) == outcome(
        lambda: ref.format_timestamp(ts))


# Edges of the C date code: datetime's range, microsecond rounding (half to
# even) just below a second, negative times, leap-second and overflowing
# tuple fields, types it leaves to the Python path.
@pytest.mark.parametrize("ts", [
    -62135596800, -62135596801, 253402300799, 253402300800, 10**30, -1, -0.5,
    -0.0000005, -0.0000006, 0.9999995, 0.9999994, 0.9999996, 1.0000005, 1e9 + 0.4999995,
    float("inf"), float("nan"), True, 951782400,
    (2020, 1, 1, 0, 0, 60, 0, 0, 0), (2020, 2, 31, 25, 61, -5), (2020, 13, 1, 0, 0, 0),
    (0, 1, 1, 0, 0, 0), (9999, 12, 31, 23, 59, 59), (10000, 1, 1, 0, 0, 0),
    (2020.0, 1, 1, 0, 0, 0), (2020, 1, 1, 0, 0), (2**70, 1, 1, 0, 0, 0),
    datetime.datetime.min, datetime.datetime.max,
    datetime.datetime(1969, 12, 31, 23, 59, 59, 999999),
    datetime.datetime.min.replace(tzinfo=datetime.timezone.utc),
    datetime.datetime.max.replace(tzinfo=datetime.timezone.utc),
    datetime.datetime(2000, 2, 29, 12, 0, 0, 999999, tzinfo=datetime.timezone.utc),
    datetime.datetime(1, 1, 1, 0, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=1))),
    datetime.datetime(9999, 12, 31, 23, tzinfo=datetime.timezone(datetime.timedelta(hours=-2))),
    datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(0))),
    _ShiftedDatetime(2020, 1, 1), _ShiftedDatetime(2020, 1, 1, tzinfo=datetime.timezone.utc),
])
def test_format_timestamp_edges(impl: Any, ts: Any) -> None:
    assert outcome(lambda: impl.httputil.format_timestamp(ts)) == outcome(
        lambda: ref.format_timestamp(ts))


@HYPOTHESIS_SETTINGS
@given(st.one_of(
    st.integers(min_value=-62135596800 - 10, max_value=253402300799 + 10),
    st.floats(min_value=-7e10, max_value=3e11, allow_nan=False),
    st.tuples(*[st.integers(min_value=-100, max_value=3000)] * 6),
    st.datetimes(),
    st.datetimes(timezones=st.just(datetime.timezone.utc)),
))
def test_format_timestamp_matches_reference(ts: Any) -> None:
    assert outcome(lambda: tc_httputil.format_timestamp(ts)) == outcome(
        lambda: ref.format_timestamp(ts))


@pytest.mark.parametrize("netloc", [
    "a", "a:1", "a:", "[::1]:80", "::1", "a:b", "a:1:2", ":80", "",
])
def test_split_host_and_port(impl: Any, netloc: str) -> None:
    assert outcome(lambda: impl.httputil.split_host_and_port(netloc)) == outcome(
        lambda: ref.split_host_and_port(netloc))


@pytest.mark.parametrize("header", [
    "text/html", "text/html; charset=UTF-8", 'form-data; name="a;b"; filename="c"',
    "a; B=1; b=2", "x; novalue; k=v", "x; k*=utf-8''%E2%82%AC", "x; k*=iso-8859-1'en'%E9",
    "x; k*0=ab; k*1=cd", 'x; k="\\"q\\""', 'x; k=""', "", ";", "x;;k=v", "x; k= v ",
    'x; k="a\\\\"; j=1', "permessage-deflate; client_max_window_bits",
])
def test_parse_header(impl: Any, header: str) -> None:
    assert outcome(lambda: impl.httputil._parse_header(header)) == outcome(
        lambda: ref._parse_header(header))


@pytest.mark.parametrize("key,pdict", [
    ("a", {}), ("a", {"b": None}), ("a", {"z": 1, "b": "c"}),
])
def test_encode_header(impl: Any, key: str, pdict: dict) -> None:
    assert impl.httputil._encode_header(key, pdict) == ref._encode_header(key, pdict)


@pytest.mark.parametrize("rng", [
    "bytes=1-2", "bytes=6-", "bytes=-6", "bytes=-0", "bytes=", "foo=1-2",
    "bytes=1-2,4-5", "bytes=a-b", " bytes = 3 - 4 ", "bytes=0-0",
])
def test_parse_request_range(impl: Any, rng: str) -> None:
    assert outcome(lambda: impl.httputil._parse_request_range(rng)) == outcome(
        lambda: ref._parse_request_range(rng))


@pytest.mark.parametrize("args", [(None, 1, 4), (1, 3, 4), (None, None, 4), (2, None, 9)])
def test_get_content_range(impl: Any, args: tuple) -> None:
    assert impl.httputil._get_content_range(*args) == ref._get_content_range(*args)


def test_misc_helpers(impl: Any) -> None:
    hu = impl.httputil
    assert list(hu.qs_to_qsl({"a": [1, 2], "b": []})) == [("a", 1), ("a", 2)]
    assert hu.encode_username_password("A\u030a", b"p:w") == "\u00c5:p:w".encode()
    assert hu.responses[404] == "Not Found"
    assert hu.HTTP_WHITESPACE == " \t"
    assert hu._normalize_header("x-forwarded-FOR") == "X-Forwarded-For"
    assert issubclass(hu.HTTPInputError, Exception)
    assert issubclass(hu.HTTPOutputError, Exception)


def test_interfaces(impl: Any) -> None:
    hu = impl.httputil
    d = hu.HTTPMessageDelegate()
    assert d.headers_received(None, None) is None
    assert d.data_received(b"") is None and d.finish() is None
    assert d.on_connection_close() is None
    with pytest.raises(NotImplementedError):
        hu.HTTPServerConnectionDelegate().start_request(None, None)
    assert hu.HTTPServerConnectionDelegate().on_close(None) is None
    for meth, args in (("write_headers", (None, None)), ("write", (b"",)),
                       ("finish", ())):
        with pytest.raises(NotImplementedError):
            getattr(hu.HTTPConnection(), meth)(*args)


def test_module_doctest_collection(impl: Any) -> None:
    finder = doctest.DocTestFinder()
    assert finder.find(impl.httputil)


def test_headers_parse_random_differential(impl: Any) -> None:
    """Seeded random header blocks from a hostile alphabet parse exactly as
    Tornado parses them (same result, or same error message)."""
    import random

    rng = random.Random(1234)
    alphabet = ["A", "b", "-", ":", " ", "\t", "\r", "\n", "\r\n", "\x00", "\x7f",
                "\x80", "\xff", "\u0100", ",", "(", "é", "1", "\x0b", ": ", "X-Y"]

    def describe(mod: Any, text: str) -> Any:
        try:
            h = mod.HTTPHeaders.parse(text)
            return ("ok", list(h.get_all()), dict(h), h._last_key)
        except Exception as e:  # noqa: BLE001
            return ("error", type(e).__name__, str(e))

    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        assert describe(impl.httputil, text) == describe(ref, text), repr(text)


# --- header names and HTTPHeaders(dict), built in C ---------------------------

_NAME_ALPHABET = st.sampled_from(
    ["a", "B", "z", "Z", "-", "_", "0", "é", "É", "ß", "ŉ", "ǆ", "ﬀ", "İ", "\u0130", " ", "--"]
)


@HYPOTHESIS_SETTINGS
@given(st.lists(_NAME_ALPHABET, max_size=8).map("".join))
def test_normalize_header_matches_reference(name: str) -> None:
    """C's Http-Header-Case equals Tornado's for ASCII and non-ASCII names
    (str.capitalize's title-casing and length changes included)."""
    assert tc_httputil._normalize_header(name) == ref._normalize_header(name)


@pytest.mark.parametrize("name", [b"x-y", 3, None, "Already-Normal", "", ["a"], {}])
def test_normalize_header_odd_inputs(name: Any) -> None:
    got = outcome(lambda: tc_httputil._normalize_header(name))
    want = outcome(lambda: ref._normalize_header(name))
    assert got == want


@HYPOTHESIS_SETTINGS
@given(st.dictionaries(st.lists(_NAME_ALPHABET, min_size=1, max_size=5).map("".join),
                       st.one_of(st.text(max_size=4), st.integers()), max_size=6))
def test_headers_from_dict_matches_reference(fields: Any) -> None:
    """HTTPHeaders(dict): the C fill gives Tornado's _dict, _as_list (later
    keys that normalize alike win) and _last_key."""
    mine, theirs = tc_httputil.HTTPHeaders(fields), ref.HTTPHeaders(fields)
    assert mine._dict == theirs._dict
    assert list(mine._dict) == list(theirs._dict)
    assert mine._as_list == theirs._as_list
    assert mine._last_key == theirs._last_key


@pytest.mark.parametrize("fields", [{1: "x"}, {b"a": "x"}, {"a": "x", 2: "y"}])
def test_headers_from_dict_bad_keys(fields: Any) -> None:
    """A key that is not a str fails as in Tornado, and leaves no half-built
    headers behind in the C path."""
    assert outcome(lambda: tc_httputil.HTTPHeaders(fields)) == outcome(
        lambda: ref.HTTPHeaders(fields))


def test_headers_from_dict_subclass_and_kwargs() -> None:
    class Sub(dict):  # type: ignore[type-arg]
        pass

    for args, kwargs in (((Sub(a="1"),), {}), ((), {"content_type": "x"}),
                         (({"a": "1"},), {"b": "2"})):
        mine = tc_httputil.HTTPHeaders(*args, **kwargs)
        theirs = ref.HTTPHeaders(*args, **kwargs)
        assert list(mine.get_all()) == list(theirs.get_all())
        assert mine._last_key == theirs._last_key


@pytest.mark.parametrize("mod", [tc_httputil, ref], ids=["tornado_c", "tornado"])
def test_headers_subclass_setitem_sees_dict_items(mod: Any) -> None:
    seen = []

    class Recording(mod.HTTPHeaders):  # type: ignore[name-defined,misc]
        def __setitem__(self, name: str, value: str) -> None:
            seen.append(name)
            super().__setitem__(name, value)

    h = Recording({"content-type": "a", "X-Y": "b"})
    assert seen == ["content-type", "X-Y"]
    assert dict(h) == {"Content-Type": "a", "X-Y": "b"}


def test_get_goes_through_a_subclass_getitem() -> None:
    # HTTPHeaders.get is Mapping.get in Tornado: a subclass's __getitem__ is
    # what it reads, and the key may be passed by name.
    for mod in (ref, tc_httputil):
        class Upper(mod.HTTPHeaders):  # type: ignore[name-defined, misc]
            def __getitem__(self, name: str) -> str:
                return super().__getitem__(name).upper()

        class Hiding(mod.HTTPHeaders):  # type: ignore[name-defined, misc]
            def __getitem__(self, name: str) -> str:
                if name.lower() == "x-secret":
                    raise KeyError(name)
                return super().__getitem__(name)

        h = Upper({"X-A": "value"})
        assert h.get("x-a") == "VALUE" and h.get("x-b", "d") == "d"
        hidden = Hiding({"X-Secret": "1", "X-A": "2"})
        assert "X-Secret" not in hidden and "x-a" in hidden
        assert hidden.get("X-Secret") is None
        assert mod.HTTPHeaders({"X-A": "v"}).get(key="X-A") == "v"
