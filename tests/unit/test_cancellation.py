"""A cancelled task always ends: haplane.aio.wait_for keeps a cancel that meets a completed
wait (Python 3.11's asyncio.wait_for drops it), and stepping down re-cancels a control loop
that lost its cancel instead of waiting for it forever."""

from __future__ import annotations

import asyncio
import logging

import pytest

from haplane.aio import wait_for
from haplane.control.leader import stop_tasks


async def event_loop_body(ev: asyncio.Event, rounds: list[int]) -> None:
    """The shape of every control loop: wait for a nudge or the resync timeout, then work."""
    while True:
        try:
            await wait_for(ev.wait(), 10)
        except TimeoutError:
            pass
        ev.clear()
        rounds.append(1)


def test_a_cancel_that_meets_a_completed_wait_is_kept() -> None:
    async def main() -> None:
        ev, rounds = asyncio.Event(), []
        task = asyncio.create_task(event_loop_body(ev, rounds))
        await asyncio.sleep(0.01)
        ev.set()
        await asyncio.sleep(0)  # the inner wait completes; the cancel below meets it done
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 2)  # (stdlib on purpose: a lost cancel times out here)
    asyncio.run(main())


@pytest.mark.parametrize(("delay", "timeout", "expected"), [
    (0.0, 1.0, "done"), (0.01, 1.0, "done"), (0.5, 0.05, TimeoutError), (0.0, None, "done")])
def test_wait_for_answers_or_times_out(delay: float, timeout: float | None, expected: object) -> None:
    async def work() -> str:
        await asyncio.sleep(delay)
        return "done"

    async def main() -> object:
        try:
            return await wait_for(work(), timeout)
        except TimeoutError:
            return TimeoutError
    assert asyncio.run(main()) == expected


def test_stop_tasks_cancels_again_a_loop_that_swallowed_its_cancel(caplog: pytest.LogCaptureFixture) -> None:
    async def stubborn(swallowed: list[int]) -> None:
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed.append(1)  # the first cancel is lost, as a library could lose it

    async def main() -> tuple[list[int], bool]:
        swallowed: list[int] = []
        t = asyncio.create_task(stubborn(swallowed), name="stubborn")
        well_behaved = asyncio.create_task(asyncio.sleep(10), name="sleeper")
        await asyncio.sleep(0)
        await asyncio.wait_for(stop_tasks([t, well_behaved], grace=0.05), 2)
        return swallowed, t.cancelled() and well_behaved.cancelled()

    with caplog.at_level(logging.ERROR, logger="haplane.control.leader"):
        swallowed, ended = asyncio.run(main())
    assert swallowed == [1] and ended
    assert [r.getMessage() for r in caplog.records] == [
        "control loop stubborn still running 0.1 s after it was cancelled; cancelling it again"]
