"""The Deployment controller's pure decision (haplane.control.reconcile.deployment), alone and
together with the ReplicaSet controller's in a small simulated world (tests/unit/rollout_world)."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from haplane.clock import rfc3339
from haplane.control.reconcile.deployment import (
    CHANGE_CAUSE_ANNOTATION,
    Plan,
    max_unavailable,
    reconcile,
    resolve_rollout_bounds,
    revision_of,
    rollback_patch,
    rollback_target,
    strip_hash,
)
from haplane.control.reconcile.pods import is_available, is_terminal
from haplane.control.reconcile.podtemplate import HASH_LABEL, REVISION_ANNOTATION, template_hash
from tests.unit.rollout_world import NOW, UID, World, deployment, make_ready


def cond(status: dict[str, Any], type_: str) -> tuple[str, str]:
    c = next(c for c in status["conditions"] if c["type"] == type_)
    return c["status"], c["reason"]


def settle(w: World, rounds: int = 30) -> World:
    """Run both controllers, making every pod ready, until nothing changes."""
    for _ in range(rounds):
        status = w.d.get("status")
        plan = w.step_deployment()
        before = len(w.pods)
        w.step_replicasets()
        all_ready = all(p["status"].get("conditions") for p in w.pods)
        w.ready_all()
        w.now += 1
        if plan.idle and plan.status == status and len(w.pods) == before and all_ready:
            return w
    raise AssertionError("did not settle")


def rs_summary(w: World) -> list[tuple[int, int]]:
    """(revision, spec.replicas) of every ReplicaSet, by revision."""
    return sorted((revision_of(r), r["spec"]["replicas"]) for r in w.rss)


# --- the new ReplicaSet ---------------------------------------------------------------------

def test_first_step_creates_the_new_replicaset() -> None:
    d = deployment(3, surge=1)
    plan = reconcile(d, [], [], NOW)
    digest = template_hash(d["spec"]["template"])
    rs = plan.create
    assert rs is not None and not plan.update and not plan.delete
    assert rs["metadata"] == {
        "name": f"web-{digest}", "namespace": "shop", "creationTimestamp": rfc3339(NOW),
        "labels": {"app": "web", HASH_LABEL: digest},
        "annotations": {REVISION_ANNOTATION: "1", "deployment.kubernetes.io/desired-replicas": "3",
                        "deployment.kubernetes.io/max-replicas": "4"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": UID,
                             "controller": True, "blockOwnerDeletion": True}]}
    assert rs["spec"]["replicas"] == 3 and rs["spec"]["minReadySeconds"] == 0
    assert rs["spec"]["selector"] == {"matchLabels": {"app": "web", HASH_LABEL: digest}}
    assert rs["spec"]["template"]["metadata"]["labels"] == {"app": "web", HASH_LABEL: digest}
    assert strip_hash(rs["spec"]["template"]) == d["spec"]["template"]
    assert plan.annotations == {REVISION_ANNOTATION: "1"}
    assert cond(plan.status, "Progressing") == ("True", "NewReplicaSetCreated")
    assert cond(plan.status, "Available") == ("False", "MinimumReplicasUnavailable")
    assert plan.events == [("ScalingReplicaSet", f"Scaled up replica set web-{digest} from 0 to 3")]


def test_missing_replicas_means_one() -> None:
    plan = reconcile(deployment(None), [], [], NOW)
    assert plan.create is not None and plan.create["spec"]["replicas"] == 1


def test_steady_state_is_idle_and_complete() -> None:
    w = settle(World(deployment(3)))
    plan = reconcile(w.d, w.rss, w.pods, w.now)
    assert plan.idle and plan.status == w.d["status"]
    assert {k: v for k, v in plan.status.items() if k != "conditions"} == {
        "observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3,
        "unavailableReplicas": 0}
    assert cond(plan.status, "Progressing") == ("True", "NewReplicaSetAvailable")
    assert cond(plan.status, "Available") == ("True", "MinimumReplicasAvailable")
    assert len(w.pods) == 3 and all(p["metadata"]["name"].startswith(w.rss[0]["metadata"]["name"] + "-")
                                    for p in w.pods)


def test_annotations_are_copied_to_the_new_replicaset_but_not_the_skipped_ones() -> None:
    d = deployment(1)
    d["metadata"]["annotations"] = {CHANGE_CAUSE_ANNOTATION: "kubectl set image", "team": "a",
                                    "kubectl.kubernetes.io/last-applied-configuration": "{}",
                                    REVISION_ANNOTATION: "7"}
    rs = reconcile(d, [], [], NOW).create
    assert rs is not None
    assert {k: v for k, v in rs["metadata"]["annotations"].items() if "replicas" not in k} == {
        CHANGE_CAUSE_ANNOTATION: "kubectl set image", "team": "a", REVISION_ANNOTATION: "1"}


def test_a_foreign_replicaset_holding_the_name_bumps_the_collision_count() -> None:
    d = deployment(1)
    foreign = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
               "metadata": {"name": f"web-{template_hash(d['spec']['template'])}", "namespace": "shop", "uid": "x",
                            "labels": {"app": "db"}, "resourceVersion": "3"},
               "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "db"}}, "template": {}}}
    plan = reconcile(d, [foreign], [], NOW)
    assert plan.create is None and plan.status["collisionCount"] == 1
    d["status"] = plan.status
    plan = reconcile(d, [foreign], [], NOW)
    assert plan.create is not None
    assert plan.create["metadata"]["name"] == f"web-{template_hash(d['spec']['template'], 1)}"


# --- claiming ReplicaSets -------------------------------------------------------------------

def test_orphan_replicasets_are_adopted_and_strays_released() -> None:
    w = settle(World(deployment(2)))
    rs = w.rss[0]
    orphan = copy.deepcopy(rs)
    del orphan["metadata"]["ownerReferences"]
    plan = reconcile(w.d, [orphan], w.pods, w.now)
    assert plan.create is None and [r["metadata"]["ownerReferences"][0]["uid"] for r in plan.update] == [UID]
    stray = copy.deepcopy(rs)
    stray["metadata"]["labels"] = {"app": "other"}
    plan = reconcile(w.d, [stray], [], w.now)
    released = next(r for r in plan.update if r["metadata"]["uid"] == rs["metadata"]["uid"])
    assert "ownerReferences" not in released["metadata"]
    assert plan.create is None and plan.status["collisionCount"] == 1  # the stray still holds the name


def test_a_deployment_being_deleted_only_writes_status() -> None:
    d = deployment(3)
    d["metadata"]["deletionTimestamp"] = rfc3339(NOW)
    plan = reconcile(d, [], [], NOW)
    assert plan.idle and plan.status["replicas"] == 0


# --- rolling update -------------------------------------------------------------------------

def check_round(w: World, order: list[int] | None = None, on_delete: str = "remove", *,
                floor_too: bool = True) -> tuple[int, int]:
    """One round (the Deployment controller, then every ReplicaSet controller in ``order``),
    checking the rollout bounds on the pods after each ReplicaSet controller's step (the
    availability floor unless ``floor_too`` is False). Returns (pods created, pods deleted)."""
    surge, unavailable = resolve_rollout_bounds(w.d)
    replicas = w.d["spec"]["replicas"]
    rolling = w.d["spec"]["strategy"]["type"] == "RollingUpdate"
    floor = min(w.available(), replicas - unavailable)
    before = {p["metadata"]["uid"] for p in w.live()}
    current = template_hash(w.d["spec"]["template"])
    w.step_deployment()
    rss = list(w.rss)
    for i in order if order is not None else range(len(rss)):
        if i >= len(rss):
            continue
        w.step_replicaset(rss[i], on_delete)
        if rolling:
            assert len(w.live()) <= replicas + surge, "surge bound broken"
            assert not floor_too or w.available() >= floor, "availability floor broken"
        elif not w.d["spec"].get("paused"):
            hashes = {p["metadata"]["labels"][HASH_LABEL] for p in w.pods if not is_terminal(p)}
            assert not (current in hashes and len(hashes) > 1), "Recreate ran new pods beside old ones"
    after = {p["metadata"]["uid"] for p in w.live()}
    return len(after - before), len(before - after)


def rollout_steps(w: World, limit: int = 60) -> list[tuple[int, int] | str]:
    """Rounds until nothing changes; whenever the controllers wait, every pod becomes ready ("R")."""
    seen: list[tuple[int, int] | str] = []
    for _ in range(limit):
        acted = check_round(w)
        w.now += 1
        if acted == (0, 0):
            if all(p["status"].get("conditions") for p in w.live()):
                return seen
            w.ready_all()
            seen.append("R")
        else:
            seen.append(acted)
    raise AssertionError(f"no convergence: {seen}")


@pytest.mark.parametrize(("replicas", "surge", "unavailable", "strategy", "expected"), [
    pytest.param(3, 1, 0, "RollingUpdate", [(1, 0), "R", (0, 1), (1, 0), "R", (0, 1), (1, 0), "R", (0, 1)],
                 id="surge1-unavail0"),
    pytest.param(4, "25%", "25%", "RollingUpdate", [(1, 1), (1, 0), "R", (0, 2), (2, 0), "R", (0, 1)], id="25%-25%"),
    pytest.param(3, 0, 1, "RollingUpdate", [(0, 1), (1, 0), "R", (0, 1), (1, 0), "R", (0, 1), (1, 0), "R"],
                 id="surge0-unavail1"),
    pytest.param(4, "100%", 0, "RollingUpdate", [(4, 0), "R", (0, 4)], id="blue-green"),
    pytest.param(4, 0, 0, "Recreate", [(0, 4), (4, 0), "R"], id="recreate"),
])
def test_rollout_step_by_step(replicas: int, surge: Any, unavailable: Any, strategy: str,
                              expected: list[tuple[int, int] | str]) -> None:
    w = settle(World(deployment(replicas, surge=surge, unavailable=unavailable, strategy=strategy)))
    w.set_image("v2")
    assert rollout_steps(w) == expected
    assert w.hashes() == {template_hash(w.d["spec"]["template"])} and len(w.live()) == replicas
    assert rs_summary(w) == [(1, 0), (2, replicas)]
    assert w.d["metadata"]["annotations"][REVISION_ANNOTATION] == "2"
    assert cond(w.d["status"], "Progressing") == ("True", "NewReplicaSetAvailable")


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


def test_recreate_and_zero_replicas_may_lose_nothing_for_the_available_condition() -> None:
    assert max_unavailable(deployment(4, strategy="Recreate")) == 0
    assert max_unavailable(deployment(0, unavailable=1)) == 0


def test_unavailable_old_pods_go_first() -> None:
    w = settle(World(deployment(3, surge=1, unavailable=1)))
    broken = w.live()[2]
    broken["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}
    w.set_image("v2")
    check_round(w)  # new RS to 1, old RS 3 -> 2 (floor 2: only the broken pod may go)
    assert broken not in w.pods and w.available() == 2 and rs_summary(w) == [(1, 2), (2, 1)]


def test_nothing_old_is_scaled_down_while_new_pods_are_not_ready() -> None:
    w = settle(World(deployment(3, surge=1, unavailable=0)))
    w.set_image("v2")
    check_round(w)
    for _ in range(5):  # the new pod never gets ready
        plan = w.step_deployment()
        w.step_replicasets()
        w.now += 1
        assert plan.idle
    assert rs_summary(w) == [(1, 3), (2, 1)]


def test_repeated_steps_on_a_stale_view_do_not_act_twice() -> None:
    """The ReplicaSet controllers lag (they do not act between Deployment steps): the
    Deployment controller must not scale down, or up, a second time on the same pods."""
    w = settle(World(deployment(4, surge=1, unavailable=1)))
    w.set_image("v2")
    first = w.step_deployment()
    assert first.create is not None or first.update
    for _ in range(3):
        again = w.step_deployment()
        assert again.create is None and not again.update, (again.update, again.events)
    surge, unavailable = resolve_rollout_bounds(w.d)
    assert sum(max(r["spec"]["replicas"], len(w.pods_of(r))) for r in w.rss) <= 4 + surge
    assert sum(min(r["spec"]["replicas"], len(w.pods_of(r))) for r in w.rss) >= 4 - unavailable


def _old_and_new(w: World) -> tuple[dict[str, Any], dict[str, Any]]:
    old, new = sorted(w.rss, key=revision_of)
    return old, new


def test_surge_counts_the_pods_a_lagging_replicaset_still_has() -> None:
    w = settle(World(deployment(5, surge=0, unavailable=1)))
    w.set_image("v2")
    w.step_deployment()  # the new ReplicaSet (0) and the old one 5 -> 4; the old one's controller lags
    old, new = _old_and_new(w)
    assert (old["spec"]["replicas"], len(w.pods_of(old)), new["spec"]["replicas"]) == (4, 5, 0)
    w.step_deployment()
    w.step_replicaset(_old_and_new(w)[1])
    assert _old_and_new(w)[1]["spec"]["replicas"] == 0 and len(w.live()) == 5, "no new pod while 5 old ones run"
    w.step_replicaset(_old_and_new(w)[0])
    w.step_deployment()
    assert _old_and_new(w)[1]["spec"]["replicas"] == 1


def test_availability_counts_only_what_a_lagging_replicaset_keeps() -> None:
    w = settle(World(deployment(4, surge=1, unavailable=1)))
    w.set_image("v2")
    w.step_deployment()  # new 0 -> 1, old 4 -> 3
    old, new = _old_and_new(w)
    w.step_replicaset(new)
    w.ready_all()
    w.now += 1
    w.step_deployment()  # the old controller still lags: 4 available pods, but only 3 kept
    old, _ = _old_and_new(w)
    assert old["spec"]["replicas"] == 2, "min(available, replicas): 3 + 1 - 3 = 1 more may go"
    w.step_replicasets()
    assert w.available() >= 3


def test_recreate_waits_for_terminating_old_pods() -> None:
    w = settle(World(deployment(3, strategy="Recreate")))
    w.set_image("v2")
    w.step_deployment()
    w.step_replicasets(on_delete="terminate")
    assert rs_summary(w) == [(1, 0)] and all(p["metadata"].get("deletionTimestamp") for p in w.pods)
    for _ in range(2):
        plan = w.step_deployment()
        assert plan.create is None, "no new ReplicaSet while old pods still terminate"
    w.finish_terminating()
    plan = w.step_deployment()
    assert plan.create is not None and plan.create["spec"]["replicas"] == 3


# --- scaling, paused ------------------------------------------------------------------------

def test_scaling_a_complete_deployment_scales_its_replicaset() -> None:
    w = settle(World(deployment(3)))
    w.set_spec(replicas=5)
    plan = w.step_deployment()
    assert [(r["spec"]["replicas"], r["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"])
            for r in plan.update] == [(5, "5")]
    assert plan.events[0][1].startswith("Scaled up replica set web-") and plan.events[0][1].endswith("from 3 to 5")


def test_scaling_mid_rollout_is_proportional() -> None:
    """Kubernetes' example: 10 replicas, maxSurge 3, the new ReplicaSet stuck at 3 of its pods:
    scaling to 15 shares the 5 more out in proportion (old 8 -> 11, new 5 -> 7 of allowed 18)."""
    w = settle(World(deployment(10, surge=3, unavailable=2)))
    w.set_image("v2")
    check_round(w)
    check_round(w)
    before = rs_summary(w)
    assert before == [(1, 8), (2, 5)]
    w.set_spec(replicas=15)
    plan = w.step_deployment()
    assert sorted((revision_of(r), r["spec"]["replicas"]) for r in plan.update) == [(1, 11), (2, 7)]
    assert sum(r["spec"]["replicas"] for r in plan.update) == 18


def test_paused_stops_the_rollout_but_still_scales_and_resume_rolls_out() -> None:
    w = settle(World(deployment(3)))
    w.set_spec(paused=True)
    w.set_image("v2")
    plan = w.step_deployment()
    assert plan.create is None and not plan.update
    assert cond(plan.status, "Progressing") == ("Unknown", "DeploymentPaused")
    w.set_spec(replicas=5)
    plan = w.step_deployment()
    assert [(revision_of(r), r["spec"]["replicas"]) for r in plan.update] == [(1, 5)]
    w.step_replicasets()
    assert len(w.pods) == 5 and len(w.hashes()) == 1
    w.set_spec(paused=False)
    plan = w.step_deployment()
    assert plan.create is not None
    assert cond(plan.status, "Progressing")[1] in ("DeploymentResumed", "NewReplicaSetCreated")
    settle(w)
    assert rs_summary(w) == [(1, 0), (2, 5)] and w.hashes() == {template_hash(w.d["spec"]["template"])}


# --- status and conditions ------------------------------------------------------------------

def test_status_mid_rollout() -> None:
    w = settle(World(deployment(3, min_ready=10)))
    w.now += 60
    w.set_image("v2")
    w.step_deployment()
    w.step_replicasets()
    for p in w.live():
        if not p["status"].get("conditions"):
            make_ready(p, w.now - 5)
    plan = w.step_deployment()
    assert {k: v for k, v in plan.status.items() if k != "conditions"} == {
        "observedGeneration": 2, "replicas": 4, "updatedReplicas": 1, "readyReplicas": 4,
        "availableReplicas": 3, "unavailableReplicas": 0}
    assert cond(plan.status, "Available") == ("True", "MinimumReplicasAvailable")
    assert cond(plan.status, "Progressing") == ("True", "ReplicaSetUpdated")
    new = next(r for r in w.rss if revision_of(r) == 2)
    progressing = next(c for c in plan.status["conditions"] if c["type"] == "Progressing")
    assert progressing["message"] == f'ReplicaSet "{new["metadata"]["name"]}" is progressing.'
    assert plan.requeue_after == pytest.approx(5)


def test_progress_deadline_exceeded_and_recovery() -> None:
    w = settle(World(deployment(2, deadline=30)))
    w.set_image("never-ready")
    start = w.now
    for _ in range(3):
        plan = w.step_deployment()
        w.step_replicasets()
        w.now += 1
    # The new pod appeared one step after the ReplicaSet (progress), then nothing more happens.
    progressing = next(c for c in w.d["status"]["conditions"] if c["type"] == "Progressing")
    assert (progressing["reason"], progressing["lastUpdateTime"]) == ("ReplicaSetUpdated", rfc3339(start + 1))
    assert plan.requeue_after == pytest.approx(start + 1 + 30 - (w.now - 1), abs=0.01)
    w.now = start + 30
    assert cond(w.step_deployment().status, "Progressing") == ("True", "ReplicaSetUpdated")  # not yet
    w.now = start + 32
    plan = w.step_deployment()
    assert cond(plan.status, "Progressing") == ("False", "ProgressDeadlineExceeded")
    progressing = next(c for c in plan.status["conditions"] if c["type"] == "Progressing")
    assert progressing["message"].endswith("has timed out progressing.") and plan.requeue_after is None
    assert progressing["lastTransitionTime"] == rfc3339(start + 32)
    # Later the pods do get ready: the rollout completes and the condition says so.
    settle(w)
    assert cond(w.d["status"], "Progressing") == ("True", "NewReplicaSetAvailable")


def test_condition_times_move_only_on_change() -> None:
    w = settle(World(deployment(3)))
    first = copy.deepcopy(w.d["status"])
    w.now += 60
    assert w.step_deployment().status == first
    for p in w.pods:
        p["status"]["conditions"][0]["status"] = "False"
    status = w.step_deployment().status
    available = next(c for c in status["conditions"] if c["type"] == "Available")
    assert available["lastTransitionTime"] == available["lastUpdateTime"] == rfc3339(w.now)
    assert cond(status, "Progressing") == ("True", "NewReplicaSetAvailable")  # a complete rollout stays so


# --- revisions, history, rollback -------------------------------------------------------------

def test_rollback_renumbers_the_old_replicaset_and_history_is_limited() -> None:
    w = settle(World(deployment(2, history_limit=1)))
    w.d["metadata"]["annotations"] = {**w.d["metadata"].get("annotations", {}), CHANGE_CAUSE_ANNOTATION: "v2"}
    w.set_image("v2")
    settle(w)
    assert rs_summary(w) == [(1, 0), (2, 2)]
    by_rev = {revision_of(r): r for r in w.rss}
    assert by_rev[2]["metadata"]["annotations"][CHANGE_CAUSE_ANNOTATION] == "v2"
    assert CHANGE_CAUSE_ANNOTATION not in (by_rev[1]["metadata"].get("annotations") or {})
    target = rollback_target(w.rss, w.d)
    assert target is by_rev[1]
    d = copy.deepcopy(w.d)
    d["spec"]["template"] = rollback_patch(w.d, target)[0]["value"]
    d["metadata"]["generation"] += 1
    w.d = d
    settle(w)
    assert rs_summary(w) == [(2, 0), (3, 2)]  # revision 1 came back as 3
    assert w.d["metadata"]["annotations"][REVISION_ANNOTATION] == "3"
    w.set_image("v4")
    settle(w)
    assert rs_summary(w) == [(3, 0), (4, 2)], "revisionHistoryLimit 1: the oldest scaled-down one is deleted"


def test_rollback_target_and_patch() -> None:
    w = settle(World(deployment(1)))
    with pytest.raises(LookupError, match="no rollout history found"):
        rollback_target(w.rss, w.d)
    w.d["metadata"]["annotations"] = {**w.d["metadata"]["annotations"], CHANGE_CAUSE_ANNOTATION: "second",
                                      "kubectl.kubernetes.io/last-applied-configuration": "{...}"}
    w.set_image("v2")
    settle(w)
    w.set_image("v3")
    settle(w)
    assert rollback_target(w.rss, w.d, 1)["spec"]["template"]["spec"]["containers"][0]["image"] == "v1"
    with pytest.raises(LookupError, match="unable to find specified revision 9"):
        rollback_target(w.rss, w.d, 9)
    second = rollback_target(w.rss, w.d)
    template, annotations = rollback_patch(w.d, second)
    assert template == {"op": "replace", "path": "/spec/template", "value": strip_hash(second["spec"]["template"])}
    assert HASH_LABEL not in template["value"]["metadata"]["labels"]
    assert annotations["path"] == "/metadata/annotations"
    assert annotations["value"][CHANGE_CAUSE_ANNOTATION] == "second"
    assert annotations["value"][REVISION_ANNOTATION] == "3"  # the Deployment's own, not the ReplicaSet's
    assert "deployment.kubernetes.io/desired-replicas" not in annotations["value"]


def test_a_template_that_differs_only_by_empty_members_is_the_same_revision() -> None:
    """kubectl's rollback writes back the ReplicaSet's template as Go serialises it
    (``resources: {}`` where there was nothing): the old ReplicaSet is found, not a new one made."""
    w = settle(World(deployment(2)))
    w.set_image("v2")
    settle(w)
    d = copy.deepcopy(w.d)
    d["spec"]["template"] = rollback_patch(w.d, rollback_target(w.rss, w.d))[0]["value"]
    d["spec"]["template"]["spec"]["containers"][0]["resources"] = {}
    d["spec"]["template"]["metadata"]["annotations"] = {}
    d["metadata"]["generation"] += 1
    w.d = d
    settle(w)
    assert rs_summary(w) == [(2, 0), (3, 2)]


def test_restart_annotation_makes_a_new_revision() -> None:
    w = settle(World(deployment(2)))
    d = copy.deepcopy(w.d)
    d["spec"]["template"]["metadata"]["annotations"] = {"kubectl.kubernetes.io/restartedAt": rfc3339(NOW)}
    d["metadata"]["generation"] += 1
    w.d = d
    settle(w)
    assert rs_summary(w) == [(1, 0), (2, 2)]
    assert all(p["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] == rfc3339(NOW) for p in w.pods)


# --- property: convergence and rollout bounds in a simulated world ----------------------------

STRATEGIES = st.one_of(
    st.tuples(st.just("RollingUpdate"), st.sampled_from([0, 1, 2, "25%", "50%"]),
              st.sampled_from([0, 1, 2, "25%", "50%"])),
    st.tuples(st.just("Recreate"), st.just(0), st.just(0)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), strategy=STRATEGIES, replicas=st.integers(0, 6), min_ready=st.sampled_from([0, 0, 2]))
def test_controllers_converge_and_respect_rollout_bounds(data: st.DataObject, strategy: tuple[str, Any, Any],
                                                         replicas: int, min_ready: int) -> None:
    """Random template changes, resizes, pauses, pod failures, readiness delays, orders of the
    ReplicaSet controllers and controllers that lag: the bounds hold on the pods after every
    controller step (except right after a resize), and once things calm down the rollout completes."""
    kind, surge, unavailable = strategy
    w = World(deployment(replicas, strategy=kind, surge=surge, unavailable=unavailable, min_ready=min_ready))
    lag = data.draw(st.booleans(), label="lagging replicaset controllers")
    version = 1
    fixed_for = 1
    ready_at: dict[str, float] = {}
    for _ in range(data.draw(st.integers(0, 30), label="chaos rounds")):
        event = data.draw(st.sampled_from(["none", "none", "none", "template", "replicas", "pause"]), label="event")
        if event == "template":
            version += 1
            w.set_image(f"v{version}")
        elif event == "replicas":
            w.set_spec(replicas=data.draw(st.integers(0, 6), label="replicas"))
            fixed_for = 0
        elif event == "pause":
            w.set_spec(paused=not w.d["spec"].get("paused"))
        order = data.draw(st.permutations(list(range(len(w.rss) + 1))), label="rs order")
        if lag:  # some ReplicaSet controllers do not get to act this round
            order = order[:data.draw(st.integers(0, len(order)), label="acting")]
        everyone = len(order) >= len(w.rss) + 1
        if fixed_for > 0:
            # With lag, a scale-down decided while a pod was not yet available may land after
            # it became so (the ReplicaSet then deletes an available one, as in Kubernetes):
            # the floor is only checked when the ReplicaSet controllers act in the same round.
            check_round(w, order, floor_too=not lag)
        else:
            w.step_deployment()
            w.step_replicasets(order)
        # Decisions taken for the old size may still land until every ReplicaSet controller
        # has acted once after the resize: only then are the bounds of the new size due.
        fixed_for += 1 if fixed_for > 0 or everyone else 0
        # pods get ready after a delay, one may fail
        for p in w.live():
            ready_at.setdefault(p["metadata"]["uid"], w.now + data.draw(st.integers(0, 3), label="ready delay"))
            if not p["status"].get("conditions") and ready_at[p["metadata"]["uid"]] <= w.now:
                make_ready(p, w.now)
        live = w.live()
        if live and data.draw(st.booleans(), label="fail one"):
            victim = live[data.draw(st.integers(0, len(live) - 1), label="victim")]
            victim["status"] = {"phase": "Failed", "conditions": [{"type": "Ready", "status": "False"}]}
        w.now += 1

    # Quiet phase: nothing changes any more, pods get ready; the controllers must finish the job.
    if w.d["spec"].get("paused"):
        w.set_spec(paused=False)
    final = w.d["spec"]["replicas"]
    for _ in range(200):
        settled = all(is_available(p, w.now, min_ready) for p in w.pods)
        plan = w.step_deployment()
        before = len(w.pods)
        statuses = [r.get("status") for r in w.rss]
        w.step_replicasets()
        w.ready_all()
        w.now += 1
        # Calm only when the ReplicaSets' status did not move either: a ReplicaSet status write
        # wakes the Deployment controller (as its watch does in the real loop).
        if plan.idle and before == len(w.pods) and settled and statuses == [r.get("status") for r in w.rss]:
            break
    assert plan.idle, "did not converge"
    current = template_hash(w.d["spec"]["template"])
    assert len(w.pods) == final and w.hashes() <= {current}
    status = reconcile(w.d, w.rss, w.pods, w.now).status
    assert (status["replicas"], status["updatedReplicas"], status["availableReplicas"]) == (final, final, final)
    assert cond(status, "Progressing") == ("True", "NewReplicaSetAvailable")
    assert all(r["spec"]["replicas"] == 0 for r in w.rss if strip_hash(r["spec"]["template"]) != w.d["spec"]["template"])
    assert len(w.rss) <= 1 + 10


def test_plan_idle_means_nothing_to_write() -> None:
    assert Plan().idle and not Plan(annotations={}).idle
    assert re.fullmatch(r"[a-z0-9]{10}", template_hash(deployment()["spec"]["template"]))
