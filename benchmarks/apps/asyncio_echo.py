"""The TCP echo server of the asyncio workloads, written once against asyncio's API.

Run on asyncio's own event loop (``--loop asyncio``) and, unchanged, on
tornado_c's native loop (``--loop tornado_c``), whose TCP transports are the
native ones (csrc/transport.c), so the two runs compare asyncio's transports
with tornado_c's on the same application code.

Modes (``--mode``):
  bytes  an ``asyncio.Protocol`` whose ``data_received`` writes the data back
  line   ``asyncio.start_server`` streams: ``readuntil(b"\\n")``, ``write``,
         ``drain`` for each line

Prints one ``ready ...`` line on stdout once it listens (bench_tcp.py waits
for it).  A client closing its connection is normal and logs nothing.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any, Optional

import os
import sys

# The shared helpers sit next to this file; with PYTHONSAFEPATH set (as `make asan`
# sets it) the script's directory is not on sys.path by itself.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from echo_common import parser, raise_nofile_limit, run, serve_forever  # noqa: E402


class Echo(asyncio.Protocol):
    """Writes back every chunk as it arrives."""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self.transport = None


async def echo_lines(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            writer.write(await reader.readuntil(b"\n"))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(args: argparse.Namespace) -> None:
    nofile = raise_nofile_limit()
    loop = asyncio.get_running_loop()
    if args.mode == "line":
        await asyncio.start_server(echo_lines, "127.0.0.1", args.port, backlog=args.backlog)
    else:
        await loop.create_server(Echo, "127.0.0.1", args.port, backlog=args.backlog)
    impl = "asyncio_c" if type(loop).__module__.startswith("tornado_c") else "asyncio"
    await serve_forever(impl, args, nofile)


def main() -> None:
    p = parser(8892)
    p.add_argument("--loop", choices=["asyncio", "tornado_c"], default="asyncio")
    args = p.parse_args()
    if args.loop == "tornado_c":
        import tornado_c

        asyncio.set_event_loop_policy(tornado_c.EventLoopPolicy())
    run(serve, args)


if __name__ == "__main__":
    main()
