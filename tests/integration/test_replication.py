"""Three real replicas: writes everywhere, CAS, watch resume, crashes, restarts, catch-up, quorum."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import pytest

from haplane import errors
from haplane.client import Client
from haplane.localcluster import LocalCluster
from tests.integration.conftest import client_for, make_cluster


def cm(name: str, value: str = "v", ns: str = "default") -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns},
            "data": {"value": value}}


async def hashes(cluster: LocalCluster, names: list[str]) -> dict[str, str]:
    return {n: cluster.get_json(n, "/cluster/self?hash=1")["stateHash"] for n in names}


async def converge(cluster: LocalCluster, names: list[str], timeout: float = 30.0) -> str:
    """Wait until the named replicas report one state hash; return it."""
    deadline = time.monotonic() + timeout
    seen: dict[str, str] = {}
    while time.monotonic() < deadline:
        try:
            seen = await hashes(cluster, names)
            if len(set(seen.values())) == 1:
                return next(iter(seen.values()))
        except OSError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"replicas did not converge: {seen}")


async def test_writes_through_every_replica(cluster: LocalCluster) -> None:
    for name in ("r1", "r2", "r3"):
        async with client_for(cluster, name) as c:
            created = await c.create(cm(f"from-{name}"))
            assert created["metadata"]["uid"]
    for name in ("r1", "r2", "r3"):
        async with client_for(cluster, name) as c:
            names = {o["metadata"]["name"] for o in (await c.list("ConfigMap"))["items"]}
            assert names == {"from-r1", "from-r2", "from-r3"}, f"{name} must read every write (linearizable)"
    await converge(cluster, ["r1", "r2", "r3"])


async def test_entries_over_64_kib_replicate_cleanly(cluster: LocalCluster, client: Client) -> None:
    """pysyncobj sends an entry of 64 KiB or more in pieces and marks the last piece by the
    unpickled length: with pickle protocol 2 doubling every byte >= 0x80, followers got a
    truncated entry, failed in their tick and stalled replication while the leader resent it.
    Forty concurrent writes of 8 KB of non-ASCII text share entries of that size."""
    await asyncio.gather(*(client.create(cm(f"big-{i}", "é" * 4000)) for i in range(40)))
    await converge(cluster, ["r1", "r2", "r3"])
    for name in ("r1", "r2", "r3"):
        with open(cluster.path(name, "log"), encoding="utf-8", errors="replace") as f:
            log = f.read()
        assert "failed _onTick" not in log, f"{name}'s Raft tick failed:\n{log[-3000:]}"


async def test_cas_conflict(client: Client) -> None:
    first = await client.create(cm("reg", "0"))
    ok = await client.update(dict(first, data={"value": "1"}))
    assert int(ok["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    with pytest.raises(errors.Conflict):
        await client.update(dict(first, data={"value": "2"}))  # stale resourceVersion
    assert (await client.get("ConfigMap", "reg"))["data"] == {"value": "1"}
    with pytest.raises(errors.AlreadyExists):
        await client.create(cm("reg"))
    with pytest.raises(errors.Conflict):
        await client.delete("ConfigMap", "reg", resource_version=first["metadata"]["resourceVersion"])


async def test_watch_resumes_across_a_leader_change(cluster: LocalCluster, client: Client) -> None:
    listed = await client.list("ConfigMap")
    seen: list[tuple[str, str]] = []

    async def watch() -> None:
        async for ev in client.watch("ConfigMap", resource_version=listed["metadata"]["resourceVersion"]):
            if ev["type"] in ("ADDED", "MODIFIED", "DELETED"):
                seen.append((ev["type"], ev["object"]["metadata"]["name"]))
                if len(seen) == 10:
                    return

    task = asyncio.create_task(watch())
    for i in range(5):
        await client.create(cm(f"w{i}"))
    leader = cluster.wait_ready()
    cluster.kill(leader)
    for i in range(5, 10):
        await client.create(cm(f"w{i}"))
    await asyncio.wait_for(task, 30)
    assert seen == [("ADDED", f"w{i}") for i in range(10)], "every event exactly once, in order"


async def test_kill_leader_while_writing(cluster: LocalCluster, client: Client) -> None:
    acked: list[str] = []
    stop = asyncio.Event()

    async def writer() -> None:
        i = 0
        while not stop.is_set():
            try:
                await client.create(cm(f"k{i}"))
                acked.append(f"k{i}")
            except (errors.OutcomeUnknown, errors.Unavailable):
                pass
            i += 1

    task = asyncio.create_task(writer())
    await asyncio.sleep(1.0)
    leader = cluster.wait_ready()
    cluster.kill(leader)
    before = len(acked)
    survivors = [n for n in ("r1", "r2", "r3") if n != leader]
    cluster.wait_ready(timeout=30, names=survivors)
    deadline = time.monotonic() + 20
    while len(acked) < before + 20 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    stop.set()
    await task
    assert len(acked) >= before + 20, "writes succeed again through the survivors"
    names = {o["metadata"]["name"] for o in (await client.list("ConfigMap"))["items"]}
    assert set(acked) <= names, "no acknowledged write lost"


async def test_kill_all_and_restart_keeps_every_acknowledged_write(cluster: LocalCluster, client: Client) -> None:
    acked = []
    for i in range(60):
        await client.create(cm(f"d{i}", str(i)))
        acked.append(f"d{i}")
    for name in ("r1", "r2", "r3"):
        cluster.kill(name)
    for name in ("r1", "r2", "r3"):
        cluster.start(name)
    cluster.wait_ready(timeout=60)
    async with Client(cluster.endpoints, cluster.admin_token) as c:
        items = (await c.list("ConfigMap"))["items"]
    assert {o["metadata"]["name"] for o in items} >= set(acked)
    assert all(o["data"]["value"] == o["metadata"]["name"][1:] for o in items)
    await converge(cluster, ["r1", "r2", "r3"])


async def test_lagging_replica_catches_up(tmp_path) -> None:  # noqa: ANN001
    # A small compaction threshold makes the lagging replica need a snapshot, not just entries.
    lc = make_cluster(tmp_path, env={"HAPLANE_RAFT_COMPACTION_ENTRIES": "200"})
    try:
        lc.wait_ready(timeout=60)
        lc.kill("r3")
        async with Client(lc.endpoints[:2], lc.admin_token) as c:
            await asyncio.gather(*(c.create(cm(f"l{i}")) for i in range(600)))
        lc.start("r3")
        final = await converge(lc, ["r1", "r2", "r3"], timeout=60)
        assert final
        async with client_for(lc, "r3") as c:
            assert len((await c.list("ConfigMap", stale=True))["items"]) == 600
    finally:
        lc.stop_all()


def syn_sent_to(port: int) -> int:
    """Connections on this host to 127.0.0.1:``port`` still in SYN-SENT (Linux /proc/net/tcp)."""
    with open("/proc/net/tcp", encoding="ascii") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    return sum(1 for r in rows if r[2] == f"0100007F:{port:04X}" and r[3] == "02")


def test_a_long_paused_replica_is_reached_as_soon_as_it_resumes(cluster: LocalCluster) -> None:
    # r1 has the lowest Raft address, so both peers dial it (pysyncobj: the greater address dials).
    # While it was stopped, our keepalive made each peer redial every 2 s; pysyncobj's listen
    # backlog of 5 was full after ~10 s, later SYNs were dropped, and the peers waited for the
    # kernel's retry (16-32 s apart by then): after a 30 s pause r1 was cut off for 11-14 s after
    # it resumed, and a resumed old leader campaigned meanwhile (test_controllers.py::
    # test_paused_leader_cannot_land_decisions). Now both peers reach it within a round trip.
    cluster.wait_ready()
    paused_at = time.monotonic()
    cluster.pause("r1")
    leader = cluster.wait_ready(timeout=30, names=["r2", "r3"], not_leader="r1")
    time.sleep(max(0.0, 30.0 - (time.monotonic() - paused_at)))
    r1_port = int(str(cluster.members["r1"].raft).rsplit(":", 1)[1])
    samples = []
    for _ in range(3):  # a dial stuck in SYN-SENT stays there for seconds; one in flight does not
        samples.append(syn_sent_to(r1_port))
        time.sleep(0.2)
    stuck = min(samples)
    cluster.resume("r1")
    resumed_at = time.monotonic()
    seen: dict = {}
    while time.monotonic() - resumed_at < 30:
        try:
            seen = cluster.get_json("r1", "/cluster/self", timeout=1.0)["peersConnected"]
        except OSError:
            seen = {}
        if len(seen) == 2 and all(seen.values()):
            break
        time.sleep(0.05)
    waited = time.monotonic() - resumed_at
    assert stuck == 0, f"{stuck} dial(s) to the paused r1 left waiting for the kernel's SYN retry"
    assert len(seen) == 2 and all(seen.values()), f"r1 never reconnected to both peers: {seen}"
    # A redial is bounded by pysyncobj's connectionTimeout (2 s); it takes well under a second.
    assert waited < 5.0, f"r1 was reached only {waited:.1f}s after it resumed ({leader} led meanwhile)"


async def test_without_quorum_writes_get_a_bounded_503(cluster: LocalCluster) -> None:
    leader = cluster.wait_ready()
    others = [n for n in ("r1", "r2", "r3") if n != leader]
    cluster.kill(others[0])
    cluster.kill(others[1])
    await asyncio.sleep(3)  # past the leader's fallback timeout
    async with client_for(cluster, leader, max_attempts=1) as c:
        t0 = time.monotonic()
        with pytest.raises((errors.Unavailable, errors.OutcomeUnknown)) as info:
            await c.create(cm("nope"))
        elapsed = time.monotonic() - t0
    assert elapsed < 10, f"the request must be bounded in time, took {elapsed:.1f}s"
    assert isinstance(info.value, errors.Unavailable), f"no quorum is a 503, got {info.value!r}"
    async with client_for(cluster, leader, max_attempts=1) as c:
        with pytest.raises(errors.Unavailable):
            await c.list("ConfigMap")  # a linearizable read cannot be served either


async def test_peer_with_wrong_secret_is_refused(cluster: LocalCluster, tmp_path) -> None:  # noqa: ANN001
    async with Client(cluster.endpoints, cluster.admin_token) as c:
        await c.create(cm("before"))
    # The intruder takes the Raft address of a follower that is down, with the wrong secret.
    # (A follower: killing the leader would start a new term and a new epoch claim.)
    leader = cluster.wait_ready()
    victim = next(n for n in ("r3", "r2", "r1") if n != leader)
    survivors = [n for n in ("r1", "r2", "r3") if n != victim]
    await converge(cluster, ["r1", "r2", "r3"])
    cluster.kill(victim)
    before = await converge(cluster, survivors)
    (tmp_path / "bad-secret").write_text("not-the-cluster-secret-at-all\n")
    m = cluster.members[victim]
    argv = cluster.replica_argv(m)
    argv[argv.index("--cluster-secret-file") + 1] = str(tmp_path / "bad-secret")
    argv[argv.index("--data-dir") + 1] = str(tmp_path / "intruder")
    log = open(tmp_path / "intruder.log", "wb")  # noqa: SIM115
    intruder = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        await asyncio.sleep(6)
        st = cluster.get_json(victim, "/cluster/self")
        assert st["leader"] in (None, m.raft), f"the intruder must not find the cluster's leader: {st}"
        assert st["revision"] == 0, "the intruder must not receive any data"
        assert set((await hashes(cluster, survivors)).values()) == {before}, "the intruder injected nothing"
        assert cluster.wait_ready(names=survivors) == leader, "the intruder disturbed no election"
        async with Client([cluster.members[n].url for n in survivors], cluster.admin_token) as c:
            await c.create(cm("after"))
    finally:
        intruder.kill()
        intruder.wait()
        log.close()


def test_replica_refuses_to_start_without_a_secret(tmp_path) -> None:  # noqa: ANN001
    (tmp_path / "empty").write_text("")
    (tmp_path / "tokens").write_text("a" * 20 + ",admin,admin\n")
    proc = subprocess.run(
        [sys.executable, "-m", "haplane.server", "--name", "x", "--raft", "127.0.0.1:20999", "--http",
         "127.0.0.1:20998", "--data-dir", str(tmp_path / "d"), "--cluster-secret-file", str(tmp_path / "empty"),
         "--tokens-file", str(tmp_path / "tokens")],
        capture_output=True, text=True, timeout=30, env=dict(os.environ))
    assert proc.returncode != 0
    assert "secret" in proc.stderr
