"""Controller failover: SIGKILL the Raft leader, then scale a Deployment; seconds until done.

3 replicas, 2 hollow nodes, a Deployment at 2 replicas. Each trial kills the leader and at once
asks (through the surviving replicas) to scale to 2 + 10·k; it reports the time from the kill to
the scale request being acknowledged (the failover itself), and to every new pod Running.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import finish  # noqa: E402
from bench.reschedule import _ge, ready_nodes, until  # noqa: E402
from haplane.client import Client  # noqa: E402
from haplane.localcluster import LocalCluster  # noqa: E402


def deployment() -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "cf"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "cf"}},
                     "template": {"metadata": {"labels": {"app": "cf"}},
                                  "spec": {"containers": [{"name": "c", "image": "x"}]}}}}


async def running(c: Client) -> int:
    pods = (await c.list("Pod", label_selector="app=cf"))["items"]
    return sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Running")


async def run(args: argparse.Namespace) -> dict:
    trials = []
    with tempfile.TemporaryDirectory(prefix="haplane-cf-") as d:
        lc = LocalCluster(d, replicas=3, agents=2, runtime="hollow", base_port=args.base_port)
        lc.start_all()
        try:
            lc.wait_ready(60)
            async with Client(lc.endpoints, lc.admin_token, timeout=3.0, max_attempts=40) as c:
                await until(lambda: _ge(ready_nodes(c), 2))
                await c.create(deployment())
                want = 2
                for n in range(args.trials):
                    await until(lambda w=want: _ge(running(c), w))
                    leader = lc.wait_ready(60)
                    want += 10
                    t0 = time.monotonic()
                    lc.kill(leader)
                    await c.scale("Deployment", "cf", want)
                    acked = time.monotonic() - t0
                    await until(lambda w=want: _ge(running(c), w))
                    done = time.monotonic() - t0
                    trials.append({"trial": n, "killed": leader, "scale_acked_after": round(acked, 2),
                                   "scaled_up_after": round(done, 2), "after_failover": round(done - acked, 2)})
                    print(json.dumps(trials[-1]), flush=True)
                    lc.start(leader)
                    lc.wait_ready(60)
        finally:
            lc.stop_all()
    return {"benchmark": "controller_failover", "trials": trials,
            "median_seconds_to_scaled": statistics.median(t["scaled_up_after"] for t in trials),
            "median_seconds_after_failover": statistics.median(t["after_failover"] for t in trials)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--trials", type=int, default=5)
    p.add_argument("--base-port", type=int, default=24800)
    p.add_argument("--out", default="bench/results/controller_failover.json")
    finish(p.parse_args(), run)


if __name__ == "__main__":
    main()
