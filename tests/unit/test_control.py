"""Pure decisions of the control loops: node lifecycle, garbage collection, rollout progress, drain."""

from __future__ import annotations

import pytest

from haplane.cli_workloads import may_evict, rollout_progress
from haplane.control.gc import expired_events, garbage, makes_garbage
from haplane.control.nodes import UNREACHABLE, decide, tolerates_unreachable_forever
from haplane.control.scheduling import pending
from haplane.store.fsm import Change

T0 = 1_800_000_000.0


def node(name: str, ready: str = "True", since: str | None = None) -> dict:
    cond = {"type": "Ready", "status": ready}
    if since:
        cond["lastTransitionTime"] = since
    return {"metadata": {"name": name}, "status": {"conditions": [cond]}}


def pod(name: str, node_name: str | None = "n1", phase: str = "Running", tolerations: list | None = None) -> dict:
    spec: dict = {"containers": [{"name": "c"}]}
    if node_name:
        spec["nodeName"] = node_name
    if tolerations:
        spec["tolerations"] = tolerations
    return {"metadata": {"name": name, "namespace": "default", "uid": f"u-{name}"}, "spec": spec,
            "status": {"phase": phase}}


def iso(t: float) -> str:
    from datetime import UTC, datetime
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("nodes, seen, now, lead_since, transitions, evicted", [
    pytest.param([node("n1")], {"n1": T0}, T0 + 1, T0 - 100, [("n1", True)][:0], [], id="healthy-stays"),
    pytest.param([node("n1")], {"n1": T0}, T0 + 6, T0 - 100, [("n1", False)], [], id="silent-goes-notready"),
    pytest.param([node("n1", "Unknown", iso(T0 + 6))], {"n1": T0 + 7}, T0 + 7.5, T0 - 100, [("n1", True)], [],
                 id="heartbeat-returns-ready"),
    pytest.param([node("n1", "Unknown", iso(T0 + 6))], {"n1": T0}, T0 + 7, T0 - 100, [], [],
                 id="notready-within-eviction-delay"),
    pytest.param([node("n1", "Unknown", iso(T0 + 6))], {"n1": T0}, T0 + 8.5, T0 - 100, [], ["a", "b"],
                 id="evict-after-delay"),
    pytest.param([node("n1")], {}, T0 + 4, T0, [], [], id="new-leader-fresh-grace-no-history"),
    pytest.param([node("n1")], {"n1": T0 - 1000}, T0 + 4, T0, [], [], id="new-leader-fresh-grace-stale-history"),
    pytest.param([node("n1", "Unknown", iso(T0 - 500))], {}, T0 + 3, T0, [("n1", True)][:0], [],
                 id="new-leader-does-not-evict-at-once"),
    pytest.param([node("n1", "Unknown", iso(T0 - 500))], {}, T0 + 6, T0, [], ["a", "b"],
                 id="new-leader-evicts-after-grace"),
])
def test_node_lifecycle(nodes: list, seen: dict, now: float, lead_since: float, transitions: list,
                        evicted: list) -> None:
    pods = [pod("a"), pod("b"), pod("done", phase="Succeeded"), pod("elsewhere", node_name="n2"),
            pod("tolerant", tolerations=[{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}])]
    t, e = decide(nodes, pods, seen, now, grace=5.0, eviction_delay=2.0, lead_since=lead_since)
    assert [(x.node, x.ready) for x in t] == transitions
    assert sorted(x.pod["metadata"]["name"] for x in e) == evicted


@pytest.mark.parametrize("tolerations, expected", [
    pytest.param([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}], True, id="exact"),
    pytest.param([{"operator": "Exists"}], True, id="tolerate-everything"),
    pytest.param([{"key": UNREACHABLE, "operator": "Exists", "tolerationSeconds": 30}], False, id="bounded"),
    pytest.param([{"key": "other", "operator": "Exists"}], False, id="other-key"),
    pytest.param([], False, id="none"),
])
def test_tolerates_unreachable(tolerations: list, expected: bool) -> None:
    assert tolerates_unreachable_forever(pod("p", tolerations=tolerations)) is expected


def owned(name: str, *uids: str) -> dict:
    return {"metadata": {"name": name, "ownerReferences": [{"uid": u} for u in uids]}}


@pytest.mark.parametrize("objs, live, expected", [
    pytest.param([owned("a", "d1")], {"d1"}, [], id="owner-alive"),
    pytest.param([owned("a", "d1")], set(), ["a"], id="owner-gone"),
    pytest.param([owned("a", "d1", "d2")], {"d2"}, [], id="one-owner-left"),
    pytest.param([{"metadata": {"name": "free"}}], set(), [], id="no-owners-never-collected"),
])
def test_garbage(objs: list, live: set, expected: list) -> None:
    assert [o["metadata"]["name"] for _, o in garbage([("Pod", o) for o in objs], live)] == expected


def test_expired_events() -> None:
    events = [{"metadata": {"name": "old"}, "lastTimestamp": iso(T0 - 7200)},
              {"metadata": {"name": "new"}, "lastTimestamp": iso(T0 - 10)}]
    assert [e["metadata"]["name"] for e in expired_events(events, T0, 3600)] == ["old"]


@pytest.mark.parametrize("stamp, now, expired", [
    # Canonical stamps are compared as text: the boundary must be exactly "older than ttl".
    pytest.param(iso(T0 - 3601), T0, True, id="a-second-past-ttl"),
    pytest.param(iso(T0 - 3600), T0, False, id="exactly-ttl-old"),
    pytest.param(iso(T0 - 3600), T0 + 0.5, True, id="ttl-and-a-half-second"),
    pytest.param(iso(T0 - 3599), T0 + 0.5, False, id="just-under-ttl-with-fraction"),
    pytest.param(iso(T0 - 10), T0, False, id="fresh"),
    # Other spellings are parsed (or, when unparsable, never expire), as before.
    pytest.param(iso(T0 - 7200).replace("Z", "+00:00"), T0, False, id="offset-form-unparsed"),
    pytest.param(iso(T0 - 7200)[:-1] + ".5Z", T0, False, id="fractional-unparsed"),
    pytest.param("yesterday", T0, False, id="garbage"),
    pytest.param(None, T0, False, id="missing"),
])
def test_expired_events_boundaries(stamp: str | None, now: float, expired: bool) -> None:
    ev = {"metadata": {"name": "e"}, "lastTimestamp": stamp}
    assert bool(expired_events([ev], now, 3600)) is expired


def test_expired_events_falls_back_to_creation_timestamp() -> None:
    ev = {"metadata": {"name": "e", "creationTimestamp": iso(T0 - 7200)}}
    assert expired_events([ev], T0, 3600) == [ev]


def _change(ctype: str, kind: str, refs: list | None = None, before: list | None = None) -> Change:
    def obj(r: list | None) -> dict:
        return {"metadata": {"name": "x", **({"ownerReferences": r} if r else {})}}
    return Change(1, ctype, kind, "default", obj(refs), obj(before) if ctype == "MODIFIED" else None)


REF = [{"uid": "d1", "controller": True}]


@pytest.mark.parametrize("change, wakes", [
    pytest.param(_change("DELETED", "Deployment"), True, id="owner-deleted"),
    pytest.param(_change("DELETED", "ReplicaSet"), True, id="replicaset-deleted-owns-pods"),
    pytest.param(_change("ADDED", "ReplicaSet", REF), True, id="owned-replicaset-created"),
    pytest.param(_change("DELETED", "Pod", REF), True, id="pod-deleted-may-own-things"),
    pytest.param(_change("DELETED", "Event"), False, id="event-deleted"),
    pytest.param(_change("ADDED", "Pod", REF), True, id="owned-pod-created"),
    pytest.param(_change("ADDED", "Pod"), False, id="ownerless-pod-created"),
    pytest.param(_change("MODIFIED", "Pod", REF, REF), False, id="pod-bound-or-status-written"),
    pytest.param(_change("MODIFIED", "Pod", REF, [{"uid": "other"}]), True, id="pod-reparented"),
    pytest.param(_change("MODIFIED", "Pod", None, REF), False, id="pod-orphaned"),
    pytest.param(_change("ADDED", "Deployment"), False, id="owner-created"),
    pytest.param(_change("MODIFIED", "Node"), False, id="node-changed"),
    pytest.param(_change("ADDED", "Endpoints", REF), True, id="owned-endpoints-created"),
])
def test_only_changes_that_can_make_garbage_wake_the_collector(change: Change, wakes: bool) -> None:
    assert makes_garbage(change) is wakes


def test_pending_pods() -> None:
    pods = [pod("bound"), pod("free", node_name=None), pod("failed", node_name=None, phase="Failed")]
    assert [p["metadata"]["name"] for p in pending(pods)] == ["free"]


def dep(replicas: int = 3, gen: int = 2, observed: int = 2, updated: int = 3, total: int = 3, available: int = 3,
        max_unavailable: object = 1) -> dict:
    return {"metadata": {"name": "web", "generation": gen},
            "spec": {"replicas": replicas, "strategy": {"type": "RollingUpdate",
                                                        "rollingUpdate": {"maxSurge": 1,
                                                                          "maxUnavailable": max_unavailable}}},
            "status": {"observedGeneration": observed, "updatedReplicas": updated, "replicas": total,
                       "availableReplicas": available}}


@pytest.mark.parametrize("d, done, fragment", [
    pytest.param(dep(), True, "successfully rolled out", id="done"),
    pytest.param(dep(observed=1), False, "spec update to be observed", id="not-observed"),
    pytest.param(dep(updated=1, total=4), False, "1 out of 3 new replicas", id="updating"),
    pytest.param(dep(total=4), False, "1 old replicas are pending termination", id="old-pending"),
    pytest.param(dep(available=2), False, "2 of 3 updated replicas are available", id="not-available"),
    pytest.param(dict(dep(updated=1), status=dict(dep(updated=1)["status"], conditions=[
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}])), False,
        'error: deployment "web" exceeded its progress deadline', id="deadline-exceeded"),
])
def test_rollout_progress(d: dict, done: bool, fragment: str) -> None:
    ok, message = rollout_progress(d)
    assert ok is done and fragment in message


@pytest.mark.parametrize("d, expected", [
    pytest.param(dep(available=3), True, id="room-for-one"),
    pytest.param(dep(available=2), False, id="at-the-floor"),
    pytest.param(dep(available=3, max_unavailable=0), False, id="none-may-be-unavailable"),
    pytest.param(None, True, id="unmanaged"),
])
def test_may_evict(d: dict | None, expected: bool) -> None:
    assert may_evict(d) is expected
