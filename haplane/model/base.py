"""The shared base of every model: config, field-error plumbing, common scalar types.

Models validate and default incoming JSON; the store keeps the dicts they dump. They are
strict (no "3" for an int, no 1 for a bool), drop unknown fields (the registry reports
them as warnings) and use the Kubernetes camelCase names on the wire.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

from haplane.model.names import PORT_NAME_PATTERN, check_port_name, check_qualified_name
from haplane.model.quantity import QUANTITY_PATTERN, format_quantity, parse_quantity

__all__ = [
    "KubeModel", "FieldError", "check_json", "check_unique", "describe_errors", "unknown_fields",
    "Int32", "Int64", "PositiveInt32", "PortNumber", "HostPort", "PortName", "IntOrName", "IntOrPercent",
    "Quantity", "ResourceList", "Protocol", "is_zero", "merge_list", "merge_set", "retain_keys", "ATOMIC_STRUCT",
]

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
MAX_DEPTH = 64  # nesting deeper than this is refused before any recursive code sees it

# C0 controls except tab, LF and CR (multi-line ConfigMap values are normal), DEL, C1 controls,
# and lone surrogates (JSON "\ud800" decodes to one; it cannot be encoded as UTF-8 later).
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


class KubeModel(BaseModel):
    """Base of all haplane models: camelCase aliases, strict scalars, unknown fields ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        strict=True,
        allow_inf_nan=False,
    )


class FieldError(ValueError):
    """A validation failure at ``path`` *relative to the model that raises it*.

    Raise it from validators to point below the model (``"containers[1].name"``); the
    registry appends it to pydantic's location. ``reason`` is a Kubernetes cause type.
    """

    def __init__(self, path: str, message: str, reason: str = "FieldValueInvalid") -> None:
        super().__init__(message)
        self.path, self.message, self.reason = path, message, reason


def check_unique(field: str, items: list[tuple[int, object]], sub: str) -> None:
    """Raise a FieldValueDuplicate at ``field[i].sub`` for the first repeated value of ``(i, value)``."""
    seen: set[object] = set()
    for i, value in items:
        if value in seen:
            raise FieldError(f"{field}[{i}].{sub}", f"Duplicate value: {short_json(value)}", "FieldValueDuplicate")
        seen.add(value)


def join_path(base: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{base}[{part}]"
    if part.startswith("["):
        return base + part
    return f"{base}.{part}" if base else part


def check_json(value: Any) -> None:
    """Refuse anything that is not plain, storable JSON, anywhere in ``value``.

    Strings must hold no control characters (tab, LF, CR allowed) and no lone surrogates,
    floats must be finite, ints must fit in int64 (msgpack), keys must be strings, and
    nesting is bounded by ``MAX_DEPTH``. Iterative, so any input is safe. Raises FieldError.
    """
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise FieldError(path, f"must not be nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, str):
            _check_text(item, path)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not -(2**63) <= item <= INT64_MAX:
                raise FieldError(path, "integer out of range (must fit in 64 bits)")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise FieldError(path, "must be a finite number")
        elif isinstance(item, dict):
            for key, sub in item.items():
                if not isinstance(key, str):
                    raise FieldError(path, "object keys must be strings")
                _check_text(key, path)
                stack.append((sub, join_path(path, key), depth + 1))
        elif isinstance(item, list):
            stack.extend((sub, join_path(path, i), depth + 1) for i, sub in enumerate(item))
        else:
            raise FieldError(path, f"unsupported value of type {type(item).__name__}")


def _check_text(text: str, path: str) -> None:
    bad = _BAD_CHARS.search(text)
    if bad:
        raise FieldError(path, f"must not contain control characters (found {bad.group()!r})")


# --- patch metadata ----------------------------------------------------------------------
# How patches treat a field, as Kubernetes' Go struct tags say it (patchStrategy, patchMergeKey,
# +listType, +listMapKey, +structType). Put on the pydantic field as ``json_schema_extra``: the
# OpenAPI document carries them as is, and haplane.model.structure reads them for strategic merge
# patch and server-side apply. A list without them is atomic (replaced as a whole).

def merge_list(key: str, *keys: str) -> dict[str, Any]:
    """A list of objects merged by ``key`` (the strategic merge key); server-side apply identifies
    items by ``(key, *keys)`` (``x-kubernetes-list-map-keys``)."""
    return {"x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": key,
            "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": [key, *keys]}


def merge_set() -> dict[str, Any]:
    """A list of scalars merged as a set (union) by both patch kinds."""
    return {"x-kubernetes-patch-strategy": "merge", "x-kubernetes-list-type": "set"}


def retain_keys() -> dict[str, Any]:
    """A union-like object: a strategic merge patch clears the keys it does not name (``$retainKeys``)."""
    return {"x-kubernetes-patch-strategy": "retainKeys"}


ATOMIC_STRUCT: dict[str, Any] = {"x-kubernetes-map-type": "atomic"}
"""Model-level ``json_schema_extra``: the object is owned and replaced as a whole (label selectors)."""


# --- error reporting ----------------------------------------------------------------------

_TYPE_NAMES = {
    "int_type": "an integer", "string_type": "a string", "bool_type": "a boolean",
    "dict_type": "an object", "model_type": "an object", "model_attributes_type": "an object",
    "list_type": "an array", "float_type": "a number", "int_from_float": "an integer",
    "int_parsing": "an integer",
}


def _json_type(value: Any) -> str:
    for kind, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
                       (list, "array"), (dict, "object")):
        if isinstance(value, kind):
            return name
    return "null" if value is None else type(value).__name__


def short_json(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 64 else text[:61] + "..."


def describe_errors(exc: ValidationError) -> list[tuple[str, str, str]]:
    """``(field path, message, cause reason)`` for each error, in Kubernetes wording."""
    out: list[tuple[str, str, str]] = []
    for err in exc.errors():
        path = ""
        for part in err["loc"]:
            path = join_path(path, part)
        kind, ctx, reason = err["type"], err.get("ctx") or {}, "FieldValueInvalid"
        if isinstance(ctx.get("error"), FieldError):
            fe: FieldError = ctx["error"]
            path, message, reason = join_path(path, fe.path) if fe.path else path, fe.message, fe.reason
        elif kind == "missing":
            message, reason = "Required value", "FieldValueRequired"
        elif kind in _TYPE_NAMES:
            message = f"Invalid type: expected {_TYPE_NAMES[kind]}, got {_json_type(err.get('input'))}"
            reason = "FieldValueTypeInvalid"
        elif kind == "literal_error":
            message = f"Unsupported value: {short_json(err.get('input'))}: supported values: {ctx.get('expected')}"
            reason = "FieldValueNotSupported"
        elif kind == "greater_than_equal":
            message = f"must be greater than or equal to {ctx.get('ge')}"
        elif kind == "less_than_equal":
            message = f"must be less than or equal to {ctx.get('le')}"
        elif kind == "too_short":
            message = f"must have at least {ctx.get('min_length')} item(s)"
        elif kind == "finite_number":
            message = "must be a finite number"
        elif kind == "value_error":
            message = str(ctx.get("error") or err["msg"])
        else:
            message = err["msg"]
        out.append((path or "<root>", message, reason))
    return out


def unknown_fields(model: type[BaseModel], data: Any, path: str = "") -> Iterator[str]:
    """Paths of the keys in ``data`` that ``model`` does not know (and so silently dropped).

    Walks only as deep as the model structure goes; free-form maps are not inspected.
    ``data`` must already have passed ``model.model_validate``.
    """
    if not isinstance(data, dict):
        return
    known = _known_fields(model)
    for key, value in data.items():
        if key not in known:
            yield join_path(path, key)
        elif (shape := known[key]) is not None:
            yield from _unknown_in(shape, value, join_path(path, key))


def _unknown_in(shape: Any, value: Any, path: str) -> Iterator[str]:
    if isinstance(shape, tuple):  # ("list", item shape)
        if isinstance(value, list):
            for i, item in enumerate(value):
                yield from _unknown_in(shape[1], item, f"{path}[{i}]")
    else:
        yield from unknown_fields(shape, value, path)


@functools.cache
def _known_fields(model: type[BaseModel]) -> dict[str, Any]:
    """Wire name (alias or field name) -> shape of what is below it (see ``_shape``)."""
    known: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        known[name] = known[info.alias or name] = _shape(info.annotation)
    return known


def _shape(annotation: Any) -> Any:
    """None (nothing to walk into), a model class, or ``("list", item shape)``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is list:
        item = _shape(args[0])
        return ("list", item) if item is not None else None
    if origin is Annotated:
        return _shape(args[0])
    if origin is not None and origin is not dict:  # a union such as `Model | None`
        shapes = [s for arg in args if (s := _shape(arg)) is not None]
        return shapes[0] if len(shapes) == 1 else None
    return None


# --- common scalar types ------------------------------------------------------------------

Int32 = Annotated[int, Field(ge=0, le=INT32_MAX)]
"""A non-negative int32 (replicas, counts, seconds)."""
PositiveInt32 = Annotated[int, Field(ge=1, le=INT32_MAX)]
Int64 = Annotated[int, Field(ge=0, le=INT64_MAX)]
PortNumber = Annotated[int, Field(ge=1, le=65535)]
HostPort = Annotated[int, Field(ge=0, le=65535)]


def _int_or_name(value: Any) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= 65535:
            raise ValueError("must be between 1 and 65535, inclusive")
        return value
    if isinstance(value, str):
        return check_port_name(value)
    raise ValueError(f"Invalid type: expected a port number or a port name, got {_json_type(value)}")


PortName = Annotated[str, AfterValidator(check_port_name)]
IntOrName = Annotated[
    int | str,
    PlainValidator(_int_or_name),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 1, "maximum": 65535},
                              {"type": "string", "pattern": PORT_NAME_PATTERN, "maxLength": 15}]}),
]
"""A port: a number 1..65535 or the name of a container port."""

_PERCENT = re.compile(r"(0|[1-9][0-9]{0,8})%")


def _int_or_percent(value: Any) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= INT32_MAX:
            raise ValueError("must be greater than or equal to 0")
        return value
    if isinstance(value, str):
        if not _PERCENT.fullmatch(value):
            raise ValueError(f"{short_json(value)}: must be an integer or a percentage (e.g. '25%')")
        return value
    raise ValueError(f"Invalid type: expected an integer or a percentage string, got {_json_type(value)}")


def is_zero(value: int | str) -> bool:
    """True for an int-or-percent of 0 or "0%"."""
    return value in (0, "0%")


IntOrPercent = Annotated[
    int | str,
    PlainValidator(_int_or_percent),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 0},
                              {"type": "string", "pattern": r"^(0|[1-9][0-9]{0,8})%$"}]}),
]
"""maxSurge / maxUnavailable: a count or a percentage such as ``"25%"``."""


def _quantity(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"Invalid type: expected a quantity string or number, got {_json_type(value)}")
    if parse_quantity(value) < 0:  # ValueError on bad syntax too
        raise ValueError("must be greater than or equal to 0")
    return format_quantity(value)


Quantity = Annotated[
    str,
    PlainValidator(_quantity),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": QUANTITY_PATTERN}, {"type": "number"}]}),
]
"""A non-negative resource quantity, stored as a string ("100m", "64Mi"; 0.5 becomes "0.5")."""


def _check_resource_names(resources: dict[str, str]) -> dict[str, str]:
    for key in resources:
        try:
            check_qualified_name(key)
        except ValueError as exc:
            raise FieldError("", f"Invalid resource name: {exc}") from None
    return resources


ResourceList = Annotated[dict[str, Quantity], AfterValidator(_check_resource_names)]
"""Resource name (``cpu``, ``memory``, ``pods``, ...) to quantity."""

Protocol = Literal["TCP", "UDP", "SCTP"]
