"""Helpers for the HTTP tests: a levent HttpServer looping in a thread, raw clients."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from levent import EventBase
from levent.http import HttpServer


class ServerThread:
    """An HttpServer on its own EventBase, dispatching in a background thread.

    ``setup(http, base)`` runs before the loop starts (register callbacks there);
    the server listens on 127.0.0.1 on an ephemeral port (``.port``). Exceptions
    raised by callbacks are collected in ``.errors``; ``stop()`` fails the test
    if there were any (unless ``allow_errors``).
    """

    def __init__(
        self,
        setup: Callable[[HttpServer, EventBase], None] | None = None,
        allow_errors: bool = False,
    ) -> None:
        self.base = EventBase()
        self.http = HttpServer(self.base)
        self.errors: list[BaseException] = []
        self.allow_errors = allow_errors
        self.base.set_error_handler(lambda base, source, exc: self.errors.append(exc))
        bound = self.http.bind_socket_with_handle("127.0.0.1", 0)
        self.port: int = bound.getsockname()[1]
        if setup is not None:
            setup(self.http, self.base)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.base.dispatch()

    def call(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` on the loop thread soon (via a zero timer)."""
        from levent import Event

        ev = Event.timer(self.base, lambda fd, what, arg: fn())
        ev.add(0)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.base.loopbreak()
        self._thread.join(10)
        assert not self._thread.is_alive(), "the server loop did not stop"
        self.http.free()
        self.base.free()
        if not self.allow_errors:
            assert not self.errors, f"callbacks raised: {self.errors!r}"


def exchange(port: int, data: bytes, wait: float = 1.0, half_close: bool = False) -> bytes:
    """Send ``data`` on a new connection and return everything read until the server
    closes (then b"<EOF>" is appended) or ``wait`` seconds pass with nothing new."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        return read_all(s, wait)


def read_all(s: socket.socket, wait: float = 1.0) -> bytes:
    """Read until EOF (marked b"<EOF>") or ``wait`` seconds of silence."""
    out = b""
    s.settimeout(wait)
    while True:
        try:
            chunk = s.recv(65536)
        except TimeoutError:
            return out
        except ConnectionResetError:
            return out + b"<RST>"
        if not chunk:
            return out + b"<EOF>"
        out += chunk


def read_response(s: socket.socket, timeout: float = 5.0) -> tuple[str, dict[str, str], bytes]:
    """Read one Content-Length-delimited response: (status line, headers, body)."""
    s.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed mid-head: {data!r}")
        data += chunk
        assert time.monotonic() < deadline
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    return lines[0], headers, rest[:length]
