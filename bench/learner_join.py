"""How long acknowledged writes stall while a member joins: with the learner stage, and without it.

For each cluster size in ``--voters`` and each mode — ``learner`` (``--join``: a learner until
caught up) and ``voter`` (``HAPLANE_JOIN_AS_VOTER=1``: the old way, a voter from its ``add`` on,
with an empty log) — start a fresh cluster, preload ``--preload-mb`` of ConfigMaps (the state
the newcomer must receive), keep ``--writers`` clients updating, start a new replica with
``--join`` and add it with ``haplane cluster add-member``'s code, write ``--after`` seconds
more. Reports the longest stretch without an acknowledged write from the add request on, and
how long the add took. JSON: ``{"runs": [{"voters", "mode", "preload_mb", "add_s",
"longest_gap_s", "writes"}]}``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import finish  # noqa: E402
from haplane import errors, members  # noqa: E402
from tests.integration.elastic import ElasticCluster  # noqa: E402


def longest_gap(acks: list[float], start: float, end: float) -> float:
    points = [start, *sorted(t for t in acks if start <= t <= end), end]
    return max(b - a for a, b in zip(points, points[1:], strict=False))


async def one_run(voters: int, mode: str, preload_mb: float, writers: int, after: float) -> dict:
    env = dict(os.environ)
    env.pop("HAPLANE_JOIN_AS_VOTER", None)
    if mode == "voter":
        env["HAPLANE_JOIN_AS_VOTER"] = "1"
    root = tempfile.mkdtemp(prefix=f"learner-join-{voters}-{mode}-")
    lc = ElasticCluster(os.path.join(root, "c"), replicas=voters, env=env)
    lc.start_all()
    try:
        await lc.wait_leader()
        async with lc.client(max_attempts=20, timeout=10.0, backoff_max=0.5) as client:
            blob = "x" * 20_000
            count = int(preload_mb * 1e6 / len(blob))

            async def preload(k: int) -> None:
                for i in range(k, count, 8):
                    await client.create({"apiVersion": "v1", "kind": "ConfigMap",
                                         "metadata": {"name": f"load-{i}", "namespace": "default"},
                                         "data": {"v": blob}})

            await asyncio.gather(*(preload(k) for k in range(8)))
            acks: list[float] = []
            stop = asyncio.Event()

            async def writer(w: int) -> None:
                name, n = f"w-{w}", 0
                await client.create({"apiVersion": "v1", "kind": "ConfigMap",
                                     "metadata": {"name": name, "namespace": "default"}, "data": {"n": "0"}})
                while not stop.is_set():
                    n += 1
                    try:
                        cur = await client.get("ConfigMap", name, "default")
                        cur["data"] = {"n": str(n)}
                        await client.update(cur)
                        acks.append(time.monotonic())
                    except errors.HaplaneError:
                        await asyncio.sleep(0.05)

            tasks = [asyncio.create_task(writer(w)) for w in range(writers)]
            await asyncio.sleep(1.0)
            name = f"r{voters + 1}"
            m = lc.new_replica(name, voters + 1)
            lc.start(name)
            await lc.wait_serving(name)
            t0 = time.monotonic()
            notes: list[str] = []
            await members.add_member(client, name, str(m.raft), lc.url(name), wait_timeout=300,
                                     say=notes.append, out=notes.append)
            add_s = time.monotonic() - t0
            await asyncio.sleep(after)
            stop.set()
            t_end = time.monotonic()
            await asyncio.gather(*tasks)
        return {"voters": voters, "mode": mode, "preload_mb": preload_mb, "add_s": round(add_s, 3),
                "longest_gap_s": round(longest_gap(acks, t0, t_end), 3), "writes": len(acks)}
    finally:
        lc.stop_all()


async def run(args: argparse.Namespace) -> dict:
    runs = []
    for voters in [int(v) for v in args.voters.split(",")]:
        for mode in args.modes.split(","):
            r = await one_run(voters, mode, args.preload_mb, args.writers, args.after)
            print(r, flush=True)
            runs.append(r)
    return {"preload_mb": args.preload_mb, "writers": args.writers, "runs": runs}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--voters", default="1,3", help="cluster sizes before the add (default 1,3)")
    p.add_argument("--modes", default="learner,voter")
    p.add_argument("--preload-mb", type=float, default=16.0)
    p.add_argument("--writers", type=int, default=3)
    p.add_argument("--after", type=float, default=2.0)
    p.add_argument("--out", default="bench/results/learner_join.json")
    finish(p.parse_args(), run)


if __name__ == "__main__":
    main()
