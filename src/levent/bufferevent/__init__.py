"""BufferEvents: buffered I/O with callbacks and watermarks (libevent's ``bufferevent``).

``core`` holds what every kind shares; ``sock`` is the socket bufferevent;
``pair`` joins two bufferevents without the kernel. Built on ``Event`` and
``Evbuffer`` only (DESIGN.md §2).
"""

from __future__ import annotations

from .constants import *  # noqa: F403 - the BEV_* names
from .constants import __all__ as _constant_names
from .core import BufferEvent, DataCallback, EventCallback
from .pair import PairBufferEvent
from .sock import SocketBufferEvent

__all__ = [
    "BufferEvent",
    "DataCallback",
    "EventCallback",
    "PairBufferEvent",
    "SocketBufferEvent",
    *_constant_names,
]
