"""Socket bufferevents (libevent's ``bufferevent_sock.c``): a BufferEvent on a stream socket.

Reading: one persistent ``EV_READ`` event; each readiness does one ``recv``
of at most min(max single read, room under the read high watermark), and the
bytes object it returns — exactly what arrived — becomes a chunk of the input
without a copy (``add_buffer`` then moves it on without a copy either). A
read of 0 is EOF (``READING|EOF``), a failure ``READING|ERROR``; both disable
reading. The read timeout rides on the read
event, so each read restarts it.

Writing differs from libevent on purpose (DESIGN.md §3). libevent arms
``EV_WRITE`` when data is queued and writes on the next iteration: two
``epoll_ctl`` calls per message. levent schedules a *deferred flush* instead:
every bufferevent that got output during a callback pass writes once, after the
callbacks queued before it, in one ``writev``; ``EV_WRITE`` is armed only when
the kernel did not take everything, and removed once the output is empty. The
write callback still never runs inside ``write()``: it runs from the flush.

Connecting: ``connect(address)`` starts a non-blocking connect and waits for
writability; success reports ``CONNECTED`` (then reading and writing proceed
as enabled), failure reports ``ERROR`` alone with the errno in
``socket_error``. ``connect_hostname`` resolves with a ``levent.dns.DnsBase``
when given one, else in a worker thread: the loop never blocks on DNS.
"""

from __future__ import annotations

import errno
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Final, Protocol

from mypy_extensions import trait

from ..base import EventBase
from ..constants import EV
from ..errors import EventStateError
from ..event import Deferred, Event
from ..util import sockaddr_family
from .constants import BEV_EVENT, BEV_OPT
from .core import SUSPEND_LOOKUP, SUSPEND_WM, BufferEvent

__all__ = ["ReadSink", "SocketBufferEvent"]

_READ: Final = int(EV.READ)
_WRITE: Final = int(EV.WRITE)
_TIMEOUT: Final = int(EV.TIMEOUT)
_EV_READ_PERSIST: Final = int(EV.READ | EV.PERSIST)
_EV_WRITE_PERSIST: Final = int(EV.WRITE | EV.PERSIST)
_READING_EOF: Final = int(BEV_EVENT.READING | BEV_EVENT.EOF)
_READING_ERROR: Final = int(BEV_EVENT.READING | BEV_EVENT.ERROR)
_READING_TIMEOUT: Final = int(BEV_EVENT.READING | BEV_EVENT.TIMEOUT)
_WRITING_EOF: Final = int(BEV_EVENT.WRITING | BEV_EVENT.EOF)
_WRITING_ERROR: Final = int(BEV_EVENT.WRITING | BEV_EVENT.ERROR)
_WRITING_TIMEOUT: Final = int(BEV_EVENT.WRITING | BEV_EVENT.TIMEOUT)
_ERROR: Final = int(BEV_EVENT.ERROR)
_CONNECTED: Final = int(BEV_EVENT.CONNECTED)
_CLOSE_ON_FREE: Final = int(BEV_OPT.CLOSE_ON_FREE)
_DEFER: Final = int(BEV_OPT.DEFER_CALLBACKS)
# Largest read even when a rate limit's bucket would allow more: recv allocates
# what it may receive, and past this size that becomes an mmap per call.
_READ_CAP: Final = 128 * 1024


class AsyncResolver(Protocol):
    """What ``connect_hostname`` asks of a ``dns_base``: ``levent.dns.DnsBase``'s
    ``getaddrinfo`` (``evdns_getaddrinfo``), callback ``cb(err, results, arg)``."""

    def getaddrinfo(
        self,
        nodename: str | None,
        servname: str | None,
        hints: Any,
        cb: Callable[[int, list[Any], Any], object],
        arg: Any = None,
    ) -> object: ...


class _StreamHints:
    """The hints of a connect: any address family asked for, a stream socket."""

    __slots__ = ("family", "flags", "protocol", "socktype")

    def __init__(self, family: int) -> None:
        self.family = family
        self.socktype = int(socket.SOCK_STREAM)
        self.protocol = int(socket.IPPROTO_TCP)
        self.flags = 0


# Without a dns_base, hostname lookups run here, off the loop thread.
_resolver_lock = threading.Lock()
_resolver: list[ThreadPoolExecutor] = []


def _resolver_pool() -> ThreadPoolExecutor:
    with _resolver_lock:
        if not _resolver:
            _resolver.append(ThreadPoolExecutor(max_workers=4, thread_name_prefix="levent-dns"))
        return _resolver[0]


class SocketBufferEvent(BufferEvent):
    """A BufferEvent on a socket (``bufferevent_socket_new``); see ``BufferEvent.socket``."""

    __slots__ = (
        "_connecting",
        "_ev_read",
        "_ev_write",
        "_fd",
        "_flush_deferred",
        "_flush_wanted",
        "_owns_sock",
        "_reading_now",
        "_recv",
        "_resolved",
        "_send",
        "_sink",
        "_sock",
        "_wrapped_fd",
        "dns_error",
        "socket_error",
    )

    def __init__(self, base: EventBase, sock: object = None, options: int = 0) -> None:
        super().__init__(base, options)
        self._sock: socket.socket | None = None
        self._fd = -1
        self._owns_sock = False
        self._wrapped_fd = False
        # The socket's recv and send, bound on first use: a connection that has
        # moved data saves the method lookups; an idle one does not pay for them.
        self._recv: Callable[[int], bytes] | None = None
        self._send: Callable[[Any], int] | None = None
        self._sink: ReadSink | None = None
        # While our read callback runs, output it adds is flushed when it returns.
        self._reading_now = False
        self._flush_wanted = False
        self._connecting = False
        #: errno of the last failed connect, read or write (``EVUTIL_SOCKET_ERROR``).
        self.socket_error = 0
        #: ``socket.EAI_*`` code of the last failed hostname lookup (``get_dns_error``).
        self.dns_error = 0
        self._resolved: Deferred | None = None
        # Created on first use: an idle connection needs neither (memory per connection).
        self._flush_deferred: Deferred | None = None
        self._ev_write: Event | None = None
        # A module function with the bufferevent as arg: no bound method per connection.
        self._ev_read = Event(base, -1, _EV_READ_PERSIST, _readable_cb, self)
        self._input.freeze(False)  # users may not append to the input...
        self._output.freeze(True)  # ...nor drain the output (as libevent)
        if sock is not None:
            self._attach(sock)

    # -- the socket ----------------------------------------------------------------

    def _attach(self, sock: object) -> None:
        self._wrapped_fd = False
        self._recv = None  # bound again, lazily, for the new socket
        self._send = None
        if isinstance(sock, socket.socket):
            if sock.fileno() < 0:
                raise ValueError("the socket is closed")
            self._sock = sock
        elif isinstance(sock, int):
            if sock < 0:
                self._sock = None
                self._fd = -1
                self._rearm_events()
                return
            self._sock = socket.socket(fileno=sock)
            self._wrapped_fd = True
        else:
            raise TypeError(f"sock must be a socket, an fd or None, not {type(sock).__name__}")
        self._sock.setblocking(False)
        self._fd = self._sock.fileno()
        self._rearm_events()

    def _rearm_events(self) -> None:
        """Point both events at the current fd, keeping what was pending."""
        reading = self._ev_read.pending(_READ) != 0
        writing = self._write_pending()
        self._ev_read.delete()
        self._disarm_write()
        fd = self._fd
        self._ev_read.assign(self._base, fd, _EV_READ_PERSIST, _readable_cb, self)
        self._ev_read.priority_set(self._priority)
        ev_write = self._ev_write
        if ev_write is not None:
            ev_write.assign(self._base, fd, _EV_WRITE_PERSIST, self._on_writable)
            ev_write.priority_set(self._priority)
        if reading:
            self._ev_read.add(self._timeout_read)
        if writing:
            self._arm_write()

    def _arm_write(self) -> None:
        """Watch for writability (with the write timeout), creating the event on first use."""
        ev = self._ev_write
        if ev is None:
            ev = Event(self._base, self._fd, _EV_WRITE_PERSIST, self._on_writable)
            ev.priority_set(self._priority)
            self._ev_write = ev
        ev.add(self._timeout_write)

    def _disarm_write(self) -> None:
        ev = self._ev_write
        if ev is not None:
            ev.delete()

    def _write_pending(self) -> bool:
        ev = self._ev_write
        return ev is not None and ev.pending(_WRITE) != 0

    def _schedule_flush(self) -> None:
        flush = self._flush_deferred
        if flush is None:
            flush = Deferred(self._base, self._flush_output, self._priority)
            self._flush_deferred = flush
        flush.schedule()

    def _cancel_flush(self) -> None:
        flush = self._flush_deferred
        if flush is not None:
            flush.cancel()

    @property
    def socket(self) -> socket.socket | None:  # type: ignore[override]
        """The socket object, or None before ``connect`` / ``setfd``."""
        return self._sock

    def getfd(self) -> int:
        """``bufferevent_getfd``: the fd, or -1."""
        return self._fd

    def setfd(self, fd: object) -> None:
        """``bufferevent_setfd``: use another socket (or None / -1 for none)."""
        self._check_usable()
        self._connecting = False
        self._attach(-1 if fd is None else fd)
        if self._enabled & _READ and not self._read_suspended:
            self._start_reading()
        if self._enabled & _WRITE and not self._write_suspended:
            self._start_writing()

    def get_dns_error(self) -> int:
        """``bufferevent_socket_get_dns_error``: the last lookup's EAI code, 0 if none."""
        return self.dns_error

    # -- connecting ----------------------------------------------------------------

    def connect(self, address: Any) -> None:
        """Start connecting to a numeric ``address`` (``bufferevent_socket_connect``).

        ``(host, port)`` for IPv4, a 4-tuple or a host with ``:`` for IPv6, a
        path for AF_UNIX. ``CONNECTED`` or ``ERROR`` reaches the event callback.
        ``None`` means the socket is already connecting. For names, use
        ``connect_hostname``.
        """
        self._check_usable()
        if address is None:
            if self._sock is None:
                raise EventStateError("connect(None) needs a socket that is already connecting")
            self._begin_connect()
            return
        family = sockaddr_family(address, numeric_only=True)
        if self._sock is None:
            self._attach(socket.socket(family, socket.SOCK_STREAM))
            self._owns_sock = True
        sock = self._sock
        assert sock is not None
        code = sock.connect_ex(address)
        if code in (0, errno.EINPROGRESS, errno.EAGAIN, errno.EALREADY):
            self._begin_connect()
            return
        # Refused at once: libevent reports it from the loop, not inside connect().
        self.socket_error = code
        self._connecting = False
        self._fail_later()

    def _begin_connect(self) -> None:
        self._connecting = True
        self._ev_read.delete()
        self._arm_write()

    def _fail_later(self) -> None:
        def report() -> None:
            if not self._freed:
                self._ev_read.delete()
                self._disarm_write()
                self._run_eventcb(_ERROR, 0)

        Deferred(self._base, report, self._priority).schedule()

    def connect_hostname(self, dns_base: object, family: int, hostname: str, port: int) -> None:
        """Resolve ``hostname`` without blocking the loop, then connect (``..._connect_hostname``).

        With a ``levent.dns.DnsBase`` as ``dns_base`` the lookup is its
        ``getaddrinfo``, on the loop; with None it is ``socket.getaddrinfo`` in
        a worker thread. A failed lookup reports ``ERROR`` with
        ``get_dns_error()`` set (a ``socket.EAI_*`` code).
        """
        self._check_usable()
        if not isinstance(hostname, str) or not isinstance(port, int):
            raise TypeError("hostname must be a str and port an int")
        if not 0 <= port <= 65535:
            raise ValueError(f"port {port} out of range")
        resolver: AsyncResolver | None = None
        if dns_base is not None:
            if not callable(getattr(dns_base, "getaddrinfo", None)):
                raise TypeError("dns_base must be a levent.dns.DnsBase or None")
            resolver = dns_base  # type: ignore[assignment]
        host = hostname[1:-1] if hostname.startswith("[") and hostname.endswith("]") else hostname
        self.dns_error = 0
        self.suspend_read(SUSPEND_LOOKUP)
        self.suspend_write(SUSPEND_LOOKUP)
        self.incref()
        outcome: list[Any] = []
        done = Deferred(self._base, lambda: self._lookup_done(outcome, port))
        self._resolved = done
        if resolver is not None:

            def answered(err: int, results: list[Any], arg: Any) -> None:
                # Possibly before getaddrinfo returns (a numeric host): report from the
                # loop either way, as the threaded lookup does.
                outcome.append((err, results))
                done.schedule()

            resolver.getaddrinfo(host, str(port), _StreamHints(int(family)), answered, None)
            return

        def finished(fut: Future[list[Any]]) -> None:
            outcome.append(fut)
            done.schedule()  # thread-safe: wakes the loop

        fut = _resolver_pool().submit(
            socket.getaddrinfo, host, port, int(family), socket.SOCK_STREAM
        )
        fut.add_done_callback(finished)

    def _lookup_done(self, outcome: list[Any], port: int) -> None:
        self._resolved = None
        try:
            if self._freed:
                return
            self.unsuspend_read(SUSPEND_LOOKUP)
            self.unsuspend_write(SUSPEND_LOOKUP)
            result = outcome[0]
            if isinstance(result, tuple):
                err, infos = result
                if err:
                    self.dns_error = int(err)
                    self._run_eventcb(_ERROR, 0)
                    return
            else:
                exc = result.exception()
                if exc is not None:
                    code = exc.args[0] if isinstance(exc, socket.gaierror) and exc.args else -1
                    self.dns_error = code if isinstance(code, int) else -1
                    self._run_eventcb(_ERROR, 0)
                    return
                infos = result.result()
            if not infos:
                self.dns_error = socket.EAI_NONAME
                self._run_eventcb(_ERROR, 0)
                return
            address = infos[0][4]
            self.connect(address)
        finally:
            self.decref()

    def _finish_connect(self) -> None:
        sock = self._sock
        assert sock is not None
        self._connecting = False
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self.socket_error = code
            self._ev_read.delete()
            self._disarm_write()
            self._run_eventcb(_ERROR, 0)
            return
        self._run_eventcb(_CONNECTED, 0)
        if self._freed:
            return
        if self._enabled & _READ and not self._read_suspended:
            self._start_reading()
        if self._enabled & _WRITE and not self._write_suspended and len(self._output):
            self._flush_output()
        else:
            self._disarm_write()

    # -- the I/O hooks -------------------------------------------------------------

    def _start_reading(self) -> None:
        if not self._connecting:
            self._ev_read.add(self._timeout_read)

    def _stop_reading(self) -> None:
        self._ev_read.delete()

    def _start_writing(self) -> None:
        if self._connecting:
            return
        if self._fd < 0:
            # No socket: the write event can only time out (libevent adds it anyway).
            self._arm_write()
        else:
            # libevent adds the write event even with nothing queued, and its first
            # readiness runs the write callback: the "enable EV_WRITE to be called
            # back when writable" idiom. The flush does both.
            self._schedule_flush()

    def _stop_writing(self) -> None:
        if not self._connecting:
            self._disarm_write()
        self._cancel_flush()

    def _output_added(self) -> None:
        if not self._connecting and self._fd >= 0 and not self._write_pending():
            if self._reading_now:
                self._flush_wanted = True  # _on_readable flushes after the callback
            else:
                self._schedule_flush()

    def _timeouts_changed(self) -> None:
        if self._ev_read.pending(_READ):
            self._ev_read.add(self._timeout_read)
        if self._write_pending():
            self._arm_write()

    def priority_set(self, priority: int) -> None:
        """``bufferevent_priority_set``: priority of the read, write and flush callbacks."""
        super().priority_set(priority)
        flush = self._flush_deferred
        if flush is not None:
            flush.set_priority(priority)
        for ev in (self._ev_read, self._ev_write):
            if ev is None:
                continue
            pending = ev.pending(_READ | _WRITE | _TIMEOUT)
            ev.delete()
            ev.priority_set(priority)
            if pending:
                ev.add(self._timeout_read if ev is self._ev_read else self._timeout_write)

    # -- event callbacks -----------------------------------------------------------

    def _on_readable(self, fd: int, what: int, arg: object) -> None:
        if what & _TIMEOUT:
            self._enabled &= ~_READ
            self._ev_read.delete()
            self._run_eventcb(_READING_TIMEOUT, 0)
            return
        rate = self._rate
        if rate is None:
            howmuch = self._max_single_read
        else:
            # libevent: with a rate limit the bucket replaces the single-read cap.
            howmuch = rate.max_to_read(self)
            if howmuch <= 0:
                return  # the limiter suspended reading until its bucket refills
            if howmuch > _READ_CAP:
                howmuch = _READ_CAP
        high = self._wm_read_high
        inp = self._input
        if high:
            room = high - len(inp)
            if room <= 0:
                self.suspend_read(SUSPEND_WM)
                return
            if room < howmuch:
                howmuch = room
        recv = self._recv
        if recv is None:
            sock = self._sock
            assert sock is not None
            recv = self._recv = sock.recv
        try:
            # recv gives a bytes object of exactly what arrived; the input keeps
            # it as a chunk (no copy), and add_buffer moves it on (no copy).
            data = recv(howmuch)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.socket_error = exc.errno or 0
            self._enabled &= ~_READ
            self._ev_read.delete()
            self._run_eventcb(_READING_ERROR, 0)
            return
        n = len(data)
        if n == 0:
            self._enabled &= ~_READ
            self._ev_read.delete()
            self._run_eventcb(_READING_EOF, 0)
            return
        sink = self._sink
        if sink is None or not (
            not inp._len
            and rate is None
            and not high
            and not self._wm_read_low
            and not inp._cbs
            and self._lock is None
            and not self._options & _DEFER
        ):
            # The usual way, through the input buffer. (With a sink and nothing else
            # watching the input, the bytes go to the sink as they are instead.)
            sink = None
            inp._io_add(data)  # its change hook suspends reading at the high watermark
            if rate is not None:
                rate.consumed_read(self, n)
            if len(inp) < self._wm_read_low:
                return
        # The common server step — read, answer, write — costs no deferred flush:
        # output the read callback (or sink) adds goes out when it returns.
        self._reading_now = True
        try:
            if sink is not None:
                sink._data_received(data)
            else:
                self._run_readcb(0)
        finally:
            self._reading_now = False
            if self._flush_wanted:
                self._flush_wanted = False
                if not self._write_pending():
                    self._flush_output()

    # -- levent's own protocols: bytes that skip the buffers ---------------------------

    def _set_sink(self, sink: ReadSink | None) -> None:
        """Deliver received bytes to ``sink._data_received`` while the input is empty
        and unwatched (no watermark, rate limit, callback, lock or deferral), instead of
        through the input buffer and the read callback; otherwise as usual."""
        self._sink = sink

    def _write_through(self, data: bytes) -> None:
        """Queue ``data`` for writing; with nothing queued before it, send it now and
        queue only what the kernel did not take. For levent's own protocols: the write
        callback is not run for bytes that never queued, so it must be unset."""
        out = self._output
        if (
            not out._len
            and self._writecb is None
            and self._rate is None
            and self._lock is None
            and self._fd >= 0
            and self._enabled & _WRITE
            and not self._connecting
            and not self._write_suspended
            and not self._freed
            and not out._cbs
        ):
            send = self._send
            if send is None and self._sock is not None:
                send = self._send = self._sock.send
            if send is not None:
                try:
                    sent = send(data)
                except OSError:
                    # Would block, or failed: the queued copy's flush retries and reports.
                    sent = 0
                if sent >= len(data):
                    return
                if sent > 0:
                    data = data[sent:]
        out.add(data)

    def _on_writable(self, fd: int, what: int, arg: object) -> None:
        if what & _TIMEOUT:
            self._enabled &= ~_WRITE
            self._disarm_write()
            self._cancel_flush()
            self._run_eventcb(_WRITING_TIMEOUT, 0)
            return
        if self._connecting:
            self._finish_connect()
            return
        self._flush_output()

    def _flush_output(self) -> None:
        """Write what the kernel takes now; arm EV_WRITE only for what is left."""
        if (
            self._freed
            or self._connecting
            or self._fd < 0
            or not self._enabled & _WRITE
            or self._write_suspended
        ):
            return
        out = self._output
        if not len(out):
            self._disarm_write()
            self._run_writecb(0)  # libevent's writecb with nothing to write
            return
        rate = self._rate
        if rate is None:
            limit = self._max_single_write
        else:
            limit = rate.max_to_write(self)  # the bucket replaces the single-write cap
            if limit <= 0:
                return  # the limiter suspended writing until its bucket refills
        try:
            send = self._send
            if send is None and self._sock is not None:
                send = self._send = self._sock.send
            written = out._io_write(self._fd, limit, send)
        except (BlockingIOError, InterruptedError):
            written = 0
        except OSError as exc:
            self.socket_error = exc.errno or 0
            self._enabled &= ~_WRITE
            self._disarm_write()
            self._run_eventcb(_WRITING_ERROR, 0)
            return
        if len(out):
            if not self._write_pending():
                self._arm_write()
        elif self._write_pending():
            self._disarm_write()
        if written and rate is not None:
            rate.consumed_written(self, written)
        if written and len(out) <= self._wm_write_low:
            self._run_writecb(0)

    # -- teardown ------------------------------------------------------------------

    def _destruct(self) -> None:
        self._cancel_flush()
        self._ev_read.free()
        ev_write = self._ev_write
        if ev_write is not None:
            ev_write.free()
        resolved = self._resolved
        if resolved is not None:
            resolved.cancel()
        sock = self._sock
        if sock is not None and (self._options & _CLOSE_ON_FREE or self._owns_sock):
            sock.close()
        elif sock is not None and self._wrapped_fd:
            sock.detach()  # the fd is the caller's: our wrapper must not close it
        self._sock = None
        self._recv = self._send = None
        self._fd = -1


@trait
class ReadSink:
    """Who takes a socket bufferevent's bytes straight from ``recv`` (``_set_sink``)."""

    def _data_received(self, data: bytes) -> None:
        """``data`` arrived (never empty); the input buffer was empty and stays so."""


def _readable_cb(fd: int, what: int, bev: SocketBufferEvent) -> None:
    bev._on_readable(fd, what, None)
