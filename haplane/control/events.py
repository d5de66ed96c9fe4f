"""Events: a record of every decision the control plane makes, for `haplane get events` / `describe`.

Events are best effort, as in Kubernetes: failing to record one never fails the decision.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from typing import Any

from haplane.errors import HaplaneError
from haplane.store import commands

log = logging.getLogger(__name__)


def make_event(involved: dict, reason: str, message: str, etype: str, *, now: str, component: str,
               host: str = "") -> dict:
    meta = involved.get("metadata") or {}
    ns = meta.get("namespace") or "default"
    name = f"{meta.get('name', 'unknown')}.{secrets.token_hex(8)}"
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name, "namespace": ns, "uid": str(uuid.uuid4()), "creationTimestamp": now},
        "involvedObject": {"kind": involved.get("kind"), "name": meta.get("name"), "namespace": meta.get("namespace"),
                           "uid": meta.get("uid"), "apiVersion": involved.get("apiVersion")},
        "reason": reason, "message": message, "type": etype, "count": 1,
        "firstTimestamp": now, "lastTimestamp": now,
        "source": {"component": component, "host": host} if host else {"component": component},
        "reportingComponent": component,
    }


async def record_event(ctx: Any, involved: dict, reason: str, message: str, etype: str = "Normal",
                       component: str = "haplane-controller") -> None:
    """Create an Event through a ControlContext (fenced by its epoch)."""
    ev = make_event(involved, reason, message, etype, now=ctx.timestamp(), component=component, host=ctx.holder)
    try:
        await ctx.write(commands.create("Event", ev["metadata"]["namespace"], ev))
    except HaplaneError as exc:
        log.debug("event %s not recorded: %s", reason, exc)
