"""The watch workload: watchers of the run's ConfigMaps, recording every line they receive.

What is watched: the ConfigMaps of namespace ``default`` labelled as this run's registers or
created objects (``chaos.haplane/run in (<run>, <run>-objects)``) — every change the register and
create workloads make, and nothing else. All watchers start from one revision: a linearizable list taken
after the registers exist and before any workload runs, so each change of the run lies after it.

Watchers:

* one **pinned** watcher per replica (``watch-<replica>``): the raw HTTP watch stream of that
  replica, decoded line by line with no filtering, so what the checker sees is what the server
  sent. A stream that breaks (replica killed, restarted, paused past the idle timeout, a 5xx)
  is watched again *on the same replica* from the highest revision reached (an event's or a
  bookmark's) — Kubernetes' resourceVersion re-watch; the next stream's open is recorded as a
  ``RESUME``. A 410 (too old: the replica installed a snapshot or was restarted from a dump) is
  recorded as ``GONE``; the watcher then lists linearizably through its replica (retrying until
  it answers) and watches from the list's revision (``RELIST``).
* one **failover** watcher (``watch-*``): :meth:`haplane.client.Client.watch` over every replica
  — the real client's resume, failover and rv filtering. Its switches of replica are recorded
  as ``RESUME`` markers (seen from the first event after one); when the client gives up
  (every endpoint failing) it is called again from the revision reached; a 410 relists through
  the same client.

Load: every watcher receives every change of the run's ConfigMaps (about 100 events/s each in a
control-plane scenario, 8 000–18 000 events per scenario over the four watchers); the servers
encode one small JSON line per event and watcher. Records stay in memory.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from chaos.cluster import ChaosCluster
from chaos.watchcheck import (
    BOOKMARK,
    GONE,
    OBJECT_EVENTS,
    RELIST,
    RESUME,
    Seen,
    Version,
    WatchStream,
    reached,
)
from chaos.workload import (
    LABEL,
    NAMESPACE,
    PROBE,
    WorkloadConfig,
    failover_client,
    objects_label,
    pinned_client,
)
from haplane import errors
from haplane.client import Client

IDLE = 12.0          # no byte for this long (bookmarks come every 5 s of quiet): the stream is dead
RETRY_PAUSE = 0.25   # between failed attempts to open a pinned stream


def selector(run_label: str) -> str:
    return f"{LABEL} in ({run_label},{objects_label(run_label)})"


def _rv(obj: Any) -> int | None:
    try:
        return int(((obj or {}).get("metadata") or {}).get("resourceVersion"))
    except (TypeError, ValueError, AttributeError):
        return None


def _seen(ev: dict[str, Any], now: float) -> Seen | None:
    """A record for a decoded event (None for a line that is no event of ours)."""
    typ, obj = ev.get("type"), ev.get("object") or {}
    if typ == BOOKMARK:
        return Seen(now, BOOKMARK, _rv(obj))
    if typ in OBJECT_EVENTS:
        return Seen(now, typ, _rv(obj), (obj.get("metadata") or {}).get("name"), (obj.get("data") or {}).get("value"))
    return None


class WatchWorkload:
    """Pinned raw watchers (one per replica) and one failover client watcher; see the module docstring."""

    def __init__(self, cluster: ChaosCluster, run_label: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.cluster, self.run_label, self.clock = cluster, run_label, clock
        self.selector = selector(run_label)
        self.streams: list[WatchStream] = []
        self.versions: list[Version] = []   # the initial list: what existed at the start revision

    async def setup(self, timeout: float = 60.0) -> None:
        """Take the start revision: a linearizable list of the watched objects."""
        deadline = time.monotonic() + timeout
        async with failover_client(self.cluster, WorkloadConfig(timeout=5.0)) as c:
            while True:
                try:
                    lst = await c.list("ConfigMap", NAMESPACE, label_selector=self.selector)
                    break
                except errors.HaplaneError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.3)
        start = int(lst["metadata"]["resourceVersion"])
        for o in lst.get("items") or []:
            rv = _rv(o)
            if rv is not None:
                self.versions.append(Version(rv, o["metadata"]["name"], (o.get("data") or {}).get("value"),
                                             "initial list"))
        self.streams = [WatchStream(f"watch-{n}", n, start) for n in self.cluster.names]
        self.streams.append(WatchStream(f"watch-{PROBE}", PROBE, start))

    async def run(self, stop: asyncio.Event) -> None:
        """Watch until ``stop`` is set (each watcher is cancelled then; its records stay)."""
        tasks = [asyncio.create_task(self._pinned(s) if s.via != PROBE else self._failover(s), name=s.name)
                 for s in self.streams]
        try:
            await stop.wait()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_caught_up(self, target: int | None, timeout: float) -> float | None:
        """Wait (up to ``timeout``) until every watcher has reached revision ``target`` (the last
        known change); stamps each stream. Returns the seconds it took, None if some never did."""
        t = self.clock()
        for s in self.streams:
            s.target_rv = target
        if target is None:
            return 0.0
        deadline = t + timeout
        while True:
            now = self.clock()
            for s in self.streams:
                if s.caught_up_t is None and reached(s) >= target:
                    s.caught_up_t = now
            if all(s.caught_up_t is not None for s in self.streams):
                return now - t
            if now > deadline:
                return None
            await asyncio.sleep(0.05)

    # ----------------------------------------------------------------- pinned: raw stream

    async def _pinned(self, s: WatchStream) -> None:
        url = self.cluster.url(s.via) + "/api/v1/namespaces/" + NAMESPACE + "/configmaps"
        headers = {"Authorization": f"Bearer {self.cluster.admin_token}", "Accept": "application/json"}
        timeout = aiohttp.ClientTimeout(total=None, connect=1.0, sock_read=IDLE)
        progress = s.start_rv
        opened = False              # a stream of this span was open before: the next open is a resume
        broke = ""                  # why the last open stream ended (recorded with the next open)
        failed = 0                  # attempts that did not open a stream since then
        async with aiohttp.ClientSession() as session:
            while True:
                params = {"watch": "1", "resourceVersion": str(progress), "allowWatchBookmarks": "1",
                          "labelSelector": self.selector}
                gone: str | None = None
                streaming = False
                try:
                    async with session.get(url, params=params, headers=headers, timeout=timeout) as resp:
                        if resp.status == 410:
                            gone = f"HTTP 410: {(await resp.text())[:200]}"
                        elif resp.status != 200:
                            raise _Broken(f"HTTP {resp.status}")
                        else:
                            if opened:
                                s.records.append(Seen(self.clock(), RESUME, progress, detail=(
                                    f"{broke}; {failed} failed attempt(s) since")))
                            opened, streaming, broke, failed = True, True, "the stream ended", 0
                            async for line in resp.content:
                                line = line.strip()
                                if not line:
                                    continue
                                ev = json.loads(line)
                                if ev.get("type") == "ERROR":
                                    status = ev.get("object") or {}
                                    if status.get("code") == 410:
                                        gone = f"ERROR 410: {status.get('message')}"
                                        break
                                    raise _Broken(f"ERROR {status.get('code')}: {status.get('message')}")
                                rec = _seen(ev, self.clock())
                                if rec is not None:
                                    s.records.append(rec)
                                    if rec.rv is not None:
                                        progress = max(progress, rec.rv)
                except (_Broken, aiohttp.ClientError, TimeoutError, ValueError) as exc:
                    if streaming:
                        broke = f"{type(exc).__name__}: {exc}"[:200]
                    else:
                        failed += 1
                        await asyncio.sleep(RETRY_PAUSE)
                    continue
                if gone is None:
                    await asyncio.sleep(0.05)  # the server closed the stream: reopen, without spinning
                    continue
                async with pinned_client(self.cluster, s.via, WorkloadConfig(timeout=5.0)) as c:
                    progress = await self._relist(s, gone, c)
                opened, failed = False, 0

    # --------------------------------------------------------------- failover: haplane.client

    async def _failover(self, s: WatchStream) -> None:
        client = Client([self.cluster.url(n) for n in self.cluster.names], self.cluster.admin_token,
                        timeout=5.0, max_attempts=2 * self.cluster.size, connect_timeout=1.0,
                        backoff_base=0.05, backoff_max=1.0, watch_idle_timeout=IDLE)
        progress = s.start_rv
        via = None
        async with client:
            while True:
                try:
                    async for ev in client.watch("ConfigMap", NAMESPACE, resource_version=str(progress),
                                                 label_selector=self.selector):
                        now = self.clock()
                        endpoint = client.current_endpoint
                        if endpoint != via:
                            if via is not None:
                                s.records.append(Seen(now, RESUME, progress, detail=(
                                    f"the client resumed at {self._name_of(endpoint)}")))
                            via = endpoint
                        rec = _seen(ev, now)
                        if rec is not None:
                            s.records.append(rec)
                            if rec.rv is not None:
                                progress = max(progress, rec.rv)
                except errors.Gone as exc:
                    progress = await self._relist(s, f"Gone: {exc}"[:200], client)
                    via = None
                except errors.HaplaneError as exc:  # the client gave up on every endpoint: call it again
                    s.records.append(Seen(self.clock(), RESUME, progress,
                                          detail=f"the client gave up: {type(exc).__name__}: {exc}"[:200]))
                    await asyncio.sleep(RETRY_PAUSE)

    def _name_of(self, endpoint: str) -> str:
        for n in self.cluster.names:
            if self.cluster.url(n).rstrip("/") == endpoint.rstrip("/"):
                return n
        return endpoint

    # ------------------------------------------------------------------------ relist

    async def _relist(self, s: WatchStream, why: str, client: Client) -> int:
        """Record the 410, list linearizably (retrying until an answer), record the list; its revision."""
        s.records.append(Seen(self.clock(), GONE, None, detail=why))
        while True:
            try:
                lst = await client.list("ConfigMap", NAMESPACE, label_selector=self.selector)
            except errors.HaplaneError:
                await asyncio.sleep(RETRY_PAUSE)
                continue
            rv = int(lst["metadata"]["resourceVersion"])
            items = [[o["metadata"]["name"], _rv(o), (o.get("data") or {}).get("value")]
                     for o in lst.get("items") or []]
            s.records.append(Seen(self.clock(), RELIST, rv, items=items))
            return rv


class _Broken(Exception):
    """Internal: the stream failed in a way that is retried on the same replica."""
