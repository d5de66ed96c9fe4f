"""deploy/docker-compose.yml, built and run offline on the real Docker engine.

* The base image is Debian bookworm from ``debootstrap --variant=minbase --include=python3,
  python3-venv`` + ``docker import`` (deploy/images/base/build.sh; skipped when the tag exists).
* Wheels are built on the host (``pip wheel``; dependencies cached in ``$HAPLANE_WHEEL_CACHE``,
  default ~/.cache/haplane-test-wheels, so later runs need no index) and the image installs
  them with ``--no-index``. The image is rebuilt only when the wheels change.
* The workload image ``busybox:local`` is built from Debian's busybox-static
  (deploy/images/busybox/build.sh): the agents' engine pulls nothing.
* The stack is driven with the compose CLI (Debian's ``docker-compose`` 1.29, or the v2 plugin).
  The host reaches the replicas only through their ports published on 127.0.0.1, over HTTPS
  with the generated CA, and the pods only through the ports published on their node addresses.

Checked: three replicas elect a leader and turn healthy; the two agents (host network, the
host's engine, ``--ca``) register over HTTPS and a Deployment of two HTTP pods runs as Docker
containers of this engine (seen with ``docker ps`` by the agents' labels, answering on their
node addresses); ``docker kill`` of the leader's container and writes continue; every
container — replicas and agents — killed and started again, and every acknowledged write is
still there, identical on all replicas, the pods were adopted (the same containers, no
duplicates) and each restarted agent runs a new pod bound to it.

Clean-up: ``compose down -v``, then the pod containers of this test's cluster (the agents leave
them running when they stop, by design), found by the agents' ``haplane.node`` labels, which
carry this cluster's id.

No skipping: without the engine or the compose CLI this test FAILS (DESIGN.md §10).
First run: ~2 min (base image, wheels); later runs ~1.5 min.
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
from tests.integration.polling import fetch, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.docker]

DEPLOY = Path(REPO) / "deploy"
BASE_TAG = os.environ.get("HAPLANE_BASE_IMAGE", "haplane-base:bookworm")
IMAGE = "haplane:compose-test"
WHEEL_CACHE = Path(os.environ.get("HAPLANE_WHEEL_CACHE", Path.home() / ".cache" / "haplane-test-wheels"))
SOURCES = ("haplane", "node_agent", "chaos", "pyproject.toml", "README.md")
REPLICAS = ("r1", "r2", "r3")
NODES = ("n1", "n2")
KUBECTL = os.path.join(os.path.dirname(sys.executable), "kubectl")
WORKLOAD_IMAGE = "busybox:local"
# The agents' node addresses: host loopback, away from the 127.0.1.x of the other agent tests.
NODE_ADDRESSES = {"n1": "127.0.7.1", "n2": "127.0.7.2"}
L_NODE, L_POD_UID = "haplane.node", "haplane.pod-uid"  # node_agent.runtime.base's labels


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


@pytest.fixture(scope="module")
def workload_image(engine: docker.DockerClient) -> str:
    """busybox:local, built offline in a second (what the agents' engine runs for the Deployment)."""
    _run([str(DEPLOY / "images" / "busybox" / "build.sh"), WORKLOAD_IMAGE], timeout=120)
    return WORKLOAD_IMAGE


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

    def __init__(self, cmd: list[str], engine: docker.DockerClient, image: str, secrets: Path, subnet: str) -> None:
        self.engine = engine
        self.ports = _free_ports(3)
        self.lb_ports = dict(zip(NODES, _free_ports(len(NODES)), strict=True))  # the agents' API load balancers
        self.project = f"haplanetest{os.getpid()}"
        self.env = dict(os.environ, HAPLANE_IMAGE=image, HAPLANE_SECRETS=str(secrets),
                        HAPLANE_SUBNET_PREFIX=subnet,
                        **{f"HAPLANE_PORT_R{i + 1}": str(p) for i, p in enumerate(self.ports)},
                        **{f"HAPLANE_NODE_ADDRESS_{n.upper()}": a for n, a in NODE_ADDRESSES.items()},
                        **{f"HAPLANE_API_LB_{n.upper()}": f"127.0.0.1:{p}" for n, p in self.lb_ports.items()})
        # The uid of namespace default: the agents label their containers NODE@<this>, so it
        # names this test's pod containers and nobody else's (learnt once the cluster is up).
        self.cluster_id: str | None = None
        self.cmd = [*cmd, "-p", self.project, "-f", str(DEPLOY / "docker-compose.yml")]
        self.endpoints = [f"https://127.0.0.1:{p}" for p in self.ports]
        self.token = (secrets / "admin_token").read_text().strip()
        self.ssl = ssl.create_default_context(cafile=str(secrets / "ca.pem"))
        self.secrets = secrets

    def kubectl(self, node: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """kubectl through ``node``'s API load balancer, with a kubeconfig from `haplane kubeconfig`."""
        home = self.secrets.parent / f"kube-{node}"
        kubeconfig = home / "config"
        if not kubeconfig.exists():
            _run([sys.executable, "-m", "haplane", "--config", str(self.secrets / "client.json"), "kubeconfig",
                  "--server", f"https://127.0.0.1:{self.lb_ports[node]}", "--out", str(kubeconfig)], timeout=30)
        return subprocess.run([KUBECTL, "--kubeconfig", str(kubeconfig), "--cache-dir", str(home / "cache"), *args],
                              capture_output=True, text=True, timeout=timeout)

    def compose(self, *args: str, timeout: float = 180) -> str:
        return _run([*self.cmd, *args], timeout=timeout, env=self.env, cwd=str(DEPLOY)).stdout

    def container(self, service: str) -> docker.models.containers.Container:
        cid = self.compose("ps", "-q", service).strip()
        assert cid, f"no container for {service}"
        return self.engine.containers.get(cid)

    def pod_containers(self, *, stopped: bool = False) -> list[docker.models.containers.Container]:
        """The containers the agents of THIS cluster started (running ones unless ``stopped``)."""
        assert self.cluster_id, "the cluster id is not known yet"
        return [ct for node in NODES
                for ct in self.engine.containers.list(all=stopped,
                                                      filters={"label": f"{L_NODE}={node}@{self.cluster_id}"})]

    def remove_pod_containers(self) -> int:
        removed = 0
        for ct in self.pod_containers(stopped=True):
            try:
                ct.remove(force=True)
                removed += 1
            except docker.errors.NotFound:
                pass
        return removed

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
                      for s in REPLICAS}
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
def stack(engine: docker.DockerClient, compose_cmd: list[str], image: str, workload_image: str,
          tmp_path: Path) -> Iterator[Stack]:
    secrets = tmp_path / "secrets"
    subnet = _free_subnet_prefix(engine)  # the agents' log certificate names its gateway
    _run([str(DEPLOY / "make-secrets.sh"), str(secrets)], timeout=60,
         env=dict(os.environ, HAPLANE=f"{sys.executable} -m haplane", HAPLANE_SUBNET_PREFIX=subnet), cwd=REPO)
    st = Stack(compose_cmd, engine, image, secrets, subnet)
    try:
        yield st
    finally:
        try:
            st.compose("down", "-v", "--remove-orphans", "-t", "5", timeout=180)
        except AssertionError as exc:
            print(f"compose down failed: {exc}")
        # The agents are gone now: nothing restarts the pods' containers while they go.
        if st.cluster_id:
            print(f"removed {st.remove_pod_containers()} pod container(s)")


async def _write(c: Client, name: str) -> dict:
    return await c.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
                           "data": {"v": name}})




def _web_pod_spec() -> dict:
    """busybox httpd serving hello-<its hostname: the container id's first 12 characters> on its
    containerPort 8080, ready when it answers; tolerates an unreachable node, so a restart of the
    whole control plane (during which no heartbeat lands) never evicts it. (``$$`` is a literal
    ``$`` for the shell; ``$(PORT_HTTP)`` is expanded by the agent.)"""
    script = ("mkdir -p /www && echo hello-$$(hostname) > /www/index.html && echo serving-$$(hostname) "
              "&& exec httpd -f -h /www -p $(PORT_HTTP)")
    return {"terminationGracePeriodSeconds": 3,
            "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}],
            "containers": [{
                "name": "main", "image": WORKLOAD_IMAGE, "imagePullPolicy": "Never", "command": ["sh", "-c", script],
                "ports": [{"name": "http", "containerPort": 8080}],
                "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1}}]}


def _web_deployment(replicas: int) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": _web_pod_spec()}}}


def _bound_pod(node: str) -> dict:
    """A pod bound to ``node`` directly: only that node's agent can run it."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"on-{node}", "namespace": "default", "labels": {"app": "bound"}},
            "spec": {**_web_pod_spec(), "nodeName": node}}


async def _nodes_ready(c: Client) -> list[dict] | None:
    nodes = []
    for name in NODES:
        node = await c.get("Node", name, None)
        if not any(x["type"] == "Ready" and x["status"] == "True" for x in node["status"].get("conditions") or []):
            return None
        nodes.append(node)
    return nodes


async def _web_ready(c: Client, n: int) -> list[dict] | None:
    """The Deployment's n pods, all Running and Ready, once its status says so too."""
    dep = await c.get("Deployment", "web")
    if (dep.get("status") or {}).get("readyReplicas") != n:
        return None
    return await _pods_ready(c, "app=web", n)


async def _pods_ready(c: Client, selector: str, n: int) -> list[dict] | None:
    """The n pods matching ``selector``, once all are Running and Ready."""
    pods = [p for p in (await c.list("Pod", "default", label_selector=selector))["items"]
            if not p["metadata"].get("deletionTimestamp")]
    if len(pods) != n:
        return None
    for p in pods:
        st = p.get("status") or {}
        ready = any(x["type"] == "Ready" and x["status"] == "True" for x in st.get("conditions") or [])
        if st.get("phase") != "Running" or not ready:
            return None
    return pods




async def _check_pods_run_in_docker(stack: Stack, pods: list[dict]) -> dict[str, str]:
    """Each pod is exactly one running container of this engine, labelled by its agent, published
    on its node address, answering there; return {pod uid: container id}."""
    by_uid: dict[str, list] = {}
    for ct in stack.pod_containers():
        by_uid.setdefault(ct.labels.get(L_POD_UID, ""), []).append(ct)
    assert set(by_uid) == {p["metadata"]["uid"] for p in pods}, \
        f"containers {sorted(by_uid)} for pods {[p['metadata']['uid'] for p in pods]}"
    out = {}
    for p in pods:
        (ct,) = by_uid[p["metadata"]["uid"]]  # one container per pod: no duplicates
        node = p["spec"]["nodeName"]
        address = NODE_ADDRESSES[node]
        assert ct.status == "running" and ct.labels[L_NODE] == f"{node}@{stack.cluster_id}"
        assert WORKLOAD_IMAGE in ct.image.tags, ct.image.tags
        bindings = ct.attrs["NetworkSettings"]["Ports"]["8080/tcp"]
        assert {b["HostIp"] for b in bindings} == {address}, bindings
        cs = p["status"]["containerStatuses"][0]
        assert p["status"]["hostIP"] == address and cs["containerID"].endswith(ct.id), (p["status"], ct.id)
        assert {b["HostPort"] for b in bindings} == {str(cs["hostPorts"]["http"])}, (bindings, cs)
        body = await fetch(f"http://{address}:{cs['hostPorts']['http']}/")
        assert body.strip() == f"hello-{ct.id[:12]}", (body, ct.id)  # this very container answered
        out[p["metadata"]["uid"]] = ct.id
    return out


async def test_compose_stack_runs_pods_and_survives_leader_kill_and_full_restart(stack: Stack) -> None:
    t0 = time.monotonic()
    stack.compose("up", "-d", "--no-build")
    leader = await stack.wait_leader()
    t_up = time.monotonic() - t0
    await stack.wait_healthy()
    acked: set[str] = set()
    async with stack.client(timeout=5.0, max_attempts=10, backoff_max=1.0) as c:
        stack.cluster_id = str((await c.get("Namespace", "default", None))["metadata"]["uid"])

        # The agents (host network, --ca) register over HTTPS and run a Deployment in Docker.
        nodes = await wait_for(lambda: _nodes_ready(c), 90, f"nodes {NODES} registered and Ready", interval=0.5, context=stack.logs)
        for node in nodes:
            info = node["status"]["nodeInfo"]["containerRuntimeVersion"]
            assert info.startswith("docker://") and info != "docker://unknown", info
            assert node["status"]["addresses"][0]["address"] == NODE_ADDRESSES[node["metadata"]["name"]]
            endpoint = node["status"]["daemonEndpoints"]["kubeletEndpoint"]
            assert endpoint["Scheme"] == "https" and endpoint["Address"] == stack.env["HAPLANE_SUBNET_PREFIX"] + ".1"
        t_agents = time.monotonic() - t0
        # kubectl through each agent's API load balancer (TLS passed through: the certificate names 127.0.0.1).
        for node in NODES:
            out = stack.kubectl(node, "get", "nodes", "-o", "name")
            assert out.returncode == 0 and sorted(out.stdout.split()) == [f"node/{n}" for n in NODES], \
                out.stdout + out.stderr
        await c.create(_web_deployment(2))
        pods = await wait_for(lambda: _web_ready(c, 2), 90, "Deployment web: 2 pods Running and Ready", interval=0.5, context=stack.logs)
        t_pods = time.monotonic() - t0
        containers = await _check_pods_run_in_docker(stack, pods)
        placement = sorted(p["spec"]["nodeName"] for p in pods)
        # `haplane logs`: a replica (on the compose network) fetches each pod's log from its
        # agent's log server on the network's gateway, over HTTPS verified with the CA.
        for p in pods:
            _, _, log = await c.request_raw("GET", f"/api/v1/namespaces/default/pods/{p['metadata']['name']}/log")
            assert f"serving-{containers[p['metadata']['uid']][:12]}".encode() in log, log

        for i in range(20):
            acked.add((await _write(c, f"before-{i}"))["metadata"]["name"])

        # Kill the leader's container: writes go on through the other two.
        victim = stack.container(leader)
        victim.kill()
        t_kill = time.monotonic()
        out = stack.kubectl("n1", "get", "namespaces", "-o", "name")  # no retry here: the LB moves on
        assert out.returncode == 0 and "namespace/default" in out.stdout.split(), out.stdout + out.stderr
        t_kubectl = time.monotonic() - t_kill
        first_ack = None
        for i in range(20):
            acked.add((await _write(c, f"after-kill-{i}"))["metadata"]["name"])
            first_ack = first_ack or time.monotonic() - t_kill
        new_leader = (await c.cluster_status())["leader"]
        assert new_leader and new_leader != leader
        victim.start()
        await stack.wait_leader()

    # Every container — replicas and agents — dies at once, then all come back: the state is
    # intact, and the pods (which outlive their agent, by design) are adopted, not duplicated.
    for s in (*REPLICAS, *NODES):
        stack.container(s).kill()
    stack.compose("up", "-d", "--no-build")
    t_restart = time.monotonic()
    await stack.wait_leader()
    t_recover = time.monotonic() - t_restart
    async with stack.client(timeout=5.0, max_attempts=10) as c:
        names = {o["metadata"]["name"] for o in (await c.list("ConfigMap", "default"))["items"]}
        assert acked <= names, f"lost: {sorted(acked - names)}"
        await _write(c, "after-restart")
        pods = await wait_for(lambda: _web_ready(c, 2), 60, "Deployment web still at 2 after the restart", interval=0.5, context=stack.logs)
        # Each restarted agent works: it runs a new pod bound to it. By then it has listed its
        # pods and synced them, so the Deployment's pods were adopted or duplicated: adopted.
        for node in NODES:
            await c.create(_bound_pod(node))
        bound = await wait_for(lambda: _pods_ready(c, "app=bound", len(NODES)), 90,
                                  f"a new pod bound to each of {NODES} Running after the restart",
                                interval=0.5, context=stack.logs)
        after = await _check_pods_run_in_docker(stack, pods + bound)
        assert {u: after[u] for u in containers} == containers, "the Deployment's containers were replaced"
        assert sorted(p["spec"]["nodeName"] for p in bound) == sorted(NODES)
    for _ in range(60):
        hashes = await stack.hashes()
        if len(set(hashes.values())) == 1:
            break
        await asyncio.sleep(0.5)
    assert len(set(hashes.values())) == 1, hashes
    print(json.dumps({"up_to_leader_s": round(t_up, 1), "up_to_nodes_ready_s": round(t_agents, 1),
                      "up_to_pods_ready_s": round(t_pods, 1), "placement": placement,
                      "kill_to_first_ack_s": round(first_ack or -1, 2), "kill_to_kubectl_s": round(t_kubectl, 2),
                      "full_restart_to_leader_s": round(t_recover, 1), "acked": len(acked)}))
