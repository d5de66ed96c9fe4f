"""The cluster under test: real replica processes, real signals, real lost messages.

:class:`ChaosCluster` wraps :class:`haplane.localcluster.LocalCluster` and gives every replica
its own fault-rules file (``HAPLANE_FAULT_FILE``, read by
:class:`haplane.store.faults.FaultyTransport`). It offers the mechanisms only — SIGKILL,
SIGSTOP/SIGCONT, restart on the same data, wipe-and-replace, cutting and slowing Raft links —
and knows nothing about which member to hit or why (that is :mod:`chaos.nemesis`).

With ``agents`` it also runs node agents ``n1..nN`` on the node network ``node_net`` (their
own loopback addresses, so clusters side by side never share one), each talking to the API
from its node address (``--source-address``). Worker mechanisms: SIGKILL and restart an agent,
SIGKILL a node's containers (through a :class:`chaos.runtimes.RuntimeView`, which also says
what really runs), and cut an agent off from every replica with dropped packets
(:class:`chaos.agentcut.AgentCut`). :meth:`close` removes every cut and every container the
run left behind, whatever state the run ended in.

Contracts:

* Every coroutine here keeps the event loop free: process signals and reaping run in a thread.
* :meth:`set_links` returns only once every running, unpaused replica has *loaded* the new rules
  (it writes ``<file>.applied``), so a fault's recorded start time is when it is in force.
  A paused or dead replica loads them when it comes back, before it sends anything.
* Link rules are symmetric: cutting A–B writes "drop B" into A's file and "drop A" into B's.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp

from chaos import disk, wallclock
from chaos.agentcut import AgentCut
from chaos.runtimes import DockerView, ProcessView, RuntimeView
from haplane.localcluster import HOST, LocalCluster, Member
from haplane.store.faults import FAULT_FILE_ENV, FaultRules, read_applied, write_rules

STATUS_TIMEOUT = 1.0
APPLY_TIMEOUT = 10.0


@dataclass(frozen=True)
class Link:
    """Fault on the link between two replicas (unordered): loss probability and one-way delay."""

    drop: float = 0.0
    delay: float = 0.0


class _FaultableCluster(LocalCluster):
    """LocalCluster whose replicas each get their own fault file in the environment, and whose
    agents call the API from their node address."""

    def __init__(self, *args: Any, fault_dir: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fault_dir = fault_dir
        self.wall_clock_lib: str | None = None  # set: replicas run on a steppable wall clock
        self.joiners: set[str] = set()  # replicas added during the run: they start with --join

    def replica_argv(self, m: Member) -> list[str]:
        return [*super().replica_argv(m), *(["--join"] if m.name in self.joiners else [])]

    def fault_file(self, name: str) -> str:
        return os.path.join(self.fault_dir, f"{name}.json")

    def clock_file(self, name: str) -> str:
        return os.path.join(self.fault_dir, f"{name}.clock")

    def agent_argv(self, m: Member) -> list[str]:
        return [*super().agent_argv(m), "--source-address", str(m.address)]

    def start(self, name: str) -> Member:
        if self.members[name].role != "replica":
            return super().start(name)
        shared = self.env
        self.env = dict(shared, **{FAULT_FILE_ENV: self.fault_file(name)})
        if self.wall_clock_lib:
            self.env.update(wallclock.env_for(self.wall_clock_lib, self.clock_file(name)))
        try:
            return super().start(name)
        finally:
            self.env = shared


class ChaosCluster:
    """Replicas ``r1..rN`` on ``base_port`` (see LocalCluster's layout) with fault files, and
    optionally agents ``n1..nM`` with node addresses ``<node_net>.1..M``."""

    def __init__(self, data_dir: str, *, replicas: int = 3, base_port: int = 7400,
                 env: dict[str, str] | None = None, agents: int = 0, runtime: str = "process",
                 node_net: str = "127.0.5", small_disks: bool = False, wall_clock: bool = False) -> None:
        """``small_disks``: each replica's data directory is a small filesystem of its own
        (:func:`chaos.disk.mount_small_fs`, needs root), for :meth:`fill_disk`. ``wall_clock``:
        replicas run on a wall clock :meth:`step_clock` can step (:mod:`chaos.wallclock`)."""
        self.data_dir = os.path.abspath(data_dir)
        self.fault_dir = os.path.join(self.data_dir, "faults")
        self.lc = _FaultableCluster(self.data_dir, replicas=replicas, agents=agents, base_port=base_port,
                                    env=env, fault_dir=self.fault_dir, runtime=runtime, node_net=node_net)
        self.names = [m.name for m in self.lc.replicas]
        self.agents = [m.name for m in self.lc.agents]
        self.runtime = runtime
        self.view: RuntimeView | None = None
        self._cut: AgentCut | None = None
        self.paused: set[str] = set()
        self.links: dict[frozenset[str], Link] = {}
        self._version = itertools.count(1)
        self._session: aiohttp.ClientSession | None = None
        self.small_disks, self.wall_clock = small_disks, wall_clock
        self._mounted: list[str] = []
        self.full: set[str] = set()
        self.clock_offsets: dict[str, float] = {}

    # ----------------------------------------------------------------- layout
    @property
    def size(self) -> int:
        return len(self.names)

    @property
    def quorum(self) -> int:
        return self.size // 2 + 1

    def url(self, name: str) -> str:
        return str(self.lc.members[name].url)

    def raft(self, name: str) -> str:
        return str(self.lc.members[name].raft)

    def name_of_raft(self, raft: str | None) -> str | None:
        for m in self.lc.replicas:
            if m.raft == raft:
                return m.name
        return None

    @property
    def admin_token(self) -> str:
        return self.lc.admin_token

    def alive(self, name: str) -> bool:
        return self.lc.alive(name)

    def running(self) -> list[str]:
        """Replicas whose process exists and is not stopped."""
        return [n for n in self.names if self.alive(n) and n not in self.paused]

    def down(self) -> list[str]:
        return [n for n in self.names if not self.alive(n)]

    def log_path(self, name: str) -> str:
        return self.lc.path(name, "log")

    def address(self, agent: str) -> str:
        """The node address of an agent."""
        return str(self.lc.members[agent].address)

    def agents_down(self) -> list[str]:
        return [n for n in self.agents if not self.alive(n)]

    @property
    def isolated_agents(self) -> list[str]:
        cut = self._cut.cut if self._cut else set()
        return [n for n in self.agents if self.address(n) in cut]

    # ---------------------------------------------------------------- lifecycle
    async def start(self, ready_timeout: float = 60.0) -> str:
        """Start every replica with healthy fault files; return the leader's name once ready."""
        os.makedirs(self.fault_dir, exist_ok=True)
        for n in self.names:
            write_rules(self.lc.fault_file(n), FaultRules(version=0))
        if self.wall_clock:
            self.lc.wall_clock_lib = await asyncio.to_thread(wallclock.build, self.fault_dir)
        if self.small_disks:
            for n in self.names:
                disk.mount_small_fs(self.lc.path(n))
                self._mounted.append(self.lc.path(n))
        await asyncio.to_thread(self.lc.start_all)
        return await asyncio.to_thread(self.lc.wait_ready, ready_timeout)

    async def close(self) -> None:
        """Stop everything (SIGCONT first, so paused replicas can exit), remove the agent cuts and
        every container left behind (by killed or cut-off agents), close the session.

        Agents get SIGTERM first, while the replicas still run, and stop their own containers."""
        errors: list[str] = []
        if self._cut is not None:
            try:
                await self._cut.close()
            except Exception as exc:  # noqa: BLE001 - go on cleaning up; reported below
                errors.append(f"removing the iptables chain {self._cut.chain}: {exc}")
        for n in list(self.paused):
            self.lc.resume(n)
        self.paused.clear()
        await asyncio.to_thread(self.lc.stop_all)
        for path in self._mounted:
            try:
                disk.unmount(path)
            except (OSError, subprocess.SubprocessError) as exc:
                errors.append(f"unmounting {path}: {exc}")
        self._mounted.clear()
        if self.view is not None:
            try:
                await self.view.remove_all()
            except Exception as exc:  # noqa: BLE001
                errors.append(f"removing leftover {self.view.name} containers: {exc}")
        if self._session is not None:
            await self._session.close()
            self._session = None
        if errors:
            raise RuntimeError("; ".join(errors))

    # ------------------------------------------------------------------ workers
    async def attach_view(self, run_label: str, cluster_id: str) -> RuntimeView:
        """The view of what actually runs on the agents' nodes (needs the run's pod marker for
        the process runtime, the cluster id for Docker's labels)."""
        if self.runtime == "process":
            self.view = ProcessView(run_label, {self.address(n): n for n in self.agents})
        elif self.runtime == "docker":
            self.view = DockerView({f"{n}@{cluster_id}": n for n in self.agents})
        else:
            raise ValueError(f"the harness cannot see what the {self.runtime} runtime runs")
        return self.view

    async def kill_agent(self, name: str) -> None:
        """SIGKILL the agent and reap it; its containers keep running."""
        await asyncio.to_thread(self.lc.kill, name)

    async def kill_containers(self, name: str) -> int:
        """SIGKILL every container of the agent's node; returns how many."""
        assert self.view is not None, "attach_view first"
        return await self.view.kill_node(name)

    async def restart_agent(self, name: str) -> None:
        if self.alive(name):
            raise RuntimeError(f"{name} is running; kill it first")
        await asyncio.to_thread(self.lc.start, name)

    def _agent_cut(self) -> AgentCut:
        if self._cut is None:
            self._cut = AgentCut(HOST, [int(str(m.http).rsplit(":", 1)[1]) for m in self.lc.replicas])
        return self._cut

    async def isolate_agent(self, name: str) -> None:
        """Drop every packet between the agent's node address and every replica's API."""
        await self._agent_cut().isolate(self.address(name))

    async def heal_agents(self) -> None:
        if self._cut is not None:
            await self._cut.heal()

    async def kill(self, name: str) -> None:
        """SIGKILL the replica and reap it."""
        await asyncio.to_thread(self.lc.kill, name)
        self.paused.discard(name)

    async def stop(self, name: str) -> None:
        """SIGTERM the replica (a graceful shutdown, SIGKILL after 10 s) and reap it."""
        await asyncio.to_thread(self.lc.stop, name)
        self.paused.discard(name)

    async def restart(self, name: str) -> None:
        """Start a dead replica again on its existing data (journal and dump)."""
        if self.alive(name):
            raise RuntimeError(f"{name} is running; kill it first")
        await asyncio.to_thread(self.lc.start, name)

    def journal_path(self, name: str) -> str:
        return self.lc.path(name, "raft.wal")

    async def start_expecting_refusal(self, name: str, timeout: float = 30.0) -> tuple[int | None, str]:
        """Start ``name`` on data it must refuse: ``(exit code or None if still running, log tail)``."""
        if self.alive(name):
            raise RuntimeError(f"{name} is running; kill it first")
        log_at = os.path.getsize(self.log_path(name)) if os.path.exists(self.log_path(name)) else 0
        await asyncio.to_thread(self.lc.start, name)
        proc = self.lc.procs[name]
        try:
            code: int | None = await asyncio.to_thread(proc.wait, timeout)
        except subprocess.TimeoutExpired:
            code = None
            await self.kill(name)
        with open(self.log_path(name), "rb") as f:
            f.seek(log_at)
            return code, f.read().decode(errors="replace")

    async def wipe_and_replace(self, name: str) -> None:
        """Kill the replica, delete its data (journal, dump) and start an empty one at its address."""
        await self.kill(name)
        await asyncio.to_thread(self.lc.wipe, name)
        await asyncio.to_thread(self.lc.start, name)

    async def start_joiner(self, name: str, index: int) -> Member:
        """Start a new, empty replica ``name`` (ports base+index, base+100+index) with ``--join``:
        a learner of the running cluster until it is added. It is not one of :attr:`names` (the
        checks judge the original members); :meth:`close` stops it with the rest."""
        lc = self.lc
        m = Member("replica", name, http=f"{HOST}:{lc.base_port + index}",
                   raft=f"{HOST}:{lc.base_port + 100 + index}", scheme=lc.scheme)
        lc.members[name] = m
        lc.joiners.add(name)
        os.makedirs(lc.path(name), exist_ok=True)
        write_rules(lc.fault_file(name), FaultRules(version=0))
        await asyncio.to_thread(lc.start, name)
        return m

    def fill_disk(self, name: str) -> int:
        """Take every free byte of ``name``'s data filesystem (``small_disks``); bytes taken."""
        if self.lc.path(name) not in self._mounted:
            raise RuntimeError(f"{name}'s data directory is not a small filesystem of its own (small_disks)")
        self.full.add(name)
        return disk.fill(self.lc.path(name))

    def free_disk(self, name: str) -> None:
        disk.unfill(self.lc.path(name))
        self.full.discard(name)

    def step_clock(self, name: str, seconds: float) -> None:
        """Set ``name``'s wall clock to system time + ``seconds`` (``wall_clock``); in force within 20 ms."""
        if not self.wall_clock:
            raise RuntimeError("the replicas do not run on a steppable wall clock (wall_clock)")
        wallclock.write_offset(self.lc.clock_file(name), seconds)
        if seconds:
            self.clock_offsets[name] = seconds
        else:
            self.clock_offsets.pop(name, None)

    def pause(self, name: str) -> None:
        """SIGSTOP: the process is frozen mid-flight, its sockets stay open."""
        self.lc.pause(name)
        self.paused.add(name)

    def resume(self, name: str) -> None:
        self.lc.resume(name)
        self.paused.discard(name)

    # -------------------------------------------------------------------- links
    def rules_for(self, name: str, links: dict[frozenset[str], Link], version: int) -> FaultRules:
        """The rules file content for ``name`` given the link faults (pure)."""
        drop: dict[str, float] = {}
        delay: dict[str, float] = {}
        for pair, link in links.items():
            if name not in pair or len(pair) != 2:
                continue
            (other,) = pair - {name}
            if link.drop > 0:
                drop[self.raft(other)] = link.drop
            if link.delay > 0:
                delay[self.raft(other)] = link.delay
        return FaultRules(drop=drop, delay=delay, version=version)

    async def set_links(self, links: dict[frozenset[str], Link], timeout: float = APPLY_TIMEOUT) -> float:
        """Put exactly these link faults in force; return the time they all were (monotonic).

        Raises TimeoutError if a running replica does not load its rules within ``timeout``.
        """
        version = next(self._version)
        self.links = {p: link for p, link in links.items() if link.drop > 0 or link.delay > 0}
        for n in self.names:
            write_rules(self.lc.fault_file(n), self.rules_for(n, self.links, version))
        deadline = time.monotonic() + timeout
        while True:
            waiting = [n for n in self.running() if (read_applied(self.lc.fault_file(n)) or {}).get("version")
                       != version]
            if not waiting:
                return time.monotonic()
            if time.monotonic() > deadline:
                raise TimeoutError(f"fault rules v{version} not loaded by {waiting} within {timeout}s")
            await asyncio.sleep(0.02)

    @staticmethod
    def cut_between(groups: Iterable[Iterable[str]], link: Link = Link(drop=1.0)) -> dict[frozenset[str], Link]:
        """Links that separate every pair of members in different groups (pure)."""
        gs = [list(g) for g in groups]
        out: dict[frozenset[str], Link] = {}
        for i, a in enumerate(gs):
            for b in gs[i + 1:]:
                for x in a:
                    for y in b:
                        out[frozenset((x, y))] = link
        return out

    async def heal_links(self) -> float:
        return await self.set_links({})

    # ------------------------------------------------------------------- status
    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=STATUS_TIMEOUT),
                headers={"Authorization": f"Bearer {self.admin_token}"})
        return self._session

    async def status(self, name: str, with_hash: bool = False, timeout: float = STATUS_TIMEOUT
                     ) -> dict[str, Any] | None:
        """``/cluster/self`` of one replica, or None when it does not answer in time."""
        if not self.alive(name) or name in self.paused:
            return None
        path = "/cluster/self?hash=1" if with_hash else "/cluster/self"
        try:
            async with self._http().get(self.url(name) + path,
                                        timeout=aiohttp.ClientTimeout(total=timeout)) as r:
                if r.status != 200:
                    return None
                return await r.json()
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None

    async def statuses(self, with_hash: bool = False) -> dict[str, dict[str, Any] | None]:
        got = await asyncio.gather(*(self.status(n, with_hash) for n in self.names))
        return dict(zip(self.names, got, strict=True))

    def agreed_leader(self, statuses: dict[str, dict[str, Any] | None]) -> str | None:
        """The replica that says it leads and that a quorum of answering replicas follow (pure).

        All of them must report the same term; None when there is no such replica.
        """
        for name, st in statuses.items():
            if not st or st.get("role") != "leader":
                continue
            term, raft = st.get("term"), self.raft(name)
            backers = [n for n, s in statuses.items() if s and s.get("leader") == raft and s.get("term") == term]
            if len(backers) >= self.quorum:
                return name
        return None

    async def wait_leader(self, timeout: float = 30.0, exclude: Iterable[str] = ()) -> tuple[str, float]:
        """Wait for an agreed leader not in ``exclude``; return ``(name, time found)``."""
        excluded = set(exclude)
        deadline = time.monotonic() + timeout
        while True:
            leader = self.agreed_leader(await self.statuses())
            if leader is not None and leader not in excluded:
                return leader, time.monotonic()
            if time.monotonic() > deadline:
                raise TimeoutError(f"no agreed leader (excluding {sorted(excluded)}) within {timeout}s")
            await asyncio.sleep(0.1)

    async def wait_converged(self, timeout: float, names: list[str] | None = None) -> tuple[float | None, dict]:
        """Poll until the replicas (default: all) report one state hash.

        Returns ``(seconds taken or None on timeout, last hashes seen)``. Hashes are compared
        only when every named replica answered in the same poll.
        """
        names = names or self.names
        t0 = time.monotonic()
        seen: dict[str, Any] = {}
        while True:
            sts = await asyncio.gather(*(self.status(n, with_hash=True, timeout=3.0) for n in names))
            seen = {n: (s or {}).get("stateHash") for n, s in zip(names, sts, strict=True)}
            if None not in seen.values() and len(set(seen.values())) == 1:
                return time.monotonic() - t0, seen
            if time.monotonic() - t0 > timeout:
                return None, seen
            await asyncio.sleep(0.2)
