"""Reactor benchmarks (issue 2): timers, manual activations, fd readiness.

(a) one-shot timers with random timeouts, added from a running callback then
fired; (b) ``active()`` chains across 3 priorities; (c) 1,000 socketpairs with
persistent read events passing a token round-robin. Each against asyncio and
uvloop in the same run. ``--quick`` scales the counts down.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import socket
import time
from collections.abc import Callable
from typing import Any

from common import Row, best_of, print_table

import levent
from levent import EV_PERSIST, EV_READ, Event, EventBase

try:
    import uvloop
except ImportError:  # pragma: no cover - optional
    uvloop = None


def _loops() -> list[tuple[str, Callable[[], asyncio.AbstractEventLoop]]]:
    loops: list[tuple[str, Callable[[], asyncio.AbstractEventLoop]]] = [
        ("asyncio", asyncio.new_event_loop)
    ]
    if uvloop is not None:
        loops.append(("uvloop", uvloop.new_event_loop))
    return loops


# -- (a) timers ----------------------------------------------------------------


def levent_timers(delays: list[float]) -> int:
    base = EventBase()
    fired = 0

    def on_timer(fd: int, what: int, arg: Any) -> None:
        nonlocal fired
        fired += 1

    def start(fd: int, what: int, arg: Any) -> None:
        for delay in delays:
            Event(base, -1, 0, on_timer).add(delay)

    Event(base, -1, 0, start).active(0)
    base.dispatch()
    base.free()
    return fired


def asyncio_timers(make_loop: Callable[[], asyncio.AbstractEventLoop], delays: list[float]) -> int:
    loop = make_loop()
    fired = 0
    remaining = len(delays)

    def on_timer() -> None:
        nonlocal fired, remaining
        fired += 1
        remaining -= 1
        if not remaining:
            loop.stop()

    def start() -> None:
        for delay in delays:
            loop.call_later(delay, on_timer)

    loop.call_soon(start)
    loop.run_forever()
    loop.close()
    return fired


# -- (b) activations across 3 priorities -------------------------------------------


def levent_active(n: int) -> int:
    base = EventBase()
    base.priority_init(3)
    done = 0
    events: list[Event] = []

    def on_active(fd: int, what: int, index: int) -> None:
        nonlocal done
        done += 1
        if done < n:
            events[(index + 1) % 3].active(EV_READ)

    for pri in range(3):
        ev = Event(base, -1, 0, on_active, pri)
        ev.priority_set(pri)
        events.append(ev)
    events[0].active(EV_READ)
    base.dispatch()
    base.free()
    return done


def asyncio_active(make_loop: Callable[[], asyncio.AbstractEventLoop], n: int) -> int:
    loop = make_loop()
    done = 0

    def on_soon() -> None:
        nonlocal done
        done += 1
        if done < n:
            loop.call_soon(on_soon)
        else:
            loop.stop()

    loop.call_soon(on_soon)
    loop.run_forever()
    loop.close()
    return done


# -- (c) token ring over socketpairs ---------------------------------------------------


def _pairs(n: int) -> list[tuple[socket.socket, socket.socket]]:
    pairs = []
    for _ in range(n):
        a, b = socket.socketpair()
        a.setblocking(False)
        b.setblocking(False)
        pairs.append((a, b))
    return pairs


def _close(pairs: list[tuple[socket.socket, socket.socket]]) -> None:
    for a, b in pairs:
        a.close()
        b.close()


def levent_ring(npairs: int, seconds: float) -> int:
    pairs = _pairs(npairs)
    base = EventBase()
    passes = 0
    deadline = time.monotonic() + seconds

    def on_read(fd: int, what: int, index: int) -> None:
        nonlocal passes
        pairs[index][0].recv(1)
        passes += 1
        if passes & 1023 == 0 and time.monotonic() >= deadline:
            base.loopbreak()
            return
        pairs[(index + 1) % npairs][1].send(b"t")

    events = [Event(base, pairs[i][0], EV_READ | EV_PERSIST, on_read, i) for i in range(npairs)]
    for ev in events:
        ev.add()
    pairs[0][1].send(b"t")
    base.dispatch()
    base.free()
    _close(pairs)
    return passes


def asyncio_ring(
    make_loop: Callable[[], asyncio.AbstractEventLoop], npairs: int, seconds: float
) -> int:
    pairs = _pairs(npairs)
    loop = make_loop()
    passes = 0
    deadline = time.monotonic() + seconds

    def on_read(index: int) -> None:
        nonlocal passes
        pairs[index][0].recv(1)
        passes += 1
        if passes & 1023 == 0 and time.monotonic() >= deadline:
            loop.stop()
            return
        pairs[(index + 1) % npairs][1].send(b"t")

    for i in range(npairs):
        loop.add_reader(pairs[i][0].fileno(), on_read, i)
    pairs[0][1].send(b"t")
    loop.run_forever()
    for a, _ in pairs:
        loop.remove_reader(a.fileno())
    loop.close()
    _close(pairs)
    return passes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller counts, ~20 s in all")
    args = parser.parse_args(argv)
    n_timers = 100_000 if args.quick else 1_000_000
    n_active = 100_000 if args.quick else 1_000_000
    ring_seconds = 1.0 if args.quick else 5.0
    repeat = 3
    rng = random.Random(42)
    delays = [rng.random() * 0.01 for _ in range(n_timers)]
    build = "compiled with mypyc" if levent.COMPILED else "pure Python (editable install)"
    print(f"levent {levent.__version__} ({build}), backend {EventBase().method}; best of {repeat}")

    rows = [Row("levent", *best_of(lambda: levent_timers(delays), repeat), "timers")]
    for name, factory in _loops():
        rows.append(
            Row(name, *best_of(lambda f=factory: asyncio_timers(f, delays), repeat), "timers")
        )
    print_table(f"(a) {n_timers:,} one-shot timers added then fired", rows)

    rows = [Row("levent", *best_of(lambda: levent_active(n_active), repeat), "callbacks")]
    for name, factory in _loops():
        rows.append(
            Row(name, *best_of(lambda f=factory: asyncio_active(f, n_active), repeat), "callbacks")
        )
    print_table(f"(b) {n_active:,} activations (levent: 3 priorities; asyncio: call_soon)", rows)

    rows = []
    for name, fn in [("levent", lambda: levent_ring(1000, ring_seconds))] + [
        (name, lambda f=factory: asyncio_ring(f, 1000, ring_seconds)) for name, factory in _loops()
    ]:
        passes = fn()
        rows.append(Row(name, ring_seconds, passes, "tokens"))
    print_table(f"(c) token ring over 1,000 socketpairs for {ring_seconds:g} s", rows)
    return 0 if not math.isnan(rows[0].seconds) else 1


if __name__ == "__main__":
    raise SystemExit(main())
