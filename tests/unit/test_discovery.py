"""Discovery documents built from the registry: legacy (APIVersions, APIGroupList,
APIResourceList), aggregated (APIGroupDiscoveryList), version.Info, and Accept negotiation."""

from __future__ import annotations

from typing import Any

import pytest

from haplane.api import discovery
from haplane.api.resources import parse_path
from haplane.errors import HaplaneError, NotFound
from haplane.model.registry import KINDS, VIRTUAL_RESOURCES

V1 = discovery.api_resource_list("v1")
APPS = discovery.api_resource_list("apps/v1")


def _entry(doc: dict[str, Any], name: str) -> dict[str, Any]:
    found = [r for r in doc["resources"] if r["name"] == name]
    assert len(found) == 1, name
    return found[0]


@pytest.mark.parametrize(
    ("doc", "name", "expected"),
    [
        pytest.param(V1, "pods", {"singularName": "pod", "namespaced": True, "kind": "Pod", "shortNames": ["po"],
                                  "categories": ["all"]}, id="pods"),
        pytest.param(V1, "services", {"kind": "Service", "shortNames": ["svc"], "categories": ["all"]}, id="svc"),
        pytest.param(V1, "namespaces", {"namespaced": False, "kind": "Namespace", "shortNames": ["ns"]}, id="ns"),
        pytest.param(V1, "nodes", {"namespaced": False, "kind": "Node", "shortNames": ["no"]}, id="nodes"),
        pytest.param(V1, "configmaps", {"kind": "ConfigMap", "shortNames": ["cm"]}, id="cm"),
        pytest.param(V1, "events", {"kind": "Event", "shortNames": ["ev"]}, id="ev"),
        pytest.param(V1, "endpoints", {"singularName": "endpoints", "kind": "Endpoints", "shortNames": ["ep"]},
                     id="ep"),
        pytest.param(APPS, "deployments", {"singularName": "deployment", "kind": "Deployment",
                                           "shortNames": ["deploy"], "categories": ["all"]}, id="deploy"),
        pytest.param(V1, "pods/status", {"singularName": "", "kind": "Pod", "verbs": ["get", "patch", "update"]},
                     id="pods-status"),
        pytest.param(V1, "pods/log", {"kind": "Pod", "verbs": ["get"]}, id="pods-log"),
        pytest.param(APPS, "deployments/scale", {"group": "autoscaling", "version": "v1", "kind": "Scale",
                                                 "verbs": ["get", "patch", "update"]}, id="deploy-scale"),
        pytest.param(APPS, "replicasets", {"singularName": "replicaset", "kind": "ReplicaSet",
                                           "shortNames": ["rs"], "categories": ["all"]}, id="rs"),
        pytest.param(APPS, "replicasets/scale", {"group": "autoscaling", "version": "v1", "kind": "Scale",
                                                 "verbs": ["get", "patch", "update"]}, id="rs-scale"),
        pytest.param(APPS, "replicasets/status", {"kind": "ReplicaSet"}, id="rs-status"),
        pytest.param(APPS, "deployments/status", {"kind": "Deployment"}, id="deploy-status"),
    ],
)
def test_legacy_resource_entries(doc: dict[str, Any], name: str, expected: dict[str, Any]) -> None:
    entry = _entry(doc, name)
    assert expected.items() <= entry.items()
    if "/" not in name:
        assert entry["verbs"] == ["create", "delete", "get", "list", "patch", "update", "watch"]


def test_endpoints_singular_is_not_derived_from_a_plural() -> None:
    # Kubernetes names the singular of "endpoints" "endpoints"; the registry's default is kind.lower().
    assert _entry(V1, "endpoints")["singularName"] == "endpoints"


def test_resource_lists_name_their_group_version_and_only_its_resources() -> None:
    assert V1["kind"] == "APIResourceList" and V1["groupVersion"] == "v1"
    assert APPS["groupVersion"] == "apps/v1"
    assert {r["name"] for r in V1["resources"] if "/" not in r["name"]} == {
        i.plural for i in KINDS.values() if i.api_version == "v1"}


@pytest.mark.parametrize("info", [pytest.param(i, id=i.kind) for i in KINDS.values()])
def test_every_advertised_subresource_is_routed(info: Any) -> None:
    for sub in info.subresources:
        ns = "default" if info.namespaced else None
        tail = f"namespaces/{ns}/{info.plural}/x/{sub.name}" if ns else f"{info.plural}/x/{sub.name}"
        assert parse_path(info.prefix, tail).sub == sub.name


@pytest.mark.parametrize(
    ("info", "sub"),
    [pytest.param(i, s, id=f"{i.plural}/{s}") for i in KINDS.values() for s in ("status", "scale", "log")
     if s not in {x.name for x in i.subresources}],
)
def test_no_routed_subresource_is_left_out_of_discovery(info: Any, sub: str) -> None:
    tail = f"namespaces/default/{info.plural}/x/{sub}" if info.namespaced else f"{info.plural}/x/{sub}"
    with pytest.raises(NotFound):
        parse_path(info.prefix, tail)


def test_unknown_group_version_is_not_found() -> None:
    for gv in ("v2", "batch/v1", "apps/v2"):
        with pytest.raises(NotFound):
            discovery.api_resource_list(gv)
    with pytest.raises(NotFound):
        discovery.api_group("batch")


def test_api_versions_and_groups() -> None:
    assert discovery.api_versions("127.0.0.1:6443") == {
        "kind": "APIVersions", "apiVersion": "v1", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]}
    groups = discovery.api_group_list()
    assert groups["kind"] == "APIGroupList"
    apps = {"groupVersion": "apps/v1", "version": "v1"}
    assert {"name": "apps", "versions": [apps], "preferredVersion": apps} in groups["groups"]
    assert discovery.api_group("apps")["kind"] == "APIGroup"
    assert discovery.groups().keys() == {r.group for r in [*KINDS.values(), *VIRTUAL_RESOURCES] if r.group}


@pytest.mark.parametrize("version", ["v2", "v2beta1"])
def test_aggregated_documents_match_the_legacy_ones(version: str) -> None:
    core, named = discovery.aggregated_list(True, version), discovery.aggregated_list(False, version)
    for doc in (core, named):
        assert doc["kind"] == "APIGroupDiscoveryList" and doc["apiVersion"] == f"apidiscovery.k8s.io/{version}"
    assert [item["metadata"].get("name", "") for item in core["items"]] == [""]
    for item in core["items"] + named["items"]:
        group = item["metadata"].get("name", "")
        for ver in item["versions"]:
            gv = f"{group}/{ver['version']}" if group else ver["version"]
            legacy = {r["name"]: r for r in discovery.api_resource_list(gv)["resources"]}
            assert ver["freshness"] == "Current"
            for res in ver["resources"]:
                top = legacy[res["resource"]]
                assert res["scope"] == ("Namespaced" if top["namespaced"] else "Cluster")
                assert res["responseKind"] == {"group": group, "version": ver["version"], "kind": top["kind"]}
                assert (res["singularResource"], res["verbs"]) == (top["singularName"], top["verbs"])
                assert res.get("shortNames") == top.get("shortNames")
                assert res.get("categories") == top.get("categories")
                subs = {f"{res['resource']}/{s['subresource']}": s for s in res.get("subresources", [])}
                assert subs.keys() == {n for n in legacy if n.startswith(res["resource"] + "/")}
                for name, sub in subs.items():
                    assert sub["verbs"] == legacy[name]["verbs"]
                    assert sub["responseKind"]["kind"] == legacy[name]["kind"]


ACCEPT_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        pytest.param(f"{ACCEPT_V2},application/json", "v2", id="kubectl-1.37"),
        pytest.param("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json",
                     "v2beta1", id="older-client-go"),
        pytest.param("application/json, */*", "", id="legacy-client"),
        pytest.param("", "", id="no-accept"),
        pytest.param(None, "", id="absent"),
        pytest.param("*/*", "", id="anything"),
        pytest.param("application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList,application/json", "",
                     id="unknown-aggregated-version-falls-back"),
        pytest.param("application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList", None,
                     id="only-unknown-aggregated-is-406"),
        pytest.param("application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                     "application/json", "", id="protobuf-first"),
        pytest.param("application/xml", None, id="xml-is-406"),
        pytest.param(f"application/json;q=0.9, {ACCEPT_V2};q=1", "v2", id="q-ignored-order-wins-aggregated"),
    ],
)
def test_negotiate(accept: str | None, expected: str | None) -> None:
    assert discovery.negotiate(accept) == expected


def test_version_info_has_every_field_clients_require() -> None:
    info = discovery.version_info()
    required = {"major", "minor", "gitVersion", "gitCommit", "gitTreeState", "buildDate", "goVersion", "compiler",
                "platform"}
    assert required <= info.keys() and all(isinstance(info[k], str) and info[k] for k in required)
    assert (info["major"], info["minor"]) == tuple(discovery.KUBERNETES_VERSION.split(".")[:2])
    assert info["gitVersion"] == f"v{discovery.KUBERNETES_VERSION}+haplane"


def test_errors_are_haplane_errors() -> None:
    with pytest.raises(HaplaneError) as exc:
        discovery.api_resource_list("nope/v1")
    assert exc.value.code == 404
