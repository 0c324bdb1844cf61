"""BufferEvent constants with libevent's names and values (``event2/bufferevent.h``)."""

from __future__ import annotations

import enum

__all__ = [
    "BEV_ERROR",
    "BEV_EVENT",
    "BEV_EVENT_CONNECTED",
    "BEV_EVENT_EOF",
    "BEV_EVENT_ERROR",
    "BEV_EVENT_READING",
    "BEV_EVENT_TIMEOUT",
    "BEV_EVENT_WRITING",
    "BEV_FINISHED",
    "BEV_FLUSH",
    "BEV_FLUSH_MODE",
    "BEV_NEED_MORE",
    "BEV_NORMAL",
    "BEV_OK",
    "BEV_OPT",
    "BEV_OPT_CLOSE_ON_FREE",
    "BEV_OPT_DEFER_CALLBACKS",
    "BEV_OPT_THREADSAFE",
    "BEV_OPT_UNLOCK_CALLBACKS",
    "BEV_TRIG",
    "BEV_TRIG_DEFER_CALLBACKS",
    "BEV_TRIG_IGNORE_WATERMARKS",
    "BEV_FILTER_RESULT",
]


class BEV_EVENT(enum.IntFlag):
    """What an event callback reports (``BEV_EVENT_*``)."""

    READING = 0x01
    WRITING = 0x02
    EOF = 0x10
    ERROR = 0x20
    TIMEOUT = 0x40
    CONNECTED = 0x80


BEV_EVENT_READING = BEV_EVENT.READING
BEV_EVENT_WRITING = BEV_EVENT.WRITING
BEV_EVENT_EOF = BEV_EVENT.EOF
BEV_EVENT_ERROR = BEV_EVENT.ERROR
BEV_EVENT_TIMEOUT = BEV_EVENT.TIMEOUT
BEV_EVENT_CONNECTED = BEV_EVENT.CONNECTED


class BEV_OPT(enum.IntFlag):
    """Options when creating a BufferEvent (``enum bufferevent_options``)."""

    CLOSE_ON_FREE = 1
    THREADSAFE = 2
    DEFER_CALLBACKS = 4
    UNLOCK_CALLBACKS = 8


BEV_OPT_CLOSE_ON_FREE = BEV_OPT.CLOSE_ON_FREE
BEV_OPT_THREADSAFE = BEV_OPT.THREADSAFE
BEV_OPT_DEFER_CALLBACKS = BEV_OPT.DEFER_CALLBACKS
BEV_OPT_UNLOCK_CALLBACKS = BEV_OPT.UNLOCK_CALLBACKS


class BEV_TRIG(enum.IntFlag):
    """Options of ``trigger`` / ``trigger_event`` (``enum bufferevent_trigger_options``)."""

    IGNORE_WATERMARKS = 1 << 16
    DEFER_CALLBACKS = 4  # the same bit as BEV_OPT_DEFER_CALLBACKS


BEV_TRIG_IGNORE_WATERMARKS = BEV_TRIG.IGNORE_WATERMARKS
BEV_TRIG_DEFER_CALLBACKS = BEV_TRIG.DEFER_CALLBACKS


class BEV_FLUSH_MODE(enum.IntEnum):
    """How hard ``flush`` pushes (``enum bufferevent_flush_mode``)."""

    NORMAL = 0
    FLUSH = 1
    FINISHED = 2


BEV_NORMAL = BEV_FLUSH_MODE.NORMAL
BEV_FLUSH = BEV_FLUSH_MODE.FLUSH
BEV_FINISHED = BEV_FLUSH_MODE.FINISHED


class BEV_FILTER_RESULT(enum.IntEnum):
    """What a filter function returns (``enum bufferevent_filter_result``)."""

    OK = 0
    NEED_MORE = 1
    ERROR = 2


BEV_OK = BEV_FILTER_RESULT.OK
BEV_NEED_MORE = BEV_FILTER_RESULT.NEED_MORE
BEV_ERROR = BEV_FILTER_RESULT.ERROR
