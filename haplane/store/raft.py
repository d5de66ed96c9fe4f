"""The pysyncobj adapter: one replicated ``apply(bytes)`` and a thread-safe way to propose.

Rules this module keeps (DESIGN.md §4):

* The replicated state lives in one :class:`~haplane.store.fsm.StateMachine`, built before the
  SyncObj and handed to it inside a consumer, so pysyncobj's dump never races attribute set-up.
* The consumer exposes exactly one replicated method, ``apply(entry: bytes)``; new operations
  are new op types inside the entry, never new replicated methods (method numbering is stable).
* ``password`` (the cluster secret), ``journalFile`` and ``fullDumpFile`` are always set. Raft
  messages are Fernet-encrypted and authenticated: a peer without the secret cannot join.
* Dumps are forked (``useFork``): the child pickles the state while the tick thread goes on.
* Nothing here blocks: :meth:`RaftNode.propose` enqueues and returns; the callback fires on
  pysyncobj's tick thread with ``(results, fail_reason)``.

Durability: pysyncobj writes its journal through a memory map and never fsyncs it. A write
acknowledged to a client is in the page cache of a majority of replicas, so it survives any
number of *process* crashes (SIGKILL included); it does not survive a simultaneous power loss
of a majority of hosts.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from pysyncobj import FAIL_REASON, SyncObj, SyncObjConf, SyncObjConsumer, replicated
from pysyncobj.transport import TCPTransport

from haplane.store.fsm import StateMachine

log = logging.getLogger(__name__)

# pysyncobj failure reasons, classified for the proposer.
NOT_APPENDED = frozenset({FAIL_REASON.QUEUE_FULL, FAIL_REASON.MISSING_LEADER, FAIL_REASON.NOT_LEADER,
                          FAIL_REASON.REQUEST_DENIED, FAIL_REASON.DISCARDED})
RAFT_ROLES = {0: "follower", 1: "candidate", 2: "leader"}


@dataclass(frozen=True)
class RaftTiming:
    """Raft timeouts in seconds, chosen by measurement on a loaded 2-core machine.

    The tick thread shares the GIL with the HTTP server, so the election timeout keeps a wide
    margin over the heartbeat period; ``leader_fallback`` bounds how long an isolated old
    leader keeps believing it leads (it can acknowledge nothing meanwhile: no quorum).
    """

    heartbeat: float = 0.1
    election_min: float = 0.8
    election_max: float = 1.6
    leader_fallback: float = 2.0
    connection_timeout: float = 2.0
    connection_retry: float = 0.3
    compaction_entries: int = 20_000
    compaction_seconds: float = 600.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> RaftTiming:
        """Defaults, overridden by ``HAPLANE_RAFT_<FIELD>`` variables (tests, benchmarks, tuning)."""
        env = dict(os.environ) if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"HAPLANE_RAFT_{f.name.upper()}")
            if raw is not None:
                values[f.name] = int(raw) if f.type in ("int", int) else float(raw)
        return cls(**values)


class _StoreConsumer(SyncObjConsumer):
    """The only object pysyncobj replicates. Its state is the StateMachine."""

    def __init__(self, fsm: StateMachine) -> None:
        super().__init__()
        self.fsm = fsm

    @replicated
    def apply(self, entry: bytes) -> list:
        return self.fsm.apply_entry(entry)

    def _serialize(self) -> dict[str, Any]:
        # Runs on the tick thread just before the fork; the child pickles the shared containers.
        return {"fsm": self.fsm.snapshot()}

    def _deserialize(self, data: dict[str, Any]) -> None:
        self.fsm.restore(data["fsm"])


class RaftNode:
    """One Raft member. Build it on the main thread; it starts pysyncobj's tick thread."""

    def __init__(
        self, *, self_addr: str, peers: list[str], data_dir: str, secret: str, fsm: StateMachine,
        timing: RaftTiming = RaftTiming(), transport_class: type = TCPTransport,
        on_state_change: Callable[[str, str], None] | None = None,
    ) -> None:
        if not secret:
            raise ValueError("a cluster secret is required: Raft traffic is never sent unauthenticated")
        os.makedirs(data_dir, exist_ok=True)
        self.self_addr = self_addr
        self.fsm = fsm
        self._consumer = _StoreConsumer(fsm)

        def state_changed(old: int, new: int) -> None:
            if on_state_change is not None:
                on_state_change(RAFT_ROLES.get(old, "?"), RAFT_ROLES.get(new, "?"))

        conf = SyncObjConf(
            password=secret,
            journalFile=os.path.join(data_dir, "raft.journal"),
            fullDumpFile=os.path.join(data_dir, "raft.dump"),
            useFork=True,
            appendEntriesUseBatch=False,  # send at once: latency comes from not waiting for a timer
            commandsWaitLeader=False,  # no leader -> fail fast; the proposer retries within its deadline
            appendEntriesPeriod=timing.heartbeat,
            raftMinTimeout=timing.election_min,
            raftMaxTimeout=timing.election_max,
            leaderFallbackTimeout=timing.leader_fallback,
            connectionTimeout=max(timing.connection_timeout, timing.election_max),
            connectionRetryTime=timing.connection_retry,
            logCompactionMinEntries=timing.compaction_entries,
            logCompactionMinTime=timing.compaction_seconds,
            dynamicMembershipChange=True,
            onStateChanged=state_changed,
        )
        peers = [p for p in peers if p != self_addr]
        self._sync = SyncObj(self_addr, peers, conf, consumers=[self._consumer], transportClass=transport_class)

    # -------------------------------------------------------------- propose
    def propose(self, entry: bytes, callback: Callable[[Any, int], None]) -> None:
        """Enqueue one entry; ``callback(results, fail_reason)`` fires on the tick thread."""
        self._consumer.apply(entry, callback=callback)

    # --------------------------------------------------------------- status
    @property
    def is_leader(self) -> bool:
        return self._sync._isLeader()

    @property
    def leader(self) -> str | None:
        node = self._sync._getLeader()
        return node.id if node is not None else None

    @property
    def term(self) -> int:
        return self._sync.raftCurrentTerm

    @property
    def has_quorum(self) -> bool:
        return self._sync.hasQuorum

    @property
    def ready(self) -> bool:
        """True once this member has caught up with the commit index it first heard of."""
        return self._sync.isReady()

    def status(self) -> dict[str, Any]:
        s = self._sync.getStatus()
        leader = s.get("leader")
        peers = {}
        for key, value in s.items():
            if key.startswith("partner_node_status_server_"):
                peers[key[len("partner_node_status_server_"):]] = value == 2
        return {
            "raft": self.self_addr,
            "role": RAFT_ROLES.get(s.get("state"), "?"),
            "term": s.get("raft_term"),
            "commitIndex": s.get("commit_idx"),
            "appliedIndex": s.get("last_applied"),
            "leader": leader.id if leader is not None else None,
            "hasQuorum": s.get("has_quorum"),
            "logLength": s.get("log_len"),
            "peersConnected": peers,
        }

    def force_compaction(self) -> None:
        self._sync.forceLogCompaction()

    def destroy(self) -> None:
        self._sync.destroy()
