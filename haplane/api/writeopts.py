"""The options every write takes (Kubernetes' CreateOptions / UpdateOptions / PatchOptions /
DeleteOptions): ``dryRun``, ``fieldValidation``, ``fieldManager`` and, for apply patches, ``force``.

Pure: parsed from the query (and a DELETE's body) and the User-Agent; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from haplane.api import fieldvalidation
from haplane.api.managedfields import MAX_MANAGER, manager_from_user_agent
from haplane.errors import BadRequest
from haplane.model.registry import KindInfo

__all__ = ["WriteOptions", "write_options"]


@dataclass(frozen=True)
class WriteOptions:
    dry_run: bool = False
    validation: str = "Warn"   # Strict | Warn | Ignore
    manager: str = "unknown"
    manager_given: bool = False
    force: bool = False

    def field_problems(self, info: KindInfo, unknown: list[str], duplicates: list[str]) -> list[str]:
        """The Warning texts to send for unknown and duplicate fields, as ``fieldValidation`` says:
        Strict refuses the request (400, naming them), Warn returns them, Ignore drops them."""
        problems = list(unknown) + [f'duplicate field "{d}"' for d in duplicates]
        try:
            return fieldvalidation.apply(self.validation, problems)
        except BadRequest as exc:
            version = info.api_version.rpartition("/")[2]
            raise BadRequest(f'{info.kind} in version "{version}" cannot be handled as a {info.kind}: '
                             f"{exc.message}") from None


def write_options(query: Mapping[str, str], user_agent: str | None, *, apply: bool = False,
                  body: Any = None) -> WriteOptions:
    """Parse the write options of a request; BadRequest for a value Kubernetes would refuse.

    ``apply``: the request is a server-side apply (``fieldManager`` required, ``force`` allowed).
    ``body``: a DELETE's DeleteOptions, which may carry ``dryRun`` too.
    """
    dry = query.getall("dryRun", []) if hasattr(query, "getall") else \
        ([query["dryRun"]] if "dryRun" in query else [])
    if isinstance(body, dict) and body.get("dryRun") is not None:
        if not isinstance(body["dryRun"], list):
            raise BadRequest("DeleteOptions.dryRun must be a list")
        dry = [*dry, *body["dryRun"]]
    for value in dry:
        if value != "All":
            raise BadRequest(f'Invalid dry run value: {value!r}: valid values are "All"')
    validation = fieldvalidation.directive(query)
    manager = query.get("fieldManager")
    if manager is not None:
        if not manager or len(manager) > MAX_MANAGER or not manager.isprintable():
            raise BadRequest(f"fieldManager: Invalid value: {manager[:MAX_MANAGER + 1]!r}: must be 1 to "
                             f"{MAX_MANAGER} printable characters")
    elif apply:
        raise BadRequest("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for "
                         "apply patch")
    force_raw = query.get("force")
    if force_raw is not None and not apply:
        raise BadRequest("PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for "
                         "non-apply patch")
    if force_raw not in (None, "true", "false", "1", "0", ""):
        raise BadRequest(f"force must be true or false, not {force_raw!r}")
    return WriteOptions(dry_run=bool(dry), validation=validation,
                        manager=manager if manager is not None else manager_from_user_agent(user_agent),
                        manager_given=manager is not None, force=force_raw in ("true", "1"))
