"""Conformance: the same scenarios on the real libevent 2.1 (through ctypes) and on levent.

Each scenario drives a small ``Driver`` interface — create events, add,
activate, run the loop — whose callbacks append ``(name, what)`` to a trace.
The scenario runs once on each library and the traces, loop return values and
``pending`` answers must be identical. Scenarios avoid wall-clock races: they
use zero timeouts, manual activation and socketpairs that are already readable.
"""

from __future__ import annotations

import ctypes
import socket
from collections.abc import Callable
from typing import Any

import pytest
from libevent_ctypes import load

import levent

EV_TIMEOUT = 0x01
EV_READ = 0x02
EV_WRITE = 0x04
EV_SIGNAL = 0x08
EV_PERSIST = 0x10
EVLOOP_ONCE = 0x01
EVLOOP_NONBLOCK = 0x02

Trace = list[Any]


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


_CB = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_short, ctypes.c_void_p)


def _tv(seconds: float | None) -> Any:
    if seconds is None:
        return None
    whole = int(seconds)
    return ctypes.byref(_Timeval(whole, round((seconds - whole) * 1_000_000)))


class Driver:
    """What a scenario may do; both libraries implement it."""

    trace: Trace

    def new(
        self, fd: int, what: int, name: str, action: Callable[[], None] | None = None
    ) -> Any: ...

    def add(self, ev: Any, timeout: float | None = None) -> None: ...
    def delete(self, ev: Any) -> None: ...
    def active(self, ev: Any, res: int) -> None: ...
    def pending(self, ev: Any, what: int) -> int: ...
    def priority_init(self, n: int) -> None: ...
    def priority_set(self, ev: Any, pri: int) -> None: ...
    def loop(self, flags: int) -> int: ...
    def loopexit(self, timeout: float | None = None) -> None: ...
    def loopbreak(self) -> None: ...
    def loopcontinue(self) -> None: ...
    def once(self, fd: int, what: int, name: str, timeout: float | None) -> None: ...
    def got_exit(self) -> bool: ...
    def got_break(self) -> bool: ...
    def free(self) -> None: ...


class LeventDriver(Driver):
    def __init__(self) -> None:
        cfg = levent.EventConfig()
        cfg.set_flag(levent.EVENT_BASE_FLAG_IGNORE_ENV)
        self.base = levent.EventBase(cfg)
        self.trace = []

        def fail(base: object, source: object, exc: BaseException) -> None:
            raise exc

        self.base.set_error_handler(fail)

    def _callback(self, name: str, action: Callable[[], None] | None) -> Any:
        def cb(fd: int, what: int, arg: object) -> None:
            self.trace.append((name, what))
            if action is not None:
                action()

        return cb

    def new(self, fd: int, what: int, name: str, action: Callable[[], None] | None = None) -> Any:
        return levent.Event(self.base, fd, what, self._callback(name, action))

    def add(self, ev: Any, timeout: float | None = None) -> None:
        ev.add(timeout)

    def delete(self, ev: Any) -> None:
        ev.delete()

    def active(self, ev: Any, res: int) -> None:
        ev.active(res)

    def pending(self, ev: Any, what: int) -> int:
        return int(ev.pending(what))

    def priority_init(self, n: int) -> None:
        self.base.priority_init(n)

    def priority_set(self, ev: Any, pri: int) -> None:
        ev.priority_set(pri)

    def loop(self, flags: int) -> int:
        return self.base.loop(flags)

    def loopexit(self, timeout: float | None = None) -> None:
        self.base.loopexit(timeout)

    def loopbreak(self) -> None:
        self.base.loopbreak()

    def loopcontinue(self) -> None:
        self.base.loopcontinue()

    def once(self, fd: int, what: int, name: str, timeout: float | None) -> None:
        self.base.once(fd, what, self._callback(name, None), None, timeout)

    def got_exit(self) -> bool:
        return self.base.got_exit()

    def got_break(self) -> bool:
        return self.base.got_break()

    def free(self) -> None:
        self.base.free()


class CDriver(Driver):
    def __init__(self) -> None:
        lib = load()
        self.lib = lib
        lib.event_base_new.restype = ctypes.c_void_p
        lib.event_new.restype = ctypes.c_void_p
        lib.event_new.argtypes = [
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_short,
            _CB,
            ctypes.c_void_p,
        ]
        lib.event_add.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.event_del.argtypes = [ctypes.c_void_p]
        lib.event_free.argtypes = [ctypes.c_void_p]
        lib.event_priority_set.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.event_active.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_short]
        lib.event_pending.argtypes = [ctypes.c_void_p, ctypes.c_short, ctypes.c_void_p]
        lib.event_base_loop.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.event_base_loopexit.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        for name in (
            "event_base_loopbreak",
            "event_base_loopcontinue",
            "event_base_free",
            "event_base_got_exit",
            "event_base_got_break",
        ):
            getattr(lib, name).argtypes = [ctypes.c_void_p]
        lib.event_base_priority_init.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.event_base_once.argtypes = [
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_short,
            _CB,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        self.base = lib.event_base_new()
        self.trace = []
        self._keep: list[Any] = []
        self._events: list[int] = []

    def _callback(self, name: str, action: Callable[[], None] | None) -> Any:
        def cb(fd: int, what: int, arg: object) -> None:
            self.trace.append((name, what & 0xFF))
            if action is not None:
                action()

        c_cb = _CB(cb)
        self._keep.append(c_cb)
        return c_cb

    def new(self, fd: int, what: int, name: str, action: Callable[[], None] | None = None) -> Any:
        ev = self.lib.event_new(self.base, fd, what, self._callback(name, action), None)
        assert ev
        self._events.append(ev)
        return ev

    def add(self, ev: Any, timeout: float | None = None) -> None:
        assert self.lib.event_add(ev, _tv(timeout)) == 0

    def delete(self, ev: Any) -> None:
        assert self.lib.event_del(ev) == 0

    def active(self, ev: Any, res: int) -> None:
        self.lib.event_active(ev, res, 1)

    def pending(self, ev: Any, what: int) -> int:
        return int(self.lib.event_pending(ev, what, None))

    def priority_init(self, n: int) -> None:
        assert self.lib.event_base_priority_init(self.base, n) == 0

    def priority_set(self, ev: Any, pri: int) -> None:
        assert self.lib.event_priority_set(ev, pri) == 0

    def loop(self, flags: int) -> int:
        return int(self.lib.event_base_loop(self.base, flags))

    def loopexit(self, timeout: float | None = None) -> None:
        assert self.lib.event_base_loopexit(self.base, _tv(timeout)) == 0

    def loopbreak(self) -> None:
        assert self.lib.event_base_loopbreak(self.base) == 0

    def loopcontinue(self) -> None:
        assert self.lib.event_base_loopcontinue(self.base) == 0

    def once(self, fd: int, what: int, name: str, timeout: float | None) -> None:
        rc = self.lib.event_base_once(
            self.base, fd, what, self._callback(name, None), None, _tv(timeout)
        )
        assert rc == 0

    def got_exit(self) -> bool:
        return bool(self.lib.event_base_got_exit(self.base))

    def got_break(self) -> bool:
        return bool(self.lib.event_base_got_break(self.base))

    def free(self) -> None:
        for ev in self._events:
            self.lib.event_free(ev)
        self.lib.event_base_free(self.base)


# -- scenarios: each returns what must match (the trace is compared too) -------


def scenario_activation_order(d: Driver) -> Any:
    """A and D active; A activates B, calls loopexit, activates C: order A D B C."""
    box: dict[str, Any] = {}

    def a_action() -> None:
        d.active(box["B"], EV_WRITE)
        d.loopexit()
        d.active(box["C"], EV_WRITE)

    box["A"] = d.new(-1, 0, "A", a_action)
    box["B"] = d.new(-1, 0, "B")
    box["C"] = d.new(-1, 0, "C")
    box["D"] = d.new(-1, 0, "D")
    d.active(box["A"], EV_WRITE)
    d.active(box["D"], EV_WRITE)
    return d.loop(0), d.got_exit(), d.got_break()


def scenario_loopbreak(d: Driver) -> Any:
    """Two zero timers; the first calls loopbreak; the second never runs."""
    a = d.new(-1, 0, "A", d.loopbreak)
    b = d.new(-1, 0, "B")
    d.add(a, 0)
    d.add(b, 0)
    rc = d.loop(0)
    return rc, d.got_exit(), d.got_break(), d.pending(b, EV_TIMEOUT)


def scenario_priority_inversion(d: Driver) -> Any:
    """8 priorities: a priority-4 callback activates another 4 then a 0: the 0 runs next."""
    d.priority_init(8)
    box: dict[str, Any] = {}

    def first() -> None:
        d.active(box["p4b"], EV_READ)
        d.active(box["p0"], EV_READ)

    box["p4a"] = d.new(-1, 0, "p4a", first)
    box["p4b"] = d.new(-1, 0, "p4b")
    box["p0"] = d.new(-1, 0, "p0")
    for name, pri in (("p4a", 4), ("p4b", 4), ("p0", 0)):
        d.priority_set(box[name], pri)
    d.active(box["p4a"], EV_READ)
    return d.loop(0)


def scenario_priorities_starve(d: Driver, n: int) -> Any:
    """Two self-re-adding zero timers at priorities 0 and n-1, each stopping after 3 runs."""
    d.priority_init(n)
    counts = [0, 0]
    box: dict[int, Any] = {}

    def make(idx: int) -> Callable[[], None]:
        def action() -> None:
            counts[idx] += 1
            if counts[idx] < 3:
                d.add(box[idx], 0)
            else:
                d.loopexit()

        return action

    box[0] = d.new(-1, 0, "p0", make(0))
    box[1] = d.new(-1, 0, "plast", make(1))
    d.priority_set(box[0], 0)
    d.priority_set(box[1], n - 1)
    d.add(box[0], 0)
    d.add(box[1], 0)
    return d.loop(0), counts


def scenario_loopcontinue(d: Driver) -> Any:
    """loopcontinue ends the pass; the rest runs in the next pass (same result order)."""
    a = d.new(-1, 0, "A", d.loopcontinue)
    b = d.new(-1, 0, "B")
    d.active(a, EV_READ)
    d.active(b, EV_READ)
    return d.loop(0)


def scenario_once(d: Driver) -> Any:
    """once with NULL and zero timeouts runs in the next pass with EV_TIMEOUT."""
    d.once(-1, EV_TIMEOUT, "null", None)
    d.once(-1, EV_TIMEOUT, "zero", 0)
    return d.loop(0)


def scenario_pending_flags(d: Driver) -> Any:
    """pending() on active-but-never-added events, and after add/delete."""
    ev = d.new(-1, EV_READ, "R")
    results = [d.pending(ev, EV_READ | EV_WRITE | EV_TIMEOUT)]
    d.active(ev, EV_READ)
    results.append(d.pending(ev, EV_READ | EV_WRITE | EV_TIMEOUT))
    d.active(ev, EV_WRITE)
    results.append(d.pending(ev, EV_READ | EV_WRITE | EV_TIMEOUT))
    results.append(d.loop(EVLOOP_NONBLOCK))
    t = d.new(-1, 0, "T")
    d.add(t, 10)
    results.append(d.pending(t, EV_TIMEOUT))
    results.append(d.pending(t, EV_READ))
    d.delete(t)
    results.append(d.pending(t, EV_TIMEOUT))
    return results


def scenario_readd_timeout_cancels(d: Driver) -> Any:
    """An event active because of its timeout is cancelled by add() with a new timeout."""
    box: dict[str, Any] = {}

    def first() -> None:
        d.add(box["B"], 5)  # B fired by timeout in this same pass; re-adding cancels it

    box["A"] = d.new(-1, 0, "A", first)
    box["B"] = d.new(-1, 0, "B")
    d.add(box["A"], 0)
    d.add(box["B"], 0)
    rc = d.loop(EVLOOP_ONCE)
    return rc, d.pending(box["B"], EV_TIMEOUT)


def scenario_nonpersist_readd(d: Driver, pair: tuple[socket.socket, socket.socket]) -> Any:
    """Two non-persistent read events on a readable fd re-add each other: one stays pending."""
    fd = pair[0].fileno()
    pair[1].send(b"x")
    box: dict[str, Any] = {}
    box["A"] = d.new(fd, EV_READ, "A", lambda: d.add(box["B"]))
    box["B"] = d.new(fd, EV_READ, "B", lambda: d.add(box["A"]))
    d.add(box["A"])
    d.add(box["B"])
    rc = d.loop(EVLOOP_ONCE)
    return rc, d.pending(box["A"], EV_READ) + d.pending(box["B"], EV_READ) * 16


def scenario_same_fd_order(d: Driver, pair: tuple[socket.socket, socket.socket]) -> Any:
    """Several events on one readable fd: the order their callbacks run in."""
    fd = pair[0].fileno()
    pair[1].send(b"x")
    evs = [d.new(fd, EV_READ, f"R{i}") for i in range(3)]
    evs.append(d.new(fd, EV_WRITE, "W"))
    for ev in evs:
        d.add(ev)
    return d.loop(EVLOOP_NONBLOCK)


def scenario_loop_returns(d: Driver) -> Any:
    """Loop return values for each flag combination on empty and non-empty bases."""
    results = []
    for flags in range(8):
        results.append(("empty", flags, d.loop(flags) if not flags & 4 else None))
    ev = d.new(-1, 0, "T")
    for flags in (EVLOOP_NONBLOCK, EVLOOP_ONCE | EVLOOP_NONBLOCK):
        d.add(ev, 30)
        results.append(("timer", flags, d.loop(flags)))
        d.delete(ev)
    d.active(ev, EV_READ)
    results.append(("active-once", d.loop(EVLOOP_ONCE)))
    d.active(ev, EV_READ)
    results.append(("active-dispatch", d.loop(0)))
    return results


def scenario_timeout_and_active(d: Driver) -> Any:
    """An event activated with EV_READ whose zero timeout also expires: one callback."""
    ev = d.new(-1, EV_READ, "R")
    d.add(ev, 0)
    d.active(ev, EV_READ)
    return d.loop(EVLOOP_NONBLOCK)


def scenario_persist_timeout_active(d: Driver) -> Any:
    """A persistent event with a timeout that is also made active runs each pass once."""
    ev = d.new(-1, EV_READ | EV_PERSIST, "P")
    d.add(ev, 0)
    d.active(ev, EV_WRITE)
    rc = d.loop(EVLOOP_NONBLOCK)
    result = (rc, d.pending(ev, EV_TIMEOUT | EV_READ))
    d.delete(ev)
    return result


def scenario_loopexit_before_loop(d: Driver) -> Any:
    """loopexit(NULL) outside the loop ends the next loop after one round; loopbreak does not."""
    ev = d.new(-1, 0, "A")
    d.active(ev, EV_READ)
    d.loopbreak()
    d.loopexit()
    t = d.new(-1, 0, "late")
    d.add(t, 5)
    rc = d.loop(0)
    result = (rc, d.got_exit(), d.got_break(), d.pending(t, EV_TIMEOUT))
    d.delete(t)
    return result


def scenario_del_active(d: Driver) -> Any:
    """Deleting an active event whose callback has not run yet cancels the callback."""
    box: dict[str, Any] = {}
    box["A"] = d.new(-1, 0, "A", lambda: d.delete(box["B"]))
    box["B"] = d.new(-1, 0, "B")
    d.active(box["A"], EV_READ)
    d.active(box["B"], EV_READ)
    return d.loop(0), d.pending(box["B"], EV_READ)


def scenario_readd_keeps_timeout(d: Driver) -> Any:
    """add(NULL) on an event with a timeout keeps it; delete then add(NULL) has none."""
    ev = d.new(-1, EV_READ, "R")
    d.add(ev, 10)
    d.add(ev, None)
    first = d.pending(ev, EV_TIMEOUT | EV_READ)
    d.delete(ev)
    d.add(ev, None)
    second = d.pending(ev, EV_TIMEOUT | EV_READ)
    d.delete(ev)
    return first, second


def scenario_persist_readd_from_callback(d: Driver) -> Any:
    """A persistent event activated manually three times over three ONCE loops."""
    box: dict[str, Any] = {}
    box["P"] = d.new(-1, EV_PERSIST, "P")
    results = []
    for _ in range(3):
        d.active(box["P"], EV_WRITE)
        results.append(d.loop(EVLOOP_ONCE))
    return results


def scenario_once_fd(d: Driver, pair: tuple[socket.socket, socket.socket]) -> Any:
    """once() on a readable fd runs once with EV_READ; the base is then empty."""
    pair[1].send(b"x")
    d.once(pair[0].fileno(), EV_READ, "once-read", None)
    return d.loop(0), d.loop(EVLOOP_NONBLOCK)


def scenario_closed_peer(d: Driver, pair: tuple[socket.socket, socket.socket]) -> Any:
    """A read event and a write event on a socket whose peer has closed."""
    pair[1].close()
    r = d.new(pair[0].fileno(), EV_READ, "R")
    w = d.new(pair[0].fileno(), EV_WRITE, "W")
    d.add(r)
    d.add(w)
    return d.loop(EVLOOP_NONBLOCK)


def scenario_level_triggered_twice(d: Driver, pair: tuple[socket.socket, socket.socket]) -> Any:
    """A level-triggered persistent read event with unread data fires on every iteration."""
    pair[1].send(b"abc")
    ev = d.new(pair[0].fileno(), EV_READ | EV_PERSIST, "LT")
    d.add(ev)
    first = d.loop(EVLOOP_ONCE | EVLOOP_NONBLOCK)
    second = d.loop(EVLOOP_ONCE | EVLOOP_NONBLOCK)
    d.delete(ev)
    return first, second


SCENARIOS: dict[str, Callable[[Driver], Any]] = {
    "activation_order": scenario_activation_order,
    "loopbreak": scenario_loopbreak,
    "priority_inversion": scenario_priority_inversion,
    "priorities_1": lambda d: scenario_priorities_starve(d, 1),
    "priorities_2": lambda d: scenario_priorities_starve(d, 2),
    "priorities_3": lambda d: scenario_priorities_starve(d, 3),
    "loopcontinue": scenario_loopcontinue,
    "once": scenario_once,
    "pending_flags": scenario_pending_flags,
    "readd_timeout_cancels": scenario_readd_timeout_cancels,
    "loop_returns": scenario_loop_returns,
    "timeout_and_active": scenario_timeout_and_active,
    "persist_timeout_active": scenario_persist_timeout_active,
    "loopexit_before_loop": scenario_loopexit_before_loop,
    "del_active": scenario_del_active,
    "readd_keeps_timeout": scenario_readd_keeps_timeout,
    "persist_manual": scenario_persist_readd_from_callback,
}

FD_SCENARIOS = {
    "nonpersist_readd": scenario_nonpersist_readd,
    "same_fd_order": scenario_same_fd_order,
    "once_fd": scenario_once_fd,
    "closed_peer": scenario_closed_peer,
    "level_triggered_twice": scenario_level_triggered_twice,
}


def _run(driver: Driver, scenario: Callable[[Driver], Any]) -> tuple[Any, Trace]:
    try:
        result = scenario(driver)
        return result, list(driver.trace)
    finally:
        driver.free()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_given_scenario_levent_matches_libevent(name: str) -> None:
    """Given the same calls, levent's callback trace and results equal libevent 2.1's."""
    c_result = _run(CDriver(), SCENARIOS[name])
    py_result = _run(LeventDriver(), SCENARIOS[name])
    assert py_result == c_result


@pytest.mark.parametrize("name", sorted(FD_SCENARIOS))
def test_given_fd_scenario_levent_matches_libevent(name: str) -> None:
    """The same for scenarios on a readable socketpair."""
    results = []
    for driver_class in (CDriver, LeventDriver):
        pair = socket.socketpair()
        for s in pair:
            s.setblocking(False)
        try:
            driver = driver_class()
            results.append(_run(driver, lambda d, pair=pair: FD_SCENARIOS[name](d, pair)))
        finally:
            for s in pair:
                s.close()
    assert results[1] == results[0]


def _c_dump(driver: CDriver) -> str:
    libc = ctypes.CDLL(None)
    libc.tmpfile.restype = ctypes.c_void_p
    libc.fflush.argtypes = [ctypes.c_void_p]
    libc.rewind.argtypes = [ctypes.c_void_p]
    libc.fread.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    driver.lib.event_base_dump_events.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    stream = libc.tmpfile()
    driver.lib.event_base_dump_events(driver.base, stream)
    libc.fflush(stream)
    libc.rewind(stream)
    buf = ctypes.create_string_buffer(65536)
    n = libc.fread(buf, 1, 65536, stream)
    libc.fclose(stream)
    return buf.raw[:n].decode()


def _normalise_dump(text: str, names: dict[int, str]) -> set[str]:
    lines = set()
    for line in text.splitlines():
        if "Internal" in line:
            continue
        for address, name in names.items():
            line = line.replace(f"{address:#x}", name)
        if "Timeout=" in line:
            line = line.split("Timeout=")[0] + "Timeout=T"
        lines.add(line)
    return lines


def test_given_events_dump_events_lists_the_same_lines_as_libevent() -> None:
    """Given fd, timer and active events, dump_events prints libevent's lines (test-dumpevents)."""
    dumps = []
    for driver_class in (CDriver, LeventDriver):
        pair = socket.socketpair()
        driver = driver_class()
        try:
            fd = pair[0].fileno()
            evs = {
                "read": driver.new(fd, EV_READ | EV_PERSIST, "read"),
                "write": driver.new(fd, EV_WRITE, "write"),
                "timed": driver.new(fd, EV_READ, "timed"),
                "timer": driver.new(-1, 0, "timer"),
                "manual": driver.new(-1, EV_READ | EV_WRITE, "manual"),
            }
            driver.add(evs["read"])
            driver.add(evs["write"])
            driver.add(evs["timed"], 30)
            driver.add(evs["timer"], 30)
            driver.active(evs["manual"], EV_READ | EV_WRITE)
            driver.active(evs["timer"], EV_TIMEOUT)
            if isinstance(driver, CDriver):
                text = _c_dump(driver)
                names = {int(ev): name for name, ev in evs.items()}
            else:
                text = driver.base.dump_events()
                names = {id(ev): name for name, ev in evs.items()}
            dumps.append(
                _normalise_dump(text.replace(f" {fd}]", " FD]").replace(f" {fd},", " FD,"), names)
            )
        finally:
            driver.free()
            for s in pair:
                s.close()
    assert dumps[1] == dumps[0]
