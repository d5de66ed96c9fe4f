"""Event (v1): what happened to an object, for people. Defaults: ``type`` Normal."""

from __future__ import annotations

from typing import Literal

from haplane.model.base import Int32, KubeModel
from haplane.model.meta import KubeObject, ObjectReference

__all__ = ["EventSource", "Event"]


class EventSource(KubeModel):
    component: str | None = None
    host: str | None = None


class Event(KubeObject):
    api_version: Literal["v1"] = "v1"
    kind: Literal["Event"] = "Event"
    involved_object: ObjectReference
    reason: str | None = None
    message: str | None = None
    type: Literal["Normal", "Warning"] = "Normal"
    count: Int32 | None = None
    first_timestamp: str | None = None
    last_timestamp: str | None = None
    source: EventSource | None = None
    reporting_component: str | None = None
