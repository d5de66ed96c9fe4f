"""kubectl and the official Kubernetes clients against a real cluster: 3 replicas over HTTPS and
2 process-runtime agents, one per test module (the kubectl table tests share it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from haplane.kubeconfig import render
from haplane.localcluster import LocalCluster
from tests.integration.elastic import free_base_port

KUBECTL = os.path.join(os.path.dirname(sys.executable), "kubectl")


@dataclass
class KubeCluster:
    lc: LocalCluster
    kubeconfig: str

    def env(self) -> dict[str, str]:
        return dict(os.environ, KUBECONFIG=self.kubeconfig, HOME=os.path.dirname(self.kubeconfig))

    def kubectl(self, *args: str, input: str | None = None, timeout: float = 60.0,  # noqa: A002
                env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the pinned kubectl binary with this cluster's kubeconfig; ``check`` asserts exit 0."""
        proc = subprocess.run([KUBECTL, *args], input=input, capture_output=True, text=True, timeout=timeout,
                              env=dict(self.env(), **(env or {})))
        if check:
            assert proc.returncode == 0, f"kubectl {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc


def start_kube_cluster(path: str, **kwargs) -> KubeCluster:  # noqa: ANN003
    assert shutil.which(KUBECTL) or os.path.exists(KUBECTL), f"kubectl not installed at {KUBECTL}"
    kwargs.setdefault("agents", 2)
    kwargs.setdefault("runtime", "process")
    base = free_base_port()
    # Node addresses follow the ports, so clusters side by side never share an agent's address.
    lc = LocalCluster(os.path.join(path, "cluster"), base_port=base, tls_dir=os.path.join(path, "pki"),
                      node_net=kwargs.pop("node_net", f"127.77.{(base // 200) % 250}"), **kwargs)
    lc.start_all()
    lc.wait_ready(timeout=60)
    with open(str(lc.ca_file), "rb") as f:
        ca = f.read()
    kubeconfig = os.path.join(path, "kubeconfig")
    with open(kubeconfig, "w", encoding="utf-8") as f:
        f.write(render(lc.endpoints[0], lc.admin_token, ca))
    return KubeCluster(lc, kubeconfig)


@pytest.fixture(scope="module")
def kube(tmp_path_factory) -> Iterator[KubeCluster]:  # noqa: ANN001
    kc = start_kube_cluster(str(tmp_path_factory.mktemp("kube")))
    try:
        yield kc
    finally:
        kc.lc.stop_all()
