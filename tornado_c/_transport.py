"""asyncio stream transports of the native loop, on the C stream code.

`SocketTransport` is what the native loop's ``create_connection``,
``create_server``, ``connect_accepted_socket`` and the unix variants (hence
``asyncio.open_connection`` / ``start_server``) give for TCP and unix stream
sockets.  Its hot paths are C (`tornado_c._core.Transport`, on the
`_core.Stream` that IOStream uses); this module makes it from a socket and
holds the rare paths: error reporting and the socket object behind
``get_extra_info('socket')``.
"""

from __future__ import annotations

import socket
import sys
from asyncio import constants, futures, trsock
from asyncio.log import logger
from typing import Any, Optional, Tuple

from tornado_c import _core

__all__ = ["SocketTransport", "stream_kind", "make_socket_transport"]

_TCP_FAMILIES = (socket.AF_INET, socket.AF_INET6)
# The most one read from the socket takes (asyncio's selector transport:
# max_size); data_received gets up to this much per call.
_MAX_READ = 256 * 1024


def stream_kind(sock: socket.socket) -> Optional[int]:
    """The `_core.Stream` kind for sock (0 TCP, 1 unix), or None when the
    native transport does not handle it (asyncio's own one does)."""
    if sock.type != socket.SOCK_STREAM:
        return None
    if sock.family in _TCP_FAMILIES:
        return 0
    if sock.family == socket.AF_UNIX:
        return 1
    return None


class SocketTransport(_core.Transport):
    """An asyncio transport (`asyncio.Transport`) on a native stream."""

    __slots__ = ("_sockinfo",)
    _sockinfo: Tuple[int, int, int]  # family, type, proto of the socket

    _start_tls_compatible = True
    _sendfile_compatible = constants._SendfileMode.TRY_NATIVE

    def _fatal_error(self, exc: BaseException, message: str = "Fatal error on transport") -> None:
        # As asyncio's transports: OS errors are the peer's doing and only
        # logged in debug mode; anything else reaches the exception handler.
        loop = self._loop
        if not isinstance(exc, OSError):
            loop.call_exception_handler(
                {
                    "message": message,
                    "exception": exc,
                    "transport": self,
                    "protocol": self._protocol,
                }
            )
        elif loop.get_debug():
            logger.debug("%r: %s", self, message, exc_info=True)
        self._force_close(exc)

    def _socket_extra(self) -> Optional[trsock.TransportSocket]:
        # The stream owns the connection's only fd; the socket object that
        # get_extra_info('socket') wraps gets a duplicate of its own, made
        # when first asked for and closed with the connection.
        fd = self._sock_fd
        if fd < 0:
            return None
        family, type_, proto = self._sockinfo
        sock = socket.fromfd(fd, family, type_, proto)
        sock.setblocking(False)
        self._sock = sock
        return trsock.TransportSocket(sock)

    async def _sendfile(self, file: Any, offset: int, count: Optional[int]) -> int:
        """loop.sendfile(): os.sendfile on the connection once what is
        queued is written, with reading paused meanwhile."""
        resume = self.is_reading()
        self.pause_reading()
        try:
            await self._make_empty_waiter()
            if self.get_extra_info("socket") is None:
                raise ConnectionError("Connection is closed")
            return await self._loop.sock_sendfile(self._sock, file, offset, count, fallback=False)
        finally:
            self._reset_empty_waiter()
            if resume:
                self.resume_reading()

    async def _sendfile_by_writes(self, file: Any, offset: int, count: Optional[int]) -> int:
        """loop.sendfile() for files os.sendfile cannot send: read in an
        executor and written block by block, each once the last is out."""
        if offset:
            file.seek(offset)
        sent = 0
        try:
            while not count or sent < count:
                size = 16384 if not count else min(16384, count - sent)
                block = await self._loop.run_in_executor(None, file.read, size)
                if not block:
                    break
                await self._make_empty_waiter()
                self._reset_empty_waiter()
                self.write(block)
                sent += len(block)
        finally:
            if sent and hasattr(file, "seek"):
                file.seek(offset + sent)
        return sent


def make_socket_transport(
    loop: Any,
    sock: socket.socket,
    kind: int,
    protocol: Any,
    waiter: Any = None,
    extra: Optional[dict] = None,
    server: Any = None,
) -> SocketTransport:
    """Make the native transport for a connected socket, taking the socket
    over: its fd is closed once the stream holds a duplicate."""
    if extra is None:
        extra = {}
    try:
        extra["sockname"] = sock.getsockname()
    except OSError:
        extra["sockname"] = None
    if "peername" not in extra:
        try:
            extra["peername"] = sock.getpeername()
        except OSError:
            extra["peername"] = None
    # Reads of up to 256 KiB, as asyncio's socket transports make them.
    stream = _core.Stream(loop, sock.fileno(), kind, read_chunk_size=_MAX_READ)
    try:
        if kind == 0:
            stream.set_nodelay(True)
        transport = SocketTransport(loop, stream, protocol, extra, server)
    except BaseException:
        stream.close()
        raise
    transport._sockinfo = (sock.family, sock.type, sock.proto)
    sock.close()
    if server is not None:
        if sys.version_info >= (3, 13):
            server._attach(transport)
        else:
            server._attach()
    loop._transports[transport._sock_fd] = transport
    # asyncio's order: connection_made, then reading, then the waiter.
    loop.call_soon(protocol.connection_made, transport)
    loop.call_soon(transport._start)
    if waiter is not None:
        loop.call_soon(futures._set_result_unless_cancelled, waiter, None)  # type: ignore[attr-defined]
    return transport
