"""The Docker runtime against the real engine and the offline busybox:local image.

No skipping: when the engine is unreachable these tests FAIL (DESIGN.md §10). Nothing here
contacts a registry; every port is published on a 127.0.1.x node address.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import docker
import pytest

from node_agent.probes import run_probe
from node_agent.runtime.base import RuntimeStartError
from node_agent.runtime.docker import DockerRuntime

pytestmark = [pytest.mark.integration, pytest.mark.docker]

IMAGE = "busybox:local"
HOST_IP = "127.0.1.1"
BUILD = Path(__file__).resolve().parents[2] / "deploy" / "images" / "busybox" / "build.sh"


@pytest.fixture(scope="session")
def engine() -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except Exception as e:  # noqa: BLE001 - any failure to reach the engine is the same verdict
        pytest.fail(f"the Docker engine is required and unreachable: {e}", pytrace=False)
    subprocess.run([str(BUILD), IMAGE], check=True, capture_output=True, timeout=120)
    return client


@pytest.fixture
async def rt(engine: docker.DockerClient):
    runtime = DockerRuntime(f"it-{uuid.uuid4().hex[:8]}", engine)
    yield runtime
    for st in await runtime.list_managed():
        await runtime.remove(st.cid)
    runtime.close()


def pod(uid: str | None = None, name: str = "web-1") -> dict:
    return {
        "metadata": {"uid": uid or uuid.uuid4().hex, "name": name, "namespace": "shop"},
        "spec": {"terminationGracePeriodSeconds": 5},
    }


def ctr(*command: str, name: str = "main", **extra: object) -> dict:
    return {"name": name, "image": IMAGE, "imagePullPolicy": "Never", "command": list(command), **extra}


HTTPD = ctr(
    "httpd",
    "-f",
    "-p",
    "8080",
    "-h",
    "/www",
    name="httpd",
    ports=[{"name": "http", "containerPort": 8080}],
    resources={"limits": {"cpu": "250m", "memory": "64Mi"}},
)


async def eventually(fn, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = await fn()
        except OSError:
            value = None
        if value:
            return value
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


async def finished(rt: DockerRuntime, cid: str):
    st = await rt.inspect(cid)
    return st if st is not None and not st.running else None


async def test_httpd_published_on_the_node_address(rt: DockerRuntime, engine: docker.DockerClient) -> None:
    cid = await rt.start(pod(), HTTPD, epoch=2, host_ip=HOST_IP)
    st = await rt.inspect(cid)
    assert st is not None and st.running
    port = st.host_ports["http"]
    assert st.host_ports == {"http": port, "8080": port} and port > 0

    attrs = engine.api.inspect_container(cid)
    assert attrs["NetworkSettings"]["Ports"]["8080/tcp"] == [{"HostIp": HOST_IP, "HostPort": str(port)}]
    assert attrs["HostConfig"]["NanoCpus"] == 250_000_000
    assert attrs["HostConfig"]["Memory"] == 64 * 2**20

    async def page() -> bytes:
        return await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"http://{HOST_IP}:{port}/", timeout=2).read()
        )

    assert b"hello from busybox:local" in await eventually(page)
    readiness = {"httpGet": {"path": "/", "port": "http"}, "timeoutSeconds": 2}
    assert await run_probe(readiness, HTTPD, HOST_IP, st.host_ports, rt, cid=cid) is True

    t0 = time.monotonic()
    await rt.stop(cid, grace=5)
    assert time.monotonic() - t0 < 4  # the init process forwards SIGTERM; no waiting out the grace
    st = await rt.inspect(cid)
    assert st is not None and not st.running and st.exit_code == 143
    await rt.stop(cid, grace=5)  # idempotent


async def test_exit_code_and_logs(rt: DockerRuntime) -> None:
    cid = await rt.start(pod(), ctr("sh", "-c", "echo out; echo err >&2; exit 3"), epoch=1, host_ip=HOST_IP)
    st = await eventually(lambda: finished(rt, cid))
    assert st.exit_code == 3 and st.finished_at >= st.started_at
    logs = b"".join([c async for c in rt.logs(cid)])
    assert b"out\n" in logs and b"err\n" in logs
    assert b"".join([c async for c in rt.logs(cid, tail=1)]) in (b"out\n", b"err\n")


async def test_logs_follow_ends_with_the_container(rt: DockerRuntime) -> None:
    cid = await rt.start(
        pod(), ctr("sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.2; done"), epoch=1, host_ip=HOST_IP
    )
    followed = await asyncio.wait_for(_collect(rt, cid), 15)
    assert followed == b"1\n2\n3\n"


async def _collect(rt: DockerRuntime, cid: str) -> bytes:
    return b"".join([c async for c in rt.logs(cid, follow=True)])


async def test_list_managed_adopts_by_label(rt: DockerRuntime, engine: docker.DockerClient) -> None:
    uid = uuid.uuid4().hex
    cid = await rt.start(
        pod(uid, "adoptee"), ctr("sleep", "60", name="c"), epoch=9, host_ip=HOST_IP, restart_count=3
    )
    again = DockerRuntime(rt.node_name, engine)  # a restarted agent
    try:
        (st,) = await again.list_managed()
        assert st.cid == cid and st.running
        assert (st.pod_uid, st.pod_name, st.namespace, st.container, st.epoch, st.restart_count) == (
            uid,
            "adoptee",
            "shop",
            "c",
            9,
            3,
        )
        other = DockerRuntime("some-other-node", engine)
        assert cid not in {s.cid for s in await other.list_managed()}
        other.close()
        assert await again.exec(cid, ["sh", "-c", "exit 4"], timeout=10) == 4
        await again.remove(cid)
        assert await rt.inspect(cid) is None
        await again.remove(cid)  # idempotent
    finally:
        again.close()


async def test_missing_image_with_never_is_image_not_found(rt: DockerRuntime) -> None:
    c = ctr("true", name="x") | {"image": f"haplane-test/absent-{uuid.uuid4().hex[:8]}:v1"}
    with pytest.raises(RuntimeStartError) as err:
        await rt.start(pod(), c, epoch=1, host_ip=HOST_IP)
    assert err.value.reason == "ImageNotFound"
    assert await rt.list_managed() == []


async def test_command_not_found(rt: DockerRuntime) -> None:
    with pytest.raises(RuntimeStartError) as err:
        await rt.start(pod(), ctr("no-such-command"), epoch=1, host_ip=HOST_IP)
    assert err.value.reason == "CommandNotFound"
    assert await rt.list_managed() == []  # the created container was cleaned up


async def test_host_port_in_use(rt: DockerRuntime) -> None:
    with socket.socket() as s:
        s.bind((HOST_IP, 0))
        s.listen()
        taken = s.getsockname()[1]
        c = ctr("sleep", "60", ports=[{"containerPort": 80, "hostPort": taken}])
        with pytest.raises(RuntimeStartError) as err:
            await rt.start(pod(), c, epoch=1, host_ip=HOST_IP)
    assert err.value.reason == "PortInUse"


async def test_fixed_host_port(rt: DockerRuntime) -> None:
    with socket.socket() as s:
        s.bind((HOST_IP, 0))
        free = s.getsockname()[1]
    c = ctr(
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
        ports=[{"name": "web", "containerPort": 80, "hostPort": free}],
    )
    cid = await rt.start(pod(), c, epoch=1, host_ip=HOST_IP)
    st = await rt.inspect(cid)
    assert st.host_ports == {"web": free, "80": free}
    assert await eventually(lambda: run_probe({"tcpSocket": {"port": "web"}}, c, HOST_IP, st.host_ports, rt))
