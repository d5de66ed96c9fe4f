"""Every test of ``test_streams.py`` again, against agents on the Docker runtime (busybox:local).

Without a reachable engine these tests FAIL, never skip (DESIGN.md §10). They share the
machine's one engine: run them under the lock (flock /tmp/haplane-heavy.lock ...).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.test_agent_process import require_docker
from tests.kube.conftest import KubeCluster, start_kube_cluster
from tests.kube.test_streams import *  # noqa: F403 - the shared stream tests

pytestmark = [pytest.mark.docker]


@pytest.fixture(scope="module")
def runtime_name() -> str:
    return "docker"


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    require_docker()  # fails loudly without an engine, builds busybox:local
    kc = start_kube_cluster(str(tmp_path_factory.mktemp("kube-docker")), runtime="docker")
    try:
        yield kc
    finally:
        kc.lc.stop_all()
