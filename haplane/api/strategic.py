"""Strategic merge patch (``application/strategic-merge-patch+json``), with the semantics of
Kubernetes' ``k8s.io/apimachinery/pkg/util/strategicpatch`` as the API server applies it.

Objects merge key by key and ``null`` deletes a key, as in a JSON merge patch; lists follow
their field's patch strategy (read from the models, :mod:`haplane.model.structure`): a list
with ``patchStrategy: merge`` merges its items by the merge key (containers by name, ports by
containerPort, ...) or, for scalars, as a set; every other list is replaced. Directives:

* ``"$patch": "replace"`` in an object replaces it; ``"$patch": "delete"`` deletes it; in a list
  of a merging field, ``{"$patch": "replace"}`` replaces the whole list and ``{"name": "x",
  "$patch": "delete"}`` deletes the item with that key.
* ``"$retainKeys": [...]`` clears every key of the original object not listed.
* ``"$setElementOrder/<list>": [...]`` orders the merged list (items named by their merge key).
* ``"$deleteFromPrimitiveList/<list>": [...]`` removes those values from a list of scalars.

Items the patch names come in the patch's order; items only the original has keep their
relative order and are placed among them by their original positions (Kubernetes'
"preserve order" rules). Pure: the inputs are not modified. Malformed patches raise BadRequest.
"""

from __future__ import annotations

import copy
from typing import Any

from haplane.errors import BadRequest
from haplane.model.base import short_json
from haplane.model.structure import Shape

__all__ = ["strategic_merge_patch"]

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ORDER = "$setElementOrder/"
DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"
_MISSING = object()


def strategic_merge_patch(original: Any, patch: Any, shape: Shape) -> dict[str, Any]:
    """``original`` with ``patch`` applied; ``shape`` is the structure of the object's kind."""
    if not isinstance(patch, dict):
        raise BadRequest("a strategic merge patch must be a JSON object")
    base = copy.deepcopy(original) if isinstance(original, dict) else {}
    return _merge_map(base, copy.deepcopy(patch), shape)


def _merge_map(original: dict[str, Any], patch: dict[str, Any], shape: Shape) -> dict[str, Any]:
    if DIRECTIVE in patch:
        directive = patch.pop(DIRECTIVE)
        if directive == "replace":
            return _merge_map({}, patch, shape)
        if directive == "delete":
            return {}
        raise BadRequest(f"unknown patch type: {short_json(directive)} in map: {short_json(patch)}")
    if RETAIN_KEYS in patch:
        _retain_keys(original, patch, patch.pop(RETAIN_KEYS))
    for key in [k for k in patch if k.startswith(SET_ORDER)]:
        _set_element_order(original, patch, key[len(SET_ORDER):], patch.pop(key), shape)
    for key, value in patch.items():
        if key.startswith(DELETE_PRIMITIVE):
            _delete_from_primitive_list(original, key[len(DELETE_PRIMITIVE):], value)
            continue
        if key.startswith("$"):
            raise BadRequest(f"unknown strategic merge patch directive {short_json(key)}")
        child = shape.child(key)
        if value is None:
            original.pop(key, None)
            continue
        current = original.get(key, _MISSING)
        if isinstance(current, dict) and isinstance(value, dict):
            original[key] = _fresh(value, child) if "replace" in child.strategy else \
                _merge_map(current, value, child)
        elif isinstance(current, list) and isinstance(value, list) and child.merges:
            original[key] = _merge_list(current, value, child)
        else:
            original[key] = _fresh(value, child)
    return original


def _fresh(value: Any, shape: Shape) -> Any:
    """A patch value with nothing to merge into: its directives applied and its nulls dropped."""
    if isinstance(value, dict):
        return _merge_map({}, value, shape)
    if isinstance(value, list):
        if shape.merges:
            return _merge_list([], value, shape)
        return [_fresh(item, shape.items) for item in value]
    return value


def _retain_keys(original: dict[str, Any], patch: dict[str, Any], keep: Any) -> None:
    if not isinstance(keep, list):
        raise BadRequest("invalid patch: $retainKeys must be a list")
    for key, value in patch.items():
        if value is not None and not key.startswith(("$", SET_ORDER)) and key not in keep:
            raise BadRequest(f"invalid patch: {short_json(key)} is not listed in $retainKeys {short_json(keep)}")
    for key in [k for k in original if k not in keep]:
        del original[key]


def _delete_from_primitive_list(original: dict[str, Any], name: str, values: Any) -> None:
    if not isinstance(values, list) or any(isinstance(v, (dict, list)) for v in values):
        raise BadRequest(f"invalid patch: {DELETE_PRIMITIVE}{name} must be a list of scalars")
    current = original.get(name)
    if isinstance(current, list):
        original[name] = [v for v in current if not _contains(values, v)]


def _set_element_order(original: dict[str, Any], patch: dict[str, Any], name: str, order: Any,
                       shape: Shape) -> None:
    if not isinstance(order, list):
        raise BadRequest(f"invalid patch: {SET_ORDER}{name} must be a list")
    child = shape.child(name)
    current, change = original.get(name, _MISSING), patch.pop(name, _MISSING)
    if current is _MISSING and change is _MISSING:
        return
    for value, what in ((current, "the original"), (change, "the patch")):
        if value is not _MISSING and not isinstance(value, list):
            raise BadRequest(f"invalid patch: {SET_ORDER}{name} orders a field that is not a list in {what}")
    if change is _MISSING:
        merged = current
    elif current is _MISSING:
        merged = _merge_list([], change, child) if child.merges else _fresh(change, child)
    else:
        merged = _merge_list(current, change, child) if child.merges else _fresh(change, child)
    key = child.merge_key if any(isinstance(v, dict) for v in merged) else None
    named, server_only = _partition(merged, order, key)
    original[name] = _normalize(named, server_only, order, [] if current is _MISSING else current, key)


def _merge_list(original: list[Any], patch: list[Any], shape: Shape) -> list[Any]:
    if not original and not patch:
        return list(original)
    maps = _element_kind(original, patch)
    if not maps:
        merged = _dedup(original + patch)
        named, server_only = _partition(merged, patch, None)
        return _normalize(named, server_only, patch, original, None)
    key = shape.merge_key
    if not key:
        raise BadRequest("cannot merge lists without a merge key")
    original, patch, replace = _special_elements(original, patch, key)
    if replace:
        return [_fresh(item, shape.items) for item in patch]
    merged = list(original)
    for item in patch:
        if key not in item:
            raise BadRequest(f"map: {short_json(item)} does not contain declared merge key: {key}")
        at = _index(merged, item, key)
        if at >= 0:
            merged[at] = _merge_map(merged[at], item, shape.items)
        else:
            merged.append(_fresh(item, shape.items))
    named, server_only = _partition(merged, patch, key)
    return _normalize(named, server_only, patch, original, key)


def _element_kind(*lists: list[Any]) -> bool:
    """True when the items are objects, False when scalars; BadRequest when mixed or nested lists."""
    kinds = {isinstance(v, dict) for items in lists for v in items}
    if any(isinstance(v, list) for items in lists for v in items):
        raise BadRequest("strategic merge patch does not support lists of lists")
    if len(kinds) > 1:
        raise BadRequest("list element types are not identical")
    return kinds == {True}


def _special_elements(original: list[Any], patch: list[Any], key: str) -> tuple[list[Any], list[Any], bool]:
    """Apply the delete directives of a merging list's patch: (original left, patch without
    directives, whether a ``{"$patch": "replace"}`` replaces the whole list)."""
    plain: list[Any] = []
    replace = False
    for item in patch:
        if DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[DIRECTIVE]
        if directive == "delete":
            if key not in item:
                raise BadRequest(f"map: {short_json(item)} does not contain declared merge key: {key}")
            original = [o for o in original if not (isinstance(o, dict) and _same(o.get(key, _MISSING), item[key]))]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise BadRequest("merging lists cannot yet be specified in the patch")
        else:
            raise BadRequest(f"unknown patch type: {short_json(directive)} in map: {short_json(item)}")
    return original, plain, replace


def _same(a: Any, b: Any) -> bool:
    """Equality of JSON values as Go compares them (so 1 and true differ)."""
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


def _contains(items: list[Any], value: Any) -> bool:
    return any(_same(v, value) for v in items)


def _dedup(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in items:
        if not _contains(out, v):
            out.append(v)
    return out


def _index(items: list[Any], item: Any, key: str | None) -> int:
    for i, v in enumerate(items):
        if key is None:
            if _same(v, item):
                return i
        elif isinstance(v, dict) and isinstance(item, dict) and key in v and key in item and _same(v[key], item[key]):
            return i
    return -1


def _partition(items: list[Any], by: list[Any], key: str | None) -> tuple[list[Any], list[Any]]:
    """(items named in ``by``, the others), each in the order of ``items``."""
    named, others = [], []
    for item in items:
        if key is not None and not (isinstance(item, dict) and key in item):
            raise BadRequest(f"map: {short_json(item)} does not contain declared merge key: {key}")
        (named if _index(by, item, key) >= 0 else others).append(item)
    return named, others


def _normalize(named: list[Any], server_only: list[Any], patch_order: list[Any], server_order: list[Any],
               key: str | None) -> list[Any]:
    """Named items sorted by ``patch_order``, server-only ones by ``server_order``, then interleaved:
    a server-only item goes before the first named item that follows it in ``server_order``."""
    named = sorted(named, key=lambda v: _index(patch_order, v, key))
    server_only = sorted(server_only, key=lambda v: _index(server_order, v, key))
    out: list[Any] = []
    i = j = 0
    while i < len(server_only) or j < len(named):
        if j >= len(named):
            out.append(server_only[i])
            i += 1
        elif i >= len(server_only):
            out.append(named[j])
            j += 1
        else:
            li, ri = _index(server_order, server_only[i], key), _index(server_order, named[j], key)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(server_only[i])
                i += 1
            else:
                out.append(named[j])
                j += 1
    return out
