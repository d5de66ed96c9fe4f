"""The ``Accept`` header as the Kubernetes API server reads it: media ranges in the order given
(clients list their preference first), each with its parameters (``as``, ``g``, ``v``); ``q``
is ignored. Pure."""

from __future__ import annotations

__all__ = ["media_ranges", "JSON_RANGES"]

JSON_RANGES = ("application/json", "application/*", "*/*")


def media_ranges(accept: str | None) -> list[tuple[str, dict[str, str]]]:
    """``[(type, {param: value})]``, types and parameter names lower-cased."""
    out = []
    for media_range in (accept or "").split(","):
        parts = [p.strip() for p in media_range.split(";")]
        if not parts[0]:
            continue
        params = {}
        for p in parts[1:]:
            key, eq, value = p.partition("=")
            if eq and key.strip().lower() != "q":
                params[key.strip().lower()] = value.strip()
        out.append((parts[0].lower(), params))
    return out
