"""uvicorn on levent's loop: in-process with both HTTP parsers and a WebSocket,
and the ``uvicorn --loop levent.aio:new_event_loop`` command line, stopped by SIGINT."""

from __future__ import annotations

import asyncio
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import pytest

import levent.aio

uvicorn = pytest.importorskip("uvicorn")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """A bare ASGI app: GET answers with the running loop's class, POST echoes
    its body reversed, a WebSocket upper-cases what it is sent."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "websocket":
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send", "text": message["text"].upper()})
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if scope["method"] == "POST":
        reply = body[::-1]
    else:
        loop = asyncio.get_running_loop()
        reply = f"{type(loop).__module__}.{type(loop).__qualname__}".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/octet-stream")],
        }
    )
    await send({"type": "http.response.body", "body": reply})


def _listening_socket() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(100)
    return sock


@pytest.mark.parametrize("http_impl", ["h11", "httptools"])
def test_uvicorn_server_on_levent_loop(http_impl: str) -> None:
    if http_impl == "httptools":
        pytest.importorskip("httptools")
    aiohttp = pytest.importorskip("aiohttp")
    ws_impl = "wsproto"
    pytest.importorskip(ws_impl)

    async def main() -> None:
        assert isinstance(asyncio.get_running_loop(), levent.aio.EventLoop)
        sock = _listening_socket()
        port = sock.getsockname()[1]
        config = uvicorn.Config(app, http=http_impl, ws=ws_impl, lifespan="on", log_level="warning")
        server = uvicorn.Server(config)
        serving = asyncio.ensure_future(server.serve(sockets=[sock]))
        while not server.started:
            assert not serving.done(), serving.exception()
            await asyncio.sleep(0.01)
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as session:
                for _ in range(3):  # keep-alive: the same connection each time
                    async with session.get(f"{base}/") as resp:
                        assert resp.status == 200
                        assert await resp.read() == b"levent.aio.loop.EventLoop"
                payload = os.urandom(512 * 1024)
                async with session.post(f"{base}/echo", data=payload) as resp:
                    assert await resp.read() == payload[::-1]
                async with session.ws_connect(f"{base}/ws") as ws:
                    for word in ("levent", "uvicorn"):
                        await ws.send_str(word)
                        assert (await ws.receive()).data == word.upper()
                    await ws.close()
        finally:
            server.should_exit = True
            await asyncio.wait_for(serving, 10)
            sock.close()

    levent.aio.run(main())


@pytest.mark.timeout(60)
def test_uvicorn_command_line_selects_levent_loop_and_stops_on_sigint() -> None:
    sock = _listening_socket()
    port = sock.getsockname()[1]
    cmd = [
        sys.executable, "-m", "uvicorn", "test_aio_uvicorn:app",
        "--loop", "levent.aio:new_event_loop",
        "--fd", str(sock.fileno()),
        "--http", "h11", "--lifespan", "on", "--log-level", "info",
    ]  # fmt: skip
    # pytest imports this file as a top-level module from its own directory.
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([here, env.get("PYTHONPATH", "")])
    proc = subprocess.Popen(
        cmd,
        pass_fds=[sock.fileno()],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=here,
    )
    sock.close()  # the child holds its own copy
    try:
        reply = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/")
                reply = conn.getresponse().read()
                conn.close()
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else b""
                time.sleep(0.1)
        assert reply == b"levent.aio.loop.EventLoop"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    assert b"Application startup complete" in out
    assert b"Application shutdown complete" in out
    assert b"Finished server process" in out
