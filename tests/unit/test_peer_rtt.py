"""Peer round-trip times from the keepalive's ping and its pong (haplane.store.peer_rtt), the
pure part and its wiring into a GuardedSyncObj's real message handler (fake clock, recording
transport, as in test_prevote_syncobj)."""

from __future__ import annotations

import math

import pytest

from haplane.store.peer_rtt import PING, PONG_TYPE, PeerRtt, pong_for
from haplane.store.prevote import CAPABILITY, KEEPALIVE_TYPE
from tests.unit.test_prevote_syncobj import B, C, Clock, clock, node, replica, sent  # noqa: F401 - fixture

KEEPALIVE = {"type": KEEPALIVE_TYPE, CAPABILITY: 1}


@pytest.mark.parametrize("message, pong", [
    ({**KEEPALIVE, PING: 12.5}, {"type": PONG_TYPE, PING: 12.5}),
    ({**KEEPALIVE, PING: 3}, {"type": PONG_TYPE, PING: 3}),
    (KEEPALIVE, None),  # an older replica's keepalive: nothing to answer
    ({**KEEPALIVE, PING: "12"}, None),
    ({**KEEPALIVE, PING: True}, None),
    ({**KEEPALIVE, PING: math.nan}, None),
    ({**KEEPALIVE, PING: math.inf}, None),
    ("not a dict", None),
])
def test_pong_for(message: object, pong: dict | None) -> None:
    assert pong_for(message) == pong


@pytest.mark.parametrize("pongs, now, max_age, expected", [
    pytest.param([("b", 10.0, 10.004)], 10.5, 2.0, {"b": pytest.approx(0.004)}, id="one"),
    pytest.param([("b", 10.0, 10.004), ("b", 10.5, 10.52)], 10.6, 2.0, {"b": pytest.approx(0.02)}, id="last-wins"),
    pytest.param([("b", 10.0, 10.004), ("c", 12.0, 12.001)], 12.5, 2.0, {"c": pytest.approx(0.001)},
                 id="stale-dropped"),
    pytest.param([("b", 11.0, 10.0)], 10.5, 2.0, {}, id="from-the-future-ignored"),
    pytest.param([("b", 10.0, 10.0)], 10.0, 2.0, {"b": 0.0}, id="zero"),
])
def test_peer_rtt(pongs: list[tuple[str, float, float]], now: float, max_age: float, expected: dict) -> None:
    r = PeerRtt()
    for peer, ping, at in pongs:
        r.record(peer, {"type": PONG_TYPE, PING: ping}, at)
    assert r.current(now, max_age) == expected


def test_malformed_pongs_record_nothing() -> None:
    r = PeerRtt()
    assert [r.record("b", m, 5.0) for m in ({}, {PING: "x"}, {PING: None}, {PING: math.nan}, [])] == [None] * 5
    assert r.current(5.0, 10.0) == {}


def test_a_replica_answers_a_ping_and_measures_its_own(clock: Clock) -> None:  # noqa: F811 - fixture
    obj = replica(clock)
    obj._SyncObj__onMessageReceived(node(obj, B), {**KEEPALIVE, PING: 77.25})
    assert sent(obj, PONG_TYPE) == [(B, {"type": PONG_TYPE, PING: 77.25})]  # echoed, not re-stamped
    obj._SyncObj__onMessageReceived(node(obj, C), {"type": KEEPALIVE_TYPE})  # an older replica: no ping, no pong
    assert len(sent(obj, PONG_TYPE)) == 1
    clock.t = 1000.0
    obj._SyncObj__onMessageReceived(node(obj, C), {"type": PONG_TYPE, PING: 999.993})
    assert obj.peer_rtt.current(clock.t, 2.0) == {C: pytest.approx(0.007)}
    # a pong does not count as a keepalive: C's pre-vote capability is whatever its keepalives said
    assert C in obj._election.legacy and C not in obj._election.capable
