"""``GET /cluster/snapshot`` (admin): a consistent snapshot of the replicated state.

Consistency: the handler first waits for a barrier through the Raft log (so every write
acknowledged before the request arrived is applied on this replica), then copies the state
machine's tables under its lock (one instant of the log: no apply runs meanwhile). Encoding,
compression and the state hash run in a worker thread on those copies, off the event loop and
without holding the lock. The answer is the snapshot file itself (:mod:`haplane.store.snapshotfile`);
the header names the replica and the Raft applied index the copy was taken at (informational, and
possibly one low: pysyncobj counts an entry just after applying it).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from aiohttp import web

from haplane.api.app import USER, Replica
from haplane.api.auth import User, authorize
from haplane.store import snapshotfile


def add_routes(app: web.Application, replica: Replica) -> None:
    """Register the snapshot route on the replica's app."""

    async def get_snapshot(request: web.Request) -> web.Response:
        user: User = request[USER]
        authorize(user, "GET", None, path=request.path)  # admin only: not among auth.READ_PATHS
        await replica.store.sync()  # barrier: bounded by the proposer's deadline (503/504 otherwise)
        fsm = replica.store.fsm
        with fsm.lock:
            state = snapshotfile.capture(fsm)
            applied = replica.raft.status()["appliedIndex"]
        meta = {"createdAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "takenBy": replica.name,
                "raftAppliedIndex": applied, "raftTerm": replica.raft.term}
        data = await asyncio.to_thread(snapshotfile.encode, state, meta)
        return web.Response(body=data, content_type="application/octet-stream",
                            headers={"Content-Disposition": 'attachment; filename="haplane.snapshot"'})

    app.router.add_get("/cluster/snapshot", get_snapshot)
