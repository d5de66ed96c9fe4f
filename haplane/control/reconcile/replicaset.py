"""The ReplicaSet controller's decision: ``reconcile(rs, pods, now) -> ReplicaSetPlan``.

Pure and deterministic (kubernetes/sample-controller style): no I/O, no clock, no randomness
except the pod name suffixes the caller supplies. Level-triggered: each call returns the next
step for the world as observed.

As Kubernetes' ReplicaSet controller:

- Its pods: those whose controller ownerReference is the ReplicaSet and that match its
  selector. Orphans (no controller) in its namespace that match the selector are *adopted*
  (the loop adds the controller reference); owned pods that stopped matching are *released*
  (the reference is removed). A ReplicaSet being deleted neither adopts nor manages.
- Active pods (not Succeeded/Failed, no deletionTimestamp) are counted against
  ``spec.replicas``: too few, it creates pods named ``<rs>-<suffix>``; too many, it deletes
  the surplus in Kubernetes' order (unscheduled, then Pending, then not ready, then ready
  for the shortest time, then most restarts, then newest), so a pod that is not available is
  always deleted before one that is (this is what lets the Deployment controller bound
  unavailability through ``spec.replicas`` alone).
- Differs from Kubernetes: Succeeded/Failed pods are deleted at once (there is no separate
  pod garbage collector), and pods are created in one go rather than in slow-start batches
  (bounded by :data:`BURST`).
- Status: replicas (active pods), fullyLabeledReplicas (active pods carrying every template
  label), readyReplicas, availableReplicas (ready ``minReadySeconds``), observedGeneration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

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
    ready_since,
)
from haplane.control.reconcile.podtemplate import pod_from_template, pod_name
from haplane.model.selectors import label_selector_from_obj

__all__ = ["Deletion", "ReplicaSetPlan", "reconcile", "deletion_order", "BURST"]

NewNames = Callable[[int], Sequence[str]] | Sequence[str]
BURST = 500  # Kubernetes' burstReplicas: at most this many creates or deletes per step
_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


@dataclass(frozen=True, slots=True)
class Deletion:
    pod: Obj
    reason: str  # Failed | Succeeded | ScaleDown


@dataclass(slots=True)
class ReplicaSetPlan:
    """The next step: create ``create``, delete ``delete`` (uid precondition), add the controller
    reference to ``adopt``, remove it from ``release`` (resourceVersion precondition), and write
    ``status`` to ``/status`` when it differs."""

    create: list[dict[str, Any]] = field(default_factory=list)
    delete: list[Deletion] = field(default_factory=list)
    adopt: list[Obj] = field(default_factory=list)
    release: list[Obj] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    requeue_after: float | None = None

    @property
    def idle(self) -> bool:
        return not (self.create or self.delete or self.adopt or self.release)


def deletion_order(pods: Iterable[Obj]) -> list[Obj]:
    """Pods to delete first, first (Kubernetes' ActivePods ranking, without deletion cost).

    Not ready before ready, and among ready ones the most recently ready first: so for any
    ``minReadySeconds`` every pod that is not available comes before every pod that is.
    """
    def key(p: Obj) -> tuple:
        since = ready_since(p)
        restarts = sum(int(cs.get("restartCount") or 0)
                       for cs in (p.get("status") or {}).get("containerStatuses") or ())
        return (since is not None, bool((p.get("spec") or {}).get("nodeName")),
                _PHASE_RANK.get((p.get("status") or {}).get("phase") or "Pending", 0),
                0.0 if since is None else -since,  # an unknown ready time (-inf) counts as long ago
                -restarts, -(parse_time(meta(p).get("creationTimestamp")) or 0.0), meta(p).get("name", ""))
    return sorted(pods, key=key)


def _pick_names(new_names: NewNames, count: int, owner: str, taken: set[str]) -> list[str]:
    if count <= 0:
        return []
    suffixes = new_names(count) if callable(new_names) else new_names
    chosen: list[str] = []
    for suffix in suffixes:
        name = pod_name(owner, suffix)
        if name not in taken:
            taken.add(name)
            chosen.append(suffix)
            if len(chosen) == count:
                break
    return chosen


def reconcile(rs: Obj, pods: Iterable[Obj], now: float, *, new_names: NewNames) -> ReplicaSetPlan:
    """The next step for ``rs`` given the observed ``pods`` of its namespace (foreign ones are ignored).

    ``new_names`` gives pod name suffixes (a list, or ``n -> n suffixes``); names already taken
    by a pod in ``pods`` are skipped, and fewer pods are created if suffixes run out.
    """
    rmeta, spec = meta(rs), rs.get("spec") or {}
    uid = rmeta.get("uid")
    replicas = 1 if spec.get("replicas") is None else max(0, int(spec["replicas"]))
    min_ready = spec.get("minReadySeconds") or 0
    selector = label_selector_from_obj(spec.get("selector") or {})
    deleting = bool(rmeta.get("deletionTimestamp"))
    pods = list(pods)

    mine: list[Obj] = []
    adopt: list[Obj] = []
    release: list[Obj] = []
    for p in pods:
        owner, matches = controller_uid(p), selector.matches(meta(p).get("labels"))
        if owner == uid and uid is not None:
            (mine if matches else release).append(p)
        elif owner is None and matches and not deleting and is_active(p):
            adopt.append(p)
    if deleting:
        release = []
    # Adopted pods count from this step on: the adoption is written before any create/delete.
    mine += adopt

    active = [p for p in mine if is_active(p)]
    plan = ReplicaSetPlan(adopt=adopt, release=release)
    if not deleting:
        plan.delete = [Deletion(p, (p.get("status") or {}).get("phase", "Failed"))
                       for p in mine if is_terminal(p) and not meta(p).get("deletionTimestamp")][:BURST]
        if len(active) < replicas:
            taken = {meta(p).get("name", "") for p in pods}
            plan.create = [pod_from_template(rs, suffix, now)
                           for suffix in _pick_names(new_names, min(BURST, replicas - len(active)),
                                                     rmeta.get("name", ""), taken)]
        elif len(active) > replicas:
            surplus = deletion_order(active)[:min(BURST, len(active) - replicas)]
            plan.delete += [Deletion(p, "ScaleDown") for p in surplus]

    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    status: dict[str, Any] = {
        "replicas": len(active),
        "fullyLabeledReplicas": sum(all((meta(p).get("labels") or {}).get(k) == v for k, v in template_labels.items())
                                    for p in active),
        "readyReplicas": sum(is_ready(p) for p in active),
        "availableReplicas": sum(is_available(p, now, min_ready) for p in active),
    }
    if rmeta.get("generation") is not None:
        status["observedGeneration"] = rmeta["generation"]
    plan.status = status
    plan.requeue_after = available_again_in(active, min_ready, now)
    return plan
