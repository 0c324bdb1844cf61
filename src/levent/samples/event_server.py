"""event-server: a TCP echo server on raw events and Evbuffers, no bufferevents (tutorial 10.2).

It follows the libevent book's low-level server ("a ROT13 server with
``event_new``") with its names: ``FdState``, ``alloc_fd_state``,
``free_fd_state``, ``do_read``, ``do_write``, ``do_accept``. It echoes instead of
ROT13-ing lines, and it does by hand the back-pressure that bufferevents do for
``echo-server`` (10.3):

* Data received is sent back at once from the read callback. ``EV_WRITE`` is
  armed only when the kernel did not take everything — the rest waits in the
  client's ``Evbuffer`` — and disarmed as soon as that buffer is drained: no
  ``epoll_ctl`` churn per message.
* When a client's buffer holds ``MAX_BUFFERED`` (1 MiB) the read event is
  deleted, so a client that sends but never reads costs at most 1 MiB here (plus
  what the kernel buffers) and cannot slow anyone else; reading resumes once the
  buffer is below half of it.
* A client's EOF stops reading; the connection closes once everything it sent
  has been echoed.
* ``EMFILE``/``ENFILE`` from ``accept`` turns the listener off for 0.1 s instead
  of spinning on a listener that stays readable.
* SIGINT and SIGTERM call ``loopexit()`` through signal events; the program then
  closes every connection and exits 0.

The port defaults to 9876 (9995 is hello-world's, as in libevent's sample).
``--port 0`` binds an ephemeral port. The first line on stdout is always
``Listening on HOST:PORT``, with the port actually bound.
"""

from __future__ import annotations

import argparse
import errno
import signal
import socket
import sys
from collections.abc import Sequence
from typing import Any

from levent import EV_PERSIST, EV_READ, EV_TIMEOUT, EV_WRITE, Evbuffer, Event, EventBase
from levent.samples import Sample
from levent.util import make_listen_socket_reuseable, make_socket_nonblocking

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9876
MAX_BUFFERED = 1 << 20  # stop reading from a client with this much not yet echoed
RESUME_BELOW = MAX_BUFFERED // 2  # ... and start again below this
READ_SIZE = 64 * 1024  # one recv_into per readable event, at most this much
ACCEPT_BATCH = 64  # connections accepted per readable event on the listener
ACCEPT_BACKOFF = 0.1  # seconds the listener rests after EMFILE / ENFILE

# One receive buffer for every connection: data is copied out of it (into the
# connection's Evbuffer) only when the kernel does not take the whole echo at once.
_scratch = memoryview(bytearray(READ_SIZE))


class FdState:
    """One client connection: its socket, its two events and what is left to echo.

    ``buffer`` is an ``Evbuffer``: what the kernel refused waits there, and
    ``Evbuffer.write`` sends it with one ``writev``. Its size never exceeds
    ``MAX_BUFFERED``.
    """

    __slots__ = ("buffer", "eof", "read_event", "server", "sock", "write_event")

    def __init__(self, server: Server, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.buffer = Evbuffer()
        self.eof = False
        self.read_event = Event(server.base, sock, EV_READ | EV_PERSIST, do_read, self)
        self.write_event = Event(server.base, sock, EV_WRITE | EV_PERSIST, do_write, self)

    def __repr__(self) -> str:
        return f"<FdState fd={self.sock.fileno()} buffered={len(self.buffer)} eof={self.eof}>"


class Server:
    """The listening socket, its event and the live connections."""

    __slots__ = ("base", "connections", "listener", "listener_event")

    def __init__(self, base: EventBase, listener: socket.socket) -> None:
        self.base = base
        self.listener = listener
        self.connections: set[FdState] = set()
        self.listener_event = Event(base, listener, EV_READ | EV_PERSIST, do_accept, self)


def alloc_fd_state(server: Server, sock: socket.socket) -> FdState:
    """A new connection's state, registered with the server."""
    state = FdState(server, sock)
    server.connections.add(state)
    return state


def free_fd_state(state: FdState) -> None:
    """Forget a connection: delete its events *before* closing its fd."""
    state.read_event.free()
    state.write_event.free()
    state.buffer.free()
    state.sock.close()
    state.server.connections.discard(state)


def do_read(fd: int, events: int, arg: Any) -> None:
    """The client sent something (or closed): echo it, buffering what the kernel refuses."""
    state: FdState = arg
    sock = state.sock
    room = MAX_BUFFERED - len(state.buffer)
    if room <= 0:  # cannot happen (reading stops at the bound), but recv of 0 bytes
        state.read_event.delete()  # would return b"" and look like EOF
        return
    try:
        n = sock.recv_into(_scratch, min(room, READ_SIZE))
    except (BlockingIOError, InterruptedError):
        return
    except OSError:  # ECONNRESET and friends: a dropped peer, not a bug
        free_fd_state(state)
        return

    if n == 0:
        state.eof = True
        state.read_event.delete()
        if not state.buffer:
            free_fd_state(state)
        return  # else do_write closes the connection once the buffer drains

    data = _scratch[:n]
    if state.buffer:
        state.buffer.add(data)  # EV_WRITE is already armed
    else:
        try:
            sent = sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            free_fd_state(state)
            return
        if sent < n:
            state.buffer.add(data[sent:])
            state.write_event.add()

    if len(state.buffer) >= MAX_BUFFERED:
        state.read_event.delete()  # a slow reader: stop reading until it catches up


def do_write(fd: int, events: int, arg: Any) -> None:
    """The socket can take more: send what is buffered, then disarm or resume reading."""
    state: FdState = arg
    try:
        state.buffer.write(state.sock)  # drains what the kernel took
    except (BlockingIOError, InterruptedError):
        return
    except OSError:
        free_fd_state(state)
        return

    if not state.buffer:
        state.write_event.delete()
        if state.eof:
            free_fd_state(state)
            return
    if not state.eof and len(state.buffer) < RESUME_BELOW and not state.read_event.pending(EV_READ):
        state.read_event.add()


def do_accept(listener: int, event: int, arg: Any) -> None:
    """The listener is readable: accept up to ``ACCEPT_BATCH`` connections."""
    server: Server = arg
    for _ in range(ACCEPT_BATCH):
        try:
            sock, _addr = server.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                print(f"accept: {exc.strerror}; pausing for {ACCEPT_BACKOFF} s", file=sys.stderr)
                server.listener_event.delete()
                server.base.once(-1, EV_TIMEOUT, resume_accept, server, ACCEPT_BACKOFF)
                return
            continue  # ECONNABORTED and the like: that client is gone, try the next
        make_socket_nonblocking(sock)
        state = alloc_fd_state(server, sock)
        try:
            state.read_event.add()
        except (OSError, ValueError) as exc:  # e.g. fd beyond FD_SETSIZE with select
            print(f"cannot watch the new connection: {exc}", file=sys.stderr)
            free_fd_state(state)


def resume_accept(fd: int, event: int, arg: Any) -> None:
    """The back-off after EMFILE is over: listen again."""
    server: Server = arg
    server.listener_event.add()


def signal_cb(fd: int, event: int, arg: Any) -> None:
    """SIGINT or SIGTERM: finish this loop pass, then exit cleanly."""
    base: EventBase = arg
    print(f"Caught signal {fd}; exiting cleanly.", flush=True)
    base.loopexit()


def make_listener(host: str, port: int) -> socket.socket:
    """A non-blocking, reusable listening socket bound to ``host:port``."""
    family, type_, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    listener = socket.socket(family, type_, proto)
    try:
        make_socket_nonblocking(listener)
        make_listen_socket_reuseable(listener)
        listener.bind(address)
        listener.listen(socket.SOMAXCONN)
    except BaseException:
        listener.close()
        raise
    return listener


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """event-server's options."""
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
    """Listen, serve until SIGINT/SIGTERM, close everything."""
    if not 0 <= args.port <= 65535:
        print(f"event-server: port out of range: {args.port}", file=sys.stderr)
        return 2
    try:
        listener = make_listener(args.host, args.port)
    except OSError as exc:
        print(f"event-server: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1

    with EventBase() as base, listener:
        server = Server(base, listener)
        server.listener_event.add()
        signals = [
            Event.signal(base, signal.SIGINT, signal_cb, base),
            Event.signal(base, signal.SIGTERM, signal_cb, base),
        ]
        for ev in signals:
            ev.add()

        host, port = listener.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        print(f"Listening on {shown}:{port}", flush=True)

        base.dispatch()

        for state in list(server.connections):
            free_fd_state(state)
        server.listener_event.free()
        for ev in signals:
            ev.free()
    return 0


SAMPLE = Sample(
    name="event-server",
    summary="a TCP echo server on raw events and Evbuffers (tutorial 10.2)",
    add_arguments=add_arguments,
    run=run,
    description=__doc__ or "",
)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m levent.samples.event_server [--host H] [--port P]``."""
    return SAMPLE.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
