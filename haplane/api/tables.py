"""Server-side printing: ``meta.k8s.io/v1`` Tables with Kubernetes' own columns for every kind.

kubectl asks for them with ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` and prints
what comes back; the columns and the cell rules follow Kubernetes' printers
(``pkg/printers/internalversion/printers.go``). As the API server does, every row carries every
column (it prints "wide" always); kubectl hides the columns of priority 1 unless ``-o wide``.

Pure: no I/O, no clock — callers pass ``now`` (an aware UTC datetime). The kubectl-like
string helpers (pod status, ages, ports, endpoints, labels) are the CLI's, in
:mod:`haplane.output`; this module adds the column definitions, the typed cells and the
Table envelope.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from haplane import output
from haplane.api.media import JSON_RANGES, media_ranges
from haplane.errors import BadRequest, NotAcceptable
from haplane.model.selectors import label_selector_from_obj

__all__ = [
    "Column", "TablePrinter", "PRINTERS", "printer_for", "table", "row", "TableRequest", "table_request",
    "IncludeObject",
]

Obj = Mapping[str, Any]
Cell = str | int
IncludeObject = Literal["None", "Metadata", "Object"]
NONE = output.NONE
UNKNOWN = output.UNKNOWN

TABLE_V1 = "meta.k8s.io/v1"
TABLE_V1BETA1 = "meta.k8s.io/v1beta1"


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "string"           # string | integer | number | boolean | date
    description: str = ""
    priority: int = 0              # 0: always shown; 1: with -o wide
    format: str = ""               # "name" for the object's name column

    def definition(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "format": self.format, "description": self.description,
                "priority": self.priority}


@dataclass(frozen=True)
class TablePrinter:
    columns: tuple[Column, ...]
    cells: Callable[[Obj, datetime], list[Cell]]
    # row conditions (Kubernetes marks finished pods "Completed" so clients may hide them)
    conditions: Callable[[Obj], list[dict[str, str]]] | None = None


# ------------------------------------------------------------------------------ descriptions
NAME = Column("Name", format="name", description="Name must be unique within a namespace. Is required when "
              "creating resources, although some resources may allow a client to request the generation of an "
              "appropriate name automatically. Name is primarily intended for creation idempotence and "
              "configuration definition. Cannot be updated.")
AGE = Column("Age", description="CreationTimestamp is a timestamp representing the server time when this object "
             "was created. It is not guaranteed to be set in happens-before order across separate operations. "
             "Clients may not set this value. It is represented in RFC3339 form and is in UTC.")
CONTAINERS = Column("Containers", priority=1, description="Names of each container in the template.")
IMAGES = Column("Images", priority=1, description="Images referenced by each container in the template.")


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _selector_string(sel: Any) -> str:
    """A ``{matchLabels, matchExpressions}`` selector as Kubernetes prints it (``""`` when empty)."""
    if not isinstance(sel, Mapping):
        return ""
    try:
        return str(label_selector_from_obj(sel))
    except BadRequest:
        return "<invalid>"


# ------------------------------------------------------------------------------ printers
def pod_cells(obj: Obj, now: datetime) -> list[Cell]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    base = output.pod_row(obj, now, wide=False)
    ips = status.get("podIPs") or []
    pod_ip = (ips[0].get("ip") if ips and isinstance(ips[0], Mapping) else None) or status.get("podIP") or NONE
    gates = spec.get("readinessGates") or []
    readiness = NONE
    if gates:
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or [] if isinstance(c, Mapping)}
        true = sum(1 for g in gates if isinstance(g, Mapping) and conditions.get(g.get("conditionType")) == "True")
        readiness = f"{true}/{len(gates)}"
    return [*base, pod_ip, spec.get("nodeName") or NONE, status.get("nominatedNodeName") or NONE, readiness]


def pod_conditions(obj: Obj) -> list[dict[str, str]]:
    phase = (obj.get("status") or {}).get("phase")
    if phase == "Succeeded":
        return [{"type": "Completed", "status": "True", "reason": "Succeeded",
                 "message": "The pod has completed successfully."}]
    if phase == "Failed":
        return [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]
    return []


def _template_cells(spec: Obj) -> list[Cell]:
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    return [",".join(str(c.get("name", "")) for c in containers),
            ",".join(str(c.get("image", "")) for c in containers)]


def deployment_cells(obj: Obj, now: datetime) -> list[Cell]:
    spec = obj.get("spec") or {}
    st = obj.get("status") or {}
    desired = spec.get("replicas", 1)
    return [_name(obj), f"{_int(st.get('readyReplicas'))}/{_int(desired)}", _int(st.get("updatedReplicas")),
            _int(st.get("availableReplicas")), output.age(obj, now), *_template_cells(spec),
            _selector_string(spec.get("selector"))]


def replicaset_cells(obj: Obj, now: datetime) -> list[Cell]:
    spec = obj.get("spec") or {}
    st = obj.get("status") or {}
    return [_name(obj), _int(spec.get("replicas", 1)), _int(st.get("replicas")), _int(st.get("readyReplicas")),
            output.age(obj, now), *_template_cells(spec), _selector_string(spec.get("selector")) or NONE]


def _addresses(obj: Obj, kind: str) -> str:
    found = [str(a.get("address", "")) for a in (obj.get("status") or {}).get("addresses") or []
             if isinstance(a, Mapping) and a.get("type") == kind]
    return found[0] if found else NONE


def node_cells(obj: Obj, now: datetime) -> list[Cell]:
    info = (obj.get("status") or {}).get("nodeInfo") or {}
    return [*output.node_row(obj, now, wide=False), _addresses(obj, "InternalIP"), _addresses(obj, "ExternalIP"),
            str(info.get("osImage") or UNKNOWN), str(info.get("kernelVersion") or UNKNOWN),
            str(info.get("containerRuntimeVersion") or UNKNOWN)]


def service_cells(obj: Obj, now: datetime) -> list[Cell]:
    spec = obj.get("spec") or {}
    svc_type = spec.get("type") or "ClusterIP"
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    external = ",".join(spec.get("externalIPs") or []) or (NONE if svc_type in ("ClusterIP", "NodePort")
                                                           else "<pending>")
    return [_name(obj), svc_type, ips[0] if ips else NONE, external, output.service_ports(spec),
            output.age(obj, now), output.format_labels(spec.get("selector"))]


def endpoints_cells(obj: Obj, now: datetime) -> list[Cell]:
    return [_name(obj), output.format_endpoints(obj), output.age(obj, now)]


def configmap_cells(obj: Obj, now: datetime) -> list[Cell]:
    return [_name(obj), len(obj.get("data") or {}) + len(obj.get("binaryData") or {}), output.age(obj, now)]


def namespace_cells(obj: Obj, now: datetime) -> list[Cell]:
    return output.namespace_row(obj, now, wide=False)


def event_cells(obj: Obj, now: datetime) -> list[Cell]:
    first_ts = obj.get("firstTimestamp") or obj.get("eventTime")
    first = output.since(first_ts, now)
    last = output.since(obj["lastTimestamp"], now) if obj.get("lastTimestamp") else first
    count = _int(obj.get("count"))
    series = obj.get("series")
    if isinstance(series, Mapping):
        last, count = output.since(series.get("lastObservedTime"), now), _int(series.get("count"))
    count = count or 1
    inv = obj.get("involvedObject") or {}
    kind = str(inv.get("kind") or "").lower()
    target = f"{kind}/{inv['name']}" if inv.get("name") else kind
    source = obj.get("source") or {}
    component = source.get("component") or obj.get("reportingComponent") or ""
    instance = source.get("host") or obj.get("reportingInstance") or ""
    source_s = f"{component}, {instance}" if component and instance else component
    return [last, str(obj.get("type") or ""), str(obj.get("reason") or ""), target,
            str(inv.get("fieldPath") or ""), source_s, str(obj.get("message") or "").strip(), first, count, _name(obj)]


def default_cells(obj: Obj, now: datetime) -> list[Cell]:
    return [_name(obj), str((obj.get("metadata") or {}).get("creationTimestamp") or "")]


PRINTERS: dict[str, TablePrinter] = {
    "Pod": TablePrinter((
        NAME,
        Column("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
        Column("Status", description="The aggregate status of the containers in this pod."),
        Column("Restarts", description="The number of times the containers in this pod have been restarted "
               "and when the last container in this pod has restarted."),
        AGE,
        Column("IP", priority=1, description="podIP address allocated to the pod. Routable at least within the "
               "cluster. Empty if not yet allocated."),
        Column("Node", priority=1, description="NodeName indicates in which node this pod is scheduled."),
        Column("Nominated Node", priority=1, description="nominatedNodeName is set only when this pod preempts "
               "other pods on the node, but it cannot be scheduled right away as preemption victims receive "
               "their graceful termination periods."),
        Column("Readiness Gates", priority=1, description="If specified, all readiness gates will be evaluated "
               "for pod readiness."),
    ), pod_cells, pod_conditions),
    "Deployment": TablePrinter((
        NAME,
        Column("Ready", description="Number of the pod with ready state"),
        Column("Up-to-date", description="Total number of non-terminated pods targeted by this deployment that "
               "have the desired template spec."),
        Column("Available", description="Total number of available pods (ready for at least minReadySeconds) "
               "targeted by this deployment."),
        AGE, CONTAINERS, IMAGES,
        Column("Selector", priority=1, description="Label selector for pods. Existing ReplicaSets whose pods are "
               "selected by this will be the ones affected by this deployment."),
    ), deployment_cells),
    "ReplicaSet": TablePrinter((
        NAME,
        Column("Desired", "integer", "Replicas is the number of desired replicas."),
        Column("Current", "integer", "Replicas is the most recently observed number of replicas."),
        Column("Ready", "integer", "The number of ready replicas for this replica set."),
        AGE, CONTAINERS, IMAGES,
        Column("Selector", priority=1, description="Selector is a label query over pods that should match the "
               "replica count."),
    ), replicaset_cells),
    "Node": TablePrinter((
        NAME,
        Column("Status", description="The status of the node"),
        Column("Roles", description="The roles of the node"),
        AGE,
        Column("Version", description="Kubelet Version reported by the node."),
        Column("Internal-IP", priority=1, description="List of addresses reachable to the node."),
        Column("External-IP", priority=1, description="List of addresses reachable to the node."),
        Column("OS-Image", priority=1, description="OS Image reported by the node from /etc/os-release."),
        Column("Kernel-Version", priority=1, description="Kernel Version reported by the node."),
        Column("Container-Runtime", priority=1, description="ContainerRuntime Version reported by the node."),
    ), node_cells),
    "Service": TablePrinter((
        NAME,
        Column("Type", description="type determines how the Service is exposed."),
        Column("Cluster-IP", description="clusterIP is the IP address of the service."),
        Column("External-IP", description="externalIPs is a list of IP addresses for which nodes in the cluster "
               "will also accept traffic for this service."),
        Column("Port(s)", description="The list of ports that are exposed by this service."),
        AGE,
        Column("Selector", priority=1, description="Route service traffic to pods with label keys and values "
               "matching this selector."),
    ), service_cells),
    "Endpoints": TablePrinter((
        NAME,
        Column("Endpoints", description="The set of all endpoints is the union of all subsets."),
        AGE,
    ), endpoints_cells),
    "ConfigMap": TablePrinter((
        NAME,
        Column("Data", description="Data contains the configuration data."),
        AGE,
    ), configmap_cells),
    "Namespace": TablePrinter((
        NAME,
        Column("Status", description="The status of the namespace"),
        AGE,
    ), namespace_cells),
    "Event": TablePrinter((
        Column("Last Seen", description="The time at which the most recent occurrence of this event was "
               "recorded."),
        Column("Type", description="Type of this event (Normal, Warning), new types could be added in the "
               "future"),
        Column("Reason", description="This should be a short, machine understandable string that gives the "
               "reason for the transition into the object's current status."),
        Column("Object", description="The object that this event is about."),
        Column("Subobject", priority=1, description="If referring to a piece of an object instead of an entire "
               "object, this string should contain a valid JSON/Go field access statement."),
        Column("Source", priority=1, description="The component reporting this event."),
        Column("Message", description="A human-readable description of the status of this operation."),
        Column("First Seen", priority=1, description="The time at which the event was first recorded."),
        Column("Count", priority=1, description="The number of times this event has occurred."),
        Column("Name", priority=1, format="name", description=NAME.description),
    ), event_cells),
}
DEFAULT = TablePrinter((NAME, Column("Created At", "date", AGE.description)), default_cells)


def printer_for(kind: str) -> TablePrinter:
    return PRINTERS.get(kind, DEFAULT)


# ------------------------------------------------------------------------------ envelope
@dataclass(frozen=True)
class TableRequest:
    """What the client asked for: a Table (and which version), and how much of each object."""

    api_version: str                 # meta.k8s.io/v1 or meta.k8s.io/v1beta1
    include_object: IncludeObject = "Metadata"
    no_headers: bool = False


def table_request(accept: str | None, query: Mapping[str, str]) -> TableRequest | None:
    """The Table the Accept header asks for, or None for plain JSON.

    Media types are taken in the order given (kubectl lists Table v1, Table v1beta1, then plain
    JSON as fallbacks). A header that asks only for representations this server cannot produce
    (another ``as=``, or protobuf only) is 406 NotAcceptable. ``includeObject`` is
    None | Metadata (the default) | Object; anything else is 400.
    """
    chosen: str | None = None
    acceptable = False
    for media, params in media_ranges(accept):
        if media not in JSON_RANGES:
            continue
        as_ = params.get("as")
        if as_ is None:
            acceptable = True
            break
        if as_ == "Table" and params.get("g") == "meta.k8s.io" and params.get("v") in ("v1", "v1beta1"):
            chosen = f"meta.k8s.io/{params['v']}"
            acceptable = True
            break
    if not acceptable and accept and accept.strip():
        raise NotAcceptable(f"only the following media types are accepted: application/json, "
                            f"application/json;as=Table;v=v1;g=meta.k8s.io (got {accept[:200]!r})")
    include = query.get("includeObject", "Metadata") or "Metadata"
    if include not in ("None", "Metadata", "Object"):
        raise BadRequest(f'includeObject must be one of "None", "Metadata", "Object", not {include[:64]!r}')
    if chosen is None:
        return None
    return TableRequest(chosen, include)  # type: ignore[arg-type]


def _partial_metadata(obj: Obj, api_version: str) -> dict[str, Any]:
    return {"kind": "PartialObjectMetadata", "apiVersion": api_version, "metadata": obj.get("metadata") or {}}


def row(kind: str, obj: Obj, now: datetime, include: IncludeObject = "Metadata",
        api_version: str = TABLE_V1) -> dict[str, Any]:
    """One Table row: every column's cell, and the object as ``include`` asks."""
    printer = printer_for(kind)
    out: dict[str, Any] = {"cells": printer.cells(obj, now)}
    if printer.conditions is not None and (conds := printer.conditions(obj)):
        out["conditions"] = conds
    if include == "Object":
        out["object"] = obj
    elif include == "Metadata":
        out["object"] = _partial_metadata(obj, api_version)
    return out


def table(kind: str, objs: Iterable[Obj], now: datetime, req: TableRequest, *, resource_version: str | None = None,
          continue_token: str | None = None, remaining: int | None = None, headers: bool = True) -> dict[str, Any]:
    """A Table of ``objs`` (all of ``kind``); ``headers=False`` leaves out the column definitions
    (watch events after the first)."""
    meta: dict[str, Any] = {}
    if resource_version is not None:
        meta["resourceVersion"] = resource_version
    if continue_token:
        meta["continue"] = continue_token
    if remaining is not None:
        meta["remainingItemCount"] = remaining
    return {
        "kind": "Table", "apiVersion": req.api_version, "metadata": meta,
        "columnDefinitions": [c.definition() for c in printer_for(kind).columns] if headers and not req.no_headers
        else None,
        "rows": [row(kind, o, now, req.include_object, req.api_version) for o in objs],
    }
