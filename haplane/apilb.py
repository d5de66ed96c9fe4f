"""The API load balancer: one local address for kubectl, forwarded to the healthy replicas.

kubectl (and anything else holding a kubeconfig) talks to a single server address. Like the
load balancer k3s's agent runs on 127.0.0.1:6443, this one listens on a local address and
passes each TCP connection through to one replica — TLS stays end to end, so the replicas'
certificates must name the balancer's address too (kubectl checks it against the address it
dialled). It is run by every node agent (``haplane-agent --api-lb ADDRESS:PORT``), by
``haplane up`` (on 127.0.0.1:P, P its base port), or on its own
(``haplane api-lb --listen ADDRESS:PORT --servers URL,... [--ca PEM]``).

How it chooses (the pure :class:`Pool`):

* Each replica's health comes from ``GET /readyz`` probes (every ``interval`` s, each bounded
  by ``timeout`` s): ``ready`` (200), ``unready`` (it answered otherwise — alive, but without
  a leader or not caught up), ``down`` (no answer: refused, reset, timed out), or ``unknown``
  before its first probe.
* New connections stick to one replica (the *current* one) while it is ready, so a client's
  consecutive requests see one replica's view; the current replica changes when it stops
  being ready or a connection to it fails, to the next one in ring order.
* A connection tries the replicas in order — current first, then the other ready ones, then
  unknown, unready and down ones as a last resort (during an election every replica is
  unready for a moment: the client should then see the API's own 503, not a reset). A
  replica that refuses the connection or does not accept it within ``connect_timeout`` is
  marked down and the next one is tried before the client notices anything.
* Established connections are never cut: when a replica goes down or unready, only new
  connections go elsewhere; the old ones end when either side closes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import ssl
import sys
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from haplane.aio import wait_for
from haplane.tcp import splice
from haplane.tls import ca_context

log = logging.getLogger(__name__)

PROBE_INTERVAL = 1.0
PROBE_TIMEOUT = 1.0
CONNECT_TIMEOUT = 1.0

READY, UNKNOWN, UNREADY, DOWN = "ready", "unknown", "unready", "down"
_RANK = {READY: 0, UNKNOWN: 1, UNREADY: 2, DOWN: 3}


@dataclass(frozen=True)
class Backend:
    """One replica: where to forward (host, port) and its URL for probes."""

    url: str
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> Backend:
        """``https://host:port`` (or ``host:port``, meaning http). Raises ValueError."""
        url = url.strip().rstrip("/")
        if "://" not in url:
            url = "http://" + url
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(url, parts.hostname, port)

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_listen(text: str) -> tuple[str, int]:
    """``ADDRESS:PORT`` → (address, port). Raises ValueError."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected ADDRESS:PORT, not {text!r}")
    return host.strip("[]"), int(port)


class Pool:
    """Which replica a new connection goes to. Pure: no I/O, no clock; the balancer reports
    what it sees (:meth:`observe`, :meth:`connected`, :meth:`failed`) and asks :meth:`order`."""

    def __init__(self, backends: list[Backend]) -> None:
        if not backends:
            raise ValueError("at least one replica is needed")
        self.backends = list(dict.fromkeys(backends))
        self.health: dict[Backend, str] = dict.fromkeys(self.backends, UNKNOWN)
        self.current = self.backends[0]

    def _ring(self) -> list[Backend]:
        """Every backend once, starting at the current one."""
        i = self.backends.index(self.current)
        return self.backends[i:] + self.backends[:i]

    def order(self) -> list[Backend]:
        """The replicas a new connection tries, in turn: the best health first, ring order
        (from the current replica) within the same health."""
        ring = self._ring()
        return sorted(ring, key=lambda b: (_RANK[self.health[b]], ring.index(b)))

    def observe(self, backend: Backend, health: str) -> None:
        """A probe's result. The current replica is given up once it is not ready and another is."""
        self.health[backend] = health
        self._settle()

    def connected(self, backend: Backend) -> None:
        """A connection to ``backend`` was accepted: stay with it (unless a ready one is known and
        it is not: then it was a last resort)."""
        if self.health[backend] == DOWN:
            self.health[backend] = UNKNOWN
        if self.health[backend] == READY or not any(h == READY for h in self.health.values()):
            self.current = backend

    def failed(self, backend: Backend) -> None:
        """A connection to ``backend`` failed (refused, timed out): it is down until a probe says
        otherwise."""
        self.health[backend] = DOWN
        self._settle()

    def _settle(self) -> None:
        if self.health[self.current] == READY:
            return
        best = self.order()[0]
        if _RANK[self.health[best]] < _RANK[self.health[self.current]]:
            self.current = best


class ApiLoadBalancer:
    """Listens on ``listen``; probes and forwards to ``servers`` (see the module docstring)."""

    def __init__(self, listen: tuple[str, int], servers: list[str], *, ssl_context: ssl.SSLContext | None = None,
                 interval: float = PROBE_INTERVAL, timeout: float = PROBE_TIMEOUT,
                 connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self.listen = listen
        self.pool = Pool([Backend.parse(s) for s in servers])
        self.ssl_context = ssl_context
        self.interval, self.timeout, self.connect_timeout = interval, timeout, connect_timeout
        self.server: asyncio.Server | None = None
        self.connections: set[asyncio.Task] = set()
        self._logged: dict[Backend, str] = {}

    async def start(self) -> None:
        """Bind the listener (raises OSError when the address cannot be bound)."""
        self.server = await asyncio.start_server(self._serve, self.listen[0], self.listen[1], reuse_address=True)
        log.info("api load balancer on %s:%d -> %s", self.listen[0], self.listen[1],
                 ", ".join(str(b) for b in self.pool.backends))

    async def run(self) -> None:
        """Bind (retrying every few seconds while the address is taken) and probe until cancelled."""
        bind_error = ""
        while self.server is None:
            try:
                await self.start()
            except OSError as exc:
                if str(exc) != bind_error:
                    bind_error = str(exc)
                    log.warning("api load balancer cannot listen on %s:%d: %s; retrying", *self.listen, exc)
                await asyncio.sleep(3.0)
        try:
            await self.probe_forever()
        finally:
            await self.close()

    async def probe_forever(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        connector = aiohttp.TCPConnector(ssl=self.ssl_context if self.ssl_context is not None else True)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            while True:
                await asyncio.gather(*(self.probe(session, b) for b in self.pool.backends))
                await asyncio.sleep(self.interval)

    async def probe(self, session: aiohttp.ClientSession, backend: Backend) -> str:
        try:
            async with session.get(backend.url + "/readyz") as resp:
                await resp.read()
                health, seen = (READY, "ready") if resp.status == 200 else (UNREADY, f"HTTP {resp.status}")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            health, seen = DOWN, f"{exc.__class__.__name__} {exc}".strip()
        self.pool.observe(backend, health)
        if self._logged.get(backend, READY) != health:
            if health == READY:
                log.info("api load balancer: %s is ready again", backend)
            else:
                log.warning("api load balancer: %s is %s (%s)", backend, health, seen)
        self._logged[backend] = health
        return health

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, Backend]:
        """A connection to the first replica in the pool's order that accepts one."""
        last: Exception | None = None
        for backend in self.pool.order():
            try:
                reader, writer = await wait_for(asyncio.open_connection(backend.host, backend.port),
                                                        self.connect_timeout)
            except (OSError, TimeoutError) as exc:
                last = exc
                self.pool.failed(backend)
                continue
            self.pool.connected(backend)
            return reader, writer, backend
        raise ConnectionError(f"no replica accepted the connection: {last}")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.connections.add(task)
        try:
            try:
                up_reader, up_writer, _ = await self.connect()
            except ConnectionError as exc:
                log.warning("api load balancer: %s", exc)
                writer.close()
                return
            await splice((reader, writer), (up_reader, up_writer))
        finally:
            if task is not None:
                self.connections.discard(task)

    async def close(self) -> None:
        """Stop listening and end the connections still open."""
        if self.server is not None:
            self.server.close()
            self.server = None
        for t in list(self.connections):
            t.cancel()
        await asyncio.gather(*self.connections, return_exceptions=True)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listen", required=True, metavar="ADDRESS:PORT", help="where kubectl connects, e.g. 127.0.0.1:6443")
    p.add_argument("--servers", required=True, help="the replicas' API URLs, comma-separated")
    p.add_argument("--ca", metavar="PEM", default=None,
                   help="CA bundle that verifies the replicas' certificates in health probes")
    p.add_argument("--log-level", default="INFO")


def main_lb(args: argparse.Namespace) -> int:
    try:
        listen = parse_listen(args.listen)
        servers = [s for s in args.servers.split(",") if s.strip()]
        ctx = ca_context(args.ca)
        lb = ApiLoadBalancer(listen, servers, ssl_context=ctx)
    except ValueError as exc:
        print(f"haplane api-lb: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)

    async def amain() -> None:
        await lb.start()
        await lb.run()

    with contextlib.suppress(KeyboardInterrupt):
        try:
            asyncio.run(amain())
        except OSError as exc:
            print(f"haplane api-lb: cannot listen on {args.listen}: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    _p = argparse.ArgumentParser(prog="python -m haplane.apilb")
    add_arguments(_p)
    sys.exit(main_lb(_p.parse_args()))
