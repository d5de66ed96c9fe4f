"""Time as an interface: loops take a :class:`Clock`, pure logic takes ``now`` as a value.

``SystemClock`` is the real thing: its ``now()`` is the machine's wall clock *as this process
has seen it run* (:class:`SteadyWallClock`): a step of the system clock (an operator's
``date -s``, a VM resumed, NTP stepping instead of slewing) does not move it, so no timeout,
lease, grace period or TTL measured in it jumps; small corrections (NTP slewing, under
:data:`STEP_TOLERANCE`) are followed. Durations inside one process use ``monotonic()``. ``FakeClock`` lets tests move time by hand: ``advance``
wakes every sleeper whose deadline has passed, in deadline order, without any real waiting.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock seconds since the epoch (for timestamps written into objects)."""

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps back (for timeouts and periods)."""

    async def sleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds`` of this clock's time."""


log = logging.getLogger(__name__)

STEP_TOLERANCE = 2.0  # seconds: a wall-clock change larger than this (at once) is a step, not a slew


class SteadyWallClock:
    """Wall-clock seconds that follow the monotonic clock, re-anchored to the system clock
    while the two agree within ``tolerance``. Pure given ``wall`` and ``mono``.

    After a step the system clock and this one disagree by about the step: this one goes on
    from where it was (steadily, at the monotonic clock's rate) and logs the step once; when
    the system clock comes back within ``tolerance`` (stepped back, or corrected) it follows it
    again. A new process (a restart, another replica taking over) anchors to the system clock
    as it then is: a clock that was *wrong* before it was stepped is adopted at that point.
    """

    def __init__(self, wall: Callable[[], float] = time.time, mono: Callable[[], float] = time.monotonic,
                 tolerance: float = STEP_TOLERANCE) -> None:
        self._wall, self._mono, self.tolerance = wall, mono, tolerance
        self._offset = wall() - mono()  # now() = monotonic + offset
        self.skew = 0.0  # system clock minus this one, while they disagree (a step); 0.0 otherwise
        self.steps = 0  # steps seen (and not followed)
        self._lock = threading.Lock()

    def now(self) -> float:
        mono, wall = self._mono(), self._wall()
        with self._lock:
            skew = wall - (mono + self._offset)
            if abs(skew) <= self.tolerance:
                self._offset = wall - mono  # a slew (or none): follow the system clock
                if self.skew:
                    log.warning("the system clock agrees with the monotonic clock again (%.3fs apart): "
                                "following it", skew)
                self.skew = 0.0
                return wall
            if not self.skew:
                self.steps += 1
                log.warning("the system clock stepped by %+.1fs: timestamps, timeouts and TTLs go on "
                            "from the monotonic clock (a restart adopts the system clock as it then is)", skew)
            self.skew = skew
            return mono + self._offset


_STEADY = SteadyWallClock()


def wall_now() -> float:
    """This process's step-free wall clock (see :class:`SteadyWallClock`)."""
    return _STEADY.now()


def wall_skew() -> float:
    """How far the system clock is from :func:`wall_now` after a step (0.0 when they agree)."""
    return _STEADY.skew


class SystemClock:
    """The real clocks of the machine (wall time protected against steps, see the module)."""

    def now(self) -> float:
        return wall_now()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that moves only when told to.

    ``now()`` and ``monotonic()`` advance together. Sleepers are kept in a heap keyed by
    (deadline, arrival order), so wake-up order is deterministic. Use from one event loop.
    """

    def __init__(self, start: float = 1_700_000_000.0, monotonic_start: float = 0.0) -> None:
        self._wall_offset = start - monotonic_start
        self._mono = monotonic_start
        self._seq = itertools.count()
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self._mono + self._wall_offset

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + seconds, next(self._seq), fut))
        await fut

    @property
    def sleepers(self) -> int:
        """How many tasks are currently waiting on this clock."""
        return sum(1 for _, _, f in self._sleepers if not f.done())

    def advance(self, seconds: float) -> None:
        """Move time forward and resolve every sleep that is now due (synchronously).

        Woken tasks run at the loop's next turn; a task that sleeps again after waking is
        not seen by this call. Use :meth:`run_for` to let such loops make progress.
        """
        if seconds < 0:
            raise ValueError("time does not go backwards")
        target = self._mono + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, fut = heapq.heappop(self._sleepers)
            self._mono = max(self._mono, deadline)
            if not fut.done():
                fut.set_result(None)
        self._mono = target

    async def run_for(self, seconds: float, *, settle_rounds: int = 10) -> None:
        """Advance ``seconds`` step by step, letting woken tasks run between deadlines."""
        target = self._mono + seconds
        await _settle(settle_rounds)
        while self._sleepers and self._sleepers[0][0] <= target:
            self.advance(self._sleepers[0][0] - self._mono)
            await _settle(settle_rounds)
        self.advance(target - self._mono)
        await _settle(settle_rounds)


async def _settle(rounds: int) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


def rfc3339(ts: float) -> str:
    """Kubernetes timestamp format, second precision, UTC: ``2024-01-02T03:04:05Z``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
