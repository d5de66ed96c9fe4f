"""A checksummed, fsync-able Raft journal in pysyncobj's ``Journal`` interface.

pysyncobj 0.3.17's ``FileJournal`` writes through a memory map and never fsyncs; its records
carry no checksum, so a torn or corrupt tail is read back as entries. This journal:

* appends records ``<len u32><crc32 u32><idx u64><term u64><command>`` after an 8-byte magic
  (:data:`MAGIC`); the CRC-32 covers idx, term and the command;
* is made durable by :meth:`DurableJournal.sync` — one ``fdatasync`` for everything appended
  since the last one (group commit: the caller syncs once per pysyncobj tick, before any
  acknowledgement of those entries leaves, see :mod:`haplane.store.guarded`); ``fsync=False``
  (``--unsafe-no-fsync``) skips it;
* records its synced length in ``<journal>.synced`` after every sync (8 bytes, little-endian,
  not itself synced: it is read only by the test-only power-loss nemesis, after a SIGKILL,
  which keeps the page cache);
* rewrites itself for compaction into a new file with write-fsync-rename-fsync(directory);
* keeps term, vote and commit index in ``<journal>.meta`` (checksummed JSON, written with
  write-fsync-rename-fsync(directory), term and vote synchronously as Raft requires);
* survives a full or failing disk (ENOSPC, EDQUOT, EIO on a write, an fsync or a metadata
  write): nothing is raised into pysyncobj and the process goes on. Records that could not be
  written stay queued in memory (whole records, rewritten from their start: a partial write is
  overwritten, never kept); after a failed fsync everything since the last good one is
  rewritten from memory before the next fsync (the page cache's copy is not trusted —
  "fsyncgate"). Meanwhile :attr:`DurableJournal.problem` says why the journal is not durable;
  :mod:`haplane.store.guarded` sends no acknowledgement, vote or campaign until it is None
  again. :meth:`DurableJournal.sync` retries (at most every :data:`RETRY_INTERVAL`), logs the
  failure once and the recovery once;
* on open, :func:`scan` reads every record: a torn or corrupt *tail* (nothing valid after the
  bad record) is cut back to the last good entry and logged — the replica catches up from the
  leader; a bad record with valid records after it (corruption before the tail) raises
  :class:`JournalCorrupt`, whose message names the file and offset and what to do.

Threading: pysyncobj calls every method on its tick thread (and once from ``SyncObj.__init__``).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pysyncobj.journal import Journal

log = logging.getLogger(__name__)

MAGIC = b"HPWAL\x00\x01\x00"
RECORD = struct.Struct("<IIQQ")  # command length, crc32(idx, term, command), idx, term
IDX_TERM = struct.Struct("<QQ")
MAX_COMMAND = 1 << 30
SYNCED_SUFFIX = ".synced"
META_SUFFIX = ".meta"
RETRY_INTERVAL = 0.5  # seconds between attempts to write again on a full or failing disk
ADVICE = ("restore the cluster state from a snapshot (`haplane snapshot restore`) or wipe this "
          "replica's data directory and let it rejoin (it catches up from the leader)")


class JournalCorrupt(Exception):
    """Damage before the tail of a journal (or a damaged meta/dump file): refuse to start."""

    def __init__(self, path: str, offset: int, why: str) -> None:
        self.path, self.offset, self.why = path, offset, why
        super().__init__(f"{path} is corrupt at byte {offset} ({why}): refusing to start on damaged "
                         f"data. To recover, {ADVICE}.")


def describe_os_error(what: str, path: str, exc: OSError) -> str:
    """One line for a storage failure: what failed, where, and the errno's name."""
    name = errno.errorcode.get(exc.errno or 0, "error")
    return f"{what} {os.path.basename(path)} failed: {name} ({exc.strerror or exc})"


def encode_record(command: bytes, idx: int, term: int) -> bytes:
    body = IDX_TERM.pack(idx, term) + command
    return RECORD.pack(len(command), zlib.crc32(body), idx, term) + command


@dataclass
class Scan:
    """What :func:`scan` found: the good entries, where they end, and the first problem."""

    entries: list[tuple[bytes, int, int]] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)  # where each entry's record begins
    good_end: int = len(MAGIC)
    problem: str | None = None  # why the record at good_end is not good (None: clean end)
    corrupt_middle: bool = False  # a valid record follows the bad one


def _record_at(data: bytes, off: int, after: tuple[int, int] | None) -> tuple[bytes, int, int, int] | str:
    """The record at ``off`` as ``(command, idx, term, next offset)`` or why it is not one.
    ``after`` (idx, term) of the previous entry: indexes must follow it, terms not go back."""
    if off + RECORD.size > len(data):
        return f"a record header cut short ({len(data) - off} of {RECORD.size} bytes)"
    length, crc, idx, term = RECORD.unpack_from(data, off)
    if length > MAX_COMMAND or off + RECORD.size + length > len(data):
        return f"a record of {length} bytes runs past the end of the file"
    command = data[off + RECORD.size:off + RECORD.size + length]
    if zlib.crc32(IDX_TERM.pack(idx, term) + command) != crc:
        return "checksum mismatch"
    if after is not None and (idx != after[0] + 1 or term < after[1]):
        return f"entry {idx} (term {term}) does not follow entry {after[0]} (term {after[1]})"
    return command, idx, term, off + RECORD.size + length


def _valid_record_after(data: bytes, start: int, after: tuple[int, int] | None) -> bool:
    """Is there any valid record beginning after ``start`` that could belong to this log?"""
    last_idx = after[0] if after else 0
    for off in range(start + 1, len(data) - RECORD.size + 1):
        length, _crc, idx, term = RECORD.unpack_from(data, off)
        if idx <= last_idx or length > len(data) - off - RECORD.size or (after and term < after[1]):
            continue
        if not isinstance(_record_at(data, off, None), str):
            return True
    return False


def scan(data: bytes) -> Scan:
    """Read a journal's bytes (pure). An empty file is an empty journal."""
    out = Scan()
    if not data:
        out.good_end = 0
        return out
    if data[:len(MAGIC)] != MAGIC:
        out.good_end = 0
        out.problem = "not a haplane journal (bad magic)"
        out.corrupt_middle = len(data) > len(MAGIC)
        return out
    off, after = len(MAGIC), None
    while off < len(data):
        got = _record_at(data, off, after)
        if isinstance(got, str):
            out.problem = got
            out.corrupt_middle = _valid_record_after(data, off, after)
            break
        command, idx, term, nxt = got
        out.entries.append((command, idx, term))
        out.offsets.append(off)
        after = (idx, term)
        off = nxt
    out.good_end = off
    return out


def fsync_dir(path: str) -> None:
    fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: str, data: bytes, fsync: bool = True) -> None:
    """write ``path.tmp``, fsync it, rename it over ``path``, fsync the directory."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if fsync:
            os.fsync(fd)
    except OSError:
        os.close(fd)
        os.unlink(tmp)  # a full disk: do not keep the half-written copy's space
        raise
    os.close(fd)
    os.replace(tmp, path)
    if fsync:
        fsync_dir(path)


def encode_meta(meta: dict[str, Any]) -> bytes:
    body = json.dumps(meta, sort_keys=True).encode()
    return json.dumps({"crc": zlib.crc32(body), "meta": body.decode()}).encode()


def decode_meta(path: str, raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
        body = doc["meta"].encode()
        if zlib.crc32(body) != doc["crc"]:
            raise ValueError("checksum mismatch")
        meta = json.loads(body)
        if not isinstance(meta, dict):
            raise ValueError("not an object")
        return meta
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise JournalCorrupt(path, 0, f"unreadable Raft metadata: {exc}") from None


@dataclass
class SyncStats:
    """fsyncs done and their cost (seconds), for /cluster/self and the benchmarks."""

    count: int = 0
    total: float = 0.0
    worst: float = 0.0

    def add(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        self.worst = max(self.worst, seconds)


class DurableJournal(Journal):
    """pysyncobj's journal interface over a checksummed file (see the module docstring)."""

    def __init__(self, path: str, *, fsync: bool = True, clock: Callable[[], float] = time.monotonic) -> None:
        self.path, self.fsync, self._clock = path, fsync, clock
        self.stats = SyncStats()
        self._meta_path = path + META_SUFFIX
        self._meta: dict[str, Any] = {}
        self._meta_dirty = False
        if os.path.exists(self._meta_path):
            with open(self._meta_path, "rb") as f:
                self._meta = decode_meta(self._meta_path, f.read())
        data = b""
        if os.path.exists(path):
            with open(path, "rb") as f:
                data = f.read()
        found = scan(data)
        if found.problem is not None and found.corrupt_middle:
            raise JournalCorrupt(path, found.good_end, f"{found.problem}, with valid records after it")
        self._entries = found.entries
        self._offsets = found.offsets
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if found.problem is not None or found.good_end < len(MAGIC):
            if found.problem is not None:
                log.warning("journal %s: %s at byte %d: cut back to the last good entry (%d entries, %d bytes "
                            "dropped); this replica catches up from the leader", path, found.problem,
                            found.good_end, len(found.entries), len(data) - found.good_end)
            if found.good_end < len(MAGIC):
                os.ftruncate(self._fd, 0)
                os.pwrite(self._fd, MAGIC, 0)
                found.good_end = len(MAGIC)
            else:
                os.ftruncate(self._fd, found.good_end)
            self._force_sync()
        self._end = found.good_end
        self._synced = self._end
        self._dirty = False
        # Records not yet in the file (a write failed): (offset, record), contiguous from the
        # first; ``_end`` counts them. ``problem``: why the journal is not durable now (None: it is).
        self._pending: list[tuple[int, bytes]] = []
        self._rewrite_owed = False  # a compaction's rewrite failed: sync() tries it again
        self._cut_owed: int | None = None  # a truncation failed: sync() cuts there first
        self._meta_unstored = False  # term/vote (or commit index) changed, not yet on disk
        self.problem: str | None = None
        self.failures = 0  # storage failures seen (each write, fsync or meta write that failed)
        self._next_retry = 0.0
        self._synced_fd = os.open(path + SYNCED_SUFFIX, os.O_RDWR | os.O_CREAT, 0o600)
        self._record_synced()

    # ------------------------------------------------------------------ pysyncobj's interface
    def add(self, command: bytes, idx: int, term: int) -> None:
        record = encode_record(bytes(command), idx, term)
        self._pending.append((self._end, record))
        if len(self._pending) == 1 and self._cut_owed is None:
            self._write_pending()
        self._entries.append((command, idx, term))
        self._offsets.append(self._end)
        self._end += len(record)
        self._dirty = True

    def clear(self) -> None:
        self._truncate_to(len(MAGIC))
        self._entries, self._offsets = [], []

    def deleteEntriesFrom(self, entryFrom: int) -> None:  # noqa: N802, N803 - pysyncobj's names
        if entryFrom >= len(self._entries):
            return
        cut = self._offsets[entryFrom] if entryFrom >= 0 else len(MAGIC)
        del self._entries[entryFrom:]
        del self._offsets[entryFrom:]
        self._truncate_to(cut)

    def deleteEntriesTo(self, entryTo: int) -> None:  # noqa: N802, N803 - pysyncobj's names
        """Compaction: rewrite the journal without the first ``entryTo`` entries, atomically.
        On a full disk the old file stays (a restart reads it as a journal older than the dump,
        which pysyncobj replaces by the dump's tip) and the rewrite is retried by :meth:`sync`."""
        del self._entries[:entryTo]
        del self._offsets[:entryTo]
        self._rewrite_owed = True
        self._rewrite()

    def _rewrite(self) -> bool:
        """Write every entry in memory to a new file that replaces the journal (synced)."""
        parts, offsets, off = [MAGIC], [], len(MAGIC)
        for command, idx, term in self._entries:
            record = encode_record(bytes(command), idx, term)
            parts.append(record)
            offsets.append(off)
            off += len(record)
        started = self._clock()
        try:
            write_atomically(self.path, b"".join(parts), self.fsync)
        except OSError as exc:
            self._failed(describe_os_error("rewriting (compacting)", self.path, exc))
            return False
        os.close(self._fd)
        self._fd = os.open(self.path, os.O_RDWR)
        if self.fsync:
            self.stats.add(self._clock() - started)
        self._offsets, self._end, self._pending = offsets, off, []
        self._dirty = self._rewrite_owed = False
        # A new file: all of it is on disk with fsync; nothing is known to be without.
        self._synced = off if self.fsync else 0
        self._record_synced()
        return True

    def __getitem__(self, item: Any) -> Any:
        return self._entries[item]

    def __len__(self) -> int:
        return len(self._entries)

    def _destroy(self) -> None:
        self._next_retry = 0.0
        self.sync()
        try:
            self.store_meta()
        except OSError as exc:
            log.error("journal %s: %s", self.path, describe_os_error("writing the Raft metadata", self._meta_path, exc))
        for fd in (self._fd, self._synced_fd):
            try:
                os.close(fd)
            except OSError:
                pass

    def flush(self) -> None:
        self.sync()

    def setRaftCommitIndex(self, raftCommitIndex: int) -> None:  # noqa: N802, N803 - pysyncobj's names
        if self._meta.get("raftCommitIndex") != raftCommitIndex:
            self._meta["raftCommitIndex"] = raftCommitIndex
            self._meta_dirty = True

    def getRaftCommitIndex(self) -> int:  # noqa: N802 - pysyncobj's name
        return int(self._meta.get("raftCommitIndex", 1))

    def setCurrentTerm(self, term: int, votedForNodeId: str | None) -> None:  # noqa: N802, N803
        # Raft: term and vote are durable before any message reflecting them is sent.
        self._meta["currentTerm"] = term
        self._meta["votedForNodeId"] = votedForNodeId
        self._meta_unstored = True
        self._store_meta_or_note()

    def getCurrentTerm(self) -> int:  # noqa: N802 - pysyncobj's name
        return int(self._meta.get("currentTerm", 0))

    def getVotedForNodeId(self) -> str | None:  # noqa: N802 - pysyncobj's name
        return self._meta.get("votedForNodeId")

    def onOneSecondTimer(self) -> None:  # noqa: N802 - pysyncobj's name
        if self._meta_dirty and self.problem is None:
            self._store_meta_or_note()

    # ------------------------------------------------------------------------ durability
    @property
    def synced_length(self) -> int:
        return self._synced

    @property
    def dirty(self) -> bool:
        """Appended (or cut) since the last sync: acknowledgements of it must wait."""
        return self._dirty

    def sync(self) -> float:
        """Make everything written so far durable with one fdatasync; returns its seconds.

        On a full or failing disk this writes what is queued first and returns 0.0 with
        :attr:`dirty` and :attr:`problem` still set if it cannot (retried at most every
        :data:`RETRY_INTERVAL`); nothing is raised."""
        if self.problem is not None:
            now = self._clock()
            if now < self._next_retry:
                return 0.0
            self._next_retry = now + RETRY_INTERVAL
        if self._meta_unstored and not self._store_meta_or_note():
            return 0.0
        if self._rewrite_owed and not self._rewrite():
            return 0.0
        if self._cut_owed is not None and not self._cut(self._cut_owed):
            return 0.0
        if self._pending and not self._write_pending():
            return 0.0
        if not self._dirty:
            self._recovered()
            return 0.0
        if not self.fsync:
            self._dirty = False
            self._recovered()
            return 0.0
        started = self._clock()
        try:
            os.fdatasync(self._fd)
        except OSError as exc:
            # After a failed fsync Linux may drop the dirty pages and report the next one clean
            # ("fsyncgate"): a retry of the fsync alone proves nothing. Everything since the last
            # good fsync is written again from memory before the next one.
            self._failed(describe_os_error("fsync of", self.path, exc))
            self._requeue_unsynced()
            return 0.0
        took = self._clock() - started
        self.stats.add(took)
        self._dirty = False
        self._synced = self._end
        self._record_synced()
        self._recovered()
        return took

    def store_meta(self) -> None:
        write_atomically(self._meta_path, encode_meta(self._meta), self.fsync)
        self._meta_dirty = False

    def _store_meta_or_note(self) -> bool:
        try:
            self.store_meta()
        except OSError as exc:
            self._failed(describe_os_error("writing the Raft metadata", self._meta_path, exc))
            return False
        self._meta_unstored = False
        return True

    def _write_pending(self) -> bool:
        """Write the queued records in order; False (and the problem noted) if one fails."""
        while self._pending:
            off, record = self._pending[0]
            try:
                self._write_at(off, record)
            except OSError as exc:
                self._failed(describe_os_error("appending to", self.path, exc))
                return False
            self._pending.pop(0)
        return True

    def _cut(self, off: int) -> bool:
        """Truncate the file at ``off`` (owed until it succeeds: nothing is written after it before)."""
        try:
            os.ftruncate(self._fd, off)
        except OSError as exc:
            self._failed(describe_os_error("truncating", self.path, exc))
            return False
        self._cut_owed = None
        return True

    def _requeue_unsynced(self) -> None:
        """Queue every entry after the last good fsync for writing again (from memory)."""
        queued = {off for off, _ in self._pending}
        again = [(off, encode_record(bytes(c), i, t)) for off, (c, i, t) in zip(self._offsets, self._entries, strict=True)
                 if off >= self._synced and off not in queued]
        self._pending = sorted(again + self._pending)

    def _failed(self, why: str) -> None:
        self.failures += 1
        self._next_retry = self._clock() + RETRY_INTERVAL
        if self.problem is None:
            log.error("journal %s: %s: this replica acknowledges, votes and campaigns for nothing until "
                      "the disk takes writes again (retried every %.1fs); reads go on", self.path, why,
                      RETRY_INTERVAL)
        self.problem = why

    def _recovered(self) -> None:
        if self.problem is not None:
            log.warning("journal %s: the disk takes writes again (after: %s); durable and acknowledging",
                        self.path, self.problem)
            self.problem = None

    def _force_sync(self) -> None:
        if self.fsync:
            os.fsync(self._fd)

    def _record_synced(self) -> None:
        try:
            os.pwrite(self._synced_fd, struct.pack("<Q", self._synced), 0)
        except OSError:
            pass  # a test-only record, overwritten in place; never worth failing a write for

    def _write_at(self, off: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.pwrite(self._fd, view, off)
            view, off = view[n:], off + n

    def _truncate_to(self, off: int) -> None:
        self._pending = [(o, r) for o, r in self._pending if o < off]
        written = self._pending[0][0] if self._pending else self._end
        if off <= written or self._cut_owed is not None:  # (also cuts a record's half-written bytes)
            self._cut_owed = off if self._cut_owed is None else min(self._cut_owed, off)
            self._cut(self._cut_owed)
        self._end = off
        self._synced = min(self._synced, off)
        self._dirty = True
        self._record_synced()


def read_synced_length(journal_path: str) -> int | None:
    """The synced length a journal recorded (test-only nemesis), or None if it recorded none."""
    try:
        with open(journal_path + SYNCED_SUFFIX, "rb") as f:
            raw = f.read(8)
    except FileNotFoundError:
        return None
    return struct.unpack("<Q", raw)[0] if len(raw) == 8 else None


def read_meta(journal_path: str) -> dict[str, Any]:
    """The journal's metadata (term, vote, commit index); {} if there is none yet."""
    path = journal_path + META_SUFFIX
    if not os.path.exists(path):
        return {}
    with open(path, "rb") as f:
        return decode_meta(path, f.read())


def durable_replace(tmp: str, path: str) -> None:
    """fsync ``tmp``, rename it over ``path``, fsync the directory (pysyncobj's dumps)."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path)


def check_dump(path: str) -> None:
    """Refuse a dump that does not read back whole: gzip's CRC-32 and length cover every byte
    (pysyncobj would log "failed to load full dump" and start on the journal alone)."""
    if not os.path.exists(path):
        return
    import gzip

    read = 0
    try:
        with gzip.open(path, "rb") as g:
            while chunk := g.read(1 << 20):
                read += len(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise JournalCorrupt(path, 0, f"the dump does not read back ({type(exc).__name__}: {exc}; "
                             f"{read} bytes read)") from None


def import_legacy(legacy_path: str, path: str, *, fsync: bool = True) -> int:
    """Copy pysyncobj's FileJournal (and its .meta) into a new DurableJournal at ``path`` (an
    upgrade); the old files are renamed ``*.migrated``. Returns the number of entries copied."""
    from pysyncobj.journal import FileJournal

    old = FileJournal(legacy_path)
    try:
        entries = [old[i] for i in range(len(old))]
        term, vote, commit = old.getCurrentTerm(), old.getVotedForNodeId(), old.getRaftCommitIndex()
    finally:
        old._destroy()
    tmp = path + ".import"
    for stale in (tmp, tmp + META_SUFFIX, tmp + SYNCED_SUFFIX):
        if os.path.exists(stale):
            os.remove(stale)
    new = DurableJournal(tmp, fsync=fsync)
    for entry in entries:
        new.add(*entry)
    new.setRaftCommitIndex(commit)
    new.setCurrentTerm(term, vote)
    new._destroy()
    os.replace(tmp + META_SUFFIX, path + META_SUFFIX)
    os.replace(tmp + SYNCED_SUFFIX, path + SYNCED_SUFFIX)
    os.replace(tmp, path)  # last: the journal's presence marks the import done
    if fsync:
        fsync_dir(path)
    for old_name in (legacy_path, legacy_path + META_SUFFIX):
        if os.path.exists(old_name):
            os.replace(old_name, old_name + ".migrated")
    return len(entries)
