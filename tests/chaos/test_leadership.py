"""The leader-kept verdict (chaos.leadership), on synthetic monitor samples."""

from __future__ import annotations

import pytest

from chaos.leadership import SteadyLeader, leader_kept
from chaos.timeline import Sample

EXPECT = SteadyLeader("r1", 3, since=10.0, victim="r2", healed=20.0)


def steady(t: float, name: str, **kw: object) -> Sample:
    base = {"up": True, "role": "leader" if name == "r1" else "follower", "term": 3, "leader": "r1"}
    base.update(kw)
    return Sample(t, name, **base)  # type: ignore[arg-type]


def healthy_run() -> list[Sample]:
    out = []
    for t in (11.0, 15.0, 21.0):
        out += [steady(t, "r1"), steady(t, "r3")]
        out.append(steady(t, "r2") if t < 12 or t > 20 else Sample(t, "r2", False))
    return out


@pytest.mark.parametrize("extra, expected, needle", [
    pytest.param([], True, "rejoined", id="healthy"),
    pytest.param([steady(22.0, "r2", term=4, role="candidate", leader=None)], False, "term 4", id="victim-campaigned"),
    pytest.param([steady(22.0, "r1", role="follower", leader=None)], False, "stepped down", id="leader-stepped-down"),
    pytest.param([steady(22.0, "r3", leader="r2")], False, "follows r2", id="another-leader-followed"),
    pytest.param([steady(5.0, "r2", term=2)], True, "rejoined", id="before-the-fault-ignored"),
    pytest.param([steady(22.0, "r2", leader=None)], True, "rejoined", id="not-yet-contacted-is-fine"),
])
def test_leader_kept(extra: list[Sample], expected: bool, needle: str) -> None:
    v = leader_kept(healthy_run() + extra, EXPECT)
    assert v.ok is expected and needle in (v.summary + " ".join(v.details))


def test_a_victim_never_seen_back_fails() -> None:
    samples = [s for s in healthy_run() if not (s.name == "r2" and s.t > 20)]
    v = leader_kept(samples, EXPECT)
    assert v.ok is False and "never seen" in v.summary


def test_no_samples_is_undecided() -> None:
    assert leader_kept([], EXPECT).ok is None
