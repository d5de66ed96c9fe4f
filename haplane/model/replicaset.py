"""ReplicaSet (apps/v1): keeps ``replicas`` pods of its template running.

Defaults filled on validation: ``replicas`` 1, ``minReadySeconds`` 0, plus the PodSpec
defaults of the template. As for a Deployment, the selector must be non-empty and match the
template's labels, and the template's ``restartPolicy`` must be Always.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import model_validator

from haplane.model.base import Int32, Int64, KubeModel
from haplane.model.deployment import PodTemplateSpec, check_pod_template
from haplane.model.meta import Condition, KubeObject, LabelSelectorSpec

__all__ = ["ReplicaSetSpec", "ReplicaSetStatus", "ReplicaSet"]


class ReplicaSetSpec(KubeModel):
    replicas: Int32 = 1
    min_ready_seconds: Int32 = 0
    selector: LabelSelectorSpec
    template: PodTemplateSpec

    @model_validator(mode="after")
    def _selector_matches_template(self) -> Self:
        check_pod_template(self.selector, self.template, "replicaset")
        return self


class ReplicaSetStatus(KubeModel):
    replicas: Int32 = 0
    fully_labeled_replicas: Int32 | None = None
    ready_replicas: Int32 | None = None
    available_replicas: Int32 | None = None
    observed_generation: Int64 | None = None
    conditions: list[Condition] | None = None


class ReplicaSet(KubeObject):
    api_version: Literal["apps/v1"] = "apps/v1"
    kind: Literal["ReplicaSet"] = "ReplicaSet"
    spec: ReplicaSetSpec
    status: ReplicaSetStatus | None = None
