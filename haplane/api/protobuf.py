"""Request bodies in Kubernetes' protobuf encoding, for the few kinds kubectl sends that way.

kubectl's typed clients (``auth can-i``, ``auth whoami``, ``drain``'s evictions) send
``Content-Type: application/vnd.kubernetes.protobuf`` and accept JSON back. A body is the
magic ``k8s\\x00`` and a ``runtime.Unknown`` message (typeMeta, raw bytes); ``raw`` is the
object's own message. This module decodes the protobuf wire format (varints and
length-delimited fields; nothing else occurs in these messages) and turns the messages of
:data:`SCHEMAS` into the JSON objects the handlers already take. Any other kind, or bytes that
do not decode, is a 4xx, never a crash. Responses stay JSON (kubectl's Accept lists it).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from haplane.api.body import read_json, read_raw
from haplane.errors import BadRequest, UnsupportedMediaType

PROTOBUF = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

# A field: (json name, type) with type "string", "int", "bool", "strings" (repeated string) or
# the name of a nested message.
Schema = dict[int, tuple[str, str]]
SCHEMAS: dict[str, Schema] = {
    "Unknown": {1: ("typeMeta", "TypeMeta"), 2: ("raw", "bytes"), 3: ("contentEncoding", "string"),
                4: ("contentType", "string")},
    "TypeMeta": {1: ("apiVersion", "string"), 2: ("kind", "string")},
    "ObjectMeta": {1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"),
                   5: ("uid", "string"), 6: ("resourceVersion", "string")},
    "SelfSubjectAccessReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "SelfSubjectAccessReviewSpec")},
    "SelfSubjectAccessReviewSpec": {1: ("resourceAttributes", "ResourceAttributes"),
                                    2: ("nonResourceAttributes", "NonResourceAttributes")},
    "ResourceAttributes": {1: ("namespace", "string"), 2: ("verb", "string"), 3: ("group", "string"),
                           4: ("version", "string"), 5: ("resource", "string"), 6: ("subresource", "string"),
                           7: ("name", "string")},
    "NonResourceAttributes": {1: ("path", "string"), 2: ("verb", "string")},
    "SelfSubjectRulesReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "SelfSubjectRulesReviewSpec")},
    "SelfSubjectRulesReviewSpec": {1: ("namespace", "string")},
    "SelfSubjectReview": {1: ("metadata", "ObjectMeta")},
    "Eviction": {1: ("metadata", "ObjectMeta"), 2: ("deleteOptions", "DeleteOptions")},
    "DeleteOptions": {1: ("gracePeriodSeconds", "int"), 2: ("preconditions", "Preconditions"),
                      3: ("orphanDependents", "bool"), 4: ("propagationPolicy", "string"), 5: ("dryRun", "strings")},
    "Preconditions": {1: ("uid", "string"), 2: ("resourceVersion", "string")},
}
# The kinds a request body may hold (the top-level messages above).
KINDS = frozenset({"SelfSubjectAccessReview", "SelfSubjectRulesReview", "SelfSubjectReview", "Eviction"})
_MAX_DEPTH = 8


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """The (field number, value) pairs of one message: ints for varints, bytes for
    length-delimited fields; fixed 32/64-bit fields are skipped. Raises ValueError."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError("field number 0")
        if wire == 0:
            value, pos = _varint(data, pos)
            out.append((number, value))
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ValueError("truncated field")
            out.append((number, data[pos:pos + length]))
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            if pos > len(data):
                raise ValueError("truncated fixed field")
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return out


def decode_message(data: bytes, schema_name: str, depth: int = 0) -> dict[str, Any]:
    """A message as the JSON object Kubernetes would send for it (unknown fields dropped)."""
    if depth > _MAX_DEPTH:
        raise ValueError("nested too deep")
    schema = SCHEMAS[schema_name]
    out: dict[str, Any] = {}
    for number, value in fields(data):
        if number not in schema:
            continue
        name, typ = schema[number]
        if typ in ("int", "bool"):
            if not isinstance(value, int):
                raise ValueError(f"{name}: expected a varint")
            if typ == "bool":
                out[name] = bool(value)
            else:
                out[name] = value - (1 << 64) if value >= 1 << 63 else value
            continue
        if not isinstance(value, bytes):
            raise ValueError(f"{name}: expected a length-delimited field")
        if typ == "bytes":
            out[name] = value
        elif typ in ("string", "strings"):
            text = value.decode("utf-8")
            if "\x00" in text:
                raise ValueError(f"{name}: NUL byte")
            if typ == "strings":
                out.setdefault(name, []).append(text)
            else:
                out[name] = text
        else:
            out[name] = decode_message(value, typ, depth + 1)
    return out


def decode(body: bytes) -> dict[str, Any]:
    """A protobuf request body (magic + runtime.Unknown) as a JSON object. Raises BadRequest /
    UnsupportedMediaType."""
    if not body.startswith(MAGIC):
        raise BadRequest("a protobuf body must start with the k8s\\x00 prefix")
    try:
        unknown = decode_message(body[len(MAGIC):], "Unknown")
        type_meta = unknown.get("typeMeta") or {}
        kind = type_meta.get("kind", "")
        if kind not in KINDS:
            raise UnsupportedMediaType(f"haplane reads protobuf only for {', '.join(sorted(KINDS))}, not "
                                       f"{kind or 'this body'}: send application/json")
        if unknown.get("contentEncoding"):
            raise UnsupportedMediaType(f"content encoding {unknown['contentEncoding']!r} is not supported")
        obj = decode_message(unknown.get("raw", b""), kind)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"malformed protobuf body: {exc}") from None
    return {"apiVersion": type_meta.get("apiVersion", ""), "kind": kind, **obj}


async def read_object(request: web.Request, *, required: bool = True) -> Any:
    """The request's object, from JSON or (for :data:`KINDS`) protobuf; ``None`` when the body
    is empty and not required."""
    if request.content_type != PROTOBUF:
        return await read_json(request, required=required)
    raw = await read_raw(request)
    if not raw:
        if required:
            raise BadRequest("request body is empty")
        return None
    return decode(raw)
