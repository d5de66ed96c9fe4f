"""Pod (v1): the spec a node agent runs and the status it reports.

Defaults filled on validation: ``restartPolicy`` Always, ``terminationGracePeriodSeconds``
30, container ``imagePullPolicy`` IfNotPresent, port ``protocol`` TCP, probe
``initialDelaySeconds`` 0 / ``periodSeconds`` 10 / ``timeoutSeconds`` 1 /
``successThreshold`` 1 / ``failureThreshold`` 3, httpGet ``path`` "/", toleration
``operator`` Equal. As in Kubernetes, a resource with a limit but no request gets a
request equal to its limit.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from haplane.model.base import (
    FieldError,
    HostPort,
    Int32,
    Int64,
    IntOrName,
    KubeModel,
    PortName,
    PortNumber,
    PositiveInt32,
    Protocol,
    ResourceList,
    check_unique,
    merge_list,
)
from haplane.model.meta import Condition, DNSLabel, DNSSubdomain, KubeObject, Labels, LabelValue
from haplane.model.names import check_qualified_name
from haplane.model.quantity import parse_quantity

__all__ = [
    "Toleration", "EnvVar", "EnvVarSource", "ObjectFieldSelector", "ENV_FIELD_PATHS", "ContainerPort", "ResourceRequirements", "HTTPGetAction", "TCPSocketAction",
    "ExecAction", "Probe", "Container", "PodSpec", "ContainerState", "ContainerStatus", "PodStatus", "Pod",
]

Effect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]
NonEmptyStr = Annotated[str, Field(min_length=1)]


class Toleration(KubeModel):
    """Tolerates taints matching ``key``/``value``/``effect``; an empty key with Exists tolerates all."""

    key: str | None = None  # "" or absent: every key (with Exists)
    operator: Literal["Equal", "Exists"] = "Equal"
    value: LabelValue | None = None
    effect: Effect | None = None
    toleration_seconds: int | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.key:
            try:
                check_qualified_name(self.key)
            except ValueError as exc:
                raise FieldError("key", f"Invalid value: {exc}") from None
        if not self.key and self.operator != "Exists":
            raise FieldError("operator", "must be 'Exists' when `key` is empty, which means \"match all values "
                             "and all keys\"")
        if self.operator == "Exists" and self.value:
            raise FieldError("value", "must be empty when `operator` is 'Exists'")
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise FieldError("effect", "must be 'NoExecute' when `tolerationSeconds` is set")
        return self


# The pod fields a container's env can take (the downward API); the agent resolves them
# (node_agent.runtime.base.container_env).
ENV_FIELD_PATHS = ("metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "status.hostIP",
                   "status.podIP")


class ObjectFieldSelector(KubeModel):
    field_path: NonEmptyStr
    api_version: str | None = None

    @model_validator(mode="after")
    def _supported(self) -> Self:
        if self.field_path not in ENV_FIELD_PATHS:
            raise FieldError("fieldPath", f"Unsupported value: {self.field_path!r}: supported values: "
                             + ", ".join(f'"{p}"' for p in ENV_FIELD_PATHS), "FieldValueNotSupported")
        return self


class EnvVarSource(KubeModel):
    """Only ``fieldRef``: other sources (secrets, config maps, resources) are not implemented
    (ignored with a warning, like every unknown field)."""

    field_ref: ObjectFieldSelector | None = None


class EnvVar(KubeModel):
    name: NonEmptyStr
    value: str | None = None
    value_from: EnvVarSource | None = None

    @model_validator(mode="after")
    def _name(self) -> Self:
        if "=" in self.name:
            raise FieldError("name", "a valid environment variable name must not contain '='")
        if self.value and self.value_from is not None:
            raise FieldError("valueFrom", "may not be specified when `value` is not empty", "FieldValueInvalid")
        return self


class ContainerPort(KubeModel):
    name: PortName | None = None
    container_port: PortNumber
    host_port: HostPort | None = None
    protocol: Protocol = "TCP"


class ResourceRequirements(KubeModel):
    """Requests and limits (``cpu``, ``memory``, ...). Missing requests default to the limits."""

    requests: ResourceList | None = None
    limits: ResourceList | None = None

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Self:
        if self.limits:
            self.requests = {**self.limits, **(self.requests or {})}
            for name, request in self.requests.items():
                if name in self.limits and parse_quantity(request) > parse_quantity(self.limits[name]):
                    raise FieldError(f"requests.{name}", f"Invalid value: {request!r}: must be less than or "
                                     f"equal to {name} limit of {self.limits[name]}")
        return self


class HTTPGetAction(KubeModel):
    path: str = "/"
    port: IntOrName


class TCPSocketAction(KubeModel):
    port: IntOrName


class ExecAction(KubeModel):
    command: Annotated[list[str], Field(min_length=1)]


class Probe(KubeModel):
    """Exactly one of ``httpGet``, ``tcpSocket``, ``exec``."""

    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    exec_: ExecAction | None = Field(None, alias="exec")
    initial_delay_seconds: Int32 = 0
    period_seconds: PositiveInt32 = 10
    timeout_seconds: PositiveInt32 = 1
    success_threshold: PositiveInt32 = 1
    failure_threshold: PositiveInt32 = 3

    @model_validator(mode="after")
    def _one_handler(self) -> Self:
        handlers = [h for h in (self.http_get, self.tcp_socket, self.exec_) if h is not None]
        if len(handlers) != 1:
            raise FieldError("", "must specify exactly one handler type (httpGet, tcpSocket or exec)"
                             if handlers else "Required value: must specify a handler type",
                             "FieldValueForbidden" if handlers else "FieldValueRequired")
        return self


class Container(KubeModel):
    name: DNSLabel
    image: NonEmptyStr
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    command: list[str] | None = None
    args: list[str] | None = None
    env: list[EnvVar] | None = Field(None, json_schema_extra=merge_list("name"))
    ports: list[ContainerPort] | None = Field(None, json_schema_extra=merge_list("containerPort", "protocol"))
    resources: ResourceRequirements | None = None
    liveness_probe: Probe | None = None
    readiness_probe: Probe | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.image != self.image.strip():
            raise FieldError("image", "must not have leading or trailing whitespace")
        check_unique("ports", [(i, p.name) for i, p in enumerate(self.ports or ()) if p.name], "name")
        if self.liveness_probe and self.liveness_probe.success_threshold != 1:
            raise FieldError("livenessProbe.successThreshold", "must be 1")
        return self


class PodSpec(KubeModel):
    containers: Annotated[list[Container], Field(min_length=1, json_schema_extra=merge_list("name"))]
    node_name: DNSSubdomain | None = None
    node_selector: Labels | None = None
    tolerations: list[Toleration] | None = None
    restart_policy: Literal["Always", "OnFailure", "Never"] = "Always"
    termination_grace_period_seconds: Int64 = 30

    @model_validator(mode="after")
    def _unique(self) -> Self:
        check_unique("containers", [(i, c.name) for i, c in enumerate(self.containers)], "name")
        host_ports = [
            (i, (p.host_port, p.protocol)) for i, c in enumerate(self.containers)
            for p in c.ports or () if p.host_port
        ]
        check_unique("containers", host_ports, "ports.hostPort")
        return self


class ContainerStateRunning(KubeModel):
    started_at: str | None = None


class ContainerStateWaiting(KubeModel):
    reason: str | None = None
    message: str | None = None


class ContainerStateTerminated(KubeModel):
    exit_code: int
    signal: int | None = None
    reason: str | None = None
    message: str | None = None
    started_at: str | None = None
    finished_at: str | None = None


class ContainerState(KubeModel):
    """At most one of running / waiting / terminated is set."""

    running: ContainerStateRunning | None = None
    waiting: ContainerStateWaiting | None = None
    terminated: ContainerStateTerminated | None = None


class ContainerStatus(KubeModel):
    name: str
    ready: bool = False
    restart_count: Int32 = 0
    state: ContainerState | None = None
    last_state: ContainerState | None = None
    container_id: str | None = Field(None, alias="containerID")
    # image and imageID are required (possibly empty) in Kubernetes' ContainerStatus: the
    # official clients refuse a status without them.
    image: str = ""
    image_id: str = Field("", alias="imageID")
    started: bool | None = None
    # haplane extension: pods share their node's address, so each declared port is published on a
    # host port of the node; key = port name or number (as a string). Endpoints and probes read it.
    host_ports: dict[str, int] | None = None


class PodStatus(KubeModel):
    phase: Literal["Pending", "Running", "Succeeded", "Failed", "Unknown"] | None = None
    conditions: list[Condition] | None = Field(None, json_schema_extra=merge_list("type"))
    host_ip: str | None = Field(None, alias="hostIP")
    pod_ip: str | None = Field(None, alias="podIP")
    start_time: str | None = None
    container_statuses: list[ContainerStatus] | None = None
    message: str | None = None
    reason: str | None = None


class Pod(KubeObject):
    api_version: Literal["v1"] = "v1"
    kind: Literal["Pod"] = "Pod"
    spec: PodSpec
    status: PodStatus | None = None
