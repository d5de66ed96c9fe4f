"""The controller manager: which control loops the leader runs, with their settings."""

from __future__ import annotations

import functools
import os

from haplane.api.app import Replica
from haplane.control.deployments import deployment_loop
from haplane.control.endpoints import endpoints_loop
from haplane.control.gc import gc_loop
from haplane.control.leader import ControlContext, Loop
from haplane.control.nodes import node_lifecycle_loop
from haplane.control.replicasets import replicaset_loop
from haplane.control.scheduling import scheduler_loop


def _seconds(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def control_loops(replica: Replica) -> dict[str, Loop]:
    """The loops, each bound to this replica's shared leader memory (heartbeats, metrics)."""
    shared = {"heartbeats": replica.extra["heartbeats"], "metrics": replica.metrics.control}

    def with_shared(loop: Loop) -> Loop:
        async def run(ctx: ControlContext) -> None:
            ctx.shared.update(shared)
            await loop(ctx)
        return run

    return {
        "node-lifecycle": with_shared(functools.partial(
            node_lifecycle_loop, grace=_seconds("HAPLANE_NODE_GRACE", 5.0),
            eviction_delay=_seconds("HAPLANE_EVICTION_DELAY", 2.0))),
        "scheduler": with_shared(scheduler_loop),
        "deployments": with_shared(deployment_loop),
        "replicasets": with_shared(replicaset_loop),
        "endpoints": with_shared(endpoints_loop),
        "garbage-collector": with_shared(functools.partial(gc_loop, event_ttl=_seconds("HAPLANE_EVENT_TTL", 3600.0))),
    }
