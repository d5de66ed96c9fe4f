"""Group commit's entry sizes (haplane.store.proposer), against a fake Raft that records entries."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from haplane.store import commands
from haplane.store.fsm import StateMachine
from haplane.store.proposer import MAX_ENTRY_BYTES, Proposer
from haplane.store.raft import RaftTiming


class FakeRaft:
    """Commits every entry at once through a real state machine, on the next loop iteration."""

    def __init__(self) -> None:
        self.fsm = StateMachine()
        self.entries: list[bytes] = []
        self.has_quorum = True

    def propose(self, entry: bytes, callback: Any) -> None:
        self.entries.append(entry)
        results = self.fsm.apply_entry(entry)
        asyncio.get_running_loop().call_soon(callback, results, 0)


def configmap(i: int, size: int) -> dict:
    # Non-ASCII on purpose: msgpack keeps it as UTF-8, pickle protocol 2 doubles every such byte.
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm{i}", "namespace": "default"},
            "data": {"v": "é" * (size // 2)}}


@pytest.mark.parametrize(("ops", "size", "limit", "min_entries", "max_entries"), [
    pytest.param(10, 1_000, 100_000, 1, 1, id="small-ops-share-one-entry"),
    pytest.param(40, 8_000, 100_000, 4, 40, id="split-under-the-limit"),
    pytest.param(3, 150_000, 100_000, 3, 3, id="an-op-over-the-limit-goes-alone"),
])
async def test_entries_stay_under_the_byte_limit(ops: int, size: int, limit: int, min_entries: int,
                                                 max_entries: int) -> None:
    raft = FakeRaft()
    raft.fsm.apply_entry(commands.encode_entry([commands.create("Namespace", "", {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})]))
    proposer = Proposer(raft, max_entry_bytes=limit)
    results = await asyncio.gather(*(proposer.submit(commands.create("ConfigMap", "default", configmap(i, size)))
                                     for i in range(ops)))
    assert all(r[0] == "ok" for r in results)
    batches = [commands.decode_entry(e) for e in raft.entries]
    assert min_entries <= len(batches) <= max_entries
    assert all(len(e) <= limit or len(b) == 1 for e, b in zip(raft.entries, batches, strict=True))
    # every op once, in submission order
    assert [op["obj"]["metadata"]["name"] for b in batches for op in b] == [f"cm{i}" for i in range(ops)]


def test_no_entry_the_proposer_builds_is_sent_in_pieces() -> None:
    # The piecewise send of pysyncobj 0.3.17 is broken (see haplane.store.raft): entries must stay below it.
    assert MAX_ENTRY_BYTES * 2 <= RaftTiming().append_batch_bytes
