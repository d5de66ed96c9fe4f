"""The scheduler's cache (haplane.control.scheduler.cache), fed the changes of a real state machine.

The reference is always a rebuild from scratch: ``build_node_infos`` and ``pending`` over what the
state machine holds. Whatever sequence of writes, the cache must equal it (plus its assumptions).
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from haplane.control.scheduler.cache import SchedulerCache, is_pending
from haplane.control.scheduler.predicates import NodeInfo, build_node_infos
from haplane.control.scheduler.select import place
from haplane.store import commands as c
from haplane.store.fsm import Change, StateMachine


def node(name: str, *, cpu: str = "4", ready: bool = True, labels: dict | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "uid": f"n-{name}", "labels": labels or {}},
            "spec": {}, "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
                                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def pod(name: str, *, cpu: str = "100m", node_name: str | None = None, phase: str | None = None,
        owner: str | None = None, host_port: int | None = None, selector: dict | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", "image": "x", "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}
    if host_port:
        container["ports"] = [{"containerPort": 80, "hostPort": host_port}]
    spec: dict[str, Any] = {"containers": [container]}
    if node_name:
        spec["nodeName"] = node_name
    if selector:
        spec["nodeSelector"] = selector
    meta: dict[str, Any] = {"name": name, "namespace": "default", "uid": f"p-{name}",
                            "creationTimestamp": "2026-11-25T19:00:00Z"}
    if owner:
        meta["ownerReferences"] = [{"kind": "Deployment", "name": owner, "uid": f"d-{owner}", "controller": True}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
            "status": {"phase": phase} if phase else {}}


class World:
    """A state machine whose changes feed a cache, as the leader's watch hub does."""

    def __init__(self) -> None:
        self.fsm = StateMachine()
        self.changes: list[Change] = []
        self.fsm.listener = lambda changes: self.changes.extend(changes)
        self.apply(c.create("Namespace", "", {"apiVersion": "v1", "kind": "Namespace",
                                              "metadata": {"name": "default", "uid": "ns"}}))
        self.cache = SchedulerCache()

    def apply(self, *ops: dict) -> list:
        return self.fsm.apply_entry(c.encode_entry(list(ops)))

    def load(self) -> None:
        nodes, rev = self.fsm.list("Node", "")
        self.cache.load(nodes, self.fsm.list("Pod", None)[0], rev)

    def deliver(self) -> None:
        changes, self.changes = self.changes, []
        self.cache.apply(changes)

    def pod(self, name: str) -> dict:
        obj = self.fsm.get("Pod", "default", name)
        assert obj is not None
        return obj

    def bind_op(self, name: str, node_name: str) -> dict:
        p = self.pod(name)
        return c.update("Pod", "default", name, dict(p, spec=dict(p["spec"], nodeName=node_name)),
                        rv=p["metadata"]["resourceVersion"], uid=p["metadata"]["uid"])


def usage(infos: dict[str, NodeInfo]) -> dict[str, tuple]:
    return {name: (ni.requested_cpu, ni.requested_memory, ni.pod_count, sorted(ni.host_ports),
                   sorted(ni.owner_counts.items()), ni.ready, ni.allocatable_cpu)
            for name, ni in infos.items()}


def assert_matches_rebuild(w: World) -> None:
    pods = w.fsm.list("Pod", None)[0]
    assert not w.cache.stale
    assert usage(w.cache.nodes) == usage(build_node_infos(w.fsm.list("Node", "")[0], pods))
    assert sorted(w.cache.pending) == sorted(("default", p["metadata"]["name"]) for p in pods if is_pending(p))
    assert w.cache.rev == w.fsm.rev


# ------------------------------------------------------------------ table: single writes

def _status(w: World, name: str, phase: str) -> dict:
    p = w.pod(name)
    return c.update("Pod", "default", name, dict(p, status={"phase": phase}), status=True)


@pytest.mark.parametrize("write", [
    pytest.param(lambda w: [c.create("Pod", "default", pod("new"))], id="pending-pod-created"),
    pytest.param(lambda w: [c.create("Pod", "default", pod("new", node_name="a"))], id="bound-pod-created"),
    pytest.param(lambda w: [w.bind_op("waiting", "b")], id="pending-pod-bound"),
    pytest.param(lambda w: [c.delete("Pod", "default", "running")], id="bound-pod-deleted"),
    pytest.param(lambda w: [c.delete("Pod", "default", "waiting")], id="pending-pod-deleted"),
    pytest.param(lambda w: [_status(w, "running", "Succeeded")], id="bound-pod-finished"),
    pytest.param(lambda w: [_status(w, "waiting", "Failed")], id="pending-pod-failed"),
    pytest.param(lambda w: [c.create("Node", "", node("c"))], id="node-added"),
    pytest.param(lambda w: [c.create("Node", "", node("ghost"))], id="node-added-under-its-bound-pod"),
    pytest.param(lambda w: [c.update("Node", "", "a", node("a", cpu="8"), status=True)],
                 id="node-resized-keeps-its-pods"),
    pytest.param(lambda w: [c.update("Node", "", "a", node("a", ready=False), status=True)], id="node-not-ready"),
    pytest.param(lambda w: [c.delete("Node", "", "a")], id="node-deleted"),
    pytest.param(lambda w: [c.delete("Namespace", "", "default")], id="namespace-deleted"),
    pytest.param(lambda w: [w.bind_op("waiting", "a"), c.delete("Pod", "default", "running"),
                            c.create("Pod", "default", pod("late", host_port=8080, node_name="b"))], id="batch"),
])
def test_cache_equals_a_rebuild_after(write: Any) -> None:
    w = World()
    w.apply(c.create("Node", "", node("a")), c.create("Node", "", node("b")),
            c.create("Pod", "default", pod("running", node_name="a", owner="web", host_port=80)),
            c.create("Pod", "default", pod("orphan", node_name="ghost")),
            c.create("Pod", "default", pod("waiting")))
    w.load()
    w.changes.clear()
    assert_matches_rebuild(w)
    w.apply(*write(w))
    w.deliver()
    assert_matches_rebuild(w)


@pytest.mark.parametrize("seed", range(8))
def test_cache_equals_a_rebuild_after_random_histories(seed: int) -> None:
    rng = random.Random(seed)
    w = World()
    w.load()
    nodes = ["a", "b", "c"]
    for step in range(150):
        pods = [p["metadata"]["name"] for p in w.fsm.list("Pod", None)[0]]
        roll = rng.random()
        if roll < 0.3 or not pods:
            w.apply(c.create("Pod", "default", pod(f"p{step}", cpu=f"{rng.randint(1, 9) * 100}m",
                                                  owner=rng.choice([None, "web", "db"]),
                                                  host_port=rng.choice([None, None, 80, 81]),
                                                  node_name=rng.choice([None, None, *nodes, "ghost"]))))
        elif roll < 0.5:
            w.apply(w.bind_op(rng.choice(pods), rng.choice(nodes)))
        elif roll < 0.6:
            w.apply(_status(w, rng.choice(pods), rng.choice(["Running", "Succeeded", "Failed"])))
        elif roll < 0.75:
            w.apply(c.delete("Pod", "default", rng.choice(pods)))
        elif roll < 0.85:
            name = rng.choice([*nodes, "ghost"])
            op = c.update if w.fsm.get("Node", "", name) else c.create
            w.apply(c.update("Node", "", name, node(name, cpu=str(rng.randint(1, 8)), ready=rng.random() < 0.8),
                             status=True) if op is c.update else c.create("Node", "", node(name)))
        else:
            name = rng.choice([*nodes, "ghost"])
            w.apply(c.delete("Node", "", name))
        if rng.random() < 0.7:  # sometimes several entries arrive at once
            w.deliver()
            assert_matches_rebuild(w)
    w.deliver()
    assert_matches_rebuild(w)


# ------------------------------------------------------------------ revisions

def test_changes_at_or_below_the_loaded_revision_are_skipped() -> None:
    w = World()
    w.apply(c.create("Node", "", node("a")), c.create("Pod", "default", pod("x", node_name="a")))
    w.load()
    w.deliver()  # the same changes again, as a listener attached before the load would see them
    assert w.cache.nodes["a"].pod_count == 1
    assert_matches_rebuild(w)


def test_a_missing_change_marks_the_cache_stale_until_reloaded() -> None:
    w = World()
    w.apply(c.create("Node", "", node("a")))
    w.load()
    w.apply(c.create("Pod", "default", pod("lost", node_name="a")))
    w.changes.clear()  # as if a snapshot had been installed: the change never reaches the cache
    w.apply(c.create("Pod", "default", pod("seen")))
    w.deliver()
    assert w.cache.stale
    w.load()
    assert_matches_rebuild(w)


def test_an_unloaded_cache_is_stale_and_ignores_changes() -> None:
    w = World()
    w.apply(c.create("Node", "", node("a")))
    w.deliver()
    assert w.cache.stale and not w.cache.nodes


# ------------------------------------------------------------------ assume / forget

def _placed(w: World) -> str:
    bindings, _ = place([w.pod("x")], w.cache.nodes)
    w.cache.assume(bindings[0].pod, bindings[0].node_name, bindings[0].info)
    return bindings[0].node_name


def test_an_assumption_counts_at_once_and_its_binding_replaces_it() -> None:
    w = World()
    w.apply(c.create("Node", "", node("a")), c.create("Pod", "default", pod("x", cpu="1")))
    w.load()
    assert _placed(w) == "a"
    assert w.cache.nodes["a"].requested_cpu == 1000 and not w.cache.pending and w.cache.assumed == 1
    w.apply(w.bind_op("x", "a"))
    w.deliver()
    assert w.cache.assumed == 0
    assert_matches_rebuild(w)  # booked once, not twice


def test_forget_undoes_an_assumption_whose_binding_failed() -> None:
    w = World()
    w.apply(c.create("Node", "", node("a")), c.create("Pod", "default", pod("x", cpu="1")))
    w.load()
    _placed(w)
    w.cache.forget(w.pod("x"))
    assert w.cache.assumed == 0
    assert_matches_rebuild(w)
    assert list(w.cache.pending) == [("default", "x")]


def test_forget_after_the_pod_changed_keeps_what_the_store_says() -> None:
    w = World()
    w.apply(c.create("Node", "", node("a")), c.create("Node", "", node("b")),
            c.create("Pod", "default", pod("x", cpu="1")))
    w.load()
    stale = w.pod("x")
    _placed(w)
    w.apply(w.bind_op("x", "b"))  # someone else bound it first: our binding conflicts
    w.deliver()
    w.cache.forget(stale)
    assert_matches_rebuild(w)
    assert w.cache.nodes["b"].requested_cpu == 1000


def test_a_binding_that_commits_after_forget_is_booked() -> None:
    w = World()
    w.apply(c.create("Node", "", node("a")), c.create("Pod", "default", pod("x", cpu="1")))
    w.load()
    node_name = _placed(w)
    w.cache.forget(w.pod("x"))  # outcome unknown ... and then it did commit
    w.apply(w.bind_op("x", node_name))
    w.deliver()
    assert_matches_rebuild(w)


# ------------------------------------------------------------------ parking

@pytest.mark.parametrize(("event", "unparked"), [
    pytest.param(lambda w: [], False, id="nothing-happened"),
    pytest.param(lambda w: [_status(w, "x", "Pending")], False, id="its-own-status-written"),
    pytest.param(lambda w: [c.create("Pod", "default", pod("other"))], False, id="another-pod-created"),
    pytest.param(lambda w: [w.bind_op("other-waiting", "a")], False, id="another-pod-bound"),
    pytest.param(lambda w: [c.create("Node", "", node("big", cpu="64"))], True, id="node-added"),
    pytest.param(lambda w: [c.update("Node", "", "a", node("a", cpu="64"), status=True)], True, id="node-grew"),
    pytest.param(lambda w: [c.delete("Pod", "default", "hog")], True, id="resources-freed-by-delete"),
    pytest.param(lambda w: [_status(w, "hog", "Succeeded")], True, id="resources-freed-by-finishing"),
    pytest.param(lambda w: [c.update("Pod", "default", "x", dict(w.pod("x"), spec=pod("x", cpu="1")["spec"]))],
                 True, id="its-spec-changed"),
])
def test_a_parked_pod_waits_for_a_change_that_could_let_it_fit(event: Any, unparked: bool) -> None:
    w = World()
    w.apply(c.create("Node", "", node("a", cpu="4")), c.create("Pod", "default", pod("hog", cpu="3", node_name="a")),
            c.create("Pod", "default", pod("x", cpu="2")), c.create("Pod", "default", pod("other-waiting", cpu="0")))
    w.load()
    _, failures = place([w.pod("x")], w.cache.nodes)
    assert [u.pod["metadata"]["name"] for u in failures] == ["x"]
    w.cache.park(w.pod("x"))
    assert ("default", "x") not in {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in w.cache.schedulable()}
    w.apply(*event(w))
    w.deliver()
    names = [p["metadata"]["name"] for p in w.cache.schedulable()]
    assert ("x" in names) is unparked
    assert_matches_rebuild(w)


def test_forget_unparks_what_the_freed_booking_may_now_fit() -> None:
    w = World()
    w.apply(c.create("Node", "", node("a", cpu="1")), c.create("Pod", "default", pod("x", cpu="1")),
            c.create("Pod", "default", pod("y", cpu="1")))
    w.load()
    _placed(w)
    _, failures = place([w.pod("y")], w.cache.nodes)
    w.cache.park(failures[0].pod)
    assert [p["metadata"]["name"] for p in w.cache.schedulable()] == []
    w.cache.forget(w.pod("x"))
    assert sorted(p["metadata"]["name"] for p in w.cache.schedulable()) == ["x", "y"]
