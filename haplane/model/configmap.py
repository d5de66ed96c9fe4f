"""ConfigMap (v1): string data (multi-line values allowed) and base64 binaryData."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, model_validator

from haplane.model.base import FieldError
from haplane.model.meta import KubeObject

__all__ = ["ConfigMap"]

MAX_BYTES = 1024 * 1024
_KEY = re.compile(r"[-._a-zA-Z0-9]+")


def _check_keys(data: dict[str, str]) -> dict[str, str]:
    for key in data:
        if len(key) > 253 or not _KEY.fullmatch(key) or key in (".", ".."):
            raise FieldError("", f"Invalid value: {key[:64]!r}: a valid config key must consist of alphanumeric "
                             "characters, '-', '_' or '.' (at most 253, and not '.' or '..')")
    return data


def _check_base64(data: dict[str, str]) -> dict[str, str]:
    for key, value in _check_keys(data).items():
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise FieldError(key, "Invalid value: must be base64-encoded") from None
    return data


class ConfigMap(KubeObject):
    api_version: Literal["v1"] = "v1"
    kind: Literal["ConfigMap"] = "ConfigMap"
    data: Annotated[dict[str, str], AfterValidator(_check_keys)] | None = None
    binary_data: Annotated[dict[str, str], AfterValidator(_check_base64)] | None = None

    @model_validator(mode="after")
    def _disjoint_and_small(self) -> Self:
        data, binary = self.data or {}, self.binary_data or {}
        if both := sorted(data.keys() & binary.keys()):
            raise FieldError(f"data.{both[0]}", "Duplicate value: key also present in binaryData",
                             "FieldValueDuplicate")
        size = sum(len(k) + len(v.encode()) for k, v in data.items()) + sum(len(k) + len(v) for k, v in binary.items())
        if size > MAX_BYTES:
            raise FieldError("", f"Too long: must have at most {MAX_BYTES} bytes", "FieldValueTooLong")
        return self
