"""``DatagramTransport``: asyncio's datagram transport (UDP, Unix datagrams) on levent Events.

Reading is a persistent EV_READ Event: one ``recvfrom`` per readiness, handed to
``protocol.datagram_received``; an ``OSError`` (an ICMP error reported on the
socket, say) goes to ``protocol.error_received`` and the transport stays open.

Writing tries ``send``/``sendto`` at once; a datagram the socket does not take
waits in an output deque, drained by an EV_WRITE Event that is pending only
while the deque is non-empty. asyncio's flow control counts the queued bytes:
above the high limit the protocol is paused, at the low limit it is resumed.

Errors follow asyncio's ``_SelectorDatagramTransport``, with one addition: an
exception raised by ``datagram_received`` or ``error_received`` (which asyncio
leaves to the loop's handle machinery, a levent Event callback has none) reaches
the loop's exception handler and closes only this transport.
"""

from __future__ import annotations

import asyncio
import collections
import socket
import warnings
from asyncio import constants, futures, trsock
from asyncio.log import logger as _logger
from typing import TYPE_CHECKING, Any, Final

from levent.constants import EV
from levent.event import Event

from ._transport import ReadPausing, TransportErrors

if TYPE_CHECKING:
    from .loop import EventLoop

__all__ = ["DatagramTransport"]

_READ_PERSIST: Final = int(EV.READ | EV.PERSIST)
_WRITE_PERSIST: Final = int(EV.WRITE | EV.PERSIST)
_READ: Final = int(EV.READ)
_WRITE: Final = int(EV.WRITE)
_DEFAULT_HIGH: Final = 64 * 1024
# asyncio's private helper, which typeshed does not describe.
_futures: Any = futures


def _readable(_fd: int, _what: int, transport: DatagramTransport) -> None:
    transport._read_ready()


def _writable(_fd: int, _what: int, transport: DatagramTransport) -> None:
    transport._sendto_ready()


class DatagramTransport(TransportErrors, ReadPausing, asyncio.Transport, asyncio.DatagramTransport):
    """A datagram socket as an asyncio ``DatagramTransport`` (see the module docstring).

    It is also an ``asyncio.Transport``, as asyncio's own datagram transport is, so
    reading can be paused and the write-buffer limits set.
    """

    __slots__ = (
        "__weakref__",
        "_address",
        "_buffer",
        "_buffer_size",
        "_closing",
        "_conn_lost",
        "_high",
        "_loop",
        "_low",
        "_paused",
        "_protocol",
        "_protocol_connected",
        "_protocol_paused",
        "_read_event",
        "_sock",
        "_sock_fd",
        "_write_event",
    )

    if TYPE_CHECKING:
        _extra: dict[str, Any]

    #: The largest datagram one ``recvfrom`` takes: any UDP datagram without IPv6
    #: jumbograms. asyncio's 256 KiB buffer comes from mmap, three syscalls a read.
    max_size = 64 * 1024

    def __init__(
        self,
        loop: EventLoop,
        sock: socket.socket,
        protocol: asyncio.BaseProtocol,
        address: Any = None,
        waiter: asyncio.Future[Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(extra)
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
        self._protocol: Any = protocol
        self._protocol_connected = True
        self._address = address
        self._buffer: collections.deque[tuple[bytes, Any]] = collections.deque()
        self._buffer_size = 0
        self._conn_lost = 0
        self._closing = False
        self._paused = False
        self._protocol_paused = False
        self._high = _DEFAULT_HIGH
        self._low = _DEFAULT_HIGH // 4
        loop._transports[self._sock_fd] = self
        base = loop._base
        self._read_event = Event(base, self._sock_fd, _READ_PERSIST, _readable, self)
        self._write_event = Event(base, self._sock_fd, _WRITE_PERSIST, _writable, self)
        loop.call_soon(protocol.connection_made, self)
        # Datagrams reach the protocol only after connection_made().
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
        loop = self._loop
        if loop is not None and not loop.is_closed() and self._sock is not None:
            reading = self._read_event.pending(_READ)
            info.append("read=polling" if reading else "read=idle")
            writing = "polling" if self._write_event.pending(_WRITE) else "idle"
            info.append(f"write=<{writing}, bufsize={self._buffer_size}>")
        return "<{}>".format(" ".join(info))

    def __del__(self, _warn: Any = warnings.warn) -> None:
        sock = getattr(self, "_sock", None)
        if sock is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            sock.close()

    # -- protocol ------------------------------------------------------------------------

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """Send further datagrams and events to ``protocol``."""
        self._protocol = protocol
        self._protocol_connected = True

    # -- reading ----------------------------------------------------------------------------

    def _start_reading(self) -> None:
        if self.is_reading() and self._sock is not None:
            self._read_event.add()

    def _read_ready(self) -> None:
        if self._conn_lost:
            return
        sock = self._sock
        assert sock is not None
        try:
            data, addr = sock.recvfrom(self.max_size)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._error_received(exc)
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on datagram transport")
            return
        try:
            self._protocol.datagram_received(data, addr)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.datagram_received() call failed.")

    def _error_received(self, exc: OSError) -> None:
        try:
            self._protocol.error_received(exc)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as err:
            self._fatal_error(err, "Fatal error: protocol.error_received() call failed.")

    # -- writing ----------------------------------------------------------------------------

    def sendto(self, data: Any, addr: Any = None) -> None:
        """Send ``data`` as one datagram to ``addr`` (the peer's when connected).

        What the socket does not take now is queued and sent on EV_WRITE; an
        ``OSError`` goes to ``protocol.error_received``.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"data argument must be a bytes-like object, not {type(data).__name__!r}"
            )
        if not data:
            return
        if self._address:
            if addr not in (None, self._address):
                raise ValueError(f"Invalid address: must be None or {self._address}")
            addr = self._address
        sock = self._sock
        if self._conn_lost and (self._address or sock is None):
            if self._conn_lost >= constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                _logger.warning("socket.send() raised exception.")
            self._conn_lost += 1
            return
        assert sock is not None
        if not self._buffer:
            try:
                if self._extra["peername"]:
                    sock.send(data)
                else:
                    sock.sendto(data, addr)
                return
            except (BlockingIOError, InterruptedError):
                self._write_event.add()
            except OSError as exc:
                self._error_received(exc)
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal write error on datagram transport")
                return
        # Queue an immutable copy: the caller may reuse its buffer.
        self._buffer.append((bytes(data), addr))
        self._buffer_size += len(data)
        self._maybe_pause_protocol()

    def _sendto_ready(self) -> None:
        sock = self._sock
        assert sock is not None
        buffer = self._buffer
        connected = bool(self._extra["peername"])
        while buffer:
            data, addr = buffer.popleft()
            self._buffer_size -= len(data)
            try:
                if connected:
                    sock.send(data)
                else:
                    sock.sendto(data, addr)
            except (BlockingIOError, InterruptedError):
                buffer.appendleft((data, addr))  # the socket is full again: wait
                self._buffer_size += len(data)
                break
            except OSError as exc:
                self._error_received(exc)
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal write error on datagram transport")
                return
        self._maybe_resume_protocol()  # resume_writing() may queue more
        if not buffer:
            self._write_event.delete()
            if self._closing and not self._conn_lost:
                self._conn_lost += 1
                self._call_connection_lost(None)

    def get_write_buffer_size(self) -> int:
        """Bytes queued in datagrams the socket has not taken yet."""
        return self._buffer_size

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
        if self._buffer_size <= self._high or self._protocol_paused:
            return
        self._protocol_paused = True
        try:
            self._protocol.pause_writing()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._report("protocol.pause_writing() failed", exc)

    def _maybe_resume_protocol(self) -> None:
        if not self._protocol_paused or self._buffer_size > self._low:
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
        """Close once the queued datagrams are sent; ``connection_lost(None)`` follows."""
        if self._closing:
            return
        self._closing = True
        self._read_event.delete()
        if not self._buffer:
            self._conn_lost += 1
            self._write_event.delete()
            self._call_soon_lost(None)

    def abort(self) -> None:
        """Close now, dropping queued datagrams."""
        self._force_close(None)

    def _force_close(self, exc: BaseException | None) -> None:
        if self._conn_lost:
            return
        if self._buffer:
            self._buffer.clear()
            self._buffer_size = 0
            self._write_event.delete()
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
            # The Events go before the socket: its fd number may be reused at once.
            self._read_event.free()
            self._write_event.free()
            sock = self._sock
            if sock is not None:
                sock.close()
                self._sock = None
            self._protocol = None
            self._loop = None
