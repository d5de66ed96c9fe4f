"""The node agent end to end: 3 real replicas + 1 real agent, pods bound with spec.nodeName.

This module is the ONE body of the agent lifecycle tests. The runtime is a parameter (the
module-scoped ``runtime_name`` fixture): here ``process``; ``test_agent_docker.py`` imports
every test below and overrides the fixture with ``docker``. What differs per runtime is data
(``LISTEN``), never a copied test. When the runtime needs an engine that is missing, the
tests FAIL (DESIGN.md §10), they never skip.

The workload is busybox: ``sh -c '... exec busybox httpd -f -h www -p LISTEN'`` writes
``www/index.html`` and ``www/healthz`` (relative: the container's own directory under the
process runtime, ``/www`` in the image under Docker) and serves them; tests flip probes by
running commands *in the container* through the same Runtime interface the agent uses.
One cluster per module; every test makes its own pods.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from haplane import errors
from haplane.client import Client
from haplane.localcluster import LocalCluster
from node_agent.runtime.base import Runtime
from tests.integration.conftest import make_cluster
from tests.integration.polling import fetch, wait_for

pytestmark = pytest.mark.integration

NODE = "n1"
ADDRESS = "127.0.1.1"
IMAGE = "busybox:local"
ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "deploy" / "images" / "busybox" / "build.sh"
# where the workload listens: a process shares the host's network and must bind the node
# address on the port the runtime picked; a container listens on its containerPort and the
# engine publishes it on the node address
LISTEN = {"process": "$(HOST_IP):$(PORT_HTTP)", "docker": "$(PORT_HTTP)"}
TOLERATE_UNREACHABLE = [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}]


@pytest.fixture(scope="module")
def runtime_name() -> str:
    return "process"


@pytest.fixture(scope="module")
def agent_cluster(tmp_path_factory: pytest.TempPathFactory, runtime_name: str) -> Iterator[LocalCluster]:
    if runtime_name == "docker":
        require_docker()
    lc = make_cluster(tmp_path_factory.mktemp(f"agent-{runtime_name}"), agents=1, runtime=runtime_name)
    try:
        lc.wait_ready(timeout=60)
        cluster_id(lc)
        yield lc
    finally:
        cleanup_pods(lc)
        lc.stop_all()
        asyncio.run(remove_leftovers(lc, runtime_name))


@pytest.fixture
async def client(agent_cluster: LocalCluster) -> AsyncIterator[Client]:
    async with Client(agent_cluster.endpoints, agent_cluster.admin_token, timeout=10.0) as c:
        await wait_for(lambda: node_ready(c), 60, "node n1 registered and Ready")
        yield c


def require_docker() -> None:
    try:
        import docker

        docker.from_env(timeout=10).ping()
    except Exception as e:  # noqa: BLE001 - any failure to reach the engine is the same verdict
        pytest.fail(f"the Docker engine is required and unreachable: {e}", pytrace=False)
    subprocess.run([str(BUILD), IMAGE], check=True, capture_output=True, timeout=120)


def cleanup_pods(lc: LocalCluster) -> None:
    """Delete every pod and give the agent a moment to stop their containers."""
    async def go() -> None:
        async with Client(lc.endpoints, lc.admin_token, timeout=5.0, max_attempts=2) as c:
            try:
                for p in (await c.list("Pod", None))["items"]:
                    await c.delete("Pod", p["metadata"]["name"], p["metadata"]["namespace"])
            except errors.HaplaneError:
                return
        await asyncio.sleep(3)
    asyncio.run(go())


async def remove_leftovers(lc: LocalCluster, runtime_name: str) -> None:
    """Safety net: nothing this cluster started outlives it."""
    async with runtime_of(lc, runtime_name) as rt:
        for st in await rt.list_managed():
            await rt.remove(st.cid)


@functools.cache
def cluster_id(lc: LocalCluster) -> str:
    """What the agent scopes its containers by: the uid of namespace default (cached, so the
    teardown knows it after the replicas are gone)."""
    return lc.get_json(lc.replicas[0].name, "/api/v1/namespaces/default")["metadata"]["uid"]


@contextlib.asynccontextmanager
async def runtime_of(lc: LocalCluster, runtime_name: str) -> AsyncIterator[Runtime]:
    """A fresh runtime instance over the agent's containers (the agent's own view, from outside)."""
    identity = f"{NODE}@{cluster_id(lc)}"
    if runtime_name == "docker":
        from node_agent.runtime.docker import DockerRuntime

        rt = DockerRuntime(identity)
        try:
            yield rt
        finally:
            rt.close()
    else:
        from node_agent.runtime.process import ProcessRuntime

        yield ProcessRuntime(lc.path(NODE, "containers"), identity)


# --- helpers ---------------------------------------------------------------------------------




async def node_ready(c: Client) -> bool:
    node = await c.get("Node", NODE, None)
    return any(x["type"] == "Ready" and x["status"] == "True" for x in node["status"].get("conditions") or [])


def condition(pod: dict, kind: str) -> str | None:
    for x in (pod.get("status") or {}).get("conditions") or []:
        if x["type"] == kind:
            return x["status"]
    return None


def cstatus(pod: dict) -> dict:
    return ((pod.get("status") or {}).get("containerStatuses") or [{}])[0]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def web_pod(name: str, runtime_name: str, *, marker: str = "", extra_script: str = "",
            **container: Any) -> dict:
    script = (f"mkdir -p www && echo hello-{name} > www/index.html && echo ok > www/healthz && "
              f"echo started {marker} && {extra_script}exec busybox httpd -f -h www -p {LISTEN[runtime_name]}")
    return pod_of(name, {"command": ["sh", "-c", script],
                         "env": [{"name": "HAPLANE_TEST_MARKER", "value": marker or name}],
                         "ports": [{"name": "http", "containerPort": 8080}], **container})


def pod_of(name: str, container: dict, **spec: Any) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 3, "tolerations": TOLERATE_UNREACHABLE,
                     "containers": [{"name": "main", "image": IMAGE, "imagePullPolicy": "Never", **container}],
                     **spec}}


async def running(c: Client, name: str, *, ready: bool | None = True, restarts: int | None = None) -> dict | None:
    pod = await c.get("Pod", name)
    cs = cstatus(pod)
    if (pod.get("status") or {}).get("phase") != "Running" or "running" not in (cs.get("state") or {}):
        return None
    if ready is not None and (condition(pod, "Ready") == "True") != ready:
        return None
    if restarts is not None and cs.get("restartCount", 0) < restarts:
        return None
    return pod




async def instances(runtime_name: str, pod: dict, marker: str) -> int:
    """How many copies of the pod's container really run on this machine (not the agent's view)."""
    if runtime_name == "docker":
        out = subprocess.run(["docker", "ps", "-q", "--filter", f"label=haplane.pod-uid={pod['metadata']['uid']}"],
                             check=True, capture_output=True, text=True, timeout=30).stdout
        return len(out.split())
    needle = f"HAPLANE_TEST_MARKER={marker}".encode()
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/environ", "rb") as f:
                    if needle in f.read().split(b"\0"):
                        with open(f"/proc/{entry.name}/stat", "rb") as s:
                            state = s.read().rsplit(b")", 1)[1].split()[0]
                        count += state not in (b"Z", b"X")
            except OSError:
                continue
    return count


async def in_container(cluster: LocalCluster, runtime_name: str, cid: str, script: str) -> None:
    async with runtime_of(cluster, runtime_name) as rt:
        assert await rt.exec(cid, ["sh", "-c", script], 10) == 0, script


async def events_for(c: Client, name: str) -> list[tuple[str, str]]:
    items = (await c.list("Event"))["items"]
    return [(e["reason"], e.get("message", "")) for e in items if e["involvedObject"].get("name") == name]


def haplane(cluster: LocalCluster, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "haplane", "--config", cluster.path("client.json"), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


# --- the tests -------------------------------------------------------------------------------


async def test_node_registers_with_its_capacity_address_and_runtime(client: Client, runtime_name: str) -> None:
    node = await client.get("Node", NODE, None)
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == NODE
    st = node["status"]
    assert st["capacity"]["pods"] == "110" and st["allocatable"]["cpu"] == "4"
    assert {"type": "InternalIP", "address": ADDRESS} in st["addresses"]
    assert st["daemonEndpoints"]["kubeletEndpoint"]["Port"] > 0
    assert st["nodeInfo"]["containerRuntimeVersion"].startswith(f"{runtime_name}://")


async def test_pod_runs_and_serves_http_on_its_node_address(client: Client, runtime_name: str) -> None:
    name = unique("web")
    await client.create(web_pod(name, runtime_name))
    pod = await wait_for(lambda: running(client, name), 60, f"{name} Running and Ready")
    st = pod["status"]
    assert st["hostIP"] == st["podIP"] == ADDRESS and st["startTime"]
    cs = cstatus(pod)
    assert cs["restartCount"] == 0 and cs["state"]["running"]["startedAt"]
    port = cs["hostPorts"]["http"]
    assert cs["hostPorts"]["8080"] == port
    assert (await fetch(f"http://{ADDRESS}:{port}/")).strip() == f"hello-{name}"
    assert ("Started", "Started container main") in await events_for(client, name)


async def test_logs_through_the_api_and_the_cli(client: Client, agent_cluster: LocalCluster,
                                                runtime_name: str) -> None:
    name, marker = unique("logs"), uuid.uuid4().hex
    await client.create(web_pod(name, runtime_name, marker=marker,
                                extra_script="echo second line && echo third line && "))
    await wait_for(lambda: running(client, name), 60, f"{name} Running")
    res = await asyncio.to_thread(haplane, agent_cluster, "logs", name)
    assert res.returncode == 0, res.stderr
    assert f"started {marker}" in res.stdout and "third line" in res.stdout
    res = await asyncio.to_thread(haplane, agent_cluster, "logs", name, "--tail", "1")
    assert res.returncode == 0 and res.stdout.strip().splitlines()[-1] == "third line", res.stdout
    res = await asyncio.to_thread(haplane, agent_cluster, "logs", name, "-c", "nope")
    assert res.returncode == 1 and "not valid" in res.stderr

    follow = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "haplane", "--config", agent_cluster.path("client.json"), "logs", "-f", name,
        stdout=asyncio.subprocess.PIPE, cwd=ROOT)
    try:
        assert follow.stdout is not None
        first = await asyncio.wait_for(follow.stdout.readline(), 30)
        assert marker in first.decode()
        await asyncio.sleep(1)
        assert follow.returncode is None, "-f keeps streaming while the container runs"
    finally:
        follow.send_signal(signal.SIGINT)
        await asyncio.wait_for(follow.wait(), 30)


async def test_crashing_container_is_restarted_with_backoff(client: Client, runtime_name: str) -> None:
    name = unique("crash")
    await client.create(pod_of(name, {"command": ["sh", "-c", "echo crashing; exit 3"]}))
    seen_reasons: set[str] = set()
    t0 = time.monotonic()

    async def restarted_three_times() -> dict | None:
        pod = await client.get("Pod", name)
        cs = cstatus(pod)
        seen_reasons.add(((cs.get("state") or {}).get("waiting") or {}).get("reason", ""))
        return pod if cs.get("restartCount", 0) >= 3 else None

    pod = await wait_for(restarted_three_times, 90, f"{name} restarted 3 times")
    elapsed = time.monotonic() - t0
    # the backoff doubles from 1 s: three restarts take at least 1 + 2 + 4 s (an agent without
    # backoff would restart dozens of times in that time)
    assert elapsed >= 6, f"restarted 3 times in {elapsed:.1f}s: no backoff?"
    assert "CrashLoopBackOff" in seen_reasons
    cs = cstatus(pod)
    assert cs["lastState"]["terminated"]["exitCode"] == 3
    assert pod["status"]["phase"] == "Running", "restartPolicy Always keeps the pod Running"
    await asyncio.sleep(3)
    assert cstatus(await client.get("Pod", name))["restartCount"] <= 5, "restarts must slow down"
    reasons = {r for r, _ in await events_for(client, name)}
    assert {"Started", "BackOff"} <= reasons


async def test_failing_liveness_probe_restarts_the_container(client: Client, agent_cluster: LocalCluster,
                                                             runtime_name: str) -> None:
    name = unique("live")
    probe = {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 2, "periodSeconds": 1,
             "failureThreshold": 2}
    await client.create(web_pod(name, runtime_name, livenessProbe=probe))
    pod = await wait_for(lambda: running(client, name), 60, f"{name} Running")
    cid = cstatus(pod)["containerID"]
    await asyncio.sleep(3)
    assert cstatus(await client.get("Pod", name))["restartCount"] == 0, "a passing liveness probe restarts nothing"

    await in_container(agent_cluster, runtime_name, cid, "rm www/healthz")
    pod = await wait_for(lambda: running(client, name, restarts=1), 60, f"{name} restarted by its liveness probe")
    cs = cstatus(pod)
    assert cs["containerID"] != cid
    assert cs["lastState"]["terminated"]["exitCode"] in (137, 143), cs["lastState"]
    await asyncio.sleep(4)
    assert cstatus(await client.get("Pod", name))["restartCount"] == 1, "the new container is healthy again"
    reasons = [r for r, m in await events_for(client, name)]
    assert "Unhealthy" in reasons and "Killing" in reasons
    messages = [m for r, m in await events_for(client, name) if r == "Killing"]
    assert any("failed liveness probe" in m for m in messages), messages


async def test_readiness_probe_flips_the_ready_condition(client: Client, agent_cluster: LocalCluster,
                                                         runtime_name: str) -> None:
    name = unique("ready")
    probe = {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 1}
    await client.create(web_pod(name, runtime_name, readinessProbe=probe))
    pod = await wait_for(lambda: running(client, name, ready=False), 60, f"{name} Running, not Ready")
    cid = cstatus(pod)["containerID"]
    await in_container(agent_cluster, runtime_name, cid, "echo ok > www/ready")
    await wait_for(lambda: running(client, name, ready=True), 30, f"{name} Ready")
    await in_container(agent_cluster, runtime_name, cid, "rm www/ready")
    pod = await wait_for(lambda: running(client, name, ready=False), 30, f"{name} not Ready again")
    assert condition(pod, "ContainersReady") == "False"
    assert cstatus(pod)["restartCount"] == 0 and cstatus(pod)["containerID"] == cid, "readiness never restarts"


async def test_agent_restart_adopts_containers_and_duplicates_nothing(
        client: Client, agent_cluster: LocalCluster, runtime_name: str) -> None:
    names = [unique("keep"), unique("drop")]
    markers = {n: uuid.uuid4().hex for n in names}
    for n in names:
        await client.create(web_pod(n, runtime_name, marker=markers[n]))
    pods = {n: await wait_for(lambda n=n: running(client, n), 60, f"{n} Running") for n in names}
    for n in names:
        assert await instances(runtime_name, pods[n], markers[n]) == 1

    agent_cluster.kill(NODE)  # SIGKILL: no chance to clean up anything
    agent_cluster.start(NODE)
    await asyncio.sleep(6)  # several sync rounds of the new agent
    for n in names:
        pod = await client.get("Pod", n)
        assert cstatus(pod)["containerID"] == cstatus(pods[n])["containerID"], "adopted, not replaced"
        assert cstatus(pod)["restartCount"] == 0
        assert await instances(runtime_name, pod, markers[n]) == 1, f"{n} runs twice after the restart"
    port = cstatus(pods[names[0]])["hostPorts"]["http"]
    assert (await fetch(f"http://{ADDRESS}:{port}/")).strip() == f"hello-{names[0]}"

    # the new agent really manages the adopted containers: deleting a pod stops its container
    await client.delete("Pod", names[1])
    await wait_for(lambda: _none_left(runtime_name, pods[names[1]], markers[names[1]]), 30,
                   f"{names[1]}'s container gone")
    assert await instances(runtime_name, pods[names[0]], markers[names[0]]) == 1


async def _none_left(runtime_name: str, pod: dict, marker: str) -> bool:
    return await instances(runtime_name, pod, marker) == 0


async def test_deleted_pod_leaves_nothing_behind(client: Client, agent_cluster: LocalCluster,
                                                 runtime_name: str) -> None:
    name, marker = unique("gone"), uuid.uuid4().hex
    await client.create(web_pod(name, runtime_name, marker=marker))
    pod = await wait_for(lambda: running(client, name), 60, f"{name} Running")
    cid = cstatus(pod)["containerID"]
    await client.delete("Pod", name)
    await wait_for(lambda: _none_left(runtime_name, pod, marker), 30, f"{name}'s container stopped")
    await wait_for(lambda: _absent(agent_cluster, runtime_name, cid), 30, f"{name}'s container removed")


async def _absent(lc: LocalCluster, runtime_name: str, cid: str) -> bool:
    async with runtime_of(lc, runtime_name) as rt:
        return await rt.inspect(cid) is None


async def test_bad_pods_end_with_a_clear_status_and_event(client: Client, agent_cluster: LocalCluster,
                                                          runtime_name: str) -> None:
    missing = unique("nocmd")
    await client.create(pod_of(missing, {"command": ["no-such-command-xyz"]}))
    with socket.socket() as taken:
        taken.bind((ADDRESS, 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = unique("busy")
        await client.create(web_pod(busy, runtime_name, ports=[{"name": "http", "containerPort": 8080,
                                                                "hostPort": port}]))

        async def waiting(name: str, reason: str) -> dict | None:
            pod = await client.get("Pod", name)
            w = (cstatus(pod).get("state") or {}).get("waiting") or {}
            return pod if w.get("reason") == reason else None

        pod = await wait_for(lambda: waiting(missing, "CommandNotFound"), 60, "CommandNotFound")
        assert "no-such-command-xyz" in cstatus(pod)["state"]["waiting"]["message"]
        assert pod["status"]["phase"] == "Pending"
        pod = await wait_for(lambda: waiting(busy, "PortInUse"), 60, "PortInUse")
        assert str(port) in cstatus(pod)["state"]["waiting"]["message"]
        for name, reason in ((missing, "CommandNotFound"), (busy, "PortInUse")):
            evs = await events_for(client, name)
            assert any(r == "Failed" and reason in m for r, m in evs), evs
    # the port is free again: the backoff retries and the pod runs; the agent never fell over
    await wait_for(lambda: running(client, busy), 90, f"{busy} Running once its port is free")
    assert agent_cluster.alive(NODE)


async def test_stop_on_exit_leaves_nothing_running(client: Client, agent_cluster: LocalCluster,
                                                   runtime_name: str, tmp_path: Path) -> None:
    """``--stop-on-exit`` (for throwaway local clusters): SIGTERM stops and removes everything."""
    token_file = tmp_path / "token"
    token_file.write_text(agent_cluster.token("node"))
    with open(tmp_path / "n9.log", "wb") as log:
        agent = subprocess.Popen(
            [sys.executable, "-m", "node_agent.agent", "--name", "n9", "--address", "127.0.1.9", "--servers",
             ",".join(agent_cluster.endpoints), "--token-file", str(token_file), "--runtime", runtime_name,
             "--state-dir", str(tmp_path / "n9"), "--port", "0", "--no-proxy", "--stop-on-exit"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        name, marker = unique("exit"), uuid.uuid4().hex
        pod = web_pod(name, runtime_name, marker=marker)
        pod["spec"]["nodeName"] = "n9"
        await client.create(pod)
        pod = await wait_for(lambda: running(client, name), 60, f"{name} Running on n9")
        assert await instances(runtime_name, pod, marker) == 1
        agent.terminate()
        assert await asyncio.to_thread(agent.wait, 30) == 0
        assert await instances(runtime_name, pod, marker) == 0
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait(10)
        await client.delete("Node", "n9", None)
