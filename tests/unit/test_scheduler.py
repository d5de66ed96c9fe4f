"""The scheduler's predicates, scorers and placement pass (haplane.control.scheduler)."""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from haplane.control.reconcile.podtemplate import pod_from_template
from haplane.control.scheduler.predicates import (
    PREDICATES,
    NodeInfo,
    PodInfo,
    build_node_infos,
    fits_resources,
    host_ports_free,
    matches_node_selector,
    node_ready,
    node_schedulable,
    tolerates_taints,
)
from haplane.control.scheduler.scorers import SCORERS, least_allocated, spread
from haplane.control.scheduler.select import (
    feasible_limit,
    place,
    scan_offset,
    schedule,
    unschedulable_message,
)

MANIFESTS = Path(__file__).resolve().parents[3] / "shared" / "manifests"
TS = "2026-11-25T19:00:00Z"


def node(name: str = "n1", *, cpu: str = "4", memory: str = "8Gi", pods: str | None = None,
         labels: dict[str, str] | None = None, taints: list[dict[str, Any]] | None = None,
         ready: str | None = "True", unschedulable: bool = False) -> dict[str, Any]:
    allocatable = {"cpu": cpu, "memory": memory} | ({"pods": pods} if pods else {})
    conditions = [{"type": "Ready", "status": ready}] if ready else []
    return {"metadata": {"name": name, "labels": labels or {}},
            "spec": {"unschedulable": unschedulable, "taints": taints or []},
            "status": {"allocatable": allocatable, "conditions": conditions}}


def pod(name: str = "p", *, cpu: str | None = None, memory: str | None = None, owner: str | None = None,
        node_selector: dict[str, str] | None = None, tolerations: list[dict[str, Any]] | None = None,
        host_ports: tuple[int | tuple[int, str], ...] = (), node_name: str | None = None,
        phase: str | None = None, ts: str = TS, limits: dict[str, str] | None = None) -> dict[str, Any]:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    ports = [{"containerPort": 80, "hostPort": hp} if isinstance(hp, int)
             else {"containerPort": 80, "hostPort": hp[0], "protocol": hp[1]} for hp in host_ports]
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox",
                                            "resources": {"requests": requests, "limits": limits or {}},
                                            "ports": ports}]}
    if node_selector:
        spec["nodeSelector"] = node_selector
    if tolerations:
        spec["tolerations"] = tolerations
    if node_name:
        spec["nodeName"] = node_name
    meta: dict[str, Any] = {"name": name, "namespace": "default", "creationTimestamp": ts}
    if owner:
        meta["ownerReferences"] = [{"kind": "Deployment", "name": owner, "uid": f"uid-{owner}", "controller": True}]
    return {"metadata": meta, "spec": spec, "status": {"phase": phase} if phase else {}}


def info(n: dict[str, Any], *bound: dict[str, Any]) -> NodeInfo:
    ni = NodeInfo.of(n)
    for p in bound:
        ni.add_pod(p)
    return ni


# --- predicates -----------------------------------------------------------------------------

@pytest.mark.parametrize(("ready", "expected"), [
    pytest.param("True", None, id="ready"),
    pytest.param("False", "node(s) were not ready", id="not-ready"),
    pytest.param("Unknown", "node(s) were not ready", id="unknown"),
    pytest.param(None, "node(s) were not ready", id="no-condition"),
])
def test_node_ready(ready: str | None, expected: str | None) -> None:
    assert node_ready(pod(), info(node(ready=ready))) == expected


@pytest.mark.parametrize(("cordoned", "expected"), [
    pytest.param(False, None, id="schedulable"),
    pytest.param(True, "node(s) were unschedulable", id="cordoned"),
])
def test_node_schedulable(cordoned: bool, expected: str | None) -> None:
    assert node_schedulable(pod(), info(node(unschedulable=cordoned))) == expected


BATCH = {"key": "dedicated", "value": "batch", "effect": "NoSchedule"}
UNTOLERATED_BATCH = "node(s) had untolerated taint {dedicated: batch}"


@pytest.mark.parametrize(("taints", "tolerations", "expected"), [
    pytest.param([], [], None, id="no-taints"),
    pytest.param([BATCH], [], UNTOLERATED_BATCH, id="untolerated"),
    pytest.param([BATCH], [{"key": "dedicated", "operator": "Equal", "value": "batch", "effect": "NoSchedule"}],
                 None, id="equal-exact"),
    pytest.param([BATCH], [{"key": "dedicated", "value": "batch"}], None, id="equal-default-op-any-effect"),
    pytest.param([BATCH], [{"key": "dedicated", "operator": "Equal", "value": "gpu"}], UNTOLERATED_BATCH,
                 id="equal-wrong-value"),
    pytest.param([BATCH], [{"key": "dedicated", "value": "batch", "effect": "NoExecute"}], UNTOLERATED_BATCH,
                 id="equal-wrong-effect"),
    pytest.param([BATCH], [{"key": "other", "value": "batch"}], UNTOLERATED_BATCH, id="equal-wrong-key"),
    pytest.param([BATCH], [{"key": "dedicated", "operator": "Exists"}], None, id="exists-key"),
    pytest.param([BATCH], [{"operator": "Exists"}], None, id="exists-empty-key-tolerates-all"),
    pytest.param([BATCH], [{"operator": "Exists", "effect": "NoExecute"}], UNTOLERATED_BATCH,
                 id="exists-all-wrong-effect"),
    pytest.param([{"key": "k", "effect": "NoExecute"}], [], "node(s) had untolerated taint {k: }",
                 id="noexecute-blocks-empty-value"),
    pytest.param([{"key": "k", "effect": "NoExecute"}], [{"key": "k", "operator": "Equal"}], None,
                 id="equal-empty-value-matches-empty"),
    pytest.param([{"key": "soft", "value": "x", "effect": "PreferNoSchedule"}], [], None,
                 id="prefer-no-schedule-never-blocks"),
    pytest.param([BATCH, {"key": "gpu", "value": "yes", "effect": "NoSchedule"}],
                 [{"key": "dedicated", "operator": "Exists"}], "node(s) had untolerated taint {gpu: yes}",
                 id="every-taint-must-be-tolerated"),
])
def test_tolerates_taints(taints: list[dict[str, Any]], tolerations: list[dict[str, Any]],
                          expected: str | None) -> None:
    assert tolerates_taints(pod(tolerations=tolerations), info(node(taints=taints))) == expected


@pytest.mark.parametrize(("p", "bound", "expected"), [
    pytest.param(pod(cpu="4", memory="8Gi"), [], None, id="exactly-fits"),
    pytest.param(pod(cpu="4001m"), [], "Insufficient cpu", id="cpu-over"),
    pytest.param(pod(memory="9Gi"), [], "Insufficient memory", id="memory-over"),
    pytest.param(pod(cpu="2"), [pod("b", cpu="2500m", node_name="n1")], "Insufficient cpu", id="bound-cpu"),
    pytest.param(pod(memory="1Gi"), [pod("b", memory="7.5Gi", node_name="n1")], "Insufficient memory",
                 id="bound-memory"),
    pytest.param(pod(), [pod("b", cpu="4", memory="8Gi", node_name="n1")], None, id="zero-request-fits-full-node"),
    pytest.param(pod(limits={"cpu": "5"}), [], "Insufficient cpu", id="limit-without-request-counts"),
])
def test_fits_resources(p: dict[str, Any], bound: list[dict[str, Any]], expected: str | None) -> None:
    assert fits_resources(p, info(node(), *bound)) == expected


def test_fits_resources_caps_pod_count() -> None:
    n = node(pods="2")
    assert fits_resources(pod(), info(n, pod("a"))) is None
    assert fits_resources(pod(), info(n, pod("a"), pod("b"))) == "Too many pods"


def test_pod_info_sums_containers_and_rejects_bad_quantities() -> None:
    p = pod(cpu="250m", memory="64Mi")
    p["spec"]["containers"].append({"name": "d", "image": "x", "resources": {"requests": {"cpu": "0.5"}}})
    parsed = PodInfo.of(p)
    assert (parsed.cpu, parsed.memory) == (750, 64 * 2**20)
    with pytest.raises(ValueError):
        PodInfo.of(pod(cpu="lots"))


@pytest.mark.parametrize(("selector", "labels", "expected"), [
    pytest.param(None, {}, None, id="no-selector"),
    pytest.param({"disk": "ssd"}, {"disk": "ssd", "zone": "a"}, None, id="match"),
    pytest.param({"disk": "ssd"}, {"disk": "hdd"}, "node(s) didn't match Pod's node affinity/selector",
                 id="wrong-value"),
    pytest.param({"disk": "ssd"}, {}, "node(s) didn't match Pod's node affinity/selector", id="missing-label"),
    pytest.param({"disk": "ssd", "zone": "a"}, {"disk": "ssd"}, "node(s) didn't match Pod's node affinity/selector",
                 id="all-labels-required"),
])
def test_matches_node_selector(selector: dict[str, str] | None, labels: dict[str, str],
                               expected: str | None) -> None:
    assert matches_node_selector(pod(node_selector=selector), info(node(labels=labels))) == expected


PORTS_TAKEN = "node(s) didn't have free ports for the requested pod ports"


@pytest.mark.parametrize(("wanted", "used", "expected"), [
    pytest.param((8080,), (), None, id="free"),
    pytest.param((8080,), (8080,), PORTS_TAKEN, id="taken"),
    pytest.param((8080,), (9090,), None, id="other-port"),
    pytest.param(((8080, "UDP"),), (8080,), None, id="other-protocol"),
    pytest.param((0,), (0,), None, id="zero-host-port-ignored"),
    pytest.param((), (8080,), None, id="no-ports"),
])
def test_host_ports_free(wanted: tuple[Any, ...], used: tuple[Any, ...], expected: str | None) -> None:
    bound = pod("b", host_ports=used, node_name="n1")
    assert host_ports_free(pod(host_ports=wanted), info(node(), bound)) == expected


def test_predicates_cheapest_first() -> None:
    assert [p.__name__ for p in PREDICATES] == [
        "node_ready", "node_schedulable", "matches_node_selector", "tolerates_taints", "fits_resources",
        "host_ports_free"]


def test_build_node_infos_counts_only_running_bound_pods() -> None:
    pods = [
        pod("a", cpu="1", memory="1Gi", owner="web", node_name="n1", host_ports=(80,)),
        pod("b", cpu="1", owner="web", node_name="n1", phase="Running"),
        pod("done", cpu="1", node_name="n1", phase="Succeeded"),
        pod("failed", cpu="1", node_name="n1", phase="Failed"),
        pod("pending", cpu="1"),
        pod("elsewhere", cpu="1", node_name="gone"),
    ]
    infos = build_node_infos([node("n1"), node("n2")], pods)
    n1 = infos["n1"]
    assert (n1.requested_cpu, n1.requested_memory, n1.pod_count) == (2000, 2**30, 2)
    assert n1.owner_counts == {"uid-web": 2} and n1.host_ports == {("TCP", 80)}
    assert infos["n2"].pod_count == 0


# --- scorers --------------------------------------------------------------------------------

@pytest.mark.parametrize(("p", "bound", "expected"), [
    pytest.param(pod(), [], 1.0, id="empty-node"),
    pytest.param(pod(cpu="2", memory="4Gi"), [], 0.5, id="half"),
    pytest.param(pod(cpu="1"), [pod("b", cpu="1", memory="8Gi", node_name="n1")], 0.25, id="after-bound"),
    pytest.param(pod(cpu="8"), [], 0.5, id="overfull-clamps-at-zero"),
])
def test_least_allocated(p: dict[str, Any], bound: list[dict[str, Any]], expected: float) -> None:
    assert least_allocated(p, info(node(), *bound)) == pytest.approx(expected)


@pytest.mark.parametrize(("p", "bound", "expected"), [
    pytest.param(pod(owner="web"), [], 1.0, id="none-there"),
    pytest.param(pod(owner="web"), [pod("a", owner="web", node_name="n1")], 0.5, id="one-there"),
    pytest.param(pod(owner="web"), [pod(f"a{i}", owner="web", node_name="n1") for i in range(3)], 0.25,
                 id="three-there"),
    pytest.param(pod(owner="web"), [pod("a", owner="db", node_name="n1")], 1.0, id="other-owner"),
    pytest.param(pod(), [pod("a", node_name="n1")], 1.0, id="no-owner"),
])
def test_spread(p: dict[str, Any], bound: list[dict[str, Any]], expected: float) -> None:
    assert spread(p, info(node(), *bound)) == pytest.approx(expected)


def test_scorers_are_weighted() -> None:
    assert {s.__name__ for s, _ in SCORERS} == {"least_allocated", "spread"}
    assert all(w > 0 for _, w in SCORERS)


# --- schedule -------------------------------------------------------------------------------

def placements(bindings: list[Any]) -> Counter[str]:
    return Counter(b.node_name for b in bindings)


@pytest.mark.parametrize("requests", [
    pytest.param({}, id="no-requests"),
    pytest.param({"cpu": "100m", "memory": "64Mi"}, id="with-requests"),
])
def test_schedule_spreads_one_owner_evenly(requests: dict[str, str]) -> None:
    pending = [pod(f"web-{i}", owner="web", **requests) for i in range(6)]
    bindings, unschedulable = schedule(pending, [node("a"), node("b"), node("c")], [])
    assert not unschedulable
    assert placements(bindings) == {"a": 2, "b": 2, "c": 2}


def test_schedule_accounts_for_its_own_placements() -> None:
    pending = [pod(f"p{i}", cpu="1500m") for i in range(7)]
    bindings, unschedulable = schedule(pending, [node("a", cpu="3"), node("b", cpu="3"), node("c", cpu="3")], [])
    assert placements(bindings) == {"a": 2, "b": 2, "c": 2}
    assert [u.pod["metadata"]["name"] for u in unschedulable] == ["p6"]
    assert unschedulable[0].message == "0/3 nodes are available: 3 Insufficient cpu."


def test_schedule_counts_already_bound_pods() -> None:
    bound = [pod("old", cpu="3", node_name="a")]
    bindings, _ = schedule([pod("new", cpu="2")], [node("a"), node("b", cpu="2")], bound)
    assert [(b.pod["metadata"]["name"], b.node_name) for b in bindings] == [("new", "b")]


def test_unschedulable_message_counts_reasons() -> None:
    nodes = [node(f"small-{i}", memory="64Mi") for i in range(3)] + [node(f"batch-{i}", taints=[BATCH])
                                                                     for i in range(2)]
    bindings, unschedulable = schedule([pod("p", memory="1Gi")], nodes, [])
    assert not bindings
    assert unschedulable[0].message == (
        "0/5 nodes are available: 3 Insufficient memory, 2 node(s) had untolerated taint {dedicated: batch}.")
    assert unschedulable[0].reasons == {"Insufficient memory": 3, UNTOLERATED_BATCH: 2}


@pytest.mark.parametrize(("total", "reasons", "expected"), [
    pytest.param(0, {}, "0/0 nodes are available: no nodes available to schedule pods.", id="no-nodes"),
    pytest.param(4, {"b": 2, "a": 2}, "0/4 nodes are available: 2 a, 2 b.", id="ties-by-text"),
    pytest.param(3, {"x": 1, "y": 2}, "0/3 nodes are available: 2 y, 1 x.", id="by-count"),
])
def test_unschedulable_message(total: int, reasons: dict[str, int], expected: str) -> None:
    assert unschedulable_message(total, reasons) == expected


def test_schedule_in_creation_order_then_name() -> None:
    pending = [pod("z-early", cpu="3", ts="2026-11-25T18:00:00Z"), pod("b-late", cpu="3"), pod("a-late", cpu="3")]
    bindings, unschedulable = schedule(pending, [node("only", cpu="6")], [])
    assert [b.pod["metadata"]["name"] for b in bindings] == ["z-early", "a-late"]
    assert [u.pod["metadata"]["name"] for u in unschedulable] == ["b-late"]


@pytest.mark.parametrize(("nodes", "limit"), [
    pytest.param(0, 50, id="no-nodes"),
    pytest.param(3, 50, id="few-nodes-all-scanned"),
    pytest.param(1000, 50, id="1000-nodes-floor"),
    pytest.param(1999, 99, id="just-under-2000"),
    pytest.param(5000, 250, id="5000-nodes-5-percent"),
])
def test_feasible_limit(nodes: int, limit: int) -> None:
    assert feasible_limit(nodes) == limit


def test_scan_offset_is_stable_and_differs_between_pods() -> None:
    a, b = pod("a"), pod("b")
    assert scan_offset(a) == scan_offset(pod("a")) and scan_offset(a) != scan_offset(b)
    with_uid = dict(a, metadata=dict(a["metadata"], uid="u-1"))
    assert scan_offset(with_uid) == scan_offset(dict(b, metadata=dict(b["metadata"], uid="u-1")))  # uid first


def _starts_at(p: dict[str, Any], names: list[str]) -> str:
    return sorted(names)[scan_offset(p) % len(names)]


def test_each_pod_starts_its_scan_at_its_own_offset() -> None:
    # With one feasible node per pod and no scores to tell nodes apart, where a pod lands is
    # exactly where its scan starts.
    names = [f"n{i}" for i in range(7)]
    pending = [pod(f"p{i}") for i in range(12)]
    bindings, _ = schedule(pending, [node(n) for n in names], [], max_feasible=1)
    assert {b.pod["metadata"]["name"]: b.node_name for b in bindings} == {
        p["metadata"]["name"]: _starts_at(p, names) for p in pending}
    assert len({b.node_name for b in bindings}) > 1


@pytest.mark.parametrize(("limit", "lands_on_empty"), [
    pytest.param(1, False, id="sees-only-its-start"),
    pytest.param(4, False, id="stops-before-the-empty-node"),
    pytest.param(5, True, id="reaches-the-empty-node"),
    pytest.param(None, True, id="default-covers-few-nodes"),
])
def test_scan_stops_after_max_feasible_fitting_nodes(limit: int | None, lands_on_empty: bool) -> None:
    names = [f"n{i}" for i in range(8)]
    p = pod("p", cpu="100m")
    start = sorted(names).index(_starts_at(p, names))
    order = [sorted(names)[(start + k) % 8] for k in range(8)]
    empty = order[4]  # the fifth node the scan reaches; every other node is half full
    bound = [pod(f"b-{n}", cpu="2", node_name=n) for n in names if n != empty]
    bindings, _ = schedule([p], [node(n) for n in names], bound, max_feasible=limit)
    assert (bindings[0].node_name == empty) is lands_on_empty


def test_nodes_that_do_not_fit_do_not_count_toward_the_limit() -> None:
    names = [f"n{i}" for i in range(6)]
    p = pod("p", cpu="1")
    start = sorted(names).index(_starts_at(p, names))
    order = [sorted(names)[(start + k) % 6] for k in range(6)]
    bound = [pod(f"full-{n}", cpu="4", node_name=n) for n in order[:3]]  # the first three are full
    bindings, _ = schedule([p], [node(n) for n in names], bound, max_feasible=1)
    assert bindings[0].node_name == order[3]


def test_sampled_placement_stays_balanced_and_spread() -> None:
    # 200 nodes, 2,000 pods of 4 owners created interleaved, placed in passes of 80 on the
    # same NodeInfos (as the scheduler's cache does), scanning 50 nodes per pod. A scan start
    # that moves on by the nodes scanned (a cursor) sends every pod of one owner to the same
    # few windows here; a per-pod start does not.
    infos = build_node_infos([node(f"n{i:03d}", cpu="64", memory="256Gi") for i in range(200)], [])
    pending = [pod(f"p{i:04d}", cpu="100m", memory="64Mi", owner=f"d{i % 4}") for i in range(2000)]
    bindings = []
    for i in range(0, len(pending), 80):
        placed, unschedulable = place(pending[i:i + 80], infos, max_feasible=50)
        assert not unschedulable
        bindings += placed
    per_node = placements(bindings)
    assert len(per_node) == 200 and max(per_node.values()) - min(per_node.values()) <= 4
    per_owner_node = Counter((b.pod["metadata"]["ownerReferences"][0]["uid"], b.node_name) for b in bindings)
    assert max(per_owner_node.values()) <= 4  # 500 pods per owner over 200 nodes: 3 at best


def test_schedule_ties_broken_by_node_name() -> None:
    bindings, _ = schedule([pod("p")], [node("c"), node("a"), node("b")], [])
    assert bindings[0].node_name == "a"


def test_schedule_is_deterministic_whatever_the_input_order() -> None:
    rng = random.Random(7)
    nodes = [node(f"n{i}", cpu=str(rng.randint(1, 8))) for i in range(20)]
    pending = [pod(f"p{i:02d}", cpu=f"{rng.randint(1, 20) * 100}m", owner=f"o{i % 3}") for i in range(40)]
    first = schedule(pending, nodes, [])
    shuffled_nodes, shuffled_pods = nodes[:], pending[:]
    rng.shuffle(shuffled_nodes)
    rng.shuffle(shuffled_pods)
    second = schedule(shuffled_pods, shuffled_nodes, [])
    assert [(b.pod["metadata"]["name"], b.node_name) for b in first[0]] == \
        [(b.pod["metadata"]["name"], b.node_name) for b in second[0]]
    assert [u.message for u in first[1]] == [u.message for u in second[1]]


def test_schedule_reports_an_invalid_pod() -> None:
    bindings, unschedulable = schedule([pod("bad", cpu="lots")], [node()], [])
    assert not bindings and "invalid" in unschedulable[0].message


def test_schedule_repeats_the_message_for_a_failed_shape() -> None:
    pending = [pod(f"p{i}", cpu="8") for i in range(3)]
    _, unschedulable = schedule(pending, [node("a"), node("b", ready="False")], [])
    assert [u.message for u in unschedulable] == [
        "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) were not ready."] * 3


def test_worker_manifest_lands_only_on_the_tainted_ssd_node() -> None:
    worker = next(d for d in yaml.safe_load_all((MANIFESTS / "worker.yaml").read_text()) if d)
    worker["metadata"].update(namespace="default", uid="uid-worker")
    pending = [pod_from_template(worker, f"s{i}", 1_700_000_000.0 + i) for i in range(2)]
    nodes = [
        node("batch-ssd", cpu="1", memory="1Gi", labels={"disk": "ssd"}, taints=[BATCH]),
        node("big-hdd", cpu="64", memory="256Gi", labels={"disk": "hdd"}),
        node("big-plain", cpu="64", memory="256Gi"),
        node("gpu-ssd", cpu="64", memory="256Gi", labels={"disk": "ssd"},
             taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
        node("cordoned-ssd", cpu="64", memory="256Gi", labels={"disk": "ssd"}, unschedulable=True),
        node("hdd-batch", cpu="64", memory="256Gi", labels={"disk": "hdd"}, taints=[BATCH]),
    ]
    bindings, unschedulable = schedule(pending, nodes, [])
    assert not unschedulable
    assert [b.node_name for b in bindings] == ["batch-ssd", "batch-ssd"]
    # Once it is full, the third replica says why nowhere else fits.
    third = pod_from_template(worker, "s9", 1_700_000_100.0)
    _, unschedulable = schedule([third], nodes, [b.pod | {"spec": {**b.pod["spec"], "nodeName": b.node_name}}
                                                 for b in bindings] * 3)
    assert unschedulable[0].message == (
        "0/6 nodes are available: 3 node(s) didn't match Pod's node affinity/selector, 1 Insufficient cpu, "
        "1 node(s) had untolerated taint {dedicated: gpu}, 1 node(s) were unschedulable.")


def test_schedule_performance_2000_pods_on_500_nodes() -> None:
    nodes = [node(f"n{i:03d}", cpu="16", memory="64Gi", pods="110", labels={"disk": "ssd" if i % 2 else "hdd"},
                  taints=[BATCH] if i % 10 == 0 else None) for i in range(500)]
    pending = [pod(f"p{i:04d}", cpu="100m", memory="64Mi", owner=f"d{i % 20}",
                   node_selector={"disk": "ssd"} if i % 20 == 0 else None) for i in range(2000)]
    bound = [pod(f"b{i:04d}", cpu="1", memory="1Gi", owner="old", node_name=f"n{i % 500:03d}") for i in range(1000)]
    started = time.process_time()
    bindings, unschedulable = schedule(pending, nodes, bound)
    elapsed = time.process_time() - started
    print(f"\nschedule: 2000 pods on 500 nodes in {elapsed:.2f} s of CPU")
    assert len(bindings) == 2000 and not unschedulable
    per_node = placements(bindings)
    assert max(per_node.values()) <= 110
    assert all(int(b.node_name[1:]) % 10 for b in bindings)  # never on the tainted nodes
    assert elapsed < 30  # a safety net; bench/ measures speed
