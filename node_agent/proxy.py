"""The node's service proxy: ``<node address>:<service port>`` → the Service's ready endpoints.

It watches Services and Endpoints (informers), derives the table of listeners with the pure
:func:`proxy_table`, and reconciles asyncio TCP servers against it: a listener starts when a
Service (port) appears, stops when it goes, and keeps its socket while only its backends change.
Connections are balanced round-robin; a refused connection is retried on the next endpoint
before the client sees an error; existing connections are never cut when an endpoint goes away
(they end when either side closes). A port that cannot be bound is an Event on the Service and
is retried, never a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from haplane.aio import wait_for
from haplane.client import Client
from haplane.informer import Informer
from haplane.tcp import splice
from node_agent.metrics import AgentMetrics

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 1.0
RESYNC = 5.0
Backend = tuple[str, int]
Key = tuple[str, str, int]  # namespace, service, listen port


def proxy_table(services: list[dict], endpoints: dict[tuple[str, str], dict]) -> dict[Key, list[Backend]]:
    """Listeners and their backends. Pure: a service port listens on its ``port`` and, if set,
    its ``nodePort``; backends are the ready addresses of the same-named Endpoints port."""
    table: dict[Key, list[Backend]] = {}
    for svc in services:
        meta, spec = svc["metadata"], svc.get("spec") or {}
        ns, name = meta.get("namespace") or "default", meta["name"]
        ep = endpoints.get((ns, name)) or {}
        ports = spec.get("ports") or []
        for sp in ports:
            backends: list[Backend] = []
            for subset in ep.get("subsets") or []:
                sub_ports = subset.get("ports") or []
                match = [p for p in sub_ports if (p.get("name") or "") == (sp.get("name") or "")]
                if not match and len(ports) == 1 and len(sub_ports) == 1:
                    match = sub_ports
                if not match:
                    continue
                for addr in subset.get("addresses") or []:
                    backends.append((addr["ip"], int(match[0]["port"])))
            backends.sort()
            for port in (sp.get("port"), sp.get("nodePort")):
                if port:
                    table[(ns, name, int(port))] = backends
    return table


class Balancer:
    """Round-robin over a backend list that may be replaced at any time."""

    def __init__(self, backends: list[Backend] | None = None) -> None:
        self.backends: list[Backend] = list(backends or [])
        self._counter = itertools.count()

    def order(self) -> list[Backend]:
        """Every backend once, starting from the next in turn."""
        if not self.backends:
            return []
        start = next(self._counter) % len(self.backends)
        return self.backends[start:] + self.backends[:start]


async def connect_first(order: list[Backend], timeout: float = CONNECT_TIMEOUT,
                        on_refused: Callable[[], None] | None = None,
                        ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, Backend]:
    """Open a connection to the first backend in ``order`` that accepts; raise ConnectionError if none.
    ``on_refused()`` is called for each backend that refused or timed out."""
    last: Exception | None = None
    for backend in order:
        try:
            reader, writer = await wait_for(asyncio.open_connection(*backend), timeout)
            return reader, writer, backend
        except (OSError, TimeoutError) as exc:
            last = exc
            if on_refused is not None:
                on_refused()
    raise ConnectionError(f"no endpoint accepted the connection ({len(order)} tried): {last}")


@dataclass
class Listener:
    port: int
    balancer: Balancer
    server: asyncio.Server | None = None
    connections: set[asyncio.Task] = field(default_factory=set)


class ServiceProxy:
    def __init__(self, address: str, client: Client,
                 on_event: Callable[[dict, str, str], Awaitable[None]] | None = None,
                 metrics: AgentMetrics | None = None) -> None:
        self.address = address
        self.metrics = metrics or AgentMetrics()
        self.client = client
        self.on_event = on_event
        self.listeners: dict[Key, Listener] = {}
        self._wake = asyncio.Event()
        self._failed: dict[Key, str] = {}
        self.services = Informer(client, "Service", namespace=None, on_change=self._wake.set)
        self.endpoints = Informer(client, "Endpoints", namespace=None, on_change=self._wake.set)

    async def run(self) -> None:
        tasks = [asyncio.create_task(self.services.run()), asyncio.create_task(self.endpoints.run())]
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await wait_for(self._wake.wait(), RESYNC)
                self._wake.clear()
                if self.services.synced.is_set() and self.endpoints.synced.is_set():
                    await self.sync()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.close()

    async def sync(self) -> None:
        table = proxy_table(list(self.services.items.values()), self.endpoints.items)
        for key in [k for k in self.listeners if k not in table]:
            await self._stop(key)
        for key, backends in table.items():
            listener = self.listeners.get(key)
            if listener is None:
                await self._start(key, backends)
            else:
                listener.balancer.backends = backends

    async def _start(self, key: Key, backends: list[Backend]) -> None:
        listener = Listener(key[2], Balancer(backends))
        try:
            listener.server = await asyncio.start_server(
                lambda r, w: self._serve(listener, r, w), self.address, key[2], reuse_address=True)
        except OSError as exc:
            message = f"cannot listen on {self.address}:{key[2]} for service {key[0]}/{key[1]}: {exc.strerror}"
            if self._failed.get(key) != message:
                self._failed[key] = message
                log.warning("%s", message)
                svc = self.services.items.get((key[0], key[1]))
                if svc is not None and self.on_event is not None:
                    await self.on_event(svc, "PortInUse", message)
            return
        self._failed.pop(key, None)
        self.listeners[key] = listener
        log.info("proxy: %s:%d -> service %s/%s", self.address, key[2], key[0], key[1])

    async def _stop(self, key: Key) -> None:
        listener = self.listeners.pop(key)
        if listener.server is not None:
            listener.server.close()  # stop accepting; established connections go on to their end
        log.info("proxy: stopped %s:%d", self.address, key[2])

    async def _serve(self, listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            listener.connections.add(task)
        try:
            m = self.metrics
            try:
                up_reader, up_writer, _ = await connect_first(listener.balancer.order(),
                                                              on_refused=m.proxy_refused.inc)
            except ConnectionError:
                m.proxy_connections.labels("no_endpoint").inc()
                return
            m.proxy_connections.labels("proxied").inc()
            await splice((reader, writer), (up_reader, up_writer), count=(m.bytes_in.inc, m.bytes_out.inc))
        finally:
            writer.close()
            if task is not None:
                listener.connections.discard(task)

    async def close(self) -> None:
        for key in list(self.listeners):
            await self._stop(key)
