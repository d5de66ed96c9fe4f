"""Pod logs: the replica streams them from the node agent; log data never enters the Raft log.

The agent serves ``GET SCHEME://ADDRESS:PORT/logs/{namespace}/{pod}/{container}?tailLines=N&follow=1``
as its Node says: ``status.daemonEndpoints.kubeletEndpoint`` — ``Port``, and the haplane
extensions ``Address`` (default: the InternalIP) and ``Scheme`` (default ``http``). The caller's
bearer token is passed along; the agent checks it with the API.

A replica that serves HTTPS sends tokens to agents over HTTPS only, verified with the CA it
trusts for its peers (``--tls-ca``): an agent serving plain HTTP gets no token from it, and
the caller a 503 saying how to fix the agent.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from haplane.errors import BadRequest, NotFound, Unavailable
from haplane.logoptions import PASSED_TO_AGENT, parse_log_options

if TYPE_CHECKING:
    from haplane.api.resources import Ref
    from haplane.store.store import Store

CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 30.0
FOLLOW_IDLE_TIMEOUT = 600.0


def agent_endpoint(node: dict, *, https_only: bool = False) -> str:
    """The base URL of the node's log server (pure); ``https_only`` refuses a plain-HTTP one."""
    name = node["metadata"]["name"]
    status = node.get("status") or {}
    endpoint = (status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}
    address = endpoint.get("Address") or next(
        (a.get("address") for a in status.get("addresses") or [] if a.get("type") == "InternalIP"), None)
    port = endpoint.get("Port")
    if not address or not port:
        raise Unavailable(f'node "{name}" does not publish a log endpoint', retry_after=1.0)
    scheme = endpoint.get("Scheme") or "http"
    if https_only and scheme != "https":
        raise Unavailable(f'node "{name}" serves logs over plain HTTP and this cluster uses TLS: the replica '
                          f"will not send your token in clear (start its agent with --tls-cert and --tls-key)",
                          retry_after=10.0)
    host = f"[{address}]" if ":" in address else address
    return f"{scheme}://{host}:{port}"


async def locate(store: Store, ref: Ref, container: str | None, *,
                 pod_only: bool = False) -> tuple[dict, str, dict]:
    """(pod, container name, node) for a stream into one container of the pod, with the API
    server's errors: the container defaults to the only one, must exist, and the pod must be
    bound to a node that exists. ``pod_only``: a stream into the pod (port-forward), no
    container ("" is returned)."""
    assert ref.name is not None and ref.ns is not None
    try:
        pod = await store.get("Pod", ref.ns, ref.name, stale=True)
    except NotFound:
        raise NotFound(f'pods "{ref.name}" not found') from None
    containers = [c["name"] for c in pod["spec"]["containers"]]
    if pod_only:
        container = ""
    elif not container:
        if len(containers) != 1:
            raise BadRequest(f"a container name must be specified for pod {ref.name}, "
                             f"choose one of: [{' '.join(containers)}]")
        container = containers[0]
    if not pod_only and container not in containers:
        raise BadRequest(f"container {container} is not valid for pod {ref.name}")
    node_name = pod["spec"].get("nodeName")
    if not node_name:
        raise BadRequest(f"pod {ref.name} does not have a host assigned")
    node = store.fsm.get("Node", "", node_name)
    if node is None:
        raise NotFound(f'node "{node_name}" of pod "{ref.name}" not found')
    return pod, container, node


async def pod_logs(request: web.Request, store: Store, ref: Ref,
                   tls: ssl.SSLContext | None = None) -> web.StreamResponse:
    """Proxy the pod's log from its node's agent. ``tls``: this replica serves HTTPS, and this
    context (its peer CA) verifies agents, which must serve HTTPS too."""
    _, container, node = await locate(store, ref, request.query.get("container"))
    node_name = node["metadata"]["name"]
    opts = parse_log_options(request.query)  # bad values are answered here, before any dial
    params = {k: request.query[k] for k in PASSED_TO_AGENT if k in request.query}
    follow = opts.follow
    url = f"{agent_endpoint(node, https_only=tls is not None)}/logs/{ref.ns}/{ref.name}/{container}"
    timeout = aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT,
                                    sock_read=FOLLOW_IDLE_TIMEOUT if follow else READ_TIMEOUT)
    headers = {"Authorization": request.headers.get("Authorization", "")}
    try:
        async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(ssl=tls or True)) as session, \
                session.get(url, params=params, headers=headers) as upstream:
            if upstream.status != 200:
                return web.Response(body=await upstream.read(), status=upstream.status,
                                    content_type=upstream.content_type)
            resp = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
            await resp.prepare(request)
            async for chunk in upstream.content.iter_any():
                await resp.write(chunk)
            return resp
    except aiohttp.ClientSSLError as exc:
        raise Unavailable(f'TLS with the agent of node "{node_name}" failed: {exc}', retry_after=10.0) from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Unavailable(f'the agent of node "{node_name}" did not answer: {exc.__class__.__name__}',
                          retry_after=2.0) from None
