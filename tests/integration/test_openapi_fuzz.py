"""Schemathesis against the live cluster's own OpenAPI documents (every one the /openapi/v3 root
lists, merged): no 5xx, no response that breaks
the schema, status codes and content types as documented.

The ``watch`` parameter is taken out of the document given to the fuzzer: a watch is a stream
that ends only after ``timeoutSeconds``, which a request/response fuzzer reads as a hang. Watches
have their own tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from haplane.localcluster import LocalCluster
from tests.integration.conftest import running_cluster
from tests.unit.test_openapi import merged_document

CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"


@pytest.fixture(scope="module")
def fuzz_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running_cluster(tmp_path_factory.mktemp("fuzz")) as lc:
        yield lc


def without_watch(doc: dict) -> dict:
    for item in doc["paths"].values():
        for op in item.values():
            if isinstance(op, dict) and isinstance(op.get("parameters"), list):
                op["parameters"] = [p for p in op["parameters"]
                                    if p.get("$ref") != "#/components/parameters/watch" and p.get("name") != "watch"]
    return doc


def test_schemathesis_finds_no_server_errors_and_no_schema_violations(fuzz_cluster: LocalCluster, tmp_path) -> None:  # noqa: ANN001
    root = fuzz_cluster.get_json("r1", "/openapi/v3")
    docs = {key: fuzz_cluster.get_json("r1", entry["serverRelativeURL"]) for key, entry in root["paths"].items()}
    assert {"api/v1", "apis/apps/v1", "haplane"} <= docs.keys()
    doc = without_watch(merged_document(docs))
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(doc))
    st = os.path.join(os.path.dirname(sys.executable), "st")
    proc = subprocess.run(
        [st, "run", str(spec), "--url", fuzz_cluster.endpoints[0], "--checks", CHECKS,
         "-H", f"Authorization: Bearer {fuzz_cluster.admin_token}", "--max-examples", "5",
         "--phases", "examples,coverage,fuzzing", "--workers", "1", "--max-time", "100",
         "--request-timeout", "10", "--seed", "1"],
        capture_output=True, text=True, timeout=400)
    summary = proc.stdout[-6000:]
    assert proc.returncode == 0, f"schemathesis found problems:\n{summary}\n{proc.stderr[-2000:]}"
    assert "generated" in summary, summary
