"""http-get: fetch one URL with levent's HTTP client (libevent's https-client and http-connect).

``levent http-get URL [-d FILE] [--ca-file PEM] [--insecure] [-4|-6] [--retries N]
[--timeout SEC] [--proxy http://HOST:PORT] [-o OUTPUT] [-v]``

GET (or, with ``-d FILE``, POST of FILE's bytes with a Content-Length) through
an :class:`~levent.http.HttpConnection`. The request carries ``Host`` (levent's
client, like libevent's, adds none) and ``Connection: close``. As in libevent's
sample, ``Response line: <code> <reason>`` goes to stderr; the body goes to
stdout (or ``-o`` OUTPUT) byte for byte, as it arrives.

``https://`` URLs go through a TLS BufferEvent that sends SNI and checks the
certificate chain and the host name — against the system's CA store, or only
``--ca-file``'s CAs. ``--insecure`` turns the checks off (libevent's
``-ignore-cert``) and says so on stderr. As libevent's sample does, a TLS peer
that closes TCP without close_notify ends a close-delimited body instead of
failing it (a response with a Content-Length or chunked body is checked for
completeness anyway).

``--proxy http://HOST:PORT`` is libevent's http-connect: ``CONNECT host:port``
(with ``Connection: keep-alive``) goes to the proxy, and once it answers 2xx
the request goes through the tunnel on the same connection. Only ``http://``
targets: TLS inside the tunnel would need a TLS session started on a connection
that is already open, and HttpConnection only takes a bufferevent it connects
itself, so ``https://`` with ``--proxy`` is refused.

Exit status: 0 for a 2xx response, 1 for any other status, 2 for a usage error,
3 when no complete response came (connection refused, name not resolved,
certificate verify failed, timeout, …), with the reason on stderr.
"""

from __future__ import annotations

import argparse
import errno
import os
import socket
import ssl
import sys
from collections.abc import Sequence
from typing import IO, Any, Final

from levent import (
    BEV_OPT_CLOSE_ON_FREE,
    BUFFEREVENT_SSL_CONNECTING,
    BUFFEREVENT_SSL_DIRTY_SHUTDOWN,
    BufferEvent,
    EventBase,
    SocketBufferEvent,
    SslBufferEvent,
)
from levent.http import EVREQ_HTTP, HttpConnection, HttpRequest, Uri
from levent.samples import Sample

__all__ = ["SAMPLE", "Fetch", "Target", "main", "parse_target"]

EXIT_OK: Final = 0
EXIT_STATUS: Final = 1
EXIT_USAGE: Final = 2
EXIT_FAILED: Final = 3

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_PROG: Final = "http-get"


class UsageError(Exception):
    """The command line cannot be acted on (exit status 2)."""


class Target:
    """Where a URL points: scheme, host (no brackets), port and request-target."""

    __slots__ = ("host", "port", "scheme", "target")

    def __init__(self, scheme: str, host: str, port: int, target: str) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        self.target = target

    @property
    def authority(self) -> str:
        """``host:port`` as CONNECT names it (IPv6 in brackets)."""
        return f"{_bracketed(self.host)}:{self.port}"

    @property
    def host_header(self) -> str:
        """The ``Host`` value: the port only when it is not the scheme's default."""
        host = _bracketed(self.host)
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    def __repr__(self) -> str:
        return f"<Target {self.scheme}://{self.authority}{self.target}>"


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def parse_target(url: str, what: str = "URL") -> Target:
    """Split an ``http://`` or ``https://`` URL; UsageError saying what is wrong."""
    try:
        uri = Uri.parse(url)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    scheme = (uri.scheme or "").lower()
    if scheme not in _DEFAULT_PORTS:
        raise UsageError(f"{what} {url!r} must start with http:// or https://")
    host = uri.host or ""
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host:
        raise UsageError(f"{what} {url!r} has no host")
    if uri.userinfo is not None:
        raise UsageError(f"{what} {url!r}: user:password@ is not supported")
    port = uri.port if uri.port > 0 else _DEFAULT_PORTS[scheme]
    target = uri.path or "/"
    if uri.query is not None:
        target += "?" + uri.query
    return Target(scheme, host, port, target)


# -- the exchange ----------------------------------------------------------------------


class Fetch:
    """One request on one HttpConnection, optionally after a CONNECT to a proxy.

    ``outcome`` is None while it runs, then the exit status; ``failure`` says
    why a request brought no complete response.
    """

    __slots__ = (
        "base",
        "body",
        "conn",
        "failure",
        "family",
        "out",
        "outcome",
        "proxy",
        "retries",
        "target",
        "timeout",
        "tls",
        "tunnel_open",
        "verbose",
        "wrote",
    )

    def __init__(
        self,
        base: EventBase,
        target: Target,
        out: IO[bytes],
        *,
        body: bytes | None = None,
        tls: ssl.SSLContext | None = None,
        proxy: Target | None = None,
        family: int = socket.AF_UNSPEC,
        retries: int = 0,
        timeout: float | None = None,
        verbose: bool = False,
    ) -> None:
        self.base = base
        self.target = target
        self.out = out
        self.body = body
        self.tls = tls
        self.proxy = proxy
        self.family = family
        self.retries = retries
        self.timeout = timeout
        self.verbose = verbose
        self.outcome: int | None = None
        self.failure = ""
        self.tunnel_open = False
        self.wrote = 0
        self.conn = self._connection()

    def _connection(self) -> HttpConnection:
        peer = self.proxy or self.target
        bev: BufferEvent | None = None
        if self.tls is not None:
            ssl_bev = BufferEvent.ssl_socket(
                self.base,
                None,
                self.tls,
                BUFFEREVENT_SSL_CONNECTING,
                BEV_OPT_CLOSE_ON_FREE,
                server_hostname=self.target.host,
            )
            ssl_bev.set_flags(BUFFEREVENT_SSL_DIRTY_SHUTDOWN)
            bev = ssl_bev
        conn = HttpConnection(self.base, None, peer.host, peer.port, bev=bev)
        conn.set_family(self.family)
        conn.set_retries(self.retries)
        if self.timeout is not None:
            conn.set_timeout(self.timeout)
            conn.set_connect_timeout(self.timeout)
        return conn

    def start(self) -> None:
        """Queue the first request: the CONNECT to the proxy, or the request itself."""
        if self.proxy is None:
            self._send()
            return
        req = HttpRequest(self._tunnel_done, None)
        req.set_error_cb(self._on_error)
        req.output_headers.add("Host", self.target.authority)
        req.output_headers.add("Connection", "keep-alive")
        self._trace(f"> CONNECT {self.target.authority} (proxy {self.proxy.authority})")
        self.conn.make_request(req, "CONNECT", self.target.authority)

    def _send(self) -> None:
        target = self.target
        req = HttpRequest(self._done, None)
        req.set_error_cb(self._on_error)
        req.set_header_cb(self._on_headers)
        req.set_chunked_cb(self._on_chunk)
        headers = req.output_headers
        headers.add("Host", target.host_header)
        headers.add("Connection", "close")
        method = "GET"
        if self.body is not None:
            method = "POST"
            headers.add("Content-Length", str(len(self.body)))
            req.output_buffer.add(self.body)
        self._trace(f"> {method} {target.target} HTTP/1.1")
        for key, value in headers:
            self._trace(f"> {key}: {value}")
        self.conn.make_request(req, method, target.target)

    # -- the proxy tunnel ---------------------------------------------------------------

    def _tunnel_done(self, req: HttpRequest | None, arg: Any) -> None:
        if req is None:
            self.finish(EXIT_FAILED, f"proxy {self._proxy_name()}: {self.failure}")
            return
        code, reason = req.response_code, req.response_code_line
        self._trace(f"< proxy: {code} {reason}")
        if not 200 <= code < 300:
            self.finish(EXIT_FAILED, f"proxy {self._proxy_name()} refused CONNECT: {code} {reason}")
            return
        if self.conn.state == "DISCONNECTED":
            self.finish(EXIT_FAILED, f"proxy {self._proxy_name()} closed the tunnel")
            return
        # From here the connection is the tunnel: HttpConnection never resends a
        # request on a new connection after a CONNECT (that would reach the proxy).
        self.tunnel_open = True
        self._send()

    def _proxy_name(self) -> str:
        return self.proxy.authority if self.proxy is not None else "?"

    # -- the response -------------------------------------------------------------------

    def _on_headers(self, req: HttpRequest, arg: Any) -> int:
        print(f"Response line: {req.response_code} {req.response_code_line}", file=sys.stderr)
        for key, value in req.input_headers:
            self._trace(f"< {key}: {value}")
        return 0

    def _on_chunk(self, req: HttpRequest | None, arg: Any) -> None:
        if req is None:
            return
        buf = req.input_buffer
        data = buf.remove(len(buf))
        if self.outcome is not None or not data:
            return
        try:
            self.out.write(data)
        except OSError as exc:
            self.finish(EXIT_FAILED, f"cannot write the body: {exc.strerror or exc}")
            return
        self.wrote += len(data)

    def _done(self, req: HttpRequest | None, arg: Any) -> None:
        if req is None:
            self.finish(EXIT_FAILED, self.failure or "the request failed")
            return
        self._on_chunk(req, arg)  # nothing left, normally: chunk_cb took every piece
        self._trace(f"< {self.wrote} body bytes")
        code = req.response_code
        self.finish(EXIT_OK if 200 <= code < 300 else EXIT_STATUS, "")

    def _on_error(self, error: int, arg: Any) -> None:
        self.failure = self._describe(EVREQ_HTTP(error))

    def finish(self, status: int, message: str) -> None:
        """Record the exit status and why, and stop the loop (the first call wins)."""
        if self.outcome is not None:
            return
        self.outcome = status
        self.failure = message
        self.base.loopbreak()

    # -- why it failed ------------------------------------------------------------------

    def _describe(self, error: EVREQ_HTTP) -> str:
        """The reason, from the bufferevent the connection last used (libevent's sample
        prints the OpenSSL error queue or the socket error the same way)."""
        peer = self.proxy if self.proxy is not None and not self.tunnel_open else self.target
        where = f"{peer.authority}"
        if error == EVREQ_HTTP.TIMEOUT:
            return f"{where}: timed out"
        if error == EVREQ_HTTP.INVALID_HEADER:
            return f"{where}: malformed response"
        if error == EVREQ_HTTP.DATA_TOO_LONG:
            return f"{where}: response too large"
        if error == EVREQ_HTTP.REQUEST_CANCEL:
            return f"{where}: request cancelled"
        bev = self.conn.bufferevent
        if isinstance(bev, SslBufferEvent) and bev.ssl_error is not None:
            return f"{where}: TLS: {_tls_reason(bev.ssl_error)}"
        code = bev.socket_error if isinstance(bev, (SocketBufferEvent, SslBufferEvent)) else 0
        if code:
            return f"{where}: {os.strerror(code)} (errno {errno.errorcode.get(code, code)})"
        if not _resolves(peer.host, peer.port, self.family):
            return f"{where}: cannot resolve host name {peer.host!r}"
        return f"{where}: connection closed before a complete response"

    def _trace(self, line: str) -> None:
        if self.verbose:
            print(line, file=sys.stderr)


def _tls_reason(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    return exc.reason or str(exc)


def _resolves(host: str, port: int, family: int) -> bool:
    """Whether ``host`` has an address: asked only after a failure, to name the reason
    (the program is ending, so blocking here costs nothing)."""
    try:
        return bool(socket.getaddrinfo(host, port, family, socket.SOCK_STREAM))
    except OSError:
        return False


# -- the program -----------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """http-get's options (libevent's https-client and http-connect, in one)."""
    parser.add_argument("url", metavar="URL", help="http:// or https:// URL to fetch")
    parser.add_argument("-d", "--data", metavar="FILE", help="POST FILE's bytes instead of GET")
    parser.add_argument("--ca-file", metavar="PEM", help="trust only these CAs (default: system)")
    parser.add_argument(
        "--insecure", action="store_true", help="do not verify the certificate (-ignore-cert)"
    )
    family = parser.add_mutually_exclusive_group()
    family.add_argument("-4", dest="family", action="store_const", const=socket.AF_INET,
                        help="IPv4 only")  # fmt: skip
    family.add_argument("-6", dest="family", action="store_const", const=socket.AF_INET6,
                        help="IPv6 only")  # fmt: skip
    parser.set_defaults(family=socket.AF_UNSPEC)
    parser.add_argument("--retries", type=int, default=0, help="connect retries (default 0)")
    parser.add_argument("--timeout", type=float, default=None, help="connect/read timeout, s")
    parser.add_argument("--proxy", metavar="PROXY_URL", help="http://HOST:PORT: CONNECT via it")
    parser.add_argument("-o", "--output", metavar="OUTPUT", help="write the body here, not stdout")
    parser.add_argument("-v", "--verbose", action="store_true", help="show headers on stderr")


def _tls_context(args: argparse.Namespace) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=args.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"cannot load --ca-file {args.ca_file}: {exc}") from None
    if args.insecure:
        print(f"{_PROG}: warning: --insecure: the server's certificate is NOT verified",
              file=sys.stderr)  # fmt: skip
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _check(args: argparse.Namespace) -> tuple[Target, Target | None, bytes | None]:
    target = parse_target(args.url)
    proxy = None
    if args.proxy is not None:
        proxy = parse_target(args.proxy, "proxy URL")
        if proxy.scheme != "http":
            raise UsageError("--proxy must be an http:// URL")
        if target.scheme == "https":
            raise UsageError(
                "https:// through --proxy is not supported: HttpConnection cannot start "
                "TLS inside an already open CONNECT tunnel"
            )
    if args.retries < -1:
        raise UsageError("--retries must be -1 (forever) or more")
    if args.timeout is not None and not args.timeout > 0:
        raise UsageError("--timeout must be positive")
    body = None
    if args.data is not None:
        try:
            with open(args.data, "rb") as f:
                body = f.read()
        except OSError as exc:
            raise UsageError(f"cannot read --data {args.data}: {exc.strerror or exc}") from None
    return target, proxy, body


def run(args: argparse.Namespace) -> int:
    """Fetch the URL; the exit status says how it went."""
    try:
        target, proxy, body = _check(args)
        tls = _tls_context(args) if target.scheme == "https" else None
        out: IO[bytes] = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115
    except UsageError as exc:
        print(f"{_PROG}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"{_PROG}: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with EventBase() as base:
            fetch = Fetch(
                base, target, out, body=body, tls=tls, proxy=proxy, family=args.family,
                retries=args.retries, timeout=args.timeout, verbose=args.verbose,
            )  # fmt: skip
            try:
                fetch.start()
            except (OSError, ValueError) as exc:
                fetch.finish(EXIT_FAILED, f"{target.authority}: {exc}")
            if fetch.outcome is None:
                base.dispatch()
            fetch.conn.free()
        out.flush()
    finally:
        if out is not sys.stdout.buffer:
            out.close()
    status = EXIT_FAILED if fetch.outcome is None else fetch.outcome
    if status == EXIT_FAILED:
        print(f"{_PROG}: {fetch.failure or 'no response'}", file=sys.stderr)
    return status


SAMPLE = Sample(
    name="http-get",
    summary="fetch a URL over HTTP/HTTPS, optionally via a CONNECT proxy (https-client)",
    add_arguments=add_arguments,
    run=run,
    description=__doc__ or "",
)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m levent.samples.http_get [options] URL``."""
    return SAMPLE.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
