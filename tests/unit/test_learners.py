"""The learner rules (pure): lag, the promotion decision over a series of samples, the role shown."""

from __future__ import annotations

import pytest

from haplane.learners import PROMOTE_LAG, PROMOTE_SUSTAIN, CatchUp, lag, promotion_step, role_of


@pytest.mark.parametrize(("commit", "match", "want"), [
    (100, 100, 0), (100, 40, 60), (100, 120, 0), (None, 5, None), (5, None, None), (0, 0, 0)])
def test_lag(commit, match, want) -> None:  # noqa: ANN001
    assert lag(commit, match) == want


# Each sample: (time, connected, lag); the decision after each one.
@pytest.mark.parametrize(("samples", "decisions"), [
    pytest.param([(0.0, True, 0), (0.5, True, 0), (1.0, True, 0)], [False, False, True], id="caught-up-sustained"),
    pytest.param([(0.0, True, 5000), (0.2, True, 900), (0.4, True, PROMOTE_LAG), (1.5, True, 3)],
                 [False, False, False, True], id="catches-up-then-holds"),
    pytest.param([(0.0, True, 0), (0.9, True, PROMOTE_LAG + 1), (1.1, True, 0), (1.9, True, 0), (2.1, True, 0)],
                 [False, False, False, False, True], id="a-lagging-sample-starts-over"),
    pytest.param([(0.0, True, 0), (0.6, False, None), (1.2, True, 0), (2.2, True, 0)],
                 [False, False, False, True], id="disconnect-starts-over"),
    pytest.param([(0.0, True, None), (5.0, True, None)], [False, False], id="match-unknown"),
    pytest.param([(0.0, True, 0), (PROMOTE_SUSTAIN - 0.01, True, 0)], [False, False], id="not-long-enough"),
    pytest.param([(0.0, True, 0)], [False], id="one-sample-is-never-enough"),
])
def test_promotion_step(samples: list, decisions: list) -> None:
    state = CatchUp()
    got = []
    for now, connected, behind in samples:
        step = promotion_step(state, now=now, connected=connected, lag_entries=behind)
        state = step.state
        got.append(step.promote)
        assert step.why
    assert got == decisions


def test_promotion_thresholds_are_parameters() -> None:
    step = promotion_step(CatchUp(0.0, 1), now=0.1, connected=True, lag_entries=500, max_lag=1000, sustain=0.1)
    assert step.promote
    assert not promotion_step(CatchUp(0.0, 1), now=0.1, connected=True, lag_entries=500, max_lag=10,
                              sustain=0.1).promote


@pytest.mark.parametrize(("voter", "leader", "want"), [
    (True, True, "leader"), (True, False, "follower"), (False, False, "learner")])
def test_role_of(voter: bool, leader: bool, want: str) -> None:
    assert role_of(voter=voter, leader=leader) == want
