"""Logging and fatal errors: libevent's ``event_set_log_callback`` family on Python logging.

By default levent's messages go to the ``levent`` logger (a libevent user's
stderr lines become log records a Python user can route). ``set_log_callback``
redirects them to ``cb(severity, msg)`` exactly as libevent does, with the
``EVENT_LOG_*`` severities; ``set_fatal_callback`` is called before levent raises
``FatalError`` for an unrecoverable internal error.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from .constants import EVENT_DBG_NONE, EVENT_LOG
from .errors import FatalError

__all__ = [
    "enable_debug_logging",
    "logger",
    "set_fatal_callback",
    "set_log_callback",
]

logger = logging.getLogger("levent")

LogCallback = Callable[[int, str], object]
FatalCallback = Callable[[int], object]

_log_callback: LogCallback | None = None
_fatal_callback: FatalCallback | None = None
_debug_mask = EVENT_DBG_NONE

_LEVELS = {
    EVENT_LOG.DEBUG: logging.DEBUG,
    EVENT_LOG.MSG: logging.INFO,
    EVENT_LOG.WARN: logging.WARNING,
    EVENT_LOG.ERR: logging.ERROR,
}


def set_log_callback(cb: LogCallback | None) -> None:
    """Send levent's messages to ``cb(severity, msg)``; ``None`` restores the logger.

    Mirrors ``event_set_log_callback``. Like libevent, the callback must not call
    back into levent.
    """
    global _log_callback
    if cb is not None and not callable(cb):
        raise TypeError("log callback must be callable or None")
    _log_callback = cb


def set_fatal_callback(cb: FatalCallback | None) -> None:
    """Call ``cb(code)`` on an unrecoverable error before ``FatalError`` is raised.

    Mirrors ``event_set_fatal_callback``; libevent then exits the process, levent
    raises instead so that the embedding Python program decides.
    """
    global _fatal_callback
    if cb is not None and not callable(cb):
        raise TypeError("fatal callback must be callable or None")
    _fatal_callback = cb


def enable_debug_logging(which: int) -> None:
    """Turn debug messages on (``EVENT_DBG_ALL``) or off (``EVENT_DBG_NONE``)."""
    global _debug_mask
    if which < 0:
        raise ValueError("debug logging mask must be non-negative")
    _debug_mask = which


def debug_enabled() -> bool:
    """True when ``enable_debug_logging`` asked for debug messages."""
    return _debug_mask != EVENT_DBG_NONE


def emit(severity: EVENT_LOG, msg: str, exc_info: BaseException | None = None) -> None:
    """Deliver one message to the user's callback, or else to the ``levent`` logger."""
    if severity is EVENT_LOG.DEBUG and not _debug_mask:
        return
    cb = _log_callback
    if cb is not None:
        if exc_info is not None:
            msg = f"{msg}: {exc_info!r}"
        cb(int(severity), msg)
        return
    logger.log(_LEVELS[severity], msg, exc_info=exc_info)


def show(severity: EVENT_LOG, msg: str) -> None:
    """A message the user explicitly asked to see (``EVENT_SHOW_METHOD``).

    Goes to the log callback if one is set; otherwise to the ``levent`` logger
    when it has handlers, and else to stderr in libevent's ``[msg] ...`` format,
    so it is never silently dropped by an unconfigured ``logging``.
    """
    if _log_callback is not None or logger.hasHandlers():
        emit(severity, msg)
        return
    names = {EVENT_LOG.DEBUG: "debug", EVENT_LOG.MSG: "msg", EVENT_LOG.WARN: "warn"}
    print(f"[{names.get(severity, 'err')}] {msg}", file=sys.stderr)


def debug(msg: str) -> None:
    """Emit an ``EVENT_LOG_DEBUG`` message (only with debug logging on)."""
    if _debug_mask:
        emit(EVENT_LOG.DEBUG, msg)


def warn(msg: str) -> None:
    """Emit an ``EVENT_LOG_WARN`` message."""
    emit(EVENT_LOG.WARN, msg)


def error(msg: str, exc: BaseException | None = None) -> None:
    """Emit an ``EVENT_LOG_ERR`` message, with the traceback of ``exc`` if given."""
    emit(EVENT_LOG.ERR, msg, exc)


def fatal(code: int, msg: str) -> FatalError:
    """Log ``msg`` at ERR, run the fatal callback, and return the error to raise."""
    emit(EVENT_LOG.ERR, msg)
    cb = _fatal_callback
    if cb is not None:
        cb(code)
    return FatalError(msg)
