"""The snapshot file: round trip, and every kind of damage detected."""

from __future__ import annotations

import os

import pytest

from haplane.store import commands, seed, snapshotfile
from haplane.store.fsm import StateMachine


def _fsm() -> StateMachine:
    fsm = StateMachine()
    ops = [commands.create("Namespace", "", {"metadata": {"name": "default"}}, rid="ns"),
           commands.create("ConfigMap", "default", {"metadata": {"name": "a", "namespace": "default"},
                                                     "data": {"k": "v", "n": "1"}}, rid="a"),
           commands.create("ConfigMap", "default", {"metadata": {"name": "a", "namespace": "default"}}, rid="dup"),
           commands.claim(4, "r2")]
    fsm.apply_entry(commands.encode_entry(ops))
    return fsm


def test_round_trip_keeps_the_state_hash() -> None:
    fsm = _fsm()
    data = snapshotfile.encode(snapshotfile.capture(fsm), {"takenBy": "r1"})
    snap = snapshotfile.decode(data)
    assert snap.header["stateHash"] == fsm.state_hash()
    assert snap.header["takenBy"] == "r1" and snap.header["revision"] == fsm.rev and snap.header["epoch"] == 4
    restored = StateMachine()
    restored.restore(snap.state)
    assert restored.state_hash() == fsm.state_hash()
    assert restored.dedup["dup"][0] == "err"  # request-id outcomes survive (tuples again)
    assert snap.objects == 2


def test_capture_is_a_consistent_copy() -> None:
    fsm = _fsm()
    state = snapshotfile.capture(fsm)
    want = snapshotfile.state_hash(state)
    fsm.apply_entry(commands.encode_entry([commands.create("ConfigMap", "default",
                                                           {"metadata": {"name": "b", "namespace": "default"}})]))
    assert snapshotfile.state_hash(state) == want != fsm.state_hash()


@pytest.mark.parametrize("damage", [
    pytest.param(lambda d: b"X" + d[1:], id="magic"),
    pytest.param(lambda d: d[:-10], id="truncated"),
    pytest.param(lambda d: d[:-5] + bytes([d[-5] ^ 1]) + d[-4:], id="bit-flip"),
    pytest.param(lambda d: d.replace(b'"format": 1', b'"format": 9'), id="format"),
    pytest.param(lambda d: d.replace(b'"stateHash": "', b'"stateHash": "0'), id="hash-in-header"),
])
def test_damage_is_detected(damage) -> None:  # noqa: ANN001
    data = snapshotfile.encode(snapshotfile.capture(_fsm()))
    with pytest.raises(snapshotfile.SnapshotError):
        snapshotfile.decode(damage(data))


def test_write_atomic_and_read(tmp_path) -> None:  # noqa: ANN001
    path = str(tmp_path / "s.snap")
    data = snapshotfile.encode(snapshotfile.capture(_fsm()))
    snapshotfile.write_atomic(path, data)
    assert snapshotfile.read(path).header["sha256"]
    assert os.listdir(tmp_path) == ["s.snap"]
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"


def test_seed_refuses_raft_state_and_bad_addresses(tmp_path) -> None:  # noqa: ANN001
    state = snapshotfile.capture(_fsm())
    with pytest.raises(seed.SeedError):
        seed.seed(str(tmp_path / "x"), state, "nohost", [], term=1)
    seed.seed(str(tmp_path / "a"), state, "127.0.0.1:1", ["127.0.0.1:2"], term=4)
    assert seed.has_raft_state(str(tmp_path / "a"))
    with pytest.raises(seed.SeedError, match="already holds Raft state"):
        seed.seed(str(tmp_path / "a"), state, "127.0.0.1:1", [], term=4)
