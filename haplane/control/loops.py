"""The thin, level-triggered loop every controller uses.

A controller is a ``step(ctx)`` coroutine that reads the leader's local state, decides with a
pure function, and writes. It awaits its writes, and the leader applies its own writes before
they are acknowledged, so its next step already sees them; a write whose outcome was unknown
is settled by :meth:`ControlContext.settle` before the next step (the "expectations": no step
acts on a view that may still lack one of this leadership's writes). The loop runs a step
whenever something of the watched kinds changed, and at least every ``resync`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from prometheus_client import CollectorRegistry

from haplane.aio import wait_for
from haplane.control.leader import ControlContext
from haplane.metrics import ControlMetrics
from haplane.store.fsm import Change

log = logging.getLogger(__name__)

Step = Callable[[ControlContext], Awaitable[float | None]]


def control_metrics(ctx: ControlContext) -> ControlMetrics:
    """The replica's control metrics (``ctx.shared["metrics"]``); a private set when none was
    given (unit tests), so callers never test for None."""
    found = ctx.shared.get("metrics")
    if not isinstance(found, ControlMetrics):
        found = ctx.shared["metrics"] = ControlMetrics(CollectorRegistry())
    return found


async def level_triggered(ctx: ControlContext, kinds: Iterable[str], step: Step, *, resync: float = 5.0,
                          settle: float = 0.02, relevant: Callable[[Change], bool] | None = None) -> None:
    """Run ``step`` on changes to ``kinds`` and every ``resync`` seconds, until cancelled.

    ``settle`` lets a burst of changes coalesce into one step. ``relevant``, if given, narrows
    which changes of those kinds wake the loop (the resync still runs regardless). A step may
    return a number of seconds after which it wants to run again even if nothing changes (a
    requeue). Errors inside a step are logged once per distinct message and the loop goes on.
    """
    wanted = frozenset(kinds)
    wake = asyncio.Event()
    wake.set()

    def nudge(changes: list[Change]) -> None:
        if any(c.kind in wanted and (relevant is None or relevant(c)) for c in changes):
            wake.set()

    unlisten = ctx.store.hub.listen(nudge)
    last_error = ""
    wait = resync
    name = getattr(step, "__name__", "controller").removesuffix("_step")
    metrics = control_metrics(ctx)
    duration, errors = metrics.step_duration.labels(name), metrics.step_errors.labels(name)
    try:
        while True:
            try:
                await wait_for(wake.wait(), wait)
            except TimeoutError:
                pass
            await ctx.clock.sleep(settle)
            wake.clear()
            wait = resync
            start = time.perf_counter()
            try:
                await ctx.settle()
                again = await step(ctx)
                duration.observe(time.perf_counter() - start)
                if again is not None:
                    wait = max(settle, min(resync, again))
                last_error = ""
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                duration.observe(time.perf_counter() - start)
                errors.inc()
                text = f"{type(exc).__name__}: {exc}"
                if text != last_error:
                    log.warning("%s step failed: %s", name, text)
                    last_error = text
                await ctx.clock.sleep(0.5)
    finally:
        unlisten()
