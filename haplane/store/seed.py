"""Seed a new replica's data dir with a state, in pysyncobj's own on-disk format.

``haplane snapshot restore`` writes what pysyncobj 0.3.17 itself would have left after a log
compaction at index ``SEED_INDEX`` — so the replica starts with that state through pysyncobj's
normal start-up path (``SyncObj.__init__`` reads the journal, the first tick runs
``__loadDumpFile``), and every later mechanism (new members receiving the dump, restarts,
compactions) works as for any other state:

* ``raft.wal`` (a :class:`~haplane.store.journal.DurableJournal`): two no-op entries at
  ``SEED_INDEX - 1`` and ``SEED_INDEX``, and its ``.meta`` with ``currentTerm`` and the commit
  index. ``__loadDumpFile`` keeps a journal whose first two entries equal the dump's.
* ``raft.dump`` (written with pysyncobj's ``Serializer``): gzip(pickle((data, last, prev,
  cluster))) where ``data = [self_data, consumer_data]``, ``self_data`` is the SyncObj's own
  attributes (just the enabled code version, 0), ``consumer_data`` is what our consumer's
  ``_serialize`` returns (``{"fsm": state}``), ``last``/``prev`` are those two entries and
  ``cluster`` is the set of ``TCPNode`` members — the configuration the dump installs.

Choices that matter:

* ``SEED_INDEX = 3``, so the dump's first log entry has index 2: a replica with an empty log
  asks for index 2, which is not after the leader's first entry, so the leader sends it the
  dump (install-snapshot) instead of entries — a member added later gets the seeded state.
* The seeded term is the snapshot's fencing epoch: the first election of the new cluster then
  runs at a higher term, so the new leader's ``claim(epoch=term)`` is newer than the epoch in the
  restored state (with term 1 every claim would be refused until the term caught up).
* Every replica of the new cluster is seeded with the same state and the same configuration
  before any of them starts. (Seeding only some would let an empty replica win an election and
  truncate the seed away on the others.)
"""

from __future__ import annotations

import os
from typing import Any

from pysyncobj.config import SERIALIZER_STATE
from pysyncobj.node import TCPNode
from pysyncobj.serializer import Serializer
from pysyncobj.syncobj import _COMMAND_TYPE

from haplane.store.journal import DurableJournal

JOURNAL = "raft.wal"  # the names RaftNode gives pysyncobj (haplane/store/raft.py)
LEGACY_JOURNAL = "raft.journal"  # pysyncobj's own FileJournal, before the durable journal
DUMP = "raft.dump"
SEED_INDEX = 3
_NO_OP = bytes([_COMMAND_TYPE.NO_OP])
# What a plain SyncObj puts in its dumps as its own attributes (observed from a real dump).
_SELF_DATA = {"_SyncObj__enabledCodeVersion": 0}


class SeedError(Exception):
    """The data dir cannot be seeded (it is in use, or the addresses are wrong)."""


def has_raft_state(data_dir: str) -> bool:
    """Does ``data_dir`` already hold a journal or a dump?"""
    names = (JOURNAL, JOURNAL + ".meta", LEGACY_JOURNAL, LEGACY_JOURNAL + ".meta", DUMP)
    return any(os.path.exists(os.path.join(data_dir, n)) for n in names)


def seed(data_dir: str, state: dict[str, Any], self_addr: str, peers: list[str], *, term: int) -> None:
    """Write a journal and a dump holding ``state`` into an empty ``data_dir``.

    ``self_addr`` and ``peers`` must be the ``--raft`` and ``--peers`` the replica will be
    started with (the dump's configuration overrides ``--peers``). Raises SeedError.
    """
    for addr in [self_addr, *peers]:
        host, sep, port = addr.rpartition(":")
        if not (sep and host and port.isdigit()):
            raise SeedError(f"bad Raft address {addr!r} (host:port)")
    if has_raft_state(data_dir):
        raise SeedError(f"{data_dir} already holds Raft state; restore seeds a NEW replica (move it away first)")
    os.makedirs(data_dir, exist_ok=True)
    term = max(0, int(term))
    prev, last = (_NO_OP, SEED_INDEX - 1, term), (_NO_OP, SEED_INDEX, term)

    journal = DurableJournal(os.path.join(data_dir, JOURNAL))
    try:
        journal.add(*prev)
        journal.add(*last)
        journal.setRaftCommitIndex(SEED_INDEX)
        journal.setCurrentTerm(term, None)  # stores the meta (commit index included) at once
    finally:
        journal._destroy()  # syncs

    cluster = {TCPNode(a) for a in {self_addr, *peers}}
    serializer = Serializer(os.path.join(data_dir, DUMP), 2 ** 16, False, None, None, None)
    serializer.serialize(([dict(_SELF_DATA), {"fsm": state}], last, prev, cluster), SEED_INDEX)
    result, _ = serializer.checkSerializing()
    if result != SERIALIZER_STATE.SUCCESS:
        raise SeedError(f"pysyncobj could not write {os.path.join(data_dir, DUMP)}")
    for name in (JOURNAL, JOURNAL + ".meta", DUMP):
        _fsync(os.path.join(data_dir, name))
    _fsync(data_dir)


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
