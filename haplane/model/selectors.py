"""Label and field selectors: parsing (``?labelSelector=``, ``?fieldSelector=``) and matching.

Pure and immutable. Selectors compare equal when they select the same thing written the
same canonical way: requirements are sorted by key and ``str(sel)`` parses back to ``sel``.
Bad syntax raises :class:`~haplane.errors.BadRequest`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from haplane.errors import BadRequest
from haplane.model.names import check_label_value, check_qualified_name

__all__ = [
    "Requirement", "LabelSelector", "parse_label_selector", "label_selector_from_obj",
    "FieldRequirement", "FieldSelector", "parse_field_selector", "FIELD_LABELS", "for_kind",
]

Operator = Literal["In", "NotIn", "Exists", "DoesNotExist"]


@dataclass(frozen=True)
class Requirement:
    """One label requirement. ``k=v`` is ``In (v)``, ``k!=v`` is ``NotIn (v)``."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "Exists":
            return self.key in labels
        if self.operator == "DoesNotExist":
            return self.key not in labels
        if self.operator == "In":
            return self.key in labels and labels[self.key] in self.values
        return self.key not in labels or labels[self.key] not in self.values  # NotIn

    def __str__(self) -> str:
        if self.operator == "Exists":
            return self.key
        if self.operator == "DoesNotExist":
            return f"!{self.key}"
        if len(self.values) == 1:
            return f"{self.key}{'=' if self.operator == 'In' else '!='}{self.values[0]}"
        return f"{self.key} {self.operator.lower()} ({','.join(self.values)})"


def _requirement(key: str, operator: str, values: Iterable[str] = ()) -> Requirement:
    """Build a checked requirement; raises BadRequest."""
    if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
        raise BadRequest(f"invalid label selector: {key}: unknown operator {operator!r}")
    try:
        check_qualified_name(key)
        vals = tuple(sorted({check_label_value(v) for v in values}))
    except ValueError as exc:
        raise BadRequest(f"invalid label selector: {exc}") from None
    if operator in ("In", "NotIn") and not vals:
        raise BadRequest(f"invalid label selector: {key}: values must be non-empty for operator {operator}")
    if operator in ("Exists", "DoesNotExist") and vals:
        raise BadRequest(f"invalid label selector: {key}: values must be empty for operator {operator}")
    return Requirement(key, operator, vals)  # type: ignore[arg-type]


@dataclass(frozen=True)
class LabelSelector:
    """A conjunction of requirements. The empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    @classmethod
    def of(cls, requirements: Iterable[Requirement]) -> LabelSelector:
        return cls(tuple(sorted(set(requirements), key=lambda r: (r.key, r.operator, r.values))))

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_VALUE = r"[-A-Za-z0-9_.]*"
_EXISTS = re.compile(rf"\s*(!?)\s*({_KEY})\s*")
_EQUALITY = re.compile(rf"\s*({_KEY})\s*(==|=|!=)\s*({_VALUE})\s*")
_SET = re.compile(rf"\s*({_KEY})\s+(in|notin)\s*\(([^()]*)\)\s*")


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
            if depth > 1:
                raise BadRequest(f"invalid label selector {text!r}: nested parentheses")
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise BadRequest(f"invalid label selector {text!r}: unbalanced parentheses")
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth:
        raise BadRequest(f"invalid label selector {text!r}: unbalanced parentheses")
    parts.append(text[start:])
    return parts


def parse_label_selector(text: str) -> LabelSelector:
    """Parse ``app=web,tier!=db``, ``env in (a,b)``, ``env notin (c)``, ``key``, ``!key``, ``a==b``.

    An empty (or all-blank) string is the selector that matches everything.
    """
    if not isinstance(text, str):
        raise BadRequest("label selector must be a string")
    if not text.strip():
        return LabelSelector()
    requirements = []
    for part in _split_top_level(text):
        if m := _SET.fullmatch(part):
            values = [v.strip() for v in m.group(3).split(",")] if m.group(3).strip() else []
            requirements.append(_requirement(m.group(1), "In" if m.group(2) == "in" else "NotIn", values))
        elif m := _EQUALITY.fullmatch(part):
            requirements.append(_requirement(m.group(1), "NotIn" if m.group(2) == "!=" else "In", [m.group(3)]))
        elif m := _EXISTS.fullmatch(part):
            requirements.append(_requirement(m.group(2), "DoesNotExist" if m.group(1) else "Exists"))
        else:
            raise BadRequest(f"invalid label selector {text!r}: cannot parse {part.strip()!r}")
    return LabelSelector.of(requirements)


def label_selector_from_obj(sel: Mapping[str, Any]) -> LabelSelector:
    """The selector of a ``{"matchLabels": {...}, "matchExpressions": [...]}`` object.

    ``{}`` matches everything. (A Service's plain ``spec.selector`` map is
    ``label_selector_from_obj({"matchLabels": selector})``.) Malformed input raises BadRequest.
    """
    if not isinstance(sel, Mapping):
        raise BadRequest("label selector must be an object")
    match_labels = sel.get("matchLabels") or {}
    expressions = sel.get("matchExpressions") or []
    if not isinstance(match_labels, Mapping) or not isinstance(expressions, list):
        raise BadRequest("label selector: matchLabels must be an object and matchExpressions an array")
    requirements = []
    for key, value in match_labels.items():
        if not isinstance(value, str):
            raise BadRequest(f"label selector: matchLabels[{key!r}] must be a string")
        requirements.append(_requirement(key, "In", [value]))
    for expr in expressions:
        values = (expr.get("values") or []) if isinstance(expr, Mapping) else None
        if not (isinstance(expr, Mapping) and isinstance(expr.get("key"), str) and isinstance(values, list)
                and all(isinstance(v, str) for v in values)):
            raise BadRequest("label selector: each matchExpression needs a string key and string values")
        requirements.append(_requirement(expr["key"], str(expr.get("operator")), values))
    return LabelSelector.of(requirements)


# --- field selectors ------------------------------------------------------------------------

_FIELD = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
_ESCAPES = {"\\": "\\", ",": ",", "=": "=", "!": "!"}


@dataclass(frozen=True)
class FieldRequirement:
    field: str                    # the field label as written: "spec.nodeName"
    operator: Literal["=", "!="]
    value: str
    path: str = ""                # dotted path into the object dict when it differs from the label
    default: str = ""             # what an absent field compares as ("false" for a bool)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        found = field_value(obj, self.path or self.field) or self.default
        return (found == self.value) == (self.operator == "=")

    def __str__(self) -> str:
        escaped = "".join("\\" + c if c in _ESCAPES else c for c in self.value)
        return f"{self.field}{self.operator}{escaped}"


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string a field selector compares: missing or non-scalar is ``""``, booleans ``true``/``false``."""
    value: Any = obj
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return ""
        value = value.get(part)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    return ""


@dataclass(frozen=True)
class FieldSelector:
    """A conjunction of field requirements. The empty selector matches everything."""

    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(r.matches(obj) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _split_escaped(text: str) -> list[list[tuple[str, bool]]]:
    """Split on unescaped commas into terms of (char, was_escaped) pairs."""
    terms: list[list[tuple[str, bool]]] = [[]]
    chars = iter(text)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, None)
            if nxt not in _ESCAPES:
                raise BadRequest(f"invalid field selector {text!r}: invalid escape sequence")
            terms[-1].append((nxt, True))
        elif ch == ",":
            terms.append([])
        else:
            terms[-1].append((ch, False))
    return terms


def parse_field_selector(text: str) -> FieldSelector:
    """Parse ``spec.nodeName=n1,status.phase!=Running,metadata.name==x``.

    ``\\``-escapes ``\\ , = !`` in values. A missing field compares as ``""``.
    An empty (or all-blank) string matches everything.
    """
    if not isinstance(text, str):
        raise BadRequest("field selector must be a string")
    if not text.strip():
        return FieldSelector()
    requirements = []
    for term in _split_escaped(text):
        chars = [c for c, _ in term]
        ops = [i for i, (c, esc) in enumerate(term) if c in "=!" and not esc]
        if not ops:
            raise BadRequest(f"invalid field selector {text!r}: {''.join(chars)!r} has no operator")
        i = ops[0]
        if chars[i] == "!":
            if i + 1 >= len(term) or term[i + 1] != ("=", False):
                raise BadRequest(f"invalid field selector {text!r}: expected '!='")
            op, end = "!=", i + 2
        else:
            op, end = "=", i + 2 if i + 1 < len(term) and term[i + 1] == ("=", False) else i + 1
        field = "".join(chars[:i]).strip()
        if not _FIELD.fullmatch(field):
            raise BadRequest(f"invalid field selector {text!r}: invalid field path {field!r}")
        requirements.append(FieldRequirement(field, op, "".join(chars[end:])))  # type: ignore[arg-type]
    return FieldSelector(tuple(requirements))


# The field labels each kind can be selected by, as the Kubernetes API server allows them
# (pkg/registry/*/strategy.go ToSelectableFields); any other label is a 400. Every kind has
# metadata.name and metadata.namespace.
FIELD_LABELS: dict[str, frozenset[str]] = {
    "Pod": frozenset({"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                      "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"}),
    "Node": frozenset({"spec.unschedulable"}),
    "Namespace": frozenset({"status.phase"}),
    "Event": frozenset({"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                        "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                        "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"}),
    "ReplicaSet": frozenset({"status.replicas"}),
    "Service": frozenset({"spec.clusterIP", "spec.type"}),
}
_FIELD_PATHS = {("Event", "source"): "source.component"}
_FIELD_DEFAULTS = {("Node", "spec.unschedulable"): "false", ("Pod", "spec.hostNetwork"): "false",
                   ("Pod", "spec.restartPolicy"): "Always", ("Pod", "spec.schedulerName"): "default-scheduler",
                   ("Service", "spec.type"): "ClusterIP", ("ReplicaSet", "status.replicas"): "0"}


def for_kind(kind: str, selector: FieldSelector) -> FieldSelector:
    """``selector`` checked against the field labels ``kind`` supports (BadRequest naming the first
    unsupported one) and bound to where each label lives in the object and what its absence means."""
    allowed = FIELD_LABELS.get(kind, frozenset()) | {"metadata.name", "metadata.namespace"}
    bound = []
    for req in selector.requirements:
        if req.field not in allowed:
            raise BadRequest(f'field label not supported: {req.field} (a {kind} can be selected by '
                             f'{", ".join(sorted(allowed))})')
        bound.append(FieldRequirement(req.field, req.operator, req.value, _FIELD_PATHS.get((kind, req.field), ""),
                                      _FIELD_DEFAULTS.get((kind, req.field), "")))
    return FieldSelector(tuple(bound))
