"""The ReplicaSet controller's loop: applies :func:`haplane.control.reconcile.replicaset.reconcile` plans.

For every ReplicaSet: read the pods of its namespace, ask the pure reconcile for the next step
and apply it — adopt / release pods (resourceVersion precondition), create pods, delete pods
(uid precondition), write the status — every write fenced by the leader's epoch and awaited
before the next step; a write whose outcome was unknown is settled before the next step
(:meth:`ControlContext.settle`), so no step counts pods on a view that may lack its own writes.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from typing import Any

from haplane.control.events import record_event
from haplane.control.leader import ControlContext
from haplane.control.loops import level_triggered
from haplane.control.reconcile.podtemplate import controller_ref, random_suffixes
from haplane.control.reconcile.replicaset import ReplicaSetPlan, reconcile
from haplane.errors import AlreadyExists, Conflict, HaplaneError, NotFound
from haplane.store import commands
from haplane.store.fsm import Change

log = logging.getLogger(__name__)
_EXPECTED = (AlreadyExists, Conflict, NotFound)  # the world moved: the next step sees it


async def replicaset_step(ctx: ControlContext) -> float | None:
    fsm = ctx.store.fsm
    replicasets, _ = fsm.list("ReplicaSet", None)
    rng: random.Random = ctx.shared.setdefault("rs-rng", random.Random())
    requeue: list[float] = []
    pods_of: dict[str, list[dict]] = {}
    for rs in replicasets:
        ns = rs["metadata"]["namespace"]
        if ns not in pods_of:
            pods_of[ns] = fsm.list("Pod", ns)[0]
        plan = reconcile(rs, pods_of[ns], ctx.clock.now(), new_names=random_suffixes(rng))
        try:
            if await apply_plan(ctx, rs, plan):
                pods_of.pop(ns)  # this namespace's pods changed: read them again for the next one
        except _EXPECTED:
            continue
        except HaplaneError as exc:
            log.info("replicaset %s/%s: %s", ns, rs["metadata"]["name"], exc)
            continue
        if plan.requeue_after is not None:
            requeue.append(plan.requeue_after)
    return min(requeue) if requeue else None


def _owner_refs(pod: dict, rs: dict, adopt: bool) -> dict:
    refs = [r for r in pod["metadata"].get("ownerReferences") or [] if r.get("uid") != rs["metadata"]["uid"]]
    if adopt:
        refs.append(controller_ref(rs))
    meta = {k: v for k, v in pod["metadata"].items() if k != "ownerReferences"}
    if refs:
        meta["ownerReferences"] = refs
    return dict(pod, metadata=meta)


async def apply_plan(ctx: ControlContext, rs: dict, plan: ReplicaSetPlan) -> bool:
    """Apply one plan; True when any pod was written. Adoptions and releases go first (they
    decide what the creates and deletes were counted against), then creates and deletes
    together, then the status and one Event per kind of action."""
    meta = rs["metadata"]
    ns, name = meta["namespace"], meta["name"]
    for pod, adopt in [(p, True) for p in plan.adopt] + [(p, False) for p in plan.release]:
        pm = pod["metadata"]
        await ctx.write(commands.update("Pod", ns, pm["name"], _owner_refs(pod, rs, adopt),
                                        rv=pm["resourceVersion"], uid=pm["uid"]))
    writes: list[Any] = []
    for pod in plan.create:
        pod["metadata"]["uid"] = str(uuid.uuid4())
        writes.append(ctx.write(commands.create("Pod", ns, pod)))
    for d in plan.delete:
        pm = d.pod["metadata"]
        writes.append(ctx.write(commands.delete("Pod", ns, pm["name"], uid=pm["uid"])))
    results = await asyncio.gather(*writes, return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException) and not isinstance(r, _EXPECTED):
            log.info("replicaset %s/%s: a pod write failed: %s", ns, name, r)
    created = [p["metadata"]["name"] for p, r in zip(plan.create, results, strict=False)
               if not isinstance(r, BaseException)]
    deleted = [d.pod["metadata"]["name"] for d, r in zip(plan.delete, results[len(plan.create):], strict=True)
               if not isinstance(r, BaseException)]
    current = ctx.store.fsm.get("ReplicaSet", ns, name)
    if current is not None and current["metadata"]["uid"] == meta["uid"] and plan.status != current.get("status"):
        await ctx.write(commands.update("ReplicaSet", ns, name, dict(current, status=plan.status), status=True,
                                        rv=current["metadata"]["resourceVersion"]))
    if created:
        await record_event(ctx, rs, "SuccessfulCreate", f"Created pod(s): {', '.join(created)}",
                           component="replicaset-controller")
    if deleted:
        await record_event(ctx, rs, "SuccessfulDelete", f"Deleted pod(s): {', '.join(deleted)}",
                           component="replicaset-controller")
    return bool(plan.adopt or plan.release or created or deleted)


def counts_may_change(change: Change) -> bool:
    """Whether a change can matter to a controller that counts pods: any change of another
    kind; of a pod, anything but a write that leaves its status, labels, owners and deletion
    alone (a binding)."""
    if change.kind != "Pod" or change.type != "MODIFIED" or change.prev is None:
        return True
    new, old = change.obj.get("metadata") or {}, change.prev.get("metadata") or {}
    return (change.obj.get("status") != change.prev.get("status") or new.get("labels") != old.get("labels")
            or new.get("ownerReferences") != old.get("ownerReferences")
            or new.get("deletionTimestamp") != old.get("deletionTimestamp"))


async def replicaset_loop(ctx: ControlContext) -> None:
    await level_triggered(ctx, ("ReplicaSet", "Pod"), replicaset_step, relevant=counts_may_change)
