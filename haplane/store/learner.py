"""Learners: a new replica catches up as a pysyncobj read-only node, and turns voter on its own ``add``.

How (pysyncobj 0.3.17, ``syncobj.py`` / ``transport.py``)
---------------------------------------------------------
A SyncObj built with ``selfNode=None`` is a *read-only node*: it binds no port, dials every
member and introduces itself as ``'readonly'``. The members keep such a connection in
``__readonlyNodes`` under a counter id. The leader sends it ``append_entries`` (and snapshots)
exactly as to a follower — ``__sendAppendEntries`` walks ``otherNodes | readonlyNodes`` — and
tracks its match index from its ``next_node_idx`` answers. But:

* **it never counts toward a commit**: the leader's commit loop counts ``otherNodes`` only;
* **it never counts toward an election**: candidates ask ``otherNodes`` only, a read-only node
  ignores ``request_vote`` and never campaigns (``selfNode is None``), and our pre-vote and
  check-quorum (:mod:`haplane.store.guarded`) skip it on both sides;
* a member's configuration (``otherNodes``) never contains it.

So a learner is safe by construction: the quorum arithmetic of the voters is exactly what it
would be without it. A replica is a learner from its first start with ``haplane server --join``
(empty data dir) until the log adds it, across restarts (``RaftNode`` keeps a marker file). Its
journal is fsynced before it acknowledges entries, as on any member (the group commit lives in
GuardedSyncObj's message handler, which it shares).

The leader must know *which* learner a read-only connection is (its counter id says nothing):
a learner's keepalives (:data:`LEARNER_KEY`) carry its Raft address, and
:meth:`LearnerSyncObj.learners` reports, per learner address, whether it is connected and its
match index — the leader's view, so its lag is the leader's commit index minus that.

Promotion: the leader appends the voting ``add <learner>`` once the learner is caught up
(:mod:`haplane.learners`). The entry reaches the learner through its read-only stream like any
other; when a learner finds its own address in its configuration (pysyncobj applies a
membership entry on append), it becomes a voter *in place*, on the tick thread, after the
tick's fsync and held acknowledgements went out (:meth:`LearnerSyncObj._become_voter`): it
drops its read-only connections, takes its address as ``selfNode``, binds its Raft port and
dials the members as a voter does; log, commit index, term and state machine stay as they are
(no restart, no replay). It then stays quiet — no campaign — until a leader contacts it as a
voter (:attr:`haplane.store.raft.RaftNode.joining`). Meanwhile the leader counts it with match
index 0, i.e. for the sub-second gap between the ``add`` and the new voter's first answer a
3 → 4 change needs all three old members, as before — but the newcomer's first answer already
covers almost the whole log, instead of after a catch-up of the whole state.

Corner cases: an ``add`` that a new leader truncates leaves the promoted replica a voter
outside the configuration (it hears nobody); ``add-member`` again adds it the old way (its log
is nearly complete). While a learner, log compaction is off (pysyncobj would write a dump whose
configuration holds ``None`` for the read-only self, which a voter cannot load later); the
leader's snapshots still reach it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from pysyncobj.monotonic import monotonic as raft_clock
from pysyncobj.transport import TransportNotReadyError

from haplane.store.guarded import GuardedSyncObj
from haplane.store.prevote import KEEPALIVE_TYPE

log = logging.getLogger(__name__)

LEARNER_KEY = "learner"  # in a learner's keepalive: its Raft address
NO_COMPACTION = 10 ** 12


class LearnerSyncObj(GuardedSyncObj):
    """GuardedSyncObj that can run as a learner (``learner_addr`` set: a read-only node that
    becomes the voter ``learner_addr`` when the log adds it), and that, as a member, knows the
    learners connected to it. ``on_promoted()`` runs on the tick thread right after the switch;
    ``quiet`` is how long the promoted voter waits to be contacted before it may campaign."""

    def __init__(self, self_addr: str, peers: list[str], conf: Any, *, learner: bool = False,
                 on_promoted: Callable[[], None] | None = None, quiet: float = 0.0, **kwargs: Any) -> None:
        # Set before SyncObj.__init__: pysyncobj dumps every attribute added after it.
        self._learner_addr = self_addr if learner else None
        self._on_promoted = on_promoted
        self._quiet = quiet
        self._learner_ids: dict[str, str] = {}  # read-only node id -> the learner's Raft address
        self._learner_lock = threading.Lock()
        self._compaction = (conf.logCompactionMinEntries, conf.logCompactionMinTime)
        if learner:
            conf.logCompactionMinEntries, conf.logCompactionMinTime = NO_COMPACTION, NO_COMPACTION
        super().__init__(None if learner else self_addr, peers, conf, **kwargs)

    @property
    def is_learner(self) -> bool:
        return self.selfNode is None

    @property
    def learner_address(self) -> str | None:
        return self._learner_addr

    # ---------------------------------------------------------------- learners seen
    def learners(self) -> dict[str, dict[str, Any]]:
        """Learner Raft address -> ``{"connected", "matchIndex"}`` as this member sees it
        (match indexes mean something on the leader only). Any thread."""
        for _ in range(10):
            try:
                readonly = self.readonlyNodes
                match = dict(self._SyncObj__raftMatchIndex)
                break
            except RuntimeError:  # resized by the tick thread meanwhile
                continue
        else:
            return {}
        with self._learner_lock:
            ids = dict(self._learner_ids)
        out: dict[str, dict[str, Any]] = {}
        for node in readonly:
            addr = ids.get(node.id)
            if addr is None:
                continue
            m = int(match.get(node, 0))
            prev = out.get(addr)
            out[addr] = {"connected": True, "matchIndex": max(m, prev["matchIndex"]) if prev else m}
        return out

    def _SyncObj__onMessageReceived(self, node: Any, message: Any) -> None:  # noqa: N802 - pysyncobj's name
        if isinstance(message, dict) and message.get("type") == KEEPALIVE_TYPE and message.get(LEARNER_KEY) \
                and node in self._SyncObj__readonlyNodes:
            with self._learner_lock:
                self._learner_ids[node.id] = str(message[LEARNER_KEY])
        return super()._SyncObj__onMessageReceived(node, message)

    # ---------------------------------------------------------------------- tick
    def _onTick(self, timeToWait: float = 0.0) -> None:  # noqa: N802, N803 - pysyncobj's names
        super()._onTick(timeToWait)
        if self._learner_ids:
            live = {n.id for n in self._SyncObj__readonlyNodes}
            with self._learner_lock:
                for k in [k for k in self._learner_ids if k not in live]:
                    del self._learner_ids[k]
        if self._learner_addr is not None and self.selfNode is None and \
                any(n.id == self._learner_addr for n in self._SyncObj__otherNodes):
            self._become_voter()

    def _become_voter(self) -> None:
        """The log has added this learner: become that voter, in place (tick thread)."""
        addr = self._learner_addr
        transport = self._SyncObj__transport
        others = {n for n in self._SyncObj__otherNodes if n.id != addr}
        for node in list(transport._nodes):
            transport.dropNode(node)  # the read-only connections (and the dial to our own address)
        self._SyncObj__connectedNodes.clear()
        for table in (self._SyncObj__raftNextIndex, self._SyncObj__raftMatchIndex):
            for node in [n for n in table if n not in others]:
                del table[node]
        self._SyncObj__otherNodes = others
        me = self._SyncObj__nodeClass(addr)
        self._SyncObj__selfNode = me
        transport._selfNode = me
        transport._selfIsReadonlyNode = False
        transport._ready = False
        transport._lastBindAttemptTime = 0
        transport._createServer()
        try:
            transport.tryGetReady()
        except TransportNotReadyError:
            log.warning("promoted: cannot bind the Raft port %s yet; retrying", addr)
        for node in others:
            transport.addNode(node)
        self._SyncObj__raftLeader = None
        self._SyncObj__raftElectionDeadline = raft_clock() + self._quiet
        self.conf.logCompactionMinEntries, self.conf.logCompactionMinTime = self._compaction
        self._learner_addr = None
        log.info("promoted: the log adds %s as a voter; this learner is now that voter (log index %d, "
                 "commit index %d), waiting for the leader", addr, self._SyncObj__getCurrentLogIndex(),
                 self._SyncObj__raftCommitIndex)
        if self._on_promoted is not None:
            self._on_promoted()
