"""The agent's pure decisions: recorded actions for given observations, and pod status."""

from __future__ import annotations

import pytest

from node_agent.reconcile import (
    Backoff,
    Remove,
    RestartRecord,
    Start,
    Stop,
    Wait,
    note_start_failed,
    note_started,
    pod_status,
    prune,
    reconcile,
)
from node_agent.runtime.base import ContainerState

T0 = 1_000.0


def mkpod(
    uid: str = "u1",
    containers: tuple[str, ...] = ("main",),
    policy: str | None = "Always",
    grace: float | None = 5,
    deleting: bool = False,
    readiness: bool = False,
    status: dict | None = None,
) -> dict:
    spec: dict = {
        "nodeName": "n1",
        "containers": [
            {
                "name": c,
                "image": "busybox:local",
                **({"readinessProbe": {"tcpSocket": {"port": 80}}} if readiness else {}),
            }
            for c in containers
        ],
    }
    if policy:
        spec["restartPolicy"] = policy
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    meta: dict = {"uid": uid, "name": f"pod-{uid}", "namespace": "default"}
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    pod = {"metadata": meta, "spec": spec}
    if status is not None:
        pod["status"] = status
    return pod


def cont(pod: dict, name: str = "main") -> dict:
    return next(c for c in pod["spec"]["containers"] if c["name"] == name)


def st(
    cid: str,
    uid: str = "u1",
    container: str = "main",
    *,
    running: bool = True,
    exit_code: int | None = None,
    started: float = T0,
    finished: float | None = None,
    restarts: int = 0,
    reason: str | None = None,
) -> ContainerState:
    return ContainerState(
        cid=cid,
        pod_uid=uid,
        pod_name=f"pod-{uid}",
        namespace="default",
        container=container,
        epoch=1,
        running=running,
        exit_code=exit_code,
        started_at=started,
        finished_at=None if running else (finished if finished is not None else started + 1),
        host_ports={"80": 30080},
        reason=reason,
        restart_count=restarts,
    )


def dead(cid: str, exit_code: int | None, *, started: float = T0, ran: float = 1.0, **kw) -> ContainerState:
    return st(cid, running=False, exit_code=exit_code, started=started, finished=started + ran, **kw)


P = mkpod()
P2 = mkpod(containers=("a", "b"))
FINISHED = T0 + 1  # when dead(...) containers with the default run time ended


# --- starting, adopting, stopping ----------------------------------------------------------

CASES = [
    pytest.param([P2], [], {}, [Start(P2, cont(P2, "a")), Start(P2, cont(P2, "b"))], id="start-missing"),
    pytest.param([P], [st("c1")], {}, [], id="adopt-running-no-duplicate"),
    pytest.param([P2], [st("c1", container="b")], {}, [Start(P2, cont(P2, "a"))], id="adopt-one-start-other"),
    pytest.param(
        [P],
        [st("new", started=T0 + 5), st("old")],
        {},
        [Stop("old", 5, "Duplicate"), Remove("old", "Superseded")],
        id="duplicate-keeps-newest",
    ),
    pytest.param(
        [P],
        [dead("gone", 1, started=T0 - 50), st("c1")],
        {},
        [Remove("gone", "Superseded")],
        id="stale-dead-container-removed",
    ),
    pytest.param(
        [],
        [st("c1"), dead("c0", 0)],
        {},
        [Remove("c0", "NotDesired"), Stop("c1", 10.0, "NotDesired"), Remove("c1", "NotDesired")],
        id="deleted-pod-stopped-and-removed",
    ),
    pytest.param(
        [mkpod("u2")],
        [st("c1", uid="u1")],
        {},
        [Start(mkpod("u2"), cont(mkpod("u2"))), Stop("c1", 10.0, "NotDesired"), Remove("c1", "NotDesired")],
        id="rebound-or-recreated-pod",
    ),
    pytest.param(
        [mkpod(containers=("a", "b"), deleting=True, grace=3)],
        [st("c1", container="a")],
        {},
        [Stop("c1", 3, "PodDeleting")],
        id="deleting-pod-stops-with-its-grace-starts-nothing",
    ),
    pytest.param(
        [mkpod(deleting=True)],
        [dead("c1", 0)],
        {},
        [],
        id="deleting-pod-keeps-dead-container-for-status",
    ),
    pytest.param(
        [mkpod(grace=None)],
        [st("c1")],
        {},
        [],
        id="no-grace-given",
    ),
    pytest.param(
        [mkpod(policy="OnFailure", status={"phase": "Succeeded"})],
        [],
        {("u1", "main"): RestartRecord()},
        [],
        id="terminal-pod-never-restarted",
    ),
]


@pytest.mark.parametrize(("desired", "observed", "restart_state", "expected"), CASES)
def test_reconcile(desired, observed, restart_state, expected) -> None:
    assert reconcile(desired, observed, T0 + 100, restart_state) == expected


def test_unhealthy_container_is_stopped_with_the_pod_grace() -> None:
    assert reconcile([P], [st("c1")], T0, {}, unhealthy={"c1"}) == [Stop("c1", 5, "Unhealthy")]
    assert reconcile([P], [st("c1")], T0, {}, unhealthy={"other"}) == []


# --- restart policy and backoff ------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "exit_code", "restarts"),
    [
        pytest.param("Always", 0, True, id="Always-exit0"),
        pytest.param("Always", 1, True, id="Always-exit1"),
        pytest.param(None, 1, True, id="default-is-Always"),
        pytest.param("OnFailure", 0, False, id="OnFailure-exit0"),
        pytest.param("OnFailure", 1, True, id="OnFailure-exit1"),
        pytest.param("OnFailure", None, True, id="OnFailure-unknown-exit"),
        pytest.param("Never", 0, False, id="Never-exit0"),
        pytest.param("Never", 1, False, id="Never-exit1"),
    ],
)
def test_restart_policy(policy: str | None, exit_code: int | None, restarts: bool) -> None:
    pod = mkpod(policy=policy)
    crashed = dead("c1", exit_code, restarts=2)
    # first crash: base delay 1 s after it finished
    early = reconcile([pod], [crashed], FINISHED + 0.99, {})
    due = reconcile([pod], [crashed], FINISHED + 1.0, {})
    if not restarts:
        assert early == due == []
        return
    assert early == [Wait("u1", "main", FINISHED + 1.0)]
    assert due == [
        Remove("c1", "Restart"),
        Start(pod, cont(pod), restart_count=3, crashes=1, replaces=crashed),
    ]


@pytest.mark.parametrize(
    ("crashes", "ran", "delay", "next_crashes"),
    [
        pytest.param(0, 1.0, 1.0, 1, id="first-crash-base"),
        pytest.param(1, 1.0, 2.0, 2, id="second-crash-doubles"),
        pytest.param(3, 9.9, 8.0, 4, id="short-run-keeps-counting"),
        pytest.param(4, 1.0, 16.0, 5, id="sixteen"),
        pytest.param(5, 1.0, 30.0, 6, id="capped-at-30"),
        pytest.param(50, 1.0, 30.0, 51, id="capped-far-out"),
        pytest.param(5, 10.0, 1.0, 1, id="reset-after-10s-run"),
    ],
)
def test_backoff_timing(crashes: int, ran: float, delay: float, next_crashes: int) -> None:
    crashed = dead("c1", 1, ran=ran)
    finished = T0 + ran
    state = {("u1", "main"): RestartRecord(crashes=crashes)}
    assert reconcile([P], [crashed], finished + delay - 0.01, state) == [Wait("u1", "main", finished + delay)]
    actions = reconcile([P], [crashed], finished + delay, state)
    assert actions == [
        Remove("c1", "Restart"),
        Start(P, cont(P), restart_count=1, crashes=next_crashes, replaces=crashed),
    ]


def test_backoff_parameters() -> None:
    fast = Backoff(base=0.5, cap=2.0, reset_after=3.0)
    assert [fast.delay(n) for n in range(5)] == [0.5, 1.0, 2.0, 2.0, 2.0]
    crashed = dead("c1", 1, ran=3.0)
    state = {("u1", "main"): RestartRecord(crashes=4)}
    assert reconcile([P], [crashed], T0 + 3.4, state, backoff=fast) == [Wait("u1", "main", T0 + 3.5)]


def test_crash_loop_over_time() -> None:
    """Drive reconcile like the agent does: every container dies 0.5 s after it starts."""
    restart_state: dict = {}
    now, containers, gaps = T0, [], []
    finished_at = None
    for i in range(9):
        actions = []
        while not any(isinstance(a, Start) for a in actions):
            actions = reconcile([P], containers, now, restart_state)
            if not any(isinstance(a, Start) for a in actions):
                (wait,) = actions
                now = wait.until
        start = next(a for a in actions if isinstance(a, Start))
        note_started(restart_state, start)
        if finished_at is not None:
            gaps.append(now - finished_at)
        assert start.restart_count == i
        containers = [dead(f"c{i}", 1, started=now, ran=0.5, restarts=start.restart_count)]
        finished_at = now + 0.5
        now = finished_at
    assert gaps == [1, 2, 4, 8, 16, 30, 30, 30]
    assert restart_state[("u1", "main")].last == dead(
        "c7", 1, started=containers[0].started_at - 30.5, ran=0.5, restarts=7
    )


def test_failed_start_is_retried_with_backoff() -> None:
    restart_state: dict = {}
    (first,) = reconcile([P], [], T0, restart_state)
    note_start_failed(restart_state, first, T0, "ImageNotFound", "no such image")
    assert reconcile([P], [], T0 + 0.5, restart_state) == [Wait("u1", "main", T0 + 1, "ImageNotFound")]
    (second,) = reconcile([P], [], T0 + 1, restart_state)
    assert second == Start(P, cont(P), crashes=1)
    note_start_failed(restart_state, second, T0 + 1, "ImageNotFound", "no such image")
    assert reconcile([P], [], T0 + 2.9, restart_state) == [Wait("u1", "main", T0 + 3, "ImageNotFound")]
    (third,) = reconcile([P], [], T0 + 3, restart_state)
    note_started(restart_state, third)
    assert restart_state[("u1", "main")] == RestartRecord(crashes=2)


def test_vanished_container_is_replaced_per_policy() -> None:
    state = {("u1", "main"): RestartRecord(crashes=0, restart_count=4)}
    assert reconcile([P], [], T0, state) == [Start(P, cont(P), restart_count=5, crashes=1)]
    assert reconcile([mkpod(policy="Never")], [], T0, state) == []


def test_prune_forgets_pods_no_longer_desired() -> None:
    state = {("u1", "main"): RestartRecord(), ("u2", "main"): RestartRecord()}
    prune(state, [P])
    assert list(state) == [("u1", "main")]


# --- pod status ----------------------------------------------------------------------------


def status_of(pod: dict, states: list[ContainerState], probes: dict | None = None, **kw) -> dict:
    return pod_status(pod, states, probes or {}, T0 + 100, host_ip="127.0.1.1", **kw)


def conditions(status: dict) -> dict[str, str]:
    return {c["type"]: c["status"] for c in status["conditions"]}


@pytest.mark.parametrize(
    ("pod", "states", "probes", "phase", "ready", "state_key"),
    [
        pytest.param(mkpod(), [], {}, "Pending", False, "waiting", id="nothing-yet-pending"),
        pytest.param(mkpod(), [st("c1")], {}, "Running", True, "running", id="running-no-probe-ready"),
        pytest.param(
            mkpod(readiness=True),
            [st("c1")],
            {},
            "Running",
            False,
            "running",
            id="readiness-probe-without-result",
        ),
        pytest.param(
            mkpod(readiness=True),
            [st("c1")],
            {"c1": True},
            "Running",
            True,
            "running",
            id="readiness-probe-passed",
        ),
        pytest.param(
            mkpod(policy="Never"),
            [dead("c1", 0)],
            {},
            "Succeeded",
            False,
            "terminated",
            id="Never-exit0-succeeded",
        ),
        pytest.param(
            mkpod(policy="Never"), [dead("c1", 1)], {}, "Failed", False, "terminated", id="Never-exit1-failed"
        ),
        pytest.param(
            mkpod(policy="OnFailure"),
            [dead("c1", 0)],
            {},
            "Succeeded",
            False,
            "terminated",
            id="OnFailure-exit0-succeeded",
        ),
        pytest.param(
            mkpod(policy="OnFailure"),
            [dead("c1", 1)],
            {},
            "Running",
            False,
            "waiting",
            id="OnFailure-exit1-restarting",
        ),
        pytest.param(
            mkpod(policy="Always"),
            [dead("c1", 0)],
            {},
            "Running",
            False,
            "waiting",
            id="Always-exit0-restarting",
        ),
        pytest.param(
            mkpod(containers=("a", "b"), policy="Never"),
            [st("c1", container="a"), dead("c2", 1, container="b")],
            {},
            "Running",
            False,
            None,
            id="Never-one-running-one-failed",
        ),
        pytest.param(
            mkpod(containers=("a", "b")),
            [st("c1", container="a")],
            {},
            "Pending",
            False,
            None,
            id="one-container-not-started",
        ),
        pytest.param(
            mkpod(policy="Never", status={"phase": "Failed"}),
            [],
            {},
            "Failed",
            False,
            None,
            id="terminal-phase-is-final",
        ),
    ],
)
def test_pod_status_phase(pod, states, probes, phase, ready, state_key) -> None:
    status = status_of(pod, states, probes)
    assert status["phase"] == phase
    assert conditions(status) == {
        "PodScheduled": "True",
        "Initialized": "True",
        "ContainersReady": str(ready),
        "Ready": str(ready),
    }
    if state_key:
        assert list(status["containerStatuses"][0]["state"]) == [state_key]
    assert status["hostIP"] == status["podIP"] == "127.0.1.1"


def test_pod_status_container_details() -> None:
    pod = mkpod(policy="Always")
    crashed = dead("c1", 2, restarts=3)
    (cs,) = status_of(pod, [crashed])["containerStatuses"]
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert cs["lastState"]["terminated"]["exitCode"] == 2
    assert cs["lastState"]["terminated"]["reason"] == "Error"
    assert cs["restartCount"] == 3 and cs["ready"] is False

    running = st("c2", restarts=4, started=T0 + 50)
    rs = {("u1", "main"): RestartRecord(crashes=1, restart_count=4, last=crashed)}
    (cs,) = status_of(pod, [running], restart_state=rs)["containerStatuses"]
    assert cs["state"] == {"running": {"startedAt": "1970-01-01T00:17:30Z"}}
    assert cs["lastState"]["terminated"]["exitCode"] == 2
    assert cs["restartCount"] == 4 and cs["ready"] is True and cs["containerID"] == "c2"
    assert cs["hostPorts"] == {"80": 30080}

    unknown = dead("c3", None, reason="Unknown")
    (cs,) = status_of(mkpod(policy="Never"), [unknown])["containerStatuses"]
    assert cs["state"]["terminated"]["reason"] == "Unknown" and cs["state"]["terminated"]["exitCode"] == 137


def test_pod_status_start_error_is_the_waiting_reason() -> None:
    rs = {("u1", "main"): RestartRecord(failed_at=T0, reason="ImageNotFound", message="busybox:nope")}
    status = status_of(mkpod(), [], restart_state=rs)
    assert status["phase"] == "Pending"
    assert status["containerStatuses"][0]["state"] == {
        "waiting": {"reason": "ImageNotFound", "message": "busybox:nope"}
    }
    assert status_of(mkpod(), [])["containerStatuses"][0]["state"] == {
        "waiting": {"reason": "ContainerCreating"}
    }


def test_pod_status_keeps_transition_times_and_start_time() -> None:
    first = pod_status(mkpod(), [st("c1")], {}, T0)
    later = pod_status(mkpod(status=first), [st("c1")], {}, T0 + 60)
    assert later["startTime"] == first["startTime"]
    assert later["conditions"] == first["conditions"]
    flipped = pod_status(mkpod(readiness=True, status=first), [st("c1")], {"c1": False}, T0 + 60)
    ready = next(c for c in flipped["conditions"] if c["type"] == "Ready")
    scheduled = next(c for c in flipped["conditions"] if c["type"] == "PodScheduled")
    assert (
        ready["status"] == "False"
        and ready["lastTransitionTime"] != first["conditions"][3]["lastTransitionTime"]
    )
    assert scheduled["lastTransitionTime"] == first["conditions"][0]["lastTransitionTime"]
