"""kubectl get / describe / delete against haplane (3 HTTPS replicas, 2 process agents): what the
real kubectl binary prints from haplane's server-side Tables, its list and watch options, and
what each delete cascade mode leaves in the API.

The commands (one per case id below):

    get nodes | nodes -o wide | pods | pods -o wide | pod solo | deploy | deploy -o wide | svc | svc -o wide
    get ns | cm | ep | events | events -o wide | pods --show-labels | pods --sort-by | pods -A
    get pods -l | --field-selector (pods, nodes, events; unsupported label) | --chunk-size=1
    get -o json | -o yaml | -o name | -o jsonpath | -o custom-columns
    get pods -w (a created pod appears)
    get --raw: limit/continue pages over a change, resourceVersionMatch=Exact
    describe pod | deployment | node | service
    delete deploy --cascade=background | --cascade=foreground | --cascade=orphan; delete pod --force --grace-period=0
    official client: delete_namespaced_config_map with a failing and a matching uid precondition
    the wire: Table v1beta1 + includeObject=Object, single-object Table, includeObject=None, plain JSON pages;
      406 / 400 / 504 for bad Accept, includeObject, continue, too large resourceVersion, sendInitialEvents;
      a Table watch sends the columns once; sendInitialEvents ends with the initial-events-end BOOKMARK;
      a continue token from one replica continues on another
"""

from __future__ import annotations

import json
import os
import re
import select
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from kubernetes import client, config

from tests.kube.conftest import KUBECTL, KubeCluster

NS = "printing"

APP = """
apiVersion: v1
kind: Namespace
metadata: {name: printing}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: printing, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: httpd, image: busybox, command: [sleep, "3600"]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: printing}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: printing}
data: {a: "1", b: "2"}
---
apiVersion: v1
kind: Pod
metadata: {name: solo, namespace: printing, labels: {run: solo}}
spec:
  containers:
  - {name: solo, image: busybox, command: [sleep, "3600"]}
"""


def deployment(name: str, replicas: int = 2) -> str:
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {NS}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - {{name: main, image: busybox, command: [sleep, "3600"]}}
"""


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def phases(kube: KubeCluster, selector: str) -> list[str]:
    out = kube.kubectl("get", "pods", "-n", NS, "-l", selector, "-o", "jsonpath={.items[*].status.phase}").stdout
    return out.split()


@pytest.fixture(scope="module")
def app(kube: KubeCluster) -> KubeCluster:
    kube.kubectl("create", "-f", "-", input=APP)
    wait_for("both nodes Ready", lambda: kube.kubectl(
        "get", "nodes", "-o", "jsonpath={.items[*].status.conditions[?(@.type=='Ready')].status}").stdout.split()
        == ["True", "True"])
    wait_for("the web pods and solo running",
             lambda: phases(kube, "app=web") == ["Running"] * 2 and phases(kube, "run=solo") == ["Running"])
    return kube


def table(text: str) -> list[list[str]]:
    """kubectl's columns: cells are separated by three spaces or more."""
    return [re.split(r"\s{3,}", line.strip()) for line in text.splitlines() if line.strip()]


def rows_named(text: str, prefix: str) -> list[list[str]]:
    return [r for r in table(text)[1:] if r[0].startswith(prefix)]


# (args, expected header, check on the rows)
GET_CASES = [
    pytest.param(["get", "nodes"], ["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
                 lambda rows: [r[:3] for r in rows] == [["n1", "Ready", "<none>"], ["n2", "Ready", "<none>"]],
                 id="nodes"),
    pytest.param(["get", "nodes", "-o", "wide"], ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP",
                                                  "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"],
                 lambda rows: all(r[5].startswith("127.") and r[6] == "<none>" for r in rows) and len(rows) == 2,
                 id="nodes-wide"),
    pytest.param(["get", "pods", "-n", NS], ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
                 lambda rows: sorted(r[1:4] for r in rows) == [["1/1", "Running", "0"]] * 3, id="pods"),
    pytest.param(["get", "pods", "-n", NS, "-o", "wide"],
                 ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"],
                 lambda rows: all(r[5].startswith("127.") and r[6] in ("n1", "n2") and r[7:] == ["<none>", "<none>"]
                                  for r in rows), id="pods-wide"),
    pytest.param(["get", "pod", "solo", "-n", NS], ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
                 lambda rows: [r[:4] for r in rows] == [["solo", "1/1", "Running", "0"]], id="one-pod"),
    pytest.param(["get", "deploy", "-n", NS], ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
                 lambda rows: [r[:4] for r in rows] == [["web", "2/2", "2", "2"]], id="deployments"),
    pytest.param(["get", "deployments.apps", "web", "-n", NS, "-o", "wide"],
                 ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"],
                 lambda rows: [r[5:] for r in rows] == [["httpd", "busybox", "app=web"]], id="deployments-wide"),
    pytest.param(["get", "svc", "-n", NS], ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
                 lambda rows: [r[:5] for r in rows] == [["web", "ClusterIP", "<none>", "<none>", "80/TCP"]],
                 id="services"),
    pytest.param(["get", "svc", "-n", NS, "-o", "wide"],
                 ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"],
                 lambda rows: [r[-1] for r in rows] == ["app=web"], id="services-wide"),
    pytest.param(["get", "ns"], ["NAME", "STATUS", "AGE"],
                 lambda rows: ["default", "Active"] in [r[:2] for r in rows] and [NS, "Active"] in [r[:2] for r in rows],
                 id="namespaces"),
    pytest.param(["get", "cm", "settings", "-n", NS], ["NAME", "DATA", "AGE"],
                 lambda rows: [r[:2] for r in rows] == [["settings", "2"]], id="configmaps"),
    pytest.param(["get", "ep", "-n", NS], ["NAME", "ENDPOINTS", "AGE"],
                 lambda rows: [r[0] for r in rows] == ["web"], id="endpoints"),
    pytest.param(["get", "events", "-n", NS], ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
                 lambda rows: ["Normal", "Scheduled", "pod/solo"] in [r[1:4] for r in rows], id="events"),
    pytest.param(["get", "events", "-n", NS, "-o", "wide", "--field-selector", "involvedObject.name=solo,reason=Scheduled"],
                 ["LAST SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT", "SOURCE", "MESSAGE", "FIRST SEEN", "COUNT",
                  "NAME"],
                 lambda rows: len(rows) == 1 and rows[0][1:4] == ["Normal", "Scheduled", "pod/solo"]
                 and rows[0][-2] == "1", id="events-wide"),
    pytest.param(["get", "pods", "-n", NS, "--show-labels", "-l", "run=solo"],
                 ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "LABELS"],
                 lambda rows: [[r[0], r[-1]] for r in rows] == [["solo", "run=solo"]], id="show-labels"),
    pytest.param(["get", "pods", "-n", NS, "--sort-by", "{.metadata.name}"],
                 ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
                 lambda rows: [r[0] for r in rows] == sorted(r[0] for r in rows) and len(rows) == 3, id="sort-by"),
    pytest.param(["get", "pods", "-A"], ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"],
                 lambda rows: len([r for r in rows if r[0] == NS]) == 3,
                 id="all-namespaces"),
    pytest.param(["get", "pods", "-n", NS, "-l", "app=web"], ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
                 lambda rows: len(rows) == 2 and all(r[0].startswith("web-") for r in rows), id="label-selector"),
    pytest.param(["get", "pods", "-n", NS, "--field-selector", "status.phase=Running,metadata.name=solo"],
                 ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
                 lambda rows: [r[0] for r in rows] == ["solo"], id="field-selector"),
    pytest.param(["get", "pods", "-n", NS, "--field-selector", "status.phase!=Running"], None, None,
                 id="field-selector-not-equal"),
    pytest.param(["get", "nodes", "--field-selector", "spec.unschedulable=false,metadata.name=n2"],
                 ["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
                 lambda rows: [r[0] for r in rows] == ["n2"], id="field-selector-nodes"),
    pytest.param(["get", "pods", "-n", NS, "--chunk-size=1"], ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
                 lambda rows: len(rows) == 3, id="chunk-size"),
]


@pytest.mark.parametrize(("args", "header", "check"), GET_CASES)
def test_get(app: KubeCluster, args: list[str], header: list[str] | None, check: Callable) -> None:
    out = app.kubectl(*args).stdout
    rows = table(out)
    if header is None:  # nothing on stdout ("No resources found" goes to stderr)
        assert rows == [], out
        return
    assert rows and rows[0] == header, out
    assert check(rows[1:]), out


def test_chunk_size_follows_the_continue_tokens(app: KubeCluster) -> None:
    proc = app.kubectl("get", "pods", "-n", NS, "--chunk-size=1", "-v=6")
    urls = re.findall(r'url="([^"]+)"', proc.stderr)
    pages = [u for u in urls if f"/namespaces/{NS}/pods?" in u]
    assert len(pages) == 3, urls
    assert "continue=" not in pages[0] and all("continue=" in u and "limit=1" in u for u in pages[1:]), pages


def test_unsupported_field_label(app: KubeCluster) -> None:
    proc = app.kubectl("get", "pods", "-n", NS, "--field-selector", "spec.image=busybox", check=False)
    assert proc.returncode == 1
    assert "field label not supported: spec.image" in proc.stderr


@pytest.mark.parametrize(("args", "check"), [
    pytest.param(["get", "deploy", "web", "-n", NS, "-o", "json"],
                 lambda out: json.loads(out)["spec"]["replicas"] == 2 and json.loads(out)["kind"] == "Deployment",
                 id="json"),
    pytest.param(["get", "pods", "-n", NS, "-l", "app=web", "-o", "json"],
                 lambda out: json.loads(out)["kind"] == "List" and len(json.loads(out)["items"]) == 2, id="json-list"),
    pytest.param(["get", "cm", "settings", "-n", NS, "-o", "yaml"],
                 lambda out: "kind: ConfigMap" in out and "  a: \"1\"" in out, id="yaml"),
    pytest.param(["get", "deploy,svc", "-n", NS, "-o", "name"],
                 lambda out: out.split() == ["deployment.apps/web", "service/web"], id="name"),
    pytest.param(["get", "pods", "-n", NS, "-l", "run=solo", "-o", "jsonpath={.items[*].spec.containers[0].name}"],
                 lambda out: out == "solo", id="jsonpath"),
    pytest.param(["get", "pods", "-n", NS, "-o", "custom-columns=NAME:.metadata.name,NODE:.spec.nodeName",
                  "--sort-by=.metadata.name"],
                 lambda out: table(out)[0] == ["NAME", "NODE"] and table(out)[1][0] == "solo"
                 and all(r[1] in ("n1", "n2") for r in table(out)[1:]), id="custom-columns"),
])
def test_get_output_formats(app: KubeCluster, args: list[str], check: Callable[[str], bool]) -> None:
    out = app.kubectl(*args).stdout
    assert check(out), out


class LineReader:
    """Lines of a running process's stdout, read with a deadline (no buffered readline under select)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self.proc, self.fd, self.buf, self.lines = proc, proc.stdout.fileno(), b"", []

    def until(self, done: Callable[[list[str]], bool], timeout: float = 30.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while not done(self.lines):
            left = deadline - time.monotonic()
            assert left > 0, f"the watch printed only {self.lines}"
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                chunk = os.read(self.fd, 65536)
                assert chunk, f"kubectl get -w ended after {self.lines}"
                self.buf += chunk
                *complete, self.buf = self.buf.split(b"\n")
                self.lines += [line.decode() for line in complete]
        return self.lines


@pytest.fixture
def watcher(app: KubeCluster) -> Iterator[LineReader]:
    proc = subprocess.Popen([KUBECTL, "get", "pods", "-n", NS, "-w"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=app.env())
    try:
        yield LineReader(proc)
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_watch_prints_a_created_pod(app: KubeCluster, watcher: LineReader) -> None:
    existing = pod_names(app)
    first = watcher.until(lambda ls: len(ls) >= 1 + len(existing))  # the header and the pods there are
    assert table(first[0])[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert sorted(table(x)[0][0] for x in first[1:]) == sorted(existing), first
    app.kubectl("run", "watched", "-n", NS, "--image=busybox", "--restart=Never", "--", "sleep", "3600")
    lines = watcher.until(lambda ls: any(table(x)[0][:3] == ["watched", "1/1", "Running"] for x in ls))
    new = [table(x)[0] for x in lines if x.startswith("watched")]
    assert new[0][:3] == ["watched", "0/1", "Pending"], lines
    assert [x for x in lines if x.startswith("NAME")] == [lines[0]], "the header is printed once"
    app.kubectl("delete", "pod", "watched", "-n", NS, "--grace-period=0", "--force")


def pod_names(kube: KubeCluster) -> list[str]:
    return kube.kubectl("get", "pods", "-n", NS, "-o", "jsonpath={.items[*].metadata.name}").stdout.split()


def configmap(name: str) -> str:
    return f"{{apiVersion: v1, kind: ConfigMap, metadata: {{name: {name}, namespace: {NS}}}, data: {{k: v}}}}"


def raw(kube: KubeCluster, path: str) -> dict:
    return json.loads(kube.kubectl("get", "--raw", path).stdout)


def test_pages_show_one_revision_across_changes(app: KubeCluster) -> None:
    """Every page of a chunked list is the state at the first page's revision (Kubernetes' contract)."""
    for name in ("page-b", "page-c"):
        app.kubectl("create", "-f", "-", input=configmap(name))
    base = f"/api/v1/namespaces/{NS}/configmaps"
    everything = [i["metadata"]["name"] for i in raw(app, base)["items"]]
    assert everything[:3] == ["page-b", "page-c", "settings"], everything
    first = raw(app, f"{base}?limit=2")
    names = [i["metadata"]["name"] for i in first["items"]]
    token, rev = first["metadata"]["continue"], first["metadata"]["resourceVersion"]
    assert names == ["page-b", "page-c"] and first["metadata"]["remainingItemCount"] == len(everything) - 2
    app.kubectl("create", "-f", "-", input=configmap("page-a"))  # sorts before the cut
    app.kubectl("delete", "configmap", "settings", "-n", NS)                   # after the cut
    rest = []
    while token:
        more = raw(app, f"{base}?limit=2&continue={token}")
        assert more["metadata"]["resourceVersion"] == rev
        rest += [i["metadata"]["name"] for i in more["items"]]
        token = more["metadata"].get("continue")
    assert names + rest == everything, "the pages show the list as it was at the first page"
    exact = raw(app, f"{base}?resourceVersion={rev}&resourceVersionMatch=Exact")
    assert [i["metadata"]["name"] for i in exact["items"]] == everything
    now = [i["metadata"]["name"] for i in raw(app, base)["items"]]
    assert now == ["page-a", *[n for n in everything if n != "settings"]]
    app.kubectl("create", "-f", "-", input=APP.split("---")[3])  # settings again
    app.kubectl("delete", "configmap", "page-a", "page-b", "page-c", "-n", NS)


@pytest.mark.parametrize(("args", "expected"), [
    pytest.param(["describe", "pod", "solo", "-n", NS],
                 [r"Name:\s+solo", r"Status:\s+Running", r"Node:\s+n[12]/", r"Normal\s+Scheduled\s+\S+\s+"
                  r"haplane-scheduler\s+Successfully assigned printing/solo"], id="pod"),
    pytest.param(["describe", "deployment", "web", "-n", NS],
                 [r"Replicas:\s+2 desired \| 2 updated \| 2 total \| 2 available", r"Selector:\s+app=web",
                  r"Normal\s+ScalingReplicaSet"], id="deployment"),
    pytest.param(["describe", "node", "n1"],
                 [r"Name:\s+n1", r"Ready\s+True", r"Non-terminated Pods:\s+\(\d+ in total\)",
                  r"Events:"], id="node"),
    pytest.param(["describe", "service", "web", "-n", NS],
                 [r"Name:\s+web", r"Selector:\s+app=web", r"Type:\s+ClusterIP", r"Port:\s+<unset>\s+80/TCP"],
                 id="service"),
])
def test_describe(app: KubeCluster, args: list[str], expected: list[str]) -> None:
    out = app.kubectl(*args).stdout
    for pattern in expected:
        assert re.search(pattern, out), f"{pattern!r} not in\n{out}"


def test_describe_node_lists_its_pods(app: KubeCluster) -> None:
    nodes = app.kubectl("get", "pods", "-n", NS, "-o", "jsonpath={.items[*].spec.nodeName}").stdout.split()
    out = app.kubectl("describe", "node", nodes[0]).stdout
    names = app.kubectl("get", "pods", "-n", NS, "--field-selector", f"spec.nodeName={nodes[0]}", "-o",
                        "jsonpath={.items[*].metadata.name}").stdout.split()
    assert names and all(re.search(rf"{NS}\s+{n}\s", out) for n in names), out


def pods_of(kube: KubeCluster, app_label: str) -> list[dict]:
    out = kube.kubectl("get", "pods", "-n", NS, "-l", f"app={app_label}", "-o", "json").stdout
    return json.loads(out)["items"]


@pytest.mark.parametrize(("cascade", "pods_remain"), [
    pytest.param("background", False, id="background"),
    pytest.param("foreground", False, id="foreground"),
    pytest.param("orphan", True, id="orphan"),
])
def test_delete_cascade(app: KubeCluster, cascade: str, pods_remain: bool) -> None:
    name = f"del-{cascade}"
    app.kubectl("create", "-f", "-", input=deployment(name))
    wait_for(f"{name}'s pods", lambda: len(pods_of(app, name)) == 2)
    before = {p["metadata"]["uid"] for p in pods_of(app, name)}
    out = app.kubectl("delete", "deployment", name, "-n", NS, f"--cascade={cascade}").stdout
    assert out.strip() == f'deployment.apps "{name}" deleted from {NS} namespace'
    assert app.kubectl("get", "deploy", name, "-n", NS, check=False).returncode == 1
    replicasets = app.kubectl("get", "rs", "-n", NS, "-l", f"app={name}", "-o", "json")
    if cascade == "foreground":
        # kubectl returned once the Deployment was gone: its ReplicaSet and pods went first.
        assert pods_of(app, name) == [] and json.loads(replicasets.stdout)["items"] == []
    elif cascade == "background":
        wait_for("the garbage collector", lambda: pods_of(app, name) == [])
    else:
        time.sleep(2)  # give a (wrong) collection the time it would need to show
        left = pods_of(app, name)
        assert {p["metadata"]["uid"] for p in left} == before
        # As on Kubernetes: the ReplicaSet is orphaned (no owner left), its pods stay its own.
        (rs,) = json.loads(app.kubectl("get", "rs", "-n", NS, "-l", f"app={name}", "-o", "json").stdout)["items"]
        assert not rs["metadata"].get("ownerReferences")
        assert all(p["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"] for p in left)
        app.kubectl("delete", "rs", "-n", NS, "-l", f"app={name}")
        wait_for("the orphaned ReplicaSet's pods collected", lambda: pods_of(app, name) == [])
    assert pods_remain == (cascade == "orphan")


def test_force_delete_pod(app: KubeCluster) -> None:
    app.kubectl("run", "doomed", "-n", NS, "--image=busybox", "--restart=Never", "--", "sleep", "3600")
    proc = app.kubectl("delete", "pod", "doomed", "-n", NS, "--force", "--grace-period=0", "-v=8")
    assert '"gracePeriodSeconds":0' in proc.stderr.replace(" ", "")
    assert app.kubectl("get", "pod", "doomed", "-n", NS, check=False).returncode == 1


def test_delete_pod_with_grace_and_resource_version(app: KubeCluster) -> None:
    """A grace period and a resourceVersion precondition together: the pod goes (the grace
    reaches its agent as deletionGracePeriodSeconds before the pod leaves the API)."""
    app.kubectl("run", "graceful", "-n", NS, "--image=busybox", "--restart=Never", "--", "sleep", "3600")
    api = client.CoreV1Api(config.new_client_from_config(config_file=app.kubeconfig))
    rv = app.kubectl("get", "pod", "graceful", "-n", NS, "-o", "jsonpath={.metadata.resourceVersion}").stdout
    # _preload_content=False: the client's V1Pod model wants containerStatuses[].imageID, which
    # haplane's agents do not report yet.
    resp = api.delete_namespaced_pod("graceful", NS, body=client.V1DeleteOptions(
        grace_period_seconds=5, preconditions=client.V1Preconditions(resource_version=rv)), _preload_content=False)
    gone = json.loads(resp.data)
    assert resp.status == 200 and gone["metadata"]["deletionGracePeriodSeconds"] == 5
    assert app.kubectl("get", "pod", "graceful", "-n", NS, check=False).returncode == 1


def test_delete_precondition_conflict(app: KubeCluster) -> None:
    """The official client's DeleteOptions: a uid precondition that fails is a 409 and deletes nothing."""
    api = client.CoreV1Api(config.new_client_from_config(config_file=app.kubeconfig))
    with pytest.raises(client.ApiException) as failed:
        api.delete_namespaced_config_map("settings", NS, body=client.V1DeleteOptions(
            preconditions=client.V1Preconditions(uid="not-the-uid")))
    assert failed.value.status == 409 and "precondition failed" in failed.value.body.lower()
    uid = api.read_namespaced_config_map("settings", NS).metadata.uid
    api.delete_namespaced_config_map("settings", NS, body=client.V1DeleteOptions(
        preconditions=client.V1Preconditions(uid=uid), propagation_policy="Background"))
    with pytest.raises(client.ApiException) as missing:
        api.read_namespaced_config_map("settings", NS)
    assert missing.value.status == 404
    app.kubectl("create", "-f", "-", input=APP.split("---")[3])


# ------------------------------------------------------------------ the wire, as kubectl's Accept asks
TABLE_V1 = "application/json;as=Table;v=v1;g=meta.k8s.io"
TABLE_V1BETA1 = "application/json;as=Table;v=v1beta1;g=meta.k8s.io"


def http(kube: KubeCluster, path: str, accept: str, replica: int = 0) -> tuple[int, bytes]:
    req = urllib.request.Request(kube.lc.endpoints[replica] + path, headers={
        "Accept": accept, "Authorization": f"Bearer {kube.lc.admin_token}"})
    ctx = ssl.create_default_context(cafile=kube.lc.ca_file)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.parametrize(("path", "accept", "check"), [
    pytest.param(f"/api/v1/namespaces/{NS}/pods?includeObject=Object&labelSelector=run%3Dsolo",
                 f"{TABLE_V1BETA1},application/json",
                 lambda t: t["apiVersion"] == "meta.k8s.io/v1beta1" and t["rows"][0]["object"]["kind"] == "Pod"
                 and t["rows"][0]["object"]["spec"]["containers"][0]["name"] == "solo", id="v1beta1-object"),
    pytest.param(f"/api/v1/namespaces/{NS}/pods/solo", f"{TABLE_V1},application/json",
                 lambda t: t["kind"] == "Table" and t["rows"][0]["cells"][:3] == ["solo", "1/1", "Running"]
                 and t["rows"][0]["object"]["kind"] == "PartialObjectMetadata", id="get-metadata"),
    pytest.param(f"/apis/apps/v1/namespaces/{NS}/deployments?includeObject=None", TABLE_V1,
                 lambda t: [r["cells"][:2] for r in t["rows"]] == [["web", "2/2"]] and "object" not in t["rows"][0]
                 and [c["name"] for c in t["columnDefinitions"]][:3] == ["Name", "Ready", "Up-to-date"],
                 id="include-none"),
    pytest.param(f"/api/v1/namespaces/{NS}/pods?limit=1", "application/json",
                 lambda t: t["kind"] == "PodList" and len(t["items"]) == 1 and t["metadata"]["continue"],
                 id="plain-json"),
])
def test_table_wire(app: KubeCluster, path: str, accept: str, check: Callable[[dict], bool]) -> None:
    status, body = http(app, path, accept)
    assert status == 200, body
    assert check(json.loads(body)), body


@pytest.mark.parametrize(("path", "accept", "code", "reason"), [
    pytest.param(f"/api/v1/namespaces/{NS}/pods", "application/yaml", 406, "NotAcceptable", id="not-acceptable"),
    pytest.param(f"/api/v1/namespaces/{NS}/pods?includeObject=All", TABLE_V1, 400, "BadRequest", id="bad-include"),
    pytest.param(f"/api/v1/namespaces/{NS}/pods?continue=bogus", "application/json", 400, "BadRequest",
                 id="bad-continue"),
    pytest.param(f"/api/v1/namespaces/{NS}/pods?resourceVersion=99999999&resourceVersionMatch=NotOlderThan",
                 "application/json", 504, "Timeout", id="too-large-resource-version"),
    pytest.param(f"/api/v1/namespaces/{NS}/pods?watch=1&sendInitialEvents=true", "application/json", 400,
                 "BadRequest", id="initial-events-without-match"),
])
def test_bad_list_options(app: KubeCluster, path: str, accept: str, code: int, reason: str) -> None:
    status, body = http(app, path, accept)
    assert (status, json.loads(body)["reason"]) == (code, reason), body


def watch_events(kube: KubeCluster, query: str, accept: str) -> list[dict]:
    status, body = http(kube, f"/api/v1/namespaces/{NS}/pods?watch=1&timeoutSeconds=2&{query}", accept)
    assert status == 200, body
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def test_watch_as_table_sends_the_columns_once(app: KubeCluster) -> None:
    events = watch_events(app, "", TABLE_V1)
    assert len(events) == len(pod_names(app)) == 3 and {e["type"] for e in events} == {"ADDED"}
    assert all(e["object"]["kind"] == "Table" and len(e["object"]["rows"]) == 1 for e in events)
    assert events[0]["object"]["columnDefinitions"][0]["name"] == "Name"
    assert [e["object"]["columnDefinitions"] for e in events[1:]] == [None, None]


def test_watch_list_ends_its_initial_events_with_a_bookmark(app: KubeCluster) -> None:
    events = watch_events(app, "sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true",
                          "application/json")
    assert [e["type"] for e in events[:4]] == ["ADDED"] * 3 + ["BOOKMARK"]
    mark = events[3]["object"]["metadata"]
    assert mark["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(mark["resourceVersion"]) >= max(int(e["object"]["metadata"]["resourceVersion"]) for e in events[:3])


def test_continue_on_another_replica(app: KubeCluster) -> None:
    """A continue token from one replica serves the rest of the same list on another."""
    status, body = http(app, f"/api/v1/namespaces/{NS}/pods?limit=1", "application/json", replica=0)
    first = json.loads(body)
    status, body = http(app, f"/api/v1/namespaces/{NS}/pods?limit=5&continue={first['metadata']['continue']}",
                        "application/json", replica=2)
    assert status == 200, body
    rest = json.loads(body)
    assert rest["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert len(first["items"]) + len(rest["items"]) == len(pod_names(app))
