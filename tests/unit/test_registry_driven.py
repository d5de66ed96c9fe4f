"""Discovery and the OpenAPI documents follow the registry: a kind, subresource or virtual resource
added to it is discovered and documented with no other change, and the description table only
names fields that exist."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import pytest

from haplane.api import descriptions, discovery, openapi
from haplane.model import registry
from haplane.model.deployment import PodTemplateSpec, Scale
from haplane.model.meta import KubeObject
from haplane.model.registry import KINDS, KindInfo, Subresource, VirtualResource


class Widget(KubeObject):
    api_version: Literal["apps/v1"] = "apps/v1"
    kind: Literal["Widget"] = "Widget"
    template: PodTemplateSpec | None = None


class Review(KubeObject):
    api_version: Literal["authorization.k8s.io/v1"] = "authorization.k8s.io/v1"
    kind: Literal["Review"] = "Review"


def _clear() -> None:
    for fn in (openapi._names, openapi.document_keys, openapi.documents):
        fn.cache_clear()


@pytest.fixture
def extended(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    widget = KindInfo("Widget", "widgets", "apps/v1", True, ("wd",), Widget, categories=("all",),
                      extra_subresources=(Subresource("scale", ("get", "update"), "Scale", "autoscaling/v1", Scale),))
    review = VirtualResource("Review", "reviews", "authorization.k8s.io/v1", False, ("create",), Review)
    monkeypatch.setitem(KINDS, "Widget", widget)
    monkeypatch.setattr(registry, "VIRTUAL_RESOURCES", (review,))
    monkeypatch.setattr(discovery, "VIRTUAL_RESOURCES", (review,))
    monkeypatch.setattr(openapi, "VIRTUAL_RESOURCES", (review,))
    _clear()
    yield
    _clear()


def test_a_new_kind_is_discovered(extended: None) -> None:
    names = {r["name"]: r for r in discovery.api_resource_list("apps/v1")["resources"]}
    assert names["widgets"]["shortNames"] == ["wd"] and names["widgets"]["categories"] == ["all"]
    assert names["widgets/scale"]["kind"] == "Scale"
    agg = discovery.aggregated_list(core=False)
    apps = next(i for i in agg["items"] if i["metadata"]["name"] == "apps")
    assert "widgets" in {r["resource"] for r in apps["versions"][0]["resources"]}


def test_a_virtual_resource_adds_its_group(extended: None) -> None:
    assert "authorization.k8s.io" in [g["name"] for g in discovery.api_group_list()["groups"]]
    (entry,) = discovery.api_resource_list("authorization.k8s.io/v1")["resources"]
    assert entry == {"name": "reviews", "singularName": "review", "namespaced": False, "kind": "Review",
                     "verbs": ["create"]}


def test_a_new_kind_and_a_virtual_resource_are_documented(extended: None) -> None:
    assert "apis/authorization.k8s.io/v1" in openapi.document_keys()
    apps = openapi.build_document("apis/apps/v1")
    assert apps["components"]["schemas"]["io.k8s.api.apps.v1.Widget"]["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Widget", "version": "v1"}]
    assert "io.k8s.api.core.v1.PodTemplateSpec" in apps["components"]["schemas"]
    assert {"get", "post"} <= apps["paths"]["/apis/apps/v1/namespaces/{namespace}/widgets"].keys()
    assert "put" in apps["paths"]["/apis/apps/v1/namespaces/{namespace}/widgets/{name}/scale"]
    authz = openapi.build_document("apis/authorization.k8s.io/v1")
    assert list(authz["paths"]) == ["/apis/authorization.k8s.io/v1/reviews"]
    assert list(authz["paths"]["/apis/authorization.k8s.io/v1/reviews"]) == ["parameters", "post"]
    assert "io.k8s.api.authorization.v1.Review" in authz["components"]["schemas"]


def _classes() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for model in openapi._names():
        out[model.__name__] = {info.alias or name for name, info in model.model_fields.items()}
    return out


@pytest.mark.parametrize("class_name", sorted(descriptions.TYPES))
def test_descriptions_name_real_models_and_fields(class_name: str) -> None:
    fields = _classes()
    assert class_name in fields, f"{class_name} is not a served model"
    unknown = set(descriptions.TYPES[class_name]) - {""} - fields[class_name]
    assert not unknown, f"{class_name} has no fields {unknown}"
