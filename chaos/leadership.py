"""The ``leader-kept`` verdict: a fault that should not disturb the leader did not (pure).

Scenarios that hit a *follower* (paused, cut off, restarted) expect the leader of the moment
the fault began to lead, at the same term, until the run's last sample: with pre-vote and
check-quorum (haplane/store/prevote.py) a rejoining follower must not raise the term or depose
a healthy leader. Terms never go back, so a 4 Hz sample stream sees any election that happened
in between (a later sample shows the higher term), however short it was.

The victim must also be seen rejoined: at least one sample of it, after its fault ended, at the
leader's term naming that leader — otherwise "no term change" could just mean it never came back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from chaos.invariants import Verdict
from chaos.timeline import Sample

NAME = "leader-kept"


@dataclass(frozen=True)
class SteadyLeader:
    """What a scenario expects: ``leader`` leads at ``term`` from ``since`` on; ``victim`` (the
    follower hit) rejoins after ``healed`` (None: the heal time is not known yet)."""

    leader: str
    term: int
    since: float
    victim: str
    healed: float | None = None


def leader_kept(samples: Iterable[Sample], expect: SteadyLeader, t0: float = 0.0) -> Verdict:
    """Judge the monitor's samples against ``expect`` (times are monotonic; ``t0`` for reports)."""
    problems: list[str] = []
    rejoined = False
    seen = 0
    for s in samples:
        if s.t < expect.since or not s.up:
            continue
        seen += 1
        at = f"+{s.t - t0:.2f}s {s.name}"
        if s.term != expect.term:
            problems.append(f"{at}: term {s.term} (expected {expect.term})")
        elif s.name == expect.leader and s.role != "leader":
            problems.append(f"{at}: the leader is {s.role} (stepped down)")
        elif s.name != expect.leader and (s.role == "leader" or s.leader not in (None, expect.leader)):
            problems.append(f"{at}: role {s.role}, follows {s.leader} (expected {expect.leader})")
        elif (s.name == expect.victim and expect.healed is not None and s.t >= expect.healed
              and s.leader == expect.leader):
            rejoined = True
    if problems:
        return Verdict(NAME, False, f"{len(problems)} sample(s) show another term or leader than "
                       f"{expect.leader} at term {expect.term}; first: {problems[0]}", problems[:50])
    if seen == 0:
        return Verdict(NAME, None, "no sample of any replica after the fault began")
    if not rejoined:
        return Verdict(NAME, False, f"{expect.victim} was never seen following {expect.leader} at term "
                       f"{expect.term} after its fault ended")
    return Verdict(NAME, True, f"{expect.leader} led at term {expect.term} throughout ({seen} samples); "
                   f"{expect.victim} rejoined without an election")
