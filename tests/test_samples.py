"""The sample programs, run for real: subprocesses, real signals, a real FIFO, real sockets.

Each sample is started as ``python -m levent NAME …`` and driven from outside
the way a user would drive it (Ctrl-C is ``os.kill(pid, SIGINT)``). Every wait
has a deadline; a sample still running at the end of a test is killed.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import select
import selectors
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import levent

SRC = str(Path(__file__).resolve().parent.parent / "src")
STEP = 10.0  # seconds any single expected output may take to appear


def _env(method: str | None = None) -> dict[str, str]:
    """The child's environment: levent importable, and ``method`` forced if given."""
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    if method is not None:
        env["EVENT_SHOW_METHOD"] = "1"  # the sample logs "libevent using: <method>"
        for name in levent.supported_methods():
            if name == method:
                break
            env["EVENT_NO" + name.upper()] = "1"
    return env


class Pipe:
    """Line-oriented reads with deadlines from a child's stdout or stderr."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""
        self.closed = False

    def _fill(self, deadline: float) -> bool:
        """Read what is available before ``deadline``; False on timeout or EOF."""
        if self.closed:
            return False
        with selectors.DefaultSelector() as sel:
            sel.register(self.fd, selectors.EVENT_READ)
            if not sel.select(max(0.0, deadline - time.monotonic())):
                return False
        chunk = os.read(self.fd, 65536)
        if not chunk:
            self.closed = True
            return False
        self.buf += chunk
        return True

    def readline(self, timeout: float = STEP) -> str:
        """The next line, without its newline; fails the test after ``timeout``."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            if not self._fill(deadline):
                raise AssertionError(f"no complete line within {timeout} s; got {self.buf!r}")
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode()

    def read_to_eof(self, timeout: float = STEP) -> str:
        """Everything until the child closes the pipe."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            if not self._fill(deadline) and not self.closed:
                raise AssertionError(f"pipe still open after {timeout} s; got {self.buf!r}")
        data, self.buf = self.buf, b""
        return data.decode(errors="replace")


class Sample:
    """A running sample: the process plus its two pipes."""

    def __init__(
        self,
        *args: str,
        method: str | None = None,
        module: str | None = None,
        rlimit_nofile: int | None = None,
    ) -> None:
        target = ["-m", "levent", *args] if module is None else ["-m", module, *args]

        def limit_fds() -> None:
            if rlimit_nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (rlimit_nofile, rlimit_nofile))

        self.proc = subprocess.Popen(
            [sys.executable, *target],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(method),
            preexec_fn=limit_fds,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.out = Pipe(self.proc.stdout.fileno())
        self.err = Pipe(self.proc.stderr.fileno())

    def kill(self, signum: int) -> None:
        os.kill(self.proc.pid, signum)

    def wait(self, timeout: float = STEP) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"sample still running after {timeout} s; stderr so far: {self.err.buf!r}"
            ) from None

    def still_running_after(self, seconds: float) -> bool:
        try:
            self.proc.wait(seconds)
        except subprocess.TimeoutExpired:
            return True
        return False

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.proc.stdout.close()
        self.proc.stderr.close()


@pytest.fixture
def start() -> Iterator[type[Sample]]:
    """``start(*args)`` runs a sample; whatever is still running at teardown is killed."""
    started: list[Sample] = []

    class Tracked(Sample):
        def __init__(self, *args: str, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            started.append(self)

    yield Tracked
    for sample in started:
        sample.close()


METHODS = levent.supported_methods()

# -- time-test ------------------------------------------------------------------------

TIMEOUT_LINE = re.compile(r"^timeout_cb called at (\d+): (\d+\.\d{3}) seconds elapsed\.$")


@pytest.mark.parametrize("persistent", [False, True], ids=["re-added", "EV_PERSIST"])
def test_given_count_time_test_prints_that_many_timeouts_and_exits(
    start: type[Sample], persistent: bool
) -> None:
    args = ["time-test", "--count", "3", "--interval", "0.1"] + (["-p"] if persistent else [])
    before = int(time.time())
    sample = start(*args)
    lines = [sample.out.readline() for _ in range(3)]
    assert sample.wait() == 0
    assert sample.out.read_to_eof() == ""
    for line in lines:
        match = TIMEOUT_LINE.match(line)
        assert match, line
        assert before <= int(match.group(1)) <= time.time()
        assert 0.09 <= float(match.group(2)) < 1.0, line


def test_given_sigint_time_test_exits_cleanly(start: type[Sample]) -> None:
    sample = start("time-test", "--interval", "0.05")
    assert TIMEOUT_LINE.match(sample.out.readline())
    sample.kill(signal.SIGINT)
    remaining = sample.out.read_to_eof().splitlines()
    assert sample.wait() == 0
    assert remaining[-1] == "Caught an interrupt signal; exiting cleanly."
    assert all(TIMEOUT_LINE.match(line) for line in remaining[:-1])
    assert sample.err.read_to_eof() == ""


def test_time_test_runs_as_its_own_module(start: type[Sample]) -> None:
    sample = start("-p", "--count", "1", "--interval", "0.01", module="levent.samples.time_test")
    assert TIMEOUT_LINE.match(sample.out.readline())
    assert sample.wait() == 0


# -- signal-test ----------------------------------------------------------------------


def test_given_sigints_signal_test_reports_each_and_quits_on_the_third(
    start: type[Sample],
) -> None:
    sample = start("signal-test")
    assert "press Ctrl-C" in sample.err.readline()
    for _ in range(2):
        sample.kill(signal.SIGINT)
        assert sample.out.readline() == f"signal_cb: got signal {int(signal.SIGINT)}"
    # As in the C sample, two deliveries only print: the event is still pending.
    assert sample.still_running_after(0.3)
    sample.kill(signal.SIGINT)
    assert sample.out.readline() == f"signal_cb: got signal {int(signal.SIGINT)}"
    assert sample.wait() == 0
    assert sample.out.read_to_eof() == ""


# -- event-read-fifo ------------------------------------------------------------------


def _wait_for_fifo(sample: Sample) -> str:
    line = sample.err.readline()
    assert line.startswith("Write data to "), line
    path = line.removeprefix("Write data to ")
    assert stat.S_ISFIFO(os.lstat(path).st_mode)
    return path


def test_given_a_writer_event_read_fifo_prints_its_data_and_exits_at_eof(
    start: type[Sample], tmp_path: Path
) -> None:
    fifo = tmp_path / "event.fifo"
    sample = start("event-read-fifo", "--path", str(fifo))
    assert _wait_for_fifo(sample) == str(fifo)
    # The reader holds the FIFO open, so this open does not block.
    writer = os.open(fifo, os.O_WRONLY)
    try:
        os.write(writer, b"hello levent\n")
        assert sample.out.readline() == "Read: hello levent"
        assert sample.out.readline() == ""  # the data's own newline, then the sample's
        os.write(writer, b"second")
        assert sample.out.readline() == "Read: second"
    finally:
        os.close(writer)
    assert sample.wait() == 0
    err = sample.err.read_to_eof()
    assert "fifo_read called with fd: " in err
    assert err.endswith("Connection closed\n")
    assert not fifo.exists()


def test_given_more_than_one_read_worth_event_read_fifo_prints_it_in_pieces(
    start: type[Sample], tmp_path: Path
) -> None:
    fifo = tmp_path / "event.fifo"
    sample = start("event-read-fifo", "--path", str(fifo))
    _wait_for_fifo(sample)
    payload = bytes(range(ord("a"), ord("z") + 1)) * 40  # 1040 bytes, > 254 per read
    writer = os.open(fifo, os.O_WRONLY)
    os.write(writer, payload)
    os.close(writer)
    out = sample.out.read_to_eof()
    assert sample.wait() == 0
    pieces = [line.removeprefix("Read: ") for line in out.splitlines()]
    assert all(line.startswith("Read: ") for line in out.splitlines())
    assert all(len(piece) <= 254 for piece in pieces)
    assert "".join(pieces).encode() == payload


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_given_a_signal_event_read_fifo_removes_the_fifo_and_exits(
    start: type[Sample], tmp_path: Path, signum: signal.Signals
) -> None:
    fifo = tmp_path / "event.fifo"
    sample = start("event-read-fifo", "--path", str(fifo))
    _wait_for_fifo(sample)
    sample.kill(signum)
    assert sample.wait() == 0
    assert not fifo.exists()


def test_by_default_event_read_fifo_uses_a_temporary_directory_and_removes_it(
    start: type[Sample],
) -> None:
    sample = start("event-read-fifo")
    path = Path(_wait_for_fifo(sample))
    assert path.name == "event.fifo"
    sample.kill(signal.SIGTERM)
    assert sample.wait() == 0
    assert not path.exists()
    assert not path.parent.exists()


def test_given_a_regular_file_at_the_path_event_read_fifo_refuses_and_keeps_it(
    start: type[Sample], tmp_path: Path
) -> None:
    regular = tmp_path / "event.fifo"
    regular.write_text("precious")
    sample = start("event-read-fifo", "--path", str(regular))
    assert sample.wait() == 1
    assert "lstat" in sample.err.read_to_eof()
    assert regular.read_text() == "precious"


# -- echo-server ----------------------------------------------------------------------


@pytest.fixture(params=["echo-server", "event-server"])
def echo_name(request: pytest.FixtureRequest) -> str:
    """Both echo servers: 10.3 on BufferEvents and 10.2 on raw events, same contract."""
    name: str = request.param
    return name


def _start_echo(
    start: type[Sample], echo_name: str, method: str | None = None
) -> tuple[Sample, int]:
    sample = start(echo_name, "--port", "0", method=method)
    line = sample.out.readline()
    match = re.fullmatch(r"Listening on 127\.0\.0\.1:(\d+)", line)
    assert match, line
    if method is not None:
        assert sample.err.readline().endswith(f"libevent using: {method}")
    return sample, int(match.group(1))


class EchoClient:
    """A non-blocking client that sends ``payload`` and expects it back."""

    def __init__(self, port: int, payload: bytes) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.connect_ex(("127.0.0.1", port))
        self.payload = payload
        self.sent = 0
        self.received = bytearray()

    @property
    def done(self) -> bool:
        return len(self.received) >= len(self.payload)

    def events(self) -> int:
        mask = selectors.EVENT_READ
        if self.sent < len(self.payload):
            mask |= selectors.EVENT_WRITE
        return mask

    def on_ready(self, mask: int) -> None:
        if mask & selectors.EVENT_WRITE and self.sent < len(self.payload):
            with contextlib.suppress(BlockingIOError):
                self.sent += self.sock.send(self.payload[self.sent : self.sent + 65536])
        if mask & selectors.EVENT_READ:
            try:
                chunk = self.sock.recv(65536)
            except BlockingIOError:
                return
            if not chunk:
                raise AssertionError(f"server closed early after {len(self.received)} bytes")
            self.received += chunk


def run_clients(clients: list[EchoClient], timeout: float) -> None:
    """Drive every client until each got its payload back; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        masks = {}
        for client in clients:
            masks[client] = client.events()
            sel.register(client.sock, masks[client], client)
        remaining = len(clients)
        while remaining:
            left = deadline - time.monotonic()
            if left <= 0:
                stuck = sum(not c.done for c in clients)
                raise AssertionError(f"{stuck} of {len(clients)} clients unfinished")
            for key, mask in sel.select(min(left, 1.0)):
                client: EchoClient = key.data
                client.on_ready(mask)
                if client.done:
                    sel.unregister(client.sock)
                    remaining -= 1
                elif client.events() != masks[client]:
                    masks[client] = client.events()
                    sel.modify(client.sock, masks[client], client)
    for client in clients:
        assert bytes(client.received) == client.payload


@pytest.mark.parametrize("method", METHODS)
def test_given_200_concurrent_clients_echo_server_returns_every_byte(
    start: type[Sample], echo_name: str, method: str
) -> None:
    sample, port = _start_echo(start, echo_name, method)
    clients = [EchoClient(port, os.urandom(64 * 1024)) for _ in range(200)]
    try:
        run_clients(clients, timeout=40)
    finally:
        for client in clients:
            client.sock.close()
    sample.kill(signal.SIGTERM)
    assert sample.wait() == 0


def test_given_a_client_that_never_reads_echo_server_serves_the_others(
    start: type[Sample],
    echo_name: str,
) -> None:
    sample, port = _start_echo(start, echo_name)
    slow = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    slow.connect(("127.0.0.1", port))
    slow.setblocking(False)
    attempt = os.urandom(1 << 20) * 64  # offer 64 MiB, read nothing back
    sent = 0
    last_progress = time.monotonic()
    give_up = last_progress + 20
    while sent < len(attempt) and time.monotonic() - last_progress < 0.5:
        assert time.monotonic() < give_up, "the slow client never stalled"
        try:
            sent += slow.send(attempt[sent : sent + 65536])
            last_progress = time.monotonic()
        except BlockingIOError:
            time.sleep(0.01)
    # The server stopped reading: what it holds is bounded (1 MiB + kernel buffers).
    assert sent < len(attempt), "back-pressure never pushed back on the slow client"

    clients = [EchoClient(port, os.urandom(64 * 1024)) for _ in range(20)]
    try:
        run_clients(clients, timeout=20)
    finally:
        for client in clients:
            client.sock.close()

    # The slow client finally reads: the server resumes and echoes every byte it took.
    slow.setblocking(True)
    slow.settimeout(STEP)
    slow.shutdown(socket.SHUT_WR)
    back = bytearray()
    while True:
        chunk = slow.recv(1 << 20)
        if not chunk:
            break
        back += chunk
    slow.close()
    assert len(back) == sent
    assert back == attempt[:sent]
    sample.kill(signal.SIGTERM)
    assert sample.wait() == 0


def test_given_eof_with_data_pending_echo_server_flushes_then_closes(
    start: type[Sample],
    echo_name: str,
) -> None:
    sample, port = _start_echo(start, echo_name)
    payload = os.urandom(3 << 20)
    with socket.create_connection(("127.0.0.1", port), timeout=STEP) as sock:
        sock.setblocking(False)
        sent = 0
        back = bytearray()
        with selectors.DefaultSelector() as sel:
            sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
            deadline = time.monotonic() + 20
            while True:
                assert time.monotonic() < deadline
                for _, mask in sel.select(1.0):
                    if mask & selectors.EVENT_WRITE:
                        sent += sock.send(payload[sent : sent + 65536])
                        if sent == len(payload):
                            sock.shutdown(socket.SHUT_WR)
                            sel.modify(sock, selectors.EVENT_READ)
                    if mask & selectors.EVENT_READ:
                        chunk = sock.recv(1 << 20)
                        if not chunk:
                            break
                        back += chunk
                else:
                    continue
                break
    assert back == payload
    sample.kill(signal.SIGTERM)
    assert sample.wait() == 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_given_a_signal_with_clients_connected_echo_server_exits_0(
    start: type[Sample], echo_name: str, signum: signal.Signals
) -> None:
    sample, port = _start_echo(start, echo_name)
    idle = [socket.create_connection(("127.0.0.1", port), timeout=STEP) for _ in range(5)]
    busy = idle[0]
    busy.sendall(b"ping")
    assert busy.recv(4) == b"ping"
    sample.kill(signum)
    assert sample.wait() == 0
    assert sample.out.readline() == f"Caught signal {int(signum)}; exiting cleanly."
    for sock in idle:
        assert sock.recv(1) == b""  # the server closed every connection on its way out
        sock.close()


def test_given_a_port_in_use_echo_server_says_so_and_exits_1(
    start: type[Sample], echo_name: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        sample = start(echo_name, "--port", str(port))
        assert sample.wait() == 1
        assert "cannot listen" in sample.err.read_to_eof()


def test_given_too_many_open_files_echo_server_pauses_accepting_then_resumes(
    start: type[Sample],
    echo_name: str,
) -> None:
    sample = start(echo_name, "--port", "0", rlimit_nofile=24)
    match = re.fullmatch(r"Listening on 127\.0\.0\.1:(\d+)", sample.out.readline())
    assert match
    port = int(match.group(1))
    # More clients than the server has fds for: the kernel completes every
    # handshake (backlog), the server accepts what fits and pauses on EMFILE.
    clients = [socket.create_connection(("127.0.0.1", port), timeout=STEP) for _ in range(40)]
    for client in clients:
        client.sendall(b"hi")
    waiting = list(clients)
    deadline = time.monotonic() + 30
    while waiting:
        assert time.monotonic() < deadline, f"{len(waiting)} clients never echoed"
        readable, _, _ = select.select(waiting, [], [], 0.5)
        for client in readable:
            assert client.recv(2) == b"hi"
            client.close()  # frees a server fd for the next one
            waiting.remove(client)
    sample.kill(signal.SIGTERM)
    assert sample.wait() == 0
    pauses = [line for line in sample.err.read_to_eof().splitlines() if "pausing" in line]
    assert pauses, "the server never hit EMFILE; the test's fd limit is too high"
    assert all("Too many open files" in line for line in pauses)
    assert len(pauses) < 200, "the listener spun on EMFILE instead of backing off"


# -- hello-world ----------------------------------------------------------------------


def _start_hello(start: type[Sample]) -> tuple[Sample, int]:
    sample = start("hello-world", "--host", "127.0.0.1", "--port", "0")
    match = re.fullmatch(r"Listening on 127\.0\.0\.1:(\d+)", sample.out.readline())
    assert match
    return sample, int(match.group(1))


def test_given_clients_hello_world_greets_each_and_closes(start: type[Sample]) -> None:
    """Each client reads "Hello, World!\\n" then EOF; the server prints "flushed answer"."""
    sample, port = _start_hello(start)
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", port), timeout=STEP) as sock:
            data = b""
            while True:
                chunk = sock.recv(100)
                if not chunk:
                    break
                data += chunk
            assert data == b"Hello, World!\n"
        assert sample.out.readline() == "flushed answer"
    sample.kill(signal.SIGINT)
    assert sample.out.readline() == "Caught an interrupt signal; exiting cleanly in two seconds."
    assert sample.wait() == 0
    assert sample.out.readline() == "done"


def test_given_sigint_hello_world_keeps_serving_for_two_seconds(start: type[Sample]) -> None:
    """libevent's sample: loopexit(2 s) — clients connecting meanwhile are still greeted."""
    sample, port = _start_hello(start)
    began = time.monotonic()
    sample.kill(signal.SIGINT)
    assert sample.out.readline().startswith("Caught an interrupt signal")
    with socket.create_connection(("127.0.0.1", port), timeout=STEP) as sock:
        assert sock.recv(100) == b"Hello, World!\n"
    assert sample.wait() == 0
    assert time.monotonic() - began >= 1.5


def test_hello_world_runs_as_its_own_module(start: type[Sample]) -> None:
    sample = start("--host", "127.0.0.1", "--port", "0", module="levent.samples.hello_world")
    assert sample.out.readline().startswith("Listening on 127.0.0.1:")
    sample.kill(signal.SIGINT)
    assert sample.wait() == 0


def test_given_5000_concurrent_connections_echo_server_echoes_every_byte(
    start: type[Sample],
) -> None:
    """Issue 4: 5,000 clients at once through the BufferEvent echo server, none loses a byte."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 11_000:
        pytest.skip(f"needs 11,000 fds for 5,000 connections; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 11_000), hard))
    try:
        sample, port = _start_echo(start, "echo-server")
        clients = [EchoClient(port, os.urandom(1024)) for _ in range(5000)]
        try:
            run_clients(clients, timeout=50)
        finally:
            for client in clients:
                client.sock.close()
        sample.kill(signal.SIGTERM)
        assert sample.wait() == 0
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# -- proxy ----------------------------------------------------------------------------


def _listening_port(sample: Sample) -> int:
    match = re.fullmatch(r"Listening on 127\.0\.0\.1:(\d+)", sample.out.readline())
    assert match
    return int(match.group(1))


def _roundtrip(port: int, payload: bytes) -> bytes:
    """Send ``payload`` while reading the echo; stop at its length or at EOF.

    (le-proxy closes a client as soon as that client sends EOF, so the client
    does not half-close here.)
    """
    with socket.create_connection(("127.0.0.1", port), timeout=STEP) as sock:
        sock.setblocking(False)
        sent = 0
        back = bytearray()
        with selectors.DefaultSelector() as sel:
            sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
            deadline = time.monotonic() + 20
            while len(back) < len(payload):
                assert time.monotonic() < deadline, f"stalled at {len(back)} bytes"
                for _, mask in sel.select(1.0):
                    if mask & selectors.EVENT_WRITE:
                        sent += sock.send(payload[sent : sent + 65536])
                        if sent == len(payload):
                            sel.modify(sock, selectors.EVENT_READ)
                    if mask & selectors.EVENT_READ:
                        chunk = sock.recv(1 << 20)
                        if not chunk:
                            return bytes(back)
                        back += chunk
        return bytes(back)


def test_given_an_echo_server_behind_it_proxy_relays_both_ways(start: type[Sample]) -> None:
    """le-proxy: bytes go through to the target and back; EOF closes both sides after a flush."""
    echo, echo_port = _start_echo(start, "echo-server")
    proxy = start("proxy", "127.0.0.1:0", f"127.0.0.1:{echo_port}")
    port = _listening_port(proxy)
    payload = os.urandom(3 << 20)  # more than MAX_OUTPUT: back-pressure engages
    assert _roundtrip(port, payload) == payload
    assert _roundtrip(port, b"second client") == b"second client"
    proxy.kill(signal.SIGTERM)
    assert proxy.wait() == 0
    echo.kill(signal.SIGTERM)
    assert echo.wait() == 0


@pytest.mark.parametrize("socket_tls", [False, True], ids=["tls-filter", "tls-socket"])
def test_given_tls_between_two_proxies_the_bytes_arrive_intact(
    start: type[Sample], tmp_path: Path, socket_tls: bool
) -> None:
    """TCP in → TLS (certificate checked) → TLS in → TCP out to an echo server, and back."""
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert.private_key_pem.write_to_path(str(key_file))
    for blob in cert.cert_chain_pems:
        blob.write_to_path(str(cert_file), append=True)
    echo, echo_port = _start_echo(start, "echo-server")
    inner = start(
        "proxy", "127.0.0.1:0", f"127.0.0.1:{echo_port}",
        "--tls-cert", str(cert_file), "--tls-key", str(key_file),
    )  # fmt: skip
    inner_port = _listening_port(inner)
    tls_flags = ["-s", "-W"] if socket_tls else ["-s"]
    outer = start(
        "proxy", "127.0.0.1:0", f"127.0.0.1:{inner_port}", *tls_flags,
        "--ca-file", str(ca_file), "--server-name", "localhost",
    )  # fmt: skip
    outer_port = _listening_port(outer)
    payload = os.urandom(1 << 20)
    assert _roundtrip(outer_port, payload) == payload
    for sample in (outer, inner, echo):
        sample.kill(signal.SIGTERM)
        assert sample.wait() == 0


def test_given_an_untrusted_target_certificate_proxy_refuses_to_relay(
    start: type[Sample], tmp_path: Path
) -> None:
    """-s without the CA: the handshake fails, the client is closed, nothing is relayed."""
    trustme = pytest.importorskip("trustme")
    cert = trustme.CA().issue_cert("localhost")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_pem.write_to_path(str(key_file))
    for blob in cert.cert_chain_pems:
        blob.write_to_path(str(cert_file), append=True)
    echo, echo_port = _start_echo(start, "echo-server")
    inner = start(
        "proxy", "127.0.0.1:0", f"127.0.0.1:{echo_port}",
        "--tls-cert", str(cert_file), "--tls-key", str(key_file),
    )  # fmt: skip
    outer = start("proxy", "127.0.0.1:0", f"127.0.0.1:{_listening_port(inner)}", "-s",
                  "--server-name", "localhost")  # fmt: skip
    assert _roundtrip(_listening_port(outer), b"secret") == b""
    outer.kill(signal.SIGTERM)
    assert outer.wait() == 0
    assert "certificate verify failed" in outer.err.read_to_eof()
    for sample in (inner, echo):
        sample.kill(signal.SIGTERM)
        assert sample.wait() == 0
