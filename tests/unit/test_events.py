"""Events written beside a control loop's work (haplane.control.events.EventEmitter), on a fake context."""

from __future__ import annotations

import asyncio

import pytest

from haplane.control.events import EventEmitter
from haplane.errors import Unavailable


class FakeContext:
    """Records the ops written; ``gate`` holds every write until set; ``fail`` names reasons to refuse."""

    holder = "r1"

    def __init__(self, *, gate: asyncio.Event | None = None, fail: frozenset[str] = frozenset()) -> None:
        self.ops: list[dict] = []
        self.gate = gate
        self.fail = fail
        self.in_flight = self.most_in_flight = 0

    def timestamp(self) -> str:
        return "2026-11-25T19:00:00Z"

    async def write(self, op: dict) -> dict:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            await asyncio.sleep(0)
            if op["obj"]["reason"] in self.fail:
                raise Unavailable("no quorum")
            self.ops.append(op)
            return op["obj"]
        finally:
            self.in_flight -= 1


def pod(name: str) -> dict:
    return {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": name, "namespace": "default", "uid": f"u-{name}"}}


async def settle(emitter: EventEmitter) -> None:
    for _ in range(100):
        if not emitter.queued and (emitter._writer is None or emitter._writer.done()):
            return
        await asyncio.sleep(0)
    raise AssertionError("the emitter did not drain")


async def test_emit_returns_at_once_and_the_events_follow_in_order() -> None:
    gate = asyncio.Event()
    ctx = FakeContext(gate=gate)
    emitter = EventEmitter(ctx, component="haplane-scheduler", batch=4)
    for i in range(10):
        assert emitter.emit(pod(f"p{i}"), "Scheduled", f"assigned p{i}")
    await asyncio.sleep(0)
    assert ctx.ops == [] and emitter.queued == 6  # a batch is under way, nothing written yet
    gate.set()
    await settle(emitter)
    assert [op["obj"]["involvedObject"]["name"] for op in ctx.ops] == [f"p{i}" for i in range(10)]
    assert {op["obj"]["source"]["component"] for op in ctx.ops} == {"haplane-scheduler"}
    assert ctx.most_in_flight == 4 and emitter.sent == 10 and emitter.dropped == 0


@pytest.mark.parametrize(("emitted", "max_queued", "dropped"), [
    pytest.param(5, 5, 0, id="exactly-full"),
    pytest.param(8, 5, 3, id="overflow-dropped-and-counted"),
])
async def test_a_full_queue_drops_and_counts(emitted: int, max_queued: int, dropped: int) -> None:
    ctx = FakeContext(gate=asyncio.Event())
    emitter = EventEmitter(ctx, component="c", max_queued=max_queued, batch=1)
    accepted = [emitter.emit(pod(f"p{i}"), "Scheduled", "m") for i in range(emitted)]
    assert accepted.count(False) == dropped == emitter.dropped
    assert accepted[:max_queued] == [True] * max_queued
    await emitter.close()


async def test_a_failed_write_does_not_stop_the_others() -> None:
    ctx = FakeContext(fail=frozenset({"Bad"}))
    emitter = EventEmitter(ctx, component="c", batch=2)
    for reason in ("Scheduled", "Bad", "Scheduled", "Bad", "Scheduled"):
        emitter.emit(pod("p"), reason, "m")
    await settle(emitter)
    assert [op["obj"]["reason"] for op in ctx.ops] == ["Scheduled"] * 3


async def test_close_drops_what_is_queued_and_stops_writing() -> None:
    gate = asyncio.Event()
    ctx = FakeContext(gate=gate)
    emitter = EventEmitter(ctx, component="c", batch=2)
    for i in range(6):
        emitter.emit(pod(f"p{i}"), "Scheduled", "m")
    await asyncio.sleep(0)
    await emitter.close()
    gate.set()
    await asyncio.sleep(0.01)
    assert ctx.ops == [] and emitter.queued == 0
