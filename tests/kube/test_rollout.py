"""kubectl drives Deployments and ReplicaSets as on Kubernetes: get rs, scale (deploy and rs),
rollout status (done, and failed past progressDeadlineSeconds), history with change-cause,
undo (previous and --to-revision), and delete collecting ReplicaSets and pods.

The tests of this module run in order on one cluster (the ``kube`` fixture): the Deployment
``web`` goes through revisions 1 (v1) -> 2 (v2) -> 3 (undo: v1 again) -> 4 (undo --to-revision=2).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.kube.conftest import KubeCluster

TIMEOUT = 90.0


def manifest(name: str, version: str, replicas: int = 2, *, cause: str = "", probe: str = "true",
             deadline: int = 600) -> str:
    annotations = f'\n  annotations: {{"kubernetes.io/change-cause": "{cause}"}}' if cause else ""
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}{annotations}
spec:
  replicas: {replicas}
  progressDeadlineSeconds: {deadline}
  strategy: {{rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}}}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: busybox:local
        command: ["sh", "-c", "while true; do sleep 1; done", "{version}"]
        env: [{{name: VERSION, value: "{version}"}}]
        readinessProbe: {{exec: {{command: ["{probe}"]}}, periodSeconds: 1}}
"""


def wait_for(what: str, check: Callable[[], Any], timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def get_json(kube: KubeCluster, *args: str) -> Any:
    return json.loads(kube.kubectl("get", *args, "-o", "json").stdout)


def replicasets(kube: KubeCluster, app: str) -> list[dict[str, Any]]:
    return get_json(kube, "rs", "-l", f"app={app}")["items"]


def revisions(kube: KubeCluster, app: str) -> list[tuple[int, int, str]]:
    """(revision, spec.replicas, VERSION of its template) of each ReplicaSet of ``app``."""
    out = []
    for rs in replicasets(kube, app):
        env = rs["spec"]["template"]["spec"]["containers"][0]["env"]
        out.append((int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]), rs["spec"]["replicas"],
                    env[0]["value"]))
    return sorted(out)


def rolled_out(kube: KubeCluster, name: str) -> dict[str, Any]:
    """Wait until the Deployment's status says what ``kubectl rollout status`` waits for (polling
    ``kubectl get``; the rollout status tests use the real command)."""
    def done() -> dict[str, Any] | None:
        dep = get_json(kube, "deploy", name)
        st, want = dep.get("status") or {}, dep["spec"]["replicas"]
        ok = (st.get("observedGeneration", 0) >= dep["metadata"]["generation"] and st.get("updatedReplicas") == want
              and st.get("replicas") == want and st.get("availableReplicas") == want)
        return dep if ok else None
    return wait_for(f"deployment {name} rolled out", done)


def history_rows(kube: KubeCluster, target: str) -> list[list[str]]:
    out = kube.kubectl("rollout", "history", target).stdout
    lines = out.strip().splitlines()
    assert lines[0].strip() == target.replace("deploy/", "deployment.apps/"), out
    assert re.split(r"\s{2,}", lines[1].strip()) == ["REVISION", "CHANGE-CAUSE"], out
    return [re.split(r"\s{2,}", line.strip()) for line in lines[2:] if line.strip()]


@pytest.fixture(scope="module")
def web(kube: KubeCluster) -> KubeCluster:
    kube.kubectl("create", "-f", "-", input=manifest("web", "v1", cause="create v1"))
    return kube


def test_rollout_status_returns_when_the_rollout_is_done(web: KubeCluster) -> None:
    proc = web.kubectl("rollout", "status", "deploy/web", "--timeout=90s", timeout=100)
    assert proc.stdout.strip().endswith('deployment "web" successfully rolled out'), proc.stdout
    dep = get_json(web, "deploy", "web")
    assert {k: dep["status"].get(k) for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")} \
        == {"replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}
    assert dep["status"]["observedGeneration"] == dep["metadata"]["generation"]
    conds = {c["type"]: (c["status"], c["reason"]) for c in dep["status"]["conditions"]}
    assert conds == {"Available": ("True", "MinimumReplicasAvailable"),
                     "Progressing": ("True", "NewReplicaSetAvailable")}


@pytest.mark.parametrize(("args", "check"), [
    pytest.param(("get", "rs", "-l", "app=web"),
                 lambda out, rs: rs["metadata"]["name"] in out and out.splitlines()[0].split()[0] == "NAME", id="get-rs"),
    pytest.param(("get", "rs", "-l", "app=web", "-o", "wide"),
                 lambda out, rs: rs["metadata"]["name"] in out, id="get-rs-wide"),
    pytest.param(("get", "replicasets.apps", "-o", "name", "-l", "app=web"),
                 lambda out, rs: out.strip() == f"replicaset.apps/{rs['metadata']['name']}", id="get-rs-name"),
    pytest.param(("get", "rs", "-l", "app=web", "-o", "jsonpath={.items[0].status.readyReplicas}"),
                 lambda out, rs: out == "2", id="get-rs-status"),
    pytest.param(("get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].metadata.ownerReferences[0].name}"),
                 lambda out, rs: out.split() == [rs["metadata"]["name"]] * 2, id="pods-owned-by-the-rs"),
])
def test_get_replicasets(web: KubeCluster, args: tuple[str, ...], check: Callable[[str, dict], bool]) -> None:
    (rs,) = replicasets(web, "web")
    assert rs["metadata"]["name"] == f"web-{rs['metadata']['labels']['pod-template-hash']}"
    assert rs["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    out = web.kubectl(*args).stdout
    assert check(out, rs), out


def test_scale_deployment(web: KubeCluster) -> None:
    proc = web.kubectl("scale", "deploy/web", "--replicas=3", "-v=6")
    assert proc.stdout.strip() == "deployment.apps/web scaled"
    assert re.search(r'verb="PATCH" url="[^"]*/deployments/web/scale[^"]*" status="200 OK"', proc.stderr), proc.stderr
    wait_for("3 ready pods", lambda: get_json(web, "deploy", "web")["status"].get("readyReplicas") == 3)
    assert [r[1] for r in revisions(web, "web")] == [3]


@pytest.mark.parametrize(("args", "code", "expected"), [
    pytest.param(("get", "deploy/web", "--subresource=scale", "-o", "jsonpath={.kind} {.spec.replicas} {.status.selector}"),
                 0, "Scale 3 app=web", id="get-scale"),
    pytest.param(("patch", "deploy/web", "--subresource=scale", "--type=merge", "-p", '{"spec":{"replicas":3}}'),
                 0, "scale.autoscaling/web patched (no change)", id="patch-scale-merge"),
    pytest.param(("patch", "deploy/web", "--subresource=scale", "--type=json",
                  "-p", '[{"op":"replace","path":"/spec/replicas","value":3}]'),
                 0, "scale.autoscaling/web patched (no change)", id="patch-scale-json"),
    pytest.param(("patch", "deploy/web", "--subresource=scale", "--type=merge", "-p", '{"spec":{"replicas":-1}}'),
                 1, "spec.replicas", id="patch-scale-negative-refused"),
    pytest.param(("scale", "deploy/nosuch", "--replicas=1"), 1, 'deployments.apps "nosuch" not found',
                 id="scale-missing"),
])
def test_scale_subresource(web: KubeCluster, args: tuple[str, ...], code: int, expected: str) -> None:
    proc = web.kubectl(*args, check=False)
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert expected in (proc.stdout if code == 0 else proc.stderr), (proc.stdout, proc.stderr)
    assert get_json(web, "deploy", "web")["spec"]["replicas"] == 3


def test_scale_replicaset_of_a_deployment_is_put_back(web: KubeCluster) -> None:
    (rs,) = replicasets(web, "web")
    name = rs["metadata"]["name"]
    assert web.kubectl("scale", f"rs/{name}", "--replicas=1").stdout.strip() == f"replicaset.apps/{name} scaled"
    # As on Kubernetes, the Deployment owns the size of its ReplicaSets: it scales it back.
    wait_for("the ReplicaSet back at 3", lambda: revisions(web, "web") == [(1, 3, "v1")]
             and get_json(web, "rs", name)["status"].get("readyReplicas") == 3)


def test_scale_a_standalone_replicaset(kube: KubeCluster) -> None:
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "solo"},
          "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "solo"}},
                   "template": {"metadata": {"labels": {"app": "solo"}}, "spec": {
                       "terminationGracePeriodSeconds": 1,
                       "containers": [{"name": "c", "image": "busybox:local",
                                       "command": ["sh", "-c", "while true; do sleep 1; done"]}]}}}}
    kube.kubectl("create", "-f", "-", input=json.dumps(rs))
    wait_for("1 ready pod", lambda: get_json(kube, "rs", "solo")["status"].get("readyReplicas") == 1)
    assert kube.kubectl("scale", "rs/solo", "--replicas=2").stdout.strip() == "replicaset.apps/solo scaled"
    wait_for("2 ready pods", lambda: get_json(kube, "rs", "solo")["status"].get("readyReplicas") == 2)
    pods = get_json(kube, "pods", "-l", "app=solo")["items"]
    assert sorted(p["metadata"]["name"].rsplit("-", 1)[0] for p in pods) == ["solo", "solo"]
    assert kube.kubectl("get", "rs", "solo", "-o", "jsonpath={.spec.replicas}").stdout == "2"
    kube.kubectl("delete", "rs", "solo")
    wait_for("its pods collected", lambda: not get_json(kube, "pods", "-l", "app=solo")["items"])


def test_a_new_template_rolls_out_a_new_replicaset(web: KubeCluster) -> None:
    web.kubectl("replace", "-f", "-", input=manifest("web", "v2", replicas=3, cause="update to v2"))
    rolled_out(web, "web")
    assert revisions(web, "web") == [(1, 0, "v1"), (2, 3, "v2")]
    dep = get_json(web, "deploy", "web")
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"


@pytest.mark.parametrize(("args", "check"), [
    pytest.param(("rollout", "history", "deploy/web"), None, id="history"),
    pytest.param(("rollout", "history", "deploy/web", "--revision=1"),
                 lambda out: "deployment.apps/web with revision #1" in out and "VERSION:\tv1" in out
                 and "pod-template-hash=" in out, id="history-revision"),
])
def test_rollout_history(web: KubeCluster, args: tuple[str, ...], check: Callable[[str], bool] | None) -> None:
    if check is None:
        assert history_rows(web, "deploy/web") == [["1", "create v1"], ["2", "update to v2"]]
    else:
        out = web.kubectl(*args).stdout
        assert check(out), out


@pytest.mark.parametrize(("args", "expected_revisions", "expected_history"), [
    pytest.param(("rollout", "undo", "deploy/web"), [(2, 0, "v2"), (3, 3, "v1")],
                 [["2", "update to v2"], ["3", "create v1"]], id="undo-to-previous"),
    pytest.param(("rollout", "undo", "deploy/web", "--to-revision=2"), [(3, 0, "v1"), (4, 3, "v2")],
                 [["3", "create v1"], ["4", "update to v2"]], id="undo-to-revision"),
])
def test_rollout_undo(web: KubeCluster, args: tuple[str, ...], expected_revisions: list,
                      expected_history: list) -> None:
    proc = web.kubectl(*args, "-v=6")
    assert proc.stdout.strip() == "deployment.apps/web rolled back", proc.stdout
    assert re.search(r'verb="PATCH" url="[^"]*/deployments/web[?"]', proc.stderr), proc.stderr  # client-side
    rolled_out(web, "web")
    assert revisions(web, "web") == expected_revisions
    assert history_rows(web, "deploy/web") == expected_history
    dep = get_json(web, "deploy", "web")
    assert dep["metadata"]["annotations"]["kubernetes.io/change-cause"] == expected_history[-1][1]


def test_undo_to_a_revision_that_does_not_exist_fails(web: KubeCluster) -> None:
    proc = web.kubectl("rollout", "undo", "deploy/web", "--to-revision=99", check=False)
    assert proc.returncode == 1 and "unable to find specified revision 99 in history" in proc.stderr, proc.stderr


@pytest.fixture(scope="module")
def kr(kube: KubeCluster) -> KubeCluster:
    """The Deployment ``kr`` for kubectl's own rollout restart / pause / resume (strategic merge patches)."""
    kube.kubectl("create", "-f", "-", input=manifest("kr", "v1", replicas=2))
    rolled_out(kube, "kr")
    return kube


def pod_owners(kube: KubeCluster, app: str) -> set[str]:
    return {p["metadata"]["ownerReferences"][0]["name"] for p in get_json(kube, "pods", "-l", f"app={app}")["items"]
            if not p["metadata"].get("deletionTimestamp")}


def test_kubectl_rollout_restart_makes_a_new_replicaset(kr: KubeCluster) -> None:
    (first,) = replicasets(kr, "kr")
    proc = kr.kubectl("rollout", "restart", "deploy/kr", "-v=6")
    assert proc.stdout.strip() == "deployment.apps/kr restarted", proc.stdout
    assert re.search(r'verb="PATCH" url="[^"]*/deployments/kr[?"]', proc.stderr), proc.stderr
    status = kr.kubectl("rollout", "status", "deploy/kr", "--timeout=90s", timeout=100)
    assert status.stdout.strip().endswith('deployment "kr" successfully rolled out'), status.stdout
    assert revisions(kr, "kr") == [(1, 0, "v1"), (2, 2, "v1")]  # same containers, a new template
    (newest,) = [rs for rs in replicasets(kr, "kr") if rs["spec"]["replicas"]]
    assert newest["metadata"]["name"] != first["metadata"]["name"]
    assert "kubectl.kubernetes.io/restartedAt" in newest["spec"]["template"]["metadata"]["annotations"]
    wait_for("the pods all belong to the new ReplicaSet", lambda: pod_owners(kr, "kr") == {newest["metadata"]["name"]})


def test_kubectl_rollout_pause_holds_a_template_change_until_resume(kr: KubeCluster) -> None:
    assert kr.kubectl("rollout", "pause", "deploy/kr").stdout.strip() == "deployment.apps/kr paused"
    assert get_json(kr, "deploy", "kr")["spec"]["paused"] is True
    again = kr.kubectl("rollout", "pause", "deploy/kr", check=False)
    assert again.returncode == 1 and 'deployments.apps "kr" is already paused' in again.stderr, again.stderr
    before = revisions(kr, "kr")
    kr.kubectl("set", "env", "deploy/kr", "-c", "c", "VERSION=v2")
    generation = get_json(kr, "deploy", "kr")["metadata"]["generation"]

    def observed() -> dict[str, Any] | None:
        dep = get_json(kr, "deploy", "kr")
        return dep if (dep.get("status") or {}).get("observedGeneration", 0) >= generation else None
    dep = wait_for("the controller to observe the paused change", observed)
    progressing = next(c for c in dep["status"]["conditions"] if c["type"] == "Progressing")
    assert progressing["reason"] == "DeploymentPaused"
    assert revisions(kr, "kr") == before  # the new template made no ReplicaSet while paused
    assert kr.kubectl("rollout", "resume", "deploy/kr").stdout.strip() == "deployment.apps/kr resumed"
    status = kr.kubectl("rollout", "status", "deploy/kr", "--timeout=90s", timeout=100)
    assert status.stdout.strip().endswith('deployment "kr" successfully rolled out'), status.stdout
    assert revisions(kr, "kr") == [*[(r, 0, v) for r, _, v in before], (before[-1][0] + 1, 2, "v2")]
    assert not get_json(kr, "deploy", "kr")["spec"].get("paused")
    kr.kubectl("delete", "deploy", "kr")


def test_rollout_status_fails_past_the_progress_deadline(kube: KubeCluster) -> None:
    kube.kubectl("create", "-f", "-", input=manifest("stuck", "v1", replicas=1, probe="false", deadline=5))
    started = time.monotonic()
    proc = kube.kubectl("rollout", "status", "deploy/stuck", "--timeout=90s", check=False, timeout=100)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert 'error: deployment "stuck" exceeded its progress deadline' in proc.stderr, proc.stderr
    assert time.monotonic() - started < 60
    dep = get_json(kube, "deploy", "stuck")
    progressing = next(c for c in dep["status"]["conditions"] if c["type"] == "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert progressing["message"].endswith("has timed out progressing.")
    kube.kubectl("delete", "deploy", "stuck")


def haplane(kube: KubeCluster, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "haplane", "--config", kube.lc.path("client.json"), *args],
                          capture_output=True, text=True, timeout=100)
    assert not ok or proc.returncode == 0, f"haplane {' '.join(args)}: {proc.stdout}\n{proc.stderr}"
    return proc


def observed(obj: dict) -> dict | None:
    """``obj`` when its controller has seen its latest spec (status.observedGeneration), else None."""
    return obj if (obj.get("status") or {}).get("observedGeneration") == obj["metadata"]["generation"] else None


def test_haplane_cli_rollouts_use_the_replicasets(web: KubeCluster) -> None:
    """haplane's own CLI reads the same ReplicaSets: history, undo, restart, pause / resume, status."""
    out = haplane(web, "rollout", "history", "deployment/web").stdout.splitlines()
    assert out[0] == "deployment.apps/web" and [line.split(None, 1) for line in out[2:]] == [
        ["3", "create v1"], ["4", "update to v2"]]
    assert haplane(web, "rollout", "undo", "deployment/web", "--to-revision", "3").stdout.strip() == \
        "deployment.apps/web rolled back"
    rolled_out(web, "web")
    assert revisions(web, "web") == [(4, 0, "v2"), (5, 3, "v1")]
    assert haplane(web, "rollout", "pause", "deployment/web").stdout.strip() == "deployment.apps/web paused"
    assert haplane(web, "rollout", "restart", "deployment/web").stdout.strip() == "deployment.apps/web restarted"
    # The controller writes a Deployment's status after the ReplicaSets of the same pass, so once it
    # has observed the restart's generation, a ReplicaSet for the paused template would exist by now.
    dep = wait_for("the paused restart observed", lambda: observed(get_json(web, "deploy", "web")))
    assert revisions(web, "web") == [(4, 0, "v2"), (5, 3, "v1")]
    assert next(c for c in dep["status"]["conditions"] if c["type"] == "Progressing")["reason"] == "DeploymentPaused"
    undo = haplane(web, "rollout", "undo", "deployment/web", ok=False)
    assert undo.returncode == 1 and "cannot rollback a paused deployment" in undo.stderr
    haplane(web, "rollout", "resume", "deployment/web")
    status = haplane(web, "rollout", "status", "deployment/web", "--timeout", "90")
    assert status.stdout.strip().endswith('deployment "web" successfully rolled out'), status.stdout
    assert [r[0] for r in revisions(web, "web")] == [4, 5, 6]
    (newest,) = [rs for rs in replicasets(web, "web") if rs["spec"]["replicas"]]
    assert "kubectl.kubernetes.io/restartedAt" in newest["spec"]["template"]["metadata"]["annotations"]


def test_haplane_drain_finds_the_deployment_through_the_replicaset(web: KubeCluster) -> None:
    """maxUnavailable 0: drain may evict none of web's pods, which it only knows by following
    pod -> ReplicaSet -> Deployment; it gives up at its timeout and has deleted nothing."""
    pods = get_json(web, "pods", "-l", "app=web")["items"]
    node = pods[0]["spec"]["nodeName"]
    proc = haplane(web, "drain", node, "--timeout", "3", ok=False)
    try:
        assert proc.returncode == 1 and "timed out waiting to evict" in proc.stdout, (proc.stdout, proc.stderr)
        assert {p["metadata"]["uid"] for p in get_json(web, "pods", "-l", "app=web")["items"]} == \
            {p["metadata"]["uid"] for p in pods}
    finally:
        haplane(web, "uncordon", node)


def test_delete_deployment_collects_replicasets_and_pods(web: KubeCluster) -> None:
    assert web.kubectl("delete", "deploy", "web").stdout.startswith('deployment.apps "web" deleted')
    wait_for("ReplicaSets and pods collected",
             lambda: not replicasets(web, "web") and not get_json(web, "pods", "-l", "app=web")["items"])
    assert "No resources found" in web.kubectl("get", "rs", "-l", "app=web").stderr
