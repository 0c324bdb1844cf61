"""asyncio Streams echo server for bench_echo and bench_aio.

``asyncio_streams.py PORT [--loop {asyncio,uvloop,levent}] [--uvloop]``

One coroutine per connection: ``await reader.read(64 KiB)``, ``writer.write``,
``await writer.drain()``. Listens on 127.0.0.1 only, prints
``Listening on 127.0.0.1:PORT`` first and serves until SIGTERM or SIGINT.
``--loop`` picks the event loop: asyncio's default, uvloop's or levent.aio's
(``levent.aio.new_event_loop``); ``--uvloop`` is ``--loop uvloop``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Coroutine
from typing import Any

READ_SIZE = 64 * 1024


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(READ_SIZE):
            writer.write(data)
            await writer.drain()
    writer.close()


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    stop: asyncio.Future[None] = loop.create_future()

    def on_signal() -> None:
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)
    bound = server.sockets[0].getsockname()
    print(f"Listening on {bound[0]}:{bound[1]}", flush=True)
    await stop
    server.close()


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
