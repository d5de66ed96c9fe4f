"""The checksummed journal (haplane.store.journal): checksums, tail repair, corrupt-middle
refusal, the synced-length record, compaction and metadata. Table-driven, on real files."""

from __future__ import annotations

import os

import pytest

from haplane.store.journal import (
    MAGIC,
    RECORD,
    DurableJournal,
    JournalCorrupt,
    encode_record,
    read_meta,
    read_synced_length,
    scan,
)

ENTRIES = [(b"\x00", 1, 1), (b"cmd-two", 2, 1), (b"x" * 300, 3, 2), (b"four", 4, 2), (b"five!", 5, 3)]


def journal_bytes(entries: list[tuple[bytes, int, int]] = ENTRIES) -> bytes:
    return MAGIC + b"".join(encode_record(*e) for e in entries)


def offset_of(n: int) -> int:
    """Where the record of the n-th entry (0-based) begins."""
    return len(journal_bytes(ENTRIES[:n]))


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x40]) + data[at + 1:]


def test_records_round_trip() -> None:
    found = scan(journal_bytes())
    assert found.entries == ENTRIES and found.problem is None
    assert found.good_end == len(journal_bytes())
    assert found.offsets == [offset_of(i) for i in range(len(ENTRIES))]


@pytest.mark.parametrize("at", [
    pytest.param(lambda: offset_of(2) + 4, id="crc-field"),
    pytest.param(lambda: offset_of(2) + 8, id="index-field"),
    pytest.param(lambda: offset_of(2) + 16, id="term-field"),
    pytest.param(lambda: offset_of(2) + RECORD.size + 100, id="command-byte"),
])
def test_every_field_is_checksummed(at) -> None:  # noqa: ANN001
    found = scan(flip(journal_bytes(), at()))
    assert len(found.entries) == 2 and found.problem is not None


TAIL = len(journal_bytes())


@pytest.mark.parametrize("damage, kept, problem", [
    pytest.param(lambda d: d[:TAIL - 3], 4, "runs past the end", id="last-record-cut-short"),
    pytest.param(lambda d: d[:offset_of(4) + 10], 4, "header cut short", id="last-header-cut-short"),
    pytest.param(lambda d: d + b"\0" * 4096, 5, "checksum", id="zeros-after-the-end"),
    pytest.param(lambda d: flip(d, TAIL - 1), 4, "checksum", id="last-record-corrupt"),
    pytest.param(lambda d: d + encode_record(b"stale", 9, 3), 5, "does not follow", id="index-gap-at-tail"),
    pytest.param(lambda d: d + encode_record(b"old-term", 6, 1), 5, "does not follow", id="term-going-back-at-tail"),
])
def test_a_torn_or_corrupt_tail_is_cut_back_to_the_last_good_entry(tmp_path, damage, kept: int, problem: str,
                                                                   caplog) -> None:  # noqa: ANN001
    path = str(tmp_path / "raft.wal")
    with open(path, "wb") as f:
        f.write(damage(journal_bytes()))
    j = DurableJournal(path)
    assert list(j[:]) == ENTRIES[:kept]
    assert os.path.getsize(path) == offset_of(kept)
    assert problem in caplog.text and "cut back" in caplog.text
    j.add(b"after-repair", kept + 1, 3)
    j.sync()
    j._destroy()
    assert DurableJournal(path)[-1] == (b"after-repair", kept + 1, 3)


@pytest.mark.parametrize("damage, offset", [
    pytest.param(lambda d: flip(d, offset_of(1) + RECORD.size + 2), offset_of(1), id="command-of-entry-2"),
    pytest.param(lambda d: flip(d, offset_of(3)), offset_of(3), id="length-of-entry-4"),
    pytest.param(lambda d: flip(d, 2), 0, id="magic"),
    pytest.param(lambda d: d[:offset_of(2)] + d[offset_of(3):], offset_of(2), id="entry-3-missing"),
])
def test_corruption_before_the_tail_refuses_to_start(tmp_path, damage, offset: int) -> None:  # noqa: ANN001
    path = str(tmp_path / "raft.wal")
    with open(path, "wb") as f:
        f.write(damage(journal_bytes()))
    with pytest.raises(JournalCorrupt) as err:
        DurableJournal(path)
    assert err.value.offset == offset and err.value.path == path
    assert f"{path} is corrupt at byte {offset}" in str(err.value)
    assert "haplane snapshot restore" in str(err.value) and "wipe" in str(err.value)


def test_an_empty_or_missing_file_is_an_empty_journal(tmp_path) -> None:  # noqa: ANN001
    for name in ("missing.wal", "empty.wal"):
        path = str(tmp_path / name)
        if name == "empty.wal":
            open(path, "wb").close()
        j = DurableJournal(path)
        assert len(j) == 0
        assert open(path, "rb").read() == MAGIC


@pytest.mark.parametrize("fsync, steps, expected", [
    pytest.param(True, ["add", "add"], lambda end: len(MAGIC), id="appended-not-yet-synced"),
    pytest.param(True, ["add", "add", "sync"], lambda end: end, id="synced"),
    pytest.param(True, ["add", "sync", "add"], lambda end: offset_of(1), id="second-entry-unsynced"),
    pytest.param(True, ["add", "add", "sync", "cut1"], lambda end: offset_of(1), id="truncation-lowers-it"),
    pytest.param(True, ["add", "add", "add", "compact1"], lambda end: end, id="compaction-is-synced"),
    pytest.param(False, ["add", "add", "sync"], lambda end: len(MAGIC), id="unsafe-no-fsync-never-advances"),
    pytest.param(False, ["add", "add", "compact1"], lambda end: 0, id="unsafe-compaction-is-a-new-unsynced-file"),
])
def test_the_synced_length_record(tmp_path, fsync: bool, steps: list[str], expected) -> None:  # noqa: ANN001
    path = str(tmp_path / "raft.wal")
    j = DurableJournal(path, fsync=fsync)
    n = 0
    for step in steps:
        if step == "add":
            j.add(*ENTRIES[n])
            n += 1
        elif step == "sync":
            j.sync()
        elif step == "cut1":
            j.deleteEntriesFrom(1)
        elif step == "compact1":
            j.deleteEntriesTo(1)
    end = os.path.getsize(path)
    assert read_synced_length(path) == j.synced_length == expected(end)


def test_one_sync_covers_a_batch(tmp_path) -> None:  # noqa: ANN001
    j = DurableJournal(str(tmp_path / "raft.wal"))
    for e in ENTRIES:
        j.add(*e)
    assert j.dirty
    j.sync()
    j.sync()  # nothing new: no second fdatasync
    assert j.stats.count == 1 and not j.dirty


def test_compaction_and_truncation_survive_a_reopen(tmp_path) -> None:  # noqa: ANN001
    path = str(tmp_path / "raft.wal")
    j = DurableJournal(path)
    for e in ENTRIES:
        j.add(*e)
    j.deleteEntriesTo(2)
    assert list(j[:]) == ENTRIES[2:]
    j.deleteEntriesFrom(2)
    j.add(b"new-4", 5, 4)
    j.sync()
    j._destroy()
    assert list(DurableJournal(path)[:]) == [ENTRIES[2], ENTRIES[3], (b"new-4", 5, 4)]
    assert not os.path.exists(path + ".tmp")


def test_term_vote_and_commit_index_are_kept_checksummed(tmp_path) -> None:  # noqa: ANN001
    path = str(tmp_path / "raft.wal")
    j = DurableJournal(path)
    j.setCurrentTerm(7, "127.0.0.1:9")
    j.setRaftCommitIndex(42)
    j.onOneSecondTimer()
    assert read_meta(path) == {"currentTerm": 7, "votedForNodeId": "127.0.0.1:9", "raftCommitIndex": 42}
    j2 = DurableJournal(path)
    assert (j2.getCurrentTerm(), j2.getVotedForNodeId(), j2.getRaftCommitIndex()) == (7, "127.0.0.1:9", 42)
    raw = open(path + ".meta", "rb").read()
    with open(path + ".meta", "wb") as f:
        f.write(raw.replace(b"42", b"43"))
    with pytest.raises(JournalCorrupt, match="metadata"):
        DurableJournal(path)


def test_an_older_data_dir_is_imported_once(tmp_path) -> None:  # noqa: ANN001
    """pysyncobj's own FileJournal (before the durable journal) becomes raft.wal on first start."""
    from pysyncobj.journal import FileJournal

    from haplane.store.journal import import_legacy

    legacy, path = str(tmp_path / "raft.journal"), str(tmp_path / "raft.wal")
    old = FileJournal(legacy)
    for e in ENTRIES:
        old.add(*e)
    old.setRaftCommitIndex(4)
    old.setCurrentTerm(3, "127.0.0.1:9")
    old._destroy()
    assert import_legacy(legacy, path) == len(ENTRIES)
    j = DurableJournal(path)
    assert list(j[:]) == ENTRIES
    assert (j.getCurrentTerm(), j.getVotedForNodeId(), j.getRaftCommitIndex()) == (3, "127.0.0.1:9", 4)
    assert not os.path.exists(legacy) and os.path.exists(legacy + ".migrated")
    assert read_synced_length(path) == os.path.getsize(path)
