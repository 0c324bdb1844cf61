"""WebSocket sessions (levent.http.websocket): libevent-reference.md §2.23 and §3.12.

A levent HttpServer runs in a thread (``http_helpers.ServerThread``); the client
is wsproto on a blocking socket, written here, so both framing directions are
checked independently of the server's code — and some frames are built by hand
(invalid UTF-8, unmasked frames, reserved opcodes) where wsproto would refuse to
send them. Where levent deliberately differs from libevent's ws.c (DESIGN.md §6:
pongs, continuation frames, complete close handshakes) the test says so.
"""

from __future__ import annotations

import base64
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from http_helpers import ServerThread, read_all, read_response
from wsproto.connection import Connection, ConnectionType
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Event,
    Message,
    Ping,
    Pong,
    TextMessage,
)

from levent import BEV_OPT_THREADSAFE, EventBase
from levent.http import HttpRequest, HttpServer
from levent.http.websocket import (
    WS_BINARY_FRAME,
    WS_TEXT_FRAME,
    WebSocketConnection,
    WebSocketProtocol,
    WsState,
    accept_token,
    new_session,
)
from levent.samples import ws_chat

KEY = "x3JJHMbDL1EzLkh9GBhXDw=="
ACCEPT = "HSmrc0sMlYUkAGmm5OPpG2HaGWk="
SRC = str(Path(__file__).resolve().parents[2] / "src")


# -- the client ---------------------------------------------------------------------


def upgrade_request(
    key: str = KEY, connection: str = "Upgrade", extra: str = "", path: str = "/ws"
) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: somehost\r\nConnection: {connection}\r\n"
        f"Upgrade: websocket\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\n{extra}\r\n"
    ).encode("latin-1")


def masked_frame(opcode: int, payload: bytes, fin: bool = True, mask: bool = True) -> bytes:
    """One client frame built by hand (payloads under 64 KiB)."""
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    bit = 0x80 if mask else 0
    length = bytes([bit | n]) if n < 126 else bytes([bit | 126]) + struct.pack("!H", n)
    head = bytes([first]) + length
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class WsClient:
    """A blocking WebSocket client: the handshake by hand, the framing by wsproto."""

    def __init__(self, port: int, request: bytes | None = None, trailing: bytes = b"") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.sendall((request or upgrade_request()) + trailing)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            assert chunk, f"closed during the handshake: {data!r}"
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = lines[0]
        self.headers = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
        }
        self.ws = Connection(ConnectionType.CLIENT)
        self.pending: list[Event] = []
        self.eof = False
        if rest:
            self.ws.receive_data(rest)

    def send(self, event: Event) -> None:
        self.sock.sendall(self.ws.send(event))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def next_event(self, timeout: float = 5.0) -> Event:
        """The next wsproto event; a CloseConnection with code 1006 on EOF."""
        deadline = time.monotonic() + timeout
        while True:
            self.pending.extend(self.ws.events())
            if self.pending:
                return self.pending.pop(0)
            assert not self.eof, "no more events: the server closed"
            left = deadline - time.monotonic()
            assert left > 0, "timed out waiting for a WebSocket event"
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.eof = True
                self.ws.receive_data(None)
            else:
                self.ws.receive_data(chunk)

    def message(self, timeout: float = 5.0) -> Message[Any]:
        """The next complete message (pongs skipped, fragments joined)."""
        parts: list[Any] = []
        while True:
            event = self.next_event(timeout)
            if isinstance(event, Pong):
                continue
            assert isinstance(event, Message), f"expected a message, got {event!r}"
            parts.append(event.data)
            if event.message_finished:
                data = "".join(parts) if isinstance(event, TextMessage) else b"".join(parts)
                return type(event)(data=data)

    def close_event(self) -> CloseConnection:
        while True:
            event = self.next_event()
            if isinstance(event, CloseConnection):
                return event

    def wait_eof(self, timeout: float = 5.0) -> None:
        """The server closes the TCP connection."""
        self.sock.settimeout(timeout)
        while True:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return
            if not chunk:
                return

    def close(self) -> None:
        self.sock.close()


# -- a server to talk to ---------------------------------------------------------------


class Echo:
    """``/ws`` echoes every message; "bye" makes the server close (1000); "big N" sets
    the message cap; the close callbacks are recorded."""

    def __init__(self) -> None:
        self.sessions: list[WebSocketConnection] = []
        self.closed: list[tuple[int | None, str]] = []
        self.received: list[tuple[int, str | bytes]] = []
        self.counts: list[int] = []
        self.max_message_size = 0
        self.done = threading.Event()

    def setup(self, http: HttpServer, base: EventBase) -> None:
        http.set_cb("/ws", self.handler)
        http.set_cb("/other", lambda req, arg: req.send_reply(200, "OK", b"other"))

    def handler(self, req: HttpRequest, arg: Any) -> None:
        ws = new_session(req, self.on_message, None)
        if ws is None:
            return
        if self.max_message_size:
            ws.max_message_size = self.max_message_size
        ws.set_closecb(self.on_close, req.connection)
        self.sessions.append(ws)

    def on_message(self, ws: WebSocketConnection, kind: int, data: str | bytes, arg: Any) -> None:
        self.received.append((kind, data))
        server = ws._server
        self.counts.append(server.get_connection_count())
        if data == "bye":
            ws.close(1000, "bye")
        elif kind == WS_TEXT_FRAME:
            assert isinstance(data, str)
            ws.send_text(data)
        else:
            assert isinstance(data, bytes)
            ws.send_binary(data)

    def on_close(self, ws: WebSocketConnection, arg: Any) -> None:
        self.closed.append((ws.close_code, ws.close_reason))
        self.counts.append(ws._server.get_connection_count())
        self.done.set()


def wait_for(pred: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


# -- the opening handshake (items 141, 142) -----------------------------------------------


def test_the_accept_value_for_the_rfc_key() -> None:
    assert accept_token(KEY) == ACCEPT


def test_given_the_rfc_key_the_101_carries_its_accept_value() -> None:
    """Item 142 (T: http/ws)."""
    echo = Echo()
    with ServerThread(echo.setup) as srv:
        client = WsClient(srv.port)
        assert client.status == "HTTP/1.1 101 Switching Protocols"
        assert client.headers["upgrade"].lower() == "websocket"
        assert client.headers["connection"].lower() == "upgrade"
        assert client.headers["sec-websocket-accept"] == ACCEPT
        assert "content-length" not in client.headers
        client.close()


def test_given_connection_keep_alive_upgrade_the_upgrade_is_accepted() -> None:
    """Item 142: ``Connection: keep-alive, Upgrade`` is an upgrade too."""
    echo = Echo()
    with ServerThread(echo.setup) as srv:
        client = WsClient(srv.port, upgrade_request(connection="keep-alive, Upgrade"))
        assert client.status.startswith("HTTP/1.1 101 ")
        client.send(TextMessage(data="hi"))
        assert client.message().data == "hi"
        client.close()


def test_given_a_subprotocol_list_the_first_offer_is_echoed() -> None:
    echo = Echo()
    with ServerThread(echo.setup) as srv:
        request = upgrade_request(extra="Sec-WebSocket-Protocol: chat, superchat\r\n")
        client = WsClient(srv.port, request)
        assert client.headers["sec-websocket-protocol"] == "chat"
        client.close()


def test_given_no_upgrade_headers_the_reply_is_400_and_the_connection_stays_open() -> None:
    """Item 141 (T: http/ws): 400 through send_reply — empty body, Content-Length 0,
    default Content-Type, no Connection: close — and the next request is served."""
    echo = Echo()
    with ServerThread(echo.setup) as srv, socket.create_connection(("127.0.0.1", srv.port)) as s:
        s.sendall(b"GET /ws HTTP/1.1\r\nHost: somehost\r\n\r\n")
        status, headers, body = read_response(s)
        assert status == "HTTP/1.1 400 Bad Request"
        assert headers["content-length"] == "0"
        assert headers["content-type"] == "text/html; charset=ISO-8859-1"
        assert "connection" not in headers
        assert body == b""
        s.sendall(b"GET /other HTTP/1.1\r\nHost: somehost\r\n\r\n")
        status, _, body = read_response(s)
        assert status == "HTTP/1.1 200 OK"
        assert body == b"other"
    assert echo.sessions == []


@pytest.mark.parametrize(
    "request_bytes",
    [
        upgrade_request(key="not base64!"),
        upgrade_request(key=base64.b64encode(b"short").decode()),
        upgrade_request().replace(b"Sec-WebSocket-Key: " + KEY.encode() + b"\r\n", b""),
        upgrade_request().replace(b"Upgrade: websocket", b"Upgrade: h2c"),
        upgrade_request().replace(b"GET ", b"POST "),
    ],
    ids=["bad-key", "short-key", "no-key", "other-protocol", "post"],
)
def test_given_an_invalid_upgrade_the_reply_is_400(request_bytes: bytes) -> None:
    echo = Echo()
    with ServerThread(echo.setup) as srv, socket.create_connection(("127.0.0.1", srv.port)) as s:
        s.sendall(request_bytes)
        status, headers, body = read_response(s)
    assert status == "HTTP/1.1 400 Bad Request"
    assert headers["content-length"] == "0"
    assert body == b""
    assert echo.sessions == []


def test_given_a_wrong_version_the_400_names_version_13() -> None:
    echo = Echo()
    request = upgrade_request().replace(b"Version: 13", b"Version: 8")
    with ServerThread(echo.setup) as srv, socket.create_connection(("127.0.0.1", srv.port)) as s:
        s.sendall(request)
        status, headers, _ = read_response(s)
    assert status == "HTTP/1.1 400 Bad Request"
    assert headers["sec-websocket-version"] == "13"


def test_given_frames_right_after_the_upgrade_request_they_are_delivered() -> None:
    """Bytes that came in the same segment as the request are the session's."""
    echo = Echo()
    with ServerThread(echo.setup) as srv:
        client = WsClient(srv.port, trailing=masked_frame(0x1, b"early"))
        assert client.message().data == "early"
        client.close()


# -- messages (item 143) ----------------------------------------------------------------------


def test_given_three_text_fragments_the_callback_runs_once_with_the_whole_message() -> None:
    """Item 143 (T: http/ws); libevent's ws.c rejects RFC continuation frames, levent
    assembles them (DESIGN.md §6)."""
    echo = Echo()
    with ServerThread(echo.setup) as srv:
        client = WsClient(srv.port)
        client.send(TextMessage(data="Client:", message_finished=False))
        client.send(TextMessage(data=" ", message_finished=False))
        client.send(TextMessage(data="hello", message_finished=True))
        assert client.message().data == "Client: hello"
        client.close()
    assert echo.received == [(WS_TEXT_FRAME, "Client: hello")]


def test_given_binary_fragments_and_a_ping_between_them_one_message_arrives() -> None:
    echo = Echo()
    with ServerThread(echo.setup) as srv:
        client = WsClient(srv.port)
        client.send(BytesMessage(data=b"\x00\x01", message_finished=False))
        client.send(Ping(payload=b"mid"))
        client.send(BytesMessage(data=b"\x02", message_finished=True))
        assert client.next_event() == Pong(payload=b"mid")
        assert client.message().data == b"\x00\x01\x02"
        client.close()
    assert echo.received == [(WS_BINARY_FRAME, b"\x00\x01\x02")]


def test_given_send_binary_of_5_bytes_the_client_gets_a_5_byte_binary_frame() -> None:
    """Item 143: checked on the raw bytes — FIN + opcode 2, unmasked, length 5."""
    echo = Echo()
    with ServerThread(echo.setup) as srv:
        client = WsClient(srv.port)
        client.send(BytesMessage(data=b"12345"))
        client.sock.settimeout(5)
        raw = b""
        while len(raw) < 7:
            chunk = client.sock.recv(64)
            assert chunk
            raw += chunk
        assert raw == b"\x82\x0512345"
        client.close()


def test_text_and_large_messages_use_the_right_length_forms() -> None:
    echo = Echo()
    with ServerThread(echo.setup) as srv:
        client = WsClient(srv.port)
        for n in (0, 125, 126, 65535, 65536, 300_000):
            payload = ("é" if n % 2 else "a") * n
            client.send(TextMessage(data=payload))
            assert client.message().data == payload
        client.close()


def test_given_a_ping_the_server_answers_with_a_pong_of_the_same_payload() -> None:
    """levent answers pings (libevent's ws.c ignores them: DESIGN.md §6)."""
    echo = Echo()
    with ServerThread(echo.setup) as srv:
        client = WsClient(srv.port)
        client.send(Ping(payload=b"are you there"))
        assert client.next_event() == Pong(payload=b"are you there")
        client.close()


def test_a_session_counts_as_a_connection_of_the_server() -> None:
    echo = Echo()
    with ServerThread(echo.setup) as srv:
        client = WsClient(srv.port)
        client.send(TextMessage(data="count"))
        client.message()
        client.send(CloseConnection(code=1000))
        client.close_event()
        assert echo.done.wait(5)
    assert echo.counts == [1, 0]


# -- closing ------------------------------------------------------------------------------------


def test_given_a_server_close_the_handshake_completes_and_the_closecb_runs() -> None:
    echo = Echo()
    with ServerThread(echo.setup) as srv:
        client = WsClient(srv.port)
        client.send(TextMessage(data="bye"))
        event = client.close_event()
        assert (event.code, event.reason) == (1000, "bye")
        client.send(event.response())
        client.wait_eof()
        assert echo.done.wait(5)
        client.close()
    assert echo.closed == [(1000, "bye")]


def test_given_a_client_close_the_server_answers_and_closes_the_tcp_connection() -> None:
    """Item 143: on a received close the server sends a close frame and the close
    callback runs."""
    echo = Echo()
    with ServerThread(echo.setup) as srv:
        client = WsClient(srv.port)
        client.send(CloseConnection(code=1001, reason="leaving"))
        event = client.close_event()
        assert event.code == 1001
        client.wait_eof()
        assert echo.done.wait(5)
        client.close()
    assert echo.closed == [(1001, "leaving")]


def test_given_a_close_without_status_the_reply_has_none_either() -> None:
    echo = Echo()
    with ServerThread(echo.setup) as srv:
        client = WsClient(srv.port)
        client.send_raw(masked_frame(0x8, b""))
        client.sock.settimeout(5)
        assert read_all(client.sock, 2) == b"\x88\x00<EOF>"
        client.close()
    assert echo.closed == [(1005, "")]


def test_given_a_peer_that_vanishes_the_closecb_runs_with_1006() -> None:
    echo = Echo()
    with ServerThread(echo.setup) as srv:
        client = WsClient(srv.port)
        client.send(TextMessage(data="x"))
        client.message()
        client.close()
        assert echo.done.wait(5)
    assert echo.closed == [(1006, "")]


def test_given_a_peer_that_never_answers_a_close_the_session_ends_anyway() -> None:
    import levent.http.websocket as websocket

    echo = Echo()
    old = websocket.CLOSE_TIMEOUT
    websocket.CLOSE_TIMEOUT = 0.2
    try:
        with ServerThread(echo.setup) as srv:
            client = WsClient(srv.port)
            client.send(TextMessage(data="bye"))
            client.close_event()
            client.wait_eof(3)
            assert echo.done.wait(3)
            client.close()
    finally:
        websocket.CLOSE_TIMEOUT = old
    assert echo.closed == [(1006, "")]


def test_sends_after_close_are_dropped_and_close_is_idempotent() -> None:
    seen: list[Any] = []

    def handler(req: HttpRequest, arg: Any) -> None:
        ws = new_session(req, None)
        assert ws is not None
        ws.close(4000, "first")
        ws.close(1000, "second")
        ws.send_text("too late")
        seen.append(ws.state)

    with ServerThread(lambda http, base: http.set_cb("/ws", handler)) as srv:
        client = WsClient(srv.port)
        event = client.close_event()
        assert (event.code, event.reason) == (4000, "first")
        client.send(event.response())
        client.wait_eof()
        client.close()
    assert seen == [WsState.CLOSING]


def test_given_a_read_timeout_the_user_set_an_idle_peer_gets_1001() -> None:
    """An open session has no read timeout of its own (idling is legitimate); one set
    on its bufferevent starts a polite close when it fires."""

    def handler(req: HttpRequest, arg: Any) -> None:
        ws = new_session(req, None)
        assert ws is not None
        ws.bufferevent.set_timeouts(0.2, None)

    with ServerThread(lambda http, base: http.set_cb("/ws", handler)) as srv:
        client = WsClient(srv.port)
        event = client.close_event()
        assert (event.code, event.reason) == (1001, "idle")
        client.send(event.response())
        client.wait_eof()
        client.close()


def test_an_open_session_may_idle_past_the_http_servers_timeouts() -> None:
    echo = Echo()

    def setup(http: HttpServer, base: EventBase) -> None:
        echo.setup(http, base)
        http.set_timeout(0.2)

    with ServerThread(setup) as srv:
        client = WsClient(srv.port)
        time.sleep(0.6)
        client.send(Ping(payload=b"still"))
        assert client.next_event() == Pong(payload=b"still")
        client.close()


def test_a_threadsafe_session_sends_from_another_thread() -> None:
    sessions: list[WebSocketConnection] = []

    def handler(req: HttpRequest, arg: Any) -> None:
        ws = new_session(req, None, None, BEV_OPT_THREADSAFE)
        assert ws is not None
        sessions.append(ws)

    with ServerThread(lambda http, base: http.set_cb("/ws", handler)) as srv:
        client = WsClient(srv.port)
        wait_for(lambda: sessions)
        sessions[0].send_text("from another thread")
        assert client.message().data == "from another thread"
        sessions[0].close()
        assert client.close_event().code == 1000
        client.close()


def test_given_a_client_that_does_not_read_the_server_pauses_and_loses_nothing() -> None:
    """Echoes pile up in the output: above 1 MiB the session stops reading until half
    of it is written, then goes on."""
    echo = Echo()
    blob = os.urandom(512 * 1024)
    count = 16
    with ServerThread(echo.setup) as srv:
        client = WsClient(srv.port)
        frames = b"".join(client.ws.send(BytesMessage(data=blob)) for _ in range(count))
        sender = threading.Thread(target=client.sock.sendall, args=(frames,), daemon=True)
        sender.start()
        time.sleep(0.3)  # let the server's output grow past the mark
        for _ in range(count):
            assert client.message(timeout=10).data == blob
        sender.join(5)
        client.close()


# -- bad input: a close code, the loop goes on ------------------------------------------------


def test_given_a_message_over_the_cap_the_server_closes_with_1009() -> None:
    echo = Echo()
    echo.max_message_size = 1000
    with ServerThread(echo.setup) as srv:
        client = WsClient(srv.port)
        client.send(TextMessage(data="small"))
        assert client.message().data == "small"
        client.send(BytesMessage(data=b"x" * 600, message_finished=False))
        client.send(BytesMessage(data=b"x" * 600, message_finished=True))
        assert client.close_event().code == 1009
        client.wait_eof()
        assert echo.done.wait(5)
        client.close()
    assert echo.closed == [(1009, "message too big")]


def test_given_invalid_utf8_in_a_text_message_the_server_closes_with_1007() -> None:
    echo = Echo()
    with ServerThread(echo.setup) as srv:
        client = WsClient(srv.port)
        client.send_raw(masked_frame(0x1, b"ok \xff\xfe"))
        assert client.close_event().code == 1007
        client.wait_eof()
        client.close()
    assert echo.received == []


@pytest.mark.parametrize(
    "frame",
    [
        masked_frame(0x1, b"unmasked", mask=False),
        masked_frame(0x3, b"reserved opcode"),
        masked_frame(0x0, b"continuation of nothing"),
        masked_frame(0x9, b"fragmented ping", fin=False),
        bytes([0xC1, 0x80]) + b"\x00\x00\x00\x00",  # RSV1 without an extension
    ],
    ids=["unmasked", "reserved-opcode", "lone-continuation", "fragmented-ping", "rsv1"],
)
def test_given_a_protocol_error_the_server_closes_with_1002(frame: bytes) -> None:
    echo = Echo()
    with ServerThread(echo.setup) as srv:
        client = WsClient(srv.port)
        client.send_raw(frame)
        assert client.close_event().code == 1002
        client.wait_eof()
        # The server goes on serving others.
        other = WsClient(srv.port)
        other.send(TextMessage(data="still here"))
        assert other.message().data == "still here"
        other.close()
        client.close()


def test_the_sans_io_protocol_without_a_socket() -> None:
    """WebSocketProtocol: bytes in, messages and bytes out."""
    proto = WebSocketProtocol()
    peer = Connection(ConnectionType.CLIENT)
    proto.receive_data(peer.send(TextMessage(data="a", message_finished=False)))
    proto.receive_data(peer.send(Ping(payload=b"p")))
    proto.receive_data(peer.send(TextMessage(data="b")))
    assert list(proto.messages()) == [(WS_TEXT_FRAME, "ab")]
    assert proto.send_message(b"bin")
    peer.receive_data(proto.data_to_send())
    assert list(peer.events()) == [
        Pong(payload=b"p"),
        BytesMessage(data=b"bin", frame_finished=True, message_finished=True),
    ]
    proto.receive_data(peer.send(CloseConnection(code=1000)))
    assert list(proto.messages()) == []
    assert proto.state is WsState.CLOSED
    peer.receive_data(proto.data_to_send())
    assert list(peer.events()) == [CloseConnection(code=1000, reason="")]
    with pytest.raises(ValueError):
        WebSocketProtocol().close(1006)


# -- the ws-chat sample -----------------------------------------------------------------------


def chat_setup(http: HttpServer, base: EventBase) -> None:
    ws_chat.ChatRoom().attach(http)


def test_the_chat_page_is_served_on_slash() -> None:
    with ServerThread(chat_setup) as srv, socket.create_connection(("127.0.0.1", srv.port)) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, body = read_response(s)
    assert status == "HTTP/1.1 200 OK"
    assert headers["content-type"].startswith("text/html")
    assert b"new WebSocket" in body


def test_chat_names_rename_and_quit() -> None:
    with ServerThread(chat_setup) as srv:
        alice = WsClient(srv.port)
        assert alice.message().data == "* guest-1 joined"
        bob = WsClient(srv.port)
        assert bob.message().data == "* guest-2 joined"
        assert alice.message().data == "* guest-2 joined"
        alice.send(TextMessage(data="/name alice"))
        assert alice.message().data == "* guest-1 is now known as alice"
        assert bob.message().data == "* guest-1 is now known as alice"
        alice.send(TextMessage(data="hello bob"))
        assert bob.message().data == "[alice] hello bob"
        assert alice.message().data == "[alice] hello bob"
        alice.send(TextMessage(data="/quit"))
        assert bob.message().data == "* alice left"
        event = alice.close_event()
        assert event.code == 1000
        alice.send(event.response())
        alice.wait_eof()
        bob.close()
        alice.close()


def test_fifty_chat_clients_each_see_every_message() -> None:
    n = 50
    with ServerThread(chat_setup) as srv:
        clients = []
        for i in range(n):
            c = WsClient(srv.port)
            # Our own join is the last announcement before we speak.
            while c.message().data != f"* guest-{i + 1} joined":
                pass
            clients.append(c)
        for i, c in enumerate(clients):
            c.send(TextMessage(data=f"message {i}"))
        for c in clients:
            got = []
            while len(got) < n:
                text = c.message().data
                if text.startswith("["):
                    got.append(text)
            assert sorted(got) == sorted(f"[guest-{i + 1}] message {i}" for i in range(n))
        for c in clients:
            c.close()


# -- the sample as a program ------------------------------------------------------------------


def test_ws_chat_runs_as_a_program_and_exits_on_sigint() -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen(
        [sys.executable, "-m", "levent.samples.ws_chat", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 10)
        assert ready, "the sample printed nothing"
        line = proc.stdout.readline().decode()
        assert line.startswith("Listening on 127.0.0.1:"), line
        port = int(line.rsplit(":", 1)[1])
        client = WsClient(port)
        assert client.message().data == "* guest-1 joined"
        client.send(TextMessage(data="hi"))
        assert client.message().data == "[guest-1] hi"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        client.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    text = out.decode()
    assert "Connected: guest-1 from 127.0.0.1:" in text
    assert "Exiting; 1 active connections" in text
