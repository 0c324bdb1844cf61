"""TLS bufferevents (libevent's ``bufferevent_openssl.c``) on the stdlib's ``ssl.MemoryBIO``.

An ``SslBufferEvent`` is a BufferEvent whose input and output hold
*plaintext*; the ciphertext travels through an *underlying* BufferEvent:

* ``ssl_filter(base, underlying, ctx, state)`` layers TLS on a bufferevent the
  caller made (``bufferevent_openssl_filter_new``);
* ``ssl_socket(base, sock, ctx, state)`` makes a socket bufferevent for the
  socket and owns it (``bufferevent_openssl_socket_new``).

Both are the same machine, sans-IO in the middle (asyncio's ``sslproto`` shape):
an ``ssl.SSLObject`` over two ``MemoryBIO``\\s. Ciphertext the underlying
bufferevent reads is moved into the incoming BIO; what OpenSSL writes to the
outgoing BIO is appended to the underlying output, which the socket
bufferevent flushes as usual. Plaintext:

* **reading** decrypts into ``input`` while EV_READ is enabled and not
  suspended, never past the read high watermark (``SSLObject.read`` takes a
  byte count, so levent does not even overrun by the one TLS record libevent
  allows itself). While reading is held off the underlying bufferevent is
  suspended too (``SUSPEND_FILT_READ``), so at most one socket read of
  ciphertext waits in the incoming BIO: memory stays bounded.
* **writing** encrypts ``output`` from a deferred callback (so writes made in
  one callback pass become few, large records), while the underlying output
  holds less than its write high watermark, or 256 KiB when it has none. By
  default each Evbuffer chunk becomes its own ``SSL_write``, as in libevent;
  ``BUFFEREVENT_SSL_BATCH_WRITE`` joins chunks. The write callback runs once
  the plaintext is encrypted *and* the ciphertext has left the underlying
  output (for a socket: reached the kernel), so "free in the write callback"
  does not cut the last records off.

The connection's state machine (libevent's ``bufferevent_ssl_state`` plus an
end state):

=============  ==============================  ===============================
state          on ciphertext / underlying EOF   leaves for
=============  ==============================  ===============================
CONNECTING /   ``do_handshake()``               OPEN: ``BEV_EVENT_CONNECTED``;
ACCEPTING                                       CLOSED: ``READING|ERROR``
OPEN           ``read()`` into ``input``        CLOSED: see below
CLOSED         ignored                          — (free it)
=============  ==============================  ===============================

How a connection ends (the event callback's ``what``):

* the peer's close_notify → ``READING|EOF``;
* TCP EOF without close_notify (a possible truncation attack) →
  ``READING|ERROR``, or ``READING|EOF`` with ``BUFFEREVENT_SSL_DIRTY_SHUTDOWN``
  / ``allow_dirty_shutdown``;
* a TLS failure (bad certificate, protocol error, alert) → ``READING|ERROR``
  (``WRITING|ERROR`` if it came from a write), the ``ssl.SSLError`` in
  ``ssl_error``, its OpenSSL error code from ``get_openssl_error()``;
* an error or timeout of the underlying bufferevent is passed on unchanged.

``BEV_OPT_CLOSE_ON_FREE`` closes the socket (frees the underlying bufferevent)
*without* close_notify, as libevent does. levent adds ``shutdown()``: send
close_notify after the pending output, then free from the write callback.
Renegotiation does not exist in Python's ``ssl`` (nor in TLS 1.3):
``renegotiate()`` raises ``UnsupportedOperation``.

Timeouts are libevent's generic ones (``GenericTimeoutBufferEvent``): the read
timer runs while the handshake runs or the user reads plaintext, the write
timer while plaintext waits to be encrypted; progress restarts them.

With ``BEV_OPT_THREADSAFE`` the TLS bufferevent and the one carrying its
ciphertext share one lock: an ``ssl_filter`` uses its underlying bufferevent's
lock if it has one, and otherwise gives its own to it (libevent's
``bufferevent_enable_locking_``); an ``ssl_socket``'s socket bufferevent gets
the TLS one's. The underlying bufferevent's callbacks and the TLS machine's
deferred callbacks take it.
"""

from __future__ import annotations

import enum
import ssl
from typing import Any, Final

from ..base import EventBase
from ..buffer import Evbuffer
from ..constants import EV
from ..errors import BaseMismatchError, EventStateError, UnsupportedOperation
from ..event import Deferred
from .constants import BEV_EVENT, BEV_OPT
from .core import SUSPEND_FILT_READ, BufferEvent, GenericTimeoutBufferEvent
from .sock import SocketBufferEvent

__all__ = [
    "BUFFEREVENT_SSL_ACCEPTING",
    "BUFFEREVENT_SSL_BATCH_WRITE",
    "BUFFEREVENT_SSL_CONNECTING",
    "BUFFEREVENT_SSL_DIRTY_SHUTDOWN",
    "BUFFEREVENT_SSL_FLAG",
    "BUFFEREVENT_SSL_OPEN",
    "BUFFEREVENT_SSL_STATE",
    "SslBufferEvent",
    "ssl_filter",
    "ssl_socket",
]


class BUFFEREVENT_SSL_STATE(enum.IntEnum):
    """Where the TLS session starts (``enum bufferevent_ssl_state``)."""

    OPEN = 0
    CONNECTING = 1
    ACCEPTING = 2


BUFFEREVENT_SSL_OPEN = BUFFEREVENT_SSL_STATE.OPEN
BUFFEREVENT_SSL_CONNECTING = BUFFEREVENT_SSL_STATE.CONNECTING
BUFFEREVENT_SSL_ACCEPTING = BUFFEREVENT_SSL_STATE.ACCEPTING


class BUFFEREVENT_SSL_FLAG(enum.IntFlag):
    """``bufferevent_ssl_set_flags`` bits."""

    DIRTY_SHUTDOWN = 1  # a TCP close without close_notify is EOF, not ERROR
    BATCH_WRITE = 2  # encrypt across Evbuffer chunk boundaries (fewer, larger records)


BUFFEREVENT_SSL_DIRTY_SHUTDOWN = BUFFEREVENT_SSL_FLAG.DIRTY_SHUTDOWN
BUFFEREVENT_SSL_BATCH_WRITE = BUFFEREVENT_SSL_FLAG.BATCH_WRITE

_READ: Final = int(EV.READ)
_WRITE: Final = int(EV.WRITE)
_READING: Final = int(BEV_EVENT.READING)
_WRITING: Final = int(BEV_EVENT.WRITING)
_EOF: Final = int(BEV_EVENT.EOF)
_ERROR: Final = int(BEV_EVENT.ERROR)
_CONNECTED: Final = int(BEV_EVENT.CONNECTED)
_CLOSE_ON_FREE: Final = int(BEV_OPT.CLOSE_ON_FREE)
_DIRTY: Final = 1
_BATCH: Final = 2
_ALL_FLAGS: Final = 3

# The connection states; _CLOSED is levent's end state (the session is over).
_OPEN: Final = 0
_CONNECTING: Final = 1
_ACCEPTING: Final = 2
_CLOSED: Final = 3

#: Ciphertext allowed to wait in the underlying output when it has no write
#: high watermark: enough to keep a socket busy, small enough to bound memory.
_CIPHERTEXT_CAP: Final = 256 * 1024
#: The largest TLS record plaintext; one ``SSLObject.read`` never returns more.
_RECORD: Final = 16384


class SslBufferEvent(GenericTimeoutBufferEvent):
    """A TLS BufferEvent (``bufferevent_openssl_*_new``); see ``ssl_socket`` / ``ssl_filter``."""

    __slots__ = (
        "_clean_eof",
        "_close_notify_sent",
        "_errors",
        "_flags",
        "_incoming",
        "_is_filter",
        "_outgoing",
        "_pump_deferred",
        "_shutdown_wanted",
        "_sock_bev",
        "_sslobj",
        "_state",
        "_tcp_eof",
        "_underlying",
        "_underlying_held",
        "_write_deferred",
        "_writecb_owed",
        "ssl_error",
    )

    def __init__(
        self,
        base: EventBase,
        underlying: BufferEvent | None,
        sock: object,
        ssl_context: ssl.SSLContext,
        state: int,
        options: int = 0,
        server_hostname: str | None = None,
    ) -> None:
        """Use ``ssl_socket`` (``underlying`` None) or ``ssl_filter`` rather than this."""
        sslobj, incoming, outgoing = _wrap(ssl_context, state, server_hostname)
        if underlying is not None:
            if not isinstance(underlying, BufferEvent):
                raise TypeError(
                    f"underlying must be a BufferEvent, not {type(underlying).__name__}"
                )
            if underlying.freed:
                raise EventStateError("the underlying bufferevent has been freed")
            if underlying.base is not base:
                raise BaseMismatchError("the underlying bufferevent belongs to another EventBase")
        # THREADSAFE: share the underlying bufferevent's lock (or make one for both).
        super().__init__(base, options, underlying._lock if underlying is not None else None)
        self._sslobj = sslobj
        self._incoming = incoming
        self._outgoing = outgoing
        self._state = int(state)
        self._flags = 0
        self._errors: list[int] = []
        #: The ``ssl.SSLError`` that ended the session (or the last one seen), else None.
        self.ssl_error: ssl.SSLError | None = None
        self._close_notify_sent = False
        self._shutdown_wanted = False
        self._clean_eof = False
        self._tcp_eof = False
        self._writecb_owed = False
        self._underlying_held = False
        self._sock_bev: SocketBufferEvent | None = None
        if underlying is None:
            # ssl_socket: our own socket bufferevent carries the ciphertext; it
            # closes the socket on free exactly when we were asked to.
            sb = SocketBufferEvent(base, sock, self._options & _CLOSE_ON_FREE)
            self._sock_bev = sb
            self._underlying: BufferEvent = sb
            self._is_filter = False
        else:
            self._underlying = underlying
            self._is_filter = True
        self._pump_deferred = Deferred(base, self._pump)
        self._write_deferred = Deferred(base, self._consider_writing)
        u = self._underlying
        lk = self._lock
        if lk is None:
            self._start(u)
            return
        u._enable_locking(lk)
        lk.acquire()  # the underlying bufferevent's callbacks may run from now on
        try:
            self._start(u)
        finally:
            lk.release()

    def _start(self, u: BufferEvent) -> None:
        u.setcb(_underlying_readcb, _underlying_writecb, _underlying_eventcb, self)
        u.enable(_READ | _WRITE)
        # The client's first flight goes out now (or once the socket connects);
        # a server just starts waiting for the ClientHello.
        self._do_handshake()

    # -- the constructors ----------------------------------------------------------

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
        """TLS over a socket (``bufferevent_openssl_socket_new``).

        ``sock`` is a connected ``socket.socket``, an fd, or None (then
        ``connect``). ``state`` is ``BUFFEREVENT_SSL_CONNECTING`` (a client:
        ``server_hostname`` is required when the context checks hostnames) or
        ``BUFFEREVENT_SSL_ACCEPTING`` (a server).
        """
        return cls(base, None, sock, ssl_context, state, options, server_hostname)

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
        """TLS over another bufferevent (``bufferevent_openssl_filter_new``).

        Takes over ``underlying``'s callbacks. With ``BEV_OPT_CLOSE_ON_FREE``
        freeing this frees ``underlying``; without, it gets its callbacks
        cleared and its reading resumed.
        """
        if underlying is None:
            raise TypeError("ssl_filter needs an underlying BufferEvent")
        return cls(base, underlying, None, ssl_context, state, options, server_hostname)

    # -- TLS accessors ---------------------------------------------------------------

    def get_ssl(self) -> ssl.SSLObject:
        """The ``ssl.SSLObject`` (``bufferevent_openssl_get_ssl``): certificates, cipher, ALPN."""
        return self._sslobj

    def get_openssl_error(self) -> int:
        """Pop the most recent TLS error code, 0 if none (``bufferevent_get_openssl_error``).

        The code is OpenSSL's packed ``ERR_get_error()`` value where Python's
        ``ssl`` exposes library and reason (``0x0A000086`` is "certificate
        verify failed" on OpenSSL 3), else the ``SSL_ERROR_*`` number.
        """
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            errors = self._errors
            return errors.pop() if errors else 0
        finally:
            if lk is not None:
                lk.release()

    def get_flags(self) -> int:
        """``bufferevent_ssl_get_flags``."""
        return self._flags

    def set_flags(self, flags: int) -> int:
        """Set ``BUFFEREVENT_SSL_*`` flags; returns the old ones (``bufferevent_ssl_set_flags``)."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            old = self._flags
            self._flags = old | _check_flags(flags)
            return old
        finally:
            if lk is not None:
                lk.release()

    def clear_flags(self, flags: int) -> int:
        """Clear flags; returns the old ones (``bufferevent_ssl_clear_flags``)."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            old = self._flags
            self._flags = old & ~_check_flags(flags)
            return old
        finally:
            if lk is not None:
                lk.release()

    @property
    def allow_dirty_shutdown(self) -> bool:
        """Whether a TCP close without close_notify is EOF rather than ERROR."""
        return bool(self._flags & _DIRTY)

    @allow_dirty_shutdown.setter
    def allow_dirty_shutdown(self, value: bool) -> None:
        if value:
            self._flags |= _DIRTY
        else:
            self._flags &= ~_DIRTY

    def get_allow_dirty_shutdown(self) -> bool:
        """``bufferevent_openssl_get_allow_dirty_shutdown`` (deprecated in libevent)."""
        return self.allow_dirty_shutdown

    def set_allow_dirty_shutdown(self, value: bool) -> None:
        """``bufferevent_openssl_set_allow_dirty_shutdown`` (deprecated in libevent)."""
        self.allow_dirty_shutdown = value

    def renegotiate(self) -> None:
        """``bufferevent_ssl_renegotiate``: not available.

        Python's ``ssl`` module offers no renegotiation (and TLS 1.3 removed
        it), so this always raises ``UnsupportedOperation``.
        """
        raise UnsupportedOperation(
            "TLS renegotiation is not supported: Python's ssl module cannot renegotiate "
            "(and TLS 1.3 has no renegotiation); open a new connection instead"
        )

    @property
    def handshake_done(self) -> bool:
        """True once the handshake completed (CONNECTED was reported)."""
        return self._state == _OPEN or (self._state == _CLOSED and self._clean_eof)

    # -- the underlying transport ------------------------------------------------------

    def get_underlying(self) -> BufferEvent | None:
        """The wrapped bufferevent of an ``ssl_filter``; None for ``ssl_socket`` (as libevent)."""
        return self._underlying if self._is_filter else None

    def getfd(self) -> int:
        """The socket's fd (for a filter: the underlying one), or -1."""
        return self._underlying.getfd()

    def setfd(self, fd: object) -> None:
        """Give an ``ssl_socket`` its (connected) socket (``bufferevent_setfd``)."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            self._check_usable()
            sb = self._sock_bev
            if sb is None:
                raise EventStateError("an ssl_filter has no fd of its own; set the underlying one")
            sb.setfd(fd)
        finally:
            if lk is not None:
                lk.release()

    @property
    def socket_error(self) -> int:
        """errno of the last failed connect/read/write of the socket (``EVUTIL_SOCKET_ERROR``)."""
        u = self._underlying
        return u.socket_error if isinstance(u, SocketBufferEvent) else 0

    def connect(self, address: Any) -> None:
        """Connect an ``ssl_socket`` (``bufferevent_socket_connect``).

        ``CONNECTED`` is reported when the TLS handshake is done, not the TCP one.
        """
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            self._check_usable()
            self._socket_bev().connect(address)
        finally:
            if lk is not None:
                lk.release()

    def connect_hostname(self, dns_base: object, family: int, hostname: str, port: int) -> None:
        """``bufferevent_socket_connect_hostname`` for an ``ssl_socket``.

        The name checked in the certificate is the ``server_hostname`` given
        at creation, not ``hostname``.
        """
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            self._check_usable()
            self._socket_bev().connect_hostname(dns_base, family, hostname, port)
        finally:
            if lk is not None:
                lk.release()

    def _socket_bev(self) -> SocketBufferEvent:
        sb = self._sock_bev
        if sb is None:
            raise EventStateError("connect() is for ssl_socket; connect a filter's underlying bev")
        return sb

    # -- writing and closing -------------------------------------------------------------

    def write(self, data: Any) -> None:
        """Append plaintext to the output (``bufferevent_write``)."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            self._check_writable()
            super().write(data)
        finally:
            if lk is not None:
                lk.release()

    def write_buffer(self, buf: Evbuffer) -> None:
        """Move all of ``buf`` into the output (``bufferevent_write_buffer``)."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            self._check_writable()
            super().write_buffer(buf)
        finally:
            if lk is not None:
                lk.release()

    def _check_writable(self) -> None:
        if self._shutdown_wanted:
            raise EventStateError("shutdown() was called: nothing more can be written")

    def shutdown(self) -> None:
        """Send close_notify once the pending output is encrypted (levent; libevent has none).

        libevent users call ``SSL_shutdown`` themselves; this is the same,
        without losing queued output. Writing afterwards raises
        ``EventStateError``; the write callback runs when close_notify has
        left the underlying output (free the bufferevent there), and the
        peer's own close_notify, if it answers, arrives as ``READING|EOF``.
        ``flush(EV_WRITE, BEV_FINISHED)`` does the same.
        """
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            self._check_usable()
            state = self._state
            if state != _OPEN and not (state == _CLOSED and self._clean_eof):
                raise EventStateError("shutdown() needs a TLS session whose handshake is done")
            self._shutdown_wanted = True
            if state == _CLOSED:
                self._send_close_notify()
            else:
                self._consider_writing()
        finally:
            if lk is not None:
                lk.release()

    def _send_close_notify(self) -> None:
        if self._close_notify_sent:
            return
        self._close_notify_sent = True
        try:
            self._sslobj.unwrap()
        except ssl.SSLWantReadError:
            pass  # ours is out; the peer's close_notify has not come (yet)
        except ssl.SSLError as exc:
            self._record(exc)
        self._flush_bio()
        self._writecb_owed = True

    def _flush(self, iotype: int, mode: int) -> int:
        if not iotype & _WRITE or mode == 0 or self._state != _OPEN:
            return 0
        before = len(self._output)
        self._consider_writing()
        moved = len(self._output) < before
        if mode == 2 and not self._shutdown_wanted:  # BEV_FINISHED: close_notify
            self.shutdown()
            moved = True
        return 1 if moved else 0

    # -- the handshake -------------------------------------------------------------

    def _do_handshake(self) -> None:
        try:
            self._sslobj.do_handshake()
        except ssl.SSLWantReadError:
            self._flush_bio()
            return
        except ssl.SSLError as exc:
            self._flush_bio()  # the alert that tells the peer why
            self._conn_closed(_READING, exc)
            return
        self._state = _OPEN
        self._flush_bio()
        self._sync_underlying_read()
        self._adj_read_timeout()
        self._adj_write_timeout()
        self._run_eventcb(_CONNECTED, 0)
        if self._freed or self._state != _OPEN:
            return
        # Application data may have come with the last handshake flight, and
        # output may have been queued before the session was up.
        self._consider_reading()
        if self._state == _OPEN and not self._freed:
            self._consider_writing()

    # -- ciphertext in: the underlying bufferevent's callbacks --------------------------

    def _pump(self) -> None:
        """Move the underlying input into the incoming BIO, then handshake or decrypt."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            if self._freed:
                return
            state = self._state
            if state == _CLOSED:
                return
            uin = self._underlying._input
            n = len(uin)
            if n:
                view = uin.pullup(-1)
                if view is not None and not self._tcp_eof:  # nothing can follow an EOF
                    self._incoming.write(view)
                uin.drain(n)
            if state == _OPEN:
                self._consider_reading()
            else:
                self._do_handshake()
        finally:
            if lk is not None:
                lk.release()

    def _on_underlying_event(self, what: int) -> None:
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            if self._freed or self._state == _CLOSED:
                return
            if what & _EOF:
                # The peer closed TCP. Whether that was clean depends on the
                # close_notify, which may still sit in the BIO behind data the
                # user has not read: let the SSL object decide when it gets there.
                self._pump()  # what came before the EOF, if it is still in the input
                if self._freed or self._state == _CLOSED:
                    return
                self._tcp_eof = True
                self._incoming.write_eof()
                self._pump()
            elif what & _CONNECTED:
                pass  # the socket connected; our CONNECTED is the handshake's
            elif what & _ERROR:
                self._close_quietly()
                self._run_eventcb(what, 0)
            elif what:
                self._run_eventcb(what, 0)  # a timeout of the underlying bufferevent
        finally:
            if lk is not None:
                lk.release()

    def _on_underlying_drained(self) -> None:
        """The underlying output went down to its low watermark: encrypt more, maybe run writecb."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            if self._freed:
                return
            if self._state == _OPEN:
                self._consider_writing()
            if (
                self._writecb_owed
                and len(self._underlying._output) <= self._underlying._wm_write_low
            ):
                self._writecb_owed = False
                self._run_writecb(0)
        finally:
            if lk is not None:
                lk.release()

    # -- plaintext: decrypting and encrypting -----------------------------------------------

    def _consider_reading(self) -> None:
        """Decrypt into the input while reading is on and the high watermark leaves room."""
        if self._freed or self._state != _OPEN:
            return
        if not self._enabled & _READ or self._read_suspended:
            return
        sslobj = self._sslobj
        inp = self._input
        high = self._wm_read_high
        rate = self._rate
        got = 0
        closed = False
        failure: ssl.SSLError | None = None
        while True:
            n = _RECORD
            if high:
                room = high - len(inp)
                if room <= 0:
                    break
                if room < n:
                    n = room
            if rate is not None:
                allowed = rate.max_to_read(self) - got
                if allowed <= 0:
                    break  # the limiter holds reading off until its bucket refills
                if allowed < n:
                    n = allowed
            try:
                data = sslobj.read(n)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                closed = True
                break
            except ssl.SSLError as exc:
                closed = True
                failure = exc
                break
            if not data:  # close_notify
                closed = True
                break
            inp.add(data)
            got += len(data)
            if self._read_suspended or not self._enabled & _READ:
                break  # the high watermark (an input callback) held reading off
        if self._outgoing.pending:
            self._flush_bio()  # e.g. an answer to a key update
        if got:
            if rate is not None:
                rate.consumed_read(self, got)
            self._adj_read_timeout()
            if len(inp) >= self._wm_read_low:
                self._run_readcb(0)
        if closed and not self._freed and self._state == _OPEN:
            self._conn_closed(_READING, failure)

    def _consider_writing(self) -> None:
        """Encrypt the output while the underlying output has room; then close_notify if asked."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            if (
                self._freed
                or self._state != _OPEN
                or not self._enabled & _WRITE
                or self._write_suspended
                or self._close_notify_sent
            ):
                return
            out = self._output
            u = self._underlying
            target = u._output
            outgoing = self._outgoing
            cap = u._wm_write_high or _CIPHERTEXT_CAP
            batch = self._flags & _BATCH
            rate = self._rate
            sslobj = self._sslobj
            moved = 0
            while len(out) and len(target) + outgoing.pending < cap:
                n = len(out)
                if n > self._max_single_write:
                    n = self._max_single_write
                if not batch:
                    first = out.get_contiguous_space()
                    if first < n:
                        n = first
                if rate is not None:
                    allowed = rate.max_to_write(self) - moved
                    if allowed <= 0:
                        break  # the limiter holds writing off until its bucket refills
                    if allowed < n:
                        n = allowed
                view = out.pullup(n)
                if view is None:
                    break
                try:
                    written = sslobj.write(view)
                except ssl.SSLWantReadError:
                    break
                except ssl.SSLError as exc:
                    self._flush_bio()
                    self._conn_closed(_WRITING, exc)
                    return
                view.release()
                if written <= 0:
                    break
                out.drain(written)
                moved += written
            if moved:
                self._flush_bio()
                if rate is not None:
                    rate.consumed_written(self, moved)
                if len(out) <= self._wm_write_low:
                    self._writecb_owed = True
                self._adj_write_timeout()
            if self._shutdown_wanted and not len(out):
                self._send_close_notify()
        finally:
            if lk is not None:
                lk.release()

    def _flush_bio(self) -> None:
        """Hand what OpenSSL wrote (records, alerts) to the underlying bufferevent."""
        outgoing = self._outgoing
        if not outgoing.pending:
            return
        data = outgoing.read()
        u = self._underlying
        if not u.freed:
            u.write(data)

    # -- the end of a session ---------------------------------------------------------

    def _conn_closed(self, when: int, exc: ssl.SSLError | None) -> None:
        """libevent's ``conn_closed``: pick EOF or ERROR, stop, tell the user."""
        clean = exc is None or isinstance(exc, ssl.SSLZeroReturnError)
        if clean:
            what = when | _EOF
        else:
            assert exc is not None
            self._record(exc)
            dirty = isinstance(exc, ssl.SSLEOFError)
            what = when | (_EOF if dirty and self._flags & _DIRTY else _ERROR)
        self._clean_eof = clean
        self._close_quietly()
        sb = self._sock_bev
        if sb is not None and not clean:
            # Put the alert on the wire now, in case the user frees us from
            # the event callback (which would drop the underlying output).
            sb._flush_output()
        self._run_eventcb(what, 0)

    def _close_quietly(self) -> None:
        self._state = _CLOSED
        self._pump_deferred.cancel()
        self._write_deferred.cancel()
        self._sync_underlying_read()
        self._del_read_timeout()
        self._del_write_timeout()

    def _record(self, exc: ssl.SSLError) -> None:
        self.ssl_error = exc
        self._errors.append(_error_code(exc))

    # -- the kind's I/O hooks --------------------------------------------------------------

    def _sync_underlying_read(self) -> None:
        """Read ciphertext only while the handshake runs or the user reads plaintext."""
        want = self._wants_ciphertext()
        u = self._underlying
        if want and self._underlying_held:
            self._underlying_held = False
            u.unsuspend_read(SUSPEND_FILT_READ)
        elif not want and not self._underlying_held and not u.freed:
            self._underlying_held = True
            u.suspend_read(SUSPEND_FILT_READ)

    def _wants_ciphertext(self) -> bool:
        """The handshake runs, or the user reads plaintext (enabled, not suspended)."""
        if self._freed:
            return False
        state = self._state
        if state == _OPEN:
            return self._enabled & _READ != 0 and not self._read_suspended
        return state != _CLOSED

    def _start_reading(self) -> None:
        self._sync_underlying_read()
        self._adj_read_timeout()
        if self._state == _OPEN:
            # Plaintext or ciphertext may be waiting from before the pause, and
            # no new socket data need come: process it from the loop.
            self._pump_deferred.schedule()

    def _stop_reading(self) -> None:
        self._sync_underlying_read()
        self._adj_read_timeout()
        if self._freed:
            self._pump_deferred.cancel()

    def _start_writing(self) -> None:
        self._adj_write_timeout()
        if self._state == _OPEN and len(self._output):
            self._write_deferred.schedule()

    def _stop_writing(self) -> None:
        self._write_deferred.cancel()
        self._adj_write_timeout()

    def _output_added(self) -> None:
        if not self._write_timeout_pending():
            self._adj_write_timeout()
        if self._state == _OPEN:
            self._write_deferred.schedule()

    def priority_set(self, priority: int) -> None:
        """``bufferevent_priority_set``: also for the internal callbacks and socket."""
        lk = self._lock
        if lk is not None:
            lk.acquire()
        try:
            super().priority_set(priority)
            self._pump_deferred.set_priority(priority)
            self._write_deferred.set_priority(priority)
            sb = self._sock_bev
            if sb is not None:
                sb.priority_set(priority)
        finally:
            if lk is not None:
                lk.release()

    # -- timeouts (libevent's generic ones: timers restarted on progress) ----------------------

    def _read_timeout_wanted(self) -> bool:
        return self._wants_ciphertext()

    def _write_timeout_wanted(self) -> bool:
        return self._state != _CLOSED and super()._write_timeout_wanted()

    def _read_timed_out(self) -> None:
        # Not _stop_reading: during the handshake that would restart the timer.
        self._enabled &= ~_READ
        self._sync_underlying_read()

    def _write_timed_out(self) -> None:
        self._enabled &= ~_WRITE
        self._write_deferred.cancel()

    # -- teardown ----------------------------------------------------------------------

    def _destruct(self) -> None:
        self._state = _CLOSED
        self._pump_deferred.cancel()
        self._write_deferred.cancel()
        super()._destruct()
        u = self._underlying
        if u.freed:
            return
        if not self._is_filter or self._options & _CLOSE_ON_FREE:
            # Our socket bufferevent (it closes the fd only with CLOSE_ON_FREE),
            # or a filter's underlying one we were told to take down. No
            # close_notify: that is what shutdown() is for.
            u.setcb(None, None, None, None)
            u.free()
            return
        if u.getcb()[3] is self:
            u.setcb(None, None, None, None)
        if self._underlying_held:
            self._underlying_held = False
            u.unsuspend_read(SUSPEND_FILT_READ)

    def __repr__(self) -> str:
        names = ("OPEN", "CONNECTING", "ACCEPTING", "CLOSED")
        state = "freed" if self._freed else f"{names[self._state]} enabled={EV(self._enabled)!r}"
        kind = "filter" if self._is_filter else "socket"
        return (
            f"<SslBufferEvent {kind} fd={self.getfd()} {state} "
            f"input={len(self._input)} output={len(self._output)}>"
        )


# The underlying bufferevent's callbacks: plain functions with the TLS
# bufferevent as their argument (no bound method per connection).


def _underlying_readcb(bev: BufferEvent, tls: SslBufferEvent) -> None:
    tls._pump()


def _underlying_writecb(bev: BufferEvent, tls: SslBufferEvent) -> None:
    tls._on_underlying_drained()


def _underlying_eventcb(bev: BufferEvent, what: int, tls: SslBufferEvent) -> None:
    tls._on_underlying_event(int(what))


def ssl_socket(
    base: EventBase,
    sock: object,
    ssl_context: ssl.SSLContext,
    state: int,
    options: int = 0,
    server_hostname: str | None = None,
) -> SslBufferEvent:
    """``bufferevent_openssl_socket_new``; see ``SslBufferEvent.ssl_socket``."""
    return SslBufferEvent(base, None, sock, ssl_context, state, options, server_hostname)


def ssl_filter(
    base: EventBase,
    underlying: BufferEvent,
    ssl_context: ssl.SSLContext,
    state: int,
    options: int = 0,
    server_hostname: str | None = None,
) -> SslBufferEvent:
    """``bufferevent_openssl_filter_new``; see ``SslBufferEvent.ssl_filter``."""
    return SslBufferEvent.ssl_filter(base, underlying, ssl_context, state, options, server_hostname)


# -- helpers ---------------------------------------------------------------------------


def _wrap(
    ctx: object, state: object, server_hostname: str | None
) -> tuple[ssl.SSLObject, ssl.MemoryBIO, ssl.MemoryBIO]:
    """Check the TLS arguments and make the SSLObject over two fresh BIOs."""
    if not isinstance(ctx, ssl.SSLContext):
        raise TypeError(f"ssl_context must be an ssl.SSLContext, not {type(ctx).__name__}")
    if not isinstance(state, int) or isinstance(state, bool):
        raise TypeError("state must be a BUFFEREVENT_SSL_* value")
    if state == _OPEN:
        raise ValueError(
            "BUFFEREVENT_SSL_OPEN needs a TLS session that is already established, which "
            "Python's ssl cannot hand over; use BUFFEREVENT_SSL_CONNECTING or _ACCEPTING"
        )
    if state not in (_CONNECTING, _ACCEPTING):
        raise ValueError(f"unknown BUFFEREVENT_SSL state {state!r}")
    if server_hostname is not None and not isinstance(server_hostname, str):
        raise TypeError("server_hostname must be a str or None")
    server_side = state == _ACCEPTING
    if server_side and server_hostname is not None:
        raise ValueError("server_hostname is for clients (BUFFEREVENT_SSL_CONNECTING)")
    if not server_side and ctx.check_hostname and not server_hostname:
        raise ValueError(
            "this SSLContext checks hostnames: BUFFEREVENT_SSL_CONNECTING needs server_hostname"
        )
    incoming = ssl.MemoryBIO()
    outgoing = ssl.MemoryBIO()
    try:
        sslobj = ctx.wrap_bio(incoming, outgoing, server_side, server_hostname)
    except ssl.SSLError as exc:  # e.g. a PROTOCOL_TLS_SERVER context for a client
        raise ValueError(f"cannot use this SSLContext here: {exc}") from exc
    return sslobj, incoming, outgoing


def _check_flags(flags: object) -> int:
    if not isinstance(flags, int):
        raise TypeError("flags must be BUFFEREVENT_SSL_* bits")
    value = int(flags)
    if value < 0 or value & ~_ALL_FLAGS:
        raise ValueError(f"unknown BUFFEREVENT_SSL flags {value:#x}")
    return value


#: (library name, reason name) -> OpenSSL's packed error code, built on first use.
_error_codes: dict[tuple[str, str], int] = {}


def _error_code(exc: ssl.SSLError) -> int:
    """OpenSSL's ``ERR_get_error()`` value for ``exc`` where it can be rebuilt, else its errno."""
    library = getattr(exc, "library", None)
    reason = getattr(exc, "reason", None)
    if isinstance(library, str) and isinstance(reason, str):
        codes = _error_codes
        if not codes:
            _load_error_codes(codes)
        code = codes.get((library, reason), 0)
        if code:
            return code
    number = exc.errno
    return number if isinstance(number, int) and number > 0 else -1


def _load_error_codes(codes: dict[tuple[str, str], int]) -> None:
    import _ssl

    libs: object = getattr(_ssl, "lib_codes_to_names", None)
    reasons: object = getattr(_ssl, "err_codes_to_names", None)
    if not isinstance(libs, dict) or not isinstance(reasons, dict):
        codes[("", "")] = 0  # nothing to learn from; do not look again
        return
    openssl3 = ssl.OPENSSL_VERSION_INFO[0] >= 3
    for key, name in reasons.items():
        if not isinstance(key, tuple) or len(key) != 2 or not isinstance(name, str):
            continue
        lib, reason = key
        libname = libs.get(lib)
        if not isinstance(lib, int) or not isinstance(reason, int) or not isinstance(libname, str):
            continue
        # ERR_PACK: OpenSSL 3 keeps the library in the top 9 bits, 1.1 in the top 8.
        packed = (lib << 23) | (reason & 0x7FFFFF) if openssl3 else (lib << 24) | (reason & 0xFFF)
        codes[(libname, name)] = packed
    codes[("", "")] = 0
