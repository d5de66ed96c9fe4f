"""haplane against etcd, side by side: a 3-member etcd and a 3-replica haplane on loopback, one load generator.

Both clusters run at once on this machine; the load goes to one side at a time, alternating
(etcd, haplane, haplane, etcd, ... — the order flips each trial). The load generator is the same
aiohttp code for both: N writers spread over all three members, each writing a new key with a
256-byte value back to back. etcd: ``POST /v3/kv/put`` through its v3 JSON gateway (base64 key
and value); haplane: ``POST .../configmaps`` (a new ConfigMap whose one value is those 256 bytes).
Both fsync their log before acknowledging (the defaults of both). For every level: throughput,
p50, p99, errors and the CPU seconds each side's processes spent over the trial (utime+stime
from /proc). Linearizable reads at c=64: etcd ``/v3/kv/range`` (serializable=false, the
default), haplane GET of a ConfigMap (linearizable by default). Failover: 8 writers spread over
the members, SIGKILL the leader, time to the first acknowledged write issued after the kill,
restart, settle; each side's default Raft timeouts (etcd 100 ms heartbeat / 1 s election;
haplane 100 ms / 0.8–1.6 s).

Installs Debian's ``etcd-server`` with apt-get when ``etcd`` is missing. JSON out (every run,
then medians, spreads and the ratios haplane/etcd); the ratios are printed last.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import aiohttp

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import finish, free_base_port, free_ports, machine_load, percentile, proc_cpu_seconds  # noqa: E402
from haplane.localcluster import HOST, LocalCluster  # noqa: E402

VALUE = os.urandom(128).hex()  # the 256-byte payload, the same for both sides
B64_VALUE = base64.b64encode(VALUE.encode()).decode()

Request = Callable[[str, int, int], tuple[str, str, bytes | None]]  # (url, w, i) -> (method, url, body)


def ensure_etcd() -> str:
    etcd = shutil.which("etcd")
    if etcd is None:
        print("etcd missing: apt-get install etcd-server", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=300)
        subprocess.run(["apt-get", "install", "-y", "-qq", "etcd-server"], check=True, env=env, timeout=600)
        etcd = shutil.which("etcd")
        if etcd is None:
            raise RuntimeError("etcd-server installed but no etcd on PATH")
    return etcd


class EtcdSide:
    name = "etcd"

    def __init__(self, binary: str, data_dir: str) -> None:
        self.binary, self.data_dir = binary, data_dir
        ports = free_ports(6)
        self.members = [f"e{i}" for i in (1, 2, 3)]
        self.client = {m: f"http://{HOST}:{ports[i]}" for i, m in enumerate(self.members)}
        self.peer = {m: f"http://{HOST}:{ports[3 + i]}" for i, m in enumerate(self.members)}
        self.procs: dict[str, subprocess.Popen] = {}
        self.headers = {"Content-Type": "application/json"}

    @property
    def urls(self) -> list[str]:
        return [self.client[m] for m in self.members]

    def argv(self, m: str) -> list[str]:
        cluster = ",".join(f"{n}={self.peer[n]}" for n in self.members)
        return [self.binary, "--name", m, "--data-dir", os.path.join(self.data_dir, m),
                "--listen-client-urls", self.client[m], "--advertise-client-urls", self.client[m],
                "--listen-peer-urls", self.peer[m], "--initial-advertise-peer-urls", self.peer[m],
                "--initial-cluster", cluster, "--initial-cluster-state", "new",
                "--initial-cluster-token", "vs-etcd", "--logger", "zap", "--log-level", "warn"]

    def start(self, m: str) -> None:
        log = open(os.path.join(self.data_dir, f"{m}.log"), "ab")  # noqa: SIM115 - owned by the child
        self.procs[m] = subprocess.Popen(self.argv(m), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def start_all(self) -> None:
        for m in self.members:
            self.start(m)

    def stop_all(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
        for p in self.procs.values():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)

    def kill(self, m: str) -> None:
        self.procs[m].send_signal(signal.SIGKILL)
        self.procs[m].wait(timeout=10)

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs.values() if p.poll() is None]

    def _status(self, m: str) -> dict:
        import urllib.request

        req = urllib.request.Request(self.client[m] + "/v3/maintenance/status", data=b"{}", method="POST")
        with urllib.request.urlopen(req, timeout=1.0) as r:
            return json.loads(r.read())

    def wait_ready(self, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                st = {m: self._status(m) for m in self.members if self.procs[m].poll() is None}
                leaders = {s.get("leader") for s in st.values()}
                if len(leaders) == 1 and None not in leaders and "0" not in leaders:
                    (lid,) = leaders
                    for m, s in st.items():
                        if s["header"]["member_id"] == lid:
                            return m
            except (OSError, ValueError, KeyError) as exc:
                last = str(exc)
            time.sleep(0.1)
        raise TimeoutError(f"etcd not ready: {last}")

    def write(self, url: str, w: int, i: int, tag: str) -> tuple[str, str, bytes]:
        key = base64.b64encode(f"bench/{tag}-{w}-{i}".encode()).decode()
        return "POST", url + "/v3/kv/put", json.dumps({"key": key, "value": B64_VALUE}).encode()

    def read(self, url: str, k: int) -> tuple[str, str, bytes]:
        key = base64.b64encode(f"bench/read-{k}".encode()).decode()
        return "POST", url + "/v3/kv/range", json.dumps({"key": key}).encode()

    def ok(self, status: int, body: bytes, reading: bool) -> bool:
        return status == 200 and (not reading or b'"kvs"' in body)


class HaplaneSide:
    def __init__(self, data_dir: str, name: str = "haplane", source: str | None = None) -> None:
        # ``source``: run the replicas from another source tree (``--baseline``: before/after a
        # change in one run); PYTHONSAFEPATH keeps the current directory off their sys.path.
        self.name = name
        env = {"PYTHONSAFEPATH": "1", "PYTHONPATH": os.path.abspath(source)} if source else None
        self.lc = LocalCluster(data_dir, replicas=3, base_port=free_base_port(), env=env)
        self.members = [m.name for m in self.lc.replicas]
        self.headers: dict[str, str] = {}
        self.path = "/api/v1/namespaces/default/configmaps"

    @property
    def urls(self) -> list[str]:
        return self.lc.endpoints

    def start_all(self) -> None:
        self.lc.start_all()
        self.headers = {"Authorization": f"Bearer {self.lc.admin_token}", "Content-Type": "application/json"}

    def stop_all(self) -> None:
        self.lc.stop_all()

    def start(self, m: str) -> None:
        self.lc.start(m)

    def kill(self, m: str) -> None:
        self.lc.kill(m)

    def pids(self) -> list[int]:
        return [p.pid for n, p in self.lc.procs.items() if p.poll() is None]

    def wait_ready(self, timeout: float = 60.0) -> str:
        return self.lc.wait_ready(timeout)

    def _body(self, name: str) -> bytes:
        return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                           "data": {"v": VALUE}}).encode()

    def write(self, url: str, w: int, i: int, tag: str) -> tuple[str, str, bytes]:
        return "POST", url + self.path, self._body(f"{tag}-{w}-{i}")

    def read(self, url: str, k: int) -> tuple[str, str, None]:
        return "GET", f"{url}{self.path}/read-{k}", None

    def ok(self, status: int, body: bytes, reading: bool) -> bool:
        return status == (200 if reading else 201)


Side = EtcdSide | HaplaneSide


async def attempt(session: aiohttp.ClientSession, side: Side, method: str, target: str, body: bytes | None,
                  reading: bool) -> bool:
    """One request; True when the side acknowledged it (a connection error or timeout is False)."""
    try:
        async with session.request(method, target, data=body, headers=side.headers) as r:
            return side.ok(r.status, await r.read(), reading)
    except (TimeoutError, aiohttp.ClientError):
        return False


async def drive(side: Side, concurrency: int, seconds: float, request: Request, reading: bool) -> dict:
    """``concurrency`` workers, worker w on member w mod 3, each request back to back for ``seconds``."""
    latencies: list[float] = []
    errors = 0
    urls = side.urls
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=30)) as session:
        async def worker(w: int) -> None:
            nonlocal errors
            url = urls[w % len(urls)]
            i = 0
            while time.monotonic() < deadline:
                method, target, body = request(url, w, i)
                t0 = time.perf_counter()
                if await attempt(session, side, method, target, body, reading):
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors += 1
                i += 1

        # Which member leads matters at low concurrency: writer 0 talks to the first member,
        # directly to the leader or through a follower's forwarding.
        leader = await asyncio.to_thread(side.wait_ready, 10)
        pids = side.pids()
        cpu0, gen0, t0 = proc_cpu_seconds(pids), time.process_time(), time.monotonic()
        deadline = t0 + seconds
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        elapsed = time.monotonic() - t0
        cpu = proc_cpu_seconds(pids) - cpu0
        gen_cpu = time.process_time() - gen0
    n = len(latencies)
    return {"side": side.name, "concurrency": concurrency, "leader": leader,
            "first_member_leads": leader == side.members[0], "ops": n, "seconds": round(elapsed, 2),
            "per_second": round(n / elapsed, 1), "p50_ms": round(percentile(latencies, 50) * 1000, 2),
            "p99_ms": round(percentile(latencies, 99) * 1000, 2), "errors": errors,
            "cpu_seconds": round(cpu, 2), "cpu_cores": round(cpu / elapsed, 2),
            "cpu_ms_per_op": round(cpu * 1000 / n, 3) if n else None,
            "generator_cpu_seconds": round(gen_cpu, 2), "load": machine_load()}


async def preload_reads(side: Side, keys: int) -> None:
    """The keys the read phase reads (one write each, through the first member)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        for k in range(keys):
            if isinstance(side, EtcdSide):
                key = base64.b64encode(f"bench/read-{k}".encode()).decode()
                method, url, body = "POST", side.urls[0] + "/v3/kv/put", json.dumps({"key": key, "value": B64_VALUE}).encode()
            else:
                method, url, body = "POST", side.urls[0] + side.path, side._body(f"read-{k}")
            async with session.request(method, url, data=body, headers=side.headers) as r:
                await r.read()
                if r.status not in (200, 201, 409):
                    raise RuntimeError(f"{side.name}: preload answered {r.status}")


async def failover_trial(side: Side, n: int, writers: int = 8) -> dict:
    leader = await asyncio.to_thread(side.wait_ready, 60)
    stop = asyncio.Event()
    acks: list[float] = []  # issue times of acknowledged writes
    failures = 0
    urls = side.urls
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=1.0)) as session:
        async def writer(w: int) -> None:
            nonlocal failures
            i = w  # writer w starts on member w mod 3 and moves on to the next after every request
            while not stop.is_set():
                method, target, body = side.write(urls[i % len(urls)], w, i, f"f{n}")
                issued = time.monotonic()
                if await attempt(session, side, method, target, body, False):
                    acks.append(issued)
                else:
                    failures += 1
                    await asyncio.sleep(0.01)
                i += 1

        tasks = [asyncio.create_task(writer(w)) for w in range(writers)]
        await asyncio.sleep(1.0)
        t_kill = time.monotonic()
        side.kill(leader)
        while not any(t > t_kill for t in acks) and time.monotonic() - t_kill < 30:
            await asyncio.sleep(0.005)
        t_ok = time.monotonic()
        stop.set()
        await asyncio.gather(*tasks)
    side.start(leader)
    await asyncio.to_thread(side.wait_ready, 60)
    await asyncio.sleep(1.0)
    return {"side": side.name, "trial": n, "killed": leader, "seconds_to_first_ack": round(t_ok - t_kill, 3),
            "failed_calls": failures}


def profile_start(hap: HaplaneSide, c: int, t: int, args: argparse.Namespace) -> list[tuple[subprocess.Popen, str]]:
    """py-spy on haplane's leader and one follower for this level (first trial, ``--profile`` levels only)."""
    if not args.profile or t != 0 or c not in args.profile_levels:
        return []
    from bench.pyspy import record

    leader = hap.wait_ready(10)
    follower = next(m for m in hap.members if m != leader)
    os.makedirs(args.profile, exist_ok=True)
    spies = []
    for role, m in (("leader", leader), ("follower", follower)):
        raw = os.path.join(args.profile, f"haplane-c{c}-{role}.raw")
        spies.append((record(hap.lc.procs[m].pid, args.duration, raw, gil=args.profile_gil), raw))
    return spies


def profile_finish(spies: list[tuple[subprocess.Popen, str]]) -> list[str]:
    from bench.pyspy import summarize

    out = []
    for proc, raw in spies:
        proc.wait(timeout=60)
        if os.path.exists(raw):
            with open(raw.removesuffix(".raw") + ".txt", "w") as f:
                f.write(summarize(raw))
            out.append(raw.removesuffix(".raw") + ".txt")
    return out


def summarize(rows: list[dict], key: str) -> dict:
    vals = [r[key] for r in rows if r[key] is not None]
    if not vals:
        return {}
    return {"median": round(statistics.median(vals), 3), "min": min(vals), "max": max(vals), "n": len(vals)}


def ratio(h: dict, e: dict) -> float | None:
    if not h or not e or not e["median"]:
        return None
    return round(h["median"] / e["median"], 3)


async def main_async(args: argparse.Namespace) -> dict:
    etcd_bin = ensure_etcd()
    version = subprocess.run([etcd_bin, "--version"], capture_output=True, text=True, timeout=10).stdout.split("\n")[0]
    writes: list[dict] = []
    reads: list[dict] = []
    failover: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="haplane-vs-etcd-") as d:
        os.makedirs(os.path.join(d, "etcd"))
        etcd = EtcdSide(etcd_bin, os.path.join(d, "etcd"))
        hap = HaplaneSide(os.path.join(d, "haplane"))
        every: dict[str, Side] = {"etcd": etcd, "haplane": hap}
        if args.baseline:
            every["haplane-base"] = HaplaneSide(os.path.join(d, "haplane-base"), "haplane-base", args.baseline)
        sides: list[Side] = [every[n] for n in args.sides + (["haplane-base"] if args.baseline else [])]
        try:
            for s in sides:
                s.start_all()
            for s in sides:
                s.wait_ready(60)
            if "reads" in args.phases:
                for s in sides:
                    await preload_reads(s, 64)
            await asyncio.sleep(args.settle)
            for t in range(args.trials):
                order = sides if t % 2 == 0 else sides[::-1]
                if "writes" in args.phases:
                    for c in args.concurrency:
                        for s in order:
                            spies = profile_start(hap, c, t, args) if s is hap else []
                            res = await drive(s, c, args.duration,
                                              lambda url, w, i, s=s, tag=f"t{t}-c{c}": s.write(url, w, i, tag), False)
                            res["trial"] = t
                            res["profiled"] = profile_finish(spies)
                            print(json.dumps(res), flush=True)
                            writes.append(res)
                            await asyncio.sleep(args.settle)
                if "reads" in args.phases:
                    for s in order:
                        res = await drive(s, args.read_concurrency, args.duration,
                                          lambda url, w, i, s=s: s.read(url, w % 64), True)
                        res["trial"] = t
                        print(json.dumps(res), flush=True)
                        reads.append(res)
                        await asyncio.sleep(args.settle)
            if "failover" in args.phases:
                for n in range(args.failover_trials if len(sides) == 2 else 0):
                    for s in (sides if n % 2 == 0 else sides[::-1]):
                        res = await failover_trial(s, n)
                        print(json.dumps(res), flush=True)
                        failover.append(res)
        finally:
            for s in sides:
                s.stop_all()

    summary: dict[str, Any] = {"writes": {}, "reads": {}, "failover": {}}
    ratios: dict[str, Any] = {}
    for c in args.concurrency:
        per = {}
        for side in [x.name for x in sides]:
            # A profiled trial ran slower (py-spy pauses the replica for every sample): not counted.
            rows = [r for r in writes if r["side"] == side and r["concurrency"] == c and not r.get("profiled")]
            per[side] = {k: summarize(rows, k) for k in ("per_second", "p50_ms", "p99_ms", "errors", "cpu_cores",
                                                         "cpu_ms_per_op")} if rows else {}
        summary["writes"][f"c{c}"] = per
        for base in ("etcd", "haplane-base"):
            if per.get(base) and per.get("haplane"):
                ratios[f"writes_c{c}" + ("" if base == "etcd" else "_vs_base")] = {
                    k: ratio(per["haplane"][k], per[base][k]) for k in ("per_second", "p50_ms", "p99_ms", "cpu_ms_per_op")}
    for side in ("etcd", "haplane"):
        rows = [r for r in reads if r["side"] == side]
        if rows:
            summary["reads"][side] = {k: summarize(rows, k) for k in ("per_second", "p50_ms", "p99_ms", "errors",
                                                                      "cpu_ms_per_op")}
        rows = [r for r in failover if r["side"] == side]
        if rows:
            summary["failover"][side] = summarize(rows, "seconds_to_first_ack")
    if len(summary["reads"]) == 2:
        ratios[f"reads_c{args.read_concurrency}"] = {
            k: ratio(summary["reads"]["haplane"][k], summary["reads"]["etcd"][k])
            for k in ("per_second", "p50_ms", "p99_ms", "cpu_ms_per_op")}
    if len(summary["failover"]) == 2:
        ratios["failover_median_s"] = ratio(summary["failover"]["haplane"], summary["failover"]["etcd"])
    return {"benchmark": "vs_etcd", "etcd": version, "cpus": os.cpu_count(), "payload_bytes": len(VALUE),
            "duration_per_trial": args.duration, "trials": args.trials, "generator": "aiohttp (one process)",
            "load_at_end": machine_load(), "runs": writes, "reads": reads, "failover": failover,
            "summary": summary, "ratios_haplane_over_etcd": ratios}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16, 64, 256])
    p.add_argument("--read-concurrency", type=int, default=64)
    p.add_argument("--duration", type=float, default=5.0, help="seconds per trial and level")
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--failover-trials", type=int, default=5)
    p.add_argument("--settle", type=float, default=1.0, help="pause between trials (seconds)")
    p.add_argument("--phases", type=lambda s: s.split(","), default=["writes", "reads", "failover"])
    p.add_argument("--sides", type=lambda s: s.split(","), default=["etcd", "haplane"])
    p.add_argument("--baseline", metavar="SRC", help="also run a haplane from this source tree (side "
                   "haplane-base; e.g. `git archive BEFORE | tar -x -C SRC`): before/after in one run")
    p.add_argument("--profile", metavar="DIR", help="py-spy haplane's leader and a follower during the first "
                   "trial of the --profile-levels write levels; raw stacks and summaries into DIR")
    p.add_argument("--profile-gil", action="store_true", help="sample only the thread holding the GIL")
    p.add_argument("--profile-levels", type=lambda s: [int(x) for x in s.split(",")], default=[64, 256])
    p.add_argument("--out", default="bench/results/vs_etcd.json")
    result = finish(p.parse_args(), main_async, quiet=True)
    print("ratios haplane/etcd:", json.dumps(result["ratios_haplane_over_etcd"]))


if __name__ == "__main__":
    main()
