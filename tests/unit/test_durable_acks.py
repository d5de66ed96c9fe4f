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
