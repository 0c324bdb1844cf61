"""Events: libevent's ``struct event`` and its state machine, plus deferred callbacks.

An Event moves through these states (``docs/event-states.md`` draws them)::

    non-initialized --assign()--> initialized --add()--> pending
          ^                          ^   |                  |  condition / timeout /
          |                          |   +--active()--+     |  active()
        free()                       |                v     v
          |                          +---(not PERSIST)--- active --callback runs-->
          +-- from any state                (PERSIST: pending again)

Pending and active are independent: a persistent event is both while its
callback waits in the queue. The bookkeeping (timer heap, fd map, active queues)
belongs to the ``EventBase``; an Event holds its own flags and forwards every
operation to its base, taking the base lock only when called from a thread other
than the one running the loop.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from . import debug
from .constants import EV
from .errors import DebugModeError, EventStateError

if TYPE_CHECKING:
    from .base import EventBase
    from .timers import CommonTimeoutQueue, TimerEntry

__all__ = ["SELF", "Deferred", "Event", "EventCallback", "FinalizeCallback"]

EventCallback = Callable[[int, int, Any], object]
FinalizeCallback = Callable[["Event", Any], object]

# Membership flags (libevent's EVLIST_*). An Event is in any combination of
# these lists; the counts the base reports are per membership.
EVLIST_TIMEOUT: Final = 0x01
EVLIST_INSERTED: Final = 0x02
EVLIST_SIGNAL: Final = 0x04
EVLIST_ACTIVE: Final = 0x08
EVLIST_INTERNAL: Final = 0x10
EVLIST_ACTIVE_LATER: Final = 0x20
EVLIST_FINALIZING: Final = 0x40
EVLIST_INIT: Final = 0x80

# How the loop runs the callback (libevent's ev_closure).
CLOSURE_EVENT: Final = 0
CLOSURE_SIGNAL: Final = 1
CLOSURE_PERSIST: Final = 2

_IO_MASK: Final = int(EV.READ | EV.WRITE | EV.CLOSED)
_RW_MASK: Final = int(EV.READ | EV.WRITE)
_SIGNAL: Final = int(EV.SIGNAL)
_PERSIST: Final = int(EV.PERSIST)
_TIMEOUT_FLAG: Final = int(EV.TIMEOUT)
_get_ident = threading.get_ident


class _SelfArg:
    """The type of ``SELF``: pass it as ``arg`` to receive the event itself."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "levent.SELF"


#: ``event_self_cbarg()``: as an Event's ``arg``, the callback receives the Event.
SELF: Final = _SelfArg()


def _fileno(fd: object) -> int:
    if isinstance(fd, int):
        return int(fd)  # an IntEnum such as signal.SIGINT becomes a plain int
    fileno = getattr(fd, "fileno", None)
    if fileno is None:
        raise TypeError(f"fd must be an int or have fileno(), not {type(fd).__name__}")
    result = fileno()
    if not isinstance(result, int):
        raise TypeError("fileno() did not return an int")
    return result


class Event:
    """One condition to wait for: an fd's readiness, a signal, a timeout (``struct event``).

    ``Event(base, fd, what, callback, arg)`` is ``event_new``; ``Event()`` is an
    unassigned event (``struct event`` in caller memory) for ``assign`` to set up.
    The callback is called as ``callback(fd, what, arg)`` where ``what`` is the
    int of ``EV_*`` flags that fired.
    """

    __slots__ = (
        "_arg",
        "_base",
        "_callback",
        "_closure",
        "_common",
        "_deadline",
        "_events",
        "_fd",
        "_fileobj",
        "_finalizer",
        "_flags",
        "_interval",
        "_ncalls",
        "_priority",
        "_res",
        "_timer_entry",
    )

    _base: EventBase | None
    _common: CommonTimeoutQueue | None
    _timer_entry: TimerEntry | None

    def __init__(
        self,
        base: EventBase | None = None,
        fd: object = -1,
        what: int = 0,
        callback: EventCallback | None = None,
        arg: Any = None,
    ) -> None:
        self._flags = 0
        if base is not None:
            if callback is None:
                raise TypeError("Event needs a callback")
            self.assign(base, fd, what, callback, arg)
            return
        # An unassigned event, like a zeroed ``struct event``: assign() sets it up.
        self._base = None
        self._events = 0
        self._fd = -1
        self._fileobj: object = None
        self._callback: EventCallback | None = None
        self._arg: Any = None
        self._priority = 0
        self._closure = CLOSURE_EVENT
        self._res = 0
        self._ncalls = 0
        self._interval: float | None = None
        self._timer_entry = None
        self._common = None
        self._deadline = 0.0
        self._finalizer: FinalizeCallback | None = None

    # -- construction -------------------------------------------------------

    @classmethod
    def timer(cls, base: EventBase, callback: EventCallback, arg: Any = None) -> Event:
        """A pure timer (``evtimer_new``): fd -1, no conditions."""
        return cls(base, -1, 0, callback, arg)

    @classmethod
    def signal(
        cls, base: EventBase, signum: int, callback: EventCallback, arg: Any = None
    ) -> Event:
        """A persistent signal event (``evsignal_new``): ``EV_SIGNAL | EV_PERSIST``."""
        return cls(base, signum, EV.SIGNAL | EV.PERSIST, callback, arg)

    @classmethod
    def user(cls, base: EventBase, callback: EventCallback, arg: Any = None) -> Event:
        """A user-triggered event (``evuser_new``), fired with ``trigger()``."""
        return cls(base, -1, 0, callback, arg)

    def assign(
        self,
        base: EventBase,
        fd: object,
        what: int,
        callback: EventCallback,
        arg: Any = None,
    ) -> None:
        """(Re)initialise this event (``event_assign``); it must not be pending or active."""
        if self._flags & (EVLIST_INSERTED | EVLIST_TIMEOUT | EVLIST_ACTIVE | EVLIST_ACTIVE_LATER):
            raise EventStateError(
                "assign() on an event that is pending or active; delete() it first"
            )
        if base._freed:
            raise EventStateError("assign() with an EventBase that has been freed")
        if not callable(callback):
            raise TypeError("callback must be callable")
        what = int(what)
        if what & ~0xFF or what < 0:
            raise ValueError(f"unknown event flags {what:#x}")
        if type(fd) is int:
            fdnum = fd
            self._fileobj = None
        else:
            fdnum = _fileno(fd)
            # Keep the object alive while the event uses its fd.
            self._fileobj = None if isinstance(fd, int) else fd
        if what & _SIGNAL:
            if what & _IO_MASK:
                raise ValueError("EV_SIGNAL cannot be combined with EV_READ, EV_WRITE or EV_CLOSED")
            closure = CLOSURE_SIGNAL
        elif what & _PERSIST:
            closure = CLOSURE_PERSIST
        else:
            closure = CLOSURE_EVENT
        if debug._enabled:
            debug.note_assign(self)
            if what & _RW_MASK and fdnum >= 0 and _is_blocking(fdnum):
                raise DebugModeError(
                    f"debug mode: fd {fdnum} is blocking; levent needs non-blocking fds "
                    "(make_socket_nonblocking)"
                )
        self._base = base
        self._fd = fdnum
        self._events = what & ~_TIMEOUT_FLAG
        self._callback = callback
        self._arg = self if arg is SELF else arg
        self._closure = closure
        self._flags = EVLIST_INIT
        self._res = 0
        self._ncalls = 0
        self._interval = None
        self._timer_entry = None
        self._common = None
        self._deadline = 0.0
        self._finalizer = None
        self._priority = base._npriorities // 2

    # -- the operations, taking the base lock off the loop thread ---------------

    def _owner_base(self) -> EventBase:
        base = self._base
        if base is None:
            raise EventStateError("event is not initialized (never assigned, or freed)")
        return base

    def add(self, timeout: float | None = None) -> None:
        """Make the event pending, with an optional relative timeout (``event_add``).

        Re-adding a pending event with a timeout replaces the timeout; with
        ``None`` it keeps the existing one.
        """
        base = self._base
        if base is None:
            raise EventStateError(
                "add() on an event that is not initialized (never assigned, or freed)"
            )
        if base._owner == _get_ident():
            base._add(self, timeout, False)
            return
        with base._lock:
            base._add(self, timeout, False)
            if base._owner:
                base._wake()

    def delete(self) -> None:
        """Make the event neither pending nor active (``event_del``)."""
        base = self._owner_base()
        if base._owner == _get_ident():
            base._del(self, False)
        else:
            with base._lock:
                base._del(self, False)
                base._wake()

    def remove_timer(self) -> None:
        """Drop only the timeout; an fd or signal registration stays (``event_remove_timer``)."""
        base = self._owner_base()
        if base._owner == _get_ident():
            base._remove_timer(self)
        else:
            with base._lock:
                base._remove_timer(self)
                base._wake()

    def active(self, res: int, ncalls: int = 1) -> None:
        """Make the event active with result flags ``res`` (``event_active``).

        Works on non-pending events too; for signal events ``ncalls`` is how many
        times the callback runs.
        """
        base = self._base
        if base is None:
            raise EventStateError("active() on an event that is not initialized")
        if type(res) is not int:
            res = int(res)
        if base._owner == _get_ident():
            base._activate(self, res, ncalls)
            return
        with base._lock:
            base._activate(self, res, ncalls)
            if base._owner:
                base._wake()

    def trigger(self) -> None:
        """Fire a user event (``evuser_trigger``): ``active(0)``."""
        self.active(0)

    def pending(self, what: int = int(EV.TIMEOUT | _IO_MASK | EV.SIGNAL)) -> int:
        """The subset of ``what`` the event is pending or active on (``event_pending``)."""
        flags = self._flags
        found = 0
        if flags & EVLIST_INSERTED:
            found |= self._events & (_IO_MASK | EV.SIGNAL)
        if flags & (EVLIST_ACTIVE | EVLIST_ACTIVE_LATER):
            found |= self._res
        if flags & EVLIST_TIMEOUT:
            found |= EV.TIMEOUT
        return found & int(what) & int(EV.TIMEOUT | _IO_MASK | EV.SIGNAL)

    def pending_timeout(self) -> float | None:
        """Wall-clock expiry of the pending timeout, or None (``tv`` of ``event_pending``)."""
        base = self._base
        if base is None or not self._flags & EVLIST_TIMEOUT:
            return None
        return self._deadline + base._clock_diff()

    def priority_set(self, priority: int) -> None:
        """Set the priority, 0 most urgent (``event_priority_set``); not while active."""
        base = self._owner_base()
        if self._flags & (EVLIST_ACTIVE | EVLIST_ACTIVE_LATER):
            raise EventStateError("cannot change the priority of an active event")
        if not 0 <= priority < base._npriorities:
            raise ValueError(
                f"priority {priority} out of range: the base has {base._npriorities} priorities"
            )
        self._priority = priority

    def finalize(self, callback: FinalizeCallback) -> None:
        """Delete the event and run ``callback(ev, arg)`` later from the loop (``event_finalize``).

        Afterwards ``add`` and ``active`` are refused and ``delete`` is a no-op.
        """
        self._finalize(callback, free=False)

    def free_finalize(self, callback: FinalizeCallback) -> None:
        """Like ``finalize``, then free the event (``event_free_finalize``)."""
        self._finalize(callback, free=True)

    def _finalize(self, callback: FinalizeCallback, free: bool) -> None:
        base = self._owner_base()
        if not callable(callback):
            raise TypeError("finalize callback must be callable")
        if base._owner == _get_ident():
            base._finalize(self, callback, free)
        else:
            with base._lock:
                base._finalize(self, callback, free)
                base._wake()

    def free(self) -> None:
        """Delete the event and return it to the non-initialized state (``event_free``)."""
        base = self._base
        if base is None:
            return
        if not base._freed:
            self.delete()
        self._base = None
        self._flags = 0
        self._callback = None
        self._arg = None
        self._fileobj = None
        if debug.enabled():
            debug.note_free(self)

    def debug_unassign(self) -> None:
        """Stop debug-mode tracking of this event (``event_debug_unassign``)."""
        debug.note_free(self)

    # -- accessors (event_get_*) ---------------------------------------------

    @property
    def base(self) -> EventBase | None:
        """The EventBase this event belongs to (``event_get_base``)."""
        return self._base

    @property
    def fd(self) -> int:
        """The fd, or the signal number for signal events (``event_get_fd``)."""
        return self._fd

    @property
    def signal_number(self) -> int:
        """The signal number of a signal event (``event_get_signal``)."""
        return self._fd if self._events & EV.SIGNAL else -1

    @property
    def events(self) -> EV:
        """The conditions this event waits for (``event_get_events``)."""
        return EV(self._events)

    @property
    def callback(self) -> EventCallback | None:
        """The callback (``event_get_callback``)."""
        return self._callback

    @property
    def arg(self) -> Any:
        """The callback argument (``event_get_callback_arg``)."""
        return self._arg

    @property
    def priority(self) -> int:
        """The priority (``event_get_priority``)."""
        return self._priority

    @property
    def initialized(self) -> bool:
        """True once assigned and until freed (``event_initialized``)."""
        return bool(self._flags & EVLIST_INIT)

    def get_assignment(self) -> tuple[EventBase | None, int, EV, EventCallback | None, Any]:
        """``(base, fd, events, callback, arg)`` as assigned (``event_get_assignment``)."""
        return (self._base, self._fd, EV(self._events), self._callback, self._arg)

    def __repr__(self) -> str:
        if not self._flags & EVLIST_INIT:
            return "<Event non-initialized>"
        states = []
        if self._flags & EVLIST_INSERTED:
            states.append("inserted")
        if self._flags & EVLIST_TIMEOUT:
            states.append("timeout")
        if self._flags & (EVLIST_ACTIVE | EVLIST_ACTIVE_LATER):
            states.append(f"active={_flag_names(self._res)}")
        if self._flags & EVLIST_FINALIZING:
            states.append("finalizing")
        state = " ".join(states) or "non-pending"
        kind = "sig" if self._events & EV.SIGNAL else "fd"
        return (
            f"<Event {kind}={self._fd} events={_flag_names(self._events)} "
            f"priority={self._priority} {state}>"
        )


def _flag_names(flags: int) -> str:
    """``READ|PERSIST`` for a flag int (``str(IntFlag)`` is just the number on 3.11)."""
    return EV(flags).name or "0"


def _is_blocking(fd: int) -> bool:
    try:
        return os.get_blocking(fd)
    except OSError:
        return False


class Deferred:
    """A callback the loop runs once per ``schedule()`` (libevent's deferred ``event_callback``).

    Used where libevent defers work to the loop: evbuffer and bufferevent
    callbacks with ``DEFER_CALLBACKS``. Scheduling an already-scheduled callback
    is a no-op, so bursts of changes cost one call. ``callback()`` takes no
    arguments; bind what it needs.
    """

    __slots__ = ("_base", "_callback", "_flags", "_priority", "_res")

    def __init__(
        self, base: EventBase, callback: Callable[[], object], priority: int | None = None
    ) -> None:
        base._check_usable()
        self._base = base
        self._callback = callback
        self._flags = 0
        self._res = 0
        self._priority = base._npriorities // 2 if priority is None else priority

    @property
    def scheduled(self) -> bool:
        """True while the callback waits to run."""
        return bool(self._flags & (EVLIST_ACTIVE | EVLIST_ACTIVE_LATER))

    def set_priority(self, priority: int) -> None:
        """Change the priority used by the next ``schedule()``."""
        self._priority = priority

    def schedule(self) -> None:
        """Run the callback from the loop soon (``event_deferred_cb_schedule_``)."""
        base = self._base
        if base._owner == _get_ident():
            base._schedule_deferred(self)
        else:
            with base._lock:
                base._schedule_deferred(self)
                base._wake()

    def cancel(self) -> None:
        """Unschedule the callback if it has not run yet."""
        base = self._base
        if base._owner == _get_ident():
            base._cancel_deferred(self)
        else:
            with base._lock:
                base._cancel_deferred(self)

    def __repr__(self) -> str:
        return f"<Deferred {self._callback!r} scheduled={self.scheduled}>"
