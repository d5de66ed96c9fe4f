"""``dryRun`` on writes: not implemented yet, so refused rather than ignored.

kubectl sends ``dryRun=All`` for ``kubectl diff`` (a dry-run create of each object that does not
exist yet, a dry-run patch of the others) and for ``--dry-run=server``. A server that ignored
the parameter would carry those writes out; refusing it keeps them harmless (``kubectl diff``
then fails with this message instead of creating objects). The OpenAPI documents do not list
``dryRun`` (haplane.api.openapi.OPERATION_PARAMETERS) for the same reason. Whoever implements it
in the resource handlers removes this check and lists the parameter there.
"""

from __future__ import annotations

from collections.abc import Mapping

from haplane.errors import BadRequest

__all__ = ["refuse"]

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def refuse(method: str, query: Mapping[str, str]) -> None:
    """BadRequest for a write that asks for a dry run; nothing for anything else."""
    if method in _WRITES and "dryRun" in query:
        raise BadRequest(f"dryRun={query['dryRun']!r} is not supported by this server yet; nothing was written "
                         "(kubectl diff and --dry-run=server need it)")
