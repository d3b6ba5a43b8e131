"""Differential tests of tornado_c.websocket against tornado.websocket.

Three kinds of test, all on 127.0.0.1 and bounded by a timeout:

* helpers and classes used directly (accept value, compressors, signatures);
* a server of each implementation driven by a raw-socket client that writes
  hand-made frames, so framing edge cases are observed byte for byte;
* client/server pairs mixing the implementations (tornado_c client with the
  reference server and the reverse), so each side is checked against a
  known-good peer.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import struct
import zlib
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

import pytest

from conftest import Impl

TIMEOUT = 10.0


# --- harness ----------------------------------------------------------------


def run(
    factory: Callable[[], Awaitable[Any]],
    timeout: float = TIMEOUT,
    new_loop: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop,
) -> Any:
    """Runs ``factory()`` on a fresh event loop, bounded by ``timeout``."""
    loop = new_loop()
    asyncio.set_event_loop(loop)
    try:
        result = loop.run_until_complete(asyncio.wait_for(factory(), timeout))
        # Let closing connections finish, then cancel what is left (ping
        # tasks, receive loops of aborted connections).
        loop.run_until_complete(asyncio.sleep(0.01))
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        return result
    finally:
        loop.close()
        asyncio.set_event_loop(None)


class Server:
    """An HTTPServer of one implementation on an unused loopback port."""

    def __init__(self, impl: Impl, handlers: List[Any], **settings: Any) -> None:
        self.impl = impl
        self.app = impl.web.Application(handlers, **settings)
        self.server = impl.httpserver.HTTPServer(self.app)
        socks = impl.netutil.bind_sockets(0, "127.0.0.1")
        self.server.add_sockets(socks)
        self.port = socks[0].getsockname()[1]

    def url(self, path: str = "/") -> str:
        return "ws://127.0.0.1:%d%s" % (self.port, path)

    async def stop(self) -> None:
        self.server.stop()
        await self.server.close_all_connections()


def handler_classes(impl: Impl) -> Dict[str, Any]:
    """WebSocketHandler subclasses of ``impl`` that record into ``events``."""
    ws = impl.websocket

    class Recording(ws.WebSocketHandler):
        def initialize(self, events: List[Any], compression: Any = None) -> None:
            self.events = events
            self.compression = compression

        def get_compression_options(self) -> Any:
            return self.compression

        def open(self, *args: str) -> None:
            self.events.append(("open", args, self.selected_subprotocol))

        def on_ping(self, data: bytes) -> None:
            self.events.append(("ping", data))

        def on_pong(self, data: bytes) -> None:
            self.events.append(("pong", data))

        def on_close(self) -> None:
            self.events.append(("close", self.close_code, self.close_reason))

    class Echo(Recording):
        def on_message(self, message: Any) -> Any:
            self.events.append(("message", message))
            return self.write_message(message, binary=isinstance(message, bytes))

    class Subprotocol(Echo):
        def select_subprotocol(self, subprotocols: List[str]) -> Optional[str]:
            self.events.append(("select", subprotocols))
            return "b" if "b" in subprotocols else None

    class CloseOnMessage(Recording):
        def on_message(self, message: Any) -> None:
            self.close(4000, message)

    class Raises(Recording):
        def on_message(self, message: Any) -> None:
            raise ZeroDivisionError("boom")

    class AsyncOrdered(Recording):
        async def on_message(self, message: Any) -> None:
            self.events.append(("start", message))
            await asyncio.sleep(0.01)
            self.events.append(("end", message))
            await self.write_message(message)

    class Json(Recording):
        def on_message(self, message: Any) -> None:
            self.write_message({"got": message})

    class Methods(Recording):
        def open(self) -> None:
            outcome = []
            for name in ("write", "finish", "flush", "set_status", "set_header",
                         "set_cookie", "redirect"):
                method = getattr(self, name)
                try:
                    if name in ("set_header", "set_cookie"):
                        method("X", "y")
                    elif name in ("write", "redirect"):
                        method("/x")
                    elif name == "set_status":
                        method(500)
                    else:
                        method()
                except RuntimeError as e:
                    outcome.append((name, str(e)))
            self.write_message(repr(outcome))

    class Pinger(Recording):
        def on_message(self, message: Any) -> None:
            self.ping(message)

    class Limited(Echo):
        @property
        def max_message_size(self) -> int:
            return 64

    return dict(
        Echo=Echo, Subprotocol=Subprotocol, CloseOnMessage=CloseOnMessage,
        Raises=Raises, AsyncOrdered=AsyncOrdered, Json=Json, Methods=Methods,
        Pinger=Pinger, Limited=Limited,
    )


def routes(impl: Impl, events: List[Any], compression: Any = None) -> List[Any]:
    h = handler_classes(impl)
    kw = dict(events=events, compression=compression)
    return [
        (r"/echo", h["Echo"], kw),
        (r"/args/(\w+)", h["Echo"], kw),
        (r"/sub", h["Subprotocol"], kw),
        (r"/close", h["CloseOnMessage"], kw),
        (r"/raises", h["Raises"], kw),
        (r"/ordered", h["AsyncOrdered"], kw),
        (r"/json", h["Json"], kw),
        (r"/methods", h["Methods"], kw),
        (r"/pinger", h["Pinger"], kw),
        (r"/limited", h["Limited"], kw),
    ]


# --- a raw client -----------------------------------------------------------

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # the RFC 6455 sample nonce


def build_frame(
    opcode: int, payload: bytes, fin: bool = True, rsv: int = 0, mask: bool = True
) -> bytes:
    first = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = bytes([first, mbit | n])
    elif n < 65536:
        head = bytes([first, mbit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([first, mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    @classmethod
    async def handshake(
        cls, port: int, path: str = "/echo", headers: Optional[Dict[str, str]] = None,
        omit: Tuple[str, ...] = (),
    ) -> Tuple["RawClient", int, Dict[str, str], bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        base = {
            "Host": "127.0.0.1:%d" % port,
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": KEY,
            "Sec-WebSocket-Version": "13",
        }
        base.update(headers or {})
        lines = ["GET %s HTTP/1.1" % path]
        lines += ["%s: %s" % (k, v) for k, v in base.items() if k not in omit]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin1").split("\r\n")
        status = int(status_line.split()[1])
        resp: Dict[str, str] = {}
        for line in header_lines:
            if line:
                k, _, v = line.partition(":")
                resp[k.strip().lower()] = v.strip()
        body = b""
        if "content-length" in resp:
            body = await reader.readexactly(int(resp["content-length"]))
        return cls(reader, writer), status, resp, body

    def send(self, opcode: int, payload: bytes, **kw: Any) -> None:
        self.writer.write(build_frame(opcode, payload, **kw))

    async def recv(self) -> Optional[Tuple[bool, int, int, bytes]]:
        """(fin, rsv bits, opcode, payload) or None at EOF."""
        try:
            first, second = await self.reader.readexactly(2)
        except asyncio.IncompleteReadError:
            return None
        n = second & 0x7F
        assert not second & 0x80, "server frames must not be masked"
        if n == 126:
            (n,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
        payload = await self.reader.readexactly(n)
        return bool(first & 0x80), first & 0x70, first & 0x0F, payload

    async def recv_all(self) -> List[Tuple[bool, int, int, bytes]]:
        """Every frame until the server closes the TCP connection."""
        frames = []
        while True:
            frame = await self.recv()
            if frame is None:
                return frames
            frames.append(frame)

    def close(self) -> None:
        self.writer.close()


def raw_session(
    impl: Impl,
    script: Callable[[RawClient, List[Any]], Awaitable[Any]],
    path: str = "/echo",
    headers: Optional[Dict[str, str]] = None,
    compression: Any = None,
    **settings: Any,
) -> Tuple[Any, List[Any]]:
    """Runs ``script`` against an ``impl`` server after a good handshake."""
    events: List[Any] = []

    async def main() -> Any:
        server = Server(impl, routes(impl, events, compression), **settings)
        client, status, _, _ = await RawClient.handshake(server.port, path, headers)
        assert status == 101
        try:
            return await script(client, events)
        finally:
            client.close()
            await asyncio.sleep(0.02)
            await server.stop()

    result = run(main)
    return result, events


def closed_frames(frames: List[Tuple[bool, int, int, bytes]]) -> List[Tuple[int, bytes]]:
    return [(op, payload) for _, _, op, payload in frames]


# --- module-level API -------------------------------------------------------

PUBLIC = [
    "WebSocketHandler", "WebSocketProtocol", "WebSocketProtocol13",
    "WebSocketClientConnection", "websocket_connect", "WebSocketError",
    "WebSocketClosedError",
]


def test_public_names(impl: Impl) -> None:
    ws = impl.websocket
    for name in PUBLIC:
        assert hasattr(ws, name)
    assert issubclass(ws.WebSocketClosedError, ws.WebSocketError)
    assert issubclass(ws.WebSocketHandler, impl.web.RequestHandler)
    assert issubclass(ws.WebSocketProtocol13, ws.WebSocketProtocol)
    assert issubclass(ws.WebSocketClientConnection, impl.simple_httpclient._HTTPConnection)
    assert ws._default_max_message_size == 10 * 1024 * 1024


def _sig(obj: Any) -> List[Tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(obj).parameters.values()]


@pytest.mark.parametrize(
    "path",
    [
        "websocket_connect",
        "WebSocketHandler.__init__", "WebSocketHandler.get", "WebSocketHandler.write_message",
        "WebSocketHandler.close", "WebSocketHandler.ping", "WebSocketHandler.open",
        "WebSocketHandler.on_message", "WebSocketHandler.select_subprotocol",
        "WebSocketHandler.check_origin", "WebSocketHandler.set_nodelay",
        "WebSocketHandler.on_ws_connection_close",
        "WebSocketProtocol13.__init__", "WebSocketProtocol13.write_message",
        "WebSocketProtocol13.close", "WebSocketProtocol13._write_frame",
        "WebSocketProtocol13._handle_message", "WebSocketProtocol13.ping_sleep_time",
        "WebSocketProtocol13.compute_accept_value",
        "WebSocketClientConnection.__init__", "WebSocketClientConnection.close",
        "WebSocketClientConnection.write_message", "WebSocketClientConnection.read_message",
        "WebSocketClientConnection.ping",
        "_PerMessageDeflateCompressor.__init__", "_PerMessageDeflateDecompressor.__init__",
    ],
)
def test_signatures_match(impl: Impl, path: str) -> None:
    import tornado.websocket as ref

    def resolve(mod: Any) -> Any:
        obj = mod
        for part in path.split("."):
            obj = getattr(obj, part)
        return obj

    assert _sig(resolve(impl.websocket)) == _sig(resolve(ref))


def test_compute_accept_value(impl: Impl) -> None:
    p13 = impl.websocket.WebSocketProtocol13
    assert p13.compute_accept_value(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert p13.compute_accept_value(KEY.encode()) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_ping_sleep_time(impl: Impl) -> None:
    f = impl.websocket.WebSocketProtocol13.ping_sleep_time
    assert f(last_ping_time=100.0, interval=10, now=103.0) == 7
    assert f(last_ping_time=100.0, interval=10, now=125.0) == 0
    with pytest.raises(TypeError):
        f(100.0, 10, 103.0)


def test_raise_not_supported(impl: Impl) -> None:
    with pytest.raises(RuntimeError, match="Method not supported for Web Sockets"):
        impl.websocket._raise_not_supported_for_websockets(1, a=2)


@pytest.mark.parametrize("persistent", [True, False])
def test_deflate_roundtrip(impl: Impl, persistent: bool) -> None:
    ws = impl.websocket
    comp = ws._PerMessageDeflateCompressor(persistent, None, {"compression_level": 9})
    decomp = ws._PerMessageDeflateDecompressor(persistent, 15, 1 << 20)
    sizes = []
    for msg in [b"hello hello hello", b"hello hello hello", b"", b"x" * 5000]:
        data = comp.compress(msg)
        assert not data.endswith(b"\x00\x00\xff\xff")
        sizes.append(len(data))
        assert decomp.decompress(data) == msg
    # The reference produces the same bytes for the same settings.
    ref = __import__("tornado.websocket", fromlist=["x"])
    rcomp = ref._PerMessageDeflateCompressor(persistent, None, {"compression_level": 9})
    assert [len(rcomp.compress(m)) for m in
            [b"hello hello hello", b"hello hello hello", b"", b"x" * 5000]] == sizes


def test_deflate_limits(impl: Impl) -> None:
    ws = impl.websocket
    comp = ws._PerMessageDeflateCompressor(False, 9)
    decomp = ws._PerMessageDeflateDecompressor(False, 9, 100)
    assert decomp.decompress(comp.compress(b"a" * 100)) == b"a" * 100
    with pytest.raises(ws._DecompressTooLargeError):
        decomp.decompress(comp.compress(b"a" * 101))
    for bad in (7, 16):
        with pytest.raises(ValueError):
            ws._PerMessageDeflateCompressor(True, bad)
        with pytest.raises(ValueError):
            ws._PerMessageDeflateDecompressor(True, bad, 10)


# --- server handshake (raw client) -----------------------------------------

HANDSHAKES: List[Tuple[str, str, Dict[str, str], Tuple[str, ...]]] = [
    ("ok", "/echo", {}, ()),
    ("plain GET", "/echo", {"Upgrade": "", "Connection": "keep-alive"}, ()),
    ("upgrade h2c", "/echo", {"Upgrade": "h2c"}, ()),
    ("connection list", "/echo", {"Connection": "keep-alive, Upgrade"}, ()),
    ("connection close", "/echo", {"Connection": "close"}, ()),
    ("upgrade case", "/echo", {"Upgrade": "WebSocket"}, ()),
    ("no key", "/echo", {}, ("Sec-WebSocket-Key",)),
    ("no version", "/echo", {}, ("Sec-WebSocket-Version",)),
    ("version 12", "/echo", {"Sec-WebSocket-Version": "12"}, ()),
    ("version 8", "/echo", {"Sec-WebSocket-Version": "8"}, ()),
    ("origin same", "/echo", {"Origin": "http://127.0.0.1:{port}"}, ()),
    ("origin path", "/echo", {"Origin": "http://127.0.0.1:{port}/a/b"}, ()),
    ("origin other", "/echo", {"Origin": "http://example.com"}, ()),
    ("origin no scheme", "/echo", {"Origin": "127.0.0.1:{port}"}, ()),
    ("old origin other", "/echo", {"Sec-Websocket-Origin": "http://example.com"}, ()),
    ("subprotocols", "/sub", {"Sec-WebSocket-Protocol": "a, b ,c"}, ()),
    ("subprotocol none", "/sub", {"Sec-WebSocket-Protocol": "x"}, ()),
    ("deflate offer", "/echo", {"Sec-WebSocket-Extensions":
                                "permessage-deflate; client_max_window_bits"}, ()),
    ("deflate server wbits", "/echo", {"Sec-WebSocket-Extensions":
                                       "permessage-deflate; server_max_window_bits=10"}, ()),
    ("unknown extension", "/echo", {"Sec-WebSocket-Extensions": "x-foo"}, ()),
    ("not found", "/nothing", {}, ()),
]


def handshake_result(impl: Impl, case: Any, compression: Any) -> Any:
    """(status, headers without Date/Server, body) of one handshake."""
    name, path, headers, omit = case
    events: List[Any] = []

    async def main() -> Any:
        server = Server(impl, routes(impl, events, compression))
        hdrs = {k: v.format(port=server.port) for k, v in headers.items()}
        client, status, resp, body = await RawClient.handshake(
            server.port, path, hdrs, omit
        )
        client.close()
        await asyncio.sleep(0.02)
        await server.stop()
        for skip in ("date", "server"):
            resp.pop(skip, None)
        return status, resp, body

    return run(main)


@pytest.mark.parametrize("compression", [None, {}], ids=["nocomp", "comp"])
@pytest.mark.parametrize("case", HANDSHAKES, ids=[c[0] for c in HANDSHAKES])
def test_server_handshake(impl: Impl, case: Any, compression: Any) -> None:
    status, resp, body = handshake_result(impl, case, compression)
    if status == 101:
        assert resp["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    if impl.name != "tornado":
        assert (status, resp, body) == handshake_result(Impl("tornado"), case, compression)


# --- server framing (raw client) -------------------------------------------


def test_text_and_binary_echo(impl: Impl) -> None:
    async def script(c: RawClient, events: List[Any]) -> Any:
        c.send(0x1, "héllo".encode())
        c.send(0x2, b"\x00\xff")
        c.send(0x1, b"")
        c.send(0x1, b"u" * 300)
        c.send(0x2, b"b" * 70000)
        return [await c.recv() for _ in range(5)]

    frames, events = raw_session(impl, script)
    assert frames == [
        (True, 0, 0x1, "héllo".encode()),
        (True, 0, 0x2, b"\x00\xff"),
        (True, 0, 0x1, b""),
        (True, 0, 0x1, b"u" * 300),
        (True, 0, 0x2, b"b" * 70000),
    ]
    assert events[:3] == [("open", (), None), ("message", "héllo"), ("message", b"\x00\xff")]


def test_unmasked_client_frames_accepted(impl: Impl) -> None:
    async def script(c: RawClient, events: List[Any]) -> Any:
        c.send(0x1, b"plain", mask=False)
        return await c.recv()

    frame, _ = raw_session(impl, script)
    assert frame == (True, 0, 0x1, b"plain")


def test_fragmented_with_interleaved_ping(impl: Impl) -> None:
    async def script(c: RawClient, events: List[Any]) -> Any:
        c.send(0x1, b"ab", fin=False)
        c.send(0x9, b"mid")
        c.send(0x0, b"cd", fin=False)
        c.send(0x0, b"ef")
        c.send(0x2, b"1", fin=False)
        c.send(0x0, b"2")
        return [await c.recv() for _ in range(3)], list(events)

    (frames, seen), _ = raw_session(impl, script)
    assert frames == [
        (True, 0, 0xA, b"mid"),
        (True, 0, 0x1, b"abcdef"),
        (True, 0, 0x2, b"12"),
    ]
    assert seen[1:] == [("ping", b"mid"), ("message", "abcdef"), ("message", b"12")]


def test_split_into_single_bytes(impl: Impl) -> None:
    async def script(c: RawClient, events: List[Any]) -> Any:
        data = build_frame(0x1, b"x" * 200) + build_frame(0x1, b"y")
        for i in range(len(data)):
            c.writer.write(data[i : i + 1])
            await c.writer.drain()
        return [await c.recv() for _ in range(2)]

    frames, _ = raw_session(impl, script)
    assert frames == [(True, 0, 1, b"x" * 200), (True, 0, 1, b"y")]


@pytest.mark.parametrize(
    "frames",
    [
        pytest.param([(0x1, b"\xff\xfe", {})], id="bad-utf8"),
        pytest.param([(0x1, b"a", {"rsv": 0x20})], id="rsv2"),
        pytest.param([(0x1, b"a", {"rsv": 0x40})], id="rsv1-without-deflate"),
        pytest.param([(0x3, b"a", {})], id="unknown-opcode"),
        pytest.param([(0xB, b"a", {})], id="unknown-control"),
        pytest.param([(0x9, b"a", {"fin": False})], id="fragmented-ping"),
        pytest.param([(0x9, b"p" * 126, {})], id="long-ping"),
        pytest.param([(0x0, b"a", {})], id="orphan-continuation"),
        pytest.param([(0x1, b"a", {"fin": False}), (0x1, b"b", {})], id="nested-message"),
    ],
)
def test_protocol_violation_aborts(impl: Impl, frames: Any) -> None:
    async def script(c: RawClient, events: List[Any]) -> Any:
        for opcode, payload, kw in frames:
            c.send(opcode, payload, **kw)
        got = await c.recv_all()
        await asyncio.sleep(0.02)
        return got, list(events)

    (got, seen), _ = raw_session(impl, script)
    # No close frame: the connection is just dropped.
    assert got == []
    assert seen[-1] == ("close", None, None)
    assert not [e for e in seen if e[0] == "message"]


def test_message_too_big(impl: Impl) -> None:
    async def script(c: RawClient, events: List[Any]) -> Any:
        c.send(0x1, b"a" * 64)
        echoed = await c.recv()
        c.send(0x1, b"a" * 40, fin=False)
        c.send(0x0, b"a" * 40)
        return echoed, await c.recv_all(), list(events)

    (echoed, got, seen), _ = raw_session(impl, script, path="/limited")
    assert echoed == (True, 0, 1, b"a" * 64)
    assert got == [(True, 0, 0x8, struct.pack("!H", 1009) + b"message too big")]
    assert seen[-1] == ("close", None, None)


def test_max_message_size_setting(impl: Impl) -> None:
    async def script(c: RawClient, events: List[Any]) -> Any:
        c.send(0x2, b"a" * 11)
        return await c.recv_all()

    got, _ = raw_session(impl, script, websocket_max_message_size=10)
    assert got == [(True, 0, 0x8, struct.pack("!H", 1009) + b"message too big")]


@pytest.mark.parametrize(
    "payload",
    [b"", struct.pack("!H", 1000), struct.pack("!H", 1001) + b"going away",
     struct.pack("!H", 4321) + "déjà".encode()],
)
def test_client_initiated_close(impl: Impl, payload: bytes) -> None:
    async def script(c: RawClient, events: List[Any]) -> Any:
        c.send(0x8, payload)
        got = await c.recv_all()
        await asyncio.sleep(0.02)
        return got, list(events)

    (got, seen), _ = raw_session(impl, script)
    assert got == [(True, 0, 0x8, payload[:2])]
    code = struct.unpack("!H", payload[:2])[0] if payload else None
    reason = payload[2:].decode() if len(payload) > 2 else None
    assert seen[-1] == ("close", code, reason)


def test_server_initiated_close(impl: Impl) -> None:
    async def script(c: RawClient, events: List[Any]) -> Any:
        c.send(0x1, b"bye now")
        first = await c.recv()
        c.send(0x8, first[3][:2])
        rest = await c.recv_all()
        await asyncio.sleep(0.02)
        return first, rest, list(events)

    (first, rest, seen), _ = raw_session(impl, script, path="/close")
    assert first == (True, 0, 0x8, struct.pack("!H", 4000) + b"bye now")
    assert rest == []
    assert seen[-1] == ("close", 4000, None)


def test_ping_from_handler(impl: Impl) -> None:
    async def script(c: RawClient, events: List[Any]) -> Any:
        c.send(0x1, b"data")
        ping = await c.recv()
        c.send(0xA, ping[3])
        c.send(0x1, b"p" * 126)  # too long for a ping: on_message raises
        rest = await c.recv_all()
        await asyncio.sleep(0.02)
        return ping, rest, list(events)

    (ping, rest, seen), _ = raw_session(impl, script, path="/pinger")
    assert ping == (True, 0, 0x9, b"data")
    assert ("pong", b"data") in seen
    assert rest == []


def test_error_in_on_message_logs_and_aborts(
    impl: Impl, caplog: pytest.LogCaptureFixture
) -> None:
    async def script(c: RawClient, events: List[Any]) -> Any:
        c.send(0x1, b"x")
        got = await c.recv_all()
        await asyncio.sleep(0.02)
        return got, list(events)

    with caplog.at_level(logging.ERROR, logger="tornado.application"):
        (got, seen), _ = raw_session(impl, script, path="/raises")
    assert got == []
    assert seen[-1] == ("close", None, None)
    records = [r for r in caplog.records if r.name == "tornado.application"]
    assert len(records) == 1
    assert records[0].getMessage().startswith("Uncaught exception GET /raises")


def test_coroutine_on_message_is_serialized(impl: Impl) -> None:
    async def script(c: RawClient, events: List[Any]) -> Any:
        c.send(0x1, b"1")
        c.send(0x1, b"2")
        return [await c.recv() for _ in range(2)], list(events)

    (frames, seen), _ = raw_session(impl, script, path="/ordered")
    assert [f[3] for f in frames] == [b"1", b"2"]
    assert seen[1:] == [("start", "1"), ("end", "1"), ("start", "2"), ("end", "2")]


def test_json_and_path_args(impl: Impl) -> None:
    async def script(c: RawClient, events: List[Any]) -> Any:
        c.send(0x1, b"hi")
        return await c.recv()

    frame, _ = raw_session(impl, script, path="/json")
    assert frame == (True, 0, 1, b'{"got": "hi"}')

    async def script2(c: RawClient, events: List[Any]) -> Any:
        return list(events)

    seen, _ = raw_session(impl, script2, path="/args/abc")
    assert seen == [("open", ("abc",), None)]


def test_http_methods_disabled_after_upgrade(impl: Impl) -> None:
    async def script(c: RawClient, events: List[Any]) -> Any:
        return await c.recv()

    frame, _ = raw_session(impl, script, path="/methods")
    names = ["write", "finish", "flush", "set_status", "set_header", "set_cookie", "redirect"]
    expected = repr([(n, "Method not supported for Web Sockets") for n in names])
    assert frame == (True, 0, 1, expected.encode())


def test_compressed_echo(impl: Impl) -> None:
    offer = {"Sec-WebSocket-Extensions": "permessage-deflate"}
    message = b"compress me " * 20

    async def script(c: RawClient, events: List[Any]) -> Any:
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        decomp = zlib.decompressobj(-15)
        out = []
        for _ in range(2):
            data = comp.compress(message) + comp.flush(zlib.Z_SYNC_FLUSH)
            c.send(0x1, data[:-4], rsv=0x40)
            fin, rsv, op, payload = await c.recv()
            out.append((fin, rsv, op, len(payload) < len(message),
                        decomp.decompress(payload + b"\x00\x00\xff\xff")))
        # An uncompressed message is fine too.
        c.send(0x1, b"plain")
        fin, rsv, op, payload = await c.recv()
        out.append(decomp.decompress(payload + b"\x00\x00\xff\xff"))
        return out

    out, events = raw_session(impl, script, headers=offer, compression={})
    assert out == [
        (True, 0x40, 1, True, message),
        (True, 0x40, 1, True, message),
        b"plain",
    ]
    assert events[1:4] == [("message", message.decode())] * 2 + [("message", "plain")]


def test_compressed_too_big_after_inflate(impl: Impl) -> None:
    offer = {"Sec-WebSocket-Extensions": "permessage-deflate"}

    async def script(c: RawClient, events: List[Any]) -> Any:
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        data = comp.compress(b"a" * 1000) + comp.flush(zlib.Z_SYNC_FLUSH)
        assert len(data) < 64
        c.send(0x1, data[:-4], rsv=0x40)
        return await c.recv_all()

    got, _ = raw_session(impl, script, path="/limited", headers=offer, compression={})
    assert got == [
        (True, 0, 0x8, struct.pack("!H", 1009) + b"message too big after decompression")
    ]


def test_no_context_takeover_negotiated() -> None:
    """tornado_c honours value-less deflate parameters (RFC 7692 7.1.1); the
    reference's header parser drops them, so this is tornado_c only."""
    offer = {"Sec-WebSocket-Extensions":
             "permessage-deflate; server_no_context_takeover; client_no_context_takeover"}
    message = b"repeat repeat repeat " * 10
    impl = Impl("tornado_c")
    events: List[Any] = []

    async def main() -> Any:
        server = Server(impl, routes(impl, events, {}))
        c, status, resp, _ = await RawClient.handshake(server.port, "/echo", offer)
        out = [status, resp.get("sec-websocket-extensions")]
        for _ in range(2):
            comp = zlib.compressobj(6, zlib.DEFLATED, -15)
            data = comp.compress(message) + comp.flush(zlib.Z_SYNC_FLUSH)
            c.send(0x2, data[:-4], rsv=0x40)
            fin, rsv, op, payload = await c.recv()
            # Each reply stands alone: a fresh inflater decodes it.
            fresh = zlib.decompressobj(-15)
            out.append(fresh.decompress(payload + b"\x00\x00\xff\xff"))
        c.close()
        await asyncio.sleep(0.02)
        await server.stop()
        return out

    assert run(main) == [
        101,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        message,
        message,
    ]


@pytest.mark.parametrize(
    "offer,echo",
    [
        ("permessage-deflate; foo=1, permessage-deflate", "permessage-deflate"),
        ("permessage-deflate; server_max_window_bits=99", None),
        ("permessage-deflate; client_max_window_bits=12", "permessage-deflate; client_max_window_bits=12"),
    ],
)
def test_deflate_offers_declined_or_accepted(offer: str, echo: Optional[str]) -> None:
    """An offer we cannot honour is declined (the reference answers 500)."""
    impl = Impl("tornado_c")

    async def main() -> Any:
        server = Server(impl, routes(impl, [], {}))
        c, status, resp, _ = await RawClient.handshake(
            server.port, "/echo", {"Sec-WebSocket-Extensions": offer}
        )
        c.send(0x1, b"ok")
        fin, rsv, op, payload = await c.recv()
        if rsv:
            payload = zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")
        c.close()
        await asyncio.sleep(0.02)
        await server.stop()
        return status, resp.get("sec-websocket-extensions"), bool(rsv), payload

    assert run(main) == (101, echo, echo is not None, b"ok")


def test_short_close_payload(impl: Impl) -> None:
    async def script(c: RawClient, events: List[Any]) -> Any:
        c.send(0x8, b"\x03")
        got = await c.recv_all()
        await asyncio.sleep(0.02)
        return got, list(events)

    (got, seen), _ = raw_session(impl, script)
    assert got == [(True, 0, 0x8, b"")]
    assert seen[-1] == ("close", None, None)


def test_server_ping_interval(impl: Impl) -> None:
    async def script(c: RawClient, events: List[Any]) -> Any:
        pings = []
        for _ in range(2):
            frame = await c.recv()
            pings.append(frame)
            c.send(0xA, frame[3])
        return pings

    pings, events = raw_session(impl, script, websocket_ping_interval=0.02)
    assert pings == [(True, 0, 0x9, b"")] * 2
    assert ("pong", b"") in events


def test_server_ping_timeout_closes(impl: Impl) -> None:
    async def script(c: RawClient, events: List[Any]) -> Any:
        ping = await c.recv()  # never answered
        close = await c.recv()
        c.send(0x8, close[3][:2])
        await c.recv_all()
        await asyncio.sleep(0.02)
        return ping, close, list(events)

    (ping, close, seen), _ = raw_session(
        impl, script, websocket_ping_interval=0.05, websocket_ping_timeout=0.02
    )
    assert ping == (True, 0, 0x9, b"")
    assert close == (True, 0, 0x8, struct.pack("!H", 1000) + b"ping timed out")
    assert seen[-1] == ("close", 1000, None)


def test_ping_timeout_longer_than_interval_warns(
    impl: Impl, caplog: pytest.LogCaptureFixture
) -> None:
    ws = impl.websocket
    ws.de_dupe_gen_log.cache_clear()
    params = ws._WebSocketParams(ping_interval=5, ping_timeout=9)
    proto = ws.WebSocketProtocol13(None, False, params)
    with caplog.at_level(logging.WARNING, logger="tornado.general"):
        assert proto.ping_timeout == 5
        assert proto.ping_timeout == 5
    messages = [r.getMessage() for r in caplog.records if r.name == "tornado.general"]
    assert messages == [
        "The websocket_ping_timeout (9) cannot be longer than the "
        "websocket_ping_interval (5).\nSetting websocket_ping_timeout=5"
    ]
    assert ws.WebSocketProtocol13(None, False, ws._WebSocketParams()).ping_interval == 0
    assert ws.WebSocketProtocol13(
        None, False, ws._WebSocketParams(ping_interval=3)
    ).ping_timeout == 3


# --- client/server pairs ---------------------------------------------------

PAIRS = [("tornado_c", "tornado"), ("tornado", "tornado_c"), ("tornado_c", "tornado_c")]


@pytest.fixture(params=PAIRS, ids=["c-client/ref-server", "ref-client/c-server", "c/c"])
def pair(request: pytest.FixtureRequest) -> Tuple[Impl, Impl]:
    client, server = request.param
    return Impl(client), Impl(server)


def pair_session(
    pair: Tuple[Impl, Impl],
    script: Callable[[Impl, Server, List[Any]], Awaitable[Any]],
    compression: Any = None,
    new_loop: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop,
    **settings: Any,
) -> Any:
    client_impl, server_impl = pair
    events: List[Any] = []

    async def main() -> Any:
        server = Server(server_impl, routes(server_impl, events, compression), **settings)
        try:
            return await script(client_impl, server, events)
        finally:
            await asyncio.sleep(0.02)
            await server.stop()

    return run(main, new_loop=new_loop)


def test_pair_echo(pair: Tuple[Impl, Impl]) -> None:
    async def script(ci: Impl, server: Server, events: List[Any]) -> Any:
        conn = await ci.websocket.websocket_connect(server.url("/echo"))
        out = []
        for msg, binary in [("hello", False), ("héllo", False), (b"\x00\xff", True),
                            ("x" * 70000, False)]:
            fut = conn.write_message(msg, binary=binary)
            await fut
            out.append(await conn.read_message())
        conn.close(1000, "done")
        out.append(await conn.read_message())
        await asyncio.sleep(0.02)
        with pytest.raises(ci.websocket.WebSocketClosedError):
            conn.write_message("late")
        return out, conn.close_code, list(events)

    out, close_code, seen = pair_session(pair, script)
    assert out == ["hello", "héllo", b"\x00\xff", "x" * 70000, None]
    assert close_code == 1000
    assert seen[-1] == ("close", 1000, "done")


@pytest.mark.parametrize(
    "client_opts,server_opts,compressed",
    [
        (None, None, False),
        ({}, None, False),
        (None, {}, False),
        ({}, {}, True),
        ({"compression_level": 1, "mem_level": 5}, {"compression_level": 9}, True),
    ],
)
def test_pair_compression(
    pair: Tuple[Impl, Impl], client_opts: Any, server_opts: Any, compressed: bool
) -> None:
    message = "Hello world. Testing 123 123"

    async def script(ci: Impl, server: Server, events: List[Any]) -> Any:
        conn = await ci.websocket.websocket_connect(
            server.url("/echo"), compression_options=client_opts
        )
        for _ in range(3):
            conn.write_message(message)
            assert await conn.read_message() == message
        p = conn.protocol
        result = (p._message_bytes_in, p._message_bytes_out,
                  p._wire_bytes_in, p._wire_bytes_out)
        conn.close()
        return result

    b_in, b_out, w_in, w_out = pair_session(pair, script, compression=server_opts)
    n = len(message)
    assert (b_in, b_out) == (3 * n, 3 * n)
    if compressed:
        assert w_out == w_in + 12
        assert w_in < 3 * (n + 2)
    else:
        assert (w_in, w_out) == (3 * (n + 2), 3 * (n + 6))


def test_pair_subprotocols(pair: Tuple[Impl, Impl]) -> None:
    async def script(ci: Impl, server: Server, events: List[Any]) -> Any:
        a = await ci.websocket.websocket_connect(server.url("/sub"), subprotocols=["a", "b"])
        b = await ci.websocket.websocket_connect(server.url("/sub"))
        result = (a.selected_subprotocol, b.selected_subprotocol)
        a.close()
        b.close()
        return result, sorted(e for e in events if e[0] == "select")

    result, selects = pair_session(pair, script)
    assert result == ("b", None)
    assert selects == [("select", []), ("select", ["a", "b"])]


def test_pair_server_close_reason(pair: Tuple[Impl, Impl]) -> None:
    async def script(ci: Impl, server: Server, events: List[Any]) -> Any:
        conn = await ci.websocket.websocket_connect(server.url("/close"))
        conn.write_message("reason text")
        msg = await conn.read_message()
        await asyncio.sleep(0.02)
        conn.close()
        return msg, conn.close_code, conn.close_reason, list(events)

    msg, code, reason, seen = pair_session(pair, script)
    assert (msg, code, reason) == (None, 4000, "reason text")
    assert seen[-1] == ("close", 4000, None)


def test_pair_pings(pair: Tuple[Impl, Impl]) -> None:
    async def script(ci: Impl, server: Server, events: List[Any]) -> Any:
        pongs: List[bytes] = []
        conn = await ci.websocket.websocket_connect(server.url("/echo"))
        conn.protocol.handler.on_pong = pongs.append  # type: ignore[method-assign]
        conn.ping("text")
        conn.ping(b"bytes")
        with pytest.raises(ValueError):
            conn.ping(b"p" * 126)
        conn.write_message("sync")
        assert await conn.read_message() == "sync"
        conn.close()
        return pongs, [e for e in events if e[0] == "ping"]

    pongs, pings = pair_session(pair, script)
    assert pongs == [b"text", b"bytes"]
    assert pings == [("ping", b"text"), ("ping", b"bytes")]


def test_pair_client_ping_interval(pair: Tuple[Impl, Impl]) -> None:
    async def script(ci: Impl, server: Server, events: List[Any]) -> Any:
        conn = await ci.websocket.websocket_connect(
            server.url("/echo"), ping_interval=0.02, ping_timeout=0
        )
        for _ in range(100):
            if len([e for e in events if e[0] == "ping"]) >= 2:
                break
            await asyncio.sleep(0.01)
        conn.close()
        return [e for e in events if e[0] == "ping"][:2]

    assert pair_session(pair, script) == [("ping", b"")] * 2


def test_pair_client_max_message_size(pair: Tuple[Impl, Impl]) -> None:
    async def script(ci: Impl, server: Server, events: List[Any]) -> Any:
        conn = await ci.websocket.websocket_connect(server.url("/echo"), max_message_size=10)
        conn.write_message("a" * 10)
        first = await conn.read_message()
        conn.write_message("a" * 11)
        second = await conn.read_message()
        conn.close()
        return first, second, conn.close_code, conn.close_reason

    assert pair_session(pair, script) == ("a" * 10, None, None, None)


def test_pair_on_message_callback(pair: Tuple[Impl, Impl]) -> None:
    async def script(ci: Impl, server: Server, events: List[Any]) -> Any:
        got: List[Any] = []
        done = asyncio.Event()

        def on_message(m: Any) -> None:
            got.append(m)
            if m is None:
                done.set()

        conn = await ci.websocket.websocket_connect(
            server.url("/echo"), on_message_callback=on_message
        )
        conn.write_message("one")
        conn.write_message(b"two", binary=True)
        while len(got) < 2:
            await asyncio.sleep(0.005)
        conn.close()
        await done.wait()
        return got

    assert pair_session(pair, script) == ["one", b"two", None]


def test_pair_http_errors(pair: Tuple[Impl, Impl]) -> None:
    async def script(ci: Impl, server: Server, events: List[Any]) -> Any:
        out = []
        for path, headers in [("/nothing", {}), ("/echo", {"Origin": "http://evil.example"})]:
            req = ci.httpclient.HTTPRequest(server.url(path), headers=headers)
            try:
                await ci.websocket.websocket_connect(req)
            except ci.httpclient.HTTPClientError as e:
                out.append(e.code)
        return out

    assert pair_session(pair, script) == [404, 403]


def test_client_non_websocket_response(impl: Impl) -> None:
    ref = Impl("tornado")

    class Plain(ref.web.RequestHandler):
        def get(self) -> None:
            self.write("ok")

    async def main() -> Any:
        server = Server(ref, [("/", Plain)])
        try:
            with pytest.raises(impl.websocket.WebSocketError) as info:
                await impl.websocket.websocket_connect(server.url("/"))
            return str(info.value)
        finally:
            await server.stop()

    assert run(main) == "Non-websocket response"


def test_client_connect_refused(impl: Impl) -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()

    async def main() -> Any:
        with pytest.raises(OSError):
            await impl.websocket.websocket_connect("ws://127.0.0.1:%d/" % port)

    run(main)


def test_client_callback_deprecated(impl: Impl) -> None:
    ref = Impl("tornado")
    events: List[Any] = []

    async def main() -> Any:
        server = Server(ref, routes(ref, events))
        got: List[Any] = []
        try:
            with pytest.warns(DeprecationWarning, match="callback argument to websocket_connect"):
                fut = impl.websocket.websocket_connect(server.url("/echo"), callback=got.append)
            conn = await fut
            await asyncio.sleep(0.01)
            assert got and got[0].result() is conn
            conn.close()
        finally:
            await asyncio.sleep(0.02)
            await server.stop()

    run(main)


def test_client_rejects_bad_scheme(impl: Impl) -> None:
    async def main() -> Any:
        with pytest.raises(KeyError):
            impl.websocket.websocket_connect("http://127.0.0.1:1/")

    run(main)


def test_loops_echo_and_compression(
    pair: Tuple[Impl, Impl], loop_factory: Callable[[], asyncio.AbstractEventLoop]
) -> None:
    """Echo, compression and closing on asyncio's loop and the native one."""

    async def script(ci: Impl, server: Server, events: List[Any]) -> Any:
        conn = await ci.websocket.websocket_connect(
            server.url("/echo"), compression_options={}
        )
        out = []
        for msg in ["a" * 10, b"\x01" * 200000, "z"]:
            await conn.write_message(msg, binary=isinstance(msg, bytes))
            out.append(await conn.read_message())
        conn.close(1001)
        out.append(await conn.read_message())
        await asyncio.sleep(0.02)
        return out, list(events)

    out, seen = pair_session(pair, script, compression={}, new_loop=loop_factory)
    assert out == ["a" * 10, b"\x01" * 200000, "z", None]
    assert seen[-1] == ("close", 1001, None)


# --- the frame codec (tornado_c only) ---------------------------------------


def codec(max_size: int = 1 << 20, mask: bool = False) -> Any:
    from tornado_c.websocket import _FrameCodec

    return _FrameCodec(mask, max_size)


CODEC_CASES: List[Tuple[str, bytes, List[Any]]] = [
    ("short text", build_frame(1, b"hi"), [(1, b"hi", False)]),
    ("unmasked", build_frame(2, b"\x00", mask=False), [(2, b"\x00", False)]),
    ("16-bit length", build_frame(1, b"a" * 300), [(1, b"a" * 300, False)]),
    ("64-bit length", build_frame(2, b"b" * 70000), [(2, b"b" * 70000, False)]),
    ("two frames", build_frame(1, b"a") + build_frame(1, b"b"),
     [(1, b"a", False), (1, b"b", False)]),
    ("fragments", build_frame(1, b"a", fin=False) + build_frame(9, b"p")
     + build_frame(0, b"b", fin=False) + build_frame(0, b"c"),
     [(9, b"p", False), (1, b"abc", False)]),
    ("close", build_frame(8, b"\x03\xe8ok"), [(8, b"\x03\xe8ok", False)]),
    ("empty", build_frame(1, b""), [(1, b"", False)]),
]


@pytest.mark.parametrize("case", CODEC_CASES, ids=[c[0] for c in CODEC_CASES])
@pytest.mark.parametrize("split", ["whole", "bytewise"])
def test_codec_parse(case: Any, split: str) -> None:
    _, data, expected = case
    c = codec()
    got = []
    chunks = [data] if split == "whole" else [data[i : i + 1] for i in range(len(data))]
    for chunk in chunks:
        c.feed(chunk)
        while True:
            unit = c.next_message()
            if unit is None:
                break
            got.append(unit)
    assert got == expected
    assert c.wire_bytes_in == len(data)


@pytest.mark.parametrize(
    "data,error",
    [
        (build_frame(1, b"a", rsv=0x40), "_FrameProtocolError"),
        (build_frame(9, b"a", fin=False), "_FrameProtocolError"),
        (build_frame(0, b"a"), "_FrameProtocolError"),
        (build_frame(1, b"a", fin=False) + build_frame(2, b"b"), "_FrameProtocolError"),
        (bytes([0x89, 126, 0, 200]), "_FrameProtocolError"),
        (build_frame(1, b"a" * 11), "_FrameTooLargeError"),
        (build_frame(1, b"a" * 6, fin=False) + build_frame(0, b"a" * 5)[:4],
         "_FrameTooLargeError"),
    ],
)
def test_codec_errors(data: bytes, error: str) -> None:
    import tornado_c.websocket as tw

    c = codec(max_size=10)
    c.feed(data)
    with pytest.raises(getattr(tw, error)):
        while c.next_message() is not None:
            pass


def test_codec_compressed_flag() -> None:
    c = codec()
    c.allow_compression = True
    c.feed(build_frame(1, b"z", rsv=0x40, fin=False) + build_frame(0, b"y"))
    assert c.next_message() == (1, b"zy", True)
    c.feed(build_frame(0x9, b"", rsv=0x40))
    import tornado_c.websocket as tw

    with pytest.raises(tw._FrameProtocolError):
        c.next_message()


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
@pytest.mark.parametrize("mask", [False, True])
def test_codec_build_roundtrip(size: int, mask: bool) -> None:
    import tornado.websocket as ref

    payload = os.urandom(size)
    c = codec(mask=mask)
    frame = c.build(True, 2, payload)
    if not mask:
        # Byte-identical to the reference's encoder.
        proto = ref.WebSocketProtocol13(None, False, ref._WebSocketParams())

        class Sink:
            data = b""

            def write(self, b: bytes) -> None:
                Sink.data = b

        proto.stream = Sink()  # type: ignore[assignment]
        proto._write_frame(True, 2, payload)
        assert frame == Sink.data
    parser = codec()
    parser.feed(frame)
    assert parser.next_message() == (2, payload, False)


def test_codec_build_control_limits() -> None:
    c = codec()
    with pytest.raises(ValueError, match="fragmented"):
        c.build(False, 0x9, b"")
    with pytest.raises(ValueError, match="125"):
        c.build(True, 0x8, b"x" * 126)
    assert c.build(False, 0x1, b"a") == b"\x01\x01a"
    assert c.build(True, 0x1, b"a", 0x40) == b"\xc1\x01a"

