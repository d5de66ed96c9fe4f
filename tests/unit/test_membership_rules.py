"""The leader's pre-conditions for membership changes (pure functions of its replication view)."""

from __future__ import annotations

import pytest

from haplane.api.membership import CATCH_UP_SLACK, add_refusal, majority, remove_refusal

ME = "10.0.0.1:7100"


def progress(commit: int, **peers: tuple[bool, int]) -> dict:
    return {"commitIndex": commit, "appliedIndex": commit, "leader": True,
            "peers": {f"10.0.0.{k[1:]}:7100": {"connected": c, "matchIndex": m} for k, (c, m) in peers.items()}}


@pytest.mark.parametrize(("prog", "refused", "why"), [
    pytest.param(progress(100, p2=(True, 100), p3=(True, 99)), False, "", id="healthy-3"),
    pytest.param(progress(1000, p2=(True, 1000), p3=(True, 1000 - CATCH_UP_SLACK)), False, "", id="within-slack"),
    pytest.param(progress(100, p2=(True, 100), p3=(False, 100)), True, "Remove the dead member first",
                 id="dead-member-3"),
    pytest.param(progress(1000, p2=(True, 1000), p3=(True, 1000), p4=(True, 0)), True, "still catching up",
                 id="previous-newcomer-behind"),
    pytest.param(progress(500, p2=(True, 500), p3=(True, 500), p4=(False, 3), p5=(True, 500)), False, "",
                 id="5-with-one-dead"),
    pytest.param(progress(500, p2=(True, 500), p3=(False, 1), p4=(False, 3), p5=(True, 500)), True,
                 "only 3 of 5", id="5-with-two-dead"),
    pytest.param(progress(7), False, "", id="single-member"),
])
def test_add_refusal(prog: dict, refused: bool, why: str) -> None:
    got = add_refusal(prog)
    assert (got is not None) == refused, got
    if refused:
        assert why in got


# Promoting a learner: it counts as up to date if it is, so a caught-up learner can replace a
# dead member before its removal (3 of the 4-member configuration are up).
@pytest.mark.parametrize(("prog", "newcomer", "refused"), [
    pytest.param(progress(100, p2=(True, 100), p3=(False, 100)), {"connected": True, "matchIndex": 100}, False,
                 id="dead-member-caught-up-learner"),
    pytest.param(progress(500, p2=(True, 500), p3=(False, 100)), {"connected": True, "matchIndex": 10}, True,
                 id="dead-member-lagging-learner"),
    pytest.param(progress(100, p2=(False, 1), p3=(False, 1)), {"connected": True, "matchIndex": 100}, True,
                 id="two-dead-of-three"),
    pytest.param(progress(100, p2=(True, 100), p3=(True, 100)), {"connected": True, "matchIndex": 100}, False,
                 id="healthy"),
    pytest.param(progress(100, p2=(True, 100), p3=(True, 100)), None, False, id="no-newcomer"),
])
def test_add_refusal_with_a_learner(prog: dict, newcomer: dict | None, refused: bool) -> None:
    assert (add_refusal(prog, newcomer=newcomer) is not None) == refused


@pytest.mark.parametrize(("prog", "target", "refused"), [
    pytest.param(progress(100, p2=(True, 100), p3=(True, 100)), "10.0.0.3:7100", False, id="healthy-3-to-2"),
    pytest.param(progress(100, p2=(True, 100), p3=(False, 5)), "10.0.0.3:7100", False, id="remove-the-dead-one"),
    pytest.param(progress(100, p2=(False, 100), p3=(True, 100)), "10.0.0.3:7100", True,
                 id="would-leave-a-dead-and-me"),
    pytest.param(progress(100, p2=(True, 100), p3=(True, 100)), ME, False, id="remove-myself-3-to-2"),
    pytest.param(progress(100, p2=(True, 100), p3=(False, 0)), ME, True, id="remove-myself-with-a-dead-peer"),
    pytest.param(progress(100, p2=(True, 100)), "10.0.0.2:7100", False, id="2-to-1"),
])
def test_remove_refusal(prog: dict, target: str, refused: bool) -> None:
    assert (remove_refusal(prog, target, ME) is not None) == refused


def test_majority() -> None:
    assert [majority(n) for n in range(1, 7)] == [1, 2, 2, 3, 3, 4]
