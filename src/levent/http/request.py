"""HttpRequest: one HTTP exchange, on either side (libevent's ``evhttp_request``).

A server hands the user an incoming request (``kind`` REQUEST): its command,
URI, ``input_headers`` and ``input_buffer`` are what the client sent; the user
fills ``output_headers`` / ``output_buffer`` and answers with
:meth:`HttpRequest.send_reply` (or :meth:`send_error`, or the streaming trio).
A client builds a request with ``HttpRequest(cb, arg)`` (kind RESPONSE: it will
hold the response), fills ``output_headers`` / ``output_buffer`` and queues it
with ``HttpConnection.make_request``; ``cb(req, arg)`` then sees the response
in ``response_code``, ``input_headers``, ``input_buffer`` — or ``req`` None on
failure, as in libevent.

The connection a request belongs to does the I/O; the request only carries data
and forwards the reply verbs to it (:class:`RequestOwner`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, Protocol

from levent.buffer import Evbuffer
from levent.errors import EventError

from .constants import (
    EVHTTP_REQUEST_KIND,
    EVHTTP_URI_NONCONFORMANT,
    METHOD_NAMES,
    method_from_name,
)
from .headers import Headers
from .uri import Uri

__all__ = ["HttpError", "HttpRequest", "RequestCallback", "RequestOwner"]

_REQUEST: Final = EVHTTP_REQUEST_KIND.REQUEST
_RESPONSE: Final = EVHTTP_REQUEST_KIND.RESPONSE

#: ``cb(req, arg)``: a request is complete (req None: a client request failed).
RequestCallback = Callable[["HttpRequest | None", Any], None]


class HttpError(EventError):
    """Misuse of an HTTP object: replying twice, replying on a client request, …"""


class RequestOwner(Protocol):
    """What a request asks of its connection (the server or client side).

    A Protocol, not a mypyc trait: the client's connection is not compiled, and an
    interpreted class cannot inherit a compiled trait.
    """

    def _send_reply(
        self, req: HttpRequest, code: int, reason: str | None, body: object
    ) -> None: ...

    def _send_error(self, req: HttpRequest, code: int, reason: str | None) -> None: ...

    def _reply_start(self, req: HttpRequest, code: int, reason: str | None) -> None: ...

    def _reply_chunk(
        self, req: HttpRequest, body: object, cb: Callable[[Any, Any], None] | None, arg: Any
    ) -> None: ...

    def _reply_end(self, req: HttpRequest) -> None: ...

    def _cancel(self, req: HttpRequest) -> None: ...

    def _request_freed(self, req: HttpRequest) -> None: ...


class HttpRequest:
    """One request/response exchange (``struct evhttp_request``)."""

    __slots__ = (
        "_close",
        "_done",
        "_freed",
        "_input_buffer",
        "_on_complete",
        "_on_complete_arg",
        "_output_buffer",
        "_owned",
        "_owner",
        "_replied",
        "_streaming",
        "_uri_parsed",
        "cb",
        "cb_arg",
        "chunk_cb",
        "command",
        "error_cb",
        "header_cb",
        "input_headers",
        "kind",
        "major",
        "method",
        "minor",
        "output_headers",
        "remote_host",
        "remote_port",
        "response_code",
        "response_code_line",
        "uri",
        "userdata",
    )

    def __init__(self, cb: RequestCallback | None = None, arg: Any = None) -> None:
        """A client request whose completion runs ``cb(req, arg)`` (``evhttp_request_new``)."""
        self.kind: EVHTTP_REQUEST_KIND = _RESPONSE
        self.command: int = 0
        #: The method's name as on the request line (also for methods levent has no bit for).
        self.method: str = ""
        self.uri: str = ""
        self._uri_parsed: Uri | None = None
        self.major: int = 1
        self.minor: int = 1
        self.input_headers: Headers = Headers()
        self.output_headers: Headers = Headers()
        self._input_buffer: Evbuffer | None = None
        self._output_buffer: Evbuffer | None = None
        self.response_code: int = 0
        self.response_code_line: str = ""
        self.remote_host: str = ""
        self.remote_port: int = 0
        self._owner: RequestOwner | None = None
        self.cb: RequestCallback | None = cb
        self.cb_arg: Any = arg
        #: ``chunk_cb(req, arg)``: a piece of body arrived in ``input_buffer`` (then drained).
        self.chunk_cb: RequestCallback | None = None
        #: ``header_cb(req, arg) -> int``: response headers parsed; negative aborts.
        self.header_cb: Callable[[HttpRequest, Any], int | None] | None = None
        #: ``error_cb(error, arg)``: why a client request failed (before ``cb(None, arg)``).
        self.error_cb: Callable[[int, Any], None] | None = None
        self._on_complete: Callable[[HttpRequest, Any], None] | None = None
        self._on_complete_arg: Any = None
        self._owned = False
        self._replied = False
        self._streaming = False
        self._done = False
        self._freed = False
        # Set by the connection: the connection cannot carry another exchange after this one.
        self._close = False
        #: Free for the user: anything to carry along with the request.
        self.userdata: Any = None

    @classmethod
    def _incoming(cls, owner: RequestOwner) -> HttpRequest:
        # A server-side request: what the client sent goes into the input side.
        req = cls()
        req.kind = _REQUEST
        req._owner = owner
        return req

    # -- data -----------------------------------------------------------------

    @property
    def input_buffer(self) -> Evbuffer:
        """The received body (``evhttp_request_get_input_buffer``)."""
        buf = self._input_buffer
        if buf is None:
            buf = self._input_buffer = Evbuffer()
        return buf

    @property
    def output_buffer(self) -> Evbuffer:
        """The body to send (``evhttp_request_get_output_buffer``)."""
        buf = self._output_buffer
        if buf is None:
            buf = self._output_buffer = Evbuffer()
        return buf

    @property
    def uri_parsed(self) -> Uri:
        """The request URI parsed (``evhttp_request_get_evhttp_uri``)."""
        parsed = self._uri_parsed
        if parsed is None:
            parsed = self._uri_parsed = Uri.parse(self.uri, EVHTTP_URI_NONCONFORMANT)
        return parsed

    @property
    def host(self) -> str | None:
        """The host asked for: an absolute URI's host, else the Host header without its
        port (``evhttp_request_get_host``)."""
        if self.uri and not self.uri.startswith("/"):
            try:
                host = self.uri_parsed.host
            except ValueError:
                host = None
            if host:
                return host
        value = (
            self.input_headers.find("Host")
            if self.kind == _REQUEST
            else (self.output_headers.find("Host"))
        )
        if value is None:
            return None
        if value.startswith("["):
            end = value.find("]")
            return value[: end + 1] if end >= 0 else value
        colon = value.rfind(":")
        return value[:colon] if colon >= 0 else value

    @property
    def connection(self) -> Any:
        """The connection carrying this request, or None once it is gone
        (``evhttp_request_get_connection``)."""
        return self._owner

    @property
    def command_name(self) -> str:
        """The method's name (``evhttp_method``)."""
        return self.method or METHOD_NAMES.get(self.command, "")

    def get_command(self) -> int:
        """``evhttp_request_get_command``."""
        return self.command

    # -- server side: replies ------------------------------------------------------

    def _server_owner(self) -> RequestOwner | None:
        # None: the client went away; the reply is dropped, as evhttp does (check
        # ``req.connection`` to know). Misuse raises.
        if self.kind != _REQUEST:
            raise HttpError("only a request a server received can be replied to")
        if self._done:
            raise HttpError("the request has already been answered")
        return self._owner

    def send_reply(self, code: int, reason: str | None = None, body: object = None) -> None:
        """Send the whole response (``evhttp_send_reply``): ``body`` is an Evbuffer
        (drained), bytes-like or str, or None for ``output_buffer``."""
        owner = self._server_owner()
        if owner is not None:
            owner._send_reply(self, code, reason, body)

    def send_error(self, code: int, reason: str | None = None) -> None:
        """Send an HTML error page and close the connection (``evhttp_send_error``)."""
        owner = self._server_owner()
        if owner is not None:
            owner._send_error(self, code, reason)

    def send_reply_start(self, code: int, reason: str | None = None) -> None:
        """Start a streamed response (``evhttp_send_reply_start``): chunked on HTTP/1.1
        unless ``output_headers`` has a Content-Length."""
        owner = self._server_owner()
        if owner is not None:
            owner._reply_start(self, code, reason)

    def send_reply_chunk(self, body: object) -> None:
        """Send one piece of a streamed response (``evhttp_send_reply_chunk``)."""
        owner = self._server_owner()
        if owner is not None:
            owner._reply_chunk(self, body, None, None)

    def send_reply_chunk_with_cb(
        self, body: object, cb: Callable[[Any, Any], None], arg: Any = None
    ) -> None:
        """As send_reply_chunk; ``cb(connection, arg)`` runs once the piece is written
        (``evhttp_send_reply_chunk_with_cb``)."""
        owner = self._server_owner()
        if owner is not None:
            owner._reply_chunk(self, body, cb, arg)

    def send_reply_end(self) -> None:
        """Finish a streamed response (``evhttp_send_reply_end``)."""
        owner = self._server_owner()
        if owner is not None:
            owner._reply_end(self)

    def set_on_complete_cb(self, cb: Callable[[HttpRequest, Any], None], arg: Any = None) -> None:
        """``cb(req, arg)`` after the reply is fully written
        (``evhttp_request_set_on_complete_cb``)."""
        self._on_complete = cb
        self._on_complete_arg = arg

    # -- client side ------------------------------------------------------------

    def set_chunked_cb(self, cb: RequestCallback | None) -> None:
        """``evhttp_request_set_chunked_cb``."""
        self.chunk_cb = cb

    def set_header_cb(self, cb: Callable[[HttpRequest, Any], int | None] | None) -> None:
        """``evhttp_request_set_header_cb``."""
        self.header_cb = cb

    def set_error_cb(self, cb: Callable[[int, Any], None] | None) -> None:
        """``evhttp_request_set_error_cb``."""
        self.error_cb = cb

    def cancel(self) -> None:
        """Cancel a queued or running client request: its callback will not run
        (``evhttp_cancel_request``)."""
        owner = self._owner
        if owner is None or self._done:
            raise HttpError("the request is not queued on a connection")
        owner._cancel(self)

    # -- lifetime ----------------------------------------------------------------

    def own(self) -> None:
        """Keep the request past its completion; the user frees it (``evhttp_request_own``)."""
        self._owned = True

    def is_owned(self) -> bool:
        """``evhttp_request_is_owned``."""
        return self._owned

    def free(self) -> None:
        """Release the request (``evhttp_request_free``); its buffers are dropped."""
        if self._freed:
            return
        self._freed = True
        owner = self._owner
        if owner is not None:
            owner._request_freed(self)
        self._owner = None
        self._input_buffer = None
        self._output_buffer = None

    def __repr__(self) -> str:
        name = self.command_name or "?"
        return f"<HttpRequest {name} {self.uri!r} code={self.response_code}>"

    @staticmethod
    def method_bit(name: str) -> int:
        """The EVHTTP_REQ bit for a method name, 0 if levent has none."""
        bit = method_from_name(name)
        return 0 if bit is None else int(bit)
