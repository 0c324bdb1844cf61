"""levent.aio: an asyncio event loop on levent's core.

``levent.aio.run(main())`` runs a coroutine on a new :class:`EventLoop`, as
``asyncio.run`` does; ``asyncio.Runner(loop_factory=levent.aio.new_event_loop)``
does the same with a runner; ``levent.aio.install()`` makes levent's loop the
default for ``asyncio.run`` and ``asyncio.new_event_loop`` through an event loop
policy. ``EventLoop(base)`` runs on an existing ``EventBase``, so bufferevents,
evhttp servers and plain Events share the loop with coroutines.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from .loop import EventLoop
from .transports import StreamTransport

__all__ = ["EventLoop", "EventLoopPolicy", "StreamTransport", "install", "new_event_loop", "run"]

_T = TypeVar("_T")


def new_event_loop() -> EventLoop:
    """A new levent ``EventLoop`` on its own ``EventBase`` (a ``loop_factory``)."""
    return EventLoop()


def run(main: Coroutine[Any, Any, _T], *, debug: bool | None = None) -> _T:
    """Run ``main`` on a new levent loop and close it, like ``asyncio.run``."""
    with asyncio.Runner(debug=debug, loop_factory=new_event_loop) as runner:
        return runner.run(main)


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """The default asyncio policy, making levent loops (``asyncio.set_event_loop_policy``)."""

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return EventLoop()


def install() -> None:
    """Make levent's loop asyncio's default, through an event loop policy."""
    asyncio.set_event_loop_policy(EventLoopPolicy())
