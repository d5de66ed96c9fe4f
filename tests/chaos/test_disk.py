"""The disk nemesis (chaos.disk) on real journals: what it does is what the journal then sees."""

from __future__ import annotations

import os

import pytest

from chaos.disk import corrupt_record, lose_unsynced, tear_last_record
from haplane.store.journal import DurableJournal, JournalCorrupt


def journal(tmp_path, synced: int, unsynced: int) -> str:  # noqa: ANN001
    path = str(tmp_path / "raft.wal")
    j = DurableJournal(path)
    for i in range(synced):
        j.add(b"synced-%d" % i, i + 1, 1)
    j.sync()
    for i in range(unsynced):
        j.add(b"page-cache-only-%d" % i, synced + i + 1, 1)
    os.close(j._fd)  # a SIGKILL: no sync on the way out
    os.close(j._synced_fd)
    return path


@pytest.mark.parametrize("synced, unsynced", [
    pytest.param(5, 3, id="three-unsynced-lost"),
    pytest.param(5, 0, id="nothing-unsynced"),
    pytest.param(0, 4, id="nothing-ever-synced"),
])
def test_power_loss_keeps_exactly_the_synced_entries(tmp_path, synced: int, unsynced: int) -> None:  # noqa: ANN001
    path = journal(tmp_path, synced, unsynced)
    before, lost = lose_unsynced(path)
    assert before - lost == os.path.getsize(path)
    assert [e[0] for e in DurableJournal(path)[:]] == [b"synced-%d" % i for i in range(synced)]
    assert (lost > 0) is (unsynced > 0)


def test_a_torn_last_record_is_repaired_and_a_corrupt_one_too(tmp_path) -> None:  # noqa: ANN001
    path = journal(tmp_path, 6, 0)
    tear_last_record(path)
    assert len(DurableJournal(path)) == 5
    corrupt_record(path, "last")
    assert len(DurableJournal(path)) == 4


def test_a_corrupt_middle_record_refuses(tmp_path) -> None:  # noqa: ANN001
    path = journal(tmp_path, 6, 0)
    at = corrupt_record(path, "middle")
    with pytest.raises(JournalCorrupt) as err:
        DurableJournal(path)
    assert err.value.offset <= at
