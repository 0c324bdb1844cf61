"""http-server: serve a directory over HTTP (libevent's sample/http-server.c, and more).

``levent http-server [--port 8080] [--address 0.0.0.0] [-U PATH] [--tls-cert C --tls-key K] DIR``

``-U PATH`` listens on a Unix-domain socket instead of TCP (libevent's ``-U``).

Like libevent's sample, ``/dump`` prints any request (method, URI, headers,
body) to stdout and answers 200, and requests other than GET and HEAD are
dumped the same way. GET and HEAD serve DIR:

- files go out with ``Evbuffer.add_file`` (the kernel's sendfile), with a
  Content-Type guessed from the extension, ``Last-Modified`` and an ``ETag``;
- ``Range: bytes=…`` (one range) gets 206 or 416; ``If-None-Match`` and
  ``If-Modified-Since`` get 304;
- a directory gets its ``index.html`` if it has one, else an HTML listing; a
  directory asked for without its trailing slash is redirected (301) to it,
  so relative links work (libevent's sample uses ``<base href>`` instead);
- no request can reach outside DIR: the path is percent-decoded once, then a
  ``..`` segment, a NUL byte or a symlink leading out of DIR gives 404.

One access-log line per request goes to stderr (``--quiet`` turns it off).
``--tls-cert``/``--tls-key`` serve HTTPS through TLS BufferEvents.
"""

from __future__ import annotations

import argparse
import email.utils
import html
import mimetypes
import os
import signal
import ssl
import stat
import sys
import time
from collections.abc import Sequence
from typing import Any

from levent import BEV_OPT_CLOSE_ON_FREE, BufferEvent, Evbuffer, Event, EventBase
from levent.bufferevent.ssl import BUFFEREVENT_SSL_ACCEPTING
from levent.http import (
    EVHTTP_REQ_GET,
    EVHTTP_REQ_HEAD,
    HttpRequest,
    HttpServer,
    encode_uri,
)
from levent.http.server import request_path
from levent.http.uri import uridecode_bytes
from levent.samples import Sample

__all__ = ["SAMPLE", "FileServer", "main"]

DEFAULT_PORT = 8080
DEFAULT_ADDRESS = "0.0.0.0"
_FALLBACK_TYPE = "application/octet-stream"


class FileServer:
    """The request handlers, bound to one document root."""

    __slots__ = ("quiet", "root", "verbose")

    def __init__(self, root: str, quiet: bool = False, verbose: bool = False) -> None:
        #: The real path of the document root (symlinks resolved once, at start).
        self.root = os.path.realpath(root)
        self.quiet = quiet
        self.verbose = verbose

    # -- dispatch -----------------------------------------------------------------

    def handle(self, req: HttpRequest, arg: Any) -> None:
        """The generic callback: files for GET and HEAD, a dump for the rest."""
        if req.command not in (EVHTTP_REQ_GET, EVHTTP_REQ_HEAD):
            self.dump(req, arg)
            return
        self._serve(req)
        self._log(req)

    def dump(self, req: HttpRequest, arg: Any) -> None:
        """``/dump``: print the request to stdout, answer 200 (libevent's dump_request_cb)."""
        lines = [f"Received a {req.command_name} request for {req.uri}", "Headers:"]
        lines += [f"  {key}: {value}" for key, value in req.input_headers]
        body = req.input_buffer.remove(len(req.input_buffer))
        lines.append("Input data: <<<")
        lines.append(body.decode("utf-8", "replace"))
        lines.append(">>>")
        print("\n".join(lines), flush=True)
        req.send_reply(200, "OK")
        self._log(req)

    # -- files ---------------------------------------------------------------------------

    def resolve(self, uri: str) -> str | None:
        """The file system path ``uri`` names inside the root, or None if it names
        nothing there (or tries to leave it)."""
        raw = request_path(uri).encode("latin-1", "replace")
        decoded = uridecode_bytes(raw)
        if b"\x00" in decoded:
            return None
        segments = decoded.split(b"/")
        if b".." in segments:
            return None
        parts = [os.fsdecode(s) for s in segments if s and s != b"."]
        candidate = os.path.join(self.root, *parts)
        real = os.path.realpath(candidate)
        root = self.root
        prefix = root if root.endswith(os.sep) else root + os.sep  # "/" is its own prefix
        if real != root and not real.startswith(prefix):
            return None
        return real

    def _serve(self, req: HttpRequest) -> None:
        path = self.resolve(req.uri)
        if path is None:
            req.send_error(404)
            return
        try:
            st = os.stat(path)
        except OSError:
            req.send_error(404)
            return
        if stat.S_ISDIR(st.st_mode):
            url_path = request_path(req.uri)
            if not url_path.endswith("/"):
                req.output_headers.add("Location", url_path + "/")
                req.send_reply(301, None, b"")
                return
            index = os.path.join(path, "index.html")
            try:
                index_st = os.stat(index)
            except OSError:
                self._listing(req, path, url_path)
                return
            if stat.S_ISREG(index_st.st_mode):
                self._file(req, index, index_st)
            else:
                self._listing(req, path, url_path)
            return
        if not stat.S_ISREG(st.st_mode):
            req.send_error(404)
            return
        self._file(req, path, st)

    def _file(self, req: HttpRequest, path: str, st: os.stat_result) -> None:
        headers = req.output_headers
        size = st.st_size
        etag = f'"{st.st_mtime_ns:x}-{size:x}"'
        last_modified = email.utils.formatdate(st.st_mtime, usegmt=True)
        headers.add("Last-Modified", last_modified)
        headers.add("ETag", etag)
        headers.add("Accept-Ranges", "bytes")
        if _not_modified(req, etag, st.st_mtime):
            req.send_reply(304, None)
            return
        content_type, encoding = mimetypes.guess_type(path)
        if encoding is not None:
            # A .gz file is served as what it is, not as its compressed content's type.
            content_type = _FALLBACK_TYPE
        headers.add("Content-Type", content_type or _FALLBACK_TYPE)
        start, length, code = 0, size, 200
        wanted = req.input_headers.find("Range")
        if wanted is not None and _if_range_holds(req, etag, last_modified):
            span = parse_range(wanted, size)
            if span is None:
                headers.add("Content-Range", f"bytes */{size}")
                req.send_reply(416, None, b"")
                return
            if span != (0, size):
                start, length, code = span[0], span[1] - span[0], 206
                headers.add("Content-Range", f"bytes {span[0]}-{span[1] - 1}/{size}")
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            req.send_error(404)
            return
        body = Evbuffer()
        try:
            if length:
                body.add_file(fd, start, length)
            else:
                os.close(fd)
        except (OSError, ValueError):
            os.close(fd)
            req.send_error(500)
            return
        req.send_reply(code, None, body)

    def _listing(self, req: HttpRequest, path: str, url_path: str) -> None:
        try:
            names = sorted(os.listdir(path))
        except OSError:
            req.send_error(404)
            return
        title = html.escape(url_path)
        rows = []
        for name in names:
            full = os.path.join(path, name)
            suffix = "/" if os.path.isdir(full) else ""
            href = encode_uri(name) + suffix
            rows.append(f'<li><a href="{href}">{html.escape(name)}{suffix}</a></li>')
        page = (
            '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
            f"<title>Index of {title}</title></head>\n<body><h1>Index of {title}</h1>\n<ul>\n"
            + ("" if url_path == "/" else '<li><a href="../">../</a></li>\n')
            + "\n".join(rows)
            + "\n</ul></body></html>\n"
        )
        req.output_headers.add("Content-Type", "text/html; charset=utf-8")
        req.send_reply(200, None, page.encode("utf-8", "surrogateescape"))

    # -- access log ---------------------------------------------------------------------

    def _log(self, req: HttpRequest) -> None:
        if self.quiet:
            return
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
        length = req.output_headers.find("Content-Length") or "-"
        print(
            f'{req.remote_host or "-"} - - [{stamp}] "{req.command_name} {req.uri} '
            f'HTTP/{req.major}.{req.minor}" {req.response_code} {length}',
            file=sys.stderr,
            flush=True,
        )


def parse_range(value: str, size: int) -> tuple[int, int] | None:
    """The half-open byte span one ``Range: bytes=…`` asks for, clipped to ``size``;
    None when unsatisfiable. A header levent does not handle (several ranges, another
    unit, bad syntax) yields the whole file (RFC 9110 §14.2 lets a server ignore it)."""
    unit, _, spec = value.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return (0, size)
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return (0, size)
    first, last = first.strip(), last.strip()
    if not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        return (0, size)
    if first == "":
        if last == "":
            return (0, size)
        n = int(last)
        if n == 0:
            return None
        return (max(0, size - n), size)
    start = int(first)
    if start >= size:
        return None
    end = size if last == "" else min(size, int(last) + 1)
    if end <= start:
        return (0, size)
    return (start, end)


def _not_modified(req: HttpRequest, etag: str, mtime: float) -> bool:
    # RFC 9110 §13.2.2: If-None-Match first; If-Modified-Since only without it.
    match = req.input_headers.find("If-None-Match")
    if match is not None:
        tags = [t.strip().removeprefix("W/") for t in match.split(",")]
        return "*" in tags or etag in tags
    since = req.input_headers.find("If-Modified-Since")
    if since is None:
        return False
    try:
        when = email.utils.parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False
    if when is None:
        return False
    return int(mtime) <= when.timestamp()


def _if_range_holds(req: HttpRequest, etag: str, last_modified: str) -> bool:
    condition = req.input_headers.find("If-Range")
    return condition is None or condition.strip() in (etag, last_modified)


# -- the program ----------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """http-server's options (libevent's -p, -H, -m and -v kept as short forms)."""
    parser.add_argument("docroot", metavar="DIR", help="directory to serve")
    parser.add_argument(
        "-p", "--port", type=int, default=DEFAULT_PORT,
        help=f"TCP port (default {DEFAULT_PORT}; 0 picks a free one, printed on stdout)",
    )  # fmt: skip
    parser.add_argument(
        "-H", "--address", default=DEFAULT_ADDRESS,
        help=f"address to listen on (default {DEFAULT_ADDRESS})",
    )  # fmt: skip
    parser.add_argument(
        "-U", "--unix", default=None, metavar="PATH",
        help="listen on this Unix-domain socket instead of TCP",
    )  # fmt: skip
    parser.add_argument(
        "-m", "--max-body", type=int, default=None, help="largest request body accepted, bytes"
    )
    parser.add_argument("--timeout", type=float, default=None, help="read/write timeout, s")
    parser.add_argument("--tls-cert", default=None, help="PEM certificate chain: serve HTTPS")
    parser.add_argument("--tls-key", default=None, help="PEM private key for --tls-cert")
    parser.add_argument("-q", "--quiet", action="store_true", help="no access log")
    parser.add_argument("-v", "--verbose", action="store_true", help="more messages")


def _tls_context(cert: str, key: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def signal_cb(fd: int, event: int, base: EventBase) -> None:
    """SIGINT or SIGTERM: stop the loop and exit cleanly."""
    print(f"Caught signal {fd}; exiting cleanly.", flush=True)
    base.loopbreak()


def run(args: argparse.Namespace) -> int:
    """Bind, serve DIR until SIGINT/SIGTERM, free everything."""
    if not os.path.isdir(args.docroot):
        print(f"http-server: not a directory: {args.docroot}", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print(f"http-server: port out of range: {args.port}", file=sys.stderr)
        return 2
    if (args.tls_cert is None) != (args.tls_key is None) and args.tls_cert is None:
        print("http-server: --tls-key needs --tls-cert", file=sys.stderr)
        return 2
    context = None
    if args.tls_cert is not None:
        try:
            context = _tls_context(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as exc:
            print(f"http-server: cannot load the TLS certificate: {exc}", file=sys.stderr)
            return 1
    files = FileServer(args.docroot, quiet=args.quiet, verbose=args.verbose)
    with EventBase() as base:
        http = HttpServer(base)
        if args.max_body is not None:
            http.set_max_body_size(args.max_body)
        if args.timeout is not None:
            http.set_timeout(args.timeout)
        if context is not None:
            tls = context

            def make_tls(base: Any, arg: Any) -> BufferEvent:
                return BufferEvent.ssl_socket(
                    base, None, tls, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE
                )

            http.set_bevcb(make_tls)
        http.set_cb("/dump", files.dump)
        http.set_gencb(files.handle)
        where = f"unix:{args.unix}" if args.unix else f"{args.address}:{args.port}"
        try:
            if args.unix:
                bound = http.bind_socket_with_handle(f"unix:{args.unix}", 0)
            else:
                bound = http.bind_socket_with_handle(args.address, args.port)
        except (OSError, ValueError) as exc:
            print(f"http-server: cannot listen on {where}: {exc}", file=sys.stderr)
            http.free()
            return 1
        signals = [
            Event.signal(base, signal.SIGINT, signal_cb, base),
            Event.signal(base, signal.SIGTERM, signal_cb, base),
        ]
        for ev in signals:
            ev.add()
        scheme = "https" if context is not None else "http"
        if args.unix:
            print(f"Listening on unix:{args.unix}", flush=True)
            if args.verbose:
                print(f"Serving {files.root} at {scheme}://unix:{args.unix}:/", flush=True)
        else:
            host, port = bound.getsockname()[:2]
            shown = f"[{host}]" if ":" in host else host
            print(f"Listening on {shown}:{port}", flush=True)
            if args.verbose:
                print(f"Serving {files.root} at {scheme}://{shown}:{port}/", flush=True)
        base.dispatch()
        http.free()
        for ev in signals:
            ev.free()
    return 0


SAMPLE = Sample(
    name="http-server",
    summary="serve a directory over HTTP or HTTPS (libevent's http-server; the main job)",
    add_arguments=add_arguments,
    run=run,
    description=__doc__ or "",
)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m levent.samples.http_server [options] DIR``."""
    return SAMPLE.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
