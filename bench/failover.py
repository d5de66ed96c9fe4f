"""Failover: SIGKILL the Raft leader under a steady writer; time from the kill to the next acknowledged write.

A single writer creates ConfigMaps back to back through the haplane client (every replica as an
endpoint, failover on connection errors and 503). Each trial kills the current leader, measures
the gap until a write *issued after the kill* is acknowledged, then restarts the dead replica and
waits for the cluster to settle. Writes JSON with every trial and the median.
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
from haplane import errors  # noqa: E402
from haplane.client import Client  # noqa: E402
from haplane.localcluster import LocalCluster  # noqa: E402


async def trial(lc: LocalCluster, client: Client, n: int) -> dict:
    leader = lc.wait_ready(60)
    stop = asyncio.Event()
    acks: list[float] = []  # monotonic time each write was *issued*, for acknowledged writes
    failures = 0

    async def writer() -> None:
        nonlocal failures
        i = 0
        while not stop.is_set():
            issued = time.monotonic()
            try:
                await client.create({"apiVersion": "v1", "kind": "ConfigMap",
                                     "metadata": {"name": f"t{n}-{i}"}, "data": {"i": str(i)}})
                acks.append(issued)
            except (errors.Unavailable, errors.OutcomeUnknown):
                failures += 1
            i += 1

    task = asyncio.create_task(writer())
    await asyncio.sleep(1.0)
    t_kill = time.monotonic()
    lc.kill(leader)
    while not any(t > t_kill for t in acks) and time.monotonic() - t_kill < 30:
        await asyncio.sleep(0.01)
    # Completion time of the first write issued after the kill (issue + its latency is bounded by now).
    t_ok = time.monotonic()
    stop.set()
    await task
    gap = t_ok - t_kill
    lc.start(leader)
    lc.wait_ready(60)
    return {"trial": n, "killed": leader, "seconds_to_first_ack": round(gap, 3), "failed_calls": failures}


async def main_async(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="haplane-failover-") as d:
        lc = LocalCluster(d, replicas=3, base_port=args.base_port)
        lc.start_all()
        try:
            lc.wait_ready(60)
            async with Client(lc.endpoints, lc.admin_token, timeout=2.0, max_attempts=50) as client:
                results = []
                for n in range(args.trials):
                    r = await trial(lc, client, n)
                    print(json.dumps(r), flush=True)
                    results.append(r)
            gaps = [r["seconds_to_first_ack"] for r in results]
            return {"benchmark": "failover", "trials": results, "median_seconds": statistics.median(gaps),
                    "max_seconds": max(gaps), "min_seconds": min(gaps)}
        finally:
            lc.stop_all()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--trials", type=int, default=7)
    p.add_argument("--base-port", type=int, default=23500)
    p.add_argument("--out", default="bench/results/failover.json")
    finish(p.parse_args(), main_async)


if __name__ == "__main__":
    main()
