"""Scale: 1,000 hollow nodes and 30,000 pods over 3 replicas.

One cluster (3 replicas, ``--nodes`` hollow nodes in agent processes of ``--per-agent`` each),
then, in order:

* **load**: every node registers and is Ready; ``--pods`` pods are created (128 at a time) and
  scheduled; the time from the first create to the last binding, and the wait until the Raft
  log settles (the hollow agents' Running reports);
* **heartbeat cost**: Raft entries/s and replica CPU over ``--window`` s with everything Ready
  (bench/heartbeat_cost.py's measurement);
* **RSS** of each replica (VmRSS) with the whole state loaded;
* **get**: ``--gets`` linearizable GETs of random pods, 16 at a time: p50/p90/p99/max;
* **list**: a list of every pod, linearizable and stale, ``--lists`` times each;
* **watch**: a watch on every pod of the namespace; ``--watch-samples`` label patches one after
  the other, each timed from the PATCH sent to its event received;
* **snapshot**: each replica's dump and journal sizes; a follower stopped, wiped and started empty: the time
  until it has applied the leader's commit index (the snapshot install and what follows);
* **full restart**: every replica SIGTERMed, then started: the time until all agree on a leader
  and a linearizable list and a write succeed; then the same after SIGKILL of every replica.

The targets (issue 14): get p99 <= 50 ms, list of all pods <= 1 s, RSS <= 1 GB per replica,
full restart back to serving <= 30 s. Nothing is asserted: the JSON holds what was measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import random
import statistics
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import finish, hollow_cluster, percentile  # noqa: E402
from bench.heartbeat_cost import window  # noqa: E402
from bench.scheduler import SELECTOR, create_all, poll_unbound, wait_nodes  # noqa: E402
from haplane.aio import wait_for  # noqa: E402
from haplane.client import Client  # noqa: E402
from haplane.localcluster import LocalCluster  # noqa: E402

PROBE = 15.0  # seconds a loaded replica may take to answer a probe (LocalCluster's default is 1 s)


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p90/p99/max of ``samples`` (seconds) in milliseconds."""
    return {"n": len(samples), **{f"p{q}_ms": round(1000 * percentile(samples, q), 2) for q in (50, 90, 99)},
            "max_ms": round(1000 * max(samples), 2)}


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def commit_index(lc: LocalCluster, name: str) -> int:
    return int(lc.get_json(name, "/cluster/self", timeout=PROBE)["commitIndex"] or 0)


async def settle(c: Client, quiet: float, timeout: float) -> float:
    """Wait until the commit index (as a replica sees it) has not moved for ``quiet`` s; the
    seconds waited. Through the client, whose timeout is long: a loaded replica can take more
    than LocalCluster's 1 s to answer."""
    t0 = time.monotonic()
    last, since = -1, time.monotonic()
    while time.monotonic() - t0 < timeout:
        idx = int((await c.request("GET", "/cluster/self"))["commitIndex"] or 0)
        if idx != last:
            last, since = idx, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
        await asyncio.sleep(0.5)
    return round(time.monotonic() - t0 - quiet, 1)


async def timed_gets(c: Client, names: list[str], n: int, concurrency: int = 16) -> dict[str, float]:
    samples: list[float] = []
    rng = random.Random(7)
    todo = [rng.choice(names) for _ in range(n)]

    async def worker() -> None:
        while todo:
            name = todo.pop()
            t = time.monotonic()
            await c.get("Pod", name)
            samples.append(time.monotonic() - t)
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return percentiles(samples)


async def timed_lists(c: Client, n: int, stale: bool) -> dict[str, Any]:
    seconds, count = [], 0
    for _ in range(n):
        t = time.monotonic()
        count = len((await c.list("Pod", None, stale=stale))["items"])
        seconds.append(round(time.monotonic() - t, 3))
    return {"items": count, "seconds": seconds, "median_s": statistics.median(seconds)}


async def watch_latency(c: Client, names: list[str], samples: int) -> dict[str, float]:
    """Each patch timed from send to its event on a watch of every pod in the namespace."""
    rv = (await c.list("Pod", "default", label_selector="bench=none"))["metadata"]["resourceVersion"]
    seen: dict[str, float] = {}
    arrived = asyncio.Event()

    async def watcher() -> None:
        async for ev in c.watch("Pod", "default", resource_version=rv, bookmarks=False):
            mark = ((ev.get("object") or {}).get("metadata", {}).get("labels") or {}).get("mark")
            if mark and mark not in seen:
                seen[mark] = time.monotonic()
                arrived.set()
    task = asyncio.create_task(watcher())
    out: list[float] = []
    try:
        for i in range(samples):
            mark = f"m{i}"
            arrived.clear()
            t = time.monotonic()
            await c.patch("Pod", names[i % len(names)], {"metadata": {"labels": {"mark": mark}}})
            while mark not in seen:
                await wait_for(arrived.wait(), 30)
                arrived.clear()
            out.append(seen[mark] - t)
    finally:
        task.cancel()
    return percentiles(out)


async def back_to_serving(lc: LocalCluster, c: Client, t0: float) -> dict[str, float]:
    """From ``t0``: a leader all agree on, then a linearizable list and a write acknowledged."""
    await asyncio.to_thread(functools.partial(lc.wait_ready, 120, request_timeout=PROBE))
    leader_s = time.monotonic() - t0
    await c.list("Pod", "default", label_selector="bench=none")
    await c.create({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": f"restart-{int(t0 * 1000) % 10**9}"}, "data": {"k": "v"}})
    return {"leader_s": round(leader_s, 2), "serving_s": round(time.monotonic() - t0, 2)}


async def snapshot_install(lc: LocalCluster, leader: str) -> dict[str, Any]:
    follower = next(m.name for m in lc.replicas if m.name != leader)
    await asyncio.to_thread(lc.stop, follower)
    await asyncio.to_thread(lc.wipe, follower)
    target = await asyncio.to_thread(commit_index, lc, leader)
    t0 = time.monotonic()
    lc.start(follower)
    while True:
        try:
            st = await asyncio.to_thread(lc.get_json, follower, "/cluster/self", PROBE)
            if int(st.get("appliedIndex") or st.get("commitIndex") or 0) >= target and st.get("leader"):
                break
        except OSError:
            pass
        if time.monotonic() - t0 > 300:
            raise TimeoutError(f"{follower} did not catch up to {target} in 300 s")
        await asyncio.sleep(0.2)
    return {"replica": follower, "index": target, "caught_up_s": round(time.monotonic() - t0, 2)}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"benchmark": "scale", "nodes": args.nodes, "pods": args.pods, "replicas": 3,
                              "cpus": os.cpu_count(), "load_average_1m_before": round(os.getloadavg()[0], 2)}
    with (contextlib.nullcontext(args.data_dir) if args.data_dir
          else tempfile.TemporaryDirectory(prefix="haplane-scale-")) as d:
        lc = hollow_cluster(d, nodes=args.nodes, per_agent=args.per_agent, base_port=args.base_port,
                            node_net=args.node_net)
        agents = len(lc.agents)
        lc.start_all()
        try:
            lc.wait_ready(60)
            async with Client(lc.endpoints, lc.admin_token, timeout=60) as c:
                t = time.monotonic()
                await wait_nodes(c, agents * args.per_agent, 300)
                result["nodes_registered_s"] = round(time.monotonic() - t, 1)
                print(json.dumps({"phase": "nodes", "s": result["nodes_registered_s"]}), flush=True)

                t0 = time.monotonic()
                creating = asyncio.ensure_future(create_all(c, args.pods))
                created: list[float] = []
                creating.add_done_callback(lambda _: created.append(time.monotonic()))
                t_bound, unbound_max = await poll_unbound(c, creating, 1.0)
                await creating
                result["load"] = {"created_s": round(created[0] - t0, 1), "all_bound_s": round(t_bound - t0, 1),
                                  "pods_per_second_created_to_bound": round(args.pods / (t_bound - t0), 1),
                                  "unbound_max": unbound_max,
                                  "settled_after_s": await settle(c, 5.0, 600)}
                print(json.dumps({"phase": "load", **result["load"]}), flush=True)

                agent_procs = [lc.procs[m.name] for m in lc.agents]
                result["heartbeat_cost"] = await window(lc, args.window, agent_procs, request_timeout=PROBE)
                result["rss_mb"] = {m.name: rss_mb(m.pid) for m in lc.replicas if m.pid}
                print(json.dumps({"phase": "steady", "rss_mb": result["rss_mb"],
                                  **result["heartbeat_cost"]}), flush=True)

                names = [p["metadata"]["name"] for p in
                         (await c.list("Pod", "default", label_selector=SELECTOR, stale=True))["items"]]
                result["get"] = await timed_gets(c, names, args.gets)
                result["list_linearizable"] = await timed_lists(c, args.lists, stale=False)
                result["list_stale"] = await timed_lists(c, args.lists, stale=True)
                result["watch"] = await watch_latency(c, names, args.watch_samples)
                print(json.dumps({"phase": "api", "get": result["get"], "list": result["list_linearizable"],
                                  "watch": result["watch"]}), flush=True)

                leader = lc.wait_ready(120, request_timeout=PROBE)
                result["snapshot"] = {
                    **{f"{f.replace('.', '_')}_bytes": {m.name: os.path.getsize(lc.path(m.name, f))
                                                        for m in lc.replicas if os.path.exists(lc.path(m.name, f))}
                       for f in ("raft.dump", "raft.wal")},
                    "install": await snapshot_install(lc, leader)}
                print(json.dumps({"phase": "snapshot", **result["snapshot"]}), flush=True)

                restarts = {}
                for how in ("sigterm", "sigkill"):
                    await settle(c, 3.0, 120)
                    for m in lc.replicas:
                        await asyncio.to_thread(lc.stop if how == "sigterm" else lc.kill, m.name)
                    t0 = time.monotonic()
                    for m in lc.replicas:
                        lc.start(m.name)
                    restarts[how] = await back_to_serving(lc, c, t0)
                    restarts[how]["rss_mb_after"] = {m.name: rss_mb(m.pid) for m in lc.replicas if m.pid}
                    print(json.dumps({"phase": f"restart-{how}", **restarts[how]}), flush=True)
                result["full_restart"] = restarts
        finally:
            lc.stop_all()
    targets = {"get_p99_ms<=50": result["get"]["p99_ms"] <= 50,
               "list_all_pods_s<=1": result["list_linearizable"]["median_s"] <= 1.0,
               "rss_mb<=1024": max(result["rss_mb"].values()) <= 1024,
               "full_restart_s<=30": max(r["serving_s"] for r in result["full_restart"].values()) <= 30,
               "pods_per_second>=1000": result["load"]["pods_per_second_created_to_bound"] >= 1000}
    result["targets_met"] = targets
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--pods", type=int, default=30000)
    p.add_argument("--per-agent", type=int, default=250, help="hollow nodes per agent process")
    p.add_argument("--window", type=float, default=20.0, help="seconds of the heartbeat-cost window")
    p.add_argument("--gets", type=int, default=2000)
    p.add_argument("--lists", type=int, default=3)
    p.add_argument("--watch-samples", type=int, default=200)
    p.add_argument("--base-port", type=int, default=26000)
    p.add_argument("--node-net", default="127.0.4", help="the agents' node addresses: NET.1, NET.2, ...")
    p.add_argument("--data-dir", help="keep the cluster (data, logs) in DIR (default: a temporary directory)")
    p.add_argument("--out", default="bench/results/scale.json")
    finish(p.parse_args(), run)


if __name__ == "__main__":
    main()
