"""Pipe transports: asyncio's ``connect_read_pipe`` / ``connect_write_pipe`` on levent Events.

Both take a file object on a pipe, a socket or a character device (a PTY), make
its fd non-blocking and keep the file object, which is closed after
``connection_lost``.

``ReadPipeTransport`` reads on a persistent EV_READ Event (``os.read``, up to
``max_size`` per readiness); an empty read is the end of the stream:
``eof_received`` then ``connection_lost(None)``, each from the loop.

``WritePipeTransport`` writes at once when nothing is queued and queues the rest
in a bytearray, flushed by an EV_WRITE Event pending only while it is non-empty,
with asyncio's flow control on its size. For pipes and sockets it also waits
for EV_READ on the write end: the fd turns readable (an error or an EOF) when
the reader closes, which ends the transport at once instead of at the next
failing write (``BrokenPipeError`` when data was still queued).

Behaviour follows asyncio's ``_UnixReadPipeTransport`` and
``_UnixWritePipeTransport``; in addition, an exception raised by
``data_received`` reaches the loop's exception handler and closes only this
transport (asyncio's own Event-less readers leave it to the loop's handles).
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat
import sys
import warnings
from asyncio import constants, futures
from asyncio.log import logger as _logger
from typing import TYPE_CHECKING, Any, Final

from levent.constants import EV
from levent.event import Event

from ._transport import ReadPausing, TransportErrors

if TYPE_CHECKING:
    from .loop import EventLoop

__all__ = ["ReadPipeTransport", "WritePipeTransport"]

_READ_PERSIST: Final = int(EV.READ | EV.PERSIST)
_WRITE_PERSIST: Final = int(EV.WRITE | EV.PERSIST)
_READ: Final = int(EV.READ)
_WRITE: Final = int(EV.WRITE)
_DEFAULT_HIGH: Final = 64 * 1024
# asyncio's private helper, which typeshed does not describe.
_futures: Any = futures


def _read_ready(_fd: int, _what: int, transport: ReadPipeTransport) -> None:
    transport._read_ready()


def _write_ready(_fd: int, _what: int, transport: WritePipeTransport) -> None:
    transport._write_ready()


def _peer_closed(_fd: int, _what: int, transport: WritePipeTransport) -> None:
    transport._read_ready()


def _polling_state(loop: EventLoop | None, pipe: Any, event: Event | None, what: int) -> str:
    """``polling``/``idle`` while the loop is open, else ``open``/``closed`` (asyncio's repr)."""
    if pipe is not None and event is not None and loop is not None and not loop.is_closed():
        return "polling" if event.pending(what) else "idle"
    return "open" if pipe is not None else "closed"


class ReadPipeTransport(TransportErrors, ReadPausing, asyncio.ReadTransport):
    """The read end of a pipe (or a socket, a PTY) as an asyncio ``ReadTransport``."""

    # "__dict__" as well: a process has a few pipes, not thousands, and code written
    # for asyncio (CPython's own tests among it) patches methods on pipe transports.
    __slots__ = (
        "__dict__",
        "__weakref__",
        "_closing",
        "_fileno",
        "_loop",
        "_paused",
        "_pipe",
        "_protocol",
        "_read_event",
    )

    if TYPE_CHECKING:
        _extra: dict[str, Any]

    #: The most bytes one readiness reads: a pipe's whole default buffer. asyncio
    #: reads 256 KiB, which Python allocates with mmap (three syscalls per read).
    max_size = 64 * 1024

    def __init__(
        self,
        loop: EventLoop,
        pipe: Any,
        protocol: asyncio.BaseProtocol,
        waiter: asyncio.Future[Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(extra)
        self._extra["pipe"] = pipe
        self._loop: EventLoop | None = loop
        self._pipe: Any = pipe
        self._fileno: int | None = pipe.fileno()
        self._protocol: Any = protocol
        self._closing = False
        self._paused = False
        fd = pipe.fileno()
        mode = os.fstat(fd).st_mode
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)):
            # Not ours to close: no "unclosed transport" warning either.
            self._pipe = None
            self._fileno = None
            self._protocol = None
            raise ValueError("Pipe transport is for pipes/sockets only.")
        os.set_blocking(fd, False)
        self._read_event = Event(loop._base, fd, _READ_PERSIST, _read_ready, self)
        loop.call_soon(protocol.connection_made, self)
        # Data reaches the protocol only after connection_made().
        loop.call_soon(self._start_reading)
        if waiter is not None:
            loop.call_soon(_futures._set_result_unless_cancelled, waiter, None)

    def __repr__(self) -> str:
        info = [self.__class__.__name__]
        if self._pipe is None:
            info.append("closed")
        elif self._closing:
            info.append("closing")
        info.append(f"fd={self._fileno}")
        info.append(
            _polling_state(self._loop, self._pipe, getattr(self, "_read_event", None), _READ)
        )
        return "<{}>".format(" ".join(info))

    def __del__(self, _warn: Any = warnings.warn) -> None:
        pipe = getattr(self, "_pipe", None)
        if pipe is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            pipe.close()

    # -- protocol ------------------------------------------------------------------------

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """Send further data and events to ``protocol``."""
        self._protocol = protocol

    # -- reading ----------------------------------------------------------------------------

    def _start_reading(self) -> None:
        if self.is_reading() and self._pipe is not None:
            self._read_event.add()

    def _read_ready(self) -> None:
        fd = self._fileno
        assert fd is not None
        try:
            data = os.read(fd, self.max_size)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fatal_error(exc, "Fatal read error on pipe transport")
            return
        if data:
            try:
                self._protocol.data_received(data)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")
            return
        loop = self._loop
        assert loop is not None
        if loop.get_debug():
            _logger.info("%r was closed by peer", self)
        self._closing = True
        self._read_event.delete()
        loop.call_soon(self._protocol.eof_received)
        loop.call_soon(self._call_connection_lost, None)

    # -- closing ------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop reading; ``connection_lost(None)`` follows from the loop."""
        if not self._closing:
            self._force_close(None)

    def _fatal_error(self, exc: BaseException, message: str) -> None:
        # EIO is how a PTY master reports that the slave side went away: an EOF.
        # Any other error, OSError or not, goes to the exception handler (asyncio).
        if isinstance(exc, OSError) and exc.errno == errno.EIO:
            self._log_debug(message)
        else:
            self._report(message, exc)
        self._force_close(exc)

    def _force_close(self, exc: BaseException | None) -> None:
        self._closing = True
        self._read_event.delete()
        loop = self._loop
        assert loop is not None
        loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        try:
            self._protocol.connection_lost(exc)
        finally:
            # The Event goes before the fd: its number may be reused at once.
            self._read_event.free()
            pipe = self._pipe
            if pipe is not None:
                pipe.close()
                self._pipe = None
            self._protocol = None
            self._loop = None


class WritePipeTransport(TransportErrors, asyncio.WriteTransport):
    """The write end of a pipe (or a socket, a PTY) as an asyncio ``WriteTransport``."""

    __slots__ = (
        "__weakref__",
        "_buffer",
        "_closing",
        "_conn_lost",
        "_fileno",
        "_high",
        "_loop",
        "_lost",
        "_low",
        "_peer_event",
        "_pipe",
        "_protocol",
        "_protocol_paused",
        "_watch_peer",
        "_write_event",
    )

    if TYPE_CHECKING:
        _extra: dict[str, Any]

    def __init__(
        self,
        loop: EventLoop,
        pipe: Any,
        protocol: asyncio.BaseProtocol,
        waiter: asyncio.Future[Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(extra)
        self._extra["pipe"] = pipe
        self._loop: EventLoop | None = loop
        self._pipe: Any = pipe
        self._fileno: int | None = pipe.fileno()
        self._protocol: Any = protocol
        self._buffer = bytearray()
        self._conn_lost = 0  # writes attempted after the pipe broke (asyncio's counter)
        self._lost = False  # connection_lost() is scheduled or done
        self._closing = False  # close() or write_eof() was called
        self._protocol_paused = False
        self._high = _DEFAULT_HIGH
        self._low = _DEFAULT_HIGH // 4
        fd = pipe.fileno()
        mode = os.fstat(fd).st_mode
        is_char = stat.S_ISCHR(mode)
        is_fifo = stat.S_ISFIFO(mode)
        is_socket = stat.S_ISSOCK(mode)
        if not (is_char or is_fifo or is_socket):
            self._pipe = None
            self._fileno = None
            self._protocol = None
            raise ValueError("Pipe transport is only for pipes, sockets and character devices")
        os.set_blocking(fd, False)
        base = loop._base
        self._write_event = Event(base, fd, _WRITE_PERSIST, _write_ready, self)
        self._peer_event = Event(base, fd, _READ_PERSIST, _peer_closed, self)
        # A PTY's write end turns readable with data, not with a closed reader; on
        # AIX only sockets report the reader's close (asyncio's rule, bpo-19294).
        self._watch_peer = is_socket or (is_fifo and not sys.platform.startswith("aix"))
        loop.call_soon(protocol.connection_made, self)
        if self._watch_peer:
            loop.call_soon(self._start_watching_peer)
        if waiter is not None:
            loop.call_soon(_futures._set_result_unless_cancelled, waiter, None)

    def __repr__(self) -> str:
        info = [self.__class__.__name__]
        if self._pipe is None:
            info.append("closed")
        elif self._closing:
            info.append("closing")
        info.append(f"fd={self._fileno}")
        state = _polling_state(self._loop, self._pipe, getattr(self, "_write_event", None), _WRITE)
        info.append(state)
        if state in ("polling", "idle"):
            info.append(f"bufsize={len(self._buffer)}")
        return "<{}>".format(" ".join(info))

    def __del__(self, _warn: Any = warnings.warn) -> None:
        pipe = getattr(self, "_pipe", None)
        if pipe is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            pipe.close()

    # -- protocol ------------------------------------------------------------------------

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """Send further events to ``protocol``."""
        self._protocol = protocol

    # -- the reader's close -------------------------------------------------------------------

    def _start_watching_peer(self) -> None:
        # Not after abort() or an empty write_eof(): connection_lost is already on its way.
        if self._pipe is not None and not self._lost:
            self._peer_event.add()

    def _read_ready(self) -> None:
        """The write end turned readable: the reader closed its end."""
        if self._lost:
            return
        if self._loop is not None and self._loop.get_debug():
            _logger.info("%r was closed by peer", self)
        if self._buffer:
            self._force_close(BrokenPipeError())
        else:
            self._force_close(None)

    # -- writing ----------------------------------------------------------------------------

    def write(self, data: Any) -> None:
        """Write ``data`` (bytes-like) now, or queue what the pipe does not take.

        After ``close()``, ``write_eof()`` or a broken pipe the data is dropped
        (logged after a few attempts), as asyncio does.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"data argument must be a bytes-like object, not {type(data).__name__!r}"
            )
        if isinstance(data, bytearray):
            data = memoryview(data)
        if not data:
            return
        if self._conn_lost or self._closing:
            if self._conn_lost >= constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                _logger.warning("pipe closed by peer or os.write(pipe, data) raised exception.")
            self._conn_lost += 1
            return
        if not self._buffer:
            fd = self._fileno
            assert fd is not None
            try:
                n = os.write(fd, data)
            except (BlockingIOError, InterruptedError):
                n = 0
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._conn_lost += 1
                self._fatal_error(exc, "Fatal write error on pipe transport")
                return
            if n == len(data):
                return
            if n > 0:
                data = memoryview(data)[n:]
            self._write_event.add()
        self._buffer += data
        self._maybe_pause_protocol()

    def _write_ready(self) -> None:
        buffer = self._buffer
        assert buffer, "EV_WRITE is pending only while data is queued"
        fd = self._fileno
        assert fd is not None
        try:
            n = os.write(fd, buffer)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            buffer.clear()
            self._conn_lost += 1
            self._write_event.delete()
            self._fatal_error(exc, "Fatal write error on pipe transport")
            return
        if n == len(buffer):
            buffer.clear()
            self._write_event.delete()
            self._maybe_resume_protocol()  # resume_writing() may write more
            if self._closing and not buffer and not self._lost:
                # write_eof() waited for the flush: the transport ends now.
                self._peer_event.delete()
                self._lost = True
                self._call_connection_lost(None)
        elif n > 0:
            del buffer[:n]

    def can_write_eof(self) -> bool:
        """True: closing the write end is the end of the stream."""
        return True

    def write_eof(self) -> None:
        """Close the pipe once the queued data is written; ``connection_lost(None)`` follows."""
        if self._closing:
            return
        assert self._pipe is not None
        self._closing = True
        if not self._buffer:
            self._peer_event.delete()
            self._schedule_lost(None)

    def get_write_buffer_size(self) -> int:
        """Bytes queued, not yet taken by the pipe."""
        return len(self._buffer)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        """``(low, high)``: the flow-control limits."""
        return (self._low, self._high)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Pause the protocol above ``high`` queued bytes, resume it at ``low``."""
        if high is None:
            high = _DEFAULT_HIGH if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high = high
        self._low = low
        self._maybe_pause_protocol()

    def _maybe_pause_protocol(self) -> None:
        if len(self._buffer) <= self._high or self._protocol_paused:
            return
        self._protocol_paused = True
        try:
            self._protocol.pause_writing()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._report("protocol.pause_writing() failed", exc)

    def _maybe_resume_protocol(self) -> None:
        if not self._protocol_paused or len(self._buffer) > self._low:
            return
        self._protocol_paused = False
        try:
            self._protocol.resume_writing()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._report("protocol.resume_writing() failed", exc)

    # -- closing ------------------------------------------------------------------------------

    def close(self) -> None:
        """``write_eof()``: closing a write pipe is flushing it, then closing it."""
        if self._pipe is not None and not self._closing:
            self.write_eof()

    def abort(self) -> None:
        """Close now, dropping queued data."""
        self._force_close(None)

    def _force_close(self, exc: BaseException | None) -> None:
        self._closing = True
        if self._buffer:
            self._write_event.delete()
            self._buffer.clear()
        self._peer_event.delete()
        if not self._lost:
            self._schedule_lost(exc)

    def _schedule_lost(self, exc: BaseException | None) -> None:
        self._lost = True
        loop = self._loop
        assert loop is not None
        loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        try:
            self._protocol.connection_lost(exc)
        finally:
            # The Events go before the fd: its number may be reused at once.
            self._write_event.free()
            self._peer_event.free()
            pipe = self._pipe
            if pipe is not None:
                pipe.close()
                self._pipe = None
            self._protocol = None
            self._loop = None
