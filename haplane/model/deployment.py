"""Deployment (apps/v1) and its Scale sub-resource (autoscaling/v1).

Defaults filled on validation: ``replicas`` 1, ``strategy.type`` RollingUpdate with
``rollingUpdate`` ``{maxSurge: "25%", maxUnavailable: "25%"}`` (each defaulted separately),
``revisionHistoryLimit`` 10, ``minReadySeconds`` 0, ``paused`` false, ``progressDeadlineSeconds``
600 (which must exceed ``minReadySeconds``), plus the PodSpec defaults of the template. The
selector must be non-empty and match the template labels, and the template's ``restartPolicy``
must be Always (:func:`check_pod_template`, shared with ReplicaSet).
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from haplane.model.base import (
    FieldError,
    Int32,
    Int64,
    IntOrPercent,
    KubeModel,
    is_zero,
    merge_list,
    retain_keys,
)
from haplane.model.meta import Condition, KubeObject, LabelSelectorSpec, TemplateMeta
from haplane.model.pod import PodSpec

__all__ = [
    "RollingUpdateDeployment", "DeploymentStrategy", "PodTemplateSpec", "DeploymentSpec", "DeploymentStatus",
    "Deployment", "ScaleSpec", "ScaleStatus", "Scale", "check_pod_template",
]


class RollingUpdateDeployment(KubeModel):
    max_surge: IntOrPercent = "25%"
    max_unavailable: IntOrPercent = "25%"

    @model_validator(mode="after")
    def _progress_possible(self) -> Self:
        if is_zero(self.max_surge) and is_zero(self.max_unavailable):
            raise FieldError("maxUnavailable", "may not be 0 when `maxSurge` is 0")
        if isinstance(self.max_unavailable, str) and int(self.max_unavailable[:-1]) > 100:
            raise FieldError("maxUnavailable", "must not be greater than 100%")
        return self


class DeploymentStrategy(KubeModel):
    type: Literal["RollingUpdate", "Recreate"] = "RollingUpdate"
    rolling_update: RollingUpdateDeployment | None = None

    @model_validator(mode="after")
    def _default_rolling_update(self) -> Self:
        if self.type == "RollingUpdate" and self.rolling_update is None:
            self.rolling_update = RollingUpdateDeployment()
        elif self.type == "Recreate" and self.rolling_update is not None:
            raise FieldError("rollingUpdate", "may not be specified when strategy `type` is 'Recreate'",
                             "FieldValueForbidden")
        return self


class PodTemplateSpec(KubeModel):
    metadata: TemplateMeta = Field(default_factory=TemplateMeta)
    spec: PodSpec


def check_pod_template(selector_spec: LabelSelectorSpec, template: PodTemplateSpec, kind: str) -> None:
    """What Kubernetes asks of a controller's selector and template: a non-empty selector that
    matches the template's labels, and ``restartPolicy: Always``. Raises FieldError."""
    selector = selector_spec.to_selector()
    if selector.empty:
        raise FieldError("selector", f"empty selector is invalid for {kind}")
    if not selector.matches(template.metadata.labels):
        raise FieldError("template.metadata.labels", "Invalid value: `selector` does not match template "
                         "`labels`")
    if template.spec.restart_policy != "Always":
        raise FieldError("template.spec.restartPolicy", f"Unsupported value: "
                         f"{template.spec.restart_policy!r}: supported values: 'Always'",
                         "FieldValueNotSupported")


class DeploymentSpec(KubeModel):
    replicas: Int32 = 1
    selector: LabelSelectorSpec
    template: PodTemplateSpec
    strategy: DeploymentStrategy = Field(default_factory=DeploymentStrategy, json_schema_extra=retain_keys())
    revision_history_limit: Int32 = 10
    min_ready_seconds: Int32 = 0
    progress_deadline_seconds: Int32 = 600
    paused: bool = False

    @model_validator(mode="after")
    def _selector_matches_template(self) -> Self:
        check_pod_template(self.selector, self.template, "deployment")
        if self.progress_deadline_seconds <= self.min_ready_seconds:
            raise FieldError("progressDeadlineSeconds", "Invalid value: must be greater than minReadySeconds")
        return self


class DeploymentStatus(KubeModel):
    observed_generation: Int64 | None = None
    replicas: Int32 | None = None
    updated_replicas: Int32 | None = None
    ready_replicas: Int32 | None = None
    available_replicas: Int32 | None = None
    unavailable_replicas: Int32 | None = None
    conditions: list[Condition] | None = Field(None, json_schema_extra=merge_list("type"))
    collision_count: Int32 | None = None


class Deployment(KubeObject):
    api_version: Literal["apps/v1"] = "apps/v1"
    kind: Literal["Deployment"] = "Deployment"
    spec: DeploymentSpec
    status: DeploymentStatus | None = None


class ScaleSpec(KubeModel):
    replicas: Int32  # required here: a Scale without replicas would mean 0 in Kubernetes


class ScaleStatus(KubeModel):
    replicas: Int32 = 0
    selector: str | None = None


class Scale(KubeObject):
    """``.../deployments/{name}/scale`` and ``.../replicasets/{name}/scale``: its name comes from the path."""

    name_rule = None

    api_version: Literal["autoscaling/v1"] = "autoscaling/v1"
    kind: Literal["Scale"] = "Scale"
    spec: ScaleSpec
    status: ScaleStatus | None = None
