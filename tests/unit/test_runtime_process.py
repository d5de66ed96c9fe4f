"""The process runtime against real processes (no container engine needed)."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from node_agent.runtime.base import RuntimeStartError
from node_agent.runtime.process import ProcessRuntime, _proc_stat

HOST_IP = "127.0.1.21"


def pod(uid: str = "u1", name: str = "p1") -> dict:
    return {"metadata": {"uid": uid, "name": name, "namespace": "ns"}, "spec": {}}


def ctr(*command: str, name: str = "main", **extra: object) -> dict:
    return {"name": name, "image": "ignored", "command": list(command), **extra}


@pytest.fixture
async def rt(tmp_path: Path):
    runtime = ProcessRuntime(tmp_path / "state", "n1")
    yield runtime
    for st in await runtime.list_managed():
        await runtime.remove(st.cid)


async def wait_until(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def read_logs(rt: ProcessRuntime, cid: str, **kw: object) -> bytes:
    return b"".join([chunk async for chunk in rt.logs(cid, **kw)])


def group_members(pgid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _proc_stat(int(entry))) and st[1] == pgid and st[0] not in "ZX":
            out.append(int(entry))
    return out


async def test_start_logs_stop_within_grace(rt: ProcessRuntime) -> None:
    cid = await rt.start(pod(), ctr("sh", "-c", "echo hi; sleep 30"), epoch=7, host_ip=HOST_IP)
    await wait_until(lambda: _contains(rt, cid, b"hi"))
    st = await rt.inspect(cid)
    assert st is not None and st.running and st.exit_code is None
    assert (st.pod_uid, st.pod_name, st.namespace, st.container, st.epoch) == ("u1", "p1", "ns", "main", 7)
    pgid = rt._load(cid)["pid"]
    assert len(group_members(pgid)) == 2  # sh and sleep

    t0 = time.monotonic()
    await rt.stop(cid, grace=5)
    assert time.monotonic() - t0 < 4  # SIGTERM was enough: no waiting out the grace
    assert group_members(pgid) == []
    st = await rt.inspect(cid)
    assert st is not None and not st.running and st.exit_code == 143  # 128 + SIGTERM
    await rt.stop(cid, grace=5)  # idempotent


async def _contains(rt: ProcessRuntime, cid: str, needle: bytes) -> bool:
    return needle in await read_logs(rt, cid)


async def test_stop_kills_the_whole_group_after_grace(rt: ProcessRuntime) -> None:
    # the shell and its background child both ignore SIGTERM: only SIGKILL ends them
    script = "trap '' TERM; sleep 30 & echo started; wait"
    cid = await rt.start(pod(), ctr("sh", "-c", script), epoch=1, host_ip=HOST_IP)
    await wait_until(lambda: _contains(rt, cid, b"started"))
    pgid = rt._load(cid)["pid"]
    assert len(group_members(pgid)) == 2

    t0 = time.monotonic()
    await rt.stop(cid, grace=0.5)
    elapsed = time.monotonic() - t0
    assert 0.5 <= elapsed < 5
    assert group_members(pgid) == []
    st = await rt.inspect(cid)
    assert st is not None and st.exit_code == 137  # 128 + SIGKILL


async def test_exit_code(rt: ProcessRuntime) -> None:
    cid = await rt.start(pod(), ctr("sh", "-c", "exit 3"), epoch=1, host_ip=HOST_IP)
    st = await wait_until(lambda: _finished(rt, cid))
    assert st.exit_code == 3 and st.reason is None
    assert st.finished_at is not None and st.started_at is not None and st.finished_at >= st.started_at


async def _finished(rt: ProcessRuntime, cid: str):
    st = await rt.inspect(cid)
    return st if st is not None and not st.running else None


async def test_a_new_runtime_adopts_living_processes(rt: ProcessRuntime, tmp_path: Path) -> None:
    cid = await rt.start(
        pod("u9", "adoptee"), ctr("sleep", "30", name="c"), epoch=4, host_ip=HOST_IP, restart_count=2
    )
    dead = await rt.start(pod("u9", "adoptee"), ctr("sh", "-c", "exit 5", name="d"), epoch=4, host_ip=HOST_IP)
    await asyncio.sleep(0.3)  # `dead` exits; rt (its parent) never looks, like an agent that crashed

    again = ProcessRuntime(tmp_path / "state", "n1")
    states = {s.cid: s for s in await again.list_managed()}
    assert set(states) == {cid, dead}
    alive = states[cid]
    assert alive.running and (alive.pod_uid, alive.container, alive.epoch, alive.restart_count) == (
        "u9",
        "c",
        4,
        2,
    )
    assert not states[dead].running
    assert states[dead].exit_code is None and states[dead].reason == "Unknown"

    assert await ProcessRuntime(tmp_path / "state", "other-node").list_managed() == []

    pgid = again._load(cid)["pid"]
    await again.stop(cid, grace=5)
    assert group_members(pgid) == []
    assert not (await again.inspect(cid)).running


async def test_a_reused_pid_is_not_ours(rt: ProcessRuntime) -> None:
    cid = await rt.start(pod(), ctr("sleep", "30"), epoch=1, host_ip=HOST_IP)
    rec = rt._load(cid)
    rec["pid_start"] -= 1  # what a different process with the same pid would look like
    rt._children.clear()  # and we are not its parent
    st = await rt.inspect(cid)
    assert not st.running and st.reason == "Unknown"
    os.killpg(rec["pid"], 9)


@pytest.mark.parametrize(
    "container",
    [
        pytest.param(ctr("no-such-command-anywhere", "x"), id="not-in-path"),
        pytest.param(ctr("./missing.sh"), id="relative-path"),
        pytest.param(ctr(), id="no-command"),
    ],
)
async def test_command_not_found(rt: ProcessRuntime, container: dict) -> None:
    with pytest.raises(RuntimeStartError) as err:
        await rt.start(pod(), container, epoch=1, host_ip=HOST_IP)
    assert err.value.reason == "CommandNotFound"
    assert await rt.list_managed() == []


async def test_ports_reach_the_workload_through_env(rt: ProcessRuntime) -> None:
    c = ctr(
        "busybox",
        "httpd",
        "-f",
        "-p",
        "$(HOST_IP):$(PORT_HTTP)",
        "-h",
        ".",
        ports=[{"name": "http", "containerPort": 8080}],
        env=[{"name": "GREETING", "value": "port is $(PORT_8080)"}],
    )
    cid = await rt.start(pod(), c, epoch=1, host_ip=HOST_IP)
    st = await rt.inspect(cid)
    port = st.host_ports["http"]
    assert st.host_ports == {"http": port, "8080": port}
    env = rt._load(cid)["env"]
    assert env["PORT_HTTP"] == env["PORT_8080"] == str(port) and env["HOST_IP"] == HOST_IP
    assert env["GREETING"] == f"port is {port}"
    Path(rt._load(cid)["cwd"], "index.html").write_text("served\n")

    def get() -> bytes:
        return urllib.request.urlopen(f"http://{HOST_IP}:{port}/", timeout=2).read()

    async def served() -> bool:
        try:
            return await asyncio.to_thread(get) == b"served\n"
        except OSError:
            return False

    await wait_until(served)


async def test_host_port_in_use(rt: ProcessRuntime) -> None:
    with socket.socket() as s:
        s.bind((HOST_IP, 0))
        s.listen()
        taken = s.getsockname()[1]
        c = ctr("sleep", "30", ports=[{"containerPort": 80, "hostPort": taken}])
        with pytest.raises(RuntimeStartError) as err:
            await rt.start(pod(), c, epoch=1, host_ip=HOST_IP)
    assert err.value.reason == "PortInUse"


async def test_logs_tail_and_follow(rt: ProcessRuntime) -> None:
    cid = await rt.start(
        pod(), ctr("sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.1; done"), epoch=1, host_ip=HOST_IP
    )
    followed = await asyncio.wait_for(read_logs(rt, cid, follow=True), 10)
    assert followed == b"line1\nline2\nline3\n"
    assert await read_logs(rt, cid, tail=2) == b"line2\nline3\n"
    assert await read_logs(rt, cid, tail=10) == followed
    assert await read_logs(rt, cid, tail=0) == b""


async def test_exec_and_remove(rt: ProcessRuntime) -> None:
    cid = await rt.start(
        pod(), ctr("sleep", "30", env=[{"name": "X", "value": "7"}]), epoch=1, host_ip=HOST_IP
    )
    assert await rt.exec(cid, ["sh", "-c", 'test "$X" = 7'], timeout=5) == 0
    assert await rt.exec(cid, ["sh", "-c", "exit 4"], timeout=5) == 4
    with pytest.raises(TimeoutError):
        await rt.exec(cid, ["sleep", "10"], timeout=0.2)
    pgid = rt._load(cid)["pid"]
    await rt.remove(cid)
    assert group_members(pgid) == []
    assert await rt.inspect(cid) is None
    assert not (rt.state_dir / cid).exists()
    await rt.remove(cid)  # idempotent
    assert await rt.inspect("never-existed") is None


# --- exec sessions (kubectl exec) and the previous instance's output (kubectl logs --previous) ---


async def collect(session) -> tuple[bytes, bytes]:  # noqa: ANN001
    out = {1: b"", 2: b""}
    async for channel, data in session.output():
        out[channel] += data
    return out[1], out[2]


@pytest.mark.parametrize(("argv", "stdin", "tty", "stdout", "stderr", "code"), [
    pytest.param(["sh", "-c", "echo o; echo e >&2; exit 3"], None, False, b"o\n", b"e\n", 3, id="pipes-exit-code"),
    pytest.param(["sh", "-c", "pwd; echo $MARK"], None, False, b"<cwd>\nm1\n", b"", 0, id="container-env-cwd"),
    pytest.param(["tr", "a-z", "A-Z"], b"abc\n", False, b"ABC\n", b"", 0, id="stdin-then-eof"),
    pytest.param(["sh", "-c", "tty; echo e >&2"], None, True, b"/dev/pts/<n>\r\ne\r\n", b"", 0, id="tty-merges"),
    pytest.param(["sh", "-c", "read x; echo got-$x"], b"hi\n", True, b"hi\r\ngot-hi\r\n", b"", 0, id="tty-stdin"),
])
async def test_exec_session(rt: ProcessRuntime, argv: list[str], stdin: bytes | None, tty: bool, stdout: bytes,
                            stderr: bytes, code: int) -> None:
    cid = await rt.start(pod(), ctr("sleep", "30", env=[{"name": "MARK", "value": "m1"}]), epoch=1, host_ip=HOST_IP)
    session = await rt.exec_session(cid, argv, stdin=stdin is not None, stdout=True, stderr=not tty, tty=tty)
    if stdin is not None:
        await session.write(stdin)
        if not tty:
            await session.close_stdin()
    out, err = await asyncio.wait_for(collect(session), 10)
    rec = rt._load(cid)
    assert rec is not None
    out = out.replace(rec["cwd"].encode(), b"<cwd>")
    if b"/dev/pts/" in out:
        out = out[:9] + b"<n>" + out[out.index(b"\r\n"):]
    assert (out, err, await session.wait()) == (stdout, stderr, code)


async def test_exec_session_resize(rt: ProcessRuntime) -> None:
    cid = await rt.start(pod(), ctr("sleep", "30"), epoch=1, host_ip=HOST_IP)
    session = await rt.exec_session(cid, ["sh", "-c", "sleep 0.3; stty size"], stdin=True, stdout=True,
                                    stderr=False, tty=True)
    await session.resize(132, 43)
    out, _ = await asyncio.wait_for(collect(session), 10)
    assert out.strip() == b"43 132" and await session.wait() == 0


async def test_exec_refusals(rt: ProcessRuntime) -> None:
    cid = await rt.start(pod(), ctr("sleep", "30"), epoch=1, host_ip=HOST_IP)
    with pytest.raises(RuntimeStartError, match='exec: "no-such-cmd": executable file not found'):
        await rt.exec_session(cid, ["no-such-cmd"], stdin=False, stdout=True, stderr=True, tty=False)
    await rt.stop(cid, 0)
    with pytest.raises(LookupError):
        await rt.exec_session(cid, ["true"], stdin=False, stdout=True, stderr=True, tty=False)


async def test_an_exec_dies_with_its_container_and_on_kill(rt: ProcessRuntime) -> None:
    cid = await rt.start(pod(), ctr("sleep", "30"), epoch=1, host_ip=HOST_IP)
    first = await rt.exec_session(cid, ["sleep", "31"], stdin=False, stdout=True, stderr=True, tty=False)
    second = await rt.exec_session(cid, ["sh", "-c", "sleep 32 & wait"], stdin=False, stdout=True, stderr=True,
                                   tty=True)
    await second.kill()  # the whole group: the backgrounded sleep too
    assert await second.wait() == 137 and group_members(second.pid) == []
    await rt.stop(cid, 1)
    assert await asyncio.wait_for(first.wait(), 5) == 137


async def test_previous_output_survives_a_restart_removal(rt: ProcessRuntime) -> None:
    p = pod(uid="u-prev")
    first = await rt.start(p, ctr("sh", "-c", "echo one; echo two"), epoch=1, host_ip=HOST_IP)
    await wait_until(lambda: _contains(rt, first, b"two"))
    assert rt.previous_logs("u-prev", "main") is None
    await rt.remove(first, keep_log=True)
    second = await rt.start(p, ctr("sh", "-c", "echo three; sleep 30"), epoch=1, host_ip=HOST_IP, restart_count=1)
    previous = rt.previous_logs("u-prev", "main", tail=1)
    assert previous is not None and b"".join([c async for c in previous]) == b"two\n"
    await rt.remove(second)  # gone for good: its previous instance's output goes too
    assert rt.previous_logs("u-prev", "main") is None



async def test_usage_sums_the_process_group_from_proc(rt: ProcessRuntime) -> None:
    # a shell that holds 4 MB and keeps a busy child in its group: both are counted
    busy = await rt.start(pod(), ctr("sh", "-c", "x=$(head -c 4000000 /dev/zero | tr '\\0' a); "
                                     "sh -c 'while :; do :; done' & wait"), epoch=1, host_ip=HOST_IP)
    idle = await rt.start(pod("u2", "p2"), ctr("sleep", "30"), epoch=1, host_ip=HOST_IP)
    pgid = rt._load(busy)["pid"]  # type: ignore[index]

    async def busy_child_started() -> bool:
        return len(group_members(pgid)) == 2

    await wait_until(busy_child_started)
    states = await rt.list_managed()
    first = await rt.usage(states)

    async def cpu_grew() -> bool:
        return (await rt.usage(states))[busy].cpu_ns > first[busy].cpu_ns

    await wait_until(cpu_grew)
    second = await rt.usage(states)
    assert set(second) == {busy, idle}
    assert second[busy].memory >= 4_000_000 and 0 < second[idle].memory < second[busy].memory
    assert second[busy].time > first[busy].time
    await rt.stop(busy, 0)
    assert set(await rt.usage(await rt.list_managed())) == {idle}  # an ended container is not read
