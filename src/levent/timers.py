"""Timer bookkeeping for the EventBase: the min-heap and libevent's common-timeout queues.

Both delete lazily. The heap keeps deadlines with a bucket of events per deadline;
a common-timeout queue keeps ``(deadline, seq, event)`` entries, live only while
the event still holds the entry with that ``seq``. Removing a timeout is then
O(1) instead of an O(n) search; stale entries are skipped when they reach the
front and purged in one O(n) rebuild once they outnumber live ones, so memory
stays within twice the live timer count.

Common timeouts (``EventBase.init_common_timeout``) share one duration, so their
deadlines arrive in order: a FIFO deque gives O(1) insertion instead of the
heap's O(log n). One internal heap timer per queue fires for its head.
"""

from __future__ import annotations

import heapq
from collections import deque
from itertools import count
from typing import TYPE_CHECKING, Any, TypeAlias

from mypy_extensions import mypyc_attr

if TYPE_CHECKING:
    from .event import Event

__all__ = ["CommonTimeout", "CommonTimeoutQueue", "TimerEntry", "TimerHeap"]

#: (absolute monotonic deadline, insertion sequence, event)
# A string: under mypyc the alias must not evaluate ``Event`` (imported for typing only).
TimerEntry: TypeAlias = "tuple[float, int, Event]"

_PURGE_MIN = 64


class TimerHeap:
    """Events waiting on their own deadline, earliest first (libevent's ``min_heap``).

    The heap holds bare float deadlines and a dict maps each deadline to the
    events due then (FIFO). Comparing floats is several times cheaper than
    comparing ``(deadline, seq, event)`` tuples, and a pop is what every fired
    timer pays. Removing a timeout takes the event out of its bucket; a
    deadline whose bucket emptied stays in the heap as a stale slot until it
    reaches the top, and all stale slots are purged in one O(n) rebuild once
    they outnumber the live deadlines.
    """

    __slots__ = ("_buckets", "_count", "_heap", "_stale")

    def __init__(self) -> None:
        self._heap: list[float] = []
        # deadline -> the one event due then, or a FIFO list when several are
        # (a list per timer would be an allocation on the hottest path).
        self._buckets: dict[float, Event | list[Event]] = {}
        self._count = 0
        self._stale = 0

    def __len__(self) -> int:
        return self._count

    def push(self, ev: Event, deadline: float) -> bool:
        """Schedule ``ev`` at ``deadline``; True when it became the earliest timer."""
        self._count += 1
        buckets = self._buckets
        bucket = buckets.get(deadline)
        if bucket is None:
            buckets[deadline] = ev
            heap = self._heap
            heapq.heappush(heap, deadline)
            return heap[0] == deadline
        if type(bucket) is list:
            bucket.append(ev)
        else:
            buckets[deadline] = [bucket, ev]  # type: ignore[list-item]
        return False

    def discard(self, ev: Event) -> None:
        """Take ``ev`` out of the heap (its deadline is ``ev._deadline``)."""
        deadline = ev._deadline
        bucket = self._buckets.get(deadline)
        if bucket is ev:
            del self._buckets[deadline]
            self._count -= 1
            self._stale += 1
            if self._stale > _PURGE_MIN and self._stale * 2 > len(self._heap):
                self._heap = list(self._buckets)
                heapq.heapify(self._heap)
                self._stale = 0
        elif type(bucket) is list and ev in bucket:
            self._count -= 1
            bucket.remove(ev)
            if len(bucket) == 1:
                self._buckets[deadline] = bucket[0]

    def _clean_top(self) -> float | None:
        heap = self._heap
        buckets = self._buckets
        while heap:
            deadline = heap[0]
            if deadline in buckets:
                return deadline
            heapq.heappop(heap)
            self._stale -= 1
        return None

    def next_deadline(self) -> float | None:
        """The earliest live deadline, or None when no timer is pending."""
        return self._clean_top()

    def top(self) -> Event | None:
        """The event with the earliest live deadline."""
        deadline = self._clean_top()
        if deadline is None:
            return None
        bucket = self._buckets[deadline]
        return bucket[0] if type(bucket) is list else bucket  # type: ignore[return-value]

    def pop_expired(self, now: float) -> Event | None:
        """Remove and return an event whose deadline is ``<= now``, else None."""
        heap = self._heap
        buckets = self._buckets
        while heap:
            deadline = heap[0]
            if deadline > now:
                return None
            bucket = buckets.get(deadline)
            if bucket is None:
                heapq.heappop(heap)
                self._stale -= 1
                continue
            self._count -= 1
            if type(bucket) is not list:
                del buckets[deadline]
                heapq.heappop(heap)
                return bucket  # type: ignore[return-value]
            ev = bucket.pop(0)
            if len(bucket) == 1:
                buckets[deadline] = bucket[0]
            return ev
        return None

    def events(self) -> list[Event]:
        """Live events in deadline order (for ``foreach_event`` and ``dump_events``)."""
        live: list[Event] = []
        for deadline in sorted(self._buckets):
            bucket = self._buckets[deadline]
            if type(bucket) is list:
                live.extend(bucket)
            else:
                live.append(bucket)  # type: ignore[arg-type]
        return live

    def clear(self) -> list[Event]:
        """Drop every entry and return the live events that were pending."""
        live = self.events()
        self._heap.clear()
        self._buckets.clear()
        self._count = 0
        self._stale = 0
        return live


# One sequence for every queue: an entry is live while its event still holds an entry
# with the same number. (Not tuple identity: compiled, a fixed-length tuple is unboxed
# and re-boxed, so ``is`` between two copies of one entry is False.)
_ENTRY_SEQ = count()


def _deadline_of(ev: Event) -> float:
    return ev._deadline


def _live(entry: TimerEntry) -> bool:
    held = entry[2]._timer_entry
    return held is not None and held[1] == entry[1]


class CommonTimeoutQueue:
    """Events sharing one duration, in deadline order (libevent's ``common_timeout_list``)."""

    __slots__ = ("base", "duration", "entries", "handle", "seq", "stale", "timer")

    def __init__(self, base: Any, duration: float, index: int, timer: Event) -> None:
        self.base = base
        self.duration = duration
        self.entries: deque[TimerEntry] = deque()
        self.seq = _ENTRY_SEQ
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
            self.entries = deque(e for e in self.entries if _live(e))
            self.stale = 0

    def _clean_head(self) -> TimerEntry | None:
        entries = self.entries
        while entries:
            entry = entries[0]
            if _live(entry):
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
        """Remove and return the head if its event's deadline is ``<= now``.

        An entry whose event's deadline moved later since it was queued (the base
        extends a persistent event's timeout in place) is queued again at that
        deadline instead.
        """
        while True:
            entry = self._clean_head()
            if entry is None or entry[0] > now:
                return None
            self.entries.popleft()
            ev = entry[2]
            deadline = ev._deadline
            if deadline > now:
                self.push(ev, deadline)
                continue
            ev._timer_entry = None
            return ev

    def events(self) -> list[Event]:
        """Live events in deadline order (the events' own deadlines: entries may lag)."""
        live = [e[2] for e in self.entries if _live(e)]
        live.sort(key=_deadline_of)
        return live


# Not a mypyc native class: native classes cannot subclass float. Defined after
# CommonTimeoutQueue because its class-level annotation is evaluated at import.
@mypyc_attr(native_class=False)
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
