"""Resource quantities: exact parsing, rounding up, and refusal of anything else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from haplane.model.quantity import (
    format_bytes,
    format_nanocores,
    format_quantity,
    parse_cpu,
    parse_memory,
    parse_quantity,
)

Mi, Gi = 2**20, 2**30


@pytest.mark.parametrize(
    ("quantity", "millicores"),
    [
        pytest.param("100m", 100, id="milli"),
        pytest.param("0.5", 500, id="fraction"),
        pytest.param(".5", 500, id="leading-dot"),
        pytest.param("2", 2000, id="cores"),
        pytest.param("2.", 2000, id="trailing-dot"),
        pytest.param("+1", 1000, id="plus-sign"),
        pytest.param(1, 1000, id="int"),
        pytest.param(0.25, 250, id="float"),
        pytest.param("0", 0, id="zero"),
        pytest.param("0.1m", 1, id="rounds-up-to-1m"),
        pytest.param("1e3", 1_000_000, id="exponent"),
        pytest.param("1E-3", 1, id="negative-exponent"),
        pytest.param("1k", 1_000_000, id="kilo"),
        pytest.param("1234567n", 2, id="nano-rounds-up"),
        pytest.param("5000u", 5, id="micro"),
    ],
)
def test_parse_cpu(quantity: str | int | float, millicores: int) -> None:
    assert parse_cpu(quantity) == millicores


@pytest.mark.parametrize(
    ("quantity", "size"),
    [
        pytest.param("64Mi", 64 * Mi, id="mebi"),
        pytest.param("1Gi", Gi, id="gibi"),
        pytest.param("1.5Gi", 3 * Gi // 2, id="fractional-gibi"),
        pytest.param("1Ki", 1024, id="kibi"),
        pytest.param("128M", 128_000_000, id="mega"),
        pytest.param("1e3", 1000, id="exponent"),
        pytest.param("1E", 10**18, id="exa-not-exponent"),
        pytest.param("2E2", 200, id="capital-exponent"),
        pytest.param(1024, 1024, id="int"),
        pytest.param(1.0, 1, id="float"),
        pytest.param("100m", 1, id="milli-bytes-round-up"),
        pytest.param("0.5", 1, id="half-byte-rounds-up"),
    ],
)
def test_parse_memory(quantity: str | int | float, size: int) -> None:
    assert parse_memory(quantity) == size


@pytest.mark.parametrize(
    "quantity",
    [
        pytest.param("", id="empty"),
        pytest.param("abc", id="letters"),
        pytest.param("1x", id="bad-suffix"),
        pytest.param("1mi", id="lowercase-binary"),
        pytest.param("1.2.3", id="two-dots"),
        pytest.param(".", id="dot"),
        pytest.param("1 Gi", id="space"),
        pytest.param(" 1", id="leading-space"),
        pytest.param("Mi", id="no-number"),
        pytest.param("1e", id="dangling-exponent"),
        pytest.param("1e999", id="huge-exponent"),
        pytest.param("9Ei", id="over-int64"),
        pytest.param("1" * 100, id="too-long"),
        pytest.param("-1", id="negative"),
        pytest.param(-5, id="negative-int"),
        pytest.param(float("nan"), id="nan"),
        pytest.param(float("inf"), id="inf"),
        pytest.param(True, id="bool"),
        pytest.param(None, id="none"),
        pytest.param([1], id="list"),
        pytest.param("1\x00", id="nul"),
        pytest.param(1e-62, id="tiny-float"),  # its plain decimal form would be over 64 characters
        pytest.param(1e31, id="huge-float"),
    ],
)
def test_invalid_quantities_raise_value_error(quantity: object) -> None:
    for parse in (parse_cpu, parse_memory):
        with pytest.raises(ValueError):
            parse(quantity)  # type: ignore[arg-type]


def test_parse_quantity_keeps_the_sign_and_is_exact() -> None:
    assert parse_quantity("-1.5k") == -1500
    assert str(parse_quantity("0.1")) == "0.1"


@pytest.mark.parametrize(
    ("quantity", "stored"),
    [
        pytest.param("100m", "100m", id="string-unchanged"),
        pytest.param(2, "2", id="int"),
        pytest.param(2.0, "2", id="integral-float"),
        pytest.param(0.5, "0.5", id="float"),
        pytest.param(1e-7, "0.0000001", id="small-float"),
        pytest.param(-0.0, "0", id="negative-zero"),
        pytest.param(1e-30, "0." + "0" * 29 + "1", id="smallest-float-exponent"),
        pytest.param(1.5e18, "1500000000000000000", id="large-float"),
    ],
)
def test_format_quantity(quantity: str | float, stored: str) -> None:
    assert format_quantity(quantity) == stored
    assert parse_quantity(stored) == parse_quantity(quantity)


@given(st.integers(min_value=0, max_value=2**40))
def test_suffixes_scale_exactly(n: int) -> None:
    assert parse_memory(f"{n}Ki") == n * 1024
    assert parse_memory(f"{n}k") == n * 1000
    assert parse_cpu(f"{n}m") == n


@given(st.one_of(st.text(max_size=20), st.from_regex(r"[+-]?[0-9.]{0,6}([eE][+-]?[0-9]{0,3}|[kMGTPEm]|[KMGTPE]i)?",
                                                     fullmatch=True)))
def test_any_text_parses_or_raises_value_error(text: str) -> None:
    try:
        assert parse_cpu(text) >= 0
        assert parse_memory(text) >= 0
    except ValueError:
        pass


@pytest.mark.parametrize(
    ("nanocores", "text"),
    [
        pytest.param(0, "0", id="zero"),
        pytest.param(2_000_000_000, "2", id="cores"),
        pytest.param(5_000_000, "5m", id="milli"),
        pytest.param(1_234_000, "1234u", id="micro"),
        pytest.param(1_234_567, "1234567n", id="nano"),
    ],
)
def test_format_nanocores_as_kubernetes_writes_cpu_usage(nanocores: int, text: str) -> None:
    assert format_nanocores(nanocores) == text
    assert parse_quantity(text) * 10**9 == nanocores


@pytest.mark.parametrize(
    ("size", "text"),
    [
        pytest.param(0, "0", id="zero"),
        pytest.param(663552, "648Ki", id="kibi"),
        pytest.param(8 * Mi, "8Mi", id="mebi"),
        pytest.param(3 * Gi, "3Gi", id="gibi"),
        pytest.param(1000, "1000", id="bytes"),
        pytest.param(4097, "4097", id="not-a-whole-kibi"),
    ],
)
def test_format_bytes_as_a_binary_si_quantity(size: int, text: str) -> None:
    assert format_bytes(size) == text
    assert parse_memory(text) == size


@given(st.integers(min_value=0, max_value=2**62))
def test_formatted_usage_parses_back_exactly(n: int) -> None:
    assert parse_quantity(format_nanocores(n)) * 10**9 == n
    assert parse_memory(format_bytes(n)) == n


def test_negative_usage_is_refused() -> None:
    with pytest.raises(ValueError):
        format_nanocores(-1)
    with pytest.raises(ValueError):
        format_bytes(-1)
