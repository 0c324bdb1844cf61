"""HttpConnection: evhttp's client side (libevent's outgoing ``evhttp_connection``).

One HttpConnection talks to one server (host and port, or a Unix socket path)
over one bufferevent at a time. Requests queue on it in order and go out
strictly one after another: a request is written only once the previous
response has been read completely (no pipelining, as libevent). The
connection opens lazily with the first request, stays open between requests
when both sides allow it (HTTP/1.1 keep-alive), and is opened again for the
next queued request after ``Connection: close`` (from either side), after a
failure, or after the server closed it while idle ("close detection").

Two parts, as STYLE.md §3 asks:

* :class:`ResponseReader` is sans-IO: bytes of one response in (``feed``,
  ``eof``), parsed status, headers, body pieces and "complete" out, or a
  :class:`ResponseError` carrying the ``EVREQ_HTTP_*`` reason. Parsing is
  llhttp's (``httptools``); levent adds the size limits, 1xx skipping, HEAD
  and close-delimited bodies.
* :class:`HttpConnection` is the glue: the connection's state machine (the
  table below), the bufferevent callbacks, timers for connect timeouts and
  retries, and the user callbacks.

=============  ==============================================  =========================
state          what happens there                              leaves for
=============  ==============================================  =========================
DISCONNECTED   no transport; a queued request starts a connect CONNECTING
CONNECTING     DNS + TCP connect (+ TLS handshake) under the   IDLE (connected);
               connect timer, or waiting for a retry timer     DISCONNECTED (gave up)
IDLE           connected, nothing to do: any data, EOF, error  WRITING (a request);
               or read timeout means the server is gone, and   DISCONNECTED (closed)
               the transport is dropped quietly
WRITING        the head request goes out; input that arrives   READING (output drained);
               is kept, not parsed yet                         DISCONNECTED (failed)
READING        the response is parsed as it arrives            IDLE / DISCONNECTED
=============  ==============================================  =========================

Failures follow libevent: the failed request's ``error_cb(EVREQ_HTTP_*, arg)``
runs, then ``cb(None, arg)``; the connection is reset and the next queued
request gets a new connection. When connecting fails (after the retries set
with :meth:`HttpConnection.set_retries`) every queued request fails that way.

Quirks of libevent kept on purpose, so that C code translates unchanged:

* no ``Host`` header is added: set it in ``req.output_headers`` (HTTP/1.1
  servers answer 400 without one);
* ``Content-Length`` is added for POST and PUT even with an empty body, and
  for other methods when the body is not empty.

Where levent does differently (docs/libevent-mapping.md records these):

* A response with neither Content-Length nor chunked encoding is read until
  the server closes, whatever its ``Connection`` header says (RFC 9112 §6.3).
  libevent treats such a response as having an *empty* body when it carries a
  ``Connection`` header other than ``close`` (a quirk of its code), which loses
  data and leaves the rest of the body to be misread as the next response.
* An idempotent request without a body that fails before any byte of its
  response arrived, on a connection that already carried a response, is sent
  once more on a new connection (RFC 9112 §9.3.1): that is the race where the
  server closes an idle keep-alive connection just as the request goes out.
* Every failure, connect failures included, reaches ``error_cb`` and then
  ``cb(None)``.
* The response header section is capped by default (256 KiB, like the
  server's caps: STYLE.md §9); the body is not (a client asks for it, and can
  stream it with ``chunk_cb``). ``set_max_headers_size(-1)`` lifts the cap.
* A TLS bufferevent cannot restart its session, so a reconnect gets a fresh
  one made like the first (same SSLContext, server_hostname, options, flags):
  :attr:`HttpConnection.bufferevent` then returns the new one.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
from collections import deque
from collections.abc import Callable
from typing import Any, Final

import httptools

from ..base import EventBase
from ..bufferevent.constants import BEV_EVENT, BEV_OPT
from ..bufferevent.core import BufferEvent
from ..bufferevent.sock import SocketBufferEvent
from ..bufferevent.ssl import BUFFEREVENT_SSL_CONNECTING, SslBufferEvent
from ..constants import EV
from ..event import Deferred, Event
from .constants import EVHTTP_CON, EVHTTP_REQ, EVHTTP_REQUEST_KIND, EVREQ_HTTP, METHOD_NAMES
from .request import HttpError, HttpRequest

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_INITIAL_RETRY",
    "DEFAULT_MAX_HEADERS_SIZE",
    "DEFAULT_READ_TIMEOUT",
    "DEFAULT_WRITE_TIMEOUT",
    "CloseCallback",
    "HttpConnection",
    "ResponseError",
    "ResponseReader",
]

#: libevent's defaults (``evhttp_connection_base_new``), in seconds.
DEFAULT_CONNECT_TIMEOUT: Final = 45.0
DEFAULT_READ_TIMEOUT: Final = 50.0
DEFAULT_WRITE_TIMEOUT: Final = 50.0
DEFAULT_INITIAL_RETRY: Final = 2.0
#: The longest wait between two connect attempts (libevent caps the doubling too).
MAX_RETRY_DELAY: Final = 3600.0
#: Default cap on a response's status line and header section (-1: none).
DEFAULT_MAX_HEADERS_SIZE: Final = 256 * 1024

#: ``closecb(connection, arg)``.
CloseCallback = Callable[["HttpConnection", Any], None]

_READ: Final = int(EV.READ)
_WRITE: Final = int(EV.WRITE)
_RW: Final = _READ | _WRITE
_EOF: Final = int(BEV_EVENT.EOF)
_ERROR: Final = int(BEV_EVENT.ERROR)
_TIMEOUT: Final = int(BEV_EVENT.TIMEOUT)
_CONNECTED: Final = int(BEV_EVENT.CONNECTED)
_WRITING_EV: Final = int(BEV_EVENT.WRITING)

_POST: Final = int(EVHTTP_REQ.POST)
_HEAD: Final = int(EVHTTP_REQ.HEAD)
_CONNECT: Final = int(EVHTTP_REQ.CONNECT)
_PUT: Final = int(EVHTTP_REQ.PUT)
#: Methods that may be repeated safely (RFC 9110 §9.2.2) for the one automatic resend.
_IDEMPOTENT: Final = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
_KNOWN_FLAGS: Final = int(
    EVHTTP_CON.REUSE_CONNECTED_ADDR | EVHTTP_CON.READ_ON_WRITE_ERROR | EVHTTP_CON.LINGERING_CLOSE
)
_TOKEN_CHARS: Final = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
# Per header line on the wire: ": " and CRLF around the name and value.
_LINE_OVERHEAD: Final = 4

# The connection states (see the table in the module docstring).
_DISCONNECTED: Final = 0
_CONNECTING: Final = 1
_IDLE: Final = 2
_WRITING: Final = 3
_READING: Final = 4
_STATE_NAMES: Final = ("DISCONNECTED", "CONNECTING", "IDLE", "WRITING", "READING")


# -- the response, sans-IO -----------------------------------------------------------


class ResponseError(Exception):
    """The response cannot be used (the server's fault): ``error`` is the ``EVREQ_HTTP_*`` why."""

    def __init__(self, error: EVREQ_HTTP, message: str) -> None:
        super().__init__(message)
        self.error = error


class ResponseReader:
    """Incremental reader of one HTTP/1.x response (no I/O here).

    :meth:`feed` bytes as they arrive; after each call ``headers_done``,
    ``body`` (pieces not yet taken) and ``complete`` tell what is known.
    :meth:`eof` says whether the server closing now ends the response
    properly (a close-delimited body) or cuts it short. Interim 1xx responses
    (``100 Continue``) are skipped. ``headers`` keeps growing after
    ``headers_done`` only with a chunked body's trailer fields.

    Memory is bounded: the header section by ``max_headers_size`` (it is
    counted before llhttp has finished a line, so one endless line is caught
    too), the body by ``max_body_size``; -1 means no bound.
    """

    __slots__ = (
        "_chunked",
        "_connect_request",
        "_connection",
        "_content_length",
        "_fed_in_head",
        "_head_bytes",
        "_head_request",
        "_interim",
        "_max_body",
        "_max_headers",
        "_parser",
        "body",
        "body_size",
        "close_delimited",
        "complete",
        "extra",
        "headers",
        "headers_done",
        "keep_alive",
        "major",
        "minor",
        "reason",
        "started",
        "status",
    )

    def __init__(
        self,
        head_request: bool,
        max_headers_size: int,
        max_body_size: int,
        connect_request: bool = False,
    ) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._head_request = head_request
        # A 2xx answer to CONNECT has no body: a tunnel starts after it (RFC 9110 §9.3.6).
        self._connect_request = connect_request
        self._max_headers = max_headers_size
        self._max_body = max_body_size
        self._head_bytes = 0
        self._fed_in_head = 0
        self._interim = False
        self._content_length = -1
        self._chunked = False
        self._connection: list[str] = []
        self.status = 0
        self.reason = ""
        self.major = 1
        self.minor = 1
        self.headers: list[tuple[str, str]] = []
        #: Body pieces parsed and not yet taken by the connection.
        self.body: list[bytes] = []
        self.body_size = 0
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.close_delimited = False
        #: Bytes came after the response: the stream is out of step (close it).
        self.extra = False
        #: Some byte of a response arrived.
        self.started = False

    def feed(self, data: bytes | memoryview) -> None:
        """Parse ``data``; raise :class:`ResponseError` when the response is unusable."""
        if not len(data):
            return
        self.started = True
        if self.complete:
            self.extra = True
            return
        try:
            self._parser.feed_data(data)
        except ResponseError:
            raise
        except httptools.HttpParserUpgrade:
            # 101 Switching Protocols: the response ends with its head and the
            # connection now speaks something else.
            self._finish(keep_alive=False)
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            if isinstance(cause, ResponseError):
                raise cause from None
            if self.complete:
                self.extra = True  # garbage after a complete response: just close
                return
            message = str(exc) or "malformed response"
            raise ResponseError(EVREQ_HTTP.INVALID_HEADER, message) from None
        if not self.headers_done:
            # Everything fed so far belongs to the head: bound it now, before
            # llhttp has seen the end of a line.
            self._fed_in_head += len(data)
            self._check_head_size(self._fed_in_head)

    def eof(self) -> bool:
        """The server closed: True if that completes the response (it may already be)."""
        if self.complete:
            return True
        if self.headers_done and self.close_delimited:
            self._finish(keep_alive=False)
            return True
        return False

    def take_body(self) -> list[bytes]:
        """The body pieces parsed since the last call."""
        body = self.body
        if body:
            self.body = []
        return body

    # -- checks --------------------------------------------------------------------

    def _check_head_size(self, n: int) -> None:
        limit = self._max_headers
        if limit >= 0 and n > limit:
            raise ResponseError(
                EVREQ_HTTP.DATA_TOO_LONG, f"response header section over {limit} bytes"
            )

    def _finish(self, keep_alive: bool) -> None:
        self.complete = True
        self.keep_alive = keep_alive
        self.headers_done = True

    def _persistent(self) -> bool:
        # RFC 9112 §9.3: close if asked; else HTTP/1.1 persists, 1.0 only with keep-alive.
        tokens = {t.strip().lower() for value in self._connection for t in value.split(",")}
        if "close" in tokens:
            return False
        if (self.major, self.minor) >= (1, 1):
            return True
        return "keep-alive" in tokens

    # -- httptools callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:
            self.extra = True

    def on_status(self, status: bytes) -> None:
        if self.complete:
            return
        self.reason += status.decode("latin-1")
        self._head_bytes += len(status) + 15  # "HTTP/1.1 200 " and CRLF
        self._check_head_size(self._head_bytes)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.complete:
            return
        self._head_bytes += len(name) + len(value) + _LINE_OVERHEAD
        self._check_head_size(self._head_bytes)
        key = name.decode("latin-1")
        text = value.decode("latin-1")
        self.headers.append((key, text))
        if self.headers_done:
            return  # a trailer field: it carries no framing
        low = key.lower()
        if low == "content-length":
            with contextlib.suppress(ValueError):  # llhttp rejects a bad one
                self._content_length = int(text.strip())
        elif low == "transfer-encoding":
            self._chunked = "chunked" in text.lower()
        elif low == "connection":
            self._connection.append(text)

    def on_headers_complete(self) -> None:
        if self.complete:
            return
        parser = self._parser
        status = parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            # An interim response (100 Continue, 103 Early Hints): forget it and
            # read on; llhttp starts the next message by itself.
            self._interim = True
            self.headers = []
            self._connection = []
            self.reason = ""
            self._head_bytes = 0
            self._fed_in_head = 0
            self._content_length = -1
            self._chunked = False
            return
        self.status = status
        version = parser.get_http_version()
        major, _, minor = version.partition(".")
        self.major = int(major) if major.isdigit() else 1
        self.minor = int(minor) if minor.isdigit() else 0
        self.reason = self.reason.strip()
        self.headers_done = True
        limit = self._max_body
        if limit >= 0 and self._content_length > limit and not self._head_request:
            raise ResponseError(
                EVREQ_HTTP.DATA_TOO_LONG, f"Content-Length {self._content_length} over {limit}"
            )
        tunnel = self._connect_request and 200 <= status < 300
        if self._head_request or status in (204, 304) or tunnel:
            # llhttp cannot be told that a HEAD response has no body: the
            # response ends here, and anything the parser reads on is extra. A
            # tunnel stays open whatever the version says.
            self._finish(True if tunnel else self._persistent())
            return
        self.close_delimited = not self._chunked and self._content_length < 0

    def on_body(self, body: bytes) -> None:
        if self.complete:
            self.extra = True
            return
        self.body_size += len(body)
        limit = self._max_body
        if limit >= 0 and self.body_size > limit:
            raise ResponseError(EVREQ_HTTP.DATA_TOO_LONG, f"response body over {limit} bytes")
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        if self.complete:
            return
        self._finish(self._persistent() and not self.close_delimited)


# -- the connection -------------------------------------------------------------------


class HttpConnection:
    """A client connection to one HTTP server (``struct evhttp_connection``, outgoing).

    ``HttpConnection(base, dns_base, host, port)`` is
    ``evhttp_connection_base_new``; with ``bev=`` a bufferevent without an fd
    (``BufferEvent.socket(base, None, …)`` or, for HTTPS,
    ``BufferEvent.ssl_socket(base, None, ctx, BUFFEREVENT_SSL_CONNECTING, …,
    server_hostname=…)``) it is ``evhttp_connection_base_bufferevent_new``.
    Nothing connects until the first :meth:`make_request`.
    """

    __slots__ = (
        "_active",
        "_autofree",
        "_base",
        "_bev",
        "_bev_stale",
        "_body_len",
        "_closecb",
        "_closecb_arg",
        "_connect_ev",
        "_connect_timeout",
        "_connected_addr",
        "_dns_base",
        "_family",
        "_flags",
        "_freed",
        "_head_reported",
        "_headers_copied",
        "_host",
        "_initial_retry",
        "_local_address",
        "_local_port",
        "_lookup_pending",
        "_max_body_size",
        "_max_headers_size",
        "_numeric_family",
        "_own_sock",
        "_port",
        "_read_timeout",
        "_reader",
        "_reconnect",
        "_requests",
        "_resend",
        "_responses",
        "_retry_cnt",
        "_retry_ev",
        "_retry_max",
        "_state",
        "_tls",
        "_tunnelled",
        "_unix_path",
        "_write_timeout",
    )

    def __init__(
        self,
        base: EventBase,
        dns_base: object,
        host: str,
        port: int,
        *,
        bev: BufferEvent | None = None,
    ) -> None:
        """``evhttp_connection_base_new`` / ``evhttp_connection_base_bufferevent_new``.

        ``dns_base`` resolves ``host`` when it is a name (None: levent's
        default resolver, which never blocks the loop); a numeric ``host``
        (IPv6 with or without brackets) is used as is.
        """
        if not isinstance(host, str) or not host:
            raise TypeError("host must be a non-empty str")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port <= 65535:
            raise ValueError(f"port must be 1-65535, not {port!r}")
        self._setup(base, dns_base, host, port, bev)

    @classmethod
    def unix(cls, base: EventBase, bev: BufferEvent | None, path: str) -> HttpConnection:
        """A connection over a Unix-domain socket
        (``evhttp_connection_base_bufferevent_unix_new``)."""
        if not isinstance(path, str) or not path:
            raise TypeError("path must be a non-empty str")
        conn = cls.__new__(cls)
        conn._setup(base, None, path, 0, bev)
        conn._unix_path = path
        return conn

    @classmethod
    def reuse(cls, base: EventBase, dns_base: object, bev: BufferEvent) -> HttpConnection:
        """A connection over ``bev``, a socket bufferevent that is already connected
        (``evhttp_connection_base_bufferevent_reuse_new``): requests go out on it at
        once; after it closes, the connection reconnects to the same peer address.
        ``ValueError`` if ``bev`` has no connected socket."""
        if not isinstance(bev, BufferEvent):
            raise TypeError(f"bev must be a BufferEvent, not {type(bev).__name__}")
        sock = _socket_of(bev)
        if sock is None:
            raise ValueError("the bufferevent has no socket")
        try:
            peer = sock.getpeername()
        except OSError as exc:
            raise ValueError(f"the bufferevent's socket is not connected: {exc}") from None
        conn = cls.__new__(cls)
        if sock.family == socket.AF_UNIX:
            path = peer if isinstance(peer, str) and peer else "unix"
            conn._setup(base, None, path, 0, bev, connected=True)
            conn._unix_path = path
        else:
            conn._setup(base, dns_base, peer[0], peer[1], bev, connected=True)
        conn._connected_addr = peer
        conn._flags |= EVHTTP_CON.REUSE_CONNECTED_ADDR
        conn._state = _IDLE
        conn._apply_timeouts()
        bev.enable(_RW)
        return conn

    def _setup(
        self,
        base: EventBase,
        dns_base: object,
        host: str,
        port: int,
        bev: BufferEvent | None,
        connected: bool = False,
    ) -> None:
        if not isinstance(base, EventBase):
            raise TypeError(f"base must be an EventBase, not {type(base).__name__}")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        self._base = base
        self._dns_base = dns_base
        self._host = host
        self._port = port
        self._numeric_family = _numeric_family(host)
        self._unix_path: str | None = None
        if bev is None:
            bev = BufferEvent.socket(base, None, BEV_OPT.CLOSE_ON_FREE)
        else:
            _check_bev(bev, base, connected)
        self._bev: BufferEvent = bev
        self._bev_stale = False
        # What a fresh TLS bufferevent needs (see _fresh_bev), read from the given one.
        self._tls: tuple[ssl.SSLContext, str | None] | None = None
        if isinstance(bev, SslBufferEvent):
            sslobj = bev.get_ssl()
            self._tls = (sslobj.context, sslobj.server_hostname)
        bev.setcb(_readcb, _writecb, _eventcb, self)
        self._state = _DISCONNECTED
        self._requests: deque[HttpRequest] = deque()
        #: The request on the wire (WRITING / READING), else None.
        self._active: HttpRequest | None = None
        self._reader: ResponseReader | None = None
        self._headers_copied = 0
        self._head_reported = False
        self._responses = 0  # responses read on the current transport
        self._resend: HttpRequest | None = None  # the request already sent once more
        self._body_len = 0
        self._connect_timeout = DEFAULT_CONNECT_TIMEOUT
        self._read_timeout = DEFAULT_READ_TIMEOUT
        self._write_timeout = DEFAULT_WRITE_TIMEOUT
        self._retry_max = 0
        self._retry_cnt = 0
        self._initial_retry = DEFAULT_INITIAL_RETRY
        self._connect_ev: Event | None = None
        self._retry_ev: Event | None = None
        self._reconnect: Deferred | None = None
        self._flags = 0
        self._tunnelled = False
        self._family = int(socket.AF_UNSPEC)
        self._local_address: str | None = None
        self._local_port = 0
        self._own_sock: socket.socket | None = None
        self._connected_addr: Any = None
        self._lookup_pending = False
        self._closecb: CloseCallback | None = None
        self._closecb_arg: Any = None
        self._max_headers_size = DEFAULT_MAX_HEADERS_SIZE
        self._max_body_size = -1
        self._autofree = False
        self._freed = False

    # -- accessors -------------------------------------------------------------------

    @property
    def bufferevent(self) -> BufferEvent:
        """The bufferevent in use (``evhttp_connection_get_bufferevent``)."""
        return self._bev

    @property
    def base(self) -> EventBase:
        """The EventBase (``evhttp_connection_get_base``)."""
        return self._base

    def get_peer(self) -> tuple[str, int]:
        """The host (or Unix path, and 0) and port asked for (``evhttp_connection_get_peer``)."""
        if self._unix_path is not None:
            return self._unix_path, 0
        return self._host, self._port

    def get_addr(self) -> Any:
        """The socket address connected to, or None (``evhttp_connection_get_addr``)."""
        return self._connected_addr if self._state >= _IDLE else None

    @property
    def state(self) -> str:
        """The state's name: DISCONNECTED, CONNECTING, IDLE, WRITING or READING."""
        return _STATE_NAMES[self._state]

    @property
    def pending_requests(self) -> int:
        """How many requests are queued (the one in progress included)."""
        return len(self._requests)

    # -- settings ------------------------------------------------------------------------

    def set_family(self, family: int) -> None:
        """Address family for name lookups, ``AF_UNSPEC`` by default
        (``evhttp_connection_set_family``)."""
        if family not in (socket.AF_UNSPEC, socket.AF_INET, socket.AF_INET6):
            raise ValueError(f"family must be AF_UNSPEC, AF_INET or AF_INET6, not {family!r}")
        self._family = int(family)

    def set_flags(self, flags: int) -> None:
        """Set ``EVHTTP_CON_*`` flags (``evhttp_connection_set_flags``); ValueError for others.

        ``REUSE_CONNECTED_ADDR``: reconnect to the address the last connect
        reached, without a new lookup. ``READ_ON_WRITE_ERROR``: when writing
        the request fails, still read what the server answered (typically an
        error response sent before it closed). ``LINGERING_CLOSE`` is accepted
        and changes nothing on the client side.
        """
        if not isinstance(flags, int) or flags < 0 or flags & ~_KNOWN_FLAGS:
            raise ValueError(f"unknown EVHTTP_CON flags {flags!r}")
        # libevent replaces the public flags (so a flag can be cleared again).
        self._flags = int(flags)

    def set_local_address(self, address: str | None) -> None:
        """Bind to this numeric address before connecting
        (``evhttp_connection_set_local_address``)."""
        if address is not None and not _numeric_family(address):
            raise ValueError(f"{address!r} is not a numeric address")
        self._local_address = address

    def set_local_port(self, port: int) -> None:
        """Bind to this local port before connecting, 0 for any
        (``evhttp_connection_set_local_port``)."""
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be 0-65535, not {port!r}")
        self._local_port = port

    def set_timeout(self, secs: float | None) -> None:
        """Read and write timeout; None or -1: the 50 s defaults
        (``evhttp_connection_set_timeout``).

        The connect timeout is not changed.
        """
        if secs is None or secs == -1:
            self._read_timeout = DEFAULT_READ_TIMEOUT
            self._write_timeout = DEFAULT_WRITE_TIMEOUT
        else:
            self._read_timeout = self._write_timeout = _check_secs(secs)
        self._apply_timeouts()

    def set_connect_timeout(self, secs: float | None) -> None:
        """Time allowed to connect (lookup, TCP, TLS); None: 45 s
        (``evhttp_connection_set_connect_timeout_tv``)."""
        self._connect_timeout = DEFAULT_CONNECT_TIMEOUT if secs is None else _check_secs(secs)

    def set_read_timeout(self, secs: float | None) -> None:
        """Inactivity allowed while waiting for or reading a response (and while idle); None: 50 s
        (``evhttp_connection_set_read_timeout_tv``)."""
        self._read_timeout = DEFAULT_READ_TIMEOUT if secs is None else _check_secs(secs)
        self._apply_timeouts()

    def set_write_timeout(self, secs: float | None) -> None:
        """Time a blocked write may wait; None: 50 s
        (``evhttp_connection_set_write_timeout_tv``)."""
        self._write_timeout = DEFAULT_WRITE_TIMEOUT if secs is None else _check_secs(secs)
        self._apply_timeouts()

    def set_retries(self, retries: int) -> None:
        """Connect attempts after a failed one; -1 retries forever
        (``evhttp_connection_set_retries``)."""
        if not isinstance(retries, int) or retries < -1:
            raise ValueError(f"retries must be -1 or more, not {retries!r}")
        self._retry_max = retries

    def set_initial_retry_tv(self, secs: float) -> None:
        """Delay before the first retry, doubling for each next one
        (``evhttp_connection_set_initial_retry_tv``)."""
        self._initial_retry = _check_secs(secs)

    def set_closecb(self, cb: CloseCallback | None, arg: Any = None) -> None:
        """``cb(connection, arg)`` whenever an open connection closes
        (``evhttp_connection_set_closecb``)."""
        if cb is not None and not callable(cb):
            raise TypeError("closecb must be callable or None")
        self._closecb = cb
        self._closecb_arg = arg

    def set_max_headers_size(self, size: int) -> None:
        """Cap on a response's header section; negative: none (``..._set_max_headers_size``)."""
        self._max_headers_size = _check_size(size)

    def set_max_body_size(self, size: int) -> None:
        """Cap on a response body; negative: none, the default (``..._set_max_body_size``)."""
        self._max_body_size = _check_size(size)

    # -- requests --------------------------------------------------------------------

    def make_request(self, req: HttpRequest, method: int | str, uri: str) -> None:
        """Queue ``req`` as ``method uri`` (``evhttp_make_request``).

        ``method`` is an ``EVHTTP_REQ_*`` bit or a method name. The request
        goes out after those queued before it, on HTTP/``req.major``.``req.minor``
        (1.1 by default). Raises (instead of libevent's -1) when the request
        cannot be queued or the connect cannot even start; the request is then
        not queued and its callbacks will not run.
        """
        self._check_usable()
        if not isinstance(req, HttpRequest):
            raise TypeError(f"req must be an HttpRequest, not {type(req).__name__}")
        if req.kind != EVHTTP_REQUEST_KIND.RESPONSE:
            raise HttpError("only a request made with HttpRequest(cb, arg) can be sent")
        if req._owner is not None or req._done or req._freed:
            raise HttpError("the request was already made")
        name, command = _method(method)
        _check_target(uri)
        for key, value in req.output_headers:
            if not _latin1(key) or not _latin1(value):
                raise ValueError(f"header {key!r} cannot be sent: not Latin-1")
        req.method = name
        req.command = command
        req.uri = uri
        req._owner = self
        self._requests.append(req)
        state = self._state
        if state == _IDLE:
            self._dispatch()
        elif state == _DISCONNECTED:
            try:
                self._connect()
            except BaseException:
                self._requests.remove(req)
                req._owner = None
                raise

    def free(self) -> None:
        """Close and release the connection (``evhttp_connection_free``).

        Queued requests are dropped without their callbacks, as in libevent;
        the close callback runs if the connection was open. Safe in a callback.
        """
        if self._freed:
            return
        was_open = self._state >= _IDLE
        self._freed = True
        self._drop_transport()
        self._state = _DISCONNECTED
        for ev in (self._connect_ev, self._retry_ev):
            if ev is not None:
                ev.free()
        self._connect_ev = self._retry_ev = None
        if self._reconnect is not None:
            self._reconnect.cancel()
        requests = list(self._requests)
        self._requests.clear()
        for req in requests:
            self._release(req)
        bev = self._bev
        if not bev.freed:
            bev.setcb(None, None, None, None)
            bev.free()
        if was_open:
            self._notify_close()

    def free_on_completion(self) -> None:
        """Free the connection once no request is left (``evhttp_connection_free_on_completion``).

        levent frees it as soon as the last queued request has finished or
        failed (unless a callback queued another), also on a persistent one.
        """
        self._check_usable()
        self._autofree = True
        if not self._requests:
            self.free()

    def __enter__(self) -> HttpConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.free()

    def __repr__(self) -> str:
        where = self._unix_path or f"{self._host}:{self._port}"
        state = "freed" if self._freed else _STATE_NAMES[self._state]
        return f"<HttpConnection {where} {state} queued={len(self._requests)}>"

    # -- RequestOwner: what a request asks of its connection ------------------------------

    def _send_reply(self, req: HttpRequest, code: int, reason: str | None, body: object) -> None:
        raise HttpError("a client request cannot be replied to")

    def _send_error(self, req: HttpRequest, code: int, reason: str | None) -> None:
        raise HttpError("a client request cannot be replied to")

    def _reply_start(self, req: HttpRequest, code: int, reason: str | None) -> None:
        raise HttpError("a client request cannot be replied to")

    def _reply_chunk(
        self, req: HttpRequest, body: object, cb: Callable[[Any, Any], None] | None, arg: Any
    ) -> None:
        raise HttpError("a client request cannot be replied to")

    def _reply_end(self, req: HttpRequest) -> None:
        raise HttpError("a client request cannot be replied to")

    def _cancel(self, req: HttpRequest) -> None:
        """``evhttp_cancel_request``: a request on the wire resets the connection and gets
        ``error_cb(EVREQ_HTTP_REQUEST_CANCEL)``; one not sent yet just leaves the queue.
        Its completion callback never runs."""
        if req is self._active:
            self._fail(EVREQ_HTTP.REQUEST_CANCEL)
            return
        try:
            self._requests.remove(req)
        except ValueError:
            return
        self._release(req)
        self._maybe_autofree()

    def _request_freed(self, req: HttpRequest) -> None:
        """The user freed a request that is still queued: it leaves, without callbacks."""
        if req is self._active:
            req.error_cb = None
            self._fail(EVREQ_HTTP.REQUEST_CANCEL)
        elif req in self._requests:
            self._requests.remove(req)
            req._done = True
            self._maybe_autofree()

    # -- connecting ---------------------------------------------------------------------

    def _connect(self) -> None:
        """``evhttp_connection_connect_``: DISCONNECTED → CONNECTING (raises if it cannot start)."""
        bev = self._fresh_bev()
        self._state = _CONNECTING
        try:
            self._start_connect(bev)
        except BaseException:
            self._drop_transport()
            self._state = _DISCONNECTED
            raise
        ev = self._connect_ev
        if ev is None:
            ev = self._connect_ev = Event.timer(self._base, _connect_timeout_cb, self)
        ev.add(self._connect_timeout)

    def _start_connect(self, bev: BufferEvent) -> None:
        assert isinstance(bev, (SocketBufferEvent, SslBufferEvent))
        bev.set_timeouts(None, None)  # the connect timer bounds lookup, connect and handshake
        family = self._numeric_family or _numeric_family(self._local_address or "") or self._family
        if self._unix_path is None and (self._local_address is not None or self._local_port):
            if family == socket.AF_UNSPEC:
                family = int(socket.AF_INET)
            sock = socket.socket(family, socket.SOCK_STREAM)
            self._own_sock = sock
            sock.setblocking(False)
            any_addr = "::" if family == socket.AF_INET6 else "0.0.0.0"
            sock.bind((self._local_address or any_addr, self._local_port))
            bev.setfd(sock)
        address: Any
        if self._unix_path is not None:
            address = self._unix_path
        elif self._flags & EVHTTP_CON.REUSE_CONNECTED_ADDR and self._connected_addr is not None:
            address = self._connected_addr
        elif self._numeric_family:
            address = (self._host, self._port)
        else:
            self._lookup_pending = True
            bev.connect_hostname(self._dns_base, family, self._host, self._port)
            bev.enable(_RW)
            return
        bev.connect(address)
        bev.enable(_RW)

    def _connected(self) -> None:
        """The transport is up (after the TLS handshake, for HTTPS): CONNECTING → IDLE."""
        self._stop_connect_timer()
        self._lookup_pending = False
        self._retry_cnt = 0
        self._responses = 0
        self._tunnelled = False
        self._state = _IDLE
        sock = _socket_of(self._bev)
        if sock is not None:
            with contextlib.suppress(OSError):
                self._connected_addr = sock.getpeername()
        self._apply_timeouts()
        if self._requests:
            self._dispatch()

    def _connect_failed(self, error: EVREQ_HTTP) -> None:
        """Connecting failed: retry after a delay, or fail every queued request."""
        self._drop_transport()
        if self._retry_max < 0 or self._retry_cnt < self._retry_max:
            delay = min(self._initial_retry * (2 ** min(self._retry_cnt, 32)), MAX_RETRY_DELAY)
            self._retry_cnt += 1
            self._state = _CONNECTING  # still trying: new requests just queue
            ev = self._retry_ev
            if ev is None:
                ev = self._retry_ev = Event.timer(self._base, _retry_cb, self)
            ev.add(delay)
            return
        self._retry_cnt = 0
        self._state = _DISCONNECTED
        requests = list(self._requests)
        self._requests.clear()
        for req in requests:
            self._report_failure(req, error)
        self._maybe_autofree()

    def _retry(self) -> None:
        self._state = _DISCONNECTED
        if self._requests:
            self._connect_now()

    def _connect_now(self) -> None:
        """Connect for the queued requests from inside levent: a failure to even start
        is a connect failure like any other."""
        if self._freed or self._state != _DISCONNECTED or not self._requests:
            return
        try:
            self._connect()
        except OSError:
            self._connect_failed(EVREQ_HTTP.EOF)

    def _connect_soon(self) -> None:
        # From the loop, not inside the callback path that asked for it.
        deferred = self._reconnect
        if deferred is None:
            deferred = self._reconnect = Deferred(self._base, self._connect_now)
        deferred.schedule()

    def _stop_connect_timer(self) -> None:
        ev = self._connect_ev
        if ev is not None:
            ev.delete()

    def _apply_timeouts(self) -> None:
        if self._state >= _IDLE and not self._bev.freed:
            self._bev.set_timeouts(self._read_timeout, self._write_timeout)

    # -- the transport -----------------------------------------------------------------

    def _fresh_bev(self) -> BufferEvent:
        """The bufferevent for the next connect: the current one, or a new one like it."""
        if not self._bev_stale:
            return self._bev
        old = self._bev
        new: BufferEvent
        if self._tls is not None:
            ctx, hostname = self._tls
            new = BufferEvent.ssl_socket(
                self._base, None, ctx, BUFFEREVENT_SSL_CONNECTING, old.options, hostname
            )
            if isinstance(old, SslBufferEvent) and old.get_flags():
                new.set_flags(old.get_flags())
        else:
            new = BufferEvent.socket(self._base, None, old.options)
        new.setcb(_readcb, _writecb, _eventcb, self)
        self._bev = new
        self._bev_stale = False
        return new

    def _drop_transport(self) -> None:
        """``evhttp_connection_reset_``'s I/O half: close the socket, empty the buffers."""
        self._stop_connect_timer()
        retry = self._retry_ev
        if retry is not None:
            retry.delete()
        self._active = None
        self._reader = None
        bev = self._bev
        if bev.freed:
            pass
        elif isinstance(bev, SslBufferEvent) or self._lookup_pending or self._bev_stale:
            # A TLS session cannot start over, and a name lookup in flight cannot
            # be called back: the next connect gets a new bufferevent.
            bev.setcb(None, None, None, None)
            bev.free()
            self._bev_stale = True
        else:
            bev.disable(_RW)
            sock = _socket_of(bev)
            if sock is not None:
                bev.setfd(None)
                sock.close()  # evhttp owns the fd, whatever BEV_OPT_CLOSE_ON_FREE says
            inp = bev.input
            if len(inp):
                inp.drain(len(inp))
            out = bev.output
            if len(out):
                out.unfreeze(True)  # only the owner drains a socket bufferevent's output
                out.drain(len(out))
                out.freeze(True)
        own = self._own_sock
        if own is not None:
            self._own_sock = None
            own.close()
        self._lookup_pending = False

    def _reset(self) -> None:
        """``evhttp_connection_reset_``: back to DISCONNECTED; the close callback if it was open."""
        was_open = self._state >= _IDLE
        self._drop_transport()
        self._state = _DISCONNECTED
        if was_open:
            self._notify_close()

    def _notify_close(self) -> None:
        cb = self._closecb
        if cb is not None:
            self._call(cb, self, self._closecb_arg)

    # -- sending ------------------------------------------------------------------------

    def _dispatch(self) -> None:
        """``evhttp_request_dispatch``: IDLE → WRITING with the request at the queue's head."""
        req = self._requests[0]
        self._active = req
        self._state = _WRITING
        self._reader = ResponseReader(
            req.command == _HEAD or req.method == "HEAD",
            self._max_headers_size,
            self._max_body_size,
            req.command == _CONNECT or req.method == "CONNECT",
        )
        self._headers_copied = 0
        self._head_reported = False
        bev = self._bev
        body = req._output_buffer
        self._body_len = len(body) if body is not None else 0
        bev.write(_request_head(req, self._body_len))
        if body is not None and self._body_len:
            bev.write_buffer(body)
        bev.enable(_READ)  # restarts the read timeout: it counts from now

    def _written(self) -> None:
        """The request is out: WRITING → READING, and parse what already came."""
        self._state = _READING
        self._bev.enable(_READ)  # the wait for the response starts now
        self._read_response()

    # -- receiving ------------------------------------------------------------------------

    def _read_response(self) -> None:
        req = self._active
        reader = self._reader
        if req is None or reader is None:
            return
        inp = self._bev.input
        n = len(inp)
        if n:
            # Feed the input's chunks as they are (no join), then drop them.
            error: EVREQ_HTTP | None = None
            views = inp.peek(n)
            try:
                for view in views:
                    reader.feed(view)
            except ResponseError as exc:
                error = exc.error
            finally:
                for view in views:
                    view.release()
            inp.drain(n)
            if error is not None:
                self._fail(error)
                return
        self._deliver(req, reader)

    def _deliver(self, req: HttpRequest, reader: ResponseReader) -> None:
        """Hand the user what the reader learned: headers, body pieces, the end."""
        if reader.headers_done and not self._head_reported:
            self._head_reported = True
            req.response_code = reader.status
            req.response_code_line = reader.reason
            req.major = reader.major
            req.minor = reader.minor
            self._copy_headers(req, reader)
            cb = req.header_cb
            if cb is not None:
                result = self._call(cb, req, req.cb_arg)
                if self._active is not req:
                    return  # cancelled, or the connection freed, in the callback
                if isinstance(result, int) and result < 0:
                    self._fail(EVREQ_HTTP.EOF)
                    return
        pieces = reader.take_body()
        if pieces:
            buf = req.input_buffer
            for piece in pieces:
                buf.add(piece)
            chunk_cb = req.chunk_cb
            if chunk_cb is not None:
                self._call(chunk_cb, req, req.cb_arg)
                if self._active is not req:
                    return
                buf = req.input_buffer
                buf.drain(len(buf))
        if reader.complete:
            self._copy_headers(req, reader)  # a chunked body's trailer fields
            self._done(req, reader)

    def _copy_headers(self, req: HttpRequest, reader: ResponseReader) -> None:
        headers = reader.headers
        n = self._headers_copied
        if n < len(headers):
            target = req.input_headers
            for key, value in headers[n:]:
                target._append(key, value)
            self._headers_copied = len(headers)

    def _done(self, req: HttpRequest, reader: ResponseReader) -> None:
        """``evhttp_connection_done``: the response is complete; run the callback."""
        need_close = (
            not reader.keep_alive or reader.extra or _asks_close(req) or len(self._bev.input) > 0
        )
        self._requests.popleft()
        self._active = None
        self._reader = None
        self._resend = None
        self._responses += 1
        if (req.command == _CONNECT or req.method == "CONNECT") and 200 <= reader.status < 300:
            # A tunnel now: resending on a new connection would bypass it.
            self._tunnelled = True
        self._state = _IDLE
        req._done = True
        req._owner = None  # as libevent: req->evcon is NULL in the callback
        if need_close:
            self._reset()
        if self._requests:
            if self._state == _IDLE:
                self._dispatch()
            else:
                self._connect_soon()
        cb = req.cb
        if cb is not None:
            self._call(cb, req, req.cb_arg)
        if not req._owned:
            req.free()
        self._maybe_autofree()

    # -- failures -------------------------------------------------------------------------

    def _lost(self, error: EVREQ_HTTP) -> None:
        """The transport broke under the active request: resend it once, or fail it."""
        req = self._active
        reader = self._reader
        if (
            req is not None
            and reader is not None
            and not reader.started
            and not len(self._bev.input)
            and self._responses > 0
            and not self._tunnelled
            and self._resend is not req
            and not self._body_len
            and req.command_name in _IDEMPOTENT
        ):
            # The server closed the idle connection as the request went out:
            # send it again, once, on a new connection (RFC 9112 §9.3.1).
            self._resend = req
            self._reset()
            self._connect_soon()
            return
        self._fail(error)

    def _fail(self, error: EVREQ_HTTP) -> None:
        """``evhttp_connection_fail_``: the active request fails and the connection resets."""
        req = self._active
        if req is None:
            return
        self._requests.popleft()
        self._resend = None
        self._reset()
        if self._requests:
            self._connect_soon()
        self._report_failure(req, error)
        self._maybe_autofree()

    def _report_failure(self, req: HttpRequest, error: EVREQ_HTTP) -> None:
        """error_cb(error, arg), then cb(None, arg) — except for a cancel; then free."""
        req._done = True
        req._owner = None
        error_cb = req.error_cb
        if error_cb is not None:
            self._call(error_cb, error, req.cb_arg)
        cb = req.cb
        if cb is not None and error != EVREQ_HTTP.REQUEST_CANCEL:
            self._call(cb, None, req.cb_arg)
        if not req._owned:
            req.free()

    def _release(self, req: HttpRequest) -> None:
        """A request leaves without callbacks (queued cancel, connection freed)."""
        req._done = True
        req._owner = None
        if not req._owned:
            req.free()

    def _maybe_autofree(self) -> None:
        if self._autofree and not self._requests and not self._freed:
            self.free()

    # -- bufferevent callbacks ------------------------------------------------------------

    def _on_read(self) -> None:
        state = self._state
        if state == _READING:
            self._read_response()
        elif state == _IDLE:
            # Nothing was asked: bytes now mean the server is out of step (or
            # sending a last 408 before it closes). Drop the connection.
            self._reset()
            self._maybe_autofree()

    def _on_write(self) -> None:
        if self._state == _WRITING and not len(self._bev.output):
            self._written()

    def _on_event(self, what: int) -> None:
        state = self._state
        if state == _CONNECTING:
            if what & _CONNECTED:
                self._connected()
            else:
                self._connect_failed(EVREQ_HTTP.TIMEOUT if what & _TIMEOUT else EVREQ_HTTP.EOF)
        elif state == _IDLE:
            if not what & _CONNECTED:
                self._reset()  # close detection: the server closed or timed out the idle link
                self._maybe_autofree()
        elif state == _WRITING:
            if what & _TIMEOUT:
                self._fail(EVREQ_HTTP.TIMEOUT)
            elif what & (_EOF | _ERROR):
                if self._flags & EVHTTP_CON.READ_ON_WRITE_ERROR:
                    # The server may have answered before it stopped reading:
                    # read whatever it sent. After a write error a socket still
                    # reads on, so its EOF decides; at EOF, or on TLS (whose
                    # session is over), decide now.
                    self._state = _READING
                    self._read_response()
                    if self._state == _READING and (
                        not what & _WRITING_EV or not isinstance(self._bev, SocketBufferEvent)
                    ):
                        self._end_of_input(what)
                else:
                    self._lost(EVREQ_HTTP.EOF)
        elif state == _READING:
            if what & _TIMEOUT:
                self._fail(EVREQ_HTTP.TIMEOUT)
            elif what & (_EOF | _ERROR):
                self._read_response()  # anything still in the input
                if self._state == _READING:
                    self._end_of_input(what)

    def _end_of_input(self, what: int) -> None:
        reader = self._reader
        req = self._active
        if reader is None or req is None:
            return
        if what & _EOF and not what & _WRITING_EV and reader.eof():
            self._deliver(req, reader)  # a close-delimited body ends here
            return
        self._lost(EVREQ_HTTP.EOF)

    # -- helpers ------------------------------------------------------------------------

    def _call(self, cb: Callable[..., Any], *args: Any) -> Any:
        """Run a user callback; an exception goes to the base's error handler, not into levent."""
        try:
            return cb(*args)
        except Exception as exc:
            self._base._report(self, exc)
            return None

    def _check_usable(self) -> None:
        if self._freed:
            raise HttpError("the connection has been freed")


# The bufferevent's callbacks: module functions with the connection as arg.


def _readcb(bev: BufferEvent, conn: HttpConnection) -> None:
    conn._on_read()


def _writecb(bev: BufferEvent, conn: HttpConnection) -> None:
    conn._on_write()


def _eventcb(bev: BufferEvent, what: int, conn: HttpConnection) -> None:
    conn._on_event(int(what))


def _connect_timeout_cb(fd: int, what: int, conn: HttpConnection) -> None:
    if conn._state == _CONNECTING:
        conn._connect_failed(EVREQ_HTTP.TIMEOUT)


def _retry_cb(fd: int, what: int, conn: HttpConnection) -> None:
    conn._retry()


# -- helpers ----------------------------------------------------------------------------


def _request_head(req: HttpRequest, body_len: int) -> bytes:
    """The request line and header section (``evhttp_make_header_request``)."""
    headers = req.output_headers
    # libevent: Content-Length always for POST and PUT, else only with a body.
    if (
        headers.find("Content-Length") is None
        and not _is_chunked(req)
        and (req.command in (_POST, _PUT) or body_len)
    ):
        headers.add("Content-Length", str(body_len))
    name = req.method or METHOD_NAMES.get(req.command, "GET")
    parts = [f"{name} {req.uri} HTTP/{req.major}.{req.minor}\r\n"]
    for key, value in headers:
        parts.append(f"{key}: {value}\r\n")
    parts.append("\r\n")
    return "".join(parts).encode("latin-1")


def _is_chunked(req: HttpRequest) -> bool:
    value = req.output_headers.find("Transfer-Encoding")
    return value is not None and "chunked" in value.lower()


def _asks_close(req: HttpRequest) -> bool:
    """The request said ``Connection: close``, or is HTTP/1.0 without keep-alive."""
    tokens = {
        t.strip().lower() for v in req.output_headers.find_all("Connection") for t in v.split(",")
    }
    if "close" in tokens:
        return True
    return (req.major, req.minor) < (1, 1) and "keep-alive" not in tokens


def _method(method: int | str) -> tuple[str, int]:
    if isinstance(method, str):
        if not method or not set(method) <= _TOKEN_CHARS:
            raise ValueError(f"invalid method name {method!r}")
        return method, HttpRequest.method_bit(method)
    if not isinstance(method, int) or isinstance(method, bool):
        raise TypeError("method must be an EVHTTP_REQ_* value or a method name")
    name = METHOD_NAMES.get(int(method))
    if name is None:
        raise ValueError(f"method must be exactly one EVHTTP_REQ_* bit, not {method!r}")
    return name, int(method)


def _check_target(uri: object) -> None:
    if not isinstance(uri, str):
        raise TypeError("uri must be a str")
    if not uri or any(c in uri for c in " \r\n\0\t") or not _latin1(uri):
        raise ValueError(f"invalid request target {uri!r}")


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _numeric_family(host: str) -> int:
    """AF_INET / AF_INET6 for an IP address literal, else 0 (a name)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return 0
    return int(socket.AF_INET6 if ip.version == 6 else socket.AF_INET)


def _socket_of(bev: BufferEvent) -> socket.socket | None:
    if isinstance(bev, SocketBufferEvent):
        return bev.socket
    return None


def _check_bev(bev: object, base: EventBase, connected: bool = False) -> None:
    if isinstance(bev, SslBufferEvent):
        if bev.get_underlying() is not None:
            raise ValueError("an ssl_filter cannot reconnect: use BufferEvent.ssl_socket")
    elif not isinstance(bev, SocketBufferEvent):
        raise TypeError("bev must be a socket or ssl_socket BufferEvent")
    if bev.freed:
        raise ValueError("the bufferevent has been freed")
    if bev.base is not base:
        raise ValueError("the bufferevent belongs to another EventBase")
    if bev.getfd() >= 0 and not connected:
        raise ValueError("the bufferevent must not have an fd yet (the connection connects it)")


def _check_secs(secs: object) -> float:
    if not isinstance(secs, (int, float)) or isinstance(secs, bool):
        raise TypeError("a timeout is seconds as a number")
    value = float(secs)
    if not value > 0 or value == float("inf"):
        raise ValueError(f"a timeout must be positive seconds, not {secs!r}")
    return value


def _check_size(size: object) -> int:
    if not isinstance(size, int) or isinstance(size, bool):
        raise TypeError("size must be an int")
    return -1 if size < 0 else int(size)
