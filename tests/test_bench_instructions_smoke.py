"""Smoke test of benchmarks/instructions.py: a short run under callgrind
exits 0 and prints a positive instruction count per request.  The count is
not compared with anything."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "instructions.py")


@pytest.mark.skipif(shutil.which("valgrind") is None or shutil.which("callgrind_control") is None,
                    reason="valgrind with callgrind_control is not installed on this machine")
@pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                    reason="valgrind cannot run a process with AddressSanitizer preloaded "
                    "(this is the sanitizer build's run)")
def test_instructions_per_request_short_run() -> None:
    proc = subprocess.run(
        [sys.executable, SCRIPT, "--scenario", "handler", "--path", "/", "--requests", "20",
         "--warmup", "3"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = re.search(r"tornado_c handler /: ([\d,]+) instructions per request \(20 requests\)",
                      proc.stdout)
    assert found, proc.stdout
    assert int(found.group(1).replace(",", "")) > 0
