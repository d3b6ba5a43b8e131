"""What the two echo servers of bench_tcp.py share (echo_server.py on
Tornado's API, asyncio_echo.py on asyncio's): the command line, the open-file
limit (the idle benchmark holds thousands of connections), the ``ready``
line bench_tcp.py waits for, and running until terminated."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any, Callable, Coroutine


def raise_nofile_limit() -> int:
    """Raise the soft limit on open files to the hard limit; return the new soft limit."""
    try:
        import resource
    except ImportError:  # not a Unix
        return -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def parser(default_port: int) -> argparse.ArgumentParser:
    """The options both servers take: --port, --mode (bytes / line), --backlog."""
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=default_port)
    p.add_argument("--mode", choices=["bytes", "line"], default="bytes")
    p.add_argument("--backlog", type=int, default=1024)
    return p


async def serve_forever(what: str, args: argparse.Namespace, nofile: int) -> None:
    """Print the ``ready`` line (what, then the port, mode, limit and loop
    class), then wait until the process is terminated."""
    loop = type(asyncio.get_running_loop())
    print(f"ready {what} port {args.port} mode {args.mode} nofile {nofile} "
          f"loop {loop.__module__}.{loop.__qualname__}", flush=True)
    await asyncio.Event().wait()


def run(serve: Callable[[argparse.Namespace], Coroutine[Any, Any, None]],
        args: argparse.Namespace) -> None:
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        sys.exit(0)
