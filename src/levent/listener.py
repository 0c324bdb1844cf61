"""Listener: libevent's ``evconnlistener`` — accept TCP (or UNIX) connections on an EventBase.

A Listener owns one listening socket and one persistent ``EV_READ`` event on
it. Each time the socket is readable it accepts a batch of connections and
hands each one, as a ``socket.socket`` the callback now owns, to
``cb(listener, sock, address, arg)``.

Accept errors follow libevent: EAGAIN, EINTR and ECONNABORTED end the batch
quietly; any other error is reported once per readiness through the error
callback (or logged). Where libevent would spin — the process is out of fds
(EMFILE/ENFILE) or the kernel out of memory, and the pending connection stays
in the backlog, readable forever — levent backs off: it stops watching the
socket for a short, growing delay and then tries again (DESIGN.md §6).
"""

from __future__ import annotations

import enum
import errno
import socket
import threading
from collections.abc import Callable
from typing import Any, Final

from . import util
from .base import EventBase
from .constants import EV
from .errors import EventStateError
from .event import Event
from .log import logger

__all__ = [
    "LEV_OPT",
    "LEV_OPT_BIND_IPV4_AND_IPV6",
    "LEV_OPT_BIND_IPV6ONLY",
    "LEV_OPT_CLOSE_ON_EXEC",
    "LEV_OPT_CLOSE_ON_FREE",
    "LEV_OPT_DEFERRED_ACCEPT",
    "LEV_OPT_DISABLED",
    "LEV_OPT_LEAVE_SOCKETS_BLOCKING",
    "LEV_OPT_REUSEABLE",
    "LEV_OPT_REUSEABLE_PORT",
    "LEV_OPT_THREADSAFE",
    "Listener",
    "ListenerCallback",
    "ListenerErrorCallback",
]


class LEV_OPT(enum.IntFlag):
    """Listener options (``LEV_OPT_*`` of ``event2/listener.h``)."""

    LEAVE_SOCKETS_BLOCKING = 1 << 0
    CLOSE_ON_FREE = 1 << 1
    CLOSE_ON_EXEC = 1 << 2
    REUSEABLE = 1 << 3
    THREADSAFE = 1 << 4
    DISABLED = 1 << 5
    DEFERRED_ACCEPT = 1 << 6
    REUSEABLE_PORT = 1 << 7
    BIND_IPV6ONLY = 1 << 8
    BIND_IPV4_AND_IPV6 = 1 << 9


LEV_OPT_LEAVE_SOCKETS_BLOCKING = LEV_OPT.LEAVE_SOCKETS_BLOCKING
LEV_OPT_CLOSE_ON_FREE = LEV_OPT.CLOSE_ON_FREE
LEV_OPT_CLOSE_ON_EXEC = LEV_OPT.CLOSE_ON_EXEC
LEV_OPT_REUSEABLE = LEV_OPT.REUSEABLE
LEV_OPT_THREADSAFE = LEV_OPT.THREADSAFE
LEV_OPT_DISABLED = LEV_OPT.DISABLED
LEV_OPT_DEFERRED_ACCEPT = LEV_OPT.DEFERRED_ACCEPT
LEV_OPT_REUSEABLE_PORT = LEV_OPT.REUSEABLE_PORT
LEV_OPT_BIND_IPV6ONLY = LEV_OPT.BIND_IPV6ONLY
LEV_OPT_BIND_IPV4_AND_IPV6 = LEV_OPT.BIND_IPV4_AND_IPV6

ListenerCallback = Callable[["Listener", socket.socket, Any, Any], object]
ListenerErrorCallback = Callable[["Listener", Any], object]

Address = tuple[str, int] | tuple[str, int, int, int] | str | bytes

_ALL_OPTIONS: Final = (1 << 10) - 1
_DEFAULT_BACKLOG: Final = 128  # libevent's choice for backlog < 0
#: Connections accepted per readiness: enough to drain a burst, bounded so that
#: a flood of connects cannot starve the loop's other events (the rest stay in
#: the backlog and the socket is still readable next iteration).
ACCEPT_BATCH: Final = 128
#: Back-off after EMFILE/ENFILE/ENOBUFS/ENOMEM: first delay, doubling to the cap.
BACKOFF_FIRST: Final = 0.05
BACKOFF_MAX: Final = 1.0

# Retry later, silently: nothing is wrong with the listener.
_RETRY_LATER: Final = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.ECONNABORTED, errno.EPROTO})
# Resource exhaustion: report, then stop watching the socket for a while.
_EXHAUSTED: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class Listener:
    """Accepts connections and passes each to a callback (``struct evconnlistener``).

    ``Listener(base, cb, arg, flags, backlog, address=(host, port))`` is
    ``evconnlistener_new_bind``: it creates, binds and listens (``backlog`` 0 is
    refused, negative means 128) and the socket is closed by ``free()``.
    ``Listener(base, cb, arg, flags, backlog, sock=s)`` is ``evconnlistener_new``
    on an existing bound socket (or fd): ``backlog`` > 0 calls ``listen(backlog)``,
    < 0 ``listen(128)``, 0 means it already listens; it is closed on ``free()``
    only with ``LEV_OPT_CLOSE_ON_FREE``.
    """

    __slots__ = (
        "_arg",
        "_backoff",
        "_backoff_timer",
        "_base",
        "_callback",
        "_close_on_free",
        "_enabled",
        "_error_callback",
        "_event",
        "_flags",
        "_freed",
        "_lock",
        "_sock",
        "error",
    )

    def __init__(
        self,
        base: EventBase,
        cb: ListenerCallback | None,
        arg: Any = None,
        flags: int = 0,
        backlog: int = -1,
        *,
        address: Address | None = None,
        sock: socket.socket | int | None = None,
    ) -> None:
        if not isinstance(base, EventBase):
            raise TypeError(f"base must be an EventBase, not {type(base).__name__}")
        if cb is not None and not callable(cb):
            raise TypeError("cb must be callable or None")
        flags = int(flags)
        if flags & ~_ALL_OPTIONS or flags < 0:
            raise ValueError(f"unknown listener options {flags:#x}")
        if not isinstance(backlog, int):
            raise TypeError("backlog must be an int")
        if (address is None) == (sock is None):
            raise TypeError("Listener needs exactly one of address= or sock=")
        self._freed = True  # until construction succeeds
        if address is not None:
            self._sock = _bind(address, flags, backlog)
            self._close_on_free = True
        else:
            assert sock is not None
            self._sock = _adopt(sock, backlog)
            self._close_on_free = bool(flags & LEV_OPT.CLOSE_ON_FREE)
        self._base = base
        self._callback = cb
        self._arg = arg
        self._error_callback: ListenerErrorCallback | None = None
        self._flags = flags
        self._lock = threading.RLock()
        self._enabled = False
        self._backoff = 0.0
        #: The last accept error reported to the error callback (``EVUTIL_SOCKET_ERROR``).
        self.error: OSError | None = None
        self._event = Event(base, self._sock, EV.READ | EV.PERSIST, self._on_readable)
        self._backoff_timer = Event(base, -1, 0, self._on_backoff_over)
        self._freed = False
        if not flags & LEV_OPT.DISABLED:
            self.enable()

    # -- accessors -----------------------------------------------------------------

    @property
    def fd(self) -> int:
        """The listening socket's fd (``evconnlistener_get_fd``)."""
        return self._sock.fileno()

    @property
    def socket(self) -> socket.socket:
        """The listening socket itself (for ``getsockname()`` and the like)."""
        return self._sock

    @property
    def base(self) -> EventBase:
        """The EventBase this listener runs on (``evconnlistener_get_base``)."""
        return self._base

    @property
    def enabled(self) -> bool:
        """True while the listener accepts (even during an EMFILE back-off)."""
        return self._enabled

    @property
    def flags(self) -> int:
        """The ``LEV_OPT_*`` options it was created with."""
        return self._flags

    # -- control -------------------------------------------------------------------

    def enable(self) -> None:
        """Start accepting (``evconnlistener_enable``)."""
        with self._lock:
            self._check_usable()
            self._enabled = True
            self._backoff = 0.0
            self._backoff_timer.delete()
            self._watch()

    def disable(self) -> None:
        """Stop accepting; pending connections wait in the backlog (``evconnlistener_disable``)."""
        with self._lock:
            self._check_usable()
            self._enabled = False
            self._event.delete()
            self._backoff_timer.delete()

    def set_cb(self, cb: ListenerCallback | None, arg: Any = None) -> None:
        """Replace the callback and its arg (``evconnlistener_set_cb``).

        A listener enabled while it had no callback starts accepting now.
        """
        if cb is not None and not callable(cb):
            raise TypeError("cb must be callable or None")
        with self._lock:
            self._check_usable()
            self._callback = cb
            self._arg = arg
            if cb is None:
                self._event.delete()
            elif self._enabled and not self._backoff_timer.pending(EV.TIMEOUT):
                self._watch()

    def set_error_cb(self, errorcb: ListenerErrorCallback | None) -> None:
        """Call ``errorcb(listener, arg)`` on accept errors (``evconnlistener_set_error_cb``).

        The error itself is ``listener.error`` (an ``OSError``).
        """
        if errorcb is not None and not callable(errorcb):
            raise TypeError("errorcb must be callable or None")
        self._error_callback = errorcb

    def free(self) -> None:
        """Stop accepting and release the listener (``evconnlistener_free``).

        Safe from inside its own callback. The socket is closed if the listener
        created it or was given ``LEV_OPT_CLOSE_ON_FREE``.
        """
        with self._lock:
            if self._freed:
                return
            self._freed = True
            self._enabled = False
            self._event.free()
            self._backoff_timer.free()
            if self._close_on_free:
                self._sock.close()

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.free()

    def __repr__(self) -> str:
        if self._freed:
            return "<Listener freed>"
        state = "enabled" if self._enabled else "disabled"
        try:
            where = self._sock.getsockname()
        except OSError:
            where = "?"
        return f"<Listener fd={self._sock.fileno()} {where!r} {state}>"

    # -- internals -----------------------------------------------------------------

    def _check_usable(self) -> None:
        if self._freed:
            raise EventStateError("the listener has been freed")

    def _watch(self) -> None:
        if self._callback is not None:
            self._event.add()

    def _on_readable(self, _fd: int, _what: int, _arg: object) -> None:
        """The accept loop: a bounded batch, stopping when the callback disables or frees us."""
        listening = self._sock
        blocking = bool(self._flags & LEV_OPT.LEAVE_SOCKETS_BLOCKING)
        for _ in range(ACCEPT_BATCH):
            callback = self._callback
            if callback is None or not self._enabled:
                return
            try:
                conn, address = listening.accept()
            except InterruptedError:
                continue
            except OSError as exc:
                self._accept_failed(exc)
                return
            self._backoff = 0.0
            if not blocking:
                conn.setblocking(False)
            callback(self, conn, address, self._arg)
            if self._freed:
                return

    def _accept_failed(self, exc: OSError) -> None:
        code = exc.errno
        if code in _RETRY_LATER:
            return
        self.error = exc
        if code in _EXHAUSTED:
            self._back_off()
        errorcb = self._error_callback
        if errorcb is not None:
            errorcb(self, self._arg)
        else:
            logger.error("Error from accept() call: %s", exc)

    def _back_off(self) -> None:
        # The pending connection stays queued, so a level-triggered watch would
        # report it again at once: unwatch, wait, then look again.
        delay = BACKOFF_FIRST if self._backoff == 0.0 else min(self._backoff * 2, BACKOFF_MAX)
        self._backoff = delay
        self._event.delete()
        self._backoff_timer.add(delay)

    def _on_backoff_over(self, _fd: int, _what: int, _arg: object) -> None:
        if self._enabled and not self._freed:
            self._watch()


def _bind(address: Address, flags: int, backlog: int) -> socket.socket:
    """``evconnlistener_new_bind``'s socket: created, configured, bound, listening."""
    if backlog == 0:
        raise ValueError("backlog 0 means 'already listening', which a new socket is not")
    family = util.sockaddr_family(address)
    if family == socket.AF_UNIX and flags & (LEV_OPT.REUSEABLE | LEV_OPT.REUSEABLE_PORT):
        raise ValueError("LEV_OPT_REUSEABLE(_PORT) does not apply to a UNIX socket")
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        if family != socket.AF_UNIX:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if flags & LEV_OPT.REUSEABLE:
            util.make_listen_socket_reuseable(sock)
        if flags & LEV_OPT.REUSEABLE_PORT:
            util.make_listen_socket_reuseable_port(sock)
        if flags & LEV_OPT.DEFERRED_ACCEPT:
            util.make_tcp_listen_socket_deferred(sock)
        if family == socket.AF_INET6:
            if flags & LEV_OPT.BIND_IPV6ONLY:
                util.make_listen_socket_ipv6only(sock)
            elif flags & LEV_OPT.BIND_IPV4_AND_IPV6:
                util.make_listen_socket_not_ipv6only(sock)
        sock.bind(address)
        sock.listen(backlog if backlog > 0 else _DEFAULT_BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def _adopt(sock: socket.socket | int, backlog: int) -> socket.socket:
    """``evconnlistener_new``'s socket: the caller's, made non-blocking, listening."""
    if isinstance(sock, socket.socket):
        owned = sock
    elif isinstance(sock, int):
        owned = socket.socket(fileno=sock)
    else:
        raise TypeError(f"sock must be a socket or an fd, not {type(sock).__name__}")
    if owned.fileno() < 0:
        raise ValueError("sock is closed")
    owned.setblocking(False)
    if backlog > 0:
        owned.listen(backlog)
    elif backlog < 0:
        owned.listen(_DEFAULT_BACKLOG)
    return owned
