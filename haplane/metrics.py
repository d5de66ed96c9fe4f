"""A replica's Prometheus metrics: one :class:`ServerMetrics` per process, its own registry.

Names follow Kubernetes (``apiserver_*``, ``scheduler_*``, ``workqueue_*``, ``node_collector_*``)
and etcd (``etcd_server_*``) where an equivalent exists, so their dashboards and alerts carry
over; the rest is ``haplane_*``.

Cost rules:

* The Raft, store and node figures are read at scrape time (:class:`StoreCollector`) from
  what the replica keeps anyway (pysyncobj's status, the proposer's counters, the watch hub's
  tallies, the state machine's nodes): nothing on the write path but plain integer bumps.
* The API middleware does one dictionary-free path split per request
  (:func:`classify`), a counter and a histogram observation; watches go to the request counter
  and a long-running gauge, never to the latency histogram (as Kubernetes does).
* Histograms observed on pysyncobj's tick thread (apply duration, entry sizes) rely on
  prometheus-client's own locking.

Verbs are Kubernetes' request verbs in lower case (get, list, watch, create, update, patch,
delete); ``resource`` is the plural, ``subresource`` the subresource or ``""``. A path that
names no resource is labelled ``resource=""``, an unknown subresource ``subresource=""``
(never the raw path: a label must have bounded values).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from haplane.api.resources import SUBRESOURCES
from haplane.model import registry as kinds

# The classic text format: every name here is a legacy name, so the body is the same in 0.0.4
# and 1.0.0, and 0.0.4 is what every Prometheus (Debian's 2.x included) parses.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# No ``*_created`` series: Kubernetes and etcd expose none, and they double every counter's lines.
disable_created_metrics()
# Kubernetes' apiserver_request_duration_seconds buckets (trimmed at 60 s).
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7,
                   0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0,
                   45.0, 60.0)
APPLY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
STEP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BYTES_BUCKETS = tuple(float(2 ** i) for i in range(6, 24, 2))  # 64 B .. 8 MiB
OPS_BUCKETS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0)

API_PREFIXES = tuple(dict.fromkeys(info.prefix for info in kinds.KINDS.values()))
WRITE_VERBS = frozenset({"create", "update", "patch", "delete"})
# Kubernetes' long-running requests (BasicLongRunningRequestCheck): no latency histogram, a gauge.
LONGRUNNING_SUBRESOURCES = frozenset({"attach", "exec", "log", "portforward", "proxy"})
_METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def classify(method: str, path: str, watch: bool) -> tuple[str, str, str]:
    """``(verb, resource, subresource)`` of a request, as Kubernetes labels it.

    >>> classify("GET", "/api/v1/namespaces/default/pods", False)
    ('list', 'pods', '')
    >>> classify("PUT", "/apis/apps/v1/namespaces/d/deployments/web/scale", False)
    ('update', 'deployments', 'scale')
    """
    for prefix in API_PREFIXES:
        if path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/"):
            segs = [s for s in path[len(prefix):].split("/") if s]
            break
    else:
        return method.lower(), "", ""
    resource, rest = "", segs
    if len(segs) >= 3 and segs[0] == "namespaces" and kinds.by_path(prefix, segs[2]) is not None:
        resource, rest = segs[2], segs[3:]
    elif segs and kinds.by_path(prefix, segs[0]) is not None:
        resource, rest = segs[0], segs[1:]
    if not resource:
        return method.lower(), "", ""
    named = bool(rest)
    sub = rest[1] if len(rest) > 1 and rest[1] in SUBRESOURCES else ""
    if method in ("GET", "HEAD"):
        verb = "watch" if watch else ("get" if named else "list")
    else:
        verb = _METHOD_VERBS.get(method, method.lower())
    return verb, resource, sub


def is_longrunning(verb: str, sub: str) -> bool:
    """Watches and streams (exec, attach, port-forward, logs): as Kubernetes, they are counted
    but kept out of the latency histogram and the in-flight gauge."""
    return verb == "watch" or sub in LONGRUNNING_SUBRESOURCES


def render(registry: CollectorRegistry) -> bytes:
    """The Prometheus text exposition of ``registry``."""
    return generate_latest(registry)


class ApiMetrics:
    """What the API middleware records."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter("apiserver_request", "API requests by verb, resource, subresource and HTTP code.",
                                ("verb", "resource", "subresource", "code"), registry=registry)
        self.duration = Histogram("apiserver_request_duration_seconds",
                                  "API request latency (watches excluded).", ("verb", "resource", "subresource"),
                                  buckets=REQUEST_BUCKETS, registry=registry)
        self.inflight = Gauge("apiserver_current_inflight_requests", "Requests being served (long-running excluded).",
                              ("request_kind",), registry=registry)
        self.longrunning = Gauge("apiserver_longrunning_requests",
                                 "Open long-running requests (watches, exec, attach, port-forward, logs).",
                                 ("verb", "resource"), registry=registry)
        self.inflight_read = self.inflight.labels("readOnly")
        self.inflight_write = self.inflight.labels("mutating")


class ControlMetrics:
    """What the leader's control loops record (only the leader's values move)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.step_duration = Histogram("haplane_controller_step_duration_seconds",
                                       "Duration of one step of a level-triggered control loop.",
                                       ("controller",), buckets=STEP_BUCKETS, registry=registry)
        self.step_errors = Counter("haplane_controller_step_errors", "Control loop steps that raised.",
                                   ("controller",), registry=registry)
        self.queue_depth = Gauge("workqueue_depth", "Items waiting in a controller's queue.", ("name",),
                                 registry=registry)
        self.pending_pods = Gauge("scheduler_pending_pods", "Pods waiting for a node, by queue "
                                  "(active: worth a pass; unschedulable: parked until something changes).",
                                  ("queue",), registry=registry)
        self.attempts = Counter("scheduler_schedule_attempts", "Scheduling attempts by result.", ("result",),
                                registry=registry)
        self.algorithm = Histogram("scheduler_scheduling_algorithm_duration_seconds",
                                   "Time to place one step's pending pods (predicates and scores).",
                                   buckets=STEP_BUCKETS, registry=registry)
        self.bindings = Counter("haplane_scheduler_bindings", "Binding writes by result.", ("result",),
                                registry=registry)
        self.evictions = Counter("node_collector_evictions", "Pods evicted from NotReady nodes.",
                                 registry=registry)
        for result in ("scheduled", "unschedulable", "error"):
            self.attempts.labels(result)
        for result in ("ok", "conflict", "error"):
            self.bindings.labels(result)
        for queue in ("active", "unschedulable"):
            self.pending_pods.labels(queue)

    def loop_stopped(self) -> None:
        """A follower schedules nothing: its pending gauges say 0, not the last leader's figure."""
        for queue in ("active", "unschedulable"):
            self.pending_pods.labels(queue).set(0)


class RaftStats:
    """Tallies the Raft adapter keeps on the tick thread (plain ints and histograms)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.apply_duration = Histogram("etcd_server_apply_duration_seconds",
                                        "Time to apply one Raft entry to the state machine.",
                                        buckets=APPLY_BUCKETS, registry=registry)
        self.entry_bytes = Histogram("haplane_raft_entry_bytes", "Size of applied Raft entries.",
                                     buckets=BYTES_BUCKETS, registry=registry)
        self.entry_ops = Histogram("haplane_raft_entry_ops", "Ops per applied Raft entry (group commit batch).",
                                   buckets=OPS_BUCKETS, registry=registry)

    def applied(self, nbytes: int, nops: int, seconds: float) -> None:
        self.apply_duration.observe(seconds)
        self.entry_bytes.observe(nbytes)
        self.entry_ops.observe(nops)


def _gauge(name: str, doc: str, value: float, labels: dict[str, str] | None = None) -> GaugeMetricFamily:
    if labels is None:
        return GaugeMetricFamily(name, doc, value=value)
    g = GaugeMetricFamily(name, doc, labels=list(labels))
    g.add_metric(list(labels.values()), value)
    return g


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def node_conditions(nodes: Iterable[dict]) -> dict[tuple[str, str], int]:
    """How many nodes have each ``(condition type, status)``; Ready is always present."""
    counts: dict[tuple[str, str], int] = {("Ready", s): 0 for s in ("True", "False", "Unknown")}
    for node in nodes:
        for c in (node.get("status") or {}).get("conditions") or []:
            key = (str(c.get("type")), str(c.get("status")))
            counts[key] = counts.get(key, 0) + 1
    return counts


class StoreCollector(Collector):
    """Raft, proposer, watch and node figures, read when Prometheus scrapes."""

    def __init__(self, replica: Any) -> None:
        self.replica = replica

    def collect(self) -> Iterator[Any]:
        r = self.replica
        raft, store = r.raft, r.store
        s = raft.status()
        yield _gauge("etcd_server_has_leader", "1 if a leader is known to this member.", float(s["leader"] is not None))
        yield _gauge("etcd_server_is_leader", "1 if this member is the leader.", float(s["role"] == "leader"))
        yield _gauge("haplane_raft_term", "This member's Raft term.", float(s["term"] or 0))
        yield _counter("etcd_server_leader_changes_seen", "Leader changes this member has seen.",
                       float(raft.leader_changes))
        yield _counter("etcd_server_proposals_committed", "The Raft commit index.", float(s["commitIndex"] or 0))
        yield _counter("etcd_server_proposals_applied", "The Raft applied index.", float(s["appliedIndex"] or 0))
        p = store.proposer
        yield _gauge("etcd_server_proposals_pending", "Ops queued or in flight through this member's proposer.",
                     float(p.pending_ops))
        yield _counter("etcd_server_proposals_failed", "Entries this member proposed whose proposal failed "
                       "(re-proposed until their deadline).", float(p.entries_failed))
        yield _counter("haplane_raft_entries_proposed", "Entries this member proposed.", float(p.entries_proposed))
        yield _counter("haplane_raft_ops_proposed", "Ops this member proposed.", float(p.ops_proposed))
        yield _gauge("haplane_raft_log_entries", "Entries in this member's in-memory Raft log.",
                     float(s["logLength"] or 0))
        yield _counter("haplane_raft_snapshot_installs", "Snapshots this member installed from a leader.",
                       float(raft.snapshot_installs))
        peers = GaugeMetricFamily("haplane_raft_peer_connected", "1 if the Raft connection to a peer is up.",
                                  labels=["peer"])
        for addr, up in sorted(s["peersConnected"].items()):
            peers.add_metric([addr], float(up))
        yield peers
        rtt = GaugeMetricFamily("haplane_raft_peer_rtt_seconds",
                                "Last round trip of a keepalive to a Raft peer and back (network, encryption and "
                                "both tick threads); absent for a peer that has not answered lately.",
                                labels=["peer"])
        for addr, seconds in sorted(raft.peer_rtt().items()):
            rtt.add_metric([addr], seconds)
        yield rtt
        yield _gauge("haplane_raft_journal_bytes", "Size of this member's Raft journal file.",
                     float(_size(raft.journal_file)))
        journal = s.get("journal") or {}
        yield _counter("haplane_raft_journal_fsyncs", "fsyncs of the Raft journal.", float(journal.get("syncs") or 0))
        yield _counter("haplane_raft_journal_fsync_seconds", "Time spent in fsyncs of the Raft journal.",
                       float(journal.get("syncSeconds") or 0.0))
        yield _gauge("haplane_store_revision", "The store's revision (the latest resourceVersion).",
                     float(store.fsm.rev))
        hub = store.hub
        yield _gauge("haplane_watches_open", "Open watches on this replica.", float(hub.watcher_count))
        yield _counter("apiserver_watch_events", "Watch events queued for watchers.", float(hub.stats.events))
        yield _counter("haplane_watch_gone", "Watches ended or refused with 410 Gone.", float(hub.stats.gone))
        nodes, _ = store.fsm.list("Node", "")
        by_cond = GaugeMetricFamily("haplane_nodes", "Nodes by condition and status.",
                                    labels=["condition", "status"])
        for (cond, status), n in sorted(node_conditions(nodes).items()):
            by_cond.add_metric([cond, status], float(n))
        yield by_cond


def _size(path: str | None) -> int:
    try:
        return os.path.getsize(path) if path else 0
    except OSError:
        return 0


class ServerMetrics:
    """Every metric of one replica, in one registry of its own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.api = ApiMetrics(self.registry)
        self.control = ControlMetrics(self.registry)
        self.raft = RaftStats(self.registry)

    def watch_store(self, replica: Any) -> None:
        """Collect the replica's Raft and store figures at scrape time."""
        self.registry.register(StoreCollector(replica))

    def render(self) -> bytes:
        return render(self.registry)


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` of ``--metrics-address``; ValueError when it is not one."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, not {text!r}")
    return host.strip("[]"), int(port)


async def serve_unauthenticated(address: str, render_fn: Any) -> web.AppRunner:
    """Serve ``GET /metrics`` (``render_fn() -> bytes``) on ``address``, no token: the operator
    chose to expose it there (``--metrics-address``). Returns the runner to clean up."""
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=render_fn(), headers={"Content-Type": CONTENT_TYPE})

    async def not_found(request: web.Request) -> web.Response:
        return web.Response(status=404, text="only /metrics is served here\n")

    app = web.Application()
    app.router.add_get("/metrics", handler)
    app.router.add_route("*", "/{tail:.*}", not_found)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    host, port = parse_address(address)
    try:
        await web.TCPSite(runner, host, port, reuse_address=True).start()
    except OSError:
        await runner.cleanup()
        raise
    return runner
