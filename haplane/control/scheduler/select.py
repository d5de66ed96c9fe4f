"""One scheduling pass: place pending pods on nodes (filter with predicates, rank with scorers).

:func:`place` works on :class:`NodeInfo` objects the caller keeps (the scheduler's cache keeps
them up to date between passes); :func:`schedule` builds them from nodes and pods first. Both
are pure and deterministic: the same inputs give the same bindings. Each placement is booked on
its NodeInfo before the next pod is placed, so one pass never overcommits a node. Nothing is
written here: the caller binds (with a CAS on each pod) and records the Unschedulable results
as pod conditions and Events.
"""

from __future__ import annotations

import json
import zlib
from bisect import bisect_left
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

__all__ = ["Binding", "Unschedulable", "creation_order", "feasible_limit", "place", "schedule", "unschedulable_message"]

Obj = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Binding:
    pod: Obj
    node_name: str
    info: PodInfo | None = field(default=None, compare=False)  # what was booked on the node for it


@dataclass(frozen=True, slots=True)
class Unschedulable:
    pod: Obj
    message: str                                            # "0/5 nodes are available: 3 Insufficient memory."
    reasons: Mapping[str, int] = field(default_factory=dict)  # reason -> number of nodes


@dataclass(slots=True)
class _Candidates:
    """The nodes that pass the static predicates for one pod shape, and why the others don't."""

    nodes: list[NodeInfo]
    positions: list[int]  # each candidate's index among all nodes (ascending): where a scan starts
    reasons: Counter[str]


MIN_FEASIBLE = 50
FEASIBLE_PERCENT = 5


def feasible_limit(total_nodes: int) -> int:
    """How many feasible nodes to score per pod: ``max(50, 5 % of the nodes)``.

    kube-scheduler's percentageOfNodesToScore (its floor is 100 nodes; Nomad's limit iterator
    stops at log2(n)): past a few dozen candidates a better score is rarely worth the scan, and
    each pod starts its scan elsewhere (:func:`scan_offset`), so every node gets its turn.
    """
    return max(MIN_FEASIBLE, total_nodes * FEASIBLE_PERCENT // 100)


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


def scan_offset(pod: Obj) -> int:
    """A stable pseudo-random number for ``pod`` (crc32 of its uid, else namespace/name)."""
    meta = pod.get("metadata") or {}
    key = meta.get("uid") or f"{meta.get('namespace') or ''}/{meta.get('name') or ''}"
    return zlib.crc32(str(key).encode())


def _candidates(info: PodInfo, nodes: list[NodeInfo]) -> _Candidates:
    feasible, positions, reasons = [], [], Counter[str]()
    for i, ni in enumerate(nodes):
        for predicate in STATIC_PREDICATES:
            if reason := predicate(info, ni):
                reasons[reason] += 1
                break
        else:
            feasible.append(ni)
            positions.append(i)
    return _Candidates(feasible, positions, reasons)


def _creation_order(pod: Obj) -> tuple[str, str, str]:
    meta = pod.get("metadata") or {}
    return meta.get("creationTimestamp") or "", meta.get("namespace") or "", meta.get("name") or ""


def creation_order(pods: Iterable[Obj]) -> list[Obj]:
    """``pods`` sorted as the scheduler takes them: creation time, then namespace and name."""
    return sorted(pods, key=_creation_order)


def schedule(
    pending_pods: Iterable[Obj], nodes: Iterable[Obj], bound_pods: Iterable[Obj], *, max_feasible: int | None = None,
) -> tuple[list[Binding], list[Unschedulable]]:
    """Place ``pending_pods`` (in creation order) on ``nodes``, given the already ``bound_pods``.

    ``pending_pods`` are scheduled whatever their ``spec.nodeName`` (the caller passes unbound
    ones); ``bound_pods`` may be any pods: only those with a known ``spec.nodeName`` that are
    not Succeeded/Failed are booked. Nothing passed in is modified. This is :func:`place` on
    NodeInfos built from scratch.
    """
    return place(creation_order(pending_pods), build_node_infos(nodes, bound_pods), max_feasible=max_feasible)


def place(
    pods: Iterable[Obj], infos: Mapping[str, NodeInfo], *, max_feasible: int | None = None,
) -> tuple[list[Binding], list[Unschedulable]]:
    """Place ``pods``, in the order given, on the nodes of ``infos``, booking each binding on its
    NodeInfo: the caller's ``infos`` are modified (a scheduler cache undoes the booking of a
    binding that fails to commit). Returns the bindings and the unschedulable pods.

    Deterministic: the same pods and infos give the same result. For each pod: take the nodes
    passing the static predicates (cached per nodeSelector + tolerations), scan them in
    node-name order, circularly, from the pod's own :func:`scan_offset`, with the dynamic
    predicates until ``max_feasible`` fit (default :func:`feasible_limit`: kube-scheduler's
    percentageOfNodesToScore, Nomad's limit iterator), pick the best weighted score, ties to
    the smallest node name. A pod that fits nowhere gets an :class:`Unschedulable` whose
    counts cover every node.

    The start is per pod, not a cursor that moves on by the nodes each pod scanned (as
    kube-scheduler's nextStartNodeIndex does): with a cursor, pods of one owner created
    interleaved with others at a fixed period see the same few windows of nodes every time,
    and spread piles them up there. From a per-pod start, least-allocated over 50 candidates
    still balances nodes to within a pod or two of each other (the power of many choices).

    Because nodes only fill up during a pass, a pod whose shape (constraints, requests,
    host ports) already failed in this pass fails again without a rescan and reuses that
    message (its counts may be slightly stale: a node may now fail for another resource).
    """
    ordered = [infos[name] for name in sorted(infos)]
    total = len(ordered)
    by_shape: dict[str, _Candidates] = {}
    failed: dict[tuple[Any, ...], Unschedulable] = {}
    bindings: list[Binding] = []
    unschedulable: list[Unschedulable] = []
    scorers = SCORERS
    dynamic = DYNAMIC_PREDICATES
    limit = max(1, feasible_limit(total) if max_feasible is None else max_feasible)

    for pod in pods:
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
        pool, size, scanned = cands.nodes, len(cands.nodes), 0
        first = bisect_left(cands.positions, scan_offset(pod) % total) % size if size else 0
        while scanned < size and len(found) < limit:
            ni = pool[(first + scanned) % size]
            scanned += 1
            for predicate in dynamic:
                if reason := predicate(info, ni):
                    rejected.append(reason)
                    break
            else:
                found.append(ni)
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
        bindings.append(Binding(pod, best.name, info))
    return bindings, unschedulable
