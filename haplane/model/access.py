"""The served but never stored access kinds: the reviews (``kubectl auth can-i``, ``whoami``) and
the Eviction (``kubectl drain``), as Kubernetes defines them. They document the request and
response bodies in the OpenAPI (``registry.VIRTUAL_RESOURCES``, ``pods/eviction``); the handlers
are :mod:`haplane.api.access` and ``ResourceAPI.evict``."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Literal

from pydantic import Field

from haplane.model.base import KubeModel
from haplane.model.meta import KubeObject

__all__ = ["SelfSubjectAccessReview", "SelfSubjectRulesReview", "SelfSubjectReview", "Eviction"]


class ResourceAttributes(KubeModel):
    namespace: str | None = None
    verb: str | None = None
    group: str | None = None
    version: str | None = None
    resource: str | None = None
    subresource: str | None = None
    name: str | None = None


class NonResourceAttributes(KubeModel):
    path: str | None = None
    verb: str | None = None


class SelfSubjectAccessReviewSpec(KubeModel):
    resource_attributes: ResourceAttributes | None = None
    non_resource_attributes: NonResourceAttributes | None = None


class SubjectAccessReviewStatus(KubeModel):
    allowed: bool = False
    denied: bool | None = None
    reason: str | None = None
    evaluation_error: str | None = None


class _Review(KubeObject):
    name_rule: ClassVar[Callable[[str], str] | None] = None  # reviews have no name


class SelfSubjectAccessReview(_Review):
    api_version: Literal["authorization.k8s.io/v1"] = "authorization.k8s.io/v1"
    kind: Literal["SelfSubjectAccessReview"] = "SelfSubjectAccessReview"
    spec: SelfSubjectAccessReviewSpec
    status: SubjectAccessReviewStatus | None = None


class SelfSubjectRulesReviewSpec(KubeModel):
    namespace: str | None = None


class ResourceRule(KubeModel):
    verbs: list[str]
    api_groups: list[str] | None = None
    resources: list[str] | None = None
    resource_names: list[str] | None = None


class NonResourceRule(KubeModel):
    verbs: list[str]
    non_resource_urls: list[str] | None = Field(None, alias="nonResourceURLs")


class SubjectRulesReviewStatus(KubeModel):
    resource_rules: list[ResourceRule]
    non_resource_rules: list[NonResourceRule]
    incomplete: bool
    evaluation_error: str | None = None


class SelfSubjectRulesReview(_Review):
    api_version: Literal["authorization.k8s.io/v1"] = "authorization.k8s.io/v1"
    kind: Literal["SelfSubjectRulesReview"] = "SelfSubjectRulesReview"
    spec: SelfSubjectRulesReviewSpec
    status: SubjectRulesReviewStatus | None = None


class UserInfo(KubeModel):
    username: str | None = None
    uid: str | None = None
    groups: list[str] | None = None
    extra: dict[str, list[str]] | None = None


class SelfSubjectReviewStatus(KubeModel):
    user_info: UserInfo | None = None


class SelfSubjectReview(_Review):
    api_version: Literal["authentication.k8s.io/v1"] = "authentication.k8s.io/v1"
    kind: Literal["SelfSubjectReview"] = "SelfSubjectReview"
    status: SelfSubjectReviewStatus | None = None


class Preconditions(KubeModel):
    uid: str | None = None
    resource_version: str | None = None


class DeleteOptions(KubeModel):
    grace_period_seconds: int | None = None
    preconditions: Preconditions | None = None
    orphan_dependents: bool | None = None
    propagation_policy: Literal["Orphan", "Background", "Foreground"] | None = None
    dry_run: list[str] | None = None


class Eviction(KubeObject):
    api_version: Literal["policy/v1"] = "policy/v1"
    kind: Literal["Eviction"] = "Eviction"
    delete_options: DeleteOptions | None = None
