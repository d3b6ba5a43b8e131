"""Differential tests of tornado_c.simple_httpclient against
tornado.simple_httpclient.

The servers are scripted asyncio servers on 127.0.0.1 (helpers from
test_httpclient.py), so each case controls the exact bytes the client sees
and records the exact request the client sent.  Every case is bounded by a
short timeout.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import socket
import ssl
from typing import Any, List, Tuple

import pytest

from test_httpclient import (
    Request,
    ScriptServer,
    fetch_outcome,
    read_body,
    respond,
    response_bytes,
    run,
)

CERT_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tornado_c", "testing_data"
)


def make_client(impl: Any, **kwargs: Any) -> Any:
    return impl.simple_httpclient.SimpleAsyncHTTPClient(force_instance=True, **kwargs)


def sent_headers(request: Request, port: int) -> List[str]:
    """The request's header lines, with the server port made generic."""
    return [line.replace(str(port), "PORT") for line in request.header_lines]


def test_request_bytes(impl: Any) -> None:
    """The request line and headers the client writes, for common cases."""

    async def main() -> List[Any]:
        seen = []
        async with ScriptServer(respond(200, b"ok")) as srv:
            client = make_client(impl)
            await client.fetch(srv.url("/a/b?x=1&y=2"))
            await client.fetch(srv.url(), method="POST", body="k=v")
            await client.fetch(srv.url(), method="PUT", body=b"raw", user_agent="UA/1")
            await client.fetch(
                srv.url(),
                headers={"Host": "example.com", "Connection": "keep-alive", "X-A": "b"},
                decompress_response=False,
            )
            await client.fetch(srv.url(), method="DELETE")
            await client.fetch(srv.url(), method="OPTIONS")
            await client.fetch(srv.url(), method="HEAD")
            await client.fetch(srv.url(), method="PATCH", body=b"p")
            client.close()
            for request in srv.requests:
                seen.append(
                    (request.method, request.target, sent_headers(request, srv.port), request.body)
                )
        return seen

    assert run(main) == [
        (
            "GET",
            "/a/b?x=1&y=2",
            [
                "Connection: close",
                "Host: 127.0.0.1:PORT",
                "User-Agent: Tornado/6.5.2",
                "Accept-Encoding: gzip",
            ],
            b"",
        ),
        (
            "POST",
            "/",
            [
                "Connection: close",
                "Host: 127.0.0.1:PORT",
                "User-Agent: Tornado/6.5.2",
                "Content-Length: 3",
                "Content-Type: application/x-www-form-urlencoded",
                "Accept-Encoding: gzip",
            ],
            b"k=v",
        ),
        (
            "PUT",
            "/",
            [
                "Connection: close",
                "Host: 127.0.0.1:PORT",
                "User-Agent: UA/1",
                "Content-Length: 3",
                "Accept-Encoding: gzip",
            ],
            b"raw",
        ),
        (
            "GET",
            "/",
            [
                "Host: example.com",
                "Connection: keep-alive",
                "X-A: b",
                "User-Agent: Tornado/6.5.2",
            ],
            b"",
        ),
        (
            "DELETE",
            "/",
            [
                "Connection: close",
                "Host: 127.0.0.1:PORT",
                "User-Agent: Tornado/6.5.2",
                "Accept-Encoding: gzip",
            ],
            b"",
        ),
        (
            "OPTIONS",
            "/",
            [
                "Connection: close",
                "Host: 127.0.0.1:PORT",
                "User-Agent: Tornado/6.5.2",
                "Accept-Encoding: gzip",
            ],
            b"",
        ),
        (
            "HEAD",
            "/",
            [
                "Connection: close",
                "Host: 127.0.0.1:PORT",
                "User-Agent: Tornado/6.5.2",
                "Accept-Encoding: gzip",
            ],
            b"",
        ),
        (
            "PATCH",
            "/",
            [
                "Connection: close",
                "Host: 127.0.0.1:PORT",
                "User-Agent: Tornado/6.5.2",
                "Content-Length: 1",
                "Accept-Encoding: gzip",
            ],
            b"p",
        ),
    ]


def test_basic_auth(impl: Any) -> None:
    async def main() -> List[Any]:
        async with ScriptServer(respond(200)) as srv:
            client = make_client(impl)
            await client.fetch(srv.url(), auth_username="Aladdin", auth_password="open sesame")
            await client.fetch(srv.url(), auth_username="user")
            url = "http://me:secret@127.0.0.1:%d/" % srv.port
            await client.fetch(url)
            outcome = await fetch_outcome(client, srv.url(), auth_username="u", auth_mode="digest")
            client.close()
            return [r.headers["authorization"] for r in srv.requests] + [
                srv.requests[2].headers["host"].endswith(str(srv.port)),
                "@" in srv.requests[2].headers["host"],
                outcome,
            ]

    assert run(main) == [
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        "Basic dXNlcjo=",
        "Basic bWU6c2VjcmV0",
        True,
        False,
        ("error", ("ValueError", "('unsupported auth_mode %s', 'digest')", None, None)),
    ]


def test_invalid_requests(impl: Any) -> None:
    async def main() -> List[Any]:
        async with ScriptServer(respond(200)) as srv:
            client = make_client(impl)
            outcomes = [
                await fetch_outcome(client, "ftp://127.0.0.1/"),
                await fetch_outcome(client, srv.url(), method="GET", body=b"x"),
                await fetch_outcome(client, srv.url(), method="POST"),
                await fetch_outcome(client, srv.url(), method="BREW"),
                await fetch_outcome(client, srv.url(), proxy_host="proxy", proxy_port=8080),
                await fetch_outcome(client, srv.url(), network_interface="eth-nope"),
                await fetch_outcome(
                    client, srv.url(), method="BREW", allow_nonstandard_methods=True
                ),
                await fetch_outcome(
                    client, srv.url(), method="GET", body=b"x", allow_nonstandard_methods=True
                ),
            ]
            client.close()
            outcomes.append([(r.method, r.body) for r in srv.requests])
            return outcomes

    outcomes = run(main)
    assert outcomes[0] == (
        "error",
        ("ValueError", "Unsupported url scheme: ftp://127.0.0.1/", None, None),
    )
    assert outcomes[1] == (
        "error",
        (
            "ValueError",
            "Body must be None for method GET (unless allow_nonstandard_methods is true)",
            None,
            None,
        ),
    )
    assert outcomes[2] == (
        "error",
        (
            "ValueError",
            "Body must not be None for method POST (unless allow_nonstandard_methods is true)",
            None,
            None,
        ),
    )
    assert outcomes[3] == ("error", ("KeyError", "'unknown method BREW'", None, None))
    assert outcomes[4] == (
        "error",
        ("NotImplementedError", "proxy_host not supported", None, None),
    )
    assert outcomes[5] == (
        "error",
        (
            "ValueError",
            "Unrecognized IPv4 or IPv6 address for network_interface, got 'eth-nope'",
            None,
            None,
        ),
    )
    assert outcomes[6] == ("ok", (200, "OK", b""))
    assert outcomes[7] == ("ok", (200, "OK", b""))
    assert outcomes[8] == [("BREW", b""), ("GET", b"x")]


def test_redirects(impl: Any) -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        path = request.target
        if path.startswith("/redirect/"):
            _, _, code, rest = path.split("/", 3)
            writer.write(response_bytes(int(code), b"moved", [("Location", "/" + rest)]))
        elif path.startswith("/chain/"):
            count = int(path.split("/")[2])
            target = "/chain/%d" % (count - 1) if count else "/final"
            writer.write(response_bytes(302, b"", [("Location", target)]))
        else:
            info = "%s %s %s %s" % (
                request.method,
                path,
                request.headers.get("content-length"),
                request.headers.get("content-type"),
            )
            writer.write(response_bytes(200, info.encode() + b" " + request.body))
        await writer.drain()

    async def main() -> List[Any]:
        results = []
        async with ScriptServer(handler) as srv:
            client = make_client(impl)
            for code in (301, 302, 303, 307, 308):
                for method, body in (("POST", b"data"), ("PUT", b"data"), ("HEAD", None)):
                    response = await client.fetch(
                        srv.url("/redirect/%d/final" % code),
                        method=method,
                        body=body,
                        headers={"Content-Type": "text/x-test"} if body else None,
                        raise_error=False,
                    )
                    results.append(
                        (code, method, response.code, response.body, response.effective_url.endswith("/final"))
                    )
            request = impl.httpclient.HTTPRequest(srv.url("/chain/2"))
            response = await client.fetch(request)
            results.append((response.code, response.body, response.request is request))
            results.append(await fetch_outcome(client, srv.url("/chain/9"), max_redirects=3))
            response = await client.fetch(srv.url("/chain/9"), max_redirects=3, raise_error=False)
            results.append((response.code, response.headers["Location"], response.effective_url.endswith("/chain/6")))
            results.append(
                await fetch_outcome(client, srv.url("/redirect/302/final"), follow_redirects=False)
            )
            client.close()
        return results

    results = run(main)
    expected_methods = {
        301: {"POST": "GET / None None", "PUT": "PUT /final 4 text/x-test", "HEAD": ""},
        302: {"POST": "GET / None None", "PUT": "PUT /final 4 text/x-test", "HEAD": ""},
        303: {"POST": "GET / None None", "PUT": "GET / None None", "HEAD": ""},
        307: {"POST": "POST /final 4 text/x-test", "PUT": "PUT /final 4 text/x-test", "HEAD": ""},
        308: {"POST": "POST /final 4 text/x-test", "PUT": "PUT /final 4 text/x-test", "HEAD": ""},
    }
    for code, method, status, body, at_final in results[:15]:
        assert status == 200 and at_final
        expected = expected_methods[code][method]
        if method == "HEAD":
            assert body == b""
        elif expected.startswith("GET"):
            assert body == b"GET /final None None "
        else:
            assert body == expected.encode() + b" data"
    assert results[15] == (200, b"GET /final None None ", True)
    assert results[16] == ("error", ("HTTPClientError", "HTTP 302: OK", 302, (302, b"")))
    assert results[17] == (302, "/chain/5", True)
    assert results[18] == ("error", ("HTTPClientError", "HTTP 302: OK", 302, (302, b"moved")))


def test_callbacks(impl: Any) -> None:
    body = b"0123456789" * 1000

    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 200 Fine\r\nX-One: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        for start in range(0, len(body), 4000):
            piece = body[start : start + 4000]
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async def main() -> Tuple[Any, ...]:
        chunks: List[bytes] = []
        lines: List[str] = []
        async with ScriptServer(handler) as srv:
            client = make_client(impl)
            response = await client.fetch(
                srv.url(), streaming_callback=chunks.append, header_callback=lines.append
            )
            client.close()
        return b"".join(chunks), lines, response.body, response.reason, list(response.headers.get_all())

    joined, lines, response_body, reason, headers = run(main)
    assert joined == body
    assert lines == [
        "HTTP/1.1 200 Fine\r\n",
        "X-One: 1\r\n",
        "Transfer-Encoding: chunked\r\n",
        "\r\n",
    ]
    assert response_body == b""
    assert reason == "Fine"
    assert headers == [("X-One", "1"), ("Transfer-Encoding", "chunked")]


def test_gzip(impl: Any) -> None:
    payload = b"compressed " * 500
    data = gzip.compress(payload)

    async def main() -> List[Any]:
        async with ScriptServer(respond(200, data, [("Content-Encoding", "gzip")])) as srv:
            client = make_client(impl)
            plain = await client.fetch(srv.url())
            raw = await client.fetch(srv.url(), decompress_response=False)
            client.close()
        return [
            plain.body == payload,
            plain.headers.get("Content-Encoding"),
            plain.headers.get("X-Consumed-Content-Encoding"),
            raw.body == data,
            raw.headers.get("Content-Encoding"),
        ]

    assert run(main) == [True, None, "gzip", True, "gzip"]


def test_timeouts(impl: Any) -> None:
    async def silent(request: Request, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(5)
        return False

    class SlowResolver(impl.netutil.Resolver):
        def initialize(self) -> None:
            pass

        async def resolve(self, host: str, port: int, family: int = socket.AF_UNSPEC) -> Any:
            await asyncio.sleep(5)
            return [(socket.AF_INET, ("127.0.0.1", port))]

    async def main() -> List[Any]:
        async with ScriptServer(silent) as srv:
            client = make_client(impl)
            results = [await fetch_outcome(client, srv.url(), request_timeout=0.2)]
            client.close()
            client = make_client(impl, resolver=SlowResolver())
            results.append(await fetch_outcome(client, "http://slow.invalid/", connect_timeout=0.2))
            client.close()
            client = make_client(impl, max_clients=1)
            first = asyncio.ensure_future(fetch_outcome(client, srv.url(), request_timeout=0.5))
            await asyncio.sleep(0)
            results.append(await fetch_outcome(client, srv.url(), connect_timeout=0.1))
            results.append(await first)
            client.close()
        return results

    results = run(main)
    assert results == [
        ("error", ("HTTPTimeoutError", "Timeout during request", 599, None)),
        ("error", ("HTTPTimeoutError", "Timeout while connecting", 599, None)),
        ("error", ("HTTPTimeoutError", "Timeout in request queue", 599, None)),
        ("error", ("HTTPTimeoutError", "Timeout during request", 599, None)),
    ]


def test_queueing(impl: Any) -> None:
    async def main() -> List[Any]:
        async with ScriptServer(respond(200, b"q")) as srv:
            client = make_client(impl, max_clients=2)
            results = await asyncio.gather(
                *[fetch_outcome(client, srv.url("/%d" % i)) for i in range(6)]
            )
            client.close()
            return [list(results), sorted(r.target for r in srv.requests)]

    assert run(main) == [
        [("ok", (200, "OK", b"q"))] * 6,
        ["/0", "/1", "/2", "/3", "/4", "/5"],
    ]


def test_stream_closed(impl: Any) -> None:
    async def close_early(request: Request, writer: asyncio.StreamWriter) -> bool:
        return False

    async def partial(request: Request, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
        await writer.drain()
        return False

    async def main() -> List[Any]:
        results = []
        for handler in (close_early, partial):
            async with ScriptServer(handler) as srv:
                client = make_client(impl)
                results.append(await fetch_outcome(client, srv.url()))
                client.close()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        client = make_client(impl)
        results.append(await fetch_outcome(client, "http://127.0.0.1:%d/" % port))
        client.close()
        return results

    assert run(main) == [
        ("error", ("HTTPStreamClosedError", "Stream closed", 599, None)),
        ("error", ("HTTPStreamClosedError", "Connection closed", 599, None)),
        ("error", ("ConnectionRefusedError", "[Errno 111] Connection refused", None, None)),
    ]


def test_hostname_mapping_and_limits(impl: Any) -> None:
    async def main() -> List[Any]:
        async with ScriptServer(respond(200, b"x" * 2000, [("X-Big", "y" * 3000)])) as srv:
            client = make_client(impl, hostname_mapping={"mapped.invalid": "127.0.0.1"})
            url = "http://mapped.invalid:%d/" % srv.port
            results = [await fetch_outcome(client, url)]
            host = srv.requests[0].headers["host"]
            client.close()
            client = make_client(impl, max_body_size=1000)
            results.append(await fetch_outcome(client, srv.url()))
            client.close()
            client = make_client(impl, max_header_size=1000)
            results.append(await fetch_outcome(client, srv.url()))
            client.close()
        return [results[0], host == "mapped.invalid:%d" % srv.port, results[1][0], results[2][0]]

    results = run(main)
    assert results == [("ok", (200, "OK", b"x" * 2000)), True, "error", "error"]


def test_body_producer_and_expect_continue(impl: Any) -> None:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> None:
        if request.headers.get("expect") == "100-continue":
            if request.target == "/refuse":
                writer.write(response_bytes(403, b"no"))
                await writer.drain()
                return False  # type: ignore[return-value]
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
            await read_body(request.reader, request)  # type: ignore[attr-defined]
        writer.write(response_bytes(200, b"got " + request.body))
        await writer.drain()
        return True  # type: ignore[return-value]

    async def main() -> List[Any]:
        async def producer(write: Any) -> None:
            await write(b"part1,")
            await asyncio.sleep(0)
            await write(b"part2")

        async with ScriptServer(handler) as srv:
            client = make_client(impl)
            results = [
                await fetch_outcome(client, srv.url(), method="POST", body_producer=producer),
                await fetch_outcome(
                    client,
                    srv.url(),
                    method="PUT",
                    body_producer=producer,
                    headers={"Content-Length": "11"},
                ),
                await fetch_outcome(
                    client, srv.url(), method="POST", body=b"cont", expect_100_continue=True
                ),
                await fetch_outcome(
                    client, srv.url("/refuse"), method="POST", body=b"x", expect_100_continue=True
                ),
            ]
            client.close()
            results.append([sorted(r.headers) for r in srv.requests])
        return results

    results = run(main)
    assert results[:4] == [
        ("ok", (200, "OK", b"got part1,part2")),
        ("ok", (200, "OK", b"got part1,part2")),
        ("ok", (200, "OK", b"got cont")),
        ("error", ("HTTPClientError", "HTTP 403: OK", 403, (403, b"no"))),
    ]
    assert "transfer-encoding" in results[4][0]
    assert "content-length" in results[4][1]
    assert "expect" in results[4][2]


def test_https(impl: Any) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(
        os.path.join(CERT_DIR, "test.crt"), os.path.join(CERT_DIR, "test.key")
    )

    async def main() -> List[Any]:
        async with ScriptServer(respond(200, b"secure"), ssl_context=server_context) as srv:
            url = srv.url(scheme="https")
            client = make_client(impl)
            results = [
                await fetch_outcome(client, url, validate_cert=False),
                (await fetch_outcome(client, url))[1][0],
            ]
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            results.append(await fetch_outcome(client, url, ssl_options=context))
            results.append(
                (
                    await fetch_outcome(
                        client, url, ca_certs=os.path.join(CERT_DIR, "test.crt")
                    )
                )[1][0]
            )
            client.close()
        return results

    results = run(main)
    assert results[0] == ("ok", (200, "OK", b"secure"))
    assert results[1] == "SSLCertVerificationError"
    assert results[2] == ("ok", (200, "OK", b"secure"))
    # The certificate is for foo.example.com, not 127.0.0.1.
    assert results[3] == "SSLCertVerificationError"


def test_native_loop(impl: Any) -> None:
    """The client on the native loop (tornado_c's own loop for both)."""
    import tornado_c

    async def main() -> Any:
        async with ScriptServer(respond(200, b"native")) as srv:
            client = make_client(impl)
            outcome = await fetch_outcome(client, srv.url())
            client.close()
            return outcome

    loop = tornado_c.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        result = loop.run_until_complete(asyncio.wait_for(main(), 10))
    finally:
        loop.close()
        asyncio.set_event_loop(None)
    assert result == ("ok", (200, "OK", b"native"))


# --- connection reuse (tornado_c only reuses, and only when asked) ------------

def _keep_alive_handler(close_after: bool = False, data: bytes = b"") -> Any:
    """Answers "ok" (or ``data``, raw); keeps the connection unless the
    request said close (or ``close_after``: the server drops every
    connection after answering, without saying so in the response)."""
    data = data or response_bytes(200, b"ok")

    async def handler(request: Request, writer: asyncio.StreamWriter) -> bool:
        writer.write(data)
        await writer.drain()
        return not close_after and request.headers.get("connection") != "close"

    return handler


def test_keep_alive_reuse(impl: Any) -> None:
    # Requests that ask for keep-alive share one connection on tornado_c
    # (beyond Tornado, which opens one per request); a request without the
    # header still says "Connection: close" and gets a connection of its own.
    async def main() -> Tuple[List[Any], int, List[str]]:
        async with ScriptServer(_keep_alive_handler()) as srv:
            client = make_client(impl)
            bodies = []
            for _ in range(3):
                response = await client.fetch(srv.url(), headers={"Connection": "keep-alive"})
                bodies.append(response.body)
            bodies.append((await client.fetch(srv.url())).body)
            client.close()
            return bodies, len(srv.writers), [r.headers["connection"] for r in srv.requests]

    bodies, connections, sent = run(main)
    assert bodies == [b"ok"] * 4
    assert sent == ["keep-alive"] * 3 + ["close"]
    assert connections == (2 if impl.name == "tornado_c" else 4)


def test_keep_alive_server_closes_idle(impl: Any) -> None:
    # A pooled connection the server has since closed is not reused.
    async def main() -> Tuple[List[Any], int]:
        async with ScriptServer(_keep_alive_handler(close_after=True)) as srv:
            client = make_client(impl)
            codes = []
            for _ in range(3):
                response = await client.fetch(srv.url(), headers={"Connection": "keep-alive"})
                codes.append(response.code)
                await asyncio.sleep(0.05)  # the close reaches the client
            client.close()
            return codes, len(srv.writers)

    assert run(main) == ([200, 200, 200], 3)


def test_keep_alive_not_for_unframed_response(impl: Any) -> None:
    # A response that runs to the end of the connection cannot be followed
    # by another on it.
    data = response_bytes(200, b"all", content_length=False)

    async def handler(request: Request, writer: asyncio.StreamWriter) -> bool:
        writer.write(data)
        await writer.drain()
        return False

    async def main() -> Tuple[List[Any], int]:
        async with ScriptServer(handler) as srv:
            client = make_client(impl)
            bodies = await _fetch_keep_alive(client, srv.url(), 2)
            client.close()
            return bodies, len(srv.writers)

    assert run(main) == ([b"all", b"all"], 2)


async def _fetch_keep_alive(client: Any, url: str, times: int, pause: float = 0) -> List[Any]:
    # The bodies of ``times`` fetches asking for keep-alive, one at a time.
    bodies = []
    for _ in range(times):
        response = await client.fetch(url, headers={"Connection": "keep-alive"})
        bodies.append(response.body)
        await asyncio.sleep(pause)
    return bodies


def test_keep_alive_not_after_an_interim_response(impl: Any) -> None:
    # After a 1xx response the HTTP layer reads on to the close once the
    # final response is done (Tornado's), so the connection is not kept: it
    # closes at once, as in Tornado, and the next request gets a new one.
    # (The server would keep the connection.)
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    handler = _keep_alive_handler(data=interim + response_bytes(200, b"ok"))

    async def main() -> Tuple[List[Any], List[bool]]:
        async with ScriptServer(handler) as srv:
            client = make_client(impl)
            bodies = await _fetch_keep_alive(client, srv.url(), 2, pause=0.1)
            # The server has seen each connection's end (the client closed
            # it) and closed its side.
            ended = [w.is_closing() for w in srv.writers]
            client.close()
            return bodies, ended

    assert run(main) == ([b"ok", b"ok"], [True, True])


def test_keep_alive_stale_connection_retried(impl: Any) -> None:
    # The server answers one request per connection and then closes the
    # connection as the next request arrives on it, without a word: the
    # kept-alive connection turns out dead as it is used, and the (GET)
    # request goes again on a new connection.
    data = response_bytes(200, b"ok")

    heads: List[bytes] = []

    async def serve_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # First request answered; the second is read and dropped.
        for answer in (True, False):
            head = await reader.readuntil(b"\r\n\r\n")
            heads.append(head)
            if not answer:
                break
            writer.write(data)
            await writer.drain()
        writer.close()

    async def main() -> Tuple[List[Any], int]:
        connections = []

        async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connections.append(writer)
            try:
                await serve_once(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                writer.close()

        server = await asyncio.start_server(on_client, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = make_client(impl)
        codes = []
        for _ in range(3):
            response = await client.fetch(f"http://127.0.0.1:{port}/",
                                          headers={"Connection": "keep-alive"},
                                          raise_error=False)
            codes.append(response.code)
        client.close()
        server.close()
        await server.wait_closed()
        return codes, len(connections)

    codes, connections = run(main)
    assert codes == [200, 200, 200]
    # Tornado: a connection and a request per fetch.  tornado_c: the 2nd
    # fetch's reused connection is dropped and the request sent again on a
    # new one, and so is the 3rd's: 5 requests over 3 connections.
    assert connections == 3
    assert len(heads) == (5 if impl.name == "tornado_c" else 3)
    assert all(head.startswith(b"GET / HTTP/1.1") for head in heads)


def test_queue_methods_replaced_are_called(impl: Any) -> None:
    """A client class replacing _process_queue or _remove_timeout sees them
    called as on Tornado, whether or not the fetch had to wait (tornado_c
    skips the queue round for a fetch with room while they are the
    originals)."""

    async def main() -> List[Any]:
        calls: List[Any] = []
        base = impl.simple_httpclient.SimpleAsyncHTTPClient

        class Traced(base):  # type: ignore[misc, valid-type]
            def _process_queue(self) -> None:
                calls.append(("process", len(self.queue), len(self.active)))
                super()._process_queue()

            def _remove_timeout(self, key: object) -> None:
                calls.append(("remove", key in self.waiting))
                super()._remove_timeout(key)

        async with ScriptServer(respond(200, b"ok")) as srv:
            client = Traced(force_instance=True, max_clients=1)
            first = await client.fetch(srv.url("/1"))
            both = await asyncio.gather(client.fetch(srv.url("/2")), client.fetch(srv.url("/3")))
            client.close()
            plain = base(force_instance=True, max_clients=1)
            more = await asyncio.gather(plain.fetch(srv.url("/4")), plain.fetch(srv.url("/5")))
            plain.close()
        return calls + [r.body for r in [first, *both, *more]]

    got = run(main)
    # (the same sequence on Tornado: each fetch goes through the queue round)
    assert got == [
        ("process", 1, 0), ("remove", True), ("process", 0, 0),
        ("process", 1, 0), ("remove", True), ("process", 1, 1), ("process", 1, 0),
        ("remove", True), ("process", 0, 0),
        b"ok", b"ok", b"ok", b"ok", b"ok",
    ]
