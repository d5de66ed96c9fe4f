"""Runs one scenario end to end: cluster up, workloads on, faults, heal, final reads, verdicts.

Phases of a run (all recorded as ``phase`` marks in the timeline):

1. start a fresh cluster (own data dir and ports) and create the registers;
2. start the monitor, the register workload and the create workload; warm up;
3. run the scenario's fault script (``Scenario.run``), bounded in time;
4. heal everything (``Nemesis.heal_all``) — a ``recovery`` point — and keep the workload going
   for ``post_heal`` seconds;
5. stop the workload, wait for one state hash on every replica, read every register and list
   every created object linearizably through every replica;
6. judge: linearizability, no lost writes, durable creates, write recovery, convergence, and the
   isolated-replicas-ack-nothing windows the scenario declared.

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
from chaos.monitor import monitor
from chaos.nemesis import Nemesis
from chaos.scenarios import Context, Scenario
from chaos.timeline import Timeline
from chaos.workload import INITIAL, CreateRecord, CreateWorkload, RegisterWorkload, WorkloadConfig

Progress = Callable[[str], None]
PORT_STRIDE = 200


@dataclass
class RunOptions:
    replicas: int = 3
    duration: float | None = None      # None: each scenario's own default
    seed: int | None = None            # None: drawn at random (and reported)
    base_port: int = 11000
    work_dir: str | None = None        # cluster data dirs go here (default: a temp dir)
    keep_data: bool = False            # keep data dirs and replica logs of passing runs too
    unsafe_local_reads: bool = False   # test-only broken replicas: the checker must catch them
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

    def to_doc(self) -> dict[str, Any]:
        """Everything but the raw history (the report writes that to its own JSONL file)."""
        return {"scenario": self.scenario, "summary": self.summary, "seed": self.seed,
                "replicas": self.replicas, "duration": self.duration, "ok": self.ok, "wall_s": round(self.wall_s, 2),
                "error": self.error, "verdicts": [v.to_doc() for v in self.verdicts], "figures": self.figures,
                "history_summary": self.history.summary(), "data_dir": self.data_dir,
                "pinned": {str(p): n for p, n in self.pinned.items()}}


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
    port = PORTS.take(opts.base_port, opts.replicas)
    cluster = ChaosCluster(data_dir, replicas=opts.replicas, base_port=port, env=env)
    timeline = Timeline()
    history = History()
    nemesis = Nemesis(cluster, timeline, rng)
    run_label = f"{sc.name}-{seed}"
    registers = RegisterWorkload(cluster, history, rng, run_label, opts.workload)
    creates = CreateWorkload(cluster, run_label, opts.workload)
    verdicts: list[Verdict] = []
    figures: dict[str, Any] = {}
    error: str | None = None
    stop_work, stop_mon = asyncio.Event(), asyncio.Event()
    monitor_task: asyncio.Task | None = None
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
        phase(f"starting {opts.replicas} replicas on ports {port + 1}.. (seed {seed})")
        await cluster.start()
        await registers.setup()
        monitor_task = asyncio.create_task(monitor(cluster, timeline, stop_mon), name="monitor")
        work_tasks.append(asyncio.create_task(registers.run(stop_work), name="registers"))
        if opts.workload.creators:
            work_tasks.append(asyncio.create_task(creates.run(stop_work), name="creates"))
        phase("workload running")
        await asyncio.sleep(opts.warmup)
        phase(f"faults: {sc.summary}")
        faults_t = time.monotonic()
        ctx = Context(cluster, nemesis, timeline, rng, duration)
        try:
            await asyncio.wait_for(sc.run(ctx), timeout=duration * 3 + 120)
        except Exception as exc:  # noqa: BLE001 - reported as the scenario-ran verdict
            error = f"{type(exc).__name__}: {exc}"
            timeline.mark("error", error)
            progress(f"  harness error: {error}")
        phase("healing everything")
        heal_t = await nemesis.heal_all()
        nemesis.recovery_point("healed", heal_t)
        await asyncio.sleep(opts.post_heal)
        phase("stopping the workload")
        stop_t = time.monotonic()
        stop_work.set()
        await asyncio.wait_for(asyncio.gather(*work_tasks, return_exceptions=True),
                               opts.workload.timeout * 2 + 10)
        phase("waiting for one state hash on every replica")
        converge_s, hashes = await cluster.wait_converged(sc.converge)
        phase("final reads through every replica")
        finals, lists = await asyncio.gather(registers.final_reads(), creates.final_lists())
    except Exception as exc:  # noqa: BLE001
        error = error or f"{type(exc).__name__}: {exc}"
        timeline.mark("error", error, trace=traceback.format_exc())
        progress(f"  harness error: {error}")
    finally:
        stop_work.set()
        stop_mon.set()
        for t in [*work_tasks, *([monitor_task] if monitor_task else [])]:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(t, 15)
        await cluster.close()

    progress(f"  [{time.monotonic() - t_wall:6.1f}s] checking {len(history.ops)} ops")
    names = cluster.names
    if error:
        verdicts.append(Verdict("scenario-ran", False, error))
    verdicts.append(await asyncio.to_thread(invariants.linearizable, history, INITIAL,
                                            budget_s=opts.checker_budget))
    verdicts.append(invariants.no_lost_writes(history, finals, registers.keys, names, INITIAL))
    verdicts.append(invariants.client_contract(history))
    if opts.workload.creators:
        verdicts.append(invariants.creates_durable(creates.records, lists, names))
    mutations = [Mutation(op.invoke_t, op.complete_t, op.result) for op in history.ops if op.f != "read"]
    mutations += [Mutation(c.invoke_t, c.complete_t, c.result) for c in creates.records]
    points = [(m.detail, m.t) for m in timeline.marks_of("recovery")]
    window = (faults_t, stop_t) if faults_t is not None and stop_t is not None else None
    verdicts.append(invariants.write_recovery(mutations, points, sc.write_recovery, timeline.t0, window,
                                              nemesis.outages))
    if nemesis.quiet:
        verdicts.append(invariants.quiet_windows(history.ops, creates.records, nemesis.quiet,
                                                 {**registers.processes, **creates.processes}, timeline.t0))
    verdicts.append(invariants.converged(converge_s, sc.converge, hashes))
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
                          time.monotonic() - t_wall, history, creates.records, timeline,
                          {**registers.processes, **creates.processes}, data_dir if keep else None, error)
