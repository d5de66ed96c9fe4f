from __future__ import annotations

import pytest

from chaos.history import History, Op


def _sample() -> History:
    h = History()
    a = h.invoke(0, "x", "write", 1, now=0.0)
    b = h.invoke(1, "y", "cas", [None, {"v": [1, 2]}], now=0.5)
    h.complete(a, "ok", now=1.0)
    h.complete(b, "unknown", error="timeout", now=2.0)
    c = h.invoke(0, "x", "read", now=3.0)
    h.complete(c, "ok", output=1, now=4.0)
    d = h.invoke(1, "x", "cas", (1, 2), now=5.0)
    h.complete(d, "fail", error="409 Conflict", now=6.0)
    h.invoke(2, "y", "read", now=7.0)  # left open: the run was cut short
    return h


def test_invoke_and_complete_record_times_and_outcomes() -> None:
    h = _sample()
    a, b, c, d, e = h.ops
    assert (a.invoke_t, a.complete_t, a.result) == (0.0, 1.0, "ok")
    assert b.value == (None, {"v": [1, 2]}) and b.complete_t is None and b.error == "timeout"
    assert c.output == 1 and d.result == "fail"
    assert e.result == "unknown" and e.complete_t is None
    assert [op.id for op in h.ops] == [0, 1, 2, 3, 4]


def test_by_key_groups_in_order() -> None:
    groups = _sample().by_key()
    assert {k: [op.id for op in v] for k, v in groups.items()} == {"x": [0, 2, 3], "y": [1, 4]}


def test_summary_counts() -> None:
    s = _sample().summary()
    assert (s["ops"], s["keys"], s["open"]) == (5, 2, 1)
    assert (s["ok"], s["fail"], s["unknown"]) == (2, 1, 2)
    assert (s["read"], s["write"], s["cas"]) == (2, 1, 2)
    assert (s["cas_fail"], s["cas_unknown"], s["read_unknown"]) == (1, 1, 1)


def test_jsonl_round_trip(tmp_path) -> None:
    h = _sample()
    path = tmp_path / "h.jsonl"
    h.to_jsonl(path)
    back = History.from_jsonl(path)
    assert back.ops == h.ops
    assert isinstance(back.ops[1].value, tuple)


@pytest.mark.parametrize(
    "misuse",
    [
        pytest.param(lambda h, op: h.invoke(0, "x", "read", now=1.0), id="second-open-op-same-process"),
        pytest.param(lambda h, op: h.invoke(1, "x", "delete", now=1.0), id="unknown-function"),
        pytest.param(lambda h, op: h.complete(op, "maybe", now=1.0), id="unknown-result"),
        pytest.param(lambda h, op: (h.complete(op, "ok", now=1.0), h.complete(op, "ok", now=2.0)),
                     id="complete-twice"),
    ],
)
def test_misuse_raises(misuse) -> None:
    h = History()
    op = h.invoke(0, "x", "write", 1, now=0.0)
    with pytest.raises(ValueError):
        misuse(h, op)


def test_default_clock_is_monotonic() -> None:
    h = History()
    op = h.invoke(0, "x", "read")
    h.complete(op, "ok", output=None)
    assert isinstance(op, Op) and op.complete_t is not None and op.complete_t >= op.invoke_t
