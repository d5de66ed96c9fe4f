"""What the node agent should do, and what it should report — pure functions.

``reconcile(desired_pods, observed, now, restart_state)`` compares the pods bound to this
node with the containers the runtime reports and returns the actions that close the gap.
``pod_status(...)`` computes the Kubernetes pod status from the same observations.
Neither performs I/O nor reads a clock: same inputs, same outputs.

The agent's side of the contract:

- ``desired_pods`` are the pods bound to this node, including ones being deleted
  (``metadata.deletionTimestamp`` set): their containers get stopped with the pod's grace.
  A container whose (pod uid, container name) is in no desired pod is stopped and removed.
- Execute actions in order, at most one operation per container id at a time, and skip
  actions for a pod whose Start is still in flight (reconcile cannot see it yet).
- ``restart_state`` is the agent's memory between calls, keyed by (pod uid, container
  name). reconcile only reads it; after executing a ``Start`` call :func:`note_started` or
  :func:`note_start_failed`; drop pods that are gone with :func:`prune`. Losing it (agent
  restart) only resets backoff: restart counts live on the containers themselves.
- ``Wait`` is not work: it says when the next restart is due, so the loop can wake then.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field

from haplane.clock import rfc3339
from node_agent.runtime.base import ContainerState, grace_period

Key = tuple[str, str]  # (pod uid, container name)


@dataclass(frozen=True)
class Backoff:
    """CrashLoopBackOff: ``base * 2**crashes`` capped at ``cap``; a container that ran for
    ``reset_after`` seconds clears the crash count. (Kubernetes: 10 s, 300 s, 10 min.)"""

    base: float = 1.0
    cap: float = 30.0
    reset_after: float = 10.0

    def delay(self, crashes: int) -> float:
        return min(self.cap, self.base * 2 ** min(crashes, 64))


@dataclass(frozen=True)
class RestartRecord:
    crashes: int = 0  # consecutive failures (quick exits or failed starts) before the last attempt
    restart_count: int = 0  # restarts so far, as reported in containerStatuses
    failed_at: float | None = None  # the last attempt failed to start at this time ...
    reason: str | None = None  # ... for this reason (ImageNotFound, CommandNotFound, PortInUse ...)
    message: str | None = None
    last: ContainerState | None = None  # the terminated container the last start replaced


@dataclass(frozen=True)
class Start:
    pod: dict
    container: dict
    restart_count: int = 0
    crashes: int = 0
    replaces: ContainerState | None = None

    @property
    def key(self) -> Key:
        return (self.pod["metadata"]["uid"], self.container["name"])


@dataclass(frozen=True)
class Stop:
    cid: str
    grace: float
    reason: str


@dataclass(frozen=True)
class Remove:
    cid: str
    reason: str = ""


@dataclass(frozen=True)
class Wait:
    pod_uid: str
    container: str
    until: float
    reason: str = "CrashLoopBackOff"


Action = Start | Stop | Remove | Wait


@dataclass
class _Pod:
    uid: str
    policy: str
    grace: float
    deleting: bool
    terminal: bool  # Succeeded/Failed is final: nothing is started again
    containers: list[dict] = field(default_factory=list)

    @classmethod
    def of(cls, pod: dict) -> _Pod:
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        return cls(
            uid=meta["uid"],
            policy=spec.get("restartPolicy") or "Always",
            grace=grace_period(pod),
            deleting=meta.get("deletionTimestamp") is not None,
            terminal=(pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"),
            containers=list(spec.get("containers") or []),
        )


def should_restart(policy: str, exit_code: int | None) -> bool:
    """Does a container that ended with ``exit_code`` (None: unknown) get restarted?"""
    return policy == "Always" or (policy == "OnFailure" and exit_code != 0)


def _order(s: ContainerState) -> tuple[bool, float, str]:
    return (s.running, s.started_at or 0.0, s.cid)


def _group(observed: Iterable[ContainerState]) -> dict[Key, list[ContainerState]]:
    """Containers by key, oldest first; the last one is the current container."""
    groups: dict[Key, list[ContainerState]] = {}
    for s in observed:
        groups.setdefault(s.key, []).append(s)
    return {k: sorted(v, key=_order) for k, v in groups.items()}


def reconcile(
    desired_pods: list[dict],
    observed: list[ContainerState],
    now: float,
    restart_state: Mapping[Key, RestartRecord],
    *,
    backoff: Backoff = Backoff(),  # noqa: B008 - frozen, shared safely
    unhealthy: frozenset[str] | set[str] = frozenset(),
    orphan_grace: float = 10.0,
) -> list[Action]:
    """The actions that move ``observed`` toward ``desired_pods`` at time ``now``.

    - A desired container with no container observed is started; a running one is kept
      (adopted), never duplicated. Extra containers for the same key are removed.
    - A terminated container is restarted per ``restartPolicy`` once its backoff has passed
      (``Remove`` of the old one, then ``Start``), else a ``Wait`` tells when.
    - A failed start is retried with the same backoff.
    - Running containers in ``unhealthy`` (liveness failed) are stopped with the pod's grace;
      the restart policy then applies to their exit.
    - Containers of pods being deleted, or already Succeeded/Failed, are stopped (and kept
      for status); of pods not desired at all, stopped with ``orphan_grace`` and removed.
    """
    actions: list[Action] = []
    groups = _group(observed)
    desired: set[Key] = set()
    for raw in desired_pods:
        pod = _Pod.of(raw)
        for c in pod.containers:
            key = (pod.uid, c["name"])
            desired.add(key)
            states = groups.get(key, [])
            current = states[-1] if states else None
            for extra in states[:-1]:
                if extra.running:
                    actions.append(Stop(extra.cid, pod.grace, "Duplicate"))
                actions.append(Remove(extra.cid, "Superseded"))
            if pod.deleting or pod.terminal:
                if current is not None and current.running:
                    actions.append(
                        Stop(current.cid, pod.grace, "PodDeleting" if pod.deleting else "PodTerminal")
                    )
                continue
            actions.extend(_one(raw, c, pod, current, restart_state.get(key), now, backoff, unhealthy))

    for key in sorted(groups):
        if key not in desired:
            for s in groups[key]:
                if s.running:
                    actions.append(Stop(s.cid, orphan_grace, "NotDesired"))
                actions.append(Remove(s.cid, "NotDesired"))
    return actions


def _one(
    raw: dict,
    c: dict,
    pod: _Pod,
    current: ContainerState | None,
    rec: RestartRecord | None,
    now: float,
    backoff: Backoff,
    unhealthy: frozenset[str] | set[str],
) -> list[Action]:
    if current is None:
        if rec is None:
            return [Start(raw, c)]
        if rec.failed_at is not None:
            until = rec.failed_at + backoff.delay(rec.crashes)
            if now < until:
                return [Wait(pod.uid, c["name"], until, rec.reason or "BackOff")]
            return [
                Start(raw, c, restart_count=rec.restart_count, crashes=rec.crashes + 1, replaces=rec.last)
            ]
        # it ran once and has vanished (removed behind our back): an exit we cannot know
        if not should_restart(pod.policy, None):
            return []
        return [
            Start(raw, c, restart_count=rec.restart_count + 1, crashes=rec.crashes + 1, replaces=rec.last)
        ]

    if current.running:
        return [Stop(current.cid, pod.grace, "Unhealthy")] if current.cid in unhealthy else []

    if not should_restart(pod.policy, current.exit_code):
        return []
    crashes = rec.crashes if rec is not None and not _ran_long(current, backoff) else 0
    until = (current.finished_at or 0.0) + backoff.delay(crashes)
    if now < until:
        return [Wait(pod.uid, c["name"], until)]
    return [
        Remove(current.cid, "Restart"),
        Start(raw, c, restart_count=current.restart_count + 1, crashes=crashes + 1, replaces=current),
    ]


def _ran_long(s: ContainerState, backoff: Backoff) -> bool:
    if s.started_at is None or s.finished_at is None:
        return False
    return s.finished_at - s.started_at >= backoff.reset_after


# --- restart_state bookkeeping (the agent calls these after executing a Start) -------------


def note_started(restart_state: MutableMapping[Key, RestartRecord], action: Start) -> None:
    prev = restart_state.get(action.key)
    restart_state[action.key] = RestartRecord(
        crashes=action.crashes,
        restart_count=action.restart_count,
        last=action.replaces or (prev.last if prev else None),
    )


def note_start_failed(
    restart_state: MutableMapping[Key, RestartRecord], action: Start, now: float, reason: str, message: str
) -> None:
    restart_state[action.key] = RestartRecord(
        crashes=action.crashes,
        restart_count=action.restart_count,
        failed_at=now,
        reason=reason,
        message=message,
        last=action.replaces,
    )


def prune(restart_state: MutableMapping[Key, RestartRecord], desired_pods: Iterable[dict]) -> None:
    """Forget pods that are no longer desired."""
    uids = {p["metadata"]["uid"] for p in desired_pods}
    for key in [k for k in restart_state if k[0] not in uids]:
        del restart_state[key]


# --- status --------------------------------------------------------------------------------


def _terminated(s: ContainerState) -> dict:
    code = s.exit_code
    reason = s.reason or ("Completed" if code == 0 else "Error")
    out: dict = {"exitCode": code if code is not None else 137, "reason": reason, "containerID": s.cid}
    if s.message:
        out["message"] = s.message
    if s.started_at is not None:
        out["startedAt"] = rfc3339(s.started_at)
    if s.finished_at is not None:
        out["finishedAt"] = rfc3339(s.finished_at)
    return out


def pod_status(
    pod: dict,
    states: list[ContainerState],
    probe_results: Mapping[str, bool],
    now: float,
    *,
    restart_state: Mapping[Key, RestartRecord] | None = None,
    host_ip: str | None = None,
) -> dict:
    """The pod's ``status`` as Kubernetes reports it, from what this node observes.

    ``probe_results`` maps container id -> readiness; a running container without a
    readinessProbe is ready, one with a probe and no result yet is not. Phase follows the
    kubelet: Pending while a container has not started, Running while any runs or restarts,
    Succeeded when all ended with 0 and policy is not Always, Failed when all ended and one
    failed under Never; Succeeded/Failed are final. Timestamps already in ``pod["status"]``
    (startTime, conditions' lastTransitionTime) are kept while unchanged. Each container
    status carries ``hostPorts`` (port name/number -> host port on ``hostIP``): haplane's
    one extension, which the endpoints controller needs since pods have no IP of their own.
    An unknown exit (``reason == "Unknown"``) is reported as exit code 137.
    """
    prev = pod.get("status") or {}
    p = _Pod.of(pod)
    restart_state = restart_state or {}
    groups = _group(s for s in states if s.pod_uid == p.uid)
    running = waiting = stopped = succeeded = 0
    statuses, unready = [], []
    for c in p.containers:
        key = (p.uid, c["name"])
        cur = groups.get(key, [None])[-1]
        rec = restart_state.get(key)
        cs: dict = {
            "name": c["name"],
            "image": c.get("image", ""),
            "imageID": "",
            "ready": False,
            "started": False,
            "restartCount": cur.restart_count if cur else (rec.restart_count if rec else 0),
            "state": {},
            "lastState": {"terminated": _terminated(rec.last)} if rec and rec.last else {},
        }
        if cur is None:
            reason = rec.reason if rec and rec.failed_at is not None else "ContainerCreating"
            cs["state"] = {"waiting": {"reason": reason}}
            if rec and rec.message and rec.failed_at is not None:
                cs["state"]["waiting"]["message"] = rec.message
            if cs["lastState"]:
                stopped += 1
            else:
                waiting += 1
        else:
            cs["containerID"] = cur.cid
            cs["hostPorts"] = dict(cur.host_ports)
            if cur.running:
                running += 1
                cs["started"] = True
                cs["ready"] = bool(probe_results.get(cur.cid, "readinessProbe" not in c))
                cs["state"] = {"running": {"startedAt": rfc3339(cur.started_at or now)}}
            else:
                stopped += 1
                succeeded += cur.exit_code == 0
                if not p.deleting and should_restart(p.policy, cur.exit_code):
                    msg = f"back-off restarting failed container {c['name']}"
                    cs["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": msg}}
                    cs["lastState"] = {"terminated": _terminated(cur)}
                else:
                    cs["state"] = {"terminated": _terminated(cur)}
        if not cs["ready"]:
            unready.append(c["name"])
        statuses.append(cs)

    phase = _phase(p.policy, running, waiting, stopped, succeeded)
    if prev.get("phase") in ("Succeeded", "Failed"):
        phase = prev["phase"]
    ready = not unready and phase == "Running"
    why = {}
    if not ready:
        why = (
            {"reason": "PodCompleted"}
            if phase in ("Succeeded", "Failed")
            else {
                "reason": "ContainersNotReady",
                "message": f"containers with unready status: [{' '.join(unready)}]",
            }
        )
    old = {c.get("type"): c for c in prev.get("conditions") or []}

    def cond(kind: str, ok: bool, extra: dict | None = None) -> dict:
        status = "True" if ok else "False"
        was = old.get(kind) or {}
        since = was.get("lastTransitionTime") if was.get("status") == status else None
        return {
            "type": kind,
            "status": status,
            "lastProbeTime": None,
            "lastTransitionTime": since or rfc3339(now),
            **(extra or {}),
        }

    out: dict = {
        "phase": phase,
        "conditions": [
            cond("PodScheduled", True),
            cond("Initialized", True),
            cond("ContainersReady", ready, why),
            cond("Ready", ready, why),
        ],
        "containerStatuses": statuses,
        "startTime": prev.get("startTime") or rfc3339(now),
    }
    ip = host_ip or prev.get("hostIP")
    if ip:
        out["hostIP"] = out["podIP"] = ip
        out["hostIPs"] = out["podIPs"] = [{"ip": ip}]
    return out


def _phase(policy: str, running: int, waiting: int, stopped: int, succeeded: int) -> str:
    """The kubelet's getPhase, without init containers."""
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        return "Failed" if policy == "Never" else "Running"
    return "Pending"
