"""Scenarios that hit the workers: node agents, their containers, their links to the replicas.

They run with agents (``--agents``, default 2) and a Deployment whose size the clients keep
changing (:class:`chaos.workload.ScaleWorkload`); ``ctx.pods`` samples what really runs. Next
to the control-plane checks, each is judged by the pod invariants (no pod name running twice,
desired counts reached within ``pod_recovery`` after each pod-recovery point, nothing left
running where the API does not bind it once settled).

Pod bounds, like the others, are about three times the worst value measured, with a floor of
10 s (a pod start, a rollout step with ``minReadySeconds: 1`` and the 0.5 s sampling). A node
that dies is given up after HAPLANE_NODE_GRACE (5 s) + HAPLANE_EVICTION_DELAY (2 s) by default,
so replacing its pods took 6.4–9.0 s here (process and Docker runtimes): 25 s bounds.
"""

from __future__ import annotations

import time

from chaos.invariants import Verdict, adopted
from chaos.pods import PodMonitor, PodSample
from chaos.scenarios import Context, scenario
from chaos.workload import NAMESPACE, STEADY, roll_template

# A restarted agent imports, lists its pods and runs its first sync round within ~1–2 s here
# (settled 0.96 s after a restart at worst): whatever it would start again has started by then.
ADOPTION_SHOWS_WITHIN = 5.0


def _pods(ctx: Context) -> PodMonitor:
    assert ctx.pods is not None, "a worker scenario runs with agents and a pod monitor"
    return ctx.pods


def running_on(sample: PodSample, node: str) -> set[str]:
    return {pod for n, pod in sample.running if n == node}


def busiest(ctx: Context, sample: PodSample) -> str:
    """The agent running the most pods of the steady Deployment, then the most pods (ties broken
    by the run's random generator): the one whose failure must move something."""
    agents = list(ctx.cluster.agents)
    ctx.rng.shuffle(agents)
    steady = f"{NAMESPACE}/{STEADY}-"

    def load(node: str) -> tuple[int, int]:
        pods = running_on(sample, node)
        return sum(p.startswith(steady) for p in pods), len(pods)

    return max(agents, key=load)


def container_ids(sample: PodSample, node: str) -> dict[str, str]:
    """``{pod/container: containerID}`` the API reports for the pods bound to ``node``."""
    out = {}
    for p in sample.pods or []:
        meta = p.get("metadata") or {}
        if (p.get("spec") or {}).get("nodeName") != node:
            continue
        for cs in (p.get("status") or {}).get("containerStatuses") or []:
            if cs.get("containerID"):
                out[f"{meta.get('namespace')}/{meta.get('name')}/{cs.get('name')}"] = cs["containerID"]
    return out


async def _replaced(ctx: Context, victim: str, since: float) -> PodSample:
    """Wait until the control plane has given up on ``victim`` (NotReady, its pods evicted) and
    desired counts are reached without it; record both times as figures."""
    pods, nem = _pods(ctx), ctx.nemesis
    down = await pods.wait_for(lambda s: s.node_ready(victim) is False, ctx.pod_recovery, f"{victim} NotReady")
    nem.figure("not_ready_s", down.t - since)
    replaced = await pods.wait_for(lambda s: s.met is True and not s.bound_to(victim),
                                   max(1.0, ctx.pod_recovery - (down.t - since)), f"the pods of {victim} replaced elsewhere")
    nem.figure("replaced_s", replaced.t - since)
    return replaced


@scenario("kill-agent-only", "SIGKILL one agent (its containers keep running) and restart it within its "
          "node's grace, twice; it must adopt its containers, never start them again",
          duration=16.0, write_recovery=9.0, converge=5.0, workers=True, pod_recovery=10.0)
async def kill_agent_only(ctx: Context) -> None:
    nem, pods = ctx.nemesis, _pods(ctx)
    rounds: list[tuple[dict[str, str], dict[str, str]]] = []
    try:
        for i in range(2):
            before = await pods.wait_for(lambda s: s.settled, 30.0, "a settled state before the kill")
            victim = busiest(ctx, before)
            span = await nem.kill_agent(victim)
            await ctx.sleep(2.0)  # well inside HAPLANE_NODE_GRACE: the node stays Ready, its pods bound
            t = await nem.restart_agent(victim)
            nem.pod_recovery_point(f"agent {victim} restarted", t)
            settled = await pods.wait_for(lambda s: s.settled, ctx.pod_recovery, f"agent {victim} back and settled")
            nem.figure("settled_after_restart_s", settled.t - t)
            # The first settled sample may predate the new agent's first sync round (it is still
            # starting): judge adoption on one taken after it has had the time to start things.
            after = await pods.wait_for(lambda s, t=t: s.settled and s.t >= t + ADOPTION_SHOWS_WITHIN,
                                        ctx.pod_recovery + ADOPTION_SHOWS_WITHIN, f"agent {victim} settled after its first rounds")
            rounds.append((container_ids(before, victim), container_ids(after, victim)))
            if i == 0:
                await ctx.sleep(span.start + ctx.duration / 2 - time.monotonic())
    finally:
        nem.verdicts.append(adopted(rounds))


@scenario("kill-worker", "SIGKILL an agent and all its containers (the machine dies); its pods are "
          "evicted and replaced on the other node(s); restart the agent later",
          duration=20.0, write_recovery=9.0, converge=5.0, workers=True, pod_recovery=25.0, quick=True)
async def kill_worker(ctx: Context) -> None:
    nem, pods = ctx.nemesis, _pods(ctx)
    before = await pods.wait_for(lambda s: s.settled, 30.0, "a settled state before the kill")
    victim = busiest(ctx, before)
    span = await nem.kill_worker(victim)
    nem.pod_recovery_point(f"{victim} and its containers killed", span.start)
    await _replaced(ctx, victim, span.start)
    await ctx.sleep(2.0)
    t = await nem.restart_agent(victim)
    nem.pod_recovery_point(f"{victim} restarted", t)
    await ctx.sleep(span.start + ctx.duration - time.monotonic())


@scenario("partition-worker", "Cut one agent off from every replica (dropped packets); its containers keep "
          "running while the control plane replaces its pods elsewhere; heal: it must stop what it no "
          "longer owns", duration=24.0, write_recovery=9.0, converge=5.0, workers=True, pod_recovery=25.0)
async def partition_worker(ctx: Context) -> None:
    nem, pods = ctx.nemesis, _pods(ctx)
    before = await pods.wait_for(lambda s: s.settled, 30.0, "a settled state before the cut")
    victim = busiest(ctx, before)
    span = await nem.isolate_agent(victim)
    nem.pod_recovery_point(f"{victim} cut off", span.start)
    first = await pods.wait_for(lambda s: s.pods is not None, 10.0, "a sample once the cut is in force")
    # What the agent runs and the API still binds to it once the cut is in force: the agent can
    # learn of no deletion from now on (a pod deleted just before the cut may be stopping).
    cut_off = running_on(first, victim) & set(first.bound_to(victim))
    replaced = await _replaced(ctx, victim, span.start)
    still = cut_off & running_on(replaced, victim)
    nem.verdicts.append(Verdict(  # the busiest node holds a steady pod: an empty set proves nothing
        "cut-off-node-keeps-running", bool(cut_off) and still == cut_off,
        f"{len(still)} of the {len(cut_off)} container(s) running on {victim} when it was cut off still ran "
        f"once their pods were replaced elsewhere", sorted(cut_off - still)))
    await ctx.sleep(span.start + ctx.duration * 0.6 - time.monotonic())
    healed = await nem.heal_agents()
    nem.pod_recovery_point(f"{victim} reconnected", healed)
    clean = await pods.wait_for(lambda s: s.settled, ctx.pod_recovery, f"{victim} stopped the pods it no longer owns")
    nem.figure("foreign_stopped_s", clean.t - healed)
    await ctx.sleep(span.start + ctx.duration - time.monotonic())


@scenario("rolling-restart-during-rollout", "Restart every replica one at a time (SIGTERM, wait until it has "
          "caught up), each while a Deployment rollout (a new pod template) is under way; the last rollout "
          "completes", duration=30.0, write_recovery=9.0, converge=5.0, workers=True, pod_recovery=10.0)
async def rolling_restart(ctx: Context) -> None:
    nem, cluster = ctx.nemesis, ctx.cluster
    leader = await nem.leader()
    order = [n for n in cluster.names if n != leader] + [leader]  # the leader last, as operators do
    end = time.monotonic() + ctx.duration
    for i, name in enumerate(order):
        await roll_template(cluster, f"v{i + 2}")
        ctx.timeline.mark("note", f"rollout to template v{i + 2} started")
        await ctx.sleep(1.0)
        span = await nem.stop(name)
        nem.recovery_point(f"{name} stopped", span.start)
        await ctx.sleep(1.0)
        t = await nem.restart(name)
        await nem.wait_caught_up(name, t)
        if name == leader:
            await nem.leader()
    t = time.monotonic()
    nem.pod_recovery_point("every replica restarted", t)
    await ctx.sleep(end - time.monotonic())
