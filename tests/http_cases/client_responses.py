"""Responses a server sends → what an `HTTP1Connection` client makes of them.

The client sends ``method`` to ``/`` (``POST`` with a ``b"hi"`` body of
unknown length, so it goes out chunked), then calls ``read_response``.
``result`` is what ``read_response`` resolved to (True: stream still open,
False: the connection was given up), or the name of the exception it raised.
``code`` is the status the delegate's ``headers_received`` saw (None: never
called), ``body`` what ``data_received`` got in total, ``events`` the
delegate's closing call ("finish", "close" or None).  ``close_after``: the
server closes its end after sending.
"""

from __future__ import annotations

import gzip
from typing import Any, Dict, NamedTuple, Optional, Union


class Case(NamedTuple):
    name: str
    raw: bytes
    result: Union[bool, str]
    code: Optional[int]
    body: bytes
    end: Optional[str]
    method: str = "GET"
    close_after: bool = False
    params: Dict[str, Any] = {}
    smuggling: Optional[str] = None


GZ = gzip.compress(b"hello world " * 50)

CASES = [
    Case("content-length", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
         True, 200, b"hello", "finish"),
    Case("chunked", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", True, 200, b"abcde", "finish"),
    Case("until-close", b"HTTP/1.1 200 OK\r\n\r\nall of it", True, 200, b"all of it",
         "finish", close_after=True),
    Case("http-1.0", b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
         True, 200, b"ok", "finish"),
    Case("no-reason", b"HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", True, 200, b"",
         "finish"),
    Case("head-skips-body", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
         True, 200, b"", "finish", method="HEAD"),
    Case("304-skips-body", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
         True, 304, b"", "finish"),
    Case("204-empty", b"HTTP/1.1 204 No Content\r\n\r\n", True, 204, b"", "finish"),
    Case("204-with-length-0", b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
         True, 204, b"", "finish"),
    Case("204-with-body", b"HTTP/1.1 204 No Content\r\nContent-Length: 2\r\n\r\nab",
         False, 204, b"", "close"),
    Case("204-chunked", b"HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"0\r\n\r\n", False, 204, b"", "close"),
    Case("1xx-with-length", b"HTTP/1.1 100 Continue\r\nContent-Length: 0\r\n\r\n",
         False, 100, b"", "close"),
    Case("post-chunked-request", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
         True, 200, b"ok", "finish", method="POST"),
    Case("cl-and-te", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", False, 200, b"", "close"),
    Case("unequal-lengths", b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nab",
         False, 200, b"", "close"),
    Case("bad-chunk-size", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"x\r\n", False, 200, b"", "close"),
    Case("too-long", b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n0123456789a",
         False, 200, b"", "close", params={"max_body_size": 10}),
    Case("bad-status-line", b"HTTP/1.1 2000 OK\r\n\r\n", False, None, b"", None),
    Case("status-without-space", b"HTTP/1.1 200\r\n\r\n", False, None, b"", None),
    Case("http-2-status", b"HTTP/2.0 200 OK\r\n\r\n", False, None, b"", None),
    Case("bad-header", b"HTTP/1.1 200 OK\r\nX: a\x01\r\n\r\n", False, None, b"", None),
    Case("lf-only", b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok", True, 200, b"ok",
         "finish", smuggling="bare LF line endings accepted in responses too"),
    Case("closed-before-headers", b"", "StreamClosedError", None, b"", None,
         close_after=True),
    Case("closed-mid-body", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab",
         "StreamClosedError", 200, b"ab", "close", close_after=True,
         params={"chunk_size": 1}),
    Case("gzip-decompressed", b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
         b"Content-Length: %d\r\n\r\n" % len(GZ) + GZ, True, 200,
         b"hello world " * 50, "finish", params={"decompress": True, "chunk_size": 64}),
    Case("gzip-not-decompressed", b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
         b"Content-Length: %d\r\n\r\n" % len(GZ) + GZ, True, 200, GZ, "finish"),
    Case("gzip-truncated", b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
         b"Content-Length: %d\r\n\r\n" % (len(GZ) - 8) + GZ[:-8], True,
         200, b"hello world " * 50, "finish", params={"decompress": True}),
    # (a truncated trailer goes unnoticed: zlib's flush() returns nothing)
]
