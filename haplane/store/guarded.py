"""pysyncobj's SyncObj with pre-vote, check-quorum, and no commit over an unchecked log tail.

pysyncobj 0.3.17 handles an ``append_entries`` that carries no ``prevLogIdx`` — a chunk of a
snapshot install, or the empty message a leader sends while its dump is not ready — by moving
the follower's commit index to ``min(leaderCommit, its own last log index)``. That covers the
follower's own tail, which no leader has checked: an isolated old leader that accepted writes
nobody else has, told by the new leader (whose log is compacted) to install a snapshot, first
*applies* those writes — its watchers see changes that never happened, its reads can return
them — until the snapshot replaces its state. Raft advances a follower's commit index only
over entries it has just matched with the leader's log (``min(leaderCommit, index of the last
new entry)``).

:class:`GuardedSyncObj` keeps such a message from advancing the commit index, unless it
completed a snapshot install: the log is then exactly the snapshot, which holds only committed
entries. Found by the chaos harness's watch checker (partition-leader, ``watch-valid``).
Everything else is pysyncobj's own code (pinned 0.3.17; re-check on any upgrade).

No resent entries deleted (:mod:`haplane.store.appendrule`): a follower is handed each
``append_entries`` without the entries it already has, so pysyncobj deletes entries only from the
first conflicting one (Raft's rule 3), never a matching prefix or an acknowledged tail. And a
leader keeps ``nextIndex`` when an older success answer arrives (pysyncobj moves it back to that
answer, which made the leader resend what it had just sent); a reset still moves it. An entry
sent in pieces (``transmission``, 8 MiB and more, which the proposer never builds) is handed to
pysyncobj unchanged.

Pre-vote, check-quorum and the term notice (the decisions are in
:mod:`haplane.store.prevote`): :meth:`GuardedSyncObj._onTick` holds pysyncobj's election back
until a pre-vote round has won (a leadership transfer's TimeoutNow is let through: the leader
asked for that election) and, after each tick, makes a leader that has not heard from a majority
for ``check_quorum_window`` of its running time step down. Messages of the new types are
handled here and never reach pysyncobj's handler.

Durability (group commit): with a ``journal_factory`` the journal is a
:class:`haplane.store.journal.DurableJournal`. Every ``next_node_idx`` a follower sends while
handling an ``append_entries`` is held back; after each tick (its poll has handled every message
that arrived) the journal is synced once — one fdatasync for all entries appended in that tick,
the leader's own included — and only then are the held answers sent. So a follower counts toward
a commit only for entries on its disk, and the leader, which counts itself at the start of the
next tick, only for entries on its own: an acknowledged write is fsynced on a majority.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pysyncobj.syncobj as _syncobj_module
from pysyncobj import SyncObj
from pysyncobj.monotonic import monotonic as raft_clock
from pysyncobj.syncobj import _RAFT_STATE

from haplane.store import prevote
from haplane.store.appendrule import plan_append
from haplane.store.peer_rtt import PONG_TYPE, PeerRtt, pong_for
from haplane.store.prevote import CAPABILITY, KEEPALIVE_TYPE, PRE_VOTE, PRE_VOTE_RESPONSE, TERM_NOTICE, LogTip

log = logging.getLogger(__name__)


@dataclass
class _Election:
    """Pre-vote and check-quorum bookkeeping (tick thread only). Built before SyncObj.__init__,
    so that pysyncobj leaves it out of its dumps (see DESIGN.md §4, start-up traps)."""

    lease: float | None
    window: float | None
    stall_cap: float | None
    round: int = 0
    round_open: bool = False  # answers to ``round`` still count (no leader heard since it began)
    asked_since_contact: bool = False
    proposed: int = 0
    granted: set[str] = field(default_factory=set)
    won_round: int | None = None
    last_leader_contact: float | None = None
    capable: set[str] = field(default_factory=set)   # peers that answer pre-votes
    legacy: set[str] = field(default_factory=set)    # peers whose keepalives say they do not
    silence: dict[str, float] = field(default_factory=dict)
    last_tick: float | None = None
    noticed: set[tuple[str, int]] = field(default_factory=set)  # term notices already logged
    failures: set[str] = field(default_factory=set)  # hooks whose failure was logged


_JOURNAL_FACTORY_LOCK = threading.Lock()


class _HoldAcks:
    """The transport, as pysyncobj's append_entries handler sees it: answers are kept back."""

    def __init__(self, real: Any, held: list[tuple[Any, Any]]) -> None:
        self._real, self._held = real, held

    def send(self, node: Any, message: Any) -> bool:
        if isinstance(message, dict) and message.get("type") == "next_node_idx":
            self._held.append((node, message))
            return True
        return self._real.send(node, message)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class GuardedSyncObj(SyncObj):
    """``lease`` (default: the minimum election timeout): how long after hearing from a leader a
    replica refuses pre-votes. ``check_quorum_window`` (default: the maximum election timeout):
    how long a leader may go without hearing from a majority. ``stall_cap`` (default: two
    heartbeat periods): the most one tick may add to a peer's silence. ``journal_factory``
    (path -> journal with ``sync()`` and ``dirty``): the durable journal, instead of pysyncobj's."""

    def __init__(self, *args: Any, lease: float | None = None, check_quorum_window: float | None = None,
                 stall_cap: float | None = None, journal_factory: Callable[[str | None], Any] | None = None,
                 **kwargs: Any) -> None:
        self._election = _Election(lease, check_quorum_window, stall_cap)
        self.peer_rtt = PeerRtt()  # from the keepalives' pings (haplane.store.peer_rtt)
        self._held_acks: list[tuple[Any, Any]] = []
        self._matched = (0, 0)  # (term, highest index acknowledged to that term's leader)
        self.resent_skipped = 0  # entries of append_entries this follower already had
        self._durable = journal_factory is not None
        if journal_factory is None:
            super().__init__(*args, **kwargs)
            return
        # SyncObj.__init__ builds its journal with the module-level createJournal (0.3.17); put
        # ours there for the length of this constructor only (it is built before the tick thread).
        with _JOURNAL_FACTORY_LOCK:
            original = _syncobj_module.createJournal
            _syncobj_module.createJournal = journal_factory
            try:
                super().__init__(*args, **kwargs)
            finally:
                _syncobj_module.createJournal = original

    @property
    def journal(self) -> Any:
        return self._SyncObj__raftLog

    # ------------------------------------------------------------------ the tick
    def _onTick(self, timeToWait: float = 0.0) -> None:  # noqa: N802, N803 - pysyncobj's names
        if self._durable and self.storage_problem is not None:
            self._SyncObj__raftElectionDeadline = raft_clock() + self.conf.raftMaxTimeout  # no campaign
        self._guarded("pre-vote", self._hold_election_for_pre_vote)
        super()._onTick(timeToWait)
        if self._durable:
            self._sync_then_answer()  # never guarded: an ack must not leave before its fsync
        self._guarded("check-quorum", self._check_quorum)

    @property
    def storage_problem(self) -> str | None:
        """Why this replica's journal is not durable now (a full or failing disk), or None."""
        return getattr(self._SyncObj__raftLog, "problem", None)

    def _sync_then_answer(self) -> None:
        """Group commit: one sync for everything this tick appended, then the held answers.

        A journal that cannot sync (full or failing disk, see :mod:`haplane.store.journal`)
        keeps this replica out of every majority: the answers are dropped (the leader resends;
        the first answer after the disk recovers covers everything), and a leader steps down in
        this very tick, before any follower's answer to what it appended can be counted."""
        self._SyncObj__raftLog.sync()
        held, self._held_acks = self._held_acks, []
        problem = self.storage_problem
        if problem is not None:
            if self._SyncObj__raftState != _RAFT_STATE.FOLLOWER:
                log.error("stepping down: cannot persist the Raft log (%s)", problem)
                self._step_down()
            return
        transport = self._SyncObj__transport
        for node, message in held:
            transport.send(node, message)

    def _SyncObj__tryLogCompaction(self) -> None:  # noqa: N802 - overrides pysyncobj's private method
        if self._durable and self.storage_problem is not None:
            return  # its dump could not be written either (a fork per tick): it waits for the disk
        super()._SyncObj__tryLogCompaction()  # type: ignore[misc]

    def _guarded(self, what: str, fn: Any) -> None:
        try:
            fn()
        except Exception:
            if what not in self._election.failures:  # the tick goes on; log once
                self._election.failures.add(what)
                log.exception("%s hook failed (pysyncobj changed?); going on without it", what)

    def _lease(self) -> float:
        e = self._election
        return e.lease if e.lease is not None else self.conf.raftMinTimeout

    def _hold_election_for_pre_vote(self) -> None:
        """Before pysyncobj's tick: if its election deadline has passed, let the election happen
        only if a pre-vote round has just won; otherwise push the deadline away and ask."""
        if self._SyncObj__raftState == _RAFT_STATE.LEADER or self.selfNode is None:
            return
        now = raft_clock()
        if self._SyncObj__raftElectionDeadline >= now or not self._SyncObj__connectedToAnyone():
            return
        if self._SyncObj__transferInProgress:
            return  # TimeoutNow from the leader: a transfer skips pre-vote (thesis §3.10)
        e = self._election
        if e.won_round is not None and e.won_round == e.round:
            e.won_round, e.round_open = None, False
            return  # the round won: pysyncobj campaigns in this tick
        e.round += 1
        e.round_open = True
        e.granted.clear()
        e.won_round = None
        e.proposed = self._SyncObj__raftCurrentTerm + 1
        self._SyncObj__raftElectionDeadline = now + self._SyncObj__generateRaftTimeout()
        (log.debug if e.asked_since_contact else log.info)(  # info once per leader lost
            "election timeout: asking for pre-votes for term %d (round %d)", e.proposed, e.round)
        e.asked_since_contact = True
        message = {"type": PRE_VOTE, "term": e.proposed, "round": e.round,
                   "last_log_index": self._SyncObj__getCurrentLogIndex(),
                   "last_log_term": self._SyncObj__getCurrentLogTerm()}
        transport = self._SyncObj__transport
        for node in self.otherNodes:
            transport.send(node, message)
        if self._pre_vote_won():
            e.won_round, e.round_open = None, False
            self._SyncObj__raftElectionDeadline = 0  # campaign in this very tick

    def _pre_vote_won(self) -> bool:
        e = self._election
        others = self.otherNodes
        assumed = {n.id for n in others if n.id in e.legacy and self.isNodeConnected(n)}
        if not prevote.pre_vote_won(e.granted, assumed, [n.id for n in others]):
            return False
        log.info("pre-vote for term %d won (%s%s): campaigning", e.proposed, sorted(e.granted) or "no answer",
                 f"; assumed from older replicas {sorted(assumed)}" if assumed else "")
        return True

    def _check_quorum(self) -> None:
        """After pysyncobj's tick (its poll has read the followers' answers): a leader that has
        not heard from a majority for the window steps down."""
        e = self._election
        now = raft_clock()
        if self._SyncObj__raftState != _RAFT_STATE.LEADER or self.selfNode is None:
            e.silence, e.last_tick = {}, None
            return
        others = self.otherNodes
        last_response = self._SyncObj__lastResponseTime
        since = e.last_tick if e.last_tick is not None else now
        heard = [n.id for n in others if last_response.get(n, 0.0) >= since]
        cap = e.stall_cap if e.stall_cap is not None else 2 * self.conf.appendEntriesPeriod
        e.silence = prevote.silence_after_tick(e.silence, heard, [n.id for n in others], now - since, cap)
        e.last_tick = now
        window = e.window if e.window is not None else self.conf.raftMaxTimeout
        if prevote.leader_has_quorum(e.silence, [n.id for n in others], window):
            return
        log.warning("check-quorum: no answer from a majority for %.2fs (silent: %s): stepping down",
                    window, {k: round(v, 2) for k, v in sorted(e.silence.items()) if v > window})
        self._step_down()

    def _step_down(self) -> None:
        self._SyncObj__setState(_RAFT_STATE.FOLLOWER)
        self._SyncObj__raftLeader = None
        self._election.silence, self._election.last_tick = {}, None

    # -------------------------------------------------------------- messages
    # A method of this name overrides SyncObj's private ``__onMessageReceived`` (name mangling),
    # which is what the transport calls for every message (tick thread).
    def _SyncObj__onMessageReceived(self, node: Any, message: Any) -> None:  # noqa: N802 - pysyncobj's name
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == PONG_TYPE:
            self._guarded("rtt", lambda: self.peer_rtt.record(node.id, message, raft_clock()))
            return
        if kind in (KEEPALIVE_TYPE, PRE_VOTE, PRE_VOTE_RESPONSE, TERM_NOTICE):
            self._guarded(kind, lambda: self._on_election_message(node, kind, message))
            return
        if kind == "request_vote" and self._durable and self.storage_problem is not None:
            return  # a vote must be durable before it is cast: not now (full disk)
        if kind == "append_entries":
            self._guarded("append_entries", lambda: self._saw_append_entries(node, message))
        if kind == "next_node_idx" and self._SyncObj__raftState == _RAFT_STATE.LEADER:
            return self._on_answer(node, message)
        if kind != "append_entries":
            return super()._SyncObj__onMessageReceived(node, message)  # type: ignore[misc]
        real = self._SyncObj__transport
        if self._durable:
            self._SyncObj__transport = _HoldAcks(real, self._held_acks)
        try:
            if "prevLogIdx" in message:
                return self._append_new_entries_only(node, message)
            return self._commit_guarded_append(node, message)
        finally:
            self._SyncObj__transport = real

    def _saw_append_entries(self, node: Any, message: dict) -> None:
        e = self._election
        term, mine = message.get("term", 0), self._SyncObj__raftCurrentTerm
        if term >= mine:
            e.last_leader_contact = raft_clock()
            e.asked_since_contact = False
            if e.round_open:
                e.round += 1  # a leader is back: answers to the open round no longer count
                e.round_open = False
                e.granted.clear()
                e.won_round = None
            return
        # pysyncobj drops this without a word: tell the stale leader our term (Raft §5.1).
        self._SyncObj__transport.send(node, {"type": TERM_NOTICE, "term": mine})
        if (node.id, mine) not in e.noticed:
            e.noticed.add((node.id, mine))
            log.warning("append_entries from %s at term %d, ours is %d: told it our term", node.id, term, mine)

    def _on_election_message(self, node: Any, kind: str, message: dict) -> None:
        e = self._election
        if kind == KEEPALIVE_TYPE:
            (e.capable if message.get(CAPABILITY) else e.legacy).add(node.id)
            (e.legacy if message.get(CAPABILITY) else e.capable).discard(node.id)
            if (pong := pong_for(message)) is not None:
                self._SyncObj__transport.send(node, pong)  # the sender measures its RTT to us
            return
        e.capable.add(node.id)
        e.legacy.discard(node.id)
        term = self._SyncObj__raftCurrentTerm
        if kind == PRE_VOTE:
            voter = prevote.Voter(term=term, voted_for=self._SyncObj__votedForNodeId,
                                  is_leader=self._SyncObj__raftState == _RAFT_STATE.LEADER,
                                  last_leader_contact=e.last_leader_contact,
                                  log=LogTip(self._SyncObj__getCurrentLogTerm(), self._SyncObj__getCurrentLogIndex()))
            granted, why = prevote.pre_vote_granted(
                candidate=node.id, proposed_term=int(message["term"]),
                candidate_log=LogTip(int(message["last_log_term"]), int(message["last_log_index"])),
                voter=voter, now=raft_clock(), lease=self._lease())
            log.debug("pre-vote from %s for term %s: %s", node.id, message["term"], why)
            self._SyncObj__transport.send(node, {"type": PRE_VOTE_RESPONSE, "term": term,
                                                 "round": message.get("round"), "granted": granted})
        elif kind == PRE_VOTE_RESPONSE:
            if self._SyncObj__raftState == _RAFT_STATE.LEADER:
                return
            their_term = int(message.get("term", 0))
            if message.get("granted") and e.round_open and message.get("round") == e.round:
                e.granted.add(node.id)
                if e.won_round is None and self._pre_vote_won():
                    e.won_round = e.round
                    self._SyncObj__raftElectionDeadline = 0  # campaign on the next tick
            elif not message.get("granted") and their_term > term:
                log.info("pre-vote refused by %s at term %d (ours %d): taking its term", node.id, their_term, term)
                self._adopt_term(their_term)
        elif kind == TERM_NOTICE:
            their_term = int(message.get("term", 0))
            if their_term > term:
                log.warning("%s is at term %d, above ours (%d): %s", node.id, their_term, term,
                            "stepping down" if self._SyncObj__raftState == _RAFT_STATE.LEADER else "taking it")
                self._adopt_term(their_term)

    def _adopt_term(self, term: int) -> None:
        """Raft §5.1: a higher term seen anywhere makes this replica a follower of that term
        (no vote cast yet). Never lowers the term."""
        if term <= self._SyncObj__raftCurrentTerm:
            return
        self._SyncObj__setCurrentTerm(term, None)
        if self._SyncObj__raftState != _RAFT_STATE.FOLLOWER:
            self._step_down()
        self._SyncObj__raftLeader = None

    def _on_answer(self, node: Any, message: dict) -> Any:
        """A follower's answer, on the leader: a success never moves ``nextIndex`` back (it may
        answer a message older than the ones sent since); a reset does."""
        before = self._SyncObj__raftNextIndex.get(node)
        result = super()._SyncObj__onMessageReceived(node, message)  # type: ignore[misc]
        after = self._SyncObj__raftNextIndex.get(node)
        if (message.get("success") and not message.get("reset") and before is not None
                and after is not None and after < before):
            self._SyncObj__raftNextIndex[node] = before
        return result

    def _term_at(self, idx: int) -> int | None:
        journal = self._SyncObj__raftLog
        pos = idx - journal[0][1]
        return journal[pos][2] if 0 <= pos < len(journal) else None

    def _append_new_entries_only(self, node: Any, message: dict) -> Any:
        """pysyncobj's handler, given the message without the entries this follower has."""
        term = message.get("term", 0)
        if "transmission" in message or term < self._SyncObj__raftCurrentTerm:
            return super()._SyncObj__onMessageReceived(node, message)  # type: ignore[misc]
        matched_term, matched = self._matched
        plan = plan_append(message["prevLogIdx"], message["prevLogTerm"], message.get("entries", []),
                           term_at=self._term_at, log_end=self._SyncObj__getCurrentLogIndex(), leader_term=term,
                           matched=matched if matched_term == term else 0)
        if plan.changed:
            self.resent_skipped += plan.skipped
            message = dict(message, prevLogIdx=plan.prev_idx, prevLogTerm=plan.prev_term, entries=list(plan.entries))
        result = super()._SyncObj__onMessageReceived(node, message)  # type: ignore[misc]
        if plan.acked is not None:
            self._matched = (term, max(plan.acked, matched if matched_term == term else 0))
        return result

    def _commit_guarded_append(self, node: Any, message: Any) -> Any:
        leader_commit = message.get("commit_index", 0)
        log_before = self._SyncObj__raftLog[0]  # type: ignore[attr-defined]
        capped = dict(message, commit_index=min(leader_commit, self._SyncObj__raftCommitIndex))  # type: ignore[attr-defined]
        result = super()._SyncObj__onMessageReceived(node, capped)  # type: ignore[misc]
        if self._SyncObj__leaderCommitIndex == capped["commit_index"]:  # type: ignore[attr-defined]
            self._SyncObj__leaderCommitIndex = leader_commit  # taken: keep what the leader said
        if self._SyncObj__raftLog[0] != log_before:  # type: ignore[attr-defined]
            # A snapshot was installed: the log is the snapshot's, all of it committed.
            commit = min(leader_commit, self._SyncObj__getCurrentLogIndex())  # type: ignore[attr-defined]
            if commit > self._SyncObj__raftCommitIndex:  # type: ignore[attr-defined]
                self._SyncObj__raftCommitIndex = commit
                self._SyncObj__raftLog.setRaftCommitIndex(commit)  # type: ignore[attr-defined]
        return result
