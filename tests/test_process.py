"""Differential tests for tornado_c.process against Tornado's process module.

Subprocess tests install a SIGCHLD handler on the running loop and remove it
again (``Subprocess.uninitialize``) before the loop closes.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import subprocess
import sys
import textwrap
from typing import Any, Awaitable, Callable

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="unix only")


def run(impl: Any, loop: asyncio.AbstractEventLoop, fn: Callable[[], Awaitable[Any]]) -> Any:
    Subprocess = impl.mod("process").Subprocess

    async def bounded() -> Any:
        try:
            return await asyncio.wait_for(fn(), 20)
        finally:
            Subprocess.uninitialize()

    return loop.run_until_complete(bounded())


def test_api(impl: Any) -> None:
    import tornado.process as ref

    process = impl.mod("process")
    assert process.CalledProcessError is subprocess.CalledProcessError
    assert process.task_id() is None
    n = process.cpu_count()
    assert isinstance(n, int) and n >= 1
    assert n == ref.cpu_count()
    for name in ("fork_processes", "task_id", "cpu_count"):
        a = inspect.signature(getattr(process, name)).parameters.values()
        b = inspect.signature(getattr(ref, name)).parameters.values()
        assert [(p.name, p.default) for p in a] == [(p.name, p.default) for p in b]
    for name in ("wait_for_exit", "set_exit_callback", "__init__"):
        a = inspect.signature(getattr(process.Subprocess, name)).parameters.values()
        b = inspect.signature(getattr(ref.Subprocess, name)).parameters.values()
        assert [(p.name, p.default) for p in a] == [(p.name, p.default) for p in b]


def test_subprocess_streams(impl: Any, loop: asyncio.AbstractEventLoop) -> None:
    process = impl.mod("process")
    iostream = impl.mod("iostream")
    S = process.Subprocess

    async def main() -> list:
        code = (
            "import sys\n"
            "line = sys.stdin.readline()\n"
            "sys.stdout.write('out:' + line)\n"
            "sys.stderr.write('err')\n"
        )
        p = S([sys.executable, "-c", code], stdin=S.STREAM, stdout=S.STREAM,
              stderr=S.STREAM)
        out = [isinstance(p.stdout, iostream.PipeIOStream), isinstance(p.pid, int)]
        await p.stdin.write(b"hello\n")
        p.stdin.close()
        out.append(await p.stdout.read_until_close())
        out.append(await p.stderr.read_until_close())
        out.append(await p.wait_for_exit())
        out.append((p.returncode, p.proc.returncode))
        p.stdout.close()
        p.stderr.close()
        return out

    assert run(impl, loop, main) == [True, True, b"out:hello\n", b"err", 0, (0, 0)]


def test_plain_popen_attrs(impl: Any, loop: asyncio.AbstractEventLoop) -> None:
    process = impl.mod("process")

    async def main() -> list:
        p = process.Subprocess([sys.executable, "-c", "pass"], stdout=subprocess.DEVNULL)
        out = [p.stdin is None, p.stdout is None, p.stderr is None]
        out.append(await p.wait_for_exit())
        return out

    assert run(impl, loop, main) == [True, True, True, 0]


def test_wait_for_exit_error(impl: Any, loop: asyncio.AbstractEventLoop) -> None:
    process = impl.mod("process")

    async def main() -> list:
        p = process.Subprocess([sys.executable, "-c", "import sys; sys.exit(3)"])
        try:
            await p.wait_for_exit()
        except subprocess.CalledProcessError as e:
            first = (e.returncode, e.cmd)
        p2 = process.Subprocess([sys.executable, "-c", "import sys; sys.exit(4)"])
        second = await p2.wait_for_exit(raise_error=False)
        return [first, second]

    assert run(impl, loop, main) == [(3, "unknown"), 4]


def test_exit_callback_signal(impl: Any, loop: asyncio.AbstractEventLoop) -> None:
    process = impl.mod("process")

    async def main() -> list:
        p = process.Subprocess(
            [sys.executable, "-c", "import time; time.sleep(30)"],
        )
        done: asyncio.Future = asyncio.get_running_loop().create_future()
        p.set_exit_callback(done.set_result)
        os.kill(p.pid, signal.SIGTERM)
        code = await done
        return [code, p.returncode]

    assert run(impl, loop, main) == [-signal.SIGTERM, -signal.SIGTERM]


def test_exit_before_callback(impl: Any, loop: asyncio.AbstractEventLoop) -> None:
    process = impl.mod("process")

    async def main() -> int:
        p = process.Subprocess([sys.executable, "-c", "pass"])
        p.proc.wait()  # reaped by Popen: waitpid then raises ChildProcessError
        process.Subprocess.initialize()
        q = process.Subprocess([sys.executable, "-c", "import sys; sys.exit(2)"])
        await asyncio.sleep(0.2)
        # Already exited when the callback is set: it still runs.
        return await q.wait_for_exit(raise_error=False)

    assert run(impl, loop, main) == 2


def test_popen_failure_closes_pipes(loop: asyncio.AbstractEventLoop) -> None:
    # tornado_c only: Tornado closes the raw fds under live FileIO objects,
    # which warn (and close the fd a second time) when collected.
    import gc

    from tornado_c.process import Subprocess as S

    async def main() -> bool:
        before = sorted(os.listdir("/proc/self/fd"))
        with pytest.raises(OSError):
            S(["/nonexistent/binary"], stdin=S.STREAM, stdout=S.STREAM, stderr=S.STREAM)
        gc.collect()
        return sorted(os.listdir("/proc/self/fd")) == before

    async def bounded() -> bool:
        return await asyncio.wait_for(main(), 10)

    assert loop.run_until_complete(bounded()) is True


@pytest.mark.parametrize("scenario", ["normal", "restart"])
def test_fork_processes(impl: Any, scenario: str) -> None:
    if scenario == "normal":
        body = """
            id = fork_processes(3, max_restarts=0)
            os.write(1, ("%s %s;" % (id, task_id())).encode())
            sys.exit(0)
        """
    else:
        body = """
            id = fork_processes(2, max_restarts=5)
            marker = os.path.join(d, "child%d" % id)
            if not os.path.exists(marker):
                open(marker, "w").close()
                os._exit(7)
            os.write(1, ("%s %s;" % (id, task_id())).encode())
            sys.exit(0)
        """
    code = textwrap.dedent(
        f"""
        import logging, os, sys, tempfile
        from {impl.name}.process import fork_processes, task_id
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(name)s %(levelname)s %(message)s")
        d = tempfile.mkdtemp()
        """
    ) + textwrap.dedent(body)
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          encoding="utf8", timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    parts = sorted(p for p in proc.stdout.split(";") if p)
    lines = sorted(l.split(" (pid")[0] for l in proc.stderr.splitlines())
    if scenario == "normal":
        assert parts == ["0 0", "1 1", "2 2"]
        assert "tornado.general INFO Starting 3 processes" in lines
        assert lines.count("tornado.general INFO child 0") == 1
    else:
        assert parts == ["0 0", "1 1"]
        assert sum("exited with status 7, restarting" in l
                   for l in proc.stderr.splitlines()) == 2
