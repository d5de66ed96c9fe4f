"""Membership changes on real replicas, under a steady writer: 3 → 5 → 3, and replacing a wiped member.

Every change goes through the CLI (``haplane cluster add-member`` / ``remove-member``), which
returns only once the change is committed and — for an add — the new member has caught up.
The writer's history must stay linearizable with no acknowledged write lost, the writes must go
on through every change, and the remaining members must end with identical state.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from haplane import errors
from tests.integration.elastic import ElasticCluster
from tests.integration.registers import Registers

pytestmark = pytest.mark.integration

# A change may pause writes for a leader hand-over; a request left hanging on a removed replica
# would show as a pause of the client's whole timeout (5 s).
MAX_WRITE_GAP = 4.0


async def _members(lc: ElasticCluster) -> dict[str, dict]:
    async with lc.client(sorted(lc.voters)) as c:
        doc = await c.request("GET", "/cluster/members")
    return {m["name"]: m for m in doc["items"]}


async def _add(lc: ElasticCluster, name: str, index: int) -> float:
    m = lc.new_replica(name, index)
    lc.start(name)
    await lc.wait_serving(name)
    t0 = time.monotonic()
    rc, out, err = await lc.cli("cluster", "add-member", "--name", name, "--raft", str(m.raft),
                                "--http", lc.url(name))
    assert rc == 0, f"add-member {name} failed: {out}{err}"
    assert "has caught up" in out
    lc.voters.add(name)
    lc.joiners.discard(name)
    return time.monotonic() - t0


async def _remove(lc: ElasticCluster, name: str) -> None:
    rc, out, err = await lc.cli("cluster", "remove-member", name)
    assert rc == 0, f"remove-member {name} failed: {out}{err}"
    lc.voters.discard(name)
    lc.stop(name)


async def _watch_ends(lc: ElasticCluster, name: str) -> None:
    """Watch ConfigMaps at replica ``name`` until the watch is ended with 410 Gone."""
    async with lc.client([name], max_attempts=2) as c:
        rv = (await c.list("ConfigMap", "default"))["metadata"]["resourceVersion"]
        with pytest.raises(errors.Gone):
            async for _ in c.watch("ConfigMap", "default", resource_version=rv):
                pass


async def _writes_continue(w: Registers, seconds: float = 1.5) -> None:
    before = len(w.ok_write_times)
    await asyncio.sleep(seconds)
    assert len(w.ok_write_times) > before, "no write was acknowledged after the change"


async def test_grow_to_five_and_shrink_back_under_a_steady_writer(tmp_path) -> None:  # noqa: ANN001
    lc = ElasticCluster(str(tmp_path / "c"))
    lc.start_all()
    try:
        await lc.wait_leader()
        # The writer knows all five endpoints from the start; absent ones are skipped by failover.
        lc.new_replica("r4", 4)
        lc.new_replica("r5", 5)
        async with lc.client(max_attempts=10, timeout=5.0, backoff_max=1.0) as client:
            w = Registers(client)
            await w.setup()
            w.start()
            t_start = time.monotonic()
            await asyncio.sleep(1.0)
            took = {}
            for name, index in (("r4", 4), ("r5", 5)):
                took[name] = await _add(lc, name, index)
                await _writes_continue(w)
            members = await _members(lc)
            assert sorted(members) == ["r1", "r2", "r3", "r4", "r5"]
            assert all(m["caughtUp"] for m in members.values()), members

            # Shrink by removing two original members, the leader first (it hands over).
            leader = next(n for n, m in members.items() if m["leader"])
            other = next(n for n in ("r1", "r2", "r3") if n != leader)
            watch = asyncio.create_task(_watch_ends(lc, other))
            for name in (leader, other):
                await _remove(lc, name)
                await _writes_continue(w)
            # The removed replica was drained: its watchers were sent elsewhere, not left hanging.
            await asyncio.wait_for(watch, 10)
            members = await _members(lc)
            assert sorted(members) == sorted(lc.voters) and len(members) == 3, members
            assert all(m["caughtUp"] for m in members.values()), members
            await asyncio.sleep(1.0)
            await w.stop()
            lin, lost = await w.check()
        w.assert_ok(lin, lost)
        summary = w.summary()
        assert summary["write_ok"] > 100, summary
        gap = w.longest_write_gap(since=t_start)
        print(f"3->5->3: add-member took {took}; longest write gap {gap:.2f}s; {summary}")
        assert gap < MAX_WRITE_GAP, f"writes stalled for {gap:.1f}s"
        await lc.wait_converged(sorted(lc.voters))
    finally:
        lc.stop_all()


async def test_replace_a_wiped_member_under_a_steady_writer(tmp_path) -> None:  # noqa: ANN001
    lc = ElasticCluster(str(tmp_path / "c"))
    lc.start_all()
    try:
        leader = await lc.wait_leader()
        victim = next(n for n in ("r1", "r2", "r3") if n != leader)
        async with lc.client(max_attempts=10, timeout=5.0, backoff_max=1.0) as client:
            w = Registers(client)
            await w.setup()
            w.start()
            t_start = time.monotonic()
            await asyncio.sleep(1.0)

            lc.kill(victim)
            lc.wipe(victim)
            await _writes_continue(w)
            # A dead member and a newcomer would make a 4-member configuration that cannot
            # commit until the newcomer catches up: the leader refuses; the dead one goes first.
            members = await _members(lc)
            assert members[victim]["connected"] is False
            await _remove(lc, victim)
            await _writes_continue(w)

            # The same name and address come back with an empty data dir, as a new member.
            lc.joiners.add(victim)
            lc.start(victim)
            await lc.wait_serving(victim)
            m = lc.members[victim]
            rc, out, err = await lc.cli("cluster", "add-member", "--name", victim, "--raft", str(m.raft),
                                        "--http", lc.url(victim))
            assert rc == 0, out + err
            lc.voters.add(victim)
            await _writes_continue(w)
            members = await _members(lc)
            assert sorted(members) == ["r1", "r2", "r3"] and all(x["caughtUp"] for x in members.values()), members
            await asyncio.sleep(1.0)
            await w.stop()
            lin, lost = await w.check()
        w.assert_ok(lin, lost)
        assert w.summary()["write_ok"] > 50
        gap = w.longest_write_gap(since=t_start)
        print(f"replace wiped: longest write gap {gap:.2f}s; {w.summary()}")
        assert gap < MAX_WRITE_GAP, f"writes stalled for {gap:.1f}s"
        await lc.wait_converged(["r1", "r2", "r3"])
    finally:
        lc.stop_all()


async def test_refusals_are_statuses(tmp_path) -> None:  # noqa: ANN001
    """A dead member blocks an add (remove it first); a newcomer that is not running, a taken
    address, an unknown member and a non-admin are refused with a Status, at once."""
    lc = ElasticCluster(str(tmp_path / "c"))
    lc.start_all()
    try:
        leader = await lc.wait_leader()
        victim = next(n for n in ("r1", "r2", "r3") if n != leader)
        m4 = lc.new_replica("r4", 4)

        rc, out, err = await lc.cli("cluster", "add-member", "--name", "r4", "--raft", str(m4.raft),
                                    "--http", lc.url("r4"))
        assert rc == 1 and "does not answer" in err, err          # not started yet
        rc, out, err = await lc.cli("cluster", "add-member", "--name", "r9", "--raft", str(lc.members["r2"].raft),
                                    "--http", lc.url("r2"))
        assert rc == 1 and "AlreadyExists" in err, err
        rc, out, err = await lc.cli("cluster", "remove-member", "nobody")
        assert rc == 1 and "NotFound" in err, err
        async with lc.client() as c:
            c.token = lc.token("viewer")
            with pytest.raises(Exception) as exc_info:
                await c.request("POST", "/cluster/members",
                                json={"name": "x", "raft": "127.0.0.1:1", "http": "http://127.0.0.1:2"})
            assert getattr(exc_info.value, "code", None) == 403

        lc.kill(victim)
        lc.start("r4")
        await lc.wait_serving("r4")
        # The leader may not have noticed the death yet (heartbeat responses stop): poll briefly.
        deadline = time.monotonic() + 10
        while True:
            rc, out, err = await lc.cli("cluster", "add-member", "--name", "r4", "--raft", str(m4.raft),
                                        "--http", lc.url("r4"), "--wait-timeout", "5")
            if rc == 1 and "Remove the dead member first" in err:
                break
            assert rc == 1, "an add with a dead member must be refused"
            assert time.monotonic() < deadline, err
            await asyncio.sleep(0.5)
        members = await _members(lc)
        voters = sorted(n for n, m in members.items() if m["voter"])
        assert "r4" not in voters and len(voters) == 3, members
        assert members["r4"]["role"] == "learner" and not members["r4"]["promoting"], members  # still a learner
    finally:
        lc.stop_all()


async def _cluster_status(lc: ElasticCluster) -> dict[str, dict]:
    rc, out, err = await lc.cli("cluster", "status", "-o", "json")
    assert rc == 0, err
    import json

    return {m["name"]: m for m in json.loads(out)["members"] if m.get("name")}


async def test_a_learner_catches_up_without_a_vote_then_is_promoted(tmp_path) -> None:  # noqa: ANN001
    """r4 starts with --join: a learner. It gets the log but is not in the configuration — with
    it and a voter dead, the two other voters still commit (a 4-voter configuration could not).
    ``add-member`` promotes it once caught up (the leader logs it); writes go on throughout."""
    lc = ElasticCluster(str(tmp_path / "c"))
    lc.start_all()
    try:
        leader = await lc.wait_leader()
        lc.new_replica("r4", 4)
        async with lc.client(max_attempts=10, timeout=5.0, backoff_max=1.0) as client:
            w = Registers(client)
            await w.setup()
            w.start()
            t_start = time.monotonic()
            await asyncio.sleep(1.0)
            lc.start("r4")
            await lc.wait_serving("r4")
            deadline = time.monotonic() + 20
            while True:  # the leader sees it once its first keepalive has arrived
                st = await _cluster_status(lc)
                if st.get("r4", {}).get("role") == "learner" and st["r4"].get("lag") is not None:
                    break
                assert time.monotonic() < deadline, st
                await asyncio.sleep(0.2)
            assert st["r4"]["voter"] is False and all(st[n]["voter"] for n in ("r1", "r2", "r3")), st
            rc, table, _ = await lc.cli("cluster", "status")
            assert rc == 0 and "LAG" in table.splitlines()[0]
            assert any(line.startswith("r4 ") and " learner " in line for line in table.splitlines()), table
            members = await _members(lc)
            assert sorted(n for n, m in members.items() if m["voter"]) == ["r1", "r2", "r3"], members
            assert members["r4"]["role"] == "learner" and not members["r4"]["promoting"], members

            # Not a voter: with the learner and one follower dead, two of three voters commit.
            follower = next(n for n in ("r1", "r2", "r3") if n != leader)
            lc.kill("r4")
            lc.kill(follower)
            await _writes_continue(w)
            lc.start(follower)
            await lc.wait_leader()
            lc.start("r4")  # restarted before its promotion: still a learner
            await lc.wait_serving("r4")
            async with lc.client(["r4"], max_attempts=1) as c4:
                assert (await c4.request("GET", "/cluster/self"))["role"] == "learner"

            rc, out, err = await lc.cli("cluster", "add-member", "--name", "r4", "--raft", str(lc.members["r4"].raft),
                                        "--http", lc.url("r4"))
            assert rc == 0, out + err
            assert "is a learner" in err and "has caught up" in out, out + err
            lc.voters.add("r4")
            lc.joiners.discard("r4")
            await _writes_continue(w)
            st = await _cluster_status(lc)
            assert st["r4"]["role"] == "follower" and st["r4"]["voter"] is True, st
            members = await _members(lc)
            assert sorted(members) == ["r1", "r2", "r3", "r4"] and all(m["voter"] for m in members.values())
            await asyncio.sleep(1.0)
            await w.stop()
            lin, lost = await w.check()
        w.assert_ok(lin, lost)
        leader = await lc.wait_leader()
        logs = "".join(open(lc.path(n, "log"), encoding="utf-8", errors="replace").read() for n in ("r1", "r2", "r3"))
        assert "promoted learner r4" in logs
        with open(lc.path("r4", "log"), encoding="utf-8") as f:
            assert "this learner is now that voter" in f.read()
        gap = w.longest_write_gap(since=t_start)
        print(f"learner: longest write gap {gap:.2f}s; {w.summary()}")
        assert gap < MAX_WRITE_GAP, f"writes stalled for {gap:.1f}s"
        await lc.wait_converged(["r1", "r2", "r3", "r4"])
    finally:
        lc.stop_all()
