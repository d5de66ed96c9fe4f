"""What controllers ask of a pod: is it active, ready, available, whose is it. Pure.

Active (Kubernetes' ``FilterActivePods``): not Succeeded/Failed and no deletionTimestamp.
Ready: the Ready condition is "True". Available: ready for at least ``minReadySeconds`` at
``now`` (since the condition's lastTransitionTime; a missing time counts as long ago).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

__all__ = ["Obj", "parse_time", "ready_since", "is_ready", "is_available", "is_active", "is_terminal",
           "controller_uid", "owned_by", "meta"]

Obj = Mapping[str, Any]
TERMINAL = frozenset({"Succeeded", "Failed"})


def meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def parse_time(text: str | None) -> float | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else None
    except ValueError:
        return None


def ready_since(pod: Obj) -> float | None:
    """When the pod became ready (``-inf`` if unknown), or None when it is not ready."""
    for cond in (pod.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "Ready":
            if cond.get("status") != "True":
                return None
            since = parse_time(cond.get("lastTransitionTime"))
            return -math.inf if since is None else since
    return None


def is_ready(pod: Obj) -> bool:
    """The pod's Ready condition is "True"."""
    return ready_since(pod) is not None


def is_available(pod: Obj, now: float, min_ready_seconds: float = 0) -> bool:
    """Ready, and ready for at least ``min_ready_seconds`` at ``now``."""
    since = ready_since(pod)
    return since is not None and (min_ready_seconds <= 0 or since + min_ready_seconds <= now)


def is_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in TERMINAL


def is_active(pod: Obj) -> bool:
    return not is_terminal(pod) and not meta(pod).get("deletionTimestamp")


def controller_uid(obj: Obj) -> str | None:
    """The uid of the object's controller (the ownerReference with ``controller: true``)."""
    for ref in meta(obj).get("ownerReferences") or ():
        if ref.get("controller"):
            return ref.get("uid")
    return None


def owned_by(objs: Iterable[Obj], uid: str | None) -> list[Obj]:
    """The objects whose controller is ``uid``."""
    return [o for o in objs if uid is not None and controller_uid(o) == uid]


def available_again_in(pods: Iterable[Obj], min_ready: float, now: float) -> float | None:
    """Seconds until the next ready pod becomes available (None: none is waiting)."""
    if min_ready <= 0:
        return None
    waits = [since + min_ready - now for p in pods if (since := ready_since(p)) is not None
             and since + min_ready > now]
    return min(waits) if waits else None
