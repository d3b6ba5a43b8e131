"""Hostile (and some benign) requests → what the HTTP server does.

``Case.responses`` lists each response the client reads as ``(status, body)``;
the echo server's body is ``b"<METHOD> <uri> <len(request body)>"`` (empty for
HEAD and for error responses).  ``Case.closed``: the server closed the
connection (False: still open after the input was handled).  ``server``:
extra ``HTTPServer`` arguments.  ``smuggling``: why a strict parser would
reject input that Tornado 6.5.2 accepts.  ``strict``: what tornado_c's native
HTTP/1 parser (llhttp, no lenient flags; DESIGN.md decision 4) does instead,
as ``(responses, closed)``, where it deliberately differs from Tornado; each
difference is listed in docs/compatibility.md.
"""

from __future__ import annotations

from typing import Any, Dict, List, NamedTuple, Optional, Tuple


class Case(NamedTuple):
    name: str
    raw: bytes
    responses: List[Tuple[int, bytes]]
    closed: bool
    server: Dict[str, Any] = {}
    smuggling: Optional[str] = None
    strict: Optional[Tuple[List[Tuple[int, bytes]], bool]] = None


H = b"Host: x\r\n"
BAD: List[Tuple[int, bytes]] = [(400, b"")]
# The native parser's answer to input it refuses: 400, connection closed.
REJECTED: Tuple[List[Tuple[int, bytes]], bool] = (BAD, True)


def ok(method: str, uri: str, length: int) -> Tuple[int, bytes]:
    return (200, f"{method} {uri} {length}".encode())


CASES: List[Case] = [
    # --- well-formed requests -------------------------------------------------
    Case("get-1.1", b"GET / HTTP/1.1\r\n" + H + b"\r\n", [ok("GET", "/", 0)], False),
    Case("get-1.0-no-host", b"GET /a?b=c HTTP/1.0\r\n\r\n",
         [ok("GET", "/a?b=c", 0)], True),
    Case("get-1.0-keep-alive", b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
         [ok("GET", "/", 0)], False),
    Case("post-1.0-no-length", b"POST / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
         [ok("POST", "/", 0)], True),
    Case("connection-close", b"GET / HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n",
         [ok("GET", "/", 0)], True),
    Case("connection-close-mixed-case",
         b"GET / HTTP/1.1\r\n" + H + b"Connection: ClOsE\r\n\r\n",
         [ok("GET", "/", 0)], True),
    Case("no-keep-alive-server", b"GET / HTTP/1.1\r\n" + H + b"\r\n",
         [ok("GET", "/", 0)], True, server={"no_keep_alive": True}),
    Case("head", b"HEAD / HTTP/1.1\r\n" + H + b"\r\n", [(200, b"")], False),
    Case("post-content-length",
         b"POST /p HTTP/1.1\r\n" + H + b"Content-Length: 5\r\n\r\nhello",
         [ok("POST", "/p", 5)], False),
    Case("get-with-body", b"GET / HTTP/1.1\r\n" + H + b"Content-Length: 3\r\n\r\nabc",
         [ok("GET", "/", 3)], False),
    Case("post-chunked",
         b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
         b"5\r\nhello\r\nA\r\n0123456789\r\n0\r\n\r\n",
         [ok("POST", "/", 15)], False),
    Case("chunked-uppercase-coding",
         b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: CHUNKED\r\n\r\n"
         b"3\r\nabc\r\n0\r\n\r\n", [ok("POST", "/", 3)], False),
    Case("chunked-size-leading-zeros",
         b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
         b"0003\r\nabc\r\n000\r\n\r\n", [ok("POST", "/", 3)], False),
    Case("pipelined",
         b"GET /1 HTTP/1.1\r\n" + H + b"\r\n"
         b"POST /2 HTTP/1.1\r\n" + H + b"Content-Length: 2\r\n\r\nab"
         b"GET /3 HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n",
         [ok("GET", "/1", 0), ok("POST", "/2", 2), ok("GET", "/3", 0)], True),
    Case("expect-100-continue",
         b"POST / HTTP/1.1\r\n" + H + b"Expect: 100-continue\r\nContent-Length: 2\r\n\r\nab",
         [(100, b""), ok("POST", "/", 2)], False),
    Case("leading-blank-lines", b"\r\n\r\nGET / HTTP/1.1\r\n" + H + b"\r\n",
         BAD, True),
    Case("one-leading-crlf", b"\r\nGET / HTTP/1.1\r\n" + H + b"\r\n",
         [ok("GET", "/", 0)], False),
    Case("equal-content-lengths",
         b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 2, 2\r\n\r\nab",
         [ok("POST", "/", 2)], False,
         strict=REJECTED),
    Case("repeated-content-length-headers",
         b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 2\r\nContent-Length: 2\r\n\r\nab",
         [ok("POST", "/", 2)], False,
         strict=REJECTED),
    Case("content-length-leading-zeros",
         b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 002\r\n\r\nab",
         [ok("POST", "/", 2)], False),
    Case("obs-text-in-value", b"GET / HTTP/1.1\r\n" + H + b"X: \x80\xff\r\n\r\n",
         [ok("GET", "/", 0)], False),
    Case("lowercase-method", b"get / HTTP/1.1\r\n" + H + b"\r\n",
         [ok("get", "/", 0)], False),
    Case("extension-method", b"M-SEARCH * HTTP/1.1\r\n" + H + b"\r\n",
         [ok("M-SEARCH", "*", 0)], False),
    # Bytes above ASCII in the request target (raw UTF-8 from clients that do
    # not percent-encode): read as Latin-1, as Tornado does.
    Case("utf8-in-path", b"GET /caf\xc3\xa9 HTTP/1.1\r\n" + H + b"\r\n",
         [ok("GET", "/caf\xc3\xa9", 0)], False),
    Case("latin1-in-query-then-next", b"GET /?a=\xe9 HTTP/1.1\r\n" + H + b"\r\n"
         b"GET /n HTTP/1.1\r\n" + H + b"\r\n", [ok("GET", "/?a=\xe9", 0), ok("GET", "/n", 0)],
         False),
    Case("next-request-high-byte", b"GET /a HTTP/1.1\r\n" + H + b"\r\n"
         b"POST /\xff HTTP/1.1\r\n" + H + b"Content-Length: 3\r\n\r\nabc",
         [ok("GET", "/a", 0), ok("POST", "/\xff", 3)], False),
    # A request that asks to upgrade (or a CONNECT) whose handler keeps the
    # connection as HTTP: what follows is the next request, as in Tornado.
    Case("upgrade-kept-then-next", b"GET /u HTTP/1.1\r\n" + H + b"Connection: Upgrade\r\n"
         b"Upgrade: foo\r\n\r\nGET /n HTTP/1.1\r\n" + H + b"\r\n",
         [ok("GET", "/u", 0), ok("GET", "/n", 0)], False),
    Case("upgrade-kept-then-crlf", b"GET /u HTTP/1.1\r\n" + H + b"Connection: Upgrade\r\n"
         b"Upgrade: websocket\r\n\r\n\r\n", [ok("GET", "/u", 0)], False),
    Case("connect-then-next", b"CONNECT x:443 HTTP/1.1\r\n" + H + b"\r\n"
         b"GET /n HTTP/1.1\r\n" + H + b"\r\n", [ok("CONNECT", "x:443", 0), ok("GET", "/n", 0)],
         False),
    Case("expect-twice", b"GET / HTTP/1.1\r\n" + H + b"Expect: 100-continue\r\n"
         b"Expect: 100-continue\r\n\r\n", [ok("GET", "/", 0)], False),
    Case("target-not-origin-form", b"OPTIONS cho HTTP/1.1\r\n" + H + b"\r\n",
         [ok("OPTIONS", "cho", 0)], False),
    Case("target-authority-like", b"GET x:80 HTTP/1.1\r\n" + H + b"\r\n",
         [ok("GET", "x:80", 0)], False),
    Case("target-nul", b"GET /\x00 HTTP/1.1\r\n" + H + b"\r\n", BAD, True),
    Case("high-byte-then-bad-header", b"GET /\xff HTTP/1.1\r\n" + H + b"X\x01: y\r\n\r\n",
         BAD, True),
    Case("host-with-port", b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
         [ok("GET", "/", 0)], False),
    Case("empty-host", b"GET / HTTP/1.1\r\nHost:\r\n\r\n", [ok("GET", "/", 0)], False),
    Case("body-larger-than-chunk-size",
         b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 10\r\n\r\n0123456789",
         [ok("POST", "/", 10)], False, server={"chunk_size": 3}),
    # --- Tornado-lenient input (possible smuggling vectors) -------------------
    Case("lf-only-line-endings", b"GET / HTTP/1.1\nHost: x\n\n", [ok("GET", "/", 0)],
         False, smuggling="bare LF accepted as line terminator (RFC 9112 2.2 MAY); "
         "a front end that only splits on CRLF sees different header lines"),
    Case("mixed-line-endings", b"GET / HTTP/1.1\r\nHost: x\n\r\n", [ok("GET", "/", 0)],
         False, smuggling="header block ended by LF CRLF"),
    Case("cr-cr-lf-request-line", b"GET / HTTP/1.1\r\r\n" + H + b"\r\n",
         [ok("GET", "/", 0)], False,
         smuggling="request line may end in several CRs (rstrip) before LF",
         strict=REJECTED),
    Case("obs-fold", b"GET / HTTP/1.1\r\n" + H + b"X: a\r\n b\r\n\r\n",
         [ok("GET", "/", 0)], False,
         smuggling="obs-fold continuation lines accepted and joined with SP",
         strict=REJECTED),
    Case("obs-fold-content-length",
         b"POST / HTTP/1.1\r\n" + H + b"Content-Length:\r\n 2\r\n\r\nab",
         BAD, True,
         strict=REJECTED),  # the fold leaves " 2": not an integer
    Case("obs-fold-transfer-encoding",
         b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding:\r\n chunked\r\n\r\n"
         b"2\r\nab\r\n0\r\n\r\n", BAD, True,
         strict=REJECTED),  # " chunked" is not "chunked"
    Case("http-1.0-chunked",
         b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
         [ok("POST", "/", 2)], True,
         smuggling="Transfer-Encoding honoured in an HTTP/1.0 request (RFC 9112 6.1: "
         "must be treated as faulty framing)",
         strict=REJECTED),
    Case("http-1.2", b"GET / HTTP/1.2\r\n" + H + b"\r\n", [ok("GET", "/", 0)], True,
         smuggling="unknown minor version HTTP/1.2 accepted (treated like 1.0 for "
         "keep-alive)",
         strict=REJECTED),
    Case("absolute-form-other-host",
         b"GET http://evil.example/ HTTP/1.1\r\nHost: good.example\r\n\r\n",
         [ok("GET", "http://evil.example/", 0)], False,
         smuggling="absolute-form target and Host disagree; Host wins (RFC 9112 3.2.2 "
         "says the target's authority wins)"),
    Case("connection-keep-alive-close-list",
         b"GET / HTTP/1.1\r\n" + H + b"Connection: keep-alive, close\r\n\r\n",
         [ok("GET", "/", 0)], False,
         smuggling="'close' inside a Connection list is ignored (only an exact "
         "'close' value closes)",
         strict=([ok("GET", "/", 0)], True)),
    # --- rejected: framing ------------------------------------------------------
    # Regression rows for Tornado's past request-smuggling fixes: lengths
    # and chunk sizes once parsed with int() (signs, underscores, "0x",
    # blanks: fixed in Tornado 6.3.3), Transfer-Encoding lists, repeats and
    # Transfer-Encoding with Content-Length (fixed in 6.4.1).  The cookie
    # (CVE-2024-52804) and multipart (CVE-2025-47287) inputs are in
    # tests/test_httputil.py.
    Case("cl-and-te",
         b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", BAD, True),
    Case("te-and-cl",
         b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n"
         b"Content-Length: 5\r\n\r\n0\r\n\r\n", BAD, True),
    Case("te-list", b"POST / HTTP/1.1\r\n" + H +
         b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", BAD, True),
    Case("te-twice", b"POST / HTTP/1.1\r\n" + H +
         b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         BAD, True),
    Case("te-identity", b"POST / HTTP/1.1\r\n" + H +
         b"Transfer-Encoding: identity\r\n\r\n", BAD, True),
    Case("te-vertical-tab", b"POST / HTTP/1.1\r\n" + H +
         b"Transfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n", BAD, True),
    Case("te-space-before-colon", b"POST / HTTP/1.1\r\n" + H +
         b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", BAD, True),
    Case("te-quoted", b"POST / HTTP/1.1\r\n" + H +
         b'Transfer-Encoding: "chunked"\r\n\r\n0\r\n\r\n', BAD, True),
    Case("unequal-content-lengths", b"POST / HTTP/1.1\r\n" + H +
         b"Content-Length: 1, 2\r\n\r\nab", BAD, True),
    Case("unequal-content-length-headers", b"POST / HTTP/1.1\r\n" + H +
         b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nab", BAD, True),
    Case("negative-content-length", b"POST / HTTP/1.1\r\n" + H +
         b"Content-Length: -1\r\n\r\n", BAD, True),
    Case("plus-content-length", b"POST / HTTP/1.1\r\n" + H +
         b"Content-Length: +1\r\n\r\na", BAD, True),
    Case("hex-content-length", b"POST / HTTP/1.1\r\n" + H +
         b"Content-Length: 0x1\r\n\r\na", BAD, True),
    Case("content-length-inner-space", b"POST / HTTP/1.1\r\n" + H +
         b"Content-Length: 1 1\r\n\r\na", BAD, True),
    Case("content-length-underscore", b"POST / HTTP/1.1\r\n" + H +
         b"Content-Length: 1_0\r\n\r\n0123456789", BAD, True),
    Case("content-length-unicode-digit", b"POST / HTTP/1.1\r\n" + H +
         b"Content-Length: \xd9\xa1\r\n\r\na", BAD, True),
    Case("content-length-too-large", b"POST / HTTP/1.1\r\n" + H +
         b"Content-Length: 11\r\n\r\n", BAD, True, server={"max_body_size": 10}),
    Case("chunked-too-large", b"POST / HTTP/1.1\r\n" + H +
         b"Transfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nabcdef\r\n0\r\n\r\n",
         BAD, True, server={"max_body_size": 10}),
    Case("chunk-size-invalid", b"POST / HTTP/1.1\r\n" + H +
         b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", BAD, True),
    Case("chunk-size-negative", b"POST / HTTP/1.1\r\n" + H +
         b"Transfer-Encoding: chunked\r\n\r\n-1\r\n", BAD, True),
    Case("chunk-size-0x", b"POST / HTTP/1.1\r\n" + H +
         b"Transfer-Encoding: chunked\r\n\r\n0x2\r\nab\r\n0\r\n\r\n", BAD, True),
    Case("chunk-extension", b"POST / HTTP/1.1\r\n" + H +
         b"Transfer-Encoding: chunked\r\n\r\n2;ext=1\r\nab\r\n0\r\n\r\n", BAD, True),
    Case("chunk-size-trailing-space", b"POST / HTTP/1.1\r\n" + H +
         b"Transfer-Encoding: chunked\r\n\r\n2 \r\nab\r\n0\r\n\r\n", BAD, True),
    Case("chunk-size-lf-only", b"POST / HTTP/1.1\r\n" + H +
         b"Transfer-Encoding: chunked\r\n\r\n2\nab\r\n0\r\n\r\n", BAD, True),
    Case("chunk-size-line-too-long", b"POST / HTTP/1.1\r\n" + H +
         b"Transfer-Encoding: chunked\r\n\r\n" + b"0" * 100 + b"2\r\nab\r\n0\r\n\r\n",
         [], True),
    Case("chunk-data-no-crlf", b"POST / HTTP/1.1\r\n" + H +
         b"Transfer-Encoding: chunked\r\n\r\n2\r\nabXX0\r\n\r\n", [], True,
         strict=REJECTED),
    Case("last-chunk-with-trailer", b"POST / HTTP/1.1\r\n" + H +
         b"Transfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n\r\n", BAD, True),
    # --- rejected: start line ---------------------------------------------------
    Case("http-2.0", b"GET / HTTP/2.0\r\n" + H + b"\r\n", BAD, True),
    Case("http-0.9", b"GET /\r\n\r\n", BAD, True),
    Case("version-lowercase", b"GET / http/1.1\r\n" + H + b"\r\n", BAD, True),
    Case("double-space", b"GET  / HTTP/1.1\r\n" + H + b"\r\n", BAD, True),
    Case("tab-separator", b"GET\t/ HTTP/1.1\r\n" + H + b"\r\n", BAD, True),
    Case("leading-space-method", b" GET / HTTP/1.1\r\n" + H + b"\r\n", BAD, True),
    Case("space-in-target", b"GET /a b HTTP/1.1\r\n" + H + b"\r\n", BAD, True),
    Case("nul-in-target", b"GET /\x00 HTTP/1.1\r\n" + H + b"\r\n", BAD, True),
    Case("del-in-target", b"GET /\x7f HTTP/1.1\r\n" + H + b"\r\n", BAD, True),
    Case("method-bad-char", b"G@T / HTTP/1.1\r\n" + H + b"\r\n", BAD, True),
    Case("trailing-space-request-line", b"GET / HTTP/1.1 \r\n" + H + b"\r\n", BAD,
         True),
    # --- rejected: headers --------------------------------------------------------
    Case("missing-host", b"GET / HTTP/1.1\r\n\r\n", BAD, True),
    Case("two-hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", BAD, True),
    Case("host-with-comma", b"GET / HTTP/1.1\r\nHost: a,b\r\n\r\n", BAD, True),
    Case("host-bad-char", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", BAD, True),
    Case("host-with-userinfo", b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", BAD, True),
    Case("space-before-colon", b"GET / HTTP/1.1\r\n" + H + b"X : y\r\n\r\n", BAD, True),
    Case("empty-header-name", b"GET / HTTP/1.1\r\n" + H + b": y\r\n\r\n", BAD, True),
    Case("no-colon", b"GET / HTTP/1.1\r\n" + H + b"Xy\r\n\r\n", BAD, True),
    Case("first-line-folded", b"GET / HTTP/1.1\r\n Host: x\r\n\r\n", BAD, True),
    Case("nul-in-value", b"GET / HTTP/1.1\r\n" + H + b"X: a\x00b\r\n\r\n", BAD, True),
    Case("bare-cr-in-value", b"GET / HTTP/1.1\r\n" + H + b"X: a\rb\r\n\r\n", BAD, True),
    Case("del-in-value", b"GET / HTTP/1.1\r\n" + H + b"X: a\x7fb\r\n\r\n", BAD, True),
    Case("ctl-in-name", b"GET / HTTP/1.1\r\n" + H + b"X\x01: y\r\n\r\n", BAD, True),
    Case("non-token-name", b"GET / HTTP/1.1\r\n" + H + b"X(y): z\r\n\r\n", BAD, True),
    Case("obs-text-in-name", b"GET / HTTP/1.1\r\n" + H + b"X\xe9: z\r\n\r\n", BAD,
         True),
    Case("folded-content-length-garbage", b"POST / HTTP/1.1\r\n" + H +
         b"Content-Length: 2\r\n 2\r\n\r\nab", BAD, True),
    Case("header-too-large", b"GET / HTTP/1.1\r\n" + H + b"X: " + b"a" * 300 +
         b"\r\n\r\n", [], True, server={"max_header_size": 100}),
    Case("form-bad-encoding", b"POST / HTTP/1.1\r\n" + H +
         b"Content-Type: application/x-www-form-urlencoded\r\n"
         b"Content-Encoding: gzip\r\nContent-Length: 3\r\n\r\na=b", BAD, True),
    Case("multipart-no-boundary", b"POST / HTTP/1.1\r\n" + H +
         b"Content-Type: multipart/form-data\r\nContent-Length: 3\r\n\r\na=b",
         BAD, True),
    # --- incomplete input: nothing happens yet ------------------------------------
    Case("incomplete-headers", b"GET / HTTP/1.1\r\n" + H, [], False),
    Case("bare-cr-line-ends", b"GET / HTTP/1.1\rHost: x\r\r", [], False),
    # A fault in a head that has not ended yet: Tornado reads a head to its end
    # before parsing it, so the 400 waits for that end.
    Case("bad-name-unfinished", b"GET / HTTP/1.1\r\n" + H + b"X(y): z\r\n", [], False),
    Case("bad-line-unfinished", b"GET  / HTTP/1.1\r\n" + H, [], False),
    Case("obs-fold-unfinished", b"GET / HTTP/1.1\r\n" + H + b"X: a\r\n b\r\n", [], False),
    Case("bad-value-unfinished", b"GET / HTTP/1.1\r\n" + H + b"X: a\x00b\r\nY: c",
         [], False),
    Case("bad-head-then-end-bare-lf", b"GET / HTTP/1.1\nX(y): z\nY: 1\n\n", BAD, True),
    Case("bad-head-then-end-lf-crlf", b"GET / HTTP/1.1\r\nX(y): z\n\r\n", BAD, True),
    Case("bad-head-then-request", b"GET / HTTP/1.1\r\nX(y): z\r\n\r\nGET / HTTP/1.1\r\n" +
         H + b"\r\n", BAD, True),
    # ... and one that outgrows max_header_size first is closed unanswered.
    Case("bad-head-oversized", b"GET / HTTP/1.1\r\n" + H + b"X(y): z\r\nY: " + b"a" * 300 +
         b"\r\n\r\n", [], True, server={"max_header_size": 100}),
    Case("bad-head-end-past-limit", b"GET / HTTP/1.1\r\nX(y): z\r\nY: " + b"a" * 70 +
         b"\r\n\r\n", [], True, server={"max_header_size": 100}),
    Case("bad-head-end-within-limit", b"GET / HTTP/1.1\r\nX(y): z\r\nY: " + b"a" * 50 +
         b"\r\n\r\n", BAD, True, server={"max_header_size": 100}),
    Case("incomplete-body", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\n\r\nab",
         [], False),
    Case("incomplete-chunked", b"POST / HTTP/1.1\r\n" + H +
         b"Transfer-Encoding: chunked\r\n\r\n2\r\nab\r\n", [], False),
]
