"""The Deployment and ReplicaSet controllers' steps on a real state machine behind a fake store
(tests/unit/test_scheduling_step.FakeStore), and the settling of writes whose outcome is unknown."""

from __future__ import annotations

from typing import Any

import pytest

from haplane.control.deployments import deployment_step
from haplane.control.leader import ControlContext
from haplane.control.replicasets import counts_may_change, replicaset_step
from haplane.errors import OutcomeUnknown
from haplane.store import commands as c
from haplane.store.fsm import Change
from tests.unit.test_scheduling_step import FakeStore, ctx_for


class LateStore(FakeStore):
    """Pod creates time out (OutcomeUnknown) but stay in the "log": they apply at the next
    barrier, as a timed-out Raft entry that still commits does."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[dict] = []
        self.barriers = 0
        self.hold_pod_creates = True

    async def write(self, op: dict, **kw: Any) -> Any:
        if self.hold_pod_creates and op["t"] == "create" and op["kind"] == "Pod":
            self.held.append(op)
            raise OutcomeUnknown("the write timed out waiting for the Raft log; it may still apply")
        return await super().write(op, **kw)

    async def sync(self, stale: bool = False) -> None:
        self.barriers += 1
        held, self.held = self.held, []
        for op in held:
            self.apply(op)


def web(replicas: int) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "uid": "d-web", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                     "progressDeadlineSeconds": 600, "revisionHistoryLimit": 10, "minReadySeconds": 0,
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "x"}]}}}}


@pytest.fixture
def late() -> LateStore:
    s = LateStore()
    s.apply(c.create("Namespace", "", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}),
            c.claim(1, "r1"))
    return s


def pods(store: FakeStore) -> list[dict]:
    return store.fsm.list("Pod", "default")[0]


async def test_steps_create_the_replicaset_and_its_pods(late: LateStore) -> None:
    late.hold_pod_creates = False
    late.apply(c.create("Deployment", "default", web(3)))
    ctx = ctx_for(late)
    await deployment_step(ctx)
    (rs,) = late.fsm.list("ReplicaSet", "default")[0]
    assert rs["spec"]["replicas"] == 3 and rs["metadata"]["ownerReferences"][0]["uid"] == "d-web"
    await replicaset_step(ctx)
    assert sorted(p["metadata"]["ownerReferences"][0]["uid"] for p in pods(late)) == [rs["metadata"]["uid"]] * 3
    assert all(op.get("epoch") == 1 for op in late.writes), "every controller write is fenced"
    # The status counts the pods a step saw (none yet); the creations wake the next step.
    assert late.fsm.get("ReplicaSet", "default", rs["metadata"]["name"])["status"]["replicas"] == 0
    await replicaset_step(ctx)
    assert late.fsm.get("ReplicaSet", "default", rs["metadata"]["name"])["status"]["replicas"] == 3
    assert len(pods(late)) == 3


async def test_an_unknown_outcome_is_settled_before_the_next_step(late: LateStore) -> None:
    late.apply(c.create("Deployment", "default", web(3)))
    ctx = ctx_for(late)
    await deployment_step(ctx)
    await replicaset_step(ctx)  # three creates time out, yet will apply
    assert pods(late) == [] and len(late.held) == 3 and ctx.unknown_outcomes == 3
    late.hold_pod_creates = False
    await ctx.settle()  # what the loop does before every step
    assert late.barriers == 1 and len(pods(late)) == 3
    await replicaset_step(ctx)
    assert len(pods(late)) == 3, "no pod created twice"
    await ctx.settle()
    assert late.barriers == 1, "nothing unknown since: no further barrier"


async def test_without_settling_the_stale_view_creates_twice(late: LateStore) -> None:
    """What the settling prevents: the next step on a view without the timed-out creates."""
    late.apply(c.create("Deployment", "default", web(3)))
    ctx: ControlContext = ctx_for(late)
    await deployment_step(ctx)
    await replicaset_step(ctx)
    late.hold_pod_creates = False
    await replicaset_step(ctx)  # no settle: three more
    await late.sync()  # the first three land after all
    assert len(pods(late)) == 6


@pytest.mark.parametrize(("change", "wakes"), [
    pytest.param(Change(2, "MODIFIED", "Pod", "default", {"metadata": {}, "spec": {"nodeName": "n1"}},
                        {"metadata": {}, "spec": {}}), False, id="binding"),
    pytest.param(Change(2, "MODIFIED", "Pod", "default", {"metadata": {}, "status": {"phase": "Running"}},
                        {"metadata": {}, "status": {"phase": "Pending"}}), True, id="status"),
    pytest.param(Change(2, "MODIFIED", "Pod", "default", {"metadata": {"labels": {"a": "b"}}}, {"metadata": {}}),
                 True, id="labels"),
    pytest.param(Change(2, "MODIFIED", "Pod", "default", {"metadata": {"ownerReferences": []}}, {"metadata": {}}),
                 True, id="owners"),
    pytest.param(Change(2, "ADDED", "Pod", "default", {"metadata": {}}, None), True, id="created"),
    pytest.param(Change(2, "DELETED", "Pod", "default", {"metadata": {}}, None), True, id="deleted"),
    pytest.param(Change(2, "MODIFIED", "ReplicaSet", "default", {}, {}), True, id="replicaset"),
])
def test_counts_may_change(change: Change, wakes: bool) -> None:
    assert counts_may_change(change) is wakes
