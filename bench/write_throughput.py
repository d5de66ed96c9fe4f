"""Acknowledged creates/s through the HTTP API of 3 replicas, at several concurrencies, with latency.

Starts its own cluster on loopback, spreads the writers over every replica (so followers forward
to the leader, as real clients would), and writes JSON:
``{"runs": [{"fsync", "concurrency", "creates", "seconds", "per_second", "p50_ms", "p99_ms", "errors"}],
"journal": {"on": [per replica: syncs, syncSeconds, worstSyncMs], ...}}``. ``--fsync on,off``
measures both modes in one run, one fresh cluster each (``off`` = ``--unsafe-no-fsync``).

Load generators: ``wrk`` (C; one process per replica, its share of the connections each; the
reported p50 / p99 are the worst of the processes' percentiles, a conservative merge) when it
is installed, else a Python aiohttp generator, which spends about as much CPU as the replicas
it measures on this 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import aiohttp

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import finish, percentile  # noqa: E402
from haplane.localcluster import LocalCluster  # noqa: E402


async def run_level(urls: list[str], token: str, concurrency: int, seconds: float, tag: str) -> dict:
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=30)) as session:
        async def worker(w: int) -> None:
            nonlocal errors
            url = urls[w % len(urls)] + "/api/v1/namespaces/default/configmaps"
            i = 0
            while time.monotonic() < deadline:
                body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                                   "metadata": {"name": f"{tag}-{w}-{i}"}, "data": {"k": "v" * 32}})
                t0 = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as r:
                    await r.read()
                    if r.status == 201:
                        latencies.append(time.perf_counter() - t0)
                    else:
                        errors += 1
                i += 1
        t0 = time.monotonic()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        elapsed = time.monotonic() - t0
    return {"concurrency": concurrency, "creates": len(latencies), "seconds": round(elapsed, 2),
            "per_second": round(len(latencies) / elapsed, 1), "p50_ms": round(percentile(latencies, 50) * 1000, 2),
            "p99_ms": round(percentile(latencies, 99) * 1000, 2), "errors": errors}


def run_level_wrk(urls: list[str], token: str, concurrency: int, seconds: float, tag: str) -> dict:
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lua", "create_configmap.lua")
    targets = urls[:concurrency]
    shares = [concurrency // len(targets) + (1 if i < concurrency % len(targets) else 0) for i in range(len(targets))]
    procs = [subprocess.Popen(["wrk", "-t", "1", "-c", str(n), "-d", f"{int(seconds)}s", "--latency", "-s", script, url],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=dict(os.environ, TOKEN=token, PREFIX=f"{tag}-{i}"))
             for i, (url, n) in enumerate(zip(targets, shares, strict=True))]
    total = failed = 0
    p50s, p99s = [], []
    for p in procs:
        out, _ = p.communicate(timeout=seconds + 60)
        m = re.search(r"RESULT requests=(\d+) failed=(\d+) p50_us=(\d+) p99_us=(\d+)", out)
        if not m:
            raise RuntimeError(f"wrk said: {out}")
        total += int(m[1])
        failed += int(m[2])
        p50s.append(int(m[3]) / 1000)
        p99s.append(int(m[4]) / 1000)
    ok = total - failed
    return {"concurrency": concurrency, "creates": ok, "seconds": seconds, "per_second": round(ok / seconds, 1),
            "p50_ms": round(max(p50s), 2), "p99_ms": round(max(p99s), 2), "errors": failed}


async def replica_journals(lc: LocalCluster) -> list[dict]:
    """Each replica's journal figures (fsync count and cost) from /cluster/self."""
    out = []
    headers = {"Authorization": f"Bearer {lc.admin_token}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        for url in lc.endpoints:
            async with session.get(url + "/cluster/self", headers=headers) as r:
                out.append((await r.json()).get("journal"))
    return out


async def main_async(args: argparse.Namespace) -> dict:
    runs, journals = [], {}
    for mode in args.fsync:
        env = dict(os.environ)
        env.pop("HAPLANE_UNSAFE_NO_FSYNC", None)
        if mode == "off":
            env["HAPLANE_UNSAFE_NO_FSYNC"] = "1"
        with tempfile.TemporaryDirectory(prefix="haplane-bench-") as d:
            lc = LocalCluster(d, replicas=3, base_port=args.base_port, env=env)
            lc.start_all()
            try:
                leader = lc.wait_ready(60)
                urls = lc.endpoints if args.spread else [lc.members[leader].url]
                for c in args.concurrency:
                    if args.generator == "wrk":
                        res = run_level_wrk(urls, lc.admin_token, c, args.seconds, f"{mode}-c{c}")
                    else:
                        res = await run_level(urls, lc.admin_token, c, args.seconds, f"{mode}-c{c}")
                    res = {"fsync": mode, **res}
                    print(json.dumps(res), flush=True)
                    runs.append(res)
                journals[mode] = await replica_journals(lc)
                print(json.dumps({"fsync": mode, "journals": journals[mode]}), flush=True)
            finally:
                lc.stop_all()
                if args.logs:  # the replicas' logs outlive the temporary data directory
                    os.makedirs(args.logs, exist_ok=True)
                    for m in lc.replicas:
                        shutil.copy(lc.path(m.name, "log"), os.path.join(args.logs, f"{mode}-{m.name}.log"))
    return {"benchmark": "write_throughput", "replicas": 3, "spread_over_replicas": args.spread,
            "generator": args.generator, "seconds_per_level": args.seconds, "cpus": os.cpu_count(),
            "runs": runs, "journal": journals}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16, 64, 256])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--base-port", type=int, default=23000)
    p.add_argument("--leader-only", dest="spread", action="store_false", help="send every write to the leader")
    p.add_argument("--generator", choices=["wrk", "python"], default="wrk" if shutil.which("wrk") else "python")
    p.add_argument("--fsync", type=lambda s: s.split(","), default=["on"],
                   help="on, off or on,off (off = the replicas' --unsafe-no-fsync)")
    p.add_argument("--out", default="bench/results/write_throughput.json")
    p.add_argument("--logs", help="copy the replicas' logs into this directory after the run")
    finish(p.parse_args(), main_async)


if __name__ == "__main__":
    main()
