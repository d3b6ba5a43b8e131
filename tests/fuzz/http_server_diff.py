"""Differential fuzz of the HTTP server: tornado_c against pure-Python Tornado.

Both serve tests/fuzz/server_app.py (the same file) on loopback.  Each round
sends the same generated request bytes -- one to three requests, built from a
small grammar and then byte-mutated, sent in the same pieces -- to both, and
compares what comes back (the responses, with Date / cookie values / Expires
blanked, and whether the connection was left open) and the WARNING-and-above
log lines each server wrote meanwhile.  In ``ws`` mode a round is a WebSocket
session instead: a handshake (with or without permessage-deflate, sometimes
mutated) and client frames of every opcode, length encoding, RSV and mask
combination, then byte-mutated; the server echoes and logs how it closed.

Differences that docs/compatibility.md lists are counted by kind and not
printed: input the native parser refuses where Tornado serves it (HTTP/1.0
with Transfer-Encoding, obs-fold, bare CR, Content-Length twice, other HTTP
versions), chunk data not followed by CRLF, and requests pipelined behind one
that closes the connection (Tornado runs their handlers).  So is a TCP-level
one: Tornado closes with input unread, the client then gets a reset, which may
discard the last bytes Tornado sent; and a round whose exchange with Tornado,
tried again up to three times, once gives what tornado_c gave.  Anything else
is printed; the exit status is 1 when there was any, or when a server died.

Usage: python tests/fuzz/http_server_diff.py [--seed N] [-n ROUNDS]
                                             [--mode plain|gz|xh|nka|ws]
(``make fuzz`` runs a few seeds in each mode.)  Loopback only; every round is
bounded by socket timeouts.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import os
import random
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from typing import IO, Dict, List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from mutation import chunked, mutate  # noqa: E402
APP = os.path.join(HERE, "server_app.py")

PATHS = ["/echo", "/echo/x?a=1&b=%ff&a=", "/stream", "/cookie", "/big", "/static/f.txt",
         "/static/../x", "/nope", "/echo?" + "a=1&" * 50, "/", "/static/f.txt?v=1"]
METHODS = ["GET", "POST", "PUT", "HEAD", "OPTIONS", "DELETE", "PATCH", "FOO"]
HEADERS = [
    ("Cookie", 'a=1; b="2"; s=bad'), ("Range", "bytes=0-5"), ("Range", "bytes=5-1"),
    ("If-None-Match", "*"), ("If-Modified-Since", "Sat, 01 Jan 2000 00:00:00 GMT"),
    ("Accept-Encoding", "gzip"), ("Connection", "keep-alive"), ("Expect", "100-continue"),
    ("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-For", "1.1.1.1, 9.9.9.9"),
    ("X-Real-Ip", "5.6.7.8"), ("X-Scheme", "https"), ("X-Forwarded-Proto", "https, http"),
    ("Content-Type", "application/x-www-form-urlencoded"),
    ("Content-Type", "multipart/form-data; boundary=zz"), ("Content-Encoding", "gzip"),
]
INSERTS = [b"\r", b"\n", b"\x00", b" ", b":", b"\t", b"\r\n", b"\r\n\r\n", b"\x7f", b"\xff",
           b"0" * 20, b"-1"]


class Generator:
    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)

    def body(self) -> bytes:
        kind = self.rnd.randint(0, 4)
        if kind == 0:
            return b""
        if kind == 1:
            return b"a=1&b=2"
        if kind == 2:
            return (b'--zz\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n\r\n'
                    b"hello\r\n--zz--\r\n")
        if kind == 3:
            return gzip.compress(b"a=1&b=" + b"x" * self.rnd.randint(0, 3000), mtime=0)
        return bytes(self.rnd.randrange(256) for _ in range(self.rnd.randint(1, 3000)))

    def request(self, last: bool) -> bytes:
        rnd = self.rnd
        method, path = rnd.choice(METHODS), rnd.choice(PATHS)
        version = rnd.choice(["HTTP/1.1"] * 8 + ["HTTP/1.0", "HTTP/2.0"])
        fields = [("Host", "x")] + rnd.sample(HEADERS, rnd.randint(0, 4))
        if last:  # the last request asks for the close, so most rounds end quickly
            fields = [f for f in fields if f[0] != "Connection"] + [("Connection", "close")]
        body = self.body() if method in ("POST", "PUT", "PATCH") or rnd.random() < 0.1 else b""
        framing = rnd.random()
        raw_body = body
        if body and framing < 0.6:
            fields.append(("Content-Length", str(len(body))))
        elif body and framing < 0.9:
            fields.append(("Transfer-Encoding", "chunked"))
            raw_body = chunked(rnd, body, 2000)
        head = f"{method} {path} {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields)
        return self.mutate(head.encode("latin1") + b"\r\n" + raw_body)

    def mutate(self, data: bytes) -> bytes:
        return mutate(self.rnd, data, INSERTS, [0, 0, 0, 1, 1, 2, 3, 8])

    def frame(self, compress: bool) -> bytes:
        """One client frame: any opcode (reserved ones too), FIN, RSV bits,
        a payload of any of the three length encodings (text valid UTF-8 or
        not, sometimes deflated), masked or (a protocol error) not."""
        rnd = self.rnd
        opcode = rnd.choice([1, 1, 2, 2, 0, 8, 9, 10, 3, 11])
        if opcode == 8:
            payload = rnd.choice([b"", b"\x03\xe8", b"\x03\xe8bye", b"\x03", b"\x03\xe8\xff",
                                  b"\x00\x00", b"\x0b\xb8x"])
        elif opcode == 1:
            payload = rnd.choice(["h\u00e9llo", "x" * rnd.randint(0, 6000), "\u2603" * 30,
                                  ""]).encode() + rnd.choice([b"", b"", b"\xff", b"\xe2\x98"])
        else:
            payload = bytes(rnd.randrange(256) for _ in range(rnd.choice([0, 5, 126, 300, 5000])))
        rsv = 0
        if compress and opcode in (1, 2) and rnd.random() < 0.7:
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            payload = (c.compress(payload) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
            rsv = 0x40
        if rnd.random() < 0.05:
            rsv |= rnd.choice([0x40, 0x20, 0x10])
        fin = 0x80 if rnd.random() < 0.85 else 0
        head = bytes([fin | rsv | opcode])
        masked = rnd.random() < 0.95
        n = len(payload)
        size = (bytes([n]) if n < 126 else b"\x7e" + struct.pack("!H", n) if n < 65536
                else b"\x7f" + struct.pack("!Q", n))
        if not masked:
            return head + size + payload
        key = bytes(rnd.randrange(256) for _ in range(4))
        body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        return head + bytes([size[0] | 0x80]) + size[1:] + key + body

    def ws_session(self) -> bytes:
        """A WebSocket handshake (some mutated) and a few frames, ending with
        a close frame most of the time."""
        rnd = self.rnd
        compress = rnd.random() < 0.4
        fields = [("Host", "x"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
                  ("Sec-WebSocket-Key", base64.b64encode(
                      bytes(rnd.randrange(256) for _ in range(16))).decode()),
                  ("Sec-WebSocket-Version", rnd.choice(["13"] * 9 + ["8"]))]
        if compress and rnd.random() < 0.9:
            fields.append(("Sec-WebSocket-Extensions", rnd.choice([
                "permessage-deflate", "permessage-deflate; client_max_window_bits",
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
                "permessage-deflate; server_max_window_bits=10", "x-other, permessage-deflate"])))
        if rnd.random() < 0.1:
            del fields[rnd.randrange(1, len(fields))]
        path = "/ws/z" if compress else "/ws"
        head = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields)
        frames = b"".join(self.frame(compress) for _ in range(rnd.randint(0, 5)))
        if rnd.random() < 0.7:
            frames += bytes([0x88, 0x82]) + b"\x00\x00\x00\x00" + b"\x03\xe8"
        data = head.encode() + b"\r\n" + frames
        # (Mutations mostly land in the frames; the head is short.)
        return mutate(rnd, data, INSERTS, [0, 0, 0, 0, 0, 1, 1, 2])

    def round(self, ws: bool = False) -> Tuple[bytes, List[Tuple[int, int]]]:
        if ws:
            data = self.ws_session()
        else:
            count = self.rnd.choice([1, 1, 1, 2, 3])
            data = b"".join(self.request(last=i == count - 1) for i in range(count))
        cuts = sorted({0, len(data), *(self.rnd.randint(0, len(data))
                                       for _ in range(self.rnd.choice([0, 0, 1, 3])))})
        return data, list(zip(cuts, cuts[1:]))


def exchange(port: int, data: bytes, pieces: List[Tuple[int, int]]) -> Tuple[bytes, str]:
    with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
        for start, end in pieces:
            try:
                s.sendall(data[start:end])
            except OSError:
                break
            time.sleep(0.0005)
        got, s_timeout = b"", 0.3
        s.settimeout(s_timeout)
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return got, "open"
            except OSError:  # a reset: the peer closed with input unread
                return got, "reset"
            if not chunk:
                return got, "closed"
            got += chunk


_BLANK = [(re.compile(rb"Date: [^\r]*"), b"Date: *"), (re.compile(rb"Expires: [^\r]*"), b"Expires: *"),
          (re.compile(rb"(Set-Cookie: [^=]+=)[^;\r]*"), rb"\1*"),
          (re.compile(rb'\\"2\|[^"\\]*\\"'), b"*")]


def blank(raw: bytes) -> bytes:
    for pattern, replacement in _BLANK:
        raw = pattern.sub(replacement, raw)
    return raw


class Server:
    def __init__(self, impl: str, port: int, mode: str, static: str) -> None:
        cmd = [sys.executable] + (["-m", "tornado_c"] if impl == "tornado_c" else [])
        self.log: IO[str] = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(cmd + [APP, str(port), mode, static], stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, cwd=tempfile.gettempdir())
        assert self.proc.stdout is not None
        if "ready" not in self.proc.stdout.readline():
            self.proc.kill()
            raise RuntimeError(f"{impl} server did not start")
        self.port, self.pos = port, 0

    def new_log_lines(self) -> List[str]:
        self.log.flush()
        self.log.seek(self.pos)
        text = self.log.read()
        self.pos = self.log.tell()
        # (An exception's qualified name starts with the package: tornado_c's
        # classes are tornado.*'s under the alias, named tornado_c.*.)
        return [re.sub(r" \d+\.\d+ms$", " <t>ms", line).replace("tornado_c.", "tornado.")
                for line in text.splitlines()
                if line.strip() and not line.startswith((" ", "Traceback"))]

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.log.close()


# Input the native parser refuses where Tornado serves it (compatibility.md,
# "Request parsing on the native loop is stricter"): HTTP/1.0 with
# Transfer-Encoding, Content-Length twice, a version other than 1.0 / 1.1
# (anywhere), obs-fold or a bare CR (in the first head: bodies are binary).
_STRICT_ANY = re.compile(
    rb"HTTP/1\.0\r?\n(?:[^\r\n]*\r?\n)*?transfer-encoding:"
    rb"|content-length:[^\n]*\n(?:[^\r\n]+\r?\n)*?content-length:"
    rb"|content-length: *\d+ *,"
    rb"|HTTP/(?!1\.[01]\r?\n)\d\.\d\r?\n",
    re.I,
)
_STRICT_HEAD = re.compile(rb"\n[ \t]|\r[^\n]")
_CONTINUE = b"HTTP/1.1 100 (Continue)\r\n\r\n"


_VALUELESS_OFFER = re.compile(rb"Sec-WebSocket-Extensions: [^\r]*;[ \t]*[^=;,\r]*[;,\r]")
_EXTENSIONS_LINE = re.compile(rb"Sec-Websocket-Extensions: [^\r]*\r\n")


def chunk_without_crlf(data: bytes) -> bool:
    """Whether the first request's chunked body (if it is one) has chunk data
    that is not followed by CRLF."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep or not re.search(rb"\ntransfer-encoding: *chunked\r", head + b"\r", re.I):
        return False
    pos = 0
    try:
        while True:
            end = body.index(b"\r\n", pos)
            size = int(body[pos:end].split(b";")[0], 16)
            if size == 0:
                return False
            start = end + 2
            if body[start + size:start + size + 2] != b"\r\n":
                return len(body) >= start + size + 2
            pos = start + size + 2
    except ValueError:
        return False


def strict_input(data: bytes) -> bool:
    head = re.split(rb"\n\r?\n", data, maxsplit=1)[0]
    return bool(_STRICT_HEAD.search(head) or _STRICT_ANY.search(data))


def tornado_again(server: "Server", data: bytes, pieces: List[Tuple[int, int]]
                  ) -> Tuple[bytes, str, List[str]]:
    got, how = exchange(server.port, data, pieces)
    time.sleep(0.02)
    return blank(got), how, server.new_log_lines()


def known_kind(data: bytes, ours: Tuple[bytes, str, List[str]],
               theirs: Tuple[bytes, str, List[str]]) -> str:
    """The documented difference this one is, or ''."""
    bad = b"HTTP/1.1 400 Bad Request\r\n\r\n"
    if theirs[1] == "reset" and ours[1] in ("closed", "reset") and ours[0].startswith(theirs[0]):
        # Tornado closes with input unread, so the client sees a reset, and
        # a reset may discard what it sent last; tornado_c reads the input
        # first.  (The same bytes, or fewer on Tornado's side.)
        return "tornado-reset"
    if ours[0].endswith(bad) and theirs[0].startswith(ours[0][:-len(bad)]) and strict_input(data):
        return "strict-parser"
    if (ours[0].endswith(bad) and theirs[0] == ours[0][:-len(bad)] + _CONTINUE + bad
            and re.search(rb"\nexpect: *100-continue\r?\n", data, re.I)):
        # Framing headers refused while the head is parsed: no 100 (Continue)
        # first, which Tornado sends before it checks them.
        return "framing-refused-before-continue"
    if (any(line.startswith("WARNING:root:closed None") for line in ours[2])
            and any("zlib.error" in line for line in theirs[2])):
        # Bad compressed WebSocket data: tornado_c drops the connection (and
        # on_close runs); in Tornado the zlib error escapes the receive loop.
        return "bad-deflate-data"
    if (any(line.startswith("WARNING:root:closed ") and "\ufffd" in line for line in ours[2])
            and not any(line.startswith("WARNING:root:closed ") for line in theirs[2])):
        # A close frame whose reason is not UTF-8: tornado_c decodes it with
        # replacement characters and answers the close; Tornado's receive
        # loop raises and drops the connection.
        return "close-reason-not-utf8"
    if _VALUELESS_OFFER.search(data) and ours[2] == theirs[2]:
        # A permessage-deflate offer with a parameter without a value:
        # tornado_c honours and echoes server_ / client_no_context_takeover
        # and declines an unknown one (RFC 7692); Tornado's header parser
        # drops them all, so it accepts, and its compressor keeps its
        # context (later compressed frames differ too).  How the session
        # went (the logged close) must be the same.
        ours_ext = _EXTENSIONS_LINE.sub(b"", ours[0])
        theirs_ext = _EXTENSIONS_LINE.sub(b"", theirs[0])
        if ours_ext[:120] == theirs_ext[:120]:
            return "deflate-valueless-params"
    if ours[0].endswith(bad) and (any("AssertionError" in line for line in theirs[2])
                                  or chunk_without_crlf(data)):
        # Chunk data not followed by CRLF: a 400 and the close from tornado_c;
        # Tornado's check is an assert, and it hands the chunk's data to the
        # delegate first (so bad gzip data in it may fail before).
        return "chunk-crlf"
    if ours[0] == theirs[0] and ours[2] == theirs[2][:len(ours[2])]:
        return "no-processing-after-close"  # Tornado ran a pipelined handler
    return ""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("-n", type=int, default=300)
    parser.add_argument("--mode", choices=["plain", "gz", "xh", "nka", "ws"], default="plain")
    args = parser.parse_args()
    gen = Generator(args.seed)
    static = tempfile.mkdtemp(prefix="tornado_c-fuzz-")
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    servers = {"tornado_c": Server("tornado_c", ports[0], args.mode, static),
               "tornado": Server("tornado", ports[1], args.mode, static)}
    known: Dict[str, int] = {}
    unknown = 0
    try:
        for i in range(args.n):
            data, pieces = gen.round(ws=args.mode == "ws")
            seen = {}
            for name, server in servers.items():
                got, how = exchange(server.port, data, pieces)
                time.sleep(0.02)  # let the access line be written
                seen[name] = (blank(got), how, server.new_log_lines())
                if server.proc.poll() is not None:
                    print(f"round {i}: the {name} server died")
                    return 1
            if seen["tornado_c"] == seen["tornado"]:
                continue
            if any(tornado_again(servers["tornado"], data, pieces) == seen["tornado_c"]
                   for _ in range(3)):
                # Tornado's answer to the same bytes varies (a close with
                # input unread can discard its last bytes, a 400 or a close
                # frame, even when the client then reads a clean close).
                known["tornado-varies"] = known.get("tornado-varies", 0) + 1
                continue
            kind = known_kind(data, seen["tornado_c"], seen["tornado"])
            if kind:
                known[kind] = known.get(kind, 0) + 1
                continue
            unknown += 1
            print(f"=== round {i}: {data[:600]!r}")
            for name in servers:
                got, how, lines = seen[name]
                print(f"  {name}: {how} {got[:300]!r}")
                for line in lines[:6]:
                    print(f"      {line[:200]}")
    finally:
        for server in servers.values():
            server.close()
    print(f"{args.n} rounds, mode {args.mode}, seed {args.seed}: {unknown} unexplained "
          f"differences; documented ones: {known}")
    return 1 if unknown else 0


if __name__ == "__main__":
    sys.exit(main())
