"""Workload subcommands of the CLI: scale, rollout (status | history | undo), cordon, uncordon,
drain, describe. Registered into :mod:`haplane.cli`'s subcommand table on import."""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import datetime
from typing import Any

from haplane import errors
from haplane.cli import UsageError, _lookup, _now, _out, dump, make_client, subcommand
from haplane.client import Client
from haplane.control.reconcile.deployment import (
    CHANGE_CAUSE_ANNOTATION,
    RESTARTED_AT_ANNOTATION,
    history,
    resolve_rollout_bounds,
    revision_of,
    rollback_patch,
    rollback_target,
)
from haplane.output import human_duration, render
from haplane.progress import make_reporter

CONFLICT_RETRIES = 8


def _target(text: str, default_kind: str = "deployment") -> tuple[str, str]:
    """``deployment/web`` or ``web`` → (kind, name)."""
    if "/" in text:
        kind, name = text.split("/", 1)
    else:
        kind, name = default_kind, text
    if not name:
        raise UsageError(f"a resource name is required: {text!r}")
    return _lookup(kind).kind, name


def _ns(args: argparse.Namespace) -> str:
    return getattr(args, "namespace", None) or "default"


def _ns_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("-n", "--namespace", default=None, help="namespace (default: default)")


async def update_with_retry(c: Client, kind: str, name: str, ns: str | None, change: Any) -> dict:
    """Read, change, write with the read resourceVersion; retry on Conflict."""
    for _ in range(CONFLICT_RETRIES):
        current = await c.get(kind, name, ns)
        try:
            return await c.update(change(current))
        except errors.Conflict:
            continue
    raise errors.Conflict(f'{kind} "{name}" kept changing; gave up after {CONFLICT_RETRIES} attempts')


# ------------------------------------------------------------------- scale
def _configure_scale(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", help="deployment/NAME or replicaset/NAME")
    p.add_argument("--replicas", type=int, required=True)
    _ns_option(p)


@subcommand("scale", "Set the number of replicas of a Deployment or a ReplicaSet", _configure_scale)
async def cmd_scale(args: argparse.Namespace) -> int:
    kind, name = _target(args.target)
    if kind not in ("Deployment", "ReplicaSet"):
        raise UsageError("only deployments and replicasets can be scaled")
    if args.replicas < 0:
        raise UsageError("--replicas must not be negative")
    async with make_client(args) as c:
        await c.scale(kind, name, args.replicas, _ns(args))
    _out(f"{kind.lower()}.apps/{name} scaled")
    return 0


# ----------------------------------------------------------------- rollout
def _configure_rollout(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["status", "history", "undo", "restart", "pause", "resume"])
    p.add_argument("target", help="deployment/NAME")
    p.add_argument("--to-revision", type=int, default=None, help="undo: the revision to go back to")
    p.add_argument("--timeout", type=float, default=300.0, help="status: seconds to wait (default 300)")
    p.add_argument("-w", "--watch", action=argparse.BooleanOptionalAction, default=True,
                   help="status: follow until done (default)")
    _ns_option(p)


def rollout_progress(dep: dict) -> tuple[bool, str]:
    """(done, message) for a Deployment's rollout, in kubectl's words. Pure."""
    spec, status = dep.get("spec") or {}, dep.get("status") or {}
    name = dep["metadata"]["name"]
    want = spec.get("replicas", 1)
    if status.get("observedGeneration", 0) < dep["metadata"].get("generation", 1):
        return False, f'Waiting for deployment "{name}" spec update to be observed...'
    if progress_deadline_exceeded(dep):
        return False, f'error: deployment "{name}" exceeded its progress deadline'
    updated = status.get("updatedReplicas", 0)
    total = status.get("replicas", 0)
    available = status.get("availableReplicas", 0)
    if updated < want:
        return False, f'Waiting for deployment "{name}" rollout to finish: {updated} out of {want} new replicas ' \
                      f"have been updated..."
    if total > updated:
        return False, f'Waiting for deployment "{name}" rollout to finish: {total - updated} old replicas are ' \
                      f"pending termination..."
    if available < updated:
        return False, f'Waiting for deployment "{name}" rollout to finish: {available} of {updated} updated ' \
                      f"replicas are available..."
    return True, f'deployment "{name}" successfully rolled out'


def status_observed(dep: dict) -> bool:
    return (dep.get("status") or {}).get("observedGeneration", 0) >= dep["metadata"].get("generation", 1)


def progress_deadline_exceeded(dep: dict) -> bool:
    """The Progressing condition says ProgressDeadlineExceeded (kubectl's rollout status fails). Pure."""
    return any(c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded"
               for c in (dep.get("status") or {}).get("conditions") or ())


def rollout_counts(dep: dict) -> tuple[int, int]:
    """(done, desired): replicas both updated and available, of the desired count. Pure."""
    want = max(1, (dep.get("spec") or {}).get("replicas", 1))
    status = dep.get("status") or {}
    return min(want, status.get("updatedReplicas", 0), status.get("availableReplicas", 0)), want


def rollout_detail(dep: dict) -> str:
    """``updated 2/3 · ready 1/3 · available 1/3 · old 1``: what the live bar shows beside it. Pure."""
    want = (dep.get("spec") or {}).get("replicas", 1)
    status = dep.get("status") or {}
    updated = status.get("updatedReplicas", 0)
    parts = [f"{k} {status.get(f, 0)}/{want}" for k, f in (("updated", "updatedReplicas"),
                                                          ("ready", "readyReplicas"),
                                                          ("available", "availableReplicas"))]
    old = status.get("replicas", 0) - updated
    if old > 0:
        parts.append(f"old {old}")
    return " · ".join(parts)


def progress_bar(dep: dict, width: int = 20) -> str:
    """The plain line's ``[#####---------------] 1/4`` (the non-terminal output). Pure."""
    done, want = rollout_counts(dep)
    filled = int(width * done / want)
    return f"[{'#' * filled}{'-' * (width - filled)}] {done}/{want}"


@subcommand("rollout", "Follow, list or undo the rollouts of a Deployment", _configure_rollout)
async def cmd_rollout(args: argparse.Namespace) -> int:
    kind, name = _target(args.target)
    if kind != "Deployment":
        raise UsageError("rollout works on deployments")
    ns = _ns(args)
    async with make_client(args) as c:
        if args.action == "history":
            return await _history(c, name, ns)
        if args.action == "undo":
            return await _undo(c, name, ns, args.to_revision)
        if args.action in ("restart", "pause", "resume"):
            return await _patch_rollout(c, name, ns, args.action)
        return await _status(c, name, ns, args.timeout, args.watch)


async def _history_of(c: Client, dep: dict) -> list[dict]:
    """The Deployment's ReplicaSets by revision (what kubectl reads for history and undo)."""
    selector = ",".join(f"{k}={v}" for k, v in sorted(((dep["spec"].get("selector") or {}).get("matchLabels")
                                                         or {}).items()))
    items = (await c.list("ReplicaSet", dep["metadata"]["namespace"], label_selector=selector))["items"]
    return history(items, dep)


async def _history(c: Client, name: str, ns: str) -> int:
    dep = await c.get("Deployment", name, ns)  # NotFound if there is no such deployment
    _out(f"deployment.apps/{name}")
    rows = [[str(revision_of(rs)), (rs["metadata"].get("annotations") or {}).get(CHANGE_CAUSE_ANNOTATION) or "<none>"]
            for rs in await _history_of(c, dep) if revision_of(rs)]
    _out(render(["REVISION", "CHANGE-CAUSE"], rows))
    return 0


async def _undo(c: Client, name: str, ns: str, to_revision: int | None) -> int:
    """As kubectl does it, client-side: find the ReplicaSet of the revision, then JSON-patch the
    Deployment with its template and annotations (guarded by the read resourceVersion)."""
    for _ in range(CONFLICT_RETRIES):
        dep = await c.get("Deployment", name, ns)
        if (dep.get("spec") or {}).get("paused"):
            raise UsageError(f'you cannot rollback a paused deployment; resume it first with '
                             f'"haplane rollout resume deployment/{name}" and try again')
        try:
            rs = rollback_target(await _history_of(c, dep), dep, to_revision or 0)
        except LookupError as exc:
            raise errors.NotFound(str(exc)) from None
        # The read resourceVersion in the patch makes it a compare-and-swap (409 if it moved).
        patch = [*rollback_patch(dep, rs), {"op": "replace", "path": "/metadata/resourceVersion",
                                            "value": dep["metadata"]["resourceVersion"]}]
        try:
            await c.patch("Deployment", name, patch, ns)
        except errors.Conflict:
            continue
        _out(f"deployment.apps/{name} rolled back")
        return 0
    raise errors.Conflict(f'deployment "{name}" kept changing; gave up after {CONFLICT_RETRIES} attempts')


async def _patch_rollout(c: Client, name: str, ns: str, action: str) -> int:
    """What kubectl's restart / pause / resume patch: the restartedAt template annotation, or spec.paused."""
    if action == "restart":
        stamp = _now().strftime("%Y-%m-%dT%H:%M:%SZ")
        patch: dict = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: stamp}}}}}
        done = "restarted"
    else:
        patch, done = {"spec": {"paused": action == "pause"}}, f"{action}d"
    await c.patch("Deployment", name, patch, ns)
    _out(f"deployment.apps/{name} {done}")
    return 0


async def _status(c: Client, name: str, ns: str, timeout: float, watch: bool) -> int:
    """Follow the rollout: on a terminal a live bar, else one line per change (kubectl's words).
    ``--no-watch``: one line, the state now."""
    if not watch:
        dep = await c.get("Deployment", name, ns)
        done, message = rollout_progress(dep)
        _out(message if done or message.startswith("error:") else f"{message} {progress_bar(dep)}")
        return 0 if done else 1
    deadline = time.monotonic() + timeout
    with make_reporter() as rep:
        while True:
            dep = await c.get("Deployment", name, ns)
            done, message = rollout_progress(dep)
            if done or message.startswith("error:"):
                rep.finish(message)
            else:
                ready, want = rollout_counts(dep)
                rep.status(message, done=ready, total=want, detail=rollout_detail(dep),
                           plain=f"{message} {progress_bar(dep)}")
            if done:
                return 0
            if progress_deadline_exceeded(dep) and status_observed(dep):
                return 1
            if time.monotonic() > deadline:
                rep.finish(f"error: timed out waiting for the rollout of deployment \"{name}\" after {timeout:.0f}s")
                return 1
            await asyncio.sleep(0.5)


# ----------------------------------------------------------- node commands
def _configure_node(p: argparse.ArgumentParser) -> None:
    p.add_argument("node")


async def _set_unschedulable(args: argparse.Namespace, value: bool) -> None:
    async with make_client(args) as c:
        await c.patch("Node", args.node, {"spec": {"unschedulable": value}}, None)


@subcommand("cordon", "Mark a node unschedulable", _configure_node)
async def cmd_cordon(args: argparse.Namespace) -> int:
    await _set_unschedulable(args, True)
    _out(f"node/{args.node} cordoned")
    return 0


@subcommand("uncordon", "Mark a node schedulable again", _configure_node)
async def cmd_uncordon(args: argparse.Namespace) -> int:
    await _set_unschedulable(args, False)
    _out(f"node/{args.node} uncordoned")
    return 0


def _configure_drain(p: argparse.ArgumentParser) -> None:
    p.add_argument("node")
    p.add_argument("--force", action="store_true", help="also delete pods no Deployment manages")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the whole drain")


def may_evict(dep: dict | None) -> bool:
    """Whether deleting one more of ``dep``'s pods keeps it within its maxUnavailable. Pure."""
    if dep is None:
        return True
    want = (dep.get("spec") or {}).get("replicas", 1)
    _, max_unavailable = resolve_rollout_bounds(dep)
    available = (dep.get("status") or {}).get("availableReplicas", 0)
    return available - 1 >= want - max_unavailable


def drain_status(node: str, total: int, evicted: int, waiting: str = "") -> str:
    """``node/n1: 3 of 5 pods left to evict`` (``; waiting: ...`` while a Deployment is short). Pure."""
    left = max(0, total - evicted)
    text = f"node/{node}: {left} of {total} pod{'' if total == 1 else 's'} left to evict"
    return f"{text}; waiting: {waiting}" if waiting else text


def eviction_wait_reason(dep: dict) -> str:
    """Why a pod of ``dep`` cannot be evicted yet (``may_evict`` said no). Pure."""
    meta = dep.get("metadata") or {}
    want = (dep.get("spec") or {}).get("replicas", 1)
    _, max_unavailable = resolve_rollout_bounds(dep)
    available = (dep.get("status") or {}).get("availableReplicas", 0)
    return (f"deployment {meta.get('namespace', 'default')}/{meta.get('name', '?')} has {available} of {want} "
            f"available (maxUnavailable {max_unavailable})")


@subcommand("drain", "Cordon a node and evict its pods, keeping each Deployment available", _configure_drain)
async def cmd_drain(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.timeout
    async with make_client(args) as c:
        await c.patch("Node", args.node, {"spec": {"unschedulable": True}}, None)
        _out(f"node/{args.node} cordoned")
        pods = (await c.list("Pod", None, field_selector=f"spec.nodeName={args.node}"))["items"]
        unmanaged = [p for p in pods if not _owner(p)]
        if unmanaged and not args.force:
            names = ", ".join(f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in unmanaged)
            raise UsageError(f"cannot delete pods not managed by a ReplicaSet (use --force): {names}")
        with make_reporter() as rep:
            for evicted, pod in enumerate(pods):
                meta = pod["metadata"]
                owner = _owner(pod)
                while True:
                    dep = await _deployment_of(c, owner, meta["namespace"])
                    if dep is None or may_evict(dep):
                        break
                    rep.status(drain_status(args.node, len(pods), evicted, eviction_wait_reason(dep)),
                               done=evicted, total=len(pods))
                    if time.monotonic() > deadline:
                        rep.note(f"error: timed out waiting to evict {meta['namespace']}/{meta['name']}")
                        return 1
                    await asyncio.sleep(1.0)
                rep.status(drain_status(args.node, len(pods), evicted), done=evicted, total=len(pods))
                try:
                    await c.delete("Pod", meta["name"], meta["namespace"], uid=meta["uid"])
                    rep.note(f"pod/{meta['name']} evicted")
                except (errors.NotFound, errors.Conflict):
                    pass
                if owner is not None:
                    await asyncio.sleep(1.0)  # let the controller see the eviction before the next one
        _out(f"node/{args.node} drained")
    return 0


def _owner(obj: dict) -> tuple[str, str] | None:
    """The (kind, name) of the object's controller, when it is a ReplicaSet or a Deployment."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") in ("ReplicaSet", "Deployment"):
            return ref["kind"], ref.get("name", "")
    return None


async def _deployment_of(c: Client, owner: tuple[str, str] | None, ns: str) -> dict | None:
    """The Deployment behind a pod's controller (its ReplicaSet's controller), if any."""
    try:
        if owner is not None and owner[0] == "ReplicaSet":
            owner = _owner(await c.get("ReplicaSet", owner[1], ns))
        if owner is not None and owner[0] == "Deployment":
            return await c.get("Deployment", owner[1], ns)
    except errors.NotFound:
        pass
    return None


# ---------------------------------------------------------------- describe
def _configure_describe(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind")
    p.add_argument("name")
    _ns_option(p)


@subcommand("describe", "Show an object and its recent events", _configure_describe)
async def cmd_describe(args: argparse.Namespace) -> int:
    info = _lookup(args.kind)
    ns = _ns(args) if info.namespaced else None
    async with make_client(args) as c:
        obj = await c.get(info.kind, args.name, ns)
        events = (await c.list("Event", ns or None, field_selector=f"involvedObject.uid={obj['metadata']['uid']}"))
    _out(dump(obj, "yaml"))
    _out("Events:")
    items = sorted(events["items"], key=lambda e: e.get("lastTimestamp") or "")
    if not items:
        _out("  <none>")
        return 0
    now = _now()
    rows = [[e.get("type", ""), e.get("reason", ""), _age(e.get("lastTimestamp"), now),
             (e.get("source") or {}).get("component", ""), e.get("message", "")] for e in items]
    _out(render(["TYPE", "REASON", "AGE", "FROM", "MESSAGE"], rows))
    return 0


def _age(ts: str | None, now: Any) -> str:
    if not ts:
        return "<unknown>"
    try:
        then = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    return human_duration((now - then).total_seconds())
