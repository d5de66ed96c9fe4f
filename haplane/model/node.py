"""Node (v1): registered and heart-beaten by the node agent, tainted and cordoned by users.

Defaults: ``spec.unschedulable`` false. ``status.nodeInfo`` is a free JSON object.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import Field, model_validator

from haplane.model.base import FieldError, KubeModel, ResourceList, merge_list
from haplane.model.meta import Condition, KubeObject, LabelValue, QualifiedName

__all__ = ["Taint", "NodeSpec", "NodeAddress", "NodeStatus", "Node"]


class Taint(KubeModel):
    key: QualifiedName
    value: LabelValue | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]
    time_added: str | None = None


class NodeSpec(KubeModel):
    unschedulable: bool = False
    taints: list[Taint] | None = None

    @model_validator(mode="after")
    def _unique_taints(self) -> Self:
        seen: set[tuple[str, str]] = set()
        for i, taint in enumerate(self.taints or ()):
            if (taint.key, taint.effect) in seen:
                raise FieldError(f"taints[{i}]", f"Duplicate value: taints must be unique by key and effect "
                                 f"pair ({taint.key!r}, {taint.effect!r})", "FieldValueDuplicate")
            seen.add((taint.key, taint.effect))
        return self


class NodeAddress(KubeModel):
    type: Literal["Hostname", "InternalIP", "ExternalIP", "InternalDNS", "ExternalDNS"]
    address: str


class DaemonEndpoint(KubeModel):
    port: int = Field(alias="Port", ge=1, le=65535)
    # haplane extensions (a kubelet is always HTTPS on the node's address): where and how the
    # agent serves logs when that is not plain HTTP on the InternalIP. Set by the agent only.
    address: str | None = Field(None, alias="Address", min_length=1, max_length=253)
    scheme: Literal["http", "https"] | None = Field(None, alias="Scheme")


class NodeDaemonEndpoints(KubeModel):
    kubelet_endpoint: DaemonEndpoint | None = None


class NodeStatus(KubeModel):
    daemon_endpoints: NodeDaemonEndpoints | None = None  # where the agent serves logs
    capacity: ResourceList | None = None
    allocatable: ResourceList | None = None
    conditions: list[Condition] | None = Field(None, json_schema_extra=merge_list("type"))
    addresses: list[NodeAddress] | None = Field(None, json_schema_extra=merge_list("type"))
    node_info: dict[str, Any] | None = None


class Node(KubeObject):
    api_version: Literal["v1"] = "v1"
    kind: Literal["Node"] = "Node"
    spec: NodeSpec = Field(default_factory=NodeSpec)
    status: NodeStatus | None = None
