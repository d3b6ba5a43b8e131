"""The package type-checks, and the C extension's stubs describe it.

CONVENTIONS.md: annotations everywhere, ``py.typed``, ``_core.pyi`` for
everything in C, mypy clean.  mypy checks the package (its own cache lives
in a temporary directory, so the checkout's is not touched), and mypy's
``stubtest`` compares ``_core.pyi`` with the built extension: a C function,
type or attribute missing from the stub, or a stub entry the module lacks,
fails here.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import tornado_c

pytest.importorskip("mypy", reason="mypy is not installed (make test's pydeps installs it)")

PACKAGE = os.path.dirname(tornado_c.__file__)
ROOT = os.path.dirname(PACKAGE)


def run_tool(args: list, tmp_path: os.PathLike) -> subprocess.CompletedProcess:
    env = dict(os.environ, MYPY_CACHE_DIR=os.fspath(tmp_path))
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=300,
    )


def test_package_is_mypy_clean(tmp_path: os.PathLike) -> None:
    result = run_tool(["mypy", "--no-error-summary", "tornado_c"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_stub_matches_the_extension(tmp_path: os.PathLike) -> None:
    assert os.path.exists(os.path.join(PACKAGE, "_core.pyi"))
    assert os.path.exists(os.path.join(PACKAGE, "py.typed"))
    result = run_tool(["mypy.stubtest", "tornado_c._core"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
