"""BufferEvents: buffered I/O with callbacks and watermarks (libevent's ``bufferevent``).

``core`` holds what every kind shares; ``sock`` is the socket bufferevent;
``pair`` joins two bufferevents without the kernel; ``filter`` transforms
another bufferevent's data (``zlib_filter`` is the worked example); ``ssl`` is
TLS on the stdlib's MemoryBIO; ``ratelim`` holds the token buckets. Built on ``Event`` and
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
from .filter import FilterBufferEvent, FilterCallback, FreeContextCallback
from .pair import PairBufferEvent
from .ratelim import EV_RATE_LIMIT_MAX, RateLimitConfig, RateLimitGroup
from .sock import SocketBufferEvent
from .ssl import (
    BUFFEREVENT_SSL_ACCEPTING,
    BUFFEREVENT_SSL_BATCH_WRITE,
    BUFFEREVENT_SSL_CONNECTING,
    BUFFEREVENT_SSL_DIRTY_SHUTDOWN,
    BUFFEREVENT_SSL_FLAG,
    BUFFEREVENT_SSL_OPEN,
    BUFFEREVENT_SSL_STATE,
    SslBufferEvent,
)
from .zlib_filter import ZlibCompressor, ZlibDecompressor, zlib_filter

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
    "BUFFEREVENT_SSL_ACCEPTING",
    "BUFFEREVENT_SSL_BATCH_WRITE",
    "BUFFEREVENT_SSL_CONNECTING",
    "BUFFEREVENT_SSL_DIRTY_SHUTDOWN",
    "BUFFEREVENT_SSL_FLAG",
    "BUFFEREVENT_SSL_OPEN",
    "BUFFEREVENT_SSL_STATE",
    "BufferEvent",
    "DataCallback",
    "EV_RATE_LIMIT_MAX",
    "EventCallback",
    "FilterBufferEvent",
    "FilterCallback",
    "FreeContextCallback",
    "PairBufferEvent",
    "RateLimitConfig",
    "RateLimitGroup",
    "SocketBufferEvent",
    "SslBufferEvent",
    "ZlibCompressor",
    "ZlibDecompressor",
    "zlib_filter",
]
