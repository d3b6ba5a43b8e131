"""A non-blocking, single-threaded TCP server (Tornado's
``tornado.tcpserver``)."""

from __future__ import annotations

import asyncio
import os
from errno import ECONNABORTED, EINVAL
import socket
import ssl
from functools import partial
from types import CoroutineType
from typing import Any, Awaitable, Dict, Iterable, List, Optional, Union, Callable

from tornado_c import gen, process
from tornado_c.iostream import IOStream, SSLIOStream
from tornado_c.ioloop import IOLoop
from tornado_c.log import app_log
from tornado_c.netutil import (
    _DEFAULT_BACKLOG,
    add_accept_handler,
    bind_sockets,
    ssl_wrap_socket,
)
from tornado_c.util import errno_from_exception

__all__ = ["TCPServer"]

# Errors from wrapping a freshly accepted socket that only mean the peer
# already went away (e.g. a port scanner): EINVAL from getpeername on
# macOS, ECONNABORTED elsewhere.  Such connections are dropped quietly.
_VANISHED_PEER_ERRNOS = (ECONNABORTED, EINVAL)


def _handler_result(done: "asyncio.Future[Any]") -> None:
    # Raises what the handler raised, for IOLoop._run_callback to log.
    done.result()


def _handler_done(task: "asyncio.Task[Any]") -> None:
    # A handle_stream coroutine finished: what gen.convert_yielded and
    # IOLoop.add_future would each register a done callback for, in one.
    io_loop = IOLoop.current()
    io_loop._unregister_task(task)
    io_loop._run_callback(partial(_handler_result, task))


_CONVERT_YIELDED = gen.convert_yielded


def _watch_handler(outcome: Awaitable[None]) -> None:
    """Run what handle_stream returned (a coroutine becomes a task) and
    log its errors, as ``add_future(convert_yielded(outcome), ...)`` does.

    A coroutine (the usual case) gets its task and a single done callback
    directly: that task lives as long as its connection, and each callback
    and the objects behind it are memory an idle connection holds.
    """
    io_loop = IOLoop.current()
    if (
        type(outcome) is CoroutineType
        and gen.convert_yielded is _CONVERT_YIELDED
        and len(gen._converters) == 1
    ):
        task = asyncio.ensure_future(outcome)
        io_loop._register_task(task)
        task.add_done_callback(_handler_done)
        return
    io_loop.add_future(gen.convert_yielded(outcome), _handler_result)


def _check_ssl_files(options: Dict[str, Any]) -> None:
    # Catch missing certificate/key files at construction time rather than
    # on the first TLS handshake.  ``certfile`` may also carry the key.
    if "certfile" not in options:
        raise KeyError('missing key "certfile" in ssl_options')
    for key in ("certfile", "keyfile"):
        if key in options and not os.path.exists(options[key]):
            raise ValueError('%s "%s" does not exist' % (key, options[key]))


class TCPServer:
    r"""A non-blocking, single-threaded TCP server.

    Subclass it and implement `handle_stream`, which is handed an
    `.IOStream` for every accepted connection.  A line-echo server::

      from tornado_c.iostream import StreamClosedError
      from tornado_c.tcpserver import TCPServer

      class LineEcho(TCPServer):
          async def handle_stream(self, stream, address):
              try:
                  while True:
                      line = await stream.read_until(b"\n")
                      await stream.write(line)
              except StreamClosedError:
                  pass

    For TLS, pass ``ssl_options``: an `ssl.SSLContext`, or (the older
    form) a dict of `ssl.SSLContext.wrap_socket` keyword arguments.

    Ways to start serving:

    1. `listen` — one process; binds and starts accepting right away::

            async def main():
                server = LineEcho()
                server.listen(8888)
                await asyncio.Event().wait()

    2. `add_sockets` — for several processes: create the sockets with
       `.bind_sockets`, call `.fork_processes`, then give each child's
       server the sockets.
    3. `bind` + `start` (deprecated) — ``server.bind(8888)`` then
       ``server.start(0)``, which forks before accepting.
    """

    def __init__(
        self,
        ssl_options: Optional[Union[Dict[str, Any], ssl.SSLContext]] = None,
        max_buffer_size: Optional[int] = None,
        read_chunk_size: Optional[int] = None,
    ) -> None:
        if isinstance(ssl_options, dict):
            _check_ssl_files(ssl_options)
        self.ssl_options = ssl_options
        self.max_buffer_size = max_buffer_size
        self.read_chunk_size = read_chunk_size
        # Listening sockets and the callables that unregister them, by fd.
        self._sockets: Dict[int, socket.socket] = {}
        self._handlers: Dict[int, Callable[[], None]] = {}
        # Sockets from bind() waiting for start().
        self._pending_sockets: List[socket.socket] = []
        self._started = False
        self._stopped = False

    def listen(
        self,
        port: int,
        address: Optional[str] = None,
        family: socket.AddressFamily = socket.AF_UNSPEC,
        backlog: int = _DEFAULT_BACKLOG,
        flags: Optional[int] = None,
        reuse_port: bool = False,
    ) -> None:
        """Bind ``port`` and begin accepting connections on it at once.

        Can be called repeatedly to serve several ports; no `start` call is
        needed, though the event loop must be (or later be) running.  The
        arguments are those of `tornado_c.netutil.bind_sockets`.
        """
        self.add_sockets(
            bind_sockets(
                port, address=address, family=family, backlog=backlog,
                flags=flags, reuse_port=reuse_port,
            )
        )

    def add_sockets(self, sockets: Iterable[socket.socket]) -> None:
        """Begin accepting connections on already-bound listening sockets.

        Use it with the list returned by `~tornado_c.netutil.bind_sockets`,
        typically after `tornado_c.process.fork_processes`, when the process
        layout is managed by the application.
        """
        for listener in sockets:
            key = listener.fileno()
            self._sockets[key] = listener
            unregister = add_accept_handler(listener, self._handle_connection)
            self._handlers[key] = unregister

    def add_socket(self, socket: socket.socket) -> None:
        """Like `add_sockets`, for one socket."""
        self.add_sockets([socket])

    def bind(
        self,
        port: int,
        address: Optional[str] = None,
        family: socket.AddressFamily = socket.AF_UNSPEC,
        backlog: int = _DEFAULT_BACKLOG,
        flags: Optional[int] = None,
        reuse_port: bool = False,
    ) -> None:
        """Bind ``port`` now; accepting begins when `start` is called.

        Takes the arguments of `tornado_c.netutil.bind_sockets` and may be
        called several times before `start`.  For a single process,
        `listen` does both steps in one call.

        .. deprecated:: 6.3
           Prefer ``listen()`` or ``add_sockets()`` to the ``bind()`` /
           ``start()`` pair.
        """
        bound = bind_sockets(
            port, address=address, family=family, backlog=backlog,
            flags=flags, reuse_port=reuse_port,
        )
        if not self._started:
            self._pending_sockets.extend(bound)
            return
        self.add_sockets(bound)

    def start(
        self, num_processes: Optional[int] = 1, max_restarts: Optional[int] = None
    ) -> None:
        """Begin accepting on the sockets given to `bind`.

        With the default ``num_processes=1`` everything stays in this
        process.  Any other value forks first via `.fork_processes`: a
        positive number gives that many children, ``None`` or a value
        ``<= 0`` one per CPU core.  ``max_restarts`` is passed along to
        `.fork_processes`.

        Child processes share no memory.  Forking does not mix with
        `.autoreload` (also enabled by ``debug=True`` on a
        `tornado_c.web.Application`), and is unavailable on Windows.

        .. deprecated:: 6.3
           Prefer ``listen()`` or ``add_sockets()`` to the ``bind()`` /
           ``start()`` pair.
        """
        assert not self._started
        self._started = True
        forking = num_processes != 1
        if forking:
            process.fork_processes(num_processes, max_restarts)
        waiting, self._pending_sockets = self._pending_sockets, []
        self.add_sockets(waiting)

    def stop(self) -> None:
        """Close the listening sockets; accept no more connections.

        Connections that were already accepted are left alone.
        """
        if not self._stopped:
            self._stopped = True
            for key in list(self._sockets):
                listener = self._sockets[key]
                assert listener.fileno() == key
                # Stop watching the fd before it is closed.
                remove = self._handlers.pop(key)
                remove()
                listener.close()

    def handle_stream(
        self, stream: IOStream, address: tuple
    ) -> Optional[Awaitable[None]]:
        """Called with an `.IOStream` for each new connection; override it.

        May be a coroutine: accepting continues while it runs, and an
        exception it raises is logged.

        With ``ssl_options`` set, the TLS handshake may still be in
        progress when this is called; await
        `.SSLIOStream.wait_for_handshake` before looking at the peer's
        certificate or the negotiated protocol.
        """
        raise NotImplementedError()

    def _handle_connection(self, connection: socket.socket, address: Any) -> None:
        tls = self.ssl_options
        if tls is not None:
            try:
                connection = ssl_wrap_socket(
                    connection, tls, server_side=True, do_handshake_on_connect=False
                )
            except ssl.SSLError as exc:
                if exc.args[0] != ssl.SSL_ERROR_EOF:
                    raise
                connection.close()
                return
            except OSError as exc:
                if errno_from_exception(exc) not in _VANISHED_PEER_ERRNOS:
                    raise
                connection.close()
                return
        stream_class = IOStream if tls is None else SSLIOStream
        try:
            stream: IOStream = stream_class(
                connection,
                max_buffer_size=self.max_buffer_size,
                read_chunk_size=self.read_chunk_size,
            )
            outcome = self.handle_stream(stream, address)
            if outcome is not None:
                _watch_handler(outcome)
        except Exception:
            app_log.error("Error in connection callback", exc_info=True)
