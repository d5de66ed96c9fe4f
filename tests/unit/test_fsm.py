"""The state machine: table-driven op semantics, determinism, snapshot round trip."""

from __future__ import annotations

import copy
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haplane.store import commands as c
from haplane.store.fsm import StateMachine


def ns_obj(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "uid": f"u-{name}"}}


def cm(name: str, ns: str = "default", data: dict | None = None, **meta) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns, "uid": f"u-{ns}-{name}", **meta}, "data": data or {}}


def pod(name: str, ns: str = "default", image: str = "a") -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "uid": f"p-{name}"},
            "spec": {"containers": [{"name": "c", "image": image}]}, "status": {"phase": "Pending"}}


def apply(fsm: StateMachine, *ops: dict) -> list:
    return fsm.apply_entry(c.encode_entry(list(ops)))


@pytest.fixture
def fsm() -> StateMachine:
    m = StateMachine()
    apply(m, c.create("Namespace", "", ns_obj("default")))
    return m


def code(result: tuple) -> int:
    return 200 if result[0] == "ok" else result[1]


@pytest.mark.parametrize("ops, expected", [
    pytest.param([c.create("ConfigMap", "default", cm("a"))], [200], id="create"),
    pytest.param([c.create("ConfigMap", "default", cm("a")), c.create("ConfigMap", "default", cm("a"))],
                 [200, 409], id="create-twice-already-exists"),
    pytest.param([c.create("ConfigMap", "nope", cm("a", ns="nope"))], [404], id="create-in-missing-namespace"),
    pytest.param([c.update("ConfigMap", "default", "a", cm("a"))], [404], id="update-missing"),
    pytest.param([c.create("ConfigMap", "default", cm("a")),
                  c.update("ConfigMap", "default", "a", cm("a", data={"k": "v"}), rv="2")],
                 [200, 200], id="update-with-matching-rv"),
    pytest.param([c.create("ConfigMap", "default", cm("a")),
                  c.update("ConfigMap", "default", "a", cm("a", data={"k": "v"}), rv="1")],
                 [200, 409], id="update-with-stale-rv-conflicts"),
    pytest.param([c.create("ConfigMap", "default", cm("a")),
                  c.update("ConfigMap", "default", "a", cm("a"), uid="other")],
                 [200, 409], id="update-with-wrong-uid-conflicts"),
    pytest.param([c.create("ConfigMap", "default", cm("a")), c.delete("ConfigMap", "default", "a", rv="1")],
                 [200, 409], id="delete-with-stale-rv-conflicts"),
    pytest.param([c.create("ConfigMap", "default", cm("a")), c.delete("ConfigMap", "default", "a", rv="2"),
                  c.delete("ConfigMap", "default", "a")], [200, 200, 404], id="delete-then-404"),
    pytest.param([c.delete("Namespace", "", "default")], [403], id="default-namespace-protected"),
    pytest.param([{"t": "frobnicate"}], [400], id="unknown-op-is-an-error-not-a-crash"),
    pytest.param([{"t": "create", "kind": "ConfigMap"}], [400], id="malformed-op-is-an-error-not-a-crash"),
    pytest.param([c.claim(5, "r1"), c.claim(4, "r2")], [200, 409], id="older-claim-rejected"),
    pytest.param([c.claim(5, "r1"), c.create("ConfigMap", "default", cm("a"), epoch=4)], [200, 409],
                 id="fenced-write-from-older-epoch"),
    pytest.param([c.claim(5, "r1"), c.create("ConfigMap", "default", cm("a"), epoch=5)], [200, 200],
                 id="write-from-current-epoch"),
])
def test_op_semantics(fsm: StateMachine, ops: list[dict], expected: list[int]) -> None:
    assert [code(r) for r in apply(fsm, *ops)] == expected


def test_revision_and_generation(fsm: StateMachine) -> None:
    (r,) = apply(fsm, c.create("Pod", "default", pod("p")))
    assert r[1]["metadata"]["resourceVersion"] == "2"
    assert r[1]["metadata"]["generation"] == 1
    new = pod("p", image="b")
    (r,) = apply(fsm, c.update("Pod", "default", "p", new))
    assert r[1]["metadata"]["generation"] == 2, "a spec change bumps generation"
    status = dict(r[1], status={"phase": "Running"})
    (r,) = apply(fsm, c.update("Pod", "default", "p", status, status=True))
    assert r[1]["metadata"]["generation"] == 2, "a status write does not bump generation"
    assert r[1]["status"] == {"phase": "Running"}
    assert r[1]["spec"]["containers"][0]["image"] == "b"
    (r,) = apply(fsm, c.update("Pod", "default", "p", dict(pod("p", image="b"), status={"phase": "X"})))
    assert r[1]["status"] == {"phase": "Running"}, "a main-resource write keeps the status"
    assert fsm.rev == 4


def test_noop_update_bumps_nothing(fsm: StateMachine) -> None:
    apply(fsm, c.create("ConfigMap", "default", cm("a", data={"k": "v"})))
    rev = fsm.rev
    (r,) = apply(fsm, c.update("ConfigMap", "default", "a", cm("a", data={"k": "v"})))
    assert r[0] == "ok" and fsm.rev == rev


def test_request_id_applies_once(fsm: StateMachine) -> None:
    op = c.create("ConfigMap", "default", cm("a"), rid="req-1")
    first, again = apply(fsm, op, op)
    assert first[0] == "ok" and again[0] == "ok", "a retried create answers like the first time"
    assert again[1]["metadata"]["uid"] == first[1]["metadata"]["uid"]
    assert fsm.rev == 2
    failing = c.create("ConfigMap", "default", cm("a"), rid="req-2")
    assert apply(fsm, failing) == apply(fsm, failing)


def test_namespace_delete_removes_contents_first(fsm: StateMachine) -> None:
    events = []
    fsm.listener = events.extend
    apply(fsm, c.create("Namespace", "", ns_obj("shop")), c.create("ConfigMap", "shop", cm("a", ns="shop")),
          c.create("Pod", "shop", pod("p", ns="shop")), c.create("ConfigMap", "default", cm("keep")))
    events.clear()
    (r,) = apply(fsm, c.delete("Namespace", "", "shop"))
    assert r[0] == "ok"
    assert [(e.type, e.kind) for e in events] == [("DELETED", "ConfigMap"), ("DELETED", "Pod"),
                                                  ("DELETED", "Namespace")]
    assert fsm.get("ConfigMap", "default", "keep") is not None
    assert fsm.list("Pod", "shop")[0] == []
    assert [e.rv for e in events] == sorted(e.rv for e in events)


def test_failed_op_changes_nothing(fsm: StateMachine) -> None:
    before = fsm.state_hash()
    apply(fsm, c.update("ConfigMap", "default", "missing", cm("missing")))
    apply(fsm, {"t": "create", "kind": "ConfigMap", "ns": "default", "obj": {"metadata": {}}})
    assert fsm.state_hash() == before


def test_stored_objects_are_not_aliased_to_the_command(fsm: StateMachine) -> None:
    obj = cm("a")
    (r,) = apply(fsm, c.create("ConfigMap", "default", obj))
    obj["data"]["x"] = "y"
    assert fsm.get("ConfigMap", "default", "a")["data"] == {}


def test_undecodable_entry_does_not_raise(fsm: StateMachine) -> None:
    assert fsm.apply_entry(b"\xc1garbage")[0][0] == "err"


# ---------------------------------------------------------------- properties
names = st.sampled_from(["a", "b", "c"])
op_strategy = st.one_of(
    st.builds(lambda n, v: c.create("ConfigMap", "default", cm(n, data={"v": v})), names, st.text(max_size=3)),
    st.builds(lambda n, v, rv: c.update("ConfigMap", "default", n, cm(n, data={"v": v}), rv=rv),
              names, st.text(max_size=3), st.one_of(st.none(), st.integers(1, 30).map(str))),
    st.builds(lambda n, rv: c.delete("ConfigMap", "default", n, rv=rv), names,
              st.one_of(st.none(), st.integers(1, 30).map(str))),
    st.builds(lambda e: c.claim(e, "r"), st.integers(0, 5)),
    st.builds(lambda n, e: c.create("ConfigMap", "default", cm(n), epoch=e), names, st.integers(0, 5)),
    st.builds(lambda n, rid: c.create("ConfigMap", "default", cm(n), rid=rid), names, st.sampled_from("xyz")),
)
batches = st.lists(st.lists(op_strategy, min_size=1, max_size=4), max_size=25)


@settings(max_examples=150, deadline=None)
@given(batches)
def test_same_commands_same_state_hash(entries: list[list[dict]]) -> None:
    a, b = StateMachine(), StateMachine()
    for m in (a, b):
        apply(m, c.create("Namespace", "", ns_obj("default")))
        for ops in entries:
            m.apply_entry(c.encode_entry(copy.deepcopy(ops)))
    assert a.state_hash() == b.state_hash()
    assert a.rev == b.rev


@settings(max_examples=100, deadline=None)
@given(batches, batches)
def test_snapshot_restore_round_trip(first: list[list[dict]], then: list[list[dict]]) -> None:
    a = StateMachine()
    apply(a, c.create("Namespace", "", ns_obj("default")))
    for ops in first:
        a.apply_entry(c.encode_entry(ops))
    b = StateMachine()
    b.restore(pickle.loads(pickle.dumps(a.snapshot())))  # what pysyncobj's dump does
    assert b.state_hash() == a.state_hash()
    for ops in then:
        assert a.apply_entry(c.encode_entry(ops)) == b.apply_entry(c.encode_entry(ops))
    assert b.state_hash() == a.state_hash()
