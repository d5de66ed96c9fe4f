"""A full disk, for real: three replicas, each with its data directory on a small tmpfs of its
own (mounted by this test, root), filled with a ballast file and freed again.

* the leader's disk fills: it steps down, a healthy member leads, writes go on; the full
  replica keeps serving reads (linearizable ones too: they go through the healthy majority);
* a second disk fills (no majority can persist): a write answers a 507 InsufficientStorage
  Status that names the cause, and it is not applied — not then, not after recovery;
  stale reads go on;
* the ballasts go: the cluster elects a leader and takes writes again by itself, and every
  replica's journal is durable again and holds every acknowledged write.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator

import pytest

from chaos.disk import fill, mount_small_fs, unfill, unmount
from haplane import errors
from haplane.client import Client
from haplane.localcluster import LocalCluster
from tests.integration.conftest import _ports, client_for

SIZE = 48 * 2 ** 20


def configmap(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
            "data": {"k": name}}


@pytest.fixture
def small_disks(tmp_path) -> Iterator[LocalCluster]:  # noqa: ANN001
    lc = LocalCluster(str(tmp_path / "cluster"), base_port=next(_ports))
    mounted: list[str] = []
    try:
        for m in lc.replicas:
            mount_small_fs(lc.path(m.name), SIZE)
            mounted.append(lc.path(m.name))
        lc.start_all()
        lc.wait_ready(timeout=60)
        yield lc
    finally:
        lc.stop_all()
        for path in mounted:
            unmount(path)


def journal_problem(lc: LocalCluster, name: str) -> str | None:
    return lc.get_json(name, "/cluster/self")["journal"]["problem"]


async def until(what: str, check, timeout: float = 30.0):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while True:
        try:
            got = check()
            if asyncio.iscoroutine(got):
                got = await got
            if got:
                return got
        except (OSError, errors.HaplaneError, KeyError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {timeout}s")
        await asyncio.sleep(0.2)


async def test_full_disks_refuse_writes_with_507_keep_reads_and_recover_by_themselves(small_disks) -> None:  # noqa: ANN001
    lc = small_disks
    names = [m.name for m in lc.replicas]
    async with Client(lc.endpoints, lc.admin_token, timeout=10.0) as c:
        await c.create(configmap("before"))
        old_leader = lc.wait_ready()
        fill(lc.path(old_leader))
        # Its next append fails (the control loops write, and so do we): it steps down.
        await c.create(configmap("during-one-full"))
        new_leader = await until("a healthy leader", lambda: (n := lc.wait_ready(timeout=5)) != old_leader and n)
        assert journal_problem(lc, old_leader) is not None
        assert "ENOSPC" in journal_problem(lc, old_leader)
        async with client_for(lc, old_leader, max_attempts=1) as full:  # reads go on, through the majority
            assert (await full.get("ConfigMap", "during-one-full"))["data"] == {"k": "during-one-full"}

        fill(lc.path(new_leader))  # now no majority can persist anything
        async with client_for(lc, new_leader, max_attempts=1) as full:
            # The leader learns of its full disk at its next append (it then steps down): that
            # write was appended and sent, so it may yet commit: a 504, or a 507 if it lost the race.
            with pytest.raises((errors.OutcomeUnknown, errors.InsufficientStorage)):
                await full.create(configmap("poke"))
            await until("the second full replica out", lambda: journal_problem(lc, new_leader) is not None)
            with pytest.raises(errors.InsufficientStorage) as refused:
                await full.create(configmap("refused"))
            status = refused.value.to_status()
            assert status["code"] == 507 and status["reason"] == "InsufficientStorage"
            assert "ENOSPC" in status["message"], status
            stale = await full.list("ConfigMap", stale=True)  # reads go on (this replica's state)
            assert {"before", "during-one-full"} <= {o["metadata"]["name"] for o in stale["items"]}

        for name in (old_leader, new_leader):
            assert unfill(lc.path(name))
        await until("every journal durable again",
                    lambda: all(journal_problem(lc, n) is None for n in names), timeout=30)
        await c.create(configmap("after"))  # writes resume by themselves
        for name in names:
            async with client_for(lc, name, max_attempts=1) as one:
                have = await until(f"{name} caught up", lambda one=one: one.list("ConfigMap"))
                got = {o["metadata"]["name"] for o in have["items"]}
                assert {"before", "during-one-full", "after"} <= got, (name, got)
                assert "refused" not in got, "a 507 write is never applied"
        for name in names:
            st = lc.get_json(name, "/cluster/self")["journal"]
            assert st["failures"] > 0 or name not in (old_leader, new_leader)
            assert not os.path.exists(os.path.join(lc.path(name), "raft.wal.meta.tmp"))
