"""The hollow runtime: no process at all, every container "runs" the moment it starts.

Used to simulate hundreds of nodes in one process (Kubernetes' hollow nodes) and as the
recording fake in agent tests: every call is appended to ``calls``. State lives in memory
only, so ``list_managed`` adopts nothing across instances unless they share ``store``.
Host ports are reported (``hostPort``, else ``containerPort``) but nothing listens on them:
the agent should treat probes of hollow containers as passing.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import replace

from haplane.clock import Clock, SystemClock
from node_agent.runtime.base import (
    ContainerState,
    container_labels,
    declared_ports,
    host_port_map,
    identity_from_labels,
)
from node_agent.usage import Sample


class HollowRuntime:
    name = "hollow"

    def __init__(
        self,
        node_name: str,
        *,
        clock: Clock | None = None,
        store: dict[str, ContainerState] | None = None,
    ) -> None:
        self.node_name = node_name
        self.clock = clock or SystemClock()
        self.containers: dict[str, ContainerState] = {} if store is None else store
        self.calls: list[tuple] = []
        self._ids = itertools.count(1)

    async def start(
        self, pod: dict, container: dict, *, epoch: int, host_ip: str, restart_count: int = 0
    ) -> str:
        cid = f"h-{self.node_name}-{next(self._ids)}"
        while cid in self.containers:
            cid = f"h-{self.node_name}-{next(self._ids)}"
        self.calls.append(("start", (pod.get("metadata") or {}).get("uid"), container.get("name"), cid))
        decls = declared_ports(container)
        ports = host_port_map(decls, {d.container_port: d.host_port or d.container_port for d in decls})
        labels = container_labels(
            pod, container, epoch=epoch, node=self.node_name, restart_count=restart_count
        )
        self.containers[cid] = ContainerState(
            cid=cid,
            **identity_from_labels(labels),
            running=True,
            exit_code=None,
            started_at=self.clock.now(),
            finished_at=None,
            host_ports=ports,
        )
        return cid

    def exit(self, cid: str, code: int | None, reason: str | None = None) -> None:
        """Test hook: make a running container end with ``code``."""
        st = self.containers[cid]
        if st.running:
            self.containers[cid] = replace(
                st, running=False, exit_code=code, finished_at=self.clock.now(), reason=reason
            )

    async def stop(self, cid: str, grace: float) -> None:
        self.calls.append(("stop", cid, grace))
        if cid in self.containers:
            self.exit(cid, 143)

    async def inspect(self, cid: str) -> ContainerState | None:
        st = self.containers.get(cid)
        return None if st is None else replace(st)

    async def list_managed(self) -> list[ContainerState]:
        return [replace(s) for s in self.containers.values()]

    async def remove(self, cid: str, *, keep_log: bool = False) -> None:
        self.calls.append(("remove", cid))
        self.containers.pop(cid, None)

    async def exec(self, cid: str, argv: list[str], timeout: float) -> int:
        return 0

    async def usage(self, states: list[ContainerState]) -> dict[str, Sample]:
        """Nothing runs, so nothing is measured: hollow containers have no usage to report."""
        return {}

    log_features: frozenset[str] = frozenset()

    async def logs(self, cid: str, tail: int | None = None, follow: bool = False, *, timestamps: bool = False,
                   since: float | None = None) -> AsyncIterator[bytes]:
        if cid in self.containers:
            yield f"hollow container {cid}: no output\n".encode()

    def previous_logs(self, pod_uid: str, container: str, tail: int | None = None) -> AsyncIterator[bytes] | None:
        return None
