"""kubectl-style tables, as pure functions of API objects and ``now``.

Nothing here does I/O or reads the clock: callers pass ``now`` (an aware UTC datetime),
so the same objects always render the same rows. ``table(kind, objs, now)`` gives
``(headers, rows)``; ``render(headers, rows)`` lays them out like kubectl (left-aligned
columns, three spaces apart). Kinds without a dedicated printer get ``NAME AGE``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Obj = Mapping[str, Any]
Row = list[str]

NONE = "<none>"
UNKNOWN = "<unknown>"


# ----------------------------------------------------------------------------- time


def parse_time(ts: Any) -> datetime | None:
    """An RFC 3339 timestamp (``2024-05-01T10:00:00Z``, fractions and offsets allowed) or None."""
    if not isinstance(ts, str) or not ts:
        return None
    s = ts.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def human_duration(seconds: float) -> str:
    """kubectl's ``duration.HumanDuration``: 45s, 3m20s, 42m, 5h10m, 30h, 3d4h, 40d, 3y20d, 9y."""
    if seconds < -1:
        return "<invalid>"
    s = int(max(0, seconds))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = s // 3600
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if h < 24 * 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if d < 365 * 2:
        return f"{d}d"
    y = d // 365
    if y < 8:
        return f"{y}y{d % 365}d" if d % 365 else f"{y}y"
    return f"{y}y"


def since(ts: Any, now: datetime) -> str:
    """Age of a timestamp at ``now`` (``<unknown>`` when absent or unparseable)."""
    t = parse_time(ts)
    if t is None:
        return UNKNOWN
    return human_duration((now - t).total_seconds())


def age(obj: Obj, now: datetime) -> str:
    return since(_get(obj, "metadata", "creationTimestamp"), now)


# ----------------------------------------------------------------------------- names


def _get(obj: Any, *path: str, default: Any = None) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return default
        obj = obj.get(key)
        if obj is None:
            return default
    return obj


def group_of(api_version: str | None) -> str:
    """``apps/v1`` → ``apps``; ``v1`` → ``""`` (the core group)."""
    if api_version and "/" in api_version:
        return api_version.split("/", 1)[0]
    return ""


def kind_ref(kind: str, api_version: str | None = None) -> str:
    """``deployment.apps`` / ``pod``: the way kubectl names a kind in its output."""
    group = group_of(api_version)
    return f"{kind.lower()}.{group}" if group else kind.lower()


def resource_name(obj: Obj) -> str:
    """``deployment.apps/web`` (kubectl's ``-o name``)."""
    return f"{kind_ref(str(obj.get('kind') or ''), obj.get('apiVersion'))}/{_get(obj, 'metadata', 'name', default='')}"


def format_labels(labels: Mapping[str, Any] | None) -> str:
    """``a=1,b=2`` sorted by key, ``<none>`` when empty."""
    if not labels:
        return NONE
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _int(v: Any) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return 0


# ----------------------------------------------------------------------------- printers


def pod_row(obj: Obj, now: datetime, wide: bool) -> Row:
    """NAME READY STATUS RESTARTS AGE [IP NODE] — kubectl's ``printPod`` logic."""
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    total = len(spec.get("containers") or [])
    reason = status.get("reason") or status.get("phase") or "Pending"
    restarts = 0
    ready = 0
    last_restart: datetime | None = None

    def note_restart(cs: Mapping[str, Any]) -> None:
        nonlocal restarts, last_restart
        restarts += _int(cs.get("restartCount"))
        finished = parse_time(_get(cs, "lastState", "terminated", "finishedAt"))
        if _int(cs.get("restartCount")) and finished and (last_restart is None or finished > last_restart):
            last_restart = finished

    initializing = False
    init_specs = spec.get("initContainers") or []
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        note_restart(cs)
        term = _get(cs, "state", "terminated")
        waiting = _get(cs, "state", "waiting")
        if term is not None and _int(term.get("exitCode")) == 0:
            continue
        if term is not None:
            if term.get("reason"):
                reason = "Init:" + str(term["reason"])
            elif _int(term.get("signal")):
                reason = f"Init:Signal:{_int(term.get('signal'))}"
            else:
                reason = f"Init:ExitCode:{_int(term.get('exitCode'))}"
        elif waiting is not None and waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            reason = "Init:" + str(waiting["reason"])
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    if not initializing:
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            note_restart(cs)
            waiting = _get(cs, "state", "waiting")
            term = _get(cs, "state", "terminated")
            if waiting is not None and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif term is not None and term.get("reason"):
                reason = str(term["reason"])
            elif term is not None:
                sig = _int(term.get("signal"))
                reason = f"Signal:{sig}" if sig else f"ExitCode:{_int(term.get('exitCode'))}"
            elif cs.get("ready") and _get(cs, "state", "running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition(obj, "Ready") == "True" else "NotReady"

    if _get(obj, "metadata", "deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"

    restarts_s = str(restarts)
    if last_restart is not None:
        restarts_s += f" ({human_duration((now - last_restart).total_seconds())} ago)"
    row = [_get(obj, "metadata", "name", default=""), f"{ready}/{total}", reason, restarts_s, age(obj, now)]
    if wide:
        row += [status.get("podIP") or NONE, spec.get("nodeName") or NONE]
    return row


def _condition(obj: Obj, ctype: str) -> str | None:
    for c in _get(obj, "status", "conditions", default=[]) or []:
        if isinstance(c, Mapping) and c.get("type") == ctype:
            return str(c.get("status"))
    return None


def _containers_images(template_spec: Mapping[str, Any]) -> tuple[str, str]:
    cs = template_spec.get("containers") or []
    return (",".join(str(c.get("name", "")) for c in cs) or NONE,
            ",".join(str(c.get("image", "")) for c in cs) or NONE)


def deployment_row(obj: Obj, now: datetime, wide: bool) -> Row:
    """NAME READY UP-TO-DATE AVAILABLE AGE [CONTAINERS IMAGES SELECTOR]."""
    spec = obj.get("spec") or {}
    st = obj.get("status") or {}
    desired = _int(spec.get("replicas", 1))
    row = [_get(obj, "metadata", "name", default=""), f"{_int(st.get('readyReplicas'))}/{desired}",
           str(_int(st.get("updatedReplicas"))), str(_int(st.get("availableReplicas"))), age(obj, now)]
    if wide:
        containers, images = _containers_images(_get(spec, "template", "spec", default={}))
        row += [containers, images, format_labels(_get(spec, "selector", "matchLabels"))]
    return row


ROLE_LABEL = "node-role.kubernetes.io/"


def node_status(obj: Obj) -> str:
    """``Ready`` / ``NotReady`` / ``Unknown`` from the Ready condition, ``,SchedulingDisabled`` when cordoned."""
    ready = _condition(obj, "Ready")
    parts = ["Unknown" if ready is None else ("Ready" if ready == "True" else "NotReady")]
    if _get(obj, "spec", "unschedulable"):
        parts.append("SchedulingDisabled")
    return ",".join(parts)


def node_row(obj: Obj, now: datetime, wide: bool) -> Row:
    """NAME STATUS ROLES AGE VERSION [INTERNAL-IP OS-IMAGE CONTAINER-RUNTIME]."""
    labels = _get(obj, "metadata", "labels", default={}) or {}
    roles = sorted(k[len(ROLE_LABEL):] for k in labels if k.startswith(ROLE_LABEL) and k[len(ROLE_LABEL):])
    if not roles and labels.get("kubernetes.io/role"):
        roles = [str(labels["kubernetes.io/role"])]
    info = _get(obj, "status", "nodeInfo", default={}) or {}
    row = [_get(obj, "metadata", "name", default=""), node_status(obj), ",".join(roles) or NONE, age(obj, now),
           str(info.get("kubeletVersion") or "")]
    if wide:
        ips = [a.get("address", "") for a in _get(obj, "status", "addresses", default=[]) or []
               if isinstance(a, Mapping) and a.get("type") == "InternalIP"]
        row += [",".join(ips) or NONE, str(info.get("osImage") or NONE), str(info.get("containerRuntimeVersion") or NONE)]
    return row


def service_ports(spec: Mapping[str, Any]) -> str:
    """``80/TCP,443:30443/TCP`` (port[:nodePort]/protocol), ``<none>`` when none."""
    out = []
    for p in spec.get("ports") or []:
        proto = p.get("protocol") or "TCP"
        if p.get("nodePort"):
            out.append(f"{p.get('port')}:{p.get('nodePort')}/{proto}")
        else:
            out.append(f"{p.get('port')}/{proto}")
    return ",".join(out) or NONE


def service_row(obj: Obj, now: datetime, wide: bool) -> Row:
    """NAME TYPE PORT(S) SELECTOR AGE."""
    spec = obj.get("spec") or {}
    return [_get(obj, "metadata", "name", default=""), spec.get("type") or "ClusterIP", service_ports(spec),
            format_labels(spec.get("selector")), age(obj, now)]


def format_endpoints(obj: Obj, limit: int = 3) -> str:
    """``ip:port,...`` — the first ``limit`` then `` + N more...`` like kubectl; ``<none>`` without subsets,
    ``""`` with subsets but no ready address (as Kubernetes prints it)."""
    items: list[str] = []
    for subset in obj.get("subsets") or []:
        ports = subset.get("ports") or [{}]
        for port in ports:
            for addr in subset.get("addresses") or []:
                ip = addr.get("ip", "")
                items.append(f"{ip}:{port['port']}" if port.get("port") is not None else str(ip))
    if not obj.get("subsets"):
        return NONE
    if len(items) > limit:
        return ",".join(items[:limit]) + f" + {len(items) - limit} more..."
    return ",".join(items)


def endpoints_row(obj: Obj, now: datetime, wide: bool) -> Row:
    """NAME ENDPOINTS AGE."""
    return [_get(obj, "metadata", "name", default=""), format_endpoints(obj), age(obj, now)]


def configmap_row(obj: Obj, now: datetime, wide: bool) -> Row:
    """NAME DATA AGE."""
    n = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
    return [_get(obj, "metadata", "name", default=""), str(n), age(obj, now)]


def namespace_row(obj: Obj, now: datetime, wide: bool) -> Row:
    """NAME STATUS AGE."""
    return [_get(obj, "metadata", "name", default=""), _get(obj, "status", "phase", default="Active"), age(obj, now)]


def event_row(obj: Obj, now: datetime, wide: bool) -> Row:
    """LAST SEEN TYPE REASON OBJECT MESSAGE [FIRST SEEN COUNT NAME]."""
    created = _get(obj, "metadata", "creationTimestamp")
    first = obj.get("firstTimestamp") or obj.get("eventTime") or created
    last = (obj.get("lastTimestamp") or _get(obj, "series", "lastObservedTime") or obj.get("eventTime")
            or first)
    count = _int(obj.get("count")) or _int(_get(obj, "series", "count"))
    last_seen = since(last, now)
    if count > 1:
        last_seen += f" (x{count} over {since(first, now)})"
    inv = obj.get("involvedObject") or obj.get("regarding") or {}
    ref = f"{str(inv.get('kind') or '').lower()}/{inv.get('name') or ''}"
    row = [last_seen, str(obj.get("type") or ""), str(obj.get("reason") or ""), ref,
           " ".join(str(obj.get("message") or obj.get("note") or "").split())]
    if wide:
        row += [since(first, now), str(count or 1), _get(obj, "metadata", "name", default="")]
    return row


def generic_row(obj: Obj, now: datetime, wide: bool) -> Row:
    """NAME AGE."""
    return [_get(obj, "metadata", "name", default=""), age(obj, now)]


@dataclass(frozen=True)
class Printer:
    headers: tuple[str, ...]
    wide_headers: tuple[str, ...]
    row: Callable[[Obj, datetime, bool], Row]
    #: index of the column that holds the object's name (prefixed kind/name in multi-kind output)
    name_col: int | None = 0


PRINTERS: dict[str, Printer] = {
    "Pod": Printer(("NAME", "READY", "STATUS", "RESTARTS", "AGE"), ("IP", "NODE"), pod_row),
    "Deployment": Printer(("NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"),
                          ("CONTAINERS", "IMAGES", "SELECTOR"), deployment_row),
    "Node": Printer(("NAME", "STATUS", "ROLES", "AGE", "VERSION"),
                    ("INTERNAL-IP", "OS-IMAGE", "CONTAINER-RUNTIME"), node_row),
    "Service": Printer(("NAME", "TYPE", "PORT(S)", "SELECTOR", "AGE"), (), service_row),
    "Endpoints": Printer(("NAME", "ENDPOINTS", "AGE"), (), endpoints_row),
    "ConfigMap": Printer(("NAME", "DATA", "AGE"), (), configmap_row),
    "Namespace": Printer(("NAME", "STATUS", "AGE"), (), namespace_row),
    "Event": Printer(("LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"),
                     ("FIRST SEEN", "COUNT", "NAME"), event_row, name_col=None),
}
GENERIC = Printer(("NAME", "AGE"), (), generic_row)


def printer_for(kind: str) -> Printer:
    return PRINTERS.get(kind, GENERIC)


def headers_for(kind: str, *, wide: bool = False, namespace_column: bool = False) -> list[str]:
    p = printer_for(kind)
    hs = list(p.headers) + (list(p.wide_headers) if wide else [])
    return (["NAMESPACE"] + hs) if namespace_column else hs


def row_for(kind: str, obj: Obj, now: datetime, *, wide: bool = False, namespace_column: bool = False,
            kind_prefix: bool = False) -> Row:
    """One table row. ``kind_prefix`` names the object ``pod/web`` (multi-kind output)."""
    p = printer_for(kind)
    row = [str(c) for c in p.row(obj, now, wide)]
    if kind_prefix and p.name_col is not None:
        api_version = obj.get("apiVersion")
        row[p.name_col] = f"{kind_ref(kind, api_version)}/{row[p.name_col]}"
    if namespace_column:
        row.insert(0, str(_get(obj, "metadata", "namespace", default="")))
    return row


def table(kind: str, objs: Iterable[Obj], now: datetime, *, wide: bool = False, namespace_column: bool = False,
          kind_prefix: bool = False) -> tuple[list[str], list[Row]]:
    """``(headers, rows)`` for objects of one kind, in the order given."""
    return (headers_for(kind, wide=wide, namespace_column=namespace_column),
            [row_for(kind, o, now, wide=wide, namespace_column=namespace_column, kind_prefix=kind_prefix)
             for o in objs])


def column_widths(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[int]:
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            if i < len(widths):
                widths[i] = max(widths[i], len(cell))
            else:
                widths.append(len(cell))
    return widths


def render_row(row: Sequence[str], widths: Sequence[int], gap: int = 3) -> str:
    cells = [cell.ljust(widths[i]) if i < len(widths) else cell for i, cell in enumerate(row)]
    return (" " * gap).join(cells).rstrip()


def render(headers: Sequence[str], rows: Sequence[Sequence[str]], *, header: bool = True,
           widths: Sequence[int] | None = None) -> str:
    """Left-aligned columns three spaces apart (kubectl's tabwriter), no trailing spaces."""
    widths = list(widths) if widths is not None else column_widths(headers, rows)
    lines = [render_row(headers, widths)] if header else []
    lines += [render_row(r, widths) for r in rows]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- watched tables


def object_key(obj: Obj) -> tuple[str, str]:
    """(namespace, name): where a watched object's row sits in a live table."""
    return (str(_get(obj, "metadata", "namespace", default="") or ""),
            str(_get(obj, "metadata", "name", default="") or ""))


def apply_watch_event(objs: dict[tuple[str, str], Obj], event_type: str, obj: Obj) -> None:
    """Fold one watch event into ``objs`` (key -> latest object): ADDED and MODIFIED put the
    object, DELETED removes it; BOOKMARK, ERROR and unknown types change nothing."""
    if event_type in ("ADDED", "MODIFIED"):
        objs[object_key(obj)] = obj
    elif event_type == "DELETED":
        objs.pop(object_key(obj), None)


def watched_table(kind: str, objs: Mapping[tuple[str, str], Obj], now: datetime, *, wide: bool = False,
                  namespace_column: bool = False) -> str:
    """The whole table of the watched objects, by namespace and name (``get -w`` on a terminal)."""
    headers, rows = table(kind, [objs[k] for k in sorted(objs)], now, wide=wide, namespace_column=namespace_column)
    return render(headers, rows)


# ----------------------------------------------------------------------------- cluster status


CLUSTER_HEADERS = ["NAME", "RAFT", "HTTP", "ROLE", "TERM", "COMMIT", "APPLIED", "LAG"]


def cluster_rows(status: Mapping[str, Any]) -> tuple[list[str], list[Row]]:
    """The ``haplane cluster status`` table; the leader's name carries a ``*``. LAG is the leader's
    commit index minus the member's match index, as the leader sees it (learners included)."""
    leader = status.get("leader")
    rows = []
    for m in status.get("members") or []:
        name = str(m.get("name", ""))
        is_leader = (leader is not None and name == leader) or m.get("role") == "leader"
        rows.append([name + ("*" if is_leader else ""), str(m.get("raft") or ""), str(m.get("http") or ""),
                     str(m.get("role") or "unknown"),
                     *("" if m.get(k) is None else str(m.get(k))
                       for k in ("term", "commitIndex", "appliedIndex", "lag"))])
    return list(CLUSTER_HEADERS), rows
