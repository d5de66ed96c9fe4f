"""The ``fieldValidation`` query parameter of writes: what to do with unknown fields.

``Warn`` (the default, as in Kubernetes) drops them and names each in a ``Warning`` header;
``Ignore`` drops them silently; ``Strict`` refuses the request (400, nothing written). kubectl
sends ``fieldValidation=Strict`` for ``--validate=strict`` (its default) once the OpenAPI
document lists the parameter, instead of validating on the client.
"""

from __future__ import annotations

from collections.abc import Mapping

from haplane.errors import BadRequest

__all__ = ["DIRECTIVES", "directive", "apply"]

DIRECTIVES = ("Ignore", "Warn", "Strict")


def directive(query: Mapping[str, str]) -> str:
    """The request's directive; BadRequest for a value that is not one of DIRECTIVES."""
    value = query.get("fieldValidation", "")
    if value == "":
        return "Warn"
    if value not in DIRECTIVES:
        raise BadRequest(f'invalid fieldValidation directive: "{value}"; must be one of {", ".join(DIRECTIVES)}')
    return value


def apply(mode: str, warnings: list[str]) -> list[str]:
    """The warnings to send under ``mode``; raises BadRequest for Strict when there are any."""
    if mode == "Strict" and warnings:
        raise BadRequest(f"strict decoding error: {', '.join(warnings)}")
    return [] if mode == "Ignore" else warnings
