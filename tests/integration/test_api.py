"""The HTTP API on a live cluster: bad input gets a 4xx Status and changes nothing; roles; shapes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import aiohttp
import pytest

from haplane.localcluster import LocalCluster
from tests.integration.conftest import running_cluster

CM = "/api/v1/namespaces/default/configmaps"
DEPLOY = "/apis/apps/v1/namespaces/default/deployments"


@pytest.fixture(scope="module")
def api_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running_cluster(tmp_path_factory.mktemp("api")) as lc:
        yield lc


async def call(lc: LocalCluster, method: str, path: str, *, role: str | None = "admin", body: object = None,
               raw: bytes | None = None, ctype: str = "application/json", replica: str = "r1",
               headers: dict | None = None) -> tuple[int, dict, aiohttp.typedefs.LooseHeaders]:
    h = dict(headers or {})
    if role:
        h["Authorization"] = f"Bearer {lc.token(role)}"
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    if data is not None:
        h["Content-Type"] = ctype
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as s:
        async with s.request(method, lc.members[replica].url + path, data=data, headers=h) as r:
            text = await r.text()
            try:
                doc = json.loads(text)
            except ValueError:
                doc = {"raw": text}
            return r.status, doc, r.headers


def cm(name: str, **data: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def deployment(name: str, replicas: object = 1) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox:local"}]}}}}


async def revision(lc: LocalCluster) -> str:
    status, doc, _ = await call(lc, "GET", CM)
    assert status == 200
    return doc["metadata"]["resourceVersion"]


BAD_INPUTS = [
    pytest.param("POST", CM, dict(raw=b'{"kind": "ConfigMap", "metadata": '), 400, id="malformed-json"),
    pytest.param("POST", CM, dict(raw=b"\xff\xfe not utf8"), 400, id="not-utf8"),
    pytest.param("POST", CM, dict(raw=b'{"metadata": {"name": "a\\u0000b"}}'), 400, id="nul-escape"),
    pytest.param("POST", CM, dict(raw=b'{"metadata": {"name": "x"}, "data": {"a": NaN}}'), 400, id="nan"),
    pytest.param("POST", CM, dict(raw=b"[" * 5000 + b"]" * 5000), 400, id="deeply-nested"),
    pytest.param("POST", CM, dict(raw=b'{"a": ' + b'"x"' + b"}", ctype="text/plain"), 415, id="wrong-content-type"),
    pytest.param("POST", CM, dict(raw=b'{"metadata": {"name": "' + b"x" * (1024 * 1024 + 10) + b'"}}'), 413,
                 id="body-over-1MiB"),
    pytest.param("POST", CM, dict(body=cm("Not_A_DNS_Name")), 422, id="name-not-dns1123"),
    pytest.param("POST", CM, dict(body={"kind": "ConfigMap", "metadata": {}}), 422, id="missing-name"),
    pytest.param("POST", CM, dict(body={"kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": 1}}), 422,
                 id="wrong-type"),
    pytest.param("POST", CM, dict(body={"kind": "Pod", "metadata": {"name": "x"}}), 422, id="kind-mismatch"),
    pytest.param("POST", CM, dict(body=["not", "an", "object"]), 400, id="not-an-object"),
    pytest.param("POST", DEPLOY, dict(body=deployment("neg", -1)), 422, id="negative-replicas"),
    pytest.param("POST", DEPLOY, dict(body=deployment("str", "3")), 422, id="replicas-as-string"),
    pytest.param("POST", "/api/v1/namespaces/default/gizmos", dict(body={}), 404, id="unknown-kind"),
    pytest.param("POST", "/api/v1/namespaces/nope/configmaps", dict(body=cm("x")), 404, id="missing-namespace"),
    pytest.param("PATCH", CM + "/seed", dict(body={"data": {"a": "b"}}), 415, id="patch-without-patch-type"),
    pytest.param("PATCH", CM + "/seed", dict(body=[{"op": "jump", "path": "/x"}],
                                             ctype="application/json-patch+json"), 400, id="bad-json-patch"),
    pytest.param("PUT", CM + "/other", dict(body=cm("seed")), 400, id="name-differs-from-path"),
    pytest.param("GET", CM + "?watch=1&resourceVersion=abc", {}, 400, id="bad-resource-version"),
    pytest.param("GET", CM + "?labelSelector=a%20in%20(", {}, 400, id="bad-label-selector"),
    pytest.param("DELETE", "/api/v1/namespaces/default", {}, 403, id="delete-default-namespace"),
    pytest.param("PUT", DEPLOY + "/nope/scale", dict(body={"spec": {"replicas": -2}}), 422, id="negative-scale"),
    pytest.param("GET", "/api/v1/namespaces/default/configmaps/seed/log", {}, 404, id="unknown-subresource"),
]


@pytest.mark.parametrize("method, path, kwargs, code", BAD_INPUTS)
async def test_bad_input_is_a_4xx_status_and_changes_nothing(api_cluster: LocalCluster, method: str, path: str,
                                                            kwargs: dict, code: int) -> None:
    await call(api_cluster, "POST", CM, body=cm("seed", a="1"))  # may already exist
    before = await revision(api_cluster)
    status, doc, _ = await call(api_cluster, method, path, **kwargs)
    assert status == code, doc
    assert doc.get("kind") == "Status" and doc.get("status") == "Failure" and doc.get("code") == code, doc
    assert doc.get("message"), "a Status says what is wrong"
    assert await revision(api_cluster) == before, "a rejected request changes nothing"


@pytest.mark.parametrize("role, method, path, body, code", [
    pytest.param(None, "GET", CM, None, 401, id="no-token"),
    pytest.param("bogus", "GET", CM, None, 401, id="wrong-token"),
    pytest.param("viewer", "GET", CM, None, 200, id="viewer-reads"),
    pytest.param("viewer", "POST", CM, cm("v1"), 403, id="viewer-cannot-write"),
    pytest.param("node", "GET", "/api/v1/pods", None, 200, id="node-reads-pods"),
    pytest.param("node", "POST", CM, cm("n1"), 403, id="node-cannot-create-configmaps"),
    pytest.param("node", "POST", "/api/v1/nodes", {"kind": "Node", "metadata": {"name": "node-a"}}, 201,
                 id="node-registers-a-node"),
    pytest.param("admin", "POST", CM, cm("admin-made"), 201, id="admin-writes"),
])
async def test_roles(api_cluster: LocalCluster, role: str | None, method: str, path: str, body: object,
                     code: int) -> None:
    if role == "bogus":
        status, doc, _ = await call(api_cluster, method, path, role=None,
                                    headers={"Authorization": "Bearer not-a-real-token-at-all"})
    else:
        status, doc, _ = await call(api_cluster, method, path, role=role, body=body)
    assert status == code, doc
    if code >= 400:
        assert doc["kind"] == "Status" and doc["code"] == code


async def test_health_needs_no_token(api_cluster: LocalCluster) -> None:
    for path in ("/healthz", "/readyz"):
        status, _, _ = await call(api_cluster, "GET", path, role=None)
        assert status == 200


async def test_kubernetes_shapes_patch_and_scale(api_cluster: LocalCluster) -> None:
    status, created, _ = await call(api_cluster, "POST", DEPLOY, body=deployment("shape", 2))
    assert status == 201, created
    meta = created["metadata"]
    assert isinstance(meta["resourceVersion"], str) and meta["uid"] and meta["creationTimestamp"]
    assert meta["generation"] == 1 and created["apiVersion"] == "apps/v1" and created["kind"] == "Deployment"
    status, lst, _ = await call(api_cluster, "GET", DEPLOY + "?labelSelector=none=here")
    assert lst["kind"] == "DeploymentList" and lst["items"] == []
    status, scale, _ = await call(api_cluster, "PUT", DEPLOY + "/shape/scale",
                                  body={"apiVersion": "autoscaling/v1", "kind": "Scale", "spec": {"replicas": 5}})
    assert status == 200 and scale["kind"] == "Scale" and scale["spec"]["replicas"] == 5, scale
    status, patched, _ = await call(api_cluster, "PATCH", DEPLOY + "/shape", body={"metadata": {"labels": {"x": "y"}}},
                                    ctype="application/merge-patch+json")
    assert status == 200 and patched["metadata"]["labels"] == {"x": "y"} and patched["spec"]["replicas"] == 5
    status, patched, _ = await call(api_cluster, "PATCH", DEPLOY + "/shape",
                                    body=[{"op": "replace", "path": "/spec/replicas", "value": 1}],
                                    ctype="application/json-patch+json")
    assert status == 200 and patched["spec"]["replicas"] == 1 and patched["metadata"]["generation"] == 3
    status, doc, _ = await call(api_cluster, "GET", "/api/v1/namespaces/default/deployments")
    assert status == 404 and doc["kind"] == "Status"
    status, doc, _ = await call(api_cluster, "GET", CM + "/absent")
    assert status == 404 and doc["reason"] == "NotFound"


async def test_unknown_fields_are_dropped_with_a_warning(api_cluster: LocalCluster) -> None:
    body = cm("warned", a="1")
    body["spec"] = {"surprise": True}
    status, doc, headers = await call(api_cluster, "POST", CM, body=body)
    assert status == 201 and "spec" not in doc
    assert any("spec" in w for w in headers.getall("Warning", [])), headers


async def test_cluster_status_lists_every_member(api_cluster: LocalCluster) -> None:
    status, doc, _ = await call(api_cluster, "GET", "/cluster/status", replica="r2")
    assert status == 200
    members = doc["members"]
    assert sorted(m["name"] for m in members) == ["r1", "r2", "r3"]
    assert sum(m["role"] == "leader" for m in members) == 1
    assert all(m["term"] >= 1 and m["commitIndex"] >= m["appliedIndex"] - 1 for m in members), members
    assert doc["leader"] in ("r1", "r2", "r3")


async def test_openapi_documents_are_served(api_cluster: LocalCluster) -> None:
    status, root, _ = await call(api_cluster, "GET", "/openapi/v3")
    assert status == 200 and set(root["paths"]) >= {"api/v1", "apis/apps/v1", "haplane"}
    status, doc, _ = await call(api_cluster, "GET", root["paths"]["api/v1"]["serverRelativeURL"])
    assert status == 200 and doc["openapi"].startswith("3.")
    assert "/api/v1/namespaces/{namespace}/pods" in doc["paths"]
