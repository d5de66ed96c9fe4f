"""The CLI's progress displays against a live cluster: on a real pseudo-terminal (rich redraws
in place) and on a pipe (plain lines, no escape codes, the lines scripts already read).

One cluster (3 replicas, 2 hollow agents) for rollout status, drain and get -w; ``haplane up``
starts its own single replica.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from haplane.localcluster import LocalCluster
from tests.integration.conftest import _ports, running_cluster
from tests.ptyrun import ANSI_REDRAW, PtyProcess

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

NS = "progress"


@pytest.fixture(scope="module")
def pc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running_cluster(tmp_path_factory.mktemp("progress"), agents=2, runtime="hollow") as lc:
        haplane(lc, "apply", "-f", "-", stdin=f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NS}\n")
        yield lc


def argv(lc: LocalCluster, *args: str) -> list[str]:
    return [sys.executable, "-m", "haplane", "--config", lc.path("client.json"), *args]


def haplane(lc: LocalCluster, *args: str, stdin: str | None = None, ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv(lc, *args), input=stdin, capture_output=True, text=True, timeout=120)
    if ok:
        assert proc.returncode == 0, f"haplane {' '.join(args)}: {proc.stdout}\n{proc.stderr}"
    return proc


def deployment(name: str, *, node_selector: dict | None = None) -> str:
    spec: dict = {"containers": [{"name": "app", "image": "busybox:local", "command": ["sleep", "3600"]}]}
    if node_selector:
        spec["nodeSelector"] = node_selector
    return json.dumps({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS},
                       "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                                "strategy": {"type": "RollingUpdate",
                                             "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}},
                                "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}})


def pods_of(lc: LocalCluster, app: str) -> list[dict]:
    out = haplane(lc, "get", "pods", "-n", NS, "-l", f"app={app}", "-o", "json").stdout
    return json.loads(out)["items"]


def test_rollout_status_draws_a_live_bar_on_a_terminal_and_plain_lines_on_a_pipe(pc: LocalCluster) -> None:
    # Pods that fit no node: the rollout waits, visibly, until the selector goes away.
    haplane(pc, "apply", "-f", "-", stdin=deployment("bar", node_selector={"disk": "none"}))
    plain = haplane(pc, "rollout", "status", "deployment/bar", "-n", NS, "--no-watch", ok=False)
    assert plain.returncode == 1 and "\x1b" not in plain.stdout, plain
    assert re.fullmatch(r'Waiting for deployment "bar" [^\n]*\.\.\. \[-{20}\] 0/2\n', plain.stdout), plain.stdout
    with PtyProcess(argv(pc, "rollout", "status", "deployment/bar", "-n", NS, "--timeout", "120")) as p:
        p.wait_for("ready 0/2")
        haplane(pc, "apply", "-f", "-", stdin=deployment("bar"))  # drops the nodeSelector (3-way apply)
        assert p.wait(120) == 0, p.output
        out = p.output
    text = ANSI.sub("", out)
    assert text.replace("\r", "").rstrip().endswith('deployment "bar" successfully rolled out'), out
    assert "──── 0/2" in text and "Waiting for deployment" in text and any(s in out for s in ANSI_REDRAW), out
    assert "[----" not in out, out  # the plain bar is for pipes
    done = haplane(pc, "rollout", "status", "deployment/bar", "-n", NS)
    assert done.stdout == 'deployment "bar" successfully rolled out\n', done.stdout


def test_drain_shows_the_pods_left_on_a_terminal_and_plain_lines_on_a_pipe(pc: LocalCluster) -> None:
    haplane(pc, "apply", "-f", "-", stdin=deployment("dr"))
    haplane(pc, "rollout", "status", "deployment/dr", "-n", NS, "--timeout", "90")
    node = pods_of(pc, "dr")[0]["spec"]["nodeName"]
    other = ({"n1", "n2"} - {node}).pop()
    try:
        with PtyProcess(argv(pc, "drain", node, "--timeout", "90")) as p:
            assert p.wait(100) == 0, p.output
            out = p.output
        assert f"node/{node} cordoned" in out and out.rstrip().endswith(f"node/{node} drained"), out
        text = ANSI.sub("", out)
        assert re.search(rf"node/{node}: \d of \d pods? left to evict", text) and "─ 0/" in text, out
        assert "evicted" in out and any(s in out for s in ANSI_REDRAW), out
    finally:
        haplane(pc, "uncordon", node)
    haplane(pc, "rollout", "status", "deployment/dr", "-n", NS, "--timeout", "90")
    on_other = json.loads(haplane(pc, "get", "pods", "-A", "--field-selector", f"spec.nodeName={other}",
                                  "-o", "json").stdout)["items"]
    try:
        proc = haplane(pc, "drain", other, "--timeout", "90")
    finally:
        haplane(pc, "uncordon", other)
    lines = proc.stdout.splitlines()
    assert "\x1b" not in proc.stdout and lines[0] == f"node/{other} cordoned" and lines[-1] == f"node/{other} drained"
    allowed = re.compile(rf"pod/\S+ evicted|node/{other}: \d of {len(on_other)} pods? left to evict(; waiting: .*)?")
    assert all(allowed.fullmatch(line) for line in lines[1:-1]), proc.stdout
    assert sum(line.endswith(" evicted") for line in lines) == len(on_other), proc.stdout


def configmap(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {NS}\ndata:\n  k: v\n"


def test_get_watch_redraws_one_table_on_a_terminal(pc: LocalCluster) -> None:
    haplane(pc, "apply", "-f", "-", stdin=configmap("w-keep"))
    with PtyProcess(argv(pc, "get", "configmaps", "-n", NS, "-w")) as p:
        p.wait_for("0 events")
        haplane(pc, "apply", "-f", "-", stdin=configmap("w-new"))
        p.wait_for("ADDED configmap/w-new")
        haplane(pc, "delete", "configmap", "w-keep", "-n", NS)
        p.wait_for("DELETED configmap/w-keep")
        p.interrupt()
        assert p.wait(30) == 130, p.output
        out = p.output
    assert any(s in out for s in ANSI_REDRAW), out
    final = ANSI.sub("", out[out.rindex("\x1b[?25h"):]).replace("\r", "")  # the table left after Ctrl-C
    names = [line.split()[0] for line in final.splitlines() if line.strip()]
    assert names[0] == "NAME" and "w-new" in names and "w-keep" not in names, final


def test_get_watch_on_a_pipe_prints_a_line_per_event(pc: LocalCluster) -> None:
    proc = subprocess.Popen(argv(pc, "get", "configmaps", "-n", NS, "-w"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while not lines and time.monotonic() < deadline:
            time.sleep(0.05)
        haplane(pc, "apply", "-f", "-", stdin=configmap("w-pipe"))
        while not any(line.startswith("w-pipe ") for line in lines) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
        reader.join(10)
    assert lines and lines[0].split() == ["NAME", "DATA", "AGE"], lines
    assert any(line.split()[:2] == ["w-pipe", "1"] for line in lines[1:]), lines
    assert all("\x1b" not in line for line in lines), lines


def test_up_shows_each_stage_on_a_terminal_and_plain_lines_on_a_pipe(tmp_path: os.PathLike) -> None:
    data = os.path.join(str(tmp_path), "up")
    base = str(next(_ports))
    cmd = [sys.executable, "-m", "haplane", "up", "--replicas", "1", "--agents", "0", "--plain-http", "--runtime", "process",
           "--data-dir", data, "--base-port", base]
    with PtyProcess(cmd) as p:
        out = p.wait_for("Ctrl-C stops the cluster", 90)
        p.interrupt()
        assert p.wait(60) == 0, p.output
        out = p.output
    for stage in ("cluster secret and tokens", "start 1 replica", "elect a leader"):
        assert f"✓ {stage} (" in out, out
    assert "haplane ready endpoints=" in out and f"export HAPLANE_CONFIG={data}/client.json" in out, out
    assert "haplane up: stopping" in out and "\x1b[?25l" in out, out
    # The same cluster again (resumed), on a pipe: a line per stage, then where to look.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        while not lines or "Ctrl-C stops the cluster" not in lines[-1]:
            line = proc.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
    finally:
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=60)[0]
    text = "".join(lines)
    assert "\x1b" not in text + rest and proc.returncode == 0, text + rest
    assert lines[:4] == [f"haplane up: starting 1 replicas and 0 agents (process runtime) in {data}\n",
                         "haplane up: cluster secret and tokens\n", "haplane up: start 1 replica\n",
                         "haplane up: elect a leader\n"], text
    assert lines[4].startswith("haplane ready endpoints=") and "haplane up: stopping" in rest, text + rest
