"""The fieldValidation directive of writes: parsing and what each mode does with unknown fields."""

from __future__ import annotations

import pytest

from haplane.api import fieldvalidation
from haplane.errors import BadRequest

UNKNOWN = ['unknown field "spec.foo"', 'unknown field "bar"']


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param({}, "Warn", id="default"),
        pytest.param({"fieldValidation": ""}, "Warn", id="empty"),
        pytest.param({"fieldValidation": "Strict"}, "Strict", id="strict"),
        pytest.param({"fieldValidation": "Ignore"}, "Ignore", id="ignore"),
        pytest.param({"fieldValidation": "Warn"}, "Warn", id="warn"),
    ],
)
def test_directive(query: dict[str, str], expected: str) -> None:
    assert fieldvalidation.directive(query) == expected


@pytest.mark.parametrize("value", ["strict", "Yes", "Strict,Warn", "\x00"])
def test_bad_directive_is_400(value: str) -> None:
    with pytest.raises(BadRequest, match="invalid fieldValidation directive"):
        fieldvalidation.directive({"fieldValidation": value})


@pytest.mark.parametrize(
    ("mode", "warnings", "expected"),
    [
        pytest.param("Warn", UNKNOWN, UNKNOWN, id="warn-keeps"),
        pytest.param("Ignore", UNKNOWN, [], id="ignore-drops"),
        pytest.param("Strict", [], [], id="strict-clean"),
        pytest.param("Warn", [], [], id="warn-clean"),
    ],
)
def test_apply(mode: str, warnings: list[str], expected: list[str]) -> None:
    assert fieldvalidation.apply(mode, warnings) == expected


def test_strict_refuses_naming_every_unknown_field() -> None:
    with pytest.raises(BadRequest) as exc:
        fieldvalidation.apply("Strict", UNKNOWN)
    assert exc.value.message == 'strict decoding error: unknown field "spec.foo", unknown field "bar"'


@pytest.mark.parametrize(
    "text",
    [pytest.param('unknown field "spec.foo"', id="quotes"), pytest.param("a \\ b", id="backslash"),
     pytest.param("plain", id="plain")],
)
def test_warning_headers_are_quoted_strings_clients_parse(text: str) -> None:
    from haplane.api.resources import respond
    from haplane.client import parse_warnings

    (value,) = respond({}, warnings=[text]).headers.getall("Warning")
    assert value.startswith('299 - "') and value.endswith('"')
    assert '"' not in value[7:-1].replace('\\"', "")  # every inner quote escaped, as client-go requires
    assert parse_warnings([value]) == [text]

