"""Reactor behaviours that need the OS: signals, fork, threads, backends, bad input.

Written once and run on every backend this OS offers (epoll, poll, select here),
as libevent runs its regress suite once per backend. The callback-order
behaviours are compared with the real libevent in test_conformance_core.py.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import levent
from levent import (
    EV_CLOSED,
    EV_ET,
    EV_PERSIST,
    EV_READ,
    EV_SIGNAL,
    EV_TIMEOUT,
    EV_WRITE,
    EVENT_BASE_FLAG_IGNORE_ENV,
    EVLOOP_NO_EXIT_ON_EMPTY,
    EVLOOP_NONBLOCK,
    EVLOOP_ONCE,
    Event,
    EventBase,
    EventConfig,
)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


def test_given_an_empty_base_loop_returns_1_at_once(base: EventBase) -> None:
    """Given no events, loop() returns 1 with and without EVLOOP_NONBLOCK (§3.1 #1)."""
    assert base.loop() == 1
    assert base.loop(EVLOOP_NONBLOCK) == 1


def test_given_loopexit_300ms_and_a_long_timer_dispatch_returns_after_300ms(
    base: EventBase,
) -> None:
    """T: main/loopexit."""
    Event.timer(base, lambda *a: None).add(3600)
    start = time.monotonic()
    base.loopexit(0.3)
    assert base.dispatch() == 0
    assert 0.25 <= time.monotonic() - start < 1.5
    assert base.got_exit() and not base.got_break()


def test_given_a_signal_two_events_both_run_once_per_delivery(base: EventBase) -> None:
    """T: signal/multiplesignal, immediatesignal: raised before the loop, delivered by it."""
    seen: list[tuple[str, int, int]] = []
    a = Event.signal(base, signal.SIGUSR1, lambda fd, what, arg: seen.append(("a", fd, what)))
    b = Event.signal(base, signal.SIGUSR1, lambda fd, what, arg: seen.append(("b", fd, what)))
    a.add()
    b.add()
    os.kill(os.getpid(), signal.SIGUSR1)
    base.loop(EVLOOP_NONBLOCK)
    assert sorted(seen) == [("a", signal.SIGUSR1, EV_SIGNAL), ("b", signal.SIGUSR1, EV_SIGNAL)]
    a.delete()
    b.delete()


def test_given_the_last_signal_event_deleted_the_previous_handler_returns(
    base: EventBase,
) -> None:
    """T: signal/signal_restore."""
    hits: list[int] = []
    previous = signal.signal(signal.SIGUSR2, lambda s, f: hits.append(s))
    try:
        ev = Event.signal(base, signal.SIGUSR2, lambda *a: None)
        ev.add()
        ev.delete()
        os.kill(os.getpid(), signal.SIGUSR2)
        time.sleep(0.01)
        assert hits == [signal.SIGUSR2]
    finally:
        signal.signal(signal.SIGUSR2, previous)


def test_given_a_signal_callback_deleting_itself_it_runs_once(base: EventBase) -> None:
    """T: signal/signal_free_in_callback: two deliveries pending, one callback."""
    calls: list[int] = []

    def cb(fd: int, what: int, ev: Event) -> None:
        calls.append(fd)
        ev.delete()

    Event(base, signal.SIGUSR1, EV_SIGNAL | EV_PERSIST, cb, levent.SELF).add()
    os.kill(os.getpid(), signal.SIGUSR1)
    os.kill(os.getpid(), signal.SIGUSR1)
    base.loop(EVLOOP_NONBLOCK)
    assert calls == [signal.SIGUSR1]


def test_given_fork_the_child_reinits_and_its_events_fire(
    base: EventBase, pair: tuple[socket.socket, socket.socket]
) -> None:
    """T: main/fork: after reinit() the child's read and signal events fire; the parent's too."""
    got: list[str] = []
    Event(base, pair[0], EV_READ, lambda *a: got.append("read")).add()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        code = 1
        try:
            base.reinit()
            pair[1].send(b"x")
            Event.signal(base, signal.SIGUSR1, lambda *a: got.append("sig")).add()
            os.kill(os.getpid(), signal.SIGUSR1)
            base.loop(EVLOOP_NONBLOCK)
            code = 0 if sorted(got) == ["read", "sig"] else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    pair[0].recv(10)  # the child's byte arrived on the shared socket; drain it
    pair[1].send(b"y")
    base.loop(EVLOOP_ONCE)
    assert got == ["read"]


def test_given_another_thread_activates_an_event_a_blocked_loop_wakes_at_once(
    base: EventBase,
) -> None:
    """T: thread/no_events: NO_EXIT_ON_EMPTY, activations from a thread fire promptly."""
    fired: list[float] = []

    def cb(fd: int, what: int, arg: Any) -> None:
        fired.append(time.monotonic())
        base.loopbreak()

    ev = Event(base, -1, 0, cb)
    start = time.monotonic()
    threading.Timer(0.1, ev.active, args=(EV_READ,)).start()
    assert base.loop(EVLOOP_NO_EXIT_ON_EMPTY) == 0
    assert 0.05 < fired[0] - start < 1.0


def test_given_a_thread_deletes_the_only_timer_the_loop_exits(base: EventBase) -> None:
    """T: main/del_timeout_notify: the loop, waiting on a 5 s timer, exits within 1 s."""
    ev = Event.timer(base, lambda *a: None)
    ev.add(5.0)
    threading.Timer(0.1, ev.delete).start()
    start = time.monotonic()
    assert base.dispatch() == 1
    assert time.monotonic() - start < 1.0


def test_given_a_thread_calls_delete_during_the_callback_it_waits_for_it(base: EventBase) -> None:
    """T: main/del_wait: delete() from another thread returns after the callback ends."""
    marks: dict[str, float] = {}

    def cb(fd: int, what: int, arg: Any) -> None:
        marks["cb_start"] = time.monotonic()
        time.sleep(0.3)
        marks["cb_end"] = time.monotonic()

    ev = Event(base, -1, EV_PERSIST, cb)
    ev.add(0.01)

    def deleter() -> None:
        while "cb_start" not in marks:
            time.sleep(0.005)
        ev.delete()
        marks["deleted"] = time.monotonic()

    t = threading.Thread(target=deleter)
    t.start()
    base.dispatch()
    t.join(5)
    assert marks["deleted"] >= marks["cb_end"]


def test_given_edge_triggered_read_the_callback_runs_once_for_buffered_data(
    base: EventBase, pair: tuple[socket.socket, socket.socket]
) -> None:
    """T: et/et: ET gives one callback with EV_ET; without the feature, EV_ET is ignored."""
    seen: list[int] = []
    pair[1].send(b"abc")

    def cb(fd: int, what: int, arg: Any) -> None:
        seen.append(what)
        pair[0].recv(1)

    Event(base, pair[0], EV_READ | EV_PERSIST | EV_ET, cb).add()
    base.loop(EVLOOP_ONCE | EVLOOP_NONBLOCK)
    base.loop(EVLOOP_ONCE | EVLOOP_NONBLOCK)
    if base.features & levent.EV_FEATURE_ET:
        assert seen == [EV_READ | EV_ET]
    else:  # poll and select are level-triggered, as in libevent
        assert seen == [EV_READ, EV_READ]


def test_given_the_peer_closes_an_ev_closed_event_fires(
    base: EventBase, pair: tuple[socket.socket, socket.socket]
) -> None:
    """T: main/simpleclose: EV_CLOSED fires on backends with EV_FEATURE_EARLY_CLOSE only."""
    seen: list[int] = []
    Event(base, pair[0], EV_CLOSED, lambda fd, what, arg: seen.append(what)).add()
    pair[1].shutdown(socket.SHUT_WR)
    if base.features & levent.EV_FEATURE_EARLY_CLOSE:
        assert base.loop(EVLOOP_NONBLOCK) == 1
        assert seen == [EV_CLOSED]
    else:  # select cannot tell a half-close apart: the event never fires
        assert base.loop(EVLOOP_NONBLOCK) == 0
        assert seen == []


def test_given_a_raising_callback_the_loop_logs_it_and_goes_on(
    pair: tuple[socket.socket, socket.socket], caplog: pytest.LogCaptureFixture
) -> None:
    """DESIGN §2: errors are logged with the traceback; other events still run."""
    with EventBase() as b:
        ran: list[str] = []

        def boom(*a: Any) -> None:
            raise RuntimeError("boom")

        Event.timer(b, boom).add(0)
        Event.timer(b, lambda *a: ran.append("other")).add(0.01)
        assert b.dispatch() == 1
        assert ran == ["other"]
        assert "boom" in caplog.text


@pytest.mark.parametrize(
    ("timeout", "error"),
    [(-1.0, ValueError), (float("nan"), ValueError), ("1", TypeError), (float("inf"), ValueError)],
)
def test_given_a_bad_timeout_add_raises_and_nothing_else_is_disturbed(
    base: EventBase, timeout: Any, error: type[Exception]
) -> None:
    """Bad input: a precise exception; the event stays non-pending; others still fire."""
    other: list[int] = []
    Event.timer(base, lambda fd, what, arg: other.append(what)).add(0)
    ev = Event.timer(base, lambda *a: None)
    with pytest.raises(error):
        ev.add(timeout)
    assert ev.pending() == 0
    assert base.dispatch() == 1
    assert other == [EV_TIMEOUT]


def test_given_a_closed_fd_add_raises_oserror_and_the_loop_still_works(base: EventBase) -> None:
    """Bad input: EBADF as OSError; the base keeps working (T: main/evmap_invalid_slots)."""
    a, b = socket.socketpair()
    fd = a.fileno()
    a.close()
    b.close()
    ev = Event(base, fd, EV_READ, lambda *a: None)
    with pytest.raises((OSError, ValueError)):
        ev.add()
    assert ev.pending(EV_READ) == 0
    fired: list[int] = []
    Event.timer(base, lambda fd, what, arg: fired.append(what)).add(0)
    assert base.dispatch() == 1 and fired == [EV_TIMEOUT]


def test_given_misuse_levent_raises_a_precise_error(base: EventBase) -> None:
    """Bad input: bad signal numbers, priorities, freed events, EV_SIGNAL|EV_READ."""
    with pytest.raises(ValueError):
        Event(base, -1, EV_SIGNAL | EV_READ, lambda *a: None)
    with pytest.raises(ValueError):
        Event(base, -1, EV_SIGNAL, lambda *a: None).add()
    with pytest.raises(ValueError):
        Event(base, signal.NSIG, EV_SIGNAL, lambda *a: None).add()
    ev = Event.timer(base, lambda *a: None)
    with pytest.raises(ValueError):
        ev.priority_set(1)
    with pytest.raises(ValueError):
        base.priority_init(256)
    with pytest.raises(ValueError):
        base.priority_init(0)
    base.priority_init(255)
    ev.free()
    with pytest.raises(levent.EventStateError):
        ev.add()
    with pytest.raises(TypeError):
        Event(base, "not an fd", EV_READ, lambda *a: None)
    with pytest.raises(ValueError):
        base.once(-1, EV_SIGNAL, lambda *a: None)
    with pytest.raises(ValueError):
        base.once(-1, 0, lambda *a: None)


def test_given_a_freed_base_its_events_cannot_be_added() -> None:
    """T: main/free_active_base: freeing with pending/active events is safe."""
    b = EventBase()
    a, c = socket.socketpair()
    try:
        r = Event(b, a, EV_READ, lambda *x: None)
        r.add()
        t = Event.timer(b, lambda *x: None)
        t.active(EV_TIMEOUT)
        b.free()
        assert r.pending() == 0 and t.pending() == 0
        with pytest.raises(levent.EventStateError):
            r.add()
    finally:
        a.close()
        c.close()


def test_given_each_backend_avoided_or_disabled_by_env_the_base_uses_another() -> None:
    """T: main/methods, base_environ: avoid_method and EVENT_NO<METHOD> (unless IGNORE_ENV)."""
    methods = levent.supported_methods()
    first = methods[0]
    cfg = EventConfig()
    cfg.avoid_method(first)
    cfg.set_flag(EVENT_BASE_FLAG_IGNORE_ENV)
    with EventBase(cfg) as b:
        assert b.method == methods[1]
    code = "import levent; b = levent.EventBase(); print(b.method); b.free()"
    env = dict(os.environ, **{f"EVENT_NO{first.upper()}": "1"})
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == methods[1]
    code_ignore = (
        "import levent; c = levent.EventConfig(); c.set_flag(levent.EVENT_BASE_FLAG_IGNORE_ENV);"
        " b = levent.EventBase(c); print(b.method); b.free()"
    )
    out = subprocess.run(
        [sys.executable, "-c", code_ignore], env=env, capture_output=True, text=True
    )
    assert out.stdout.strip() == first


def test_given_require_features_et_the_base_has_it_or_creation_fails() -> None:
    """T: main/base_features."""
    cfg = EventConfig()
    cfg.require_features(levent.EV_FEATURE_ET)
    try:
        b = EventBase(cfg)
    except levent.BackendError:
        return
    assert b.features & levent.EV_FEATURE_ET
    b.free()


def test_given_debug_mode_after_a_base_exists_it_is_refused() -> None:
    """§3.5 #56: too late, or twice, is an error (libevent: fatal)."""
    code = (
        "import levent\n"
        "levent.enable_debug_mode()\n"
        "try:\n    levent.enable_debug_mode()\nexcept levent.DebugModeError: print('twice')\n"
        "import socket\n"
        "b = levent.EventBase(); s, t = socket.socketpair()\n"
        "try:\n    levent.Event(b, s, levent.EV_READ, print)\n"
        "except levent.DebugModeError: print('blocking')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["twice", "blocking"]
    late = "import levent; levent.EventBase(); levent.enable_debug_mode()"
    out = subprocess.run([sys.executable, "-c", late], capture_output=True, text=True)
    assert "DebugModeError" in out.stderr


def test_given_a_log_callback_levent_messages_reach_it(base: EventBase) -> None:
    """event_set_log_callback: the callback gets (severity, msg)."""
    got: list[tuple[int, str]] = []
    levent.set_log_callback(lambda sev, msg: got.append((sev, msg)))
    try:

        def reenter(*a: Any) -> None:
            with pytest.raises(levent.LoopReentryError):
                base.loop()

        Event.timer(base, reenter).add(0)
        assert base.dispatch() == 1
    finally:
        levent.set_log_callback(None)
    assert got and got[0][0] == levent.EVENT_LOG_WARN and "reentrant" in got[0][1]


def test_given_many_events_on_many_fds_one_nonblock_loop_calls_each_once(base: EventBase) -> None:
    """T: main/many_events: 70 sockets with write events, each called exactly once."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(70)]
    counts = [0] * 70
    try:
        for i, s in enumerate(socks):
            s.setblocking(False)

            def cb(fd: int, what: int, index: int) -> None:
                counts[index] += 1

            Event(base, s, EV_WRITE, cb, i).add()
        base.loop(EVLOOP_NONBLOCK)
        assert counts == [1] * 70
    finally:
        for s in socks:
            s.close()


def test_given_a_base_dropped_without_free_it_warns_and_closes_its_fds() -> None:
    """An unfreed EventBase raises ResourceWarning when collected and releases its fds."""
    code = (
        "import gc, os, warnings, levent\n"
        "warnings.simplefilter('always')\n"
        "before = set(os.listdir('/proc/self/fd'))\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    b = levent.EventBase(); del b; gc.collect()\n"
        "leaked = set(os.listdir('/proc/self/fd')) - before\n"
        "print(sorted(str(w.category.__name__) for w in caught), len(leaked))\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    b = levent.EventBase(); b.free(); del b; gc.collect()\n"
        "print(len(caught))\n"
    )
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc/self/fd to count open fds")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.stdout.split("\n")[:2] == ["['ResourceWarning'] 0", "0"], out.stderr


def test_given_an_installed_levent_compiled_tells_how_it_runs() -> None:
    """levent.COMPILED is True exactly when the reactor modules are extension modules."""
    import levent.base

    assert levent.COMPILED is (not levent.base.__file__.endswith(".py"))
