"""Client workloads with recorded histories.

* :class:`RegisterWorkload`: ``keys`` ConfigMaps used as read/write/CAS registers
  (``data.value``). Each client process is pinned to one replica (a one-endpoint client with
  ``max_attempts=1``: no failover, no retry), so an isolated or frozen replica is really
  exercised; one extra *probe* process fails over across all replicas and measures whether the
  cluster as a whole accepts writes. Every write and CAS writes a value never written before,
  so the checker can tie each read to one write. Reads are linearizable (never ``stale``).
  A CAS is an update carrying the ``resourceVersion`` this process last saw together with the
  value it expects: with unique values, version and value identify each other, so the
  precondition holds exactly when the register holds the expected value; 409 is a definite fail.
* :class:`CreateWorkload`: creates uniquely named ConfigMaps (one pinned creator per replica);
  acknowledged creates must all exist at the end, definitely failed ones must not.
* :class:`ScaleWorkload` (worker scenarios): a Deployment whose size clients keep changing,
  one pinned scaler per replica (and a second, *steady* Deployment of one pod per agent that
  nobody resizes: its pods move only when their node fails, so worker faults always hit some). The Deployment is one more register of the same history:
  a scale is a merge patch setting ``spec.replicas`` *and* a unique annotation naming the
  write (``<process>.<seq>/<replicas>``) in one update, a read is a linearizable GET whose
  value is :func:`scale_state` — so the checker proves every size the cluster ever showed
  was one a client set, in an order the clients could have seen, and none was lost.

Outcome rules (:func:`classify`): success is ``ok``; an answer that proves the op was not
applied (409 Conflict, 404, 422, a 503 from the server's proposer, or — for a create — a
connection that was never established) is ``fail``; everything else (timeouts, a connection
lost after sending, 504, a refused PUT — see :func:`classify` —, unexpected errors) is
``unknown``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from chaos.cluster import ChaosCluster
from chaos.history import FAIL, OK, UNKNOWN, History, Op
from chaos.runtimes import pod_env
from chaos.watchcheck import Version
from haplane import errors
from haplane.aio import wait_for
from haplane.client import Client, ConnectionFailed

NAMESPACE = "default"
INITIAL = "init"
LABEL = "chaos.haplane/run"
FINAL_READ_PROCESS = 1000  # + replica index: the final reads through every replica
PROBE = "*"                # the replica "name" of the failover probe process
DEPLOYMENT = "web"        # the Deployment the scalers keep resizing
STEADY = "steady"         # one the clients never touch: its pods leave a node only when the node fails
SCALE_KEY = f"deployment/{DEPLOYMENT}"
SCALE_ANNOTATION = "chaos.haplane/scale"
TEMPLATE_ANNOTATION = "chaos.haplane/template"
IMAGE = "busybox:local"


def classify(exc: BaseException | None, f: str) -> tuple[str, str | None]:
    """``(result, error text)`` for an op that returned (``exc`` None) or raised ``exc``.

    ``f`` is the op: read | write | cas | create. Pure; see the module docstring for the rules.

    One exception to "never connected means not applied": haplane's client reports a
    ``ConnectionFailed`` when the last connection attempt was refused, but aiohttp retries an
    *idempotent* request (PUT, DELETE) once on a fresh connection when a pooled keep-alive
    connection breaks — after the first copy may have reached a replica that applied it and
    died. So a refused PUT (write, cas) is ``unknown`` here; a refused POST (create) is a
    ``fail``. :func:`chaos.invariants.client_contract` checks the client's own promise.
    """
    if exc is None:
        return OK, None
    text = f"{type(exc).__name__}: {exc}"[:300]
    if isinstance(exc, errors.OutcomeUnknown):
        return UNKNOWN, text
    if isinstance(exc, ConnectionFailed) and f in ("write", "cas"):
        return UNKNOWN, text
    if isinstance(exc, errors.AlreadyExists):
        # Names are unique and nothing retries: only our own request could have made it.
        return UNKNOWN, text
    if isinstance(exc, errors.Conflict | errors.NotFound | errors.Invalid | errors.BadRequest
                  | errors.Unavailable):  # a 503 answer, or a create that never connected
        return FAIL, text
    return UNKNOWN, text


def objects_label(run_label: str) -> str:
    """The label value of the create workload's objects (the registers carry ``run_label``)."""
    return f"{run_label}-objects"


def _failed(exc: BaseException, f: str) -> tuple[str, None, str | None]:
    """``History.complete``'s ``(result, output, error)`` for an op that raised ``exc``: the error
    text goes to ``error`` (where :func:`chaos.invariants.client_contract` looks), not ``output``."""
    result, text = classify(exc, f)
    return result, None, text


def configmap(name: str, value: str, run_label: str, rv: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": NAMESPACE, "labels": {LABEL: run_label}}
    if rv is not None:
        meta["resourceVersion"] = rv
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"value": value}}


def _value(obj: dict[str, Any]) -> Any:
    return (obj.get("data") or {}).get("value")


def _rv(obj: dict[str, Any]) -> str | None:
    return (obj.get("metadata") or {}).get("resourceVersion")


def _version(obj: dict[str, Any], source: str) -> Version | None:
    """What ``obj`` (a ConfigMap some answer carried) says happened: its value as of its revision."""
    try:
        rv = int(_rv(obj) or "")
    except ValueError:
        return None
    return Version(rv, (obj.get("metadata") or {}).get("name"), _value(obj), source)


@dataclass(frozen=True)
class WorkloadConfig:
    keys: int = 3
    clients_per_replica: int = 2
    read_weight: float = 0.4
    write_weight: float = 0.3
    cas_weight: float = 0.3
    think: tuple[float, float] = (0.0, 0.03)   # sleep between a process's ops (uniform)
    timeout: float = 2.5                        # per request, client side
    probe_think: float = 0.1
    creators: bool = True
    create_think: float = 0.05
    watchers: bool = True                       # the watch workload (chaos.watchers) and its verdicts
    fail_pause: float = 0.2                     # extra sleep after an op that did not succeed
    # the Deployment of worker scenarios
    initial_replicas: int = 2
    scale_sizes: tuple[int, int] = (1, 4)       # each scale picks a size in this range (inclusive)
    scale_write_weight: float = 0.35            # the rest are reads
    scale_think: tuple[float, float] = (1.0, 2.5)


async def create_once(c: Client, obj: dict[str, Any], request_id: str, deadline: float) -> None:
    """Create ``obj`` (setup, before the history starts), retrying errors until ``deadline``;
    AlreadyExists means an earlier attempt landed."""
    while True:
        try:
            await c.create(obj, request_id=request_id)
            return
        except errors.AlreadyExists:
            return
        except errors.HaplaneError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


def pinned_client(cluster: ChaosCluster, name: str, cfg: WorkloadConfig) -> Client:
    """A client that only ever talks to replica ``name``, once per op."""
    return Client([cluster.url(name)], cluster.admin_token, timeout=cfg.timeout, max_attempts=1,
                  connect_timeout=min(1.0, cfg.timeout))


def failover_client(cluster: ChaosCluster, cfg: WorkloadConfig) -> Client:
    """A client over every replica: one attempt per replica, with the same request id."""
    return Client([cluster.url(n) for n in cluster.names], cluster.admin_token, timeout=cfg.timeout,
                  max_attempts=cluster.size, connect_timeout=min(1.0, cfg.timeout), backoff_base=0.05,
                  backoff_max=0.2)


class RegisterWorkload:
    """Read / write / CAS registers; see the module docstring."""

    def __init__(self, cluster: ChaosCluster, history: History, rng: random.Random, run_label: str,
                 cfg: WorkloadConfig = WorkloadConfig()) -> None:
        self.cluster, self.history, self.rng, self.run_label, self.cfg = cluster, history, rng, run_label, cfg
        self.keys = [f"reg-{i}" for i in range(cfg.keys)]
        # process id -> replica name it is pinned to (PROBE for the failover probe)
        self.processes: dict[int, str] = {}
        p = 0
        for _ in range(cfg.clients_per_replica):
            for name in cluster.names:
                self.processes[p] = name
                p += 1
        self.probe = p
        self.processes[self.probe] = PROBE
        self._clients: list[Client] = []
        # what the answers said: each ok write's / CAS's / read's object as of its revision
        self.versions: list[Version] = []

    async def setup(self, timeout: float = 60.0) -> None:
        """Create every register with the value :data:`INITIAL` (before the history starts)."""
        async with Client([self.cluster.url(n) for n in self.cluster.names], self.cluster.admin_token,
                          timeout=5.0, max_attempts=20) as c:
            for key in self.keys:
                await create_once(c, configmap(key, INITIAL, self.run_label), f"setup-{key}",
                                  time.monotonic() + timeout)

    async def run(self, stop: asyncio.Event) -> None:
        """Run every process until ``stop`` is set; ops in flight then are left to finish."""
        tasks = []
        for p, name in self.processes.items():
            client = failover_client(self.cluster, self.cfg) if name == PROBE else \
                pinned_client(self.cluster, name, self.cfg)
            self._clients.append(client)
            tasks.append(asyncio.create_task(self._process(p, client, stop), name=f"register-p{p}"))
        try:
            await asyncio.gather(*tasks)
        finally:
            for c in self._clients:
                await c.close()

    async def _process(self, p: int, client: Client, stop: asyncio.Event) -> None:
        rng = random.Random(self.rng.random())
        known: dict[str, tuple[Any, str]] = {}   # key -> (value, resourceVersion) last seen by p
        seq = 0
        probe = p == self.probe
        while not stop.is_set():
            key = rng.choice(self.keys)
            if probe:
                f = "write" if rng.random() < 0.7 else "read"
            else:
                f = rng.choices(("read", "write", "cas"),
                                (self.cfg.read_weight, self.cfg.write_weight, self.cfg.cas_weight))[0]
            if f == "cas" and key not in known:
                f = "read"
            seq += 1
            value = f"{p}.{seq}"
            if f == "read":
                op = await self._read(p, client, key, known)
            elif f == "write":
                op = await self._write(p, client, key, value, None, known)
            else:
                op = await self._write(p, client, key, value, known.pop(key), known)
            lo, hi = (self.cfg.probe_think, self.cfg.probe_think) if probe else self.cfg.think
            pause = rng.uniform(lo, hi)
            if op.result != OK and not (op.result == FAIL and op.f == "cas"):
                pause += self.cfg.fail_pause  # a dead or cut-off replica: do not spin on it
            with contextlib.suppress(TimeoutError):
                await wait_for(stop.wait(), pause)

    async def _read(self, p: int, client: Client, key: str, known: dict[str, tuple[Any, str]]) -> Op:
        op = self.history.invoke(p, key, "read")
        try:
            obj = await client.get("ConfigMap", key, NAMESPACE)
        except errors.NotFound:
            self.history.complete(op, OK, output=None)
            known.pop(key, None)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded, none is fatal
            self.history.complete(op, *_failed(exc, "read"))
        else:
            self.history.complete(op, OK, output=_value(obj))
            rv = _rv(obj)
            if rv is not None:
                known[key] = (_value(obj), rv)
            if (v := _version(obj, f"read #{op.id}")) is not None:
                self.versions.append(v)
        return op

    async def _write(self, p: int, client: Client, key: str, value: str, expect: tuple[Any, str] | None,
                     known: dict[str, tuple[Any, str]]) -> Op:
        if expect is None:
            op = self.history.invoke(p, key, "write", value)
            body = configmap(key, value, self.run_label)
        else:
            op = self.history.invoke(p, key, "cas", (expect[0], value))
            body = configmap(key, value, self.run_label, rv=expect[1])
        try:
            obj = await client.update(body, request_id=f"{self.run_label}-{key}-{value}")
        except Exception as exc:  # noqa: BLE001
            self.history.complete(op, *_failed(exc, op.f))
        else:
            self.history.complete(op, OK)
            rv = _rv(obj)
            if rv is not None and _value(obj) == value:
                known[key] = (value, rv)
            if (v := _version(obj, f"answer to #{op.id}")) is not None:
                self.versions.append(v)
        return op

    async def final_reads(self, timeout: float = 60.0) -> dict[str, dict[str, Any]]:
        """Read every key linearizably through every replica, recording the reads in the history.

        Returns ``{replica: {key: value}}``; a replica that never answered within ``timeout``
        is missing from the result (the caller reports it).
        """
        return await read_through_every_replica(self.cluster, self.keys, FINAL_READ_PROCESS, self.processes,
                                                lambda p, c, key: self._read(p, c, key, {}), timeout)


ReadOp = Callable[[int, Client, str], Awaitable[Op]]


async def read_through_every_replica(cluster: ChaosCluster, keys: list[str], process_base: int,
                                     processes: dict[int, str], read: ReadOp, timeout: float
                                     ) -> dict[str, dict[str, Any]]:
    """``read`` every key through each replica (process ``process_base + i`` pinned to replica
    i, registered in ``processes``), retrying each until it is ok or ``timeout`` passes.
    Returns ``{replica: {key: value}}`` for the replicas that answered every key."""
    out: dict[str, dict[str, Any]] = {}

    async def through(i: int, name: str) -> None:
        p = process_base + i
        processes[p] = name
        values: dict[str, Any] = {}
        deadline = time.monotonic() + timeout
        async with pinned_client(cluster, name, WorkloadConfig(timeout=5.0)) as c:
            for key in keys:
                while True:
                    op = await read(p, c, key)
                    if op.result == OK:
                        values[key] = op.output
                        break
                    if time.monotonic() > deadline:
                        return
                    await asyncio.sleep(0.3)
        out[name] = values

    await asyncio.gather(*(through(i, n) for i, n in enumerate(cluster.names)))
    return out


@dataclass
class CreateRecord:
    """One create: ``result`` ok / fail / unknown as in :func:`classify`."""

    process: int
    replica: str
    name: str
    invoke_t: float
    complete_t: float | None = None
    result: str = UNKNOWN
    error: str | None = None
    rv: int | None = None   # an ok create: the revision its answer carried

    def to_doc(self) -> dict[str, Any]:
        return asdict(self)


class CreateWorkload:
    """Uniquely named ConfigMap creates, one pinned creator per replica."""

    PROCESS_BASE = 500

    def __init__(self, cluster: ChaosCluster, run_label: str, cfg: WorkloadConfig = WorkloadConfig(),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cluster, self.run_label, self.cfg, self.clock = cluster, run_label, cfg, clock
        self.records: list[CreateRecord] = []
        self.processes = {self.PROCESS_BASE + i: n for i, n in enumerate(cluster.names)}
        # the created objects as the final lists show them (each at its create's revision)
        self.versions: list[Version] = []

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(*(self._creator(p, n, stop) for p, n in self.processes.items()))

    async def _creator(self, p: int, name: str, stop: asyncio.Event) -> None:
        seq = 0
        async with pinned_client(self.cluster, name, self.cfg) as c:
            while not stop.is_set():
                seq += 1
                obj_name = f"obj-{p}-{seq}"
                rec = CreateRecord(p, name, obj_name, self.clock())
                self.records.append(rec)
                try:
                    obj = await c.create(configmap(obj_name, obj_name, objects_label(self.run_label)),
                                         request_id=f"{self.run_label}-{obj_name}")
                except Exception as exc:  # noqa: BLE001
                    rec.result, rec.error = classify(exc, "create")
                else:
                    rec.result = OK
                    if (v := _version(obj, f"answer to create {obj_name}")) is not None:
                        rec.rv = v.rv
                        self.versions.append(v)
                if rec.result != UNKNOWN:
                    rec.complete_t = self.clock()
                pause = self.cfg.create_think + (self.cfg.fail_pause if rec.result != OK else 0.0)
                with contextlib.suppress(TimeoutError):
                    await wait_for(stop.wait(), pause)

    async def final_lists(self, timeout: float = 60.0) -> dict[str, set[str]]:
        """The created objects' names as each replica lists them (linearizable list)."""
        out: dict[str, set[str]] = {}

        async def through(name: str) -> None:
            deadline = time.monotonic() + timeout
            async with pinned_client(self.cluster, name, WorkloadConfig(timeout=10.0)) as c:
                while True:
                    try:
                        lst = await c.list("ConfigMap", NAMESPACE,
                                           label_selector=f"{LABEL}={objects_label(self.run_label)}")
                    except errors.HaplaneError:
                        if time.monotonic() > deadline:
                            return
                        await asyncio.sleep(0.3)
                        continue
                    out[name] = {o["metadata"]["name"] for o in lst.get("items", [])}
                    self.versions += [v for o in lst.get("items", [])
                                      if (v := _version(o, f"final list via {name}")) is not None]
                    return

        await asyncio.gather(*(through(n) for n in self.cluster.names))
        return out


# ----------------------------------------------------------------------------- the Deployment


def deployment(name: str, run_label: str, replicas: int, image: str = IMAGE) -> dict[str, Any]:
    """A worker scenarios' Deployment: ``sleep`` pods marked with this run's environment (so
    :mod:`chaos.runtimes` finds them), quick to stop, rolled one surge pod at a time."""
    labels = {"app": f"chaos-{name}"}
    container = {"name": "main", "image": image, "imagePullPolicy": "Never", "command": ["sleep", "100000"],
                 "env": pod_env(run_label)}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {LABEL: run_label},
                         "annotations": {SCALE_ANNOTATION: INITIAL}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "minReadySeconds": 1,
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                     "template": {"metadata": {"labels": labels, "annotations": {TEMPLATE_ANNOTATION: "1"}},
                                  "spec": {"terminationGracePeriodSeconds": 2, "containers": [container]}}}}


def scale_state(obj: dict[str, Any] | None, initial_replicas: int) -> Any:
    """The Deployment as a register value (pure): the annotation of the scale that set it, when
    ``spec.replicas`` is the size that scale wrote (the initial size for :data:`INITIAL`); any
    mismatch is a value no client wrote (``"<annotation>!<replicas>"``), which the checker
    rejects. None for a missing Deployment."""
    if obj is None:
        return None
    ann = ((obj.get("metadata") or {}).get("annotations") or {}).get(SCALE_ANNOTATION)
    replicas = (obj.get("spec") or {}).get("replicas")
    if ann == INITIAL:
        want: int | None = initial_replicas
    else:
        try:
            want = int(str(ann).rsplit("/", 1)[1])
        except (IndexError, ValueError):
            want = None
    return ann if want is not None and replicas == want else f"{ann}!{replicas}"


def scale_patch(value: str, replicas: int) -> dict[str, Any]:
    return {"metadata": {"annotations": {SCALE_ANNOTATION: value}}, "spec": {"replicas": replicas}}


class ScaleWorkload:
    """Keeps changing the Deployment's size; see the module docstring."""

    PROCESS_BASE = 700
    FINAL_READ_BASE = 1100

    def __init__(self, cluster: ChaosCluster, history: History, rng: random.Random, run_label: str,
                 cfg: WorkloadConfig = WorkloadConfig(), image: str = IMAGE) -> None:
        self.cluster, self.history, self.rng, self.run_label, self.cfg = cluster, history, rng, run_label, cfg
        self.image = image
        self.keys = [SCALE_KEY]
        self.processes = {self.PROCESS_BASE + i: n for i, n in enumerate(cluster.names)}

    async def setup(self, timeout: float = 60.0) -> None:
        """Create both Deployments (before the history starts)."""
        deadline = time.monotonic() + timeout
        wanted = [deployment(DEPLOYMENT, self.run_label, self.cfg.initial_replicas, self.image),
                  deployment(STEADY, self.run_label, len(self.cluster.agents), self.image)]
        async with failover_client(self.cluster, WorkloadConfig(timeout=5.0)) as c:
            for obj in wanted:
                await create_once(c, obj, f"{self.run_label}-{obj['metadata']['name']}", deadline)

    async def run(self, stop: asyncio.Event) -> None:
        async def scaler(p: int, name: str) -> None:
            async with pinned_client(self.cluster, name, self.cfg) as c:
                await self._process(p, c, stop)

        await asyncio.gather(*(scaler(p, n) for p, n in self.processes.items()))

    async def _process(self, p: int, client: Client, stop: asyncio.Event) -> None:
        rng = random.Random(self.rng.random())
        seq = 0
        while not stop.is_set():
            seq += 1
            if rng.random() < self.cfg.scale_write_weight:
                op = await self._scale(p, client, rng.randint(*self.cfg.scale_sizes), seq)
            else:
                op = await self._read(p, client, SCALE_KEY)
            pause = rng.uniform(*self.cfg.scale_think) + (self.cfg.fail_pause if op.result != OK else 0.0)
            with contextlib.suppress(TimeoutError):
                await wait_for(stop.wait(), pause)

    async def _scale(self, p: int, client: Client, replicas: int, seq: int) -> Op:
        value = f"{p}.{seq}/{replicas}"
        op = self.history.invoke(p, SCALE_KEY, "write", value)
        try:
            await client.patch("Deployment", DEPLOYMENT, scale_patch(value, replicas), NAMESPACE,
                               request_id=f"{self.run_label}-scale-{value}")
        except Exception as exc:  # noqa: BLE001 - every failure is recorded, none is fatal
            self.history.complete(op, *_failed(exc, "write"))
        else:
            self.history.complete(op, OK)
        return op

    async def _read(self, p: int, client: Client, key: str) -> Op:
        op = self.history.invoke(p, key, "read")
        try:
            obj = await client.get("Deployment", DEPLOYMENT, NAMESPACE)
        except errors.NotFound:
            self.history.complete(op, OK, output=None)
        except Exception as exc:  # noqa: BLE001
            self.history.complete(op, *_failed(exc, "read"))
        else:
            self.history.complete(op, OK, output=scale_state(obj, self.cfg.initial_replicas))
        return op

    async def final_reads(self, timeout: float = 60.0) -> dict[str, dict[str, Any]]:
        """The Deployment read linearizably through every replica (recorded in the history)."""
        return await read_through_every_replica(self.cluster, self.keys, self.FINAL_READ_BASE, self.processes,
                                                self._read, timeout)


async def roll_template(cluster: ChaosCluster, version: str, timeout: float = 30.0) -> None:
    """Start a rollout of both Deployments: change their pod template (an annotation), through any replica."""
    patch = {"spec": {"template": {"metadata": {"annotations": {TEMPLATE_ANNOTATION: version}}}}}
    deadline = time.monotonic() + timeout
    async with failover_client(cluster, WorkloadConfig(timeout=5.0)) as c:
        for name in (DEPLOYMENT, STEADY):
            rid = f"roll-{name}-{version}-{uuid.uuid4()}"  # one id for every retry: applied at most once
            while True:
                try:
                    await c.patch("Deployment", name, patch, NAMESPACE, request_id=rid)
                    break
                except errors.HaplaneError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.3)
