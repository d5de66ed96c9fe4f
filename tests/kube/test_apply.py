"""Every write kubectl makes, through the real kubectl binary against 3 replicas: create, apply
(client-side, twice, with a field removed), apply --server-side (managedFields, a conflict with a
second field manager, --force-conflicts, pruning), diff, patch (strategic, merge, json), label,
annotate, edit (KUBE_EDITOR), set image, scale, --dry-run=server, fieldValidation, and the shared
manifests as users write them.

Each case is a list of steps on its own objects: a kubectl run (exit code, what it prints) or a
check of the object as the API then holds it (``kubectl get -o json --show-managed-fields``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.kube.conftest import KubeCluster

MANIFESTS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "manifests")


def deploy(name: str, *, replicas: int = 1, image: str = "busybox:local", env: dict[str, str] | None = None,
           labels: dict[str, str] | None = None, extra: str = "") -> str:
    """A Deployment manifest as users write it (YAML)."""
    env = {"A": "1", "B": "2"} if env is None else env
    env_yaml = "".join(f"\n            - name: {k}\n              value: \"{v}\"" for k, v in env.items())
    label_yaml = "".join(f"\n    {k}: \"{v}\"" for k, v in (labels or {}).items())
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels:
    app: {name}{label_yaml}
spec:
  replicas: {replicas}{extra}
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: main
          image: {image}
          command: ["sleep", "3600"]
          env:{env_yaml if env else " []"}
"""


@dataclass(frozen=True)
class Run:
    """``kubectl *args``: its exit code, and text its output (stdout + stderr) must contain."""

    args: tuple[str, ...]
    input: str | None = None
    rc: int = 0
    out: tuple[str, ...] = ()
    editor: str | None = None  # KUBE_EDITOR for kubectl edit


@dataclass(frozen=True)
class Holds:
    """A property of ``kubectl get TARGET -o json --show-managed-fields``."""

    target: str
    what: str
    check: Callable[[dict[str, Any]], bool] = field(compare=False)


def run(*args: str, input: str | None = None, rc: int = 0, out: tuple[str, ...] = (),  # noqa: A002
        editor: str | None = None) -> Run:
    return Run(tuple(args), input, rc, out, editor)


def spec(obj: dict) -> dict:
    return obj["spec"]


def container(obj: dict) -> dict:
    return obj["spec"]["template"]["spec"]["containers"][0]


def managers(obj: dict) -> list[tuple[str, str]]:
    return [(m["manager"], m["operation"]) for m in obj["metadata"].get("managedFields", [])]


def owns(obj: dict, manager: str, *fields: str) -> bool:
    """``manager``'s fieldsV1 holds each field, given as a path of f:/k: elements joined by '/'."""
    def has(fields_v1: dict, path: str) -> bool:
        node = fields_v1
        for element in path.split("/"):
            if element not in node:
                return False
            node = node[element]
        return True
    for m in obj["metadata"].get("managedFields", []):
        if m["manager"] == manager:
            return all(has(m["fieldsV1"], f) for f in fields)
    return False


def last_applied(obj: dict) -> dict:
    return json.loads(obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])


CASES = [
    pytest.param([
        run("create", "-f", "-", input=deploy("cr"), out=("deployment.apps/cr created",)),
        Holds("deploy/cr", "kubectl-create owns what it set", lambda o: managers(o) == [("kubectl-create", "Update")]
              and owns(o, "kubectl-create", "f:spec/f:replicas", 'f:spec/f:template/f:spec/f:containers/k:{"name":"main"}/f:image')),
        run("create", "-f", "-", input=deploy("cr"), rc=1, out=("AlreadyExists",)),
    ], id="create"),
    pytest.param([
        run("apply", "-f", "-", input=deploy("csa"), out=("deployment.apps/csa created",)),
        Holds("deploy/csa", "the last-applied annotation, managed by kubectl-client-side-apply",
              lambda o: last_applied(o)["spec"]["replicas"] == 1 and managers(o) == [("kubectl-client-side-apply", "Update")]),
        # twice, with a change: replicas, a label added, env B removed from the manifest
        run("apply", "-f", "-", input=deploy("csa", replicas=2, env={"A": "1"}, labels={"tier": "web"}),
            out=("deployment.apps/csa configured",)),
        Holds("deploy/csa", "replicas 2, label added, env B removed",
              lambda o: spec(o)["replicas"] == 2 and o["metadata"]["labels"] == {"app": "csa", "tier": "web"}
              and container(o)["env"] == [{"name": "A", "value": "1"}] and last_applied(o)["spec"]["replicas"] == 2),
        # a field removed from the manifest is removed from the object (the label)
        run("apply", "-f", "-", input=deploy("csa", replicas=2, env={"A": "1"}), out=("configured",)),
        Holds("deploy/csa", "label removed", lambda o: o["metadata"]["labels"] == {"app": "csa"}),
        run("apply", "-f", "-", input=deploy("csa", replicas=2, env={"A": "1"}), out=("deployment.apps/csa unchanged",)),
    ], id="apply-client-side"),
    pytest.param([
        run("apply", "--server-side", "-f", "-", input=deploy("ssa", labels={"x": "1"}),
            out=("deployment.apps/ssa serverside-applied",)),
        Holds("deploy/ssa", "an Apply entry for kubectl owning the manifest's fields",
              lambda o: managers(o) == [("kubectl", "Apply")] and o["metadata"]["managedFields"][0]["fieldsType"] == "FieldsV1"
              and owns(o, "kubectl", "f:spec/f:replicas", "f:metadata/f:labels/f:x",
                       'f:spec/f:template/f:spec/f:containers/k:{"name":"main"}/f:env/k:{"name":"B"}/f:value')
              and not owns(o, "kubectl", 'f:spec/f:template/f:spec/f:containers/k:{"name":"main"}/f:imagePullPolicy')),
        # a field removed from the applier's config goes when nobody else owns it
        run("apply", "--server-side", "-f", "-", input=deploy("ssa", env={"A": "1"}), out=("serverside-applied",)),
        Holds("deploy/ssa", "label x and env B pruned",
              lambda o: "x" not in o["metadata"]["labels"] and container(o)["env"] == [{"name": "A", "value": "1"}]),
        # a second field manager changing kubectl's field: a conflict, nothing changes
        run("apply", "--server-side", "--field-manager=other", "-f", "-", input=deploy("ssa", replicas=3, env={"A": "1"}),
            rc=1, out=('Apply failed with 1 conflict: conflict with "kubectl" using apps/v1: .spec.replicas',
                       "--force-conflicts")),
        Holds("deploy/ssa", "still 1 replica", lambda o: spec(o)["replicas"] == 1),
        run("apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", "-",
            input=deploy("ssa", replicas=3, env={"A": "1"}), out=("serverside-applied",)),
        Holds("deploy/ssa", "other took .spec.replicas; both share the rest",
              lambda o: spec(o)["replicas"] == 3 and owns(o, "other", "f:spec/f:replicas")
              and not owns(o, "kubectl", "f:spec/f:replicas") and owns(o, "kubectl", "f:spec/f:selector")
              and sorted(managers(o)) == [("kubectl", "Apply"), ("other", "Apply")]),
    ], id="apply-server-side"),
    pytest.param([
        run("apply", "-f", "-", input=deploy("mig")),
        # server-side apply over a client-side applied object: kubectl migrates the ownership
        run("apply", "--server-side", "-f", "-", input=deploy("mig", replicas=2), rc=1, out=("conflict",)),
        run("apply", "--server-side", "--force-conflicts", "-f", "-", input=deploy("mig", replicas=2),
            out=("serverside-applied",)),
        Holds("deploy/mig", "replicas 2, labels and env kept",
              lambda o: spec(o)["replicas"] == 2 and o["metadata"]["labels"] == {"app": "mig"}
              and [e["name"] for e in container(o)["env"]] == ["A", "B"]),
    ], id="apply-server-side-after-client-side"),
    pytest.param([
        run("apply", "-f", "-", input=deploy("df")),
        run("diff", "-f", "-", input=deploy("df", replicas=2), rc=1, out=("-  replicas: 1", "+  replicas: 2")),
        run("diff", "-f", "-", input=deploy("df")),
        Holds("deploy/df", "diff changed nothing", lambda o: spec(o)["replicas"] == 1 and o["metadata"]["generation"] == 1),
    ], id="diff"),
    pytest.param([
        run("create", "-f", "-", input=deploy("pt")),
        run("patch", "deployment", "pt", "-p", '{"spec":{"template":{"spec":{"containers":[{"name":"main","env":[{"name":"C","value":"3"}]}]}}}}',
            out=("deployment.apps/pt patched",)),
        Holds("deploy/pt", "strategic: env merged by name",
              lambda o: sorted(e["name"] for e in container(o)["env"]) == ["A", "B", "C"]),
        run("patch", "deployment", "pt", "--type", "merge", "-p", '{"spec":{"replicas":2}}', out=("patched",)),
        run("patch", "deployment", "pt", "--type", "json", "-p",
            '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"busybox:json"}]', out=("patched",)),
        Holds("deploy/pt", "merge and json patches landed, each manager recorded",
              lambda o: spec(o)["replicas"] == 2 and container(o)["image"] == "busybox:json"
              and owns(o, "kubectl-patch", "f:spec/f:replicas")),
        run("patch", "deployment", "pt", "--type", "json", "-p", '[{"op":"remove","path":"/spec/nope"}]', rc=1),
        run("patch", "deployment", "pt", "-p", '{"spec":{"$patch":"bogus"}}', rc=1, out=("unknown patch type",)),
    ], id="patch"),
    pytest.param([
        run("create", "-f", "-", input=deploy("la")),
        run("label", "deployment", "la", "tier=db", out=("deployment.apps/la labeled",)),
        run("annotate", "deployment", "la", "note=hello", out=("deployment.apps/la annotated",)),
        Holds("deploy/la", "label and annotation set, by kubectl-label and kubectl-annotate",
              lambda o: o["metadata"]["labels"]["tier"] == "db" and o["metadata"]["annotations"]["note"] == "hello"
              and owns(o, "kubectl-label", "f:metadata/f:labels/f:tier")
              and owns(o, "kubectl-annotate", "f:metadata/f:annotations/f:note")),
        run("label", "deployment", "la", "tier=web", rc=1, out=("--overwrite",)),
        run("label", "deployment", "la", "tier-", out=("unlabeled",)),
        run("annotate", "deployment", "la", "note-", out=("annotated",)),
        Holds("deploy/la", "both removed",
              lambda o: "tier" not in o["metadata"]["labels"] and "note" not in o["metadata"].get("annotations", {})),
    ], id="label-annotate"),
    pytest.param([
        run("create", "-f", "-", input=deploy("ed")),
        run("edit", "deployment/ed", editor="sed -i -e s/busybox:local/busybox:edited/", out=("deployment.apps/ed edited",)),
        Holds("deploy/ed", "the edit landed, owned by kubectl-edit",
              lambda o: container(o)["image"] == "busybox:edited"
              and owns(o, "kubectl-edit", 'f:spec/f:template/f:spec/f:containers/k:{"name":"main"}/f:image')),
        run("edit", "deployment/ed", editor="true", out=("Edit cancelled, no changes made",)),
    ], id="edit"),
    pytest.param([
        run("create", "-f", "-", input=deploy("si")),
        run("set", "image", "deployment/si", "main=busybox:v2", out=("deployment.apps/si image updated",)),
        Holds("deploy/si", "new image, env kept", lambda o: container(o)["image"] == "busybox:v2"
              and len(container(o)["env"]) == 2),
        run("scale", "deployment/si", "--replicas=0", out=("deployment.apps/si scaled",)),
        Holds("deploy/si", "scaled to 0", lambda o: spec(o)["replicas"] == 0),
    ], id="set-image-scale"),
    pytest.param([
        run("apply", "-f", "-", input=deploy("dr")),
        run("apply", "--dry-run=server", "-f", "-", input=deploy("dr", replicas=5),
            out=("deployment.apps/dr configured (server dry run)",)),
        run("create", "--dry-run=server", "-f", "-", input=deploy("dr-new"), out=("created (server dry run)",)),
        run("apply", "--server-side", "--dry-run=server", "-f", "-", input=deploy("dr-ssa"), out=("(server dry run)",)),
        run("delete", "--dry-run=server", "deployment", "dr", out=("deleted from default namespace (server dry run)",)),
        run("label", "--dry-run=server", "deployment", "dr", "x=y", out=("(server dry run)",)),
        Holds("deploy/dr", "nothing changed", lambda o: spec(o)["replicas"] == 1 and o["metadata"]["generation"] == 1
              and "x" not in o["metadata"]["labels"]),
        run("get", "deployment", "dr-new", rc=1, out=("NotFound",)),
        run("get", "deployment", "dr-ssa", rc=1, out=("NotFound",)),
    ], id="dry-run-server"),
    pytest.param([
        run("apply", "-f", "-", input=deploy("fv", extra="\n  bogus: 1"), rc=1,
            out=('unknown field "spec.bogus"',)),
        run("get", "deployment", "fv", rc=1, out=("NotFound",)),
        run("apply", "--validate=warn", "-f", "-", input=deploy("fv", extra="\n  bogus: 1"),
            out=('unknown field "spec.bogus"', "deployment.apps/fv created")),
        run("apply", "--validate=false", "-f", "-", input=deploy("fv", replicas=2, extra="\n  bogus: 1"),
            out=("configured",)),
    ], id="field-validation"),
    pytest.param([
        run("get", "deployment", "web", "-o", "yaml", rc=1),
        run("apply", "-f", MANIFESTS, out=("namespace/shop created", "deployment.apps/web created",
                                           "service/web created", "configmap/settings created",
                                           "deployment.apps/worker created")),
        run("apply", "-f", MANIFESTS, out=("deployment.apps/web unchanged", "service/web unchanged",
                                           "configmap/settings unchanged")),
        run("apply", "--server-side", "--force-conflicts", "-f", MANIFESTS, out=("deployment.apps/web serverside-applied",)),
    ], id="shared-manifests"),
]


@pytest.mark.parametrize("steps", CASES)
def test_kubectl_writes(kube: KubeCluster, steps: list[Run | Holds]) -> None:
    for step in steps:
        if isinstance(step, Run):
            env = {"KUBE_EDITOR": step.editor} if step.editor else None
            proc = kube.kubectl(*step.args, input=step.input, env=env, check=False)
            text = proc.stdout + proc.stderr
            assert proc.returncode == step.rc, f"kubectl {' '.join(step.args)} -> {proc.returncode}\n{text}"
            for want in step.out:
                assert want in text, f"kubectl {' '.join(step.args)}: {want!r} not in\n{text}"
        else:
            proc = kube.kubectl("get", step.target, "-o", "json", "--show-managed-fields")
            obj = json.loads(proc.stdout)
            assert step.check(obj), f"{step.target}: {step.what}\n{json.dumps(obj, indent=1)}"


def test_get_hides_managed_fields_unless_asked(kube: KubeCluster) -> None:
    kube.kubectl("apply", "--server-side", "-f", "-", input=deploy("mf"))
    assert "managedFields" not in kube.kubectl("get", "deployment", "mf", "-o", "yaml").stdout
    shown = kube.kubectl("get", "deployment", "mf", "-o", "yaml", "--show-managed-fields").stdout
    assert "managedFields:" in shown and "manager: kubectl" in shown and "operation: Apply" in shown
