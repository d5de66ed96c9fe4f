"""The agent lifecycle tests of ``test_agent_process.py``, on the Docker runtime.

Every test of that module is imported here and runs again with ``runtime_name = "docker"``
(one body, the runtime as a parameter). Without a reachable engine they FAIL, never skip.
Below them, what only a container engine has: images.
"""

from __future__ import annotations

import pytest

from haplane.client import Client
from tests.integration.test_agent_process import *  # noqa: F403 - the shared lifecycle tests
from tests.integration.test_agent_process import cstatus, events_for, pod_of, unique, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.docker]


@pytest.fixture(scope="module")
def runtime_name() -> str:
    return "docker"


async def test_missing_image_is_a_clear_status_and_event(client: Client) -> None:
    name = unique("noimage")
    pod = pod_of(name, {"command": ["sh", "-c", "sleep 1000"]})
    pod["spec"]["containers"][0]["image"] = "haplane-test/not-here:never"
    await client.create(pod)

    async def waiting() -> dict | None:
        p = await client.get("Pod", name)
        w = (cstatus(p).get("state") or {}).get("waiting") or {}
        return p if w.get("reason") == "ImageNotFound" else None

    p = await wait_for(waiting, 60, "ImageNotFound")
    assert "not-here" in cstatus(p)["state"]["waiting"]["message"]
    assert any(r == "Failed" and "ImageNotFound" in m for r, m in await events_for(client, name))
