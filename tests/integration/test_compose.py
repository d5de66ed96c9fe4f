"""deploy/docker-compose.yml, built and run offline on the real Docker engine.

* The base image is Debian bookworm from ``debootstrap --variant=minbase --include=python3,
  python3-venv`` + ``docker import`` (deploy/images/base/build.sh; skipped when the tag exists).
* Wheels are built on the host (``pip wheel``; dependencies cached in ``$HAPLANE_WHEEL_CACHE``,
  default ~/.cache/haplane-test-wheels, so later runs need no index) and the image installs
  them with ``--no-index``. The image is rebuilt only when the wheels change.
* The stack is driven with the compose CLI (Debian's ``docker-compose`` 1.29, or the v2 plugin).
  The host reaches the replicas only through their ports published on 127.0.0.1, over HTTPS
  with the generated CA.

Checked: three replicas elect a leader and turn healthy; ``docker kill`` of the leader's
container and writes continue; every container killed and started again, and every
acknowledged write is still there, identical on all replicas.
TODO(agent): two agents register and a Deployment runs in Docker — when haplane-agent takes --ca.

No skipping: without the engine or the compose CLI this test FAILS (DESIGN.md §10).
First run: ~1-2 min (base image, wheels); later runs ~1 min.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from haplane import errors
from haplane.client import Client
from tests.integration.elastic import REPO

pytestmark = [pytest.mark.integration, pytest.mark.docker]

DEPLOY = Path(REPO) / "deploy"
BASE_TAG = os.environ.get("HAPLANE_BASE_IMAGE", "haplane-base:bookworm")
IMAGE = "haplane:compose-test"
WHEEL_CACHE = Path(os.environ.get("HAPLANE_WHEEL_CACHE", Path.home() / ".cache" / "haplane-test-wheels"))
SOURCES = ("haplane", "node_agent", "chaos", "pyproject.toml", "README.md")


def _run(cmd: list[str], timeout: float, **kwargs: object) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)  # type: ignore[call-overload]
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def engine() -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as e:  # noqa: BLE001 - any failure to reach the engine is the same verdict
        pytest.fail(f"the Docker engine is required and unreachable: {e}", pytrace=False)
    return client


@pytest.fixture(scope="module")
def compose_cmd() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    pytest.fail("the compose CLI is required: apt-get install docker-compose (or the docker compose plugin)",
                pytrace=False)


def build_wheels(dest: Path, work: Path) -> None:
    """haplane's wheel and its dependencies' into ``dest``, offline when the cache suffices."""
    src = work / "src"
    for name in SOURCES:
        p = Path(REPO) / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            src.mkdir(parents=True, exist_ok=True)
            shutil.copy(p, src / name)
    WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check"]
    offline = [*pip, "--no-index", "--find-links", str(WHEEL_CACHE), "--wheel-dir", str(dest), str(src)]
    if subprocess.run(offline, capture_output=True, timeout=600).returncode != 0:
        # Fill the cache from the index (the host can reach it; containers cannot), build deps included.
        _run([*pip, "--wheel-dir", str(WHEEL_CACHE), str(src), "setuptools>=68"], timeout=900)
        _run(offline, timeout=600)


@pytest.fixture(scope="module")
def image(engine: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> str:
    t0 = time.monotonic()
    _run([str(DEPLOY / "images" / "base" / "build.sh"), BASE_TAG], timeout=900)
    t_base = time.monotonic() - t0
    ctx = tmp_path_factory.mktemp("image")
    shutil.copy(DEPLOY / "Dockerfile", ctx / "Dockerfile")
    shutil.copy(DEPLOY / ".dockerignore", ctx / ".dockerignore")
    build_wheels(ctx / "wheels", tmp_path_factory.mktemp("wheelbuild"))
    digest = hashlib.sha256()
    for whl in sorted((ctx / "wheels").iterdir()):
        digest.update(whl.name.encode() + whl.read_bytes())
    digest.update((ctx / "Dockerfile").read_bytes() + BASE_TAG.encode())
    tag = digest.hexdigest()[:16]
    t1 = time.monotonic()
    try:
        current = engine.images.get(IMAGE).labels.get("haplane.wheels")
    except docker.errors.ImageNotFound:
        current = None
    if current != tag:
        # --network none: the build must not need any network (the classic builder: no buildx).
        _run(["docker", "build", "-q", "--network", "none", "-t", IMAGE, "--label", f"haplane.wheels={tag}",
              "--build-arg", f"BASE={BASE_TAG}", str(ctx)], timeout=900, env=dict(os.environ, DOCKER_BUILDKIT="0"))
    print(f"base image {t_base:.1f}s, wheels+image {time.monotonic() - t1:.1f}s (rebuilt: {current != tag})")
    return IMAGE


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _free_subnet_prefix(engine: docker.DockerClient) -> str:
    used = []
    for net in engine.networks.list():
        for cfg in (net.attrs.get("IPAM") or {}).get("Config") or []:
            if cfg.get("Subnet"):
                used.append(ipaddress.ip_network(cfg["Subnet"], strict=False))
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout.split()
    for tok in routes:
        try:
            used.append(ipaddress.ip_network(tok, strict=False))
        except ValueError:
            pass
    for third in range(200, 250):
        net = ipaddress.ip_network(f"172.31.{third}.0/24")
        if not any(net.overlaps(u) for u in used if u.prefixlen > 0):
            return f"172.31.{third}"
    raise RuntimeError("no free /24 for the compose network")


class Stack:
    """One compose project: its environment, its client, its containers."""

    def __init__(self, cmd: list[str], engine: docker.DockerClient, image: str, secrets: Path) -> None:
        self.engine = engine
        self.ports = _free_ports(3)
        self.project = f"haplanetest{os.getpid()}"
        self.env = dict(os.environ, HAPLANE_IMAGE=image, HAPLANE_SECRETS=str(secrets),
                        HAPLANE_SUBNET_PREFIX=_free_subnet_prefix(engine),
                        **{f"HAPLANE_PORT_R{i + 1}": str(p) for i, p in enumerate(self.ports)})
        self.cmd = [*cmd, "-p", self.project, "-f", str(DEPLOY / "docker-compose.yml")]
        self.endpoints = [f"https://127.0.0.1:{p}" for p in self.ports]
        self.token = (secrets / "admin_token").read_text().strip()
        self.ssl = ssl.create_default_context(cafile=str(secrets / "ca.pem"))

    def compose(self, *args: str, timeout: float = 180) -> str:
        return _run([*self.cmd, *args], timeout=timeout, env=self.env, cwd=str(DEPLOY)).stdout

    def container(self, service: str) -> docker.models.containers.Container:
        cid = self.compose("ps", "-q", service).strip()
        assert cid, f"no container for {service}"
        return self.engine.containers.get(cid)

    def client(self, endpoints: list[str] | None = None, **kwargs: object) -> Client:
        return Client(endpoints or self.endpoints, self.token, ssl=self.ssl, **kwargs)  # type: ignore[arg-type]

    async def wait_leader(self, timeout: float = 120.0) -> str:
        """All three replicas answer and agree on a leader; return its name."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                leaders = set()
                for ep in self.endpoints:
                    async with self.client([ep], max_attempts=1, timeout=2.0) as c:
                        me = await c.request("GET", "/cluster/self")
                        await c.request_raw("GET", "/readyz")
                    leaders.add(me.get("leader"))
                if len(leaders) == 1 and None not in leaders:
                    async with self.client() as c:
                        status = await c.cluster_status()
                    return status["leader"]
                last = leaders
            except errors.HaplaneError as exc:
                last = exc
            await asyncio.sleep(0.5)
        raise AssertionError(f"no leader after {timeout}s: {last}\n{self.logs()}")

    async def wait_healthy(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            states = {s: (self.container(s).attrs["State"].get("Health") or {}).get("Status")
                      for s in ("r1", "r2", "r3")}
            if all(v == "healthy" for v in states.values()):
                return
            assert time.monotonic() < deadline, f"not healthy: {states}"
            await asyncio.sleep(1.0)

    async def hashes(self) -> dict[str, tuple[int, str]]:
        out = {}
        for ep in self.endpoints:
            async with self.client([ep], max_attempts=3) as c:
                me = await c.request("GET", "/cluster/self", params={"hash": "1"})
            out[me["name"]] = (me["appliedIndex"], me["stateHash"])
        return out

    def logs(self) -> str:
        try:
            return self.compose("logs", "--no-color", "--tail", "40", timeout=60)[-6000:]
        except AssertionError as exc:
            return str(exc)


@pytest.fixture
def stack(engine: docker.DockerClient, compose_cmd: list[str], image: str, tmp_path: Path) -> Iterator[Stack]:
    secrets = tmp_path / "secrets"
    _run([str(DEPLOY / "make-secrets.sh"), str(secrets)], timeout=60,
         env=dict(os.environ, HAPLANE=f"{sys.executable} -m haplane"), cwd=REPO)
    st = Stack(compose_cmd, engine, image, secrets)
    try:
        yield st
    finally:
        try:
            st.compose("down", "-v", "--remove-orphans", "-t", "5", timeout=180)
        except AssertionError as exc:
            print(f"compose down failed: {exc}")


async def _write(c: Client, name: str) -> dict:
    return await c.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
                           "data": {"v": name}})


async def test_compose_stack_survives_leader_kill_and_full_restart(stack: Stack) -> None:
    t0 = time.monotonic()
    stack.compose("up", "-d", "--no-build", "r1", "r2", "r3")
    leader = await stack.wait_leader()
    t_up = time.monotonic() - t0
    await stack.wait_healthy()
    acked: set[str] = set()
    async with stack.client(timeout=5.0, max_attempts=10, backoff_max=1.0) as c:
        for i in range(20):
            acked.add((await _write(c, f"before-{i}"))["metadata"]["name"])

        # Kill the leader's container: writes go on through the other two.
        victim = stack.container(leader)
        victim.kill()
        t_kill = time.monotonic()
        first_ack = None
        for i in range(20):
            acked.add((await _write(c, f"after-kill-{i}"))["metadata"]["name"])
            first_ack = first_ack or time.monotonic() - t_kill
        new_leader = (await c.cluster_status())["leader"]
        assert new_leader and new_leader != leader
        victim.start()
        await stack.wait_leader()

    # Every container dies at once, then all come back: the state is intact.
    for s in ("r1", "r2", "r3"):
        stack.container(s).kill()
    stack.compose("up", "-d", "--no-build", "r1", "r2", "r3")
    t_restart = time.monotonic()
    await stack.wait_leader()
    t_recover = time.monotonic() - t_restart
    async with stack.client(timeout=5.0, max_attempts=10) as c:
        names = {o["metadata"]["name"] for o in (await c.list("ConfigMap", "default"))["items"]}
        assert acked <= names, f"lost: {sorted(acked - names)}"
        await _write(c, "after-restart")
    for _ in range(60):
        hashes = await stack.hashes()
        if len(set(hashes.values())) == 1:
            break
        await asyncio.sleep(0.5)
    assert len(set(hashes.values())) == 1, hashes
    print(json.dumps({"up_to_leader_s": round(t_up, 1), "kill_to_first_ack_s": round(first_ack or -1, 2),
                      "full_restart_to_leader_s": round(t_recover, 1), "acked": len(acked)}))
