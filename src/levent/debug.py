"""Debug mode: libevent's ``event_enable_debug_mode`` and the checks it turns on.

levent always refuses the misuse libevent's debug mode exists to catch when it
is cheap to detect (adding a freed or never-assigned event, re-assigning a pending
one, using a freed base). Debug mode adds the checks that cost a system call or
bookkeeping on every event: read/write events on *blocking* fds are refused,
every assigned event is tracked (``live_events``; kept alive until ``free()``,
as in libevent's debug map), and callbacks slower than
``SLOW_CALLBACK_SECONDS`` are logged as warnings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import DebugModeError

if TYPE_CHECKING:
    from .event import Event

__all__ = ["SLOW_CALLBACK_SECONDS", "enable_debug_mode", "enabled", "live_events"]

#: In debug mode, a callback running longer than this is logged as slow.
SLOW_CALLBACK_SECONDS = 0.1

_enabled = False
_objects_created = False
# Strong references, like libevent's debug map: an event stays tracked (and alive)
# until free() or unassign. (Compiled Events cannot be weakly referenced.)
_live: dict[int, Event] = {}


def enable_debug_mode() -> None:
    """Turn debug mode on (``event_enable_debug_mode``).

    Like libevent, it must come before any EventBase or Event exists, and only once.
    """
    global _enabled
    if _enabled:
        raise DebugModeError("enable_debug_mode() was called twice")
    if _objects_created:
        raise DebugModeError(
            "enable_debug_mode() must be called *before* creating any events or event bases"
        )
    _enabled = True


def enabled() -> bool:
    """True once ``enable_debug_mode`` ran."""
    return _enabled


def note_created() -> None:
    """Record that a base or event exists (debug mode can no longer be enabled)."""
    global _objects_created
    _objects_created = True


def note_assign(ev: Event) -> None:
    """Track an assigned event (debug mode only)."""
    _live[id(ev)] = ev


def note_free(ev: Event) -> None:
    """Forget a freed or unassigned event (``event_debug_unassign``)."""
    _live.pop(id(ev), None)


def live_events() -> list[Event]:
    """Events assigned and not yet freed or unassigned, while debug mode is on."""
    return list(_live.values())


def _reset_for_tests() -> None:
    """Turn debug mode off again; only for levent's own test-suite."""
    global _enabled, _objects_created
    _enabled = False
    _objects_created = False
    _live.clear()
