"""Object metadata and the parts every kind shares: labels, owner references, conditions,
label selectors, and :class:`KubeObject`, the base of every top-level kind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import AfterValidator, ConfigDict, Field, WithJsonSchema, model_validator

from haplane.errors import BadRequest
from haplane.model.base import (
    ATOMIC_STRUCT,
    FieldError,
    Int64,
    KubeModel,
    check_json,
    merge_list,
    merge_set,
    short_json,
)
from haplane.model.names import (
    DNS1123_LABEL_PATTERN,
    DNS1123_SUBDOMAIN_PATTERN,
    LABEL_MAX,
    SUBDOMAIN_MAX,
    check_dns1123_label,
    check_dns1123_subdomain,
    check_generate_name,
    check_label_value,
    check_qualified_name,
)
from haplane.model.selectors import LabelSelector, label_selector_from_obj

__all__ = [
    "Labels", "Annotations", "DNSLabel", "DNSSubdomain", "QualifiedName", "LabelValue", "OwnerReference", "ObjectMeta", "TemplateMeta",
    "ObjectReference", "Condition", "ManagedFieldsEntry", "LabelSelectorRequirement", "LabelSelectorSpec", "KubeObject",
]

MAX_ANNOTATIONS_BYTES = 256 * 1024


def _check_labels(labels: dict[str, str]) -> dict[str, str]:
    for key, value in labels.items():
        try:
            check_qualified_name(key)
            check_label_value(value)
        except ValueError as exc:
            raise FieldError("", f"Invalid value: {exc}") from None
    return labels


def _check_annotations(annotations: dict[str, str]) -> dict[str, str]:
    size = 0
    for key, value in annotations.items():
        try:
            check_qualified_name(key)
        except ValueError as exc:
            raise FieldError("", f"Invalid value: {exc}") from None
        size += len(key.encode()) + len(value.encode())
    if size > MAX_ANNOTATIONS_BYTES:
        raise FieldError("", f"Too long: must have at most {MAX_ANNOTATIONS_BYTES} bytes", "FieldValueTooLong")
    return annotations


Labels = Annotated[dict[str, str], AfterValidator(_check_labels)]
"""Label map: keys ``[prefix/]name``, values <= 63 chars of ``[-A-Za-z0-9_.]``."""
Annotations = Annotated[dict[str, str], AfterValidator(_check_annotations)]
"""Annotation map: keys like labels, values free text, 256 KiB in all."""
DNSLabel = Annotated[
    str, AfterValidator(check_dns1123_label),
    WithJsonSchema({"type": "string", "pattern": DNS1123_LABEL_PATTERN, "maxLength": LABEL_MAX}),
]
DNSSubdomain = Annotated[
    str, AfterValidator(check_dns1123_subdomain),
    WithJsonSchema({"type": "string", "pattern": DNS1123_SUBDOMAIN_PATTERN, "maxLength": SUBDOMAIN_MAX}),
]
QualifiedName = Annotated[str, AfterValidator(check_qualified_name)]
LabelValue = Annotated[str, AfterValidator(check_label_value)]


class OwnerReference(KubeModel):
    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ManagedFieldsEntry(KubeModel):
    """Who owns which fields (server-side apply): ``fieldsV1`` is a fieldpath set in Kubernetes'
    ``f:``/``k:``/``v:`` notation. Written by the API server (haplane.api.managedfields)."""

    manager: Annotated[str, Field(max_length=128)] | None = None
    operation: Literal["Apply", "Update"] | None = None
    api_version: str | None = None
    time: str | None = None
    fields_type: Literal["FieldsV1"] | None = None
    fields_v1: dict[str, Any] | None = Field(None, alias="fieldsV1")
    subresource: str | None = None


class ObjectMeta(KubeModel):
    """Metadata. ``uid``, ``resourceVersion``, ``generation`` and ``creationTimestamp`` are set by
    the server and passed through untouched; the name rule depends on the kind (see KubeObject)."""

    name: str | None = None
    generate_name: str | None = None
    namespace: DNSLabel | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: Int64 | None = None
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    deletion_grace_period_seconds: Int64 | None = None
    labels: Labels | None = None
    annotations: Annotations | None = None
    owner_references: list[OwnerReference] | None = Field(None, json_schema_extra=merge_list("uid"))
    finalizers: list[Annotated[str, Field(min_length=1, max_length=253)]] | None = Field(
        None, json_schema_extra=merge_set())
    managed_fields: list[ManagedFieldsEntry] | None = None

    @model_validator(mode="after")
    def _one_controller(self) -> Self:
        if sum(bool(ref.controller) for ref in self.owner_references or ()) > 1:
            raise FieldError("ownerReferences", "Only one reference can have Controller set to true")
        return self


class TemplateMeta(KubeModel):
    """The metadata of a pod template: only labels and annotations are used."""

    labels: Labels | None = None
    annotations: Annotations | None = None


class ObjectReference(KubeModel):
    """Points at another object (Event.involvedObject, Endpoints targetRef)."""

    api_version: str | None = None
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    field_path: str | None = None


class Condition(KubeModel):
    """A condition of a Pod, Node or Deployment (each kind uses a subset of the timestamps)."""

    type: Annotated[str, Field(min_length=1)]
    status: Literal["True", "False", "Unknown"]
    reason: str | None = None
    message: str | None = None
    last_heartbeat_time: str | None = None
    last_probe_time: str | None = None
    last_transition_time: str | None = None
    last_update_time: str | None = None


class LabelSelectorRequirement(KubeModel):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] | None = None


class LabelSelectorSpec(KubeModel):
    """The ``{matchLabels, matchExpressions}`` selector object (Kubernetes' metav1.LabelSelector);
    atomic, as in Kubernetes (``+structType=atomic``)."""

    model_config = ConfigDict(json_schema_extra=ATOMIC_STRUCT)

    match_labels: dict[str, str] | None = None
    match_expressions: list[LabelSelectorRequirement] | None = None

    @model_validator(mode="after")
    def _compiles(self) -> Self:
        self.to_selector()
        return self

    def to_selector(self) -> LabelSelector:
        try:
            return label_selector_from_obj(self.model_dump(by_alias=True, exclude_none=True))
        except BadRequest as exc:
            raise FieldError("", exc.message.removeprefix("label selector: ")) from None


class KubeObject(KubeModel):
    """Base of every top-level kind: ``apiVersion``, ``kind``, ``metadata``.

    Before field validation the whole input is checked to be plain storable JSON (no
    control characters anywhere, finite numbers, int64 ints, bounded depth). After it,
    ``metadata.name`` (or ``generateName``) is checked with the kind's ``name_rule``;
    ``name_rule = None`` skips that (sub-resources such as Scale).
    """

    name_rule: ClassVar[Callable[[str], str] | None] = check_dns1123_subdomain

    api_version: str
    kind: str
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)

    @model_validator(mode="before")
    @classmethod
    def _plain_json(cls, data: Any) -> Any:
        check_json(data)
        return data

    @model_validator(mode="after")
    def _check_name(self) -> Self:
        rule, meta = type(self).name_rule, self.metadata
        if rule is None:
            return self
        if not meta.name and not meta.generate_name:
            raise FieldError("metadata.name", "Required value: name or generateName is required",
                             "FieldValueRequired")
        for field, value, check in (("name", meta.name, rule),
                                    ("generateName", meta.generate_name, lambda p: check_generate_name(p, rule))):
            if value:
                try:
                    check(value)
                except ValueError as exc:
                    raise FieldError(f"metadata.{field}", f"Invalid value: {short_json(value)}: {exc}") from None
        return self
