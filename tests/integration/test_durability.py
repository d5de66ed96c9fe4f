"""Durability of acknowledged writes: three real RaftNodes (in one process, real sockets, free
ports), a stream of entries; at the moment each is acknowledged (its callback, on the leader's
tick thread) its record must already lie within the fsynced length the journal recorded on a
majority of the replicas — the same record the power-loss nemesis cuts back to.

With ``fsync=False`` the same check must fail: the harness (and this test) can tell the difference.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from chaos.disk import corrupt_record, tear_last_record
from haplane.store import commands
from haplane.store.fsm import StateMachine
from haplane.store.journal import DurableJournal, read_synced_length, scan
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


def server(tmp_path: Any, data_dir: str) -> subprocess.Popen:
    raft, http = free_ports(2)
    (tmp_path / "secret").write_text(SECRET)
    (tmp_path / "tokens").write_text("admin-token-0123456789,admin,admin\n")
    argv = [sys.executable, "-m", "haplane.server", "--name", "r1", "--raft", f"127.0.0.1:{raft}",
            "--http", f"127.0.0.1:{http}", "--data-dir", data_dir,
            "--cluster-secret-file", str(tmp_path / "secret"), "--tokens-file", str(tmp_path / "tokens")]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def journal_of(tmp_path: Any, entries: int) -> str:
    data_dir = str(tmp_path / "data")
    os.makedirs(data_dir)
    j = DurableJournal(os.path.join(data_dir, "raft.wal"))
    for i in range(1, entries + 1):
        j.add(b"\x00", i, 1)
    j.setCurrentTerm(1, None)
    j._destroy()
    return data_dir


@pytest.mark.parametrize("damage, expect_exit, needles", [
    pytest.param("corrupt-middle", 2, ["raft.wal is corrupt at byte", "haplane snapshot restore", "wipe"],
                 id="corrupt-middle-refuses"),
    pytest.param("bad-dump", 2, ["raft.dump is corrupt at byte 0", "does not read back"], id="bad-dump-refuses"),
    pytest.param("tear", None, ["cut back to the last good entry"], id="torn-tail-repaired-and-serves"),
])
def test_a_damaged_data_dir_at_start(tmp_path, damage: str, expect_exit: int | None,  # noqa: ANN001
                                     needles: list[str]) -> None:
    data_dir = journal_of(tmp_path, 6)
    wal_path = os.path.join(data_dir, "raft.wal")
    if damage == "tear":
        tear_last_record(wal_path)
    elif damage == "corrupt-middle":
        corrupt_record(wal_path, "middle")
    else:
        with open(os.path.join(data_dir, "raft.dump"), "wb") as f:
            f.write(b"\x1f\x8b\x08\x00garbage")
    proc = server(tmp_path, data_dir)
    try:
        out = ""
        if expect_exit is not None:
            out, _ = proc.communicate(timeout=60)
            assert proc.returncode == expect_exit
        else:
            deadline = time.monotonic() + 60
            assert proc.stdout is not None
            for line in proc.stdout:
                out += line
                if "serving HTTP" in line or time.monotonic() > deadline:
                    break
            assert proc.poll() is None, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    for needle in needles:
        assert needle in out, out
    assert "Traceback" not in out
