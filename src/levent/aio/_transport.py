"""What every levent.aio transport does the same way, as mixins with no state of
their own: the protocol accessors and error routing (``TransportErrors``), and
pausing a persistent read Event (``ReadPausing``).

A transport lists the mixins before its asyncio base class, so these methods
replace asyncio's abstract ones, and keeps the attributes they use in its own
``__slots__``.
"""

from __future__ import annotations

import asyncio
from asyncio.log import logger as _logger
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from levent.event import Event

    from .loop import EventLoop

__all__ = ["ReadPausing", "TransportErrors"]


class TransportErrors:
    """``get_protocol``, ``is_closing`` and asyncio's error routing: an OSError is
    the peer's or the network's doing (logged in debug mode only), anything else
    reaches the loop's exception handler; either way ``_force_close(exc)`` follows."""

    __slots__ = ()

    if TYPE_CHECKING:
        _loop: EventLoop | None
        _protocol: Any
        _closing: bool

        def _force_close(self, exc: BaseException | None) -> None: ...

    def get_protocol(self) -> asyncio.BaseProtocol:
        """The current protocol."""
        protocol: asyncio.BaseProtocol = self._protocol
        return protocol

    def is_closing(self) -> bool:
        """True once the transport is closing, closed or failed."""
        return self._closing

    def _fatal_error(self, exc: BaseException, message: str) -> None:
        if isinstance(exc, OSError):
            self._log_debug(message)
        else:
            self._report(message, exc)
        self._force_close(exc)

    def _log_debug(self, message: str) -> None:
        if self._loop is not None and self._loop.get_debug():
            _logger.debug("%r: %s", self, message, exc_info=True)

    def _report(self, message: str, exc: BaseException) -> None:
        if self._loop is not None:
            self._loop.call_exception_handler(
                {
                    "message": message,
                    "exception": exc,
                    "transport": self,
                    "protocol": self._protocol,
                }
            )


class ReadPausing:
    """``is_reading`` / ``pause_reading`` / ``resume_reading`` on a persistent read Event."""

    # Empty at run time (the transport's own slots hold the state); hidden from mypy,
    # which would otherwise check the assignments below against them.
    if not TYPE_CHECKING:
        __slots__ = ()

    if TYPE_CHECKING:
        _loop: EventLoop | None
        _closing: bool
        _paused: bool
        _read_event: Event

    def is_reading(self) -> bool:
        """True unless reading is paused or the transport is closing."""
        return not self._paused and not self._closing

    def pause_reading(self) -> None:
        """Stop delivering data until ``resume_reading()``."""
        if not self.is_reading():
            return
        self._paused = True
        self._read_event.delete()
        if self._loop is not None and self._loop.get_debug():
            _logger.debug("%r pauses reading", self)

    def resume_reading(self) -> None:
        """Deliver data again after ``pause_reading()``."""
        if self._closing or not self._paused:
            return
        self._paused = False
        self._read_event.add()
        if self._loop is not None and self._loop.get_debug():
            _logger.debug("%r resumes reading", self)
