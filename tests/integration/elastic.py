"""A LocalCluster that grows and shrinks (new replicas start with ``--join``) and can serve TLS.

Membership lives in the Raft log, so the harness tracks which replicas are voters only to give
a replica it starts the right ``--peers`` (what an empty data dir begins with). Ports come from
:func:`free_base_port`, away from the range the other integration tests count through.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import sys
from typing import Any

from haplane.client import Client
from haplane.localcluster import HOST, LocalCluster, Member

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_base_port(slots: int = 9) -> int:
    """A base port P with P..P+slots (P: a local cluster's API load balancer) and P+101..P+100+slots
    free on 127.0.0.1."""
    rng = random.Random(os.getpid() ^ int.from_bytes(os.urandom(4), "little"))
    for _ in range(200):
        base = rng.randrange(24000, 31000, 200)
        ports = [base + i for i in range(0, slots + 1)] + [base + 100 + i for i in range(1, slots + 1)]
        if all(_bindable(p) for p in ports):
            return base
    raise RuntimeError("no free port range found")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


class ElasticCluster(LocalCluster):
    def __init__(self, data_dir: str, *, replicas: int = 3, **kwargs: Any) -> None:
        kwargs.setdefault("base_port", free_base_port())
        super().__init__(data_dir, replicas=replicas, **kwargs)
        self.voters = {m.name for m in self.replicas}
        self.joiners: set[str] = set()

    def url(self, name: str) -> str:
        return f"{self.scheme}://{self.members[name].http}"

    @property
    def endpoints(self) -> list[str]:
        return [self.url(m.name) for m in self.replicas]

    def voter_endpoints(self) -> list[str]:
        return [self.url(n) for n in sorted(self.voters)]

    def new_replica(self, name: str, index: int) -> Member:
        """Register replica ``name`` (ports base+index, base+100+index); it joins when started."""
        m = Member("replica", name, http=f"{HOST}:{self.base_port + index}",
                   raft=f"{HOST}:{self.base_port + 100 + index}", scheme=self.scheme)
        self.members[name] = m
        self.joiners.add(name)
        os.makedirs(self.path(name), exist_ok=True)
        return m

    def replica_argv(self, m: Member) -> list[str]:
        argv = super().replica_argv(m)
        argv[argv.index("--peers") + 1] = ",".join(self.members[n].raft or "" for n in sorted(self.voters)
                                                    if n != m.name)
        if m.name in self.joiners:
            argv.append("--join")
        return argv

    def client(self, names: list[str] | None = None, **kwargs: Any) -> Client:
        """An admin client for the named replicas (default: all), trusting the cluster's CA."""
        eps = [self.url(n) for n in names] if names else self.endpoints
        if self.tls_dir:
            import ssl

            kwargs.setdefault("ssl", ssl.create_default_context(cafile=os.path.join(self.tls_dir, "ca.pem")))
        return Client(eps, self.admin_token, **kwargs)

    async def cli(self, *args: str, timeout: float = 180.0) -> tuple[int, str, str]:
        """Run ``haplane --server <voters> --token <admin> ARGS`` without blocking the event loop."""
        cmd = [sys.executable, "-m", "haplane", "--server", ",".join(self.voter_endpoints()),
               "--token", self.admin_token]
        if self.tls_dir:
            cmd += ["--ca", os.path.join(self.tls_dir, "ca.pem")]
        proc = await asyncio.create_subprocess_exec(*cmd, *args, cwd=REPO, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
        return proc.returncode or 0, out.decode(), err.decode()

    async def wait_serving(self, name: str, timeout: float = 30.0) -> None:
        """Wait until replica ``name`` answers /healthz."""
        async with self.client([name], max_attempts=1, timeout=2.0) as c:
            deadline = asyncio.get_running_loop().time() + timeout
            while True:
                try:
                    await c.request_raw("GET", "/healthz")
                    return
                except Exception:  # noqa: BLE001 - not up yet, whatever the reason
                    if asyncio.get_running_loop().time() > deadline:
                        raise
                    await asyncio.sleep(0.1)

    async def wait_converged(self, names: list[str], timeout: float = 30.0) -> str:
        """Wait until the named replicas report the same applied index and state hash; return it."""
        deadline = asyncio.get_running_loop().time() + timeout
        last: Any = None
        while True:
            selfs = []
            for n in names:
                async with self.client([n], max_attempts=1, timeout=3.0) as c:
                    try:
                        selfs.append(await c.request("GET", "/cluster/self", params={"hash": "1"}))
                    except Exception as exc:  # noqa: BLE001
                        selfs.append({"error": str(exc)})
            hashes = {s.get("stateHash") for s in selfs}
            last = [(s.get("name"), s.get("appliedIndex"), s.get("stateHash"), s.get("error")) for s in selfs]
            if len(hashes) == 1 and None not in hashes and len({s.get("appliedIndex") for s in selfs}) == 1:
                return hashes.pop()
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"replicas did not converge: {last}")
            await asyncio.sleep(0.2)

    async def wait_leader(self, names: list[str] | None = None, timeout: float = 60.0) -> str:
        """Wait until the named replicas (default: the voters) are ready and agree on a leader;
        return the leader's name."""
        names = names or sorted(self.voters)
        deadline = asyncio.get_running_loop().time() + timeout
        last = ""
        while True:
            leaders = set()
            try:
                for n in names:
                    async with self.client([n], max_attempts=1, timeout=2.0) as c:
                        leaders.add((await c.request("GET", "/cluster/self")).get("leader"))
                        await c.request_raw("GET", "/readyz")
                if len(leaders) == 1 and None not in leaders:
                    raft = leaders.pop()
                    for m in self.replicas:
                        if m.raft == raft:
                            return m.name
            except Exception as exc:  # noqa: BLE001 - not ready yet
                last = str(exc)
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"no agreed leader among {names} after {timeout}s: {leaders} {last}")
            await asyncio.sleep(0.1)
