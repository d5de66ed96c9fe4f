"""The kinds haplane serves, how to find them, and how to validate one object.

Pure and thread-safe (all tables are immutable after import). ``validate`` is the one
entry point for incoming objects: it never raises anything but a HaplaneError subclass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from haplane.errors import BadRequest, Invalid, NotFound
from haplane.model.access import Eviction, SelfSubjectAccessReview, SelfSubjectReview, SelfSubjectRulesReview
from haplane.model.base import describe_errors, short_json, unknown_fields
from haplane.model.configmap import ConfigMap
from haplane.model.deployment import Deployment, Scale
from haplane.model.event import Event
from haplane.model.metrics import NodeMetrics, PodMetrics
from haplane.model.namespace import Namespace
from haplane.model.node import Node
from haplane.model.pod import Pod
from haplane.model.replicaset import ReplicaSet
from haplane.model.service import Endpoints, Service

__all__ = ["KindInfo", "Subresource", "VirtualResource", "KINDS", "VIRTUAL_RESOURCES", "STORED_VERBS",
           "lookup", "by_path", "validate", "validate_scale"]

# What the resource handlers serve on a stored kind's collection and objects (discovery's verbs).
STORED_VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Subresource:
    """A subresource as discovery advertises it: ``pods/log``, ``deployments/scale``.

    ``kind`` / ``api_version`` are what it takes and returns ("" = the parent's own kind and
    version); ``verbs`` are the ones the server really serves on it.
    """

    name: str                       # "scale"
    verbs: tuple[str, ...]          # ("get", "update")
    kind: str = ""                  # "Scale"; "" = the parent's kind
    api_version: str = ""           # "autoscaling/v1"; "" = the parent's
    model: type[BaseModel] | None = None  # its body's model when it is not the parent's (OpenAPI)
    media_type: str = "application/json"  # what it answers with ("text/plain" for pods/log)
    params: tuple[str, ...] = ()    # query parameters it honours (names in haplane.api.openapi.QUERY_PARAMETERS)


# ``status`` is added to every kind with a status field (KindInfo.subresources); these are its verbs.
STATUS_VERBS = ("get", "update", "patch")
# ``deployments/scale`` and ``replicasets/scale``: kubectl scale PATCHes it.
SCALE = Subresource("scale", ("get", "patch", "update"), "Scale", "autoscaling/v1", Scale)


@dataclass(frozen=True)
class KindInfo:
    """One stored kind. Discovery (``haplane.api.discovery``) and the OpenAPI documents are built
    from this table: a new entry is served, discovered and documented with no other change."""

    kind: str                       # "Pod"
    plural: str                     # "pods"
    api_version: str                # "v1" or "apps/v1"
    namespaced: bool
    short_names: tuple[str, ...]    # ("po",)
    model: type[BaseModel]
    categories: tuple[str, ...] = ()          # ("all",): what `kubectl get all` lists
    extra_subresources: tuple[Subresource, ...] = ()  # besides status (implied by a status field)
    verbs: tuple[str, ...] = STORED_VERBS
    singular: str = ""                        # "" = kind.lower()

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

    @property
    def subresources(self) -> tuple[Subresource, ...]:
        """Every subresource served: ``status`` when the model has one, then the extra ones."""
        status = (Subresource("status", STATUS_VERBS),) if self.has_status else ()
        return status + self.extra_subresources

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def group(self) -> str:
        """API group: "" for the core group, "apps" for apps/v1."""
        return self.api_version.rpartition("/")[0]

    @property
    def prefix(self) -> str:
        return f"/apis/{self.api_version}" if self.group else f"/api/{self.api_version}"

    @property
    def has_status(self) -> bool:
        """Has a ``/status`` sub-resource (the model has a ``status`` field)."""
        return "status" in self.model.model_fields

    @property
    def has_scale(self) -> bool:
        """Has a ``/scale`` sub-resource (autoscaling/v1 Scale over ``spec.replicas``)."""
        return any(sub.name == "scale" for sub in self.extra_subresources)
KINDS: dict[str, KindInfo] = {
    info.kind: info
    for info in (
        KindInfo("Namespace", "namespaces", "v1", False, ("ns",), Namespace),
        KindInfo("Node", "nodes", "v1", False, ("no",), Node),
        KindInfo("ConfigMap", "configmaps", "v1", True, ("cm",), ConfigMap),
        KindInfo("Pod", "pods", "v1", True, ("po",), Pod, categories=("all",),
                 extra_subresources=(Subresource("log", ("get",), media_type="text/plain",
                                                 params=("container", "tailLines")),
                                     Subresource("eviction", ("create",), "Eviction", "policy/v1", Eviction))),
        KindInfo("Service", "services", "v1", True, ("svc",), Service, categories=("all",)),
        KindInfo("Endpoints", "endpoints", "v1", True, ("ep",), Endpoints),
        KindInfo("Event", "events", "v1", True, ("ev",), Event),
        KindInfo("Deployment", "deployments", "apps/v1", True, ("deploy",), Deployment, categories=("all",),
                 extra_subresources=(SCALE,)),
        KindInfo("ReplicaSet", "replicasets", "apps/v1", True, ("rs",), ReplicaSet, categories=("all",),
                 extra_subresources=(SCALE,)),
    )
}


@dataclass(frozen=True)
class VirtualResource:
    """A resource that is served but not stored as a kind (create-only reviews, for instance
    ``selfsubjectaccessreviews`` in authorization.k8s.io/v1). Discovery lists each entry of
    VIRTUAL_RESOURCES in its group-version; a subresource of a stored kind that is not a kind
    (``pods/eviction``) goes in that kind's ``extra_subresources`` instead. ``model``, when
    given, is documented in the group-version's OpenAPI."""

    kind: str                       # "SelfSubjectAccessReview"
    plural: str                     # "selfsubjectaccessreviews"
    api_version: str                # "authorization.k8s.io/v1"
    namespaced: bool
    verbs: tuple[str, ...]          # ("create",)
    model: type[BaseModel] | None = None
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    singular: str = ""

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

    @property
    def subresources(self) -> tuple[Subresource, ...]:
        return ()

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


# Add an entry here when its handler is routed (only what is served is advertised).
VIRTUAL_RESOURCES: tuple[VirtualResource, ...] = (
    # haplane.api.access: `kubectl auth can-i [--list]`, `kubectl auth whoami`
    VirtualResource("SelfSubjectAccessReview", "selfsubjectaccessreviews", "authorization.k8s.io/v1", False,
                    ("create",), SelfSubjectAccessReview),
    VirtualResource("SelfSubjectRulesReview", "selfsubjectrulesreviews", "authorization.k8s.io/v1", False,
                    ("create",), SelfSubjectRulesReview),
    VirtualResource("SelfSubjectReview", "selfsubjectreviews", "authentication.k8s.io/v1", False, ("create",),
                    SelfSubjectReview),
    # haplane.api.metricsserver: `kubectl top pods|nodes` (usage read from the agents, never stored)
    VirtualResource("PodMetrics", "pods", "metrics.k8s.io/v1beta1", True, ("get", "list"), PodMetrics),
    VirtualResource("NodeMetrics", "nodes", "metrics.k8s.io/v1beta1", False, ("get", "list"), NodeMetrics),
)

_BY_NAME: dict[str, KindInfo] = {
    name.lower(): info
    for info in KINDS.values()
    for name in (info.kind, info.plural, *info.short_names)
}
_BY_PATH: dict[tuple[str, str], KindInfo] = {(info.prefix, info.plural): info for info in KINDS.values()}


def lookup(name: str) -> KindInfo:
    """Find a kind by kind, plural, singular or short name, any case ("po", "Pods", "deploy").

    Also accepts ``plural.group`` ("deployments.apps"). Raises NotFound naming the known types.
    """
    key = str(name).strip().lower()
    info = _BY_NAME.get(key)
    if info is None and "." in key:
        base, _, group = key.partition(".")
        found = _BY_NAME.get(base)
        info = found if found is not None and found.group == group else None
    if info is None:
        known = ", ".join(f"{i.plural} ({', '.join(i.short_names)})" for i in KINDS.values())
        raise NotFound(f'the server doesn\'t have a resource type "{name}"; known types: {known}')
    return info


def by_path(prefix: str, plural: str) -> KindInfo | None:
    """``("/api/v1", "pods")`` -> Pod; ``("/apis/apps/v1", "deployments")`` -> Deployment; else None."""
    return _BY_PATH.get((prefix.rstrip("/"), plural))


def validate(kind: str, body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Validate + default one object of ``kind``.

    Returns ``(obj, warnings)``: ``obj`` is a new JSON dict (camelCase, ``apiVersion`` and
    ``kind`` set, defaults filled, None fields omitted, unknown fields dropped); each warning
    is ``'unknown field "spec.foo"'`` for one dropped field. Server-set metadata (uid,
    resourceVersion, creationTimestamp, generation) passes through untouched; ``status`` is
    validated and kept when present; ``metadata.namespace`` is dropped for cluster-scoped kinds.

    Raises Invalid (422) naming the field path and the problem, also when ``apiVersion`` or
    ``kind`` in ``body`` disagree with ``kind``; BadRequest (400) when ``body`` is not an
    object; NotFound when ``kind`` is unknown. Nothing else, for any JSON-shaped input.
    """
    info = KINDS.get(kind)
    if info is None:
        raise NotFound(f"unknown kind {short_json(kind)}")
    if not isinstance(body, Mapping):
        raise BadRequest(f"a {kind} must be a JSON object, not {short_json(body)}")
    label = f"{info.kind}.{info.group}" if info.group else info.kind
    if body.get("apiVersion", "") is None or body.get("kind", "") is None:  # null means absent, as elsewhere
        body = {k: v for k, v in body.items() if k not in ("apiVersion", "kind") or v is not None}
    for field, expected in (("apiVersion", info.api_version), ("kind", info.kind)):
        if field in body and body[field] != expected:
            raise _invalid(info, label, body, [(field, f"Invalid value: {short_json(body[field])}: must be "
                                                f"{short_json(expected)}", "FieldValueInvalid")])
    if not info.namespaced and isinstance(body.get("metadata"), Mapping) and "namespace" in body["metadata"]:
        body = {**body, "metadata": {k: v for k, v in body["metadata"].items() if k != "namespace"}}
    return _validate_model(info, label, info.model, body)


def validate_scale(body: dict[str, Any]) -> dict[str, Any]:
    """Validate a Scale (autoscaling/v1) body for ``{deployments,replicasets}/{name}/scale``; raises like validate."""
    if not isinstance(body, Mapping):
        raise BadRequest(f"a Scale must be a JSON object, not {short_json(body)}")
    return _validate_model(None, "Scale.autoscaling", Scale, body)[0]


def _validate_model(
    info: KindInfo | None, label: str, model: type[BaseModel], body: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    try:
        obj = model.model_validate(body)
    except ValidationError as exc:
        raise _invalid(info, label, body, describe_errors(exc)) from None
    except RecursionError:  # cannot happen below check_json's depth bound; belt and braces
        raise _invalid(info, label, body, [("<root>", "nesting too deep", "FieldValueInvalid")]) from None
    warnings = [f'unknown field "{path}"' for path in unknown_fields(model, body)]
    return obj.model_dump(by_alias=True, exclude_none=True), warnings


def _invalid(info: KindInfo | None, label: str, body: Mapping[str, Any], errors: list[tuple[str, str, str]]) -> Invalid:
    metadata = body.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    name = name if isinstance(name, str) else ""
    causes = [f"{field}: {message}" for field, message, _ in errors]
    summary = causes[0] if len(causes) == 1 else f"[{', '.join(causes)}]"
    details = {
        "name": name,
        "group": info.group if info else "autoscaling",
        "kind": info.kind if info else "Scale",
        "causes": [{"reason": reason, "message": message, "field": field} for field, message, reason in errors],
    }
    return Invalid(f"{label} {short_json(name)} is invalid: {summary}", details=details)
