"""levent's exceptions: who is at fault, said precisely.

System failures are ``OSError`` (with errno) and bad argument values are
``ValueError`` / ``TypeError``, as in the rest of Python; the classes here are for
misuse of levent objects, which libevent reports with ``-1`` or a debug-mode
assertion.
"""

from __future__ import annotations


class EventError(Exception):
    """Misuse of a levent object (libevent returns -1 or asserts in debug mode)."""


class EventStateError(EventError):
    """The object is in the wrong state for the call (freed, pending, active, finalizing)."""


class LoopReentryError(EventError):
    """``EventBase.loop`` was called while that base's loop is already running."""


class BaseMismatchError(EventError):
    """Two objects that must share an ``EventBase`` belong to different bases."""


class DebugModeError(EventError):
    """``enable_debug_mode`` was called too late or twice, or debug mode caught misuse."""


class BackendError(EventError):
    """No event backend satisfies the configuration (libevent returns NULL)."""


class EvbufferError(EventError):
    """Misuse of an ``Evbuffer`` (libevent returns -1)."""


class BufferFrozenError(EvbufferError):
    """The front or back of an ``Evbuffer`` is frozen; the message says which end."""


class FatalError(EventError):
    """An unrecoverable internal error, raised after the fatal callback ran."""


class UnsupportedOperation(EventError):
    """A libevent operation that cannot exist on Python's stack; the message says why."""
