"""What actually runs on the nodes, seen from the runtime itself — never from the API.

The pod invariants (:func:`chaos.invariants.single_running_pod`,
:func:`chaos.invariants.no_pods_on_foreign_nodes`) must judge what really runs, so a view
looks where the containers are, independently of the agent's own bookkeeping:

* :class:`ProcessView` (the ``process`` runtime) scans ``/proc``. Every container is a
  process-group leader (the runtime starts it in its own session); the harness's pods carry
  marker variables in their environment (:func:`pod_env`: the run, the pod's name and
  namespace, through ``fieldRef``), and the runtime sets ``HOST_IP`` to the node address of
  the agent that started it. So a process is attributed to a pod and a node from its own
  ``/proc/<pid>/environ`` — even when the agent that started it is dead or lost its records.
* :class:`DockerView` (the ``docker`` runtime) asks the engine for *running* containers
  carrying the agents' ``haplane.node`` label (``<node>@<cluster id>``), as ``docker ps
  --filter label=...`` does; pod name and namespace come from the ``haplane.*`` labels.

Both can also SIGKILL every container of one node (a machine dies with its agent) and remove
whatever this run left behind. Each call runs off the event loop, under a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from haplane.aio import wait_for
from node_agent.runtime.base import L_NAMESPACE, L_NODE, L_POD_NAME
from node_agent.runtime.process import _proc_stat  # the runtime's own /proc/<pid>/stat parser

RUN_ENV = "HAPLANE_CHAOS_RUN"
POD_ENV = "HAPLANE_CHAOS_POD"
NAMESPACE_ENV = "HAPLANE_CHAOS_NAMESPACE"
CALL_TIMEOUT = 15.0

Running = list[tuple[str, str]]  # (node, "namespace/name") of every running container


def pod_env(run_label: str) -> list[dict[str, Any]]:
    """The container ``env`` that marks a pod of this run (see the module docstring)."""
    return [{"name": RUN_ENV, "value": run_label},
            {"name": POD_ENV, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": NAMESPACE_ENV, "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}]


def parse_environ(raw: bytes) -> dict[str, str]:
    """``/proc/<pid>/environ`` (NUL-separated ``KEY=VALUE``) as a dict. Pure."""
    out: dict[str, str] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep and key:
            out[key.decode(errors="replace")] = value.decode(errors="replace")
    return out


def attribute(env: Mapping[str, str], run_label: str, nodes: Mapping[str, str]) -> tuple[str, str] | None:
    """``(node, "namespace/name")`` of a container process of this run, from its environment;
    None for any other process. ``nodes`` maps node addresses to node names. Pure."""
    if env.get(RUN_ENV) != run_label or POD_ENV not in env:
        return None
    node = nodes.get(env.get("HOST_IP", ""), f"?{env.get('HOST_IP')}")
    return node, f"{env.get(NAMESPACE_ENV) or 'default'}/{env[POD_ENV]}"


def attribute_container(labels: Mapping[str, str], identities: Mapping[str, str]) -> tuple[str, str] | None:
    """``(node, "namespace/name")`` of a Docker container from its labels; None unless its
    ``haplane.node`` label is one of ``identities`` (``<node>@<cluster id>`` -> node). Pure."""
    node = identities.get(labels.get(L_NODE, ""))
    if node is None:
        return None
    return node, f"{labels.get(L_NAMESPACE) or 'default'}/{labels.get(L_POD_NAME)}"


class RuntimeView(Protocol):
    name: str

    async def running(self) -> Running:
        """Every container of this run that runs right now."""

    async def kill_node(self, node: str) -> int:
        """SIGKILL every container of ``node``; returns how many."""

    async def remove_all(self) -> int:
        """Kill and remove everything this run left behind (any node); returns how many."""


class ProcessView:
    """The ``process`` runtime's containers, found in ``/proc`` (see the module docstring)."""

    name = "process"

    def __init__(self, run_label: str, nodes: Mapping[str, str]) -> None:
        self.run_label = run_label
        self.nodes = dict(nodes)  # node address -> node name

    def _scan(self) -> list[tuple[int, str, str]]:
        """``(pgid, node, pod)`` of every living container process of this run."""
        out = []
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            st = _proc_stat(pid)
            if st is None or st[0] in "ZX" or st[1] != pid:  # zombies; not a group leader
                continue
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    env = parse_environ(f.read())
            except OSError:  # gone meanwhile, or a kernel thread
                continue
            if (where := attribute(env, self.run_label, self.nodes)) is not None:
                out.append((pid, *where))
        return out

    async def running(self) -> Running:
        found = await wait_for(asyncio.to_thread(self._scan), CALL_TIMEOUT)
        return [(node, pod) for _, node, pod in found]

    async def _kill(self, nodes: Iterable[str] | None) -> int:
        wanted = None if nodes is None else set(nodes)
        groups = [pgid for pgid, node, _ in await wait_for(asyncio.to_thread(self._scan), CALL_TIMEOUT)
                  if wanted is None or node in wanted]
        for pgid in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        deadline = time.monotonic() + 10.0
        while groups and time.monotonic() < deadline:  # SIGKILL is prompt; wait until they are gone
            alive = {pgid for pgid, _, _ in await asyncio.to_thread(self._scan)}
            if not alive & set(groups):
                break
            await asyncio.sleep(0.05)
        return len(groups)

    async def kill_node(self, node: str) -> int:
        return await self._kill([node])

    async def remove_all(self) -> int:
        return await self._kill(None)


class DockerView:
    """The ``docker`` runtime's containers, as the engine lists them."""

    name = "docker"

    def __init__(self, identities: Mapping[str, str]) -> None:
        self.identities = dict(identities)  # "<node>@<cluster id>" -> node name
        self._api: Any = None

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await wait_for(asyncio.to_thread(fn, *args, **kwargs), CALL_TIMEOUT)

    async def _engine(self) -> Any:
        if self._api is None:
            import docker

            self._api = (await self._call(docker.from_env, timeout=10)).api
        return self._api

    async def _containers(self, running_only: bool) -> list[tuple[str, str, str]]:
        """``(id, node, pod)`` of this run's containers."""
        api = await self._engine()
        filters: dict[str, Any] = {"label": [L_NODE]}
        if running_only:
            filters["status"] = "running"
        out = []
        for c in await self._call(api.containers, all=not running_only, filters=filters):
            if (where := attribute_container(c.get("Labels") or {}, self.identities)) is not None:
                out.append((c["Id"], *where))
        return out

    async def running(self) -> Running:
        return [(node, pod) for _, node, pod in await self._containers(running_only=True)]

    async def kill_node(self, node: str) -> int:
        api = await self._engine()
        victims = [cid for cid, n, _ in await self._containers(running_only=True) if n == node]
        import docker.errors

        for cid in victims:
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):  # exited meanwhile
                await self._call(api.kill, cid)
        return len(victims)

    async def remove_all(self) -> int:
        api = await self._engine()
        import docker.errors

        found = await self._containers(running_only=False)
        for cid, _, _ in found:
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                await self._call(api.remove_container, cid, force=True, v=True)
        return len(found)
