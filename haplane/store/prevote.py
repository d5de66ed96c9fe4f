"""Pre-vote and check-quorum (Raft thesis §9.6, §6.2): the decisions, as pure functions.

pysyncobj 0.3.17 has neither. A follower whose election deadline passes — because it was
paused, cut off or just restarted — campaigns at term+1 as soon as it reaches any peer, and a
``request_vote`` with a higher term makes even a healthy leader step down (measured: 6 of 6
resumed paused followers deposed the leader). :class:`haplane.store.guarded.GuardedSyncObj`
wires these decisions into pysyncobj's tick and message handler:

* **Pre-vote.** When its deadline passes, a follower (or a candidate whose election failed)
  first asks every voter whether it *would* vote for it at term+1 (:data:`PRE_VOTE`), changing
  no state anywhere. Only with a majority of yes (itself included) does it start pysyncobj's
  real election. A voter says yes (:func:`pre_vote_granted`) only if it is not the leader, has
  not heard from a leader for ``lease`` seconds (the minimum election timeout: leader
  stickiness), the candidate's log is at least as up to date as its own and the real vote could
  go to it by term. So a replica the cluster can still hear a leader from never raises its term.
* **Check-quorum.** A leader that has not heard from a majority of the voters for ``window``
  seconds of its own running time steps down (:func:`silence_after_tick`,
  :func:`leader_has_quorum`): it then acknowledges nothing and serves no linearizable read (both
  go through the log). Time during which the leader's own tick thread did not run (a starved
  process, a GIL hog) counts only up to ``stall_cap`` per tick: nobody had a chance to answer it.
* **Term notice.** A replica whose term is above a leader's ignores that leader's
  ``append_entries`` (pysyncobj drops lower-term messages without a word); without an answer the
  leader would never learn it is behind and the replica would stay stuck forever (its pre-votes
  are refused: everyone else hears the leader). Raft's rule ("a reply with a higher term makes
  a leader step down") is :data:`TERM_NOTICE`, sent back for such a message.

Rolling upgrades (mixed versions): every new message is of a type pysyncobj does not know, which
its handler ignores; so an older replica ignores a pre-vote and a term notice. Each replica
announces that it answers pre-votes in its keepalive (:data:`CAPABILITY`, twice a second per
connection). A candidate counts a *connected* peer that sent keepalives without the capability
(an older replica) as a yes — for that peer it behaves as before the change, so a cluster with
old members can always elect, and the peer decides on the real vote as it always did. A peer
that has not said anything yet counts as neither; its answer (or its keepalive, < 0.5 s) comes
before the next attempt. Pre-vote protects the leader from the upgraded replicas; an old one
can still depose it, as before, until it is upgraded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

KEEPALIVE_TYPE = "haplane_keepalive"  # haplane.store.raft's keepalive; pysyncobj ignores it
PRE_VOTE = "haplane_pre_vote"
PRE_VOTE_RESPONSE = "haplane_pre_vote_response"
TERM_NOTICE = "haplane_term"
CAPABILITY = "prevote"  # keepalive field: this replica answers PRE_VOTE


@dataclass(frozen=True)
class LogTip:
    """The term and index of a log's last entry."""

    term: int
    index: int


@dataclass(frozen=True)
class Voter:
    """What a replica knows when a pre-vote request arrives."""

    term: int
    voted_for: str | None
    is_leader: bool
    last_leader_contact: float | None  # monotonic time of the last append_entries from a current leader
    log: LogTip


def log_up_to_date(candidate: LogTip, mine: LogTip) -> bool:
    """Raft's election restriction (§5.4.1): the candidate's log ends in a later term, or the
    same term and at least as far."""
    return candidate.term > mine.term or (candidate.term == mine.term and candidate.index >= mine.index)


def pre_vote_granted(*, candidate: str, proposed_term: int, candidate_log: LogTip, voter: Voter,
                     now: float, lease: float) -> tuple[bool, str]:
    """Would ``voter`` vote for ``candidate`` at ``proposed_term``? ``(yes, why)``; no state changes.

    pysyncobj's real vote goes to a higher term, or the same term if no vote was cast yet; the
    log must be up to date. Pre-vote adds leader stickiness: no while a leader is being heard.
    """
    if voter.is_leader:
        return False, "I am the leader"
    if voter.last_leader_contact is not None and now - voter.last_leader_contact < lease:
        return False, f"heard from the leader {now - voter.last_leader_contact:.3f}s ago"
    if proposed_term < voter.term or (proposed_term == voter.term and voter.voted_for not in (None, candidate)):
        return False, f"term {proposed_term} is behind mine ({voter.term})"
    if not log_up_to_date(candidate_log, voter.log):
        return False, f"log {candidate_log} is behind mine ({voter.log})"
    return True, "granted"


def pre_vote_won(granted: Iterable[str], assumed: Iterable[str], voters: Iterable[str]) -> bool:
    """A majority of the cluster (the candidate, ``voters`` = every *other* voting member) says
    yes: ``granted`` answered yes, ``assumed`` are connected older replicas that cannot answer."""
    others = set(voters)
    yes = 1 + len((set(granted) | set(assumed)) & others)
    return yes > (len(others) + 1) / 2


def silence_after_tick(silence: Mapping[str, float], heard: Iterable[str], voters: Iterable[str],
                       elapsed: float, stall_cap: float) -> dict[str, float]:
    """Each voter's silence toward the leader after one tick that took ``elapsed`` seconds:
    back to 0 for those ``heard`` from since the last tick, else grown by ``elapsed`` — but by
    at most ``stall_cap``: while the leader itself did not run, nobody could answer it."""
    got = set(heard)
    step = min(max(elapsed, 0.0), stall_cap)
    return {v: 0.0 if v in got else silence.get(v, 0.0) + step for v in voters}


def leader_has_quorum(silence: Mapping[str, float], voters: Iterable[str], window: float) -> bool:
    """Check-quorum: the leader plus the voters silent for no more than ``window`` are a majority."""
    others = list(voters)
    live = 1 + sum(1 for v in others if silence.get(v, 0.0) <= window)
    return live > (len(others) + 1) / 2
