"""libevent-reference.md §3.2-3.4 behaviours, one test each, on every backend.

Timing tolerances follow libevent's regress tests (about ±50 ms) and are kept
wide enough for a loaded two-core machine.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from typing import Any

import pytest

import levent
from levent import (
    EV_PERSIST,
    EV_READ,
    EV_SIGNAL,
    EV_TIMEOUT,
    EV_WRITE,
    EVENT_BASE_COUNT_ACTIVE,
    EVENT_BASE_COUNT_ADDED,
    EVENT_BASE_FLAG_NO_CACHE_TIME,
    EVLOOP_NONBLOCK,
    EVLOOP_ONCE,
    Event,
    EventBase,
    EventConfig,
)


def _noop(*args: Any) -> None:
    pass


@pytest.fixture
def base() -> Any:
    b = EventBase()

    def fail(base: EventBase, source: object, exc: BaseException) -> None:
        raise exc

    b.set_error_handler(fail)
    yield b
    b.free()


def test_17_given_remove_timer_the_io_part_stays_and_no_timeout_fires(base: EventBase) -> None:
    """T: main/event_remove_timeout: data at 40 ms gives EV_READ, never EV_TIMEOUT."""
    a, b = socket.socketpair()
    a.setblocking(False)
    seen: list[int] = []
    try:
        ev = Event(
            base, a, EV_READ | EV_PERSIST, lambda fd, what, arg: (seen.append(what), a.recv(9))
        )
        ev.add(0.075)
        Event.timer(base, lambda *x: ev.remove_timer()).add(0.025)
        Event.timer(base, lambda *x: b.send(b"x")).add(0.040)
        base.loopexit(0.2)
        base.dispatch()
        assert seen == [EV_READ]
        assert ev.pending(EV_TIMEOUT) == 0
    finally:
        a.close()
        b.close()


def test_19_given_a_missed_period_a_persistent_timer_runs_once(base: EventBase) -> None:
    """T: main/persistent_timeout_jump: 100 ms timer, 300 ms sleep, 50 ms loopexit: one call."""
    calls: list[int] = []
    Event(base, -1, EV_PERSIST, lambda fd, what, arg: calls.append(what)).add(0.1)
    time.sleep(0.3)
    base.loopexit(0.05)
    base.dispatch()
    assert calls == [EV_TIMEOUT]


def test_20_given_a_manual_activation_the_persistent_period_restarts(base: EventBase) -> None:
    """T: main/persistent_active_timeout: calls at ~100 (READ), ~300, ~500 ms (TIMEOUT)."""
    start = time.monotonic()
    calls: list[tuple[float, int]] = []
    ev = Event(
        base, -1, EV_PERSIST, lambda fd, what, arg: calls.append((time.monotonic() - start, what))
    )
    ev.add(0.2)
    Event.timer(base, lambda *x: ev.active(EV_READ)).add(0.1)
    base.loopexit(0.55)
    base.dispatch()
    assert [what for _, what in calls] == [EV_READ, EV_TIMEOUT, EV_TIMEOUT]
    assert [t for t, _ in calls] == pytest.approx([0.1, 0.3, 0.5], abs=0.08)


def test_24_given_once_variants_each_runs_exactly_once(base: EventBase) -> None:
    """T: main/event_once: fd + EV_READ, 50 ms, None and zero timeouts; 0 events is refused."""
    a, b = socket.socketpair()
    a.setblocking(False)
    b.send(b"x")
    got: list[str] = []
    try:
        base.once(a, EV_READ, lambda fd, what, arg: got.append(f"read:{what}"))
        base.once(-1, EV_TIMEOUT, lambda fd, what, arg: got.append("50ms"), None, 0.05)
        base.once(-1, EV_TIMEOUT, lambda fd, what, arg: got.append("none"), None, None)
        base.once(-1, EV_TIMEOUT, lambda fd, what, arg: got.append("zero"), None, 0)
        with pytest.raises(ValueError):
            base.once(-1, 0, _noop)
        assert base.dispatch() == 1
        assert sorted(got) == sorted(["read:2", "50ms", "none", "zero"])
        assert got.index("none") < got.index("50ms")
    finally:
        a.close()
        b.close()


def test_24b_given_a_long_once_and_a_short_loopexit_the_once_never_runs(base: EventBase) -> None:
    """T: main/event_once_never."""
    got: list[int] = []
    base.once(-1, EV_TIMEOUT, lambda *x: got.append(1), None, 10)
    base.loopexit(0.075)
    base.dispatch()
    assert got == []


def test_25_given_self_arg_the_callback_gets_the_event_and_it_is_running(base: EventBase) -> None:
    """T: main/event_new_selfarg."""
    seen: list[Any] = []
    ev = Event(
        base, -1, 0, lambda fd, what, arg: seen.append((arg, base.get_running_event())), levent.SELF
    )
    ev.active(EV_READ)
    base.dispatch()
    assert seen == [(ev, ev)]


def test_29_given_a_500ms_timeout_pending_reports_its_wall_clock_expiry(base: EventBase) -> None:
    """T: main/event_pending and timer_timeout: the deadline is now + 500 ms, never later."""
    ev = Event.timer(base, _noop)
    before = time.time()
    ev.add(0.5)
    expiry = ev.pending_timeout()
    assert expiry is not None and before + 0.45 < expiry < time.time() + 0.5 + 0.001
    assert ev.pending(EV_TIMEOUT) == EV_TIMEOUT
    r = Event(base, -1, EV_READ, _noop)
    r.add()
    assert r.pending(EV_READ | EV_WRITE) == EV_READ
    assert r.pending(EV_TIMEOUT) == 0
    for _ in range(1000):
        t = Event.timer(base, _noop)
        t.add(0.0001)
        remaining = t.pending_timeout()
        assert remaining is not None and remaining - time.time() <= 0.0001 + 0.001


def test_31_given_active_by_fd_only_matching_pending_events_fire(base: EventBase) -> None:
    """T: main/active_by_fd."""
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    got: list[tuple[str, int]] = []
    try:
        Event(base, a, EV_WRITE, lambda fd, what, arg: got.append(("w0", what))).add()
        Event(base, a, EV_READ, lambda fd, what, arg: got.append(("r0", what))).add()
        Event(base, c, EV_READ, lambda fd, what, arg: got.append(("r1", what))).add()
        Event(base, c, EV_READ, lambda fd, what, arg: got.append(("r1t", what))).add(10)
        sig = Event.signal(base, signal.SIGHUP, lambda fd, what, arg: got.append(("hup", what)))
        sig.add()
        base.active_by_fd(a.fileno(), EV_WRITE)
        base.active_by_fd(c.fileno(), EV_READ)
        base.active_by_fd(c.fileno(), EV_TIMEOUT)
        base.active_by_signal(signal.SIGHUP)
        for junk in (999, -1):
            base.active_by_fd(junk, EV_READ)
        base.active_by_signal(1000)
        base.active_by_signal(-1)
        base.loop(EVLOOP_ONCE | EVLOOP_NONBLOCK)
        assert sorted(got) == sorted(
            [("w0", EV_WRITE), ("r1", EV_READ), ("r1t", EV_READ | EV_TIMEOUT), ("hup", EV_SIGNAL)]
        )
        sig.delete()
    finally:
        for s in (a, b, c, d):
            s.close()


def test_32_given_events_foreach_visits_each_once_and_stops_on_nonzero(base: EventBase) -> None:
    """T: main/event_foreach."""
    evs = [Event(base, -1, EV_READ, _noop) for _ in range(5)]
    for ev in evs[:3]:
        ev.add(10)
    evs[0].active(EV_READ)
    evs[4].active(EV_READ)
    seen: list[Event] = []
    assert base.foreach_event(lambda b, ev, arg: seen.append(ev)) == 0
    user = [ev for ev in seen if ev in evs]
    assert sorted(map(id, user)) == sorted(map(id, [evs[0], evs[1], evs[2], evs[4]]))
    assert base.foreach_event(lambda b, ev, arg: 101) == 101


def test_33_given_one_pass_the_cached_time_is_identical_in_each_callback() -> None:
    """T: main/gettimeofday_cached, _sleep, _reset, _disabled."""

    def run(cfg: EventConfig | None, update: bool) -> list[float]:
        with EventBase(cfg) as b:
            times: list[float] = []

            def cb(fd: int, what: int, arg: Any) -> None:
                times.append(b.gettimeofday_cached())
                time.sleep(0.03)
                if update:
                    b.update_cache_time()

            for _ in range(3):
                Event.timer(b, cb).add(0)
            b.dispatch()
            return times

    cached = run(None, False)
    assert cached[0] == cached[1] == cached[2]
    for times in (run(None, True), run(_no_cache(), False)):
        assert times[1] - times[0] > 0.01 and times[2] - times[1] > 0.01
    with EventBase() as idle:
        assert abs(idle.gettimeofday_cached() - time.time()) < 0.01


def _no_cache() -> EventConfig:
    cfg = EventConfig()
    cfg.set_flag(EVENT_BASE_FLAG_NO_CACHE_TIME)
    return cfg


def test_34_given_an_fdless_read_event_with_a_timeout_counts_are_per_membership(
    base: EventBase,
) -> None:
    """T: main/event_base_get_num_events."""
    ev = Event(base, -1, EV_READ, _noop)
    ev.add(1.0)
    assert base.get_num_events(EVENT_BASE_COUNT_ADDED) == 2
    assert base.get_num_events(EVENT_BASE_COUNT_ACTIVE) == 0
    ev.active(EV_READ)
    assert base.get_num_events(EVENT_BASE_COUNT_ACTIVE) == 1
    assert base.get_num_events(EVENT_BASE_COUNT_ADDED) == 3
    assert base.get_num_events(EVENT_BASE_COUNT_ACTIVE | EVENT_BASE_COUNT_ADDED) == 4
    base.loop(EVLOOP_NONBLOCK)
    assert base.get_num_events(EVENT_BASE_COUNT_ACTIVE | EVENT_BASE_COUNT_ADDED) == 0
    assert base.get_max_events(EVENT_BASE_COUNT_ADDED, clear=True) == 3
    assert base.get_max_events(EVENT_BASE_COUNT_ADDED) == 0


def test_35_given_an_event_get_assignment_returns_what_was_given(base: EventBase) -> None:
    """T: main/get_assignment."""

    def cb(fd: int, what: int, arg: Any) -> None:
        pass

    ev = Event(base, 7, EV_READ | EV_PERSIST, cb, "arg")
    assert ev.get_assignment() == (base, 7, EV_READ | EV_PERSIST, cb, "arg")
    assert (ev.fd, ev.events, ev.callback, ev.arg, ev.base) == (
        7,
        EV_READ | EV_PERSIST,
        cb,
        "arg",
        base,
    )


def test_40_given_finalizers_each_runs_once_and_active_callbacks_do_not(base: EventBase) -> None:
    """T: finalize/*: 100 events added, active or idle; every finalizer runs exactly once."""
    called: list[int] = []
    finalized: list[int] = []
    evs = [Event(base, -1, 0, lambda fd, what, i: called.append(i), i) for i in range(100)]
    for i, ev in enumerate(evs):
        if i % 3 == 0:
            ev.add(10)
        elif i % 3 == 1:
            ev.active(EV_READ)
        ev.free_finalize(lambda e, i: finalized.append(i))
        with pytest.raises(levent.EventStateError):
            ev.add()
        ev.delete()  # a no-op while finalizing
    base.dispatch()
    assert sorted(finalized) == list(range(100))
    assert called == []
    assert not any(ev.initialized for ev in evs)


def test_44_given_common_timeouts_equal_durations_share_one_handle(base: EventBase) -> None:
    """T: main/common_timeout: tv_sec/tv_usec encoding, same pointer for the same duration."""
    t100 = base.init_common_timeout(0.1)
    t200 = base.init_common_timeout(0.2)
    t5 = base.init_common_timeout(5)
    assert (t100.tv_sec, t100.tv_usec) == (0, 100000 | 0x50000000)
    assert (t200.tv_sec, t200.tv_usec) == (0, 200000 | 0x50100000)
    assert (t5.tv_sec, t5.tv_usec) == (5, 0 | 0x50200000)
    assert base.init_common_timeout(0.2) is t200
    assert base.init_common_timeout(t200) is t200
    assert base.init_common_timeout(5.0) is t5


def test_given_a_persistent_io_event_on_a_common_timeout_it_stays_off_the_heap(
    base: EventBase,
) -> None:
    """After each activation a persistent event is re-armed with its interval: one that
    was a common timeout must go back to its O(1) queue, not into the timer heap (the
    compiled build once unboxed the interval into a plain float)."""
    ct = base.init_common_timeout(5.0)
    a, b = socket.socketpair()
    seen: list[int] = []
    ev = Event(base, a, EV_READ | EV_PERSIST, lambda fd, what, arg: seen.append(a.recv(10)[0]))
    ev.add(ct)
    for i in range(3):
        b.send(bytes([i]))
        base.loop(EVLOOP_ONCE)
        # The heap holds the queue's own timer, never the event itself.
        assert ev not in list(base._timers.events())
    assert seen == [0, 1, 2]
    ev.delete()
    a.close()
    b.close()


def test_given_io_on_a_persistent_common_timeout_event_the_timeout_counts_from_the_last_io(
    base: EventBase,
) -> None:
    """An inactivity timeout restarted by I/O moves the deadline in place: the queue
    holds one entry however much I/O there is, pending() reports the moved deadline,
    and the timeout fires one interval after the last I/O, not after the first add."""
    ct = base.init_common_timeout(0.3)
    a, b = socket.socketpair()
    fired: list[tuple[int, float]] = []

    def on_event(fd: int, what: int, arg: Any) -> None:
        if what & EV_READ:
            a.recv(10)
        fired.append((what, time.monotonic()))

    ev = Event(base, a, EV_READ | EV_PERSIST, on_event)
    ev.add(ct)
    queue = ct.queue
    start = time.monotonic()
    for _ in range(5):
        b.send(b"x")
        base.loop(EVLOOP_ONCE)
        time.sleep(0.05)
    last_io = fired[-1][1]
    assert len(queue.entries) == 1
    pending = ev.pending(EV_TIMEOUT)
    assert pending
    assert ev._deadline > start + 0.3
    base.loopexit(2.0)
    while not any(what & EV_TIMEOUT for what, _ in fired):
        assert base.loop(EVLOOP_ONCE) == 0
    when = next(t for what, t in fired if what & EV_TIMEOUT)
    assert when - last_io >= 0.3 - 0.01
    assert when - last_io < 0.3 + 0.25
    ev.delete()
    a.close()
    b.close()


def test_45_given_persistent_events_on_common_timeouts_they_fire_on_schedule(
    base: EventBase,
) -> None:
    """T: main/common_timeout: 100 ms and 200 ms queues, re-added across heap and common."""
    t100 = base.init_common_timeout(0.1)
    t200 = base.init_common_timeout(0.2)
    counts = [0] * 20
    evs = [
        Event(base, -1, EV_PERSIST, lambda fd, what, i: counts.__setitem__(i, counts[i] + 1), i)
        for i in range(20)
    ]
    for i, ev in enumerate(evs):
        ev.add(t100 if i < 10 else t200)
    evs[0].add(0.1)  # common -> heap
    evs[10].add(t200)  # common -> common
    evs[11].add(0.2)
    evs[11].add(t200)  # heap -> common
    base.loopexit(0.85)
    base.dispatch()
    # 8 and 4 periods fit in 850 ms; a loaded machine may skip a late period
    # (missed periods are never replayed), so allow a little less.
    assert all(6 <= c <= 8 for c in counts[:10])
    assert all(3 <= c <= 4 for c in counts[10:])


def test_53_given_a_signal_re_raised_in_its_callback_all_deliveries_precede_the_timer(
    base: EventBase,
) -> None:
    """T: signal/signal_while_processing: 5 deliveries before a pending 5 s timer."""
    calls: list[int] = []

    def on_signal(fd: int, what: int, arg: Any) -> None:
        calls.append(fd)
        if len(calls) < 5:
            os.kill(os.getpid(), signal.SIGUSR1)
        else:
            base.loopexit()

    sig = Event.signal(base, signal.SIGUSR1, on_signal)
    sig.add()
    Event.timer(base, lambda *x: calls.append(-1)).add(5)
    os.kill(os.getpid(), signal.SIGUSR1)
    base.dispatch()
    assert calls == [signal.SIGUSR1] * 5
    sig.delete()


def test_58_given_the_version_its_number_encodes_major_minor_patch() -> None:
    """T: main/version: the top three bytes are major, minor and patch of the version string."""
    major, minor, patch = (int(part) for part in levent.get_version().split("-")[0].split("."))
    number = levent.get_version_number()
    assert (number >> 24, (number >> 16) & 0xFF, (number >> 8) & 0xFF) == (major, minor, patch)
    assert number == levent.LIBEVENT_VERSION_NUMBER
