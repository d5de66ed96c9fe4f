"""OpenAPI v3 documents as the Kubernetes API server publishes them, built from the registry.

``/openapi/v3`` is the root: one entry per document with its ``serverRelativeURL`` (carrying a
content hash, so clients may cache it for ever). There is one document per served
group-version (``api/v1``, ``apis/apps/v1``, ...) plus ``haplane`` (haplane's own paths:
``/cluster/status``, ``/healthz``, ``/readyz``, and the discovery ones: ``/version``, ``/api``,
``/apis``, ``/api/v1``...). Each group-version document holds:

* ``components.schemas`` named as Kubernetes names them (``io.k8s.api.core.v1.Pod``,
  ``io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta``), from the pydantic models, with the
  descriptions of :mod:`haplane.api.descriptions`, ``x-kubernetes-group-version-kind`` on each
  kind and list, and whatever ``x-kubernetes-*`` extensions the models declare in
  ``json_schema_extra`` (patch strategy and merge key);
* ``paths`` for what is served, by verb (a create-only resource gets only its POST), each
  operation with ``x-kubernetes-action`` and ``x-kubernetes-group-version-kind`` and its
  query parameters inline. kubectl reads them: it delegates validation to the server when the
  PATCH operation of a kind lists ``fieldValidation``, and computes strategic merge patches from
  the schema when that operation accepts ``application/strategic-merge-patch+json``. So only
  what the handlers honour is listed (OPERATION_PARAMETERS, ``body.PATCH_TYPES``).

One schema per type (no separate input/response variants): what the server returns went
through the same model, so the schema is true of both. Watch streams are declared as
``application/json;stream=watch``.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import typing
from collections.abc import Iterator
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from haplane.api import descriptions, discovery
from haplane.api.body import PATCH_TYPES
from haplane.errors import NotAcceptable, NotFound
from haplane.model.registry import KINDS, VIRTUAL_RESOURCES, KindInfo, Subresource, VirtualResource

__all__ = ["QUERY_PARAMETERS", "OPERATION_PARAMETERS", "schema_name", "document_keys", "build_document",
           "build_root", "documents", "to_oas30", "add_routes"]

Resource = KindInfo | VirtualResource
_REF = "#/components/schemas/"
_WATCH_MEDIA = "application/json;stream=watch"
_DROP_KEYS = {"title", "$schema", "$id", "examples", "propertyNames", "patternProperties", "prefixItems",
              "unevaluatedProperties", "contentEncoding", "contentMediaType", "dependentRequired"}
META = "io.k8s.apimachinery.pkg.apis.meta.v1"
HAPLANE_DOC = "haplane"


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


# --- names ------------------------------------------------------------------------------------

def package_of(api_version: str) -> str:
    """``v1`` -> io.k8s.api.core.v1, ``apps/v1`` -> io.k8s.api.apps.v1, ``authorization.k8s.io/v1``
    -> io.k8s.api.authorization.v1 (Kubernetes drops the ``.k8s.io`` suffix)."""
    group, _, version = api_version.rpartition("/")
    return f"io.k8s.api.{group.removesuffix('.k8s.io') or 'core'}.{version}"


# Where the rule below misses: the model's module is not where Kubernetes defines the type.
_NAME_OVERRIDES = {
    "PodTemplateSpec": "io.k8s.api.core.v1.PodTemplateSpec",
    "LabelSelectorSpec": f"{META}.LabelSelector",
    "ObjectReference": "io.k8s.api.core.v1.ObjectReference",
}
# Documented as another type (a subset of it): the other one's schema stands for both.
_ALIASES = {"TemplateMeta": f"{META}.ObjectMeta"}
_META_MODULES = frozenset({"haplane.model.meta", "haplane.model.base", "haplane.model.selectors"})


def _field_models(model: type[BaseModel]) -> Iterator[type[BaseModel]]:
    """The models directly below ``model``'s fields (through lists, dicts, unions, Annotated)."""
    stack = [info.annotation for info in model.model_fields.values()]
    while stack:
        ann = stack.pop()
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield ann
        else:
            stack.extend(typing.get_args(ann))


def _top_models(resources: list[Resource]) -> list[tuple[type[BaseModel], str]]:
    """(model, api version) of each resource and each subresource body with its own model."""
    out: list[tuple[type[BaseModel], str]] = []
    for res in resources:
        if res.model is not None:
            out.append((res.model, res.api_version))
        out += [(sub.model, sub.api_version or res.api_version) for sub in res.subresources if sub.model]
    return out


@functools.cache
def _names() -> dict[type[BaseModel], str]:
    """Every model reachable from the served resources -> its Kubernetes definition name.

    A top-level model takes its resource's package; a model below it takes the same package when
    it is defined in the same module, meta/v1 when defined with the shared metadata types, and
    otherwise the package of the kind defined in its module (core/v1 when none is).
    """
    tops = _top_models([*KINDS.values(), *VIRTUAL_RESOURCES])
    module_package: dict[str, str] = {}
    for model, api_version in tops:
        module_package.setdefault(model.__module__, package_of(api_version))
    names: dict[type[BaseModel], str] = {}

    def visit(model: type[BaseModel], package: str, top_module: str) -> None:
        if model in names:
            return
        if model.__name__ in _ALIASES or model.__name__ in _NAME_OVERRIDES:
            names[model] = _ALIASES.get(model.__name__) or _NAME_OVERRIDES[model.__name__]
        elif model.__module__ in _META_MODULES:
            names[model] = f"{META}.{model.__name__}"
        elif model.__module__ == top_module:
            names[model] = f"{package}.{model.__name__}"
        else:
            names[model] = f"{module_package.get(model.__module__, 'io.k8s.api.core.v1')}.{model.__name__}"
        for sub in _field_models(model):
            visit(sub, package, top_module)

    for model, api_version in tops:
        visit(model, package_of(api_version), model.__module__)
    return names


def schema_name(model: type[BaseModel]) -> str:
    """The Kubernetes definition name of a served model (``Pod`` -> ``io.k8s.api.core.v1.Pod``)."""
    return _names()[model]


# --- schemas -------------------------------------------------------------------------------------

def _gvk(api_version: str, kind: str) -> dict[str, str]:
    group, _, version = api_version.rpartition("/")
    return {"group": group, "kind": kind, "version": version}


def _rename_refs(node: Any, by_def: dict[str, str]) -> Any:
    if isinstance(node, list):
        return [_rename_refs(item, by_def) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str) and value.startswith(_REF):
            out[key] = _REF + by_def[value[len(_REF):]]
        elif key in ("enum", "default", "const"):
            out[key] = value
        else:
            out[key] = _rename_refs(value, by_def)
    return out


def _model_schemas(resources: list[Resource]) -> dict[str, Any]:
    tops = _top_models(resources)
    if not tops:
        return {}
    _, top = models_json_schema([(m, "validation") for m, _ in tops], ref_template=_REF + "{model}")
    by_class_name: dict[str, type[BaseModel]] = {}
    for model in _names():
        if by_class_name.setdefault(model.__name__, model) is not model:
            raise ValueError(f"two served models are named {model.__name__}: OpenAPI names would clash")
    by_def = {key: schema_name(by_class_name[key]) for key in top["$defs"]}
    schemas: dict[str, Any] = {}
    # Aliased types last, so that the type they stand for keeps its own schema.
    for key in sorted(top["$defs"], key=lambda k: k in _ALIASES):
        name = by_def[key]
        if name in schemas:
            continue
        schema = descriptions.describe(key, top["$defs"][key])
        schemas[name] = to_oas30(_rename_refs(schema, by_def))
    for model, api_version in tops:
        schema = schemas[schema_name(model)]
        schema["x-kubernetes-group-version-kind"] = [_gvk(api_version, model.__name__)]
        for field in ("apiVersion", "kind"):  # one-value enums in the models; Kubernetes documents plain strings
            for key in ("enum", "default"):
                schema.get("properties", {}).get(field, {}).pop(key, None)
    return schemas


_STATUS = {
    "type": "object",
    "description": "Status is a return value for calls that don't return other objects: an error, or the "
                   "outcome of a deletion.",
    "required": ["kind", "status"],
    "properties": {
        "kind": {"type": "string", "enum": ["Status"]},
        "apiVersion": {"type": "string"},
        "metadata": {"type": "object"},
        "status": {"type": "string", "enum": ["Success", "Failure"],
                   "description": "Status of the operation: Success or Failure."},
        "message": {"type": "string", "description": "A human-readable description of the status."},
        "reason": {"type": "string", "description": "A machine-readable description of why this operation "
                                                    "is in the Failure status (NotFound, Conflict, ...)."},
        "code": {"type": "integer", "description": "Suggested HTTP return code for this status."},
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
    "x-kubernetes-group-version-kind": [{"group": "", "kind": "Status", "version": "v1"}],
}
_WATCH_EVENT = {
    "type": "object",
    "description": "Event represents a single event to a watched resource: one line of a watch stream. ERROR "
                   "events carry a Status (410 when the resourceVersion is too old).",
    "required": ["type", "object"],
    "properties": {
        "type": {"type": "string", "enum": ["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]},
        "object": {"type": "object", "description": "The object: the new state on ADDED or MODIFIED, the state "
                                                    "before deletion on DELETED, a Status on ERROR."},
    },
}
_LIST_META = {
    "type": "object",
    "description": "ListMeta describes metadata that synthetic resources must have, including lists.",
    "properties": {
        "resourceVersion": {"type": "string", "description": "The version of the list: watch from it to see "
                                                             "every change after it."},
        "continue": {"type": "string", "description": "Set when more items are available: pass it back to get "
                                                      "the next page."},
    },
}
_DELETE_OPTIONS = {
    "type": "object",
    "description": "DeleteOptions may be provided when deleting an API object.",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "preconditions": {"type": "object", "description": "Must be fulfilled before a deletion is carried out.",
                          "properties": {"resourceVersion": {"type": "string"}, "uid": {"type": "string"}}},
        "propagationPolicy": {"type": "string", "enum": ["Background", "Foreground", "Orphan"],
                              "description": "Whether and how garbage collection is performed: Orphan leaves "
                                             "the dependents."},
    },
}
_PATCH = {"type": "object", "description": "Patch is provided to give a concrete name and type to the Kubernetes "
                                           "PATCH request body."}
_JSON_PATCH = {
    "type": "array",
    "description": "A JSON patch (RFC 6902): a list of operations.",
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
_FIXED_SCHEMAS = {f"{META}.Status": _STATUS, f"{META}.WatchEvent": _WATCH_EVENT, f"{META}.ListMeta": _LIST_META,
                  f"{META}.DeleteOptions": _DELETE_OPTIONS, f"{META}.Patch": _PATCH, "io.haplane.JsonPatch": _JSON_PATCH}


def _list_name(res: Resource) -> str:
    return f"{package_of(res.api_version)}.{res.list_kind}"


def _listed(res: Resource) -> bool:
    """Served as a list: every stored kind, and the virtual resources with a ``list`` verb."""
    return isinstance(res, KindInfo) or ("list" in res.verbs and res.model is not None)


def _list_schema(res: Resource) -> dict[str, Any]:
    assert res.model is not None
    return {
        "type": "object",
        "description": f"{res.list_kind} is a list of {res.kind} objects.",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string", "description": descriptions.COMMON["apiVersion"]},
            "kind": {"type": "string", "description": descriptions.COMMON["kind"]},
            "metadata": {"allOf": [{"$ref": _REF + f"{META}.ListMeta"}], "description": "Standard list metadata."},
            "items": {"type": "array", "items": {"$ref": _REF + schema_name(res.model)},
                      "description": f"The {res.plural}."},
        },
        "x-kubernetes-group-version-kind": [_gvk(res.api_version, res.list_kind)],
    }


# --- paths ---------------------------------------------------------------------------------------

QUERY_PARAMETERS: dict[str, dict[str, Any]] = {
    "labelSelector": {"schema": {"type": "string"},
                      "description": "A selector to restrict the list of returned objects by their labels "
                                     "(app=web,tier!=db,env in (a,b)). Defaults to everything."},
    "fieldSelector": {"schema": {"type": "string"},
                      "description": "A selector to restrict the list of returned objects by their fields "
                                     "(metadata.name, metadata.namespace, spec.nodeName, status.phase...)."},
    "resourceVersion": {"schema": {"type": "string"},
                        "description": "With watch: stream the changes after this version. \"0\" reads this "
                                       "replica's state without a linearizable barrier."},
    "watch": {"schema": {"type": "boolean"},
              "description": "Watch for changes and stream them as WatchEvents (application/json;stream=watch)."},
    "allowWatchBookmarks": {"schema": {"type": "boolean"},
                            "description": "With watch: send BOOKMARK events carrying the latest resourceVersion."},
    "timeoutSeconds": {"schema": {"type": "integer", "minimum": 0},
                       "description": "With watch: end the stream after this many seconds."},
    "stale": {"schema": {"type": "boolean"},
              "description": "haplane: read this replica's state without a linearizable barrier."},
    "fieldValidation": {"schema": {"type": "string", "enum": ["Ignore", "Warn", "Strict"]},
                        "description": "What to do with unknown fields in the body: Ignore drops them silently, "
                                       "Warn (the default) drops them with a Warning header, Strict refuses the "
                                       "request with a 400 BadRequest naming them."},
    "dryRun": {"schema": {"type": "string", "enum": ["All"]},
               "description": "All: validate the request and answer the object it would store, writing nothing."},
    "fieldManager": {"schema": {"type": "string", "maxLength": 128},
                     "description": "The name of the actor making the change, recorded in metadata.managedFields. "
                                    "Required for apply patches; otherwise derived from the User-Agent."},
    "force": {"schema": {"type": "boolean"},
              "description": "Apply patches only: take over the fields other managers own instead of failing "
                             "with a 409 Conflict."},
    "container": {"schema": {"type": "string"},
                  "description": "The container to read the logs of; defaults to the only one."},
    "tailLines": {"schema": {"type": "integer", "minimum": 0},
                  "description": "The number of lines from the end of the log to show."},
}
# The query parameters the resource handlers honour, by operation (x-kubernetes-action). A change
# that makes them honour another one (dryRun, fieldManager, limit...) adds it here, and kubectl
# reads it from the document.
OPERATION_PARAMETERS: dict[str, tuple[str, ...]] = {
    "list": ("labelSelector", "fieldSelector", "resourceVersion", "watch", "allowWatchBookmarks", "timeoutSeconds",
             "stale"),
    "get": ("resourceVersion", "stale"),
    "post": ("dryRun", "fieldManager", "fieldValidation"),
    "put": ("dryRun", "fieldManager", "fieldValidation"),
    "patch": ("dryRun", "fieldManager", "fieldValidation", "force"),
    "delete": ("dryRun",),
}
_ACTIONS = {"get": "get", "update": "put", "patch": "patch", "create": "post", "delete": "delete"}
_VERB_PREFIX = {"get": "read", "put": "replace", "patch": "patch", "post": "create", "delete": "delete"}


def _query(names: tuple[str, ...]) -> list[dict[str, Any]]:
    params = []
    for name in names:
        spec = QUERY_PARAMETERS.get(name, {"schema": {"type": "string"}})
        params.append({"name": name, "in": "query", **copy.deepcopy(spec)})
    return params


def _path_param(name: str) -> dict[str, Any]:
    text = {"namespace": "object name and auth scope, such as for teams and projects",
            "name": "name of the resource"}[name]
    return {"name": name, "in": "path", "required": True, "description": text, "schema": {"type": "string"}}


def _json(ref: str | dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _REF + ref} if isinstance(ref, str) else ref}}


def _responses(content: dict[str, Any], *codes: str) -> dict[str, Any]:
    out = {code: {"description": {"200": "OK", "201": "Created", "202": "Accepted"}[code], "content": content}
           for code in codes}
    out["default"] = {"description": "Status (error)", "content": _json(f"{META}.Status")}
    return out


def _op(op_id: str, action: str, gvk: dict[str, str], tag: str, responses: dict[str, Any], *,
        params: tuple[str, ...] = (), body: dict[str, Any] | None = None, body_required: bool = True,
        description: str = "") -> dict[str, Any]:
    op: dict[str, Any] = {"tags": [tag], "description": description, "operationId": op_id}
    query = _query(params)
    if query:
        op["parameters"] = query
    if body is not None:
        op["requestBody"] = {"required": body_required, "content": body}
    op["responses"] = responses
    op["security"] = [{"BearerToken": []}]
    op["x-kubernetes-action"] = action
    op["x-kubernetes-group-version-kind"] = gvk
    return op


def _patch_body(ref: str) -> dict[str, Any]:
    return {ctype: {"schema": {"$ref": _REF + ("io.haplane.JsonPatch" if ctype == "application/json-patch+json"
                                               else f"{META}.Patch")}}
            for ctype in sorted(PATCH_TYPES)}


def _resource_paths(res: Resource) -> dict[str, Any]:
    if res.model is None:
        return {}  # discovered, but nothing to document its body with
    kind, ref = res.kind, schema_name(res.model)
    gvk = _gvk(res.api_version, kind)
    tag = f"{(res.group.removesuffix('.k8s.io') or 'core').replace('.', '_')}_{res.version}"
    scope = "Namespaced" if res.namespaced else ""
    prefix = f"/apis/{res.api_version}" if res.group else f"/api/{res.api_version}"
    base = f"{prefix}/namespaces/{{namespace}}/{res.plural}" if res.namespaced else f"{prefix}/{res.plural}"
    ns_params = [_path_param("namespace")] if res.namespaced else []
    verbs = set(res.verbs)
    paths: dict[str, Any] = {}

    collection: dict[str, Any] = {}
    watch = {_WATCH_MEDIA: {"schema": {"$ref": _REF + f"{META}.WatchEvent"}}} if "watch" in verbs else {}
    list_ok = _responses({**_json(_list_name(res)), **watch}, "200") if _listed(res) else {}
    # the stored kinds honour every list option; the virtual ones (the metrics API) only the selectors
    list_params = OPERATION_PARAMETERS["list"] if isinstance(res, KindInfo) else ("labelSelector", "fieldSelector")
    list_what = "list or watch" if watch else "list"
    if "list" in verbs and _listed(res):
        collection["get"] = _op(f"list{scope}{kind}", "list", gvk, tag, list_ok, params=list_params,
                                description=f"{list_what} objects of kind {kind}")
    if "create" in verbs:
        collection["post"] = _op(f"create{scope}{kind}", "post", gvk, tag, _responses(_json(ref), "200", "201"),
                                 params=OPERATION_PARAMETERS["post"], body=_json(ref), description=f"create a {kind}")
    if collection:
        paths[base] = {"parameters": ns_params, **collection}

    item: dict[str, Any] = {}
    if "get" in verbs:
        item["get"] = _op(f"read{scope}{kind}", "get", gvk, tag, _responses(_json(ref), "200"),
                          params=OPERATION_PARAMETERS["get"] if isinstance(res, KindInfo) else (),
                          description=f"read the specified {kind}")
    if "update" in verbs:
        item["put"] = _op(f"replace{scope}{kind}", "put", gvk, tag, _responses(_json(ref), "200"),
                          params=OPERATION_PARAMETERS["put"], body=_json(ref),
                          description=f"replace the specified {kind}")
    if "patch" in verbs:
        # 201: a server-side apply creates the object when there is none (as Kubernetes documents it).
        item["patch"] = _op(f"patch{scope}{kind}", "patch", gvk, tag, _responses(_json(ref), "200", "201"),
                            params=OPERATION_PARAMETERS["patch"], body=_patch_body(ref),
                            description=f"partially update the specified {kind}")
    if "delete" in verbs:
        deleted = {"anyOf": [{"$ref": _REF + ref}, {"$ref": _REF + f"{META}.Status"}]}
        item["delete"] = _op(f"delete{scope}{kind}", "delete", gvk, tag, _responses(_json(deleted), "200", "202"),
                             params=OPERATION_PARAMETERS["delete"], body=_json(f"{META}.DeleteOptions"),
                             body_required=False, description=f"delete a {kind}")
    if item:
        paths[f"{base}/{{name}}"] = {"parameters": [*ns_params, _path_param("name")], **item}

    for sub in res.subresources:
        paths.update(_subresource_path(res, sub, base, ns_params, tag, scope))
    if res.namespaced and "list" in verbs and _listed(res):
        paths[f"{prefix}/{res.plural}"] = {"get": _op(
            f"list{kind}ForAllNamespaces", "list", gvk, tag, list_ok, params=list_params,
            description=f"{list_what} objects of kind {kind} in every namespace")}
    return paths


def _subresource_path(res: Resource, sub: Subresource, base: str, ns_params: list[dict[str, Any]], tag: str,
                      scope: str) -> dict[str, Any]:
    model = sub.model or (res.model if sub.kind in ("", res.kind) else None)
    assert res.model is not None
    ref = schema_name(model) if model is not None else None
    gvk = _gvk(sub.api_version or res.api_version, sub.kind or res.kind)
    if sub.media_type == "application/json" and ref is not None:
        content: dict[str, Any] = _json(ref)
    else:
        content = {sub.media_type: {"schema": {"type": "string"}}}
    body = _json(ref) if ref is not None else {"application/json": {"schema": {"type": "object"}}}
    op_name = f"{scope}{res.kind}{sub.name[:1].upper()}{sub.name[1:]}"
    ops: dict[str, Any] = {}
    for verb in sorted(sub.verbs):
        action = _ACTIONS.get(verb)
        if action is None:
            continue
        params = sub.params or OPERATION_PARAMETERS.get(action, ())
        ops[action] = _op(f"{_VERB_PREFIX[action]}{op_name}", action, gvk, tag, _responses(content, "200"),
                          params=params, description=f"{verb} {sub.name} of the specified {res.kind}",
                          body=(_patch_body(ref or "") if action == "patch" else body)
                          if action in ("put", "post", "patch") else None)
    if not ops:
        return {}
    return {f"{base}/{{name}}/{sub.name}": {"parameters": [*ns_params, _path_param("name")], **ops}}


# --- documents -----------------------------------------------------------------------------------

def _doc_key(api_version: str) -> str:
    return f"apis/{api_version}" if "/" in api_version else f"api/{api_version}"


@functools.cache
def document_keys() -> tuple[str, ...]:
    """``("api/v1", "apis/apps/v1", ..., "haplane")``: one per served group-version, then haplane's."""
    seen: dict[str, None] = {}
    for res in [*KINDS.values(), *VIRTUAL_RESOURCES]:
        seen.setdefault(_doc_key(res.api_version), None)
    return (*seen, HAPLANE_DOC)


def _envelope(title: str, paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    return {
        "openapi": "3.0.0",
        "info": {"title": "haplane", "version": title,
                 "description": "A small, highly available container orchestrator with the Kubernetes API."},
        "paths": paths,
        "components": {"schemas": schemas,
                       "securitySchemes": {"BearerToken": {"type": "http", "scheme": "bearer",
                                                           "description": "Bearer token authentication"}}},
        "security": [{"BearerToken": []}],
    }


def _group_version_document(api_version: str) -> dict[str, Any]:
    resources = [r for r in [*KINDS.values(), *VIRTUAL_RESOURCES] if r.api_version == api_version]
    schemas = _model_schemas(resources)
    schemas.update({_list_name(r): _list_schema(r) for r in resources if _listed(r)})
    schemas.update(copy.deepcopy(_FIXED_SCHEMAS))
    paths: dict[str, Any] = {}
    for res in resources:
        paths.update(_resource_paths(res))
    return _envelope(api_version, paths, schemas)


_VERSION_INFO = {
    "type": "object",
    "description": "Info contains versioning information: the Kubernetes version haplane speaks.",
    "required": ["major", "minor", "gitVersion", "gitCommit", "gitTreeState", "buildDate", "goVersion", "compiler",
                 "platform"],
    "properties": {key: {"type": "string"} for key in (
        "major", "minor", "emulationMajor", "emulationMinor", "minCompatibilityMajor", "minCompatibilityMinor",
        "gitVersion", "gitCommit", "gitTreeState", "buildDate", "goVersion", "compiler", "platform")},
}
_CLUSTER_STATUS = {
    "type": "object",
    "description": "Every member of the Raft group: name, raft address, role, term, commit and applied "
                   "index, and the leader.",
}


def _object(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


_STR = {"type": "string"}
_GV = _object(["groupVersion", "version"], groupVersion=_STR, version=_STR)
_API_GROUP = _object(["name", "versions"], apiVersion=_STR, kind=_STR, name=_STR,
                     versions={"type": "array", "items": {"$ref": _REF + f"{META}.GroupVersionForDiscovery"}},
                     preferredVersion={"$ref": _REF + f"{META}.GroupVersionForDiscovery"})
_API_RESOURCE = _object(["name", "singularName", "namespaced", "kind", "verbs"], name=_STR, singularName=_STR,
                        namespaced={"type": "boolean"}, group=_STR, version=_STR, kind=_STR,
                        verbs={"type": "array", "items": _STR}, shortNames={"type": "array", "items": _STR},
                        categories={"type": "array", "items": _STR})
_DISCOVERY_SCHEMAS = {
    f"{META}.APIVersions": _object(
        ["versions", "serverAddressByClientCIDRs"], apiVersion=_STR, kind=_STR,
        versions={"type": "array", "items": _STR},
        serverAddressByClientCIDRs={"type": "array", "items": _object(["clientCIDR", "serverAddress"],
                                                                      clientCIDR=_STR, serverAddress=_STR)}),
    f"{META}.GroupVersionForDiscovery": _GV,
    f"{META}.APIGroup": _API_GROUP,
    f"{META}.APIGroupList": _object(["groups"], apiVersion=_STR, kind=_STR,
                                    groups={"type": "array", "items": {"$ref": _REF + f"{META}.APIGroup"}}),
    f"{META}.APIResource": _API_RESOURCE,
    f"{META}.APIResourceList": _object(
        ["groupVersion", "resources"], apiVersion=_STR, kind=_STR, groupVersion=_STR,
        resources={"type": "array", "items": {"$ref": _REF + f"{META}.APIResource"}}),
}


def _haplane_document() -> dict[str, Any]:
    def op(op_id: str, content: dict[str, Any], *, public: bool = False) -> dict[str, Any]:
        return {"get": {"tags": ["haplane"], "operationId": op_id,
                        "responses": _responses(content, "200"), "security": [] if public else [{"BearerToken": []}]}}
    probe = {"text/plain": {"schema": {"type": "string"}}}
    paths = {
        "/cluster/status": op("readClusterStatus", _json("io.haplane.ClusterStatus")),
        "/healthz": op("healthz", probe, public=True),
        "/readyz": op("readyz", probe, public=True),
        "/version": op("getCode", _json("io.k8s.apimachinery.pkg.version.Info")),
        "/api": op("getCoreAPIVersions", _json(f"{META}.APIVersions")),
        "/apis": op("getAPIVersions", _json(f"{META}.APIGroupList")),
    }
    for gv in discovery.group_versions():  # the legacy discovery documents (see haplane.api.discovery)
        group, _, version = gv.rpartition("/")
        camel = "".join(part.capitalize() for part in (group.removesuffix(".k8s.io") or "core").split(".")) + \
            version.capitalize()
        paths[f"/apis/{gv}" if group else f"/api/{gv}"] = op(f"get{camel}APIResources", _json(f"{META}.APIResourceList"))
        if group:
            paths[f"/apis/{group}"] = op(f"get{camel.removesuffix(version.capitalize())}APIGroup",
                                         _json(f"{META}.APIGroup"))
    schemas = {"io.haplane.ClusterStatus": _CLUSTER_STATUS, "io.k8s.apimachinery.pkg.version.Info": _VERSION_INFO,
               f"{META}.Status": copy.deepcopy(_STATUS), **copy.deepcopy(_DISCOVERY_SCHEMAS)}
    return _envelope(HAPLANE_DOC, paths, schemas)


def build_document(key: str) -> dict[str, Any]:
    """The document at ``/openapi/v3/{key}`` (a fresh dict); NotFound for a key not served."""
    if key not in document_keys():
        raise NotFound(f"no OpenAPI document {key!r}; the root /openapi/v3 lists them")
    if key == HAPLANE_DOC:
        return _haplane_document()
    return _group_version_document(key.split("/", 1)[1])


@functools.cache
def documents() -> dict[str, tuple[bytes, str]]:
    """Every document serialized once (the registry is immutable): key -> (JSON bytes, hash)."""
    out = {}
    for key in document_keys():
        body = orjson.dumps(build_document(key))
        out[key] = (body, hashlib.sha512(body).hexdigest().upper())
    return out


def build_root(hashes: dict[str, str]) -> dict[str, Any]:
    """``/openapi/v3``: each document's URL, with its hash so that clients cache it safely."""
    return {"paths": {key: {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
                      for key, digest in hashes.items()}}


# --- routes --------------------------------------------------------------------------------------

def _accepts_json(accept: str | None) -> bool:
    if not accept or not accept.strip():
        return True
    for media_range in accept.split(","):
        mtype = media_range.split(";")[0].strip().lower()
        if mtype in ("application/json", "application/*", "*/*"):
            return True
    return False


def add_routes(app: web.Application) -> None:
    """``/openapi/v3`` and ``/openapi/v3/{key}`` (JSON only: 406 for another Accept), and ``/openapi/v2``
    (JSON or kubectl's protobuf, see :mod:`haplane.api.openapiv2`)."""

    def check_accept(request: web.Request) -> None:
        if not _accepts_json(request.headers.get("Accept")):
            raise NotAcceptable(f"only application/json is served here, not {request.headers.get('Accept')!r}")

    async def root(request: web.Request) -> web.Response:
        check_accept(request)
        body = orjson.dumps(build_root({key: digest for key, (_, digest) in documents().items()}))
        return web.Response(body=body, content_type="application/json")

    async def document(request: web.Request) -> web.Response:
        check_accept(request)
        key = request.match_info["key"].strip("/")
        if key not in documents():
            raise NotFound(f"no OpenAPI document {key!r}; the root /openapi/v3 lists them")
        body, digest = documents()[key]
        immutable = request.query.get("hash") == digest
        headers = {"Cache-Control": "public, immutable, max-age=31536000" if immutable else "no-cache",
                   "ETag": f'"{digest}"'}
        return web.Response(body=body, content_type="application/json", headers=headers)

    from haplane.api import openapiv2  # it builds on this module

    async def v2(request: web.Request) -> web.Response:
        accept = request.headers.get("Accept") or ""
        if openapiv2.PROTOBUF in accept or openapiv2.PROTOBUF_RESPONSE in accept:
            return web.Response(body=openapiv2.swagger_bytes(True),
                                headers={"Content-Type": openapiv2.PROTOBUF_RESPONSE})
        check_accept(request)
        return web.Response(body=openapiv2.swagger_bytes(False), content_type="application/json")

    app.router.add_get("/openapi/v2", v2)
    app.router.add_get("/openapi/v3", root)
    app.router.add_get("/openapi/v3/", root)
    app.router.add_get("/openapi/v3/{key:.+}", document)
