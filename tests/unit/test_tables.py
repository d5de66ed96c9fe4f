"""Server-side printing (haplane.api.tables): each kind's cells as Kubernetes' printers make
them, the column definitions, the Table envelope, and the Accept / includeObject parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from haplane.api import tables
from haplane.errors import BadRequest, NotAcceptable

NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
V1 = tables.TableRequest("meta.k8s.io/v1")


def ago(**kw: float) -> str:
    return (NOW - timedelta(**kw)).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str, created: str | None = None, **extra: Any) -> dict:
    return {"name": name, "namespace": "default", "uid": f"uid-{name}", "resourceVersion": "7",
            **({"creationTimestamp": created} if created else {}), **extra}


def container(name: str, *, ready: bool = True, restarts: int = 0, state: dict | None = None, **extra: Any) -> dict:
    return {"name": name, "ready": ready, "restartCount": restarts,
            "state": state if state is not None else {"running": {"startedAt": ago(minutes=1)}}, **extra}


def pod(name: str = "p", *, phase: str = "Running", statuses: list | None = None, n: int = 1,
        created: str | None = None, spec: dict | None = None, status: dict | None = None, **m: Any) -> dict:
    return {"kind": "Pod", "apiVersion": "v1", "metadata": meta(name, created or ago(minutes=5), **m),
            "spec": {"containers": [{"name": f"c{i}", "image": "busybox"} for i in range(n)], **(spec or {})},
            "status": {"phase": phase, **({"containerStatuses": statuses} if statuses is not None else {}),
                       **(status or {})}}


WAITING = {"waiting": {"reason": "ContainerCreating"}}


@pytest.mark.parametrize(("obj", "want"), [
    pytest.param(pod(statuses=[container("c0")], spec={"nodeName": "n1"}, status={"podIP": "127.0.1.1"}),
                 ["p", "1/1", "Running", "0", "5m", "127.0.1.1", "n1", "<none>", "<none>"], id="running"),
    pytest.param(pod(phase="Pending", statuses=None),
                 ["p", "0/1", "Pending", "0", "5m", "<none>", "<none>", "<none>", "<none>"], id="pending"),
    pytest.param(pod(phase="Pending", statuses=[container("c0", ready=False, state=WAITING)], spec={"nodeName": "n2"}),
                 ["p", "0/1", "ContainerCreating", "0", "5m", "<none>", "n2", "<none>", "<none>"],
                 id="container-creating"),
    pytest.param(pod(statuses=[container("c0", ready=False, restarts=4,
                                         state={"waiting": {"reason": "CrashLoopBackOff"}},
                                         lastState={"terminated": {"exitCode": 1, "finishedAt": ago(seconds=75)}})]),
                 ["p", "0/1", "CrashLoopBackOff", "4 (75s ago)", "5m", "<none>", "<none>", "<none>", "<none>"],
                 id="crashloop"),
    pytest.param(pod(phase="Succeeded", statuses=[container("c0", ready=False, state={
        "terminated": {"exitCode": 0, "reason": "Completed"}})]),
                 ["p", "0/1", "Completed", "0", "5m", "<none>", "<none>", "<none>", "<none>"], id="completed"),
    pytest.param(pod(phase="Failed", statuses=[container("c0", ready=False, state={"terminated": {"exitCode": 2}})]),
                 ["p", "0/1", "ExitCode:2", "0", "5m", "<none>", "<none>", "<none>", "<none>"], id="exit-code"),
    pytest.param(pod(phase="Failed", statuses=[container("c0", ready=False, state={"terminated": {"exitCode": 137,
                                                                                                 "signal": 9}})]),
                 ["p", "0/1", "Signal:9", "0", "5m", "<none>", "<none>", "<none>", "<none>"], id="signal"),
    pytest.param(pod(statuses=[container("c0")], deletionTimestamp=ago(seconds=2)),
                 ["p", "1/1", "Terminating", "0", "5m", "<none>", "<none>", "<none>", "<none>"], id="terminating"),
    pytest.param(pod(phase="Unknown", status={"reason": "NodeLost"}, deletionTimestamp=ago(seconds=2)),
                 ["p", "0/1", "Unknown", "0", "5m", "<none>", "<none>", "<none>", "<none>"], id="node-lost"),
    pytest.param(pod(phase="Failed", status={"reason": "Evicted"}),
                 ["p", "0/1", "Evicted", "0", "5m", "<none>", "<none>", "<none>", "<none>"], id="evicted"),
    pytest.param(pod(n=2, statuses=[container("c0"), container("c1", ready=False, state={
        "terminated": {"exitCode": 0, "reason": "Completed"}})], status={"conditions": [
            {"type": "Ready", "status": "False"}]}),
                 ["p", "1/2", "NotReady", "0", "5m", "<none>", "<none>", "<none>", "<none>"],
                 id="completed-sidecar-not-ready"),
    pytest.param(pod(statuses=[container("c0")], spec={"readinessGates": [{"conditionType": "x/y"}]},
                     status={"nominatedNodeName": "n3", "conditions": [{"type": "x/y", "status": "True"}]}),
                 ["p", "1/1", "Running", "0", "5m", "<none>", "<none>", "n3", "1/1"], id="gates-nominated"),
])
def test_pod_cells(obj: dict, want: list) -> None:
    assert tables.pod_cells(obj, NOW) == want


DEPLOY = {"kind": "Deployment", "metadata": meta("web", ago(days=3, hours=4)),
          "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web", "tier": "fe"}},
                   "template": {"spec": {"containers": [{"name": "a", "image": "busybox:1"},
                                                        {"name": "b", "image": "nginx"}]}}},
          "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 1}}
RS = {"kind": "ReplicaSet", "metadata": meta("web-5d9c", ago(seconds=42)),
      "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web", "pod-template-hash": "5d9c"}},
               "template": {"spec": {"containers": [{"name": "a", "image": "busybox:1"}]}}},
      "status": {"replicas": 2, "readyReplicas": 1}}
NODE = {"kind": "Node", "metadata": {"name": "n1", "creationTimestamp": ago(hours=30),
                                     "labels": {"node-role.kubernetes.io/control-plane": "", "x": "y"}},
        "spec": {"unschedulable": True},
        "status": {"conditions": [{"type": "Ready", "status": "True"}],
                   "addresses": [{"type": "InternalIP", "address": "127.0.1.1"}, {"type": "Hostname", "address": "h"}],
                   "nodeInfo": {"kubeletVersion": "v1.37.0", "kernelVersion": "6.1", "containerRuntimeVersion":
                                "process://1"}}}
SVC = {"kind": "Service", "metadata": meta("web", ago(minutes=7, seconds=5)),
       "spec": {"type": "NodePort", "selector": {"app": "web"},
                "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}}
EVENT = {"kind": "Event", "metadata": meta("web-1.17", ago(minutes=10)), "type": "Warning", "reason": "BackOff",
         "count": 3, "firstTimestamp": ago(minutes=10), "lastTimestamp": ago(seconds=30),
         "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{a}"},
         "source": {"component": "kubelet", "host": "n1"}, "message": "Back-off restarting failed container\n"}


@pytest.mark.parametrize(("kind", "obj", "want"), [
    pytest.param("Deployment", DEPLOY, ["web", "2/3", 3, 1, "3d4h", "a,b", "busybox:1,nginx", "app=web,tier=fe"],
                 id="deployment"),
    pytest.param("Deployment", {"metadata": meta("new", ago(seconds=3)), "spec": {"replicas": 2}},
                 ["new", "0/2", 0, 0, "3s", "", "", ""], id="deployment-no-status"),
    pytest.param("ReplicaSet", RS, ["web-5d9c", 2, 2, 1, "42s", "a", "busybox:1", "app=web,pod-template-hash=5d9c"],
                 id="replicaset"),
    pytest.param("ReplicaSet", {"metadata": meta("bare")}, ["bare", 1, 0, 0, "<unknown>", "", "", "<none>"],
                 id="replicaset-empty"),
    pytest.param("Node", NODE, ["n1", "Ready,SchedulingDisabled", "control-plane", "30h", "v1.37.0", "127.0.1.1",
                                "<none>", "<unknown>", "6.1", "process://1"], id="node"),
    pytest.param("Node", {"metadata": {"name": "n2"}, "status": {"conditions": [{"type": "Ready",
                                                                                 "status": "Unknown"}]}},
                 ["n2", "NotReady", "<none>", "<unknown>", "", "<none>", "<none>", "<unknown>", "<unknown>",
                  "<unknown>"], id="node-not-ready"),
    pytest.param("Service", SVC, ["web", "NodePort", "<none>", "<none>", "80:30080/TCP,53/UDP", "7m5s", "app=web"],
                 id="service-nodeport"),
    pytest.param("Service", {"metadata": meta("db"), "spec": {"clusterIP": "10.0.0.5", "externalIPs": ["1.2.3.4"],
                                                              "ports": [{"port": 5432, "protocol": "TCP"}]}},
                 ["db", "ClusterIP", "10.0.0.5", "1.2.3.4", "5432/TCP", "<unknown>", "<none>"], id="service-ips"),
    pytest.param("Endpoints", {"metadata": meta("web", ago(hours=2)), "subsets": [
        {"addresses": [{"ip": "127.0.1.1"}, {"ip": "127.0.1.2"}], "ports": [{"port": 8080}, {"port": 9090}]}]},
                 ["web", "127.0.1.1:8080,127.0.1.2:8080,127.0.1.1:9090 + 1 more...", "120m"], id="endpoints"),
    pytest.param("Endpoints", {"metadata": meta("none", ago(hours=2))}, ["none", "<none>", "120m"],
                 id="endpoints-none"),
    pytest.param("Endpoints", {"metadata": meta("unready", ago(hours=2)), "subsets": [
        {"notReadyAddresses": [{"ip": "127.0.1.1"}], "ports": [{"port": 80}]}]}, ["unready", "", "120m"],
                 id="endpoints-not-ready-only"),
    pytest.param("ConfigMap", {"metadata": meta("cm", ago(seconds=59)), "data": {"a": "1"}, "binaryData": {"b": ""}},
                 ["cm", 2, "59s"], id="configmap"),
    pytest.param("Namespace", {"metadata": {"name": "shop", "creationTimestamp": ago(days=9)},
                               "status": {"phase": "Active"}}, ["shop", "Active", "9d"], id="namespace"),
    pytest.param("Namespace", {"metadata": {"name": "x"}}, ["x", "Active", "<unknown>"], id="namespace-no-status"),
    pytest.param("Event", EVENT, ["30s", "Warning", "BackOff", "pod/web-1", "spec.containers{a}", "kubelet, n1",
                                  "Back-off restarting failed container", "10m", 3, "web-1.17"], id="event"),
    pytest.param("Event", {"metadata": meta("e"), "involvedObject": {"kind": "Node"}, "reason": "R",
                           "firstTimestamp": ago(minutes=2), "reportingComponent": "haplane-agent"},
                 ["2m", "", "R", "node", "", "haplane-agent", "", "2m", 1, "e"], id="event-singleton"),
    pytest.param("Lease", {"metadata": meta("l", "2026-01-01T00:00:00Z")}, ["l", "2026-01-01T00:00:00Z"],
                 id="default-printer"),
])
def test_cells(kind: str, obj: dict, want: list) -> None:
    printer = tables.printer_for(kind)
    cells = printer.cells(obj, NOW)
    assert cells == want
    assert len(cells) == len(printer.columns)


@pytest.mark.parametrize(("kind", "names", "wide"), [
    pytest.param("Pod", ["Name", "Ready", "Status", "Restarts", "Age"], ["IP", "Node", "Nominated Node",
                                                                         "Readiness Gates"], id="pods"),
    pytest.param("Deployment", ["Name", "Ready", "Up-to-date", "Available", "Age"], ["Containers", "Images",
                                                                                     "Selector"], id="deployments"),
    pytest.param("ReplicaSet", ["Name", "Desired", "Current", "Ready", "Age"], ["Containers", "Images", "Selector"],
                 id="replicasets"),
    pytest.param("Service", ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"], ["Selector"],
                 id="services"),
    pytest.param("Node", ["Name", "Status", "Roles", "Age", "Version"],
                 ["Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"], id="nodes"),
    pytest.param("Namespace", ["Name", "Status", "Age"], [], id="namespaces"),
    pytest.param("ConfigMap", ["Name", "Data", "Age"], [], id="configmaps"),
    pytest.param("Endpoints", ["Name", "Endpoints", "Age"], [], id="endpoints"),
    pytest.param("Event", ["Last Seen", "Type", "Reason", "Object", "Message"],
                 ["Subobject", "Source", "First Seen", "Count", "Name"], id="events"),
])
def test_columns(kind: str, names: list[str], wide: list[str]) -> None:
    columns = tables.printer_for(kind).columns
    assert [c.name for c in columns if c.priority == 0] == names
    assert [c.name for c in columns if c.priority == 1] == wide
    name_cols = [c.name for c in columns if c.format == "name"]
    assert name_cols == ["Name"]
    assert all(c.description for c in columns)


@pytest.mark.parametrize(("include", "want"), [
    pytest.param("None", None, id="none"),
    pytest.param("Metadata", {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                              "metadata": DEPLOY["metadata"]}, id="metadata"),
    pytest.param("Object", DEPLOY, id="object"),
])
def test_table_envelope(include: str, want: dict | None) -> None:
    req = tables.TableRequest("meta.k8s.io/v1", include)  # type: ignore[arg-type]
    out = tables.table("Deployment", [DEPLOY], NOW, req, resource_version="9", continue_token="tok", remaining=4)
    assert out["kind"] == "Table" and out["apiVersion"] == "meta.k8s.io/v1"
    assert out["metadata"] == {"resourceVersion": "9", "continue": "tok", "remainingItemCount": 4}
    assert out["columnDefinitions"][0] == {"name": "Name", "type": "string", "format": "name",
                                           "description": tables.NAME.description, "priority": 0}
    assert [r["cells"][0] for r in out["rows"]] == ["web"]
    assert out["rows"][0].get("object") == want
    assert tables.table("Deployment", [], NOW, req, headers=False)["columnDefinitions"] is None


def test_finished_pods_carry_the_completed_condition() -> None:
    done = tables.row("Pod", pod(phase="Succeeded"), NOW)
    assert done["conditions"] == [{"type": "Completed", "status": "True", "reason": "Succeeded",
                                   "message": "The pod has completed successfully."}]
    assert "conditions" not in tables.row("Pod", pod(), NOW)


KUBECTL_ACCEPT = ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
                  "application/json")


@pytest.mark.parametrize(("accept", "query", "want"), [
    pytest.param(KUBECTL_ACCEPT, {}, V1, id="kubectl"),
    pytest.param("application/json;as=Table;v=v1beta1;g=meta.k8s.io, application/json", {},
                 tables.TableRequest("meta.k8s.io/v1beta1"), id="v1beta1"),
    pytest.param("application/json", {}, None, id="json"),
    pytest.param(None, {}, None, id="no-accept"),
    pytest.param("*/*", {}, None, id="anything"),
    pytest.param("application/json;as=Table;v=v2;g=meta.k8s.io,application/json", {}, None,
                 id="unknown-version-falls-back"),
    pytest.param(KUBECTL_ACCEPT, {"includeObject": "Object"}, tables.TableRequest("meta.k8s.io/v1", "Object"),
                 id="include-object"),
    pytest.param(KUBECTL_ACCEPT, {"includeObject": "None"}, tables.TableRequest("meta.k8s.io/v1", "None"),
                 id="include-none"),
])
def test_table_request(accept: str | None, query: dict, want: tables.TableRequest | None) -> None:
    assert tables.table_request(accept, query) == want


@pytest.mark.parametrize(("accept", "query", "error"), [
    pytest.param("application/json;as=Table;v=v2;g=meta.k8s.io", {}, NotAcceptable, id="only-unknown-table"),
    pytest.param("application/vnd.kubernetes.protobuf", {}, NotAcceptable, id="protobuf-only"),
    pytest.param(KUBECTL_ACCEPT, {"includeObject": "Everything"}, BadRequest, id="bad-include"),
])
def test_table_request_errors(accept: str, query: dict, error: type) -> None:
    with pytest.raises(error):
        tables.table_request(accept, query)
