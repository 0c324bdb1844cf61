"""levent: libevent, rebuilt in Python.

Layers, bottom-up (each uses only those below it; see DESIGN.md §2):

* ``constants``, ``errors``, ``log``, ``util`` — flags, exceptions, logging, evutil helpers
* ``backends`` — epoll / kqueue / poll / select behind one interface
* ``event``, ``base``, ``timers``, ``signals`` — the reactor
* ``buffer`` — ``Evbuffer``, the byte queue (pure data structure + fd I/O)
* ``thread``, ``debug`` — libevent's threading and debug-mode calls
* ``listener`` — evconnlistener, on Events only
* ``bufferevent`` — BufferEvent (socket, pair), on Events and Evbuffers

Everything a libevent user reaches for is importable from here with the
mapping of DESIGN.md §1: ``event_base_new()`` → ``EventBase()``,
``event_new(...)`` → ``Event(...)``, ``EV_READ`` → ``levent.EV_READ``.
"""

from __future__ import annotations

from . import base as _base_module
from . import log
from .backends import supported_methods
from .base import EventBase, EventConfig
from .buffer import (
    Evbuffer,
    EvbufferCbEntry,
    EvbufferCbInfo,
    EvbufferFileSegment,
    EvbufferPtr,
)
from .bufferevent import *  # noqa: F403 - BufferEvent and the BEV_* names
from .bufferevent import __all__ as _bufferevent_names
from .constants import *  # noqa: F403 - the libevent constant names
from .constants import LIBEVENT_VERSION, LIBEVENT_VERSION_NUMBER
from .constants import __all__ as _constant_names
from .debug import enable_debug_mode
from .errors import (
    BackendError,
    BaseMismatchError,
    BufferFrozenError,
    DebugModeError,
    EvbufferError,
    EventError,
    EventStateError,
    FatalError,
    LoopReentryError,
    UnsupportedOperation,
)
from .event import SELF, Deferred, Event

# evhttp's constants (EVHTTP_REQ_GET, HTTP_OK, …) at top level too, as DESIGN.md §1
# maps them (importing them loads levent.http, which uses only the core).
from .http.constants import *  # noqa: F403
from .http.constants import __all__ as _http_constant_names
from .listener import *  # noqa: F403 - LEV_OPT_* and Listener
from .listener import __all__ as _listener_names
from .log import enable_debug_logging, set_fatal_callback, set_log_callback
from .timers import CommonTimeout
from .watch import CheckInfo, PrepareInfo, Watch

__version__ = "0.1.0"

#: True when the reactor runs as mypyc-compiled code (a regular ``pip install``),
#: False for the pure-Python modules (an editable install, ``LEVENT_PURE_PYTHON=1``).
COMPILED: bool = not _base_module.__file__.endswith(".py") if _base_module.__file__ else False


def get_version() -> str:
    """The libevent version levent reproduces (``event_get_version``)."""
    return LIBEVENT_VERSION


def get_version_number() -> int:
    """That version as major<<24 | minor<<16 | patch<<8 (``event_get_version_number``)."""
    return LIBEVENT_VERSION_NUMBER


__all__ = [
    "COMPILED",
    "SELF",
    "BackendError",
    "BaseMismatchError",
    "BufferFrozenError",
    "CheckInfo",
    "CommonTimeout",
    "DebugModeError",
    "Deferred",
    "Evbuffer",
    "EvbufferCbEntry",
    "EvbufferCbInfo",
    "EvbufferError",
    "EvbufferFileSegment",
    "EvbufferPtr",
    "Event",
    "EventBase",
    "EventConfig",
    "EventError",
    "EventStateError",
    "FatalError",
    "LoopReentryError",
    "PrepareInfo",
    "UnsupportedOperation",
    "Watch",
    "enable_debug_logging",
    "enable_debug_mode",
    "get_version",
    "get_version_number",
    "log",
    "set_fatal_callback",
    "set_log_callback",
    "supported_methods",
    *_constant_names,
    *_listener_names,
    *_bufferevent_names,
    *_http_constant_names,
]
