"""Reschedule: SIGKILL a node → all its pods Running elsewhere; seconds, median of N trials.

3 replicas and 3 hollow nodes (one agent process each; killing the process is the node's death:
its hollow pods die with it), a 6-replica Deployment. Each trial kills the agent of a node
that hosts pods and times until 6 pods are Running, none on the dead node. With the defaults
the floor is the node grace (5 s of silent heartbeats → NotReady) plus the eviction delay (2 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import finish  # noqa: E402
from haplane.client import Client  # noqa: E402
from haplane.localcluster import LocalCluster  # noqa: E402

REPLICAS = 6


def deployment() -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bench"},
            "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": "bench"}},
                     "template": {"metadata": {"labels": {"app": "bench"}},
                                  "spec": {"containers": [{"name": "c", "image": "x"}]}}}}


async def running(c: Client) -> list[dict]:
    pods = (await c.list("Pod", label_selector="app=bench"))["items"]
    return [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]


async def until(pred, timeout: float = 120.0) -> float:  # noqa: ANN001
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if await pred():
            return time.monotonic() - t0
        await asyncio.sleep(0.1)
    raise TimeoutError("condition not reached")


async def ready_nodes(c: Client) -> int:
    nodes = (await c.list("Node", None))["items"]
    return sum(1 for n in nodes if any(k.get("type") == "Ready" and k.get("status") == "True"
                                       for k in (n.get("status") or {}).get("conditions") or []))


async def run(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="haplane-resched-") as d:
        lc = LocalCluster(d, replicas=3, agents=3, runtime="hollow", base_port=args.base_port)
        lc.start_all()
        trials = []
        try:
            lc.wait_ready(60)
            async with Client(lc.endpoints, lc.admin_token) as c:
                await until(lambda: _ge(ready_nodes(c), 3))
                await c.create(deployment())
                for n in range(args.trials):
                    await until(lambda: _eq(running(c), REPLICAS))
                    pods = await running(c)
                    victim = pods[0]["spec"]["nodeName"]
                    t0 = time.monotonic()
                    lc.kill(victim)

                    async def moved(victim: str = victim) -> bool:
                        ok = [p for p in await running(c) if p["spec"]["nodeName"] != victim]
                        return len(ok) == REPLICAS
                    await until(moved)
                    seconds = time.monotonic() - t0
                    trials.append({"trial": n, "node": victim, "seconds": round(seconds, 2)})
                    print(json.dumps(trials[-1]), flush=True)
                    lc.start(victim)
                    await until(lambda: _ge(ready_nodes(c), 3))
        finally:
            lc.stop_all()
    secs = [t["seconds"] for t in trials]
    return {"benchmark": "reschedule", "trials": trials, "median_seconds": statistics.median(secs),
            "max_seconds": max(secs), "node_grace_seconds": 5.0, "eviction_delay_seconds": 2.0}


async def _eq(coro, n: int) -> bool:  # noqa: ANN001
    return len(await coro) == n


async def _ge(coro, n: int) -> bool:  # noqa: ANN001
    return (await coro) >= n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--trials", type=int, default=5)
    p.add_argument("--base-port", type=int, default=24500)
    p.add_argument("--out", default="bench/results/reschedule.json")
    finish(p.parse_args(), run)


if __name__ == "__main__":
    main()
