"""levent's HTTP client against levent's HTTP server, both on one EventBase.

One loop drives both ends, as a libevent program that proxies or tests itself
would: keep-alive reuse, bodies both ways, streamed replies, errors, and HTTPS
through the server's bufferevent factory (``set_bevcb``) with verification on.
"""

from __future__ import annotations

from typing import Any

import pytest
from loop_helpers import run_until, spin
from tls_helpers import HOSTNAME, client_context, server_context, untrusting_client_context

from levent import BEV_OPT_CLOSE_ON_FREE, BufferEvent, Event, EventBase
from levent.bufferevent.ssl import BUFFEREVENT_SSL_ACCEPTING, BUFFEREVENT_SSL_CONNECTING
from levent.http import (
    EVHTTP_REQ_GET,
    EVHTTP_REQ_HEAD,
    EVHTTP_REQ_POST,
    HttpConnection,
    HttpRequest,
    HttpServer,
)


class Result:
    """What one client request ended with."""

    def __init__(self) -> None:
        self.done = False
        self.req: HttpRequest | None = None
        self.code = 0
        self.body = b""
        self.headers: dict[str, str] = {}
        self.errors: list[int] = []


def fetch(
    base: EventBase, conn: HttpConnection, method: int, uri: str, body: bytes = b""
) -> Result:
    res = Result()

    def done(req: HttpRequest | None, arg: Any) -> None:
        res.done = True
        res.req = req
        if req is not None:
            res.code = req.response_code
            res.body = req.input_buffer.remove(len(req.input_buffer))
            res.headers = {k.lower(): v for k, v in req.input_headers}

    req = HttpRequest(done)
    req.error_cb = lambda error, arg: res.errors.append(error)
    req.output_headers.add("Host", "localhost")
    if body:
        req.output_buffer.add(body)
    conn.make_request(req, method, uri)
    run_until(base, lambda: res.done)
    return res


def make_server(base: EventBase) -> tuple[HttpServer, int, list[Any]]:
    http = HttpServer(base)
    peers: list[Any] = []

    def hello(req: HttpRequest, arg: Any) -> None:
        peers.append(req.connection)
        req.output_headers.add("Content-Type", "text/plain")
        req.send_reply(200, "OK", b"hello")

    def echo(req: HttpRequest, arg: Any) -> None:
        req.send_reply(200, "OK", req.input_buffer)

    def stream(req: HttpRequest, arg: Any) -> None:
        req.send_reply_start(200, "OK")
        pieces = [b"one ", b"two ", b"three"]

        def tick(fd: int, what: int, a: Any) -> None:
            if pieces:
                req.send_reply_chunk(pieces.pop(0))
                timer.add(0.005)
            else:
                req.send_reply_end()

        timer = Event.timer(base, tick)
        timer.add(0.005)
        req.userdata = timer

    http.set_cb("/hello", hello)
    http.set_cb("/echo", echo)
    http.set_cb("/stream", stream)
    bound = http.bind_socket_with_handle("127.0.0.1", 0)
    return http, bound.getsockname()[1], peers


def test_given_keepalive_requests_they_share_one_server_connection(base: EventBase) -> None:
    http, port, peers = make_server(base)
    conn = HttpConnection(base, None, "127.0.0.1", port)
    for _ in range(20):
        res = fetch(base, conn, EVHTTP_REQ_GET, "/hello")
        assert (res.code, res.body) == (200, b"hello")
    assert len({id(p) for p in peers}) == 1
    assert http.get_connection_count() == 1
    conn.free()
    http.free()


def test_given_bodies_both_ways_and_a_streamed_reply_the_client_gets_them_exactly(
    base: EventBase,
) -> None:
    http, port, _ = make_server(base)
    conn = HttpConnection(base, None, "127.0.0.1", port)
    payload = bytes(range(256)) * 4096  # 1 MiB
    res = fetch(base, conn, EVHTTP_REQ_POST, "/echo", payload)
    assert res.code == 200 and res.body == payload
    res = fetch(base, conn, EVHTTP_REQ_GET, "/stream")
    assert res.body == b"one two three"
    assert res.headers["transfer-encoding"] == "chunked"
    res = fetch(base, conn, EVHTTP_REQ_HEAD, "/hello")
    assert res.code == 200 and res.body == b"" and res.headers["content-length"] == "5"
    res = fetch(base, conn, EVHTTP_REQ_GET, "/hello")
    assert res.body == b"hello"  # the HEAD reply left the connection in step
    conn.free()
    http.free()


def test_given_a_404_the_client_reads_the_page_and_reconnects_for_the_next(
    base: EventBase,
) -> None:
    http, port, _ = make_server(base)
    conn = HttpConnection(base, None, "127.0.0.1", port)
    res = fetch(base, conn, EVHTTP_REQ_GET, "/missing?x=<y>")
    assert res.code == 404
    assert b"/missing?x=&lt;y&gt; was not found" in res.body
    assert fetch(base, conn, EVHTTP_REQ_GET, "/hello").body == b"hello"
    conn.free()
    http.free()


def tls_server(base: EventBase) -> tuple[HttpServer, int, list[Any]]:
    http, port, peers = make_server(base)

    def make_bev(b: Any, arg: Any) -> BufferEvent:
        return BufferEvent.ssl_socket(
            b, None, server_context(), BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE
        )

    http.set_bevcb(make_bev)
    return http, port, peers


def tls_client(base: EventBase, port: int, ctx: Any) -> HttpConnection:
    bev = BufferEvent.ssl_socket(
        base, None, ctx, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE, HOSTNAME
    )
    return HttpConnection(base, None, "127.0.0.1", port, bev=bev)


def test_given_set_bevcb_with_tls_the_server_speaks_https(base: EventBase) -> None:
    http, port, _ = tls_server(base)
    conn = tls_client(base, port, client_context())
    for _ in range(3):
        res = fetch(base, conn, EVHTTP_REQ_GET, "/hello")
        assert (res.code, res.body) == (200, b"hello")
    payload = b"x" * 300_000
    assert fetch(base, conn, EVHTTP_REQ_POST, "/echo", payload).body == payload
    conn.free()
    http.free()


@pytest.mark.parametrize("wrong", ["untrusted", "plain"])
def test_given_a_bad_tls_client_the_https_server_serves_the_next_one(
    base: EventBase, wrong: str
) -> None:
    http, port, _ = tls_server(base)
    if wrong == "untrusted":
        bad = tls_client(base, port, untrusting_client_context())
    else:
        bad = HttpConnection(base, None, "127.0.0.1", port)  # plain HTTP to a TLS port
    bad.set_timeout(2)
    res = fetch(base, bad, EVHTTP_REQ_GET, "/hello")
    assert res.req is None and res.errors
    bad.free()
    good = tls_client(base, port, client_context())
    assert fetch(base, good, EVHTTP_REQ_GET, "/hello").body == b"hello"
    good.free()
    http.free()


def test_given_an_already_connected_bufferevent_reuse_sends_requests_on_it(
    base: EventBase,
) -> None:
    """``evhttp_connection_base_bufferevent_reuse_new``: no new connect; after the
    server closes, the connection reconnects to the same address."""
    import socket

    http, port, peers = make_server(base)
    sock = socket.create_connection(("127.0.0.1", port))
    local = sock.getsockname()
    bev = BufferEvent.socket(base, sock, BEV_OPT_CLOSE_ON_FREE)
    conn = HttpConnection.reuse(base, None, bev)
    assert conn.get_peer() == ("127.0.0.1", port)
    for _ in range(3):
        res = fetch(base, conn, EVHTTP_REQ_GET, "/hello")
        assert (res.code, res.body) == (200, b"hello")
    assert len({id(p) for p in peers}) == 1
    assert peers[0].get_peer() == local  # the very socket we connected
    # The server drops the connection: the next request reconnects by itself.
    peers[0].free()
    spin(base, 20)  # the client sees the close
    res = fetch(base, conn, EVHTTP_REQ_GET, "/hello")
    assert (res.code, res.body) == (200, b"hello")
    assert len({id(p) for p in peers}) == 2
    conn.free()
    http.free()


def test_given_an_unconnected_bufferevent_reuse_raises(base: EventBase) -> None:
    import socket

    with pytest.raises(ValueError, match="no socket"):
        HttpConnection.reuse(base, None, BufferEvent.socket(base, None, BEV_OPT_CLOSE_ON_FREE))
    lone = socket.socket()
    bev = BufferEvent.socket(base, lone, BEV_OPT_CLOSE_ON_FREE)
    with pytest.raises(ValueError, match="not connected"):
        HttpConnection.reuse(base, None, bev)
    bev.free()
