"""Owner references and deletion states shared by the API and the garbage collector. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["FOREGROUND", "ORPHAN", "in_foreground_deletion"]

FOREGROUND = "foregroundDeletion"   # the finalizer of an object deleted with propagationPolicy Foreground
ORPHAN = "orphan"                   # Kubernetes' finalizer for Orphan (haplane strips the references instead)


def in_foreground_deletion(obj: Mapping[str, Any]) -> bool:
    """Being deleted in the foreground: a deletionTimestamp and the foregroundDeletion finalizer."""
    meta = obj.get("metadata") or {}
    return bool(meta.get("deletionTimestamp")) and FOREGROUND in (meta.get("finalizers") or [])
