"""/metrics on every replica and agent of a running cluster (3 replicas, 2 process agents).

The cluster takes free ports and node addresses of its own (as tests/kube does), so this module
is safe beside other clusters.

Every scrape is checked by ``promtool check metrics`` (Debian's ``prometheus`` package; the
test fails when it is missing, never skips) and by prometheus-client's own text parser; the
counters must move with the work done: N creates are N more
``apiserver_request_total{verb="create",resource="configmaps",code="201"}`` summed over the
replicas, and a killed leader moves ``etcd_server_leader_changes_seen_total`` on the survivors. Every
process runs with ``HAPLANE_LOG_FORMAT=json`` and every line of its log must be one JSON object.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from haplane.client import Client
from haplane.localcluster import LocalCluster
from tests.integration.elastic import free_base_port
from tests.unit.test_dashboard import dashboard_exprs, metric_names

pytestmark = pytest.mark.integration

CREATES = 25


@pytest.fixture(scope="module")
def lc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    base = free_base_port()
    c = LocalCluster(str(tmp_path_factory.mktemp("metrics") / "cluster"), agents=2, runtime="process",
                     base_port=base, node_net=f"127.78.{(base // 200) % 250}", env={"HAPLANE_LOG_FORMAT": "json"})
    c.start_all()
    try:
        c.wait_ready(timeout=60)
        yield c
    finally:
        c.stop_all()


def scrape(url: str, token: str | None, context: ssl.SSLContext | None = None) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5, context=context) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return r.read().decode()


def promtool_check(text: str) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: apt-get install prometheus (.ci/run does)"
    out = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, f"promtool check metrics:\n{out.stdout}{out.stderr}"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, parsed by prometheus-client: (name, sorted labels) -> value."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(parsed: dict, name: str, **labels: str) -> float:
    """The sum of ``name`` over the samples whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in parsed.items() if n == name and want <= set(ls))


def replica_scrapes(lc: LocalCluster, names: list[str] | None = None) -> dict[str, dict]:
    out = {}
    for m in lc.replicas:
        if names is None or m.name in names:
            text = scrape(f"{m.url}/metrics", lc.token("viewer"), lc.ssl_context())
            promtool_check(text)
            out[m.name] = samples(text)
    return out


def agent_urls(lc: LocalCluster) -> list[str]:
    nodes = lc.get_json("r1", "/api/v1/nodes")["items"]
    assert len(nodes) == 2
    return [f"http://{n['status']['addresses'][0]['address']}:{n['status']['daemonEndpoints']['kubeletEndpoint']['Port']}"
            for n in nodes]


def wait_nodes(lc: LocalCluster, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while len(lc.get_json("r1", "/api/v1/nodes")["items"]) < 2:
        assert time.monotonic() < deadline, "the agents did not register"
        time.sleep(0.2)


def test_every_replica_serves_valid_metrics_to_viewers_only(lc: LocalCluster) -> None:
    scrapes = replica_scrapes(lc)
    assert sorted(scrapes) == ["r1", "r2", "r3"]
    for name, parsed in scrapes.items():
        assert value(parsed, "etcd_server_has_leader") == 1, name
        assert value(parsed, "haplane_raft_term") >= 1, name
        assert value(parsed, "etcd_server_proposals_committed_total") >= 1, name
        assert value(parsed, "etcd_server_apply_duration_seconds_count") >= 1, name
    assert sum(value(p, "etcd_server_is_leader") for p in scrapes.values()) == 1
    url = f"{lc.replicas[0].url}/metrics"
    with pytest.raises(urllib.error.HTTPError) as exc:
        scrape(url, None)
    assert exc.value.code == 401


def test_every_replica_measures_its_round_trip_to_each_peer(lc: LocalCluster) -> None:
    """haplane_raft_peer_rtt_seconds{peer}: a keepalive's ping answered by the peer's pong."""
    deadline = time.monotonic() + 15
    while True:
        rtts = {name: {dict(ls)["peer"]: v for (n, ls), v in p.items() if n == "haplane_raft_peer_rtt_seconds"}
                for name, p in replica_scrapes(lc).items()}
        want = {m.name: {o.raft for o in lc.replicas if o.name != m.name} for m in lc.replicas}
        if all(set(rtts[name]) == want[name] for name in want):
            break
        assert time.monotonic() < deadline, f"peers without an RTT: {rtts} (want {want})"
        time.sleep(0.3)
    assert all(0 < v < 5 for peers in rtts.values() for v in peers.values()), rtts


def test_every_agent_serves_valid_metrics(lc: LocalCluster) -> None:
    wait_nodes(lc)
    for url in agent_urls(lc):
        text = scrape(url + "/metrics", lc.token("viewer"))
        promtool_check(text)
        parsed = samples(text)
        assert ("prober_probe_total", (("probe_type", "liveness"), ("result", "failed"))) in parsed
        assert ("kubelet_pod_start_duration_seconds_count", ()) in parsed
        with pytest.raises(urllib.error.HTTPError) as exc:
            scrape(url + "/metrics", None)
        assert exc.value.code == 401


async def test_creates_move_the_request_counter_by_exactly_n(lc: LocalCluster) -> None:
    key = {"verb": "create", "resource": "configmaps", "code": "201"}
    before = sum(value(p, "apiserver_request_total", **key) for p in replica_scrapes(lc).values())
    async with Client(lc.endpoints, lc.admin_token, timeout=10.0) as c:  # spread over the replicas
        for i in range(CREATES):
            await c.request("POST", "/api/v1/namespaces/default/configmaps",
                            json={"apiVersion": "v1", "kind": "ConfigMap",
                                  "metadata": {"name": f"m-{i}-{uuid.uuid4().hex[:6]}"}, "data": {"i": str(i)}})
    after = replica_scrapes(lc)
    assert sum(value(p, "apiserver_request_total", **key) for p in after.values()) - before == CREATES
    for p in after.values():
        assert value(p, "apiserver_request_duration_seconds_count", verb="create", resource="configmaps") == \
            value(p, "apiserver_request_total", verb="create", resource="configmaps")


async def test_pod_start_is_observed_by_the_agent_that_ran_it(lc: LocalCluster) -> None:
    wait_nodes(lc)
    urls = agent_urls(lc)
    before = sum(value(samples(scrape(u + "/metrics", lc.token("viewer"))), "kubelet_pod_start_duration_seconds_count")
                 for u in urls)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p-{uuid.uuid4().hex[:6]}"},
           "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "60"]}]}}
    async with Client(lc.endpoints, lc.admin_token, timeout=10.0) as c:
        await c.request("POST", "/api/v1/namespaces/default/pods", json=pod)
        deadline = time.monotonic() + 30
        while True:
            total = sum(value(samples(scrape(u + "/metrics", lc.token("viewer"))),
                              "kubelet_pod_start_duration_seconds_count") for u in urls)
            if total == before + 1:
                break
            assert time.monotonic() < deadline, f"pod start not counted ({before} -> {total})"
            time.sleep(0.3)
        await c.request("DELETE", f"/api/v1/namespaces/default/pods/{pod['metadata']['name']}")


def test_a_leader_kill_moves_leader_changes_on_the_survivors(lc: LocalCluster) -> None:
    leader = lc.wait_ready(timeout=30)
    survivors = [m.name for m in lc.replicas if m.name != leader]
    before = replica_scrapes(lc, survivors)
    lc.kill(leader)
    try:
        lc.wait_ready(timeout=30, names=survivors, not_leader=leader)
        after = replica_scrapes(lc, survivors)
        for name in survivors:
            assert value(after[name], "etcd_server_leader_changes_seen_total") > \
                value(before[name], "etcd_server_leader_changes_seen_total"), name
            assert value(after[name], "haplane_raft_term") > value(before[name], "haplane_raft_term"), name
        assert sum(value(p, "etcd_server_is_leader") for p in after.values()) == 1
    finally:
        lc.start(leader)
        lc.wait_ready(timeout=60)


def test_the_dashboard_uses_only_exported_metrics(lc: LocalCluster) -> None:
    wait_nodes(lc)
    names = {n for p in replica_scrapes(lc).values() for n, _ in p}
    for url in agent_urls(lc):
        names |= {n for n, _ in samples(scrape(url + "/metrics", lc.token("viewer")))}
    used = {n for e in dashboard_exprs() for n in metric_names(e)}
    assert used and used <= names, f"the dashboard uses metrics nobody exports: {sorted(used - names)}"


def test_every_process_logs_one_json_object_per_line(lc: LocalCluster) -> None:
    for m in lc.members.values():
        with open(lc.path(m.name, "log"), encoding="utf-8") as f:
            lines = [line for line in f if line.strip()]
        assert lines, m.name
        for line in lines:
            doc = json.loads(line)
            assert {"time", "level", "logger", "message"} <= set(doc), (m.name, line)
