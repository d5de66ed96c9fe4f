"""Feasibility: can this pod run on this node? (Nomad's ``scheduler/feasible``, in functions.)

A predicate is ``(pod, node_info) -> str | None``: ``None`` when the pod fits, otherwise a
short reason that :func:`~haplane.control.scheduler.select.schedule` counts into the
Kubernetes-style "0/5 nodes are available: ..." message.

``pod`` is a Pod dict or a :class:`PodInfo` (the same pod with its requests parsed once);
the scheduler passes ``PodInfo`` so that no quantity is parsed per pod × node.

Predicates are pure and deterministic. They come in two groups:

- :data:`STATIC_PREDICATES` look only at the node object and the pod's placement constraints
  (nodeSelector, tolerations), never at other pods, so the scheduler evaluates them once per
  (pod shape, node) and caches the verdict;
- :data:`DYNAMIC_PREDICATES` depend on the pods already bound to the node and change as the
  scheduler places pods. Every one of them is monotonic: a node only gets fuller during a pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from haplane.model.quantity import parse_cpu, parse_memory

__all__ = [
    "PodInfo", "NodeInfo", "build_node_infos", "as_pod_info", "booked_info", "is_booked", "owner_uid",
    "node_ready", "node_schedulable", "matches_node_selector", "tolerates_taints", "fits_resources",
    "host_ports_free", "STATIC_PREDICATES", "DYNAMIC_PREDICATES", "PREDICATES", "Predicate",
]

Obj = Mapping[str, Any]
TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})
_BLOCKING_EFFECTS = frozenset({"NoSchedule", "NoExecute"})


def owner_uid(pod: Obj) -> str | None:
    """The uid of the pod's controller owner reference (``controller: true``), if any."""
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return ref.get("uid")
    return None


def _request(resources: Obj, name: str) -> Any:
    # As the Pod model does on validation: a limit without a request is the request.
    value = (resources.get("requests") or {}).get(name)
    return (resources.get("limits") or {}).get(name) if value is None else value


@dataclass(frozen=True, slots=True, eq=False)
class PodInfo:
    """A pod with what it asks of a node parsed once. Build with :meth:`of`."""

    pod: Obj
    cpu: int                                   # millicores, summed over containers
    memory: int                                # bytes, summed over containers
    host_ports: frozenset[tuple[str, int]]     # (protocol, hostPort) for non-zero hostPorts
    owner_uid: str | None

    @classmethod
    def of(cls, pod: Obj) -> PodInfo:
        """Parse ``pod``'s requests. Raises ValueError on an invalid quantity."""
        cpu = memory = 0
        ports: set[tuple[str, int]] = set()
        for container in (pod.get("spec") or {}).get("containers") or ():
            resources = container.get("resources") or {}
            if (q := _request(resources, "cpu")) is not None:
                cpu += parse_cpu(q)
            if (q := _request(resources, "memory")) is not None:
                memory += parse_memory(q)
            for port in container.get("ports") or ():
                if port.get("hostPort"):
                    ports.add((port.get("protocol") or "TCP", int(port["hostPort"])))
        return cls(pod, cpu, memory, frozenset(ports), owner_uid(pod))


def as_pod_info(pod: Obj | PodInfo) -> PodInfo:
    return pod if isinstance(pod, PodInfo) else PodInfo.of(pod)


def _quantity(parse: Callable[[Any], int], value: Any) -> int:
    try:
        return parse(value) if value is not None else 0
    except ValueError:
        return 0  # a node reporting garbage offers nothing


@dataclass(slots=True, eq=False)
class NodeInfo:
    """One node plus what the pods bound to it use. Mutable: :meth:`add_pod` books a placement."""

    node: Obj
    name: str
    labels: Mapping[str, str]
    ready: bool
    unschedulable: bool
    taints: tuple[Obj, ...]                    # only the NoSchedule / NoExecute ones
    allocatable_cpu: int                       # millicores
    allocatable_memory: int                    # bytes
    allocatable_pods: int | None               # None: no pod-count limit reported
    requested_cpu: int = 0
    requested_memory: int = 0
    pod_count: int = 0
    host_ports: set[tuple[str, int]] = field(default_factory=set)
    owner_counts: dict[str, int] = field(default_factory=dict)  # controller uid -> pods here
    port_counts: dict[tuple[str, int], int] = field(default_factory=dict)  # so remove_pod frees a port once unused

    @classmethod
    def of(cls, node: Obj) -> NodeInfo:
        """A NodeInfo with nothing bound. ``status.allocatable`` falls back to ``capacity``."""
        meta, spec, status = node.get("metadata") or {}, node.get("spec") or {}, node.get("status") or {}
        alloc = status.get("allocatable") or status.get("capacity") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or ())
        taints = tuple(t for t in spec.get("taints") or () if t.get("effect") in _BLOCKING_EFFECTS)
        pods = alloc.get("pods")
        return cls(
            node=node, name=meta.get("name", ""), labels=meta.get("labels") or {}, ready=ready,
            unschedulable=bool(spec.get("unschedulable")), taints=taints,
            allocatable_cpu=_quantity(parse_cpu, alloc.get("cpu")),
            allocatable_memory=_quantity(parse_memory, alloc.get("memory")),
            allocatable_pods=None if pods is None else _quantity(parse_memory, pods),  # a plain count
        )

    def add_pod(self, pod: Obj | PodInfo) -> PodInfo:
        """Account for ``pod`` running here. A bound pod with unparsable requests counts as 0.

        Returns the :class:`PodInfo` booked: pass that one to :meth:`remove_pod` to undo it."""
        info = booked_info(pod)
        self.requested_cpu += info.cpu
        self.requested_memory += info.memory
        self.pod_count += 1
        for port in info.host_ports:
            self.port_counts[port] = self.port_counts.get(port, 0) + 1
            self.host_ports.add(port)
        if info.owner_uid:
            self.owner_counts[info.owner_uid] = self.owner_counts.get(info.owner_uid, 0) + 1
        return info

    def remove_pod(self, info: PodInfo) -> None:
        """Undo :meth:`add_pod` of ``info`` (the PodInfo it returned). Booking and unbooking the
        same pods in any order leaves the same usage as booking only the pods still here."""
        self.requested_cpu -= info.cpu
        self.requested_memory -= info.memory
        self.pod_count -= 1
        for port in info.host_ports:
            left = self.port_counts.get(port, 0) - 1
            if left > 0:
                self.port_counts[port] = left
            else:
                self.port_counts.pop(port, None)
                self.host_ports.discard(port)
        if info.owner_uid:
            left = self.owner_counts.get(info.owner_uid, 0) - 1
            if left > 0:
                self.owner_counts[info.owner_uid] = left
            else:
                self.owner_counts.pop(info.owner_uid, None)


def booked_info(pod: Obj | PodInfo) -> PodInfo:
    """What a *bound* pod uses: its PodInfo, or nothing at all when its requests do not parse
    (it is already running there; refusing to count it would hide the node from no one)."""
    try:
        return as_pod_info(pod)
    except ValueError:
        return PodInfo(pod, 0, 0, frozenset(), owner_uid(pod))  # type: ignore[arg-type]


def is_booked(pod: Obj) -> str | None:
    """The node name a pod holds resources on: bound and not Succeeded/Failed (terminating
    pods still hold theirs). None for a pod that holds nothing."""
    node = (pod.get("spec") or {}).get("nodeName")
    if node and (pod.get("status") or {}).get("phase") not in TERMINAL_PHASES:
        return node
    return None


def build_node_infos(nodes: Iterable[Obj], pods: Iterable[Obj]) -> dict[str, NodeInfo]:
    """NodeInfo per node name, with every pod that has ``spec.nodeName`` of a known node and is
    not Succeeded/Failed booked on it (terminating pods still hold their resources)."""
    infos = {info.name: info for info in map(NodeInfo.of, nodes)}
    for pod in pods:
        info = infos.get(is_booked(pod) or "")
        if info is not None:
            info.add_pod(pod)
    return infos


Predicate = Callable[[Any, NodeInfo], "str | None"]


def node_ready(pod: Obj | PodInfo, ni: NodeInfo) -> str | None:
    """The node's Ready condition is "True"."""
    return None if ni.ready else "node(s) were not ready"


def node_schedulable(pod: Obj | PodInfo, ni: NodeInfo) -> str | None:
    """The node is not cordoned (``spec.unschedulable``)."""
    return "node(s) were unschedulable" if ni.unschedulable else None


def _spec(pod: Obj | PodInfo) -> Obj:
    return (pod.pod if isinstance(pod, PodInfo) else pod).get("spec") or {}


def matches_node_selector(pod: Obj | PodInfo, ni: NodeInfo) -> str | None:
    """Every ``spec.nodeSelector`` label is on the node with the same value."""
    labels = ni.labels
    for key, value in (_spec(pod).get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return "node(s) didn't match Pod's node affinity/selector"
    return None


def _tolerates(tol: Obj, taint: Obj) -> bool:
    if tol.get("effect") and tol["effect"] != taint.get("effect"):
        return False
    key = tol.get("key") or ""
    if (tol.get("operator") or "Equal") == "Exists":
        return not key or key == taint.get("key")
    return key == taint.get("key") and (tol.get("value") or "") == (taint.get("value") or "")


def tolerates_taints(pod: Obj | PodInfo, ni: NodeInfo) -> str | None:
    """Every NoSchedule / NoExecute taint of the node is tolerated by one of the pod's tolerations.

    Equal matches key and value, Exists matches the key (an empty key matches every taint); a
    toleration without an effect matches all effects. PreferNoSchedule never blocks.
    """
    if not ni.taints:
        return None
    tolerations = _spec(pod).get("tolerations") or ()
    for taint in ni.taints:
        if not any(_tolerates(tol, taint) for tol in tolerations):
            return f"node(s) had untolerated taint {{{taint.get('key')}: {taint.get('value') or ''}}}"
    return None


def fits_resources(pod: Obj | PodInfo, ni: NodeInfo) -> str | None:
    """The pod's cpu / memory requests fit in allocatable minus what bound pods request.

    A zero request always fits (as in Kubernetes); ``allocatable.pods``, when reported, caps the count.
    """
    info = as_pod_info(pod)
    if ni.allocatable_pods is not None and ni.pod_count >= ni.allocatable_pods:
        return "Too many pods"
    if info.cpu and ni.requested_cpu + info.cpu > ni.allocatable_cpu:
        return "Insufficient cpu"
    if info.memory and ni.requested_memory + info.memory > ni.allocatable_memory:
        return "Insufficient memory"
    return None


def host_ports_free(pod: Obj | PodInfo, ni: NodeInfo) -> str | None:
    """No non-zero hostPort (per protocol) of the pod is already used by a pod on the node."""
    info = as_pod_info(pod)
    if info.host_ports and not info.host_ports.isdisjoint(ni.host_ports):
        return "node(s) didn't have free ports for the requested pod ports"
    return None


STATIC_PREDICATES: tuple[Predicate, ...] = (node_ready, node_schedulable, matches_node_selector, tolerates_taints)
DYNAMIC_PREDICATES: tuple[Predicate, ...] = (fits_resources, host_ports_free)
# Cheapest first: the static ones are cached per pod shape, so they cost nothing per pod.
PREDICATES: tuple[Predicate, ...] = STATIC_PREDICATES + DYNAMIC_PREDICATES
