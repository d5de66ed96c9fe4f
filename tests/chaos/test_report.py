"""The report renders a self-contained page and JSON from a synthetic run."""

from __future__ import annotations

import json
import re

from chaos.history import History
from chaos.invariants import Verdict
from chaos.pods import judge
from chaos.report import render_html, timeline_svg, write_report
from chaos.runner import ScenarioResult
from chaos.timeline import Sample, Timeline
from chaos.workload import CreateRecord


def synthetic() -> ScenarioResult:
    tl = Timeline(t0=100.0)
    for i in range(40):
        t = 100.0 + i * 0.25
        tl.samples.append(Sample(t, "r1", i < 20, "leader" if i < 20 else None, 1 if i < 20 else None, "r1"))
        tl.samples.append(Sample(t, "r2", True, "leader" if i >= 24 else "follower", 2 if i >= 24 else 1,
                                 "r2" if i >= 24 else "r1"))
    span = tl.begin("kill", ["r1"], "SIGKILL r1", at=105.0)
    tl.end(span, at=108.0)
    tl.begin("partition", ["r2", "r3"], "r2 | r3", at=106.0)
    tl.mark("recovery", "leader r1 killed", at=105.0)
    tl.mark("error", "boom <script>", at=107.0)
    h = History()
    for i in range(30):
        op = h.invoke(i % 3, "reg-0", "write", f"{i}", now=100.0 + i * 0.3)
        h.complete(op, ["ok", "fail", "unknown"][i % 3], now=100.2 + i * 0.3)
    creates = [CreateRecord(500, "r1", "obj-1", 101.0, 101.1, "ok"), CreateRecord(500, "r1", "obj-2", 102.0)]
    verdicts = [Verdict("linearizable", True, "fine"), Verdict("write-recovery", False, "slow", ["detail <b>"])]
    return ScenarioResult("kill-leader", "SIGKILL the leader", 7, 3, 10.0, False, verdicts,
                          {"write_recovery_s": [1.5, None]}, 12.3, h, creates, tl,
                          {0: "r1", 1: "r2", 2: "*", 500: "r1"}, None, "harness <error>")


def test_svg_draws_roles_faults_ops_and_marks() -> None:
    svg = timeline_svg(synthetic())
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "leader t1" in svg or "term 1" in svg
    assert "SIGKILL r1" in svg and "partition" in svg
    assert all(color in svg for color in ("#2e9d4a", "#d2413a", "#9a9a9a"))  # ok / fail / unknown
    assert 'class="rec"' in svg and 'class="err"' in svg
    assert "<script>" not in svg  # escaped


def test_page_is_self_contained_and_escaped() -> None:
    page = render_html([synthetic()], {"seed": 7})
    assert "<svg" in page and "FAIL" in page and "write-recovery" in page
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing fetched from elsewhere
    assert "<b>" not in page.replace("<b>harness error:</b>", "") and "&lt;error&gt;" in page


def test_write_report(tmp_path) -> None:  # noqa: ANN001
    page = write_report(str(tmp_path), [synthetic()], {"seed": 7})
    assert page.endswith("index.html")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["ok"] is False and summary["scenarios"][0]["scenario"] == "kill-leader"
    back = History.from_jsonl(tmp_path / "kill-leader" / "history.jsonl")
    assert len(back.ops) == 30
    assert len((tmp_path / "kill-leader" / "creates.jsonl").read_text().splitlines()) == 2
    assert json.loads((tmp_path / "kill-leader" / "timeline.json").read_text())["spans"][0]["kind"] == "kill"


def test_worker_rows_and_pod_samples() -> None:
    r = synthetic()
    r.agents, r.runtime = 2, "process"
    dep = {"metadata": {"name": "web", "uid": "U"}, "spec": {"replicas": 1}}
    r.pod_samples = [judge(100.0 + i, [("n1", "default/a")] if i < 5 else [], [dep], [], [
        {"metadata": {"name": "n1"}, "status": {"conditions": [{"type": "Ready", "status": "False" if i > 6 else "True"}]}}])
        for i in range(10)]
    r.timeline.mark("pod-recovery", "n1 killed", at=105.0)
    svg = timeline_svg(r)
    assert ">n1<" in svg and ">desired<" in svg and 'class="prec"' in svg
    assert "NotReady" in svg and "1 container(s) running" in svg
    page = render_html([r], {"seed": 7})
    assert "2 process agents, 10 pod snapshots" in page


def test_write_report_with_pod_samples(tmp_path) -> None:  # noqa: ANN001
    r = synthetic()
    r.pod_samples = [judge(101.0, [("n1", "default/a")], None, None)]
    write_report(str(tmp_path), [r], {})
    line = json.loads((tmp_path / "kill-leader" / "pods.jsonl").read_text())
    assert line["t"] == 1.0 and line["running"] == ["n1:default/a"] and line["met"] is None
    assert json.loads((tmp_path / "summary.json").read_text())["scenarios"][0]["pod_snapshots"] == 1


def test_watch_rows_and_watches_json(tmp_path) -> None:  # noqa: ANN001
    from chaos.watchcheck import ORDERED, Seen, Version, WatchStream, check_watches

    r = synthetic()
    r.watch_streams = [WatchStream("watch-r1", "r1", 5, [
        Seen(101.2, "ADDED", 6, "obj-1", "obj-1"), Seen(104.0, "RESUME", 6, detail="reset"),
        Seen(105.0, "GONE", None, detail="too old"), Seen(105.5, "RELIST", 9, items=[["obj-1", 6, "obj-1"]]),
        Seen(106.0, "ADDED", 8, "obj-1", "obj-1")], target_rv=6)]
    r.watch_versions = [Version(6, "obj-1", "obj-1", "answer to create obj-1")]
    r.verdicts += check_watches(r.watch_streams, r.history, r.creates, ["reg-0"], r.watch_versions, 100.0)
    r.figures.update(watch_events=2, watch_resumes=1, watch_relists=1)
    assert next(v for v in r.verdicts if v.name == ORDERED).ok is False  # rv 8 after the relist at 9
    svg = timeline_svg(r)
    assert ">watches<" in svg and ">watch-r1<" in svg
    assert 'class="wres"' in svg and 'class="wgone"' in svg
    assert "a watch verdict failed here (+6.00s)" in svg
    assert "2 (1 / 1)" in render_html([r], {})
    write_report(str(tmp_path), [r], {})
    doc = json.loads((tmp_path / "kill-leader" / "watches.json").read_text())
    assert doc["t0"] == 100.0 and doc["versions"][0]["rv"] == 6
    back = [WatchStream.from_doc(d) for d in doc["streams"]]
    assert back == r.watch_streams
