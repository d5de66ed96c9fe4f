"""Group commit: API writes share Raft entries; reads share barriers.

The proposer lives on the event loop. Ops queue up; whenever fewer than ``max_inflight``
entries are on their way through Raft, everything queued (up to ``max_batch`` ops and
``max_entry_bytes`` encoded) leaves as one entry at once — the first write of a quiet moment is
never held back by a timer, and under load each entry carries many writes.

Failure handling: an op whose entry failed is re-proposed until its deadline. That is safe
because writes carry a request id that the state machine applies at most once. At the
deadline the caller gets :class:`Unavailable` (503: nothing was ever appended anywhere),
:class:`InsufficientStorage` (507: the same, and this replica's disk cannot take the log) or
:class:`OutcomeUnknown` (504: an attempt may have been appended and may still commit).

Linearizable reads: a read waits for a ``barrier`` op proposed *after* the read began; every
read that arrives while a barrier is still queued shares it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from pysyncobj import FAIL_REASON

from haplane.aio import wait_for
from haplane.errors import InsufficientStorage, OutcomeUnknown, Unavailable
from haplane.store import commands
from haplane.store.raft import NOT_APPENDED

log = logging.getLogger(__name__)

# An entry stays under this (unless one op alone is bigger), far below RaftTiming.append_batch_bytes:
# pysyncobj sends bigger entries in pieces, which it gets wrong (see haplane.store.raft).
MAX_ENTRY_BYTES = 4 * 2 ** 20


class Proposing(Protocol):
    def propose(self, entry: bytes, callback: Callable[[Any, int], None]) -> None: ...
    @property
    def has_quorum(self) -> bool: ...
    # Optional: ``storage_problem`` (str | None), why this replica cannot persist its log.


class _Pending:
    """One op on its way. ``maybe_appended`` is sticky: once an attempt's outcome is unknown,
    the op may commit some day, and only a 504 is an honest answer at the deadline."""

    __slots__ = ("op", "fut", "deadline", "maybe_appended", "in_flight")

    def __init__(self, op: dict, fut: asyncio.Future, deadline: float) -> None:
        self.op, self.fut, self.deadline = op, fut, deadline
        self.maybe_appended = False
        self.in_flight = False


class _Entry:
    __slots__ = ("batch", "released", "timer")

    def __init__(self, batch: list[_Pending]) -> None:
        self.batch = batch
        self.released = False
        self.timer: asyncio.TimerHandle | None = None


class Proposer:
    def __init__(
        self, raft: Proposing, *, max_batch: int = 256, max_inflight: int = 4,
        timeout: float = 5.0, retry_interval: float = 0.05, max_entry_bytes: int = MAX_ENTRY_BYTES,
    ) -> None:
        self._raft = raft
        self._loop = asyncio.get_running_loop()
        self.max_batch, self.max_inflight = max_batch, max_inflight
        self.max_entry_bytes = max_entry_bytes
        self.timeout, self.retry_interval = timeout, retry_interval
        self._queue: list[_Pending] = []
        self._inflight = 0
        self._flush_scheduled = False
        self._open_barrier: _Pending | None = None
        self.entries_proposed = 0
        self.ops_proposed = 0
        self.entries_failed = 0  # proposals that failed (their ops are re-proposed until the deadline)
        self._inflight_ops = 0

    @property
    def pending_ops(self) -> int:
        """Ops queued here or in entries on their way through Raft."""
        return len(self._queue) + self._inflight_ops

    async def submit(self, op: dict, *, timeout: float | None = None) -> tuple:
        """Propose one op and wait for its result tuple (see fsm.Result)."""
        pending = _Pending(op, self._loop.create_future(), time.monotonic() + (timeout or self.timeout))
        self._enqueue(pending)
        return await self._wait(pending)

    async def barrier(self, *, timeout: float | None = None) -> None:
        """Return once this replica has applied everything committed before the call."""
        pending = self._open_barrier
        if pending is None:
            pending = _Pending(commands.barrier(), self._loop.create_future(),
                               time.monotonic() + (timeout or self.timeout))
            self._open_barrier = pending
            self._enqueue(pending)
        await self._wait(pending)

    async def _wait(self, pending: _Pending) -> tuple:
        remaining = max(0.0, pending.deadline - time.monotonic())
        try:
            return await wait_for(asyncio.shield(pending.fut), remaining)
        except TimeoutError:
            raise self._expired(pending) from None

    def _expired(self, pending: _Pending) -> Exception:
        problem = getattr(self._raft, "storage_problem", None)
        if pending.maybe_appended or pending.in_flight:
            why = f" (this replica cannot persist the Raft log: {problem})" if problem else ""
            return OutcomeUnknown(f"the write timed out waiting for the Raft log{why}; it may still apply — "
                                  "retry with the same request id")
        if problem is not None:
            return InsufficientStorage(f"this replica cannot persist the Raft log ({problem}) and no leader "
                                       "took the write: nothing was applied; writes resume by themselves once "
                                       "the disk takes writes again", retry_after=1.0)
        return Unavailable("no Raft quorum or leader reachable from this replica; retry later or elsewhere",
                           retry_after=1.0)

    # ------------------------------------------------------------- internals
    def _enqueue(self, pending: _Pending) -> None:
        self._queue.append(pending)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        while self._queue and self._inflight < self.max_inflight:
            now = time.monotonic()
            batch: list[_Pending] = []
            rest: list[_Pending] = []
            for p in self._queue:
                if p.fut.done():
                    continue  # the caller gave up
                if now >= p.deadline:
                    self._resolve_error(p, self._expired(p))
                elif len(batch) < self.max_batch:
                    batch.append(p)
                else:
                    rest.append(p)
            self._queue = rest
            data = commands.encode_entry([p.op for p in batch]) if batch else b""
            while len(data) > self.max_entry_bytes and len(batch) > 1:
                # Too big for one entry: the second half waits, in order, at the head of the queue.
                half = len(batch) // 2
                self._queue[:0] = batch[half:]
                batch = batch[:half]
                data = commands.encode_entry([p.op for p in batch])
            if self._open_barrier is not None and self._open_barrier in batch:
                self._open_barrier = None
            if not batch:
                return
            if not self._raft.has_quorum:
                # Nothing can commit: do not append anything an isolated leader could later commit.
                self._retry_later(batch)
                continue
            self._inflight += 1
            self._inflight_ops += len(batch)
            self.entries_proposed += 1
            self.ops_proposed += len(batch)
            entry = _Entry(batch)
            for p in batch:
                p.in_flight = True

            def on_done(results: Any, err: int, entry: _Entry = entry) -> None:
                self._loop.call_soon_threadsafe(self._on_done, entry, results, err)

            # An isolated leader appends and never commits: free the slot after the deadline
            # (the callback may still come later and still resolves whoever waits).
            entry.timer = self._loop.call_later(self.timeout, self._release, entry)
            try:
                self._raft.propose(data, on_done)
            except Exception:
                log.exception("propose failed")
                self._on_done(entry, None, FAIL_REASON.REQUEST_DENIED)

    def _release(self, entry: _Entry) -> bool:
        """Give the entry's in-flight slot back, once. Returns False if it was given back already."""
        if entry.released:
            return False
        entry.released = True
        if entry.timer is not None:
            entry.timer.cancel()
        self._inflight -= 1
        self._inflight_ops -= len(entry.batch)
        if self._queue and not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)
        return True

    def _on_done(self, entry: _Entry, results: Any, err: int) -> None:
        batch = entry.batch
        self._release(entry)
        for p in batch:
            p.in_flight = False
        if err == FAIL_REASON.SUCCESS and isinstance(results, list) and len(results) == len(batch):
            for p, r in zip(batch, results, strict=True):
                if not p.fut.done():
                    p.fut.set_result(r)
        else:
            self.entries_failed += 1
            if err not in NOT_APPENDED:  # LEADER_CHANGED, UNKNOWN_OUTCOME: it may still commit
                for p in batch:
                    p.maybe_appended = True
            self._retry_later(batch)

    def _retry_later(self, batch: list[_Pending]) -> None:
        live = [p for p in batch if not p.fut.done()]
        if live:
            self._loop.call_later(self.retry_interval, self._requeue, live)

    def _requeue(self, batch: list[_Pending]) -> None:
        for p in batch:
            if not p.fut.done():
                self._enqueue(p)

    @staticmethod
    def _resolve_error(p: _Pending, exc: Exception) -> None:
        if not p.fut.done():
            p.fut.set_exception(exc)
            p.fut.exception()  # mark retrieved: the waiter may have gone
