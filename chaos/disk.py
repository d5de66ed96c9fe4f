"""Disk faults (test-only): power loss, torn and corrupt records on a stopped replica's
journal; a full disk under a running one.

A SIGKILL keeps the page cache, so to model a power cut the harness cuts each journal back to
the length its last fsync covered, which the journal records in ``<journal>.synced`` (see
:mod:`haplane.store.journal`). Torn and corrupt records are written into the file directly.
Every function works on a replica that is not running and returns what it did, for the report.

A full disk: each replica's data directory is a small filesystem of its own (a tmpfs with a
size limit, mounted by :func:`mount_small_fs` before the replica starts: we run as root, and a
mount is the one way a running process's files change filesystem); :func:`fill` takes every
free byte with a ballast file, :func:`unfill` removes it (the disk "frees up").
"""

from __future__ import annotations

import errno
import os
import subprocess

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


BALLAST = "ballast"
SMALL_FS_BYTES = 64 * 2 ** 20


def mount_small_fs(path: str, size: int = SMALL_FS_BYTES) -> None:
    """Mount a tmpfs of ``size`` bytes on ``path`` (created if missing; it must be empty)."""
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", path],
                   check=True, capture_output=True, timeout=10)


def unmount(path: str) -> None:
    """Unmount what :func:`mount_small_fs` mounted (lazily: a dead replica's files may linger)."""
    if os.path.ismount(path):
        subprocess.run(["umount", "-l", path], check=True, capture_output=True, timeout=10)


def fill(path: str) -> int:
    """Take every free byte of the filesystem holding ``path`` with ``path/ballast``; returns
    the bytes taken. Afterwards any write that needs a new block fails with ENOSPC."""
    ballast = os.path.join(path, BALLAST)
    taken = 0
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for chunk in (1 << 20, 1 << 16, 1 << 12, 1 << 9, 1):
            block = b"\0" * chunk
            while True:
                try:
                    taken += os.write(fd, block)
                except OSError as exc:
                    if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                        raise
                    break
    finally:
        os.close(fd)
    return taken


def unfill(path: str) -> bool:
    """Remove the ballast :func:`fill` wrote under ``path``; False if there was none."""
    try:
        os.remove(os.path.join(path, BALLAST))
    except FileNotFoundError:
        return False
    return True
