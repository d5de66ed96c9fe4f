"""The official Kubernetes clients — ``kubernetes`` (sync) and ``kubernetes_asyncio`` — against 3
HTTPS replicas and 2 agents, with the kubeconfig kubectl uses.

Both clients deserialize every response into typed models (pydantic, strict): each call below
passes only if what haplane returns is what Kubernetes would (timestamps, int-or-string ports,
lists, Status on errors → ApiException with the right code and reason). Each case is one call
(or a short sequence) and asserts on the typed result or on what the API then holds.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import kubernetes
import kubernetes_asyncio
import pytest
from kubernetes import client as k8s
from kubernetes import watch as k8s_watch
from kubernetes.client.rest import ApiException

from haplane import kubeconfig
from tests.kube.conftest import KubeCluster

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@pytest.fixture(scope="module")
def api(kube: KubeCluster) -> Iterator[k8s.ApiClient]:
    client = kubernetes.config.new_client_from_config(config_file=kube.kubeconfig)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="module")
def ns(api: k8s.ApiClient) -> Iterator[str]:
    name = f"clients-{uuid.uuid4().hex[:6]}"
    k8s.CoreV1Api(api).create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    yield name


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def status_of(exc: ApiException) -> dict[str, Any]:
    return json.loads(exc.body)


# ------------------------------------------------------------------------------ CoreV1Api


def cm_body(name: str, **data: str) -> k8s.V1ConfigMap:
    return k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name=name, labels={"t": "clients"}), data=data or {"k": "v"})


def test_namespace_create_read_list_replace_patch_delete(api: k8s.ApiClient) -> None:
    v1 = k8s.CoreV1Api(api)
    name = uniq("ns")
    created = v1.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    assert created.metadata.name == name and created.metadata.uid and created.metadata.creation_timestamp is not None
    assert created.metadata.creation_timestamp.tzinfo is not None
    read = v1.read_namespace(name)
    assert read.metadata.resource_version == created.metadata.resource_version
    assert name in {n.metadata.name for n in v1.list_namespace().items}
    read.metadata.labels = {"tier": "a"}
    replaced = v1.replace_namespace(name, read)
    assert replaced.metadata.labels == {"tier": "a"}
    patched = v1.patch_namespace(name, {"metadata": {"labels": {"tier": "b"}}}, _content_type=MERGE)
    assert patched.metadata.labels == {"tier": "b"}
    v1.delete_namespace(name)
    with pytest.raises(ApiException) as exc:
        v1.read_namespace(name)
    assert exc.value.status == 404


@pytest.mark.parametrize(("call", "status", "reason"), [
    pytest.param(lambda v1, ns, name: v1.read_namespaced_config_map("missing", ns), 404, "NotFound", id="read-missing"),
    pytest.param(lambda v1, ns, name: v1.create_namespaced_config_map(ns, cm_body(name)), 409, "AlreadyExists",
                 id="create-twice"),
    pytest.param(lambda v1, ns, name: v1.replace_namespaced_config_map(
        name, ns, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name=name, resource_version="1"), data={"k": "x"})),
        409, "Conflict", id="replace-stale-resource-version"),
    pytest.param(lambda v1, ns, name: v1.delete_namespaced_config_map(
        name, ns, body=k8s.V1DeleteOptions(preconditions=k8s.V1Preconditions(uid="not-the-uid"))),
        409, "Conflict", id="delete-wrong-uid"),
    pytest.param(lambda v1, ns, name: v1.create_namespaced_config_map(
        ns, k8s.V1ConfigMap(metadata=k8s.V1ObjectMeta(name="Not_A_Name"))), 422, "Invalid", id="invalid-name"),
    pytest.param(lambda v1, ns, name: v1.patch_namespaced_config_map(name, ns, [{"op": "remove", "path": "/nope"}],
                                                                     _content_type=JSON_PATCH),
                 422, "Invalid", id="json-patch-bad-path"),
])
def test_errors_are_api_exceptions_with_kubernetes_reasons(api: k8s.ApiClient, ns: str, call: Callable[..., Any],
                                                            status: int, reason: str) -> None:
    v1 = k8s.CoreV1Api(api)
    name = uniq("cm")
    v1.create_namespaced_config_map(ns, cm_body(name))
    with pytest.raises(ApiException) as exc:
        call(v1, ns, name)
    assert exc.value.status == status, exc.value.body
    body = status_of(exc.value)
    assert body["kind"] == "Status" and body["reason"] == reason and body["code"] == status
    assert v1.read_namespaced_config_map(name, ns).data == {"k": "v"}  # nothing changed


def test_forbidden_for_a_viewer(kube: KubeCluster, ns: str, tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(str(tmp_path), "viewer-kubeconfig")
    with open(str(kube.lc.ca_file), "rb") as f:
        kubeconfig.write(path, kubeconfig.render(kube.lc.endpoints[1], kube.lc.token("viewer"), f.read()))
    with kubernetes.config.new_client_from_config(config_file=path) as viewer:
        v1 = k8s.CoreV1Api(viewer)
        assert v1.list_namespaced_config_map(ns).kind == "ConfigMapList"
        with pytest.raises(ApiException) as exc:
            v1.create_namespaced_config_map(ns, cm_body(uniq("cm")))
    assert exc.value.status == 403
    body = status_of(exc.value)
    assert body["reason"] == "Forbidden" and body["details"] == {"group": "", "kind": "configmaps"}
    assert body["message"] == (f'configmaps is forbidden: User "viewer" cannot create resource "configmaps" in API '
                               f'group "" in the namespace "{ns}"')


def test_configmap_crud_and_patches(api: k8s.ApiClient, ns: str) -> None:
    v1 = k8s.CoreV1Api(api)
    name = uniq("cm")
    created = v1.create_namespaced_config_map(ns, cm_body(name, a="1"))
    assert created.data == {"a": "1"}
    created.data["b"] = "2"
    replaced = v1.replace_namespaced_config_map(name, ns, created)
    assert replaced.data == {"a": "1", "b": "2"}
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
    merged = v1.patch_namespaced_config_map(name, ns, {"data": {"a": None, "c": "3"}}, _content_type=MERGE)
    assert merged.data == {"b": "2", "c": "3"}
    jsonp = v1.patch_namespaced_config_map(name, ns, [{"op": "replace", "path": "/data/b", "value": "22"}],
                                           _content_type=JSON_PATCH)
    assert jsonp.data == {"b": "22", "c": "3"}
    listed = v1.list_namespaced_config_map(ns, label_selector="t=clients", field_selector=f"metadata.name={name}")
    assert [c.metadata.name for c in listed.items] == [name] and listed.metadata.resource_version
    status = v1.delete_namespaced_config_map(name, ns)
    assert status is not None
    assert name not in {c.metadata.name for c in v1.list_namespaced_config_map(ns).items}


def test_watch_with_resume_from_a_resource_version(api: k8s.ApiClient, ns: str) -> None:
    v1 = k8s.CoreV1Api(api)
    start = v1.list_namespaced_config_map(ns).metadata.resource_version
    names = [uniq("w") for _ in range(3)]
    for n in names:
        v1.create_namespaced_config_map(ns, cm_body(n))
    w = k8s_watch.Watch()
    seen: list[tuple[str, str, str]] = []
    for ev in w.stream(v1.list_namespaced_config_map, ns, resource_version=start, timeout_seconds=10):
        obj = ev["object"]
        assert isinstance(obj, k8s.V1ConfigMap)
        seen.append((ev["type"], obj.metadata.name, obj.metadata.resource_version))
        if len(seen) == 3:
            w.stop()
    assert [(t, n) for t, n, _ in seen] == [("ADDED", n) for n in names]
    # Resume after the first event: the two that followed it, then a change made meanwhile.
    v1.patch_namespaced_config_map(names[0], ns, {"data": {"k": "changed"}}, _content_type=MERGE)
    resumed: list[tuple[str, str]] = []
    w = k8s_watch.Watch()
    for ev in w.stream(v1.list_namespaced_config_map, ns, resource_version=seen[0][2], timeout_seconds=10):
        resumed.append((ev["type"], ev["object"].metadata.name))
        if len(resumed) == 3:
            w.stop()
    assert resumed == [("ADDED", names[1]), ("ADDED", names[2]), ("MODIFIED", names[0])]


def test_pod_runs_and_its_status_deserializes(api: k8s.ApiClient, ns: str) -> None:
    v1 = k8s.CoreV1Api(api)
    name = uniq("pod")
    pod = k8s.V1Pod(metadata=k8s.V1ObjectMeta(name=name, labels={"app": name}), spec=k8s.V1PodSpec(
        termination_grace_period_seconds=1,
        containers=[k8s.V1Container(name="main", image="busybox:local", command=["sleep", "300"],
                                    ports=[k8s.V1ContainerPort(name="http", container_port=8080)])]))
    created = v1.create_namespaced_pod(ns, pod)
    assert created.spec.containers[0].ports[0].container_port == 8080
    w = k8s_watch.Watch()
    running = None
    for ev in w.stream(v1.list_namespaced_pod, ns, field_selector=f"metadata.name={name}",
                       resource_version=created.metadata.resource_version, timeout_seconds=30):
        if ev["object"].status and ev["object"].status.phase == "Running":
            running = ev["object"]
            w.stop()
    assert running is not None, "the pod never ran"
    read = v1.read_namespaced_pod(name, ns)
    assert read.spec.node_name in ("n1", "n2")
    assert read.status.start_time is not None and read.status.start_time.tzinfo is not None
    cs = read.status.container_statuses[0]
    assert cs.name == "main" and cs.state.running is not None and cs.state.running.started_at is not None
    assert {c.type for c in read.status.conditions} >= {"PodScheduled", "Ready"}
    on_node = v1.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={read.spec.node_name}")
    assert name in {p.metadata.name for p in on_node.items}
    read_status = v1.read_namespaced_pod_status(name, ns)
    assert read_status.status.phase == "Running"
    v1.delete_namespaced_pod(name, ns, body=k8s.V1DeleteOptions(grace_period_seconds=0))


def test_service_ports_int_or_string(api: k8s.ApiClient, ns: str) -> None:
    v1 = k8s.CoreV1Api(api)
    name = uniq("svc")
    svc = k8s.V1Service(metadata=k8s.V1ObjectMeta(name=name), spec=k8s.V1ServiceSpec(
        selector={"app": name}, ports=[k8s.V1ServicePort(name="http", port=80, target_port="http"),
                                       k8s.V1ServicePort(name="raw", port=81, target_port=8081)]))
    created = v1.create_namespaced_service(ns, svc)
    ports = {p.name: p for p in created.spec.ports}
    assert ports["http"].target_port == "http" and ports["raw"].target_port == 8081
    assert ports["http"].protocol == "TCP"
    read = v1.read_namespaced_service(name, ns)
    assert [p.port for p in read.spec.ports] == [80, 81]
    patched = v1.patch_namespaced_service(name, ns, {"metadata": {"labels": {"x": "y"}}}, _content_type=MERGE)
    assert patched.metadata.labels == {"x": "y"}
    assert name in {s.metadata.name for s in v1.list_service_for_all_namespaces().items}
    v1.delete_namespaced_service(name, ns)


def test_nodes_list_read_patch(api: k8s.ApiClient) -> None:
    v1 = k8s.CoreV1Api(api)
    nodes = v1.list_node()
    assert sorted(n.metadata.name for n in nodes.items) == ["n1", "n2"]
    node = v1.read_node("n1")
    ready = [c for c in node.status.conditions if c.type == "Ready"]
    assert ready and ready[0].status == "True" and ready[0].last_heartbeat_time is not None
    assert node.status.capacity["cpu"] and node.status.node_info.kubelet_version
    label = uniq("l")
    patched = v1.patch_node("n1", {"metadata": {"labels": {"clients-test": label}}}, _content_type=MERGE)
    assert patched.metadata.labels["clients-test"] == label
    assert [n.metadata.name for n in v1.list_node(label_selector=f"clients-test={label}").items] == ["n1"]
    v1.patch_node("n1", {"metadata": {"labels": {"clients-test": None}}}, _content_type=MERGE)


def test_events_list_deserializes(api: k8s.ApiClient) -> None:
    events = k8s.CoreV1Api(api).list_event_for_all_namespaces(limit=50)
    assert events.items, "no events at all"
    assert all(e.involved_object is not None and e.metadata.name for e in events.items)


# ------------------------------------------------------------------------------ AppsV1Api


def deployment(name: str, replicas: int) -> k8s.V1Deployment:
    labels = {"app": name}
    return k8s.V1Deployment(metadata=k8s.V1ObjectMeta(name=name), spec=k8s.V1DeploymentSpec(
        replicas=replicas, selector=k8s.V1LabelSelector(match_labels=labels),
        strategy=k8s.V1DeploymentStrategy(type="RollingUpdate", rolling_update=k8s.V1RollingUpdateDeployment(
            max_surge="25%", max_unavailable=0)),
        template=k8s.V1PodTemplateSpec(metadata=k8s.V1ObjectMeta(labels=labels), spec=k8s.V1PodSpec(
            termination_grace_period_seconds=1,
            containers=[k8s.V1Container(name="main", image="busybox:local", command=["sleep", "300"])]))))


def test_deployment_create_scale_patch_status_delete(api: k8s.ApiClient, ns: str) -> None:
    apps = k8s.AppsV1Api(api)
    name = uniq("dep")
    created = apps.create_namespaced_deployment(ns, deployment(name, 1))
    assert created.spec.strategy.rolling_update.max_surge == "25%"
    assert created.spec.strategy.rolling_update.max_unavailable == 0
    assert name in {d.metadata.name for d in apps.list_namespaced_deployment(ns).items}
    assert name in {d.metadata.name for d in apps.list_deployment_for_all_namespaces().items}
    scale = apps.read_namespaced_deployment_scale(name, ns)
    assert scale.spec.replicas == 1
    scale.spec.replicas = 2
    assert apps.replace_namespaced_deployment_scale(name, ns, scale).spec.replicas == 2
    patched = apps.patch_namespaced_deployment(name, ns, {"metadata": {"labels": {"x": "1"}}}, _content_type=MERGE)
    assert patched.spec.replicas == 2 and patched.metadata.labels == {"x": "1"}
    w = k8s_watch.Watch()
    done = None
    for ev in w.stream(apps.list_namespaced_deployment, ns, field_selector=f"metadata.name={name}",
                       timeout_seconds=60):
        st = ev["object"].status
        if st and st.ready_replicas == 2 and st.observed_generation == ev["object"].metadata.generation:
            done = ev["object"]
            w.stop()
    assert done is not None, "the deployment never had 2 ready replicas"
    assert done.status.replicas == 2
    read = apps.read_namespaced_deployment_status(name, ns)
    assert read.status.ready_replicas == 2
    current = apps.read_namespaced_deployment(name, ns)
    current.spec.replicas = 1
    assert apps.replace_namespaced_deployment(name, ns, current).spec.replicas == 1
    apps.delete_namespaced_deployment(name, ns, body=k8s.V1DeleteOptions(propagation_policy="Background"))
    with pytest.raises(ApiException) as exc:
        apps.read_namespaced_deployment(name, ns)
    assert exc.value.status == 404 and status_of(exc.value)["reason"] == "NotFound"


def test_replicasets_of_a_deployment(api: k8s.ApiClient, ns: str) -> None:
    apps = k8s.AppsV1Api(api)
    name = uniq("rsdep")
    dep = apps.create_namespaced_deployment(ns, deployment(name, 1))
    w = k8s_watch.Watch()
    owned = None
    for ev in w.stream(apps.list_namespaced_replica_set, ns, label_selector=f"app={name}", timeout_seconds=30):
        rs = ev["object"]
        if any(o.uid == dep.metadata.uid and o.controller for o in rs.metadata.owner_references or []):
            owned = rs
            w.stop()
    assert owned is not None, "no ReplicaSet owned by the Deployment"
    assert owned.metadata.labels["pod-template-hash"] and owned.spec.replicas == 1
    assert owned.metadata.annotations["deployment.kubernetes.io/revision"] == "1"
    read = apps.read_namespaced_replica_set(owned.metadata.name, ns)
    assert read.spec.selector.match_labels["app"] == name
    assert owned.metadata.name in {r.metadata.name for r in apps.list_replica_set_for_all_namespaces().items}
    apps.delete_namespaced_deployment(name, ns)


def test_strategic_merge_patch_is_the_default_for_objects(api: k8s.ApiClient, ns: str) -> None:
    """A dict body goes out as application/strategic-merge-patch+json (the client's default): lists
    merge by their Kubernetes merge keys — containers by name, env by name."""
    apps = k8s.AppsV1Api(api)
    name = uniq("smp")
    dep = deployment(name, 0)
    dep.spec.template.spec.containers.append(k8s.V1Container(
        name="side", image="busybox:local", command=["sleep", "300"], env=[k8s.V1EnvVar(name="A", value="1")]))
    apps.create_namespaced_deployment(ns, dep)
    patched = apps.patch_namespaced_deployment(name, ns, {"spec": {"template": {"spec": {"containers": [
        {"name": "side", "image": "busybox:other", "env": [{"name": "B", "value": "2"}]}]}}}})
    containers = {c.name: c for c in patched.spec.template.spec.containers}
    assert set(containers) == {"main", "side"}
    assert containers["side"].image == "busybox:other" and containers["main"].image == "busybox:local"
    assert {e.name: e.value for e in containers["side"].env} == {"A": "1", "B": "2"}
    jsonp = apps.patch_namespaced_deployment(name, ns, [{"op": "replace", "path": "/spec/replicas", "value": 0}])
    assert jsonp.spec.replicas == 0
    cm = uniq("smpcm")
    k8s.CoreV1Api(api).create_namespaced_config_map(ns, cm_body(cm))
    assert k8s.CoreV1Api(api).patch_namespaced_config_map(cm, ns, {"data": {"x": "y"}}).data == {"k": "v", "x": "y"}
    apps.delete_namespaced_deployment(name, ns)


# ------------------------------------------------------------------------------ kubernetes_asyncio


def test_asyncio_client(kube: KubeCluster, ns: str) -> None:
    async def run() -> None:
        from kubernetes_asyncio import client as ak8s
        from kubernetes_asyncio import config as aconfig
        from kubernetes_asyncio import watch as awatch

        cfg = ak8s.Configuration()
        await aconfig.load_kube_config(config_file=kube.kubeconfig, client_configuration=cfg)
        async with ak8s.ApiClient(cfg) as api:
            v1 = ak8s.CoreV1Api(api)
            apps = ak8s.AppsV1Api(api)
            start = (await v1.list_namespaced_config_map(ns)).metadata.resource_version
            name = uniq("acm")
            created = await v1.create_namespaced_config_map(ns, {"metadata": {"name": name}, "data": {"k": "v"}})
            assert created.metadata.name == name
            read = await v1.read_namespaced_config_map(name, ns)
            read.data["k"] = "w"
            assert (await v1.replace_namespaced_config_map(name, ns, read)).data == {"k": "w"}
            merged = await v1.patch_namespaced_config_map(name, ns, {"data": {"z": "1"}}, _content_type=MERGE)
            assert merged.data == {"k": "w", "z": "1"}
            events = []
            w = awatch.Watch()
            async with w.stream(v1.list_namespaced_config_map, ns, resource_version=start, timeout_seconds=10,
                                field_selector=f"metadata.name={name}") as s:
                async for ev in s:
                    events.append((ev["type"], ev["object"].metadata.name))
                    if len(events) == 3:
                        w.stop()
            assert events == [("ADDED", name), ("MODIFIED", name), ("MODIFIED", name)]
            await v1.delete_namespaced_config_map(name, ns)
            try:
                await v1.read_namespaced_config_map(name, ns)
                raise AssertionError("still there")
            except ak8s.ApiException as exc:
                assert exc.status == 404 and json.loads(exc.body)["reason"] == "NotFound"
            nodes = await v1.list_node()
            assert sorted(n.metadata.name for n in nodes.items) == ["n1", "n2"]
            dep = uniq("adep")
            await apps.create_namespaced_deployment(ns, api.sanitize_for_serialization(deployment(dep, 1)))
            assert (await apps.read_namespaced_deployment(dep, ns)).spec.replicas == 1
            await apps.delete_namespaced_deployment(dep, ns)

    asyncio.run(run())


def test_asyncio_client_version_is_pinned() -> None:
    assert kubernetes_asyncio.__version__.startswith("36.")
