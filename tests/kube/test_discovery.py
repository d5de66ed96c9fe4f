"""Discovery and OpenAPI through the real kubectl 1.37 and the official clients, against 3 HTTPS
replicas and 2 agents: what api-resources, api-versions, version and explain print, that every
kind's `kubectl get` reaches its list request, that a second run works from kubectl's discovery
cache, that validation is delegated to the server (fieldValidation=Strict), and what the
`kubernetes` clients' discovery calls return."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request

import kubernetes
import kubernetes_asyncio
import pytest

from haplane.api.discovery import KUBERNETES_VERSION
from haplane.model.registry import KINDS, VIRTUAL_RESOURCES
from tests.kube.conftest import KubeCluster

GIT_VERSION = f"v{KUBERNETES_VERSION}+haplane"


def _rows(text: str) -> list[list[str]]:
    return [re.split(r"\s{2,}|\t", line.strip()) for line in text.strip().splitlines()[1:]]


def _requests(stderr: str) -> list[tuple[str, str, str]]:
    """(verb, url path+query without client-go's timeout, status) of every response kubectl -v=6 logged."""
    return [(m[0], re.sub(r"[?&]timeout=\d+s$", "", re.sub(r"^https://[^/]+", "", m[1])), m[2])
            for m in re.findall(r'"Response" verb="(\w+)" url="([^"]+)" status="([^"]+)"', stderr)]


# --- what kubectl prints ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("args", "expected_rows"),
    [
        pytest.param(("api-resources",), [
            ["pods", "po", "v1", "true", "Pod"], ["services", "svc", "v1", "true", "Service"],
            ["namespaces", "ns", "v1", "false", "Namespace"], ["nodes", "no", "v1", "false", "Node"],
            ["configmaps", "cm", "v1", "true", "ConfigMap"], ["events", "ev", "v1", "true", "Event"],
            ["endpoints", "ep", "v1", "true", "Endpoints"],
            ["deployments", "deploy", "apps/v1", "true", "Deployment"]], id="api-resources"),
        pytest.param(("api-resources", "-o", "wide"), [
            ["pods", "po", "v1", "true", "Pod", "create,delete,get,list,patch,update,watch", "all"],
            ["deployments", "deploy", "apps/v1", "true", "Deployment", "create,delete,get,list,patch,update,watch",
             "all"],
            ["configmaps", "cm", "v1", "true", "ConfigMap", "create,delete,get,list,patch,update,watch"]],
            id="api-resources-wide"),
        pytest.param(("api-resources", "--namespaced=false"), [
            ["namespaces", "ns", "v1", "false", "Namespace"], ["nodes", "no", "v1", "false", "Node"],
            ["selfsubjectreviews", "authentication.k8s.io/v1", "false", "SelfSubjectReview"],
            ["selfsubjectaccessreviews", "authorization.k8s.io/v1", "false", "SelfSubjectAccessReview"],
            ["selfsubjectrulesreviews", "authorization.k8s.io/v1", "false", "SelfSubjectRulesReview"],
            ["nodes", "metrics.k8s.io/v1beta1", "false", "NodeMetrics"]],
            id="api-resources-cluster-scoped"),
        pytest.param(("api-resources", "--api-group=apps"), [
            ["deployments", "deploy", "apps/v1", "true", "Deployment"],
            ["replicasets", "rs", "apps/v1", "true", "ReplicaSet"]], id="api-resources-apps"),
        pytest.param(("api-resources", "--verbs=list", "--namespaced=true", "--api-group="), [
            ["configmaps", "cm", "v1", "true", "ConfigMap"], ["endpoints", "ep", "v1", "true", "Endpoints"],
            ["events", "ev", "v1", "true", "Event"], ["pods", "po", "v1", "true", "Pod"],
            ["services", "svc", "v1", "true", "Service"]], id="api-resources-core-namespaced"),
    ],
)
def test_api_resources(kube: KubeCluster, args: tuple[str, ...], expected_rows: list[list[str]]) -> None:
    proc = kube.kubectl(*args)
    rows = _rows(proc.stdout)
    for row in expected_rows:
        assert row in rows, f"{row} not in\n{proc.stdout}"
    if "--api-group=apps" in args or "--namespaced=false" in args or "--api-group=" in args:
        assert sorted(rows) == sorted(expected_rows), proc.stdout
    assert proc.stderr == ""


def test_api_resources_names(kube: KubeCluster) -> None:
    names = kube.kubectl("api-resources", "-o", "name").stdout.split()
    assert sorted(names) == sorted(f"{i.plural}.{i.group}" if i.group else i.plural
                                   for i in [*KINDS.values(), *VIRTUAL_RESOURCES])


def test_api_versions(kube: KubeCluster) -> None:
    assert kube.kubectl("api-versions").stdout.split() == ["apps/v1", "authentication.k8s.io/v1",
                                                           "authorization.k8s.io/v1", "metrics.k8s.io/v1beta1", "v1"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(("version",), [f"Server Version: {GIT_VERSION}", "Client Version: v1.37"], id="version"),
        pytest.param(("version", "-o", "json"), [f'"gitVersion": "{GIT_VERSION}"', '"minor": "37"',
                                                 '"platform": "linux/'], id="version-json"),
    ],
)
def test_version(kube: KubeCluster, args: tuple[str, ...], expected: list[str]) -> None:
    proc = kube.kubectl(*args)
    for text in expected:
        assert text in proc.stdout, proc.stdout
    assert "WARNING" not in proc.stderr and "version difference" not in proc.stderr, proc.stderr


def test_version_json_parses(kube: KubeCluster) -> None:
    server = json.loads(kube.kubectl("version", "-o", "json").stdout)["serverVersion"]
    assert (server["major"], server["minor"], server["gitVersion"]) == ("1", "37", GIT_VERSION)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        pytest.param("pods", ["KIND:       Pod", "VERSION:    v1", "DESCRIPTION:", "collection of containers",
                              "FIELDS:", "spec\t<PodSpec>", "metadata\t<ObjectMeta>", "status\t<PodStatus>"],
                     id="pods"),
        pytest.param("pods.spec.containers", ["FIELD: containers <[]Container>", "image\t<string> -required-",
                                              "name\t<string> -required-", "ports\t<[]ContainerPort>",
                                              "List of containers belonging to the pod"], id="pods.spec.containers"),
        pytest.param("po.spec.containers.imagePullPolicy", ["FIELD: imagePullPolicy <string>", "IfNotPresent"],
                     id="short-name-leaf"),
        pytest.param("deployments", ["GROUP:      apps", "KIND:       Deployment", "spec\t<DeploymentSpec>"],
                     id="deployments"),
        pytest.param("deployments.spec.strategy", ["FIELD: strategy <DeploymentStrategy>",
                                                   "rollingUpdate\t<RollingUpdateDeployment>", "type\t<string>"],
                     id="deployments.spec.strategy"),
        pytest.param("deploy.spec.template.metadata", ["FIELD: metadata <ObjectMeta>", "labels\t<map[string]string>"],
                     id="template-metadata"),
        pytest.param("services.spec.ports", ["FIELD: ports <[]ServicePort>", "port\t<integer> -required-"],
                     id="services.spec.ports"),
        pytest.param("nodes.spec", ["KIND:       Node", "unschedulable\t<boolean>"], id="nodes.spec"),
    ],
)
def test_explain(kube: KubeCluster, target: str, expected: list[str]) -> None:
    out = kube.kubectl("explain", target).stdout
    for text in expected:
        assert text in out, f"{text!r} not in\n{out}"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        pytest.param("pods.spec.containers", ["KIND:     Pod", "RESOURCE: containers <[]Object>",
                                              "image\t<string> -required-", "Container image name."], id="containers"),
        pytest.param("deployments.spec.strategy", ["VERSION:  apps/v1", "rollingUpdate\t<Object>",
                                                   "Type of deployment."], id="strategy"),
    ],
)
def test_explain_from_openapi_v2_protobuf(kube: KubeCluster, target: str, expected: list[str]) -> None:
    proc = kube.kubectl("explain", target, "--output", "plaintext-openapiv2", "-v=6")
    assert ("GET", "/openapi/v2", "200 OK") in _requests(proc.stderr)
    for text in expected:
        assert text in proc.stdout, f"{text!r} not in\n{proc.stdout}"


def test_openapi_v2_json(kube: KubeCluster) -> None:
    doc = json.loads(kube.kubectl("get", "--raw", "/openapi/v2").stdout)
    assert doc["swagger"] == "2.0" and "io.k8s.api.core.v1.Pod" in doc["definitions"]


def test_explain_an_unknown_field_fails_as_on_kubernetes(kube: KubeCluster) -> None:
    proc = kube.kubectl("explain", "pods.spec.nosuchfield", check=False)
    assert proc.returncode != 0 and 'field "nosuchfield" does not exist' in proc.stderr


# --- every kind's get reaches its list request; the discovery cache -------------------------------

_GETS = [pytest.param(name, (f"{i.prefix}/{i.plural}" if i.namespaced else f"{i.prefix}/{i.plural}"), id=name)
         for i in KINDS.values() for name in (i.plural, *i.short_names)]


@pytest.mark.parametrize(("name", "path"), _GETS)
def test_get_reaches_the_list_request(kube: KubeCluster, name: str, path: str) -> None:
    proc = kube.kubectl("get", name, "-A", "-o", "json", "-v=6")
    assert ("GET", f"{path}?limit=500", "200 OK") in _requests(proc.stderr), proc.stderr[-3000:]
    assert json.loads(proc.stdout)["kind"] == "List"


def test_get_all_lists_the_all_category(kube: KubeCluster) -> None:
    proc = kube.kubectl("get", "all", "-A", "-o", "name", "-v=6")
    listed = {path.split("?")[0] for verb, path, status in _requests(proc.stderr) if status == "200 OK"}
    assert {"/api/v1/pods", "/api/v1/services", "/apis/apps/v1/deployments"} <= listed
    assert not listed & {"/api/v1/configmaps", "/api/v1/events", "/api/v1/nodes"}


def test_aggregated_discovery_is_used_and_a_second_run_reads_the_cache(kube: KubeCluster) -> None:
    env = {"KUBECACHEDIR": kube.kubeconfig + ".cache"}
    first = kube.kubectl("get", "deploy", "-v=6", env=env)
    paths = [path for _, path, _ in _requests(first.stderr)]
    assert "/api" in paths and "/apis" in paths
    assert "/api/v1" not in paths and "/apis/apps/v1" not in paths, "aggregated discovery needs no per-GV fetch"
    second = kube.kubectl("get", "deploy", "-v=6", env=env)
    again = [path for _, path, _ in _requests(second.stderr)]
    assert "/api" not in again and "/apis" not in again, again
    assert again == ["/apis/apps/v1/namespaces/default/deployments?limit=500"]


def test_legacy_discovery_documents_are_what_client_go_parses(kube: KubeCluster) -> None:
    for path, kind in (("/api", "APIVersions"), ("/apis", "APIGroupList"), ("/api/v1", "APIResourceList"),
                       ("/apis/apps/v1", "APIResourceList"), ("/apis/apps", "APIGroup")):
        doc = json.loads(kube.kubectl("get", "--raw", path).stdout)
        assert doc["kind"] == kind, path


# --- discovery advertises exactly the verbs the server serves ----------------------------------------

_METHODS = {"get": "GET", "update": "PUT", "patch": "PATCH", "create": "POST", "delete": "DELETE"}


def _verb_cases() -> list[object]:
    cases = []
    for info in KINDS.values():
        base = f"{info.prefix}/namespaces/default/{info.plural}" if info.namespaced else f"{info.prefix}/{info.plural}"
        item = f"{base}/no-such-object"
        targets = [(info.plural, item, set(info.verbs) - {"list", "watch", "create"}),
                   (info.plural, base, {"create"} & set(info.verbs))]
        targets += [(f"{info.plural}/{sub.name}", f"{item}/{sub.name}", set(sub.verbs)) for sub in info.subresources]
        for name, path, verbs in targets:
            methods = {"GET", "PUT", "PATCH", "DELETE"} if path != base else {"POST"}
            for method in sorted(methods | {_METHODS[v] for v in verbs}):
                served = any(_METHODS.get(v) == method for v in verbs)
                cases.append(pytest.param(path, method, served, id=f"{method} {name}{'' if path != base else ' (coll)'}"))
    return cases


def _call(kube: KubeCluster, method: str, path: str, body: object = None) -> tuple[int, dict]:
    return _request(kube, method, path, body)[:2]


def _request(kube: KubeCluster, method: str, path: str, body: object = None) -> tuple[int, dict, list[str]]:
    """(status, JSON body, Warning headers) of one request with the admin token."""
    ctype = "application/merge-patch+json" if method == "PATCH" else "application/json"
    data = json.dumps({} if body is None else body).encode() if method != "GET" else None
    req = urllib.request.Request(kube.lc.endpoints[0] + path, method=method, data=data,
                                 headers={"Authorization": f"Bearer {kube.lc.admin_token}", "Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=10, context=kube.lc.ssl_context()) as resp:
            return resp.status, json.loads(resp.read() or b"{}"), resp.headers.get_all("Warning") or []
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}"), exc.headers.get_all("Warning") or []


@pytest.mark.parametrize(("path", "method", "served"), _verb_cases())
def test_discovery_verbs_match_what_the_handlers_serve(kube: KubeCluster, path: str, method: str,
                                                      served: bool) -> None:
    code, status = _call(kube, method, path)
    routed = code != 405 and "could not find the requested resource" not in status.get("message", "")
    assert routed == served, (code, status)


# --- validation is the server's (fieldValidation) ---------------------------------------------------

_CM = '{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}"}},"data":{{"a":"b"}}{extra}}}'


@pytest.mark.parametrize(
    ("name", "flags", "extra", "ok", "expected"),
    [
        pytest.param("fv-clean", (), "", True, "configmap/fv-clean created", id="clean"),
        pytest.param("fv-strict", (), ',"bogus":1', False, 'strict decoding error: unknown field "bogus"',
                     id="strict-by-default"),
        pytest.param("fv-warn", ("--validate=warn",), ',"bogus":1', True, "configmap/fv-warn created", id="warn"),
        pytest.param("fv-off", ("--validate=false",), ',"bogus":1', True, "configmap/fv-off created", id="ignore"),
    ],
)
def test_kubectl_validation_is_done_by_the_server(kube: KubeCluster, name: str, flags: tuple[str, ...], extra: str,
                                                 ok: bool, expected: str) -> None:
    proc = kube.kubectl("create", "-f", "-", *flags, "-v=6", input=_CM.format(name=name, extra=extra), check=False)
    assert (proc.returncode == 0) == ok, proc.stderr[-2000:]
    assert expected in (proc.stdout + proc.stderr)
    assert not any(p.startswith("/openapi/v2") for _, p, _ in _requests(proc.stderr)), "no client-side validation"
    if "--validate=warn" in flags:
        assert 'unknown field "bogus"' in proc.stderr
    got = kube.kubectl("get", "configmap", name, "--ignore-not-found", "-o", "name").stdout.strip()
    assert got == (f"configmap/{name}" if ok else "")


_LIST = """apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {{name: {name}-svc}}
  spec:
    selector: {{app: {name}}}
    ports: [{{name: plain, port: 80, targetPort: 8080}}, {{name: named, port: 81, targetPort: http}}]
- apiVersion: apps/v1
  kind: Deployment
  metadata: {{name: {name}}}
  spec:
    strategy: {{rollingUpdate: {{maxSurge: 1, maxUnavailable: "25%"}}}}
    selector: {{matchLabels: {{app: {name}}}}}
    template:
      metadata: {{labels: {{app: {name}}}}}
      spec:
        containers:
        - name: c
          image: busybox:local
          ports: [{{name: http, containerPort: 8080}}]
          resources: {{limits: {{cpu: 100m, memory: 64Mi}}, requests: {{cpu: 0.05}}}}{extra}
"""


@pytest.mark.parametrize(
    ("name", "extra", "ok"),
    [pytest.param("list-ok", "", True, id="valid"),
     pytest.param("list-bad", "\n          bogus: 1", False, id="unknown-field")],
)
def test_a_list_is_validated_on_the_client_against_openapi_v2(kube: KubeCluster, name: str, extra: str,
                                                             ok: bool) -> None:
    # kubectl cannot ask the server to validate a v1 List: it validates it itself, with /openapi/v2.
    proc = kube.kubectl("create", "-f", "-", "-v=6", input=_LIST.format(name=name, extra=extra), check=False)
    requests = _requests(proc.stderr)
    assert ("GET", "/openapi/v2", "200 OK") in requests
    assert (proc.returncode == 0) == ok, proc.stderr[-2000:]
    if ok:
        assert f"deployment.apps/{name} created" in proc.stdout and f"service/{name}-svc created" in proc.stdout
    else:
        assert 'unknown field "bogus" in io.k8s.api.core.v1.Container' in proc.stderr
        assert not [r for r in requests if r[0] == "POST"], "nothing sent"


_CM_PATH = "/api/v1/namespaces/default/configmaps"


@pytest.mark.parametrize(
    ("method", "mode", "code", "warned", "stored"),
    [
        pytest.param("PUT", "Strict", 400, False, "v0", id="put-strict"),
        pytest.param("PUT", "Warn", 200, True, "v1", id="put-warn"),
        pytest.param("PUT", "Ignore", 200, False, "v1", id="put-ignore"),
        pytest.param("PATCH", "Strict", 400, False, "v0", id="patch-strict"),
        pytest.param("PATCH", "", 200, True, "v1", id="patch-default-warns"),
        pytest.param("PATCH", "Ignore", 200, False, "v1", id="patch-ignore"),
        pytest.param("PATCH", "strict", 400, False, "v0", id="bad-directive"),
    ],
)
def test_field_validation_on_replace_and_patch(kube: KubeCluster, request: pytest.FixtureRequest, method: str,
                                              mode: str, code: int, warned: bool, stored: str) -> None:
    name = f"fv-{request.node.callspec.id}"
    assert _call(kube, "POST", _CM_PATH, {"metadata": {"name": name}, "data": {"k": "v0"}})[0] == 201
    body: dict = {"data": {"k": "v1"}, "bogus": True}
    if method == "PUT":
        body.update(apiVersion="v1", kind="ConfigMap", metadata={"name": name})
    status, doc, warnings = _request(kube, method, f"{_CM_PATH}/{name}?fieldValidation={mode}", body)
    assert status == code, doc
    assert any('unknown field \\"bogus\\"' in w for w in warnings) == warned, warnings
    if code == 400:
        assert doc["reason"] == "BadRequest" and ("bogus" in doc["message"] or "directive" in doc["message"])
    assert _call(kube, "GET", f"{_CM_PATH}/{name}")[1]["data"] == {"k": stored}


def test_kubectl_diff_of_a_new_object_creates_nothing(kube: KubeCluster) -> None:
    # kubectl diff asks for a dry-run create (dryRun=All): the server answers it and writes nothing.
    proc = kube.kubectl("diff", "-f", "-", input=_CM.format(name="diff-new", extra=""), check=False)
    assert proc.returncode == 1 and "+  name: diff-new" in proc.stdout, proc.stdout + proc.stderr
    assert kube.kubectl("get", "configmap", "diff-new", "--ignore-not-found", "-o", "name").stdout == ""


# --- the official clients -----------------------------------------------------------------------------

def _client(kube: KubeCluster) -> kubernetes.client.ApiClient:
    return kubernetes.config.new_client_from_config(config_file=kube.kubeconfig)


@pytest.mark.parametrize(
    ("call", "check"),
    [
        pytest.param(lambda c: kubernetes.client.VersionApi(c).get_code(),
                     lambda r: (r.git_version, r.major, r.minor) == (GIT_VERSION, "1", "37"), id="VersionApi.get_code"),
        pytest.param(lambda c: kubernetes.client.CoreApi(c).get_api_versions(),
                     lambda r: r.versions == ["v1"] and r.server_address_by_client_cidrs, id="CoreApi.get_api_versions"),
        pytest.param(lambda c: kubernetes.client.ApisApi(c).get_api_versions(),
                     lambda r: [g.name for g in r.groups] == ["apps", "authorization.k8s.io", "authentication.k8s.io",
                                                              "metrics.k8s.io"]
                     and [g.preferred_version.version for g in r.groups] == ["v1", "v1", "v1", "v1beta1"],
                     id="ApisApi.get_api_versions"),
        pytest.param(lambda c: kubernetes.client.CoreV1Api(c).get_api_resources(),
                     lambda r: {"pods", "pods/log", "nodes"} <= {x.name for x in r.resources}
                     and next(x for x in r.resources if x.name == "pods").short_names == ["po"],
                     id="CoreV1Api.get_api_resources"),
        pytest.param(lambda c: kubernetes.client.AppsV1Api(c).get_api_resources(),
                     lambda r: {"deployments", "deployments/scale"} <= {x.name for x in r.resources},
                     id="AppsV1Api.get_api_resources"),
        pytest.param(lambda c: kubernetes.client.AppsApi(c).get_api_group(),
                     lambda r: r.name == "apps" and r.preferred_version.group_version == "apps/v1",
                     id="AppsApi.get_api_group"),
    ],
)
def test_official_client_discovery(kube: KubeCluster, call, check) -> None:  # noqa: ANN001
    with _client(kube) as client:
        result = call(client)
    assert check(result), result


def test_asyncio_client_version(kube: KubeCluster) -> None:
    async def run() -> str:
        client = await kubernetes_asyncio.config.new_client_from_config(config_file=kube.kubeconfig)
        async with client:
            return (await kubernetes_asyncio.client.VersionApi(client).get_code()).git_version
    assert asyncio.run(run()) == GIT_VERSION


@pytest.mark.parametrize(
    ("api_version", "kind", "plural", "namespaced"),
    [pytest.param(i.api_version, i.kind, i.plural, i.namespaced, id=i.kind) for i in KINDS.values()],
)
def test_dynamic_client_discovers_and_lists_every_kind(kube: KubeCluster, api_version: str, kind: str, plural: str,
                                                       namespaced: bool) -> None:
    from kubernetes.dynamic import DynamicClient

    with _client(kube) as client:
        dyn = DynamicClient(client)
        res = dyn.resources.get(api_version=api_version, kind=kind)
        assert (res.name, res.namespaced) == (plural, namespaced)
        listed = res.get(namespace="default") if namespaced else res.get()
    assert listed.kind == f"{kind}List"
