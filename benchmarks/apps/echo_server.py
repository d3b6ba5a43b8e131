"""The TCP echo server every TCP benchmark talks to, written once against Tornado's API.

Run by pure-Python Tornado as ``python echo_server.py --port P`` and by
tornado_c, unchanged, as ``python -m tornado_c echo_server.py --port P``.

Modes (``--mode``):
  bytes  ``read_bytes(chunk, partial=True)`` and write back whatever arrived
  line   ``read_until(b"\\n")`` and write back each line

The server raises its own soft RLIMIT_NOFILE to the hard limit (the idle
connection benchmark holds thousands of connections) and prints one
``ready ...`` line on stdout once it listens.  A client closing its
connection is normal and logs nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import tornado
import tornado.iostream
import tornado.tcpserver


class EchoServer(tornado.tcpserver.TCPServer):
    """Echoes every byte it receives on each connection."""

    def __init__(self, mode: str, chunk: int) -> None:
        super().__init__()
        self.mode = mode
        self.chunk = chunk

    async def handle_stream(self, stream: tornado.iostream.IOStream, address: tuple) -> None:
        try:
            if self.mode == "line":
                while True:
                    line = await stream.read_until(b"\n")
                    await stream.write(line)
            else:
                chunk = self.chunk
                while True:
                    data = await stream.read_bytes(chunk, partial=True)
                    await stream.write(data)
        except tornado.iostream.StreamClosedError:
            pass


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


async def serve(args: argparse.Namespace) -> None:
    nofile = raise_nofile_limit()
    server = EchoServer(args.mode, args.chunk)
    server.listen(args.port, "127.0.0.1", backlog=args.backlog)
    loop = type(asyncio.get_running_loop())
    impl = "tornado_c" if loop.__module__.startswith("tornado_c") else "tornado"
    print(f"ready {impl} {tornado.version} port {args.port} mode {args.mode} "
          f"nofile {nofile} loop {loop.__module__}.{loop.__qualname__}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8891)
    parser.add_argument("--mode", choices=["bytes", "line"], default="bytes")
    parser.add_argument("--chunk", type=int, default=65536,
                        help="read_bytes size in bytes mode")
    parser.add_argument("--backlog", type=int, default=1024)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
