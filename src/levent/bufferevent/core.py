"""The machinery every BufferEvent shares (libevent's ``bufferevent.c``).

A BufferEvent is two Evbuffers (``input``, ``output``), three user callbacks
(read, write, event) and the rules that decide when they run:

* the read callback runs after data reached the input and the input holds at
  least the read low watermark;
* the write callback runs after data left the output and the output holds no
  more than the write low watermark (0 by default: when it is empty);
* a read high watermark suspends reading while the input holds that much, and
  an input callback resumes it as soon as the user drains below it;
* with ``BEV_OPT_DEFER_CALLBACKS`` the callbacks run from the loop instead of
  from inside the I/O code; event flags accumulate, and one deferred run calls
  CONNECTED first, then read, then write, then the other event flags.

Kinds (socket, pair, filter, TLS) are subclasses (``sock``, ``pair``,
``filter``, ``ssl``); rate limits live in ``ratelim``; they override the ``_on_*``
hooks below to start and stop their I/O. ``suspend`` reasons (watermark,
connect in progress, rate limit …) are bits, so that several can hold a
direction off at once and it resumes only when the last one is lifted. The
kinds without an fd of their own (pair, filter, TLS) derive from
``GenericTimeoutBufferEvent``, which carries libevent's generic timeout timers.

``BEV_OPT_THREADSAFE`` gives a bufferevent a ``BevLock`` (shared by a pair's
ends, and by a filter or TLS bufferevent and its underlying one); the public
operations here, the deferred-callback run and the generic timeouts take it,
as do the pair, filter and TLS kinds' own entry points. It takes the base's
lock first, and the loop holds that lock for each callback pass, so every
callback the loop runs — a socket bufferevent's I/O callbacks included — is
excluded while another thread holds a bufferevent's lock: see ``BevLock``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Final, Protocol

from ..base import EventBase
from ..buffer import ChangeHook, Evbuffer
from ..constants import EV
from ..errors import BufferFrozenError, EventStateError
from ..event import Deferred, Event
from ..timers import CommonTimeout
from .constants import BEV_EVENT, BEV_OPT, BEV_TRIG

if TYPE_CHECKING:
    import ssl

    from .ratelim import RateLimitConfig, RateLimitGroup
    from .ssl import SslBufferEvent

__all__ = [
    "BevLock",
    "BufferEvent",
    "DataCallback",
    "EventCallback",
    "GenericTimeoutBufferEvent",
    "RateLimiter",
]


class RateLimiter(Protocol):
    """What a rate limit (``bufferevent_ratelim.c``) offers the I/O paths of a BufferEvent.

    ``max_to_read`` / ``max_to_write`` say how much the next operation may move
    (0 or less: nothing now — the limiter has suspended that direction and will
    lift the suspension when its bucket refills); ``consumed_*`` report what moved.
    """

    def max_to_read(self, bev: BufferEvent) -> int: ...

    def max_to_write(self, bev: BufferEvent) -> int: ...

    def consumed_read(self, bev: BufferEvent, n: int) -> None: ...

    def consumed_written(self, bev: BufferEvent, n: int) -> None: ...

    def release(self, bev: BufferEvent) -> None: ...


DataCallback = Callable[["BufferEvent", Any], object]
EventCallback = Callable[["BufferEvent", int, Any], object]

_READ: Final = int(EV.READ)
_WRITE: Final = int(EV.WRITE)
_RW: Final = _READ | _WRITE
_TIMEOUT: Final = int(EV.TIMEOUT)
_DEFER: Final = int(BEV_OPT.DEFER_CALLBACKS)
_IGNORE_WM: Final = int(BEV_TRIG.IGNORE_WATERMARKS)
_CONNECTED: Final = int(BEV_EVENT.CONNECTED)
_READING_TIMEOUT: Final = int(BEV_EVENT.READING | BEV_EVENT.TIMEOUT)
_WRITING_TIMEOUT: Final = int(BEV_EVENT.WRITING | BEV_EVENT.TIMEOUT)
_ALL_OPTIONS: Final = 0xF

#: Why a direction is held off (libevent's BEV_SUSPEND_*).
SUSPEND_WM: Final = 0x01  # read: the input reached the high watermark
SUSPEND_BW: Final = 0x02  # rate limit: no tokens left
SUSPEND_BW_GROUP: Final = 0x04  # rate-limit group: no tokens left
SUSPEND_LOOKUP: Final = 0x08  # a hostname lookup is in progress
SUSPEND_FILT_READ: Final = 0x10  # a filter's underlying bufferevent is full

#: Largest single read or write when none is set (``bufferevent_set_max_single_*`` with 0).
#: libevent uses 16 KiB; levent reads more per call because in Python each call,
#: not each byte, is what costs.
DEFAULT_MAX_SINGLE_READ: Final = 64 * 1024
DEFAULT_MAX_SINGLE_WRITE: Final = 64 * 1024

#: ``read_until``'s default limit (asyncio's stream limit).
DEFAULT_READ_LIMIT: Final = 64 * 1024

#: ``watcher(bev)`` run by ``free()``, keyed by ``id(bev)`` and removed when it runs:
#: how levent.aio's awaitable helpers (``levent.aio.bev``) learn that a bufferevent
#: they wait on is gone (free() clears the callbacks without calling them). Whoever
#: registers keeps the bufferevent alive meanwhile, so the id stays its own.
_free_watchers: Final[dict[int, Callable[[BufferEvent], object]]] = {}


class BevLock:
    """The lock of a ``BEV_OPT_THREADSAFE`` bufferevent (libevent's ``bev->lock``).

    Recursive. Acquiring it takes the EventBase's lock first, then the
    bufferevent's own: the loop thread holds the base lock for a whole
    callback pass (docs/threads.md), so that order is the only one that cannot
    deadlock — a thread that holds a bufferevent's lock may then schedule
    work on the base (every write does), and the loop, which runs that
    bufferevent's callbacks with the base lock held, waits for it as a whole.
    Holding ``bev.lock()`` from another thread therefore keeps the loop from
    running callbacks (of that bufferevent, and with it of the others on
    that base) until ``unlock()``.

    One BevLock is shared by the bufferevents that belong together, as in
    libevent: both ends of a pair, a filter (or TLS) bufferevent and its
    underlying one. They always share a base (a filter uses its underlying's,
    a TLS filter refuses another one). The lock is also the lock of their
    input and output Evbuffers (``evbuffer_enable_locking(buf, bev->lock)``),
    so ``bev.output.add(...)`` from another thread is safe too.
    """

    __slots__ = ("_base_lock", "_own")

    def __init__(self, base: EventBase) -> None:
        self._base_lock = base._lock
        self._own = threading.RLock()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Take the base lock, then this one; False if ``blocking``/``timeout`` gave up."""
        base_lock = self._base_lock
        if not base_lock.acquire(blocking, timeout):
            return False
        if not self._own.acquire(blocking, timeout):
            base_lock.release()
            return False
        return True

    def release(self) -> None:
        """Release both, in the reverse order."""
        self._own.release()
        self._base_lock.release()

    def __enter__(self) -> BevLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class BufferEvent(ChangeHook):
    """Buffered I/O with callbacks and watermarks (``struct bufferevent``).

    Create one with ``BufferEvent.socket(base, sock, options)`` or
    ``BufferEvent.pair(base, options)``. The callbacks are
    ``readcb(bev, arg)``, ``writecb(bev, arg)`` and ``eventcb(bev, what, arg)``.
    """

    __slots__ = (
        "_base",
        "_cbarg",
        "_deferred",
        "_enabled",
        "_eventcb",
        "_eventcb_pending",
        "_freed",
        "_input",
        "_lock",
        "_max_single_read",
        "_max_single_write",
        "_options",
        "_output",
        "_priority",
        "_rate",
        "_read_suspended",
        "_readcb",
        "_readcb_pending",
        "_refcnt",
        "_timeout_read",
        "_timeout_write",
        "_wm_read_high",
        "_wm_read_low",
        "_wm_write_high",
        "_wm_write_low",
        "_write_suspended",
        "_writecb",
        "_writecb_pending",
    )

    def __init__(self, base: EventBase, options: int = 0, lock: BevLock | None = None) -> None:
        if not isinstance(base, EventBase):
            raise TypeError(f"base must be an EventBase, not {type(base).__name__}")
        options = int(options)
        if options & ~_ALL_OPTIONS or options < 0:
            raise ValueError(f"unknown bufferevent options {options:#x}")
        if options & BEV_OPT.UNLOCK_CALLBACKS and not options & BEV_OPT.DEFER_CALLBACKS:
            raise ValueError("BEV_OPT_UNLOCK_CALLBACKS needs BEV_OPT_DEFER_CALLBACKS")
        base._check_usable()
        self._base = base
        self._options = options
        self._input = Evbuffer()
        self._output = Evbuffer()
        self._readcb: DataCallback | None = None
        self._writecb: DataCallback | None = None
        self._eventcb: EventCallback | None = None
        self._cbarg: Any = None
        self._enabled = _WRITE  # libevent: a new bufferevent has EV_WRITE enabled
        self._read_suspended = 0
        self._write_suspended = 0
        self._wm_read_low = 0
        self._wm_read_high = 0
        self._wm_write_low = 0
        self._wm_write_high = 0
        self._timeout_read: float | None = None
        self._timeout_write: float | None = None
        self._max_single_read = DEFAULT_MAX_SINGLE_READ
        self._max_single_write = DEFAULT_MAX_SINGLE_WRITE
        self._readcb_pending = False
        self._writecb_pending = False
        self._eventcb_pending = 0
        # The deferred-callback runner and the priority it (and a kind's events)
        # use; created on the first deferred callback (memory per connection).
        self._deferred: Deferred | None = None
        self._priority = base._npriorities // 2
        #: The rate limit in force (levent.bufferevent.ratelim), or None.
        self._rate: RateLimiter | None = None
        self._refcnt = 1
        self._freed = False
        self._lock: BevLock | None = None
        # Both buffers report their changes straight to us (Evbuffer.set_change_hook).
        self._input.set_change_hook(self)
        self._output.set_change_hook(self)
        if options & BEV_OPT.THREADSAFE:
            # ``lock``: the one to share (a pair's other end, a filter's underlying
            # bufferevent); None makes a new one.
            self._enable_locking(lock)

    def _enable_locking(self, lock: BevLock | None) -> BevLock:
        """``bufferevent_enable_locking_``: use ``lock`` (or a new one) here and for both buffers.

        A bufferevent that already has a lock keeps it (and it is returned).
        """
        own = self._lock
        if own is not None:
            return own
        if lock is None:
            lock = BevLock(self._base)
        self._lock = lock
        for buf in (self._input, self._output):
            if buf._lock is None:
                buf.enable_locking(lock)
        return lock

    # -- the constructors, per kind ------------------------------------------------

    @classmethod
    def socket(cls, base: EventBase, sock: object = None, options: int = 0) -> BufferEvent:
        """A bufferevent on a stream socket (``bufferevent_socket_new``).

        ``sock`` is a ``socket.socket``, an fd, or None (to ``connect`` later).
        """
        from .sock import SocketBufferEvent

        return SocketBufferEvent(base, sock, options)

    @classmethod
    def pair(cls, base: EventBase, options: int = 0) -> tuple[BufferEvent, BufferEvent]:
        """Two ends joined like a socketpair, without the kernel (``bufferevent_pair_new``)."""
        from .pair import PairBufferEvent

        return PairBufferEvent.new_pair(base, options)

    @classmethod
    def filter(
        cls,
        underlying: BufferEvent,
        input_filter: Callable[[Evbuffer, Evbuffer, int, int, Any], object] | None,
        output_filter: Callable[[Evbuffer, Evbuffer, int, int, Any], object] | None,
        options: int = 0,
        free_context: Callable[[Any], object] | None = None,
        context: Any = None,
    ) -> BufferEvent:
        """A bufferevent that filters ``underlying`` (``bufferevent_filter_new``)."""
        from .filter import FilterBufferEvent

        return FilterBufferEvent(
            underlying, input_filter, output_filter, options, free_context, context
        )

    @classmethod
    def ssl_socket(
        cls,
        base: EventBase,
        sock: object,
        ssl_context: ssl.SSLContext,
        state: int,
        options: int = 0,
        server_hostname: str | None = None,
    ) -> SslBufferEvent:
        """TLS over a socket (``bufferevent_openssl_socket_new``)."""
        from .ssl import SslBufferEvent

        return SslBufferEvent.ssl_socket(base, sock, ssl_context, state, options, server_hostname)

    @classmethod
    def ssl_filter(
        cls,
        base: EventBase,
        underlying: BufferEvent,
        ssl_context: ssl.SSLContext,
        state: int,
        options: int = 0,
        server_hostname: str | None = None,
    ) -> SslBufferEvent:
        """TLS over another bufferevent (``bufferevent_openssl_filter_new``)."""
        from .ssl import SslBufferEvent

        return SslBufferEvent.ssl_filter(
            base, underlying, ssl_context, state, options, server_hostname
        )

    # -- accessors -----------------------------------------------------------------

    @property
    def input(self) -> Evbuffer:
        """The input buffer (``bufferevent_get_input``): read from it; do not append."""
        return self._input

    @property
    def output(self) -> Evbuffer:
        """The output buffer (``bufferevent_get_output``): append to it; do not drain."""
        return self._output

    @property
    def enabled(self) -> int:
        """The enabled directions, ``EV_READ`` / ``EV_WRITE`` (``bufferevent_get_enabled``)."""
        return self._enabled

    @property
    def base(self) -> EventBase:
        """The EventBase (``bufferevent_get_base``)."""
        return self._base

    @property
    def options(self) -> int:
        """The ``BEV_OPT_*`` options it was created with."""
        return self._options

    def get_enabled(self) -> int:
        """``bufferevent_get_enabled``."""
        return self._enabled

    def get_base(self) -> EventBase:
        """``bufferevent_get_base``."""
        return self._base

    def getcb(self) -> tuple[DataCallback | None, DataCallback | None, EventCallback | None, Any]:
        """The three callbacks and their argument (``bufferevent_getcb``)."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            return self._readcb, self._writecb, self._eventcb, self._cbarg
        finally:
            if lk is not None:
                lk.release()

    def get_underlying(self) -> BufferEvent | None:
        """The bufferevent a filter wraps; None for the others (``bufferevent_get_underlying``)."""
        return None

    def getfd(self) -> int:
        """The fd, or -1 (``bufferevent_getfd``)."""
        return -1

    def setfd(self, fd: object) -> None:
        """Change the fd (``bufferevent_setfd``); only socket bufferevents have one."""
        raise EventStateError(f"{type(self).__name__} has no fd to set")

    # -- callbacks -----------------------------------------------------------------

    def setcb(
        self,
        readcb: DataCallback | None,
        writecb: DataCallback | None,
        eventcb: EventCallback | None,
        arg: Any = None,
    ) -> None:
        """Set the three callbacks and their shared argument (``bufferevent_setcb``)."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            for cb in (readcb, writecb, eventcb):
                if cb is not None and not callable(cb):
                    raise TypeError("callbacks must be callable or None")
            self._readcb = readcb
            self._writecb = writecb
            self._eventcb = eventcb
            self._cbarg = arg
        finally:
            if lk is not None:
                lk.release()

    # -- enabling ------------------------------------------------------------------

    def enable(self, events: int) -> None:
        """Start reading and/or writing (``bufferevent_enable``); restarts that timeout."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            events = _check_events(events)
            self._check_usable()
            self._enabled |= events
            if events & _READ and not self._read_suspended:
                self._start_reading()
            if events & _WRITE and not self._write_suspended:
                self._start_writing()
        finally:
            if lk is not None:
                lk.release()

    def disable(self, events: int) -> None:
        """Stop reading and/or writing (``bufferevent_disable``)."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            events = _check_events(events)
            self._check_usable()
            self._enabled &= ~events
            if events & _READ:
                self._stop_reading()
            if events & _WRITE:
                self._stop_writing()
        finally:
            if lk is not None:
                lk.release()

    def suspend_read(self, why: int) -> None:
        """Hold reading off for ``why`` (a SUSPEND_* bit); used by rate limits and filters."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            was = self._read_suspended
            self._read_suspended = was | why
            if not was:
                self._stop_reading()
        finally:
            if lk is not None:
                lk.release()

    def unsuspend_read(self, why: int) -> None:
        """Lift ``why``; reading resumes when no reason is left and EV_READ is enabled."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            was = self._read_suspended
            self._read_suspended = was & ~why
            if was and not self._read_suspended and self._enabled & _READ and not self._freed:
                self._start_reading()
        finally:
            if lk is not None:
                lk.release()

    def suspend_write(self, why: int) -> None:
        """Hold writing off for ``why``."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            was = self._write_suspended
            self._write_suspended = was | why
            if not was:
                self._stop_writing()
        finally:
            if lk is not None:
                lk.release()

    def unsuspend_write(self, why: int) -> None:
        """Lift ``why``; writing resumes when no reason is left and EV_WRITE is enabled."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            was = self._write_suspended
            self._write_suspended = was & ~why
            if was and not self._write_suspended and self._enabled & _WRITE and not self._freed:
                self._start_writing()
        finally:
            if lk is not None:
                lk.release()

    # -- the kind's I/O hooks (overridden) ----------------------------------------------

    def _start_reading(self) -> None:
        """Reading is enabled and not suspended: watch for input (and arm its timeout)."""

    def _stop_reading(self) -> None:
        """Reading is disabled or suspended."""

    def _start_writing(self) -> None:
        """Writing is enabled and not suspended: move pending output (and arm its timeout)."""

    def _stop_writing(self) -> None:
        """Writing is disabled or suspended."""

    def _output_added(self) -> None:
        """Data reached the output while writing is enabled and not suspended."""

    def _timeouts_changed(self) -> None:
        """``set_timeouts`` ran: re-arm whatever carries the timeouts."""

    def _destruct(self) -> None:
        """The last reference is gone: release events and the fd."""

    def _flush(self, iotype: int, mode: int) -> int:
        """``bufferevent_flush`` for this kind: -1 error, 0 nothing, 1 something moved."""
        return 0

    # -- buffers -------------------------------------------------------------------

    def write(self, data: Any) -> None:
        """Append ``data`` to the output (``bufferevent_write``)."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            self._check_usable()
            self._output.add(data)
        finally:
            if lk is not None:
                lk.release()

    def write_buffer(self, buf: Evbuffer) -> None:
        """Move all of ``buf`` into the output (``bufferevent_write_buffer``)."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            self._check_usable()
            self._output.add_buffer(buf)
        finally:
            if lk is not None:
                lk.release()

    def read(self, n: int) -> bytes:
        """Remove and return up to ``n`` bytes of input (``bufferevent_read``); b"" if none."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            self._check_usable()
            try:
                return self._input.remove(n)
            except BufferFrozenError:
                return b""
        finally:
            if lk is not None:
                lk.release()

    def read_buffer(self, buf: Evbuffer) -> None:
        """Move all of the input into ``buf`` (``bufferevent_read_buffer``)."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            self._check_usable()
            buf.add_buffer(self._input)
        finally:
            if lk is not None:
                lk.release()

    # -- awaitable helpers (levent.aio.bev) --------------------------------------------------
    #
    # Plain methods returning the coroutine of levent.aio.bev, imported when first used:
    # the bufferevent layer does not import asyncio (nor levent.aio) by itself.

    def read_some(self, n: int = -1) -> Coroutine[Any, Any, bytes]:
        """Await up to ``n`` bytes of input (all there is for -1), at least one; b"" at EOF.

        Needs a running ``levent.aio.EventLoop`` on this bufferevent's base; see
        ``levent.aio.bev.read`` (the sync ``read(n)`` never waits).
        """
        from levent.aio import bev as aio_bev

        return aio_bev.read(self, n)

    def read_exactly(self, n: int) -> Coroutine[Any, Any, bytes]:
        """Await exactly ``n`` bytes; ``asyncio.IncompleteReadError`` at EOF
        (``levent.aio.bev.read_exactly``)."""
        from levent.aio import bev as aio_bev

        return aio_bev.read_exactly(self, n)

    def read_until(
        self, separator: bytes = b"\n", limit: int = DEFAULT_READ_LIMIT
    ) -> Coroutine[Any, Any, bytes]:
        """Await the input up to and including ``separator`` (``levent.aio.bev.read_until``):
        ``asyncio.IncompleteReadError`` at EOF, ``asyncio.LimitOverrunError`` past ``limit``
        (the data stays in the input)."""
        from levent.aio import bev as aio_bev

        return aio_bev.read_until(self, separator, limit)

    def drain(self) -> Coroutine[Any, Any, None]:
        """Await the output draining to the write low watermark (empty by default);
        ``ConnectionError`` once the write side failed (``levent.aio.bev.drain``)."""
        from levent.aio import bev as aio_bev

        return aio_bev.drain(self)

    def wait_connected(self) -> Coroutine[Any, Any, None]:
        """Await the end of ``connect`` (or a TLS handshake): OSError if it failed
        (``levent.aio.bev.wait_connected``)."""
        from levent.aio import bev as aio_bev

        return aio_bev.wait_connected(self)

    # -- watermarks, timeouts, limits ------------------------------------------------------

    def setwatermark(self, events: int, low: int, high: int) -> None:
        """Set low and high watermarks of EV_READ and/or EV_WRITE (``bufferevent_setwatermark``).

        ``high`` 0 means unlimited. ``low > high`` with a non-zero ``high`` is refused.
        """
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            events = _check_events(events)
            if not isinstance(low, int) or not isinstance(high, int):
                raise TypeError("watermarks must be ints")
            if low < 0 or high < 0:
                raise ValueError("watermarks must not be negative")
            if high and low > high:
                raise ValueError(f"low watermark {low} is above the high watermark {high}")
            if events & _WRITE:
                self._wm_write_low = low
                self._wm_write_high = high
            if events & _READ:
                self._wm_read_low = low
                self._wm_read_high = high
                self._apply_read_high()
        finally:
            if lk is not None:
                lk.release()

    def getwatermark(self, events: int) -> tuple[int, int]:
        """``(low, high)`` of exactly one direction (``bufferevent_getwatermark``)."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            if events == _READ:
                return self._wm_read_low, self._wm_read_high
            if events == _WRITE:
                return self._wm_write_low, self._wm_write_high
            raise ValueError("getwatermark needs exactly EV_READ or EV_WRITE")
        finally:
            if lk is not None:
                lk.release()

    def _apply_read_high(self) -> None:
        # libevent's bufferevent_inbuf_wm_cb: the high watermark holds reading off
        # exactly while the input is at or above it, whoever changed the input.
        # (suspend_read / unsuspend_read are idempotent per reason.)
        high = self._wm_read_high
        if high and len(self._input) >= high:
            self.suspend_read(SUSPEND_WM)
        else:
            self.unsuspend_read(SUSPEND_WM)

    def _buffer_changed(self, buf: Evbuffer, n_added: int, n_deleted: int) -> None:
        """Either buffer changed (its change hook): the rules that follow from it."""
        if buf is self._output:
            # Data to send: a kind that writes starts moving it (libevent's outbuf_cb).
            if n_added and self._enabled & _WRITE and not self._write_suspended and not self._freed:
                self._output_added()
            return
        if self._wm_read_high:
            self._apply_read_high()

    def set_timeouts(self, timeout_read: float | None, timeout_write: float | None) -> None:
        """Per-direction inactivity timeouts; None or 0: none (``bufferevent_set_timeouts``)."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            self._timeout_read = _check_timeout(timeout_read)
            self._timeout_write = _check_timeout(timeout_write)
            if not self._freed:
                self._timeouts_changed()
        finally:
            if lk is not None:
                lk.release()

    def set_max_single_read(self, size: int) -> None:
        """Largest single read; 0 restores the default (``bufferevent_set_max_single_read``)."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            self._max_single_read = _check_max(size, DEFAULT_MAX_SINGLE_READ)
        finally:
            if lk is not None:
                lk.release()

    def set_max_single_write(self, size: int) -> None:
        """Largest single write; 0 restores the default (``bufferevent_set_max_single_write``)."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            self._max_single_write = _check_max(size, DEFAULT_MAX_SINGLE_WRITE)
        finally:
            if lk is not None:
                lk.release()

    def get_max_single_read(self) -> int:
        """``bufferevent_get_max_single_read``."""
        return self._max_single_read

    def get_max_single_write(self) -> int:
        """``bufferevent_get_max_single_write``."""
        return self._max_single_write

    def get_max_to_read(self) -> int:
        """What the next read may take, rate limits included (``bufferevent_get_max_to_read``)."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            rate = self._rate
            if rate is None:
                return self._max_single_read
            return max(0, rate.max_to_read(self))
        finally:
            if lk is not None:
                lk.release()

    def get_max_to_write(self) -> int:
        """What the next write may send, rate limits included (``bufferevent_get_max_to_write``)."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            rate = self._rate
            if rate is None:
                return self._max_single_write
            return max(0, rate.max_to_write(self))
        finally:
            if lk is not None:
                lk.release()

    # -- rate limiting (bufferevent_ratelim.c; the logic lives in .ratelim) -----------

    def set_rate_limit(self, cfg: RateLimitConfig | None) -> None:
        """``bufferevent_set_rate_limit``: a per-bev token bucket; None removes it."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            from . import ratelim

            ratelim.set_rate_limit(self, cfg)
        finally:
            if lk is not None:
                lk.release()

    def get_read_limit(self) -> int:
        """``bufferevent_get_read_limit``: per-bev read tokens, or EV_SSIZE_MAX."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            from . import ratelim

            return ratelim.get_read_limit(self)
        finally:
            if lk is not None:
                lk.release()

    def get_write_limit(self) -> int:
        """``bufferevent_get_write_limit``: per-bev write tokens, or EV_SSIZE_MAX."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            from . import ratelim

            return ratelim.get_write_limit(self)
        finally:
            if lk is not None:
                lk.release()

    def get_token_bucket_cfg(self) -> RateLimitConfig | None:
        """``bufferevent_get_token_bucket_cfg``."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            from . import ratelim

            return ratelim.get_token_bucket_cfg(self)
        finally:
            if lk is not None:
                lk.release()

    def decrement_read_limit(self, n: int) -> None:
        """``bufferevent_decrement_read_limit``; a negative n refills."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            from . import ratelim

            ratelim.decrement_read_limit(self, n)
        finally:
            if lk is not None:
                lk.release()

    def decrement_write_limit(self, n: int) -> None:
        """``bufferevent_decrement_write_limit``; a negative n refills."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            from . import ratelim

            ratelim.decrement_write_limit(self, n)
        finally:
            if lk is not None:
                lk.release()

    def add_to_rate_limit_group(self, group: RateLimitGroup | None) -> None:
        """``bufferevent_add_to_rate_limit_group`` (None: leave the group)."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            from . import ratelim

            ratelim.add_to_rate_limit_group(self, group)
        finally:
            if lk is not None:
                lk.release()

    def remove_from_rate_limit_group(self) -> None:
        """``bufferevent_remove_from_rate_limit_group``."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            from . import ratelim

            ratelim.remove_from_rate_limit_group(self)
        finally:
            if lk is not None:
                lk.release()

    def priority_set(self, priority: int) -> None:
        """Priority of the internal events (``bufferevent_priority_set``)."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            if not isinstance(priority, int) or not 0 <= priority < self._base.get_npriorities():
                raise ValueError(f"priority {priority!r} out of range")
            self._priority = priority
            deferred = self._deferred
            if deferred is not None:
                deferred.set_priority(priority)
        finally:
            if lk is not None:
                lk.release()

    def get_priority(self) -> int:
        """``bufferevent_get_priority``."""
        return self._priority

    def _schedule_callbacks(self) -> None:
        deferred = self._deferred
        if deferred is None:
            deferred = Deferred(self._base, self._run_deferred, self._priority)
            self._deferred = deferred
        deferred.schedule()

    def flush(self, iotype: int, mode: int) -> int:
        """Push data through filters or pairs (``bufferevent_flush``): -1, 0 or 1."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            iotype = _check_events(iotype)
            if mode not in (0, 1, 2):
                raise ValueError(f"unknown flush mode {mode!r}")
            self._check_usable()
            return self._flush(iotype, int(mode))
        finally:
            if lk is not None:
                lk.release()

    # -- triggering callbacks ----------------------------------------------------------

    def trigger(self, iotype: int, options: int = 0) -> None:
        """Run the read and/or write callback now (``bufferevent_trigger``).

        Watermarks apply unless ``BEV_TRIG_IGNORE_WATERMARKS``;
        ``BEV_TRIG_DEFER_CALLBACKS`` defers.
        """
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            iotype = _check_events(iotype)
            options = int(options)
            if iotype & _READ:
                self._run_readcb(options)
            if iotype & _WRITE:
                self._run_writecb(options)
        finally:
            if lk is not None:
                lk.release()

    def trigger_event(self, what: int, options: int = 0) -> None:
        """Run the event callback with ``what`` (``bufferevent_trigger_event``)."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            self._run_eventcb(int(what), int(options))
        finally:
            if lk is not None:
                lk.release()

    def _run_readcb(self, options: int) -> None:
        if self._readcb is None:
            return
        if not options & _IGNORE_WM and len(self._input) < self._wm_read_low:
            return
        if (self._options | options) & _DEFER:
            self._readcb_pending = True
            self._schedule_callbacks()
            return
        self._readcb(self, self._cbarg)
        self._inbuf_wm_check()

    def _inbuf_wm_check(self) -> None:
        """libevent's bufferevent_inbuf_wm_check (2.1.11+): still at the high watermark
        after the read callback? Run it again, deferred, so data cannot get stuck.

        (libevent issue #891: a read callback that never drains then runs from the
        loop over and over; it is deferred, so other events still get their turn.)
        """
        high = self._wm_read_high
        if (
            high
            and self._enabled & _READ
            and len(self._input) >= high
            and self._readcb is not None
            and not self._freed
        ):
            self._readcb_pending = True
            self._schedule_callbacks()

    def _run_writecb(self, options: int) -> None:
        if self._writecb is None:
            return
        if not options & _IGNORE_WM and len(self._output) > self._wm_write_low:
            return
        if (self._options | options) & _DEFER:
            self._writecb_pending = True
            self._schedule_callbacks()
            return
        self._writecb(self, self._cbarg)

    def _run_eventcb(self, what: int, options: int) -> None:
        if self._eventcb is None:
            return
        if (self._options | options) & _DEFER:
            self._eventcb_pending |= what
            self._schedule_callbacks()
            return
        self._eventcb(self, what, self._cbarg)

    def _run_deferred(self) -> None:
        """One deferred run: CONNECTED, then read, then write, then the other events."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            self._refcnt += 1
            try:
                # As libevent: a pending flag is consumed only by a callback that runs,
                # so one set again later still sees what was pending.
                cb = self._eventcb
                if self._eventcb_pending & _CONNECTED and cb is not None:
                    self._eventcb_pending &= ~_CONNECTED
                    cb(self, _CONNECTED, self._cbarg)
                readcb = self._readcb
                if self._readcb_pending and readcb is not None:
                    self._readcb_pending = False
                    readcb(self, self._cbarg)
                    self._inbuf_wm_check()
                writecb = self._writecb
                if self._writecb_pending and writecb is not None:
                    self._writecb_pending = False
                    writecb(self, self._cbarg)
                cb = self._eventcb
                pending = self._eventcb_pending
                if pending and cb is not None:
                    self._eventcb_pending = 0
                    cb(self, pending, self._cbarg)
            finally:
                self.decref()
        finally:
            if lk is not None:
                lk.release()

    # -- locking and lifetime ------------------------------------------------------

    def lock(self) -> None:
        """Acquire the bufferevent's lock, if it has one (``bufferevent_lock``)."""
        lk = self._lock
        if lk is not None:
            lk.acquire()

    def unlock(self) -> None:
        """Release the lock taken by ``lock`` (``bufferevent_unlock``)."""
        lk = self._lock
        if lk is not None:
            lk.release()

    def incref(self) -> None:
        """Take a reference (``bufferevent_incref``)."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            self._refcnt += 1
        finally:
            if lk is not None:
                lk.release()

    def decref(self) -> int:
        """Drop a reference; 1 when that destroyed it (``bufferevent_decref``)."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            self._refcnt -= 1
            if self._refcnt > 0:
                return 0
            deferred = self._deferred
            if deferred is not None:
                deferred.cancel()
            rate = self._rate
            if rate is not None:
                rate.release(self)  # leave the group, free the refill timer
            self._destruct()
            return 1
        finally:
            if lk is not None:
                lk.release()

    def free(self) -> None:
        """Release the bufferevent (``bufferevent_free``): callbacks cleared, I/O stopped.

        Output not yet written is dropped. With ``BEV_OPT_CLOSE_ON_FREE`` the fd
        (or the underlying bufferevent) is closed too. Safe inside a callback.
        """
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            if self._freed:
                return
            self._freed = True
            self._readcb = self._writecb = None
            self._eventcb = None
            self._readcb_pending = self._writecb_pending = False
            self._eventcb_pending = 0
            self._stop_reading()
            self._stop_writing()
            if _free_watchers:
                watcher = _free_watchers.pop(id(self), None)
                if watcher is not None:
                    watcher(self)
            self.decref()
        finally:
            if lk is not None:
                lk.release()

    @property
    def freed(self) -> bool:
        """True once ``free()`` ran."""
        return self._freed

    def _check_usable(self) -> None:
        if self._freed:
            raise EventStateError("the bufferevent has been freed")

    def __enter__(self) -> BufferEvent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.free()

    def __repr__(self) -> str:
        state = "freed" if self._freed else f"enabled={EV(self._enabled)!r}"
        return (
            f"<{type(self).__name__} fd={self.getfd()} {state} "
            f"input={len(self._input)} output={len(self._output)}>"
        )


class GenericTimeoutBufferEvent(BufferEvent):
    """A kind without an fd of its own (pair, filter, TLS): its timeouts are plain timers.

    libevent's *generic* timeouts (``bufferevent_init_generic_timeout_cbs_``,
    ``bufferevent_generic_adj_timeouts_``, ``BEV_RESET_GENERIC_*_TIMEOUT``,
    ``BEV_DEL_GENERIC_*_TIMEOUT``): one timer per direction, created on first
    use, (re)started on progress by the kind. The read timer runs while
    reading is wanted (by default: EV_READ enabled and not suspended); the
    write timer while writing is wanted (EV_WRITE enabled, not suspended, and
    output waiting). When one fires, that direction is disabled
    (``_read_timed_out`` / ``_write_timed_out``, overridable) and the event
    callback gets ``READING|TIMEOUT`` or ``WRITING|TIMEOUT``.
    """

    __slots__ = ("_timer_read", "_timer_write")

    def __init__(self, base: EventBase, options: int = 0, lock: BevLock | None = None) -> None:
        super().__init__(base, options, lock)
        # Created on first use: a bufferevent without timeouts needs neither.
        self._timer_read: Event | None = None
        self._timer_write: Event | None = None

    # -- when the kind wants each timer (overridable) ----------------------------------

    def _read_timeout_wanted(self) -> bool:
        return not self._freed and self._enabled & _READ != 0 and not self._read_suspended

    def _write_timeout_wanted(self) -> bool:
        return (
            not self._freed
            and self._enabled & _WRITE != 0
            and not self._write_suspended
            and len(self._output) != 0
        )

    # -- arming ------------------------------------------------------------------------

    def _adj_timeouts(self) -> None:
        """``bufferevent_generic_adj_timeouts_``: restart or stop both timers from the state."""
        self._adj_read_timeout()
        self._adj_write_timeout()

    def _adj_read_timeout(self) -> None:
        if self._timeout_read is not None and self._read_timeout_wanted():
            self._reset_read_timeout()
        else:
            self._del_read_timeout()

    def _adj_write_timeout(self) -> None:
        if self._timeout_write is not None and self._write_timeout_wanted():
            self._reset_write_timeout()
        else:
            self._del_write_timeout()

    def _reset_read_timeout(self) -> None:
        """``BEV_RESET_GENERIC_READ_TIMEOUT``: (re)start the read timer if a timeout is set."""
        timeout = self._timeout_read
        if timeout is None:
            return
        timer = self._timer_read
        if timer is None:
            timer = Event(self._base, -1, 0, _generic_read_timeout_cb, self)
            self._timer_read = timer
        timer.add(timeout)

    def _reset_write_timeout(self) -> None:
        """``BEV_RESET_GENERIC_WRITE_TIMEOUT``."""
        timeout = self._timeout_write
        if timeout is None:
            return
        timer = self._timer_write
        if timer is None:
            timer = Event(self._base, -1, 0, _generic_write_timeout_cb, self)
            self._timer_write = timer
        timer.add(timeout)

    def _del_read_timeout(self) -> None:
        """``BEV_DEL_GENERIC_READ_TIMEOUT``."""
        timer = self._timer_read
        if timer is not None:
            timer.delete()

    def _del_write_timeout(self) -> None:
        """``BEV_DEL_GENERIC_WRITE_TIMEOUT``."""
        timer = self._timer_write
        if timer is not None:
            timer.delete()

    def _write_timeout_pending(self) -> bool:
        timer = self._timer_write
        return timer is not None and timer.pending(_TIMEOUT) != 0

    def _timeouts_changed(self) -> None:
        self._adj_timeouts()

    # -- firing --------------------------------------------------------------------------

    def _read_timed_out(self) -> None:
        """The read timer fired: libevent's ``bufferevent_disable(bev, EV_READ)``."""
        self._enabled &= ~_READ
        self._stop_reading()

    def _write_timed_out(self) -> None:
        """The write timer fired: ``bufferevent_disable(bev, EV_WRITE)``."""
        self._enabled &= ~_WRITE
        self._stop_writing()

    def _on_timeout(self, what: int) -> None:
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            if self._freed:
                return
            if what == _READ:
                self._read_timed_out()
                self._run_eventcb(_READING_TIMEOUT, 0)
            else:
                self._write_timed_out()
                self._run_eventcb(_WRITING_TIMEOUT, 0)
        finally:
            if lk is not None:
                lk.release()

    def _destruct(self) -> None:
        timer = self._timer_read
        if timer is not None:
            self._timer_read = None
            timer.free()
        timer = self._timer_write
        if timer is not None:
            self._timer_write = None
            timer.free()


# The timers' callbacks: module functions with the bufferevent as their
# argument (no bound method per bufferevent).


def _generic_read_timeout_cb(fd: int, what: int, bev: GenericTimeoutBufferEvent) -> None:
    bev._on_timeout(_READ)


def _generic_write_timeout_cb(fd: int, what: int, bev: GenericTimeoutBufferEvent) -> None:
    bev._on_timeout(_WRITE)


def _check_events(events: object) -> int:
    if not isinstance(events, int):
        raise TypeError("events must be EV_READ and/or EV_WRITE")
    value = int(events)
    if value & ~_RW:
        raise ValueError(f"only EV_READ and EV_WRITE apply here, not {value:#x}")
    return value


def _check_timeout(timeout: float | None) -> float | None:
    if isinstance(timeout, CommonTimeout):
        # Kept as it is, so the base queues it in O(1). Checked before anything narrows
        # the type to float: compiled, a float is unboxed and would lose its class.
        return timeout
    if timeout is None:
        return None
    if not isinstance(timeout, (int, float)):
        raise TypeError("timeout must be seconds as a number, or None")
    value = float(timeout)
    if value != value or value < 0:
        raise ValueError(f"timeout must be >= 0, not {timeout!r}")
    return value if value > 0 else None


def _check_max(size: int, default: int) -> int:
    if not isinstance(size, int):
        raise TypeError("size must be an int")
    if size < 0:
        raise ValueError("size must not be negative")
    return size if size else default
