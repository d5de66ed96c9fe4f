"""Events: a record of every decision the control plane makes, for `haplane get events` / `describe`.

Events are best effort, as in Kubernetes: failing to record one never fails the decision.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from collections import deque
from typing import Any

from haplane.errors import HaplaneError
from haplane.store import commands

log = logging.getLogger(__name__)


def make_event(involved: dict, reason: str, message: str, etype: str, *, now: str, component: str,
               host: str = "") -> dict:
    meta = involved.get("metadata") or {}
    ns = meta.get("namespace") or "default"
    name = f"{meta.get('name', 'unknown')}.{secrets.token_hex(8)}"
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name, "namespace": ns, "uid": str(uuid.uuid4()), "creationTimestamp": now},
        "involvedObject": {"kind": involved.get("kind"), "name": meta.get("name"), "namespace": meta.get("namespace"),
                           "uid": meta.get("uid"), "apiVersion": involved.get("apiVersion")},
        "reason": reason, "message": message, "type": etype, "count": 1,
        "firstTimestamp": now, "lastTimestamp": now,
        "source": {"component": component, "host": host} if host else {"component": component},
        "reportingComponent": component,
    }


async def record_event(ctx: Any, involved: dict, reason: str, message: str, etype: str = "Normal",
                       component: str = "haplane-controller") -> None:
    """Create an Event through a ControlContext (fenced by its epoch)."""
    ev = make_event(involved, reason, message, etype, now=ctx.timestamp(), component=component, host=ctx.holder)
    try:
        await ctx.write(commands.create("Event", ev["metadata"]["namespace"], ev))
    except HaplaneError as exc:
        log.debug("event %s not recorded: %s", reason, exc)


class EventEmitter:
    """Events written beside the caller's work instead of in its way.

    :meth:`emit` queues the event and returns at once, so a control loop does not spend a
    Raft round trip per decision waiting for its Event. One writer task drains the queue,
    ``batch`` events at a time (they share Raft entries through the group commit), each
    fenced by the context's epoch like any controller write. At most ``max_queued`` events
    wait; past that, emit drops the event and counts it in :attr:`dropped` (Kubernetes' event
    broadcaster drops when its queue is full, too). :meth:`close` drops what is still queued
    and stops the writer (the loop stops leading).
    """

    def __init__(self, ctx: Any, *, component: str, max_queued: int = 20_000, batch: int = 256) -> None:
        self.ctx = ctx
        self.component = component
        self.max_queued = max_queued
        self.batch = batch
        self.dropped = 0
        self.sent = 0  # handed to the store (record_event logs, never raises, when one fails)
        self._queue: deque[tuple[dict, str, str, str]] = deque()
        self._writer: asyncio.Task | None = None

    def emit(self, involved: dict, reason: str, message: str, etype: str = "Normal") -> bool:
        """Queue one Event; False if it was dropped (the queue is full)."""
        if len(self._queue) >= self.max_queued:
            if self.dropped == 0:
                log.warning("%d events queued: dropping %s events (counted)", self.max_queued, self.component)
            self.dropped += 1
            return False
        self._queue.append((involved, reason, message, etype))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._drain())
        return True

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def _drain(self) -> None:
        while self._queue:
            chunk = [self._queue.popleft() for _ in range(min(self.batch, len(self._queue)))]
            await asyncio.gather(*(record_event(self.ctx, involved, reason, message, etype, component=self.component)
                                   for involved, reason, message, etype in chunk), return_exceptions=True)
            self.sent += len(chunk)

    async def close(self) -> None:
        self._queue.clear()
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
