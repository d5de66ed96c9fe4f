"""Request bodies: strict JSON parsing that turns every bad input into a 4xx.

Protobuf bodies (``application/vnd.kubernetes.protobuf``, what kubectl's typed clients send)
are decoded by :mod:`haplane.api.protobuf` where JSON is accepted. Rejected: a wrong content
type (415), PATCH without a patch content type (415), bodies over
the size limit (413), invalid UTF-8, malformed JSON or YAML, NaN / Infinity, NUL bytes, YAML
aliases, and nesting deeper than :data:`MAX_DEPTH` (400).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import yaml
from aiohttp import web

from haplane.api.protobuf import PROTOBUF
from haplane.api.protobuf import decode as protobuf_decode
from haplane.errors import BadRequest, RequestEntityTooLarge, UnsupportedMediaType

MAX_BODY = 1024 * 1024
MAX_DEPTH = 40
JSON_TYPES = frozenset({"application/json"})
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = frozenset({MERGE_PATCH, JSON_PATCH, STRATEGIC_PATCH, APPLY_PATCH})


async def read_raw(request: web.Request) -> bytes:
    """The whole body of ``request``, at most :data:`MAX_BODY` bytes (413 beyond)."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise RequestEntityTooLarge(f"request body over {MAX_BODY} bytes")
    # StreamReader.read(n) returns what has arrived so far (up to n): read on to the end.
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(MAX_BODY + 1 - size):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY:
            raise RequestEntityTooLarge(f"request body over {MAX_BODY} bytes")
    return b"".join(chunks)


async def read_json(request: web.Request, *, allowed: frozenset[str] = JSON_TYPES, required: bool = True) -> Any:
    """Parse the body of ``request``; ``None`` when it is empty and not required."""
    return (await read_body(request, allowed=allowed, required=required))[1]


def body_type(request: web.Request) -> str:
    """The body's media type. No Content-Type at all is JSON, as the Kubernetes API server takes
    it (the official Python client sends DeleteOptions bodies without one); aiohttp would call
    it application/octet-stream."""
    return request.content_type if "Content-Type" in request.headers else "application/json"


async def read_body(request: web.Request, *, allowed: frozenset[str] = JSON_TYPES,
                    required: bool = True) -> tuple[bytes, Any]:
    """``(raw bytes, parsed value)`` of the body; YAML for an apply patch, protobuf for the kinds
    haplane.api.protobuf knows (kubectl's typed clients) where JSON is accepted, JSON otherwise."""
    raw = await read_raw(request)
    if not raw.strip():
        if required:
            raise BadRequest("request body is empty")
        return raw, None
    ctype = body_type(request)
    if ctype == PROTOBUF and allowed is JSON_TYPES:
        return raw, protobuf_decode(raw)
    if ctype not in allowed:
        if allowed is PATCH_TYPES:
            raise UnsupportedMediaType(f"the body of the request was in an unknown format ({ctype!r}): accepted "
                                       f"media types include: {', '.join(sorted(PATCH_TYPES))}")
        raise UnsupportedMediaType(f"Content-Type must be application/json, not {ctype!r}")
    return raw, parse_yaml(raw) if ctype == APPLY_PATCH else parse_json(raw)


def parse_json(raw: bytes) -> Any:
    if b"\x00" in raw or b"\\u0000" in raw:
        raise BadRequest("NUL bytes are not allowed in request bodies")
    try:
        # orjson is strict JSON: invalid UTF-8, NaN / Infinity and nesting past 1024 are errors.
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None
    if _depth(value) > MAX_DEPTH:
        raise BadRequest(f"JSON nested deeper than {MAX_DEPTH} levels")
    return value


class _YAMLLoader(yaml.SafeLoader):
    """Safe YAML as Kubernetes reads it: timestamps stay strings, no aliases (no "billion laughs"),
    duplicate keys recorded for field validation."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise BadRequest("YAML aliases are not allowed in request bodies")
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        keys = [self.construct_object(k, deep=True) for k, _ in node.value]
        for key in {k for k in keys if isinstance(k, str) and keys.count(k) > 1}:
            self.duplicates.append(key)
        return super().construct_mapping(node, deep=deep)


_YAMLLoader.add_constructor("tag:yaml.org,2002:timestamp", _YAMLLoader.construct_yaml_str)


def _yaml_loader(raw: bytes) -> _YAMLLoader:
    loader = _YAMLLoader(raw.decode("utf-8"))
    loader.duplicates = []  # type: ignore[attr-defined]
    return loader


def parse_yaml(raw: bytes) -> Any:
    """One YAML document (JSON is YAML) as JSON values; BadRequest when it is not one."""
    if b"\x00" in raw:
        raise BadRequest("NUL bytes are not allowed in request bodies")
    try:
        loader = _yaml_loader(raw)
        try:
            value = loader.get_single_data()
        finally:
            loader.dispose()
        value = json.loads(json.dumps(value, allow_nan=False))  # only JSON types (and finite numbers) pass
    except UnicodeDecodeError:
        raise BadRequest("the body is not valid UTF-8") from None
    except (yaml.YAMLError, TypeError, ValueError, RecursionError) as exc:
        raise BadRequest(f"malformed YAML: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    if _depth(value) > MAX_DEPTH:
        raise BadRequest(f"YAML nested deeper than {MAX_DEPTH} levels")
    return value


def duplicate_fields(raw: bytes, ctype: str) -> list[str]:
    """The object keys that occur twice in one object of a body already parsed once."""
    found: list[str] = []
    if ctype == PROTOBUF:
        return []  # a protobuf message has no duplicate keys
    if ctype == APPLY_PATCH:
        loader = _yaml_loader(raw)
        try:
            loader.get_single_data()
        finally:
            loader.dispose()
        return sorted(set(loader.duplicates))  # type: ignore[attr-defined]

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        found.extend(k for k in dict.fromkeys(keys) if keys.count(k) > 1)
        return dict(pairs)
    json.loads(raw, object_pairs_hook=hook)
    return sorted(set(found))


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if deepest > MAX_DEPTH:
                return deepest
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest
