"""TLS bufferevents (libevent-reference.md §2.14): handshakes, data, endings and failures.

Certificates come from ``tls_helpers`` (a test CA made by ``trustme``);
verification stays on. Tests using ``base`` run once per backend, over real
socketpairs or loopback TCP, and every loop ends by itself or by a bounded
``run_until``.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tls_helpers import (
    HOSTNAME,
    client_context,
    run_until,
    server_context,
    untrusting_client_context,
)

from levent import (
    BEV_EVENT_CONNECTED,
    BEV_EVENT_EOF,
    BEV_EVENT_ERROR,
    BEV_EVENT_READING,
    BEV_EVENT_TIMEOUT,
    BEV_EVENT_WRITING,
    BEV_FINISHED,
    BEV_OPT_CLOSE_ON_FREE,
    BEV_OPT_DEFER_CALLBACKS,
    EV_READ,
    EV_WRITE,
    EVLOOP_NONBLOCK,
    BufferEvent,
    EventBase,
    EventStateError,
)
from levent.bufferevent.ssl import (
    BUFFEREVENT_SSL_ACCEPTING,
    BUFFEREVENT_SSL_BATCH_WRITE,
    BUFFEREVENT_SSL_CONNECTING,
    BUFFEREVENT_SSL_DIRTY_SHUTDOWN,
    BUFFEREVENT_SSL_OPEN,
    BUFFEREVENT_SSL_STATE,
    SslBufferEvent,
    ssl_filter,
    ssl_socket,
)
from levent.errors import UnsupportedOperation

Trace = list[Any]
_CLIENT = BUFFEREVENT_SSL_CONNECTING
_SERVER = BUFFEREVENT_SSL_ACCEPTING
#: OpenSSL 3's packed ERR code for "certificate verify failed" (lib SSL 20, reason 134).
_VERIFY_FAILED = 0x0A000086


@pytest.fixture
def sockpair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def _events(trace: Trace, name: str) -> Any:
    def eventcb(bev: BufferEvent, what: int, arg: Any) -> None:
        trace.append((name, "event", int(what)))

    return eventcb


def _collector(trace: Trace, name: str, got: bytearray) -> Any:
    def readcb(bev: BufferEvent, arg: Any) -> None:
        trace.append((name, "read", len(bev.input)))
        got.extend(bev.input.remove(len(bev.input)))

    return readcb


def _echo(bev: BufferEvent, arg: Any) -> None:
    bev.output.add_buffer(bev.input)


def _event_of(trace: Trace, name: str) -> list[int]:
    return [t[2] for t in trace if t[0] == name and t[1] == "event"]


def _tls_pair(
    base: EventBase,
    socks: tuple[socket.socket, socket.socket],
    client_options: int = 0,
    server_options: int = 0,
    client_ctx: ssl.SSLContext | None = None,
    hostname: str = HOSTNAME,
) -> tuple[SslBufferEvent, SslBufferEvent]:
    client = ssl_socket(
        base, socks[0], client_ctx or client_context(), _CLIENT, client_options, hostname
    )
    server = ssl_socket(base, socks[1], server_context(), _SERVER, server_options)
    return client, server


# -- handshakes --------------------------------------------------------------------


def test_given_two_ssl_socket_ends_levent_reports_connected_on_both(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """§2.14: handshake completion → BEV_EVENT_CONNECTED, client and server."""
    trace: Trace = []
    client, server = _tls_pair(base, sockpair)
    client.setcb(None, None, _events(trace, "c"))
    server.setcb(None, None, _events(trace, "s"))
    assert trace == []  # nothing runs inside the constructor
    run_until(base, lambda: len(trace) == 2)
    assert sorted(trace) == [
        ("c", "event", BEV_EVENT_CONNECTED),
        ("s", "event", BEV_EVENT_CONNECTED),
    ]
    assert client.handshake_done and server.handshake_done
    tls = client.get_ssl()
    assert isinstance(tls, ssl.SSLObject)
    assert tls.version() in ("TLSv1.2", "TLSv1.3")
    peer = tls.getpeercert()
    assert ("DNS", HOSTNAME) in peer["subjectAltName"]
    assert server.get_ssl().server_side
    assert client.getfd() == sockpair[0].fileno()
    assert client.get_underlying() is None  # a socket kind, as libevent
    client.free()
    server.free()


def test_given_an_ssl_socket_without_a_socket_connect_runs_tcp_then_tls(base: EventBase) -> None:
    """§2.14 + §2.11: connect() on loopback TCP; CONNECTED means the TLS handshake is done."""
    listener = socket.create_server(("127.0.0.1", 0))
    trace: Trace = []
    got = bytearray()
    client = ssl_socket(
        base, None, client_context(), _CLIENT, BEV_OPT_CLOSE_ON_FREE, server_hostname=HOSTNAME
    )
    client.setcb(_collector(trace, "c", got), None, _events(trace, "c"))
    client.enable(EV_READ)
    client.write(b"ping")  # queued until the session is up
    client.connect(listener.getsockname())
    conn, _ = listener.accept()
    server = ssl_socket(base, conn, server_context(), _SERVER, BEV_OPT_CLOSE_ON_FREE)
    server.setcb(_echo, None, _events(trace, "s"))
    server.enable(EV_READ)
    run_until(base, lambda: bytes(got) == b"ping")
    assert _event_of(trace, "c") == [BEV_EVENT_CONNECTED]
    assert _event_of(trace, "s") == [BEV_EVENT_CONNECTED]
    client.free()
    server.free()
    listener.close()
    assert conn.fileno() == -1


def test_given_an_ssl_filter_over_a_socket_bufferevent_levent_handshakes_and_moves_data(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """§2.14 bufferevent_openssl_filter_new; #87: get_underlying and getfd of a filter."""
    trace: Trace = []
    got = bytearray()
    under = BufferEvent.socket(base, sockpair[0])
    client = ssl_filter(base, under, client_context(), _CLIENT, server_hostname=HOSTNAME)
    server = ssl_socket(base, sockpair[1], server_context(), _SERVER)
    client.setcb(_collector(trace, "c", got), None, _events(trace, "c"))
    server.setcb(_echo, None, _events(trace, "s"))
    client.enable(EV_READ)
    server.enable(EV_READ)
    client.write(b"through the filter")
    run_until(base, lambda: bytes(got) == b"through the filter")
    assert _event_of(trace, "c") == [BEV_EVENT_CONNECTED]
    assert client.get_underlying() is under
    assert client.getfd() == sockpair[0].fileno()
    client.free()
    # Without CLOSE_ON_FREE the underlying bufferevent survives, callbacks cleared.
    assert not under.freed
    assert under.getcb() == (None, None, None, None)
    under.free()
    server.free()


# -- data ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["socket", "filter", "batch"])
def test_given_one_mebibyte_echoed_through_tls_it_arrives_intact(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket], kind: str
) -> None:
    """§2.14: plaintext in, ciphertext over the socket, the same plaintext out, in order."""
    payload = bytes(range(256)) * 4096  # 1 MiB
    got = bytearray()
    trace: Trace = []
    if kind == "filter":
        under = BufferEvent.socket(base, sockpair[0], BEV_OPT_CLOSE_ON_FREE)
        client = ssl_filter(base, under, client_context(), _CLIENT, BEV_OPT_CLOSE_ON_FREE, HOSTNAME)
        server = ssl_socket(base, sockpair[1], server_context(), _SERVER)
    else:
        client, server = _tls_pair(base, sockpair)
    if kind == "batch":
        assert client.set_flags(BUFFEREVENT_SSL_BATCH_WRITE) == 0
    client.setcb(_collector(trace, "c", got), None, _events(trace, "c"))
    server.setcb(_echo, None, _events(trace, "s"))
    client.enable(EV_READ)
    server.enable(EV_READ)
    for i in range(0, len(payload), 4096):  # many writes, many chunks
        client.write(payload[i : i + 4096])
    run_until(base, lambda: len(got) >= len(payload))
    assert bytes(got) == payload
    assert not any(w & BEV_EVENT_ERROR for w in _event_of(trace, "c") + _event_of(trace, "s"))
    client.free()
    server.free()


def test_given_read_watermarks_10_20_every_read_callback_sees_10_to_20_bytes(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """#80 over TLS: 65000 bytes arrive and each read callback sees [10, 20] bytes.

    libevent lets a TLS bufferevent overrun the high watermark by one record;
    levent decrypts only the room left, so it never does.
    """
    client, server = _tls_pair(base, sockpair)
    sizes: list[int] = []
    got = bytearray()

    def readcb(bev: BufferEvent, arg: Any) -> None:
        sizes.append(len(bev.input))
        got.extend(bev.input.remove(len(bev.input)))

    client.setcb(readcb, None, None)
    client.setwatermark(EV_READ, 10, 20)
    client.enable(EV_READ)
    payload = bytes(i % 251 for i in range(65000))
    server.write(payload)
    run_until(base, lambda: len(got) + len(client.input) >= len(payload))
    # What is left is below the low watermark, so no callback saw it.
    assert len(client.input) < 10
    assert bytes(got) + client.input.remove(20) == payload
    assert sizes and all(10 <= n <= 20 for n in sizes)
    client.free()
    server.free()


def test_given_a_reader_that_never_drains_the_high_watermark_bounds_memory(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """§2.10 high watermark: TLS reading stops at it, and ciphertext stops being read too."""
    client, server = _tls_pair(base, sockpair)
    client.setwatermark(EV_READ, 0, 4096)
    client.enable(EV_READ)
    payload = bytes(i % 253 for i in range(1 << 20))
    server.write(payload)
    run_until(base, lambda: len(client.input) == 4096)
    for _ in range(50):
        base.loop(EVLOOP_NONBLOCK)
    assert len(client.input) == 4096
    # The sender is held back by the kernel: most of the MiB is still queued there.
    assert len(server.output) > len(payload) // 2
    got = bytearray()

    def readcb(bev: BufferEvent, arg: Any) -> None:
        got.extend(bev.input.remove(len(bev.input)))

    client.setcb(readcb, None, None)
    got.extend(client.input.remove(4096))
    run_until(base, lambda: len(got) >= len(payload))
    assert bytes(got) == payload
    client.free()
    server.free()


def test_given_deferred_callbacks_connected_comes_before_read(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """§2.10 deferred callbacks over TLS: one deferred run is CONNECTED, then read."""
    trace: Trace = []
    got = bytearray()
    client, server = _tls_pair(base, sockpair, client_options=BEV_OPT_DEFER_CALLBACKS)
    assert client.options & BEV_OPT_DEFER_CALLBACKS
    client.setcb(_collector(trace, "c", got), None, _events(trace, "c"))
    client.enable(EV_READ)
    server.write(b"early data")  # queued before the handshake, sent right after it
    run_until(base, lambda: bytes(got) == b"early data")
    assert trace[0] == ("c", "event", BEV_EVENT_CONNECTED)
    assert all(t[1] == "read" for t in trace[1:])
    client.free()
    server.free()


# -- how connections end --------------------------------------------------------------


@pytest.mark.parametrize("how", ["shutdown", "flush_finished"])
def test_given_close_notify_the_peer_gets_reading_eof_after_the_data(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket], how: str
) -> None:
    """§2.14: a clean close_notify → READING|EOF; data written before it arrives first."""
    trace: Trace = []
    got = bytearray()
    client, server = _tls_pair(base, sockpair, server_options=BEV_OPT_CLOSE_ON_FREE)
    freed: list[bool] = []

    def server_writecb(bev: BufferEvent, arg: Any) -> None:
        if server_closing:
            bev.free()  # close_notify has left: freeing now loses nothing
            freed.append(True)

    server_closing: list[bool] = []
    server.setcb(None, server_writecb, _events(trace, "s"))
    client.setcb(_collector(trace, "c", got), None, _events(trace, "c"))
    client.enable(EV_READ)
    run_until(base, lambda: server.handshake_done and client.handshake_done)
    server.write(b"last words")
    server_closing.append(True)
    if how == "shutdown":
        server.shutdown()
    else:
        assert server.flush(EV_WRITE, BEV_FINISHED) == 1
    with pytest.raises(EventStateError, match="shutdown"):
        server.write(b"more")
    run_until(base, lambda: bool(_event_of(trace, "c")[1:]))
    assert bytes(got) == b"last words"
    assert _event_of(trace, "c") == [BEV_EVENT_CONNECTED, BEV_EVENT_READING | BEV_EVENT_EOF]
    assert client.ssl_error is None and client.get_openssl_error() == 0
    assert freed == [True]
    client.shutdown()  # answering close_notify after it arrived is allowed
    client.free()


@pytest.mark.parametrize("dirty_ok", [False, True])
def test_given_tcp_closed_without_close_notify_levent_reports_error_unless_dirty_is_allowed(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket], dirty_ok: bool
) -> None:
    """§2.14: CLOSE_ON_FREE closes without close_notify; the peer sees ERROR (EOF if allowed)."""
    trace: Trace = []
    got = bytearray()
    client, server = _tls_pair(base, sockpair, server_options=BEV_OPT_CLOSE_ON_FREE)
    if dirty_ok:
        client.allow_dirty_shutdown = True
        assert client.get_flags() == BUFFEREVENT_SSL_DIRTY_SHUTDOWN
    client.setcb(_collector(trace, "c", got), None, _events(trace, "c"))
    client.enable(EV_READ)
    server.write(b"partial")
    run_until(base, lambda: bytes(got) == b"partial")
    server.free()
    assert sockpair[1].fileno() == -1
    run_until(base, lambda: len(_event_of(trace, "c")) == 2)
    expected = BEV_EVENT_EOF if dirty_ok else BEV_EVENT_ERROR
    assert _event_of(trace, "c")[1] == BEV_EVENT_READING | expected
    assert isinstance(client.ssl_error, ssl.SSLEOFError)  # the reason, either way
    assert client.get_openssl_error() != 0
    assert client.get_openssl_error() == 0  # popped
    client.free()


def test_given_a_corrupted_record_levent_reports_reading_error_with_the_reason(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """§2.14: a protocol error after the handshake → READING|ERROR, ssl_error says why."""
    trace: Trace = []
    under = BufferEvent.socket(base, sockpair[0])
    client = ssl_filter(base, under, client_context(), _CLIENT, server_hostname=HOSTNAME)
    server = ssl_socket(base, sockpair[1], server_context(), _SERVER)
    client.setcb(None, None, _events(trace, "c"))
    server.setcb(None, None, _events(trace, "s"))
    server.enable(EV_READ)
    run_until(base, lambda: len(_event_of(trace, "s")) == 1)
    under.write(b"\x17\x03\x03\x00\x20" + b"\x00" * 32)  # application data that is not
    run_until(base, lambda: len(_event_of(trace, "s")) == 2)
    assert _event_of(trace, "s")[1] == BEV_EVENT_READING | BEV_EVENT_ERROR
    assert isinstance(server.ssl_error, ssl.SSLError)
    assert server.get_openssl_error() > 0
    client.free()
    under.free()
    server.free()


# -- verification failures and hostile peers -----------------------------------------


@pytest.mark.parametrize("case", ["wrong_hostname", "untrusted_ca"])
def test_given_a_certificate_that_fails_verification_both_ends_get_error(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket], case: str
) -> None:
    """§2.14: a bad certificate → ERROR with the verification reason; the server hears an alert."""
    trace: Trace = []
    if case == "wrong_hostname":
        client, server = _tls_pair(base, sockpair, hostname="not-the-server.example")
    else:
        client, server = _tls_pair(base, sockpair, client_ctx=untrusting_client_context())
    client.setcb(None, None, _events(trace, "c"))
    server.setcb(None, None, _events(trace, "s"))
    run_until(base, lambda: bool(_event_of(trace, "c")) and bool(_event_of(trace, "s")))
    assert _event_of(trace, "c") == [BEV_EVENT_READING | BEV_EVENT_ERROR]
    assert _event_of(trace, "s") == [BEV_EVENT_READING | BEV_EVENT_ERROR]
    err = client.ssl_error
    assert isinstance(err, ssl.SSLCertVerificationError)
    if case == "wrong_hostname":
        assert "Hostname mismatch" in err.verify_message
    else:
        assert err.verify_code == 20  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    if ssl.OPENSSL_VERSION_INFO[0] >= 3:
        assert client.get_openssl_error() == _VERIFY_FAILED
    assert server.ssl_error is not None and "ALERT" in str(server.ssl_error.reason)
    assert not client.handshake_done
    client.free()
    server.free()


def test_given_a_plain_tcp_peer_sending_garbage_the_server_errors_and_others_continue(
    base: EventBase,
) -> None:
    """Bad input: a non-TLS client → ERROR for that connection; the loop and a TLS echo go on."""
    bad_a, bad_b = socket.socketpair()
    good_a, good_b = socket.socketpair()
    trace: Trace = []
    victim = ssl_socket(base, bad_b, server_context(), _SERVER, BEV_OPT_CLOSE_ON_FREE)
    victim.setcb(None, None, _events(trace, "victim"))
    client, server = _tls_pair(base, (good_a, good_b), BEV_OPT_CLOSE_ON_FREE, BEV_OPT_CLOSE_ON_FREE)
    got = bytearray()
    client.setcb(_collector(trace, "c", got), None, None)
    server.setcb(_echo, None, None)
    client.enable(EV_READ)
    server.enable(EV_READ)
    bad_a.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    client.write(b"still here")
    run_until(base, lambda: bool(_event_of(trace, "victim")) and bytes(got) == b"still here")
    assert _event_of(trace, "victim") == [BEV_EVENT_READING | BEV_EVENT_ERROR]
    assert victim.ssl_error is not None and victim.ssl_error.reason
    victim.free()
    assert bad_b.fileno() == -1
    client.write(b" and more")
    run_until(base, lambda: bytes(got) == b"still here and more")
    client.free()
    server.free()
    bad_a.close()


def test_given_a_peer_that_never_handshakes_the_read_timeout_fires(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """§2.10 timeouts: a read timeout also bounds the handshake (slowloris-style peers)."""
    trace: Trace = []
    server = ssl_socket(base, sockpair[1], server_context(), _SERVER)
    server.setcb(None, None, _events(trace, "s"))
    server.set_timeouts(0.05, None)
    run_until(base, lambda: bool(trace))
    assert _event_of(trace, "s") == [BEV_EVENT_READING | BEV_EVENT_TIMEOUT]
    server.free()


def test_given_a_handshake_read_timeout_fired_it_is_not_restarted_by_itself(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """Generic timeouts: the timer fires once; the handshake still waits, without a second one."""
    trace: Trace = []
    server = ssl_socket(base, sockpair[1], server_context(), _SERVER)
    server.setcb(None, None, _events(trace, "s"))
    server.set_timeouts(0.03, 0.03)
    run_until(base, lambda: bool(trace))
    deadline = time.monotonic() + 0.2
    while time.monotonic() < deadline:
        base.loop(EVLOOP_NONBLOCK)
        time.sleep(0.01)
    assert _event_of(trace, "s") == [BEV_EVENT_READING | BEV_EVENT_TIMEOUT]
    assert not server.enabled & EV_READ
    server.free()


# -- freeing ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["socket", "filter"])
@pytest.mark.parametrize("close_on_free", [False, True])
def test_given_close_on_free_the_socket_closes_and_without_it_stays_open(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket], kind: str, close_on_free: bool
) -> None:
    """§2.10 free: CLOSE_ON_FREE closes the fd (frees the underlying bev); else both survive."""
    options = BEV_OPT_CLOSE_ON_FREE if close_on_free else 0
    under: BufferEvent | None = None
    if kind == "socket":
        bev = ssl_socket(base, sockpair[0], client_context(), _CLIENT, options, HOSTNAME)
    else:
        under = BufferEvent.socket(base, sockpair[0])
        bev = ssl_filter(base, under, client_context(), _CLIENT, options, HOSTNAME)
    bev.free()
    assert bev.freed
    bev.free()  # twice is harmless
    with pytest.raises(EventStateError):
        bev.write(b"x")
    if under is not None:
        # A filter frees (or releases) the underlying bev; that one's own options
        # decide about the fd (here: keep it).
        assert under.freed == close_on_free
        under.free()
        assert sockpair[0].fileno() >= 0
    elif close_on_free:
        assert sockpair[0].fileno() == -1
    else:
        assert sockpair[0].fileno() >= 0
    if sockpair[0].fileno() >= 0:
        sockpair[0].sendall(b"still usable")
        assert sockpair[1].recv(100) == b"still usable"


def test_given_a_free_inside_the_connected_callback_nothing_runs_afterwards(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """Callbacks may free the bufferevent; levent touches nothing of it afterwards."""
    trace: Trace = []
    client, server = _tls_pair(base, sockpair)

    def eventcb(bev: BufferEvent, what: int, arg: Any) -> None:
        trace.append(what)
        bev.free()

    client.setcb(_collector(trace, "c", bytearray()), None, eventcb)
    client.enable(EV_READ)
    server.write(b"data nobody reads")
    run_until(base, lambda: bool(trace))
    for _ in range(5):
        base.loop(EVLOOP_NONBLOCK)
    assert trace == [BEV_EVENT_CONNECTED]
    server.free()


# -- the API surface ----------------------------------------------------------------------


def test_given_flags_set_and_clear_return_the_old_flags(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """§2.14 bufferevent_ssl_set_flags / clear_flags return the old flags."""
    bev = ssl_socket(base, sockpair[0], client_context(), _CLIENT, 0, HOSTNAME)
    assert bev.get_flags() == 0 and not bev.allow_dirty_shutdown
    assert bev.set_flags(BUFFEREVENT_SSL_DIRTY_SHUTDOWN) == 0
    assert bev.set_flags(BUFFEREVENT_SSL_BATCH_WRITE) == BUFFEREVENT_SSL_DIRTY_SHUTDOWN
    assert bev.get_allow_dirty_shutdown()
    assert bev.clear_flags(BUFFEREVENT_SSL_DIRTY_SHUTDOWN) == 3
    assert bev.get_flags() == BUFFEREVENT_SSL_BATCH_WRITE
    bev.set_allow_dirty_shutdown(True)
    assert bev.allow_dirty_shutdown
    with pytest.raises(ValueError, match="unknown"):
        bev.set_flags(4)
    with pytest.raises(TypeError):
        bev.clear_flags("1")  # type: ignore[arg-type]
    assert bev.get_flags() == 3
    bev.free()


def test_given_renegotiate_levent_says_python_cannot(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """§2.14 bufferevent_ssl_renegotiate: Python's ssl has no renegotiation."""
    bev = ssl_socket(base, sockpair[0], client_context(), _CLIENT, 0, HOSTNAME)
    with pytest.raises(UnsupportedOperation, match="renegotiation"):
        bev.renegotiate()
    bev.free()


def test_given_bad_arguments_the_constructors_raise_precise_errors(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """Bad input: precise exceptions, nothing half-made left behind."""
    sock = sockpair[0]
    assert BUFFEREVENT_SSL_STATE(1) is BUFFEREVENT_SSL_CONNECTING
    with pytest.raises(ValueError, match="server_hostname"):
        ssl_socket(base, sock, client_context(), _CLIENT)  # the context checks hostnames
    with pytest.raises(ValueError, match="for clients"):
        ssl_socket(base, sock, server_context(), _SERVER, 0, HOSTNAME)
    with pytest.raises(ValueError, match="BUFFEREVENT_SSL_OPEN"):
        ssl_socket(base, sock, client_context(), BUFFEREVENT_SSL_OPEN, 0, HOSTNAME)
    with pytest.raises(ValueError, match="unknown"):
        ssl_socket(base, sock, client_context(), 7, 0, HOSTNAME)
    with pytest.raises(TypeError, match="SSLContext"):
        ssl_socket(base, sock, object(), _CLIENT, 0, HOSTNAME)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="SSLContext"):
        client_only = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ssl_socket(base, sock, client_only, _SERVER)
    with pytest.raises(ValueError, match="options"):
        ssl_socket(base, sock, client_context(), _CLIENT, 0x100, HOSTNAME)
    with pytest.raises(TypeError, match="BufferEvent"):
        ssl_filter(base, None, client_context(), _CLIENT, 0, HOSTNAME)  # type: ignore[arg-type]
    under = BufferEvent.socket(base, sock)
    under.free()
    with pytest.raises(EventStateError, match="freed"):
        ssl_filter(base, under, client_context(), _CLIENT, 0, HOSTNAME)
    other = EventBase()
    foreign = BufferEvent.socket(other, None)
    with pytest.raises(Exception, match="another EventBase"):
        ssl_filter(base, foreign, client_context(), _CLIENT, 0, HOSTNAME)
    foreign.free()
    other.free()
    filt = ssl_filter(
        base,
        BufferEvent.socket(base, sock, BEV_OPT_CLOSE_ON_FREE),
        client_context(),
        _CLIENT,
        BEV_OPT_CLOSE_ON_FREE,
        HOSTNAME,
    )
    with pytest.raises(EventStateError, match="ssl_socket"):
        filt.connect(("127.0.0.1", 1))
    with pytest.raises(EventStateError, match="underlying"):
        filt.setfd(-1)
    with pytest.raises(EventStateError, match="handshake"):
        filt.shutdown()
    assert "CONNECTING" in repr(filt)
    filt.free()
    assert sock.fileno() == -1


def test_given_a_peer_that_never_reads_the_write_timeout_fires(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """§2.10 timeouts: no write progress for the timeout → WRITING|TIMEOUT, writing disabled."""
    trace: Trace = []
    client, server = _tls_pair(base, sockpair)
    client.setcb(None, None, _events(trace, "c"))
    run_until(base, lambda: client.handshake_done and server.handshake_done)
    server.free()  # the socket stays open but nobody reads it
    client.set_timeouts(None, 0.05)
    client.write(bytes(8 << 20))
    run_until(base, lambda: len(_event_of(trace, "c")) == 2)
    assert _event_of(trace, "c")[1] == BEV_EVENT_WRITING | BEV_EVENT_TIMEOUT
    assert not client.enabled & EV_WRITE
    assert len(client.output) > 0
    client.free()


def test_given_a_connect_to_a_closed_port_only_an_error_event_arrives(base: EventBase) -> None:
    """#83 for TLS: the TCP connect fails → ERROR alone (no CONNECTED, no handshake)."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    address = probe.getsockname()  # bound, not listening: refused
    trace: Trace = []
    bev = ssl_socket(base, None, client_context(), _CLIENT, BEV_OPT_CLOSE_ON_FREE, HOSTNAME)
    bev.setcb(_collector(trace, "c", bytearray()), None, _events(trace, "c"))
    bev.enable(EV_READ)
    bev.connect(address)
    run_until(base, lambda: bool(trace))
    for _ in range(3):
        base.loop(EVLOOP_NONBLOCK)
    assert trace == [("c", "event", BEV_EVENT_ERROR)]
    assert bev.socket_error != 0
    bev.free()
    probe.close()


def test_given_a_read_rate_limit_tls_reading_follows_the_bucket(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """§2.14 "rate limits apply": 64 KiB at 8 KiB per 20 ms tick cannot arrive in under 100 ms."""
    ratelim = pytest.importorskip("levent.bufferevent.ratelim")
    client, server = _tls_pair(base, sockpair)
    got = bytearray()
    client.setcb(_collector([], "c", got), None, None)
    client.enable(EV_READ)
    run_until(base, lambda: client.handshake_done and server.handshake_done)
    ratelim.set_rate_limit(client, ratelim.RateLimitConfig(8192, 8192, 1 << 30, 1 << 30, 0.02))
    payload = bytes(i % 249 for i in range(65536))
    started = time.monotonic()
    server.write(payload)
    run_until(base, lambda: len(got) >= len(payload))
    assert time.monotonic() - started >= 0.1
    assert bytes(got) == payload
    client.free()
    server.free()
