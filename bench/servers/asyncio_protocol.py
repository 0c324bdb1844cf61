"""asyncio Protocol echo server for bench_echo and bench_aio.

``asyncio_protocol.py PORT [--loop {asyncio,uvloop,levent}] [--uvloop]``

``data_received`` writes the data straight back to the transport. Listens on
127.0.0.1 only, prints ``Listening on 127.0.0.1:PORT`` first and serves until
SIGTERM or SIGINT. ``--loop`` picks the event loop the same protocol runs on:
asyncio's default, uvloop's or levent.aio's (``levent.aio.new_event_loop``);
``--uvloop`` is ``--loop uvloop``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Coroutine
from typing import Any, cast


class EchoProtocol(asyncio.Protocol):
    __slots__ = ("transport",)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio.Transport
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    def eof_received(self) -> bool | None:
        self.transport.close()
        return None


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    stop: asyncio.Future[None] = loop.create_future()

    def on_signal() -> None:
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    server = await loop.create_server(EchoProtocol, "127.0.0.1", port, backlog=4096)
    bound = server.sockets[0].getsockname()
    print(f"Listening on {bound[0]}:{bound[1]}", flush=True)
    await stop
    server.close()
    await server.wait_closed()


LOOPS = ("asyncio", "uvloop", "levent")


def run(main: Coroutine[Any, Any, None], loop: str) -> None:
    """Run ``main`` on asyncio's default loop, uvloop's or levent.aio's (``--loop``)."""
    if loop == "uvloop":
        import uvloop

        uvloop.run(main)
    elif loop == "levent":
        import levent.aio

        with asyncio.Runner(loop_factory=levent.aio.new_event_loop) as runner:
            runner.run(main)
    else:
        asyncio.run(main)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("port", type=int, nargs="?", default=0)
    parser.add_argument("--loop", choices=LOOPS, default="asyncio", help="the event loop")
    parser.add_argument(
        "--uvloop", dest="loop", action="store_const", const="uvloop", help="= --loop uvloop"
    )
    args = parser.parse_args(argv)
    run(serve(args.port), args.loop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
