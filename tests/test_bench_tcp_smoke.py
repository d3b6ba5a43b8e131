"""Smoke test of benchmarks/bench_tcp.py: a ``--quick`` run exits 0 and prints
its table.  No timing is asserted; the figures are not looked at."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "bench_tcp.py")
EXIT_MISSING = 3  # bench_tcp.py's status when the machine lacks something it needs

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="bench_tcp.py needs Linux (/proc, epoll)"
)


def run_quick(*args: str) -> "subprocess.CompletedProcess[str]":
    """bench_tcp.py --quick with these arguments; skips when the machine lacks
    something it needs, fails when it does not exit 0."""
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, SCRIPT, "--quick", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=ROOT,
    )
    if proc.returncode == EXIT_MISSING:
        pytest.skip(proc.stderr.strip() or "the machine lacks something bench_tcp.py needs")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_bench_tcp_quick(tmp_path: Any) -> None:
    out_json = tmp_path / "bench.json"
    out_dir = tmp_path / "results"
    proc = run_quick("--json", str(out_json), "--out-dir", str(out_dir))
    assert "| workload | impl | median | unit |" in proc.stdout
    for title in ("round trips, 64 B", "bulk echo, 1 MiB writes",
                  "server RSS per idle connection"):
        assert title in proc.stdout, proc.stdout
    assert "| NO" not in proc.stdout

    data = json.loads(out_json.read_text())
    assert {(r["workload"], r["impl"]) for r in data["rows"]} >= {
        (w, i) for w in ("rt", "bulk", "idle") for i in ("tornado", "tornado_c", "raw")
    }
    assert all(r["ok"] for r in data["rows"])
    assert all(run["ok"] for run in data["runs"])
    written = list(out_dir.iterdir())
    assert len(written) == 1 and written[0].name.startswith("tcp-") and written[0].suffix == ".md"
    assert data["meta"]["commit"] in written[0].read_text()


def test_bench_tcp_quick_with_the_c_load_generator(tmp_path: Any) -> None:
    out_json = tmp_path / "bench.json"
    proc = run_quick("--load", "c", "--workloads", "rt,line,bulk", "--impls", "tornado_c,raw",
                     "--json", str(out_json))
    assert "--load c" in proc.stdout and "echo_load" in proc.stdout
    data = json.loads(out_json.read_text())
    assert {(r["workload"], r["impl"]) for r in data["rows"]} == {
        (w, i) for w in ("rt", "line", "bulk") for i in ("tornado_c", "raw")
    }
    assert all(r["ok"] and r["median"] > 0 for r in data["rows"])
    assert all(0 < run["server_cpu"] <= 1.5 for run in data["runs"])
