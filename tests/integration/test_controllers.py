"""The control plane end to end: real replicas, real agents (process runtime), the leader's
scheduler and controllers — spreading, self-healing, node death, leader death mid-scale-up,
rolling update and rollback, and a deposed (paused) leader that cannot land anything."""

from __future__ import annotations

import asyncio
import collections
import os
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from haplane.cli_workloads import update_with_retry
from haplane.client import Client
from haplane.control.reconcile.deployment import revision_of, rollback_patch, rollback_target
from haplane.control.reconcile.podtemplate import REVISION_ANNOTATION
from haplane.localcluster import LocalCluster
from tests.integration.conftest import make_cluster, running_cluster

TIMEOUT = 60.0  # a generous safety net; speed is measured in bench/


def deployment(name: str, replicas: int, marker: str, **template_extra: object) -> dict:
    container = {"name": "main", "image": "busybox:local",
                 "command": ["sh", "-c", "while true; do sleep 1; done", marker],
                 "resources": {"requests": {"cpu": "10m", "memory": "8Mi"}}}
    container.update(template_extra)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"terminationGracePeriodSeconds": 2, "containers": [container]}}}}


def processes_with(marker: str) -> int:
    """Live OS processes whose command line carries ``marker`` (the truth below the API)."""
    count = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in args and state != "Z":
            count += 1
    return count


async def eventually(what: str, check: Callable[[], object], timeout: float = TIMEOUT) -> object:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


async def running_pods(c: Client, app: str) -> list[dict]:
    pods = (await c.list("Pod", label_selector=f"app={app}"))["items"]
    return [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]


@pytest.fixture(scope="module")
def three_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running_cluster(tmp_path_factory.mktemp("ctl"), agents=3, runtime="process") as lc:
        yield lc


@pytest.fixture
async def c3(three_nodes: LocalCluster) -> Iterator[Client]:
    async with Client(three_nodes.endpoints, three_nodes.admin_token) as c:
        await eventually("3 Ready nodes", lambda: _ready_nodes(c, 3))
        yield c


async def _ready_nodes(c: Client, n: int) -> bool:
    nodes = (await c.list("Node", None))["items"]
    ready = [x for x in nodes if any(k.get("type") == "Ready" and k.get("status") == "True"
                                     for k in (x.get("status") or {}).get("conditions") or [])]
    return len(ready) >= n


async def test_spread_and_self_healing(c3: Client) -> None:
    marker = f"spread-{uuid.uuid4().hex[:8]}"
    await c3.create(deployment("spread", 6, marker))
    pods = await eventually("6 running pods", lambda: _exactly(c3, "spread", 6))
    per_node = collections.Counter(p["spec"]["nodeName"] for p in pods)
    assert sorted(per_node.values()) == [2, 2, 2], f"6 replicas spread over 3 nodes: {per_node}"
    await eventually("6 processes", lambda: processes_with(marker) == 6)
    victim = pods[0]["metadata"]
    await c3.delete("Pod", victim["name"])
    replaced = await eventually("a replacement", lambda: _replaced(c3, "spread", 6, victim["name"]))
    assert victim["name"] not in {p["metadata"]["name"] for p in replaced}
    await eventually("exactly 6 processes", lambda: processes_with(marker) == 6)
    await c3.delete("Deployment", "spread")
    await eventually("no processes left", lambda: processes_with(marker) == 0)


async def _exactly(c: Client, app: str, n: int) -> list[dict] | None:
    pods = await running_pods(c, app)
    everything = (await c.list("Pod", label_selector=f"app={app}"))["items"]
    return pods if len(pods) == n and len(everything) == n else None


async def _replaced(c: Client, app: str, n: int, gone: str) -> list[dict] | None:
    pods = await _exactly(c, app, n)
    return pods if pods and gone not in {p["metadata"]["name"] for p in pods} else None


async def test_rolling_update_and_rollback(c3: Client) -> None:
    marker = f"roll-{uuid.uuid4().hex[:8]}"
    await c3.create(deployment("roll", 3, marker))
    first = await eventually("3 running pods", lambda: _exactly(c3, "roll", 3))
    first_hash = {p["metadata"]["labels"]["pod-template-hash"] for p in first}
    def new_image(dep: dict) -> dict:
        container = dep["spec"]["template"]["spec"]["containers"][0]
        container["image"] = "busybox:v2"
        container["env"] = [{"name": "VERSION", "value": "2"}]
        return dep
    # The controller writes the Deployment too (status, revision): read-modify-write with retry.
    await update_with_retry(c3, "Deployment", "roll", "default", new_image)
    peak = 0

    async def rolled() -> list[dict] | None:
        nonlocal peak
        pods = (await c3.list("Pod", label_selector="app=roll"))["items"]
        peak = max(peak, len(pods))
        done = await _exactly(c3, "roll", 3)
        if done and {p["metadata"]["labels"]["pod-template-hash"] for p in done}.isdisjoint(first_hash):
            return done
        return None
    await eventually("rolled to the new template", rolled)
    assert peak <= 4, f"maxSurge=1: never more than 4 pods, saw {peak}"
    dep = await c3.get("Deployment", "roll")
    replicasets = (await c3.list("ReplicaSet", label_selector="app=roll"))["items"]
    assert sorted((revision_of(rs), rs["spec"]["replicas"]) for rs in replicasets) == [(1, 0), (2, 3)]
    assert dep["metadata"]["annotations"][REVISION_ANNOTATION] == "2"
    # kubectl's rollout undo: the previous revision's ReplicaSet template, JSON-patched back in.
    await c3.patch("Deployment", "roll", rollback_patch(dep, rollback_target(replicasets, dep)))

    async def back() -> list[dict] | None:
        done = await _exactly(c3, "roll", 3)
        return done if done and {p["metadata"]["labels"]["pod-template-hash"] for p in done} == first_hash else None
    await eventually("rolled back", back)
    await eventually("exactly 3 processes", lambda: processes_with(marker) == 3)
    replicasets = (await c3.list("ReplicaSet", label_selector="app=roll"))["items"]
    assert sorted((revision_of(rs), rs["spec"]["replicas"]) for rs in replicasets) == [(2, 0), (3, 3)]
    await c3.delete("Deployment", "roll")

    async def collected() -> bool:  # Deployment -> ReplicaSets -> pods, by ownerReferences
        left = [(await c3.list(kind, label_selector="app=roll"))["items"] for kind in ("ReplicaSet", "Pod")]
        return not any(left)
    await eventually("the ReplicaSets and pods collected", collected)
    await eventually("no processes left", lambda: processes_with(marker) == 0)


async def test_dead_node_pods_move_and_stale_pods_are_stopped_on_return(three_nodes: LocalCluster,
                                                                        c3: Client) -> None:
    marker = f"move-{uuid.uuid4().hex[:8]}"
    await c3.create(deployment("move", 3, marker))
    pods = await eventually("3 running pods", lambda: _exactly(c3, "move", 3))
    node = pods[0]["spec"]["nodeName"]
    on_node = {p["metadata"]["name"] for p in pods if p["spec"]["nodeName"] == node}
    t0 = time.monotonic()
    three_nodes.kill(node)  # the agent dies; its processes keep running, orphaned

    async def moved() -> list[dict] | None:
        done = await _exactly(c3, "move", 3)
        return done if done and all(p["spec"]["nodeName"] != node for p in done) else None
    await eventually("pods running elsewhere", moved)
    moved_after = time.monotonic() - t0
    assert processes_with(marker) == 3 + len(on_node), "the dead node's processes are still there, orphaned"
    three_nodes.start(node)
    await eventually("the returning node stops its stale pods", lambda: processes_with(marker) == 3)
    assert len(await running_pods(c3, "move")) == 3
    await c3.delete("Deployment", "move")
    print(f"pods of the dead node running elsewhere after {moved_after:.1f}s")


async def test_leader_killed_during_scale_up(tmp_path) -> None:  # noqa: ANN001
    lc = make_cluster(tmp_path, agents=2, runtime="hollow")
    try:
        lc.wait_ready(timeout=60)
        async with Client(lc.endpoints, lc.admin_token) as c:
            await eventually("2 Ready nodes", lambda: _ready_nodes(c, 2))
            await c.create(deployment("burst", 2, "hollow"))
            await eventually("2 running", lambda: _exactly(c, "burst", 2))
            await c.scale("Deployment", "burst", 20)
            await asyncio.sleep(0.3)  # mid-scale-up
            leader = lc.wait_ready()
            lc.kill(leader)
            pods = await eventually("exactly 20 running", lambda: _exactly(c, "burst", 20))
            names = [p["metadata"]["name"] for p in pods]
            assert len(set(names)) == 20
            await asyncio.sleep(3)  # nothing more appears later
            assert len((await c.list("Pod", label_selector="app=burst"))["items"]) == 20
    finally:
        lc.stop_all()


async def test_paused_leader_cannot_land_decisions(tmp_path) -> None:  # noqa: ANN001
    lc = make_cluster(tmp_path, agents=2, runtime="hollow")
    try:
        old = lc.wait_ready(timeout=60)
        async with Client(lc.endpoints, lc.admin_token) as c:
            await eventually("2 Ready nodes", lambda: _ready_nodes(c, 2))
            await c.create(deployment("fence", 4, "hollow"))
            await eventually("4 running", lambda: _exactly(c, "fence", 4))
            old_epoch = lc.get_json(old, "/cluster/self")["epoch"]
            lc.pause(old)
            others = [n for n in ("r1", "r2", "r3") if n != old]
            new = lc.wait_ready(timeout=30, names=others, not_leader=old)
            assert new != old
            await c.scale("Deployment", "fence", 7)
            await eventually("7 running under the new leader", lambda: _exactly(c, "fence", 7))
            lc.resume(old)
            await asyncio.sleep(3)  # the old leader wakes up believing it leads, then learns otherwise
            st = lc.get_json(new, "/cluster/self")
            assert st["epoch"] > old_epoch, "the new leader claimed a newer epoch"
            assert len((await c.list("Pod", label_selector="app=fence"))["items"]) == 7
            await eventually("the old leader follows the new one",
                             lambda: lc.get_json(old, "/cluster/self")["leader"] == lc.members[new].raft)
    finally:
        lc.stop_all()
