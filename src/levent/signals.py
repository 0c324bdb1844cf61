"""Signal delivery for EventBases: libevent's ``evsig`` on ``signal.set_wakeup_fd``.

When a watched signal arrives, CPython's C-level handler writes the signal
number into the receiving base's socketpair (``set_wakeup_fd``); the base's
internal read event drains it, counts deliveries per signal and activates the
signal events with that count, so each callback runs once per delivery. No user
code runs in signal context: the Python-level handler levent installs does
nothing, it only has to exist for the wakeup byte to be written.

As with libevent's pipe mechanism, one base receives signals at a time: the one
that most recently added a signal event or entered its loop with signals
registered. Installing handlers is process-wide, so it is reference-counted
across bases, and the handler found before the first event for a signal is put
back when the last one is deleted.
"""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from .errors import EventError

if TYPE_CHECKING:
    from .event import Event

__all__ = ["SignalReceiver", "valid_signal"]

_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None

# signum -> [handler found before levent's, number of events across bases]
_installed: dict[int, list[Any]] = {}
_receiver: SignalReceiver | None = None
_previous_wakeup_fd: int = -1


def _levent_handler(signum: int, frame: FrameType | None) -> None:
    """The Python-level handler: the wakeup byte already carries the news."""


def valid_signal(signum: int) -> bool:
    """True for a signal number that can be watched here (1 … NSIG-1)."""
    return 0 < signum < signal.NSIG


def _require_main_thread(what: str) -> None:
    if threading.current_thread() is not threading.main_thread():
        raise EventError(
            f"{what}: Python only lets the main thread install signal handlers; "
            "add signal events from the main thread"
        )


class SignalReceiver:
    """One base's signal socketpair, its internal event and its per-signal event lists."""

    __slots__ = ("_rsock", "_wsock", "events", "read_event")

    def __init__(self, make_event: Callable[[int], Event]) -> None:
        self._rsock, self._wsock = socket.socketpair()
        self._rsock.setblocking(False)
        self._wsock.setblocking(False)
        self.events: dict[int, list[Event]] = {}
        self.read_event = make_event(self._rsock.fileno())

    @property
    def count(self) -> int:
        """How many signal events are registered on this base."""
        return sum(len(evs) for evs in self.events.values())

    def add(self, ev: Event, signum: int) -> None:
        """Register ``ev`` for ``signum``, installing levent's handler on first use."""
        _require_main_thread("adding a signal event")
        record = _installed.get(signum)
        if record is None:
            old = signal.signal(signum, _levent_handler)
            _installed[signum] = [old, 1]
        else:
            record[1] += 1
        self.events.setdefault(signum, []).append(ev)
        self.make_current()

    def remove(self, ev: Event, signum: int) -> None:
        """Unregister ``ev``; the old handler returns when no base watches ``signum``."""
        evs = self.events.get(signum)
        if evs is None or ev not in evs:
            return
        evs.remove(ev)
        if not evs:
            del self.events[signum]
        record = _installed.get(signum)
        if record is None:
            return
        record[1] -= 1
        if record[1] == 0:
            del _installed[signum]
            if threading.current_thread() is threading.main_thread():
                signal.signal(signum, record[0])
        if not self.events:
            self.release_current()

    def make_current(self) -> None:
        """Route the process's signal wakeups to this base."""
        global _receiver, _previous_wakeup_fd
        if _receiver is self:
            return
        if threading.current_thread() is not threading.main_thread():
            return
        old = signal.set_wakeup_fd(self._wsock.fileno(), warn_on_full_buffer=False)
        if _receiver is None:
            _previous_wakeup_fd = old
        _receiver = self

    def release_current(self) -> None:
        """Give the wakeup fd back to whoever had it before levent."""
        global _receiver, _previous_wakeup_fd
        if _receiver is not self:
            return
        if threading.current_thread() is threading.main_thread():
            signal.set_wakeup_fd(_previous_wakeup_fd)
        _receiver = None
        _previous_wakeup_fd = -1

    def drain(self) -> dict[int, int]:
        """Read pending wakeup bytes; return deliveries per signal number."""
        counts: dict[int, int] = {}
        while True:
            try:
                data = self._rsock.recv(4096)
            except (BlockingIOError, InterruptedError):
                break
            if not data:
                break
            for signum in data:
                counts[signum] = counts.get(signum, 0) + 1
        return counts

    def close(self) -> None:
        """Restore handlers for every signal still watched and close the socketpair."""
        for signum, evs in list(self.events.items()):
            for ev in list(evs):
                self.remove(ev, signum)
        self.release_current()
        self._rsock.close()
        self._wsock.close()

    def reinit(self, make_event: Callable[[int], Event]) -> None:
        """After fork: a fresh socketpair, so parent and child stop sharing one."""
        was_current = _receiver is self
        if was_current:
            self.release_current()
        self._rsock.close()
        self._wsock.close()
        self._rsock, self._wsock = socket.socketpair()
        self._rsock.setblocking(False)
        self._wsock.setblocking(False)
        self.read_event = make_event(self._rsock.fileno())
        if was_current or self.events:
            self.make_current()
