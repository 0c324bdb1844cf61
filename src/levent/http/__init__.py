"""levent.http: libevent's evhttp — an HTTP/1.x server and client, URIs and headers.

``HttpServer`` (``evhttp``), ``HttpRequest`` (``evhttp_request``),
``HttpConnection`` (the client's ``evhttp_connection``), ``Uri``
(``evhttp_uri``) and ``Headers`` (``evkeyvalq``), with libevent's constants.
Built on levent's Listener and BufferEvents (DESIGN.md §2); HTTP/1.x parsing is
llhttp's through ``httptools`` (DESIGN.md §4).
"""

from __future__ import annotations

from .client import HttpConnection, ResponseError, ResponseReader
from .constants import *  # noqa: F403
from .constants import __all__ as _constants_all
from .headers import Headers
from .protocol import ParseRejection, RequestParser
from .request import HttpError, HttpRequest
from .server import DEFAULT_CONTENT_TYPE, DEFAULT_TIMEOUT, BoundSocket, HttpServer, ServerConnection
from .uri import (
    Uri,
    decode_uri,
    encode_uri,
    htmlescape,
    parse_query,
    parse_query_str,
    uridecode,
    uridecode_bytes,
    uriencode,
)
from .websocket import (
    WS_BINARY_FRAME,
    WS_CR,
    WS_CR_ABNORMAL,
    WS_CR_DATA_TOO_BIG,
    WS_CR_GOING_AWAY,
    WS_CR_INTERNAL_ERROR,
    WS_CR_INVALID_DATA,
    WS_CR_NO_STATUS,
    WS_CR_NONE,
    WS_CR_NORMAL,
    WS_CR_PROTO_ERR,
    WS_FRAME,
    WS_TEXT_FRAME,
    WebSocketConnection,
    WebSocketProtocol,
    WsState,
    new_session,
)

__all__ = [
    *_constants_all,
    "DEFAULT_CONTENT_TYPE",
    "DEFAULT_TIMEOUT",
    "BoundSocket",
    "Headers",
    "HttpConnection",
    "HttpError",
    "HttpRequest",
    "HttpServer",
    "ParseRejection",
    "RequestParser",
    "ResponseError",
    "ResponseReader",
    "ServerConnection",
    "Uri",
    "WS_BINARY_FRAME",
    "WS_CR",
    "WS_CR_ABNORMAL",
    "WS_CR_DATA_TOO_BIG",
    "WS_CR_GOING_AWAY",
    "WS_CR_INTERNAL_ERROR",
    "WS_CR_INVALID_DATA",
    "WS_CR_NO_STATUS",
    "WS_CR_NONE",
    "WS_CR_NORMAL",
    "WS_CR_PROTO_ERR",
    "WS_FRAME",
    "WS_TEXT_FRAME",
    "WebSocketConnection",
    "WebSocketProtocol",
    "WsState",
    "decode_uri",
    "encode_uri",
    "htmlescape",
    "parse_query",
    "parse_query_str",
    "new_session",
    "uridecode",
    "uridecode_bytes",
    "uriencode",
]
