"""Multi-process helpers (Tornado's ``tornado.process``).

Two unrelated tools live here: `fork_processes`, which turns one server
process into a parent supervising several identical workers, and
`Subprocess`, a `subprocess.Popen` wrapper whose pipes can be
`.PipeIOStream` objects and whose exit can be awaited on the event loop.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from signal import SIGCHLD
from typing import Any, Callable, Dict, List, Optional, Tuple

from tornado_c.concurrent import (
    Future,
    future_set_exception_unless_cancelled,
    future_set_result_unless_cancelled,
)
from tornado_c import ioloop
from tornado_c.iostream import PipeIOStream
from tornado_c.log import gen_log

try:
    import multiprocessing
except ImportError:
    # Some platforms (Android) lack multiprocessing.
    multiprocessing = None  # type: ignore[assignment]

__all__ = [
    "cpu_count",
    "fork_processes",
    "task_id",
    "Subprocess",
    "CalledProcessError",
]

# Kept as an alias so ``process.CalledProcessError`` keeps working.
CalledProcessError = subprocess.CalledProcessError


def _sysconf_cpus() -> int:
    return os.sysconf("SC_NPROCESSORS_CONF")


def cpu_count() -> int:
    """How many CPUs this machine has (1 when that cannot be determined)."""
    if multiprocessing is None:
        return 1
    probes = (
        (multiprocessing.cpu_count, (NotImplementedError,)),
        (_sysconf_cpus, (AttributeError, ValueError)),
    )
    for probe, unsupported in probes:
        try:
            return probe()
        except unsupported:
            continue
    gen_log.error("Could not detect number of processors; assuming 1")
    return 1


def _reseed_random() -> None:
    # After fork() every child would draw the same "random" numbers as its
    # siblings; only matters if someone has imported the module already.
    rnd = sys.modules.get("random")
    if rnd is None:
        return
    try:
        fresh = int.from_bytes(os.urandom(16), "big")
    except NotImplementedError:
        fresh = os.getpid() ^ int(1000 * time.time())
    rnd.seed(fresh)  # type: ignore[attr-defined]


_task_id: Optional[int] = None

# Restart budget used when ``max_restarts`` is not given.
_DEFAULT_MAX_RESTARTS = 100


def _abnormal_exit(status: int) -> Optional[Tuple[str, int]]:
    """For a wait() status, the warning to log if the child died badly."""
    if os.WIFSIGNALED(status):
        return (
            "child %d (pid %d) killed by signal %d, restarting",
            os.WTERMSIG(status),
        )
    code = os.WEXITSTATUS(status)
    if code == 0:
        return None
    return ("child %d (pid %d) exited with status %d, restarting", code)


def fork_processes(
    num_processes: Optional[int], max_restarts: Optional[int] = None
) -> int:
    """Fork worker processes and supervise them from the parent.

    ``num_processes`` children are created (the machine's `cpu_count` when
    it is None or not positive).  Each child gets back its *task id*, an
    integer from 0 to ``num_processes - 1``, and carries on from here; the
    workers share no memory with each other.

    The parent never returns: it waits for its children and replaces any
    that die from a signal or exit with a non-zero status (the replacement
    keeps the same task id), giving up with `RuntimeError` after
    ``max_restarts`` replacements (100 by default).  Once every child has
    exited cleanly the parent calls ``sys.exit(0)``.

    Call this before any `.IOLoop` exists, and do not combine it with
    `tornado_c.autoreload` (which ``debug=True`` turns on for
    `tornado_c.web.Application`).

    Availability: Unix
    """
    if sys.platform == "win32":
        raise Exception("fork not available on windows")
    global _task_id
    assert _task_id is None
    budget = _DEFAULT_MAX_RESTARTS if max_restarts is None else max_restarts
    wanted = num_processes if num_processes and num_processes > 0 else cpu_count()
    gen_log.info("Starting %d processes", wanted)

    workers: Dict[int, int] = {}  # pid -> task id

    def spawn(slot: int) -> bool:
        # True in the new child, False back in the parent.
        pid = os.fork()
        if pid:
            workers[pid] = slot
            return False
        global _task_id
        _reseed_random()
        _task_id = slot
        return True

    for slot in range(wanted):
        if spawn(slot):
            return slot

    restarts = 0
    while workers:
        pid, status = os.wait()
        known = workers.pop(pid, None)
        if known is None:
            # Not one of ours (e.g. a grandchild reparented to us).
            continue
        slot = known
        trouble = _abnormal_exit(status)
        if trouble is None:
            gen_log.info("child %d (pid %d) exited normally", slot, pid)
            continue
        template, detail = trouble
        gen_log.warning(template, slot, pid, detail)
        restarts += 1
        if restarts > budget:
            raise RuntimeError("Too many child restarts, giving up")
        if spawn(slot):
            return slot
    # Exiting (rather than returning) keeps the parent from falling through
    # into code meant for the workers.
    sys.exit(0)


def task_id() -> Optional[int]:
    """This worker's id from `fork_processes`, or None outside a worker."""
    return _task_id


class Subprocess:
    """`subprocess.Popen` with event-loop friendly pipes and exit handling.

    Takes exactly the arguments of ``subprocess.Popen``.  In addition, any
    of ``stdin``, ``stdout`` and ``stderr`` may be given as
    ``Subprocess.STREAM``: the matching attribute then becomes a
    `.PipeIOStream` connected to the child, which the caller must close
    when finished with it.

    ``STREAM``, `set_exit_callback` and `wait_for_exit` rely on Unix
    facilities; on Windows plain ``subprocess.Popen`` is just as good.
    """

    STREAM = object()

    _initialized = False
    _waiting: Dict[int, "Subprocess"] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.io_loop = ioloop.IOLoop.current()
        streams: Dict[str, PipeIOStream] = {}
        child_ends: List[int] = []
        for name in ("stdin", "stdout", "stderr"):
            if kwargs.get(name) is not Subprocess.STREAM:
                continue
            read_fd, write_fd = os.pipe()
            # The child reads its stdin and writes the other two.
            if name == "stdin":
                ours, theirs = write_fd, read_fd
            else:
                ours, theirs = read_fd, write_fd
            kwargs[name] = theirs
            child_ends.append(theirs)
            streams[name] = PipeIOStream(ours)
        try:
            self.proc = subprocess.Popen(*args, **kwargs)
        except BaseException:
            # Nothing may leak: our ends go through their streams (which own
            # the fds), the child's ends are closed directly.
            for stream in streams.values():
                stream.close()
            for fd in child_ends:
                os.close(fd)
            raise
        # The child holds its own copies now.
        for fd in child_ends:
            os.close(fd)
        self.pid = self.proc.pid
        for name in ("stdin", "stdout", "stderr"):
            value = streams.get(name)
            setattr(self, name, getattr(self.proc, name) if value is None else value)
        self._exit_callback: Optional[Callable[[int], None]] = None
        self.returncode: Optional[int] = None

    def set_exit_callback(self, callback: Callable[[int], None]) -> None:
        """Arrange for ``callback(returncode)`` to run once the child exits.

        Exit is noticed through a ``SIGCHLD`` handler.  Signal handlers are
        process-wide, so this can clash with other code that handles the
        same signal; with several event loops, call `Subprocess.initialize`
        yourself to pick the one that receives it.  Where the handler is a
        problem, a close callback on the child's stdout/stderr stream is
        often a workable substitute.

        Availability: Unix
        """
        pid = self.pid
        self._exit_callback = callback
        Subprocess.initialize()
        Subprocess._waiting[pid] = self
        # The child may have exited before anyone listened for SIGCHLD.
        Subprocess._try_cleanup_process(pid)

    def wait_for_exit(self, raise_error: bool = True) -> "Future[int]":
        """A `.Future` for the child's exit status.

        ``code = await proc.wait_for_exit()`` is the non-blocking
        counterpart of ``Popen.wait``, built on `set_exit_callback`.  A
        non-zero status makes the future fail with
        `subprocess.CalledProcessError`, unless ``raise_error`` is False, in
        which case the status is simply returned.

        Availability: Unix
        """
        outcome: Future[int] = Future()

        def on_exit(code: int) -> None:
            if code == 0 or not raise_error:
                future_set_result_unless_cancelled(outcome, code)
                return
            # The command line was not kept, hence the placeholder.
            failure = CalledProcessError(code, "unknown")
            future_set_exception_unless_cancelled(outcome, failure)

        self.set_exit_callback(on_exit)
        return outcome

    @classmethod
    def initialize(cls) -> None:
        """Install the ``SIGCHLD`` handler (once) on the current event loop.

        Handling happens on that loop, not inside the raw signal handler.
        Subprocesses created on other loops (in other threads) are still
        served by it.

        Availability: Unix
        """
        if not cls._initialized:
            asyncio.get_event_loop().add_signal_handler(SIGCHLD, cls._cleanup)
            cls._initialized = True

    @classmethod
    def uninitialize(cls) -> None:
        """Remove the ``SIGCHLD`` handler installed by `initialize`."""
        if cls._initialized:
            asyncio.get_event_loop().remove_signal_handler(SIGCHLD)
            cls._initialized = False

    @classmethod
    def _cleanup(cls) -> None:
        # Snapshot the pids: reaping removes entries.
        for pid in tuple(cls._waiting):
            cls._try_cleanup_process(pid)

    @classmethod
    def _try_cleanup_process(cls, pid: int) -> None:
        try:
            reaped, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            # Already collected elsewhere; there is no status to report.
            return
        if reaped != 0:
            assert reaped == pid
            owner = cls._waiting.pop(pid)
            owner.io_loop.add_callback(owner._set_returncode, status)

    def _set_returncode(self, status: int) -> None:
        if sys.platform == "win32":
            code = -1
        else:
            assert os.WIFSIGNALED(status) or os.WIFEXITED(status)
            code = os.waitstatus_to_exitcode(status)
        # Popen never saw this status (we reaped the child), so hand it over
        # or proc.returncode would stay None forever.
        self.returncode = self.proc.returncode = code
        callback, self._exit_callback = self._exit_callback, None
        if callback is not None:
            callback(code)
