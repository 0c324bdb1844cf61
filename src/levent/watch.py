"""Prepare and check watchers: libevent 2.2's ``evwatch``.

A prepare watcher runs on every loop iteration just before the base waits in
its backend; a check watcher just after the wait returns, before timers expire
and callbacks run. Watchers of a kind run in registration order. They are how a
program measures poll latency (libevent's ``watch-timing`` sample) — and how
levent's own bufferevents flush output once per iteration instead of once per
write.

The loop (``EventBase._run``) calls ``run_prepare`` / ``run_check`` only when a
watcher exists, so a base without watchers pays one list test per iteration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from .errors import EventStateError

if TYPE_CHECKING:
    from .base import EventBase

__all__ = ["CheckInfo", "PrepareInfo", "Watch", "WatchCallback"]

WATCH_PREPARE: Final = 0
WATCH_CHECK: Final = 1

WatchCallback = Callable[["Watch", Any, Any], object]


class PrepareInfo:
    """What a prepare watcher learns (``struct evwatch_prepare_cb_info``)."""

    __slots__ = ("timeout",)

    def __init__(self, timeout: float | None) -> None:
        #: How long the base will wait at most, in seconds; None when it may
        #: wait forever (``evwatch_prepare_get_timeout`` returning 0).
        self.timeout = timeout

    def get_timeout(self) -> float | None:
        """``evwatch_prepare_get_timeout``: the wait's upper bound, or None."""
        return self.timeout


class CheckInfo:
    """What a check watcher learns (``struct evwatch_check_cb_info``: nothing yet)."""

    __slots__ = ()


_CHECK_INFO: Final = CheckInfo()


class Watch:
    """A callback run before (prepare) or after (check) each backend wait (``struct evwatch``).

    ``Watch.prepare(base, cb, arg)`` is ``evwatch_prepare_new``; ``Watch.check``
    is ``evwatch_check_new``. The callback is ``cb(watch, info, arg)``.
    """

    __slots__ = ("_arg", "_base", "_callback", "_kind")

    def __init__(
        self, base: EventBase, kind: int, callback: WatchCallback, arg: Any = None
    ) -> None:
        if kind not in (WATCH_PREPARE, WATCH_CHECK):
            raise ValueError(f"unknown watcher kind {kind!r}")
        if not callable(callback):
            raise TypeError("callback must be callable")
        base._check_usable()
        self._base: EventBase | None = base
        self._kind = kind
        self._callback = callback
        self._arg = arg
        with base._lock:
            base._watches[kind].append(self)

    @classmethod
    def prepare(cls, base: EventBase, callback: WatchCallback, arg: Any = None) -> Watch:
        """Run ``callback`` before every wait (``evwatch_prepare_new``)."""
        return cls(base, WATCH_PREPARE, callback, arg)

    @classmethod
    def check(cls, base: EventBase, callback: WatchCallback, arg: Any = None) -> Watch:
        """Run ``callback`` after every wait (``evwatch_check_new``)."""
        return cls(base, WATCH_CHECK, callback, arg)

    @property
    def base(self) -> EventBase:
        """The base it watches (``evwatch_base``)."""
        base = self._base
        if base is None:
            raise EventStateError("the watcher has been freed")
        return base

    @property
    def kind(self) -> str:
        """``"prepare"`` or ``"check"``."""
        return "prepare" if self._kind == WATCH_PREPARE else "check"

    def free(self) -> None:
        """Deregister (``evwatch_free``); safe from inside its own callback, and twice."""
        base = self._base
        if base is None:
            return
        self._base = None
        with base._lock:
            watches = base._watches[self._kind]
            if self in watches:
                watches.remove(self)

    def __repr__(self) -> str:
        state = "freed" if self._base is None else "active"
        return f"<Watch {self.kind} {self._callback!r} {state}>"


def run_prepare(base: EventBase, timeout: float | None) -> None:
    """Run the base's prepare watchers, in order, on a snapshot of the list."""
    info = PrepareInfo(timeout)
    for watch in tuple(base._watches[WATCH_PREPARE]):
        if watch._base is not None:
            _call(base, watch, info)


def run_check(base: EventBase) -> None:
    """Run the base's check watchers, in order."""
    for watch in tuple(base._watches[WATCH_CHECK]):
        if watch._base is not None:
            _call(base, watch, _CHECK_INFO)


def _call(base: EventBase, watch: Watch, info: object) -> None:
    try:
        watch._callback(watch, info, watch._arg)
    except Exception as exc:
        base._report(watch, exc)


def free_all(base: EventBase) -> None:
    """``event_base_free``: the remaining watchers are freed with the base."""
    for watches in base._watches:
        for watch in watches:
            watch._base = None
        watches.clear()
