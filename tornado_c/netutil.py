"""Socket-level helpers (Tornado's ``tornado.netutil``).

Covers creating listening sockets (TCP and unix), wiring an accept loop into
the `.IOLoop`, validating IP literals, the pluggable asynchronous `Resolver`
family, and turning ``ssl_options`` dicts into `ssl.SSLContext` objects.

Sockets are created the way Python creates them, i.e. non-inheritable
(close-on-exec), so an ``autoreload`` re-exec does not leak them.
"""

from __future__ import annotations

import _socket
import asyncio
import concurrent.futures

# Tornado's netutil imports this submodule as a side effect of evaluating an
# annotation at import time; code (Tornado's own tests among it) relies on
# ``concurrent.futures.thread`` being importable as an attribute afterwards.
import concurrent.futures.thread  # noqa: F401
import errno
import os
import socket
import ssl
import stat
import sys
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple, Union

from tornado_c.concurrent import dummy_executor, run_on_executor
from tornado_c.ioloop import IOLoop
from tornado_c.util import Configurable, errno_from_exception

__all__ = [
    "bind_sockets",
    "bind_unix_socket",
    "add_accept_handler",
    "is_valid_ip",
    "Resolver",
    "DefaultExecutorResolver",
    "DefaultLoopResolver",
    "ExecutorResolver",
    "BlockingResolver",
    "ThreadedResolver",
    "OverrideResolver",
    "ssl_options_to_context",
    "ssl_wrap_socket",
]


def _disable_tls_compression(ctx: ssl.SSLContext) -> ssl.SSLContext:
    # Compressed TLS leaks plaintext length (CRIME); switch it off wherever
    # the ssl module lets us.
    flag = getattr(ssl, "OP_NO_COMPRESSION", None)
    if flag is not None:
        ctx.options |= flag
    return ctx


# What callers get when they give no ssl_options at all.  Client side: verify
# the peer certificate and host name.  Server side: ask for no client cert.
_client_ssl_defaults = _disable_tls_compression(
    ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
)
_server_ssl_defaults = _disable_tls_compression(
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
)


def _preload_codecs() -> None:
    # The first use of a codec imports it.  Doing that for the first time on a
    # resolver thread can deadlock against the import lock, so do it now.
    for codec in ("idna", "latin1"):
        "warm-up".encode(codec)


_preload_codecs()

# Listen backlog when the caller gives none; add_accept_handler also uses it
# as the cap on accepts handled per readiness notification.
_DEFAULT_BACKLOG = 128


def _allow_address_reuse(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    except OSError as exc:
        # A few socket implementations (e.g. WSL) reject the option; that is
        # harmless, anything else is not.
        if errno_from_exception(exc) != errno.ENOPROTOOPT:
            raise


def _candidate_addresses(
    host: Optional[str], port: int, family: socket.AddressFamily, flags: int
) -> List[Tuple[Any, ...]]:
    infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, 0, flags)
    # Drop exact duplicates (first one wins), then group by address family
    # so IPv4 entries come first; the sort is stable.
    distinct = list(dict.fromkeys(infos))
    distinct.sort(key=lambda info: info[0])
    return distinct


def _is_darwin_link_local(host: Optional[str], af: int, sockaddr: Any) -> bool:
    # On macOS "localhost" also yields fe80::1%lo0 (non-zero scope id), which
    # cannot be bound on the same port as ::1.
    return (
        sys.platform == "darwin"
        and host == "localhost"
        and af == socket.AF_INET6
        and sockaddr[3] != 0
    )


def bind_sockets(
    port: int,
    address: Optional[str] = None,
    family: socket.AddressFamily = socket.AF_UNSPEC,
    backlog: int = _DEFAULT_BACKLOG,
    flags: Optional[int] = None,
    reuse_port: bool = False,
) -> List[socket.socket]:
    """Open non-blocking listening sockets for ``address``:``port``.

    ``address`` is a host name or IP literal; None or ``""`` means every
    local interface.  Since a name can resolve to several addresses (IPv4
    and IPv6, typically) a list of sockets is returned.  ``family`` narrows
    the lookup to ``socket.AF_INET`` or ``socket.AF_INET6``, ``flags`` is
    passed to ``getaddrinfo`` (``AI_PASSIVE`` by default) and ``reuse_port``
    turns on ``SO_REUSEPORT``.  Asking for port 0 lets the OS choose one
    port, which every returned socket then shares.
    """
    if reuse_port and not hasattr(socket, "SO_REUSEPORT"):
        raise ValueError("the platform doesn't support SO_REUSEPORT")
    host = address or None
    if family == socket.AF_UNSPEC and not socket.has_ipv6:
        # getaddrinfo may still offer IPv6 results we would fail to bind.
        family = socket.AF_INET
    lookup_flags = socket.AI_PASSIVE if flags is None else flags

    opened: List[socket.socket] = []
    chosen_port: Optional[int] = None
    try:
        for af, kind, proto, _name, sockaddr in _candidate_addresses(
            host, port, family, lookup_flags
        ):
            if _is_darwin_link_local(host, af, sockaddr):
                continue
            try:
                sock = socket.socket(af, kind, proto)
            except OSError as exc:
                if errno_from_exception(exc) == errno.EAFNOSUPPORT:
                    continue  # address family compiled out / disabled
                raise
            try:
                if chosen_port is not None and sockaddr[1] == 0:
                    # Reuse the port the kernel picked for the first socket.
                    sockaddr = (sockaddr[0], chosen_port, *sockaddr[2:])
                if _setup_and_bind(sock, af, sockaddr, host, reuse_port):
                    chosen_port = sock.getsockname()[1]
                    sock.listen(backlog)
                else:
                    sock.close()
                    continue
            except BaseException:
                sock.close()
                raise
            opened.append(sock)
    except BaseException:
        for earlier in opened:
            earlier.close()
        raise
    return opened


def _setup_and_bind(
    sock: socket.socket, af: int, sockaddr: Any, host: Optional[str], reuse_port: bool
) -> bool:
    """Apply socket options and bind; False means skip this address."""
    if os.name != "nt":
        _allow_address_reuse(sock)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if af == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
        # Without V6ONLY an IPv6 wildcard socket would also claim the IPv4
        # port and clash with the 0.0.0.0 socket.
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.setblocking(False)
    try:
        sock.bind(sockaddr)
    except OSError as exc:
        ipv6_loopback_missing = (
            errno_from_exception(exc) == errno.EADDRNOTAVAIL
            and host == "localhost"
            and sockaddr[0] == "::1"
        )
        if ipv6_loopback_missing:
            # Half-configured IPv6 (common in containers): just skip ::1.
            return False
        raise
    return True


def _remove_stale_socket_file(path: str) -> None:
    try:
        st_mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st_mode):
        raise ValueError("File %s exists and is not a socket", path)
    # Left over from an earlier run; binding would fail while it exists.
    os.remove(path)


if hasattr(socket, "AF_UNIX"):

    def bind_unix_socket(
        file: str, mode: int = 0o600, backlog: int = _DEFAULT_BACKLOG
    ) -> socket.socket:
        """Open a non-blocking listening unix-domain socket at ``file``.

        A leftover socket file at that path is removed first, but any other
        kind of file there is an error (`ValueError`).  The new file gets
        permissions ``mode``.  A name beginning with a NUL byte denotes a
        Linux abstract-namespace socket, which has no file at all.
        """
        in_filesystem = not file.startswith("\0")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            _allow_address_reuse(sock)
            sock.setblocking(False)
            if in_filesystem:
                _remove_stale_socket_file(file)
            sock.bind(file)
            if in_filesystem:
                os.chmod(file, mode)
            sock.listen(backlog)
        except BaseException:
            sock.close()
            raise
        return sock


def add_accept_handler(
    sock: socket.socket, callback: Callable[[socket.socket, Any], None]
) -> Callable[[], None]:
    """Accept connections on listening socket ``sock`` from the `.IOLoop`.

    Each new connection is passed to ``callback(connection, address)``.
    The returned function unregisters the handler; closing ``sock`` stays
    the caller's job.
    """
    loop = IOLoop.current()
    active = True

    def on_readable(fd: Any, events: int) -> None:
        # Bounded so one busy listener cannot monopolise the loop.
        remaining = _DEFAULT_BACKLOG
        while active and remaining > 0:
            remaining -= 1
            try:
                conn, peer = sock.accept()
            except BlockingIOError:
                break  # queue drained
            except ConnectionAbortedError:
                continue  # the client gave up while still queued
            callback(conn, peer)

    def stop_accepting() -> None:
        nonlocal active
        loop.remove_handler(sock)
        active = False

    loop.add_handler(sock, on_readable, IOLoop.READ)
    return stop_accepting


def is_valid_ip(ip: str) -> bool:
    """True if ``ip`` is an IPv4 or IPv6 address literal (no name lookup)."""
    if not ip or "\x00" in ip:
        return False
    try:
        matches = socket.getaddrinfo(
            ip, 0, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST
        )
    except UnicodeError:
        # Over-long labels upset the idna codec before any lookup happens.
        return False
    except socket.gaierror as exc:
        if exc.args[0] != socket.EAI_NONAME:
            raise
        return False
    return len(matches) > 0


class Resolver(Configurable):
    """Base class for non-blocking host name lookups.

    A `.Configurable`: instantiating ``Resolver()`` yields
    `DefaultLoopResolver` unless ``Resolver.configure`` chose another
    implementation, such as `DefaultExecutorResolver`, `ThreadedResolver`,
    `BlockingResolver`, or an `OverrideResolver` around one of those.
    """

    @classmethod
    def configurable_base(cls) -> type:
        return Resolver

    @classmethod
    def configurable_default(cls) -> type:
        return DefaultLoopResolver

    def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> Awaitable[List[Tuple[int, Any]]]:
        """Look up ``host`` and ``port``.

        ``family`` is ``socket.AF_INET``, ``socket.AF_INET6`` or
        ``socket.AF_UNSPEC`` (either).  The awaitable produces a list of
        ``(family, sockaddr)`` pairs, each ``sockaddr`` ready for
        ``socket.connect``; failure to resolve raises `IOError`.
        """
        raise NotImplementedError()

    def close(self) -> None:
        """Release whatever the resolver holds (no-op by default)."""
        pass


def _resolve_addr(
    host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
) -> List[Tuple[int, Any]]:
    # Passing SOCK_STREAM avoids a spurious failure on Solaris for ports it
    # has no service entry for; only family and address are kept.
    found = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
    return [(entry[0], entry[4]) for entry in found]


class DefaultExecutorResolver(Resolver):
    """Blocking ``getaddrinfo`` run via `.IOLoop.run_in_executor`.

    .. deprecated:: 6.2
       Use `DefaultLoopResolver` instead.
    """

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> List[Tuple[int, Any]]:
        loop = IOLoop.current()
        answer = await loop.run_in_executor(None, _resolve_addr, host, port, family)
        return answer


class DefaultLoopResolver(Resolver):
    """Lookups delegated to the asyncio loop's own ``getaddrinfo``."""

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> List[Tuple[int, Any]]:
        try:
            # An address literal needs no lookup: answered here, without the
            # trip through the executor (same entries as the full call).  An
            # ASCII name is passed as bytes, which getaddrinfo takes as they
            # are: a str would go through the IDNA codec first, in Python
            # (more than half the cost), to the same bytes for any literal.
            literal = host.encode("ascii") if type(host) is str and host.isascii() else host
            if socket.getaddrinfo is _SOCKET_GETADDRINFO:
                # socket.getaddrinfo without its Python wrapper, which makes
                # enums of every entry's family and type through Enum calls;
                # the family becomes the same member below.
                raw = _socket.getaddrinfo(
                    literal, port, family, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST
                )
                return [(_FAMILIES.get(entry[0], entry[0]), entry[4]) for entry in raw]
            found = socket.getaddrinfo(
                literal, port, family, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST
            )
        except (socket.gaierror, UnicodeError, TypeError):
            aio_loop = asyncio.get_running_loop()
            found = await aio_loop.getaddrinfo(
                host, port, family=family, type=socket.SOCK_STREAM
            )
        return [(entry[0], entry[4]) for entry in found]


# For DefaultLoopResolver: the function it may bypass (a replacement, such as
# a test's fake DNS, is always called), and the AddressFamily member of each
# value, as socket.getaddrinfo converts it (an unknown value stays an int).
_SOCKET_GETADDRINFO = socket.getaddrinfo
_FAMILIES: Dict[int, socket.AddressFamily] = {int(f): f for f in socket.AddressFamily}


class ExecutorResolver(Resolver):
    """Runs blocking lookups on a `concurrent.futures.Executor`.

    Without ``executor`` a `.DummyExecutor` is used, i.e. the lookup blocks
    the caller.  ``close_executor`` decides whether `close` also shuts the
    executor down (never for the dummy one).

    .. deprecated:: 5.0
       The default `Resolver` uses `.IOLoop.run_in_executor`; use that.
    """

    executor: Optional[concurrent.futures.Executor]
    close_executor: bool

    def initialize(
        self,
        executor: Optional[concurrent.futures.Executor] = None,
        close_executor: bool = True,
    ) -> None:
        if executor is None:
            executor, close_executor = dummy_executor, False
        self.executor = executor
        self.close_executor = close_executor

    def close(self) -> None:
        pool = self.executor
        if pool is not None and self.close_executor:
            pool.shutdown()
        self.executor = None

    @run_on_executor
    def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> List[Tuple[int, Any]]:
        return _resolve_addr(host, port, family)


class BlockingResolver(ExecutorResolver):
    """Resolves synchronously in the calling thread (the pre-5.0 default).

    .. deprecated:: 5.0
    """

    def initialize(self) -> None:  # type: ignore[override]
        super().initialize()


class ThreadedResolver(ExecutorResolver):
    """Resolves on a thread pool so the event loop is not blocked.

    The pool (``num_threads`` workers) is created once and shared by every
    instance; a forked child builds its own on first use.

    .. deprecated:: 5.0
    """

    _threadpool: Optional[concurrent.futures.ThreadPoolExecutor] = None
    _threadpool_pid: Optional[int] = None

    def initialize(self, num_threads: int = 10) -> None:  # type: ignore[override]
        shared = ThreadedResolver._create_threadpool(num_threads)
        super().initialize(executor=shared, close_executor=False)

    @classmethod
    def _create_threadpool(
        cls, num_threads: int
    ) -> concurrent.futures.ThreadPoolExecutor:
        me = os.getpid()
        # A pool inherited across fork() has no live threads; replace it.
        if cls._threadpool is None or cls._threadpool_pid != me:
            cls._threadpool = concurrent.futures.ThreadPoolExecutor(num_threads)
            cls._threadpool_pid = me
        return cls._threadpool


class OverrideResolver(Resolver):
    """Redirects chosen lookups, passing everything to another resolver.

    Keys of ``mapping`` are a bare host, a ``(host, port)`` pair or a
    ``(host, port, family)`` triple, most specific match winning; a bare
    host maps to a new host, the tuple forms map to a ``(host, port)``
    pair.  Handy in tests or to patch DNS locally.
    """

    def initialize(self, resolver: Resolver, mapping: dict) -> None:
        self.resolver = resolver
        self.mapping = mapping

    def close(self) -> None:
        self.resolver.close()

    def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> Awaitable[List[Tuple[int, Any]]]:
        table = self.mapping
        for key in ((host, port, family), (host, port)):
            if key in table:
                host, port = table[key]
                break
        else:
            host = table.get(host, host)
        return self.resolver.resolve(host, port, family)


# The keys accepted in an ``ssl_options`` dict.
_SSL_CONTEXT_KEYWORDS = frozenset(
    ["ssl_version", "certfile", "keyfile", "cert_reqs", "ca_certs", "ciphers"]
)


def ssl_options_to_context(
    ssl_options: Union[Dict[str, Any], ssl.SSLContext],
    server_side: Optional[bool] = None,
) -> ssl.SSLContext:
    """Build an `ssl.SSLContext` from an ``ssl_options`` dict.

    A context passed in is returned as is.  A dict may only use the keys
    ``ssl_version``, ``certfile``, ``keyfile``, ``cert_reqs``, ``ca_certs``
    and ``ciphers``.  Without ``ssl_version`` the protocol is
    ``PROTOCOL_TLS_SERVER`` or ``PROTOCOL_TLS_CLIENT`` according to
    ``server_side``, or the deprecated catch-all ``PROTOCOL_TLS`` when
    ``server_side`` is None.
    """
    if isinstance(ssl_options, ssl.SSLContext):
        return ssl_options
    assert isinstance(ssl_options, dict)
    assert _SSL_CONTEXT_KEYWORDS.issuperset(ssl_options), ssl_options
    opts = ssl_options
    if server_side is None:
        protocol = ssl.PROTOCOL_TLS
    else:
        protocol = ssl.PROTOCOL_TLS_SERVER if server_side else ssl.PROTOCOL_TLS_CLIENT
    ctx = ssl.SSLContext(opts.get("ssl_version", protocol))
    if "certfile" in opts:
        ctx.load_cert_chain(opts["certfile"], opts.get("keyfile"))
    if "cert_reqs" in opts:
        wanted = opts["cert_reqs"]
        # check_hostname (on for client contexts) forbids CERT_NONE, so it
        # has to go first.
        if wanted == ssl.CERT_NONE:
            ctx.check_hostname = False
        ctx.verify_mode = wanted
    if "ca_certs" in opts:
        ctx.load_verify_locations(opts["ca_certs"])
    if "ciphers" in opts:
        ctx.set_ciphers(opts["ciphers"])
    return _disable_tls_compression(ctx)


def ssl_wrap_socket(
    socket: socket.socket,
    ssl_options: Union[Dict[str, Any], ssl.SSLContext],
    server_hostname: Optional[str] = None,
    server_side: Optional[bool] = None,
    **kwargs: Any,
) -> ssl.SSLSocket:
    """Wrap ``socket`` in TLS and return the `ssl.SSLSocket`.

    ``ssl_options`` is a context or a dict for `ssl_options_to_context`.
    ``server_hostname`` drives SNI and host name checking; remaining keyword
    arguments are forwarded to `ssl.SSLContext.wrap_socket`.
    """
    ctx = ssl_options_to_context(ssl_options, server_side=server_side)
    return ctx.wrap_socket(
        socket,
        server_side=bool(server_side),
        server_hostname=server_hostname,
        **kwargs,
    )
