"""Differential tests for tornado_c.autoreload against tornado.autoreload.

In-process tests compare the file checks and the command line `_reload`
re-executes (``os.execv`` is intercepted).  Subprocess tests run the same
small programs under each implementation — reloading themselves with
``start()`` and through the ``python -m <impl>.autoreload`` wrapper — and
compare what each run printed.  Every subprocess is bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import subprocess
import sys
import textwrap
import types
import weakref
from typing import Any, Dict, List

import pytest

import tornado.autoreload as ref
import tornado_c.autoreload as tc

from conftest import Impl

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODS = [ref, tc]


class _Exec(Exception):
    pass


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give both modules clean global state for the test."""
    for m in MODS:
        monkeypatch.setattr(m, "_watched_files", set())
        monkeypatch.setattr(m, "_reload_hooks", [])
        monkeypatch.setattr(m, "_reload_attempted", False)
        monkeypatch.setattr(m, "_io_loops", weakref.WeakKeyDictionary())
        monkeypatch.setattr(m, "_autoreload_is_main", False)
        monkeypatch.setattr(m, "_original_argv", None)
        monkeypatch.setattr(m, "_original_spec", None)


def test_api_shape() -> None:
    def shape(fn: Any) -> Any:
        return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]

    for name in ("start", "wait", "watch", "add_reload_hook", "main", "_reload", "_check_file",
                 "_reload_on_update"):
        assert shape(getattr(tc, name)) == shape(getattr(ref, name)), name
    assert tc._USAGE == ref._USAGE
    assert tc._has_execv == ref._has_execv


def test_watch_and_hooks(fresh: None) -> None:
    for m in MODS:
        m.watch("/a")
        m.watch("/a")
        m.add_reload_hook(print)
    assert tc._watched_files == ref._watched_files == {"/a"}
    assert tc._reload_hooks == ref._reload_hooks == [print]


def test_check_file(fresh: None, tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
                    caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "f.py"
    path.write_text("x")
    outcomes = []
    for m in MODS:
        calls: List[int] = []
        monkeypatch.setattr(m, "_reload", lambda: calls.append(1))
        times: Dict[str, float] = {}
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="tornado.general"):
            m._check_file(times, str(path))
            first = (dict(times), list(calls))
            m._check_file(times, str(path))
            second = list(calls)
            st = os.stat(path)
            os.utime(path, (st.st_atime, st.st_mtime + 5))
            m._check_file(times, str(path))
            m._check_file(times, str(tmp_path / "missing.py"))
            os.utime(path, (st.st_atime, st.st_mtime))
        outcomes.append((first, second, list(calls), sorted(times),
                         [(r.levelname, r.getMessage()) for r in caplog.records]))
    assert outcomes[0] == outcomes[1]
    assert outcomes[1][2] == [1]


def test_reload_on_update_guards(fresh: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    watched = tmp_path / "w.txt"
    watched.write_text("1")
    for m in MODS:
        calls: List[str] = []
        monkeypatch.setattr(m, "_check_file", lambda times, path: calls.append(path))
        m.watch(str(watched))
        m._reload_on_update({})
        assert str(watched) in calls
        assert os.path.abspath(m.__file__) in calls or m.__file__ in calls
        assert not any(p.endswith(".pyc") for p in calls)
        calls.clear()
        monkeypatch.setattr(m, "_reload_attempted", True)
        m._reload_on_update({})
        assert calls == []
        monkeypatch.setattr(m, "_reload_attempted", False)
        monkeypatch.setattr(m.process, "task_id", lambda: 3)
        m._reload_on_update({})
        assert calls == []


SPECS = [
    None,
    types.SimpleNamespace(name="__main__"),
    types.SimpleNamespace(name="pkg.app"),
]


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("is_main", [False, True])
def test_reload_command_line(fresh: None, monkeypatch: pytest.MonkeyPatch, spec: Any,
                             is_main: bool) -> None:
    execs: List[Any] = []

    def fake_execv(path: str, args: List[str]) -> None:
        execs.append((path, list(args)))
        raise _Exec()

    monkeypatch.setattr(os, "execv", fake_execv)
    monkeypatch.setattr(sys, "argv", ["prog.py", "--flag", "x"])
    main_module = sys.modules["__main__"]
    monkeypatch.setattr(main_module, "__spec__", spec, raising=False)
    results = []
    for m in MODS:
        hooks: List[str] = []
        m.add_reload_hook(lambda: hooks.append("hook"))
        if is_main:
            monkeypatch.setattr(m, "_autoreload_is_main", True)
            monkeypatch.setattr(m, "_original_argv", ["/x/autoreload.py", "-m", "pkg.app", "a"])
            monkeypatch.setattr(m, "_original_spec", types.SimpleNamespace(name="pkg.autoreload"))
        with pytest.raises(_Exec):
            m._reload()
        results.append((execs.pop(), hooks, m._reload_attempted))
    assert results[0] == results[1]


def test_start_twice(fresh: None, caplog: pytest.LogCaptureFixture) -> None:
    outcomes = []
    for name in ("tornado", "tornado_c"):
        impl = Impl(name)
        m = impl.mod("autoreload")
        ioloop = impl.mod("ioloop")
        caplog.clear()

        async def body() -> None:
            m.start(check_time=10000)
            m.start(check_time=10000)

        loops = []
        with caplog.at_level(logging.WARNING, logger="tornado.general"):
            for _ in range(2):
                loop = asyncio.new_event_loop()
                loops.append(loop)
                asyncio.set_event_loop(loop)
                try:
                    loop.run_until_complete(body())
                finally:
                    asyncio.set_event_loop(None)
            count = len(m._io_loops)
        for loop in loops:
            ioloop.IOLoop._ioloop_for_asyncio.pop(loop, None)
            loop.close()
        outcomes.append((count, [(r.levelname, r.getMessage()) for r in caplog.records]))
    assert outcomes[0] == outcomes[1]
    assert outcomes[1][0] == 2 and len(outcomes[1][1]) == 1


# ---------------------------------------------------------------------------
# Subprocesses

SELF_RELOAD = """\
import os, sys
from {impl} import autoreload
from {impl}.ioloop import IOLoop

with open("runs.txt", "a") as f:
    f.write("x")
n = len(open("runs.txt").read())
spec = getattr(sys.modules["__main__"], "__spec__", None)
print("run", n, sys.argv[1:], getattr(spec, "name", None), flush=True)
if n >= 2:
    sys.exit(0)

autoreload.watch("data.txt")
autoreload.add_reload_hook(lambda: print("hook", flush=True))

def touch():
    st = os.stat("data.txt")
    os.utime("data.txt", (st.st_atime, st.st_mtime + 10))

async def main():
    autoreload.start(check_time=50)
    IOLoop.current().call_later(0.3, touch)
    await __import__("asyncio").sleep(20)

import asyncio
asyncio.run(main())
print("not reloaded", flush=True)
"""

WRAPPED = """\
import os, sys, threading, time

with open("runs.txt", "a") as f:
    f.write("x")
n = len(open("runs.txt").read())
print("run", n, sys.argv[1:], "{impl}.autoreload" in sys.modules, flush=True)
if n >= 2:
    sys.exit(0)

def touch_later(path):
    time.sleep(1.5)
    st = os.stat(path)
    os.utime(path, (st.st_atime, st.st_mtime + 10))

threading.Thread(target=touch_later, args=(__file__,), daemon=True).start()
raise Exception("first run fails")
"""


def _run(args: List[str], cwd: str, timeout: float = 40) -> Any:
    env = dict(os.environ)
    env.pop("TORNADO_C_ALIAS", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (cwd, ROOT, env.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable] + args, cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout)
    return proc.returncode, proc.stdout.decode().splitlines()


def _prepare(tmp_path: Any, impl: str, source: str, as_package: bool) -> str:
    work = tmp_path / impl
    work.mkdir()
    (work / "data.txt").write_text("d")
    code = textwrap.dedent(source).replace("{impl}", impl)
    if as_package:
        (work / "app").mkdir()
        (work / "app" / "__init__.py").write_text("")
        (work / "app" / "__main__.py").write_text(code)
    else:
        (work / "script.py").write_text(code)
    return str(work)


@pytest.mark.parametrize("as_package", [False, True])
def test_self_reload(tmp_path: Any, as_package: bool) -> None:
    outputs = []
    for impl in ("tornado", "tornado_c"):
        cwd = _prepare(tmp_path, impl, SELF_RELOAD, as_package)
        target = ["-m", "app"] if as_package else ["script.py"]
        outputs.append(_run(target + ["--opt", "v"], cwd))
    assert outputs[0] == outputs[1]
    assert outputs[1][0] == 0 and outputs[1][1][-1].startswith("run 2")


@pytest.mark.parametrize("as_package", [False, True])
def test_wrapper(tmp_path: Any, as_package: bool) -> None:
    outputs = []
    for impl in ("tornado", "tornado_c"):
        cwd = _prepare(tmp_path, impl, WRAPPED, as_package)
        target = ["-m", "app"] if as_package else ["script.py"]
        outputs.append(_run(["-m", impl + ".autoreload", "--until-success"] + target + ["a b", "c"],
                            cwd))
    assert outputs[0] == outputs[1]
    assert outputs[1][0] == 0 and len(outputs[1][1]) == 2


def test_wrapper_usage(tmp_path: Any) -> None:
    outputs = []
    for impl in ("tornado", "tornado_c"):
        code, out = _run(["-m", impl + ".autoreload"], str(tmp_path))
        outputs.append(code)
    assert outputs == [1, 1]


def test_import_is_side_effect_free() -> None:
    code = "import sys; import tornado_c.autoreload; print(sys.argv[1:])"
    out = subprocess.run([sys.executable, "-c", code, "x"], cwd=ROOT, stdout=subprocess.PIPE,
                         env=dict(os.environ, PYTHONPATH=ROOT), timeout=30)
    assert out.stdout.decode().strip() == "['x']"


def test_no_stray_globals() -> None:
    public = {n for n in dir(ref) if not n.startswith("_") and not isinstance(getattr(ref, n), types.ModuleType)}
    ours = {n for n in dir(tc) if not n.startswith("_")}
    assert {"start", "wait", "watch", "add_reload_hook", "main"} <= ours
    assert {"start", "wait", "watch", "add_reload_hook", "main"} <= public
    assert isinstance(tc._io_loops, weakref.WeakKeyDictionary)


NATIVE_RELOAD = """\
import os, sys, socket
import tornado_c
from tornado_c import autoreload
from tornado_c.ioloop import IOLoop

with open("runs.txt", "a") as f:
    f.write("x")
if len(open("runs.txt").read()) >= 2:
    print("fds", sorted(int(fd) for fd in os.listdir("/proc/self/fd")), flush=True)
    sys.exit(0)

listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(1)
autoreload.watch("data.txt")

def touch():
    st = os.stat("data.txt")
    os.utime("data.txt", (st.st_atime, st.st_mtime + 10))

async def main():
    autoreload.start(check_time=50)
    IOLoop.current().call_later(0.3, touch)
    await __import__("asyncio").sleep(20)

loop = tornado_c.new_event_loop()
loop.run_until_complete(main())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc/self/fd")
def test_reexec_from_native_loop_leaks_no_fds(tmp_path: Any) -> None:
    pytest.importorskip("tornado_c._core")
    cwd = _prepare(tmp_path, "tornado_c", NATIVE_RELOAD, False)
    code, out = _run(["script.py"], cwd)
    assert code == 0, out
    # 0-2 and the directory fd listdir itself opened.
    assert out == ["fds [0, 1, 2, 3]"]
