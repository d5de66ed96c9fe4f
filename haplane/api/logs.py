"""Pod logs: the replica streams them from the node agent; log data never enters the Raft log.

The agent serves ``GET http://ADDRESS:PORT/logs/{namespace}/{pod}/{container}?tailLines=N&follow=1``
on its node address (``status.addresses`` InternalIP and ``status.daemonEndpoints.kubeletEndpoint``
of its Node). The caller's bearer token is passed along; the agent checks it with the API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from haplane.errors import BadRequest, NotFound, Unavailable

if TYPE_CHECKING:
    from haplane.api.resources import Ref
    from haplane.store.store import Store

CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 30.0
FOLLOW_IDLE_TIMEOUT = 600.0


def agent_endpoint(node: dict) -> str:
    status = node.get("status") or {}
    address = next((a.get("address") for a in status.get("addresses") or [] if a.get("type") == "InternalIP"), None)
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    if not address or not port:
        raise Unavailable(f'node "{node["metadata"]["name"]}" does not publish a log endpoint', retry_after=1.0)
    return f"http://{address}:{port}"


async def pod_logs(request: web.Request, store: Store, ref: Ref) -> web.StreamResponse:
    assert ref.name is not None and ref.ns is not None
    pod = await store.get("Pod", ref.ns, ref.name, stale=True)
    containers = [c["name"] for c in pod["spec"]["containers"]]
    container = request.query.get("container") or (containers[0] if len(containers) == 1 else None)
    if container is None:
        raise BadRequest(f"a container name must be specified for pod {ref.name}, choose one of: {containers}")
    if container not in containers:
        raise BadRequest(f"container {container} is not valid for pod {ref.name}")
    node_name = pod["spec"].get("nodeName")
    if not node_name:
        raise BadRequest(f'pod "{ref.name}" is not scheduled to a node yet')
    node = store.fsm.get("Node", "", node_name)
    if node is None:
        raise NotFound(f'node "{node_name}" of pod "{ref.name}" not found')
    params = {k: request.query[k] for k in ("tailLines", "follow") if k in request.query}
    follow = params.get("follow") in ("1", "true")
    url = f"{agent_endpoint(node)}/logs/{ref.ns}/{ref.name}/{container}"
    timeout = aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT,
                                    sock_read=FOLLOW_IDLE_TIMEOUT if follow else READ_TIMEOUT)
    headers = {"Authorization": request.headers.get("Authorization", "")}
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, \
                session.get(url, params=params, headers=headers) as upstream:
            if upstream.status != 200:
                return web.Response(body=await upstream.read(), status=upstream.status,
                                    content_type=upstream.content_type)
            resp = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
            await resp.prepare(request)
            async for chunk in upstream.content.iter_any():
                await resp.write(chunk)
            return resp
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Unavailable(f'the agent of node "{node_name}" did not answer: {exc.__class__.__name__}',
                          retry_after=2.0) from None
