"""Group commit in GuardedSyncObj: a follower's answer to append_entries leaves only after the
entries are synced, one sync per tick; the leader syncs its own appends before counting them.

Drives pysyncobj's real handler and tick (no tick thread, a recording transport) with the real
DurableJournal, whose sync and the transport's sends are logged in one sequence.
"""

from __future__ import annotations

import os
from typing import Any

from pysyncobj import SyncObjConf

from haplane.store.guarded import GuardedSyncObj
from haplane.store.journal import DurableJournal, read_synced_length
from tests.unit.test_guarded_syncobj import RecordingTransport

SELF, LEADER = "127.0.0.1:8", "127.0.0.1:9"


def follower(tmp_path: Any, events: list[str]) -> Any:
    class Journal(DurableJournal):
        def sync(self) -> float:
            if self.dirty:
                events.append("sync")
            return super().sync()

    class Transport(RecordingTransport):
        def send(self, node: Any, message: Any) -> bool:
            events.append(f"send {message.get('type')}")
            return super().send(node, message)

    conf = SyncObjConf(autoTick=False, password="secret-0123456789", journalFile=str(tmp_path / "raft.wal"))
    obj = GuardedSyncObj(SELF, [LEADER], conf, transportClass=Transport,
                         journal_factory=lambda path: Journal(path))
    assert isinstance(obj.journal, Journal)
    return obj


def append(idx: int) -> dict:
    return {"type": "append_entries", "term": 1, "commit_index": 1, "prevLogIdx": idx - 1, "prevLogTerm": 0 if idx == 2 else 1,
            "entries": [(b"\x01entry", idx, 1)]}


def test_answers_wait_for_one_sync_per_tick(tmp_path) -> None:  # noqa: ANN001
    events: list[str] = []
    obj = follower(tmp_path, events)
    leader = next(iter(obj.otherNodes))
    obj._SyncObj__onNodeConnected(leader)
    for idx in (2, 3, 4):  # three append_entries handled in one poll
        obj._SyncObj__onMessageReceived(leader, append(idx))
    assert "send next_node_idx" not in events  # held: nothing on disk yet
    path = str(tmp_path / "raft.wal")
    assert read_synced_length(path) < os.path.getsize(path)
    obj.doTick()
    assert events.count("sync") == 1
    first_answer = events.index("send next_node_idx")
    assert events.index("sync") < first_answer
    assert events.count("send next_node_idx") == 3
    assert read_synced_length(path) == os.path.getsize(path)
    obj.destroy()


def test_a_leader_syncs_its_own_entries_within_the_tick_that_appended_them(tmp_path) -> None:  # noqa: ANN001
    events: list[str] = []
    obj = follower(tmp_path, events)
    obj._SyncObj__onNodeConnected(next(iter(obj.otherNodes)))
    obj._SyncObj__onBecomeLeader()  # appends its no-op
    assert obj.journal.dirty
    obj.doTick()  # the commit loop of the *next* tick is the first to count this replica
    assert not obj.journal.dirty and events.count("sync") == 1
    obj.destroy()


def test_without_a_durable_journal_nothing_is_held(tmp_path) -> None:  # noqa: ANN001
    conf = SyncObjConf(autoTick=False, password="secret-0123456789")
    obj = GuardedSyncObj(SELF, [LEADER], conf, transportClass=RecordingTransport)
    leader = next(iter(obj.otherNodes))
    obj._SyncObj__onMessageReceived(leader, append(2))
    assert [m["type"] for _, m in obj._SyncObj__transport.sent] == ["next_node_idx"]
    obj.destroy()


# ----------------------------------------------------------------- a full disk (see journal.py)
def full_disk(obj: Any, monkeypatch: Any) -> Any:
    """Make the replica's journal file refuse writes (ENOSPC) until the returned ``heal()``."""
    import errno

    from haplane.store import journal as wal

    real = os.pwrite
    state = {"full": True}

    def pwrite(fd: int, data: bytes, off: int) -> int:
        if state["full"] and fd == obj.journal._fd:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data, off)

    monkeypatch.setattr(wal.os, "pwrite", pwrite)
    monkeypatch.setattr(wal, "RETRY_INTERVAL", 0.0)

    def heal() -> None:
        state["full"] = False
    return heal


def test_a_follower_with_a_full_disk_answers_nothing_until_it_can_persist(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    events: list[str] = []
    obj = follower(tmp_path, events)
    leader = next(iter(obj.otherNodes))
    obj._SyncObj__onNodeConnected(leader)
    heal = full_disk(obj, monkeypatch)
    obj._SyncObj__onMessageReceived(leader, append(2))
    obj.doTick()
    assert obj.storage_problem is not None and "ENOSPC" in obj.storage_problem
    assert "send next_node_idx" not in events, "an entry not on disk is never acknowledged"
    obj._SyncObj__onMessageReceived(leader, {"type": "request_vote", "term": 5, "last_log_index": 9,
                                             "last_log_term": 1})
    obj.doTick()
    assert "send response_vote" not in events, "a vote that cannot be stored is not cast"
    assert obj.raftCurrentTerm == 1
    heal()
    obj._SyncObj__onMessageReceived(leader, append(3))  # the leader's next message
    obj.doTick()
    assert obj.storage_problem is None
    acks = [m for _, m in obj._SyncObj__transport.sent if m.get("type") == "next_node_idx"]
    assert acks and acks[-1]["next_node_idx"] == 4, "one answer after recovery covers both entries"
    path = str(tmp_path / "raft.wal")
    assert read_synced_length(path) == os.path.getsize(path)
    obj.destroy()


def test_a_leader_whose_disk_fills_steps_down_in_the_same_tick_and_does_not_campaign(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    events: list[str] = []
    obj = follower(tmp_path, events)
    obj._SyncObj__onNodeConnected(next(iter(obj.otherNodes)))
    heal = full_disk(obj, monkeypatch)
    obj._SyncObj__onBecomeLeader()  # its no-op cannot be written
    obj.doTick()
    assert not obj._isLeader(), "a leader that cannot persist must not count itself toward a commit"
    obj._SyncObj__raftElectionDeadline = 0  # its election timeout is long past
    term = obj.raftCurrentTerm
    obj.doTick()
    assert obj.raftCurrentTerm == term and "send request_vote" not in events
    heal()
    obj.doTick()
    assert obj.storage_problem is None
    obj.destroy()
