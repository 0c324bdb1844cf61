"""The reactor: ``EventBase`` (``struct event_base``) and ``EventConfig``.

The base owns every list an event can be on — the fd map, the signal map, the
timer heap and common-timeout queues, the per-priority active queues and the
"active later" queue — and runs the loop that moves events between them. The
loop follows libevent's ``event_base_loop`` step for step (see ``loop``), so
that programs ported from C see the same callback order.

Threads: the loop thread holds ``_lock`` for the whole of every iteration except
the wait in the backend. Operations from the loop thread (callbacks) skip the
lock; operations from any other thread take it — and so wait, at most, for the
current callback pass to end — then wake the loop through the notify fd.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import IO, Any, Final

from . import debug, log
from .backends import Backend, backend_class, supported_methods
from .constants import (
    EV,
    EV_FEATURE,
    EVENT_BASE_COUNT,
    EVENT_BASE_FLAG,
    EVENT_LOG,
    EVENT_MAX_PRIORITIES,
    EVLOOP,
)
from .errors import BackendError, EventStateError, LoopReentryError
from .event import (
    CLOSURE_EVENT,
    CLOSURE_PERSIST,
    CLOSURE_SIGNAL,
    EVLIST_ACTIVE,
    EVLIST_ACTIVE_LATER,
    EVLIST_FINALIZING,
    EVLIST_INIT,
    EVLIST_INSERTED,
    EVLIST_INTERNAL,
    EVLIST_TIMEOUT,
    Deferred,
    Event,
    EventCallback,
    FinalizeCallback,
)
from .evmap import IoMap
from .resources import ResourceGuard
from .signals import SignalReceiver, valid_signal
from .timers import CommonTimeout, CommonTimeoutQueue, TimerHeap
from .watch import Watch, run_check, run_prepare
from .watch import free_all as free_all_watches

__all__ = ["EventBase", "EventConfig", "ErrorHandler"]

#: ``handler(base, source, exc)``: ``source`` is the Event or callable that raised.
ErrorHandler = Callable[["EventBase", object, BaseException], object]

_READ: Final = int(EV.READ)
_WRITE: Final = int(EV.WRITE)
_CLOSED: Final = int(EV.CLOSED)
_ET: Final = int(EV.ET)
_SIGNAL: Final = int(EV.SIGNAL)
_TIMEOUT: Final = int(EV.TIMEOUT)
_IO: Final = _READ | _WRITE | _CLOSED

_MAX_COMMON_TIMEOUTS: Final = 256
_MAX_DEFERREDS_QUEUED: Final = 32
_CLOCK_SYNC_INTERVAL: Final = 5.0

_monotonic = time.monotonic
_get_ident = threading.get_ident


class EventConfig:
    """Choices for a new EventBase (``struct event_config``)."""

    __slots__ = (
        "avoided",
        "flags",
        "limit_callbacks_after_prio",
        "max_dispatch_callbacks",
        "max_dispatch_interval",
        "num_cpus_hint",
        "required_features",
    )

    def __init__(self) -> None:
        self.avoided: set[str] = set()
        self.required_features = EV_FEATURE(0)
        self.flags = EVENT_BASE_FLAG(0)
        self.num_cpus_hint = 0
        self.max_dispatch_interval: float | None = None
        self.max_dispatch_callbacks: int | None = None
        self.limit_callbacks_after_prio = 1

    def avoid_method(self, method: str) -> None:
        """Never use the backend called ``method`` (``event_config_avoid_method``)."""
        if not isinstance(method, str):
            raise TypeError("method must be a backend name such as 'epoll'")
        self.avoided.add(method)

    def require_features(self, features: int) -> None:
        """Only accept backends with all of ``features`` (``event_config_require_features``)."""
        if int(features) & ~0x0F or int(features) < 0:
            raise ValueError(f"unknown EV_FEATURE bits {int(features):#x}")
        self.required_features = EV_FEATURE(int(features))

    def set_flag(self, flag: int) -> None:
        """OR in an ``EVENT_BASE_FLAG_*`` (``event_config_set_flag``)."""
        if int(flag) & ~0xFF or int(flag) < 0:
            raise ValueError(f"unknown EVENT_BASE_FLAG bits {int(flag):#x}")
        self.flags |= EVENT_BASE_FLAG(int(flag))

    def set_num_cpus_hint(self, cpus: int) -> None:
        """Accepted for compatibility; it only matters to Windows IOCP."""
        if cpus < 0:
            raise ValueError("cpus must be non-negative")
        self.num_cpus_hint = cpus

    def set_max_dispatch_interval(
        self, max_interval: float | None, max_callbacks: int, min_priority: int
    ) -> None:
        """Bound each callback pass at priorities ≥ ``min_priority`` by time and count.

        Mirrors ``event_config_set_max_dispatch_interval``: ``None`` / ``-1`` mean
        unbounded; the loop re-polls sooner to reduce priority inversion.
        """
        if max_interval is not None and (max_interval != max_interval or max_interval < 0):
            raise ValueError("max_interval must be a non-negative number of seconds or None")
        self.max_dispatch_interval = max_interval
        self.max_dispatch_callbacks = None if max_callbacks < 0 else max_callbacks
        self.limit_callbacks_after_prio = max(min_priority, 0)


class _OnceRecord:
    __slots__ = ("arg", "callback", "event")

    def __init__(self, callback: EventCallback, arg: Any) -> None:
        self.callback = callback
        self.arg = arg
        self.event: Event | None = None


def _in_map(ev: Event) -> bool:
    """True when ``ev`` is registered in the fd map or the signal map."""
    return bool(ev._flags & EVLIST_INSERTED) and (bool(ev._events & _SIGNAL) or ev._fd >= 0)


def _check_timeout(timeout: float | None) -> float | None:
    if timeout is None or type(timeout) is float or type(timeout) is CommonTimeout:
        if timeout is not None and not 0.0 <= timeout < 1e12:
            raise ValueError(f"timeout must be a non-negative number of seconds, not {timeout!r}")
        return timeout
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be seconds as a float or None, not {type(timeout).__name__}")
    value = float(timeout)
    if not 0.0 <= value < 1e12:
        raise ValueError(f"timeout must be a non-negative number of seconds, not {timeout!r}")
    return value


class EventBase:
    """The event loop: a backend plus every pending and active event (``struct event_base``).

    ``EventBase()`` is ``event_base_new``; ``EventBase(config)`` is
    ``event_base_new_with_config``. Use it as a context manager, or call
    ``free()``, to release its fds.
    """

    __slots__ = (
        "_activeq",
        "_backend",
        "_break",
        "_clock_offset",
        "_clock_synced",
        "_common_queues",
        "_config",
        "_continue",
        "_current",
        "_error_handler",
        "_event_count",
        "_event_count_active",
        "_event_count_active_max",
        "_event_count_max",
        "_fdmap",
        "_freed",
        "_gotterm",
        "_guard",
        "_iomap",
        "_later",
        "_lock",
        "_n_deferreds_queued",
        "_no_cache_time",
        "_notify_event",
        "_notify_fds",
        "_notify_pending",
        "_notify_r",
        "_notify_w",
        "_npriorities",
        "_once",
        "_owner",
        "_res_et",
        "_running",
        "_running_priority",
        "_signals",
        "_time_cache",
        "_timers",
        "_virtual_count",
        "_virtual_count_max",
        "_watches",
    )

    def __init__(self, config: EventConfig | None = None) -> None:
        self._freed = True  # until construction succeeds
        cfg = config if config is not None else EventConfig()
        self._config = cfg
        self._backend = self._choose_backend(cfg)
        self._res_et = _ET if self._backend.features & EV_FEATURE.ET else 0
        self._no_cache_time = bool(cfg.flags & EVENT_BASE_FLAG.NO_CACHE_TIME)
        self._lock = threading.RLock()
        self._owner = 0
        self._running = False
        self._gotterm = False
        self._break = False
        self._continue = False
        self._running_priority = -1
        self._current: object = None
        self._npriorities = 1
        self._activeq: list[deque[Event | Deferred]] = [deque()]
        self._later: deque[Event | Deferred] = deque()
        self._n_deferreds_queued = 0
        self._iomap = IoMap(self._backend)
        self._fdmap = self._iomap.fds
        self._timers = TimerHeap()
        self._common_queues: list[CommonTimeoutQueue] = []
        self._event_count = 0
        self._event_count_max = 0
        self._event_count_active = 0
        self._event_count_active_max = 0
        self._virtual_count = 0
        self._virtual_count_max = 0
        self._time_cache = 0.0
        self._clock_offset = time.time() - _monotonic()
        self._clock_synced = _monotonic()
        self._error_handler: ErrorHandler | None = None
        self._once: set[_OnceRecord] = set()
        self._signals: SignalReceiver | None = None
        # Prepare and check watchers (levent.watch), indexed by kind.
        self._watches: list[list[Watch]] = [[], []]
        self._freed = False
        self._notify_pending = False
        self._notify_r, self._notify_w = _make_notify_fds()
        # The guard closes these if the base is dropped unfreed; reinit() updates the list.
        self._notify_fds = [self._notify_r, self._notify_w]
        self._guard = ResourceGuard(
            f"EventBase ({self._backend.name})",
            functools.partial(_release_unfreed, self._backend, self._notify_fds),
        )
        self._notify_event = self._internal_event(self._notify_r, self._drain_notify)
        self._add(self._notify_event, None, False)
        debug.note_created()

    # -- construction helpers ---------------------------------------------------

    @staticmethod
    def _choose_backend(cfg: EventConfig) -> Backend:
        use_env = not cfg.flags & EVENT_BASE_FLAG.IGNORE_ENV
        for name in supported_methods():
            if name in cfg.avoided:
                continue
            if use_env and os.environ.get("EVENT_NO" + name.upper()):
                continue
            backend = backend_class(name)()
            if cfg.required_features & ~backend.features:
                backend.close()
                continue
            if use_env and os.environ.get("EVENT_SHOW_METHOD"):
                log.show(EVENT_LOG.MSG, f"libevent using: {backend.name}")
            return backend
        raise BackendError(
            "no event backend satisfies the configuration "
            f"(avoided={sorted(cfg.avoided)}, required features="
            f"{EV_FEATURE(cfg.required_features)!r}, offered={supported_methods()})"
        )

    def _internal_event(self, fd: int, callback: Callable[[], object]) -> Event:
        """A persistent internal read event at priority 0 (not counted, never keeps the loop)."""

        def on_ready(_fd: int, _what: int, _arg: object) -> None:
            callback()

        ev = Event(self, fd, EV.READ | EV.PERSIST, on_ready)
        ev._flags |= EVLIST_INTERNAL
        ev._priority = 0
        return ev

    def _check_usable(self) -> None:
        if self._freed:
            raise EventStateError("the EventBase has been freed")

    # -- properties and simple getters -----------------------------------------

    @property
    def method(self) -> str:
        """The backend in use: ``"epoll"``, ``"kqueue"``, ``"poll"``, ``"select"``."""
        return self._backend.name

    @property
    def signal_method(self) -> str:
        """How signals arrive (``event_base_get_signal_method``): always ``"signal"``."""
        return "signal"

    @property
    def features(self) -> EV_FEATURE:
        """The backend's ``EV_FEATURE_*`` bits (``event_base_get_features``)."""
        return self._backend.features

    def get_npriorities(self) -> int:
        """Number of priority levels (``event_base_get_npriorities``)."""
        return self._npriorities

    def got_exit(self) -> bool:
        """True when the last loop ended because of ``loopexit`` (``event_base_got_exit``)."""
        return self._gotterm

    def got_break(self) -> bool:
        """True when the last loop ended because of ``loopbreak`` (``event_base_got_break``)."""
        return self._break

    def get_running_event(self) -> Event | None:
        """The event whose callback is running now (``event_base_get_running_event``)."""
        current = self._current
        return current if isinstance(current, Event) else None

    def set_error_handler(self, handler: ErrorHandler | None) -> None:
        """Route exceptions raised by callbacks to ``handler(base, source, exc)``.

        By default they are logged on the ``levent`` logger with their traceback
        and the loop goes on. A handler that raises stops the loop: the
        exception propagates out of ``loop()``.
        """
        if handler is not None and not callable(handler):
            raise TypeError("error handler must be callable or None")
        self._error_handler = handler

    # -- time ------------------------------------------------------------------

    def _now(self) -> float:
        cached = self._time_cache
        return cached if cached else _monotonic()

    def _clock_diff(self) -> float:
        now = _monotonic()
        if now - self._clock_synced > _CLOCK_SYNC_INTERVAL:
            self._clock_offset = time.time() - now
            self._clock_synced = now
        return self._clock_offset

    def gettimeofday_cached(self) -> float:
        """Wall-clock time, cached while callbacks run (``event_base_gettimeofday_cached``)."""
        cached = self._time_cache
        if not cached:
            return time.time()
        return cached + self._clock_diff()

    def gettime_monotonic(self) -> float:
        """The base's monotonic clock (``event_gettime_monotonic``)."""
        return _monotonic()

    def update_cache_time(self) -> None:
        """Refresh the cached time inside a callback (``event_base_update_cache_time``)."""
        if self._running and not self._no_cache_time:
            self._time_cache = _monotonic()

    # -- priorities and common timeouts ------------------------------------------

    def priority_init(self, npriorities: int) -> None:
        """Set the number of priority levels, 1 … 255 (``event_base_priority_init``).

        Refused while any callback is active. Events keep the priority they were
        assigned with; new events get ``npriorities // 2``.
        """
        if not isinstance(npriorities, int) or isinstance(npriorities, bool):
            raise TypeError("npriorities must be an int")
        if not 1 <= npriorities < EVENT_MAX_PRIORITIES:
            raise ValueError(f"npriorities must be in 1..{EVENT_MAX_PRIORITIES - 1}")
        if self._event_count_active:
            raise EventStateError("priority_init() while callbacks are active")
        if npriorities == self._npriorities:
            return
        self._npriorities = npriorities
        self._activeq = [deque() for _ in range(npriorities)]

    def init_common_timeout(self, duration: float) -> CommonTimeout:
        """A shared timeout with O(1) scheduling (``event_base_init_common_timeout``).

        Asking again for the same duration (or passing a returned value back)
        gives the same object; at most 256 per base.
        """
        self._check_usable()
        if isinstance(duration, CommonTimeout) and duration.queue.base is self:
            return duration
        seconds = _check_timeout(float(duration))
        assert seconds is not None
        # libevent compares whole microseconds; so do we.
        usecs = round(seconds * 1_000_000)
        for queue in self._common_queues:
            if round(queue.duration * 1_000_000) == usecs:
                return queue.handle
        if len(self._common_queues) >= _MAX_COMMON_TIMEOUTS:
            raise ValueError(f"too many common timeouts: at most {_MAX_COMMON_TIMEOUTS} per base")
        index = len(self._common_queues)
        timer = Event(self, -1, 0, self._common_timeout_fired)
        timer._flags |= EVLIST_INTERNAL
        timer._priority = 0
        queue = CommonTimeoutQueue(self, usecs / 1_000_000, index, timer)
        timer._arg = queue
        self._common_queues.append(queue)
        return queue.handle

    def _common_timeout_fired(self, _fd: int, _what: int, queue: CommonTimeoutQueue) -> None:
        now = self._now()
        while True:
            ev = queue.pop_expired(now)
            if ev is None:
                break
            ev._common = None
            self._expire(ev)
        head = queue.head_deadline()
        if head is not None:
            self._add(queue.timer, head, True)

    def _expire(self, ev: Event) -> None:
        """``timeout_process`` for one event whose timer entry was just popped.

        The event leaves every list — its fd or signal registration, and the
        active queue if it was already there — and is activated with
        ``EV_TIMEOUT`` alone: libevent 2.1 drops result flags given earlier by
        ``active()`` (checked against the C library in the conformance tests).
        """
        ev._flags = flags = ev._flags & ~EVLIST_TIMEOUT
        if not flags & EVLIST_INTERNAL:
            self._event_count -= 1
        if flags & (EVLIST_INSERTED | EVLIST_ACTIVE | EVLIST_ACTIVE_LATER) or ev._events & _SIGNAL:
            self._del(ev, False)
        self._activate(ev, _TIMEOUT, 1)

    # -- counting and introspection --------------------------------------------

    def get_num_events(self, flags: int) -> int:
        """Count events by list membership (``event_base_get_num_events``)."""
        total = 0
        if flags & EVENT_BASE_COUNT.ACTIVE:
            total += self._event_count_active
        if flags & EVENT_BASE_COUNT.VIRTUAL:
            total += self._virtual_count
        if flags & EVENT_BASE_COUNT.ADDED:
            total += self._event_count
        return total

    def get_max_events(self, flags: int, clear: bool = False) -> int:
        """High-water marks of the same counts (``event_base_get_max_events``)."""
        total = 0
        if flags & EVENT_BASE_COUNT.ACTIVE:
            total += self._event_count_active_max
            if clear:
                self._event_count_active_max = 0
        if flags & EVENT_BASE_COUNT.VIRTUAL:
            total += self._virtual_count_max
            if clear:
                self._virtual_count_max = 0
        if flags & EVENT_BASE_COUNT.ADDED:
            total += self._event_count_max
            if clear:
                self._event_count_max = 0
        return total

    def add_virtual(self) -> None:
        """Keep the loop alive without an event (libevent's ``event_base_add_virtual_``)."""
        self._virtual_count += 1
        self._virtual_count_max = max(self._virtual_count_max, self._virtual_count)

    def del_virtual(self) -> None:
        """Drop one reference taken by ``add_virtual``."""
        if self._virtual_count <= 0:
            raise EventStateError("del_virtual() without a matching add_virtual()")
        self._virtual_count -= 1
        if self._owner and self._owner != _get_ident():
            self._wake()

    def _walk_events(self) -> Iterator[Event]:
        """Each added or active event once, in libevent's order (internal ones included)."""
        for info in list(self._fdmap.values()):
            yield from list(info.events)
        signals = self._signals
        if signals is not None:
            for evs in list(signals.events.values()):
                yield from list(evs)
        for ev in self._timers.events():
            if not _in_map(ev):
                yield ev
        for queue in self._common_queues:
            for ev in queue.events():
                if not _in_map(ev):
                    yield ev
        queued = [item for q in self._activeq for item in q]
        for item in queued + list(self._later):
            if isinstance(item, Event) and not _in_map(item) and not item._flags & EVLIST_TIMEOUT:
                yield item
        # As in libevent, an fd-less "inserted" event with no timeout that is not
        # active is on no list that can be walked.

    def foreach_event(
        self, fn: Callable[[EventBase, Event, Any], int | None], arg: Any = None
    ) -> int:
        """Call ``fn(base, ev, arg)`` on each added or active event (``event_base_foreach_event``).

        Stops at the first non-zero return and returns it; ``fn`` must not
        modify the base.
        """
        if not callable(fn):
            raise TypeError("fn must be callable")
        seen: set[int] = set()
        for ev in self._walk_events():
            if id(ev) in seen:
                continue
            seen.add(id(ev))
            result = fn(self, ev, arg)
            if result:
                return int(result)
        return 0

    def dump_events(self, file: IO[str] | None = None) -> str:
        """Write libevent's human-readable dump of the events to ``file``; also return it."""
        lines = ["Inserted events:"]
        events = []
        seen: set[int] = set()
        for ev in self._walk_events():
            if id(ev) not in seen:
                seen.add(id(ev))
                events.append(ev)
        for ev in events:
            if ev._flags & (EVLIST_INSERTED | EVLIST_TIMEOUT):
                lines.append(self._dump_inserted(ev))
        lines.append("Active events:")
        for ev in events:
            if ev._flags & (EVLIST_ACTIVE | EVLIST_ACTIVE_LATER):
                lines.append(self._dump_active(ev))
        text = "\n".join(lines) + "\n"
        if file is not None:
            file.write(text)
        return text

    def _dump_inserted(self, ev: Event) -> str:
        gloss = "sig" if ev._events & _SIGNAL else "fd "
        e = ev._events
        parts = [
            " Read" if e & _READ else "",
            " Write" if e & _WRITE else "",
            " EOF" if e & _CLOSED else "",
            " Signal" if e & _SIGNAL else "",
            " Persist" if e & EV.PERSIST else "",
            " ET" if e & _ET else "",
            " Internal" if ev._flags & EVLIST_INTERNAL else "",
        ]
        line = f"  {id(ev):#x} [{gloss} {ev._fd}]{''.join(parts)}"
        deadline = ev.pending_timeout()
        if deadline is not None:
            sec = int(deadline)
            usec = round((deadline - sec) * 1_000_000)
            if usec >= 1_000_000:
                sec, usec = sec + 1, usec - 1_000_000
            line += f" Timeout={sec}.{usec:06d}"
        return line

    def _dump_active(self, ev: Event) -> str:
        gloss = "sig" if ev._events & _SIGNAL else "fd "
        r = ev._res
        parts = [
            " Read" if r & _READ else "",
            " Write" if r & _WRITE else "",
            " EOF" if r & _CLOSED else "",
            " Signal" if r & _SIGNAL else "",
            " Timeout" if r & _TIMEOUT else "",
        ]
        tail = " [Internal]" if ev._flags & EVLIST_INTERNAL else ""
        tail += " [NextTime]" if ev._flags & EVLIST_ACTIVE_LATER else ""
        flags = "".join(parts)
        return f"  {id(ev):#x} [{gloss} {ev._fd}, priority={ev._priority}]{flags} active{tail}"

    # -- adding, deleting, activating (the caller holds the lock or is the loop) --

    def _add(self, ev: Event, timeout: float | None, absolute: bool) -> None:
        """``event_add_nolock_``: make ``ev`` pending; ``timeout`` relative unless ``absolute``."""
        flags = ev._flags
        if flags & (EVLIST_FINALIZING | EVLIST_INIT) != EVLIST_INIT or self._freed:
            self._refuse_add(ev)
        if (
            not absolute
            and timeout is not None
            and (type(timeout) is not float or not 0.0 <= timeout < 1e12)
        ):
            timeout = _check_timeout(timeout)
        events = ev._events
        if events & (_IO | _SIGNAL) and not flags & (
            EVLIST_INSERTED | EVLIST_ACTIVE | EVLIST_ACTIVE_LATER
        ):
            if events & _IO:
                self._iomap.add(ev)
            else:
                self._signal_add(ev)
            ev._flags = flags = flags | EVLIST_INSERTED
            if not flags & EVLIST_INTERNAL:
                self._count_up()
        # Kept as float | None (boxed): compiled, narrowing to float would unbox a
        # CommonTimeout into a plain float and lose its O(1) queue.
        given: float | None = timeout
        if timeout is None:
            return
        if ev._closure == CLOSURE_PERSIST and not absolute:
            ev._interval = given
        # An absolute deadline comes from rescheduling a persistent event: it
        # stays in the common queue its interval names, if any.
        duration = ev._interval if absolute else given
        common: CommonTimeoutQueue | None = None
        if type(duration) is CommonTimeout and duration.queue.base is self:
            common = duration.queue
        if flags & EVLIST_TIMEOUT:
            self._unlink_timeout(ev)
            flags = ev._flags
        if flags & EVLIST_ACTIVE and ev._res & _TIMEOUT:
            # Re-adding an event that is active because of its timeout cancels the
            # queued callback: the new timeout replaces the one that fired.
            if events & _SIGNAL:
                ev._ncalls = 0
            self._unlink_active(ev)
            flags = ev._flags
        if absolute:
            deadline = timeout
        else:
            cached = self._time_cache
            deadline = (cached if cached else _monotonic()) + timeout
        ev._deadline = deadline
        ev._flags = flags | EVLIST_TIMEOUT
        if not flags & EVLIST_INTERNAL:
            count = self._event_count + 1
            self._event_count = count
            if count > self._event_count_max:
                self._event_count_max = count
        if common is not None:
            ev._common = common
            if common.push(ev, deadline):
                self._add(common.timer, deadline, True)
        else:
            ev._common = None
            if self._timers.push(ev, deadline) and self._owner and self._owner != _get_ident():
                self._wake()

    def _refuse_add(self, ev: Event) -> None:
        if self._freed:
            raise EventStateError("add() on an event whose EventBase has been freed")
        if ev._flags & EVLIST_FINALIZING:
            raise EventStateError("add() on an event that is being finalized")
        raise EventStateError("add() on an event that is not initialized")

    def _count_up(self) -> None:
        count = self._event_count + 1
        self._event_count = count
        if count > self._event_count_max:
            self._event_count_max = count

    def _unlink_timeout(self, ev: Event) -> None:
        common = ev._common
        if common is not None:
            common.discard(ev)
            ev._common = None
        else:
            self._timers.discard(ev)
        ev._flags &= ~EVLIST_TIMEOUT
        if not ev._flags & EVLIST_INTERNAL:
            self._event_count -= 1

    def _unlink_active(self, ev: Event | Deferred) -> None:
        flags = ev._flags
        if flags & EVLIST_ACTIVE:
            self._activeq[ev._priority].remove(ev)
            ev._flags = flags & ~EVLIST_ACTIVE
        elif flags & EVLIST_ACTIVE_LATER:
            self._later.remove(ev)
            ev._flags = flags & ~EVLIST_ACTIVE_LATER
        else:
            return
        self._event_count_active -= 1
        if not flags & EVLIST_INTERNAL:
            self._event_count -= 1

    def _del(self, ev: Event, even_if_finalizing: bool) -> None:
        """``event_del_nolock_``: remove ``ev`` from every list it is on."""
        flags = ev._flags
        if flags & EVLIST_FINALIZING and not even_if_finalizing:
            return
        if ev._events & _SIGNAL:
            ev._ncalls = 0
        if flags & EVLIST_TIMEOUT:
            self._unlink_timeout(ev)
        if flags & (EVLIST_ACTIVE | EVLIST_ACTIVE_LATER):
            self._unlink_active(ev)
        if flags & EVLIST_INSERTED:
            ev._flags &= ~EVLIST_INSERTED
            if not flags & EVLIST_INTERNAL:
                self._event_count -= 1
            if ev._events & _IO:
                self._iomap.remove(ev)
            else:
                self._signal_del(ev)

    def _remove_timer(self, ev: Event) -> None:
        if ev._flags & EVLIST_TIMEOUT:
            self._unlink_timeout(ev)
            ev._interval = None

    def _activate(self, ev: Event, res: int, ncalls: int) -> None:
        """``event_active_nolock_``: queue ``ev``'s callback with result flags ``res``."""
        flags = ev._flags
        if (
            flags & (EVLIST_FINALIZING | EVLIST_INIT | EVLIST_ACTIVE | EVLIST_ACTIVE_LATER)
            != EVLIST_INIT
            or self._freed
        ):
            # Rare states: already queued, finalizing, unusable.
            if flags & EVLIST_FINALIZING:
                return
            if not flags & EVLIST_INIT:
                raise EventStateError("active() on an event that is not initialized")
            if self._freed:
                raise EventStateError("active() on an event whose EventBase has been freed")
            ev._res |= res
            if flags & EVLIST_ACTIVE:
                return
            self._later.remove(ev)
            flags &= ~EVLIST_ACTIVE_LATER
        else:
            ev._res = res
            count = self._event_count_active + 1
            self._event_count_active = count
            if count > self._event_count_active_max:
                self._event_count_active_max = count
            if not flags & EVLIST_INTERNAL:
                count = self._event_count + 1
                self._event_count = count
                if count > self._event_count_max:
                    self._event_count_max = count
        pri = ev._priority
        if pri < self._running_priority:
            self._continue = True
        if ev._events & _SIGNAL:
            ev._ncalls = ncalls
        ev._flags = flags | EVLIST_ACTIVE
        self._activeq[pri].append(ev)

    def _schedule_deferred(self, cb: Deferred) -> None:
        if self._freed:
            raise EventStateError("schedule() on a Deferred whose EventBase has been freed")
        flags = cb._flags
        if flags & (EVLIST_ACTIVE | EVLIST_ACTIVE_LATER):
            return
        if cb._priority >= self._npriorities:
            cb._priority = self._npriorities - 1
        self._event_count_active += 1
        self._count_up()
        if self._n_deferreds_queued > _MAX_DEFERREDS_QUEUED:
            # Too many deferreds this iteration: let I/O have a turn first.
            cb._flags = flags | EVLIST_ACTIVE_LATER
            self._later.append(cb)
            return
        self._n_deferreds_queued += 1
        if cb._priority < self._running_priority:
            self._continue = True
        cb._flags = flags | EVLIST_ACTIVE
        self._activeq[cb._priority].append(cb)

    def _schedule_deferred_later(self, cb: Deferred) -> None:
        """Queue ``cb`` for the next iteration, after the backend is polled again:
        a callback that keeps rescheduling itself cannot starve I/O."""
        if self._freed:
            raise EventStateError("schedule() on a Deferred whose EventBase has been freed")
        flags = cb._flags
        if flags & (EVLIST_ACTIVE | EVLIST_ACTIVE_LATER):
            return
        if cb._priority >= self._npriorities:
            cb._priority = self._npriorities - 1
        self._event_count_active += 1
        self._count_up()
        cb._flags = flags | EVLIST_ACTIVE_LATER
        self._later.append(cb)

    def _cancel_deferred(self, cb: Deferred) -> None:
        self._unlink_active(cb)

    def _finalize(self, ev: Event, callback: FinalizeCallback, free: bool) -> None:
        if ev._flags & EVLIST_FINALIZING:
            return
        self._del(ev, True)
        ev._flags |= EVLIST_FINALIZING
        ev._finalizer = callback
        ev._res = 1 if free else 0
        self._event_count_active += 1
        if not ev._flags & EVLIST_INTERNAL:
            self._count_up()
        ev._flags |= EVLIST_ACTIVE
        self._activeq[ev._priority].append(ev)

    # -- the signal map (the fd map is levent.evmap) ------------------------------

    def _signal_add(self, ev: Event) -> None:
        signum = ev._fd
        if not valid_signal(signum):
            raise ValueError(f"invalid signal number {signum}")
        signals = self._signals
        if signals is None:
            signals = self._signals = SignalReceiver(self._make_signal_event)
            self._add(signals.read_event, None, False)
        signals.add(ev, signum)

    def _make_signal_event(self, fd: int) -> Event:
        return self._internal_event(fd, self._deliver_signals)

    def _signal_del(self, ev: Event) -> None:
        signals = self._signals
        if signals is not None:
            signals.remove(ev, ev._fd)

    def _deliver_signals(self) -> None:
        signals = self._signals
        if signals is None:
            return
        for signum, ncalls in signals.drain().items():
            for ev in list(signals.events.get(signum, ())):
                self._activate(ev, _SIGNAL, ncalls)

    def active_by_fd(self, fd: int, what: int) -> None:
        """Activate the pending events on ``fd`` that match ``what`` (``event_base_active_by_fd``).

        With ``EV_TIMEOUT`` in ``what``, every event on ``fd`` with a pending
        timeout also gets ``EV_TIMEOUT``. Unknown fds are ignored.
        """
        if self._owner == _get_ident():
            self._active_by_fd(fd, int(what))
        else:
            with self._lock:
                self._active_by_fd(fd, int(what))
                self._wake()

    def _active_by_fd(self, fd: int, what: int) -> None:
        info = self._fdmap.get(fd)
        if info is None:
            return
        for ev in list(info.events):
            if ev._events & what & _IO:
                self._activate(ev, ev._events & what & (_IO | _ET), 1)
        if what & _TIMEOUT:
            for ev in list(info.events):
                if ev._flags & EVLIST_TIMEOUT:
                    self._activate(ev, _TIMEOUT, 1)

    def active_by_signal(self, signum: int) -> None:
        """Activate the pending events for ``signum`` (``event_base_active_by_signal``)."""
        if self._owner == _get_ident():
            self._active_by_signal(signum)
        else:
            with self._lock:
                self._active_by_signal(signum)
                self._wake()

    def _active_by_signal(self, signum: int) -> None:
        signals = self._signals
        if signals is None or not valid_signal(signum):
            return
        for ev in list(signals.events.get(signum, ())):
            self._activate(ev, _SIGNAL, 1)

    def set(self, ev: Event) -> None:
        """Move a never-added event to this base (``event_base_set``); priority resets."""
        self._check_usable()
        if ev._flags & (EVLIST_INSERTED | EVLIST_TIMEOUT | EVLIST_ACTIVE | EVLIST_ACTIVE_LATER):
            raise EventStateError("event_base_set() on a pending or active event")
        if not ev._flags & EVLIST_INIT:
            raise EventStateError("event_base_set() on a non-initialized event")
        ev._base = self
        ev._priority = self._npriorities // 2

    # -- one-shot events and loop control ---------------------------------------

    def once(
        self,
        fd: object,
        what: int,
        callback: EventCallback,
        arg: Any = None,
        timeout: float | None = None,
    ) -> None:
        """Run ``callback(fd, what, arg)`` once when ``what`` happens (``event_base_once``).

        ``what`` is ``EV_TIMEOUT`` and/or ``EV_READ``/``EV_WRITE``/``EV_CLOSED``;
        ``EV_SIGNAL`` and ``EV_PERSIST`` are refused. A timeout-only once with no
        (or a zero) timeout runs in the very next pass.
        """
        if not callable(callback):
            raise TypeError("callback must be callable")
        what = int(what)
        if what & (_SIGNAL | EV.PERSIST):
            raise ValueError("once() does not accept EV_SIGNAL or EV_PERSIST")
        if not what & (_TIMEOUT | _IO):
            raise ValueError("once() needs EV_TIMEOUT or EV_READ/EV_WRITE/EV_CLOSED")
        timeout = _check_timeout(timeout)
        record = _OnceRecord(callback, arg)
        if self._owner == _get_ident():
            self._once_add(record, fd, what, timeout)
        else:
            with self._lock:
                self._once_add(record, fd, what, timeout)
                self._wake()

    def _once_add(self, record: _OnceRecord, fd: object, what: int, timeout: float | None) -> None:
        self._check_usable()
        if what & _IO:
            ev = Event(self, fd, what & (_IO | _ET), self._run_once, record)
        else:
            ev = Event(self, -1, 0, self._run_once, record)
        record.event = ev
        self._once.add(record)
        try:
            if what == _TIMEOUT and not timeout:
                self._activate(ev, _TIMEOUT, 1)
            else:
                self._add(ev, timeout, False)
        except BaseException:
            self._once.discard(record)
            raise

    def _run_once(self, fd: int, what: int, record: _OnceRecord) -> None:
        self._once.discard(record)
        ev = record.event
        record.event = None
        if ev is not None:
            ev._flags = 0
            ev._base = None
        record.callback(fd, what, record.arg)

    def loopexit(self, timeout: float | None = None) -> None:
        """End the loop after ``timeout`` seconds, or after this pass (``event_base_loopexit``).

        It is an ordinary one-shot event at the middle priority, so a pending
        loopexit keeps the loop running until it fires.
        """
        self.once(-1, _TIMEOUT, self._loopexit_fired, None, timeout)

    def _loopexit_fired(self, _fd: int, _what: int, _arg: object) -> None:
        self._gotterm = True

    def loopbreak(self) -> None:
        """Stop the running loop right after the current callback (``event_base_loopbreak``)."""
        self._break = True
        if self._owner and self._owner != _get_ident():
            with self._lock:
                self._wake()

    def loopcontinue(self) -> None:
        """End the current callback pass and poll again (``event_base_loopcontinue``)."""
        self._continue = True

    # -- cross-thread wakeups -------------------------------------------------------

    def _wake(self) -> None:
        """Wake a loop blocked in another thread (``evthread_notify_base``)."""
        if self._owner and not self._notify_pending and not self._freed:
            self._notify_pending = True
            _notify_write(self._notify_w)

    def _drain_notify(self) -> None:
        _notify_drain(self._notify_r)
        self._notify_pending = False

    # -- the loop -------------------------------------------------------------

    def dispatch(self) -> int:
        """Run until no events remain or loopexit/loopbreak (``event_base_dispatch``)."""
        return self.loop(0)

    def loop(self, flags: int = 0) -> int:
        """Run the event loop (``event_base_loop``).

        Returns 0 when it ended normally (loopexit, loopbreak, ``EVLOOP_ONCE`` or
        ``EVLOOP_NONBLOCK`` done) and 1 when nothing was left pending or active.
        Raises ``LoopReentryError`` when called from inside this base's loop and
        ``OSError`` when the backend fails.
        """
        flags = int(flags)
        lock = self._lock
        with lock:
            self._check_usable()
            if self._running:
                log.warn("event_base_loop: reentrant invocation; only one loop may run per base")
                raise LoopReentryError(
                    "loop() called while this EventBase's loop is already running"
                )
            self._running = True
            self._owner = _get_ident()
            self._time_cache = 0.0
            signals = self._signals
            if signals is not None and signals.events:
                signals.make_current()
            self._gotterm = self._break = False
            try:
                return self._run(flags, lock)
            finally:
                self._time_cache = 0.0
                self._running = False
                self._owner = 0
                self._running_priority = -1
                self._current = None

    def _run(self, flags: int, lock: threading.RLock) -> int:
        """The loop body: libevent's ``event_base_loop`` after its set-up."""
        backend = self._backend
        wait = backend.wait
        result_flags = backend.result_flags
        res_et = self._res_et
        fdmap = self._fdmap
        timers = self._timers
        nonblock = flags & EVLOOP.NONBLOCK
        once = flags & EVLOOP.ONCE
        exit_on_empty = not flags & EVLOOP.NO_EXIT_ON_EMPTY
        no_cache = self._no_cache_time
        activate = self._activate
        while True:
            self._continue = False
            self._n_deferreds_queued = 0
            if self._gotterm or self._break:
                return 0
            # How long may we block? Not at all with callbacks queued or NONBLOCK;
            # else until the earliest timer, or forever.
            if self._event_count_active or nonblock:
                timeout: float | None = 0.0
            elif not timers._count:
                timeout = None
            else:
                deadline = timers.next_deadline()
                if deadline is None:
                    timeout = None
                else:
                    timeout = deadline - _monotonic()
                    if timeout < 0.0:
                        timeout = 0.0
            if (
                exit_on_empty
                and not self._event_count
                and not self._virtual_count
                and not self._event_count_active
            ):
                return 1
            later = self._later
            while later:
                self._make_later_active(later.popleft())
            watches = self._watches
            if watches[0]:
                run_prepare(self, timeout)
                if self._event_count_active:
                    timeout = 0.0  # a watcher queued work: do not sleep on it
            # The time cache is stale from here until the wait returns; callers
            # on other threads read the clock instead (libevent: clear_time_cache).
            self._time_cache = 0.0
            lock.release()
            try:
                ready = wait(timeout)
            finally:
                lock.acquire()
            if not no_cache:
                self._time_cache = now = _monotonic()
            else:
                now = _monotonic()
            if watches[1]:
                run_check(self)
            # I/O readiness → activations, in the kernel's order.
            for fd, native in ready:
                info = fdmap.get(fd)
                if info is None:
                    continue
                res = result_flags[native] | res_et
                for ev in info.events:
                    what = ev._events & res
                    if what & _IO:
                        activate(ev, what, 1)
            # Expired timers: each leaves every list and becomes active with EV_TIMEOUT.
            if timers._count:
                while True:
                    expired = timers.pop_expired(now)
                    if expired is None:
                        break
                    self._expire(expired)
            if self._event_count_active:
                ran = self._process_active()
                if ran < 0:
                    return 0
                if once and not self._event_count_active and ran:
                    return 0
            elif nonblock:
                return 0

    def _make_later_active(self, item: Event | Deferred) -> None:
        item._flags = (item._flags & ~EVLIST_ACTIVE_LATER) | EVLIST_ACTIVE
        if item._priority >= self._npriorities:
            item._priority = self._npriorities - 1
        self._activeq[item._priority].append(item)

    def _process_active(self) -> int:
        """Run one priority level: the most urgent queue holding a non-internal callback.

        Returns the number of non-internal callbacks run, or -1 after loopbreak.
        """
        cfg = self._config
        limit_after = cfg.limit_callbacks_after_prio
        max_cbs = cfg.max_dispatch_callbacks
        max_interval = cfg.max_dispatch_interval
        for pri, queue in enumerate(self._activeq):
            if not queue:
                continue
            self._running_priority = pri
            if pri < limit_after or (max_cbs is None and max_interval is None):
                count = self._process_queue(queue, None, None)
            else:
                endtime = None if max_interval is None else _monotonic() + max_interval
                count = self._process_queue(queue, max_cbs, endtime)
            if count:
                self._running_priority = -1
                return count
        self._running_priority = -1
        return 0

    def _process_queue(
        self, queue: deque[Event | Deferred], max_cbs: int | None, endtime: float | None
    ) -> int:
        """Run the callbacks of one active queue, FIFO (``event_process_active_single_queue``).

        Callbacks activated at this priority during the pass run in the same pass,
        as in libevent; the pass ends early after loopbreak, loopcontinue, the
        dispatch bounds, or an activation at a more urgent priority.
        """
        count = 0
        slow = debug._enabled
        popleft = queue.popleft
        while queue:
            item = popleft()
            flags = item._flags
            self._event_count_active -= 1
            if not flags & EVLIST_INTERNAL:
                self._event_count -= 1
                count += 1
            item._flags = flags = flags & ~EVLIST_ACTIVE
            self._current = item
            started = _monotonic() if slow else 0.0
            try:
                if type(item) is Event and not flags & EVLIST_FINALIZING:
                    closure = item._closure
                    if closure == CLOSURE_EVENT:
                        # A non-persistent event is no longer pending in its callback.
                        if flags & (EVLIST_INSERTED | EVLIST_TIMEOUT):
                            self._del(item, False)
                        item._callback(item._fd, item._res, item._arg)  # type: ignore[misc]
                    elif closure == CLOSURE_PERSIST and not item._interval:
                        item._callback(item._fd, item._res, item._arg)  # type: ignore[misc]
                    else:
                        self._run_event(item, flags)
                elif isinstance(item, Deferred):
                    item._callback()
                else:
                    self._run_finalizer(item)
            except Exception as exc:
                self._report(item, exc)
            finally:
                self._current = None
            if slow:
                elapsed = _monotonic() - started
                if elapsed > debug.SLOW_CALLBACK_SECONDS:
                    log.warn(f"slow callback: {item!r} took {elapsed:.3f}s")
            if self._break:
                return -1
            if max_cbs is not None and count >= max_cbs:
                return count
            if endtime is not None and count and _monotonic() >= endtime:
                return count
            if self._continue:
                break
        return count

    def _run_event(self, ev: Event, flags: int) -> None:
        closure = ev._closure
        callback = ev._callback
        assert callback is not None
        if closure == CLOSURE_PERSIST:
            interval = ev._interval
            if interval:  # a zero interval is "no timeout" to libevent's closure
                self._reschedule_persistent(ev, interval)
            callback(ev._fd, ev._res, ev._arg)
        elif closure == CLOSURE_SIGNAL:
            if not ev._events & EV.PERSIST:
                self._del(ev, False)
            while ev._ncalls > 0:
                ev._ncalls -= 1
                callback(ev._fd, ev._res, ev._arg)
                if self._break:
                    ev._ncalls = 0
                    return
        else:
            # A non-persistent event is no longer pending inside its callback.
            self._del(ev, False)
            callback(ev._fd, ev._res, ev._arg)

    def _reschedule_persistent(self, ev: Event, interval: float) -> None:
        """``event_persist_closure``: the next deadline of a persistent event with a timeout.

        After a timeout the next one is due ``interval`` after the previous
        deadline (no drift); after I/O or ``active()`` it restarts from now. A
        missed period is skipped, never replayed.
        """
        now = self._now()
        if ev._res & _TIMEOUT:
            run_at = ev._deadline + interval
            if run_at < now:
                run_at = now + interval
        else:
            run_at = now + interval
            if ev._common is not None and ev._flags & EVLIST_TIMEOUT and run_at >= ev._deadline:
                # I/O restarted an inactivity timeout in a common queue: move the deadline
                # and leave the entry where it is; when the entry comes due the queue
                # sees the later deadline and requeues it (CommonTimeoutQueue.pop_expired).
                # A busy connection then costs no queue operation per read.
                ev._deadline = run_at
                return
        self._add(ev, run_at, True)

    def _run_finalizer(self, ev: Event) -> None:
        callback = ev._finalizer
        free = ev._res == 1
        ev._finalizer = None
        if free:
            ev._flags = 0
            base, ev._base = ev._base, None
            del base
        if callback is not None:
            callback(ev, ev._arg)

    def _report(self, source: object, exc: Exception) -> None:
        handler = self._error_handler
        if handler is not None:
            handler(self, source, exc)
            return
        log.error(f"exception in callback of {source!r}", exc)

    # -- fork and teardown ---------------------------------------------------------

    def reinit(self) -> None:
        """Rebuild kernel state after ``fork()`` in the child (``event_reinit``)."""
        self._check_usable()
        with self._lock:
            self._backend.reinit()
            self._del(self._notify_event, True)
            _notify_close(self._notify_r, self._notify_w)
            self._notify_r, self._notify_w = _make_notify_fds()
            self._notify_fds[:] = [self._notify_r, self._notify_w]
            self._notify_pending = False
            self._notify_event = self._internal_event(self._notify_r, self._drain_notify)
            self._add(self._notify_event, None, False)
            signals = self._signals
            if signals is not None:
                self._del(signals.read_event, True)
                signals.reinit(self._make_signal_event)
                self._add(signals.read_event, None, False)

    def free(self) -> None:
        """Release the backend, internal fds and signal handlers (``event_base_free``).

        Pending and active events are detached: they stop being pending and any
        later ``add()`` on them raises. Finalizers still pending run now. Fds and
        callback arguments are not closed.
        """
        if self._freed:
            return
        with self._lock:
            if self._running:
                raise EventStateError("free() while the loop is running")
            for info in list(self._fdmap.values()):
                for ev in info.events:
                    ev._flags &= ~EVLIST_INSERTED
            if self._signals is not None:
                for evs in self._signals.events.values():
                    for ev in evs:
                        ev._flags &= ~EVLIST_INSERTED
                self._signals.close()
                self._signals = None
            for ev in self._timers.clear():
                ev._flags &= ~EVLIST_TIMEOUT
            for queue in self._common_queues:
                for ev in queue.events():
                    ev._timer_entry = None
                    ev._flags &= ~EVLIST_TIMEOUT
            finalizing = [
                item
                for q in self._activeq
                for item in q
                if isinstance(item, Event) and item._flags & EVLIST_FINALIZING
            ]
            for q in self._activeq:
                for item in q:
                    item._flags &= ~EVLIST_ACTIVE
                q.clear()
            for item in self._later:
                item._flags &= ~EVLIST_ACTIVE_LATER
            self._later.clear()
            self._fdmap.clear()
            self._once.clear()
            free_all_watches(self)
            self._event_count = self._event_count_active = 0
            self._freed = True
            self._guard.disarm()
            self._backend.close()
            _notify_close(self._notify_r, self._notify_w)
        # Like event_base_free (not _nofinalize): pending finalizers still run.
        for ev in finalizing:
            try:
                self._run_finalizer(ev)
            except Exception as exc:
                self._report(ev, exc)

    def __enter__(self) -> EventBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.free()

    def __repr__(self) -> str:
        state = "freed" if self._freed else ("running" if self._running else "idle")
        return (
            f"<EventBase method={self._backend.name} {state} events={self._event_count} "
            f"active={self._event_count_active} priorities={self._npriorities}>"
        )


# -- the notify channel: an eventfd where Linux has one, else a socketpair -------

_HAVE_EVENTFD: Final = hasattr(os, "eventfd")


def _make_notify_fds() -> tuple[int, int]:
    if _HAVE_EVENTFD:
        fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        return fd, fd
    r, w = socket.socketpair()
    r.setblocking(False)
    w.setblocking(False)
    return r.detach(), w.detach()


def _notify_write(fd: int) -> None:
    # A saturated counter (or a full socket) means the loop is being woken anyway.
    with contextlib.suppress(BlockingIOError):
        if _HAVE_EVENTFD:
            os.eventfd_write(fd, 1)
        else:
            os.write(fd, b"\0")


def _notify_drain(fd: int) -> None:
    if _HAVE_EVENTFD:
        with contextlib.suppress(BlockingIOError):
            os.eventfd_read(fd)
        return
    while True:
        try:
            if not os.read(fd, 1024):
                return
        except BlockingIOError:
            return


def _notify_close(rfd: int, wfd: int) -> None:
    os.close(rfd)
    if wfd != rfd:
        os.close(wfd)


def _release_unfreed(backend: Backend, notify_fds: list[int]) -> None:
    """Close what an EventBase dropped without ``free()`` still holds (its guard calls this)."""
    backend.close()
    _notify_close(notify_fds[0], notify_fds[1])
