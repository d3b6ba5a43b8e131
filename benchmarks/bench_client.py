"""Side-by-side HTTP client benchmark: AsyncHTTPClient on Tornado vs tornado_c.

One client script (benchmarks/apps/client_app.py, Tornado's API) is run by
pure-Python Tornado (``python client_app.py``: SimpleAsyncHTTPClient, PyPI
Tornado with its C speedups) and by tornado_c running the same file
unchanged (``python -m tornado_c client_app.py``).  Both fetch from the raw
C libuv + llhttp hello server (benchmarks/raw_server/hello_server), which
costs next to nothing per request, so the client is what is measured.  The
server is pinned to one core and the client to the other; runs are
interleaved, each figure is the median of the runs, and the server's CPU
use is reported beside it (a busy server would mean it, not the client, set
the pace).

Scenarios: one fetch at a time (``sequential``) and 50 in flight
(``concurrent``), both with Tornado's default ``Connection: close`` (every
fetch opens a connection); and one at a time with ``Connection: keep-alive``
asked for (``keep-alive``): tornado_c then reuses the connection, beyond
Tornado, which still opens one per fetch.

The ceiling is benchmarks/raw_server/hello_client (impl ``raw``): the same
fetches, the same request head and the same checks in C on libuv + llhttp,
no Python; the table gives every client's rate as a share of it.

Usage: python benchmarks/bench_client.py [--runs 3] [--seconds 3] [--out-dir DIR]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_http import (  # noqa: E402
    RAW_SERVER, ROOT, cpu_ticks, free_port, git_commit, taskset, unused_path, CLK_TCK,
)

CLIENT = os.path.join(HERE, "apps", "client_app.py")
RAW_CLIENT = os.path.join(HERE, "raw_server", "hello_client")
# name -> (fetches in flight, send "Connection: keep-alive")
MODES = {"sequential": (1, False), "concurrent": (50, False), "keep-alive": (1, True)}
IMPLS = ("tornado", "tornado_c", "raw")


def start_raw_server(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(taskset(0) + [RAW_SERVER, str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening" not in line:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"raw server did not start: {line!r}")
    proc.stdout.close()
    return proc


def run_client(impl: str, port: int, seconds: float, concurrency: int, keep_alive: bool,
               server_pid: int) -> Tuple[dict, float]:
    if impl == "raw":
        cmd = [RAW_CLIENT, str(port), str(seconds), str(concurrency),
               "keep-alive" if keep_alive else "close"]
    else:
        cmd = [sys.executable]
        if impl == "tornado_c":
            cmd += ["-m", "tornado_c"]
        cmd += [CLIENT, "--port", str(port), "--seconds", str(seconds),
                "--concurrency", str(concurrency)] + (["--keep-alive"] if keep_alive else [])
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    before = cpu_ticks(server_pid)
    start = time.monotonic()
    out = subprocess.run(taskset(1) + cmd, capture_output=True, text=True, env=env,
                         timeout=seconds + 60)
    wall = time.monotonic() - start
    server_cpu = (cpu_ticks(server_pid) - before) / CLK_TCK / wall
    if out.returncode != 0:
        raise RuntimeError(f"{impl} client failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1]), server_cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--out-dir", default=os.path.join(HERE, "results"))
    parser.add_argument("--quick", action="store_true",
                        help="one short sequential run (a smoke test)")
    args = parser.parse_args()
    modes = dict(MODES)
    if args.quick:
        args.runs, args.seconds, modes = 1, 0.5, {"sequential": MODES["sequential"]}
    for binary in (RAW_SERVER, RAW_CLIENT):
        if not os.path.exists(binary):
            print(f"{binary} is not built (make {os.path.relpath(binary, ROOT)})",
                  file=sys.stderr)
            return 2
    port = free_port()
    server = start_raw_server(port)
    samples: Dict[Tuple[str, str], List[Tuple[dict, float]]] = {}
    try:
        for run in range(args.runs):
            for mode, (concurrency, keep_alive) in modes.items():
                for impl in IMPLS:
                    result, cpu = run_client(impl, port, args.seconds, concurrency, keep_alive,
                                             server.pid)
                    samples.setdefault((mode, impl), []).append((result, cpu))
                    print(f"{mode:<11} {impl:<10} run {run + 1}: "
                          f"{result['per_second']:10.0f} fetches/s", flush=True)
    finally:
        server.kill()
        server.wait()
    table = render(samples, modes, args)
    print(table)
    if not args.quick:
        stamp = f"{datetime.date.today().isoformat()}-{git_commit()}"
        path = unused_path(args.out_dir, f"client-{stamp}")
        with open(path, "w") as f:
            f.write(table)
        print(f"written to {path}")
    correct = all(r["correct"] for runs in samples.values() for r, _ in runs)
    return 0 if correct else 1


def render(samples: Dict[Tuple[str, str], List[Tuple[dict, float]]],
           modes: Dict[str, Tuple[int, bool]], args: argparse.Namespace) -> str:
    lines = [
        f"# HTTP client benchmark, {datetime.date.today().isoformat()}, commit {git_commit()}",
        "",
        f"`python benchmarks/bench_client.py --runs {args.runs} --seconds {args.seconds:g}`: "
        "AsyncHTTPClient (SimpleAsyncHTTPClient) fetching `Hello, world` from the raw C server; "
        "raw: the same fetches by a C libuv + llhttp client (benchmarks/raw_server/"
        "hello_client.c), the ceiling; "
        "client on core 1, server on core 0, interleaved runs, medians (every run in the runs "
        "column). "
        f"Python {sys.version.split()[0]}.",
        "",
        "| scenario | impl | fetches/s | runs | vs Tornado | vs raw C | server CPU | correct |",
        "|---|---|---:|---|---:|---:|---:|---|",
    ]
    for mode in modes:
        base = statistics.median(r["per_second"] for r, _ in samples[(mode, "tornado")])
        ceiling = statistics.median(r["per_second"] for r, _ in samples[(mode, "raw")])
        for impl in IMPLS:
            runs = samples[(mode, impl)]
            rate = statistics.median(r["per_second"] for r, _ in runs)
            cpu = statistics.median(c for _, c in runs)
            ok = all(r["correct"] for r, _ in runs)
            flight, keep_alive = modes[mode]
            label = f"{mode} ({flight} in flight" + (", keep-alive asked" if keep_alive else "") + ")"
            each = ", ".join(f"{r['per_second']:.0f}" for r, _ in runs)
            share = f"{rate / ceiling:.0%}" if impl != "raw" and ceiling else ""
            lines.append(f"| {label} | {impl} | {rate:.0f} | {each} | "
                         f"{rate / base:.2f}x | {share} | {cpu:.0%} | {'yes' if ok else 'NO'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
