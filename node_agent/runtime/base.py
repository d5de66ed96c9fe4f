"""The runtime contract and the helpers every runtime shares.

A runtime turns one container of a pod (a Kubernetes-shaped dict) into something that
runs on this node, and reports what it observes as :class:`ContainerState`. Runtimes are
used from one asyncio event loop; every method is a coroutine that never blocks the loop.
``stop`` and ``remove`` are idempotent; ``inspect`` of an unknown id returns ``None``.

Host ports: a declared port with ``hostPort`` binds exactly that port on the node address
(``PortInUse`` if taken); a declared port without one gets a free port picked on the node
address. ``ContainerState.host_ports`` maps both the port's name (when it has one) and its
``containerPort`` number, as strings, to the host port actually bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import re
import signal
import socket
import subprocess
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from node_agent.usage import Sample

from haplane.aio import wait_for

LABEL_PREFIX = "haplane."
L_POD_UID = "haplane.pod-uid"
L_POD_NAME = "haplane.pod-name"
L_NAMESPACE = "haplane.namespace"
L_CONTAINER = "haplane.container"
L_EPOCH = "haplane.epoch"
L_NODE = "haplane.node"
L_RESTARTS = "haplane.restart-count"
L_PORTS = "haplane.port-names"  # JSON {"name": containerPort}, so inspect can name the ports again


@dataclass
class ContainerState:
    """One container as the runtime sees it now. ``exit_code`` is None while running or when
    unknowable (then ``reason == "Unknown"``)."""

    cid: str
    pod_uid: str
    pod_name: str
    namespace: str
    container: str
    epoch: int
    running: bool
    exit_code: int | None
    started_at: float | None
    finished_at: float | None
    host_ports: dict[str, int] = field(default_factory=dict)
    reason: str | None = None
    message: str | None = None
    restart_count: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return (self.pod_uid, self.container)


class RuntimeStartError(Exception):
    """The pod cannot be started as written (not a transient failure of the runtime).

    ``reason`` is a Kubernetes-style waiting reason: ImageNotFound, ErrImagePull,
    CommandNotFound, PortInUse, InvalidSpec, RunContainerError.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class Runtime(Protocol):
    name: str

    async def start(
        self, pod: dict, container: dict, *, epoch: int, host_ip: str, restart_count: int = 0
    ) -> str:
        """Create and start the container; return its id. Raises RuntimeStartError."""

    async def stop(self, cid: str, grace: float) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds. Idempotent; unknown ids are ignored."""

    async def inspect(self, cid: str) -> ContainerState | None: ...

    async def list_managed(self) -> list[ContainerState]:
        """Every container this runtime started for this node, running or not."""

    async def remove(self, cid: str, *, keep_log: bool = False) -> None:
        """Stop at once if needed and forget the container. Idempotent. ``keep_log``: the
        container is being restarted; keep its output for ``previous_logs``."""

    async def exec(self, cid: str, argv: list[str], timeout: float) -> int:
        """Run ``argv`` in the container's context; return its exit code (for exec probes)."""

    async def usage(self, states: list[ContainerState]) -> dict[str, Sample]:
        """A reading (cumulative CPU time, memory now) of each running container of ``states``,
        by id; a container that cannot be read now is left out (``kubectl top``)."""

    # what ``logs`` can do beyond tail/follow: "timestamps" (RFC 3339 prefixes), "since" (a start time)
    log_features: frozenset[str]

    def logs(self, cid: str, tail: int | None = None, follow: bool = False, *, timestamps: bool = False,
             since: float | None = None) -> AsyncIterator[bytes]: ...

    def previous_logs(self, pod_uid: str, container: str, tail: int | None = None) -> AsyncIterator[bytes] | None:
        """The output of the container's previous instance (kept by ``remove(keep_log=True)``),
        or None when there is none."""

    async def exec_session(self, cid: str, argv: list[str], *, stdin: bool, stdout: bool, stderr: bool,
                           tty: bool) -> ExecSession:
        """Start ``argv`` in the running container, its streams attached (``kubectl exec``).
        Raises LookupError if the container is gone, RuntimeStartError if the command cannot run."""

    async def open_port(self, cid: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to ``port`` of the container, as the pod itself sees it
        (``kubectl port-forward``). Raises OSError (refused, unreachable) or LookupError."""


class ExecSession(Protocol):
    """One command started by ``Runtime.exec_session``. ``output`` yields ``(1, bytes)`` for
    stdout and ``(2, bytes)`` for stderr until both are closed; ``wait`` returns the exit
    status; ``kill`` ends the command (and everything it started) at once. Idempotent closes."""

    def output(self) -> AsyncIterator[tuple[int, bytes]]: ...

    async def write(self, data: bytes) -> None: ...

    async def close_stdin(self) -> None: ...

    async def resize(self, width: int, height: int) -> None: ...

    async def wait(self) -> int: ...

    async def kill(self) -> None: ...


# --- labels --------------------------------------------------------------------------------


def container_labels(
    pod: dict, container: dict, *, epoch: int, node: str, restart_count: int
) -> dict[str, str]:
    meta = pod.get("metadata") or {}
    names = {p["name"]: int(p["containerPort"]) for p in container.get("ports") or [] if p.get("name")}
    return {
        L_POD_UID: str(meta.get("uid", "")),
        L_POD_NAME: str(meta.get("name", "")),
        L_NAMESPACE: str(meta.get("namespace") or "default"),
        L_CONTAINER: str(container.get("name", "")),
        L_EPOCH: str(int(epoch)),
        L_NODE: node,
        L_RESTARTS: str(int(restart_count)),
        L_PORTS: json.dumps(names, sort_keys=True, separators=(",", ":")),
    }


def identity_from_labels(labels: Mapping[str, str]) -> dict[str, Any]:
    """The ContainerState fields stored in labels (pod_uid ... restart_count)."""

    def as_int(v: str | None) -> int:
        try:
            return int(v or 0)
        except ValueError:
            return 0

    return {
        "pod_uid": labels.get(L_POD_UID, ""),
        "pod_name": labels.get(L_POD_NAME, ""),
        "namespace": labels.get(L_NAMESPACE, ""),
        "container": labels.get(L_CONTAINER, ""),
        "epoch": as_int(labels.get(L_EPOCH)),
        "restart_count": as_int(labels.get(L_RESTARTS)),
    }


def port_names_from_labels(labels: Mapping[str, str]) -> dict[int, str]:
    try:
        return {int(v): k for k, v in json.loads(labels.get(L_PORTS) or "{}").items()}
    except (ValueError, AttributeError):
        return {}


# --- ports ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PortDecl:
    name: str | None
    container_port: int
    host_port: int  # 0: pick one
    protocol: str  # "tcp" | "udp"

    def keys(self) -> list[str]:
        return [k for k in (self.name, str(self.container_port)) if k]


def declared_ports(container: dict) -> list[PortDecl]:
    out = []
    for p in container.get("ports") or []:
        try:
            cp = int(p["containerPort"])
            hp = int(p.get("hostPort") or 0)
        except (KeyError, TypeError, ValueError) as e:
            raise RuntimeStartError("InvalidSpec", f"bad port {p!r}") from e
        out.append(PortDecl(p.get("name"), cp, hp, str(p.get("protocol") or "TCP").lower()))
    return out


def host_port_map(decls: list[PortDecl], bound: Mapping[int, int]) -> dict[str, int]:
    """``bound`` maps containerPort -> host port; the result is keyed by name and number."""
    out: dict[str, int] = {}
    for d in decls:
        if d.container_port in bound:
            for k in d.keys():
                out[k] = bound[d.container_port]
    return out


def _sock_type(protocol: str) -> int:
    return socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM


def pick_free_port(host_ip: str, protocol: str = "tcp") -> int:
    """A port that was free on ``host_ip`` a moment ago (racy by nature: bind it soon)."""
    with socket.socket(socket.AF_INET, _sock_type(protocol)) as s:
        s.bind((host_ip, 0))
        return s.getsockname()[1]


def ensure_port_free(host_ip: str, port: int, protocol: str = "tcp") -> None:
    """Raise ``RuntimeStartError("PortInUse")`` if ``host_ip:port`` cannot be bound now."""
    with socket.socket(socket.AF_INET, _sock_type(protocol)) as s:
        # no SO_REUSEADDR: TIME_WAIT leftovers are fine for a listener, a live listener is not
        try:
            s.bind((host_ip, port))
        except OSError as e:
            if e.errno in (errno.EADDRINUSE, errno.EACCES):
                raise RuntimeStartError("PortInUse", f"{host_ip}:{port}/{protocol} is in use") from e
            raise RuntimeStartError("InvalidSpec", f"cannot bind {host_ip}:{port}: {e}") from e


def resolve_port(container: dict, port: int | str) -> tuple[str, int | None]:
    """A probe's ``port`` (number or name) -> (host_ports key, containerPort or None)."""
    if isinstance(port, int) or str(port).isdigit():
        return str(int(port)), int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return str(port), int(p["containerPort"])
    return str(port), None


# --- command and environment ---------------------------------------------------------------

_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: unknown variables stay as written, ``$$`` is ``$``."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return _VAR.sub(sub, str(text))


def env_port_name(key: str) -> str:
    return "PORT_" + re.sub(r"[^A-Za-z0-9]", "_", key).upper()


def container_env(
    pod: dict, container: dict, *, host_ip: str, listen_ports: Mapping[str, int]
) -> dict[str, str]:
    """The container's environment: ``HOST_IP``, ``PORT_<NAME>``/``PORT_<containerPort>`` (the
    port the workload should listen on, which differs per runtime), then the spec's ``env``
    in order, each value ``$(VAR)``-expanded against what came before. ``valueFrom`` supports
    ``fieldRef`` on the pod's own fields; other sources are left to the agent (skipped)."""
    env: dict[str, str] = {"HOST_IP": host_ip}
    for key, port in listen_ports.items():
        env[env_port_name(key)] = str(port)
    meta = pod.get("metadata") or {}
    fields = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace") or "default",
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": (pod.get("spec") or {}).get("nodeName"),
        "status.hostIP": host_ip,
        "status.podIP": host_ip,
    }
    for item in container.get("env") or []:
        name = item.get("name")
        if not name:
            continue
        if "value" in item:
            env[name] = expand(str(item.get("value") or ""), env)
        elif (ref := ((item.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")) in fields:
            env[name] = str(fields[ref] or "")
    return env


def container_argv(container: dict, env: Mapping[str, str]) -> list[str]:
    """``command`` + ``args`` with ``$(VAR)`` expansion (the image's entrypoint is not known here)."""
    return [expand(a, env) for a in [*(container.get("command") or []), *(container.get("args") or [])]]


def exit_status(returncode: int) -> int:
    """Popen's -N (killed by signal N) becomes 128+N, as shells and container engines report it."""
    return 128 - returncode if returncode < 0 else returncode


async def run_argv(
    argv: list[str], timeout: float, *, cwd: str | None = None, env: dict | None = None
) -> int:
    """Run a host command in its own process group, output discarded; return its exit status.
    On timeout (TimeoutError) or cancellation the whole group is killed and reaped first."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        return exit_status(await wait_for(proc.wait(), timeout))
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        raise


def grace_period(pod: dict, default: float = 30.0) -> float:
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    for v in (meta.get("deletionGracePeriodSeconds"), spec.get("terminationGracePeriodSeconds")):
        if v is not None:
            return max(0.0, float(v))
    return default
