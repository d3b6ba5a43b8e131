"""Differential tests for tornado_c.tcpserver against Tornado's tcpserver."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import socket
import ssl
import subprocess
import sys
import textwrap
from typing import Any, Awaitable, Callable

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(ROOT, "tornado_c", "testing_data")
CERT = os.path.join(DATA, "test.crt")
KEY = os.path.join(DATA, "test.key")


def run(loop: asyncio.AbstractEventLoop, fn: Callable[[], Awaitable[Any]]) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(fn(), 10)

    return loop.run_until_complete(bounded())


def _params(obj: Any) -> list:
    return [
        (p.name, p.kind, p.default) for p in inspect.signature(obj).parameters.values()
    ]


@pytest.mark.parametrize(
    "name",
    ["__init__", "listen", "add_sockets", "add_socket", "bind", "start", "stop",
     "handle_stream"],
)
def test_signatures(name: str) -> None:
    import tornado.tcpserver as ref

    import tornado_c.tcpserver as ours

    assert _params(getattr(ours.TCPServer, name)) == _params(getattr(ref.TCPServer, name))


def make_echo(impl: Any, **kwargs: Any) -> Any:
    tcpserver = impl.mod("tcpserver")
    iostream = impl.mod("iostream")

    class Echo(tcpserver.TCPServer):
        async def handle_stream(self, stream: Any, address: Any) -> None:
            self.last_stream = stream
            try:
                while True:
                    line = await stream.read_until(b"\n")
                    await stream.write(line.upper())
            except iostream.StreamClosedError:
                pass

    return Echo(**kwargs)


async def talk(port: int, lines: list, ctx: Any = None) -> list:
    if ctx is not None:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=ctx, server_hostname="foo.example.com"
        )
    else:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    out = []
    for line in lines:
        writer.write(line)
        out.append(await reader.readline())
    writer.close()
    try:
        await writer.wait_closed()
    except (ConnectionError, ssl.SSLError):
        pass
    return out


def test_listen_and_stop(impl: Any, loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> list:
        server = make_echo(impl)
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        server.listen(port, address="127.0.0.1")
        out = await talk(port, [b"abc\n", b"def\n"])
        fds = list(server._sockets)
        server.stop()
        server.stop()  # idempotent
        out.append([server._sockets[fd].fileno() for fd in fds])
        try:
            await talk(port, [b"x\n"])
        except ConnectionRefusedError:
            out.append("refused")
        return out

    assert run(loop, main) == [b"ABC\n", b"DEF\n", [-1], "refused"]


def test_add_sockets(impl: Any, loop: asyncio.AbstractEventLoop) -> None:
    netutil = impl.mod("netutil")

    async def main() -> list:
        server = make_echo(impl, max_buffer_size=1 << 20, read_chunk_size=1024)
        socks = netutil.bind_sockets(0, "127.0.0.1")
        server.add_sockets(socks)
        port = socks[0].getsockname()[1]
        try:
            out = await talk(port, [b"hi\n"])
            st = server.last_stream
            out.append((st.max_buffer_size, st.read_chunk_size))
            return out
        finally:
            server.stop()

    assert run(loop, main) == [b"HI\n", (1 << 20, 1024)]


def test_bind_start_single(impl: Any, loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> list:
        server = make_echo(impl)
        server.bind(0, address="127.0.0.1")
        assert server._pending_sockets
        port = server._pending_sockets[0].getsockname()[1]
        server.start()
        with pytest.raises(AssertionError):
            server.start()
        try:
            return await talk(port, [b"one\n"])
        finally:
            server.stop()

    assert run(loop, main) == [b"ONE\n"]


def test_ssl_server(impl: Any, loop: asyncio.AbstractEventLoop) -> None:
    iostream = impl.mod("iostream")
    for ssl_options in (
        {"certfile": CERT, "keyfile": KEY},
        None,
    ):
        if ssl_options is None:
            ssl_options = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ssl_options.load_cert_chain(CERT, KEY)

        async def main() -> list:
            server = make_echo(impl, ssl_options=ssl_options)
            [sock] = impl.mod("netutil").bind_sockets(0, "127.0.0.1")
            server.add_socket(sock)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(CERT)
            try:
                out = await talk(sock.getsockname()[1], [b"tls\n"], ctx)
                out.append(isinstance(server.last_stream, iostream.SSLIOStream))
                return out
            finally:
                server.stop()

        assert run(loop, main) == [b"TLS\n", True]


def test_ssl_options_validation(impl: Any) -> None:
    tcpserver = impl.mod("tcpserver")
    with pytest.raises(KeyError) as e1:
        tcpserver.TCPServer(ssl_options={"keyfile": KEY})
    with pytest.raises(ValueError) as e2:
        tcpserver.TCPServer(ssl_options={"certfile": "/nonexistent.crt"})
    with pytest.raises(ValueError) as e3:
        tcpserver.TCPServer(ssl_options={"certfile": CERT, "keyfile": "/nonexistent.key"})
    assert str(e1.value) == """'missing key "certfile" in ssl_options'"""
    assert str(e2.value) == 'certfile "/nonexistent.crt" does not exist'
    assert str(e3.value) == 'keyfile "/nonexistent.key" does not exist'


async def one_connection(impl: Any, cls: Any, send: bytes = b"") -> None:
    """Serve one connection with a new cls server: send, read until the
    server closes, then give the server's callbacks time to run."""
    server = cls()
    [sock] = impl.mod("netutil").bind_sockets(0, "127.0.0.1")
    server.add_socket(sock)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", sock.getsockname()[1])
        writer.write(send)
        await reader.read()
        writer.close()
        for _ in range(5):
            await asyncio.sleep(0.01)
    finally:
        server.stop()


def test_handle_stream_errors_logged(impl: Any, loop: asyncio.AbstractEventLoop,
                                     caplog: Any) -> None:
    tcpserver = impl.mod("tcpserver")

    class Sync(tcpserver.TCPServer):
        def handle_stream(self, stream: Any, address: Any) -> None:
            stream.close()
            raise ValueError("sync boom")

    class Async(tcpserver.TCPServer):
        async def handle_stream(self, stream: Any, address: Any) -> None:
            stream.close()
            raise KeyError("async boom")

    async def main() -> None:
        for cls in (Sync, Async):
            await one_connection(impl, cls)

    with caplog.at_level(logging.ERROR):
        run(loop, main)
    msgs = [(r.name, r.getMessage()) for r in caplog.records]
    assert ("tornado.application", "Error in connection callback") in msgs
    assert any(
        r.exc_info and isinstance(r.exc_info[1], KeyError) for r in caplog.records
    )


def test_handle_stream_task_lifetime(impl: Any, loop: asyncio.AbstractEventLoop,
                                     caplog: Any) -> None:
    # The task running a coroutine handle_stream is held by the IOLoop while
    # it runs (nothing else references an idle connection) and released when
    # it ends; a failure is logged as a callback error.  Also for a
    # handle_stream that returns a Future (a gen.coroutine).
    tcpserver = impl.mod("tcpserver")
    gen = impl.mod("gen")
    ioloop = impl.mod("ioloop")
    seen: list = []

    class Native(tcpserver.TCPServer):
        async def handle_stream(self, stream: Any, address: Any) -> None:
            seen.append(len(ioloop.IOLoop.current()._pending_tasks))
            data = await stream.read_until(b"\n")
            stream.close()
            raise KeyError(data)

    class Decorated(tcpserver.TCPServer):
        @gen.coroutine
        def handle_stream(self, stream: Any, address: Any) -> Any:
            data = yield stream.read_until(b"\n")
            stream.close()
            raise KeyError(data)

    async def main() -> list:
        pending = ioloop.IOLoop.current()._pending_tasks
        before = len(pending)
        for cls in (Native, Decorated):
            await one_connection(impl, cls, cls.__name__.encode() + b"\n")
        return [len(pending) - before]

    with caplog.at_level(logging.ERROR):
        assert run(loop, main) == [0]
    assert seen == [seen[0]] and seen[0] >= 1
    failures = [
        r for r in caplog.records
        if r.name == "tornado.application" and r.exc_info
        and isinstance(r.exc_info[1], KeyError)
    ]
    assert sorted(f.exc_info[1].args[0] for f in failures) == [b"Decorated\n", b"Native\n"]
    assert all(f.getMessage().startswith("Exception in callback") for f in failures)


def test_base_handle_stream_not_implemented(impl: Any, loop: asyncio.AbstractEventLoop) -> None:
    tcpserver = impl.mod("tcpserver")

    async def main() -> None:
        with pytest.raises(NotImplementedError):
            tcpserver.TCPServer().handle_stream(None, None)

    run(loop, main)


@pytest.mark.skipif(sys.platform == "win32", reason="fork")
@pytest.mark.parametrize("style", ["add_sockets", "bind_start"])
def test_multiprocess(impl: Any, style: str) -> None:
    if style == "add_sockets":
        code = f"""
            import asyncio
            from {impl.name}.netutil import bind_sockets
            from {impl.name}.process import fork_processes, task_id
            from {impl.name}.tcpserver import TCPServer

            sockets = bind_sockets(0, address="127.0.0.1")
            fork_processes(3)
            async def main():
                TCPServer().add_sockets(sockets)
            asyncio.run(main())
            print(task_id(), end="")
        """
    else:
        code = f"""
            import asyncio, warnings
            from {impl.name}.process import task_id
            from {impl.name}.tcpserver import TCPServer

            server = TCPServer()
            server.bind(0, address="127.0.0.1")
            server.start(3)
            async def main():
                pass
            asyncio.run(main())
            print(task_id(), end="")
        """
    env = dict(os.environ, PYTHONPATH=ROOT)
    # No deprecated call of ours (or Tornado's) on the way -- except that
    # bind() / start() before any loop runs asks IOLoop.current(), whose
    # asyncio.get_event_loop() CPython 3.12+ itself deprecates there (for
    # Tornado as for tornado_c).
    strict = style == "add_sockets" or sys.version_info < (3, 12)
    proc = subprocess.run(
        [sys.executable, *(["-Werror::DeprecationWarning"] if strict else []), "-c",
         textwrap.dedent(code)],
        capture_output=True, encoding="utf8", timeout=60, env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "".join(sorted(proc.stdout)) == "012"
    assert proc.stderr == ""


_FD_LIMIT_SERVER = textwrap.dedent("""
    import asyncio, os, resource, socket
    import tornado_c
    from tornado_c import httpserver, httputil

    def answer(request):
        request.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
            httputil.HTTPHeaders({"Content-Length": "2"}), b"ok")
        request.connection.finish()

    async def main():
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sock.setblocking(False)
        server = httpserver.HTTPServer(answer)
        server.add_sockets([sock])
        print(sock.getsockname()[1], flush=True)
        # (The test makes one request first: what the first connection sets
        # up once is not counted.)
        await asyncio.get_running_loop().run_in_executor(None, input)
        # Room for NATIVE connections of two fds each, and one fd more: the
        # limit is one past the highest of that many fds opened now (new
        # fds take the lowest free numbers), which are then closed.
        room = [os.open(os.devnull, os.O_RDONLY) for _ in range(2 * NATIVE + 1)]
        limit = max(room) + 1
        for fd in room:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
        print("limited", flush=True)
        await asyncio.sleep(30)

    tornado_c.new_event_loop().run_until_complete(main())
""")


def test_stream_without_an_fd_for_the_engine_uses_the_python_path(tmp_path: Any) -> None:
    """A stream on the native engine holds a second fd (libuv's duplicate).
    A connection accepted when no fd is left for that duplicate stays on the
    Python path, on its one fd, and is served (it used to fail: "Error in
    connection callback", the socket left to the garbage collector)."""
    native = 5
    script = tmp_path / "server.py"
    script.write_text(_FD_LIMIT_SERVER.replace("NATIVE", str(native)))
    # (Its log goes to a file: a pipe nobody reads would fill and block it.)
    log = open(tmp_path / "log.txt", "w+")
    proc = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT)
    held = []
    try:
        assert proc.stdin is not None and proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip().isdigit(), (tmp_path / "log.txt").read_text()
        port = int(line)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            while s.recv(1000):
                pass
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == "limited\n"
        for _ in range(native + 1):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            held.append(s)
        replies = [s.recv(1000) for s in held]
    finally:
        for s in held:
            s.close()
        proc.kill()
        proc.communicate()
        log.close()
    assert all(r.startswith(b"HTTP/1.1 200 OK\r\n") and r.endswith(b"ok") for r in replies)
    assert "Error in connection callback" not in (tmp_path / "log.txt").read_text()
