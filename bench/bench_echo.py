"""Ping-pong TCP echo (issue 4, item 10): levent's echo server against asyncio, uvloop, libevent.

Every server runs in its own process pinned to one CPU; a load generator in C
(``bench/c/echo_client.c``: epoll, no libevent) runs pinned to another. Each of
its connections sends one message, waits for the whole echo, sends the next.
Per server and cell of the matrix (connections x message size) it reports
messages/s, the *server's* CPU microseconds per message (user and system, read
from ``/proc/PID/stat`` by the client at the two edges of the timed window) and
the client's own CPU, to show it is not the bottleneck. Then, with a fresh
server each, the server's RSS growth per idle connection over 10,000 of them.

Servers: levent (``LEVENT_SERVER``), asyncio Protocol, asyncio Streams, uvloop
Protocol (if installed), libevent's C echo server (``bench/c/``, needs
libevent-dev). Everything listens on 127.0.0.1 only.
``--quick``: 1 s per cell and a reduced matrix.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib.util
import os
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from common import ServerRunCpu

HERE = Path(__file__).resolve().parent
BUILD = HERE / "_build"
C_DIR = HERE / "c"
SERVERS_DIR = HERE / "servers"

# The levent server under test: arguments after the interpreter. Switch this one
# constant to measure another levent server (e.g. the BufferEvent echo server).
LEVENT_SERVER: tuple[str, ...] = ("-m", "levent.samples.echo_server", "--port", "0")

FULL_CONNECTIONS = (1, 10, 100)
FULL_SIZES = (64, 1024)
QUICK_CONNECTIONS = (1, 100)
QUICK_SIZES = (64, 1024)
IDLE_CONNECTIONS = 10_000
STARTUP_TIMEOUT = 15.0  # seconds for a server to print "Listening on"
MAX_OTHER = 0.10  # a run where other processes took more than this share of a CPU ...
RETRIES = 2  # ... is run again, at most this many times


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """How to start one server; ``skip`` says why it is not available."""

    name: str
    argv: tuple[str, ...]
    skip: str = ""


@dataclass(frozen=True, slots=True)
class Sample(ServerRunCpu):
    """One run of the client against one server (CPU figures in seconds)."""

    messages: int
    seconds: float
    client_user: float
    client_sys: float
    server_user: float
    server_sys: float
    machine_busy: float  # every CPU's busy time over the window, all processes

    @property
    def units(self) -> int:
        return self.messages


@dataclass(frozen=True, slots=True)
class Memory:
    """Server RSS before and after opening ``connections`` idle connections."""

    connections: int
    before_kib: int
    after_kib: int

    @property
    def per_connection(self) -> float:
        return (self.after_kib - self.before_kib) / self.connections


# -- building the C programs -----------------------------------------------------


def compile_c(source: Path, output: Path, libs: tuple[str, ...] = ()) -> str:
    """Compile ``source`` with ``cc -O2`` unless ``output`` is newer; '' or the error."""
    if output.exists() and output.stat().st_mtime >= source.stat().st_mtime:
        return ""
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return "no C compiler (cc) found"
    BUILD.mkdir(exist_ok=True)
    proc = subprocess.run(
        [cc, "-O2", "-Wall", "-o", str(output), str(source), *libs],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        output.unlink(missing_ok=True)
        return proc.stderr.strip() or f"{cc} exited with {proc.returncode}"
    return ""


def build() -> tuple[Path, str]:
    """Build the client (required) and libevent's server; its path or why it is skipped."""
    client = BUILD / "echo_client"
    error = compile_c(C_DIR / "echo_client.c", client)
    if error:
        raise RuntimeError(f"cannot build bench/c/echo_client.c:\n{error}")
    server = BUILD / "libevent_echo_server"
    error = compile_c(C_DIR / "libevent_echo_server.c", server, ("-levent",))
    if error:
        if "event2/" in error:
            error = "libevent-dev is not installed (apt-get install libevent-dev)"
        else:
            error = "cannot build bench/c/libevent_echo_server.c: " + error.splitlines()[0]
    return client, error


def servers(libevent_skip: str) -> list[ServerSpec]:
    py = sys.executable
    uvloop_skip = "" if importlib.util.find_spec("uvloop") else "uvloop is not installed"
    return [
        ServerSpec("levent", (py, *LEVENT_SERVER)),
        ServerSpec("asyncio Protocol", (py, str(SERVERS_DIR / "asyncio_protocol.py"), "0")),
        ServerSpec("asyncio Streams", (py, str(SERVERS_DIR / "asyncio_streams.py"), "0")),
        ServerSpec(
            "uvloop Protocol",
            (py, str(SERVERS_DIR / "asyncio_protocol.py"), "0", "--uvloop"),
            uvloop_skip,
        ),
        ServerSpec("libevent C", (str(BUILD / "libevent_echo_server"), "0"), libevent_skip),
    ]


# -- processes -----------------------------------------------------------------------


def raise_nofile() -> int:
    """Raise this process's RLIMIT_NOFILE soft limit to the hard limit; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def child_setup(cpu: int | None) -> Callable[[], None]:
    def setup() -> None:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        raise_nofile()

    return setup


class Server:
    """A running server subprocess, listening on 127.0.0.1:``port``."""

    def __init__(self, spec: ServerSpec, cpu: int | None) -> None:
        self.spec = spec
        BUILD.mkdir(exist_ok=True)
        self.log_path = BUILD / f"{spec.name.replace(' ', '_')}.stderr"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            spec.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=BUILD,  # not the checkout: `-m levent` must find the installed package
            preexec_fn=child_setup(cpu),
        )
        try:
            self.port = self._read_port()
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read_port(self) -> int:
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(STARTUP_TIMEOUT):
                raise RuntimeError(f"{self.spec.name}: no 'Listening on' line in time")
        line = self.proc.stdout.readline().decode(errors="replace").strip()
        if not line.startswith("Listening on "):
            raise RuntimeError(f"{self.spec.name}: unexpected first line {line!r}; {self.tail()}")
        host, _, port = line.removeprefix("Listening on ").rpartition(":")
        if host.strip("[]") not in ("127.0.0.1", "::1", "localhost"):
            raise RuntimeError(f"{self.spec.name} listens on {host}, not loopback")
        return int(port)

    def tail(self) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return "stderr: " + " | ".join(text[-3:]) if text else "no stderr"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_kib(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError(f"{self.spec.name}: no VmRSS")

    def fd_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s; always reaps the process."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()


@contextlib.contextmanager
def running(specs: list[ServerSpec], cpu: int | None) -> Iterator[dict[str, Server]]:
    """Start every available server; stop all of them on the way out, even on error."""
    started: dict[str, Server] = {}
    try:
        for spec in specs:
            if spec.skip:
                continue
            try:
                started[spec.name] = Server(spec, cpu)
            except (OSError, RuntimeError) as exc:
                print(f"!! {spec.name}: cannot start: {exc}")
        yield started
    finally:
        for server in started.values():
            server.stop()


# -- throughput --------------------------------------------------------------------------


def run_client(
    client: Path,
    server: Server,
    connections: int,
    size: int,
    seconds: float,
    warmup: float,
    cpu: int | None,
) -> Sample:
    argv = [str(client), "127.0.0.1", str(server.port), str(connections), str(size)]
    argv += [f"{seconds:g}", f"{warmup:g}", str(server.pid)]
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=seconds + warmup + 30,
        preexec_fn=child_setup(cpu),
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"client: {proc.stderr.strip()}; server {server.tail()}")
    fields = dict(item.split("=", 1) for item in proc.stdout.split())
    return Sample(
        int(fields["messages"]),
        float(fields["seconds"]),
        float(fields["client_user"]),
        float(fields["client_sys"]),
        float(fields["server_user"]),
        float(fields["server_sys"]),
        float(fields.get("machine_busy", -1)),
    )


def _ratio(value: float) -> str:
    return f"{value:.2f}x" if value == value and value not in (0.0, float("inf")) else "-"


def print_cell(title: str, rows: list[tuple[str, Sample | str]]) -> None:
    """One cell's table: absolute figures, then levent's ratio against each row."""
    ref = next((s for n, s in rows if n == "levent" and isinstance(s, Sample)), None)
    print(f"\n## {title}")
    print(
        f"{'implementation':<18} {'msgs/s':>9} {'levent is':>9}"
        f" {'srv usr':>8} {'srv sys':>8} {'srv tot':>8} {'levent is':>9}"
        f" {'srv CPU':>8} {'cli CPU':>8} {'other':>6}"
    )
    for name, sample in rows:
        if not isinstance(sample, Sample):
            print(f"{name:<18} {'n/a':>9}  ({sample})")
            continue
        fast = cheap = ""
        if ref is not None and sample is not ref:
            fast = _ratio(ref.rate / sample.rate)
            cheap = _ratio(sample.server_us() / ref.server_us())
        server_cpu = (sample.server_user + sample.server_sys) / sample.seconds
        client_cpu = (sample.client_user + sample.client_sys) / sample.seconds
        print(
            f"{name:<18} {sample.rate:>9.0f} {fast:>9}"
            f" {sample.server_us('user'):>8.1f} {sample.server_us('sys'):>8.1f}"
            f" {sample.server_us():>8.1f} {cheap:>9}"
            f" {server_cpu:>7.0%} {client_cpu:>7.0%} {sample.other_cpu:>6.0%}"
        )


# -- memory ------------------------------------------------------------------------------


def _probe(sock: socket.socket) -> None:
    """One byte there and back: the server's loop has run since the last accept."""
    sock.sendall(b"p")
    if sock.recv(1) != b"p":
        raise RuntimeError("probe: wrong echo")


def _wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.002)


def _connect_batch(port: int, count: int) -> list[socket.socket]:
    """Open ``count`` connections at once (non-blocking connect), return them connected."""
    socks: list[socket.socket] = []
    with selectors.DefaultSelector() as sel:
        try:
            for _ in range(count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(sock)
                sock.setblocking(False)
                err = sock.connect_ex(("127.0.0.1", port))
                if err not in (0, errno.EINPROGRESS):
                    raise OSError(err, os.strerror(err))
                sel.register(sock, selectors.EVENT_WRITE)
            pending = len(socks)
            deadline = time.monotonic() + 30
            while pending:
                ready = sel.select(max(0.0, deadline - time.monotonic()))
                if not ready:
                    raise RuntimeError("idle connections: connect timed out")
                for key, _ in ready:
                    s = key.fileobj
                    assert isinstance(s, socket.socket)
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, os.strerror(err))
                    sel.unregister(s)
                    pending -= 1
        except BaseException:
            for sock in socks:
                sock.close()
            raise
    return socks


def measure_memory(spec: ServerSpec, cpu: int | None, connections: int) -> Memory:
    """A fresh server's RSS before and after ``connections`` idle connections."""
    batch = 100  # below every server's listen backlog, so no SYN is dropped
    with running([spec], cpu) as started:
        if spec.name not in started:
            raise RuntimeError("did not start")
        server = started[spec.name]
        idle: list[socket.socket] = []
        probe = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        try:
            _probe(probe)
            time.sleep(0.2)
            base_fds = server.fd_count()
            before = server.rss_kib()
            while len(idle) < connections:
                idle += _connect_batch(server.port, min(batch, connections - len(idle)))
                expected = base_fds + len(idle)

                def accepted(srv: Server = server, want: int = expected) -> bool:
                    return srv.fd_count() >= want

                _wait_for(accepted, 30, "the server to accept")
            _probe(probe)
            time.sleep(0.2)
            after = server.rss_kib()
            if not server.alive():
                raise RuntimeError(f"server died; {server.tail()}")
        finally:
            probe.close()
            for sock in idle:
                sock.close()
    return Memory(connections, before, after)


def print_memory(title: str, rows: list[tuple[str, Memory | str]]) -> None:
    ref = next((m for n, m in rows if n == "levent" and isinstance(m, Memory)), None)
    print(f"\n## {title}")
    print(
        f"{'implementation':<18} {'RSS before':>11} {'RSS after':>11} {'KiB/conn':>9}"
        f" {'levent is':>10}"
    )
    for name, mem in rows:
        if not isinstance(mem, Memory):
            print(f"{name:<18} {'n/a':>11}  ({mem})")
            continue
        ratio = ""
        if ref is not None and mem is not ref and ref.per_connection > 0:
            ratio = _ratio(mem.per_connection / ref.per_connection)
        print(
            f"{name:<18} {mem.before_kib:>8} KiB {mem.after_kib:>8} KiB"
            f" {mem.per_connection:>9.2f} {ratio:>10}"
        )


# -- main ----------------------------------------------------------------------------------


def levent_build() -> str:
    """Which levent the server interpreter imports, from the servers' working directory."""
    BUILD.mkdir(exist_ok=True)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import levent; print(levent.__version__, levent.COMPILED, levent.__file__)",
        ],
        capture_output=True,
        text=True,
        cwd=BUILD,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"levent cannot be imported by {sys.executable}: {proc.stderr}")
    version, compiled, path = proc.stdout.split(maxsplit=2)
    build = "compiled with mypyc" if compiled == "True" else "pure Python"
    return f"levent {version} ({build}, levent.COMPILED={compiled}, {path.strip()})"


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(","))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1 s per cell, reduced matrix")
    parser.add_argument("--seconds", type=float, help="timed window per cell")
    parser.add_argument("--connections", type=_sizes, help="comma-separated, e.g. 1,10,100")
    parser.add_argument("--sizes", type=_sizes, help="message sizes in bytes, e.g. 64,1024")
    parser.add_argument("--idle", type=int, default=IDLE_CONNECTIONS, help="idle connections")
    parser.add_argument("--repeat", type=int, help="runs per cell, the most msgs/s wins")
    parser.add_argument("--no-pin", action="store_true", help="let the scheduler place processes")
    args = parser.parse_args(argv)
    repeat = args.repeat or (1 if args.quick else 2)
    seconds = args.seconds or (1.0 if args.quick else 3.0)
    warmup = 0.25 if args.quick else 0.5
    conn_counts = args.connections or (QUICK_CONNECTIONS if args.quick else FULL_CONNECTIONS)
    sizes = args.sizes or (QUICK_SIZES if args.quick else FULL_SIZES)

    if not sys.platform.startswith("linux"):
        print("bench_echo needs Linux (epoll, /proc, sched_setaffinity); skipped")
        return 0
    client, libevent_skip = build()
    specs = servers(libevent_skip)
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu: int | None = None
    client_cpu: int | None = None
    if len(cpus) >= 2 and not args.no_pin:
        server_cpu, client_cpu = cpus[0], cpus[1]
    print(levent_build())
    print(f"levent server: python {' '.join(LEVENT_SERVER)}")
    pinning = (
        f"server on CPU {server_cpu}, client on CPU {client_cpu}"
        if server_cpu is not None
        else "NOT pinned" + ("" if args.no_pin else " (fewer than 2 CPUs available)")
    )
    runs = "one run" if repeat == 1 else f"best of {repeat} interleaved runs"
    print(f"ping-pong echo, {seconds:g} s per cell after {warmup:g} s warm-up, {runs}; {pinning}")
    for spec in specs:
        if spec.skip:
            print(f"-- {spec.name}: skipped: {spec.skip}")
    print(
        "msgs/s: echoes completed by the C client; srv usr/sys/tot: server CPU microseconds\n"
        "per message; 'levent is' = levent's msgs/s over the row's, then the row's CPU per\n"
        "message over levent's (both > 1.00x when levent is better); srv/cli CPU: share of\n"
        "one CPU used by the server / the client over the window (100% = saturated);\n"
        "other: CPU taken meanwhile by every other process on the machine; a run with more\n"
        f"than {MAX_OTHER:.0%} is repeated up to {RETRIES} times (the machine may be shared)."
    )

    failures = 0
    with running(specs, server_cpu) as started:
        for conns in conn_counts:
            for size in sizes:
                best: dict[str, Sample | str] = {
                    spec.name: spec.skip for spec in specs if spec.skip
                }
                for _ in range(repeat):  # round-robin, so drift hits every server alike
                    for spec in specs:
                        server = started.get(spec.name)
                        if spec.skip or isinstance(best.get(spec.name), str):
                            continue
                        if server is None or not server.alive():
                            best[spec.name] = "server not running"
                            failures += 1
                            continue
                        try:
                            for _ in range(RETRIES + 1):  # again if someone else took CPU
                                sample = run_client(
                                    client, server, conns, size, seconds, warmup, client_cpu
                                )
                                if not sample.other_cpu > MAX_OTHER:
                                    break
                        except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
                            best[spec.name] = f"failed: {exc}"
                            failures += 1
                            continue
                        previous = best.get(spec.name)
                        if not isinstance(previous, Sample) or sample.rate > previous.rate:
                            best[spec.name] = sample
                rows = [(spec.name, best[spec.name]) for spec in specs]
                unit = "connection" if conns == 1 else "connections"
                print_cell(f"{conns} {unit} x {size} B messages, ping-pong", rows)
                sys.stdout.flush()

    limit = raise_nofile()
    idle = min(args.idle, limit - 64)
    note = "" if idle == args.idle else f" (RLIMIT_NOFILE hard limit {limit} allows only {idle})"
    memory: list[tuple[str, Memory | str]] = []
    for spec in specs:
        if spec.skip:
            memory.append((spec.name, spec.skip))
            continue
        try:
            memory.append((spec.name, measure_memory(spec, server_cpu, idle)))
        except (OSError, RuntimeError) as exc:
            memory.append((spec.name, f"failed: {exc}"))
            failures += 1
    print_memory(
        f"server RSS growth over {idle:,} idle connections{note} (VmRSS; kernel socket"
        " buffers not included)",
        memory,
    )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
