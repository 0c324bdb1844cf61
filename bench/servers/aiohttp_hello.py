"""aiohttp.web server for bench_http and bench_aio.

``aiohttp_hello.py PORT DOCROOT [--loop {asyncio,uvloop,levent}] [--uvloop]``


The idiomatic aiohttp application, production settings (no access log, no
debug): ``GET /`` -> ``web.Response(text="Hello, World!")`` (``text/plain``),
``GET /big.bin`` -> ``web.FileResponse(DOCROOT/big.bin)`` (aiohttp opens and
stats the file per request and sends it with ``loop.sendfile``). Keep-alive is
aiohttp's default. Runs on asyncio's default loop, like ``aiohttp.web.run_app``;
``--loop`` picks another: uvloop's or levent.aio's (``levent.aio.new_event_loop``);
``--uvloop`` is ``--loop uvloop``.

Listens on 127.0.0.1 only, prints ``Listening on 127.0.0.1:PORT`` first and
serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

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
    parser.add_argument("port", type=int)
    parser.add_argument("docroot", type=Path)
    parser.add_argument("--loop", choices=LOOPS, default="asyncio", help="the event loop")
    parser.add_argument(
        "--uvloop", dest="loop", action="store_const", const="uvloop", help="= --loop uvloop"
    )
    args = parser.parse_args(argv)
    run(serve(args.port, args.docroot), args.loop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
