"""BufferEvents (socket, pair): libevent-reference.md §3.7 behaviours, faults a server meets.

Tests using ``base`` run once per backend. Socket bufferevents run over real
socketpairs and loopback TCP; every loop ends by itself or by a bounded
``loopexit``.
"""

from __future__ import annotations

import errno
import socket
import time
from typing import Any

import pytest
from loop_helpers import run_until as _run_until

import levent
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
    BEV_OPT_THREADSAFE,
    BEV_OPT_UNLOCK_CALLBACKS,
    BEV_TRIG_DEFER_CALLBACKS,
    BEV_TRIG_IGNORE_WATERMARKS,
    EV_READ,
    EV_WRITE,
    EVLOOP_NONBLOCK,
    EVLOOP_ONCE,
    BufferEvent,
    EventBase,
    EventStateError,
    Listener,
)

Trace = list[Any]


def _tracer(trace: Trace, name: str = "") -> tuple[Any, Any, Any]:
    def readcb(bev: BufferEvent, arg: Any) -> None:
        trace.append((name, "read", len(bev.input)))

    def writecb(bev: BufferEvent, arg: Any) -> None:
        trace.append((name, "write", len(bev.output)))

    def eventcb(bev: BufferEvent, what: int, arg: Any) -> None:
        trace.append((name, "event", int(what)))

    return readcb, writecb, eventcb


# -- §3.7 behaviours ------------------------------------------------------------------


def test_given_a_new_socket_bufferevent_write_is_enabled_and_read_is_not(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """#78 (bufferevent/bufferevent): EV_WRITE at first; disable/enable change it."""
    bev = BufferEvent.socket(base, sockpair[0])
    assert bev.enabled == EV_WRITE
    bev.disable(EV_READ)
    assert bev.get_enabled() == EV_WRITE
    bev.enable(EV_READ)
    assert bev.enabled == EV_READ | EV_WRITE
    bev.free()


def test_given_default_watermarks_getwatermark_reports_zero_and_needs_one_direction(
    base: EventBase,
) -> None:
    """#79: low 0 / high 0 per direction; both directions at once is an error."""
    bev = BufferEvent.socket(base, None)
    assert bev.getwatermark(EV_READ) == (0, 0)
    assert bev.getwatermark(EV_WRITE) == (0, 0)
    with pytest.raises(ValueError):
        bev.getwatermark(EV_READ | EV_WRITE)
    bev.setwatermark(EV_READ, 10, 20)
    assert bev.getwatermark(EV_READ) == (10, 20)
    with pytest.raises(ValueError, match="above the high"):
        bev.setwatermark(EV_WRITE, 30, 20)
    assert bev.getwatermark(EV_WRITE) == (0, 0)
    bev.free()


@pytest.mark.parametrize("kind", ["socket", "pair"])
def test_given_read_watermarks_10_20_every_read_callback_sees_10_to_20_bytes(
    base: EventBase, kind: str
) -> None:
    """#80 (bufferevent_watermarks): 65000 bytes arrive, each callback sees [10, 20]."""
    if kind == "socket":
        a, b = socket.socketpair()
        writer = BufferEvent.socket(base, a, BEV_OPT_CLOSE_ON_FREE)
        reader = BufferEvent.socket(base, b, BEV_OPT_CLOSE_ON_FREE)
    else:
        writer, reader = BufferEvent.pair(base)
    seen: list[int] = []
    received = bytearray()
    write_seen: list[int] = []

    def readcb(bev: BufferEvent, arg: Any) -> None:
        seen.append(len(bev.input))
        received.extend(bev.read(len(bev.input)))

    def writecb(bev: BufferEvent, arg: Any) -> None:
        write_seen.append(len(bev.output))

    reader.setcb(readcb, None, None)
    reader.setwatermark(EV_READ, 10, 20)
    reader.enable(EV_READ)
    writer.setcb(None, writecb, None)
    writer.setwatermark(EV_WRITE, 100, 0)
    payload = bytes(range(256)) * 253 + bytes(232)  # 65000 bytes
    writer.write(payload)
    _run_until(base, lambda: len(received) == len(payload))
    assert bytes(received) == payload
    assert seen and all(10 <= n <= 20 for n in seen)
    assert write_seen and all(n <= 100 for n in write_seen)
    writer.free()
    reader.free()


def test_given_the_peer_closes_the_event_is_reading_eof_and_data_comes_first(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """#81: pending input is delivered before READING|EOF, and reading is then disabled."""
    a, b = sockpair
    trace: Trace = []
    bev = BufferEvent.socket(base, a)
    bev.setcb(*_tracer(trace))
    bev.enable(EV_READ)
    b.send(b"last words")
    b.close()
    _run_until(base, lambda: bool(trace) and trace[-1][1] == "event")
    assert trace[0] == ("", "read", 10)
    assert trace[-1] == ("", "event", BEV_EVENT_READING | BEV_EVENT_EOF)
    assert not bev.enabled & EV_READ
    assert bev.read(100) == b"last words"
    bev.free()


@pytest.mark.parametrize("kind", ["socket", "pair"])
def test_given_timeouts_and_no_peer_only_timeout_events_arrive(base: EventBase, kind: str) -> None:
    """#82 (bufferevent_timeout): WRITING|TIMEOUT at ~100 ms, READING|TIMEOUT at ~150 ms."""
    if kind == "socket":
        bev: BufferEvent = BufferEvent.socket(base, None)
        lone: BufferEvent = BufferEvent.socket(base, None)
    else:
        bev = BufferEvent.pair(base)[0]
        lone = BufferEvent.pair(base)[0]
    trace: Trace = []
    start = time.monotonic()

    def eventcb(b: BufferEvent, what: int, name: str) -> None:
        trace.append((name, int(what), time.monotonic() - start))

    bev.setcb(None, None, eventcb, "both")
    bev.set_timeouts(0.15, 0.1)
    bev.write(b"queued")
    bev.enable(EV_READ | EV_WRITE)
    lone.setcb(None, None, eventcb, "lone")
    lone.set_timeouts(None, 0.2)
    lone.enable(EV_WRITE)
    base.loopexit(0.5)
    base.dispatch()
    both = [t for t in trace if t[0] == "both"]
    assert [w for _, w, _ in both] == [
        BEV_EVENT_WRITING | BEV_EVENT_TIMEOUT,
        BEV_EVENT_READING | BEV_EVENT_TIMEOUT,
    ]
    assert 0.08 <= both[0][2] < 0.3 and 0.13 <= both[1][2] < 0.4
    lone_events = [w for name, w, _ in trace if name == "lone"]
    # libevent: a socket bufferevent with only a write timeout times out; a bare pair
    # with nothing queued does not.
    assert lone_events == ([BEV_EVENT_WRITING | BEV_EVENT_TIMEOUT] if kind == "socket" else [])
    bev.free()
    lone.free()


def _closed_port() -> tuple[str, int]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    address = s.getsockname()
    s.close()
    return address


@pytest.mark.parametrize("options", [0, BEV_OPT_DEFER_CALLBACKS])
def test_given_a_connect_to_a_closed_port_only_an_error_event_arrives(
    base: EventBase, options: int
) -> None:
    """#83 (bufferevent_connect_fail): ERROR alone, no CONNECTED, no read/write callbacks."""
    trace: Trace = []
    bev = BufferEvent.socket(base, None, options)
    bev.setcb(*_tracer(trace))
    bev.enable(EV_READ)
    bev.connect(_closed_port())
    _run_until(base, lambda: bool(trace))
    for _ in range(3):
        base.loop(EVLOOP_NONBLOCK)
    assert trace == [("", "event", BEV_EVENT_ERROR)]
    assert isinstance(bev, levent.SocketBufferEvent)
    assert bev.socket_error == errno.ECONNREFUSED
    bev.free()


@pytest.mark.parametrize(
    "options", [0, BEV_OPT_DEFER_CALLBACKS, BEV_OPT_DEFER_CALLBACKS | BEV_OPT_THREADSAFE]
)
def test_given_a_successful_connect_connected_arrives_then_data_flows(
    base: EventBase, options: int
) -> None:
    """#84 (bufferevent_connect*): CONNECTED, deferred or not, locked or not; then an echo."""
    accepted: list[BufferEvent] = []

    def on_accept(lev: Listener, sock: socket.socket, addr: Any, arg: Any) -> None:
        server = BufferEvent.socket(base, sock, BEV_OPT_CLOSE_ON_FREE | options)
        server.setcb(lambda bev, arg: bev.output.add_buffer(bev.input), None, None)
        server.enable(EV_READ)
        accepted.append(server)

    listener = Listener(base, on_accept, None, 0, -1, address=("127.0.0.1", 0))
    trace: Trace = []
    client = BufferEvent.socket(base, None, BEV_OPT_CLOSE_ON_FREE | options)
    readcb, _, eventcb = _tracer(trace)

    def on_event(bev: BufferEvent, what: int, arg: Any) -> None:
        eventcb(bev, what, arg)
        if what & BEV_EVENT_CONNECTED:
            bev.write(b"ping")

    client.setcb(readcb, None, on_event)
    client.enable(EV_READ)
    client.connect(listener.socket.getsockname())
    _run_until(base, lambda: len(client.input) >= 4)
    assert trace[0] == ("", "event", BEV_EVENT_CONNECTED)
    assert client.read(10) == b"ping"
    client.free()
    for server in accepted:
        server.free()
    listener.free()


def test_given_a_read_low_watermark_trigger_honours_it_unless_told_otherwise(
    base: EventBase,
) -> None:
    """#85 (bufferevent_trigger): watermarks apply; IGNORE_WATERMARKS runs it; defer waits."""
    a, b = BufferEvent.pair(base)
    trace: Trace = []
    b.setcb(*_tracer(trace))
    b.enable(EV_READ)
    a.write(b"12345")
    base.loop(EVLOOP_NONBLOCK)
    trace.clear()
    b.setwatermark(EV_READ, 6, 0)
    b.trigger(EV_READ, 0)
    base.loop(EVLOOP_NONBLOCK)
    assert trace == []
    # A pair always defers, so the callback runs from the loop.
    b.trigger(EV_READ, BEV_TRIG_IGNORE_WATERMARKS)
    assert trace == []
    base.loop(EVLOOP_NONBLOCK)
    assert trace == [("", "read", 5)]
    b.trigger_event(0xFF, 0)
    base.loop(EVLOOP_NONBLOCK)
    # Deferred, CONNECTED is reported on its own first, then the rest (libevent's order).
    assert trace[-2:] == [("", "event", 0x80), ("", "event", 0x7F)]
    a.free()
    b.free()


def test_given_a_socket_bufferevent_trigger_runs_at_once_unless_deferred(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """#85: without deferral the callback runs before trigger() returns."""
    bev = BufferEvent.socket(base, sockpair[0])
    trace: Trace = []
    bev.setcb(*_tracer(trace))
    bev.trigger(EV_READ, BEV_TRIG_IGNORE_WATERMARKS)
    assert trace == [("", "read", 0)]
    bev.trigger(EV_WRITE, BEV_TRIG_DEFER_CALLBACKS)
    assert trace == [("", "read", 0)]
    base.loop(EVLOOP_NONBLOCK)
    assert trace[-1] == ("", "write", 0)
    bev.trigger_event(BEV_EVENT_EOF | BEV_EVENT_READING)
    assert trace[-1] == ("", "event", BEV_EVENT_EOF | BEV_EVENT_READING)
    bev.free()


def test_given_a_pair_flush_finished_the_partner_gets_reading_eof(base: EventBase) -> None:
    """#86 (bufferevent_pair_flush): exactly READING|EOF after one EVLOOP_ONCE."""
    a, b = BufferEvent.pair(base)
    trace: Trace = []
    b.setcb(None, None, _tracer(trace)[2])
    a.enable(EV_WRITE)
    b.enable(EV_READ)
    a.flush(EV_WRITE, BEV_FINISHED)
    base.loop(EVLOOP_ONCE)
    assert trace == [("", "event", BEV_EVENT_READING | BEV_EVENT_EOF)]
    a.free()
    b.free()


def test_given_one_end_freed_the_partner_is_unlinked_without_eof(base: EventBase) -> None:
    """#86: get_partner is None after the other end is freed, and no event arrives."""
    a, b = BufferEvent.pair(base)
    assert isinstance(a, levent.PairBufferEvent)
    assert isinstance(b, levent.PairBufferEvent)
    assert a.get_partner() is b and b.get_partner() is a
    trace: Trace = []
    b.setcb(*_tracer(trace))
    b.enable(EV_READ)
    a.free()
    base.loop(EVLOOP_NONBLOCK)
    assert b.get_partner() is None
    assert trace == []
    b.free()


def test_given_a_pair_getfd_is_minus_one_and_nothing_underlies_it(base: EventBase) -> None:
    """#87: a pair has no fd and no underlying bufferevent."""
    a, b = BufferEvent.pair(base)
    assert a.getfd() == -1 and a.get_underlying() is None
    a.free()
    b.free()


def test_given_nine_bytes_read_8_returns_8_and_a_frozen_input_reads_nothing(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """#90 (bufferevent_read_failed): read(8) of 9 → 8; frozen front → b""."""
    a, b = sockpair
    bev = BufferEvent.socket(base, a)
    bev.enable(EV_READ)
    b.send(b"123456789")
    _run_until(base, lambda: len(bev.input) == 9)
    assert bev.read(8) == b"12345678"
    bev.input.freeze(True)
    assert bev.read(8) == b""
    bev.input.unfreeze(True)
    assert bev.read(8) == b"9"
    bev.free()


# -- socket specifics ----------------------------------------------------------------


def test_given_writes_in_one_callback_pass_they_leave_in_one_system_call(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """The deferred flush: many writes in one callback pass, one writev, no EV_WRITE armed."""
    a, b = sockpair
    bev = BufferEvent.socket(base, a)
    trace: Trace = []
    bev.setcb(*_tracer(trace))
    for i in range(100):
        bev.write(b"%03d;" % i)
    assert b.recv(1000, socket.MSG_PEEK) if _readable(b) else True  # nothing sent yet
    base.loop(EVLOOP_NONBLOCK)
    data = b.recv(1000)
    assert data == b"".join(b"%03d;" % i for i in range(100))
    assert trace == [("", "write", 0)]  # the write callback, after the flush
    bev.free()


def _readable(sock: socket.socket) -> bool:
    try:
        sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return False
    raise AssertionError("data left before the flush")


def test_given_a_peer_that_never_reads_the_high_watermark_bounds_memory(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """A read high watermark stops reading at the limit; draining resumes it."""
    a, b = sockpair
    bev = BufferEvent.socket(base, a)
    bev.setwatermark(EV_READ, 0, 4096)
    bev.enable(EV_READ)
    b.sendall(b"x" * 20000)
    for _ in range(20):
        base.loop(EVLOOP_NONBLOCK)
    assert len(bev.input) == 4096
    bev.input.drain(4096)
    total = [4096]
    while total[0] < 20000:
        _run_until(base, lambda: len(bev.input) > 0)
        assert len(bev.input) <= 4096
        total[0] += len(bev.input)
        bev.input.drain(len(bev.input))
    assert total[0] == 20000
    bev.free()


def test_given_a_peer_reset_mid_transfer_the_error_is_reported_and_nothing_escapes(
    base: EventBase,
) -> None:
    """Writing to a peer that reset: WRITING|ERROR (or READING|ERROR/EOF), never an exception."""
    listener_sock = socket.socket()
    listener_sock.bind(("127.0.0.1", 0))
    listener_sock.listen()
    client = socket.create_connection(listener_sock.getsockname())
    server, _ = listener_sock.accept()
    bev = BufferEvent.socket(base, client, BEV_OPT_CLOSE_ON_FREE)
    events: list[int] = []
    bev.setcb(None, None, lambda b, what, arg: events.append(int(what)))
    bev.enable(EV_READ)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    server.close()  # RST
    chunk = b"y" * 65536

    def keep_writing() -> bool:
        if not events:
            bev.write(chunk)
        return bool(events)

    _run_until(base, keep_writing)
    assert events[0] & BEV_EVENT_ERROR or events[0] & BEV_EVENT_EOF
    assert bev.socket_error in (0, errno.ECONNRESET, errno.EPIPE)
    bev.free()
    listener_sock.close()


def test_given_a_half_close_reading_ends_but_writing_goes_on(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """The peer shuts down its write side: we see EOF and can still send it a reply."""
    a, b = sockpair
    bev = BufferEvent.socket(base, a)
    events: list[int] = []

    def on_event(bev: BufferEvent, what: int, arg: Any) -> None:
        events.append(int(what))
        bev.write(b"bye")

    bev.setcb(None, None, on_event)
    bev.enable(EV_READ)
    b.shutdown(socket.SHUT_WR)
    _run_until(base, lambda: bool(events))
    base.loop(EVLOOP_NONBLOCK)
    b.setblocking(True)
    b.settimeout(5)
    assert b.recv(10) == b"bye"
    assert events == [BEV_EVENT_READING | BEV_EVENT_EOF]
    bev.free()


def test_given_connect_hostname_it_resolves_without_blocking_and_connects(
    base: EventBase,
) -> None:
    """connect_hostname("localhost") reaches a loopback listener; a bad name reports ERROR."""
    accepted: list[socket.socket] = []
    listener = Listener(
        base, lambda lev, s, a, arg: accepted.append(s), None, 0, -1, address=("127.0.0.1", 0)
    )
    port = listener.socket.getsockname()[1]
    events: list[int] = []
    bev = BufferEvent.socket(base, None, BEV_OPT_CLOSE_ON_FREE)
    bev.setcb(None, None, lambda b, what, arg: events.append(int(what)))
    assert isinstance(bev, levent.SocketBufferEvent)
    bev.connect_hostname(None, socket.AF_INET, "localhost", port)
    _run_until(base, lambda: bool(events) and bool(accepted))
    assert events == [BEV_EVENT_CONNECTED]
    bad = BufferEvent.socket(base, None)
    assert isinstance(bad, levent.SocketBufferEvent)
    bad_events: list[int] = []
    bad.setcb(None, None, lambda b, what, arg: bad_events.append(int(what)))
    bad.connect_hostname(None, socket.AF_INET, "no-such-host.invalid", port)
    _run_until(base, lambda: bool(bad_events), limit=20.0)
    assert bad_events == [BEV_EVENT_ERROR]
    assert bad.get_dns_error() != 0
    for s in accepted:
        s.close()
    bev.free()
    bad.free()
    listener.free()


def test_given_bad_input_bufferevents_raise_precise_errors(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """Bad options, directions, timeouts, names; use after free: clear exceptions."""
    with pytest.raises(ValueError, match="UNLOCK_CALLBACKS"):
        BufferEvent.socket(base, None, BEV_OPT_UNLOCK_CALLBACKS)
    with pytest.raises(ValueError, match="unknown bufferevent options"):
        BufferEvent.socket(base, None, 0x100)
    with pytest.raises(TypeError):
        BufferEvent.socket(base, "not a socket")
    bev = BufferEvent.socket(base, sockpair[0])
    with pytest.raises(ValueError, match="EV_READ and EV_WRITE"):
        bev.enable(levent.EV_SIGNAL)
    with pytest.raises(ValueError):
        bev.set_timeouts(-1.0, None)
    with pytest.raises(ValueError, match="connect_hostname"):
        bev.connect(("localhost", 80))
    bev.free()
    with pytest.raises(EventStateError):
        bev.write(b"after free")
    with pytest.raises(EventStateError):
        bev.enable(EV_READ)
    bev.free()  # twice is harmless
    assert base.loop(EVLOOP_NONBLOCK) == 1


def test_given_close_on_free_the_socket_closes_and_without_it_stays_open(
    base: EventBase,
) -> None:
    """BEV_OPT_CLOSE_ON_FREE closes the socket (or fd); otherwise the caller keeps it."""
    a, b = socket.socketpair()
    BufferEvent.socket(base, a, BEV_OPT_CLOSE_ON_FREE).free()
    assert a.fileno() == -1
    c, d = socket.socketpair()
    BufferEvent.socket(base, c.fileno()).free()
    c.send(b"still open")  # the fd was not closed by the bufferevent
    assert d.recv(20) == b"still open"
    for s in (b, c, d):
        s.close()


def test_given_deferred_callbacks_connected_comes_before_read(base: EventBase) -> None:
    """With DEFER_CALLBACKS one run reports CONNECTED first, then read (libevent's order)."""
    listener = Listener(
        base,
        lambda lev, s, a, arg: (s.send(b"greeting"), s.close()),
        None,
        0,
        -1,
        address=("127.0.0.1", 0),
    )
    trace: Trace = []
    bev = BufferEvent.socket(base, None, BEV_OPT_DEFER_CALLBACKS | BEV_OPT_CLOSE_ON_FREE)
    bev.setcb(*_tracer(trace))
    bev.enable(EV_READ)
    bev.connect(listener.socket.getsockname())
    _run_until(base, lambda: any(t[1] == "event" and t[2] & BEV_EVENT_EOF for t in trace))
    kinds = [t[1] if t[1] != "event" else t[2] for t in trace]
    assert kinds[0] == BEV_EVENT_CONNECTED
    assert "read" in kinds
    assert kinds.index("read") < kinds.index(BEV_EVENT_READING | BEV_EVENT_EOF)
    bev.free()
    listener.free()


def test_given_a_write_timeout_on_a_stalled_peer_writing_timeout_arrives(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """A peer that never reads: the output stays, and WRITING|TIMEOUT disables writing."""
    a = sockpair[0]
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    bev = BufferEvent.socket(base, a)
    events: list[int] = []
    bev.setcb(None, None, lambda x, what, arg: events.append(int(what)))
    bev.set_timeouts(None, 0.1)
    bev.write(b"z" * (4 << 20))
    _run_until(base, lambda: bool(events))
    base.loop(EVLOOP_NONBLOCK)
    assert events == [BEV_EVENT_WRITING | BEV_EVENT_TIMEOUT]
    assert not bev.enabled & EV_WRITE
    assert len(bev.output) > 0
    bev.free()
