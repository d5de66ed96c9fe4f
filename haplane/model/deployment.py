"""Deployment (apps/v1) and its Scale sub-resource (autoscaling/v1).

Defaults filled on validation: ``replicas`` 1, ``strategy.type`` RollingUpdate with
``rollingUpdate`` ``{maxSurge: "25%", maxUnavailable: "25%"}`` (each defaulted separately),
``revisionHistoryLimit`` 10, ``minReadySeconds`` 0, ``paused`` false, plus the PodSpec
defaults of the template. The selector must be non-empty and match the template labels,
and the template's ``restartPolicy`` must be Always.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from haplane.model.base import FieldError, Int32, Int64, IntOrPercent, KubeModel, is_zero
from haplane.model.meta import Condition, KubeObject, LabelSelectorSpec, TemplateMeta
from haplane.model.pod import PodSpec

__all__ = [
    "RollingUpdateDeployment", "DeploymentStrategy", "PodTemplateSpec", "DeploymentSpec", "DeploymentStatus",
    "Deployment", "ScaleSpec", "ScaleStatus", "Scale",
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


class DeploymentSpec(KubeModel):
    replicas: Int32 = 1
    selector: LabelSelectorSpec
    template: PodTemplateSpec
    strategy: DeploymentStrategy = Field(default_factory=DeploymentStrategy)
    revision_history_limit: Int32 = 10
    min_ready_seconds: Int32 = 0
    paused: bool = False

    @model_validator(mode="after")
    def _selector_matches_template(self) -> Self:
        selector = self.selector.to_selector()
        if selector.empty:
            raise FieldError("selector", "empty selector is invalid for deployment")
        if not selector.matches(self.template.metadata.labels):
            raise FieldError("template.metadata.labels", "Invalid value: `selector` does not match template "
                             "`labels`")
        if self.template.spec.restart_policy != "Always":
            raise FieldError("template.spec.restartPolicy", f"Unsupported value: "
                             f"{self.template.spec.restart_policy!r}: supported values: 'Always'",
                             "FieldValueNotSupported")
        return self


class DeploymentStatus(KubeModel):
    observed_generation: Int64 | None = None
    replicas: Int32 | None = None
    updated_replicas: Int32 | None = None
    ready_replicas: Int32 | None = None
    available_replicas: Int32 | None = None
    unavailable_replicas: Int32 | None = None
    conditions: list[Condition] | None = None


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
    """``/apis/apps/v1/namespaces/{ns}/deployments/{name}/scale``: its name comes from the path."""

    name_rule = None

    api_version: Literal["autoscaling/v1"] = "autoscaling/v1"
    kind: Literal["Scale"] = "Scale"
    spec: ScaleSpec
    status: ScaleStatus | None = None
