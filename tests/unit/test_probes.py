"""Probe thresholds (pure, on a fake clock) and real probes against loopback listeners."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp import web

from haplane.clock import FakeClock
from node_agent.probes import ProbeTracker, run_probe

LOCAL = "127.0.0.1"
CONTAINER = {"name": "web", "ports": [{"name": "http", "containerPort": 8080}]}


# --- ProbeTracker --------------------------------------------------------------------------


def drive(tracker: ProbeTracker, clock: FakeClock, outcomes: list[bool], step: float = 0.5) -> list[tuple]:
    """Tick the clock in ``step``s; whenever a probe is due, feed the next outcome.
    Returns (time, result) after each probe."""
    seen, pending = [], list(outcomes)
    while pending:
        if tracker.due(clock.monotonic()):
            seen.append((clock.monotonic(), tracker.observe(pending.pop(0), clock.monotonic())))
        clock.advance(step)
    return seen


@pytest.mark.parametrize(
    ("kind", "probe", "outcomes", "expected"),
    [
        pytest.param(
            "readiness",
            {"initialDelaySeconds": 2, "periodSeconds": 1, "successThreshold": 2},
            [True, True, False, True],
            [(2.0, False), (3.0, True), (4.0, True), (5.0, True)],
            id="readiness-needs-two-successes-one-failure-not-enough",
        ),
        pytest.param(
            "readiness",
            {"periodSeconds": 2, "failureThreshold": 2},
            [True, False, False, True],
            [(0.0, True), (2.0, True), (4.0, False), (6.0, True)],
            id="readiness-fails-after-threshold",
        ),
        pytest.param(
            "liveness",
            {"initialDelaySeconds": 1, "periodSeconds": 5, "failureThreshold": 3},
            [False, False, True, False, False, False],
            [(1.0, True), (6.0, True), (11.0, True), (16.0, True), (21.0, True), (26.0, False)],
            id="liveness-success-resets-the-failure-count",
        ),
        pytest.param(
            "liveness",
            {"successThreshold": 5, "failureThreshold": 1, "periodSeconds": 1},
            [False, True],
            [(0.0, False), (1.0, True)],
            id="liveness-success-threshold-is-always-1",
        ),
        pytest.param(
            "readiness",
            {},
            [False, False, False, True],
            [(0.0, False), (10.0, False), (20.0, False), (30.0, True)],
            id="kubernetes-defaults",
        ),
    ],
)
def test_tracker_thresholds(kind: str, probe: dict, outcomes: list[bool], expected: list[tuple]) -> None:
    clock = FakeClock(monotonic_start=0.0)
    tracker = getattr(ProbeTracker, kind)(probe, started_at=clock.monotonic())
    assert tracker.result is (kind == "liveness")
    assert drive(tracker, clock, outcomes) == expected


def test_tracker_without_probe_always_passes_and_is_never_due() -> None:
    for make in (ProbeTracker.readiness, ProbeTracker.liveness):
        tracker = make(None, started_at=0.0)
        assert tracker.result is True
        assert not tracker.due(1e9)


async def test_tracker_driven_by_a_loop_on_the_fake_clock() -> None:
    """A probe loop written against Clock runs on FakeClock without real waiting."""
    clock = FakeClock(monotonic_start=100.0)
    tracker = ProbeTracker.readiness({"periodSeconds": 3, "initialDelaySeconds": 1}, clock.monotonic())
    probed_at: list[float] = []

    async def loop() -> None:
        while True:
            if tracker.due(clock.monotonic()):
                probed_at.append(clock.monotonic())
                tracker.observe(True, clock.monotonic())
            await clock.sleep(max(0.0, tracker.next_at - clock.monotonic()))

    task = asyncio.create_task(loop())
    t0 = time.monotonic()
    await clock.run_for(10)
    task.cancel()
    assert probed_at == [101.0, 104.0, 107.0, 110.0]
    assert tracker.result is True
    assert time.monotonic() - t0 < 1


# --- real probes ---------------------------------------------------------------------------


@pytest.fixture
async def http_server():
    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def fail(_: web.Request) -> web.Response:
        return web.Response(status=500)

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(text="late")

    async def moved(_: web.Request) -> web.Response:
        raise web.HTTPFound("/ok")

    async def header(request: web.Request) -> web.Response:
        return web.Response(status=200 if request.headers.get("X-Probe") == "yes" else 403)

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/fail", fail)
    app.router.add_get("/slow", slow)
    app.router.add_get("/moved", moved)
    app.router.add_get("/header", header)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, LOCAL, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield port
    await runner.cleanup()


def http_probe(path: str, port: object = "http", **extra: object) -> dict:
    return {"httpGet": {"path": path, "port": port, **extra}, "timeoutSeconds": 1}


@pytest.mark.parametrize(
    ("probe", "expected"),
    [
        pytest.param(http_probe("/ok"), True, id="200-by-port-name"),
        pytest.param(http_probe("/ok", port=8080), True, id="200-by-container-port-number"),
        pytest.param(http_probe("/moved"), True, id="redirect-is-success"),
        pytest.param(http_probe("/fail"), False, id="500-fails"),
        pytest.param(http_probe("/missing"), False, id="404-fails"),
        pytest.param(http_probe("/header"), False, id="header-absent"),
        pytest.param(
            http_probe("/header", httpHeaders=[{"name": "X-Probe", "value": "yes"}]), True, id="header-sent"
        ),
        pytest.param(http_probe("/ok", port="nope"), False, id="unknown-port-name"),
    ],
)
async def test_http_probe(http_server: int, probe: dict, expected: bool) -> None:
    host_ports = {"http": http_server, "8080": http_server}
    assert await run_probe(probe, CONTAINER, LOCAL, host_ports, None) is expected


async def test_http_probe_times_out(http_server: int) -> None:
    t0 = time.monotonic()
    assert await run_probe(http_probe("/slow"), CONTAINER, LOCAL, {"http": http_server}, None) is False
    assert time.monotonic() - t0 < 4


async def test_tcp_probe() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), LOCAL, 0)
    port = server.sockets[0].getsockname()[1]
    probe = {"tcpSocket": {"port": "http"}, "timeoutSeconds": 1}
    async with server:
        assert await run_probe(probe, CONTAINER, LOCAL, {"http": port, "8080": port}, None) is True
        # an undeclared number is dialled as is (the process runtime shares the host network)
        assert await run_probe({"tcpSocket": {"port": port}}, CONTAINER, LOCAL, {}, None) is True
    # the listener is gone now
    assert await run_probe(probe, CONTAINER, LOCAL, {"http": port}, None) is False


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        pytest.param(["true"], True, id="exit-0"),
        pytest.param(["sh", "-c", "exit 2"], False, id="exit-2"),
        pytest.param(["sleep", "10"], False, id="timeout"),
        pytest.param(["no-such-binary-for-probe"], False, id="missing-binary"),
        pytest.param([], False, id="empty"),
    ],
)
async def test_exec_probe_on_the_host(command: list[str], expected: bool) -> None:
    t0 = time.monotonic()
    assert (
        await run_probe({"exec": {"command": command}, "timeoutSeconds": 1}, CONTAINER, LOCAL, {}, None)
        is expected
    )
    assert time.monotonic() - t0 < 5


async def test_exec_probe_goes_through_the_runtime() -> None:
    class Recording:
        calls: list = []

        async def exec(self, cid: str, argv: list[str], timeout: float) -> int:
            self.calls.append((cid, argv, timeout))
            return 1

    rt = Recording()
    probe = {"exec": {"command": ["cat", "/tmp/healthy"]}, "timeoutSeconds": 3}
    assert await run_probe(probe, CONTAINER, LOCAL, {}, rt, cid="c1") is False  # type: ignore[arg-type]
    assert rt.calls == [("c1", ["cat", "/tmp/healthy"], 3.0)]


async def test_unsupported_probe_fails() -> None:
    assert await run_probe({"grpc": {"port": 1}}, CONTAINER, LOCAL, {}, None) is False
