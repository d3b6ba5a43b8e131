"""Restart the process automatically when its source files change.

Most applications turn this on with ``autoreload=True`` (or ``debug=True``)
in `tornado_c.web.Application`; `start` does it directly.  The process is
re-executed in place (``os.execv``) with the same command line, so the new
process sees the same ``sys.argv`` and, for ``python -m``, the same module.
tornado_c's own file descriptors are close-on-exec, so nothing leaks into
the new process.

Run as a program, this module is a wrapper that re-runs a script whenever
its files change, even after it exits or fails at import time::

    python -m tornado_c.autoreload -m tornado_c.test.runtests
    python -m tornado_c.autoreload path/to/script.py [args...]

Reloading loses unsaved state, and does not work with ``fork_processes``
(only the parent would notice) — it is for development.
"""

import os
import sys

# When this file is run as a script (``python tornado_c/autoreload.py``),
# its directory is sys.path[0]; drop it so that modules beside it do not
# shadow standard-library names.  This must come before the imports below.
if __name__ == "__main__":
    _here = globals().get("__file__")
    if _here and sys.path[0] == os.path.dirname(_here):
        del sys.path[0]

import functools  # noqa: E402
import importlib.abc  # noqa: E402
import importlib.util  # noqa: E402
import subprocess  # noqa: E402
import traceback  # noqa: E402
import types  # noqa: E402
import weakref  # noqa: E402
from typing import Any, Callable, Dict, List, Optional, Set  # noqa: E402

from tornado_c import ioloop, process  # noqa: E402
from tornado_c.log import gen_log  # noqa: E402

try:
    import signal
except ImportError:
    signal = None  # type: ignore

# os.execv mangles arguments with spaces on Windows; there a new process is
# started with subprocess instead.
_has_execv = sys.platform != "win32"

_watched_files: Set[str] = set()
_reload_hooks: List[Callable[[], None]] = []
_reload_attempted = False
_io_loops: "weakref.WeakKeyDictionary[ioloop.IOLoop, bool]" = weakref.WeakKeyDictionary()
_autoreload_is_main = False
_original_argv: Optional[List[str]] = None
_original_spec: Any = None


def start(check_time: int = 500) -> None:
    """Poll the loaded modules' files every ``check_time`` milliseconds on the
    current IOLoop and re-execute the process when one of them changes.

    Calling it again for a loop that is already polling does nothing.
    """
    current = ioloop.IOLoop.current()
    if current not in _io_loops:
        _io_loops[current] = True
        if len(_io_loops) > 1:
            gen_log.warning("tornado.autoreload started more than once in the same process")
        # mtimes first seen for each path, shared by every poll of this loop
        seen: Dict[str, float] = {}
        ioloop.PeriodicCallback(functools.partial(_reload_on_update, seen), check_time).start()


def wait() -> None:
    """Block, on a fresh IOLoop, until a watched file changes and the process
    restarts; meant for the last line of a test-runner script.
    """
    fresh_loop = ioloop.IOLoop()
    fresh_loop.add_callback(start)
    fresh_loop.start()


def watch(filename: str) -> None:
    """Add ``filename`` to the files polled besides the imported modules."""
    _watched_files.add(filename)


def add_reload_hook(fn: Callable[[], None]) -> None:
    """Register ``fn``, called with no arguments right before a restart.

    The exec closes tornado_c's descriptors itself (they are close-on-exec),
    so hooks are only needed for other kinds of clean-up.
    """
    _reload_hooks.append(fn)


def _module_sources() -> Any:
    # Source paths of everything imported so far.  Foreign objects stored in
    # sys.modules and modules without a file (builtins, namespaces) are skipped;
    # for bytecode the .py beside it is what gets edited.
    for candidate in list(sys.modules.values()):
        if not isinstance(candidate, types.ModuleType):
            continue
        filename = getattr(candidate, "__file__", None) or ""
        if filename.endswith((".pyc", ".pyo")):
            filename = filename[:-1]
        if filename:
            yield filename


def _reload_on_update(modify_times: Dict[str, float]) -> None:
    # Skip the poll if an earlier restart attempt did not replace the
    # process, or if this is a fork_processes child: there every child
    # would re-exec (and fork again) on its own.
    if _reload_attempted or process.task_id() is not None:
        return
    for filename in _module_sources():
        _check_file(modify_times, filename)
    for filename in _watched_files:
        _check_file(modify_times, filename)


def _check_file(modify_times: Dict[str, float], path: str) -> None:
    try:
        stamp = os.stat(path).st_mtime
    except Exception:
        # Vanished or unreadable files are simply not checked.
        return
    if modify_times.setdefault(path, stamp) == stamp:
        return
    gen_log.info("%s modified; restarting server", path)
    _reload()


def _restart_command() -> List[str]:
    # The arguments to hand the interpreter again.  Under the
    # "python -m tornado_c.autoreload" wrapper main() kept its own command
    # line; otherwise it is sys.argv, where Python replaced "-m pkg.mod" by
    # the module's path, so the module name comes back from __main__'s spec.
    if _autoreload_is_main:
        assert _original_argv is not None
        launched, spec = _original_argv, _original_spec
    else:
        launched = sys.argv
        spec = getattr(sys.modules["__main__"], "__spec__", None)
    # A spec called "__main__" belongs to a directory or zip file, which is
    # re-run through its path like a plain script.
    if not spec or spec.name == "__main__":
        return list(launched)
    return ["-m", spec.name] + launched[1:]


def _reload() -> None:
    global _reload_attempted
    _reload_attempted = True
    for hook in _reload_hooks:
        hook()
    if signal is not None and sys.platform != "win32":
        # An armed SIGALRM interval timer outlives exec and would kill the
        # replacement process.
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
    command = [sys.executable] + _restart_command()
    if _has_execv:
        os.execv(sys.executable, command)
        return
    subprocess.Popen(command)
    os._exit(0)


_USAGE = """
  python -m tornado.autoreload -m module.to.run [args...]
  python -m tornado.autoreload path/to/script.py [args...]
"""


def _module_file(module_name: str) -> Optional[str]:
    """Path of the source file ``module_name`` would be loaded from."""
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, AttributeError, TypeError, ValueError):
        return None
    if spec is None or not isinstance(spec.loader, importlib.abc.FileLoader):
        return None
    return spec.loader.get_filename(module_name)


def _wrapper_options() -> Any:
    import optparse

    # optparse rather than argparse: it can stop at the first positional
    # argument, the way the python command line itself does.
    parser = optparse.OptionParser(
        usage=_USAGE,
        prog="python -m tornado.autoreload",
        epilog="Either -m or a path must be specified, but not both",
    )
    parser.add_option("-m", metavar="module", dest="module", help="module to run")
    parser.add_option(
        "--until-success",
        help="stop reloading after the program exist successfully (status code 0)",
        action="store_true",
    )
    parser.disable_interspersed_args()
    return parser.parse_args()


def _watch_traceback(error: BaseException) -> None:
    # A module that blew up while importing never made it into sys.modules;
    # poll every file its traceback went through, so that editing any of
    # them triggers the next run.  A SyntaxError's own file has no frame.
    for entry in traceback.extract_tb(error.__traceback__):
        watch(entry.filename)
    if isinstance(error, SyntaxError) and error.filename is not None:
        watch(error.filename)


def _run_wrapped(module: Optional[str], script: Optional[str]) -> Any:
    # Run the target as __main__ once; returns its exit status.
    import runpy

    try:
        if module is None:
            assert script is not None
            runpy.run_path(script, run_name="__main__")
        else:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exited:
        gen_log.info("Script exited with status %s", exited.code)
        return exited.code
    except Exception as failure:
        gen_log.warning("Script exited with uncaught exception", exc_info=True)
        _watch_traceback(failure)
        return 1
    gen_log.info("Script exited normally")
    return 0


def main() -> None:
    """Command-line entry point: run a program, rerun it on every change.

    Usage::

        python -m tornado_c.autoreload -m module.to.run [args...]
        python -m tornado_c.autoreload path/to/script.py [args...]

    ``--until-success`` ends the cycle after a run that exits with status 0.
    Failures while importing are survived too (unlike ``autoreload=True``),
    because every file named in the traceback is watched.
    """
    import tornado_c.autoreload as importable

    own_argv = sys.argv
    own_spec = getattr(sys.modules["__main__"], "__spec__", None)
    # When run as a script this module is __main__, a different object from
    # the importable tornado_c.autoreload that _reload consults: give both
    # the launch state.
    for namespace in (globals(), vars(importable)):
        namespace["_autoreload_is_main"] = True
        namespace["_original_argv"] = own_argv
        namespace["_original_spec"] = own_spec
    # Launched under another module name (``python -m tornado.autoreload``
    # via the tornado alias): let that name import to this module as well.
    launched_as = getattr(own_spec, "name", None)
    if launched_as and launched_as.endswith(".autoreload"):
        sys.modules.setdefault(launched_as, importable)

    opts, rest = _wrapper_options()
    script: Optional[str] = None
    if opts.module is not None:
        sys.argv = [own_argv[0]] + rest
    elif rest:
        script = rest[0]
        sys.argv = list(rest)
    else:
        print("Either -m or a path must be specified", file=sys.stderr)
        sys.exit(1)

    status = _run_wrapped(opts.module, script)
    # Back to the wrapper's command line, so a restart goes through it again.
    sys.argv = own_argv
    if opts.module is not None:
        # runpy dropped the module from sys.modules after running it as
        # __main__, so its file has to be named explicitly.
        source = _module_file(opts.module)
        if source is not None:
            watch(source)
    if not (opts.until_success and not status):
        wait()


if __name__ == "__main__":
    main()
