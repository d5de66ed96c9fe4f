"""The scenario catalogue: each a fault script with honest bounds.

A :class:`Scenario` is a coroutine ``run(ctx)`` that injects faults through ``ctx.nemesis``
while the runner's workloads keep going, plus the bounds the run is judged by. The runner
heals everything after ``run`` returns (``Nemesis.heal_all``), so a script may end mid-fault.

Bounds were measured on the project's 2-core machine and set at about three times the worst
value seen over repeated full-suite runs, with a floor of 3 s for write recovery and 5 s for
convergence (below that a bound measures scheduler noise, not the system); see
``chaos/README.md``. They are liveness safety nets, not performance targets.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from chaos.cluster import ChaosCluster
from chaos.nemesis import Nemesis
from chaos.pods import PodMonitor
from chaos.timeline import Timeline


@dataclass
class Context:
    cluster: ChaosCluster
    nemesis: Nemesis
    timeline: Timeline
    rng: random.Random
    duration: float  # length of the fault phase, seconds
    pods: PodMonitor | None = None  # worker scenarios: samples of what runs and what the API wants
    pod_recovery: float = 0.0       # worker scenarios: the scenario's bound for desired counts

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    run: Callable[[Context], Awaitable[None]]
    duration: float = 20.0       # default fault phase (--duration overrides)
    write_recovery: float = 9.0   # bound: recovery point -> first ack; and longest stretch without one
    converge: float = 5.0        # bound: workload stopped -> one state hash everywhere
    quick: bool = False          # part of the subset `make test` runs
    workers: bool = False        # needs node agents, a Deployment and the pod checks
    pod_recovery: float = 0.0    # workers: bound from a pod-recovery point to desired counts reached
    small_disks: bool = False    # each replica's data dir on a small filesystem of its own (root)
    wall_clock: bool = False     # replicas on a steppable wall clock (chaos.wallclock; needs cc)


SCENARIOS: dict[str, Scenario] = {}
# Catalogue order: control plane (process faults from mild to harsh, then the network, then the long
# one), then the workers.
ORDER = ("kill-leader", "kill-follower", "kill-quorum-then-restore", "kill-all-then-restart", "pause-leader",
         "pause-follower", "partition-leader", "partition-follower-then-heal", "partition-bridge",
         "member-wipe-and-replace", "add-member-under-load", "slow-peer", "leader-churn", "power-loss", "torn-write",
         "disk-full-follower", "disk-full-leader", "clock-step", "kill-agent-only", "kill-worker", "partition-worker",
         "rolling-restart-during-rollout")


def scenario(name: str, summary: str, **kwargs: object) -> Callable[[Callable[[Context], Awaitable[None]]],
                                                                     Callable[[Context], Awaitable[None]]]:
    """Register ``run`` as scenario ``name`` (keyword arguments are Scenario fields)."""
    def register(run: Callable[[Context], Awaitable[None]]) -> Callable[[Context], Awaitable[None]]:
        SCENARIOS[name] = Scenario(name, summary, run, **kwargs)  # type: ignore[arg-type]
        return run
    return register


def all_scenarios() -> dict[str, Scenario]:
    """Every scenario, in catalogue order (importing the modules registers them)."""
    from chaos.scenarios import clock, disk, membership, network, process, workers  # noqa: F401

    rank = {name: i for i, name in enumerate(ORDER)}
    return dict(sorted(SCENARIOS.items(), key=lambda kv: rank.get(kv[0], len(rank))))


def quick_scenarios() -> list[Scenario]:
    return [s for s in all_scenarios().values() if s.quick]
