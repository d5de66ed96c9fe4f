"""The pods bound to this process's nodes: list, then watch from the list's resourceVersion.

One feed serves every node of the process. With one node it lists and watches
``/api/v1/pods?fieldSelector=spec.nodeName=<name>``; with many (hollow nodes) it watches
all pods once and routes each by ``spec.nodeName`` — one watch instead of hundreds. Each
node has a :class:`PodSink`; the feed calls ``replace_pods`` after every (re)list with the
complete set bound to that node, and ``pod_event`` for every change after it. A pod whose
``spec.nodeName`` moves away from a node is a DELETED for that node.

Resilience: the client's watch resumes by itself across dropped streams and replica
failures. A 410 Gone relists at once; any other error is logged once per kind and relists
after a backoff. Every ``resync`` seconds the feed relists anyway (a linearizable list, so
nothing the watch already delivered can go missing), which also catches a pod rebound
elsewhere that a field-selected watch never reports. The sinks' methods are plain calls on
the event loop and must not block.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from haplane import errors
from haplane.client import Client
from haplane.clock import Clock, SystemClock
from node_agent.errlog import OnceLogger

log = logging.getLogger(__name__)


class PodSink(Protocol):
    def replace_pods(self, pods: list[dict]) -> None:
        """The complete set of pods bound to the node (after a list)."""

    def pod_event(self, kind: str, pod: dict) -> None:
        """One change: ``kind`` is ADDED, MODIFIED or DELETED."""


def node_of(pod: dict) -> str | None:
    return (pod.get("spec") or {}).get("nodeName") or None


def uid_of(pod: dict) -> str:
    return str((pod.get("metadata") or {}).get("uid") or "")


class PodFeed:
    def __init__(self, client: Client, sinks: dict[str, PodSink], *, resync: float = 300.0,
                 clock: Clock | None = None) -> None:
        if not sinks:
            raise ValueError("a feed needs at least one node")
        self.client = client
        self.sinks = sinks
        self.resync = resync
        self.clock = clock or SystemClock()
        self.errors = OnceLogger(log)
        self.synced = asyncio.Event()  # set after the first successful list
        self.lists = 0
        self._where: dict[str, str] = {}  # pod uid -> the node it was last routed to

    @property
    def field_selector(self) -> str | None:
        return f"spec.nodeName={next(iter(self.sinks))}" if len(self.sinks) == 1 else None

    async def run(self) -> None:
        """List and watch until cancelled."""
        delay = 0.5
        while True:
            try:
                rv = await self._relist()
                self.errors.ok("pod list")
                delay = 0.5
                try:
                    async with asyncio.timeout(self.resync):
                        await self._watch(rv)
                except TimeoutError:
                    continue  # the periodic resync
            except errors.Gone:
                log.info("pod watch expired (410 Gone): relisting")
                continue
            except Exception as exc:  # noqa: BLE001 - the feed survives everything, relists later
                self.errors.failed("pod list/watch", exc)
            await self.clock.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _relist(self) -> str:
        listed = await self.client.list("Pod", None, field_selector=self.field_selector)
        by_node: dict[str, list[dict]] = {name: [] for name in self.sinks}
        where: dict[str, str] = {}
        for pod in listed.get("items") or []:
            node = node_of(pod)
            if node in by_node:
                by_node[node].append(pod)
                where[uid_of(pod)] = node
        self._where = where
        for name, sink in self.sinks.items():
            sink.replace_pods(by_node[name])
        self.lists += 1
        self.synced.set()
        return str((listed.get("metadata") or {}).get("resourceVersion") or "")

    async def _watch(self, rv: str) -> None:
        async for ev in self.client.watch("Pod", None, resource_version=rv or None,
                                          field_selector=self.field_selector):
            kind = ev.get("type")
            pod = ev.get("object")
            if kind not in ("ADDED", "MODIFIED", "DELETED") or not isinstance(pod, dict):
                continue
            self.errors.ok("pod list/watch")
            self.route(kind, pod)

    def route(self, kind: str, pod: dict) -> None:
        """Hand one watch event to the sink(s) it concerns."""
        uid = uid_of(pod)
        node = node_of(pod)
        before = self._where.get(uid)
        if before is not None and before != node:
            # rebound elsewhere (or unbound): gone from the node it was on
            self.sinks[before].pod_event("DELETED", pod)
            self._where.pop(uid, None)
        if node not in self.sinks:
            return
        if kind == "DELETED":
            self._where.pop(uid, None)
        else:
            self._where[uid] = node
        self.sinks[node].pod_event(kind, pod)
