"""SteadyWallClock: a step of the system clock moves nothing; slews are followed. Table-driven,
the system and monotonic clocks given as scripted values."""

from __future__ import annotations

import pytest

from haplane.clock import SteadyWallClock

T0 = 1_800_000_000.0


class Clocks:
    def __init__(self) -> None:
        self.mono, self.wall = 100.0, T0

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds


@pytest.mark.parametrize("script, expected", [
    # script: ("run", s) both clocks advance; ("step", s) the system clock alone jumps.
    pytest.param([("run", 10)], [T0 + 10], id="no-step-is-the-system-clock"),
    pytest.param([("step", 3600), ("run", 5)], [T0, T0 + 5], id="forward-hour-ignored"),
    pytest.param([("step", -3600), ("run", 5)], [T0, T0 + 5], id="backward-hour-ignored"),
    pytest.param([("step", 0.5), ("run", 1)], [T0 + 0.5, T0 + 1.5], id="a-slew-is-followed"),
    pytest.param([("step", 3600), ("run", 5), ("step", -3600), ("run", 1)], [T0, T0 + 5, T0 + 5, T0 + 6],
                 id="stepped-back-it-is-followed-again"),
    pytest.param([("step", 1.5), ("step", 1.5), ("run", 1)], [T0 + 1.5, T0 + 3, T0 + 4],
                 id="small-corrections-one-by-one-are-followed"),
])
def test_steps_move_nothing(script: list, expected: list) -> None:
    c = Clocks()
    clock = SteadyWallClock(wall=lambda: c.wall, mono=lambda: c.mono, tolerance=2.0)
    got = []
    for what, seconds in script:
        if what == "run":
            c.advance(seconds)
        else:
            c.wall += seconds
        got.append(clock.now())
    assert got == pytest.approx(expected)


def test_a_step_is_counted_once_and_its_skew_reported() -> None:
    c = Clocks()
    clock = SteadyWallClock(wall=lambda: c.wall, mono=lambda: c.mono)
    c.wall += 3600
    for _ in range(5):
        c.advance(1)
        clock.now()
    assert clock.steps == 1 and clock.skew == pytest.approx(3600)
    c.wall -= 3600
    clock.now()
    assert clock.skew == 0.0
