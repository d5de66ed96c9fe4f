"""The API load balancer's choice of replica (pure :class:`haplane.apilb.Pool`) and its argument
parsing; the forwarding itself against local TCP servers (no replicas needed: it never looks at
the bytes)."""

from __future__ import annotations

import asyncio

import pytest

from haplane.apilb import DOWN, READY, UNKNOWN, UNREADY, ApiLoadBalancer, Backend, Pool, parse_listen

A, B, C = (Backend.parse(f"https://127.0.0.1:{p}") for p in (7001, 7002, 7003))


def pool(**health: str) -> Pool:
    p = Pool([A, B, C])
    for name, h in health.items():
        p.observe({"a": A, "b": B, "c": C}[name], h)
    return p


@pytest.mark.parametrize(("health", "current", "expected"), [
    pytest.param({}, A, [A, B, C], id="all-unknown-ring-order"),
    pytest.param({"a": READY, "b": READY, "c": READY}, A, [A, B, C], id="all-ready-current-first"),
    pytest.param({"a": DOWN, "b": READY, "c": READY}, B, [B, C, A], id="current-down-moves-on"),
    pytest.param({"a": UNREADY, "b": DOWN, "c": READY}, C, [C, A, B], id="unready-before-down"),
    pytest.param({"a": READY, "b": UNKNOWN, "c": UNREADY}, A, [A, B, C], id="ready-unknown-unready"),
    pytest.param({"a": DOWN, "b": DOWN, "c": DOWN}, C, [C, A, B], id="all-down-still-tried"),
    pytest.param({"a": UNREADY, "b": UNREADY, "c": UNREADY}, C, [C, A, B], id="election-all-unready"),
])
def test_order(health: dict[str, str], current: Backend, expected: list[Backend]) -> None:
    p = pool(**health)
    assert p.current == current
    assert p.order() == expected


def test_sticks_to_current_while_ready() -> None:
    p = pool(a=READY, b=READY, c=READY)
    p.failed(A)
    assert p.current == B
    p.observe(A, READY)  # A is back: new connections stay on B
    assert p.current == B
    assert p.order() == [B, C, A]


def test_failed_connection_moves_current_to_next_ready() -> None:
    p = pool(a=READY, b=UNREADY, c=READY)
    p.failed(A)
    assert p.current == C
    assert p.health[A] == DOWN


def test_unready_current_is_kept_when_nothing_is_ready() -> None:
    p = pool(a=READY, b=DOWN, c=DOWN)
    p.observe(A, UNREADY)  # an election: A is alive, nothing better
    assert p.current == A
    p.observe(C, READY)
    assert p.current == C


def test_connected_last_resort_does_not_steal_current() -> None:
    p = pool(a=READY, b=UNREADY)
    p.connected(B)
    assert p.current == A
    p.failed(C)
    p.connected(C)  # it accepted after all: no longer down, but A stays current
    assert p.health[C] == UNKNOWN and p.current == A


def test_connected_without_ready_sticks_to_it() -> None:
    p = pool(a=DOWN, b=DOWN, c=DOWN)
    p.connected(C)
    assert p.current == C and p.order()[0] == C


def test_duplicates_and_empty() -> None:
    assert Pool([A, A, B]).backends == [A, B]
    with pytest.raises(ValueError):
        Pool([])


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("127.0.0.1:6443", ("127.0.0.1", 6443), id="v4"),
    pytest.param("[::1]:6443", ("::1", 6443), id="v6"),
    pytest.param("10.0.0.21:1", ("10.0.0.21", 1), id="low-port"),
])
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["6443", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", ":6443", "h:x"])
def test_parse_listen_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_listen(text)


@pytest.mark.parametrize(("url", "expected"), [
    pytest.param("https://10.0.0.11:7001", ("10.0.0.11", 7001), id="https"),
    pytest.param("10.0.0.11:7001", ("10.0.0.11", 7001), id="bare"),
    pytest.param("https://r1/", ("r1", 443), id="default-port"),
])
def test_backend_parse(url: str, expected: tuple[str, int]) -> None:
    b = Backend.parse(url)
    assert (b.host, b.port) == expected


def test_backend_parse_rejects() -> None:
    with pytest.raises(ValueError):
        Backend.parse("ftp://x:1")


async def _echo_server(tag: bytes) -> asyncio.Server:
    async def serve(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        while data := await r.read(1024):
            w.write(tag + data)
            await w.drain()
        w.close()
    return await asyncio.start_server(serve, "127.0.0.1", 0)


def _port(server: asyncio.Server) -> int:
    return server.sockets[0].getsockname()[1]


async def test_forwards_and_skips_a_refused_replica() -> None:
    """A replica that refuses is skipped before the client notices; an established connection
    keeps going after its replica stops accepting new ones."""
    dead = await _echo_server(b"dead:")
    dead_port = _port(dead)
    dead.close()
    await dead.wait_closed()
    live = await _echo_server(b"live:")
    lb = ApiLoadBalancer(("127.0.0.1", 0), [f"http://127.0.0.1:{dead_port}", f"http://127.0.0.1:{_port(live)}"])
    await lb.start()
    assert lb.server is not None
    lb_port = lb.server.sockets[0].getsockname()[1]
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", lb_port), 2)
        w.write(b"hi")
        assert await asyncio.wait_for(r.read(100), 2) == b"live:hi"
        assert lb.pool.health[lb.pool.backends[0]] == DOWN
        assert lb.pool.current == lb.pool.backends[1]
        live.close()  # no new connections; the established one goes on
        w.write(b"again")
        assert await asyncio.wait_for(r.read(100), 2) == b"live:again"
        w.close()
    finally:
        await lb.close()
        live.close()


async def test_no_replica_closes_the_client() -> None:
    lb = ApiLoadBalancer(("127.0.0.1", 0), ["http://127.0.0.1:1"], connect_timeout=0.5)
    await lb.start()
    assert lb.server is not None
    try:
        r, w = await asyncio.open_connection("127.0.0.1", lb.server.sockets[0].getsockname()[1])
        assert await asyncio.wait_for(r.read(100), 3) == b""
        w.close()
    finally:
        await lb.close()
