"""Real-world asyncio libraries on levent's loop: aiohttp (server and client) and httpx."""

from __future__ import annotations

import asyncio

import pytest

import levent.aio


def test_aiohttp_server_and_client_on_levent() -> None:
    aiohttp = pytest.importorskip("aiohttp")
    from aiohttp import web

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text=f"Hello, {request.match_info['name']}!")

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        return web.Response(body=body[::-1], content_type="application/octet-stream")

    async def websocket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            await ws.send_str(msg.data.upper())
        return ws

    async def main() -> None:
        assert isinstance(asyncio.get_running_loop(), levent.aio.EventLoop)
        app = web.Application()
        app.add_routes(
            [web.get("/hello/{name}", hello), web.post("/echo", echo), web.get("/ws", websocket)]
        )
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as session:
                for name in ("levent", "asyncio"):  # keep-alive: one connection, two requests
                    async with session.get(f"{base}/hello/{name}") as resp:
                        assert resp.status == 200
                        assert await resp.text() == f"Hello, {name}!"
                payload = bytes(range(256)) * 4096  # 1 MiB both ways
                async with session.post(f"{base}/echo", data=payload) as resp:
                    assert await resp.read() == payload[::-1]
                async with session.ws_connect(f"{base}/ws") as ws:
                    await ws.send_str("shout")
                    assert (await ws.receive()).data == "SHOUT"
                    await ws.close()
                async with session.get(f"{base}/missing") as resp:
                    assert resp.status == 404
        finally:
            await runner.cleanup()

    levent.aio.run(main())


def test_httpx_client_against_a_levent_http_server() -> None:
    httpx = pytest.importorskip("httpx")
    from levent.http import HttpServer

    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, levent.aio.EventLoop)
        server = HttpServer(loop.base)

        def hello(req: object, _arg: object) -> None:
            req.output_buffer.add(b"from evhttp")  # type: ignore[attr-defined]
            req.send_reply(200, "OK")  # type: ignore[attr-defined]

        server.set_cb("/hello", hello)
        bound = server.bind_socket_with_handle("127.0.0.1", 0)
        port = bound.getsockname()[1]
        try:
            async with httpx.AsyncClient() as client:
                for _ in range(3):
                    resp = await client.get(f"http://127.0.0.1:{port}/hello")
                    assert resp.status_code == 200 and resp.text == "from evhttp"
                resp = await client.get(f"http://127.0.0.1:{port}/nothing")
                assert resp.status_code == 404
        finally:
            server.free()

    levent.aio.run(main())
