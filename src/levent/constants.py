"""The reactor's constants, with libevent's names and numeric values.

Each family is an ``enum.IntFlag`` (or ``IntEnum``) so that ``EV.READ is EV_READ``
and ``EV_READ | EV_PERSIST`` prints readably; the module-level aliases are the
names a libevent user already knows (``event2/event.h``, ``event2/thread.h``).
"""

from __future__ import annotations

import enum


class EV(enum.IntFlag):
    """Event condition flags (``EV_*`` in event.h)."""

    TIMEOUT = 0x01
    READ = 0x02
    WRITE = 0x04
    SIGNAL = 0x08
    PERSIST = 0x10
    ET = 0x20
    FINALIZE = 0x40
    CLOSED = 0x80


EV_TIMEOUT = EV.TIMEOUT
EV_READ = EV.READ
EV_WRITE = EV.WRITE
EV_SIGNAL = EV.SIGNAL
EV_PERSIST = EV.PERSIST
EV_ET = EV.ET
EV_FINALIZE = EV.FINALIZE
EV_CLOSED = EV.CLOSED


class EVLOOP(enum.IntFlag):
    """Flags for ``EventBase.loop`` (``EVLOOP_*``)."""

    ONCE = 0x01
    NONBLOCK = 0x02
    NO_EXIT_ON_EMPTY = 0x04


EVLOOP_ONCE = EVLOOP.ONCE
EVLOOP_NONBLOCK = EVLOOP.NONBLOCK
EVLOOP_NO_EXIT_ON_EMPTY = EVLOOP.NO_EXIT_ON_EMPTY


class EV_FEATURE(enum.IntFlag):  # noqa: N801 - libevent's name
    """Backend capabilities (``EV_FEATURE_*``)."""

    ET = 0x01
    O1 = 0x02
    FDS = 0x04
    EARLY_CLOSE = 0x08


EV_FEATURE_ET = EV_FEATURE.ET
EV_FEATURE_O1 = EV_FEATURE.O1
EV_FEATURE_FDS = EV_FEATURE.FDS
EV_FEATURE_EARLY_CLOSE = EV_FEATURE.EARLY_CLOSE


class EVENT_BASE_FLAG(enum.IntFlag):  # noqa: N801 - libevent's name
    """Flags for ``EventConfig.set_flag`` (``EVENT_BASE_FLAG_*``)."""

    NOLOCK = 0x01
    IGNORE_ENV = 0x02
    STARTUP_IOCP = 0x04
    NO_CACHE_TIME = 0x08
    EPOLL_USE_CHANGELIST = 0x10
    PRECISE_TIMER = 0x20
    EPOLL_DISALLOW_TIMERFD = 0x40
    USE_SIGNALFD = 0x80


EVENT_BASE_FLAG_NOLOCK = EVENT_BASE_FLAG.NOLOCK
EVENT_BASE_FLAG_IGNORE_ENV = EVENT_BASE_FLAG.IGNORE_ENV
EVENT_BASE_FLAG_STARTUP_IOCP = EVENT_BASE_FLAG.STARTUP_IOCP
EVENT_BASE_FLAG_NO_CACHE_TIME = EVENT_BASE_FLAG.NO_CACHE_TIME
EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST = EVENT_BASE_FLAG.EPOLL_USE_CHANGELIST
EVENT_BASE_FLAG_PRECISE_TIMER = EVENT_BASE_FLAG.PRECISE_TIMER
EVENT_BASE_FLAG_EPOLL_DISALLOW_TIMERFD = EVENT_BASE_FLAG.EPOLL_DISALLOW_TIMERFD
EVENT_BASE_FLAG_USE_SIGNALFD = EVENT_BASE_FLAG.USE_SIGNALFD


class EVENT_BASE_COUNT(enum.IntFlag):  # noqa: N801 - libevent's name
    """Which lists ``EventBase.get_num_events`` counts (``EVENT_BASE_COUNT_*``)."""

    ACTIVE = 1
    VIRTUAL = 2
    ADDED = 4


EVENT_BASE_COUNT_ACTIVE = EVENT_BASE_COUNT.ACTIVE
EVENT_BASE_COUNT_VIRTUAL = EVENT_BASE_COUNT.VIRTUAL
EVENT_BASE_COUNT_ADDED = EVENT_BASE_COUNT.ADDED

#: One more than the largest priority count ``priority_init`` accepts.
EVENT_MAX_PRIORITIES = 256


class EVENT_LOG(enum.IntEnum):  # noqa: N801 - libevent's name
    """Log severities passed to a ``set_log_callback`` callback."""

    DEBUG = 0
    MSG = 1
    WARN = 2
    ERR = 3


EVENT_LOG_DEBUG = EVENT_LOG.DEBUG
EVENT_LOG_MSG = EVENT_LOG.MSG
EVENT_LOG_WARN = EVENT_LOG.WARN
EVENT_LOG_ERR = EVENT_LOG.ERR

EVENT_DBG_NONE = 0
EVENT_DBG_ALL = 0xFFFFFFFF

# event2/thread.h
EVTHREAD_WRITE = 0x04
EVTHREAD_READ = 0x08
EVTHREAD_TRY = 0x10
EVTHREAD_LOCKTYPE_RECURSIVE = 1
EVTHREAD_LOCKTYPE_READWRITE = 2
EVTHREAD_LOCK_API_VERSION = 1
EVTHREAD_CONDITION_API_VERSION = 1
EVTHREAD_PTHREAD_PRIO_INHERIT = 0x01

#: The libevent release whose behaviour levent reproduces.
LIBEVENT_VERSION = "2.1.12-stable"
LIBEVENT_VERSION_NUMBER = 0x02010C00
