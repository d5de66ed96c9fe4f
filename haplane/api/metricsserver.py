"""``metrics.k8s.io/v1beta1``: the resource usage ``kubectl top`` reads, served by every replica
the way metrics-server serves it — pulled from the node agents, never stored.

* ``GET /apis/metrics.k8s.io/v1beta1/nodes[/{name}]`` — NodeMetrics(List);
* ``GET /apis/metrics.k8s.io/v1beta1/[namespaces/{ns}/]pods[/{name}]`` — PodMetrics(List);
  lists take ``labelSelector`` and ``fieldSelector`` (``metadata.name``, ``metadata.namespace``).

The replica picks the pods and nodes from its own store (a local read: usage is a moment's
reading, a linearizable barrier would buy nothing), asks each node concerned for its
``/stats/summary`` (the agent's log server: the address, scheme and TLS rules of the logs,
:mod:`haplane.api.logs`; the caller's token, which the agent checks with the API) with a
timeout, and builds the objects (:mod:`haplane.api.podmetrics`). An agent that does not answer
in time leaves its node and its pods out of the answer, as metrics-server does with a node it
cannot scrape — never a 5xx for the whole list; a get of one of them is a 404. Each node's
summary is kept for ``CACHE_TTL`` seconds and one fetch per node is in flight at a time, so a
burst of ``kubectl top`` costs each agent one request. Usage never enters the Raft log.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
from aiohttp import web

from haplane.api.auth import Attributes, User, check
from haplane.api.logs import agent_endpoint
from haplane.api.podmetrics import GROUP_VERSION, metrics_list, node_metrics, pod_metrics_items
from haplane.api.resources import respond
from haplane.errors import HaplaneError, MethodNotAllowed, NotFound
from haplane.model.selectors import for_kind, parse_field_selector, parse_label_selector
from haplane.store.store import Store

log = logging.getLogger(__name__)

PREFIX = f"/apis/{GROUP_VERSION}"
GROUP = GROUP_VERSION.partition("/")[0]
CACHE_TTL = 1.0        # seconds a node's summary is reused
FETCH_TIMEOUT = 3.0    # seconds an agent has to answer (connect included)


class UsageSource:
    """Each node's ``/stats/summary``, fetched from its agent and kept for ``ttl`` seconds
    (a failure too: a dead agent is asked once per ``ttl``, not once per request)."""

    def __init__(self, tls: ssl.SSLContext | None, *, ttl: float = CACHE_TTL, timeout: float = FETCH_TIMEOUT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.tls = tls
        self.clock = clock
        self.ttl = ttl
        self.timeout = timeout
        self._cache: dict[str, tuple[float, asyncio.Future[dict | None]]] = {}
        self._session: aiohttp.ClientSession | None = None
        self.fetches = 0

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def summaries(self, nodes: list[dict], authorization: str) -> dict[str, dict | None]:
        """node name -> its summary, or None when its agent did not answer."""
        got = await asyncio.gather(*(self.summary(n, authorization) for n in nodes))
        return {n["metadata"]["name"]: s for n, s in zip(nodes, got, strict=True)}

    async def summary(self, node: dict, authorization: str) -> dict | None:
        name = node["metadata"]["name"]
        now = self.clock()
        cached = self._cache.get(name)
        if cached is None or cached[0] <= now:
            if len(self._cache) > 10_000:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            fut = asyncio.ensure_future(self._fetch(node, authorization))
            self._cache[name] = (now + self.ttl, fut)
            cached = self._cache[name]
        return await asyncio.shield(cached[1])

    async def _fetch(self, node: dict, authorization: str) -> dict | None:
        name = node["metadata"]["name"]
        try:
            url = f"{agent_endpoint(node, https_only=self.tls is not None)}/stats/summary"
        except HaplaneError as exc:
            log.debug("no usage of node %s: %s", name, exc.message)
            return None
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self.tls or True))
        self.fetches += 1
        try:
            async with self._session.get(url, params={"node": name}, headers={"Authorization": authorization},
                                         timeout=aiohttp.ClientTimeout(total=self.timeout)) as resp:
                if resp.status != 200:
                    log.debug("usage of node %s: the agent answered %d", name, resp.status)
                    return None
                doc = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.debug("usage of node %s: %s", name, exc.__class__.__name__)
            return None
        return doc if isinstance(doc, dict) else None


def _refuse_watch(query: Mapping[str, str]) -> None:
    if query.get("watch") not in (None, "", "0", "false", "False"):
        raise MethodNotAllowed("the metrics API serves get and list, not watch")


def _selectors(kind: str, query: Mapping[str, str]) -> Any:
    """The ``labelSelector`` and ``fieldSelector`` (``metadata.name|namespace``) as one predicate."""
    labels = parse_label_selector(query.get("labelSelector", ""))
    fields = for_kind(kind, parse_field_selector(query.get("fieldSelector", "")))
    return lambda obj: labels.matches((obj.get("metadata") or {}).get("labels")) and fields.matches(obj)


def add_routes(app: web.Application, store: Store, user_key: str, tls: ssl.SSLContext | None) -> None:
    """Register the metrics API routes; ``user_key`` is where the auth middleware leaves the user."""
    source = UsageSource(tls)

    async def close(app: web.Application) -> None:
        await source.close()
    app.on_cleanup.append(close)

    def authorize(request: web.Request, resource: str, *, ns: str = "", name: str = "") -> None:
        user: User = request[user_key]
        check(user, Attributes(verb="get" if name else "list", resource=resource, group=GROUP, namespace=ns,
                               name=name))
        _refuse_watch(request.query)

    async def nodes(request: web.Request) -> web.Response:
        name = request.match_info.get("name", "")
        authorize(request, "nodes", name=name)
        if name:
            node = store.fsm.get("Node", "", name)
            if node is None:
                raise NotFound(f'nodemetrics.metrics.k8s.io "{name}" not found')
            chosen = [node]
        else:
            match = _selectors("NodeMetrics", request.query)
            chosen = [n for n in store.fsm.list("Node", None)[0] if match(n)]
        summaries = await source.summaries(chosen, request.headers.get("Authorization", ""))
        now = time.time()
        items = [m for n in chosen if (m := node_metrics(n, summaries[n["metadata"]["name"]], now)) is not None]
        if name:
            if not items:
                raise NotFound(f'nodemetrics.metrics.k8s.io "{name}" not found')
            return respond(items[0])
        return respond(metrics_list("NodeMetrics", items))

    async def pods(request: web.Request) -> web.Response:
        ns, name = request.match_info.get("ns", ""), request.match_info.get("name", "")
        authorize(request, "pods", ns=ns, name=name)
        if name:
            pod = store.fsm.get("Pod", ns, name)
            if pod is None:
                raise NotFound(f'podmetrics.metrics.k8s.io "{name}" not found')
            chosen = [pod]
        else:
            match = _selectors("PodMetrics", request.query)
            chosen = [p for p in store.fsm.list("Pod", ns or None)[0] if match(p)]
        node_names = {p["spec"].get("nodeName") for p in chosen} - {None, ""}
        node_objs = [n for nn in sorted(node_names) if (n := store.fsm.get("Node", "", nn)) is not None]
        summaries = await source.summaries(node_objs, request.headers.get("Authorization", ""))
        items = pod_metrics_items(chosen, summaries, time.time())
        if name:
            if not items:
                raise NotFound(f'podmetrics.metrics.k8s.io "{name}" not found')
            return respond(items[0])
        return respond(metrics_list("PodMetrics", items))

    def get_only(handler: Any) -> Any:
        async def route(request: web.Request) -> web.Response:
            if request.method not in ("GET", "HEAD"):
                raise MethodNotAllowed(f"the metrics API is read-only: {request.method} is not served")
            return await handler(request)
        return route

    for path, handler in ((f"{PREFIX}/nodes", nodes), (f"{PREFIX}/nodes/{{name}}", nodes),
                          (f"{PREFIX}/pods", pods), (f"{PREFIX}/namespaces/{{ns}}/pods", pods),
                          (f"{PREFIX}/namespaces/{{ns}}/pods/{{name}}", pods)):
        app.router.add_route("*", path, get_only(handler))

