"""Samples of the worker side while a run goes on: what really runs, and what the API wants.

Every ``interval`` seconds :class:`PodMonitor` takes one :class:`PodSample`: the containers
running on every node according to the runtime (:class:`chaos.runtimes.RuntimeView` — /proc
or the Docker engine, never the API), then the Deployments and Pods according to the API
(linearizable lists through any replica; ``None`` when no replica answered). It judges each
sample with the pure invariants (desired counts reached by pods that really run; pods running
where the API does not bind them), so scenario scripts can wait for a state
(:meth:`PodMonitor.wait_for`) and the runner can judge the whole series afterwards.

Use from one event loop. A failed sample is logged once per kind of error and the loop goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chaos.invariants import desired_counts_reached, no_pods_on_foreign_nodes
from chaos.runtimes import Running, RuntimeView
from haplane.aio import wait_for
from haplane.client import Client
from node_agent.errlog import OnceLogger

log = logging.getLogger(__name__)


@dataclass
class PodSample:
    """One look at the workers. ``running`` is from the runtime; ``deployments``/``pods`` from the
    API (None: no answer). ``met``: every Deployment has its desired count of ready pods of its
    current template, each really running on its node; ``foreign``: containers running on a node
    the API does not bind their pod to (or whose pod no longer exists)."""

    t: float
    running: Running
    deployments: list[dict] | None = None
    pods: list[dict] | None = None
    replicasets: list[dict] | None = None
    nodes: dict[str, bool] | None = None  # node name -> Ready, per the API
    met: bool | None = None
    foreign: list[str] = field(default_factory=list)
    api_s: float | None = None

    @property
    def settled(self) -> bool:
        """Desired counts reached and nothing running where it does not belong."""
        return self.met is True and not self.foreign

    def bound_to(self, node: str) -> list[str]:
        """Pods the API binds to ``node`` (not being deleted); [] without an API answer."""
        return [f"{(p.get('metadata') or {}).get('namespace')}/{(p.get('metadata') or {}).get('name')}"
                for p in self.pods or [] if (p.get("spec") or {}).get("nodeName") == node
                and not (p.get("metadata") or {}).get("deletionTimestamp")]

    def to_doc(self, t0: float) -> dict[str, Any]:
        """A compact record for the report (no full objects)."""
        per_node = Counter(node for node, _ in self.running)
        desired = None if self.deployments is None else {
            d["metadata"]["name"]: (d.get("spec") or {}).get("replicas") for d in self.deployments}
        return {"t": round(self.t - t0, 3), "running": sorted(f"{n}:{p}" for n, p in self.running),
                "per_node": dict(per_node), "desired": desired, "met": self.met, "foreign": self.foreign,
                "bound": None if self.pods is None else dict(Counter((p.get("spec") or {}).get("nodeName")
                                                                     for p in self.pods)),
                "ready_nodes": self.nodes}

    def node_ready(self, node: str) -> bool | None:
        return None if self.nodes is None else self.nodes.get(node)


def node_ready(node: dict) -> bool:
    """Does the Node's Ready condition say True? (pure)"""
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


def judge(t: float, running: Running, deployments: list[dict] | None, pods: list[dict] | None,
          nodes: list[dict] | None = None, replicasets: list[dict] | None = None) -> PodSample:
    """A sample with its verdicts filled in (pure)."""
    ready = None if nodes is None else {n["metadata"]["name"]: node_ready(n) for n in nodes}
    s = PodSample(t, running, deployments, pods, replicasets, ready)
    if deployments is not None and pods is not None:
        s.met = desired_counts_reached(deployments, pods, running, replicasets=replicasets or ()).ok is True
        s.foreign = no_pods_on_foreign_nodes(running, pods).details
    return s


class PodMonitor:
    def __init__(self, view: RuntimeView, client: Client, *, interval: float = 0.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.view, self.client, self.interval, self.clock = view, client, interval, clock
        self.samples: list[PodSample] = []
        self.errors = OnceLogger(log)
        self._new = asyncio.Condition()

    async def sample(self) -> PodSample | None:
        """Take one sample (recorded); None when the runtime itself could not be read."""
        t = self.clock()
        where = f"reading the {self.view.name} runtime"
        try:
            running = await self.view.running()
            self.errors.ok(where)
        except Exception as exc:  # noqa: BLE001 - a missed sample, not a verdict
            self.errors.failed(where, exc)
            return None
        deployments = pods = nodes = replicasets = None
        t_api = self.clock()
        try:
            deployments = (await self.client.list("Deployment", None)).get("items") or []
            replicasets = (await self.client.list("ReplicaSet", None)).get("items") or []
            pods = (await self.client.list("Pod", None)).get("items") or []
            nodes = (await self.client.list("Node", None)).get("items") or []
            self.errors.ok("listing deployments and pods")
        except Exception as exc:  # noqa: BLE001 - no quorum right now: a sample without the API view
            self.errors.failed("listing deployments and pods", exc, level=logging.INFO)
        s = judge(t, running, deployments, pods, nodes, replicasets)
        s.api_s = round(self.clock() - t_api, 3)
        self.samples.append(s)
        async with self._new:
            self._new.notify_all()
        return s

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            began = self.clock()
            await self.sample()
            with contextlib.suppress(TimeoutError):
                await wait_for(stop.wait(), max(0.0, self.interval - (self.clock() - began)))

    async def wait_for(self, ok: Callable[[PodSample], bool], timeout: float, what: str) -> PodSample:
        """The first sample begun from now on that satisfies ``ok`` (raises TimeoutError)."""
        start = len(self.samples)
        since = self.clock()
        deadline = since + timeout
        while True:
            for s in self.samples[start:]:
                if s.t >= since and ok(s):
                    return s
            start = len(self.samples)
            left = deadline - self.clock()
            if left <= 0:
                last = self.samples[-1] if self.samples else None
                raise TimeoutError(f"{what}: not within {timeout:g}s (last sample: "
                                   f"{None if last is None else last.to_doc(0.0)})")
            async with self._new:
                with contextlib.suppress(TimeoutError):
                    await wait_for(self._new.wait(), left)
