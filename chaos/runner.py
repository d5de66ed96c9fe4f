"""Runs one scenario end to end: cluster up, workloads on, faults, heal, final reads, verdicts.

Phases of a run (all recorded as ``phase`` marks in the timeline):

1. start a fresh cluster (own data dir and ports) and create the registers;
2. start the monitor, the register workload and the create workload; warm up;
3. run the scenario's fault script (``Scenario.run``), bounded in time;
4. heal everything (``Nemesis.heal_all``) — a ``recovery`` point — and keep the workload going
   for ``post_heal`` seconds;
5. stop the workload, wait for one state hash on every replica, read every register and list
   every created object linearizably through every replica;
6. judge: linearizability, no lost writes, durable creates, write recovery, convergence, the
   isolated-replicas-ack-nothing windows the scenario declared, and the watch streams.

Every scenario also runs the watch workload (:mod:`chaos.watchers`): from a revision taken before
the workloads start, one raw watcher pinned to each replica and one failover watcher through
:class:`haplane.client.Client` watch the register and create workloads' ConfigMaps until every one
of them has reached the last known change (after the final reads), resuming and relisting as a
client must. :func:`chaos.watchcheck.check_watches` judges their streams (watch-ordered,
watch-complete, watch-valid).

Worker scenarios (``Scenario.workers``) also start ``agents`` node agents on the chosen runtime,
create the Deployment of :class:`chaos.workload.ScaleWorkload` (whose scales and reads join the
register history) and sample the workers (:class:`chaos.pods.PodMonitor`) from before the
workload starts until the pods have settled after it stopped — before the state-hash wait,
since agents and controllers keep writing until then. Extra verdicts: single-running-pod (every
sample), pods-recovered (each pod-recovery point), desired-counts and no-foreign-pods (the
settled end state), and whatever the scenario script checked itself.

A harness error (a leader that never appears, a replica that does not load its fault rules)
fails the scenario with a ``scenario-ran`` verdict; the checks still run on what was recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import socket
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chaos import invariants
from chaos.cluster import ChaosCluster
from chaos.history import History
from chaos.invariants import Mutation, Verdict
from chaos.leadership import leader_kept
from chaos.monitor import monitor
from chaos.nemesis import Nemesis
from chaos.pods import PodMonitor, PodSample, node_ready
from chaos.scenarios import Context, Scenario
from chaos.timeline import Timeline
from chaos.watchcheck import Version, WatchStream, check_watches
from chaos.watchers import WatchWorkload
from chaos.workload import (
    INITIAL,
    NAMESPACE,
    CreateRecord,
    CreateWorkload,
    RegisterWorkload,
    ScaleWorkload,
    WorkloadConfig,
    failover_client,
)
from haplane.aio import wait_for
from haplane.client import Client

Progress = Callable[[str], None]
PORT_STRIDE = 200
WATCH_CATCH_UP = 10.0  # after the final reads, every watcher must reach the last known change within this


@dataclass
class RunOptions:
    replicas: int = 3
    duration: float | None = None      # None: each scenario's own default
    seed: int | None = None            # None: drawn at random (and reported)
    base_port: int = 11000
    agents: int = 2                    # node agents of worker scenarios (control-plane ones run none)
    runtime: str = "process"           # their runtime: process | docker (hollow has nothing to observe)
    work_dir: str | None = None        # cluster data dirs go here (default: a temp dir)
    keep_data: bool = False            # keep data dirs and replica logs of passing runs too
    unsafe_local_reads: bool = False   # test-only broken replicas: the checker must catch them
    unsafe_forget_containers: bool = False  # test-only broken agents: the pod checks must catch them
    unsafe_no_fsync: bool = False      # test-only: replicas never fsync; power-loss must catch it
    # Raft log compaction threshold (entries). Small, so that within a run replicas take and
    # reload snapshots and lagging or wiped members are caught up by snapshot transfer, not
    # only by log replay. None: the server's default (which a short run never reaches).
    compaction_entries: int | None = 500
    env: dict[str, str] = field(default_factory=dict)
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)
    warmup: float = 2.0
    post_heal: float = 5.0
    checker_budget: float = 60.0


@dataclass
class ScenarioResult:
    scenario: str
    summary: str
    seed: int
    replicas: int
    duration: float
    ok: bool
    verdicts: list[Verdict]
    figures: dict[str, Any]
    wall_s: float
    history: History
    creates: list[CreateRecord]
    timeline: Timeline
    pinned: dict[int, str]
    data_dir: str | None
    error: str | None = None
    pod_samples: list[PodSample] = field(default_factory=list)
    agents: int = 0
    runtime: str | None = None
    watch_streams: list[WatchStream] = field(default_factory=list)
    watch_versions: list[Version] = field(default_factory=list)  # what the clients saw (checker input)

    def to_doc(self) -> dict[str, Any]:
        """Everything but the raw history and pod samples (the report writes those to their own files)."""
        return {"scenario": self.scenario, "summary": self.summary, "seed": self.seed,
                "replicas": self.replicas, "agents": self.agents, "runtime": self.runtime,
                "duration": self.duration, "ok": self.ok, "wall_s": round(self.wall_s, 2),
                "error": self.error, "verdicts": [v.to_doc() for v in self.verdicts], "figures": self.figures,
                "history_summary": self.history.summary(), "pod_snapshots": len(self.pod_samples),
                "data_dir": self.data_dir, "pinned": {str(p): n for p, n in self.pinned.items()}}


def _ports_free(base: int, replicas: int) -> bool:
    for off in [i for i in range(1, replicas + 1)] + [100 + i for i in range(1, replicas + 1)]:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", base + off))
            except OSError:
                return False
    return True


class _PortBlocks:
    """Hands out a fresh block of ports to each run in this process (skipping busy ones)."""

    def __init__(self) -> None:
        self.next: dict[int, int] = {}

    def take(self, base: int, replicas: int) -> int:
        k = self.next.get(base, 0)
        for _ in range(50):
            port = base + PORT_STRIDE * k
            k += 1
            if _ports_free(port, replicas):
                self.next[base] = k
                return port
        raise RuntimeError(f"no free block of ports from {base}")


PORTS = _PortBlocks()


def node_net(port: int) -> str:
    """The agents' node network of the cluster on ``port``: 127.5.K (K from the port block), apart
    from every other local cluster's (127.0.x) and from other chaos runs'."""
    return f"127.5.{port // PORT_STRIDE % 250 + 1}"


def check_runtime(runtime: str) -> str | None:
    """Why worker scenarios cannot run on ``runtime`` here, or None."""
    if runtime == "hollow":
        return ("worker scenarios need containers the harness can see and kill (/proc or the Docker "
                "engine); the hollow runtime has none: use --runtime process or docker")
    if runtime == "docker":
        from haplane.up import DEMO_IMAGE, docker_available, ensure_demo_image

        if not docker_available():
            return "--runtime docker: the Docker engine does not answer"
        if not ensure_demo_image():
            return f"--runtime docker: the {DEMO_IMAGE} image is missing and cannot be built"
    elif runtime != "process":
        return f"unknown runtime {runtime!r}"
    return None


class _Workers:
    """The worker side of one run: agents ready, the Deployment, the scalers, the pod samples."""

    def __init__(self, sc: Scenario, cluster: ChaosCluster, history: History, rng: random.Random, run_label: str,
                 cfg: WorkloadConfig) -> None:
        self.sc, self.cluster, self.run_label = sc, cluster, run_label
        self.scale = ScaleWorkload(cluster, history, rng, run_label, cfg)
        self.client: Client | None = None  # made in setup(): the cluster's token exists once it started
        self.pods: PodMonitor | None = None
        self.settled: PodSample | None = None
        self.settle_s: float | None = None

    async def setup(self, timeout: float = 60.0) -> None:
        """Agents registered and Ready, the runtime view attached, the Deployment created."""
        self.client = client = failover_client(self.cluster, WorkloadConfig(timeout=5.0))
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while True:
            try:
                ns = await client.get("Namespace", NAMESPACE, None)
                nodes = (await client.list("Node", None)).get("items") or []
                ready = {n["metadata"]["name"] for n in nodes if node_ready(n)}
                if set(self.cluster.agents) <= ready:
                    break
                last = f"Ready: {sorted(ready)}"
            except Exception as exc:  # noqa: BLE001 - still starting
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() > deadline:
                raise TimeoutError(f"agents {self.cluster.agents} not Ready within {timeout:g}s ({last})")
            await asyncio.sleep(0.3)
        view = await self.cluster.attach_view(self.run_label, str(ns["metadata"]["uid"]))
        self.pods = PodMonitor(view, client)
        await self.scale.setup()

    async def settle(self, bound: float) -> None:
        """Wait (up to ``bound``) for desired counts reached and nothing foreign running."""
        assert self.pods is not None
        t = time.monotonic()
        try:
            self.settled = await self.pods.wait_for(lambda s: s.settled, bound, "pods settled")
            self.settle_s = self.settled.t - t
        except TimeoutError:
            self.settled = None

    def verdicts(self, timeline: Timeline) -> tuple[list[Verdict], dict[str, Any]]:
        samples = self.pods.samples if self.pods else []
        out = [invariants.single_running_pod([(s.t - timeline.t0, s.running) for s in samples])]
        points = [(m.detail, m.t) for m in timeline.marks_of("pod-recovery")]
        rec = invariants.pods_recovered([(s.t, s.met) for s in samples], points, self.sc.pod_recovery, timeline.t0)
        out.append(rec)
        final = self.settled or next((s for s in reversed(samples) if s.pods is not None), None)
        if final is None or final.deployments is None or final.pods is None:
            out.append(Verdict("desired-counts", False, "no sample with the API's view after the run"))
        else:
            v = invariants.desired_counts_reached(final.deployments, final.pods, final.running,
                                                  replicasets=final.replicasets or ())
            if self.settled is None:
                v.ok = False
                v.summary = f"not settled within {self.sc.pod_recovery:g}s after the workload stopped: {v.summary}"
            out.append(v)
            out.append(invariants.no_pods_on_foreign_nodes(final.running, final.pods))
        figures = {"pod_snapshots": len(samples), "pods_recovery_s": [p["recovery_s"] for p in rec.data["points"]],
                   "pods_settle_s": None if self.settle_s is None else round(self.settle_s, 3)}
        return out, figures

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()


async def run_scenario(sc: Scenario, opts: RunOptions, progress: Progress = lambda s: None) -> ScenarioResult:
    seed = opts.seed if opts.seed is not None else random.randrange(2**31)
    rng = random.Random(f"{seed}/{sc.name}")
    duration = opts.duration if opts.duration is not None else sc.duration
    t_wall = time.monotonic()
    root = opts.work_dir or tempfile.mkdtemp(prefix="haplane-chaos-")
    os.makedirs(root, exist_ok=True)
    data_dir = tempfile.mkdtemp(prefix=f"{sc.name}-", dir=root)
    env = dict(opts.env)
    if opts.compaction_entries:
        env.setdefault("HAPLANE_RAFT_COMPACTION_ENTRIES", str(opts.compaction_entries))
    if opts.unsafe_local_reads:
        env["HAPLANE_UNSAFE_LOCAL_READS"] = "1"
    if opts.unsafe_forget_containers:
        env["HAPLANE_UNSAFE_FORGET_CONTAINERS"] = "1"
    if opts.unsafe_no_fsync:
        env["HAPLANE_UNSAFE_NO_FSYNC"] = "1"
    port = PORTS.take(opts.base_port, opts.replicas)
    agents = opts.agents if sc.workers else 0
    cluster = ChaosCluster(data_dir, replicas=opts.replicas, base_port=port, env=env, agents=agents,
                           runtime=opts.runtime, node_net=node_net(port), small_disks=sc.small_disks,
                           wall_clock=sc.wall_clock)
    timeline = Timeline()
    history = History()
    nemesis = Nemesis(cluster, timeline, rng)
    run_label = f"{sc.name}-{seed}"
    registers = RegisterWorkload(cluster, history, rng, run_label, opts.workload)
    creates = CreateWorkload(cluster, run_label, opts.workload)
    workers = _Workers(sc, cluster, history, rng, run_label, opts.workload) if sc.workers else None
    watches = WatchWorkload(cluster, run_label) if opts.workload.watchers else None
    verdicts: list[Verdict] = []
    figures: dict[str, Any] = {}
    error: str | None = None
    stop_work, stop_mon, stop_pods, stop_watch = asyncio.Event(), asyncio.Event(), asyncio.Event(), asyncio.Event()
    monitor_task: asyncio.Task | None = None
    pods_task: asyncio.Task | None = None
    watch_task: asyncio.Task | None = None
    watch_catch_up: float | None = None
    work_tasks: list[asyncio.Task] = []
    finals: dict[str, dict[str, Any]] = {}
    lists: dict[str, set[str]] = {}
    converge_s: float | None = None
    hashes: dict[str, Any] = {}
    heal_t: float | None = None
    stop_t: float | None = None
    faults_t: float | None = None

    def phase(text: str) -> None:
        timeline.mark("phase", text)
        progress(f"  [{time.monotonic() - t_wall:6.1f}s] {text}")

    try:
        if workers is not None and (why := check_runtime(opts.runtime)):
            raise RuntimeError(why)
        what = f"{opts.replicas} replicas" + (f", {agents} {opts.runtime} agents" if agents else "")
        phase(f"starting {what} on ports {port + 1}.. (seed {seed})")
        await cluster.start()
        await registers.setup()
        if workers is not None:
            await workers.setup()
            assert workers.pods is not None
            pods_task = asyncio.create_task(workers.pods.run(stop_pods), name="pods")
            await workers.pods.wait_for(lambda s: s.settled, 60.0, "the Deployment's first pods running")
            phase("agents ready, the Deployment's pods running")
        if watches is not None:
            await watches.setup()
            watch_task = asyncio.create_task(watches.run(stop_watch), name="watchers")
        monitor_task = asyncio.create_task(monitor(cluster, timeline, stop_mon), name="monitor")
        work_tasks.append(asyncio.create_task(registers.run(stop_work), name="registers"))
        if opts.workload.creators:
            work_tasks.append(asyncio.create_task(creates.run(stop_work), name="creates"))
        if workers is not None:
            work_tasks.append(asyncio.create_task(workers.scale.run(stop_work), name="scalers"))
        phase("workload running")
        await asyncio.sleep(opts.warmup)
        phase(f"faults: {sc.summary}")
        faults_t = time.monotonic()
        ctx = Context(cluster, nemesis, timeline, rng, duration, workers.pods if workers else None,
                      sc.pod_recovery)
        try:
            await wait_for(sc.run(ctx), timeout=duration * 3 + 120)
        except Exception as exc:  # noqa: BLE001 - reported as the scenario-ran verdict
            error = f"{type(exc).__name__}: {exc}"
            timeline.mark("error", error)
            progress(f"  harness error: {error}")
        phase("healing everything")
        heal_t = await nemesis.heal_all()
        nemesis.recovery_point("healed", heal_t)
        if workers is not None:
            nemesis.pod_recovery_point("healed", heal_t)
        await asyncio.sleep(opts.post_heal)
        phase("stopping the workload")
        stop_t = time.monotonic()
        stop_work.set()
        await wait_for(asyncio.gather(*work_tasks, return_exceptions=True),
                               opts.workload.timeout * 2 + 10)
        if workers is not None:
            nemesis.pod_recovery_point("workload stopped", stop_t)
            phase("waiting for the pods to settle")
            await workers.settle(sc.pod_recovery)
            stop_pods.set()
        phase("waiting for one state hash on every replica")
        converge_s, hashes = await cluster.wait_converged(sc.converge)
        phase("final reads through every replica")
        finals, lists, scale_finals = await asyncio.gather(
            registers.final_reads(), creates.final_lists(),
            workers.scale.final_reads() if workers is not None else _nothing())
        for replica, values in scale_finals.items():
            finals.setdefault(replica, {}).update(values)
        if watches is not None:
            phase("waiting for every watcher to reach the last change")
            known = registers.versions + creates.versions
            watch_catch_up = await watches.wait_caught_up(max((v.rv for v in known), default=None),
                                                          WATCH_CATCH_UP)
            stop_watch.set()
            if watch_task is not None:
                await wait_for(watch_task, 15)
    except Exception as exc:  # noqa: BLE001
        error = error or f"{type(exc).__name__}: {exc}"
        timeline.mark("error", error, trace=traceback.format_exc())
        progress(f"  harness error: {error}")
    finally:
        stop_work.set()
        stop_mon.set()
        stop_pods.set()
        stop_watch.set()
        for t in [*work_tasks, *(x for x in (monitor_task, pods_task, watch_task) if x)]:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
                await wait_for(t, 15)
        if workers is not None:
            await workers.close()
        try:
            await cluster.close()
        except Exception as exc:  # noqa: BLE001 - a cleanup failure fails the scenario, loudly
            error = error or f"cleanup: {exc}"
            progress(f"  cleanup error: {exc}")

    progress(f"  [{time.monotonic() - t_wall:6.1f}s] checking {len(history.ops)} ops")
    names = cluster.names
    keys = registers.keys + (workers.scale.keys if workers is not None else [])
    if error:
        verdicts.append(Verdict("scenario-ran", False, error))
    verdicts.append(await asyncio.to_thread(invariants.linearizable, history, INITIAL,
                                            budget_s=opts.checker_budget))
    verdicts.append(invariants.no_lost_writes(history, finals, keys, names, INITIAL))
    verdicts.append(invariants.client_contract(history))
    if opts.workload.creators:
        verdicts.append(invariants.creates_durable(creates.records, lists, names))
    mutations = [Mutation(op.invoke_t, op.complete_t, op.result) for op in history.ops if op.f != "read"]
    mutations += [Mutation(c.invoke_t, c.complete_t, c.result) for c in creates.records]
    points = [(m.detail, m.t) for m in timeline.marks_of("recovery")]
    window = (faults_t, stop_t) if faults_t is not None and stop_t is not None else None
    verdicts.append(invariants.write_recovery(mutations, points, sc.write_recovery, timeline.t0, window,
                                              nemesis.outages))
    pinned = {**registers.processes, **creates.processes, **(workers.scale.processes if workers else {})}
    if nemesis.quiet:
        verdicts.append(invariants.quiet_windows(history.ops, creates.records, nemesis.quiet, pinned, timeline.t0))
    verdicts.append(invariants.converged(converge_s, sc.converge, hashes))
    watch_versions: list[Version] = []
    if watches is not None:
        watch_versions = registers.versions + creates.versions + watches.versions
        t_check = time.monotonic()
        verdicts += check_watches(watches.streams, history, creates.records, registers.keys, watch_versions,
                                  timeline.t0)
        figures["watch_check_s"] = round(time.monotonic() - t_check, 3)
        figures["watch_events"] = sum(len(s.events()) for s in watches.streams)
        figures["watch_resumes"] = sum(s.count("RESUME") for s in watches.streams)
        figures["watch_relists"] = sum(s.count("RELIST") for s in watches.streams)
        figures["watch_catch_up_s"] = None if watch_catch_up is None else round(watch_catch_up, 3)
    if workers is not None:
        pod_verdicts, pod_figures = workers.verdicts(timeline)
        verdicts += pod_verdicts
        figures.update(pod_figures)
    verdicts += nemesis.verdicts
    if nemesis.steady is not None:
        verdicts.append(leader_kept(timeline.samples, nemesis.steady, timeline.t0))
    figures.update(nemesis.figures)
    rec = next(v for v in verdicts if v.name == "write-recovery").data
    figures["write_recovery_s"] = [p["recovery_s"] for p in rec["points"]]
    figures["longest_write_gap_s"] = rec["longest_gap_s"]
    figures["converge_s"] = None if converge_s is None else round(converge_s, 3)
    ok = all(v.ok is True for v in verdicts)
    keep = opts.keep_data or not ok
    if not keep:
        shutil.rmtree(data_dir, ignore_errors=True)
        if not opts.work_dir:
            shutil.rmtree(root, ignore_errors=True)
    return ScenarioResult(sc.name, sc.summary, seed, opts.replicas, duration, ok, verdicts, figures,
                          time.monotonic() - t_wall, history, creates.records, timeline, pinned,
                          data_dir if keep else None, error, workers.pods.samples if workers and workers.pods else [],
                          agents, opts.runtime if agents else None, watches.streams if watches else [], watch_versions)


async def _nothing() -> dict[str, dict[str, Any]]:
    return {}
