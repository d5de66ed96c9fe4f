"""What metrics cost: acknowledged creates/s with every replica scraped once a second against
not scraped, in the same run on the same cluster (phases alternate, so drift from the machine
and the growing store falls on both sides), and the API middleware's own cost per request.

The middleware figure is a micro-benchmark: ``metrics_middleware`` called directly on a mocked
request with a handler that returns at once, against the handler alone (µs per request; the
difference is what every API request pays). Writes JSON:
``{"middleware_us": ..., "phases": [{"scraping", "per_second", "p50_ms", "p99_ms", ...}],
"scraping_per_second", "idle_per_second", "cost_percent", "scrape": {"ms_p50", "bytes"}}``.
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

import aiohttp

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import finish, percentile  # noqa: E402
from bench.write_throughput import run_level, run_level_wrk  # noqa: E402
from haplane.aio import wait_for  # noqa: E402
from haplane.localcluster import LocalCluster  # noqa: E402


async def middleware_cost(n: int = 50_000) -> dict:
    """µs per request of metrics_middleware around a handler that does nothing."""
    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from haplane.api.app import REPLICA, metrics_middleware
    from haplane.metrics import ServerMetrics

    class _Replica:
        metrics = ServerMetrics()

    app = web.Application()
    app[REPLICA] = _Replica()  # type: ignore[assignment]
    ok = web.Response(status=201)

    async def handler(request: web.Request) -> web.Response:
        return ok

    cases = {"create": ("POST", "/api/v1/namespaces/default/configmaps"),
             "get": ("GET", "/api/v1/namespaces/default/pods/web-1"),
             "list": ("GET", "/apis/apps/v1/namespaces/default/deployments?labelSelector=app%3Dweb")}
    out = {}
    for name, (method, path) in cases.items():
        req = make_mocked_request(method, path, app=app)
        best_with = best_without = float("inf")
        for _ in range(5):  # best of 5: the machine is shared
            t0 = time.perf_counter()
            for _ in range(n):
                await handler(req)
            best_without = min(best_without, time.perf_counter() - t0)
            t0 = time.perf_counter()
            for _ in range(n):
                await metrics_middleware(req, handler)
            best_with = min(best_with, time.perf_counter() - t0)
        out[name] = round((best_with - best_without) / n * 1e6, 2)
    return out


async def scrape_loop(urls: list[str], token: str, stop: asyncio.Event, durations: list[float],
                      sizes: list[int]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        while not stop.is_set():
            tick = time.monotonic()
            for url in urls:
                t0 = time.perf_counter()
                async with session.get(url + "/metrics", headers=headers) as r:
                    body = await r.read()
                    if r.status == 200:
                        durations.append(time.perf_counter() - t0)
                        sizes.append(len(body))
            try:
                await wait_for(stop.wait(), max(0.0, 1.0 - (time.monotonic() - tick)))
            except TimeoutError:
                pass


async def main_async(args: argparse.Namespace) -> dict:
    micro = await middleware_cost()
    print("middleware µs/request:", micro, flush=True)
    with tempfile.TemporaryDirectory(prefix="haplane-bench-") as d:
        lc = LocalCluster(d, replicas=3, base_port=args.base_port)
        lc.start_all()
        try:
            lc.wait_ready(60)
            urls = lc.endpoints
            phases = []
            durations: list[float] = []
            sizes: list[int] = []
            for i in range(args.rounds * 2):
                scraping = i % 2 == 1
                stop = asyncio.Event()
                scraper = asyncio.create_task(scrape_loop(urls, lc.admin_token, stop, durations, sizes)) \
                    if scraping else None
                if args.generator == "wrk":
                    res = await asyncio.to_thread(run_level_wrk, urls, lc.admin_token, args.concurrency,
                                                  args.seconds, f"p{i}")
                else:
                    res = await run_level(urls, lc.admin_token, args.concurrency, args.seconds, f"p{i}")
                stop.set()
                if scraper is not None:
                    await scraper
                res["scraping"] = scraping
                print(res, flush=True)
                phases.append(res)
            on = [p["per_second"] for p in phases if p["scraping"]]
            off = [p["per_second"] for p in phases if not p["scraping"]]
            with_s, without_s = statistics.median(on), statistics.median(off)
            return {"benchmark": "metrics_cost", "replicas": 3, "concurrency": args.concurrency,
                    "generator": args.generator, "seconds_per_phase": args.seconds, "cpus": os.cpu_count(),
                    "middleware_us": micro, "phases": phases,
                    "scraping_per_second": with_s, "idle_per_second": without_s,
                    "cost_percent": round((without_s - with_s) / without_s * 100, 1),
                    "scrape": {"count": len(durations), "ms_p50": round(percentile(durations, 50) * 1000, 2),
                               "ms_p99": round(percentile(durations, 99) * 1000, 2),
                               "bytes": max(sizes) if sizes else 0}}
        finally:
            lc.stop_all()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--rounds", type=int, default=3, help="pairs of phases (not scraped, scraped)")
    p.add_argument("--base-port", type=int, default=23400)
    p.add_argument("--generator", choices=["wrk", "python"], default="wrk" if shutil.which("wrk") else "python")
    p.add_argument("--out", default="bench/results/metrics_cost.json")
    finish(p.parse_args(), main_async)


if __name__ == "__main__":
    main()
