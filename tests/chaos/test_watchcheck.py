"""The watch-stream verdicts on synthetic streams: good ones, reordered, duplicated, gapped,
phantom events, 410 relists."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from chaos.history import History, Op
from chaos.watchcheck import (
    COMPLETE,
    ORDERED,
    VALID,
    Seen,
    Span,
    Version,
    WatchStream,
    check_watches,
    reached,
    spans,
)

REGISTERS = ["reg-0", "reg-1"]
START = 10


@dataclass
class Create:
    process: int
    name: str
    result: str
    invoke_t: float


def history() -> History:
    ops = [
        Op(0, "reg-0", "write", "0.1", 1.0, 2.0, "ok"),
        Op(1, "reg-1", "write", "1.1", 1.5, 2.5, "ok"),
        Op(0, "reg-0", "cas", ("0.1", "0.2"), 3.0, None, "unknown"),  # landed at rv 15; no answer
        Op(1, "reg-1", "write", "1.2", 3.0, 3.2, "fail"),              # definitely not applied
        Op(0, "reg-0", "write", "0.3", 4.0, 5.0, "ok"),
        Op(1, "reg-1", "write", "1.3", 4.0, None, "unknown"),          # never landed
        Op(2, "reg-1", "read", None, 6.0, 6.1, "ok", output="1.1"),
    ]
    for i, op in enumerate(ops):
        op.id = i
    return History(ops)


CREATES = [Create(500, "obj-a", "ok", 1.0), Create(500, "obj-b", "unknown", 2.0),
           Create(501, "obj-c", "fail", 2.5)]

# What really happened after the start revision (10), one change per revision:
CHANGES = {11: ("ADDED", "obj-a", "obj-a", 1.2), 12: ("MODIFIED", "reg-0", "0.1", 2.1),
           13: ("MODIFIED", "reg-1", "1.1", 2.6), 14: ("ADDED", "obj-b", "obj-b", 2.8),
           15: ("MODIFIED", "reg-0", "0.2", 3.5), 16: ("MODIFIED", "reg-0", "0.3", 4.5)}

# What the clients saw: the answers of the ok ops, a read, and the final list (obj-a, obj-b).
VERSIONS = [Version(11, "obj-a", "obj-a", "answer to create obj-a"), Version(12, "reg-0", "0.1", "answer to #0"),
            Version(13, "reg-1", "1.1", "answer to #1"), Version(16, "reg-0", "0.3", "answer to #4"),
            Version(13, "reg-1", "1.1", "read #6"), Version(11, "obj-a", "obj-a", "final list via r1"),
            Version(14, "obj-b", "obj-b", "final list via r1")]


def ev(rv: int, t: float | None = None) -> Seen:
    typ, name, value, at = CHANGES[rv]
    return Seen(at if t is None else t, typ, rv, name, value)


def bookmark(rv: int, t: float = 9.0) -> Seen:
    return Seen(t, "BOOKMARK", rv)


def resume(rv: int, t: float) -> Seen:
    return Seen(t, "RESUME", rv, detail="connection reset")


def gone(t: float) -> Seen:
    return Seen(t, "GONE", None, detail="too old resource version")


def relist(rv: int, t: float) -> Seen:
    items = [[name, r, value] for r, (_, name, value, _) in CHANGES.items() if r <= rv]
    latest: dict[str, list] = {}
    for item in items:
        latest[item[0]] = item
    return Seen(t, "RELIST", rv, items=list(latest.values()))


def everything() -> list[Seen]:
    return [ev(rv) for rv in sorted(CHANGES)] + [bookmark(20)]


def stream(name: str, records: list[Seen], target: int | None = 16) -> WatchStream:
    return WatchStream(name, name.removeprefix("watch-"), START, records, target_rv=target)


def verdicts(*streams: WatchStream, versions: list[Version] = VERSIONS) -> dict[str, bool | None]:
    return {v.name: v.ok for v in check_watches(list(streams), history(), CREATES, REGISTERS, versions)}


GOOD = {ORDERED: True, COMPLETE: True, VALID: True}


def phantom(typ: str, name: str, value: str, rv: int = 17, t: float = 8.0) -> list[Seen]:
    return [*everything()[:-1], Seen(t, typ, rv, name, value), bookmark(20)]


@pytest.mark.parametrize(("records", "want"), [
    pytest.param(everything(), GOOD, id="good"),
    pytest.param([ev(11), ev(12), ev(13), resume(13, 2.7), ev(14), ev(15), ev(16)], GOOD, id="good-resumed"),
    pytest.param([ev(11), ev(12), gone(2.7), relist(15, 3.6), ev(16)], GOOD, id="good-410-relist"),
    pytest.param([ev(11), gone(1.5), relist(12, 2.2), resume(12, 2.3), gone(2.4), relist(14, 3.0), ev(15), ev(16)],
                 GOOD, id="good-two-relists"),
    pytest.param([ev(11), ev(12), ev(13), ev(14), ev(16), bookmark(20)], GOOD,
                 id="good-unknown-cas-nobody-saw"),
    pytest.param([ev(11), ev(13), ev(12), ev(14), ev(15), ev(16)], {**GOOD, ORDERED: False}, id="reordered"),
    pytest.param([ev(11), ev(12), ev(12), ev(13), ev(14), ev(15), ev(16)], {**GOOD, ORDERED: False},
                 id="duplicated"),
    pytest.param([ev(11), ev(12), ev(13), resume(12, 2.7), ev(13, 2.75), ev(14), ev(15), ev(16)],
                 {**GOOD, ORDERED: False}, id="duplicated-across-resume"),
    pytest.param([ev(11), bookmark(13, 2.0), ev(12, 2.1), ev(14), ev(15), ev(16)],
                 {**GOOD, ORDERED: False, COMPLETE: False}, id="event-below-bookmark"),
    pytest.param([*everything()[:-1], bookmark(14, 5.0)], {**GOOD, ORDERED: False}, id="bookmark-went-back"),
    pytest.param([ev(11), ev(12), ev(13), gone(2.7), relist(12, 2.8), ev(13, 2.9), ev(14), ev(15), ev(16)],
                 {**GOOD, ORDERED: False}, id="relist-went-back"),
    pytest.param([ev(11), ev(12), ev(14), ev(15), ev(16)], {**GOOD, COMPLETE: False}, id="gap-acked-write"),
    pytest.param([ev(11), ev(12), ev(13), ev(15), ev(16)], {**GOOD, COMPLETE: False},
                 id="gap-unknown-create-in-final-list"),
    pytest.param([ev(11), ev(12), ev(13), resume(13, 2.7), ev(15), ev(16)], {**GOOD, COMPLETE: False},
                 id="gap-across-resume"),
    pytest.param([ev(11), ev(12), ev(13), ev(14), bookmark(16, 5.0)], {**GOOD, COMPLETE: False},
                 id="bookmark-past-a-missing-event"),
    pytest.param([ev(11), ev(12), ev(13)], {**GOOD, COMPLETE: False}, id="never-caught-up"),
    pytest.param([ev(11), ev(12), gone(2.7)], {**GOOD, COMPLETE: False}, id="410-never-relisted"),
    pytest.param(phantom("MODIFIED", "reg-0", "zz"), {**GOOD, VALID: False}, id="phantom-value-nobody-wrote"),
    pytest.param(phantom("MODIFIED", "reg-1", "1.2"), {**GOOD, VALID: False}, id="phantom-failed-write"),
    pytest.param(phantom("ADDED", "obj-c", "obj-c"), {**GOOD, VALID: False}, id="phantom-failed-create"),
    pytest.param(phantom("ADDED", "obj-x", "obj-x"), {**GOOD, VALID: False}, id="phantom-object-nobody-created"),
    pytest.param(phantom("DELETED", "obj-a", "obj-a"), {**GOOD, VALID: False}, id="phantom-delete"),
    pytest.param(phantom("ADDED", "reg-1", "1.3"), {**GOOD, VALID: False}, id="register-added"),
    pytest.param(phantom("ADDED", "obj-b", "other"), {**GOOD, VALID: False}, id="create-wrong-value"),
    pytest.param([*everything()[:-2], ev(16, t=3.9)], {**GOOD, VALID: False}, id="received-before-sent"),
    pytest.param([*everything()[:-2], Seen(4.5, "MODIFIED", 17, "reg-0", "0.3")],
                 {**GOOD, VALID: False, COMPLETE: False}, id="change-at-wrong-revision"),
])
def test_one_stream(records: list[Seen], want: dict[str, bool]) -> None:
    assert verdicts(stream("watch-r1", records)) == want


def test_an_unknown_write_one_watcher_saw_is_required_of_the_others() -> None:
    """The CAS at 15 has no answer; watch-r1 saw it, so a watch-r2 that covers 15 must have it too."""
    without_15 = [ev(11), ev(12), ev(13), ev(14), ev(16)]
    assert verdicts(stream("watch-r1", everything()), stream("watch-r2", without_15))[COMPLETE] is False
    # ... unless watch-r2's span did not cover it (a 410 excused it)
    relisted = [ev(11), ev(12), ev(13), ev(14), gone(3.0), relist(15, 4.0), ev(16)]
    assert verdicts(stream("watch-r1", everything()), stream("watch-r2", relisted)) == GOOD


def test_two_watchers_disagreeing_on_a_revision() -> None:
    other = [*everything()[:4], Seen(4.2, "MODIFIED", 15, "reg-1", "1.3"), ev(16)]
    vs = {v.name: v for v in check_watches([stream("watch-r1", everything()), stream("watch-r2", other)],
                                           history(), CREATES, REGISTERS, VERSIONS)}
    assert vs[VALID].ok is False and vs[ORDERED].ok is True
    assert any(d.startswith("revision 15 is two changes") for d in vs[VALID].details), vs[VALID].details
    assert "  watch-r2 (via r2):" in vs[VALID].details  # the minority's events around it
    assert any(d.startswith("  > ") and "rv=15 reg-1='1.3'" in d for d in vs[VALID].details)


def test_details_show_the_events_around_a_gap() -> None:
    vs = {v.name: v for v in check_watches([stream("watch-r2", [ev(11), ev(12), ev(14), ev(15), ev(16)])],
                                           history(), CREATES, REGISTERS, VERSIONS)}
    text = "\n".join(vs[COMPLETE].details)
    assert "watch-r2: missing rv 13 reg-1='1.1' (known from answer to #1, read #6)" in text
    assert "rv=12 reg-0='0.1'" in text and "rv=14 obj-b='obj-b'" in text
    assert vs[ORDERED].data["streams"]["watch-r2"]["missing"] == 1


def test_spans_and_reached() -> None:
    s = stream("watch-r1", [ev(11), bookmark(12, 2.0), resume(12, 2.1), ev(13), gone(2.7), ev(14),
                            relist(15, 3.6), ev(16)])
    assert spans(s) == [Span(10, 13, 0, 6), Span(15, 16, 7, 8)]
    assert reached(s) == 16
    assert reached(stream("watch-r1", [])) == START


def test_no_streams_is_undecided() -> None:
    assert set(verdicts().values()) == {None}


def test_stream_round_trips_through_json() -> None:
    s = stream("watch-*", [ev(11), relist(12, 2.0)])
    assert WatchStream.from_doc(s.to_doc()) == s
