"""What ``kubectl top`` costs: one sampling round of an agent, and a metrics API request.

* ``sampling``: ``Runtime.usage`` over ``--containers`` running containers (one busy loop, the
  rest ``sleep``), repeated ``--rounds`` times — the process runtime (one /proc scan per round)
  and the Docker runtime (one one-shot stats call per container, 8 at a time); milliseconds per
  round, and the busy loop's CPU as measured (cores).
* ``api``: a local cluster (3 replicas, 2 process agents sampling every second, the same pods),
  ``GET /apis/metrics.k8s.io/v1beta1/pods`` timed back to back (the replica's 1 s cache mostly
  answers) and spaced 1.2 s apart (every request fetches from both agents).

Run it under the heavy lock. Writes JSON: ``{"sampling": {"process": {...}, "docker": {...}},
"api": {"cached": {...}, "uncached": {...}}}``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import finish  # noqa: E402
from bench.write_throughput import percentile  # noqa: E402
from haplane.client import Client  # noqa: E402
from haplane.localcluster import LocalCluster  # noqa: E402

BUSY = ["sh", "-c", "while :; do :; done"]
IDLE = ["sleep", "600"]


def _pod(i: int) -> dict:
    return {"metadata": {"uid": f"bench-{i}", "name": f"p{i}", "namespace": "bench"}, "spec": {}}


def _ctr(command: list[str]) -> dict:
    return {"name": "main", "image": "busybox:local", "imagePullPolicy": "Never", "command": command}


def _ms(xs: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(xs) * 1000, 2), "max_ms": round(max(xs) * 1000, 2), "n": len(xs)}


async def sampling(rt: Any, n: int, rounds: int) -> dict[str, Any]:
    cids = [await rt.start(_pod(i), _ctr(BUSY if i == 0 else IDLE), epoch=1, host_ip="127.0.0.1")
            for i in range(n)]
    try:
        states = [s for s in await rt.list_managed() if s.cid in cids]
        times, first = [], None
        for _ in range(rounds):
            t0 = time.perf_counter()
            got = await rt.usage(states)
            times.append(time.perf_counter() - t0)
            first = first or got
            await asyncio.sleep(0.5)
        busy_cores = (got[cids[0]].cpu_ns - first[cids[0]].cpu_ns) / (got[cids[0]].time - first[cids[0]].time) / 1e9
        return {"containers": n, "read": len(got), **_ms(times), "busy_loop_cores": round(busy_cores, 3),
                "proc_entries": sum(1 for e in os.scandir("/proc") if e.name.isdigit())}
    finally:
        for cid in cids:
            await rt.remove(cid)


async def api(n: int) -> dict[str, Any]:
    d = tempfile.mkdtemp(prefix="top-bench-")
    lc = LocalCluster(os.path.join(d, "c"), agents=2, base_port=17400, node_net="127.88.0",
                      env={"HAPLANE_STATS_PERIOD": "1"})
    try:
        lc.start_all()
        lc.wait_ready(timeout=60)
        async with Client(lc.endpoints, lc.admin_token, timeout=10.0) as c:
            for i in range(n):
                await c.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{i}", "namespace": "default"},
                                "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                                    {"name": "main", "image": "x", "command": BUSY if i == 0 else IDLE}]}})
            path = "/apis/metrics.k8s.io/v1beta1/pods"
            deadline = time.monotonic() + 60
            while len((await c.request("GET", path)).get("items") or []) < n:
                assert time.monotonic() < deadline, "pods not measured after 60 s"
                await asyncio.sleep(0.5)
            out = {}
            for label, count, gap in (("cached", 200, 0.0), ("uncached", 20, 1.2)):
                times = []
                for _ in range(count):
                    await asyncio.sleep(gap)
                    t0 = time.perf_counter()
                    got = await c.request("GET", path)
                    times.append(time.perf_counter() - t0)
                    assert len(got["items"]) == n
                out[label] = {"p50_ms": round(statistics.median(times) * 1000, 2),
                              "p99_ms": round(percentile(times, 99) * 1000, 2), "n": count}
            return {"pods": n, **out}
    finally:
        lc.stop_all()
        shutil.rmtree(d, ignore_errors=True)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from node_agent.runtime.docker import DockerRuntime
    from node_agent.runtime.process import ProcessRuntime

    d = tempfile.mkdtemp(prefix="top-bench-rt-")
    try:
        process = await sampling(ProcessRuntime(os.path.join(d, "p"), "bench"), args.containers, args.rounds)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    drt = DockerRuntime("bench-top")
    try:
        docker = await sampling(drt, args.containers, args.rounds)
    finally:
        drt.close()
    return {"sampling": {"process": process, "docker": docker}, "api": await api(args.containers)}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--containers", type=int, default=20)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--out", default="bench/results/top_cost.json")
    finish(p.parse_args(), main_async)
