"""Real replica processes on loopback, one fresh cluster per test."""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import AsyncIterator, Iterator

import pytest

from haplane.client import Client
from haplane.localcluster import LocalCluster

# Each cluster gets its own ports, so a test never meets the leftovers of another.
_ports = itertools.count(int(os.environ.get("HAPLANE_TEST_BASE_PORT", "21000")), 300)


def make_cluster(tmp_path, **kwargs) -> LocalCluster:  # noqa: ANN001
    lc = LocalCluster(str(tmp_path / "cluster"), base_port=next(_ports), **kwargs)
    lc.start_all()
    return lc


@contextlib.contextmanager
def running_cluster(path, **kwargs) -> Iterator[LocalCluster]:  # noqa: ANN001, ANN003
    """A started cluster with an elected leader, stopped on exit."""
    lc = make_cluster(path, **kwargs)
    try:
        lc.wait_ready(timeout=60)
        yield lc
    finally:
        lc.stop_all()


@pytest.fixture
def cluster(tmp_path) -> Iterator[LocalCluster]:  # noqa: ANN001
    with running_cluster(tmp_path) as lc:
        yield lc


@pytest.fixture
async def client(cluster: LocalCluster) -> AsyncIterator[Client]:
    async with Client(cluster.endpoints, cluster.admin_token, timeout=10.0) as c:
        yield c


def client_for(cluster: LocalCluster, name: str, role: str = "admin", **kwargs) -> Client:  # noqa: ANN003
    """A client pinned to one replica (no failover)."""
    return Client([cluster.members[name].url], cluster.token(role), **kwargs)
