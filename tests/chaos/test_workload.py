"""Outcome classification of client results, and the pure parts of the cluster under test."""

from __future__ import annotations

import random

import pytest

from chaos.cluster import ChaosCluster, Link
from chaos.history import FAIL, OK, UNKNOWN, History
from chaos.invariants import client_contract
from chaos.workload import RegisterWorkload, classify, configmap
from haplane import errors
from haplane.client import ConnectionFailed


@pytest.mark.parametrize(("exc", "f", "want"), [
    pytest.param(None, "write", OK, id="success"),
    pytest.param(errors.Conflict("stale rv"), "cas", FAIL, id="cas-409-definite"),
    pytest.param(errors.NotFound("gone"), "write", FAIL, id="404"),
    pytest.param(errors.Invalid("bad"), "write", FAIL, id="422"),
    pytest.param(errors.Unavailable("no quorum"), "write", FAIL, id="503-not-applied"),
    pytest.param(ConnectionFailed("refused"), "create", FAIL, id="post-never-connected"),
    # aiohttp may have sent a PUT on a pooled connection before the refused retry:
    pytest.param(ConnectionFailed("refused"), "write", UNKNOWN, id="put-refused-maybe-sent"),
    pytest.param(ConnectionFailed("refused"), "cas", UNKNOWN, id="cas-refused-maybe-sent"),
    pytest.param(errors.OutcomeUnknown("timed out"), "write", UNKNOWN, id="504-or-timeout-after-send"),
    pytest.param(errors.AlreadyExists("exists"), "create", UNKNOWN, id="create-409-is-not-a-fail"),
    pytest.param(errors.HaplaneError("internal"), "write", UNKNOWN, id="500-unknown"),
    pytest.param(TimeoutError(), "write", UNKNOWN, id="raw-timeout"),
    pytest.param(RuntimeError("bug"), "cas", UNKNOWN, id="anything-else"),
])
def test_classify(exc: BaseException | None, f: str, want: str) -> None:
    assert classify(exc, f)[0] == want


@pytest.fixture
def cluster(tmp_path) -> ChaosCluster:  # noqa: ANN001 - not started: pure methods only
    return ChaosCluster(str(tmp_path), replicas=3, base_port=9000)


def test_cut_between_is_every_cross_pair() -> None:
    links = ChaosCluster.cut_between([["r1"], ["r2", "r3"]])
    assert set(links) == {frozenset(("r1", "r2")), frozenset(("r1", "r3"))}
    bridge = ChaosCluster.cut_between([["r1", "r2"], ["r4", "r5"]])
    assert frozenset(("r1", "r3")) not in bridge and len(bridge) == 4


def test_rules_for_are_symmetric(cluster: ChaosCluster) -> None:
    links = {frozenset(("r1", "r2")): Link(drop=1.0), frozenset(("r1", "r3")): Link(drop=0.1, delay=0.2)}
    r1, r2, r3 = (cluster.rules_for(n, links, 7) for n in ("r1", "r2", "r3"))
    assert r1.is_partitioned(cluster.raft("r2")) and r2.is_partitioned(cluster.raft("r1"))
    assert r1.delay_for(cluster.raft("r3")) == 0.2 and r3.delay_for(cluster.raft("r1")) == 0.2
    assert r3.drop_probability(cluster.raft("r1")) == 0.1
    assert not r2.is_partitioned(cluster.raft("r3")) and r2.delay_for(cluster.raft("r3")) == 0
    assert r1.version == 7


def _st(role: str, term: int, leader: str | None) -> dict:
    return {"role": role, "term": term, "leader": leader}


def test_agreed_leader_needs_a_quorum_in_one_term(cluster: ChaosCluster) -> None:
    a1, a2 = cluster.raft("r1"), cluster.raft("r2")
    assert cluster.agreed_leader({"r1": _st("leader", 2, a1), "r2": _st("follower", 2, a1), "r3": None}) == "r1"
    # an isolated old leader still says it leads, but nobody follows it in its term
    assert cluster.agreed_leader({"r1": _st("leader", 1, a1), "r2": _st("leader", 3, a2),
                                  "r3": _st("follower", 3, a2)}) == "r2"
    assert cluster.agreed_leader({"r1": _st("leader", 1, a1), "r2": _st("follower", 2, None),
                                  "r3": None}) is None
    assert cluster.agreed_leader({"r1": _st("leader", 2, a1), "r2": _st("follower", 1, a1), "r3": None}) is None


class _Stub:
    """A client whose writes are refused with ``exc`` and whose reads return ``reg-0 = 0.1``."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    async def update(self, body: dict, request_id: str | None = None) -> dict:
        raise self.exc

    async def get(self, kind: str, name: str, namespace: str) -> dict:
        return configmap("reg-0", "0.1", "t", rv="9")


async def test_a_failed_write_keeps_its_error_where_client_contract_looks(cluster: ChaosCluster) -> None:
    """A write the client called not applied (503), then read back: client-contract must fail —
    which it can only do if the error text is recorded as the op's error (it once went to output)."""
    h = History()
    w = RegisterWorkload(cluster, h, random.Random(1), "t")
    op = await w._write(0, _Stub(errors.Unavailable("no quorum")), "reg-0", "0.1", None, {})
    assert op.result == FAIL and op.output is None and (op.error or "").startswith("Unavailable: no quorum")
    read = await w._read(1, _Stub(errors.Unavailable("no quorum")), "reg-0", {})
    assert read.output == "0.1"
    assert client_contract(h).ok is False
    assert w.versions[-1].rv == 9 and w.versions[-1].value == "0.1"  # what the read saw, for the watch checks
