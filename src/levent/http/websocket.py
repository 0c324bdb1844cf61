"""WebSocket server sessions on an HttpServer (libevent 2.2's ``evws``, RFC 6455).

A handler turns an incoming request into a session with
``WebSocketConnection.new_session(req, cb, arg)`` (``evws_new_session``; the
module function :func:`new_session` is the same). The opening handshake is
levent's own, on the request llhttp already parsed; the framing is wsproto's
(DESIGN.md §4). Three layers, each testable on its own:

* the handshake: :func:`check_upgrade` and :func:`accept_token` are pure
  functions of the request headers;
* :class:`WebSocketProtocol`: the sans-IO session (bytes in, complete messages
  and bytes to send out) — message assembly, the size cap, pongs and the close
  handshake live there and nowhere else;
* :class:`WebSocketConnection`: the thin glue between that and the
  BufferEvent the HTTP server hands over (``ServerConnection.take_over``).

Where levent differs from libevent's ws.c (DESIGN.md §6): pings are answered,
RFC continuation frames assemble into one message, text must be valid UTF-8
(else close 1007), a message above ``max_message_size`` closes with 1009,
protocol errors (unmasked client frames among them, RFC 6455 §5.1) close with
1002, a close frame from the peer is answered with one, a close of ours waits
(at most CLOSE_TIMEOUT) for the peer's reply, ``close(0)`` sends a close frame
without a status code instead of the invalid code 0, and the request must be a
GET over HTTP/1.1 with ``Sec-WebSocket-Version: 13`` and a key of 16 base64
bytes. Text messages reach the callback as ``str``, binary ones as ``bytes``.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
from collections.abc import Callable, Iterator
from typing import Any

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage

from levent.bufferevent import (
    BEV_EVENT_EOF,
    BEV_EVENT_READING,
    BEV_EVENT_TIMEOUT,
    BEV_OPT_THREADSAFE,
    BEV_TRIG_DEFER_CALLBACKS,
    BEV_TRIG_IGNORE_WATERMARKS,
    BufferEvent,
)
from levent.constants import EV_READ, EV_WRITE
from levent.event import Event

from .request import HttpRequest
from .server import HttpServer

__all__ = [
    "CLOSE_TIMEOUT",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "WEBSOCKET_GUID",
    "WS_BINARY_FRAME",
    "WS_CR",
    "WS_CR_ABNORMAL",
    "WS_CR_DATA_TOO_BIG",
    "WS_CR_GOING_AWAY",
    "WS_CR_INTERNAL_ERROR",
    "WS_CR_INVALID_DATA",
    "WS_CR_NONE",
    "WS_CR_NORMAL",
    "WS_CR_NO_STATUS",
    "WS_CR_PROTO_ERR",
    "WS_FRAME",
    "WS_TEXT_FRAME",
    "WebSocketConnection",
    "WebSocketProtocol",
    "WsState",
    "accept_token",
    "check_upgrade",
    "new_session",
]

#: RFC 6455 §1.3: appended to the client's key before hashing.
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: Largest message (bytes of payload, after assembly) a session accepts; beyond: 1009.
DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024
#: Seconds a closing session waits for the peer's close frame (or for its own
#: close frame to be written) before dropping the TCP connection.
CLOSE_TIMEOUT = 5.0
# Output above this stops reading from the peer until half of it has gone: a peer
# that pings without reading its pongs costs bounded memory.
_OUTPUT_HIGH = 1024 * 1024
_OUTPUT_RESUME = _OUTPUT_HIGH // 2
# RFC 6455 §7.4.1: codes an endpoint must never put in a close frame.
_LOCAL_ONLY_CODES = frozenset((1004, 1005, 1006, 1015))
_MAX_REASON_BYTES = 123


class WS_FRAME(enum.IntEnum):
    """Message types as ws.h numbers them (the RFC's opcodes)."""

    TEXT = 0x1
    BINARY = 0x2


WS_TEXT_FRAME = WS_FRAME.TEXT
WS_BINARY_FRAME = WS_FRAME.BINARY


class WS_CR(enum.IntEnum):
    """Close codes: ws.h's four, and the RFC 6455 §7.4.1 ones levent also uses."""

    NONE = 0
    NORMAL = 1000
    GOING_AWAY = 1001
    PROTO_ERR = 1002
    NO_STATUS = 1005
    ABNORMAL = 1006
    INVALID_DATA = 1007
    DATA_TOO_BIG = 1009
    INTERNAL_ERROR = 1011


WS_CR_NONE = WS_CR.NONE
WS_CR_NORMAL = WS_CR.NORMAL
WS_CR_GOING_AWAY = WS_CR.GOING_AWAY
WS_CR_PROTO_ERR = WS_CR.PROTO_ERR
WS_CR_NO_STATUS = WS_CR.NO_STATUS
WS_CR_ABNORMAL = WS_CR.ABNORMAL
WS_CR_INVALID_DATA = WS_CR.INVALID_DATA
WS_CR_DATA_TOO_BIG = WS_CR.DATA_TOO_BIG
WS_CR_INTERNAL_ERROR = WS_CR.INTERNAL_ERROR

#: ``cb(ws, message_type, data, arg)``: data is ``str`` for WS_TEXT_FRAME, ``bytes`` for binary.
MessageCallback = Callable[["WebSocketConnection", int, "str | bytes", Any], None]
#: ``cb(ws, arg)``: the session is over (``evws_connection_set_closecb``).
CloseCallback = Callable[["WebSocketConnection", Any], None]


# -- the opening handshake (RFC 6455 §4.2) -----------------------------------------


def accept_token(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key``."""
    digest = hashlib.sha1((key + WEBSOCKET_GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def _tokens(req: HttpRequest, name: str) -> list[str]:
    # A comma-separated header, possibly on several lines, as lower-case tokens.
    values = req.input_headers.find_all(name)
    return [part.strip().lower() for value in values for part in value.split(",")]


def check_upgrade(req: HttpRequest) -> str | None:
    """The client's key if ``req`` is a valid WebSocket upgrade request, else None.

    Valid: GET over HTTP/1.1 or later, ``Upgrade`` listing ``websocket`` and
    ``Connection`` listing ``upgrade`` (case-insensitive tokens, so
    ``Connection: keep-alive, Upgrade`` passes), ``Sec-WebSocket-Version: 13`` and a
    ``Sec-WebSocket-Key`` that is 16 bytes in base64.
    """
    if req.method != "GET" or (req.major, req.minor) < (1, 1):
        return None
    if "websocket" not in _tokens(req, "Upgrade") or "upgrade" not in _tokens(req, "Connection"):
        return None
    if (req.input_headers.find("Sec-WebSocket-Version") or "").strip() != "13":
        return None
    key = (req.input_headers.find("Sec-WebSocket-Key") or "").strip()
    try:
        raw = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        return None
    return key if len(raw) == 16 else None


def _switching_head(req: HttpRequest, key: str) -> bytes:
    # The 101 is written straight to the taken-over bufferevent: send_reply would add
    # Content-Length and Content-Type and then wait for another request. Headers the
    # handler put in output_headers go out too (Set-Cookie, its own subprotocol choice).
    lines = [
        "HTTP/1.1 101 Switching Protocols\r\n",
        "Upgrade: websocket\r\n",
        "Connection: Upgrade\r\n",
        f"Sec-WebSocket-Accept: {accept_token(key)}\r\n",
    ]
    own = {"upgrade", "connection", "sec-websocket-accept", "content-length"}
    if req.output_headers.find("Sec-WebSocket-Protocol") is None:
        # As evws: echo the subprotocol — but only the first one offered, since a
        # server must pick one, and a browser fails on a list it did not send back.
        first = (req.input_headers.find("Sec-WebSocket-Protocol") or "").split(",")[0].strip()
        if first:
            lines.append(f"Sec-WebSocket-Protocol: {first}\r\n")
    for name, value in req.output_headers:
        if name.lower() not in own:
            lines.append(f"{name}: {value}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("latin-1", "replace")


# -- the sans-IO session ----------------------------------------------------------------


class WsState(enum.IntEnum):
    """Where a session is. The transitions, all in :class:`WebSocketProtocol`:

    ========  =====================================  =========
    from      on                                     to
    ========  =====================================  =========
    OPEN      ``close()`` (our close frame queued)    CLOSING
    OPEN      peer's close frame (answered at once)   CLOSED
    OPEN      protocol error / 1007 / 1009 (close     CLOSED
              frame queued; the peer is not waited
              for: RFC 6455 §7.1.7 "fail")
    CLOSING   peer's close frame                      CLOSED
    CLOSING   protocol error                          CLOSED
    any       peer's EOF or a lost connection         CLOSED
    ========  =====================================  =========

    In CLOSING, data messages still arriving are dropped. CLOSED means: write
    what is queued, then close the TCP connection (the server closes first, §7.1.1).
    """

    OPEN = 0
    CLOSING = 1
    CLOSED = 2


class WebSocketProtocol:
    """The server side of one WebSocket without I/O, on ``wsproto.Connection``.

    Feed received bytes with :meth:`receive_data`, iterate :meth:`messages` for the
    complete messages they finish, and send :meth:`data_to_send` to the peer after
    each step (pongs and close replies are queued there automatically).
    """

    __slots__ = (
        "_conn",
        "_out",
        "_parts",
        "_size",
        "close_code",
        "close_reason",
        "max_message_size",
        "state",
    )

    def __init__(self, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        self._conn = Connection(ConnectionType.SERVER)
        self._out = bytearray()
        # The message being assembled from fragments: its pieces and their size in bytes
        # (wsproto keeps its type: every fragment comes with the first one's).
        self._parts: list[Any] = []
        self._size = 0
        #: Cap on one message's payload in bytes (1009 beyond); 0 or less: none.
        self.max_message_size = max_message_size
        self.state = WsState.OPEN
        #: Why the session ended: the peer's close code (1005 if its frame had none),
        #: the code levent failed the connection with, or 1006 (no close frame).
        self.close_code: int | None = None
        self.close_reason = ""

    # -- input -------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Take bytes from the peer (ignored once the session is CLOSED)."""
        if self.state is not WsState.CLOSED:
            self._conn.receive_data(data)

    def receive_eof(self) -> None:
        """The peer's side of the TCP connection ended."""
        if self.state is not WsState.CLOSED:
            self.state = WsState.CLOSED
            if self.close_code is None:
                self.close_code = WS_CR_ABNORMAL

    def messages(self) -> Iterator[tuple[WS_FRAME, str | bytes]]:
        """The complete messages in what was received, as (type, data), one at a time:
        a caller may send or close between two of them."""
        for event in self._conn.events():
            if type(event) is TextMessage or type(event) is BytesMessage:
                if self.state is WsState.OPEN:
                    message = self._assemble(event)
                    if message is not None:
                        yield message
            elif type(event) is Ping:
                if self.state is WsState.OPEN:
                    self._out += self._conn.send(event.response())
            elif type(event) is CloseConnection:
                self._closed_by(event)
            # A Pong needs nothing.

    def _assemble(self, event: TextMessage | BytesMessage) -> tuple[WS_FRAME, str | bytes] | None:
        data: str | bytes
        if isinstance(event, TextMessage):
            data = event.data
            # Count bytes, not characters; ASCII (the common case) needs no encoding.
            n = len(data) if data.isascii() else len(data.encode("utf-8"))
            kind = WS_TEXT_FRAME
        else:
            data = bytes(event.data)
            n = len(data)
            kind = WS_BINARY_FRAME
        size = self._size + n
        limit = self.max_message_size
        if 0 < limit < size:
            self.fail(WS_CR_DATA_TOO_BIG, "message too big")
            return None
        parts = self._parts
        if event.message_finished:
            if parts:
                parts.append(data)
                data = "".join(parts) if kind is WS_TEXT_FRAME else b"".join(parts)
                parts.clear()
            self._size = 0
            return kind, data
        parts.append(data)
        self._size = size
        return None

    def _closed_by(self, event: CloseConnection) -> None:
        # wsproto reports both a close frame and its own parse failure as a
        # CloseConnection; its state tells them apart (a frame moves it on).
        if self.state is WsState.CLOSED:
            return  # we failed the connection already; the peer's reply changes nothing
        conn_state = self._conn.state
        if conn_state is ConnectionState.REMOTE_CLOSING:
            # The peer closes first: answer with its code (RFC 6455 §5.5.1).
            self._out += self._conn.send(CloseConnection(code=event.code))
        elif conn_state is not ConnectionState.CLOSED:
            # A parse failure: 1002, or 1007 for invalid UTF-8.
            self.fail(event.code, event.reason or "")
            return
        self.state = WsState.CLOSED
        self.close_code = int(event.code)
        self.close_reason = event.reason or ""
        self._parts.clear()

    # -- output --------------------------------------------------------------------

    def send_message(self, data: str | bytes) -> bool:
        """Queue one final frame: text for ``str``, binary for bytes; False (nothing
        queued) unless the session is OPEN."""
        if self.state is not WsState.OPEN:
            return False
        if isinstance(data, str):
            self._out += self._conn.send(TextMessage(data=data))
        else:
            self._out += self._conn.send(BytesMessage(data=data))
        return True

    def close(self, code: int = WS_CR_NORMAL, reason: str = "") -> bool:
        """Queue our close frame (OPEN → CLOSING); False if already closing or closed.
        ``code`` 0 sends a close frame without a status code."""
        _check_close(code, reason)
        if self.state is not WsState.OPEN:
            return False
        self._send_close(code, reason)
        self.state = WsState.CLOSING
        return True

    def fail(self, code: int, reason: str = "") -> None:
        """Fail the connection (RFC 6455 §7.1.7): queue a close frame if none went out
        yet, and stop (CLOSED) without waiting for the peer."""
        if self.state is WsState.CLOSED:
            return
        if self._conn.state is ConnectionState.OPEN:
            self._send_close(code, reason)
        self.state = WsState.CLOSED
        self.close_code = int(code)
        self.close_reason = reason
        self._parts.clear()

    def _send_close(self, code: int, reason: str) -> None:
        if not code:
            self._out += self._conn.send(CloseConnection(code=WS_CR_NO_STATUS))
        else:
            self._out += self._conn.send(CloseConnection(code=int(code), reason=reason or None))

    def data_to_send(self) -> bytes:
        """What to write to the peer now (b"" if nothing)."""
        out = self._out
        if not out:
            return b""
        data = bytes(out)
        out.clear()
        return data

    def __repr__(self) -> str:
        return f"<WebSocketProtocol {self.state.name} close_code={self.close_code}>"


def _check_close(code: int, reason: str) -> None:
    if not isinstance(code, int) or isinstance(code, bool):
        raise TypeError(f"a close code must be an int, not {type(code).__name__}")
    if code == 0:
        if reason:
            raise ValueError("a close reason needs a close code")
        return
    if not 1000 <= code <= 4999 or code in _LOCAL_ONLY_CODES:
        raise ValueError(f"{code} cannot be sent in a close frame (RFC 6455 §7.4)")
    if len(reason.encode("utf-8")) > _MAX_REASON_BYTES:
        raise ValueError(f"a close reason is at most {_MAX_REASON_BYTES} bytes of UTF-8")


# -- the HttpServer's side --------------------------------------------------------------
#
# A session counts toward its server's connection count (and max_connections) and is
# freed by HttpServer.free(), as in libevent.


def _count_session(server: HttpServer, ws: WebSocketConnection) -> None:
    server._connection_opened(ws)


def _uncount_session(server: HttpServer, ws: WebSocketConnection) -> None:
    server._connection_closed(ws)


# -- the session on a bufferevent ---------------------------------------------------------


def _on_read(bev: BufferEvent, ws: WebSocketConnection) -> None:
    ws._read()


def _on_write(bev: BufferEvent, ws: WebSocketConnection) -> None:
    ws._written()


def _on_event(bev: BufferEvent, what: int, ws: WebSocketConnection) -> None:
    ws._event(what)


def _on_close_timeout(fd: int, what: int, ws: WebSocketConnection) -> None:
    ws.free()


class WebSocketConnection:
    """One server-side WebSocket session (``struct evws_connection``).

    Made by :meth:`new_session` from an HTTP request; ``cb(ws, type, data, arg)``
    runs once per complete message. The session owns the connection's BufferEvent
    (:attr:`bufferevent`) until it is freed; the close callback then runs once.
    """

    __slots__ = (
        "_cb",
        "_cbarg",
        "_closecb",
        "_closecb_arg",
        "_freed",
        "_paused",
        "_proto",
        "_server",
        "_timer",
        "bev",
        "userdata",
    )

    def __init__(
        self,
        bev: BufferEvent,
        cb: MessageCallback | None,
        arg: Any = None,
        server: Any = None,
    ) -> None:
        """A session on an already upgraded ``bev`` (``new_session`` does the upgrade)."""
        self.bev = bev
        self._cb = cb
        self._cbarg = arg
        self._closecb: CloseCallback | None = None
        self._closecb_arg: Any = None
        self._proto = WebSocketProtocol()
        self._server = server
        self._timer: Event | None = None
        self._paused = False
        self._freed = False
        #: Free for the user (a chat sample keeps the nickname here).
        self.userdata: Any = None

    @classmethod
    def new_session(
        cls, req: HttpRequest, cb: MessageCallback | None, arg: Any = None, options: int = 0
    ) -> WebSocketConnection | None:
        """Upgrade ``req`` to a WebSocket (``evws_new_session``).

        Not a valid upgrade request (see :func:`check_upgrade`): reply 400 with an
        empty body through ``req.send_reply`` and return None. Otherwise take the
        connection over from the HTTP server, write the 101, and return the session.
        ``options`` may hold ``BEV_OPT_THREADSAFE``: the session's methods may then be
        called from other threads. None too if the client is already gone.
        """
        if options & ~BEV_OPT_THREADSAFE:
            raise ValueError(f"unknown WebSocket session options {options:#x}")
        key = check_upgrade(req)
        if key is None:
            if (req.input_headers.find("Sec-WebSocket-Version") or "13").strip() != "13":
                req.output_headers.add("Sec-WebSocket-Version", "13")
            req.send_reply(400, "Bad Request", b"")
            return None
        conn = req.connection
        take_over = getattr(conn, "take_over", None)
        if take_over is None:
            return None
        server = getattr(conn, "server", None)
        bev, leftover = take_over(req)
        if options & BEV_OPT_THREADSAFE:
            bev._enable_locking(None)
        ws = cls(bev, cb, arg, server)
        if server is not None:
            _count_session(server, ws)
        ws._start(_switching_head(req, key), leftover, getattr(server, "_timeout_write", None))
        return ws

    # -- set-up ------------------------------------------------------------------------

    def _start(self, head: bytes, leftover: bytes, write_timeout: float | None) -> None:
        bev = self.bev
        bev.output.add(head)
        bev.setcb(_on_read, None, _on_event, self)
        # An open WebSocket idles legitimately: no read timeout (bev.set_timeouts to add
        # one; it then starts a 1001 close). A peer that stops reading still times out.
        bev.set_timeouts(None, write_timeout)
        bev.enable(EV_READ | EV_WRITE)
        if leftover:
            bev.input.prepend(leftover)
        if len(bev.input):
            # Frames that came with the upgrade request: read them from the loop, once
            # new_session has returned and the caller holds the session.
            bev.trigger(EV_READ, BEV_TRIG_DEFER_CALLBACKS | BEV_TRIG_IGNORE_WATERMARKS)

    # -- evws_* ------------------------------------------------------------------------

    def send_text(self, text: str) -> None:
        """Send ``text`` as one text message (``evws_send_text``); dropped once closing."""
        if type(text) is not str:
            raise TypeError(f"send_text needs a str, not {type(text).__name__}")
        self._send(text)

    def send_binary(self, data: bytes | bytearray | memoryview) -> None:
        """Send ``data`` as one binary message (``evws_send_binary``); dropped once closing."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"send_binary needs bytes, not {type(data).__name__}")
        self._send(bytes(data))

    def _send(self, data: str | bytes) -> None:
        bev = self.bev
        bev.lock()
        try:
            if not self._freed and self._proto.send_message(data):
                self._flush()
        finally:
            bev.unlock()

    def close(self, code: int = WS_CR_NORMAL, reason: str = "") -> None:
        """Start the close handshake (``evws_close``): send a close frame, then wait up to
        CLOSE_TIMEOUT for the peer's; the close callback runs when the session ends.
        Idempotent. ``code`` 0 (WS_CR_NONE) sends a close frame without a status code."""
        bev = self.bev
        bev.lock()
        try:
            if self._freed:
                _check_close(code, reason)
                return
            if self._proto.close(code, reason):
                self._flush()
                self._arm_close_timer()
        finally:
            bev.unlock()

    def set_closecb(self, cb: CloseCallback | None, arg: Any = None) -> None:
        """``cb(ws, arg)`` once the session is over (``evws_connection_set_closecb``)."""
        self._closecb = cb
        self._closecb_arg = arg

    @property
    def bufferevent(self) -> BufferEvent:
        """The connection's BufferEvent (``evws_connection_get_bufferevent``)."""
        return self.bev

    @property
    def state(self) -> WsState:
        """OPEN, CLOSING (our close frame sent) or CLOSED."""
        return self._proto.state

    @property
    def close_code(self) -> int | None:
        """Why the session ended (see :attr:`WebSocketProtocol.close_code`); None while open."""
        return self._proto.close_code

    @property
    def close_reason(self) -> str:
        """The reason text that came with :attr:`close_code`."""
        return self._proto.close_reason

    @property
    def max_message_size(self) -> int:
        """Cap on one incoming message in bytes (default 16 MiB; 1009 beyond; 0: none)."""
        return self._proto.max_message_size

    @max_message_size.setter
    def max_message_size(self, size: int) -> None:
        self._proto.max_message_size = int(size)

    @property
    def freed(self) -> bool:
        """True once the session is over and its connection closed."""
        return self._freed

    # -- I/O -----------------------------------------------------------------------------

    def _flush(self) -> None:
        data = self._proto.data_to_send()
        if data:
            self.bev.output.add(data)

    def _read(self) -> None:
        inp = self.bev.input
        proto = self._proto
        try:
            proto.receive_data(inp.remove(len(inp)))
            for kind, data in proto.messages():
                self._flush()
                self._deliver(kind, data)
                if self._freed:
                    return
            self._flush()
        except Exception as exc:
            # Not the peer's fault (wsproto turns bad input into a CloseConnection): a
            # bug of ours. Say so, and end the session cleanly.
            self.bev.base._report(self, exc)
            proto.fail(WS_CR_INTERNAL_ERROR, "internal error")
            self._flush()
        self._after_io()

    def _deliver(self, kind: WS_FRAME, data: str | bytes) -> None:
        cb = self._cb
        if cb is None:
            return
        try:
            cb(self, kind, data, self._cbarg)
        except Exception as exc:
            self.bev.base._report(self, exc)

    def _after_io(self) -> None:
        # After input was handled: finish a CLOSED session once its output is out, or
        # push back on a peer whose replies pile up.
        if self._freed:
            return
        if self._proto.state is WsState.CLOSED:
            self._finish()
        elif not self._paused and len(self.bev.output) > _OUTPUT_HIGH:
            self._paused = True
            bev = self.bev
            bev.disable(EV_READ)
            bev.setwatermark(EV_WRITE, _OUTPUT_RESUME, 0)
            bev.setcb(_on_read, _on_write, _on_event, self)

    def _finish(self) -> None:
        bev = self.bev
        if not len(bev.output):
            self.free()
            return
        bev.disable(EV_READ)
        bev.setwatermark(EV_WRITE, 0, 0)
        bev.setcb(None, _on_write, _on_event, self)
        self._arm_close_timer()

    def _written(self) -> None:
        if self._freed:
            return
        if self._proto.state is WsState.CLOSED:
            if not len(self.bev.output):
                self.free()
            return
        if self._paused:
            self._paused = False
            bev = self.bev
            bev.setwatermark(EV_WRITE, 0, 0)
            bev.setcb(_on_read, None, _on_event, self)
            bev.enable(EV_READ)

    def _arm_close_timer(self) -> None:
        if self._timer is None:
            self._timer = Event.timer(self.bev.base, _on_close_timeout, self)
            self._timer.add(CLOSE_TIMEOUT)

    def _event(self, what: int) -> None:
        proto = self._proto
        if what & BEV_EVENT_TIMEOUT and what & BEV_EVENT_READING and proto.state is WsState.OPEN:
            # A read timeout the user set: the peer idled too long; close politely.
            self.bev.enable(EV_READ)
            self.close(WS_CR_GOING_AWAY, "idle")
            return
        if what & BEV_EVENT_EOF:
            proto.receive_eof()
            self._finish()
            return
        # An error, a write timeout, or a timeout while closing: the peer is gone.
        proto.receive_eof()
        self.free()

    # -- lifetime ------------------------------------------------------------------------

    def free(self) -> None:
        """Close the connection now (``evws_connection_free``); queued output is dropped.
        The close callback runs (once)."""
        if self._freed:
            return
        self._freed = True
        self._proto.receive_eof()
        timer = self._timer
        if timer is not None:
            self._timer = None
            timer.free()
        self.bev.free()
        if self._server is not None:
            _uncount_session(self._server, self)
        cb = self._closecb
        if cb is not None:
            self._closecb = None
            try:
                cb(self, self._closecb_arg)
            except Exception as exc:
                self.bev.base._report(self, exc)

    def __repr__(self) -> str:
        p = self._proto
        return f"<WebSocketConnection {p.state.name} close_code={p.close_code} freed={self._freed}>"


#: ``evws_new_session(req, cb, arg, options)``.
new_session = WebSocketConnection.new_session
