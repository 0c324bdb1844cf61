"""HttpServer against real clients: curl, Python's http.client and urllib.request.

A levent HttpServer runs in a thread (``http_helpers.ServerThread``) on 127.0.0.1;
the clients are the real programs and libraries (DESIGN.md §5: no mocks). The
server side records what it saw (method, headers, which connection) so each test
can check both ends. Pipelining is not here: neither curl (since 7.62) nor
http.client pipelines, and test_server.py covers it with raw sockets.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from http_helpers import ServerThread

from levent import Event, EventBase
from levent.http import HttpRequest, HttpServer

CURL = shutil.which("curl") or ("/usr/bin/curl" if os.path.exists("/usr/bin/curl") else None)
needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed (/usr/bin/curl)")

STREAM_PIECES = [b"This is funny", b"but not hilarious.", b"bwv 1052", b"x" * 5000]


class Recorder:
    """What the server saw, request by request (written on the loop thread only)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.connections: list[int] = []

    def note(self, req: HttpRequest) -> None:
        conn = req.connection
        if id(conn) not in self.connections:
            self.connections.append(id(conn))
        self.requests.append(
            {
                "method": req.method,
                "uri": req.uri,
                "minor": req.minor,
                "headers": {k.lower(): v for k, v in req.input_headers},
                "conn": self.connections.index(id(conn)),
            }
        )


def make_setup(rec: Recorder) -> Any:
    def hello(req: HttpRequest, arg: Any) -> None:
        rec.note(req)
        req.output_headers.add("Content-Type", "text/plain")
        req.send_reply(200, "OK", b"hello, " + req.uri.encode())

    def echo(req: HttpRequest, arg: Any) -> None:
        rec.note(req)
        body = req.input_buffer.remove(len(req.input_buffer))
        req.output_headers.add("X-Body-Sha256", hashlib.sha256(body).hexdigest())
        req.send_reply(200, "OK", body)

    def missing(req: HttpRequest, arg: Any) -> None:
        rec.note(req)
        req.send_error(404)

    def stream(req: HttpRequest, arg: Any) -> None:
        rec.note(req)
        req.output_headers.add("Content-Type", "text/plain")
        req.send_reply_start(200, "OK")
        pieces = list(STREAM_PIECES)

        def next_piece(fd: int, what: int, a: Any) -> None:
            if req.connection is None:
                return  # the client left
            if pieces:
                req.send_reply_chunk(pieces.pop(0))
                timer.add(0.01)
            else:
                req.send_reply_end()

        timer = Event.timer(req.connection.base, next_piece)
        timer.add(0.01)
        req.userdata = timer

    def setup(http: HttpServer, base: EventBase) -> None:
        http.set_cb("/hello", hello)
        http.set_cb("/a", hello)
        http.set_cb("/b", hello)
        http.set_cb("/echo", echo)
        http.set_cb("/missing", missing)
        http.set_cb("/stream", stream)
        http.set_max_body_size(4 << 20)
        http.set_timeout(5)

    return setup


@pytest.fixture
def served() -> Any:
    rec = Recorder()
    with ServerThread(make_setup(rec)) as srv:
        yield srv, rec


def url(srv: ServerThread, path: str) -> str:
    return f"http://127.0.0.1:{srv.port}{path}"


def curl(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    assert CURL is not None
    cmd = [CURL, "--silent", "--show-error", "--max-time", "4", "--noproxy", "*", *args]
    result = subprocess.run(cmd, input=stdin, capture_output=True, timeout=5)
    assert result.returncode == 0, (cmd, result.returncode, result.stderr)
    return result


def parse_dump(dump: bytes) -> list[tuple[str, dict[str, str]]]:
    """curl's -D output: every response head (interim ones included)."""
    heads = []
    for block in dump.decode("latin-1").split("\r\n\r\n"):
        if not block.strip():
            continue
        lines = block.strip("\r\n").split("\r\n")
        headers = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        heads.append((lines[0], headers))
    return heads


@pytest.fixture
def payload(tmp_path: Path) -> Path:
    path = tmp_path / "payload.bin"
    path.write_bytes(os.urandom(1 << 20))
    return path


# -- curl ----------------------------------------------------------------------------------


@needs_curl
def test_given_curl_get_the_body_and_headers_arrive(served: Any, tmp_path: Path) -> None:
    srv, rec = served
    dump = tmp_path / "headers"
    out = curl("-D", str(dump), url(srv, "/hello?x=1"))
    assert out.stdout == b"hello, /hello?x=1"
    [(status, headers)] = parse_dump(dump.read_bytes())
    assert status == "HTTP/1.1 200 OK"
    assert headers["content-length"] == str(len(out.stdout))
    assert headers["content-type"] == "text/plain"
    assert "date" in headers
    assert rec.requests[0]["method"] == "GET"
    assert rec.requests[0]["headers"]["host"] == f"127.0.0.1:{srv.port}"


@needs_curl
def test_given_curl_head_the_headers_of_get_arrive_without_a_body(served: Any) -> None:
    srv, rec = served
    out = curl("-I", url(srv, "/hello"))
    [(status, headers)] = parse_dump(out.stdout)
    assert status == "HTTP/1.1 200 OK"
    # The length GET would have had (RFC 9110 §9.3.2); no body bytes follow.
    assert headers["content-length"] == str(len(b"hello, /hello"))
    assert out.stdout.endswith(b"\r\n\r\n")
    assert rec.requests[0]["method"] == "HEAD"


@needs_curl
def test_given_curl_posting_1mib_from_a_file_the_echo_matches(served: Any, payload: Path) -> None:
    srv, rec = served
    out = curl(
        "--data-binary",
        f"@{payload}",
        "-H",
        "Content-Type: application/octet-stream",
        url(srv, "/echo"),
    )
    assert out.stdout == payload.read_bytes()
    req = rec.requests[0]
    assert req["method"] == "POST"
    assert req["headers"]["content-length"] == str(1 << 20)


@needs_curl
def test_given_curl_with_expect_100_continue_the_server_sends_100_then_the_echo(
    served: Any, payload: Path, tmp_path: Path
) -> None:
    """curl sends ``Expect: 100-continue`` for big bodies (and always when asked); it must
    see the interim 100 before the final reply, and not fall back to its 1 s wait."""
    srv, rec = served
    dump = tmp_path / "headers"
    out = curl(
        "-D",
        str(dump),
        "-H",
        "Expect: 100-continue",
        "--expect100-timeout",
        "3",
        "--data-binary",
        f"@{payload}",
        "-w",
        "%{time_total}",
        "-o",
        str(tmp_path / "body"),
        url(srv, "/echo"),
    )
    heads = parse_dump(dump.read_bytes())
    assert [status for status, _ in heads] == ["HTTP/1.1 100 Continue", "HTTP/1.1 200 OK"]
    assert (tmp_path / "body").read_bytes() == payload.read_bytes()
    assert rec.requests[0]["headers"]["expect"] == "100-continue"
    assert float(out.stdout) < 2.5  # the 100 came: curl did not wait out its timeout


@needs_curl
def test_given_curl_posting_over_1mib_it_expects_100_by_itself_and_gets_it(
    served: Any, tmp_path: Path
) -> None:
    """curl adds ``Expect: 100-continue`` on its own for bodies over 1 MiB."""
    srv, rec = served
    data = os.urandom(2 << 20)
    (tmp_path / "two").write_bytes(data)
    dump = tmp_path / "headers"
    curl(
        "-D",
        str(dump),
        "--data-binary",
        f"@{tmp_path / 'two'}",
        "-o",
        str(tmp_path / "body"),
        url(srv, "/echo"),
    )
    heads = parse_dump(dump.read_bytes())
    assert [status for status, _ in heads] == ["HTTP/1.1 100 Continue", "HTTP/1.1 200 OK"]
    assert rec.requests[0]["headers"].get("expect") == "100-continue"
    assert (tmp_path / "body").read_bytes() == data


@needs_curl
def test_given_curl_expect_100_over_the_limit_it_gets_413_without_sending_the_body(
    served: Any, tmp_path: Path
) -> None:
    srv, rec = served
    big = tmp_path / "big.bin"
    big.write_bytes(b"z" * (5 << 20))  # over the 4 MiB cap
    dump = tmp_path / "headers"
    curl(
        "-D",
        str(dump),
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        f"@{big}",
        "-o",
        os.devnull,
        url(srv, "/echo"),
    )
    heads = parse_dump(dump.read_bytes())
    assert heads[-1][0] == "HTTP/1.1 413 Content Too Large"
    assert heads[-1][1]["connection"] == "close"
    assert rec.requests == []


@needs_curl
def test_given_curl_http10_the_reply_is_http10_and_close_delimited(
    served: Any, tmp_path: Path
) -> None:
    srv, rec = served
    dump = tmp_path / "headers"
    out = curl("-0", "-D", str(dump), "-H", "Connection:", url(srv, "/hello"))
    assert out.stdout == b"hello, /hello"
    [(status, headers)] = parse_dump(dump.read_bytes())
    assert status == "HTTP/1.0 200 OK"
    assert "content-length" not in headers  # libevent: no automatic length on 1.0 close
    assert rec.requests[0]["minor"] == 0


@needs_curl
def test_given_curl_http10_keepalive_two_urls_share_one_connection(served: Any) -> None:
    srv, rec = served
    out = curl(
        "-0",
        "-H",
        "Connection: keep-alive",
        "-w",
        " %{num_connects}\n",
        url(srv, "/a"),
        url(srv, "/b"),
    )
    assert out.stdout == b"hello, /a 1\nhello, /b 0\n"
    assert [r["conn"] for r in rec.requests] == [0, 0]


@needs_curl
def test_given_curl_with_two_urls_it_reuses_the_keepalive_connection(served: Any) -> None:
    srv, rec = served
    out = curl("-w", " %{num_connects}\n", url(srv, "/a"), url(srv, "/b"), url(srv, "/hello"))
    assert out.stdout == b"hello, /a 1\nhello, /b 0\nhello, /hello 0\n"
    assert [r["uri"] for r in rec.requests] == ["/a", "/b", "/hello"]
    assert [r["conn"] for r in rec.requests] == [0, 0, 0]


@needs_curl
def test_given_curl_after_a_404_it_must_reconnect(served: Any, tmp_path: Path) -> None:
    """Error pages close the connection (libevent does the same): curl sees
    ``Connection: close`` and opens a new one for the next URL."""
    srv, rec = served
    out = curl(
        "-w",
        " %{http_code} %{num_connects}\n",
        "-o",
        os.devnull,
        url(srv, "/missing"),
        "-o",
        os.devnull,
        url(srv, "/a"),
    )
    assert out.stdout == b" 404 1\n 200 1\n"
    assert [r["conn"] for r in rec.requests] == [0, 1]


@needs_curl
def test_given_curl_a_chunked_upload_is_echoed(served: Any, payload: Path) -> None:
    srv, rec = served
    out = curl(
        "-H", "Transfer-Encoding: chunked", "--data-binary", f"@{payload}", url(srv, "/echo")
    )
    assert out.stdout == payload.read_bytes()
    headers = rec.requests[0]["headers"]
    assert headers["transfer-encoding"] == "chunked"
    assert "content-length" not in headers


@needs_curl
def test_given_curl_a_chunked_upload_from_stdin_is_echoed(served: Any) -> None:
    srv, rec = served
    data = bytes(range(256)) * 300
    out = curl("-T", "-", "-X", "POST", url(srv, "/echo"), stdin=data)
    assert out.stdout == data
    assert rec.requests[0]["headers"]["transfer-encoding"] == "chunked"


@needs_curl
def test_given_curl_a_streamed_reply_arrives_whole(served: Any, tmp_path: Path) -> None:
    srv, _rec = served
    dump = tmp_path / "headers"
    out = curl("-D", str(dump), url(srv, "/stream"))
    assert out.stdout == b"".join(STREAM_PIECES)
    [(status, headers)] = parse_dump(dump.read_bytes())
    assert status == "HTTP/1.1 200 OK"
    assert headers["transfer-encoding"] == "chunked"
    assert "content-length" not in headers


@needs_curl
def test_given_curl_raw_the_chunk_framing_is_levents(served: Any) -> None:
    """``--raw`` shows the wire: one chunk per send_reply_chunk, then the last-chunk."""
    srv, _rec = served
    out = curl("--raw", url(srv, "/stream"))
    expected = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in STREAM_PIECES) + b"0\r\n\r\n"
    assert out.stdout == expected


@needs_curl
def test_given_curl_http10_a_streamed_reply_is_close_delimited(served: Any, tmp_path: Path) -> None:
    srv, _rec = served
    dump = tmp_path / "headers"
    out = curl("-0", "-D", str(dump), url(srv, "/stream"))
    assert out.stdout == b"".join(STREAM_PIECES)
    [(status, headers)] = parse_dump(dump.read_bytes())
    assert status == "HTTP/1.0 200 OK"
    assert "transfer-encoding" not in headers  # no chunked coding for an HTTP/1.0 client


# -- http.client ---------------------------------------------------------------------------


def test_given_http_client_several_requests_share_one_connection(served: Any) -> None:
    srv, rec = served
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    try:
        for path in ["/a", "/b", "/hello"]:
            conn.request("GET", path)
            resp = conn.getresponse()
            assert resp.status == 200
            assert resp.read() == b"hello, " + path.encode()
        conn.request("POST", "/echo", body=b"posted")
        assert conn.getresponse().read() == b"posted"
    finally:
        conn.close()
    assert [r["conn"] for r in rec.requests] == [0, 0, 0, 0]


def test_given_http_client_head_the_length_is_there_and_the_connection_is_reusable(
    served: Any,
) -> None:
    srv, rec = served
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    try:
        conn.request("HEAD", "/hello")
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.getheader("Content-Length") == str(len(b"hello, /hello"))
        assert resp.read() == b""
        conn.request("GET", "/a")
        assert conn.getresponse().read() == b"hello, /a"
    finally:
        conn.close()
    assert [r["conn"] for r in rec.requests] == [0, 0]


def test_given_http_client_a_chunked_upload_from_a_generator_is_echoed(served: Any) -> None:
    srv, rec = served
    pieces = [os.urandom(n) for n in (1, 100, 10000, 65536, 3)]
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    try:
        conn.request("POST", "/echo", body=iter(pieces), encode_chunked=True)
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    assert body == b"".join(pieces)
    assert resp.getheader("X-Body-Sha256") == hashlib.sha256(body).hexdigest()
    assert rec.requests[0]["headers"]["transfer-encoding"] == "chunked"


def test_given_http_client_a_streamed_reply_is_read_chunk_by_chunk(served: Any) -> None:
    srv, rec = served
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    try:
        conn.request("GET", "/stream")
        resp = conn.getresponse()
        assert resp.chunked
        got = b""
        while piece := resp.read1(65536):
            got += piece
        assert got == b"".join(STREAM_PIECES)
        # The connection survives a streamed reply.
        conn.request("GET", "/a")
        assert conn.getresponse().read() == b"hello, /a"
    finally:
        conn.close()
    assert [r["conn"] for r in rec.requests] == [0, 0]


def test_given_http_client_http10_the_reply_is_read_until_close(served: Any) -> None:
    srv, rec = served

    class HTTP10Connection(http.client.HTTPConnection):
        _http_vsn = 10
        _http_vsn_str = "HTTP/1.0"

    conn = HTTP10Connection("127.0.0.1", srv.port, timeout=5)
    try:
        conn.request("GET", "/hello")
        resp = conn.getresponse()
        assert resp.version == 10
        assert resp.getheader("Content-Length") is None
        assert resp.read() == b"hello, /hello"
        assert resp.will_close
    finally:
        conn.close()
    assert rec.requests[0]["minor"] == 0


# -- urllib.request ------------------------------------------------------------------------


def _opener() -> urllib.request.OpenerDirector:
    # No proxy from the environment: talk to 127.0.0.1 directly.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def test_given_urllib_get_the_body_and_status_arrive(served: Any) -> None:
    srv, rec = served
    with _opener().open(url(srv, "/hello?q=%20x"), timeout=5) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/plain"
        assert resp.read() == b"hello, /hello?q=%20x"
    assert rec.requests[0]["headers"]["connection"] == "close"  # urllib always asks


def test_given_urllib_post_the_body_round_trips(served: Any) -> None:
    srv, rec = served
    data = os.urandom(300000)
    req = urllib.request.Request(url(srv, "/echo"), data=data, method="POST")
    req.add_header("Content-Type", "application/octet-stream")
    with _opener().open(req, timeout=5) as resp:
        assert resp.read() == data
    assert rec.requests[0]["headers"]["content-length"] == str(len(data))


def test_given_urllib_a_404_raises_http_error_with_the_servers_page(served: Any) -> None:
    srv, _rec = served
    with pytest.raises(urllib.error.HTTPError) as info:
        _opener().open(url(srv, "/missing"), timeout=5)
    err = info.value
    try:
        assert err.code == 404
        assert err.reason == "Not Found"
        assert err.headers["Connection"] == "close"
        assert err.read() == (
            b"<HTML><HEAD>\n<TITLE>404 Not Found</TITLE>\n</HEAD><BODY>\n<H1>Not Found</H1>\n"
            b"</BODY></HTML>\n"
        )
    finally:
        err.close()


def test_given_urllib_an_unrouted_path_gets_the_404_page_naming_the_uri(served: Any) -> None:
    srv, _rec = served
    with pytest.raises(urllib.error.HTTPError) as info:
        _opener().open(url(srv, "/nowhere?a=<b>"), timeout=5)
    with info.value as err:
        assert err.code == 404
        assert b"/nowhere?a=&lt;b&gt;" in err.read()


def test_given_urllib_a_streamed_reply_arrives_whole(served: Any) -> None:
    srv, _rec = served
    with _opener().open(url(srv, "/stream"), timeout=5) as resp:
        assert resp.headers["Transfer-Encoding"] == "chunked"
        assert resp.read() == b"".join(STREAM_PIECES)
