"""The run's checks as pure functions: table-driven, on synthetic records."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from chaos.history import History, Op
from chaos.invariants import (
    Mutation,
    QuietWindow,
    adopted,
    converged,
    creates_durable,
    desired_counts_reached,
    linearizable,
    longest_write_gap,
    no_lost_writes,
    no_pods_on_foreign_nodes,
    pods_recovered,
    quiet_windows,
    recovery_times,
    single_running_pod,
    write_recovery,
)
from haplane.control.reconcile.podtemplate import HASH_LABEL, template_hash


def ok(t0: float, t1: float) -> Mutation:
    return Mutation(t0, t1, "ok")


@pytest.mark.parametrize(("muts", "points", "want"), [
    pytest.param([ok(0, 1), ok(5, 6)], [("k", 2.0)], [4.0], id="first-ack-invoked-after"),
    pytest.param([ok(1, 9), ok(3, 4)], [("k", 2.0)], [2.0], id="ignores-op-invoked-before-point"),
    pytest.param([Mutation(3, None, "unknown"), Mutation(3, 4, "fail")], [("k", 2.0)], [None], id="only-acks-count"),
    pytest.param([ok(3, 4), ok(3.5, 3.8)], [("a", 2.0), ("b", 3.5)], [1.8, 0.3], id="earliest-completion"),
    pytest.param([], [], [], id="no-points"),
])
def test_recovery_times(muts: list[Mutation], points: list, want: list) -> None:
    got = [d for _, _, d in recovery_times(muts, points)]
    if None in want:
        assert got == want
    else:
        assert got == pytest.approx(want)


def test_longest_gap_discounts_declared_outages() -> None:
    muts = [ok(0, 1), ok(0, 2), ok(0, 10), ok(0, 11)]
    assert longest_write_gap(muts, 0, 12) == (8.0, 2.0)
    gap, _ = longest_write_gap(muts, 0, 12, [(3.0, 9.0)])
    assert gap == pytest.approx(2.0)
    gap, _ = longest_write_gap(muts, 0, 12, [(3.0, 6.0), (5.0, 9.0)])  # overlapping outages merge
    assert gap == pytest.approx(2.0)
    assert longest_write_gap([], 0, 5) == (5.0, 0)


@pytest.mark.parametrize(("muts", "bound", "verdict"), [
    pytest.param([ok(0, 0.5), ok(2.5, 3), ok(3, 4)], 5.0, True, id="within"),
    pytest.param([ok(0, 0.5), ok(2.5, 9)], 5.0, False, id="first-ack-too-late"),
    pytest.param([ok(0, 0.5), ok(2.5, 3)], 5.0, False, id="then-silent-too-long"),
    pytest.param([ok(0, 0.5)], 5.0, False, id="never"),
])
def test_write_recovery(muts: list[Mutation], bound: float, verdict: bool) -> None:
    v = write_recovery(muts, [("fault", 2.0)], bound, window=(0.0, 9.0))
    assert v.ok is verdict, v


def _op(p: int, f: str, t0: float, t1: float | None, result: str) -> Op:
    return Op(p, "k", f, None if f == "read" else "v", t0, t1, result)


@pytest.mark.parametrize(("op", "verdict"), [
    pytest.param(_op(1, "read", 3, 4, "ok"), False, id="isolated-read-acked"),
    pytest.param(_op(1, "write", 3, 4, "ok"), False, id="isolated-write-acked"),
    pytest.param(_op(1, "read", 3, 11, "ok"), True, id="completes-after-heal"),
    pytest.param(_op(1, "read", 1, 4, "ok"), True, id="invoked-before-isolation"),
    pytest.param(_op(1, "write", 3, 4, "fail"), True, id="failed"),
    pytest.param(_op(1, "write", 3, None, "unknown"), True, id="unknown"),
    pytest.param(_op(2, "read", 3, 4, "ok"), True, id="majority-side"),
])
def test_quiet_windows(op: Op, verdict: bool) -> None:
    v = quiet_windows([op], [], [QuietWindow(("r1",), 2.0, 10.0, "r1 isolated")], {1: "r1", 2: "r2"})
    assert v.ok is verdict, v


@dataclass
class Create:
    name: str
    result: str
    replica: str = "r1"
    invoke_t: float = 0.0
    complete_t: float | None = 1.0


@pytest.mark.parametrize(("lists", "verdict"), [
    pytest.param({"r1": {"a", "u"}, "r2": {"a"}}, True, id="acked-present-unknown-either-way"),
    pytest.param({"r1": {"a"}, "r2": set()}, False, id="acked-lost-on-one-replica"),
    pytest.param({"r1": {"a", "f"}, "r2": {"a", "f"}}, False, id="failed-create-exists"),
    pytest.param({"r1": {"a", "zz"}, "r2": {"a"}}, False, id="phantom"),
    pytest.param({"r1": {"a"}}, False, id="replica-never-answered"),
])
def test_creates_durable(lists: dict, verdict: bool) -> None:
    recs = [Create("a", "ok"), Create("f", "fail"), Create("u", "unknown", complete_t=None)]
    assert creates_durable(recs, lists, ["r1", "r2"]).ok is verdict


def _hist(*ops: Op) -> History:
    h = History(list(ops))
    for i, op in enumerate(h.ops):
        op.id = i
    return h


def test_no_lost_writes_checks_every_replica_and_agreement() -> None:
    h = _hist(Op(0, "k", "write", "a", 0, 1, "ok"), Op(0, "k", "write", "b", 2, 3, "ok"))
    assert no_lost_writes(h, {"r1": {"k": "b"}, "r2": {"k": "b"}}, ["k"], ["r1", "r2"], "init").ok
    lost = no_lost_writes(h, {"r1": {"k": "b"}, "r2": {"k": "a"}}, ["k"], ["r1", "r2"], "init")
    assert not lost.ok and any("r2" in d for d in lost.details)
    assert not no_lost_writes(h, {"r1": {"k": "b"}}, ["k"], ["r1", "r2"], "init").ok


def test_linearizable_verdict_names_the_key() -> None:
    good = _hist(Op(0, "k", "write", "a", 0, 1, "ok"), Op(1, "k", "read", None, 2, 3, "ok", output="a"))
    assert linearizable(good, "init").ok is True
    stale = _hist(Op(0, "k", "write", "a", 0, 1, "ok"), Op(1, "k", "read", None, 2, 3, "ok", output="init"))
    v = linearizable(stale, "init")
    assert v.ok is False and "k" in v.summary and v.details


def test_converged() -> None:
    assert converged(1.0, 5.0, {"r1": "h", "r2": "h"}).ok
    assert not converged(None, 5.0, {"r1": "h", "r2": "x"}).ok
    assert not converged(6.0, 5.0, {"r1": "h", "r2": "h"}).ok


@pytest.mark.parametrize(("snapshots", "verdict"), [
    pytest.param([(0.0, [("n1", "default/a"), ("n2", "default/b")])], True, id="distinct"),
    pytest.param([(0.0, [("n1", "default/a")]), (1.0, [("n2", "default/a")])], True, id="moved-over-time"),
    pytest.param([(1.0, [("n1", "default/a"), ("n2", "default/a")])], False, id="twice-at-once"),
    pytest.param([(1.0, [("n1", "default/a"), ("n1", "default/a")])], False, id="twice-on-one-node"),
])
def test_single_running_pod(snapshots: list, verdict: bool) -> None:
    assert single_running_pod(snapshots).ok is verdict


TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}


def _pod(name: str, owner: str | None, phase: str = "Running", ready: bool = True, node: str = "n1",
         deleting: bool = False, template: dict = TEMPLATE) -> dict:
    meta: dict = {"name": name, "namespace": "default", "labels": {HASH_LABEL: template_hash(template)}}
    if owner:
        meta["ownerReferences"] = [{"uid": owner, "controller": True}]
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    return {"metadata": meta, "spec": {"nodeName": node},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


WEB = {"metadata": {"name": "web", "namespace": "default", "uid": "U"}, "spec": {"replicas": 2, "template": TEMPLATE}}
OLD = {"metadata": {"labels": {"app": "web", "v": "1"}}, "spec": TEMPLATE["spec"]}
REPLICASETS = [{"metadata": {"name": "web-1", "uid": "RS", "ownerReferences": [{"uid": "U", "controller": True}]}},
               {"metadata": {"name": "db-1", "uid": "RS-FOREIGN", "ownerReferences": [{"uid": "DB", "controller": True}]}}]


@pytest.mark.parametrize(("pods", "running", "verdict"), [
    pytest.param([_pod("a", "RS"), _pod("b", "RS"), _pod("c", "OTHER")], None, True, id="owned-count-only"),
    pytest.param([_pod("a", "RS"), _pod("b", "RS-FOREIGN")], None, False, id="through-another-deployments-rs"),
    pytest.param([_pod("a", "U"), _pod("b", "U")], None, False, id="owned-by-the-deployment-not-its-rs"),
    pytest.param([_pod("a", "RS"), _pod("b", "RS", ready=False)], None, False, id="one-unready"),
    pytest.param([_pod("a", "RS"), _pod("b", "RS", deleting=True)], None, False, id="one-deleting"),
    pytest.param([_pod("a", "RS"), _pod("b", "RS"), _pod("c", "RS")], None, False, id="one-too-many"),
    pytest.param([_pod("a", "RS"), _pod("b", "RS", template=OLD)], None, False, id="rollout-incomplete"),
    pytest.param([_pod("a", "RS"), _pod("b", "RS", node="n2")], [("n1", "default/a"), ("n2", "default/b")], True,
                 id="all-really-running"),
    pytest.param([_pod("a", "RS"), _pod("b", "RS", node="n2")], [("n1", "default/a")], False,
                 id="ready-in-api-but-its-node-died"),
    pytest.param([_pod("a", "RS"), _pod("b", "RS", node="n2")], [("n1", "default/a"), ("n1", "default/b")], False,
                 id="running-on-another-node"),
])
def test_desired_counts_reached(pods: list, running: list | None, verdict: bool) -> None:
    assert desired_counts_reached([WEB], pods, running, replicasets=REPLICASETS).ok is verdict


def test_no_pods_on_foreign_nodes() -> None:
    pods = [_pod("a", None, node="n1"), _pod("b", None, node="n2")]
    assert no_pods_on_foreign_nodes([("n1", "default/a"), ("n2", "default/b")], pods).ok
    assert not no_pods_on_foreign_nodes([("n2", "default/a")], pods).ok
    assert not no_pods_on_foreign_nodes([("n1", "default/gone")], pods).ok


@pytest.mark.parametrize(("series", "points", "verdict"), [
    pytest.param([(1.0, False), (3.0, True)], [("kill", 0.5)], True, id="reached-within-bound"),
    pytest.param([(1.0, True), (3.0, False), (9.0, True)], [("kill", 2.0)], False, id="earlier-true-does-not-count"),
    pytest.param([(1.0, False), (3.0, None)], [("kill", 0.5)], False, id="never-reached"),
    pytest.param([(1.0, True), (5.0, True)], [("a", 0.0), ("b", 4.0)], True, id="each-point"),
    pytest.param([(1.0, True)], [], True, id="no-points"),
])
def test_pods_recovered(series: list, points: list, verdict: bool) -> None:
    v = pods_recovered(series, points, bound=3.0)
    assert v.ok is verdict, v
    assert len(v.data["points"]) == len(points)


@pytest.mark.parametrize(("rounds", "verdict"), [
    pytest.param([({"p/c": "A"}, {"p/c": "A"})], True, id="adopted"),
    pytest.param([({"p/c": "A"}, {"p/c": "B"})], False, id="started-again"),
    pytest.param([({"p/c": "A", "q/c": "Q"}, {"p/c": "A"}), ({"r/c": "R"}, {"r/c": "R"})], True,
                 id="one-deleted-by-scaling-meanwhile"),
    pytest.param([({"p/c": "A"}, {}), ({}, {"r/c": "R"})], False, id="nothing-checked-proves-nothing"),
    pytest.param([({"p/c": "A"}, {"p/c": "A"}), ({"p/c": "A"}, {"p/c": "C"})], False, id="second-restart"),
])
def test_adopted(rounds: list, verdict: bool) -> None:
    v = adopted(rounds)
    assert v.ok is verdict, v
