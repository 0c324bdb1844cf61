"""proxy: libevent's sample/le-proxy.c — a TCP relay, with TLS on either side.

``levent proxy LISTEN-ON CONNECT-TO`` (``127.0.0.1:8888 127.0.0.1:80``) accepts
clients on LISTEN-ON and, for each, opens a bufferevent to CONNECT-TO and
copies data both ways, as le-proxy does:

* back-pressure: when the other side's output holds ``MAX_OUTPUT`` (512 KiB),
  reading from this side stops and the other side gets a write watermark of
  half that; its write callback (``drained_writecb``) resumes reading;
* on EOF or an error from one side, what it sent is still delivered to the
  other side, which is then closed once its output is empty
  (``close_on_finished_writecb``).

TLS, with certificate checks on: ``-s`` speaks TLS to CONNECT-TO — by default as
a TLS *filter* over a socket bufferevent, with ``-W`` as a socket-based TLS
bufferevent, as le-proxy's flags; ``--ca-file`` adds a CA to trust (the system's
are trusted too) and ``--server-name`` sets the name to verify (default: the
CONNECT-TO host). levent adds TLS on the listening side: ``--tls-cert`` and
``--tls-key`` make the proxy accept TLS clients. The first line on stdout is
``Listening on HOST:PORT``; SIGINT or SIGTERM exits cleanly.
"""

from __future__ import annotations

import argparse
import signal
import socket
import ssl
import sys
from collections.abc import Sequence
from typing import Any

from levent import (
    BEV_EVENT_CONNECTED,
    BEV_EVENT_EOF,
    BEV_EVENT_ERROR,
    BEV_OPT_CLOSE_ON_FREE,
    BEV_OPT_DEFER_CALLBACKS,
    BUFFEREVENT_SSL_ACCEPTING,
    BUFFEREVENT_SSL_CONNECTING,
    EV_READ,
    EV_WRITE,
    LEV_OPT_CLOSE_ON_FREE,
    LEV_OPT_REUSEABLE,
    BufferEvent,
    Event,
    EventBase,
    Listener,
    SocketBufferEvent,
    SslBufferEvent,
)
from levent.samples import Sample

MAX_OUTPUT = 512 * 1024


class Proxy:
    """What every connection needs: the base, the target and the TLS settings."""

    __slots__ = ("base", "client_tls", "connect_to", "server_name", "socket_tls", "target_tls")

    def __init__(
        self,
        base: EventBase,
        connect_to: tuple[str, int],
        target_tls: ssl.SSLContext | None,
        server_name: str | None,
        socket_tls: bool,
        client_tls: ssl.SSLContext | None,
    ) -> None:
        self.base = base
        self.connect_to = connect_to
        self.target_tls = target_tls
        self.server_name = server_name
        self.socket_tls = socket_tls
        self.client_tls = client_tls


def readcb(bev: BufferEvent, partner: BufferEvent | None) -> None:
    """Move what arrived to the partner; stop reading if the partner lags."""
    src = bev.input
    if partner is None:
        src.drain(len(src))
        return
    dst = partner.output
    dst.add_buffer(src)
    if len(dst) >= MAX_OUTPUT:
        # Resume when the partner's output has drained to half (drained_writecb).
        partner.setcb(readcb, drained_writecb, eventcb, bev)
        partner.setwatermark(EV_WRITE, MAX_OUTPUT // 2, MAX_OUTPUT)
        bev.disable(EV_READ)


def drained_writecb(bev: BufferEvent, partner: BufferEvent | None) -> None:
    """The partner caught up: back to normal, and read from the other side again."""
    bev.setcb(readcb, None, eventcb, partner)
    bev.setwatermark(EV_WRITE, 0, 0)
    if partner is not None:
        partner.enable(EV_READ)


def close_on_finished_writecb(bev: BufferEvent, arg: Any) -> None:
    """Everything the other side sent is out: close."""
    if not len(bev.output):
        bev.free()


def eventcb(bev: BufferEvent, what: int, partner: BufferEvent | None) -> None:
    """EOF or error on one side: deliver its last bytes, then close the other side too."""
    if what & BEV_EVENT_CONNECTED:
        return
    if not what & (BEV_EVENT_EOF | BEV_EVENT_ERROR):
        return
    if what & BEV_EVENT_ERROR:
        reason = getattr(bev, "ssl_error", None) or getattr(bev, "socket_error", 0)
        if reason:
            print(f"proxy: connection error: {reason}", file=sys.stderr, flush=True)
    if partner is not None:
        readcb(bev, partner)  # flush all pending data
        if len(partner.output):
            # Still something to send: close it once that is gone.
            partner.setcb(None, close_on_finished_writecb, eventcb, None)
            partner.setwatermark(EV_WRITE, 0, 0)
            partner.disable(EV_READ)
        else:
            partner.free()
    bev.free()


def connect_target(proxy: Proxy) -> BufferEvent:
    """A bufferevent connecting to the target: plain, TLS filter (default) or TLS socket (-W)."""
    base = proxy.base
    options = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS
    if proxy.target_tls is not None and proxy.socket_tls:
        tls = SslBufferEvent.ssl_socket(
            base, None, proxy.target_tls, BUFFEREVENT_SSL_CONNECTING, options, proxy.server_name
        )
        tls.connect(proxy.connect_to)
        return tls
    plain = SocketBufferEvent(base, None, options)
    plain.connect(proxy.connect_to)
    if proxy.target_tls is None:
        return plain
    return BufferEvent.ssl_filter(
        base, plain, proxy.target_tls, BUFFEREVENT_SSL_CONNECTING, options, proxy.server_name
    )


def accept_cb(listener: Listener, sock: socket.socket, address: Any, proxy: Proxy) -> None:
    """A client: connect to the target and join the two."""
    base = proxy.base
    options = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS
    if proxy.client_tls is not None:
        b_in: BufferEvent = BufferEvent.ssl_socket(
            base, sock, proxy.client_tls, BUFFEREVENT_SSL_ACCEPTING, options
        )
    else:
        b_in = BufferEvent.socket(base, sock, options)
    try:
        b_out = connect_target(proxy)
    except (OSError, ValueError) as exc:
        print(f"proxy: cannot connect: {exc}", file=sys.stderr, flush=True)
        b_in.free()
        return
    b_in.setcb(readcb, None, eventcb, b_out)
    b_out.setcb(readcb, None, eventcb, b_in)
    b_in.enable(EV_READ | EV_WRITE)
    b_out.enable(EV_READ | EV_WRITE)


def signal_cb(fd: int, what: int, base: EventBase) -> None:
    """SIGINT / SIGTERM: stop."""
    print(f"Caught signal {fd}; exiting.", flush=True)
    base.loopbreak()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """le-proxy's arguments, plus TLS on the listening side."""
    parser.add_argument("listen_on", metavar="LISTEN-ON", help="address to listen on, HOST:PORT")
    parser.add_argument("connect_to", metavar="CONNECT-TO", help="address to relay to, HOST:PORT")
    parser.add_argument("-s", dest="tls_out", action="store_true", help="TLS to CONNECT-TO")
    parser.add_argument(
        "-W", dest="socket_tls", action="store_true", help="with -s: a socket TLS bufferevent"
    )
    parser.add_argument("--ca-file", help="with -s: also trust this CA (PEM)")
    parser.add_argument("--server-name", help="with -s: the name to verify (default: the host)")
    parser.add_argument("--tls-cert", help="accept TLS clients with this certificate (PEM)")
    parser.add_argument("--tls-key", help="... and this private key (PEM)")


def _address(text: str, what: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6HOST]:PORT``; port 0 is allowed (an ephemeral listen port)."""
    host, sep, port_text = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise SystemExit(f"proxy: bad {what} address {text!r}: expected HOST:PORT")
    return host, int(port_text)


def run(args: argparse.Namespace) -> int:
    """main() of le-proxy.c."""
    try:
        listen_on = _address(args.listen_on, "listen")
        connect_to = _address(args.connect_to, "connect")
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    if bool(args.tls_cert) != bool(args.tls_key):
        print("proxy: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    target_tls = None
    if args.tls_out:
        target_tls = ssl.create_default_context(cafile=args.ca_file)
    client_tls = None
    if args.tls_cert:
        client_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        client_tls.load_cert_chain(args.tls_cert, args.tls_key)
    server_name = args.server_name or str(connect_to[0])
    with EventBase() as base:
        proxy = Proxy(base, connect_to, target_tls, server_name, args.socket_tls, client_tls)
        try:
            listener = Listener(
                base,
                accept_cb,
                proxy,
                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                -1,
                address=listen_on,
            )
        except (OSError, ValueError) as exc:
            print(f"proxy: couldn't open listener: {exc}", file=sys.stderr)
            return 1
        signals = [
            Event.signal(base, sig, signal_cb, base) for sig in (signal.SIGINT, signal.SIGTERM)
        ]
        for ev in signals:
            ev.add()
        host, port = listener.socket.getsockname()[:2]
        print(f"Listening on {host}:{port}", flush=True)
        base.dispatch()
        listener.free()
        for ev in signals:
            ev.free()
    return 0


SAMPLE = Sample(
    name="proxy",
    summary="a TCP relay with TLS on either side (libevent's le-proxy)",
    add_arguments=add_arguments,
    run=run,
    description=__doc__ or "",
)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m levent.samples.proxy LISTEN-ON CONNECT-TO [-s] [-W] ...``."""
    return SAMPLE.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
