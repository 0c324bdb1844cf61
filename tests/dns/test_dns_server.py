"""DnsServerPort: libevent's evdns server (``evdns_server_port``) over real UDP and TCP.

Each test is phrased like libevent's regress_dns.c: given a query or a client
doing X, the server does Y. The levent loop runs in the test thread, the client
(dnspython's sync client or a raw socket) in a helper thread.
"""

from __future__ import annotations

import ctypes
import gc
import os
import socket
import struct
import time
from collections.abc import Iterator
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.rrset
import pytest
from dns_server_helpers import (
    HOST,
    closed_by_peer,
    frame,
    query,
    read_frame,
    run_client,
    tcp_ask,
    tcp_connect,
    tcp_port,
    udp_ask,
    udp_port,
    udp_raw,
)

from levent import BaseMismatchError, Event, EventBase, EventStateError
from levent.dns.constants import (
    DNS_ERR_NONE,
    DNS_ERR_NOTEXIST,
    DNS_ERR_SERVERFAILED,
    EVDNS_ADDITIONAL_SECTION,
    EVDNS_ANSWER_SECTION,
    EVDNS_AUTHORITY_SECTION,
    EVDNS_CLASS_INET,
    EVDNS_FLAGS_AA,
    EVDNS_FLAGS_RD,
    EVDNS_SOPT_TCP_IDLE_TIMEOUT,
    EVDNS_SOPT_TCP_MAX_CLIENTS,
    EVDNS_TYPE_A,
    EVDNS_TYPE_AAAA,
    EVDNS_TYPE_NS,
    EVDNS_TYPE_TXT,
)
from levent.dns.server import (
    DEFAULT_TCP_MAX_CLIENTS,
    DnsServerPort,
    ServerQuestion,
    ServerRequest,
)


class Loop:
    """An EventBase whose callback errors are collected; unexpected ones fail the test."""

    def __init__(self) -> None:
        self.base = EventBase()
        self.errors: list[tuple[object, BaseException]] = []
        self.expect_errors = False
        self.base.set_error_handler(lambda base, source, exc: self.errors.append((source, exc)))

    def later(self, delay: float, fn: Any) -> Event:
        ev = Event.timer(self.base, lambda fd, what, arg: fn())
        ev.add(delay)
        return ev


@pytest.fixture
def loop() -> Iterator[Loop]:
    lp = Loop()
    yield lp
    lp.base.free()
    if not lp.expect_errors:
        assert not lp.errors, lp.errors


def answer_a(req: ServerRequest, arg: Any = None) -> None:
    """Answer every A question with 10.0.0.1 and respond NOERROR."""
    for q in req.questions:
        if q.type == EVDNS_TYPE_A:
            req.add_a_reply(q.name, "10.0.0.1", 60)
    req.respond(DNS_ERR_NONE)


def header(wire: bytes) -> tuple[int, int, int, int, int, int]:
    """(id, flags, qdcount, ancount, nscount, arcount) of a message."""
    values = struct.unpack_from(">6H", wire)
    return values[0], values[1], values[2], values[3], values[4], values[5]


def raw_query(
    qname: bytes, qtype: int = 1, *, msg_id: int = 0x1234, flags: int = 0x0100, qd: int = 1
) -> bytes:
    """A query message built by hand: header, then ``qname`` (wire form) type IN."""
    return struct.pack(">6H", msg_id, flags, qd, 0, 0, 0) + qname + struct.pack(">HH", qtype, 1)


GOOD_NAME = b"\x04good\x07example\x00"


# -- answers ------------------------------------------------------------------------------


def test_given_an_a_query_the_server_answers_with_one_record_per_address(loop: Loop) -> None:
    seen: list[Any] = []

    def cb(req: ServerRequest, arg: Any) -> None:
        seen.append((list(req.questions), req.nquestions, arg))
        q = req.questions[0]
        req.add_a_reply(q.name, ["192.168.11.11", "10.0.0.1"], 12345)
        req.respond(DNS_ERR_NONE)

    port, number = udp_port(loop.base, cb, "my arg")
    reply = run_client(loop.base, lambda: udp_ask(query("Zz.Example.COM"), number))
    assert seen == [
        ([ServerQuestion("Zz.Example.COM", EVDNS_TYPE_A, EVDNS_CLASS_INET)], 1, "my arg")
    ]
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.flags & dns.flags.QR and reply.flags & dns.flags.RD
    assert not reply.flags & dns.flags.AA and not reply.flags & dns.flags.TC
    # The question comes back in the client's case (0x20-randomizing resolvers check it).
    assert reply.question[0].name.to_text() == "Zz.Example.COM."
    (rrset,) = reply.answer
    assert rrset.ttl == 12345
    assert sorted(rdata.address for rdata in rrset) == ["10.0.0.1", "192.168.11.11"]
    port.close()


def test_given_an_aaaa_query_the_server_answers_text_and_packed_addresses(loop: Loop) -> None:
    def cb(req: ServerRequest, arg: Any) -> None:
        name = req.questions[0].name
        req.add_aaaa_reply(name, ["2001:db8::1"], 123)
        req.add_aaaa_reply(name, b"abcdefghijklmnop", 123)  # regress_dns.c's packed address
        req.respond(DNS_ERR_NONE)

    port, number = udp_port(loop.base, cb)
    reply = run_client(loop.base, lambda: udp_ask(query("zz.example.com", "AAAA"), number))
    (rrset,) = reply.answer
    assert rrset.rdtype == dns.rdatatype.AAAA and rrset.ttl == 123
    expected = {"2001:db8::1", socket.inet_ntop(socket.AF_INET6, b"abcdefghijklmnop")}
    assert {rdata.address for rdata in rrset} == expected
    port.close()


def test_given_a_ptr_query_the_server_answers_from_an_address_or_an_arpa_name(loop: Loop) -> None:
    def cb(req: ServerRequest, arg: Any) -> None:
        name = req.questions[0].name
        if name == "11.11.168.192.in-addr.arpa":
            req.add_ptr_reply("192.168.11.11", None, "zz.example.com", 54321)
        elif name.endswith("ip6.arpa"):
            req.add_ptr_reply("2001:db8::1", None, "six.example.com", 54321)
        else:
            req.add_ptr_reply(None, name, "by-name.example.com", 54321)
        req.respond(DNS_ERR_NONE)

    port, number = udp_port(loop.base, cb)

    def client() -> list[dns.message.Message]:
        return [
            udp_ask(query("11.11.168.192.in-addr.arpa", "PTR"), number),
            udp_ask(query("1.0.0.10.in-addr.arpa", "PTR"), number),
            udp_ask(query(_ip6_arpa("2001:db8::1"), "PTR"), number),
        ]

    by_addr, by_name, six = run_client(loop.base, client)
    assert by_addr.answer[0].rdtype == dns.rdatatype.PTR
    assert by_addr.answer[0][0].target.to_text() == "zz.example.com."
    assert by_addr.answer[0].ttl == 54321
    assert by_name.answer[0].name.to_text() == "1.0.0.10.in-addr.arpa."
    assert by_name.answer[0][0].target.to_text() == "by-name.example.com."
    assert six.answer[0][0].target.to_text() == "six.example.com."
    port.close()


def _ip6_arpa(address: str) -> str:
    return dns.reversename.from_address(address).to_text(omit_final_dot=True)


def test_given_add_ptr_reply_with_both_or_neither_form_it_raises(loop: Loop) -> None:
    outcomes: list[type[BaseException]] = []

    def cb(req: ServerRequest, arg: Any) -> None:
        for args in (("1.2.3.4", "4.3.2.1.in-addr.arpa"), (None, None)):
            with pytest.raises(ValueError) as info:
                req.add_ptr_reply(args[0], args[1], "host.example", 10)
            outcomes.append(info.type)
        req.respond(DNS_ERR_NONE)

    port, number = udp_port(loop.base, cb)
    reply = run_client(loop.base, lambda: udp_ask(query("4.3.2.1.in-addr.arpa", "PTR"), number))
    assert outcomes == [ValueError, ValueError]
    assert not reply.answer
    port.close()


def test_given_a_cname_reply_the_target_is_compressed_against_the_question(loop: Loop) -> None:
    def cb(req: ServerRequest, arg: Any) -> None:
        req.add_cname_reply(req.questions[0].name, "alias.example.com", 300)
        req.add_a_reply("alias.example.com", "10.1.2.3", 300)
        req.respond(DNS_ERR_NONE)

    port, number = udp_port(loop.base, cb)
    wire = run_client(loop.base, lambda: udp_raw(query("www.example.com").to_wire(), number))
    assert wire is not None
    reply = dns.message.from_wire(wire)
    cname, a = reply.answer
    assert cname.rdtype == dns.rdatatype.CNAME
    assert cname[0].target.to_text() == "alias.example.com."
    assert a.name.to_text() == "alias.example.com." and a[0].address == "10.1.2.3"
    # Owner names point at the question (0x0c) and at the CNAME target: no name is
    # spelled out twice.
    assert wire.count(b"example") == 1
    assert b"\xc0\x0c" in wire
    port.close()


def test_given_records_in_all_three_sections_each_lands_in_its_own(loop: Loop) -> None:
    def cb(req: ServerRequest, arg: Any) -> None:
        name = req.questions[0].name
        # Added out of section order on purpose: the reply is still in order.
        glue = b"\x0a\x00\x00\x35"
        req.add_reply(EVDNS_ADDITIONAL_SECTION, "ns1.example.com", EVDNS_TYPE_A, 1, 30, glue)
        req.add_reply(EVDNS_ANSWER_SECTION, name, EVDNS_TYPE_TXT, 1, 10, b"\x05hello")
        ns = "ns1.example.com"
        req.add_reply(EVDNS_AUTHORITY_SECTION, "example.com", EVDNS_TYPE_NS, 1, 20, ns, True)
        req.add_reply(EVDNS_ANSWER_SECTION, name, 65280, EVDNS_CLASS_INET, 10, None)
        req.respond(DNS_ERR_NONE)

    port, number = udp_port(loop.base, cb)
    reply = run_client(loop.base, lambda: udp_ask(query("txt.example.com", "TXT"), number))
    txt, private = reply.answer
    assert txt.rdtype == dns.rdatatype.TXT and txt[0].strings == (b"hello",)
    assert private.rdtype == 65280 and private[0].to_wire() == b""
    (ns,) = reply.authority
    assert ns.rdtype == dns.rdatatype.NS and ns[0].target.to_text() == "ns1.example.com."
    (glue,) = reply.additional
    assert glue.name.to_text() == "ns1.example.com." and glue[0].address == "10.0.0.53"
    port.close()


def test_given_bad_record_arguments_add_reply_raises_and_adds_nothing(loop: Loop) -> None:
    raised: list[type[BaseException]] = []

    def cb(req: ServerRequest, arg: Any) -> None:
        name = req.questions[0].name
        bad: list[Any] = [
            (3, name, EVDNS_TYPE_A, 1, 10, b"\0\0\0\0"),  # no such section
            (0, name, 70000, 1, 10, b""),  # type beyond 16 bits
            (0, name, EVDNS_TYPE_A, 1, -1, b"\0\0\0\0"),  # negative ttl
            (0, "a" * 64 + ".example", EVDNS_TYPE_A, 1, 10, b"\0\0\0\0"),  # label > 63
            (0, name, EVDNS_TYPE_TXT, 1, 10, b"x" * 70000),  # rdata > 65535
        ]
        for args in bad:
            with pytest.raises((ValueError, TypeError)) as info:
                req.add_reply(*args)
            raised.append(info.type)
        with pytest.raises(ValueError):
            req.add_a_reply(name, "not-an-address", 10)
        with pytest.raises(ValueError):
            req.add_aaaa_reply(name, b"short", 10)
        with pytest.raises(TypeError):
            req.add_reply(0, name, EVDNS_TYPE_NS, 1, 10, b"bytes", is_name=True)
        req.respond(DNS_ERR_NONE)

    port, number = udp_port(loop.base, cb)
    reply = run_client(loop.base, lambda: udp_ask(query("bad.example"), number))
    assert len(raised) == 5
    assert not reply.answer and reply.rcode() == dns.rcode.NOERROR
    port.close()


def test_given_a_label_with_odd_bytes_the_question_name_is_escaped_and_round_trips(
    loop: Loop,
) -> None:
    names: list[str] = []

    def cb(req: ServerRequest, arg: Any) -> None:
        names.append(req.questions[0].name)
        req.add_a_reply(req.questions[0].name, "10.9.8.7", 5)
        req.respond(DNS_ERR_NONE)

    port, number = udp_port(loop.base, cb)
    odd = dns.name.Name([b"a.b c", b"\xff", b"example", b""])
    reply = run_client(loop.base, lambda: udp_ask(dns.message.make_query(odd, "A"), number))
    assert names == [odd.to_text(omit_final_dot=True)]
    assert reply.answer[0].name == odd
    port.close()


# -- header flags and rcodes ----------------------------------------------------------------


def test_given_set_flags_aa_and_rd_the_reply_has_aa_and_ra_and_echoes_rd(loop: Loop) -> None:
    def cb(req: ServerRequest, arg: Any) -> None:
        if req.questions[0].name.startswith("aa"):
            req.set_flags(EVDNS_FLAGS_AA | EVDNS_FLAGS_RD)
        elif req.questions[0].name.startswith("cleared"):
            req.set_flags(EVDNS_FLAGS_AA)
            req.set_flags(0)
        answer_a(req)

    port, number = udp_port(loop.base, cb)

    def client() -> list[dns.message.Message]:
        return [
            udp_ask(query("aa.example"), number),
            udp_ask(query("cleared.example"), number),
            udp_ask(query("nord.example", flags=0), number),
            udp_ask(query("cd.example", flags=dns.flags.RD | dns.flags.CD | dns.flags.AD), number),
        ]

    aa, cleared, nord, cd = run_client(loop.base, client)
    # EVDNS_FLAGS_RD is 0x080, the header's RA bit; the query's RD (0x100) is echoed.
    assert aa.flags & dns.flags.AA and aa.flags & dns.flags.RA and aa.flags & dns.flags.RD
    assert not cleared.flags & (dns.flags.AA | dns.flags.RA)
    assert not nord.flags & dns.flags.RD
    # Only RD and CD are kept from the query, as libevent does.
    assert cd.flags & dns.flags.CD and not cd.flags & dns.flags.AD
    port.close()


def test_given_each_rcode_respond_puts_it_in_the_header(loop: Loop) -> None:
    misuse: list[type[BaseException]] = []

    def cb(req: ServerRequest, arg: Any) -> None:
        rcode = int(req.questions[0].name.split(".")[0][1:])
        for bad in (16, -1):
            with pytest.raises(ValueError) as info:
                req.respond(bad)
            misuse.append(info.type)
        req.respond(rcode)

    port, number = udp_port(loop.base, cb)

    def client() -> list[int]:
        codes = []
        for n in range(16):
            wire = udp_raw(query(f"r{n}.example").to_wire(), number, timeout=2.0)
            assert wire is not None
            codes.append(header(wire)[1] & 0xF)
        return codes

    assert run_client(loop.base, client) == list(range(16))
    assert misuse == [ValueError] * 32
    port.close()


# -- request lifetime ---------------------------------------------------------------------


def test_given_drop_the_client_gets_no_answer_and_the_request_is_spent(loop: Loop) -> None:
    misuse: list[type[BaseException]] = []

    def cb(req: ServerRequest, arg: Any) -> None:
        req.drop()
        for call in (lambda: req.respond(0), req.drop, lambda: req.add_a_reply("x", "1.1.1.1", 1)):
            with pytest.raises(EventStateError) as info:
                call()
            misuse.append(info.type)

    port, number = udp_port(loop.base, cb)

    def client() -> str:
        try:
            udp_ask(query("dropped.example"), number, timeout=0.2)
        except dns.exception.Timeout:
            return "timeout"
        return "answered"

    assert run_client(loop.base, client) == "timeout"
    assert misuse == [EventStateError] * 3
    port.close()


def test_given_respond_twice_the_second_raises_and_nothing_more_is_sent(loop: Loop) -> None:
    misuse: list[type[BaseException]] = []

    def cb(req: ServerRequest, arg: Any) -> None:
        req.respond(DNS_ERR_NOTEXIST)
        with pytest.raises(EventStateError):
            req.respond(DNS_ERR_NONE)
        with pytest.raises(EventStateError):
            req.add_cname_reply("a.example", "b.example", 1)
        misuse.append(EventStateError)

    port, number = udp_port(loop.base, cb)

    def client() -> list[bytes | None]:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.2)
            sock.sendto(query("twice.example").to_wire(), (HOST, number))
            first = sock.recv(4096)
            try:
                second: bytes | None = sock.recv(4096)
            except TimeoutError:
                second = None
            return [first, second]

    first, second = run_client(loop.base, client)
    assert first is not None and header(first)[1] & 0xF == DNS_ERR_NOTEXIST
    assert second is None
    assert misuse == [EventStateError]
    port.close()


def test_given_a_request_kept_for_later_a_timer_can_answer_it(loop: Loop) -> None:
    order: list[str] = []

    def cb(req: ServerRequest, arg: Any) -> None:
        name = req.questions[0].name
        order.append(name)
        if name == "slow.example":
            # Answered asynchronously, after the next query was already answered.
            loop.later(0.05, lambda: answer_a(req))
        else:
            answer_a(req)

    port, number = udp_port(loop.base, cb)

    def client() -> list[int]:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(2.0)
            sock.sendto(query("slow.example").to_wire(), (HOST, number))
            sock.sendto(query("fast.example").to_wire(), (HOST, number))
            replies = [dns.message.from_wire(sock.recv(4096)) for _ in range(2)]
            return [len(r.answer) for r in replies] + [
                int(r.question[0].name.labels[0] == b"fast") for r in replies
            ]

    assert run_client(loop.base, client) == [1, 1, 1, 0]
    assert order == ["slow.example", "fast.example"]
    port.close()


def test_given_several_questions_the_callback_sees_all_and_the_reply_repeats_them(
    loop: Loop,
) -> None:
    seen: list[list[ServerQuestion]] = []

    def cb(req: ServerRequest, arg: Any) -> None:
        seen.append(list(req.questions))
        for q in req.questions:
            if q.type == EVDNS_TYPE_A:
                req.add_a_reply(q.name, "10.0.0.1", 1)
            elif q.type == EVDNS_TYPE_AAAA:
                req.add_aaaa_reply(q.name, "::1", 1)
        req.respond(DNS_ERR_NONE)

    port, number = udp_port(loop.base, cb)
    q = query("a.example")
    q.question.append(dns.rrset.RRset(dns.name.from_text("b.example"), 1, dns.rdatatype.AAAA))
    # The second question's name is a compression pointer into the first one.
    compressed = struct.pack(">6H", 7, 0x0100, 2, 0, 0, 0) + b"\x01a\x07example\x00\x00\x01\x00\x01"
    compressed += b"\x03www\xc0\x0c\x00\x01\x00\x01"

    def client() -> tuple[dns.message.Message, bytes | None]:
        return udp_ask(q, number), udp_raw(compressed, number, timeout=2.0)

    reply, raw = run_client(loop.base, client)
    assert seen[0] == [
        ServerQuestion("a.example", EVDNS_TYPE_A, EVDNS_CLASS_INET),
        ServerQuestion("b.example", EVDNS_TYPE_AAAA, EVDNS_CLASS_INET),
    ]
    assert [rr.rdtype for rr in reply.answer] == [dns.rdatatype.A, dns.rdatatype.AAAA]
    assert len(reply.question) == 2
    assert [q.name for q in seen[1]] == ["a.example", "www.a.example"]
    assert raw is not None
    parsed = dns.message.from_wire(raw)
    assert [str(rr.name) for rr in parsed.question] == ["a.example.", "www.a.example."]
    assert len(parsed.answer) == 2
    port.close()


def test_given_a_udp_request_its_requesting_addr_is_the_client_socket(loop: Loop) -> None:
    addrs: list[Any] = []

    def cb(req: ServerRequest, arg: Any) -> None:
        addrs.append((req.get_requesting_addr(), req.requesting_addr))
        answer_a(req)

    port, number = udp_port(loop.base, cb)

    def client() -> Any:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((HOST, 0))
            sock.settimeout(2.0)
            sock.sendto(query("who.example").to_wire(), (HOST, number))
            sock.recv(4096)
            return sock.getsockname()

    mine = run_client(loop.base, client)
    assert addrs == [(mine, mine)]
    port.close()


def test_given_a_request_nobody_keeps_it_counts_as_dropped_with_a_warning(loop: Loop) -> None:
    kept: list[ServerRequest] = []

    def cb(req: ServerRequest, arg: Any) -> None:
        kept.append(req)

    port, number = udp_port(loop.base, cb)
    run_client(loop.base, lambda: udp_raw(query("lost.example").to_wire(), number, timeout=0.1))
    assert len(kept) == 1
    sock = port.socket
    assert sock is not None
    port.close()
    assert sock.fileno() >= 0  # still outstanding: the socket stays open
    with pytest.warns(ResourceWarning):
        kept.clear()
        gc.collect()
    assert sock.fileno() == -1 and port.socket is None


def test_given_a_client_that_reads_late_replies_wait_for_the_socket_and_all_arrive(
    loop: Loop, tmp_path: Any
) -> None:
    # AF_UNIX datagrams: a receiver that does not read makes the sender's sendto fail
    # with EAGAIN (its queue holds net.unix.max_dgram_qlen, 10 by default), so the port
    # must hold the replies back and send them when the socket is writable again.
    server_path, client_path = str(tmp_path / "server"), str(tmp_path / "client")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(server_path)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    port = DnsServerPort(loop.base, sock, 0, many_a(25))
    count = 40

    def client() -> set[int]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as csock:
            csock.bind(client_path)
            ids = set()
            for i in range(count):
                q = query(f"q{i}.example")
                ids.add(q.id)
                csock.sendto(q.to_wire(), server_path)
            time.sleep(0.2)
            csock.settimeout(2.0)
            got = set()
            while len(got) < count:
                reply = dns.message.from_wire(csock.recv(4096))
                assert len(reply.answer[0]) == 25
                got.add(reply.id)
            assert got == ids
            return got

    assert len(run_client(loop.base, client)) == count
    port.close()


# -- truncation --------------------------------------------------------------------------------


def many_a(count: int) -> Any:
    def cb(req: ServerRequest, arg: Any) -> None:
        name = req.questions[0].name
        req.add_a_reply(name, [f"10.0.{i // 256}.{i % 256}" for i in range(count)], 60)
        req.respond(DNS_ERR_NONE)

    return cb


def test_given_an_answer_over_512_bytes_udp_keeps_whole_records_and_sets_tc(loop: Loop) -> None:
    port, number = udp_port(loop.base, many_a(60))
    wire = run_client(loop.base, lambda: udp_raw(query("big.example").to_wire(), number, 2.0))
    assert wire is not None and len(wire) <= 512
    _id, flags, qd, an, ns, ar = header(wire)
    assert flags & dns.flags.TC
    # 12 header + 17 question bytes, then 16 bytes per compressed A record: 30 fit.
    assert (qd, an, ns, ar) == (1, 30, 0, 0)
    reply = dns.message.from_wire(wire)  # well formed, unlike a cut at byte 512
    assert len(reply.answer[0]) == 30
    port.close()


def test_given_an_edns_query_udp_answers_up_to_its_payload_size_with_opt(loop: Loop) -> None:
    port, number = udp_port(loop.base, many_a(100))

    def client() -> list[bytes | None]:
        return [
            udp_raw(query("big.example", use_edns=0, payload=1232).to_wire(), number, 2.0),
            udp_raw(query("big.example", use_edns=0, payload=4096).to_wire(), number, 2.0),
            udp_raw(query("big.example", use_edns=0, payload=100).to_wire(), number, 2.0),
        ]

    limited, roomy, tiny = run_client(loop.base, client)
    assert limited is not None and roomy is not None and tiny is not None
    assert len(limited) <= 1232 and header(limited)[1] & dns.flags.TC
    # (1232 - 29 - 11 for the OPT record) // 16: 74 records, and the OPT is kept.
    assert header(limited)[3] == 74 and header(limited)[5] == 1
    reply = dns.message.from_wire(limited)
    assert reply.edns == 0 and reply.payload == 512  # what libevent advertises
    assert not header(roomy)[1] & dns.flags.TC and header(roomy)[3] == 100
    # A payload below 512 counts as 512 (RFC 6891).
    assert len(tiny) <= 512 and header(tiny)[3] == (512 - 29 - 11) // 16
    port.close()


def test_given_a_large_answer_over_tcp_it_is_never_truncated(loop: Loop) -> None:
    port, number = tcp_port(loop.base, many_a(1000))
    reply = run_client(loop.base, lambda: tcp_ask(query("huge.example"), number))
    assert not reply.flags & dns.flags.TC
    assert len(reply.answer[0]) == 1000
    port.close()


# -- TCP -------------------------------------------------------------------------------------


def test_given_pipelined_tcp_queries_each_is_answered_on_the_same_connection(loop: Loop) -> None:
    def cb(req: ServerRequest, arg: Any) -> None:
        if req.questions[0].name.startswith("late"):
            loop.later(0.02, lambda: answer_a(req))
        else:
            answer_a(req)

    port, number = tcp_port(loop.base, cb)
    names = ["a.example", "late.example", "b.example", "c.example", "late2.example"]
    queries = [query(name) for name in names]

    def client() -> dict[int, str]:
        with tcp_connect(number) as sock:
            sock.sendall(b"".join(frame(q.to_wire()) for q in queries))
            got = {}
            for _ in queries:
                wire = read_frame(sock)
                assert wire is not None
                reply = dns.message.from_wire(wire)
                got[reply.id] = reply.question[0].name.to_text(omit_final_dot=True)
            return got

    got = run_client(loop.base, client)
    assert got == {q.id: name for q, name in zip(queries, names, strict=True)}
    port.close()


def test_given_a_tcp_request_its_requesting_addr_is_the_peer(loop: Loop) -> None:
    addrs: list[Any] = []

    def cb(req: ServerRequest, arg: Any) -> None:
        addrs.append(req.get_requesting_addr())
        answer_a(req)

    port, number = tcp_port(loop.base, cb)

    def client() -> Any:
        with tcp_connect(number) as sock:
            dns.query.send_tcp(sock, query("peer.example"))
            dns.query.receive_tcp(sock, time.time() + 2)
            return sock.getsockname()

    assert addrs == [run_client(loop.base, client)]
    port.close()


def test_given_more_tcp_clients_than_the_maximum_the_extra_one_is_closed(loop: Loop) -> None:
    port, number = tcp_port(loop.base, answer_a)
    assert DEFAULT_TCP_MAX_CLIENTS == 10

    def client() -> tuple[list[int], bool]:
        socks = [tcp_connect(number) for _ in range(DEFAULT_TCP_MAX_CLIENTS + 1)]
        try:
            answered = []
            for sock in socks[:-1]:
                dns.query.send_tcp(sock, query("many.example"))
                reply, _ = dns.query.receive_tcp(sock, time.time() + 2)
                answered.append(len(reply.answer))
            return answered, closed_by_peer(socks[-1])
        finally:
            for sock in socks:
                sock.close()

    answered, extra_closed = run_client(loop.base, client)
    assert answered == [1] * DEFAULT_TCP_MAX_CLIENTS and extra_closed
    port.close()


def test_given_max_clients_one_a_second_client_is_refused_until_the_first_leaves(
    loop: Loop,
) -> None:
    port, number = tcp_port(loop.base, answer_a)
    port.set_option(EVDNS_SOPT_TCP_MAX_CLIENTS, 1)

    def client() -> tuple[bool, int, int]:
        first = tcp_connect(number)
        dns.query.send_tcp(first, query("one.example"))
        dns.query.receive_tcp(first, time.time() + 2)
        second = tcp_connect(number)
        refused = closed_by_peer(second)
        second.close()
        first.close()
        # The server notices the first client's EOF in its own time: retry briefly.
        for _ in range(20):
            third = tcp_connect(number)
            try:
                dns.query.send_tcp(third, query("three.example"))
                reply, _ = dns.query.receive_tcp(third, time.time() + 1)
                return refused, len(reply.answer), 1
            except (EOFError, ConnectionError):
                time.sleep(0.02)
            finally:
                third.close()
        return refused, 0, 0

    assert run_client(loop.base, client) == (True, 1, 1)
    port.close()


def test_given_an_idle_tcp_client_the_server_closes_it_after_the_idle_timeout(loop: Loop) -> None:
    port, number = tcp_port(loop.base, answer_a)
    port.set_option(EVDNS_SOPT_TCP_IDLE_TIMEOUT, 0.2)

    def client() -> float:
        with tcp_connect(number) as sock:
            start = time.monotonic()
            assert closed_by_peer(sock, timeout=2.0)
            return time.monotonic() - start

    waited = run_client(loop.base, client)
    assert 0.15 <= waited < 1.5
    port.close()


def test_given_a_tcp_client_waiting_for_a_slow_answer_it_is_not_idle(loop: Loop) -> None:
    def cb(req: ServerRequest, arg: Any) -> None:
        loop.later(0.4, lambda: answer_a(req))

    port, number = tcp_port(loop.base, cb)
    port.set_option(EVDNS_SOPT_TCP_IDLE_TIMEOUT, 0.15)

    def client() -> tuple[int, bool]:
        with tcp_connect(number) as sock:
            dns.query.send_tcp(sock, query("slow.example"))
            reply, _ = dns.query.receive_tcp(sock, time.time() + 2)
            # Once answered, the connection is idle again and is closed.
            return len(reply.answer), closed_by_peer(sock, timeout=2.0)

    assert run_client(loop.base, client) == (1, True)
    port.close()


def test_given_a_tcp_client_that_half_closes_its_pending_answer_still_arrives(loop: Loop) -> None:
    def cb(req: ServerRequest, arg: Any) -> None:
        loop.later(0.05, lambda: answer_a(req))

    port, number = tcp_port(loop.base, cb)

    def client() -> tuple[int, bool]:
        with tcp_connect(number) as sock:
            dns.query.send_tcp(sock, query("halfclose.example"))
            sock.shutdown(socket.SHUT_WR)
            wire = read_frame(sock)
            assert wire is not None
            return len(dns.message.from_wire(wire).answer), closed_by_peer(sock)

    assert run_client(loop.base, client) == (1, True)
    port.close()


# -- options ------------------------------------------------------------------------------


def test_given_tcp_options_a_tcp_port_takes_them_and_a_udp_port_refuses(loop: Loop) -> None:
    tcp, _ = tcp_port(loop.base, answer_a)
    udp, _ = udp_port(loop.base, answer_a)
    for option in (EVDNS_SOPT_TCP_MAX_CLIENTS, EVDNS_SOPT_TCP_IDLE_TIMEOUT):
        for value in (0, 1, 100):  # regress_dns.c's set_server_options values
            tcp.set_option(option, value)
            with pytest.raises(ValueError):
                udp.set_option(option, value)
        with pytest.raises(ValueError):
            tcp.set_option(option, -1)
        with pytest.raises(TypeError):
            tcp.set_option(option, "10")  # type: ignore[arg-type]
    tcp.set_option(EVDNS_SOPT_TCP_IDLE_TIMEOUT, 2.5)
    with pytest.raises(TypeError):
        tcp.set_option(EVDNS_SOPT_TCP_MAX_CLIENTS, 2.5)
    with pytest.raises(ValueError):
        tcp.set_option(EVDNS_SOPT_TCP_IDLE_TIMEOUT, float("inf"))
    with pytest.raises(ValueError):
        tcp.set_option(7, 1)
    tcp.close()
    udp.close()


def test_given_bad_constructor_arguments_the_port_is_not_created(loop: Loop) -> None:
    dgram = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(ValueError):
            DnsServerPort(loop.base, dgram, 1, answer_a)  # libevent: flags not implemented
        with pytest.raises(TypeError):
            DnsServerPort(loop.base, dgram, 0, None)
        with pytest.raises(ValueError):
            DnsServerPort(loop.base, stream, 0, answer_a)
        with pytest.raises(ValueError):
            DnsServerPort(loop.base, stream.fileno(), 0, answer_a)
        os.fstat(stream.fileno())  # a refused fd is left open for its owner
        with pytest.raises(TypeError):
            DnsServerPort(loop.base, "socket", 0, answer_a)  # type: ignore[arg-type]
        other = EventBase()
        try:
            tcp, _ = tcp_port(other, answer_a)
            listener = tcp.listener
            assert listener is not None
            with pytest.raises(BaseMismatchError):
                DnsServerPort.with_listener(loop.base, listener, 0, answer_a)
            tcp.close()
        finally:
            other.free()
    finally:
        dgram.close()
        stream.close()


# -- closing ------------------------------------------------------------------------------


def test_given_close_with_a_pending_udp_request_the_answer_still_goes_out(loop: Loop) -> None:
    events: list[str] = []
    sock_holder: list[socket.socket] = []

    def cb(req: ServerRequest, arg: Any) -> None:
        def later() -> None:
            port.close()
            sock = sock_holder[0]
            events.append("open" if sock.fileno() >= 0 else "closed")
            answer_a(req)  # libevent sends it: the socket lives until the last request
            events.append("open" if sock.fileno() >= 0 else "closed")

        loop.later(0.02, later)

    port, number = udp_port(loop.base, cb)
    assert port.socket is not None
    sock_holder.append(port.socket)

    def client() -> tuple[int, bytes | None]:
        reply = udp_ask(query("pending.example"), number)
        return len(reply.answer), udp_raw(query("after.example").to_wire(), number, 0.2)

    answers, after = run_client(loop.base, client)
    assert (answers, after) == (1, None)
    assert events == ["open", "closed"]
    assert port.closed and port.socket is None


def test_given_close_with_a_pending_tcp_request_the_client_is_cut_off_safely(loop: Loop) -> None:
    pending: list[ServerRequest] = []

    def cb(req: ServerRequest, arg: Any) -> None:
        pending.append(req)
        loop.later(0.02, port.close)

    port, number = tcp_port(loop.base, cb)
    listener_sock = port.socket
    assert listener_sock is not None

    def client() -> bool:
        with tcp_connect(number) as sock:
            dns.query.send_tcp(sock, query("cut.example"))
            return closed_by_peer(sock)

    assert run_client(loop.base, client)
    assert listener_sock.fileno() >= 0  # a request is outstanding
    answer_a(pending[0])  # the connection is gone: discarded, nothing raised
    assert listener_sock.fileno() == -1


def test_given_close_twice_or_a_with_block_the_socket_is_closed_once(loop: Loop) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, 0))
    with DnsServerPort(loop.base, sock, 0, answer_a) as port:
        assert not port.closed
    assert port.closed and sock.fileno() == -1
    port.close()
    # An fd the port was given is closed by it too (evdns_close_server_port does).
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind((HOST, 0))
    fd = other.detach()
    by_fd = DnsServerPort(loop.base, fd, 0, answer_a)
    by_fd.close()
    with pytest.raises(OSError):
        os.fstat(fd)


def test_given_a_callback_that_closes_the_port_no_more_datagrams_are_read(loop: Loop) -> None:
    names: list[str] = []

    def cb(req: ServerRequest, arg: Any) -> None:
        names.append(req.questions[0].name)
        answer_a(req)
        port.close()

    port, number = udp_port(loop.base, cb)

    def client() -> bytes | None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(2.0)
            for name in ("one.example", "two.example", "three.example"):
                sock.sendto(query(name).to_wire(), (HOST, number))
            sock.recv(4096)
            sock.settimeout(0.2)
            try:
                return sock.recv(4096)
            except TimeoutError:
                return None

    assert run_client(loop.base, client) is None
    assert names == ["one.example"]


# -- hostile input ------------------------------------------------------------------------

HOSTILE: list[tuple[str, bytes, str]] = [
    ("empty datagram", b"", "drop"),
    ("shorter than a header", b"\x12\x34\x01\x00\x00", "drop"),
    ("a response", raw_query(GOOD_NAME, flags=0x8100), "drop"),
    ("garbage after the header", raw_query(b"\xff\xfe\xfd\xfc\xfb\xfa\xf9"), "formerr"),
    ("reserved label type", raw_query(b"\x41" + b"x" * 65 + b"\x00"), "formerr"),
    ("pointer to itself", raw_query(b"\xc0\x0c"), "formerr"),
    ("pointer loop", raw_query(b"\x01a\xc0\x0e"), "formerr"),
    ("name over 255 bytes", raw_query((b"\x3f" + b"x" * 63) * 4 + b"\x00"), "formerr"),
    ("label running past the end", raw_query(b"\x20abc")[:-4], "formerr"),
    ("qdcount larger than the questions", raw_query(GOOD_NAME, qd=2), "formerr"),
    ("question without type and class", raw_query(GOOD_NAME)[:-4], "formerr"),
    (
        "answer record data past the end",
        struct.pack(">6H", 0x1234, 0x0100, 1, 1, 0, 0)
        + GOOD_NAME
        + b"\x00\x01\x00\x01"
        + b"\x00\x00\x01\x00\x01\x00\x00\x00\x01\x00\x64",
        "formerr",
    ),
    (
        "more questions than any client asks",
        struct.pack(">6H", 0x1234, 0x0100, 33, 0, 0, 0) + b"\x00\x00\x01\x00\x01" * 33,
        "formerr",
    ),
    ("an UPDATE, not a query", raw_query(GOOD_NAME, flags=0x2800), "notimpl"),
]


@pytest.mark.parametrize(("label", "payload", "expect"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_given_a_hostile_datagram_the_server_survives_and_answers_the_next_query(
    loop: Loop, label: str, payload: bytes, expect: str
) -> None:
    asked: list[str] = []

    def cb(req: ServerRequest, arg: Any) -> None:
        asked.append(req.questions[0].name)
        answer_a(req)

    port, number = udp_port(loop.base, cb)

    def client() -> tuple[bytes | None, dns.message.Message]:
        bad = udp_raw(payload, number, timeout=0.15 if expect == "drop" else 2.0)
        return bad, udp_ask(query("after.example"), number)

    bad, good = run_client(loop.base, client)
    if expect == "drop":
        assert bad is None
    else:
        assert bad is not None
        msg_id, flags, *counts = header(bad)
        assert msg_id == 0x1234 and flags & dns.flags.QR
        if expect == "formerr":
            assert flags & 0xF == dns.rcode.FORMERR and counts == [0, 0, 0, 0]
        else:
            assert flags & 0xF == dns.rcode.NOTIMP
            assert (flags >> 11) & 0xF == dns.opcode.UPDATE
    # Only the good query reached the callback, and it was answered.
    assert asked == ["after.example"]
    assert good.answer[0][0].address == "10.0.0.1"
    port.close()


def test_given_a_tcp_client_sending_garbage_it_is_cut_off_and_others_are_served(
    loop: Loop,
) -> None:
    port, number = tcp_port(loop.base, answer_a)

    def client() -> list[Any]:
        outcome: list[Any] = []
        with tcp_connect(number) as zero:
            zero.sendall(b"\x00\x00" + frame(query("never.example").to_wire()))
            outcome.append(closed_by_peer(zero))
        with tcp_connect(number) as junk:
            junk.sendall(frame(b"\x01\x02\x03\x04\x05"))
            outcome.append(closed_by_peer(junk))
        with tcp_connect(number) as odd:
            # A readable header with a broken body: FORMERR, and the stream goes on.
            odd.sendall(frame(raw_query(GOOD_NAME, qd=2)) + frame(query("next.example").to_wire()))
            formerr = read_frame(odd)
            good = read_frame(odd)
            assert formerr is not None and good is not None
            outcome.append(header(formerr)[1] & 0xF)
            outcome.append(len(dns.message.from_wire(good).answer))
        outcome.append(len(tcp_ask(query("other.example"), number).answer))
        return outcome

    assert run_client(loop.base, client) == [True, True, dns.rcode.FORMERR, 1, 1]
    port.close()


def test_given_a_callback_that_raises_the_client_gets_servfail_and_the_loop_goes_on(
    loop: Loop,
) -> None:
    loop.expect_errors = True

    def cb(req: ServerRequest, arg: Any) -> None:
        if req.questions[0].name == "boom.example":
            raise RuntimeError("boom")
        if req.questions[0].name == "late-boom.example":
            answer_a(req)
            raise RuntimeError("after answering")
        answer_a(req)

    port, number = udp_port(loop.base, cb)

    def client() -> list[Any]:
        return [
            udp_ask(query("boom.example"), number).rcode(),
            len(udp_ask(query("late-boom.example"), number).answer),
            len(udp_ask(query("fine.example"), number).answer),
        ]

    assert run_client(loop.base, client) == [dns.rcode.SERVFAIL, 1, 1]
    assert [str(exc) for _source, exc in loop.errors] == ["boom", "after answering"]
    assert all(isinstance(source, ServerRequest) for source, _exc in loop.errors)
    assert DNS_ERR_SERVERFAILED == dns.rcode.SERVFAIL
    port.close()


# -- conformance with libevent 2.1's own server ------------------------------------------------


class _Question(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("dns_question_class", ctypes.c_int),
        ("name", ctypes.c_char),
    ]


class _Request(ctypes.Structure):
    _fields_ = [
        ("flags", ctypes.c_int),
        ("nquestions", ctypes.c_int),
        ("questions", ctypes.POINTER(ctypes.POINTER(_Question))),
    ]


_C_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.POINTER(_Request), ctypes.c_void_p)


def _libevent_replies(queries: list[bytes]) -> list[bytes | None]:
    """Send ``queries`` to libevent's C server with the same answer policy as
    :func:`_policy`, and return its replies."""
    from libevent_ctypes import load

    lib = load()
    vp = ctypes.c_void_p
    lib.event_base_new.restype = vp
    lib.event_base_free.argtypes = [vp]
    lib.event_base_loop.argtypes = [vp, ctypes.c_int]
    lib.evdns_add_server_port_with_base.restype = vp
    lib.evdns_add_server_port_with_base.argtypes = [vp, ctypes.c_int, ctypes.c_int, _C_CALLBACK, vp]
    lib.evdns_close_server_port.argtypes = [vp]
    req_p = ctypes.POINTER(_Request)
    lib.evdns_server_request_add_a_reply.argtypes = [
        req_p,
        ctypes.c_char_p,
        ctypes.c_int,
        vp,
        ctypes.c_int,
    ]
    lib.evdns_server_request_add_cname_reply.argtypes = [
        req_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_int,
    ]
    lib.evdns_server_request_set_flags.argtypes = [req_p, ctypes.c_int]
    lib.evdns_server_request_respond.argtypes = [req_p, ctypes.c_int]

    def on_request(req: Any, _arg: Any) -> None:
        question = req.contents.questions[0].contents
        name = ctypes.string_at(ctypes.addressof(question) + _Question.name.offset)
        kind, payload = _policy(name.decode())
        if kind == "a":
            addr = socket.inet_aton(payload)
            lib.evdns_server_request_add_a_reply(req, name, 1, addr, 300)
            lib.evdns_server_request_set_flags(req, EVDNS_FLAGS_AA)
            lib.evdns_server_request_respond(req, 0)
        elif kind == "cname":
            lib.evdns_server_request_add_cname_reply(req, name, payload.encode(), 60)
            lib.evdns_server_request_add_a_reply(
                req, payload.encode(), 1, socket.inet_aton("10.2.2.2"), 60
            )
            lib.evdns_server_request_respond(req, 0)
        else:
            lib.evdns_server_request_respond(req, DNS_ERR_NOTEXIST)

    callback = _C_CALLBACK(on_request)
    cbase = lib.event_base_new()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, 0))
    sock.setblocking(False)
    number = sock.getsockname()[1]
    cport = lib.evdns_add_server_port_with_base(cbase, sock.fileno(), 0, callback, None)
    assert cport
    replies: list[bytes | None] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.setblocking(False)
        for wire in queries:
            client.sendto(wire, (HOST, number))
            deadline = time.monotonic() + 2
            reply: bytes | None = None
            while reply is None and time.monotonic() < deadline:
                lib.event_base_loop(cbase, 2)  # EVLOOP_NONBLOCK
                try:
                    reply = client.recv(4096)
                except BlockingIOError:
                    time.sleep(0.001)
            replies.append(reply)
    lib.evdns_close_server_port(cport)  # closes the socket's fd, as levent's close does
    sock.detach()
    lib.event_base_free(cbase)
    return replies


def _policy(name: str) -> tuple[str, str]:
    if name.lower().startswith("www"):
        return "a", "10.1.1.1"
    if name.lower().startswith("alias"):
        return "cname", "target.example.com"
    return "nxdomain", ""


def test_given_the_same_queries_levent_and_libevent_send_the_same_bytes(loop: Loop) -> None:
    queries = [
        raw_query(b"\x03www\x07Example\x03com\x00", msg_id=1),
        raw_query(b"\x05alias\x07example\x03com\x00", msg_id=2),
        # Case differs between question and CNAME target: compression is exact-case.
        raw_query(b"\x05ALIAS\x07EXAMPLE\x03COM\x00", msg_id=4),
        raw_query(b"\x07missing\x07example\x03com\x00", msg_id=3, flags=0),
    ]
    expected = _libevent_replies(queries)

    def cb(req: ServerRequest, arg: Any) -> None:
        name = req.questions[0].name
        kind, payload = _policy(name)
        if kind == "a":
            req.add_a_reply(name, payload, 300)
            req.set_flags(EVDNS_FLAGS_AA)
            req.respond(0)
        elif kind == "cname":
            req.add_cname_reply(name, payload, 60)
            req.add_a_reply(payload, "10.2.2.2", 60)
            req.respond(0)
        else:
            req.respond(DNS_ERR_NOTEXIST)

    port, number = udp_port(loop.base, cb)
    ours = run_client(loop.base, lambda: [udp_raw(q, number, 2.0) for q in queries])
    assert None not in expected
    assert ours == expected
    port.close()
