"""Container usage, the pure parts: CPU rates over a window, the readings' parsers (/proc, the
Docker engine's stats), the agent's summary document, the metrics API's objects built from it,
and ``haplane top``'s tables."""

from __future__ import annotations

import pytest

from haplane.api.podmetrics import go_duration, metrics_list, node_metrics, pod_metrics_items
from haplane.cli_top import mebibytes, millicores, node_table, pod_table
from node_agent.runtime.base import ContainerState
from node_agent.stats import summary
from node_agent.usage import (
    ProcStat,
    Sample,
    Usage,
    Windows,
    docker_sample,
    group_usage,
    parse_proc_stat,
    rate,
)

NOW = 1_700_000_000.0


# --- rates and windows -----------------------------------------------------------------------


def test_rate_is_cpu_time_over_the_window() -> None:
    u = rate(Sample(NOW, 1_000_000_000, 10), Sample(NOW + 2, 1_500_000_000, 20))
    assert u == Usage(NOW + 2, 2.0, 250_000_000, 20, 1_500_000_000)  # 0.5 s of CPU in 2 s: a quarter core


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param(Sample(NOW, 10, 0), Sample(NOW, 20, 0), id="no-time-between"),
        pytest.param(Sample(NOW, 10, 0), Sample(NOW - 1, 20, 0), id="clock-back"),
        pytest.param(Sample(NOW, 20, 0), Sample(NOW + 1, 10, 0), id="counter-back"),
    ],
)
def test_no_rate_from_readings_that_cannot_give_one(old: Sample, new: Sample) -> None:
    assert rate(old, new) is None


def test_windows_need_two_readings_and_keep_the_last_two() -> None:
    w: Windows[str] = Windows()
    w.add("c", Sample(NOW, 0, 1))
    assert w.usage("c") is None
    w.add("c", Sample(NOW + 1, 100_000_000, 2))
    w.add("c", Sample(NOW + 2, 300_000_000, 3))
    u = w.usage("c")
    assert u is not None and (u.nanocores, u.window, u.memory) == (200_000_000, 1.0, 3)


def test_a_counter_reset_restarts_the_window() -> None:
    w: Windows[str] = Windows()
    w.add("c", Sample(NOW, 500, 1))
    w.add("c", Sample(NOW + 1, 900, 1))
    w.add("c", Sample(NOW + 2, 100, 1))  # a member left the group unaccounted
    assert w.usage("c") is None
    w.add("c", Sample(NOW + 3, 1_000_000_100, 1))
    assert w.usage("c").nanocores == 1_000_000_000  # type: ignore[union-attr]


def test_a_reading_from_the_past_is_ignored_and_gone_containers_are_forgotten() -> None:
    w: Windows[str] = Windows()
    w.add("a", Sample(NOW, 0, 1))
    w.add("a", Sample(NOW + 1, 10, 1))
    w.add("a", Sample(NOW + 0.5, 20, 1))  # the wall clock stepped back
    assert w.usage("a").nanocores == 10  # type: ignore[union-attr]
    w.add("b", Sample(NOW, 0, 1))
    w.retain(["b"])
    assert w.usage("a") is None and len(w) == 1


# --- /proc -----------------------------------------------------------------------------------

# pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
# priority nice threads itrealvalue starttime vsize rss ...
STAT = "4242 (my (odd) sh) R 1 4242 4242 0 -1 4194304 100 0 0 0 150 50 30 20 20 0 1 0 98765 8192000 300 " \
       + " ".join(["0"] * 27)


def test_proc_stat_line_with_spaces_and_parens_in_the_name() -> None:
    assert parse_proc_stat(4242, STAT) == ProcStat(4242, "R", 4242, 250, 300, 98765)
    assert parse_proc_stat(1, "garbage") is None
    assert parse_proc_stat(1, "1 (x) S 1") is None


def test_group_usage_sums_live_members_of_each_group_only() -> None:
    stats = [ProcStat(10, "S", 10, 100, 200, 1), ProcStat(11, "R", 10, 50, 100, 2),  # group 10
             ProcStat(12, "Z", 10, 7, 0, 3),                                           # its zombie: times, no RSS
             ProcStat(20, "S", 20, 1000, 1000, 4),                                     # another group, not asked
             ProcStat(30, "Z", 30, 5, 0, 5)]                                           # a group of a zombie only
    got = group_usage(stats, [10, 30, 40], now=NOW, ticks_per_s=100, page_size=4096)
    assert got == {10: Sample(NOW, 1_570_000_000, 300 * 4096)}  # 157 ticks = 1.57 s


# --- Docker ----------------------------------------------------------------------------------


def _docker(usage: int, stats: dict) -> dict:
    return {"cpu_stats": {"cpu_usage": {"total_usage": 2_153_915_950}}, "memory_stats": {"usage": usage,
                                                                                         "stats": stats}}


@pytest.mark.parametrize(
    ("stats", "working_set"),
    [
        pytest.param({"total_inactive_file": 100_000, "inactive_file": 5}, 563_552, id="cgroup-v1"),
        pytest.param({"inactive_file": 63_552}, 600_000, id="cgroup-v2"),
        pytest.param({"inactive_file": 10**9}, 0, id="never-negative"),
    ],
)
def test_docker_working_set_is_usage_minus_inactive_file(stats: dict, working_set: int) -> None:
    assert docker_sample(_docker(663_552, stats), NOW) == Sample(NOW, 2_153_915_950, working_set)


def test_docker_stats_of_a_stopped_container_give_no_sample() -> None:
    assert docker_sample({"cpu_stats": {"cpu_usage": {}}, "memory_stats": {}}, None) is None
    assert docker_sample(_docker(1, {}), None) is None  # the zero read time


# --- the agent's summary ---------------------------------------------------------------------


def _state(pod: str, container: str, uid: str) -> ContainerState:
    return ContainerState(cid=f"{pod}-{container}", pod_uid=uid, pod_name=pod, namespace="shop", container=container,
                          epoch=1, running=True, exit_code=None, started_at=NOW, finished_at=None)


def test_summary_groups_containers_by_pod_and_sums_the_node_with_the_agent() -> None:
    web, side = Usage(NOW, 1.0, 250_000_000, 8 << 20, 5), Usage(NOW, 1.0, 5_000_000, 1 << 20, 1)
    agent = Usage(NOW, 1.0, 1_000_000, 40 << 20, 9)
    doc = summary("n1", [(_state("web", "side", "u1"), side), (_state("web", "main", "u1"), web)], agent)
    assert doc["node"]["nodeName"] == "n1"
    assert doc["node"]["cpu"]["usageNanoCores"] == 256_000_000 and doc["node"]["memory"]["workingSetBytes"] == 49 << 20
    (pod,) = doc["pods"]
    assert pod["podRef"] == {"name": "web", "namespace": "shop", "uid": "u1"}
    assert [c["name"] for c in pod["containers"]] == ["main", "side"]
    assert pod["containers"][0]["cpu"] == {"time": "2023-11-14T22:13:20Z", "usageNanoCores": 250_000_000,
                                           "usageCoreNanoSeconds": 5, "window": 1.0}
    assert "cpu" not in summary("n2", [], None)["node"]  # nothing measured: no node usage at all


# --- the metrics API's objects ---------------------------------------------------------------


def _pod(name: str, uid: str, node: str | None) -> dict:
    return {"metadata": {"name": name, "namespace": "shop", "uid": uid, "labels": {"app": name}},
            "spec": {"nodeName": node} if node else {}}


def test_pod_metrics_come_from_their_nodes_summary_by_uid() -> None:
    usage = Usage(NOW, 1.25, 1_234_567, 663_552, 5)
    n1 = summary("n1", [(_state("web", "main", "u1"), usage), (_state("old", "main", "stale-uid"), usage)], None)
    pods = [_pod("web", "u1", "n1"), _pod("old", "new-uid", "n1"),  # recreated under its name: not its numbers
            _pod("db", "u3", "n2"),                                 # n2's agent did not answer
            _pod("pending", "u4", None)]
    items = pod_metrics_items(pods, {"n1": n1, "n2": None}, NOW + 5)
    assert items == [{"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
                      "metadata": {"name": "web", "namespace": "shop", "creationTimestamp": "2023-11-14T22:13:25Z",
                                   "labels": {"app": "web"}},
                      "timestamp": "2023-11-14T22:13:20Z", "window": "1.25s",
                      "containers": [{"name": "main", "usage": {"cpu": "1234567n", "memory": "648Ki"}}]}]
    assert metrics_list("PodMetrics", items)["kind"] == "PodMetricsList"


def test_node_metrics_only_for_a_measured_node() -> None:
    node = {"metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1"}}}
    doc = summary("n1", [], Usage(NOW, 2.0, 12_000_000, 40 << 20, 1))
    got = node_metrics(node, doc, NOW)
    assert got is not None and got["usage"] == {"cpu": "12m", "memory": "40Mi"} and got["window"] == "2s"
    assert "namespace" not in got["metadata"]
    assert node_metrics(node, None, NOW) is None and node_metrics(node, summary("n1", [], None), NOW) is None


@pytest.mark.parametrize(("seconds", "text"), [(1.0, "1s"), (1.0594, "1.059s"), (0.0, "0s"), (15.5, "15.5s")])
def test_window_is_a_go_duration(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


# --- haplane top's tables --------------------------------------------------------------------


def _metrics(name: str, ns: str, *containers: tuple[str, str, str]) -> dict:
    return {"metadata": {"name": name, "namespace": ns},
            "containers": [{"name": c, "usage": {"cpu": cpu, "memory": mem}} for c, cpu, mem in containers]}


def test_kubectl_units() -> None:
    assert millicores("1234567n") == 2 and millicores("0") == 0 and millicores("1") == 1000
    assert mebibytes("8191Ki") == 7 and mebibytes("8Mi") == 8


def test_pod_table_sums_containers_and_sorts() -> None:
    items = [_metrics("a", "x", ("main", "5m", "1Mi")),
             _metrics("b", "y", ("main", "700m", "2Mi"), ("side", "300m", "30Mi"))]
    assert pod_table(items) == (["NAME", "CPU(cores)", "MEMORY(bytes)"], [["a", "5m", "1Mi"], ["b", "1000m", "32Mi"]])
    _, rows = pod_table(items, sort_by="memory", all_namespaces=True)
    assert rows == [["y", "b", "1000m", "32Mi"], ["x", "a", "5m", "1Mi"]]
    headers, rows = pod_table(items, containers=True)
    assert headers == ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert rows == [["a", "main", "5m", "1Mi"], ["b", "main", "700m", "2Mi"], ["b", "side", "300m", "30Mi"]]


def test_node_table_percent_of_allocatable_and_unknown_nodes() -> None:
    items = [{"metadata": {"name": "n2"}, "usage": {"cpu": "1", "memory": "1Gi"}},
             {"metadata": {"name": "n1"}, "usage": {"cpu": "2", "memory": "512Mi"}}]
    nodes = [{"metadata": {"name": n}, "status": {"allocatable": {"cpu": "4", "memory": "8Gi"}}}
             for n in ("n1", "n2", "n3")]
    headers, rows = node_table(items, nodes, sort_by="cpu")
    assert headers == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
    assert rows == [["n1", "2000m", "50%", "512Mi", "6%"], ["n2", "1000m", "25%", "1024Mi", "12%"],
                    ["n3", "<unknown>", "<unknown>", "<unknown>", "<unknown>"]]
