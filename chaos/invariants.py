"""The checks a run must pass, as pure functions of what was recorded.

Each returns a :class:`Verdict` (``ok`` True / False / None = could not decide). Nothing here
does I/O or reads a clock: the runner gathers histories, final reads, hashes and samples and
hands them in.

Control plane (used by every scenario now):

* :func:`linearizable` — every register's history (Wing–Gong search in :mod:`chaos.checker`).
* :func:`no_lost_writes` — the final value read linearizably through *every* replica is one an
  acknowledged history allows, and all replicas agree.
* :func:`creates_durable` — acknowledged creates exist on every replica; definitely failed ones
  exist nowhere; nothing exists that nobody tried to create.
* :func:`write_recovery` — after each recovery point the cluster accepted a write within the
  scenario's bound.
* :func:`quiet_windows` — a replica cut off from the quorum acknowledges nothing: no op sent to
  it after it was isolated completes ok before it is reconnected (no write, no read).
* :func:`converged` — every replica reports one state hash within the bound.

Workers (judged on samples of what the runtimes really run, see :mod:`chaos.pods`):

* :func:`single_running_pod` — never two running copies of one pod (namespace/name).
* :func:`desired_counts_reached` — every Deployment has ``spec.replicas`` ready pods of its
  current template, each really running on the node it is bound to.
* :func:`pods_recovered` — after each disruption of the workers, desired counts are reached
  again within the scenario's bound.
* :func:`no_pods_on_foreign_nodes` — no pod keeps running on a node it is not bound to.
* :func:`adopted` — a restarted agent keeps the containers it finds running (same container
  id before and after), never starts them again.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chaos.checker import check_history, check_no_lost_writes
from chaos.history import FAIL, OK, UNKNOWN, History, Op
from haplane.control.reconcile.podtemplate import HASH_LABEL, template_hash


@dataclass
class Verdict:
    name: str
    ok: bool | None
    summary: str
    details: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def to_doc(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "summary": self.summary, "details": self.details,
                "data": self.data}


@dataclass(frozen=True)
class Mutation:
    """A write-like op for recovery measurement: a register write/CAS or a create."""

    invoke_t: float
    complete_t: float | None
    result: str


@dataclass(frozen=True)
class QuietWindow:
    """While ``[start, end]``, ``replicas`` could not reach a quorum: they must ack nothing."""

    replicas: tuple[str, ...]
    start: float
    end: float
    why: str


# ----------------------------------------------------------------------------- registers


def linearizable(history: History, initial: Any, *, budget_s: float = 30.0) -> Verdict:
    results = check_history(history, initial, budget_s=budget_s)
    bad = {k: r for k, r in results.items() if r.ok is not True}
    summ = history.summary()
    data = {"keys": len(results), "ops": summ["ops"], "ok": summ["ok"], "fail": summ["fail"],
            "unknown": summ["unknown"],
            "steps": sum(r.steps for r in results.values()),
            "check_s": round(sum(r.elapsed for r in results.values()), 3)}
    if not bad:
        return Verdict("linearizable", True,
                       f"{len(results)} registers, {summ['ops']} ops ({summ['ok']} ok, {summ['fail']} fail, "
                       f"{summ['unknown']} unknown): linearizable", data=data)
    ok: bool | None = None if all(r.ok is None for r in bad.values()) else False
    what = "NOT linearizable" if ok is False else "undecided (search budget exhausted)"
    details = [str(r) for r in bad.values()]
    return Verdict("linearizable", ok, f"{', '.join(sorted(bad))}: {what}", details, data)


def no_lost_writes(history: History, finals: Mapping[str, Mapping[str, Any]], keys: Iterable[str],
                   replicas: Iterable[str], initial: Any) -> Verdict:
    """``finals``: ``{replica: {key: value}}`` from linearizable reads after the run."""
    keys, replicas = list(keys), list(replicas)
    details: list[str] = []
    ok = True
    for r in replicas:
        got = finals.get(r)
        if got is None or set(got) != set(keys):
            ok = False
            missing = sorted(set(keys) - set(got or {}))
            details.append(f"{r}: no final linearizable read of {missing}")
            continue
        res = check_no_lost_writes(history, dict(got), initial)
        if res.ok is not True:
            ok = False
            details.append(f"{r}: {res.message}" + (f"; last acknowledged write: {res.failed_op}"
                                                     if res.failed_op else ""))
    for k in keys:
        seen = {r: finals[r][k] for r in replicas if r in finals and k in finals[r]}
        if len(set(map(repr, seen.values()))) > 1:
            ok = False
            details.append(f"{k}: replicas disagree: {seen}")
    summary = (f"final reads through {len(replicas)} replicas hold an acknowledged value for "
               f"{len(keys)} registers" if ok else f"{len(details)} problem(s)")
    return Verdict("no-lost-writes", ok, summary, details)


NOT_APPLIED_ERRORS = ("ConnectionFailed", "Unavailable")


def client_contract(history: History) -> Verdict:
    """haplane's client promises that ``Unavailable`` (and its ``ConnectionFailed``) means the
    request was not applied. No value written by a write/CAS that raised one may ever be read.

    Values are unique per write, so one ok read of such a value proves the write was applied.
    """
    promised: dict[tuple[str, Any], Op] = {}
    for op in history.ops:
        if op.f in ("write", "cas") and op.result != OK and (op.error or "").startswith(NOT_APPLIED_ERRORS):
            new = op.value if op.f == "write" else op.value[1]
            promised[(op.key, new)] = op
    details = []
    for op in history.ops:
        if op.f == "read" and op.result == OK and (op.key, op.output) in promised:
            w = promised.pop((op.key, op.output))
            details.append(f"reported not applied: {w}\n    but read later: {op}")
    if details:
        return Verdict("client-contract", False, f"{len(details)} write(s) the client reported as not applied "
                       "took effect", details)
    return Verdict("client-contract", True, f"none of {len(promised)} write(s) the client reported as not "
                   "applied was ever read")


# ----------------------------------------------------------------------------- creates


def creates_durable(records: Iterable[Any], lists: Mapping[str, set[str]], replicas: Iterable[str]) -> Verdict:
    """``records``: objects with ``name`` and ``result``; ``lists``: ``{replica: names found}``."""
    records = list(records)
    replicas = list(replicas)
    acked = {r.name for r in records if r.result == OK}
    failed = {r.name for r in records if r.result == FAIL}
    tried = {r.name for r in records}
    details: list[str] = []
    for rep in replicas:
        found = lists.get(rep)
        if found is None:
            details.append(f"{rep}: never answered the final list")
            continue
        if lost := sorted(acked - found):
            details.append(f"{rep}: {len(lost)} acknowledged create(s) missing: {lost[:10]}")
        if ghosts := sorted(found & failed):
            details.append(f"{rep}: {len(ghosts)} create(s) that failed definitely exist: {ghosts[:10]}")
        if phantoms := sorted(found - tried):
            details.append(f"{rep}: {len(phantoms)} object(s) nobody created: {phantoms[:10]}")
    n_unknown = sum(1 for r in records if r.result == UNKNOWN)
    data = {"creates": len(records), "ok": len(acked), "fail": len(failed), "unknown": n_unknown}
    if details:
        return Verdict("creates-durable", False, f"{len(details)} problem(s)", details, data)
    return Verdict("creates-durable", True,
                   f"{len(acked)} acknowledged creates present on all {len(replicas)} replicas, "
                   f"{len(failed)} failed ones absent", data=data)


# ----------------------------------------------------------------------------- liveness


def recovery_times(mutations: Iterable[Mutation], points: Iterable[tuple[str, float]]
                   ) -> list[tuple[str, float, float | None]]:
    """For each ``(label, t)``: seconds from ``t`` to the completion of the first ok mutation
    invoked at or after ``t`` (None if there is none)."""
    oks = sorted((m.invoke_t, m.complete_t) for m in mutations
                 if m.result == OK and m.complete_t is not None)
    out = []
    for label, t in points:
        first = min((c for i, c in oks if i >= t), default=None)
        out.append((label, t, None if first is None else first - t))
    return out


def longest_write_gap(mutations: Iterable[Mutation], start: float, end: float,
                      outages: Iterable[tuple[float, float]] = ()) -> tuple[float, float]:
    """The longest stretch of ``[start, end]`` in which no write was acknowledged, not counting
    declared outages (e.g. while a quorum is deliberately down). Returns ``(seconds, at)``."""
    acks = sorted(m.complete_t for m in mutations
                  if m.result == OK and m.complete_t is not None and start < m.complete_t < end)
    merged: list[list[float]] = []
    for a, b in sorted(outages):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    best, at = 0.0, start
    edges = [start, *acks, end]
    for a, b in zip(edges, edges[1:], strict=False):
        gap = (b - a) - sum(max(0.0, min(b, hi) - max(a, lo)) for lo, hi in merged)
        if gap > best:
            best, at = gap, a
    return best, at


def write_recovery(mutations: Iterable[Mutation], points: Iterable[tuple[str, float]], bound: float,
                   t0: float = 0.0, window: tuple[float, float] | None = None,
                   outages: Iterable[tuple[float, float]] = ()) -> Verdict:
    """After each recovery point a write is acknowledged within ``bound``; and, over ``window``
    (the fault phase and after), no stretch outside the declared ``outages`` goes longer than
    ``bound`` without an acknowledged write (a cluster that elects and then loses its leader
    again and again fails here, not on the first point)."""
    mutations = list(mutations)
    times = recovery_times(mutations, points)
    details = [f"{label} at +{t - t0:.2f}s: " + ("no acknowledged write after it" if d is None else f"{d:.2f}s")
               for label, t, d in times]
    worst = max((math.inf if d is None else d for _, _, d in times), default=0.0)
    gap, gap_at = longest_write_gap(mutations, *window, outages) if window else (0.0, 0.0)
    if window:
        details.append(f"longest stretch without an acknowledged write: {gap:.2f}s from +{gap_at - t0:.2f}s")
    ok = worst <= bound and gap <= bound
    data = {"bound_s": bound, "worst_s": None if worst == math.inf else round(worst, 3),
            "longest_gap_s": round(gap, 3), "longest_gap_at": round(gap_at - t0, 3),
            "points": [{"label": lb, "t": round(t - t0, 3), "recovery_s": None if d is None else round(d, 3)}
                       for lb, t, d in times]}
    never = worst == math.inf
    summary = (f"first write {'never' if never else f'{worst:.2f}s'} after the worst of {len(times)} "
               f"disruption(s); longest stretch without a write {gap:.2f}s (bound {bound:g}s)")
    return Verdict("write-recovery", ok, summary, details, data)


def quiet_windows(ops: Iterable[Op], creates: Iterable[Any], windows: Iterable[QuietWindow],
                  pinned: Mapping[int, str], t0: float = 0.0) -> Verdict:
    """No op by a process pinned to an isolated replica, invoked inside the window, completed ok
    inside it. ``pinned`` maps process ids to replica names; creates carry their ``replica``."""
    windows = list(windows)
    details: list[str] = []
    checked = 0
    for w in windows:
        for op in ops:
            if pinned.get(op.process) in w.replicas and w.start <= op.invoke_t <= w.end:
                checked += 1
                if op.result == OK and op.complete_t is not None and op.complete_t <= w.end:
                    details.append(f"{w.why}: {pinned[op.process]} acknowledged {op}")
        for c in creates:
            if c.replica in w.replicas and w.start <= c.invoke_t <= w.end:
                checked += 1
                if c.result == OK and c.complete_t is not None and c.complete_t <= w.end:
                    details.append(f"{w.why}: {c.replica} acknowledged create {c.name} "
                                   f"[+{c.invoke_t - t0:.3f}, +{c.complete_t - t0:.3f}]")
    data = {"windows": [{"replicas": list(w.replicas), "start": round(w.start - t0, 3),
                         "end": round(w.end - t0, 3), "why": w.why} for w in windows], "ops_checked": checked}
    if details:
        return Verdict("isolated-acks-nothing", False, f"{len(details)} op(s) acknowledged without a quorum",
                       details[:50], data)
    return Verdict("isolated-acks-nothing", True,
                   f"{checked} op(s) sent to isolated replicas, none acknowledged while isolated", data=data)


def converged(seconds: float | None, bound: float, hashes: Mapping[str, Any]) -> Verdict:
    data = {"bound_s": bound, "seconds": None if seconds is None else round(seconds, 3), "hashes": dict(hashes)}
    if seconds is None:
        return Verdict("converged", False, f"replicas did not reach one state hash within {bound:.0f}s",
                       [f"{n}: {h}" for n, h in hashes.items()], data)
    return Verdict("converged", seconds <= bound,
                   f"all {len(hashes)} replicas at one state hash {seconds:.2f}s after the workload stopped "
                   f"(bound {bound:.0f}s)", data=data)


# ----------------------------------------------------------------------------- pods


def _pod_key(pod: Mapping[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace', 'default')}/{meta.get('name')}"


def single_running_pod(snapshots: Iterable[tuple[float, Iterable[tuple[str, str]]]]) -> Verdict:
    """``snapshots``: ``(t, [(node, "namespace/name"), ...])`` of what actually runs on the nodes
    (from the runtimes, not from the API). A pod name running twice at one instant is a violation."""
    details: list[str] = []
    n = 0
    for t, running in snapshots:
        n += 1
        where: dict[str, list[str]] = {}
        for node, pod in running:
            where.setdefault(pod, []).append(node)
        details += [f"t={t:.2f}: {pod} runs {len(nodes)} times, on {sorted(nodes)}"
                    for pod, nodes in sorted(where.items()) if len(nodes) > 1]
    if details:
        return Verdict("single-running-pod", False, f"{len(details)} duplicate(s)", details[:50])
    return Verdict("single-running-pod", True, f"no pod ran twice in {n} snapshot(s)")


def desired_counts_reached(deployments: Iterable[Mapping[str, Any]], pods: Iterable[Mapping[str, Any]],
                           running: Iterable[tuple[str, str]] | None = None, *,
                           replicasets: Iterable[Mapping[str, Any]] = ()) -> Verdict:
    """Each Deployment has exactly ``spec.replicas`` Running, Ready, undeleted pods it owns
    (through one of its ReplicaSets: pod -> ReplicaSet -> Deployment, by controller
    ownerReferences), all stamped from its current template (a rollout is complete). With
    ``running`` (``(node, "namespace/name")`` from the runtimes), each of those pods must also
    really run on the node it is bound to: an API status written before a node died proves nothing."""
    pods = list(pods)
    replicasets = list(replicasets)
    where = None if running is None else set(running)
    details: list[str] = []
    n = 0
    for d in deployments:
        n += 1
        meta = d.get("metadata") or {}
        want = int((d.get("spec") or {}).get("replicas", 1))
        current = template_hash((d.get("spec") or {}).get("template") or {})
        sets = {(rs.get("metadata") or {}).get("uid") for rs in replicasets if _controller(rs) == meta.get("uid")}
        owned = [p for p in pods if _controller(p) in sets]
        ready = [p for p in owned if _is_ready(p)]
        name = f"{meta.get('namespace', 'default')}/{meta.get('name')}"
        if len(ready) != want:
            details.append(f"{name}: {len(ready)} ready of {want}")
            continue
        old = [_pod_key(p) for p in ready if ((p.get("metadata") or {}).get("labels") or {}).get(HASH_LABEL)
               != current]
        if old:
            details.append(f"{name}: rollout incomplete, {len(old)} ready pod(s) of an older template: {old}")
        if where is not None:
            absent = [f"{_pod_key(p)} on {(p.get('spec') or {}).get('nodeName')}" for p in ready
                      if ((p.get("spec") or {}).get("nodeName"), _pod_key(p)) not in where]
            if absent:
                details.append(f"{name}: ready in the API but not running on their node: {absent}")
    if details:
        return Verdict("desired-counts", False, f"{len(details)} deployment(s) off their count", details)
    return Verdict("desired-counts", True, f"{n} deployment(s) at their desired count"
                   + ("" if where is None else ", every pod running on its node"))


def _controller(obj: Mapping[str, Any]) -> str | None:
    return next((o.get("uid") for o in (obj.get("metadata") or {}).get("ownerReferences") or []
                 if o.get("controller")), None)


def _is_ready(pod: Mapping[str, Any]) -> bool:
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    status = pod.get("status") or {}
    if status.get("phase") != "Running":
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def no_pods_on_foreign_nodes(running: Iterable[tuple[str, str]], pods: Iterable[Mapping[str, Any]]) -> Verdict:
    """``running``: ``(node, "namespace/name")`` actually running (settled, after the grace period);
    ``pods``: the API's pods. Each running pod must exist in the API and be bound to that node."""
    bound = {_pod_key(p): (p.get("spec") or {}).get("nodeName") for p in pods
             if not (p.get("metadata") or {}).get("deletionTimestamp")}
    details = []
    for node, pod in running:
        if pod not in bound:
            details.append(f"{pod} runs on {node} but no longer exists in the API")
        elif bound[pod] != node:
            details.append(f"{pod} runs on {node} but is bound to {bound[pod]}")
    if details:
        return Verdict("no-foreign-pods", False, f"{len(details)} pod(s) on nodes that do not own them", details)
    return Verdict("no-foreign-pods", True, "every running pod is on the node it is bound to")


def first_true_after(series: Iterable[tuple[float, bool | None]], points: Iterable[tuple[str, float]]
                     ) -> list[tuple[str, float, float | None]]:
    """For each ``(label, t)``: seconds from ``t`` to the first sample at or after ``t`` that is
    True (None if there is none). ``series``: ``(time, verdict)`` samples."""
    trues = sorted(t for t, ok in series if ok is True)
    out = []
    for label, t in points:
        first = next((x for x in trues if x >= t), None)
        out.append((label, t, None if first is None else first - t))
    return out


def pods_recovered(series: Iterable[tuple[float, bool | None]], points: Iterable[tuple[str, float]],
                   bound: float, t0: float = 0.0) -> Verdict:
    """After each disruption of the workers (``points``), a sample shows every Deployment at its
    desired count (pods really running) within ``bound`` seconds. ``series``: ``(t, met)``."""
    times = first_true_after(series, points)
    details = [f"{label} at +{t - t0:.2f}s: " + ("never" if d is None else f"{d:.2f}s") for label, t, d in times]
    worst = max((math.inf if d is None else d for _, _, d in times), default=0.0)
    data = {"bound_s": bound, "worst_s": None if worst == math.inf else round(worst, 3),
            "points": [{"label": lb, "t": round(t - t0, 3), "recovery_s": None if d is None else round(d, 3)}
                       for lb, t, d in times]}
    summary = (f"desired counts reached {'never' if worst == math.inf else f'{worst:.2f}s'} after the worst of "
               f"{len(times)} disruption(s) of the workers (bound {bound:g}s)")
    return Verdict("pods-recovered", worst <= bound, summary, details, data)


def adopted(rounds: Iterable[tuple[Mapping[str, str], Mapping[str, str]]]) -> Verdict:
    """``rounds``: per agent restart, ``({container: id} before the kill, {container: id} once
    settled after the restart)`` as the API reports them for the agent's node. Every container
    present both times must keep its id; at least one must have been checked (a run in which
    scaling deleted every subject proves nothing)."""
    rounds = list(rounds)
    changed: list[str] = []
    kept = 0
    for i, (before, after) in enumerate(rounds, 1):
        for key in sorted(before.keys() & after.keys()):
            kept += 1
            if before[key] != after[key]:
                changed.append(f"restart {i}: {key}: {before[key][:16]} -> {after[key][:16]}")
    data = {"restarts": len(rounds), "checked": kept}
    if changed:
        return Verdict("adopted", False, f"{len(changed)} container(s) started again instead of adopted",
                       changed, data)
    if kept == 0:
        return Verdict("adopted", False, f"nothing to check in {len(rounds)} agent restart(s): no container "
                       "ran before and after", data=data)
    return Verdict("adopted", True, f"{kept} container(s) adopted across {len(rounds)} agent restart(s), "
                   "none started again", data=data)
