"""The pod sync loop on the hollow runtime (which records its calls), a fake API and a fake
clock: starts, adoption, deletion, backoff timing, status writes with CAS, the guards."""

from __future__ import annotations

import asyncio
import copy

import pytest

from haplane import errors
from haplane.clock import FakeClock
from node_agent.podfeed import PodFeed
from node_agent.podsync import EventRecorder, PodSync, stored_status
from node_agent.reconcile import Backoff, pod_status
from node_agent.runtime.base import ContainerState, RuntimeStartError
from node_agent.runtime.hollow import HollowRuntime

NODE = "n1"


def mkpod(name: str = "web", uid: str | None = None, *, grace: int = 7, policy: str = "Always",
          containers: tuple[str, ...] = ("main",), node: str = NODE) -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": uid or f"uid-{name}", "resourceVersion": "1"},
        "spec": {"nodeName": node, "restartPolicy": policy, "terminationGracePeriodSeconds": grace,
                 "containers": [{"name": c, "image": "busybox:local",
                                 "ports": [{"name": "http", "containerPort": 8080}]} for c in containers]},
    }


class FakeApi:
    """The three calls PodSync makes, over an in-memory store with resourceVersions."""

    def __init__(self) -> None:
        self.pods: dict[tuple[str, str], dict] = {}
        self.rv = 100
        self.status_writes: list[dict] = []
        self.events: list[dict] = []
        self.conflicts = 0  # the next N status writes meet a concurrent change first

    def add(self, pod: dict) -> dict:
        self.rv += 1
        pod = copy.deepcopy(pod)
        pod["metadata"]["resourceVersion"] = str(self.rv)
        self.pods[(pod["metadata"]["namespace"], pod["metadata"]["name"])] = pod
        return copy.deepcopy(pod)

    async def get(self, kind: str, name: str, namespace: str | None = "default", *, stale: bool = False) -> dict:
        try:
            return copy.deepcopy(self.pods[(namespace or "default", name)])
        except KeyError:
            raise errors.NotFound(name) from None

    async def update_status(self, obj: dict, *, request_id: str | None = None) -> dict:
        key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
        cur = self.pods.get(key)
        if cur is None:
            raise errors.NotFound(key[1])
        if self.conflicts:
            self.conflicts -= 1
            cur = self.add(dict(cur, metadata=dict(cur["metadata"], labels={"touched": "yes"})))
        if obj["metadata"]["resourceVersion"] != cur["metadata"]["resourceVersion"]:
            raise errors.Conflict("stale resourceVersion")
        self.status_writes.append(copy.deepcopy(obj["status"]))
        return self.add(dict(cur, status=stored_status(cur, obj["status"])))

    async def create(self, obj: dict, *, request_id: str | None = None) -> dict:
        self.events.append(obj)
        return obj


class Harness:
    def __init__(self, store: dict | None = None, runtime: HollowRuntime | None = None) -> None:
        self.clock = FakeClock()
        self.api = FakeApi()
        self.rt = runtime or HollowRuntime(NODE, clock=self.clock, store=store)
        self.events = EventRecorder(self.api, clock=self.clock)
        self.sync = PodSync(NODE, "127.0.1.1", self.rt, self.api, self.events, clock=self.clock,
                            backoff=Backoff(base=1.0, cap=8.0, reset_after=10.0), probes=False)

    def bind(self, *pods: dict) -> list[dict]:
        stored = [self.api.add(p) for p in pods]
        self.sync.replace_pods(stored)
        return stored

    async def step(self) -> float | None:
        """One round, then let every lane and status write it started finish."""
        nxt = await self.sync.round()
        await self.settle()
        return nxt

    async def settle(self) -> None:
        for _ in range(50):
            tasks = [lane.task for lane in self.sync.lanes.values()] + list(self.sync._status_tasks.values())
            if not tasks:
                return
            await asyncio.gather(*tasks)

    def starts(self) -> list[tuple]:
        return [c for c in self.rt.calls if c[0] == "start"]

    def reasons(self) -> list[str]:
        out = []
        while not self.events.queue.empty():
            out.append(self.events.queue.get_nowait()["reason"])
        return out

    def stored(self, name: str = "web") -> dict:
        return self.api.pods[("default", name)]


async def test_a_bound_pod_starts_once_and_reports_running_once() -> None:
    h = Harness()
    h.bind(mkpod())
    await h.step()
    assert len(h.starts()) == 1
    # the start's fast path inspects the new container and reports at once, without
    # waiting for the next full observation (one inspect per container under Docker)
    st = h.stored()["status"]
    assert st["phase"] == "Running" and st["hostIP"] == "127.0.1.1"
    assert st["containerStatuses"][0]["hostPorts"] == {"http": 8080, "8080": 8080}
    writes = len(h.api.status_writes)
    for _ in range(3):
        h.clock.advance(5)
        await h.step()
    assert len(h.starts()) == 1, "a running container is kept, never started again"
    assert len(h.api.status_writes) == writes, "an unchanged status is not written again"
    assert "Started" in h.reasons()


async def test_a_restarted_agent_adopts_instead_of_starting() -> None:
    first = Harness()
    first.bind(mkpod())
    await first.step()
    await first.step()
    cid = first.stored()["status"]["containerStatuses"][0]["containerID"]

    second = Harness(store=first.rt.containers)  # same containers, new agent memory
    second.sync.replace_pods([copy.deepcopy(first.stored())])
    second.api.add(first.stored())
    for _ in range(3):
        await second.step()
    assert second.starts() == [] and not [c for c in second.rt.calls if c[0] in ("stop", "remove")]
    assert [s.cid for s in await second.rt.list_managed()] == [cid]


async def test_nothing_is_touched_before_the_first_list() -> None:
    old = Harness()
    old.bind(mkpod())
    await old.step()
    h = Harness(store=old.rt.containers)
    task = asyncio.create_task(h.sync.run())
    await h.clock.run_for(30)
    assert h.rt.calls == [], "without the list an adopted container looks like an orphan"
    h.sync.replace_pods([])  # the list says: nothing is bound here
    for _ in range(5):
        await h.clock.run_for(11)
        await h.settle()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    kinds = [c[0] for c in h.rt.calls]
    assert kinds == ["stop", "remove"], kinds


async def test_a_deleted_pod_is_stopped_with_its_grace_then_removed() -> None:
    h = Harness()
    [pod] = h.bind(mkpod(grace=7))
    await h.step()
    cid = h.starts()[0][3]
    h.sync.pod_event("DELETED", pod)
    await h.step()
    assert ("stop", cid, 7.0) in h.rt.calls, "the pod's own grace period, not the orphan one"
    await h.step()
    assert ("remove", cid) in h.rt.calls
    assert h.sync.terminating == {} and await h.rt.list_managed() == []
    assert "Killing" in h.reasons()


async def test_crash_loop_backs_off_exponentially_on_the_clock() -> None:
    h = Harness()
    h.bind(mkpod())
    await h.step()
    start_times = [h.clock.now()]
    for _ in range(4):
        h.rt.exit(h.starts()[-1][3], 1)
        crashed_at = h.clock.now()
        n = len(h.starts())
        while len(h.starts()) == n:
            nxt = await h.step()
            assert nxt is not None or len(h.starts()) > n, "a Wait must say when the next round is due"
            if len(h.starts()) == n:
                h.clock.advance(max(0.0, nxt - h.clock.now()))
        start_times.append(h.clock.now())
        assert h.clock.now() - crashed_at >= 1.0
    gaps = [round(b - a) for a, b in zip(start_times, start_times[1:], strict=False)]
    assert gaps == [1, 2, 4, 8], gaps
    await h.step()
    cs = h.stored()["status"]["containerStatuses"][0]
    assert cs["restartCount"] == 4
    assert "BackOff" in h.reasons()


async def test_crash_loop_status_says_crashloopbackoff() -> None:
    h = Harness()
    h.bind(mkpod())
    await h.step()
    h.rt.exit(h.starts()[-1][3], 3)
    await h.step()
    cs = h.stored()["status"]["containerStatuses"][0]
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert cs["lastState"]["terminated"]["exitCode"] == 3


class FailingRuntime(HollowRuntime):
    async def start(self, pod: dict, container: dict, **kw: object) -> str:  # type: ignore[override]
        self.calls.append(("start-failed",))
        raise RuntimeStartError("CommandNotFound", "executable 'nope' not found in PATH")


async def test_a_bad_pod_gets_a_clear_status_and_an_event_and_is_retried_with_backoff() -> None:
    clock = FakeClock()
    h = Harness(runtime=FailingRuntime(NODE, clock=clock))
    h.clock = h.sync.clock = clock
    h.events.clock = clock
    h.bind(mkpod())
    await h.step()
    await h.step()
    waiting = h.stored()["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "CommandNotFound" and "nope" in waiting["message"]
    assert h.stored()["status"]["phase"] == "Pending"
    assert "Failed" in h.reasons()
    tries = len(h.rt.calls)
    await h.step()
    assert len(h.rt.calls) == tries, "no retry before the backoff has passed"
    h.clock.advance(1.5)
    await h.step()
    assert len(h.rt.calls) == tries + 1


async def test_a_status_conflict_rereads_and_retries() -> None:
    h = Harness()
    h.bind(mkpod())
    h.api.conflicts = 1
    await h.step()
    assert len(h.api.status_writes) == 1
    assert h.stored()["status"]["phase"] == "Running"
    assert h.stored()["metadata"]["labels"] == {"touched": "yes"}, "the concurrent change survives"


async def test_a_start_in_flight_is_never_started_twice() -> None:
    gate = asyncio.Event()

    class SlowStart(HollowRuntime):
        async def start(self, pod: dict, container: dict, **kw: object) -> str:  # type: ignore[override]
            await gate.wait()
            return await super().start(pod, container, **kw)  # type: ignore[arg-type]

    clock = FakeClock()
    h = Harness(runtime=SlowStart(NODE, clock=clock))
    h.bind(mkpod())
    await h.sync.round()
    await h.sync.round()  # the first Start is still in flight
    gate.set()
    await h.settle()
    await h.step()
    assert len(h.starts()) == 1


async def test_an_observation_older_than_a_finished_lane_is_not_acted_on() -> None:
    release = asyncio.Event()
    observing = asyncio.Event()

    class SlowList(HollowRuntime):
        slow = False

        async def list_managed(self) -> list[ContainerState]:
            seen = await super().list_managed()
            if self.slow:
                observing.set()
                await release.wait()
            return seen

    clock = FakeClock()
    rt = SlowList(NODE, clock=clock)
    h = Harness(runtime=rt)
    h.bind(mkpod())
    gate = asyncio.Event()
    original = rt.start

    async def gated_start(*a: object, **kw: object) -> str:
        await gate.wait()
        return await original(*a, **kw)  # type: ignore[arg-type]

    rt.start = gated_start  # type: ignore[method-assign]
    await h.sync.round()  # lane: Start, blocked on the gate
    rt.slow = True
    second = asyncio.create_task(h.sync.round())  # observes: no container yet
    await observing.wait()
    gate.set()
    await h.settle()  # the Start lands while the second round is still observing
    release.set()
    await second
    rt.slow = False
    await h.settle()
    assert len(h.starts()) == 1, "the stale observation must not start the container again"


def test_stored_status_is_a_fixed_point() -> None:
    """Writing what pod_status computes, then computing again later, changes nothing: the
    loop must never rewrite a status forever because the server normalizes it."""
    pod = mkpod()
    running = ContainerState("c1", "uid-web", "web", "default", "main", 0, True, None, 1000.0, None,
                             host_ports={"http": 31000, "8080": 31000})
    crashed = ContainerState("c2", "uid-web", "web", "default", "main", 0, False, 2, 1000.0, 1001.0,
                             restart_count=3)
    for states in ([running], [crashed], []):
        first = stored_status(pod, pod_status(pod, states, {}, 1010.0, host_ip="127.0.1.1"))
        again = stored_status(pod, pod_status(dict(pod, status=first), states, {}, 2000.0, host_ip="127.0.1.1"))
        assert again == first


# --- the feed's routing --------------------------------------------------------------------


class Sink:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def replace_pods(self, pods: list[dict]) -> None:
        self.seen.append(("LIST", ",".join(p["metadata"]["name"] for p in pods)))

    def pod_event(self, kind: str, pod: dict) -> None:
        self.seen.append((kind, pod["metadata"]["name"]))


def test_feed_routes_by_node_and_turns_a_rebinding_into_a_delete() -> None:
    a, b = Sink(), Sink()
    feed = PodFeed(object(), {"a": a, "b": b})  # type: ignore[arg-type]
    assert feed.field_selector is None, "many nodes share one unfiltered watch"
    feed.route("ADDED", mkpod("p", node="a"))
    feed.route("ADDED", mkpod("q", node="elsewhere"))
    feed.route("MODIFIED", mkpod("p", node="b"))
    feed.route("DELETED", mkpod("p", node="b"))
    assert a.seen == [("ADDED", "p"), ("DELETED", "p")]
    assert b.seen == [("MODIFIED", "p"), ("DELETED", "p")]


def test_feed_of_one_node_uses_a_field_selector() -> None:
    feed = PodFeed(object(), {"n7": Sink()})  # type: ignore[arg-type]
    assert feed.field_selector == "spec.nodeName=n7"


@pytest.mark.parametrize("kind", ["ADDED", "MODIFIED"])
async def test_an_older_copy_never_replaces_a_newer_one(kind: str) -> None:
    h = Harness()
    [pod] = h.bind(mkpod())
    newer = copy.deepcopy(pod)
    newer["metadata"]["resourceVersion"] = "900"
    h.sync.pod_event(kind, newer)
    h.sync.pod_event(kind, pod)
    assert h.sync.pods["uid-web"]["metadata"]["resourceVersion"] == "900"


async def test_status_writes_in_flight_are_bounded() -> None:
    """100 pods start at once: their status writes go STATUS_WRITES_IN_FLIGHT at a time, and
    every one of them lands."""
    from node_agent.podsync import STATUS_WRITES_IN_FLIGHT

    h = Harness()
    in_flight, most = 0, 0
    write = h.api.update_status

    async def slow_write(obj: dict, *, request_id: str | None = None) -> dict:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            await asyncio.sleep(0.001)
            return await write(obj, request_id=request_id)
        finally:
            in_flight -= 1
    h.api.update_status = slow_write  # type: ignore[method-assign]
    h.bind(*(mkpod(f"p{i}") for i in range(100)))
    await h.step()
    assert most == STATUS_WRITES_IN_FLIGHT
    assert all(h.stored(f"p{i}")["status"]["phase"] == "Running" for i in range(100))
