"""Differential fuzz of the HTTP client: tornado_c against pure-Python Tornado.

This one file is run three ways: as the driver (``python http_client_diff.py``),
and as a worker by pure-Python Tornado (``python http_client_diff.py --worker``)
and by tornado_c (``python -m tornado_c http_client_diff.py --worker``).  Each
worker serves the rounds' canned responses from a loopback socket server of
its own (a thread, plain sockets), fetches them with AsyncHTTPClient
(SimpleAsyncHTTPClient; on tornado_c that is the C fetch path for most
requests) and prints one JSON line per round: what the server received (the
request heads and bodies the client sent) and what ``fetch()`` gave back
(code, reason, headers, body, error type and message, effective URL, the
``header_callback`` lines, the ``streaming_callback`` data).  Both workers
build the same rounds from the same seed; the driver compares them line by
line, prints every difference and exits with status 1 if there was any.

A round is one response (or a redirect and its target) from a small grammar
-- status lines, Content-Length right and wrong, chunked with and without
extensions and trailers, read-to-close bodies, gzip, 1xx before the answer,
duplicate headers, cookies, redirects -- then byte-mutated and sent in
pieces; the fetch options vary too (method, decompress_response,
follow_redirects, streaming / header callbacks, small max_body_size /
max_header_size).

Usage: python tests/fuzz/http_client_diff.py [--seed N] [-n ROUNDS]
(``make fuzz`` runs a few seeds.)  Loopback only; every fetch is bounded by
its request_timeout and every worker by a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import hashlib
import json
import logging
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional

HERE = os.path.abspath(__file__)
sys.path.insert(0, os.path.dirname(HERE))

from mutation import chunked, mutate  # noqa: E402

STATUS = [b"HTTP/1.1 200 OK"] * 6 + [
    b"HTTP/1.0 200 OK", b"HTTP/1.1 404 Not Found", b"HTTP/1.1 204 No Content",
    b"HTTP/1.1 304 Not Modified", b"HTTP/1.1 500 Oops", b"HTTP/1.1 200", b"HTTP/1.1 200 ",
    b"HTTP/1.1 599 Odd", b"HTTP/1.1 302 Found", b"HTTP/1.1 301 Moved", b"HTTP/1.1 303 See Other",
    b"HTTP/1.1 307 Temporary", b"HTTP/1.1 201 Created", b"HTTP/1.1 418 Teapot",
]
HEADERS = [
    b"Content-Type: text/plain", b"Set-Cookie: a=1; Path=/", b"Set-Cookie: b=2",
    b"X-Dup: 1", b"X-Dup: 2", b"Connection: close", b"Connection: keep-alive",
    b"Server: fuzz", b"Vary: Accept-Encoding", b"X-Empty:", b"x-lower: v",
    b"Content-Type: application/json; charset=utf-8", b"Cache-Control: no-cache",
]
INSERTS = [b"\r", b"\n", b"\x00", b" ", b":", b"\t", b"\r\n", b"\r\n\r\n", b"\x7f", b"\xff",
           b"0" * 20, b"-1", b";x=y", b"0\r\n\r\n"]


class Generator:
    """The rounds: the same sequence from the same seed in every process."""

    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)

    def body(self) -> bytes:
        rnd = self.rnd
        kind = rnd.randint(0, 4)
        if kind == 0:
            return b""
        if kind == 1:
            return b"Hello, world"
        if kind == 2:
            return b"x" * rnd.randint(1, 70000)
        return bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 3000)))

    def response(self, location: Optional[str]) -> bytes:
        rnd = self.rnd
        status = rnd.choice(STATUS) if location is None else rnd.choice(
            [b"HTTP/1.1 302 Found", b"HTTP/1.1 301 Moved", b"HTTP/1.1 303 See Other",
             b"HTTP/1.1 307 Temporary"])
        fields = rnd.sample(HEADERS, rnd.randint(0, 4))
        if location is not None:
            fields.append(b"Location: " + location.encode())
        body = self.body()
        if rnd.random() < 0.2:
            fields.append(b"Content-Encoding: gzip")
            body = gzip.compress(body, mtime=0)
            if rnd.random() < 0.1:
                body = body[: len(body) // 2]  # a broken gzip stream
        framing = rnd.random()
        raw = body
        if framing < 0.45:
            fields.append(b"Content-Length: %d" % len(body))
        elif framing < 0.55:
            fields.append(b"Content-Length: %d" % max(0, len(body) + rnd.choice([-3, -1, 1, 5])))
        elif framing < 0.85:
            fields.append(b"Transfer-Encoding: chunked")
            raw = chunked(rnd, body, 5000)
            if rnd.random() < 0.1:
                fields.append(b"Content-Length: %d" % len(body))
        # else: the body runs to the close
        head = status + b"\r\n" + b"".join(f + b"\r\n" for f in fields) + b"\r\n"
        if rnd.random() < 0.08:
            head = b"HTTP/1.1 100 Continue\r\n\r\n" + head
        return self.mutate(head + raw)

    def mutate(self, data: bytes) -> bytes:
        return mutate(self.rnd, data, INSERTS, [0, 0, 0, 0, 1, 1, 2, 3, 6])

    def round(self, index: int) -> Dict[str, Any]:
        rnd = self.rnd
        redirect = rnd.random() < 0.15
        responses = {}
        if redirect:
            target = rnd.choice([f"/t{index}", f"http://127.0.0.1:PORT/t{index}", f"t{index}"])
            responses[f"/r{index}"] = self.response(target)
            responses[f"/t{index}"] = self.response(None)
        else:
            responses[f"/r{index}"] = self.response(None)
        method = rnd.choice(["GET"] * 5 + ["HEAD", "POST", "PUT", "DELETE", "OPTIONS"])
        options: Dict[str, Any] = {
            "method": method,
            "decompress_response": rnd.random() < 0.7,
            "follow_redirects": rnd.random() < 0.7,
            "max_redirects": rnd.choice([0, 1, 2, 5]),
            "streaming": rnd.random() < 0.2,
            "header_cb": rnd.random() < 0.2,
            "body": (b"a=1&b=" + b"z" * rnd.randint(0, 3000)).decode()
            if method in ("POST", "PUT") else None,
            "headers": rnd.choice([{}, {"Accept-Encoding": "identity"}, {"X-A": "1"}]),
        }
        client = {}
        if rnd.random() < 0.15:
            client["max_body_size"] = rnd.choice([0, 10, 5000])
        if rnd.random() < 0.1:
            client["max_header_size"] = rnd.choice([10, 100, 200])
        cuts = rnd.choice([0, 0, 1, 3])
        return {"responses": responses, "options": options, "client": client,
                "cuts": cuts, "seed": rnd.getrandbits(32),
                "keep_open": rnd.random() < 0.1}


# ------------------------------------------------------------------ worker


class CannedServer(threading.Thread):
    """Answers each connection's request with the current round's response for
    its path, in pieces, then closes (or keeps the connection open a while)."""

    def __init__(self, keep_alive: bool) -> None:
        super().__init__(daemon=True)
        self.keep_alive = keep_alive
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.round: Dict[str, Any] = {"responses": {}}
        self.received: List[str] = []

    def run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn: socket.socket) -> None:
        # One request and its answer; in keep-alive mode, as many as the
        # client sends on the connection (until it closes or idles 2 s).
        with conn:
            conn.settimeout(2)
            data = b""
            try:
                while True:
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            return
                        data += chunk
                    head, _, rest = data.partition(b"\r\n\r\n")
                    m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
                    want = int(m.group(1)) if m else 0
                    while len(rest) < want:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        rest += chunk
                    data = rest[want:]
                    self.answer(conn, head, rest[:want])
                    if not self.keep_alive:
                        break
                if self.round["keep_open"]:
                    conn.settimeout(1.5)
                    while conn.recv(65536):
                        pass
            except OSError:
                return

    def answer(self, conn: socket.socket, head: bytes, body: bytes) -> None:
        with self.lock:
            rnd = random.Random(self.round["seed"])
            self.received.append(
                (head + b"\r\n\r\n").decode("latin1").replace(str(self.port), "PORT")
                + "body:" + hashlib.sha1(body).hexdigest()[:12])
            target = head.split(b" ")[1].decode("latin1") if b" " in head else ""
            answer = self.round["responses"].get(target, b"HTTP/1.1 404 Nope\r\n\r\n")
            answer = answer.replace(b"PORT", str(self.port).encode())
            cuts = sorted({0, len(answer), *(rnd.randint(0, len(answer))
                                             for _ in range(self.round["cuts"]))})
        for start, end in zip(cuts, cuts[1:]):
            conn.sendall(answer[start:end])
            time.sleep(0.001)


def describe_error(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


async def run_round(server: CannedServer, index: int, spec: Dict[str, Any],
                    shared: Any = None) -> Dict[str, Any]:
    import tornado.httpclient

    with server.lock:
        server.round = spec
        server.received = []
    opts = spec["options"]
    chunks: List[bytes] = []
    lines: List[str] = []
    headers = dict(opts["headers"])
    if shared is not None:
        headers["Connection"] = "keep-alive"
    # A client that lives through the rounds (in keep-alive mode, where
    # tornado_c keeps connections between fetches) unless the round has
    # options of its own.
    own = shared is None or spec["client"]
    client = (tornado.httpclient.AsyncHTTPClient(force_instance=True, **spec["client"])
              if own else shared)
    out: Dict[str, Any] = {}
    try:
        fetching = client.fetch(
            f"http://127.0.0.1:{server.port}/r{index}",
            method=opts["method"], body=opts["body"], headers=headers,
            decompress_response=opts["decompress_response"],
            follow_redirects=opts["follow_redirects"], max_redirects=opts["max_redirects"],
            streaming_callback=chunks.append if opts["streaming"] else None,
            header_callback=lines.append if opts["header_cb"] else None,
            allow_nonstandard_methods=True, connect_timeout=2, request_timeout=0.8,
            raise_error=False,
        )
        # A redirect whose target fails with something other than an HTTP
        # status (a malformed or cut response) never resolves the first
        # fetch's future in Tornado (the error is raised in a callback and
        # logged); such a round is bounded here and compared as "hung".
        response = await asyncio.wait_for(fetching, 2.5)
        body = response.body or b""
        port = str(server.port)
        out.update(
            code=response.code, reason=response.reason,
            headers=sorted((k, v.replace(port, "PORT")) for k, v in response.headers.get_all())
            if response.headers else None,
            body=[len(body), hashlib.sha1(body).hexdigest()[:12], body[:80].decode("latin1")],
            error=describe_error(response.error) if response.error else None,
            url=response.effective_url.replace(str(server.port), "PORT"),
        )
    except asyncio.TimeoutError:
        out["raised"] = "hung"
    except Exception as e:  # noqa: BLE001 (the outcome being compared)
        out["raised"] = describe_error(e)
    finally:
        if own:
            client.close()
    joined = b"".join(chunks)
    out["streamed"] = [len(joined), hashlib.sha1(joined).hexdigest()[:12]]
    out["header_lines"] = [line.replace(str(server.port), "PORT") for line in lines]
    await asyncio.sleep(0.01)
    with server.lock:
        out["sent"] = list(server.received)
    out["logged"] = LOGGED[:]
    del LOGGED[:]
    return out


LOGGED: List[str] = []


class Recorder(logging.Handler):
    """Keeps what the round logged at WARNING and above: the logger, the level,
    the message (not for asyncio's "Exception in callback <handle repr>",
    and tornado.application's "Exception in callback <callback repr>", whose
    reprs name the implementation's functions) and the exception."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < logging.WARNING:
            return
        text = record.getMessage()
        if record.name == "asyncio" or text.startswith("Exception in callback"):
            text = "Exception in callback"
        if record.exc_info and record.exc_info[1] is not None:
            e = record.exc_info[1]
            text += f" | {type(e).__name__}: {e}"
        LOGGED.append(f"{record.name} {record.levelname} {re.sub(r':[0-9]{4,5}', ':PORT', text)}")


async def worker(seed: int, rounds: int, keep_alive: bool) -> None:
    import tornado.httpclient

    logging.getLogger().addHandler(Recorder())
    logging.getLogger().setLevel(logging.WARNING)
    server = CannedServer(keep_alive)
    server.start()
    shared = tornado.httpclient.AsyncHTTPClient(force_instance=True) if keep_alive else None
    gen = Generator(seed)
    for i in range(rounds):
        spec = gen.round(i)
        outcome = await run_round(server, i, spec, shared)
        print(json.dumps(outcome, sort_keys=True), flush=True)


# ------------------------------------------------------------------ driver


CHUNK_CRLF = "AssertionError: chunk data not followed by CRLF"


def known_kind(ours: Dict[str, Any], theirs: Dict[str, Any]) -> str:
    """The documented difference (docs/compatibility.md) this one is, or ''."""
    # Chunk data not followed by CRLF: Tornado's check is a bare assert; the
    # AssertionError tornado_c raises says what was wrong.
    logged = [line.replace(CHUNK_CRLF, "AssertionError: ") for line in ours["logged"]]
    if logged != ours["logged"] and dict(ours, logged=logged) == theirs:
        return "chunk-crlf-message"
    # The same errors logged in another order: the native stream closes as
    # soon as it reads the server's FIN, before callbacks already queued run
    # (compatibility.md, "IOStream on the native engine"), so the failed
    # fetch's "Connection closed" can be logged before the read's error.
    if sorted(logged) == sorted(theirs["logged"]) and dict(ours, logged=theirs["logged"]) == theirs:
        return "close-order"
    return ""


def run_worker(impl: str, seed: int, rounds: int, keep_alive: bool) -> List[Dict[str, Any]]:
    cmd = [sys.executable] + (["-m", "tornado_c"] if impl == "tornado_c" else [])
    cmd += [HERE, "--worker", "--seed", str(seed), "-n", str(rounds)]
    cmd += ["--keep-alive"] if keep_alive else []
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60 + 3 * rounds,
                          cwd=os.path.dirname(HERE))
    if proc.returncode != 0:
        raise RuntimeError(f"{impl} worker failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--keep-alive", action="store_true",
                        help='fetches ask for "Connection: keep-alive" and the server keeps '
                             "answering on a connection (tornado_c reuses connections)")
    parser.add_argument("--worker", action="store_true")
    args = parser.parse_args()
    if args.worker:
        asyncio.run(worker(args.seed, args.n, args.keep_alive))
        return 0
    ours = run_worker("tornado_c", args.seed, args.n, args.keep_alive)
    theirs = run_worker("tornado", args.seed, args.n, args.keep_alive)
    if len(ours) != args.n or len(theirs) != args.n:
        print(f"incomplete: tornado_c {len(ours)}, tornado {len(theirs)} of {args.n} rounds")
        return 1
    gen = Generator(args.seed)
    unknown = 0
    known: Dict[str, int] = {}
    for i, (a, b) in enumerate(zip(ours, theirs)):
        spec = gen.round(i)
        if a == b:
            continue
        kind = known_kind(a, b)
        if kind:
            known[kind] = known.get(kind, 0) + 1
            continue
        unknown += 1
        print(f"=== round {i}: options {spec['options']} client {spec['client']} "
              f"keep_open {spec['keep_open']}")
        for path, raw in spec["responses"].items():
            print(f"  {path}: {raw[:400]!r}")
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                print(f"  {key}:\n    tornado_c {str(a.get(key))[:600]}\n"
                      f"    tornado   {str(b.get(key))[:600]}")
    mode = "keep-alive" if args.keep_alive else "close"
    print(f"{args.n} rounds, {mode}, seed {args.seed}: {unknown} unexplained differences; "
          f"documented ones: {known}")
    return 1 if unknown else 0


if __name__ == "__main__":
    sys.exit(main())
