"""Namespace (v1): a DNS-1123 label name; ``status.phase`` Active or Terminating."""

from __future__ import annotations

from typing import Literal

from haplane.model.base import KubeModel
from haplane.model.meta import KubeObject
from haplane.model.names import check_dns1123_label

__all__ = ["NamespaceSpec", "NamespaceStatus", "Namespace"]


class NamespaceSpec(KubeModel):
    finalizers: list[str] | None = None


class NamespaceStatus(KubeModel):
    phase: Literal["Active", "Terminating"] | None = None


class Namespace(KubeObject):
    name_rule = check_dns1123_label

    api_version: Literal["v1"] = "v1"
    kind: Literal["Namespace"] = "Namespace"
    spec: NamespaceSpec | None = None
    status: NamespaceStatus | None = None
