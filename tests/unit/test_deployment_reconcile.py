"""The Deployment controller's pure decision (haplane.control.reconcile)."""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Collection
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from haplane.clock import rfc3339
from haplane.control.reconcile.deployment import (
    Plan,
    history_from_data,
    history_to_data,
    is_available,
    reconcile,
    record_revision,
    resolve_rollout_bounds,
    rollback_template,
)
from haplane.control.reconcile.podtemplate import (
    HASH_LABEL,
    REVISION_ANNOTATION,
    pod_from_template,
    template_hash,
)
from haplane.errors import NotFound

NOW = 1_800_000_000.0
UID = "uid-web"


def deployment(replicas: int | None = 3, *, image: str = "v1", strategy: str = "RollingUpdate",
               surge: int | str = 1, unavailable: int | str = 0, min_ready: int = 0, paused: bool = False,
               generation: int = 1, status: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "c", "image": image}]}},
        "strategy": ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}
                     if strategy == "RollingUpdate" else {"type": "Recreate"}),
        "minReadySeconds": min_ready, "paused": paused, "revisionHistoryLimit": 10,
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "uid": UID, "generation": generation},
            "spec": spec, "status": status or {}}


def with_template(d: dict[str, Any], image: str) -> dict[str, Any]:
    d = copy.deepcopy(d)
    d["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return d


def names() -> Any:
    counter = itertools.count()
    return lambda n: [f"s{next(counter)}" for _ in range(n)]


def make_ready(p: dict[str, Any], since: float = NOW - 600) -> dict[str, Any]:
    p = copy.deepcopy(p)
    p["status"] = {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": rfc3339(since)}]}
    return p


def pods_of(d: dict[str, Any], n: int, *, ready: bool = True, start: int = 0, created: float = NOW - 3600,
            ) -> list[dict[str, Any]]:
    digest = template_hash(d["spec"]["template"])
    pods = [pod_from_template(d, digest, f"p{start + i}", created + i, revision=1) for i in range(n)]
    return [make_ready(p) for p in pods] if ready else pods


def name_of(p: dict[str, Any]) -> str:
    return p["metadata"]["name"]


def deleted(plan: Plan) -> list[tuple[str, str]]:
    return [(name_of(d.pod), d.reason) for d in plan.delete]


def cond(plan: Plan, type_: str) -> tuple[str, str]:
    c = next(c for c in plan.status["conditions"] if c["type"] == type_)
    return c["status"], c["reason"]


# --- scaling and self-healing ---------------------------------------------------------------

def test_scale_up_from_nothing_creates_owned_pods() -> None:
    d = deployment(3)
    plan = reconcile(d, [], NOW, new_names=names())
    digest = template_hash(d["spec"]["template"])
    assert [name_of(p) for p in plan.create] == [f"web-{digest}-s{i}" for i in range(3)]
    created = plan.create[0]
    assert created["metadata"]["labels"] == {"app": "web", HASH_LABEL: digest}
    assert created["metadata"]["annotations"] == {REVISION_ANNOTATION: "1"}
    assert created["metadata"]["namespace"] == "shop"
    assert created["metadata"]["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                                       "uid": UID, "controller": True, "blockOwnerDeletion": True}]
    assert created["spec"] == d["spec"]["template"]["spec"]
    assert not plan.delete and plan.revision == 1
    assert [(e["revision"], e["templateHash"]) for e in plan.history] == [(1, digest)]


def test_missing_replicas_means_one() -> None:
    assert len(reconcile(deployment(None), [], NOW, new_names=names()).create) == 1


def test_steady_state_is_idle() -> None:
    d = deployment(3)
    plan = reconcile(d, pods_of(d, 3), NOW, new_names=names())
    assert plan.idle


def test_scale_down_deletes_not_ready_then_newest() -> None:
    d = deployment(5)
    pods = pods_of(d, 5)
    pods[1] = pods_of(d, 2, ready=False)[1]  # p1: not ready
    plan = reconcile(deployment(2), pods, NOW, new_names=names())
    digest = template_hash(d["spec"]["template"])
    assert deleted(plan) == [(f"web-{digest}-p1", "ScaleDown"), (f"web-{digest}-p4", "ScaleDown"),
                             (f"web-{digest}-p3", "ScaleDown")]
    assert not plan.create


@pytest.mark.parametrize(("phase", "deletion", "expect_delete"), [
    pytest.param("Failed", False, ["Failed"], id="failed-is-replaced"),
    pytest.param("Succeeded", False, ["Succeeded"], id="succeeded-is-replaced"),
    pytest.param("Running", True, [], id="terminating-is-replaced-not-redeleted"),
    pytest.param("Failed", True, [], id="failed-and-terminating"),
])
def test_self_healing(phase: str, deletion: bool, expect_delete: list[str]) -> None:
    d = deployment(3)
    pods = pods_of(d, 3)
    pods[0]["status"]["phase"] = phase
    if deletion:
        pods[0]["metadata"]["deletionTimestamp"] = rfc3339(NOW)
    plan = reconcile(d, pods, NOW, new_names=names())
    assert [reason for _, reason in deleted(plan)] == expect_delete
    assert len(plan.create) == 1
    assert plan.status["replicas"] == 2


def test_foreign_pods_are_ignored() -> None:
    d = deployment(2)
    other_owner, off_selector = pods_of(d, 2)
    other_owner["metadata"]["ownerReferences"][0]["uid"] = "uid-other"
    off_selector["metadata"]["labels"]["app"] = "db"
    plan = reconcile(d, [other_owner, off_selector], NOW, new_names=names())
    assert len(plan.create) == 2 and not plan.delete


def test_new_names_skip_taken_and_may_run_out() -> None:
    d = deployment(3)
    existing = pods_of(d, 1, start=0)  # web-<hash>-p0
    plan = reconcile(d, existing, NOW, new_names=["p0", "p1"])
    assert [name_of(p).rsplit("-", 1)[1] for p in plan.create] == ["p1"]


# --- rolling update -------------------------------------------------------------------------

class World:
    """A tiny cluster: applies plans, makes pods ready on demand, checks the rollout bounds."""

    def __init__(self, d: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        self.d, self.pods, self.now, self.history = d, pods, NOW, []
        self.suffixes = names()

    def step(self) -> tuple[int, int]:
        plan = reconcile(self.d, self.pods, self.now, new_names=self.suffixes, history=self.history)
        surge, unavailable = resolve_rollout_bounds(self.d)
        replicas = self.d["spec"]["replicas"]
        live = len(self.pods)
        gone = {id(x.pod) for x in plan.delete}
        available = sum(is_available(p, self.now) for p in self.pods)
        if plan.create:
            assert live + len(plan.create) <= replicas + surge
        if self.d["spec"]["strategy"]["type"] == "RollingUpdate":
            after = sum(is_available(p, self.now) for p in self.pods if id(p) not in gone)
            assert after >= min(available, replicas - unavailable)
        self.pods = [p for p in self.pods if id(p) not in gone] + plan.create
        self.history = plan.history
        self.now += 1
        return len(plan.create), len(plan.delete)

    def ready_all(self) -> None:
        self.pods = [p if p["status"].get("conditions") else make_ready(p, self.now) for p in self.pods]

    def hashes(self) -> set[str]:
        return {p["metadata"]["labels"][HASH_LABEL] for p in self.pods}


def rollout_steps(world: World, limit: int = 50) -> list[tuple[int, int] | str]:
    """Step until idle; whenever the controller waits, make every pod ready ("R")."""
    seen: list[tuple[int, int] | str] = []
    for _ in range(limit):
        acted = world.step()
        if acted == (0, 0):
            if all(p["status"].get("conditions") for p in world.pods):
                return seen
            world.ready_all()
            seen.append("R")
        else:
            seen.append(acted)
    raise AssertionError(f"no convergence: {seen}")


@pytest.mark.parametrize(("replicas", "surge", "unavailable", "expected"), [
    pytest.param(3, 1, 0, [(1, 0), "R", (0, 1), (1, 0), "R", (0, 1), (1, 0), "R", (0, 1)], id="surge1-unavail0"),
    pytest.param(4, "25%", "25%", [(1, 1), (1, 0), "R", (0, 2), (2, 0), "R", (0, 1)], id="25%-25%"),
    pytest.param(3, 0, 1, [(0, 1), (1, 0), "R", (0, 1), (1, 0), "R", (0, 1), (1, 0), "R"], id="surge0-unavail1"),
    pytest.param(4, "100%", 0, [(4, 0), "R", (0, 4)], id="blue-green"),
])
def test_rolling_update_step_by_step(replicas: int, surge: Any, unavailable: Any,
                                     expected: list[tuple[int, int] | str]) -> None:
    d1 = deployment(replicas, surge=surge, unavailable=unavailable)
    world = World(with_template(d1, "v2"), pods_of(d1, replicas))
    assert rollout_steps(world) == expected
    assert world.hashes() == {template_hash(world.d["spec"]["template"])} and len(world.pods) == replicas


@pytest.mark.parametrize(("replicas", "surge", "unavailable", "strategy", "expected"), [
    pytest.param(10, "25%", "25%", "RollingUpdate", (3, 2), id="percent-rounding"),
    pytest.param(1, "25%", "25%", "RollingUpdate", (1, 0), id="one-replica"),
    pytest.param(3, 0, 0, "RollingUpdate", (0, 1), id="both-zero-is-unavailable-1"),
    pytest.param(3, "0%", "0%", "RollingUpdate", (0, 1), id="both-zero-percent"),
    pytest.param(2, 0, 5, "RollingUpdate", (0, 2), id="unavailable-capped"),
    pytest.param(4, 0, 0, "Recreate", (0, 4), id="recreate"),
])
def test_resolve_rollout_bounds(replicas: int, surge: Any, unavailable: Any, strategy: str,
                                expected: tuple[int, int]) -> None:
    d = deployment(replicas, surge=surge, unavailable=unavailable, strategy=strategy)
    assert resolve_rollout_bounds(d) == expected


def test_rolling_update_deletes_unavailable_old_pods_first() -> None:
    d1 = deployment(3, surge=1, unavailable=1)
    old = pods_of(d1, 3)
    old[2] = pods_of(d1, 3, ready=False)[2]
    plan = reconcile(with_template(d1, "v2"), old, NOW, new_names=names())
    # floor 2: the broken old pod may go, the two available ones must stay.
    assert [n.rsplit("-", 1)[1] for n, _ in deleted(plan)] == ["p2"] and len(plan.create) == 1


def test_rolling_update_never_deletes_below_the_floor_while_new_pods_are_not_ready() -> None:
    d1 = deployment(3, surge=1, unavailable=0)
    d2 = with_template(d1, "v2")
    pods = pods_of(d1, 3) + pods_of(d2, 1, ready=False, start=9)
    plan = reconcile(d2, pods, NOW, new_names=names())
    assert plan.idle


# --- recreate and paused --------------------------------------------------------------------

def test_recreate_deletes_old_then_waits_then_creates() -> None:
    d1 = deployment(3, strategy="Recreate")
    d2 = with_template(d1, "v2")
    old = pods_of(d1, 3)
    plan = reconcile(d2, old, NOW, new_names=names())
    assert [r for _, r in deleted(plan)] == ["Recreate"] * 3 and not plan.create
    terminating = copy.deepcopy(old[:1])
    terminating[0]["metadata"]["deletionTimestamp"] = rfc3339(NOW)
    assert reconcile(d2, terminating, NOW, new_names=names()).idle
    plan = reconcile(d2, [], NOW, new_names=names())
    assert len(plan.create) == 3
    assert {p["metadata"]["labels"][HASH_LABEL] for p in plan.create} == {template_hash(d2["spec"]["template"])}


def test_paused_stops_the_rollout_but_still_scales() -> None:
    d1 = deployment(3)
    history, _ = record_revision([], d1["spec"]["template"], NOW)
    old = pods_of(d1, 3)
    paused = with_template(deployment(3, paused=True), "v2")
    plan = reconcile(paused, old, NOW, new_names=names(), history=history)
    assert plan.idle and plan.revision == 1 and plan.history == history
    assert cond(plan, "Progressing") == ("Unknown", "DeploymentPaused")

    scaled_up = copy.deepcopy(paused)
    scaled_up["spec"]["replicas"] = 5
    plan = reconcile(scaled_up, old, NOW, new_names=names(), history=history)
    old_hash = template_hash(d1["spec"]["template"])
    assert [p["metadata"]["labels"][HASH_LABEL] for p in plan.create] == [old_hash, old_hash]
    assert [p["spec"]["containers"][0]["image"] for p in plan.create] == ["v1", "v1"]
    assert plan.create[0]["metadata"]["annotations"][REVISION_ANNOTATION] == "1"

    scaled_up["spec"]["replicas"] = 1
    plan = reconcile(scaled_up, old, NOW, new_names=names(), history=history)
    assert [r for _, r in deleted(plan)] == ["ScaleDown"] * 2 and not plan.create


# --- status ---------------------------------------------------------------------------------

def test_status_mid_rollout() -> None:
    d1 = deployment(3, generation=1)
    d2 = with_template(d1, "v2")
    d2["metadata"]["generation"] = 2
    pods = pods_of(d1, 3) + pods_of(d2, 1, start=5)
    pods[-1] = make_ready(pods[-1], since=NOW - 5)
    d2["spec"]["minReadySeconds"] = 10
    plan = reconcile(d2, pods, NOW, new_names=names())
    assert {k: v for k, v in plan.status.items() if k != "conditions"} == {
        "observedGeneration": 2, "replicas": 4, "updatedReplicas": 1, "readyReplicas": 4,
        "availableReplicas": 3, "unavailableReplicas": 0}
    digest = template_hash(d2["spec"]["template"])
    assert cond(plan, "Available") == ("True", "MinimumReplicasAvailable")
    assert cond(plan, "Progressing") == ("True", "ReplicaSetUpdated")
    progressing = plan.status["conditions"][1]
    assert progressing["message"] == f'ReplicaSet "web-{digest}" is progressing.'
    assert plan.requeue_after == pytest.approx(5)


def test_status_complete_and_unavailable() -> None:
    d = deployment(3)
    plan = reconcile(d, pods_of(d, 3), NOW, new_names=names())
    assert cond(plan, "Progressing") == ("True", "NewReplicaSetAvailable")
    assert cond(plan, "Available") == ("True", "MinimumReplicasAvailable")
    assert plan.requeue_after is None
    plan = reconcile(d, pods_of(d, 3, ready=False), NOW, new_names=names())
    assert cond(plan, "Available") == ("False", "MinimumReplicasUnavailable")
    assert plan.status["unavailableReplicas"] == 3 and plan.status["readyReplicas"] == 0


def test_condition_timestamps_move_only_on_change() -> None:
    d = deployment(3)
    first = reconcile(d, pods_of(d, 3), NOW, new_names=names())
    again = reconcile(deployment(3, status=first.status), pods_of(d, 3), NOW + 60, new_names=names())
    assert again.status == first.status
    broken = reconcile(deployment(3, status=first.status), pods_of(d, 3, ready=False), NOW + 60, new_names=names())
    available = broken.status["conditions"][0]
    assert available["lastTransitionTime"] == available["lastUpdateTime"] == rfc3339(NOW + 60)


@pytest.mark.parametrize(("since", "min_ready", "expected"), [
    pytest.param(NOW - 10, 0, True, id="no-min-ready"),
    pytest.param(NOW - 10, 10, True, id="exactly-min-ready"),
    pytest.param(NOW - 9, 10, False, id="not-yet"),
    pytest.param(None, 10, False, id="not-ready"),
])
def test_is_available(since: float | None, min_ready: int, expected: bool) -> None:
    d = deployment(1)
    p = pods_of(d, 1, ready=False)[0]
    if since is not None:
        p = make_ready(p, since)
    assert is_available(p, NOW, min_ready) is expected


# --- revision history -----------------------------------------------------------------------

T1, T2, T3 = ({"spec": {"containers": [{"name": "c", "image": f"v{i}"}]}} for i in (1, 2, 3))


def test_record_revision() -> None:
    h, rev = record_revision([], T1, NOW)
    assert rev == 1
    assert record_revision(h, T1, NOW + 1) == (h, 1)  # unchanged template: nothing new
    h, rev = record_revision(h, T2, NOW + 2)
    h, rev = record_revision(h, T3, NOW + 3, change_cause="kubectl set image")
    assert rev == 3 and h[-1]["changeCause"] == "kubectl set image"
    h, rev = record_revision(h, T1, NOW + 4)  # a rollback renumbers the old entry
    assert rev == 4 and [(e["revision"], e["template"]) for e in h] == [(2, T2), (3, T3), (4, T1)]


def test_record_revision_limit_keeps_templates_with_pods() -> None:
    h: list[dict[str, Any]] = []
    for t in (T1, T2, T3):
        h, _ = record_revision(h, t, NOW)
    assert [e["revision"] for e in record_revision(h, T3, NOW, limit=1)[0]] == [2, 3]
    kept, _ = record_revision(h, T3, NOW, limit=0, keep={template_hash(T1)})
    assert [e["revision"] for e in kept] == [1, 3]


def test_rollback_template() -> None:
    h: list[dict[str, Any]] = []
    for t in (T1, T2, T3):
        h, _ = record_revision(h, t, NOW)
    assert rollback_template(h) == T2
    assert rollback_template(h, 1) == T1
    with pytest.raises(NotFound, match="revision 7"):
        rollback_template(h, 7)
    with pytest.raises(NotFound):
        rollback_template(h[:1])


def test_history_configmap_round_trip() -> None:
    h, _ = record_revision([], T1, NOW)
    h, _ = record_revision(h, T2, NOW)
    data = history_to_data(h)
    assert sorted(data) == ["1", "2"]
    assert history_from_data(data | {"junk": "{not json"}) == h


def test_undo_through_reconcile() -> None:
    d1 = deployment(2)
    h = reconcile(d1, [], NOW, new_names=names()).history
    d2 = with_template(d1, "v2")
    h = reconcile(d2, [], NOW, new_names=names(), history=h).history
    undone = copy.deepcopy(d2)
    undone["spec"]["template"] = rollback_template(h)
    plan = reconcile(undone, [], NOW, new_names=names(), history=h)
    assert plan.revision == 3 and [e["revision"] for e in plan.history] == [2, 3]
    assert plan.create[0]["metadata"]["annotations"][REVISION_ANNOTATION] == "3"


# --- pod templates --------------------------------------------------------------------------

def test_template_hash_is_stable_and_dns_safe() -> None:
    a = {"metadata": {"labels": {"app": "web", "tier": "x"}}, "spec": {"containers": [{"name": "c", "image": "v1"}]}}
    b = {"spec": {"containers": [{"image": "v1", "name": "c"}]}, "metadata": {"labels": {"tier": "x", "app": "web"}}}
    assert template_hash(a) == template_hash(b)
    assert template_hash(a) != template_hash(T1)
    assert re.fullmatch(r"[a-z0-9]{10}", template_hash(a))
    assert template_hash(T1) == template_hash(copy.deepcopy(T1))


def test_pod_from_template_does_not_share_the_template() -> None:
    d = deployment(1)
    p = pod_from_template(d, "abc", "x", NOW, "uid-1")
    p["spec"]["containers"][0]["image"] = "changed"
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "v1"
    assert p["metadata"]["uid"] == "uid-1" and p["metadata"]["creationTimestamp"] == rfc3339(NOW)
    assert p["metadata"]["name"] == "web-abc-x" and "labels" not in d["spec"]


# --- property: convergence and rollout bounds in a simulated world ----------------------------

STRATEGIES = st.one_of(
    st.tuples(st.just("RollingUpdate"), st.sampled_from([0, 1, 2, "25%", "50%"]),
              st.sampled_from([0, 1, 2, "25%", "50%"])),
    st.tuples(st.just("Recreate"), st.just(0), st.just(0)),
)


class SimWorld:
    """Pods become ready some steps after creation, may fail, and terminate some steps after deletion."""

    def __init__(self, d: dict[str, Any]) -> None:
        self.d, self.now, self.history = d, NOW, []
        self.pods: list[dict[str, Any]] = []
        self.ready_at: dict[str, int] = {}
        self.gone_at: dict[str, int] = {}
        self.tick = 0
        self.suffixes = names()

    def reconcile_and_apply(self, check_bounds: bool) -> Plan:
        plan = reconcile(self.d, self.pods, self.now, new_names=self.suffixes, history=self.history)
        spec = self.d["spec"]
        replicas = spec["replicas"]
        surge, unavailable = resolve_rollout_bounds(self.d)
        live = [p for p in self.pods if p["status"]["phase"] not in ("Failed", "Succeeded")
                and "deletionTimestamp" not in p["metadata"]]
        doomed = {name_of(x.pod) for x in plan.delete}
        if check_bounds:
            if plan.create:
                assert len(live) + len(plan.create) <= replicas + surge, "surge bound broken"
            if spec["strategy"]["type"] == "Recreate" and not spec.get("paused"):
                current = template_hash(spec["template"])
                old_left = [p for p in self.pods if p["status"]["phase"] not in ("Failed", "Succeeded")
                            and p["metadata"]["labels"][HASH_LABEL] != current]
                assert not (old_left and plan.create), "Recreate created while old pods still exist"
            if spec["strategy"]["type"] == "RollingUpdate":
                min_ready = spec.get("minReadySeconds", 0)
                before = sum(is_available(p, self.now, min_ready) for p in live)
                after = sum(is_available(p, self.now, min_ready) for p in live if name_of(p) not in doomed)
                assert after >= min(before, replicas - unavailable), "availability floor broken"
        for p in self.pods:
            if name_of(p) in doomed:
                assert "deletionTimestamp" not in p["metadata"], "deleted a pod twice"
                p["metadata"]["deletionTimestamp"] = rfc3339(self.now)
        self.pods += copy.deepcopy(plan.create)
        self.history = plan.history
        return plan

    def advance(self, delays: list[int], fail: Collection[int], terminate_after: int) -> None:
        """One unit of time: schedule readiness/termination of new events, then let them happen."""
        self.tick += 1
        self.now += 1
        for i, p in enumerate(self.pods):
            n = name_of(p)
            if n not in self.ready_at:
                self.ready_at[n] = self.tick + (delays[i % len(delays)] if delays else 0)
            if "deletionTimestamp" in p["metadata"] and n not in self.gone_at:
                self.gone_at[n] = self.tick + terminate_after
        keep = []
        for i, p in enumerate(self.pods):
            n = name_of(p)
            if self.gone_at.get(n, self.tick + 1) <= self.tick:
                continue
            if i in fail and p["status"]["phase"] == "Running":
                p["status"] = {"phase": "Failed", "conditions": [{"type": "Ready", "status": "False"}]}
            elif p["status"]["phase"] == "Pending" and self.ready_at[n] <= self.tick:
                p["status"] = {"phase": "Running", "conditions": [
                    {"type": "Ready", "status": "True", "lastTransitionTime": rfc3339(self.now)}]}
            keep.append(p)
        self.pods = keep


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), strategy=STRATEGIES, replicas=st.integers(0, 6), min_ready=st.sampled_from([0, 0, 2]))
def test_reconcile_converges_and_respects_rollout_bounds(data: st.DataObject, strategy: tuple[str, Any, Any],
                                                          replicas: int, min_ready: int) -> None:
    kind, surge, unavailable = strategy
    d = deployment(replicas, strategy=kind, surge=surge, unavailable=unavailable, min_ready=min_ready)
    world = SimWorld(d)
    version = 1
    replicas_fixed_for = 0
    for _ in range(data.draw(st.integers(0, 40), label="chaos steps")):
        event = data.draw(st.sampled_from(["none", "none", "none", "template", "replicas", "pause"]), label="event")
        spec = world.d["spec"]
        if event == "template":
            version += 1
            world.d = with_template(world.d, f"v{version}")
        elif event == "replicas":
            spec["replicas"] = data.draw(st.integers(0, 6), label="replicas")
            replicas_fixed_for = 0
        elif event == "pause":
            spec["paused"] = not spec.get("paused")
        world.reconcile_and_apply(check_bounds=replicas_fixed_for > 0)
        replicas_fixed_for += 1
        n = len(world.pods)
        world.advance(
            delays=data.draw(st.lists(st.integers(0, 4), min_size=1, max_size=4), label="ready delays"),
            fail=data.draw(st.sets(st.integers(0, max(0, n - 1)), max_size=1), label="fail") if n else [],
            terminate_after=data.draw(st.integers(0, 2), label="termination delay"),
        )

    # Quiet phase: no more failures or changes; the controller must finish the job.
    world.d["spec"]["paused"] = False
    final = world.d["spec"]["replicas"]
    plan = None
    for _ in range(300):
        plan = world.reconcile_and_apply(check_bounds=True)
        settled = all("deletionTimestamp" not in p["metadata"] and is_available(p, world.now, min_ready)
                      for p in world.pods)
        if plan.idle and settled:
            break
        world.advance(delays=[1], fail=(), terminate_after=1)
    assert plan is not None and plan.idle, "did not converge"
    current = template_hash(world.d["spec"]["template"])
    assert len(world.pods) == final
    assert all(p["metadata"]["labels"][HASH_LABEL] == current for p in world.pods)
    assert all(is_available(p, world.now, min_ready) for p in world.pods)
    status = reconcile(world.d, world.pods, world.now, new_names=names(), history=world.history).status
    assert (status["replicas"], status["updatedReplicas"], status["availableReplicas"]) == (final, final, final)
    assert status["conditions"][1]["reason"] == "NewReplicaSetAvailable"
