"""HttpServer: libevent's evhttp server on levent's Listener and BufferEvents.

One :class:`ServerConnection` per accepted client reads requests with a
:class:`~levent.http.protocol.RequestParser`, answers them strictly in order
(pipelined requests wait their turn), and keeps the connection open between
exchanges as HTTP/1.0 and 1.1 say. Routing is evhttp's: virtual hosts and
aliases by Host, then an exact match on the percent-decoded path, then the
generic callback, then 404.

Where libevent is unsafe or wrong by today's standards levent does better, and
``docs/libevent-mapping.md`` lists each difference: RFC 9110 status codes for
rejected requests (405 with Allow, 414, 431, 505 …), default timeouts and size
caps, HEAD replies without body bytes, a lingering close after an error so the
client can read it.
"""

from __future__ import annotations

import collections
import socket
import time
from collections.abc import Callable, Coroutine, Iterable
from fnmatch import fnmatchcase
from typing import Any, Final

from levent.base import EventBase
from levent.buffer import Evbuffer
from levent.bufferevent import (
    BEV_EVENT_EOF,
    BEV_EVENT_ERROR,
    BEV_EVENT_READING,
    BEV_EVENT_TIMEOUT,
    BEV_OPT_CLOSE_ON_FREE,
    BufferEvent,
)
from levent.bufferevent.sock import ReadSink, SocketBufferEvent
from levent.constants import EV_READ, EV_WRITE
from levent.listener import LEV_OPT_CLOSE_ON_FREE, LEV_OPT_REUSEABLE, Listener
from levent.log import error as _log_error

from .constants import (
    DEFAULT_ALLOWED_METHODS,
    EVHTTP_REQ,
    EVHTTP_SERVER_LINGERING_CLOSE,
    METHOD_NAMES,
    reason_phrase,
)
from .protocol import (
    DEFAULT_MAX_BODY_SIZE,
    DEFAULT_MAX_HEADERS,
    DEFAULT_MAX_HEADERS_SIZE,
    DEFAULT_MAX_URI_SIZE,
    ParseRejection,
    RequestParser,
    RequestSink,
)
from .request import HttpError, HttpRequest
from .uri import Uri, htmlescape, uridecode

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "DEFAULT_TIMEOUT",
    "BoundSocket",
    "HttpServer",
    "ServerConnection",
]

#: evhttp's default Content-Type for replies that have a body and set none.
DEFAULT_CONTENT_TYPE: Final = "text/html; charset=ISO-8859-1"
#: levent's default read and write timeout for server connections, in seconds
#: (libevent has none: an idle or slow client would hold a connection forever).
DEFAULT_TIMEOUT: Final = 60.0
_HEAD: Final = int(EVHTTP_REQ.HEAD)
# (minor, code, reason) -> the status line; bounded, since reasons are the handlers' choice.
_STATUS_LINES: Final[dict[tuple[int, int, str], str]] = {}
# A reply head cache key: (minor, code, reason, length, default content type, headers).
_HeadKey = tuple[int, int, str, int, "str | None", tuple[tuple[str, str], ...]]
# Reply heads cached per server and second (a server answering many kinds of replies
# just builds the rest).
_HEAD_CACHE_SIZE: Final = 256
# Bodies up to this size are joined to their head and written as one piece.
_JOIN_BODY: Final = 16 * 1024
# What one write to a client may send (a sendfile of a static file, mostly).
_MAX_SINGLE_WRITE: Final = 4 * 1024 * 1024
# Requests read ahead of the one being answered before reading pauses.
_PIPELINE_DEPTH: Final = 8
# How long a rejected connection keeps reading (and discarding) so the client
# sees the error reply instead of a reset, and how much it swallows meanwhile.
_UNIX_PREFIX: Final = "unix:"
_LINGER_SECONDS: Final = 2.0
_LINGER_BYTES: Final = 16 * 1024 * 1024

#: ``handler(req, arg)``: a plain function, or an ``async def`` whose coroutine runs as
#: a task of the running levent.aio loop (what else a handler returns is ignored).
RequestHandler = Callable[[HttpRequest, Any], object]
ErrorPageCallback = Callable[[HttpRequest, Evbuffer, int, str, Any], int | None]
NewRequestCallback = Callable[[HttpRequest, Any], int | None]
BevFactory = Callable[[Any, Any], BufferEvent]
CloseCallback = Callable[["ServerConnection", Any], None]

_ERROR_PAGE: Final = (
    "<HTML><HEAD>\n<TITLE>{code} {reason}</TITLE>\n</HEAD><BODY>\n<H1>{reason}</H1>\n"
    "</BODY></HTML>\n"
)
_NOT_FOUND_PAGE: Final = (
    "<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1>"
    "<p>The requested URL {uri} was not found on this server.</p></body></html>\n"
)


# -- small pure helpers ------------------------------------------------------------

_date_second = -1
_date_text = ""


def http_date(now: float | None = None) -> str:
    """An IMF-fixdate for ``now`` (default: the current time), cached per second."""
    global _date_second, _date_text
    t = time.time() if now is None else now
    second = int(t)
    if second != _date_second or now is not None:
        text = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(second))
        if now is not None:
            return text
        _date_second = second
        _date_text = text
    return _date_text


def _has_token(value: str, token: str) -> bool:
    # Connection: a comma-separated, case-insensitive token list.
    low = value.lower()
    if low == token:
        return True
    return any(part.strip() == token for part in low.split(","))


def _response_has_body(code: int) -> bool:
    return not (code < 200 or code == 204 or code == 304)


def _decode_path(path: str) -> str:
    if "%" not in path:
        return path
    return uridecode(path)


def request_path(uri: str) -> str:
    """The path of a request target (query and fragment cut, not decoded)."""
    if not uri.startswith("/"):
        try:
            parsed = Uri.parse(uri)
        except ValueError:
            return uri
        return parsed.path or "/"
    end = len(uri)
    q = uri.find("?")
    if q >= 0:
        end = q
    h = uri.find("#", 0, end)
    if h >= 0:
        end = h
    return uri[:end]


def _body_bytes(body: object) -> bytes | Evbuffer:
    if body is None:
        return b""
    if isinstance(body, Evbuffer):
        return body
    if isinstance(body, bytes):
        return body
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    raise TypeError(f"a reply body must be Evbuffer, bytes-like or str, not {type(body).__name__}")


# -- bound sockets -------------------------------------------------------------------


class BoundSocket:
    """One listening socket of a server (``struct evhttp_bound_socket``)."""

    __slots__ = ("_bevcb", "_bevcb_arg", "_server", "listener")

    def __init__(self, server: HttpServer, listener: Listener) -> None:
        self._server = server
        #: The Listener accepting for this socket (``evhttp_bound_socket_get_listener``).
        self.listener = listener
        self._bevcb: BevFactory | None = None
        self._bevcb_arg: Any = None

    @property
    def fd(self) -> int:
        """``evhttp_bound_socket_get_fd``."""
        return self.listener.fd

    def get_listener(self) -> Listener:
        """``evhttp_bound_socket_get_listener``."""
        return self.listener

    def getsockname(self) -> Any:
        """The address the socket is bound to, e.g. ``("127.0.0.1", 8080)``."""
        return self.listener.socket.getsockname()

    def set_bevcb(self, cb: BevFactory | None, arg: Any = None) -> None:
        """A per-socket bufferevent factory; it wins over the server's
        (``evhttp_bound_set_bevcb``)."""
        self._bevcb = cb
        self._bevcb_arg = arg


# -- the server ------------------------------------------------------------------------


class HttpServer:
    """An HTTP server on an EventBase (``struct evhttp``; ``evhttp_new``)."""

    __slots__ = (
        "_aliases",
        "_bevcb",
        "_bevcb_arg",
        "_bound",
        "_callbacks",
        "_connections",
        "_date_second",
        "_date_text",
        "_errorcb",
        "_errorcb_arg",
        "_extra_methods",
        "_freed",
        "_gencb",
        "_gencb_arg",
        "_head_cache",
        "_max_connections",
        "_newreqcb",
        "_newreqcb_arg",
        "_parent",
        "_timeout_read",
        "_timeout_write",
        "_vhost_pattern",
        "_vhosts",
        "allowed_methods",
        "base",
        "default_content_type",
        "flags",
        "max_body_size",
        "max_headers",
        "max_headers_size",
        "max_uri_size",
    )

    def __init__(self, base: EventBase) -> None:
        if not isinstance(base, EventBase):
            raise TypeError(f"base must be an EventBase, not {type(base).__name__}")
        self.base = base
        self._bound: list[BoundSocket] = []
        self._callbacks: dict[str, tuple[RequestHandler, Any]] = {}
        self._gencb: RequestHandler | None = None
        self._gencb_arg: Any = None
        self._bevcb: BevFactory | None = None
        self._bevcb_arg: Any = None
        self._newreqcb: NewRequestCallback | None = None
        self._newreqcb_arg: Any = None
        self._errorcb: ErrorPageCallback | None = None
        self._errorcb_arg: Any = None
        self._vhosts: list[HttpServer] = []
        self._vhost_pattern: str | None = None
        self._aliases: list[str] = []
        self._parent: HttpServer | None = None
        # ServerConnections, and sessions other protocols took over from them (anything
        # with free(): WebSocket sessions count, as in libevent).
        self._connections: set[Any] = set()
        self._max_connections = 0
        self._timeout_read: float | None = DEFAULT_TIMEOUT
        self._timeout_write: float | None = DEFAULT_TIMEOUT
        #: Cap on request line + headers in bytes (431 beyond); -1 = none.
        self.max_headers_size = DEFAULT_MAX_HEADERS_SIZE
        #: Cap on a request body in bytes (413 beyond); -1 = none.
        self.max_body_size = DEFAULT_MAX_BODY_SIZE
        #: Cap on the request target in bytes (414 beyond); -1 = none.
        self.max_uri_size = DEFAULT_MAX_URI_SIZE
        #: Cap on the number of header lines (431 beyond); -1 = none.
        self.max_headers = DEFAULT_MAX_HEADERS
        #: Mask of EVHTTP_REQ methods served; others get 405 (unknown ones 501).
        self.allowed_methods = int(DEFAULT_ALLOWED_METHODS)
        self._extra_methods: frozenset[str] = frozenset()
        #: Content-Type for replies that set none; None = add nothing.
        self.default_content_type: str | None = DEFAULT_CONTENT_TYPE
        #: ``evhttp_set_flags`` (EVHTTP_SERVER_LINGERING_CLOSE).
        self.flags = 0
        self._date_second = -1
        self._date_text = ""
        # Reply heads already built this second: (minor, code, reason, length, content
        # type, the handler's headers) -> (head bytes, the headers it added).
        self._head_cache: dict[_HeadKey, tuple[bytes, list[tuple[str, str]]]] = {}
        self._freed = False

    # -- sockets ------------------------------------------------------------------

    def _check_usable(self) -> None:
        if self._freed:
            raise HttpError("the HttpServer has been freed")
        if self._parent is not None:
            raise HttpError("a virtual host cannot accept connections itself")

    def bind_socket(self, address: str, port: int) -> None:
        """Listen on ``address:port`` (``evhttp_bind_socket``); OSError on failure.
        ``"unix:/path"`` listens on that Unix-domain socket (the port is ignored)."""
        self.bind_socket_with_handle(address, port)

    def bind_socket_with_handle(self, address: str, port: int) -> BoundSocket:
        """Listen on ``address:port`` (or ``"unix:/path"``) and return the bound socket
        (``evhttp_bind_socket_with_handle``)."""
        self._check_usable()
        if address.startswith(_UNIX_PREFIX):
            path = address[len(_UNIX_PREFIX) :]
            if not path:
                raise ValueError("a unix: address needs a path")
            # No SO_REUSEADDR on AF_UNIX (libevent 2.2 refuses it): an existing
            # file at the path is an OSError, as bind() says.
            listener = Listener(self.base, None, None, LEV_OPT_CLOSE_ON_FREE, 128, address=path)
        else:
            listener = Listener(
                self.base,
                None,
                None,
                LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE,
                128,
                address=(address or "0.0.0.0", int(port)),
            )
        return self._add_listener(listener)

    def accept_socket(self, sock: socket.socket | int) -> None:
        """Accept on an already listening socket (``evhttp_accept_socket``)."""
        self.accept_socket_with_handle(sock)

    def accept_socket_with_handle(self, sock: socket.socket | int) -> BoundSocket:
        """``evhttp_accept_socket_with_handle``: the socket closes with the bound socket."""
        self._check_usable()
        listener = Listener(self.base, None, None, LEV_OPT_CLOSE_ON_FREE, -1, sock=sock)
        return self._add_listener(listener)

    def bind_listener(self, listener: Listener) -> BoundSocket:
        """Accept through ``listener``, freed with the bound socket (``evhttp_bind_listener``)."""
        self._check_usable()
        return self._add_listener(listener)

    def _add_listener(self, listener: Listener) -> BoundSocket:
        bound = BoundSocket(self, listener)
        listener.set_cb(_on_accept, bound)
        self._bound.append(bound)
        return bound

    def del_accept_socket(self, bound: BoundSocket) -> None:
        """Stop accepting on ``bound`` and free its listener (``evhttp_del_accept_socket``)."""
        try:
            self._bound.remove(bound)
        except ValueError:
            raise ValueError("the bound socket does not belong to this server") from None
        bound.listener.free()

    def foreach_bound_socket(self, fn: Callable[[BoundSocket, Any], None], arg: Any = None) -> None:
        """``evhttp_foreach_bound_socket``."""
        for bound in list(self._bound):
            fn(bound, arg)

    @property
    def bound_sockets(self) -> list[BoundSocket]:
        """The bound sockets, in binding order."""
        return list(self._bound)

    # -- routing ---------------------------------------------------------------------

    def set_cb(self, path: str, cb: RequestHandler, arg: Any = None) -> None:
        """Serve requests for exactly ``path`` (decoded, query ignored) with ``cb(req, arg)``
        (``evhttp_set_cb``); ValueError if the path has a callback already."""
        if not callable(cb):
            raise TypeError("cb must be callable")
        if path in self._callbacks:
            raise ValueError(f"a callback for {path!r} is already set")
        self._callbacks[path] = (cb, arg)

    def del_cb(self, path: str) -> None:
        """``evhttp_del_cb``; KeyError if there is none."""
        try:
            del self._callbacks[path]
        except KeyError:
            raise KeyError(path) from None

    def set_gencb(self, cb: RequestHandler | None, arg: Any = None) -> None:
        """The callback for requests no path matched (``evhttp_set_gencb``)."""
        self._gencb = cb
        self._gencb_arg = arg

    def set_bevcb(self, cb: BevFactory | None, arg: Any = None) -> None:
        """``cb(base, arg)`` makes each connection's BufferEvent without a socket, e.g. a
        TLS one in ACCEPTING state; levent then gives it the socket (``evhttp_set_bevcb``)."""
        self._bevcb = cb
        self._bevcb_arg = arg

    def set_newreqcb(self, cb: NewRequestCallback | None, arg: Any = None) -> None:
        """``cb(req, arg)`` for each request before it is parsed; a negative return closes
        the connection (``evhttp_set_newreqcb``)."""
        self._newreqcb = cb
        self._newreqcb_arg = arg

    def set_errorcb(self, cb: ErrorPageCallback | None, arg: Any = None) -> None:
        """``cb(req, buf, code, reason, arg)`` writes an error page into ``buf``; a negative
        return selects the default page (``evhttp_set_errorcb``)."""
        self._errorcb = cb
        self._errorcb_arg = arg

    def set_ext_methods(self, names: Iterable[str]) -> None:
        """Accept these extra method names (case-sensitive) besides EVHTTP_REQ's; levent's
        form of ``evhttp_set_ext_method_cmp``. Their requests have ``command`` 0."""
        self._extra_methods = frozenset(names)

    def set_allowed_methods(self, methods: int) -> None:
        """``evhttp_set_allowed_methods``: a mask of EVHTTP_REQ bits."""
        self.allowed_methods = int(methods)

    def set_default_content_type(self, content_type: str | None) -> None:
        """``evhttp_set_default_content_type`` (None: add no Content-Type)."""
        self.default_content_type = content_type

    def set_max_headers_size(self, size: int) -> None:
        """``evhttp_set_max_headers_size`` (negative: unlimited)."""
        self.max_headers_size = int(size)

    def set_max_body_size(self, size: int) -> None:
        """``evhttp_set_max_body_size`` (negative: unlimited)."""
        self.max_body_size = int(size)

    def set_max_uri_size(self, size: int) -> None:
        """Cap the request target (414 beyond; negative: unlimited). levent's own: libevent
        counts the request line in ``max_headers_size`` only."""
        self.max_uri_size = int(size)

    def set_max_headers(self, n: int) -> None:
        """Cap the number of header lines (431 beyond; negative: unlimited). levent's own."""
        self.max_headers = int(n)

    def set_max_connections(self, n: int) -> None:
        """``evhttp_set_max_connections``: beyond ``n`` open connections a new one gets 503
        (0 or less: no cap)."""
        self._max_connections = int(n)

    def get_connection_count(self) -> int:
        """``evhttp_get_connection_count``."""
        return len(self._connections)

    def set_timeout(self, seconds: float | None) -> None:
        """Read and write timeout of every new connection (``evhttp_set_timeout``);
        None: no timeout (libevent's default; levent's is DEFAULT_TIMEOUT)."""
        self._timeout_read = self._timeout_write = _check_timeout(seconds)

    def set_read_timeout(self, seconds: float | None) -> None:
        """``evhttp_set_read_timeout_tv``."""
        self._timeout_read = _check_timeout(seconds)

    def set_write_timeout(self, seconds: float | None) -> None:
        """``evhttp_set_write_timeout_tv``."""
        self._timeout_write = _check_timeout(seconds)

    def set_flags(self, flags: int) -> None:
        """``evhttp_set_flags``; ValueError for flags libevent does not define."""
        if flags & ~EVHTTP_SERVER_LINGERING_CLOSE:
            raise ValueError(f"unknown server flags {flags:#x}")
        self.flags = flags

    # -- virtual hosts -------------------------------------------------------------------

    def add_virtual_host(self, pattern: str, vhost: HttpServer) -> None:
        """Route requests whose Host matches the glob ``pattern`` to ``vhost``
        (``evhttp_add_virtual_host``); the vhost must not accept connections itself."""
        if vhost is self or vhost._bound or vhost._parent is not None:
            raise ValueError("a virtual host must be a fresh HttpServer with no sockets")
        vhost._vhost_pattern = pattern.lower()
        vhost._parent = self
        self._vhosts.append(vhost)

    def remove_virtual_host(self, vhost: HttpServer) -> None:
        """``evhttp_remove_virtual_host``."""
        try:
            self._vhosts.remove(vhost)
        except ValueError:
            raise ValueError("not a virtual host of this server") from None
        vhost._parent = None
        vhost._vhost_pattern = None

    def add_server_alias(self, alias: str) -> None:
        """Also answer to Host ``alias`` (``evhttp_add_server_alias``)."""
        self._aliases.append(alias.lower())

    def remove_server_alias(self, alias: str) -> None:
        """``evhttp_remove_server_alias``; ValueError if it is not an alias."""
        try:
            self._aliases.remove(alias.lower())
        except ValueError:
            raise ValueError(f"{alias!r} is not an alias") from None

    def _find_alias(self, host: str) -> HttpServer | None:
        if host in self._aliases:
            return self
        for vhost in self._vhosts:
            found = vhost._find_alias(host)
            if found is not None:
                return found
        return None

    def _find_vhost(self, host: str) -> HttpServer:
        found = self._find_alias(host)
        if found is not None:
            return found
        for vhost in self._vhosts:
            pattern = vhost._vhost_pattern
            if pattern is not None and fnmatchcase(host, pattern):
                return vhost
        return self

    def _route(self, req: HttpRequest) -> tuple[RequestHandler, Any] | None:
        server = self
        if self._vhosts or self._aliases:
            host = req.host
            if host:
                server = self._find_vhost(host.lower())
        path = _decode_path(request_path(req.uri))
        entry = server._callbacks.get(path)
        if entry is not None:
            return entry
        if server._gencb is not None:
            return server._gencb, server._gencb_arg
        return None

    # -- connections ---------------------------------------------------------------------

    def _accept(self, sock: socket.socket, address: Any, bound: BoundSocket) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            # Replies are small and latency-bound: Nagle would hold the last segment.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        factory = bound._bevcb
        factory_arg = bound._bevcb_arg
        bev: BufferEvent | None = None
        if factory is not None:
            bev = factory(self.base, factory_arg)
        if bev is None and self._bevcb is not None:
            bev = self._bevcb(self.base, self._bevcb_arg)
        if bev is None:
            bev = BufferEvent.socket(self.base, sock, BEV_OPT_CLOSE_ON_FREE)
        else:
            bev.setfd(sock)
        conn = ServerConnection(self, bev, address)
        self._connections.add(conn)
        if 0 < self._max_connections < len(self._connections):
            conn._refuse(503)
            return
        conn._start()

    def _date(self) -> str:
        # The Date header, formatted once a second (time.time() is cheaper here than the
        # base's cached clock, which has to add the wall/monotonic offset).
        second = int(time.time())
        if second != self._date_second:
            self._date_second = second
            self._date_text = http_date(second)
            self._head_cache.clear()  # every cached head carries the old Date
        return self._date_text

    def _common(self, seconds: float | None) -> float | None:
        # Every connection shares the same timeouts: a common timeout re-arms in O(1)
        # on each read (event_base_init_common_timeout), where a plain one is a heap op.
        if seconds is None:
            return None
        try:
            return self.base.init_common_timeout(seconds)
        except (ValueError, RuntimeError):
            return seconds

    def _connection_opened(self, conn: Any) -> None:
        # A connection another protocol took over (a WebSocket session) still counts.
        self._connections.add(conn)

    def _connection_closed(self, conn: Any) -> None:
        self._connections.discard(conn)

    def free(self) -> None:
        """Close every bound socket and connection (``evhttp_free``)."""
        if self._freed:
            return
        self._freed = True
        for bound in self._bound:
            bound.listener.free()
        self._bound.clear()
        for conn in list(self._connections):
            conn.free()
        for vhost in self._vhosts:
            vhost._parent = None
            vhost.free()
        self._vhosts.clear()

    def __enter__(self) -> HttpServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.free()

    def __repr__(self) -> str:
        return f"<HttpServer bound={len(self._bound)} connections={len(self._connections)}>"


def _check_timeout(seconds: float | None) -> float | None:
    if seconds is None:
        return None
    value = float(seconds)
    if value < 0:
        return None
    return value


def _on_accept(listener: Listener, sock: socket.socket, address: Any, bound: BoundSocket) -> None:
    bound._server._accept(sock, address, bound)


# -- one client connection ---------------------------------------------------------------


def _on_read(bev: BufferEvent, conn: ServerConnection) -> None:
    conn._read()


def _on_write(bev: BufferEvent, conn: ServerConnection) -> None:
    conn._drained()


def _on_event(bev: BufferEvent, what: int, conn: ServerConnection) -> None:
    conn._event(what)


def _on_linger_timeout(fd: int, what: int, conn: ServerConnection) -> None:
    conn.free()


class ServerConnection(RequestSink, ReadSink):
    """The server side of one client connection (``struct evhttp_connection``)."""

    __slots__ = (
        "_closecb",
        "_closecb_arg",
        "_closing",
        "_current",
        "_freed",
        "_head_deadline",
        "_linger_left",
        "_linger_timer",
        "_lingering",
        "_parser",
        "_peer_done",
        "_pending_status",
        "_processing",
        "_queue",
        "_reading_paused",
        "_rejected",
        "_remote_host",
        "_remote_port",
        "_sock_bev",
        "_upgrade_data",
        "_wait_drain",
        "bev",
        "peer",
        "server",
    )

    def __init__(self, server: HttpServer, bev: BufferEvent, peer: Any) -> None:
        self.server = server
        self.bev = bev
        #: The client's address as accept() returned it.
        self.peer = peer
        if isinstance(peer, tuple) and len(peer) >= 2:
            self._remote_host = str(peer[0])
            self._remote_port = int(peer[1])
        else:
            self._remote_host = str(peer) if peer else ""
            self._remote_port = 0
        parser = RequestParser(self, self)
        parser.max_headers_size = server.max_headers_size
        parser.max_uri_size = server.max_uri_size
        parser.max_headers = server.max_headers
        parser.max_body_size = server.max_body_size
        parser.allowed_methods = server.allowed_methods
        parser.extra_methods = server._extra_methods
        self._parser = parser
        self._queue: collections.deque[HttpRequest] = collections.deque()
        self._current: HttpRequest | None = None
        self._processing = False
        self._reading_paused = False
        self._closing = False
        # The client half-closed: answer what it sent, then close.
        self._peer_done = False
        self._rejected = False
        # A rejection waiting for the pipelined requests before it to be answered.
        self._pending_status = 0
        self._lingering = False
        self._linger_left = 0
        self._linger_timer: Any = None
        # Requests whose on-complete callback, or chunks whose callback, wait for the
        # output to drain; None when nothing waits (the write callback is then off).
        self._wait_drain: list[tuple[Callable[[Any, Any], None], Any, Any]] | None = None
        self._closecb: CloseCallback | None = None
        self._closecb_arg: Any = None
        self._head_deadline = 0.0
        self._upgrade_data: bytes | None = None
        self._freed = False
        # A plain socket bufferevent: bytes in and replies out may skip its buffers.
        self._sock_bev: SocketBufferEvent | None = None

    # -- public accessors (evhttp_connection_*) ------------------------------------------

    def get_peer(self) -> tuple[str, int]:
        """``evhttp_connection_get_peer``: (host, port) of the client."""
        peer = self.peer
        if isinstance(peer, tuple) and len(peer) >= 2:
            return str(peer[0]), int(peer[1])
        return str(peer), 0

    def get_addr(self) -> Any:
        """The client's socket address (``evhttp_connection_get_addr``)."""
        return self.peer

    def get_server(self) -> HttpServer:
        """``evhttp_connection_get_server``."""
        return self.server

    @property
    def bufferevent(self) -> BufferEvent:
        """``evhttp_connection_get_bufferevent``."""
        return self.bev

    @property
    def base(self) -> Any:
        """``evhttp_connection_get_base``."""
        return self.server.base

    def set_closecb(self, cb: CloseCallback | None, arg: Any = None) -> None:
        """``cb(conn, arg)`` when the connection closes (``evhttp_connection_set_closecb``)."""
        self._closecb = cb
        self._closecb_arg = arg

    @property
    def freed(self) -> bool:
        """True once the connection is closed."""
        return self._freed

    # -- set-up ------------------------------------------------------------------------

    def _start(self) -> None:
        bev = self.bev
        server = self.server
        bev.setcb(_on_read, None, _on_event, self)
        bev.set_timeouts(
            server._common(server._timeout_read), server._common(server._timeout_write)
        )
        # Files go out with sendfile: let one call send as much as the kernel takes,
        # not 64 KiB per loop pass.
        bev.set_max_single_write(_MAX_SINGLE_WRITE)
        if isinstance(bev, SocketBufferEvent):
            self._sock_bev = bev
            bev._set_sink(self)
        bev.enable(EV_READ | EV_WRITE)

    def _refuse(self, code: int) -> None:
        # Over the connection cap: answer at once and close (evhttp sends 503 too).
        self.bev.setcb(None, None, _on_event, self)
        self.bev.enable(EV_WRITE)
        self._write_error_page(None, code, None, "")
        self._start_closing()

    # -- reading -------------------------------------------------------------------------

    def _read(self) -> None:
        # The read callback: bytes waiting in the input buffer (the sink was bypassed).
        inp = self.bev.input
        if self._lingering:
            n = len(inp)
            inp.drain(n)
            self._linger_left -= n
            if self._linger_left <= 0:
                self.free()
            return
        if self._rejected or self._upgrade_data is not None:
            # Nothing more is parsed on this connection; keep the bytes for an upgrade.
            return
        self._parse(inp.remove(len(inp)))

    def _data_received(self, data: bytes) -> None:
        # ReadSink: bytes straight from recv while the input buffer is empty.
        if self._lingering or self._rejected or self._upgrade_data is not None:
            # These states want the bytes in the input buffer, where _read handles them.
            self.bev.input._io_add(data)
            self._read()
            return
        self._parse(data)

    def _parse(self, data: bytes) -> None:
        parser = self._parser
        try:
            parser.feed(data)
        except ParseRejection as exc:
            self._reject(exc.status, exc.message)
            # Requests complete before the bad one are still answered, in order.
            if self._queue and self._current is None and not self._freed:
                self._process_queue()
            return
        except Exception as exc:
            # A new-request or chunk callback raised: the stream is lost, the loop is not.
            self.server.base._report(self, exc)
            self._reject(500, "callback failed")
            if self._queue and self._current is None and not self._freed:
                self._process_queue()
            return
        if parser.upgrade_offset >= 0:
            self._upgrade_data = data[parser.upgrade_offset :]
            self._pause_reading()
        elif parser.in_head:
            now = time.monotonic()
            if self._head_deadline == 0.0:
                timeout = self.server._timeout_read
                self._head_deadline = now + (timeout if timeout is not None else 3600.0)
            elif now > self._head_deadline:
                # A request line and headers trickling in forever (slowloris).
                self._reject(408, "request header timeout")
                return
        if self._queue and self._current is None:
            self._process_queue()

    def _pause_reading(self) -> None:
        if not self._reading_paused:
            self._reading_paused = True
            self.bev.disable(EV_READ)

    def _resume_reading(self) -> None:
        if (
            self._reading_paused
            and not self._closing
            and not self._rejected
            and self._upgrade_data is None
        ):
            self._reading_paused = False
            self.bev.enable(EV_READ)

    # -- RequestSink: what the parser reports --------------------------------------------

    def _request_begun(self, req: HttpRequest) -> bool:
        server = self.server
        req.remote_host = self._remote_host
        req.remote_port = self._remote_port
        self._head_deadline = 0.0
        cb = server._newreqcb
        if cb is not None:
            result = cb(req, server._newreqcb_arg)
            if result is not None and result < 0:
                return False
        return True

    def _request_head(self, req: HttpRequest) -> None:
        self._head_deadline = 0.0
        connection = expect = length = coding = None
        hosts = 0
        for key, value in req.input_headers._items:
            low = key.lower()
            if low == "host":
                hosts += 1
            elif low == "connection":
                connection = value
            elif low == "expect":
                expect = value
            elif low == "content-length":
                length = value
            elif low == "transfer-encoding":
                coding = value
        if hosts > 1:
            # RFC 9112 §3.2; and vhost routing must not guess which one counts.
            raise ParseRejection(400, "more than one Host header")
        # evhttp_is_connection_close / _keepalive.
        if req.minor >= 1:
            req._close = connection is not None and _has_token(connection, "close")
        else:
            req._close = connection is None or not _has_token(connection, "keep-alive")
        if coding is not None:
            codings = coding.lower().replace(" ", "").replace("\t", "")
            if codings != "chunked":
                if not codings.endswith(",chunked"):
                    # RFC 9112 §6.3: without chunked last, the body's length is unknown.
                    raise ParseRejection(400, f"bad transfer coding {coding!r}")
                # llhttp accepts "gzip, chunked"; levent would hand over a body still coded.
                raise ParseRejection(501, f"transfer coding {coding!r} is not implemented")
            if req.minor == 0:
                # RFC 9112 §6.1: after an HTTP/1.0 message with Transfer-Encoding, close.
                req._close = True
        if req.command == _HEAD and (coding is not None or (length or "0").strip() != "0"):
            # A body after HEAD is never read (the parser drops it): the stream is lost.
            req._close = True
        limit = self._parser.max_body_size
        if length is not None and limit >= 0 and length.isdigit() and int(length) > limit:
            # Known before the body arrives: answer now (evhttp_get_body does too).
            raise ParseRejection(413, "request body too large")
        if expect is not None and req.minor >= 1:
            if expect.lower() != "100-continue":
                raise ParseRejection(417, f"unsupported expectation {expect!r}")
            # Only the first request in line may get an interim reply: a 100 between
            # two pipelined responses would corrupt the stream.
            if self._current is None and not self._queue and not len(self.bev.input):
                self.bev.output.add(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _request_body(self, req: HttpRequest, data: bytes) -> None:
        buf = req.input_buffer
        buf.add(data)
        chunk_cb = req.chunk_cb
        if chunk_cb is not None:
            chunk_cb(req, req.cb_arg)
            buf.drain(len(buf))

    def _request_complete(self, req: HttpRequest) -> None:
        self._queue.append(req)
        if len(self._queue) >= _PIPELINE_DEPTH:
            self._pause_reading()

    # -- dispatching ------------------------------------------------------------------------

    def _process_queue(self) -> None:
        if self._processing:
            return
        self._processing = True
        try:
            queue = self._queue
            while queue and self._current is None and not self._freed and not self._closing:
                req = queue.popleft()
                self._current = req
                self._dispatch(req)
            if self._freed:
                return
            if self._current is None and not queue:
                if self._rejected:
                    self._send_pending_rejection()
                    return
                if self._upgrade_data is not None or self._peer_done:
                    # An upgrade answered without taking the connection over, or a client
                    # that has nothing more to send.
                    self._start_closing()
                    return
            if len(queue) < _PIPELINE_DEPTH:
                self._resume_reading()
        finally:
            self._processing = False

    def _dispatch(self, req: HttpRequest) -> None:
        server = self.server
        entry = server._route(req)
        if entry is None:
            self._not_found(req)
            return
        cb, arg = entry
        try:
            result = cb(req, arg)
        except Exception as exc:
            server.base._report(req, exc)
            if self._current is req and not req._replied and not self._freed:
                self._send_error(req, 500, None)
            return
        if result is not None:
            self._start_async(req, result)

    # -- async handlers --------------------------------------------------------------------

    def _start_async(self, req: HttpRequest, result: object) -> None:
        # The handler returned something: an ``async def`` handler's coroutine runs as a
        # task of the running levent.aio loop, which must run this connection's base
        # (the one whose callbacks call the handlers). The request stays the current one,
        # and later requests wait, until the task replies.
        if not isinstance(result, Coroutine):
            return
        import asyncio

        base = self.server.base
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or getattr(loop, "base", None) is not base:
            result.close()
            _log_error(
                f"async handler for {req.uri!r}: an async handler needs levent.aio's loop "
                f"running on the server's EventBase (levent.aio.EventLoop(base)); answered 500"
            )
            self._async_failed(req)
            return
        task = loop.create_task(result)
        _handler_tasks[task] = (self, req)
        task.add_done_callback(_async_handler_done)

    def _async_failed(self, req: HttpRequest) -> None:
        # An async handler raised (or could not run) before its reply: a 500 that keeps
        # the connection, since the request was read whole. A streamed reply it started
        # cannot be ended well: the connection closes after what was sent.
        if self._freed or self._current is not req or req._done:
            return
        if req._replied:
            self._start_closing()
            return
        reason = reason_phrase(500)
        headers = req.output_headers
        headers.clear()  # the handler's headers do not describe an error page
        headers.add("Content-Type", "text/html")
        self._send_reply(req, 500, reason, self._error_page(req, 500, reason, None))

    def _not_found(self, req: HttpRequest) -> None:
        body = _NOT_FOUND_PAGE.format(uri=htmlescape(req.uri))
        self._write_error_page(req, 404, None, body)
        self._finish(req, close=True)

    # -- replies (RequestOwner) ------------------------------------------------------------

    def _check_current(self, req: HttpRequest) -> None:
        if req._owner is not self:
            raise HttpError("the request does not belong to this connection")
        if self._current is not req:
            raise HttpError("only the request being served can be answered")
        if req._replied:
            raise HttpError("the reply has already been started")

    def _make_head(self, req: HttpRequest, code: int, reason: str, length: int) -> bytes:
        # evhttp_make_header_response's rules. length < 0: streamed (no Content-Length
        # unless the handler set one; chunked on HTTP/1.1).
        headers = req.output_headers
        items = headers._items
        server = self.server
        date = server._date()
        content_type = server.default_content_type
        key: _HeadKey | None = None
        if not req._close:
            # A keep-alive reply like one already sent this second: the same bytes, and
            # the same headers added to output_headers.
            key = (req.minor, code, reason, length, content_type, tuple(items))
            hit = server._head_cache.get(key)
            if hit is not None:
                items.extend(hit[1])
                return hit[0]
        minor = req.minor
        has_date = has_length = has_type = False
        close = req._close
        for name, value in items:
            low = name.lower()
            if low == "date":
                has_date = True
            elif low == "content-length" or low == "transfer-encoding":
                has_length = True
            elif low == "content-type":
                has_type = True
            elif low == "connection" and _has_token(value, "close"):
                close = True
        added: list[tuple[str, str]] = []
        if minor >= 1:
            if not has_date:
                added.append(("Date", date))
        elif not close:
            added.append(("Connection", "keep-alive"))
        if _response_has_body(code):
            if not has_length:
                if length >= 0:
                    if minor >= 1 or not close:
                        added.append(("Content-Length", str(length)))
                elif minor >= 1:
                    added.append(("Transfer-Encoding", "chunked"))
                else:
                    # HTTP/1.0 without a length: the body ends when the connection does.
                    close = True
            if content_type is not None and not has_type:
                added.append(("Content-Type", content_type))
        items.extend(added)
        if close:
            req._close = True
            key = None
            if minor >= 1:
                headers.remove_all("Connection")
                items = headers._items
                items.append(("Connection", "close"))
        status_key = (minor, code, reason)
        status = _STATUS_LINES.get(status_key)
        if status is None:
            status = f"HTTP/1.{minor} {code} {reason}\r\n"
            if len(_STATUS_LINES) < 256:
                _STATUS_LINES[status_key] = status
        parts = [status]
        for name, value in items:
            parts.append(f"{name}: {value}\r\n")
        parts.append("\r\n")
        head = "".join(parts).encode("latin-1")
        if key is not None:
            cache = server._head_cache
            if len(cache) >= _HEAD_CACHE_SIZE:
                cache.clear()
            cache[key] = (head, added)
        return head

    def _send_reply(self, req: HttpRequest, code: int, reason: str | None, body: object) -> None:
        self._check_current(req)
        if body is None:
            body = req._output_buffer
        data = _body_bytes(body)
        if reason is None:
            reason = reason_phrase(code)
        req.response_code = code
        req.response_code_line = reason
        req._replied = True
        length = len(data) if _response_has_body(code) else 0
        out = self.bev.output
        head = self._make_head(req, code, reason, length)
        if length and req.command != _HEAD:
            if isinstance(data, Evbuffer):
                out.add(head)
                out.add_buffer(data)
            elif length <= _JOIN_BODY:
                # One piece for a small reply: one send, or one chunk queued.
                self._emit(req, head + data)
            else:
                out.add(head)
                out.add(data)
        else:
            self._emit(req, head)
            if isinstance(data, Evbuffer):
                data.drain(len(data))
        self._finish(req, close=req._close)

    def _emit(self, req: HttpRequest, payload: bytes) -> None:
        # With nothing queued and nobody waiting for the output to drain, a reply goes
        # straight to the socket, as an asyncio transport's write does.
        sock_bev = self._sock_bev
        if sock_bev is not None and req._on_complete is None and self._wait_drain is None:
            sock_bev._write_through(payload)
        else:
            self.bev.output.add(payload)

    def _send_error(self, req: HttpRequest, code: int, reason: str | None) -> None:
        self._check_current(req)
        self._write_error_page(req, code, reason, None)
        self._finish(req, close=True)

    def _write_error_page(
        self, req: HttpRequest | None, code: int, reason: str | None, body: str | None
    ) -> None:
        # evhttp_send_error: the handler's headers are dropped; the page says HTTP/1.1
        # and the connection closes after it.
        if reason is None:
            reason = reason_phrase(code)
        payload = self._error_page(req, code, reason, body)
        lines = [
            f"HTTP/1.1 {code} {reason}\r\n",
            "Content-Type: text/html\r\n",
            "Connection: close\r\n",
        ]
        if code == 405:
            allowed = self.server.allowed_methods
            names = [name for bit, name in METHOD_NAMES.items() if bit & allowed]
            lines.append(f"Allow: {', '.join(names)}\r\n")
        lines.append(f"Date: {http_date()}\r\n")
        lines.append(f"Content-Length: {len(payload)}\r\n\r\n")
        if req is not None:
            req.response_code = code
            req.response_code_line = reason
            req._replied = True
            req._close = True
        out = self.bev.output
        out.add("".join(lines).encode("latin-1", "replace"))
        if req is None or req.command != _HEAD:
            out.add(payload)

    def _error_page(
        self, req: HttpRequest | None, code: int, reason: str, body: str | None
    ) -> bytes:
        # The error callback's page, else ``body``, else evhttp's.
        page: str | bytes | None = body
        errorcb = self.server._errorcb
        if errorcb is not None and req is not None:
            buf = Evbuffer()
            result = errorcb(req, buf, code, reason, self.server._errorcb_arg)
            if result is None or result >= 0:
                page = buf.remove(len(buf))
        if page is None:
            page = _ERROR_PAGE.format(code=code, reason=reason)
        return page.encode("latin-1", "replace") if isinstance(page, str) else page

    def _reply_start(self, req: HttpRequest, code: int, reason: str | None) -> None:
        self._check_current(req)
        if reason is None:
            reason = reason_phrase(code)
        req.response_code = code
        req.response_code_line = reason
        req._replied = True
        req._streaming = True
        self.bev.output.add(self._make_head(req, code, reason, -1))

    def _chunked(self, req: HttpRequest) -> bool:
        te = req.output_headers.find("Transfer-Encoding")
        return te is not None and _has_token(te, "chunked")

    def _reply_chunk(
        self, req: HttpRequest, body: object, cb: Callable[[Any, Any], None] | None, arg: Any
    ) -> None:
        if not req._streaming or self._current is not req:
            raise HttpError("send_reply_chunk needs send_reply_start first")
        data = _body_bytes(body)
        n = len(data)
        out = self.bev.output
        if n and req.command != _HEAD and _response_has_body(req.response_code):
            chunked = self._chunked(req)
            if chunked:
                out.add(b"%x\r\n" % n)
            if isinstance(data, Evbuffer):
                out.add_buffer(data)
            else:
                out.add(data)
            if chunked:
                out.add(b"\r\n")
        elif isinstance(data, Evbuffer):
            data.drain(n)
        if cb is not None:
            self._when_drained(cb, self, arg)

    def _reply_end(self, req: HttpRequest) -> None:
        if not req._streaming or self._current is not req:
            raise HttpError("send_reply_end needs send_reply_start first")
        if self._chunked(req) and req.command != _HEAD and _response_has_body(req.response_code):
            self.bev.output.add(b"0\r\n\r\n")
        req._streaming = False
        self._finish(req, close=req._close)

    def _cancel(self, req: HttpRequest) -> None:
        raise HttpError("a request a server received cannot be cancelled; reply or free it")

    def _request_freed(self, req: HttpRequest) -> None:
        if req in self._queue:
            self._queue.remove(req)

    # -- after a reply ---------------------------------------------------------------------------

    def _finish(self, req: HttpRequest, close: bool) -> None:
        req._done = True
        if self._current is req:
            self._current = None
        if req._on_complete is not None:
            self._when_drained(_run_on_complete, req, None)
        elif not req._owned:
            req._owner = None
        if close or self._closing:
            self._start_closing()
        elif self._queue:
            if not self._processing:
                self._process_queue()
        elif self._rejected:
            self._send_pending_rejection()
        elif self._peer_done:
            self._start_closing()
        else:
            self._resume_reading()

    def _when_drained(self, cb: Callable[[Any, Any], None], target: Any, arg: Any) -> None:
        waiting = self._wait_drain
        if waiting is None:
            waiting = self._wait_drain = []
            self.bev.setcb(_on_read, _on_write, _on_event, self)
        waiting.append((cb, target, arg))

    def _drained(self) -> None:
        # The output reached its low watermark (0): everything queued so far is written.
        waiting = self._wait_drain
        if waiting is not None:
            self._wait_drain = None
            self.bev.setcb(_on_read, None, _on_event, self)
            for cb, target, arg in waiting:
                try:
                    cb(target, arg)
                except Exception as exc:
                    self.server.base._report(target, exc)
        if self._closing and not self._freed and not len(self.bev.output):
            self._close_now()

    # -- errors and closing ---------------------------------------------------------------------

    def _reject(self, status: int, message: str) -> None:
        # The request stream cannot be trusted any more: stop parsing, answer what came
        # before in order, then the error, then close.
        self._rejected = True
        self._pause_reading()
        if status == 0:
            self.free()
            return
        self._pending_status = status
        if self._current is None and not self._queue:
            self._send_pending_rejection()

    def _send_pending_rejection(self) -> None:
        status = self._pending_status
        if not status or self._freed:
            return
        self._pending_status = 0
        req = HttpRequest._incoming(self)
        self._write_error_page(req, status, None, None)
        self._start_closing()

    def _start_closing(self) -> None:
        self._closing = True
        self._pause_reading()
        if self._freed:
            return
        if not len(self.bev.output):
            self._close_now()
            return
        if self._wait_drain is None:
            self._wait_drain = []
            self.bev.setcb(_on_read, _on_write, _on_event, self)

    def _close_now(self) -> None:
        if self._rejected and not self._lingering:
            self._linger()
            return
        self.free()

    def _linger(self) -> None:
        # Half-close and swallow what the client still sends for a moment, so that it
        # reads the error reply rather than a reset (RFC 9112 §9.6).
        from levent.event import Event

        self._lingering = True
        self._linger_left = _LINGER_BYTES
        bev = self.bev
        try:
            fd = bev.getfd()
            if fd >= 0:
                with socket.socket(fileno=socket.dup(fd)) as sock:
                    sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.free()
            return
        bev.setcb(_on_read, None, _on_event, self)
        bev.enable(EV_READ)
        self._linger_timer = Event(self.server.base, -1, 0, _on_linger_timeout, self)
        self._linger_timer.add(_LINGER_SECONDS)

    def _event(self, what: int) -> None:
        if self._lingering:
            self.free()
            return
        if what & BEV_EVENT_TIMEOUT:
            if what & BEV_EVENT_READING:
                if self._current is not None or self._queue:
                    # The handler is still working: waiting for it is not the client's fault.
                    self.bev.enable(EV_READ)
                    return
                if self._parser.in_request:
                    self._reject(408, "request timeout")
                    return
            self.free()
            return
        if what & BEV_EVENT_ERROR:
            self.free()
            return
        if what & BEV_EVENT_EOF:
            if (self._current is not None or self._queue) and not self._rejected:
                # A half-close after a request: answer it, then close.
                self._peer_done = True
                self._pause_reading()
                return
            if self._closing and len(self.bev.output):
                return
            self.free()

    def free(self) -> None:
        """Close the connection now (``evhttp_connection_free``); requests in flight lose it."""
        if self._freed:
            return
        self._freed = True
        timer = self._linger_timer
        if timer is not None:
            timer.delete()
            self._linger_timer = None
        current = self._current
        if current is not None:
            current._owner = None
            self._current = None
        for req in self._queue:
            req._owner = None
        self._queue.clear()
        self._wait_drain = None
        if self._sock_bev is not None:
            self._sock_bev._set_sink(None)  # no cycle left behind
            self._sock_bev = None
        self.bev.free()
        self.server._connection_closed(self)
        cb = self._closecb
        if cb is not None:
            self._closecb = None
            cb(self, self._closecb_arg)

    # -- upgrades (WebSocket, CONNECT) ---------------------------------------------------------

    def take_over(self, req: HttpRequest) -> tuple[BufferEvent, bytes]:
        """Hand the connection to another protocol after ``req`` (an Upgrade or CONNECT):
        return its BufferEvent and the bytes that followed the request. The server forgets
        the connection; the caller owns the BufferEvent from now on."""
        if self._current is not req or req._replied:
            raise HttpError("only the request being served, before any reply, can take over")
        data = self._upgrade_data or b""
        self._upgrade_data = None
        req._replied = True
        req._done = True
        req._owner = None
        self._current = None
        self._freed = True
        self.server._connection_closed(self)
        bev = self.bev
        bev.setcb(None, None, None, None)
        if self._sock_bev is not None:
            self._sock_bev._set_sink(None)
            self._sock_bev = None
        return bev, data

    def __repr__(self) -> str:
        return f"<ServerConnection peer={self.peer!r} closed={self._freed}>"


# Running async handlers, each with its connection and request: the loop keeps only
# weak references to tasks.
_handler_tasks: dict[Any, tuple[ServerConnection, HttpRequest]] = {}


def _async_handler_done(task: Any) -> None:
    conn, req = _handler_tasks.pop(task)
    if task.cancelled():
        conn._async_failed(req)  # the loop is closing, most likely: nothing to report
        return
    exc = task.exception()
    if exc is None:
        return
    conn._async_failed(req)
    if isinstance(exc, Exception):
        conn.server.base._report(req, exc)


def _run_on_complete(req: HttpRequest, arg: Any) -> None:
    cb = req._on_complete
    if cb is not None:
        req._on_complete = None
        cb(req, req._on_complete_arg)
    if not req._owned:
        req._owner = None
