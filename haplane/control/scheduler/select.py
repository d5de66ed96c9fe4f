"""One scheduling pass: place pending pods on nodes (filter with predicates, rank with scorers).

:func:`schedule` is pure and deterministic: the same pods and nodes give the same bindings.
It books each placement on its in-memory :class:`NodeInfo` before placing the next pod, so one
pass never overcommits a node. It does not write anything: the caller binds (with a CAS on
each pod) and records the Unschedulable results as pod conditions and Events.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from haplane.control.scheduler.predicates import (
    DYNAMIC_PREDICATES,
    STATIC_PREDICATES,
    NodeInfo,
    PodInfo,
    build_node_infos,
)
from haplane.control.scheduler.scorers import SCORERS

__all__ = ["Binding", "Unschedulable", "schedule", "unschedulable_message"]

Obj = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Binding:
    pod: Obj
    node_name: str


@dataclass(frozen=True, slots=True)
class Unschedulable:
    pod: Obj
    message: str                                            # "0/5 nodes are available: 3 Insufficient memory."
    reasons: Mapping[str, int] = field(default_factory=dict)  # reason -> number of nodes


@dataclass(slots=True)
class _Candidates:
    """The nodes that pass the static predicates for one pod shape, and why the others don't."""

    nodes: list[NodeInfo]
    reasons: Counter[str]
    offset: int = 0  # where the next pod of this shape starts scanning (round robin)


def unschedulable_message(total_nodes: int, reasons: Mapping[str, int]) -> str:
    """Kubernetes' FitError text: counts by reason, most frequent first, then by text."""
    if not total_nodes:
        return "0/0 nodes are available: no nodes available to schedule pods."
    parts = [f"{count} {reason}" for reason, count in sorted(reasons.items(), key=lambda rc: (-rc[1], rc[0]))]
    return f"0/{total_nodes} nodes are available: {', '.join(parts)}."


def _static_key(pod: Obj) -> str:
    spec = pod.get("spec") or {}
    sel, tol = spec.get("nodeSelector"), spec.get("tolerations")
    return json.dumps([sel, tol], sort_keys=True) if sel or tol else ""


def _candidates(info: PodInfo, nodes: list[NodeInfo]) -> _Candidates:
    feasible, reasons = [], Counter[str]()
    for ni in nodes:
        for predicate in STATIC_PREDICATES:
            if reason := predicate(info, ni):
                reasons[reason] += 1
                break
        else:
            feasible.append(ni)
    return _Candidates(feasible, reasons)


def _creation_order(pod: Obj) -> tuple[str, str, str]:
    meta = pod.get("metadata") or {}
    return meta.get("creationTimestamp") or "", meta.get("namespace") or "", meta.get("name") or ""


def schedule(
    pending_pods: Iterable[Obj], nodes: Iterable[Obj], bound_pods: Iterable[Obj], *, max_feasible: int = 100,
) -> tuple[list[Binding], list[Unschedulable]]:
    """Place ``pending_pods`` (in creation order) on ``nodes``, given the already ``bound_pods``.

    ``pending_pods`` are scheduled whatever their ``spec.nodeName`` (the caller passes unbound
    ones); ``bound_pods`` may be any pods: only those with a known ``spec.nodeName`` that are
    not Succeeded/Failed are booked. Nothing passed in is modified.

    For each pod: take the nodes passing the static predicates (cached per nodeSelector +
    tolerations), scan them from a rotating offset with the dynamic predicates until
    ``max_feasible`` fit (kube-scheduler's percentageOfNodesToScore), pick the best weighted
    score, ties to the smallest node name. A pod that fits nowhere gets an
    :class:`Unschedulable` whose counts cover every node.

    Because nodes only fill up during a pass, a pod whose shape (constraints, requests,
    host ports) already failed in this pass fails again without a rescan and reuses that
    message (its counts may be slightly stale: a node may now fail for another resource).
    """
    infos = build_node_infos(nodes, bound_pods)
    ordered = [infos[name] for name in sorted(infos)]
    total = len(ordered)
    by_shape: dict[str, _Candidates] = {}
    failed: dict[tuple[Any, ...], Unschedulable] = {}
    bindings: list[Binding] = []
    unschedulable: list[Unschedulable] = []
    scorers = SCORERS
    dynamic = DYNAMIC_PREDICATES
    limit = max(1, max_feasible)

    for pod in sorted(pending_pods, key=_creation_order):
        try:
            info = PodInfo.of(pod)
        except ValueError as exc:
            unschedulable.append(Unschedulable(pod, f"0/{total} nodes are available: invalid pod: {exc}."))
            continue
        skey = _static_key(pod)
        fkey = (skey, info.cpu, info.memory, info.host_ports)
        if (prior := failed.get(fkey)) is not None:
            unschedulable.append(Unschedulable(pod, prior.message, prior.reasons))
            continue
        cands = by_shape.get(skey)
        if cands is None:
            cands = by_shape[skey] = _candidates(info, ordered)

        found: list[NodeInfo] = []
        rejected: list[str] = []
        pool, size, start, scanned = cands.nodes, len(cands.nodes), cands.offset, 0
        while scanned < size and len(found) < limit:
            ni = pool[(start + scanned) % size]
            scanned += 1
            for predicate in dynamic:
                if reason := predicate(info, ni):
                    rejected.append(reason)
                    break
            else:
                found.append(ni)
        if size:
            cands.offset = (start + scanned) % size

        if not found:
            reasons = dict(cands.reasons + Counter(rejected))
            result = Unschedulable(pod, unschedulable_message(total, reasons), reasons)
            failed[fkey] = result
            unschedulable.append(result)
            continue
        best, best_score = found[0], -1.0
        for ni in found:
            score = 0.0
            for scorer, weight in scorers:
                score += weight * scorer(info, ni)
            if score > best_score or (score == best_score and ni.name < best.name):
                best, best_score = ni, score
        best.add_pod(info)
        bindings.append(Binding(pod, best.name))
    return bindings, unschedulable
