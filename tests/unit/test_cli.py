"""CLI: tables from sample objects (pure, fixed ``now``), manifest parsing, apply's
three-way merge, error printing, and the verbs end to end against an in-memory fake API."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import socket
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from haplane import errors, output
from haplane.cli import (
    LAST_APPLIED,
    UsageError,
    format_error,
    main,
    parse_manifests,
    parse_targets,
    read_manifests,
    three_way_patch,
)
from haplane.client import ConnectionFailed

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
WEB_YAML = Path("/work/shared/manifests/web.yaml")


def ago(**kw: float) -> str:
    return (NOW - timedelta(**kw)).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str, created: str | None = None, **extra: Any) -> dict:
    m: dict[str, Any] = {"name": name, "namespace": "default", **extra}
    if created:
        m["creationTimestamp"] = created
    return m


def running(name: str, ready: bool = True, restarts: int = 0, **extra: Any) -> dict:
    return {"name": name, "ready": ready, "restartCount": restarts, "state": {"running": {"startedAt": ago(minutes=5)}},
            **extra}


# ------------------------------------------------------------------------------ durations


@pytest.mark.parametrize(
    ("seconds", "want"),
    [
        pytest.param(0, "0s", id="zero"), pytest.param(119, "119s", id="under-2m"),
        pytest.param(120, "2m", id="2m"), pytest.param(150, "2m30s", id="2m30s"),
        pytest.param(600, "10m", id="10m"), pytest.param(10799, "179m", id="179m"),
        pytest.param(10800, "3h", id="3h"), pytest.param(12600, "3h30m", id="3h30m"),
        pytest.param(47 * 3600, "47h", id="47h"), pytest.param(48 * 3600, "2d", id="2d"),
        pytest.param(53 * 3600, "2d5h", id="2d5h"), pytest.param(8 * 86400, "8d", id="8d"),
        pytest.param(800 * 86400, "2y70d", id="2y70d"), pytest.param(3000 * 86400, "8y", id="8y"),
        pytest.param(-5, "<invalid>", id="future"),
    ],
)
def test_human_duration(seconds, want):
    assert output.human_duration(seconds) == want


# ------------------------------------------------------------------------------ rows


POD_RUNNING = {
    "kind": "Pod", "apiVersion": "v1", "metadata": meta("web-1", ago(minutes=5)),
    "spec": {"nodeName": "n1", "containers": [{"name": "a"}, {"name": "b"}]},
    "status": {"phase": "Running", "podIP": "127.0.1.1", "containerStatuses": [running("a"), running("b")]},
}
POD_CRASHLOOP = {
    "kind": "Pod", "metadata": meta("crash", ago(hours=2)),
    "spec": {"containers": [{"name": "a"}]},
    "status": {"phase": "Running", "containerStatuses": [{
        "name": "a", "ready": False, "restartCount": 4,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(seconds=90)}}}]},
}


@pytest.mark.parametrize(
    ("kind", "obj", "wide", "want"),
    [
        pytest.param("Pod", POD_RUNNING, False, ["web-1", "2/2", "Running", "0", "5m"], id="pod-running"),
        pytest.param("Pod", POD_RUNNING, True, ["web-1", "2/2", "Running", "0", "5m", "127.0.1.1", "n1"],
                     id="pod-wide"),
        pytest.param("Pod", POD_CRASHLOOP, False, ["crash", "0/1", "CrashLoopBackOff", "4 (90s ago)", "120m"],
                     id="pod-crashloop"),
        pytest.param("Pod", {"metadata": meta("p", ago(seconds=30)), "spec": {"containers": [{}]},
                             "status": {"phase": "Pending"}}, True,
                     ["p", "0/1", "Pending", "0", "30s", "<none>", "<none>"], id="pod-pending"),
        pytest.param("Pod", {"metadata": meta("t", ago(minutes=1), deletionTimestamp=ago(seconds=1)),
                             "spec": {"containers": [{}]},
                             "status": {"phase": "Running", "containerStatuses": [running("a")]}}, False,
                     ["t", "1/1", "Terminating", "0", "60s"], id="pod-terminating"),
        pytest.param("Pod", {"metadata": meta("e"), "spec": {"containers": [{}]},
                             "status": {"phase": "Failed", "containerStatuses": [
                                 {"name": "a", "state": {"terminated": {"exitCode": 3}}}]}}, False,
                     ["e", "0/1", "ExitCode:3", "0", "<unknown>"], id="pod-exitcode"),
        pytest.param("Pod", {"metadata": meta("ev"), "spec": {"containers": [{}]},
                             "status": {"phase": "Failed", "reason": "Evicted"}}, False,
                     ["ev", "0/1", "Evicted", "0", "<unknown>"], id="pod-evicted"),
        pytest.param("Pod", {"metadata": meta("i"), "spec": {"initContainers": [{}, {}], "containers": [{}]},
                             "status": {"phase": "Pending", "initContainerStatuses": [
                                 {"name": "i0", "state": {"terminated": {"exitCode": 0}}},
                                 {"name": "i1", "state": {"running": {}}}]}}, False,
                     ["i", "0/1", "Init:1/2", "0", "<unknown>"], id="pod-init"),
        pytest.param("Deployment", {
            "metadata": meta("web", ago(days=3, hours=4)),
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"spec": {"containers": [{"name": "httpd", "image": "busybox:local"}]}}},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}, True,
            ["web", "2/3", "3", "2", "3d4h", "httpd", "busybox:local", "app=web"], id="deployment-wide"),
        pytest.param("Deployment", {"metadata": meta("new", ago(seconds=3)), "spec": {"replicas": 2}}, False,
                     ["new", "0/2", "0", "0", "3s"], id="deployment-no-status"),
        pytest.param("Node", {
            "metadata": {"name": "n1", "creationTimestamp": ago(days=10),
                         "labels": {"node-role.kubernetes.io/worker": "", "disk": "ssd"}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "nodeInfo": {"kubeletVersion": "haplane/0.1.0"}}}, False,
            ["n1", "Ready", "worker", "10d", "haplane/0.1.0"], id="node-ready"),
        pytest.param("Node", {"metadata": {"name": "n2", "creationTimestamp": ago(hours=1)},
                              "spec": {"unschedulable": True},
                              "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}, False,
                     ["n2", "NotReady,SchedulingDisabled", "<none>", "60m", ""], id="node-cordoned-notready"),
        pytest.param("Node", {"metadata": {"name": "n3"}}, False, ["n3", "Unknown", "<none>", "<unknown>", ""],
                     id="node-no-conditions"),
        pytest.param("Service", {"metadata": meta("web", ago(minutes=7, seconds=5)),
                                 "spec": {"selector": {"tier": "fe", "app": "web"},
                                          "ports": [{"port": 18080, "targetPort": "http"}]}}, False,
                     ["web", "ClusterIP", "18080/TCP", "app=web,tier=fe", "7m5s"], id="service"),
        pytest.param("Service", {"metadata": meta("np"), "spec": {"type": "NodePort", "ports": [
            {"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}}, False,
            ["np", "NodePort", "80:30080/TCP,53/UDP", "<none>", "<unknown>"], id="service-nodeport"),
        pytest.param("Endpoints", {"metadata": meta("web"), "subsets": [
            {"addresses": [{"ip": "127.0.1.1"}, {"ip": "127.0.1.2"}], "ports": [{"port": 8080}]},
            {"addresses": [{"ip": "127.0.1.3"}, {"ip": "127.0.1.4"}], "ports": [{"port": 8080}]}]}, False,
            ["web", "127.0.1.1:8080,127.0.1.2:8080,127.0.1.3:8080 + 1 more...", "<unknown>"], id="endpoints-many"),
        pytest.param("Endpoints", {"metadata": meta("none"), "subsets": []}, False, ["none", "<none>", "<unknown>"],
                     id="endpoints-empty"),
        pytest.param("ConfigMap", {"metadata": meta("settings", ago(seconds=59)),
                                   "data": {"a": "1", "b": "2"}, "binaryData": {"c": ""}}, False,
                     ["settings", "3", "59s"], id="configmap"),
        pytest.param("Namespace", {"metadata": {"name": "shop", "creationTimestamp": ago(days=1)}}, False,
                     ["shop", "Active", "24h"], id="namespace"),
        pytest.param("Namespace", {"metadata": {"name": "old"}, "status": {"phase": "Terminating"}}, False,
                     ["old", "Terminating", "<unknown>"], id="namespace-terminating"),
        pytest.param("Event", {"metadata": meta("web-1.17"), "type": "Warning", "reason": "BackOff", "count": 3,
                               "firstTimestamp": ago(minutes=10), "lastTimestamp": ago(seconds=30),
                               "involvedObject": {"kind": "Pod", "name": "web-1"},
                               "message": "Back-off restarting\n failed container"}, False,
                     ["30s (x3 over 10m)", "Warning", "BackOff", "pod/web-1", "Back-off restarting failed container"],
                     id="event"),
        pytest.param("Lease", {"metadata": meta("x", ago(minutes=5))}, True, ["x", "5m"], id="generic-fallback"),
    ],
)
def test_rows(kind, obj, wide, want):
    assert output.row_for(kind, obj, NOW, wide=wide) == want
    headers = output.headers_for(kind, wide=wide)
    assert len(headers) == len(want)


@pytest.mark.parametrize(
    ("kind", "wide", "want"),
    [
        pytest.param("Pod", False, "NAME READY STATUS RESTARTS AGE", id="pods"),
        pytest.param("Pod", True, "NAME READY STATUS RESTARTS AGE IP NODE", id="pods-wide"),
        pytest.param("Deployment", False, "NAME READY UP-TO-DATE AVAILABLE AGE", id="deployments"),
        pytest.param("Node", False, "NAME STATUS ROLES AGE VERSION", id="nodes"),
        pytest.param("Service", False, "NAME TYPE PORT(S) SELECTOR AGE", id="services"),
        pytest.param("Endpoints", False, "NAME ENDPOINTS AGE", id="endpoints"),
        pytest.param("ConfigMap", False, "NAME DATA AGE", id="configmaps"),
        pytest.param("Namespace", False, "NAME STATUS AGE", id="namespaces"),
        pytest.param("Event", False, "LAST SEEN TYPE REASON OBJECT MESSAGE", id="events"),
        pytest.param("Whatever", False, "NAME AGE", id="generic"),
    ],
)
def test_headers(kind, wide, want):
    assert " ".join(output.headers_for(kind, wide=wide)) == want


def test_table_all_namespaces_and_kind_prefix():
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {**meta("web"), "namespace": "shop"},
           "spec": {"replicas": 1}}
    headers, rows = output.table("Deployment", [dep], NOW, namespace_column=True, kind_prefix=True)
    assert headers[:2] == ["NAMESPACE", "NAME"]
    assert rows == [["shop", "deployment.apps/web", "0/1", "0", "0", "<unknown>"]]


def test_render_aligns_like_kubectl():
    text = output.render(["NAME", "READY", "STATUS"], [["a", "1/1", "Running"], ["long-name", "0/1", "Pending"]])
    assert text == ("NAME        READY   STATUS\n"
                    "a           1/1     Running\n"
                    "long-name   0/1     Pending")


def test_cluster_status_table_marks_the_leader():
    status = {"name": "r2", "leader": "r1", "members": [
        {"name": "r1", "raft": "127.0.0.1:7101", "http": "http://127.0.0.1:7001", "role": "leader", "term": 3,
         "commitIndex": 40, "appliedIndex": 40, "leader": "r1", "lag": 0},
        {"name": "r3", "raft": "127.0.0.1:7103", "http": "http://127.0.0.1:7003", "role": "unreachable"},
        {"name": "r4", "raft": "127.0.0.1:7104", "http": "http://127.0.0.1:7004", "role": "learner", "term": 3,
         "commitIndex": 12, "appliedIndex": 12, "leader": "r1", "lag": 28}]}
    headers, rows = output.cluster_rows(status)
    assert headers == ["NAME", "RAFT", "HTTP", "ROLE", "TERM", "COMMIT", "APPLIED", "LAG"]
    assert rows == [["r1*", "127.0.0.1:7101", "http://127.0.0.1:7001", "leader", "3", "40", "40", "0"],
                    ["r3", "127.0.0.1:7103", "http://127.0.0.1:7003", "unreachable", "", "", "", ""],
                    ["r4", "127.0.0.1:7104", "http://127.0.0.1:7004", "learner", "3", "12", "12", "28"]]


@pytest.mark.parametrize(
    ("obj", "want"),
    [
        pytest.param({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}},
                     "deployment.apps/web", id="apps"),
        pytest.param({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}}, "service/web", id="core"),
    ],
)
def test_resource_name(obj, want):
    assert output.resource_name(obj) == want


# ------------------------------------------------------------------------------ manifests


def test_parse_web_yaml():
    objs = parse_manifests(WEB_YAML.read_text(), str(WEB_YAML))
    assert [(o["kind"], o["metadata"]["name"]) for o in objs] == [
        ("Namespace", "shop"), ("Deployment", "web"), ("Service", "web")]
    assert objs[1]["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["tcpSocket"]["port"] == "http"


def test_read_manifests_puts_namespaces_first(tmp_path):
    (tmp_path / "b.yaml").write_text("kind: ConfigMap\nmetadata: {name: c}\n---\nkind: Namespace\nmetadata: {name: n}\n")
    (tmp_path / "a.json").write_text(json.dumps({"kind": "List", "items": [
        {"kind": "Service", "metadata": {"name": "s"}}, {"kind": "Namespace", "metadata": {"name": "m"}}]}))
    (tmp_path / "notes.txt").write_text("ignored")
    objs = read_manifests([str(tmp_path)])
    assert [o["metadata"]["name"] for o in objs] == ["m", "n", "s", "c"]


@pytest.mark.parametrize(
    ("text", "want"),
    [
        pytest.param("kind: ConfigMap\nmetadata: {name: c}\ndata:\n  when: 2024-01-01T00:00:00Z\n",
                     {"when": "2024-01-01T00:00:00Z"}, id="timestamps-stay-strings"),
        pytest.param("---\n---\nkind: ConfigMap\nmetadata: {name: c}\ndata: {n: '1'}\n---\n", {"n": "1"},
                     id="empty-documents"),
    ],
)
def test_parse_manifest_values(text, want):
    (obj,) = parse_manifests(text)
    assert obj["data"] == want
    json.dumps(obj)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param("kind: [unclosed", "error parsing", id="bad-yaml"),
        pytest.param("metadata: {name: x}\n", "kind not set", id="no-kind"),
        pytest.param("kind: Pod\nmetadata: {}\n", "metadata.name not set", id="no-name"),
        pytest.param("- 1\n- 2\n", "not an object", id="not-object"),
    ],
)
def test_parse_manifest_errors(text, match):
    with pytest.raises(UsageError, match=match):
        parse_manifests(text, "f.yaml")


@pytest.mark.parametrize(
    ("arg", "want"),
    [
        pytest.param(["pods"], [("Pod", [])], id="one-kind"),
        pytest.param(["po,svc", "web"], [("Pod", ["web"]), ("Service", ["web"])], id="kinds-and-name"),
        pytest.param(["deploy/web", "svc/web", "deployment/api"], [("Deployment", ["web", "api"]),
                                                                  ("Service", ["web"])], id="slash-form"),
        pytest.param(["all"], [("Pod", []), ("Service", []), ("Deployment", [])], id="all"),
    ],
)
def test_parse_targets(arg, want):
    assert [(t.info.kind, t.names) for t in parse_targets(arg)] == want


def test_parse_targets_unknown_kind():
    with pytest.raises(UsageError, match='resource type "gizmos"'):
        parse_targets(["gizmos"])


# ------------------------------------------------------------------------------ three-way merge


CONTAINERS = [{"name": "a", "image": "i:1"}]
DEFAULTED = [{"name": "a", "image": "i:1", "imagePullPolicy": "IfNotPresent"}]


@pytest.mark.parametrize(
    ("original", "desired", "current", "want"),
    [
        pytest.param({"spec": {"replicas": 3, "c": CONTAINERS}}, {"spec": {"replicas": 3, "c": CONTAINERS}},
                     {"spec": {"replicas": 3, "c": DEFAULTED, "strategy": {"type": "RollingUpdate"}}}, {},
                     id="server-defaults-are-not-a-change"),
        pytest.param({"metadata": {"labels": {"a": "1"}}}, {"metadata": {"labels": {"a": "1"}}},
                     {"metadata": {"labels": {"a": "1", "added-by": "others"}}}, {}, id="foreign-labels-kept"),
        pytest.param({"metadata": {"labels": {"a": "1", "b": "2"}}}, {"metadata": {"labels": {"a": "1"}}},
                     {"metadata": {"labels": {"a": "1", "b": "2"}}}, {"metadata": {"labels": {"b": None}}},
                     id="dropped-from-manifest-is-deleted"),
        pytest.param({"spec": {"replicas": 3}}, {"spec": {"replicas": 3}}, {"spec": {"replicas": 5}},
                     {"spec": {"replicas": 3}}, id="drift-is-reset"),
        pytest.param({}, {"spec": {"c": [{"name": "a", "image": "i:2"}]}}, {"spec": {"c": DEFAULTED}},
                     {"spec": {"c": [{"name": "a", "image": "i:2"}]}}, id="changed-list-replaced-whole"),
        pytest.param({"spec": {"c": CONTAINERS + [{"name": "b"}]}}, {"spec": {"c": CONTAINERS}},
                     {"spec": {"c": DEFAULTED + [{"name": "b"}]}}, {"spec": {"c": CONTAINERS}},
                     id="shorter-list"),
        pytest.param({}, {"data": {"k": "v"}}, {}, {"data": {"k": "v"}}, id="new-field"),
        pytest.param({"data": {"x": "1"}}, {"data": {"x": "1"}}, {"data": {"x": 1}}, {"data": {"x": "1"}},
                     id="type-change"),
    ],
)
def test_three_way_patch(original, desired, current, want):
    assert three_way_patch(original, desired, current) == want


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("err", "want"),
    [
        pytest.param(errors.NotFound('pods "x" not found'), 'Error from server (NotFound): pods "x" not found',
                     id="not-found"),
        pytest.param(errors.Conflict("changed"), "Error from server (Conflict): changed", id="conflict"),
        pytest.param(errors.Unavailable("no leader"), "Error from server (ServiceUnavailable): no leader",
                     id="server-unavailable"),
        pytest.param(ConnectionFailed("refused"), "Unable to connect to the server: refused", id="no-connection"),
        pytest.param(UsageError("bad flag"), "error: bad flag", id="usage"),
    ],
)
def test_format_error(err, want):
    assert format_error(err) == want


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_failure_prints_one_line(capsys):
    rc = main(["--server", f"http://127.0.0.1:{_free_port()}", "--request-timeout", "1", "get", "pods"])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.startswith("Unable to connect to the server: ")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_missing_config_is_a_clear_error(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HAPLANE_CONFIG", raising=False)
    assert main(["get", "pods"]) == 1
    assert capsys.readouterr().err.startswith("error: no client config found")


def test_unknown_kind_is_a_usage_error(capsys):
    assert main(["--server", "http://127.0.0.1:1", "get", "gizmos"]) == 1
    assert capsys.readouterr().err.startswith('error: the server doesn\'t have a resource type "gizmos"')


def test_server_up_and_chaos_are_lazy():
    """`haplane get` never imports the server, `up` or the chaos harness (a subprocess: fresh imports)."""
    import subprocess
    import sys

    code = ("import sys; from haplane.cli import build_parser; build_parser(['get', 'pods']); "
            "print(sorted(m for m in ('haplane.server', 'haplane.up', 'chaos.cli') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------------------ end to end


class FakeAPI:
    """An in-memory Kubernetes-shaped API: enough for get/list/create/update/delete, with
    server defaulting (so apply must not call defaults a change), warnings, and an optional
    Conflict injected on the next PUT."""

    PATH = re.compile(r"^(?P<prefix>/api/v1|/apis/apps/v1)(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[a-z]+)"
                      r"(?:/(?P<name>[^/]+))?$")

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict] = {}
        self.rv = itertools.count(100)
        self.conflict_next_put = False
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.url = ""

    def __enter__(self) -> FakeAPI:
        self.thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    async def _start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    @staticmethod
    def _status(code: int, reason: str, message: str) -> web.Response:
        return web.json_response({"kind": "Status", "status": "Failure", "reason": reason, "message": message,
                                  "code": code}, status=code)

    async def handle(self, req: web.Request) -> web.Response:
        m = self.PATH.match(req.path)
        if not m:
            return self._status(404, "NotFound", f"no route {req.path}")
        plural, ns, name = m["plural"], m["ns"] or "", m["name"]
        if req.method == "GET" and name is None:
            items = [o for (p, n, _), o in sorted(self.objects.items()) if p == plural and (not ns or n == ns)]
            return web.json_response({"kind": "List", "metadata": {"resourceVersion": str(next(self.rv))},
                                      "items": items})
        if req.method == "POST":
            body = await req.json()
            name = body["metadata"]["name"]
            if (plural, ns, name) in self.objects:
                return self._status(409, "AlreadyExists", f'{plural} "{name}" already exists')
            body["metadata"].update(uid=f"uid-{name}", resourceVersion=str(next(self.rv)),
                                    creationTimestamp="2024-05-01T11:00:00Z")
            self._default(plural, body)
            self.objects[(plural, ns, name)] = body
            resp = web.json_response(body, status=201)
            if "revisionHistoryLimit" in json.dumps(body):
                resp.headers.add("Warning", '299 - "unknown field "spec.revisionHistoryLimit""')
            return resp
        key = (plural, ns, name or "")
        cur = self.objects.get(key)
        if cur is None:
            return self._status(404, "NotFound", f'{plural} "{name}" not found')
        if req.method == "GET":
            return web.json_response(cur)
        if req.method == "PUT":
            body = await req.json()
            if self.conflict_next_put or body["metadata"].get("resourceVersion") != cur["metadata"]["resourceVersion"]:
                self.conflict_next_put = False
                cur["metadata"]["resourceVersion"] = str(next(self.rv))  # someone else wrote
                return self._status(409, "Conflict", "the object has been modified")
            body["metadata"]["resourceVersion"] = str(next(self.rv))
            self._default(plural, body)
            self.objects[key] = body
            return web.json_response(body)
        if req.method == "DELETE":
            return web.json_response(self.objects.pop(key))
        return self._status(405, "MethodNotAllowed", req.method)

    @staticmethod
    def _default(plural: str, obj: dict) -> None:
        if plural == "services":
            obj["spec"].setdefault("type", "ClusterIP")
            for p in obj["spec"].get("ports", []):
                p.setdefault("protocol", "TCP")
        if plural == "deployments":
            for c in obj["spec"]["template"]["spec"]["containers"]:
                c.setdefault("terminationMessagePath", "/dev/termination-log")


@pytest.fixture
def api():
    with FakeAPI() as fake:
        yield fake


def run(api: FakeAPI, capsys: Any, *argv: str) -> tuple[int, str, str]:
    rc = main(["--server", api.url, *argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_apply_create_unchanged_configured_delete(api, capsys, tmp_path):
    rc, out, err = run(api, capsys, "apply", "-f", str(WEB_YAML))
    assert (rc, out.splitlines()) == (0, ["namespace/shop created", "deployment.apps/web created", "service/web created"])
    assert 'Warning: unknown field "spec.revisionHistoryLimit"' in err
    dep = api.objects[("deployments", "shop", "web")]
    assert json.loads(dep["metadata"]["annotations"][LAST_APPLIED])["spec"]["replicas"] == 3

    rc, out, _ = run(api, capsys, "apply", "-f", str(WEB_YAML))
    assert (rc, out.splitlines()) == (0, ["namespace/shop unchanged", "deployment.apps/web unchanged",
                                          "service/web unchanged"])

    # Someone labels the deployment; the manifest changes replicas; a concurrent write forces a retry.
    dep["metadata"]["labels"]["owner"] = "ops"
    changed = tmp_path / "web.yaml"
    changed.write_text(WEB_YAML.read_text().replace("replicas: 3", "replicas: 5"))
    api.conflict_next_put = True
    rc, out, _ = run(api, capsys, "apply", "-f", str(changed))
    assert (rc, out.splitlines()) == (0, ["namespace/shop unchanged", "deployment.apps/web configured",
                                          "service/web unchanged"])
    dep = api.objects[("deployments", "shop", "web")]
    assert dep["spec"]["replicas"] == 5
    assert dep["metadata"]["labels"]["owner"] == "ops", "a label apply does not own survives"
    assert dep["spec"]["template"]["spec"]["containers"][0]["terminationMessagePath"] == "/dev/termination-log"

    rc, out, err = run(api, capsys, "get", "deployments", "-n", "shop")
    assert rc == 0
    assert out.splitlines()[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert out.splitlines()[1].split()[:2] == ["web", "0/5"]

    rc, out, _ = run(api, capsys, "get", "deploy/web", "svc/web", "-n", "shop", "-o", "name")
    assert out.splitlines() == ["deployment.apps/web", "service/web"]

    rc, out, _ = run(api, capsys, "get", "deploy", "web", "-n", "shop", "-o", "json")
    assert json.loads(out)["spec"]["replicas"] == 5

    rc, out, err = run(api, capsys, "delete", "-f", str(WEB_YAML))
    assert (rc, out.splitlines()) == (0, ['service "web" deleted', 'deployment.apps "web" deleted',
                                          'namespace "shop" deleted'])
    assert api.objects == {}


def test_get_not_found_and_empty_list(api, capsys):
    rc, out, err = run(api, capsys, "get", "pods", "nope")
    assert (rc, out) == (1, "")
    assert err.strip() == 'Error from server (NotFound): pods "nope" not found'
    rc, out, err = run(api, capsys, "get", "pods")
    assert (rc, out, err.strip()) == (0, "", "No resources found in default namespace.")
    rc, out, err = run(api, capsys, "delete", "pod", "nope")
    assert rc == 1 and err.startswith("Error from server (NotFound)")
    rc, out, err = run(api, capsys, "delete", "pod", "nope", "--ignore-not-found")
    assert (rc, err) == (0, "")


def test_create_reports_already_exists(api, capsys, tmp_path):
    f = tmp_path / "cm.yaml"
    f.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n")
    assert run(api, capsys, "create", "-f", str(f))[:2] == (0, "configmap/c created\n")
    rc, out, err = run(api, capsys, "create", "-f", str(f))
    assert (rc, out) == (1, "")
    assert err.startswith("Error from server (AlreadyExists):")
    assert LAST_APPLIED not in (api.objects[("configmaps", "default", "c")]["metadata"].get("annotations") or {})
