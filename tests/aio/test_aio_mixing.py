"""Mixing coroutines and levent's own objects on one EventBase (levent.aio, "Mixing").

Coroutines use BufferEvents through ``levent.aio.bev`` (``await bev.read_until(...)``,
``await bev.drain()``), and evhttp handlers may be ``async def``. Everything runs on
real sockets on 127.0.0.1, on an ``EventLoop`` over the ``base`` fixture (once per
backend; a levent callback that raises fails the test unless the test says otherwise).
"""

from __future__ import annotations

import asyncio
import http.client
import logging
import socket
import struct
import subprocess
import sys
import textwrap
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import pytest

from levent import (
    BEV_EVENT_EOF,
    BEV_EVENT_READING,
    BEV_OPT_CLOSE_ON_FREE,
    BEV_OPT_DEFER_CALLBACKS,
    BEV_OPT_THREADSAFE,
    EV_READ,
    EV_WRITE,
    LEV_OPT_REUSEABLE,
    BufferEvent,
    EventBase,
    Listener,
)
from levent.aio import EventLoop
from levent.aio import bev as aio_bev
from levent.bufferevent import SocketBufferEvent
from levent.errors import EventStateError
from levent.http import HttpRequest, HttpServer

_T = TypeVar("_T")
Run = Callable[[Coroutine[Any, Any, _T]], _T]


@pytest.fixture
def run(base: EventBase) -> Run[Any]:
    """Run a coroutine to completion on a levent loop over ``base``, within seconds."""

    def runner(coro: Coroutine[Any, Any, _T]) -> _T:
        async def bounded() -> _T:
            return await asyncio.wait_for(coro, 10)

        with asyncio.Runner(loop_factory=lambda: EventLoop(base)) as r:
            return r.run(bounded())

    return runner


class Server:
    """A levent Listener whose connections are served by ``handler(bev)`` coroutines."""

    def __init__(self, base: EventBase, handler: Callable[[BufferEvent], Awaitable[None]]):
        self.base = base
        self.handler = handler
        self.tasks: list[asyncio.Task[None]] = []
        self.listener = Listener(
            base, self._accept, None, LEV_OPT_REUSEABLE, -1, address=("127.0.0.1", 0)
        )
        sock = self.listener.socket
        assert sock is not None
        self.port: int = sock.getsockname()[1]

    def _accept(self, listener: Listener, sock: socket.socket, address: Any, arg: Any) -> None:
        bev = BufferEvent.socket(self.base, sock, BEV_OPT_CLOSE_ON_FREE)
        bev.enable(EV_READ)
        loop = asyncio.get_running_loop()  # levent callbacks run inside the loop
        self.tasks.append(loop.create_task(self._serve(bev)))

    async def _serve(self, bev: BufferEvent) -> None:
        try:
            await self.handler(bev)
        finally:
            bev.free()

    async def close(self) -> None:
        self.listener.free()
        await asyncio.gather(*self.tasks)


async def connect(base: EventBase, port: int) -> SocketBufferEvent:
    bev = SocketBufferEvent(base, None, BEV_OPT_CLOSE_ON_FREE)
    bev.connect(("127.0.0.1", port))
    await bev.wait_connected()
    return bev


async def peer_pair(base: EventBase, small: bool = False) -> tuple[BufferEvent, socket.socket]:
    """A connected (BufferEvent, plain non-blocking socket) over 127.0.0.1; ``small``:
    with small kernel buffers, so that a peer that does not read stops the writer soon."""
    with socket.socket() as lsock:
        if small:
            lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)
        sock = socket.socket()
        if small:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
        bev = SocketBufferEvent(base, sock, BEV_OPT_CLOSE_ON_FREE)
        bev.connect(lsock.getsockname())
        await bev.wait_connected()
        peer, _ = lsock.accept()
    peer.setblocking(False)
    return bev, peer


def reset(sock: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


# -- a line-echo server: BufferEvents driven by coroutines, asyncio streams as the client ----


def test_line_echo_server_with_read_until_and_drain(base: EventBase, run: Run[None]) -> None:
    seen_eof: list[bytes] = []

    async def echo_lines(bev: BufferEvent) -> None:
        while True:
            try:
                line = await bev.read_until(b"\r\n", limit=1 << 20)
            except asyncio.IncompleteReadError as exc:
                seen_eof.append(exc.partial)
                return
            bev.write(b"echo: " + line)
            await bev.drain()

    async def main() -> None:
        server = Server(base, echo_lines)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port, limit=1 << 20)
        for i in range(3):
            writer.write(b"line %d\r\n" % i)
            await writer.drain()
            assert await reader.readuntil(b"\r\n") == b"echo: line %d\r\n" % i
        # Several lines in one segment, and one split across two.
        writer.write(b"a\r\nb\r\nc")
        await writer.drain()
        assert await reader.readuntil(b"\r\n") == b"echo: a\r\n"
        assert await reader.readuntil(b"\r\n") == b"echo: b\r\n"
        writer.write(b"d\r")
        await asyncio.sleep(0.02)
        writer.write(b"\n")
        assert await reader.readuntil(b"\r\n") == b"echo: cd\r\n"
        # A big line (past the default limit of 64 KiB, hence the server's limit): more
        # than one recv, and an echo larger than one send.
        big = b"x" * 300_000
        writer.write(big + b"\r\n")
        echoed = await reader.readuntil(b"\r\n")
        assert echoed == b"echo: " + big + b"\r\n"
        writer.write(b"rest")  # and EOF after a line without its CRLF
        writer.close()
        await writer.wait_closed()
        await server.close()
        assert seen_eof == [b"rest"]

    run(main())


def test_read_until_limit_keeps_the_data(base: EventBase, run: Run[None]) -> None:
    async def main() -> None:
        bev, peer = await peer_pair(base)
        bev.enable(EV_READ)
        peer.send(b"0123456789abcdef")
        with pytest.raises(asyncio.LimitOverrunError) as info:
            await bev.read_until(b"\n", limit=8)
        assert info.value.consumed > 8
        assert bytes(bev.input) == b"0123456789abcdef"  # nothing consumed
        peer.send(b"\n")
        assert await bev.read_until(b"\n") == b"0123456789abcdef\n"
        # The separator found beyond the limit: LimitOverrunError too.
        peer.send(b"too long a line\n")
        await asyncio.sleep(0.05)
        with pytest.raises(asyncio.LimitOverrunError):
            await aio_bev.read_until(bev, b"\n", limit=4)
        assert await aio_bev.read_until(bev, b"\n") == b"too long a line\n"
        # A high watermark caps what can arrive: the separator cannot come.
        bev.setwatermark(EV_READ, 0, 8)
        peer.send(b"no separator here")
        with pytest.raises(asyncio.LimitOverrunError):
            await bev.read_until(b"\n")
        assert len(bev.input) == 8
        bev.free()
        peer.close()

    run(main())


def test_read_some_returns_what_arrived_and_empty_at_eof(base: EventBase, run: Run[None]) -> None:
    async def main() -> None:
        bev, peer = await peer_pair(base)  # reading not enabled: the helper enables it
        assert not bev.enabled & EV_READ
        peer.send(b"hello")
        assert await bev.read_some() == b"hello"
        assert not bev.enabled & EV_READ  # ... and turns it off again
        peer.send(b"abcdef")
        assert await bev.read_some(2) == b"ab"
        assert await aio_bev.read(bev, 100) == b"cdef"
        assert await bev.read_some(0) == b""
        peer.close()
        assert await bev.read_some() == b""
        assert await bev.read_some() == b""  # EOF again, not a hang
        bev.free()

    run(main())


# -- read_exactly ------------------------------------------------------------------------------


def test_read_exactly_raises_incomplete_read_at_eof(base: EventBase, run: Run[None]) -> None:
    async def main() -> None:
        bev, peer = await peer_pair(base)
        bev.enable(EV_READ)
        peer.send(b"abcdefgh")
        assert await bev.read_exactly(3) == b"abc"
        assert await bev.read_exactly(0) == b""
        peer.close()
        with pytest.raises(asyncio.IncompleteReadError) as info:
            await bev.read_exactly(10)
        assert info.value.partial == b"defgh"
        assert info.value.expected == 10
        assert len(bev.input) == 0  # consumed, as asyncio's readexactly does
        with pytest.raises(ValueError):
            await bev.read_exactly(-1)
        bev.free()

    run(main())


def test_read_exactly_beyond_the_high_watermark(base: EventBase, run: Run[None]) -> None:
    async def main() -> None:
        bev, peer = await peer_pair(base)
        bev.setwatermark(EV_READ, 0, 4)
        bev.enable(EV_READ)
        data = bytes(range(64)) * 4
        peer.send(data[:100])
        # Cancelled while bytes wait aside: they go back to the input, in order.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(bev.read_exactly(len(data)), 0.1)
        assert data.startswith(bytes(bev.input))
        assert len(bev.input) >= 4
        peer.send(data[100:])
        assert await bev.read_exactly(len(data)) == data
        bev.free()
        peer.close()

    run(main())


# -- cancellation ---------------------------------------------------------------------------


def test_cancelled_read_leaves_data_and_callbacks(base: EventBase, run: Run[None]) -> None:
    calls: list[str] = []

    def user_read(bev: BufferEvent, arg: Any) -> None:
        calls.append(f"read:{arg}")

    def user_write(bev: BufferEvent, arg: Any) -> None:
        calls.append(f"write:{arg}")

    def user_event(bev: BufferEvent, what: int, arg: Any) -> None:
        calls.append(f"event:{arg}")

    async def main() -> None:
        bev, peer = await peer_pair(base)
        bev.setcb(user_read, user_write, user_event, "mine")
        bev.enable(EV_READ)
        peer.send(b"partial")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(bev.read_until(b"\n"), 0.1)
        assert bytes(bev.input) == b"partial"  # nothing taken
        assert bev.getcb() == (user_read, user_write, user_event, "mine")  # given back
        assert "read:mine" not in calls  # the coroutine was the reader meanwhile
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(bev.read_exactly(100), 0.05)
        assert bytes(bev.input) == b"partial"
        peer.send(b" line\nnext")
        assert await bev.read_until(b"\n") == b"partial line\n"
        assert bytes(bev.input) == b"next"
        # Callback code takes over again between helpers.
        peer.send(b"!")
        for _ in range(100):
            if "read:mine" in calls:
                break
            await asyncio.sleep(0.01)
        assert "read:mine" in calls
        assert bev.getcb() == (user_read, user_write, user_event, "mine")
        bev.free()
        peer.close()

    run(main())


@pytest.mark.parametrize("options", [BEV_OPT_DEFER_CALLBACKS, BEV_OPT_THREADSAFE])
def test_helpers_with_deferred_or_locked_callbacks(
    base: EventBase, run: Run[None], options: int
) -> None:
    async def main() -> None:
        with socket.socket() as lsock:
            lsock.bind(("127.0.0.1", 0))
            lsock.listen(1)
            bev = SocketBufferEvent(base, None, BEV_OPT_CLOSE_ON_FREE | options)
            bev.connect(lsock.getsockname())
            await bev.wait_connected()
            peer, _ = lsock.accept()
        bev.enable(EV_READ)
        peer.sendall(b"one\ntwo")
        assert await bev.read_until(b"\n") == b"one\n"
        bev.write(b"x" * 100_000)
        await bev.drain()
        peer.shutdown(socket.SHUT_WR)  # EOF (a close with unread data would be a reset)
        with pytest.raises(asyncio.IncompleteReadError) as info:
            await bev.read_exactly(10)
        assert info.value.partial == b"two"
        bev.free()
        peer.close()

    run(main())


def test_events_no_helper_waits_for_reach_the_user_callback(
    base: EventBase, run: Run[None]
) -> None:
    events: list[int] = []
    writes: list[int] = []

    async def main() -> None:
        bev, peer = await peer_pair(base)
        bev.setcb(
            None,
            lambda bev, arg: writes.append(len(bev.output)),
            lambda bev, what, arg: events.append(what),
        )
        bev.enable(EV_READ)
        reader = asyncio.ensure_future(bev.read_some())
        await asyncio.sleep(0.01)
        bev.write(b"ping")  # the write callback is the user's, during the read wait
        for _ in range(100):
            if writes:
                break
            await asyncio.sleep(0.01)
        assert writes == [0]
        peer.shutdown(socket.SHUT_WR)
        assert await reader == b""  # EOF went to the reader...
        assert events == []  # ...not to the user's event callback
        assert bev.getcb()[2] is not None
        # With no helper waiting, the next EOF report is the user's again.
        bev.enable(EV_READ)
        for _ in range(100):
            if events:
                break
            await asyncio.sleep(0.01)
        assert events == [BEV_EVENT_READING | BEV_EVENT_EOF]
        bev.free()
        peer.close()

    run(main())


def test_two_readers_are_refused(base: EventBase, run: Run[None]) -> None:
    async def main() -> None:
        bev, peer = await peer_pair(base)
        bev.enable(EV_READ)
        first = asyncio.ensure_future(bev.read_until(b"\n"))
        await asyncio.sleep(0.01)
        with pytest.raises(RuntimeError, match="another coroutine"):
            await bev.read_some()
        peer.send(b"one\n")
        assert await first == b"one\n"
        bev.free()
        peer.close()

    run(main())


# -- errors and drain ----------------------------------------------------------------------


def test_reset_and_timeout_become_exceptions(base: EventBase, run: Run[None]) -> None:
    async def main() -> None:
        bev, peer = await peer_pair(base)
        bev.enable(EV_READ)
        reset(peer)
        with pytest.raises(ConnectionResetError):
            await bev.read_until(b"\n")
        bev.free()

        bev, peer = await peer_pair(base)
        bev.set_timeouts(0.05, None)
        bev.enable(EV_READ)
        with pytest.raises(TimeoutError):
            await bev.read_some()
        peer.send(b"late\n")  # after the timeout, reading resumes on the next helper
        assert await bev.read_until(b"\n") == b"late\n"
        bev.free()
        peer.close()

    run(main())


def test_drain_waits_for_the_output(base: EventBase, run: Run[None]) -> None:
    async def main() -> None:
        bev, peer = await peer_pair(base, small=True)
        await bev.drain()  # nothing queued: at once
        chunk = b"z" * 1_000_000
        bev.write(chunk)
        bev.write(chunk)
        # The peer does not read: the kernel takes only part of it.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(bev.drain(), 0.1)
        assert len(bev.output) > 0
        got = 0
        waiter = asyncio.ensure_future(bev.drain())
        other = asyncio.ensure_future(aio_bev.drain(bev))  # two drainers at once
        while got < 2 * len(chunk):
            try:
                got += len(peer.recv(1 << 20))
            except BlockingIOError:
                await asyncio.sleep(0.001)
        await waiter
        await other
        assert len(bev.output) == 0
        # The write low watermark: drain returns once the output is at or below it.
        bev.setwatermark(EV_WRITE, 10, 0)
        await bev.drain()
        bev.free()
        peer.close()

    run(main())


def test_drain_raises_after_the_write_side_failed(base: EventBase, run: Run[None]) -> None:
    async def main() -> None:
        bev, peer = await peer_pair(base)
        reset(peer)
        await asyncio.sleep(0.05)
        with pytest.raises(ConnectionError):
            for _ in range(20):
                bev.write(b"y" * 100_000)
                await bev.drain()
        bev.free()

    run(main())


def test_free_while_waiting_ends_the_wait(base: EventBase, run: Run[None]) -> None:
    async def main() -> None:
        bev, peer = await peer_pair(base, small=True)
        bev.enable(EV_READ)
        reader = asyncio.ensure_future(bev.read_some())
        bev.write(b"w" * 2_000_000)
        drainer = asyncio.ensure_future(bev.drain())
        await asyncio.sleep(0.05)
        bev.free()
        assert await reader == b""
        with pytest.raises(ConnectionResetError):
            await drainer
        with pytest.raises(EventStateError):
            await bev.read_some()
        peer.close()

    run(main())


# -- connecting ---------------------------------------------------------------------------------


def test_wait_connected(base: EventBase, run: Run[None]) -> None:
    async def echo_once(bev: BufferEvent) -> None:
        bev.write(await bev.read_exactly(5))
        await bev.drain()

    async def main() -> None:
        server = Server(base, echo_once)
        bev = await connect(base, server.port)
        await bev.wait_connected()  # connected already: at once
        bev.write(b"hello")
        assert await bev.read_exactly(5) == b"hello"
        bev.free()
        await server.close()
        # Nobody listens there any more.
        bev = SocketBufferEvent(base, None, BEV_OPT_CLOSE_ON_FREE)
        bev.connect(("127.0.0.1", server.port))
        with pytest.raises(ConnectionRefusedError):
            await bev.wait_connected()
        bev.free()

    run(main())


# -- where the helpers refuse to run ------------------------------------------------------------


def test_helpers_need_a_levent_loop_on_the_bufferevents_base(base: EventBase) -> None:
    a, b = BufferEvent.pair(base)
    try:
        # No running loop at all.
        coro = a.read_until(b"\n")
        with pytest.raises(RuntimeError, match=r"levent\.aio\.EventLoop"):
            coro.send(None)
        coro.close()
        # asyncio's own loop.
        with pytest.raises(RuntimeError, match=r"needs a running levent\.aio\.EventLoop"):
            asyncio.run(a.drain())
        with pytest.raises(RuntimeError, match="EventLoop"):
            asyncio.run(aio_bev.read(a))
        # A levent loop, but on another base.
        other = EventBase()
        try:
            with (
                asyncio.Runner(loop_factory=lambda: EventLoop(other)) as r,
                pytest.raises(RuntimeError, match="EventBase"),
            ):
                r.run(aio_bev.read_exactly(a, 1))
        finally:
            other.free()
        assert a.getcb() == (None, None, None, None)
    finally:
        a.free()
        b.free()


def test_helpers_on_a_pair(base: EventBase, run: Run[None]) -> None:
    async def main() -> None:
        a, b = BufferEvent.pair(base)
        b.enable(EV_READ)
        a.write(b"over the pair\n")
        assert await b.read_until(b"\n") == b"over the pair\n"
        a.free()
        b.free()

    run(main())


# -- evhttp handlers that await ----------------------------------------------------------------


async def http_exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str
) -> tuple[int, dict[str, str], bytes]:
    """One keep-alive GET over asyncio streams: (status, headers, body)."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    await writer.drain()
    return await http_response(reader)


async def http_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    lines = head.split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


def test_async_handler_awaits_then_replies(base: EventBase, run: Run[None]) -> None:
    order: list[str] = []

    async def slow(req: HttpRequest, arg: Any) -> None:
        order.append(f"start {req.uri}")
        await asyncio.sleep(0.05)
        body = bytes(req.input_buffer)  # the request is still whole after the await
        order.append(f"reply {req.uri}")
        req.send_reply(200, None, f"{arg} {req.uri} {body.decode()}")

    def fast(req: HttpRequest, arg: Any) -> None:
        order.append(f"sync {req.uri}")
        req.send_reply(200, None, b"sync")

    async def main() -> None:
        server = HttpServer(base)
        server.set_cb("/slow", slow, "async")
        server.set_gencb(fast)
        port = server.bind_socket_with_handle("127.0.0.1", 0).getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        status, _, body = await http_exchange(reader, writer, "/slow")
        assert (status, body) == (200, b"async /slow ")
        # Pipelined: the sync request waits for the async one before it.
        writer.write(
            b"POST /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbody"
            b"GET /other HTTP/1.1\r\nHost: t\r\n\r\n"
        )
        assert (await http_response(reader))[2] == b"async /slow body"
        assert (await http_response(reader))[2] == b"sync"
        assert order[-3:] == ["start /slow", "reply /slow", "sync /other"]
        writer.close()
        await writer.wait_closed()

        # http.client in a thread, against the same loop.
        def client() -> tuple[int, bytes]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                conn.request("GET", "/slow")
                resp = conn.getresponse()
                return resp.status, resp.read()
            finally:
                conn.close()

        assert await asyncio.get_running_loop().run_in_executor(None, client) == (
            200,
            b"async /slow ",
        )
        server.free()

    run(main())


def test_async_handler_failure_answers_500_and_keeps_the_connection(
    base: EventBase, run: Run[None]
) -> None:
    reported: list[BaseException] = []
    base.set_error_handler(lambda b, source, exc: reported.append(exc))

    async def handler(req: HttpRequest, arg: Any) -> None:
        await asyncio.sleep(0.01)
        if req.uri == "/boom":
            req.output_headers.add("X-Handler", "partial")
            raise ValueError("handler failed after awaiting")
        req.send_reply(200, None, b"fine")

    async def main() -> None:
        server = HttpServer(base)
        server.set_gencb(handler)
        connections: list[Any] = []
        server.set_newreqcb(lambda req, arg: connections.append(req.connection))
        port = server.bind_socket_with_handle("127.0.0.1", 0).getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        status, headers, body = await http_exchange(reader, writer, "/boom")
        assert status == 500
        assert b"Internal Server Error" in body
        assert "x-handler" not in headers
        assert headers.get("connection") != "close"
        status, _, body = await http_exchange(reader, writer, "/ok")  # same connection
        assert (status, body) == (200, b"fine")
        assert len(connections) == 2 and connections[0] is connections[1]
        assert [type(exc) for exc in reported] == [ValueError]
        writer.close()
        await writer.wait_closed()
        server.free()

    run(main())


def test_client_gone_while_async_handler_waits(base: EventBase, run: Run[None]) -> None:
    finished: list[tuple[str, bool]] = []

    async def handler(req: HttpRequest, arg: Any) -> None:
        await asyncio.sleep(0.1)
        gone = req.connection is None
        req.send_reply(200, None, b"late")  # without a connection: dropped, as evhttp does
        finished.append((req.uri, gone))

    async def main() -> None:
        server = HttpServer(base)
        server.set_gencb(handler)
        port = server.bind_socket_with_handle("127.0.0.1", 0).getsockname()[1]
        # A half-close after the request: the late reply still reaches the client.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /half HTTP/1.1\r\nHost: t\r\n\r\n")
        writer.write_eof()
        status, _, body = await http_response(reader)
        assert (status, body) == (200, b"late")
        assert await reader.read() == b""  # and the server closes after it
        writer.close()
        # A reset: the connection is gone when the handler replies.
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"GET /reset HTTP/1.1\r\nHost: t\r\n\r\n")
            await asyncio.sleep(0.02)
            reset(sock)
        for _ in range(100):
            if len(finished) == 2:
                break
            await asyncio.sleep(0.01)
        assert finished == [("/half", False), ("/reset", True)]
        server.free()

    run(main())


def test_async_handler_without_a_loop_answers_500(
    base: EventBase, caplog: pytest.LogCaptureFixture
) -> None:
    async def handler(req: HttpRequest, arg: Any) -> None:  # pragma: no cover - never runs
        req.send_reply(200, None, b"unreachable")

    server = HttpServer(base)
    server.set_gencb(handler)
    port = server.bind_socket_with_handle("127.0.0.1", 0).getsockname()[1]
    result: list[int] = []

    def client() -> None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/x")
            result.append(conn.getresponse().status)
            conn.close()
        finally:
            base.loopexit()

    thread = threading.Thread(target=client)
    with caplog.at_level(logging.ERROR, logger="levent"):
        thread.start()
        base.dispatch()  # a plain levent loop: no asyncio loop runs
        thread.join(5)
    server.free()
    assert result == [500]
    assert any("levent.aio" in rec.getMessage() for rec in caplog.records)


# -- aiohttp on levent's loop (as docs/guide/11-asyncio.md describes) -------------------------


def test_aiohttp_app_runner_next_to_a_bufferevent(base: EventBase, run: Run[None]) -> None:
    web = pytest.importorskip("aiohttp.web")

    async def main() -> None:
        left, right = BufferEvent.pair(base)
        right.enable(EV_READ)

        async def handler(request: Any) -> Any:
            # An aiohttp handler awaiting a levent BufferEvent on the same loop.
            left.write(b"from a bufferevent\n")
            line = await right.read_until(b"\n")
            return web.Response(body=line)

        app = web.Application()
        app.router.add_get("/", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        status, _, body = await http_exchange(reader, writer, "/")
        assert (status, body) == (200, b"from a bufferevent\n")
        writer.close()
        await writer.wait_closed()
        await runner.cleanup()
        left.free()
        right.free()

    run(main())


def test_aiohttp_run_app_on_a_levent_loop() -> None:
    pytest.importorskip("aiohttp")
    code = textwrap.dedent(
        """
        import asyncio, os, signal, socket
        from aiohttp import web
        import levent.aio

        async def hello(request):
            kind = type(asyncio.get_running_loop()).__module__
            return web.Response(text=kind)

        sock = socket.create_server(("127.0.0.1", 0))
        port = sock.getsockname()[1]

        async def ask(app):
            async def go():
                await asyncio.sleep(0.05)
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
                print((await reader.read()).split(b"\\r\\n")[-1].decode())
                writer.close()
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: run_app stops
            app["ask"] = asyncio.get_running_loop().create_task(go())

        app = web.Application()
        app.router.add_get("/", hello)
        app.on_startup.append(ask)
        web.run_app(app, sock=sock, loop=levent.aio.new_event_loop(), print=None)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "levent.aio.loop"
