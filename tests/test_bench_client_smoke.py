"""Smoke test of benchmarks/bench_client.py: a ``--quick`` run (one short
sequential run on each implementation) exits 0 with every response correct
and prints its table.  No timing is asserted."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "bench_client.py")
RAW = os.path.join(ROOT, "benchmarks", "raw_server")


def test_bench_client_quick() -> None:
    for name in ("hello_server", "hello_client"):
        if not os.path.exists(os.path.join(RAW, name)):
            pytest.skip(f"the raw C {name} is not built (make benchmarks/raw_server/{name})")
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, SCRIPT, "--quick"], capture_output=True,
                          text=True, timeout=300, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ("| scenario | impl | fetches/s | runs | vs Tornado | vs raw C | server CPU "
            "| correct |") in proc.stdout
    assert "| sequential (1 in flight) | tornado_c |" in proc.stdout
    assert "| sequential (1 in flight) | raw |" in proc.stdout
    assert "| NO |" not in proc.stdout
