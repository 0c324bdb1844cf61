"""Filtering bufferevents: libevent-reference.md §2.13, behaviours 87-89, and the zlib example.

Tests using ``base`` run once per backend. Filters sit over socket bufferevents
on real socketpairs and over pair ends; every loop ends by itself or by a
guard timer (``_run_until``).
"""

from __future__ import annotations

import socket
import time
import zlib
from typing import Any

import pytest
from loop_helpers import run_until as _run_until
from loop_helpers import spin as _spin

from levent import (
    BEV_ERROR,
    BEV_EVENT_EOF,
    BEV_EVENT_ERROR,
    BEV_EVENT_READING,
    BEV_EVENT_TIMEOUT,
    BEV_EVENT_WRITING,
    BEV_FINISHED,
    BEV_FLUSH,
    BEV_NEED_MORE,
    BEV_NORMAL,
    BEV_OK,
    BEV_OPT_CLOSE_ON_FREE,
    BEV_OPT_DEFER_CALLBACKS,
    EV_READ,
    EV_WRITE,
    BufferEvent,
    Evbuffer,
    EventBase,
    EventStateError,
)
from levent.bufferevent.filter import FilterBufferEvent
from levent.bufferevent.zlib_filter import ZlibCompressor, ZlibDecompressor, zlib_filter

Trace = list[Any]


def _two_ends(base: EventBase, kind: str, options: int = 0) -> tuple[BufferEvent, BufferEvent]:
    """Two connected bufferevents: a socketpair's two sockets, or a pair."""
    if kind == "socket":
        a, b = socket.socketpair()
        return (
            BufferEvent.socket(base, a, BEV_OPT_CLOSE_ON_FREE | options),
            BufferEvent.socket(base, b, BEV_OPT_CLOSE_ON_FREE | options),
        )
    return BufferEvent.pair(base, options)


def x_prefix(src: Evbuffer, dst: Evbuffer, limit: int, mode: int, ctx: Any) -> int:
    """Output filter of regress_bufferevent.c: an 'x' before every byte."""
    data = src.remove(len(src))
    out = bytearray(2 * len(data))
    out[0::2] = b"x" * len(data)
    out[1::2] = data
    dst.add(bytes(out))
    return BEV_OK


def x_strip(src: Evbuffer, dst: Evbuffer, limit: int, mode: int, ctx: Any) -> int:
    """Input filter of regress_bufferevent.c: drop every 'x', keep the byte after it."""
    data = src.remove(len(src) - len(src) % 2)
    assert set(data[0::2]) <= {ord("x")}
    dst.add(data[1::2])
    return BEV_OK


PAYLOAD = bytes(i % 256 for i in range(8333))


# -- behaviour 87 -----------------------------------------------------------------------


def test_given_a_filter_get_underlying_is_the_wrapped_bev_and_getfd_its_fd(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """#87 (bufferevent_filters): get_underlying returns the wrapped bev, getfd its fd."""
    sock_bev = BufferEvent.socket(base, sockpair[0])
    filt = FilterBufferEvent(sock_bev, None, None)
    assert filt.get_underlying() is sock_bev
    assert filt.getfd() == sockpair[0].fileno()
    assert filt.enabled == EV_WRITE  # a new bufferevent: EV_WRITE only
    assert sock_bev.enabled == EV_READ | EV_WRITE  # the filter enables both underneath
    end, _partner = BufferEvent.pair(base)
    over_pair = FilterBufferEvent(end, None, None)
    assert over_pair.get_underlying() is end and over_pair.getfd() == -1
    assert sock_bev.get_underlying() is None
    for bev in (filt, sock_bev, over_pair, end, _partner):
        bev.free()


# -- behaviour 88 -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["socket", "pair"])
def test_given_x_prefix_and_strip_filters_8333_bytes_arrive_intact(
    base: EventBase, kind: str
) -> None:
    """#88 (bufferevent_filters): the output filter doubles the bytes, the input one undoes it."""
    raw1, raw2 = _two_ends(base, kind)
    bev1 = FilterBufferEvent(raw1, None, x_prefix, BEV_OPT_CLOSE_ON_FREE)
    bev2 = FilterBufferEvent(raw2, x_strip, None, BEV_OPT_CLOSE_ON_FREE)
    received = bytearray()
    writes: list[int] = []
    wire = [0]

    def readcb(bev: BufferEvent, arg: Any) -> None:
        received.extend(bev.read(len(bev.input)))

    def writecb(bev: BufferEvent, arg: Any) -> None:
        writes.append(len(bev.output))

    def errorcb(bev: BufferEvent, what: int, arg: Any) -> None:
        raise AssertionError(f"unexpected event {what:#x}")

    bev1.setcb(None, writecb, errorcb)
    bev2.setcb(readcb, None, errorcb)
    bev1.disable(EV_READ)
    bev2.enable(EV_READ)
    bev1.write(PAYLOAD)
    assert writes == []  # the write callback never runs inside write()
    wire[0] = len(raw1.output)
    _run_until(base, lambda: len(received) == len(PAYLOAD))
    assert bytes(received) == PAYLOAD
    assert writes and writes[0] == 0
    if kind == "socket":
        assert wire[0] == 2 * len(PAYLOAD)  # filtered straight into the underlying output
    bev1.free()
    bev2.free()


@pytest.mark.parametrize("kind", ["socket", "pair"])
def test_given_a_write_from_inside_the_output_filter_the_filter_is_not_reentered(
    base: EventBase, kind: str
) -> None:
    """#88 (bufferevent_filters_disable): a write to the filter bev inside its filter waits."""
    raw1, raw2 = _two_ends(base, kind)
    depth = [0, 0]  # current, deepest
    calls: list[int] = []
    me: list[BufferEvent] = []

    def reentrant(src: Evbuffer, dst: Evbuffer, limit: int, mode: int, ctx: Any) -> int:
        depth[0] += 1
        depth[1] = max(depth)
        calls.append(len(src))
        x_prefix(src, dst, limit, mode, ctx)
        if len(calls) == 1:
            me[0].write(b"-")  # must not call this filter again from here
            assert len(calls) == 1
        depth[0] -= 1
        return BEV_OK

    bev1 = FilterBufferEvent(raw1, None, reentrant, BEV_OPT_CLOSE_ON_FREE)
    me.append(bev1)
    bev2 = FilterBufferEvent(raw2, x_strip, None, BEV_OPT_CLOSE_ON_FREE)
    received = bytearray()
    bev2.setcb(lambda bev, arg: received.extend(bev.read(len(bev.input))), None, None)
    bev2.enable(EV_READ)
    bev1.write(PAYLOAD)
    # The byte written from inside was filtered by the same loop, right after.
    assert calls == [len(PAYLOAD), 1] and depth[1] == 1
    _run_until(base, lambda: len(received) == len(PAYLOAD) + 1)
    assert bytes(received) == PAYLOAD + b"-"
    bev1.free()
    bev2.free()


# -- behaviour 89 -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["pair", "socket"])
def test_given_a_header_filter_and_4096_watermarks_all_4116_bytes_reach_the_reader(
    base: EventBase, kind: str
) -> None:
    """#89 (bufferevent_filter_data_stuck): nothing stays stuck below the high watermark."""
    options = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS
    writer, reader = _two_ends(base, kind, options)
    writer.setwatermark(EV_READ, 0, 4096)
    reader.setwatermark(EV_READ, 0, 4096)
    state = {"header": False, "total": 0, "max_seen": 0}

    def header_filter(src: Evbuffer, dst: Evbuffer, limit: int, mode: int, ctx: Any) -> int:
        header = 0
        if not ctx["header"]:
            dst.add(bytes(20))
            ctx["header"] = True
            header = 20
        n = len(src)
        if limit >= 0 and n > limit - header:
            n = limit - header
        assert src.remove_buffer(dst, n) == n
        return BEV_OK

    def readcb(bev: BufferEvent, ctx: Any) -> None:
        n = len(bev.input)
        ctx["max_seen"] = max(ctx["max_seen"], n)
        bev.input.drain(n)
        ctx["total"] += n

    filt = FilterBufferEvent(reader, header_filter, None, options, None, state)
    filt.setcb(readcb, None, None, state)
    filt.enable(EV_READ | EV_WRITE)
    filt.setwatermark(EV_READ, 0, 4096)
    writer.write(bytes(4096))
    _run_until(base, lambda: state["total"] == 4116)
    _spin(base)
    assert state["total"] == 4116 and state["max_seen"] <= 4096
    writer.free()
    filt.free()


def test_given_a_full_filter_input_the_underlying_socket_stops_reading(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """Backpressure: at the filter's high watermark the underlying bev is suspended."""
    under = BufferEvent.socket(base, sockpair[0])
    filt = FilterBufferEvent(under, None, None)
    filt.setwatermark(EV_READ, 0, 4096)
    filt.enable(EV_READ)
    blob = bytes(range(256)) * 1024  # 256 KiB
    sent = sockpair[1].send(blob)
    _run_until(base, lambda: len(filt.input) == 4096)
    _spin(base, 10)
    assert len(filt.input) == 4096
    held = len(under.input)
    assert held < sent - 4096  # the rest stays in the kernel, not in our memory
    got = bytearray()

    def readcb(bev: BufferEvent, arg: Any) -> None:
        got.extend(bev.read(len(bev.input)))

    filt.setcb(readcb, None, None)
    got.extend(filt.read(4096))  # draining resumes it
    _run_until(base, lambda: len(got) == sent)
    assert bytes(got) == blob[:sent]
    filt.free()
    under.free()


def test_given_reading_is_reenabled_what_waited_underneath_is_delivered(
    base: EventBase,
) -> None:
    """Input left underneath while EV_READ was off arrives after enable (from the loop)."""
    a, b = BufferEvent.pair(base)
    b.enable(EV_READ)
    a.write(b"early bird")
    _spin(base)
    assert bytes(b.input) == b"early bird"
    filt = FilterBufferEvent(b, None, None)
    got = bytearray()
    filt.setcb(lambda bev, arg: got.extend(bev.read(100)), None, None)
    filt.enable(EV_READ)
    assert got == b""  # not inside enable()
    _run_until(base, lambda: bytes(got) == b"early bird")
    filt.free()
    a.free()
    b.free()


# -- results, flush modes, events ---------------------------------------------------------------


def test_given_bev_error_results_the_event_callback_gets_reading_or_writing_error(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """BEV_ERROR disables the direction and reports READING|ERROR / WRITING|ERROR."""

    def broken(src: Evbuffer, dst: Evbuffer, limit: int, mode: int, ctx: Any) -> int:
        return BEV_ERROR

    under = BufferEvent.socket(base, sockpair[0])
    filt = FilterBufferEvent(under, broken, broken)
    events: list[int] = []
    filt.setcb(None, None, lambda bev, what, arg: events.append(int(what)))
    filt.enable(EV_READ)
    filt.write(b"doomed")
    assert events == []  # reported from the loop, not inside write()
    _run_until(base, lambda: bool(events))
    assert events == [BEV_EVENT_WRITING | BEV_EVENT_ERROR]
    assert filt.enabled == EV_READ and bytes(filt.output) == b"doomed"
    sockpair[1].send(b"garbage")
    _run_until(base, lambda: len(events) == 2)
    assert events[1] == BEV_EVENT_READING | BEV_EVENT_ERROR
    assert filt.enabled == 0
    filt.enable(EV_WRITE)
    assert filt.flush(EV_WRITE, BEV_FLUSH) == -1
    filt.free()
    under.free()


def test_given_flush_modes_the_filters_see_them_and_flush_reports_progress(
    base: EventBase,
) -> None:
    """flush(NORMAL) with nothing queued calls nothing; FLUSH / FINISHED always call the filter."""
    a, b = BufferEvent.pair(base)
    modes: list[tuple[str, int, int]] = []

    def recorder(name: str) -> Any:
        def fn(src: Evbuffer, dst: Evbuffer, limit: int, mode: int, ctx: Any) -> int:
            modes.append((name, mode, len(src)))
            if not len(src):
                return BEV_NEED_MORE
            src.remove_buffer(dst, len(src))
            return BEV_OK

        return fn

    fa = FilterBufferEvent(a, recorder("in"), recorder("out"))
    fb = FilterBufferEvent(b, None, None)
    trace: Trace = []
    fb.setcb(None, None, lambda bev, what, arg: trace.append(int(what)))
    fb.enable(EV_READ)
    assert fa.flush(EV_WRITE, BEV_NORMAL) == 0 and modes == []
    assert fa.flush(EV_WRITE, BEV_FLUSH) == 0 and modes == [("out", BEV_FLUSH, 0)]
    fa.disable(EV_WRITE)
    fa.write(b"held")
    assert len(fa.output) == 4  # EV_WRITE is off: nothing filtered
    assert fa.flush(EV_WRITE, BEV_FLUSH) == 1 and modes[-1] == ("out", BEV_FLUSH, 4)
    assert fa.flush(EV_READ, BEV_FINISHED) == 0 and modes[-1] == ("in", BEV_FINISHED, 0)
    _run_until(base, lambda: bool(trace))  # the pair's partner: no more input coming for us
    assert trace == [BEV_EVENT_WRITING | BEV_EVENT_EOF]
    del trace[:]
    # FINISHED on the write side flushes the pair underneath: its partner hears EOF,
    # and the filter over the partner forwards it.
    fa.enable(EV_WRITE)
    assert fa.flush(EV_WRITE, BEV_FINISHED) == 0
    _run_until(base, lambda: bool(trace))
    assert trace == [BEV_EVENT_READING | BEV_EVENT_EOF]
    assert bytes(fb.input) == b"held"
    with pytest.raises(ValueError):
        fa.flush(EV_WRITE, 7)
    for bev in (fa, fb, a, b):
        bev.free()


def test_given_the_peer_closes_eof_reaches_the_filters_event_callback(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """Underlying events are forwarded unchanged: READING|EOF after the last data."""
    under = BufferEvent.socket(base, sockpair[0])
    filt = FilterBufferEvent(under, x_strip, None)
    trace: Trace = []
    filt.setcb(
        lambda bev, arg: trace.append(("read", bev.read(100))),
        None,
        lambda bev, what, arg: trace.append(("event", int(what))),
    )
    filt.enable(EV_READ)
    sockpair[1].send(b"xbxyxe")
    sockpair[1].close()
    _run_until(base, lambda: bool(trace) and trace[-1][0] == "event")
    assert trace == [("read", b"bye"), ("event", BEV_EVENT_READING | BEV_EVENT_EOF)]
    filt.free()
    under.free()


def test_given_timeouts_a_filter_times_out_like_libevents_generic_timers(
    base: EventBase,
) -> None:
    """#82 (bufferevent_timeout_filter): WRITING|TIMEOUT ~100 ms, READING|TIMEOUT ~150 ms;
    an idle filter with only EV_WRITE and a 200 ms write timeout also times out."""
    a, _peer = BufferEvent.pair(base)  # the peer never reads: output stalls
    c, _peer2 = BufferEvent.pair(base)
    busy = FilterBufferEvent(a, None, None, BEV_OPT_CLOSE_ON_FREE)
    idle = FilterBufferEvent(c, None, None, BEV_OPT_CLOSE_ON_FREE)
    trace: Trace = []
    start = time.monotonic()

    def eventcb(bev: BufferEvent, what: int, name: str) -> None:
        trace.append((name, int(what), time.monotonic() - start))

    busy.setcb(None, None, eventcb, "busy")
    busy.set_timeouts(0.15, 0.1)
    busy.write(b"ABCDEFG")
    busy.enable(EV_READ | EV_WRITE)
    idle.setcb(None, None, eventcb, "idle")
    idle.disable(EV_READ)
    idle.set_timeouts(0.1, 0.2)
    idle.enable(EV_WRITE)
    _run_until(base, lambda: len(trace) == 3)
    _spin(base)
    names = [(n, w) for n, w, _ in trace]
    assert names == [
        ("busy", BEV_EVENT_WRITING | BEV_EVENT_TIMEOUT),
        ("busy", BEV_EVENT_READING | BEV_EVENT_TIMEOUT),
        ("idle", BEV_EVENT_WRITING | BEV_EVENT_TIMEOUT),
    ]
    assert 0.08 <= trace[0][2] < 0.5 and 0.13 <= trace[1][2] < 0.5 and trace[2][2] >= 0.18
    assert busy.enabled == 0 and idle.enabled == 0
    for bev in (busy, idle, _peer, _peer2):
        bev.free()


# -- lifetime -------------------------------------------------------------------------


def test_given_close_on_free_the_underlying_is_freed_and_without_it_handed_back(
    base: EventBase,
) -> None:
    """CLOSE_ON_FREE frees the underlying bev (which closes its socket if it has
    CLOSE_ON_FREE itself, as in libevent); free_context runs once."""
    a, b = socket.socketpair()
    under = BufferEvent.socket(base, a, BEV_OPT_CLOSE_ON_FREE)
    freed: list[Any] = []
    filt = FilterBufferEvent(under, None, None, BEV_OPT_CLOSE_ON_FREE, freed.append, "ctx")
    assert filt.context == "ctx"
    filt.free()
    assert under.freed and a.fileno() == -1
    assert freed == ["ctx"]
    filt.free()  # twice is harmless
    assert freed == ["ctx"]
    b.close()

    c, d = socket.socketpair()
    under2 = BufferEvent.socket(base, c)
    keep = FilterBufferEvent(under2, None, None)
    keep.enable(EV_READ)
    keep.free()
    assert not under2.freed and c.fileno() >= 0
    assert under2.getcb() == (None, None, None, None)
    got = bytearray()
    under2.setcb(lambda bev, arg: got.extend(bev.read(100)), None, None)
    under2.enable(EV_READ)
    d.send(b"still mine")
    _run_until(base, lambda: bytes(got) == b"still mine")  # reading was unsuspended
    under2.free()
    c.close()
    d.close()


def test_given_finished_then_drained_the_peer_gets_the_whole_stream_before_free(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """The documented way around libevent #616: flush FINISHED, wait for the
    underlying output to drain, then free."""
    under = BufferEvent.socket(base, sockpair[0], BEV_OPT_CLOSE_ON_FREE)
    comp = ZlibCompressor()
    filt = FilterBufferEvent(under, None, comp, BEV_OPT_CLOSE_ON_FREE)
    filt.write(b"the end " * 100)
    assert filt.flush(EV_WRITE, BEV_FINISHED) == 1 and comp.finished
    _run_until(base, lambda: len(under.output) == 0)
    filt.free()
    wire = bytearray()
    while chunk := sockpair[1].recv(65536):
        wire.extend(chunk)
    d = zlib.decompressobj()
    assert d.decompress(bytes(wire)) == b"the end " * 100 and d.eof


# -- pass-through and bad input ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["socket", "pair"])
def test_given_no_filters_bytes_pass_through_both_ways(base: EventBase, kind: str) -> None:
    """None filters move bytes unchanged, in both directions."""
    raw1, raw2 = _two_ends(base, kind)
    f1 = FilterBufferEvent(raw1, None, None, BEV_OPT_CLOSE_ON_FREE)
    f2 = FilterBufferEvent(raw2, None, None, BEV_OPT_CLOSE_ON_FREE)
    got1, got2 = bytearray(), bytearray()
    f1.setcb(lambda bev, arg: got1.extend(bev.read(1 << 20)), None, None)
    f2.setcb(lambda bev, arg: got2.extend(bev.read(1 << 20)), None, None)
    f1.enable(EV_READ)
    f2.enable(EV_READ)
    f1.write(b"ping")
    f2.write(b"pong")
    _run_until(base, lambda: got1 == b"pong" and got2 == b"ping")
    f1.free()
    f2.free()


def test_given_bad_input_filters_raise_precise_errors_and_the_loop_goes_on(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """Non-callable filters, a non-bufferevent, a freed one, a bad filter result."""
    under = BufferEvent.socket(base, sockpair[0])
    with pytest.raises(TypeError, match="input_filter"):
        FilterBufferEvent(under, "strip", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="output_filter"):
        FilterBufferEvent(under, None, 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="free_context"):
        FilterBufferEvent(under, None, None, 0, "nope")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="BufferEvent"):
        FilterBufferEvent(sockpair[0], None, None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        FilterBufferEvent(under, None, None, 0x100)
    assert under.getcb() == (None, None, None, None)  # failed constructions took nothing

    def sloppy(src: Evbuffer, dst: Evbuffer, limit: int, mode: int, ctx: Any) -> Any:
        src.remove_buffer(dst, len(src))
        return None

    filt = FilterBufferEvent(under, None, sloppy)
    with pytest.raises(TypeError, match="BEV_OK, BEV_NEED_MORE or BEV_ERROR"):
        filt.write(b"data")
    with pytest.raises(TypeError):  # raised again: the re-entry guard was reset
        filt.write(b"more")
    filt.free()
    with pytest.raises(EventStateError):
        filt.write(b"after free")
    done = BufferEvent.socket(base, None)
    done.free()
    with pytest.raises(EventStateError):
        FilterBufferEvent(done, None, None)
    under.free()


def test_given_a_filter_that_claims_progress_but_makes_none_it_is_not_spun(
    base: EventBase,
) -> None:
    """BEV_OK with nothing consumed or produced ends the pass instead of looping forever."""
    a, b = BufferEvent.pair(base)
    calls = [0]

    def liar(src: Evbuffer, dst: Evbuffer, limit: int, mode: int, ctx: Any) -> int:
        calls[0] += 1
        return BEV_OK

    fb = FilterBufferEvent(b, liar, None)
    fb.enable(EV_READ)
    a.write(b"stuck")
    _spin(base)
    assert 1 <= calls[0] <= 3 and len(b.input) == 5
    fb.free()
    a.free()
    b.free()


# -- zlib -----------------------------------------------------------------------------


class _Counting:
    """Wraps an input filter and counts the bytes it took off the wire."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.wire = 0

    def __call__(self, src: Evbuffer, dst: Evbuffer, limit: int, mode: int, ctx: Any) -> int:
        before = len(src)
        res: int = self.inner(src, dst, limit, mode, ctx)
        self.wire += before - len(src)
        return res


@pytest.mark.parametrize("kind", ["socket", "pair"])
def test_given_zlib_filters_on_both_ends_1_mib_arrives_intact_in_few_bytes(
    base: EventBase, kind: str
) -> None:
    """The zlib example: 1 MiB of compressible text, intact, in a fraction of the bytes."""
    raw1, raw2 = _two_ends(base, kind)
    sender = zlib_filter(raw1, BEV_OPT_CLOSE_ON_FREE)
    counter = _Counting(ZlibDecompressor())
    receiver = FilterBufferEvent(raw2, counter, ZlibCompressor(), BEV_OPT_CLOSE_ON_FREE)
    line = b"levent is libevent, rebuilt in Python; filters stack on bufferevents.\n"
    payload = (line * (1 + (1 << 20) // len(line)))[: 1 << 20]
    got = bytearray()
    receiver.setcb(lambda bev, arg: got.extend(bev.read(1 << 20)), None, None)
    receiver.enable(EV_READ)
    for i in range(0, len(payload), 16384):  # one Z_SYNC_FLUSH per write
        sender.write(payload[i : i + 16384])
    _run_until(base, lambda: len(got) == len(payload))
    assert bytes(got) == payload
    assert counter.wire < len(payload) // 20
    sender.flush(EV_WRITE, BEV_FINISHED)
    _run_until(base, lambda: counter.inner.eof)
    sender.free()
    receiver.free()


def test_given_a_zip_bomb_the_decompressor_respects_the_high_watermark(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """4 MiB of zeros compress to a few KiB; the reader never sees more than its 4096 limit."""
    under = BufferEvent.socket(base, sockpair[0])
    filt = FilterBufferEvent(under, ZlibDecompressor(), None)
    filt.setwatermark(EV_READ, 0, 4096)
    seen: list[int] = []
    total = [0]

    def readcb(bev: BufferEvent, arg: Any) -> None:
        seen.append(len(bev.input))
        total[0] += len(bev.read(len(bev.input)))

    filt.setcb(readcb, None, None)
    filt.enable(EV_READ)
    c = zlib.compressobj()
    bomb = c.compress(bytes(4 << 20)) + c.flush(zlib.Z_FINISH)
    assert len(bomb) < 8192
    sockpair[1].send(bomb)
    _run_until(base, lambda: total[0] == 4 << 20)
    assert max(seen) <= 4096
    filt.free()
    under.free()


def test_given_corrupt_compressed_data_the_reader_gets_reading_error(
    base: EventBase, sockpair: tuple[socket.socket, socket.socket]
) -> None:
    """zlib.error inside the decompressor is BEV_ERROR: READING|ERROR, reading disabled."""
    under = BufferEvent.socket(base, sockpair[0])
    filt = zlib_filter(under)
    events: list[int] = []
    filt.setcb(None, None, lambda bev, what, arg: events.append(int(what)))
    filt.enable(EV_READ)
    sockpair[1].send(b"this is not a zlib stream at all")
    _run_until(base, lambda: bool(events))
    assert events == [BEV_EVENT_READING | BEV_EVENT_ERROR]
    assert not filt.enabled & EV_READ
    filt.free()
    under.free()


def test_given_no_timeouts_a_filter_creates_no_timers_and_creates_them_on_first_use(
    base: EventBase,
) -> None:
    """Generic timeouts (core.GenericTimeoutBufferEvent): timers made lazily, freed at the end."""
    a, peer = BufferEvent.pair(base)
    filt = FilterBufferEvent(a, None, None, BEV_OPT_CLOSE_ON_FREE)
    filt.enable(EV_READ | EV_WRITE)
    filt.write(b"data")
    _spin(base)
    assert filt._timer_read is None and filt._timer_write is None
    filt.set_timeouts(5.0, None)
    assert filt._timer_read is not None and filt._timer_write is None
    filt.free()
    assert filt._timer_read is None  # freed with the bufferevent
    peer.free()


def test_given_a_filter_read_timeout_fired_enabling_reading_again_restarts_it(
    base: EventBase,
) -> None:
    """bufferevent_generic_read_timeout_cb: READING|TIMEOUT disables EV_READ; enable re-arms."""
    a, peer = BufferEvent.pair(base)
    filt = FilterBufferEvent(a, None, None, BEV_OPT_CLOSE_ON_FREE)
    events: list[int] = []
    filt.setcb(None, None, lambda bev, what, arg: events.append(int(what)))
    filt.set_timeouts(0.05, None)
    filt.enable(EV_READ)
    _run_until(base, lambda: len(events) == 1)
    assert events == [BEV_EVENT_READING | BEV_EVENT_TIMEOUT]
    assert not filt.enabled & EV_READ
    filt.enable(EV_READ)
    _run_until(base, lambda: len(events) == 2)
    assert events[1] == BEV_EVENT_READING | BEV_EVENT_TIMEOUT
    filt.free()
    peer.free()
