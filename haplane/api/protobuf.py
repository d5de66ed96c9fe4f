"""Request bodies in Kubernetes' protobuf encoding, for the kinds kubectl sends that way.

kubectl's typed clients send ``Content-Type: application/vnd.kubernetes.protobuf`` (and accept
JSON back): ``auth can-i`` / ``auth whoami`` (the reviews), ``drain`` (evictions) and the
``create`` generators (``create configmap|namespace|deployment|service ...``). A body is the
magic ``k8s\\x00`` and a ``runtime.Unknown`` message (typeMeta, raw bytes); ``raw`` is the
object's own message.

Pure: :func:`decode` turns such a body into the JSON object Kubernetes would have been sent
for it, from the protobuf wire format (varints and length-delimited fields) and the field
tables of :data:`SCHEMAS` (numbers as in Kubernetes' ``generated.proto``). As Go's JSON does
with ``omitempty``, a non-pointer field holding its zero value is left out (protobuf sends
them all); pointer fields (``int?``, ``bool?``: ``replicas``, ``gracePeriodSeconds``) keep a
zero. Fields not in the tables are dropped, as unknown JSON fields are; a kind without a table,
or bytes that do not decode, is a 4xx, never a crash. Responses stay JSON.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from haplane.errors import BadRequest, UnsupportedMediaType

PROTOBUF = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

# A field: (json name, type). Types: "str", "int" (dropped when 0), "int?" (kept), "bool",
# "bool?", "strs" (repeated string), "bytes", "map" (string -> string), "map:b64" (string ->
# bytes, base64 in JSON), "map:Quantity", "Quantity", "IntOrString", "Time", a message name,
# or "[Message]" (repeated message).
Schema = dict[int, tuple[str, str]]
SCHEMAS: dict[str, Schema] = {
    "Unknown": {1: ("typeMeta", "TypeMeta"), 2: ("raw", "bytes"), 3: ("contentEncoding", "str"),
                4: ("contentType", "str")},
    "TypeMeta": {1: ("apiVersion", "str"), 2: ("kind", "str")},
    "ObjectMeta": {1: ("name", "str"), 2: ("generateName", "str"), 3: ("namespace", "str"), 5: ("uid", "str"),
                   6: ("resourceVersion", "str"), 8: ("creationTimestamp", "Time"), 11: ("labels", "map"),
                   12: ("annotations", "map"), 14: ("finalizers", "strs")},
    # authorization.k8s.io / authentication.k8s.io
    "SelfSubjectAccessReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "SelfSubjectAccessReviewSpec")},
    "SelfSubjectAccessReviewSpec": {1: ("resourceAttributes", "ResourceAttributes"),
                                    2: ("nonResourceAttributes", "NonResourceAttributes")},
    "ResourceAttributes": {1: ("namespace", "str"), 2: ("verb", "str"), 3: ("group", "str"), 4: ("version", "str"),
                           5: ("resource", "str"), 6: ("subresource", "str"), 7: ("name", "str")},
    "NonResourceAttributes": {1: ("path", "str"), 2: ("verb", "str")},
    "SelfSubjectRulesReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "SelfSubjectRulesReviewSpec")},
    "SelfSubjectRulesReviewSpec": {1: ("namespace", "str")},
    "SelfSubjectReview": {1: ("metadata", "ObjectMeta")},
    # policy/v1
    "Eviction": {1: ("metadata", "ObjectMeta"), 2: ("deleteOptions", "DeleteOptions")},
    "DeleteOptions": {1: ("gracePeriodSeconds", "int?"), 2: ("preconditions", "Preconditions"),
                      3: ("orphanDependents", "bool?"), 4: ("propagationPolicy", "str"), 5: ("dryRun", "strs")},
    "Preconditions": {1: ("uid", "str"), 2: ("resourceVersion", "str")},
    # v1: what `kubectl create configmap|namespace|service` sends
    "ConfigMap": {1: ("metadata", "ObjectMeta"), 2: ("data", "map"), 3: ("binaryData", "map:b64"),
                  4: ("immutable", "bool?")},
    "Namespace": {1: ("metadata", "ObjectMeta"), 2: ("spec", "NamespaceSpec")},
    "NamespaceSpec": {1: ("finalizers", "strs")},
    "Service": {1: ("metadata", "ObjectMeta"), 2: ("spec", "ServiceSpec")},
    "ServiceSpec": {1: ("ports", "[ServicePort]"), 2: ("selector", "map"), 3: ("clusterIP", "str"), 4: ("type", "str"),
                    5: ("externalIPs", "strs"), 7: ("sessionAffinity", "str"), 10: ("externalName", "str"),
                    11: ("externalTrafficPolicy", "str")},
    "ServicePort": {1: ("name", "str"), 2: ("protocol", "str"), 3: ("port", "int"), 4: ("targetPort", "IntOrString"),
                    5: ("nodePort", "int"), 6: ("appProtocol", "str")},
    # apps/v1: what `kubectl create deployment` sends
    "Deployment": {1: ("metadata", "ObjectMeta"), 2: ("spec", "DeploymentSpec")},
    "DeploymentSpec": {1: ("replicas", "int?"), 2: ("selector", "LabelSelector"), 3: ("template", "PodTemplateSpec"),
                       4: ("strategy", "DeploymentStrategy"), 5: ("minReadySeconds", "int"),
                       6: ("revisionHistoryLimit", "int?"), 7: ("paused", "bool"),
                       9: ("progressDeadlineSeconds", "int?")},
    "DeploymentStrategy": {1: ("type", "str"), 2: ("rollingUpdate", "RollingUpdateDeployment")},
    "RollingUpdateDeployment": {1: ("maxUnavailable", "IntOrString"), 2: ("maxSurge", "IntOrString")},
    "LabelSelector": {1: ("matchLabels", "map"), 2: ("matchExpressions", "[LabelSelectorRequirement]")},
    "LabelSelectorRequirement": {1: ("key", "str"), 2: ("operator", "str"), 3: ("values", "strs")},
    "PodTemplateSpec": {1: ("metadata", "ObjectMeta"), 2: ("spec", "PodSpec")},
    "PodSpec": {2: ("containers", "[Container]"), 3: ("restartPolicy", "str"),
                4: ("terminationGracePeriodSeconds", "int?"), 5: ("activeDeadlineSeconds", "int?"),
                6: ("dnsPolicy", "str"), 7: ("nodeSelector", "map"), 8: ("serviceAccountName", "str"),
                10: ("nodeName", "str"), 11: ("hostNetwork", "bool"), 16: ("hostname", "str"),
                17: ("subdomain", "str"), 19: ("schedulerName", "str"), 20: ("initContainers", "[Container]"),
                24: ("priorityClassName", "str")},
    "Container": {1: ("name", "str"), 2: ("image", "str"), 3: ("command", "strs"), 4: ("args", "strs"),
                  5: ("workingDir", "str"), 6: ("ports", "[ContainerPort]"), 7: ("env", "[EnvVar]"),
                  8: ("resources", "ResourceRequirements"), 13: ("terminationMessagePath", "str"),
                  14: ("imagePullPolicy", "str"), 16: ("stdin", "bool"), 17: ("stdinOnce", "bool"), 18: ("tty", "bool"),
                  20: ("terminationMessagePolicy", "str")},
    "ContainerPort": {1: ("name", "str"), 2: ("hostPort", "int"), 3: ("containerPort", "int"), 4: ("protocol", "str"),
                      5: ("hostIP", "str")},
    "EnvVar": {1: ("name", "str"), 2: ("value", "str")},
    "ResourceRequirements": {1: ("limits", "map:Quantity"), 2: ("requests", "map:Quantity")},
    "Quantity": {1: ("string", "str")},
    "IntOrString": {1: ("type", "int"), 2: ("intVal", "int"), 3: ("strVal", "str")},
    "Time": {1: ("seconds", "int"), 2: ("nanos", "int")},
    "MapEntry": {1: ("key", "str"), 2: ("value", "bytes")},
}
# The kinds a request body may hold: each one's top-level table above.
KINDS = frozenset({"SelfSubjectAccessReview", "SelfSubjectRulesReview", "SelfSubjectReview", "Eviction",
                   "ConfigMap", "Namespace", "Service", "Deployment"})
_MAX_DEPTH = 12
_ZERO: dict[str, Any] = {"str": "", "int": 0, "bool": False}


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


def _text(value: bytes) -> str:
    text = value.decode("utf-8")
    if "\x00" in text:
        raise ValueError("NUL byte in a string")
    return text


def _scalar(name: str, typ: str, value: int | bytes) -> Any:
    if typ in ("int", "int?", "bool", "bool?"):
        if not isinstance(value, int):
            raise ValueError(f"{name}: expected a varint")
        if typ.startswith("bool"):
            return bool(value)
        return value - (1 << 64) if value >= 1 << 63 else value
    if not isinstance(value, bytes):
        raise ValueError(f"{name}: expected a length-delimited field")
    return value if typ == "bytes" else _text(value)


def _special(typ: str, data: bytes, depth: int) -> Any:
    """The JSON of the messages Kubernetes writes as scalars (None: leave the field out)."""
    msg = decode_message(data, typ, depth + 1, keep_zero=True)
    if typ == "Quantity":
        return msg.get("string", "")
    if typ == "IntOrString":
        return msg.get("strVal", "") if msg.get("type") == 1 else msg.get("intVal", 0)
    seconds = msg.get("seconds", 0)  # Time: unset (0) is JSON null
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if seconds else None


def _map_entry(value: int | bytes, typ: str, depth: int) -> tuple[str, Any]:
    if not isinstance(value, bytes):
        raise ValueError("map entry: expected a length-delimited field")
    entry = decode_message(value, "MapEntry", depth + 1, keep_zero=True)
    raw = entry.get("value", b"")
    if typ == "map:b64":
        return entry.get("key", ""), base64.b64encode(raw).decode()
    if typ == "map:Quantity":
        return entry.get("key", ""), _special("Quantity", raw, depth)
    return entry.get("key", ""), _text(raw)


def decode_message(data: bytes, schema_name: str, depth: int = 0, *, keep_zero: bool = False) -> dict[str, Any]:
    """A message as Kubernetes' JSON for it (zero values of non-pointer fields left out)."""
    if depth > _MAX_DEPTH:
        raise ValueError("nested too deep")
    schema = SCHEMAS[schema_name]
    out: dict[str, Any] = {}
    for number, value in fields(data):
        if number not in schema:
            continue
        name, typ = schema[number]
        if typ.startswith("map"):
            key, item = _map_entry(value, typ, depth)
            out.setdefault(name, {})[key] = item
        elif typ == "strs":
            out.setdefault(name, []).append(_scalar(name, "str", value))
        elif typ in ("str", "int", "int?", "bool", "bool?", "bytes"):
            item = _scalar(name, typ, value)
            if keep_zero or _ZERO.get(typ, object()) != item:
                out[name] = item
            else:
                out.pop(name, None)
        else:
            if not isinstance(value, bytes):
                raise ValueError(f"{name}: expected a message")
            if typ in ("Quantity", "IntOrString", "Time"):
                special = _special(typ, value, depth)
                if special is not None:
                    out[name] = special
            elif typ.startswith("["):
                out.setdefault(name, []).append(decode_message(value, typ[1:-1], depth + 1))
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
    return {"kind": kind, "apiVersion": type_meta.get("apiVersion", ""), **obj}
