"""Awaitable helpers over a BufferEvent: coroutines reading and writing levent's buffers.

With ``loop = levent.aio.EventLoop(base)`` running, a coroutine can use any
bufferevent of ``base`` the way it would use asyncio's streams::

    line = await read_until(bev, b"\\r\\n")    # or: await bev.read_until(b"\\r\\n")
    bev.write(b"echo: " + line)
    await drain(bev)                          # or: await bev.drain()

The data stays in the bufferevent's Evbuffers: a helper waits (on a future of
the running loop) until ``bev.input`` holds what it asked for and only then
removes it, so a helper cancelled by ``asyncio.wait_for`` leaves every byte in
the input for the next read, and callback code and coroutines can take turns
on one bufferevent.

While a helper waits, the bufferevent's callbacks are levent.aio's: they were
saved with ``getcb()`` and are put back with ``setcb()`` when the last helper
returns. Meanwhile the user's read callback still runs when no coroutine is
reading, the write callback runs as usual, and the event callback gets the
events no helper was waiting for (the others become the helpers' exceptions).
A read helper enables ``EV_READ`` if it was off, and disables it again when it
returns (bytes read meanwhile stay in the input); ``drain`` enables ``EV_WRITE``
if it was off, and leaves it on (a new bufferevent has it on). The read watermarks still
apply: the read callback (and so a waiting helper) wakes only once the input
holds the low watermark, and a high watermark caps what ``read_until`` can
find (past it, ``LimitOverrunError``).

Events become exceptions: ``BEV_EVENT_ERROR`` is the ``OSError`` of the
socket's errno (``ConnectionResetError``, ``ConnectionRefusedError`` …; TLS:
the ``ssl.SSLError``; a failed lookup: ``socket.gaierror``), ``BEV_EVENT_TIMEOUT``
is ``TimeoutError``, ``BEV_EVENT_EOF`` is end of data for the readers
(``b""``, ``asyncio.IncompleteReadError``) and ``ConnectionResetError`` for
``drain``. ``free()`` while a helper waits counts as EOF (readers) and
``ConnectionResetError`` (``drain``, ``wait_connected``).

Every helper needs a running ``levent.aio.EventLoop`` on the bufferevent's own
base (callbacks of that base run inside it): anywhere else, ``RuntimeError``.
One coroutine at a time may read a bufferevent; any number may ``drain`` it.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any, Final

from levent.buffer import Evbuffer
from levent.bufferevent import core
from levent.bufferevent.constants import BEV_EVENT
from levent.bufferevent.core import DEFAULT_READ_LIMIT, BufferEvent, DataCallback, EventCallback
from levent.bufferevent.sock import SocketBufferEvent
from levent.bufferevent.ssl import BUFFEREVENT_SSL_STATE, SslBufferEvent
from levent.constants import EV
from levent.errors import EventStateError

from .loop import EventLoop

__all__ = ["DEFAULT_LIMIT", "drain", "read", "read_exactly", "read_until", "wait_connected"]

#: ``read_until``'s default limit: asyncio's stream limit, 64 KiB.
DEFAULT_LIMIT: Final = DEFAULT_READ_LIMIT

_EV_READ: Final = int(EV.READ)
_EV_WRITE: Final = int(EV.WRITE)
_READING: Final = int(BEV_EVENT.READING)
_WRITING: Final = int(BEV_EVENT.WRITING)
_EOF: Final = int(BEV_EVENT.EOF)
_ERROR: Final = int(BEV_EVENT.ERROR)
_TIMEOUT: Final = int(BEV_EVENT.TIMEOUT)
_CONNECTED: Final = int(BEV_EVENT.CONNECTED)
_ENDS: Final = _EOF | _ERROR | _TIMEOUT
# Not an event of libevent's: free() ran while helpers waited.
_FREED: Final = 0x1000
_SSL_HANDSHAKING: Final = (
    int(BUFFEREVENT_SSL_STATE.CONNECTING),
    int(BUFFEREVENT_SSL_STATE.ACCEPTING),
)

_UserCallbacks = tuple[DataCallback | None, DataCallback | None, EventCallback | None, Any]


# -- the callbacks a bufferevent has while helpers wait ---------------------------------------


class _Waiters:
    """What waits on one bufferevent; installed as its callbacks (and their argument).

    ``user`` holds the callbacks it replaced. The ``*_what`` fields keep the events
    that ended a wait (sticky for as long as the waiters stay installed), so an event
    that arrives between two wake-ups of a coroutine is not lost.
    """

    __slots__ = (
        "bev",
        "connect_what",
        "connected",
        "connectors",
        "drainers",
        "n_connecting",
        "n_draining",
        "on_free",
        "read_enabled_here",
        "read_fut",
        "read_what",
        "reading",
        "user",
        "write_what",
    )

    def __init__(self, bev: BufferEvent) -> None:
        self.bev = bev
        self.user: _UserCallbacks = bev.getcb()
        self.reading = False
        self.read_fut: asyncio.Future[None] | None = None
        self.read_what = 0
        self.read_enabled_here = False
        self.n_draining = 0
        self.drainers: list[asyncio.Future[None]] = []
        self.write_what = 0
        self.n_connecting = 0
        self.connectors: list[asyncio.Future[None]] = []
        self.connect_what = 0
        self.connected = False
        # The watcher registered with the bufferevent's free(), kept to unregister it.
        self.on_free = self.freed

    # -- installing and removing ----------------------------------------------------------

    def apply(self) -> None:
        """Install the callbacks the current waiters (and the saved user callbacks) need.

        A read (write) callback only while someone reads (drains) or the user had one:
        an unneeded read callback would keep running at the high watermark, and a
        write callback would keep a socket bufferevent from writing through.
        """
        bev = self.bev
        if bev.freed:
            return
        user_read, user_write, _, _ = self.user
        bev.setcb(
            _on_read if self.reading or user_read is not None else None,
            _on_write if self.n_draining or user_write is not None else None,
            _on_event,
            self,
        )

    def idle(self) -> bool:
        return not self.reading and not self.n_draining and not self.n_connecting

    def release(self) -> None:
        """The last helper returned: give the bufferevent its callbacks back."""
        if not self.idle():
            self.apply()
            return
        bev = self.bev
        if core._free_watchers.get(id(bev)) is self.on_free:
            del core._free_watchers[id(bev)]
        if bev.freed:
            return
        if _installed(bev) is self:
            bev.setcb(*self.user)

    def refresh(self) -> None:
        """After running a user callback: did it call ``setcb``? Then those are the user's."""
        bev = self.bev
        if bev.freed:
            return
        current = bev.getcb()
        if current[3] is not self or current[2] is not _on_event:
            self.user = current
            self.apply()

    # -- waking ---------------------------------------------------------------------------

    def wake_reader(self) -> None:
        fut = self.read_fut
        if fut is not None and not fut.done():
            fut.set_result(None)

    def wake_drainers(self) -> None:
        for fut in self.drainers:
            if not fut.done():
                fut.set_result(None)

    def wake_connectors(self) -> None:
        for fut in self.connectors:
            if not fut.done():
                fut.set_result(None)

    def freed(self, bev: BufferEvent) -> None:
        """``free()`` ran (its watcher): every waiter stops waiting."""
        self.read_what |= _FREED
        self.write_what |= _FREED
        self.connect_what |= _FREED
        self.wake_reader()
        self.wake_drainers()
        self.wake_connectors()


def _installed(bev: BufferEvent) -> _Waiters | None:
    """The waiters installed on ``bev``, if its callbacks are levent.aio's."""
    _, _, eventcb, arg = bev.getcb()
    if eventcb is _on_event and isinstance(arg, _Waiters):
        return arg
    return None


def _attach(bev: BufferEvent) -> _Waiters:
    """The waiters of ``bev``, installing them if it has none."""
    w = _installed(bev)
    if w is not None:
        w.refresh()
        return w
    w = _Waiters(bev)
    core._free_watchers[id(bev)] = w.on_free
    w.apply()
    return w


def _on_read(bev: BufferEvent, w: _Waiters) -> None:
    if w.reading:
        w.wake_reader()  # the data stays in the input: the coroutine takes what it needs
        return
    cb = w.user[0]
    if cb is not None:
        cb(bev, w.user[3])
        w.refresh()


def _on_write(bev: BufferEvent, w: _Waiters) -> None:
    if w.n_draining:
        w.wake_drainers()
    cb = w.user[1]
    if cb is not None:
        cb(bev, w.user[3])
        w.refresh()


def _on_event(bev: BufferEvent, what: int, w: _Waiters) -> None:
    rest = what
    if what & _CONNECTED and w.n_connecting:
        w.connected = True
        w.wake_connectors()
        rest &= ~_CONNECTED
    if what & _ENDS:
        # Without a direction (a failed connect or lookup) it concerns everyone.
        both = not what & (_READING | _WRITING)
        consumed = False
        if w.reading and (both or what & _READING):
            w.read_what |= what & ~_CONNECTED
            w.wake_reader()
            consumed = True
        if w.n_draining and (both or what & _WRITING):
            w.write_what |= what & ~_CONNECTED
            w.wake_drainers()
            consumed = True
        if w.n_connecting:
            w.connect_what |= what & ~_CONNECTED
            w.wake_connectors()
            consumed = True
        if consumed:
            rest &= _CONNECTED
    if rest:
        cb = w.user[2]
        if cb is not None:
            cb(bev, rest, w.user[3])
            w.refresh()


# -- checks and errors ------------------------------------------------------------------------


def _running_loop(bev: BufferEvent, helper: str) -> asyncio.AbstractEventLoop:
    """The running levent.aio loop of ``bev``'s base, or a RuntimeError saying what is wrong."""
    if not isinstance(bev, BufferEvent):
        raise TypeError(f"{helper}() needs a BufferEvent, not {type(bev).__name__}")
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if not isinstance(loop, EventLoop) or loop.base is not bev.base:
        where = "no running event loop" if loop is None else f"the running loop is {loop!r}"
        raise RuntimeError(
            f"{helper}() needs a running levent.aio.EventLoop on the bufferevent's EventBase "
            f"(levent.aio.EventLoop(bev.base)); {where}"
        )
    if bev.freed:
        raise EventStateError("the bufferevent has been freed")
    return loop


def _error(bev: BufferEvent, what: int, doing: str) -> BaseException:
    """The exception for the event flags ``what`` (an error, a timeout, EOF or free)."""
    if what & _TIMEOUT:
        side = "reading" if what & _READING else "writing" if what & _WRITING else doing
        return TimeoutError(f"bufferevent timed out while {side}")
    if what & _ERROR:
        ssl_error = getattr(bev, "ssl_error", None)
        if isinstance(ssl_error, BaseException):
            return ssl_error
        if not what & (_READING | _WRITING):
            dns_error = getattr(bev, "dns_error", 0)
            if dns_error:
                return socket.gaierror(dns_error, f"hostname lookup failed (EAI code {dns_error})")
        code = getattr(bev, "socket_error", 0)
        if isinstance(code, int) and code > 0:
            return OSError(code, os.strerror(code))  # ConnectionResetError, BrokenPipeError …
        return ConnectionResetError(f"bufferevent error while {doing}")
    if what & _FREED:
        return ConnectionResetError(f"the bufferevent was freed while {doing}")
    return ConnectionResetError(f"connection closed while {doing}")


def _ended(what: int) -> bool:
    """EOF (or free()): no more data will arrive."""
    return bool(what & (_EOF | _FREED))


# -- reading ---------------------------------------------------------------------------------


async def _wait_readable(w: _Waiters, loop: asyncio.AbstractEventLoop) -> None:
    """Wait for the read callback (more input) or a reading event."""
    fut: asyncio.Future[None] = loop.create_future()
    w.read_fut = fut
    try:
        await fut
    finally:
        w.read_fut = None


def _begin_read(bev: BufferEvent, helper: str) -> _Waiters:
    w = _attach(bev)
    if w.reading:
        raise RuntimeError(
            f"{helper}() called while another coroutine is already waiting to read "
            "from this bufferevent"
        )
    w.reading = True
    w.read_what = 0
    try:
        w.apply()
        if not bev.enabled & _EV_READ:
            bev.enable(_EV_READ)
            w.read_enabled_here = True
    except BaseException:
        _end_read(w)
        raise
    return w


def _end_read(w: _Waiters) -> None:
    w.reading = False
    w.read_fut = None
    bev = w.bev
    if w.read_enabled_here:
        w.read_enabled_here = False
        if not bev.freed and bev.enabled & _EV_READ:
            bev.disable(_EV_READ)
    w.release()


async def read(bev: BufferEvent, n: int = -1) -> bytes:
    """Up to ``n`` bytes of input (-1: all there is), waiting for at least one; b"" at EOF.

    Unlike ``asyncio.StreamReader.read(-1)`` it does not wait for EOF: it returns what
    has arrived. ``n == 0`` returns b"" at once.
    """
    loop = _running_loop(bev, "read")
    if n < -1:
        raise ValueError("n must be -1 or more")
    inp = bev.input
    if n == 0:
        return b""
    if len(inp):
        return inp.remove(len(inp) if n < 0 else n)
    w = _begin_read(bev, "read")
    try:
        while True:
            avail = len(inp)
            if avail:
                return inp.remove(avail if n < 0 else n)
            what = w.read_what
            if _ended(what) and not what & (_ERROR | _TIMEOUT):
                return b""
            if what:
                raise _error(bev, what, "reading")
            await _wait_readable(w, loop)
    finally:
        _end_read(w)


async def read_exactly(bev: BufferEvent, n: int) -> bytes:
    """Exactly ``n`` bytes; at EOF first ``asyncio.IncompleteReadError`` (with the bytes
    that did arrive as ``partial``, consumed, as asyncio's ``readexactly``).

    ``n`` may exceed the read high watermark: the bytes collected so far then wait
    aside, and go back to the front of the input if the wait is cancelled or fails.
    """
    loop = _running_loop(bev, "read_exactly")
    if n < 0:
        raise ValueError("read_exactly size can not be less than zero")
    inp = bev.input
    if len(inp) >= n:
        return inp.remove(n)
    w = _begin_read(bev, "read_exactly")
    aside = Evbuffer()
    try:
        while True:
            avail = len(inp)
            have = len(aside)
            if have + avail >= n:
                if not have:
                    return inp.remove(n)
                inp.remove_buffer(aside, n - have)
                return aside.remove(n)
            what = w.read_what
            if _ended(what) and not what & (_ERROR | _TIMEOUT):
                aside.add_buffer(inp)
                partial = aside.remove(len(aside))
                raise asyncio.IncompleteReadError(partial, n)
            if what:
                raise _error(bev, what, "reading")
            high = bev.getwatermark(_EV_READ)[1]
            if high and avail >= high:
                aside.add_buffer(inp)  # reading resumes below the high watermark
            await _wait_readable(w, loop)
    finally:
        if len(aside) and not bev.freed:
            inp.prepend_buffer(aside)  # cancelled or failed: the bytes go back, in order
        _end_read(w)


async def read_until(
    bev: BufferEvent, separator: bytes = b"\n", limit: int = DEFAULT_LIMIT
) -> bytes:
    """The input up to and including the first ``separator`` (asyncio's ``readuntil``).

    At EOF without a separator: ``asyncio.IncompleteReadError`` with what remained
    (consumed). ``asyncio.LimitOverrunError`` when the separator is not within the
    first ``limit`` bytes, or the input reached the read high watermark without it;
    the data then stays in the input (``consumed`` says how much to drop to go on).
    """
    loop = _running_loop(bev, "read_until")
    sep = bytes(separator)
    seplen = len(sep)
    if seplen == 0:
        raise ValueError("Separator should be at least one-byte string")
    inp = bev.input
    found = inp.search(sep)
    if found.pos >= 0 and found.pos <= limit:
        return inp.remove(found.pos + seplen)
    w: _Waiters | None = None
    try:
        offset = 0
        while True:
            if found.pos >= 0:
                if found.pos > limit:
                    raise asyncio.LimitOverrunError(
                        "Separator is found, but chunk is longer than limit", found.pos
                    )
                return inp.remove(found.pos + seplen)
            avail = len(inp)
            offset = max(0, avail + 1 - seplen)
            if offset > limit:
                raise asyncio.LimitOverrunError(
                    "Separator is not found, and chunk exceed the limit", offset
                )
            if w is None:
                w = _begin_read(bev, "read_until")
            what = w.read_what
            if _ended(what) and not what & (_ERROR | _TIMEOUT):
                raise asyncio.IncompleteReadError(inp.remove(avail), None)
            if what:
                raise _error(bev, what, "reading")
            high = bev.getwatermark(_EV_READ)[1]
            if high and avail >= high:
                raise asyncio.LimitOverrunError(
                    "Separator is not found, and the input reached the read high watermark",
                    offset,
                )
            await _wait_readable(w, loop)
            found = inp.search(sep, inp.ptr(offset)) if offset <= len(inp) else inp.search(sep)
    finally:
        if w is not None:
            _end_read(w)


# -- writing ---------------------------------------------------------------------------------


async def drain(bev: BufferEvent) -> None:
    """Wait until the output holds no more than the write low watermark (0: is empty).

    ``ConnectionError`` (the socket's ``OSError``: ``BrokenPipeError`` …) after an
    error on the write side, ``ConnectionResetError`` after EOF there or ``free()``,
    ``TimeoutError`` after a write timeout. Enables ``EV_WRITE`` if it was off (a
    write error or timeout turns it off): it is left on.
    """
    loop = _running_loop(bev, "drain")
    out = bev.output
    if len(out) <= bev.getwatermark(_EV_WRITE)[0]:
        return
    w = _attach(bev)
    if not w.n_draining:
        w.write_what = 0
    w.n_draining += 1
    try:
        w.apply()
        if not bev.enabled & _EV_WRITE:
            bev.enable(_EV_WRITE)  # and it stays on, as on a new bufferevent
        while True:
            what = w.write_what
            if what:
                raise _error(bev, what, "writing")
            if len(out) <= bev.getwatermark(_EV_WRITE)[0]:
                return
            fut: asyncio.Future[None] = loop.create_future()
            w.drainers.append(fut)
            try:
                await fut
            finally:
                w.drainers.remove(fut)
    finally:
        w.n_draining -= 1
        w.release()


# -- connecting ------------------------------------------------------------------------------


def _connecting(bev: BufferEvent) -> bool:
    """Is ``bev`` still connecting (or looking up, or in its TLS handshake)?

    False for a connected one; an OSError for a socket whose connect failed already.
    """
    if isinstance(bev, SslBufferEvent) and bev._state in _SSL_HANDSHAKING:
        return True
    if isinstance(bev, SocketBufferEvent):
        if bev._connecting or bev._resolved is not None:
            return True
        sock = bev.socket
        if sock is None:
            raise RuntimeError("wait_connected(): the bufferevent has no socket; connect() first")
        try:
            sock.getpeername()
        except OSError as exc:
            if bev.dns_error:
                raise _error(bev, _ERROR, "connecting") from None
            code = bev.socket_error
            if code:
                raise OSError(code, os.strerror(code)) from None
            raise exc
        return False
    under = bev.get_underlying()
    return under is not None and _connecting(under)


async def wait_connected(bev: BufferEvent) -> None:
    """Wait for ``BEV_EVENT_CONNECTED`` of a connecting bufferevent (``connect``,
    ``connect_hostname``, a TLS handshake); return at once if it is connected.

    A failure raises its ``OSError`` (``ConnectionRefusedError`` …), a failed lookup
    ``socket.gaierror``, a TLS failure its ``ssl.SSLError``, a timeout ``TimeoutError``.
    """
    loop = _running_loop(bev, "wait_connected")
    if not _connecting(bev):
        return
    w = _attach(bev)
    if not w.n_connecting:
        w.connect_what = 0
        w.connected = False
    w.n_connecting += 1
    try:
        while True:
            if w.connected:
                return
            what = w.connect_what
            if what:
                raise _error(bev, what, "connecting")
            fut: asyncio.Future[None] = loop.create_future()
            w.connectors.append(fut)
            try:
                await fut
            finally:
                w.connectors.remove(fut)
    finally:
        w.n_connecting -= 1
        w.release()
