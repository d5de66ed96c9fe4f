"""The client's promise "Unavailable means not applied", checked from histories and directly.

The chaos harness found (kill-all-then-restart, aggressive Raft timing) a write the client had
reported as ``ConnectionFailed`` whose value was read back later. Cause: aiohttp transparently
re-sends an idempotent request (PUT, DELETE) once on a fresh connection when a pooled
keep-alive connection breaks (``ClientSession._retry_connection``); when the replica died after
receiving the first copy, the re-send is refused and haplane's client, seeing only a connector
error, reports "never sent". The direct test below reproduces it without any cluster.
"""

from __future__ import annotations

import asyncio

import pytest

from chaos.history import History
from chaos.invariants import client_contract
from haplane import errors
from haplane.client import Client


def _history(error: str) -> History:
    h = History()
    w = h.invoke(0, "k", "write", "0.1", now=1.0)
    h.complete(w, "unknown", error=error, now=2.0)
    r = h.invoke(1, "k", "read", now=3.0)
    h.complete(r, "ok", output="0.1", now=4.0)
    return h


@pytest.mark.parametrize(("error", "ok"), [
    pytest.param("ConnectionFailed: refused", False, id="refused-put-applied"),
    pytest.param("Unavailable: no quorum", False, id="503-put-applied"),
    pytest.param("OutcomeUnknown: timed out", True, id="unknown-may-apply"),
])
def test_client_contract_verdict(error: str, ok: bool) -> None:
    assert client_contract(_history(error)).ok is ok


async def test_a_put_that_reached_the_replica_is_never_reported_as_not_applied() -> None:
    received: list[str] = []
    server: asyncio.Server | None = None

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            lines = head.split("\r\n")
            length = next((int(v.split(":")[1]) for v in lines if v.lower().startswith("content-length")), 0)
            if length:
                await reader.readexactly(length)
            received.append(lines[0].split()[0])
            if lines[0].startswith("PUT"):
                assert server is not None
                server.close()             # the replica dies after reading the request:
                writer.transport.abort()   # nothing listens, the connection breaks unanswered
                return
            body = b'{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"x"}}'
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(body), body))
            await writer.drain()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with Client([f"http://127.0.0.1:{port}"], "token", max_attempts=1, timeout=3.0) as c:
        await c.get("ConfigMap", "x")  # leaves a keep-alive connection in the pool
        with pytest.raises(errors.HaplaneError) as info:
            await c.update({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": "x", "namespace": "default"}, "data": {"v": "1"}})
    assert received == ["GET", "PUT"]  # the replica did get the write
    assert not isinstance(info.value, errors.Unavailable), \
        f"the client said {type(info.value).__name__} (not applied) for a write the replica received"
    assert isinstance(info.value, errors.OutcomeUnknown)
