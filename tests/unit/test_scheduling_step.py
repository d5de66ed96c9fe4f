"""The scheduler's step (haplane.control.scheduling) on a real state machine behind a fake store.

The fake store applies each write as its own Raft entry would and hands the changes to the
listeners at once, as the leader's watch hub does before a write is acknowledged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from haplane.clock import FakeClock
from haplane.control import scheduling
from haplane.control.events import EventEmitter
from haplane.control.leader import ControlContext
from haplane.control.scheduler.cache import SchedulerCache
from haplane.errors import from_status
from haplane.store import commands as c
from haplane.store.fsm import Change, StateMachine


class FakeStore:
    def __init__(self) -> None:
        self.fsm = StateMachine()
        self.hub = self
        self._listeners: list[Callable[[list[Change]], None]] = []
        self.fsm.listener = lambda changes: [fn(changes) for fn in list(self._listeners)]
        self.before_write: Callable[[dict], None] | None = None
        self.event_gate: asyncio.Event | None = None
        self.writes: list[dict] = []

    def listen(self, fn: Callable[[list[Change]], None]) -> Callable[[], None]:
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn)

    def apply(self, *ops: dict) -> list:
        return self.fsm.apply_entry(c.encode_entry(list(ops)))

    async def write(self, op: dict, **_: Any) -> Any:
        if self.before_write is not None:
            self.before_write(op)
        if self.event_gate is not None and op.get("kind") == "Event":
            await self.event_gate.wait()
        self.writes.append(op)
        result = self.apply(op)[0]
        if result[0] == "ok":
            return result[1]
        raise from_status({"reason": result[2], "message": result[3], "code": result[1]}, result[1])


def node(name: str, cpu: str = "4") -> dict:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "uid": f"n-{name}"}, "spec": {},
            "status": {"allocatable": {"cpu": cpu, "memory": "8Gi"}, "conditions": [{"type": "Ready", "status": "True"}]}}


def pod(name: str, cpu: str, ts: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": f"p-{name}", "creationTimestamp": ts},
            "spec": {"containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": cpu}}}]}}


@pytest.fixture
def store() -> FakeStore:
    s = FakeStore()
    s.apply(c.create("Namespace", "", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}),
            c.claim(1, "r1"))
    return s


def ctx_for(store: FakeStore) -> ControlContext:
    return ControlContext(store, 1, "r1", FakeClock())  # type: ignore[arg-type]


def writes_of(store: FakeStore, t: str, kind: str, what: Callable[[dict], Any]) -> list:
    return [what(op) for op in store.writes if op["t"] == t and op["kind"] == kind]


async def run_steps(ctx: ControlContext, cache: SchedulerCache, events: EventEmitter | None, limit: int = 10) -> int:
    """Steps until one asks for no requeue (as the level-triggered loop would, with nothing else changing)."""
    for n in range(1, limit + 1):
        if await scheduling.scheduler_step(ctx, cache, events) is None:
            return n
    raise AssertionError("the scheduler kept asking to come back")


async def test_bindings_carry_the_pods_version_uid_and_epoch(store: FakeStore) -> None:
    store.apply(c.create("Node", "", node("a")), c.create("Pod", "default", pod("p", "1", "2026-01-01T00:00:00Z")))
    ctx = ctx_for(store)
    cache = SchedulerCache()
    store.listen(cache.apply)
    await run_steps(ctx, cache, None)
    (bind,) = [op for op in store.writes if op["t"] == "update"]
    stored = store.fsm.get("Pod", "default", "p")
    assert bind["pre"] == {"rv": "3", "uid": "p-p"} and bind["epoch"] == 1
    assert stored is not None and stored["spec"]["nodeName"] == "a"
    assert writes_of(store, "create", "Event", lambda op: op["obj"]["reason"]) == ["Scheduled"]


async def test_a_backlog_that_fits_nowhere_does_not_starve_the_pods_behind_it(store: FakeStore,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduling, "MAX_PER_STEP", 3)
    store.apply(c.create("Node", "", node("a", cpu="1")),
                *(c.create("Pod", "default", pod(f"huge-{i}", "8", f"2026-01-01T00:00:0{i}Z")) for i in range(5)),
                *(c.create("Pod", "default", pod(f"small-{i}", "100m", "2026-01-01T00:01:00Z")) for i in range(2)))
    ctx = ctx_for(store)
    cache = SchedulerCache()
    store.listen(cache.apply)
    await run_steps(ctx, cache, None)
    bound = {p["metadata"]["name"]: p["spec"].get("nodeName") for p in store.fsm.list("Pod", None)[0]}
    assert bound["small-0"] == bound["small-1"] == "a"
    # each huge pod examined once: one condition and one FailedScheduling event each, no repeats
    marked = writes_of(store, "update", "Pod", lambda op: op["name"] if op.get("sub") == "status" else None)
    assert sorted(m for m in marked if m) == [f"huge-{i}" for i in range(5)]
    reasons = writes_of(store, "create", "Event", lambda op: op["obj"]["reason"])
    assert sorted(reasons) == ["FailedScheduling"] * 5 + ["Scheduled"] * 2
    # and nothing left to do until something changes
    assert await scheduling.scheduler_step(ctx, cache, None) is None
    assert len(store.writes) == 5 + 5 + 2 + 2  # conditions, their events, bindings, their events


async def test_a_binding_that_conflicts_is_forgotten_and_retried(store: FakeStore) -> None:
    store.apply(c.create("Node", "", node("a", cpu="1")), c.create("Pod", "default", pod("p", "1", "2026-01-01T00:00:00Z")))
    ctx = ctx_for(store)
    cache = SchedulerCache()
    store.listen(cache.apply)

    def touch_first(op: dict) -> None:  # someone relabels the pod just before our binding lands
        store.before_write = None
        current = store.fsm.get("Pod", "default", "p")
        assert current is not None
        store.apply(c.update("Pod", "default", "p", dict(current, metadata=dict(current["metadata"], labels={"x": "y"}))))
    store.before_write = touch_first
    await scheduling.scheduler_step(ctx, cache, None)
    stored = store.fsm.get("Pod", "default", "p")
    assert stored is not None and not stored["spec"].get("nodeName")  # the CAS refused the stale binding
    assert cache.nodes["a"].requested_cpu == 0 and cache.assumed == 0  # and the booking was undone
    await run_steps(ctx, cache, None)
    stored = store.fsm.get("Pod", "default", "p")
    assert stored is not None and stored["spec"]["nodeName"] == "a"


async def test_scheduled_events_go_through_the_emitter(store: FakeStore) -> None:
    store.apply(c.create("Node", "", node("a")),
                *(c.create("Pod", "default", pod(f"p{i}", "100m", "2026-01-01T00:00:00Z")) for i in range(3)))
    ctx = ctx_for(store)
    cache = SchedulerCache()
    store.listen(cache.apply)
    events = EventEmitter(ctx, component=scheduling.COMPONENT)
    store.event_gate = asyncio.Event()  # Event writes hang until set: a step that waited for them would too
    await asyncio.wait_for(scheduling.scheduler_step(ctx, cache, events), 5)
    assert writes_of(store, "create", "Event", lambda op: op) == []
    assert all(p["spec"].get("nodeName") == "a" for p in store.fsm.list("Pod", None)[0])
    store.event_gate.set()
    assert events._writer is not None
    await asyncio.wait_for(events._writer, 5)
    written = writes_of(store, "create", "Event", lambda op: (op["obj"]["involvedObject"]["name"], op["obj"]["reason"],
                                                              op["epoch"]))
    assert sorted(written) == [("p0", "Scheduled", 1), ("p1", "Scheduled", 1), ("p2", "Scheduled", 1)]
