"""200 hollow nodes (2 agent processes x 100) against 3 real replicas for a minute.

Every node registers and stays Ready the whole minute, a pod bound to each of them is
reported Running, the agents log no warning or error, and the Raft log stays quiet while
the heartbeats flow (they live in the leader's memory, not in the log).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from haplane.client import Client
from haplane.localcluster import LocalCluster
from tests.integration.conftest import make_cluster

pytestmark = pytest.mark.integration

AGENTS = 2
PER_AGENT = 100
NODES = AGENTS * PER_AGENT
OBSERVE = 60.0


@pytest.fixture
def hollow(tmp_path) -> Iterator[tuple[LocalCluster, list[subprocess.Popen], list[str]]]:  # noqa: ANN001
    lc = make_cluster(tmp_path)
    procs: list[subprocess.Popen] = []
    logs: list[str] = []
    try:
        lc.wait_ready(timeout=60)
        token_file = lc.path("hollow-token")
        with open(token_file, "w") as f:
            f.write(lc.token("node") + "\n")
        for i in range(AGENTS):
            logs.append(lc.path(f"hollow-{i}.log"))
            with open(logs[-1], "wb") as log:
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "node_agent.agent", "--name", f"h{i}", "--address", f"127.0.2.{i + 1}",
                     "--servers", ",".join(lc.endpoints), "--token-file", token_file, "--runtime", "hollow",
                     "--hollow-count", str(PER_AGENT), "--port", "0"],
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        yield lc, procs, logs
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        lc.stop_all()


def ready_names(nodes: list[dict]) -> set[str]:
    return {n["metadata"]["name"] for n in nodes
            if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions") or [])}


async def test_200_hollow_nodes_register_heartbeat_and_stay_ready(hollow) -> None:  # noqa: ANN001
    lc, procs, logs = hollow
    expected = {f"h{i}-{j}" for i in range(AGENTS) for j in range(PER_AGENT)}
    async with Client(lc.endpoints, lc.admin_token, timeout=15.0) as c:
        deadline = time.monotonic() + 90
        ready: set[str] = set()
        while time.monotonic() < deadline:
            ready = ready_names((await c.list("Node", None))["items"])
            if ready >= expected:
                break
            await asyncio.sleep(1)
        assert ready >= expected, f"{len(expected - ready)} of {NODES} nodes not Ready after 90s"

        # one pod bound to every node: 200 starts and 200 status writes through the agents
        sem = asyncio.Semaphore(16)

        async def bind(node: str) -> None:
            async with sem:
                await c.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p-{node}"},
                                "spec": {"nodeName": node, "containers": [{"name": "c", "image": "hollow"}]}})

        await asyncio.gather(*(bind(n) for n in sorted(expected)))
        deadline = time.monotonic() + 90
        running = 0
        while time.monotonic() < deadline:
            pods = (await c.list("Pod"))["items"]
            running = sum((p.get("status") or {}).get("phase") == "Running" for p in pods)
            if running == NODES:
                break
            await asyncio.sleep(1)
        assert running == NODES, f"only {running} of {NODES} hollow pods Running"

        leader = lc.wait_ready(timeout=30)
        commit0 = lc.get_json(leader, "/cluster/self")["commitIndex"]
        t0 = time.monotonic()
        while time.monotonic() - t0 < OBSERVE:
            await asyncio.sleep(5)
            assert all(p.poll() is None for p in procs), "a hollow agent died"
            nodes = (await c.list("Node", None, stale=True))["items"]
            not_ready = expected - ready_names(nodes)
            assert not not_ready, f"{len(not_ready)} nodes went NotReady, e.g. {sorted(not_ready)[:5]}"
        entries = lc.get_json(leader, "/cluster/self")["commitIndex"] - commit0
        per_second = entries / (time.monotonic() - t0)
        events = (await c.list("Event", None))["items"]
        assert not [e for e in events if e.get("reason") == "NodeNotReady"], "a node was declared NotReady"

    # heartbeats cost the log nothing while nodes stay healthy (a few control entries at most)
    assert per_second < 5, f"{per_second:.1f} Raft entries/s while {NODES} nodes heartbeat"
    for path in logs:
        with open(path, errors="replace") as f:
            bad = [line for line in f if " WARNING " in line or " ERROR " in line or "Traceback" in line]
        assert not bad, f"{os.path.basename(path)}: {bad[:5]}"
