"""The Docker runtime: one Docker container per pod container, through the ``docker`` SDK.

Threading: the SDK is blocking, so every call runs in this runtime's own thread pool (not
the loop's default one, which followed log streams would starve) under a timeout. A call
that times out leaves its thread to finish on its own; the caller sees ``TimeoutError``.

Containers carry the ``haplane.*`` labels of :mod:`node_agent.runtime.base`, so a restarted
agent adopts them with ``list_managed`` (filtered by ``haplane.node``). Ports are published
on the node address only (``hostPort`` or a port the engine picks). ``resources.limits``
become ``nano_cpus`` / ``mem_limit``. Containers run with ``init`` (the engine's tini) so
``sh`` as the main process still dies on SIGTERM and zombies are reaped.

Images: ``IfNotPresent`` and ``Never`` never contact a registry when the image is local;
missing + ``Never`` is ``ImageNotFound``; missing + a failed pull is ``ErrImagePull``.
``Always`` (the Kubernetes default for untagged or ``:latest`` images) pulls, and on this
offline-first system falls back to a local copy when the pull fails (logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import logging
import math
import os
import re
import signal
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

import docker
import docker.errors

from haplane.aio import wait_for
from haplane.model.quantity import parse_cpu, parse_memory
from node_agent.errlog import OnceLogger
from node_agent.runtime.base import (
    L_NODE,
    ContainerState,
    RuntimeStartError,
    container_env,
    container_labels,
    declared_ports,
    ensure_port_free,
    expand,
    host_port_map,
    identity_from_labels,
    port_names_from_labels,
)
from node_agent.runtime.logfile import PreviousLogs
from node_agent.usage import Sample, docker_sample

log = logging.getLogger(__name__)
T = TypeVar("T")

_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def parse_docker_time(s: str | None) -> float | None:
    """Docker's RFC 3339 with nanoseconds -> epoch seconds; the zero time -> None."""
    m = _TIME.match(s or "")
    if not m or m.group(1).startswith("0001-"):
        return None
    frac = (m.group(2) or "0")[:6].ljust(6, "0")
    tz = "+00:00" if m.group(3) == "Z" else m.group(3)
    return datetime.fromisoformat(f"{m.group(1)}.{frac}{tz}").timestamp()


def pull_policy(container: dict) -> str:
    policy = container.get("imagePullPolicy")
    if policy in ("Always", "IfNotPresent", "Never"):
        return policy
    image = str(container.get("image") or "")
    tag = image.rsplit("/", 1)[-1]
    return "Always" if "@" not in image and (":" not in tag or tag.endswith(":latest")) else "IfNotPresent"


def _start_error(e: docker.errors.APIError) -> RuntimeStartError | None:
    """Classify an engine error caused by the pod itself; None means 'transient, re-raise'."""
    text = str(getattr(e, "explanation", None) or e)
    low = text.lower()
    if "port is already allocated" in low or "address already in use" in low:
        return RuntimeStartError("PortInUse", text)
    if "executable file not found" in low or ("no such file or directory" in low and "exec" in low):
        return RuntimeStartError("CommandNotFound", text)
    if e.status_code is not None and 400 <= e.status_code < 500 and e.status_code != 404:
        return RuntimeStartError("RunContainerError", text)
    return None


def _limits(container: dict) -> dict[str, int]:
    """``resources.limits`` as Docker host-config arguments."""
    limits = (container.get("resources") or {}).get("limits") or {}
    try:
        out = {}
        if "cpu" in limits:
            out["nano_cpus"] = parse_cpu(limits["cpu"]) * 1_000_000
        if "memory" in limits:
            out["mem_limit"] = parse_memory(limits["memory"])
        return out
    except ValueError as e:
        raise RuntimeStartError("InvalidSpec", f"bad resources.limits: {e}") from e


def _name(*parts: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_.-]", "-", "_".join(p for p in parts if p))[:200]


class DockerRuntime:
    name = "docker"

    def __init__(
        self,
        node_name: str,
        client: docker.DockerClient | None = None,
        *,
        call_timeout: float = 30.0,
        pull_timeout: float = 300.0,
        workers: int = 8,
        previous_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.node_name = node_name
        # where a restarted container's output is kept for --previous (None: not kept)
        self.previous = PreviousLogs(previous_dir) if previous_dir is not None else None
        self.call_timeout = call_timeout
        self.pull_timeout = pull_timeout
        self._client = client
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"docker-{node_name}")
        # stats calls have their own threads: on some engines (20.10) a one-shot call still takes
        # about a second, and they must not hold up the pod sync's inspects and starts
        self._stats_pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"docker-stats-{node_name}")
        self._stats_errors = OnceLogger(log)

    def close(self) -> None:
        """Release the thread pool (in-flight calls finish on their own)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._stats_pool.shutdown(wait=False, cancel_futures=True)

    async def _call(self, fn: Callable[..., T], *args: Any, timeout: float | None = None, **kw: Any) -> T:
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(self._pool, functools.partial(fn, *args, **kw))
        return await wait_for(fut, timeout or self.call_timeout)

    async def _api(self) -> docker.APIClient:
        if self._client is None:
            # from_env asks the engine for its API version: a blocking call
            self._client = await self._call(docker.from_env, timeout=self.call_timeout)
        return self._client.api

    # --- images ----------------------------------------------------------------------------

    async def _ensure_image(self, api: docker.APIClient, image: str, policy: str) -> dict[str, Any]:
        """The image's attributes, pulling it first if the policy asks for that."""
        try:
            attrs = await self._call(api.inspect_image, image)
        except docker.errors.ImageNotFound:
            attrs = None
        present = attrs is not None
        if present and policy != "Always":
            return attrs
        if not present and policy == "Never":
            raise RuntimeStartError(
                "ImageNotFound", f"image {image!r} is not present and imagePullPolicy is Never"
            )
        repo, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
        try:
            await self._call(api.pull, repo, tag=tag, timeout=self.pull_timeout)
        except (docker.errors.APIError, docker.errors.DockerException, TimeoutError, OSError) as e:
            if present:
                log.warning("pull of %s failed (%s); using the local image", image, e)
                return attrs
            raise RuntimeStartError("ErrImagePull", f"cannot pull {image!r}: {e}") from e
        return await self._call(api.inspect_image, image)

    async def _check_command(
        self, api: docker.APIClient, cid: str, image: dict, container: dict, env: dict, argv: list[str] | None
    ) -> None:
        """Raise CommandNotFound unless the command the spec names exists in the created
        container's filesystem (looked up on PATH from the spec's env, else the image's).

        The engine would report this itself, but the ``init`` process (tini) turns it into
        an exit 127 after a successful start; a stat per PATH entry keeps the clear error.
        An image entrypoint (no ``command``) is trusted."""
        config = image.get("Config") or {}
        if not argv or (not container.get("command") and config.get("Entrypoint")):
            return
        argv0 = argv[0]
        image_env = dict(e.split("=", 1) for e in config.get("Env") or [] if "=" in e)
        path = env.get("PATH") or image_env.get("PATH") or _DEFAULT_PATH
        workdir = container.get("workingDir") or config.get("WorkingDir") or "/"
        if "/" in argv0:
            candidates = [argv0 if argv0.startswith("/") else f"{workdir.rstrip('/')}/{argv0}"]
        else:
            candidates = [f"{d.rstrip('/')}/{argv0}" for d in path.split(":") if d]

        def exists(p: str) -> bool:
            # HEAD /containers/{id}/archive is the engine's stat; the SDK has no public call for it
            res = api.head(api._url("/containers/{0}/archive", cid), params={"path": p})
            return res.status_code != 404

        for candidate in candidates:
            if await self._call(exists, candidate):
                return
        raise RuntimeStartError(
            "CommandNotFound", f"executable {argv0!r} not found in the image (PATH={path})"
        )

    # --- Runtime ---------------------------------------------------------------------------

    async def start(
        self, pod: dict, container: dict, *, epoch: int, host_ip: str, restart_count: int = 0
    ) -> str:
        api = await self._api()
        image = str(container.get("image") or "")
        if not image:
            raise RuntimeStartError("InvalidSpec", "container has no image")
        image_attrs = await self._ensure_image(api, image, pull_policy(container))

        decls = declared_ports(container)
        for d in decls:
            if d.host_port:
                ensure_port_free(host_ip, d.host_port, d.protocol)
        env = container_env(
            pod,
            container,
            host_ip=host_ip,
            listen_ports=host_port_map(decls, {d.container_port: d.container_port for d in decls}),
        )
        host_config = api.create_host_config(
            port_bindings={f"{d.container_port}/{d.protocol}": (host_ip, d.host_port or None) for d in decls},
            init=True,
            **_limits(container),
        )
        meta = pod.get("metadata") or {}
        labels = container_labels(
            pod, container, epoch=epoch, node=self.node_name, restart_count=restart_count
        )
        command = [expand(a, env) for a in container.get("command") or []] or None
        args = [expand(a, env) for a in container.get("args") or []] or None
        try:
            created = await self._call(
                api.create_container,
                image,
                command=args,
                entrypoint=command,
                environment=env,
                labels=labels,
                ports=[(d.container_port, d.protocol) for d in decls],
                host_config=host_config,
                working_dir=container.get("workingDir"),
                detach=True,
                name=_name(
                    "haplane",
                    self.node_name,
                    meta.get("namespace") or "default",
                    meta.get("name", ""),
                    container.get("name", ""),
                    uuid.uuid4().hex[:8],
                ),
            )
        except docker.errors.APIError as e:
            raise _start_error(e) or e from e
        cid = created["Id"]
        try:
            await self._check_command(api, cid, image_attrs, container, env, command or args)
            await self._call(api.start, cid)
        except RuntimeStartError:
            await self.remove(cid)
            raise
        except docker.errors.APIError as e:
            await self.remove(cid)
            raise _start_error(e) or e from e
        except BaseException:
            await asyncio.shield(self.remove(cid))
            raise
        return cid

    async def stop(self, cid: str, grace: float) -> None:
        api = await self._api()
        seconds = max(0, math.ceil(grace))
        try:
            # the SDK widens its own HTTP timeout by ``timeout``; so must we
            await self._call(
                functools.partial(api.stop, cid, timeout=seconds), timeout=seconds + self.call_timeout
            )
        except docker.errors.NotFound:
            pass

    async def inspect(self, cid: str) -> ContainerState | None:
        api = await self._api()
        try:
            attrs = await self._call(api.inspect_container, cid)
        except docker.errors.NotFound:
            return None
        return self._state(attrs)

    async def list_managed(self) -> list[ContainerState]:
        api = await self._api()
        summaries = await self._call(
            api.containers, all=True, filters={"label": f"{L_NODE}={self.node_name}"}
        )
        states = await asyncio.gather(*(self.inspect(s["Id"]) for s in summaries))
        return [s for s in states if s is not None]

    async def remove(self, cid: str, *, keep_log: bool = False) -> None:
        api = await self._api()
        if self.previous is not None:
            await self._keep_previous(api, cid, keep_log)
        try:
            await self._call(api.remove_container, cid, force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as e:
            if e.status_code != 409:  # "removal already in progress"
                raise

    async def usage(self, states: list[ContainerState]) -> dict[str, Sample]:
        """CPU and memory of each running container from the engine's one-shot stats (the
        cgroup counters, read without the engine's 1-2 s wait for a second reading); a container
        the engine cannot read now is left out."""
        api = await self._api()

        def read(cid: str) -> dict[str, Any]:
            try:
                return api.stats(cid, stream=False, one_shot=True)
            except docker.errors.InvalidVersion:  # an engine older than API 1.41: the slow form
                return api.stats(cid, stream=False)

        loop = asyncio.get_running_loop()

        async def one(cid: str) -> tuple[str, Sample | None]:
            try:
                async with asyncio.timeout(self.call_timeout):  # not wait_for, which can drop a cancel (gh-86296)
                    stats = await loop.run_in_executor(self._stats_pool, read, cid)
            except docker.errors.NotFound:  # removed since it was observed
                return cid, None
            except (docker.errors.APIError, docker.errors.DockerException, TimeoutError, OSError) as exc:
                failed.append(exc)
                return cid, None
            return cid, docker_sample(stats, parse_docker_time(stats.get("read")))

        failed: list[BaseException] = []
        got = await asyncio.gather(*(one(s.cid) for s in states if s.running))
        if failed:
            self._stats_errors.failed("container stats", failed[0])
        else:
            self._stats_errors.ok("container stats")
        return {cid: sample for cid, sample in got if sample is not None}

    async def exec(self, cid: str, argv: list[str], timeout: float) -> int:
        """Exit code of ``argv`` run inside the container (TimeoutError after ``timeout``; the
        command itself is not killed then, Docker has no API for that)."""
        api = await self._api()

        def run() -> int:
            ex = api.exec_create(cid, argv, stdout=False, stderr=False)
            api.exec_start(ex["Id"], detach=False)
            # exec_start can return before the engine has recorded the exit
            deadline = time.monotonic() + timeout
            while (result := api.exec_inspect(ex["Id"])).get("Running") and time.monotonic() < deadline:
                time.sleep(0.01)
            code = result.get("ExitCode")
            return 126 if code is None else int(code)

        return await self._call(run, timeout=timeout)

    log_features: frozenset[str] = frozenset({"timestamps", "since"})

    async def _keep_previous(self, api: docker.APIClient, cid: str, keep: bool) -> None:
        """Before a restart removes the container, copy its output aside (or, when it goes for
        good, drop what an earlier instance left)."""
        assert self.previous is not None
        try:
            attrs = await self._call(api.inspect_container, cid)
        except docker.errors.NotFound:
            return
        ident = identity_from_labels((attrs.get("Config") or {}).get("Labels") or {})
        if not keep:
            self.previous.forget(ident["pod_uid"], ident["container"])
            return
        try:
            data = await self._call(api.logs, cid, stdout=True, stderr=True, stream=False)
        except (docker.errors.APIError, TimeoutError) as e:
            log.warning("could not keep the output of %s for --previous: %s", cid[:12], e)
            return
        await asyncio.to_thread(self.previous.keep_bytes, ident["pod_uid"], ident["container"], data)

    def previous_logs(self, pod_uid: str, container: str, tail: int | None = None) -> AsyncIterator[bytes] | None:
        return self.previous.read(pod_uid, container, tail) if self.previous is not None else None

    async def logs(self, cid: str, tail: int | None = None, follow: bool = False, *, timestamps: bool = False,
                   since: float | None = None) -> AsyncIterator[bytes]:
        """stdout+stderr of the container. Reads on a dedicated thread, so a followed stream
        never occupies the call pool; closing the generator closes the stream."""
        api = await self._api()
        extra: dict[str, Any] = {"timestamps": timestamps}
        if since is not None:
            extra["since"] = since
        try:
            stream = await self._call(
                api.logs, cid, stream=True, follow=follow, tail="all" if tail is None else tail, **extra
            )
        except docker.errors.NotFound:
            return
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue()

        def pump() -> None:
            item: bytes | BaseException | None = None
            try:
                for chunk in stream:
                    loop.call_soon_threadsafe(queue.put_nowait, chunk)
            except BaseException as e:  # handed to the consumer (or dropped if it is gone)
                item = e
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody is listening
                pass

        threading.Thread(target=pump, name=f"docker-logs-{cid[:12]}", daemon=True).start()
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            await loop.run_in_executor(None, stream.close)

    async def exec_session(self, cid: str, argv: list[str], *, stdin: bool, stdout: bool, stderr: bool,
                           tty: bool) -> DockerExec:
        """``docker exec`` through the low-level API: created and started (hijacked) on the call
        pool, then streamed on the event loop over the engine's socket."""
        api = await self._api()
        try:
            ex = await self._call(api.exec_create, cid, argv, stdin=stdin, stdout=stdout, stderr=stderr, tty=tty)
        except docker.errors.NotFound:
            raise LookupError(f"no container {cid}") from None
        except docker.errors.APIError as e:
            if e.status_code == 409:  # "container ... is not running"
                raise LookupError(str(getattr(e, "explanation", None) or e)) from None
            raise
        exec_id = ex["Id"]
        hijacked = await self._call(api.exec_start, exec_id, tty=tty, socket=True)
        sock, leftover = _raw_socket(hijacked)
        return DockerExec(self, exec_id, sock, leftover, tty=tty)

    async def open_port(self, cid: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Connect to 127.0.0.1:``port`` inside the container's network namespace (a socket made
        in that namespace on a short-lived thread), never to the container's bridge address."""
        api = await self._api()
        try:
            attrs = await self._call(api.inspect_container, cid)
        except docker.errors.NotFound:
            raise LookupError(f"no container {cid}") from None
        pid = int((attrs.get("State") or {}).get("Pid") or 0)
        if not pid:
            raise LookupError(f"container {cid} is not running")
        sock = await _socket_in_netns(pid)
        try:
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        except BaseException:
            sock.close()
            raise
        return await asyncio.open_connection(sock=sock)

    # --- decoding --------------------------------------------------------------------------

    def _state(self, attrs: dict[str, Any]) -> ContainerState:
        labels = (attrs.get("Config") or {}).get("Labels") or {}
        st = attrs.get("State") or {}
        started = parse_docker_time(st.get("StartedAt"))
        running = bool(st.get("Running"))
        bound: dict[int, int] = {}
        for key, bindings in ((attrs.get("NetworkSettings") or {}).get("Ports") or {}).items():
            for b in bindings or []:
                if b.get("HostPort"):
                    bound[int(key.split("/")[0])] = int(b["HostPort"])
                    break
        names = port_names_from_labels(labels)
        host_ports = {str(cp): hp for cp, hp in bound.items()} | {
            names[cp]: hp for cp, hp in bound.items() if cp in names
        }
        reason = message = None
        exit_code: int | None = None
        finished = None
        if not running:
            finished = parse_docker_time(st.get("FinishedAt"))
            if finished is not None and started is not None:
                finished = max(finished, started)  # the engine can stamp a quick exit before the start
            if started is None:
                reason, message = "NotStarted", st.get("Error") or "created but never started"
            else:
                exit_code = int(st.get("ExitCode") or 0)
                reason = "OOMKilled" if st.get("OOMKilled") else None
                message = st.get("Error") or None
        return ContainerState(
            cid=attrs["Id"],
            **identity_from_labels(labels),
            running=running,
            exit_code=exit_code,
            started_at=started,
            finished_at=finished,
            host_ports=host_ports,
            reason=reason,
            message=message,
        )


# --- exec ----------------------------------------------------------------------------------


def demux(buf: bytearray) -> list[tuple[int, bytes]]:
    """Take the complete frames of Docker's multiplexed exec/attach stream out of ``buf``:
    ``[stream, 0, 0, 0, size (4 bytes, big endian)]`` then ``size`` bytes; stream 1 is
    stdout, 2 stderr. An incomplete frame stays in ``buf`` (pure)."""
    out = []
    while len(buf) >= 8:
        size = int.from_bytes(buf[4:8], "big")
        if len(buf) < 8 + size:
            break
        channel = buf[0] if buf[0] in (1, 2) else 1
        out.append((channel, bytes(buf[8:8 + size])))
        del buf[:8 + size]
    return out


def _raw_socket(hijacked: Any) -> tuple[socket.socket, bytes]:
    """The socket under the SDK's hijacked response, and any bytes its HTTP reader had
    already buffered past the headers (they belong to the stream)."""
    sock = getattr(hijacked, "_sock", hijacked)
    leftover = b""
    response = getattr(hijacked, "_response", None)
    sock.setblocking(False)
    fp = getattr(getattr(getattr(response, "raw", None), "_fp", None), "fp", None)
    if fp is not None:
        try:
            leftover = fp.read1(1 << 20) or b""
        except (BlockingIOError, OSError, ValueError):
            leftover = b""
    return sock, leftover


class DockerExec:
    """One ``docker exec`` with its streams on the engine socket (use from one event loop)."""

    def __init__(self, runtime: DockerRuntime, exec_id: str, sock: socket.socket, leftover: bytes, *,
                 tty: bool) -> None:
        self._rt = runtime
        self.exec_id = exec_id
        self._sock = sock
        self._leftover = leftover
        self._tty = tty
        self._stdin_closed = False
        self._code: int | None = None

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        loop = asyncio.get_running_loop()
        buf = bytearray(self._leftover)
        self._leftover = b""
        while True:
            if self._tty and buf:
                yield 1, bytes(buf)
                buf.clear()
            for item in ([] if self._tty else demux(buf)):
                yield item
            try:
                chunk = await loop.sock_recv(self._sock, 65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk

    async def write(self, data: bytes) -> None:
        if self._stdin_closed or not data:
            return
        try:
            await asyncio.get_running_loop().sock_sendall(self._sock, data)
        except OSError:
            self._stdin_closed = True

    async def close_stdin(self) -> None:
        if not self._stdin_closed:
            self._stdin_closed = True
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_WR)  # the engine closes the command's stdin

    async def resize(self, width: int, height: int) -> None:
        api = await self._rt._api()
        with contextlib.suppress(docker.errors.APIError, TimeoutError):
            await self._rt._call(api.exec_resize, self.exec_id, height=height, width=width)

    async def wait(self) -> int:
        if self._code is None:
            api = await self._rt._api()
            deadline = time.monotonic() + self._rt.call_timeout
            while (info := await self._rt._call(api.exec_inspect, self.exec_id)).get("Running") and \
                    time.monotonic() < deadline:
                await asyncio.sleep(0.02)  # the engine records the exit just after the stream ends
            code = info.get("ExitCode")
            self._code = 126 if code is None else int(code)
            with contextlib.suppress(OSError):
                self._sock.close()
        return self._code

    async def kill(self) -> None:
        """SIGKILL the command by its host pid (the engine has no call for that), then reap."""
        api = await self._rt._api()
        with contextlib.suppress(docker.errors.APIError, TimeoutError):
            info = await self._rt._call(api.exec_inspect, self.exec_id)
            if info.get("Running") and info.get("Pid"):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(info["Pid"]), signal.SIGKILL)
        with contextlib.suppress(OSError):
            self._sock.close()
        with contextlib.suppress(docker.errors.APIError, TimeoutError):
            await self.wait()


_CLONE_NEWNET = 0x40000000


async def _socket_in_netns(pid: int) -> socket.socket:
    """A TCP socket created inside the network namespace of ``pid``. A thread may switch its
    own network namespace (setns); the socket keeps the namespace it was made in, and the
    thread ends right after, so no other code ever runs in that namespace."""
    result: list[socket.socket | BaseException] = []

    def make() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
            try:
                if libc.setns(fd, _CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns into the network namespace of pid {pid}: {os.strerror(err)}")
            finally:
                os.close(fd)
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            result.append(s)
        except BaseException as e:  # handed to the caller
            result.append(e)

    t = threading.Thread(target=make, name=f"netns-{pid}", daemon=True)
    t.start()
    await asyncio.to_thread(t.join, 10)
    if not result:
        raise TimeoutError(f"entering the network namespace of pid {pid} timed out")
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]
