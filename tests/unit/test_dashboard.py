"""deploy/prometheus/: the scrape configs pass ``promtool check config`` and the Grafana dashboard's
expressions are parsed for the metric names they use (which tests/integration/test_metrics.py
checks against a real scrape of every replica and agent)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
DASHBOARD = DEPLOY / "grafana-dashboard.json"
PROMQL_WORDS = frozenset({
    "sum", "max", "min", "avg", "count", "rate", "irate", "increase", "histogram_quantile", "by", "without",
    "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset", "topk", "bottomk"})


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (label matchers, groupings, ranges and
    string literals are not names)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)
    words = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr))
    return {w for w in words if w not in PROMQL_WORDS}


def dashboard_exprs() -> list[str]:
    doc = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]


@pytest.mark.parametrize(("expr", "want"), [
    pytest.param("etcd_server_has_leader", {"etcd_server_has_leader"}, id="bare"),
    pytest.param('max by (status) (haplane_nodes{condition="Ready"})', {"haplane_nodes"}, id="matcher-and-by"),
    pytest.param("histogram_quantile(0.99, sum by (le, verb) (rate(apiserver_request_duration_seconds_bucket[1m])))",
                 {"apiserver_request_duration_seconds_bucket"}, id="quantile"),
    pytest.param("rate(a_sum[5m]) / rate(a_count[5m])", {"a_sum", "a_count"}, id="ratio"),
    pytest.param('sum(rate(x_total{result="failed", code=~"5.."}[1m]))', {"x_total"}, id="regex-matcher"),
])
def test_metric_names(expr: str, want: set[str]) -> None:
    assert metric_names(expr) == want


def test_dashboard_has_the_four_sections_and_exprs() -> None:
    doc = json.loads(DASHBOARD.read_text())
    rows = [p["title"] for p in doc["panels"] if p["type"] == "row"]
    assert rows == ["Raft health", "API", "Controllers and scheduler", "Nodes and agents"]
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    assert all(metric_names(e) for e in dashboard_exprs())


@pytest.mark.parametrize("name", ["compose.yml", "systemd.yml"])
def test_scrape_configs_pass_promtool(name: str) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: apt-get install prometheus (.ci/run does)"
    out = subprocess.run([promtool, "check", "config", "--syntax-only", str(DEPLOY / name)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
