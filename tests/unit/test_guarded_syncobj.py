"""A follower never commits entries no leader has matched (haplane.store.guarded).

Drives pysyncobj's real message handler directly, on a SyncObj with a recording transport and
no tick thread: the state is set up as an isolated old leader's after its partition heals —
entries of its own past the cluster's commit index — and the new leader's messages arrive.
"""

from __future__ import annotations

from typing import Any

from pysyncobj import SyncObj, SyncObjConf
from pysyncobj.node import TCPNode
from pysyncobj.transport import Transport

from haplane.store.guarded import GuardedSyncObj

LEADER = TCPNode("127.0.0.1:9")


class RecordingTransport(Transport):
    def __init__(self, syncObj: Any, selfNode: Any, otherNodes: Any) -> None:  # noqa: N803
        super().__init__(syncObj, selfNode, otherNodes)
        self.sent: list[tuple[Any, Any]] = []

    def tryGetReady(self) -> None:  # noqa: N802
        pass

    @property
    def ready(self) -> bool:
        return True

    def send(self, node: Any, message: Any) -> bool:
        self.sent.append((node, message))
        return True


def old_leader(cls: type) -> Any:
    """Log 1..6 at term 1, committed to 3: entries 4..6 were accepted while cut off."""
    obj = cls("127.0.0.1:8", ["127.0.0.1:9"], SyncObjConf(autoTick=False, password="secret-0123456789"),
              transportClass=RecordingTransport)
    log = obj._SyncObj__raftLog
    log.clear()
    for idx in range(1, 7):
        log.add(b"\x00", idx, 1)
    obj._SyncObj__raftCommitIndex = 3
    obj._SyncObj__raftCurrentTerm = 1
    return obj


def snapshot_pending(commit: int) -> dict:
    """The new leader (term 2, commit ``commit``) has compacted past our log; its dump is not ready."""
    return {"type": "append_entries", "term": 2, "commit_index": commit, "serialized": None}


def test_pysyncobj_alone_commits_the_unchecked_tail() -> None:
    """Why the guard exists (pysyncobj 0.3.17): if this ever fails, pysyncobj changed; re-check."""
    obj = old_leader(SyncObj)
    obj._SyncObj__onMessageReceived(LEADER, snapshot_pending(commit=100))
    assert obj._SyncObj__raftCommitIndex == 6  # 4..6 "committed" without any leader's say
    obj.destroy()


def test_a_message_without_prev_log_index_commits_nothing_unchecked() -> None:
    obj = old_leader(GuardedSyncObj)
    obj._SyncObj__onMessageReceived(LEADER, snapshot_pending(commit=100))
    assert obj._SyncObj__raftCommitIndex == 3  # entries 4..6 were never matched with the leader's log
    assert obj._SyncObj__leaderCommitIndex == 100
    obj.destroy()


def test_matched_entries_still_commit() -> None:
    """A regular append_entries whose prevLogIdx/Term match commits up to its last new entry."""
    obj = old_leader(GuardedSyncObj)
    obj._SyncObj__onMessageReceived(LEADER, {"type": "append_entries", "term": 2, "commit_index": 100,
                                             "prevLogIdx": 3, "prevLogTerm": 1, "entries": [(b"\x00", 4, 2)]})
    assert obj._SyncObj__raftCommitIndex == 4  # 5 and 6 (our own, term 1) were truncated
    assert obj._SyncObj__getCurrentLogIndex() == 4
    obj.destroy()
