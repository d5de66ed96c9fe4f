"""haplane.api.protobuf: the Kubernetes protobuf request bodies kubectl's typed clients send
(reviews, evictions), decoded into the JSON objects the handlers take; bad bytes are 4xx.

The bodies are built here with a minimal encoder of the wire format, field numbers as in
Kubernetes' generated.proto (the decoder's own table is not used to build them)."""

from __future__ import annotations

import pytest

from haplane.api.protobuf import MAGIC, decode, fields
from haplane.errors import BadRequest, UnsupportedMediaType


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def ld(number: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return varint(number << 3 | 2) + varint(len(data)) + data


def vi(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    return MAGIC + ld(1, ld(1, api_version) + ld(2, kind)) + ld(2, raw)


def test_self_subject_access_review() -> None:
    attrs = ld(1, "shop") + ld(2, "create") + ld(3, "") + ld(4, "v1") + ld(5, "pods") + ld(6, "eviction") + ld(7, "p")
    body = envelope("authorization.k8s.io/v1", "SelfSubjectAccessReview", ld(1, b"") + ld(2, ld(1, attrs)))
    assert decode(body) == {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "metadata": {},
        "spec": {"resourceAttributes": {"namespace": "shop", "verb": "create", "version": "v1",  # "" left out
                                        "resource": "pods", "subresource": "eviction", "name": "p"}}}


def test_non_resource_review_and_whoami() -> None:
    body = envelope("authorization.k8s.io/v1", "SelfSubjectAccessReview", ld(2, ld(2, ld(1, "/version") + ld(2, "get"))))
    assert decode(body)["spec"] == {"nonResourceAttributes": {"path": "/version", "verb": "get"}}
    assert decode(envelope("authentication.k8s.io/v1", "SelfSubjectReview", ld(1, b""))) == {
        "apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview", "metadata": {}}


def test_eviction_with_delete_options() -> None:
    meta = ld(1, "web-1") + ld(3, "shop") + ld(99, "ignored")
    options = vi(1, 30) + ld(2, ld(1, "uid-1") + ld(2, "42")) + vi(3, 0) + ld(4, "Foreground") + ld(5, "All")
    body = envelope("policy/v1", "Eviction", ld(1, meta) + ld(2, options))
    assert decode(body) == {
        "apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "web-1", "namespace": "shop"},
        "deleteOptions": {"gracePeriodSeconds": 30, "preconditions": {"uid": "uid-1", "resourceVersion": "42"},
                          "orphanDependents": False, "propagationPolicy": "Foreground", "dryRun": ["All"]}}


def test_zero_values_left_out_unless_pointers() -> None:
    """Go's JSON omits a non-pointer zero (protobuf sends it); a pointer keeps it (replicas: 0)."""
    spec = vi(1, 0) + vi(5, 0) + vi(7, 0)  # replicas (pointer), minReadySeconds, paused
    body = envelope("apps/v1", "Deployment", ld(1, ld(1, "d") + ld(2, "")) + ld(2, spec))
    assert decode(body) == {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                            "spec": {"replicas": 0}}


def test_maps_quantities_int_or_string() -> None:
    container = ld(1, "c") + ld(8, ld(1, ld(1, "cpu") + ld(2, ld(1, "500m"))))
    strategy = ld(2, ld(1, vi(1, 0) + vi(2, 0)) + ld(2, vi(1, 1) + ld(3, "25%")))
    spec = ld(2, ld(1, ld(1, "app") + ld(2, "x"))) + ld(3, ld(2, ld(2, container))) + ld(4, ld(1, "RollingUpdate")
                                                                                        + strategy)
    body = envelope("apps/v1", "Deployment", ld(1, ld(11, ld(1, "app") + ld(2, "x"))) + ld(2, spec))
    assert decode(body)["spec"] == {
        "selector": {"matchLabels": {"app": "x"}},
        "template": {"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "500m"}}}]}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}}}


def test_negative_int64() -> None:
    body = envelope("policy/v1", "Eviction", ld(2, vi(1, -1)))
    assert decode(body)["deleteOptions"] == {"gracePeriodSeconds": -1}


def test_fixed_width_fields_are_skipped() -> None:
    data = varint(9 << 3 | 1) + b"\x00" * 8 + varint(10 << 3 | 5) + b"\x00" * 4 + ld(1, "x")
    assert fields(data) == [(1, b"x")]


@pytest.mark.parametrize(("body", "error"), [
    pytest.param(b'{"kind": "Eviction"}', BadRequest, id="no-magic"),
    pytest.param(MAGIC + b"\x0a\xff", BadRequest, id="truncated-length"),
    pytest.param(MAGIC + b"\x0a", BadRequest, id="truncated-varint"),
    pytest.param(MAGIC + b"\x0b", BadRequest, id="wire-type-3"),
    pytest.param(MAGIC + b"\x00\x00", BadRequest, id="field-zero"),
    pytest.param(envelope("v1", "Pod", b""), UnsupportedMediaType, id="kind-not-read-as-protobuf"),
    pytest.param(MAGIC + ld(2, b""), UnsupportedMediaType, id="no-type-meta"),
    pytest.param(envelope("policy/v1", "Eviction", ld(1, ld(1, b"\xff\xfe"))), BadRequest, id="bad-utf8"),
    pytest.param(envelope("policy/v1", "Eviction", ld(1, ld(1, "a\x00b"))), BadRequest, id="nul"),
    pytest.param(envelope("policy/v1", "Eviction", vi(1, 5)), BadRequest, id="varint-for-a-message"),
    pytest.param(envelope("policy/v1", "Eviction", ld(2, ld(1, b"x"))), BadRequest, id="bytes-for-an-int"),
    pytest.param(MAGIC + ld(1, ld(1, "policy/v1") + ld(2, "Eviction")) + ld(2, b"") + ld(3, "gzip"),
                 UnsupportedMediaType, id="content-encoding"),
])
def test_bad_bodies_are_4xx(body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode(body)
