"""The process runtime: each container is a plain OS process (like Nomad's raw_exec).

The container's ``command`` + ``args`` run directly on the host, in their own session and
process group, with ``cwd`` in a per-container directory and stdout+stderr appended to a
log file. The ``image`` is ignored; a missing command is ``CommandNotFound``.

Ports are honest, not magic: a process shares the host's network, so nothing can remap
the port it binds. The runtime picks (or checks) the host port on the node address and
passes it in ``PORT_<NAME>`` / ``PORT_<containerPort>`` and ``HOST_IP``; args may say
``$(PORT_HTTP)`` and ``$(HOST_IP)`` (Kubernetes expansion). Only a workload that listens
where it is told is reachable at ``ContainerState.host_ports``. A hard-coded port such as
busybox ``httpd -p 8080`` binds ``0.0.0.0:8080`` whatever the runtime reported — write
``httpd -f -p $(HOST_IP):$(PORT_HTTP)`` for this runtime instead.

State: ``state_dir/<cid>/record.json`` holds the pid, the pid's start time from
``/proc/<pid>/stat`` (so a reused pid is never mistaken for ours), the labels and, once
known, the exit. A new ``ProcessRuntime`` on the same ``state_dir`` adopts living processes
(``list_managed``). The exit code of a process that died while no runtime was its parent
cannot be known: it is reported as ``exit_code=None, reason="Unknown"``.

Use from one event loop; one runtime instance per (state_dir, node) at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from haplane.clock import Clock, SystemClock
from node_agent.runtime.base import (
    L_CONTAINER,
    L_NODE,
    L_POD_UID,
    ContainerState,
    RuntimeStartError,
    container_argv,
    container_env,
    container_labels,
    declared_ports,
    ensure_port_free,
    exit_status,
    host_port_map,
    identity_from_labels,
    pick_free_port,
    run_argv,
)
from node_agent.runtime.hostexec import HostExec
from node_agent.runtime.logfile import PreviousLogs, read_log
from node_agent.usage import ProcStat, Sample, group_usage, parse_proc_stat

_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_POLL = 0.05


def _read_stat(pid: int) -> ProcStat | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return parse_proc_stat(pid, f.read().decode(errors="replace"))
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, pgrp, starttime) of a pid from /proc, or None if there is no such process."""
    st = _read_stat(pid)
    return None if st is None else (st.state, st.pgrp, st.start_time)


def _all_stats() -> list[ProcStat]:
    """Every process's /proc/PID/stat (those that end meanwhile are left out)."""
    return [st for entry in os.scandir("/proc") if entry.name.isdigit() and (st := _read_stat(int(entry.name)))]


def group_samples(groups: list[int]) -> dict[int, Sample]:
    """A reading of each process group in ``groups`` that still has a live member (blocking: /proc)."""
    return group_usage(_all_stats(), groups, now=time.time(), ticks_per_s=os.sysconf("SC_CLK_TCK"),
                       page_size=os.sysconf("SC_PAGE_SIZE"))


def _group_alive(pgid: int) -> bool:
    """Does any non-zombie process belong to process group ``pgid``?"""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            st = _proc_stat(int(entry.name))
            if st and st[1] == pgid and st[0] not in "ZX":
                return True
    return False


def _which(cmd: str, path: str, cwd: Path) -> str | None:
    if "/" in cmd:
        p = cwd / cmd
        return str(p) if p.is_file() and os.access(p, os.X_OK) else None
    return shutil.which(cmd, path=path)


class ProcessRuntime:
    name = "process"

    def __init__(
        self, state_dir: str | os.PathLike[str], node_name: str, *, clock: Clock | None = None
    ) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.node_name = node_name
        self.clock = clock or SystemClock()
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._records: dict[str, dict[str, Any]] = {}
        self.previous = PreviousLogs(self.state_dir / ".previous")
        self._execs: dict[str, set[HostExec]] = {}  # cid -> its exec'd commands still running

    # --- records ---------------------------------------------------------------------------

    def _dir(self, cid: str) -> Path:
        if not cid or "/" in cid or cid.startswith("."):
            raise ValueError(f"bad container id {cid!r}")
        return self.state_dir / cid

    def _load(self, cid: str) -> dict[str, Any] | None:
        if cid in self._records:
            return self._records[cid]
        try:
            rec = json.loads((self._dir(cid) / "record.json").read_text())
        except (FileNotFoundError, NotADirectoryError, ValueError):  # ValueError: bad id or JSON
            return None
        self._records[cid] = rec
        return rec

    def _save(self, rec: dict[str, Any]) -> None:
        d = self._dir(rec["cid"])
        if not d.is_dir():  # removed meanwhile: nothing left to record
            return
        tmp = d / "record.json.tmp"
        tmp.write_text(json.dumps(rec))
        os.replace(tmp, d / "record.json")
        self._records[rec["cid"]] = rec

    def _leader_alive(self, rec: dict[str, Any]) -> bool:
        """Is the container's main process alive? Reaps it (and records the exit) if it is our child."""
        if rec.get("finished_at") is not None:
            return False
        child = self._children.get(rec["cid"])
        if child is not None:
            rc = child.poll()
            if rc is None:
                return True
            rec.update(exit_code=exit_status(rc), finished_at=self.clock.now())
            self._save(rec)
            return False
        st = _proc_stat(rec["pid"])
        if st is not None and st[2] == rec["pid_start"] and st[0] not in "ZX":
            return True
        rec.update(
            exit_code=None,
            finished_at=self.clock.now(),
            reason="Unknown",
            message="the process ended while the agent was not its parent",
        )
        self._save(rec)
        return False

    def _state(self, rec: dict[str, Any]) -> ContainerState:
        running = self._leader_alive(rec)
        return ContainerState(
            cid=rec["cid"],
            **identity_from_labels(rec["labels"]),
            running=running,
            exit_code=None if running else rec.get("exit_code"),
            started_at=rec["started_at"],
            finished_at=None if running else rec.get("finished_at"),
            host_ports=dict(rec.get("host_ports") or {}),
            reason=None if running else rec.get("reason"),
            message=None if running else rec.get("message"),
        )

    # --- Runtime ---------------------------------------------------------------------------

    async def start(
        self, pod: dict, container: dict, *, epoch: int, host_ip: str, restart_count: int = 0
    ) -> str:
        decls = declared_ports(container)
        bound: dict[int, int] = {}
        for d in decls:
            if d.host_port:
                ensure_port_free(host_ip, d.host_port, d.protocol)
                bound[d.container_port] = d.host_port
            else:
                bound[d.container_port] = pick_free_port(host_ip, d.protocol)
        host_ports = host_port_map(decls, bound)
        spec_env = container_env(pod, container, host_ip=host_ip, listen_ports=host_ports)
        argv = container_argv(container, spec_env)
        if not argv:
            raise RuntimeStartError(
                "CommandNotFound", "the process runtime needs a command (the image is ignored)"
            )
        env = {"PATH": os.environ.get("PATH", _DEFAULT_PATH), "LANG": "C.UTF-8"} | spec_env

        cid = "p" + uuid.uuid4().hex[:23]
        cdir = self._dir(cid)
        root = cdir / "root"
        root.mkdir(parents=True)
        env.setdefault("HOME", str(root))
        if _which(argv[0], env["PATH"], root) is None:
            shutil.rmtree(cdir, ignore_errors=True)
            raise RuntimeStartError("CommandNotFound", f"executable {argv[0]!r} not found in PATH")
        try:
            with open(cdir / "output.log", "ab") as log:
                child = await asyncio.to_thread(
                    subprocess.Popen,
                    argv,
                    cwd=root,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    close_fds=True,
                )
        except OSError as e:
            shutil.rmtree(cdir, ignore_errors=True)
            raise RuntimeStartError("RunContainerError", f"cannot execute {argv[0]!r}: {e}") from e
        st = _proc_stat(child.pid)  # our unreaped child: the pid cannot have been reused yet
        self._children[cid] = child
        self._save(
            {
                "cid": cid,
                "pid": child.pid,
                "pid_start": st[2] if st else -1,
                "labels": container_labels(
                    pod, container, epoch=epoch, node=self.node_name, restart_count=restart_count
                ),
                "started_at": self.clock.now(),
                "host_ports": host_ports,
                "argv": argv,
                "env": env,
                "cwd": str(root),
                "exit_code": None,
                "finished_at": None,
                "reason": None,
                "message": None,
            }
        )
        return cid

    async def stop(self, cid: str, grace: float) -> None:
        rec = self._load(cid)
        if rec is None:
            return
        # commands exec'd into the container have their own process groups: they stop with it
        for ex in list(self._execs.pop(cid, set())):
            await ex.kill()
        pgid = rec["pid"]
        if self._leader_alive(rec):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGTERM)
        elif not await asyncio.to_thread(_group_alive, pgid):
            return
        deadline = time.monotonic() + max(0.0, grace)
        while time.monotonic() < deadline:
            self._leader_alive(rec)
            if not await asyncio.to_thread(_group_alive, pgid):
                break
            await asyncio.sleep(_POLL)
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
            for _ in range(100):  # SIGKILL is prompt; this bounds the wait for the reaping
                self._leader_alive(rec)
                if not await asyncio.to_thread(_group_alive, pgid):
                    break
                await asyncio.sleep(_POLL)
        self._leader_alive(rec)

    async def inspect(self, cid: str) -> ContainerState | None:
        rec = self._load(cid)
        return None if rec is None else self._state(rec)

    async def list_managed(self) -> list[ContainerState]:
        out = []
        for entry in sorted(os.scandir(self.state_dir), key=lambda e: e.name):
            if (
                entry.is_dir()
                and (rec := self._load(entry.name))
                and rec["labels"].get(L_NODE) == self.node_name
            ):
                out.append(self._state(rec))
        return out

    async def remove(self, cid: str, *, keep_log: bool = False) -> None:
        rec = self._load(cid)
        if rec is None:
            return
        await self.stop(cid, 0)
        uid, name = rec["labels"].get(L_POD_UID, ""), rec["labels"].get(L_CONTAINER, "")
        if keep_log:
            self.previous.keep_file(uid, name, self._dir(cid) / "output.log")
        else:
            self.previous.forget(uid, name)  # the container goes for good: so does its previous output
        self._children.pop(cid, None)
        self._records.pop(cid, None)
        await asyncio.to_thread(shutil.rmtree, self._dir(cid), True)

    async def exec(self, cid: str, argv: list[str], timeout: float) -> int:
        """Run ``argv`` on the host with the container's env and cwd (TimeoutError after ``timeout``)."""
        rec = self._load(cid)
        if rec is None:
            raise LookupError(f"no container {cid}")
        return await run_argv(argv, timeout, cwd=rec["cwd"], env=rec["env"])

    async def exec_session(self, cid: str, argv: list[str], *, stdin: bool, stdout: bool, stderr: bool,
                           tty: bool) -> HostExec:
        """``argv`` on the host with the container's env and cwd, its streams attached."""
        rec = self._load(cid)
        if rec is None or not self._leader_alive(rec):
            raise LookupError(f"container {cid} is not running")
        env = rec["env"]
        if _which(argv[0], env.get("PATH", _DEFAULT_PATH), Path(rec["cwd"])) is None:
            raise RuntimeStartError("CommandNotFound", f'exec: "{argv[0]}": executable file not found in $PATH')
        ex = await HostExec.start(argv, cwd=rec["cwd"], env=env, stdin=stdin, stdout=stdout, stderr=stderr,
                                  tty=tty)
        running = self._execs.setdefault(cid, set())
        running.add(ex)
        ex.on_exit = lambda: running.discard(ex)
        return ex

    async def open_port(self, cid: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A process shares the host's network: a declared port is where the runtime published it
        (``PORT_<containerPort>`` on the node address); any other port is the node address's."""
        rec = self._load(cid)
        if rec is None:
            raise LookupError(f"no container {cid}")
        host = rec["env"].get("HOST_IP") or "127.0.0.1"
        target = int((rec.get("host_ports") or {}).get(str(port)) or port)
        return await asyncio.open_connection(host, target)

    async def usage(self, states: list[ContainerState]) -> dict[str, Sample]:
        """CPU and memory of each running container: its process group's members summed from
        /proc (``utime+stime+cutime+cstime``, RSS); no cgroups are involved."""
        groups: dict[int, str] = {}
        for s in states:
            rec = self._load(s.cid)
            if s.running and rec is not None and rec.get("finished_at") is None:
                groups[int(rec["pid"])] = s.cid
        if not groups:
            return {}
        samples = await asyncio.to_thread(group_samples, list(groups))
        return {groups[g]: sample for g, sample in samples.items()}

    # the output file holds no write times: no timestamps, no sinceSeconds
    log_features: frozenset[str] = frozenset()

    def previous_logs(self, pod_uid: str, container: str, tail: int | None = None) -> AsyncIterator[bytes] | None:
        return self.previous.read(pod_uid, container, tail)

    async def logs(self, cid: str, tail: int | None = None, follow: bool = False, *, timestamps: bool = False,
                   since: float | None = None) -> AsyncIterator[bytes]:
        """The container's output; with ``follow``, keeps yielding until the process has ended
        and everything it wrote was read."""
        path = self.state_dir / cid / "output.log"
        if self._load(cid) is None or not path.exists():
            return

        def alive() -> bool:
            rec = self._load(cid)
            return rec is not None and self._leader_alive(rec)

        async for chunk in read_log(path, tail, alive if follow else None):
            yield chunk
