"""Conformance: bufferevent scenarios on the real libevent 2.1 (through ctypes) and on levent.

Each scenario drives a small ``Driver`` — create socket or pair bufferevents,
set callbacks and watermarks, write, drain, trigger, flush, free, run the loop —
and every callback appends to a trace:

* ``("R", name, len(input))`` for a read callback,
* ``("W", name, len(output))`` for a write callback,
* ``("E", name, what, len(input))`` for an event callback,
* ``("mark", label)`` where the scenario marks a point (e.g. "trigger returned",
  which shows whether a callback ran inside the call or was deferred).

The scenario runs once on each library (each gets its own base and its own
socketpairs) and the traces and results must be equal.

No wall-clock races: the loop runs in ``EVLOOP_NONBLOCK`` iterations until a
few consecutive iterations change nothing (no trace entry, no buffer length),
and the only timeouts are single short ones waited for with ``EVLOOP_ONCE``.

One difference is intended (DESIGN.md §3, docs/libevent-mapping.md): levent's
socket bufferevent does not arm ``EV_WRITE`` per write but flushes output with
a deferred ``writev`` once per callback pass, so a write callback may run in an
earlier iteration than libevent's. Traces are therefore compared after both
sides are quiescent, and for socket bufferevents per bufferevent (the order of
one bufferevent's own callbacks), not interleaved across bufferevents. The
other documented difference — libevent reads at most 4096 bytes per ``read``
(``EVBUFFER_MAX_READ``), levent up to 64 KiB — is kept out of the traces by
never leaving more than 4096 bytes pending on a socket without a high
watermark.
"""

from __future__ import annotations

import ctypes
import os
import socket
from collections.abc import Callable
from typing import Any

import pytest
from libevent_ctypes import BEV_DATA_CB, BEV_EVENT_CB, bufferevent_lib, timeval

import levent
from levent.bufferevent import BufferEvent

EV_READ = 0x02
EV_WRITE = 0x04
EVLOOP_ONCE = 0x01
EVLOOP_NONBLOCK = 0x02
BEV_OPT_DEFER_CALLBACKS = 0x04
BEV_EVENT_READING = 0x01
BEV_EVENT_WRITING = 0x02
BEV_EVENT_EOF = 0x10
BEV_EVENT_ERROR = 0x20
BEV_EVENT_TIMEOUT = 0x40
BEV_EVENT_CONNECTED = 0x80
BEV_NORMAL = 0
BEV_FLUSH = 1
BEV_FINISHED = 2
BEV_TRIG_IGNORE_WATERMARKS = 1 << 16
BEV_TRIG_DEFER_CALLBACKS = BEV_OPT_DEFER_CALLBACKS

#: Consecutive NONBLOCK iterations without any change that count as "quiescent".
QUIET_ITERATIONS = 4
#: A scenario that is not quiescent after this many iterations fails.
MAX_ITERATIONS = 20_000
#: A trace longer than this means a callback storm: the loop is broken out of and the test fails
#: (libevent's EVLOOP_NONBLOCK keeps looping while callbacks stay active).
TRACE_LIMIT = 5_000

Trace = list[tuple[Any, ...]]
ReadAction = Callable[["Driver", str], None]
EventAction = Callable[["Driver", str, int], None]
#: A callback slot: None (no callback: NULL), True (traced only) or an action (traced, then run).
Slot = Any


class Driver:
    """What a scenario may do; both libraries implement it. Bufferevents are named."""

    trace: Trace

    def __init__(self) -> None:
        self.trace = []
        self.errors: list[BaseException] = []
        self.names: list[str] = []  # live bufferevents, in creation order
        self._socks: list[socket.socket] = []

    # -- creating ------------------------------------------------------------------

    def pair(self, a: str, b: str, options: int) -> None: ...
    def socket(self, name: str, fd: int, options: int) -> None: ...

    def socketpair(self) -> tuple[int, int]:
        """A fresh non-blocking AF_UNIX socketpair owned by this driver, as two fds."""
        pair = socket.socketpair()
        for s in pair:
            s.setblocking(False)
        self._socks.extend(pair)
        return pair[0].fileno(), pair[1].fileno()

    def link(self, kind: str, options: int) -> None:
        """Two connected bufferevents "a" and "b": a pair, or socket ones on a socketpair."""
        if kind == "pair":
            self.pair("a", "b", options)
        else:
            fa, fb = self.socketpair()
            self.socket("a", fa, options)
            self.socket("b", fb, options)

    # -- the peer end of a raw socketpair ---------------------------------------------

    def peer_send(self, fd: int, data: bytes) -> None:
        assert os.write(fd, data) == len(data)

    def peer_recv(self, fd: int) -> bytes:
        try:
            return os.read(fd, 1 << 20)
        except BlockingIOError:
            return b""

    def peer_close(self, fd: int) -> None:
        for s in self._socks:
            if s.fileno() == fd:
                s.close()
                return
        raise AssertionError(f"fd {fd} is not one of this driver's sockets")

    # -- bufferevent calls --------------------------------------------------------------

    def setcb(
        self, name: str, read: Slot = True, write: Slot = True, event: Slot = True
    ) -> None: ...

    def enable(self, name: str, what: int) -> None: ...
    def disable(self, name: str, what: int) -> None: ...
    def get_enabled(self, name: str) -> int: ...
    def setwatermark(self, name: str, what: int, low: int, high: int) -> None: ...
    def write(self, name: str, data: bytes) -> None: ...
    def read(self, name: str, n: int) -> bytes: ...
    def drain(self, name: str, n: int) -> None: ...
    def input_len(self, name: str) -> int: ...
    def output_len(self, name: str) -> int: ...
    def flush(self, name: str, iotype: int, mode: int) -> int: ...
    def trigger(self, name: str, iotype: int, options: int) -> None: ...
    def trigger_event(self, name: str, what: int, options: int) -> None: ...
    def set_timeouts(self, name: str, tr: float | None, tw: float | None) -> None: ...
    def has_partner(self, name: str) -> bool: ...
    def free(self, name: str) -> None: ...
    def loop(self, flags: int) -> int: ...
    def loopbreak(self) -> None: ...
    def close(self) -> None: ...

    # -- shared machinery ------------------------------------------------------------------

    def mark(self, label: str) -> None:
        self.trace.append(("mark", label))

    def drain_all(self, name: str) -> None:
        self.drain(name, self.input_len(name))

    def _guard(self) -> None:
        if len(self.trace) == TRACE_LIMIT:
            self.errors.append(AssertionError(f"callback storm: {self.trace[-5:]}"))
            self.loopbreak()

    def _run_read(self, name: str, slot: Slot, kind: str) -> None:
        self._guard()
        if len(self.trace) > TRACE_LIMIT:
            return
        try:
            if kind == "R":
                self.trace.append(("R", name, self.input_len(name)))
            else:
                self.trace.append(("W", name, self.output_len(name)))
            if callable(slot):
                slot(self, name)
        except BaseException as exc:  # ctypes would print and swallow it
            self.errors.append(exc)

    def _run_event(self, name: str, slot: Slot, what: int) -> None:
        self._guard()
        if len(self.trace) > TRACE_LIMIT:
            return
        try:
            self.trace.append(("E", name, what & 0xFFFF, self.input_len(name)))
            if callable(slot):
                slot(self, name, what & 0xFFFF)
        except BaseException as exc:
            self.errors.append(exc)

    def check(self) -> None:
        if self.errors:
            raise self.errors[0]

    def _state(self) -> tuple[Any, ...]:
        return (
            len(self.trace),
            tuple((self.input_len(n), self.output_len(n)) for n in self.names),
        )

    def settle(self) -> None:
        """Loop EVLOOP_NONBLOCK until QUIET_ITERATIONS iterations in a row change nothing."""
        quiet = 0
        state = self._state()
        for _ in range(MAX_ITERATIONS):
            self.loop(EVLOOP_NONBLOCK)
            self.check()
            now = self._state()
            if now == state:
                quiet += 1
                if quiet >= QUIET_ITERATIONS:
                    return
            else:
                quiet = 0
                state = now
        raise AssertionError("the bufferevents never became quiescent")

    def release(self) -> None:
        try:
            self.close()
        finally:
            for s in self._socks:
                s.close()


class LeventDriver(Driver):
    def __init__(self) -> None:
        super().__init__()
        cfg = levent.EventConfig()
        cfg.set_flag(levent.EVENT_BASE_FLAG_IGNORE_ENV)
        self.base = levent.EventBase(cfg)
        self.bevs: dict[str, BufferEvent] = {}

        def fail(base: object, source: object, exc: BaseException) -> None:
            self.errors.append(exc)

        self.base.set_error_handler(fail)

    def pair(self, a: str, b: str, options: int) -> None:
        self.bevs[a], self.bevs[b] = BufferEvent.pair(self.base, options)
        self.names += [a, b]

    def socket(self, name: str, fd: int, options: int) -> None:
        self.bevs[name] = BufferEvent.socket(self.base, fd, options)
        self.names.append(name)

    def setcb(self, name: str, read: Slot = True, write: Slot = True, event: Slot = True) -> None:
        def rcb(bev: object, arg: object) -> None:
            self._run_read(name, read, "R")

        def wcb(bev: object, arg: object) -> None:
            self._run_read(name, write, "W")

        def ecb(bev: object, what: int, arg: object) -> None:
            self._run_event(name, event, int(what))

        self.bevs[name].setcb(
            rcb if read is not None else None,
            wcb if write is not None else None,
            ecb if event is not None else None,
        )

    def enable(self, name: str, what: int) -> None:
        self.bevs[name].enable(what)

    def disable(self, name: str, what: int) -> None:
        self.bevs[name].disable(what)

    def get_enabled(self, name: str) -> int:
        return int(self.bevs[name].enabled)

    def setwatermark(self, name: str, what: int, low: int, high: int) -> None:
        self.bevs[name].setwatermark(what, low, high)

    def write(self, name: str, data: bytes) -> None:
        self.bevs[name].write(data)

    def read(self, name: str, n: int) -> bytes:
        return self.bevs[name].read(n)

    def drain(self, name: str, n: int) -> None:
        self.bevs[name].input.drain(n)

    def input_len(self, name: str) -> int:
        return len(self.bevs[name].input)

    def output_len(self, name: str) -> int:
        return len(self.bevs[name].output)

    def flush(self, name: str, iotype: int, mode: int) -> int:
        return self.bevs[name].flush(iotype, mode)

    def trigger(self, name: str, iotype: int, options: int) -> None:
        self.bevs[name].trigger(iotype, options)

    def trigger_event(self, name: str, what: int, options: int) -> None:
        self.bevs[name].trigger_event(what, options)

    def set_timeouts(self, name: str, tr: float | None, tw: float | None) -> None:
        self.bevs[name].set_timeouts(tr, tw)

    def has_partner(self, name: str) -> bool:
        return self.bevs[name].get_partner() is not None  # type: ignore[attr-defined]

    def free(self, name: str) -> None:
        self.bevs.pop(name).free()
        self.names.remove(name)

    def loop(self, flags: int) -> int:
        return self.base.loop(flags)

    def loopbreak(self) -> None:
        self.base.loopbreak()

    def close(self) -> None:
        for bev in self.bevs.values():
            bev.free()
        self.bevs.clear()
        self.base.free()


class CDriver(Driver):
    def __init__(self) -> None:
        super().__init__()
        self.lib = bufferevent_lib()
        self.base = self.lib.event_base_new()
        assert self.base
        self.bevs: dict[str, int] = {}
        self._keep: list[Any] = []  # C callbacks outlive their bufferevents: keep them all

    def pair(self, a: str, b: str, options: int) -> None:
        ends = (ctypes.c_void_p * 2)()
        assert self.lib.bufferevent_pair_new(self.base, options, ends) == 0
        self.bevs[a], self.bevs[b] = ends[0], ends[1]
        self.names += [a, b]

    def socket(self, name: str, fd: int, options: int) -> None:
        bev = self.lib.bufferevent_socket_new(self.base, fd, options)
        assert bev
        self.bevs[name] = bev
        self.names.append(name)

    def setcb(self, name: str, read: Slot = True, write: Slot = True, event: Slot = True) -> None:
        def rcb(bev: int, arg: int) -> None:
            self._run_read(name, read, "R")

        def wcb(bev: int, arg: int) -> None:
            self._run_read(name, write, "W")

        def ecb(bev: int, what: int, arg: int) -> None:
            self._run_event(name, event, what)

        cbs = (
            BEV_DATA_CB(rcb) if read is not None else BEV_DATA_CB(),
            BEV_DATA_CB(wcb) if write is not None else BEV_DATA_CB(),
            BEV_EVENT_CB(ecb) if event is not None else BEV_EVENT_CB(),
        )
        self._keep.append(cbs)
        self.lib.bufferevent_setcb(self.bevs[name], *cbs, None)

    def enable(self, name: str, what: int) -> None:
        assert self.lib.bufferevent_enable(self.bevs[name], what) == 0

    def disable(self, name: str, what: int) -> None:
        assert self.lib.bufferevent_disable(self.bevs[name], what) == 0

    def get_enabled(self, name: str) -> int:
        return int(self.lib.bufferevent_get_enabled(self.bevs[name]))

    def setwatermark(self, name: str, what: int, low: int, high: int) -> None:
        self.lib.bufferevent_setwatermark(self.bevs[name], what, low, high)

    def write(self, name: str, data: bytes) -> None:
        assert self.lib.bufferevent_write(self.bevs[name], data, len(data)) == 0

    def read(self, name: str, n: int) -> bytes:
        out = ctypes.create_string_buffer(max(n, 1))
        got = int(self.lib.bufferevent_read(self.bevs[name], out, n))
        return out.raw[:got]

    def drain(self, name: str, n: int) -> None:
        buf = self.lib.bufferevent_get_input(self.bevs[name])
        assert self.lib.evbuffer_drain(buf, n) == 0

    def input_len(self, name: str) -> int:
        return int(self.lib.evbuffer_get_length(self.lib.bufferevent_get_input(self.bevs[name])))

    def output_len(self, name: str) -> int:
        return int(self.lib.evbuffer_get_length(self.lib.bufferevent_get_output(self.bevs[name])))

    def flush(self, name: str, iotype: int, mode: int) -> int:
        return int(self.lib.bufferevent_flush(self.bevs[name], iotype, mode))

    def trigger(self, name: str, iotype: int, options: int) -> None:
        self.lib.bufferevent_trigger(self.bevs[name], iotype, options)

    def trigger_event(self, name: str, what: int, options: int) -> None:
        self.lib.bufferevent_trigger_event(self.bevs[name], what, options)

    def set_timeouts(self, name: str, tr: float | None, tw: float | None) -> None:
        assert self.lib.bufferevent_set_timeouts(self.bevs[name], timeval(tr), timeval(tw)) == 0

    def has_partner(self, name: str) -> bool:
        return bool(self.lib.bufferevent_pair_get_partner(self.bevs[name]))

    def free(self, name: str) -> None:
        self.lib.bufferevent_free(self.bevs.pop(name))
        self.names.remove(name)

    def loop(self, flags: int) -> int:
        return int(self.lib.event_base_loop(self.base, flags))

    def loopbreak(self) -> None:
        assert self.lib.event_base_loopbreak(self.base) == 0

    def close(self) -> None:
        for bev in self.bevs.values():
            self.lib.bufferevent_free(bev)
        self.bevs.clear()
        self.lib.event_base_free(self.base)


# -- callback actions --------------------------------------------------------------------


def drain_by(n: int) -> ReadAction:
    """A read callback that drains at most ``n`` bytes."""

    def action(d: Driver, name: str) -> None:
        d.drain(name, min(n, d.input_len(name)))

    return action


def drain_all(d: Driver, name: str) -> None:
    d.drain_all(name)


def echo(d: Driver, name: str) -> None:
    """A read callback that writes back everything it received."""
    data = d.read(name, d.input_len(name))
    d.write(name, data)


def lengths(d: Driver) -> dict[str, tuple[int, int, int]]:
    """(input length, output length, enabled) of every live bufferevent."""
    return {n: (d.input_len(n), d.output_len(n), d.get_enabled(n)) for n in d.names}


# -- scenarios on two linked bufferevents "a" and "b" (a pair, or sockets) -------------------
#
# Each takes (driver, kind, options) and returns what must match besides the trace.


def sc_echo(d: Driver, kind: str, opts: int) -> Any:
    """a writes twice; b echoes; a reads. Write callbacks see the drained output."""
    d.link(kind, opts)
    d.setcb("a", read=drain_all)
    d.setcb("b", read=echo)
    d.enable("a", EV_READ)
    d.enable("b", EV_READ)
    d.write("a", b"hello")
    d.settle()
    d.mark("second")
    d.write("a", b"world!")
    d.settle()
    return lengths(d)


def sc_read_watermarks(d: Driver, kind: str, opts: int) -> Any:
    """Read low 10 / high 20 on b, write low 100 on a, 1003 bytes: 20 per read cb, 3 left."""
    d.link(kind, opts)
    d.setcb("a")
    d.setcb("b", read=drain_all)
    d.setwatermark("b", EV_READ, 10, 20)
    d.setwatermark("a", EV_WRITE, 100, 0)
    d.enable("b", EV_READ)
    d.write("a", bytes(1003))
    d.settle()
    return lengths(d)


def sc_read_watermarks_partial_drain(d: Driver, kind: str, opts: int) -> Any:
    """As above, but each read callback drains only 7 bytes."""
    d.link(kind, opts)
    d.setcb("a")
    d.setcb("b", read=drain_by(7))
    d.setwatermark("b", EV_READ, 10, 20)
    d.enable("b", EV_READ)
    d.write("a", bytes(200))
    d.settle()
    return lengths(d)


def sc_write_watermark_refill(d: Driver, kind: str, opts: int) -> Any:
    """Write low 100 on a; its write cb refills 300 bytes 4 times; b reads under high 150."""
    d.link(kind, opts)
    sent = [1]

    def refill(d: Driver, name: str) -> None:
        if sent[0] < 5:
            sent[0] += 1
            d.write(name, bytes(300))

    d.setcb("a", write=refill)
    d.setcb("b", read=drain_all)
    d.setwatermark("a", EV_WRITE, 100, 0)
    d.setwatermark("b", EV_READ, 0, 150)
    d.enable("b", EV_READ)
    d.write("a", bytes(300))
    d.settle()
    return lengths(d), sent[0]


def sc_read_enabled_late(d: Driver, kind: str, opts: int) -> Any:
    """a writes while b does not read; nothing arrives until b enables EV_READ."""
    d.link(kind, opts)
    d.setcb("a")
    d.setcb("b")
    d.write("a", b"x" * 50)
    d.settle()
    d.mark("enable")
    d.enable("b", EV_READ)
    d.mark("enabled")
    d.settle()
    return lengths(d)


def sc_high_watermark_lowered(d: Driver, kind: str, opts: int) -> Any:
    """b holds 15 bytes; high lowered to 10 suspends reading; draining all resumes it."""
    d.link(kind, opts)
    d.setcb("a")
    d.setcb("b", read=drain_by(0))
    d.enable("b", EV_READ)
    d.write("a", b"y" * 15)
    d.settle()
    d.mark("lower")
    d.setwatermark("b", EV_READ, 0, 10)
    d.write("a", b"z" * 10)
    d.settle()
    first = lengths(d)
    d.mark("drain")
    d.setcb("b", read=drain_all)
    d.drain("b", 15)
    d.settle()
    return first, lengths(d)


def sc_above_high_watermark_partial_drain(d: Driver, kind: str, opts: int) -> Any:
    """Input above the high watermark, the read cb drains 5 per call: does it run again?

    libevent 2.1.11+ (bufferevent_inbuf_wm_check, commit 5a455acd) re-triggers the read
    callback, deferred, after each read callback that leaves input >= high with EV_READ
    enabled, so a callback that consumes one message per call does not stall.
    """
    d.link(kind, opts)
    d.setcb("a")
    d.setcb("b", read=drain_by(0))
    d.enable("b", EV_READ)
    d.write("a", b"y" * 30)
    d.settle()
    d.mark("lower")
    d.setwatermark("b", EV_READ, 0, 10)
    d.write("a", b"z" * 10)
    d.settle()
    d.mark("trigger")
    d.setcb("b", read=drain_by(5))
    d.trigger("b", EV_READ, 0)
    d.settle()
    return lengths(d)


def sc_at_high_watermark_no_drain(d: Driver, kind: str, opts: int) -> Any:
    """A read cb that never drains, input at the high watermark (libevent issue #891).

    libevent 2.1.12 calls it again and again (deferred) while input >= high and EV_READ is
    enabled; the callback here disables EV_READ on its third call to end that.
    """
    d.link(kind, opts)
    calls = [0]

    def count(d: Driver, name: str) -> None:
        calls[0] += 1
        if calls[0] == 3:
            d.disable(name, EV_READ)

    d.setcb("a")
    d.setcb("b", read=count)
    d.setwatermark("b", EV_READ, 0, 10)
    d.enable("b", EV_READ)
    d.write("a", b"k" * 25)
    d.settle()
    return lengths(d), calls[0]


def sc_write_disabled(d: Driver, kind: str, opts: int) -> Any:
    """Output written with EV_WRITE disabled stays; enabling sends it and runs the write cb."""
    d.link(kind, opts)
    d.setcb("a")
    d.setcb("b")
    d.enable("b", EV_READ)
    d.disable("a", EV_WRITE)
    d.write("a", b"w" * 40)
    d.settle()
    held = lengths(d)
    d.mark("enable")
    d.enable("a", EV_WRITE)
    d.settle()
    return held, lengths(d)


def _prime_b(d: Driver, kind: str, opts: int, nbytes: int = 5) -> None:
    """Link a and b, and leave ``nbytes`` in b's input (under b's read low watermark 10)."""
    d.link(kind, opts)
    d.setcb("a")
    d.setcb("b")
    d.setwatermark("b", EV_READ, 10, 0)
    d.enable("b", EV_READ)
    d.write("a", b"p" * nbytes)
    d.settle()
    d.mark("primed")


def sc_trigger_read(d: Driver, kind: str, opts: int) -> Any:
    """trigger(EV_READ) below the low watermark: nothing, unless IGNORE_WATERMARKS."""
    _prime_b(d, kind, opts)
    for trig in (
        0,
        BEV_TRIG_IGNORE_WATERMARKS,
        BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS,
        BEV_TRIG_DEFER_CALLBACKS,
    ):
        d.trigger("b", EV_READ, trig)
        d.mark(f"trigger {trig:#x} returned")
        d.settle()
    return lengths(d)


def sc_trigger_write(d: Driver, kind: str, opts: int) -> Any:
    """trigger(EV_WRITE) with output above / below the write low watermark."""
    d.link(kind, opts)
    d.setcb("a")
    d.setcb("b")
    d.disable("a", EV_WRITE)
    d.write("a", b"q" * 150)
    d.setwatermark("a", EV_WRITE, 100, 0)
    ignore = BEV_TRIG_IGNORE_WATERMARKS
    for trig in (0, ignore, ignore | BEV_TRIG_DEFER_CALLBACKS):
        d.trigger("a", EV_WRITE, trig)
        d.mark(f"trigger {trig:#x} returned")
        d.settle()
    d.setwatermark("a", EV_WRITE, 200, 0)
    d.trigger("a", EV_WRITE, 0)
    d.mark("trigger under low returned")
    d.trigger("a", EV_READ | EV_WRITE, BEV_TRIG_DEFER_CALLBACKS)
    d.mark("trigger both deferred returned")
    d.settle()
    return lengths(d)


def sc_trigger_event(d: Driver, kind: str, opts: int) -> Any:
    """trigger_event delivers any ``what``; deferred ones accumulate with OR."""
    d.link(kind, opts)
    d.setcb("a")
    d.setcb("b")
    d.trigger_event("a", BEV_EVENT_READING | BEV_EVENT_ERROR, 0)
    d.mark("plain returned")
    d.settle()
    d.trigger_event("a", 0x7F, BEV_TRIG_IGNORE_WATERMARKS)
    d.mark("ignore-wm returned")
    d.settle()
    d.trigger_event("a", BEV_EVENT_READING, BEV_TRIG_DEFER_CALLBACKS)
    d.trigger_event("a", BEV_EVENT_EOF, BEV_TRIG_DEFER_CALLBACKS)
    d.mark("deferred returned")
    d.settle()
    d.trigger_event("a", 0, 0)
    d.mark("zero returned")
    d.settle()
    d.trigger_event("a", 0, BEV_TRIG_DEFER_CALLBACKS)
    d.mark("zero deferred returned")
    d.settle()
    return lengths(d)


def sc_enable_rw_idle(d: Driver, kind: str, opts: int) -> Any:
    """enable(EV_READ|EV_WRITE) with nothing to write, then an exchange.

    libevent's socket bufferevent adds EV_WRITE on enable even with an empty output, and
    bufferevent_writecb then runs the write callback (``res || !connected``): a socket
    bufferevent gets a write callback with output 0 after each enable(EV_WRITE).
    """
    d.link(kind, opts)
    d.setcb("a")
    d.setcb("b", read=drain_all)
    d.enable("a", EV_READ | EV_WRITE)
    d.enable("b", EV_READ | EV_WRITE)
    d.settle()
    d.mark("write")
    d.write("a", b"idle?")
    d.settle()
    d.mark("re-enable")
    d.enable("a", EV_WRITE)
    d.settle()
    return lengths(d)


def sc_free_in_read_cb(d: Driver, kind: str, opts: int) -> Any:
    """b frees itself from its read callback; nothing of b runs afterwards."""
    d.link(kind, opts)
    d.setcb("a")
    d.setcb("b", read=lambda d, name: d.free(name))
    d.enable("b", EV_READ)
    d.trigger_event("b", BEV_EVENT_ERROR, BEV_TRIG_DEFER_CALLBACKS)
    d.write("a", b"bye")
    d.settle()
    d.write("a", b"more")
    d.settle()
    return lengths(d)


def sc_disable_in_read_cb(d: Driver, kind: str, opts: int) -> Any:
    """b disables EV_READ in its read cb under high 8; the rest waits until re-enabled."""
    d.link(kind, opts)

    def take_and_stop(d: Driver, name: str) -> None:
        d.drain_all(name)
        d.disable(name, EV_READ)

    d.setcb("a")
    d.setcb("b", read=take_and_stop)
    d.setwatermark("b", EV_READ, 0, 8)
    d.enable("b", EV_READ)
    d.write("a", b"s" * 20)
    d.settle()
    held = lengths(d)
    d.mark("re-enable")
    d.enable("b", EV_READ)
    d.settle()
    return held, lengths(d)


def sc_setcb_null_while_pending(d: Driver, kind: str, opts: int) -> Any:
    """A deferred read cb is due when the read cb is removed, then a new one is set.

    libevent clears readcb_pending only when it calls a read callback, so the pending
    read survives the NULL callback and reaches the new one in the next deferred run.
    """
    d.link(kind, opts)
    d.setcb("a")
    d.setcb("b")
    d.trigger("b", EV_READ, BEV_TRIG_DEFER_CALLBACKS)
    d.setcb("b", read=None)
    d.settle()
    d.mark("set again")
    d.setcb("b")
    d.trigger_event("b", BEV_EVENT_EOF, BEV_TRIG_DEFER_CALLBACKS)
    d.settle()
    return lengths(d)


def sc_deferred_order(d: Driver, kind: str, opts: int) -> Any:
    """One deferred run: CONNECTED first, then read, then write, then the other flags."""
    _prime_b(d, kind, opts)
    defer = BEV_TRIG_DEFER_CALLBACKS
    d.trigger_event("b", BEV_EVENT_EOF | BEV_EVENT_CONNECTED | BEV_EVENT_READING, defer)
    d.trigger("b", EV_WRITE, defer)
    d.trigger("b", EV_READ, defer | BEV_TRIG_IGNORE_WATERMARKS)
    d.trigger_event("b", BEV_EVENT_ERROR, defer)
    d.mark("scheduled")
    d.settle()
    return lengths(d)


def sc_null_callbacks(d: Driver, kind: str, opts: int) -> Any:
    """Without a read callback data still arrives; without an event callback nothing breaks."""
    d.link(kind, opts)
    d.setcb("a", read=None, write=None, event=True)
    d.setcb("b", read=None, write=True, event=None)
    d.enable("b", EV_READ)
    d.enable("a", EV_READ)
    d.write("a", b"n" * 30)
    d.write("b", b"m" * 20)
    d.trigger_event("b", BEV_EVENT_ERROR, 0)
    d.settle()
    d.mark("set read cb")
    d.setcb("b", read=drain_all)
    d.write("a", b"o")
    d.settle()
    return lengths(d)


def sc_free_reader_with_pending(d: Driver, kind: str, opts: int) -> Any:
    """b is freed while its read callback is due; later writes by a go nowhere, no events."""
    d.link(kind, opts)
    d.setcb("a")
    d.setcb("b")
    d.enable("a", EV_READ)
    d.enable("b", EV_READ)
    d.write("a", b"f" * 10)
    d.free("b")
    d.mark("freed")
    d.settle()
    d.write("a", b"g" * 10)
    d.settle()
    return lengths(d)


LINK_SCENARIOS: dict[str, Callable[[Driver, str, int], Any]] = {
    "echo": sc_echo,
    "read_watermarks": sc_read_watermarks,
    "read_watermarks_partial_drain": sc_read_watermarks_partial_drain,
    "write_watermark_refill": sc_write_watermark_refill,
    "read_enabled_late": sc_read_enabled_late,
    "high_watermark_lowered": sc_high_watermark_lowered,
    "above_high_watermark_partial_drain": sc_above_high_watermark_partial_drain,
    "at_high_watermark_no_drain": sc_at_high_watermark_no_drain,
    "write_disabled": sc_write_disabled,
    "trigger_read": sc_trigger_read,
    "trigger_write": sc_trigger_write,
    "trigger_event": sc_trigger_event,
    "deferred_order": sc_deferred_order,
    "null_callbacks": sc_null_callbacks,
    "free_reader_with_pending": sc_free_reader_with_pending,
    "enable_rw_idle": sc_enable_rw_idle,
    "free_in_read_cb": sc_free_in_read_cb,
    "disable_in_read_cb": sc_disable_in_read_cb,
    "setcb_null_while_pending": sc_setcb_null_while_pending,
}


# -- socket bufferevents against a raw peer (EOF, errors, timeouts) ------------------------


def _sock_with_peer(d: Driver, opts: int) -> int:
    fd, peer = d.socketpair()
    d.socket("s", fd, opts)
    return peer


def sk_eof_with_data(d: Driver, opts: int) -> Any:
    """The peer sends 10 bytes and closes: read cb sees 10, then READING|EOF, data kept."""
    peer = _sock_with_peer(d, opts)
    d.setcb("s")
    d.peer_send(peer, b"0123456789")
    d.peer_close(peer)
    d.enable("s", EV_READ)
    d.settle()
    return lengths(d), d.read("s", 100)


def sk_eof_high_watermark(d: Driver, opts: int) -> Any:
    """50 bytes then EOF under high 20, draining 7 per read callback."""
    peer = _sock_with_peer(d, opts)
    d.setcb("s", read=drain_by(7))
    d.setwatermark("s", EV_READ, 0, 20)
    d.peer_send(peer, bytes(50))
    d.peer_close(peer)
    d.enable("s", EV_READ)
    d.settle()
    return lengths(d)


def sk_eof_below_low_watermark(d: Driver, opts: int) -> Any:
    """5 bytes under a low watermark of 10, then EOF: no read cb; the event cb sees 5."""
    peer = _sock_with_peer(d, opts)
    d.setcb("s")
    d.setwatermark("s", EV_READ, 10, 0)
    d.peer_send(peer, b"abcde")
    d.peer_close(peer)
    d.enable("s", EV_READ)
    d.settle()
    return lengths(d)


def sk_eof_while_disabled(d: Driver, opts: int) -> Any:
    """EOF while reading is disabled is noticed only once EV_READ is enabled."""
    peer = _sock_with_peer(d, opts)
    d.setcb("s")
    d.peer_send(peer, b"late")
    d.peer_close(peer)
    d.settle()
    d.mark("enable")
    d.enable("s", EV_READ)
    d.settle()
    return lengths(d)


def sk_eof_then_reenable(d: Driver, opts: int) -> Any:
    """After EOF, enabling EV_READ again reports EOF again."""
    peer = _sock_with_peer(d, opts)
    d.setcb("s")
    d.peer_close(peer)
    d.enable("s", EV_READ)
    d.settle()
    d.mark("re-enable")
    d.enable("s", EV_READ)
    d.settle()
    return lengths(d)


def sk_write_to_closed_peer(d: Driver, opts: int) -> Any:
    """Writing to a socket whose peer closed gives WRITING|ERROR and disables EV_WRITE."""
    peer = _sock_with_peer(d, opts)
    d.setcb("s")
    d.peer_close(peer)
    d.write("s", b"into the void")
    d.settle()
    return lengths(d)


def sk_peer_echo(d: Driver, opts: int) -> Any:
    """Writes reach the peer; the write cb runs once the output is empty."""
    peer = _sock_with_peer(d, opts)
    d.setcb("s")
    d.enable("s", EV_READ)
    d.write("s", b"ping")
    d.settle()
    got = d.peer_recv(peer)
    d.peer_send(peer, got.upper())
    d.settle()
    return lengths(d), got


def sk_read_timeout(d: Driver, opts: int) -> Any:
    """A quiet socket with a 20 ms read timeout: READING|TIMEOUT, and EV_READ is disabled."""
    _sock_with_peer(d, opts)
    d.setcb("s")
    d.set_timeouts("s", 0.02, None)
    d.enable("s", EV_READ)
    d.settle()
    d.mark("wait")
    d.loop(EVLOOP_ONCE)
    d.settle()
    return lengths(d)


def sk_read_timeout_reenable(d: Driver, opts: int) -> Any:
    """After READING|TIMEOUT, enabling EV_READ re-arms the timeout; data then resets it."""
    peer = _sock_with_peer(d, opts)
    d.setcb("s", read=drain_all)
    d.set_timeouts("s", 0.02, None)
    d.enable("s", EV_READ)
    d.loop(EVLOOP_ONCE)
    d.settle()
    d.mark("re-enable")
    d.enable("s", EV_READ)
    d.peer_send(peer, b"data")
    d.settle()
    d.mark("wait")
    d.loop(EVLOOP_ONCE)
    d.settle()
    return lengths(d)


def sk_zero_timeouts(d: Driver, opts: int) -> Any:
    """Zero timeouts mean none: nothing fires; data is read as usual."""
    peer = _sock_with_peer(d, opts)
    d.setcb("s")
    d.set_timeouts("s", 0, 0)
    d.enable("s", EV_READ)
    d.write("s", b"out")
    d.settle()
    d.peer_send(peer, b"in")
    d.settle()
    return lengths(d)


def sk_free_with_pending(d: Driver, opts: int) -> Any:
    """A socket bufferevent freed with unread input and unsent output runs no callback."""
    peer = _sock_with_peer(d, opts)
    d.setcb("s")
    d.enable("s", EV_READ)
    d.peer_send(peer, b"unread")
    d.write("s", b"unsent")
    d.free("s")
    d.settle()
    return lengths(d)


SOCKET_SCENARIOS: dict[str, Callable[[Driver, int], Any]] = {
    "eof_with_data": sk_eof_with_data,
    "eof_high_watermark": sk_eof_high_watermark,
    "eof_below_low_watermark": sk_eof_below_low_watermark,
    "eof_while_disabled": sk_eof_while_disabled,
    "eof_then_reenable": sk_eof_then_reenable,
    "write_to_closed_peer": sk_write_to_closed_peer,
    "peer_echo": sk_peer_echo,
    "read_timeout": sk_read_timeout,
    "zero_timeouts": sk_zero_timeouts,
    "read_timeout_reenable": sk_read_timeout_reenable,
    "free_with_pending": sk_free_with_pending,
}


# -- pair-only scenarios: flush, freeing one end, generic timeouts -------------------------------


def pr_flush_modes(d: Driver, opts: int) -> Any:
    """NORMAL does nothing; FLUSH moves data even to a non-reading partner; FINISHED adds EOF."""
    d.pair("a", "b", opts)
    d.setcb("a")
    d.setcb("b")
    d.write("a", b"d" * 30)
    rcs = [d.flush("a", EV_WRITE, BEV_NORMAL)]
    d.settle()
    d.mark("flush")
    rcs.append(d.flush("a", EV_WRITE, BEV_FLUSH))
    d.settle()
    d.mark("finished")
    d.write("a", b"e" * 5)
    rcs.append(d.flush("a", EV_WRITE, BEV_FINISHED))
    d.mark("returned")
    d.settle()
    return rcs, lengths(d)


def pr_flush_finished_once(d: Driver, opts: int) -> Any:
    """libevent's bufferevent_pair_flush test: flush FINISHED, one EVLOOP_ONCE, READING|EOF."""
    d.pair("a", "b", opts)
    d.setcb("a", read=None, write=None, event=True)
    d.setcb("b", read=None, write=None, event=True)
    d.enable("a", EV_WRITE)
    d.enable("b", EV_READ)
    rc = d.flush("a", EV_WRITE, BEV_FINISHED)
    d.loop(EVLOOP_ONCE)
    d.check()
    return rc, lengths(d)


def pr_flush_finished_empty(d: Driver, opts: int) -> Any:
    """flush FINISHED with nothing to move, all callbacks set.

    libevent's be_pair_transfer triggers the partner's read and the writer's write
    callbacks (watermarks permitting) even when it moved 0 bytes.
    """
    d.pair("a", "b", opts)
    d.setcb("a")
    d.setcb("b")
    d.enable("b", EV_READ)
    rc = d.flush("a", EV_WRITE, BEV_FINISHED)
    d.settle()
    return rc, lengths(d)


def pr_flush_read(d: Driver, opts: int) -> Any:
    """flush(a, EV_READ, FINISHED) pulls b's output into a; b gets WRITING|EOF."""
    d.pair("a", "b", opts)
    d.setcb("a")
    d.setcb("b")
    d.write("b", b"r" * 12)
    d.settle()
    rc = d.flush("a", EV_READ, BEV_FINISHED)
    d.settle()
    return rc, lengths(d)


def pr_flush_high_watermark(d: Driver, opts: int) -> Any:
    """flush(BEV_FLUSH) towards a partner with a high read watermark and room below it.

    libevent's be_pair_transfer(ignore_wm=1) moves only the room below the high watermark
    when there is room, and everything only when the partner is already at it.
    """
    d.pair("a", "b", opts)
    d.setcb("a")
    d.setcb("b")
    d.setwatermark("b", EV_READ, 0, 20)
    d.write("a", b"h" * 50)
    rc = d.flush("a", EV_WRITE, BEV_FLUSH)
    d.settle()
    return rc, lengths(d)


def pr_flush_high_watermark_full(d: Driver, opts: int) -> Any:
    """flush(BEV_FLUSH) towards a partner already at its high read watermark.

    b's read cb disables EV_READ, so libevent's re-trigger at the high watermark
    (see sc_at_high_watermark_no_drain) does not storm.
    """
    d.pair("a", "b", opts)
    d.setcb("a")
    d.setcb("b", read=lambda d, name: d.disable(name, EV_READ))
    d.setwatermark("b", EV_READ, 0, 20)
    d.enable("b", EV_READ)
    d.write("a", b"h" * 50)
    d.settle()
    d.mark("flush")
    rc = d.flush("a", EV_WRITE, BEV_FLUSH)
    d.settle()
    return rc, lengths(d)


def pr_free_one_end(d: Driver, opts: int) -> Any:
    """Freeing one end unlinks it: the partner gets no EOF, writes stay in its output."""
    d.pair("a", "b", opts)
    d.setcb("a")
    d.setcb("b")
    d.enable("a", EV_READ)
    d.enable("b", EV_READ)
    d.write("b", b"to a")
    d.settle()
    d.free("b")
    d.mark("freed")
    d.settle()
    partner = d.has_partner("a")
    d.write("a", b"to nobody")
    d.settle()
    return partner, lengths(d)


def pr_free_one_end_flush(d: Driver, opts: int) -> Any:
    """flush on an end whose partner was freed: libevent's be_pair_flush returns -1."""
    d.pair("a", "b", opts)
    d.setcb("a")
    d.free("b")
    d.write("a", b"x")
    rcs = [d.flush("a", EV_WRITE, m) for m in (BEV_NORMAL, BEV_FLUSH, BEV_FINISHED)]
    d.settle()
    return rcs, lengths(d)


def pr_write_timeout(d: Driver, opts: int) -> Any:
    """Output stuck behind a non-reading partner: WRITING|TIMEOUT; an idle end gets none."""
    d.pair("a", "b", opts)
    d.setcb("a")
    d.setcb("b")
    d.write("a", b"stuck")
    d.set_timeouts("a", None, 0.02)
    d.set_timeouts("b", None, 0.01)  # only EV_WRITE enabled and nothing to write: no timeout
    d.settle()
    d.mark("wait")
    d.loop(EVLOOP_ONCE)
    d.settle()
    return lengths(d)


def pr_read_timeout(d: Driver, opts: int) -> Any:
    """A reading end with nothing arriving: READING|TIMEOUT, EV_READ disabled."""
    d.pair("a", "b", opts)
    d.setcb("a")
    d.setcb("b")
    d.enable("b", EV_READ)
    d.set_timeouts("b", 0.02, None)
    d.settle()
    d.mark("wait")
    d.loop(EVLOOP_ONCE)
    d.settle()
    return lengths(d)


PAIR_SCENARIOS: dict[str, Callable[[Driver, int], Any]] = {
    "flush_modes": pr_flush_modes,
    "flush_finished_once": pr_flush_finished_once,
    "flush_finished_empty": pr_flush_finished_empty,
    "flush_read": pr_flush_read,
    "flush_high_watermark": pr_flush_high_watermark,
    "flush_high_watermark_full": pr_flush_high_watermark_full,
    "free_one_end": pr_free_one_end,
    "free_one_end_flush": pr_free_one_end_flush,
    "write_timeout": pr_write_timeout,
    "read_timeout": pr_read_timeout,
}


# -- running and comparing ----------------------------------------------------------------------


def _run(driver: Driver, scenario: Callable[[Driver], Any]) -> tuple[Any, Trace]:
    try:
        result = scenario(driver)
        driver.check()
        return result, list(driver.trace)
    finally:
        driver.release()


def _both(scenario: Callable[[Driver], Any]) -> tuple[tuple[Any, Trace], tuple[Any, Trace]]:
    return _run(CDriver(), scenario), _run(LeventDriver(), scenario)


def _per_bev(trace: Trace) -> list[Any]:
    """The trace cut at marks, and within each stretch each bufferevent's own entries."""
    stretches: list[Any] = []
    current: dict[str, list[Any]] = {}
    for entry in trace:
        if entry[0] == "mark":
            stretches.append(current)
            stretches.append(entry)
            current = {}
        else:
            current.setdefault(entry[1], []).append(entry)
    stretches.append(current)
    return stretches


OPTIONS = {"plain": 0, "defer": BEV_OPT_DEFER_CALLBACKS}


@pytest.mark.parametrize("opts", sorted(OPTIONS))
@pytest.mark.parametrize("name", sorted(LINK_SCENARIOS))
def test_given_pair_scenario_levent_matches_libevent(name: str, opts: str) -> None:
    """Pairs: the whole interleaved trace must be equal (no kernel, no write-timing freedom)."""
    (c_result, c_trace), (py_result, py_trace) = _both(
        lambda d: LINK_SCENARIOS[name](d, "pair", OPTIONS[opts])
    )
    assert py_trace == c_trace
    assert py_result == c_result


@pytest.mark.parametrize("opts", sorted(OPTIONS))
@pytest.mark.parametrize("name", sorted(LINK_SCENARIOS))
def test_given_socket_scenario_levent_matches_libevent(name: str, opts: str) -> None:
    """Socket bufferevents on a socketpair: each bufferevent's own callback order must be equal."""
    (c_result, c_trace), (py_result, py_trace) = _both(
        lambda d: LINK_SCENARIOS[name](d, "sock", OPTIONS[opts])
    )
    assert _per_bev(py_trace) == _per_bev(c_trace)
    assert py_result == c_result


@pytest.mark.parametrize("opts", sorted(OPTIONS))
@pytest.mark.parametrize("name", sorted(SOCKET_SCENARIOS))
def test_given_raw_peer_scenario_levent_matches_libevent(name: str, opts: str) -> None:
    """One socket bufferevent against a raw socket end (EOF, errors, timeouts)."""
    (c_result, c_trace), (py_result, py_trace) = _both(
        lambda d: SOCKET_SCENARIOS[name](d, OPTIONS[opts])
    )
    assert py_trace == c_trace
    assert py_result == c_result


@pytest.mark.parametrize("opts", sorted(OPTIONS))
@pytest.mark.parametrize("name", sorted(PAIR_SCENARIOS))
def test_given_pair_only_scenario_levent_matches_libevent(name: str, opts: str) -> None:
    """Pair flush modes, freeing one end, generic timeouts."""
    (c_result, c_trace), (py_result, py_trace) = _both(
        lambda d: PAIR_SCENARIOS[name](d, OPTIONS[opts])
    )
    assert py_trace == c_trace
    assert py_result == c_result
