"""The OpenAPI 3.0 document of the haplane API, generated from the kind registry and models.

Two schemas per model: ``Pod`` describes what the server *returns* and is deliberately
permissive (only ``apiVersion``, ``kind`` and ``metadata`` are required, at the top level;
unknown properties are allowed), so that it stays true of every Kubernetes-shaped response;
``PodInput`` describes what a client may *send* (pydantic's required fields and bounds).
Watch streams are declared as ``application/json;stream=watch`` (one WatchEvent per line).
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic.json_schema import models_json_schema

from haplane.model.deployment import Scale
from haplane.model.registry import KINDS, KindInfo

__all__ = ["build_openapi"]

_REF = "#/components/schemas/"
_INPUT = "Input"
_WATCH_MEDIA = "application/json;stream=watch"
_DROP_KEYS = {"title", "$schema", "$id", "examples", "propertyNames", "patternProperties", "prefixItems",
              "unevaluatedProperties", "contentEncoding", "contentMediaType", "dependentRequired"}


# --- JSON schema (2020-12, as pydantic writes it) -> OpenAPI 3.0 schema objects ----------------

def to_oas30(node: Any) -> Any:
    """Rewrite a pydantic JSON schema into an OpenAPI 3.0 schema object.

    ``const`` becomes a one-value ``enum``; ``anyOf [X, null]`` becomes X (``nullable`` where X
    has a ``type``); numeric ``exclusiveMinimum/Maximum`` become the 3.0 boolean form; a
    ``$ref`` with siblings is wrapped in ``allOf``; keywords 3.0 lacks are dropped.
    """
    if isinstance(node, list):
        return [to_oas30(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if isinstance(node.get("type"), list):
        node["anyOf"] = [{"type": t} for t in node.pop("type")]
    if "anyOf" in node:
        options = [o for o in node.pop("anyOf") if o != {"type": "null"}]
        if len(options) == 1:
            nullable = len(node) > 0 and "type" in options[0]
            node = {**options[0], **node, **({"nullable": True} if nullable else {})}
        else:
            node["anyOf"] = options
    if node.get("default", 0) is None:
        del node["default"]
    if "const" in node:
        node["enum"] = [node.pop("const")]
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), (int, float)) and not isinstance(node[bound], bool):
            node[limit], node[bound] = node[bound], True
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP_KEYS:
            continue
        if key == "properties":
            out[key] = {name: to_oas30(sub) for name, sub in value.items()}
        elif key in ("enum", "default", "required", "example"):
            out[key] = value
        else:
            out[key] = to_oas30(value)
    if "$ref" in out and len(out) > 1:
        out = {"allOf": [{"$ref": out.pop("$ref")}], **out}
    return out


def _rewrite(node: Any, *, response: bool) -> Any:
    """The response variant (no ``required``) or input variant (refs to ``...Input``) of a def."""
    if isinstance(node, list):
        return [_rewrite(item, response=response) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: _rewrite(sub, response=response) for name, sub in value.items()}
        elif key == "required" and response:
            continue
        elif key == "$ref" and not response:
            out[key] = value + _INPUT
        elif key in ("enum", "default"):
            out[key] = value
        else:
            out[key] = _rewrite(value, response=response)
    return out


def _model_schemas() -> dict[str, Any]:
    models = [info.model for info in KINDS.values()] + [Scale]
    _, top = models_json_schema([(m, "validation") for m in models], ref_template=_REF + "{model}")
    schemas: dict[str, Any] = {}
    for name, schema in top["$defs"].items():
        schema = to_oas30(schema)
        schemas[name] = _rewrite(schema, response=True)
        schemas[name + _INPUT] = _rewrite(schema, response=False)
    for model in models:
        schemas[model.__name__]["required"] = ["apiVersion", "kind", "metadata"]
    return schemas


# --- fixed schemas -----------------------------------------------------------------------------

_STATUS = {
    "type": "object",
    "description": "An error (or a deletion's outcome), Kubernetes' Status object.",
    "required": ["kind", "status"],
    "properties": {
        "kind": {"type": "string", "enum": ["Status"]},
        "apiVersion": {"type": "string"},
        "metadata": {"type": "object"},
        "status": {"type": "string", "enum": ["Success", "Failure"]},
        "message": {"type": "string"},
        "reason": {"type": "string"},
        "code": {"type": "integer"},
        "details": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "group": {"type": "string"},
                "kind": {"type": "string"},
                "uid": {"type": "string"},
                "retryAfterSeconds": {"type": "integer"},
                "causes": {"type": "array", "items": {"type": "object", "properties": {
                    "reason": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}}}},
            },
        },
    },
}
_WATCH_EVENT = {
    "type": "object",
    "description": "One line of a watch stream; ERROR events carry a Status (410 when resourceVersion is too old).",
    "required": ["type", "object"],
    "properties": {
        "type": {"type": "string", "enum": ["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]},
        "object": {"type": "object"},
    },
}
_JSON_PATCH = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["op", "path"],
        "properties": {
            "op": {"type": "string", "enum": ["add", "remove", "replace", "move", "copy", "test"]},
            "path": {"type": "string"},
            "from": {"type": "string"},
            "value": {},
        },
    },
}
_CLUSTER_STATUS = {
    "type": "object",
    "description": "Every member of the Raft group: name, raft address, role, term, commit and applied "
                   "index, and the leader.",
}


def _list_schema(info: KindInfo) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["kind", "metadata", "items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string", "enum": [info.list_kind]},
            "metadata": {"type": "object", "properties": {"resourceVersion": {"type": "string"},
                                                          "continue": {"type": "string"}}},
            "items": {"type": "array", "items": {"$ref": _REF + info.kind}},
        },
    }


# --- paths ---------------------------------------------------------------------------------------

_PARAMETERS = {
    "namespace": {"name": "namespace", "in": "path", "required": True, "schema": {"type": "string"},
                  "description": "object name and auth scope, such as for teams and projects"},
    "name": {"name": "name", "in": "path", "required": True, "schema": {"type": "string"},
             "description": "name of the object"},
    "labelSelector": {"name": "labelSelector", "in": "query", "schema": {"type": "string"},
                      "description": "e.g. app=web,tier!=db,env in (a,b)"},
    "fieldSelector": {"name": "fieldSelector", "in": "query", "schema": {"type": "string"},
                      "description": "e.g. spec.nodeName=n1,status.phase!=Running"},
    "resourceVersion": {"name": "resourceVersion", "in": "query", "schema": {"type": "string"},
                        "description": "watch: stream changes after this version; 0 reads locally"},
    "watch": {"name": "watch", "in": "query", "schema": {"type": "boolean"},
              "description": "stream WatchEvents (application/json;stream=watch) instead of a list"},
    "stale": {"name": "stale", "in": "query", "schema": {"type": "boolean"},
              "description": "read this replica's state without a linearizable barrier"},
    "container": {"name": "container", "in": "query", "schema": {"type": "string"}},
    "tailLines": {"name": "tailLines", "in": "query", "schema": {"type": "integer", "minimum": 0}},
}


def _param(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


def _json(schema: str | dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _REF + schema} if isinstance(schema, str) else schema}}


def _op(op_id: str, tag: str, responses: dict[str, Any], *, params: tuple[str, ...] = (),
        body: dict[str, Any] | None = None, secure: bool = True) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": op_id, "tags": [tag]}
    if params:
        op["parameters"] = [_param(p) for p in params]
    if body is not None:
        op["requestBody"] = {"required": True, "content": body}
    op["responses"] = {**responses, "default": {"description": "Status (error)", "content": _json("Status")}}
    op["security"] = [{"bearer": []}] if secure else []
    return op


def _ok(schema: str | dict[str, Any], *codes: str) -> dict[str, Any]:
    return {code: {"description": "OK", "content": _json(schema)} for code in codes or ("200",)}


def _kind_paths(info: KindInfo) -> dict[str, Any]:
    kind, tag = info.kind, (info.group or "core") + "_" + info.api_version.rpartition("/")[2]
    scope = "Namespaced" if info.namespaced else ""
    base = f"{info.prefix}/namespaces/{{namespace}}/{info.plural}" if info.namespaced else f"{info.prefix}/{info.plural}"
    path_params = [_param("namespace")] if info.namespaced else []
    input_body = _json(kind + _INPUT)
    list_responses = {"200": {"description": "OK", "content": {
        **_json(info.list_kind), _WATCH_MEDIA: {"schema": {"$ref": _REF + "WatchEvent"}}}}}
    list_params = ("labelSelector", "fieldSelector", "resourceVersion", "watch", "stale")
    deleted = {"anyOf": [{"$ref": _REF + kind}, {"$ref": _REF + "Status"}]}
    paths: dict[str, Any] = {
        base: {
            "parameters": path_params,
            "get": _op(f"list{scope}{kind}", tag, list_responses, params=list_params),
            "post": _op(f"create{scope}{kind}", tag, _ok(kind, "200", "201"), body=input_body),
        },
        f"{base}/{{name}}": {
            "parameters": [*path_params, _param("name")],
            "get": _op(f"read{scope}{kind}", tag, _ok(kind), params=("resourceVersion", "stale")),
            "put": _op(f"replace{scope}{kind}", tag, _ok(kind), body=input_body),
            "patch": _op(f"patch{scope}{kind}", tag, _ok(kind), body={
                "application/merge-patch+json": {"schema": {"type": "object"}},
                "application/json-patch+json": {"schema": {"$ref": _REF + "JsonPatch"}},
            }),
            "delete": _op(f"delete{scope}{kind}", tag, _ok(deleted, "200", "202")),
        },
    }
    if info.has_status:
        paths[f"{base}/{{name}}/status"] = {
            "parameters": [*path_params, _param("name")],
            "get": _op(f"read{scope}{kind}Status", tag, _ok(kind), params=("resourceVersion", "stale")),
            "put": _op(f"replace{scope}{kind}Status", tag, _ok(kind), body=input_body),
        }
    if info.namespaced:
        paths[f"{info.prefix}/{info.plural}"] = {
            "get": _op(f"list{kind}ForAllNamespaces", tag, list_responses, params=list_params),
        }
    if kind == "Deployment":
        paths[f"{base}/{{name}}/scale"] = {
            "parameters": [*path_params, _param("name")],
            "get": _op("readNamespacedDeploymentScale", tag, _ok("Scale"), params=("resourceVersion", "stale")),
            "put": _op("replaceNamespacedDeploymentScale", tag, _ok("Scale"), body=_json("Scale" + _INPUT)),
        }
    if kind == "Pod":
        text = {"200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}}
        paths[f"{base}/{{name}}/log"] = {
            "parameters": [*path_params, _param("name")],
            "get": _op("readNamespacedPodLog", tag, text, params=("container", "tailLines")),
        }
    return paths


def _cluster_paths() -> dict[str, Any]:
    probe = {"200": {"description": "ok", "content": {"text/plain": {"schema": {"type": "string"}}}}}
    return {
        "/cluster/status": {"get": _op("readClusterStatus", "cluster", _ok(_CLUSTER_STATUS))},
        "/healthz": {"get": _op("healthz", "cluster", probe, secure=False)},
        "/readyz": {"get": _op("readyz", "cluster", probe, secure=False)},
    }


def build_openapi() -> dict[str, Any]:
    """The whole OpenAPI 3.0 document (a fresh dict on each call; callers may cache it)."""
    schemas = _model_schemas()
    schemas.update({info.list_kind: _list_schema(info) for info in KINDS.values()})
    schemas.update({"Status": _STATUS, "WatchEvent": _WATCH_EVENT, "JsonPatch": _JSON_PATCH})
    paths: dict[str, Any] = {}
    for info in KINDS.values():
        paths.update(_kind_paths(info))
    paths.update(_cluster_paths())
    return copy.deepcopy({
        "openapi": "3.0.3",
        "info": {"title": "haplane", "version": "v1",
                 "description": "A small, highly available container orchestrator with a Kubernetes-shaped API."},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "parameters": _PARAMETERS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    })
