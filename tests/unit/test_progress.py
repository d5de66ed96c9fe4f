"""haplane.progress and the pure figures of the commands that report progress.

The live reporter is exercised on a real pseudo-terminal (tests/ptyrun.py), the plain one on a
pipe: the same script, two outputs.
"""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap

import pytest

from chaos.cli import scenario_status, verdict_lines
from chaos.invariants import Verdict
from haplane import output
from haplane.cli_workloads import (
    drain_status,
    eviction_wait_reason,
    progress_bar,
    rollout_counts,
    rollout_detail,
)
from haplane.progress import (
    LiveReporter,
    PlainReporter,
    bar_text,
    elapsed_text,
    is_live_terminal,
    make_reporter,
    spinner_frame,
)
from tests.ptyrun import ANSI_REDRAW, PtyProcess


# ----------------------------------------------------------------------------- pure helpers
@pytest.mark.parametrize("seconds, text", [
    (0, "0.0s"), (4.25, "4.2s"), (59.94, "59.9s"), (60, "1m00s"), (185, "3m05s"), (3599, "59m59s"),
    (3600, "1h00m"), (3725, "1h02m"), (-3, "0.0s"),
])
def test_elapsed_text(seconds: float, text: str) -> None:
    assert elapsed_text(seconds) == text


@pytest.mark.parametrize("done, total, width, text", [
    (0, 4, 8, "──────── 0/4"), (1, 4, 8, "━━────── 1/4"), (4, 4, 8, "━━━━━━━━ 4/4"),
    (7, 4, 8, "━━━━━━━━ 4/4"), (-1, 4, 8, "──────── 0/4"), (0, 0, 4, "━━━━ 0/0"), (1, 3, 6, "━━──── 1/3"),
])
def test_bar_text(done: int, total: int, width: int, text: str) -> None:
    assert bar_text(done, total, width) == text


def test_spinner_turns_ten_frames_a_second() -> None:
    frames = [spinner_frame(t / 10) for t in range(10)]
    assert len(set(frames)) == 10 and spinner_frame(1.0) == spinner_frame(0.0)


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize("tty, term, live", [
    (True, "xterm-256color", True), (True, "dumb", False), (False, "xterm", False), (True, "", True),
])
def test_is_live_terminal(tty: bool, term: str, live: bool) -> None:
    assert is_live_terminal(_Stream(tty), {"TERM": term}) is live


def test_a_closed_stream_is_not_a_terminal() -> None:
    s = io.StringIO()
    s.close()
    assert is_live_terminal(s, {}) is False


# ----------------------------------------------------------------------------- rollout / drain figures
def dep(replicas: int = 3, updated: int = 0, ready: int = 0, available: int = 0, total: int = 0,
        max_unavailable: object = 1) -> dict:
    return {"metadata": {"name": "web", "namespace": "shop", "generation": 1},
            "spec": {"replicas": replicas, "strategy": {"type": "RollingUpdate",
                                                        "rollingUpdate": {"maxSurge": 1,
                                                                          "maxUnavailable": max_unavailable}}},
            "status": {"observedGeneration": 1, "updatedReplicas": updated, "readyReplicas": ready,
                       "availableReplicas": available, "replicas": total}}


@pytest.mark.parametrize("d, counts, detail, bar", [
    pytest.param(dep(), (0, 3), "updated 0/3 · ready 0/3 · available 0/3", "[--------------------] 0/3",
                 id="nothing-yet"),
    pytest.param(dep(updated=2, ready=3, available=3, total=4), (2, 3),
                 "updated 2/3 · ready 3/3 · available 3/3 · old 2", "[#############-------] 2/3", id="mid-rollout"),
    pytest.param(dep(updated=3, ready=2, available=2, total=3), (2, 3),
                 "updated 3/3 · ready 2/3 · available 2/3", "[#############-------] 2/3", id="updated-not-ready"),
    pytest.param(dep(updated=3, ready=3, available=3, total=3), (3, 3),
                 "updated 3/3 · ready 3/3 · available 3/3", "[####################] 3/3", id="done"),
    pytest.param(dep(replicas=0), (0, 1), "updated 0/0 · ready 0/0 · available 0/0", "[--------------------] 0/1",
                 id="scaled-to-zero"),
    pytest.param(dep(replicas=2, updated=4, available=5, total=5), (2, 2),
                 "updated 4/2 · ready 0/2 · available 5/2 · old 1", "[####################] 2/2", id="surplus"),
])
def test_rollout_figures(d: dict, counts: tuple[int, int], detail: str, bar: str) -> None:
    assert rollout_counts(d) == counts
    assert rollout_detail(d) == detail
    assert progress_bar(d) == bar


@pytest.mark.parametrize("total, evicted, waiting, text", [
    (3, 0, "", "node/n1: 3 of 3 pods left to evict"),
    (3, 2, "", "node/n1: 1 of 3 pods left to evict"),
    (1, 0, "", "node/n1: 1 of 1 pod left to evict"),
    (0, 0, "", "node/n1: 0 of 0 pods left to evict"),
    (2, 1, "x", "node/n1: 1 of 2 pods left to evict; waiting: x"),
    (2, 5, "", "node/n1: 0 of 2 pods left to evict"),
])
def test_drain_status(total: int, evicted: int, waiting: str, text: str) -> None:
    assert drain_status("n1", total, evicted, waiting) == text


def test_eviction_wait_reason() -> None:
    assert eviction_wait_reason(dep(available=2)) == "deployment shop/web has 2 of 3 available (maxUnavailable 1)"
    assert eviction_wait_reason(dep(available=1, max_unavailable="50%")) \
        == "deployment shop/web has 1 of 3 available (maxUnavailable 1)"


# ----------------------------------------------------------------------------- get -w's table
def cm(name: str, ns: str = "default", rv: str = "1") -> dict:
    return {"kind": "ConfigMap", "metadata": {"name": name, "namespace": ns, "resourceVersion": rv,
                                              "creationTimestamp": "2024-01-01T00:00:00Z"}, "data": {"a": "1"}}


@pytest.mark.parametrize("events, names", [
    pytest.param([("ADDED", cm("b")), ("ADDED", cm("a"))], ["a", "b"], id="added-sorted"),
    pytest.param([("ADDED", cm("a")), ("MODIFIED", cm("a", rv="2"))], ["a"], id="modified-replaces"),
    pytest.param([("ADDED", cm("a")), ("DELETED", cm("a"))], [], id="deleted-removes"),
    pytest.param([("DELETED", cm("ghost"))], [], id="deleted-unknown"),
    pytest.param([("ADDED", cm("a")), ("BOOKMARK", cm("b")), ("ERROR", cm("c"))], ["a"], id="others-ignored"),
    pytest.param([("ADDED", cm("a", ns="x")), ("ADDED", cm("a", ns="y")), ("DELETED", cm("a", ns="x"))],
                 ["y/a"], id="per-namespace"),
])
def test_apply_watch_event(events: list[tuple[str, dict]], names: list[str]) -> None:
    objs: dict = {}
    for kind, obj in events:
        output.apply_watch_event(objs, kind, obj)
    shown = [f"{ns}/{n}" if ns not in ("default",) else n for ns, n in sorted(objs)]
    assert shown == names


def test_watched_table_is_the_get_table_of_the_current_objects() -> None:
    from datetime import UTC, datetime

    now = datetime(2024, 1, 1, 0, 5, tzinfo=UTC)
    objs = {output.object_key(o): o for o in (cm("zz"), cm("aa"))}
    text = output.watched_table("ConfigMap", objs, now)
    headers, rows = output.table("ConfigMap", [cm("aa"), cm("zz")], now)
    assert text == output.render(headers, rows)
    assert [line.split()[0] for line in text.splitlines()] == ["NAME", "aa", "zz"]


# ----------------------------------------------------------------------------- chaos run's lines
@pytest.mark.parametrize("i, n, passed, failed, text, detail", [
    (1, 3, 0, 0, "scenario 1 of 3: kill-leader", "no verdict yet"),
    (3, 3, 1, 1, "scenario 3 of 3: kill-leader", "so far 1 passed, 1 failed"),
])
def test_scenario_status(i: int, n: int, passed: int, failed: int, text: str, detail: str) -> None:
    assert scenario_status(i, n, "kill-leader", passed, failed) == (text, detail)


def test_verdict_lines_keep_the_plain_format() -> None:
    class R:
        scenario, ok, wall_s, data_dir = "kill-leader", False, 12.34, "/tmp/x"
        verdicts = [Verdict("linearizable", True, "1200 ops"), Verdict("converged", False, "2 hashes",
                                                                      details=["r1 abc", "r2 def"])]

    assert verdict_lines(R()) == ["    ok   linearizable: 1200 ops", "    FAIL converged: 2 hashes",
                                  "         r1 abc", "         r2 def",
                                  "  => kill-leader: FAIL in 12.3s (data kept in /tmp/x)"]


# ----------------------------------------------------------------------------- the reporters
def test_plain_reporter_prints_a_line_per_change() -> None:
    s = _Stream(False)
    rep = PlainReporter(s)
    rep.status("waiting 0/2", done=0, total=2)
    rep.status("waiting 0/2", done=0, total=2)  # unchanged: no line
    rep.status("ignored in plain", plain="waiting 1/2")
    rep.status("live only", plain="")
    rep.note("a note")
    with rep.stage("start 3 replicas", plain="haplane up: start 3 replicas"):
        pass
    rep.show("A\nB")  # live only
    rep.close()
    assert s.getvalue() == "waiting 0/2\nwaiting 1/2\na note\nhaplane up: start 3 replicas\n"


def test_make_reporter_picks_by_the_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")
    assert type(make_reporter(_Stream(False))) is PlainReporter
    assert type(make_reporter(_Stream(True))) is LiveReporter
    monkeypatch.setenv("TERM", "dumb")
    assert type(make_reporter(_Stream(True))) is PlainReporter


SCRIPT = textwrap.dedent("""
    import time
    from haplane.progress import make_reporter

    with make_reporter() as rep:
        print(type(rep).__name__, flush=True)
        rep.note("first note")
        for i in range(4):
            rep.status("rolling out", done=i, total=3, detail=f"updated {i}/3", plain=f"rolling out {i}/3")
            time.sleep(0.15)
        with rep.stage("elect a leader", plain="plain: elect a leader"):
            time.sleep(0.15)
        rep.show("NAME   DATA\\ncm-a   1")
        time.sleep(0.15)
        rep.show("NAME   DATA\\ncm-a   1\\ncm-b   2")
        time.sleep(0.15)
    print("closed", flush=True)
""")


def test_live_reporter_redraws_on_a_terminal() -> None:
    with PtyProcess([sys.executable, "-c", SCRIPT]) as p:
        assert p.wait(30) == 0
        out = p.output
    assert out.startswith("LiveReporter"), out
    assert any(seq in out for seq in ANSI_REDRAW), out  # drawn in place, not line after line
    assert "\x1b[?25l" in out and "\x1b[?25h" in out, out  # cursor hidden while live, shown after
    assert "rolling out" in out and "━" in out and "3/3" in out and "updated 2/3" in out, out
    assert "✓ elect a leader" in out and "plain:" not in out and "rolling out 1/3" not in out, out
    assert "first note" in out and "closed" in out, out
    # the last table stays on the screen once the display closes
    tail = out[out.rindex("\x1b[?25h"):]
    assert "cm-b   2" in tail, out


def test_the_same_script_on_a_pipe_prints_plain_lines() -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ("PlainReporter\nfirst note\nrolling out 0/3\nrolling out 1/3\nrolling out 2/3\n"
                           "rolling out 3/3\nplain: elect a leader\nclosed\n")
    assert "\x1b" not in proc.stdout
