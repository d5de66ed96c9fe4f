"""Resource usage of this agent's nodes, sampled periodically and served as ``/stats/summary``.

Every ``period`` seconds :class:`StatsCollector` reads each running container of each node
through its runtime (``Runtime.usage``: /proc for the process runtime, the engine's one-shot
stats for Docker) and the agent process itself (/proc/self), keeping the last two readings
of each (:class:`node_agent.usage.Windows`). A container appears once it has two readings.

``summary(node)`` answers in the shape of the kubelet's Summary API (``stats/v1alpha1``, the
fields metrics-server reads), with a haplane extension: each ``cpu`` carries ``window``, the
seconds its ``usageNanoCores`` was measured over. The node's usage is the agent's own sum —
its containers plus the agent process — not the host's (several nodes may share one host here).
The API replicas fetch it to serve ``metrics.k8s.io`` (:mod:`haplane.api.metricsserver`);
usage never enters the Raft log.

Use from one event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from haplane.clock import rfc3339
from node_agent.errlog import OnceLogger
from node_agent.podsync import PodSync
from node_agent.runtime.base import ContainerState
from node_agent.usage import Sample, Usage, Windows, parse_proc_stat, total

log = logging.getLogger(__name__)

DEFAULT_PERIOD = 5.0


def self_sample() -> Sample | None:
    """The agent process's own reading (its CPU includes the children it has reaped)."""
    try:
        with open("/proc/self/stat", "rb") as f:
            st = parse_proc_stat(os.getpid(), f.read().decode(errors="replace"))
    except OSError:
        return None
    if st is None:
        return None
    return Sample(time.time(), st.cpu_ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK"),
                  st.rss_pages * os.sysconf("SC_PAGE_SIZE"))


def usage_doc(u: Usage) -> tuple[dict[str, Any], dict[str, Any]]:
    """(cpu, memory) objects of the Summary API for one usage."""
    ts = rfc3339(u.time)
    return ({"time": ts, "usageNanoCores": u.nanocores, "usageCoreNanoSeconds": u.cpu_ns, "window": round(u.window, 3)},
            {"time": ts, "workingSetBytes": u.memory})


def summary(node: str, containers: list[tuple[ContainerState, Usage]], agent: Usage | None) -> dict[str, Any]:
    """The Summary API document for one node (pure): pods with their measured containers; the
    node's usage is the sum of its containers' and the agent's (absent if nothing is measured)."""
    pods: dict[str, dict[str, Any]] = {}
    for state, u in sorted(containers, key=lambda c: (c[0].namespace, c[0].pod_name, c[0].container)):
        pod = pods.setdefault(state.pod_uid, {
            "podRef": {"name": state.pod_name, "namespace": state.namespace, "uid": state.pod_uid},
            "containers": []})
        cpu, memory = usage_doc(u)
        pod["containers"].append({"name": state.container, "cpu": cpu, "memory": memory})
    doc: dict[str, Any] = {"node": {"nodeName": node}, "pods": list(pods.values())}
    node_usage = total([u for _, u in containers] + ([agent] if agent is not None else []))
    if node_usage is not None:
        doc["node"]["cpu"], doc["node"]["memory"] = usage_doc(node_usage)
    return doc


class StatsCollector:
    def __init__(self, syncs: Mapping[str, PodSync], *, period: float = DEFAULT_PERIOD) -> None:
        # ``syncs`` is the agent's own table (filled once the API answers): read on every round
        self.syncs = syncs
        self.period = period
        self.errors = OnceLogger(log)
        self._windows: dict[str, Windows[str]] = {}
        self._states: dict[str, dict[str, ContainerState]] = {}
        self._agent: Windows[str] = Windows()
        self.rounds = 0

    async def run(self) -> None:
        while True:
            await self.sample()
            await asyncio.sleep(self.period)

    async def sample(self) -> None:
        """One reading of every running container of every node, and of the agent."""
        for name, sync in self.syncs.items():
            running = [s for s in sync.observed if s.running]
            try:
                samples = await sync.runtime.usage(running)
                self.errors.ok(f"stats of {name}")
            except Exception as exc:  # noqa: BLE001 - the loop survives its errors
                self.errors.failed(f"stats of {name}", exc)
                continue
            windows = self._windows.setdefault(name, Windows())
            for cid, s in samples.items():
                windows.add(cid, s)
            windows.retain(samples)
            self._states[name] = {s.cid: s for s in running if s.cid in samples}
        if (me := self_sample()) is not None:
            self._agent.add("agent", me)
        self.rounds += 1

    def summary(self, node: str) -> dict[str, Any] | None:
        """``/stats/summary`` of ``node``; None for a node this agent does not run."""
        if node not in self.syncs:
            return None
        windows = self._windows.get(node) or Windows()
        measured = [(state, u) for cid, state in self._states.get(node, {}).items()
                    if (u := windows.usage(cid)) is not None]
        # the agent process serves all of its nodes: it counts towards the node only when it runs one
        agent = self._agent.usage("agent") if len(self.syncs) == 1 else None
        return summary(node, measured, agent)
