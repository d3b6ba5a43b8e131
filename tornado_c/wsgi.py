"""WSGI support for tornado_c's HTTP server.

`WSGIContainer` runs a WSGI application (Django, Flask, a hand-written
callable) behind `.HTTPServer`.  WSGI is synchronous: an application that
blocks should be given an ``executor`` so it does not stall the event loop.
"""

from __future__ import annotations

import concurrent.futures
import sys
import typing
from io import BytesIO
from types import TracebackType
from typing import Any, Callable, Dict, List, Optional, Tuple, Type

import tornado_c
from tornado_c import escape, httputil
from tornado_c.concurrent import dummy_executor
from tornado_c.ioloop import IOLoop
from tornado_c.log import access_log

if typing.TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication as WSGIAppType  # noqa: F401


def to_wsgi_str(s: bytes) -> str:
    """Decode bytes as a WSGI "native string" (latin-1, per PEP 3333)."""
    assert isinstance(s, bytes)
    return s.decode("latin1")


class WSGIContainer:
    r"""Makes a WSGI application usable as an `.HTTPServer` callback.

    ::

        def simple_app(environ, start_response):
            start_response("200 OK", [("Content-type", "text/plain")])
            return [b"Hello world!\n"]

        async def main():
            server = tornado_c.httpserver.HTTPServer(WSGIContainer(simple_app))
            server.listen(8888)
            await asyncio.Event().wait()

    The container can also sit behind `tornado_c.web.FallbackHandler` to mix
    WSGI and native handlers in one application.

    Without ``executor`` the application runs on the event loop thread,
    one request at a time; with a `concurrent.futures.Executor` it runs
    there (and ``wsgi.multithread`` is true).  Responses are buffered whole
    before being sent, so streaming WSGI responses are not streamed.
    """

    def __init__(
        self,
        wsgi_application: "WSGIAppType",
        executor: Optional[concurrent.futures.Executor] = None,
    ) -> None:
        self.wsgi_application = wsgi_application
        self.executor = dummy_executor if executor is None else executor

    def __call__(self, request: httputil.HTTPServerRequest) -> None:
        IOLoop.current().spawn_callback(self.handle_request, request)

    async def handle_request(self, request: httputil.HTTPServerRequest) -> None:
        """Run the application for ``request`` and write its response."""
        started: Dict[str, Any] = {}
        chunks: List[bytes] = []

        def start_response(
            status: str,
            headers: List[Tuple[str, str]],
            exc_info: Optional[
                Tuple[
                    "Optional[Type[BaseException]]",
                    Optional[BaseException],
                    Optional[TracebackType],
                ]
            ] = None,
        ) -> Callable[[bytes], Any]:
            started["status"] = status
            started["headers"] = headers
            return chunks.append

        loop = IOLoop.current()
        result = await loop.run_in_executor(
            self.executor, self.wsgi_application, self.environ(request), start_response
        )
        try:
            iterator = iter(result)

            def pull() -> Optional[bytes]:
                # StopIteration cannot travel through a future; use None.
                try:
                    return next(iterator)
                except StopIteration:
                    return None

            while True:
                chunk = await loop.run_in_executor(self.executor, pull)
                if chunk is None:
                    break
                chunks.append(chunk)
        finally:
            if hasattr(result, "close"):
                result.close()  # type: ignore
        body = b"".join(chunks)
        if not started:
            raise Exception("WSGI app did not call start_response")

        code_text, reason = started["status"].split(" ", 1)
        status_code = int(code_text)
        headers: List[Tuple[str, str]] = started["headers"]
        present = {name.lower() for name, _ in headers}
        body = escape.utf8(body)
        if status_code != 304:
            if "content-length" not in present:
                headers.append(("Content-Length", str(len(body))))
            if "content-type" not in present:
                headers.append(("Content-Type", "text/html; charset=UTF-8"))
        if "server" not in present:
            headers.append(("Server", "TornadoServer/%s" % tornado_c.version))

        header_obj = httputil.HTTPHeaders()
        for name, value in headers:
            header_obj.add(name, value)
        assert request.connection is not None
        request.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", status_code, reason),
            header_obj,
            chunk=body,
        )
        request.connection.finish()
        self._log(status_code, request)

    def environ(self, request: httputil.HTTPServerRequest) -> Dict[str, Any]:
        """Build the WSGI environment for ``request``.

        ``Content-Type`` and ``Content-Length`` are moved out of
        ``request.headers`` into ``CONTENT_TYPE`` / ``CONTENT_LENGTH``.
        """
        host_parts = request.host.split(":")
        if len(host_parts) == 2:
            server_name = host_parts[0]
            server_port = int(host_parts[1])
        else:
            server_name = request.host
            server_port = 443 if request.protocol == "https" else 80
        env: Dict[str, Any] = dict(
            REQUEST_METHOD=request.method,
            SCRIPT_NAME="",
            PATH_INFO=to_wsgi_str(
                escape.url_unescape(request.path, encoding=None, plus=False)
            ),
            QUERY_STRING=request.query,
            REMOTE_ADDR=request.remote_ip,
            SERVER_NAME=server_name,
            SERVER_PORT=str(server_port),
            SERVER_PROTOCOL=request.version,
        )
        env.update(
            {
                "wsgi.version": (1, 0),
                "wsgi.url_scheme": request.protocol,
                "wsgi.input": BytesIO(escape.utf8(request.body)),
                "wsgi.errors": sys.stderr,
                # Single-threaded only when the app runs on the IOLoop itself.
                "wsgi.multithread": self.executor is not dummy_executor,
                "wsgi.multiprocess": True,
                "wsgi.run_once": False,
            }
        )
        if "Content-Type" in request.headers:
            env["CONTENT_TYPE"] = request.headers.pop("Content-Type")
        if "Content-Length" in request.headers:
            env["CONTENT_LENGTH"] = request.headers.pop("Content-Length")
        for name, value in request.headers.items():
            env["HTTP_" + name.replace("-", "_").upper()] = value
        return env

    def _log(self, status_code: int, request: httputil.HTTPServerRequest) -> None:
        if status_code < 400:
            emit = access_log.info
        elif status_code < 500:
            emit = access_log.warning
        else:
            emit = access_log.error
        elapsed_ms = 1000.0 * request.request_time()
        assert request.method is not None
        assert request.uri is not None
        # Like Tornado, a missing remote_ip fails here with TypeError.
        remote_ip = typing.cast(str, request.remote_ip)
        summary = request.method + " " + request.uri + " (" + remote_ip + ")"
        emit("%d %s %.2fms", status_code, summary, elapsed_ms)


HTTPRequest = httputil.HTTPServerRequest
