"""Timer bookkeeping for the EventBase: the min-heap and libevent's common-timeout queues.

Both structures store ``(deadline, seq, event)`` entries and delete lazily: an
entry is live only while ``event._timer_entry is entry``. Removing a timeout is
then O(1) (forget the entry) instead of an O(n) heap search; stale entries are
skipped when they reach the top and purged in one O(n) rebuild once they
outnumber live ones, so memory stays within twice the live timer count.

Common timeouts (``EventBase.init_common_timeout``) share one duration, so their
deadlines arrive in order: a FIFO deque gives O(1) insertion instead of the
heap's O(log n). One internal heap timer per queue fires for its head.
"""

from __future__ import annotations

import heapq
from collections import deque
from itertools import count
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .event import Event

__all__ = ["CommonTimeout", "CommonTimeoutQueue", "TimerEntry", "TimerHeap"]

#: (absolute monotonic deadline, insertion sequence, event)
TimerEntry = tuple[float, int, "Event"]

_PURGE_MIN = 64


class TimerHeap:
    """Events waiting on their own deadline, earliest first (libevent's ``min_heap``)."""

    __slots__ = ("_heap", "_seq", "_stale")

    def __init__(self) -> None:
        self._heap: list[TimerEntry] = []
        self._seq = count()
        self._stale = 0

    def __len__(self) -> int:
        return len(self._heap) - self._stale

    def push(self, ev: Event, deadline: float) -> bool:
        """Schedule ``ev`` at ``deadline``; True when it became the earliest timer."""
        entry = (deadline, next(self._seq), ev)
        ev._timer_entry = entry
        heap = self._heap
        heapq.heappush(heap, entry)
        return heap[0] is entry

    def discard(self, ev: Event) -> None:
        """Forget ``ev``'s pending entry (its slot becomes stale)."""
        ev._timer_entry = None
        self._stale += 1
        if self._stale > _PURGE_MIN and self._stale * 2 > len(self._heap):
            self._heap = [e for e in self._heap if e[2]._timer_entry is e]
            heapq.heapify(self._heap)
            self._stale = 0

    def _clean_top(self) -> TimerEntry | None:
        heap = self._heap
        while heap:
            entry = heap[0]
            if entry[2]._timer_entry is entry:
                return entry
            heapq.heappop(heap)
            self._stale -= 1
        return None

    def next_deadline(self) -> float | None:
        """The earliest live deadline, or None when no timer is pending."""
        entry = self._clean_top()
        return None if entry is None else entry[0]

    def top(self) -> Event | None:
        """The event with the earliest live deadline."""
        entry = self._clean_top()
        return None if entry is None else entry[2]

    def pop_expired(self, now: float) -> Event | None:
        """Remove and return an event whose deadline is ``<= now``, else None."""
        heap = self._heap
        while heap:
            entry = heap[0]
            ev = entry[2]
            if ev._timer_entry is not entry:
                heapq.heappop(heap)
                self._stale -= 1
                continue
            if entry[0] > now:
                return None
            heapq.heappop(heap)
            ev._timer_entry = None
            return ev
        return None

    def events(self) -> list[Event]:
        """Live events in heap order (for ``foreach_event`` and ``dump_events``)."""
        return [e[2] for e in self._heap if e[2]._timer_entry is e]

    def clear(self) -> list[Event]:
        """Drop every entry and return the live events that were pending."""
        live = self.events()
        for ev in live:
            ev._timer_entry = None
        self._heap.clear()
        self._stale = 0
        return live


class CommonTimeout(float):
    """A duration registered with ``init_common_timeout``: pass it to ``Event.add``.

    It is a ``float`` (seconds), so it also works anywhere a timeout does; an
    ``EventBase`` recognises its own common timeouts and queues them in O(1).
    ``index`` is the creation order, as the bits libevent hides in ``tv_usec``.
    """

    __slots__ = ("index", "queue")

    index: int
    queue: CommonTimeoutQueue

    @property
    def tv_sec(self) -> int:
        """Whole seconds, as libevent's returned ``struct timeval``."""
        return int(self)

    @property
    def tv_usec(self) -> int:
        """Microseconds with libevent's magic marker and index bits."""
        usec = round((float(self) - int(self)) * 1_000_000)
        return usec | 0x50000000 | (self.index << 20)


class CommonTimeoutQueue:
    """Events sharing one duration, in deadline order (libevent's ``common_timeout_list``)."""

    __slots__ = ("base", "duration", "entries", "handle", "seq", "stale", "timer")

    def __init__(self, base: Any, duration: float, index: int, timer: Event) -> None:
        self.base = base
        self.duration = duration
        self.entries: deque[TimerEntry] = deque()
        self.seq = count()
        self.stale = 0
        self.timer = timer
        handle = CommonTimeout(duration)
        handle.index = index
        handle.queue = self
        self.handle = handle

    def __len__(self) -> int:
        return len(self.entries) - self.stale

    def push(self, ev: Event, deadline: float) -> bool:
        """Queue ``ev`` at ``deadline``; True when it became the head."""
        entry = (deadline, next(self.seq), ev)
        ev._timer_entry = entry
        entries = self.entries
        if not entries or entries[-1][0] <= deadline:
            entries.append(entry)
        else:
            # Out of order only when a persistent event is rescheduled from its
            # previous deadline; search from the back, as libevent does.
            index = len(entries)
            while index > 0 and entries[index - 1][0] > deadline:
                index -= 1
            entries.insert(index, entry)
        return self.head() is ev

    def discard(self, ev: Event) -> None:
        """Forget ``ev``'s entry (it stays in the deque as a stale slot)."""
        ev._timer_entry = None
        self.stale += 1
        if self.stale > _PURGE_MIN and self.stale * 2 > len(self.entries):
            self.entries = deque(e for e in self.entries if e[2]._timer_entry is e)
            self.stale = 0

    def _clean_head(self) -> TimerEntry | None:
        entries = self.entries
        while entries:
            entry = entries[0]
            if entry[2]._timer_entry is entry:
                return entry
            entries.popleft()
            self.stale -= 1
        return None

    def head(self) -> Event | None:
        """The event whose deadline comes first."""
        entry = self._clean_head()
        return None if entry is None else entry[2]

    def head_deadline(self) -> float | None:
        """The first deadline in the queue."""
        entry = self._clean_head()
        return None if entry is None else entry[0]

    def pop_expired(self, now: float) -> Event | None:
        """Remove and return the head if its deadline is ``<= now``."""
        entry = self._clean_head()
        if entry is None or entry[0] > now:
            return None
        self.entries.popleft()
        ev = entry[2]
        ev._timer_entry = None
        return ev

    def events(self) -> list[Event]:
        """Live events in deadline order."""
        return [e[2] for e in self.entries if e[2]._timer_entry is e]
