"""read_json reads the whole body however it arrives (in pieces, chunked), and bounds it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from haplane.api.body import MAX_BODY, read_json
from haplane.errors import HaplaneError


async def _serve_and_post(pieces: list[bytes]) -> tuple[int, object]:
    async def handler(request: web.Request) -> web.Response:
        try:
            doc = await read_json(request)
        except HaplaneError as exc:
            return web.json_response({"error": type(exc).__name__}, status=400)
        return web.json_response({"len": len(doc["data"]["v"])})

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post("/", handler)

    async def body() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece
            await asyncio.sleep(0.01)  # the server sees them arrive separately

    async with TestServer(app) as server, aiohttp.ClientSession() as s:
        async with s.post(server.make_url("/"), data=body(), headers={"Content-Type": "application/json"},
                          timeout=aiohttp.ClientTimeout(total=10)) as r:
            return r.status, await r.json()


def _pieces(doc: bytes, n: int) -> list[bytes]:
    step = len(doc) // n + 1
    return [doc[i:i + step] for i in range(0, len(doc), step)]


def test_a_large_body_arriving_in_pieces_is_read_whole() -> None:
    doc = json.dumps({"data": {"v": "x" * 200_000}}).encode()
    status, answer = asyncio.run(_serve_and_post(_pieces(doc, 8)))
    assert (status, answer) == (200, {"len": 200_000})


def test_a_chunked_body_over_the_limit_is_refused() -> None:
    doc = json.dumps({"data": {"v": "x" * (MAX_BODY + 10)}}).encode()
    status, answer = asyncio.run(_serve_and_post(_pieces(doc, 16)))
    assert (status, answer) == (400, {"error": "RequestEntityTooLarge"})
