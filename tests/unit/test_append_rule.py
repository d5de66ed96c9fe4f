"""Resent entries: a follower never deletes entries it has that match the leader's (same index
and term), only from the first conflicting one; a leader's nextIndex does not go back on an
older success answer. The rule (:mod:`haplane.store.appendrule`) and GuardedSyncObj driving
pysyncobj's real handlers message by message, with the real DurableJournal (no tick thread).
"""

from __future__ import annotations

import os
from typing import Any

from pysyncobj import SyncObjConf

from haplane.store.appendrule import plan_append
from haplane.store.guarded import GuardedSyncObj
from haplane.store.journal import DurableJournal, read_synced_length
from tests.unit.test_guarded_syncobj import RecordingTransport

LEADER, FOLLOWER = "127.0.0.1:9", "127.0.0.1:8"


def replica(tmp_path: Any, me: str, other: str) -> Any:
    path = str(tmp_path / f"{me.rsplit(':', 1)[1]}.wal")
    conf = SyncObjConf(autoTick=False, password="secret-0123456789", journalFile=path)
    obj = GuardedSyncObj(me, [other], conf, transportClass=RecordingTransport,
                         journal_factory=lambda p: DurableJournal(p))
    obj._SyncObj__onNodeConnected(next(iter(obj.otherNodes)))
    return obj


def entries(first: int, last: int, term: int) -> list[tuple[bytes, int, int]]:
    return [(b"\x01cmd-%d" % i, i, term) for i in range(first, last + 1)]


def feed(obj: Any, message: dict) -> None:
    obj._SyncObj__onMessageReceived(next(iter(obj.otherNodes)), message)


def answers(obj: Any) -> list[dict]:
    """Sync and send the held answers (as a tick does); the next_node_idx answers sent so far."""
    obj._sync_then_answer()
    sent = obj._SyncObj__transport.sent
    out = [m for _, m in sent if m.get("type") == "next_node_idx"]
    sent.clear()
    return out


def log_of(obj: Any) -> list[tuple[int, int]]:
    return [(idx, term) for _, idx, term in obj.journal[:]]


def append(prev: int, prev_term: int, ents: list, term: int = 1, commit: int = 1) -> dict:
    return {"type": "append_entries", "term": term, "commit_index": commit, "prevLogIdx": prev,
            "prevLogTerm": prev_term, "entries": ents}


def follower_with(tmp_path: Any, ents: list, term: int = 1, commit: int = 1) -> Any:
    obj = replica(tmp_path, FOLLOWER, LEADER)
    feed(obj, append(1, 0, ents, term=term, commit=commit))
    assert answers(obj)[-1]["next_node_idx"] == ents[-1][1] + 1
    return obj


def test_a_resent_batch_shorter_than_the_log_deletes_nothing(tmp_path) -> None:  # noqa: ANN001
    # The follower has 2..10 (term 1), fsynced and acknowledged up to 10; an older batch of the
    # same leader arrives again (prevLogIdx 4, entries 5..6). pysyncobj alone cut 7..10 off.
    obj = follower_with(tmp_path, entries(2, 10, 1), commit=10)
    path = obj.journal.path
    size = os.path.getsize(path)
    feed(obj, append(4, 1, entries(5, 6, 1), commit=10))
    assert log_of(obj) == [(1, 0)] + [(i, 1) for i in range(2, 11)]
    assert os.path.getsize(path) == size and read_synced_length(path) == size  # nothing cut or rewritten
    assert not obj.journal.dirty
    [answer] = answers(obj)
    assert answer["success"] and not answer["reset"] and answer["next_node_idx"] == 11
    assert obj.resent_skipped == 2
    obj.destroy()


def test_new_entries_after_a_matching_prefix_are_appended_without_a_rewrite(tmp_path) -> None:  # noqa: ANN001
    obj = follower_with(tmp_path, entries(2, 6, 1))
    feed(obj, append(2, 1, entries(3, 9, 1)))
    assert log_of(obj)[-1] == (9, 1) and len(obj.journal) == 9
    assert answers(obj)[-1]["next_node_idx"] == 10
    assert obj.resent_skipped == 4
    obj.destroy()


def test_entries_are_deleted_from_the_first_conflicting_one(tmp_path) -> None:  # noqa: ANN001
    # Term 2's leader has 7 (term 1) and 8, 9 of its own; the follower has 2..8 of term 1.
    obj = follower_with(tmp_path, entries(2, 8, 1))
    feed(obj, append(6, 1, entries(7, 7, 1) + entries(8, 9, 2), term=2))
    assert log_of(obj)[-3:] == [(7, 1), (8, 2), (9, 2)]
    assert answers(obj)[-1]["next_node_idx"] == 10
    obj.destroy()


def test_an_old_term_tail_never_acknowledged_in_this_term_is_not_acknowledged(tmp_path) -> None:  # noqa: ANN001
    # The follower's 7..8 are term 1's; term 2's leader sends 5..6: it may not have 7..8.
    obj = follower_with(tmp_path, entries(2, 8, 1))
    feed(obj, append(4, 1, entries(5, 6, 1), term=2))
    assert answers(obj)[-1]["next_node_idx"] == 7
    assert log_of(obj)[-1] == (6, 1)  # pysyncobj's handler ends the log at the acknowledged entry
    obj.destroy()


def test_a_tail_acknowledged_to_this_leader_is_kept(tmp_path) -> None:  # noqa: ANN001
    obj = follower_with(tmp_path, entries(2, 4, 1))
    feed(obj, append(4, 1, entries(5, 8, 1), term=2))  # term 2's leader sends term-1 entries
    assert answers(obj)[-1]["next_node_idx"] == 9
    feed(obj, append(4, 1, entries(5, 6, 1), term=2))  # that batch, resent
    assert answers(obj)[-1]["next_node_idx"] == 9
    assert log_of(obj)[-1] == (8, 1)
    obj.destroy()


def test_a_leader_keeps_next_index_on_an_older_success_and_resends_nothing(tmp_path) -> None:  # noqa: ANN001
    """Two replicas, message by message: batch A is answered only after batch B was sent."""
    leader, follower = replica(tmp_path, LEADER, FOLLOWER), replica(tmp_path, FOLLOWER, LEADER)
    leader._SyncObj__setCurrentTerm(1, LEADER)
    leader._SyncObj__onBecomeLeader()  # its no-op at index 2, sent at once
    peer = next(iter(leader.otherNodes))
    log = leader._SyncObj__raftLog

    def send_new(first: int, last: int) -> list[dict]:
        for cmd, idx, term in entries(first, last, 1):
            log.add(cmd, idx, term)
        leader._SyncObj__sendAppendEntries()
        out = [m for _, m in leader._SyncObj__transport.sent if m.get("type") == "append_entries"]
        leader._SyncObj__transport.sent.clear()
        return out

    def deliver(messages: list[dict]) -> list[dict]:
        for m in messages:
            assert m["prevLogIdx"] >= follower._SyncObj__getCurrentLogIndex(), "resent entries the follower has"
            feed(follower, m)
        return answers(follower)

    first = [m for _, m in leader._SyncObj__transport.sent if m.get("type") == "append_entries"]
    leader._SyncObj__transport.sent.clear()
    answers_a = deliver(first + send_new(3, 5))  # batch A: the no-op and 3..5
    answers_b = deliver(send_new(6, 8))  # batch B, sent before A's answer arrived
    assert leader._SyncObj__raftNextIndex[peer] == 9
    for answer in answers_a:  # A's answers arrive now
        leader._SyncObj__onMessageReceived(peer, answer)
    assert leader._SyncObj__raftNextIndex[peer] == 9  # pysyncobj alone: back to 6
    assert leader._SyncObj__raftMatchIndex[peer] == 5
    deliver(send_new(9, 9))  # prevLogIdx 8: nothing resent
    for answer in answers_b:
        leader._SyncObj__onMessageReceived(peer, answer)
    assert leader._SyncObj__raftMatchIndex[peer] == 8
    assert follower.resent_skipped == 0
    assert log_of(follower) == log_of(leader)
    # A reset still moves nextIndex back (the follower lacks what the leader assumed).
    leader._SyncObj__onMessageReceived(peer, {"type": "next_node_idx", "next_node_idx": 4, "reset": True,
                                              "success": False})
    assert leader._SyncObj__raftNextIndex[peer] == 4
    leader.destroy()
    follower.destroy()


# ---------------------------------------------------------------------- the rule alone
def terms(log: dict[int, int]) -> Any:
    return log.get


def test_plan_leaves_a_mismatching_prev_to_pysyncobj() -> None:
    plan = plan_append(5, 2, entries(6, 7, 2), term_at=terms({5: 1}), log_end=5, leader_term=2, matched=0)
    assert not plan.changed and plan.acked is None


def test_plan_drops_the_matching_prefix() -> None:
    log = {i: 1 for i in range(1, 8)}
    plan = plan_append(3, 1, entries(4, 9, 1), term_at=terms(log), log_end=7, leader_term=1, matched=0)
    assert (plan.prev_idx, plan.prev_term, [e[1] for e in plan.entries]) == (7, 1, [8, 9])
    assert plan.skipped == 4 and plan.acked == 9


def test_plan_keeps_a_conflict_at_the_first_entry_for_pysyncobj() -> None:
    log = {1: 1, 2: 1, 3: 1}
    plan = plan_append(1, 1, entries(2, 3, 2), term_at=terms(log), log_end=3, leader_term=2, matched=0)
    assert not plan.changed and plan.acked == 3


def test_plan_acknowledges_only_what_is_known_to_be_in_the_leaders_log() -> None:
    log = {i: 1 for i in range(1, 11)}
    def plan(leader_term: int, matched: int) -> int | None:
        return plan_append(3, 1, entries(4, 5, 1), term_at=terms(log), log_end=10, leader_term=leader_term,
                           matched=matched).acked
    assert plan(1, 0) == 10  # the last entry is the leader's term: all of the log is the leader's
    assert plan(2, 0) == 5  # an older term's tail: only what the message showed
    assert plan(2, 8) == 8  # ... or what was acknowledged to this leader
    assert plan(2, 20) == 10
