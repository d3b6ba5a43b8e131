"""Smoke test of benchmarks/bench_loop.py: a ``--quick`` run exits 0 and prints
its table.  No timing is asserted; the figures are not looked at."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "bench_loop.py")
EXIT_NO_NATIVE = 3  # bench_loop.py's status when the native loop cannot load


def test_bench_loop_quick(tmp_path: Any) -> None:
    out_json = tmp_path / "bench.json"
    out_dir = tmp_path / "results"
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, SCRIPT, "--quick", "--json", str(out_json), "--out-dir", str(out_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=ROOT,
    )
    if proc.returncode == EXIT_NO_NATIVE:
        pytest.skip(proc.stderr.strip() or "the native loop is not available")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "| benchmark | unit | default | native | ratio |" in proc.stdout
    for title in ("call_soon chains", "call_later + cancel", "add_reader ping-pong",
                  "IOLoop.add_callback chain", "PeriodicCallback"):
        assert title in proc.stdout, proc.stdout
    assert "FAIL" not in proc.stdout

    data = json.loads(out_json.read_text())
    assert {r["name"] for r in data["rows"]} == {"call_soon", "timers", "reader", "ioloop_cb", "periodic"}
    assert all(r["ok"] for r in data["rows"])
    written = list(out_dir.iterdir())
    assert len(written) == 1 and written[0].name.startswith("loop-") and written[0].suffix == ".md"
    assert data["meta"]["commit"] in written[0].read_text()
