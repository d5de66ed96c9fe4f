"""Label and field selectors: the query-string syntax, the object form, matching."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from haplane.errors import BadRequest
from haplane.model.selectors import (
    LabelSelector,
    Requirement,
    for_kind,
    label_selector_from_obj,
    parse_field_selector,
    parse_label_selector,
)

WEB = {"app": "web", "tier": "frontend", "env": "prod"}


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        pytest.param("", WEB, True, id="empty-matches-all"),
        pytest.param("  ", {}, True, id="blank-matches-all"),
        pytest.param("app=web", WEB, True, id="equals"),
        pytest.param("app==web", WEB, True, id="double-equals"),
        pytest.param("app=db", WEB, False, id="equals-other"),
        pytest.param("app=web", {}, False, id="equals-missing"),
        pytest.param("app=web", None, False, id="equals-none-labels"),
        pytest.param("tier!=db", WEB, True, id="not-equals"),
        pytest.param("tier!=frontend", WEB, False, id="not-equals-same"),
        pytest.param("tier!=db", {}, True, id="not-equals-missing-matches"),
        pytest.param("app=web,tier!=db", WEB, True, id="conjunction"),
        pytest.param("app=web,tier=db", WEB, False, id="conjunction-one-fails"),
        pytest.param("env in (prod,staging)", WEB, True, id="in"),
        pytest.param("env in (dev)", WEB, False, id="in-other"),
        pytest.param("env in(prod)", WEB, True, id="in-no-space-before-paren"),
        pytest.param("missing in (a)", WEB, False, id="in-missing"),
        pytest.param("env notin (dev,qa)", WEB, True, id="notin"),
        pytest.param("env notin (prod)", WEB, False, id="notin-same"),
        pytest.param("missing notin (a)", WEB, True, id="notin-missing-matches"),
        pytest.param("app", WEB, True, id="exists"),
        pytest.param("missing", WEB, False, id="exists-missing"),
        pytest.param("!missing", WEB, True, id="does-not-exist"),
        pytest.param("!app", WEB, False, id="does-not-exist-present"),
        pytest.param(" app = web , env in ( prod , qa ) ", WEB, True, id="whitespace"),
        pytest.param("example.com/team=a", {"example.com/team": "a"}, True, id="prefixed-key"),
        pytest.param("app=", {"app": ""}, True, id="empty-value"),
    ],
)
def test_label_selector_matches(text: str, labels: dict[str, str] | None, expected: bool) -> None:
    assert parse_label_selector(text).matches(labels) is expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("app=web,", id="trailing-comma"),
        pytest.param(",app=web", id="leading-comma"),
        pytest.param("app=web=x", id="two-equals"),
        pytest.param("env in (a,b", id="unclosed-paren"),
        pytest.param("env in a,b)", id="unopened-paren"),
        pytest.param("env in ((a))", id="nested-parens"),
        pytest.param("env in ()", id="empty-set"),
        pytest.param("env within (a)", id="unknown-operator"),
        pytest.param("bad key=x", id="space-in-key"),
        pytest.param("app=bad value", id="space-in-value"),
        pytest.param("-app=x", id="key-starts-with-dash"),
        pytest.param("app=" + "v" * 64, id="value-too-long"),
        pytest.param("!", id="bare-bang"),
        pytest.param("app>1", id="greater-than"),
        pytest.param("a/b/c=x", id="two-slashes"),
    ],
)
def test_bad_label_selector_is_bad_request(text: str) -> None:
    with pytest.raises(BadRequest):
        parse_label_selector(text)


def test_str_is_canonical() -> None:
    sel = parse_label_selector("tier!=db, env in (b,a,a), app==web, !gone, here")
    assert str(sel) == "app=web,env in (a,b),!gone,here,tier!=db"
    assert parse_label_selector(str(sel)) == sel
    assert str(parse_label_selector("")) == ""


@pytest.mark.parametrize(
    ("obj", "labels", "expected"),
    [
        pytest.param({}, WEB, True, id="empty-matches-all"),
        pytest.param({"matchLabels": {"app": "web"}}, WEB, True, id="match-labels"),
        pytest.param({"matchLabels": {"app": "db"}}, WEB, False, id="match-labels-other"),
        pytest.param({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}, WEB, True,
                     id="in"),
        pytest.param({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}, WEB, False,
                     id="notin"),
        pytest.param({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, WEB, True, id="exists"),
        pytest.param({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, WEB, False,
                     id="does-not-exist"),
        pytest.param({"matchLabels": {"app": "web"},
                      "matchExpressions": [{"key": "tier", "operator": "In", "values": ["db"]}]}, WEB, False,
                     id="both-anded"),
    ],
)
def test_label_selector_from_obj(obj: dict, labels: dict[str, str], expected: bool) -> None:
    assert label_selector_from_obj(obj).matches(labels) is expected


def test_object_and_text_forms_agree() -> None:
    obj = {"matchLabels": {"app": "web"}, "matchExpressions": [
        {"key": "env", "operator": "In", "values": ["b", "a"]}, {"key": "x", "operator": "DoesNotExist"}]}
    assert label_selector_from_obj(obj) == parse_label_selector("!x,env in (a,b),app=web")


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param({"matchExpressions": [{"key": "a", "operator": "In"}]}, id="in-without-values"),
        pytest.param({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
                     id="exists-with-values"),
        pytest.param({"matchExpressions": [{"key": "a", "operator": "Near", "values": ["x"]}]}, id="bad-operator"),
        pytest.param({"matchExpressions": [{"operator": "Exists"}]}, id="no-key"),
        pytest.param({"matchExpressions": {"key": "a"}}, id="expressions-not-list"),
        pytest.param({"matchLabels": ["a"]}, id="labels-not-map"),
        pytest.param({"matchLabels": {"a": 1}}, id="non-string-value"),
        pytest.param({"matchLabels": {"bad key": "x"}}, id="bad-key"),
        pytest.param(["a"], id="not-an-object"),
    ],
)
def test_bad_selector_object_is_bad_request(obj: object) -> None:
    with pytest.raises(BadRequest):
        label_selector_from_obj(obj)  # type: ignore[arg-type]


_names = st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True)
_requirements = st.one_of(
    st.builds(lambda k, vs: Requirement(k, "In", tuple(sorted(set(vs)))), _names, st.lists(_names, min_size=1)),
    st.builds(lambda k, vs: Requirement(k, "NotIn", tuple(sorted(set(vs)))), _names, st.lists(_names, min_size=1)),
    st.builds(lambda k: Requirement(k, "Exists"), _names),
    st.builds(lambda k: Requirement(k, "DoesNotExist"), _names),
)


@given(st.lists(_requirements, max_size=5), st.dictionaries(_names, _names, max_size=5))
def test_text_form_round_trips_and_matches_the_same(reqs: list[Requirement], labels: dict[str, str]) -> None:
    sel = LabelSelector.of(reqs)
    again = parse_label_selector(str(sel))
    assert again == sel
    assert again.matches(labels) == all(r.matches(labels) for r in reqs)


POD = {"metadata": {"name": "x", "namespace": "default"}, "spec": {"nodeName": "n1", "unschedulable": True,
                                                                    "replicas": 3},
       "status": {"phase": "Running"}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", True, id="empty-matches-all"),
        pytest.param("spec.nodeName=n1", True, id="equals"),
        pytest.param("spec.nodeName==n1", True, id="double-equals"),
        pytest.param("spec.nodeName=n2", False, id="equals-other"),
        pytest.param("spec.nodeName!=n2", True, id="not-equals"),
        pytest.param("status.phase!=Running", False, id="not-equals-same"),
        pytest.param("metadata.name==x,metadata.namespace=default", True, id="conjunction"),
        pytest.param("spec.missing=", True, id="missing-is-empty"),
        pytest.param("spec.missing!=", False, id="missing-not-empty"),
        pytest.param("spec.nodeName.deeper=", True, id="through-a-string"),
        pytest.param("spec=", True, id="object-is-empty"),
        pytest.param("spec.unschedulable=true", True, id="bool"),
        pytest.param("spec.replicas=3", True, id="int"),
        pytest.param("spec.nodeName= n1", False, id="value-not-trimmed"),
    ],
)
def test_field_selector_matches(text: str, expected: bool) -> None:
    assert parse_field_selector(text).matches(POD) is expected


def test_field_selector_escapes_round_trip() -> None:
    sel = parse_field_selector(r"metadata.name=a\,b\=c\\d\!e")
    assert sel.requirements[0].value == "a,b=c\\d!e"
    assert sel.matches({"metadata": {"name": "a,b=c\\d!e"}})
    assert parse_field_selector(str(sel)) == sel


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("spec.nodeName", id="no-operator"),
        pytest.param("=n1", id="no-field"),
        pytest.param("spec..nodeName=x", id="empty-segment"),
        pytest.param("spec nodeName=x", id="space-in-path"),
        pytest.param("spec.nodeName!n1", id="bang-without-equals"),
        pytest.param("a=b,", id="trailing-comma"),
        pytest.param(r"a=b\x", id="bad-escape"),
        pytest.param("a=b\\", id="dangling-escape"),
    ],
)
def test_bad_field_selector_is_bad_request(text: str) -> None:
    with pytest.raises(BadRequest):
        parse_field_selector(text)


@given(st.text(max_size=30))
def test_any_selector_text_parses_or_is_bad_request(text: str) -> None:
    for parse in (parse_label_selector, parse_field_selector):
        try:
            parse(text)
        except BadRequest:
            pass


NODE_F = {"metadata": {"name": "n1"}, "spec": {}}
EVENT_F = {"metadata": {"name": "e", "namespace": "default"}, "type": "Warning", "reason": "BackOff",
         "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default", "uid": "u1"},
         "source": {"component": "kubelet"}}
SCHEDULED_POD = {"metadata": {"name": "p", "namespace": "shop"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}}


@pytest.mark.parametrize(("kind", "obj", "text", "expected"), [
    pytest.param("Node", NODE_F, "spec.unschedulable=false", True, id="absent-bool-is-false"),
    pytest.param("Node", NODE_F, "spec.unschedulable=true", False, id="not-cordoned"),
    pytest.param("Node", {**NODE_F, "spec": {"unschedulable": True}}, "spec.unschedulable=true", True, id="cordoned"),
    pytest.param("Event", EVENT_F, "involvedObject.kind=Pod,involvedObject.name=web,involvedObject.namespace=default,"
                 "involvedObject.uid=u1", True, id="describe-events"),
    pytest.param("Event", EVENT_F, "type=Warning,reason=BackOff", True, id="type-reason"),
    pytest.param("Event", EVENT_F, "source=kubelet", True, id="source-is-the-component"),
    pytest.param("Event", EVENT_F, "involvedObject.uid=u2", False, id="other-object"),
    pytest.param("Pod", SCHEDULED_POD, "spec.nodeName=n1,status.phase!=Succeeded,status.phase!=Failed", True,
                 id="describe-node-pods"),
    pytest.param("Pod", SCHEDULED_POD, "metadata.namespace=shop,metadata.name=p", True, id="metadata"),
    pytest.param("Pod", SCHEDULED_POD, "spec.restartPolicy=Always", True, id="defaulted"),
])
def test_field_selector_for_kind(kind: str, obj: dict, text: str, expected: bool) -> None:
    assert for_kind(kind, parse_field_selector(text)).matches(obj) is expected


@pytest.mark.parametrize(("kind", "text"), [
    pytest.param("Pod", "spec.containers=x", id="pod-spec-field"),
    pytest.param("Deployment", "spec.replicas=1", id="deployment-spec"),
    pytest.param("Node", "status.phase=Running", id="node-phase"),
    pytest.param("Event", "message=x", id="event-message"),
])
def test_unsupported_field_label_is_bad_request(kind: str, text: str) -> None:
    with pytest.raises(BadRequest, match="field label not supported"):
        for_kind(kind, parse_field_selector(text))
