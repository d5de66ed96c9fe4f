"""pysyncobj's SyncObj with a follower-side safety fix: no commit over an unchecked log tail.

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
"""

from __future__ import annotations

from typing import Any

from pysyncobj import SyncObj


class GuardedSyncObj(SyncObj):
    # A method of this name overrides SyncObj's private ``__onMessageReceived`` (name mangling),
    # which is what the transport calls for every message (tick thread).
    def _SyncObj__onMessageReceived(self, node: Any, message: Any) -> None:  # noqa: N802 - pysyncobj's name
        if not (isinstance(message, dict) and message.get("type") == "append_entries"
                and "prevLogIdx" not in message):
            return super()._SyncObj__onMessageReceived(node, message)  # type: ignore[misc]
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
