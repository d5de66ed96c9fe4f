"""What the scheduler knows between passes: every node's usage and the pending pods, kept
up to date from the store's changes instead of rebuilt from all pods on every pass.

kube-scheduler's cache and Nomad's state snapshot, in miniature. Fed the changes in revision
order (:meth:`SchedulerCache.apply`), the cache always equals what
:func:`~haplane.control.scheduler.predicates.build_node_infos` and
:func:`~haplane.control.scheduling.pending` would compute from the state at that revision —
plus the bindings the scheduler has *assumed* (booked at once, before they commit):

* :meth:`assume` books a binding on its node and takes the pod out of the pending set;
* the binding's own change (the pod, now bound) replaces the assumption with the real thing;
* :meth:`forget` undoes an assumption whose binding failed without the pod changing
  (fenced, unavailable, outcome unknown); if it commits after all, its change books it again.

A change to a pod always replaces whatever the cache held for it, assumed or not: the cache
never double-counts.

Pods that fit nowhere are *parked* (:meth:`park`, kube-scheduler's unschedulable queue) and
left out of :meth:`schedulable` until something happens that could make them fit: a node
added, changed or removed, resources freed on a node (a pod deleted, finished or moved, an
assumption forgotten), or the pod's own spec changed. So a pass never re-examines a backlog of
pods that cannot fit, and such a backlog never keeps the pods behind it from their turn.

Changes arrive with consecutive revisions (every mutation bumps the revision by one, a failed
op bumps nothing); a gap means a change was missed (a snapshot install) and marks the cache
:attr:`stale`: its owner reloads it from a full list.

Pure and single-threaded: no I/O, no clock. Use from the event loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from haplane.control.scheduler.predicates import TERMINAL_PHASES, NodeInfo, PodInfo, booked_info, is_booked
from haplane.store.fsm import Change

__all__ = ["SchedulerCache", "is_pending"]

Obj = Mapping[str, Any]
Key = tuple[str, str]  # (namespace, name)


def is_pending(pod: Obj) -> bool:
    """Waiting for the scheduler: no node yet, not finished, not being deleted."""
    return (not (pod.get("spec") or {}).get("nodeName")
            and (pod.get("status") or {}).get("phase") not in TERMINAL_PHASES
            and not (pod.get("metadata") or {}).get("deletionTimestamp"))


def _key(pod: Obj) -> Key:
    meta = pod.get("metadata") or {}
    return meta.get("namespace") or "", meta.get("name") or ""


class SchedulerCache:
    def __init__(self) -> None:
        self._reset()
        self.stale = True  # nothing loaded yet

    def _reset(self) -> None:
        self.rev = 0
        self.stale = False
        self.nodes: dict[str, NodeInfo] = {}               # name -> NodeInfo (with its pods booked)
        self.pending: dict[Key, Obj] = {}                  # pods waiting for a node
        self._booked: dict[Key, tuple[str, PodInfo]] = {}  # pod -> (node name, what it holds there)
        self._by_node: dict[str, dict[Key, PodInfo]] = {}  # node name -> its booked pods (known node or not)
        self._assumed: set[Key] = set()
        self.generation = 0                                # bumped by whatever may make a parked pod fit
        self._parked: dict[Key, int] = {}                  # pod -> generation it was found unschedulable at

    # ---------------------------------------------------------------- loading
    def load(self, nodes: Iterable[Obj], pods: Iterable[Obj], rev: int) -> None:
        """Start over from a full list of nodes and pods taken at revision ``rev``."""
        self._reset()
        self.rev = rev
        for pod in pods:
            self._pod_changed(_key(pod), pod)
        for node in nodes:
            self._node_changed((node.get("metadata") or {}).get("name") or "", node)

    def apply(self, changes: Iterable[Change]) -> None:
        """Take in changes (of any kind) in revision order; older ones than :attr:`rev` are skipped."""
        if self.stale:
            return
        for c in changes:
            if c.rv <= self.rev:
                continue
            if c.rv != self.rev + 1:
                self.stale = True  # a change went missing: only a reload can tell what
                return
            self.rev = c.rv
            obj = None if c.type == "DELETED" else c.obj
            if c.kind == "Pod":
                self._pod_changed((c.ns, (c.obj.get("metadata") or {}).get("name") or ""), obj)
            elif c.kind == "Node":
                self._node_changed((c.obj.get("metadata") or {}).get("name") or "", obj)

    # ---------------------------------------------------------- assumptions
    def assume(self, pod: Obj, node_name: str, info: PodInfo | None = None) -> None:
        """Book ``pod`` on ``node_name`` before its binding commits (the pod leaves ``pending``).

        ``info`` is the PodInfo already booked on the node's NodeInfo by
        :func:`~haplane.control.scheduler.select.place`; without it the booking is made here.
        """
        key = _key(pod)
        self._unbook(key)
        self.pending.pop(key, None)
        ni = self.nodes.get(node_name)
        if info is None:
            info = booked_info(pod)
            if ni is not None:
                ni.add_pod(info)
        self._booked[key] = (node_name, info)
        self._by_node.setdefault(node_name, {})[key] = info
        self._assumed.add(key)

    def forget(self, pod: Obj) -> None:
        """The binding of ``pod`` failed: undo its assumption (a no-op if a change of the pod
        has come in since, which replaced the assumption with what the store holds)."""
        key = _key(pod)
        if key not in self._assumed:
            return
        self._unbook(key)
        self.generation += 1  # the booking is freed
        if is_pending(pod):
            self.pending[key] = pod

    @property
    def assumed(self) -> int:
        return len(self._assumed)

    # ---------------------------------------------------------------- parking
    def park(self, pod: Obj) -> None:
        """``pod`` fits nowhere as things are: leave it out until something changes."""
        key = _key(pod)
        if key in self.pending:
            self._parked[key] = self.generation

    def schedulable(self) -> list[Obj]:
        """The pending pods worth a pass: all but those parked since the last relevant change."""
        parked, gen = self._parked, self.generation
        return [p for k, p in self.pending.items() if parked.get(k) != gen]

    # ---------------------------------------------------------------- changes
    def _pod_changed(self, key: Key, pod: Obj | None) -> None:
        held = self._booked.get(key)
        self._unbook(key)
        before = self.pending.pop(key, None)
        node_name = is_booked(pod) if pod is not None else None
        if held is not None and held[0] != node_name:
            self.generation += 1  # resources freed on held[0]
        if pod is None:
            self._parked.pop(key, None)
            return
        if node_name is not None:
            self._parked.pop(key, None)
            info = booked_info(pod)
            self._booked[key] = (node_name, info)
            self._by_node.setdefault(node_name, {})[key] = info
            if (ni := self.nodes.get(node_name)) is not None:
                ni.add_pod(info)
        elif is_pending(pod):
            self.pending[key] = pod
            if before is not None and before.get("spec") != pod.get("spec"):
                self._parked.pop(key, None)  # it asks for something else now
        else:
            self._parked.pop(key, None)

    def _node_changed(self, name: str, node: Obj | None) -> None:
        self.generation += 1
        if node is None:
            self.nodes.pop(name, None)
            return
        ni = NodeInfo.of(node)
        for info in self._by_node.get(name, {}).values():
            ni.add_pod(info)
        self.nodes[name] = ni

    def _unbook(self, key: Key) -> None:
        self._assumed.discard(key)
        held = self._booked.pop(key, None)
        if held is None:
            return
        node_name, info = held
        on_node = self._by_node.get(node_name)
        if on_node is not None:
            on_node.pop(key, None)
            if not on_node:
                del self._by_node[node_name]
        if (ni := self.nodes.get(node_name)) is not None:
            ni.remove_pod(info)
