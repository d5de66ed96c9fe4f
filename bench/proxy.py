"""Service proxy overhead: requests/s and latency through a node's proxy vs. straight to the pod.

One web pod (busybox httpd under the process runtime) behind a Service; the same wrk load
(connections, duration) is run against the pod's host port and against the Service port on a
node address, in the same run. JSON: both runs and the added p50 / p99 latency.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import finish  # noqa: E402
from haplane.client import Client  # noqa: E402
from haplane.localcluster import LocalCluster  # noqa: E402

SERVICE_PORT = 18090


def objects(www: str) -> list[dict]:
    httpd = shutil.which("busybox") or "/bin/busybox"
    container = {"name": "web", "image": "busybox", "ports": [{"name": "http", "containerPort": 8080}],
                 "command": [httpd, "httpd", "-f", "-p", "$(HOST_IP):$(PORT_HTTP)", "-h", www],
                 "readinessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 1}}
    return [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"app": "web"}},
         "spec": {"nodeName": "n1", "containers": [container]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
         "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http"}]}},
    ]


def wrk(url: str, connections: int, seconds: int) -> dict:
    out = subprocess.run(["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "--latency", url],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])

    def pct(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        value, unit = float(m[1]), m[2]
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"requests_per_second": rps, "p50_ms": pct("50"), "p99_ms": pct("99"),
            "non_2xx": int(errors[1]) if errors else 0}


async def run(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="haplane-proxy-") as d:
        www = os.path.join(d, "www")
        os.makedirs(www)
        with open(os.path.join(www, "index.html"), "w") as f:
            f.write("<h1>hello from haplane</h1>\n")
        lc = LocalCluster(d, replicas=3, agents=2, runtime="process", base_port=args.base_port)
        lc.start_all()
        try:
            lc.wait_ready(60)
            async with Client(lc.endpoints, lc.admin_token) as c:
                for obj in objects(www):
                    await c.create(obj)
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    try:
                        ep = await c.get("Endpoints", "web")
                        addrs = [(a["ip"], s["ports"][0]["port"]) for s in ep.get("subsets") or []
                                 for a in s.get("addresses") or []]
                        if addrs:
                            break
                    except Exception:  # noqa: BLE001 - not there yet
                        pass
                    await asyncio.sleep(0.5)
                else:
                    raise TimeoutError("the pod never became a ready endpoint")
            ip, port = addrs[0]
            await asyncio.sleep(2)  # let the proxies see the endpoint
            direct = wrk(f"http://{ip}:{port}/", args.connections, args.seconds)
            proxied = wrk(f"http://{lc.members['n2'].address}:{SERVICE_PORT}/", args.connections, args.seconds)
        finally:
            lc.stop_all()
    return {"benchmark": "proxy", "connections": args.connections, "seconds": args.seconds,
            "direct": direct, "through_proxy": proxied,
            "added_p50_ms": round(proxied["p50_ms"] - direct["p50_ms"], 3),
            "added_p99_ms": round(proxied["p99_ms"] - direct["p99_ms"], 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--base-port", type=int, default=25100)
    p.add_argument("--out", default="bench/results/proxy.json")
    finish(p.parse_args(), run)


if __name__ == "__main__":
    main()
