"""The OpenAPI v3 documents: one per group-version as Kubernetes publishes them (schema names,
x-kubernetes-* extensions, paths by verb with their query parameters), plain OpenAPI 3.0 with
every $ref resolving inside its own document, read as kubectl reads them (its query-parameter
verifier, its strategic-merge-patch check, explain's lookup), and true of what validate() makes."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from pydantic import Field

from haplane.api import discovery
from haplane.api.body import PATCH_TYPES
from haplane.api.openapi import (
    OPERATION_PARAMETERS,
    build_document,
    build_root,
    document_keys,
    documents,
    schema_name,
    to_oas30,
)
from haplane.errors import Invalid, NotFound, Unavailable
from haplane.model.base import KubeModel
from haplane.model.registry import KINDS, VIRTUAL_RESOURCES, KindInfo, validate
from tests.unit.test_models import MANIFESTS, MINIMAL, mutated_manifests

DOCS = {key: build_document(key) for key in document_keys()}
METHODS = {"get", "put", "post", "patch", "delete"}
META = "io.k8s.apimachinery.pkg.apis.meta.v1"


def merged_document(docs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """All documents as one (schema names are global, paths are disjoint): what the fuzzer reads."""
    first = next(iter(docs.values()))
    out = {**first, "paths": {}, "components": {**first["components"], "schemas": {}}}
    for doc in docs.values():
        assert not (out["paths"].keys() & doc["paths"].keys())
        out["paths"].update(doc["paths"])
        out["components"]["schemas"].update(doc["components"]["schemas"])
    return out


DOC = merged_document(DOCS)
SCHEMAS = DOC["components"]["schemas"]


def _walk(node: Any, path: str = "#") -> Any:
    """Yield (json-pointer-ish path, dict) for every dict in the document."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}/{i}")


def _resolve(ref: str, doc: dict[str, Any] = DOC) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _operations(doc: dict[str, Any] = DOC) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in doc["paths"].items() for method, op in item.items()
            if method in METHODS]


def _doc_of(info: KindInfo) -> dict[str, Any]:
    return DOCS[f"apis/{info.api_version}" if info.group else f"api/{info.api_version}"]


@pytest.mark.parametrize("key", list(DOCS))
def test_each_document_is_openapi_3_0_with_info(key: str) -> None:
    doc = DOCS[key]
    assert doc["openapi"].startswith("3.0.")
    assert doc["info"]["title"] and doc["info"]["version"]
    json.dumps(doc)  # plain JSON


def test_one_document_per_group_version_and_haplane_s_own() -> None:
    assert document_keys()[:2] == ("api/v1", "apis/apps/v1") and document_keys()[-1] == "haplane"
    for info in KINDS.values():
        assert any(path.startswith(info.prefix + "/") for path in _doc_of(info)["paths"]), info.kind


def test_root_lists_each_document_at_a_url_carrying_its_hash() -> None:
    served = documents()
    root = build_root({key: digest for key, (_, digest) in served.items()})
    assert set(root["paths"]) == set(document_keys())
    for key, (body, digest) in served.items():
        assert root["paths"][key] == {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
        assert digest == hashlib.sha512(body).hexdigest().upper()
        assert json.loads(body) == DOCS[key]


def test_unknown_document_is_not_found() -> None:
    with pytest.raises(NotFound):
        build_document("apis/batch/v1")


def _expected_operations() -> set[tuple[str, str]]:
    ops: set[tuple[str, str]] = set()
    for info in KINDS.values():
        base = f"{info.prefix}/namespaces/{{namespace}}/{info.plural}" if info.namespaced \
            else f"{info.prefix}/{info.plural}"
        ops |= {(base, "get"), (base, "post")}
        ops |= {(f"{base}/{{name}}", m) for m in ("get", "put", "patch", "delete")}
        if info.has_status:
            ops |= {(f"{base}/{{name}}/status", m) for m in ("get", "put", "patch")}
        if info.namespaced:
            ops.add((f"{info.prefix}/{info.plural}", "get"))
    for plural in ("deployments", "replicasets"):
        scale = f"/apis/apps/v1/namespaces/{{namespace}}/{plural}/{{name}}/scale"
        ops |= {(scale, "get"), (scale, "put"), (scale, "patch")}
    ops |= {("/cluster/status", "get"), ("/healthz", "get"), ("/readyz", "get"),
            ("/version", "get"), ("/api/v1/namespaces/{namespace}/pods/{name}/log", "get")}
    ops |= {(path, "get") for path in ("/api", "/apis", "/api/v1", "/apis/apps/v1", "/apis/apps")}
    ops.add(("/api/v1/namespaces/{namespace}/pods/{name}/eviction", "post"))
    for res in VIRTUAL_RESOURCES:  # create-only reviews, the metrics API, and their groups' discovery documents
        if "create" in res.verbs:
            ops.add((f"/apis/{res.api_version}/{res.plural}", "post"))
        ops |= {(f"/apis/{res.api_version}", "get"), (f"/apis/{res.group}", "get")}
    for plural in ("pods", "nodes"):  # get and list, namespaced and across namespaces for pods
        base = "/apis/metrics.k8s.io/v1beta1/" + ("namespaces/{namespace}/pods" if plural == "pods" else "nodes")
        ops |= {(base, "get"), (f"{base}/{{name}}", "get")}
    ops.add(("/apis/metrics.k8s.io/v1beta1/pods", "get"))
    return ops


def test_paths_cover_every_kind_and_nothing_else() -> None:
    assert {(path, method) for path, method, _ in _operations()} == _expected_operations()


@pytest.mark.parametrize(
    ("path", "method", "op_id"),
    [
        pytest.param("/api/v1/namespaces/{namespace}/pods", "post", "createNamespacedPod", id="create-pod"),
        pytest.param("/api/v1/pods", "get", "listPodForAllNamespaces", id="all-pods"),
        pytest.param("/api/v1/nodes/{name}/status", "put", "replaceNodeStatus", id="node-status"),
        pytest.param("/api/v1/namespaces/{name}", "delete", "deleteNamespace", id="delete-namespace"),
        pytest.param("/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", "put",
                     "replaceNamespacedDeploymentScale", id="scale"),
        pytest.param("/api/v1/namespaces/{namespace}/configmaps/{name}", "patch", "patchNamespacedConfigMap",
                     id="patch-configmap"),
        pytest.param("/api/v1/namespaces/{namespace}/pods/{name}/log", "get", "readNamespacedPodLog", id="pod-log"),
        pytest.param("/api/v1", "get", "getCoreV1APIResources", id="core-v1-resources"),
        pytest.param("/apis/apps/v1", "get", "getAppsV1APIResources", id="apps-v1-resources"),
        pytest.param("/apis/apps", "get", "getAppsAPIGroup", id="apps-group"),
        pytest.param("/apis", "get", "getAPIVersions", id="groups"),
    ],
)
def test_well_known_operations_exist_with_kubernetes_operation_ids(path: str, method: str, op_id: str) -> None:
    assert DOC["paths"][path][method]["operationId"] == op_id


@pytest.mark.parametrize("key", list(DOCS))
def test_operation_ids_are_unique(key: str) -> None:
    ids = [op["operationId"] for _, _, op in _operations(DOCS[key])]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(("path", "method", "op"), [pytest.param(*o, id=f"{o[1]} {o[0]}") for o in _operations()])
def test_every_operation_declares_auth_success_status_default_and_its_parameters(
        path: str, method: str, op: dict) -> None:
    public = path in ("/healthz", "/readyz")
    assert op["security"] == ([] if public else [{"BearerToken": []}])
    assert any(code.startswith("2") for code in op["responses"])
    assert op["responses"]["default"]["content"]["application/json"]["schema"] == {
        "$ref": f"#/components/schemas/{META}.Status"}
    if method in ("put", "post"):
        assert "application/json" in op["requestBody"]["content"]
    if method == "patch":
        assert set(op["requestBody"]["content"]) == PATCH_TYPES
    params = [*DOC["paths"][path].get("parameters", []), *op.get("parameters", [])]
    assert all("$ref" not in p for p in params), "kubectl reads parameter names inline"
    assert {p["name"] for p in params if p["in"] == "path"} == set(re.findall(r"\{(\w+)\}", path))
    if path.startswith("/api") and path not in DOCS["haplane"]["paths"]:  # a resource, not discovery
        assert op["x-kubernetes-action"] in ("list", "get", "post", "put", "patch", "delete")
        assert set(op["x-kubernetes-group-version-kind"]) == {"group", "version", "kind"}


def test_list_operations_take_the_list_query_parameters_and_stream_watches() -> None:
    op = DOC["paths"]["/api/v1/namespaces/{namespace}/pods"]["get"]
    assert {p["name"] for p in op["parameters"]} == set(OPERATION_PARAMETERS["list"])
    content = op["responses"]["200"]["content"]
    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/io.k8s.api.core.v1.PodList"}
    assert content["application/json;stream=watch"]["schema"] == {"$ref": f"#/components/schemas/{META}.WatchEvent"}


# --- read as kubectl reads them ----------------------------------------------------------------------

def supports_query_param(doc: dict[str, Any], gvk: dict[str, str], param: str) -> bool:
    """What cli-runtime's queryParamVerifierV3 concludes: the PATCH operation tagged with the GVK
    lists the parameter."""
    for item in doc["paths"].values():
        op = item.get("patch")
        if op is not None and op.get("x-kubernetes-group-version-kind") == gvk:
            return any(p.get("name") == param for p in op.get("parameters", []))
    return False


def supports_strategic_merge(doc: dict[str, Any], gvk: dict[str, str]) -> bool:
    """What kubectl apply's gvkSupportsPatchOpenAPIV3 concludes."""
    for item in doc["paths"].values():
        op = item.get("patch")
        if op is not None and op.get("x-kubernetes-group-version-kind") == gvk:
            return "application/strategic-merge-patch+json" in op.get("requestBody", {}).get("content", {})
    return False


def explain_schema(doc: dict[str, Any], gvk: dict[str, str]) -> dict[str, Any]:
    """kubectl explain's lookup: the schema whose x-kubernetes-group-version-kind holds the GVK."""
    found = [s for s in doc["components"]["schemas"].values() if gvk in s.get("x-kubernetes-group-version-kind", [])]
    assert len(found) == 1, gvk
    return found[0]


def _gvk(info: KindInfo) -> dict[str, str]:
    return {"group": info.group, "version": info.version, "kind": info.kind}


@pytest.mark.parametrize("info", [pytest.param(i, id=i.kind) for i in KINDS.values()])
def test_kubectl_delegates_validation_to_the_server_for_every_kind(info: KindInfo) -> None:
    assert supports_query_param(_doc_of(info), _gvk(info), "fieldValidation")
    assert not supports_query_param(_doc_of(info), _gvk(info), "no-such-parameter")


@pytest.mark.parametrize("info", [pytest.param(i, id=i.kind) for i in KINDS.values()])
def test_strategic_merge_is_advertised_exactly_when_served(info: KindInfo) -> None:
    assert supports_strategic_merge(_doc_of(info), _gvk(info)) == ("application/strategic-merge-patch+json"
                                                                     in PATCH_TYPES)


@pytest.mark.parametrize(
    ("kind", "path", "type_name"),
    [
        pytest.param("Pod", "spec.containers", "io.k8s.api.core.v1.Container", id="pod-containers"),
        pytest.param("Pod", "metadata", f"{META}.ObjectMeta", id="pod-metadata"),
        pytest.param("Pod", "spec.containers.ports", "io.k8s.api.core.v1.ContainerPort", id="container-ports"),
        pytest.param("Deployment", "spec.strategy", "io.k8s.api.apps.v1.DeploymentStrategy", id="deploy-strategy"),
        pytest.param("Deployment", "spec.template", "io.k8s.api.core.v1.PodTemplateSpec", id="deploy-template"),
        pytest.param("Deployment", "spec.selector", f"{META}.LabelSelector", id="deploy-selector"),
        pytest.param("Deployment", "spec.template.spec", "io.k8s.api.core.v1.PodSpec", id="template-spec"),
        pytest.param("Service", "spec.ports", "io.k8s.api.core.v1.ServicePort", id="service-ports"),
    ],
)
def test_explain_walks_fields_to_kubernetes_named_types_with_descriptions(kind: str, path: str, type_name: str) -> None:
    info = KINDS[kind]
    doc = _doc_of(info)
    node = explain_schema(doc, _gvk(info))
    prop: dict[str, Any] = {}
    for part in path.split("."):
        prop = node["properties"][part]
        assert prop.get("description"), f"{kind}.{path}: no description for {part}"
        target = prop.get("items", prop)
        ref = target.get("$ref") or target["allOf"][0]["$ref"]
        node = _resolve(ref, doc)
    assert ref == f"#/components/schemas/{type_name}"
    assert node.get("description"), type_name


@pytest.mark.parametrize(
    ("model", "name"),
    [
        pytest.param(KINDS["Pod"].model, "io.k8s.api.core.v1.Pod", id="pod"),
        pytest.param(KINDS["Deployment"].model, "io.k8s.api.apps.v1.Deployment", id="deployment"),
        pytest.param(KINDS["Deployment"].subresources[-1].model, "io.k8s.api.autoscaling.v1.Scale", id="scale"),
        pytest.param(KINDS["Node"].model, "io.k8s.api.core.v1.Node", id="node"),
    ],
)
def test_schema_names_follow_kubernetes(model: type, name: str) -> None:
    assert schema_name(model) == name


@pytest.mark.parametrize("info", [pytest.param(i, id=i.kind) for i in KINDS.values()])
def test_every_kind_and_list_carries_its_group_version_kind(info: KindInfo) -> None:
    schemas = _doc_of(info)["components"]["schemas"]
    assert schemas[schema_name(info.model)]["x-kubernetes-group-version-kind"] == [
        {"group": info.group, "kind": info.kind, "version": info.version}]
    list_name = schema_name(info.model).rpartition(".")[0] + f".{info.list_kind}"
    assert schemas[list_name]["x-kubernetes-group-version-kind"] == [
        {"group": info.group, "kind": info.list_kind, "version": info.version}]


class _Item(KubeModel):
    name: str


class _Holder(KubeModel):
    items: list[_Item] | None = Field(None, json_schema_extra={
        "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "name"})
    single: _Item | None = Field(None, json_schema_extra={"x-kubernetes-map-type": "atomic"})


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        pytest.param("items", {"x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "name",
                               "type": "array", "nullable": True}, id="list-merge-key"),
        pytest.param("single", {"x-kubernetes-map-type": "atomic"}, id="ref-with-extension-wrapped-in-allOf"),
    ],
)
def test_model_extensions_survive_the_openapi_rewrite(field: str, expected: dict[str, Any]) -> None:
    prop = to_oas30(_Holder.model_json_schema())["properties"][field]
    assert expected.items() <= prop.items()
    assert "$ref" not in prop or len(prop) == 1


@pytest.mark.parametrize("key", list(DOCS))
def test_every_ref_resolves_inside_its_own_document(key: str) -> None:
    doc = DOCS[key]
    refs = [(where, node["$ref"]) for where, node in _walk(doc) if isinstance(node.get("$ref"), str)]
    assert refs
    for where, ref in refs:
        try:
            _resolve(ref, doc)
        except (KeyError, AssertionError):
            pytest.fail(f"{key} {where}: dangling $ref {ref}")


def test_schemas_use_only_openapi_3_0_keywords() -> None:
    for where, node in (pair for name, schema in SCHEMAS.items() for pair in _walk(schema, name)):
        if where.endswith("/properties"):
            continue  # keys of a properties map are property names, not keywords
        assert not ({"const", "$defs", "prefixItems", "examples", "$schema"} & node.keys()), where
        assert not isinstance(node.get("type"), list), where
        assert node.get("type") != "null", where
        assert not ("$ref" in node and len(node) > 1), f"{where}: $ref siblings are ignored in 3.0"
        for bound in ("exclusiveMinimum", "exclusiveMaximum"):
            assert isinstance(node.get(bound, True), bool), where
        assert not (node.get("nullable") and "type" not in node), where


def test_server_set_metadata_is_documented_as_kubernetes_types_it() -> None:
    meta = SCHEMAS[f"{META}.ObjectMeta"]["properties"]
    assert meta["resourceVersion"]["type"] == "string"
    assert "required" in SCHEMAS["io.k8s.api.core.v1.Container"]


# --- the schemas are true of real objects ----------------------------------------------------------

_TYPES: dict[str, Any] = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int,
                          "number": (int, float)}
_UNDERSTOOD = {"type", "properties", "required", "items", "additionalProperties", "enum", "anyOf", "allOf", "$ref",
               "minimum", "maximum", "minLength", "maxLength", "minItems", "pattern", "nullable", "default",
               "description", "format"}  # and x-kubernetes-* extensions, which say nothing about validity


def conformance_errors(schema: dict[str, Any], value: Any, path: str = "$") -> list[str]:
    """A small OpenAPI 3.0 schema checker for the keywords this document uses (see _UNDERSTOOD)."""
    if "$ref" in schema:
        return conformance_errors(_resolve(schema["$ref"]), value, path)
    if value is None:
        return [] if schema.get("nullable") or not schema else [f"{path}: null"]
    errors: list[str] = []
    for sub in schema.get("allOf", []):
        errors += conformance_errors(sub, value, path)
    if "anyOf" in schema and all(conformance_errors(sub, value, path) for sub in schema["anyOf"]):
        errors.append(f"{path}: matches none of anyOf")
    expected = schema.get("type")
    if expected and (not isinstance(value, _TYPES[expected]) or (expected != "boolean" and isinstance(value, bool))):
        return [*errors, f"{path}: {value!r} is not {expected}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
    if isinstance(value, dict):
        errors += [f"{path}.{key}: required" for key in schema.get("required", []) if key not in value]
        props, extra = schema.get("properties", {}), schema.get("additionalProperties", True)
        for key, sub in value.items():
            if key in props:
                errors += conformance_errors(props[key], sub, f"{path}.{key}")
            elif extra is False:
                errors.append(f"{path}.{key}: not allowed")
            elif isinstance(extra, dict):
                errors += conformance_errors(extra, sub, f"{path}.{key}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{path}: too few items")
        for i, item in enumerate(value):
            errors += conformance_errors(schema.get("items", {}), item, f"{path}[{i}]")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{path}: {value!r} does not match {schema['pattern']}")
        if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value)):
            errors.append(f"{path}: bad length")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not schema.get("minimum", value) <= value <= schema.get("maximum", value):
            errors.append(f"{path}: {value} out of range")
    return errors


def test_the_checker_understands_every_keyword_used() -> None:
    used = {key for name, schema in SCHEMAS.items() for where, node in _walk(schema, name)
            if not where.endswith("/properties") and "/x-" not in where for key in node if not key.startswith("x-")}
    assert used <= _UNDERSTOOD, used - _UNDERSTOOD


def _ref(kind: str, suffix: str = "") -> dict[str, str]:
    name = schema_name(KINDS[kind].model)
    return {"$ref": f"#/components/schemas/{name}{suffix}"}


def test_the_checker_can_fail() -> None:
    assert conformance_errors(_ref("Pod"), {"kind": "Pod"})
    assert conformance_errors(_ref("Pod"),
                              {"apiVersion": "v1", "kind": "Pod", "metadata": {"resourceVersion": 5}})
    assert conformance_errors(_ref("Pod"), {"apiVersion": "v1", "kind": "Pod", "metadata": {}})


_OBJECTS = [pytest.param(validate(p.values[0]["kind"], p.values[0])[0], id=p.id) for p in MANIFESTS] + [
    pytest.param(validate(kind, body)[0], id=f"minimal-{kind}") for kind, body in MINIMAL.items()]


@pytest.mark.parametrize("obj", _OBJECTS)
def test_validated_objects_conform_to_response_and_input_schemas(obj: dict[str, Any]) -> None:
    server_set = {"uid": "u-1", "resourceVersion": "17", "generation": 1, "creationTimestamp": "2024-01-01T00:00:00Z"}
    obj = {**obj, "metadata": {**obj["metadata"], **server_set}}
    assert conformance_errors(_ref(obj["kind"]), obj) == []
    listed = {"apiVersion": obj["apiVersion"], "kind": f"{obj['kind']}List", "metadata": {"resourceVersion": "17"},
              "items": [obj]}
    assert conformance_errors(_ref(obj["kind"], "List"), listed) == []
    event = {"type": "ADDED", "object": obj}
    assert conformance_errors({"$ref": f"#/components/schemas/{META}.WatchEvent"}, event) == []


@pytest.mark.parametrize(
    ("schema", "doc"),
    [
        pytest.param("APIVersions", discovery.api_versions("127.0.0.1:6443"), id="api"),
        pytest.param("APIGroupList", discovery.api_group_list(), id="apis"),
        pytest.param("APIGroup", discovery.api_group("apps"), id="apis-apps"),
        pytest.param("APIResourceList", discovery.api_resource_list("v1"), id="api-v1"),
        pytest.param("APIResourceList", discovery.api_resource_list("apps/v1"), id="apis-apps-v1"),
    ],
)
def test_discovery_documents_conform(schema: str, doc: dict[str, Any]) -> None:
    assert conformance_errors({"$ref": f"#/components/schemas/{META}.{schema}"}, doc) == []


@pytest.mark.parametrize(
    "error",
    [pytest.param(NotFound("pods \"x\" not found"), id="not-found"),
     pytest.param(Unavailable("no leader", retry_after=2), id="unavailable"),
     pytest.param(Invalid("bad", details={"name": "x", "group": "", "kind": "Pod",
                                          "causes": [{"reason": "FieldValueInvalid", "message": "m", "field": "f"}]}),
                  id="invalid")],
)
def test_error_statuses_conform_to_status(error: Exception) -> None:
    assert conformance_errors({"$ref": f"#/components/schemas/{META}.Status"}, error.to_status()) == []  # type: ignore[attr-defined]


def test_scale_conforms() -> None:
    scale = {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web", "namespace": "shop"},
             "spec": {"replicas": 3}, "status": {"replicas": 2, "selector": "app=web"}}
    assert conformance_errors({"$ref": "#/components/schemas/io.k8s.api.autoscaling.v1.Scale"}, scale) == []


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_manifests())
def test_whatever_validate_accepts_conforms_to_the_response_schema(case: tuple[str, Any]) -> None:
    kind, body = case
    try:
        obj, _ = validate(kind, body)
    except Invalid:
        return
    assert conformance_errors(_ref(kind), obj) == []
