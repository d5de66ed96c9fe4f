"""The nemesis: fault actions as a run sees them — chosen targets, recorded spans, recovery points.

It drives :class:`chaos.cluster.ChaosCluster` and writes everything it does into the
:class:`chaos.timeline.Timeline`: a span per fault (from the moment it is in force to the
moment it is lifted), ``recovery`` marks (points after which the cluster must accept writes
again within the scenario's bound) and :class:`chaos.invariants.QuietWindow` records (replicas
that cannot reach a quorum and so must acknowledge nothing).

Worker faults (agents and their containers) are recorded the same way; ``pod-recovery`` marks
are points after which every Deployment must be back at its desired count, with pods really
running, within the scenario's ``pod_recovery`` bound.

Contract: :meth:`heal_all` always brings the cluster back to full health — every replica
running and unpaused, every link healthy, every agent running and connected — whatever state
a scenario left it in.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from typing import Any

from chaos import disk
from chaos.cluster import ChaosCluster, Link
from chaos.invariants import QuietWindow, Verdict
from chaos.leadership import SteadyLeader
from chaos.timeline import Span, Timeline

LEADER_TIMEOUT = 30.0


class Nemesis:
    def __init__(self, cluster: ChaosCluster, timeline: Timeline, rng: random.Random) -> None:
        self.cluster, self.timeline, self.rng = cluster, timeline, rng
        self.quiet: list[QuietWindow] = []
        self.outages: list[tuple[float, float]] = []
        self._links_span: Span | None = None
        self.figures: dict[str, list[float]] = {}
        self.verdicts: list[Verdict] = []  # checks a scenario script makes itself
        self.steady: SteadyLeader | None = None  # a follower fault: the leader must keep leading

    def figure(self, name: str, value: float) -> None:
        """Record a measured duration (reported with the scenario's results)."""
        self.figures.setdefault(name, []).append(round(value, 3))

    # ------------------------------------------------------------------ targets
    async def leader(self, exclude: tuple[str, ...] = (), timeout: float = LEADER_TIMEOUT) -> str:
        """The agreed leader (a quorum follows it), waiting for one if need be."""
        name, _ = await self.cluster.wait_leader(timeout, exclude)
        return name

    async def followers(self) -> list[str]:
        leader = await self.leader()
        return [n for n in self.cluster.names if n != leader]

    async def expect_steady_leader(self) -> SteadyLeader:
        """From now on the agreed leader must keep leading at its current term while a follower
        (the returned ``victim``, drawn at random) is hit and rejoins (judged by
        :func:`chaos.leadership.leader_kept`)."""
        while True:
            leader = await self.leader()
            st = await self.cluster.status(leader)
            if st and st.get("role") == "leader" and st.get("term") is not None:
                break
        victim = self.rng.choice([n for n in self.cluster.names if n != leader])
        self.steady = SteadyLeader(leader, int(st["term"]), time.monotonic(), victim)
        self.timeline.mark("note", f"{leader} leads at term {st['term']}: it must keep leading")
        return self.steady

    def steady_victim_healed(self, at: float) -> None:
        """The steady-leader victim's fault ended at ``at``: it must be seen rejoined after it."""
        if self.steady is not None:
            self.steady = dataclasses.replace(self.steady, healed=at)

    def recovery_point(self, label: str, at: float | None = None) -> None:
        """From ``at`` on, the cluster must accept a write within the scenario's bound."""
        self.timeline.mark("recovery", label, at=at)

    async def new_leader_after(self, old: str, since: float, label: str) -> str:
        """Wait for a leader other than ``old``; record the election time as a figure."""
        name, found = await self.cluster.wait_leader(LEADER_TIMEOUT, exclude=(old,))
        self.figure("election_s", found - since)
        self.timeline.mark("note", f"{label}: {name} leads, {found - since:.2f}s after")
        return name

    # ---------------------------------------------------------------- processes
    async def kill(self, name: str) -> Span:
        await self.cluster.kill(name)
        return self.timeline.begin("kill", [name], f"SIGKILL {name}")

    async def stop(self, name: str) -> Span:
        """SIGTERM: a graceful shutdown, as for maintenance."""
        await self.cluster.stop(name)
        return self.timeline.begin("stop", [name], f"SIGTERM {name}")

    async def restart(self, name: str) -> float:
        await self.cluster.restart(name)
        t = time.monotonic()
        for kind in ("kill", "wipe", "stop", "power", "disk"):
            for s in self.timeline.open_spans(kind, name):
                self.timeline.end(s, t)
        return t

    async def wait_caught_up(self, name: str, since: float, timeout: float = 60.0) -> float:
        """Wait until ``name`` has applied everything the leader had committed when this was
        called; record the time since ``since`` as the ``catch_up_s`` figure and return it."""
        target = None
        while target is None:
            st = await self.cluster.status(await self.leader())
            target = st.get("commitIndex") if st else None
        while True:
            st = await self.cluster.status(name)
            if st and (st.get("appliedIndex") or 0) >= target:
                break
            if time.monotonic() - since > timeout:
                raise TimeoutError(f"{name} did not catch up to index {target} within {timeout:g}s")
            await asyncio.sleep(0.1)
        took = time.monotonic() - since
        self.figure("catch_up_s", took)
        self.timeline.mark("note", f"{name} caught up to index {target}")
        return took

    async def power_cut(self, names: list[str]) -> Span:
        """SIGKILL ``names`` at once, then cut each journal back to what it had fsynced (a power
        loss of those hosts: the page cache is gone). Records the bytes lost as a figure."""
        await asyncio.gather(*(self.cluster.kill(n) for n in names))
        span = self.timeline.begin("power", list(names), f"power cut: {','.join(names)}")
        lost = []
        for n in names:
            before, cut = disk.lose_unsynced(self.cluster.journal_path(n))
            lost.append(f"{n} -{cut}B of {before}B")
            self.figure("unsynced_bytes_lost", cut)
        self.timeline.mark("note", "journals cut back to their synced length: " + ", ".join(lost))
        return span

    async def damage_journal(self, name: str, how: str) -> Span:
        """SIGKILL ``name`` and damage its journal: ``tear`` (cut inside the last record),
        ``corrupt-last`` or ``corrupt-middle`` (flip a byte in that record)."""
        path = self.cluster.journal_path(name)
        for _ in range(50):  # right after a compaction the journal holds too few records to pick from
            if len(disk.records(path)) >= 3:
                break
            await asyncio.sleep(0.2)
        await self.cluster.kill(name)
        if how == "tear":
            where = disk.tear_last_record(path)
        else:
            where = disk.corrupt_record(path, how.removeprefix("corrupt-"))
        return self.timeline.begin("disk", [name], f"{how} {name}'s journal at byte {where}")

    async def pause(self, name: str) -> Span:
        self.cluster.pause(name)
        return self.timeline.begin("pause", [name], f"SIGSTOP {name}")

    async def resume(self, name: str) -> float:
        self.cluster.resume(name)
        t = time.monotonic()
        for s in self.timeline.open_spans("pause", name):
            self.timeline.end(s, t)
        return t

    async def wipe_and_replace(self, name: str) -> Span:
        """SIGKILL, delete the data, start empty at the same address (a replaced disk)."""
        await self.cluster.kill(name)
        span = self.timeline.begin("wipe", [name], f"wipe {name} and start it empty")
        await asyncio.to_thread(self.cluster.lc.wipe, name)
        await self.cluster.restart(name)
        return span

    # --------------------------------------------------------------- membership
    async def add_member(self, name: str, index: int, timeout: float = 120.0) -> float:
        """Start ``name`` empty with ``--join`` and add it (``haplane cluster add-member``'s code:
        a learner first, promoted by the leader once caught up). Records ``add_member_s`` (from
        the start to a caught-up voter) and returns when it is one."""
        from haplane import members
        from haplane.client import Client

        span = self.timeline.begin("member", [name], f"start {name} (--join) and add it")
        m = await self.cluster.start_joiner(name, index)
        notes: list[str] = []
        async with Client([self.cluster.url(n) for n in self.cluster.names], self.cluster.admin_token,
                          max_attempts=20, timeout=10.0, backoff_max=1.0) as client:
            await _until_serving(client, str(m.url), timeout)
            await members.add_member(client, name, str(m.raft), str(m.url), wait_timeout=timeout,
                                     say=notes.append, out=notes.append)
        t = time.monotonic()
        self.figure("add_member_s", t - span.start)
        self.timeline.mark("note", f"{name} is a voter: " + "; ".join(notes[-3:]))
        return t

    async def remove_member(self, name: str) -> float:
        """``haplane cluster remove-member NAME``, then stop that replica; ends its span."""
        from haplane import members
        from haplane.client import Client

        notes: list[str] = []
        async with Client([self.cluster.url(n) for n in self.cluster.names], self.cluster.admin_token,
                          max_attempts=20, timeout=10.0, backoff_max=1.0) as client:
            await members.remove_member(client, name, out=notes.append)
        await asyncio.to_thread(self.cluster.lc.stop, name)
        t = time.monotonic()
        for s in self.timeline.open_spans("member", name):
            self.timeline.end(s, t)
        self.timeline.mark("note", "; ".join(notes))
        return t

    async def fill_disk(self, name: str) -> Span:
        """Fill ``name``'s data filesystem (a ballast file): its writes fail with ENOSPC."""
        taken = await asyncio.to_thread(self.cluster.fill_disk, name)
        return self.timeline.begin("disk-full", [name], f"{name}'s disk full ({taken / 2**20:.1f} MiB ballast)")

    async def free_disk(self, name: str) -> float:
        await asyncio.to_thread(self.cluster.free_disk, name)
        t = time.monotonic()
        for s in self.timeline.open_spans("disk-full", name):
            self.timeline.end(s, t)
        return t

    async def step_clock(self, name: str, seconds: float) -> float:
        """Step ``name``'s wall clock to system time + ``seconds`` (0: back to the system's)."""
        self.cluster.step_clock(name, seconds)
        await asyncio.sleep(0.05)  # the preload library re-reads its offset every 20 ms
        t = time.monotonic()
        for s in self.timeline.open_spans("clock", name):
            self.timeline.end(s, t)
        if seconds:
            self.timeline.begin("clock", [name], f"{name}'s wall clock stepped {seconds:+.0f}s", at=t)
        return t

    # -------------------------------------------------------------------- links
    async def set_links(self, links: dict[frozenset[str], Link], kind: str, detail: str) -> float:
        t = await self.cluster.set_links(links)
        if self._links_span is not None:
            self.timeline.end(self._links_span, t)
            self._links_span = None
        if links:
            targets = sorted({n for pair in links for n in pair})
            self._links_span = self.timeline.begin(kind, targets, detail, at=t)
        return t

    async def partition(self, *groups: list[str]) -> float:
        """Cut every link between members of different groups; returns when in force."""
        detail = " | ".join(",".join(g) for g in groups)
        return await self.set_links(ChaosCluster.cut_between(groups), "partition", detail)

    async def bridge(self, left: list[str], bridge: list[str], right: list[str]) -> float:
        """``left`` and ``right`` cannot talk; ``bridge`` talks to both."""
        detail = f"{','.join(left)} | {','.join(right)}, bridged by {','.join(bridge)}"
        return await self.set_links(ChaosCluster.cut_between([left, right]), "bridge", detail)

    async def slow(self, name: str, delay: float, loss: float) -> float:
        """Every link of ``name`` delays messages by ``delay`` s and loses ``loss`` of them."""
        links = {frozenset((name, o)): Link(drop=loss, delay=delay) for o in self.cluster.names if o != name}
        return await self.set_links(links, "slow", f"{name}: +{delay * 1000:.0f} ms, {loss:.0%} loss")

    async def heal_links(self) -> float:
        return await self.set_links({}, "heal", "")

    # ------------------------------------------------------------------ workers
    def pod_recovery_point(self, label: str, at: float | None = None) -> None:
        """From ``at`` on, desired counts must be reached within the scenario's pod bound."""
        self.timeline.mark("pod-recovery", label, at=at)

    async def kill_worker(self, node: str) -> Span:
        """SIGKILL the agent, then every container of its node: the machine is gone."""
        await self.cluster.kill_agent(node)
        n = await self.cluster.kill_containers(node)
        return self.timeline.begin("kill-worker", [node], f"SIGKILL agent {node} and its {n} container(s)")

    async def kill_agent(self, node: str) -> Span:
        """SIGKILL the agent only; its containers keep running."""
        await self.cluster.kill_agent(node)
        return self.timeline.begin("kill-agent", [node], f"SIGKILL agent {node} (containers keep running)")

    async def restart_agent(self, node: str) -> float:
        await self.cluster.restart_agent(node)
        t = time.monotonic()
        for s in self.timeline.open_spans("kill-worker", node) + self.timeline.open_spans("kill-agent", node):
            self.timeline.end(s, t)
        return t

    async def isolate_agent(self, node: str) -> Span:
        """Drop every packet between the agent's node address and the replicas (its containers run on)."""
        await self.cluster.isolate_agent(node)
        return self.timeline.begin("cut-worker", [node], f"{node} cut off from every replica")

    async def heal_agents(self) -> float:
        await self.cluster.heal_agents()
        t = time.monotonic()
        for s in self.timeline.open_spans("cut-worker"):
            self.timeline.end(s, t)
        return t

    def quiet_window(self, replicas: list[str], start: float, end: float, why: str) -> None:
        """``replicas`` must acknowledge nothing invoked and completed within ``[start, end]``:
        ``start`` when the fault is in force everywhere, ``end`` before its repair begins."""
        self.quiet.append(QuietWindow(tuple(replicas), start, end, why))

    def outage(self, start: float, end: float, why: str) -> None:
        """Declare ``[start, end]`` a deliberate total outage (no quorum can exist): it does not
        count against the scenario's availability bound."""
        self.outages.append((start, end))
        self.timeline.mark("note", f"deliberate outage of {end - start:.2f}s: {why}", at=start)

    # --------------------------------------------------------------------- heal
    async def heal_all(self) -> float:
        """Resume, restart and reconnect everything; returns when all of it is done."""
        for n in list(self.cluster.paused):
            await self.resume(n)
        for n in self.cluster.down():
            await self.restart(n)
        if self.cluster.links:
            await self.heal_links()
        if self.cluster.isolated_agents:
            await self.heal_agents()
        for n in self.cluster.agents_down():
            await self.restart_agent(n)
        for n in list(self.cluster.full):
            await self.free_disk(n)
        for n in list(self.cluster.clock_offsets):
            await self.step_clock(n, 0.0)
        t = time.monotonic()
        for s in self.timeline.open_spans():
            self.timeline.end(s, t)
        if self.steady is not None and self.steady.healed is None:
            self.steady_victim_healed(t)
        return t


async def _until_serving(client: Any, url: str, timeout: float) -> None:
    """Wait until the replica at ``url`` answers ``/cluster/self``."""
    from haplane.client import Client

    deadline = time.monotonic() + timeout
    async with Client([url], client.token, max_attempts=1, timeout=2.0) as one:
        while True:
            try:
                await one.request("GET", "/cluster/self")
                return
            except Exception:  # noqa: BLE001 - not up yet, whatever the reason
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
