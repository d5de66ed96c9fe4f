"""The harness's worker mechanisms on real processes, a real Docker engine and real iptables —
without a cluster: what it sees running, what it kills, which packets it drops and that it
cleans up. (The scenarios that use them run in test_scenarios.py.)

Docker and iptables must be present: when they are not, these tests fail (DESIGN.md §10).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from chaos.agentcut import AgentCut, chain_name
from chaos.runtimes import NAMESPACE_ENV, POD_ENV, RUN_ENV, DockerView, ProcessView

pytestmark = pytest.mark.integration

NODES = {"127.5.251.1": "n1", "127.5.251.2": "n2"}


def spawn(run: str, pod: str, host_ip: str, argv: list[str] | None = None) -> subprocess.Popen:
    env = dict(os.environ, **{RUN_ENV: run, POD_ENV: pod, NAMESPACE_ENV: "default", "HOST_IP": host_ip})
    return subprocess.Popen(argv or ["sleep", "60"], env=env, start_new_session=True)


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen]]:
    started: list[subprocess.Popen] = []
    yield started
    for p in started:
        if p.poll() is None:
            os.killpg(p.pid, 9)
        p.wait(timeout=10)


async def test_process_view_sees_and_kills_only_this_runs_containers(procs: list[subprocess.Popen]) -> None:
    run = f"run-{uuid.uuid4().hex[:8]}"
    procs += [spawn(run, "a", "127.5.251.1"), spawn(run, "b", "127.5.251.2"),
              # a container whose main process forks: one container, one group leader
              spawn(run, "c", "127.5.251.2", ["sh", "-c", "sleep 60 & exec sleep 61"]),
              spawn("another-run", "x", "127.5.251.1")]
    view = ProcessView(run, NODES)
    for _ in range(50):
        running = sorted(await view.running())
        if len(running) == 3:
            break
        await asyncio.sleep(0.05)
    assert running == [("n1", "default/a"), ("n2", "default/b"), ("n2", "default/c")]
    assert await view.kill_node("n2") == 2
    assert await view.running() == [("n1", "default/a")]
    assert procs[1].wait(timeout=5) == -9 and procs[2].wait(timeout=5) == -9
    assert await view.remove_all() == 1
    assert procs[0].wait(timeout=5) == -9
    assert procs[3].poll() is None, "another run's process must never be touched"


def docker_api():  # noqa: ANN201 - docker is imported lazily
    import docker

    from haplane.up import DEMO_IMAGE, ensure_demo_image

    try:
        api = docker.from_env(timeout=10).api
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"the Docker engine is needed and does not answer: {exc}")
    if not ensure_demo_image():
        pytest.fail(f"the {DEMO_IMAGE} image is missing and cannot be built (deploy/images/busybox/build.sh)")
    return api


async def test_docker_view_sees_kills_and_removes_this_clusters_containers() -> None:
    api = docker_api()
    cluster = uuid.uuid4().hex[:8]
    made = []
    try:
        for node, pod, cid in (("n1", "a", cluster), ("n2", "b", cluster), ("n1", "z", "other")):
            labels = {"haplane.node": f"{node}@{cid}", "haplane.pod-name": pod, "haplane.namespace": "default"}
            c = api.create_container("busybox:local", command=["sleep", "60"], labels=labels,
                                     host_config=api.create_host_config(init=True))
            api.start(c["Id"])
            made.append(c["Id"])
        view = DockerView({f"n1@{cluster}": "n1", f"n2@{cluster}": "n2"})
        assert sorted(await view.running()) == [("n1", "default/a"), ("n2", "default/b")]
        assert await view.kill_node("n1") == 1
        assert await view.running() == [("n2", "default/b")]
        assert await view.remove_all() == 2  # the killed one too: nothing of the run is left
        assert {c["Id"] for c in api.containers(all=True)} & set(made) == {made[2]}
    finally:
        import docker.errors

        for cid in made:
            with contextlib.suppress(docker.errors.NotFound):
                api.remove_container(cid, force=True)


def _connects(source: str, port: int) -> bool:
    with socket.socket() as s:
        s.bind((source, 0))
        s.settimeout(0.5)
        try:
            s.connect(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _chains() -> str:
    return subprocess.run(["iptables", "-w", "5", "-S"], capture_output=True, text=True, check=True).stdout


async def test_agent_cut_drops_only_the_node_and_cleans_up() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        port = server.getsockname()[1]
        # a chain left by a SIGKILLed run (its pid no longer exists) is swept on the next open
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
        stale = chain_name(int(dead.stdout), 1)
        subprocess.run(["iptables", "-w", "5", "-N", stale], check=True)
        cut = AgentCut("127.0.0.1", [port])
        try:
            assert _connects("127.5.251.1", port)
            await cut.isolate("127.5.251.1")
            assert stale not in _chains()
            assert not _connects("127.5.251.1", port), "the cut node still reaches the replica"
            assert _connects("127.5.251.2", port), "another node was cut too"
            await cut.heal()
            assert _connects("127.5.251.1", port)
            with pytest.raises(ValueError):
                await cut.isolate("10.1.2.3")
        finally:
            await cut.close()
        assert cut.chain not in _chains()
