"""Pre-vote, check-quorum and the term notice wired into pysyncobj (haplane.store.guarded).

Drives pysyncobj's real tick and message handler on a GuardedSyncObj with a recording transport,
no tick thread and a fake clock (pysyncobj's and ours): what the replica sends, its term and role.
"""

from __future__ import annotations

from typing import Any

import pytest
from pysyncobj import SyncObjConf
from pysyncobj.syncobj import _RAFT_STATE

from haplane.store import guarded
from haplane.store.guarded import GuardedSyncObj
from haplane.store.prevote import CAPABILITY, KEEPALIVE_TYPE, PRE_VOTE, PRE_VOTE_RESPONSE, TERM_NOTICE
from tests.unit.test_guarded_syncobj import RecordingTransport

SELF, B, C = "127.0.0.1:8", "127.0.0.1:9", "127.0.0.1:10"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    import pysyncobj.syncobj as so
    monkeypatch.setattr(so, "monotonicTime", c)
    monkeypatch.setattr(guarded, "raft_clock", c)
    return c


def replica(clock: Clock, term: int = 3) -> Any:
    conf = SyncObjConf(autoTick=False, password="secret-0123456789", raftMinTimeout=0.8, raftMaxTimeout=1.6,
                       appendEntriesPeriod=0.1, leaderFallbackTimeout=3.2, connectionTimeout=2.0)
    obj = GuardedSyncObj(SELF, [B, C], conf, transportClass=RecordingTransport, lease=0.8,
                         check_quorum_window=1.6)
    obj._SyncObj__setCurrentTerm(term, None)
    for n in obj.otherNodes:
        obj._SyncObj__onNodeConnected(n)
    return obj


def node(obj: Any, addr: str) -> Any:
    return next(n for n in obj.otherNodes if n.id == addr)


def sent(obj: Any, kind: str) -> list[tuple[str, dict]]:
    return [(n.id, m) for n, m in obj._SyncObj__transport.sent if isinstance(m, dict) and m.get("type") == kind]


def expire_deadline(obj: Any, clock: Clock) -> None:
    clock.t = max(clock.t, obj._SyncObj__raftElectionDeadline) + 0.01


def heartbeat(term: int = 3) -> dict:
    return {"type": "append_entries", "term": term, "commit_index": 1, "prevLogIdx": 1, "prevLogTerm": 0,
            "entries": []}


def test_an_expired_deadline_asks_for_pre_votes_and_keeps_the_term(clock: Clock) -> None:
    obj = replica(clock)
    expire_deadline(obj, clock)
    obj.doTick()
    assert obj.raftCurrentTerm == 3 and obj._SyncObj__raftState == _RAFT_STATE.FOLLOWER
    asks = sent(obj, PRE_VOTE)
    assert sorted(a for a, _ in asks) == sorted([B, C])
    assert {m["term"] for _, m in asks} == {4}
    assert not sent(obj, "request_vote")
    assert obj._SyncObj__raftElectionDeadline > clock.t  # pushed away: no election without a majority
    obj.destroy()


def test_a_won_pre_vote_starts_the_real_election(clock: Clock) -> None:
    obj = replica(clock)
    expire_deadline(obj, clock)
    obj.doTick()
    rnd = sent(obj, PRE_VOTE)[0][1]["round"]
    obj._SyncObj__onMessageReceived(node(obj, B), {"type": PRE_VOTE_RESPONSE, "term": 3, "round": rnd, "granted": True})
    obj.doTick()
    assert obj.raftCurrentTerm == 4 and obj._SyncObj__raftState == _RAFT_STATE.CANDIDATE
    assert {m["term"] for _, m in sent(obj, "request_vote")} == {4}
    obj.destroy()


@pytest.mark.parametrize("response, why", [
    pytest.param({"granted": False, "round": 1, "term": 3}, "refused", id="refused"),
    pytest.param({"granted": True, "round": 0, "term": 3}, "stale-round", id="answer-to-an-older-round"),
])
def test_no_majority_no_election(clock: Clock, response: dict, why: str) -> None:
    obj = replica(clock)
    expire_deadline(obj, clock)
    obj.doTick()
    obj._SyncObj__onMessageReceived(node(obj, B), {"type": PRE_VOTE_RESPONSE, **response})
    clock.t += 0.05
    obj.doTick()
    assert obj.raftCurrentTerm == 3 and not sent(obj, "request_vote"), why
    obj.destroy()


def test_a_leader_heard_meanwhile_cancels_a_won_round(clock: Clock) -> None:
    obj = replica(clock)
    expire_deadline(obj, clock)
    obj.doTick()
    rnd = sent(obj, PRE_VOTE)[0][1]["round"]
    obj._SyncObj__onMessageReceived(node(obj, C), heartbeat())
    obj._SyncObj__onMessageReceived(node(obj, B), {"type": PRE_VOTE_RESPONSE, "term": 3, "round": rnd, "granted": True})
    obj.doTick()
    assert obj.raftCurrentTerm == 3 and not sent(obj, "request_vote")
    obj.destroy()


@pytest.mark.parametrize("since_leader, expected", [
    pytest.param(0.1, False, id="heard-the-leader-0.1s-ago"),
    pytest.param(5.0, True, id="no-leader-for-5s"),
])
def test_pre_vote_answers_follow_the_lease(clock: Clock, since_leader: float, expected: bool) -> None:
    obj = replica(clock)
    obj._SyncObj__onMessageReceived(node(obj, C), heartbeat())
    clock.t += since_leader
    obj._SyncObj__onMessageReceived(node(obj, B), {"type": PRE_VOTE, "term": 4, "round": 7,
                                                   "last_log_index": 5, "last_log_term": 3})
    (to, answer), = sent(obj, PRE_VOTE_RESPONSE)
    assert to == B and answer["granted"] is expected and answer["round"] == 7
    assert obj.raftCurrentTerm == 3  # a pre-vote changes nothing
    obj.destroy()


def test_an_older_peer_counts_as_a_yes_so_mixed_clusters_still_elect(clock: Clock) -> None:
    obj = replica(clock)
    obj._SyncObj__onMessageReceived(node(obj, B), {"type": KEEPALIVE_TYPE})  # no capability: an older replica
    obj._SyncObj__onMessageReceived(node(obj, C), {"type": KEEPALIVE_TYPE, CAPABILITY: 1})
    expire_deadline(obj, clock)
    obj.doTick()
    assert obj.raftCurrentTerm == 4 and sent(obj, "request_vote")
    obj.destroy()


def test_a_leadership_transfer_skips_pre_vote(clock: Clock) -> None:
    obj = replica(clock)
    obj._SyncObj__onMessageReceived(node(obj, C), heartbeat())
    obj._SyncObj__onMessageReceived(node(obj, C), {"type": "timeout_now", "term": 3})
    clock.t += 0.01
    obj.doTick()
    assert obj.raftCurrentTerm == 4 and sent(obj, "request_vote") and not sent(obj, PRE_VOTE)
    obj.destroy()


def leader(clock: Clock) -> Any:
    obj = replica(clock)
    obj._SyncObj__onBecomeLeader()
    obj.doTick()
    assert obj._isLeader()
    return obj


def answer(obj: Any, addr: str) -> None:
    obj._SyncObj__onMessageReceived(node(obj, addr), {"type": "next_node_idx", "next_node_idx": 2,
                                                      "reset": False, "success": True})


@pytest.mark.parametrize("answering, seconds, stays", [
    pytest.param([B, C], 5.0, True, id="both-answer"),
    pytest.param([B], 5.0, True, id="one-answers-still-a-majority"),
    pytest.param([], 1.5, True, id="nobody-for-1.5s"),
    pytest.param([], 1.8, False, id="nobody-for-1.8s-steps-down"),
])
def test_check_quorum(clock: Clock, answering: list[str], seconds: float, stays: bool) -> None:
    obj = leader(clock)
    end = clock.t + seconds
    while clock.t < end:
        clock.t += 0.05
        for a in answering:
            answer(obj, a)
        obj.doTick()
    assert obj._isLeader() is stays
    assert obj.raftCurrentTerm == 3
    obj.destroy()


def test_a_stalled_leader_is_not_deposed_by_its_own_stall(clock: Clock) -> None:
    obj = leader(clock)
    clock.t += 2.5  # the tick thread did not run (nobody could answer it)
    obj.doTick()
    assert obj._isLeader()
    obj.destroy()


def test_a_higher_term_reported_back_makes_the_leader_step_down(clock: Clock) -> None:
    obj = leader(clock)
    obj._SyncObj__onMessageReceived(node(obj, B), {"type": TERM_NOTICE, "term": 9})
    assert not obj._isLeader() and obj.raftCurrentTerm == 9
    obj.destroy()


def test_a_lower_term_leader_is_told_our_term(clock: Clock) -> None:
    obj = replica(clock, term=5)
    obj._SyncObj__onMessageReceived(node(obj, C), heartbeat(term=3))
    assert sent(obj, TERM_NOTICE) == [(C, {"type": TERM_NOTICE, "term": 5})]
    assert obj.raftCurrentTerm == 5
    obj.destroy()
