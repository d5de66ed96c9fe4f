"""The Deployment controller's loop: applies :func:`haplane.control.reconcile.deployment.reconcile` plans.

For every Deployment: read the ReplicaSets and pods of its namespace, ask the pure reconcile
for the next step, and apply it — create the new ReplicaSet, write the ReplicaSets it scales
(resourceVersion precondition: a ReplicaSet changed under us is a Conflict and the next step
looks again), delete the ReplicaSets past ``revisionHistoryLimit`` (uid precondition), set the
revision annotation, write the status — every write fenced by the leader's epoch. All writes
of a step are awaited before the next step (see :mod:`haplane.control.loops` for why that,
with :meth:`ControlContext.settle`, means no step acts on a stale view of its own writes).
"""

from __future__ import annotations

import logging
import uuid

from haplane.control.events import record_event
from haplane.control.leader import ControlContext
from haplane.control.loops import level_triggered
from haplane.control.reconcile.deployment import Plan, reconcile
from haplane.control.replicasets import counts_may_change
from haplane.errors import AlreadyExists, Conflict, HaplaneError, NotFound
from haplane.store import commands

log = logging.getLogger(__name__)


async def deployment_step(ctx: ControlContext) -> float | None:
    fsm = ctx.store.fsm
    deployments, _ = fsm.list("Deployment", None)
    requeue: list[float] = []
    for dep in deployments:
        ns = dep["metadata"]["namespace"]
        replicasets, _ = fsm.list("ReplicaSet", ns)
        pods, _ = fsm.list("Pod", ns)
        plan = reconcile(dep, replicasets, pods, ctx.clock.now())
        try:
            await apply_plan(ctx, dep, plan)
        except (Conflict, NotFound, AlreadyExists):
            continue  # changed under us: the next step sees the new state
        except HaplaneError as exc:
            log.info("deployment %s/%s: %s", ns, dep["metadata"]["name"], exc)
            continue
        if plan.requeue_after is not None:
            requeue.append(plan.requeue_after)
    return min(requeue) if requeue else None


async def apply_plan(ctx: ControlContext, dep: dict, plan: Plan) -> None:
    """Apply one plan in order; the first failing write stops it (the next step starts over)."""
    meta = dep["metadata"]
    ns, name = meta["namespace"], meta["name"]
    if plan.create is not None:
        rs = plan.create
        rs["metadata"]["uid"] = str(uuid.uuid4())
        await ctx.write(commands.create("ReplicaSet", ns, rs))
    for rs in plan.update:
        rm = rs["metadata"]
        await ctx.write(commands.update("ReplicaSet", ns, rm["name"], rs, rv=rm["resourceVersion"], uid=rm["uid"]))
    for rs in plan.delete:
        rm = rs["metadata"]
        try:
            await ctx.write(commands.delete("ReplicaSet", ns, rm["name"], uid=rm["uid"]))
        except NotFound:
            pass
    current = dep
    if plan.annotations is not None:
        current = await ctx.write(commands.update(
            "Deployment", ns, name, dict(dep, metadata=dict(meta, annotations=plan.annotations)),
            rv=meta["resourceVersion"], uid=meta["uid"]))
    if plan.status != (current.get("status") or {}):
        await ctx.write(commands.update("Deployment", ns, name, dict(current, status=plan.status), status=True,
                                        rv=current["metadata"]["resourceVersion"]))
    for reason, message in plan.events:
        await record_event(ctx, dep, reason, message, component="deployment-controller")


async def deployment_loop(ctx: ControlContext) -> None:
    await level_triggered(ctx, ("Deployment", "ReplicaSet", "Pod"), deployment_step, relevant=counts_may_change)
