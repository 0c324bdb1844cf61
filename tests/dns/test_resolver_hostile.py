"""Hostile and broken replies: each is dropped, the request waits (then times out), and the
resolver goes on answering good queries."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

import pytest
from dns_helpers import Responder, Results, Rule, answer, wait

from levent import EVENT_LOG_WARN, EventBase
from levent.dns.constants import DNS_ERR_NONE, DNS_ERR_TIMEOUT
from levent.dns.resolver import DnsBase, set_log_fn
from levent.log import set_log_callback


def _question_end(query: bytes) -> int:
    off = 12
    while query[off]:
        off += query[off] + 1
    return off + 5


def _reply(query: bytes, ancount: int, body: bytes, flags: int = 0x8180) -> bytes:
    """A reply header for ``query`` with its question echoed, then ``body``."""
    qend = _question_end(query)
    header = query[:2] + struct.pack("!HHHHH", flags, 1, ancount, 0, 0)
    return header + query[12:qend] + body


def _rr(rtype: int, rclass: int, rdata: bytes, name: bytes = b"\xc0\x0c") -> bytes:
    return name + struct.pack("!HHIH", rtype, rclass, 60, len(rdata)) + rdata


BAD: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda q: b"",
    "short header": lambda q: q[:2] + b"\x81\x80\x00",
    "garbage": lambda q: q[:2] + bytes(range(200)),
    "not a response": lambda q: q,
    "truncated answer": lambda q: _reply(q, 2, _rr(1, 1, b"\x01\x02\x03\x04")[:9]),
    "rdata past the end": lambda q: _reply(q, 1, b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 200)),
    # victim.example's question ends at offset 32: the answer's name points at itself.
    "compression loop": lambda q: _reply(q, 1, _rr(1, 1, b"\x01\x02\x03\x04", b"\x01a\xc0\x20")),
    "forward pointer": lambda q: _reply(q, 1, _rr(1, 1, b"\x01\x02\x03\x04", b"\xc0\xff")),
    "oversized name": lambda q: _reply(
        q, 1, _rr(1, 1, b"\x01\x02\x03\x04", (b"\x3f" + b"y" * 63) * 5 + b"\x00")
    ),
    "wrong type only": lambda q: _reply(q, 1, _rr(28, 1, b"\x00" * 16)),
    "wrong class only": lambda q: _reply(q, 1, _rr(1, 3, b"\x01\x02\x03\x04")),
    "ragged A record": lambda q: _reply(q, 1, _rr(1, 1, b"\x01\x02\x03")),
    "wrong id": lambda q: _reply(
        bytes([q[0] ^ 0xFF, q[1]]) + q[2:], 1, _rr(1, 1, b"\x01\x02\x03\x04")
    ),
    "other question": lambda q: (
        q[:2]
        + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\x05other\x00\x00\x01\x00\x01"
        + _rr(1, 1, b"\x01\x02\x03\x04")
    ),
    "two questions": lambda q: q[:4] + b"\x00\x02" + q[6:],
}


@pytest.fixture
def setup() -> Iterator[tuple[EventBase, Responder, DnsBase, list[BaseException]]]:
    base = EventBase()
    errors: list[BaseException] = []
    base.set_error_handler(lambda b, s, e: errors.append(e))
    server = Responder(base, answer("9.8.7.6"))
    dnsb = DnsBase(base, 0)
    dnsb.nameserver_ip_add(server.address)
    dnsb.set_option("timeout", "0.1")
    dnsb.set_option("attempts", "1")
    yield base, server, dnsb, errors
    dnsb.free()
    server.close()
    base.free()


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_reply_is_dropped_and_the_resolver_goes_on(
    setup: tuple[EventBase, Responder, DnsBase, list[BaseException]], kind: str
) -> None:
    base, server, dnsb, errors = setup
    server.set("victim.example", "A", Rule(raw=BAD[kind]))
    res = Results()
    dnsb.resolve_ipv4("victim.example", 0, res, "victim")
    wait(base, res)
    assert res.last[0] == DNS_ERR_TIMEOUT
    dnsb.resolve_ipv4("good.example", 0, res, "good")
    wait(base, res, 2)
    assert res.last[:5] == (DNS_ERR_NONE, 1, 1, 300, ["9.8.7.6"])
    assert dnsb._servers[0].good or kind in ("empty",)
    assert not errors


def test_a_good_answer_after_a_bad_one_is_taken(
    setup: tuple[EventBase, Responder, DnsBase, list[BaseException]],
) -> None:
    base, server, dnsb, _errors = setup
    dnsb.set_option("timeout", "1")

    def bad_then_good(q: bytes) -> bytes:
        server.udp.sendto(BAD["compression loop"](q), ("127.0.0.1", sock_port()))
        return _reply(q, 1, _rr(1, 1, b"\x05\x06\x07\x08"))

    def sock_port() -> int:
        import os
        import socket

        s = socket.socket(fileno=os.dup(dnsb.get_nameserver_fd(0)))
        port: int = s.getsockname()[1]
        s.close()
        return port

    server.set("twice.example", "A", Rule(raw=bad_then_good))
    res = Results()
    dnsb.resolve_ipv4("twice.example", 0, res)
    wait(base, res)
    assert res.last[4] == ["5.6.7.8"]


def test_set_log_fn_receives_the_resolver_messages(
    setup: tuple[EventBase, Responder, DnsBase, list[BaseException]],
) -> None:
    """``evdns_set_log_fn``: debug and warning messages go to the function, with
    their severity; ``set_log_fn(None)`` routes them back to levent's log."""
    base, server, dnsb, _errors = setup
    messages: list[tuple[bool, str]] = []
    logged: list[tuple[int, str]] = []
    set_log_fn(lambda is_warning, msg: messages.append((is_warning, msg)))
    try:
        other = DnsBase(base, 0)
        other.nameserver_ip_add("127.0.0.1:9")
        other.free()
        assert messages == [(False, "added nameserver 127.0.0.1:9")]
        server.set("victim.example", "A", Rule(raw=BAD["garbage"]))
        res = Results()
        dnsb.resolve_ipv4("victim.example", 0, res)
        wait(base, res)
        assert any(w and m.startswith("dropping reply") for w, m in messages), messages
    finally:
        set_log_fn(None)
    set_log_callback(lambda severity, msg: logged.append((severity, msg)))
    try:
        count = len(messages)
        server.set("victim2.example", "A", Rule(raw=BAD["garbage"]))
        dnsb.resolve_ipv4("victim2.example", 0, res)
        wait(base, res, 2)
        assert len(messages) == count
        assert any(
            s == EVENT_LOG_WARN and msg.startswith("[evdns] dropping reply") for s, msg in logged
        ), logged
    finally:
        set_log_callback(None)
