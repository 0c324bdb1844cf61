"""levent.aio's datagram, pipe and subprocess transports on real fds, on every backend.

Each test runs a coroutine on an ``EventLoop`` over the ``base`` fixture (one run
per backend the OS offers; a levent callback that raises fails the test).
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket
import sys
import warnings
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from levent import EventBase
from levent.aio import EventLoop
from levent.aio.datagram import DatagramTransport
from levent.aio.pipes import ReadPipeTransport, WritePipeTransport

_T = TypeVar("_T")
Run = Callable[[Coroutine[Any, Any, _T]], _T]

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="Unix transports")


@pytest.fixture
def run(base: EventBase) -> Run[Any]:
    """Run a coroutine to completion on a levent loop over ``base``."""

    def runner(coro: Coroutine[Any, Any, _T]) -> _T:
        with asyncio.Runner(loop_factory=lambda: EventLoop(base)) as r:
            return r.run(coro)

    return runner


class Recorder(asyncio.DatagramProtocol):
    """Records datagrams; ``got`` is set at each one, ``lost`` at connection_lost."""

    def __init__(self, echo: bool = False) -> None:
        self.echo = echo
        self.transport: asyncio.DatagramTransport | None = None
        self.datagrams: list[tuple[bytes, Any]] = []
        self.events: list[str] = []
        self.got = asyncio.Event()
        self.lost: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.DatagramTransport)
        self.transport = transport
        self.events.append("made")

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.datagrams.append((data, addr))
        self.got.set()
        if self.echo:
            assert self.transport is not None
            self.transport.sendto(b"echo:" + data, addr)

    def error_received(self, exc: Exception) -> None:
        self.events.append(f"error:{type(exc).__name__}")

    def pause_writing(self) -> None:
        self.events.append("pause")

    def resume_writing(self) -> None:
        self.events.append("resume")

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append("lost")
        self.lost.set_result(exc)


# -- datagrams ------------------------------------------------------------------------------


def test_udp_echo(run: Run[None]) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server_tr, server = await loop.create_datagram_endpoint(
            lambda: Recorder(echo=True), local_addr=("127.0.0.1", 0)
        )
        host, port = server_tr.get_extra_info("sockname")
        client_tr, client = await loop.create_datagram_endpoint(Recorder, remote_addr=(host, port))
        assert isinstance(server_tr, DatagramTransport)
        assert isinstance(server_tr, asyncio.Transport)  # as asyncio's own is
        assert isinstance(client_tr.get_extra_info("socket"), asyncio.trsock.TransportSocket)
        assert client_tr.get_extra_info("peername") == (host, port)
        assert server_tr.get_extra_info("peername") is None

        for i in range(3):
            client.got.clear()
            client_tr.sendto(b"ping%d" % i)
            await asyncio.wait_for(client.got.wait(), 5)
        assert [d for d, _ in client.datagrams] == [b"echo:ping0", b"echo:ping1", b"echo:ping2"]
        assert all(addr == (host, port) for _, addr in client.datagrams)
        client_addr = client_tr.get_extra_info("sockname")
        assert [a for _, a in server.datagrams] == [client_addr] * 3

        with pytest.raises(ValueError, match="Invalid address"):
            client_tr.sendto(b"x", ("127.0.0.1", 9))
        with pytest.raises(TypeError):
            client_tr.sendto("text")  # type: ignore[arg-type]

        client_tr.close()
        assert client_tr.is_closing()
        assert await client.lost is None
        assert client.events == ["made", "lost"]
        client_tr.sendto(b"after close")  # dropped, as asyncio drops it
        server_tr.abort()
        assert await server.lost is None

    run(main())


def test_datagram_protocol_error_closes_only_its_transport(run: Run[None]) -> None:
    class Boom(Recorder):
        def datagram_received(self, data: bytes, addr: Any) -> None:
            raise RuntimeError("boom")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        contexts: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, ctx: contexts.append(ctx))
        bad_tr, bad = await loop.create_datagram_endpoint(Boom, local_addr=("127.0.0.1", 0))
        good_tr, good = await loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", 0))
        sender_tr, _ = await loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", 0))
        sender_tr.sendto(b"to bad", bad_tr.get_extra_info("sockname"))
        exc = await asyncio.wait_for(bad.lost, 5)
        assert isinstance(exc, RuntimeError)
        assert len(contexts) == 1
        assert contexts[0]["exception"] is exc
        assert contexts[0]["transport"] is bad_tr
        assert "datagram_received" in contexts[0]["message"]
        assert bad_tr.is_closing()

        # The other endpoints are untouched.
        assert not good_tr.is_closing() and not sender_tr.is_closing()
        sender_tr.sendto(b"to good", good_tr.get_extra_info("sockname"))
        await asyncio.wait_for(good.got.wait(), 5)
        assert good.datagrams[0][0] == b"to good"
        good_tr.close()
        sender_tr.close()
        await good.lost

    run(main())


def test_datagram_flow_control_and_queued_close(run: Run[None], tmp_path: Any) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        # A Unix datagram socket that never reads: its queue fills, unlike UDP's.
        path = str(tmp_path / "dgram.sock")
        b = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        b.bind(path)
        b.setblocking(False)
        dtr, proto = await loop.create_datagram_endpoint(
            Recorder, family=socket.AF_UNIX, remote_addr=path
        )
        assert isinstance(dtr, DatagramTransport)
        tr = dtr
        assert tr.get_extra_info("peername") == path
        tr.set_write_buffer_limits(high=4096, low=1024)
        assert tr.get_write_buffer_limits() == (1024, 4096)
        # b reads nothing: its queue fills, then sendto queues in the transport.
        chunk = b"x" * 1000
        sent = 0
        while "pause" not in proto.events:
            tr.sendto(chunk)
            sent += 1
            assert sent < 100_000
        assert tr.get_write_buffer_size() > 4096
        tr.close()  # queued datagrams still go out; connection_lost waits for them
        assert not proto.lost.done()
        received = 0
        while not proto.lost.done():
            try:
                while b.recv(2000):
                    received += 1
            except BlockingIOError:
                pass
            await asyncio.sleep(0.001)
        assert proto.events[-2:] == ["resume", "lost"]
        assert tr.get_write_buffer_size() == 0
        try:
            while b.recv(2000):
                received += 1
        except BlockingIOError:
            pass
        assert received == sent
        b.close()

    run(main())


def test_unclosed_datagram_transport_warns(run: Run[None]) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        dtr, proto = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        assert isinstance(dtr, DatagramTransport)
        tr = dtr
        tr.pause_reading()  # nothing pending holds it: dropping it leaks the socket
        assert not tr.is_reading()
        sock_fd = tr.get_extra_info("socket").fileno()
        del tr, dtr, proto
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gc.collect()
        assert any(issubclass(w.category, ResourceWarning) for w in caught)
        with pytest.raises(OSError):
            os.fstat(sock_fd)  # the warning came with the socket closed

    run(main())


# -- pipes ----------------------------------------------------------------------------------


def test_pipe_round_trip_and_reader_close(run: Run[None]) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        r, w = os.pipe()
        reader = asyncio.StreamReader()
        rtr, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(r, "rb", 0)
        )
        lost: asyncio.Future[BaseException | None] = loop.create_future()

        class WriteProto(asyncio.BaseProtocol):
            def connection_lost(self, exc: Exception | None) -> None:
                lost.set_result(exc)

        wtr, _ = await loop.connect_write_pipe(WriteProto, os.fdopen(w, "wb", 0))
        assert isinstance(rtr, ReadPipeTransport) and isinstance(wtr, WritePipeTransport)
        assert wtr.can_write_eof()
        wtr.write(b"hello ")
        wtr.writelines([b"pipe", b"\n"])
        assert await reader.readline() == b"hello pipe\n"
        # The reader goes away: the write end sees it without writing.
        rtr.close()
        assert await asyncio.wait_for(lost, 5) is None
        assert wtr.is_closing()

    run(main())


def test_write_pipe_flow_control_and_eof(run: Run[None]) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        r, w = os.pipe()
        events: list[str] = []

        class Proto(asyncio.BaseProtocol):
            def pause_writing(self) -> None:
                events.append("pause")

            def resume_writing(self) -> None:
                events.append("resume")

            def connection_lost(self, exc: Exception | None) -> None:
                events.append(f"lost:{exc!r}")

        wtr, _ = await loop.connect_write_pipe(Proto, os.fdopen(w, "wb", 0))
        wtr.set_write_buffer_limits(high=64 * 1024, low=0)
        payload = os.urandom(1024 * 1024)  # well beyond a pipe's 64 KiB
        wtr.write(payload)
        assert events == ["pause"]
        assert wtr.get_write_buffer_size() > 64 * 1024
        wtr.write_eof()  # flushes first, then closes
        assert wtr.is_closing()
        got = bytearray()
        os.set_blocking(r, False)
        while True:
            try:
                chunk = os.read(r, 65536)
            except BlockingIOError:
                await asyncio.sleep(0.001)
                continue
            if not chunk:
                break
            got += chunk
        os.close(r)
        assert bytes(got) == payload
        assert events == ["pause", "resume", "lost:None"]

    run(main())


def test_pipe_mode_checks(run: Run[None], tmp_path: Any) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        path = tmp_path / "regular"
        path.write_bytes(b"data")
        with (
            open(path, "rb") as f,
            pytest.raises(ValueError, match=r"Pipe transport is for pipes/sockets only\."),
        ):
            await loop.connect_read_pipe(asyncio.Protocol, f)
        with (
            open(path, "wb") as f,
            pytest.raises(
                ValueError, match="Pipe transport is only for pipes, sockets and character devices"
            ),
        ):
            await loop.connect_write_pipe(asyncio.BaseProtocol, f)

    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        run(main())
        gc.collect()


# -- subprocesses ---------------------------------------------------------------------------


def test_subprocess_stdout_and_returncode(run: Run[None]) -> None:
    async def main() -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "import sys; data = sys.stdin.read(); print(data.upper()); sys.exit(3)",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(b"levent"), 30)
        assert out.strip() == b"LEVENT"
        assert err is None
        assert proc.returncode == 3
        assert await proc.wait() == 3

    run(main())


def test_subprocess_killed_returncode(run: Run[None]) -> None:
    async def main() -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "import sys, time; print('ready', flush=True); time.sleep(60)",
            stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None
        assert await asyncio.wait_for(proc.stdout.readline(), 30) == b"ready\n"
        assert proc.returncode is None
        proc.kill()
        assert await asyncio.wait_for(proc.wait(), 30) == -signal.SIGKILL

    run(main())


def test_subprocess_without_pidfd(run: Run[None], monkeypatch: pytest.MonkeyPatch) -> None:
    # Where os.pidfd_open is missing, a thread waits for the child instead.
    monkeypatch.delattr(os, "pidfd_open", raising=False)

    async def main() -> None:
        proc = await asyncio.create_subprocess_shell(
            "echo fallback; exit 5", stdout=asyncio.subprocess.PIPE
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
        assert out == b"fallback\n"
        assert proc.returncode == 5

    run(main())


def test_subprocess_popen_error(run: Run[None]) -> None:
    async def main() -> None:
        with pytest.raises(FileNotFoundError):
            await asyncio.create_subprocess_exec("/nonexistent/levent-no-such-program")
        with pytest.raises(ValueError):
            await asyncio.create_subprocess_shell("true", bufsize=4096)  # type: ignore[arg-type]

    run(main())
