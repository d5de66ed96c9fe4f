"""Leadership: the control loops run only on the Raft leader, fenced by epoch.

When this replica becomes the Raft leader it commits ``claim(epoch=term)``. Every write the
control loops make carries that epoch, and the state machine rejects writes whose epoch is
older than the newest claim — so a deposed leader (paused, partitioned, or just slow to notice)
can never land a decision after its successor has claimed. When the replica stops leading, the
loops are cancelled at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from haplane.aio import wait_for
from haplane.api.app import Replica
from haplane.clock import Clock, SystemClock
from haplane.errors import Conflict, HaplaneError, OutcomeUnknown
from haplane.store import commands
from haplane.store.store import Store

log = logging.getLogger(__name__)

POLL = 0.5  # also re-check leadership on a timer, in case a role event was missed
STOP_GRACE = 2.0  # a cancelled control loop still running after this long is cancelled again


@dataclass
class ControlContext:
    """What a control loop gets: the store, its epoch, a clock, and shared leader memory."""

    store: Store
    epoch: int
    holder: str
    clock: Clock
    shared: dict[str, Any] = field(default_factory=dict)
    unknown_outcomes: int = 0  # writes of this leadership that ended in OutcomeUnknown
    settled_through: int = 0   # ... of which a barrier has settled the first this many

    async def write(self, op: dict, **kwargs: Any) -> Any:
        """A fenced write: carries this leadership's epoch. One whose outcome is unknown (it may
        still apply) is counted, for :meth:`settle`."""
        op["epoch"] = self.epoch
        try:
            return await self.store.write(op, **kwargs)
        except OutcomeUnknown:
            self.unknown_outcomes += 1
            raise

    async def settle(self) -> None:
        """The controllers' expectations: before a step decides anything, every earlier write of
        this leadership whose outcome was unknown has either applied here or never will.

        A write that timed out may still sit in the Raft log and apply later; a step that read
        the state before it applied would act twice (create a second pod in place of one that
        is about to appear). A barrier proposed after such a write commits after it (one
        leader's entries commit in order, and the proposer never re-sends an op after its
        caller has been told the outcome is unknown), so once the barrier has applied, the
        state shows the write's effect or the write is lost for good. Raises like a read when
        there is no quorum (the step then fails and the loop retries it).
        """
        pending = self.unknown_outcomes
        if pending > self.settled_through:
            await self.store.sync()
            self.settled_through = max(self.settled_through, pending)

    def timestamp(self) -> str:
        return datetime.fromtimestamp(self.clock.now(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Loop = Callable[[ControlContext], Awaitable[None]]


class Leadership:
    def __init__(self, replica: Replica, loops: dict[str, Loop], clock: Clock | None = None) -> None:
        self.replica = replica
        self.loops = loops
        self.clock = clock or SystemClock()
        self.ctx: ControlContext | None = None
        self._tasks: list[asyncio.Task] = []
        self._lead_task: asyncio.Task | None = None

    @property
    def leading(self) -> bool:
        return self.ctx is not None

    async def run(self) -> None:
        """Follow the Raft role until cancelled."""
        events: asyncio.Queue[str] = self.replica.extra["role_events"]
        try:
            while True:
                try:
                    await wait_for(events.get(), POLL)
                except TimeoutError:
                    pass
                if self.replica.raft.is_leader:
                    if self._lead_task is None and self.ctx is None:
                        self._lead_task = asyncio.create_task(self._lead(), name="claim")
                elif self.ctx is not None or self._lead_task is not None:
                    await self._step_down()
        finally:
            await self._step_down()

    async def _lead(self) -> None:
        term = self.replica.raft.term
        try:
            await self.replica.store.write(commands.claim(term, self.replica.name))
        except Conflict as exc:
            log.info("claim of epoch %d refused (%s); waiting for the next term", term, exc)
            return
        except HaplaneError as exc:
            log.info("claim of epoch %d failed (%s); will retry", term, exc)
            return
        finally:
            self._lead_task = None
        if not self.replica.raft.is_leader or self.replica.raft.term != term:
            return
        self.ctx = ControlContext(self.replica.store, term, self.replica.name, self.clock)
        self.replica.extra["control"] = self.ctx
        log.info("leading with epoch %d: starting %s", term, ", ".join(self.loops))
        for name, loop in self.loops.items():
            self._tasks.append(asyncio.create_task(_supervised(name, loop, self.ctx), name=name))

    async def _step_down(self) -> None:
        if self._lead_task is not None:
            self._lead_task.cancel()
            self._lead_task = None
        if self.ctx is not None:
            log.info("no longer leading (epoch %d): stopping control loops", self.ctx.epoch)
        self.ctx = None
        self.replica.extra.pop("control", None)
        tasks, self._tasks = self._tasks, []
        await stop_tasks(tasks)


async def stop_tasks(tasks: list[asyncio.Task], grace: float = STOP_GRACE) -> None:
    """Cancel ``tasks`` and wait until every one has ended. A task still running ``grace`` s
    after its cancel has lost it (a library that swallowed the CancelledError): it is logged
    once and cancelled again until it ends, so stepping down always completes and the replica
    can lead again."""
    pending = set(tasks)
    reported: set[asyncio.Task] = set()
    while pending:
        for t in pending:
            t.cancel()
        _, pending = await asyncio.wait(pending, timeout=grace)
        for t in pending - reported:
            log.error("control loop %s still running %.1f s after it was cancelled; cancelling it again",
                      t.get_name(), grace)
            reported.add(t)


async def _supervised(name: str, loop: Loop, ctx: ControlContext) -> None:
    """Run a control loop; if it crashes, log once per distinct error and restart it after a pause."""
    last_error = ""
    while True:
        try:
            await loop(ctx)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            text = f"{type(exc).__name__}: {exc}"
            if text != last_error:
                log.exception("control loop %s failed; restarting", name)
                last_error = text
            await ctx.clock.sleep(1.0)
