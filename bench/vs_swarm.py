"""haplane's Docker runtime against a single-node Docker Swarm: the same engine, the same local image.

Both sides run ``busybox:local`` (built offline by deploy/images/busybox/build.sh) with the same
command, an init process (``--init`` for Swarm; haplane's runtime always uses one) and the same
stop grace. Each figure is read from the engine itself, the same way for both: the side's
running containers (Swarm: label ``com.docker.swarm.service.name``; haplane: label
``haplane.namespace``, a namespace of its own), polled every 50 ms.

* deploy N (10 and 50): create the service / Deployment -> N containers running.
* kill one: ``docker kill`` (SIGKILL) one running container (that has run 11 s) -> N running
  again. The same restart delay on both sides: haplane's agent restarts a container that ran
  longer than 10 s after 1 s (its backoff's base), so Swarm gets ``--restart-delay 1s`` (its
  default is 5 s).
* rolling update of 10 (an env var changed): -> 10 running, none of the containers that ran
  before. Same policy on both sides: one at a time, the old one stopped first (Swarm's default:
  parallelism 1, stop-first, delay 0; haplane: maxSurge 0, maxUnavailable 1).

The sides take turns (Swarm, haplane, haplane, Swarm, ... — the order flips each trial); the
haplane cluster (3 replicas, 1 Docker agent) stays up throughout. Swarm: ``docker swarm init
--advertise-addr 127.0.0.1`` first, ``docker swarm leave --force`` last, even on error; it
refuses to start when the engine is already in a swarm (not ours to leave). JSON out; the
ratios haplane/Swarm printed last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

import docker

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import finish, free_base_port, machine_load  # noqa: E402
from bench.pod_startup import wait_node  # noqa: E402
from haplane.client import Client  # noqa: E402
from haplane.localcluster import LocalCluster  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE = "busybox:local"
COMMAND = ["sh", "-c", "exec sleep 3600"]
POLL = 0.05


def docker_cli(*args: str, timeout: float = 120) -> str:
    r = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout.strip()


class Engine:
    """The running containers of one side, as the engine lists them."""

    def __init__(self) -> None:
        self.api = docker.APIClient(timeout=30)

    def running(self, label: str) -> set[str]:
        return {c["Id"] for c in self.api.containers(filters={"label": label, "status": "running"})}

    def existing(self, label: str) -> set[str]:
        return {c["Id"] for c in self.api.containers(all=True, filters={"label": label})}

    async def until(self, label: str, done, timeout: float = 180) -> float:  # noqa: ANN001 - a predicate on the set
        """Seconds until ``done(running ids)``; TimeoutError after ``timeout``."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            ids = await asyncio.to_thread(self.running, label)
            if done(ids):
                return time.monotonic() - t0
            await asyncio.sleep(POLL)
        raise TimeoutError(f"{label}: not done after {timeout}s")


class SwarmSide:
    name = "swarm"

    def __init__(self, engine: Engine, grace: float) -> None:
        self.engine, self.grace = engine, grace
        self.service = ""

    @property
    def label(self) -> str:
        return f"com.docker.swarm.service.name={self.service}"

    async def deploy(self, n: int) -> None:
        self.service = f"vsswarm-{uuid.uuid4().hex[:6]}"
        await asyncio.to_thread(
            docker_cli, "service", "create", "--detach", "--no-resolve-image", "--name", self.service,
            "--replicas", str(n), "--init", "--stop-grace-period", f"{self.grace}s", "--restart-delay", "1s",
            "--update-parallelism", "1", "--update-delay", "0s", "--update-order", "stop-first",
            "--env", "V=1", IMAGE, *COMMAND)

    async def update(self, version: int) -> None:
        await asyncio.to_thread(docker_cli, "service", "update", "--detach", "--no-resolve-image",
                                "--env-add", f"V={version}", self.service)

    async def remove(self) -> None:
        await asyncio.to_thread(docker_cli, "service", "rm", self.service)
        await self.engine.until(self.label, lambda ids: not ids)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and await asyncio.to_thread(self.engine.existing, self.label):
            await asyncio.sleep(0.2)


class HaplaneSide:
    name = "haplane"

    def __init__(self, engine: Engine, grace: float, lc: LocalCluster, client: Client) -> None:
        self.engine, self.grace, self.lc, self.client = engine, grace, lc, client
        self.namespace = f"vsswarm-{uuid.uuid4().hex[:6]}"
        self.made_namespace = False

    @property
    def label(self) -> str:
        return f"haplane.namespace={self.namespace}"

    async def deploy(self, n: int) -> None:
        if not self.made_namespace:
            await self.client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}})
            self.made_namespace = True
        await self.client.create({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bench", "namespace": self.namespace},
            "spec": {"replicas": n, "selector": {"matchLabels": {"app": "bench"}},
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
                     "template": {"metadata": {"labels": {"app": "bench"}}, "spec": {
                         "terminationGracePeriodSeconds": self.grace,
                         "containers": [{"name": "main", "image": IMAGE, "imagePullPolicy": "Never",
                                         "command": COMMAND, "env": [{"name": "V", "value": "1"}]}]}}}})

    async def update(self, version: int) -> None:
        await self.client.patch("Deployment", "bench", {"spec": {"template": {"spec": {"containers": [
            {"name": "main", "image": IMAGE, "imagePullPolicy": "Never", "command": COMMAND,
             "env": [{"name": "V", "value": str(version)}]}]}}}}, self.namespace)

    async def remove(self) -> None:
        await self.client.delete("Deployment", "bench", self.namespace)
        await self.engine.until(self.label, lambda ids: not ids)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and await asyncio.to_thread(self.engine.existing, self.label):
            await asyncio.sleep(0.2)


Side = SwarmSide | HaplaneSide


async def deploy_kill_update(side: Side, n: int, kills: int, updates: int, trial: int) -> dict[str, Any]:
    eng = side.engine
    t0 = time.monotonic()
    await side.deploy(n)
    await eng.until(side.label, lambda ids: len(ids) >= n)
    deploy_s = time.monotonic() - t0
    out: dict[str, Any] = {"side": side.name, "trial": trial, "n": n, "deploy_seconds": round(deploy_s, 3)}
    kill_s = []
    for _ in range(kills):
        # A container that ran this long is no crash loop for haplane (it clears its backoff after 10 s).
        await asyncio.sleep(11.0)
        victim = sorted(await asyncio.to_thread(eng.running, side.label))[0]
        t0 = time.monotonic()
        await asyncio.to_thread(eng.api.kill, victim)
        await eng.until(side.label, lambda ids, v=victim: v not in ids and len(ids) >= n)
        kill_s.append(round(time.monotonic() - t0, 3))
    if kill_s:
        out["kill_one_seconds"] = kill_s
    await asyncio.sleep(2.0)
    update_s = []
    for u in range(updates):
        before = await asyncio.to_thread(eng.existing, side.label)
        t0 = time.monotonic()
        await side.update(2 + u)
        await eng.until(side.label, lambda ids, b=before: len(ids) == n and not (ids & b))
        update_s.append(round(time.monotonic() - t0, 3))
        await asyncio.sleep(1.0)
    if update_s:
        out["rolling_update_seconds"] = update_s
    t0 = time.monotonic()
    await side.remove()
    out["remove_seconds"] = round(time.monotonic() - t0, 3)
    print(json.dumps(out), flush=True)
    return out


def med(rows: list[dict], side: str, key: str, n: int) -> dict:
    vals: list[float] = []
    for r in rows:
        if r["side"] == side and r["n"] == n and key in r:
            vals += r[key] if isinstance(r[key], list) else [r[key]]
    if not vals:
        return {}
    return {"median": round(statistics.median(vals), 3), "min": min(vals), "max": max(vals), "n": len(vals)}


async def main_async(args: argparse.Namespace) -> dict:
    subprocess.run([os.path.join(ROOT, "deploy", "images", "busybox", "build.sh"), IMAGE], check=True,
                   capture_output=True, timeout=120)
    state = docker_cli("info", "--format", "{{.Swarm.LocalNodeState}}")
    if state != "inactive":
        raise SystemExit(f"the engine is already in a swarm ({state}); not touching it")
    engine = Engine()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="haplane-vs-swarm-") as d:
        lc = LocalCluster(d, replicas=3, agents=1, runtime="docker", base_port=free_base_port())
        lc.start_all()
        hap_ns = None
        try:
            docker_cli("swarm", "init", "--advertise-addr", "127.0.0.1")
            lc.wait_ready(60)
            async with Client(lc.endpoints, lc.admin_token, timeout=10) as client:
                await wait_node(client)
                await asyncio.sleep(2)
                hap = HaplaneSide(engine, args.grace, lc, client)
                hap_ns = hap.namespace
                sides: list[Side] = [SwarmSide(engine, args.grace), hap]
                for t in range(args.trials):
                    for n in args.sizes:
                        first = n == args.sizes[0]
                        for s in (sides if t % 2 == 0 else sides[::-1]):
                            rows.append(await deploy_kill_update(s, n, args.kills if first else 0,
                                                                 args.updates if first else 0, t))
                try:
                    await client.delete("Namespace", hap.namespace, None)
                except Exception:  # noqa: BLE001 - cleanup
                    pass
        finally:
            subprocess.run(["docker", "swarm", "leave", "--force"], capture_output=True, timeout=120)
            lc.stop_all()  # the agent stops with --stop-on-exit: it removes its containers
            if hap_ns:
                for cid in engine.existing(f"haplane.namespace={hap_ns}"):
                    engine.api.remove_container(cid, force=True)
    left = docker_cli("info", "--format", "{{.Swarm.LocalNodeState}}")
    summary: dict[str, Any] = {}
    ratios: dict[str, Any] = {}
    for n in args.sizes:
        for key in ("deploy_seconds", "kill_one_seconds", "rolling_update_seconds", "remove_seconds"):
            per = {s: med(rows, s, key, n) for s in ("swarm", "haplane")}
            if per["swarm"] and per["haplane"]:
                summary[f"{key}_n{n}"] = per
                ratios[f"{key}_n{n}"] = round(per["haplane"]["median"] / per["swarm"]["median"], 3) \
                    if per["swarm"]["median"] else None
    return {"benchmark": "vs_swarm", "engine": docker_cli("version", "--format", "{{.Server.Version}}"),
            "image": IMAGE, "grace_seconds": args.grace, "trials": args.trials, "cpus": os.cpu_count(),
            "swarm_state_after": left, "load_at_end": machine_load(), "runs": rows, "summary": summary,
            "ratios_haplane_over_swarm": ratios}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[10, 50])
    p.add_argument("--trials", type=int, default=2)
    p.add_argument("--kills", type=int, default=2, help="kill-one trials per deploy of the first size")
    p.add_argument("--updates", type=int, default=1, help="rolling updates per deploy of the first size")
    p.add_argument("--grace", type=int, default=2, help="stop grace (seconds), both sides")
    p.add_argument("--out", default="bench/results/vs_swarm.json")
    result = finish(p.parse_args(), main_async, quiet=True)
    print("ratios haplane/swarm:", json.dumps(result["ratios_haplane_over_swarm"]))


if __name__ == "__main__":
    main()
