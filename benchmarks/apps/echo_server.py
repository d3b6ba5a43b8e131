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

import tornado
import tornado.iostream
import tornado.tcpserver
import os
import sys

# The shared helpers sit next to this file; with PYTHONSAFEPATH set (as `make asan`
# sets it) the script's directory is not on sys.path by itself.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from echo_common import parser, raise_nofile_limit, run, serve_forever  # noqa: E402


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


async def serve(args: argparse.Namespace) -> None:
    nofile = raise_nofile_limit()
    server = EchoServer(args.mode, args.chunk)
    server.listen(args.port, "127.0.0.1", backlog=args.backlog)
    loop = type(asyncio.get_running_loop())
    impl = "tornado_c" if loop.__module__.startswith("tornado_c") else "tornado"
    await serve_forever(f"{impl} {tornado.version}", args, nofile)


def main() -> None:
    p = parser(8891)
    p.add_argument("--chunk", type=int, default=65536,
                   help="read_bytes size in bytes mode")
    run(serve, p.parse_args())


if __name__ == "__main__":
    main()
