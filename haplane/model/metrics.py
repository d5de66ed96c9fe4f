"""``metrics.k8s.io/v1beta1``: PodMetrics and NodeMetrics, as metrics-server defines them. Served
(``registry.VIRTUAL_RESOURCES``, built by :mod:`haplane.api.podmetrics`), never stored; the
models document the answers in the OpenAPI."""

from __future__ import annotations

from typing import Literal

from haplane.model.base import KubeModel, Quantity
from haplane.model.meta import KubeObject

__all__ = ["PodMetrics", "NodeMetrics"]


class ContainerMetrics(KubeModel):
    name: str
    usage: dict[str, Quantity]


class PodMetrics(KubeObject):
    api_version: Literal["metrics.k8s.io/v1beta1"] = "metrics.k8s.io/v1beta1"
    kind: Literal["PodMetrics"] = "PodMetrics"
    timestamp: str
    window: str
    containers: list[ContainerMetrics]


class NodeMetrics(KubeObject):
    api_version: Literal["metrics.k8s.io/v1beta1"] = "metrics.k8s.io/v1beta1"
    kind: Literal["NodeMetrics"] = "NodeMetrics"
    timestamp: str
    window: str
    usage: dict[str, Quantity]
