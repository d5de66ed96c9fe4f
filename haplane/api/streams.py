"""``pods/{name}/exec`` and ``pods/{name}/portforward``: WebSockets proxied to the pod's agent.

kubectl 1.37 asks for both with a WebSocket upgrade of a GET: exec offers the subprotocol
``v5.channel.k8s.io``, port-forward ``SPDY/3.1+portforward.k8s.io`` (SPDY tunnelled in binary
messages). If the upgrade fails kubectl falls back to a SPDY upgrade (a POST), which haplane
does not serve: that POST gets a 400 saying so.

The replica looks the pod's node up in its store (a stale read: the pod's binding is what
matters and the agent checks the rest), dials the agent's stream endpoint (the same address,
scheme and TLS rules as logs, :mod:`haplane.api.logs`) with the caller's token, and waits for
the agent's first message — a Status. On ``Failure`` it answers kubectl with that Status (a
4xx/5xx before any upgrade, which kubectl prints); on ``Success`` it upgrades kubectl's
request with the protocol the agent chose and copies messages both ways until either side
closes. Stream bytes never touch the Raft log.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import TYPE_CHECKING
from urllib.parse import quote

import aiohttp
import orjson
from aiohttp import WSMsgType, web

from haplane.aio import wait_for
from haplane.api.logs import CONNECT_TIMEOUT, agent_endpoint, locate
from haplane.errors import BadRequest, HaplaneError, Unavailable

if TYPE_CHECKING:
    from haplane.api.resources import Ref
    from haplane.store.store import Store

STREAM_SUBRESOURCES = ("exec", "portforward")
EXEC_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
PORTFORWARD_PROTOCOLS = ("SPDY/3.1+portforward.k8s.io",)
READY_TIMEOUT = 20.0  # the agent may first check the token with the API (5 s, three attempts)
HEARTBEAT = 30.0
MAX_MESSAGE = 1 << 20


def offered_protocols(header: str | None) -> list[str]:
    return [p.strip() for p in (header or "").split(",") if p.strip()]


def is_websocket_upgrade(request: web.Request) -> bool:
    return request.method == "GET" and request.headers.get("Upgrade", "").lower() == "websocket" and \
        "upgrade" in request.headers.get("Connection", "").lower()


async def pod_stream(request: web.Request, store: Store, ref: Ref, tls: ssl.SSLContext | None) -> web.StreamResponse:
    """Serve ``exec`` or ``portforward`` (``ref.sub``) for kubectl by proxying to the agent.

    Errors and kubectl's fallback: a refused WebSocket upgrade makes kubectl retry with SPDY,
    and it prints the error of that second attempt. So what the replica can check (the pod,
    the container, the node) is checked for both attempts alike; what fails later in an exec
    (the agent, the command) is reported after the upgrade on the error channel, as the
    kubelet does; a port-forward, which starts nothing on the agent, dials it for either
    attempt and answers the SPDY one with its error, or with "not supported"."""
    assert ref.name is not None and ref.ns is not None
    websocket = is_websocket_upgrade(request)
    if ref.sub == "exec":
        _, container, node = await locate(store, ref, request.query.get("container"))
        path = f"/exec/{quote(ref.ns)}/{quote(ref.name)}/{quote(container)}"
        if not websocket:
            raise BadRequest(UPGRADE_REQUIRED)
    else:
        _, _, node = await locate(store, ref, None, pod_only=True)
        path = f"/portforward/{quote(ref.ns)}/{quote(ref.name)}"
    supported = EXEC_PROTOCOLS if ref.sub == "exec" else PORTFORWARD_PROTOCOLS
    offered = offered_protocols(request.headers.get("Sec-WebSocket-Protocol"))
    protocols = [p for p in supported if p in offered] if websocket else list(supported)
    if not protocols:
        raise BadRequest(f"{ref.sub} needs one of the WebSocket subprotocols {list(supported)}; "
                         f"the client offered {offered}")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT,
                                                                   sock_connect=CONNECT_TIMEOUT),
                                     connector=aiohttp.TCPConnector(ssl=tls or True)) as session:
        upstream: aiohttp.ClientWebSocketResponse | None = None
        try:
            upstream, status = await _dial(session, node, path, request, protocols, tls)
        except HaplaneError as exc:
            status = exc.to_status()
        try:
            if status.get("status") != "Success":
                if ref.sub == "exec":
                    return await _fail_in_stream(request, protocols[0], status)
                return web.Response(body=orjson.dumps(status), status=int(status.get("code") or 500),
                                    content_type="application/json")
            assert upstream is not None
            if not websocket:
                raise BadRequest(UPGRADE_REQUIRED)
            ws = web.WebSocketResponse(protocols=[upstream.protocol or protocols[0]], heartbeat=HEARTBEAT,
                                       max_msg_size=MAX_MESSAGE)
            await ws.prepare(request)
            await splice(ws, upstream)
            return ws
        finally:
            if upstream is not None:
                await upstream.close()


UPGRADE_REQUIRED = ("Upgrade request required: haplane serves pods/exec and pods/portforward as WebSockets "
                    "(kubectl 1.30 and later); the SPDY upgrade is not supported")


async def _dial(session: aiohttp.ClientSession, node: dict, path: str, request: web.Request,
                protocols: list[str], tls: ssl.SSLContext | None) -> tuple[aiohttp.ClientWebSocketResponse, dict]:
    """The agent's WebSocket and its first message, a Status; raises Unavailable."""
    node_name = node["metadata"]["name"]
    base = agent_endpoint(node, https_only=tls is not None)
    url = ("wss" if base.startswith("https") else "ws") + base[base.index(":"):] + path
    headers = {"Authorization": request.headers.get("Authorization", "")}
    try:
        upstream = await wait_for(
            session.ws_connect(url, params=list(request.query.items()), protocols=protocols, headers=headers,
                               heartbeat=HEARTBEAT, max_msg_size=MAX_MESSAGE, autoping=True),
            CONNECT_TIMEOUT * 2)
    except aiohttp.ClientSSLError as exc:
        raise Unavailable(f'TLS with the agent of node "{node_name}" failed: {exc}', retry_after=10.0) from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Unavailable(f'the agent of node "{node_name}" did not answer: {exc.__class__.__name__}',
                          retry_after=2.0) from None
    try:
        first = await upstream.receive(timeout=READY_TIMEOUT)
    except (aiohttp.ClientError, TimeoutError) as exc:
        await upstream.close()
        raise Unavailable(f'the agent of node "{node_name}" did not start the stream: {exc.__class__.__name__}',
                          retry_after=2.0) from None
    return upstream, _ready_status(first)


async def _fail_in_stream(request: web.Request, protocol: str, status: dict) -> web.WebSocketResponse:
    """Upgrade, send ``status`` on the error channel (3), close: kubectl prints its message."""
    ws = web.WebSocketResponse(protocols=[protocol])
    await ws.prepare(request)
    await ws.send_bytes(b"\x03" + orjson.dumps(status))
    await ws.close()
    return ws


def _ready_status(msg: aiohttp.WSMessage) -> dict:
    """The agent's first message as a Status; anything else is the agent failing."""
    if msg.type == WSMsgType.TEXT:
        with contextlib.suppress(ValueError):
            status = orjson.loads(msg.data)
            if isinstance(status, dict) and status.get("kind") == "Status":
                return status
    err = HaplaneError(f"the node agent closed the stream before it started ({msg.type.name})")
    return err.to_status()


async def splice(client: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse) -> None:
    """Copy messages both ways until one side closes; then close the other (normally, so
    kubectl reads the end of its streams as EOF)."""

    async def pump(src: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
                   dst: web.WebSocketResponse | aiohttp.ClientWebSocketResponse) -> None:
        async for msg in src:
            if msg.type == WSMsgType.BINARY:
                await dst.send_bytes(msg.data)
            elif msg.type == WSMsgType.TEXT:
                await dst.send_str(msg.data)
            else:
                break

    tasks = [asyncio.create_task(pump(client, upstream)), asyncio.create_task(pump(upstream, client))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        pass
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await client.close()
        with contextlib.suppress(Exception):
            await upstream.close()
