"""Garbage collection: dependents whose owners are all gone are deleted; old Events expire.

Ownership follows Kubernetes' ``metadata.ownerReferences``: an object is garbage once none of
the uids it names exists any more (background propagation). ``DELETE`` with
``propagationPolicy: Orphan`` strips the references first (in the API), so nothing is collected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from haplane.control.leader import ControlContext
from haplane.control.loops import level_triggered
from haplane.control.nodes import parse_time
from haplane.errors import Conflict, HaplaneError, NotFound
from haplane.store import commands

log = logging.getLogger(__name__)

OWNER_KINDS = ("Deployment", "Pod", "Node", "Service", "ConfigMap", "Namespace")
DEPENDENT_KINDS = ("Pod", "ConfigMap", "Endpoints", "Service")


def garbage(dependents: Iterable[tuple[str, dict]], live_uids: set[str]) -> list[tuple[str, dict]]:
    """Dependents (kind, obj) that have owner references and none of whose owners is alive. Pure."""
    out = []
    for kind, obj in dependents:
        refs = (obj.get("metadata") or {}).get("ownerReferences") or []
        if refs and not any(r.get("uid") in live_uids for r in refs):
            out.append((kind, obj))
    return out


def expired_events(events: Iterable[dict], now: float, ttl: float) -> list[dict]:
    """Events last seen more than ``ttl`` seconds before ``now``. Pure."""
    out = []
    for ev in events:
        seen = parse_time(ev.get("lastTimestamp") or (ev.get("metadata") or {}).get("creationTimestamp"))
        if seen is not None and now - seen > ttl:
            out.append(ev)
    return out


async def gc_step(ctx: ControlContext, *, event_ttl: float = 3600.0) -> None:
    fsm = ctx.store.fsm
    live: set[str] = set()
    for kind in OWNER_KINDS:
        live.update(o["metadata"].get("uid", "") for o in fsm.list(kind, None)[0])
    dependents = [(kind, o) for kind in DEPENDENT_KINDS for o in fsm.list(kind, None)[0]]
    doomed = garbage(dependents, live)
    events, _ = fsm.list("Event", None)
    doomed += [("Event", e) for e in expired_events(events, ctx.clock.now(), event_ttl)]
    await asyncio.gather(*(_delete(ctx, kind, obj) for kind, obj in doomed[:2000]))


async def _delete(ctx: ControlContext, kind: str, obj: dict) -> None:
    meta = obj["metadata"]
    try:
        await ctx.write(commands.delete(kind, meta.get("namespace", ""), meta["name"], uid=meta.get("uid")))
    except (Conflict, NotFound):
        pass
    except HaplaneError as exc:
        log.info("garbage collection of %s %s failed: %s", kind, meta["name"], exc)


async def gc_loop(ctx: ControlContext, *, event_ttl: float = 3600.0) -> None:
    async def step(c: ControlContext) -> None:
        await gc_step(c, event_ttl=event_ttl)
    step.__name__ = "gc_step"
    await level_triggered(ctx, OWNER_KINDS, step, resync=30.0, settle=0.2)
