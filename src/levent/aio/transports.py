"""``StreamTransport``: asyncio's stream transport (TCP, Unix) on a levent ``SocketBufferEvent``.

Writing is the bufferevent's: ``write()`` sends at once when nothing is queued
(``_write_through``) and queues the rest in the output Evbuffer, which the
bufferevent flushes on EV_WRITE. asyncio's flow control sits on the write
watermark: above the high limit the protocol is paused, and a write callback
(installed only while someone waits for the output to drain: a paused
protocol, ``close()`` or ``write_eof()``) resumes it at the low limit.

Reading skips the input Evbuffer: asyncio protocols take ``bytes``
(``data_received``) or fill their own memory (``BufferedProtocol``), so a
persistent EV_READ Event calls ``recv`` or ``recv_into`` and hands the result
over, which costs no buffer bookkeeping per read.

Errors follow asyncio's ``_SelectorSocketTransport``: an exception raised by a
protocol callback reaches the loop's exception handler and closes only this
transport; ``connection_lost`` runs once, from the loop, and the socket is
closed after it.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import warnings
from asyncio import base_events, constants, futures, protocols, transports, trsock
from typing import TYPE_CHECKING, Any, Final

from levent.bufferevent import BEV_EVENT_ERROR, BEV_EVENT_WRITING, BufferEvent, SocketBufferEvent
from levent.constants import EV
from levent.event import Event

from ._transport import ReadPausing, TransportErrors

if TYPE_CHECKING:
    from .loop import EventLoop

__all__ = ["StreamTransport"]

_READ_PERSIST: Final = int(EV.READ | EV.PERSIST)
_EV_WRITE: Final = int(EV.WRITE)
# Tens of KiB, not asyncio's 256 KiB: a bytes object that large comes from mmap,
# so each read would cost an mmap, an mremap and a munmap (DESIGN.md, reads).
_MAX_READ: Final = 64 * 1024
_DEFAULT_HIGH: Final = 64 * 1024
# asyncio's private helpers, which typeshed does not describe. The flow-control
# mixin is a base class because asyncio's sendfile fallback accepts only its
# subclasses; its limit logic is replaced below, on the bufferevent's watermark.
_FlowControlMixin: Any = transports._FlowControlMixin

_base_events: Any = base_events
_futures: Any = futures
_logger = _base_events.logger


class StreamTransport(TransportErrors, ReadPausing, _FlowControlMixin):  # type: ignore[misc]
    """A connected stream socket as an asyncio ``Transport`` (see the module docstring)."""

    if TYPE_CHECKING:
        # For mypy, which cannot see the slots of asyncio's flow-control base.
        __slots__ = (
            "__weakref__",
            "_bev",
            "_buffered",
            "_closing",
            "_conn_lost",
            "_drain_waiter",
            "_eof",
            "_high_water",
            "_loop",
            "_low_water",
            "_paused",
            "_protocol",
            "_protocol_connected",
            "_protocol_paused",
            "_read_event",
            "_sendfile_active",
            "_server",
            "_shutdown_pending",
            "_sock",
            "_sock_fd",
        )
        _extra: dict[str, Any]
    else:
        __slots__ = (
            "__weakref__",
            "_bev",
            "_buffered",
            "_closing",
            "_conn_lost",
            "_drain_waiter",
            "_eof",
            "_paused",
            "_protocol",
            "_protocol_connected",
            "_read_event",
            "_sendfile_active",
            "_server",
            "_shutdown_pending",
            "_sock",
            "_sock_fd",
        )

    # asyncio's sendfile() asks transports whether they can send a file natively,
    # and start_tls() whether it may swap the protocol for its TLS one.
    _sendfile_compatible = constants._SendfileMode.TRY_NATIVE
    _start_tls_compatible = True

    def __init__(
        self,
        loop: EventLoop,
        sock: socket.socket,
        protocol: asyncio.BaseProtocol,
        waiter: asyncio.Future[Any] | None = None,
        extra: dict[str, Any] | None = None,
        server: Any = None,
    ) -> None:
        super().__init__(extra, loop)
        self._extra["socket"] = trsock.TransportSocket(sock)
        try:
            self._extra["sockname"] = sock.getsockname()
        except OSError:
            self._extra["sockname"] = None
        if "peername" not in self._extra:
            try:
                self._extra["peername"] = sock.getpeername()
            except OSError:
                self._extra["peername"] = None
        self._loop: EventLoop | None = loop
        self._sock: socket.socket | None = sock
        self._sock_fd = sock.fileno()
        self._protocol: Any = None
        self._protocol_connected = False
        self._buffered = False
        self.set_protocol(protocol)
        self._server: Any = server
        self._closing = False
        self._paused = False
        self._eof = False
        self._shutdown_pending = False
        self._conn_lost = 0
        self._drain_waiter: asyncio.Future[None] | None = None
        self._sendfile_active = False
        if server is not None:
            server._attach()
        loop._transports[self._sock_fd] = self
        _base_events._set_nodelay(sock)
        bev = SocketBufferEvent(loop._base, sock, 0)
        bev.setcb(None, None, self._bev_event, None)
        bev.enable(_EV_WRITE)
        self._bev: SocketBufferEvent | None = bev
        # The Event calls the bound method itself: one Python call per read, not two.
        self._read_event = Event(loop._base, self._sock_fd, _READ_PERSIST, self._read_ready, None)
        loop.call_soon(protocol.connection_made, self)
        loop.call_soon(self._start_reading)
        if waiter is not None:
            loop.call_soon(_futures._set_result_unless_cancelled, waiter, None)

    def __repr__(self) -> str:
        info = [self.__class__.__name__]
        if self._sock is None:
            info.append("closed")
        elif self._closing:
            info.append("closing")
        info.append(f"fd={self._sock_fd}")
        if self._bev is not None:
            info.append(f"write_bufsize={len(self._bev.output)}")
        return "<{}>".format(" ".join(info))

    def __del__(self, _warn: Any = warnings.warn) -> None:
        sock = getattr(self, "_sock", None)
        if sock is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            sock.close()

    # -- protocol ------------------------------------------------------------------------

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """Send further data and events to ``protocol``."""
        self._buffered = isinstance(protocol, protocols.BufferedProtocol)
        self._protocol = protocol
        self._protocol_connected = True

    # -- reading ----------------------------------------------------------------------------

    def _start_reading(self) -> None:
        if not self._closing and not self._paused:
            self._read_event.add()

    def _read_ready(self, _fd: int = -1, _what: int = 0, _arg: object = None) -> None:
        """EV_READ: hand what ``recv`` (or ``recv_into``) returns to the protocol."""
        if self._conn_lost:
            return
        sock = self._sock
        assert sock is not None
        if self._buffered:
            self._read_into_buffer(sock)
            return
        try:
            data = sock.recv(_MAX_READ)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on socket transport")
            return
        if not data:
            self._read_eof()
            return
        try:
            self._protocol.data_received(data)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")

    def _read_into_buffer(self, sock: socket.socket) -> None:
        try:
            buf = self._protocol.get_buffer(-1)
            if not len(buf):
                raise RuntimeError("get_buffer() returned an empty buffer")
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.get_buffer() call failed.")
            return
        try:
            nbytes = sock.recv_into(buf)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on socket transport")
            return
        if not nbytes:
            self._read_eof()
            return
        try:
            self._protocol.buffer_updated(nbytes)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.buffer_updated() call failed.")

    def _read_eof(self) -> None:
        loop = self._loop
        if loop is not None and loop._debug:
            _logger.debug("%r received EOF", self)
        self._read_event.delete()
        try:
            keep_open = self._protocol.eof_received()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.eof_received() call failed.")
            return
        if not keep_open:
            self.close()

    # -- writing ----------------------------------------------------------------------------

    def write(self, data: Any) -> None:
        """Send ``data`` (bytes-like) now, or queue what the socket does not take."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"data argument must be a bytes-like object, not {type(data).__name__!r}"
            )
        if self._eof:
            raise RuntimeError("Cannot call write() after write_eof()")
        if self._sendfile_active:
            raise RuntimeError("unable to write; sendfile is in progress")
        if not data:
            return
        if self._conn_lost:
            if self._conn_lost >= constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                _logger.warning("socket.send() raised exception.")
            self._conn_lost += 1
            return
        bev = self._bev
        assert bev is not None
        bev._write_through(data if type(data) is bytes else bytes(data))
        if not self._protocol_paused and len(bev.output) > self._high_water:
            self._pause_protocol()

    def writelines(self, list_of_data: Any) -> None:
        """Write each bytes-like object of ``list_of_data``, as one send when possible."""
        self.write(b"".join(list_of_data))

    def can_write_eof(self) -> bool:
        """True: a stream socket can half-close."""
        return True

    def write_eof(self) -> None:
        """Close the write side once the queued data is sent."""
        if self._closing or self._eof:
            return
        self._eof = True
        bev = self._bev
        assert bev is not None
        if not len(bev.output):
            self._shutdown_write()
        else:
            self._shutdown_pending = True
            self._watch_drain()

    def _shutdown_write(self) -> None:
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError as exc:
                if exc.errno != errno.ENOTCONN:
                    raise

    def get_write_buffer_size(self) -> int:
        """Bytes queued in the output buffer, not yet taken by the socket."""
        bev = self._bev
        return len(bev.output) if bev is not None else 0

    def get_write_buffer_limits(self) -> tuple[int, int]:
        """``(low, high)``: the flow-control limits."""
        return (self._low_water, self._high_water)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Pause the protocol above ``high`` queued bytes, resume it at ``low``."""
        if high is None:
            high = _DEFAULT_HIGH if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high_water = high
        self._low_water = low
        bev = self._bev
        if bev is None:
            return
        if self._protocol_paused:
            bev.setwatermark(_EV_WRITE, low, 0)
        if len(bev.output) > high:
            if not self._protocol_paused:
                self._pause_protocol()
        elif self._protocol_paused and len(bev.output) <= low:
            self._resume_protocol()

    def _pause_protocol(self) -> None:
        self._protocol_paused = True
        self._watch_drain()
        try:
            self._protocol.pause_writing()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._report("protocol.pause_writing() failed", exc)

    def _resume_protocol(self) -> None:
        self._protocol_paused = False
        try:
            self._protocol.resume_writing()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._report("protocol.resume_writing() failed", exc)

    def _watch_drain(self) -> None:
        """Have the bufferevent call us back when the output drains to our threshold."""
        bev = self._bev
        assert bev is not None
        low = self._low_water if self._protocol_paused and not self._draining_to_empty() else 0
        bev.setwatermark(_EV_WRITE, low, 0)
        bev.setcb(None, self._bev_drained, self._bev_event, None)

    def _draining_to_empty(self) -> bool:
        return self._closing or self._shutdown_pending or self._drain_waiter is not None

    def _bev_drained(self, bev: BufferEvent, _arg: object) -> None:
        size = len(bev.output)
        if self._protocol_paused and size <= self._low_water:
            self._resume_protocol()
        if size:
            return
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)
        if self._closing:
            if not self._conn_lost:
                self._conn_lost += 1
                self._call_soon_lost(None)
            return
        if self._shutdown_pending:
            self._shutdown_pending = False
            try:
                self._shutdown_write()
            except OSError as exc:
                self._fatal_error(exc, "Fatal write error on socket transport")
                return
        if not self._protocol_paused and self._bev is not None and not self._closing:
            # Nobody waits for a drain now: back to the write-through path.
            self._bev.setcb(None, None, self._bev_event, None)

    def _bev_event(self, bev: BufferEvent, what: int, _arg: object) -> None:
        if what & BEV_EVENT_ERROR and what & BEV_EVENT_WRITING:
            code = getattr(bev, "socket_error", 0) or errno.EPIPE
            exc = OSError(code, os.strerror(code))
            self._fatal_error(exc, "Fatal write error on socket transport")

    # -- closing ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close once the queued data is sent; ``connection_lost(None)`` follows."""
        if self._closing:
            return
        self._closing = True
        self._read_event.delete()
        bev = self._bev
        if bev is None or not len(bev.output):
            self._conn_lost += 1
            self._call_soon_lost(None)
        else:
            self._watch_drain()

    def abort(self) -> None:
        """Close now, dropping queued data."""
        self._force_close(None)

    def _force_close(self, exc: BaseException | None) -> None:
        if self._conn_lost:
            return
        bev = self._bev
        if bev is not None:
            out = bev.output
            if len(out):
                # Queued data is dropped, as asyncio does (the front is frozen
                # for users of a socket bufferevent, as in libevent).
                out.unfreeze(True)
                out.drain(len(out))
                out.freeze(True)
            bev.disable(_EV_WRITE)
        if not self._closing:
            self._closing = True
            self._read_event.delete()
        self._conn_lost += 1
        self._call_soon_lost(exc)

    def _call_soon_lost(self, exc: BaseException | None) -> None:
        loop = self._loop
        assert loop is not None
        loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        try:
            if self._protocol_connected:
                self._protocol.connection_lost(exc)
        finally:
            self._read_event.free()
            bev = self._bev
            if bev is not None:
                bev.free()
                self._bev = None
            sock = self._sock
            if sock is not None:
                sock.close()
                self._sock = None
            self._protocol = None
            self._loop = None
            server = self._server
            if server is not None:
                server._detach()
                self._server = None

    # -- sendfile --------------------------------------------------------------------------------

    async def _sendfile_native(self, file: Any, offset: int, count: int | None) -> int:
        """``loop.sendfile()``: wait for queued output, then the kernel copies the file
        (``os.sendfile``); ``write()`` raises meanwhile, as asyncio's transports do."""
        loop = self._loop
        sock = self._sock
        if loop is None or sock is None or self._closing:
            raise RuntimeError("Transport is closing")
        if self._sendfile_active:
            raise RuntimeError("sendfile is in progress")
        self._sendfile_active = True
        resume = self.is_reading()
        self.pause_reading()
        try:
            bev = self._bev
            if bev is not None and len(bev.output):
                self._drain_waiter = loop.create_future()
                self._watch_drain()
                await self._drain_waiter
            return await loop._sendfile_with_kernel(sock, file, offset, count)
        finally:
            self._sendfile_active = False
            if resume:
                self.resume_reading()
