"""hello-world: libevent's sample/hello-world.c (tutorial 10.1), line by line.

Listens on TCP port 9995 (``--port`` changes it; 0 picks a free one) with a
Listener (``LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE``). Every client gets a
socket BufferEvent with reading disabled, receives ``Hello, World!\\n``, and is
freed from the write callback once the output is empty ("flushed answer").
SIGINT prints "Caught an interrupt signal; exiting cleanly in two seconds." and
calls ``loopexit(2)``; the program then frees everything and prints "done".

As in the C sample, it listens on every IPv4 address unless ``--host`` says
otherwise; the first line on stdout is ``Listening on HOST:PORT``.
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

MESSAGE = b"Hello, World!\n"
PORT = 9995


def listener_cb(listener: Listener, sock: socket.socket, address: Any, base: EventBase) -> None:
    """A client connected: greet it, then let the write callback free it."""
    bev = BufferEvent.socket(base, sock, BEV_OPT_CLOSE_ON_FREE)
    bev.setcb(None, conn_writecb, conn_eventcb, None)
    bev.enable(EV_WRITE)
    bev.disable(EV_READ)
    bev.write(MESSAGE)


def conn_writecb(bev: BufferEvent, user_data: Any) -> None:
    """The output is empty: the answer went out."""
    if not len(bev.output):
        print("flushed answer", flush=True)
        bev.free()


def conn_eventcb(bev: BufferEvent, events: int, user_data: Any) -> None:
    """The client went away before the answer was flushed."""
    if events & BEV_EVENT_EOF:
        print("Connection closed.", flush=True)
    elif events & BEV_EVENT_ERROR:
        print(f"Got an error on the connection: {bev.getfd()}", flush=True)
    # None of the other events can happen here, since we haven't enabled timeouts.
    bev.free()


def signal_cb(sig: int, events: int, base: EventBase) -> None:
    """SIGINT: stop in two seconds."""
    print("Caught an interrupt signal; exiting cleanly in two seconds.", flush=True)
    base.loopexit(2.0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """hello-world's options (the C sample has none; these default to its behaviour)."""
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default all)")
    parser.add_argument("--port", type=int, default=PORT, help=f"TCP port (default {PORT})")


def run(args: argparse.Namespace) -> int:
    """main() of hello-world.c."""
    with EventBase() as base:
        try:
            listener = Listener(
                base,
                listener_cb,
                base,
                LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE,
                -1,
                address=(args.host, args.port),
            )
        except (OSError, ValueError) as exc:
            print(f"Could not create a listener! ({exc})", file=sys.stderr)
            return 1
        signal_event = Event.signal(base, signal.SIGINT, signal_cb, base)
        signal_event.add()
        host, port = listener.socket.getsockname()[:2]
        print(f"Listening on {host}:{port}", flush=True)

        base.dispatch()

        listener.free()
        signal_event.free()
    print("done", flush=True)
    return 0


SAMPLE = Sample(
    name="hello-world",
    summary="greets every client with 'Hello, World!' (libevent's hello-world, tutorial 10.1)",
    add_arguments=add_arguments,
    run=run,
    description=__doc__ or "",
)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m levent.samples.hello_world [--host H] [--port P]``."""
    return SAMPLE.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
