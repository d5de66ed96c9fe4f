"""Request bodies: strict JSON parsing that turns every bad input into a 4xx.

Protobuf bodies (``application/vnd.kubernetes.protobuf``, what kubectl's typed clients send)
are decoded by :mod:`haplane.api.protobuf` where JSON is accepted. Rejected: a wrong content
type (415), PATCH without a patch content type (415), bodies over
the size limit (413), invalid UTF-8, malformed JSON, NaN / Infinity, NUL bytes, and nesting
deeper than :data:`MAX_DEPTH` (400).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from haplane.api.protobuf import PROTOBUF
from haplane.api.protobuf import decode as protobuf_decode
from haplane.errors import BadRequest, RequestEntityTooLarge, UnsupportedMediaType

MAX_BODY = 1024 * 1024
MAX_DEPTH = 40
JSON_TYPES = frozenset({"application/json"})
PATCH_TYPES = frozenset({"application/merge-patch+json", "application/json-patch+json"})


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
    raw = await read_raw(request)
    if not raw.strip():
        if required:
            raise BadRequest("request body is empty")
        return None
    # No Content-Type at all is JSON, as the Kubernetes API server takes it (the official Python
    # client sends DeleteOptions bodies without one); aiohttp would call it application/octet-stream.
    ctype = request.content_type if "Content-Type" in request.headers else "application/json"
    if ctype == PROTOBUF and allowed is JSON_TYPES:
        return protobuf_decode(raw)  # kubectl's typed clients: the kinds haplane.api.protobuf knows
    if ctype not in allowed:
        if allowed is PATCH_TYPES:
            raise UnsupportedMediaType(
                f"PATCH needs Content-Type application/merge-patch+json or application/json-patch+json, "
                f"not {ctype!r} (strategic merge patch is not supported)")
        raise UnsupportedMediaType(f"Content-Type must be application/json, not {ctype!r}")
    return parse_json(raw)


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
