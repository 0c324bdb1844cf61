"""DnsBase against scripted nameservers on 127.0.0.1: "given X, the resolver does Y"."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator

import dns.message
import dns.rcode
import pytest
from dns_helpers import Responder, Results, Rule, ThreadResponder, answer, wait
from loop_helpers import spin

from levent import EventBase
from levent.dns.constants import (
    DNS_CNAME,
    DNS_CNAME_CALLBACK,
    DNS_ERR_CANCEL,
    DNS_ERR_NODATA,
    DNS_ERR_NONE,
    DNS_ERR_NOTEXIST,
    DNS_ERR_SERVERFAILED,
    DNS_ERR_SHUTDOWN,
    DNS_ERR_TIMEOUT,
    DNS_ERR_TRUNCATED,
    DNS_OPTION_NAMESERVERS,
    DNS_OPTION_NAMESERVERS_NO_DEFAULT,
    DNS_OPTIONS_ALL,
    DNS_PTR,
    DNS_QUERY_IGNTC,
    DNS_QUERY_NO_SEARCH,
    DNS_QUERY_USEVC,
    EVDNS_BASE_DISABLE_WHEN_INACTIVE,
    EVDNS_BASE_INITIALIZE_NAMESERVERS,
    EVDNS_BASE_NAMESERVERS_NO_DEFAULT,
    EVDNS_ERROR_FAILED_TO_OPEN_FILE,
    EVDNS_ERROR_FAILED_TO_STAT_FILE,
    EVDNS_ERROR_NO_NAMESERVERS,
    EVDNS_ERROR_NONE,
    DNS_IPv4_A,
    DNS_IPv6_AAAA,
)
from levent.dns.resolver import DnsBase
from levent.errors import EventStateError


class Env:
    def __init__(self) -> None:
        self.base = EventBase()
        self.errors: list[BaseException] = []
        self.base.set_error_handler(lambda b, src, exc: self.errors.append(exc))
        self.servers: list[Responder] = []
        self.dns = DnsBase(self.base, 0)
        self.dns.set_option("timeout", "0.2")

    def server(self, default: Rule | None = None) -> Responder:
        r = Responder(self.base, default)
        self.servers.append(r)
        self.dns.nameserver_ip_add(r.address)
        return r

    def close(self) -> None:
        self.dns.free()
        for r in self.servers:
            r.close()
        self.base.free()


@pytest.fixture
def env() -> Iterator[Env]:
    e = Env()
    yield e
    e.close()
    assert not e.errors


# -- answers -------------------------------------------------------------------------------


def test_a_aaaa_and_ptr_answers(env: Env) -> None:
    r = env.server()
    r.set("www.example.com", "A", answer("1.2.3.4", "5.6.7.8", ttl=77))
    r.set("www.example.com", "AAAA", answer("2001:db8::1", rtype="AAAA"))
    r.set("4.3.2.1.in-addr.arpa", "PTR", answer("host.example.", rtype="PTR"))
    v6ptr = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
    r.set(v6ptr, "PTR", answer("six.example.", rtype="PTR"))
    res = Results()
    env.dns.resolve_ipv4("www.example.com", 0, res, "a")
    env.dns.resolve_ipv6("www.example.com", 0, res, "aaaa")
    env.dns.resolve_reverse("1.2.3.4", 0, res, "ptr")
    env.dns.resolve_reverse_ipv6(socket.inet_pton(socket.AF_INET6, "2001:db8::1"), 0, res, "p6")
    wait(env.base, res, 4)
    by_arg = {c[5]: c[:5] for c in res.calls}
    assert by_arg["a"] == (DNS_ERR_NONE, DNS_IPv4_A, 2, 77, ["1.2.3.4", "5.6.7.8"])
    assert by_arg["aaaa"] == (DNS_ERR_NONE, DNS_IPv6_AAAA, 1, 300, ["2001:db8::1"])
    assert by_arg["ptr"] == (DNS_ERR_NONE, DNS_PTR, 1, 300, ["host.example"])
    assert by_arg["p6"][4] == ["six.example"]


def test_empty_or_unencodable_names_are_refused(env: Env) -> None:
    env.server()
    with pytest.raises(ValueError):
        env.dns.resolve_ipv4("", 0, Results())
    with pytest.raises(ValueError):
        env.dns.resolve_ipv4("a" * 64 + ".com", 0, Results())


def test_callbacks_are_deferred_never_inside_the_call(env: Env) -> None:
    env.server()
    res = Results()
    req = env.dns.resolve_ipv4("nx.example", 0, res)
    req.cancel()
    assert len(res) == 0
    spin(env.base)
    assert [c[0] for c in res.calls] == [DNS_ERR_CANCEL]


def test_negative_answers_and_their_ttls(env: Env) -> None:
    r = env.server()
    r.set("nodata.example", "A", Rule(soa=(100, 42)))
    r.set("nx.example", "A", Rule(rcode=dns.rcode.NXDOMAIN, soa=(100, 42)))
    r.set("bare.example", "A", Rule())
    r.set("low.example", "A", Rule(soa=(7, 42)))
    res = Results()
    for name in ("nodata.example", "nx.example", "bare.example", "low.example"):
        env.dns.resolve_ipv4(name, DNS_QUERY_NO_SEARCH, res, name)
    wait(env.base, res, 4)
    got = {c[5]: (c[0], c[3]) for c in res.calls}
    assert got == {
        "nodata.example": (DNS_ERR_NODATA, 42),
        "nx.example": (DNS_ERR_NOTEXIST, 42),
        "bare.example": (DNS_ERR_NODATA, 0),
        "low.example": (DNS_ERR_NODATA, 7),
    }


def test_cname_chains_are_followed_and_reported(env: Env) -> None:
    r = env.server()
    r.set(
        "alias.example",
        "A",
        Rule(
            records=[
                (None, "CNAME", "mid.example."),
                ("mid.example.", "CNAME", "target.example."),
                ("target.example.", "A", "10.1.1.1"),
                ("unrelated.example.", "A", "6.6.6.6"),
            ]
        ),
    )
    res = Results()
    env.dns.resolve_ipv4("alias.example", DNS_CNAME_CALLBACK, res)
    wait(env.base, res, 2)
    assert res.calls[0][:5] == (DNS_ERR_NONE, DNS_IPv4_A, 1, 300, ["10.1.1.1"])
    assert res.calls[1][:5] == (DNS_ERR_NONE, DNS_CNAME, 1, 300, ["target.example"])
    plain = Results()
    env.dns.resolve_ipv4("alias.example", 0, plain)
    wait(env.base, plain)
    spin(env.base)
    assert len(plain) == 1


# -- nameserver choice, queueing, retries ----------------------------------------------------


def test_requests_are_round_robined_over_good_servers(env: Env) -> None:
    a, b = env.server(), env.server()
    res = Results()
    for i in range(6):
        env.dns.resolve_ipv4(f"h{i}.example", 0, res)
    wait(env.base, res, 6)
    assert a.count() == 3 and b.count() == 3


def test_requests_beyond_max_inflight_wait_their_turn(env: Env) -> None:
    r = env.server()
    r.default = Rule(rcode=dns.rcode.NXDOMAIN, delay=0.02)
    env.dns.set_option("max-inflight", "2")
    res = Results()
    for i in range(5):
        env.dns.resolve_ipv4(f"q{i}.example", 0, res)
    assert env.dns._n_inflight == 2 and len(env.dns._waiting) == 3
    wait(env.base, res, 5)
    assert [c[0] for c in res.calls] == [DNS_ERR_NOTEXIST] * 5
    assert r.count() == 5


def test_a_dropped_query_is_retransmitted(env: Env) -> None:
    r = env.server()
    r.set("flaky.example", "A", Rule(records=[(None, "A", "1.1.1.1")], drop=2))
    env.dns.set_option("timeout", "0.05")
    res = Results()
    env.dns.resolve_ipv4("flaky.example", 0, res)
    wait(env.base, res)
    assert res.last[0] == DNS_ERR_NONE and r.count("flaky.example") == 3


def test_attempts_bound_the_retransmissions(env: Env) -> None:
    r = env.server()
    r.set("dead.example", "A", Rule(drop=100))
    env.dns.set_option("timeout", "0.05")
    env.dns.set_option("attempts", "2")
    res = Results()
    env.dns.resolve_ipv4("dead.example", 0, res)
    wait(env.base, res)
    assert res.last[0] == DNS_ERR_TIMEOUT and r.count("dead.example") == 2


def test_a_server_that_times_out_is_marked_down_probed_and_brought_back(env: Env) -> None:
    bad, good = env.server(Rule(drop=10**6)), env.server()
    good.default = answer("2.2.2.2")
    for opt, value in [
        ("timeout", "0.05"),
        ("max-timeouts", "2"),
        ("initial-probe-timeout", "0.1"),
    ]:
        env.dns.set_option(opt, value)
    res = Results()
    for i in range(4):
        env.dns.resolve_ipv4(f"x{i}.example", 0, res)
    wait(env.base, res, 4)
    assert all(c[0] == DNS_ERR_NONE for c in res.calls)
    assert not env.dns._servers[0].good
    before = bad.count()
    env.dns.resolve_ipv4("later.example", 0, res)
    wait(env.base, res, 5)
    assert bad.count("later.example") == 0 and good.count("later.example") == 1
    bad.default = answer("3.3.3.3")
    wait(env.base, lambda: [1] if env.dns._servers[0].good else [], limit=2)
    assert bad.count("google.com") >= 1 and bad.count() > before
    assert next(q.rdtype for q in bad.queries if q.name.lower() == "google.com") == 1


def test_a_failed_probe_backs_off(env: Env) -> None:
    env.server(Rule(drop=10**6))
    for opt, value in [
        ("timeout", "0.03"),
        ("max-timeouts", "1"),
        ("initial-probe-timeout", "0.05"),
    ]:
        env.dns.set_option(opt, value)
    env.dns.set_option("attempts", "1")
    res = Results()
    env.dns.resolve_ipv4("x.example", 0, res)
    wait(env.base, res)
    ns = env.dns._servers[0]
    assert not ns.good and ns.failed_times == 1
    wait(env.base, lambda: [1] if ns.failed_times >= 2 else [], limit=2)
    assert ns.probe_timer.pending() and not ns.good


def test_servfail_moves_to_the_next_server_at_once(env: Env) -> None:
    broken, good = env.server(Rule(rcode=dns.rcode.SERVFAIL)), env.server()
    good.default = answer("4.4.4.4")
    env.dns.set_option("timeout", "5")
    res = Results()
    started = time.monotonic()
    env.dns.resolve_ipv4("s.example", 0, res)
    wait(env.base, res)
    assert res.last[0] == DNS_ERR_NONE and time.monotonic() - started < 1.0
    assert broken.count() == 1 and good.count() == 1
    assert env.dns._servers[0].good  # SERVFAIL says nothing about the server itself


def test_servfail_everywhere_reports_serverfailed_quickly(env: Env) -> None:
    r = env.server(Rule(rcode=dns.rcode.SERVFAIL))
    env.dns.set_option("timeout", "5")
    res = Results()
    env.dns.resolve_ipv4("s.example", 0, res)
    wait(env.base, res)
    assert res.last[0] == DNS_ERR_SERVERFAILED and r.count() == 3


def test_refused_marks_the_server_down_and_reissues(env: Env) -> None:
    refusing, good = env.server(Rule(rcode=dns.rcode.REFUSED)), env.server()
    good.default = answer("5.5.5.5")
    env.dns.set_option("initial-probe-timeout", "60")
    res = Results()
    env.dns.resolve_ipv4("r.example", 0, res)
    wait(env.base, res)
    assert res.last[4] == ["5.5.5.5"] and not env.dns._servers[0].good
    assert refusing.count() == 1


# -- TCP --------------------------------------------------------------------------------------


def test_a_truncated_answer_is_retried_over_tcp(env: Env) -> None:
    r = env.server()
    r.set(
        "big.example", "A", Rule(records=[(None, "A", f"10.0.0.{i}") for i in range(40)], tc=True)
    )
    res = Results()
    env.dns.resolve_ipv4("big.example", 0, res)
    wait(env.base, res)
    assert res.last[0] == DNS_ERR_NONE and res.last[2] == 40
    assert r.count(transport="udp") == 1 and r.count(transport="tcp") == 1


def test_igntc_reports_the_truncation(env: Env) -> None:
    r = env.server()
    r.set("big.example", "A", Rule(records=[(None, "A", "10.0.0.1")], tc=True))
    res = Results()
    env.dns.resolve_ipv4("big.example", DNS_QUERY_IGNTC, res)
    wait(env.base, res)
    assert res.last[0] == DNS_ERR_TRUNCATED and r.count(transport="tcp") == 0


def test_usevc_pipelines_over_one_connection(env: Env) -> None:
    r = env.server()
    r.default = answer("7.7.7.7")
    res = Results()
    for i in range(5):
        env.dns.resolve_ipv4(f"t{i}.example", DNS_QUERY_USEVC, res)
    wait(env.base, res, 5)
    assert all(c[4] == ["7.7.7.7"] for c in res.calls)
    assert r.count(transport="tcp") == 5 and r.count(transport="udp") == 0
    assert r.tcp_connections == 1


def test_use_vc_option_and_idle_close(env: Env) -> None:
    r = env.server()
    r.default = answer("8.8.4.4")
    env.dns.set_option("use-vc", None)
    env.dns.set_option("tcp-idle-timeout", "0.05")
    res = Results()
    env.dns.resolve_ipv4("v.example", 0, res)
    wait(env.base, res)
    assert r.count(transport="tcp") == 1
    ns = env.dns._servers[0]
    assert ns.tcp is not None
    wait(env.base, lambda: [1] if ns.tcp is None else [], limit=1)


# -- search ------------------------------------------------------------------------------------


def _search_server(env: Env) -> Responder:
    r = env.server()
    r.set("host.c.example.com", "A", answer("11.22.33.44"))
    r.set("host2.b.example.com", "A", answer("11.22.33.45"))
    r.set("www.example.org", "A", answer("1.1.1.1"))
    for d in ("a.example.com", "b.example.com", "c.example.com"):
        env.dns.search_add(d)
    return r


def test_search_domains_are_tried_in_order(env: Env) -> None:
    r = _search_server(env)
    res = Results()
    env.dns.resolve_ipv4("host", 0, res, "host")
    env.dns.resolve_ipv4("host2", 0, res, "host2")
    env.dns.resolve_ipv4("host3", 0, res, "host3")
    wait(env.base, res, 3)
    got = {c[5]: (c[0], c[4]) for c in res.calls}
    assert got["host"] == (DNS_ERR_NONE, ["11.22.33.44"])
    assert got["host2"] == (DNS_ERR_NONE, ["11.22.33.45"])
    assert got["host3"][0] == DNS_ERR_NOTEXIST
    names = [q.name.lower() for q in r.queries if q.name.lower().startswith("host3")]
    assert names == ["host3.a.example.com", "host3.b.example.com", "host3.c.example.com", "host3"]


def test_no_search_and_ndots(env: Env) -> None:
    r = _search_server(env)
    res = Results()
    env.dns.resolve_ipv4("host", DNS_QUERY_NO_SEARCH, res, "nosearch")
    env.dns.resolve_ipv4("www.example.org", 0, res, "dotted")
    wait(env.base, res, 2)
    got = {c[5]: c[0] for c in res.calls}
    assert got == {"nosearch": DNS_ERR_NOTEXIST, "dotted": DNS_ERR_NONE}
    assert r.count("www.example.org") == 1 and r.count("www.example.org.a.example.com") == 0
    env.dns.search_ndots_set(3)
    env.dns.resolve_ipv4("www.example.org", 0, res)
    wait(env.base, res, 3)
    assert r.count("www.example.org.a.example.com") == 1


def test_cancel_during_a_search_reports_cancel_once(env: Env) -> None:
    r = env.server()
    for d in ("a.example", "b.example", "c.example", "d.example"):
        env.dns.search_add(d)
    res = Results()
    req = env.dns.resolve_ipv4("host", 0, res)
    wait(env.base, lambda: [1] * r.count(), 3)
    req.cancel()
    req.cancel()
    spin(env.base, 10)
    assert [c[0] for c in res.calls] == [DNS_ERR_CANCEL]


def test_a_cancelled_request_ignores_its_late_answer(env: Env) -> None:
    r = env.server()
    r.set("slow.example", "A", Rule(records=[(None, "A", "1.2.3.4")], delay=0.05))
    res = Results()
    req = env.dns.resolve_ipv4("slow.example", 0, res)
    spin(env.base)
    env.dns.cancel_request(req)
    wait(env.base, lambda: [1] * r.count(), 1)
    time.sleep(0.06)
    spin(env.base, 10)
    assert [c[0] for c in res.calls] == [DNS_ERR_CANCEL]


# -- lifetime ---------------------------------------------------------------------------------


def test_free_with_fail_requests_reports_shutdown_for_every_request() -> None:
    base = EventBase()
    r = Responder(base, Rule(drop=10**6))
    dnsb = DnsBase(base, 0)
    dnsb.nameserver_ip_add(r.address)
    dnsb.set_option("max-inflight", "1")
    res = Results()
    for i in range(3):
        dnsb.resolve_ipv4(f"h{i}.example", 0, res)
    dnsb.free(fail_requests=True)
    dnsb.free(fail_requests=True)
    spin(base)
    assert [c[0] for c in res.calls] == [DNS_ERR_SHUTDOWN] * 3
    with pytest.raises(EventStateError):
        dnsb.resolve_ipv4("x", 0, res)
    r.close()
    base.free()


def test_free_without_fail_requests_drops_them_silently() -> None:
    base = EventBase()
    r = Responder(base, Rule(drop=10**6))
    dnsb = DnsBase(base, 0)
    dnsb.nameserver_ip_add(r.address)
    res = Results()
    dnsb.resolve_ipv4("h.example", 0, res)
    dnsb.free()
    spin(base)
    assert len(res) == 0
    r.close()
    base.free()


def test_suspended_requests_are_retried_on_resume(env: Env) -> None:
    old = env.server(Rule(drop=10**6))
    res = Results()
    env.dns.resolve_ipv4("moving.example", 0, res)
    spin(env.base)
    env.dns.clear_nameservers_and_suspend()
    assert env.dns.count_nameservers() == 0
    new = Responder(env.base, answer("9.9.9.9"))
    env.servers.append(new)
    env.dns.nameserver_ip_add(new.address)
    spin(env.base)
    assert len(res) == 0 and new.count() == 0
    env.dns.resume()
    wait(env.base, res)
    assert res.last[4] == ["9.9.9.9"] and old.count() == 1


def test_disable_when_inactive_lets_the_loop_exit() -> None:
    base = EventBase()
    server = ThreadResponder()
    try:
        dnsb = DnsBase(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE)
        dnsb.nameserver_ip_add(server.address)
        res = Results()
        dnsb.resolve_ipv4("x.example", 0, res)
        started = time.monotonic()
        base.loop()
        assert res.last[4] == ["10.0.0.1"] and time.monotonic() - started < 1.0
        dnsb.free()
    finally:
        server.close()
        base.free()


def test_without_disable_when_inactive_the_loop_keeps_running() -> None:
    base = EventBase()
    dnsb = DnsBase(base, 0)
    dnsb.nameserver_ip_add("127.0.0.1:9")
    base.loopexit(0.05)
    base.loop()
    assert base.got_exit()
    dnsb.free()
    base.free()


def test_a_raising_callback_goes_to_the_error_handler(env: Env) -> None:
    r = env.server()
    r.default = answer("1.1.1.1")

    def boom(*args: object) -> None:
        raise RuntimeError("user bug")

    env.dns.resolve_ipv4("a.example", 0, boom)
    res = Results()
    env.dns.resolve_ipv4("b.example", 0, res)
    wait(env.base, res)
    assert [type(e) for e in env.errors] == [RuntimeError]
    env.errors.clear()
    env.dns.resolve_ipv4("c.example", 0, res)
    wait(env.base, res, 2)


# -- randomisation and spoofing ------------------------------------------------------------------


def test_query_names_are_case_randomised_and_ids_vary(env: Env) -> None:
    r = env.server()
    name = "abcdefghijklmnopqrstuvwxyz.example"
    raw: list[bytes] = []
    r.set(name, "A", Rule(raw=lambda q: raw.append(q) or b""))
    res = Results()
    for _ in range(3):
        env.dns.resolve_ipv4(name, DNS_QUERY_NO_SEARCH, Results())
    wait(env.base, lambda: raw, 3)
    assert len({q.name for q in r.queries}) == 3
    assert len({q[:2] for q in raw}) == 3
    assert len(res) == 0


def test_an_answer_in_the_wrong_case_is_dropped(env: Env) -> None:
    r = env.server()
    r.set("casey.example", "A", Rule(records=[(None, "A", "1.1.1.1")], wrong_case=True))
    env.dns.set_option("attempts", "1")
    res = Results()
    env.dns.resolve_ipv4("casey.example", 0, res)
    wait(env.base, res)
    assert res.last[0] == DNS_ERR_TIMEOUT
    env.dns.set_option("randomize-case", "0")
    env.dns.resolve_ipv4("casey.example", 0, res)
    wait(env.base, res, 2)
    assert res.last[0] == DNS_ERR_NONE


def test_replies_from_another_port_are_ignored(env: Env) -> None:
    r = env.server()
    seen: list[bytes] = []
    r.set("spoof.example", "A", Rule(raw=lambda q: seen.append(q) or b""))
    res = Results()
    env.dns.resolve_ipv4("spoof.example", 0, res)
    wait(env.base, lambda: seen, 1)
    forged = dns.message.make_response(dns.message.from_wire(seen[0]))
    forged.answer.append(dns.rrset.from_text(forged.question[0].name, 60, "IN", "A", "6.6.6.6"))
    ours = socket.socket(fileno=os.dup(env.dns.get_nameserver_fd(0)))
    target = ours.getsockname()
    ours.close()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as attacker:
        attacker.sendto(forged.to_wire(), target)
    r.udp.sendto(b"\x00" * 3, target)  # garbage from the right address
    spin(env.base, 5)
    assert len(res) == 0
    r.udp.sendto(forged.to_wire()[:2] + b"\x81\x80" + forged.to_wire()[4:], target)
    wait(env.base, res)
    assert res.last[4] == ["6.6.6.6"]  # the same bytes from the real server are accepted


def test_edns_payload_size_is_advertised(env: Env) -> None:
    r = env.server()
    seen: list[bytes] = []
    r.set("e.example", "A", Rule(raw=lambda q: seen.append(q) or b""))
    env.dns.set_option("edns-udp-size", "1232")
    env.dns.resolve_ipv4("e.example", 0, Results())
    wait(env.base, lambda: seen, 1)
    assert dns.message.from_wire(seen[0]).payload == 1232


# -- configuration ------------------------------------------------------------------------------


def test_nameserver_management() -> None:
    base = EventBase()
    dnsb = DnsBase(base, 0)
    dnsb.nameserver_ip_add("127.0.0.1:5300")
    dnsb.nameserver_ip_add("[::1]:5301")
    dnsb.nameserver_ip_add("::1")
    dnsb.nameserver_ip_add("127.0.0.2")
    dnsb.nameserver_add(socket.htonl(0x7F000003))
    dnsb.nameserver_sockaddr_add(("127.0.0.4", 5302))
    with pytest.raises(ValueError):
        dnsb.nameserver_ip_add("127.0.0.1:5300")
    with pytest.raises(ValueError):
        dnsb.nameserver_ip_add("not-an-address")
    assert dnsb.count_nameservers() == 6
    assert dnsb.get_nameserver_addr(0) == ("127.0.0.1", 5300)
    assert dnsb.get_nameserver_addr(2) == ("::1", 53, 0, 0)
    assert dnsb.get_nameserver_addr(4) == ("127.0.0.3", 53)
    assert dnsb.get_nameserver_addr(6) is None and dnsb.get_nameserver_fd(6) == -1
    assert dnsb.get_nameserver_fd(0) >= 0
    assert dnsb.set_option("no-such-option", "1") is None
    with pytest.raises(ValueError):
        dnsb.set_option("timeout", "0")
    dnsb.free()
    base.free()


def test_bind_to_applies_to_later_non_loopback_servers() -> None:
    base = EventBase()
    dnsb = DnsBase(base, 0)
    dnsb.set_option("bind-to", "192.0.2.77")
    dnsb.nameserver_ip_add("127.0.0.1")  # loopback servers are never bound
    with pytest.raises(OSError):
        dnsb.nameserver_ip_add("192.0.2.1")
    assert dnsb.count_nameservers() == 1
    dnsb.free()
    base.free()


def test_unknown_base_flags_are_refused() -> None:
    base = EventBase()
    with pytest.raises(ValueError):
        DnsBase(base, 0x4)
    dnsb = DnsBase(base, EVDNS_BASE_INITIALIZE_NAMESERVERS)
    assert dnsb.count_nameservers() >= 1  # the file's servers, or 127.0.0.1
    dnsb.free()
    quiet = DnsBase(base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_NAMESERVERS_NO_DEFAULT)
    quiet.free()
    base.free()


def test_resolv_conf_parse(tmp_path: os.PathLike[str]) -> None:
    base = EventBase()
    conf = os.path.join(tmp_path, "resolv.conf")
    with open(conf, "w") as f:
        f.write(
            "nameserver 127.0.0.1\nnameserver 127.0.0.2:5353\nnameserver bogus\n"
            "search one.example two.example\noptions ndots:2 timeout:1.5 attempts:4 rotate\n"
        )
    dnsb = DnsBase(base, 0)
    assert dnsb.resolv_conf_parse(DNS_OPTIONS_ALL, conf) == EVDNS_ERROR_NONE
    assert dnsb.count_nameservers() == 2
    assert dnsb._search.domains == ["one.example", "two.example"] and dnsb._search.ndots == 2
    assert dnsb._opts.timeout == 1.5 and dnsb._opts.attempts == 4
    dnsb.free()
    empty = os.path.join(tmp_path, "empty.conf")
    open(empty, "w").close()
    for path, flags, code, count in [
        (empty, DNS_OPTION_NAMESERVERS, EVDNS_ERROR_NO_NAMESERVERS, 1),
        (empty, DNS_OPTION_NAMESERVERS | DNS_OPTION_NAMESERVERS_NO_DEFAULT, EVDNS_ERROR_NONE, 0),
        (
            os.path.join(tmp_path, "missing"),
            DNS_OPTION_NAMESERVERS,
            EVDNS_ERROR_FAILED_TO_OPEN_FILE,
            1,
        ),
        (str(tmp_path), DNS_OPTION_NAMESERVERS, EVDNS_ERROR_FAILED_TO_STAT_FILE, 0),
    ]:
        d = DnsBase(base, 0)
        assert (d.resolv_conf_parse(flags, path), d.count_nameservers()) == (code, count)
        d.free()
    base.free()


def test_resolving_works_on_every_backend(base: EventBase) -> None:
    server = Responder(base, answer("10.20.30.40"))
    dnsb = DnsBase(base, 0)
    dnsb.nameserver_ip_add(server.address)
    res = Results()
    for i in range(20):
        dnsb.resolve_ipv4(f"n{i}.example", 0, res)
    wait(base, res, 20)
    assert all(c[4] == ["10.20.30.40"] for c in res.calls)
    dnsb.free()
    server.close()
