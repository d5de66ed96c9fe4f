"""Kubernetes name rules: DNS-1123 names, qualified (label / annotation) keys, label values, port names.

Each ``check_*`` returns its argument unchanged or raises :class:`ValueError` with the
Kubernetes wording, so it can serve directly as a pydantic ``AfterValidator``.
The ``*_PATTERN`` strings are the same rules as ECMA regular expressions, for JSON schemas.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = [
    "DNS1123_LABEL_PATTERN", "DNS1123_SUBDOMAIN_PATTERN", "PORT_NAME_PATTERN",
    "check_dns1123_label", "check_dns1123_subdomain", "check_generate_name", "check_qualified_name",
    "check_label_value", "check_port_name", "is_dns1123_label", "is_dns1123_subdomain",
]

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL_PATTERN = f"^{_LABEL}$"
DNS1123_SUBDOMAIN_PATTERN = rf"^{_LABEL}(\.{_LABEL})*$"
PORT_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"  # plus: <= 15 chars, a letter, no "--"
_LABEL_RE = re.compile(_LABEL)
_SUBDOMAIN_RE = re.compile(rf"{_LABEL}(\.{_LABEL})*")
_QUALIFIED_RE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_PORT_NAME_RE = re.compile(r"[-a-z0-9]+")

LABEL_MAX = 63
SUBDOMAIN_MAX = 253
GENERATED_SUFFIX_LEN = 5  # servers append 5 random characters to generateName


def is_dns1123_label(value: str) -> bool:
    return len(value) <= LABEL_MAX and _LABEL_RE.fullmatch(value) is not None


def is_dns1123_subdomain(value: str) -> bool:
    return len(value) <= SUBDOMAIN_MAX and _SUBDOMAIN_RE.fullmatch(value) is not None


def check_dns1123_label(value: str) -> str:
    """A DNS-1123 label (Namespace and Service names, container names): ``my-name``."""
    if len(value) > LABEL_MAX:
        raise ValueError(f"must be no more than {LABEL_MAX} characters")
    if not _LABEL_RE.fullmatch(value):
        raise ValueError(
            f"a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
            f"and must start and end with an alphanumeric character (e.g. 'my-name', regex used for "
            f"validation is '{_LABEL}')"
        )
    return value


def check_dns1123_subdomain(value: str) -> str:
    """A DNS-1123 subdomain (most object names, node names): ``example.com``."""
    if len(value) > SUBDOMAIN_MAX:
        raise ValueError(f"must be no more than {SUBDOMAIN_MAX} characters")
    if not _SUBDOMAIN_RE.fullmatch(value):
        raise ValueError(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
            "'.', and must start and end with an alphanumeric character (e.g. 'example.com')"
        )
    return value


def check_generate_name(prefix: str, rule: Callable[[str], str]) -> str:
    """``prefix`` is a valid generateName for names checked by ``rule`` (a ``check_*`` function).

    Servers must truncate the prefix to (max length - 5) characters before appending the
    5-character random suffix, as Kubernetes does; this check assumes that truncation.
    """
    limit = LABEL_MAX if rule is check_dns1123_label else SUBDOMAIN_MAX
    candidate = prefix[: limit - GENERATED_SUFFIX_LEN] + "x" * GENERATED_SUFFIX_LEN
    try:
        rule(candidate)
    except ValueError as exc:
        raise ValueError(f"prefix is invalid: {exc}") from None
    return prefix


def check_qualified_name(key: str) -> str:
    """A label or annotation key: ``[prefix/]name``, prefix a DNS subdomain, name <= 63 chars."""
    prefix, slash, name = key.rpartition("/")
    if slash:
        if not prefix:
            raise ValueError(f"{key!r}: prefix part must be non-empty")
        try:
            check_dns1123_subdomain(prefix)
        except ValueError as exc:
            raise ValueError(f"{key!r}: prefix part {exc}") from None
        if "/" in prefix:
            raise ValueError(
                f"{key!r}: a qualified name must consist of alphanumeric characters, '-', '_' or '.', "
                "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            )
    if not name:
        raise ValueError(f"{key!r}: name part must be non-empty")
    if len(name) > LABEL_MAX:
        raise ValueError(f"{key!r}: name part must be no more than {LABEL_MAX} characters")
    if not _QUALIFIED_RE.fullmatch(name):
        raise ValueError(
            f"{key!r}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
            "and end with an alphanumeric character (e.g. 'MyName', or 'my.name', or '123-abc')"
        )
    return key


def check_label_value(value: str) -> str:
    """A label value: empty, or <= 63 chars of alphanumerics, '-', '_', '.', alphanumeric at both ends."""
    if len(value) > LABEL_MAX:
        raise ValueError(f"{value[:80]!r}: must be no more than {LABEL_MAX} characters")
    if value and not _QUALIFIED_RE.fullmatch(value):
        raise ValueError(
            f"{value!r}: a valid label must be an empty string or consist of alphanumeric characters, "
            "'-', '_' or '.', and must start and end with an alphanumeric character"
        )
    return value


def check_port_name(value: str) -> str:
    """An IANA service name (named ports): <= 15 chars of ``[-a-z0-9]``, a letter, no ``--``."""
    if not (
        0 < len(value) <= 15
        and _PORT_NAME_RE.fullmatch(value)
        and any(c.isalpha() for c in value)
        and "--" not in value
        and value[0] != "-"
        and value[-1] != "-"
    ):
        raise ValueError(
            f"{value[:80]!r}: a port name must be no more than 15 characters, contain only lowercase "
            "alphanumerics and '-', at least one letter, and not start, end or repeat '-'"
        )
    return value
