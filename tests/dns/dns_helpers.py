"""A scripted DNS responder for resolver tests, on the test's own EventBase.

:class:`Responder` answers on a UDP socket bound to 127.0.0.1 (and on a TCP
listener on the same port, for TC and use-vc tests) from a table of
:class:`Rule` s keyed by (name, type); messages are built with dnspython, so
the resolver's reader is checked against an independent encoder. A rule can
answer records, set an RCODE, add an SOA, drop the first N queries, set TC,
mangle the id or the question, send raw bytes, or answer late. Every query is
recorded (``queries``), so tests can count what each server received.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from loop_helpers import run_until

from levent import EV_PERSIST, EV_READ, Event, EventBase

Record = tuple[str | None, str, str]  # (owner or None for the question name, type, rdata text)


@dataclass
class Rule:
    """How to answer one (name, type)."""

    records: list[Record] = field(default_factory=list)
    rcode: int = 0
    soa: tuple[int, int] | None = None  # (SOA record TTL, SOA MINIMUM)
    ttl: int = 300
    drop: int = 0
    tc: bool = False
    wrong_id: bool = False
    wrong_case: bool = False
    wrong_name: bool = False
    raw: bytes | Callable[[bytes], bytes] | None = None
    delay: float = 0.0


def answer(*addresses: str, rtype: str = "A", ttl: int = 300) -> Rule:
    """A rule answering ``addresses`` for the question's name."""
    return Rule(records=[(None, rtype, a) for a in addresses], ttl=ttl)


@dataclass
class Query:
    name: str  # as received, case preserved
    rdtype: int
    transport: str  # "udp" or "tcp"


class Responder:
    """A programmable nameserver on 127.0.0.1 (see the module docstring)."""

    def __init__(self, base: EventBase, default: Rule | None = None) -> None:
        self.base = base
        self.rules: dict[tuple[str, int], Rule] = {}
        self.default = default if default is not None else Rule(rcode=dns.rcode.NXDOMAIN)
        self.queries: list[Query] = []
        self.tcp_connections = 0
        self.udp, self.listener = _bind_pair()
        self.port = self.udp.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self._ev = Event(base, self.udp, EV_READ | EV_PERSIST, self._on_udp)
        self._ev.add()
        self._lev = Event(base, self.listener, EV_READ | EV_PERSIST, self._on_accept)
        self._lev.add()
        self._conns: list[tuple[socket.socket, Event, bytearray]] = []
        self._timers: list[Event] = []

    def set(self, name: str, rdtype: str | int, rule: Rule) -> Rule:
        """Answer (``name``, ``rdtype``) with ``rule``."""
        self.rules[(name.lower().rstrip("."), dns.rdatatype.RdataType.make(rdtype))] = rule
        return rule

    def count(self, name: str | None = None, transport: str | None = None) -> int:
        """Queries received (for ``name``, case-insensitively; over ``transport``)."""
        return sum(
            1
            for q in self.queries
            if (name is None or q.name.lower().rstrip(".") == name.lower())
            and (transport is None or q.transport == transport)
        )

    def close(self) -> None:
        self._ev.delete()
        self._lev.delete()
        for t in self._timers:
            t.delete()
        for sock, ev, _ in self._conns:
            ev.delete()
            sock.close()
        self.udp.close()
        self.listener.close()

    # -- building answers -----------------------------------------------------------

    def reply_for(self, data: bytes, transport: str) -> bytes | None:
        try:
            query = dns.message.from_wire(data)
        except Exception:
            return None
        if not query.question:
            return None
        q = query.question[0]
        self.queries.append(Query(q.name.to_text(omit_final_dot=True), q.rdtype, transport))
        key = (q.name.to_text(omit_final_dot=True).lower(), q.rdtype)
        rule = self.rules.get(key, self.default)
        if rule.drop > 0:
            rule.drop -= 1
            return None
        if rule.raw is not None:
            return rule.raw(data) if callable(rule.raw) else rule.raw
        response = dns.message.make_response(query)
        response.set_rcode(rule.rcode)
        if rule.tc and transport == "udp":
            response.flags |= dns.flags.TC
        else:
            for owner, rtype, text in rule.records:
                name = q.name if owner is None else dns.name.from_text(owner)
                response.answer.append(dns.rrset.from_text(name, rule.ttl, "IN", rtype, text))
            if rule.soa is not None:
                rr_ttl, minimum = rule.soa
                soa = f"ns.example. admin.example. 1 3600 600 86400 {minimum}"
                response.authority.append(dns.rrset.from_text(q.name, rr_ttl, "IN", "SOA", soa))
        if rule.wrong_name:
            response.question[0] = dns.rrset.RRset(
                dns.name.from_text("other.example"), dns.rdataclass.IN, q.rdtype
            )
        wire = bytearray(response.to_wire())
        if rule.wrong_id:
            wire[0] ^= 0x5A
        if rule.wrong_case:
            # The same name with every letter's case flipped: a 0x20 mismatch.
            end = 12 + len(q.name.to_wire())
            wire[12:end] = bytes(wire[12:end]).swapcase()
        return bytes(wire)

    def _later(self, delay: float, fn: Callable[[], object]) -> None:
        timer = Event.timer(self.base, lambda fd, what, arg: fn())
        self._timers.append(timer)
        timer.add(delay)

    def _rule_delay(self, data: bytes) -> float:
        try:
            q = dns.message.from_wire(data).question[0]
        except Exception:
            return 0.0
        key = (q.name.to_text(omit_final_dot=True).lower(), q.rdtype)
        return self.rules.get(key, self.default).delay

    # -- UDP ------------------------------------------------------------------------

    def _on_udp(self, fd: int, what: int, arg: Any) -> None:
        while True:
            try:
                data, peer = self.udp.recvfrom(65535)
            except BlockingIOError:
                return
            delay = self._rule_delay(data)
            wire = self.reply_for(data, "udp")
            if wire is None:
                continue
            if delay:
                self._later(delay, lambda w=wire, p=peer: self.udp.sendto(w, p))
            else:
                self.udp.sendto(wire, peer)

    # -- TCP ------------------------------------------------------------------------

    def _on_accept(self, fd: int, what: int, arg: Any) -> None:
        try:
            conn, _ = self.listener.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        self.tcp_connections += 1
        buf = bytearray()
        ev = Event(self.base, conn, EV_READ | EV_PERSIST, self._on_tcp, (conn, buf))
        ev.add()
        self._conns.append((conn, ev, buf))

    def _on_tcp(self, fd: int, what: int, arg: tuple[socket.socket, bytearray]) -> None:
        conn, buf = arg
        try:
            data = conn.recv(65535)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            for entry in self._conns:
                if entry[0] is conn:
                    entry[1].delete()
                    self._conns.remove(entry)
                    break
            conn.close()
            return
        buf += data
        while len(buf) >= 2:
            size = (buf[0] << 8) | buf[1]
            if len(buf) < 2 + size:
                break
            msg = bytes(buf[2 : 2 + size])
            del buf[: 2 + size]
            wire = self.reply_for(msg, "tcp")
            if wire is not None:
                conn.send(len(wire).to_bytes(2, "big") + wire)


def _bind_pair() -> tuple[socket.socket, socket.socket]:
    """A UDP socket and a TCP listener on the same free 127.0.0.1 port."""
    for _ in range(50):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            tcp.bind(("127.0.0.1", udp.getsockname()[1]))
        except OSError:
            udp.close()
            tcp.close()
            continue
        tcp.listen(16)
        udp.setblocking(False)
        tcp.setblocking(False)
        return udp, tcp
    raise OSError("no free port for a UDP+TCP responder")


class Results:
    """Collects resolve callbacks: ``results[i] = (result, type, count, ttl, addresses)``."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, int, int, list[str], Any]] = []

    def __call__(
        self, result: int, rtype: int, count: int, ttl: int, addrs: list[str], arg: Any
    ) -> None:
        self.calls.append((result, rtype, count, ttl, list(addrs), arg))

    def __len__(self) -> int:
        return len(self.calls)

    @property
    def last(self) -> tuple[int, int, int, int, list[str], Any]:
        return self.calls[-1]


def wait(base: EventBase, results: Any, n: int = 1, limit: float = 2.0) -> None:
    """Run the loop until ``results`` (a sized object, or a function returning one)
    holds ``n`` entries."""
    if hasattr(results, "__len__"):
        run_until(base, lambda: len(results) >= n, limit)
    else:
        run_until(base, lambda: len(results()) >= n, limit)


class ThreadResponder:
    """A nameserver in a thread, off the test's EventBase: it cannot keep that loop alive.

    Answers every A query with 10.0.0.1 and every AAAA query with ::1 (TTL 60).
    """

    def __init__(self) -> None:
        import threading

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.count = 0
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                data, peer = self.sock.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            query = dns.message.from_wire(data)
            q = query.question[0]
            response = dns.message.make_response(query)
            text = "10.0.0.1" if q.rdtype == dns.rdatatype.A else "::1"
            response.answer.append(dns.rrset.from_text(q.name, 60, "IN", q.rdtype, text))
            self.count += 1
            self.sock.sendto(response.to_wire(), peer)

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        self.sock.close()
