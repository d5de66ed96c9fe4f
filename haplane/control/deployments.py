"""The Deployment controller's loop: applies :func:`haplane.control.reconcile.deployment.reconcile` plans.

For every Deployment: read its pods and its revision history (ConfigMap ``<name>-history``,
owned by the Deployment so garbage collection removes it with it), ask the pure reconcile for
the next step, and apply it — create pods, delete pods (uid precondition), write status,
the revision annotation and the history — every write fenced by the leader's epoch. All writes
of a step are awaited before the next step, and the leader applies its own writes before they
are acknowledged, so the next step always sees them: no action is ever taken twice.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid

from haplane.control.events import record_event
from haplane.control.leader import ControlContext
from haplane.control.loops import level_triggered
from haplane.control.reconcile.deployment import Plan, history_from_data, history_to_data, reconcile
from haplane.control.reconcile.podtemplate import REVISION_ANNOTATION, random_suffixes
from haplane.errors import AlreadyExists, Conflict, HaplaneError, NotFound
from haplane.store import commands

log = logging.getLogger(__name__)


def history_name(deployment: str) -> str:
    return f"{deployment}-history"


async def deployment_step(ctx: ControlContext) -> float | None:
    fsm = ctx.store.fsm
    deployments, _ = fsm.list("Deployment", None)
    rng: random.Random = ctx.shared.setdefault("rng", random.Random())
    requeue: list[float] = []
    for dep in deployments:
        meta = dep["metadata"]
        if meta.get("deletionTimestamp"):
            continue  # being deleted (in the foreground): the garbage collector takes its pods, nothing new
        ns = meta["namespace"]
        cm = fsm.get("ConfigMap", ns, history_name(meta["name"]))
        history = history_from_data((cm or {}).get("data"))
        pods, _ = fsm.list("Pod", ns)
        plan = reconcile(dep, pods, ctx.clock.now(), new_names=random_suffixes(rng), history=history)
        try:
            await apply_plan(ctx, dep, plan, history, cm)
        except (Conflict, NotFound):
            continue  # changed under us: the next step sees the new state
        except HaplaneError as exc:
            log.info("deployment %s/%s: %s", ns, meta["name"], exc)
            continue
        if plan.requeue_after is not None:
            requeue.append(plan.requeue_after)
    return min(requeue) if requeue else None


async def apply_plan(ctx: ControlContext, dep: dict, plan: Plan, history: list, cm: dict | None) -> None:
    meta = dep["metadata"]
    ns, name = meta["namespace"], meta["name"]
    if plan.history != history:
        await _store_history(ctx, dep, plan.history, cm)
    annotations = meta.get("annotations") or {}
    if plan.revision and annotations.get(REVISION_ANNOTATION) != str(plan.revision):
        new_meta = dict(meta, annotations=dict(annotations, **{REVISION_ANNOTATION: str(plan.revision)}))
        dep = await ctx.write(commands.update("Deployment", ns, name, dict(dep, metadata=new_meta),
                                              rv=meta["resourceVersion"], uid=meta["uid"]))
    writes = []
    for pod in plan.create:
        pod["metadata"]["uid"] = str(uuid.uuid4())
        writes.append(ctx.write(commands.create("Pod", ns, pod)))
    for d in plan.delete:
        pm = d.pod["metadata"]
        writes.append(ctx.write(commands.delete("Pod", ns, pm["name"], uid=pm["uid"])))
    results = await asyncio.gather(*writes, return_exceptions=True)
    created = sum(1 for r in results[:len(plan.create)] if not isinstance(r, BaseException))
    deleted = sum(1 for r in results[len(plan.create):] if not isinstance(r, BaseException))
    for r in results:
        if isinstance(r, BaseException) and not isinstance(r, (AlreadyExists, Conflict, NotFound)):
            log.info("deployment %s/%s: a pod write failed: %s", ns, name, r)
    if plan.status and plan.status != dep.get("status"):
        current = ctx.store.fsm.get("Deployment", ns, name) or dep
        await ctx.write(commands.update("Deployment", ns, name, dict(current, status=plan.status), status=True,
                                        rv=current["metadata"]["resourceVersion"]))
    if created or deleted:
        want = (dep.get("spec") or {}).get("replicas", 1)
        parts = [f"created {created} pod(s)"] if created else []
        parts += [f"deleted {deleted} pod(s)"] if deleted else []
        await record_event(ctx, dep, "ScalingReplicaSet",
                           f"Deployment {name} (revision {plan.revision}, {want} replicas): {', '.join(parts)}",
                           component="deployment-controller")


async def _store_history(ctx: ControlContext, dep: dict, history: list, cm: dict | None) -> None:
    meta = dep["metadata"]
    data = history_to_data(history)
    if cm is not None:
        await ctx.write(commands.update("ConfigMap", meta["namespace"], cm["metadata"]["name"], dict(cm, data=data),
                                        rv=cm["metadata"]["resourceVersion"]))
        return
    obj = {"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": history_name(meta["name"]), "namespace": meta["namespace"],
                        "uid": str(uuid.uuid4()), "creationTimestamp": ctx.timestamp(),
                        "labels": {"haplane.io/history-of": meta["name"]},
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": meta["name"],
                                             "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}]},
           "data": data}
    await ctx.write(commands.create("ConfigMap", meta["namespace"], obj))


async def deployment_loop(ctx: ControlContext) -> None:
    await level_triggered(ctx, ("Deployment", "Pod"), deployment_step)
