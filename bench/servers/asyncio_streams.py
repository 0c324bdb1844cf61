"""asyncio Streams echo server for bench_echo: ``asyncio_streams.py PORT``.

One coroutine per connection: ``await reader.read(64 KiB)``, ``writer.write``,
``await writer.drain()``. Listens on 127.0.0.1 only, prints
``Listening on 127.0.0.1:PORT`` first and serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("port", type=int, nargs="?", default=0)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
