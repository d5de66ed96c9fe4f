"""Streams through the replicas to the pod's agent, driven by the real kubectl 1.37: logs
(-f, --tail, -c, --previous), exec (output, exit code, stdin, a TTY), port-forward (an HTTP
request through it) and cp (tar over exec), on the process runtime of the ``kube`` fixture.
``test_streams_docker.py`` runs every test again on a Docker-runtime cluster (one body, the
runtime as the module fixture ``runtime_name``; what differs is data keyed by runtime).

The commands, and what each must print (COMMANDS below, one table):
  logs POD | logs POD --tail=2 | logs POD -c side | logs POD --limit-bytes=5
  logs POD -c nope | logs --previous (never restarted) | logs PENDING | logs POD --timestamps
  exec POD -- sh -c 'echo; exit 3' | exec -i POD -- cat | exec POD -- nosuch
  exec POD -c side -- ... | exec (role viewer) | exec NOSUCH
and, each in its own test: logs -f (lines read as they come, then stopped), logs --previous
after a restart, exec -it (through a pseudo-terminal), port-forward + HTTP GET, cp both ways.
"""

from __future__ import annotations

import asyncio
import os
import re
import select
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from haplane.client import Client
from tests.kube.conftest import KUBECTL, KubeCluster

NS = "default"
COUNTED = "counted"    # prints n1..n5 then sleeps; a second container "side"
TALKER = "talker"      # a line every 0.2 s
WEB = "web"            # python3 -m http.server on the port the runtime gives it
CRASHER = "crasher"    # prints run-<pid>, exits 1 after a second: restarted
PENDING = "pending"    # a nodeSelector no node has: never scheduled


# Where the web server listens (as in tests/integration/test_agent_process.py): a process
# shares the host's network and binds the node address on the port the runtime picked; a
# container listens on its containerPort inside its own network namespace.
LISTEN = {"process": "$(HOST_IP):$(PORT_HTTP)", "docker": "$(PORT_HTTP)"}


@pytest.fixture(scope="module")
def runtime_name() -> str:
    return "process"


def container(name: str, script: str, **extra: Any) -> dict:
    return {"name": name, "image": "busybox:local", "imagePullPolicy": "Never", "command": ["sh", "-c", script],
            **extra}


def pod_specs(runtime: str) -> dict[str, dict]:
    web = f"mkdir -p site && echo hello-web > site/index.html && exec busybox httpd -f -h site -p {LISTEN[runtime]}"
    return {
        COUNTED: {"containers": [container("main", "for i in 1 2 3 4 5; do echo n$i; done; exec sleep 3600"),
                                 container("side", "echo side-says-hi; exec sleep 3600")]},
        TALKER: {"containers": [container("main", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done")]},
        WEB: {"containers": [container("main", web, ports=[{"name": "http", "containerPort": 8080}])]},
        CRASHER: {"containers": [container("main", "echo run-$$$$; sleep 1; exit 1")], "restartPolicy": "Always"},
        PENDING: {"containers": [container("main", "sleep 3600")], "nodeSelector": {"no-such-label": "x"}},
    }


async def _create_pods(kube: KubeCluster, runtime: str) -> None:
    ctx = ssl.create_default_context(cafile=str(kube.lc.ca_file))
    async with Client(kube.lc.endpoints, kube.lc.admin_token, ssl=ctx, timeout=10.0) as c:
        for name, spec in pod_specs(runtime).items():
            await c.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS},
                            "spec": {"terminationGracePeriodSeconds": 1, **spec}})
        deadline = time.monotonic() + 60
        waiting = {COUNTED, TALKER, WEB, CRASHER}
        while waiting and time.monotonic() < deadline:
            for name in list(waiting):
                pod = await c.get("Pod", name, NS)
                statuses = (pod.get("status") or {}).get("containerStatuses") or []
                if statuses and all("running" in (s.get("state") or {}) for s in statuses):
                    waiting.discard(name)
            await asyncio.sleep(0.3)
        assert not waiting, f"pods not running after 60 s: {waiting}"


@pytest.fixture(scope="module")
def pods(kube: KubeCluster, runtime_name: str) -> KubeCluster:
    asyncio.run(_create_pods(kube, runtime_name))
    # the counted pod's output is complete once it sleeps
    wait_until(lambda: "n5" in kube.kubectl("logs", COUNTED, "-c", "main", check=False).stdout, 20, "n1..n5 logged")
    return kube


def wait_until(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


VIEWER = "viewer"  # run with the viewer's token instead of the admin's

COMMANDS = [
    # (kubectl args, stdin, exit code, stdout must equal or match, stderr must contain)
    pytest.param(["logs", COUNTED, "-c", "main"], None, 0, "n1\nn2\nn3\nn4\nn5\n", "", id="logs"),
    pytest.param(["logs", COUNTED, "-c", "main", "--tail=2"], None, 0, "n4\nn5\n", "", id="logs-tail"),
    pytest.param(["logs", COUNTED, "-c", "side"], None, 0, "side-says-hi\n", "", id="logs-container"),
    pytest.param(["logs", COUNTED], None, 0, "n1\nn2\nn3\nn4\nn5\n", 'Defaulted container "main"',
                 id="logs-default-container"),
    pytest.param(["logs", COUNTED, "-c", "main", "--limit-bytes=5"], None, 0, "n1\nn2", "", id="logs-limit-bytes"),
    pytest.param(["logs", COUNTED, "-c", "nope"], None, 1, "",
                 "container nope is not valid for pod counted", id="logs-unknown-container"),
    pytest.param(["logs", COUNTED, "-c", "main", "--previous"], None, 1, "",
                 'previous terminated container "main" in pod "counted" not found', id="logs-no-previous"),
    pytest.param(["logs", PENDING], None, 1, "", "pod pending does not have a host assigned", id="logs-unscheduled"),
    pytest.param(["logs", COUNTED, "-c", "main", "--timestamps"], None,
                 {"process": 1, "docker": 0},
                 {"process": "", "docker": re.compile(r"^(\d{4}-\d\d-\d\dT[\d:.]+Z n\d\n){5}$")},
                 {"process": "the process runtime does not record when each line was written", "docker": ""},
                 id="logs-timestamps"),
    pytest.param(["exec", COUNTED, "-c", "main", "--", "sh", "-c", "echo out; echo err >&2; exit 3"], None, 3,
                 "out\n", "err\ncommand terminated with exit code 3", id="exec-exit-code"),
    pytest.param(["exec", COUNTED, "-c", "main", "--", "sh", "-c", "echo $PWD; echo $HOST_IP"], None, 0,
                 {"process": re.compile(r"^/\S+/containers/\w+/root\n127\.77\.\d+\.\d+\n$"),
                  "docker": re.compile(r"^/\n127\.77\.\d+\.\d+\n$")}, "", id="exec-cwd-env"),
    pytest.param(["exec", "-i", COUNTED, "-c", "main", "--", "sh", "-c", "tr a-z A-Z; echo done"],
                 "hello stdin\n", 0, "HELLO STDIN\ndone\n", "", id="exec-stdin"),
    pytest.param(["exec", COUNTED, "-c", "side", "--", "sh", "-c", "echo from-side"], None, 0, "from-side\n", "",
                 id="exec-container"),
    # the process runtime refuses before starting anything; the engine starts the exec and
    # reports the failure as its output with exit code 126, as `docker exec` does
    pytest.param(["exec", COUNTED, "-c", "main", "--", "no-such-command"], None, {"process": 1, "docker": 126},
                 {"process": "", "docker": re.compile(r'exec: "no-such-command": executable file not found')},
                 {"process": 'exec: "no-such-command": executable file not found in $PATH',
                  "docker": "command terminated with exit code 126"}, id="exec-not-found"),
    pytest.param(["exec", "no-such-pod", "--", "ls"], None, 1, "", 'pods "no-such-pod" not found',
                 id="exec-no-pod"),
    pytest.param([VIEWER, "exec", COUNTED, "-c", "main", "--", "ls"], None, 1, "",
                 'cannot create resource "pods/exec"', id="exec-viewer-forbidden"),
]


@pytest.mark.parametrize(("args", "stdin", "code", "stdout", "stderr"), COMMANDS)
def test_command(pods: KubeCluster, runtime_name: str, args: list[str], stdin: str | None, code: Any,
                 stdout: Any, stderr: Any) -> None:
    """One row of COMMANDS; an expectation that differs per runtime is a dict by runtime."""
    code, stdout, stderr = (v[runtime_name] if isinstance(v, dict) else v for v in (code, stdout, stderr))
    if args[0] == VIEWER:
        args = [f"--token={pods.lc.token('viewer')}", *args[1:]]
    proc = pods.kubectl(*args, input=stdin, check=False)
    assert proc.returncode == code, f"{args}: rc {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    if isinstance(stdout, re.Pattern):
        assert stdout.search(proc.stdout), proc.stdout
    else:
        assert proc.stdout == stdout, proc.stderr
    assert stderr in proc.stderr


def read_lines(proc: subprocess.Popen[str], n: int, timeout: float) -> list[str]:
    """The next ``n`` lines of the process's stdout, as they come (fails after ``timeout``)."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while len(lines) < n:
        left = deadline - time.monotonic()
        assert left > 0, f"only {lines} after {timeout} s"
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            line = proc.stdout.readline()
            assert line, f"the stream ended after {lines}"
            lines.append(line)
    return lines


@pytest.fixture
def popen(pods: KubeCluster) -> Iterator[Any]:
    started: list[subprocess.Popen[str]] = []

    def run(*args: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen([KUBECTL, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=pods.env(), bufsize=1)
        started.append(proc)
        return proc

    yield run
    for proc in started:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_logs_follow(pods: KubeCluster, popen: Any) -> None:
    """-f: new lines arrive while the stream stays open (spread over > 0.5 s), then we stop."""
    proc = popen("logs", "-f", "--tail=1", TALKER)
    t0 = time.monotonic()
    lines = read_lines(proc, 5, 20)
    numbers = [int(line.split()[1]) for line in lines]
    assert numbers == list(range(numbers[0], numbers[0] + 5)), lines
    assert time.monotonic() - t0 > 0.5  # they came as written, not as one backlog
    assert proc.poll() is None  # still following


def test_logs_previous_after_restart(pods: KubeCluster) -> None:
    def restarted() -> bool:
        out = pods.kubectl("get", "pod", CRASHER, "-o", "jsonpath={.status.containerStatuses[0].restartCount}",
                           check=False).stdout
        return out.strip().isdigit() and int(out) >= 1
    wait_until(restarted, 60, "the crasher restarted")
    wait_until(lambda: "run-" in pods.kubectl("logs", CRASHER, check=False).stdout, 20, "the new instance's output")
    previous = pods.kubectl("logs", CRASHER, "--previous").stdout
    assert re.fullmatch(r"run-\d+\n", previous), previous
    current = pods.kubectl("logs", CRASHER, check=False).stdout
    if current.strip():  # between restarts the current instance may have been replaced again
        assert re.fullmatch(r"run-\d+\n", current), current


def test_exec_tty(pods: KubeCluster) -> None:
    """-it through a pseudo-terminal (util-linux script): the shell sees a terminal with the
    window size kubectl sent, and its exit code comes back."""
    command = f"{KUBECTL} exec -it {COUNTED} -c main -- sh"
    typed = "stty size; tty; exit 7\n"
    proc = subprocess.run(["script", "-qec", f"stty rows 30 cols 100; {command}", "/dev/null"], input=typed,
                          capture_output=True, text=True, timeout=60, env=pods.env())
    assert proc.returncode == 7, proc.stdout + proc.stderr
    assert "30 100" in proc.stdout and "/dev/pts/" in proc.stdout, proc.stdout


def test_port_forward_http(pods: KubeCluster, popen: Any) -> None:
    proc = popen("port-forward", f"pod/{WEB}", ":8080")
    first = read_lines(proc, 1, 30)[0]
    m = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> 8080", first)
    assert m, first
    for _ in range(3):  # one kubectl connection carries several requests (a stream pair each)
        with urllib.request.urlopen(f"http://127.0.0.1:{m.group(1)}/", timeout=10) as resp:
            assert resp.status == 200
            assert resp.read() == b"hello-web\n"
    assert proc.poll() is None


def test_port_forward_refused(pods: KubeCluster, popen: Any) -> None:
    """Nothing listens on 9: kubectl reports the agent's error and gives up the connection."""
    proc = popen("port-forward", f"pod/{WEB}", ":9")
    m = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> 9", read_lines(proc, 1, 30)[0])
    assert m
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{m.group(1)}/", timeout=10)
    _, err = proc.communicate(timeout=30)
    assert "error forwarding port 9 to pod: connect: connection refused" in err, err
    assert proc.returncode == 1


def test_cp_both_ways(pods: KubeCluster, tmp_path: Any) -> None:
    src = tmp_path / "up"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "a.txt").write_text("alpha\n")
    (src / "b.bin").write_bytes(bytes(range(256)) * 64)
    pods.kubectl("cp", str(src), f"{COUNTED}:copied", "-c", "main")
    listing = pods.kubectl("exec", COUNTED, "-c", "main", "--", "sh", "-c", "cat copied/sub/a.txt; wc -c < copied/b.bin")
    assert listing.stdout.split() == ["alpha", "16384"]
    back = tmp_path / "back"
    pods.kubectl("cp", f"{COUNTED}:copied", str(back), "-c", "main")
    assert (back / "sub" / "a.txt").read_text() == "alpha\n"
    assert (back / "b.bin").read_bytes() == (src / "b.bin").read_bytes()
    assert sorted(os.listdir(back)) == ["b.bin", "sub"]


def processes_running(cmdline: str) -> int:
    """How many processes on this machine run exactly ``cmdline`` (the host's /proc sees the
    process runtime's commands and the containers' alike)."""
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                    if f.read().rstrip(b"\0").replace(b"\0", b" ") == cmdline.encode():
                        count += 1
            except OSError:
                continue
    return count


def test_exec_is_killed_when_kubectl_goes(pods: KubeCluster, popen: Any) -> None:
    """The command dies with the stream: kubectl killed -> replica closes -> agent kills it."""
    marker = f"sleep {7000 + os.getpid() % 1000}"
    proc = popen("exec", COUNTED, "-c", "main", "--", "sh", "-c", f"echo started; exec {marker}")
    assert read_lines(proc, 1, 30) == ["started\n"]
    assert processes_running(marker) == 1
    proc.kill()
    proc.wait(10)
    wait_until(lambda: processes_running(marker) == 0, 20, f"{marker!r} killed after kubectl went away")
