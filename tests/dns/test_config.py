"""The resolver's pure parts, without a loop: options, search list, files, wire, cache."""

from __future__ import annotations

import contextlib
import socket

import dns.message
import dns.rrset
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levent.dns import config, wire
from levent.dns.cache import DnsCache
from levent.dns.config import ResolverOptions, SearchList, apply_option
from levent.dns.constants import DNS_OPTION, DNS_OPTIONS_ALL

ALL = int(DNS_OPTIONS_ALL)

# -- numbers as libevent reads them ------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("1", 1), ("10000", 10000), ("", 0)])
def test_parse_int_accepts_what_strtol_consumes(text: str, value: int) -> None:
    assert config.parse_int(text) == value
    assert config.parse_int(" +7") == 7


@pytest.mark.parametrize("text", ["foo", "3.14", "-1", "1x", "0x10", None])
def test_parse_int_rejects_junk_and_the_error_value(text: str | None) -> None:
    with pytest.raises(ValueError):
        config.parse_int(text)


@pytest.mark.parametrize(("text", "value"), [("1", 1.0), ("0.001", 0.001), ("3.14", 3.14)])
def test_parse_seconds_accepts_a_millisecond_or_more(text: str, value: float) -> None:
    assert config.parse_seconds(text) == pytest.approx(value)
    assert config.parse_seconds("10000") == 10000.0


@pytest.mark.parametrize("text", ["0", "foo", "", "-1", "0.0009", "1s", None])
def test_parse_seconds_rejects_zero_junk_and_negatives(text: str | None) -> None:
    with pytest.raises(ValueError):
        config.parse_seconds(text)


def test_option_names_match_with_or_without_colon() -> None:
    assert config.option_matches("ndots", "ndots")
    assert config.option_matches("ndots:", "ndots")
    assert config.option_matches("ndots:3", "ndots")
    assert not config.option_matches("ndotsx", "ndots")
    assert not config.option_matches("ndot", "ndots")


# -- the option table -------------------------------------------------------------------


def test_ranged_options_are_clipped() -> None:
    opts = ResolverOptions()
    apply_option(opts, "max-timeouts", "0", ALL)
    assert opts.max_timeouts == 1
    apply_option(opts, "max-timeouts:", "10000", ALL)
    assert opts.max_timeouts == 255
    apply_option(opts, "max-inflight", "10000000", ALL)
    assert opts.max_inflight == 65000
    apply_option(opts, "attempts", "10000", ALL)
    assert opts.attempts == 255
    apply_option(opts, "edns-udp-size", "100", ALL)
    assert opts.edns_udp_size == 512
    apply_option(opts, "probe-backoff-factor", "99", ALL)
    assert opts.backoff_factor == 10


def test_probe_timeouts_are_capped_and_tied() -> None:
    opts = ResolverOptions()
    apply_option(opts, "initial-probe-timeout", "99999.5", ALL)
    assert opts.initial_probe_timeout == pytest.approx(3600.5)
    apply_option(opts, "max-probe-timeout", "60", ALL)
    assert opts.max_probe_timeout == 60
    assert opts.initial_probe_timeout == 60.0


def test_flagless_options_take_no_value() -> None:
    opts = ResolverOptions()
    assert apply_option(opts, "use-vc", None, ALL)
    assert apply_option(opts, "ignore-tc:", "", ALL)
    assert opts.use_vc and opts.ignore_tc
    for bad in ("1", "foo"):
        with pytest.raises(ValueError):
            apply_option(opts, "use-vc", bad, ALL)


@pytest.mark.parametrize("good", ["8.8.8.8:80", "1.2.3.4", "::1:82", "3::4", "[::1]:53"])
def test_bind_to_takes_an_address(good: str) -> None:
    opts = ResolverOptions()
    apply_option(opts, "bind-to", good, ALL)
    assert opts.bind_to is not None


@pytest.mark.parametrize("bad", ["3.14", "foo", "1.2.3.4:99999"])
def test_bind_to_rejects_non_addresses(bad: str) -> None:
    with pytest.raises(ValueError):
        apply_option(ResolverOptions(), "bind-to", bad, ALL)


def test_unknown_options_are_reported_as_unknown() -> None:
    opts = ResolverOptions()
    assert apply_option(opts, "rotate", "", ALL) is False
    assert apply_option(opts, "no-such-option", "1", ALL) is False


def test_a_gated_option_is_validated_but_not_set() -> None:
    opts = ResolverOptions()
    apply_option(opts, "timeout", "7", int(DNS_OPTION.SEARCH))
    assert opts.timeout == config.DEFAULT_TIMEOUT
    with pytest.raises(ValueError):
        apply_option(opts, "timeout", "foo", int(DNS_OPTION.SEARCH))


def test_defaults_are_libevents() -> None:
    opts = ResolverOptions()
    assert (opts.timeout, opts.attempts, opts.max_timeouts, opts.max_inflight) == (5.0, 3, 3, 64)
    assert opts.randomize_case and opts.edns_udp_size == 512
    assert (opts.initial_probe_timeout, opts.backoff_factor, opts.max_probe_timeout) == (
        10.0,
        3,
        3600,
    )
    assert opts.getaddrinfo_skew == 3.0 and opts.tcp_idle_timeout == 5.0


def test_probe_delay_backs_off_and_caps() -> None:
    delays = [config.probe_delay(10.0, 3, 3600, n) for n in range(7)]
    assert delays == [10.0, 30.0, 90.0, 270.0, 810.0, 2430.0, 3600.0]


# -- search list -------------------------------------------------------------------------


def test_search_tries_domains_first_for_short_names() -> None:
    s = SearchList()
    for d in ("a.example.com", ".b.example.com"):
        s.add(d)
    assert s.candidates("host") == ["host.a.example.com", "host.b.example.com", "host"]
    assert s.candidates("www.host") == [
        "www.host",
        "www.host.a.example.com",
        "www.host.b.example.com",
    ]
    s.ndots = 2
    assert s.candidates("www.host")[-1] == "www.host"


def test_absolute_names_and_empty_lists_are_not_searched() -> None:
    s = SearchList()
    assert s.candidates("host") == ["host"]
    s.add("example.com")
    assert s.candidates("host.") == ["host."]
    s.clear()
    assert s.candidates("host") == ["host"] and s.ndots == 1


# -- resolv.conf and hosts ----------------------------------------------------------------


def test_resolv_conf_directives_in_order() -> None:
    text = (
        "# comment\nnameserver 10.0.0.1\r\nnameserver\t[::1]:5353\nsortlist 1.2.3.4\n"
        "domain example.org\nsearch a.example b.example\noptions ndots:2 timeout:1 rotate\n"
        "bogus line\n"
    )
    assert config.parse_resolv_conf(text) == [
        ("nameserver", ["10.0.0.1"]),
        ("nameserver", ["[::1]:5353"]),
        ("domain", ["example.org"]),
        ("search", ["a.example", "b.example"]),
        ("options", ["ndots:2", "timeout:1", "rotate"]),
    ]


def test_hosts_file_lines() -> None:
    text = (
        "127.0.0.1 localhost loopback\n::1 localhost6 # a comment\n# 10.0.0.1 commented\n"
        "10.0.0.2 a#tail b\n1.2.3.4:80 withport\nnot-an-address host\n\n"
    )
    inet, inet6 = int(socket.AF_INET), int(socket.AF_INET6)
    assert config.parse_hosts(text) == [
        ("localhost", inet, "127.0.0.1"),
        ("loopback", inet, "127.0.0.1"),
        ("localhost6", inet6, "::1"),
        ("a", inet, "10.0.0.2"),
    ]


# -- wire format -------------------------------------------------------------------------------


def test_names_encode_to_labels() -> None:
    assert wire.name_to_wire("www.Example.com.") == b"\x03www\x07Example\x03com\x00"
    for bad in ("", "a..b", "x" * 64 + ".com", ".".join(["abcdefgh"] * 32)):
        with pytest.raises(ValueError):
            wire.name_to_wire(bad)


@given(st.binary(min_size=32, max_size=32))
def test_case_randomisation_changes_only_letter_case(rand: bytes) -> None:
    name = wire.name_to_wire("www.example-1.com")
    mixed = wire.randomize_case(name, rand)
    assert mixed.lower() == name.lower() and len(mixed) == len(name)
    assert mixed[0] == 3 and mixed[4] == 9


def _reply(qname: str, rdtype: str, *rrsets: dns.rrset.RRset) -> tuple[bytes, bytes]:
    q = dns.message.make_query(qname, rdtype)
    r = dns.message.make_response(q)
    r.answer.extend(rrsets)
    question = wire.question_bytes(wire.name_to_wire(qname), q.question[0].rdtype)
    return r.to_wire(), question


@settings(max_examples=50)
@given(st.lists(st.ip_addresses(v=4).map(str), min_size=1, max_size=20, unique=True))
def test_reader_agrees_with_dnspython_on_a_answers(addrs: list[str]) -> None:
    rr = dns.rrset.from_text("h.example.", 60, "IN", "A", *addrs)
    data, question = _reply("h.example", "A", rr)
    reply = wire.read_reply(data, len(data), question, True, wire.TYPE_A)
    assert reply is not None
    parsed = dns.message.from_wire(data)
    assert sorted(reply.addresses) == sorted(r.address for r in parsed.answer[0])
    assert reply.ttl == 60


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_reader_never_fails_other_than_wireerror(junk: bytes) -> None:
    _, question = _reply("h.example", "A")
    packet = b"\x12\x34\x81\x80\x00\x01\x00\x02\x00\x01\x00\x00" + question + junk
    for data in (junk, packet):
        with contextlib.suppress(wire.WireError):
            wire.read_reply(data, len(data), question, True, wire.TYPE_A)


def test_compression_loops_are_refused() -> None:
    loop = b"\x00" * 12 + b"\x01a\xc0\x0c"  # the name at 12 points back at itself
    with pytest.raises(wire.WireError):
        wire.read_name(loop, 12, len(loop))


# -- cache ------------------------------------------------------------------------------------


def test_cache_expires_on_lookup_and_respects_families() -> None:
    now = [100.0]
    cache = DnsCache(clock=lambda: now[0])
    inet, inet6 = int(socket.AF_INET), int(socket.AF_INET6)
    cache.write("Host.Example", [(inet, "1.2.3.4"), (inet6, "::1")], 10)
    assert cache.lookup("host.example.", inet) == [(inet, "1.2.3.4")]
    assert cache.lookup("host.example", 0) == [(inet, "1.2.3.4"), (inet6, "::1")]
    cache.write("v4only", [(inet, "1.1.1.1")], 10, frozenset({inet}))
    assert cache.lookup("v4only", 0) is None
    assert cache.lookup("v4only", inet) == [(inet, "1.1.1.1")]
    now[0] += 10
    assert cache.lookup("host.example", inet) is None
    assert len(cache) == 1


def test_cache_is_bounded() -> None:
    cache = DnsCache(max_entries=3)
    for i in range(10):
        cache.write(f"h{i}", [(int(socket.AF_INET), f"10.0.0.{i}")], 60)
    assert len(cache) == 3
    assert cache.lookup("h0", 0) is None and cache.lookup("h9", 0) is not None
