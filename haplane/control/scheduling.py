"""The scheduler's loop: pending pods → :func:`haplane.control.scheduler.select.schedule` → bindings.

Bindings are pod updates setting ``spec.nodeName`` with a CAS on the pod's resourceVersion and
the leader's epoch, written concurrently so group commit batches them into few Raft entries.
A pod that fits nowhere gets a ``PodScheduled=False`` condition counting the reasons, and an
Event — both only when the message changes, so a stuck pod does not flood the log. The loop is
level-triggered on Pods and Nodes, so an unschedulable pod is retried whenever either changes.
"""

from __future__ import annotations

import asyncio
import logging

from haplane.control.events import record_event
from haplane.control.leader import ControlContext
from haplane.control.loops import level_triggered
from haplane.control.scheduler.select import Binding, Unschedulable, schedule
from haplane.errors import Conflict, HaplaneError, NotFound
from haplane.store import commands

log = logging.getLogger(__name__)

TERMINAL = frozenset({"Succeeded", "Failed"})
MAX_PER_STEP = 5_000  # bound one step's work; the next step picks up the rest at once


def pending(pods: list[dict]) -> list[dict]:
    return [p for p in pods if not (p.get("spec") or {}).get("nodeName")
            and (p.get("status") or {}).get("phase") not in TERMINAL
            and not (p.get("metadata") or {}).get("deletionTimestamp")]


async def scheduler_step(ctx: ControlContext) -> None:
    fsm = ctx.store.fsm
    pods, _ = fsm.list("Pod", None)
    todo = pending(pods)
    if not todo:
        return
    nodes, _ = fsm.list("Node", "")
    bindings, failures = schedule(todo[:MAX_PER_STEP], nodes, pods)
    # More than MAX_PER_STEP pending: our own writes change Pods, which triggers the next step.
    await asyncio.gather(*(bind(ctx, b) for b in bindings), *(mark_unschedulable(ctx, u) for u in failures))


async def bind(ctx: ControlContext, b: Binding) -> None:
    pod = b.pod
    meta = pod["metadata"]
    spec = dict(pod["spec"], nodeName=b.node_name)
    try:
        # One write: the node's agent reports PodScheduled=True with the rest of the status.
        await ctx.write(commands.update("Pod", meta["namespace"], meta["name"], dict(pod, spec=spec),
                                        rv=meta["resourceVersion"], uid=meta["uid"]))
    except (Conflict, NotFound):
        return  # the pod changed or went away; the next step sees it as it is now
    except HaplaneError as exc:
        log.info("binding %s/%s failed: %s", meta["namespace"], meta["name"], exc)
        return
    await record_event(ctx, pod, "Scheduled", f"Successfully assigned {meta['namespace']}/{meta['name']} "
                                              f"to {b.node_name}", component="haplane-scheduler")


async def mark_unschedulable(ctx: ControlContext, u: Unschedulable) -> None:
    pod = u.pod
    meta = pod["metadata"]
    status = dict(pod.get("status") or {})
    current = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None)
    if current is not None and current.get("message") == u.message:
        return
    status["conditions"] = _with_condition(status.get("conditions"), {
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": u.message,
        "lastTransitionTime": ctx.timestamp()})
    status.setdefault("phase", "Pending")
    try:
        await ctx.write(commands.update("Pod", meta["namespace"], meta["name"], dict(pod, status=status),
                                        status=True, rv=meta["resourceVersion"]))
    except (Conflict, NotFound):
        return
    except HaplaneError as exc:
        log.info("marking %s/%s unschedulable failed: %s", meta["namespace"], meta["name"], exc)
        return
    await record_event(ctx, pod, "FailedScheduling", u.message, "Warning", component="haplane-scheduler")


def _with_condition(conditions: list[dict] | None, cond: dict) -> list[dict]:
    return [c for c in conditions or [] if c.get("type") != cond["type"]] + [cond]


async def scheduler_loop(ctx: ControlContext) -> None:
    await level_triggered(ctx, ("Pod", "Node"), scheduler_step)
