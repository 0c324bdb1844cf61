"""echo-server: a TCP echo server on a Listener and BufferEvents (tutorial 10.3).

libevent's book builds this server from ``evconnlistener_new_bind`` and one
socket bufferevent per client whose read callback moves the input to the
output (``evbuffer_add_buffer``). levent's version is the same program, plus
the care a server needs in production:

* Back-pressure: when a client's output holds ``MAX_BUFFERED`` (1 MiB) the
  server stops reading from that client, and a write low watermark of half that
  resumes reading from the write callback — a client that sends but never reads
  costs a bounded amount of memory and slows nobody else.
* A client's EOF stops reading; what it sent is still echoed, then the
  connection closes (the write callback frees it once the output is empty).
* Errors (a reset peer) free the connection; the others lose nothing.
* ``EMFILE``/``ENFILE`` while accepting: the Listener reports it (printed on
  stderr as "pausing") and backs off instead of spinning.
* SIGINT and SIGTERM call ``loopexit()``; every connection is then freed and the
  program exits 0.

The port defaults to 9876 (9995 is hello-world's). ``--port 0`` binds an
ephemeral port. The first line on stdout is always ``Listening on HOST:PORT``.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
from collections.abc import Sequence
from typing import Any

from levent import (
    BEV_EVENT_EOF,
    BEV_EVENT_ERROR,
    BEV_OPT_CLOSE_ON_FREE,
    EV_READ,
    EV_WRITE,
    LEV_OPT_CLOSE_ON_FREE,
    LEV_OPT_REUSEABLE,
    BufferEvent,
    Event,
    EventBase,
    Listener,
)
from levent.samples import Sample

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9876
MAX_BUFFERED = 1 << 20  # stop reading from a client with this much not yet echoed
RESUME_BELOW = MAX_BUFFERED // 2  # ... and start again at or below this


class EchoServer:
    """The listener and the live connections (so that shutdown can free them all)."""

    __slots__ = ("base", "connections", "draining", "listener")

    def __init__(self, base: EventBase, listener: Listener) -> None:
        self.base = base
        self.listener = listener
        self.connections: set[BufferEvent] = set()
        #: Connections whose client sent EOF: they close once their output is empty.
        self.draining: set[BufferEvent] = set()

    def close(self, bev: BufferEvent) -> None:
        """Forget and free one connection."""
        self.connections.discard(bev)
        self.draining.discard(bev)
        bev.free()


def echo_read_cb(bev: BufferEvent, server: EchoServer) -> None:
    """Move everything that arrived to the output; stop reading if the client lags."""
    output = bev.output
    output.add_buffer(bev.input)
    if len(output) >= MAX_BUFFERED:
        # Resume from the write callback once half of it has gone out. The write
        # callback is set only now, so the common path pays no call per message.
        bev.disable(EV_READ)
        bev.setwatermark(EV_WRITE, RESUME_BELOW, 0)
        bev.setcb(echo_read_cb, resume_read_cb, echo_event_cb, server)


def resume_read_cb(bev: BufferEvent, server: EchoServer) -> None:
    """The lagging client caught up: read from it again."""
    bev.setwatermark(EV_WRITE, 0, 0)
    bev.setcb(echo_read_cb, None, echo_event_cb, server)
    bev.enable(EV_READ)


def close_when_flushed_cb(bev: BufferEvent, server: EchoServer) -> None:
    """After the client's EOF: everything it sent went back, so close."""
    if not len(bev.output):
        server.close(bev)


def echo_event_cb(bev: BufferEvent, events: int, server: EchoServer) -> None:
    """EOF: finish echoing, then close. An error (reset peer): close at once."""
    if events & BEV_EVENT_ERROR or not len(bev.output):
        server.close(bev)
    elif events & BEV_EVENT_EOF:
        server.draining.add(bev)
        bev.setwatermark(EV_WRITE, 0, 0)
        bev.setcb(None, close_when_flushed_cb, echo_event_cb, server)


def accept_conn_cb(
    listener: Listener, sock: socket.socket, address: Any, server: EchoServer
) -> None:
    """A new client: a bufferevent that echoes."""
    # As asyncio does for every TCP transport: an echo is latency-bound, and with
    # Nagle on the kernel also does more work per segment.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    bev = BufferEvent.socket(server.base, sock, BEV_OPT_CLOSE_ON_FREE)
    bev.setcb(echo_read_cb, None, echo_event_cb, server)
    bev.enable(EV_READ | EV_WRITE)
    server.connections.add(bev)


def accept_error_cb(listener: Listener, server: EchoServer) -> None:
    """accept() failed: out of fds pauses the listener (it backs off by itself)."""
    err = listener.error
    reason = err.strerror if err is not None else "unknown error"
    print(f"accept: {reason}; pausing", file=sys.stderr, flush=True)


def signal_cb(fd: int, event: int, base: EventBase) -> None:
    """SIGINT or SIGTERM: finish this loop pass, then exit cleanly."""
    print(f"Caught signal {fd}; exiting cleanly.", flush=True)
    base.loopexit()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """echo-server's options."""
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"TCP port (default {DEFAULT_PORT}; 0 picks a free one, printed on stdout)",
    )


def run(args: argparse.Namespace) -> int:
    """Listen, serve until SIGINT/SIGTERM, free everything."""
    if not 0 <= args.port <= 65535:
        print(f"echo-server: port out of range: {args.port}", file=sys.stderr)
        return 2
    with EventBase() as base:
        try:
            listener = Listener(
                base,
                None,
                None,
                LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE,
                socket.SOMAXCONN,
                address=(args.host, args.port),
            )
        except (OSError, ValueError) as exc:
            print(f"echo-server: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
            return 1
        server = EchoServer(base, listener)
        listener.set_cb(accept_conn_cb, server)
        listener.set_error_cb(accept_error_cb)
        signals = [
            Event.signal(base, signal.SIGINT, signal_cb, base),
            Event.signal(base, signal.SIGTERM, signal_cb, base),
        ]
        for ev in signals:
            ev.add()
        host, port = listener.socket.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        print(f"Listening on {shown}:{port}", flush=True)

        base.dispatch()

        for bev in list(server.connections):
            server.close(bev)
        listener.free()
        for ev in signals:
            ev.free()
    return 0


SAMPLE = Sample(
    name="echo-server",
    summary="a TCP echo server on a Listener and BufferEvents (tutorial 10.3)",
    add_arguments=add_arguments,
    run=run,
    description=__doc__ or "",
)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m levent.samples.echo_server [--host H] [--port P]``."""
    return SAMPLE.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
