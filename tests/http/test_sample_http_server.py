"""The http-server sample (the main job), run as a user runs it: a subprocess on 127.0.0.1.

The server is started as ``python -m levent.samples.http_server --port 0 DIR``
(and once as ``python -m levent http-server`` and as the ``levent`` command);
its port is read from the ``Listening on HOST:PORT`` line; SIGINT stops it.
Requests come from curl (skipped when missing), ``http.client`` and raw
sockets (for request targets no client library would send). Every wait has a
deadline and every process is killed in teardown.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import email.utils
import hashlib
import html.parser
import http.client
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

SRC = str(Path(__file__).resolve().parents[2] / "src")
STEP = 5.0  # seconds any single expected output may take
HOST = "127.0.0.1"
CURL = shutil.which("curl")
needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed")

TEXT = b"0123456789abcdefghijklmnopqrstuvwxyz\n"
BLOB = random.Random(1234).randbytes(1024 * 1024)
UNICODE_NAME = "héllo wörld.txt"
PERCENT_NAME = "100% pure.txt"
SECRET = b"TOP SECRET outside the docroot\n"


# -- running a sample ----------------------------------------------------------------


def child_env() -> dict[str, str]:
    """The child's environment: this checkout's levent importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


class _Collector(threading.Thread):
    """Drains one pipe into memory, so the child never blocks on a full pipe."""

    def __init__(self, stream: object) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.data = bytearray()
        self.cond = threading.Condition()
        self.eof = False

    def run(self) -> None:
        read = self.stream.read1  # type: ignore[attr-defined]
        while True:
            chunk = read(65536)
            with self.cond:
                if not chunk:
                    self.eof = True
                    self.cond.notify_all()
                    return
                self.data += chunk
                self.cond.notify_all()

    def wait_for(self, pattern: bytes, timeout: float = STEP) -> re.Match[bytes]:
        """The first match of the regex ``pattern``; fails the test after ``timeout``."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        with self.cond:
            while True:
                m = regex.search(self.data)
                if m is not None:
                    return m
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    raise AssertionError(f"{pattern!r} not seen within {timeout} s: {self.text!r}")
                self.cond.wait(left)

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


class SampleProcess:
    """A sample started with ``python <args>``, its stdout and stderr collected."""

    def __init__(self, *args: str, executable: str | None = None) -> None:
        argv = [executable, *args] if executable else [sys.executable, *args]
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=child_env(),
        )
        self.out = _Collector(self.proc.stdout)
        self.err = _Collector(self.proc.stderr)
        self.out.start()
        self.err.start()

    def wait(self, timeout: float = STEP) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running after {timeout} s: {self.err.text!r}") from None
        self.out.join(timeout)
        self.err.join(timeout)
        return code

    def stop(self, signum: int = signal.SIGINT) -> int:
        """Send ``signum`` and return the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        return self.wait()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


class ServerProcess(SampleProcess):
    """http-server as a subprocess; ``port`` from its first stdout line."""

    def __init__(self, *args: str, executable: str | None = None) -> None:
        super().__init__(*args, executable=executable)
        try:
            m = self.out.wait_for(rb"\AListening on (\S+):(\d+)\n")
        except BaseException:
            self.kill()
            raise
        self.port = int(m.group(2))

    def url(self, path: str = "/", scheme: str = "http") -> str:
        return f"{scheme}://{HOST}:{self.port}{path}"


@contextlib.contextmanager
def http_server(docroot: Path, *extra: str, module: bool = True) -> Iterator[ServerProcess]:
    """A running http-server (``python -m levent.samples.http_server``), killed at the end."""
    target = ["-m", "levent.samples.http_server"] if module else ["-m", "levent", "http-server"]
    server = ServerProcess(*target, "--port", "0", "--address", HOST, *extra, str(docroot))
    try:
        yield server
    finally:
        server.kill()


# -- clients -------------------------------------------------------------------------------


class Reply:
    """One response: status, headers (a Message) and the body bytes."""

    def __init__(self, resp: http.client.HTTPResponse, body: bytes) -> None:
        self.status = resp.status
        self.reason = resp.reason
        self.headers = resp.headers
        self.body = body

    def __repr__(self) -> str:
        return f"<Reply {self.status} {self.reason} {len(self.body)} bytes>"


def fetch(
    port: int,
    path: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    context: ssl.SSLContext | None = None,
) -> Reply:
    """One request with http.client; ``path`` goes on the request line unchanged."""
    conn: http.client.HTTPConnection
    if context is None:
        conn = http.client.HTTPConnection(HOST, port, timeout=STEP)
    else:
        conn = http.client.HTTPSConnection(HOST, port, timeout=STEP, context=context)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return Reply(resp, resp.read())
    finally:
        conn.close()


def raw_request(port: int, head: bytes) -> bytes:
    """Send ``head`` as is on a fresh socket and return everything until the server closes."""
    with socket.create_connection((HOST, port), timeout=STEP) as sock:
        sock.sendall(head)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def raw_status(response: bytes) -> int:
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", response)
    assert m is not None, response[:200]
    return int(m.group(1))


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    assert CURL is not None
    return subprocess.run(
        [CURL, "--silent", "--show-error", "--max-time", str(STEP), *args],
        capture_output=True,
        timeout=STEP + 2,
        check=False,
    )


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href") or ""
            self._text = ""

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, self._text))
            self._href = None


def links(page: bytes) -> dict[str, str]:
    """``{link text: href}`` of an HTML listing (the parser unescapes both)."""
    parser = _Links()
    parser.feed(page.decode("utf-8"))
    return {text: href for href, text in parser.links}


# -- the document root -----------------------------------------------------------------


@pytest.fixture(scope="module")
def docroot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    top = tmp_path_factory.mktemp("http_server")
    outside = top / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    root = top / "docroot"
    root.mkdir()
    (root / "hello.txt").write_bytes(TEXT)
    (root / "blob.bin").write_bytes(BLOB)
    (root / UNICODE_NAME).write_bytes("unicode name ✓\n".encode())
    (root / PERCENT_NAME).write_bytes(b"percent\n")
    (root / "%41.txt").write_bytes(b"literal percent-41\n")
    (root / "A.txt").write_bytes(b"the letter A\n")
    (root / 'a&b <c> "d".txt').write_bytes(b"markup\n")
    (root / "q?x#y.txt").write_bytes(b"query and fragment characters\n")
    (root / "page.html").write_bytes(b"<!DOCTYPE html><p>page</p>\n")
    (root / "style.css").write_bytes(b"p { color: red }\n")
    (root / "data.json").write_bytes(b'{"a": 1}\n')
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(32))
    (root / "noext").write_bytes(b"no extension\n")
    (root / "sub").mkdir()
    (root / "sub" / "inner.txt").write_bytes(b"inner\n")
    (root / "sub" / "deeper").mkdir()
    (root / "site").mkdir()
    (root / "site" / "index.html").write_bytes(b"<h1>index of site</h1>\n")
    (root / "site" / "other.txt").write_bytes(b"other\n")
    (root / "link_in.txt").symlink_to("hello.txt")
    (root / "link_out.txt").symlink_to(outside / "secret.txt")
    (root / "link_etc").symlink_to("/etc")
    (root / "link_updir").symlink_to("..")
    return root


@pytest.fixture(scope="module")
def server(docroot: Path) -> Iterator[ServerProcess]:
    """One quiet server for the read-only tests of this module."""
    with http_server(docroot, "-q") as srv:
        yield srv


# -- starting and stopping -----------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_the_server_cleanly(docroot: Path, signum: int) -> None:
    with http_server(docroot, "-q") as srv:
        assert fetch(srv.port, "/hello.txt").body == TEXT
        assert srv.stop(signum) == 0
        assert "exiting cleanly" in srv.out.text
        assert "Traceback" not in srv.err.text


def test_python_dash_m_levent_http_server(docroot: Path) -> None:
    with http_server(docroot, "-q", module=False) as srv:
        assert fetch(srv.port, "/hello.txt").body == TEXT
        assert srv.stop() == 0
        assert "exiting cleanly" in srv.out.text


def test_levent_console_command(docroot: Path) -> None:
    command = shutil.which("levent")
    if command is None:
        pytest.skip("the levent console command is not installed")
    srv = ServerProcess(
        "http-server", "--port", "0", "--address", HOST, "-q", str(docroot), executable=command
    )
    try:
        assert fetch(srv.port, "/hello.txt").body == TEXT
        assert srv.stop() == 0
        assert "exiting cleanly" in srv.out.text
    finally:
        srv.kill()


def test_bad_docroot_is_a_usage_error(tmp_path: Path) -> None:
    proc = SampleProcess("-m", "levent.samples.http_server", "--port", "0", str(tmp_path / "no"))
    try:
        assert proc.wait() == 2
        assert "not a directory" in proc.err.text
    finally:
        proc.kill()


# -- files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("hello.txt", TEXT),
        ("blob.bin", BLOB),
        (UNICODE_NAME, "unicode name ✓\n".encode()),
        (PERCENT_NAME, b"percent\n"),
        ('a&b <c> "d".txt', b"markup\n"),
        ("q?x#y.txt", b"query and fragment characters\n"),
        ("link_in.txt", TEXT),
        ("sub/inner.txt", b"inner\n"),
    ],
)
def test_file_bytes_are_exact(server: ServerProcess, name: str, content: bytes) -> None:
    reply = fetch(server.port, "/" + urllib.parse.quote(name))
    assert reply.status == 200
    assert reply.body == content
    assert reply.headers["Content-Length"] == str(len(content))


def test_query_string_is_not_part_of_the_file_name(server: ServerProcess) -> None:
    assert fetch(server.port, "/hello.txt?x=1&y=2").body == TEXT


def test_percent_is_decoded_exactly_once(server: ServerProcess) -> None:
    # "/%2541.txt" names the file "%41.txt", not "A.txt".
    assert fetch(server.port, "/%2541.txt").body == b"literal percent-41\n"
    assert fetch(server.port, "/%41.txt").body == b"the letter A\n"


@needs_curl
def test_curl_downloads_exact_bytes(server: ServerProcess) -> None:
    for name, content in (("blob.bin", BLOB), (UNICODE_NAME, "unicode name ✓\n".encode())):
        done = curl("--fail", server.url("/" + urllib.parse.quote(name)))
        assert done.returncode == 0, done.stderr
        assert done.stdout == content


def test_urllib_downloads_exact_bytes(server: ServerProcess) -> None:
    with urllib.request.urlopen(server.url("/blob.bin"), timeout=STEP) as resp:
        assert resp.read() == BLOB


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("hello.txt", "text/plain"),
        ("page.html", "text/html"),
        ("style.css", "text/css"),
        ("data.json", "application/json"),
        ("image.png", "image/png"),
        ("blob.bin", "application/octet-stream"),
        ("noext", "application/octet-stream"),
    ],
)
def test_content_type_by_extension(server: ServerProcess, name: str, expected: str) -> None:
    reply = fetch(server.port, "/" + name)
    assert reply.status == 200
    assert reply.headers.get_content_type() == expected


def test_head_has_content_length_and_no_body(server: ServerProcess) -> None:
    reply = fetch(server.port, "/blob.bin", method="HEAD")
    assert reply.status == 200
    assert reply.headers["Content-Length"] == str(len(BLOB))
    assert reply.body == b""
    # Nothing follows the head on the wire either.
    raw = raw_request(
        server.port, b"HEAD /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert b"\r\nContent-Length: %d\r\n" % len(TEXT) in head + b"\r\n"
    assert rest == b""


@needs_curl
def test_curl_head(server: ServerProcess) -> None:
    done = curl("--head", server.url("/hello.txt"))
    assert done.returncode == 0, done.stderr
    assert re.search(rb"(?i)content-length: %d\r\n" % len(TEXT), done.stdout)
    assert done.stdout.endswith(b"\r\n\r\n")


# -- directories -----------------------------------------------------------------------


def test_directory_listing_has_every_entry_and_working_links(
    server: ServerProcess, docroot: Path
) -> None:
    reply = fetch(server.port, "/")
    assert reply.status == 200
    assert reply.headers.get_content_type() == "text/html"
    found = links(reply.body)
    escaping = {"link_out.txt", "link_etc", "link_updir"}
    for name in os.listdir(docroot):
        is_dir = (docroot / name).is_dir()
        text = name + ("/" if is_dir else "")
        assert text in found, f"{name!r} missing from the listing"
        href = found[text]
        # The href is the name percent-encoded: nothing in it is read as a query,
        # fragment, escape or markup, and decoding it gives the name back.
        assert not set(href) & set(' ?#<>"&'), href
        assert urllib.parse.unquote(href.removesuffix("/")) == name
        target = urllib.parse.urljoin("/", href)
        followed = fetch(server.port, target)
        if name in escaping:
            assert followed.status == 404, (name, followed)
            assert SECRET not in followed.body
        else:
            assert followed.status == 200, (name, followed)
            if not is_dir:
                assert followed.body == (docroot / name).read_bytes()


def test_subdirectory_listing_links_resolve_relative_to_it(server: ServerProcess) -> None:
    reply = fetch(server.port, "/sub/")
    assert reply.status == 200
    found = links(reply.body)
    assert set(found) >= {"inner.txt", "deeper/"}
    assert fetch(server.port, urllib.parse.urljoin("/sub/", found["inner.txt"])).body == b"inner\n"
    if "../" in found:
        assert urllib.parse.urljoin("/sub/", found["../"]) == "/"


def test_directory_without_slash_redirects(server: ServerProcess) -> None:
    for path, location in (("/sub", "/sub/"), ("/site", "/site/"), ("/sub/deeper", "/sub/deeper/")):
        reply = fetch(server.port, path)
        assert reply.status == 301, path
        assert reply.headers["Location"] == location


def test_urllib_follows_the_redirect(server: ServerProcess) -> None:
    with urllib.request.urlopen(server.url("/site"), timeout=STEP) as resp:
        assert resp.geturl().endswith("/site/")
        assert resp.read() == b"<h1>index of site</h1>\n"


def test_index_html_is_served(server: ServerProcess) -> None:
    reply = fetch(server.port, "/site/")
    assert reply.status == 200
    assert reply.body == b"<h1>index of site</h1>\n"
    assert reply.headers.get_content_type() == "text/html"


# -- ranges and conditional requests --------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [("bytes=0-9", 0, 10), ("bytes=-5", len(TEXT) - 5, len(TEXT)), ("bytes=10-", 10, len(TEXT))],
)
def test_single_range(server: ServerProcess, spec: str, start: int, end: int) -> None:
    reply = fetch(server.port, "/hello.txt", headers={"Range": spec})
    assert reply.status == 206
    assert reply.body == TEXT[start:end]
    assert reply.headers["Content-Range"] == f"bytes {start}-{end - 1}/{len(TEXT)}"
    assert reply.headers["Content-Length"] == str(end - start)


def test_range_in_the_big_file(server: ServerProcess) -> None:
    reply = fetch(server.port, "/blob.bin", headers={"Range": "bytes=500000-500999"})
    assert reply.status == 206
    assert reply.body == BLOB[500000:501000]


def test_unsatisfiable_range_is_416(server: ServerProcess) -> None:
    reply = fetch(server.port, "/hello.txt", headers={"Range": "bytes=999999999-"})
    assert reply.status == 416
    assert reply.headers["Content-Range"] == f"bytes */{len(TEXT)}"


def test_multi_range_gets_the_whole_file(server: ServerProcess) -> None:
    reply = fetch(server.port, "/hello.txt", headers={"Range": "bytes=0-1,5-6"})
    assert reply.status == 200
    assert reply.body == TEXT


@needs_curl
def test_curl_range(server: ServerProcess) -> None:
    done = curl("--range", "0-9", server.url("/blob.bin"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == BLOB[:10]


def test_if_none_match_with_the_etag_is_304(server: ServerProcess) -> None:
    first = fetch(server.port, "/hello.txt")
    etag = first.headers["ETag"]
    assert etag
    reply = fetch(server.port, "/hello.txt", headers={"If-None-Match": etag})
    assert reply.status == 304
    assert reply.body == b""
    other = fetch(server.port, "/hello.txt", headers={"If-None-Match": '"something-else"'})
    assert other.status == 200
    assert other.body == TEXT


def test_if_modified_since(server: ServerProcess) -> None:
    last_modified = fetch(server.port, "/hello.txt").headers["Last-Modified"]
    assert last_modified
    same = fetch(server.port, "/hello.txt", headers={"If-Modified-Since": last_modified})
    assert same.status == 304
    assert same.body == b""
    when = email.utils.parsedate_to_datetime(last_modified).timestamp()
    older = email.utils.formatdate(when - 3600, usegmt=True)
    reply = fetch(server.port, "/hello.txt", headers={"If-Modified-Since": older})
    assert reply.status == 200
    assert reply.body == TEXT


# -- staying inside the document root -----------------------------------------------------

TRAVERSALS = [
    "/../etc/passwd",
    "/../../../../../../etc/passwd",
    "/%2e%2e/etc/passwd",
    "/%2E%2E/%2E%2E/etc/passwd",
    "/..%2f..%2fetc/passwd",
    "/..%2F..%2F..%2Fetc%2Fpasswd",
    "/sub/../../etc/passwd",
    "/sub/%2e%2e/%2e%2e/etc/passwd",
    "/%2e%2e%5c%2e%2e%5cetc/passwd",
    "/..\\..\\etc\\passwd",
    "/hello.txt%00.png",
    "/%00/etc/passwd",
    "/link_out.txt",
    "/link_etc/passwd",
    "/link_updir/outside/secret.txt",
    "/%252e%252e/%252e%252e/etc/passwd",
    "/%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "//etc/passwd",
    "http://x/../../etc/passwd",
    "http://x/%2e%2e/%2e%2e/etc/passwd",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_path_traversal_is_404(server: ServerProcess, target: str) -> None:
    response = raw_request(
        server.port, f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    )
    assert raw_status(response) == 404, response[:300]
    assert b"root:" not in response
    assert SECRET not in response


def test_server_survives_the_traversal_attempts(server: ServerProcess) -> None:
    assert fetch(server.port, "/hello.txt").body == TEXT
    assert server.proc.poll() is None


@needs_curl
def test_curl_path_as_is_traversal(server: ServerProcess) -> None:
    done = curl("--path-as-is", "--write-out", "%{http_code}", server.url("/../../etc/passwd"))
    assert done.stdout.endswith(b"404")
    assert b"root:" not in done.stdout


# -- /dump, logging, load ------------------------------------------------------------------


def test_post_to_dump_is_printed_on_stdout(docroot: Path) -> None:
    with http_server(docroot, "-q") as srv:
        reply = fetch(
            srv.port, "/dump", method="POST", body=b"posted body", headers={"X-Test": "yes"}
        )
        assert reply.status == 200
        srv.out.wait_for(rb"Received a POST request for /dump")
        srv.out.wait_for(rb"X-Test: yes")
        srv.out.wait_for(rb"posted body")
        assert srv.stop() == 0


def test_access_log_line_on_stderr_without_quiet(docroot: Path) -> None:
    with http_server(docroot) as srv:
        assert fetch(srv.port, "/hello.txt").status == 200
        assert fetch(srv.port, "/missing").status == 404
        srv.err.wait_for(rb'127\.0\.0\.1 .*"GET /hello\.txt HTTP/1\.1" 200 %d' % len(TEXT))
        srv.err.wait_for(rb'"GET /missing HTTP/1\.1" 404')
        assert srv.stop() == 0


def test_quiet_server_logs_nothing(server: ServerProcess) -> None:
    fetch(server.port, "/hello.txt")
    time.sleep(0.1)
    assert "GET /hello.txt" not in server.err.text


def test_twenty_concurrent_downloads_are_intact(server: ServerProcess) -> None:
    digest = hashlib.sha256(BLOB).hexdigest()

    def one(_: int) -> str:
        return hashlib.sha256(fetch(server.port, "/blob.bin").body).hexdigest()

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        results = list(pool.map(one, range(20), timeout=STEP * 2))
    assert results == [digest] * 20


# -- HTTPS --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, trustme.CA]:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", HOST)
    folder = tmp_path_factory.mktemp("tls")
    cert_path = folder / "cert.pem"
    key_path = folder / "key.pem"
    cert_path.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    key_path.write_bytes(cert.private_key_pem.bytes())
    return cert_path, key_path, ca


@pytest.fixture(scope="module")
def tls_server(docroot: Path, tls_files: tuple[Path, Path, trustme.CA]) -> Iterator[ServerProcess]:
    cert, key, _ = tls_files
    with http_server(docroot, "-q", "--tls-cert", str(cert), "--tls-key", str(key)) as srv:
        yield srv


@pytest.fixture(scope="module")
def trusting(tls_files: tuple[Path, Path, trustme.CA]) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    tls_files[2].configure_trust(ctx)
    return ctx


def test_https_bytes_exact(tls_server: ServerProcess, trusting: ssl.SSLContext) -> None:
    reply = fetch(tls_server.port, "/blob.bin", context=trusting)
    assert reply.status == 200
    assert reply.body == BLOB


def test_https_untrusted_client_refuses(tls_server: ServerProcess) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        fetch(tls_server.port, "/hello.txt", context=ssl.create_default_context())


@needs_curl
def test_curl_https(tls_server: ServerProcess, tls_files: tuple[Path, Path, trustme.CA]) -> None:
    ca_path = tls_files[0].parent / "ca.pem"
    tls_files[2].cert_pem.write_to_path(str(ca_path))
    done = curl("--cacert", str(ca_path), "--fail", tls_server.url("/blob.bin", "https"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == BLOB


def test_plain_http_to_the_tls_port_does_not_crash_it(
    tls_server: ServerProcess, trusting: ssl.SSLContext
) -> None:
    with contextlib.suppress(OSError):
        raw_request(tls_server.port, b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
    with socket.create_connection((HOST, tls_server.port), timeout=STEP) as sock:
        sock.sendall(b"\x16\x03\x01\x00\x05garbage-that-is-not-a-handshake")
        with contextlib.suppress(OSError):
            sock.recv(4096)
    assert tls_server.proc.poll() is None
    assert fetch(tls_server.port, "/hello.txt", context=trusting).body == TEXT
    assert "Traceback" not in tls_server.err.text


# -- connections ------------------------------------------------------------------------


def test_pipelined_requests_are_answered_in_order(server: ServerProcess) -> None:
    response = raw_request(
        server.port,
        b"GET /blob.bin HTTP/1.1\r\nHost: x\r\n\r\n"
        b"HEAD /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-3\r\nConnection: close\r\n\r\n",
    )
    head, _, rest = response.partition(b"\r\n\r\n")
    assert raw_status(head) == 200
    assert rest[: len(BLOB)] == BLOB
    rest = rest[len(BLOB) :]
    head, _, rest = rest.partition(b"\r\n\r\n")
    assert raw_status(head) == 200
    head, _, rest = rest.partition(b"\r\n\r\n")
    assert raw_status(head) == 206
    assert rest == TEXT[:4]


def test_clients_leaving_mid_download_do_not_hurt_the_server(server: ServerProcess) -> None:
    for _ in range(5):
        with socket.create_connection((HOST, server.port), timeout=STEP) as sock:
            sock.sendall(b"GET /blob.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.recv(1000)
    assert fetch(server.port, "/hello.txt").body == TEXT
    assert server.proc.poll() is None


def test_filesystem_root_as_docroot_serves_files(tmp_path: Path) -> None:
    inside = tmp_path / "served.txt"
    inside.write_bytes(b"served from /\n")
    with http_server(Path("/"), "-q") as srv:
        reply = fetch(srv.port, urllib.parse.quote(str(inside)))
        assert reply.status == 200
        assert reply.body == b"served from /\n"


def test_dash_u_serves_on_a_unix_socket(docroot: Path, tmp_path: Path) -> None:
    """libevent's ``-U PATH``: listen on a Unix-domain socket instead of TCP."""
    path = str(tmp_path / "srv.sock")
    proc = SampleProcess("-m", "levent.samples.http_server", "-U", path, str(docroot))
    try:
        proc.out.wait_for(rb"\AListening on unix:\S+\n")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(path)
            s.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        assert raw_status(data) == 200
    finally:
        proc.kill()
