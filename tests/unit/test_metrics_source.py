"""The replica's side of the metrics API: each node's summary fetched from a real HTTP server on
loopback standing in for its agent, kept for the cache's time, one fetch in flight per node, and
an agent that refuses or is gone answered as 'no usage' (None), never an error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from haplane.api.metricsserver import UsageSource


class Agent:
    def __init__(self) -> None:
        self.hits: list[tuple[str, str]] = []
        self.status = 200
        self.gate: asyncio.Event | None = None

    async def summary(self, request: web.Request) -> web.Response:
        self.hits.append((request.query.get("node", ""), request.headers.get("Authorization", "")))
        if self.gate is not None:
            await self.gate.wait()
        if self.status != 200:
            return web.json_response({"kind": "Status", "code": self.status}, status=self.status)
        return web.json_response({"node": {"nodeName": request.query["node"]}, "pods": []})


@pytest.fixture
async def agent() -> AsyncIterator[tuple[Agent, int]]:
    a = Agent()
    app = web.Application()
    app.router.add_get("/stats/summary", a.summary)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield a, port
    await runner.cleanup()


def node(name: str, port: int) -> dict:
    return {"metadata": {"name": name}, "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                                                   "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}}


async def test_a_summary_is_kept_for_the_ttl(agent: tuple[Agent, int]) -> None:
    a, port = agent
    clock = [1000.0]
    source = UsageSource(None, ttl=1.0, clock=lambda: clock[0])
    try:
        got = await source.summaries([node("n1", port)], "Bearer t1")
        assert got == {"n1": {"node": {"nodeName": "n1"}, "pods": []}}
        clock[0] += 0.5
        await source.summaries([node("n1", port)], "Bearer t2")
        assert a.hits == [("n1", "Bearer t1")]  # the caller's token went along; the second was cached
        clock[0] += 0.6
        await source.summaries([node("n1", port)], "Bearer t2")
        assert a.hits == [("n1", "Bearer t1"), ("n1", "Bearer t2")]
    finally:
        await source.close()


async def test_one_fetch_in_flight_per_node(agent: tuple[Agent, int]) -> None:
    a, port = agent
    a.gate = asyncio.Event()
    source = UsageSource(None)
    try:
        calls = [asyncio.create_task(source.summary(node("n1", port), "Bearer t")) for _ in range(5)]
        while not a.hits:
            await asyncio.sleep(0.01)
        a.gate.set()
        results = await asyncio.gather(*calls)
        assert len(a.hits) == 1 and all(r == results[0] for r in results)
    finally:
        await source.close()


async def test_refusing_gone_or_unpublished_agents_give_no_usage(agent: tuple[Agent, int]) -> None:
    a, port = agent
    a.status = 401
    with_port_zero = {"metadata": {"name": "n3"}, "status": {}}
    source = UsageSource(None, timeout=2.0)
    try:
        closed = node("n2", 1)  # nothing listens on port 1
        assert await source.summaries([node("n1", port), closed, with_port_zero], "Bearer t") == {
            "n1": None, "n2": None, "n3": None}
    finally:
        await source.close()


async def test_a_tls_replica_sends_no_token_to_a_plain_http_agent(agent: tuple[Agent, int]) -> None:
    import ssl

    a, port = agent
    source = UsageSource(ssl.create_default_context())
    try:
        assert await source.summary(node("n1", port), "Bearer secret") is None
        assert a.hits == []
    finally:
        await source.close()
