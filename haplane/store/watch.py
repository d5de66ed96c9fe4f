"""Watch: a bounded window of recent changes and their fan-out to watchers.

The window lives outside the replicated state. The state machine calls :meth:`WatchHub.record`
on pysyncobj's tick thread with its lock held; the hub appends to the window and hands the
changes to the event loop with ``call_soon_threadsafe``. Watchers are served on the loop.

Ordering and completeness: a watcher is created with :meth:`subscribe` *under the state
machine's lock* (the API lists and subscribes in one critical section), so the replay from the
window plus the live fan-out deliver every change after ``since`` exactly once — the fan-out
skips anything at or below the watcher's last delivered revision.

Resume: a watcher may start from any revision still in the window; older ones get
:class:`~haplane.errors.Gone` (410) and must relist. A snapshot install (a replica that fell far
behind) empties the window and ends every open watch with 410: the events in between are not
known here, and inventing them would be lying. Journal replay at start-up goes through the
window like any other change, each event stamped with its own revision, so nothing bogus can
reach a watcher that resumes from a revision it saw.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from haplane.aio import wait_for
from haplane.errors import Expired, Gone
from haplane.store.fsm import Change, StateMachine

log = logging.getLogger(__name__)

WINDOW = 100_000  # changes kept for resume
WATCHER_BACKLOG = 20_000  # a watcher further behind than this is cut off with 410


class WatchStats:
    """Tallies for the metrics endpoint (event loop only; plain ints)."""

    __slots__ = ("events", "gone")

    def __init__(self) -> None:
        self.events = 0  # events queued for watchers
        self.gone = 0  # watches refused or ended with 410 Gone


class Watcher:
    """One open watch. Consume with ``await watcher.next(timeout)``."""

    def __init__(self, kind: str, ns: str | None, match: Callable[[dict], bool], since: int,
                 stats: WatchStats | None = None) -> None:
        self.kind, self.ns, self.match = kind, ns, match
        self.stats = stats if stats is not None else WatchStats()
        self.last_rv = since
        self.queue: asyncio.Queue[Change | Exception] = asyncio.Queue()
        self.closed = False

    def event_type(self, change: Change) -> str | None:
        """The event this watcher must see for ``change``, or None. As in Kubernetes, an object
        that starts matching the selector is ADDED and one that stops matching is DELETED."""
        if change.kind != self.kind or change.rv <= self.last_rv or (self.ns is not None and change.ns != self.ns):
            return None
        now = self.match(change.obj)
        if change.type != "MODIFIED" or change.prev is None:
            return change.type if now else None
        before = self.match(change.prev)
        if now and before:
            return "MODIFIED"
        if now:
            return "ADDED"
        return "DELETED" if before else None

    def offer(self, change: Change, etype: str) -> None:
        if self.closed:
            return
        if self.queue.qsize() >= WATCHER_BACKLOG:
            self.fail(Gone("watcher fell too far behind; relist and watch again"))
            return
        self.last_rv = change.rv
        self.stats.events += 1
        self.queue.put_nowait(change if etype == change.type else replace(change, type=etype))

    def fail(self, exc: Exception) -> None:
        if not self.closed:
            self.closed = True
            if isinstance(exc, Gone):
                self.stats.gone += 1
            self.queue.put_nowait(exc)

    async def next(self, timeout: float) -> Change | None:
        """The next change, None after ``timeout`` seconds of quiet; raises what ended the watch."""
        try:
            item = await wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None
        if isinstance(item, Exception):
            raise item
        return item


class WatchHub:
    def __init__(self, fsm: StateMachine, loop: asyncio.AbstractEventLoop, window: int = WINDOW) -> None:
        self._fsm = fsm
        self._loop = loop
        self._window: deque[Change] = deque()
        self._limit = window
        self.floor = fsm.rev  # every change with rv > floor is in the window
        self.delivered_rv = fsm.rev  # highest revision handed to watchers (bookmarks)
        self._watchers: set[Watcher] = set()
        self._listeners: list[Callable[[list[Change]], None]] = []
        self.stats = WatchStats()
        fsm.listener = self.record
        fsm.restore_listener = self.reset

    # ---------------------------------------------------------- tick thread
    def record(self, changes: list[Change]) -> None:
        """Called by the state machine, lock held, on the tick thread."""
        self._window.extend(changes)
        while len(self._window) > self._limit:
            self.floor = self._window.popleft().rv
        self._call(self._fanout, changes)

    def reset(self, rv: int) -> None:
        """A snapshot was installed: history before ``rv`` is unknown here."""
        self._window.clear()
        self.floor = rv
        self._call(self._expire_all, rv)

    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # loop closed during shutdown
            pass

    # ----------------------------------------------------------- event loop
    def subscribe(self, kind: str, ns: str | None, since: int, match: Callable[[dict], bool]) -> Watcher:
        """Open a watch from revision ``since``. Call with the state machine's lock held."""
        if since < self.floor:
            self.stats.gone += 1
            raise Gone(f"too old resource version: {since} ({self.floor})")
        watcher = Watcher(kind, ns, match, since, self.stats)
        for change in self._window:
            etype = watcher.event_type(change)
            if etype is not None:
                watcher.offer(change, etype)
        self._watchers.add(watcher)
        return watcher

    def changes_after(self, rev: int) -> list[Change]:
        """Every change after revision ``rev``, oldest first (for lists at a past revision).
        Call with the state machine's lock held; :class:`Expired` when ``rev`` is below the floor."""
        if rev < self.floor:
            raise Expired(f"too old resource version: {rev} ({self.floor})")
        newer: list[Change] = []
        for change in reversed(self._window):
            if change.rv <= rev:
                break
            newer.append(change)
        newer.reverse()
        return newer

    def unsubscribe(self, watcher: Watcher) -> None:
        watcher.closed = True
        self._watchers.discard(watcher)

    def listen(self, fn: Callable[[list[Change]], None]) -> Callable[[], None]:
        """Call ``fn(changes)`` on the event loop after every applied entry; returns an unsubscribe.
        For in-process control loops: they re-read the state, so they only need the nudge."""
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn) if fn in self._listeners else None

    def _fanout(self, changes: list[Change]) -> None:
        for fn in list(self._listeners):
            try:
                fn(changes)
            except Exception:
                log.exception("change listener failed")
        for watcher in list(self._watchers):
            for change in changes:
                try:
                    etype = watcher.event_type(change)
                    if etype is not None:
                        watcher.offer(change, etype)
                except Exception:  # a broken selector must not hurt other watchers
                    log.exception("watch filter failed")
            if watcher.closed:
                self._watchers.discard(watcher)
        if changes:
            self.delivered_rv = max(self.delivered_rv, changes[-1].rv)

    def _expire_all(self, rv: int) -> None:
        for watcher in list(self._watchers):
            watcher.fail(Gone(f"the replica installed a snapshot at revision {rv}; relist and watch again"))
        self._watchers.clear()
        self.delivered_rv = max(self.delivered_rv, rv)

    def end_all(self, reason: str) -> None:
        """End every open watch with 410 Gone (the replica is leaving the cluster): clients relist
        and watch at another replica."""
        for watcher in list(self._watchers):
            watcher.fail(Gone(reason))
        self._watchers.clear()

    @property
    def watcher_count(self) -> int:
        return len(self._watchers)
