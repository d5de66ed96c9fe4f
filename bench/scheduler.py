"""Scheduler throughput: N hollow nodes, M pending pods, pods bound per second end to end.

Each of ``--trials`` runs starts 3 replicas and hollow agents (``--hollow-count``, several
nodes per process), creates M pods with no nodeName through the API as fast as it can (128 at
a time, through the first replica), and watches until every pod has a node. Reports the binding rate over the whole run (first create to last binding) and
over the binding phase alone (first binding to last), and the creation rate for reference (when
it is close to the binding rate, creation is what limits the run); the JSON holds every trial
(with the load average before it: this machine is shared) and the medians.

The end is seen by polling (every ``--period`` s) a linearizable list of the bench pods that
have no node yet: once every create was acknowledged and that list is empty, all are bound. It
costs what is still pending, and its largest answer is reported as ``unbound_max`` (how far the
scheduler fell behind creation). ``--observe all --period 0.5`` lists every pod instead, as
the first version of this bench did: on 10,000 pods that costs the replica and the bench a lot
of CPU and stalls both event loops for the time of a 10k-pod list.

``--preload`` measures the scheduler's own rate instead: every pod is created (and marked
Unschedulable) while all nodes are cordoned, then the nodes are uncordoned and the bindings
timed (``benchmark: scheduler-preloaded``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import finish, hollow_cluster  # noqa: E402
from haplane.client import Client  # noqa: E402

SELECTOR = "bench=sched"


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


async def first_binding(c: Client) -> float:
    """When the first bench pod is seen with a node (a watch on bound pods only, closed at once)."""
    async for ev in c.watch("Pod", "default", label_selector=SELECTOR, field_selector="spec.nodeName!=",
                            bookmarks=False):
        if ev.get("type") in ("ADDED", "MODIFIED"):
            return time.monotonic()
    raise AssertionError("the watch ended")


async def poll_unbound(c: Client, creating: asyncio.Future, period: float) -> tuple[float, int]:
    """Until every pod is created and none is left without a node: the time that was first seen,
    and the most pods seen waiting for a node at once. Each poll is a linearizable list of the
    unbound bench pods only, so it costs the replica (and this process) what is still pending,
    and an empty answer after the last create was acknowledged means every pod is bound."""
    most = 0
    while True:
        done = creating.done()
        unbound = len((await c.list("Pod", "default", label_selector=SELECTOR, field_selector="spec.nodeName="))[
            "items"])
        most = max(most, unbound)
        if done and not unbound:
            return time.monotonic(), most
        await asyncio.sleep(period)


async def poll_all(c: Client, n: int, period: float) -> float:
    """The bench's first way: list every bench pod (stale) until ``n`` have a node. On 10,000
    pods that costs the replica and this process a 10k-pod list each time."""
    while True:
        pods = (await c.list("Pod", "default", label_selector=SELECTOR, stale=True))["items"]
        if sum(1 for p in pods if p["spec"].get("nodeName")) >= n:
            return time.monotonic()
        await asyncio.sleep(period)


async def create_all(c: Client, n: int, concurrency: int = 128) -> None:
    sem = asyncio.Semaphore(concurrency)

    async def create(i: int) -> None:
        async with sem:
            await c.create(pod(i))
    await asyncio.gather(*(create(i) for i in range(n)))


async def cordon_all(c: Client, names: list[str], cordoned: bool, concurrency: int = 128) -> None:
    sem = asyncio.Semaphore(concurrency)

    async def one(name: str) -> None:
        async with sem:
            await c.patch("Node", name, {"spec": {"unschedulable": True if cordoned else None}}, None)
    await asyncio.gather(*(one(n) for n in names))


async def preloaded(c: Client, args: argparse.Namespace) -> dict:
    """The scheduler's own rate: every pod pending before any node may take one.

    Cordon every node, create the pods (the scheduler marks each Unschedulable), wait until
    that is done, then uncordon every node (all at once: a few Raft entries, yet a second or
    more through the API) and time the bindings. Pods crowd onto the nodes uncordoned first (the
    first steps see only those), so this measures throughput, not placement quality.
    """
    names = [n["metadata"]["name"] for n in (await c.list("Node", None, stale=True))["items"]]
    await cordon_all(c, names, True)
    t_create = time.monotonic()
    await create_all(c, args.pods)
    created_s = time.monotonic() - t_create
    while True:  # until the scheduler has marked every pod (its writes would overlap the run)
        pods = (await c.list("Pod", "default", label_selector=SELECTOR))["items"]
        marked = sum(1 for p in pods if any(cond.get("type") == "PodScheduled" and cond.get("status") == "False"
                                            for cond in (p.get("status") or {}).get("conditions") or ()))
        if marked >= args.pods:
            break
        await asyncio.sleep(1)
    await asyncio.sleep(2)  # the FailedScheduling events of the last marks
    first = asyncio.create_task(first_binding(c))
    t0 = time.monotonic()
    uncordoning = asyncio.ensure_future(cordon_all(c, names, False, concurrency=len(names)))
    uncordoned: list[float] = []
    uncordoning.add_done_callback(lambda _: uncordoned.append(time.monotonic()))
    t_end, _ = await poll_unbound(c, uncordoning, args.period)
    uncordon_s = uncordoned[0] - t0
    first_bound = await first
    return {"benchmark": "scheduler-preloaded", "seconds_total": round(t_end - t0, 2), "pods_per_second": round(args.pods / (t_end - t0), 1),
            "pods_per_second_binding_phase": round(args.pods / (t_end - first_bound), 1),
            "seconds_uncordoning": round(uncordon_s, 2), "seconds_creating_before": round(created_s, 2),
            "poll_period": args.period}


async def run(args: argparse.Namespace) -> dict:
    """``--trials`` runs, each on a fresh cluster; every trial's figures and the medians."""
    trials = []
    for n in range(args.trials):
        load = round(os.getloadavg()[0], 2)
        result = await run_once(args, os.path.join(args.data_dir, f"trial-{n}") if args.data_dir else None)
        trials.append({"trial": n, "load_average_1m_before": load, **result})
        print(json.dumps(trials[-1]), flush=True)
    keys = ("pods_per_second", "pods_per_second_end_to_end", "pods_per_second_binding_phase",
            "pods_per_second_created", "unbound_max")
    medians = {f"median_{k}": statistics.median(t[k] for t in trials) for k in keys if k in trials[0]}
    return {"benchmark": trials[0]["benchmark"], "nodes": args.nodes, "pods": args.pods, "trials": trials, **medians}


async def run_once(args: argparse.Namespace, data_dir: str | None) -> dict:
    with (contextlib.nullcontext(data_dir) if data_dir
          else tempfile.TemporaryDirectory(prefix="haplane-sched-")) as d:
        lc = hollow_cluster(d, nodes=args.nodes, per_agent=args.nodes_per_agent, base_port=args.base_port,
                            node_net=args.node_net)
        lc.start_all()
        try:
            lc.wait_ready(60)
            async with Client(lc.endpoints, lc.admin_token, timeout=30) as c:
                await wait_nodes(c, len(lc.agents) * args.nodes_per_agent, 180)
                if args.preload:
                    return await preloaded(c, args)
                first = asyncio.create_task(first_binding(c))
                t0 = time.monotonic()
                creating = asyncio.ensure_future(create_all(c, args.pods))
                created_at: list[float] = []
                creating.add_done_callback(lambda _: created_at.append(time.monotonic()))
                unbound_max = None
                if args.observe == "pending":
                    t_end, unbound_max = await poll_unbound(c, creating, args.period)
                else:
                    t_end = await poll_all(c, args.pods, args.period)
                await creating
                first_bound = await first
        finally:
            lc.stop_all()
        total = t_end - t0
        binding = t_end - first_bound
        creating_s = created_at[0] - t0
        return {"benchmark": "scheduler", "seconds_total": round(total, 2),
                "pods_per_second_end_to_end": round(args.pods / total, 1),
                "pods_per_second_binding_phase": round(args.pods / binding, 1),
                "seconds_creating": round(creating_s, 2), "pods_per_second_created": round(args.pods / creating_s, 1),
                "observed_by": args.observe, "poll_period": args.period,
                **({"unbound_max": unbound_max} if unbound_max is not None else {})}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--pods", type=int, default=10000)
    p.add_argument("--nodes-per-agent", type=int, default=250)
    p.add_argument("--base-port", type=int, default=24000)
    p.add_argument("--node-net", default="127.0.1", help="the agents' node addresses: NET.1, NET.2, ...")
    p.add_argument("--observe", choices=["pending", "all"], default="pending",
                   help="poll the unbound pods (default) or list all pods (the first version) to see the end")
    p.add_argument("--period", type=float, default=0.2, help="seconds between polls")
    p.add_argument("--preload", action="store_true",
                   help="the scheduler's own rate: create every pod on cordoned nodes, then uncordon and time")
    p.add_argument("--trials", type=int, default=5, help="fresh clusters to run, one after the other")
    p.add_argument("--data-dir", help="keep each trial's cluster (data, logs) in DIR/trial-N (default: temporary directories)")
    p.add_argument("--out", default="bench/results/scheduler.json")
    finish(p.parse_args(), run)


if __name__ == "__main__":
    main()
