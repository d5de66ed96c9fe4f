"""A tiny in-memory world for the pure Deployment and ReplicaSet reconciles: it applies their
plans as the loops would (creates get a uid, writes bump resourceVersion and, for a spec
change, generation) and lets tests make pods ready, fail or terminate. No I/O, no clock."""

from __future__ import annotations

import copy
import itertools
from typing import Any

from haplane.clock import rfc3339
from haplane.control.reconcile import deployment as dep_rec
from haplane.control.reconcile import replicaset as rs_rec
from haplane.control.reconcile.pods import controller_uid, is_active, is_available

NOW = 1_800_000_000.0
UID = "uid-web"


def deployment(replicas: int | None = 3, *, image: str = "v1", strategy: str = "RollingUpdate",
               surge: int | str = 1, unavailable: int | str = 0, min_ready: int = 0, paused: bool = False,
               generation: int = 1, deadline: int = 600, history_limit: int = 10) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "c", "image": image}]}},
        "strategy": ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}
                     if strategy == "RollingUpdate" else {"type": "Recreate"}),
        "minReadySeconds": min_ready, "paused": paused, "revisionHistoryLimit": history_limit,
        "progressDeadlineSeconds": deadline,
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "uid": UID, "generation": generation,
                         "resourceVersion": "1", "creationTimestamp": rfc3339(NOW - 7200)},
            "spec": spec, "status": {}}


def make_ready(p: dict[str, Any], since: float) -> dict[str, Any]:
    p["status"] = {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": rfc3339(since)}]}
    return p


def names() -> Any:
    counter = itertools.count()
    return lambda n: [f"s{next(counter)}" for _ in range(n)]


class World:
    """One namespace: a Deployment, its ReplicaSets and pods."""

    def __init__(self, d: dict[str, Any]) -> None:
        self.d = d
        self.rss: list[dict[str, Any]] = []
        self.pods: list[dict[str, Any]] = []
        self.now = NOW
        self.rv = itertools.count(100)
        self.uids = itertools.count(1)
        self.suffixes = names()
        self.last_plan: dep_rec.Plan | None = None

    # ---- helpers
    def _stamp(self, obj: dict[str, Any], prev: dict[str, Any] | None) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        m = obj["metadata"]
        m["resourceVersion"] = str(next(self.rv))
        if prev is None:
            m.setdefault("uid", f"u{next(self.uids)}")
            m["generation"] = 1
        else:
            m["generation"] = prev["metadata"].get("generation", 1) + (obj.get("spec") != prev.get("spec"))
            if "status" in prev:
                obj["status"] = prev["status"]
        return obj

    def set_spec(self, **changes: Any) -> None:
        """A user edit of the Deployment's spec (bumps generation)."""
        d = copy.deepcopy(self.d)
        d["spec"].update(changes)
        d["metadata"]["generation"] += 1
        self.d = d

    def set_image(self, image: str) -> None:
        d = copy.deepcopy(self.d)
        d["spec"]["template"]["spec"]["containers"][0]["image"] = image
        d["metadata"]["generation"] += 1
        self.d = d

    def rs_named(self, name: str) -> dict[str, Any]:
        return next(r for r in self.rss if r["metadata"]["name"] == name)

    def pods_of(self, rs: dict[str, Any]) -> list[dict[str, Any]]:
        return [p for p in self.pods if controller_uid(p) == rs["metadata"]["uid"]]

    def live(self) -> list[dict[str, Any]]:
        return [p for p in self.pods if is_active(p)]

    def available(self) -> int:
        return sum(is_available(p, self.now, self.d["spec"].get("minReadySeconds") or 0) for p in self.live())

    # ---- controllers
    def step_deployment(self) -> dep_rec.Plan:
        plan = dep_rec.reconcile(self.d, self.rss, self.pods, self.now)
        self.last_plan = plan
        if plan.create is not None:
            self.rss.append(self._stamp(plan.create, None))
        for rs in plan.update:
            i = next(i for i, r in enumerate(self.rss) if r["metadata"]["uid"] == rs["metadata"]["uid"])
            assert rs["metadata"]["resourceVersion"] == self.rss[i]["metadata"]["resourceVersion"], "stale write"
            self.rss[i] = self._stamp(rs, self.rss[i])
        gone = {r["metadata"]["uid"] for r in plan.delete}
        self.rss = [r for r in self.rss if r["metadata"]["uid"] not in gone]
        self.pods = [p for p in self.pods if controller_uid(p) not in gone]  # the garbage collector
        d = copy.deepcopy(self.d)
        if plan.annotations is not None:
            d["metadata"]["annotations"] = plan.annotations
        d["status"] = plan.status
        self.d = d
        return plan

    def step_replicaset(self, rs: dict[str, Any], on_delete: str = "remove") -> rs_rec.ReplicaSetPlan:
        """``on_delete``: "remove" (haplane: a deleted pod is gone at once) or "terminate"
        (it lingers with a deletionTimestamp until :meth:`finish_terminating`)."""
        plan = rs_rec.reconcile(rs, self.pods, self.now, new_names=self.suffixes)
        adopted = {p["metadata"]["uid"] for p in plan.adopt}
        released = {p["metadata"]["uid"] for p in plan.release}
        for p in self.pods:
            u = p["metadata"]["uid"]
            if u in adopted:
                p["metadata"]["ownerReferences"] = [*(p["metadata"].get("ownerReferences") or []),
                                                    {"kind": "ReplicaSet", "uid": rs["metadata"]["uid"],
                                                     "controller": True}]
            if u in released:
                p["metadata"]["ownerReferences"] = [r for r in p["metadata"]["ownerReferences"]
                                                    if r["uid"] != rs["metadata"]["uid"]]
        doomed = {x.pod["metadata"]["uid"] for x in plan.delete}
        for p in self.pods:
            if p["metadata"]["uid"] in doomed:
                assert "deletionTimestamp" not in p["metadata"], "deleted a pod twice"
                p["metadata"]["deletionTimestamp"] = rfc3339(self.now)
        if on_delete == "remove":
            self.finish_terminating()
        for p in plan.create:
            p = copy.deepcopy(p)
            p["metadata"]["uid"] = f"p{next(self.uids)}"
            self.pods.append(p)
        i = next((i for i, r in enumerate(self.rss) if r["metadata"]["uid"] == rs["metadata"]["uid"]), None)
        if i is not None:
            self.rss[i] = dict(self.rss[i], status=plan.status)
        return plan

    def step_replicasets(self, order: list[int] | None = None, on_delete: str = "remove") -> None:
        rss = list(self.rss)
        for i in order if order is not None else range(len(rss)):
            if i < len(rss):
                self.step_replicaset(rss[i], on_delete)

    def finish_terminating(self) -> None:
        self.pods = [p for p in self.pods if "deletionTimestamp" not in p["metadata"]]

    def ready_all(self) -> None:
        for p in self.live():
            if not (p.get("status") or {}).get("conditions"):
                make_ready(p, self.now)

    def hashes(self) -> set[str]:
        return {p["metadata"]["labels"]["pod-template-hash"] for p in self.live()}
