"""List and watch options (haplane.api.listing) and lists at a past revision (haplane.store.rewind)."""

from __future__ import annotations

import asyncio

import pytest

from haplane.api.listing import decode_continue, encode_continue, parse_list, parse_watch
from haplane.errors import BadRequest, Expired
from haplane.store import commands
from haplane.store.fsm import StateMachine
from haplane.store.rewind import page, rewind
from haplane.store.watch import WatchHub


def pod(name: str, ns: str = "default", node: str = "", phase: str = "Running", **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "uid": f"u-{name}", **({"labels": labels} if labels else {})},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}]}, "status": {"phase": phase}}


def opts_fields(o: object) -> dict:
    return {k: getattr(o, k) for k in ("limit", "at", "not_older_than", "stale", "after")}


T = encode_continue(12, ("default", "b"))


@pytest.mark.parametrize(("query", "want"), [
    pytest.param({}, {"limit": None, "at": None, "not_older_than": None, "stale": False, "after": None},
                 id="most-recent"),
    pytest.param({"resourceVersion": "0"}, {"limit": None, "at": None, "not_older_than": None, "stale": True,
                                            "after": None}, id="any"),
    pytest.param({"resourceVersion": "40"}, {"limit": None, "at": None, "not_older_than": 40, "stale": False,
                                             "after": None}, id="not-older-than"),
    pytest.param({"resourceVersion": "40", "limit": "5"}, {"limit": 5, "at": 40, "not_older_than": None,
                                                           "stale": False, "after": None}, id="limit-exact"),
    pytest.param({"resourceVersion": "40", "resourceVersionMatch": "Exact"},
                 {"limit": None, "at": 40, "not_older_than": None, "stale": False, "after": None}, id="exact"),
    pytest.param({"resourceVersion": "40", "resourceVersionMatch": "NotOlderThan", "limit": "5"},
                 {"limit": 5, "at": None, "not_older_than": 40, "stale": False, "after": None},
                 id="not-older-than-limit"),
    pytest.param({"resourceVersion": "0", "resourceVersionMatch": "NotOlderThan"},
                 {"limit": None, "at": None, "not_older_than": None, "stale": True, "after": None},
                 id="not-older-than-zero"),
    pytest.param({"limit": "500"}, {"limit": 500, "at": None, "not_older_than": None, "stale": False, "after": None},
                 id="kubectl-limit"),
    pytest.param({"limit": "0"}, {"limit": None, "at": None, "not_older_than": None, "stale": False, "after": None},
                 id="limit-zero-is-none"),
    pytest.param({"limit": "2", "continue": T}, {"limit": 2, "at": 12, "not_older_than": None, "stale": False,
                                                 "after": ("default", "b")}, id="continue"),
    pytest.param({"continue": T, "resourceVersion": "0"}, {"limit": None, "at": 12, "not_older_than": None,
                                                           "stale": False, "after": ("default", "b")},
                 id="continue-rv0-is-the-token"),
    pytest.param({"stale": "1"}, {"limit": None, "at": None, "not_older_than": None, "stale": True, "after": None},
                 id="stale"),
])
def test_parse_list(query: dict, want: dict) -> None:
    assert opts_fields(parse_list("Pod", query)) == want


@pytest.mark.parametrize("query", [
    pytest.param({"limit": "-1"}, id="negative-limit"),
    pytest.param({"limit": "x"}, id="bad-limit"),
    pytest.param({"resourceVersion": "abc"}, id="bad-rv"),
    pytest.param({"resourceVersionMatch": "Exact"}, id="match-without-rv"),
    pytest.param({"resourceVersion": "0", "resourceVersionMatch": "Exact"}, id="exact-zero"),
    pytest.param({"resourceVersion": "3", "resourceVersionMatch": "Newest"}, id="unknown-match"),
    pytest.param({"continue": T, "resourceVersion": "7"}, id="continue-with-rv"),
    pytest.param({"continue": "not-a-token"}, id="garbage-token"),
    pytest.param({"continue": encode_continue(1, ("a", "b"))[:-3]}, id="truncated-token"),
    pytest.param({"fieldSelector": "spec.foo=bar"}, id="unsupported-field"),
    pytest.param({"labelSelector": "a in (b"}, id="bad-label-selector"),
])
def test_parse_list_rejects(query: dict) -> None:
    with pytest.raises(BadRequest):
        parse_list("Pod", query)


def test_continue_token_round_trip() -> None:
    assert decode_continue(encode_continue(99, ("ns", "a-b.c"))) == (99, ("ns", "a-b.c"))


@pytest.mark.parametrize(("query", "want"), [
    pytest.param({"resourceVersion": "5"}, (5, False, False, False, 3600.0), id="resume"),
    pytest.param({}, (None, False, True, False, 3600.0), id="list-then-watch"),
    pytest.param({"resourceVersion": "0", "timeoutSeconds": "30"}, (None, True, True, False, 30.0), id="rv0"),
    pytest.param({"allowWatchBookmarks": "true", "timeoutSeconds": "99999"}, (None, False, True, False, 3600.0),
                 id="capped-timeout"),
    pytest.param({"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan", "allowWatchBookmarks": "true"},
                 (None, False, True, True, 3600.0), id="watch-list"),
    pytest.param({"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan", "allowWatchBookmarks": "true",
                  "resourceVersion": "0"}, (None, True, True, True, 3600.0), id="watch-list-any"),
    pytest.param({"sendInitialEvents": "false", "resourceVersionMatch": "NotOlderThan"},
                 (None, False, False, False, 3600.0), id="no-initial-events"),
])
def test_parse_watch(query: dict, want: tuple) -> None:
    o = parse_watch("Pod", query)
    assert (o.since, o.stale, o.initial_events, o.initial_events_end, o.timeout) == want


@pytest.mark.parametrize("query", [
    pytest.param({"sendInitialEvents": "true", "allowWatchBookmarks": "true"}, id="initial-without-match"),
    pytest.param({"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan"}, id="initial-no-bookmarks"),
    pytest.param({"resourceVersionMatch": "NotOlderThan", "resourceVersion": "3"}, id="match-without-initial"),
    pytest.param({"timeoutSeconds": "-1"}, id="negative-timeout"),
    pytest.param({"allowWatchBookmarks": "maybe"}, id="bad-flag"),
    pytest.param({"fieldSelector": "status.foo=x"}, id="unsupported-field"),
])
def test_parse_watch_rejects(query: dict) -> None:
    with pytest.raises(BadRequest):
        parse_watch("Pod", query)


# ------------------------------------------------------------------ rewind


def _apply(fsm: StateMachine, *ops: dict) -> None:
    fsm.apply_entry(commands.encode_entry(list(ops)))


@pytest.fixture
def history() -> tuple[StateMachine, WatchHub, dict[str, int]]:
    """A state machine with a watch window and the revision after each step."""
    loop = asyncio.new_event_loop()
    fsm = StateMachine()
    hub = WatchHub(fsm, loop)
    revs: dict[str, int] = {}
    _apply(fsm, commands.create("Namespace", "", {"apiVersion": "v1", "kind": "Namespace",
                                                  "metadata": {"name": "default", "uid": "ns"}}))
    _apply(fsm, *(commands.create("Pod", "default", pod(n, phase="Pending")) for n in "abcd"))
    revs["created"] = fsm.rev
    _apply(fsm, commands.update("Pod", "default", "b", pod("b", node="n1")))
    _apply(fsm, commands.delete("Pod", "default", "c"))
    _apply(fsm, commands.create("Pod", "default", pod("aa")))
    revs["changed"] = fsm.rev
    yield fsm, hub, revs
    loop.close()


def _state(fsm: StateMachine) -> dict:
    items, _ = fsm.list("Pod", "default")
    return {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in items}


def test_rewind_restores_the_past(history) -> None:
    fsm, hub, revs = history
    past = rewind(_state(fsm), hub.changes_after(revs["created"]), "Pod", "default")
    assert sorted(k[1] for k in past) == ["a", "b", "c", "d"]
    assert past[("default", "b")]["spec"]["nodeName"] == ""
    assert all(int(o["metadata"]["resourceVersion"]) <= revs["created"] for o in past.values())
    assert rewind(_state(fsm), hub.changes_after(revs["changed"]), "Pod", "default") == _state(fsm)


def test_rewind_before_the_window_is_expired(history) -> None:
    fsm, hub, revs = history
    hub.floor = revs["created"] + 1  # as if the window had moved on
    with pytest.raises(Expired):
        hub.changes_after(revs["created"])


@pytest.mark.parametrize(("after", "limit", "match", "want", "next_key", "remaining"), [
    pytest.param(None, None, None, ["a", "b", "c", "d"], None, 0, id="all"),
    pytest.param(None, 2, None, ["a", "b"], ("default", "b"), 2, id="first-page"),
    pytest.param(("default", "b"), 2, None, ["c", "d"], None, 0, id="last-page"),
    pytest.param(("default", "a"), 1, None, ["b"], ("default", "b"), 2, id="middle"),
    pytest.param(None, 1, "b", ["b"], None, 0, id="filtered"),
])
def test_page(history, after, limit, match, want, next_key, remaining) -> None:
    fsm, hub, revs = history
    past = rewind(_state(fsm), hub.changes_after(revs["created"]), "Pod", "default")
    pg = page(past, (lambda o: o["metadata"]["name"] == match) if match else (lambda o: True), after=after,
              limit=limit)
    assert [o["metadata"]["name"] for o in pg.items] == want
    assert (pg.next_key, pg.remaining) == (next_key, remaining)
