"""HttpServer behaviours: libevent-reference.md §3.9, phrased "given X, levent does Y".

Each test runs a levent HttpServer in a thread (``http_helpers.ServerThread``) and
talks to it with raw sockets or the stdlib's ``http.client`` over 127.0.0.1.
Where levent deliberately differs from libevent (DESIGN.md §6) the test says so.
"""

from __future__ import annotations

import http.client
import socket
import time
from typing import Any

import pytest
from http_helpers import ServerThread, exchange, read_all, read_response

from levent import Evbuffer, Event, EventBase
from levent.http import (
    EVHTTP_REQ_GET,
    EVHTTP_REQ_PATCH,
    EVHTTP_REQ_POST,
    HTTP_OK,
    HttpRequest,
    HttpServer,
)


def hello(req: HttpRequest, arg: Any) -> None:
    req.send_reply(HTTP_OK, "OK", b"hello")


def echo_body(req: HttpRequest, arg: Any) -> None:
    body = req.input_buffer.remove(len(req.input_buffer))
    req.output_headers.add("X-Method", req.method)
    req.send_reply(HTTP_OK, "OK", body)


def routes(http: HttpServer, base: EventBase) -> None:
    http.set_cb("/test", hello)
    http.set_cb("/echo", echo_body)


def head_of(response: bytes) -> list[str]:
    return response.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")


def header_names(response: bytes) -> list[str]:
    return [line.split(":", 1)[0] for line in head_of(response)[1:]]


# -- basics (T: http/basic) ------------------------------------------------------------


def test_given_a_request_split_across_writes_the_server_waits_and_replies_200() -> None:
    with ServerThread(routes) as srv, socket.create_connection(("127.0.0.1", srv.port)) as s:
        s.sendall(b"GET /test HTTP/1.1\r\nHost: some")
        time.sleep(0.1)
        s.sendall(b"host\r\nConnection: close\r\n\r\n")
        out = read_all(s)
    lines = head_of(out)
    assert lines[0] == "HTTP/1.1 200 OK"
    assert "Content-Type: text/html; charset=ISO-8859-1" in lines
    assert out.endswith(b"\r\n\r\nhello<EOF>")


def test_given_an_absolute_uri_the_request_is_routed_by_its_path() -> None:
    with ServerThread(routes) as srv:
        out = exchange(
            srv.port, b"GET http://somehost.net/test HTTP/1.1\r\nConnection: close\r\n\r\n"
        )
    assert out.startswith(b"HTTP/1.1 200 OK\r\n")


def test_given_a_query_or_an_encoded_path_the_exact_decoded_path_matches() -> None:
    """T: http/basic — "/test?x=1" and "/t%65st" both reach the "/test" callback."""
    with ServerThread(routes) as srv:
        a = exchange(srv.port, b"GET /test?x=1 HTTP/1.1\r\nConnection: close\r\n\r\n")
        b = exchange(srv.port, b"GET /t%65st HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert a.startswith(b"HTTP/1.1 200 OK")
    assert b.startswith(b"HTTP/1.1 200 OK")


def test_given_the_same_path_twice_set_cb_raises() -> None:
    base = EventBase()
    http = HttpServer(base)
    http.set_cb("/a", hello)
    with pytest.raises(ValueError):
        http.set_cb("/a", hello)
    http.del_cb("/a")
    with pytest.raises(KeyError):
        http.del_cb("/a")
    http.set_cb("/a", hello)
    http.free()
    base.free()


def test_given_an_http11_reply_it_carries_date_length_and_type_in_libevents_order() -> None:
    """local probe of libevent 2.1: Date, Content-Length, Content-Type, Connection: close."""
    with ServerThread(routes) as srv:
        out = exchange(srv.port, b"GET /test HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert header_names(out) == ["Date", "Content-Length", "Content-Type", "Connection"]
    assert "Content-Length: 5" in head_of(out)
    assert "Connection: close" in head_of(out)


def test_given_an_empty_reply_on_http11_the_client_sees_content_length_0() -> None:
    def empty(req: HttpRequest, arg: Any) -> None:
        req.send_reply(HTTP_OK, "Everything is fine")

    with ServerThread(lambda http, base: http.set_cb("/e", empty)) as srv:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
        conn.request("GET", "/e")
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.reason == "Everything is fine"
        assert resp.getheader("Content-Length") == "0"
        assert resp.getheader("Date")
        assert resp.read() == b""
        conn.close()


def test_given_a_204_reply_only_date_is_added() -> None:
    def nocontent(req: HttpRequest, arg: Any) -> None:
        req.send_reply(204, None)

    with ServerThread(lambda http, base: http.set_cb("/nc", nocontent)) as srv:
        out = exchange(srv.port, b"GET /nc HTTP/1.1\r\n\r\n", wait=0.3)
    assert head_of(out)[0] == "HTTP/1.1 204 No Content"
    assert header_names(out) == ["Date"]


# -- keep-alive (T: http/connection, persist_connection) ---------------------------------


def test_given_http11_without_close_the_connection_serves_the_next_request() -> None:
    with ServerThread(routes) as srv, socket.create_connection(("127.0.0.1", srv.port)) as s:
        for _ in range(3):
            s.sendall(b"GET /test HTTP/1.1\r\nHost: x\r\n\r\n")
            status, headers, body = read_response(s)
            assert status == "HTTP/1.1 200 OK"
            assert body == b"hello"
            assert "connection" not in headers


def test_given_http10_without_keepalive_the_reply_has_no_length_and_the_server_closes() -> None:
    """local probe of libevent 2.1: no Date, no Content-Length; close-delimited."""
    with ServerThread(routes) as srv:
        out = exchange(srv.port, b"GET /test HTTP/1.0\r\n\r\n")
    assert out == (
        b"HTTP/1.0 200 OK\r\nContent-Type: text/html; charset=ISO-8859-1\r\n\r\nhello<EOF>"
    )


def test_given_http10_keepalive_the_reply_says_keepalive_and_the_connection_stays() -> None:
    with ServerThread(routes) as srv:
        out = exchange(srv.port, b"GET /test HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", wait=0.3)
    assert out == (
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5\r\n"
        b"Content-Type: text/html; charset=ISO-8859-1\r\n\r\nhello"
    )


def test_given_pipelined_requests_the_replies_come_in_order() -> None:
    order: list[str] = []

    def slow(req: HttpRequest, arg: Any) -> None:
        order.append("slow")
        ev = Event.timer(req.connection.base, lambda fd, what, a: req.send_reply(200, "OK", b"1"))
        ev.add(0.1)
        req.userdata = ev

    def fast(req: HttpRequest, arg: Any) -> None:
        order.append("fast")
        req.send_reply(200, "OK", b"2")

    def setup(http: HttpServer, base: EventBase) -> None:
        http.set_cb("/slow", slow)
        http.set_cb("/fast", fast)

    with ServerThread(setup) as srv:
        out = exchange(
            srv.port,
            b"GET /slow HTTP/1.1\r\n\r\nGET /fast HTTP/1.1\r\n\r\n"
            b"GET /fast HTTP/1.1\r\nConnection: close\r\n\r\n",
        )
    bodies = [part.split(b"\r\n\r\n", 1)[1][:1] for part in out.split(b"HTTP/1.1 ")[1:]]
    assert bodies == [b"1", b"2", b"2"]
    assert order == ["slow", "fast", "fast"]
    assert out.endswith(b"<EOF>")


def test_given_an_idle_keepalive_connection_and_no_timeout_set_it_stays_open() -> None:
    """libevent never closes it; levent's default timeout is 60 s, far beyond this test."""
    with ServerThread(routes) as srv, socket.create_connection(("127.0.0.1", srv.port)) as s:
        s.sendall(b"GET /test HTTP/1.1\r\n\r\n")
        read_response(s)
        time.sleep(0.5)
        s.sendall(b"GET /test HTTP/1.1\r\n\r\n")
        assert read_response(s)[2] == b"hello"


# -- errors (T: http/error_callback, allowed_methods, data_length_constraints) -----------


def test_given_an_unregistered_path_the_reply_is_libevents_404_page_and_close() -> None:
    with ServerThread(routes) as srv:
        out = exchange(srv.port, b"GET /zzz?a=<b> HTTP/1.1\r\nHost: x\r\n\r\n")
    lines = head_of(out)
    assert lines[0] == "HTTP/1.1 404 Not Found"
    assert header_names(out) == ["Content-Type", "Connection", "Date", "Content-Length"]
    body = out.split(b"\r\n\r\n", 1)[1]
    assert body == (
        b"<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1>"
        b"<p>The requested URL /zzz?a=&lt;b&gt; was not found on this server.</p>"
        b"</body></html>\n<EOF>"
    )


def test_given_send_error_404_the_body_is_the_default_page_and_http11() -> None:
    def err(req: HttpRequest, arg: Any) -> None:
        req.output_headers.add("X-Dropped", "1")
        req.send_error(404)

    with ServerThread(lambda http, base: http.set_cb("/err", err)) as srv:
        out = exchange(srv.port, b"GET /err HTTP/1.0\r\n\r\n")
    assert head_of(out)[0] == "HTTP/1.1 404 Not Found"
    assert "X-Dropped" not in header_names(out)
    assert out.split(b"\r\n\r\n", 1)[1] == (
        b"<HTML><HEAD>\n<TITLE>404 Not Found</TITLE>\n</HEAD><BODY>\n<H1>Not Found</H1>\n"
        b"</BODY></HTML>\n<EOF>"
    )


@pytest.mark.parametrize(
    ("written", "result", "expected"),
    [(b"404", 0, b"404"), (b"", 0, b""), (b"custom", -1, None)],
)
def test_given_an_error_callback_its_page_or_the_default_is_sent(
    written: bytes, result: int, expected: bytes | None
) -> None:
    """T: http/error_callback."""

    def errorcb(req: HttpRequest, buf: Evbuffer, code: int, reason: str, arg: Any) -> int:
        buf.add(written)
        return result

    def setup(http: HttpServer, base: EventBase) -> None:
        http.set_errorcb(errorcb)

    with ServerThread(setup) as srv:
        out = exchange(srv.port, b"GET /nothing HTTP/1.1\r\n\r\n")
    body = out.split(b"\r\n\r\n", 1)[1].removesuffix(b"<EOF>")
    if expected is None:
        assert body.startswith(b"<html><head><title>404 Not Found</title>")
    else:
        assert body == expected


def test_given_patch_with_the_default_methods_levent_answers_405_with_allow() -> None:
    """Deliberate difference: libevent sends 501 for a known but disallowed method;
    RFC 9110 §15.5.6 says 405 with an Allow header (DESIGN.md §6)."""
    with ServerThread(routes) as srv:
        out = exchange(srv.port, b"PATCH /test HTTP/1.1\r\n\r\n")
    lines = head_of(out)
    assert lines[0] == "HTTP/1.1 405 Method Not Allowed"
    assert "Allow: GET, POST, HEAD, PUT, DELETE" in lines
    assert out.endswith(b"<EOF>")


@pytest.mark.parametrize("request_line", [b"FLOOP /test HTTP/1.1", b"get /test HTTP/1.1"])
def test_given_an_unknown_method_the_reply_is_501(request_line: bytes) -> None:
    with ServerThread(routes) as srv:
        out = exchange(srv.port, request_line + b"\r\n\r\n")
    assert head_of(out)[0] == "HTTP/1.1 501 Not Implemented"


def test_given_allowed_methods_patch_and_an_extension_method_they_are_served() -> None:
    def setup(http: HttpServer, base: EventBase) -> None:
        routes(http, base)
        http.set_allowed_methods(EVHTTP_REQ_PATCH)
        http.set_ext_methods(["PURGE"])

    with ServerThread(setup) as srv:
        get = exchange(srv.port, b"GET /test HTTP/1.1\r\n\r\n")
        patch = exchange(srv.port, b"PATCH /echo HTTP/1.1\r\nConnection: close\r\n\r\n")
        purge = exchange(srv.port, b"PURGE /echo HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert head_of(get)[0] == "HTTP/1.1 405 Method Not Allowed"
    assert head_of(patch)[0] == "HTTP/1.1 200 OK"
    assert head_of(purge)[0] == "HTTP/1.1 200 OK"
    assert "X-Method: PURGE" in head_of(purge)


def test_given_an_http2_request_line_levent_answers_505() -> None:
    """Deliberate difference: libevent answers 400; RFC 9110 §15.6.6 gives 505."""
    with ServerThread(routes) as srv:
        out = exchange(srv.port, b"GET /test HTTP/2.0\r\n\r\n")
    assert head_of(out)[0] == "HTTP/1.1 505 HTTP Version Not Supported"


def test_given_headers_over_the_limit_levent_answers_431() -> None:
    """Deliberate difference: libevent answers 400 (RFC 6585 §5 defines 431)."""

    def setup(http: HttpServer, base: EventBase) -> None:
        routes(http, base)
        http.set_max_headers_size(1000)

    with ServerThread(setup) as srv:
        out = exchange(srv.port, b"GET /test HTTP/1.1\r\nX: " + b"a" * 2000 + b"\r\n\r\n")
    assert head_of(out)[0] == "HTTP/1.1 431 Request Header Fields Too Large"


def test_given_a_body_over_the_limit_the_reply_is_413_and_the_client_can_read_it() -> None:
    def setup(http: HttpServer, base: EventBase) -> None:
        routes(http, base)
        http.set_max_body_size(1000)

    with ServerThread(setup) as srv:
        out = exchange(
            srv.port, b"POST /echo HTTP/1.1\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000
        )
    assert head_of(out)[0] == "HTTP/1.1 413 Content Too Large"


def test_given_expect_100_continue_the_server_sends_100_then_the_reply() -> None:
    with ServerThread(routes) as srv, socket.create_connection(("127.0.0.1", srv.port)) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        s.settimeout(5)
        interim = s.recv(1000)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(b"abc")
        status, _headers, body = read_response(s)
    assert status == "HTTP/1.1 200 OK"
    assert body == b"abc"


def test_given_expect_100_continue_over_the_body_limit_the_reply_is_413_at_once() -> None:
    def setup(http: HttpServer, base: EventBase) -> None:
        routes(http, base)
        http.set_max_body_size(100)

    with ServerThread(setup) as srv:
        out = exchange(
            srv.port, b"POST /echo HTTP/1.1\r\nContent-Length: 3000\r\nExpect: 100-continue\r\n\r\n"
        )
    assert head_of(out)[0] == "HTTP/1.1 413 Content Too Large"


def test_given_an_unknown_expectation_the_reply_is_417() -> None:
    with ServerThread(routes) as srv:
        out = exchange(
            srv.port, b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\nExpect: 101-continue\r\n\r\n"
        )
    assert head_of(out)[0] == "HTTP/1.1 417 Expectation Failed"


def test_given_an_empty_request_and_a_half_close_the_server_closes_silently() -> None:
    """T: http/bad_request."""
    with ServerThread(routes) as srv:
        assert exchange(srv.port, b"", half_close=True) == b"<EOF>"


def test_given_an_incomplete_request_and_a_half_close_the_server_closes_without_reply() -> None:
    """T: http/incomplete."""
    with ServerThread(routes) as srv:
        out = exchange(srv.port, b"GET /test HTTP/1.1\r\nHost: somehost\r\n", half_close=True)
    assert out == b"<EOF>"


def test_given_an_incomplete_request_and_a_timeout_levent_answers_408() -> None:
    """T: http/incomplete_timeout: libevent closes silently after the timeout; levent
    answers 408 first (RFC 9110 §15.5.9), then closes."""

    def setup(http: HttpServer, base: EventBase) -> None:
        routes(http, base)
        http.set_timeout(0.3)

    with ServerThread(setup) as srv:
        start = time.monotonic()
        out = exchange(srv.port, b"GET /test HTTP/1.1\r\nHost: somehost\r\n", wait=3)
        elapsed = time.monotonic() - start
    assert head_of(out)[0] == "HTTP/1.1 408 Request Timeout"
    assert out.endswith(b"<EOF>")
    assert 0.2 < elapsed < 2.5


def test_given_an_idle_connection_and_a_timeout_the_server_closes_silently() -> None:
    def setup(http: HttpServer, base: EventBase) -> None:
        routes(http, base)
        http.set_timeout(0.2)

    with ServerThread(setup) as srv:
        assert exchange(srv.port, b"", wait=3) == b"<EOF>"


def test_given_max_connections_1_a_second_connection_gets_503() -> None:
    """T: http/max_connections."""

    def setup(http: HttpServer, base: EventBase) -> None:
        routes(http, base)
        http.set_max_connections(1)

    with ServerThread(setup) as srv, socket.create_connection(("127.0.0.1", srv.port)) as first:
        first.sendall(b"GET /test HTTP/1.1\r\n\r\n")
        read_response(first)
        second = exchange(srv.port, b"", wait=2)
        assert head_of(second)[0] == "HTTP/1.1 503 Service Unavailable"
        first.sendall(b"GET /test HTTP/1.1\r\n\r\n")
        assert read_response(first)[2] == b"hello"


def test_given_a_newreqcb_returning_minus_one_that_connection_closes_others_succeed() -> None:
    """T: http/newreqcb."""
    seen: list[str] = []

    def newreq(req: HttpRequest, arg: Any) -> int:
        seen.append(req.remote_host)
        return -1 if len(seen) == 1 else 0

    def setup(http: HttpServer, base: EventBase) -> None:
        routes(http, base)
        http.set_newreqcb(newreq)

    with ServerThread(setup) as srv:
        refused = exchange(srv.port, b"GET /test HTTP/1.1\r\n\r\n")
        served = exchange(srv.port, b"GET /test HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert refused == b"<EOF>"
    assert served.startswith(b"HTTP/1.1 200 OK")
    assert seen == ["127.0.0.1", "127.0.0.1"]


def test_given_a_handler_that_raises_the_client_gets_500_and_the_loop_goes_on() -> None:
    def boom(req: HttpRequest, arg: Any) -> None:
        raise RuntimeError("handler bug")

    def setup(http: HttpServer, base: EventBase) -> None:
        routes(http, base)
        http.set_cb("/boom", boom)

    with ServerThread(setup, allow_errors=True) as srv:
        out = exchange(srv.port, b"GET /boom HTTP/1.1\r\n\r\n")
        ok = exchange(srv.port, b"GET /test HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert head_of(out)[0] == "HTTP/1.1 500 Internal Server Error"
    assert ok.startswith(b"HTTP/1.1 200 OK")
    assert [str(e) for e in srv.errors] == ["handler bug"]


# -- bodies ----------------------------------------------------------------------------------


def test_given_a_chunked_request_body_the_handler_gets_it_whole_with_trailers() -> None:
    got: list[tuple[bytes, str | None]] = []

    def handler(req: HttpRequest, arg: Any) -> None:
        got.append((req.input_buffer.remove(100), req.input_headers.find("X-Trailer")))
        req.send_reply(200, "OK")

    with ServerThread(lambda http, base: http.set_cb("/up", handler)) as srv:
        out = exchange(
            srv.port,
            b"POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            b"3\r\nabc\r\n4\r\ndefg\r\n0\r\nX-Trailer: yes\r\n\r\n",
        )
    assert out.startswith(b"HTTP/1.1 200 OK")
    assert got == [(b"abcdefg", "yes")]


@pytest.mark.parametrize("size_line", [b" 3", b"+3", b"0x3", b"-3"])
def test_given_a_malformed_chunk_size_the_reply_is_400(size_line: bytes) -> None:
    """T: http/send_chunk_malformed (levent accepts chunk extensions, which RFC 9112
    allows; libevent rejects them)."""
    with ServerThread(routes) as srv:
        out = exchange(
            srv.port,
            b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            + size_line
            + b"\r\nabc\r\n0\r\n\r\n",
        )
    assert head_of(out)[0] == "HTTP/1.1 400 Bad Request"


def test_given_a_streamed_reply_the_client_gets_the_chunks_in_order() -> None:
    """T: http/chunk_out."""

    def stream(req: HttpRequest, arg: Any) -> None:
        req.send_reply_start(200, "OK")
        pieces = [b"This is funny", b"but not hilarious.", b"bwv 1052"]

        def next_piece(fd: int, what: int, a: Any) -> None:
            if pieces:
                req.send_reply_chunk(pieces.pop(0))
                timer.add(0.01)
            else:
                req.send_reply_end()

        timer = Event.timer(req.connection.base, next_piece)
        timer.add(0.01)
        req.userdata = timer

    with ServerThread(lambda http, base: http.set_cb("/chunked", stream)) as srv:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
        conn.request("GET", "/chunked")
        resp = conn.getresponse()
        assert resp.getheader("Transfer-Encoding") == "chunked"
        assert resp.read() == b"This is funnybut not hilarious.bwv 1052"
        conn.close()


def test_given_a_preset_content_length_the_streamed_pieces_go_raw() -> None:
    """T: http/stream_out."""

    def stream(req: HttpRequest, arg: Any) -> None:
        req.output_headers.add("Content-Length", "6")
        req.send_reply_start(200, "OK")
        req.send_reply_chunk(b"abc")
        req.send_reply_chunk(b"def")
        req.send_reply_end()

    with ServerThread(lambda http, base: http.set_cb("/s", stream)) as srv:
        out = exchange(srv.port, b"GET /s HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert out.endswith(b"\r\n\r\nabcdef<EOF>")
    assert "Transfer-Encoding" not in header_names(out)


def test_given_a_client_that_leaves_mid_stream_the_close_callback_runs() -> None:
    """T: http/terminate_chunked: the connection's close callback fires and the
    request then has no connection; later chunks are dropped, not raised."""
    closed: list[bool] = []
    state: dict[str, Any] = {}

    def stream(req: HttpRequest, arg: Any) -> None:
        req.connection.set_closecb(lambda conn, a: closed.append(req.connection is None))
        req.send_reply_start(200, "OK")
        state["req"] = req

        def tick(fd: int, what: int, a: Any) -> None:
            req.send_reply_chunk(b"x" * 1000)
            if not closed:
                timer.add(0.01)

        timer = Event.timer(req.connection.base, tick)
        timer.add(0.01)
        req.userdata = timer

    with ServerThread(lambda http, base: http.set_cb("/s", stream)) as srv:
        with socket.create_connection(("127.0.0.1", srv.port)) as s:
            s.sendall(b"GET /s HTTP/1.1\r\n\r\n")
            s.recv(100)
        deadline = time.monotonic() + 5
        while not closed and time.monotonic() < deadline:
            time.sleep(0.02)
    assert closed == [True]


def test_given_head_levent_sends_the_headers_of_get_without_the_body() -> None:
    """Deliberate difference: libevent omits Content-Length/Type for HEAD but still sends
    the body bytes (reference §3.9 item 115); levent follows RFC 9110 §9.3.2."""
    with ServerThread(routes) as srv:
        out = exchange(srv.port, b"HEAD /test HTTP/1.1\r\n\r\nGET /test HTTP/1.1\r\n\r\n", wait=0.3)
    first, rest = out.split(b"\r\n\r\n", 1)
    assert b"Content-Length: 5" in first
    assert rest.startswith(b"HTTP/1.1 200 OK")
    assert rest.endswith(b"hello")


def test_given_head_with_an_announced_body_the_handler_runs_and_the_connection_ends() -> None:
    """T: http/request_extra_body."""
    with ServerThread(routes) as srv:
        out = exchange(
            srv.port, b"HEAD /test HTTP/1.1\r\nContent-Length: 10000\r\n\r\n" + b"z" * 10000
        )
    assert out.startswith(b"HTTP/1.1 200 OK")
    assert out.endswith(b"<EOF>")


def test_given_an_on_complete_callback_it_runs_after_the_reply_is_written() -> None:
    done: list[int] = []

    def handler(req: HttpRequest, arg: Any) -> None:
        req.set_on_complete_cb(lambda r, a: done.append(r.response_code))
        req.send_reply(200, "OK", b"x" * 100000)

    with ServerThread(lambda http, base: http.set_cb("/c", handler)) as srv:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
        conn.request("GET", "/c")
        assert len(conn.getresponse().read()) == 100000
        conn.close()
        deadline = time.monotonic() + 5
        while not done and time.monotonic() < deadline:
            time.sleep(0.01)
    assert done == [200]


def test_given_a_post_with_http_client_the_body_round_trips() -> None:
    with ServerThread(routes) as srv:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
        payload = bytes(range(256)) * 1000
        conn.request("POST", "/echo", body=payload)
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.read() == payload
        conn.close()


def test_given_a_write_timeout_and_a_slow_body_the_request_still_succeeds() -> None:
    """T: http/timeout_read_server."""

    def setup(http: HttpServer, base: EventBase) -> None:
        routes(http, base)
        http.set_write_timeout(0.1)
        http.set_read_timeout(0.5)

    with ServerThread(setup) as srv, socket.create_connection(("127.0.0.1", srv.port)) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\n")
        time.sleep(0.2)
        s.sendall(b"abc")
        assert read_response(s)[2] == b"abc"


# -- virtual hosts (T: http/virtual_host) ------------------------------------------------------


def test_given_vhosts_and_aliases_requests_are_routed_by_host() -> None:
    def reply_with(text: bytes) -> Any:
        return lambda req, arg: req.send_reply(200, "OK", text)

    def setup(http: HttpServer, base: EventBase) -> None:
        http.set_cb("/funnybunny", reply_with(b"main"))
        foo = HttpServer(base)
        foo.set_cb("/funnybunny", reply_with(b"foo"))
        bar = HttpServer(base)
        bar.set_cb("/funnybunny", reply_with(b"bar"))
        http.add_virtual_host("foo.com", foo)
        http.add_virtual_host("bar.*.foo.com", bar)
        foo.add_server_alias("manolito.info")
        bar.add_server_alias("bonkers.org")

    def get(port: int, host: str, target: str = "/funnybunny") -> bytes:
        out = exchange(
            port, f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
        )
        return out.split(b"\r\n\r\n", 1)[1].removesuffix(b"<EOF>")

    with ServerThread(setup) as srv:
        assert get(srv.port, "foo.com") == b"foo"
        assert get(srv.port, "FOO.com:8080") == b"foo"
        assert get(srv.port, "bar.magic.foo.com") == b"bar"
        assert get(srv.port, "manolito.info") == b"foo"
        assert get(srv.port, "bonkers.org") == b"bar"
        assert get(srv.port, "unknown.example") == b"main"
        assert get(srv.port, "foo.com", "http://bonkers.org/funnybunny") == b"bar"


def test_given_a_vhost_with_sockets_add_virtual_host_refuses_it() -> None:
    base = EventBase()
    http = HttpServer(base)
    other = HttpServer(base)
    other.bind_socket("127.0.0.1", 0)
    with pytest.raises(ValueError):
        http.add_virtual_host("x.com", other)
    other.free()
    http.free()
    base.free()


# -- misuse ------------------------------------------------------------------------------------


def test_given_a_reply_twice_levent_raises() -> None:
    errors: list[str] = []

    def twice(req: HttpRequest, arg: Any) -> None:
        req.send_reply(200, "OK", b"1")
        try:
            req.send_reply(200, "OK", b"2")
        except Exception as exc:
            errors.append(type(exc).__name__)

    with ServerThread(lambda http, base: http.set_cb("/t", twice)) as srv:
        out = exchange(srv.port, b"GET /t HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert out.endswith(b"\r\n\r\n1<EOF>")
    assert errors == ["HttpError"]


def test_given_a_bad_body_type_send_reply_raises_type_error() -> None:
    errors: list[str] = []

    def bad(req: HttpRequest, arg: Any) -> None:
        try:
            req.send_reply(200, "OK", 12345)
        except TypeError:
            errors.append("TypeError")
            req.send_reply(200, "OK", "text body")

    with ServerThread(lambda http, base: http.set_cb("/b", bad)) as srv:
        out = exchange(srv.port, b"GET /b HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert errors == ["TypeError"]
    assert out.endswith(b"text body<EOF>")


def test_allowed_methods_default_mask() -> None:
    base = EventBase()
    http = HttpServer(base)
    assert http.allowed_methods & EVHTTP_REQ_GET
    assert http.allowed_methods & EVHTTP_REQ_POST
    assert not http.allowed_methods & EVHTTP_REQ_PATCH
    http.free()
    base.free()


def test_given_a_unix_address_bind_socket_listens_on_that_path(tmp_path: Any) -> None:
    """``bind_socket("unix:/path", 0)``: evhttp over a Unix-domain socket."""
    import threading

    path = str(tmp_path / "http.sock")
    base = EventBase()
    http = HttpServer(base)
    http.set_cb("/test", hello)
    bound = http.bind_socket_with_handle(f"unix:{path}", 0)
    assert bound.getsockname() == path
    with pytest.raises(OSError):  # the path is taken: bind() says so
        http.bind_socket(f"unix:{path}", 0)
    with pytest.raises(ValueError, match="needs a path"):
        http.bind_socket("unix:", 0)
    replies: list[bytes] = []

    def client() -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(path)
            s.sendall(b"GET /test HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
            replies.append(data)
        base.loopbreak()

    thread = threading.Thread(target=client)
    thread.start()
    base.dispatch()
    thread.join()
    assert replies[0].startswith(b"HTTP/1.1 200 OK\r\n") and replies[0].endswith(b"hello")
    http.free()
    base.free()
