"""The Deployment controller's decision: ``reconcile(deployment, replicasets, pods, now) -> Plan``.

Pure and deterministic (kubernetes/sample-controller style): no I/O, no clock, no randomness.
Level-triggered: each call looks at the world as observed and returns the *next step* only;
the loop applies it and calls again when something changes (or after ``Plan.requeue_after``).

Kubernetes' model: a Deployment owns ReplicaSets named ``<deployment>-<pod-template-hash>``
(the hash label in their selector, template and labels); each ReplicaSet owns its pods (see
:mod:`haplane.control.reconcile.replicaset`). The ReplicaSet whose template equals the
Deployment's (ignoring the hash label) is the *new* one; the others are *old*. Each carries
``deployment.kubernetes.io/revision`` (the new one: max of the old ones + 1, so a rollback
renumbers an old ReplicaSet as the latest), the Deployment's own annotations (so
``kubernetes.io/change-cause`` shows in ``rollout history``) and the ``desired-replicas`` /
``max-replicas`` annotations of Kubernetes' proportional scaling. The steps follow
Kubernetes' ``syncDeployment``: claim (adopt / release) ReplicaSets; being deleted → status
only; paused or a scaling event → proportional scaling (and history cleanup when paused);
else Recreate or RollingUpdate; then status and the Available / Progressing conditions.

Pod counts come from the pods themselves (grouped by owning ReplicaSet), not from the
ReplicaSets' status, so they are never older than the pods the caller observed. Two counts are
deliberately more conservative than Kubernetes', which makes the rollout bounds hold for the
*pods*, whatever order and delay the ReplicaSet controllers act with:

- Surge: a ReplicaSet counts ``max(spec.replicas, active pods)`` (Kubernetes: spec.replicas).
  The new ReplicaSet is only scaled up while that sum stays within replicas + maxSurge, and a
  ReplicaSet controller only creates up to its spec, so active pods never exceed it.
- Unavailability: a ReplicaSet counts ``min(available pods, spec.replicas)`` as available
  (Kubernetes: status.availableReplicas). A ReplicaSet controller deletes unavailable pods
  first, so scaling one down by n takes at most n from that sum; old ReplicaSets are scaled
  down only while it stays at least replicas - maxUnavailable.

Not done: ``spec.rollbackTo`` (removed from apps/v1 anyway), the ReplicaFailure condition.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from haplane.clock import rfc3339
from haplane.control.reconcile.pods import (
    Obj,
    available_again_in,
    controller_uid,
    is_active,
    is_available,
    is_ready,
    is_terminal,
    meta,
    parse_time,
)
from haplane.control.reconcile.podtemplate import (
    HASH_LABEL,
    REVISION_ANNOTATION,
    controller_ref,
    same_template,
    template_hash,
)
from haplane.model.selectors import label_selector_from_obj

__all__ = [
    "Plan", "reconcile", "resolve_rollout_bounds", "max_surge", "max_unavailable", "new_replicaset_of",
    "revision_of", "strip_hash", "CHANGE_CAUSE_ANNOTATION", "DESIRED_REPLICAS_ANNOTATION",
    "MAX_REPLICAS_ANNOTATION", "RESTARTED_AT_ANNOTATION", "SKIPPED_ANNOTATIONS", "history", "rollback_target",
    "rollback_patch",
]

CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
# Deployment annotations never copied to its ReplicaSets (and, by kubectl's rollback, back).
SKIPPED_ANNOTATIONS = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration", REVISION_ANNOTATION,
    "deployment.kubernetes.io/revision-history", DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION,
    "deprecated.deployment.rollback.to",
})
NO_DEADLINE = 2**31 - 1  # progressDeadlineSeconds of MaxInt32 means "no deadline", as in Kubernetes

# Progressing reasons (Kubernetes' deploymentutil)
NEW_RS_CREATED, FOUND_NEW_RS, RS_UPDATED = "NewReplicaSetCreated", "FoundNewReplicaSet", "ReplicaSetUpdated"
NEW_RS_AVAILABLE, TIMED_OUT = "NewReplicaSetAvailable", "ProgressDeadlineExceeded"
PAUSED, RESUMED = "DeploymentPaused", "DeploymentResumed"


@dataclass(slots=True)
class Plan:
    """The next step. The loop, in order: creates ``create`` (a ReplicaSet without a uid), writes
    each of ``update`` (whole ReplicaSets, with the observed resourceVersion as precondition),
    deletes ``delete`` (uid precondition), sets the Deployment's annotations to ``annotations``
    when not None, writes ``status`` when it differs, and records ``events``."""

    create: dict[str, Any] | None = None
    update: list[dict[str, Any]] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)
    annotations: dict[str, str] | None = None
    status: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, str]] = field(default_factory=list)  # (reason, message)
    requeue_after: float | None = None

    @property
    def idle(self) -> bool:
        return self.create is None and not self.update and not self.delete and self.annotations is None


# --- rollout arithmetic ---------------------------------------------------------------------

def _replicas(spec: Obj) -> int:
    replicas = spec.get("replicas")
    return 1 if replicas is None else max(0, int(replicas))


def _scaled(value: Any, replicas: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        exact = int(value[:-1]) * replicas
        return -(-exact // 100) if round_up else exact // 100
    return int(value)


def resolve_rollout_bounds(deployment: Obj) -> tuple[int, int]:
    """``(maxSurge, maxUnavailable)`` as pod counts, as Kubernetes resolves them (ResolveFenceposts).

    Percentages of ``spec.replicas``: surge rounds up, unavailable rounds down; both 0 makes
    maxUnavailable 1; maxUnavailable is capped at replicas. Recreate is ``(0, replicas)``: it
    may take every pod down (what ``drain`` needs to know).
    """
    spec = deployment.get("spec") or {}
    replicas = _replicas(spec)
    strategy = spec.get("strategy") or {}
    if (strategy.get("type") or "RollingUpdate") != "RollingUpdate":
        return 0, replicas
    rolling = strategy.get("rollingUpdate") or {}
    surge = _scaled(rolling.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = _scaled(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, replicas)


def _rolling(deployment: Obj) -> bool:
    return ((deployment.get("spec") or {}).get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"


def max_surge(deployment: Obj) -> int:
    """Kubernetes' MaxSurge: 0 unless RollingUpdate."""
    return resolve_rollout_bounds(deployment)[0] if _rolling(deployment) else 0


def max_unavailable(deployment: Obj) -> int:
    """Kubernetes' MaxUnavailable: 0 unless RollingUpdate (and for 0 replicas)."""
    if not _rolling(deployment) or _replicas(deployment.get("spec") or {}) == 0:
        return 0
    return resolve_rollout_bounds(deployment)[1]


# --- ReplicaSets ----------------------------------------------------------------------------

def revision_of(rs: Obj) -> int:
    try:
        return int((meta(rs).get("annotations") or {}).get(REVISION_ANNOTATION, 0))
    except ValueError:
        return 0


def strip_hash(template: Obj) -> dict[str, Any]:
    """A ReplicaSet's pod template without the ``pod-template-hash`` label (kubectl's rollback
    writes exactly this back into the Deployment)."""
    out = copy.deepcopy(dict(template))
    labels = (out.get("metadata") or {}).get("labels")
    if labels and HASH_LABEL in labels:
        labels = {k: v for k, v in labels.items() if k != HASH_LABEL}
        out["metadata"] = dict(out["metadata"], labels=labels)
    return out


def _created(rs: Obj) -> float:
    return parse_time(meta(rs).get("creationTimestamp")) or 0.0


def _by_creation(rss: Iterable[_RS]) -> list[_RS]:
    return sorted(rss, key=lambda r: (r.created, r.name))


def new_replicaset_of(deployment: Obj, replicasets: Iterable[Obj]) -> Obj | None:
    """The oldest of ``replicasets`` whose template is the Deployment's, ignoring the hash label."""
    template = (deployment.get("spec") or {}).get("template") or {}
    for rs in sorted(replicasets, key=lambda r: (_created(r), meta(r).get("name", ""))):
        if same_template(strip_hash((rs.get("spec") or {}).get("template") or {}), template):
            return rs
    return None


class _RS:
    """A working copy of one owned ReplicaSet and the counts of its pods."""

    def __init__(self, rs: Obj, pods: list[Obj], now: float, min_ready: float) -> None:
        self.orig = rs
        self.obj: dict[str, Any] = {**rs, "metadata": copy.deepcopy(dict(meta(rs))),
                                    "spec": dict(rs.get("spec") or {})}
        active = [p for p in pods if is_active(p)]
        self.pods = pods
        self.live = len(active)
        self.ready = sum(is_ready(p) for p in active)
        self.available = sum(is_available(p, now, min_ready) for p in active)
        self.active_pods = active

    @property
    def name(self) -> str:
        return self.obj["metadata"].get("name", "")

    @property
    def created(self) -> float:
        return _created(self.obj)

    @property
    def replicas(self) -> int:
        return _replicas(self.obj["spec"])

    @property
    def annotations(self) -> Mapping[str, str]:
        return self.obj["metadata"].get("annotations") or {}

    def annotate(self, key: str, value: str) -> None:
        if self.annotations.get(key) != value:
            self.obj["metadata"]["annotations"] = {**self.annotations, key: value}

    def set_min_ready(self, seconds: int) -> None:
        if (self.obj["spec"].get("minReadySeconds") or 0) != seconds:
            self.obj["spec"]["minReadySeconds"] = seconds

    @property
    def changed(self) -> bool:
        return self.obj != self.orig


# --- the decision ---------------------------------------------------------------------------

@dataclass
class _Run:
    """One reconcile: the Deployment, its ReplicaSets, and the plan being built."""

    d: Obj
    now: float
    rss: list[_RS]
    plan: Plan
    conditions: list[dict[str, Any]]
    new: _RS | None = None
    collision_count: int | None = None
    deployment_revision: str | None = None
    taken: frozenset[str] = frozenset()  # every ReplicaSet name in the namespace

    @property
    def replicas(self) -> int:
        return _replicas(self.d.get("spec") or {})

    @property
    def olds(self) -> list[_RS]:
        return [r for r in self.rss if r is not self.new]

    # ---- getNewReplicaSet
    def find_or_create_new(self, create: bool) -> None:
        d, now = self.d, self.now
        spec = d.get("spec") or {}
        template = spec.get("template") or {}
        found = new_replicaset_of(d, [r.orig for r in self.rss])
        self.new = next((r for r in self.rss if r.orig is found), None)
        max_old = max((revision_of(r.obj) for r in self.olds), default=0)
        new_revision = max_old + 1
        if self.new is not None:
            rs = self.new
            self._copy_annotations(rs)
            if revision_of(rs.obj) < new_revision:
                rs.annotate(REVISION_ANNOTATION, str(new_revision))
            rs.set_min_ready(spec.get("minReadySeconds") or 0)
            self.deployment_revision = rs.annotations.get(REVISION_ANNOTATION)
            if _has_deadline(d) and _condition(self.conditions, "Progressing") is None:
                _set_condition(self.conditions, "Progressing", "True", FOUND_NEW_RS,
                               f'Found new replica set "{rs.name}"', now)
            return
        if not create:
            return
        collisions = (d.get("status") or {}).get("collisionCount")
        digest = template_hash(template, collisions)
        name = f"{meta(d).get('name', '')}-{digest}"
        if name in self.taken:
            # A ReplicaSet of another template (or of someone else) holds the name: hash again.
            self.collision_count = (collisions or 0) + 1
            return
        selector = copy.deepcopy(dict(spec.get("selector") or {}))
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: digest}
        rs_template = copy.deepcopy(dict(template))
        tmeta = dict(rs_template.get("metadata") or {})
        tmeta["labels"] = {**(tmeta.get("labels") or {}), HASH_LABEL: digest}
        rs_template["metadata"] = tmeta
        obj: dict[str, Any] = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": meta(d).get("namespace") or "default",
                         "creationTimestamp": rfc3339(now), "labels": dict(tmeta["labels"]),
                         "annotations": {}, "ownerReferences": [controller_ref(d)]},
            "spec": {"replicas": 0, "minReadySeconds": spec.get("minReadySeconds") or 0,
                     "selector": selector, "template": rs_template},
        }
        rs = _RS(obj, [], now, 0)
        rs.orig = {}  # nothing stored yet
        self.rss.append(rs)
        self.new = rs
        self._copy_annotations(rs)
        rs.annotate(REVISION_ANNOTATION, str(new_revision))
        self._set_replicas_annotations(rs)
        rs.obj["spec"]["replicas"] = self.new_rs_replicas()
        self.deployment_revision = str(new_revision)
        if _has_deadline(d):
            _set_condition(self.conditions, "Progressing", "True", NEW_RS_CREATED,
                           f'Created new replica set "{name}"', now)
        if rs.replicas:
            self.plan.events.append(("ScalingReplicaSet", f"Scaled up replica set {name} from 0 to {rs.replicas}"))

    def _copy_annotations(self, rs: _RS) -> None:
        for key, value in (meta(self.d).get("annotations") or {}).items():
            if key not in SKIPPED_ANNOTATIONS:
                rs.annotate(key, value)

    def _set_replicas_annotations(self, rs: _RS) -> None:
        rs.annotate(DESIRED_REPLICAS_ANNOTATION, str(self.replicas))
        rs.annotate(MAX_REPLICAS_ANNOTATION, str(self.replicas + max_surge(self.d)))

    # ---- scaling
    def scale(self, rs: _RS, size: int, operation: str | None = None) -> bool:
        """Set a ReplicaSet's size (and the replicas annotations, minReadySeconds); True if the size changed."""
        size = max(0, size)
        old = rs.replicas
        if size != old:
            rs.obj["spec"]["replicas"] = size
        rs.set_min_ready((self.d.get("spec") or {}).get("minReadySeconds") or 0)
        self._set_replicas_annotations(rs)
        if size != old:
            op = operation or ("up" if size > old else "down")
            self.plan.events.append(("ScalingReplicaSet", f"Scaled {op} replica set {rs.name} from {old} to {size}"))
        return size != old

    def new_rs_replicas(self) -> int:
        """NewRSNewReplicas: how big the new ReplicaSet may be now."""
        assert self.new is not None
        if not _rolling(self.d):
            return self.replicas
        current = sum(max(r.replicas, r.live) for r in self.rss)
        room = self.replicas + max_surge(self.d) - current
        if room <= 0:
            return self.new.replicas
        return self.new.replicas + min(room, max(0, self.replicas - self.new.replicas))

    def is_scaling_event(self) -> bool:
        for r in self.rss:
            if r.replicas > 0 and (desired := r.annotations.get(DESIRED_REPLICAS_ANNOTATION)) is not None:
                try:
                    if int(desired) != self.replicas:
                        return True
                except ValueError:
                    continue
        return False

    def proportional_scale(self) -> None:
        """Kubernetes' ``scale``: one active ReplicaSet takes the whole size; a saturated new one
        means the old ones go to 0; otherwise (RollingUpdate) the difference is shared out in
        proportion to each ReplicaSet's size."""
        replicas, new = self.replicas, self.new
        active = [r for r in self.rss if r.replicas > 0]
        if len(active) <= 1:
            target = active[0] if active else (new or max(self.olds, key=lambda r: (r.created, r.name), default=None))
            if target is not None:  # also when only the annotations are stale (else: a scaling event forever)
                self.scale(target, self._within_surge(target, replicas))
            return
        if new is not None and new.replicas == replicas and new.available == replicas and \
                new.annotations.get(DESIRED_REPLICAS_ANNOTATION) == str(replicas):
            for r in active:
                if r is not new:
                    self.scale(r, 0)
            return
        if not _rolling(self.d):
            return
        allowed = replicas + max_surge(self.d) if replicas > 0 else 0
        to_add = allowed - sum(r.replicas for r in active)
        if to_add > 0:  # never past the surge bound counted on pods (see the module docstring)
            to_add = max(0, min(to_add, allowed - sum(max(r.replicas, r.live) for r in self.rss)))
        if to_add > 0:
            active.sort(key=lambda r: (-r.replicas, -r.created, r.name))
        elif to_add < 0:
            active.sort(key=lambda r: (-r.replicas, r.created, r.name))
        sizes = {id(r): r.replicas for r in active}
        added = 0
        if to_add:
            for r in active:
                part = self._proportion(r, to_add, added)
                sizes[id(r)] += part
                added += part
            sizes[id(active[0])] = max(0, sizes[id(active[0])] + to_add - added)
        for r in active:
            self.scale(r, sizes[id(r)], "up" if to_add > 0 else "down" if to_add < 0 else None)

    def _within_surge(self, target: _RS, size: int) -> int:
        """``size`` for ``target``, but a scale-up only as far as the surge bound counted on pods
        allows: ReplicaSets already scaled to 0 may still run pods their controllers have not yet
        deleted (a later step raises it once they are gone)."""
        if not _rolling(self.d) or size <= target.replicas:
            return size
        others = sum(max(r.replicas, r.live) for r in self.rss if r is not target)
        return max(target.replicas, min(size, self.replicas + max_surge(self.d) - others))

    def _proportion(self, rs: _RS, to_add: int, added: int) -> int:
        if rs.replicas == 0 or to_add == added:
            return 0
        if self.replicas == 0:
            fraction = -rs.replicas
        else:
            try:
                before = int(rs.annotations.get(MAX_REPLICAS_ANNOTATION, "0"))
            except ValueError:
                before = 0
            if before == 0:
                before = int((self.d.get("status") or {}).get("replicas") or 0) or 1
            fraction = math.floor(rs.replicas * (self.replicas + max_surge(self.d)) / before + 0.5) - rs.replicas
        allowed = to_add - added
        return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)

    # ---- rolling update
    def reconcile_new(self) -> bool:
        new = self.new
        assert new is not None
        if new.replicas == self.replicas:
            return False
        if new.replicas > self.replicas:
            return self.scale(new, self.replicas)
        return self.scale(new, self.new_rs_replicas())

    def reconcile_olds(self) -> bool:
        new = self.new
        assert new is not None
        olds = _by_creation(r for r in self.olds if r.replicas > 0)
        if not olds:
            return False
        min_available = self.replicas - max_unavailable(self.d)
        new_unavailable = max(0, new.replicas - new.available)
        max_scaled_down = sum(r.replicas for r in self.rss) - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        done = 0
        for r in olds:  # unhealthy replicas first: they would block the rollout
            if done >= max_scaled_down:
                break
            unhealthy = r.replicas - r.available
            if r.replicas == 0 or unhealthy <= 0:
                continue
            n = min(max_scaled_down - done, unhealthy)
            self.scale(r, r.replicas - n)
            done += n
        available = sum(min(r.available, r.replicas) for r in self.rss)
        budget = available - min_available
        scaled = 0
        for r in olds:
            if scaled >= budget:
                break
            if r.replicas == 0:
                continue
            n = min(r.replicas, budget - scaled)
            self.scale(r, r.replicas - n)
            scaled += n
        return done + scaled > 0

    def rolling_update(self) -> None:
        """rolloutRolling: scale the new ReplicaSet up if it may; else the old ones down if they
        may; else, once complete, clean the history up."""
        if self.new is None:
            self.find_or_create_new(create=True)
        if self.new is not None and not self.reconcile_new() and not self.reconcile_olds() \
                and self._complete(self.d.get("status") or {}):
            self.cleanup()

    # ---- Recreate
    def old_pods_running(self) -> bool:
        return any(not is_terminal(p) for r in self.olds for p in r.pods)

    def recreate(self) -> None:
        """rolloutRecreate: old ReplicaSets to 0; once none of their pods remain (terminating ones
        count), create / scale up the new one."""
        scaled = False
        for r in self.olds:
            if r.replicas > 0:
                scaled = self.scale(r, 0) or scaled
        if scaled or self.old_pods_running():
            return
        if self.new is None:
            self.find_or_create_new(create=True)
        if self.new is not None and self.new.replicas != self.replicas:
            self.scale(self.new, self.replicas)
        if self._complete(self.d.get("status") or {}):
            self.cleanup()

    # ---- history
    def cleanup(self) -> None:
        limit = (self.d.get("spec") or {}).get("revisionHistoryLimit")
        if limit is None or limit >= NO_DEADLINE:
            return
        cleanable = [r for r in self.olds if not r.obj["metadata"].get("deletionTimestamp") and r.orig]
        diff = len(cleanable) - limit
        if diff <= 0:
            return
        cleanable.sort(key=lambda r: (revision_of(r.obj), r.created, r.name))
        for r in cleanable[:diff]:
            observed = (r.orig.get("status") or {}).get("observedGeneration", 0)
            if r.live or r.replicas or r.changed or meta(r.orig).get("generation", 0) > observed:
                continue
            self.plan.delete.append(r.orig)

    # ---- status
    def status(self, rollout: bool) -> dict[str, Any]:
        d, now = self.d, self.now
        old_status = d.get("status") or {}
        replicas = self.replicas
        total = sum(r.live for r in self.rss)
        updated = self.new.live if self.new is not None else 0
        ready = sum(r.ready for r in self.rss)
        available = sum(r.available for r in self.rss)
        conds = self.conditions
        if available >= replicas - max_unavailable(d):
            _set_condition(conds, "Available", "True", "MinimumReplicasAvailable",
                           "Deployment has minimum availability.", now)
        else:
            _set_condition(conds, "Available", "False", "MinimumReplicasUnavailable",
                           "Deployment does not have minimum availability.", now)
        status: dict[str, Any] = {"replicas": total, "updatedReplicas": updated, "readyReplicas": ready,
                                  "availableReplicas": available,
                                  "unavailableReplicas": max(0, replicas - available)}
        if meta(d).get("generation") is not None:
            status["observedGeneration"] = meta(d)["generation"]
        collisions = self.collision_count if self.collision_count is not None else old_status.get("collisionCount")
        if collisions is not None:
            status["collisionCount"] = collisions
        if rollout:
            self._rollout_conditions(status, old_status)
        if conds:
            status["conditions"] = conds
        self.plan.requeue_after = _soonest(
            available_again_in([p for r in self.rss for p in r.active_pods],
                               (d.get("spec") or {}).get("minReadySeconds") or 0, now),
            self._deadline_in(status))
        return status

    def _rollout_conditions(self, status: dict[str, Any], old: Obj) -> None:
        """syncRolloutStatus: the Progressing condition."""
        d, now, conds = self.d, self.now, self.conditions
        if not _has_deadline(d):
            _remove_condition(conds, "Progressing")
            return
        current = _condition(conds, "Progressing")
        complete_before = (status["replicas"] == status["updatedReplicas"] and current is not None
                           and current.get("reason") == NEW_RS_AVAILABLE)
        if complete_before:
            return
        rs_name = f'ReplicaSet "{self.new.name}"' if self.new is not None else f'Deployment "{meta(d).get("name")}"'
        if self._complete(status):
            _set_condition(conds, "Progressing", "True", NEW_RS_AVAILABLE, f"{rs_name} has successfully progressed.", now)
        elif _progressed(old, status):
            transition = current.get("lastTransitionTime") if current and current.get("status") == "True" else None
            _remove_condition(conds, "Progressing")
            _set_condition(conds, "Progressing", "True", RS_UPDATED, f"{rs_name} is progressing.", now)
            if transition:
                _condition(conds, "Progressing")["lastTransitionTime"] = transition  # type: ignore[index]
        elif self._timed_out(current):
            _set_condition(conds, "Progressing", "False", TIMED_OUT, f"{rs_name} has timed out progressing.", now)

    def _complete(self, status: Obj) -> bool:
        replicas = self.replicas
        return (status.get("updatedReplicas") == replicas and status.get("replicas") == replicas
                and status.get("availableReplicas") == replicas
                and status.get("observedGeneration", 0) >= meta(self.d).get("generation", 0))

    def _timed_out(self, current: Obj | None) -> bool:
        if current is None:
            return False
        if current.get("reason") == TIMED_OUT:
            return True
        if current.get("reason") == NEW_RS_AVAILABLE:
            return False
        since = parse_time(current.get("lastUpdateTime"))
        return since is not None and since + _deadline(self.d) < self.now

    def _deadline_in(self, status: Obj) -> float | None:
        current = _condition(self.conditions, "Progressing")
        if (not _has_deadline(self.d) or current is None or current.get("reason") in (TIMED_OUT, NEW_RS_AVAILABLE,
                                                                                          PAUSED)
                or self._complete(status)):
            return None
        since = parse_time(current.get("lastUpdateTime"))
        return None if since is None else max(0.0, since + _deadline(self.d) - self.now) + 0.001


def _soonest(*waits: float | None) -> float | None:
    present = [w for w in waits if w is not None]
    return min(present) if present else None


def _deadline(d: Obj) -> float:
    value = (d.get("spec") or {}).get("progressDeadlineSeconds")
    return 600.0 if value is None else float(value)


def _has_deadline(d: Obj) -> bool:
    return _deadline(d) < NO_DEADLINE


def _progressed(old: Obj, new: Obj) -> bool:
    """DeploymentProgressing: more updated, ready or available pods, or fewer pods in all."""
    return (new.get("updatedReplicas", 0) > old.get("updatedReplicas", 0)
            or new.get("replicas", 0) < old.get("replicas", 0)
            or new.get("readyReplicas", 0) > old.get("readyReplicas", 0)
            or new.get("availableReplicas", 0) > old.get("availableReplicas", 0))


# --- conditions -----------------------------------------------------------------------------

def _condition(conds: list[dict[str, Any]], type_: str) -> dict[str, Any] | None:
    return next((c for c in conds if c.get("type") == type_), None)


def _remove_condition(conds: list[dict[str, Any]], type_: str) -> None:
    conds[:] = [c for c in conds if c.get("type") != type_]


def _set_condition(conds: list[dict[str, Any]], type_: str, status: str, reason: str, message: str,
                   now: float) -> None:
    """SetDeploymentCondition: same status and reason changes nothing; same status keeps the
    transition time; otherwise both times are ``now``. The condition keeps its place."""
    old = _condition(conds, type_)
    if old is not None and old.get("status") == status and old.get("reason") == reason:
        return
    stamp = rfc3339(now)
    new = {"type": type_, "status": status, "lastUpdateTime": stamp,
           "lastTransitionTime": old.get("lastTransitionTime", stamp) if old and old.get("status") == status else stamp,
           "reason": reason, "message": message}
    if old is None:
        conds.append(new)
    else:
        conds[conds.index(old)] = new


# --- reconcile ------------------------------------------------------------------------------

def reconcile(deployment: Obj, replicasets: Iterable[Obj], pods: Iterable[Obj], now: float) -> Plan:
    """The next step for ``deployment`` given the ReplicaSets and pods of its namespace (others
    are ignored). See the module docstring for the rules and the guarantees."""
    d = deployment
    dmeta, spec = meta(d), d.get("spec") or {}
    uid = dmeta.get("uid")
    deleting = bool(dmeta.get("deletionTimestamp"))
    selector = label_selector_from_obj(spec.get("selector") or {})
    min_ready = spec.get("minReadySeconds") or 0
    replicasets, pods = list(replicasets), list(pods)
    plan = Plan()

    # Claim: owned and matching; adopt matching orphans; release owned ones that stopped matching.
    claimed: list[tuple[Obj, Obj]] = []  # (working copy, as stored)
    for rs in replicasets:
        owner, matches = controller_uid(rs), selector.matches(meta(rs).get("labels"))
        if owner == uid and uid is not None:
            if matches or deleting:
                claimed.append((rs, rs))
            else:
                released = copy.deepcopy(dict(rs))
                refs = [r for r in released["metadata"].pop("ownerReferences", None) or () if r.get("uid") != uid]
                if refs:
                    released["metadata"]["ownerReferences"] = refs
                plan.update.append(released)
        elif owner is None and matches and not deleting and not meta(rs).get("deletionTimestamp"):
            adopted = copy.deepcopy(dict(rs))
            adopted["metadata"]["ownerReferences"] = [*(adopted["metadata"].get("ownerReferences") or ()),
                                                      controller_ref(d)]
            claimed.append((adopted, rs))
    by_owner: dict[str, list[Obj]] = {}
    for p in pods:
        if (owner := controller_uid(p)) is not None:
            by_owner.setdefault(owner, []).append(p)
    rss = []
    for work, stored in claimed:
        r = _RS(work, by_owner.get(meta(work).get("uid", ""), []), now, min_ready)
        r.orig = stored  # an adopted one differs by its new controller reference: a change to write
        rss.append(r)
    run = _Run(d, now, rss, plan, copy.deepcopy(list((d.get("status") or {}).get("conditions") or [])),
               taken=frozenset(meta(rs).get("name", "") for rs in replicasets))

    rollout = False
    if not deleting:
        _paused_conditions(run)
    run.find_or_create_new(create=False)
    if deleting:
        pass  # status only: the garbage collector is taking the ReplicaSets away
    elif spec.get("paused") or run.is_scaling_event():
        run.proportional_scale()
        if spec.get("paused"):
            run.cleanup()
    elif _rolling(d):
        rollout = True
        run.rolling_update()
    else:
        rollout = True
        run.recreate()

    plan.status = run.status(rollout)
    for r in run.rss:
        if not r.orig:
            plan.create = r.obj
        elif r.changed:
            plan.update.append(r.obj)
    if run.deployment_revision is not None:
        annotations = dict(dmeta.get("annotations") or {})
        if annotations.get(REVISION_ANNOTATION) != run.deployment_revision:
            annotations[REVISION_ANNOTATION] = run.deployment_revision
            plan.annotations = annotations
    return plan


def _paused_conditions(run: _Run) -> None:
    """checkPausedConditions: DeploymentPaused while paused, DeploymentResumed once resumed
    (never over a ProgressDeadlineExceeded)."""
    d, conds = run.d, run.conditions
    if not _has_deadline(d):
        return
    current = _condition(conds, "Progressing")
    if current is not None and current.get("reason") == TIMED_OUT:
        return
    paused_now = current is not None and current.get("reason") == PAUSED
    if (d.get("spec") or {}).get("paused") and not paused_now:
        _set_condition(conds, "Progressing", "Unknown", PAUSED, "Deployment is paused", run.now)
    elif not (d.get("spec") or {}).get("paused") and paused_now:
        _set_condition(conds, "Progressing", "Unknown", RESUMED, "Deployment is resumed", run.now)


def history(replicasets: Iterable[Obj], deployment: Obj) -> list[Obj]:
    """The Deployment's ReplicaSets (controller reference) by revision, oldest first."""
    uid = meta(deployment).get("uid")
    return sorted((rs for rs in replicasets if controller_uid(rs) == uid),
                  key=lambda rs: (revision_of(rs), _created(rs)))


def rollback_target(replicasets: Iterable[Obj], deployment: Obj, to_revision: int = 0) -> Obj:
    """The ReplicaSet ``kubectl rollout undo`` goes back to: ``to_revision``, or (0) the one
    before the latest. Raises LookupError with kubectl's message when there is none."""
    revisions = history(replicasets, deployment)
    if to_revision:
        for rs in revisions:
            if revision_of(rs) == to_revision:
                return rs
        raise LookupError(f"unable to find specified revision {to_revision} in history")
    if len(revisions) < 2:
        raise LookupError("no rollout history found for deployment "
                          f'"{meta(deployment).get("name", "")}"')
    return revisions[-2]


def rollback_patch(deployment: Obj, rs: Obj) -> list[dict[str, Any]]:
    """The JSON patch kubectl's rollback sends: the ReplicaSet's template (hash label removed)
    and the Deployment's annotations with the ReplicaSet's (but the skipped ones) over them."""
    annotations = dict(meta(deployment).get("annotations") or {})
    for key, value in (meta(rs).get("annotations") or {}).items():
        if key not in SKIPPED_ANNOTATIONS:
            annotations[key] = value
    return [{"op": "replace", "path": "/spec/template", "value": strip_hash((rs.get("spec") or {}).get("template") or {})},
            {"op": "replace", "path": "/metadata/annotations", "value": annotations}]

