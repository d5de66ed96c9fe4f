"""Garbage collection: dependents whose owners are all gone are deleted; old Events expire.

Ownership follows Kubernetes' ``metadata.ownerReferences``: an object is garbage once none of
the uids it names exists any more (background propagation). ``DELETE`` with
``propagationPolicy: Orphan`` strips the references first (in the API), so nothing is collected.

Foreground propagation (``propagationPolicy: Foreground``): the API gives the owner a
``deletionTimestamp`` and the ``foregroundDeletion`` finalizer and leaves it in place. The
collector then deletes the owner's blocking dependents (``blockOwnerDeletion: true``) — those
that have dependents of their own in the foreground too, so a Deployment's ReplicaSets go after
their Pods — and once none is left it deletes the owner (finalizer and object at once, with a
uid and resourceVersion precondition). Non-blocking dependents then go as ordinary garbage.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from haplane.control.leader import ControlContext
from haplane.control.loops import level_triggered
from haplane.control.nodes import parse_time
from haplane.errors import Conflict, HaplaneError, NotFound
from haplane.model import registry
from haplane.model.ownership import FOREGROUND, in_foreground_deletion
from haplane.store import commands
from haplane.store.fsm import Change

log = logging.getLogger(__name__)

OWNER_KINDS = ("Deployment", "ReplicaSet", "Pod", "Node", "Service", "ConfigMap", "Namespace")
DEPENDENT_KINDS = ("ReplicaSet", "Pod", "ConfigMap", "Endpoints", "Service")
_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_CANONICAL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def garbage(dependents: Iterable[tuple[str, dict]], live_uids: set[str]) -> list[tuple[str, dict]]:
    """Dependents (kind, obj) that have owner references and none of whose owners is alive. Pure."""
    out = []
    for kind, obj in dependents:
        refs = (obj.get("metadata") or {}).get("ownerReferences") or []
        if refs and not any(r.get("uid") in live_uids for r in refs):
            out.append((kind, obj))
    return out


def expired_events(events: Iterable[dict], now: float, ttl: float) -> list[dict]:
    """Events last seen more than ``ttl`` seconds before ``now``. Pure.

    Timestamps in the form the control plane writes (``2006-01-02T15:04:05Z``) sort as text,
    so they are compared with the cutoff as strings; only other forms are parsed (tens of
    thousands of events are checked on every pass).
    """
    cutoff = now - ttl
    cutoff_text = datetime.fromtimestamp(math.ceil(cutoff), UTC).strftime(_FORMAT)  # seen < cutoff, in whole seconds
    out = []
    for ev in events:
        text = ev.get("lastTimestamp") or (ev.get("metadata") or {}).get("creationTimestamp")
        if isinstance(text, str) and _CANONICAL.fullmatch(text):
            if text < cutoff_text:
                out.append(ev)
            continue
        seen = parse_time(text)
        if seen is not None and seen < cutoff:
            out.append(ev)
    return out


@dataclass(frozen=True)
class ForegroundPlan:
    delete: list[tuple[str, dict]]     # leaf dependents of owners being deleted in the foreground
    mark: list[tuple[str, dict]]       # dependents with dependents: into foreground deletion themselves
    finish: list[tuple[str, dict]]     # owners whose blocking dependents are all gone


def foreground(objects: Iterable[tuple[str, dict]]) -> ForegroundPlan:
    """What foreground deletion does next, over every (kind, obj) that can own or depend. Pure."""
    objects = list(objects)
    dependents: dict[str, list[tuple[str, dict, bool]]] = {}
    for kind, obj in objects:
        for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
            dependents.setdefault(str(ref.get("uid")), []).append((kind, obj, bool(ref.get("blockOwnerDeletion"))))
    plan = ForegroundPlan([], [], [])
    seen: set[str] = set()
    for kind, owner in objects:
        if not in_foreground_deletion(owner):
            continue
        blocking = [(k, o) for k, o, block in dependents.get(owner["metadata"].get("uid", ""), []) if block]
        if not blocking:
            plan.finish.append((kind, owner))
            continue
        for dep_kind, dep in blocking:
            uid = dep["metadata"].get("uid", "")
            if uid in seen or (dep.get("metadata") or {}).get("deletionTimestamp"):
                continue  # already going (or a pod terminating): wait for it
            seen.add(uid)
            (plan.mark if dependents.get(uid) else plan.delete).append((dep_kind, dep))
    return plan


def makes_garbage(change: Change) -> bool:
    """Can this change turn something into garbage? An owner deleted, or a dependent created
    or re-parented with owner references (whose owners may be gone already). Status writes,
    bindings and the like cannot: they need no collection pass (the periodic resync still
    runs, for Event expiry)."""
    if change.type == "DELETED":
        return change.kind in OWNER_KINDS or change.kind in DEPENDENT_KINDS or in_foreground_deletion(change.obj)
    if in_foreground_deletion(change.obj):
        return True
    if change.kind not in DEPENDENT_KINDS:
        return False
    refs = (change.obj.get("metadata") or {}).get("ownerReferences")
    before = ((change.prev or {}).get("metadata") or {}).get("ownerReferences")
    return bool(refs) and (change.type == "ADDED" or refs != before)


async def gc_step(ctx: ControlContext, *, event_ttl: float = 3600.0) -> None:
    fsm = ctx.store.fsm
    live: set[str] = set()
    for kind in OWNER_KINDS:
        live.update(o["metadata"].get("uid", "") for o in fsm.list(kind, None)[0])
    dependents = [(kind, o) for kind in DEPENDENT_KINDS for o in fsm.list(kind, None)[0]]
    doomed = garbage(dependents, live)
    owners = [(kind, o) for kind in OWNER_KINDS if kind not in DEPENDENT_KINDS for o in fsm.list(kind, None)[0]]
    # Any kind may be deleted in the foreground; those that own nothing need only their finish.
    others = [(kind, o) for kind in sorted(fsm.kinds()) if kind not in OWNER_KINDS and kind not in DEPENDENT_KINDS
              for o in fsm.list(kind, None)[0] if in_foreground_deletion(o)]
    plan = foreground(owners + dependents + others)
    doomed += plan.delete
    await asyncio.gather(*(_mark_foreground(ctx, kind, obj) for kind, obj in plan.mark),
                         *(_delete(ctx, kind, obj, rv=True) for kind, obj in plan.finish))
    events, _ = fsm.list("Event", None)
    doomed += [("Event", e) for e in expired_events(events, ctx.clock.now(), event_ttl)]
    await asyncio.gather(*(_delete(ctx, kind, obj) for kind, obj in doomed[:2000]))


async def _delete(ctx: ControlContext, kind: str, obj: dict, *, rv: bool = False) -> None:
    meta = obj["metadata"]
    try:
        await ctx.write(commands.delete(kind, meta.get("namespace", ""), meta["name"], uid=meta.get("uid"),
                                        rv=meta.get("resourceVersion") if rv else None))
    except (Conflict, NotFound):
        pass
    except HaplaneError as exc:
        log.info("garbage collection of %s %s failed: %s", kind, meta["name"], exc)


async def _mark_foreground(ctx: ControlContext, kind: str, obj: dict) -> None:
    meta = obj["metadata"]
    new_meta = dict(meta, deletionTimestamp=ctx.timestamp(),
                    finalizers=[*(meta.get("finalizers") or []), FOREGROUND])
    try:
        await ctx.write(commands.update(kind, meta.get("namespace", ""), meta["name"], dict(obj, metadata=new_meta),
                                        rv=meta.get("resourceVersion"), uid=meta.get("uid")))
    except (Conflict, NotFound):
        pass
    except HaplaneError as exc:
        log.info("foreground deletion of %s %s failed: %s", kind, meta["name"], exc)


async def gc_loop(ctx: ControlContext, *, event_ttl: float = 3600.0) -> None:
    async def step(c: ControlContext) -> None:
        await gc_step(c, event_ttl=event_ttl)
    step.__name__ = "gc_step"
    await level_triggered(ctx, tuple(registry.KINDS), step, resync=30.0, settle=0.2, relevant=makes_garbage)
