"""Pure transformations of objects on their way into the store: metadata stamping, patches, Scale.

Nothing here does I/O or reads a clock: the caller passes ``now`` and ``uid``.
"""

from __future__ import annotations

import copy
from typing import Any

from haplane.errors import BadRequest, Invalid


def stamp_new(body: dict, *, kind: str, namespaced: bool, ns: str | None, now: str, uid: str,
              suffix: str) -> dict:
    """The object to create: namespace from the path, generated name, uid and creation time."""
    obj = copy.deepcopy(body)
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    if not isinstance(meta, dict):
        raise Invalid(f"{kind}: metadata: must be an object")
    if namespaced:
        if meta.get("namespace") not in (None, "", ns):
            raise BadRequest("the namespace of the provided object does not match the namespace sent on the "
                             f"request ({meta.get('namespace')!r} != {ns!r})")
        meta["namespace"] = ns
    else:
        meta.pop("namespace", None)
    if not meta.get("name"):
        gen = meta.get("generateName")
        if not isinstance(gen, str) or not gen:
            raise Invalid(f"{kind}: metadata.name: Required value: name or generateName is required")
        meta["name"] = gen + suffix
    if meta.get("resourceVersion"):
        raise Invalid(f"{kind} \"{meta['name']}\": metadata.resourceVersion: must be empty on create")
    for key in ("uid", "generation", "deletionTimestamp"):
        meta.pop(key, None)
    meta["uid"] = uid
    meta["creationTimestamp"] = now
    return obj


def check_identity(body: dict, *, kind: str, name: str, namespaced: bool, ns: str | None) -> dict:
    """An update's body must name the object of the path; returns the body with namespace set."""
    obj = copy.deepcopy(body)
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise Invalid(f"{kind}: metadata: must be an object")
    if meta.get("name") not in (None, name):
        raise BadRequest(f"the name of the object ({meta.get('name')!r}) does not match the name on the URL "
                         f"({name!r})")
    meta["name"] = name
    if namespaced:
        if meta.get("namespace") not in (None, "", ns):
            raise BadRequest("the namespace of the provided object does not match the namespace sent on the "
                             "request")
        meta["namespace"] = ns
    else:
        meta.pop("namespace", None)
    return obj


# ------------------------------------------------------------------ patches
def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902 JSON patch; raises BadRequest for a malformed patch, Invalid when an op cannot apply."""
    if not isinstance(ops, list):
        raise BadRequest("a JSON patch is a list of operations")
    doc = copy.deepcopy(target)
    for i, op in enumerate(ops):
        if not isinstance(op, dict) or not isinstance(op.get("op"), str) or not isinstance(op.get("path"), str):
            raise BadRequest(f"JSON patch operation {i}: needs string 'op' and 'path'")
        kind, path = op["op"], _pointer(op["path"])
        if kind in ("add", "replace", "test") and "value" not in op:
            raise BadRequest(f"JSON patch operation {i}: '{kind}' needs a value")
        if kind == "add":
            doc = _put(doc, path, copy.deepcopy(op["value"]), insert=True)
        elif kind == "remove":
            doc, _ = _take(doc, path)
        elif kind == "replace":
            doc, _ = _take(doc, path)
            doc = _put(doc, path, copy.deepcopy(op["value"]), insert=True)
        elif kind in ("move", "copy"):
            if not isinstance(op.get("from"), str):
                raise BadRequest(f"JSON patch operation {i}: '{kind}' needs 'from'")
            src = _pointer(op["from"])
            value = _get(doc, src)
            if kind == "move":
                doc, value = _take(doc, src)
            doc = _put(doc, path, copy.deepcopy(value), insert=True)
        elif kind == "test":
            if _get(doc, path) != op["value"]:
                raise Invalid(f"JSON patch operation {i}: test failed at {op['path']}")
        else:
            raise BadRequest(f"JSON patch operation {i}: unknown op {kind!r}")
    return doc


def _pointer(text: str) -> list[str]:
    if text == "":
        return []
    if not text.startswith("/"):
        raise BadRequest(f"invalid JSON pointer {text!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in text[1:].split("/")]


def _index(container: list, token: str, *, for_insert: bool) -> int:
    if token == "-" and for_insert:
        return len(container)
    if not token.isdigit():
        raise Invalid(f"JSON patch: {token!r} is not an array index")
    idx = int(token)
    if idx > len(container) or (idx == len(container) and not for_insert):
        raise Invalid(f"JSON patch: index {idx} out of range")
    return idx


def _get(doc: Any, path: list[str]) -> Any:
    for token in path:
        if isinstance(doc, dict) and token in doc:
            doc = doc[token]
        elif isinstance(doc, list):
            doc = doc[_index(doc, token, for_insert=False)]
        else:
            raise Invalid(f"JSON patch: path /{'/'.join(path)} does not exist")
    return doc


def _put(doc: Any, path: list[str], value: Any, *, insert: bool) -> Any:
    if not path:
        return value
    parent = _get(doc, path[:-1])
    last = path[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, for_insert=True), value)
    else:
        raise Invalid(f"JSON patch: cannot add below a scalar at /{'/'.join(path[:-1])}")
    return doc


def _take(doc: Any, path: list[str]) -> tuple[Any, Any]:
    if not path:
        return None, doc
    parent = _get(doc, path[:-1])
    last = path[-1]
    if isinstance(parent, dict) and last in parent:
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, for_insert=False))
    raise Invalid(f"JSON patch: path /{'/'.join(path)} does not exist")


# -------------------------------------------------------------------- scale
def scale_of(obj: dict) -> dict:
    """The autoscaling/v1 Scale view of a Deployment."""
    meta = obj["metadata"]
    status = obj.get("status") or {}
    selector = (obj.get("spec") or {}).get("selector") or {}
    labels = ",".join(f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items()))
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if k in meta},
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 1)},
        "status": {"replicas": status.get("replicas", 0), "selector": labels},
    }


def replicas_from_scale(body: Any) -> int:
    if not isinstance(body, dict) or not isinstance(body.get("spec"), dict):
        raise Invalid("Scale: spec: Required value")
    replicas = body["spec"].get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise Invalid("Scale: spec.replicas: must be a non-negative integer")
    return replicas
