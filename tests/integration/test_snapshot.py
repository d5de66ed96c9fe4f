"""Snapshot save → restore into a fresh cluster reproduces the state hash and the objects.

The restored cluster is checked in three steps: one seeded replica alone (it cannot elect, so
nothing new is written) must report exactly the saved state hash; the full cluster must then
elect, claim a *newer* fencing epoch than the saved one, agree on one state, and hold every
object with its resourceVersion; and a member added later must receive the seeded state through
pysyncobj's snapshot install.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from haplane.store import snapshotfile
from tests.integration.elastic import ElasticCluster

pytestmark = pytest.mark.integration


async def _self(lc: ElasticCluster, name: str) -> dict:
    async with lc.client([name], max_attempts=1) as c:
        return await c.request("GET", "/cluster/self", params={"hash": "1"})


async def _configmaps(lc: ElasticCluster) -> dict[str, tuple[str, dict]]:
    async with lc.client() as c:
        lst = await c.list("ConfigMap", None)
    return {f"{o['metadata']['namespace']}/{o['metadata']['name']}": (o["metadata"]["resourceVersion"], o["data"])
            for o in lst["items"]}


async def test_save_and_restore_into_a_new_cluster(tmp_path) -> None:  # noqa: ANN001
    src = ElasticCluster(str(tmp_path / "src"))
    src.start_all()
    snap_file = str(tmp_path / "backup.snap")
    try:
        await src.wait_leader()
        async with src.client() as c:
            await c.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
            for i in range(40):
                ns = "shop" if i % 2 else "default"
                await c.create({"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": {"name": f"cm-{i}", "namespace": ns}, "data": {"i": str(i)}})
            await c.delete("ConfigMap", "cm-0", "default")
        before = await _configmaps(src)

        rc, out, err = await src.cli("snapshot", "save", snap_file)
        assert rc == 0, out + err
        snap = snapshotfile.read(snap_file)
        hdr = snap.header
        # Nothing writes on an idle cluster, so every source replica is at the saved state.
        for name in ("r1", "r2", "r3"):
            me = await _self(src, name)
            assert (me["revision"], me["stateHash"]) == (hdr["revision"], hdr["stateHash"]), (name, me, hdr)
        rc, out, err = await src.cli("snapshot", "inspect", snap_file)
        assert rc == 0 and hdr["stateHash"] in out
    finally:
        src.stop_all()

    dst = ElasticCluster(str(tmp_path / "dst"))
    dst.prepare()
    for m in dst.replicas:
        peers = ",".join(str(p.raft) for p in dst.replicas if p.name != m.name)
        rc, out, err = await dst.cli("snapshot", "restore", snap_file, "--data-dir", dst.path(m.name),
                                     "--raft", str(m.raft), "--peers", peers)
        assert rc == 0, out + err
    # Refuses to overwrite Raft state.
    rc, out, err = await dst.cli("snapshot", "restore", snap_file, "--data-dir", dst.path("r1"),
                                 "--raft", str(dst.members["r1"].raft))
    assert rc != 0 and "already holds Raft state" in err
    try:
        dst.start("r1")
        await dst.wait_serving("r1")
        for _ in range(50):  # the dump is loaded on pysyncobj's first tick
            alone = await _self(dst, "r1")
            if alone["appliedIndex"] == 3:
                break
            await asyncio.sleep(0.1)
        assert alone["leader"] is None
        assert (alone["revision"], alone["stateHash"]) == (hdr["revision"], hdr["stateHash"])
        assert alone["term"] == hdr["epoch"]

        dst.start("r2")
        dst.start("r3")
        await dst.wait_leader()
        for _ in range(50):  # the new leader claims its epoch
            if (await _self(dst, "r1"))["epoch"] > hdr["epoch"]:
                break
            await asyncio.sleep(0.1)
        assert (await _self(dst, "r1"))["epoch"] > hdr["epoch"], "the new leader could not claim a newer epoch"
        after = await _configmaps(dst)
        assert after == before
        async with dst.client() as c:
            made = await c.create({"apiVersion": "v1", "kind": "ConfigMap",
                                   "metadata": {"name": "after-restore", "namespace": "shop"}, "data": {}})
        assert int(made["metadata"]["resourceVersion"]) > hdr["revision"]

        # A member added later gets the seeded state by snapshot install, not from an empty log.
        m4 = dst.new_replica("r4", 4)
        dst.start("r4")
        await dst.wait_serving("r4")
        rc, out, err = await dst.cli("cluster", "add-member", "--name", "r4", "--raft", str(m4.raft),
                                     "--http", dst.url("r4"))
        assert rc == 0, out + err
        dst.voters.add("r4")
        await dst.wait_converged(["r1", "r2", "r3", "r4"])
        assert os.path.exists(dst.path("r4", "raft.dump")), "r4 should have received the dump"
    finally:
        dst.stop_all()
