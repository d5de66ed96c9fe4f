"""The Endpoints controller: one Endpoints object per Service, listing its ready pods.

Pods share their node's address, so an endpoint is ``(hostIP, host port)``: the agent reports,
per container, which node port each declared container port was published on
(``status.containerStatuses[].hostPorts``). A Service port's ``targetPort`` (a number or a
container port name) is resolved through the pod's spec to that host port. Pods that are not
Ready go to ``notReadyAddresses``; addresses that share the same ports form one subset, as in
Kubernetes.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from haplane.control.leader import ControlContext
from haplane.control.loops import level_triggered
from haplane.errors import AlreadyExists, Conflict, HaplaneError, NotFound
from haplane.model.selectors import label_selector_from_obj
from haplane.store import commands

log = logging.getLogger(__name__)

TERMINAL = frozenset({"Succeeded", "Failed"})


def pod_is_ready(pod: dict) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def host_port(pod: dict, target: Any) -> int | None:
    """The node port on which ``pod`` publishes ``target`` (a container port number or name)."""
    spec_ports = [(c["name"], p) for c in (pod.get("spec") or {}).get("containers") or []
                  for p in c.get("ports") or []]
    wanted = None
    for container, port in spec_ports:
        if (isinstance(target, str) and port.get("name") == target) or port.get("containerPort") == target:
            wanted = (container, port)
            break
    if wanted is None:
        return None
    container, port = wanted
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") != container:
            continue
        ports = cs.get("hostPorts") or {}
        for key in (port.get("name"), str(port.get("containerPort"))):
            if key and key in ports:
                return int(ports[key])
    if port.get("hostPort"):
        return int(port["hostPort"])
    return None


def endpoint_subsets(service: dict, pods: list[dict]) -> list[dict]:
    """The ``subsets`` of a Service's Endpoints. Pure and deterministic (sorted by pod name)."""
    spec = service.get("spec") or {}
    selector = spec.get("selector")
    if not selector:
        return []  # a Service without a selector has manually managed endpoints
    sel = label_selector_from_obj({"matchLabels": selector})
    groups: dict[tuple, dict[str, list]] = {}
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        meta, status = pod["metadata"], pod.get("status") or {}
        if meta.get("deletionTimestamp") or status.get("phase") in TERMINAL or not status.get("hostIP"):
            continue
        if not sel.matches(meta.get("labels")):
            continue
        ports = []
        for sp in spec.get("ports") or []:
            target = sp.get("targetPort", sp.get("port"))
            hp = host_port(pod, target)
            if hp is not None:
                ports.append((sp.get("name") or "", hp, sp.get("protocol") or "TCP"))
        if len(ports) != len(spec.get("ports") or []):
            continue  # not every service port is published yet
        key = tuple(ports)
        group = groups.setdefault(key, {"addresses": [], "notReadyAddresses": []})
        addr = {"ip": status["hostIP"], "nodeName": (pod.get("spec") or {}).get("nodeName"),
                "targetRef": {"kind": "Pod", "name": meta["name"], "namespace": meta.get("namespace"),
                              "uid": meta.get("uid")}}
        group["addresses" if pod_is_ready(pod) else "notReadyAddresses"].append(addr)
    subsets = []
    for key in sorted(groups):
        g = groups[key]
        subset: dict[str, Any] = {"ports": [{"name": n, "port": p, "protocol": proto} if n else
                                            {"port": p, "protocol": proto} for n, p, proto in key]}
        if g["addresses"]:
            subset["addresses"] = g["addresses"]
        if g["notReadyAddresses"]:
            subset["notReadyAddresses"] = g["notReadyAddresses"]
        subsets.append(subset)
    return subsets


async def endpoints_step(ctx: ControlContext) -> None:
    fsm = ctx.store.fsm
    services, _ = fsm.list("Service", None)
    writes = []
    for svc in services:
        meta = svc["metadata"]
        if not (svc.get("spec") or {}).get("selector"):
            continue
        pods, _ = fsm.list("Pod", meta["namespace"])
        subsets = endpoint_subsets(svc, pods)
        current = fsm.get("Endpoints", meta["namespace"], meta["name"])
        if current is not None and (current.get("subsets") or []) == subsets:
            continue
        writes.append(_write(ctx, svc, current, subsets))
    await asyncio.gather(*writes)


async def _write(ctx: ControlContext, svc: dict, current: dict | None, subsets: list[dict]) -> None:
    meta = svc["metadata"]
    ns, name = meta["namespace"], meta["name"]
    try:
        if current is None:
            obj = {"apiVersion": "v1", "kind": "Endpoints",
                   "metadata": {"name": name, "namespace": ns, "uid": str(uuid.uuid4()),
                                "creationTimestamp": ctx.timestamp(), "labels": dict(meta.get("labels") or {}),
                                "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": name,
                                                     "uid": meta["uid"], "controller": True}]},
                   "subsets": subsets}
            await ctx.write(commands.create("Endpoints", ns, obj))
        else:
            await ctx.write(commands.update("Endpoints", ns, name, dict(current, subsets=subsets),
                                            rv=current["metadata"]["resourceVersion"]))
    except (AlreadyExists, Conflict, NotFound):
        pass  # the next step sees the current state
    except HaplaneError as exc:
        log.info("endpoints %s/%s: %s", ns, name, exc)


async def endpoints_loop(ctx: ControlContext) -> None:
    await level_triggered(ctx, ("Service", "Pod"), endpoints_step)
