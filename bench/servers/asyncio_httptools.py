"""Raw asyncio Protocol + httptools HTTP server for bench_http.

``asyncio_httptools.py PORT DOCROOT [--loop {asyncio,uvloop,levent}] [--uvloop]``

What a competent author writes when the goal is speed without a framework: one
``asyncio.Protocol`` per connection feeding ``httptools.HttpRequestParser``
(llhttp, the parser uvicorn uses), the request's URL and headers collected as a
real server would (a list of ``(name, value)`` pairs), the response written as
one ``transport.write``. Routes:

* ``GET /`` -> 200 ``Hello, World!`` (``Content-Type: text/plain``);
* ``GET /big.bin`` -> 200, the bytes of ``DOCROOT/big.bin``
  (``application/octet-stream``).
* ``HEAD`` of either: the same headers, no body; other paths 404, other
  methods 405, a parse error 400 and close.

Every response has ``Content-Length`` and a ``Date`` (formatted once a second).
Keep-alive follows ``parser.should_keep_alive()`` (HTTP/1.1 default, HTTP/1.0
with ``Connection: keep-alive``; ``Connection: close`` closes after the reply).
Pipelined requests are answered in order: each reply is written when its request
completes. When the transport's buffer passes its high-water mark, reading
pauses until it drains, so a client that does not read costs bounded memory.

The file is read **once at startup and kept in memory**. asyncio transports
cannot ``os.sendfile`` from a protocol callback; ``loop.sendfile`` needs a task
per request, waits for the write buffer to drain first, and on uvloop falls back
to reading the file in a thread pool. A raw-asyncio server that wants speed
caches a small static file, and that is the strongest asyncio row: it pays no
``open``/``fstat`` per request (levent, evhttp and aiohttp do), only the copy of
the unsent tail into the transport buffer. ``--loop`` picks the event loop the
same protocol runs on: asyncio's default, uvloop's or levent.aio's
(``levent.aio.new_event_loop``); ``--uvloop`` is ``--loop uvloop``.

Listens on 127.0.0.1 only, prints ``Listening on 127.0.0.1:PORT`` first and
serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from collections.abc import Coroutine
from email.utils import formatdate
from pathlib import Path
from typing import Any, cast

import httptools

HELLO = b"Hello, World!"


class _Date:
    """The ``Date`` header value, formatted at most once a second."""

    __slots__ = ("second", "value")

    def __init__(self) -> None:
        self.second = -1
        self.value = b""

    def get(self) -> bytes:
        now = int(time.time())
        if now != self.second:
            self.second = now
            self.value = formatdate(now, usegmt=True).encode("ascii")
        return self.value


DATE = _Date()


def _head(status: bytes, content_type: bytes, length: int, keep_alive: bool, v10: bool) -> bytes:
    parts = [
        b"HTTP/1.1 ",
        status,
        b"\r\nDate: ",
        DATE.get(),
        b"\r\nContent-Type: ",
        content_type,
        b"\r\nContent-Length: ",
        str(length).encode("ascii"),
        b"\r\n",
    ]
    if not keep_alive:
        parts.append(b"Connection: close\r\n")
    elif v10:
        parts.append(b"Connection: keep-alive\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


class HttpProtocol(asyncio.Protocol):
    __slots__ = ("big", "closing", "headers", "parser", "paused", "transport", "url")

    def __init__(self, big: bytes) -> None:
        self.big = big
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.closing = False
        self.paused = False

    # -- asyncio callbacks --------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio.Transport
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reply(b"501 Not Implemented", b"text/plain", b"", False, False)
        except httptools.HttpParserError:
            self._reply(b"400 Bad Request", b"text/plain", b"", False, False)

    def eof_received(self) -> bool | None:
        return None  # close our side too, once pending output is written

    def pause_writing(self) -> None:
        if not self.paused:
            self.paused = True
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.paused:
            self.paused = False
            self.transport.resume_reading()

    # -- httptools callbacks -----------------------------------------------------------

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_message_complete(self) -> None:
        if self.closing:
            return
        parser = self.parser
        keep_alive = parser.should_keep_alive()
        v10 = parser.get_http_version() == "1.0"
        method = parser.get_method()
        path = self.url.partition(b"?")[0]
        if method not in (b"GET", b"HEAD"):
            self._reply(b"405 Method Not Allowed", b"text/plain", b"", keep_alive, v10)
        elif path == b"/":
            self._reply(b"200 OK", b"text/plain", HELLO, keep_alive, v10, method == b"HEAD")
        elif path == b"/big.bin":
            self._reply(
                b"200 OK", b"application/octet-stream", self.big, keep_alive, v10, method == b"HEAD"
            )
        else:
            self._reply(b"404 Not Found", b"text/plain", b"", keep_alive, v10)

    # -- replies ----------------------------------------------------------------------------

    def _reply(
        self,
        status: bytes,
        content_type: bytes,
        body: bytes,
        keep_alive: bool,
        v10: bool,
        head_only: bool = False,
    ) -> None:
        head = _head(status, content_type, len(body), keep_alive, v10)
        if head_only or not body:
            self.transport.write(head)
        elif len(body) <= 4096:
            self.transport.write(head + body)
        else:
            # one writev on uvloop and Python 3.12+; a join (one copy) on 3.11
            self.transport.writelines((head, body))
        if not keep_alive:
            self.closing = True
            self.transport.close()  # after the buffered reply is written


async def serve(port: int, docroot: Path) -> None:
    big = (docroot / "big.bin").read_bytes()
    loop = asyncio.get_running_loop()
    stop: asyncio.Future[None] = loop.create_future()

    def on_signal() -> None:
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    server = await loop.create_server(lambda: HttpProtocol(big), "127.0.0.1", port, backlog=4096)
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
