"""Scheduler throughput: N hollow nodes, M pending pods, pods bound per second end to end.

Starts 3 replicas and hollow agents (``--hollow-count``, several nodes per process), creates M
pods with no nodeName through the API as fast as it can (concurrently), and watches until every
pod has a node. Reports the binding rate over the whole run (first create to last binding) and
over the binding phase alone (first binding to last), and the creation rate for reference.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import finish  # noqa: E402
from haplane.client import Client  # noqa: E402
from haplane.localcluster import LocalCluster  # noqa: E402


def pod(i: int) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{i}", "labels": {"bench": "sched"}},
            "spec": {"containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": "10m",
                                                                                          "memory": "16Mi"}}}]}}


async def wait_nodes(c: Client, n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        nodes = (await c.list("Node", None, stale=True))["items"]
        if len(nodes) >= n:
            return
        await asyncio.sleep(1)
    raise TimeoutError(f"only {len(nodes)} of {n} nodes registered")


async def run(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="haplane-sched-") as d:
        agents = (args.nodes + args.nodes_per_agent - 1) // args.nodes_per_agent
        lc = LocalCluster(d, replicas=3, agents=agents, runtime="hollow", hollow_count=args.nodes_per_agent,
                          base_port=args.base_port)
        lc.start_all()
        try:
            lc.wait_ready(60)
            async with Client(lc.endpoints, lc.admin_token, timeout=30) as c:
                await wait_nodes(c, agents * args.nodes_per_agent, 180)
                t0 = time.monotonic()
                sem = asyncio.Semaphore(128)

                async def create(i: int) -> None:
                    async with sem:
                        await c.create(pod(i))
                creating = asyncio.gather(*(create(i) for i in range(args.pods)))
                first_bound = None
                while True:
                    pods = (await c.list("Pod", "default", label_selector="bench=sched", stale=True))["items"]
                    bound = sum(1 for p in pods if p["spec"].get("nodeName"))
                    if bound and first_bound is None:
                        first_bound = time.monotonic()
                    if bound >= args.pods:
                        break
                    await asyncio.sleep(0.5)
                t_end = time.monotonic()
                await creating
        finally:
            lc.stop_all()
        total = t_end - t0
        binding = t_end - (first_bound or t0)
        return {"benchmark": "scheduler", "nodes": args.nodes, "pods": args.pods, "seconds_total": round(total, 2),
                "pods_per_second_end_to_end": round(args.pods / total, 1),
                "pods_per_second_binding_phase": round(args.pods / binding, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--pods", type=int, default=10000)
    p.add_argument("--nodes-per-agent", type=int, default=250)
    p.add_argument("--base-port", type=int, default=24000)
    p.add_argument("--out", default="bench/results/scheduler.json")
    finish(p.parse_args(), run)


if __name__ == "__main__":
    main()
