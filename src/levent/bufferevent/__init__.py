"""BufferEvents: buffered I/O with callbacks and watermarks (libevent's ``bufferevent``).

``core`` holds what every kind shares; ``sock`` is the socket bufferevent;
``pair`` joins two bufferevents without the kernel. Built on ``Event`` and
``Evbuffer`` only (DESIGN.md §2).
"""

from __future__ import annotations

from .constants import (
    BEV_ERROR,
    BEV_EVENT,
    BEV_EVENT_CONNECTED,
    BEV_EVENT_EOF,
    BEV_EVENT_ERROR,
    BEV_EVENT_READING,
    BEV_EVENT_TIMEOUT,
    BEV_EVENT_WRITING,
    BEV_FILTER_RESULT,
    BEV_FINISHED,
    BEV_FLUSH,
    BEV_FLUSH_MODE,
    BEV_NEED_MORE,
    BEV_NORMAL,
    BEV_OK,
    BEV_OPT,
    BEV_OPT_CLOSE_ON_FREE,
    BEV_OPT_DEFER_CALLBACKS,
    BEV_OPT_THREADSAFE,
    BEV_OPT_UNLOCK_CALLBACKS,
    BEV_TRIG,
    BEV_TRIG_DEFER_CALLBACKS,
    BEV_TRIG_IGNORE_WATERMARKS,
)
from .core import BufferEvent, DataCallback, EventCallback
from .pair import PairBufferEvent
from .sock import SocketBufferEvent

__all__ = [
    "BEV_ERROR",
    "BEV_EVENT",
    "BEV_EVENT_CONNECTED",
    "BEV_EVENT_EOF",
    "BEV_EVENT_ERROR",
    "BEV_EVENT_READING",
    "BEV_EVENT_TIMEOUT",
    "BEV_EVENT_WRITING",
    "BEV_FILTER_RESULT",
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
    "BufferEvent",
    "DataCallback",
    "EventCallback",
    "PairBufferEvent",
    "SocketBufferEvent",
]
