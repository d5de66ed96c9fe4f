"""DeleteOptions (haplane.api.deletion) and foreground deletion in the garbage collector
(haplane.control.gc.foreground)."""

from __future__ import annotations

import pytest

from haplane.api.deletion import DeleteOptions, parse_delete_options
from haplane.control.gc import foreground, makes_garbage
from haplane.errors import BadRequest, Invalid
from haplane.model.ownership import FOREGROUND
from haplane.store.fsm import Change


@pytest.mark.parametrize(("body", "query", "want"), [
    pytest.param(None, {}, DeleteOptions(), id="nothing"),
    pytest.param({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}, {},
                 DeleteOptions("Background"), id="kubectl-background"),
    pytest.param({"propagationPolicy": "Foreground"}, {}, DeleteOptions("Foreground"), id="kubectl-foreground"),
    pytest.param({"propagationPolicy": "Orphan"}, {}, DeleteOptions("Orphan"), id="kubectl-orphan"),
    pytest.param({"gracePeriodSeconds": 0, "propagationPolicy": "Background"}, {},
                 DeleteOptions("Background", 0), id="kubectl-force"),
    pytest.param(None, {"propagationPolicy": "Foreground", "gracePeriodSeconds": "5"},
                 DeleteOptions("Foreground", 5), id="query"),
    pytest.param({"propagationPolicy": "Orphan"}, {"propagationPolicy": "Foreground"}, DeleteOptions("Orphan"),
                 id="body-over-query"),
    pytest.param({"orphanDependents": True}, {}, DeleteOptions("Orphan"), id="orphan-dependents"),
    pytest.param(None, {"orphanDependents": "false"}, DeleteOptions("Background"), id="orphan-dependents-false"),
    pytest.param({"preconditions": {"uid": "u1", "resourceVersion": "9"}}, {}, DeleteOptions(None, None, "u1", "9"),
                 id="preconditions"),
    pytest.param({"dryRun": ["All"]}, {}, DeleteOptions(dry_run=True), id="dry-run"),
    pytest.param({"propagationPolicy": None, "gracePeriodSeconds": None}, {}, DeleteOptions(), id="nulls"),
])
def test_parse_delete_options(body: dict | None, query: dict, want: DeleteOptions) -> None:
    assert parse_delete_options(body, query) == want


@pytest.mark.parametrize(("body", "query", "error"), [
    pytest.param([], {}, BadRequest, id="not-an-object"),
    pytest.param({"kind": "Pod"}, {}, BadRequest, id="wrong-kind"),
    pytest.param({"propagationPolicy": "Sideways"}, {}, Invalid, id="unknown-policy"),
    pytest.param({"gracePeriodSeconds": -3}, {}, Invalid, id="negative-grace"),
    pytest.param({"gracePeriodSeconds": "soon"}, {}, BadRequest, id="bad-grace"),
    pytest.param({"gracePeriodSeconds": True}, {}, BadRequest, id="bool-grace"),
    pytest.param({"orphanDependents": True, "propagationPolicy": "Orphan"}, {}, Invalid, id="both"),
    pytest.param({"preconditions": {"uid": 3}}, {}, BadRequest, id="bad-precondition"),
    pytest.param({"preconditions": "x"}, {}, BadRequest, id="preconditions-not-object"),
    pytest.param({"dryRun": ["Some"]}, {}, BadRequest, id="bad-dry-run"),
])
def test_parse_delete_options_rejects(body: object, query: dict, error: type) -> None:
    with pytest.raises(error):
        parse_delete_options(body, query)


# ------------------------------------------------------------------ foreground deletion


def obj(name: str, owner: str | None = None, *, block: bool = True, deleting: bool = False,
        fg: bool = False) -> dict:
    meta: dict = {"name": name, "uid": name, "namespace": "default", "resourceVersion": "1"}
    if owner:
        meta["ownerReferences"] = [{"uid": owner, "kind": "X", "name": owner, "blockOwnerDeletion": block}]
    if deleting or fg:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    if fg:
        meta["finalizers"] = [FOREGROUND]
    return {"metadata": meta}


def names(items: list) -> list[str]:
    return sorted(o["metadata"]["name"] for _, o in items)


@pytest.mark.parametrize(("objects", "delete", "mark", "finish"), [
    pytest.param([obj("d"), obj("p1", "d")], [], [], [], id="nothing-deleting"),
    pytest.param([obj("d", fg=True), obj("p1", "d"), obj("p2", "d")], ["p1", "p2"], [], [],
                 id="leaves-first"),
    pytest.param([obj("d", fg=True), obj("rs", "d"), obj("p1", "rs")], [], ["rs"], [],
                 id="dependent-with-dependents-goes-foreground"),
    pytest.param([obj("d", fg=True), obj("rs", "d", fg=True), obj("p1", "rs")], ["p1"], [], [],
                 id="recursive"),
    pytest.param([obj("d", fg=True), obj("rs", "d", fg=True)], [], [], ["rs"], id="inner-owner-done"),
    pytest.param([obj("d", fg=True)], [], [], ["d"], id="no-dependents-left"),
    pytest.param([obj("d", fg=True), obj("cm", "d", block=False)], [], [], ["d"], id="non-blocking-do-not-wait"),
    pytest.param([obj("d", fg=True), obj("p1", "d", deleting=True)], [], [], [], id="terminating-dependent-waits"),
    pytest.param([obj("d", deleting=True), obj("p1", "d")], [], [], [], id="deletion-without-finalizer"),
])
def test_foreground(objects: list, delete: list, mark: list, finish: list) -> None:
    plan = foreground([("X", o) for o in objects])
    assert (names(plan.delete), names(plan.mark), names(plan.finish)) == (delete, mark, finish)


@pytest.mark.parametrize(("change", "wakes"), [
    pytest.param(Change(2, "MODIFIED", "Deployment", "default", obj("d", fg=True), obj("d")), True,
                 id="owner-marked-foreground"),
    pytest.param(Change(2, "DELETED", "Endpoints", "default", obj("e", "d")), True,
                 id="dependent-deleted-may-unblock"),
    pytest.param(Change(2, "MODIFIED", "Deployment", "default", obj("d"), obj("d")), False, id="owner-changed"),
    pytest.param(Change(2, "MODIFIED", "Event", "default", obj("e", fg=True), obj("e")), True,
                 id="any-kind-marked-foreground"),
    pytest.param(Change(2, "DELETED", "Event", "default", obj("e")), False, id="event-expired"),
])
def test_foreground_wakes_the_collector(change: Change, wakes: bool) -> None:
    assert makes_garbage(change) is wakes
