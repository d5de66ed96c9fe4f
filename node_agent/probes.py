"""Liveness and readiness probes: one probe run (I/O) and a tracker of results (pure).

:func:`run_probe` performs one check and answers True/False; it never raises except on
cancellation. :class:`ProbeTracker` applies ``initialDelaySeconds``, ``periodSeconds``,
``successThreshold`` and ``failureThreshold`` to results fed with an explicit ``now``; the
agent asks it ``due(now)``, runs the probe, and ``observe``\\ s the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aiohttp

from haplane.aio import wait_for
from node_agent.runtime.base import Runtime, resolve_port, run_argv

log = logging.getLogger(__name__)

DEFAULTS = {
    "initialDelaySeconds": 0,
    "periodSeconds": 10,
    "timeoutSeconds": 1,
    "successThreshold": 1,
    "failureThreshold": 3,
}


def _setting(probe: dict, name: str, minimum: float) -> float:
    value = probe.get(name)
    return max(minimum, float(DEFAULTS[name] if value is None else value))


class ProbeTracker:
    """The state of one probe of one container (Kubernetes semantics).

    A readiness tracker starts failing and turns True after ``successThreshold``
    consecutive successes; a liveness tracker starts passing and turns False after
    ``failureThreshold`` consecutive failures. Without a probe the result is always True
    and nothing is ever due. Pure: no clock, no I/O.
    """

    def __init__(self, probe: dict | None, started_at: float, *, initial: bool) -> None:
        self.probe = probe
        p = probe or {}
        self.period = _setting(p, "periodSeconds", 1)
        self.timeout = _setting(p, "timeoutSeconds", 1)
        self.success_threshold = int(_setting(p, "successThreshold", 1))
        self.failure_threshold = int(_setting(p, "failureThreshold", 1))
        self.next_at = started_at + _setting(p, "initialDelaySeconds", 0)
        self.result = initial if probe is not None else True
        self.successes = 0
        self.failures = 0

    @classmethod
    def readiness(cls, probe: dict | None, started_at: float) -> ProbeTracker:
        return cls(probe, started_at, initial=False)

    @classmethod
    def liveness(cls, probe: dict | None, started_at: float) -> ProbeTracker:
        tracker = cls(probe, started_at, initial=True)
        tracker.success_threshold = 1  # Kubernetes requires 1 for liveness
        return tracker

    def due(self, now: float) -> bool:
        """Should a probe run at ``now``?"""
        return self.probe is not None and now >= self.next_at

    def observe(self, ok: bool, now: float) -> bool:
        """Record the outcome of a probe started at ``now``; return the current result."""
        self.next_at = now + self.period
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= self.success_threshold:
                self.result = True
        else:
            self.successes, self.failures = 0, self.failures + 1
            if self.failures >= self.failure_threshold:
                self.result = False
        return self.result


def _host_port(container: dict, port: Any, host_ports: dict[str, int]) -> int | None:
    """Where a probe's port (number or name) is reachable on the node address.

    A declared port maps through ``host_ports``; an undeclared number is used as is (right
    for the process runtime, which shares the host's network; unreachable under Docker)."""
    if port is None:
        return None
    key, container_port = resolve_port(container, port)
    if key in host_ports:
        return host_ports[key]
    if container_port is not None:
        return host_ports.get(str(container_port), container_port)
    return None


async def run_probe(
    probe: dict,
    container: dict,
    host_ip: str,
    host_ports: dict[str, int],
    runtime: Runtime | None = None,
    *,
    cid: str | None = None,
    session: aiohttp.ClientSession | None = None,
) -> bool:
    """Run ``probe`` once against the container; True on success.

    httpGet: a status in [200, 400) within ``timeoutSeconds``, on ``host`` (default the node
    address) and the host port of ``port``. tcpSocket: a connection opens. exec: the
    command exits 0 — inside the container through ``runtime.exec(cid, ...)`` when both are
    given, else as a host subprocess. Any error is a failure; the call never raises except
    on cancellation.
    """
    timeout = _setting(probe, "timeoutSeconds", 1)
    try:
        if (http := probe.get("httpGet")) is not None:
            return await _http(http, container, host_ip, host_ports, timeout, session)
        if (tcp := probe.get("tcpSocket")) is not None:
            port = _host_port(container, tcp.get("port"), host_ports)
            if port is None:
                return False
            _, writer = await wait_for(
                asyncio.open_connection(tcp.get("host") or host_ip, port), timeout
            )
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return True
        if (ex := probe.get("exec")) is not None:
            argv = [str(a) for a in ex.get("command") or []]
            if not argv:
                return False
            if runtime is not None and cid is not None:
                return await runtime.exec(cid, argv, timeout) == 0
            return await run_argv(argv, timeout) == 0
        log.warning("unsupported probe %s: counted as failing", sorted(probe))
        return False
    except (OSError, TimeoutError, aiohttp.ClientError, LookupError, ValueError) as e:
        log.debug("probe failed: %s", e)
        return False


async def _http(
    http: dict,
    container: dict,
    host_ip: str,
    host_ports: dict[str, int],
    timeout: float,
    session: aiohttp.ClientSession | None,
) -> bool:
    port = _host_port(container, http.get("port"), host_ports)
    if port is None:
        return False
    path = str(http.get("path") or "/")
    path = path if path.startswith("/") else "/" + path
    scheme = str(http.get("scheme") or "HTTP").lower()
    url = f"{scheme}://{http.get('host') or host_ip}:{port}{path}"
    headers = {h["name"]: str(h.get("value", "")) for h in http.get("httpHeaders") or [] if h.get("name")}
    headers.setdefault("User-Agent", "haplane-probe/1")
    own = session is None
    session = session or aiohttp.ClientSession()
    try:
        async with session.get(
            url, headers=headers, ssl=False, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as resp:
            return 200 <= resp.status < 400
    finally:
        if own:
            await session.close()
