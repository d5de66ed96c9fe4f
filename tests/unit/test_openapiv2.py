"""/openapi/v2: the Swagger 2.0 form of the v3 documents, and its protobuf encoding (gnostic's
openapi.v2.Document), checked with a small wire-format decoder."""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest

from haplane.api import openapi, openapiv2
from haplane.api.body import PATCH_TYPES
from haplane.model.registry import KINDS
from tests.unit.test_openapi import _walk

DOC = openapiv2.swagger()


def test_every_v3_schema_and_path_is_in_v2() -> None:
    for key in openapi.document_keys():
        doc = openapi.build_document(key)
        assert doc["components"]["schemas"].keys() <= DOC["definitions"].keys()
        assert doc["paths"].keys() <= DOC["paths"].keys()


def test_v2_schemas_use_only_swagger_2_keywords_and_refs_resolve() -> None:
    for where, node in _walk(DOC):
        if where.endswith("/properties") or "/x-" in where:
            continue
        assert not ({"anyOf", "oneOf", "nullable", "requestBody", "components"} & node.keys()), where
        ref = node.get("$ref")
        if isinstance(ref, str):
            assert ref.startswith("#/definitions/") and ref[len("#/definitions/"):] in DOC["definitions"], where


@pytest.mark.parametrize("info", [pytest.param(i, id=i.kind) for i in KINDS.values()])
def test_kinds_carry_their_gvk_and_patch_operations_what_kubectl_reads(info: Any) -> None:
    gvk = {"group": info.group, "kind": info.kind, "version": info.version}
    assert any(d.get("x-kubernetes-group-version-kind") == [gvk] for d in DOC["definitions"].values())
    patches = [item["patch"] for path, item in DOC["paths"].items()  # the object's (status has its own)
               if "patch" in item and item["patch"].get("x-kubernetes-group-version-kind") == gvk
               and not path.endswith("/status")]
    assert len(patches) == 1
    assert set(patches[0]["consumes"]) == PATCH_TYPES
    assert "fieldValidation" in {p["name"] for p in patches[0]["parameters"]}


def test_int_or_string_and_refs_with_descriptions_are_written_as_kubernetes_does() -> None:
    port = DOC["definitions"]["io.k8s.api.core.v1.HTTPGetAction"]["properties"]["port"]
    assert (port["type"], port["format"]) == ("string", "int-or-string")
    strategy = DOC["definitions"]["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"]
    assert strategy["$ref"] == "#/definitions/io.k8s.api.apps.v1.DeploymentStrategy" and strategy["description"]


# --- protobuf -----------------------------------------------------------------------------------

def decode(data: bytes) -> list[tuple[int, Any]]:
    """(field, value) pairs of one message: ints for varints, bytes for length-delimited, floats."""
    out, i = [], 0
    while i < len(data):
        key, i = _varint(data, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 1:
            value, i = struct.unpack("<d", data[i:i + 8])[0], i + 8
        elif wire == 2:
            size, i = _varint(data, i)
            value, i = data[i:i + size], i + size
        else:
            raise AssertionError(f"wire type {wire}")
        out.append((field, value))
    assert i == len(data)
    return out


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = data[i]
        value |= (byte & 0x7F) << shift
        i, shift = i + 1, shift + 7
        if not byte & 0x80:
            return value, i


def _fields(data: bytes, field: int) -> list[Any]:
    return [v for f, v in decode(data) if f == field]


def test_protobuf_document_holds_every_definition_and_path() -> None:
    top = openapiv2.encode(DOC)
    assert _fields(top, 1) == [b"2.0"]
    (definitions,) = _fields(top, 9)
    named = _fields(definitions, 1)
    names = [_fields(n, 1)[0].decode() for n in named]
    assert names == list(DOC["definitions"])
    (paths,) = _fields(top, 8)
    assert [_fields(p, 1)[0].decode() for p in _fields(paths, 2)] == list(DOC["paths"])


def test_protobuf_schema_fields() -> None:
    pod = openapiv2._schema_pb(DOC["definitions"]["io.k8s.api.core.v1.Pod"])
    assert _fields(pod, 4) == [DOC["definitions"]["io.k8s.api.core.v1.Pod"]["description"].encode()]
    assert _fields(_fields(pod, 22)[0], 1) == [b"object"]
    ext = {_fields(e, 1)[0].decode(): json.loads(_fields(_fields(e, 2)[0], 2)[0]) for e in _fields(pod, 31)}
    assert ext == {"x-kubernetes-group-version-kind": [{"group": "", "kind": "Pod", "version": "v1"}]}
    props = {_fields(p, 1)[0].decode(): _fields(p, 2)[0] for p in _fields(_fields(pod, 25)[0], 1)}
    assert set(props) == set(DOC["definitions"]["io.k8s.api.core.v1.Pod"]["properties"])
    assert _fields(props["spec"], 1) == [b"#/definitions/io.k8s.api.core.v1.PodSpec"]


@pytest.mark.parametrize(
    ("value", "encoded"),
    [pytest.param(0, b"\x00", id="zero"), pytest.param(300, b"\xac\x02", id="two-bytes"),
     pytest.param(-1, b"\xff" * 9 + b"\x01", id="negative-int64")],
)
def test_varints(value: int, encoded: bytes) -> None:
    assert openapiv2._varint(value) == encoded
