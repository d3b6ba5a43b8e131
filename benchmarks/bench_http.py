"""Side-by-side HTTP benchmarks: pure-Python Tornado vs tornado_c vs a raw C server.

One application file (benchmarks/apps/http_app.py, Tornado's API) is served
by pure-Python Tornado (``python http_app.py``, Tornado from PyPI with its C
speedups) and by tornado_c running the same file unchanged
(``python -m tornado_c http_app.py``); benchmarks/raw_server/hello_server is
a libuv + llhttp server with no Python at all (the ceiling) for the scenarios
it can serve.  wrk drives each on loopback, the server pinned to one core and
wrk to the other.  Runs are interleaved (A B C A B C ...), each figure is the
median of the runs, and every run is preceded by a correctness check of the
response.  The server's CPU use is measured from /proc: a run in which the
server was not busy most of the time measured the client, and the table
says so.

Usage: python benchmarks/bench_http.py [--runs 3] [--duration 5]
                                       [--scenarios a,b] [--out-dir DIR] [--quick]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
APP = os.path.join(HERE, "apps", "http_app.py")
RAW_SERVER = os.path.join(HERE, "raw_server", "hello_server")
CLK_TCK = os.sysconf("SC_CLK_TCK")

PIPELINE_LUA = """
local depth = 16
init = function(args)
  local r = {}
  for i = 1, depth do r[i] = wrk.format(nil, "/") end
  req = table.concat(r)
end
request = function() return req end
"""

POST_LUA = """
wrk.method = "POST"
wrk.body = string.rep("a", 1048576)
wrk.headers["Content-Type"] = "application/octet-stream"
"""

CLOSE_LUA = """
wrk.headers["Connection"] = "close"
"""


@dataclass
class Scenario:
    name: str
    app_scenario: str  # http_app.py --scenario
    path: str
    check: Callable[[int, bytes], bool]
    lua: Optional[str] = None
    raw: bool = False  # the raw C server can serve it
    pipeline: int = 1
    body_size: int = 0  # the correctness check POSTs this many bytes
    description: str = ""


def _ok_body(expected: bytes) -> Callable[[int, bytes], bool]:
    return lambda status, body: status == 200 and body == expected


SCENARIOS: Dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario("callback_hello", "callback", "/", _ok_body(b"Hello, world"), raw=True,
                 description="plain HTTPServer request callback, keep-alive"),
        Scenario("callback_close", "callback", "/", _ok_body(b"Hello, world"), lua=CLOSE_LUA,
                 raw=True, description="plain request callback, keep-alive off"),
        Scenario("callback_64k", "callback", "/big", _ok_body(b"x" * 65536),
                 description="plain request callback, 64 KiB response"),
        Scenario("callback_pipelined", "callback", "/", _ok_body(b"Hello, world"),
                 lua=PIPELINE_LUA, raw=True, pipeline=16,
                 description="plain request callback, 16-deep pipelining"),
        Scenario("handler_hello", "handler", "/", _ok_body(b"Hello, world"), raw=True,
                 description="hello RequestHandler"),
        Scenario("handler_async", "handler", "/async", _ok_body(b"Hello, world"),
                 description="hello RequestHandler with async def get"),
        Scenario("handler_await", "handler", "/await", _ok_body(b"Hello, world"),
                 description="async def get that suspends once before writing"),
        Scenario("handler_json", "handler", "/json",
                 lambda st, b: st == 200 and b.startswith(b'{"items"'),
                 description="dict -> JSON"),
        Scenario("handler_template", "handler", "/template",
                 lambda st, b: st == 200 and b.count(b"<li>") == 20 and b"&lt;3&gt;" in b,
                 description="template page, 20 items, autoescape"),
        Scenario("handler_static", "handler", "/static/64k.bin",
                 lambda st, b: st == 200 and len(b) == 65536,
                 description="64 KiB static file"),
        Scenario("handler_404", "handler", "/nope", lambda st, b: st == 404,
                 description="404"),
        Scenario("handler_upload", "handler", "/upload",
                 lambda st, b: st == 200 and b == b"1048576", lua=POST_LUA,
                 body_size=1 << 20, description="1 MiB POST body"),
    ]
}


@dataclass
class Result:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    server_cpu: float  # fraction of one core
    errors: int


@dataclass
class Row:
    scenario: str
    impl: str
    results: List[Result] = field(default_factory=list)
    correct: Optional[bool] = None
    note: str = ""

    def median(self, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in self.results) if self.results else 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def taskset(cpu: int) -> List[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", str(cpu)]
    return []


def start_server(impl: str, scenario: Scenario, port: int) -> subprocess.Popen:
    if impl == "raw":
        cmd = [RAW_SERVER, str(port)]
        ready = "listening"
    else:
        cmd = [sys.executable]
        if impl == "tornado_c":
            cmd += ["-m", "tornado_c"]
        cmd += [APP, "--scenario", scenario.app_scenario, "--port", str(port)]
        ready = "ready"
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    # The server's log (e.g. a warning line per 404) goes to a file: a pipe
    # nobody drains would fill up and stall the server mid-run.
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(taskset(0) + cmd, stdout=subprocess.PIPE, stderr=log,
                            env=env, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if ready not in line:
        proc.kill()
        proc.wait()
        log.seek(0)
        raise RuntimeError(f"{impl} server did not start: {line!r} {log.read()[-2000:]}")
    # Nothing more is printed on stdout; keep it from filling up all the same.
    proc.stdout.close()
    return proc


def take_response(data: bytes) -> "tuple[tuple[int, bytes, bytes], bytes] | None":
    """The first whole Content-Length-framed response in data -- (status,
    body, raw head) -- and the bytes after it; None while it is incomplete."""
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = data[:head_end]
    m = re.search(rb"(?i)content-length:\s*(\d+)", head)
    length = int(m.group(1)) if m else 0
    if len(data) < head_end + 4 + length:
        return None
    body = data[head_end + 4:head_end + 4 + length]
    return (int(head.split()[1]), body, head), data[head_end + 4 + length:]


def fetch(port: int, path: str, pipeline: int = 1, body: bytes = b"") -> tuple[int, bytes, bytes]:
    """One raw HTTP/1.1 request (or a pipelined burst; a POST when there is a
    body); returns the last response's status and body, and the raw head of
    the first one."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        if body:
            req = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        else:
            req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        s.sendall(req * pipeline)
        data = b""
        responses: list[tuple[int, bytes, bytes]] = []
        while len(responses) < pipeline:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            data += chunk
            while (taken := take_response(data)) is not None:
                response, data = taken
                responses.append(response)
        status, body, _ = responses[-1]
        return status, body, responses[0][2]


def run_wrk(port: int, scenario: Scenario, duration: float, connections: int,
            lua_dir: str) -> tuple[float, float, float, int]:
    cmd = taskset(1) + ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--latency",
                        "--timeout", "10s"]
    if scenario.lua:
        script = os.path.join(lua_dir, scenario.name + ".lua")
        with open(script, "w") as f:
            f.write(scenario.lua)
        cmd += ["-s", script]
    cmd.append(f"http://127.0.0.1:{port}{scenario.path}")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    rps = float(m.group(1)) if m else 0.0

    def pct(label: str) -> float:
        m2 = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", out)
        if not m2:
            return float("nan")
        value, unit = float(m2.group(1)), m2.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = 0
    m3 = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if m3 and scenario.name != "handler_404":
        errors += int(m3.group(1))
    m4 = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m4:
        errors += sum(int(x) for x in m4.groups())
    # (With pipelining wrk still counts every response it parses.)
    return rps, pct("50"), pct("99"), errors


def normalise_head(head: bytes) -> bytes:
    return re.sub(rb"Date: [^\r]*", b"Date: *", head)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--impls", default="tornado,tornado_c,raw")
    parser.add_argument("--out-dir")
    parser.add_argument("--json")
    parser.add_argument("--quick", action="store_true",
                        help="one short run of the hello scenario (a smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.duration, args.scenarios = 1, 1.0, "callback_hello"
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    impls = args.impls.split(",")
    if "raw" in impls and not os.path.exists(RAW_SERVER):
        print(f"{RAW_SERVER} is not built (make {os.path.relpath(RAW_SERVER, ROOT)})",
              file=sys.stderr)
        return 2
    rows: Dict[tuple, Row] = {}
    lua_dir = tempfile.mkdtemp(prefix="tc-bench-")
    reference_head: Dict[str, bytes] = {}
    for name in args.scenarios.split(","):
        scenario = SCENARIOS[name]
        targets = [i for i in impls if i != "raw" or scenario.raw]
        for run in range(args.runs):
            for impl in targets:
                row = rows.setdefault((name, impl), Row(name, impl))
                port = free_port()
                try:
                    proc = start_server(impl, scenario, port)
                except RuntimeError as exc:
                    row.note = str(exc)[:200]
                    row.correct = False
                    continue
                try:
                    status, body, head = fetch(port, scenario.path, scenario.pipeline,
                                               b"a" * scenario.body_size)
                    ok = scenario.check(status, body)
                    if impl == "tornado" and name.endswith("hello"):
                        reference_head[name] = normalise_head(head)
                    if impl == "raw" and name in reference_head and name.startswith("handler"):
                        ok = ok and normalise_head(head) == reference_head[name]
                    row.correct = ok if row.correct is None else (row.correct and ok)
                    before = cpu_ticks(proc.pid)
                    t0 = time.monotonic()
                    rps, p50, p99, errors = run_wrk(port, scenario, args.duration,
                                                    args.connections, lua_dir)
                    elapsed = time.monotonic() - t0
                    cpu = (cpu_ticks(proc.pid) - before) / CLK_TCK / max(elapsed, 1e-9)
                    row.results.append(Result(rps, p50, p99, cpu, errors))
                finally:
                    proc.terminate()
                    try:
                        proc.wait(10)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                print(f"{name:20} {impl:10} run {run + 1}: "
                      f"{row.results[-1].requests_per_s if row.results else 0:10.0f} req/s",
                      file=sys.stderr, flush=True)
    shutil.rmtree(lua_dir, ignore_errors=True)
    table = render(rows, args)
    print(table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({f"{k[0]}/{k[1]}": [r.__dict__ for r in v.results] for k, v in rows.items()},
                      f, indent=2)
    if args.out_dir:
        stamp = f"{datetime.date.today().isoformat()}-{git_commit()}"
        path = unused_path(args.out_dir, f"http-{stamp}")
        with open(path, "w") as f:
            f.write(table)
        print(f"written to {path}", file=sys.stderr)
    bad = [r for r in rows.values() if r.correct is False]
    return 1 if bad else 0


def unused_path(directory: str, stem: str) -> str:
    """directory/stem.md, or stem-2.md, stem-3.md, ... -- the first that does
    not exist yet (the directory made if need be): results are dated and
    named after the commit, and a second run at the same commit is kept
    beside the first rather than replacing it."""
    os.makedirs(directory, exist_ok=True)
    path, n = os.path.join(directory, f"{stem}.md"), 1
    while os.path.exists(path):
        n += 1
        path = os.path.join(directory, f"{stem}-{n}.md")
    return path


def git_commit() -> str:
    try:
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                       stderr=subprocess.DEVNULL, text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def render(rows: Dict[tuple, Row], args: argparse.Namespace) -> str:
    lines = [
        f"# HTTP benchmark, {datetime.date.today().isoformat()}, commit {git_commit()}",
        "",
        f"`python benchmarks/bench_http.py --runs {args.runs} --duration {args.duration:g} "
        f"--connections {args.connections}`: wrk -t1 -c{args.connections}, server on core 0, "
        f"wrk on core 1, {args.runs} interleaved runs, medians (every run's req/s in the runs "
        f"column). Python {sys.version.split()[0]}.",
        "",
        "| scenario | impl | req/s | runs | p50 ms | p99 ms | server CPU | vs Tornado | vs raw C "
        "| correct |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for (name, impl), row in rows.items():
        rps = row.median("requests_per_s")
        base = rows.get((name, "tornado"))
        raw = rows.get((name, "raw"))
        vs_t = f"{rps / base.median('requests_per_s'):.2f}x" if base and base.results and base.median("requests_per_s") else ""
        vs_r = f"{rps / raw.median('requests_per_s'):.0%}" if raw and raw.results and raw.median("requests_per_s") else ""
        cpu = row.median("server_cpu")
        cpu_note = f"{cpu:.0%}" + ("" if cpu >= 0.9 else " (not CPU-bound: measures the client)")
        errors = sum(r.errors for r in row.results)
        correct = {True: "yes", False: "NO", None: "?"}[row.correct] + (
            f", {errors} errors" if errors else "") + (f" {row.note}" if row.note else "")
        each = ", ".join(f"{r.requests_per_s:.0f}" for r in row.results)
        lines.append(f"| {name} | {impl} | {rps:.0f} | {each} | {row.median('p50_ms'):.2f} | "
                     f"{row.median('p99_ms'):.2f} | {cpu_note} | {vs_t} | {vs_r} | {correct} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
