"""The watch hub: replay from the window, resume, 410 Gone, selector transitions, snapshot installs."""

from __future__ import annotations

import asyncio

import pytest

from haplane.errors import Gone
from haplane.store import commands as c
from haplane.store.fsm import StateMachine
from haplane.store.watch import WatchHub


def cm(name: str, labels: dict | None = None, v: str = "1") -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default", "uid": f"u-{name}", "labels": labels or {}},
            "data": {"v": v}}


def apply(fsm: StateMachine, *ops: dict) -> None:
    fsm.apply_entry(c.encode_entry(list(ops)))


async def drain(watcher, n: int) -> list[tuple[str, str]]:  # noqa: ANN001
    out = []
    for _ in range(n):
        change = await watcher.next(2.0)
        assert change is not None, f"expected {n} events, got {out}"
        out.append((change.type, change.obj["metadata"]["name"]))
    assert await watcher.next(0.05) is None, "no more events than expected"
    return out


@pytest.fixture
async def setup() -> tuple[StateMachine, WatchHub]:
    fsm = StateMachine()
    hub = WatchHub(fsm, asyncio.get_running_loop(), window=10)
    apply(fsm, c.create("Namespace", "", {"metadata": {"name": "default", "uid": "ns"}}))
    return fsm, hub


async def test_resume_replays_the_window_then_follows(setup) -> None:  # noqa: ANN001
    fsm, hub = setup
    apply(fsm, c.create("ConfigMap", "default", cm("a")), c.create("ConfigMap", "default", cm("b")))
    since = 2  # after "a"
    with fsm.lock:
        w = hub.subscribe("ConfigMap", "default", since, lambda o: True)
    apply(fsm, c.update("ConfigMap", "default", "a", cm("a", v="2")))
    assert await drain(w, 2) == [("ADDED", "b"), ("MODIFIED", "a")]


async def test_too_old_resource_version_is_gone(setup) -> None:  # noqa: ANN001
    fsm, hub = setup
    for i in range(15):  # the window holds 10
        apply(fsm, c.create("ConfigMap", "default", cm(f"x{i}")))
    with pytest.raises(Gone), fsm.lock:
        hub.subscribe("ConfigMap", "default", 1, lambda o: True)
    with fsm.lock:
        hub.subscribe("ConfigMap", "default", fsm.rev - 5, lambda o: True)  # still in the window


async def test_selector_transitions_become_added_and_deleted(setup) -> None:  # noqa: ANN001
    fsm, hub = setup
    apply(fsm, c.create("ConfigMap", "default", cm("a", {"app": "web"})))
    with fsm.lock:
        w = hub.subscribe("ConfigMap", None, fsm.rev, lambda o: o["metadata"]["labels"].get("app") == "web")
    apply(fsm, c.update("ConfigMap", "default", "a", cm("a", {"app": "db"})))  # leaves the selection
    apply(fsm, c.update("ConfigMap", "default", "a", cm("a", {"app": "db"}, v="9")))  # invisible
    apply(fsm, c.update("ConfigMap", "default", "a", cm("a", {"app": "web"})))  # comes back
    apply(fsm, c.delete("ConfigMap", "default", "a"))
    assert await drain(w, 3) == [("DELETED", "a"), ("ADDED", "a"), ("DELETED", "a")]


async def test_snapshot_install_ends_every_watch_with_gone(setup) -> None:  # noqa: ANN001
    fsm, hub = setup
    with fsm.lock:
        w = hub.subscribe("ConfigMap", None, fsm.rev, lambda o: True)
    other = StateMachine()
    apply(other, c.create("Namespace", "", {"metadata": {"name": "default", "uid": "ns"}}))
    for i in range(5):
        apply(other, c.create("ConfigMap", "default", cm(f"s{i}")))
    fsm.restore(other.snapshot())
    with pytest.raises(Gone):
        await w.next(2.0)
    with pytest.raises(Gone), fsm.lock:
        hub.subscribe("ConfigMap", None, 2, lambda o: True)
