"""Durability of acknowledged writes: three real RaftNodes (in one process, real sockets, free
ports), a stream of entries; at the moment each is acknowledged (its callback, on the leader's
tick thread) its record must already lie within the fsynced length the journal recorded on a
majority of the replicas — the same record the power-loss nemesis cuts back to.

With ``fsync=False`` the same check must fail: the harness (and this test) can tell the difference.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

import pytest

from haplane.store import commands
from haplane.store.fsm import StateMachine
from haplane.store.journal import read_synced_length, scan
from haplane.store.raft import RaftNode, RaftTiming

SECRET = "durability-test-secret-0123"


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def synced_indexes(data_dir: str) -> set[int]:
    """Raft indexes of the records inside the recorded synced length."""
    path = os.path.join(data_dir, "raft.wal")
    synced = read_synced_length(path) or 0
    with open(path, "rb") as f:
        found = scan(f.read()[:synced])
    return {idx for _, idx, _ in found.entries}


def cluster(tmp_path: Any, fsync: bool) -> tuple[list[RaftNode], list[str]]:
    addrs = [f"127.0.0.1:{p}" for p in free_ports(3)]
    dirs = [str(tmp_path / f"r{i}") for i in range(3)]
    nodes = [RaftNode(self_addr=a, peers=addrs, data_dir=d, secret=SECRET, fsm=StateMachine(),
                      timing=RaftTiming(compaction_entries=100_000), fsync=fsync) for a, d in zip(addrs, dirs, strict=True)]
    return nodes, dirs


def leader_of(nodes: list[RaftNode], timeout: float = 20.0) -> RaftNode:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leaders = [n for n in nodes if n.is_leader]
        if len(leaders) == 1 and all(n.ready for n in nodes):
            return leaders[0]
        time.sleep(0.05)
    raise TimeoutError("no leader")


def run_and_check(tmp_path: Any, fsync: bool, writes: int = 200) -> tuple[int, list[str]]:
    nodes, dirs = cluster(tmp_path, fsync)
    try:
        leader = leader_of(nodes)
        done = threading.Semaphore(0)
        problems: list[str] = []
        acked = 0

        def on_result(results: Any, err: int) -> None:  # leader's tick thread
            nonlocal acked
            if err == 0:
                acked += 1
                idx = leader._sync.raftCommitIndex  # this entry is at or below it
                holders = sum(1 for d in dirs if idx in synced_indexes(d))
                if holders < 2:
                    problems.append(f"entry {idx} acknowledged while fsynced on {holders} of 3")
            done.release()

        for i in range(writes):
            op = commands.create("ConfigMap", "default", {"metadata": {"name": f"cm-{i}"}, "data": {}}, rid=f"r{i}")
            leader.propose(commands.encode_entry([op]), lambda res, err: on_result(res, err))
            assert done.acquire(timeout=10), "no acknowledgement within 10 s"
        return acked, problems
    finally:
        for n in nodes:
            n.destroy()


@pytest.mark.parametrize("fsync", [pytest.param(True, id="fsync"), pytest.param(False, id="unsafe-no-fsync")])
def test_an_acknowledged_entry_is_fsynced_on_a_majority(tmp_path, fsync: bool) -> None:  # noqa: ANN001
    acked, problems = run_and_check(tmp_path, fsync)
    assert acked == 200
    if fsync:
        assert problems == []
    else:
        assert len(problems) == acked, "without fsync the synced length must never cover an acknowledged entry"
