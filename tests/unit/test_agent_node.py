"""The agent's pure pieces around Nodes: option parsing, the Node to create, and the updates
that keep others' fields (spec, conditions, foreign labels) intact."""

from __future__ import annotations

import dataclasses

import pytest

from node_agent.node import (
    HOSTNAME_LABEL,
    NodeConfig,
    new_node,
    node_update,
    normalized,
    parse_labels,
    parse_taints,
    status_update,
)

T0 = 1_700_000_000.0
CFG = NodeConfig("n1", "127.0.1.1", 10250, "process", "1", cpu="2", memory="4Gi", labels={"zone": "a"},
                 taints=({"key": "dedicated", "value": "db", "effect": "NoSchedule"},))


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("", {}, id="empty"),
    pytest.param("a=1, b=two ,c=", {"a": "1", "b": "two", "c": ""}, id="several-with-spaces-and-empty-value"),
    pytest.param("example.com/tier=web", {"example.com/tier": "web"}, id="prefixed-key"),
])
def test_parse_labels(text: str, expected: dict) -> None:
    assert parse_labels(text) == expected


@pytest.mark.parametrize("text", ["novalue", "=x"])
def test_parse_labels_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_labels(text)


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("dedicated=db:NoSchedule", [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}],
                 id="key-value-effect"),
    pytest.param("gpu:NoExecute,spot=yes:PreferNoSchedule",
                 [{"key": "gpu", "effect": "NoExecute"},
                  {"key": "spot", "value": "yes", "effect": "PreferNoSchedule"}], id="key-only-and-several"),
])
def test_parse_taints(text: str, expected: list) -> None:
    assert parse_taints(text) == expected


@pytest.mark.parametrize("text", ["a=b", "a=b:Sometimes", ":NoSchedule"])
def test_parse_taints_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_taints(text)


def test_new_node_is_complete_and_valid() -> None:
    node = normalized("Node", new_node(CFG, T0))
    assert node["metadata"]["labels"][HOSTNAME_LABEL] == "n1"
    assert node["metadata"]["labels"]["zone"] == "a"
    assert node["spec"]["taints"] == [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]
    st = node["status"]
    assert st["capacity"] == st["allocatable"] == {"cpu": "2", "memory": "4Gi", "pods": "110"}
    assert {"type": "InternalIP", "address": "127.0.1.1"} in st["addresses"]
    assert st["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 10250}}
    assert st["nodeInfo"]["containerRuntimeVersion"] == "process://1"
    [ready] = st["conditions"]
    assert ready["type"] == "Ready" and ready["status"] == "True"


@pytest.mark.parametrize(("log_address", "https", "endpoint"), [
    pytest.param(None, False, {"Port": 10250}, id="default: no extension, older replicas accept it"),
    pytest.param("127.0.1.1", False, {"Port": 10250}, id="log address = node address"),
    pytest.param("172.31.250.1", False, {"Port": 10250, "Address": "172.31.250.1"}, id="own log address"),
    pytest.param(None, True, {"Port": 10250, "Scheme": "https"}, id="https"),
    pytest.param("172.31.250.1", True, {"Port": 10250, "Address": "172.31.250.1", "Scheme": "https"}, id="both"),
])
def test_the_log_endpoint_published(log_address: str | None, https: bool, endpoint: dict) -> None:
    cfg = dataclasses.replace(CFG, log_address=log_address, log_https=https)
    node = normalized("Node", new_node(cfg, T0))
    assert node["status"]["daemonEndpoints"] == {"kubeletEndpoint": endpoint}


def _stored(obj: dict, rv: str = "7") -> dict:
    out = normalized("Node", obj)
    out["metadata"]["resourceVersion"] = rv
    return out


def test_update_keeps_spec_foreign_labels_and_conditions() -> None:
    existing = _stored(new_node(CFG, T0))
    existing["spec"] = {"unschedulable": True, "taints": [{"key": "node.kubernetes.io/unreachable",
                                                           "effect": "NoExecute"}]}
    existing["metadata"]["labels"]["owner"] = "ops"
    not_ready = {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown"}
    existing["status"]["conditions"] = [not_ready]
    moved = NodeConfig("n1", "127.0.1.9", 10251, "process", "1", cpu="2", memory="4Gi",
                       labels={"zone": "b"})

    upd = node_update(existing, moved)
    assert upd is not None
    assert upd["metadata"]["labels"]["zone"] == "b" and upd["metadata"]["labels"]["owner"] == "ops"
    assert upd["metadata"]["resourceVersion"] == "7", "the update is a CAS on what was read"
    assert upd["spec"] == existing["spec"], "cordon and taints belong to users and the lifecycle controller"

    st = status_update(existing, moved, T0 + 60)
    assert st is not None
    assert {"type": "InternalIP", "address": "127.0.1.9"} in st["status"]["addresses"]
    assert st["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] == 10251
    assert st["status"]["conditions"] == [not_ready], "Ready is the lifecycle controller's after registration"


def test_update_of_an_up_to_date_node_is_nothing() -> None:
    existing = _stored(new_node(CFG, T0))
    assert node_update(existing, CFG) is None
    assert status_update(existing, CFG, T0 + 3600) is None


def test_status_update_adds_ready_only_when_absent() -> None:
    existing = _stored(new_node(CFG, T0))
    existing["status"]["conditions"] = []
    st = status_update(existing, CFG, T0)
    assert st is not None and [c["type"] for c in st["status"]["conditions"]] == ["Ready"]
