"""The scheduler's loop: pending pods → :func:`haplane.control.scheduler.select.place` → bindings.

The loop keeps a :class:`~haplane.control.scheduler.cache.SchedulerCache` (node usage and the
pending pods) up to date from the store's change feed, so a step costs what the pods it places
cost, not a pass over every pod in the cluster. Each placement is *assumed* in the cache at
once (the next pod sees the node fuller) and undone if its binding fails.

Bindings are pod updates setting ``spec.nodeName`` with a CAS on the pod's resourceVersion and
uid and the leader's epoch, written concurrently so group commit batches them into few Raft entries.
A pod that fits nowhere gets a ``PodScheduled=False`` condition counting the reasons, and an
Event — both only when the message changes, so a stuck pod does not flood the log. The loop is
level-triggered on Pods and Nodes, so an unschedulable pod is retried whenever either changes.
"""

from __future__ import annotations

import asyncio
import logging
import time

from haplane.control.events import EventEmitter, record_event
from haplane.control.leader import ControlContext
from haplane.control.loops import control_metrics, level_triggered
from haplane.control.scheduler.cache import SchedulerCache, is_pending
from haplane.control.scheduler.select import Binding, Unschedulable, creation_order, place
from haplane.errors import Conflict, HaplaneError, NotFound
from haplane.store import commands

log = logging.getLogger(__name__)

COMPONENT = "haplane-scheduler"
MAX_PER_STEP = 5_000  # bound one step's work; the next step picks up the rest at once


def pending(pods: list[dict]) -> list[dict]:
    return [p for p in pods if is_pending(p)]


async def scheduler_step(ctx: ControlContext, cache: SchedulerCache | None = None,
                         events: EventEmitter | None = None) -> float | None:
    """Place the pending pods (oldest first, at most MAX_PER_STEP; those that fit nowhere are
    parked until something changes) and write the outcome.

    ``cache`` must be fed the store's changes (see :func:`scheduler_loop`); a stale or missing
    one is (re)loaded from the local state first. The ``Scheduled`` Event of each binding goes
    to ``events`` once the binding committed, and the step does not wait for it (without an
    emitter, each binding waits for its Event).
    """
    fsm = ctx.store.fsm
    if cache is None:
        cache = SchedulerCache()
    if cache.stale:
        with fsm.lock:  # one consistent cut: the nodes and pods of one revision
            nodes, rev = fsm.list("Node", "")
            pods, _ = fsm.list("Pod", None)
        cache.load(nodes, pods, rev)
    todo = creation_order(cache.schedulable())
    metrics = control_metrics(ctx)
    metrics.pending_pods.labels("active").set(len(todo))
    metrics.pending_pods.labels("unschedulable").set(len(cache.pending) - len(todo))
    if events is not None:
        metrics.queue_depth.labels("scheduler-events").set(events.queued)
    if not todo:
        return None
    try:
        start = time.perf_counter()
        bindings, failures = place(todo[:MAX_PER_STEP], cache.nodes)
        metrics.algorithm.observe(time.perf_counter() - start)
        metrics.attempts.labels("unschedulable").inc(len(failures))
        for b in bindings:
            cache.assume(b.pod, b.node_name, b.info)
        for u in failures:
            cache.park(u.pod)  # now, not after the writes: a change meanwhile must unpark it
    except Exception:
        cache.stale = True  # bookings half made: start over from the store
        raise
    await asyncio.gather(*(bind(ctx, cache, b, events) for b in bindings),
                         *(mark_unschedulable(ctx, u) for u in failures))
    # More than MAX_PER_STEP pending: come back at once rather than at the next change.
    return 0.0 if len(todo) > MAX_PER_STEP else None


async def bind(ctx: ControlContext, cache: SchedulerCache, b: Binding, events: EventEmitter | None = None) -> None:
    pod = b.pod
    meta = pod["metadata"]
    spec = dict(pod["spec"], nodeName=b.node_name)
    metrics = control_metrics(ctx)
    try:
        # One write: the node's agent reports PodScheduled=True with the rest of the status.
        await ctx.write(commands.update("Pod", meta["namespace"], meta["name"], dict(pod, spec=spec),
                                        rv=meta["resourceVersion"], uid=meta["uid"]))
    except (Conflict, NotFound):
        metrics.bindings.labels("conflict").inc()
        cache.forget(pod)  # the pod changed or went away; the next step sees it as it is now
        return
    except HaplaneError as exc:
        metrics.bindings.labels("error").inc()
        metrics.attempts.labels("error").inc()
        cache.forget(pod)
        log.info("binding %s/%s failed: %s", meta["namespace"], meta["name"], exc)
        return
    metrics.bindings.labels("ok").inc()
    metrics.attempts.labels("scheduled").inc()
    message = f"Successfully assigned {meta['namespace']}/{meta['name']} to {b.node_name}"
    if events is not None:
        events.emit(pod, "Scheduled", message)
    else:
        await record_event(ctx, pod, "Scheduled", message, component=COMPONENT)


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
    await record_event(ctx, pod, "FailedScheduling", u.message, "Warning", component=COMPONENT)


def _with_condition(conditions: list[dict] | None, cond: dict) -> list[dict]:
    return [c for c in conditions or [] if c.get("type") != cond["type"]] + [cond]


async def scheduler_loop(ctx: ControlContext) -> None:
    cache = SchedulerCache()
    events = EventEmitter(ctx, component=COMPONENT)
    # Listen before the first load: every change after the loaded revision reaches the cache.
    unlisten = ctx.store.hub.listen(cache.apply)

    async def step(c: ControlContext) -> float | None:
        return await scheduler_step(c, cache, events)
    step.__name__ = "scheduler_step"
    try:
        await level_triggered(ctx, ("Pod", "Node"), step)
    finally:
        unlisten()
        await events.close()
        control_metrics(ctx).loop_stopped()
