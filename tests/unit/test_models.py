"""The model layer through its one entry point, ``registry.validate``: manifests as users write
them, defaults, every kind of bad input, unknown-field warnings, and fuzzing."""

from __future__ import annotations

import copy
import re
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from haplane.errors import BadRequest, HaplaneError, Invalid, NotFound
from haplane.model.registry import KINDS, by_path, lookup, validate, validate_scale

MANIFEST_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "manifests"


def _manifests() -> list[Any]:
    assert MANIFEST_DIR.is_dir(), f"shared manifests missing at {MANIFEST_DIR}"
    docs = []
    for path in sorted(MANIFEST_DIR.glob("*.yaml")):
        for i, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if doc:
                docs.append(pytest.param(doc, id=f"{path.stem}-{i}-{doc['kind']}"))
    assert docs
    return docs


MANIFESTS = _manifests()
CONTAINER = {"name": "c", "image": "busybox:local"}
MINIMAL: dict[str, dict[str, Any]] = {
    "Namespace": {"metadata": {"name": "shop"}},
    "Node": {"metadata": {"name": "n1"}},
    "ConfigMap": {"metadata": {"name": "cm"}},
    "Pod": {"metadata": {"name": "p"}, "spec": {"containers": [CONTAINER]}},
    "Service": {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}},
    "Endpoints": {"metadata": {"name": "s"}},
    "Event": {"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "p"}},
    "Deployment": {"metadata": {"name": "web"}, "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [CONTAINER]}},
    }},
    "ReplicaSet": {"metadata": {"name": "web-abc"}, "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [CONTAINER]}},
    }},
}
DELETE = object()


def with_(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``obj`` with ``path`` ("spec.containers[0].name") set to ``value`` (or deleted)."""
    obj = copy.deepcopy(obj)
    parts: list[str | int] = [int(p[1:-1]) if p.startswith("[") else p for p in re.findall(r"[^.\[\]]+|\[\d+\]", path)]
    target: Any = obj
    for part in parts[:-1]:
        target = target[part] if isinstance(part, int) else target.setdefault(part, {})
    if value is DELETE:
        del target[parts[-1]]
    else:
        target[parts[-1]] = value
    return obj


def get(obj: Any, path: str) -> Any:
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        obj = obj[int(part[1:-1])] if part.startswith("[") else obj[part]
    return obj


def assert_contains(out: Any, inp: Any, path: str = "") -> None:
    """Every value of ``inp`` is in ``out`` unchanged (``out`` may add defaults)."""
    if isinstance(inp, dict):
        assert isinstance(out, dict), path
        for key, value in inp.items():
            assert key in out, f"{path}.{key} dropped"
            assert_contains(out[key], value, f"{path}.{key}")
    elif isinstance(inp, list):
        assert isinstance(out, list) and len(out) == len(inp), path
        for i, (a, b) in enumerate(zip(out, inp, strict=True)):
            assert_contains(a, b, f"{path}[{i}]")
    else:
        assert out == inp and type(out) is type(inp), f"{path}: {out!r} != {inp!r}"


# --- valid input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("doc", MANIFESTS)
def test_shared_manifests_validate_unchanged(doc: dict[str, Any]) -> None:
    out, warnings = validate(doc["kind"], doc)
    assert warnings == []
    assert_contains(out, doc)
    assert validate(doc["kind"], out) == (out, [])  # a fixed point: stored objects re-validate as they are


@pytest.mark.parametrize("kind", list(MINIMAL))
def test_minimal_objects_validate_with_api_version_and_kind_set(kind: str) -> None:
    out, warnings = validate(kind, MINIMAL[kind])
    assert warnings == []
    assert (out["apiVersion"], out["kind"]) == (KINDS[kind].api_version, kind)
    assert validate(kind, out) == (out, [])


@pytest.mark.parametrize(
    ("kind", "body", "path", "expected"),
    [
        pytest.param("Pod", MINIMAL["Pod"], "spec.restartPolicy", "Always", id="pod-restart-policy"),
        pytest.param("Pod", MINIMAL["Pod"], "spec.terminationGracePeriodSeconds", 30, id="pod-grace"),
        pytest.param("Pod", MINIMAL["Pod"], "spec.containers[0].imagePullPolicy", "IfNotPresent", id="pull-policy"),
        pytest.param("Pod", with_(MINIMAL["Pod"], "spec.containers[0].ports", [{"containerPort": 80}]),
                     "spec.containers[0].ports[0].protocol", "TCP", id="container-port-protocol"),
        pytest.param("Pod", with_(MINIMAL["Pod"], "spec.containers[0].readinessProbe", {"httpGet": {"port": 80}}),
                     "spec.containers[0].readinessProbe", {
                         "httpGet": {"path": "/", "port": 80}, "initialDelaySeconds": 0, "periodSeconds": 10,
                         "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3}, id="probe"),
        pytest.param("Pod", with_(MINIMAL["Pod"], "spec.containers[0].resources", {"limits": {"cpu": 1}}),
                     "spec.containers[0].resources", {"requests": {"cpu": "1"}, "limits": {"cpu": "1"}},
                     id="requests-default-to-limits-as-strings"),
        pytest.param("Pod", with_(MINIMAL["Pod"], "spec.tolerations", [{"key": "k", "value": "v"}]),
                     "spec.tolerations[0].operator", "Equal", id="toleration-operator"),
        pytest.param("Deployment", MINIMAL["Deployment"], "spec.replicas", 1, id="replicas"),
        pytest.param("Deployment", MINIMAL["Deployment"], "spec.strategy", {
            "type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}, id="strategy"),
        pytest.param("Deployment", with_(MINIMAL["Deployment"], "spec.strategy.rollingUpdate", {"maxSurge": 1}),
                     "spec.strategy.rollingUpdate", {"maxSurge": 1, "maxUnavailable": "25%"},
                     id="rolling-update-partial"),
        pytest.param("Deployment", with_(MINIMAL["Deployment"], "spec.strategy", {"type": "Recreate"}),
                     "spec.strategy", {"type": "Recreate"}, id="recreate-has-no-rolling-update"),
        pytest.param("Deployment", MINIMAL["Deployment"], "spec.revisionHistoryLimit", 10, id="history"),
        pytest.param("Deployment", MINIMAL["Deployment"], "spec.minReadySeconds", 0, id="min-ready"),
        pytest.param("Deployment", MINIMAL["Deployment"], "spec.paused", False, id="paused"),
        pytest.param("Deployment", MINIMAL["Deployment"], "spec.progressDeadlineSeconds", 600, id="progress-deadline"),
        pytest.param("ReplicaSet", MINIMAL["ReplicaSet"], "spec.replicas", 1, id="rs-replicas"),
        pytest.param("ReplicaSet", MINIMAL["ReplicaSet"], "spec.minReadySeconds", 0, id="rs-min-ready"),
        pytest.param("Deployment", MINIMAL["Deployment"], "spec.template.spec.restartPolicy", "Always",
                     id="template-pod-defaults"),
        pytest.param("Service", MINIMAL["Service"], "spec.type", "ClusterIP", id="service-type"),
        pytest.param("Service", MINIMAL["Service"], "spec.ports[0]", {"protocol": "TCP", "port": 80, "targetPort": 80},
                     id="service-port"),
        pytest.param("Node", MINIMAL["Node"], "spec", {"unschedulable": False}, id="node-spec"),
        pytest.param("Event", MINIMAL["Event"], "type", "Normal", id="event-type"),
        pytest.param("Endpoints", with_(MINIMAL["Endpoints"], "subsets", [{"ports": [{"port": 80}]}]),
                     "subsets[0].ports[0].protocol", "TCP", id="endpoint-port-protocol"),
    ],
)
def test_defaults(kind: str, body: dict[str, Any], path: str, expected: Any) -> None:
    out, _ = validate(kind, body)
    assert get(out, path) == expected


def test_none_fields_are_omitted() -> None:
    body = with_(MINIMAL["Pod"], "spec.nodeName", None)
    body["metadata"]["creationTimestamp"] = None  # kubectl sends this
    out, warnings = validate("Pod", body)
    assert "nodeName" not in out["spec"] and "creationTimestamp" not in out["metadata"] and warnings == []


def test_server_metadata_passes_through_and_status_is_kept() -> None:
    meta = {"name": "p", "namespace": "default", "uid": "0f5c", "resourceVersion": "42", "generation": 3,
            "creationTimestamp": "2024-05-01T10:00:00Z", "deletionTimestamp": "2024-05-01T11:00:00Z",
            "deletionGracePeriodSeconds": 30,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "u1",
                                 "controller": True, "blockOwnerDeletion": True}]}
    status = {"phase": "Running", "hostIP": "127.0.1.1", "podIP": "127.0.1.1", "startTime": "t",
              "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "t"}],
              "containerStatuses": [{"name": "c", "ready": True, "restartCount": 2, "image": "busybox:local",
                                     "imageID": "", "started": True,
                                     "containerID": "docker://abc", "state": {"running": {"startedAt": "t"}},
                                     "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}
    out, warnings = validate("Pod", {**MINIMAL["Pod"], "metadata": meta, "status": status})
    assert out["metadata"] == meta and out["status"] == status and warnings == []


def test_container_status_always_has_image_and_image_id() -> None:
    """Both are required (possibly empty) in Kubernetes: the official clients refuse a status without them."""
    status = {"phase": "Pending", "containerStatuses": [{"name": "c", "ready": False, "restartCount": 0}]}
    out, _ = validate("Pod", {**MINIMAL["Pod"], "status": status})
    assert out["status"]["containerStatuses"][0] == {"name": "c", "ready": False, "restartCount": 0, "image": "",
                                                     "imageID": ""}


def test_cluster_scoped_kinds_drop_metadata_namespace() -> None:
    out, _ = validate("Node", {"metadata": {"name": "n1", "namespace": "default"}})
    assert "namespace" not in out["metadata"]


def test_output_is_a_new_object_and_input_is_untouched() -> None:
    body = copy.deepcopy(MINIMAL["Deployment"])
    out, _ = validate("Deployment", body)
    assert body == MINIMAL["Deployment"]
    out["spec"]["template"]["metadata"]["labels"]["app"] = "changed"
    assert body["spec"]["template"]["metadata"]["labels"]["app"] == "web"


def test_config_map_values_may_span_lines() -> None:
    out, _ = validate("ConfigMap", {"metadata": {"name": "cm"}, "data": {"app.conf": "a = 1\n\tb = 2\r\n"},
                                    "binaryData": {"blob": "AAEC"}})
    assert out["data"]["app.conf"] == "a = 1\n\tb = 2\r\n"


def test_node_status_round_trips() -> None:
    status = {"capacity": {"cpu": "2", "memory": "8Gi", "pods": "110"}, "allocatable": {"cpu": "1900m"},
              "conditions": [{"type": "Ready", "status": "True", "reason": "AgentReady", "message": "ok",
                              "lastHeartbeatTime": "t1", "lastTransitionTime": "t0"}],
              "addresses": [{"type": "InternalIP", "address": "127.0.1.1"}, {"type": "Hostname", "address": "n1"}],
              "nodeInfo": {"runtime": "process", "cpus": 2}}
    spec = {"unschedulable": True, "taints": [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}]}
    out, warnings = validate("Node", {"metadata": {"name": "n1", "labels": {"disk": "ssd"}}, "spec": spec,
                                      "status": status})
    assert out["status"] == status and out["spec"] == spec and warnings == []


def test_env_from_pod_fields_is_kept() -> None:
    """The downward API the agent resolves (``fieldRef``) survives validation; other sources are unknown."""
    env = [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}, {"name": "A", "value": "1"}]
    body = copy.deepcopy(MINIMAL["Pod"])
    body["spec"]["containers"][0]["env"] = env + [{"name": "S", "valueFrom": {"secretKeyRef": {"name": "s"}}}]
    out, warnings = validate("Pod", body)
    assert out["spec"]["containers"][0]["env"][:2] == env
    assert warnings == ['unknown field "spec.containers[0].env[2].valueFrom.secretKeyRef"']


def test_unknown_fields_are_dropped_with_one_warning_each() -> None:
    body = copy.deepcopy(MINIMAL["Deployment"])
    body["foo"] = 1
    body["metadata"]["selfLink"] = "/apis/apps/v1/x"
    body["spec"]["rollbackTo"] = {"revision": 1}
    body["spec"]["template"]["spec"]["dnsPolicy"] = "ClusterFirst"
    body["spec"]["template"]["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    body["status"] = {"terminatingReplicas": 1}
    out, warnings = validate("Deployment", body)
    assert sorted(warnings) == [
        'unknown field "foo"', 'unknown field "metadata.selfLink"', 'unknown field "spec.rollbackTo"',
        'unknown field "spec.template.spec.containers[0].securityContext"',
        'unknown field "spec.template.spec.dnsPolicy"', 'unknown field "status.terminatingReplicas"',
    ]
    assert "foo" not in out and "rollbackTo" not in out["spec"] and out["status"] == {}
    assert validate("Deployment", out) == (out, [])


def test_free_form_maps_produce_no_warnings() -> None:
    _, warnings = validate("Node", {"metadata": {"name": "n1", "labels": {"a": "b"}, "annotations": {"x/y": "z"}},
                                    "status": {"nodeInfo": {"anything": {"goes": [1, 2]}}}})
    assert warnings == []


def test_scale() -> None:
    assert validate_scale({"metadata": {"name": "web"}, "spec": {"replicas": 5}}) == {
        "apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web"}, "spec": {"replicas": 5}}
    with pytest.raises(Invalid, match=r"spec.replicas: must be greater than or equal to 0"):
        validate_scale({"spec": {"replicas": -1}})
    with pytest.raises(Invalid, match=r"spec.replicas: Required value"):
        validate_scale({"spec": {}})


# --- invalid input --------------------------------------------------------------------------------

def _bad(kind: str, path: str, value: Any, field: str, text: str, id: str) -> Any:
    return pytest.param(kind, with_(MINIMAL[kind], path, value), field, text, id=id)


POD_C = "spec.containers[0]"
DEP_T = "spec.template"

BAD = [
    # names and metadata
    _bad("Pod", "metadata.name", "Bad_Name", "metadata.name", "RFC 1123 subdomain", "name-charset"),
    _bad("Pod", "metadata.name", "a" * 254, "metadata.name", "no more than 253", "name-too-long"),
    _bad("Pod", "metadata.name", "-a", "metadata.name", "RFC 1123", "name-leading-dash"),
    _bad("Pod", "metadata.name", DELETE, "metadata.name", "name or generateName is required", "name-missing"),
    _bad("Pod", "metadata.name", "", "metadata.name", "name or generateName is required", "name-empty"),
    _bad("Pod", "metadata", {"generateName": "Web-"}, "metadata.generateName", "prefix is invalid",
         "generate-name-charset"),
    _bad("Pod", "metadata.name", 5, "metadata.name", "expected a string", "name-int"),
    _bad("Service", "metadata.name", "web.v1", "metadata.name", "RFC 1123 label", "service-name-is-label"),
    _bad("Namespace", "metadata.name", "Shop", "metadata.name", "RFC 1123 label", "namespace-name-uppercase"),
    _bad("Namespace", "metadata.name", "a" * 64, "metadata.name", "no more than 63", "namespace-name-too-long"),
    _bad("Pod", "metadata.namespace", "Bad_NS", "metadata.namespace", "RFC 1123 label", "namespace-field"),
    _bad("Pod", "metadata.name", "p\x00", "metadata.name", "control characters", "nul-in-name"),
    _bad("Pod", f"{POD_C}.image", "busy\x00box", f"{POD_C}.image", "control characters", "nul-in-image"),
    _bad("Pod", f"{POD_C}.command", ["sh", "-c", "\x1b[2J"], f"{POD_C}.command[2]", "control characters",
         "escape-in-command"),
    _bad("Pod", "spec.unknownField", {"deep": ["ok", "bad\x07"]}, "spec.unknownField.deep[1]",
         "control characters", "control-char-in-unknown-field"),
    _bad("Pod", "metadata.labels", {"a\x00": "b"}, "metadata.labels", "control characters", "nul-in-key"),
    _bad("Pod", "metadata.annotations", {"note": "\ud800"}, "metadata.annotations.note", "control characters",
         "lone-surrogate"),
    _bad("Pod", "metadata.labels", {"bad key": "v"}, "metadata.labels", "name part must consist", "label-key-space"),
    _bad("Pod", "metadata.labels", {"a/b/c": "v"}, "metadata.labels", "prefix part", "label-key-two-slashes"),
    _bad("Pod", "metadata.labels", {"Example.com/a": "v"}, "metadata.labels", "prefix part", "label-prefix-case"),
    _bad("Pod", "metadata.labels", {"/a": "v"}, "metadata.labels", "prefix part must be non-empty",
         "label-empty-prefix"),
    _bad("Pod", "metadata.labels", {"x/": "v"}, "metadata.labels", "name part must be non-empty", "label-empty-name"),
    _bad("Pod", "metadata.labels", {"k" * 64: "v"}, "metadata.labels", "no more than 63", "label-key-too-long"),
    _bad("Pod", "metadata.labels", {"app": "v" * 64}, "metadata.labels", "no more than 63", "label-value-too-long"),
    _bad("Pod", "metadata.labels", {"app": "-web"}, "metadata.labels", "a valid label", "label-value-dash"),
    _bad("Pod", "metadata.labels", {"app": 1}, "metadata.labels.app", "expected a string", "label-value-int"),
    _bad("Pod", "metadata.annotations", {"bad key": "x"}, "metadata.annotations", "name part",
         "annotation-key"),
    _bad("Pod", "metadata.annotations", {"big": "x" * (256 * 1024 + 1)}, "metadata.annotations", "Too long",
         "annotations-too-big"),
    _bad("Pod", "metadata.generation", -1, "metadata.generation", "greater than or equal to 0", "negative-generation"),
    _bad("Pod", "metadata.resourceVersion", 42, "metadata.resourceVersion", "expected a string",
         "resource-version-int"),
    _bad("Pod", "metadata.ownerReferences", [
        {"apiVersion": "v1", "kind": "A", "name": "a", "uid": "1", "controller": True},
        {"apiVersion": "v1", "kind": "B", "name": "b", "uid": "2", "controller": True}],
        "metadata.ownerReferences", "Only one reference", "two-controllers"),
    _bad("Pod", "metadata.ownerReferences", [{"kind": "A", "name": "a"}], "metadata.ownerReferences[0].uid",
         "Required value", "owner-reference-missing-uid"),
    # plain-JSON checks (anywhere, even in fields we drop)
    _bad("Pod", "spec.terminationGracePeriodSeconds", float("nan"), "spec.terminationGracePeriodSeconds",
         "finite", "nan"),
    _bad("Pod", "spec.extra", float("inf"), "spec.extra", "finite", "inf-in-unknown-field"),
    _bad("Pod", "spec.extra", 2**64, "spec.extra", "64 bits", "huge-int"),
    # pod spec
    _bad("Pod", "spec", DELETE, "spec", "Required value", "spec-missing"),
    _bad("Pod", "spec", [], "spec", "expected an object", "spec-list"),
    _bad("Pod", "spec.containers", [], "spec.containers", "at least 1", "no-containers"),
    _bad("Pod", "spec.containers", [CONTAINER, CONTAINER], "spec.containers[1].name", "Duplicate value",
         "duplicate-container-names"),
    _bad("Pod", f"{POD_C}.name", "Web", f"{POD_C}.name", "RFC 1123 label", "container-name"),
    _bad("Pod", f"{POD_C}.image", "", f"{POD_C}.image", "at least 1 character", "empty-image"),
    _bad("Pod", f"{POD_C}.image", " busybox", f"{POD_C}.image", "whitespace", "image-whitespace"),
    _bad("Pod", f"{POD_C}.image", DELETE, f"{POD_C}.image", "Required value", "image-missing"),
    _bad("Pod", f"{POD_C}.imagePullPolicy", "Sometimes", f"{POD_C}.imagePullPolicy", "Unsupported value",
         "pull-policy"),
    _bad("Pod", f"{POD_C}.ports", [{"containerPort": 0}], f"{POD_C}.ports[0].containerPort",
         "greater than or equal to 1", "container-port-zero"),
    _bad("Pod", f"{POD_C}.ports", [{"containerPort": 65536}], f"{POD_C}.ports[0].containerPort",
         "less than or equal to 65535", "container-port-too-big"),
    _bad("Pod", f"{POD_C}.ports", [{"containerPort": "80"}], f"{POD_C}.ports[0].containerPort",
         "expected an integer, got string", "container-port-string"),
    _bad("Pod", f"{POD_C}.ports", [{"containerPort": 80, "hostPort": -1}], f"{POD_C}.ports[0].hostPort",
         "greater than or equal to 0", "host-port-negative"),
    _bad("Pod", f"{POD_C}.ports", [{"containerPort": 80, "protocol": "HTTP"}], f"{POD_C}.ports[0].protocol",
         "Unsupported value", "protocol"),
    _bad("Pod", f"{POD_C}.ports", [{"containerPort": 80, "name": "a-very-long-port-name"}],
         f"{POD_C}.ports[0].name", "no more than 15", "port-name-too-long"),
    _bad("Pod", f"{POD_C}.ports", [{"containerPort": 80, "name": "http"}, {"containerPort": 81, "name": "http"}],
         f"{POD_C}.ports[1].name", "Duplicate value", "duplicate-port-names"),
    _bad("Pod", "spec.containers", [{**CONTAINER, "ports": [{"containerPort": 80, "hostPort": 8080}]},
                                    {"name": "d", "image": "i", "ports": [{"containerPort": 81, "hostPort": 8080}]}],
         "spec.containers[1].ports.hostPort", "Duplicate value", "host-port-conflict"),
    _bad("Pod", f"{POD_C}.resources", {"requests": {"cpu": "1x"}}, f"{POD_C}.resources.requests.cpu",
         "must match the regular expression", "bad-cpu-quantity"),
    _bad("Pod", f"{POD_C}.resources", {"requests": {"memory": "64MB"}}, f"{POD_C}.resources.requests.memory",
         "must match", "bad-memory-quantity"),
    _bad("Pod", f"{POD_C}.resources", {"limits": {"cpu": "-1"}}, f"{POD_C}.resources.limits.cpu",
         "greater than or equal to 0", "negative-quantity"),
    _bad("Pod", f"{POD_C}.resources", {"limits": {"cpu": True}}, f"{POD_C}.resources.limits.cpu",
         "expected a quantity", "bool-quantity"),
    _bad("Pod", f"{POD_C}.resources", {"limits": {"bad name!": "1"}}, f"{POD_C}.resources.limits",
         "Invalid resource name", "bad-resource-name"),
    _bad("Pod", f"{POD_C}.resources", {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}},
         f"{POD_C}.resources.requests.cpu", "less than or equal to cpu limit", "request-over-limit"),
    _bad("Pod", f"{POD_C}.env", [{"name": "A=B", "value": "x"}], f"{POD_C}.env[0].name", "'='", "env-name"),
    _bad("Pod", f"{POD_C}.env", [{"value": "x"}], f"{POD_C}.env[0].name", "Required value", "env-no-name"),
    _bad("Pod", f"{POD_C}.env", [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels"}}}],
         f"{POD_C}.env[0].valueFrom.fieldRef.fieldPath", "Unsupported value", "env-field-path-unsupported"),
    _bad("Pod", f"{POD_C}.env", [{"name": "A", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
         f"{POD_C}.env[0].valueFrom", "may not be specified", "env-value-and-value-from"),
    _bad("Pod", f"{POD_C}.command", "sleep 5", f"{POD_C}.command", "expected an array", "command-string"),
    _bad("Pod", f"{POD_C}.livenessProbe", {"periodSeconds": 5}, f"{POD_C}.livenessProbe",
         "must specify a handler type", "probe-no-handler"),
    _bad("Pod", f"{POD_C}.livenessProbe", {"tcpSocket": {"port": 80}, "exec": {"command": ["true"]}},
         f"{POD_C}.livenessProbe", "exactly one handler", "probe-two-handlers"),
    _bad("Pod", f"{POD_C}.livenessProbe", {"tcpSocket": {"port": 80}, "periodSeconds": 0},
         f"{POD_C}.livenessProbe.periodSeconds", "greater than or equal to 1", "probe-period-zero"),
    _bad("Pod", f"{POD_C}.livenessProbe", {"tcpSocket": {"port": 80}, "successThreshold": 2},
         f"{POD_C}.livenessProbe.successThreshold", "must be 1", "liveness-success-threshold"),
    _bad("Pod", f"{POD_C}.readinessProbe", {"httpGet": {"port": 0}}, f"{POD_C}.readinessProbe.httpGet.port",
         "between 1 and 65535", "probe-port-zero"),
    _bad("Pod", f"{POD_C}.readinessProbe", {"httpGet": {"port": "Bad_Port"}},
         f"{POD_C}.readinessProbe.httpGet.port", "port name", "probe-port-name"),
    _bad("Pod", f"{POD_C}.readinessProbe", {"tcpSocket": {"port": True}}, f"{POD_C}.readinessProbe.tcpSocket.port",
         "expected a port number or a port name", "probe-port-bool"),
    _bad("Pod", f"{POD_C}.readinessProbe", {"exec": {"command": []}}, f"{POD_C}.readinessProbe.exec.command",
         "at least 1", "exec-empty-command"),
    _bad("Pod", "spec.restartPolicy", "Sometimes", "spec.restartPolicy", "Unsupported value", "restart-policy"),
    _bad("Pod", "spec.terminationGracePeriodSeconds", -1, "spec.terminationGracePeriodSeconds",
         "greater than or equal to 0", "negative-grace"),
    _bad("Pod", "spec.nodeName", "Node 1", "spec.nodeName", "RFC 1123 subdomain", "node-name"),
    _bad("Pod", "spec.nodeSelector", {"disk": "s s d"}, "spec.nodeSelector", "a valid label", "node-selector"),
    _bad("Pod", "spec.tolerations", [{"key": "k", "operator": "Exists", "value": "v"}], "spec.tolerations[0].value",
         "must be empty", "toleration-exists-with-value"),
    _bad("Pod", "spec.tolerations", [{"operator": "Equal", "value": "v"}], "spec.tolerations[0].operator",
         "must be 'Exists'", "toleration-no-key"),
    _bad("Pod", "spec.tolerations", [{"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5}],
         "spec.tolerations[0].effect", "NoExecute", "toleration-seconds"),
    _bad("Pod", "spec.tolerations", [{"key": "k", "effect": "Sometimes"}], "spec.tolerations[0].effect",
         "Unsupported value", "toleration-effect"),
    _bad("Pod", "spec.tolerations", [{"key": "bad key", "operator": "Exists"}], "spec.tolerations[0].key",
         "name part", "toleration-key"),
    _bad("Pod", "status.phase", "Sleeping", "status.phase", "Unsupported value", "pod-phase"),
    _bad("Pod", "status.containerStatuses", [{"name": "c", "restartCount": -1}],
         "status.containerStatuses[0].restartCount", "greater than or equal to 0", "negative-restart-count"),
    _bad("Pod", "status.conditions", [{"type": "Ready", "status": "Maybe"}], "status.conditions[0].status",
         "Unsupported value", "condition-status"),
    # deployment
    _bad("Deployment", "spec.replicas", -1, "spec.replicas", "must be greater than or equal to 0",
         "negative-replicas"),
    _bad("Deployment", "spec.replicas", "3", "spec.replicas", "expected an integer, got string", "replicas-string"),
    _bad("Deployment", "spec.replicas", True, "spec.replicas", "expected an integer, got boolean", "replicas-bool"),
    _bad("Deployment", "spec.replicas", 1.5, "spec.replicas", "expected an integer, got number", "replicas-float"),
    _bad("Deployment", "spec.replicas", 2**31, "spec.replicas", "less than or equal to 2147483647",
         "replicas-over-int32"),
    _bad("Deployment", "spec.replicas", None, "spec.replicas", "expected an integer, got null", "replicas-null"),
    _bad("Deployment", "spec.progressDeadlineSeconds", 0, "spec.progressDeadlineSeconds",
         "must be greater than minReadySeconds", "progress-deadline-not-above-min-ready"),
    _bad("ReplicaSet", "spec.selector", {"matchLabels": {"app": "db"}}, "spec.template.metadata.labels",
         "does not match", "rs-selector-mismatch"),
    _bad("ReplicaSet", "spec.selector", {}, "spec.selector", "empty selector", "rs-selector-empty"),
    _bad("ReplicaSet", "spec.replicas", -1, "spec.replicas", "must be greater than or equal to 0",
         "rs-negative-replicas"),
    _bad("ReplicaSet", f"{DEP_T}.spec.restartPolicy", "OnFailure", f"{DEP_T}.spec.restartPolicy",
         "supported values: 'Always'", "rs-template-restart-policy"),
    _bad("Deployment", "spec.selector", DELETE, "spec.selector", "Required value", "selector-missing"),
    _bad("Deployment", "spec.selector", {}, "spec.selector", "empty selector", "selector-empty"),
    _bad("Deployment", "spec.selector", {"matchLabels": {"app": "db"}}, "spec.template.metadata.labels",
         "does not match", "selector-mismatch"),
    _bad("Deployment", "spec.selector", {"matchExpressions": [{"key": "app", "operator": "In"}]}, "spec.selector",
         "values must be non-empty", "selector-in-without-values"),
    _bad("Deployment", "spec.selector", {"matchExpressions": [{"key": "app", "operator": "Near"}]},
         "spec.selector.matchExpressions[0].operator", "Unsupported value", "selector-operator"),
    _bad("Deployment", "spec.selector", {"matchLabels": {"bad key": "x"}}, "spec.selector", "name part",
         "selector-bad-key"),
    _bad("Deployment", f"{DEP_T}.metadata.labels", DELETE, f"{DEP_T}.metadata.labels", "does not match",
         "template-without-labels"),
    _bad("Deployment", f"{DEP_T}.spec.restartPolicy", "Never", f"{DEP_T}.spec.restartPolicy",
         "supported values: 'Always'", "template-restart-policy"),
    _bad("Deployment", f"{DEP_T}.spec.containers", [CONTAINER, CONTAINER], f"{DEP_T}.spec.containers[1].name",
         "Duplicate value", "template-duplicate-containers"),
    _bad("Deployment", "spec.strategy", {"type": "BlueGreen"}, "spec.strategy.type", "Unsupported value",
         "strategy-type"),
    _bad("Deployment", "spec.strategy", {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}},
         "spec.strategy.rollingUpdate", "may not be specified", "recreate-with-rolling-update"),
    _bad("Deployment", "spec.strategy.rollingUpdate", {"maxSurge": 0, "maxUnavailable": "0%"},
         "spec.strategy.rollingUpdate.maxUnavailable", "may not be 0 when `maxSurge` is 0", "both-zero"),
    _bad("Deployment", "spec.strategy.rollingUpdate", {"maxUnavailable": "150%"},
         "spec.strategy.rollingUpdate.maxUnavailable", "100%", "max-unavailable-over-100"),
    _bad("Deployment", "spec.strategy.rollingUpdate", {"maxSurge": "abc"}, "spec.strategy.rollingUpdate.maxSurge",
         "percentage", "max-surge-garbage"),
    _bad("Deployment", "spec.strategy.rollingUpdate", {"maxSurge": -1}, "spec.strategy.rollingUpdate.maxSurge",
         "greater than or equal to 0", "max-surge-negative"),
    _bad("Deployment", "spec.revisionHistoryLimit", -1, "spec.revisionHistoryLimit", "greater than or equal to 0",
         "history-negative"),
    _bad("Deployment", "spec.minReadySeconds", -5, "spec.minReadySeconds", "greater than or equal to 0",
         "min-ready-negative"),
    _bad("Deployment", "spec.paused", "yes", "spec.paused", "expected a boolean", "paused-string"),
    _bad("Deployment", "status.readyReplicas", -1, "status.readyReplicas", "greater than or equal to 0",
         "status-negative"),
    # service
    _bad("Service", "spec.ports", [], "spec.ports", "at least 1", "no-ports"),
    _bad("Service", "spec.ports", [{"port": 0}], "spec.ports[0].port", "greater than or equal to 1", "port-zero"),
    _bad("Service", "spec.ports", [{"port": 65536}], "spec.ports[0].port", "less than or equal to 65535",
         "port-too-big"),
    _bad("Service", "spec.ports", [{"port": 80}, {"port": 81}], "spec.ports[0].name", "Required value",
         "unnamed-ports"),
    _bad("Service", "spec.ports", [{"name": "a", "port": 80}, {"name": "a", "port": 81}], "spec.ports[1].name",
         "Duplicate value", "duplicate-port-names"),
    _bad("Service", "spec.ports", [{"name": "a", "port": 80}, {"name": "b", "port": 80}], "spec.ports[1].port",
         "Duplicate value", "duplicate-ports"),
    _bad("Service", "spec.ports", [{"port": 80, "nodePort": 30080}], "spec.ports[0].nodePort",
         "may not be used when `type` is 'ClusterIP'", "node-port-on-cluster-ip"),
    _bad("Service", "spec.ports", [{"port": 80, "targetPort": "Bad_Name"}], "spec.ports[0].targetPort",
         "port name", "target-port-name"),
    _bad("Service", "spec.type", "LoadBalancer", "spec.type", "Unsupported value", "service-type"),
    _bad("Service", "spec.selector", {"app": "bad value"}, "spec.selector", "a valid label", "service-selector"),
    # node
    _bad("Node", "spec.taints", [{"key": "k", "effect": "Sometimes"}], "spec.taints[0].effect", "Unsupported value",
         "taint-effect"),
    _bad("Node", "spec.taints", [{"key": "k"}], "spec.taints[0].effect", "Required value", "taint-no-effect"),
    _bad("Node", "spec.taints", [{"key": "k", "effect": "NoSchedule"}, {"key": "k", "effect": "NoSchedule"}],
         "spec.taints[1]", "Duplicate value", "duplicate-taints"),
    _bad("Node", "spec.unschedulable", "true", "spec.unschedulable", "expected a boolean", "unschedulable-string"),
    _bad("Node", "status.capacity", {"cpu": "lots"}, "status.capacity.cpu", "must match", "capacity-quantity"),
    _bad("Node", "status.addresses", [{"type": "Public", "address": "x"}], "status.addresses[0].type",
         "Unsupported value", "address-type"),
    _bad("Node", "metadata.name", "Node_1", "metadata.name", "RFC 1123 subdomain", "node-name"),
    # config map, endpoints, event
    _bad("ConfigMap", "data", {"bad key": "x"}, "data", "valid config key", "config-key"),
    _bad("ConfigMap", "data", {"..": "x"}, "data", "valid config key", "config-key-dotdot"),
    _bad("ConfigMap", "data", {"k": 1}, "data.k", "expected a string", "config-value-int"),
    _bad("ConfigMap", "binaryData", {"k": "not base64!"}, "binaryData.k", "base64", "binary-not-base64"),
    _bad("ConfigMap", "data", {"k": "x" * (1024 * 1024 + 1)}, "<root>", "Too long", "config-too-big"),
    _bad("Endpoints", "subsets", [{"addresses": [{"ip": "not-an-ip"}]}], "subsets[0].addresses[0].ip",
         "valid IP address", "endpoint-ip"),
    _bad("Endpoints", "subsets", [{"ports": [{"port": 0}]}], "subsets[0].ports[0].port",
         "greater than or equal to 1", "endpoint-port"),
    _bad("Event", "involvedObject", DELETE, "involvedObject", "Required value", "event-no-object"),
    _bad("Event", "type", "Error", "type", "Unsupported value", "event-type"),
    _bad("Event", "count", -1, "count", "greater than or equal to 0", "event-count"),
]


@pytest.mark.parametrize(("kind", "body", "field", "text"), BAD)
def test_invalid_input_is_422_naming_the_field(kind: str, body: dict[str, Any], field: str, text: str) -> None:
    with pytest.raises(Invalid) as info:
        validate(kind, body)
    err = info.value
    assert err.code == 422
    assert f"{field}: " in err.message and text in err.message, err.message
    assert field in [cause["field"] for cause in err.details["causes"]]
    assert err.details["kind"] == kind


def test_message_format_matches_kubernetes() -> None:
    with pytest.raises(Invalid) as info:
        validate("Deployment", with_(MINIMAL["Deployment"], "spec.replicas", -1))
    assert info.value.message == 'Deployment.apps "web" is invalid: spec.replicas: must be greater than or equal to 0'
    assert info.value.details == {"name": "web", "group": "apps", "kind": "Deployment", "causes": [
        {"reason": "FieldValueInvalid", "message": "must be greater than or equal to 0", "field": "spec.replicas"}]}


def test_several_errors_are_listed_together() -> None:
    body = with_(with_(MINIMAL["Pod"], "spec.restartPolicy", "Sometimes"), "spec.terminationGracePeriodSeconds", -1)
    with pytest.raises(Invalid) as info:
        validate("Pod", body)
    assert info.value.message.startswith('Pod "p" is invalid: [spec.restartPolicy: Unsupported value: "Sometimes"')
    assert len(info.value.details["causes"]) == 2


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        pytest.param("Pod", {**MINIMAL["Pod"], "apiVersion": "apps/v1"}, id="wrong-api-version"),
        pytest.param("Pod", {**MINIMAL["Pod"], "kind": "Deployment"}, id="wrong-kind"),
        pytest.param("Pod", {**MINIMAL["Pod"], "kind": "pod"}, id="kind-case"),
        pytest.param("Deployment", {**MINIMAL["Deployment"], "apiVersion": "extensions/v1beta1"}, id="old-group"),
        pytest.param("Pod", {**MINIMAL["Pod"], "apiVersion": 1}, id="api-version-int"),
    ],
)
def test_api_version_and_kind_must_agree(kind: str, body: dict[str, Any]) -> None:
    with pytest.raises(Invalid):
        validate(kind, body)


def test_explicit_matching_api_version_and_kind_are_fine() -> None:
    out, _ = validate("Deployment", {**MINIMAL["Deployment"], "apiVersion": "apps/v1", "kind": "Deployment"})
    assert out["kind"] == "Deployment"


@pytest.mark.parametrize("body", [pytest.param(b, id=type(b).__name__) for b in ([], "pod", 1, None, True, 1.5)])
def test_non_object_body_is_bad_request(body: Any) -> None:
    with pytest.raises(BadRequest):
        validate("Pod", body)


def test_unknown_kind_is_not_found() -> None:
    with pytest.raises(NotFound):
        validate("Widget", {})


def test_deep_nesting_is_refused_without_recursion_error() -> None:
    deep: Any = "x"
    for _ in range(10_000):
        deep = [deep]
    with pytest.raises(Invalid, match="nested"):
        validate("Pod", {**MINIMAL["Pod"], "extra": deep})


# --- registry -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "kind"),
    [
        pytest.param("Pod", "Pod", id="kind"), pytest.param("pods", "Pod", id="plural"),
        pytest.param("pod", "Pod", id="singular"), pytest.param("po", "Pod", id="short"),
        pytest.param("PODS", "Pod", id="upper"), pytest.param("deploy", "Deployment", id="deploy"),
        pytest.param("deployments.apps", "Deployment", id="plural-group"), pytest.param("svc", "Service", id="svc"),
        pytest.param("ep", "Endpoints", id="ep"), pytest.param("endpoints", "Endpoints", id="endpoints"),
        pytest.param("cm", "ConfigMap", id="cm"), pytest.param("ns", "Namespace", id="ns"),
        pytest.param("no", "Node", id="no"), pytest.param("ev", "Event", id="ev"),
        pytest.param("configmap", "ConfigMap", id="configmap"),
    ],
)
def test_lookup(name: str, kind: str) -> None:
    assert lookup(name).kind == kind


@pytest.mark.parametrize("name", ["widgets", "", "pods.apps", "deployments.core"])
def test_lookup_unknown_is_not_found_and_lists_known_types(name: str) -> None:
    with pytest.raises(NotFound, match="deployments \\(deploy\\)"):
        lookup(name)


@pytest.mark.parametrize(
    ("kind", "plural", "prefix", "namespaced", "has_status"),
    [
        pytest.param("Namespace", "namespaces", "/api/v1", False, True, id="Namespace"),
        pytest.param("Node", "nodes", "/api/v1", False, True, id="Node"),
        pytest.param("ConfigMap", "configmaps", "/api/v1", True, False, id="ConfigMap"),
        pytest.param("Pod", "pods", "/api/v1", True, True, id="Pod"),
        pytest.param("Service", "services", "/api/v1", True, True, id="Service"),
        pytest.param("Endpoints", "endpoints", "/api/v1", True, False, id="Endpoints"),
        pytest.param("Event", "events", "/api/v1", True, False, id="Event"),
        pytest.param("Deployment", "deployments", "/apis/apps/v1", True, True, id="Deployment"),
    ],
)
def test_kind_table(kind: str, plural: str, prefix: str, namespaced: bool, has_status: bool) -> None:
    info = KINDS[kind]
    assert (info.plural, info.prefix, info.namespaced, info.has_status) == (plural, prefix, namespaced, has_status)
    assert info.list_kind == f"{kind}List"
    assert by_path(prefix, plural) is info


def test_by_path_misses() -> None:
    assert by_path("/api/v1", "deployments") is None
    assert by_path("/apis/apps/v1", "pods") is None
    assert by_path("/api/v1", "widgets") is None


# --- fuzzing --------------------------------------------------------------------------------------

def _model_keys() -> list[str]:
    keys: set[str] = set()
    seen: set[type] = set()

    def walk(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation in seen:
                return
            seen.add(annotation)
            for name, field in annotation.model_fields.items():
                keys.add(field.alias or name)
                walk(field.annotation)
        for arg in typing.get_args(annotation):
            walk(arg)

    for info in KINDS.values():
        walk(info.model)
    return sorted(keys)


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-2, max_value=70000), st.floats(),
    st.text(max_size=12),
    st.sampled_from(["v1", "apps/v1", "Pod", "web", "app", "100m", "64Mi", "25%", "0%", "Always", "TCP", "In",
                     "Exists", "NoSchedule", "NoExecute", "True", "http", "", "Recreate", "NodePort", "a=b",
                     "127.0.0.1", "Bad_Name", "\x00"]),
)
_keys = st.one_of(st.sampled_from(_model_keys()), st.text(max_size=6))
json_values = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=5), max_leaves=30
)
_VALID = [p.values[0] for p in MANIFESTS] + [{**body, "kind": kind} for kind, body in MINIMAL.items()]


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for key, value in obj.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            out += _paths(value, (*prefix, i))
    return out


@st.composite
def mutated_manifests(draw: st.DrawFn) -> tuple[str, Any]:
    """A valid object with one to three values replaced by arbitrary JSON, or removed."""
    doc = copy.deepcopy(draw(st.sampled_from(_VALID)))
    kind = doc["kind"]
    for _ in range(draw(st.integers(1, 2))):
        paths = [p for p in _paths(doc) if len(p) > 2] or _paths(doc)  # deep paths reach more validators
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        if draw(st.integers(0, 4)) == 0 and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(st.one_of(_scalars, json_values))
    return kind, doc


def _validate_or_haplane_error(kind: str, body: Any) -> tuple[dict[str, Any], list[str]] | None:
    try:
        return validate(kind, body)
    except HaplaneError:
        return None


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(KINDS)), json_values)
def test_arbitrary_json_only_raises_haplane_errors(kind: str, body: Any) -> None:
    _validate_or_haplane_error(kind, body)
    try:
        validate_scale(body)
    except HaplaneError:
        pass


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_manifests())
def test_mutated_manifests_only_raise_haplane_errors_and_results_are_fixed_points(case: tuple[str, Any]) -> None:
    kind, body = case
    result = _validate_or_haplane_error(kind, body)
    if result is not None:
        out, _ = result
        assert validate(kind, out) == (out, [])
