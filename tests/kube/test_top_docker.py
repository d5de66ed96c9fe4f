"""Every test of ``test_top.py`` again, against agents on the Docker runtime (busybox:local): the
usage comes from the engine's one-shot stats instead of /proc.

Without a reachable engine these tests FAIL, never skip (DESIGN.md §10). Run them under the lock
(flock /tmp/haplane-heavy.lock ...).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.test_agent_process import require_docker
from tests.kube.conftest import KubeCluster, start_kube_cluster
from tests.kube.test_top import *  # noqa: F403 - the shared top tests

pytestmark = [pytest.mark.docker]


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    require_docker()  # fails loudly without an engine, builds busybox:local
    kc = start_kube_cluster(str(tmp_path_factory.mktemp("kube-top-docker")), runtime="docker",
                            env={"HAPLANE_STATS_PERIOD": "1"})
    try:
        yield kc
    finally:
        kc.lc.stop_all()
