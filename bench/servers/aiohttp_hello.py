"""aiohttp.web server for bench_http: ``aiohttp_hello.py PORT DOCROOT``.

The idiomatic aiohttp application, production settings (no access log, no
debug): ``GET /`` -> ``web.Response(text="Hello, World!")`` (``text/plain``),
``GET /big.bin`` -> ``web.FileResponse(DOCROOT/big.bin)`` (aiohttp opens and
stats the file per request and sends it with ``loop.sendfile``). Keep-alive is
aiohttp's default. Runs on asyncio's default loop, like ``aiohttp.web.run_app``.

Listens on 127.0.0.1 only, prints ``Listening on 127.0.0.1:PORT`` first and
serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from aiohttp import web


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="Hello, World!")


async def serve(port: int, docroot: Path) -> None:
    big = docroot / "big.bin"

    async def big_file(request: web.Request) -> web.FileResponse:
        return web.FileResponse(big)

    app = web.Application()
    app.router.add_get("/", hello)
    app.router.add_get("/big.bin", big_file)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=4096)
    await site.start()

    loop = asyncio.get_running_loop()
    stop: asyncio.Future[None] = loop.create_future()

    def on_signal() -> None:
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    host, bound_port = runner.addresses[0][:2]
    print(f"Listening on {host}:{bound_port}", flush=True)
    await stop
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("port", type=int)
    parser.add_argument("docroot", type=Path)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port, args.docroot))
    return 0


if __name__ == "__main__":
    sys.exit(main())
