"""Pre-vote and check-quorum decisions (haplane.store.prevote): pure, table-driven, times as values."""

from __future__ import annotations

import pytest

from haplane.store.prevote import (
    LogTip,
    Voter,
    leader_has_quorum,
    log_up_to_date,
    pre_vote_granted,
    pre_vote_won,
    silence_after_tick,
)

LEASE = 0.8
NOW = 100.0
TIP = LogTip(5, 10)


def voter(term: int = 5, voted_for: str | None = None, is_leader: bool = False,
          contact: float | None = None, log: LogTip = TIP) -> Voter:
    return Voter(term=term, voted_for=voted_for, is_leader=is_leader, last_leader_contact=contact, log=log)


@pytest.mark.parametrize("candidate, mine, expected", [
    pytest.param(LogTip(5, 10), LogTip(5, 10), True, id="same"),
    pytest.param(LogTip(5, 11), LogTip(5, 10), True, id="longer-same-term"),
    pytest.param(LogTip(5, 9), LogTip(5, 10), False, id="shorter-same-term"),
    pytest.param(LogTip(6, 1), LogTip(5, 10), True, id="later-term-shorter"),
    pytest.param(LogTip(4, 99), LogTip(5, 10), False, id="earlier-term-longer"),
])
def test_log_up_to_date(candidate: LogTip, mine: LogTip, expected: bool) -> None:
    assert log_up_to_date(candidate, mine) is expected


@pytest.mark.parametrize("v, proposed, cand_log, expected, why", [
    pytest.param(voter(), 6, LogTip(5, 10), True, "granted", id="no-leader-heard-up-to-date"),
    pytest.param(voter(is_leader=True), 6, LogTip(5, 10), False, "leader", id="the-leader-refuses"),
    pytest.param(voter(contact=NOW - 0.1), 6, LogTip(5, 10), False, "heard from the leader",
                 id="leader-heard-0.1s-ago"),
    pytest.param(voter(contact=NOW - LEASE + 0.001), 6, LogTip(5, 10), False, "heard from the leader",
                 id="just-inside-the-lease"),
    pytest.param(voter(contact=NOW - LEASE - 0.001), 6, LogTip(5, 10), True, "granted", id="just-past-the-lease"),
    pytest.param(voter(contact=NOW - 30), 6, LogTip(5, 10), True, "granted", id="leader-long-gone"),
    pytest.param(voter(), 6, LogTip(5, 9), False, "log", id="candidate-log-behind"),
    pytest.param(voter(), 6, LogTip(6, 1), True, "granted", id="candidate-log-later-term"),
    pytest.param(voter(term=7), 6, LogTip(5, 10), False, "term", id="proposed-term-behind"),
    pytest.param(voter(term=6, voted_for="b"), 6, LogTip(5, 10), False, "term", id="same-term-voted-other"),
    pytest.param(voter(term=6, voted_for="a"), 6, LogTip(5, 10), True, "granted", id="same-term-voted-it"),
    pytest.param(voter(term=6), 6, LogTip(5, 10), True, "granted", id="same-term-no-vote"),
])
def test_pre_vote_granted(v: Voter, proposed: int, cand_log: LogTip, expected: bool, why: str) -> None:
    granted, reason = pre_vote_granted(candidate="a", proposed_term=proposed, candidate_log=cand_log,
                                       voter=v, now=NOW, lease=LEASE)
    assert granted is expected
    assert why in reason


@pytest.mark.parametrize("granted, assumed, voters, expected", [
    pytest.param([], [], ["b", "c"], False, id="3-alone"),
    pytest.param(["b"], [], ["b", "c"], True, id="3-one-yes"),
    pytest.param([], ["c"], ["b", "c"], True, id="3-older-peer-assumed"),
    pytest.param(["b"], ["b"], ["b", "c"], True, id="3-counted-once"),
    pytest.param(["x"], [], ["b", "c"], False, id="3-yes-from-non-voter"),
    pytest.param(["b"], [], ["b", "c", "d", "e"], False, id="5-one-yes"),
    pytest.param(["b", "c"], [], ["b", "c", "d", "e"], True, id="5-two-yes"),
    pytest.param(["b"], [], ["b", "c", "d"], False, id="4-needs-three"),
    pytest.param(["b", "d"], [], ["b", "c", "d"], True, id="4-three"),
    pytest.param([], [], [], True, id="single-member"),
])
def test_pre_vote_won(granted: list[str], assumed: list[str], voters: list[str], expected: bool) -> None:
    assert pre_vote_won(granted, assumed, voters) is expected


@pytest.mark.parametrize("silence, heard, elapsed, cap, expected", [
    pytest.param({}, ["b", "c"], 0.05, 0.2, {"b": 0.0, "c": 0.0}, id="everyone-answered"),
    pytest.param({"b": 0.5, "c": 0.5}, ["b"], 0.05, 0.2, {"b": 0.0, "c": 0.55}, id="one-silent"),
    pytest.param({"b": 0.5, "c": 0.5}, [], 3.0, 0.2, {"b": 0.7, "c": 0.7}, id="leader-stalled-3s-counts-the-cap"),
    pytest.param({"b": 0.5}, [], -1.0, 0.2, {"b": 0.5, "c": 0.0}, id="clock-never-goes-back-new-voter"),
    pytest.param({"gone": 9.0}, [], 0.1, 0.2, {"b": 0.1, "c": 0.1}, id="removed-member-forgotten"),
])
def test_silence_after_tick(silence: dict, heard: list[str], elapsed: float, cap: float, expected: dict) -> None:
    got = silence_after_tick(silence, heard, ["b", "c"], elapsed, cap)
    assert got == pytest.approx(expected)


@pytest.mark.parametrize("silence, voters, expected", [
    pytest.param({"b": 0.1, "c": 0.1}, ["b", "c"], True, id="all-heard"),
    pytest.param({"b": 0.1, "c": 9.0}, ["b", "c"], True, id="3-one-silent"),
    pytest.param({"b": 1.61, "c": 9.0}, ["b", "c"], False, id="3-both-silent"),
    pytest.param({"b": 1.6, "c": 9.0}, ["b", "c"], True, id="3-at-the-window"),
    pytest.param({"b": 0, "c": 9, "d": 9, "e": 0}, ["b", "c", "d", "e"], True, id="5-two-heard"),
    pytest.param({"b": 0, "c": 9, "d": 9, "e": 9}, ["b", "c", "d", "e"], False, id="5-one-heard"),
    pytest.param({}, [], True, id="single-member"),
])
def test_leader_has_quorum(silence: dict, voters: list[str], expected: bool) -> None:
    assert leader_has_quorum(silence, voters, 1.6) is expected


def test_a_cut_off_leader_steps_down_within_one_window_of_ticks() -> None:
    """Ticks every 50 ms with no answers: the leader loses its quorum after the window, not before."""
    window, tick = 1.6, 0.05
    silence: dict[str, float] = silence_after_tick({}, ["b", "c"], ["b", "c"], 0.0, 0.2)
    t = 0.0
    while leader_has_quorum(silence, ["b", "c"], window):
        t += tick
        silence = silence_after_tick(silence, [], ["b", "c"], tick, 0.2)
    assert window <= t <= window + 2 * tick
