"""``kubectl top`` and ``haplane top`` against a real cluster (3 replicas over HTTPS, 2 agents on
the process runtime); ``test_top_docker.py`` runs every test again on the Docker runtime.

A busy pod (a shell busy loop holding an 8 MB string) runs on n1, an idle one on n2. The agents
read usage every second (``HAPLANE_STATS_PERIOD=1``); each test waits until the busy pod has its
two readings, then asserts what kubectl and haplane print: non-zero CPU and memory for it. The
last test stops n2's agent: its pod and node drop out of the answers, which stay 200s.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from haplane import errors
from haplane.api.metricsserver import CACHE_TTL
from haplane.client import Client
from haplane.model.quantity import parse_cpu, parse_memory
from tests.kube.conftest import KubeCluster, start_kube_cluster

NS = "default"
BUSY, IDLE = "busy", "idle"
# 8 MB held by the shell, then a busy loop of builtins (no forks: its CPU is all its own)
BUSY_SCRIPT = "x=$(head -c 8000000 /dev/zero | tr '\\0' a); while :; do :; done"
RAW_PODS = "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods"


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    kc = start_kube_cluster(str(tmp_path_factory.mktemp("kube-top")), env={"HAPLANE_STATS_PERIOD": "1"})
    try:
        yield kc
    finally:
        kc.lc.stop_all()


def _pod(name: str, node: str, script: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS, "labels": {"app": name}},
            "spec": {"terminationGracePeriodSeconds": 1, "nodeSelector": {"kubernetes.io/hostname": node},
                     "containers": [{"name": "main", "image": "busybox:local", "imagePullPolicy": "Never",
                                     "command": ["sh", "-c", script]}]}}


async def _create_pods(kube: KubeCluster) -> None:
    ctx = ssl.create_default_context(cafile=str(kube.lc.ca_file))
    async with Client(kube.lc.endpoints, kube.lc.admin_token, ssl=ctx, timeout=10.0) as c:
        await c.create(_pod(BUSY, "n1", BUSY_SCRIPT))
        await c.create(_pod(IDLE, "n2", "exec sleep 3600"))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pods = [await c.get("Pod", n, NS) for n in (BUSY, IDLE)]
            if all((p.get("status") or {}).get("phase") == "Running" for p in pods):
                return
            await asyncio.sleep(0.3)
        raise AssertionError(f"pods not running after 60 s: {[p.get('status') for p in pods]}")


def _raw(kube: KubeCluster, path: str) -> dict[str, Any]:
    return json.loads(kube.kubectl("get", "--raw", path).stdout)


def _usage(item: dict[str, Any]) -> tuple[int, int]:
    """(millicores, bytes) of a PodMetrics, summed over its containers."""
    cs = item["containers"]
    return sum(parse_cpu(c["usage"]["cpu"]) for c in cs), sum(parse_memory(c["usage"]["memory"]) for c in cs)


@pytest.fixture(scope="module")
def busy(kube: KubeCluster) -> KubeCluster:
    """The pods, running, both measured (two readings each) and the busy one using CPU."""
    asyncio.run(_create_pods(kube))
    deadline = time.monotonic() + 30
    while True:
        items = {i["metadata"]["name"]: i for i in _raw(kube, RAW_PODS)["items"]}
        if IDLE in items and BUSY in items and _usage(items[BUSY])[0] > 0:
            return kube
        assert time.monotonic() < deadline, f"no usage of both pods after 30 s: {items}"
        time.sleep(0.5)


def _table(text: str) -> tuple[list[str], dict[str, list[str]]]:
    lines = [line.split() for line in text.strip().splitlines()]
    return lines[0], {row[0]: row for row in lines[1:]}


def test_metrics_api_answers_in_kubernetes_shapes(busy: KubeCluster) -> None:
    listed = _raw(busy, RAW_PODS)
    assert (listed["kind"], listed["apiVersion"]) == ("PodMetricsList", "metrics.k8s.io/v1beta1")
    one = _raw(busy, f"{RAW_PODS}/{BUSY}")
    assert one["kind"] == "PodMetrics" and one["metadata"]["name"] == BUSY and one["metadata"]["labels"] == {
        "app": BUSY}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", one["timestamp"])
    assert re.fullmatch(r"\d+(\.\d+)?s", one["window"])
    assert [c["name"] for c in one["containers"]] == ["main"]
    assert re.fullmatch(r"\d+[num]?", one["containers"][0]["usage"]["cpu"])
    assert re.fullmatch(r"\d+(Ki|Mi|Gi)?", one["containers"][0]["usage"]["memory"])
    cpu, memory = _usage(one)
    assert cpu > 0 and memory >= 8_000_000, one
    nodes = _raw(busy, "/apis/metrics.k8s.io/v1beta1/nodes")
    assert nodes["kind"] == "NodeMetricsList" and {i["metadata"]["name"] for i in nodes["items"]} == {"n1", "n2"}
    missing = busy.kubectl("get", "--raw", f"{RAW_PODS}/no-such-pod", check=False)
    assert missing.returncode == 1 and "NotFound" in missing.stderr


@pytest.mark.parametrize(
    ("method", "query", "code", "message"),
    [
        pytest.param("GET", "labelSelector=app%20in", 400, "label selector", id="bad-label-selector"),
        pytest.param("GET", "fieldSelector=spec.nodeName%3Dn1", 400, "field label not supported", id="field-label"),
        pytest.param("GET", "watch=1", 405, "not watch", id="watch"),
        pytest.param("POST", "", 405, "read-only", id="write"),
    ],
)
def test_metrics_api_refuses_what_it_does_not_serve(busy: KubeCluster, method: str, query: str, code: int,
                                                     message: str) -> None:
    async def call() -> errors.HaplaneError:
        ctx = ssl.create_default_context(cafile=str(busy.lc.ca_file))
        async with Client(busy.lc.endpoints, busy.lc.admin_token, ssl=ctx, timeout=10.0, max_attempts=1) as c:
            with pytest.raises(errors.HaplaneError) as caught:
                await c.request(method, f"{RAW_PODS}?{query}", json={} if method == "POST" else None)
            return caught.value
    exc = asyncio.run(call())
    assert exc.code == code and message in exc.message, exc


def test_kubectl_top_pods(busy: KubeCluster) -> None:
    proc = busy.kubectl("top", "pods")
    headers, rows = _table(proc.stdout)
    assert headers == ["NAME", "CPU(cores)", "MEMORY(bytes)"], proc.stdout
    cpu, memory = rows[BUSY][1], rows[BUSY][2]
    assert re.fullmatch(r"\d+m", cpu) and int(cpu[:-1]) > 0, proc.stdout
    assert re.fullmatch(r"\d+Mi", memory) and int(memory[:-2]) >= 7, proc.stdout
    assert IDLE in rows
    selected = busy.kubectl("top", "pods", "-l", f"app={BUSY}", "--containers")
    headers, rows = _table(selected.stdout)
    assert headers == ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"] and list(rows) == [BUSY], selected.stdout
    assert rows[BUSY][1] == "main"
    every = busy.kubectl("top", "pods", "-A", "--sort-by=cpu").stdout.splitlines()
    assert every[0].split() == ["NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert every[1].split()[:2] == [NS, BUSY], every  # the busiest first


def test_kubectl_top_nodes(busy: KubeCluster) -> None:
    proc = busy.kubectl("top", "nodes")
    headers, rows = _table(proc.stdout)
    assert headers == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"], proc.stdout
    assert set(rows) == {"n1", "n2"}, proc.stdout
    for row in rows.values():
        assert re.fullmatch(r"\d+m", row[1]) and re.fullmatch(r"\d+%", row[2]), proc.stdout
        assert re.fullmatch(r"\d+Mi", row[3]) and re.fullmatch(r"\d+%", row[4]), proc.stdout
    assert int(rows["n1"][1][:-1]) > 0 and int(rows["n1"][3][:-2]) >= 7, proc.stdout  # the busy pod's node


def _haplane(kube: KubeCluster, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "haplane.cli", "--config", kube.lc.path("client.json"), *args],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_haplane_top_pods_and_nodes(busy: KubeCluster) -> None:
    headers, rows = _table(_haplane(busy, "top", "pods", "--sort-by", "cpu").stdout)
    assert headers == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert list(rows)[0] == BUSY  # the busiest first
    assert int(rows[BUSY][1][:-1]) > 0 and int(rows[BUSY][2][:-2]) >= 7, rows
    every = _haplane(busy, "top", "pods", "-A").stdout.split("\n")
    assert every[0].split() == ["NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert any(line.split()[:2] == [NS, BUSY] for line in every[1:]), every
    headers, rows = _table(_haplane(busy, "top", "nodes").stdout)
    assert headers == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"] and set(rows) == {"n1", "n2"}
    assert int(rows["n1"][1][:-1]) > 0


def test_a_node_whose_agent_is_gone_drops_out(busy: KubeCluster) -> None:
    busy.lc.stop("n2")  # SIGTERM: the agent removes its containers and exits
    time.sleep(CACHE_TTL)  # every summary fetched before it exited has expired from the replicas' caches
    pods = {i["metadata"]["name"] for i in _raw(busy, RAW_PODS)["items"]}
    assert pods == {BUSY}
    nodes = {i["metadata"]["name"] for i in _raw(busy, "/apis/metrics.k8s.io/v1beta1/nodes")["items"]}
    assert nodes == {"n1"}
    _, rows = _table(busy.kubectl("top", "nodes").stdout)
    assert rows["n2"][1:] == ["<unknown>"] * 4 and int(rows["n1"][1][:-1]) > 0
