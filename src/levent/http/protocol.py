"""The server's HTTP/1.x request reader, separate from any I/O.

:class:`RequestParser` turns the bytes a client sends into :class:`HttpRequest`
objects and hands them to a :class:`RequestSink` (the server connection) as
they take shape: head, body pieces, complete; or a status code when the bytes
cannot be trusted. Parsing is llhttp's (through ``httptools``), which is strict
about what request smuggling relies on: conflicting Content-Length and
Transfer-Encoding, duplicate Content-Length, obs-fold, bare CR or LF, bad chunk
sizes. What the parser does not know — levent's own size limits, the method
set, the version — is checked here, and each failure maps to the status RFC
9110 gives it (DESIGN.md §6): 400, 405, 413, 414, 417, 431, 501, 505.
"""

from __future__ import annotations

import re
from typing import Final

import httptools
from mypy_extensions import trait

from .constants import (
    DEFAULT_ALLOWED_METHODS,
    EVHTTP_REQ,
)
from .request import HttpRequest, RequestOwner

__all__ = [
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_HEADERS_SIZE",
    "DEFAULT_MAX_URI_SIZE",
    "ParseRejection",
    "RequestParser",
    "RequestSink",
]

#: Default cap on the request line plus header section, in bytes (431 beyond it).
DEFAULT_MAX_HEADERS_SIZE: Final = 64 * 1024
#: Default cap on the request target (414 beyond it).
DEFAULT_MAX_URI_SIZE: Final = 16 * 1024
#: Default cap on the number of header lines (431 beyond it).
DEFAULT_MAX_HEADERS: Final = 256
#: Default cap on a request body (413 beyond it); -1 means none.
DEFAULT_MAX_BODY_SIZE: Final = 64 * 1024 * 1024

# Request-line method bytes -> (name, EVHTTP_REQ bit as a plain int: no enum in the hot path).
_METHODS: Final[dict[bytes, tuple[str, int]]] = {
    str(m.name).encode(): (str(m.name), int(m)) for m in EVHTTP_REQ
}
_HEAD: Final = int(EVHTTP_REQ.HEAD)
# A method token then a space (RFC 9110 §5.6.2): the start of a request line whose method
# llhttp does not know; anything else at that place is not HTTP at all.
_METHOD_TOKEN: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+ ")
_VERSION_TOKEN: Final = re.compile(rb" HTTP/[0-9]\.[0-9]\r?\n")

# Per header line: ": " and CRLF around the name and value.
_LINE_OVERHEAD: Final = 4


class ParseRejection(Exception):
    """The request cannot be served: ``status`` says why (and the connection closes)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@trait
class RequestSink:
    """Where a :class:`RequestParser` delivers requests (the server connection, which is
    also the requests' RequestOwner); a trait, so that compiled the parser calls it
    natively. The defaults accept and drop."""

    def _request_begun(self, req: HttpRequest) -> bool:
        return True

    def _request_head(self, req: HttpRequest) -> None:
        """The request line and headers of ``req`` are complete."""

    def _request_body(self, req: HttpRequest, data: bytes) -> None:
        """A piece of ``req``'s body arrived."""

    def _request_complete(self, req: HttpRequest) -> None:
        """``req`` is complete."""


class RequestParser:
    """Incremental request reader: :meth:`feed` bytes, get sink calls (no I/O here)."""

    __slots__ = (
        "_body_size",
        "_fresh",
        "_head_size",
        "_header_count",
        "_in_head",
        "_owner",
        "_parser",
        "_raw_head",
        "_req",
        "_sink",
        "_upgraded",
        "_url",
        "allowed_methods",
        "extra_methods",
        "max_body_size",
        "max_headers",
        "max_headers_size",
        "max_uri_size",
    )

    def __init__(self, sink: RequestSink, owner: RequestOwner) -> None:
        self._sink = sink
        # The connection the requests belong to (in levent's server, the sink itself).
        self._owner = owner
        self._parser = httptools.HttpRequestParser(self)
        self._req: HttpRequest | None = None
        self._url: bytes = b""
        self._head_size = 0
        self._header_count = 0
        self._body_size = 0
        self._in_head = False
        self._raw_head = 0
        #: Offset (into the last fed data) where an upgraded protocol's bytes start.
        self._upgraded = -1
        # The data being fed, while its first request starts at its first byte.
        self._fresh: bytes | None = None
        self.max_headers_size = DEFAULT_MAX_HEADERS_SIZE
        self.max_uri_size = DEFAULT_MAX_URI_SIZE
        self.max_headers = DEFAULT_MAX_HEADERS
        self.max_body_size = DEFAULT_MAX_BODY_SIZE
        self.allowed_methods: int = int(DEFAULT_ALLOWED_METHODS)
        #: Method names outside EVHTTP_REQ that are accepted (``evhttp_set_ext_method_cmp``).
        self.extra_methods: frozenset[str] = frozenset()

    @property
    def in_request(self) -> bool:
        """True between the first byte of a request and its last."""
        return self._req is not None

    @property
    def in_head(self) -> bool:
        """True while a request's line and headers are still arriving."""
        return self._in_head

    @property
    def upgrade_offset(self) -> int:
        """After an Upgrade or CONNECT request, where the new protocol's bytes begin in the
        data last fed (-1 when no upgrade happened)."""
        return self._upgraded

    def feed(self, data: bytes) -> None:
        """Parse ``data``; raise :class:`ParseRejection` if the request is unacceptable.

        After a rejection the parser is unusable: the connection must answer and close.
        """
        self._fresh = data if self._req is None else None
        try:
            self._parser.feed_data(data)
        except ParseRejection:
            raise
        except httptools.HttpParserUpgrade as exc:
            self._upgraded = int(exc.args[0]) if exc.args else len(data)
            return
        except httptools.HttpParserInvalidMethodError:
            # llhttp says "invalid method" for any bytes that are not a method it knows:
            # only a well-formed token is a method levent does not implement.
            if _METHOD_TOKEN.match(data.lstrip(b"\r\n")):
                raise ParseRejection(501, "unknown method") from None
            raise ParseRejection(400, "malformed request line") from None
        except httptools.HttpParserInvalidURLError:
            raise ParseRejection(400, "malformed request target") from None
        except httptools.HttpParserCallbackError as exc:
            # A callback of ours (or of the sink) raised: httptools keeps it as the context.
            cause = exc.__context__
            if isinstance(cause, Exception):
                raise cause from None
            raise ParseRejection(400, "malformed request") from None
        except httptools.HttpParserError as exc:
            message = str(exc)
            if "invalid http version" in message.lower() and _VERSION_TOKEN.search(data):
                raise ParseRejection(505, "HTTP version not supported") from None
            raise ParseRejection(400, message or "malformed request") from None
        finally:
            self._fresh = None
        if self._in_head:
            self._check_partial_head(data)

    def _check_partial_head(self, data: bytes) -> None:
        # A head still incomplete after this feed: llhttp buffers an unfinished header
        # line without bound, so the raw bytes count against the limit too.
        self._raw_head += len(data)
        limit = self.max_headers_size
        if limit >= 0:
            uri_limit = self.max_uri_size if self.max_uri_size >= 0 else 0
            if self._raw_head > limit + uri_limit:
                raise ParseRejection(431, "request header fields too large")
        # A request line without a version (HTTP/0.9): llhttp would wait for headers
        # that never come.
        if (
            self._url
            and self._header_count == 0
            and b"\n" in data
            and self._parser.get_http_version() == "0.0"
        ):
            raise ParseRejection(505, "HTTP/0.9 is not supported")

    # -- httptools callbacks ------------------------------------------------------

    def on_message_begin(self) -> None:
        req = HttpRequest._incoming(self._owner)
        self._req = req
        self._url = b""
        self._head_size = 0
        self._header_count = 0
        self._body_size = 0
        self._in_head = True
        self._raw_head = 0
        if not self._sink._request_begun(req):
            raise ParseRejection(0, "refused by the new-request callback")

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self.max_uri_size >= 0:
            raise ParseRejection(414, "request target too long")
        self._head_size += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._head_size += len(name) + len(value) + _LINE_OVERHEAD
        if (0 <= self.max_headers_size < self._head_size) or (
            0 <= self.max_headers < self._header_count
        ):
            raise ParseRejection(431, "request header fields too large")
        req = self._req
        assert req is not None
        # Trailers after a chunked body land here too: libevent adds them to the input headers.
        req.input_headers._append(name.decode("latin-1"), value.decode("latin-1"))

    def on_headers_complete(self) -> None:
        req = self._req
        assert req is not None
        parser = self._parser
        self._in_head = False
        minor = -1
        data = self._fresh
        if data is not None:
            # The first request of this feed began at its first byte, so its request
            # line is the first line: read the version there (httptools formats a
            # string for get_http_version, a cost on every request).
            self._fresh = None
            eol = data.find(b"\n")
            if eol > 10:
                if data.endswith(b" HTTP/1.1\r", 0, eol):
                    minor = 1
                elif data.endswith(b" HTTP/1.0\r", 0, eol):
                    minor = 0
        if minor < 0:
            version = parser.get_http_version()
            if version == "1.1":
                minor = 1
            elif version == "1.0":
                minor = 0
            else:
                raise ParseRejection(505, f"HTTP/{version} is not supported")
        req.minor = minor
        raw = parser.get_method()
        known = _METHODS.get(raw)
        if known is None:
            name = raw.decode("latin-1")
            req.method = name
            if name not in self.extra_methods:
                raise ParseRejection(501, f"method {name} is not implemented")
        else:
            name, bit = known
            req.method = name
            if not bit & self.allowed_methods:
                raise ParseRejection(405, f"method {name} is not allowed")
            req.command = bit
        req.uri = self._url.decode("latin-1")
        self._url = b""
        self._sink._request_head(req)

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self.max_body_size >= 0:
            raise ParseRejection(413, "request body too large")
        req = self._req
        assert req is not None
        if req.command == _HEAD:
            # HEAD has no body, whatever it announces (libevent: request_extra_body); the
            # connection closes after the reply, since the stream cannot be trusted.
            return
        self._sink._request_body(req, body)

    def on_message_complete(self) -> None:
        req = self._req
        assert req is not None
        self._req = None
        self._sink._request_complete(req)

    # The chunk callbacks exist so httptools reports chunk boundaries; nothing to do.
    def on_chunk_header(self) -> None:
        pass

    def on_chunk_complete(self) -> None:
        pass
