"""Differential tests for tornado_c.tcpclient against Tornado's tcpclient."""

from __future__ import annotations

import asyncio
import datetime
import inspect
import os
import socket
import ssl
from typing import Any, Awaitable, Callable, Dict, Tuple

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.path.dirname(HERE), "tornado_c", "testing_data")
CERT = os.path.join(DATA, "test.crt")
KEY = os.path.join(DATA, "test.key")


def run(loop: asyncio.AbstractEventLoop, fn: Callable[[], Awaitable[Any]]) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(fn(), 10)

    return loop.run_until_complete(bounded())


def test_signature() -> None:
    import tornado.tcpclient as ref

    import tornado_c.tcpclient as ours

    for obj in ("connect", "__init__", "close"):
        a = inspect.signature(getattr(ours.TCPClient, obj)).parameters.values()
        b = inspect.signature(getattr(ref.TCPClient, obj)).parameters.values()
        assert [(p.name, p.kind, p.default) for p in a] == [
            (p.name, p.kind, p.default) for p in b
        ]
    assert inspect.iscoroutinefunction(ours.TCPClient.connect)
    assert ours._INITIAL_CONNECT_TIMEOUT == ref._INITIAL_CONNECT_TIMEOUT


async def start_server(impl: Any, ssl_options: Any = None) -> Tuple[Any, int, list]:
    tcpserver = impl.mod("tcpserver")
    netutil = impl.mod("netutil")
    seen: list = []

    class Server(tcpserver.TCPServer):
        async def handle_stream(self, stream: Any, address: Any) -> None:
            seen.append(address)
            try:
                data = await stream.read_until(b"\n")
                await stream.write(b"got " + data)
            finally:
                stream.close()

    server = Server(ssl_options=ssl_options)
    [sock] = netutil.bind_sockets(0, "127.0.0.1", family=socket.AF_INET)
    server.add_socket(sock)
    return server, sock.getsockname()[1], seen


def test_connect(impl: Any, loop: asyncio.AbstractEventLoop) -> None:
    tcpclient = impl.mod("tcpclient")
    iostream = impl.mod("iostream")

    async def main() -> list:
        server, port, seen = await start_server(impl)
        client = tcpclient.TCPClient()
        try:
            stream = await client.connect("127.0.0.1", port, af=socket.AF_INET,
                                          max_buffer_size=4096)
            out = [type(stream) is iostream.IOStream, stream.max_buffer_size]
            await stream.write(b"hello\n")
            out.append(await stream.read_until_close())
            return out
        finally:
            client.close()
            server.stop()

    assert run(loop, main) == [True, 4096, b"got hello\n"]


def test_connect_localhost_and_timeouts(impl: Any, loop: asyncio.AbstractEventLoop) -> None:
    tcpclient = impl.mod("tcpclient")

    async def main() -> list:
        server, port, seen = await start_server(impl)
        client = tcpclient.TCPClient()
        out = []
        try:
            for timeout in (5, 5.0, datetime.timedelta(seconds=5)):
                stream = await client.connect("127.0.0.1", port, timeout=timeout)
                await stream.write(b"x\n")
                out.append(await stream.read_until_close())
            with pytest.raises(TypeError) as info:
                await client.connect("127.0.0.1", port, timeout="5")
            out.append(str(info.value))
            return out
        finally:
            client.close()
            server.stop()

    assert run(loop, main) == [b"got x\n"] * 3 + ["Unsupported timeout '5'"]


def test_source_ip_and_port(impl: Any, loop: asyncio.AbstractEventLoop) -> None:
    tcpclient = impl.mod("tcpclient")

    async def main() -> list:
        server, port, seen = await start_server(impl)
        client = tcpclient.TCPClient()
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
        s.close()
        try:
            stream = await client.connect("127.0.0.1", port, source_ip="127.0.0.1")
            local = stream.socket.getsockname()[0]
            stream.close()
            stream = await client.connect("127.0.0.1", port, source_port=free)
            local_port = stream.socket.getsockname()
            stream.close()
            return [local, local_port == ("127.0.0.1", free)]
        finally:
            client.close()
            server.stop()

    assert run(loop, main) == ["127.0.0.1", True]


def test_refused(impl: Any, loop: asyncio.AbstractEventLoop) -> None:
    tcpclient = impl.mod("tcpclient")
    iostream = impl.mod("iostream")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()

    async def main() -> str:
        client = tcpclient.TCPClient()
        try:
            await client.connect("127.0.0.1", port)
        except iostream.StreamClosedError as e:
            return type(e.real_error).__name__
        finally:
            client.close()
        return "connected"

    assert run(loop, main) == "ConnectionRefusedError"


def test_connect_tls(impl: Any, loop: asyncio.AbstractEventLoop) -> None:
    tcpclient = impl.mod("tcpclient")
    iostream = impl.mod("iostream")

    async def main() -> list:
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(CERT, KEY)
        server, port, seen = await start_server(impl, sctx)
        cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        cctx.load_verify_locations(CERT)
        cctx.check_hostname = False
        client = tcpclient.TCPClient()
        try:
            stream = await client.connect("127.0.0.1", port, ssl_options=cctx, timeout=5)
            out = [isinstance(stream, iostream.SSLIOStream)]
            await stream.write(b"tls\n")
            out.append(await stream.read_until(b"\n"))
            stream.close()
            return out
        finally:
            client.close()
            server.stop()

    assert run(loop, main) == [True, b"got tls\n"]


def test_resolver_ownership(impl: Any, loop: asyncio.AbstractEventLoop) -> None:
    tcpclient = impl.mod("tcpclient")
    netutil = impl.mod("netutil")

    class Tracking(netutil.DefaultLoopResolver):
        closed = False

        def close(self) -> None:
            self.closed = True

    async def main() -> list:
        r = Tracking()
        c = tcpclient.TCPClient(resolver=r)
        c.close()
        own = tcpclient.TCPClient()
        kind = type(own.resolver).__name__
        own.close()
        return [r.closed, c.resolver is r, kind]

    assert run(loop, main) == [False, True, "DefaultLoopResolver"]


class FakeStream:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


class ConnectorHarness:
    """Drives _Connector with fake streams whose futures the test resolves."""

    def __init__(self, impl: Any) -> None:
        self.tcpclient = impl.mod("tcpclient")
        self.futures: Dict[Tuple[int, str], asyncio.Future] = {}
        self.streams: Dict[str, FakeStream] = {}

    def connect(self, af: int, addr: str) -> Tuple[FakeStream, asyncio.Future]:
        stream = FakeStream()
        fut = asyncio.get_running_loop().create_future()
        self.streams[addr] = stream
        self.futures[(af, addr)] = fut
        return stream, fut

    async def settle(self, af: int, addr: str, ok: bool) -> None:
        fut = self.futures.pop((af, addr))
        if ok:
            fut.set_result(self.streams[addr])
        else:
            fut.set_exception(IOError("fail " + addr))
        for _ in range(3):
            await asyncio.sleep(0)

    def pending(self) -> list:
        return sorted(self.futures)


A, B = socket.AF_INET, socket.AF_INET6
ADDRS = [(A, "a"), (A, "b"), (B, "c"), (B, "d")]


def test_connector_split(impl: Any) -> None:
    tcpclient = impl.mod("tcpclient")
    assert tcpclient._Connector.split(ADDRS) == ([(A, "a"), (A, "b")], [(B, "c"), (B, "d")])
    assert tcpclient._Connector.split([(B, "x"), (A, "y"), (B, "z")]) == (
        [(B, "x"), (B, "z")], [(A, "y")]
    )


@pytest.mark.parametrize("scenario", ["primary_ok", "fallback", "timeout_race",
                                      "all_fail", "connect_timeout"])
def test_connector(impl: Any, loop: asyncio.AbstractEventLoop, scenario: str) -> None:
    async def main() -> list:
        h = ConnectorHarness(impl)
        io_loop = impl.mod("ioloop").IOLoop.current()
        conn = h.tcpclient._Connector(ADDRS, h.connect)
        future = conn.start(3600, connect_timeout=io_loop.time() + 3600)
        out: list = [h.pending()]
        if scenario == "primary_ok":
            await h.settle(A, "a", True)
            out.append(future.result()[1])
        elif scenario == "fallback":
            await h.settle(A, "a", False)
            out.append(h.pending())
            await h.settle(A, "b", False)
            await h.settle(B, "c", True)
            out.append(future.result()[1])
        elif scenario == "timeout_race":
            conn.on_timeout()
            out.append(h.pending())
            await h.settle(B, "c", True)
            out.append(future.result()[1])
            out.append(h.streams["a"].closed)
            await h.settle(A, "a", True)
            out.append(h.pending())
        elif scenario == "all_fail":
            conn.on_timeout()
            await h.settle(B, "c", False)
            await h.settle(B, "d", False)
            await h.settle(A, "a", False)
            out.append(future.done())
            await h.settle(A, "b", False)
            out.append(str(future.exception()))
        elif scenario == "connect_timeout":
            conn.on_connect_timeout()
            out.append(type(future.exception()).__name__)
            out.append(h.streams["a"].closed)
            conn.on_timeout()
            out.append(h.pending())
            conn.clear_timeouts()
        conn.clear_timeouts()
        return out

    expected = {
        "primary_ok": [[(A, "a")], "a"],
        "fallback": [[(A, "a")], [(A, "b"), (B, "c")], "c"],
        "timeout_race": [[(A, "a")], [(A, "a"), (B, "c")], "c", True, []],
        "all_fail": [[(A, "a")], False, "fail b"],
        "connect_timeout": [[(A, "a")], "TimeoutError", True, [(A, "a")]],
    }[scenario]
    assert run(loop, main) == expected


def test_single_address_outcomes_match(impl: Any, loop: asyncio.AbstractEventLoop) -> None:
    """One resolved address and no timeout (tornado_c skips the
    happy-eyeballs race there): a local address that cannot be bound, a
    _create_stream that fails, and a resolver answering one address give
    what Tornado gives."""
    tcpclient = impl.mod("tcpclient")
    netutil = impl.mod("netutil")

    class OneAddress(netutil.Resolver):  # type: ignore[misc]
        async def resolve(self, host: str, port: int, family: Any = socket.AF_UNSPEC) -> Any:
            return [(socket.AF_INET, ("127.0.0.1", port))]

    class Failing(tcpclient.TCPClient):  # type: ignore[misc]
        def _create_stream(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("no stream for you")

    async def main() -> list:
        server, port, seen = await start_server(impl)
        out = []
        client = tcpclient.TCPClient(resolver=OneAddress())
        try:
            try:
                await client.connect("anything", port, source_ip="192.0.2.1")
            except OSError as e:
                out.append(("bind", type(e).__name__))
            stream = await client.connect("anything", port)
            await stream.write(b"y\n")
            out.append(await stream.read_until_close())
            try:
                await Failing(resolver=OneAddress()).connect("anything", port)
            except RuntimeError as e:
                out.append(str(e))
            return out
        finally:
            client.close()
            server.stop()

    assert run(loop, main) == [("bind", "OSError"), b"got y\n", "no stream for you"]
