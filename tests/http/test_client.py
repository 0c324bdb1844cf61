"""HttpConnection (evhttp's client side) against real servers on 127.0.0.1.

The servers are the stdlib's ``ThreadingHTTPServer`` (well-formed HTTP) and a
raw socket thread sending exactly the bytes a test wants (malformed or odd
responses, and capturing what the client sent). Phrased as libevent's regress
tests: "given X, levent does Y"; numbers refer to libevent-reference.md §3.10.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from loop_helpers import run_until, spin
from tls_helpers import HOSTNAME, client_context, server_context, untrusting_client_context

from levent import EventBase
from levent.bufferevent.constants import BEV_OPT_CLOSE_ON_FREE
from levent.bufferevent.core import BufferEvent
from levent.bufferevent.ssl import BUFFEREVENT_SSL_CONNECTING
from levent.http.client import HttpConnection
from levent.http.constants import (
    EVHTTP_CON_READ_ON_WRITE_ERROR,
    EVHTTP_CON_REUSE_CONNECTED_ADDR,
    EVHTTP_REQ_GET,
    EVHTTP_REQ_HEAD,
    EVHTTP_REQ_POST,
    EVREQ_HTTP_DATA_TOO_LONG,
    EVREQ_HTTP_EOF,
    EVREQ_HTTP_INVALID_HEADER,
    EVREQ_HTTP_REQUEST_CANCEL,
    EVREQ_HTTP_TIMEOUT,
)
from levent.http.request import HttpError, HttpRequest

# -- servers ----------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, code: int, body: bytes, *headers: tuple[str, str]) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        server: Server = self.server  # type: ignore[assignment]
        server.seen.append((self.command, self.path, dict(self.headers.items())))
        path = self.path
        if path == "/hello":
            self._send(200, b"hello world", ("X-Test", "yes"))
        elif path == "/close":
            self._send(200, b"bye", ("Connection", "close"))
            self.close_connection = True
        elif path == "/idle-close":
            # A keep-alive response, then the server closes the idle connection.
            self._send(200, b"once")
            self.wfile.flush()
            self.close_connection = True
        elif path.startswith("/delay/"):
            time.sleep(int(path.rsplit("/", 1)[1]) / 1000)
            self._send(200, b"late")
        elif path == "/big":
            self._send(200, b"x" * 10000)
        elif path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in (b"abc", b"defg", b"hij"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
                time.sleep(0.05)
            self.wfile.write(b"0\r\nX-Trailer: t\r\n\r\n")
        elif path == "/http10":
            # A close-delimited body: HTTP/1.0, no Content-Length.
            self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close")
            self.close_connection = True
        else:
            self._send(404, b"nope")

    def do_POST(self) -> None:
        server: Server = self.server  # type: ignore[assignment]
        server.seen.append((self.command, self.path, dict(self.headers.items())))
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        self._send(201, b"got:" + body, ("X-Method", "POST"))


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int = 0, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.tls = tls
        self.connections = 0
        self.seen: list[tuple[str, str, dict[str, str]]] = []

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = self.socket.accept()
        self.connections += 1
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away (or failed TLS) is not the test's business

    @property
    def port(self) -> int:
        return int(self.server_address[1])


def start(server: Server) -> Server:
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return server


@pytest.fixture
def server() -> Iterator[Server]:
    srv = start(Server())
    yield srv
    srv.shutdown()
    srv.server_close()


class RawServer:
    """Accepts connections; for each request read, sends the next scripted reply.

    A reply is bytes (then the connection stays open) or (bytes, "close").
    ``received`` is everything the client sent, per connection.
    """

    def __init__(self, replies: list[Any], family: int = socket.AF_INET, path: str = "") -> None:
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        if family == socket.AF_UNIX:
            self.sock.bind(path)
        else:
            self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.05)
        self.stopped = False
        self.replies = list(replies)
        self.received: list[bytes] = []
        self.early: list[bool] = []  # per request: did more bytes come before we answered?
        self.hold = 0.0  # wait this long after a request before answering
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def _run(self) -> None:
        while self.replies and not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                self._serve(conn)

    def _serve(self, conn: socket.socket) -> bool:
        conn.settimeout(5)
        data = b""
        self.received.append(b"")
        while self.replies:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return True
                data += chunk
                self.received[-1] += chunk
            _head, _, data = data.partition(b"\r\n\r\n")
            if self.hold:
                time.sleep(self.hold)
                conn.setblocking(False)
                try:
                    extra = conn.recv(65536)
                except BlockingIOError:
                    extra = b""
                conn.setblocking(True)
                conn.settimeout(5)
                self.early.append(bool(extra or data))
                data += extra
                self.received[-1] += extra
            reply = self.replies.pop(0)
            if isinstance(reply, tuple):
                conn.sendall(reply[0])
                if reply[1] == "linger":
                    # Keep reading a moment (so a next request lands here), then close
                    # without answering it: the close races the client's request.
                    conn.settimeout(0.2)
                    try:
                        while chunk := conn.recv(65536):
                            self.received[-1] += chunk
                    except TimeoutError:
                        pass
                return True
            conn.sendall(reply)
        return True

    def close(self) -> None:
        self.stopped = True
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def raw() -> Iterator[Callable[..., RawServer]]:
    made: list[RawServer] = []

    def make(replies: list[Any], **kw: Any) -> RawServer:
        srv = RawServer(replies, **kw)
        made.append(srv)
        return srv

    yield make
    for srv in made:
        srv.close()


# -- the client side of a test ------------------------------------------------------------


class Result:
    """What one request's callbacks saw."""

    def __init__(self) -> None:
        self.done = False
        self.req: HttpRequest | None = None
        self.errors: list[int] = []
        self.events: list[str] = []
        self.body = b""
        self.code = 0
        self.headers: dict[str, str] = {}


def request(
    conn: HttpConnection,
    method: int | str,
    uri: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    setup: Callable[[HttpRequest, Result], None] | None = None,
) -> tuple[HttpRequest, Result]:
    res = Result()

    def done(req: HttpRequest | None, arg: Result) -> None:
        arg.done = True
        arg.req = req
        arg.events.append("cb")
        if req is not None:
            arg.code = req.response_code
            arg.body += bytes(req.input_buffer)
            arg.headers = dict(req.input_headers.items())

    def error(code: int, arg: Result) -> None:
        arg.errors.append(code)
        arg.events.append("error")

    req = HttpRequest(done, res)
    req.set_error_cb(error)
    for key, value in (headers or {}).items():
        req.output_headers.add(key, value)
    if body:
        req.output_buffer.add(body)
    if setup is not None:
        setup(req, res)
    conn.make_request(req, method, uri)
    return req, res


def fetch(base: EventBase, conn: HttpConnection, method: int | str, uri: str, **kw: Any) -> Result:
    _, res = request(conn, method, uri, **kw)
    run_until(base, lambda: res.done)
    return res


def connect(base: EventBase, port: int) -> HttpConnection:
    return HttpConnection(base, None, "127.0.0.1", port)


HOST = {"Host": "127.0.0.1"}

# -- requests and responses ----------------------------------------------------------------


def test_given_a_get_levent_reads_status_headers_and_body(base: EventBase, server: Server) -> None:
    conn = connect(base, server.port)
    res = fetch(base, conn, EVHTTP_REQ_GET, "/hello", headers=HOST)
    assert res.errors == []
    assert res.code == 200 and res.body == b"hello world"
    assert res.headers["X-Test"] == "yes"
    conn.free()


def test_given_a_get_the_request_fields_come_from_the_response(
    base: EventBase, server: Server
) -> None:
    seen: dict[str, Any] = {}

    def done(req: HttpRequest | None, arg: Any) -> None:
        assert req is not None
        seen.update(
            code=req.response_code,
            line=req.response_code_line,
            version=(req.major, req.minor),
            connection=req.connection,
        )

    conn = connect(base, server.port)
    req = HttpRequest(done)
    conn.make_request(req, EVHTTP_REQ_GET, "/hello")
    run_until(base, lambda: bool(seen))
    assert seen == {"code": 200, "line": "OK", "version": (1, 1), "connection": None}
    # No Host header was added (libevent quirk; the http-get sample sets it).
    assert "Host" not in server.seen[0][2]
    conn.free()


def test_given_a_post_with_a_body_levent_sends_it_with_content_length(
    base: EventBase, server: Server
) -> None:
    conn = connect(base, server.port)
    res = fetch(base, conn, EVHTTP_REQ_POST, "/echo", headers=HOST, body=b"payload")
    assert res.code == 201 and res.body == b"got:payload"
    assert server.seen[0][2]["Content-Length"] == "7"
    conn.free()


def test_item_117b_exact_bytes_of_a_bare_post(base: EventBase, raw: Any) -> None:
    srv = raw([b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"] * 2)
    conn = connect(base, srv.port)
    fetch(base, conn, EVHTTP_REQ_POST, "/x?y=1")
    assert srv.received[0] == b"POST /x?y=1 HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
    # A GET without a body has no Content-Length; with one it has.
    fetch(base, conn, EVHTTP_REQ_GET, "/g")
    assert srv.received[0].endswith(b"GET /g HTTP/1.1\r\n\r\n")
    conn.free()


def test_given_a_get_with_a_body_levent_adds_content_length(base: EventBase, raw: Any) -> None:
    srv = raw([b"HTTP/1.1 204 No Content\r\n\r\n"])
    conn = connect(base, srv.port)
    res = fetch(base, conn, "GET", "/b", body=b"abc")
    assert res.code == 204 and res.body == b""
    assert srv.received[0] == b"GET /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
    conn.free()


def test_given_a_chunked_response_chunk_cb_gets_each_piece(base: EventBase, server: Server) -> None:
    pieces: list[bytes] = []

    def chunk(req: HttpRequest | None, arg: Any) -> None:
        assert req is not None
        pieces.append(bytes(req.input_buffer))

    def setup(req: HttpRequest, res: Result) -> None:
        req.set_chunked_cb(chunk)

    conn = connect(base, server.port)
    _, res = request(conn, EVHTTP_REQ_GET, "/chunked", setup=setup)
    run_until(base, lambda: res.done)
    assert res.code == 200
    assert b"".join(pieces) == b"abcdefghij"
    assert len(pieces) >= 2 and all(pieces)
    assert res.body == b""  # drained after each chunk_cb
    assert res.headers["X-Trailer"] == "t"  # trailer fields join the input headers
    conn.free()


def test_given_a_chunked_response_without_chunk_cb_the_body_is_whole(
    base: EventBase, server: Server
) -> None:
    conn = connect(base, server.port)
    res = fetch(base, conn, EVHTTP_REQ_GET, "/chunked")
    assert res.body == b"abcdefghij"
    conn.free()


def test_given_an_http10_response_without_length_the_body_ends_at_close(
    base: EventBase, server: Server
) -> None:
    conn = connect(base, server.port)
    res = fetch(base, conn, EVHTTP_REQ_GET, "/http10")
    assert res.code == 200 and res.body == b"until close"
    assert res.req is not None and (res.req.major, res.req.minor) == (1, 0)
    conn.free()


def test_deliberate_difference_connection_keepalive_without_length_reads_until_close(
    base: EventBase, raw: Any
) -> None:
    """libevent reads an *empty* body here (code quirk); levent follows RFC 9112 §6.3."""
    srv = raw([(b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\nall of it", "close")])
    conn = connect(base, srv.port)
    res = fetch(base, conn, EVHTTP_REQ_GET, "/")
    assert res.errors == [] and res.body == b"all of it"
    conn.free()


def test_given_a_head_request_the_response_has_no_body(base: EventBase, server: Server) -> None:
    conn = connect(base, server.port)
    res = fetch(base, conn, EVHTTP_REQ_HEAD, "/hello")
    assert res.code == 200 and res.body == b"" and res.headers["Content-Length"] == "11"
    res = fetch(base, conn, EVHTTP_REQ_GET, "/hello")
    assert res.body == b"hello world"
    assert server.connections == 1  # the connection stayed usable after HEAD
    conn.free()


def test_given_100_continue_first_the_interim_response_is_skipped(
    base: EventBase, raw: Any
) -> None:
    srv = raw(
        [
            b"HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        ]
    )
    conn = connect(base, srv.port)
    res = fetch(base, conn, EVHTTP_REQ_POST, "/", body=b"data")
    assert res.code == 200 and res.body == b"ok" and "X-Interim" not in res.headers
    conn.free()


# -- one request at a time, keep-alive, reconnects (items 118, 119) --------------------------


def test_item_118_three_requests_share_one_connection_in_order(
    base: EventBase, server: Server
) -> None:
    conn = connect(base, server.port)
    order: list[str] = []
    results = []
    for path in ("/hello", "/big", "/hello"):
        _, res = request(conn, EVHTTP_REQ_GET, path)
        results.append(res)
        res.events.append(path)
    run_until(base, lambda: all(r.done for r in results))
    order = [r.events[0] for r in results]
    assert order == ["/hello", "/big", "/hello"]
    assert [len(r.body) for r in results] == [11, 10000, 11]
    assert server.connections == 1
    conn.free()


def test_item_118_requests_are_not_pipelined(base: EventBase, raw: Any) -> None:
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1"
    srv = raw([ok, ok])
    srv.hold = 0.1
    conn = connect(base, srv.port)
    _, a = request(conn, EVHTTP_REQ_GET, "/a")
    _, b = request(conn, EVHTTP_REQ_GET, "/b")
    run_until(base, lambda: a.done and b.done)
    assert srv.early == [False, False]  # the second request came only after the first reply
    assert a.body == b.body == b"1"
    conn.free()


def test_item_118_connection_close_makes_the_next_request_reconnect(
    base: EventBase, server: Server
) -> None:
    closes: list[HttpConnection] = []
    conn = connect(base, server.port)
    conn.set_closecb(lambda c, arg: closes.append(c))
    _, first = request(conn, EVHTTP_REQ_GET, "/close")
    _, second = request(conn, EVHTTP_REQ_GET, "/hello")
    run_until(base, lambda: first.done and second.done)
    assert first.body == b"bye" and second.body == b"hello world"
    assert server.connections == 2
    assert closes and closes[0] is conn
    conn.free()


def test_given_connection_close_in_the_request_the_next_one_reconnects(
    base: EventBase, server: Server
) -> None:
    conn = connect(base, server.port)
    fetch(base, conn, EVHTTP_REQ_GET, "/hello", headers={"Connection": "close"})
    fetch(base, conn, EVHTTP_REQ_GET, "/hello")
    assert server.connections == 2
    conn.free()


def test_item_119_server_closing_an_idle_connection_is_detected(
    base: EventBase, server: Server
) -> None:
    conn = connect(base, server.port)
    assert fetch(base, conn, EVHTTP_REQ_GET, "/idle-close").body == b"once"
    run_until(base, lambda: conn.state == "DISCONNECTED")  # close detection
    res = fetch(base, conn, EVHTTP_REQ_GET, "/hello")
    assert res.errors == [] and res.body == b"hello world"
    assert server.connections == 2
    conn.free()


def test_item_119_a_request_racing_the_servers_close_is_sent_again(
    base: EventBase, raw: Any
) -> None:
    """The next request goes out before the close is seen: resent once (idempotent)."""
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    srv = raw([(ok, "linger"), ok])
    conn = connect(base, srv.port)
    results: list[Result] = []

    def setup(req: HttpRequest, res: Result) -> None:
        def chain(r: HttpRequest | None, arg: Result) -> None:
            arg.done = True
            _, nxt = request(conn, EVHTTP_REQ_GET, "/second")
            results.append(nxt)

        req.cb = chain

    request(conn, EVHTTP_REQ_GET, "/first", setup=setup)
    run_until(base, lambda: bool(results) and results[0].done)
    assert results[0].errors == [] and results[0].body == b"ok"
    # /second reached the first connection, got no answer, and was sent again.
    assert srv.received == [
        b"GET /first HTTP/1.1\r\n\r\nGET /second HTTP/1.1\r\n\r\n",
        b"GET /second HTTP/1.1\r\n\r\n",
    ]
    conn.free()


# -- failures (item 117) ---------------------------------------------------------------------


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def test_given_connection_refused_error_cb_runs_then_cb_with_none(base: EventBase) -> None:
    conn = connect(base, free_port())
    _, a = request(conn, EVHTTP_REQ_GET, "/")
    _, b = request(conn, EVHTTP_REQ_GET, "/")
    run_until(base, lambda: a.done and b.done)
    for res in (a, b):  # every queued request fails
        assert res.events == ["error", "cb"] and res.errors == [EVREQ_HTTP_EOF]
        assert res.req is None
    conn.free()


def test_item_117_negative_content_length_fails_the_request(base: EventBase, raw: Any) -> None:
    srv = raw([b"HTTP/1.1 200 OK\r\nContent-Length: -100\r\n\r\n"])
    conn = connect(base, srv.port)
    res = fetch(base, conn, EVHTTP_REQ_GET, "/")
    assert res.events == ["error", "cb"] and res.req is None
    assert res.errors == [EVREQ_HTTP_INVALID_HEADER]
    conn.free()


def test_given_a_reset_mid_response_the_request_fails_with_eof(base: EventBase, raw: Any) -> None:
    srv = raw([(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part", "close")])
    conn = connect(base, srv.port)
    res = fetch(base, conn, EVHTTP_REQ_GET, "/")
    assert res.errors == [EVREQ_HTTP_EOF] and res.req is None
    conn.free()


def test_given_a_slow_server_the_read_timeout_fails_the_request(
    base: EventBase, server: Server
) -> None:
    conn = connect(base, server.port)
    conn.set_read_timeout(0.2)
    res = fetch(base, conn, EVHTTP_REQ_GET, "/delay/1000")
    assert res.errors == [EVREQ_HTTP_TIMEOUT] and res.req is None
    conn.free()


def test_item_120_only_the_read_timeout_governs_the_wait_for_the_response(
    base: EventBase, server: Server
) -> None:
    conn = connect(base, server.port)
    conn.set_connect_timeout(0.1)
    conn.set_write_timeout(0.1)
    conn.set_read_timeout(0.5)
    res = fetch(base, conn, EVHTTP_REQ_GET, "/delay/200")
    assert res.errors == [] and res.body == b"late"
    conn.free()


def test_given_max_body_size_a_longer_body_is_data_too_long(
    base: EventBase, server: Server
) -> None:
    conn = connect(base, server.port)
    conn.set_max_body_size(100)
    res = fetch(base, conn, EVHTTP_REQ_GET, "/big")  # Content-Length over the limit
    assert res.errors == [EVREQ_HTTP_DATA_TOO_LONG] and res.req is None
    conn.set_max_body_size(5)
    res = fetch(base, conn, EVHTTP_REQ_GET, "/chunked")  # chunked: counted as it comes
    assert res.errors == [EVREQ_HTTP_DATA_TOO_LONG]
    conn.set_max_body_size(-1)
    assert fetch(base, conn, EVHTTP_REQ_GET, "/big").errors == []
    conn.free()


def test_given_max_headers_size_a_longer_header_section_is_data_too_long(
    base: EventBase, raw: Any
) -> None:
    big = b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 5000 + b"\r\nContent-Length: 0\r\n\r\n"
    srv = raw([big, (b"HTTP/1.1 200 OK\r\nX-Endless: " + b"b" * 5000, "close")])
    conn = connect(base, srv.port)
    conn.set_max_headers_size(1000)
    assert fetch(base, conn, EVHTTP_REQ_GET, "/").errors == [EVREQ_HTTP_DATA_TOO_LONG]
    # A line that never ends is caught as well.
    assert fetch(base, conn, EVHTTP_REQ_GET, "/").errors == [EVREQ_HTTP_DATA_TOO_LONG]
    conn.free()


def test_given_a_malformed_status_line_the_request_fails(base: EventBase, raw: Any) -> None:
    srv = raw([(b"HTTP/1.1 abc OK\r\n\r\n", "close")])
    conn = connect(base, srv.port)
    res = fetch(base, conn, EVHTTP_REQ_GET, "/")
    assert res.errors == [EVREQ_HTTP_INVALID_HEADER] and res.req is None
    conn.free()


def test_given_header_cb_returning_negative_the_request_is_aborted(
    base: EventBase, server: Server
) -> None:
    seen: list[int] = []

    def header_cb(req: HttpRequest, arg: Any) -> int:
        seen.append(req.response_code)
        return -1

    def setup(req: HttpRequest, res: Result) -> None:
        req.set_header_cb(header_cb)

    conn = connect(base, server.port)
    _, res = request(conn, EVHTTP_REQ_GET, "/big", setup=setup)
    run_until(base, lambda: res.done)
    assert seen == [200]
    assert res.events == ["error", "cb"] and res.errors == [EVREQ_HTTP_EOF]
    assert fetch(base, conn, EVHTTP_REQ_GET, "/hello").body == b"hello world"
    conn.free()


def test_given_a_header_cb_returning_none_the_request_goes_on(
    base: EventBase, server: Server
) -> None:
    def setup(req: HttpRequest, res: Result) -> None:
        req.set_header_cb(lambda r, a: None)

    conn = connect(base, server.port)
    _, res = request(conn, EVHTTP_REQ_GET, "/hello", setup=setup)
    run_until(base, lambda: res.done)
    assert res.body == b"hello world"
    conn.free()


# -- cancelling ----------------------------------------------------------------------------------


def test_given_a_queued_request_cancelled_its_callbacks_never_run(
    base: EventBase, server: Server
) -> None:
    conn = connect(base, server.port)
    _, a = request(conn, EVHTTP_REQ_GET, "/hello")
    b_req, b = request(conn, EVHTTP_REQ_GET, "/big")
    _, c = request(conn, EVHTTP_REQ_GET, "/hello")
    b_req.cancel()
    run_until(base, lambda: a.done and c.done)
    spin(base)
    assert b.events == [] and a.body == c.body == b"hello world"
    assert [p for _, p, _ in server.seen] == ["/hello", "/hello"]
    with pytest.raises(HttpError):
        b_req.cancel()  # not queued any more
    conn.free()


def test_given_cancel_from_chunk_cb_the_connection_resets_and_goes_on(
    base: EventBase, server: Server
) -> None:
    def chunk(req: HttpRequest | None, arg: Any) -> None:
        assert req is not None
        req.cancel()

    def setup(req: HttpRequest, res: Result) -> None:
        req.set_chunked_cb(chunk)

    conn = connect(base, server.port)
    _, a = request(conn, EVHTTP_REQ_GET, "/chunked", setup=setup)
    _, b = request(conn, EVHTTP_REQ_GET, "/hello")
    run_until(base, lambda: b.done)
    assert a.events == ["error"] and a.errors == [EVREQ_HTTP_REQUEST_CANCEL]  # no cb
    assert b.body == b"hello world" and server.connections == 2
    conn.free()


# -- retries ------------------------------------------------------------------------------------


def test_given_retries_a_server_that_listens_late_is_reached(base: EventBase) -> None:
    port = free_port()
    late: list[Server] = []
    timer = threading.Timer(0.15, lambda: late.append(start(Server(port))))
    conn = connect(base, port)
    conn.set_retries(6)
    conn.set_initial_retry_tv(0.05)
    timer.start()
    try:
        res = fetch(base, conn, EVHTTP_REQ_GET, "/hello")
        assert res.errors == [] and res.body == b"hello world"
    finally:
        timer.join()
        conn.free()
        for srv in late:
            srv.shutdown()
            srv.server_close()


def test_given_retries_exhausted_the_request_fails_after_the_delays(base: EventBase) -> None:
    conn = connect(base, free_port())
    conn.set_retries(2)
    conn.set_initial_retry_tv(0.05)
    began = time.monotonic()
    res = fetch(base, conn, EVHTTP_REQ_GET, "/")
    assert res.events == ["error", "cb"]
    assert time.monotonic() - began >= 0.14  # 0.05 + 0.1: the delay doubles
    conn.free()


# -- lifetime (item 121) -----------------------------------------------------------------------


def test_item_121_an_owned_request_survives_its_callback(base: EventBase, server: Server) -> None:
    kept: list[HttpRequest] = []

    def done(req: HttpRequest | None, arg: Any) -> None:
        assert req is not None
        req.own()
        kept.append(req)

    conn = connect(base, server.port)
    conn.make_request(HttpRequest(done), EVHTTP_REQ_GET, "/hello")
    run_until(base, lambda: bool(kept))
    spin(base)
    req = kept[0]
    assert req.is_owned() and bytes(req.input_buffer) == b"hello world"
    req.free()
    conn.free()


def test_an_unowned_request_is_freed_after_its_callback(base: EventBase, server: Server) -> None:
    conn = connect(base, server.port)
    res = fetch(base, conn, EVHTTP_REQ_GET, "/hello")
    assert res.req is not None and res.req._freed
    conn.free()


def test_free_on_completion_frees_the_connection_after_the_last_request(
    base: EventBase, server: Server
) -> None:
    closes: list[int] = []
    conn = connect(base, server.port)
    conn.set_closecb(lambda c, arg: closes.append(1))
    _, a = request(conn, EVHTTP_REQ_GET, "/hello")
    _, b = request(conn, EVHTTP_REQ_GET, "/hello")
    conn.free_on_completion()
    run_until(base, lambda: a.done and b.done)
    assert "freed" in repr(conn) and closes == [1]
    with pytest.raises(HttpError):
        request(conn, EVHTTP_REQ_GET, "/")


def test_free_with_queued_requests_runs_no_callbacks(base: EventBase, server: Server) -> None:
    conn = connect(base, server.port)
    _, a = request(conn, EVHTTP_REQ_GET, "/delay/100")
    spin(base)
    conn.free()
    spin(base, 20)
    assert a.events == []


def test_an_exception_in_a_callback_reaches_the_error_handler(
    base: EventBase, server: Server
) -> None:
    caught: list[BaseException] = []
    base.set_error_handler(lambda b, source, exc: caught.append(exc))

    def boom(req: HttpRequest | None, arg: Any) -> None:
        raise RuntimeError("boom")

    conn = connect(base, server.port)
    conn.make_request(HttpRequest(boom), EVHTTP_REQ_GET, "/hello")
    run_until(base, lambda: bool(caught))
    assert isinstance(caught[0], RuntimeError)
    assert fetch(base, conn, EVHTTP_REQ_GET, "/hello").body == b"hello world"
    conn.free()


# -- flags, addresses, arguments -------------------------------------------------------------------


def test_reuse_connected_addr_skips_the_second_lookup(
    base: EventBase, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups: list[str] = []
    real = socket.getaddrinfo

    def counting(host: Any, *args: Any, **kw: Any) -> Any:
        lookups.append(host)
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", counting)
    for flag, expected in ((0, 2), (EVHTTP_CON_REUSE_CONNECTED_ADDR, 1)):
        lookups.clear()
        conn = HttpConnection(base, None, "localhost", server.port)
        conn.set_family(socket.AF_INET)
        if flag:
            conn.set_flags(flag)
        fetch(base, conn, EVHTTP_REQ_GET, "/close")
        res = fetch(base, conn, EVHTTP_REQ_GET, "/hello")
        assert res.body == b"hello world"
        assert len(lookups) == expected
        conn.free()


def test_read_on_write_error_reads_the_servers_early_answer(base: EventBase) -> None:
    """The server answers 413 and stops reading while the body still goes out."""

    def serve(lsock: socket.socket) -> None:
        conn, _ = lsock.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 413 Content Too Large\r\nConnection: close\r\n"
                b"Content-Length: 3\r\n\r\nbig"
            )
            conn.shutdown(socket.SHUT_WR)
            time.sleep(0.3)

    body = b"z" * (32 * 1024 * 1024)
    for flags, expect_code in ((EVHTTP_CON_READ_ON_WRITE_ERROR, 413), (0, 0)):
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)
        t = threading.Thread(target=serve, args=(lsock,), daemon=True)
        t.start()
        conn = connect(base, lsock.getsockname()[1])
        if flags:
            conn.set_flags(flags)
        res = fetch(base, conn, EVHTTP_REQ_POST, "/upload", body=body)
        assert res.code == expect_code
        if expect_code:
            assert res.body == b"big"
        else:
            assert res.errors == [EVREQ_HTTP_EOF]
        conn.free()
        t.join(5)
        lsock.close()


def test_set_local_port_binds_before_connecting(base: EventBase, server: Server) -> None:
    port = free_port()
    conn = connect(base, server.port)
    conn.set_local_address("127.0.0.1")
    conn.set_local_port(port)
    fetch(base, conn, EVHTTP_REQ_GET, "/hello")
    sock = conn.bufferevent.socket  # type: ignore[attr-defined]
    assert sock.getsockname() == ("127.0.0.1", port)
    assert conn.get_peer() == ("127.0.0.1", server.port)
    assert conn.get_addr() == ("127.0.0.1", server.port)
    conn.free()


def test_unix_socket_connection(base: EventBase, raw: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "http.sock")
        raw([b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nunix"], family=socket.AF_UNIX, path=path)
        conn = HttpConnection.unix(base, None, path)
        res = fetch(base, conn, EVHTTP_REQ_GET, "/")
        assert res.body == b"unix" and conn.get_peer() == (path, 0)
        conn.free()


def test_bad_arguments_raise(base: EventBase, server: Server) -> None:
    conn = connect(base, server.port)
    with pytest.raises(ValueError):
        conn.set_flags(0x4000)
    with pytest.raises(ValueError):
        conn.make_request(HttpRequest(), EVHTTP_REQ_GET | EVHTTP_REQ_POST, "/")
    with pytest.raises(ValueError):
        conn.make_request(HttpRequest(), EVHTTP_REQ_GET, "/a b")
    with pytest.raises(ValueError):
        conn.set_read_timeout(-2)
    with pytest.raises(ValueError):
        HttpConnection(base, None, "127.0.0.1", 0)
    req, res = request(conn, EVHTTP_REQ_GET, "/hello")
    with pytest.raises(HttpError):
        conn.make_request(req, EVHTTP_REQ_GET, "/")  # already made
    with pytest.raises(HttpError):
        req.send_reply(200)  # a client request is not replied to
    run_until(base, lambda: res.done)
    conn.set_timeout(-1)
    conn.set_timeout(None)
    conn.free()
    with pytest.raises(HttpError):
        conn.make_request(HttpRequest(), EVHTTP_REQ_GET, "/")


# -- HTTPS ---------------------------------------------------------------------------------------


@pytest.fixture
def tls_server() -> Iterator[Server]:
    srv = start(Server(tls=server_context()))
    yield srv
    srv.shutdown()
    srv.server_close()


def tls_connection(base: EventBase, port: int, ctx: ssl.SSLContext) -> HttpConnection:
    bev = BufferEvent.ssl_socket(
        base, None, ctx, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE, HOSTNAME
    )
    return HttpConnection(base, None, "127.0.0.1", port, bev=bev)


def test_https_get_with_verification_and_a_tls_reconnect(
    base: EventBase, tls_server: Server
) -> None:
    conn = tls_connection(base, tls_server.port, client_context())
    first = conn.bufferevent
    assert fetch(base, conn, EVHTTP_REQ_GET, "/close").body == b"bye"
    res = fetch(base, conn, EVHTTP_REQ_GET, "/hello")
    assert res.errors == [] and res.body == b"hello world"
    assert tls_server.connections == 2 and conn.bufferevent is not first  # a fresh TLS session
    res = fetch(base, conn, EVHTTP_REQ_POST, "/echo", body=b"secret")
    assert res.body == b"got:secret"
    conn.free()


def test_https_with_an_unknown_certificate_fails_cleanly(
    base: EventBase, tls_server: Server
) -> None:
    conn = tls_connection(base, tls_server.port, untrusting_client_context())
    res = fetch(base, conn, EVHTTP_REQ_GET, "/hello")
    assert res.events == ["error", "cb"] and res.errors == [EVREQ_HTTP_EOF] and res.req is None
    conn.free()


def test_a_post_racing_the_servers_close_is_not_sent_again(base: EventBase, raw: Any) -> None:
    """Not idempotent: the failure is reported instead of risking a second submission."""
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    srv = raw([(ok, "linger"), ok])
    conn = connect(base, srv.port)
    fetch(base, conn, EVHTTP_REQ_GET, "/first")
    res = fetch(base, conn, EVHTTP_REQ_POST, "/second", body=b"once")
    assert res.errors == [EVREQ_HTTP_EOF] and res.req is None
    assert len(srv.received) == 1
    conn.free()
