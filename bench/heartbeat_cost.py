"""What heartbeats cost the control plane: Raft entries/s and replica CPU with N hollow nodes.

Starts 3 replicas on loopback and measures, over ``--seconds`` each, an idle baseline and
then every node count of ``--nodes`` (default 200, then 1,000): hollow agents are added,
``--per-agent`` nodes per process (each process sends ONE heartbeat request per second for
all its nodes), every node must be Ready, then the window is measured:

* Raft entries/s: the delta of the leader's ``commitIndex`` (``/cluster/self``);
* CPU of each replica: utime+stime from ``/proc/PID/stat`` over the window, in % of one core;
* heartbeats received: what the agents sent (one request per agent per second).

Writes JSON ``{"runs": [{"nodes", "agents", "raft_entries_per_s", "replica_cpu_pct": {...},
"leader", "all_ready"}]}``. Heartbeats live in the leader's memory; only transitions are
written, so entries/s should not grow with the node count.
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
from bench.common import finish, proc_cpu_seconds  # noqa: E402
from haplane.client import Client  # noqa: E402
from haplane.localcluster import LocalCluster  # noqa: E402


def ready_count(nodes: list[dict]) -> int:
    return sum(any(c["type"] == "Ready" and c["status"] == "True" for c in (n.get("status") or {}).get("conditions")
                   or []) for n in nodes)


async def window(lc: LocalCluster, seconds: float, agents: list[subprocess.Popen], request_timeout: float = 2.0) -> dict:
    leader = lc.wait_ready(30, request_timeout=request_timeout)
    pids = {m.name: m.pid for m in lc.replicas if m.pid}
    cpu0 = {n: proc_cpu_seconds([p]) for n, p in pids.items()}
    agent_cpu0 = proc_cpu_seconds([a.pid for a in agents])
    c0 = lc.get_json(leader, "/cluster/self", timeout=request_timeout)["commitIndex"]
    t0 = time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - t0
    c1 = lc.get_json(leader, "/cluster/self", timeout=request_timeout)["commitIndex"]
    cpu = {n: round(100 * (proc_cpu_seconds([p]) - cpu0[n]) / elapsed, 1) for n, p in pids.items()}
    agent_cpu = proc_cpu_seconds([a.pid for a in agents]) - agent_cpu0
    return {"leader": leader, "seconds": round(elapsed, 1), "raft_entries": c1 - c0,
            "raft_entries_per_s": round((c1 - c0) / elapsed, 2), "replica_cpu_pct": cpu,
            "replica_cpu_pct_total": round(sum(cpu.values()), 1),
            "agents_cpu_pct_total": round(100 * agent_cpu / elapsed, 1)}


async def main_async(args: argparse.Namespace) -> dict:
    runs = []
    with tempfile.TemporaryDirectory(prefix="haplane-bench-") as d:
        lc = LocalCluster(d, replicas=3, base_port=args.base_port)
        lc.start_all()
        agents: list[subprocess.Popen] = []
        try:
            lc.wait_ready(60)
            token_file = lc.path("node-token")
            with open(token_file, "w") as f:
                f.write(lc.token("node") + "\n")
            res = {"nodes": 0, "agents": 0, "all_ready": True, **await window(lc, args.seconds, agents)}
            print(json.dumps(res), flush=True)
            runs.append(res)
            async with Client(lc.endpoints, lc.admin_token, timeout=30) as c:
                have = 0
                for target in args.nodes:
                    while have < target:
                        k = min(args.per_agent, target - have)
                        i = len(agents)
                        log = open(lc.path(f"hollow-{i}.log"), "wb")  # noqa: SIM115 - owned by the child
                        agents.append(subprocess.Popen(
                            [sys.executable, "-m", "node_agent.agent", "--name", f"h{i}", "--address",
                             f"127.0.3.{i + 1}", "--servers", ",".join(lc.endpoints), "--token-file", token_file,
                             "--runtime", "hollow", "--hollow-count", str(k), "--port", "0"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
                        log.close()
                        have += k
                    t0 = time.monotonic()
                    ready = 0
                    while time.monotonic() - t0 < args.ready_timeout:
                        ready = ready_count((await c.list("Node", None, stale=True))["items"])
                        if ready >= target:
                            break
                        await asyncio.sleep(2)
                    registered_in = round(time.monotonic() - t0, 1)
                    await asyncio.sleep(5)  # registration traffic dies down
                    res = {"nodes": target, "agents": len(agents), "registered_and_ready_in_s": registered_in,
                           **await window(lc, args.seconds, agents)}
                    ready = ready_count((await c.list("Node", None, stale=True))["items"])
                    res["all_ready"] = ready >= target
                    res["ready_after_window"] = ready
                    print(json.dumps(res), flush=True)
                    runs.append(res)
        finally:
            for a in agents:
                a.terminate()
            for a in agents:
                try:
                    a.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    a.kill()
            lc.stop_all()
    return {"benchmark": "heartbeat_cost", "replicas": 3, "heartbeat_period_s": 1.0, "per_agent": args.per_agent,
            "cpus": os.cpu_count(), "runs": runs}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--nodes", type=lambda s: [int(x) for x in s.split(",")], default=[200, 1000])
    p.add_argument("--per-agent", type=int, default=250, help="hollow nodes per agent process")
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--ready-timeout", type=float, default=180.0)
    p.add_argument("--base-port", type=int, default=25000)
    p.add_argument("--out", default="bench/results/heartbeat_cost.json")
    finish(p.parse_args(), main_async)


if __name__ == "__main__":
    main()
