"""PodLogOptions as kubectl sends them: parsed and checked with the API server's messages."""

from __future__ import annotations

import pytest
from multidict import MultiDict

from haplane import errors
from haplane.logoptions import LogOptions, parse_log_options


@pytest.mark.parametrize(("query", "expected"), [
    pytest.param({}, LogOptions(), id="nothing"),
    pytest.param({"follow": "true", "tailLines": "5"}, LogOptions(follow=True, tail=5), id="follow-tail"),
    pytest.param({"tailLines": "0"}, LogOptions(tail=0), id="tail-zero"),
    pytest.param({"previous": "true"}, LogOptions(previous=True), id="previous"),
    pytest.param({"timestamps": "true", "limitBytes": "10"}, LogOptions(timestamps=True, limit_bytes=10),
                 id="timestamps-limit"),
    pytest.param({"sinceSeconds": "30"}, LogOptions(since_seconds=30), id="since-seconds"),
    pytest.param({"sinceTime": "2026-01-02T03:04:05Z"}, LogOptions(since_time=1767323045.0), id="since-time"),
    pytest.param({"follow": "false", "previous": ""}, LogOptions(), id="explicit-false"),
])
def test_parse(query: dict, expected: LogOptions) -> None:
    assert parse_log_options(MultiDict(query)) == expected


@pytest.mark.parametrize(("query", "message"), [
    pytest.param({"tailLines": "-1"}, "tailLines: Invalid value: -1: must be greater than or equal to 0", id="tail-neg"),
    pytest.param({"tailLines": "x"}, "tailLines: invalid value 'x'", id="tail-nan"),
    pytest.param({"sinceSeconds": "0"}, "sinceSeconds: Invalid value: 0: must be greater than 0", id="since-zero"),
    pytest.param({"limitBytes": "0"}, "limitBytes: Invalid value: 0: must be greater than 0", id="limit-zero"),
    pytest.param({"sinceTime": "yesterday"}, "sinceTime: invalid value", id="since-time-bad"),
    pytest.param({"sinceSeconds": "5", "sinceTime": "2026-01-02T03:04:05Z"},
                 "at most one of sinceTime or sinceSeconds may be specified", id="both-since"),
    pytest.param({"follow": "maybe"}, "follow: invalid value 'maybe'", id="follow-bad"),
])
def test_refused(query: dict, message: str) -> None:
    with pytest.raises(errors.BadRequest) as exc:
        parse_log_options(MultiDict(query))
    assert message in exc.value.message


def test_since_is_relative_to_now() -> None:
    assert LogOptions(since_seconds=10).since(100.0) == 90.0
    assert LogOptions(since_time=5.0).since(100.0) == 5.0
    assert LogOptions().since(100.0) is None
