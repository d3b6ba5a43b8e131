"""The application the differential server fuzz serves, written against
Tornado's API: run by pure-Python Tornado as ``python server_app.py ...`` and
by tornado_c, unchanged, as ``python -m tornado_c server_app.py ...``.

Usage: server_app.py PORT MODE STATIC_DIR, MODE one of plain, gz
(``decompress_request``), xh (``xheaders`` with a trusted downstream), nka
(``no_keep_alive``) and ws (plain; the WebSocket fuzz).  Prints ``ready`` once
listening on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Any, Dict, Optional, Union

import tornado.httpserver
import tornado.web
import tornado.websocket


class Echo(tornado.web.RequestHandler):
    def get(self, *args: str) -> None:
        req = self.request
        self.write({
            "ip": req.remote_ip, "proto": req.protocol, "host": req.host, "path": req.path,
            "args": {k: [v.decode("latin1") for v in vs] for k, vs in req.arguments.items()},
        })

    def post(self, *args: str) -> None:
        self.write(str(len(self.request.body)))

    put = post


@tornado.web.stream_request_body
class Stream(tornado.web.RequestHandler):
    def prepare(self) -> None:
        self.seen = 0

    def data_received(self, chunk: bytes) -> None:
        self.seen += len(chunk)

    def post(self) -> None:
        self.write(str(self.seen))


class Cookie(tornado.web.RequestHandler):
    def get(self) -> None:
        self.set_signed_cookie("s", "v")
        self.write(repr(self.get_signed_cookie("s")) + repr(sorted(self.request.cookies)))


class Big(tornado.web.RequestHandler):
    async def get(self) -> None:
        for _ in range(4):
            self.write(b"x" * 40000)
            await self.flush()


class WSEcho(tornado.websocket.WebSocketHandler):
    """Echoes each message; /ws/z offers permessage-deflate.  How each
    session ends is logged at WARNING, so the fuzz compares it."""

    def get_compression_options(self) -> Optional[Dict[str, Any]]:
        return {} if self.request.path.endswith("/z") else None

    def on_message(self, message: Union[str, bytes]) -> None:
        self.write_message(message, binary=isinstance(message, bytes))

    def on_ping(self, data: bytes) -> None:
        logging.warning("ping %r", data)

    def on_close(self) -> None:
        logging.warning("closed %r %r", self.close_code, self.close_reason)


async def main(port: int, mode: str, static: str) -> None:
    app = tornado.web.Application(
        [(r"/echo(.*)", Echo), (r"/stream", Stream), (r"/cookie", Cookie), (r"/big", Big),
         (r"/ws(?:/z)?", WSEcho)],
        static_path=static, cookie_secret="s" * 32, websocket_max_message_size=4096)
    server = tornado.httpserver.HTTPServer(
        app, max_body_size=1 << 20, max_header_size=8192, idle_connection_timeout=2,
        body_timeout=2, decompress_request=mode == "gz", xheaders=mode == "xh",
        trusted_downstream=["9.9.9.9"] if mode == "xh" else None, no_keep_alive=mode == "nka")
    server.listen(port, "127.0.0.1")
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    os.makedirs(sys.argv[3], exist_ok=True)
    with open(os.path.join(sys.argv[3], "f.txt"), "wb") as f:
        f.write(b"0123456789" * 1000)
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
