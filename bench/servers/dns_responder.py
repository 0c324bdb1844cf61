"""A DNS server on levent's ``DnsServerPort`` for ``bench/bench_dns.py``.

``python dns_responder.py [--cpu N]`` binds UDP 127.0.0.1 on a free port, prints
``Listening on PORT`` and answers every A question with 10.0.0.1 (TTL 60), echoing
the question's name (and so its case); other questions get an empty NOERROR reply.
It runs until killed.
"""

from __future__ import annotations

import argparse
import os
import socket

import levent
from levent.dns import DnsServerPort, ServerRequest

TYPE_A = 1
ADDRESSES = ["10.0.0.1"]


def on_request(req: ServerRequest, _arg: object) -> None:
    for q in req.questions:
        if q.type == TYPE_A:
            req.add_a_reply(q.name, ADDRESSES, 60)
    req.respond(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cpu", type=int, help="pin the process to this CPU")
    args = parser.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    base = levent.EventBase()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = DnsServerPort(base, sock, 0, on_request)
    print(f"Listening on {port}", flush=True)
    try:
        base.dispatch()
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
