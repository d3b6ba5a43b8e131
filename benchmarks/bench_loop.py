#!/usr/bin/env python3
"""Event loop benchmark: asyncio's default loop against tornado_c's native loop.

Runs each workload on both loops in one run, alternating between them for
several rounds, and prints a markdown table of the medians with the ratio
native / default (above 1 means the native loop is faster).  Every figure has
a correctness check beside it: the number of callbacks that ran must equal the
number scheduled.

Workloads:

* ``call_soon``   -- chains of callbacks that each reschedule themselves.
* ``timers``      -- ``call_later`` + ``cancel`` pairs, with one timer in ten
  left to fire.
* ``reader``      -- ``add_reader`` ping-pong over a socketpair (round trips).
* ``ioloop_cb``   -- a Tornado ``IOLoop.add_callback`` chain: tornado_c.ioloop
  on the native loop against pure-Python tornado.ioloop on asyncio's loop.
* ``periodic``    -- a Tornado ``PeriodicCallback`` at a tiny interval, same
  pairing.

The two Tornado workloads run each implementation in its own child process
(this script with ``--worker``), so the reference and tornado_c never share a
process.

Usage::

    python benchmarks/bench_loop.py                    # full run
    python benchmarks/bench_loop.py --quick            # short smoke run
    python benchmarks/bench_loop.py --json out.json --out-dir benchmarks/results

Exit status: 0 on success, 1 if a correctness check failed, 3 if the native
loop cannot be loaded (the message says why).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXIT_NO_NATIVE = 3

# Run from a source checkout: import this tree's tornado_c.
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# Workload sizes: (full, quick).
SIZES: Dict[str, Tuple[int, int]] = {
    "call_soon": (200_000, 20_000),
    "timers": (100_000, 10_000),
    "reader": (20_000, 1_000),
    "ioloop_cb": (100_000, 5_000),
    "periodic": (5_000, 300),
}

TITLES = {
    "call_soon": ("call_soon chains", "callbacks/s"),
    "timers": ("call_later + cancel", "pairs/s"),
    "reader": ("add_reader ping-pong", "round trips/s"),
    "ioloop_cb": ("IOLoop.add_callback chain", "callbacks/s"),
    "periodic": ("PeriodicCallback (tiny interval)", "calls/s"),
}

Result = Dict[str, Any]  # {"rate": float, "ran": int, "expected": int}


# ---------------------------------------------------------------------------
# loop-level workloads (run in this process, on a loop made by a factory)


def bench_call_soon(loop: asyncio.AbstractEventLoop, n: int) -> Result:
    chains = 100
    state = {"ran": 0, "scheduled": chains}

    def cb() -> None:
        state["ran"] += 1
        if state["scheduled"] < n:
            state["scheduled"] += 1
            loop.call_soon(cb)
        elif state["ran"] == n:
            loop.stop()

    for _ in range(chains):
        loop.call_soon(cb)
    t0 = time.perf_counter()
    loop.run_forever()
    elapsed = time.perf_counter() - t0
    return {"rate": n / elapsed, "ran": state["ran"], "expected": n}


def bench_timers(loop: asyncio.AbstractEventLoop, n: int) -> Result:
    batch = 1000
    fire_every = 10
    expected_fired = 0
    counts = {"fired": 0, "wrong": 0}

    def fired() -> None:
        counts["fired"] += 1

    def wrong() -> None:
        counts["wrong"] += 1

    async def main() -> None:
        nonlocal expected_fired
        done = 0
        while done < n:
            for i in range(min(batch, n - done)):
                h = loop.call_later(10.0 + i * 1e-6, wrong)
                h.cancel()
                if i % fire_every == 0:
                    loop.call_later(0, fired)
                    expected_fired += 1
            done += batch
            await asyncio.sleep(0)
        deadline = time.monotonic() + 30
        while counts["fired"] < expected_fired and time.monotonic() < deadline:
            await asyncio.sleep(0)

    t0 = time.perf_counter()
    loop.run_until_complete(main())
    elapsed = time.perf_counter() - t0
    ran = counts["fired"] if counts["wrong"] == 0 else -counts["wrong"]
    return {"rate": n / elapsed, "ran": ran, "expected": expected_fired}


def bench_reader(loop: asyncio.AbstractEventLoop, n: int) -> Result:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    state = {"trips": 0}

    def on_a() -> None:
        a.recv(16)
        state["trips"] += 1
        if state["trips"] >= n:
            loop.stop()
        else:
            a.send(b"p")

    def on_b() -> None:
        b.recv(16)
        b.send(b"q")

    try:
        loop.add_reader(a.fileno(), on_a)
        loop.add_reader(b.fileno(), on_b)
        guard = loop.call_later(60, loop.stop)
        a.send(b"p")
        t0 = time.perf_counter()
        loop.run_forever()
        elapsed = time.perf_counter() - t0
        guard.cancel()
    finally:
        loop.remove_reader(a.fileno())
        loop.remove_reader(b.fileno())
        a.close()
        b.close()
    return {"rate": state["trips"] / elapsed, "ran": state["trips"], "expected": n}


LOOP_BENCHES: Dict[str, Callable[[asyncio.AbstractEventLoop, int], Result]] = {
    "call_soon": bench_call_soon,
    "timers": bench_timers,
    "reader": bench_reader,
}


# ---------------------------------------------------------------------------
# Tornado-level workloads (run in a child process per implementation)


def worker(impl: str, what: str, n: int) -> Result:
    """Run one Tornado-level workload with ``impl`` ("tornado" or "tornado_c")."""
    if impl == "tornado_c":
        import tornado_c

        asyncio.set_event_loop_policy(tornado_c.EventLoopPolicy())
        from tornado_c.ioloop import IOLoop, PeriodicCallback
    else:
        from tornado.ioloop import IOLoop, PeriodicCallback  # type: ignore[no-redef,assignment]

    result: Result = {}

    async def main() -> None:
        io_loop = IOLoop.current()
        done = asyncio.get_running_loop().create_future()
        if what == "ioloop_cb":
            chains = 100
            state = {"ran": 0, "scheduled": chains}

            def cb() -> None:
                state["ran"] += 1
                if state["scheduled"] < n:
                    state["scheduled"] += 1
                    io_loop.add_callback(cb)
                elif state["ran"] == n and not done.done():
                    done.set_result(None)

            t0 = time.perf_counter()
            for _ in range(chains):
                io_loop.add_callback(cb)
            await asyncio.wait_for(done, 120)
            elapsed = time.perf_counter() - t0
            result.update(rate=n / elapsed, ran=state["ran"], expected=n)
        elif what == "periodic":
            count = {"n": 0}

            def tick() -> None:
                count["n"] += 1
                if count["n"] == n:
                    pc.stop()
                    done.set_result(None)

            # 0.01 ms: the interval is never the limit, the loop's overhead is.
            pc = PeriodicCallback(tick, 0.01)
            t0 = time.perf_counter()
            pc.start()
            await asyncio.wait_for(done, 120)
            elapsed = time.perf_counter() - t0
            await asyncio.sleep(0.005)  # a stopped PeriodicCallback runs no more
            result.update(rate=n / elapsed, ran=count["n"], expected=n)
        else:
            raise ValueError(what)

    asyncio.run(main())
    return result


def run_worker(impl: str, what: str, n: int) -> Result:
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--worker", what, "--impl", impl, "--n", str(n)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"worker {impl}/{what} failed ({proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------
# driver


def native_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """Return tornado_c.new_event_loop, or exit with EXIT_NO_NATIVE."""
    try:
        import tornado_c

        lp = tornado_c.new_event_loop()
        lp.close()
    except Exception as e:  # noqa: BLE001 - report any failure to load
        print(
            f"bench_loop: the native loop is not available: {type(e).__name__}: {e}\n"
            "bench_loop: build the extension first (python setup.py build_ext --inplace).",
            file=sys.stderr,
        )
        sys.exit(EXIT_NO_NATIVE)
    return tornado_c.new_event_loop


def git_commit() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT, capture_output=True, text=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not commit:
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def check_ok(r: Result) -> bool:
    return r["ran"] == r["expected"]


def run_all(names: List[str], rounds: int, quick: bool) -> Dict[str, Any]:
    factories: Dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
        "default": asyncio.new_event_loop,
        "native": native_factory(),
    }
    impl_for = {"default": "tornado", "native": "tornado_c"}
    raw: Dict[str, Dict[str, List[Result]]] = {name: {"default": [], "native": []} for name in names}
    for rnd in range(rounds):
        # Alternate which side goes first so neither always runs warm.
        order = ["default", "native"] if rnd % 2 == 0 else ["native", "default"]
        for name in names:
            n = SIZES[name][1 if quick else 0]
            for side in order:
                gc.collect()
                if name in LOOP_BENCHES:
                    lp = factories[side]()
                    asyncio.set_event_loop(lp)
                    try:
                        r = LOOP_BENCHES[name](lp, n)
                    finally:
                        asyncio.set_event_loop(None)
                        lp.close()
                else:
                    r = run_worker(impl_for[side], name, n)
                raw[name][side].append(r)
    return raw


def summarize(raw: Dict[str, Dict[str, List[Result]]]) -> List[Dict[str, Any]]:
    rows = []
    for name, sides in raw.items():
        med = {side: statistics.median(r["rate"] for r in results) for side, results in sides.items()}
        checks = {side: all(check_ok(r) for r in results) for side, results in sides.items()}
        last = {side: results[-1] for side, results in sides.items()}
        rows.append(
            {
                "name": name,
                "title": TITLES[name][0],
                "unit": TITLES[name][1],
                "default": med["default"],
                "native": med["native"],
                "ratio": med["native"] / med["default"] if med["default"] else float("nan"),
                "ok": checks["default"] and checks["native"],
                "check": "; ".join(
                    f"{side} {'ok' if checks[side] else 'FAIL'} {last[side]['ran']}/{last[side]['expected']}"
                    for side in ("default", "native")
                ),
            }
        )
    return rows


def fmt_rate(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e3:
        return f"{x / 1e3:.1f}k"
    return f"{x:.0f}"


def render(rows: List[Dict[str, Any]], meta: Dict[str, Any]) -> str:
    lines = [
        f"# Event loop benchmark — {meta['date']} — commit {meta['commit']}",
        "",
        f"Python {meta['python']} on {meta['machine']}, {meta['cpus']} CPUs; "
        f"{meta['rounds']} round(s){' (quick)' if meta['quick'] else ''}; medians. "
        "default = asyncio's default loop (pure-Python tornado for the IOLoop rows); "
        "native = tornado_c's loop (tornado_c.ioloop for the IOLoop rows). "
        "ratio = native / default, above 1 means native is faster.",
        "",
        "| benchmark | unit | default | native | ratio | check (callbacks ran / scheduled) |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['title']} | {r['unit']} | {fmt_rate(r['default'])} | {fmt_rate(r['native'])} "
            f"| {r['ratio']:.2f}x | {r['check']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=None, help="rounds per loop (default 5, quick 1)")
    parser.add_argument("--quick", action="store_true", help="small sizes, one round: a smoke run")
    parser.add_argument("--only", action="append", choices=sorted(SIZES), help="run only this workload (repeatable)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    parser.add_argument("--out-dir", metavar="DIR", help="write a dated markdown table (with the commit) into DIR")
    # Internal: run one Tornado-level workload in this (child) process.
    parser.add_argument("--worker", choices=["ioloop_cb", "periodic"], help=argparse.SUPPRESS)
    parser.add_argument("--impl", choices=["tornado", "tornado_c"], help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(args.impl, args.worker, args.n)))
        return 0

    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 5)
    names = args.only or list(SIZES)
    now = datetime.datetime.now(datetime.timezone.utc)
    meta = {
        "date": now.strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_commit(),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}",
        "cpus": os.cpu_count(),
        "rounds": rounds,
        "quick": args.quick,
    }
    raw = run_all(names, rounds, args.quick)
    rows = summarize(raw)
    table = render(rows, meta)
    print(table, end="")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "rows": rows, "raw": raw}, f, indent=2)
    if args.out_dir:
        sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
        from bench_http import unused_path

        path = unused_path(args.out_dir, f"loop-{now.strftime('%Y-%m-%d')}-{meta['commit']}")
        with open(path, "w") as f:
            f.write(table)
        print(f"\nwrote {path}")

    failed = [r["name"] for r in rows if not r["ok"]]
    if failed:
        print(f"bench_loop: correctness check FAILED for: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
