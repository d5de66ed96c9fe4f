"""The CLI against a live cluster: apply the shared manifests unchanged, get, describe, delete."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from haplane.localcluster import LocalCluster
from tests.integration.conftest import running_cluster

MANIFESTS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "manifests")


@pytest.fixture(scope="module")
def cli_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running_cluster(tmp_path_factory.mktemp("cli")) as lc:
        yield lc


def haplane(lc: LocalCluster, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "haplane", "--config", lc.path("client.json"), *args],
                          capture_output=True, text=True, timeout=60)
    if ok:
        assert proc.returncode == 0, f"haplane {' '.join(args)}: {proc.stdout}\n{proc.stderr}"
    return proc


@pytest.mark.parametrize("manifest", ["web.yaml", "worker.yaml", "config.yaml"])
def test_apply_shared_manifests_unchanged(cli_cluster: LocalCluster, manifest: str) -> None:
    path = os.path.join(MANIFESTS, manifest)
    assert os.path.exists(path), f"the shared manifests must be beside the repo: {path}"
    first = haplane(cli_cluster, "apply", "-f", path)
    assert "created" in first.stdout or "configured" in first.stdout, first.stdout
    again = haplane(cli_cluster, "apply", "-f", path)
    assert "unchanged" in again.stdout, again.stdout


def test_get_describe_delete(cli_cluster: LocalCluster) -> None:
    haplane(cli_cluster, "apply", "-f", os.path.join(MANIFESTS, "web.yaml"))
    out = haplane(cli_cluster, "get", "deployments", "-n", "shop").stdout
    assert out.splitlines()[0].split()[:2] == ["NAME", "READY"] and "web" in out
    out = haplane(cli_cluster, "get", "services,deployments", "-n", "shop").stdout
    assert "service/web" in out and "deployment.apps/web" in out
    yaml_out = haplane(cli_cluster, "get", "deployment", "web", "-n", "shop", "-o", "yaml").stdout
    assert "kind: Deployment" in yaml_out and "maxSurge: 1" in yaml_out
    described = haplane(cli_cluster, "describe", "deployment", "web", "-n", "shop").stdout
    assert "name: web" in described and "Events:" in described
    status = haplane(cli_cluster, "cluster", "status").stdout
    assert sum(line.split()[0].rstrip("*") in ("r1", "r2", "r3") for line in status.splitlines()[1:]) == 3
    haplane(cli_cluster, "delete", "service", "web", "-n", "shop")
    missing = haplane(cli_cluster, "get", "service", "web", "-n", "shop", ok=False)
    assert missing.returncode == 1 and "NotFound" in missing.stderr and "Traceback" not in missing.stderr


def test_errors_are_one_line_never_a_traceback(cli_cluster: LocalCluster) -> None:
    proc = haplane(cli_cluster, "get", "gizmos", ok=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and proc.stderr.strip()
    proc = subprocess.run([sys.executable, "-m", "haplane", "--server", "http://127.0.0.1:1", "--token", "x" * 20,
                           "get", "pods"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "Unable to connect" in proc.stderr and "Traceback" not in proc.stderr
