"""Disk faults on a stopped replica's journal (test-only): power loss, torn and corrupt records.

A SIGKILL keeps the page cache, so to model a power cut the harness cuts each journal back to
the length its last fsync covered, which the journal records in ``<journal>.synced`` (see
:mod:`haplane.store.journal`). Torn and corrupt records are written into the file directly.
Every function works on a replica that is not running and returns what it did, for the report.
"""

from __future__ import annotations

import os

from haplane.store.journal import read_synced_length, scan

JOURNAL = "raft.wal"


def lose_unsynced(journal: str) -> tuple[int, int]:
    """Truncate ``journal`` to its recorded synced length: ``(bytes before, bytes lost)``."""
    size = os.path.getsize(journal) if os.path.exists(journal) else 0
    synced = read_synced_length(journal)
    keep = min(size, synced if synced is not None else 0)
    if keep < size:
        with open(journal, "r+b") as f:
            f.truncate(keep)
    return size, size - keep


def _records(journal: str) -> tuple[bytes, list[int]]:
    with open(journal, "rb") as f:
        data = f.read()
    return data, scan(data).offsets


def records(journal: str) -> list[int]:
    """Where each good record of ``journal`` begins (a running replica's file is fine)."""
    return _records(journal)[1] if os.path.exists(journal) else []


def tear_last_record(journal: str) -> int:
    """Cut the file inside its last record (a write torn by a crash); returns the new length."""
    data, offsets = _records(journal)
    if not offsets:
        return len(data)
    last = offsets[-1]
    cut = last + max(1, (len(data) - last) // 2)
    with open(journal, "r+b") as f:
        f.truncate(cut)
    return cut


def corrupt_record(journal: str, which: str) -> int:
    """Flip one byte inside the ``"last"`` or the ``"middle"`` record; returns its offset."""
    data, offsets = _records(journal)
    if len(offsets) < 3:
        raise ValueError(f"{journal} holds {len(offsets)} record(s): too few to corrupt one")
    start = offsets[-1] if which == "last" else offsets[len(offsets) // 2]
    end = len(data) if which == "last" else offsets[offsets.index(start) + 1]
    at = start + (end - start) // 2 + 1 if end - start > 2 else start
    at = min(at, end - 1)
    with open(journal, "r+b") as f:
        f.seek(at)
        f.write(bytes([data[at] ^ 0xFF]))
    return at
