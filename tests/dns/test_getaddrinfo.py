"""DnsBase.getaddrinfo (``evdns_getaddrinfo``): synchronous answers, lookups, skew, cache."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import dns.rcode
import pytest
from dns_helpers import Responder, Rule, ThreadResponder, answer, wait
from loop_helpers import spin

from levent import EventBase
from levent.dns.constants import EVDNS_BASE_DISABLE_WHEN_INACTIVE, EVDNS_BASE_NO_CACHE
from levent.dns.constants import EVUTIL_EAI_CANCEL as EAI_CANCEL
from levent.dns.getaddrinfo import AddrInfoHints
from levent.dns.resolver import DnsBase

INET, INET6 = int(socket.AF_INET), int(socket.AF_INET6)
STREAM, DGRAM = int(socket.SOCK_STREAM), int(socket.SOCK_DGRAM)
TCP, UDP = int(socket.IPPROTO_TCP), int(socket.IPPROTO_UDP)


class Answers:
    def __init__(self) -> None:
        self.calls: list[tuple[int, list[Any], Any]] = []

    def __call__(self, err: int, results: list[Any], arg: Any) -> None:
        self.calls.append((err, results, arg))

    def __len__(self) -> int:
        return len(self.calls)


@pytest.fixture
def env() -> Iterator[tuple[EventBase, DnsBase, Responder]]:
    base = EventBase()
    server = Responder(base)
    server.set("both.example", "A", answer("10.0.0.1"))
    server.set("both.example", "AAAA", answer("2001:db8::1", rtype="AAAA"))
    dnsb = DnsBase(base, 0)
    dnsb.nameserver_ip_add(server.address)
    dnsb.set_option("timeout", "0.2")
    dnsb.load_hosts(None)
    yield base, dnsb, server
    dnsb.free()
    server.close()
    base.free()


# -- answered before the call returns ------------------------------------------------------


def test_numeric_hosts_and_services_answer_synchronously(env: Any) -> None:
    _, dnsb, server = env
    got = Answers()
    assert dnsb.getaddrinfo("1.2.3.4", "http", None, got) is None
    assert got.calls[0][:2] == (
        0,
        [(INET, STREAM, TCP, "", ("1.2.3.4", 80)), (INET, DGRAM, UDP, "", ("1.2.3.4", 80))],
    )
    assert dnsb.getaddrinfo("f::f", "8008", AddrInfoHints(socktype=STREAM), got) is None
    assert got.calls[1][1] == [(INET6, STREAM, TCP, "", ("f::f", 8008, 0, 0))]
    assert server.count() == 0


def test_no_node_means_any_or_loopback(env: Any) -> None:
    _, dnsb, _ = env
    got = Answers()
    dnsb.getaddrinfo(None, "80", AddrInfoHints(flags=socket.AI_PASSIVE, protocol=UDP), got)
    dnsb.getaddrinfo(None, "80", AddrInfoHints(socktype=STREAM), got)
    assert [r[4][0] for r in got.calls[0][1]] == ["0.0.0.0", "::"]
    assert all(r[1] == DGRAM for r in got.calls[0][1])
    assert [r[4][0] for r in got.calls[1][1]] == ["127.0.0.1", "::1"]


def test_hosts_entries_answer_synchronously(env: Any) -> None:
    base, dnsb, server = env
    got = Answers()
    assert dnsb.getaddrinfo("LOCALHOST", None, AddrInfoHints(family=INET), got) is None
    assert got.calls[0] == (
        0,
        [(INET, STREAM, TCP, "", ("127.0.0.1", 0)), (INET, DGRAM, UDP, "", ("127.0.0.1", 0))],
        None,
    )
    dnsb.clear_host_addresses()
    assert dnsb.getaddrinfo("localhost", None, AddrInfoHints(family=INET), got) is not None
    wait(base, got, 2)
    assert server.count("localhost") == 1


def test_argument_errors_answer_synchronously(env: Any) -> None:
    _, dnsb, _ = env
    got = Answers()
    dnsb.getaddrinfo("www.example", None, AddrInfoHints(flags=socket.AI_NUMERICHOST), got)
    dnsb.getaddrinfo(None, None, None, got)
    dnsb.getaddrinfo("1.2.3.4", "no-such-service-name", None, got)
    dnsb.getaddrinfo("1.2.3.4", None, AddrInfoHints(family=int(socket.AF_UNIX)), got)
    assert [c[0] for c in got.calls] == [
        socket.EAI_NONAME,
        socket.EAI_NONAME,
        socket.EAI_NONAME,
        socket.EAI_FAMILY,
    ]


# -- lookups --------------------------------------------------------------------------------


def test_unspec_asks_a_and_aaaa_and_lists_ipv4_first(env: Any) -> None:
    base, dnsb, server = env
    got = Answers()
    req = dnsb.getaddrinfo("both.example", "443", AddrInfoHints(socktype=STREAM), got)
    assert req is not None and len(got) == 0
    wait(base, got)
    assert got.calls[0][:2] == (
        0,
        [
            (INET, STREAM, TCP, "", ("10.0.0.1", 443)),
            (INET6, STREAM, TCP, "", ("2001:db8::1", 443, 0, 0)),
        ],
    )
    assert server.count("both.example") == 2


def test_a_slow_aaaa_gives_way_after_the_skew(env: Any) -> None:
    base, dnsb, server = env
    server.set("v4.example", "A", answer("10.0.0.4"))
    server.set("v4.example", "AAAA", Rule(drop=10**6))
    dnsb.set_option("timeout", "5")
    dnsb.set_option("getaddrinfo-allow-skew", "0.05")
    got = Answers()
    started = time.monotonic()
    dnsb.getaddrinfo("v4.example", None, AddrInfoHints(socktype=STREAM), got)
    wait(base, got)
    assert got.calls[0][1] == [(INET, STREAM, TCP, "", ("10.0.0.4", 0))]
    assert time.monotonic() - started < 1.0
    spin(base)
    assert len(got) == 1


def test_dns_errors_map_to_eai_codes(env: Any) -> None:
    base, dnsb, server = env
    server.set("broken.example", "A", Rule(rcode=dns.rcode.SERVFAIL))
    got = Answers()
    dnsb.getaddrinfo("nx.example", None, AddrInfoHints(family=INET), got, "nx")
    dnsb.getaddrinfo("broken.example", None, AddrInfoHints(family=INET), got, "sf")
    wait(base, got, 2)
    assert {c[2]: c[0] for c in got.calls} == {"nx": socket.EAI_NONAME, "sf": socket.EAI_FAIL}


def test_cancel_reports_eai_cancel_once(env: Any) -> None:
    base, dnsb, server = env
    server.set("slow.example", "A", Rule(drop=10**6))
    server.set("slow.example", "AAAA", Rule(drop=10**6))
    got = Answers()
    req = dnsb.getaddrinfo("slow.example", None, None, got)
    assert req is not None
    dnsb.getaddrinfo_cancel(req)
    req.cancel()
    wait(base, got)
    spin(base, 10)
    assert got.calls == [(EAI_CANCEL, [], None)]


def test_canonname_comes_from_the_cname(env: Any) -> None:
    base, dnsb, server = env
    server.set(
        "www.alias.example",
        "A",
        Rule(records=[(None, "CNAME", "real.example."), ("real.example.", "A", "10.9.9.9")]),
    )
    got = Answers()
    hints = AddrInfoHints(family=INET, socktype=STREAM, flags=socket.AI_CANONNAME)
    dnsb.getaddrinfo("www.alias.example", None, hints, got)
    wait(base, got)
    assert got.calls[0][1] == [(INET, STREAM, TCP, "real.example", ("10.9.9.9", 0))]


# -- cache --------------------------------------------------------------------------------------


def test_answers_are_cached_and_served_synchronously(env: Any) -> None:
    base, dnsb, server = env
    got = Answers()
    dnsb.getaddrinfo("both.example", None, AddrInfoHints(socktype=STREAM), got)
    wait(base, got)
    assert dnsb.getaddrinfo("BOTH.example", "25", AddrInfoHints(socktype=STREAM), got) is None
    assert got.calls[1][1] == [
        (INET, STREAM, TCP, "", ("10.0.0.1", 25)),
        (INET6, STREAM, TCP, "", ("2001:db8::1", 25, 0, 0)),
    ]
    assert server.count("both.example") == 2
    hit = dnsb.cache_lookup("both.example", AddrInfoHints(family=INET6, socktype=DGRAM), 53)
    assert hit == [(INET6, DGRAM, UDP, "", ("2001:db8::1", 53, 0, 0))]


def test_an_a_only_lookup_does_not_answer_an_unspec_one(env: Any) -> None:
    base, dnsb, _server = env
    got = Answers()
    dnsb.getaddrinfo("both.example", None, AddrInfoHints(family=INET), got)
    wait(base, got)
    assert dnsb.cache_lookup("both.example", AddrInfoHints(family=INET)) is not None
    assert dnsb.cache_lookup("both.example", None) is None


def test_cache_write_and_no_cache() -> None:
    base = EventBase()
    dnsb = DnsBase(base, 0)
    entry = [(INET, STREAM, TCP, "", ("192.0.2.1", 0))]
    dnsb.cache_write("written.example", entry, 60)
    assert dnsb.cache_lookup("written.example", AddrInfoHints(socktype=STREAM), 8) == [
        (INET, STREAM, TCP, "", ("192.0.2.1", 8))
    ]
    dnsb.cache_write("gone.example", entry, 0)
    assert dnsb.cache_lookup("gone.example") is None
    nocache = DnsBase(base, EVDNS_BASE_NO_CACHE)
    nocache.cache_write("written.example", entry, 60)
    assert nocache.cache_lookup("written.example") is None
    dnsb.free()
    nocache.free()
    base.free()


def test_the_cache_never_keeps_the_loop_alive() -> None:
    base = EventBase()
    server = ThreadResponder()
    try:
        dnsb = DnsBase(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE)
        dnsb.nameserver_ip_add(server.address)
        got = Answers()
        dnsb.getaddrinfo("cached.example", None, AddrInfoHints(socktype=STREAM), got)
        started = time.monotonic()
        base.loop()
        assert time.monotonic() - started < 1.0
        assert got.calls[0][0] == 0 and len(dnsb._cache or []) == 1
        dnsb.getaddrinfo("cached.example", None, AddrInfoHints(socktype=STREAM), got)
        assert len(got) == 2 and server.count == 2
        dnsb.free()
    finally:
        server.close()
        base.free()


def test_a_cached_answer_expires_with_its_ttl(env: Any) -> None:
    """The cache keeps an answer for its TTL only; after it, the server is asked again."""
    base, dnsb, server = env
    server.set("short.example", "A", answer("10.0.0.7", ttl=1))
    server.set("short.example", "AAAA", answer("2001:db8::7", rtype="AAAA", ttl=1))
    got = Answers()
    dnsb.getaddrinfo("short.example", None, AddrInfoHints(socktype=STREAM), got)
    wait(base, got)
    assert got.calls[0][0] == 0 and server.count("short.example") == 2
    # Within the TTL: answered from the cache, before the call returns.
    assert dnsb.getaddrinfo("short.example", None, AddrInfoHints(socktype=STREAM), got) is None
    assert len(got) == 2 and server.count("short.example") == 2
    time.sleep(1.05)
    assert dnsb.cache_lookup("short.example", AddrInfoHints(socktype=STREAM)) is None
    request = dnsb.getaddrinfo("short.example", None, AddrInfoHints(socktype=STREAM), got)
    assert request is not None  # a miss: the lookup goes back on the wire
    wait(base, got, 3)
    assert got.calls[2][0] == 0 and server.count("short.example") == 4
