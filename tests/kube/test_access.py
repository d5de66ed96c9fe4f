"""Getting in and staying in, as a Kubernetes user does: ``haplane kubeconfig``, ``haplane up``'s
kubeconfig, the API load balancers (haplane up's and every agent's) in front of 3 HTTPS replicas,
kubectl surviving SIGKILL of the replica behind its load balancer, and authorisation as kubectl
reads it (``auth can-i`` for admin/node/viewer, ``auth whoami``, Forbidden and 401 wording).

Every case runs the pinned kubectl binary (or haplane's CLI) and asserts on what it prints or
what the API then holds.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
import yaml

from haplane.api.protobuf import decode
from haplane.kubeconfig import render
from haplane.localcluster import AGENT_LB_PORT
from tests.integration.elastic import free_base_port
from tests.kube.conftest import KUBECTL, KubeCluster, start_kube_cluster

HAPLANE = [sys.executable, "-m", "haplane"]


@pytest.fixture(scope="module")
def lbkube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    """3 HTTPS replicas, 2 agents each running an API load balancer on its node address, and
    the local cluster's own load balancer (member ``lb``)."""
    kc = start_kube_cluster(str(tmp_path_factory.mktemp("access")), api_lb=True)
    try:
        wait_for_nodes(kc)
        yield kc
    finally:
        kc.lc.stop_all()


def wait_for_nodes(kc: KubeCluster, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = kc.kubectl("get", "nodes", "-o", "name", check=False)
        if out.returncode == 0 and sorted(out.stdout.split()) == ["node/n1", "node/n2"]:
            return
        time.sleep(0.3)
    raise AssertionError(f"nodes not registered: {out.stdout} {out.stderr}")


def haplane(kc: KubeCluster, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*HAPLANE, "--config", kc.lc.path("client.json"), *args], capture_output=True, text=True,
                          timeout=30)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def kubeconfig_for(kc: KubeCluster, tmp_path: os.PathLike[str], *args: str) -> str:
    path = os.path.join(str(tmp_path), "kubeconfig")
    haplane(kc, "kubeconfig", "--out", path, *args)
    return path


def kubectl(kubeconfig: str, *args: str, token: str | None = None, timeout: float = 30.0,
            input: str | None = None) -> subprocess.CompletedProcess[str]:  # noqa: A002
    env = dict(os.environ, KUBECONFIG=kubeconfig, HOME=os.path.dirname(kubeconfig))
    return subprocess.run([KUBECTL, *(["--token", token] if token else []), *args], capture_output=True, text=True,
                          timeout=timeout, env=env, input=input)


def configmap(name: str, value: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": value}})


# ------------------------------------------------------------------------------ kubeconfig


def agent_lb(kc: KubeCluster, name: str) -> str:
    url = kc.lc.agent_lb_url(name)
    assert url is not None
    return url


@pytest.mark.parametrize(("args", "server", "namespace"), [
    pytest.param((), "lb", None, id="default-is-the-load-balancer"),
    pytest.param(("--server", "AGENT"), "n1", None, id="server-flag-agent-lb"),
    pytest.param(("--server", "R2"), "r2", None, id="server-flag-a-replica"),
    pytest.param(("--namespace", "kube-public", "--name", "prod"), "lb", "kube-public", id="namespace-and-name"),
])
def test_kubeconfig_command(lbkube: KubeCluster, args: tuple[str, ...], server: str, namespace: str | None) -> None:
    lc = lbkube.lc
    urls = {"lb": lc.lb_url, "n1": agent_lb(lbkube, "n1"), "r2": lc.members["r2"].url}
    args = tuple(urls["n1"] if a == "AGENT" else str(urls["r2"]) if a == "R2" else a for a in args)
    proc = haplane(lbkube, "kubeconfig", *args)
    doc = yaml.safe_load(proc.stdout)
    ctx = doc["contexts"][0]["context"]
    cluster = doc["clusters"][0]["cluster"]
    assert doc["current-context"] == doc["contexts"][0]["name"]
    assert cluster["server"] == urls[server]
    with open(str(lc.ca_file), "rb") as f:
        assert base64.b64decode(cluster["certificate-authority-data"]) == f.read()
    assert doc["users"][0]["user"]["token"] == lc.admin_token
    assert ctx.get("namespace") == namespace


def test_kubeconfig_out_file_is_private_and_works(lbkube: KubeCluster, tmp_path: os.PathLike[str]) -> None:
    path = kubeconfig_for(lbkube, tmp_path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    out = kubectl(path, "get", "nodes", "-o", "name")
    assert out.returncode == 0, out.stderr
    assert sorted(out.stdout.split()) == ["node/n1", "node/n2"]


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(("--server", "http://127.0.0.1:1"), "https", id="plain-http-server"),
    pytest.param(("--ca", "/nonexistent/ca.pem"), "cannot read the CA file", id="missing-ca"),
])
def test_kubeconfig_refuses(lbkube: KubeCluster, args: tuple[str, ...], message: str) -> None:
    proc = haplane(lbkube, "kubeconfig", *args, check=False)
    assert proc.returncode == 1 and message in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""


# ------------------------------------------------------------------------------ load balancers


@pytest.mark.parametrize("lb", ["lb", "n1", "n2"])
def test_kubectl_through_each_load_balancer(lbkube: KubeCluster, lb: str, tmp_path: os.PathLike[str]) -> None:
    """TLS passes through: kubectl verifies the replicas' certificate against the LB's address."""
    url = lbkube.lc.lb_url if lb == "lb" else agent_lb(lbkube, lb)
    assert url is not None and (lb == "lb" or url.endswith(f":{AGENT_LB_PORT}"))
    path = kubeconfig_for(lbkube, tmp_path, "--server", url)
    out = kubectl(path, "get", "namespaces", "-o", "name")
    assert out.returncode == 0, out.stderr
    assert "namespace/default" in out.stdout.split()


def serving_replica(kubeconfig: str) -> str:
    """The replica behind the load balancer right now (the LB sticks to one while it is ready)."""
    out = kubectl(kubeconfig, "get", "--raw", "/cluster/self")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["name"]


@pytest.mark.parametrize("lb", ["n1", "lb"])
def test_kubectl_survives_sigkill_of_the_replica_behind_the_lb(lbkube: KubeCluster, lb: str,
                                                                tmp_path: os.PathLike[str],
                                                                record_property: Callable[[str, object], None]) -> None:
    lc = lbkube.lc
    url = agent_lb(lbkube, lb) if lb != "lb" else lc.lb_url
    path = kubeconfig_for(lbkube, tmp_path, "--server", str(url))
    victim = serving_replica(path)
    assert serving_replica(path) == victim  # sticky: the same replica answers again
    out = kubectl(path, "create", "--validate=false", "-f", "-", input=configmap(f"before-kill-{lb}", "v"))
    assert out.returncode == 0, out.stderr
    leader = lc.wait_ready(timeout=10)
    lc.kill(victim)
    try:
        started = time.monotonic()
        out = kubectl(path, "get", "configmap", f"before-kill-{lb}", "-o", "jsonpath={.data.k}", timeout=30)
        elapsed = time.monotonic() - started
        record_property("kubectl_after_sigkill_seconds", round(elapsed, 3))
        record_property("victim_was_leader", victim == leader)
        assert out.returncode == 0, out.stderr
        assert out.stdout == "v"
        assert elapsed < 15, f"kubectl took {elapsed:.1f}s after the kill"
        now = serving_replica(path)
        assert now != victim
        out = kubectl(path, "create", "--validate=false", "-f", "-", input=configmap(f"after-kill-{lb}", "w"))
        assert out.returncode == 0, out.stderr
    finally:
        lc.start(victim)
        lc.wait_ready(timeout=60)


def test_a_paused_replica_is_left_once_its_probes_time_out(lbkube: KubeCluster, tmp_path: os.PathLike[str]) -> None:
    """SIGSTOP: the replica's kernel still accepts connections, so only the /readyz probes (1 s
    timeout) can tell. Once the LB has logged it down, new kubectl connections go elsewhere."""
    lc = lbkube.lc
    path = kubeconfig_for(lbkube, tmp_path, "--server", agent_lb(lbkube, "n2"))
    victim = serving_replica(path)
    log_path = lc.path("n2", "log")
    with open(log_path, "rb") as f:
        f.seek(0, os.SEEK_END)
        offset = f.tell()
    port = str(lc.members[victim].http).rsplit(":", 1)[1]
    lc.pause(victim)
    try:
        paused = time.monotonic()
        while True:
            with open(log_path, "rb") as f:
                f.seek(offset)
                seen = f.read().decode(errors="replace")
            if re.search(rf"api load balancer: 127\.0\.0\.1:{port} is down", seen):
                break
            assert time.monotonic() - paused < 5, f"the LB did not notice the paused {victim}:\n{seen}"
            time.sleep(0.1)
        noticed = time.monotonic() - paused
        out = kubectl(path, "get", "--raw", "/cluster/self", timeout=20)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["name"] != victim
        assert noticed < 3.5  # one probe interval (1 s) + its timeout (1 s), with slack for the load
    finally:
        lc.resume(victim)
        lc.wait_ready(timeout=60)


# ------------------------------------------------------------------------------ haplane up


def test_haplane_up_prints_a_kubeconfig_that_kubectl_uses(tmp_path: os.PathLike[str]) -> None:
    """What `make run` does (one agent, process runtime), then what its output tells the user to do."""
    base = free_base_port()
    work = str(tmp_path)
    proc = subprocess.Popen([*HAPLANE, "up", "--replicas", "3", "--agents", "1", "--runtime", "process", "--demo",
                             "--base-port", str(base), "--node-net", f"127.78.{(base // 200) % 250}",
                             "--data-dir", os.path.join(work, ".haplane")],
                            cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C stops the cluster" in line:
                break
        text = "".join(lines)
        assert "haplane ready" in text, text
        m = re.search(r"export KUBECONFIG=(\S+)", text)
        assert m, text
        kubeconfig = m.group(1)
        assert kubeconfig == os.path.join(work, ".haplane", "kubeconfig")
        assert f"https://127.0.0.1:{base}" in text  # the load balancer
        deadline = time.monotonic() + 30
        while True:
            out = kubectl(kubeconfig, "get", "nodes,pods", "-A", "-o", "name")
            if out.returncode == 0 and "node/n1" in out.stdout and out.stdout.count("pod/ticker-") == 2:
                break
            assert time.monotonic() < deadline, out.stdout + out.stderr
            time.sleep(0.5)
        cli = subprocess.run([*HAPLANE, "get", "pods", "-n", "demo"], capture_output=True, text=True, timeout=30,
                             env=dict(os.environ, HAPLANE_CONFIG=os.path.join(work, ".haplane", "client.json")))
        assert cli.returncode == 0 and cli.stdout.count("ticker-") == 2, cli.stdout + cli.stderr
        with open(os.path.join(work, ".haplane", "client.json"), encoding="utf-8") as f:
            client = json.load(f)
        assert client["ca"] and all(e.startswith("https://") for e in client["endpoints"])
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    assert proc.returncode == 0


# ------------------------------------------------------------------------------ authorisation

# (role, kubectl auth can-i arguments, allowed)
CAN_I = [
    ("admin", ("create", "pods"), True),
    ("admin", ("delete", "deployments.apps", "-n", "shop"), True),
    ("admin", ("create", "pods", "--subresource=eviction"), True),
    ("admin", ("patch", "nodes"), True),
    ("admin", ("*", "*"), True),
    ("admin", ("get", "/cluster/snapshot"), True),
    ("node", ("get", "pods", "-A"), True),
    ("node", ("watch", "pods"), True),
    ("node", ("update", "nodes"), True),
    ("node", ("patch", "nodes", "--subresource=status"), True),
    ("node", ("update", "pods", "--subresource=status"), True),
    ("node", ("create", "events"), True),
    ("node", ("create", "pods"), False),
    ("node", ("delete", "pods"), False),
    ("node", ("create", "pods", "--subresource=eviction"), False),
    ("node", ("update", "deployments", "--subresource=scale"), False),
    ("node", ("create", "configmaps"), False),
    ("viewer", ("get", "pods"), True),
    ("viewer", ("list", "deployments"), True),
    ("viewer", ("watch", "nodes"), True),
    ("viewer", ("get", "pods", "--subresource=log"), True),
    ("viewer", ("get", "/version"), True),
    ("viewer", ("create", "pods"), False),
    ("viewer", ("update", "configmaps"), False),
    ("viewer", ("patch", "deployments"), False),
    ("viewer", ("delete", "namespaces"), False),
    ("viewer", ("deletecollection", "pods"), False),
    ("viewer", ("get", "/cluster/snapshot"), False),
    ("viewer", ("*", "*"), False),
    ("viewer", ("create", "pods", "--subresource=exec"), False),
    ("admin", ("create", "pods", "--subresource=exec"), True),
    ("node", ("create", "pods", "--subresource=portforward"), False),
]


@pytest.mark.parametrize(("role", "args", "allowed"), [
    pytest.param(r, a, ok, id=f"{r}-{'-'.join(a).replace('/', '_')}") for r, a, ok in CAN_I])
def test_auth_can_i(lbkube: KubeCluster, role: str, args: tuple[str, ...], allowed: bool) -> None:
    out = lbkube.kubectl("--token", lbkube.lc.token(role), "auth", "can-i", *args, check=False)
    assert out.stdout.strip() == ("yes" if allowed else "no"), out.stdout + out.stderr
    assert out.returncode == (0 if allowed else 1)
    assert "doesn't have a resource type" not in out.stderr


def test_auth_can_i_agrees_with_what_the_api_enforces(lbkube: KubeCluster) -> None:
    """A row of the table, then the request itself: the same rules answer both."""
    viewer = lbkube.lc.token("viewer")
    out = lbkube.kubectl("--token", viewer, "create", "configmap", "nope", check=False)
    assert out.returncode == 1
    assert out.stderr.strip() == ('error: failed to create configmap: configmaps is forbidden: User "viewer" cannot '
                                  'create resource "configmaps" in API group "" in the namespace "default"')
    assert lbkube.kubectl("get", "configmap", "nope", check=False).returncode == 1  # nothing was created
    out = lbkube.kubectl("--token", viewer, "delete", "namespace", "default", check=False)
    assert 'namespaces "default" is forbidden: User "viewer" cannot delete resource "namespaces" in API group "" ' \
           'at the cluster scope' in out.stderr
    out = lbkube.kubectl("--token", viewer, "get", "--raw", "/cluster/snapshot", check=False)
    assert out.returncode == 1 and "Forbidden" in out.stderr


def test_forbidden_status_details(lbkube: KubeCluster) -> None:
    out = lbkube.kubectl("--token", lbkube.lc.token("node"), "create", "deployment", "x", "--image=busybox",
                         "-o", "json", "-v=6", check=False)
    assert out.returncode == 1
    assert 'deployments.apps is forbidden: User "node" cannot create resource "deployments" in API group "apps" ' \
           'in the namespace "default"' in out.stderr


@pytest.mark.parametrize(("role", "user"), [("admin", "admin"), ("node", "node"), ("viewer", "viewer")])
def test_auth_whoami(lbkube: KubeCluster, role: str, user: str) -> None:
    out = lbkube.kubectl("--token", lbkube.lc.token(role), "auth", "whoami", "-o", "json")
    status = json.loads(out.stdout)["status"]["userInfo"]
    assert status == {"username": user, "groups": [f"haplane:{role}", "system:authenticated"]}
    table = lbkube.kubectl("--token", lbkube.lc.token(role), "auth", "whoami").stdout.split("\n")
    assert table[1].split() == ["Username", user]


def test_auth_can_i_list(lbkube: KubeCluster) -> None:
    out = lbkube.kubectl("--token", lbkube.lc.token("viewer"), "auth", "can-i", "--list")
    rows = [line.split() for line in out.stdout.splitlines()[1:]]
    assert ["*.*", "[]", "[]", "[get", "list", "watch]"] in rows
    assert any(r[0] == "selfsubjectaccessreviews.authorization.k8s.io" and r[-1] == "[create]" for r in rows)


def test_unauthorized_as_kubectl_prints_it(lbkube: KubeCluster, tmp_path: os.PathLike[str]) -> None:
    """An unknown token: kubectl 1.37 says what it says against Kubernetes (k3s prints the same), and the
    401 is Kubernetes' Status."""
    path = kubeconfig_for(lbkube, tmp_path)
    out = kubectl(path, "get", "pods", token="x" * 48)
    assert out.returncode == 1
    assert out.stderr.splitlines()[-1] == \
        "error: You must be logged in to the server (the server has asked for the client to provide credentials)"
    out = kubectl(path, "get", "--raw", "/api/v1/namespaces/default/pods", "-v=8", token="x" * 48)
    body = re.search(r'"Response Body" body="(.*)"$', out.stderr, re.M)
    assert body, out.stderr
    assert json.loads(body.group(1).encode().decode("unicode_escape")) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized",
        "reason": "Unauthorized", "code": 401}


# ------------------------------------------------------------------------------ cordon / drain


def deployment_manifest(name: str, replicas: int) -> str:
    labels = {"app": name}
    return json.dumps({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": {
        "replicas": replicas, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": "busybox:local", "command": ["sleep", "600"]}]}}}})


def pods_on(kc: KubeCluster, node: str, selector: str) -> list[str]:
    out = kc.kubectl("get", "pods", "-l", selector, "--field-selector", f"spec.nodeName={node}", "-o", "name")
    return out.stdout.split()


def wait_running(kc: KubeCluster, selector: str, count: int, timeout: float = 60.0) -> dict[str, str]:
    """pod name -> node, once ``count`` pods matching ``selector`` are Running."""
    deadline = time.monotonic() + timeout
    while True:
        out = kc.kubectl("get", "pods", "-l", selector, "-o", "json")
        pods = {p["metadata"]["name"]: p["spec"].get("nodeName") for p in json.loads(out.stdout)["items"]
                if (p.get("status") or {}).get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")}
        if len(pods) == count:
            return pods
        assert time.monotonic() < deadline, out.stdout
        time.sleep(0.3)


@pytest.mark.parametrize(("role", "args", "message"), [
    pytest.param("viewer", ("cordon", "n2"), 'nodes "n2" is forbidden: User "viewer" cannot patch resource "nodes" '
                 'in API group "" at the cluster scope', id="viewer-cordon"),
    pytest.param("admin", ("drain", "n2", "--pod-selector=app=bare", "--timeout=20s"),
                 "cannot delete Pods that declare no controller (use --force to override): default/bare",
                 id="bare-pod-needs-force"),
])
def test_drain_refusals(lbkube: KubeCluster, role: str, args: tuple[str, ...], message: str) -> None:
    kc = lbkube
    bare = json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare", "labels": {"app": "bare"}},
                       "spec": {"nodeName": "n2", "terminationGracePeriodSeconds": 1,
                                "containers": [{"name": "main", "image": "busybox:local", "command": ["sleep", "600"]}]}})
    kc.kubectl("create", "--validate=false", "-f", "-", input=bare)
    try:
        out = kc.kubectl("--token", kc.lc.token(role), *args, check=False, timeout=60)
        assert message in out.stderr, out.stdout + out.stderr
        # kubectl cordon reports a refused node and exits 0 (as against Kubernetes); drain exits 1
        assert out.returncode == (0 if args[0] == "cordon" else 1)
        assert kc.kubectl("get", "pod", "bare", "-o", "name").stdout.strip() == "pod/bare"  # still there
        if args[0] == "cordon":
            assert kc.kubectl("get", "node", "n2", "-o", "jsonpath={.spec.unschedulable}").stdout in ("", "false")
    finally:
        kc.kubectl("uncordon", "n2", check=False)
        kc.kubectl("delete", "pod", "bare", "--wait=false", check=False)


def test_cordon_drain_uncordon(lbkube: KubeCluster) -> None:
    kc = lbkube
    kc.kubectl("create", "--validate=false", "-f", "-", input=deployment_manifest("drainme", 4))
    try:
        before = wait_running(kc, "app=drainme", 4)
        assert kc.kubectl("cordon", "n1").stdout.strip() == "node/n1 cordoned"
        assert kc.kubectl("get", "node", "n1", "-o", "jsonpath={.spec.unschedulable}").stdout == "true"
        on_n1 = [n for n, node in before.items() if node == "n1"]
        drained = kc.kubectl("drain", "n1", "--ignore-daemonsets", "--timeout=90s", timeout=120)
        assert "node/n1 already cordoned" in drained.stdout and drained.stdout.rstrip().endswith("node/n1 drained")
        for pod in on_n1:
            assert f"evicting pod default/{pod}" in drained.stderr + drained.stdout
            assert f"pod/{pod} evicted" in drained.stdout
        assert pods_on(kc, "n1", "app=drainme") == []
        after = wait_running(kc, "app=drainme", 4)
        assert set(after.values()) == {"n2"}  # n1 is cordoned: the replacements went to n2
        assert kc.kubectl("uncordon", "n1").stdout.strip() == "node/n1 uncordoned"
        assert kc.kubectl("get", "node", "n1", "-o", "jsonpath={.spec.unschedulable}").stdout in ("", "false")
    finally:
        kc.kubectl("uncordon", "n1", check=False)
        kc.kubectl("delete", "deployment", "drainme", check=False)


def test_eviction_subresource_directly(lbkube: KubeCluster, tmp_path: os.PathLike[str]) -> None:
    """POST pods/NAME/eviction as JSON (the official clients' way; kubectl drain sends protobuf)."""
    kc = lbkube
    pod = json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "evictme"},
                      "spec": {"terminationGracePeriodSeconds": 1,
                               "containers": [{"name": "main", "image": "busybox:local", "command": ["sleep", "600"]}]}})
    kc.kubectl("create", "--validate=false", "-f", "-", input=pod)
    uid = kc.kubectl("get", "pod", "evictme", "-o", "jsonpath={.metadata.uid}").stdout
    path = os.path.join(str(tmp_path), "eviction.json")

    def evict(body: dict, token: str | None = None) -> subprocess.CompletedProcess[str]:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(body, f)
        return kc.kubectl(*(["--token", token] if token else []), "create", "--raw",
                          "/api/v1/namespaces/default/pods/evictme/eviction", "-f", path, check=False)

    base = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "evictme", "namespace": "default"}}
    out = evict(dict(base, metadata={"name": "other"}))
    assert out.returncode == 1 and "does not match" in out.stderr
    out = evict(dict(base, deleteOptions={"preconditions": {"uid": "wrong"}}))
    assert out.returncode == 1 and "Conflict" in out.stderr
    out = evict(base, token=kc.lc.token("node"))
    assert out.returncode == 1 and 'cannot create resource "pods/eviction"' in out.stderr
    assert kc.kubectl("get", "pod", "evictme", "-o", "jsonpath={.metadata.uid}").stdout == uid  # untouched
    out = evict(dict(base, deleteOptions={"preconditions": {"uid": uid}}))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                      "code": 201}
    assert kc.kubectl("get", "pod", "evictme", check=False).returncode == 1


# ------------------------------------------------------------------------------ protobuf bodies

GENERATORS = [
    pytest.param(("create", "configmap", "pb", "--from-literal=a=b", "--from-literal=c=d"), id="configmap"),
    pytest.param(("create", "namespace", "pb"), id="namespace"),
    pytest.param(("create", "deployment", "pb", "--image=busybox", "--replicas=3", "--port=80"), id="deployment"),
    pytest.param(("create", "deployment", "pb", "--image=busybox", "--image=busybox:local", "--replicas=0"),
                 id="deployment-two-images-zero-replicas"),
    pytest.param(("create", "service", "clusterip", "pb", "--tcp=80:8080", "--tcp=443:https"), id="service-clusterip"),
    pytest.param(("create", "service", "nodeport", "pb", "--tcp=80:http", "--node-port=30080"), id="service-nodeport"),
    pytest.param(("create", "service", "externalname", "pb", "--external-name=example.com"), id="service-externalname"),
]


def sent_protobuf(args: tuple[str, ...], home: str) -> bytes:
    """The body kubectl sends for ``args`` (from its -v=9 hex dump; the server it dials is closed)."""
    path = os.path.join(home, "closed-kubeconfig")
    with open(path, "w", encoding="utf-8") as f:
        f.write(render("https://127.0.0.1:1", "t" * 20, None))
    out = kubectl(path, *args, "-v=9")
    assert "Content-Type: application/vnd.kubernetes.protobuf" in out.stderr, out.stderr[-2000:]
    dump = out.stderr.split('"Request Body" body=<', 1)[1].split("\n >", 1)[0]
    hexes = [ln.split("  ", 1)[1].rsplit("|", 2)[0] for ln in dump.strip().splitlines()]
    return bytes.fromhex("".join(h.replace(" ", "") for h in hexes))


@pytest.mark.parametrize("args", GENERATORS)
def test_protobuf_bodies_decode_to_what_kubectl_would_send_as_json(args: tuple[str, ...],
                                                                   tmp_path: os.PathLike[str]) -> None:
    """The oracle is kubectl itself: `--dry-run=client -o json` prints the object it sends."""
    home = str(tmp_path)
    decoded = decode(sent_protobuf(args, home))
    out = kubectl(os.path.join(home, "closed-kubeconfig"), *args, "--dry-run=client", "-o", "json")
    expected = json.loads(out.stdout)
    expected.pop("status", None)
    if expected["metadata"].get("creationTimestamp") is None:
        expected["metadata"].pop("creationTimestamp", None)
    template = expected.get("spec", {}).get("template", {}).get("metadata", {})
    if "creationTimestamp" in template and template["creationTimestamp"] is None:
        del template["creationTimestamp"]
    assert decoded == expected


@pytest.mark.parametrize(("args", "check"), [
    pytest.param(("create", "configmap", "gen-cm", "--from-literal=a=b"), ("configmap", "gen-cm", "{.data.a}", "b"),
                 id="configmap"),
    pytest.param(("create", "namespace", "gen-ns"), ("namespace", "gen-ns", "{.metadata.name}", "gen-ns"),
                 id="namespace"),
    pytest.param(("create", "deployment", "gen-dep", "--image=busybox:local", "--replicas=2", "--", "sleep", "600"),
                 ("deployment", "gen-dep", "{.spec.template.spec.containers[0].command[1]}", "600"), id="deployment"),
    pytest.param(("create", "service", "clusterip", "gen-svc", "--tcp=80:http"),
                 ("service", "gen-svc", "{.spec.ports[0].targetPort}", "http"), id="service"),
])
def test_kubectl_create_generators(lbkube: KubeCluster, args: tuple[str, ...], check: tuple[str, str, str, str]) -> None:
    kind, name, path, want = check
    out = lbkube.kubectl(*args)
    assert f"{name} created" in out.stdout
    assert lbkube.kubectl("get", kind, name, "-o", f"jsonpath={path}").stdout == want
    lbkube.kubectl("delete", kind, name, "--wait=false")
