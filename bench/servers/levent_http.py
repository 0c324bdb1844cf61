"""levent.http server for bench_http: ``levent_http.py PORT DOCROOT``.

libevent's evhttp program (``bench/c/evhttp_server.c``) line for line on
``levent.http.HttpServer``: a callback for ``/`` answering ``Hello, World!``
(``text/plain``) and one for ``/big.bin`` that opens ``DOCROOT/big.bin`` per
request and queues it with ``Evbuffer.add_file`` (sent with ``os.sendfile``;
the buffer closes the fd). Anything else gets the server's default 404;
keep-alive, allowed methods, ``Content-Length`` and ``Date`` are the server's
defaults.

Listens on 127.0.0.1 only, prints ``Listening on 127.0.0.1:PORT`` first and
serves until SIGTERM or SIGINT (a signal event, then ``loopbreak``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any

from levent import Evbuffer, Event, EventBase
from levent.http import HTTP_INTERNAL, HTTP_NOTFOUND, HTTP_OK, HttpRequest, HttpServer

HELLO = b"Hello, World!"


def hello_cb(req: HttpRequest, arg: Any) -> None:
    req.output_headers.add("Content-Type", "text/plain")
    req.send_reply(HTTP_OK, "OK", HELLO)


def big_cb(req: HttpRequest, path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        req.send_error(HTTP_NOTFOUND, None)
        return
    buf = Evbuffer()
    try:
        buf.add_file(fd, 0, os.fstat(fd).st_size)  # the buffer owns fd from here on
    except (OSError, ValueError):
        os.close(fd)  # add_file raised: the fd is still ours
        req.send_error(HTTP_INTERNAL, None)
        return
    req.output_headers.add("Content-Type", "application/octet-stream")
    req.send_reply(HTTP_OK, "OK", buf)


def signal_cb(fd: int, what: int, base: EventBase) -> None:
    base.loopbreak()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("port", type=int)
    parser.add_argument("docroot", type=Path)
    args = parser.parse_args(argv)
    with EventBase() as base:
        http = HttpServer(base)
        http.set_cb("/", hello_cb, None)
        http.set_cb("/big.bin", big_cb, str(args.docroot / "big.bin"))
        bound = http.bind_socket_with_handle("127.0.0.1", args.port)
        host, port = bound.getsockname()[:2]
        signals = [
            Event.signal(base, signal.SIGINT, signal_cb, base),
            Event.signal(base, signal.SIGTERM, signal_cb, base),
        ]
        for ev in signals:
            ev.add()
        print(f"Listening on {host}:{port}", flush=True)

        base.dispatch()

        for ev in signals:
            ev.free()
        http.free()
    return 0


if __name__ == "__main__":
    sys.exit(main())
