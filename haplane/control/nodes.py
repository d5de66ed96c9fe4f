"""Node lifecycle: heartbeats in the leader's memory, transitions in the log, evictions.

Heartbeat design (Nomad's): agents send a heartbeat every second to any replica, which hands it
to the leader; the leader keeps only "last seen" times in memory. Only *transitions* reach the
Raft log (Ready → NotReady and back, the unreachable taint, evictions), so 1,000 nodes
heartbeating cost the log nothing while they stay healthy.

After a leader change the new leader has no heartbeat history: every node starts with a fresh
grace period from the moment leadership began, so a failover never evicts healthy nodes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from haplane.control.events import record_event
from haplane.control.leader import ControlContext
from haplane.control.loops import control_metrics
from haplane.errors import Conflict, HaplaneError, NotFound
from haplane.store import commands

log = logging.getLogger(__name__)

UNREACHABLE = "node.kubernetes.io/unreachable"
TERMINAL = frozenset({"Succeeded", "Failed"})


@dataclass(frozen=True)
class NodeTransition:
    node: str
    ready: bool


@dataclass(frozen=True)
class Eviction:
    pod: dict
    node: str


class Heartbeats:
    """Last-seen times of nodes, in this replica's memory only, on the control loops' clock
    (:func:`haplane.clock.wall_now`: a step of the system clock does not move it)."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self.received = 0

    def record(self, names: Iterable[str], now: float) -> None:
        for name in names:
            self.seen[name] = now
            self.received += 1


def parse_time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def ready_condition(node: dict) -> dict | None:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond
    return None


def is_ready(node: dict) -> bool:
    cond = ready_condition(node)
    return cond is not None and cond.get("status") == "True"


def tolerates_unreachable_forever(pod: dict) -> bool:
    for t in (pod.get("spec") or {}).get("tolerations") or []:
        key_ok = t.get("operator") == "Exists" and not t.get("key") or t.get("key") == UNREACHABLE
        effect_ok = t.get("effect") in (None, "", "NoExecute")
        if key_ok and effect_ok and t.get("tolerationSeconds") is None:
            return True
    return False


def decide(nodes: list[dict], pods: list[dict], last_seen: Mapping[str, float], now: float, *,
           grace: float, eviction_delay: float, lead_since: float) -> tuple[list[NodeTransition], list[Eviction]]:
    """What the node lifecycle controller should do now. Pure.

    A node that heartbeated within ``grace`` is Ready; one that did not goes NotReady — but not
    before this leadership is ``grace`` old (a new leader has no heartbeat history). Pods on a
    node that has been NotReady for ``eviction_delay``, and at least ``grace`` into this
    leadership, are evicted.
    """
    transitions: list[NodeTransition] = []
    evictions: list[Eviction] = []
    dead: set[str] = set()
    protected = now - lead_since <= grace  # this leadership is too young to judge anyone
    for node in nodes:
        name = node["metadata"]["name"]
        heard = name in last_seen and now - last_seen[name] <= grace
        ready = is_ready(node)
        if heard and not ready:
            transitions.append(NodeTransition(name, True))
        elif not heard and ready and not protected:
            transitions.append(NodeTransition(name, False))
        elif not heard and not ready:
            cond = ready_condition(node) or {}
            since = parse_time(cond.get("lastTransitionTime")) or lead_since
            if now >= max(since + eviction_delay, lead_since + grace):
                dead.add(name)
    for pod in pods:
        node_name = (pod.get("spec") or {}).get("nodeName")
        if node_name in dead and (pod.get("status") or {}).get("phase") not in TERMINAL \
                and not tolerates_unreachable_forever(pod):
            evictions.append(Eviction(pod, node_name))
    return transitions, evictions


# ------------------------------------------------------------------- the loop
async def node_lifecycle_loop(ctx: ControlContext, *, grace: float = 5.0, eviction_delay: float = 2.0,
                              period: float = 0.5) -> None:
    heartbeats: Heartbeats = ctx.shared["heartbeats"]
    lead_since = ctx.clock.now()
    fsm = ctx.store.fsm
    duration = control_metrics(ctx).step_duration.labels("node_lifecycle")
    while True:
        start = time.perf_counter()
        nodes, _ = fsm.list("Node", "")
        pods, _ = fsm.list("Pod", None)
        transitions, evictions = decide(nodes, pods, heartbeats.seen, ctx.clock.now(), grace=grace,
                                        eviction_delay=eviction_delay, lead_since=lead_since)
        for t in transitions:
            try:
                await set_node_ready(ctx, t.node, t.ready)
            except (Conflict, NotFound):
                pass  # changed under us: the next round sees the new state
        for ev in evictions:
            await evict(ctx, ev)
        duration.observe(time.perf_counter() - start)
        await ctx.clock.sleep(period)


async def set_node_ready(ctx: ControlContext, name: str, ready: bool) -> None:
    fsm = ctx.store.fsm
    node = fsm.get("Node", "", name)
    if node is None or is_ready(node) == ready:
        return
    now = ctx.timestamp()
    cond = {"type": "Ready", "status": "True" if ready else "Unknown", "lastHeartbeatTime": now,
            "lastTransitionTime": now,
            "reason": "NodeReady" if ready else "NodeStatusUnknown",
            "message": "node agent is posting heartbeats" if ready else "Node agent stopped posting heartbeats."}
    status = dict(node.get("status") or {})
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != "Ready"] + [cond]
    updated = await ctx.write(commands.update("Node", "", name, dict(node, status=status), status=True,
                                              rv=node["metadata"]["resourceVersion"]))
    spec = dict(updated.get("spec") or {})
    taints = [t for t in spec.get("taints") or [] if t.get("key") != UNREACHABLE]
    if not ready:
        taints.append({"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": now})
    spec["taints"] = taints
    if not taints:
        spec.pop("taints")
    await ctx.write(commands.update("Node", "", name, dict(updated, spec=spec),
                                    rv=updated["metadata"]["resourceVersion"]))
    log.info("node %s is %s", name, "Ready" if ready else "NotReady")
    await record_event(ctx, updated, "NodeReady" if ready else "NodeNotReady",
                       f"Node {name} status is now: {'NodeReady' if ready else 'NodeNotReady'}",
                       "Normal" if ready else "Warning")


async def evict(ctx: ControlContext, ev: Eviction) -> None:
    meta = ev.pod["metadata"]
    try:
        await ctx.write(commands.delete("Pod", meta["namespace"], meta["name"], uid=meta["uid"]))
    except (Conflict, NotFound):
        return
    except HaplaneError as exc:
        log.warning("evicting %s/%s failed: %s", meta["namespace"], meta["name"], exc)
        return
    control_metrics(ctx).evictions.inc()
    await record_event(ctx, ev.pod, "Evicted", f"Node {ev.node} is not ready; the pod was evicted", "Warning")
