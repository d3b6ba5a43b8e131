"""asyncio stream transports, run on asyncio's default loop and on the native
loop (whose TCP and unix transports are tornado_c._transport.SocketTransport,
csrc/transport.c).

Every test asserts what asyncio's own selector transport does, through the
public transport / protocol API, so a failure on the ``native`` parameter
alone is a difference of the native transport.  All traffic is on loopback.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
import ssl
import struct
import sys
import tempfile
import warnings
from typing import Any, Callable, Optional

import pytest

import tornado_c

TIMEOUT = 10.0
DATA_DIR = os.path.join(os.path.dirname(tornado_c.__file__), "testing_data")


def run(loop: asyncio.AbstractEventLoop, coro: Any) -> Any:
    return loop.run_until_complete(asyncio.wait_for(coro, TIMEOUT))


async def until(cond: Callable[[], bool]) -> None:
    while not cond():
        await asyncio.sleep(0.001)


async def turns(n: int = 20) -> None:
    """Let the loop run n iterations (polls included)."""
    for _ in range(n):
        await asyncio.sleep(0)


def open_fds() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")}


class Recorder(asyncio.Protocol):
    """Records every protocol event in order."""

    def __init__(self, eof_result: Any = None) -> None:
        self.events: list[tuple[str, Any]] = []
        self.data = bytearray()
        self.transport: Any = None
        self.eof_result = eof_result
        self.lost: Optional[asyncio.Future[Any]] = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.lost = asyncio.get_running_loop().create_future()
        self.events.append(("made", None))

    def data_received(self, data: bytes) -> None:
        assert type(data) is bytes
        self.data += data
        self.events.append(("data", len(data)))

    def eof_received(self) -> Any:
        self.events.append(("eof", None))
        return self.eof_result

    def pause_writing(self) -> None:
        self.events.append(("pause_writing", None))

    def resume_writing(self) -> None:
        self.events.append(("resume_writing", None))

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self.events.append(("lost", exc))
        assert self.lost is not None
        self.lost.set_result(exc)

    def names(self) -> list[str]:
        return [name for name, _ in self.events if name != "data"]


async def tcp_pair(
    loop: asyncio.AbstractEventLoop, server_proto: Any, client_proto: Any
) -> tuple[Any, Any, Any]:
    """A listening server and a connected client: (server, client transport,
    server protocol)."""
    made: asyncio.Future[Any] = loop.create_future()

    def factory() -> Any:
        p = server_proto()
        if not made.done():
            made.set_result(p)
        return p

    server = await loop.create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    tr, _ = await loop.create_connection(client_proto, "127.0.0.1", port)
    sp = await made
    await until(lambda: sp.transport is not None)
    return server, tr, sp


def shrink_buffers(writer: Any, reader: Any) -> None:
    """Small socket buffers, so that a few MB stay queued in the transport
    while the reader does not read."""
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
    reader.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)


async def close_server(server: Any) -> None:
    server.close()
    await server.wait_closed()


def run_pair(
    loop: asyncio.AbstractEventLoop,
    body: Callable[[Any, Any], Any],
    server_proto: Any = None,
    client_proto: Any = None,
) -> None:
    """Runs body(client transport, server protocol) on a fresh connection."""

    async def main() -> None:
        server, tr, sp = await tcp_pair(loop, server_proto or Recorder, client_proto or Recorder)
        try:
            await body(tr, sp)
        finally:
            await close_server(server)

    run(loop, main())


async def echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    """A start_server handler echoing until the end of stream."""
    while data := await r.read(65536):
        w.write(data)
        await w.drain()
    w.close()
    await w.wait_closed()


def native(loop: asyncio.AbstractEventLoop) -> bool:
    return isinstance(loop, tornado_c.Loop)


# --------------------------------------------------------------------------
# streams API


def test_open_connection_echo(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        r, w = await asyncio.open_connection("127.0.0.1", port)
        tr = w.transport
        assert isinstance(tr, asyncio.Transport)
        if native(loop):
            from tornado_c._transport import SocketTransport

            assert type(tr) is SocketTransport
        for size in (1, 100, 70000, 1_000_000):
            blob = os.urandom(size)
            w.write(blob)
            await w.drain()
            assert await r.readexactly(size) == blob
        w.writelines([b"ab", bytearray(b"cd"), memoryview(b"ef")])
        assert await r.readexactly(6) == b"abcdef"
        w.write_eof()
        assert await r.read() == b""
        w.close()
        await w.wait_closed()
        assert tr.is_closing()
        await close_server(server)

    run(loop, main())


def test_unix_echo(loop: asyncio.AbstractEventLoop) -> None:
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(await r.readexactly(5) * 2)
        await w.drain()
        w.close()

    async def main(path: str) -> None:
        server = await asyncio.start_unix_server(handle, path)
        r, w = await asyncio.open_unix_connection(path)
        assert w.get_extra_info("peername") == path
        w.write(b"hello")
        assert await r.read() == b"hellohello"
        w.close()
        await w.wait_closed()
        await close_server(server)

    with tempfile.TemporaryDirectory() as d:
        run(loop, main(os.path.join(d, "s")))


def test_connect_accepted_socket(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        a, b = socket.socketpair()
        b.setblocking(False)
        tr, proto = await loop.connect_accepted_socket(Recorder, a)
        await until(lambda: proto.transport is not None)
        tr.write(b"ping")
        assert await loop.sock_recv(b, 10) == b"ping"
        await loop.sock_sendall(b, b"pong")
        await until(lambda: proto.data == b"pong")
        b.close()
        assert await proto.lost is None
        assert proto.names() == ["made", "eof", "lost"]

    run(loop, main())


# --------------------------------------------------------------------------
# protocols


def test_protocol_events_and_single_connection_lost(loop: asyncio.AbstractEventLoop) -> None:
    async def main(tr: Any, sp: Any) -> None:
        cp = tr.get_protocol()
        tr.write(b"x" * 1000)
        await until(lambda: len(sp.data) == 1000)
        tr.close()
        tr.close()
        tr.abort()
        assert await sp.lost is None
        assert sp.names() == ["made", "eof", "lost"]
        assert await cp.lost is None
        await turns()
        assert cp.names() == ["made", "lost"]
        assert tr.get_protocol() is None

    run_pair(loop, main)


def test_connection_made_before_data_and_waiter(loop: asyncio.AbstractEventLoop) -> None:
    order: list[str] = []

    class P(Recorder):
        def connection_made(self, transport: Any) -> None:
            order.append("made")
            super().connection_made(transport)

        def data_received(self, data: bytes) -> None:
            order.append("data")
            super().data_received(data)

    async def main() -> None:
        a, b = socket.socketpair()
        b.sendall(b"early")  # already there when the transport is made
        tr, proto = await loop.connect_accepted_socket(P, a)
        order.append("returned")
        await until(lambda: bytes(proto.data) == b"early")
        assert order[0] == "made" and "data" in order
        tr.close()
        await proto.lost
        b.close()

    run(loop, main())


class Buffered(asyncio.BufferedProtocol):
    def __init__(self, size: int = 100) -> None:
        self.buf = bytearray(size)
        self.data = bytearray()
        self.hints: list[int] = []
        self.transport: Any = None
        self.lost: Optional[asyncio.Future[Any]] = None
        self.eof = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.lost = asyncio.get_running_loop().create_future()

    def get_buffer(self, sizehint: int) -> bytearray:
        self.hints.append(sizehint)
        return self.buf

    def buffer_updated(self, nbytes: int) -> None:
        assert 0 < nbytes <= len(self.buf)
        self.data += self.buf[:nbytes]

    def eof_received(self) -> None:
        self.eof += 1

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        assert self.lost is not None
        self.lost.set_result(exc)


def test_buffered_protocol(loop: asyncio.AbstractEventLoop) -> None:
    blob = os.urandom(300_000)

    async def main(tr: Any, sp: Any) -> None:
        tr.write(blob)
        await until(lambda: len(sp.data) == len(blob))
        assert bytes(sp.data) == blob
        assert set(sp.hints) == {-1}
        tr.close()
        assert await sp.lost is None
        assert sp.eof == 1

    run_pair(loop, main, Buffered, Recorder)


def test_set_protocol_switches_receiver(loop: asyncio.AbstractEventLoop) -> None:
    async def main(tr: Any, sp: Any) -> None:
        tr.write(b"one")
        await until(lambda: sp.data == b"one")
        other = Buffered(10)
        other.lost = loop.create_future()
        sp.transport.set_protocol(other)
        assert sp.transport.get_protocol() is other
        tr.write(b"two and more")
        await until(lambda: other.data == b"two and more")
        assert sp.data == b"one"
        tr.close()
        assert await other.lost is None

    run_pair(loop, main)


# --------------------------------------------------------------------------
# end of stream


def test_eof_received_true_keeps_writing(loop: asyncio.AbstractEventLoop) -> None:
    class Replier(Recorder):
        def eof_received(self) -> bool:
            super().eof_received()
            self.transport.write(b"after eof:" + bytes(self.data))
            self.transport.close()
            return True

    async def main(tr: Any, sp: Any) -> None:
        cp = tr.get_protocol()
        assert tr.can_write_eof()
        tr.write(b"question")
        tr.write_eof()
        tr.write_eof()  # a second call does nothing
        with pytest.raises(RuntimeError, match="write_eof"):
            tr.write(b"more")
        assert await cp.lost is None
        assert cp.data == b"after eof:question"
        assert cp.names() == ["made", "eof", "lost"]
        assert await sp.lost is None

    run_pair(loop, main, Replier, Recorder)


def test_eof_received_false_closes(loop: asyncio.AbstractEventLoop) -> None:
    async def main(tr: Any, sp: Any) -> None:
        tr.write_eof()
        assert await sp.lost is None
        assert sp.names() == ["made", "eof", "lost"]
        assert sp.transport.is_closing()
        cp = tr.get_protocol()
        assert await cp.lost is None

    run_pair(loop, main, lambda: Recorder(eof_result=False), Recorder)


# --------------------------------------------------------------------------
# reading flow control


def test_pause_resume_reading(loop: asyncio.AbstractEventLoop) -> None:
    async def main(tr: Any, sp: Any) -> None:
        st = sp.transport
        assert st.is_reading()
        tr.write(b"a")
        await until(lambda: sp.data == b"a")
        st.pause_reading()
        st.pause_reading()
        assert not st.is_reading()
        tr.write(b"b" * 200_000)
        tr.write_eof()
        await asyncio.sleep(0.05)
        assert sp.data == b"a"
        st.resume_reading()
        st.resume_reading()
        assert st.is_reading()
        await until(lambda: len(sp.data) == 200_001)
        assert await sp.lost is None
        assert sp.names() == ["made", "eof", "lost"]
        assert not st.is_reading()

    run_pair(loop, main)


def test_reads_take_up_to_256_kib(loop: asyncio.AbstractEventLoop) -> None:
    # asyncio's socket transport reads at most 256 KiB per recv(); data that
    # waits in the socket comes in pieces of up to that size, not 64 KiB.
    async def main(tr: Any, sp: Any) -> None:
        st = sp.transport
        st.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        st.pause_reading()
        tr.write(b"z" * 3_000_000)
        # Let the kernel's buffers fill (however large they are here).
        left = tr.get_write_buffer_size()
        for _ in range(50):
            await asyncio.sleep(0.01)
            if tr.get_write_buffer_size() == left:
                break
            left = tr.get_write_buffer_size()
        assert left < 3_000_000 - 256 * 1024
        sp.events.clear()
        st.resume_reading()
        await until(lambda: len(sp.data) == 3_000_000)
        sizes = [n for name, n in sp.events if name == "data"]
        tr.close()
        assert await sp.lost is None
        assert max(sizes) <= 256 * 1024
        assert max(sizes) > 64 * 1024, sizes[:8]

    run_pair(loop, main)


def test_pause_reading_in_data_received(loop: asyncio.AbstractEventLoop) -> None:
    class Pauser(Recorder):
        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self.transport.pause_reading()

    async def main(tr: Any, sp: Any) -> None:
        tr.write(b"x" * 10)
        await until(lambda: len(sp.data) == 10)
        tr.write(b"y" * 10)
        await asyncio.sleep(0.05)
        assert len(sp.data) == 10
        calls = len(sp.events)
        sp.transport.resume_reading()
        await until(lambda: len(sp.data) == 20)
        assert len(sp.events) == calls + 1
        sp.transport.close()
        assert await sp.lost is None
        tr.close()

    run_pair(loop, main, Pauser, Recorder)


# --------------------------------------------------------------------------
# writing flow control


def test_write_flow_control(loop: asyncio.AbstractEventLoop) -> None:
    chunk = b"z" * 65536

    class Writer(Recorder):
        sent = 0

        def pump(self) -> None:
            # Writes until the transport says stop, as a well-behaved
            # producer does: the buffer stays bounded.
            while ("pause_writing", None) not in self.events[-1:] and self.sent < 20_000_000:
                self.transport.write(chunk)
                self.sent += len(chunk)
                assert self.transport.get_write_buffer_size() <= 4 * 65536 + len(chunk)

        def resume_writing(self) -> None:
            super().resume_writing()
            assert self.transport.get_write_buffer_size() <= self.transport.get_write_buffer_limits()[0]

    async def main(tr: Any, sp: Any) -> None:
        cp = tr.get_protocol()
        tr.set_write_buffer_limits(high=4 * 65536)
        assert tr.get_write_buffer_limits() == (65536, 4 * 65536)
        sp.transport.pause_reading()  # the peer stops reading
        cp.pump()
        assert cp.names()[-1] == "pause_writing"
        assert tr.get_write_buffer_size() > 4 * 65536
        assert cp.sent < 20_000_000
        await asyncio.sleep(0.05)
        assert cp.names()[-1] == "pause_writing"
        sp.transport.resume_reading()
        await until(lambda: cp.names()[-1] == "resume_writing")
        cp.events.clear()
        cp.pump()
        tr.close()
        await until(lambda: len(sp.data) == cp.sent)
        assert await cp.lost is None

    run_pair(loop, main, Recorder, Writer)


def test_resume_writing_at_the_low_water_mark(loop: asyncio.AbstractEventLoop) -> None:
    # Several writes queued: resume_writing() comes once the queue is down to
    # the low-water mark, while the last writes are still queued, not only
    # when it is empty.
    chunk = b"w" * 65536
    sizes_at_resume: list = []

    class Writer(Recorder):
        def resume_writing(self) -> None:
            super().resume_writing()
            sizes_at_resume.append(self.transport.get_write_buffer_size())

    async def main(tr: Any, sp: Any) -> None:
        cp = tr.get_protocol()
        shrink_buffers(tr, sp.transport)
        sp.transport.pause_reading()  # the peer stops reading
        tr.set_write_buffer_limits(high=8 * 65536, low=4 * 65536)
        sent = 0
        while ("pause_writing", None) not in cp.events and sent < 4_000_000:
            tr.write(chunk)
            sent += len(chunk)
        assert cp.names()[-1] == "pause_writing"
        queued = tr.get_write_buffer_size()
        assert queued > 8 * 65536
        sp.transport.resume_reading()
        await until(lambda: len(sp.data) == sent)
        tr.close()
        assert await cp.lost is None
        assert len(sizes_at_resume) == 1
        assert 0 < sizes_at_resume[0] <= 4 * 65536, (sizes_at_resume, queued)

    run_pair(loop, main, Recorder, Writer)


def test_write_buffer_limits_validation(loop: asyncio.AbstractEventLoop) -> None:
    async def main(tr: Any, sp: Any) -> None:
        assert tr.get_write_buffer_limits() == (16384, 65536)
        tr.set_write_buffer_limits(low=100)
        assert tr.get_write_buffer_limits() == (100, 400)
        tr.set_write_buffer_limits(high=1000)
        assert tr.get_write_buffer_limits() == (250, 1000)
        tr.set_write_buffer_limits(0, 0)
        assert tr.get_write_buffer_limits() == (0, 0)
        with pytest.raises(ValueError, match=r"high \(1\) must be >= low \(2\) must be >= 0"):
            tr.set_write_buffer_limits(high=1, low=2)
        assert tr.get_write_buffer_size() == 0
        tr.close()
        await sp.lost

    run_pair(loop, main)


def test_write_argument_types(loop: asyncio.AbstractEventLoop) -> None:
    async def main(tr: Any, sp: Any) -> None:
        for bad in ("text", 1, None, [b"a"]):
            with pytest.raises(TypeError, match="data argument must be a bytes-like object"):
                tr.write(bad)
        with pytest.raises(TypeError, match="not 'str'"):
            tr.write("text")
        with pytest.raises(TypeError):
            tr.writelines(["text"])
        tr.write(b"")
        tr.write(bytearray())
        buf = bytearray(b"mutable")
        tr.write(buf)
        buf[:] = b"changed"  # the caller owns its buffer again
        buf.clear()
        await until(lambda: sp.data == b"mutable")
        tr.close()
        await sp.lost

    run_pair(loop, main)


def test_close_flushes_queued_data(loop: asyncio.AbstractEventLoop) -> None:
    blob = os.urandom(4_000_000)

    async def main(tr: Any, sp: Any) -> None:
        cp = tr.get_protocol()
        shrink_buffers(tr, sp.transport)
        sp.transport.pause_reading()
        tr.write(blob)
        assert tr.get_write_buffer_size() > 0
        tr.close()
        assert tr.is_closing()
        await asyncio.sleep(0.05)
        assert not cp.lost.done()
        sp.transport.resume_reading()
        assert await cp.lost is None
        assert await sp.lost is None
        assert bytes(sp.data) == blob
        assert sp.names()[-2:] == ["eof", "lost"]

    run_pair(loop, main)


def test_abort_drops_queued_data(loop: asyncio.AbstractEventLoop) -> None:
    async def main(tr: Any, sp: Any) -> None:
        cp = tr.get_protocol()
        shrink_buffers(tr, sp.transport)
        sp.transport.pause_reading()
        tr.write(b"q" * 4_000_000)
        tr.abort()
        assert tr.is_closing()
        assert not cp.lost.done()  # connection_lost comes from the loop
        assert await cp.lost is None
        sp.transport.resume_reading()
        exc = await sp.lost
        assert exc is None or isinstance(exc, ConnectionResetError)
        assert len(sp.data) < 4_000_000
        assert [n for n in cp.names() if "writing" not in n] == ["made", "lost"]

    run_pair(loop, main)


def test_write_after_close_warns_after_five(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    async def main(tr: Any, sp: Any) -> None:
        cp = tr.get_protocol()
        tr.abort()
        await cp.lost
        with caplog.at_level(logging.WARNING, logger="asyncio"):
            for _ in range(4):
                tr.write(b"lost")
            assert not [r for r in caplog.records if "socket.send()" in r.message]
            tr.write(b"lost")
            tr.write(b"lost")
        warned = [r for r in caplog.records if r.message == "socket.send() raised exception."]
        assert len(warned) == 2
        await sp.lost

    run_pair(loop, main)


# --------------------------------------------------------------------------
# errors


async def raw_peer(loop: asyncio.AbstractEventLoop) -> tuple[Any, Any, socket.socket]:
    """A client transport connected to a plain socket: (transport,
    protocol, the peer's socket)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        port = listener.getsockname()[1]
        connect = asyncio.ensure_future(loop.create_connection(Recorder, "127.0.0.1", port))
        peer, _ = await loop.sock_accept(listener)
    tr, proto = await connect
    return tr, proto, peer


def _reset(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_peer_reset_while_reading(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        tr, proto, peer = await raw_peer(loop)
        await until(lambda: proto.transport is not None)
        await loop.sock_sendall(peer, b"some data")
        await until(lambda: proto.data == b"some data")
        _reset(peer)
        exc = await proto.lost
        assert isinstance(exc, ConnectionResetError)
        assert proto.names() == ["made", "lost"]
        assert tr.is_closing()

    run(loop, main())


def test_peer_reset_while_writing(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        tr, proto, peer = await raw_peer(loop)
        tr.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
        tr.write(b"w" * 8_000_000)  # more than the socket buffers hold
        assert tr.get_write_buffer_size() > 0
        _reset(peer)
        exc = await proto.lost
        assert isinstance(exc, ConnectionError)
        assert proto.names().count("lost") == 1
        assert tr.get_write_buffer_size() == 0
        tr.write(b"after")  # counted, not raised

    run(loop, main())


@pytest.mark.parametrize("where", ["data_received", "eof_received"])
def test_protocol_exception_is_fatal(loop: asyncio.AbstractEventLoop, where: str) -> None:
    contexts: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))
    boom = ValueError("boom")

    class Failing(Recorder):
        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if where == "data_received":
                raise boom

        def eof_received(self) -> None:
            super().eof_received()
            if where == "eof_received":
                raise boom

    async def main(tr: Any, sp: Any) -> None:
        tr.write(b"trigger")
        if where == "eof_received":
            await until(lambda: sp.data == b"trigger")
            tr.write_eof()
        assert await sp.lost is boom
        tr.close()

    run_pair(loop, main, Failing, Recorder)
    assert len(contexts) == 1
    ctx = contexts[0]
    assert ctx["message"] == f"Fatal error: protocol.{where}() call failed."
    assert ctx["exception"] is boom
    assert ctx["protocol"] is not None
    assert ctx["transport"].is_closing()


def test_buffered_protocol_errors(loop: asyncio.AbstractEventLoop) -> None:
    contexts: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))

    class Empty(Buffered):
        def get_buffer(self, sizehint: int) -> bytearray:
            return bytearray()

    async def main(tr: Any, sp: Any) -> None:
        tr.write(b"data")
        exc = await sp.lost
        assert isinstance(exc, RuntimeError)
        assert str(exc) == "get_buffer() returned an empty buffer"
        tr.close()

    run_pair(loop, main, Empty, Recorder)
    assert [c["message"] for c in contexts] == ["Fatal error: protocol.get_buffer() call failed."]


def test_keyboard_interrupt_in_protocol_leaves_the_loop(loop: asyncio.AbstractEventLoop) -> None:
    class Interrupting(Recorder):
        def data_received(self, data: bytes) -> None:
            raise KeyboardInterrupt

    a, b = socket.socketpair()

    async def main() -> None:
        await loop.connect_accepted_socket(Interrupting, a)
        b.sendall(b"x")
        await asyncio.sleep(5)

    task = loop.create_task(main())
    with pytest.raises(KeyboardInterrupt):
        loop.run_until_complete(task)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        loop.run_until_complete(task)
    b.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        loop.run_until_complete(asyncio.sleep(0.01))


# --------------------------------------------------------------------------
# extra info, repr, resources


def test_extra_info(loop: asyncio.AbstractEventLoop) -> None:
    async def main(tr: Any, sp: Any) -> None:
        sock = tr.get_extra_info("socket")
        assert isinstance(sock, asyncio.trsock.TransportSocket)
        assert sock.family == socket.AF_INET and sock.type == socket.SOCK_STREAM
        assert sock.getsockname() == tr.get_extra_info("sockname")
        assert sock.getpeername() == tr.get_extra_info("peername")
        assert tr.get_extra_info("peername") == sp.transport.get_extra_info("sockname")
        assert sp.transport.get_extra_info("peername") == tr.get_extra_info("sockname")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert tr.get_extra_info("socket") is sock
        assert tr.get_extra_info("nothing") is None
        assert tr.get_extra_info("nothing", 42) == 42
        assert sock.fileno() >= 0
        assert "fd=" in repr(tr)
        tr.close()
        await tr.get_protocol().lost
        assert sock.fileno() == -1
        assert tr.get_extra_info("sockname") is not None
        await sp.lost

    run_pair(loop, main)


def test_no_fd_leak(loop_factory: Callable[[], asyncio.AbstractEventLoop]) -> None:
    def session() -> None:
        lp = loop_factory()
        try:

            async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
                w.write(await r.read(100))
                w.close()
                await w.wait_closed()

            async def main() -> None:
                server = await asyncio.start_server(handle, "127.0.0.1", 0)
                port = server.sockets[0].getsockname()[1]
                for i in range(20):
                    r, w = await asyncio.open_connection("127.0.0.1", port)
                    if i % 2:
                        w.get_extra_info("socket")
                    w.write(b"hi")
                    assert await r.read() == b"hi"
                    w.close()
                    await w.wait_closed()
                await close_server(server)

            lp.run_until_complete(asyncio.wait_for(main(), TIMEOUT))
        finally:
            lp.close()

    session()  # warm up lazily opened fds
    gc.collect()
    before = open_fds()
    session()
    gc.collect()
    assert open_fds() == before


def test_unclosed_transport_warns(loop: asyncio.AbstractEventLoop) -> None:
    a, b = socket.socketpair()

    async def main() -> Any:
        tr, proto = await loop.connect_accepted_socket(Recorder, a)
        await until(lambda: proto.transport is not None)
        return tr

    tr = run(loop, main())
    proto = tr.get_protocol()
    loop.close()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del tr, proto
        gc.collect()
    assert any(
        issubclass(w.category, ResourceWarning) and "unclosed transport" in str(w.message)
        for w in caught
    )
    b.close()


# --------------------------------------------------------------------------
# TLS over the transport


def test_tls_echo(loop: asyncio.AbstractEventLoop) -> None:
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(
        os.path.join(DATA_DIR, "test.crt"), os.path.join(DATA_DIR, "test.key")
    )
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE

    async def main() -> None:
        server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]
        r, w = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx)
        assert w.get_extra_info("sslcontext") is client_ctx
        assert w.get_extra_info("peercert") is not None or True
        assert isinstance(w.get_extra_info("socket"), asyncio.trsock.TransportSocket)
        if native(loop):
            from tornado_c._transport import SocketTransport

            assert type(w.transport._ssl_protocol._transport) is SocketTransport
        blob = os.urandom(500_000)
        w.write(blob)
        await w.drain()
        assert await r.readexactly(len(blob)) == blob
        w.close()
        await w.wait_closed()
        await close_server(server)

    run(loop, main())


@pytest.mark.skipif(sys.platform != "linux", reason="sendfile")
def test_sendfile_over_transport(loop: asyncio.AbstractEventLoop) -> None:
    blob = os.urandom(200_000)

    async def main(path: str) -> None:
        server, tr, sp = await tcp_pair(loop, Recorder, Recorder)
        tr.write(b"head")
        with open(path, "rb") as f:
            assert await loop.sendfile(tr, f, offset=10, count=100_000) == 100_000
            assert f.tell() == 100_010
        tr.write(b"tail")
        await until(lambda: len(sp.data) == 100_008)
        assert bytes(sp.data) == b"head" + blob[10:100_010] + b"tail"
        tr.close()
        await sp.lost
        await close_server(server)

    with tempfile.NamedTemporaryFile() as f:
        f.write(blob)
        f.flush()
        run(loop, main(f.name))
