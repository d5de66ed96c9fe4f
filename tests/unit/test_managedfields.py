"""managedFields and server-side apply: fieldsV1 encoding, ownership on updates, apply merges,
conflicts, force and pruning — table-driven, with the Kubernetes shapes the docs show."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haplane.api.managedfields import (
    decode,
    encode,
    field_set,
    manager_from_user_agent,
    path_string,
    server_side_apply,
    track_update,
)
from haplane.errors import BadRequest, Conflict
from haplane.model import registry
from haplane.model.deployment import Deployment
from haplane.model.structure import shape_of

DEPLOY = shape_of(Deployment)


def deployment(replicas: int = 1, image: str = "nginx", labels: dict | None = None, **container: object) -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", **({"labels": labels} if labels else {})},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "nginx", "image": image, **container}]}}},
    }


def stored(obj: dict) -> dict:
    """What the API stores: validated and defaulted, with server metadata."""
    out, _ = registry.validate("Deployment", obj)
    out["metadata"].update(uid="u1", resourceVersion="7", generation=1, creationTimestamp="T0")
    return out


def managers(obj: dict) -> list[tuple[str, str]]:
    return [(m["manager"], m["operation"]) for m in obj["metadata"].get("managedFields", [])]


def owned(obj: dict, manager: str) -> set[str]:
    for m in obj["metadata"]["managedFields"]:
        if m["manager"] == manager:
            return {path_string(p) for p in decode(m["fieldsV1"])}
    raise AssertionError(f"{manager} owns nothing")


# --- fieldsV1 ---------------------------------------------------------------------------------
ENCODED = [
    pytest.param({("f:spec", "f:replicas")}, {"f:spec": {"f:replicas": {}}}, id="leaf"),
    pytest.param({("f:spec", "f:c", 'k:{"name":"a"}'), ("f:spec", "f:c", 'k:{"name":"a"}', "f:image")},
                 {"f:spec": {"f:c": {'k:{"name":"a"}': {".": {}, "f:image": {}}}}}, id="member-with-children"),
    pytest.param({("f:metadata", "f:finalizers", 'v:"a"')}, {"f:metadata": {"f:finalizers": {'v:"a"': {}}}}, id="set"),
    pytest.param(set(), {}, id="empty"),
]


@pytest.mark.parametrize(("paths", "fields"), ENCODED)
def test_fields_v1_round_trip(paths: set, fields: dict) -> None:
    assert encode(paths) == fields
    assert decode(fields) == paths


@pytest.mark.parametrize("fields", [pytest.param([], id="not-object"), pytest.param({"x:y": {}}, id="bad-element"),
                                    pytest.param({"f:a": 1}, id="leaf-not-object")])
def test_bad_fields_v1(fields: object) -> None:
    with pytest.raises(BadRequest):
        decode(fields)


PATHS = [
    pytest.param(("f:spec", "f:replicas"), ".spec.replicas", id="fields"),
    pytest.param(("f:spec", "f:containers", 'k:{"name":"web"}', "f:image"), '.spec.containers[name="web"].image',
                 id="keyed"),
    pytest.param(("f:ports", 'k:{"containerPort":80,"protocol":"TCP"}'), '.ports[containerPort=80,protocol="TCP"]',
                 id="two-keys"),
    pytest.param(("f:finalizers", 'v:"a"'), '.finalizers[="a"]', id="set-value"),
]


@pytest.mark.parametrize(("path", "text"), PATHS)
def test_path_string(path: tuple, text: str) -> None:
    assert path_string(path) == text


def test_field_set_of_an_applied_config() -> None:
    """As Kubernetes records `kubectl apply --server-side` of a Deployment: list items by key (a port's
    protocol defaulted in its key), atomic selector, no name/namespace/status."""
    cfg = deployment(ports=[{"containerPort": 80}])
    cfg["status"] = {"replicas": 3}
    assert {path_string(p) for p in field_set(cfg, DEPLOY)} == {
        ".spec.replicas", ".spec.selector", ".spec.template.metadata.labels.app",
        '.spec.template.spec.containers[name="nginx"]', '.spec.template.spec.containers[name="nginx"].name',
        '.spec.template.spec.containers[name="nginx"].image',
        '.spec.template.spec.containers[name="nginx"].ports[containerPort=80,protocol="TCP"]',
        '.spec.template.spec.containers[name="nginx"].ports[containerPort=80,protocol="TCP"].containerPort',
    }


# --- updates ----------------------------------------------------------------------------------
def test_create_owns_everything_set_including_defaults_and_new_maps() -> None:
    obj = track_update(None, stored(deployment(labels={"app": "web"})), DEPLOY, manager="kubectl-create",
                       api_version="apps/v1", now="T1")
    (entry,) = obj["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["apiVersion"], entry["time"], entry["fieldsType"]) == \
        ("kubectl-create", "Update", "apps/v1", "T1", "FieldsV1")
    fields = entry["fieldsV1"]
    assert fields["f:metadata"]["f:labels"] == {".": {}, "f:app": {}}  # a new map is itself owned
    assert "." not in fields["f:spec"]  # a required struct is not
    assert fields["f:spec"]["f:strategy"]["f:rollingUpdate"]["."] == {}  # an optional object is
    assert "f:imagePullPolicy" in fields["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"nginx"}']


UPDATES = [
    pytest.param(lambda o: o["spec"].update(replicas=5), "kubectl-scale", {".spec.replicas"}, id="changed-field"),
    pytest.param(lambda o: o["metadata"].setdefault("labels", {}).update(tier="db"), "kubectl-label",
                 {".metadata.labels", ".metadata.labels.tier"}, id="added-map-entry"),
    pytest.param(lambda o: o["spec"]["template"]["spec"]["containers"][0].update(image="nginx:2"), "kubectl-set",
                 {'.spec.template.spec.containers[name="nginx"].image'}, id="keyed-item-field"),
]


@pytest.mark.parametrize(("change", "manager", "expected"), UPDATES)
def test_update_moves_changed_fields_to_the_updater(change, manager: str, expected: set) -> None:  # noqa: ANN001
    live = track_update(None, stored(deployment()), DEPLOY, manager="kubectl-create", api_version="apps/v1", now="T1")
    new = copy.deepcopy(live)
    change(new)
    after = track_update(live, new, DEPLOY, manager=manager, api_version="apps/v1", now="T2")
    assert managers(after) == [("kubectl-create", "Update"), (manager, "Update")]
    assert owned(after, manager) == expected
    assert not owned(after, "kubectl-create") & expected


def test_noop_update_keeps_managed_fields() -> None:
    live = track_update(None, stored(deployment()), DEPLOY, manager="a", api_version="apps/v1", now="T1")
    same = track_update(live, copy.deepcopy(live), DEPLOY, manager="b", api_version="apps/v1", now="T2")
    assert same["metadata"]["managedFields"] == live["metadata"]["managedFields"]


def test_removed_field_leaves_every_manager() -> None:
    live = track_update(None, stored(deployment(labels={"app": "web", "x": "1"})), DEPLOY, manager="a",
                        api_version="apps/v1", now="T1")
    new = copy.deepcopy(live)
    del new["metadata"]["labels"]["x"]
    after = track_update(live, new, DEPLOY, manager="b", api_version="apps/v1", now="T2")
    assert ".metadata.labels.x" not in owned(after, "a")
    assert managers(after) == [("a", "Update")]  # b changed nothing it could own


def test_request_managed_fields_replace_the_live_ones() -> None:
    """kubectl's client-side-to-server-side migration rewrites managedFields with a JSON patch."""
    live = track_update(None, stored(deployment()), DEPLOY, manager="kubectl-client-side-apply",
                        api_version="apps/v1", now="T1")
    new = copy.deepcopy(live)
    new["metadata"]["managedFields"][0].update(manager="kubectl", operation="Apply")
    after = track_update(live, new, DEPLOY, manager="kubectl", api_version="apps/v1", now="T2")
    assert managers(after) == [("kubectl", "Apply")]


# --- server-side apply ------------------------------------------------------------------------
def applied(live: dict | None, cfg: dict, manager: str = "kubectl", force: bool = False) -> dict:
    out = server_side_apply(live, cfg, DEPLOY, manager=manager, api_version="apps/v1", now="T", force=force)
    return stored(out) if live is None else registry.validate("Deployment", out)[0]


def test_apply_creates_with_an_apply_entry() -> None:
    obj = applied(None, deployment())
    assert managers(obj) == [("kubectl", "Apply")]
    assert ".spec.replicas" in owned(obj, "kubectl")
    assert ".spec.template.spec.containers[name=\"nginx\"].imagePullPolicy" not in owned(obj, "kubectl")


def test_apply_conflicts_with_another_manager_unless_force() -> None:
    live = applied(None, deployment(replicas=1))
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 5
    scaled = track_update(live, scaled, DEPLOY, manager="kubectl-scale", api_version="apps/v1", now="T")
    with pytest.raises(Conflict) as err:
        applied(scaled, deployment(replicas=2))
    assert err.value.message == 'Apply failed with 1 conflict: conflict with "kubectl-scale" using apps/v1: .spec.replicas'
    assert err.value.details["causes"] == [{"reason": "FieldManagerConflict", "field": ".spec.replicas",
                                            "message": 'conflict with "kubectl-scale" using apps/v1'}]
    # the same value is shared ownership, not a conflict
    assert applied(scaled, deployment(replicas=5))["spec"]["replicas"] == 5
    forced = applied(scaled, deployment(replicas=2), force=True)
    assert forced["spec"]["replicas"] == 2
    assert managers(forced) == [("kubectl", "Apply")]  # kubectl-scale owned nothing else


def test_apply_removes_what_the_applier_dropped_unless_someone_else_owns_it() -> None:
    live = applied(None, deployment(labels={"app": "web", "a": "1", "b": "2"}, env=[{"name": "X", "value": "1"}]))
    other = copy.deepcopy(live)
    other["metadata"]["labels"]["b"] = "3"
    other = track_update(live, other, DEPLOY, manager="kubectl-label", api_version="apps/v1", now="T")
    after = applied(other, deployment(labels={"app": "web"}))
    assert after["metadata"]["labels"] == {"app": "web", "b": "3"}  # a: dropped; b: kubectl-label's
    assert "env" not in after["spec"]["template"]["spec"]["containers"][0]


def test_apply_merges_list_items_by_key() -> None:
    live = applied(None, deployment(env=[{"name": "A", "value": "1"}]), manager="one")
    cfg = deployment()
    cfg["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "B", "value": "2"}]
    after = applied(live, cfg, manager="two")
    assert after["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"},
                                                                          {"name": "B", "value": "2"}]


def test_first_apply_over_an_unmanaged_object() -> None:
    live = stored(deployment(replicas=3))  # written without managedFields (a controller, say)
    with pytest.raises(Conflict, match="before-first-apply"):
        applied(live, deployment(replicas=2))


@pytest.mark.parametrize(("agent", "manager"), [
    pytest.param("kubectl/v1.37.1 (linux/amd64) kubernetes/f78e722", "kubectl", id="kubectl"),
    pytest.param("Python/3.11 aiohttp/3.9", "Python", id="python"),
    pytest.param(None, "unknown", id="none"),
    pytest.param("x" * 300, "x" * 128, id="long"),
])
def test_manager_from_user_agent(agent: str | None, manager: str) -> None:
    assert manager_from_user_agent(agent) == manager


_labels = st.dictionaries(st.sampled_from("abcd"), st.sampled_from(["1", "2"]), max_size=4)


@settings(max_examples=100, deadline=None)
@given(_labels, _labels)
def test_reapplying_is_a_fixed_point(first: dict, second: dict) -> None:
    """Applying a config twice gives the same object and ownership as applying it once."""
    live = applied(None, deployment(labels=first or None))
    once = applied(live, deployment(labels=second or None))
    twice = applied(once, deployment(labels=second or None))
    assert twice == once
    assert once["metadata"].get("labels", {}) == second
