"""Samples every replica's Raft view into the timeline while a run goes on."""

from __future__ import annotations

import asyncio
import contextlib
import time

from chaos.cluster import ChaosCluster
from chaos.timeline import Sample, Timeline
from haplane.aio import wait_for


async def monitor(cluster: ChaosCluster, timeline: Timeline, stop: asyncio.Event, interval: float = 0.25) -> None:
    """Poll ``/cluster/self`` of every replica every ``interval`` s until ``stop`` is set.

    A replica that is dead, paused or silent for a poll is sampled as ``up=False``.
    """
    while not stop.is_set():
        statuses = await cluster.statuses()
        now = time.monotonic()
        for name, st in statuses.items():
            if st is None:
                timeline.samples.append(Sample(now, name, False))
            else:
                timeline.samples.append(Sample(now, name, True, st.get("role"), st.get("term"),
                                               cluster.name_of_raft(st.get("leader")), st.get("commitIndex"),
                                               st.get("appliedIndex")))
        with contextlib.suppress(TimeoutError):
            await wait_for(stop.wait(), interval)
