"""A replica's wall clock stepped an hour forward, then back, then a follower's: nothing changes.

Real replicas, each on a wall clock the test steps (chaos.wallclock: only the realtime clocks
move; monotonic clocks, sleeps and timed waits do not, as on a host whose clock is stepped).
Checked: the same leader at the same term on every replica (Raft's timers are monotonic), no
Event expired by the garbage collector on the stepped leader (TTL 1 h: an Event 50 minutes old
would be gone after a +1 h step of a naive clock), and the timestamps the stepped replica
writes are not an hour off (an Event it stamped an hour back would expire at once).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from chaos import wallclock
from haplane.client import Client
from haplane.localcluster import LocalCluster
from tests.integration.conftest import _ports

HOUR = 3600.0


def stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def seconds(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def event(name: str, at: float | None) -> dict:
    ev = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": "default"},
          "involvedObject": {"kind": "Namespace", "name": "default"}, "reason": "Test", "message": name,
          "type": "Normal"}
    if at is not None:
        ev["lastTimestamp"] = ev["firstTimestamp"] = stamp(at)
    return ev


@pytest.fixture
def stepped(tmp_path) -> Iterator[LocalCluster]:  # noqa: ANN001
    lib = wallclock.build(str(tmp_path / "lib"))
    lc = LocalCluster(str(tmp_path / "cluster"), base_port=next(_ports))
    lc.prepare()
    shared = lc.env
    try:
        for m in lc.replicas:
            lc.env = dict(shared, **wallclock.env_for(lib, str(tmp_path / f"{m.name}.clock")))
            lc.start(m.name)
        lc.env = shared
        lc.wait_ready(timeout=60)
        yield lc
    finally:
        lc.env = shared
        lc.stop_all()


def step(tmp_path, name: str, by: float) -> None:  # noqa: ANN001
    wallclock.write_offset(str(tmp_path / f"{name}.clock"), by)


def leadership(lc: LocalCluster) -> set[tuple[str | None, int]]:
    return {(st["leader"], st["term"]) for st in (lc.get_json(m.name, "/cluster/self") for m in lc.replicas)}


async def test_a_stepped_wall_clock_changes_nothing(stepped: LocalCluster, tmp_path) -> None:  # noqa: ANN001
    lc = stepped
    leader = lc.wait_ready()
    follower = next(m.name for m in lc.replicas if m.name != leader)
    before = leadership(lc)
    assert len(before) == 1
    now = time.time()
    async with Client(lc.endpoints, lc.admin_token, timeout=10.0) as c:
        await c.create(event("fifty-minutes-old", now - 3000))
        await c.create(event("a-second-old", now - 1))
        for i, (who, by) in enumerate(((leader, HOUR), (leader, -HOUR), (follower, HOUR))):
            step(tmp_path, who, by)
            await asyncio.sleep(3.5)  # > 2 maximum election timeouts, > 2 check-quorum windows
            cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"poke-{i}", "namespace": "default"}}
            await c.create(cm)
            await c.delete("ConfigMap", f"poke-{i}")  # a deleted owner: a garbage-collection pass on the leader
            async with Client([lc.members[who].url], lc.admin_token, timeout=10.0) as pinned:
                await pinned.create(event(f"stamped-by-the-server-{i}", None))  # stamped by the stepped one
            await asyncio.sleep(1.0)
            assert leadership(lc) == before, f"step {who} {by:+.0f}s: an election"
            names = {e["metadata"]["name"] for e in (await c.list("Event"))["items"]}
            assert {"fifty-minutes-old", "a-second-old"} <= names, f"step {who} {by:+.0f}s: an Event expired"
            step(tmp_path, who, 0.0)
        created = {e["metadata"]["name"]: e for e in (await c.list("Event"))["items"]}
    for i in range(3):
        ev = created[f"stamped-by-the-server-{i}"]
        assert abs(seconds(ev["metadata"]["creationTimestamp"]) - time.time()) < 600, ev["metadata"]
    with open(os.path.join(lc.path(leader), "log"), encoding="utf-8", errors="replace") as f:
        assert "the system clock stepped by +3600" in f.read(), "the step never reached the replica"
