"""Service and Endpoints (v1).

Defaults: ``spec.type`` ClusterIP, port ``protocol`` TCP, ``targetPort`` = ``port``.
With more than one port every port needs a unique name; ``nodePort`` only with type
NodePort (it is not allocated here: a NodePort Service without one keeps none).
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, model_validator

from haplane.model.base import (
    FieldError,
    IntOrName,
    KubeModel,
    PortName,
    PortNumber,
    Protocol,
    check_unique,
    merge_list,
)
from haplane.model.meta import DNSLabel, DNSSubdomain, KubeObject, Labels, ObjectReference
from haplane.model.names import check_dns1123_label

__all__ = [
    "ServicePort", "ServiceSpec", "ServiceStatus", "Service",
    "EndpointAddress", "EndpointPort", "EndpointSubset", "Endpoints",
]


class ServicePort(KubeModel):
    name: DNSLabel | None = None
    protocol: Protocol = "TCP"
    port: PortNumber
    target_port: IntOrName | None = None
    node_port: PortNumber | None = None

    @model_validator(mode="after")
    def _default_target(self) -> Self:
        if self.target_port is None:
            self.target_port = self.port
        return self


class ServiceSpec(KubeModel):
    selector: Labels | None = None
    ports: Annotated[list[ServicePort], Field(min_length=1, json_schema_extra=merge_list("port", "protocol"))]
    type: Literal["ClusterIP", "NodePort"] = "ClusterIP"

    @model_validator(mode="after")
    def _ports_consistent(self) -> Self:
        if len(self.ports) > 1:
            for i, port in enumerate(self.ports):
                if not port.name:
                    raise FieldError(f"ports[{i}].name", "Required value", "FieldValueRequired")
        check_unique("ports", [(i, p.name) for i, p in enumerate(self.ports) if p.name], "name")
        check_unique("ports", [(i, (p.port, p.protocol)) for i, p in enumerate(self.ports)], "port")
        check_unique("ports", [(i, p.node_port) for i, p in enumerate(self.ports) if p.node_port], "nodePort")
        for i, port in enumerate(self.ports):
            if port.node_port and self.type == "ClusterIP":
                raise FieldError(f"ports[{i}].nodePort", "Forbidden: may not be used when `type` is 'ClusterIP'",
                                 "FieldValueForbidden")
        return self


class ServiceStatus(KubeModel):
    """Empty: haplane has no load balancers."""


class Service(KubeObject):
    name_rule = check_dns1123_label

    api_version: Literal["v1"] = "v1"
    kind: Literal["Service"] = "Service"
    spec: ServiceSpec
    status: ServiceStatus | None = None


def _check_ip(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value[:64]!r}: must be a valid IP address") from None
    return value


class EndpointAddress(KubeModel):
    ip: Annotated[str, AfterValidator(_check_ip)]
    hostname: str | None = None
    node_name: DNSSubdomain | None = None
    target_ref: ObjectReference | None = None


class EndpointPort(KubeModel):
    name: PortName | None = None
    port: PortNumber
    protocol: Protocol = "TCP"


class EndpointSubset(KubeModel):
    addresses: list[EndpointAddress] | None = None
    not_ready_addresses: list[EndpointAddress] | None = None
    ports: list[EndpointPort] | None = None


class Endpoints(KubeObject):
    """Written by the endpoints controller; named like its Service."""

    api_version: Literal["v1"] = "v1"
    kind: Literal["Endpoints"] = "Endpoints"
    subsets: list[EndpointSubset] | None = None
