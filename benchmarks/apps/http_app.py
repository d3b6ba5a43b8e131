"""The application every HTTP benchmark serves, written once against Tornado's API.

Run by pure-Python Tornado as ``python http_app.py ...`` and by tornado_c,
unchanged, as ``python -m tornado_c http_app.py ...``.

Scenarios (``--scenario``):
  callback   a plain HTTPServer request callback answering "Hello, world"
  handler    a web.Application with hello / async hello (with and without
             suspending) / JSON / template /
             64 KiB / upload / static routes (a 404 for anything else)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import tornado
import tornado.httpserver
import tornado.httputil
import tornado.web

HELLO = b"Hello, world"
BIG = b"x" * 65536
ITEMS = [{"id": i, "name": f"item <{i}>", "price": i * 1.5} for i in range(20)]
TEMPLATE = """<html><body><ul>
{% for item in items %}<li>{{ item['name'] }}: {{ item['price'] }}</li>
{% end %}</ul></body></html>"""


def hello_callback(request: tornado.httputil.HTTPServerRequest) -> None:
    body = BIG if request.path == "/big" else HELLO
    request.connection.write_headers(  # type: ignore[union-attr]
        tornado.httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
        tornado.httputil.HTTPHeaders(
            {"Content-Type": "text/plain", "Content-Length": str(len(body))}
        ),
        body,
    )
    request.connection.finish()  # type: ignore[union-attr]


class HelloHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("Hello, world")


class AsyncHelloHandler(tornado.web.RequestHandler):
    async def get(self) -> None:
        self.write("Hello, world")


class AwaitHelloHandler(tornado.web.RequestHandler):
    async def get(self) -> None:
        await asyncio.sleep(0)  # suspends: the reply is written from a later callback
        self.write("Hello, world")


class JSONHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write({"items": ITEMS, "count": len(ITEMS)})


class TemplateHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.render("page.html", items=ITEMS)


class BigHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write(BIG)


class UploadHandler(tornado.web.RequestHandler):
    def post(self) -> None:
        self.write(str(len(self.request.body)))


def make_app(static_path: str) -> tornado.web.Application:
    from tornado.template import DictLoader

    return tornado.web.Application(
        [
            (r"/", HelloHandler),
            (r"/async", AsyncHelloHandler),
            (r"/await", AwaitHelloHandler),
            (r"/json", JSONHandler),
            (r"/template", TemplateHandler),
            (r"/big", BigHandler),
            (r"/upload", UploadHandler),
        ],
        template_loader=DictLoader({"page.html": TEMPLATE}),
        static_path=static_path,
    )


async def serve(args: argparse.Namespace) -> None:
    max_body = 16 << 20
    if args.scenario == "callback":
        server = tornado.httpserver.HTTPServer(hello_callback, max_body_size=max_body)
    else:
        server = tornado.httpserver.HTTPServer(make_app(args.static_path), max_body_size=max_body)
    server.listen(args.port, "127.0.0.1")
    impl = "tornado_c" if type(asyncio.get_running_loop()).__module__.startswith("tornado_c") else "tornado"
    print(f"ready {impl} {tornado.version} port {args.port}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", choices=["callback", "handler"], default="handler")
    parser.add_argument("--port", type=int, default=8890)
    parser.add_argument("--static-path", default=os.path.join(os.path.dirname(__file__), "static"))
    args = parser.parse_args()
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
