"""Field ownership (``metadata.managedFields``) and server-side apply, after Kubernetes'
structured-merge-diff: which manager set which field, the merge of an applied configuration,
conflicts, and the removal of fields an applier stopped setting.

Fields are *paths*: tuples of Kubernetes' path elements, ``f:<field>`` (a field or map key),
``k:{"name":"web"}`` (an item of a list keyed by ``x-kubernetes-list-map-keys``), ``v:"x"`` (a value
of a set) and ``i:3`` (a position, when an item has no key). A manager's set is stored as
``fieldsV1``: the paths as nested objects, ``{}`` for a leaf and ``".": {}`` for a path that is itself
owned and has owned children.

Pure and deterministic: the caller (the API handler) chooses the manager names and the time, so
every replica stores the same managedFields. Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from haplane.errors import BadRequest, Conflict
from haplane.model.structure import Shape

__all__ = ["Path", "field_set", "encode", "decode", "path_string", "track_update", "server_side_apply",
           "manager_from_user_agent", "strip_managed"]

Path = tuple[str, ...]
MAX_MANAGER = 128
# Never owned: identity and server-set metadata (Kubernetes' stripMeta), and status on main-resource writes.
_IGNORED_TOP = frozenset({"apiVersion", "kind", "status"})
_IGNORED_META = frozenset({"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                           "managedFields", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"})
_MISSING = object()


@dataclass(frozen=True)
class _Node:
    leaf: bool         # a value owned as a whole (scalar, atomic list/object, map entry, set value)
    member: bool       # the path itself can be owned (a list item, a map entry, an optional object)
    value: Any = None  # the value, for leaves


# ------------------------------------------------------------------------ walking objects
def _owned_part(obj: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in obj.items() if k not in _IGNORED_TOP}
    meta = out.get("metadata")
    if isinstance(meta, dict):
        meta = {k: v for k, v in meta.items() if k not in _IGNORED_META}
        if meta:
            out["metadata"] = meta
        else:
            del out["metadata"]
    return out


def _key_element(item: Any, shape: Shape, index: int) -> str:
    if isinstance(item, dict) and shape.keys:
        key = {}
        for name in shape.keys:
            value = item.get(name, shape.items.key_defaults.get(name, _MISSING))
            if value is _MISSING:
                return f"i:{index}"
            key[name] = value
        return "k:" + orjson.dumps(key, option=orjson.OPT_SORT_KEYS).decode()
    return f"i:{index}"


def _walk(value: Any, shape: Shape, path: Path, out: dict[Path, _Node]) -> None:
    if isinstance(value, dict) and shape.kind in ("struct", "map", "any") and not shape.atomic and value:
        for key, sub in value.items():
            child = shape.child(key)
            here = path + (f"f:{key}",)
            entry = shape.kind != "struct"  # a map key (free-form) is owned itself
            if isinstance(sub, (dict, list)) and sub and not _is_leaf(sub, child):
                out[here] = _Node(False, entry or child.optional)
                _walk(sub, child, here, out)
            else:
                out[here] = _Node(True, True, sub)
        return
    if isinstance(value, list) and shape.kind == "list" and shape.list_type in ("map", "set") and value:
        for i, item in enumerate(value):
            if shape.list_type == "set" and not isinstance(item, (dict, list)):
                out[path + ("v:" + orjson.dumps(item).decode(),)] = _Node(True, True, item)
                continue
            here = path + (_key_element(item, shape, i),)
            if isinstance(item, dict) and item:
                out[here] = _Node(False, True)
                _walk(item, shape.items, here, out)
            else:
                out[here] = _Node(True, True, item)
        return


def _is_leaf(value: Any, shape: Shape) -> bool:
    if isinstance(value, dict):
        return shape.atomic or shape.kind in ("list", "scalar")
    if isinstance(value, list):
        return not (shape.kind == "list" and shape.list_type in ("map", "set"))
    return True


def _nodes(obj: dict[str, Any], shape: Shape) -> dict[Path, _Node]:
    out: dict[Path, _Node] = {}
    _walk(_owned_part(obj), shape, (), out)
    return out


def field_set(obj: dict[str, Any], shape: Shape) -> set[Path]:
    """The fields ``obj`` sets, as an applier owns them: leaves, list items and map entries."""
    return {p for p, n in _nodes(obj, shape).items() if n.leaf or (n.member and _is_item(p))}


def _is_item(path: Path) -> bool:
    return path[-1].startswith(("k:", "i:", "v:"))


# ------------------------------------------------------------------------ fieldsV1
def encode(paths: Iterable[Path]) -> dict[str, Any]:
    """A set of paths as ``fieldsV1``."""
    root: dict[str, Any] = {}
    members = set(paths)
    for path in sorted(members):
        node = root
        for element in path:
            node = node.setdefault(element, {})
    for path in members:
        node = root
        for element in path:
            node = node[element]
        if node and "." not in node:
            node["."] = {}
    return _sorted(root)


def _sorted(node: dict[str, Any]) -> dict[str, Any]:
    return {k: _sorted(node[k]) for k in sorted(node, key=lambda k: (k != ".", k))}


def decode(fields: Any, path: Path = ()) -> set[Path]:
    """The paths of a ``fieldsV1`` object; BadRequest when it is not one."""
    if not isinstance(fields, dict):
        raise BadRequest(f"invalid managedFields: fieldsV1 at {path_string(path) or '.'} must be an object")
    out: set[Path] = set()
    if path and (not fields or "." in fields):
        out.add(path)
    for key, sub in fields.items():
        if key == ".":
            continue
        if not isinstance(key, str) or key[:2] not in ("f:", "k:", "v:", "i:"):
            raise BadRequest(f"invalid managedFields: unknown path element {key!r}")
        out |= decode(sub, path + (key,))
    return out


def path_string(path: Path) -> str:
    """Kubernetes' rendering of a path in conflict messages: ``.spec.containers[name="web"].image``."""
    out = []
    for element in path:
        kind, rest = element[:2], element[2:]
        if kind == "f:":
            out.append("." + rest)
        elif kind == "k:":
            try:
                key = orjson.loads(rest)
                out.append("[" + ",".join(f"{k}={orjson.dumps(v).decode()}" for k, v in key.items()) + "]")
            except orjson.JSONDecodeError:
                out.append(f"[{rest}]")
        elif kind == "v:":
            out.append(f"[={rest}]")
        else:
            out.append(f"[{rest}]")
    return "".join(out)


# ------------------------------------------------------------------------ entries
@dataclass
class _Entry:
    manager: str
    operation: str
    api_version: str
    time: str | None
    paths: set[Path]
    subresource: str = ""

    def same_owner(self, manager: str, operation: str, subresource: str) -> bool:
        return (self.manager, self.operation, self.subresource) == (manager, operation, subresource)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"manager": self.manager, "operation": self.operation, "apiVersion": self.api_version}
        if self.time is not None:
            out["time"] = self.time
        out["fieldsType"] = "FieldsV1"
        out["fieldsV1"] = encode(self.paths)
        if self.subresource:
            out["subresource"] = self.subresource
        return out


def _entries(managed: Any) -> list[_Entry]:
    if not isinstance(managed, list):
        return []
    out = []
    for raw in managed:
        if not isinstance(raw, dict) or raw.get("fieldsType", "FieldsV1") != "FieldsV1":
            raise BadRequest("invalid managedFields: each entry needs fieldsType FieldsV1")
        out.append(_Entry(str(raw.get("manager") or ""), str(raw.get("operation") or "Update"),
                          str(raw.get("apiVersion") or ""), raw.get("time"), decode(raw.get("fieldsV1") or {}),
                          str(raw.get("subresource") or "")))
    return out


def _dump(entries: list[_Entry]) -> list[dict[str, Any]]:
    return [e.to_json() for e in entries if e.paths]


def _base_entries(live: dict[str, Any] | None, new: dict[str, Any]) -> list[_Entry]:
    """The managers to start from: the request's managedFields when it changed them, else the live ones."""
    live_managed = ((live or {}).get("metadata") or {}).get("managedFields")
    new_meta = new.get("metadata") or {}
    if "managedFields" in new_meta and new_meta["managedFields"] != live_managed:
        return _entries(new_meta["managedFields"])
    return _entries(live_managed)


def strip_managed(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` without ``metadata.managedFields`` (for comparing two versions of an object)."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or "managedFields" not in meta:
        return obj
    return dict(obj, metadata={k: v for k, v in meta.items() if k != "managedFields"})


def _with_managed(obj: dict[str, Any], entries: list[_Entry]) -> dict[str, Any]:
    meta = dict(obj.get("metadata") or {})
    dumped = _dump(entries)
    if dumped:
        meta["managedFields"] = dumped
    else:
        meta.pop("managedFields", None)
    return dict(obj, metadata=meta)


# ------------------------------------------------------------------------ updates
def track_update(live: dict[str, Any] | None, new: dict[str, Any], shape: Shape, *, manager: str,
                 api_version: str, now: str, subresource: str = "") -> dict[str, Any]:
    """``new`` with managedFields after an Update (create, replace, patch) by ``manager``.

    The fields the write added or changed become the manager's (its ``Update`` entry); every other
    manager loses them, and everyone loses the fields it removed. A write that changes nothing
    keeps the live managedFields untouched (so it stays a no-op).
    """
    entries = _base_entries(live, new)
    if live is not None and _owned_part(live) == _owned_part(new):
        return _with_managed(new, entries)
    before = _nodes(live, shape) if live is not None else {}
    after = _nodes(new, shape)
    changed = {p for p, n in after.items()
               if (p not in before and (n.leaf or n.member)) or (p in before and n.leaf and
                                                                  (not before[p].leaf or before[p].value != n.value))}
    removed = {p for p in before if p not in after}
    for entry in entries:
        entry.paths -= changed | removed
    mine = next((e for e in entries if e.same_owner(manager, "Update", subresource) and e.api_version == api_version),
                None)
    if mine is None:
        mine = _Entry(manager, "Update", api_version, now, set(), subresource)
        entries.append(mine)
    mine.paths |= changed
    mine.time = now
    return _with_managed(new, entries)


# ------------------------------------------------------------------------ server-side apply
def server_side_apply(live: dict[str, Any] | None, config: dict[str, Any], shape: Shape, *, manager: str,
                      api_version: str, now: str, force: bool) -> dict[str, Any]:
    """The object after ``manager`` applies ``config`` (its whole intent) to ``live`` (None: create).

    Raises Conflict (409, causes of type FieldManagerConflict) when the config changes a field
    another manager owns, unless ``force``, which takes the field over. Fields this manager applied
    before and left out of ``config`` are removed unless another manager owns them too.
    """
    if not isinstance(config, dict):
        raise BadRequest("an apply patch must be an object")
    base = live if live is not None else {}
    entries = _entries((base.get("metadata") or {}).get("managedFields"))
    if live is not None and not entries:
        # An object nobody applied before: its current fields belong to "before-first-apply".
        entries = [_Entry("before-first-apply", "Update", api_version, now, field_set(live, shape))]
    mine = next((e for e in entries if e.same_owner(manager, "Apply", "")), None)
    applied = field_set(config, shape)
    merged = _merge(strip_managed(base), strip_managed(config), shape)
    before = _nodes(base, shape)
    after = _nodes(merged, shape)
    conflicts: list[tuple[Path, _Entry]] = []
    for entry in entries:
        if entry is mine:
            continue
        for path in sorted(applied & entry.paths):
            if _differs(before.get(path), after.get(path)):
                conflicts.append((path, entry))
    if conflicts and not force:
        raise _conflict_error(conflicts)
    for path, entry in conflicts:
        entry.paths.discard(path)
    others = set().union(*(e.paths for e in entries if e is not mine))
    if mine is not None:
        kept = others | applied
        prefixes = {p[:i] for p in kept for i in range(1, len(p))}
        for path in sorted(mine.paths - kept, key=len):  # an item before its fields: found by its key
            if path not in prefixes:  # still holds fields someone owns
                merged = _remove(merged, path, shape, kept)
        entries.remove(mine)
    entries.append(_Entry(manager, "Apply", api_version, now, applied))
    return _with_managed(merged, entries)


def _differs(a: _Node | None, b: _Node | None) -> bool:
    if a is None or b is None:
        return a is not b
    if a.leaf != b.leaf:
        return True
    return a.leaf and a.value != b.value


def _conflict_error(conflicts: list[tuple[Path, _Entry]]) -> Conflict:
    causes = [{"reason": "FieldManagerConflict",
               "message": f'conflict with "{e.manager}"' + (f" using {e.api_version}" if e.api_version else ""),
               "field": path_string(p)} for p, e in conflicts]
    n = len(conflicts)
    by_manager: dict[str, list[str]] = {}
    for cause in causes:
        by_manager.setdefault(cause["message"], []).append(cause["field"])
    if n == 1:
        detail = f"{causes[0]['message']}: {causes[0]['field']}"
    else:
        detail = "\n".join(f"{msg.replace('conflict with', 'conflicts with', 1)}:\n" +
                           "\n".join(f"- {f}" for f in fields) for msg, fields in by_manager.items())
    return Conflict(f"Apply failed with {n} conflict{'s' if n > 1 else ''}: {detail}", details={"causes": causes})


def _merge(live: Any, config: Any, shape: Shape) -> Any:
    if isinstance(config, dict) and isinstance(live, dict) and shape.kind in ("struct", "map", "any") and \
            not shape.atomic:
        out = dict(live)
        for key, value in config.items():
            out[key] = _merge(live.get(key, _MISSING), value, shape.child(key))
        return out
    if isinstance(config, list) and isinstance(live, list) and shape.kind == "list":
        if shape.list_type == "set":
            return list(live) + [v for v in config if v not in live]
        if shape.list_type == "map":
            keyed = {_key_element(item, shape, -1 - i): item for i, item in enumerate(config)}
            out = []
            for i, item in enumerate(live):
                k = _key_element(item, shape, i)
                out.append(_merge(item, keyed.pop(k), shape.items) if k in keyed else item)
            return out + [copy.deepcopy(v) for v in keyed.values()]
    return copy.deepcopy(config)


def _remove(obj: Any, path: Path, shape: Shape, kept: set[Path], at: Path = ()) -> Any:
    """``obj`` without the value at ``path`` (unchanged when there is none); an object or list
    left empty by it goes too, unless its own path is in ``kept``."""
    if not path:
        return obj
    head, rest = path[0], path[1:]
    here = at + (head,)
    if head.startswith("f:") and isinstance(obj, dict):
        name = head[2:]
        if name not in obj:
            return obj
        out = dict(obj)
        sub = _remove(obj[name], rest, shape.child(name), kept, here) if rest else _MISSING
        if sub is _MISSING or (sub in ({}, []) and here not in kept and obj[name] not in ({}, [])):
            del out[name]
        else:
            out[name] = sub
        return out
    if isinstance(obj, list):
        for i, item in enumerate(obj):
            if head == ("v:" + orjson.dumps(item).decode() if head.startswith("v:") else _key_element(item, shape, i)):
                out = list(obj)
                if rest:
                    out[i] = _remove(item, rest, shape.items, kept, here)
                else:
                    del out[i]
                return out
    return obj


def manager_from_user_agent(user_agent: str | None) -> str:
    """Kubernetes' default manager: the User-Agent up to its first "/", at most 128 characters."""
    name = (user_agent or "").split("/", 1)[0].strip()
    return (name or "unknown")[:MAX_MANAGER]
