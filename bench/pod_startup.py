"""Pod startup latency: API create -> Running as reported by the agent, per runtime.

For each runtime (process, docker, hollow) it starts its own cluster on loopback (3 replicas,
1 agent), creates ``--pods`` pods bound with ``spec.nodeName`` one every ``--interval`` s
(a steady stream, as Kubernetes' pod startup SLO measures it; image pulls excluded: the
busybox:local image is built locally first), and timestamps, from a watch, the first event
that shows each pod ``Running``. Writes JSON:
``{"runs": [{"runtime", "pods", "p50_ms", "p99_ms", "max_ms", "mean_ms", "not_running"}]}``.
Targets (issue 3): process p99 <= 1 s, docker p99 <= 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import finish  # noqa: E402
from haplane.aio import wait_for  # noqa: E402
from haplane.client import Client  # noqa: E402
from haplane.localcluster import LocalCluster  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"bench": "startup"}},
            "spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "main", "image": "busybox:local", "imagePullPolicy": "Never",
                                     "command": ["sh", "-c", "exec sleep 3600"]}]}}


async def wait_node(c: Client, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            node = await c.get("Node", "n1", None)
            if any(x["type"] == "Ready" and x["status"] == "True" for x in node["status"].get("conditions") or []):
                return
        except Exception:  # noqa: BLE001 - not registered yet
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError("node n1 never became Ready")


async def measure(lc: LocalCluster, runtime: str, n: int, interval: float) -> dict:
    async with Client(lc.endpoints, lc.admin_token, timeout=10) as c:
        await wait_node(c)
        await asyncio.sleep(2)  # let registration settle
        listed = await c.list("Pod")
        created: dict[str, float] = {}
        running: dict[str, float] = {}
        all_running = asyncio.Event()

        async def watch() -> None:
            async for ev in c.watch("Pod", resource_version=listed["metadata"]["resourceVersion"]):
                obj = ev.get("object") or {}
                name = (obj.get("metadata") or {}).get("name")
                if name in created and name not in running and (obj.get("status") or {}).get("phase") == "Running":
                    running[name] = time.perf_counter()
                    if len(running) == n:
                        all_running.set()
                        return

        watcher = asyncio.create_task(watch())
        await asyncio.sleep(0.5)
        for i in range(n):
            name = f"start-{runtime}-{i}"
            created[name] = time.perf_counter()
            await c.create(pod(name))
            await asyncio.sleep(interval)
        try:
            await wait_for(all_running.wait(), 120)
        except TimeoutError:
            pass
        watcher.cancel()
        latencies = [running[k] - created[k] for k in running]
        # clean up, so the next runtime's cluster starts from an idle machine
        for name in created:
            try:
                await c.delete("Pod", name)
            except Exception:  # noqa: BLE001
                pass
        if runtime != "hollow":
            identity = f"n1@{(await c.get('Namespace', 'default', None))['metadata']['uid']}"
            await drain(lc, runtime, identity)
    return {"runtime": runtime, "pods": n, "interval_s": interval,
            "p50_ms": round(percentile(latencies, 50) * 1000, 1),
            "p99_ms": round(percentile(latencies, 99) * 1000, 1),
            "max_ms": round(max(latencies) * 1000, 1) if latencies else None,
            "mean_ms": round(sum(latencies) / len(latencies) * 1000, 1) if latencies else None,
            "not_running": n - len(latencies)}


async def drain(lc: LocalCluster, runtime: str, identity: str, timeout: float = 60) -> None:
    """Wait until the agent has stopped and removed this cluster's containers (only these:
    other clusters may share the machine and the engine); force what is left."""
    if runtime == "docker":
        from node_agent.runtime.docker import DockerRuntime

        rt = DockerRuntime(identity)
    else:
        from node_agent.runtime.process import ProcessRuntime

        rt = ProcessRuntime(lc.path("n1", "containers"), identity)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and await rt.list_managed():
        await asyncio.sleep(1)
    for st in await rt.list_managed():
        await rt.remove(st.cid)
    close = getattr(rt, "close", None)
    if close is not None:
        close()


async def main_async(args: argparse.Namespace) -> dict:
    runs = []
    if "docker" in args.runtimes:
        subprocess.run([os.path.join(ROOT, "deploy", "images", "busybox", "build.sh")], check=True,
                       capture_output=True, timeout=120)
    for i, runtime in enumerate(args.runtimes):
        with tempfile.TemporaryDirectory(prefix="haplane-bench-") as d:
            lc = LocalCluster(d, replicas=3, agents=1, runtime=runtime, base_port=args.base_port + 300 * i)
            lc.start_all()
            try:
                lc.wait_ready(60)
                res = await measure(lc, runtime, args.pods, args.interval)
                print(json.dumps(res), flush=True)
                runs.append(res)
            finally:
                lc.stop_all()
    return {"benchmark": "pod_startup", "replicas": 3, "cpus": os.cpu_count(), "runs": runs}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runtimes", type=lambda s: s.split(","), default=["process", "docker", "hollow"])
    p.add_argument("--pods", type=int, default=60)
    p.add_argument("--interval", type=float, default=0.2, help="seconds between creates")
    p.add_argument("--base-port", type=int, default=24000)
    p.add_argument("--out", default="bench/results/pod_startup.json")
    finish(p.parse_args(), main_async)


if __name__ == "__main__":
    main()
