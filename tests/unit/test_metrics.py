"""Metric naming and labels (haplane.metrics, node_agent.metrics), the /metrics auth rule, JSON logs."""

from __future__ import annotations

import io
import json
import logging

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from haplane import logformat
from haplane.api.auth import User, authorize
from haplane.errors import Forbidden
from haplane.metrics import ServerMetrics, classify, is_longrunning, node_conditions, parse_address
from node_agent.metrics import AgentMetrics


@pytest.mark.parametrize(("method", "path", "watch", "want"), [
    pytest.param("GET", "/api/v1/namespaces/default/pods", False, ("list", "pods", ""), id="list-namespaced"),
    pytest.param("GET", "/api/v1/pods", False, ("list", "pods", ""), id="list-all-namespaces"),
    pytest.param("GET", "/api/v1/namespaces/default/pods", True, ("watch", "pods", ""), id="watch"),
    pytest.param("GET", "/api/v1/namespaces/default/pods/web-1", False, ("get", "pods", ""), id="get"),
    pytest.param("GET", "/api/v1/namespaces/default/pods/web-1/log", False, ("get", "pods", "log"), id="log"),
    pytest.param("POST", "/api/v1/namespaces/default/configmaps", False, ("create", "configmaps", ""), id="create"),
    pytest.param("PUT", "/api/v1/namespaces/d/pods/p/status", False, ("update", "pods", "status"), id="status"),
    pytest.param("PATCH", "/apis/apps/v1/namespaces/d/deployments/w", False, ("patch", "deployments", ""),
                 id="patch-apps"),
    pytest.param("PUT", "/apis/apps/v1/namespaces/d/deployments/w/scale", False, ("update", "deployments", "scale"),
                 id="scale"),
    pytest.param("DELETE", "/api/v1/nodes/n1", False, ("delete", "nodes", ""), id="delete-cluster-scoped"),
    pytest.param("GET", "/api/v1/namespaces", False, ("list", "namespaces", ""), id="list-namespaces"),
    pytest.param("GET", "/api/v1/namespaces/default", False, ("get", "namespaces", ""), id="get-namespace"),
    pytest.param("PUT", "/api/v1/namespaces/default/status", False, ("update", "namespaces", "status"),
                 id="namespace-status"),
    pytest.param("GET", "/api/v1/namespaces/default/widgets", False, ("get", "namespaces", ""),
                 id="unknown-kind-below-a-namespace"),
    pytest.param("GET", "/api/v1/widgets/x", False, ("get", "", ""), id="unknown-resource-no-raw-path"),
    pytest.param("GET", "/metrics", False, ("get", "", ""), id="non-resource"),
    pytest.param("GET", "/api/v1x/pods", False, ("get", "", ""), id="prefix-lookalike"),
    pytest.param("POST", "/cluster/heartbeat", False, ("post", "", ""), id="non-resource-post"),
])
def test_classify(method: str, path: str, watch: bool, want: tuple[str, str, str]) -> None:
    assert classify(method, path, watch) == want


@pytest.mark.parametrize(("verb", "sub", "want"), [
    pytest.param("watch", "", True, id="watch"),
    pytest.param("get", "log", True, id="log"),
    pytest.param("create", "exec", True, id="exec"),
    pytest.param("create", "portforward", True, id="portforward"),
    pytest.param("get", "", False, id="get"),
    pytest.param("update", "status", False, id="status"),
    pytest.param("list", "", False, id="list"),
])
def test_is_longrunning(verb: str, sub: str, want: bool) -> None:
    assert is_longrunning(verb, sub) is want


@pytest.mark.parametrize(("text", "want"), [
    pytest.param("127.0.0.1:9100", ("127.0.0.1", 9100), id="ipv4"),
    pytest.param("[::1]:9100", ("::1", 9100), id="ipv6"),
    pytest.param("0.0.0.0:1", ("0.0.0.0", 1), id="any"),
])
def test_parse_address(text: str, want: tuple[str, int]) -> None:
    assert parse_address(text) == want


@pytest.mark.parametrize("text", ["9100", ":9100", "host:", "host:0", "host:70000", "host:x"])
def test_parse_address_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_address(text)


def test_node_conditions_count_every_condition_and_always_ready() -> None:
    nodes = [{"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
             {"status": {"conditions": [{"type": "Ready", "status": "Unknown"},
                                        {"type": "MemoryPressure", "status": "False"}]}},
             {"status": {}}, {}]
    assert node_conditions(nodes) == {("Ready", "True"): 1, ("Ready", "False"): 0, ("Ready", "Unknown"): 1,
                                      ("MemoryPressure", "False"): 1}
    assert node_conditions([]) == {("Ready", "True"): 0, ("Ready", "False"): 0, ("Ready", "Unknown"): 0}


@pytest.mark.parametrize(("role", "method", "path", "allowed"), [
    pytest.param("viewer", "GET", "/metrics", True, id="viewer-reads"),
    pytest.param("node", "GET", "/metrics", True, id="node-reads"),
    pytest.param("admin", "GET", "/metrics", True, id="admin-reads"),
    pytest.param("viewer", "POST", "/metrics", False, id="viewer-cannot-post"),
    pytest.param("viewer", "GET", "/metricsx", False, id="exact-path-only"),
])
def test_metrics_path_rule(role: str, method: str, path: str, allowed: bool) -> None:
    user = User("u", role)
    if allowed:
        authorize(user, method, None, path=path)
    else:
        with pytest.raises(Forbidden):
            authorize(user, method, None, path=path)


def families(text: bytes) -> dict[str, str]:
    return {f.name: f.type for f in text_string_to_metric_families(text.decode())}


def test_registries_are_per_instance() -> None:
    a, b = ServerMetrics(), ServerMetrics()
    a.api.requests.labels("create", "configmaps", "", "201").inc(3)
    assert b"apiserver_request_total{" not in b.render()
    assert b'apiserver_request_total{code="201",resource="configmaps",subresource="",verb="create"} 3.0' in a.render()


def test_server_names_and_types() -> None:
    got = families(ServerMetrics().render())
    want = {"apiserver_request": "counter", "apiserver_request_duration_seconds": "histogram",
            "apiserver_current_inflight_requests": "gauge", "apiserver_longrunning_requests": "gauge",
            "etcd_server_apply_duration_seconds": "histogram", "haplane_raft_entry_bytes": "histogram",
            "haplane_raft_entry_ops": "histogram", "haplane_controller_step_duration_seconds": "histogram",
            "haplane_controller_step_errors": "counter", "workqueue_depth": "gauge",
            "scheduler_pending_pods": "gauge", "scheduler_schedule_attempts": "counter",
            "scheduler_scheduling_algorithm_duration_seconds": "histogram", "haplane_scheduler_bindings": "counter",
            "node_collector_evictions": "counter"}
    assert {k: got.get(k) for k in want} == want
    assert all(n.startswith(("apiserver_", "etcd_", "haplane_", "scheduler_", "workqueue_", "node_collector_"))
               for n in got)


def test_agent_names_and_types() -> None:
    got = families(AgentMetrics(CollectorRegistry()).render())
    assert got == {"kubelet_pod_start_duration_seconds": "histogram", "haplane_agent_containers_started": "counter",
                   "haplane_agent_container_restarts": "counter", "kubelet_runtime_operations_errors": "counter",
                   "prober_probe": "counter", "haplane_proxy_connections": "counter", "haplane_proxy_bytes": "counter",
                   "haplane_proxy_refused_endpoints": "counter"}


def _log_line(fmt: str, rid: str | None) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logformat.RequestIdFilter())
    handler.setFormatter(logformat.JsonFormatter("r1") if fmt == "json"
                         else logformat.TextFormatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger(f"test.logformat.{fmt}")
    logger.propagate = False
    logger.addHandler(handler)
    token = logformat.request_id.set(rid)
    try:
        logger.warning("wrote %s", "x")
    finally:
        logformat.request_id.reset(token)
        logger.removeHandler(handler)
    return stream.getvalue()


def test_json_lines_carry_the_request_id() -> None:
    line = _log_line("json", "admin:abc")
    assert line.endswith("\n") and line.count("\n") == 1
    doc = json.loads(line)
    assert doc["level"] == "WARNING" and doc["logger"] == "test.logformat.json" and doc["message"] == "wrote x"
    assert doc["requestId"] == "admin:abc" and doc["process"] == "r1" and doc["time"].endswith("+00:00")
    assert "requestId" not in json.loads(_log_line("json", None))


def test_text_lines_carry_the_request_id() -> None:
    assert _log_line("text", "admin:abc") == "WARNING test.logformat.text: wrote x [rid=admin:abc]\n"
    assert _log_line("text", None) == "WARNING test.logformat.text: wrote x\n"


async def test_metrics_address_serves_metrics_without_a_token() -> None:
    import socket

    import aiohttp

    from haplane.metrics import serve_unauthenticated

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    m = ServerMetrics()
    m.control.evictions.inc(2)
    runner = await serve_unauthenticated(f"127.0.0.1:{port}", m.render)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            async with session.get(f"http://127.0.0.1:{port}/metrics") as r:
                assert r.status == 200
                assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
                assert "node_collector_evictions_total 2.0" in await r.text()
            async with session.get(f"http://127.0.0.1:{port}/api/v1/pods") as r:
                assert r.status == 404
    finally:
        await runner.cleanup()
