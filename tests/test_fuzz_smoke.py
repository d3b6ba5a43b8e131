"""Smoke test of the differential fuzzers in tests/fuzz (``make fuzz``): a few
rounds of each kind run to their summary line with no unexplained difference
(a seed and round count whose rounds are known to end quickly).  The fuzzing
itself is ``make fuzz``; this keeps the scripts working."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import List

import pytest

pytest.importorskip("tornado", reason="pure-Python Tornado (the reference) is not installed")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FUZZ = os.path.join(ROOT, "tests", "fuzz")


@pytest.mark.parametrize("args", [
    ["http_server_diff.py", "--mode", "plain", "--seed", "1", "-n", "8"],
    ["http_server_diff.py", "--mode", "ws", "--seed", "1", "-n", "8"],
    ["http_client_diff.py", "--seed", "2", "-n", "5"],
    ["http_client_diff.py", "--keep-alive", "--seed", "2", "-n", "5"],
], ids=["server", "websocket", "client", "client-keep-alive"])
def test_fuzzer_runs(args: List[str]) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, os.path.join(FUZZ, args[0])] + args[1:],
                          capture_output=True, text=True, timeout=240, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " 0 unexplained differences" in proc.stdout
