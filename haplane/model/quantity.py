"""Kubernetes resource quantities ("100m", "64Mi", "1e3", 0.5) as exact numbers.

Pure functions, no I/O. Parsing is exact (``Decimal``), never floating point, and
rounds *up* to the unit asked for, as Kubernetes does (``"0.1m"`` cpu is 1 millicore,
``"100m"`` memory is 1 byte). Invalid or negative input raises :class:`ValueError`
(the models turn it into ``Invalid``).
"""

from __future__ import annotations

import functools
import math
import re
from decimal import ROUND_CEILING, Decimal, localcontext

__all__ = ["QUANTITY_PATTERN", "parse_quantity", "parse_cpu", "parse_memory", "format_quantity", "format_nanocores",
           "format_bytes"]

# <signedNumber><suffix>; suffix is a binary SI unit, a decimal exponent or a decimal SI unit.
# "E" alone is exa, "E3" / "e3" an exponent: the exponent branch is tried first.
QUANTITY_PATTERN = r"^[+-]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+|n|u|m|k|M|G|T|P|E)?$"
_QUANTITY = re.compile(
    r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:(Ki|Mi|Gi|Ti|Pi|Ei)|[eE]([+-]?\d+)|(n|u|m|k|M|G|T|P|E))?"
)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_MAX_LEN = 64
_MAX_EXPONENT = 30          # |exponent| beyond this is either astronomically large or rounds to nothing
_MAX_VALUE = Decimal(2**63)  # Kubernetes stores quantities as int64 (milli-units)


def parse_quantity(q: str | int | float) -> Decimal:
    """Return the exact value of quantity ``q`` (a string, an int or a finite float).

    The sign is allowed here; magnitudes of 2**63 and more are rejected.
    """
    if isinstance(q, bool):
        raise ValueError("quantity must be a string or a number, not a boolean")
    if isinstance(q, int):
        value = Decimal(q)
    elif isinstance(q, float):
        if not math.isfinite(q):
            raise ValueError("quantity must be a finite number")
        value = Decimal(repr(q))
        if value and abs(value.adjusted()) > _MAX_EXPONENT:  # as for strings: "1e-62" is refused too
            raise ValueError(f"quantity {q!r} has an exponent out of range")
    elif isinstance(q, str):
        value = _parse_string(q)
    else:
        raise ValueError(f"quantity must be a string or a number, not {type(q).__name__}")
    if abs(value) >= _MAX_VALUE:
        raise ValueError("quantity is too large")
    return value


@functools.lru_cache(maxsize=1024)
def _parse_string(text: str) -> Decimal:
    """(Remembered: a cluster's pods ask for a handful of distinct quantities, and the scheduler
    re-reads every pod's on a reload — 13% of a new leader's time with 30,000 pods. Only valid
    strings are kept: an error is not cached.)"""
    match = _QUANTITY.fullmatch(text) if len(text) <= _MAX_LEN else None
    if match is None:
        raise ValueError(
            f"quantity {text[:_MAX_LEN]!r} must match the regular expression {QUANTITY_PATTERN!r}"
        )
    number, binary, exponent, decimal_si = match.groups()
    value = Decimal(number)
    if binary:
        return value * _BINARY[binary]
    power = int(exponent) if exponent else _DECIMAL.get(decimal_si or "", 0)
    if abs(power) > _MAX_EXPONENT:
        raise ValueError(f"quantity {text!r} has an exponent out of range")
    with localcontext() as ctx:
        ctx.prec = 100  # exact for every string that passes _MAX_LEN and _MAX_EXPONENT
        return value.scaleb(power)


def _ceil(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def _non_negative(q: str | int | float, what: str) -> Decimal:
    value = parse_quantity(q)
    if value < 0:
        raise ValueError(f"{what} quantity must not be negative")
    return value


def parse_cpu(q: str | int | float) -> int:
    """CPU quantity in millicores: ``"100m"`` -> 100, ``"0.5"`` -> 500, ``2`` -> 2000."""
    return _ceil(_non_negative(q, "cpu") * 1000)


def parse_memory(q: str | int | float) -> int:
    """Memory quantity in bytes: ``"64Mi"`` -> 67108864, ``"128M"`` -> 128000000, ``"1e3"`` -> 1000."""
    return _ceil(_non_negative(q, "memory"))


def format_quantity(q: str | int | float) -> str:
    """The stored form of a quantity: strings unchanged, numbers as plain decimal strings.

    ``2`` -> ``"2"``, ``0.5`` -> ``"0.5"``, ``1e18`` -> ``"1000000000000000000"``.
    Validates ``q`` like :func:`parse_quantity`.
    """
    value = parse_quantity(q)
    if isinstance(q, str):
        return q
    return format(value.normalize(), "f") if value else "0"


_CPU_SUFFIXES = (("", 10**9), ("m", 10**6), ("u", 10**3), ("n", 1))
_BINARY_SUFFIXES = (("Ei", 2**60), ("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10))


def format_nanocores(nanocores: int) -> str:
    """A CPU amount in nanocores as Kubernetes writes it (the largest exact decimal unit):
    ``2_000_000_000`` -> ``"2"``, ``5_000_000`` -> ``"5m"``, ``1_234_567`` -> ``"1234567n"``."""
    n = int(nanocores)
    if n < 0:
        raise ValueError("cpu usage must not be negative")
    for suffix, factor in _CPU_SUFFIXES:
        if n % factor == 0:
            return f"{n // factor}{suffix}"
    raise AssertionError("unreachable: every integer is a whole number of nanocores")


def format_bytes(n: int) -> str:
    """A memory amount in bytes as Kubernetes writes a binary-SI quantity: the largest exact
    binary unit (``663552`` -> ``"648Ki"``), plain bytes when none divides it."""
    n = int(n)
    if n < 0:
        raise ValueError("memory usage must not be negative")
    for suffix, factor in _BINARY_SUFFIXES:
        if n and n % factor == 0:
            return f"{n // factor}{suffix}"
    return str(n)
