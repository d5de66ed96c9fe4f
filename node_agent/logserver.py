"""The agent's log endpoint: ``GET /logs/{namespace}/{pod}/{container}?tailLines=N&follow=1&previous=..``
(the options of :mod:`haplane.logoptions`); beside it ``/stats/summary?node=NAME`` (the node's
resource usage, :mod:`node_agent.stats`), ``/metrics`` and the streams.

Served on the node address, or ``--log-address``, over plain HTTP or, with ``--tls-cert`` and
``--tls-key``, HTTPS (the Node's ``status.daemonEndpoints.kubeletEndpoint`` says which);
the API replicas proxy ``/api/v1/namespaces/{ns}/pods/{name}/log`` here (see
:mod:`haplane.api.logs`), so log bytes never touch the Raft log.

Authentication: the caller's bearer token is checked by asking the API who it is
(``GET /cluster/self`` with that token; any authenticated user may read logs, as any user
may read pods). Positive answers are cached for ``ttl`` seconds under the token's SHA-256,
so a followed log or a burst of requests costs one check a minute; refusals are not cached.
A token the API refuses is a 401, an API that cannot be reached a 503. Errors are
Kubernetes Status objects, which the proxy passes through unchanged.

``/healthz`` needs no token. Use from one event loop.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import ssl as ssl_mod
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from haplane import errors
from haplane.client import Client
from haplane.logoptions import LogOptions, parse_log_options
from haplane.metrics import CONTENT_TYPE
from node_agent.runtime.base import ContainerState, Runtime

log = logging.getLogger(__name__)

# (namespace, pod, container) -> the runtime and container to read, or None
Lookup = Callable[[str, str, str], tuple[Runtime, ContainerState] | None]


class TokenChecker:
    """Is this ``Authorization`` header accepted by the API, and with which role? (cached positives)."""

    def __init__(self, endpoints: list[str], *, ttl: float = 60.0, ssl: ssl_mod.SSLContext | None = None,
                 timeout: float = 5.0) -> None:
        self.endpoints = endpoints
        self.ttl = ttl
        self.ssl = ssl
        self.timeout = timeout
        self._ok: dict[str, tuple[float, str]] = {}  # sha256(token) -> (monotonic expiry, role)
        self.checks = 0

    async def check(self, header: str | None, *, admin: bool = False) -> str:
        """The caller's role if the header carries a token the API accepts (and, with ``admin``,
        one of role admin); raise Unauthorized/Forbidden/Unavailable otherwise."""
        if not header or not header.startswith("Bearer ") or not header[7:].strip():
            raise errors.Unauthorized("missing bearer token")
        token = header[7:].strip()
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        expiry, role = self._ok.get(digest, (0.0, ""))
        if expiry <= now:
            role = await self._ask(token)
            if len(self._ok) > 1000:
                self._ok = {k: v for k, v in self._ok.items() if v[0] > now}
            self._ok[digest] = (now + self.ttl, role)
        if admin and role != "admin":
            raise errors.Forbidden(f"role {role or 'unknown'} may not open streams into pods (exec, port-forward "
                                   f"need role admin)")
        return role

    async def _ask(self, token: str) -> str:
        self.checks += 1
        async with Client(self.endpoints, token, ssl=self.ssl, timeout=self.timeout, max_attempts=3) as c:
            try:
                me = await c.request("GET", "/cluster/self")
            except (errors.Unauthorized, errors.Forbidden) as exc:
                raise errors.Unauthorized(f"the API refused the token: {exc.message}") from None
            except errors.HaplaneError as exc:
                raise errors.Unavailable(f"cannot check the token with the API: {exc.message}",
                                         retry_after=2.0) from None
        caller = me.get("caller") if isinstance(me, dict) else None
        return str(caller.get("role") or "") if isinstance(caller, dict) else ""


def _status(exc: errors.HaplaneError) -> web.Response:
    resp = web.json_response(exc.to_status(), status=exc.code)
    if isinstance(exc, errors.Unavailable):
        resp.headers["Retry-After"] = str(max(1, int(round(exc.retry_after))))
    return resp


class LogServer:
    def __init__(self, address: str, port: int, lookup: Lookup, checker: TokenChecker, *,
                 fallback_port: bool = True, ssl_context: ssl_mod.SSLContext | None = None,
                 streams: Any = None, metrics: Callable[[], bytes] | None = None,
                 stats: Callable[[str], dict | None] | None = None) -> None:
        self.address = address
        self.stats = stats  # node name -> its /stats/summary (node_agent.stats), None if not run here
        self.metrics = metrics  # renders the agent's /metrics (any token the API accepts may read it)
        self.ssl_context = ssl_context
        self.port = port
        self.lookup = lookup
        self.checker = checker
        self.fallback_port = fallback_port
        self.streams = streams  # node_agent.streams.StreamServer: exec and port-forward beside the logs
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/logs/{ns}/{pod}/{container}", self._logs)
        if self.streams is not None:
            self.streams.add_routes(app)
        if self.metrics is not None:
            app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/stats/summary", self._stats)
        return app

    async def start(self) -> int:
        """Listen; return the port. If ``port`` is taken and ``fallback_port`` is set, listen
        on a free port instead (the Node publishes whichever port is bound)."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        try:
            site = web.TCPSite(self._runner, self.address, self.port, ssl_context=self.ssl_context)
            await site.start()
        except OSError as exc:
            if not self.fallback_port or exc.errno != errno.EADDRINUSE:
                raise
            log.warning("log port %s:%s is taken; using a free port", self.address, self.port)
            site = web.TCPSite(self._runner, self.address, 0, ssl_context=self.ssl_context)
            await site.start()
        server: Any = site._server  # aiohttp exposes no public accessor for the bound port
        self.port = server.sockets[0].getsockname()[1]
        log.info("serving logs on %s://%s:%d", "https" if self.ssl_context else "http", self.address, self.port)
        return self.port

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _metrics(self, request: web.Request) -> web.Response:
        assert self.metrics is not None
        try:
            await self.checker.check(request.headers.get("Authorization"))
        except errors.HaplaneError as exc:
            return _status(exc)
        return web.Response(body=self.metrics(), headers={"Content-Type": CONTENT_TYPE})

    async def _stats(self, request: web.Request) -> web.Response:
        """``GET /stats/summary?node=NAME``: the node's resource usage (any token the API accepts)."""
        try:
            await self.checker.check(request.headers.get("Authorization"))
            node = request.query.get("node", "")
            doc = self.stats(node) if self.stats is not None else None
            if doc is None:
                raise errors.NotFound(f'this agent measures no usage of node "{node}"' if self.stats is not None
                                      else "this agent measures no usage (hollow nodes run nothing)")
        except errors.HaplaneError as exc:
            return _status(exc)
        return web.json_response(doc)

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        try:
            await self.checker.check(request.headers.get("Authorization"))
            opts = parse_log_options(request.query)
            ns, pod, container = (request.match_info[k] for k in ("ns", "pod", "container"))
            found = self.lookup(ns, pod, container)
            if found is None:
                raise errors.NotFound(f'container "{container}" of pod "{pod}" in namespace "{ns}" '
                                      f"is not on this node (or has not started yet)")
            runtime, state = found
            stream = log_stream(runtime, state, opts, pod)
        except errors.HaplaneError as exc:
            return _status(exc)
        resp = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
        await resp.prepare(request)
        left = opts.limit_bytes
        try:
            async for chunk in stream:
                if left is not None:
                    chunk = chunk[:left]
                    left -= len(chunk)
                await resp.write(chunk)
                if left == 0:
                    break
        except ConnectionResetError:
            pass  # the reader went away
        except Exception as exc:  # noqa: BLE001 - the headers are sent: end the stream, say why in the log
            log.warning("log stream of %s/%s/%s ended: %s", ns, pod, container, exc)
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
        return resp


def log_stream(runtime: Runtime, state: ContainerState, opts: LogOptions, pod: str) -> AsyncIterator[bytes]:
    """The runtime's stream for these options, or the API server's error (BadRequest) for
    what cannot be served: no previous instance, an option the runtime cannot honour."""
    if opts.previous:
        previous = runtime.previous_logs(state.pod_uid, state.container, opts.tail)
        if previous is None:
            raise errors.BadRequest(f'previous terminated container "{state.container}" in pod "{pod}" not found')
        if opts.timestamps or opts.since(time.time()) is not None:
            raise errors.BadRequest("timestamps and sinceSeconds/sinceTime are not served for a previous instance")
        return previous
    features = getattr(runtime, "log_features", frozenset())
    if opts.timestamps and "timestamps" not in features:
        raise errors.BadRequest(f"the {runtime.name} runtime does not record when each line was written: "
                                f"--timestamps is not available")
    since = opts.since(time.time())
    if since is not None and "since" not in features:
        raise errors.BadRequest(f"the {runtime.name} runtime does not record when each line was written: "
                                f"--since and --since-time are not available")
    if not features:
        return runtime.logs(state.cid, opts.tail, opts.follow)
    return runtime.logs(state.cid, opts.tail, opts.follow, timestamps=opts.timestamps, since=since)
