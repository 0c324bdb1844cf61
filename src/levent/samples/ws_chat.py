"""ws-chat: a WebSocket chat room on HttpServer (libevent 2.2's sample/ws-chat-server.c).

``levent ws-chat [--port 8080] [--address 127.0.0.1]``

``/`` serves a small chat page (HTML and JavaScript, kept in :data:`CHAT_PAGE`
so the sample is one file that installs with the package); ``/ws`` upgrades
with ``WebSocketConnection.new_session`` (``evws_new_session``). Every text
message is broadcast to everyone as ``[name] text``. Two commands:

* ``/name X`` renames the sender (at most 32 characters, no spaces); everyone
  sees ``* old is now known as X``;
* ``/quit`` announces ``* name left`` and closes the session with 1000.

Joins are announced (``* guest-N joined``), and a client that goes away without
``/quit`` is announced the same way. Connects and disconnects are logged on
stdout. SIGINT or SIGTERM ends the loop; the program then prints the number of
active connections (WebSocket sessions and plain HTTP ones, as the server
counts them) and exits 0. The first line on stdout is ``Listening on HOST:PORT``
(``--port 0`` picks a free port).

Where libevent's sample reads ``ws-chat.html`` from the current directory,
levent's embeds the page; it binds 127.0.0.1 by default, not every interface.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from levent import Event, EventBase
from levent.http import HttpRequest, HttpServer
from levent.http.websocket import WS_CR_NORMAL, WS_TEXT_FRAME, WebSocketConnection
from levent.samples import Sample

__all__ = ["CHAT_PAGE", "SAMPLE", "ChatRoom", "main"]

DEFAULT_PORT = 8080
DEFAULT_ADDRESS = "127.0.0.1"
#: A chat line is short: anything larger closes the session with 1009.
MAX_MESSAGE = 64 * 1024
MAX_NAME = 32

CHAT_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>levent ws-chat</title>
<style>
  body { font-family: sans-serif; margin: 2em auto; max-width: 40em; }
  #log { border: 1px solid #999; height: 24em; overflow-y: auto; padding: .5em;
         white-space: pre-wrap; font-family: monospace; }
  #line { width: 80%; }
  .note { color: #666; }
</style>
</head>
<body>
<h1>levent ws-chat</h1>
<div id="log"></div>
<form id="form">
  <input id="line" autocomplete="off" placeholder="say something, /name NEW or /quit">
  <button>Send</button>
</form>
<script>
"use strict";
const log = document.getElementById("log");
const line = document.getElementById("line");
function show(text, cls) {
  const div = document.createElement("div");
  div.textContent = text;
  if (cls) div.className = cls;
  log.appendChild(div);
  log.scrollTop = log.scrollHeight;
}
const scheme = location.protocol === "https:" ? "wss://" : "ws://";
const ws = new WebSocket(scheme + location.host + "/ws");
ws.onopen = () => show("connected", "note");
ws.onmessage = (ev) => show(ev.data);
ws.onclose = (ev) => show("disconnected (" + ev.code + ")", "note");
document.getElementById("form").onsubmit = (ev) => {
  ev.preventDefault();
  if (line.value && ws.readyState === WebSocket.OPEN) ws.send(line.value);
  line.value = "";
};
</script>
</body>
</html>
"""


class ChatRoom:
    """The sessions in the room and their names."""

    __slots__ = ("names", "next_guest")

    def __init__(self) -> None:
        self.names: dict[WebSocketConnection, str] = {}
        self.next_guest = 1

    def attach(self, http: HttpServer) -> None:
        """Serve the page on ``/`` and the chat on ``/ws``."""
        http.set_cb("/", page_cb, self)
        http.set_cb("/ws", ws_cb, self)

    def broadcast(self, text: str) -> None:
        """Send ``text`` to everyone in the room."""
        for ws in list(self.names):
            ws.send_text(text)

    def join(self, ws: WebSocketConnection, peer: str) -> None:
        """A new session: give it a guest name and tell the others."""
        name = f"guest-{self.next_guest}"
        self.next_guest += 1
        self.names[ws] = name
        ws.userdata = name
        print(f"Connected: {name} from {peer}", flush=True)
        self.broadcast(f"* {name} joined")

    def leave(self, ws: WebSocketConnection) -> None:
        """Take ``ws`` out of the room (if it is still there) and tell the others."""
        name = self.names.pop(ws, None)
        if name is not None:
            self.broadcast(f"* {name} left")

    def said(self, ws: WebSocketConnection, text: str) -> None:
        """One line from ``ws``: a command or something to broadcast."""
        name = self.names.get(ws)
        if name is None:
            return
        if text == "/quit":
            self.leave(ws)
            ws.close(WS_CR_NORMAL, "bye")
        elif text.startswith("/name ") or text == "/name":
            self.rename(ws, name, text[len("/name") :].strip())
        else:
            self.broadcast(f"[{name}] {text}")

    def rename(self, ws: WebSocketConnection, old: str, new: str) -> None:
        """``/name X``: X must be short, without spaces, and not taken."""
        if not new or len(new) > MAX_NAME or any(c.isspace() for c in new):
            ws.send_text(f"* a name is 1 to {MAX_NAME} characters without spaces")
        elif new in self.names.values():
            ws.send_text(f"* the name {new} is taken")
        else:
            self.names[ws] = new
            ws.userdata = new
            self.broadcast(f"* {old} is now known as {new}")


def page_cb(req: HttpRequest, room: ChatRoom) -> None:
    """``/``: the chat page."""
    req.output_headers.add("Content-Type", "text/html; charset=utf-8")
    req.send_reply(200, "OK", CHAT_PAGE)


def ws_cb(req: HttpRequest, room: ChatRoom) -> None:
    """``/ws``: upgrade and join the room (a non-WebSocket request gets 400)."""
    peer = f"{req.remote_host}:{req.remote_port}"
    ws = WebSocketConnection.new_session(req, on_message, room)
    if ws is None:
        return
    ws.max_message_size = MAX_MESSAGE
    ws.set_closecb(on_close, room)
    room.join(ws, peer)


def on_message(ws: WebSocketConnection, kind: int, data: str | bytes, room: ChatRoom) -> None:
    """A complete message; the chat speaks text only."""
    if kind == WS_TEXT_FRAME and isinstance(data, str):
        room.said(ws, data.strip())
    else:
        ws.send_text("* this chat takes text messages only")


def on_close(ws: WebSocketConnection, room: ChatRoom) -> None:
    """The session is over, by /quit, by the browser, or because the peer vanished."""
    room.leave(ws)
    print(f"Disconnected: {ws.userdata} (close code {ws.close_code})", flush=True)


def signal_cb(fd: int, event: int, base: EventBase) -> None:
    """SIGINT or SIGTERM: leave the loop."""
    base.loopexit()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """ws-chat's options."""
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"TCP port (default {DEFAULT_PORT}; 0 picks a free one, printed on stdout)",
    )
    parser.add_argument(
        "--address",
        default=DEFAULT_ADDRESS,
        help=f"address to listen on (default {DEFAULT_ADDRESS})",
    )


def run(args: argparse.Namespace) -> int:
    """Serve the chat until SIGINT/SIGTERM; print the active connection count."""
    if not 0 <= args.port <= 65535:
        print(f"ws-chat: port out of range: {args.port}", file=sys.stderr)
        return 2
    with EventBase() as base:
        http = HttpServer(base)
        room = ChatRoom()
        room.attach(http)
        try:
            bound = http.bind_socket_with_handle(args.address, args.port)
        except OSError as exc:
            print(f"ws-chat: cannot listen on {args.address}:{args.port}: {exc}", file=sys.stderr)
            http.free()
            return 1
        signals = [
            Event.signal(base, signal.SIGINT, signal_cb, base),
            Event.signal(base, signal.SIGTERM, signal_cb, base),
        ]
        for ev in signals:
            ev.add()
        host, port = bound.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        print(f"Listening on {shown}:{port}", flush=True)

        base.dispatch()

        print(f"Exiting; {http.get_connection_count()} active connections", flush=True)
        room.names.clear()  # no farewells: the loop that would send them is over
        http.free()
        for ev in signals:
            ev.free()
    return 0


SAMPLE = Sample(
    name="ws-chat",
    summary="a WebSocket chat room on HttpServer (libevent's ws-chat-server)",
    add_arguments=add_arguments,
    run=run,
    description=__doc__ or "",
)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m levent.samples.ws_chat [--port P] [--address A]``."""
    return SAMPLE.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
