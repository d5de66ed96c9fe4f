"""One node's pod sync: the pods bound here -> reconcile -> runtime actions -> pod status.

:class:`PodSync` is the thin loop around the pure :func:`node_agent.reconcile.reconcile`.
Fed by a :class:`~node_agent.podfeed.PodFeed` (``replace_pods`` / ``pod_event``), each round

1. observes the runtime (``list_managed``: adoption after a restart falls out of this — a
   running container of a desired pod is kept, never started again);
2. asks ``reconcile`` what to do and runs the actions in *lanes*: one task per container key
   (pod uid, container name) executes that key's actions in order, so there is at most one
   operation per container at a time and the loop never waits for the runtime;
3. runs the due liveness/readiness probes (also in tasks); a failed liveness probe makes the
   container "unhealthy", which reconcile turns into a Stop, and the restart policy follows;
4. computes each pod's status and writes it with a CAS (PUT .../status carrying the
   resourceVersion; on Conflict it re-reads and retries), skipping the write when the stored
   status already says the same thing. A successful start reports its pod at once from an
   inspect of the new container (the fast path), not after the next full observation.

Contracts and guards:

* Nothing is reconciled before the feed's first complete list (``replace_pods``): until then
  the agent cannot tell an adopted container from an orphan.
* A key whose lane is busy, or finished while the round was observing, is left out of the
  round: the observation may not show what that lane just did (a Start in flight would
  otherwise be started twice).
* A pod deleted from the API stays here as *terminating* (with a deletion timestamp, so
  reconcile stops its containers with the pod's grace period) until none of its containers
  runs; then its containers are removed like any container no pod wants.
* Events (Started, Killing, BackOff, Failed, Unhealthy) are best effort, queued to
  :class:`EventRecorder`. Every error is logged once per kind (:mod:`node_agent.errlog`);
  no pod, however broken, stops the loop.

Use from one event loop. ``Clock`` drives all waiting, so tests run it on a FakeClock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from haplane import errors
from haplane.clock import Clock, SystemClock, rfc3339
from haplane.control.events import make_event
from node_agent.errlog import OnceLogger
from node_agent.metrics import AgentMetrics
from node_agent.node import normalized
from node_agent.probes import ProbeTracker, run_probe
from node_agent.reconcile import (
    Action,
    Backoff,
    Key,
    Remove,
    RestartRecord,
    Start,
    Stop,
    Wait,
    note_start_failed,
    note_started,
    pod_status,
    prune,
    reconcile,
)
from node_agent.runtime.base import ContainerState, Runtime, RuntimeStartError

log = logging.getLogger(__name__)

COMPONENT = "haplane-agent"
SHOW_PENDING_AFTER = 2.0  # a Start in flight this long gets its ContainerCreating status written
STATUS_RETRY = 1.0  # after a failed status write, wait this long before the next attempt
CONFLICT_RETRIES = 5
# Status writes in flight at once, per agent (the kubelet bounds its own with a QPS limit). Each
# write was its own task and, with an unlimited pool, its own connection: an agent of 250 hollow
# nodes and 7,500 pods opened thousands of connections at once, most of the replicas' time went
# to accepting them, the Raft tick thread starved, leaders were deposed over and over, the writes
# failed and were retried a second later — a storm that did not end.
STATUS_WRITES_IN_FLIGHT = 16


class PodApi(Protocol):
    """The API calls pod sync makes (haplane.client.Client has them)."""

    async def get(self, kind: str, name: str, namespace: str | None = "default", *, stale: bool = False) -> dict: ...

    async def update_status(self, obj: dict, *, request_id: str | None = None) -> dict: ...

    async def create(self, obj: dict, *, request_id: str | None = None) -> dict: ...


# ----------------------------------------------------------------------------- pure helpers


def rv_of(obj: Mapping[str, Any] | None) -> int:
    try:
        return int(((obj or {}).get("metadata") or {}).get("resourceVersion") or 0)
    except (TypeError, ValueError):
        return 0


def uid_of(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("uid") or "")


def pod_ref(pod: Mapping[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace') or 'default'}/{meta.get('name')}"


def mark_deleting(pod: dict, now: float) -> dict:
    """A copy of ``pod`` as reconcile must see a pod the API no longer has: being deleted."""
    meta = dict(pod.get("metadata") or {})
    meta.setdefault("deletionTimestamp", rfc3339(now))
    return dict(pod, metadata=meta)


def container_spec(pod: Mapping[str, Any], name: str) -> dict | None:
    for c in (pod.get("spec") or {}).get("containers") or []:
        if c.get("name") == name:
            return c
    return None


def action_key(action: Action, by_cid: Mapping[str, ContainerState]) -> Key | None:
    """The container key an action concerns (None: a cid no longer observed)."""
    if isinstance(action, Start):
        return action.key
    if isinstance(action, Wait):
        return (action.pod_uid, action.container)
    state = by_cid.get(action.cid)
    return state.key if state is not None else None


def stored_status(pod: dict, status: dict) -> dict:
    """``status`` as the API server will store it (unknown fields dropped, None omitted)."""
    return normalized("Pod", dict(pod, status=status)).get("status") or {}


def kill_message(reason: str, container: str) -> str:
    return {
        "Unhealthy": f"Container {container} failed liveness probe, will be restarted",
        "PodDeleting": f"Stopping container {container}",
        "PodTerminal": f"Stopping container {container}: the pod has completed",
        "NotDesired": f"Stopping container {container}: its pod is no longer bound to this node",
        "Duplicate": f"Stopping duplicate container {container}",
    }.get(reason, f"Stopping container {container} ({reason})")


def describe_probe(probe: Mapping[str, Any]) -> str:
    if (http := probe.get("httpGet")) is not None:
        return f"HTTP GET {http.get('path') or '/'} on port {http.get('port')}"
    if (tcp := probe.get("tcpSocket")) is not None:
        return f"TCP connect to port {tcp.get('port')}"
    if (ex := probe.get("exec")) is not None:
        return f"exec {' '.join(map(str, ex.get('command') or []))!r}"
    return "unsupported probe"


# ----------------------------------------------------------------------------- events


class EventRecorder:
    """Best-effort Events: ``emit`` never blocks or raises; ``run`` sends them (a few at a
    time). A full queue drops the newest event (counted in ``dropped``)."""

    def __init__(self, api: PodApi, *, clock: Clock | None = None, max_queue: int = 2000,
                 senders: int = 4) -> None:
        self.api = api
        self.clock = clock or SystemClock()
        self.queue: asyncio.Queue[dict] = asyncio.Queue(max_queue)
        self.senders = senders
        self.sent = 0
        self.dropped = 0
        self.errors = OnceLogger(log)

    def emit(self, involved: dict, reason: str, message: str, etype: str = "Normal", host: str = "") -> None:
        ev = make_event(involved, reason, message, etype, now=rfc3339(self.clock.now()), component=COMPONENT,
                        host=host)
        ev["metadata"].pop("uid", None)  # the server assigns it
        try:
            self.queue.put_nowait(ev)
        except asyncio.QueueFull:
            self.dropped += 1

    async def run(self) -> None:
        await asyncio.gather(*(self._sender() for _ in range(self.senders)))

    async def _sender(self) -> None:
        while True:
            ev = await self.queue.get()
            try:
                await self.api.create(ev)
                self.sent += 1
                self.errors.ok("event")
            except errors.NotFound:
                pass  # the namespace is gone
            except Exception as exc:  # noqa: BLE001 - best effort
                self.errors.failed("event", exc, level=logging.INFO)


def involved_pod(pod: Mapping[str, Any] | None, state: ContainerState | None = None) -> dict:
    if pod is not None:
        meta = pod.get("metadata") or {}
        return {"kind": "Pod", "apiVersion": "v1",
                "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace"), "uid": meta.get("uid")}}
    assert state is not None
    return {"kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": state.pod_name, "namespace": state.namespace or "default", "uid": state.pod_uid}}


# ----------------------------------------------------------------------------- the loop


@dataclass
class _Probes:
    container: dict
    host_ports: dict[str, int]
    liveness: ProbeTracker
    readiness: ProbeTracker
    tasks: dict[str, asyncio.Task] = field(default_factory=dict)


@dataclass
class _Lane:
    task: asyncio.Task
    starts: bool
    since: float  # monotonic


class PodSync:
    def __init__(
        self,
        node: str,
        host_ip: str,
        runtime: Runtime,
        api: PodApi,
        events: EventRecorder,
        *,
        clock: Clock | None = None,
        backoff: Backoff = Backoff(),  # noqa: B008 - frozen
        sync_period: float = 1.0,
        min_round_gap: float = 0.0,
        orphan_grace: float = 10.0,
        probes: bool = True,
        epoch: int = 0,
        http: aiohttp.ClientSession | None = None,
        unsafe_forget_containers: bool = False,
        metrics: AgentMetrics | None = None,
    ) -> None:
        self.node = node
        self.metrics = metrics or AgentMetrics()
        self._seen_at: dict[str, float] = {}  # uid -> when this agent first saw the pod (start duration)
        self.host_ip = host_ip
        self.runtime = runtime
        self.api = api
        self.events = events
        self.clock = clock or SystemClock()
        self.backoff = backoff
        self.sync_period = sync_period
        # Rounds coalesce bursts of wake-ups: an expensive observation (Docker inspects every
        # container) must not run for every watch event of a busy node. A round starts at
        # least min_round_gap, and twice the last observation's duration, after the previous
        # one began: observing takes at most half of the loop's time.
        self.min_round_gap = min_round_gap
        self._observe_s = 0.0
        self.orphan_grace = orphan_grace
        self.probes_enabled = probes
        self.epoch = epoch
        self.http = http
        self.errors = OnceLogger(log)
        # Test-only broken mode (HAPLANE_UNSAFE_FORGET_CONTAINERS=1, for the chaos harness to
        # prove it catches it): see only the containers this process started, so a restarted
        # agent adopts nothing and starts every pod again while the old containers run on.
        self.unsafe_forget_containers = unsafe_forget_containers
        self._started_here: set[str] = set()

        self.synced = False
        self.pods: dict[str, dict] = {}  # uid -> pod bound here (the newest copy seen)
        self.terminating: dict[str, dict] = {}  # uid -> pod deleted from the API, containers still running
        self.observed: list[ContainerState] = []
        self.restart_state: dict[Key, RestartRecord] = {}
        self.lanes: dict[Key, _Lane] = {}
        self.probes: dict[str, _Probes] = {}  # cid -> probe state of a running container
        self._status_tasks: dict[str, asyncio.Task] = {}
        self._status_slots = asyncio.Semaphore(STATUS_WRITES_IN_FLIGHT)
        self._status_cache: dict[str, tuple[dict, dict]] = {}  # uid -> (computed, as stored)
        self._status_retry_at: dict[str, float] = {}
        self._backoff_noted: dict[Key, float] = {}
        self._seq = 0
        self._done: dict[Key, int] = {}  # key -> seq at which its last lane finished
        self._wake = asyncio.Event()
        self.rounds = 0
        self.status_writes = 0

    # --- feed side (PodSink) --------------------------------------------------------------

    def replace_pods(self, pods: list[dict]) -> None:
        fresh = {uid_of(p): p for p in pods}
        for uid, pod in list(self.pods.items()):
            if uid not in fresh:
                self._forget(uid, pod)
        for pod in fresh.values():
            self._store(pod)
        self.synced = True
        self.kick()

    def pod_event(self, kind: str, pod: dict) -> None:
        uid = uid_of(pod)
        if kind == "DELETED":
            self._forget(uid, self.pods.get(uid, pod))
        elif uid not in self.terminating:
            self._store(pod)
        self.kick()

    def _store(self, pod: dict) -> None:
        uid = uid_of(pod)
        cur = self.pods.get(uid)
        if cur is None:
            self._seen_at.setdefault(uid, self.clock.monotonic())
        if cur is None or rv_of(pod) >= rv_of(cur):
            self.pods[uid] = pod

    def _forget(self, uid: str, pod: dict) -> None:
        self.pods.pop(uid, None)
        self._seen_at.pop(uid, None)
        self._status_cache.pop(uid, None)
        self._status_retry_at.pop(uid, None)
        self.terminating[uid] = mark_deleting(pod, self.clock.now())

    def kick(self) -> None:
        """Ask for a round soon (idempotent, never blocks)."""
        self._wake.set()

    # --- the loop -------------------------------------------------------------------------

    async def run(self) -> None:
        """Round after round until cancelled; then cancels its tasks (containers keep running)."""
        try:
            while True:
                began = self.clock.monotonic()
                self._wake.clear()
                next_at: float | None = None
                if self.synced:
                    try:
                        next_at = await self.round()
                        self.errors.ok("sync round")
                    except Exception as exc:  # noqa: BLE001 - the loop survives its errors
                        self.errors.failed("sync round", exc)
                await self._sleep(next_at)
                gap = max(self.min_round_gap, 2 * self._observe_s)
                if (rest := began + gap - self.clock.monotonic()) > 0:
                    await self.clock.sleep(rest)
        finally:
            tasks = [lane.task for lane in self.lanes.values()] + list(self._status_tasks.values())
            tasks += [t for p in self.probes.values() for t in p.tasks.values()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _sleep(self, next_at: float | None) -> None:
        timeout = self.sync_period
        if next_at is not None:
            timeout = min(timeout, max(0.0, next_at - self.clock.now()))
        if self._wake.is_set():
            await asyncio.sleep(0)
            return
        waker = asyncio.ensure_future(self._wake.wait())
        sleeper = asyncio.ensure_future(self.clock.sleep(timeout))
        try:
            await asyncio.wait([waker, sleeper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            waker.cancel()
            sleeper.cancel()

    async def round(self) -> float | None:
        """One observe -> reconcile -> act -> report pass. Returns when the next round is due
        at the latest (a backoff ending, a probe), or None."""
        self.rounds += 1
        seq0 = self._seq
        t0 = self.clock.monotonic()
        try:
            observed = await self.runtime.list_managed()
        except Exception:
            self.metrics.runtime_errors.labels("list_containers").inc()
            raise
        if self.unsafe_forget_containers:
            observed = [s for s in observed if s.cid in self._started_here]
        self._observe_s = self.clock.monotonic() - t0
        now = self.clock.now()
        self.observed = observed
        by_cid = {s.cid: s for s in observed}
        self._collect_terminated(observed)
        desired = [*self.pods.values(), *self.terminating.values()]
        self._sync_probes(observed, now)
        unhealthy = {cid for cid, p in self.probes.items() if not p.liveness.result}
        actions = reconcile(desired, observed, now, self.restart_state, backoff=self.backoff,
                            unhealthy=unhealthy, orphan_grace=self.orphan_grace)
        wakes: list[float] = []
        plan: dict[Key, list[Action]] = {}
        for a in actions:
            key = action_key(a, by_cid)
            if key is not None:
                plan.setdefault(key, []).append(a)
        for key, acts in plan.items():
            if key in self.lanes or self._done.get(key, -1) > seq0:
                continue  # busy, or the observation predates what its lane just did
            work = [a for a in acts if not isinstance(a, Wait)]
            if work:
                self._spawn_lane(key, work, by_cid)
                continue
            for w in acts:
                assert isinstance(w, Wait)
                wakes.append(w.until)
                self._note_backoff(key, w, now)
        prune(self.restart_state, desired)
        self._done = {k: s for k, s in self._done.items() if s > seq0}
        wakes += self._start_due_probes(now)
        self._sync_statuses(observed, now)
        return min(wakes) if wakes else None

    def _collect_terminated(self, observed: list[ContainerState]) -> None:
        running = {s.pod_uid for s in observed if s.running}
        busy = {k[0] for k in self.lanes}
        for uid in list(self.terminating):
            if uid not in running and uid not in busy:
                del self.terminating[uid]

    # --- lanes ----------------------------------------------------------------------------

    def _spawn_lane(self, key: Key, actions: list[Action], by_cid: Mapping[str, ContainerState]) -> None:
        states = {a.cid: by_cid[a.cid] for a in actions if isinstance(a, Stop | Remove) and a.cid in by_cid}
        task = asyncio.create_task(self._lane(key, actions, states), name=f"lane {key[0][:8]}/{key[1]}")
        self.lanes[key] = _Lane(task, any(isinstance(a, Start) for a in actions), self.clock.monotonic())

    async def _lane(self, key: Key, actions: list[Action], states: dict[str, ContainerState]) -> None:
        started: str | None = None
        removed: set[str] = set()
        try:
            for a in actions:
                if isinstance(a, Start):
                    if (started := await self._start(a)) is None:
                        break
                elif not await self._execute(a, states.get(a.cid)):
                    break
                elif isinstance(a, Remove):
                    removed.add(a.cid)
            if started is not None:
                await self._report_start(key[0], started, removed)
        finally:
            self.lanes.pop(key, None)
            self._seq += 1
            self._done[key] = self._seq
            self.kick()

    async def _report_start(self, uid: str, cid: str, removed: set[str]) -> None:
        """The fast path of a start: observe just the new container and report its pod now,
        instead of after the next full observation (which costs one inspect per container
        under Docker). Only the status is written from this partial view; actions never are."""
        try:
            state = await self.runtime.inspect(cid)
        except Exception as exc:  # noqa: BLE001 - the next round reports it
            self.errors.failed("inspect after start", exc)
            return
        if state is None:
            return
        self.observed = [s for s in self.observed if s.cid not in removed and s.cid != cid] + [state]
        self._sync_statuses(self.observed, self.clock.now(), only=uid)

    async def _execute(self, a: Stop | Remove, state: ContainerState | None) -> bool:
        """Run one Stop or Remove; False stops the lane (the next round decides again)."""
        pod = self.pods.get(state.pod_uid) if state else None
        what = f"{state.namespace}/{state.pod_name}/{state.container}" if state else getattr(a, "cid", "?")
        try:
            if isinstance(a, Stop):
                if state is not None:
                    self.events.emit(involved_pod(pod, state), "Killing", kill_message(a.reason, state.container),
                                     host=self.node)
                log.info("stopping %s (%s, grace %ss)", what, a.reason, a.grace)
                await self.runtime.stop(a.cid, a.grace)
            elif isinstance(a, Remove):
                await self.runtime.remove(a.cid, keep_log=a.reason == "Restart")
            self.errors.ok(f"{type(a).__name__.lower()} {what}")
            return True
        except Exception as exc:  # noqa: BLE001 - retried next round
            self.metrics.runtime_errors.labels(f"{type(a).__name__.lower()}_container").inc()
            self.errors.failed(f"{type(a).__name__.lower()} {what}", exc)
            return False

    async def _start(self, a: Start) -> str | None:
        """Start one container; its id, or None when the start failed (recorded for backoff)."""
        name = a.container.get("name", "")
        ref = f"{pod_ref(a.pod)}/{name}"
        try:
            cid = await self.runtime.start(a.pod, a.container, epoch=self.epoch, host_ip=self.host_ip,
                                           restart_count=a.restart_count)
        except RuntimeStartError as exc:
            self.metrics.runtime_errors.labels("start_container").inc()
            note_start_failed(self.restart_state, a, self.clock.now(), exc.reason, exc.message)
            self.errors.failed(f"start {ref}", f"{exc.reason}: {exc.message}", level=logging.INFO)
            self.events.emit(a.pod, "Failed", f"Error: {exc.reason}: {exc.message}", "Warning", host=self.node)
            return None
        except Exception as exc:  # noqa: BLE001 - a runtime failure: same backoff as a bad pod
            message = f"{type(exc).__name__}: {exc}"
            self.metrics.runtime_errors.labels("start_container").inc()
            note_start_failed(self.restart_state, a, self.clock.now(), "RunContainerError", message)
            self.errors.failed(f"start {ref}", exc)
            self.events.emit(a.pod, "Failed", f"Error: RunContainerError: {message}", "Warning", host=self.node)
            return None
        note_started(self.restart_state, a)
        self._count_start(a)
        self._started_here.add(cid)
        self.errors.ok(f"start {ref}")
        again = f" (restart {a.restart_count})" if a.restart_count else ""
        log.info("started %s%s", ref, again)
        self.events.emit(a.pod, "Started", f"Started container {name}{again}", host=self.node)
        return cid

    def _count_start(self, a: Start) -> None:
        self.metrics.containers_started.inc()
        if a.restart_count:
            self.metrics.container_restarts.inc()
        seen = self._seen_at.pop(uid_of(a.pod), None)  # the pod's first container start only
        if seen is not None:
            self.metrics.pod_start.observe(max(0.0, self.clock.monotonic() - seen))

    def _note_backoff(self, key: Key, w: Wait, now: float) -> None:
        if self._backoff_noted.get(key) == w.until:
            return
        self._backoff_noted[key] = w.until
        pod = self.pods.get(key[0])
        if pod is None:
            return
        self.events.emit(pod, "BackOff", f"Back-off {w.until - now:.0f}s restarting failed container {key[1]} "
                         f"({w.reason})", "Warning", host=self.node)
        if len(self._backoff_noted) > 4 * (len(self.pods) + 16):
            self._backoff_noted = {k: v for k, v in self._backoff_noted.items() if k[0] in self.pods}

    # --- probes ---------------------------------------------------------------------------

    def _sync_probes(self, observed: list[ContainerState], now: float) -> None:
        live: dict[str, tuple[dict, dict, ContainerState]] = {}
        for s in observed:
            if s.running and (pod := self.pods.get(s.pod_uid)) is not None \
                    and (c := container_spec(pod, s.container)) is not None:
                live[s.cid] = (pod, c, s)
        for cid in [cid for cid in self.probes if cid not in live]:
            for t in self.probes.pop(cid).tasks.values():
                t.cancel()
        for cid, (pod, c, s) in live.items():
            if cid in self.probes:
                continue
            started = s.started_at if s.started_at is not None else now
            liveness = c.get("livenessProbe") if self.probes_enabled else None
            readiness = c.get("readinessProbe") if self.probes_enabled else None
            p = _Probes(c, dict(s.host_ports), ProbeTracker.liveness(liveness, started),
                        ProbeTracker.readiness(readiness, started))
            if readiness is not None and _reported_ready(pod, c["name"], cid):
                p.readiness.result = True  # adopted after a restart: no flap of Ready to False
            self.probes[cid] = p

    def _start_due_probes(self, now: float) -> list[float]:
        wakes = []
        for cid, p in self.probes.items():
            for kind, tracker in (("liveness", p.liveness), ("readiness", p.readiness)):
                if tracker.probe is None or kind in p.tasks:
                    continue
                if tracker.due(now):
                    p.tasks[kind] = asyncio.create_task(self._probe(cid, p, kind, tracker, now))
                else:
                    wakes.append(tracker.next_at)
        return wakes

    async def _probe(self, cid: str, p: _Probes, kind: str, tracker: ProbeTracker, started: float) -> None:
        try:
            assert tracker.probe is not None
            ok = await run_probe(tracker.probe, p.container, self.host_ip, p.host_ports, self.runtime,
                                 cid=cid, session=self.http)
            before = tracker.result
            self.metrics.probes.labels(kind, "successful" if ok else "failed").inc()
            after = tracker.observe(ok, started)
            if not ok and tracker.failures == 1:
                state = next((s for s in self.observed if s.cid == cid), None)
                pod = self.pods.get(state.pod_uid) if state else None
                if pod is not None:
                    self.events.emit(pod, "Unhealthy", f"{kind.capitalize()} probe of container "
                                     f"{p.container.get('name')} failed: {describe_probe(tracker.probe)}",
                                     "Warning", host=self.node)
            if after != before:
                log.info("%s probe of %s is now %s", kind, cid[:12], "passing" if after else "failing")
        finally:
            p.tasks.pop(kind, None)
            self.kick()

    # --- status ---------------------------------------------------------------------------

    def _sync_statuses(self, observed: list[ContainerState], now: float, *, only: str | None = None) -> None:
        """Write the status of every pod (or ``only`` that one) whose stored status differs.

        A round skips pods whose observation may be stale (a lane finished while it was
        observing) and pods whose Start is in flight for less than SHOW_PENDING_AFTER (their
        Running status follows in a moment; ContainerCreating is written only for slow starts)."""
        by_uid: dict[str, list[ContainerState]] = {}
        for s in observed:
            by_uid.setdefault(s.pod_uid, []).append(s)
        ready = {cid: p.readiness.result for cid, p in self.probes.items()}
        mono = self.clock.monotonic()
        fresh_lanes = {k[0] for k, lane in self.lanes.items() if lane.starts and mono - lane.since < SHOW_PENDING_AFTER}
        stale = {k[0] for k in self._done}  # a lane finished after this round observed
        if only is not None:
            fresh_lanes, stale = set(), set()
        pods = self.pods.items() if only is None else [(only, self.pods[only])] if only in self.pods else []
        for uid, pod in pods:
            if uid in self._status_tasks or uid in fresh_lanes or uid in stale:
                continue
            if self._status_retry_at.get(uid, 0.0) > mono:
                continue
            computed = pod_status(pod, by_uid.get(uid, []), ready, now, restart_state=self.restart_state,
                                  host_ip=self.host_ip)
            try:
                cached = self._status_cache.get(uid)
                if cached is not None and cached[0] == computed:
                    status = cached[1]
                else:
                    status = stored_status(pod, computed)
                    self._status_cache[uid] = (computed, status)
            except errors.HaplaneError as exc:
                self.errors.failed(f"status of {pod_ref(pod)}", exc)
                continue
            if status == (pod.get("status") or {}):
                continue
            self._status_tasks[uid] = asyncio.create_task(self._write_status(uid, status))

    async def _write_status(self, uid: str, status: dict) -> None:
        ref = pod_ref(self.pods.get(uid) or {})
        try:
            async with self._status_slots:
                await self._write_status_now(uid, status, ref)
        except Exception as exc:  # noqa: BLE001 - retried after STATUS_RETRY
            self._status_retry_at[uid] = self.clock.monotonic() + STATUS_RETRY
            self.errors.failed(f"status of {ref}", exc)
        finally:
            self._status_tasks.pop(uid, None)
            self.kick()

    async def _write_status_now(self, uid: str, status: dict, ref: str) -> None:
        for _ in range(CONFLICT_RETRIES):
            pod = self.pods.get(uid)
            if pod is None:
                return
            try:
                updated = await self.api.update_status(dict(pod, status=status))
            except errors.Conflict:
                meta = pod.get("metadata") or {}
                fresh = await self.api.get("Pod", meta.get("name", ""), meta.get("namespace") or "default")
                if uid_of(fresh) != uid:
                    return  # replaced by a namesake: the watch will say so
                self._store(fresh)
                continue
            except errors.NotFound:
                return  # deleted: the watch will say so
            self._store(updated)
            self.status_writes += 1
            self._status_retry_at.pop(uid, None)
            self.errors.ok(f"status of {ref}")
            return
        raise errors.Conflict(f"pod {ref} kept changing")

    # --- lookups (the log server) ---------------------------------------------------------

    def find_container(self, namespace: str, name: str, container: str) -> ContainerState | None:
        """The container to read logs from: the running one, else the newest, of that pod."""
        for pod in [*self.pods.values(), *self.terminating.values()]:
            meta = pod.get("metadata") or {}
            if meta.get("name") == name and (meta.get("namespace") or "default") == namespace:
                uid = uid_of(pod)
                states = [s for s in self.observed if s.pod_uid == uid and s.container == container]
                if states:
                    return max(states, key=lambda s: (s.running, s.started_at or 0.0))
        return None


    def find_pod(self, namespace: str, name: str) -> list[tuple[ContainerState, dict]] | None:
        """The pod's containers as observed, each with its spec (the newest instance of each
        name); None if the pod is not on this node."""
        for pod in [*self.pods.values(), *self.terminating.values()]:
            meta = pod.get("metadata") or {}
            if meta.get("name") == name and (meta.get("namespace") or "default") == namespace:
                uid = uid_of(pod)
                out = []
                for spec in (pod.get("spec") or {}).get("containers") or []:
                    states = [s for s in self.observed if s.pod_uid == uid and s.container == spec.get("name")]
                    if states:
                        out.append((max(states, key=lambda s: (s.running, s.started_at or 0.0)), spec))
                return out
        return None


def _reported_ready(pod: dict, container: str, cid: str) -> bool:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") == container and cs.get("containerID") == cid:
            return bool(cs.get("ready"))
    return False

