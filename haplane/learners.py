"""Learners: when a catching-up member may become a voter, and the role and lag of a member. Pure.

A replica started with ``haplane server --join`` is a *learner*: a pysyncobj read-only node
that receives the log but never votes and never counts toward a commit (see
:mod:`haplane.store.learner` for how, and why that is safe). ``haplane cluster add-member``
asks the leader to promote it; the leader appends the voting ``add`` only once the learner is
caught up — connected, and its lag (the leader's commit index minus the learner's match index)
at most :data:`PROMOTE_LAG` entries — and has stayed so for :data:`PROMOTE_SUSTAIN` seconds.
So the configuration grows only by a member that can vote on the next entry already, and
adding a member to a loaded cluster does not make commits wait for the newcomer's catch-up.

This module holds those decisions (the leader's promotion loop in :mod:`haplane.api.membership`
samples its replication view and asks :func:`promotion_step`), nothing that does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

PROMOTE_LAG = 100        # entries: within pysyncobj's batch the leader sends in one append_entries
PROMOTE_SUSTAIN = 1.0    # seconds the learner must stay within PROMOTE_LAG before its promotion


def lag(commit_index: int | None, match_index: int | None) -> int | None:
    """Entries a member is behind the leader's commit index (0 when ahead); None if unknown."""
    if commit_index is None or match_index is None:
        return None
    return max(0, commit_index - match_index)


@dataclass(frozen=True)
class CatchUp:
    """The promotion loop's memory: since when the learner has been caught up (None: it is not)."""

    since: float | None = None
    samples: int = 0  # consecutive caught-up samples


@dataclass(frozen=True)
class Step:
    state: CatchUp
    promote: bool
    why: str


def promotion_step(state: CatchUp, *, now: float, connected: bool, lag_entries: int | None,
                   max_lag: int = PROMOTE_LAG, sustain: float = PROMOTE_SUSTAIN) -> Step:
    """One sample of the learner as the leader sees it: is it time to append the voting ``add``?

    Caught up = connected and ``lag_entries <= max_lag``. The learner must be caught up on at
    least two samples in a row spanning ``sustain`` seconds; any other sample starts over.
    """
    if not connected:
        return Step(CatchUp(), False, "the learner is not connected to the leader")
    if lag_entries is None:
        return Step(CatchUp(), False, "the learner's match index is not known yet")
    if lag_entries > max_lag:
        return Step(CatchUp(), False, f"the learner is {lag_entries} entries behind (promoted at <= {max_lag})")
    since = state.since if state.since is not None else now
    samples = state.samples + 1
    held = now - since
    if samples >= 2 and held >= sustain:
        return Step(CatchUp(since, samples), True, f"caught up (lag {lag_entries}) for {held:.1f}s")
    return Step(CatchUp(since, samples), False,
                f"caught up (lag {lag_entries}) for {held:.1f}s of the {sustain:g}s required")


def role_of(*, voter: bool, leader: bool) -> str:
    """The role ``haplane cluster members`` shows: leader, follower (a voter) or learner."""
    if leader:
        return "leader"
    return "follower" if voter else "learner"
