"""The dns sample (libevent's dns-example), its server and resolver modes as subprocesses.

One toy server (``-s 127.0.0.1:0``) runs per module; each resolver run points
at it with ``--nameserver`` and is bounded by a subprocess timeout. The server
is stopped with SIGINT in teardown. Loopback only.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import dns.rrset
import pytest

SRC = str(Path(__file__).resolve().parents[1] / "src")
STEP = 5.0
MODULE = "levent.samples.dns"


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def dns_run(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the sample's resolver mode to completion."""
    return subprocess.run(
        [sys.executable, "-m", MODULE, *args],
        capture_output=True,
        text=True,
        timeout=STEP,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The toy server on 127.0.0.1; yields its ``IP:PORT``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", MODULE, "-s", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=child_env(),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("Listening on 127.0.0.1:"), line
        yield line.split()[-1]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _err = proc.communicate(timeout=STEP)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
    assert proc.returncode == 0
    assert "Caught signal" in out


def test_a(server: str) -> None:
    done = dns_run("--nameserver", server, "www.example.com", "other.test")
    assert done.returncode == 0, done.stderr
    assert "www.example.com: 192.168.11.11" in done.stdout.splitlines()
    assert "other.test: 192.168.11.11" in done.stdout.splitlines()
    assert "resolving (fwd) www.example.com..." in done.stderr


def test_aaaa(server: str) -> None:
    done = dns_run("--nameserver", server, "-t", "AAAA", "www.example.com")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["www.example.com: 2001:db8::c0a8:b0b"]


def test_getaddrinfo(server: str) -> None:
    done = dns_run("--nameserver", server, "-g", "www.example.com")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.endswith("www.example.com: 192.168.11.11") for line in lines), lines
    assert any(line.endswith("www.example.com: 2001:db8::c0a8:b0b") for line in lines), lines


def test_reverse(server: str) -> None:
    done = dns_run("--nameserver", server, "-x", "10.0.0.1", "::1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["10.0.0.1: foo.bar.example.com", "::1: foo.bar.example.com"]


def test_reverse_skips_non_ip(server: str) -> None:
    done = dns_run("--nameserver", server, "-x", "not-an-ip", "10.0.0.2")
    assert done.returncode == 1
    assert "Skipping non-IP not-an-ip" in done.stderr
    assert done.stdout.splitlines() == ["10.0.0.2: foo.bar.example.com"]


def test_tcp(server: str) -> None:
    done = dns_run("--nameserver", server, "-T", "--timeout", "1", "tcp.example.com")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["tcp.example.com: 192.168.11.11"]


def _answer_one_tcp_query(listener: socket.socket) -> None:
    """Accept one connection and answer its one query with A 10.9.8.7."""
    listener.settimeout(STEP)
    try:
        conn, _ = listener.accept()
    except OSError:
        return
    with conn:
        conn.settimeout(STEP)
        data = b""
        while len(data) < 2 or len(data) < 2 + struct.unpack(">H", data[:2])[0]:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        query = dns.message.from_wire(data[2:])
        reply = dns.message.make_response(query)
        reply.answer.append(dns.rrset.from_text(query.question[0].name, 10, "IN", "A", "10.9.8.7"))
        wire = reply.to_wire()
        conn.sendall(struct.pack(">H", len(wire)) + wire)


def test_tcp_flag_really_uses_tcp() -> None:
    # UDP on this port never answers; only TCP does: -T must get the TCP answer.
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent,
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener,
    ):
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        listener.bind(("127.0.0.1", port))
        listener.listen(1)
        thread = threading.Thread(target=_answer_one_tcp_query, args=(listener,), daemon=True)
        thread.start()
        done = dns_run("--nameserver", f"127.0.0.1:{port}", "-T", "--timeout", "1", "only.tcp")
        thread.join(STEP)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["only.tcp: 10.9.8.7"]


def test_server_answers_over_tcp(server: str) -> None:
    host, port = server.rsplit(":", 1)
    query = dns.message.make_query("x.example", dns.rdatatype.A)
    reply = dns.query.tcp(query, host, port=int(port), timeout=STEP)
    assert [str(r) for rrset in reply.answer for r in rrset] == ["192.168.11.11"]


def test_resolv_conf(server: str, tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text(f"nameserver {server}\n")
    done = dns_run("-c", str(conf), "conf.example.com")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["conf.example.com: 192.168.11.11"]


def test_missing_resolv_conf(tmp_path: Path) -> None:
    done = dns_run("-c", str(tmp_path / "nope.conf"), "x.example")
    assert done.returncode == 1
    assert "Couldn't configure nameservers" in done.stderr


def test_unreachable_nameserver() -> None:
    # A bound UDP socket that never answers: queries to it can only time out.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        done = dns_run(
            "--nameserver", f"127.0.0.1:{port}", "--timeout", "0.3", "--attempts", "1", "x.example"
        )
    assert done.returncode == 1
    assert done.stdout.splitlines() == ["x.example: No answer (request timed out, 67)"]
    assert "Traceback" not in done.stderr


def test_usage_errors() -> None:
    assert dns_run().returncode == 2
    done = dns_run("-t", "MX", "x.example")
    assert done.returncode == 2
    assert "unsupported -t MX" in done.stderr
    assert dns_run("-s", "nonsense").returncode == 2
