from __future__ import annotations

import itertools
import random
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from chaos.checker import check_history, check_no_lost_writes, check_register, verdict
from chaos.history import History, Op

_ids = iter(range(10**9))


def _op(p: int, f: str, value: Any, t0: float, t1: float | None, result: str, output: Any = None,
        key: str = "k") -> Op:
    return Op(p, key, f, value, t0, None if result == "unknown" else t1, result, output, id=next(_ids))


def w(p: int, v: Any, t0: float, t1: float | None = None, result: str = "ok", key: str = "k") -> Op:
    return _op(p, "write", v, t0, t1, result, key=key)


def r(p: int, out: Any, t0: float, t1: float | None = None, result: str = "ok", key: str = "k") -> Op:
    return _op(p, "read", None, t0, t1, result, out if result == "ok" else None, key=key)


def cas(p: int, e: Any, n: Any, t0: float, t1: float | None = None, result: str = "ok",
        key: str = "k") -> Op:
    return _op(p, "cas", (e, n), t0, t1, result, key=key)


CASES = [
    pytest.param([], True, id="empty"),
    pytest.param([r(0, None, 0, 1)], True, id="read-initial"),
    pytest.param([w(0, 1, 0, 1), r(0, 1, 2, 3), w(1, 2, 4, 5), r(2, 2, 6, 7)], True, id="sequential-ok"),
    pytest.param([w(0, 1, 0, 10), r(1, 1, 1, 2)], True, id="overlap-read-sees-new"),
    pytest.param([w(0, 1, 0, 10), r(1, None, 1, 2)], True, id="overlap-read-sees-old"),
    pytest.param([w(0, 1, 0, 1), r(1, None, 1, 2)], True, id="touching-intervals-are-concurrent"),
    pytest.param([w(0, 1, 0, 1), w(0, 2, 2, 3), r(1, 1, 4, 5)], False, id="stale-read-after-acked-write"),
    pytest.param([w(0, 1, 0, 1), r(1, None, 2, 3)], False, id="read-initial-after-acked-write"),
    pytest.param([w(0, 1, 0, 1), r(1, 7, 2, 3)], False, id="read-never-written"),
    pytest.param([r(1, 7, 0, 10), w(0, 7, 11, 12)], False, id="read-before-write-invoked"),
    pytest.param([w(0, 1, 0, 1), w(1, 2, 2, 20), r(2, 2, 3, 4), r(2, 1, 5, 6)], False,
                 id="read-goes-back-in-time"),
    pytest.param([w(0, 1, 0, 10), w(1, 2, 0, 10), r(2, 1, 1, 2), r(2, 2, 3, 4)], True,
                 id="concurrent-writes-order-1-2"),
    pytest.param([w(0, 1, 0, 10), w(1, 2, 0, 10), r(2, 2, 1, 2), r(2, 1, 3, 4)], True,
                 id="concurrent-writes-order-2-1"),
    pytest.param([w(0, 1, 0, 10), w(1, 2, 0, 10), r(2, 2, 1, 2), r(2, 1, 3, 4), r(2, 2, 5, 6)], False,
                 id="concurrent-writes-flip-flop"),
    pytest.param([w(0, 0, 0, 1), cas(0, 0, 1, 2, 3), cas(1, 1, 2, 4, 5), r(2, 2, 6, 7)], True,
                 id="cas-chain"),
    pytest.param([cas(0, None, 1, 0, 1), r(0, 1, 2, 3)], True, id="cas-create-from-absent"),
    pytest.param([w(0, 0, 0, 1), cas(0, 5, 6, 2, 3)], False, id="ok-cas-from-wrong-state"),
    pytest.param([w(0, 0, 0, 1), cas(0, 0, 1, 2, 3), cas(1, 0, 2, 4, 5)], False, id="cas-double-success"),
    pytest.param([w(0, 0, 0, 1), cas(0, 0, 1, 2, 3), cas(1, 0, 2, 4, 5, "fail"), r(2, 1, 6, 7)], True,
                 id="cas-chain-with-failed-cas"),
    pytest.param([w(0, 0, 0, 1), cas(0, 0, 1, 2, 3, "fail"), r(1, 1, 4, 5)], False,
                 id="failed-cas-shows-up"),
    pytest.param([w(0, 1, 0, 1, "fail"), r(1, 1, 2, 3)], False, id="failed-write-shows-up"),
    pytest.param([w(0, 1, 0, 1), w(1, 2, 2, None, "unknown"), r(2, 2, 50, 51)], True,
                 id="unknown-write-shows-up-later"),
    pytest.param([w(0, 1, 0, 1), w(1, 2, 2, None, "unknown"), r(2, 1, 3, 4), r(2, 1, 50, 51)], True,
                 id="unknown-write-never-shows"),
    pytest.param([w(0, 1, 0, 1), w(1, 2, 2, None, "unknown"), r(2, 2, 3, 4), r(2, 1, 5, 6)], False,
                 id="unknown-write-shows-then-vanishes"),
    pytest.param([w(0, 1, 0, 1), w(1, 2, 2, None, "unknown"), r(2, 2, 0, 1)], False,
                 id="unknown-write-seen-before-invoked"),
    pytest.param([w(0, 1, 0, 1), w(1, 1, 2, None, "unknown"), w(2, 2, 3, 4), r(2, 1, 5, 6)], True,
                 id="unknown-duplicate-value-lands-late"),
    pytest.param([w(0, 1, 0, 1), w(2, 2, 3, 4), r(2, 1, 5, 6)], False, id="same-without-unknown"),
    pytest.param([w(0, 0, 0, 1), cas(1, 0, 1, 2, None, "unknown"), r(2, 1, 3, 4)], True,
                 id="unknown-cas-applies"),
    pytest.param([w(0, 0, 0, 1), cas(1, 5, 1, 2, None, "unknown"), r(2, 1, 3, 4)], False,
                 id="unknown-cas-with-false-precondition-shows"),
    pytest.param([w(0, 1, 0, 1), r(1, None, 2, None, "unknown")], True, id="unknown-read-dropped"),
    pytest.param([w(0, {"a": [1, 2]}, 0, 1), r(1, {"a": (1, 2)}, 2, 3)], True, id="structured-values"),
]


@pytest.mark.parametrize(("ops", "expected"), CASES)
def test_check_register(ops: list[Op], expected: bool) -> None:
    res = check_register(ops)
    assert res.ok is expected, str(res)
    # Linearizability does not depend on the order ops were recorded in.
    assert check_register(list(reversed(ops))).ok is expected


def test_failure_explains_longest_prefix_and_culprit() -> None:
    ops = [w(0, 1, 0, 1), w(0, 2, 2, 3), r(1, 1, 4, 5)]
    res = check_register(ops, key="cm")
    assert res.ok is False and res.key == "cm"
    assert [op.id for op in res.prefix] == [ops[0].id, ops[1].id]
    assert res.state == 2 and res.failed_op is ops[2]
    text = str(res)
    assert "NOT linearizable" in text and "could not place" in text and f"#{ops[2].id}" in text


def test_initial_value() -> None:
    assert check_register([r(0, "seed", 0, 1)], initial="seed").ok is True
    assert check_register([r(0, "seed", 0, 1)]).ok is False


def test_check_history_is_per_key_and_verdict() -> None:
    h = History([w(0, 1, 0, 1, key="a"), r(1, 1, 2, 3, key="a"), w(0, 1, 0, 1, key="b"), r(1, None, 2, 3, key="b")])
    results = check_history(h)
    assert {k: v.ok for k, v in results.items()} == {"a": True, "b": False}
    assert verdict(results) is False
    assert verdict({"a": results["a"]}) is True


def _hard_history() -> list[Op]:
    # Unknown writes of values written twice, all still observable at the end: their
    # subsets are distinct search states, and the impossible read forces visiting them all.
    ops = [w(i, i // 2, i, None, "unknown") for i in range(28)]
    ops += [r(99, v, 100 + 2 * v, 101 + 2 * v) for v in range(14)]
    ops += [r(99, "never-written", 200, 201)]
    return ops + [r(99, v, 300 + 2 * v, 301 + 2 * v) for v in range(14)]


def test_budget_exhausted_returns_unknown() -> None:
    res = check_register(_hard_history(), max_steps=2_000)
    assert res.ok is None and "budget" in str(res)
    t0 = time.monotonic()
    res = check_register(_hard_history(), budget_s=0.3)
    assert res.ok is None and time.monotonic() - t0 < 10
    assert verdict({"k": res}) is False


@pytest.mark.parametrize(
    ("ops", "final", "expected"),
    [
        pytest.param([w(0, 1, 0, 1), w(0, 2, 2, 3)], 2, True, id="last-acked-write-survives"),
        pytest.param([w(0, 1, 0, 1), w(0, 2, 2, 3)], 1, False, id="lost-acked-write"),
        pytest.param([w(0, 1, 0, 1), w(0, 2, 2, 3)], None, False, id="key-vanished"),
        pytest.param([w(0, 1, 0, 10), w(1, 2, 2, 3)], 1, True, id="concurrent-writes-either-last"),
        pytest.param([w(0, 1, 0, 1), w(1, 2, 2, None, "unknown")], 2, True, id="unknown-write-last"),
        pytest.param([w(0, 1, 0, 1), w(1, 2, 2, None, "unknown")], 1, True, id="unknown-write-never-applied"),
        pytest.param([w(0, 1, 0, 1), w(1, 2, 2, 3, "fail")], 2, False, id="failed-write-applied"),
        pytest.param([w(0, 0, 0, 1), cas(0, 0, 5, 2, 3)], 5, True, id="cas-last"),
        pytest.param([], None, True, id="never-written-absent"),
        pytest.param([w(0, 1, 0, 1, "unknown")], None, True, id="only-unknown-write-absent"),
    ],
)
def test_check_no_lost_writes(ops: list[Op], final: Any, expected: bool) -> None:
    res = check_no_lost_writes(ops, {"k": final})
    assert res.ok is expected, str(res)
    if not expected:
        assert res.key == "k" and "k" in res.message


# --- generated histories: execute against a real sequential register ----------------------------

def simulate(rng: random.Random, n_ops: int, n_proc: int, unique: bool, p_unknown: float,
             key: str = "k") -> tuple[list[Op], Any]:
    """Ops whose intervals contain their true linearization point; returns (ops, final value)."""
    clock = [0.0] * n_proc
    plans = []
    fresh = iter(range(1000, 10**9))
    for i in range(n_ops):
        p = rng.randrange(n_proc)
        start = clock[p] + rng.choice([1, 1, 2, 5])  # ops of one process never touch
        end = start + rng.choice([0, 1, 3, 10])
        clock[p] = end
        f = rng.choices(["read", "write", "cas"], [5, 3, 2])[0]
        fate = rng.choices(["ok", "unknown-applied", "unknown-lost", "fail"],
                           [1 - p_unknown, p_unknown / 2, p_unknown / 2, 0.05])[0]
        lin = start + rng.random() * (end - start)
        if fate == "unknown-applied":
            lin = start + rng.random() * 40  # may land long after the client gave up
        plans.append((lin, i, p, f, start, end, fate))
    state: Any = None
    written: list[Any] = [None]
    ops: list[Op] = []
    for _lin, i, p, f, start, end, fate in sorted(plans):
        new = next(fresh) if unique else rng.randrange(4)
        value: Any = None if f == "read" else new if f == "write" else (rng.choice(written), new)
        op = Op(p, key, f, value, float(start), float(end), "ok", id=i)
        if fate in ("unknown-lost", "fail") and f != "read":
            op.result = "unknown" if fate == "unknown-lost" else "fail"
        elif f == "read":
            op.output = state
            if fate != "ok":
                op.result, op.output = "unknown", None
        elif f == "cas" and state != value[0]:
            op.result = "fail" if fate != "unknown-applied" else "unknown"
        else:
            state = new
            written.append(new)
            if fate == "unknown-applied":
                op.result = "unknown"
        if op.result == "unknown":
            op.complete_t = None
        ops.append(op)
    ops.sort(key=lambda o: o.id)
    return ops, state


histories = st.builds(
    simulate, st.randoms(use_true_random=False), st.integers(0, 30), st.integers(1, 5), st.booleans(),
    st.sampled_from([0.0, 0.1, 0.3]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories)
def test_executed_histories_are_linearizable(generated: tuple[list[Op], Any]) -> None:
    ops, final = generated
    res = check_register(ops)
    assert res.ok is True, str(res)
    assert check_no_lost_writes(ops, {"k": final}).ok is True


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories, st.data())
def test_read_of_never_written_value_is_caught(generated: tuple[list[Op], Any], data: st.DataObject) -> None:
    ops, _ = generated
    reads = [op for op in ops if op.f == "read" and op.result == "ok"]
    assume(reads)
    data.draw(st.sampled_from(reads)).output = "never-written"
    assert check_register(ops).ok is False


@pytest.mark.parametrize(
    ("unique", "p_unknown", "mutate"),
    [
        pytest.param(True, 0.05, False, id="unique-values"),
        pytest.param(True, 0.2, False, id="unique-values-many-unknown"),
        pytest.param(True, 0.2, True, id="unique-values-many-unknown-violation"),
        pytest.param(False, 0.0, False, id="repeated-values"),
        pytest.param(False, 0.0, True, id="repeated-values-violation"),
    ],
)
def test_performance_2000_ops_8_processes(unique: bool, p_unknown: float, mutate: bool) -> None:
    ops, _ = simulate(random.Random(7), 2000, 8, unique, p_unknown)
    if mutate:
        reads = [op for op in ops if op.f == "read" and op.result == "ok"]
        reads[len(reads) * 3 // 4].output = "never-written"
    t0 = time.monotonic()
    res = check_register(ops, budget_s=60)
    elapsed = time.monotonic() - t0
    assert res.ok is (not mutate), str(res)
    assert elapsed < 20, f"{elapsed:.1f}s"


def brute_force(ops: list[Op], initial: Any = None) -> bool:
    """Reference: try every subset of unknown ops and every order that respects real time."""
    live = [op for op in ops if op.result != "fail" and not (op.f == "read" and op.result != "ok")]
    sure = [op for op in live if op.result == "ok"]
    maybe = [op for op in live if op.result != "ok"]
    end = {op.id: op.complete_t if op.result == "ok" else float("inf") for op in live}

    def run(order: tuple[Op, ...]) -> bool:
        state = initial
        for i, op in enumerate(order):
            if any(end[later.id] < op.invoke_t for later in order[i + 1:]):
                return False
            if op.f == "read" and op.output != state:
                return False
            if op.f == "cas" and op.value[0] != state:
                return False
            state = op.value if op.f == "write" else op.value[1] if op.f == "cas" else state
        return True

    return any(run(order) for k in range(len(maybe) + 1) for extra in itertools.combinations(maybe, k)
               for order in itertools.permutations(sure + list(extra)))


@st.composite
def small_histories(draw: st.DrawFn) -> list[Op]:
    ops = []
    for i in range(draw(st.integers(0, 6))):
        f = draw(st.sampled_from(["read", "write", "cas"]))
        t0 = draw(st.integers(0, 8))
        t1 = t0 + draw(st.integers(0, 6))
        result = draw(st.sampled_from(["ok", "ok", "unknown", "fail"]))
        v = st.sampled_from([None, 1, 2])
        value = None if f == "read" else draw(v) if f == "write" else (draw(v), draw(v))
        output = draw(v) if f == "read" and result == "ok" else None
        ops.append(Op(i, "k", f, value, t0, None if result == "unknown" else t1, result, output, id=i))
    return ops


@settings(max_examples=1500, deadline=None)
@given(small_histories())
def test_agrees_with_brute_force(ops: list[Op]) -> None:
    assert check_register(ops).ok is brute_force(ops)
