"""The dashboard: how soon the page shows a new leader after a SIGKILL of the leader (the replica
the page was loaded from, so the page fails over too), and the README's screenshots.

Starts a 3-replica cluster with two hollow nodes, a small workload (two Deployments, two
Services) and, unless ``--chaos ''``, runs chaos scenarios whose reports land in the cluster's
``reports/`` directory (the dashboard lists them). Then, in headless chromium: signs in, takes
``docs/dashboard.png``; per trial SIGKILLs the leader, times until the page marks another replica
leader (the page is polled every 20 ms by the harness; the page itself only reads its stream),
takes ``docs/dashboard-failover.png`` after the first, restarts the killed replica and reloads
the page from the new leader. Run under the heavy lock::

    flock /tmp/haplane-heavy.lock .venv/bin/python bench/dashboard.py --out bench/results/dashboard.json
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import finish  # noqa: E402
from haplane.client import Client  # noqa: E402
from haplane.localcluster import LocalCluster  # noqa: E402
from tests.integration.browser import chromium, replica_roles, shown_leader, shown_pods, sign_in, wait_for  # noqa: E402

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")


def deployment(name: str, replicas: int, port: int) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "shop"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "main", "image": "busybox:local",
                                                           "command": ["httpd", "-f", "-p", str(port)],
                                                           "ports": [{"containerPort": port}]}]}}}}


def service(name: str, port: int) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "shop"},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": port}]}}


async def workload(lc: LocalCluster) -> None:
    async with Client(lc.endpoints, lc.admin_token, timeout=10.0) as c:
        await c.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
        for obj in (deployment("web", 3, 8080), deployment("api", 2, 9090), service("web", 8080), service("api", 9090)):
            await c.create(obj)


def run_chaos(lc: LocalCluster, scenarios: list[str], base_port: int) -> None:
    for i, name in enumerate(scenarios):
        out = lc.path("reports", name)
        print(f"chaos: {name} -> {out}", flush=True)
        subprocess.run([sys.executable, "-m", "haplane", "chaos", "run", name, "--report", out,
                        "--base-port", str(base_port + 400 * i)], check=False, timeout=600,
                       stdout=subprocess.DEVNULL)


def screenshot(driver: Any, path: str, height: int | None = None) -> None:
    """The page at 1360 px wide, ``height`` px tall (None: all of it)."""
    if height is None:
        driver.set_window_size(1360, 3000)
        time.sleep(0.3)
        height = driver.execute_script("return Math.ceil(document.querySelector('#reports')"
                                       ".getBoundingClientRect().bottom + window.scrollY) + 24")
    inner = driver.execute_script("return [window.outerHeight - window.innerHeight]")[0]
    driver.set_window_size(1360, height + inner)
    time.sleep(0.5)
    driver.save_screenshot(path)
    print(f"wrote {path}", flush=True)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    return await asyncio.to_thread(measure, args)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    work = tempfile.mkdtemp(prefix="haplane-bench-dashboard-")
    lc = LocalCluster(os.path.join(work, "cluster"), replicas=3, agents=2, runtime="hollow", base_port=args.base_port)
    os.makedirs(args.shots, exist_ok=True)
    times: list[float] = []
    lc.prepare()
    run_chaos(lc, [s for s in args.chaos.split(",") if s], args.base_port + 1000)
    lc.start_all()
    try:
        leader = lc.wait_ready(timeout=60)
        with chromium() as driver:
            sign_in(driver, f"{lc.members[leader].url}/ui/", lc.admin_token)
            wait_for(driver, lambda d: d.execute_script("return document.querySelectorAll('#node-rows .badge.ok')"
                                                        ".length") == 2, 30, "two Ready nodes")
            asyncio.run(workload(lc))
            wait_for(driver, lambda d: shown_leader(d) == leader and len(shown_pods(d)) == 5, 30, "the cluster shown")
            wait_for(driver, lambda d: d.execute_script("return document.querySelectorAll('#pod-rows .badge.ok')"
                                                        ".length") == 5, 30, "five pods running")
            time.sleep(1.5)  # let events and endpoints settle for the picture
            screenshot(driver, os.path.join(args.shots, "dashboard.png"))
            driver.set_window_size(1360, 900)
            for trial in range(args.trials):
                lc.kill(leader)
                t0 = time.monotonic()
                wait_for(driver, lambda d, old=leader: shown_leader(d) not in (None, old), 30, "a new leader shown")
                times.append(round(time.monotonic() - t0, 3))
                print(f"trial {trial}: new leader shown {times[-1]:.2f}s after SIGKILL of {leader}", flush=True)
                if trial == 0:
                    driver.execute_script("window.scrollTo(0, 0)")
                    screenshot(driver, os.path.join(args.shots, "dashboard-failover.png"), 360)
                    driver.set_window_size(1360, 900)
                killed, leader = leader, lc.wait_ready(timeout=30, not_leader=leader)
                lc.start(killed)
                lc.wait_ready(timeout=30)
                sign_in(driver, f"{lc.members[leader].url}/ui/", lc.admin_token)
                wait_for(driver, lambda d: sorted(replica_roles(d).values()) == ["follower", "follower", "leader"],
                         30, "three healthy replicas again")
    finally:
        lc.stop_all()
    return {"bench": "dashboard", "trials": args.trials, "leader_shown_s": times,
            "median_s": statistics.median(times) if times else None, "max_s": max(times) if times else None,
            "how": "3 replicas + 2 hollow nodes on loopback; page loaded from the leader; SIGKILL it; "
                   "time until the page marks another replica leader (no reload)"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="bench/results/dashboard.json")
    p.add_argument("--shots", default=DOCS, help="where the screenshots go (default docs/)")
    p.add_argument("--trials", type=int, default=5)
    p.add_argument("--base-port", type=int, default=25000)
    p.add_argument("--chaos", default="kill-leader,pause-leader",
                   help="chaos scenarios whose reports the dashboard shows (comma-separated; '' for none)")
    finish(p.parse_args(), run)


if __name__ == "__main__":
    main()
