"""``haplane top nodes|pods``: resource usage from the metrics API (``metrics.k8s.io/v1beta1``),
printed in ``kubectl top``'s columns and units.

* ``haplane top pods [NAME] [-n NS | -A] [-l SELECTOR] [--containers] [--sort-by cpu|memory]``
  — NAME CPU(cores) MEMORY(bytes) (NAMESPACE first with ``-A``, POD and NAME per container with
  ``--containers``);
* ``haplane top nodes [NAME] [-l SELECTOR] [--sort-by cpu|memory]`` — NAME CPU(cores) CPU(%)
  MEMORY(bytes) MEMORY(%), the percentages of the node's allocatable resources.

CPU is printed in millicores rounded up (``12m``), memory in mebibytes rounded down (``3Mi``), as
kubectl prints them. The table functions are pure; ``main_top`` does the requests.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from decimal import ROUND_CEILING
from typing import Any

from haplane.cli import UsageError, make_client
from haplane.model.quantity import parse_quantity
from haplane.output import render

PREFIX = "/apis/metrics.k8s.io/v1beta1"
KINDS = {"pods": "pods", "pod": "pods", "po": "pods", "nodes": "nodes", "node": "nodes", "no": "nodes"}
Row = list[str]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("resource", metavar="nodes|pods", help="what to show: nodes (no) or pods (po)")
    p.add_argument("name", nargs="?", default=None, help="one node or pod")
    p.add_argument("-n", "--namespace", default=None, help="namespace of the pods (default: default)")
    p.add_argument("-A", "--all-namespaces", action="store_true", help="pods of every namespace")
    p.add_argument("-l", "--selector", default="", help="label selector (app=web,tier!=db)")
    p.add_argument("--containers", action="store_true", help="one line per container (pods)")
    p.add_argument("--sort-by", choices=("cpu", "memory"), default=None, help="largest first by cpu or memory")
    p.add_argument("--no-headers", action="store_true", help="leave out the header line")


# --- pure: quantities and tables -----------------------------------------------------------


def millicores(q: str | int | float) -> int:
    """A CPU quantity in millicores, rounded up (kubectl's ``MilliValue``)."""
    return int((parse_quantity(q) * 1000).to_integral_value(rounding=ROUND_CEILING))


def mebibytes(q: str | int | float) -> int:
    """A memory quantity in MiB, rounded down (kubectl prints ``bytes / 2**20``)."""
    return int(parse_quantity(q)) // (1 << 20)


def _cpu(usage: Mapping[str, Any]) -> int:
    return millicores(usage.get("cpu") or "0")


def _memory(usage: Mapping[str, Any]) -> int:
    return int(parse_quantity(usage.get("memory") or "0"))


def _pod_usage(item: Mapping[str, Any]) -> tuple[int, int]:
    cpu = sum(_cpu(c.get("usage") or {}) for c in item.get("containers") or [])
    mem = sum(_memory(c.get("usage") or {}) for c in item.get("containers") or [])
    return cpu, mem


def pod_table(items: Sequence[Mapping[str, Any]], *, containers: bool = False, all_namespaces: bool = False,
              sort_by: str | None = None) -> tuple[list[str], list[Row]]:
    """(headers, rows) of ``top pods``: per pod the sum of its containers, or per container."""
    def key(item: Mapping[str, Any]) -> tuple:
        cpu, mem = _pod_usage(item)
        meta = item.get("metadata") or {}
        measure = {"cpu": -cpu, "memory": -mem}.get(sort_by or "", 0)
        return (measure, meta.get("namespace", ""), meta.get("name", ""))

    headers = (["NAMESPACE"] if all_namespaces else []) + (["POD", "NAME"] if containers else ["NAME"]) + \
        ["CPU(cores)", "MEMORY(bytes)"]
    rows: list[Row] = []
    for item in sorted(items, key=key):
        meta = item.get("metadata") or {}
        lead = [str(meta.get("namespace", ""))] if all_namespaces else []
        if containers:
            for c in item.get("containers") or []:
                usage = c.get("usage") or {}
                rows.append([*lead, str(meta.get("name", "")), str(c.get("name", "")), f"{_cpu(usage)}m",
                             f"{_memory(usage) >> 20}Mi"])
        else:
            cpu, mem = _pod_usage(item)
            rows.append([*lead, str(meta.get("name", "")), f"{cpu}m", f"{mem >> 20}Mi"])
    return headers, rows


def _percent(used: int, available: int | None) -> str:
    return f"{used * 100 // available}%" if available else "<unknown>"


def node_table(items: Sequence[Mapping[str, Any]], nodes: Sequence[Mapping[str, Any]], *,
               sort_by: str | None = None) -> tuple[list[str], list[Row]]:
    """(headers, rows) of ``top nodes``; nodes without metrics are listed with ``<unknown>``
    (kubectl's way), the percentages are of each node's allocatable cpu and memory."""
    usage = {str((i.get("metadata") or {}).get("name")): i.get("usage") or {} for i in items}
    allocatable = {str(n["metadata"]["name"]): (n.get("status") or {}).get("allocatable") or {} for n in nodes}
    names = list(usage) + [n for n in allocatable if n not in usage]

    def key(name: str) -> tuple:
        u = usage.get(name)
        measure = 0 if u is None or sort_by is None else -(_cpu(u) if sort_by == "cpu" else _memory(u))
        return (u is None, measure, name)

    rows: list[Row] = []
    for name in sorted(names, key=key):
        u, alloc = usage.get(name), allocatable.get(name, {})
        if u is None:
            rows.append([name, "<unknown>", "<unknown>", "<unknown>", "<unknown>"])
            continue
        cpu_cap = millicores(alloc["cpu"]) if alloc.get("cpu") is not None else None
        mem_cap = int(parse_quantity(alloc["memory"])) if alloc.get("memory") is not None else None
        rows.append([name, f"{_cpu(u)}m", _percent(_cpu(u), cpu_cap), f"{_memory(u) >> 20}Mi",
                     _percent(_memory(u), mem_cap)])
    return ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"], rows


# --- I/O ------------------------------------------------------------------------------------


async def main_top(args: argparse.Namespace) -> int:
    kind = KINDS.get(str(args.resource).lower())
    if kind is None:
        raise UsageError(f"top shows nodes or pods, not {args.resource!r}")
    if kind == "nodes" and (args.containers or args.all_namespaces or args.namespace):
        raise UsageError("--containers, -n and -A apply to pods, not nodes")
    if args.all_namespaces and args.name:
        raise UsageError("a pod name cannot be given with -A")
    params = {"labelSelector": args.selector} if args.selector else {}
    ns = args.namespace or "default"
    async with make_client(args) as client:
        if kind == "nodes":
            path = f"{PREFIX}/nodes" + (f"/{args.name}" if args.name else "")
            got = await client.request("GET", path, params=params)
            items = [got] if args.name else list(got.get("items") or [])
            if args.name:
                nodes = [await client.get("Node", args.name, None)]
            else:
                nodes = list((await client.request("GET", "/api/v1/nodes", params=params)).get("items") or [])
            if not items:
                print("error: metrics not available yet", file=sys.stderr)
                return 1
            headers, rows = node_table(items, nodes, sort_by=args.sort_by)
        else:
            base = f"{PREFIX}/pods" if args.all_namespaces else f"{PREFIX}/namespaces/{ns}/pods"
            got = await client.request("GET", base + (f"/{args.name}" if args.name else ""), params=params)
            items = [got] if args.name else list(got.get("items") or [])
            if not items:
                pods_path = "/api/v1/pods" if args.all_namespaces else f"/api/v1/namespaces/{ns}/pods"
                pods = (await client.request("GET", pods_path, params=params)).get("items") or []
                if pods:
                    meta = pods[0]["metadata"]
                    print(f"error: metrics not available yet for pod {meta.get('namespace')}/{meta['name']} "
                          f"(a container needs two readings by its agent)", file=sys.stderr)
                    return 1
                print("No resources found" if args.all_namespaces else f"No resources found in {ns} namespace.",
                      file=sys.stderr)
                return 0
            headers, rows = pod_table(items, containers=args.containers, all_namespaces=args.all_namespaces,
                                      sort_by=args.sort_by)
    print(render(headers, rows, header=not args.no_headers), flush=True)
    return 0
