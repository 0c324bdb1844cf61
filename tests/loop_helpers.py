"""Loop helpers shared by the test modules (imported as ``from loop_helpers import ...``)."""

from __future__ import annotations

from typing import Any

from levent import EVLOOP_NONBLOCK, EVLOOP_ONCE, Event, EventBase


def run_until(base: EventBase, done: Any, limit: float = 5.0) -> None:
    """Run loop iterations until ``done()``; a guard timer bounds the wait.

    The guard is a timer, so the loop never blocks past ``limit`` and the test
    fails with a clear message instead of hanging.
    """
    expired: list[int] = []
    guard = Event.timer(base, lambda fd, what, arg: expired.append(1))
    guard.add(limit)
    try:
        while not done():
            assert not expired, "condition not reached in time"
            base.loop(EVLOOP_ONCE)
    finally:
        guard.delete()


def spin(base: EventBase, n: int = 5) -> None:
    """``n`` non-blocking loop iterations: let deferred work and ready I/O run."""
    for _ in range(n):
        base.loop(EVLOOP_NONBLOCK)
