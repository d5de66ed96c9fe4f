"""The journal on a full or failing disk: nothing raised into pysyncobj, nothing half-written
kept, not durable (so not acknowledged) until the disk takes writes again, then caught up by
itself. Table-driven; the failures are injected into the journal's own system calls (the real
small-filesystem test is tests/integration/test_disk_full.py)."""

from __future__ import annotations

import errno
import os

import pytest

from haplane.store import journal as wal
from haplane.store.journal import DurableJournal, read_meta, read_synced_length, scan


class Disk:
    """Injects errno into os.pwrite / os.fdatasync / os.write (the meta file) while ``full``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, what: str, code: int) -> None:
        self.full = False
        self.what, self.code = what, code
        real_pwrite, real_fdatasync, real_write = os.pwrite, os.fdatasync, os.write

        def pwrite(fd: int, data: bytes, off: int) -> int:
            if self.full and self.what in ("append", "partial"):
                if self.what == "partial" and len(data) > 8:
                    self.what = "append"  # the first call writes half, then the disk is full
                    return real_pwrite(fd, bytes(data)[:len(data) // 2], off)
                raise OSError(self.code, os.strerror(self.code))
            return real_pwrite(fd, data, off)

        def fdatasync(fd: int) -> None:
            if self.full and self.what == "fsync":
                raise OSError(self.code, os.strerror(self.code))
            real_fdatasync(fd)

        def write(fd: int, data: bytes) -> int:
            if self.full and self.what == "meta":
                raise OSError(self.code, os.strerror(self.code))
            return real_write(fd, data)

        monkeypatch.setattr(wal.os, "pwrite", pwrite)
        monkeypatch.setattr(wal.os, "fdatasync", fdatasync)
        monkeypatch.setattr(wal.os, "write", write)


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def entry(i: int) -> tuple[bytes, int, int]:
    return (b"command-%d-" % i) * 40, i, 1


@pytest.mark.parametrize("what, code", [
    pytest.param("append", errno.ENOSPC, id="append-enospc"),
    pytest.param("partial", errno.ENOSPC, id="append-half-written-then-enospc"),
    pytest.param("append", errno.EDQUOT, id="append-quota"),
    pytest.param("fsync", errno.EIO, id="fsync-eio"),
    pytest.param("fsync", errno.ENOSPC, id="fsync-enospc"),
    pytest.param("meta", errno.ENOSPC, id="term-vote-enospc"),
])
def test_a_full_disk_is_survived_and_recovered_from(tmp_path, monkeypatch, what: str, code: int) -> None:  # noqa: ANN001
    path = str(tmp_path / "raft.wal")
    clock = Clock()
    disk = Disk(monkeypatch, what, code)
    j = DurableJournal(path, clock=clock)
    for i in (1, 2):
        j.add(*entry(i))
    j.sync()
    durable = j.synced_length
    assert j.problem is None and read_synced_length(path) == durable

    disk.full = True
    if what == "meta":
        j.setCurrentTerm(2, "r2")  # nothing raised; the vote is not durable
    for i in (3, 4):
        j.add(*entry(i))  # nothing raised
    assert j.sync() == 0.0
    assert j.problem is not None and errno.errorcode[code] in j.problem
    assert j.dirty, "not durable: whoever waits on the sync must not acknowledge"
    assert j.synced_length == durable
    assert len(j) == 4 and j[3] == entry(4), "pysyncobj's view (memory) has every entry"
    with open(path, "rb") as f:
        on_disk = scan(f.read())
    assert not on_disk.corrupt_middle
    assert [e[1] for e in on_disk.entries][:2] == [1, 2]  # what was durable is still there

    clock.t += 0.1  # retried at most every RETRY_INTERVAL: still failing, still not durable
    disk.full = False
    j.add(*entry(5))
    assert j.sync() == 0.0 and j.dirty, "the retry waits for its interval"
    clock.t += wal.RETRY_INTERVAL
    j.sync()
    assert j.problem is None and not j.dirty
    assert j.synced_length == os.path.getsize(path)
    j._destroy()

    again = DurableJournal(path)
    assert [again[i] for i in range(len(again))] == [entry(i) for i in range(1, 6)]
    if what == "meta":
        assert read_meta(path)["votedForNodeId"] == "r2"
    again._destroy()


def test_a_truncation_while_full_drops_queued_records_and_cuts_half_written_ones(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """A follower told by a new leader to drop its tail while its disk is full."""
    path = str(tmp_path / "raft.wal")
    clock = Clock()
    disk = Disk(monkeypatch, "partial", errno.ENOSPC)
    j = DurableJournal(path, clock=clock)
    j.add(*entry(1))
    j.sync()
    disk.full = True
    j.add(*entry(2))  # half written, then full
    j.add(*entry(3))  # queued
    j.deleteEntriesFrom(1)  # entries 2 and 3 were never durable: dropped
    disk.full = False
    j.add(b"x", 2, 2)
    clock.t += wal.RETRY_INTERVAL
    j.sync()
    assert j.problem is None
    j._destroy()
    with open(path, "rb") as f:
        found = scan(f.read())
    assert found.problem is None, "no bytes of the half-written record remain"
    assert found.entries == [entry(1), (b"x", 2, 2)]


def test_compaction_on_a_full_disk_is_retried(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    path = str(tmp_path / "raft.wal")
    clock = Clock()
    disk = Disk(monkeypatch, "meta", errno.ENOSPC)  # os.write: write_atomically's copy
    j = DurableJournal(path, clock=clock)
    for i in (1, 2, 3):
        j.add(*entry(i))
    j.sync()
    disk.full = True
    j.deleteEntriesTo(2)
    assert j.problem is not None and len(j) == 1 and j[0] == entry(3)
    assert not os.path.exists(path + ".tmp"), "the half-written copy does not keep the space"
    j.add(*entry(4))
    disk.full = False
    clock.t += wal.RETRY_INTERVAL
    j.sync()
    assert j.problem is None
    j._destroy()
    again = DurableJournal(path)
    assert [again[i] for i in range(len(again))] == [entry(3), entry(4)]
    again._destroy()


def test_a_failed_truncation_is_owed_and_nothing_is_written_past_it_first(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    path = str(tmp_path / "raft.wal")
    clock = Clock()
    j = DurableJournal(path, clock=clock)
    for i in (1, 2, 3):
        j.add(*entry(i))
    j.sync()
    real = os.ftruncate
    failing = {"on": True}

    def ftruncate(fd: int, off: int) -> None:
        if failing["on"]:
            raise OSError(errno.EIO, "Input/output error")
        real(fd, off)

    monkeypatch.setattr(wal.os, "ftruncate", ftruncate)
    j.deleteEntriesFrom(1)  # a new leader's log differs after entry 1
    j.add(b"y", 2, 2)
    assert j.problem is not None and j.sync() == 0.0 and j.dirty
    failing["on"] = False
    clock.t += wal.RETRY_INTERVAL
    j.sync()
    assert j.problem is None
    j._destroy()
    with open(path, "rb") as f:
        found = scan(f.read())
    assert found.problem is None and found.entries == [entry(1), (b"y", 2, 2)], "no stale record of the old tail"
