"""The model layer: pydantic models that validate and default incoming objects (pure, no I/O).

Objects live everywhere else as plain JSON dicts shaped exactly like Kubernetes' (camelCase).
Entry points: :mod:`haplane.model.registry` (kinds, ``validate``), :mod:`haplane.model.selectors`,
:mod:`haplane.model.quantity`.
"""

from __future__ import annotations

from haplane.model.quantity import parse_cpu, parse_memory
from haplane.model.registry import KINDS, KindInfo, by_path, lookup, validate, validate_scale
from haplane.model.selectors import (
    FieldSelector,
    LabelSelector,
    label_selector_from_obj,
    parse_field_selector,
    parse_label_selector,
)

__all__ = [
    "KINDS", "KindInfo", "by_path", "lookup", "validate", "validate_scale",
    "LabelSelector", "FieldSelector", "parse_label_selector", "parse_field_selector", "label_selector_from_obj",
    "parse_cpu", "parse_memory",
]
