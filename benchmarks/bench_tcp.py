"""Side-by-side TCP benchmarks: pure-Python Tornado vs tornado_c, asyncio vs tornado_c's loop.

One echo server (benchmarks/apps/echo_server.py, a ``tornado.tcpserver.TCPServer``
subclass written against Tornado's API) is run unchanged by pure-Python
Tornado (``python echo_server.py``, impl ``tornado``) and by tornado_c through
the drop-in alias (``python -m tornado_c echo_server.py``, impl ``tornado_c``).
A second one (benchmarks/apps/asyncio_echo.py, written against asyncio's API:
an ``asyncio.Protocol``, and ``start_server`` streams in line mode) is run on
asyncio's own loop (impl ``asyncio``) and on tornado_c's native loop with its
native transports (impl ``asyncio_c``).  Each tornado_c figure is compared with
its own reference (tornado_c with Tornado, asyncio_c with asyncio).  The
ceiling is benchmarks/raw_server/echo_server (impl ``raw``: a libuv echo server
in C, no Python), and the table gives each server's figure as a share of it.
The load generator is this
same file run as a separate process (``--client ...``): plain sockets and
``select.epoll`` on the standard library only, the same client for both
servers (``--load c``: round trips and bulk are driven by
benchmarks/raw_server/echo_load instead, the same workloads in C, for servers
faster than the Python client).  The server is pinned to core 0 and the client to core 1 (when
taskset exists and there are two CPUs); everything runs on 127.0.0.1 and
every phase is bounded in time and count.

Workloads:
  rt     round trips/s: N concurrent connections (default 50), each sending a
         64-byte message carrying its connection id and a counter and waiting
         for the identical echo before sending the next; fixed duration.
  line   the same with newline-terminated messages and the server in
         ``read_until(b"\\n")`` mode (asyncio app: ``readuntil`` on streams).
  bulk   one connection, 1 MiB writes echoed back, MiB/s over a fixed total;
         the CRC-32 of everything received is compared with what was sent.
  idle   server memory per idle connection: VmRSS after a warm-up, then after
         opening 5,000 idle connections, (after - before) / 5000; then one
         echo on every connection (verified) and VmRSS again; then all are
         closed and the server's open file count must return to its baseline.

Runs are interleaved (A B A B A B), each figure is the median of the runs and
carries a correctness check.  The server's CPU use during rt/line/bulk is read
from /proc: a run in which the server was not busy most of the time measured
the client, and the table says so.

Usage: python benchmarks/bench_tcp.py [--runs 3] [--duration 5] [--bulk-mib 256]
                                      [--idle 5000] [--workloads rt,line,bulk,idle]
                                      [--load python|c]
                                      [--impls tornado,tornado_c,asyncio,asyncio_c,raw]
                                      [--json FILE] [--out-dir DIR] [--quick]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from bench_http import unused_path  # noqa: E402

APP = os.path.join(HERE, "apps", "echo_server.py")
ASYNCIO_APP = os.path.join(HERE, "apps", "asyncio_echo.py")
RAW_ECHO = os.path.join(HERE, "raw_server", "echo_server")
# The C load generator for rt/line (--load c) and its fixed warm-up.
ECHO_LOAD = os.path.join(HERE, "raw_server", "echo_load")
ECHO_LOAD_WARMUP = 0.3
IMPLS = ("tornado", "tornado_c", "asyncio", "asyncio_c", "raw")
# The reference each implementation is compared with.
REFERENCE = {"tornado_c": "tornado", "asyncio_c": "asyncio"}
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
HOST = "127.0.0.1"
MSG_SIZE = 64
BULK_CHUNK = 1 << 20
EXIT_MISSING = 3  # something this machine lacks (not Linux, no tornado, ...)

WORKLOADS = ("rt", "line", "bulk", "idle")
TITLES = {
    "rt": "round trips, 64 B, {c} conns",
    "line": "round trips, 64 B lines (read_until), {c} conns",
    "bulk": "bulk echo, 1 MiB writes, {mib} MiB",
    "idle": "server RSS per idle connection, {n} conns",
    "idle_echo": "server RSS per connection after one echo each, {n} conns",
}
UNITS = {"rt": "round trips/s", "line": "round trips/s", "bulk": "MiB/s",
         "idle": "bytes/conn", "idle_echo": "bytes/conn"}
TARGETS = {"rt": ("ratio_min", 5.0), "bulk": ("ratio_min", 3.0), "idle": ("max", 2048.0)}
HIGHER_IS_BETTER = {"rt": True, "line": True, "bulk": True, "idle": False, "idle_echo": False}
CPU_BOUND = 0.9
STALL = 10.0  # seconds without progress before a client run is declared failed


# ---------------------------------------------------------------------------
# /proc helpers (used by both the orchestrator and the client)


def cpu_seconds(pid: int) -> float:
    """CPU time used so far by every thread of ``pid``, in seconds.

    Uses the nanosecond counters of /proc/PID/task/*/schedstat when present,
    else the clock ticks of /proc/PID/stat.
    """
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        pass
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cpu_split(pid: int) -> Tuple[int, int]:
    """(user, system) clock ticks used so far by ``pid`` (all threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def sys_share(before: Tuple[int, int], after: Tuple[int, int]) -> float:
    """Fraction of the CPU time between two `cpu_split` readings spent in the kernel."""
    user, system = after[0] - before[0], after[1] - before[1]
    return system / (user + system) if user + system > 0 else 0.0


def machine_ticks() -> Tuple[int, int, int]:
    """(busy, steal, total) clock ticks of all CPUs so far, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    values += [0] * (8 - len(values))
    user, nice, system, idle, iowait, irq, softirq, steal = values[:8]
    busy = user + nice + system + irq + softirq
    return busy, steal, busy + idle + iowait + steal


def machine_load(before: Tuple[int, int, int], after: Tuple[int, int, int], elapsed: float,
                 server_s: float, client_s: float) -> Dict[str, float]:
    """CPU used by everything except the server and the client (in cores) and
    the share of CPU time stolen by the hypervisor, between two readings."""
    busy = (after[0] - before[0]) / CLK_TCK
    total = after[2] - before[2]
    return {
        "other_cores": max(0.0, busy - server_s - client_s) / max(elapsed, 1e-9),
        "steal": (after[1] - before[1]) / total if total > 0 else 0.0,
    }


def vm_rss(pid: int) -> int:
    """Resident set size of ``pid`` in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def fd_count(pid: int) -> int:
    """Number of open file descriptors of ``pid``."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def raise_nofile(want: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE towards ``want`` (up to the hard limit)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def message(conn_id: int, counter: int) -> bytes:
    """The 64-byte message number ``counter`` of connection ``conn_id`` (one line)."""
    return b"%06d %016d " % (conn_id, counter) + b"x" * (MSG_SIZE - 25) + b"\n"


# ---------------------------------------------------------------------------
# The load generator (runs in its own process: ``bench_tcp.py --client KIND``)


def _connect(port: int, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def client_rt(port: int, pid: int, conns: int, duration: float, warmup: float) -> Dict[str, Any]:
    """Round trips on ``conns`` connections for ``warmup`` + ``duration`` seconds."""
    socks = [_connect(port) for _ in range(conns)]
    ep = select.epoll()
    # fd -> [socket, connection id, counter, expected echo, partial data]
    state: Dict[int, List[Any]] = {}
    for cid, sock in enumerate(socks):
        sock.setblocking(False)
        msg = message(cid, 0)
        state[sock.fileno()] = [sock, cid, 0, msg, b""]
        ep.register(sock.fileno(), select.EPOLLIN)
    for st in state.values():
        st[0].send(st[3])
    count = 0
    error = ""
    start = time.perf_counter()
    hard_stop = start + warmup + duration + 30
    measuring = False
    last_event = start
    t0 = c0 = cpu0 = 0.0
    ru0 = os.times()
    split0 = (0, 0)
    mach0 = (0, 0, 0)
    while not error:
        events = ep.poll(1.0)
        for fd, _ev in events:
            st = state[fd]
            try:
                data = st[0].recv(65536)
            except BlockingIOError:
                continue
            except OSError as exc:
                error = f"connection {st[1]}: {exc}"
                break
            if not data:
                error = f"connection {st[1]} closed by the server"
                break
            if st[4]:
                data = st[4] + data
            if len(data) < MSG_SIZE:
                st[4] = data
                continue
            if data != st[3]:
                error = f"connection {st[1]}: echo mismatch {data[:32]!r} != {st[3][:32]!r}"
                break
            st[2] += 1
            st[3] = msg = message(st[1], st[2])
            st[4] = b""
            count += 1
            if st[0].send(msg) != MSG_SIZE:
                error = "short send"
                break
        now = time.perf_counter()
        if not measuring and now - start >= warmup:
            measuring = True
            t0, c0, cpu0 = now, count, cpu_seconds(pid)
            ru0 = os.times()
            split0 = cpu_split(pid)
            mach0 = machine_ticks()
        elif measuring and now - t0 >= duration:
            break
        if now > hard_stop:
            error = error or "timed out"
        if events:
            last_event = now
        elif now - last_event > STALL and not error:
            error = f"no echo for {STALL:g} s"
    t1 = time.perf_counter()
    cpu1 = cpu_seconds(pid) if measuring else 0.0
    split1 = cpu_split(pid)
    mach1 = machine_ticks()
    ru1 = os.times()
    for sock in socks:
        sock.close()
    ep.close()
    elapsed = max(t1 - t0, 1e-9)
    done = count - int(c0)
    client_s = ru1.user + ru1.system - ru0.user - ru0.system
    return {
        **machine_load(mach0, mach1, elapsed, cpu1 - cpu0, client_s),
        "value": done / elapsed if measuring else 0.0,
        "count": done,
        "seconds": elapsed,
        "server_cpu": (cpu1 - cpu0) / elapsed if measuring else 0.0,
        "server_sys": sys_share(split0, split1) if measuring else 0.0,
        "client_cpu": (ru1.user + ru1.system - ru0.user - ru0.system) / elapsed,
        "ok": not error and done > 0,
        "error": error,
    }


def client_bulk(port: int, pid: int, total_mib: int) -> Dict[str, Any]:
    """Send ``total_mib`` 1 MiB writes on one connection; time until all echoed back."""
    total = total_mib * BULK_CHUNK
    body = (bytes(range(256)) * (BULK_CHUNK // 256))[8:]

    def header(i: int) -> bytes:
        return i.to_bytes(8, "little")

    expected_crc = 0
    for i in range(total_mib):
        expected_crc = zlib.crc32(body, zlib.crc32(header(i), expected_crc))
    chunk = bytearray(header(0) + body)
    out = memoryview(chunk)
    rbuf = bytearray(BULK_CHUNK)
    rmv = memoryview(rbuf)

    sock = _connect(port)
    sock.setblocking(False)
    ep = select.epoll()
    ep.register(sock.fileno(), select.EPOLLIN | select.EPOLLOUT)
    sent_chunks = 0
    send_off = 0
    received = 0
    crc = 0
    error = ""
    sending = True
    t0 = time.perf_counter()
    cpu0 = cpu_seconds(pid)
    split0 = cpu_split(pid)
    mach0 = machine_ticks()
    ru0 = os.times()
    deadline = t0 + 60 + total_mib / 10
    last_event = t0
    while received < total and not error:
        events = ep.poll(1.0)
        if events:
            last_event = time.perf_counter()
        elif time.perf_counter() - last_event > STALL:
            error = f"no progress for {STALL:g} s"
        for _fd, ev in events:
            if ev & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
                try:
                    n = sock.recv_into(rbuf)
                except BlockingIOError:
                    n = -1
                except OSError as exc:
                    error = f"recv: {exc}"
                    break
                if n == 0:
                    error = "connection closed by the server"
                    break
                if n > 0:
                    crc = zlib.crc32(rmv[:n], crc)
                    received += n
            if sending and ev & select.EPOLLOUT:
                try:
                    send_off += sock.send(out[send_off:])
                except BlockingIOError:
                    pass
                except OSError as exc:
                    error = f"send: {exc}"
                    break
                if send_off == BULK_CHUNK:
                    sent_chunks += 1
                    send_off = 0
                    if sent_chunks == total_mib:
                        sending = False
                        ep.modify(sock.fileno(), select.EPOLLIN)
                    else:
                        chunk[:8] = header(sent_chunks)
        if time.perf_counter() > deadline:
            error = error or "timed out"
    t1 = time.perf_counter()
    cpu1 = cpu_seconds(pid)
    split1 = cpu_split(pid)
    mach1 = machine_ticks()
    ru1 = os.times()
    sock.close()
    ep.close()
    elapsed = max(t1 - t0, 1e-9)
    if not error and received != total:
        error = f"received {received} bytes, sent {total}"
    if not error and crc != expected_crc:
        error = f"checksum mismatch: {crc:08x} != {expected_crc:08x}"
    client_s = ru1.user + ru1.system - ru0.user - ru0.system
    return {
        **machine_load(mach0, mach1, elapsed, cpu1 - cpu0, client_s),
        "value": received / BULK_CHUNK / elapsed,
        "bytes": received,
        "seconds": elapsed,
        "server_cpu": (cpu1 - cpu0) / elapsed,
        "server_sys": sys_share(split0, split1),
        "client_cpu": (ru1.user + ru1.system - ru0.user - ru0.system) / elapsed,
        "ok": not error,
        "error": error,
    }


def _wait_stable(pid: int, want_fds: Optional[int], timeout: float,
                 interval: float = 0.25) -> Tuple[int, int, bool]:
    """Poll the server until its fd count (>= ``want_fds`` if given, else
    unchanged) and VmRSS stop moving; return (rss, fds, settled)."""
    deadline = time.monotonic() + timeout
    last: Optional[Tuple[int, int]] = None
    steady = 0
    while True:
        time.sleep(interval)
        rss, fds = vm_rss(pid), fd_count(pid)
        if last is not None and fds == last[1] and abs(rss - last[0]) <= 16384 and (
                want_fds is None or fds >= want_fds):
            steady += 1
            if steady >= 2:
                return rss, fds, True
        else:
            steady = 0
        last = (rss, fds)
        if time.monotonic() > deadline:
            return rss, fds, False


def _echo_all(socks: List[socket.socket], first_id: int = 0) -> str:
    """One verified round trip on every socket (sends all, then reads all)."""
    for i, sock in enumerate(socks):
        sock.sendall(message(first_id + i, 1))
    for i, sock in enumerate(socks):
        want = message(first_id + i, 1)
        got = b""
        while len(got) < MSG_SIZE:
            data = sock.recv(MSG_SIZE - len(got))
            if not data:
                return f"connection {first_id + i} closed by the server"
            got += data
        if got != want:
            return f"connection {first_id + i}: echo mismatch {got[:32]!r}"
    return ""


def client_idle(port: int, pid: int, n: int) -> Dict[str, Any]:
    """Memory per idle connection; see the module docstring."""
    raise_nofile(n + 256)
    notes: List[str] = []
    # Warm-up: a few connections doing one echo each, then closed.
    warm = [_connect(port) for _ in range(20)]
    error = _echo_all(warm, 900000)
    for sock in warm:
        sock.close()
    rss0, fds0, settled = _wait_stable(pid, None, 10)
    if not settled:
        notes.append("baseline did not settle")
    t_open = time.perf_counter()
    socks: List[socket.socket] = []
    try:
        for _ in range(n):
            socks.append(_connect(port))
    except OSError as exc:
        error = error or f"connect #{len(socks)}: {exc}"
    open_s = time.perf_counter() - t_open
    rss1, fds1, settled = _wait_stable(pid, fds0 + len(socks), 30)
    if not settled:
        notes.append("server did not settle after connecting")
    rss2 = rss1
    if not error and len(socks) == n:
        error = _echo_all(socks)
        rss2, _, settled = _wait_stable(pid, None, 30)
        if not settled:
            notes.append("server did not settle after echoes")
    for sock in socks:
        sock.close()
    rss3, fds3, settled = _wait_stable(pid, None, 10)
    deadline = time.monotonic() + 10
    while fds3 > fds0 and time.monotonic() < deadline:
        time.sleep(0.1)
        fds3 = fd_count(pid)
    if fds3 > fds0:
        error = error or f"server kept {fds3 - fds0} more fds open after all clients closed"
    return {
        "value": (rss1 - rss0) / n,
        "echo_value": (rss2 - rss0) / n,
        "rss_before": rss0,
        "rss_idle": rss1,
        "rss_echo": rss2,
        "rss_closed": rss3,
        "fds_per_conn": (fds1 - fds0) / n,
        "fds_leaked": fds3 - fds0,
        "open_seconds": open_s,
        "ok": not error and len(socks) == n,
        "error": error,
        "notes": notes,
    }


def client_c(port: int, pid: int, conns: int, duration: float,
             bulk_mib: Optional[int] = None) -> Dict[str, Any]:
    """The rt/line workload (or with ``bulk_mib`` the bulk one) driven by
    raw_server/echo_load (C), with the same server and machine figures as
    client_rt's / client_bulk's, measured around it."""
    cmd = [ECHO_LOAD, str(port), str(conns), str(duration)]
    if bulk_mib is not None:
        cmd += ["bulk", str(bulk_mib)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    warmup = ECHO_LOAD_WARMUP if bulk_mib is None else 0.0
    time.sleep(warmup)  # echo_load's own warm-up, not measured
    t0, cpu0, split0, mach0 = time.perf_counter(), cpu_seconds(pid), cpu_split(pid), \
        machine_ticks()
    try:
        out, _ = proc.communicate(timeout=duration + 60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {"ok": False, "error": "echo_load timed out", "value": 0.0}
    t1, cpu1, split1, mach1 = time.perf_counter(), cpu_seconds(pid), cpu_split(pid), \
        machine_ticks()
    lines = out.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"ok": False, "error": f"echo_load exited {proc.returncode}", "value": 0.0}
    got = json.loads(lines[-1])
    elapsed = max(t1 - t0, 1e-9)
    children = os.times()
    client_s = (children.children_user + children.children_system) * \
        (elapsed / (elapsed + warmup))
    return {
        **machine_load(mach0, mach1, elapsed, cpu1 - cpu0, client_s),
        "value": got["per_second"] if bulk_mib is None else got["mib_per_second"],
        "count": got["round_trips"] if bulk_mib is None else got["bytes"],
        "seconds": got["seconds"],
        "server_cpu": (cpu1 - cpu0) / elapsed,
        "server_sys": sys_share(split0, split1),
        "client_cpu": client_s / elapsed,
        "ok": bool(got["correct"]),
        "error": "" if got["correct"] else "echo_load saw a wrong or missing echo",
    }


def client_main(args: argparse.Namespace) -> int:
    if args.client in ("rt", "line") and args.load == "c":
        result = client_c(args.port, args.server_pid, args.connections, args.duration)
    elif args.client == "bulk" and args.load == "c":
        result = client_c(args.port, args.server_pid, 1, args.duration, args.bulk_mib)
    elif args.client in ("rt", "line"):
        result = client_rt(args.port, args.server_pid, args.connections, args.duration,
                           args.warmup)
    elif args.client == "bulk":
        result = client_bulk(args.port, args.server_pid, args.bulk_mib)
    else:
        result = client_idle(args.port, args.server_pid, args.idle)
    print(json.dumps(result), flush=True)
    return 0


# ---------------------------------------------------------------------------
# The orchestrator


@dataclass
class Row:
    workload: str
    impl: str
    values: List[float] = field(default_factory=list)
    server_cpu: List[float] = field(default_factory=list)
    server_sys: List[float] = field(default_factory=list)
    other_cores: List[float] = field(default_factory=list)
    steal: List[float] = field(default_factory=list)
    client_cpu: List[float] = field(default_factory=list)
    correct: Optional[bool] = None
    notes: List[str] = field(default_factory=list)

    def median(self, values: Optional[List[float]] = None) -> float:
        v = self.values if values is None else values
        return statistics.median(v) if v else 0.0

    def fail(self, note: str) -> None:
        self.correct = False
        if note not in self.notes:
            self.notes.append(note)


def taskset(cpu: int) -> List[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", str(cpu)]
    return []


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def child_env() -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYTHONASYNCIODEBUG", None)
    return env


class Server:
    """One echo server process, its output captured to temporary files."""

    def __init__(self, impl: str, mode: str, tmpdir: str) -> None:
        self.impl = impl
        self.port = free_port()
        self.out_path = os.path.join(tmpdir, f"{impl}-{mode}-{self.port}.out")
        self.err_path = os.path.join(tmpdir, f"{impl}-{mode}-{self.port}.err")
        cmd = [sys.executable]
        if impl == "tornado_c":
            cmd += ["-m", "tornado_c"]
        if impl == "raw":
            cmd = [RAW_ECHO, str(self.port), mode]
        elif impl.startswith("asyncio"):
            loop = "tornado_c" if impl == "asyncio_c" else "asyncio"
            cmd += [ASYNCIO_APP, "--loop", loop, "--port", str(self.port), "--mode", mode]
        else:
            cmd += [APP, "--port", str(self.port), "--mode", mode]
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(taskset(0) + cmd, stdout=out, stderr=err,
                                         env=child_env(), cwd=HERE)
        self.ready_line = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open(self.out_path) as f:
                text = f.read()
            if "\n" in text:
                self.ready_line = text.splitlines()[0]
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        if not self.ready_line.startswith("ready"):
            self.stop()
            raise RuntimeError(f"{impl} server did not start: {self.ready_line!r} "
                               f"{self.stderr()[-1500:]}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stderr(self) -> str:
        try:
            with open(self.err_path) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self) -> Optional[int]:
        """Stop the server; return its exit status if it had already exited."""
        died = self.proc.poll()
        if died is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return died


def run_client(kind: str, server: Server, args: argparse.Namespace) -> Dict[str, Any]:
    cmd = taskset(1) + [sys.executable, os.path.abspath(__file__), "--client", kind,
                        "--load", args.load,
                        "--port", str(server.port), "--server-pid", str(server.pid),
                        "--connections", str(args.connections), "--duration", str(args.duration),
                        "--warmup", str(args.warmup), "--bulk-mib", str(args.bulk_mib),
                        "--idle", str(args.idle)]
    timeout = args.warmup + args.duration + args.bulk_mib / 5 + args.idle / 50 + 120
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=child_env())
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"client timed out after {timeout:.0f} s", "value": 0.0}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"ok": False, "value": 0.0,
                "error": f"client exited {proc.returncode}: {proc.stderr.strip()[-500:]}"}
    return json.loads(lines[-1])


def run_one(workload: str, impl: str, args: argparse.Namespace, tmpdir: str,
            rows: Dict[Tuple[str, str], Row], raw: List[Dict[str, Any]], run: int) -> str:
    row = rows.setdefault((workload, impl), Row(workload, impl))
    mode = "line" if workload == "line" else "bytes"
    try:
        server = Server(impl, mode, tmpdir)
    except RuntimeError as exc:
        row.fail(str(exc)[:300])
        return "server did not start"
    try:
        result = run_client(workload, server, args)
    finally:
        died = server.stop()
    log = server.stderr().strip()
    result.update(workload=workload, impl=impl, run=run + 1, server=server.ready_line)
    if died is not None:
        result["ok"] = False
        result["error"] = (result.get("error") or "") + f" server exited early ({died})"
    if log:
        result["server_log"] = log[-4000:]
    raw.append(result)
    if result.get("ok"):
        row.correct = True if row.correct is None else row.correct
    else:
        row.fail(result.get("error") or "failed")
    if log:
        first = next((ln for ln in log.splitlines() if ln.strip()), "")
        row.notes.append(f"server log ({len(log.splitlines())} lines): {first[:120]}")
    row.values.append(float(result.get("value", 0.0)))
    if "server_cpu" in result:
        row.server_cpu.append(result["server_cpu"])
        row.server_sys.append(result.get("server_sys", 0.0))
        row.other_cores.append(result.get("other_cores", 0.0))
        row.steal.append(result.get("steal", 0.0))
        row.client_cpu.append(result["client_cpu"])
    if workload == "idle":
        echo = rows.setdefault(("idle_echo", impl), Row("idle_echo", impl))
        echo.values.append(float(result.get("echo_value", 0.0)))
        echo.correct = row.correct
        fds = result.get("fds_per_conn")
        if fds is not None:
            note = f"server fds/conn {fds:.2f}"
            if note not in row.notes:
                row.notes.append(note)
        for n in result.get("notes", []):
            if n not in row.notes:
                row.notes.append(n)
    unit = UNITS[workload]
    return f"{result.get('value', 0.0):12.0f} {unit}" + (
        "" if result.get("ok") else f"  FAILED: {result.get('error')}")


def git_commit() -> str:
    try:
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                       stderr=subprocess.DEVNULL, text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def command_line(args: argparse.Namespace) -> str:
    load = " --load c" if args.load == "c" else ""
    if args.quick:
        return "python benchmarks/bench_tcp.py --quick" + load
    return (f"python benchmarks/bench_tcp.py --runs {args.runs} --duration {args.duration:g} "
            f"--connections {args.connections} --bulk-mib {args.bulk_mib} --idle {args.idle} "
            f"--workloads {','.join(args.workload_list)}" + load)


def ratio_text(workload: str, row: Row, base: Optional[Row]) -> Tuple[str, Optional[float]]:
    if row.impl not in REFERENCE or base is None or not base.values or not row.values:
        return "", None
    b, v = base.median(), row.median()
    if not b or (not v and HIGHER_IS_BETTER[workload]):
        return "", None
    r = v / b
    return f"{r:.2f}x", r


def raw_text(workload: str, row: Row, raw: Optional[Row]) -> str:
    """The row's figure against the raw C server's: a share of its throughput,
    or a multiple of its memory per connection."""
    if row.impl == "raw" or raw is None or not raw.median() or not row.values:
        return ""
    share = row.median() / raw.median()
    return f"{share:.0%}" if HIGHER_IS_BETTER[workload] else f"{share:.1f}x"


def target_text(workload: str, row: Row, ratio: Optional[float]) -> str:
    if row.impl != "tornado_c" or workload not in TARGETS or not row.values:
        return ""
    kind, goal = TARGETS[workload]
    if kind == "ratio_min":
        if ratio is None:
            return f">= {goal:g}x: n/a"
        return f">= {goal:g}x: {'met' if ratio >= goal else 'not met'}"
    return f"<= {goal:.0f} B: {'met' if row.median() <= goal else 'not met'}"


def render(rows: Dict[Tuple[str, str], Row], args: argparse.Namespace, meta: Dict[str, Any]) -> str:
    pin = "server on core 0, client on core 1" if taskset(0) else "no CPU pinning"
    load = ("one process, plain sockets + epoll" if args.load == "python" else
            "round trips and bulk by benchmarks/raw_server/echo_load (C, libuv), idle by "
            "one Python process, plain sockets + epoll")
    lines = [
        f"# TCP benchmark, {meta['date']}, commit {meta['commit']}",
        "",
        f"`{command_line(args)}`: echo server benchmarks/apps/echo_server.py (TCPServer, "
        f"read_bytes(65536, partial=True) / read_until) under pure-Python Tornado "
        f"{meta['tornado']} and tornado_c (`python -m tornado_c`); load generator: "
        f"{load}; {pin}; {args.runs} interleaved run(s), medians. "
        f"asyncio / asyncio_c: benchmarks/apps/asyncio_echo.py (an asyncio.Protocol echo; "
        f"start_server streams with readuntil for line) on asyncio's loop and on tornado_c's "
        f"native loop. raw: benchmarks/raw_server/echo_server, a libuv echo server in C "
        f"(the ceiling; 'vs raw C' is each figure as a share of its throughput, or as a "
        f"multiple of its memory per connection). "
        f"Python {meta['python']}, {meta['cpus']} CPUs.",
        "",
        "| workload | impl | median | unit | runs | server CPU | client CPU | other load "
        "| vs reference | vs raw C | target | correct |",
        "|---|---|---:|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    order = [w for w in ("rt", "line", "bulk", "idle", "idle_echo")
             if w in args.workload_list or (w == "idle_echo" and "idle" in args.workload_list)]
    for workload in order:
        for impl in args.impl_list:
            row = rows.get((workload, impl))
            if row is None:
                continue
            title = TITLES[workload].format(c=args.connections, mib=args.bulk_mib, n=args.idle)
            ratio_s, ratio = ratio_text(workload, row,
                                        rows.get((workload, REFERENCE.get(impl, ""))))
            digits = 1 if workload == "bulk" else 0
            runs = ", ".join(f"{v:.{digits}f}" for v in row.values)
            if row.server_cpu:
                cpu = row.median(row.server_cpu)
                ccpu = row.median(row.client_cpu)
                cpu_s = f"{cpu:.0%} ({row.median(row.server_sys):.0%} sys)"
                if cpu < CPU_BOUND:
                    cpu_s += (" (not CPU-bound: measures the client)" if ccpu >= CPU_BOUND else
                              " (not CPU-bound: neither side saturated, measures latency or "
                              "other load on the machine)")
                idle_runs = sum(1 for c in row.server_cpu if c < CPU_BOUND)
                if idle_runs and cpu >= CPU_BOUND:
                    cpu_s += f" ({idle_runs} of {len(row.server_cpu)} runs < {CPU_BOUND:.0%})"
                ccpu_s = f"{ccpu:.0%}"
                other_s = (f"{max(row.other_cores):.2f} cores, steal "
                           f"{max(row.steal):.0%}")
            else:
                cpu_s = ccpu_s = other_s = ""
            correct = {True: "yes", False: "NO", None: "?"}[row.correct]
            if row.notes:
                correct += "; " + "; ".join(n.replace("|", "/") for n in row.notes)
            lines.append(f"| {title} | {impl} | {row.median():,.{digits}f} | {UNITS[workload]} "
                         f"| {runs} | {cpu_s} | {ccpu_s} | {other_s} | {ratio_s} "
                         f"| {raw_text(workload, row, rows.get((workload, 'raw')))} "
                         f"| {target_text(workload, row, ratio)} | {correct} |")
    lines += [
        "",
        "Targets (issue 3): tornado_c >= 5x Tornado on round trips, >= 3x on bulk "
        "throughput, <= 2 KB server memory per idle connection (Tornado ~9 KB). "
        "For bytes/conn lower is better; the ratio is tornado_c / Tornado (asyncio_c / "
        "asyncio) either way. "
        "Server CPU is the server's CPU time over the measured window as a share of one "
        "core, with the share of it spent in the kernel (the loopback TCP stack and copies, "
        "which neither implementation can make faster) in brackets. Other load is the worst run's "
        "CPU use by everything else on the machine (in cores) and hypervisor steal: the "
        "machine is shared, so figures from runs with other load are less reliable.",
        "",
    ]
    return "\n".join(lines)


def check_machine() -> str:
    if not sys.platform.startswith("linux") or not os.path.isdir("/proc/self/task"):
        return "this benchmark needs Linux (/proc and epoll)"
    if not hasattr(select, "epoll"):
        return "select.epoll is missing"
    for mod in ("tornado", "tornado_c"):
        probe = subprocess.run([sys.executable, "-c", f"import {mod}.tcpserver"],
                               capture_output=True, text=True, env=child_env())
        if probe.returncode != 0:
            return f"cannot import {mod}.tcpserver: {probe.stderr.strip()[-300:]}"
    return ""


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0,
                        help="seconds measured per round-trip run")
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--bulk-mib", type=int, default=1024)
    parser.add_argument("--idle", type=int, default=5000)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--impls", default=",".join(IMPLS),
                        help="tornado and tornado_c run echo_server.py; asyncio and "
                             "asyncio_c run asyncio_echo.py on asyncio's / tornado_c's loop; "
                             "raw runs raw_server/echo_server (C)")
    parser.add_argument("--json", help="write the figures and every run's raw result here")
    parser.add_argument("--out-dir", help="write the markdown table to DIR/tcp-DATE-COMMIT.md")
    parser.add_argument("--load", choices=["python", "c"], default="python",
                        help="load generator for rt, line and bulk: this file's (Python, "
                             "epoll; the default) or raw_server/echo_load (C, libuv), which "
                             "a fast server cannot outrun")
    parser.add_argument("--quick", action="store_true", help="a ~15 s smoke run")
    parser.add_argument("--client", choices=WORKLOADS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        return client_main(args)
    if args.quick:
        args.runs, args.duration, args.warmup = 1, 1.0, 0.25
        args.bulk_mib, args.idle = 32, 500
        if args.workloads == ",".join(WORKLOADS):
            args.workloads = "rt,bulk,idle"
    args.workload_list = [w for w in args.workloads.split(",") if w]
    args.impl_list = [i for i in args.impls.split(",") if i]
    unknown = set(args.workload_list) - set(WORKLOADS)
    bad_impl = set(args.impl_list) - set(IMPLS)
    if unknown or bad_impl:
        parser.error(f"unknown workload/impl: {sorted(unknown | bad_impl)}")
    missing = check_machine()
    if not missing and "raw" in args.impl_list and not os.path.exists(RAW_ECHO):
        missing = f"{RAW_ECHO} is not built (make {os.path.relpath(RAW_ECHO, ROOT)})"
    if not missing and args.load == "c" and not os.path.exists(ECHO_LOAD):
        missing = f"{ECHO_LOAD} is not built (make {os.path.relpath(ECHO_LOAD, ROOT)})"
    if missing:
        print(missing, file=sys.stderr)
        return EXIT_MISSING
    if "idle" in args.workload_list:
        have = raise_nofile(args.idle + 256)
        if have < args.idle + 64:
            print(f"RLIMIT_NOFILE hard limit too low for {args.idle} connections ({have})",
                  file=sys.stderr)
            return EXIT_MISSING

    meta = {
        "date": datetime.date.today().isoformat(),
        "commit": git_commit(),
        "python": sys.version.split()[0],
        "tornado": "",
        "cpus": os.cpu_count(),
        "pinned": bool(taskset(0)),
        "command": command_line(args),
    }
    probe = subprocess.run([sys.executable, "-c", "import tornado; print(tornado.version)"],
                           capture_output=True, text=True, env=child_env())
    meta["tornado"] = probe.stdout.strip()
    rows: Dict[Tuple[str, str], Row] = {}
    raw: List[Dict[str, Any]] = []
    tmpdir = tempfile.mkdtemp(prefix="tc-bench-tcp-")
    try:
        for workload in args.workload_list:
            for run in range(args.runs):
                for impl in args.impl_list:
                    summary = run_one(workload, impl, args, tmpdir, rows, raw, run)
                    print(f"{workload:5} {impl:10} run {run + 1}: {summary}",
                          file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    table = render(rows, args, meta)
    print(table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({
                "meta": meta,
                "rows": [{"workload": r.workload, "impl": r.impl, "unit": UNITS[r.workload],
                          "median": r.median(), "values": r.values,
                          "server_cpu": r.server_cpu, "server_sys": r.server_sys,
                          "other_cores": r.other_cores, "steal": r.steal,
                          "client_cpu": r.client_cpu,
                          "ok": bool(r.correct), "notes": r.notes} for r in rows.values()],
                "runs": raw,
            }, f, indent=2)
    if args.out_dir:
        path = unused_path(args.out_dir, f"tcp-{meta['date']}-{meta['commit']}")
        with open(path, "w") as f:
            f.write(table)
        print(f"written to {path}", file=sys.stderr)
    return 1 if any(r.correct is False for r in rows.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
