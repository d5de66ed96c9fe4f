"""``/openapi/v2``: the same API as the v3 documents, as a Swagger 2.0 document, in JSON or in the
protobuf form kubectl asks for (``application/com.github.proto-openapi.spec.v2@v1.0+protobuf``,
gnostic's ``openapi.v2.Document``).

kubectl 1.37 reads v3 first; it turns to v2 for ``kubectl explain --output plaintext-openapiv2``,
and for validation or patch metadata only where v3 says nothing. Built once from the v3
documents (:mod:`haplane.api.openapi`): schemas move to ``definitions`` (a ``$ref`` keeps its
description beside it, as Kubernetes' v2 document has it; ``anyOf`` and ``nullable``, which 2.0
lacks, become an int-or-string or are dropped), request bodies become body parameters.

The protobuf encoder is a small hand-written one for exactly the messages used (field numbers
from gnostic's OpenAPIv2.proto); unknown keys are left out, never guessed.
"""

from __future__ import annotations

import functools
import json
import struct
from typing import Any

import orjson

from haplane.api import openapi

__all__ = ["PROTOBUF", "PROTOBUF_RESPONSE", "swagger", "encode", "swagger_bytes"]

PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"  # what kubectl asks for
# What Kubernetes answers it with: "@" is not a token character, and Go's mime parser refuses it.
PROTOBUF_RESPONSE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
_V3_REF, _V2_REF = "#/components/schemas/", "#/definitions/"
_METHODS = ("get", "put", "post", "delete", "patch")


# --- v3 documents -> one Swagger 2.0 document --------------------------------------------------

def _schema(node: Any) -> Any:
    """A v3 schema object as a 2.0 one."""
    if isinstance(node, list):
        return [_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    node.pop("nullable", None)
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and "$ref" in all_of[0] and "properties" not in node:
        node.pop("allOf")
        node = {"$ref": all_of[0]["$ref"], **node}
    options = node.pop("anyOf", None)
    if options is not None:
        types = {o.get("type") for o in options}
        if types == {"integer", "string"}:
            node.update(type="string", format="int-or-string")
        elif len(types) == 1 and None not in types:
            node["type"] = types.pop()
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            out[key] = value.replace(_V3_REF, _V2_REF)
        elif key == "properties":
            out[key] = {name: _schema(sub) for name, sub in value.items()}
        elif key in ("enum", "default", "required") or key.startswith("x-"):
            out[key] = value
        else:
            out[key] = _schema(value)
    return out


def _parameter(param: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in param.items() if k != "schema"}
    out.update({k: v for k, v in (param.get("schema") or {}).items() if k in ("type", "enum", "minimum", "format")})
    return out


def _operation(op: dict[str, Any], path_params: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {k: v for k, v in op.items() if k in ("tags", "description", "operationId")
                           or k.startswith("x-")}
    params = [_parameter(p) for p in [*path_params, *op.get("parameters", [])]]
    body = op.get("requestBody")
    if body is not None:
        content = body["content"]
        out["consumes"] = sorted(content)
        first = content[out["consumes"][0]]
        params.append({"name": "body", "in": "body", "required": bool(body.get("required")),
                       "schema": _schema(first.get("schema", {}))})
    produces: set[str] = set()
    responses: dict[str, Any] = {}
    for code, resp in op.get("responses", {}).items():
        content = resp.get("content", {})
        produces.update(content)
        entry: dict[str, Any] = {"description": resp.get("description", "")}
        if "application/json" in content or content:
            media = content.get("application/json") or next(iter(content.values()))
            entry["schema"] = _schema(media.get("schema", {}))
        responses[code] = entry
    if produces:
        out["produces"] = sorted(produces)
    if params:
        out["parameters"] = params
    out["responses"] = responses
    return out


@functools.cache
def swagger() -> dict[str, Any]:
    """The Swagger 2.0 document of everything ``/openapi/v3`` lists."""
    paths: dict[str, Any] = {}
    definitions: dict[str, Any] = {}
    for key in openapi.document_keys():
        doc = openapi.build_document(key)
        definitions.update({name: _schema(s) for name, s in doc["components"]["schemas"].items()})
        for path, item in doc["paths"].items():
            params = item.get("parameters", [])
            paths[path] = {m: _operation(item[m], params) for m in _METHODS if m in item}
    return {"swagger": "2.0", "info": {"title": "haplane", "version": "v1"}, "paths": paths,
            "definitions": definitions,
            "securityDefinitions": {"BearerToken": {"type": "apiKey", "name": "authorization", "in": "header",
                                                    "description": "Bearer Token authentication"}},
            "security": [{"BearerToken": []}]}


# --- protobuf (gnostic openapi.v2) ----------------------------------------------------------------

def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64s as ten bytes, as protobuf does
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _bytes(field: int, data: bytes) -> bytes:
    return _key(field, 2) + _varint(len(data)) + data


def _str(field: int, text: str | None) -> bytes:
    return _bytes(field, text.encode()) if text else b""


def _strs(field: int, texts: Any) -> bytes:
    return b"".join(_str(field, t) for t in texts or () if isinstance(t, str))


def _bool(field: int, value: Any) -> bytes:
    return _key(field, 0) + _varint(1) if value is True else b""


def _int(field: int, value: Any) -> bytes:
    return _key(field, 0) + _varint(int(value)) if isinstance(value, int) and not isinstance(value, bool) else b""


def _double(field: int, value: Any) -> bytes:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return b""
    return _key(field, 1) + struct.pack("<d", float(value))


def _any(field: int, value: Any) -> bytes:
    """An ``Any`` carrying ``value`` as YAML (JSON is YAML) in its ``yaml`` field (2)."""
    return _bytes(field, _str(2, json.dumps(value)))


def _extensions(field: int, node: dict[str, Any]) -> bytes:
    return b"".join(_bytes(field, _str(1, k) + _any(2, v)) for k, v in node.items() if k.startswith("x-"))


def _schema_pb(s: dict[str, Any]) -> bytes:
    out = _str(1, s.get("$ref")) + _str(2, s.get("format")) + _str(4, s.get("description"))
    if "default" in s:
        out += _any(5, s["default"])
    if "maximum" in s:
        out += _double(7, s["maximum"]) + _bool(8, s.get("exclusiveMaximum"))
    if "minimum" in s:
        out += _double(9, s["minimum"]) + _bool(10, s.get("exclusiveMinimum"))
    out += _int(11, s.get("maxLength")) + _int(12, s.get("minLength")) + _str(13, s.get("pattern"))
    out += _int(14, s.get("maxItems")) + _int(15, s.get("minItems")) + _strs(19, s.get("required"))
    out += b"".join(_any(20, v) for v in s.get("enum", ()))
    extra = s.get("additionalProperties")
    if isinstance(extra, dict):
        out += _bytes(21, _bytes(1, _schema_pb(extra)))
    elif isinstance(extra, bool):
        out += _bytes(21, _key(2, 0) + _varint(int(extra)))
    if isinstance(s.get("type"), str):
        out += _bytes(22, _str(1, s["type"]))
    if isinstance(s.get("items"), dict):
        out += _bytes(23, _bytes(1, _schema_pb(s["items"])))
    out += b"".join(_bytes(24, _schema_pb(sub)) for sub in s.get("allOf", ()))
    if isinstance(s.get("properties"), dict):
        named = b"".join(_bytes(1, _str(1, k) + _bytes(2, _schema_pb(v))) for k, v in s["properties"].items())
        out += _bytes(25, named)
    return out + _extensions(31, s)


def _parameter_pb(p: dict[str, Any]) -> bytes:
    if p.get("in") == "body":
        body = _str(1, p.get("description")) + _str(2, p.get("name")) + _str(3, "body") + \
            _bool(4, p.get("required")) + _bytes(5, _schema_pb(p.get("schema", {})))
        return _bytes(1, _bytes(1, body))  # ParametersItem.parameter -> Parameter.body_parameter
    if p.get("in") == "path":  # PathParameterSubSchema: required 1, in 2, description 3, name 4, type 5
        sub = _bool(1, True) + _str(2, "path") + _str(3, p.get("description")) + _str(4, p.get("name")) + \
            _str(5, p.get("type", "string"))
        return _bytes(1, _bytes(2, _bytes(4, sub)))
    # QueryParameterSubSchema: required 1, in 2, description 3, name 4, type 6, format 7, minimum 13, enum 21
    sub = _bool(1, p.get("required")) + _str(2, "query") + _str(3, p.get("description")) + _str(4, p.get("name")) + \
        _str(6, p.get("type", "string")) + _str(7, p.get("format")) + _double(13, p.get("minimum")) + \
        b"".join(_any(21, v) for v in p.get("enum", ()))
    return _bytes(1, _bytes(2, _bytes(3, sub)))


def _operation_pb(op: dict[str, Any]) -> bytes:
    out = _strs(1, op.get("tags")) + _str(3, op.get("description")) + _str(5, op.get("operationId"))
    out += _strs(6, op.get("produces")) + _strs(7, op.get("consumes"))
    out += b"".join(_bytes(8, _parameter_pb(p)) for p in op.get("parameters", ()))
    codes = b""
    for code, resp in op.get("responses", {}).items():
        response = _str(1, resp.get("description") or code)
        if "schema" in resp:
            response += _bytes(2, _bytes(1, _schema_pb(resp["schema"])))
        codes += _bytes(1, _str(1, code) + _bytes(2, _bytes(1, response)))
    out += _bytes(9, codes)
    return out + _extensions(13, op)


_PATH_FIELDS = {"get": 2, "put": 3, "post": 4, "delete": 5, "patch": 8}


def encode(doc: dict[str, Any]) -> bytes:
    """``doc`` (as :func:`swagger` builds it) as a gnostic ``openapi.v2.Document``."""
    out = _str(1, doc["swagger"]) + _bytes(2, _str(1, doc["info"]["title"]) + _str(2, doc["info"]["version"]))
    paths = b""
    for path, item in doc["paths"].items():
        ops = b"".join(_bytes(_PATH_FIELDS[m], _operation_pb(op)) for m, op in item.items())
        paths += _bytes(2, _str(1, path) + _bytes(2, ops))
    out += _bytes(8, paths)
    out += _bytes(9, b"".join(_bytes(1, _str(1, name) + _bytes(2, _schema_pb(s)))
                              for name, s in doc["definitions"].items()))
    return out


@functools.cache
def swagger_bytes(protobuf: bool) -> bytes:
    """The served document, encoded once."""
    return encode(swagger()) if protobuf else orjson.dumps(swagger())
