"""The http-get sample (libevent's https-client + http-connect), run as a subprocess.

``python -m levent.samples.http_get …`` fetches from servers on 127.0.0.1: a
stdlib ``http.server`` thread (plain, and wrapped in TLS with a trustme
certificate), the levent http-server sample as a subprocess, and a small
CONNECT proxy thread written here. The ``levent http-get`` console form needs
the sample registered in ``levent.samples.SAMPLE_MODULES``, so only
``python -m`` is used. Each run is bounded by a subprocess timeout; every
server is shut down in teardown.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme
from test_sample_http_server import HOST, child_env, http_server

STEP = 5.0
BINARY = bytes(range(256)) * 64 + b"\r\n\r\n\x00end" + random.Random(7).randbytes(100_000)
HELLO = b"hello from the stdlib server\n"


# -- running http-get -------------------------------------------------------------------


def http_get(*args: str, timeout: float = STEP) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m levent.samples.http_get ARGS`` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "levent.samples.http_get", *args],
        capture_output=True,
        timeout=timeout,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        check=False,
    )


def stderr_of(done: subprocess.CompletedProcess[bytes]) -> str:
    return done.stderr.decode("utf-8", "replace")


# -- a stdlib origin server ------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    """The origin's routes; ``server.release`` ends a /slow request."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, code: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def _seen(self, body: bytes = b"") -> bytes:
        seen = {
            "method": self.command,
            "path": self.path,
            "headers": dict(self.headers.items()),
            "body": body.decode("latin-1"),
        }
        return json.dumps(seen).encode()

    def do_GET(self) -> None:
        if self.path == "/hello":
            self._send(200, HELLO)
        elif self.path == "/binary":
            self._send(200, BINARY, "application/octet-stream")
        elif self.path.startswith("/echo"):
            self._send(200, self._seen(), "application/json")
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/hello")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/server-error":
            self._send(500, b"broken\n")
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in (BINARY[:1000], BINARY[1000:5000], BINARY[5000:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/until-close":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(BINARY)
            self.close_connection = True
        elif self.path == "/slow":
            self.server.release.wait(STEP)  # type: ignore[attr-defined]
            self._send(200, b"late\n")
        else:
            self._send(404, b"no such thing\n")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self._send(200, self._seen(body), "application/json")


class Origin:
    """A ThreadingHTTPServer on 127.0.0.1 (optionally TLS) in a daemon thread."""

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        self.httpd = ThreadingHTTPServer((HOST, 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.httpd.release = threading.Event()  # type: ignore[attr-defined]
        if context is not None:
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.scheme = "http" if context is None else "https"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = HOST) -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def close(self) -> None:
        self.httpd.release.set()  # type: ignore[attr-defined]
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(STEP)


@pytest.fixture(scope="module")
def origin() -> Iterator[Origin]:
    server = Origin()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@contextlib.contextmanager
def tls_origin(ca: trustme.CA, *names: str) -> Iterator[Origin]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(ctx)
    server = Origin(ctx)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def https_origin(ca: trustme.CA) -> Iterator[Origin]:
    with tls_origin(ca, "localhost", HOST) as server:
        yield server


def refused_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port


# -- plain HTTP -----------------------------------------------------------------------------


def test_get_writes_the_body_to_stdout(origin: Origin) -> None:
    done = http_get(origin.url("/hello"))
    assert done.returncode == 0, stderr_of(done)
    assert done.stdout == HELLO
    assert "Response line: 200 OK" in stderr_of(done)


@pytest.mark.parametrize("path", ["/binary", "/chunked", "/until-close"])
def test_body_is_binary_safe(origin: Origin, path: str) -> None:
    done = http_get(origin.url(path))
    assert done.returncode == 0, stderr_of(done)
    assert done.stdout == BINARY


def test_request_carries_host_and_connection_close(origin: Origin) -> None:
    done = http_get(origin.url("/echo?a=1&b=%20"))
    assert done.returncode == 0, stderr_of(done)
    seen = json.loads(done.stdout)
    assert seen["method"] == "GET"
    assert seen["path"] == "/echo?a=1&b=%20"
    assert seen["headers"]["Host"] == f"{HOST}:{origin.port}"
    assert seen["headers"]["Connection"] == "close"


def test_output_file(origin: Origin, tmp_path: Path) -> None:
    out = tmp_path / "body.bin"
    done = http_get("-o", str(out), origin.url("/binary"))
    assert done.returncode == 0, stderr_of(done)
    assert done.stdout == b""
    assert out.read_bytes() == BINARY


def test_post_data_file(origin: Origin, tmp_path: Path) -> None:
    data = tmp_path / "data.bin"
    payload = bytes(range(256)) + b"posted"
    data.write_bytes(payload)
    done = http_get("--data", str(data), origin.url("/echo"))
    assert done.returncode == 0, stderr_of(done)
    seen = json.loads(done.stdout)
    assert seen["method"] == "POST"
    assert seen["headers"]["Content-Length"] == str(len(payload))
    assert seen["body"].encode("latin-1") == payload


@pytest.mark.parametrize(("path", "code"), [("/missing", 404), ("/server-error", 500)])
def test_error_status_exits_1(origin: Origin, path: str, code: int) -> None:
    done = http_get(origin.url(path))
    assert done.returncode == 1
    assert f"Response line: {code} " in stderr_of(done)
    assert done.stdout  # the error page is still written out


def test_redirect_is_not_followed(origin: Origin) -> None:
    done = http_get(origin.url("/redirect"))
    assert done.returncode == 1
    assert "Response line: 302 Found" in stderr_of(done)


def test_verbose_shows_the_exchange(origin: Origin) -> None:
    done = http_get("-v", origin.url("/hello"))
    assert done.returncode == 0
    err = stderr_of(done)
    assert "> GET /hello HTTP/1.1" in err
    assert f"> Host: {HOST}:{origin.port}" in err
    assert f"< Content-Length: {len(HELLO)}" in err


def test_refused_port_exits_3_and_says_why() -> None:
    done = http_get(f"http://{HOST}:{refused_port()}/")
    assert done.returncode == 3
    assert "refused" in stderr_of(done).lower()
    assert done.stdout == b""


def test_retries_still_end_in_refused() -> None:
    done = http_get("--retries", "1", f"http://{HOST}:{refused_port()}/", timeout=STEP + 3)
    assert done.returncode == 3
    assert "refused" in stderr_of(done).lower()


def test_timeout_exits_3(origin: Origin) -> None:
    done = http_get("--timeout", "0.5", origin.url("/slow"))
    assert done.returncode == 3
    assert "timed out" in stderr_of(done)


def test_unresolvable_host_exits_3() -> None:
    done = http_get("http://no-such-host.invalid/")
    assert done.returncode == 3
    assert "resolve" in stderr_of(done)


def test_ipv4_flag_with_a_name(origin: Origin) -> None:
    done = http_get("-4", origin.url("/hello", host="localhost"))
    assert done.returncode == 0, stderr_of(done)
    assert done.stdout == HELLO


@pytest.mark.parametrize(
    "args",
    [
        ["ftp://example.com/"],
        ["not a url"],
        ["http:///no-host"],
        ["--data", "/nonexistent/file", "http://127.0.0.1:1/"],
        ["--proxy", "http://127.0.0.1:1", "https://127.0.0.1:1/"],
        ["--proxy", "socks5://127.0.0.1:1", "http://127.0.0.1:1/"],
        ["--timeout", "0", "http://127.0.0.1:1/"],
        ["-4", "-6", "http://127.0.0.1:1/"],
        [],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    done = http_get(*args)
    assert done.returncode == 2, stderr_of(done)
    assert done.stderr


def test_against_the_levent_http_server(tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(BINARY)
    data = tmp_path / "post.txt"
    data.write_bytes(b"dumped body\n")
    with http_server(tmp_path, "-q") as srv:
        done = http_get(srv.url("/blob.bin"))
        assert done.returncode == 0, stderr_of(done)
        assert done.stdout == BINARY
        missing = http_get(srv.url("/missing"))
        assert missing.returncode == 1
        assert "Response line: 404 Not Found" in stderr_of(missing)
        posted = http_get("-d", str(data), srv.url("/dump"))
        assert posted.returncode == 0, stderr_of(posted)
        srv.out.wait_for(rb"Received a POST request for /dump")
        srv.out.wait_for(rb"dumped body")
        assert srv.stop() == 0


# -- HTTPS -----------------------------------------------------------------------------------


def test_https_without_ca_file_fails_verification(https_origin: Origin) -> None:
    done = http_get(https_origin.url("/hello"))
    assert done.returncode == 3
    assert "certificate" in stderr_of(done)
    assert done.stdout == b""


def test_https_with_ca_file(https_origin: Origin, ca_file: str) -> None:
    done = http_get("--ca-file", ca_file, https_origin.url("/binary"))
    assert done.returncode == 0, stderr_of(done)
    assert done.stdout == BINARY
    assert "Response line: 200 OK" in stderr_of(done)


def test_https_by_name_sends_sni_and_checks_it(https_origin: Origin, ca_file: str) -> None:
    done = http_get("-4", "--ca-file", ca_file, https_origin.url("/echo", host="localhost"))
    assert done.returncode == 0, stderr_of(done)
    assert json.loads(done.stdout)["headers"]["Host"] == f"localhost:{https_origin.port}"


def test_https_post(https_origin: Origin, ca_file: str, tmp_path: Path) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"secret post\x00\xff")
    done = http_get("--ca-file", ca_file, "-d", str(data), https_origin.url("/echo"))
    assert done.returncode == 0, stderr_of(done)
    assert json.loads(done.stdout)["body"].encode("latin-1") == b"secret post\x00\xff"


def test_https_hostname_mismatch_fails(ca: trustme.CA, ca_file: str) -> None:
    with tls_origin(ca, "other.example") as server:
        done = http_get("--ca-file", ca_file, server.url("/hello"))
    assert done.returncode == 3
    err = stderr_of(done)
    assert "certificate verify failed" in err
    assert "mismatch" in err


def test_https_insecure_skips_verification_with_a_warning(https_origin: Origin) -> None:
    done = http_get("--insecure", https_origin.url("/hello"))
    assert done.returncode == 0, stderr_of(done)
    assert done.stdout == HELLO
    assert "warning" in stderr_of(done).lower()


def test_https_to_a_plain_server_fails_clearly(origin: Origin) -> None:
    done = http_get("--timeout", "2", f"https://{HOST}:{origin.port}/hello")
    assert done.returncode == 3
    assert "TLS" in stderr_of(done)


def test_bad_ca_file_is_a_usage_error(tmp_path: Path, https_origin: Origin) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    done = http_get("--ca-file", str(bad), https_origin.url("/hello"))
    assert done.returncode == 2


# -- the CONNECT proxy ------------------------------------------------------------------------


class ConnectProxy:
    """A minimal CONNECT-only proxy on 127.0.0.1, one thread per client.

    ``answer`` is the status line and header section sent when the target is
    reachable; ``requests`` collects each request head the proxy received.
    """

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.listener = socket.create_server((HOST, 0))
        self.listener.settimeout(0.05)
        self.port: int = self.listener.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            client.settimeout(STEP)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            head, _, early = head.partition(b"\r\n\r\n")
            self.requests.append(head)
            m = re.match(rb"CONNECT (\S+):(\d+) HTTP/1\.[01]\r\n", head + b"\r\n")
            if m is None:
                client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            try:
                upstream = socket.create_connection((m.group(1).decode(), int(m.group(2))), STEP)
            except OSError:
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            with upstream:
                client.sendall(self.answer)
                if early:
                    upstream.sendall(early)
                pump = threading.Thread(target=_copy, args=(upstream, client), daemon=True)
                pump.start()
                _copy(client, upstream)
                pump.join(STEP)

    def close(self) -> None:
        self.stopping.set()
        self.listener.close()
        self.thread.join(STEP)


def _copy(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def connect_proxy(answer: bytes) -> Iterator[ConnectProxy]:
    proxy = ConnectProxy(answer)
    try:
        yield proxy
    finally:
        proxy.close()


ESTABLISHED_WITH_LENGTH = b"HTTP/1.1 200 Connection established\r\nContent-Length: 0\r\n\r\n"
ESTABLISHED_BARE = b"HTTP/1.1 200 Connection established\r\n\r\n"


def test_proxy_connect_then_get_through_the_tunnel(origin: Origin) -> None:
    with connect_proxy(ESTABLISHED_WITH_LENGTH) as proxy:
        done = http_get("--proxy", proxy.url, origin.url("/binary"))
        assert done.returncode == 0, stderr_of(done)
        assert done.stdout == BINARY
        assert len(proxy.requests) == 1
        lines = proxy.requests[0].decode("latin-1").split("\r\n")
        assert lines[0] == f"CONNECT {HOST}:{origin.port} HTTP/1.1"
        assert "Connection: keep-alive" in lines
        assert f"Host: {HOST}:{origin.port}" in lines


def test_proxy_tunnel_request_is_origin_form(origin: Origin) -> None:
    with connect_proxy(ESTABLISHED_WITH_LENGTH) as proxy:
        done = http_get("--proxy", proxy.url, origin.url("/echo?via=proxy"))
    assert done.returncode == 0, stderr_of(done)
    seen = json.loads(done.stdout)
    assert seen["path"] == "/echo?via=proxy"
    assert seen["headers"]["Host"] == f"{HOST}:{origin.port}"
    assert seen["headers"]["Connection"] == "close"


def test_proxy_post_through_the_tunnel(origin: Origin, tmp_path: Path) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"tunnelled post")
    with connect_proxy(ESTABLISHED_WITH_LENGTH) as proxy:
        done = http_get("--proxy", proxy.url, "-d", str(data), origin.url("/echo"))
    assert done.returncode == 0, stderr_of(done)
    assert json.loads(done.stdout)["body"] == "tunnelled post"


def test_proxy_status_from_the_target_is_passed_on(origin: Origin) -> None:
    with connect_proxy(ESTABLISHED_WITH_LENGTH) as proxy:
        done = http_get("--proxy", proxy.url, origin.url("/missing"))
    assert done.returncode == 1
    assert "Response line: 404" in stderr_of(done)


def test_proxy_refusing_connect_exits_3() -> None:
    with connect_proxy(ESTABLISHED_WITH_LENGTH) as proxy:
        done = http_get("--proxy", proxy.url, f"http://{HOST}:{refused_port()}/")
    assert done.returncode == 3
    assert "refused CONNECT: 502" in stderr_of(done)


def test_unreachable_proxy_exits_3() -> None:
    done = http_get("--proxy", f"http://{HOST}:{refused_port()}", "http://example.invalid/")
    assert done.returncode == 3
    err = stderr_of(done)
    assert "proxy" in err
    assert "refused" in err.lower()


def test_proxy_answer_without_content_length(origin: Origin) -> None:
    with connect_proxy(ESTABLISHED_BARE) as proxy:
        done = http_get("--timeout", "1", "--proxy", proxy.url, origin.url("/hello"))
    assert done.returncode == 0, stderr_of(done)
    assert done.stdout == HELLO


def test_proxy_answer_in_http_1_0(origin: Origin) -> None:
    answer = b"HTTP/1.0 200 Connection established\r\nProxy-agent: test\r\n\r\n"
    with connect_proxy(answer) as proxy:
        done = http_get("--timeout", "1", "--proxy", proxy.url, origin.url("/hello"))
    assert done.returncode == 0, stderr_of(done)
    assert done.stdout == HELLO


@contextlib.contextmanager
def hang_up_server() -> Iterator[int]:
    """A port whose server accepts and at once closes, saying nothing."""
    listener = socket.create_server((HOST, 0))
    listener.settimeout(0.05)
    stopping = threading.Event()

    def loop() -> None:
        while not stopping.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stopping.set()
        listener.close()
        thread.join(STEP)


def test_target_hanging_up_in_the_tunnel_is_not_retried_at_the_proxy() -> None:
    # HttpConnection sends an idempotent request once more on a new connection
    # when the first one dies before any answer; after a CONNECT that would be a
    # plain GET to the proxy, outside the tunnel, so it must fail instead.
    with hang_up_server() as port, connect_proxy(ESTABLISHED_WITH_LENGTH) as proxy:
        done = http_get("--proxy", proxy.url, f"http://{HOST}:{port}/secret")
    assert done.returncode == 3
    assert re.search(r"closed before a complete response|reset by peer", stderr_of(done))
    assert [head.split(b"\r\n")[0] for head in proxy.requests] == [
        f"CONNECT {HOST}:{port} HTTP/1.1".encode()
    ]


def test_plain_target_hanging_up_exits_3() -> None:
    with hang_up_server() as port:
        done = http_get(f"http://{HOST}:{port}/")
    assert done.returncode == 3
    # The server closes with the request unread, so the kernel may send a reset.
    assert re.search(r"closed before a complete response|reset by peer", stderr_of(done))
