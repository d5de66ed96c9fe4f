"""The Deployment controller's decision: ``reconcile(deployment, pods, now) -> Plan``.

Pure and deterministic (kubernetes/sample-controller style): no I/O, no clock, no randomness
except the pod name suffixes the caller supplies. Level-triggered: each call looks at the world
as observed and returns the *next step* only; the loop applies it and calls again when pods
change (and after ``Plan.requeue_after`` seconds when ``minReadySeconds`` is pending).

There are no ReplicaSets: pods carry the ``pod-template-hash`` label of the template they were
stamped from, and the revision history (template per revision, for ``rollout history`` and
``undo``) is a list of plain entries the loop keeps in a ConfigMap ``<deploy>-history``.

Pods that count ("live"): owned by the Deployment (controller ownerReference uid), matching
its selector, not Succeeded/Failed and without a deletionTimestamp. Succeeded/Failed pods are
deleted (and so replaced); terminating pods are left alone (their deletion is under way) but a
Recreate rollout waits for old ones to disappear. Ready = Ready condition "True"; available =
ready for at least ``minReadySeconds`` (since the condition's lastTransitionTime; a missing
time counts as long ago). Pods that are not owned are neither adopted nor touched.

Guarantees of one Plan, whatever order its creates and deletes are applied in:

- RollingUpdate: when it creates, live + created ≤ replicas + maxSurge; its deletions never
  take the available count below ``min(available now, replicas - maxUnavailable)``.
- Recreate: no new-template pod is created while any old-template pod still exists.
- Paused: pods of the current template are not rolled out; only scaling happens.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from haplane.clock import rfc3339
from haplane.control.reconcile.podtemplate import HASH_LABEL, pod_from_template, pod_name, template_hash
from haplane.errors import NotFound
from haplane.model.selectors import label_selector_from_obj

__all__ = [
    "Deletion", "Plan", "reconcile", "resolve_rollout_bounds", "is_ready", "is_available",
    "record_revision", "rollback_template", "history_to_data", "history_from_data", "CHANGE_CAUSE_ANNOTATION",
]

Obj = Mapping[str, Any]
NewNames = Callable[[int], Sequence[str]] | Sequence[str]
CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"
_TERMINAL = frozenset({"Succeeded", "Failed"})


@dataclass(frozen=True, slots=True)
class Deletion:
    pod: Obj
    reason: str  # Failed | Succeeded | ScaleDown | RollingUpdate | Recreate


@dataclass(slots=True)
class Plan:
    """The next step. The loop creates ``create``, deletes ``delete`` (with a uid precondition),
    writes ``status`` to ``/status`` when it differs, sets the Deployment annotation
    ``deployment.kubernetes.io/revision`` to ``str(revision)`` when it differs, and stores
    ``history`` (see :func:`history_to_data`) when it differs from what it passed in."""

    create: list[dict[str, Any]] = field(default_factory=list)
    delete: list[Deletion] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    revision: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    requeue_after: float | None = None  # seconds until a ready pod becomes available

    @property
    def idle(self) -> bool:
        return not self.create and not self.delete


# --- pods -----------------------------------------------------------------------------------

def _parse_time(text: str | None) -> float | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else None
    except ValueError:
        return None


def _ready_since(pod: Obj) -> float | None:
    """When the pod became ready (``-inf`` if unknown), or None when it is not ready."""
    for cond in (pod.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "Ready":
            if cond.get("status") != "True":
                return None
            since = _parse_time(cond.get("lastTransitionTime"))
            return -math.inf if since is None else since
    return None


def is_ready(pod: Obj) -> bool:
    """The pod's Ready condition is "True"."""
    return _ready_since(pod) is not None


def is_available(pod: Obj, now: float, min_ready_seconds: float = 0) -> bool:
    """Ready, and ready for at least ``min_ready_seconds`` at ``now``."""
    since = _ready_since(pod)
    return since is not None and (min_ready_seconds <= 0 or since + min_ready_seconds <= now)


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _hash(pod: Obj) -> str | None:
    return (_meta(pod).get("labels") or {}).get(HASH_LABEL)


def _owned_by(pod: Obj, uid: str | None) -> bool:
    return any(ref.get("controller") and ref.get("uid") == uid for ref in _meta(pod).get("ownerReferences") or ())


# --- rollout arithmetic ---------------------------------------------------------------------

def _scaled(value: Any, replicas: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        exact = int(value[:-1]) * replicas / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


def resolve_rollout_bounds(deployment: Obj) -> tuple[int, int]:
    """``(maxSurge, maxUnavailable)`` as pod counts, as Kubernetes resolves them.

    Percentages of ``spec.replicas``: surge rounds up, unavailable rounds down; both 0 makes
    maxUnavailable 1; maxUnavailable is capped at replicas. Recreate is ``(0, replicas)``.
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


def _replicas(spec: Obj) -> int:
    replicas = spec.get("replicas")
    return 1 if replicas is None else max(0, int(replicas))


# --- revision history -----------------------------------------------------------------------

def _by_revision(history: Iterable[Obj]) -> list[dict[str, Any]]:
    return sorted((dict(e) for e in history), key=lambda e: int(e["revision"]))


def record_revision(
    history: Iterable[Obj], template: Obj, now: float, *, limit: int | None = None,
    keep: Collection[str] = (), change_cause: str | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Make ``template`` the latest revision; return ``(new history, its revision)``.

    Already latest: history unchanged. Equal (by hash) to an older revision (a rollback): that
    entry moves to a new number, as Kubernetes does. Otherwise a new entry ``max + 1``. Then,
    with ``limit`` (revisionHistoryLimit), the oldest entries besides the latest are dropped
    until at most ``limit`` remain, except those whose hash is in ``keep`` (templates that still
    have pods). Entries: ``{revision, templateHash, template, creationTimestamp[, changeCause]}``.
    """
    entries = _by_revision(history)
    digest = template_hash(template)
    if entries and entries[-1]["templateHash"] == digest:
        revision = int(entries[-1]["revision"])
    else:
        revision = int(entries[-1]["revision"]) + 1 if entries else 1
        entry: dict[str, Any] = {"revision": revision, "templateHash": digest,
                                 "template": copy.deepcopy(dict(template)), "creationTimestamp": rfc3339(now)}
        if change_cause:
            entry["changeCause"] = change_cause
        entries = [e for e in entries if e["templateHash"] != digest] + [entry]
    if limit is not None:
        older = entries[:-1]
        droppable = [e for e in older if e["templateHash"] not in keep]
        drop = {id(e) for e in droppable[:max(0, len(older) - max(0, limit))]}
        entries = [e for e in entries if id(e) not in drop]
    return entries, revision


def rollback_template(history: Iterable[Obj], to_revision: int | None = None) -> dict[str, Any]:
    """The template of ``to_revision``, or of the revision before the latest when None.

    Raises :class:`~haplane.errors.NotFound` when there is no such revision. Writing it back as
    ``spec.template`` is the rollback; the next reconcile renumbers it as the latest revision.
    """
    entries = _by_revision(history)
    if to_revision is None:
        if len(entries) < 2:
            raise NotFound("no rollout history found: there is no previous revision to roll back to")
        return copy.deepcopy(entries[-2]["template"])
    for entry in entries:
        if int(entry["revision"]) == to_revision:
            return copy.deepcopy(entry["template"])
    raise NotFound(f"unable to find specified revision {to_revision} in history")


def history_to_data(history: Iterable[Obj]) -> dict[str, str]:
    """ConfigMap ``data`` for a history: one key per revision number, the entry as JSON."""
    return {str(e["revision"]): json.dumps(e, sort_keys=True, separators=(",", ":")) for e in _by_revision(history)}


def history_from_data(data: Mapping[str, str] | None) -> list[dict[str, Any]]:
    """The inverse of :func:`history_to_data`; entries that do not parse are skipped."""
    entries = []
    for text in (data or {}).values():
        try:
            entry = json.loads(text)
            if isinstance(entry, dict) and isinstance(entry.get("revision"), int) and "template" in entry:
                entries.append(entry)
        except (TypeError, ValueError):
            continue
    return _by_revision(entries)


# --- reconcile ------------------------------------------------------------------------------

def _pick_names(new_names: NewNames, count: int, deploy: str, digest: str, taken: set[str]) -> list[str]:
    if count <= 0:
        return []
    suffixes = new_names(count) if callable(new_names) else new_names
    chosen: list[str] = []
    for suffix in suffixes:
        name = pod_name(deploy, digest, suffix)
        if name not in taken:
            taken.add(name)
            chosen.append(suffix)
            if len(chosen) == count:
                break
    return chosen


def reconcile(
    deployment: Obj, pods: Iterable[Obj], now: float, *, new_names: NewNames,
    history: Iterable[Obj] | None = None,
) -> Plan:
    """The next step for ``deployment`` given the observed ``pods`` (any pods; foreign ones are ignored).

    ``new_names`` gives pod name suffixes (a list, or ``n -> n suffixes``); names already taken
    by a pod in ``pods`` are skipped, and fewer pods are created if suffixes run out. ``history``
    is the stored revision history (see :func:`record_revision`). Scale-down and rollout
    deletions prefer, in order: not ready, not available, old template, newest, then name.
    """
    meta, spec = _meta(deployment), deployment.get("spec") or {}
    name, uid = meta.get("name", ""), meta.get("uid")
    replicas = _replicas(spec)
    selector = label_selector_from_obj(spec.get("selector") or {})
    strategy = (spec.get("strategy") or {}).get("type") or "RollingUpdate"
    min_ready = spec.get("minReadySeconds") or 0
    paused = bool(spec.get("paused"))
    template = spec.get("template") or {}
    current = template_hash(template)
    surge, max_unavailable = resolve_rollout_bounds(deployment)

    pods = list(pods)
    owned = [p for p in pods if _owned_by(p, uid) and selector.matches(_meta(p).get("labels"))]
    dead = [p for p in owned
            if (p.get("status") or {}).get("phase") in _TERMINAL and not _meta(p).get("deletionTimestamp")]
    live = [p for p in owned if (p.get("status") or {}).get("phase") not in _TERMINAL
            and not _meta(p).get("deletionTimestamp")]
    live_hashes = {_hash(p) for p in live}

    # The template being rolled out. Paused with no pod of the current template yet: keep
    # scaling the newest template that has pods, so pausing really stops the rollout.
    entries = _by_revision(history or ())
    target, target_hash, revision = template, current, None
    if paused and live and current not in live_hashes:
        for entry in reversed(entries):
            if entry["templateHash"] in live_hashes:
                target, target_hash, revision = entry["template"], entry["templateHash"], int(entry["revision"])
                break
    if revision is None:
        limit = spec.get("revisionHistoryLimit")
        entries, revision = record_revision(
            entries, template, now, limit=10 if limit is None else limit, keep=live_hashes,
            change_cause=(meta.get("annotations") or {}).get(CHANGE_CAUSE_ANNOTATION))

    is_new = {id(p): _hash(p) == target_hash for p in live}
    available = {id(p): is_available(p, now, min_ready) for p in live}
    ready = {id(p): is_ready(p) for p in live}

    def deletion_order(group: Iterable[Obj]) -> list[Obj]:
        return sorted(group, key=lambda p: (ready[id(p)], available[id(p)], is_new[id(p)],
                                            -(_parse_time(_meta(p).get("creationTimestamp")) or 0.0),
                                            _meta(p).get("name", "")))

    deletes = [Deletion(p, (p.get("status") or {}).get("phase", "Failed")) for p in dead]
    new = [p for p in live if is_new[id(p)]]
    old = [p for p in live if not is_new[id(p)]]
    create = 0

    if paused or not old:
        # Plain scaling over all live pods (old ones first out).
        if len(live) < replicas:
            create = replicas - len(live)
        else:
            deletes += [Deletion(p, "ScaleDown") for p in deletion_order(live)[:len(live) - replicas]]
    elif strategy == "Recreate":
        deletes += [Deletion(p, "Recreate") for p in deletion_order(old)]
        deletes += [Deletion(p, "ScaleDown") for p in deletion_order(new)[:max(0, len(new) - replicas)]]
    else:
        total, min_available = len(live), replicas - max_unavailable
        if len(new) < replicas:
            create = min(replicas - len(new), max(0, replicas + surge - total))
            removed_new: list[Obj] = []
        else:
            removed_new = deletion_order(new)[:len(new) - replicas]
            deletes += [Deletion(p, "ScaleDown") for p in removed_new]
        removed_ids = {id(p) for p in removed_new}
        new_unavailable = sum(not available[id(p)] for p in new if id(p) not in removed_ids)
        # Unavailable old pods go first, but never so many that the rest (counting new pods
        # not yet available as lost) could not make up minAvailable: Kubernetes' maxScaledDown.
        max_scaled_down = max(0, total - len(removed_new) - min_available - new_unavailable)
        unhealthy = deletion_order(p for p in old if not available[id(p)])[:max_scaled_down]
        budget = (sum(available[id(p)] for p in live) - sum(available[id(p)] for p in removed_new)
                  - min_available)
        healthy = deletion_order(p for p in old if available[id(p)])[:max(0, budget)]
        deletes += [Deletion(p, "RollingUpdate") for p in unhealthy + healthy]

    if strategy == "Recreate" and not paused and create:
        # Old pods still terminating keep the new ones waiting.
        if any(_hash(p) != target_hash and (p.get("status") or {}).get("phase") not in _TERMINAL for p in owned):
            create = 0

    taken = {_meta(p).get("name", "") for p in pods}
    creating = deployment if target is template else {**deployment, "spec": {**spec, "template": target}}
    created = [pod_from_template(creating, target_hash, suffix, now, revision=revision)
               for suffix in _pick_names(new_names, create, name, target_hash, taken)]

    return Plan(create=created, delete=deletes, revision=revision, history=entries,
                status=_status(deployment, live, current, available, ready, replicas, max_unavailable,
                               paused, now),
                requeue_after=_requeue_after(live, min_ready, now))


def _requeue_after(live: list[Obj], min_ready: float, now: float) -> float | None:
    if min_ready <= 0:
        return None
    waits = [since + min_ready - now for p in live if (since := _ready_since(p)) is not None
             and since + min_ready > now]
    return min(waits) if waits else None


def _condition(previous: Iterable[Obj], type_: str, status: str, reason: str, message: str,
               now: float) -> dict[str, Any]:
    """A condition; keeps the old timestamps when nothing (or only the reason) changed."""
    stamp = rfc3339(now)
    old = next((c for c in previous if c.get("type") == type_), None) or {}
    same_status = old.get("status") == status
    unchanged = same_status and old.get("reason") == reason and old.get("message") == message
    return {"type": type_, "status": status, "reason": reason, "message": message,
            "lastUpdateTime": old.get("lastUpdateTime", stamp) if unchanged else stamp,
            "lastTransitionTime": old.get("lastTransitionTime", stamp) if same_status else stamp}


def _status(deployment: Obj, live: list[Obj], current: str, available: Mapping[int, bool],
            ready: Mapping[int, bool], replicas: int, max_unavailable: int, paused: bool,
            now: float) -> dict[str, Any]:
    meta = _meta(deployment)
    previous = ((deployment.get("status") or {}).get("conditions")) or ()
    updated = sum(_hash(p) == current for p in live)
    n_ready = sum(ready[id(p)] for p in live)
    n_available = sum(available[id(p)] for p in live)
    rs_name = f'ReplicaSet "{meta.get("name", "")}-{current}"'
    if n_available >= replicas - max_unavailable:
        avail = ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
    else:
        avail = ("False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
    if paused:
        progress = ("Unknown", "DeploymentPaused", "Deployment is paused")
    elif updated == replicas == len(live) and n_available >= replicas:
        progress = ("True", "NewReplicaSetAvailable", f"{rs_name} has successfully progressed.")
    else:
        progress = ("True", "ReplicaSetUpdated", f"{rs_name} is progressing.")
    status: dict[str, Any] = {
        "replicas": len(live), "updatedReplicas": updated, "readyReplicas": n_ready,
        "availableReplicas": n_available, "unavailableReplicas": max(0, replicas - n_available),
        "conditions": [_condition(previous, "Available", *avail, now),
                       _condition(previous, "Progressing", *progress, now)],
    }
    if meta.get("generation") is not None:
        status["observedGeneration"] = meta["generation"]
    return status
