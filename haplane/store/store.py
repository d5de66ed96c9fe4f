"""The store as the rest of the replica sees it: reads, writes and watches with their guarantees.

* Reads are linearizable by default: they wait for a barrier through the Raft log that was
  proposed after the read began. ``stale=True`` reads this replica's state as it is.
* Writes go through the group-commit proposer; an error result becomes the matching
  :class:`~haplane.errors.HaplaneError`.
* Watches list (optionally) and subscribe in one critical section of the state machine's lock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from haplane.errors import NotFound, OutcomeUnknown, from_status
from haplane.store.fsm import StateMachine
from haplane.store.proposer import Proposer
from haplane.store.rewind import Key, Page, page, rewind
from haplane.store.watch import Watcher, WatchHub

Match = Callable[[dict], bool]


def _everything(obj: dict) -> bool:
    return True


class Store:
    def __init__(self, fsm: StateMachine, proposer: Proposer, hub: WatchHub, *, unsafe_local_reads: bool = False) -> None:
        self.fsm, self.proposer, self.hub = fsm, proposer, hub
        # Test-only: serve every read from local state, as a broken store would. The chaos
        # harness turns it on to prove its checker catches stale reads (HAPLANE_UNSAFE_LOCAL_READS=1).
        self.unsafe_local_reads = unsafe_local_reads

    async def sync(self, stale: bool = False) -> None:
        if not stale and not self.unsafe_local_reads:
            await self.proposer.barrier()

    async def get(self, kind: str, ns: str, name: str, *, stale: bool = False) -> dict:
        await self.sync(stale)
        obj = self.fsm.get(kind, ns, name)
        if obj is None:
            raise NotFound(f'{kind.lower()}s "{name}" not found')
        return obj

    async def list(self, kind: str, ns: str | None, *, stale: bool = False,
                   match: Match = _everything) -> tuple[list[dict], int]:
        await self.sync(stale)
        items, rev = self.fsm.list(kind, ns)
        return [o for o in items if match(o)], rev

    async def list_page(self, kind: str, ns: str | None, *, at: int | None = None, not_older_than: int | None = None,
                        after: Key | None = None, limit: int | None = None, stale: bool = False,
                        match: Match = _everything) -> tuple[Page, int]:
        """One page of a list and the revision it shows.

        ``at``: the state exactly at that revision (continue pages, ``resourceVersionMatch=Exact``),
        rebuilt from the watch window — :class:`~haplane.errors.Expired` once it is older than the
        window. ``not_older_than``: this replica's state if it has reached that revision. Neither: a
        linearizable read (or this replica's state with ``stale``). A revision this replica has not
        reached yet waits for a barrier; one no replica has reached is a 504, as in Kubernetes.
        """
        wanted = at if at is not None else not_older_than
        if wanted is None:
            await self.sync(stale)
        elif self.fsm.rev < wanted:
            await self.sync(False)
            if self.fsm.rev < wanted:
                raise OutcomeUnknown(f"Too large resource version: {wanted}, current: {self.fsm.rev}", details={
                    "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                    "retryAfterSeconds": 1})
        with self.fsm.lock:
            items, rev = self.fsm.list(kind, ns)
            state = {(o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in items}
            if at is not None and at < rev:
                state = rewind(state, self.hub.changes_after(at), kind, ns)
                rev = at
            return page(state, match, after=after, limit=limit), rev

    async def write(self, op: dict, *, timeout: float | None = None) -> Any:
        result = await self.proposer.submit(op, timeout=timeout)
        if result[0] == "ok":
            return result[1]
        _, code, reason, message = result
        raise from_status({"reason": reason, "message": message, "code": code}, code)

    async def watch(self, kind: str, ns: str | None, since: int | None, *, stale: bool = False,
                    match: Match = _everything) -> tuple[list[dict], int, Watcher]:
        """Open a watch. ``since=None`` means "list, then watch": the current objects come back
        first (as synthetic ADDED events for the caller to send) with the revision they are at."""
        if since is None:
            await self.sync(stale)
        with self.fsm.lock:
            if since is None:
                items, rev = self.fsm.list(kind, ns)
                items = [o for o in items if match(o)]
            else:
                items, rev = [], since
            return items, rev, self.hub.subscribe(kind, ns, rev, match)

    def unwatch(self, watcher: Watcher) -> None:
        self.hub.unsubscribe(watcher)
