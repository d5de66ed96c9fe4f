"""Ranking: how good is this feasible node for this pod? Each scorer returns 0..1 (higher is better).

Scorers are pure; ``pod`` is a Pod dict or a :class:`~.predicates.PodInfo`, and the node's
usage is read *before* the pod is placed. :data:`SCORERS` pairs each with its weight; the
scheduler sums ``weight * score``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from haplane.control.scheduler.predicates import NodeInfo, PodInfo, as_pod_info

__all__ = ["least_allocated", "spread", "SCORERS", "Scorer"]

Scorer = Callable[[Any, NodeInfo], float]


def _free_fraction(allocatable: int, requested: int) -> float:
    return 0.0 if allocatable <= 0 else max(0.0, (allocatable - requested) / allocatable)


def least_allocated(pod: Any | PodInfo, ni: NodeInfo) -> float:
    """Mean of the free cpu and memory fractions left on the node after placing the pod."""
    info = as_pod_info(pod)
    return (_free_fraction(ni.allocatable_cpu, ni.requested_cpu + info.cpu)
            + _free_fraction(ni.allocatable_memory, ni.requested_memory + info.memory)) / 2


def spread(pod: Any | PodInfo, ni: NodeInfo) -> float:
    """``1 / (1 + n)`` where n = pods of the same controller owner already on the node.

    A pod without a controller owner scores 1 everywhere (it has nothing to spread from).
    """
    uid = as_pod_info(pod).owner_uid
    return 1.0 if uid is None else 1.0 / (1 + ni.owner_counts.get(uid, 0))


SCORERS: tuple[tuple[Scorer, float], ...] = ((least_allocated, 1.0), (spread, 1.0))
