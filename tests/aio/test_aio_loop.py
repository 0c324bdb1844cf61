"""levent.aio.EventLoop's own contract: what it adds to, or does on top of, asyncio's."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import pytest

import levent.aio
from levent import EV_PERSIST, EV_READ, Event, EventBase, Watch


def test_run_and_runner_use_levent_loops() -> None:
    async def main() -> str:
        await asyncio.sleep(0)
        return type(asyncio.get_running_loop()).__name__

    assert levent.aio.run(main()) == "EventLoop"
    with asyncio.Runner(loop_factory=levent.aio.new_event_loop) as runner:
        assert runner.run(main()) == "EventLoop"
        assert isinstance(runner.get_loop(), levent.aio.EventLoop)


def test_install_sets_the_policy() -> None:
    try:
        levent.aio.install()
        loop = asyncio.new_event_loop()
        assert isinstance(loop, levent.aio.EventLoop)
        loop.close()
    finally:
        asyncio.set_event_loop_policy(None)


def test_timers_fire_in_deadline_order_and_not_early() -> None:
    loop = levent.aio.new_event_loop()
    fired: list[tuple[str, float]] = []
    start = loop.time()
    for delay, name in ((0.03, "c"), (0.01, "a"), (0.02, "b")):
        loop.call_later(delay, lambda n=name, d=delay: fired.append((n, loop.time() - start - d)))
    cancelled = loop.call_later(0.015, fired.append, ("cancelled", 0.0))
    cancelled.cancel()
    loop.call_later(0.05, loop.stop)
    loop.run_forever()
    assert [n for n, _ in fired] == ["a", "b", "c"]
    assert all(late >= -0.001 for _, late in fired), fired
    loop.close()


def test_stop_runs_the_current_iteration_then_returns() -> None:
    loop = levent.aio.new_event_loop()
    order: list[int] = []
    loop.call_soon(order.append, 1)
    loop.call_soon(loop.stop)
    loop.call_soon(order.append, 2)  # same iteration as stop(): runs
    loop.run_forever()
    assert order == [1, 2]
    loop.call_soon(order.append, 3)
    loop.stop()  # before run_forever: one iteration, then out
    loop.run_forever()
    assert order == [1, 2, 3]
    loop.close()


def test_a_coroutine_that_never_blocks_does_not_starve_io() -> None:
    """Callbacks scheduled by the runner wait for the next iteration, after a poll."""
    base = EventBase()
    loop = levent.aio.EventLoop(base)
    iterations = 0

    def count(_w: Any, _info: Any, _arg: Any) -> None:
        nonlocal iterations
        iterations += 1

    watch = Watch.prepare(base, count)
    a, b = socket.socketpair()
    b.send(b"x")
    seen: list[bytes] = []
    loop.add_reader(a.fileno(), lambda: seen.append(a.recv(1)))

    async def spin() -> int:
        n = 0
        while not seen:
            n += 1
            await asyncio.sleep(0)
        return n

    spins = loop.run_until_complete(spin())
    assert seen == [b"x"] and spins <= 3
    assert iterations >= 1
    loop.remove_reader(a.fileno())
    watch.free()
    a.close()
    b.close()
    loop.close()
    base.free()


def test_short_sleeps_do_not_spin_the_loop() -> None:
    base = EventBase()
    loop = levent.aio.EventLoop(base)
    iterations = 0

    def count(_w: Any, _info: Any, _arg: Any) -> None:
        nonlocal iterations
        iterations += 1

    watch = Watch.prepare(base, count)

    async def sleeps() -> None:
        for delay in (1e-2, 1e-4, 1e-6, 1e-8, 1e-10):
            await asyncio.sleep(delay)

    loop.run_until_complete(sleeps())
    assert iterations <= 20, iterations
    watch.free()
    loop.close()
    base.free()


def test_call_soon_threadsafe_wakes_a_sleeping_loop() -> None:
    loop = levent.aio.new_event_loop()
    got: list[str] = []

    def from_thread() -> None:
        time.sleep(0.05)
        loop.call_soon_threadsafe(got.append, "woken")
        loop.call_soon_threadsafe(loop.stop)

    thread = threading.Thread(target=from_thread)
    started = time.monotonic()
    thread.start()
    loop.run_forever()  # nothing else to do: blocks in the backend until woken
    thread.join()
    assert got == ["woken"] and time.monotonic() - started < 2.0
    loop.close()


def test_a_shared_base_runs_levent_events_and_survives_close() -> None:
    base = EventBase()
    loop = levent.aio.EventLoop(base)
    assert loop.base is base
    a, b = socket.socketpair()
    got: list[bytes] = []
    ev = Event(base, a.fileno(), EV_READ | EV_PERSIST, lambda fd, what, arg: got.append(a.recv(10)))
    ev.add()

    async def main() -> None:
        b.send(b"levent")
        while not got:
            await asyncio.sleep(0.001)

    loop.run_until_complete(main())
    assert got == [b"levent"]
    loop.close()
    # The base belongs to its creator: still usable after the loop is closed.
    b.send(b"again")
    base.loop(1)  # EVLOOP_ONCE
    assert got == [b"levent", b"again"]
    ev.free()
    a.close()
    b.close()
    base.free()


def test_exception_in_a_protocol_callback_closes_only_that_transport() -> None:
    errors: list[dict[str, Any]] = []

    class Echo(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            if data == b"boom":
                raise ValueError("bad bytes")
            assert isinstance(self.transport, asyncio.Transport)
            self.transport.write(data)

    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))
        server = await loop.create_server(Echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        r1, w1 = await asyncio.open_connection("127.0.0.1", port)
        r2, w2 = await asyncio.open_connection("127.0.0.1", port)
        w1.write(b"boom")
        assert await r1.read() == b""  # that connection is closed by the server
        w2.write(b"still here")
        echoed = await r2.readexactly(10)
        for w in (w1, w2):
            w.close()
            await w.wait_closed()
        server.close()
        await server.wait_closed()
        return echoed

    assert levent.aio.run(main()) == b"still here"
    assert len(errors) == 1
    assert isinstance(errors[0]["exception"], ValueError)
    assert errors[0]["message"] == "Fatal error: protocol.data_received() call failed."


def test_flow_control_pauses_and_resumes_the_protocol() -> None:
    events: list[str] = []

    class Writer(asyncio.Protocol):
        def pause_writing(self) -> None:
            events.append("pause")

        def resume_writing(self) -> None:
            events.append("resume")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        a.setblocking(False)
        b.setblocking(False)
        transport, _ = await loop.connect_accepted_socket(Writer, a)
        assert isinstance(transport, asyncio.Transport)
        transport.set_write_buffer_limits(high=64 * 1024, low=16 * 1024)
        assert transport.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
        transport.write(b"x" * (4 << 20))  # far more than the socket takes
        assert events == ["pause"] and transport.get_write_buffer_size() > 64 * 1024
        received = 0
        while received < 4 << 20:
            received += len(await loop.sock_recv(b, 1 << 20))
        await asyncio.sleep(0.01)
        assert events == ["pause", "resume"] and transport.get_write_buffer_size() == 0
        with pytest.raises(ValueError, match="must be >= low"):
            transport.set_write_buffer_limits(high=1, low=2)
        transport.close()
        b.close()

    levent.aio.run(main())


def test_misuse_raises_what_asyncio_raises() -> None:
    loop = levent.aio.new_event_loop()

    async def inner() -> None:
        coro = asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="already running"):
            loop.run_until_complete(coro)
        coro.close()

    loop.run_until_complete(inner())
    loop.set_debug(True)  # asyncio checks callbacks in debug mode only
    with pytest.raises(TypeError, match="coroutines cannot be used"):
        loop.call_soon(inner)
    with pytest.raises(TypeError, match="coroutines cannot be used"):
        loop.add_signal_handler(2, inner)
    loop.close()
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.call_soon(print)
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.call_later(1, print)
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.run_forever()
    coro = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.run_until_complete(coro)
    coro.close()


def test_getaddrinfo_through_evdns_when_the_loop_has_a_dns_base() -> None:
    from levent.dns import DnsBase, DnsServerPort
    from levent.dns.constants import DNS_ERR_NONE, DNS_ERR_NOTEXIST

    base = EventBase()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    asked: list[str] = []

    def answer(request: Any, _arg: Any) -> None:
        # The resolver randomises the case of the names it asks (0x20).
        for q in request.questions:
            asked.append(q.name.lower())
            if q.name.lower() == "www.example.test" and q.type == 1:
                request.add_a_reply(q.name, ["10.0.0.7"], 60)
        known = any(q.name.lower() == "www.example.test" for q in request.questions)
        request.respond(DNS_ERR_NONE if known else DNS_ERR_NOTEXIST)

    server = DnsServerPort(base, udp, 0, answer)
    dns = DnsBase(base, 0)
    dns.nameserver_ip_add(f"127.0.0.1:{udp.getsockname()[1]}")
    loop = levent.aio.EventLoop(base, dns_base=dns)

    async def main() -> None:
        infos = await loop.getaddrinfo(
            "www.example.test", 80, family=socket.AF_INET, type=socket.SOCK_STREAM
        )
        assert infos == [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("10.0.0.7", 80))
        ]
        with pytest.raises(socket.gaierror):
            await loop.getaddrinfo("nothing.example.test", None, family=socket.AF_INET)
        # Numeric hosts never reach the wire.
        infos = await loop.getaddrinfo("127.0.0.1", "8080", type=socket.SOCK_STREAM)
        assert infos[0][4] == ("127.0.0.1", 8080)

    loop.run_until_complete(main())
    assert "www.example.test" in asked and "127.0.0.1" not in asked
    loop.close()
    dns.free()
    server.close()
    udp.close()
    base.free()


def test_call_soon_from_another_thread_raises_in_debug_mode() -> None:
    loop = levent.aio.new_event_loop()
    loop.set_debug(True)
    errors: list[BaseException] = []

    def from_thread() -> None:
        for schedule in (loop.call_soon, lambda cb: loop.call_later(0.01, cb)):
            try:
                schedule(print)
            except RuntimeError as exc:
                errors.append(exc)
        loop.call_soon_threadsafe(loop.stop)  # the right way

    def start_thread() -> None:
        threading.Thread(target=from_thread).start()

    loop.call_soon(start_thread)
    loop.run_forever()
    assert len(errors) == 2
    assert all("Non-thread-safe operation" in str(e) for e in errors), errors
    loop.close()


@pytest.mark.parametrize("debug", [False, True])
def test_a_raising_callback_reaches_the_handler_as_asyncio_reports_it(debug: bool) -> None:
    """call_soon's handles are built and run without Handle's own methods outside
    debug mode; what a failing callback reports must be what Handle._run reports."""
    loop = levent.aio.new_event_loop()
    loop.set_debug(debug)
    seen: list[dict[str, Any]] = []
    ran: list[str] = []
    loop.set_exception_handler(lambda _loop, context: seen.append(context))

    def fail(tag: str) -> None:
        raise ValueError(tag)

    try:
        handle = loop.call_soon(fail, "boom")
        cancelled = loop.call_soon(ran.append, "cancelled")
        cancelled.cancel()
        loop.call_soon(ran.append, "after")
        loop.call_soon(loop.stop)
        loop.run_forever()
    finally:
        loop.close()
    assert isinstance(handle, asyncio.Handle)
    assert ran == ["after"]
    assert len(seen) == 1
    context = seen[0]
    assert context["message"].startswith("Exception in callback ")
    assert "fail('boom')" in context["message"]
    assert isinstance(context["exception"], ValueError)
    assert context["handle"] is handle
    assert ("source_traceback" in context) is debug


def test_call_soon_handles_carry_their_context() -> None:
    import contextvars

    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    loop = levent.aio.new_event_loop()
    got: list[str] = []
    try:
        ctx = contextvars.copy_context()
        ctx.run(var.set, "in ctx")
        handle = loop.call_soon(lambda: got.append(var.get()), context=ctx)
        var.set("outer")
        loop.call_soon(lambda: got.append(var.get()))  # a copy of the caller's context
        loop.call_soon(loop.stop)
        loop.run_forever()
    finally:
        loop.close()
    assert got == ["in ctx", "outer"]
    assert not handle.cancelled()
    assert "lambda" in repr(handle)


@pytest.mark.parametrize("debug", [False, True])
def test_timer_handles_behave_as_asyncio_timer_handles(debug: bool) -> None:
    loop = levent.aio.new_event_loop()
    loop.set_debug(debug)
    fired: list[str] = []
    try:
        keep = loop.call_later(0.01, fired.append, "keep")
        drop = loop.call_later(0.005, fired.append, "drop")
        assert isinstance(drop, asyncio.TimerHandle)
        assert drop.when() <= keep.when()
        assert not drop.cancelled()
        drop.cancel()
        drop.cancel()  # a second cancel changes nothing
        assert drop.cancelled()
        assert "cancelled" in repr(drop)
        # Cancelled from a callback that runs first in the same iteration.
        late = loop.call_later(0.02, fired.append, "late")
        loop.call_later(0.015, late.cancel)
        loop.call_later(0.03, loop.stop)
        loop.run_forever()
    finally:
        loop.close()
    assert fired == ["keep"]
    assert late.cancelled()
