"""Instructions per HTTP request, counted by valgrind's callgrind.

Requests per second on this 2-core VM move by 5-30% from run to run, which
hides any change smaller than that.  The number of user-space instructions
the server executes per request does not move with the machine's load: for
the same build, app and requests it repeats to within about 0.1%.  This
script serves ``benchmarks/apps/http_app.py`` under callgrind (tornado_c
through ``python -m tornado_c``, or pure-Python Tornado), sends a few
warm-up requests, zeroes the counters, sends ``--requests`` more on one
keep-alive connection, one at a time (so each request is handled alone,
as in the deterministic case), and prints the instructions per request.

It counts instructions, not time: kernel work (system calls) is not in
it, and an instruction that misses the cache costs the same as one that
does not.  Use it to compare builds of the same path, or the two
implementations, alongside the wrk figures of bench_http.py.

    python benchmarks/instructions.py --scenario handler --path / --requests 1000
    python benchmarks/instructions.py --impl tornado --scenario handler --path /
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from typing import IO, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
APP = os.path.join(HERE, "apps", "http_app.py")
sys.path.insert(0, HERE)

from bench_http import take_response  # noqa: E402  (the same response framing)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Client:
    """One keep-alive connection sending GETs one at a time."""

    def __init__(self, port: int, path: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        self.pending = b""

    def fetch(self) -> int:
        """Send one request; the response's status code."""
        self.sock.sendall(self.request)
        while (taken := take_response(self.pending)) is None:
            data = self.sock.recv(1 << 16)
            if not data:
                raise ConnectionError("the server closed the connection")
            self.pending += data
        (status, _, _), self.pending = taken
        return status

    def close(self) -> None:
        self.sock.close()


def count(impl: str, scenario: str, path: str, requests: int, warmup: int,
          keep_dump: Optional[str] = None) -> float:
    """Instructions per request for ``requests`` sequential GETs of path.

    With ``keep_dump``, the callgrind dump of the measured requests is copied
    there (for ``callgrind_annotate``).
    """
    port = _free_port()
    work = tempfile.mkdtemp(prefix="tc-callgrind-")
    out = os.path.join(work, "callgrind.out")
    runner = ["-m", "tornado_c"] if impl == "tornado_c" else []
    command = [
        "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
        sys.executable, *runner, APP, "--scenario", scenario, "--port", str(port),
    ]
    try:
        with open(os.path.join(work, "stderr"), "w+") as errors:
            return _measure(command, work, errors, port, path, requests, warmup, keep_dump)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _measure(command: List[str], work: str, errors: IO[str], port: int, path: str,
             requests: int, warmup: int, keep_dump: Optional[str]) -> float:
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, cwd=HERE)
    client: Optional[_Client] = None
    try:
        assert server.stdout is not None
        ready = server.stdout.readline().decode()
        if not ready.startswith("ready"):
            server.wait(timeout=60)
            errors.seek(0)
            raise RuntimeError(
                f"the server did not start under valgrind: {ready!r}\n{errors.read()[-3000:]}"
            )
        client = _Client(port, path)
        for _ in range(warmup):
            client.fetch()
        subprocess.run(["callgrind_control", "-z", str(server.pid)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        codes = {client.fetch() for _ in range(requests)}
        subprocess.run(["callgrind_control", "-d", str(server.pid)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if len(codes) != 1:
            raise RuntimeError(f"mixed status codes: {sorted(codes)}")
        dumps = sorted(f for f in os.listdir(work) if f.startswith("callgrind.out."))
        if not dumps:
            raise RuntimeError("callgrind wrote no dump")
        if keep_dump:
            shutil.copyfile(os.path.join(work, dumps[0]), keep_dump)
        with open(os.path.join(work, dumps[0])) as f:
            for line in f:
                found = re.match(r"(?:summary|totals):\s+(\d+)", line)
                if found:
                    return int(found.group(1)) / requests
        raise RuntimeError("no instruction total in the callgrind dump")
    finally:
        if client is not None:
            client.close()
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stdout is not None:
            server.stdout.close()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--impl", choices=["tornado_c", "tornado"], default="tornado_c")
    parser.add_argument("--scenario", choices=["callback", "handler"], default="handler")
    parser.add_argument("--path", default="/")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--keep-dump", metavar="FILE",
                        help="copy the callgrind dump of the measured requests to FILE "
                             "(read it with callgrind_annotate)")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("valgrind (with callgrind_control) is not installed", file=sys.stderr)
        return 2
    if args.requests < 1:
        parser.error("--requests must be at least 1")
    per = count(args.impl, args.scenario, args.path, args.requests, args.warmup,
                args.keep_dump)
    print(f"{args.impl} {args.scenario} {args.path}: {per:,.0f} instructions per request "
          f"({args.requests} requests)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
