"""The agent's Node objects: building them (pure), registering them and heartbeating (I/O).

Registration (kubelet's): create the Node with our labels, the ``--taints`` and a status
(capacity/allocatable, addresses, the log endpoint, nodeInfo, Ready=True). If it exists,
bring labels and the status fields the agent owns up to date, keeping what others own:
``spec`` (``unschedulable`` and taints set by users or by the node lifecycle controller)
and the conditions (after a restart the Ready condition belongs to the lifecycle controller,
which flips it back and removes the unreachable taint once heartbeats resume — an agent
that forced Ready=True itself would leave that taint behind).

Heartbeats (Nomad's design, see :mod:`haplane.control.nodes`): ONE ``POST /cluster/heartbeat``
per period carries every node name this process runs, so 500 hollow nodes cost one small
request per second and nothing in the Raft log. A failed heartbeat is logged once per error
kind and never stops the loop.

:class:`NodeGroup` is used from one event loop. Registration is idempotent: it can be
re-run at any time (it is, every ``check_period``, to re-create a Node someone deleted).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import platform
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from haplane import errors
from haplane.client import Client
from haplane.clock import Clock, SystemClock, rfc3339
from haplane.model import registry
from node_agent.errlog import OnceLogger

log = logging.getLogger(__name__)

AGENT_VERSION = "haplane-agent/0.1.0"
HOSTNAME_LABEL = "kubernetes.io/hostname"
EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


@dataclass(frozen=True)
class NodeConfig:
    """What one node says about itself."""

    name: str
    address: str
    port: int  # the log server's port (daemonEndpoints.kubeletEndpoint.Port)
    runtime: str
    runtime_version: str = "unknown"
    cpu: str = "4"
    memory: str = "8Gi"
    pods: str = "110"
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[dict, ...] = ()
    log_address: str | None = None  # where the log server listens, when not ``address``
    log_https: bool = False


# ----------------------------------------------------------------------------- parsing


def parse_labels(text: str | None) -> dict[str, str]:
    """``k=v,k2=v2`` -> dict; raises ValueError on an item without ``=``."""
    out: dict[str, str] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"bad label {item!r}: expected key=value")
        out[key.strip()] = value.strip()
    return out


def parse_taints(text: str | None) -> list[dict]:
    """``key=value:Effect,key:Effect`` -> Kubernetes taints; raises ValueError."""
    out: list[dict] = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        kv, sep, effect = item.rpartition(":")
        if not sep or effect not in EFFECTS:
            raise ValueError(f"bad taint {item!r}: expected key[=value]:{'|'.join(EFFECTS)}")
        key, _, value = kv.partition("=")
        if not key:
            raise ValueError(f"bad taint {item!r}: empty key")
        taint = {"key": key, "effect": effect}
        if value:
            taint["value"] = value
        out.append(taint)
    return out


# ----------------------------------------------------------------------------- building (pure)


def _arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine or "unknown")


def node_labels(cfg: NodeConfig) -> dict[str, str]:
    """Well-known labels, then the configured ones (which win)."""
    return {HOSTNAME_LABEL: cfg.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": _arch(),
            "node.haplane.io/runtime": cfg.runtime, **cfg.labels}


def log_endpoint(cfg: NodeConfig) -> dict[str, Any]:
    """``daemonEndpoints.kubeletEndpoint``: the haplane extensions only when not the default
    (plain HTTP on the InternalIP), so an agent that needs none works with older replicas."""
    endpoint: dict[str, Any] = {"Port": cfg.port}
    if cfg.log_address and cfg.log_address != cfg.address:
        endpoint["Address"] = cfg.log_address
    if cfg.log_https:
        endpoint["Scheme"] = "https"
    return endpoint


def _read_first_line(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().strip()
    except OSError:
        return ""


def _os_image() -> str:
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                if key == "PRETTY_NAME":
                    return value.strip('"')
    except OSError:
        pass
    return "Linux"


@functools.cache
def system_ids() -> dict[str, str]:
    """The host identities kubelet reports in ``nodeInfo`` (all strings, "" when unknown: the
    Kubernetes clients require every one of them)."""
    machine_id = _read_first_line("/etc/machine-id")
    return {"machineID": machine_id, "systemUUID": _read_first_line("/sys/class/dmi/id/product_uuid") or machine_id,
            "bootID": _read_first_line("/proc/sys/kernel/random/boot_id"), "osImage": _os_image(),
            "kubeProxyVersion": ""}


def owned_status(cfg: NodeConfig) -> dict[str, Any]:
    """The status fields the agent owns (everything but the conditions)."""
    resources = {"cpu": cfg.cpu, "memory": cfg.memory, "pods": cfg.pods}
    return {
        "capacity": dict(resources),
        "allocatable": dict(resources),
        "addresses": [{"type": "InternalIP", "address": cfg.address}, {"type": "Hostname", "address": cfg.name}],
        "daemonEndpoints": {"kubeletEndpoint": log_endpoint(cfg)},
        "nodeInfo": {
            "containerRuntimeVersion": f"{cfg.runtime}://{cfg.runtime_version}",
            "kubeletVersion": AGENT_VERSION,
            "operatingSystem": "linux",
            "architecture": _arch(),
            "kernelVersion": platform.release(),
            **system_ids(),
        },
    }


def ready_condition(now: float) -> dict[str, Any]:
    ts = rfc3339(now)
    return {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "agent is posting ready status",
            "lastHeartbeatTime": ts, "lastTransitionTime": ts}


def new_node(cfg: NodeConfig, now: float) -> dict[str, Any]:
    """The Node to create: labels, the registration taints, a full status with Ready=True."""
    spec: dict[str, Any] = {}
    if cfg.taints:
        spec["taints"] = [dict(t) for t in cfg.taints]
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": cfg.name, "labels": node_labels(cfg)},
            "spec": spec, "status": {**owned_status(cfg), "conditions": [ready_condition(now)]}}


def normalized(kind: str, obj: dict) -> dict:
    """``obj`` as the API server stores it (defaults filled, None and unknown fields dropped),
    so "would this write change anything?" can be answered by comparing dicts."""
    return registry.validate(kind, obj)[0]


def node_update(existing: dict, cfg: NodeConfig) -> dict | None:
    """The object to PUT so the Node carries our labels (others' labels and the spec are
    kept), with ``existing``'s resourceVersion as the CAS; None when nothing would change."""
    meta = dict(existing.get("metadata") or {})
    labels = {**(meta.get("labels") or {}), **node_labels(cfg)}
    if labels == (meta.get("labels") or {}):
        return None
    meta["labels"] = labels
    return dict(existing, metadata=meta)


def status_update(existing: dict, cfg: NodeConfig, now: float) -> dict | None:
    """The object to PUT to ``/status``: our fields replaced, the conditions kept (Ready=True
    added only when there is no Ready condition at all); None when nothing would change."""
    old = existing.get("status") or {}
    conditions = list(old.get("conditions") or [])
    if not any(c.get("type") == "Ready" for c in conditions):
        conditions.append(ready_condition(now))
    status = {**old, **owned_status(cfg), "conditions": conditions}
    candidate = dict(existing, status=status)
    if normalized("Node", candidate).get("status") == old:
        return None
    return candidate


# ----------------------------------------------------------------------------- I/O


class NodeGroup:
    """Registers and heartbeats the Nodes of this process (one, or many hollow ones).

    ``run()`` registers every node (retrying until each succeeds, ``concurrency`` at a
    time), then heartbeats them all in one request every ``heartbeat`` seconds and
    re-checks registration every ``check_period`` seconds with one stale list. It only
    returns when cancelled. ``registered`` is set once every node was registered once.
    """

    def __init__(self, client: Client, configs: Iterable[NodeConfig], *, heartbeat: float = 1.0,
                 check_period: float = 60.0, concurrency: int = 16, clock: Clock | None = None,
                 on_heartbeat: Callable[[bool], None] | None = None) -> None:
        self.client = client
        self.configs = {c.name: c for c in configs}
        self.heartbeat = heartbeat
        self.check_period = check_period
        self.concurrency = concurrency
        self.clock = clock or SystemClock()
        self.on_heartbeat = on_heartbeat
        self.registered = asyncio.Event()
        self.heartbeats_ok = 0
        self.heartbeats_failed = 0
        self.errors = OnceLogger(log)

    async def run(self) -> None:
        # Heartbeats start before registration: the lifecycle controller counts a node it
        # has never heard from as silent since its leadership began, so a node registered
        # Ready without a heartbeat close behind would be marked NotReady at once.
        tasks = [asyncio.create_task(self._heartbeat_loop(), name="heartbeat")]
        try:
            await self.register_all()
            self.registered.set()
            tasks.append(asyncio.create_task(self._check_loop(), name="node-check"))
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()

    async def register_all(self, names: Iterable[str] | None = None) -> None:
        """Register the named nodes (default: all), each retried until it succeeds."""
        sem = asyncio.Semaphore(self.concurrency)

        async def one(cfg: NodeConfig) -> None:
            async with sem:
                delay = 0.5
                while True:
                    try:
                        await self.register(cfg)
                        self.errors.ok(f"register {cfg.name}")
                        return
                    except Exception as exc:  # noqa: BLE001 - any failure: log once, retry
                        self.errors.failed(f"register {cfg.name}", exc)
                    await self.clock.sleep(delay)
                    delay = min(delay * 2, 10.0)

        await asyncio.gather(*(one(self.configs[n]) for n in (names or self.configs)))

    async def register(self, cfg: NodeConfig) -> dict:
        """Create or update one Node (CAS writes; a Conflict re-reads and tries again)."""
        for _ in range(10):
            try:
                node = await self.client.get("Node", cfg.name, None)
            except errors.NotFound:
                try:
                    created = await self.client.create(new_node(cfg, self.clock.now()))
                    log.info("registered node %s (%s, %s)", cfg.name, cfg.address, cfg.runtime)
                    node = created
                except errors.AlreadyExists:
                    continue
            try:
                if (upd := node_update(node, cfg)) is not None:
                    node = await self.client.update(upd)
                if (st := status_update(node, cfg, self.clock.now())) is not None:
                    node = await self.client.update_status(st)
                return node
            except errors.Conflict:
                continue
        raise errors.Conflict(f"node {cfg.name} kept changing during registration")

    async def _heartbeat_loop(self) -> None:
        names = sorted(self.configs)
        next_at = self.clock.monotonic()
        while True:
            try:
                await self.client.request("POST", "/cluster/heartbeat", json={"nodes": names},
                                          timeout=max(2.0, self.heartbeat * 2))
                self.heartbeats_ok += 1
                self.errors.ok("heartbeat")
                ok = True
            except Exception as exc:  # noqa: BLE001 - a heartbeat never stops the loop
                self.heartbeats_failed += 1
                self.errors.failed("heartbeat", exc)
                ok = False
            if self.on_heartbeat is not None:
                self.on_heartbeat(ok)
            next_at += self.heartbeat
            now = self.clock.monotonic()
            if next_at < now:  # fell behind (a slow retry): do not burst to catch up
                next_at = now
            await self.clock.sleep(next_at - now)

    async def _check_loop(self) -> None:
        """Re-register Nodes that vanished (deleted by a user) — one stale list per period."""
        while True:
            await self.clock.sleep(self.check_period)
            try:
                listed = await self.client.list("Node", None, stale=True)
                present = {n["metadata"]["name"] for n in listed.get("items") or []}
                missing = [n for n in self.configs if n not in present]
                self.errors.ok("node check")
                if missing:
                    log.warning("re-registering %d node(s) that vanished: %s", len(missing), ", ".join(missing[:5]))
                    await self.register_all(missing)
            except Exception as exc:  # noqa: BLE001 - the loop survives its errors
                self.errors.failed("node check", exc)
