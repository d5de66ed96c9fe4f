"""The role rule table (haplane.api.auth): who may do what, and the Forbidden Status as
Kubernetes words it; the review answers built from the same table (haplane.api.access)."""

from __future__ import annotations

import pytest

from haplane.api.access import review_attributes, rules_status
from haplane.api.auth import ROLE_RULES, Attributes, User, allowed, authorize, forbidden, request_verb
from haplane.errors import Forbidden, Invalid

ADMIN, NODE, VIEWER = User("admin", "admin"), User("n1", "node"), User("viewer", "viewer")


def res(verb: str, resource: str, sub: str = "", group: str = "", ns: str = "default", name: str = "") -> Attributes:
    return Attributes(verb=verb, resource=resource, group=group, subresource=sub, namespace=ns, name=name)


CASES = [
    # (user, attributes, allowed)
    (ADMIN, res("create", "pods"), True),
    (ADMIN, res("delete", "deployments", group="apps"), True),
    (ADMIN, res("create", "pods", "eviction"), True),
    (ADMIN, res("*", "*"), True),
    (ADMIN, Attributes(verb="post", path="/cluster/members"), True),
    (ADMIN, Attributes(verb="get", path="/cluster/snapshot"), True),
    (VIEWER, res("get", "pods"), True),
    (VIEWER, res("list", "pods", ns=""), True),
    (VIEWER, res("watch", "deployments", group="apps"), True),
    (VIEWER, res("get", "pods", "log"), True),
    (VIEWER, res("create", "pods"), False),
    (VIEWER, res("update", "configmaps"), False),
    (VIEWER, res("patch", "nodes", ns=""), False),
    (VIEWER, res("delete", "pods"), False),
    (VIEWER, res("deletecollection", "pods"), False),
    (VIEWER, res("create", "pods", "eviction"), False),
    (VIEWER, res("*", "pods"), False),
    (VIEWER, res("create", "selfsubjectaccessreviews", group="authorization.k8s.io", ns=""), True),
    (VIEWER, res("create", "selfsubjectreviews", group="authentication.k8s.io", ns=""), True),
    (VIEWER, Attributes(verb="get", path="/version"), True),
    (VIEWER, Attributes(verb="get", path="/apis/apps/v1"), True),
    (VIEWER, Attributes(verb="get", path="/cluster/snapshot"), False),
    (VIEWER, Attributes(verb="post", path="/cluster/members"), False),
    (NODE, res("get", "pods"), True),
    (NODE, res("watch", "pods", ns=""), True),
    (NODE, res("create", "nodes", ns=""), True),
    (NODE, res("update", "nodes", "status", ns=""), True),
    (NODE, res("patch", "pods", "status"), True),
    (NODE, res("create", "events"), True),
    (NODE, res("create", "pods"), False),
    (NODE, res("update", "pods"), False),
    (NODE, res("delete", "pods"), False),
    (NODE, res("create", "pods", "eviction"), False),
    (NODE, res("update", "deployments", "scale", group="apps"), False),
    (NODE, res("create", "events", group="apps"), False),
]


@pytest.mark.parametrize(("user", "attrs", "expected"), [
    pytest.param(u, a, e, id=f"{u.role}-{a.verb}-{a.path or (a.resource + ('/' + a.subresource if a.subresource else ''))}")
    for u, a, e in CASES])
def test_rule_table(user: User, attrs: Attributes, expected: bool) -> None:
    assert allowed(user, attrs) is expected


@pytest.mark.parametrize(("user", "attrs", "message", "details"), [
    pytest.param(VIEWER, res("create", "pods"),
                 'pods is forbidden: User "viewer" cannot create resource "pods" in API group "" in the namespace '
                 '"default"', {"group": "", "kind": "pods"}, id="collection"),
    pytest.param(VIEWER, res("delete", "deployments", group="apps", name="web"),
                 'deployments.apps "web" is forbidden: User "viewer" cannot delete resource "deployments" in API '
                 'group "apps" in the namespace "default"', {"group": "apps", "kind": "deployments", "name": "web"},
                 id="named-in-group"),
    pytest.param(NODE, res("create", "pods", "eviction", name="p"),
                 'pods "p" is forbidden: User "n1" cannot create resource "pods/eviction" in API group "" in the '
                 'namespace "default"', {"group": "", "kind": "pods", "name": "p"}, id="subresource"),
    pytest.param(VIEWER, res("patch", "nodes", ns="", name="n1"),
                 'nodes "n1" is forbidden: User "viewer" cannot patch resource "nodes" in API group "" at the '
                 'cluster scope', {"group": "", "kind": "nodes", "name": "n1"}, id="cluster-scope"),
    pytest.param(VIEWER, Attributes(verb="get", path="/cluster/snapshot"),
                 'forbidden: User "viewer" cannot get path "/cluster/snapshot"', {}, id="non-resource"),
])
def test_forbidden_wording(user: User, attrs: Attributes, message: str, details: dict[str, str]) -> None:
    status = forbidden(user, attrs).to_status()
    assert status["message"] == message
    assert status["reason"] == "Forbidden" and status["code"] == 403
    assert status.get("details", {}) == details


@pytest.mark.parametrize(("method", "named", "watch", "verb"), [
    pytest.param("GET", True, False, "get", id="get"),
    pytest.param("GET", False, False, "list", id="list"),
    pytest.param("GET", False, True, "watch", id="watch"),
    pytest.param("POST", False, False, "create", id="create"),
    pytest.param("PUT", True, False, "update", id="update"),
    pytest.param("PATCH", True, False, "patch", id="patch"),
    pytest.param("DELETE", True, False, "delete", id="delete"),
    pytest.param("DELETE", False, False, "deletecollection", id="deletecollection"),
])
def test_request_verb(method: str, named: bool, watch: bool, verb: str) -> None:
    assert request_verb(method, named=named, watch=watch) == verb


@pytest.mark.parametrize(("role", "method", "verb", "sub", "allowed"), [
    pytest.param("admin", "GET", "get", "exec", True, id="admin-exec-websocket"),
    pytest.param("viewer", "GET", "get", "exec", False, id="viewer-exec-websocket"),
    pytest.param("viewer", "POST", None, "exec", False, id="viewer-exec-post"),
    pytest.param("viewer", "GET", "get", "portforward", False, id="viewer-portforward"),
    pytest.param("node", "GET", "get", "attach", False, id="node-attach"),
    pytest.param("viewer", "GET", "get", "log", True, id="viewer-log"),
])
def test_streams_into_pods_are_create_whatever_the_method(role: str, method: str, verb: str | None, sub: str,
                                                          allowed: bool) -> None:
    user = User("u", role)
    if allowed:
        authorize(user, method, "Pod", sub, namespace="default", name="p", verb=verb)
    else:
        with pytest.raises(Forbidden, match=f'cannot create resource "pods/{sub}"'):
            authorize(user, method, "Pod", sub, namespace="default", name="p", verb=verb)


def test_authorize_by_kind_names_plural_and_group() -> None:
    with pytest.raises(Forbidden) as exc:
        authorize(VIEWER, "PUT", "Deployment", "scale", namespace="shop", name="web")
    assert exc.value.message == ('deployments.apps "web" is forbidden: User "viewer" cannot update resource '
                                 '"deployments/scale" in API group "apps" in the namespace "shop"')
    authorize(NODE, "POST", "Node", "status")  # heartbeats
    authorize(ADMIN, "POST", None, path="/cluster/members")


@pytest.mark.parametrize("spec", [
    pytest.param({}, id="neither"),
    pytest.param({"resourceAttributes": {}, "nonResourceAttributes": {}}, id="both"),
    pytest.param({"resourceAttributes": {"verb": 1}}, id="verb-not-string"),
    pytest.param({"resourceAttributes": []}, id="attrs-not-object"),
    pytest.param([], id="spec-not-object"),
])
def test_review_spec_rejects(spec: object) -> None:
    with pytest.raises(Invalid):
        review_attributes(spec)


def test_review_attributes() -> None:
    a = review_attributes({"resourceAttributes": {"verb": "create", "resource": "pods", "subresource": "eviction",
                                                  "namespace": "x", "version": "v1"}})
    assert a == Attributes(verb="create", resource="pods", subresource="eviction", namespace="x")
    assert review_attributes({"nonResourceAttributes": {"verb": "get", "path": "/version"}}).path == "/version"


def test_rules_status_lists_the_table() -> None:
    status = rules_status(ROLE_RULES["viewer"])
    assert {"verbs": ["get", "list", "watch"], "apiGroups": ["*"], "resources": ["*"]} in status["resourceRules"]
    assert all("create" not in r["verbs"] or r["apiGroups"][0].endswith(".k8s.io") for r in status["resourceRules"])
    assert status["nonResourceRules"] and status["incomplete"] is False
