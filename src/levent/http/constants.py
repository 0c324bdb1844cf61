"""evhttp constants with libevent's names and values (``event2/http.h``).

Methods are bits of :class:`EVHTTP_REQ` (a request's ``command`` is one bit; an
allowed-methods mask is several), status codes are plain ints with libevent's
``HTTP_*`` names, and :func:`reason_phrase` gives the standard phrase for a code.
"""

from __future__ import annotations

import enum

__all__ = [
    "EVHTTP_CON",
    "EVHTTP_CON_LINGERING_CLOSE",
    "EVHTTP_CON_PUBLIC_FLAGS_END",
    "EVHTTP_CON_READ_ON_WRITE_ERROR",
    "EVHTTP_CON_REUSE_CONNECTED_ADDR",
    "EVHTTP_REQUEST",
    "EVHTTP_REQUEST_KIND",
    "EVHTTP_REQ",
    "EVHTTP_REQ_CONNECT",
    "EVHTTP_REQ_COPY",
    "EVHTTP_REQ_DELETE",
    "EVHTTP_REQ_GET",
    "EVHTTP_REQ_HEAD",
    "EVHTTP_REQ_LOCK",
    "EVHTTP_REQ_MAX",
    "EVHTTP_REQ_MKCOL",
    "EVHTTP_REQ_MOVE",
    "EVHTTP_REQ_OPTIONS",
    "EVHTTP_REQ_PATCH",
    "EVHTTP_REQ_POST",
    "EVHTTP_REQ_PROPFIND",
    "EVHTTP_REQ_PROPPATCH",
    "EVHTTP_REQ_PUT",
    "EVHTTP_REQ_TRACE",
    "EVHTTP_REQ_UNLOCK",
    "EVHTTP_RESPONSE",
    "EVHTTP_SERVER",
    "EVHTTP_SERVER_LINGERING_CLOSE",
    "EVHTTP_URI",
    "EVHTTP_URI_QUERY",
    "EVHTTP_URI_HOST_STRIP_BRACKETS",
    "EVHTTP_URI_NONCONFORMANT",
    "EVHTTP_URI_QUERY_LAST_VAL",
    "EVHTTP_URI_QUERY_NONCONFORMANT",
    "EVHTTP_URI_UNIX_SOCKET",
    "EVREQ_HTTP_BUFFER_ERROR",
    "EVREQ_HTTP_DATA_TOO_LONG",
    "EVREQ_HTTP_EOF",
    "EVREQ_HTTP_INVALID_HEADER",
    "EVREQ_HTTP_REQUEST_CANCEL",
    "EVREQ_HTTP_TIMEOUT",
    "EVREQ_HTTP",
    "HTTP_ACCEPTED",
    "HTTP_BADGATEWAY",
    "HTTP_BADMETHOD",
    "HTTP_BADREQUEST",
    "HTTP_CONTINUE",
    "HTTP_CREATED",
    "HTTP_EARLYHINTS",
    "HTTP_ENTITYTOOLARGE",
    "HTTP_EXPECTATIONFAILED",
    "HTTP_FORBIDDEN",
    "HTTP_INTERNAL",
    "HTTP_MOVEPERM",
    "HTTP_MOVETEMP",
    "HTTP_NONAUTHORITATIVE",
    "HTTP_NOCONTENT",
    "HTTP_NOTFOUND",
    "HTTP_NOTIMPLEMENTED",
    "HTTP_NOTMODIFIED",
    "HTTP_OK",
    "HTTP_PAYMENTREQUIRED",
    "HTTP_PROCESSING",
    "HTTP_SERVUNAVAIL",
    "HTTP_STATUS",
    "HTTP_SWITCH_PROTOCOLS",
    "HTTP_UNAUTHORIZED",
    "DEFAULT_ALLOWED_METHODS",
    "METHOD_NAMES",
    "method_from_name",
    "reason_phrase",
]


class EVHTTP_REQ(enum.IntFlag):
    """Request methods (``enum evhttp_cmd_type``): one bit each, so masks combine."""

    GET = 1 << 0
    POST = 1 << 1
    HEAD = 1 << 2
    PUT = 1 << 3
    DELETE = 1 << 4
    OPTIONS = 1 << 5
    TRACE = 1 << 6
    CONNECT = 1 << 7
    PATCH = 1 << 8
    PROPFIND = 1 << 9
    PROPPATCH = 1 << 10
    MKCOL = 1 << 11
    LOCK = 1 << 12
    UNLOCK = 1 << 13
    COPY = 1 << 14
    MOVE = 1 << 15


EVHTTP_REQ_GET = EVHTTP_REQ.GET
EVHTTP_REQ_POST = EVHTTP_REQ.POST
EVHTTP_REQ_HEAD = EVHTTP_REQ.HEAD
EVHTTP_REQ_PUT = EVHTTP_REQ.PUT
EVHTTP_REQ_DELETE = EVHTTP_REQ.DELETE
EVHTTP_REQ_OPTIONS = EVHTTP_REQ.OPTIONS
EVHTTP_REQ_TRACE = EVHTTP_REQ.TRACE
EVHTTP_REQ_CONNECT = EVHTTP_REQ.CONNECT
EVHTTP_REQ_PATCH = EVHTTP_REQ.PATCH
EVHTTP_REQ_PROPFIND = EVHTTP_REQ.PROPFIND
EVHTTP_REQ_PROPPATCH = EVHTTP_REQ.PROPPATCH
EVHTTP_REQ_MKCOL = EVHTTP_REQ.MKCOL
EVHTTP_REQ_LOCK = EVHTTP_REQ.LOCK
EVHTTP_REQ_UNLOCK = EVHTTP_REQ.UNLOCK
EVHTTP_REQ_COPY = EVHTTP_REQ.COPY
EVHTTP_REQ_MOVE = EVHTTP_REQ.MOVE
#: The highest method bit (``EVHTTP_REQ_MAX``).
EVHTTP_REQ_MAX = EVHTTP_REQ.MOVE

#: ``evhttp_new``'s allowed methods: GET, POST, HEAD, PUT and DELETE.
DEFAULT_ALLOWED_METHODS = (
    EVHTTP_REQ.GET | EVHTTP_REQ.POST | EVHTTP_REQ.HEAD | EVHTTP_REQ.PUT | EVHTTP_REQ.DELETE
)

#: Method bit -> the name on the request line (methods are case-sensitive).
METHOD_NAMES: dict[int, str] = {int(m): str(m.name) for m in EVHTTP_REQ}
_METHODS_BY_NAME: dict[str, EVHTTP_REQ] = {str(m.name): m for m in EVHTTP_REQ}


def method_from_name(name: str) -> EVHTTP_REQ | None:
    """The method bit for a request-line method name, or None if levent does not know it."""
    return _METHODS_BY_NAME.get(name)


class EVHTTP_REQUEST_KIND(enum.IntEnum):
    """Which way a request object goes (``enum evhttp_request_kind``)."""

    REQUEST = 0
    RESPONSE = 1


EVHTTP_REQUEST = EVHTTP_REQUEST_KIND.REQUEST
EVHTTP_RESPONSE = EVHTTP_REQUEST_KIND.RESPONSE


class EVREQ_HTTP(enum.IntEnum):
    """Why a client request failed (``enum evhttp_request_error``)."""

    TIMEOUT = 0
    EOF = 1
    INVALID_HEADER = 2
    BUFFER_ERROR = 3
    REQUEST_CANCEL = 4
    DATA_TOO_LONG = 5


EVREQ_HTTP_TIMEOUT = EVREQ_HTTP.TIMEOUT
EVREQ_HTTP_EOF = EVREQ_HTTP.EOF
EVREQ_HTTP_INVALID_HEADER = EVREQ_HTTP.INVALID_HEADER
EVREQ_HTTP_BUFFER_ERROR = EVREQ_HTTP.BUFFER_ERROR
EVREQ_HTTP_REQUEST_CANCEL = EVREQ_HTTP.REQUEST_CANCEL
EVREQ_HTTP_DATA_TOO_LONG = EVREQ_HTTP.DATA_TOO_LONG


class EVHTTP_CON(enum.IntFlag):
    """Client connection flags (``evhttp_connection_set_flags``)."""

    REUSE_CONNECTED_ADDR = 0x0008
    READ_ON_WRITE_ERROR = 0x0010
    LINGERING_CLOSE = 0x0020


EVHTTP_CON_REUSE_CONNECTED_ADDR = EVHTTP_CON.REUSE_CONNECTED_ADDR
EVHTTP_CON_READ_ON_WRITE_ERROR = EVHTTP_CON.READ_ON_WRITE_ERROR
EVHTTP_CON_LINGERING_CLOSE = EVHTTP_CON.LINGERING_CLOSE

#: libevent's end of the public connection flags (``EVHTTP_CON_PUBLIC_FLAGS_END``).
EVHTTP_CON_PUBLIC_FLAGS_END = 0x100000


class EVHTTP_SERVER(enum.IntFlag):
    """Server flags (``evhttp_set_flags``)."""

    #: Read and discard an oversized body before the 413 (levent always lingers).
    LINGERING_CLOSE = 0x0001


EVHTTP_SERVER_LINGERING_CLOSE = EVHTTP_SERVER.LINGERING_CLOSE


class EVHTTP_URI(enum.IntFlag):
    """URI parsing flags (``evhttp_uri_parse_with_flags``)."""

    NONCONFORMANT = 0x01
    HOST_STRIP_BRACKETS = 0x04
    UNIX_SOCKET = 0x08


class EVHTTP_URI_QUERY(enum.IntFlag):
    """Query parsing flags (``evhttp_parse_query_str_flags``)."""

    NONCONFORMANT = 0x01
    LAST_VAL = 0x02


EVHTTP_URI_NONCONFORMANT = EVHTTP_URI.NONCONFORMANT
EVHTTP_URI_HOST_STRIP_BRACKETS = EVHTTP_URI.HOST_STRIP_BRACKETS
EVHTTP_URI_UNIX_SOCKET = EVHTTP_URI.UNIX_SOCKET
EVHTTP_URI_QUERY_NONCONFORMANT = EVHTTP_URI_QUERY.NONCONFORMANT
EVHTTP_URI_QUERY_LAST_VAL = EVHTTP_URI_QUERY.LAST_VAL


class HTTP_STATUS(enum.IntEnum):
    """The status codes evhttp names (``HTTP_OK`` is ``HTTP_STATUS.OK``, equal to 200)."""

    CONTINUE = 100
    SWITCH_PROTOCOLS = 101
    PROCESSING = 102
    EARLYHINTS = 103
    OK = 200
    CREATED = 201
    ACCEPTED = 202
    NONAUTHORITATIVE = 203
    NOCONTENT = 204
    MOVEPERM = 301
    MOVETEMP = 302
    NOTMODIFIED = 304
    BADREQUEST = 400
    UNAUTHORIZED = 401
    PAYMENTREQUIRED = 402
    FORBIDDEN = 403
    NOTFOUND = 404
    BADMETHOD = 405
    ENTITYTOOLARGE = 413
    EXPECTATIONFAILED = 417
    INTERNAL = 500
    NOTIMPLEMENTED = 501
    BADGATEWAY = 502
    SERVUNAVAIL = 503


HTTP_CONTINUE = HTTP_STATUS.CONTINUE
HTTP_SWITCH_PROTOCOLS = HTTP_STATUS.SWITCH_PROTOCOLS
HTTP_PROCESSING = HTTP_STATUS.PROCESSING
HTTP_EARLYHINTS = HTTP_STATUS.EARLYHINTS
HTTP_OK = HTTP_STATUS.OK
HTTP_CREATED = HTTP_STATUS.CREATED
HTTP_ACCEPTED = HTTP_STATUS.ACCEPTED
HTTP_NONAUTHORITATIVE = HTTP_STATUS.NONAUTHORITATIVE
HTTP_NOCONTENT = HTTP_STATUS.NOCONTENT
HTTP_MOVEPERM = HTTP_STATUS.MOVEPERM
HTTP_MOVETEMP = HTTP_STATUS.MOVETEMP
HTTP_NOTMODIFIED = HTTP_STATUS.NOTMODIFIED
HTTP_BADREQUEST = HTTP_STATUS.BADREQUEST
HTTP_UNAUTHORIZED = HTTP_STATUS.UNAUTHORIZED
HTTP_PAYMENTREQUIRED = HTTP_STATUS.PAYMENTREQUIRED
HTTP_FORBIDDEN = HTTP_STATUS.FORBIDDEN
HTTP_NOTFOUND = HTTP_STATUS.NOTFOUND
HTTP_BADMETHOD = HTTP_STATUS.BADMETHOD
HTTP_ENTITYTOOLARGE = HTTP_STATUS.ENTITYTOOLARGE
HTTP_EXPECTATIONFAILED = HTTP_STATUS.EXPECTATIONFAILED
HTTP_INTERNAL = HTTP_STATUS.INTERNAL
HTTP_NOTIMPLEMENTED = HTTP_STATUS.NOTIMPLEMENTED
HTTP_BADGATEWAY = HTTP_STATUS.BADGATEWAY
HTTP_SERVUNAVAIL = HTTP_STATUS.SERVUNAVAIL

# RFC 9110's phrases (libevent's table, plus the codes levent itself sends).
_REASONS: dict[int, str] = {
    100: "Continue",
    101: "Switching Protocols",
    102: "Processing",
    103: "Early Hints",
    200: "OK",
    201: "Created",
    202: "Accepted",
    203: "Non-Authoritative Information",
    204: "No Content",
    205: "Reset Content",
    206: "Partial Content",
    207: "Multi-Status",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    304: "Not Modified",
    305: "Use Proxy",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    411: "Length Required",
    412: "Precondition Failed",
    413: "Content Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    416: "Range Not Satisfiable",
    417: "Expectation Failed",
    421: "Misdirected Request",
    422: "Unprocessable Content",
    426: "Upgrade Required",
    428: "Precondition Required",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
}
_CLASS_NAMES = ("Informational", "Success", "Redirection", "Client Error", "Server Error")


def reason_phrase(code: int) -> str:
    """The standard reason phrase for ``code``, else its class name, as evhttp's table does."""
    phrase = _REASONS.get(code)
    if phrase is not None:
        return phrase
    klass = code // 100
    if 1 <= klass <= 5:
        return _CLASS_NAMES[klass - 1]
    return "Unknown Status Class"
