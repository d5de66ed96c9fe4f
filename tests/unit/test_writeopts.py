"""Write options: dryRun, fieldValidation, fieldManager, force — what Kubernetes accepts and refuses."""

from __future__ import annotations

import pytest
from multidict import MultiDict

from haplane.api.writeopts import WriteOptions, write_options
from haplane.errors import BadRequest
from haplane.model.registry import KINDS

KUBECTL = "kubectl/v1.37.1 (linux/amd64) kubernetes/f78e722"

OK = [
    pytest.param({}, {}, False, WriteOptions(manager="kubectl"), id="defaults"),
    pytest.param({"dryRun": "All"}, {}, False, WriteOptions(dry_run=True, manager="kubectl"), id="dry-run"),
    pytest.param({}, {"dryRun": ["All"]}, False, WriteOptions(dry_run=True, manager="kubectl"), id="dry-run-body"),
    pytest.param({"fieldValidation": "Strict", "fieldManager": "kubectl-edit"}, {}, False,
                 WriteOptions(validation="Strict", manager="kubectl-edit", manager_given=True), id="strict-manager"),
    pytest.param({"fieldManager": "kubectl", "force": "true"}, {}, True,
                 WriteOptions(manager="kubectl", manager_given=True, force=True), id="apply-force"),
    pytest.param({"fieldManager": "kubectl", "force": "false"}, {}, True,
                 WriteOptions(manager="kubectl", manager_given=True), id="apply-no-force"),
]


@pytest.mark.parametrize(("query", "body", "apply", "expected"), OK)
def test_write_options(query: dict, body: dict, apply: bool, expected: WriteOptions) -> None:
    assert write_options(MultiDict(query), KUBECTL, apply=apply, body=body) == expected


BAD = [
    pytest.param({"dryRun": "Server"}, False, "Invalid dry run value", id="dry-run-value"),
    pytest.param({"fieldValidation": "strict"}, False, "invalid fieldValidation directive", id="validation"),
    pytest.param({"fieldManager": "x" * 129}, False, "fieldManager", id="long-manager"),
    pytest.param({"fieldManager": "a\nb"}, False, "fieldManager", id="unprintable-manager"),
    pytest.param({}, True, "fieldManager: Required value", id="apply-needs-manager"),
    pytest.param({"force": "true"}, False, "may not be specified for non-apply patch", id="force-non-apply"),
    pytest.param({"fieldManager": "m", "force": "maybe"}, True, "force must be", id="force-value"),
]


@pytest.mark.parametrize(("query", "apply", "message"), BAD)
def test_bad_write_options(query: dict, apply: bool, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        write_options(MultiDict(query), KUBECTL, apply=apply)


PROBLEMS = [
    pytest.param("Warn", ['unknown field "spec.foo"'], ["x"], ['unknown field "spec.foo"', 'duplicate field "x"'],
                 id="warn"),
    pytest.param("Ignore", ['unknown field "spec.foo"'], ["x"], [], id="ignore"),
    pytest.param("Strict", [], [], [], id="strict-clean"),
]


@pytest.mark.parametrize(("mode", "unknown", "duplicates", "expected"), PROBLEMS)
def test_field_problems(mode: str, unknown: list, duplicates: list, expected: list) -> None:
    assert WriteOptions(validation=mode).field_problems(KINDS["Deployment"], unknown, duplicates) == expected


def test_strict_refuses_naming_the_fields() -> None:
    with pytest.raises(BadRequest) as err:
        WriteOptions(validation="Strict").field_problems(KINDS["Deployment"], ['unknown field "spec.foo"'], ["replicas"])
    assert err.value.message == ('Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
                                 'unknown field "spec.foo", duplicate field "replicas"')
