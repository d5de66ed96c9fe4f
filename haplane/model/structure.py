"""The shape of a kind as patches see it, read from the models: which fields are objects, maps,
lists; how each list merges (strategic merge patch) and how its items are identified (server-side
apply). The one source is the pydantic models' ``json_schema_extra`` (see
``haplane.model.base.merge_list``), the same annotations the OpenAPI document publishes.

Pure and cached; a :class:`Shape` is immutable. A field the models do not know has the shape
:data:`ANY`: maps merge, lists are atomic (as Kubernetes treats fields outside its schema).
"""

from __future__ import annotations

import functools
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

__all__ = ["Shape", "ANY", "SCALAR", "shape_of", "model_shape"]

NodeKind = Literal["struct", "map", "list", "scalar", "any"]


@dataclass(frozen=True, eq=False)
class Shape:
    """One node of a kind's structure.

    ``struct``: named ``fields`` (wire names); ``map``: free keys, each value of shape ``item``;
    ``list``: items of shape ``item``, with ``list_type`` atomic / set / map (``keys`` identify an
    item of a map list; ``merge_key`` is the strategic merge key); ``scalar``; ``any``: unknown.
    ``strategy`` holds the strategic merge patch strategies of the field (merge, retainKeys);
    ``atomic`` marks an object replaced and owned as a whole. ``optional``: the field may be absent
    (a Go pointer or map: server-side apply records its creation). ``key_defaults``: the default of
    each item field that has one (a list key left out takes its default, as Kubernetes' do).
    """

    kind: NodeKind
    fields: Mapping[str, Shape] = field(default_factory=dict)
    item: Shape | None = None
    list_type: Literal["atomic", "set", "map"] = "atomic"
    keys: tuple[str, ...] = ()
    merge_key: str | None = None
    strategy: frozenset[str] = frozenset()
    atomic: bool = False
    optional: bool = True
    key_defaults: Mapping[str, Any] = field(default_factory=dict)

    def child(self, name: str) -> Shape:
        """The shape of the field or map value ``name`` (ANY when unknown)."""
        if self.kind == "struct":
            return self.fields.get(name, ANY)
        if self.kind == "map" and self.item is not None:
            return self.item
        return ANY

    @property
    def items(self) -> Shape:
        return self.item if self.item is not None else ANY

    @property
    def merges(self) -> bool:
        """A list merged item by item (strategic merge patch ``patchStrategy: merge``)."""
        return self.kind == "list" and "merge" in self.strategy

    @property
    def retains_keys(self) -> bool:
        return "retainKeys" in self.strategy


ANY = Shape("any")
SCALAR = Shape("scalar")


def shape_of(model: type[BaseModel]) -> Shape:
    """The structure of a top-level kind (its model class)."""
    return model_shape(model)


@functools.cache
def model_shape(model: type[BaseModel]) -> Shape:
    extra = model.model_config.get("json_schema_extra")
    atomic = isinstance(extra, dict) and extra.get("x-kubernetes-map-type") == "atomic"
    fields: dict[str, Shape] = {}
    defaults: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        wire = info.alias or name
        fields[wire] = _field_shape(info)
        if info.default is not PydanticUndefined and info.default is not None:
            defaults[wire] = info.default
    return Shape("struct", fields=fields, atomic=atomic, key_defaults=defaults)


def _field_shape(info: FieldInfo) -> Shape:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    base = _annotation_shape(info.annotation)
    optional = not info.is_required() and info.default_factory is None
    strategy = frozenset(s for s in str(extra.get("x-kubernetes-patch-strategy", "")).split(",") if s)
    if base.kind == "list":
        list_type = extra.get("x-kubernetes-list-type", "atomic")
        keys = tuple(extra.get("x-kubernetes-list-map-keys") or ())
        merge_key = extra.get("x-kubernetes-patch-merge-key")
        return Shape("list", item=base.item, list_type=list_type, keys=keys, merge_key=merge_key,
                     strategy=strategy, optional=optional)
    return Shape(base.kind, fields=base.fields, item=base.item, strategy=strategy, atomic=base.atomic,
                 optional=optional, key_defaults=base.key_defaults)


def _annotation_shape(annotation: Any) -> Shape:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return model_shape(annotation)
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _annotation_shape(args[0])
    if origin is list:
        return Shape("list", item=_annotation_shape(args[0]) if args else ANY)
    if origin is dict:
        return Shape("map", item=_annotation_shape(args[1]) if len(args) == 2 else ANY)
    if origin is Union or origin is types.UnionType:
        shapes = [_annotation_shape(a) for a in args if a is not type(None)]
        structured = [s for s in shapes if s.kind != "scalar"]
        if not structured:
            return SCALAR
        return structured[0] if len(structured) == 1 else ANY
    if annotation is Any:
        return ANY
    return SCALAR
