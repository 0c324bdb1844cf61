"""levent's resolver against levent's own DNS server, and the resolver wired in.

Given a DnsServerPort on 127.0.0.1 answering for ``*.svc.test``, a DnsBase pointed
at it resolves A, AAAA, PTR and NXDOMAIN; ``BufferEvent.connect_hostname`` and
``HttpConnection`` reach a name through it without a worker thread.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest

from levent import (
    BEV_EVENT_CONNECTED,
    BEV_EVENT_ERROR,
    BEV_OPT_CLOSE_ON_FREE,
    LEV_OPT_CLOSE_ON_FREE,
    LEV_OPT_REUSEABLE,
    BufferEvent,
    EventBase,
    Listener,
)
from levent.dns import (
    DNS_ERR_NONE,
    DNS_ERR_NOTEXIST,
    DNS_PTR,
    EVDNS_TYPE_A,
    EVDNS_TYPE_AAAA,
    EVDNS_TYPE_PTR,
    DNS_IPv4_A,
    DNS_IPv6_AAAA,
    DnsBase,
    DnsServerPort,
    ServerRequest,
)
from levent.http import HTTP_OK, HttpConnection, HttpRequest, HttpServer

pytestmark = pytest.mark.timeout(20)


def answer(req: ServerRequest, arg: Any) -> None:
    q = req.questions[0]
    name = q.name.lower()
    if not name.endswith("svc.test") and q.type != EVDNS_TYPE_PTR:
        req.respond(DNS_ERR_NOTEXIST)
        return
    if q.type == EVDNS_TYPE_A:
        req.add_a_reply(q.name, ["127.0.0.1"], 30)
    elif q.type == EVDNS_TYPE_AAAA:
        req.add_aaaa_reply(q.name, ["::1"], 30)
    elif q.type == EVDNS_TYPE_PTR:
        req.add_ptr_reply(None, q.name, "web.svc.test", 30)
    req.respond(DNS_ERR_NONE)


@pytest.fixture
def served() -> Any:
    base = EventBase()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    port = DnsServerPort(base, udp, 0, answer)
    dns = DnsBase(base, 0)
    dns.nameserver_ip_add(f"127.0.0.1:{udp.getsockname()[1]}")
    dns.set_option("timeout", "0.5")
    yield base, dns
    dns.free()
    port.close()
    base.free()


def test_given_levents_server_the_resolver_gets_a_aaaa_ptr_and_nxdomain(served: Any) -> None:
    base, dns = served
    got: list[tuple[int, int, list[str]]] = []

    def cb(result: int, kind: int, count: int, ttl: int, addrs: list[str], arg: Any) -> None:
        got.append((result, kind, addrs))
        if len(got) == 4:
            base.loopbreak()

    dns.resolve_ipv4("web.svc.test", 0, cb)
    dns.resolve_ipv6("web.svc.test", 0, cb)
    dns.resolve_reverse("127.0.0.1", 0, cb)
    dns.resolve_ipv4("nothing.example", 0, cb)
    base.loopexit(5)
    base.dispatch()
    assert sorted(got) == sorted(
        [
            (DNS_ERR_NONE, DNS_IPv4_A, ["127.0.0.1"]),
            (DNS_ERR_NONE, DNS_IPv6_AAAA, ["::1"]),
            (DNS_ERR_NONE, DNS_PTR, ["web.svc.test"]),
            (DNS_ERR_NOTEXIST, 0, []),  # as libevent: no type with an error
        ]
    )


def test_given_a_dns_base_connect_hostname_resolves_on_the_loop(served: Any) -> None:
    base, dns = served
    accepted: list[socket.socket] = []
    lst = Listener(
        base,
        lambda lis, sock, addr, arg: accepted.append(sock),
        None,
        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
        -1,
        address=("127.0.0.1", 0),
    )
    with socket.socket(fileno=socket.dup(lst.fd)) as dup:
        port = dup.getsockname()[1]
    events: list[int] = []
    threads_before = {t.name for t in threading.enumerate()}

    def on_event(bev: BufferEvent, what: int, arg: Any) -> None:
        events.append(what)
        base.loopbreak()

    bev = BufferEvent.socket(base, None, BEV_OPT_CLOSE_ON_FREE)
    bev.setcb(None, None, on_event)
    bev.connect_hostname(dns, socket.AF_INET, "web.svc.test", port)
    base.loopexit(5)
    base.dispatch()
    assert events == [BEV_EVENT_CONNECTED]
    # No resolver thread was started for it.
    assert not {t.name for t in threading.enumerate()} - threads_before
    bev.free()

    bad = BufferEvent.socket(base, None, BEV_OPT_CLOSE_ON_FREE)
    bad.setcb(None, None, on_event)
    bad.connect_hostname(dns, socket.AF_INET, "missing.example", port)
    base.loopexit(5)
    base.dispatch()
    assert events[-1] == BEV_EVENT_ERROR
    assert bad.get_dns_error() == socket.EAI_NONAME
    bad.free()
    for sock in accepted:
        sock.close()
    lst.free()


def test_given_a_non_resolver_connect_hostname_raises_type_error(served: Any) -> None:
    base, _dns = served
    bev = BufferEvent.socket(base, None, BEV_OPT_CLOSE_ON_FREE)
    with pytest.raises(TypeError):
        bev.connect_hostname(object(), socket.AF_INET, "web.svc.test", 80)
    bev.free()


def test_given_a_dns_base_http_connection_reaches_a_name(served: Any) -> None:
    base, dns = served
    http = HttpServer(base)
    http.set_cb("/", lambda req, arg: req.send_reply(HTTP_OK, "OK", b"by name"))
    bound = http.bind_socket_with_handle("127.0.0.1", 0)
    port = bound.getsockname()[1]
    conn = HttpConnection(base, dns, "web.svc.test", port)
    seen: list[tuple[int, bytes]] = []

    def done(req: HttpRequest | None, arg: Any) -> None:
        assert req is not None
        seen.append((req.response_code, bytes(req.input_buffer)))
        base.loopbreak()

    req = HttpRequest(done)
    req.output_headers.add("Host", "web.svc.test")
    conn.make_request(req, "GET", "/")
    base.loopexit(5)
    base.dispatch()
    assert seen == [(HTTP_OK, b"by name")]
    conn.free()
    http.free()
