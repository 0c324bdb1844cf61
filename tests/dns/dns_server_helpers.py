"""Helpers for the DNS server tests: ports on 127.0.0.1 and clients in a helper thread.

The levent loop runs in the test thread, so server callbacks (and the asserts
in them) run there too; the client — dnspython's sync client or a raw socket —
runs in a helper thread started from inside the loop, and breaks the loop when
it is done. Every wait is bounded.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

import dns.message
import dns.query

from levent import EV_PERSIST, EVLOOP_ONCE, LEV_OPT_CLOSE_ON_FREE, Event, EventBase, Listener
from levent.dns.server import DnsServerPort, RequestCallback

HOST = "127.0.0.1"


def udp_port(base: EventBase, cb: RequestCallback, arg: Any = None) -> tuple[DnsServerPort, int]:
    """A UDP DnsServerPort on an ephemeral port of 127.0.0.1, and that port number."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, 0))
    number = sock.getsockname()[1]
    return DnsServerPort(base, sock, 0, cb, arg), number


def tcp_port(base: EventBase, cb: RequestCallback, arg: Any = None) -> tuple[DnsServerPort, int]:
    """A TCP DnsServerPort on a Listener bound to an ephemeral port of 127.0.0.1."""
    listener = Listener(base, None, None, LEV_OPT_CLOSE_ON_FREE, -1, address=(HOST, 0))
    number = listener.socket.getsockname()[1]
    return DnsServerPort.with_listener(base, listener, 0, cb, arg), number


def run_client(base: EventBase, fn: Callable[[], Any], limit: float = 5.0) -> Any:
    """Run ``fn()`` in a helper thread while the loop runs here; return what it returned.

    The thread starts once the loop is running, and breaks the loop when it
    ends. An exception in ``fn`` is raised here; ``limit`` bounds the whole run.
    """
    done = threading.Event()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            done.set()
            base.loopbreak()

    thread = threading.Thread(target=target, daemon=True)
    starter = Event.timer(base, lambda fd, what, arg: thread.start())
    starter.add(0)
    # Wakes the loop now and then, so the deadline is checked even when all is quiet.
    tick = Event(base, -1, EV_PERSIST, lambda fd, what, arg: None)
    tick.add(0.05)
    deadline = time.monotonic() + limit
    try:
        while not done.is_set():
            assert time.monotonic() < deadline, "the client did not finish in time"
            base.loop(EVLOOP_ONCE)
    finally:
        tick.delete()
        starter.delete()
    thread.join(2)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def spin_for(base: EventBase, seconds: float) -> None:
    """Run the loop for ``seconds`` (for timers and timeouts to fire)."""
    base.loopexit(seconds)
    base.loop()


def query(name: str, rdtype: str = "A", **kwargs: Any) -> dns.message.QueryMessage:
    """A dnspython query message (RD set, as make_query does by default)."""
    return dns.message.make_query(name, rdtype, **kwargs)


def udp_ask(q: dns.message.Message, port: int, timeout: float = 2.0) -> dns.message.Message:
    """Ask over UDP with dnspython's sync client."""
    return dns.query.udp(q, HOST, timeout=timeout, port=port)


def tcp_ask(q: dns.message.Message, port: int, timeout: float = 2.0) -> dns.message.Message:
    """Ask over TCP with dnspython's sync client."""
    return dns.query.tcp(q, HOST, timeout=timeout, port=port)


def udp_raw(payload: bytes, port: int, timeout: float = 0.3) -> bytes | None:
    """Send one raw datagram; the reply's bytes, or None if none came within ``timeout``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(payload, (HOST, port))
        try:
            return sock.recv(65535)
        except TimeoutError:
            return None


def tcp_connect(port: int, timeout: float = 2.0) -> socket.socket:
    """A blocking TCP client socket connected to the port."""
    sock = socket.create_connection((HOST, port), timeout=timeout)
    return sock


def frame(wire: bytes) -> bytes:
    """A DNS-over-TCP message: two-byte length, then the message."""
    return struct.pack(">H", len(wire)) + wire


def read_frame(sock: socket.socket) -> bytes | None:
    """One length-prefixed message from ``sock``, or None at EOF."""
    head = _read_exactly(sock, 2)
    if head is None:
        return None
    (length,) = struct.unpack(">H", head)
    return _read_exactly(sock, length)


def _read_exactly(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        try:
            chunk = sock.recv(n - len(data))
        except ConnectionResetError:
            return None
        if not chunk:
            return None
        data += chunk
    return data


def closed_by_peer(sock: socket.socket, timeout: float = 2.0) -> bool:
    """True if the server closes ``sock`` (EOF or reset) within ``timeout``."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
