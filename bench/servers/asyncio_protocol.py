"""asyncio Protocol echo server for bench_echo: ``asyncio_protocol.py PORT [--uvloop]``.

``data_received`` writes the data straight back to the transport. Listens on
127.0.0.1 only, prints ``Listening on 127.0.0.1:PORT`` first and serves until
SIGTERM or SIGINT. ``--uvloop`` runs the same protocol on uvloop's loop.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import cast


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("port", type=int, nargs="?", default=0)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    args = parser.parse_args(argv)
    if args.uvloop:
        import uvloop

        uvloop.run(serve(args.port))
    else:
        asyncio.run(serve(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
