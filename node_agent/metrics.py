"""A node agent's Prometheus metrics: one :class:`AgentMetrics` per process, its own registry.

Kubelet's names where one exists (``kubelet_pod_start_duration_seconds``,
``kubelet_runtime_operations_errors_total``, ``prober_probe_total``), ``haplane_agent_*`` and
``haplane_proxy_*`` otherwise. Each part of the agent gets the object at construction; a part
built without one (unit tests) makes a private one, so no caller tests for None.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from haplane.metrics import render

# Kubelet's pod start buckets (trimmed).
POD_START_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 20.0, 30.0,
                     45.0, 60.0, 120.0, 300.0)


class AgentMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.pod_start = Histogram("kubelet_pod_start_duration_seconds",
                                   "From the agent first seeing a pod to its first container started.",
                                   buckets=POD_START_BUCKETS, registry=r)
        self.containers_started = Counter("haplane_agent_containers_started",
                                          "Containers started (restarts included).", registry=r)
        self.container_restarts = Counter("haplane_agent_container_restarts",
                                          "Containers started again after they ended (restart policy).", registry=r)
        self.runtime_errors = Counter("kubelet_runtime_operations_errors", "Failed runtime operations.",
                                      ("operation_type",), registry=r)
        self.probes = Counter("prober_probe", "Probe runs by type and result.", ("probe_type", "result"),
                              registry=r)
        self.proxy_connections = Counter("haplane_proxy_connections",
                                         "Connections accepted by the service proxy, by result "
                                         "(proxied, or no_endpoint when none accepted).", ("result",), registry=r)
        self.proxy_bytes = Counter("haplane_proxy_bytes", "Bytes relayed by the service proxy.", ("direction",),
                                   registry=r)
        self.proxy_refused = Counter("haplane_proxy_refused_endpoints",
                                     "Endpoints that refused (or timed out) a proxied connection.", registry=r)
        for op in ("start_container", "stop_container", "remove_container", "list_containers"):
            self.runtime_errors.labels(op)
        for probe_type in ("liveness", "readiness"):
            for result in ("successful", "failed"):
                self.probes.labels(probe_type, result)
        for result in ("proxied", "no_endpoint"):
            self.proxy_connections.labels(result)
        self.bytes_in = self.proxy_bytes.labels("client_to_endpoint")
        self.bytes_out = self.proxy_bytes.labels("endpoint_to_client")

    def render(self) -> bytes:
        return render(self.registry)
