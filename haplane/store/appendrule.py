"""Raft's AppendEntries rules 3 and 4 for pysyncobj's follower, as a rewrite of the message.

pysyncobj 0.3.17's follower, once ``prevLogIdx`` matches, deletes *every* entry after it and
appends the message's entries — even when they are entries it already has. A leader resends
such entries all the time: it advances ``nextIndex`` optimistically while sending, and pysyncobj
moves it back to the acknowledged index whenever an earlier (older) acknowledgement arrives, so
the next message starts again below the follower's log end (measured: 2,580 such messages, 43 %
of the entries sent were resends, 71 ``truncating already-applied log entries`` lines in 20 s of writes at
c=64/256). Besides the cost (journal truncate + rewrite, re-sent bytes), a message that covers
less than the follower has (one batch of several) cuts the follower's log below entries it has
already acknowledged — entries the leader counted toward a commit, gone from this member's disk.

Raft (Ongaro & Ousterhout, Fig. 2): "If an existing entry conflicts with a new one (same index
but different terms), delete the existing entry and all that follow it"; "Append any new entries
not already in the log". :func:`plan_append` rewrites a message so that pysyncobj's handler does
exactly that: entries the follower has (same index and term) are dropped from the message and
``prevLogIdx`` moved to the last of them; if none is left and the follower's log goes further,
``prevLogIdx`` becomes the last entry known to be in the leader's log, so nothing is deleted:

* an entry of the leader's own term is in the leader's log (one leader per term, which never
  deletes its own entries), and so, by the Log Matching property, is everything before it; the
  terms of a log never decrease, so if the follower's last entry has the leader's term, its whole
  log is a prefix of the leader's;
* entries this follower has acknowledged to this leader (``matched``: the highest index it acked
  in the leader's term) are in the leader's log too.

An entry past both may be an old term's, not in the leader's log: pysyncobj still deletes it
(Raft would keep it until a conflict shows; it has never been acknowledged in this term).
Pure: the caller (:class:`haplane.store.guarded.GuardedSyncObj`) reads the log and applies it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Entry = tuple[Any, int, int]  # (command, index, term), as pysyncobj keeps them


@dataclass(frozen=True)
class Plan:
    """What to hand pysyncobj: ``prev_idx``/``prev_term``/``entries`` (``changed``: they differ
    from the message's), ``skipped`` entries the follower already had, and ``acked``: the index
    the answer will acknowledge (None: ``prevLogIdx`` does not match, pysyncobj resets)."""

    prev_idx: int | None
    prev_term: int | None
    entries: Sequence[Entry]
    changed: bool
    skipped: int
    acked: int | None


def plan_append(prev_idx: int | None, prev_term: int | None, entries: Sequence[Entry], *,
                term_at: Callable[[int], int | None], log_end: int, leader_term: int, matched: int) -> Plan:
    """``term_at(i)``: the term of the follower's entry ``i`` (None: it has none, or compacted it);
    ``log_end``: its last index; ``matched``: the highest index it acknowledged in ``leader_term``
    (0 if none)."""
    unchanged = Plan(prev_idx, prev_term, entries, False, 0, None)
    if prev_idx is None or term_at(prev_idx) != prev_term:
        return unchanged  # pysyncobj answers with a reset
    have = 0
    for _command, idx, term in entries:
        if term_at(idx) != term:
            break
        have += 1
    if have < len(entries):  # a new or conflicting entry: pysyncobj deletes from it on, appends
        last = entries[-1][1]
        if have == 0:
            return Plan(prev_idx, prev_term, entries, False, 0, last)
        base = entries[have - 1]
        return Plan(base[1], base[2], entries[have:], True, have, last)
    upto = entries[-1][1] if entries else prev_idx
    if log_end <= upto:
        return Plan(prev_idx, prev_term, entries, False, 0, upto)
    known = log_end if term_at(log_end) == leader_term else max(upto, min(matched, log_end))
    return Plan(known, term_at(known), [], True, len(entries), known)
