"""Differential tests for tornado_c.netutil against Tornado's netutil."""

from __future__ import annotations

import asyncio
import gc
import inspect
import os
import socket
import ssl
import tempfile
from typing import Any, Awaitable, Callable

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.path.dirname(HERE), "tornado_c", "testing_data")
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
    [
        "bind_sockets",
        "bind_unix_socket",
        "add_accept_handler",
        "is_valid_ip",
        "ssl_options_to_context",
        "ssl_wrap_socket",
    ],
)
def test_signatures(name: str) -> None:
    import tornado.netutil as ref

    import tornado_c.netutil as ours

    assert _params(getattr(ours, name)) == _params(getattr(ref, name))


def test_constants(impl: Any) -> None:
    netutil = impl.mod("netutil")
    assert netutil._DEFAULT_BACKLOG == 128
    assert isinstance(netutil._client_ssl_defaults, ssl.SSLContext)
    assert netutil._client_ssl_defaults.verify_mode == ssl.CERT_REQUIRED
    assert netutil._client_ssl_defaults.check_hostname
    assert netutil._server_ssl_defaults.verify_mode == ssl.CERT_NONE
    assert netutil._client_ssl_defaults.options & ssl.OP_NO_COMPRESSION
    assert netutil._SSL_CONTEXT_KEYWORDS == frozenset(
        ["ssl_version", "certfile", "keyfile", "cert_reqs", "ca_certs", "ciphers"]
    )


def test_bind_sockets(impl: Any) -> None:
    netutil = impl.mod("netutil")
    socks = netutil.bind_sockets(0, "127.0.0.1")
    try:
        assert len(socks) == 1
        s = socks[0]
        assert s.family == socket.AF_INET
        assert s.getsockname()[0] == "127.0.0.1"
        assert not s.get_inheritable()
        assert not s.getblocking()
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
    finally:
        for s in socks:
            s.close()


def test_bind_sockets_empty_address_and_family(impl: Any) -> None:
    netutil = impl.mod("netutil")
    socks = netutil.bind_sockets(0, "", family=socket.AF_INET)
    try:
        assert [s.getsockname()[0] for s in socks] == ["0.0.0.0"]
    finally:
        for s in socks:
            s.close()


def test_bind_sockets_same_port_localhost(impl: Any) -> None:
    netutil = impl.mod("netutil")
    socks = netutil.bind_sockets(0, "localhost")
    try:
        ports = {s.getsockname()[1] for s in socks}
        assert len(ports) == 1
    finally:
        for s in socks:
            s.close()


def test_bind_sockets_reuse_port(impl: Any) -> None:
    netutil = impl.mod("netutil")
    [a] = netutil.bind_sockets(0, "127.0.0.1", reuse_port=True)
    try:
        assert a.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
        [b] = netutil.bind_sockets(a.getsockname()[1], "127.0.0.1", reuse_port=True)
        b.close()
    finally:
        a.close()


# The reference leaks the socket on these error paths (tornado_c closes it):
# collect it here so its ResourceWarning is attributed to this test.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_bind_sockets_in_use(impl: Any) -> None:
    netutil = impl.mod("netutil")
    [a] = netutil.bind_sockets(0, "127.0.0.1")
    try:
        with pytest.raises(OSError):
            netutil.bind_sockets(a.getsockname()[1], "127.0.0.1")
    finally:
        a.close()
    gc.collect()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_bind_unix_socket(impl: Any) -> None:
    netutil = impl.mod("netutil")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "sock")
        s = netutil.bind_unix_socket(path)
        assert oct(os.stat(path).st_mode & 0o777) == oct(0o600)
        assert not s.get_inheritable()
        s.close()
        # An existing socket file is replaced.
        s = netutil.bind_unix_socket(path, mode=0o640)
        assert oct(os.stat(path).st_mode & 0o777) == oct(0o640)
        s.close()
        other = os.path.join(d, "file")
        open(other, "w").close()
        with pytest.raises(ValueError):
            netutil.bind_unix_socket(other)
        gc.collect()
        # Abstract namespace: no file.
        name = "\0tornado_c-test-%d-%s" % (os.getpid(), impl.name)
        s = netutil.bind_unix_socket(name)
        assert s.getsockname() == name.encode() or s.getsockname() == name
        s.close()


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",
        "4.4.4.4",
        "::1",
        "::ffff:127.0.0.1",
        "fe80::1%lo",
        "",
        " ",
        "localhost",
        "www.google.com",
        "1.2.3.256",
        "1.2.3",
        "a" * 100,
        "\x00",
        "127.0.0.1\x00",
        ":::",
    ],
)
def test_is_valid_ip(impl: Any, ip: str) -> None:
    import tornado.netutil as ref

    assert impl.mod("netutil").is_valid_ip(ip) == ref.is_valid_ip(ip)


def test_add_accept_handler(impl: Any, loop: asyncio.AbstractEventLoop) -> None:
    netutil = impl.mod("netutil")

    async def main() -> list:
        [listener] = netutil.bind_sockets(0, "127.0.0.1")
        got: asyncio.Queue = asyncio.Queue()

        def cb(conn: socket.socket, addr: Any) -> None:
            got.put_nowait((conn, addr))

        remove = netutil.add_accept_handler(listener, cb)
        clients = []
        try:
            for _ in range(3):
                c = socket.socket()
                c.setblocking(False)
                try:
                    c.connect(listener.getsockname())
                except BlockingIOError:
                    pass
                clients.append(c)
            out = []
            for c in clients:
                conn, addr = await got.get()
                out.append(addr[0])
                conn.close()
            remove()
            # After removal no more connections are accepted.
            c = socket.socket()
            c.setblocking(False)
            try:
                c.connect(listener.getsockname())
            except BlockingIOError:
                pass
            clients.append(c)
            await asyncio.sleep(0.05)
            out.append(got.qsize())
            return out
        finally:
            for c in clients:
                c.close()
            listener.close()

    assert run(loop, main) == ["127.0.0.1"] * 3 + [0]


def test_resolver_configurable(impl: Any) -> None:
    netutil = impl.mod("netutil")
    assert netutil.Resolver.configurable_base() is netutil.Resolver
    assert netutil.Resolver.configurable_default() is netutil.DefaultLoopResolver
    r = netutil.Resolver()
    assert type(r) is netutil.DefaultLoopResolver
    r.close()
    saved = netutil.Resolver._save_configuration()
    try:
        netutil.Resolver.configure(netutil.DefaultExecutorResolver)
        assert type(netutil.Resolver()) is netutil.DefaultExecutorResolver
    finally:
        netutil.Resolver._restore_configuration(saved)


@pytest.mark.parametrize(
    "name",
    [
        "DefaultLoopResolver",
        "DefaultExecutorResolver",
        "BlockingResolver",
        "ThreadedResolver",
        "ExecutorResolver",
    ],
)
def test_resolvers(impl: Any, loop: asyncio.AbstractEventLoop, name: str) -> None:
    netutil = impl.mod("netutil")

    async def main() -> list:
        resolver = getattr(netutil, name)()
        try:
            result = await resolver.resolve("127.0.0.1", 80)
            v4 = await resolver.resolve("localhost", 81, socket.AF_INET)
            try:
                await resolver.resolve("an.invalid", 80)
                failed = "no error"
            except IOError:
                failed = "IOError"
            return [result, v4, failed]
        finally:
            resolver.close()

    assert run(loop, main) == [
        [(socket.AF_INET, ("127.0.0.1", 80))],
        [(socket.AF_INET, ("127.0.0.1", 81))],
        "IOError",
    ]


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.1", "::1", "::ffff:127.0.0.1", "localhost", "127..1", "1.2.3.4.5",
             "\u00ff.invalid", ""])
@pytest.mark.parametrize("family", [socket.AF_UNSPEC, socket.AF_INET, socket.AF_INET6])
def test_default_loop_resolver_answers_as_getaddrinfo(
    impl: Any, loop: asyncio.AbstractEventLoop, host: str, family: int
) -> None:
    # DefaultLoopResolver answers address literals itself (no executor trip)
    # and looks names up through the loop: either way the same entries as
    # the loop's getaddrinfo, and the same failures.
    netutil = impl.mod("netutil")

    def outcome(entries: Any) -> Any:
        return sorted(set(entries), key=repr)

    async def main() -> list:
        resolver = netutil.DefaultLoopResolver()
        answers = []
        for source in ("resolver", "loop"):
            try:
                if source == "resolver":
                    got = await resolver.resolve(host, 8080, family)
                else:
                    found = await asyncio.get_running_loop().getaddrinfo(
                        host, 8080, family=family, type=socket.SOCK_STREAM)
                    got = [(entry[0], entry[4]) for entry in found]
                answers.append(outcome(got))
            except (OSError, UnicodeError) as exc:
                answers.append(type(exc).__name__)
        resolver.close()
        return answers

    from_resolver, from_loop = run(loop, main)
    assert from_resolver == from_loop


def test_override_resolver(impl: Any, loop: asyncio.AbstractEventLoop) -> None:
    netutil = impl.mod("netutil")

    async def main() -> list:
        mapping = {
            ("google.com", 80): ("127.0.0.1", 8080),
            ("google.com", 80, socket.AF_INET): ("127.0.0.2", 8081),
            "example.com": "127.0.0.3",
        }
        r = netutil.OverrideResolver(resolver=netutil.BlockingResolver(), mapping=mapping)
        try:
            return [
                await r.resolve("google.com", 80, socket.AF_INET),
                await r.resolve("google.com", 80),
                await r.resolve("example.com", 1, socket.AF_INET),
                await r.resolve("127.0.0.5", 2),
            ]
        finally:
            r.close()

    assert run(loop, main) == [
        [(socket.AF_INET, ("127.0.0.2", 8081))],
        [(socket.AF_INET, ("127.0.0.1", 8080))],
        [(socket.AF_INET, ("127.0.0.3", 1))],
        [(socket.AF_INET, ("127.0.0.5", 2))],
    ]


def test_threaded_resolver_pool_shared(impl: Any) -> None:
    netutil = impl.mod("netutil")
    a = netutil.ThreadedResolver()
    b = netutil.ThreadedResolver(num_threads=2)
    assert a.executor is b.executor
    assert not a.close_executor
    a.close()
    b.close()


def test_ssl_options_to_context(impl: Any) -> None:
    netutil = impl.mod("netutil")
    ctx = ssl.create_default_context()
    assert netutil.ssl_options_to_context(ctx) is ctx
    c = netutil.ssl_options_to_context({"certfile": CERT, "keyfile": KEY}, server_side=True)
    assert c.protocol == ssl.PROTOCOL_TLS_SERVER
    assert c.options & ssl.OP_NO_COMPRESSION
    c = netutil.ssl_options_to_context({"cert_reqs": ssl.CERT_NONE}, server_side=False)
    assert c.protocol == ssl.PROTOCOL_TLS_CLIENT
    assert (c.verify_mode, c.check_hostname) == (ssl.CERT_NONE, False)
    c = netutil.ssl_options_to_context(
        {"ca_certs": CERT, "cert_reqs": ssl.CERT_REQUIRED, "ciphers": "HIGH"},
        server_side=False,
    )
    assert c.verify_mode == ssl.CERT_REQUIRED
    with pytest.raises(AssertionError):
        netutil.ssl_options_to_context({"bogus": 1}, server_side=False)
    with pytest.warns(DeprecationWarning):
        c = netutil.ssl_options_to_context({})
    assert c.protocol == ssl.PROTOCOL_TLS


def test_ssl_wrap_socket(impl: Any) -> None:
    netutil = impl.mod("netutil")
    s = socket.socket()
    try:
        w = netutil.ssl_wrap_socket(
            s, {"certfile": CERT, "keyfile": KEY}, server_side=True,
            do_handshake_on_connect=False,
        )
        assert isinstance(w, ssl.SSLSocket)
        assert w.server_side
        w.close()
    finally:
        s.close()
    s = socket.socket()
    try:
        w = netutil.ssl_wrap_socket(
            s, ssl.create_default_context(), server_hostname="foo.example.com",
            do_handshake_on_connect=False,
        )
        assert not w.server_side
        assert w.server_hostname == "foo.example.com"
        w.close()
    finally:
        s.close()


def test_default_loop_resolver_literal_types_and_patched_getaddrinfo(
    impl: Any, loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Address literals come back with AddressFamily members, as from
    socket.getaddrinfo; and a replaced socket.getaddrinfo (a fake DNS in a
    test suite) is what answers them."""
    netutil = impl.mod("netutil")

    async def main() -> list:
        resolver = netutil.DefaultLoopResolver()
        try:
            got = await resolver.resolve("127.0.0.1", 80)
            got6 = await resolver.resolve("::1", 81, socket.AF_INET6)
            calls = []
            real = socket.getaddrinfo

            def fake(*args: Any, **kwargs: Any) -> Any:
                calls.append(args[0])
                return real(*args, **kwargs)

            monkeypatch.setattr(socket, "getaddrinfo", fake)
            await resolver.resolve("127.0.0.2", 82)
            return [got, [type(f) for f, _ in got], got6, calls]
        finally:
            resolver.close()

    got, types, got6, calls = run(loop, main)
    assert got == [(socket.AF_INET, ("127.0.0.1", 80))]
    assert types == [socket.AddressFamily]
    assert got6[0][0] is socket.AF_INET6 and got6[0][1][:2] == ("::1", 81)
    assert len(calls) == 1
