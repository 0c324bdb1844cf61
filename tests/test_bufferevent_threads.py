"""BEV_OPT_THREADSAFE bufferevents used from several threads (libevent's bufferevent locking).

The loop runs in a thread of its own (``EVLOOP_NO_EXIT_ON_EMPTY``, ended by a
``loopbreak`` from the test); other threads write, lock and unlock. Every
wait is bounded, and each test has a pytest-timeout. Kinds: socket, filter
(over a socket), TLS (``ssl_socket`` and ``ssl_filter``) and pair.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tls_helpers import HOSTNAME, client_context, server_context

from levent import (
    BEV_EVENT_CONNECTED,
    BEV_OK,
    BEV_OPT_THREADSAFE,
    EV_READ,
    EV_TIMEOUT,
    EVLOOP_NO_EXIT_ON_EMPTY,
    BufferEvent,
    Evbuffer,
    EventBase,
)
from levent.bufferevent.ssl import (
    BUFFEREVENT_SSL_ACCEPTING,
    BUFFEREVENT_SSL_CONNECTING,
    ssl_filter,
    ssl_socket,
)

_THREADS = 4
_RECORDS = 1500  # per thread
_RECORD = re.compile(rb"(\d):(\d{6});")
#: What the test filter's output filter does to each byte (so that filtering shows).
_SWAP = bytes.maketrans(b":;", b"=!")
_UNSWAP = bytes.maketrans(b"=!", b":;")


class LoopThread:
    """``base.loop`` in a thread; ``stop()`` breaks it and re-raises what it raised."""

    def __init__(self, base: EventBase) -> None:
        self.base = base
        self.error: BaseException | None = None
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.base.loop(EVLOOP_NO_EXIT_ON_EMPTY)
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def start(self) -> None:
        # A first callback tells that the loop runs (a loopbreak before that could be lost).
        self.base.once(-1, EV_TIMEOUT, lambda fd, what, arg: self.started.set(), None, 0)
        self.thread.start()
        assert self.started.wait(10), "the loop thread did not start"

    def stop(self) -> None:
        if self.thread.is_alive():
            self.base.loopbreak()
            self.thread.join(10)
            assert not self.thread.is_alive(), "the loop thread did not stop"
        if self.error is not None:
            raise self.error


@pytest.fixture
def loop_thread(base: EventBase) -> Iterator[LoopThread]:
    lt = LoopThread(base)
    yield lt
    lt.stop()


@pytest.fixture
def socks() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def _wait_for(done: Callable[[], bool], limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while not done():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.002)


def _recv_exactly(sock: socket.socket, n: int, limit: float = 20.0) -> bytes:
    sock.settimeout(limit)
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(65536)
        assert chunk, f"EOF after {len(data)} of {n} bytes"
        data += chunk
    return bytes(data)


def _expected_length() -> int:
    return _THREADS * _RECORDS * len(b"0:000000;")


def _write_from_threads(bev: BufferEvent) -> None:
    """Four threads write their numbered records, by write(), write_buffer() and output.add()."""
    errors: list[BaseException] = []
    go = threading.Event()

    def writer(t: int) -> None:
        try:
            go.wait(10)
            for i in range(_RECORDS):
                record = b"%d:%06d;" % (t, i)
                if i % 3 == 0:
                    bev.write(record)
                elif i % 3 == 1:
                    buf = Evbuffer()
                    buf.add(record)
                    bev.write_buffer(buf)
                else:
                    bev.output.add(record)  # the buffer shares the bufferevent's lock
                if i % 200 == 0:
                    time.sleep(0)  # let the others interleave
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,), daemon=True) for t in range(_THREADS)]
    for th in threads:
        th.start()
    go.set()
    for th in threads:
        th.join(20)
        assert not th.is_alive(), "a writer thread hung"
    if errors:
        raise errors[0]


def _check_records(data: bytes) -> None:
    """Every record whole, each thread's records all there and in order."""
    records = _RECORD.findall(data)
    assert len(records) * len(b"0:000000;") == len(data), "a record was torn or bytes got lost"
    seen: dict[int, list[int]] = {t: [] for t in range(_THREADS)}
    for t, i in records:
        seen[int(t)].append(int(i))
    for t in range(_THREADS):
        assert seen[t] == list(range(_RECORDS)), f"thread {t}'s records are out of order"


def _swap_filter(src: Evbuffer, dst: Evbuffer, limit: int, mode: int, ctx: Any) -> int:
    n = len(src)
    if n:
        dst.add(src.remove(n).translate(_SWAP))
    return BEV_OK


# -- writes from four threads arrive whole and in each thread's order ---------------------


@pytest.mark.timeout(60)
def test_given_a_threadsafe_socket_bev_writes_from_four_threads_arrive_in_order(
    base: EventBase, loop_thread: LoopThread, socks: tuple[socket.socket, socket.socket]
) -> None:
    bev = BufferEvent.socket(base, socks[0], BEV_OPT_THREADSAFE)
    loop_thread.start()
    _write_from_threads(bev)
    data = _recv_exactly(socks[1], _expected_length())
    _check_records(data)
    loop_thread.stop()
    bev.free()


@pytest.mark.parametrize("underlying_options", [0, BEV_OPT_THREADSAFE])
@pytest.mark.timeout(60)
def test_given_a_threadsafe_filter_bev_writes_from_four_threads_arrive_in_order(
    base: EventBase,
    loop_thread: LoopThread,
    socks: tuple[socket.socket, socket.socket],
    underlying_options: int,
) -> None:
    under = BufferEvent.socket(base, socks[0], underlying_options)
    bev = BufferEvent.filter(under, None, _swap_filter, BEV_OPT_THREADSAFE)
    loop_thread.start()
    _write_from_threads(bev)
    data = _recv_exactly(socks[1], _expected_length())
    assert b":" not in data  # it went through the output filter
    _check_records(data.translate(_UNSWAP))
    loop_thread.stop()
    bev.free()
    under.free()


def _tls_ends(
    base: EventBase, socks: tuple[socket.socket, socket.socket], kind: str, options: int
) -> tuple[BufferEvent, BufferEvent, BufferEvent | None]:
    """(client, server, the client's underlying bufferevent for ssl_filter, else None)."""
    under: BufferEvent | None = None
    if kind == "ssl_socket":
        client: BufferEvent = ssl_socket(
            base, socks[0], client_context(), BUFFEREVENT_SSL_CONNECTING, options, HOSTNAME
        )
    else:
        under = BufferEvent.socket(base, socks[0])
        client = ssl_filter(
            base, under, client_context(), BUFFEREVENT_SSL_CONNECTING, options, HOSTNAME
        )
    server = ssl_socket(base, socks[1], server_context(), BUFFEREVENT_SSL_ACCEPTING)
    return client, server, under


@pytest.mark.parametrize("kind", ["ssl_socket", "ssl_filter"])
@pytest.mark.timeout(60)
def test_given_a_threadsafe_tls_bev_writes_from_four_threads_arrive_in_order(
    base: EventBase,
    loop_thread: LoopThread,
    socks: tuple[socket.socket, socket.socket],
    kind: str,
) -> None:
    client, server, under = _tls_ends(base, socks, kind, BEV_OPT_THREADSAFE)
    got = bytearray()

    def collect(bev: BufferEvent, arg: Any) -> None:  # runs on the loop thread
        got.extend(bev.input.remove(len(bev.input)))

    server.setcb(collect, None, None)
    server.enable(EV_READ)
    loop_thread.start()
    # The writers start during the handshake: what they queue waits for it.
    _write_from_threads(client)
    _wait_for(lambda: len(got) >= _expected_length())
    loop_thread.stop()
    _check_records(bytes(got))
    client.free()
    server.free()
    if under is not None:
        under.free()


@pytest.mark.timeout(60)
def test_given_a_threadsafe_pair_writes_from_four_threads_arrive_in_order(
    base: EventBase, loop_thread: LoopThread
) -> None:
    a, b = BufferEvent.pair(base, BEV_OPT_THREADSAFE)
    got = bytearray()

    def collect(bev: BufferEvent, arg: Any) -> None:
        got.extend(bev.input.remove(len(bev.input)))

    b.setcb(collect, None, None)
    b.enable(EV_READ)
    loop_thread.start()
    _write_from_threads(a)
    _wait_for(lambda: len(got) >= _expected_length())
    loop_thread.stop()
    _check_records(bytes(got))
    a.free()
    b.free()


# -- bev.lock() from another thread holds the loop's callbacks off ---------------------------


def _assert_lock_holds_callbacks_off(
    lockee: BufferEvent, fired: threading.Event, provoke: Callable[[], object]
) -> None:
    """With ``lockee.lock()`` held here, ``provoke()`` earns a callback that waits for unlock()."""
    lockee.lock()
    try:
        provoke()
        assert not fired.wait(0.3), "a callback ran while another thread held the lock"
    finally:
        lockee.unlock()
    assert fired.wait(10), "the callback did not run after unlock()"


def _on_read(fired: threading.Event) -> Callable[[BufferEvent, Any], None]:
    def readcb(bev: BufferEvent, arg: Any) -> None:
        bev.input.drain(len(bev.input))
        fired.set()

    return readcb


@pytest.mark.timeout(30)
def test_given_another_thread_holds_a_socket_bev_lock_its_read_callback_waits(
    base: EventBase, loop_thread: LoopThread, socks: tuple[socket.socket, socket.socket]
) -> None:
    fired = threading.Event()
    bev = BufferEvent.socket(base, socks[0], BEV_OPT_THREADSAFE)
    bev.setcb(_on_read(fired), None, None)
    bev.enable(EV_READ)
    loop_thread.start()
    _assert_lock_holds_callbacks_off(bev, fired, lambda: socks[1].send(b"ping"))
    loop_thread.stop()
    bev.free()


@pytest.mark.timeout(30)
def test_given_another_thread_holds_a_filter_bev_lock_its_read_callback_waits(
    base: EventBase, loop_thread: LoopThread, socks: tuple[socket.socket, socket.socket]
) -> None:
    fired = threading.Event()
    under = BufferEvent.socket(base, socks[0])
    bev = BufferEvent.filter(under, None, None, BEV_OPT_THREADSAFE)
    bev.setcb(_on_read(fired), None, None)
    bev.enable(EV_READ)
    loop_thread.start()
    _assert_lock_holds_callbacks_off(bev, fired, lambda: socks[1].send(b"ping"))
    # The underlying bufferevent's lock is the same one.
    fired.clear()
    _assert_lock_holds_callbacks_off(under, fired, lambda: socks[1].send(b"pong"))
    loop_thread.stop()
    bev.free()
    under.free()


@pytest.mark.parametrize("kind", ["ssl_socket", "ssl_filter"])
@pytest.mark.timeout(30)
def test_given_another_thread_holds_a_tls_bev_lock_its_read_callback_waits(
    base: EventBase,
    loop_thread: LoopThread,
    socks: tuple[socket.socket, socket.socket],
    kind: str,
) -> None:
    fired = threading.Event()
    connected = threading.Event()

    def on_event(bev: BufferEvent, what: int, arg: Any) -> None:
        if what & BEV_EVENT_CONNECTED:
            connected.set()

    client, server, under = _tls_ends(base, socks, kind, BEV_OPT_THREADSAFE)
    client.setcb(_on_read(fired), None, on_event)
    client.enable(EV_READ)
    loop_thread.start()
    assert connected.wait(10), "no handshake"
    _assert_lock_holds_callbacks_off(client, fired, lambda: server.write(b"ping"))
    loop_thread.stop()
    client.free()
    server.free()
    if under is not None:
        under.free()


@pytest.mark.timeout(30)
def test_given_another_thread_holds_one_pair_end_lock_the_other_ends_callbacks_wait(
    base: EventBase, loop_thread: LoopThread
) -> None:
    fired = threading.Event()
    a, b = BufferEvent.pair(base, BEV_OPT_THREADSAFE)
    b.setcb(_on_read(fired), None, None)
    b.enable(EV_READ)
    loop_thread.start()
    # Writing while holding the lock moves the data at once; b's read callback waits.
    _assert_lock_holds_callbacks_off(a, fired, lambda: a.write(b"ping"))
    loop_thread.stop()
    a.free()
    b.free()


# -- who shares a lock -------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_given_a_threadsafe_pair_both_ends_share_one_lock(base: EventBase) -> None:
    a, b = BufferEvent.pair(base, BEV_OPT_THREADSAFE)
    c, d = BufferEvent.pair(base, BEV_OPT_THREADSAFE)
    assert a._lock is not None and a._lock is b._lock
    assert c._lock is d._lock and c._lock is not a._lock
    # The buffers are locked with it too (evbuffer_enable_locking(buf, bev->lock)).
    assert a.input._lock is a._lock and b.output._lock is a._lock
    # Behaviourally: while one thread holds a's lock, another cannot take b's.
    holding = threading.Event()
    release = threading.Event()
    got_b = threading.Event()

    def holder() -> None:
        a.lock()
        holding.set()
        release.wait(10)
        a.unlock()

    def taker() -> None:
        b.lock()
        got_b.set()
        b.unlock()

    t1 = threading.Thread(target=holder, daemon=True)
    t1.start()
    assert holding.wait(10)
    t2 = threading.Thread(target=taker, daemon=True)
    t2.start()
    assert not got_b.wait(0.3), "b's lock was free while a's was held"
    release.set()
    assert got_b.wait(10)
    t1.join(10)
    t2.join(10)
    a.free()
    b.free()
    c.free()
    d.free()


def test_given_no_threadsafe_option_a_pair_has_no_lock(base: EventBase) -> None:
    a, b = BufferEvent.pair(base)
    assert a._lock is None and b._lock is None
    a.lock()  # no-ops
    a.unlock()
    a.free()
    b.free()


@pytest.mark.parametrize("underlying_options", [0, BEV_OPT_THREADSAFE])
def test_given_a_threadsafe_filter_it_shares_the_lock_of_its_underlying_bev(
    base: EventBase, socks: tuple[socket.socket, socket.socket], underlying_options: int
) -> None:
    under = BufferEvent.socket(base, socks[0], underlying_options)
    before = under._lock
    bev = BufferEvent.filter(under, None, None, BEV_OPT_THREADSAFE)
    assert bev._lock is not None and under._lock is bev._lock
    if before is not None:
        assert bev._lock is before  # libevent: the underlying's lock, when it has one
    assert under.output._lock is bev._lock
    bev.free()
    under.free()


def test_given_a_plain_filter_over_a_threadsafe_bev_only_the_underlying_is_locked(
    base: EventBase, socks: tuple[socket.socket, socket.socket]
) -> None:
    under = BufferEvent.socket(base, socks[0], BEV_OPT_THREADSAFE)
    bev = BufferEvent.filter(under, None, None)
    assert bev._lock is None and under._lock is not None
    bev.free()
    under.free()


@pytest.mark.parametrize("kind", ["ssl_socket", "ssl_filter"])
def test_given_a_threadsafe_tls_bev_it_shares_its_lock_with_the_ciphertext_bev(
    base: EventBase, socks: tuple[socket.socket, socket.socket], kind: str
) -> None:
    client, server, under = _tls_ends(base, socks, kind, BEV_OPT_THREADSAFE)
    inner = under if under is not None else client._underlying  # type: ignore[attr-defined]
    assert client._lock is not None and inner._lock is client._lock
    assert server._lock is None
    client.free()
    server.free()
    if under is not None:
        under.free()
