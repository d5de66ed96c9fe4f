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
* Every peer connection carries a keepalive twice a second once its handshake is done
  (pysyncobj silently loses the first message sent on a connection idle for
  ``connectionTimeout`` — i.e. every first vote request between followers). The transport is
  :class:`~haplane.store.transport.RaftTransport` (stuck dials, listen backlog). Membership
  helpers (add/remove, leadership transfer, joining quietly) are at the end; their caveats are
  in :mod:`haplane.api.membership`.

Durability: the journal is :class:`~haplane.store.journal.DurableJournal` (``raft.wal``:
checksummed records, torn tails cut back, corruption before the tail refused), synced once per
tick before any acknowledgement of its entries leaves (:mod:`haplane.store.guarded`): a write
acknowledged to a client is fsynced on a majority, so it survives a power loss of every host.
Dumps are fsynced before their rename and the directory after it; a dump that does not read
back whole refuses the start. ``fsync=False`` (``--unsafe-no-fsync``) keeps pysyncobj's old
promise only: any number of *process* crashes, not a power loss of a majority. A data dir of an
older version (pysyncobj's ``raft.journal``) is imported on the first start.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import pysyncobj.serializer
from pysyncobj import FAIL_REASON, SyncObjConf, SyncObjConsumer, replicated
from pysyncobj.monotonic import monotonic as raft_clock

from haplane.store import journal as wal
from haplane.store.fsm import StateMachine
from haplane.store.learner import LEARNER_KEY, LearnerSyncObj
from haplane.store.peer_rtt import PING
from haplane.store.prevote import CAPABILITY, KEEPALIVE_TYPE
from haplane.store.transport import RaftTransport

log = logging.getLogger(__name__)

# pysyncobj failure reasons, classified for the proposer.
NOT_APPENDED = frozenset({FAIL_REASON.QUEUE_FULL, FAIL_REASON.MISSING_LEADER, FAIL_REASON.NOT_LEADER,
                          FAIL_REASON.REQUEST_DENIED, FAIL_REASON.DISCARDED})
RAFT_ROLES = {0: "follower", 1: "candidate", 2: "leader"}
JOIN_QUIET_TIMEOUT = 10.0 * 365 * 24 * 3600  # "never": a joining replica waits to be contacted
LEARNER_MARKER = "learner"  # in the data dir while this replica is a learner (see store/learner.py)
# Comparison runs only: --join starts a quiet voter that counts from its ``add`` on (no learner stage).
JOIN_AS_VOTER_ENV = "HAPLANE_JOIN_AS_VOTER"
# Any unknown type: pysyncobj's receiver ignores it. CAPABILITY tells peers we answer pre-votes.
KEEPALIVE = {"type": KEEPALIVE_TYPE, CAPABILITY: 1}


@dataclass(frozen=True)
class RaftTiming:
    """Raft timeouts in seconds, chosen by measurement on a loaded 2-core machine.

    The tick thread shares the GIL with the HTTP server, so the election timeout keeps a wide
    margin over the heartbeat period. ``leader_fallback`` is the check-quorum window: a leader
    that has not heard from a majority for that long (of its own running time) steps down — one
    (maximum) election timeout, as Raft's thesis asks (§6.2); it can acknowledge nothing
    meanwhile (no quorum). ``election_min`` is also the pre-vote lease: a replica that heard
    from a leader more recently refuses pre-votes (see :mod:`haplane.store.prevote`).
    """

    heartbeat: float = 0.1
    election_min: float = 0.8
    election_max: float = 1.6
    leader_fallback: float = 1.6
    connection_timeout: float = 2.0
    connection_retry: float = 0.3
    compaction_entries: int = 20_000
    compaction_seconds: float = 600.0
    # pysyncobj (0.3.17) sends an entry at least this big in pieces and marks the last piece by
    # the command's length, not its pickle's. Pickle protocol 2 doubles every byte >= 0x80, so
    # the pickle often runs on past the piece marked last: the follower unpickles a truncated
    # entry ("pickle data was truncated", its tick fails) and replication stalls while the
    # leader resends it. Ordinary entries hit it (256 pod bindings are ~120 KB). Above any entry
    # the proposer builds (proposer.MAX_ENTRY_BYTES), the piecewise path is never taken. (This
    # also bounds one append_entries message; a lagging follower gets several in a row.)
    append_batch_bytes: int = 8 * 2 ** 20

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
        self.on_applied: Callable[[int, int, float], None] | None = None  # (bytes, ops, seconds): metrics
        self.snapshot_installs = 0

    @replicated
    def apply(self, entry: bytes) -> list:
        if self.on_applied is None:
            return self.fsm.apply_entry(entry)
        start = time.perf_counter()
        results = self.fsm.apply_entry(entry)
        try:
            self.on_applied(len(entry), len(results), time.perf_counter() - start)
        except Exception:  # metrics must never stall the log (apply never raises)
            log.exception("apply metrics failed")
        return results

    def _serialize(self) -> dict[str, Any]:
        # Runs on the tick thread just before the fork; the child pickles the shared containers.
        return {"fsm": self.fsm.snapshot()}

    def _deserialize(self, data: dict[str, Any]) -> None:
        self.fsm.restore(data["fsm"])
        self.snapshot_installs += 1


class RaftNode:
    """One Raft member. Build it on the main thread; it starts pysyncobj's tick thread."""

    def __init__(
        self, *, self_addr: str, peers: list[str], data_dir: str, secret: str, fsm: StateMachine,
        timing: RaftTiming = RaftTiming(), transport_class: type = RaftTransport,
        on_state_change: Callable[[str, str], None] | None = None, join: bool = False, fsync: bool = True,
    ) -> None:
        """Raises :class:`haplane.store.journal.JournalCorrupt` for a damaged journal, meta or dump."""
        if not secret:
            raise ValueError("a cluster secret is required: Raft traffic is never sent unauthenticated")
        os.makedirs(data_dir, exist_ok=True)
        self.fsync = fsync
        journal_path = os.path.join(data_dir, "raft.wal")
        legacy = os.path.join(data_dir, "raft.journal")
        if os.path.exists(legacy) and not os.path.exists(journal_path):
            n = wal.import_legacy(legacy, journal_path, fsync=fsync)
            log.info("imported %d entries of pysyncobj's journal %s into %s", n, legacy, journal_path)
        wal.check_dump(os.path.join(data_dir, "raft.dump"))
        # pysyncobj renames its dumps into place (forked child, and snapshots received): fsync
        # first, and the directory after. One RaftNode per process.
        pysyncobj.serializer.atomicReplace = wal.durable_replace if fsync else os.rename
        if not fsync:
            log.warning("--unsafe-no-fsync: the journal and dumps are NOT fsynced; acknowledged writes "
                        "survive process crashes but NOT a power loss of a majority (benchmarks only)")
        self.self_addr = self_addr
        self.fsm = fsm
        self._consumer = _StoreConsumer(fsm)

        def state_changed(old: int, new: int) -> None:
            if on_state_change is not None:
                on_state_change(RAFT_ROLES.get(old, "?"), RAFT_ROLES.get(new, "?"))

        conf = SyncObjConf(
            password=secret,
            journalFile=journal_path,
            fullDumpFile=os.path.join(data_dir, "raft.dump"),
            useFork=True,
            appendEntriesUseBatch=False,  # send at once: latency comes from not waiting for a timer
            commandsWaitLeader=False,  # no leader -> fail fast; the proposer retries within its deadline
            appendEntriesPeriod=timing.heartbeat,
            raftMinTimeout=timing.election_min,
            raftMaxTimeout=timing.election_max,
            # pysyncobj's own check-quorum judges before reading the followers' answers, so a
            # starved tick thread trips it; GuardedSyncObj's (after the read, stalls capped) is
            # the real one, this only a backstop.
            leaderFallbackTimeout=2 * timing.leader_fallback,
            connectionTimeout=max(timing.connection_timeout, timing.election_max),
            connectionRetryTime=timing.connection_retry,
            logCompactionMinEntries=timing.compaction_entries,
            logCompactionMinTime=timing.compaction_seconds,
            appendEntriesBatchSizeBytes=timing.append_batch_bytes,
            dynamicMembershipChange=True,
            onStateChanged=state_changed,
        )
        peers = [p for p in peers if p != self_addr]
        self._tick_tasks: deque[Callable[[], None]] = deque()
        # Only a replica that has never seen a term joins: after a restart it is a member — or
        # still a learner, if it had not been promoted yet (the marker says so).
        marker = os.path.join(data_dir, LEARNER_MARKER)
        fresh = wal.read_meta(journal_path).get("currentTerm", 0) == 0
        learner = join and (fresh or os.path.exists(marker)) and os.environ.get(JOIN_AS_VOTER_ENV) != "1"
        self._joining = join and fresh and not learner
        self._marker = marker
        if learner:
            wal.write_atomically(marker, b"a learner until the log adds it as a voter\n", fsync=fsync)
            log.info("joining as a learner: receiving the log without a vote until added as a voter")
        self._timing = timing
        self._keepalive_every = min(0.5, conf.connectionTimeout / 4)
        self._next_keepalive = 0.0
        self.journal_file = conf.journalFile
        self.leader_changes = 0  # leaders seen (a different leader than the last one known), as etcd counts
        self._last_leader: str | None = None
        self._sync = LearnerSyncObj(self_addr, peers, conf, learner=learner, on_promoted=self._promoted,
                                    quiet=JOIN_QUIET_TIMEOUT, consumers=[self._consumer],
                                    transportClass=transport_class, lease=timing.election_min,
                                    check_quorum_window=timing.leader_fallback,
                                    journal_factory=lambda path: wal.DurableJournal(path, fsync=fsync))
        self._sync.addOnTickCallback(self._on_tick)
        if self._joining:
            # A joining replica must not campaign before the cluster has added it: its rising
            # term would depose the leader the moment it is added (see api/membership.py).
            # Set after __init__ (its validate() wants connectionTimeout >= raftMaxTimeout); the
            # first election deadline, drawn in __init__, is pushed away on the first tick,
            # before it can expire (it is >= election_min away; the first tick comes at 0.1 s).
            conf.raftMinTimeout, conf.raftMaxTimeout = JOIN_QUIET_TIMEOUT, JOIN_QUIET_TIMEOUT * 1.01
            self.run_on_tick(self._postpone_election)

    # -------------------------------------------------------------- propose
    def on_applied(self, fn: Callable[[int, int, float], None] | None) -> None:
        """Call ``fn(entry bytes, ops, seconds)`` on the tick thread after each applied entry."""
        self._consumer.on_applied = fn

    @property
    def snapshot_installs(self) -> int:
        return self._consumer.snapshot_installs

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
    def storage_problem(self) -> str | None:
        """Why this replica cannot persist its Raft log now (full or failing disk), or None."""
        return self._sync.storage_problem

    @property
    def ready(self) -> bool:
        """True once this member has caught up with the commit index it first heard of."""
        return self._sync.isReady()

    def status(self) -> dict[str, Any]:
        s = self._get_status()
        leader = s.get("leader")
        peers = {}
        for key, value in s.items():
            if key.startswith("partner_node_status_server_"):
                peers[key[len("partner_node_status_server_"):]] = value == 2
        return {
            "raft": self.self_addr,
            "role": "learner" if self.learner else RAFT_ROLES.get(s.get("state"), "?"),
            "learner": self.learner,
            "term": s.get("raft_term"),
            "commitIndex": s.get("commit_idx"),
            "appliedIndex": s.get("last_applied"),
            "leader": leader.id if leader is not None else None,
            "hasQuorum": s.get("has_quorum"),
            "logLength": s.get("log_len"),
            "peersConnected": peers,
            "journal": self.journal_stats(),
            "replication": self._replication(s) if s.get("state") == 2 else None,
        }

    def _replication(self, s: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The leader's view of every voter and learner: match index and whether it votes."""
        out = {}
        for key, value in s.items():
            if key.startswith("partner_node_status_server_"):
                addr = key[len("partner_node_status_server_"):]
                out[addr] = {"voter": True, "connected": value == 2,
                             "matchIndex": s.get("match_idx_server_" + addr, 0)}
        for addr, info in self.learners().items():
            out[addr] = dict(info, voter=False)
        return out

    def peer_rtt(self) -> dict[str, float]:
        """Raft address -> the last round trip measured to that peer (seconds), for the peers
        that answered a keepalive in the last few keepalive periods (haplane.store.peer_rtt)."""
        return self._sync.peer_rtt.current(raft_clock(), max_age=max(2.0, 4 * self._keepalive_every))

    def journal_stats(self) -> dict[str, Any]:
        """fsync on or off, how many syncs and their cost so far, the synced length."""
        j = self._sync.journal
        st = getattr(j, "stats", None)
        return {"fsync": self.fsync, "syncs": st.count if st else 0,
                "syncSeconds": round(st.total, 4) if st else 0.0,
                "worstSyncMs": round(st.worst * 1000, 2) if st else 0.0,
                "syncedLength": getattr(j, "synced_length", None),
                "problem": getattr(j, "problem", None), "failures": getattr(j, "failures", 0)}

    def force_compaction(self) -> None:
        self._sync.forceLogCompaction()

    def destroy(self) -> None:
        self._sync.destroy()

    # ----------------------------------------------------------- membership
    # pysyncobj's dynamic membership (see haplane/api/membership.py for the caveats): one server
    # added or removed per log entry, effective on *append* (not commit) on every member.
    @property
    def joining(self) -> bool:
        """True while a replica started with ``join=True`` that has never seen a term has not
        yet heard from a leader (it does not campaign meanwhile)."""
        return self._joining

    def members(self) -> list[str]:
        """The Raft addresses of the voting members as this replica's log has them (itself
        included, unless it is a learner)."""
        own = set() if self.learner else {self.self_addr}
        return sorted({n.id for n in self._sync.otherNodes} | own)

    @property
    def learner(self) -> bool:
        """True while this replica is a learner: it receives the log, votes for nothing and
        counts toward no quorum (see :mod:`haplane.store.learner`)."""
        return self._sync.selfNode is None  # a pysyncobj read-only node

    def learners(self) -> dict[str, dict[str, Any]]:
        """The learners connected here: Raft address -> ``{"connected", "matchIndex"}`` (the
        match index means something on the leader only)."""
        return self._sync.learners()

    def _promoted(self) -> None:  # tick thread, right after the learner became a voter
        try:
            os.unlink(self._marker)
            wal.fsync_dir(self._marker)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("promoted, but cannot remove %s: %s", self._marker, exc)
        # Quiet until a leader contacts this voter (see joining); then normal election timeouts.
        self._sync.conf.raftMinTimeout, self._sync.conf.raftMaxTimeout = JOIN_QUIET_TIMEOUT, JOIN_QUIET_TIMEOUT * 1.01
        self._joining = True

    def add_member(self, addr: str, callback: Callable[[Any, int], None]) -> None:
        """Propose adding ``addr``; ``callback(None, fail_reason)`` fires on the tick thread."""
        self._sync.addNodeToCluster(addr, callback=callback)

    def remove_member(self, addr: str, callback: Callable[[Any, int], None]) -> None:
        """Propose removing ``addr`` (the leader refuses to remove itself: REQUEST_DENIED)."""
        self._sync.removeNodeFromCluster(addr, callback=callback)

    def transfer_leadership(self, target: str | None, callback: Callable[[Any, int], None],
                            timeout: float = 3.0) -> None:
        """Hand leadership over to ``target`` (None: the most caught-up connected follower).

        pysyncobj sends TimeoutNow only when the target's match index equals the leader's last
        index at that instant — rare under a steady write load. So, as etcd does during a
        transfer, the leader stops taking new entries (they wait in pysyncobj's queue) until the
        followers have caught up and the transfer is sent, and keeps holding them until it has
        stepped down (bounded), so that it does not outgrow the target's log meanwhile; queued
        entries then go to the new leader. ``callback(None, fail_reason)`` fires once, on the
        tick thread, when TimeoutNow was sent (SUCCESS) or the attempt gave up.
        """
        sync = self._sync
        deadline = time.monotonic() + timeout
        release_by = deadline + 2 * self._timing.election_max

        def hold() -> None:  # replaces SyncObj._checkCommandsToApply on this instance
            return None

        def release() -> None:
            sync.__dict__.pop("_checkCommandsToApply", None)

        def wait_step_down() -> None:
            if sync._isLeader() and time.monotonic() < release_by:
                self.run_on_tick(wait_step_down)
            else:
                release()

        def attempt() -> None:
            if not sync._isLeader():
                release()
                callback(None, FAIL_REASON.NOT_LEADER)
                return
            sync._checkCommandsToApply = hold
            outcome: list[int] = []
            sync.transferLeadership(target, callback=lambda res, err: outcome.append(err))
            err = outcome[0] if outcome else FAIL_REASON.REQUEST_DENIED
            if err == FAIL_REASON.SUCCESS:
                self.run_on_tick(wait_step_down)
                callback(None, err)
            elif err == FAIL_REASON.REQUEST_DENIED and time.monotonic() < deadline:
                self.run_on_tick(attempt)  # the next tick: followers catch up meanwhile
            else:
                release()
                callback(None, err)

        self.run_on_tick(attempt)

    def progress(self) -> dict[str, Any]:
        """Replication progress: commit and applied index here and, per peer, whether it is
        connected and its match index (only the leader's match indexes mean anything)."""
        s = self._get_status()
        peers = {}
        for key, value in s.items():
            if key.startswith("partner_node_status_server_"):
                addr = key[len("partner_node_status_server_"):]
                peers[addr] = {"connected": value == 2, "matchIndex": s.get("match_idx_server_" + addr, 0)}
        return {"commitIndex": s.get("commit_idx"), "appliedIndex": s.get("last_applied"),
                "leader": self.is_leader, "peers": peers, "learners": self.learners()}

    def run_on_tick(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once on pysyncobj's tick thread (where the transport may be touched)."""
        self._tick_tasks.append(fn)

    def _on_tick(self) -> None:  # tick thread
        if self._joining and self._sync._getLeader() is not None:
            # Contacted by a leader: from now on a normal member with normal election timeouts.
            self._sync.conf.raftMinTimeout = self._timing.election_min
            self._sync.conf.raftMaxTimeout = self._timing.election_max
            self._joining = False
            log.info("joined: a leader has contacted this replica; election timeouts restored")
        leader = self._sync._getLeader()
        if leader is not None and leader.id != self._last_leader:
            self._last_leader = leader.id
            self.leader_changes += 1
        self._keep_connections_warm()
        for _ in range(len(self._tick_tasks)):  # tasks queued by tasks run on the next tick
            fn = self._tick_tasks.popleft()
            try:
                fn()
            except Exception:
                log.exception("tick task failed")

    def _keep_connections_warm(self) -> None:  # tick thread
        """Send every connected peer a tiny message every ``_keepalive_every`` seconds.

        pysyncobj drops a connection on which nothing was *read* for ``connectionTimeout``, but it
        notices only when it next sends on it — and that message is lost. Followers never talk to
        each other, so their connections always look dead by the time an election starts: every
        first vote request went nowhere, and every election needed a second round (one more
        election timeout) — failover and leadership transfer alike. With traffic both ways the
        connections stay fresh and the first round can win.

        Only peers past pysyncobj's handshake (``isNodeConnected``). A dial whose key exchange
        the peer has not answered yet must be left waiting: a message sent on it is not wrapped
        in the peer's key, so the peer drops the connection when it reads it; and the send makes
        pysyncobj time the dial out after ``connectionTimeout`` and dial again. Against a stopped
        replica that meant a redial from every peer every 2 s, which filled its accept queue
        (pysyncobj listens with a backlog of 5): the kernel then dropped the peers' SYNs and
        retried them after ever longer gaps, so after a 30 s pause the replica stayed cut off for
        11-14 s after it resumed — long enough for a resumed old leader to campaign through the
        one peer it could reach and depose the new leader (see haplane/store/transport.py).
        """
        now = time.monotonic()
        if now < self._next_keepalive:
            return
        self._next_keepalive = now + self._keepalive_every
        transport = getattr(self._sync, "_SyncObj__transport", None)  # private to SyncObj (pinned 0.3.17)
        if transport is None:
            return
        ping = {**KEEPALIVE, PING: raft_clock()}  # answered with a pong: the peer's RTT (store/peer_rtt.py)
        message = dict(ping, **{LEARNER_KEY: self.self_addr}) if self.learner else ping
        for node in self._sync.otherNodes:
            if self._sync.isNodeConnected(node):
                transport.send(node, message)

    def _postpone_election(self) -> None:  # tick thread
        # pysyncobj has no API for this; the attribute is private to SyncObj (pinned 0.3.17).
        name = "_SyncObj__raftElectionDeadline"
        if hasattr(self._sync, name):
            setattr(self._sync, name, raft_clock() + JOIN_QUIET_TIMEOUT)
        else:
            log.warning("join: cannot postpone the first election (pysyncobj changed); it may campaign once")

    def _get_status(self) -> dict[str, Any]:
        # getStatus iterates sets and dicts that the tick thread resizes on membership changes
        # and elections; a concurrent resize raises RuntimeError, so try again.
        for _ in range(10):
            try:
                return self._sync.getStatus()
            except RuntimeError:
                continue
        return self._sync.getStatus()
