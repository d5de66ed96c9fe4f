"""DeleteOptions, as kubectl and the clients send them: in the body (``{"kind": "DeleteOptions",
...}``) or as query parameters (``?propagationPolicy=Foreground&gracePeriodSeconds=0``).

``propagationPolicy``: Background (the default: the object goes now, the garbage collector
takes its dependents), Foreground (the object stays, with a ``deletionTimestamp`` and the
``foregroundDeletion`` finalizer, until the collector has deleted its blocking dependents), or
Orphan (the dependents lose their owner reference and stay). The deprecated ``orphanDependents``
maps to Orphan / Background. ``gracePeriodSeconds`` (>= 0) is how long a pod's containers get
to stop (0 with ``--force``: at once). ``preconditions``: ``uid`` and ``resourceVersion`` the
object must still have (409 Conflict otherwise). ``dryRun: ["All"]``: check everything, delete
nothing. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from haplane.errors import BadRequest, Invalid

__all__ = ["DeleteOptions", "parse_delete_options", "POLICIES"]

Policy = Literal["Background", "Foreground", "Orphan"]
POLICIES = ("Background", "Foreground", "Orphan")
KNOWN = frozenset({"kind", "apiVersion", "propagationPolicy", "gracePeriodSeconds", "preconditions",
                   "orphanDependents", "dryRun", "ignoreStoreReadErrorWithClusterBreakingPotential"})


@dataclass(frozen=True)
class DeleteOptions:
    policy: Policy | None = None           # None: the kind's default (Background everywhere here)
    grace_seconds: int | None = None
    uid: str | None = None
    resource_version: str | None = None
    dry_run: bool = False


def _int(value: Any, name: str) -> int:
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise BadRequest(f"{name} must be an integer, not {value[:32]!r}") from None
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequest(f"{name} must be an integer")
    return value


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    if not isinstance(value, bool):
        raise BadRequest(f"{name} must be a boolean")
    return value


def _dry_run(value: Any) -> bool:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise BadRequest("dryRun must be a list of strings")
    for v in values:
        if v != "All":
            raise BadRequest(f'unsupported dryRun value {v[:32]!r}: only "All" is supported')
    return bool(values)


def parse_delete_options(body: Any, query: Mapping[str, str]) -> DeleteOptions:
    """Query parameters first, the body's fields over them; BadRequest / Invalid for bad values."""
    if body is not None and not isinstance(body, dict):
        raise BadRequest("DeleteOptions must be a JSON object")
    fields: dict[str, Any] = {k: query[k] for k in ("propagationPolicy", "gracePeriodSeconds", "orphanDependents")
                              if k in query}
    if "dryRun" in query:
        fields["dryRun"] = query.getall("dryRun") if hasattr(query, "getall") else [query["dryRun"]]  # type: ignore[attr-defined]
    body = body or {}
    if body.get("kind") not in (None, "DeleteOptions"):
        raise BadRequest(f"expected a DeleteOptions body, not a {str(body.get('kind'))[:64]!r}")
    fields.update({k: v for k, v in body.items() if k in KNOWN and v is not None})
    policy = fields.get("propagationPolicy")
    if policy is not None and policy not in POLICIES:
        raise Invalid(f"DeleteOptions.propagationPolicy: Unsupported value: {str(policy)[:64]!r}: supported "
                      f"values: \"Background\", \"Foreground\", \"Orphan\"")
    if "orphanDependents" in fields:
        orphan = _bool(fields["orphanDependents"], "orphanDependents")
        if policy is not None:
            raise Invalid("DeleteOptions: orphanDependents and propagationPolicy cannot be both set")
        policy = "Orphan" if orphan else "Background"
    grace = None
    if fields.get("gracePeriodSeconds") is not None:
        grace = _int(fields["gracePeriodSeconds"], "gracePeriodSeconds")
        if grace < 0:
            raise Invalid("DeleteOptions.gracePeriodSeconds: Invalid value: must be greater than or equal to 0")
    pre = fields.get("preconditions") or {}
    if not isinstance(pre, dict):
        raise BadRequest("DeleteOptions.preconditions must be an object")
    for key in ("uid", "resourceVersion"):
        if pre.get(key) is not None and not isinstance(pre[key], str):
            raise BadRequest(f"DeleteOptions.preconditions.{key} must be a string")
    return DeleteOptions(policy, grace, pre.get("uid") or None, pre.get("resourceVersion") or None,
                         _dry_run(fields["dryRun"]) if "dryRun" in fields else False)
