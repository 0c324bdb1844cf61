"""Prepare and check watchers (libevent 2.2's evwatch, regress_watch.c), on every backend."""

from __future__ import annotations

import time
from typing import Any

import pytest

import levent
from levent import EV_PERSIST, EV_READ, EVLOOP_NONBLOCK, EVLOOP_ONCE, Event, EventBase, Watch
from levent.errors import EventStateError


def test_given_both_watchers_prepare_runs_before_the_wait_and_check_after(
    base: EventBase,
) -> None:
    """The order of one iteration: prepare, wait, check, then the expired timer's callback."""
    trace: list[str] = []
    Watch.prepare(base, lambda w, info, arg: trace.append("prepare"))
    Watch.check(base, lambda w, info, arg: trace.append("check"))
    Event.timer(base, lambda fd, what, arg: trace.append("timer")).add(0.01)
    base.dispatch()
    assert trace[-3:] == ["prepare", "check", "timer"]
    assert trace[0] == "prepare"


def test_given_a_pending_timer_prepare_learns_the_wait_timeout(base: EventBase) -> None:
    """``evwatch_prepare_get_timeout``: the time to the next timer; None when unbounded."""
    seen: list[float | None] = []
    Watch.prepare(base, lambda w, info, arg: seen.append(info.get_timeout()))
    Event.timer(base, lambda fd, what, arg: None).add(0.2)
    later = Event.timer(base, lambda fd, what, arg: None)
    later.add(30.0)  # keeps the loop from ending empty
    base.loop(EVLOOP_ONCE)
    assert seen[0] is not None and 0.1 < seen[0] <= 0.2
    base.loop(EVLOOP_NONBLOCK)
    assert seen[-1] == 0.0
    later.delete()


def test_given_only_fd_events_the_prepare_timeout_is_none(base: EventBase) -> None:
    """No timer pending and not NONBLOCK: the wait is unbounded (get_timeout → 0 in C)."""
    import socket

    a, b = socket.socketpair()
    a.setblocking(False)
    seen: list[float | None] = []

    def on_prepare(w: Watch, info: Any, arg: Any) -> None:
        seen.append(info.timeout)
        b.send(b"x")  # wake the wait we are about to enter

    Watch.prepare(base, on_prepare)
    ev = Event(base, a, EV_READ | EV_PERSIST, lambda fd, what, arg: a.recv(10))
    ev.add()
    base.loop(EVLOOP_ONCE)
    assert seen[0] is None
    ev.free()
    a.close()
    b.close()


def test_given_watchers_of_one_kind_they_run_in_registration_order(base: EventBase) -> None:
    """Registration order; a watcher freed inside its callback never runs again."""
    trace: list[str] = []

    def first(w: Watch, info: Any, arg: Any) -> None:
        trace.append("first")
        w.free()
        w.free()  # twice is harmless

    Watch.prepare(base, first)
    Watch.prepare(base, lambda w, info, name: trace.append(name), "second")
    keepalive = Event.timer(base, lambda fd, what, arg: None)
    keepalive.add(30.0)
    base.loop(EVLOOP_NONBLOCK)
    base.loop(EVLOOP_NONBLOCK)
    assert trace == ["first", "second", "second"]
    keepalive.delete()


def test_given_a_prepare_watcher_activating_an_event_the_loop_does_not_sleep(
    base: EventBase,
) -> None:
    """Work queued by a prepare watcher runs at once, not after the computed wait."""
    ran: list[float] = []
    target = Event.timer(base, lambda fd, what, arg: ran.append(time.monotonic()))

    def on_prepare(w: Watch, info: Any, arg: Any) -> None:
        if not ran and not target.pending(levent.EV_TIMEOUT):
            target.active(levent.EV_TIMEOUT)

    Watch.prepare(base, on_prepare)
    keepalive = Event.timer(base, lambda fd, what, arg: None)
    keepalive.add(10.0)
    start = time.monotonic()
    base.loop(EVLOOP_ONCE)
    assert ran and ran[0] - start < 2.0
    keepalive.delete()


def test_given_a_raising_watcher_it_is_reported_and_the_loop_goes_on() -> None:
    """An exception in a watcher reaches the error handler; the iteration continues."""
    with EventBase() as base:
        reported: list[BaseException] = []
        base.set_error_handler(lambda b, source, exc: reported.append(exc))

        def boom(w: Watch, info: Any, arg: Any) -> None:
            raise RuntimeError("watcher")

        Watch.check(base, boom)
        fired: list[int] = []
        Event.timer(base, lambda fd, what, arg: fired.append(what)).add(0.0)
        base.dispatch()
        assert fired and [type(e) for e in reported] == [RuntimeError]


def test_given_the_base_freed_its_watchers_are_freed(base: EventBase) -> None:
    """``event_base_free`` frees the remaining watchers; they then refuse ``base``."""
    other = EventBase()
    watch = Watch.check(other, lambda w, info, arg: None)
    assert watch.base is other and watch.kind == "check"
    other.free()
    with pytest.raises(EventStateError):
        watch.base  # noqa: B018 - the property raises
    watch.free()
    with pytest.raises(EventStateError):
        Watch.prepare(other, lambda w, info, arg: None)


def test_given_bad_arguments_watch_says_what_is_wrong(base: EventBase) -> None:
    """A non-callable callback or an unknown kind: precise exceptions."""
    with pytest.raises(TypeError, match="callable"):
        Watch.prepare(base, "nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kind"):
        Watch(base, 7, lambda w, info, arg: None)
