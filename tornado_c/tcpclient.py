"""A non-blocking TCP connection factory (Tornado's ``tornado.tcpclient``).

Connects with "happy eyeballs" (RFC 6555): addresses of the first family
are tried in turn, and the other family is started in parallel if the first
attempt has not finished within a short timeout.
"""

from __future__ import annotations

import datetime
import functools
import numbers
import socket
import ssl
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple, Union

from tornado_c import gen
from tornado_c.concurrent import Future, future_add_done_callback
from tornado_c.gen import TimeoutError
from tornado_c.ioloop import IOLoop
from tornado_c.iostream import IOStream
from tornado_c.netutil import Resolver

__all__ = ["TCPClient"]

# Head start (seconds) given to the preferred address family before the
# other family is tried in parallel.
_INITIAL_CONNECT_TIMEOUT = 0.3


class _Connector:
    """Races connection attempts across address families (RFC 6555).

    Addresses are grouped by family; the family of the resolver's first
    answer goes first.  Each family works through its own addresses one
    at a time.  The second family joins as soon as the first one reports
    an error, or when the head-start timer fires, whichever comes first.
    The first attempt to succeed wins and every other stream is closed.
    """

    def __init__(
        self,
        addrinfo: List[Tuple],
        connect: Callable[
            [socket.AddressFamily, Tuple], Tuple[IOStream, "Future[IOStream]"]
        ],
    ) -> None:
        self.connect = connect
        self.io_loop = IOLoop.current()
        self.primary_addrs, self.secondary_addrs = self.split(addrinfo)
        # Attempts not yet finished, counted over both families.
        self.remaining = len(addrinfo)
        self.streams: Set[IOStream] = set()
        self.last_error: Optional[Exception] = None
        self.timeout: Optional[object] = None
        self.connect_timeout: Optional[object] = None
        self.future: Future[Tuple[socket.AddressFamily, Any, IOStream]] = Future()

    @staticmethod
    def split(
        addrinfo: List[Tuple],
    ) -> Tuple[
        List[Tuple[socket.AddressFamily, Tuple]],
        List[Tuple[socket.AddressFamily, Tuple]],
    ]:
        """Group ``(family, address)`` pairs into ``(preferred, others)``.

        The preferred group holds every entry whose family matches the
        first entry's; the other group holds the rest, in their original
        order (usually a single other family, though a custom resolver
        may mix in more).
        """
        lead_family = addrinfo[0][0]
        groups: Tuple[list, list] = ([], [])
        for entry in addrinfo:
            family, address = entry
            groups[0 if family == lead_family else 1].append((family, address))
        return groups

    def start(
        self,
        timeout: float = _INITIAL_CONNECT_TIMEOUT,
        connect_timeout: Optional[Union[float, datetime.timedelta]] = None,
    ) -> "Future[Tuple[socket.AddressFamily, Any, IOStream]]":
        self.try_connect(iter(self.primary_addrs))
        self.set_timeout(timeout)
        if connect_timeout is None:
            return self.future
        self.set_connect_timeout(connect_timeout)
        return self.future

    def try_connect(self, addrs: Iterator[Tuple[socket.AddressFamily, Tuple]]) -> None:
        candidate = next(addrs, None)
        if candidate is None:
            # Nothing left in this family.  Give up only when no attempt
            # of either family is still pending.
            everything_failed = self.remaining == 0
            if everything_failed and not self.future.done():
                reason = self.last_error
                if reason is None:
                    reason = IOError("connection failed")
                self.future.set_exception(reason)
            return
        family, address = candidate
        stream, attempt = self.connect(family, address)
        self.streams.add(stream)
        callback = functools.partial(self.on_connect_done, addrs, family, address)
        future_add_done_callback(attempt, callback)

    def on_connect_done(
        self,
        addrs: Iterator[Tuple[socket.AddressFamily, Tuple]],
        af: socket.AddressFamily,
        addr: Tuple,
        future: "Future[IOStream]",
    ) -> None:
        self.remaining -= 1
        failure = future.exception()
        if failure is None:
            self._won(af, addr, future.result())
            return
        if self.future.done():
            # The race is already decided; this result does not matter.
            return
        self.last_error = failure  # type: ignore[assignment]
        self.try_connect(addrs)
        pending_timer = self.timeout
        if pending_timer is not None:
            # A failure ends the head start early: start the other family.
            self.io_loop.remove_timeout(pending_timer)
            self.on_timeout()

    def _won(self, af: socket.AddressFamily, addr: Tuple, stream: IOStream) -> None:
        self.clear_timeouts()
        race_over = self.future.done()
        if race_over:
            # Someone else finished first (or we timed out): discard.
            stream.close()
            return
        self.future.set_result((af, addr, stream))
        # Close the losers, keeping the winner.
        self.streams.discard(stream)
        self.close_streams()

    def set_timeout(self, timeout: float) -> None:
        deadline = self.io_loop.time() + timeout
        self.timeout = self.io_loop.add_timeout(deadline, self.on_timeout)

    def on_timeout(self) -> None:
        self.timeout = None
        if self.future.done():
            return
        self.try_connect(iter(self.secondary_addrs))

    def clear_timeout(self) -> None:
        handle = self.timeout
        if handle is not None:
            self.io_loop.remove_timeout(handle)

    def set_connect_timeout(
        self, connect_timeout: Union[float, datetime.timedelta]
    ) -> None:
        handle = self.io_loop.add_timeout(connect_timeout, self.on_connect_timeout)
        self.connect_timeout = handle

    def on_connect_timeout(self) -> None:
        outcome = self.future
        if not outcome.done():
            outcome.set_exception(TimeoutError())
        self.close_streams()

    def clear_timeouts(self) -> None:
        for handle in (self.timeout, self.connect_timeout):
            if handle is not None:
                self.io_loop.remove_timeout(handle)

    def close_streams(self) -> None:
        for stream in self.streams:
            stream.close()


def _to_deadline(
    timeout: Optional[Union[float, datetime.timedelta]],
) -> Optional[float]:
    # Relative timeouts (seconds or a timedelta) become absolute loop times
    # so one deadline can bound resolution, connection and the handshake.
    if timeout is None:
        return None
    if isinstance(timeout, datetime.timedelta):
        offset = timeout.total_seconds()
    elif isinstance(timeout, numbers.Real):
        offset = timeout  # type: ignore[assignment]
    else:
        raise TypeError("Unsupported timeout %r" % timeout)
    return IOLoop.current().time() + offset


async def _within(deadline: Optional[float], awaitable: Any) -> Any:
    if deadline is None:
        return await awaitable
    return await gen.with_timeout(deadline, awaitable)


class TCPClient:
    """Opens outgoing TCP (optionally TLS) connections.

    Host names go through ``resolver``; without one, the client makes its
    own `.Resolver` and closes it in `close`.
    """

    def __init__(self, resolver: Optional[Resolver] = None) -> None:
        self._own_resolver = resolver is None
        self.resolver = Resolver() if resolver is None else resolver

    def close(self) -> None:
        if not self._own_resolver:
            return
        self.resolver.close()

    async def connect(
        self,
        host: str,
        port: int,
        af: socket.AddressFamily = socket.AF_UNSPEC,
        ssl_options: Optional[Union[Dict[str, Any], ssl.SSLContext]] = None,
        max_buffer_size: Optional[int] = None,
        source_ip: Optional[str] = None,
        source_port: Optional[int] = None,
        timeout: Optional[Union[float, datetime.timedelta]] = None,
    ) -> IOStream:
        """Open a connection to ``host``:``port``.

        Resolves to an `.IOStream`, or to an `.SSLIOStream` once the TLS
        handshake is done when ``ssl_options`` is given.

        ``source_ip`` and ``source_port`` pick the local address to bind
        before connecting; choosing a particular network interface is
        platform-specific and left to the caller.

        ``timeout`` (seconds, a `datetime.timedelta`, or anything else
        `.IOLoop.add_timeout` accepts) bounds the whole operation —
        resolution, connecting and the handshake; `TimeoutError` is
        raised when it runs out.
        """
        deadline = _to_deadline(timeout)
        addrinfo = await _within(deadline, self.resolver.resolve(host, port, af))

        def make_stream(
            family: socket.AddressFamily, address: Tuple
        ) -> Tuple[IOStream, "Future[IOStream]"]:
            return self._create_stream(
                max_buffer_size, family, address, source_ip=source_ip, source_port=source_port
            )

        if deadline is None and len(addrinfo) == 1:
            # One address and no deadline: the race has a single runner and
            # nothing to cut short, so _Connector's outcome is this attempt's
            # own (its stream, or its error), without the race's futures,
            # callbacks and head-start timer.
            family, address = addrinfo[0]
            _stream, attempt = make_stream(family, address)
            stream = await attempt
        else:
            racer = _Connector(addrinfo, make_stream)
            _family, _address, stream = await racer.start(connect_timeout=deadline)
        if ssl_options is None:
            return stream
        handshake = stream.start_tls(
            False, ssl_options=ssl_options, server_hostname=host
        )
        return await _within(deadline, handshake)

    def _create_stream(
        self,
        max_buffer_size: Optional[int],
        af: socket.AddressFamily,
        addr: Tuple,
        source_ip: Optional[str] = None,
        source_port: Optional[int] = None,
    ) -> Tuple[IOStream, "Future[IOStream]"]:
        # Every attempt starts in plaintext; TLS is layered on afterwards
        # for the winning connection only.
        local_port = source_port if isinstance(source_port, int) else 0
        local_host = source_ip
        if local_port and not local_host:
            # A bare port binds the loopback address of this family.
            local_host = "127.0.0.1" if af != socket.AF_INET6 else "::1"
        sock = socket.socket(af)
        if local_host or local_port:
            try:
                sock.bind((local_host, local_port))
            except OSError:
                # An explicit local address that cannot be bound is the
                # caller's error; report it instead of racing on.
                sock.close()
                raise
        try:
            stream = IOStream(sock, max_buffer_size=max_buffer_size)
        except OSError as err:
            failed: Future[IOStream] = Future()
            failed.set_exception(err)
            return sock, failed  # type: ignore[return-value]
        return stream, stream.connect(addr)
