"""The tornado_c example application (served by ``make run``).

An ordinary Tornado application — it imports ``tornado_c`` here, but the same
file works unchanged with ``import tornado`` under ``python -m tornado_c`` —
served on tornado_c's native event loop: a hello page, a template, a form
protected by XSRF that remembers your name in a signed cookie, a static file
and a WebSocket echo.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets

import tornado_c
from tornado_c import web, websocket

HERE = os.path.dirname(os.path.abspath(__file__))


class HelloHandler(web.RequestHandler):
    def get(self) -> None:
        self.write("Hello from tornado_c")


class HomeHandler(web.RequestHandler):
    def get(self) -> None:
        name = self.get_signed_cookie("name")
        self.render(
            "home.html",
            name=name.decode() if name else None,
            loop=type(asyncio.get_running_loop()).__module__,
        )


class NameHandler(web.RequestHandler):
    def post(self) -> None:
        name = self.get_body_argument("name", "").strip()[:40]
        if name:
            self.set_signed_cookie("name", name)
        else:
            self.clear_cookie("name")
        self.redirect("/")


class EchoHandler(websocket.WebSocketHandler):
    def on_message(self, message: str | bytes) -> None:
        self.write_message(message, binary=isinstance(message, bytes))


def make_app(cookie_secret: str) -> web.Application:
    return web.Application(
        [
            (r"/", HomeHandler),
            (r"/hello", HelloHandler),
            (r"/name", NameHandler),
            (r"/echo", EchoHandler),
        ],
        template_path=os.path.join(HERE, "templates"),
        static_path=os.path.join(HERE, "static"),
        cookie_secret=cookie_secret,
        xsrf_cookies=True,
    )


async def serve(host: str, port: int) -> None:
    app = make_app(os.environ.get("TORNADO_C_EXAMPLE_SECRET") or secrets.token_hex(32))
    app.listen(port, host)
    print(f"tornado_c example app on http://{host}:{port}/ "
          f"(event loop: {type(asyncio.get_running_loop()).__name__})", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8888)
    args = parser.parse_args()
    tornado_c.install(alias=False)
    try:
        asyncio.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
