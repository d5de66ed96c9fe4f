"""Services end to end: a web Deployment behind a Service, a client streaming HTTP requests through
one node's proxy while (a) a pod is deleted, (b) a rolling update runs, (c) the node hosting two of
the endpoints dies with its pods. Process runtime and Docker, one body."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import aiohttp
import pytest

from haplane.cli_workloads import update_with_retry
from haplane.client import Client
from haplane.localcluster import LocalCluster
from tests.integration.conftest import running_cluster
from tests.integration.test_controllers import eventually

SERVICE_PORT = 18080


def web_container(runtime: str, marker: str) -> dict:
    probe = {"tcpSocket": {"port": "http"}, "periodSeconds": 1}
    if runtime == "docker":
        return {"name": "web", "image": "busybox:local", "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
                "ports": [{"name": "http", "containerPort": 8080}], "readinessProbe": probe}
    # A process shares the node's address: it binds the host port the agent picked for it.
    return {"name": "web", "image": "python", "readinessProbe": probe,
            "command": ["python3", "-m", "http.server", "--bind", "$(HOST_IP)", "$(PORT_HTTP)", "-d", "/tmp"],
            "env": [{"name": "MARKER", "value": marker}],
            "ports": [{"name": "http", "containerPort": 8080}]}


def web(runtime: str, replicas: int, marker: str) -> list[dict]:
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
         "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                  "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                  "template": {"metadata": {"labels": {"app": "web"}},
                               "spec": {"terminationGracePeriodSeconds": 2,
                                        "containers": [web_container(runtime, marker)]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
         "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http"}]}},
    ]


@dataclass
class Stream:
    """A client sending one HTTP request at a time, each on a new connection, through a proxy."""

    url: str
    ok: int = 0
    failed: int = 0
    failures: list[float] = field(default_factory=list)
    _task: asyncio.Task | None = None

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=3)
        async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(force_close=True)) as s:
            while True:
                try:
                    async with s.get(self.url) as r:
                        await r.read()
                        if r.status == 200:
                            self.ok += 1
                        else:
                            raise aiohttp.ClientError(f"HTTP {r.status}")
                except (aiohttp.ClientError, TimeoutError, OSError):
                    self.failed += 1
                    self.failures.append(time.monotonic())
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.01)

    def start(self) -> Stream:
        self.ok = self.failed = 0
        self.failures = []
        self._task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> tuple[int, int]:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        return self.ok, self.failed


@pytest.fixture(scope="module", params=["process", "docker"])
def svc_cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running_cluster(tmp_path_factory.mktemp(f"svc-{request.param}"), agents=3, runtime=request.param) as lc:
        yield lc


@pytest.fixture
async def svc(svc_cluster: LocalCluster) -> AsyncIterator[tuple[LocalCluster, Client, str]]:
    marker = f"svc-{uuid.uuid4().hex[:8]}"
    async with Client(svc_cluster.endpoints, svc_cluster.admin_token) as c:
        # Every node Ready first (a node killed by the test before restarts, and the first test
        # may start before all three registered): placements then spread over all three.
        await eventually("3 Ready nodes", lambda: _ready_nodes(c, 3), timeout=60)
        yield svc_cluster, c, marker
        for kind, name in (("Deployment", "web"), ("Service", "web")):
            try:
                await c.delete(kind, name)
            except Exception:  # noqa: BLE001 - best-effort cleanup between tests
                pass
        await eventually("pods gone", lambda: _count(c, 0), timeout=60)


async def _ready_nodes(c: Client, n: int) -> bool:
    nodes = (await c.list("Node", None))["items"]
    return sum(1 for x in nodes if any(k.get("type") == "Ready" and k.get("status") == "True"
                                       for k in (x.get("status") or {}).get("conditions") or [])) == n


async def _count(c: Client, n: int) -> bool:
    return len((await c.list("Pod", label_selector="app=web"))["items"]) == n


async def ready_endpoints(c: Client) -> int:
    try:
        ep = await c.get("Endpoints", "web")
    except Exception:  # noqa: BLE001 - not created yet
        return 0
    return sum(len(s.get("addresses") or []) for s in ep.get("subsets") or [])


async def deploy(lc: LocalCluster, c: Client, marker: str, replicas: int) -> None:
    for obj in web(lc.runtime, replicas, marker):
        await c.create(obj)
    await eventually(f"{replicas} ready endpoints", lambda: _ready_is(c, replicas), timeout=90)


async def _ready_is(c: Client, n: int) -> bool:
    return await ready_endpoints(c) == n


def proxy_url(lc: LocalCluster, node: str) -> str:
    return f"http://{lc.members[node].address}:{SERVICE_PORT}/"


async def test_pod_deleted_under_load(svc) -> None:  # noqa: ANN001
    lc, c, marker = svc
    await deploy(lc, c, marker, 3)
    stream = Stream(proxy_url(lc, "n1")).start()
    await asyncio.sleep(2)
    victim = (await c.list("Pod", label_selector="app=web"))["items"][0]["metadata"]["name"]
    await c.delete("Pod", victim)
    await eventually("3 ready endpoints again", lambda: _ready_is(c, 3), timeout=60)
    await asyncio.sleep(2)
    ok, failed = await stream.stop()
    assert ok > 50, f"the stream must flow: ok={ok}"
    assert failed <= 0.01 * (ok + failed), f"at most 1% failures when a pod is deleted: {failed}/{ok + failed}"


async def test_rolling_update_under_load(svc) -> None:  # noqa: ANN001
    lc, c, marker = svc
    await deploy(lc, c, marker, 3)
    stream = Stream(proxy_url(lc, "n2")).start()
    await asyncio.sleep(2)
    def restart(dep: dict) -> dict:
        dep["spec"]["template"]["metadata"]["annotations"] = {"restartedAt": str(time.time())}
        return dep
    await update_with_retry(c, "Deployment", "web", "default", restart)

    async def rolled() -> bool:
        d = await c.get("Deployment", "web")
        st = d.get("status") or {}
        return (st.get("observedGeneration", 0) >= d["metadata"]["generation"] and st.get("updatedReplicas") == 3
                and st.get("replicas") == 3 and st.get("availableReplicas") == 3)
    await eventually("the rollout to finish", rolled, timeout=120)
    await asyncio.sleep(2)
    ok, failed = await stream.stop()
    assert ok > 50, f"the stream must flow: ok={ok}"
    assert failed <= 0.01 * (ok + failed), f"at most 1% failures during a rolling update: {failed}/{ok + failed}"


async def test_node_with_two_endpoints_dies(svc) -> None:  # noqa: ANN001
    lc, c, marker = svc
    await deploy(lc, c, marker, 4)  # 4 pods on 3 nodes: one node hosts two
    pods = (await c.list("Pod", label_selector="app=web"))["items"]
    per_node: dict[str, int] = {}
    for p in pods:
        per_node[p["spec"]["nodeName"]] = per_node.get(p["spec"]["nodeName"], 0) + 1
    doomed = max(per_node, key=lambda n: per_node[n])
    assert per_node[doomed] == 2
    client_node = next(n for n in ("n1", "n2", "n3") if n != doomed)
    stream = Stream(proxy_url(lc, client_node)).start()
    await asyncio.sleep(2)
    t_kill = time.monotonic()
    kill_node(lc, doomed, [p for p in pods if p["spec"]["nodeName"] == doomed])
    await eventually("4 ready endpoints on the living nodes", lambda: _ready_elsewhere(c, doomed, 4), timeout=90)
    healed = time.monotonic() - t_kill
    await asyncio.sleep(3)
    ok, failed = await stream.stop()
    late = [t for t in stream.failures if t > t_kill + healed + 1.0]
    assert not late, f"the stream is whole again once the pods run elsewhere ({healed:.1f}s): {len(late)} late failures"
    assert ok > 50
    lc.start(doomed)


async def _ready_elsewhere(c: Client, dead: str, n: int) -> bool:
    try:
        ep = await c.get("Endpoints", "web")
    except Exception:  # noqa: BLE001
        return False
    addrs = [a for s in ep.get("subsets") or [] for a in s.get("addresses") or []]
    return len(addrs) == n and all(a.get("nodeName") != dead for a in addrs)


def kill_node(lc: LocalCluster, node: str, pods: list[dict]) -> None:
    """SIGKILL a node: its agent and every container it runs."""
    lc.kill(node)
    if lc.runtime == "docker":
        import docker
        client = docker.from_env()
        for p in pods:
            for ctr in client.containers.list(filters={"label": f"haplane.pod-uid={p['metadata']['uid']}"}):
                ctr.kill()
        return
    address = lc.members[node].address
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if f"HOST_IP={address}".encode() in env and b"MARKER=" in b"\0".join(env):
            os.kill(int(pid), signal.SIGKILL)
