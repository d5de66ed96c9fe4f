"""The ReplicaSet controller's pure decision (haplane.control.reconcile.replicaset): recorded actions."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from haplane.clock import rfc3339
from haplane.control.reconcile.pods import is_available
from haplane.control.reconcile.replicaset import ReplicaSetPlan, deletion_order, reconcile
from tests.unit.rollout_world import NOW, make_ready, names

RS_UID = "uid-rs"


def rs(replicas: int = 3, *, min_ready: int = 0, deleting: bool = False, generation: int = 4) -> dict[str, Any]:
    labels = {"app": "web", "pod-template-hash": "h1"}
    meta: dict[str, Any] = {"name": "web-h1", "namespace": "shop", "uid": RS_UID, "generation": generation}
    if deleting:
        meta["deletionTimestamp"] = rfc3339(NOW)
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta,
            "spec": {"replicas": replicas, "minReadySeconds": min_ready, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels, "annotations": {"a": "b"}},
                                  "spec": {"containers": [{"name": "c", "image": "v1"}]}}}}


def pod(name: str, *, owner: str | None = RS_UID, ready_since: float | None = NOW - 600, phase: str = "Running",
        labels: dict[str, str] | None = None, node: str | None = "n1", created: float = NOW - 3600,
        deleting: bool = False, restarts: int = 0) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "shop", "uid": f"uid-{name}", "resourceVersion": "7",
                            "creationTimestamp": rfc3339(created),
                            "labels": labels if labels is not None else {"app": "web", "pod-template-hash": "h1"}}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "x", "uid": owner,
                                    "controller": True}]
    if deleting:
        meta["deletionTimestamp"] = rfc3339(NOW)
    p: dict[str, Any] = {"metadata": meta, "spec": {"nodeName": node} if node else {},
                         "status": {"phase": phase, "containerStatuses": [{"name": "c", "restartCount": restarts}]}}
    if ready_since is not None:
        make_ready(p, ready_since)
        p["status"]["phase"] = phase
    return p


def actions(plan: ReplicaSetPlan) -> list[tuple[str, str]]:
    """The plan as recorded actions (sample-controller style)."""
    return ([("create", p["metadata"]["name"]) for p in plan.create]
            + [(f"delete:{d.reason}", d.pod["metadata"]["name"]) for d in plan.delete]
            + [("adopt", p["metadata"]["name"]) for p in plan.adopt]
            + [("release", p["metadata"]["name"]) for p in plan.release])


@pytest.mark.parametrize(("replicaset", "pods", "expected"), [
    pytest.param(rs(2), [], [("create", "web-h1-s0"), ("create", "web-h1-s1")], id="create-from-nothing"),
    pytest.param(rs(2), [pod("a"), pod("b")], [], id="steady"),
    pytest.param(rs(1), [pod("a", created=NOW - 10), pod("b", created=NOW - 20)],
                 [("delete:ScaleDown", "a")], id="scale-down-newest-first"),
    pytest.param(rs(1), [pod("a"), pod("b", ready_since=None)], [("delete:ScaleDown", "b")],
                 id="scale-down-not-ready-first"),
    pytest.param(rs(1), [pod("a", ready_since=NOW - 600), pod("b", ready_since=NOW - 5)], [("delete:ScaleDown", "b")],
                 id="scale-down-most-recently-ready-first"),
    pytest.param(rs(1), [pod("a", ready_since=None, node=None, phase="Pending"), pod("b", ready_since=None)],
                 [("delete:ScaleDown", "a")], id="scale-down-unscheduled-first"),
    pytest.param(rs(1), [pod("a", ready_since=None, restarts=0), pod("b", ready_since=None, restarts=3)],
                 [("delete:ScaleDown", "b")], id="scale-down-most-restarts-first"),
    pytest.param(rs(2), [pod("a"), pod("b", phase="Failed", ready_since=None)],
                 [("create", "web-h1-s0"), ("delete:Failed", "b")], id="failed-is-deleted-and-replaced"),
    pytest.param(rs(2), [pod("a"), pod("b", deleting=True)], [("create", "web-h1-s0")],
                 id="terminating-is-replaced-not-redeleted"),
    pytest.param(rs(2), [pod("a"), pod("b", owner="uid-other")], [("create", "web-h1-s0")],
                 id="another-controllers-pod-is-ignored"),
    pytest.param(rs(2), [pod("a"), pod("b", owner=None)], [("adopt", "b")], id="matching-orphan-adopted-and-counted"),
    pytest.param(rs(2), [pod("a"), pod("b", owner=None, labels={"app": "db"})], [("create", "web-h1-s0")],
                 id="non-matching-orphan-left-alone"),
    pytest.param(rs(1), [pod("a"), pod("b", labels={"app": "web"})], [("release", "b")],
                 id="owned-pod-that-stopped-matching-released"),
    pytest.param(rs(2), [pod("a", owner=None, phase="Succeeded", ready_since=None)],
                 [("create", "web-h1-s0"), ("create", "web-h1-s1")], id="finished-orphan-not-adopted"),
    pytest.param(rs(1, deleting=True), [pod("a"), pod("b"), pod("c", owner=None)], [], id="being-deleted-does-nothing"),
    pytest.param(rs(0), [pod("a"), pod("b")], [("delete:ScaleDown", "a"), ("delete:ScaleDown", "b")],
                 id="scale-to-zero"),
])
def test_reconcile_actions(replicaset: dict, pods: list[dict], expected: list[tuple[str, str]]) -> None:
    assert actions(reconcile(replicaset, pods, NOW, new_names=names())) == expected


def test_created_pods_are_stamped_from_the_template_and_owned() -> None:
    r = rs(1)
    created = reconcile(r, [], NOW, new_names=["x1"]).create[0]
    assert created["metadata"] == {
        "name": "web-h1-x1", "namespace": "shop", "creationTimestamp": rfc3339(NOW),
        "labels": {"app": "web", "pod-template-hash": "h1"}, "annotations": {"a": "b"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-h1", "uid": RS_UID,
                             "controller": True, "blockOwnerDeletion": True}]}
    assert created["spec"] == r["spec"]["template"]["spec"] and created["status"] == {"phase": "Pending"}
    created["spec"]["containers"][0]["image"] = "changed"
    assert r["spec"]["template"]["spec"]["containers"][0]["image"] == "v1"


def test_names_taken_are_skipped_and_suffixes_may_run_out() -> None:
    plan = reconcile(rs(3), [pod("web-h1-p0")], NOW, new_names=["p0", "p1"])
    assert [p["metadata"]["name"] for p in plan.create] == ["web-h1-p1"]


def test_status() -> None:
    pods = [pod("a"), pod("b", ready_since=NOW - 5), pod("c", ready_since=None), pod("d", labels={"app": "web",
            "pod-template-hash": "h1", "extra": "x"}), pod("e", deleting=True)]
    pods[3]["metadata"]["labels"].pop("extra")
    pods.append(pod("f", labels={"app": "web", "pod-template-hash": "h1", "v": "2"}))
    r = rs(5, min_ready=10)
    r["spec"]["template"]["metadata"]["labels"]["v"] = "2"
    r["spec"]["selector"] = {"matchLabels": {"app": "web"}}
    plan = reconcile(r, pods, NOW, new_names=names())
    assert plan.status == {"replicas": 5, "fullyLabeledReplicas": 1, "readyReplicas": 4, "availableReplicas": 3,
                           "observedGeneration": 4}
    assert plan.requeue_after == pytest.approx(5)


@pytest.mark.parametrize("min_ready", [0, 5, 30, 1000])
def test_every_unavailable_pod_is_deleted_before_any_available_one(min_ready: int) -> None:
    pods = [pod(f"p{i}", ready_since=since, created=NOW - 100 * i)
            for i, since in enumerate([NOW - 2000, None, NOW - 1, NOW - 20, NOW - 500, None, NOW - 40])]
    pods.append(pod("unknown-since", ready_since=NOW))
    pods[-1]["status"]["conditions"][0].pop("lastTransitionTime")  # counts as long ago
    order = deletion_order(pods)
    flags = [is_available(p, NOW, min_ready) for p in order]
    assert flags == sorted(flags), [(p["metadata"]["name"], f) for p, f in zip(order, flags, strict=True)]
    assert order[-1]["metadata"]["name"] == "unknown-since"


def test_stale_expectation_is_not_acted_on_twice() -> None:
    """After a plan has been applied, reconciling again on the view that includes it does nothing more."""
    r = rs(3)
    first = reconcile(r, [], NOW, new_names=names())
    applied = [dict(copy.deepcopy(p), metadata=dict(p["metadata"], uid=f"u{i}")) for i, p in enumerate(first.create)]
    assert reconcile(r, applied, NOW, new_names=names()).idle
