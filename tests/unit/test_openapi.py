"""The OpenAPI document: the paths and operations the API promises, that it is plain OpenAPI
3.0 with every $ref resolving, and that its response schemas are true of what validate() makes."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from haplane.api.openapi import build_openapi
from haplane.errors import Invalid, NotFound, Unavailable
from haplane.model.registry import KINDS, validate
from tests.unit.test_models import MANIFESTS, MINIMAL, mutated_manifests

DOC = build_openapi()
SCHEMAS = DOC["components"]["schemas"]
METHODS = {"get", "put", "post", "patch", "delete"}


def _walk(node: Any, path: str = "#") -> Any:
    """Yield (json-pointer-ish path, dict) for every dict in the document."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}/{i}")


def _resolve(ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = DOC
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in DOC["paths"].items() for method, op in item.items()
            if method in METHODS]


def test_is_openapi_3_0_with_info() -> None:
    assert DOC["openapi"].startswith("3.0.")
    assert DOC["info"]["title"] and DOC["info"]["version"]
    json.dumps(DOC)  # plain JSON


def _expected_operations() -> set[tuple[str, str]]:
    ops: set[tuple[str, str]] = set()
    for info in KINDS.values():
        base = f"{info.prefix}/namespaces/{{namespace}}/{info.plural}" if info.namespaced \
            else f"{info.prefix}/{info.plural}"
        ops |= {(base, "get"), (base, "post")}
        ops |= {(f"{base}/{{name}}", m) for m in ("get", "put", "patch", "delete")}
        if info.has_status:
            ops |= {(f"{base}/{{name}}/status", "get"), (f"{base}/{{name}}/status", "put")}
        if info.namespaced:
            ops.add((f"{info.prefix}/{info.plural}", "get"))
    scale = "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"
    ops |= {(scale, "get"), (scale, "put"), ("/cluster/status", "get"), ("/healthz", "get"), ("/readyz", "get"),
            ("/api/v1/namespaces/{namespace}/pods/{name}/log", "get")}
    return ops


def test_paths_cover_every_kind_and_nothing_else() -> None:
    assert {(path, method) for path, method, _ in _operations()} == _expected_operations()


@pytest.mark.parametrize(
    ("path", "method"),
    [
        pytest.param("/api/v1/namespaces/{namespace}/pods", "post", id="create-pod"),
        pytest.param("/api/v1/pods", "get", id="all-pods"),
        pytest.param("/api/v1/nodes/{name}/status", "put", id="node-status"),
        pytest.param("/api/v1/namespaces/{name}", "delete", id="delete-namespace"),
        pytest.param("/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", "put", id="scale"),
        pytest.param("/api/v1/namespaces/{namespace}/configmaps/{name}", "patch", id="patch-configmap"),
    ],
)
def test_well_known_operations_exist(path: str, method: str) -> None:
    assert method in DOC["paths"][path]


def test_operation_ids_are_unique() -> None:
    ids = [op["operationId"] for _, _, op in _operations()]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(("path", "method", "op"), [pytest.param(*o, id=f"{o[1]} {o[0]}") for o in _operations()])
def test_every_operation_declares_auth_success_and_status_default(path: str, method: str, op: dict) -> None:
    public = path in ("/healthz", "/readyz")
    assert op["security"] == ([] if public else [{"bearer": []}])
    assert any(code.startswith("2") for code in op["responses"])
    assert op["responses"]["default"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Status"}
    if method in ("put", "post"):
        assert "application/json" in op["requestBody"]["content"]
    if method == "patch":
        assert set(op["requestBody"]["content"]) == {"application/merge-patch+json", "application/json-patch+json"}
    declared = {p["name"] for p in [*DOC["paths"][path].get("parameters", []), *op.get("parameters", [])]
                for p in [_resolve(p["$ref"]) if "$ref" in p else p] if p["in"] == "path"}
    assert declared == set(re.findall(r"\{(\w+)\}", path))


def test_list_operations_take_the_query_parameters() -> None:
    op = DOC["paths"]["/api/v1/namespaces/{namespace}/pods"]["get"]
    names = {_resolve(p["$ref"])["name"] for p in op["parameters"]}
    assert names == {"labelSelector", "fieldSelector", "resourceVersion", "watch", "stale"}
    content = op["responses"]["200"]["content"]
    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/PodList"}
    assert content["application/json;stream=watch"]["schema"] == {"$ref": "#/components/schemas/WatchEvent"}


def test_bearer_scheme() -> None:
    assert DOC["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}


def test_components_have_each_kind_its_list_input_and_the_fixed_schemas() -> None:
    for kind in KINDS:
        assert {kind, f"{kind}List", f"{kind}Input"} <= SCHEMAS.keys()
    assert {"Status", "WatchEvent", "Scale", "ScaleInput", "JsonPatch"} <= SCHEMAS.keys()


def test_every_ref_resolves() -> None:
    refs = [(where, node["$ref"]) for where, node in _walk(DOC) if isinstance(node.get("$ref"), str)]
    assert len(refs) > 100
    for where, ref in refs:
        try:
            _resolve(ref)
        except (KeyError, AssertionError):
            pytest.fail(f"{where}: dangling $ref {ref}")


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


def test_response_schemas_require_only_what_is_always_sent() -> None:
    for kind in KINDS:
        assert SCHEMAS[kind]["required"] == ["apiVersion", "kind", "metadata"]
    for name, schema in SCHEMAS.items():
        if name in KINDS or name.endswith(("Input", "List")) or name in ("Status", "WatchEvent", "JsonPatch", "Scale"):
            continue
        assert not [n for _, n in _walk(schema) if isinstance(n.get("required"), list)], name
    assert SCHEMAS["ObjectMeta"]["properties"]["resourceVersion"]["type"] == "string"
    assert "required" in SCHEMAS["ContainerInput"]


# --- the schemas are true of real objects ----------------------------------------------------------

_TYPES: dict[str, Any] = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int,
                          "number": (int, float)}
_UNDERSTOOD = {"type", "properties", "required", "items", "additionalProperties", "enum", "anyOf", "allOf", "$ref",
               "minimum", "maximum", "minLength", "maxLength", "minItems", "pattern", "nullable", "default",
               "description", "format"}


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
            if not where.endswith("/properties") for key in node}
    assert used <= _UNDERSTOOD, used - _UNDERSTOOD


def test_the_checker_can_fail() -> None:
    assert conformance_errors({"$ref": "#/components/schemas/Pod"}, {"kind": "Pod"})
    assert conformance_errors({"$ref": "#/components/schemas/Pod"},
                              {"apiVersion": "v1", "kind": "Pod", "metadata": {"resourceVersion": 5}})
    assert conformance_errors({"$ref": "#/components/schemas/PodInput"}, {"apiVersion": "v1", "kind": "Pod"})


_OBJECTS = [pytest.param(validate(p.values[0]["kind"], p.values[0])[0], id=p.id) for p in MANIFESTS] + [
    pytest.param(validate(kind, body)[0], id=f"minimal-{kind}") for kind, body in MINIMAL.items()]


@pytest.mark.parametrize("obj", _OBJECTS)
def test_validated_objects_conform_to_response_and_input_schemas(obj: dict[str, Any]) -> None:
    server_set = {"uid": "u-1", "resourceVersion": "17", "generation": 1, "creationTimestamp": "2024-01-01T00:00:00Z"}
    obj = {**obj, "metadata": {**obj["metadata"], **server_set}}
    assert conformance_errors({"$ref": f"#/components/schemas/{obj['kind']}"}, obj) == []
    assert conformance_errors({"$ref": f"#/components/schemas/{obj['kind']}Input"}, obj) == []
    listed = {"apiVersion": obj["apiVersion"], "kind": f"{obj['kind']}List", "metadata": {"resourceVersion": "17"},
              "items": [obj]}
    assert conformance_errors({"$ref": f"#/components/schemas/{obj['kind']}List"}, listed) == []
    event = {"type": "ADDED", "object": obj}
    assert conformance_errors({"$ref": "#/components/schemas/WatchEvent"}, event) == []


@pytest.mark.parametrize(
    "error",
    [pytest.param(NotFound("pods \"x\" not found"), id="not-found"),
     pytest.param(Unavailable("no leader", retry_after=2), id="unavailable"),
     pytest.param(Invalid("bad", details={"name": "x", "group": "", "kind": "Pod",
                                          "causes": [{"reason": "FieldValueInvalid", "message": "m", "field": "f"}]}),
                  id="invalid")],
)
def test_error_statuses_conform_to_status(error: Exception) -> None:
    assert conformance_errors({"$ref": "#/components/schemas/Status"}, error.to_status()) == []  # type: ignore[attr-defined]


def test_scale_conforms() -> None:
    scale = {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web", "namespace": "shop"},
             "spec": {"replicas": 3}, "status": {"replicas": 2, "selector": "app=web"}}
    assert conformance_errors({"$ref": "#/components/schemas/Scale"}, scale) == []


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_manifests())
def test_whatever_validate_accepts_conforms_to_the_response_schema(case: tuple[str, Any]) -> None:
    kind, body = case
    try:
        obj, _ = validate(kind, body)
    except Invalid:
        return
    assert conformance_errors({"$ref": f"#/components/schemas/{kind}"}, obj) == []
    assert conformance_errors({"$ref": f"#/components/schemas/{kind}Input"}, obj) == []
