"""The ``metrics.k8s.io/v1beta1`` objects (PodMetrics, NodeMetrics and their lists), built from
the agents' ``/stats/summary`` documents (:mod:`node_agent.stats`) and the stored objects. Pure.

Shapes as metrics-server answers them: ``metadata`` (name, namespace, labels, a
``creationTimestamp`` of now), ``timestamp`` (when the newer reading was taken), ``window``
(a Go duration, the time between the two readings the rate comes from), and ``usage`` /
``containers[].usage`` with ``cpu`` in the largest exact decimal unit (``"12m"``,
``"1234567n"``) and ``memory`` in the largest exact binary one (``"12345Ki"``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from haplane.clock import rfc3339
from haplane.model.quantity import format_bytes, format_nanocores

GROUP_VERSION = "metrics.k8s.io/v1beta1"


def go_duration(seconds: float) -> str:
    """Seconds as a Go ``time.Duration`` string, to the millisecond: ``1.5`` -> ``"1.5s"``."""
    text = f"{max(0.0, seconds):.3f}".rstrip("0").rstrip(".")
    return f"{text}s"


def _usage(cpu: Mapping[str, Any], memory: Mapping[str, Any]) -> dict[str, str] | None:
    nanocores, working_set = cpu.get("usageNanoCores"), memory.get("workingSetBytes")
    if not isinstance(nanocores, int) or not isinstance(working_set, int) or nanocores < 0 or working_set < 0:
        return None
    return {"cpu": format_nanocores(nanocores), "memory": format_bytes(working_set)}


def _window(cpu: Mapping[str, Any]) -> float:
    w = cpu.get("window")
    return float(w) if isinstance(w, (int, float)) else 0.0


def _meta(obj: Mapping[str, Any], now: float) -> dict[str, Any]:
    src = obj.get("metadata") or {}
    meta: dict[str, Any] = {"name": src.get("name", "")}
    if src.get("namespace"):
        meta["namespace"] = src["namespace"]
    meta["creationTimestamp"] = rfc3339(now)
    if src.get("labels"):
        meta["labels"] = dict(src["labels"])
    return meta


def pod_metrics(pod: Mapping[str, Any], stats: Mapping[str, Any] | None, now: float) -> dict[str, Any] | None:
    """The PodMetrics of a stored pod from its entry in its node's summary (matched by uid);
    None when no container of it is measured (a pod just started, or its agent did not answer)."""
    if not stats:
        return None
    containers, times, window = [], [], 0.0
    for c in stats.get("containers") or []:
        cpu, memory = c.get("cpu") or {}, c.get("memory") or {}
        usage = _usage(cpu, memory)
        if usage is None or not c.get("name"):
            continue
        containers.append({"name": c["name"], "usage": usage})
        times.append(str(cpu.get("time") or ""))
        window = max(window, _window(cpu))
    if not containers:
        return None
    return {"kind": "PodMetrics", "apiVersion": GROUP_VERSION, "metadata": _meta(pod, now),
            "timestamp": max(times) or rfc3339(now), "window": go_duration(window), "containers": containers}


def node_metrics(node: Mapping[str, Any], summary: Mapping[str, Any] | None, now: float) -> dict[str, Any] | None:
    """The NodeMetrics of a stored node from its summary; None when the node is not measured."""
    stats = (summary or {}).get("node") or {}
    cpu, memory = stats.get("cpu") or {}, stats.get("memory") or {}
    usage = _usage(cpu, memory)
    if usage is None:
        return None
    return {"kind": "NodeMetrics", "apiVersion": GROUP_VERSION, "metadata": _meta(node, now),
            "timestamp": str(cpu.get("time") or rfc3339(now)), "window": go_duration(_window(cpu)), "usage": usage}


def pods_by_uid(summary: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    """A summary's pod entries by pod uid."""
    out = {}
    for p in (summary or {}).get("pods") or []:
        uid = (p.get("podRef") or {}).get("uid") if isinstance(p, Mapping) else None
        if isinstance(uid, str) and uid:
            out[uid] = p
    return out


def pod_metrics_items(pods: Iterable[Mapping[str, Any]], summaries: Mapping[str, Mapping[str, Any] | None],
                      now: float) -> list[dict[str, Any]]:
    """PodMetrics of each pod (in order) whose node's summary measures it; ``summaries`` maps a
    node name to its summary (None: the agent did not answer — its pods are left out)."""
    by_node = {name: pods_by_uid(s) for name, s in summaries.items()}
    out = []
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        uid = (pod.get("metadata") or {}).get("uid")
        item = pod_metrics(pod, by_node.get(node, {}).get(uid), now) if node else None
        if item is not None:
            out.append(item)
    return out


def metrics_list(kind: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """``PodMetricsList`` / ``NodeMetricsList``."""
    return {"kind": f"{kind}List", "apiVersion": GROUP_VERSION, "metadata": {}, "items": items}
