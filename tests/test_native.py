"""Tests of what only tornado_c has: the drop-in runner and alias, the native
loop's own guarantees (fd-number reuse, teardown, signals), and the C Stream
engine under IOStream.  Behaviour shared with asyncio or Tornado is tested
differentially in the other modules."""

from __future__ import annotations

import asyncio
import gc
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
from typing import Any, List, Tuple

import pytest

import tornado_c
from tornado_c import _core

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(code: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, *args, "-c", textwrap.dedent(code)] if code else [sys.executable, *args],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT,
    )


# -- the drop-in runner and the alias --------------------------------------------


def test_version_output() -> None:
    proc = run_python("", "-m", "tornado_c", "--version")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"tornado_c {tornado_c.__version__}"
    assert lines[1] == f"Tornado API {tornado_c.version}"
    assert re.fullmatch(r"libuv \d+\.\d+\.\d+", lines[2])
    assert re.fullmatch(r"llhttp \d+\.\d+\.\d+", lines[3])


def test_runner_aliases_an_unchanged_script(tmp_path: Any) -> None:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent("""
        import asyncio, sys
        import tornado, tornado.web, tornado.ioloop
        from tornado.gen import sleep
        async def main():
            await sleep(0)
            loop = asyncio.get_running_loop()
            print(tornado.__name__, tornado.web.__name__, type(loop).__module__,
                  tornado.ioloop.IOLoop.current().asyncio_loop is loop, sys.argv[1:],
                  __name__)
        asyncio.run(main())
    """))
    proc = run_python("", "-m", "tornado_c", str(script), "a", "b")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [
        "tornado_c", "tornado_c.web", "tornado_c._loop", "True", "['a',", "'b']", "__main__"]


def test_runner_sets_file_and_path_as_python_does(tmp_path: Any) -> None:
    """`python -m tornado_c app.py` gives the script the __file__ (absolute)
    and sys.path[0] that `python app.py` gives it; sys.argv[0] names the same
    file (absolute here: runpy sets it)."""
    (tmp_path / "app.py").write_text(
        "import os, sys\n"
        "print(repr((__file__, os.path.abspath(sys.argv[0]), sys.path[0])))\n")
    for safe in ("", "1"):  # and under -P / PYTHONSAFEPATH, which adds neither directory
        runs = []
        for prefix in ((), ("-m", "tornado_c")):
            env = {**os.environ, "PYTHONPATH": ROOT, "PYTHONSAFEPATH": safe}
            proc = subprocess.run([sys.executable, *prefix, "app.py"], capture_output=True,
                                  text=True, timeout=60, cwd=str(tmp_path), env=env)
            assert proc.returncode == 0, proc.stderr
            runs.append(proc.stdout)
        assert runs[0] == runs[1], safe
    assert str(tmp_path / "app.py") in runs[0]


def test_runner_module_form(tmp_path: Any) -> None:
    (tmp_path / "mymod.py").write_text(
        "import tornado.gen, sys\nprint(tornado.gen.__name__, sys.argv[1:], __name__)\n")
    env_code = f"import sys; sys.path.insert(0, {str(tmp_path)!r}); " \
               "from tornado_c.__main__ import main; sys.exit(main(['-m', 'mymod', 'x']))"
    proc = run_python(env_code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["tornado_c.gen", "['x']", "__main__"]


def test_alias_is_one_module_object() -> None:
    proc = run_python("""
        import tornado_c
        tornado_c.install()
        import tornado.web, tornado_c.web, tornado.ioloop
        assert tornado.web is tornado_c.web
        assert tornado.web.RequestHandler is tornado_c.web.RequestHandler
        assert tornado is tornado_c
        assert tornado.version_info[:2] == (6, 5)
        tornado_c.install()  # idempotent
        import sys
        assert sum(type(f).__name__ == "AliasFinder" for f in sys.meta_path) == 1
        print("ok")
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_no_top_level_tornado_package_shipped() -> None:
    assert not os.path.exists(os.path.join(ROOT, "tornado"))


def test_exit_with_unclosed_ioloop_does_not_crash() -> None:
    # Regression: interpreter teardown collected the loop after its type's
    # module state, and a libuv close callback crashed.
    for _ in range(3):
        proc = run_python("""
            import tornado_c
            tornado_c.install()
            from tornado_c.ioloop import IOLoop
            IOLoop.current()
        """, "-W", "ignore")
        assert proc.returncode == 0, (proc.returncode, proc.stderr)


def test_sigint_interrupts_a_blocking_poll() -> None:
    # Nothing is scheduled: the loop blocks in libuv's poll, which restarts an
    # interrupted epoll_wait by itself.  SIGINT must still end run_forever.
    proc = run_python("""
        import os, signal, threading, time, tornado_c
        # Python keeps SIGINT ignored when it starts that way (a background
        # job of a non-interactive shell): install the usual handler.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        loop = tornado_c.new_event_loop()
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
        t = time.monotonic()
        try:
            loop.run_forever()
        except KeyboardInterrupt:
            print("interrupted", time.monotonic() - t < 10)
        loop.close()
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["interrupted", "True"]


# -- fd watching -------------------------------------------------------------


def test_reader_survives_fd_number_reuse(loop: Any, loop_kind: str) -> None:
    if loop_kind != "native":
        pytest.skip("asyncio's selector raises on a stale registration; native re-registers")
    a, b = socket.socketpair()
    fd = a.fileno()
    loop.add_reader(fd, lambda: None)
    a.close()  # closed without remove_reader: epoll forgets it
    b.close()
    # A new socket gets the same number; registering it must work and fire.
    c, d = socket.socketpair()
    try:
        if c.fileno() != fd:
            pytest.skip("the kernel did not reuse the fd number")
        got: List[bytes] = []
        loop.add_reader(c.fileno(), lambda: (got.append(c.recv(10)), loop.stop()))
        d.send(b"hi")
        loop.call_later(5, loop.stop)
        loop.run_forever()
        assert got == [b"hi"]
        assert loop.remove_reader(c.fileno()) is True
    finally:
        c.close()
        d.close()


def test_add_reader_on_closed_fd_raises_oserror(loop: Any) -> None:
    a, b = socket.socketpair()
    fd = a.fileno()
    a.close()
    b.close()
    with pytest.raises(OSError):
        loop.add_reader(fd, lambda: None)


# -- the C Stream engine ------------------------------------------------------


@pytest.fixture
def native_loop() -> Any:
    loop = tornado_c.new_event_loop()
    yield loop
    loop.close()


def make_stream(loop: Any) -> Tuple[Any, socket.socket, socket.socket, List[Tuple[int, Any]]]:
    a, b = socket.socketpair()
    events: List[Tuple[int, Any]] = []
    s = _core.Stream(loop, a.fileno(), 0, lambda kind, detail: events.append((kind, detail)))
    return s, a, b, events


def test_stream_reads(native_loop: Any) -> None:
    loop = native_loop
    s, a, b, events = make_stream(loop)

    async def main() -> List[Any]:
        out: List[Any] = []
        f = loop.create_future()
        assert s.read_until(f, b"\r\n", None) == _core.READ_PENDING
        b.send(b"line one\r\nrest")
        out.append(await f)
        f = loop.create_future()
        assert s.read_bytes(f, 2, False) == _core.READ_DONE
        out.append(await f)
        f = loop.create_future()
        assert s.read_bytes(f, 100, True) == _core.READ_DONE
        out.append(await f)
        f = loop.create_future()
        s.read_until_regex(f, re.compile(rb"[0-9]+;"), None)
        for piece in (b"ab", b"c1", b"23;"):
            b.send(piece)
            await asyncio.sleep(0.01)
        out.append(await f)
        buf = bytearray(3)
        f = loop.create_future()
        s.read_into(f, buf, True)
        b.send(b"xy")
        out.append((await f, bytes(buf)))
        return out

    assert loop.run_until_complete(main()) == [
        b"line one\r\n", b"re", b"st", b"abc123;", (2, b"xy\x00")]
    assert events == []
    s.close()
    a.close()
    b.close()


def test_stream_leaves_unrequested_input_in_the_kernel(native_loop: Any) -> None:
    # As Tornado's IOStream, the socket is only read for a pending read: what
    # arrives between reads stays in the kernel (start_tls depends on it),
    # also now that reading stops lazily, when the input shows up.
    loop = native_loop
    s, a, b, events = make_stream(loop)

    async def main() -> List[Any]:
        out: List[Any] = []
        for round_ in range(3):
            f = loop.create_future()
            s.read_bytes(f, 5, True)
            b.send(b"ping%d" % round_)
            out.append(await f)
            # No read pending: this must not leave the kernel.
            b.send(b"later%d" % round_)
            for _ in range(5):
                await asyncio.sleep(0.005)
            out.append(s.read_buffer_size)
            # Taken straight from the socket, the stream had none of it.
            out.append(a.recv(100))
        f = loop.create_future()
        s.read_bytes(f, 100, True)
        b.send(b"last")
        out.append(await f)
        return out

    assert loop.run_until_complete(main()) == [
        b"ping0", 0, b"later0", b"ping1", 0, b"later1", b"ping2", 0, b"later2", b"last"]
    assert events == []
    s.close()
    a.close()
    b.close()


def test_stream_read_byte_by_byte(native_loop: Any) -> None:
    loop = native_loop
    s, a, b, events = make_stream(loop)
    payload = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"

    async def main() -> bytes:
        f = loop.create_future()
        s.read_until(f, b"\r\n\r\n", None)
        for i in range(len(payload)):
            b.send(payload[i:i + 1])
            await asyncio.sleep(0)
        return await f

    assert loop.run_until_complete(main()) == payload
    s.close()
    a.close()
    b.close()


def test_stream_unsatisfiable_read_is_reported(native_loop: Any) -> None:
    loop = native_loop
    s, a, b, events = make_stream(loop)
    b.send(b"x" * 100)

    async def main() -> int:
        await asyncio.sleep(0.05)
        f = loop.create_future()
        return s.read_until(f, b"\n", 10)

    assert loop.run_until_complete(main()) == _core.READ_FAILED
    assert events[0][0] == _core.STREAM_UNSATISFIABLE
    assert "not found within 10 bytes" in events[0][1]
    s.close()
    a.close()
    b.close()


def test_stream_buffer_full_is_reported(native_loop: Any) -> None:
    loop = native_loop
    a, b = socket.socketpair()
    events: List[Tuple[int, Any]] = []
    s = _core.Stream(loop, a.fileno(), 0, lambda k, d: events.append((k, d)), 1000)

    async def main() -> None:
        f = loop.create_future()
        s.read_until(f, b"\n", None)
        b.send(b"y" * 5000)
        for _ in range(100):
            if events:
                break
            await asyncio.sleep(0.01)

    loop.run_until_complete(main())
    assert events and events[0][0] == _core.STREAM_BUFFER_FULL
    s.close()
    a.close()
    b.close()


def test_stream_eof_resolves_read_until_close(native_loop: Any) -> None:
    loop = native_loop
    s, a, b, events = make_stream(loop)

    async def main() -> bytes:
        f = loop.create_future()
        s.read_until_close(f)
        b.send(b"tail")
        b.close()
        return await f

    assert loop.run_until_complete(main()) == b"tail"
    assert events == [(_core.STREAM_EOF, None)]
    f = loop.create_future()
    assert s.read_bytes(f, 1, False) == _core.READ_CLOSED
    s.close()
    a.close()


def test_stream_queued_write_drains(native_loop: Any) -> None:
    loop = native_loop
    s, a, b, events = make_stream(loop)
    big = bytes(range(256)) * (16 * 1024)  # 4 MiB: more than the socket buffers

    async def main() -> bytes:
        queued = s.write(big)
        assert queued > 0 and s.write_buffer_size == queued
        received = bytearray()
        b.setblocking(False)
        while len(received) < len(big):
            try:
                received += b.recv(1 << 20)
            except BlockingIOError:
                await asyncio.sleep(0.001)
        for _ in range(100):
            if events:
                break
            await asyncio.sleep(0.001)
        return bytes(received)

    assert loop.run_until_complete(main()) == big
    assert events == [(_core.STREAM_DRAIN, None)]
    assert s.write_buffer_size == 0
    s.close()
    a.close()
    b.close()


def test_stream_on_event_bound_method(native_loop: Any) -> None:
    # A bound method is kept as its function and object; reading on_event
    # back gives an equal bound method, and events reach it with self.
    loop = native_loop
    a, b = socket.socketpair()

    class Owner:
        def __init__(self) -> None:
            self.events: List[Tuple[int, Any]] = []

        def on_event(self, kind: int, detail: Any) -> None:
            self.events.append((kind, detail))

    owner = Owner()
    s = _core.Stream(loop, a.fileno(), 0, owner.on_event)
    assert s.on_event == owner.on_event and s.on_event.__self__ is owner
    b.close()

    async def main() -> None:
        f = loop.create_future()
        assert s.read_until(f, b"\n", None) in (_core.READ_PENDING, _core.READ_FAILED)
        for _ in range(100):
            if owner.events:
                break
            await asyncio.sleep(0.001)

    loop.run_until_complete(main())
    assert owner.events == [(_core.STREAM_EOF, None)]
    s.on_event = None
    assert s.on_event is None
    plain: List[Any] = []
    s.on_event = plain.append
    assert s.on_event == plain.append
    s.close()
    a.close()


def test_stream_read_into_releases_the_buffer(native_loop: Any) -> None:
    # The caller's buffer is pinned while a read_into is pending (it cannot
    # be resized) and released when the read completes or is cancelled.
    loop = native_loop
    s, a, b, events = make_stream(loop)

    async def main() -> int:
        buf = bytearray(4)
        f = loop.create_future()
        assert s.read_into(f, buf, False) == _core.READ_PENDING
        with pytest.raises(BufferError):
            buf.extend(b"x")
        b.send(b"abcd")
        n = await f
        buf.extend(b"e")
        other = bytearray(4)
        assert s.read_into(loop.create_future(), other, False) == _core.READ_PENDING
        s.cancel_read()
        other.extend(b"f")
        return n

    assert loop.run_until_complete(main()) == 4
    s.close()
    a.close()
    b.close()


def test_loop_close_closes_open_streams() -> None:
    before = _core._debug_counters()
    loop = tornado_c.new_event_loop()
    s, a, b, events = make_stream(loop)
    s.write(b"x" * (8 << 20))  # leave a write queued
    loop.close()
    assert s.closed
    assert _core._debug_counters() == before
    a.close()
    b.close()


def test_unclosed_stream_warns() -> None:
    loop = tornado_c.new_event_loop()
    s, a, b, events = make_stream(loop)
    with pytest.warns(ResourceWarning, match="unclosed native stream"):
        del s
        gc.collect()
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()
    a.close()
    b.close()


def test_stream_rejects_a_closed_loop() -> None:
    loop = tornado_c.new_event_loop()
    loop.close()
    a, b = socket.socketpair()
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        _core.Stream(loop, a.fileno(), 0, None)
    a.close()
    b.close()


def test_stream_needs_a_native_loop() -> None:
    loop = asyncio.new_event_loop()
    a, b = socket.socketpair()
    try:
        with pytest.raises(TypeError, match="native loop"):
            _core.Stream(loop, a.fileno(), 0, None)
    finally:
        loop.close()
        a.close()
        b.close()


def test_stream_bad_fd() -> None:
    loop = tornado_c.new_event_loop()
    try:
        with pytest.raises(ValueError):
            _core.Stream(loop, -1, 0, None)
        with pytest.raises(ValueError):
            _core.Stream(loop, object(), 0, None)
    finally:
        loop.close()


def test_signal_wakeup_fd_restored() -> None:
    loop = tornado_c.new_event_loop()
    try:
        assert signal.set_wakeup_fd(-1) == -1
        loop.run_until_complete(asyncio.sleep(0))
        assert signal.set_wakeup_fd(-1) == -1
    finally:
        loop.close()


HEADER_END = re.compile(b"\r?\n\r?\n")


@pytest.mark.parametrize("pattern", [b"\r?\n\r?\n", rb"\r?\n\r?\n"],
                         ids=["cr-lf-bytes", "escapes"])
def test_header_delimiter_matcher_equals_the_regex(native_loop: Any, pattern: bytes) -> None:
    # read_until_regex(b"\r?\n\r?\n") is matched in C; it must end exactly
    # where the regex's leftmost match ends, however the data is split.
    import random

    loop = native_loop
    regex = re.compile(pattern)
    rnd = random.Random(20261122)
    pieces = [b"\r", b"\n", b"a", b"\r\n", b"\n\r"]

    async def one(data: bytes, step: int) -> Any:
        s, a, b, events = make_stream(loop)
        try:
            f = loop.create_future()
            s.read_until_regex(f, regex, None)
            for i in range(0, len(data), step):
                b.send(data[i:i + step])
                await asyncio.sleep(0)
            await asyncio.sleep(0.005)
            return f.result() if f.done() else None
        finally:
            s.close()
            a.close()
            b.close()

    async def main() -> None:
        for _ in range(200):
            data = b"".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 10)))
            match = regex.search(data)
            expected = data[:match.end()] if match else None
            assert await one(data, rnd.randint(1, 3)) == expected, data

    loop.run_until_complete(main())


def test_unsatisfiable_regex_message_names_the_pattern(impl: Any, loop: Any, caplog: Any) -> None:
    iostream = impl.mod("iostream")

    async def main() -> str:
        a, b = socket.socketpair()
        stream = iostream.IOStream(a)
        try:
            b.send(b"x" * 100)
            await asyncio.sleep(0.02)
            with pytest.raises(iostream.StreamClosedError):
                await stream.read_until_regex(b"\r?\n\r?\n", max_bytes=10)
            return str(stream.error)
        finally:
            stream.close()
            b.close()

    message = loop.run_until_complete(main())
    assert message == "delimiter %r not found within 10 bytes" % HEADER_END


def test_large_partial_reads_straight_into_the_result(native_loop: Any) -> None:
    # read_bytes(n >= read_chunk_size, partial=True) with nothing buffered
    # reads one chunk straight into the result: same data, same bounds.
    loop = native_loop
    payload = bytes(range(256)) * 1024  # 256 KiB

    async def main() -> Tuple[List[int], bytes]:
        s, a, b, events = make_stream(loop)
        sizes: List[int] = []
        got = bytearray()
        try:
            b.setblocking(False)
            sent = 0
            while len(got) < len(payload):
                if sent < len(payload):
                    try:
                        sent += b.send(payload[sent:sent + 65536])
                    except BlockingIOError:
                        pass
                f = loop.create_future()
                s.read_bytes(f, 65536, True)
                chunk = await f
                sizes.append(len(chunk))
                got += chunk
            return sizes, bytes(got)
        finally:
            s.close()
            a.close()
            b.close()

    sizes, got = loop.run_until_complete(main())
    assert got == payload
    assert all(0 < n <= 65536 for n in sizes)


def test_large_partial_read_at_end_of_stream(native_loop: Any) -> None:
    loop = native_loop
    s, a, b, events = make_stream(loop)
    b.close()

    async def main() -> int:
        await asyncio.sleep(0.01)
        f = loop.create_future()
        return s.read_bytes(f, 1 << 20, True)

    assert loop.run_until_complete(main()) == _core.READ_FAILED
    assert events == [(_core.STREAM_EOF, None)]
    s.close()
    a.close()


def test_pending_large_partial_read_fills_from_the_socket(native_loop: Any) -> None:
    # The read is pending before the data arrives: libuv reads the chunk
    # straight into the result.
    loop = native_loop
    payload = bytes(range(256)) * 400  # 100 KiB

    async def main() -> Tuple[bytes, bytes, bool, List[Tuple[int, Any]]]:
        s, a, b, events = make_stream(loop)
        try:
            first = loop.create_future()
            assert s.read_bytes(first, 65536, True) == _core.READ_PENDING
            b.sendall(payload)
            head = await first
            rest = b""
            while len(head) + len(rest) < len(payload):
                f = loop.create_future()
                s.read_bytes(f, 65536, True)
                rest += await f
            # At the end of the stream a pending read is reported, not
            # resolved: its owner (IOStream) fails it.
            last = loop.create_future()
            assert s.read_bytes(last, 65536, True) == _core.READ_PENDING
            b.close()
            for _ in range(200):
                if events:
                    break
                await asyncio.sleep(0.005)
            return head, rest, last.done(), events
        finally:
            s.close()
            a.close()

    head, rest, last_done, events = loop.run_until_complete(main())
    assert 0 < len(head) <= 65536
    assert head + rest == payload
    assert not last_done
    assert events == [(_core.STREAM_EOF, None)]
