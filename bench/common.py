"""What every benchmark script shares: run the async body, write the JSON result, say where."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
from collections.abc import Awaitable, Callable
from typing import Any


def finish(args: argparse.Namespace, run: Callable[[argparse.Namespace], Awaitable[dict[str, Any]]],
           quiet: bool = False) -> dict:
    """Run ``run(args)``, write its result to ``args.out`` as JSON, print the summary fields
    (unless ``quiet``)."""
    result = asyncio.run(run(args))
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    if not quiet:
        print(json.dumps({k: v for k, v in result.items() if not isinstance(v, list)}))
    print(f"wrote {args.out}")
    return result


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def proc_cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes (all their threads), from /proc; a vanished one counts 0."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5), after pid and comm
    return total / os.sysconf("SC_CLK_TCK")


def machine_load() -> list[float]:
    """The 1, 5 and 15-minute load averages: how busy the shared machine was."""
    return [round(x, 2) for x in os.getloadavg()]


def free_ports(n: int) -> list[int]:
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def free_base_port() -> int:
    """A LocalCluster base port P with P+1..P+3 and P+101..P+103 free."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(32000, 40000, 200)
        ok = True
        for p in [base + i for i in (1, 2, 3)] + [base + 100 + i for i in (1, 2, 3)]:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port range")


def hollow_cluster(data_dir: str, *, nodes: int, per_agent: int, base_port: int, node_net: str) -> Any:
    """3 replicas and enough hollow agents (``per_agent`` nodes each) for ``nodes`` nodes, not
    started; ``.agents`` gives the agent count (nodes rounded up to whole agents)."""
    from haplane.localcluster import LocalCluster

    agents = (nodes + per_agent - 1) // per_agent
    return LocalCluster(data_dir, replicas=3, agents=agents, runtime="hollow", hollow_count=per_agent,
                        base_port=base_port, node_net=node_net)
