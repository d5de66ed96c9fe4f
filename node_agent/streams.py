"""The agent's stream endpoints, served beside its logs (see :mod:`node_agent.logserver`):

* ``GET /exec/{ns}/{pod}/{container}?command=..&stdin=..&stdout=..&stderr=..&tty=..`` — a
  WebSocket speaking :mod:`node_agent.remotecommand` (``v5.channel.k8s.io``/``v4``);
* ``GET /portforward/{ns}/{pod}`` — a WebSocket tunnelling SPDY/3.1
  (``SPDY/3.1+portforward.k8s.io``, :mod:`node_agent.portforward`).

The API replicas proxy ``pods/{name}/exec`` and ``pods/{name}/portforward`` here (see
:mod:`haplane.api.streams`). The hop replica -> agent starts with one text message from the
agent, a ``Status``: ``Success`` means the stream is set up and binary messages follow;
``Failure`` (bad query, unknown container, a token without role admin, a command that
cannot run) is what the replica answers kubectl with, before it upgrades kubectl's request.
The command is killed when the WebSocket closes. Use from one event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from haplane import errors
from node_agent import remotecommand as rc
from node_agent.portforward import TUNNEL_PROTOCOL, PortForwardSession
from node_agent.runtime.base import ContainerState, ExecSession, Runtime, RuntimeStartError
from node_agent.spdy import ProtocolError

log = logging.getLogger(__name__)

OK = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 200}
HEARTBEAT = 30.0
MAX_MESSAGE = 1 << 20

# (namespace, pod, container) -> the runtime and container, or None
Lookup = Callable[[str, str, str], tuple[Runtime, ContainerState] | None]
# (namespace, pod) -> the runtime and the pod's containers with their specs, or None
PodLookup = Callable[[str, str], tuple[Runtime, list[tuple[ContainerState, dict]]] | None]


def pick_container(containers: list[tuple[ContainerState, dict]], port: int) -> ContainerState | None:
    """The running container that declares ``port``, else the first running one (pure)."""
    running = [(s, c) for s, c in containers if s.running]
    for state, spec in running:
        if any(int(p.get("containerPort") or 0) == port for p in spec.get("ports") or []):
            return state
    return running[0][0] if running else None


class StreamServer:
    def __init__(self, lookup: Lookup, pod_lookup: PodLookup, checker: Any) -> None:
        self.lookup = lookup
        self.pod_lookup = pod_lookup
        self.checker = checker  # node_agent.logserver.TokenChecker
        self.sessions = 0  # open exec/port-forward streams, for tests and logs

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/exec/{ns}/{pod}/{container}", self._exec)
        app.router.add_get("/portforward/{ns}/{pod}", self._portforward)

    async def _open(self, request: web.Request, protocols: tuple[str, ...]) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=protocols, heartbeat=HEARTBEAT, max_msg_size=MAX_MESSAGE)
        await ws.prepare(request)
        return ws

    async def _refuse(self, ws: web.WebSocketResponse, exc: errors.HaplaneError) -> web.WebSocketResponse:
        await ws.send_str(orjson.dumps(exc.to_status()).decode())
        await ws.close()
        return ws

    # --- exec -----------------------------------------------------------------------------

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        ws = await self._open(request, rc.PROTOCOLS)
        ns, pod, container = (request.match_info[k] for k in ("ns", "pod", "container"))
        try:
            await self.checker.check(request.headers.get("Authorization"), admin=True)
            if ws.ws_protocol not in rc.PROTOCOLS:
                raise errors.BadRequest(f"exec needs one of the subprotocols {list(rc.PROTOCOLS)}")
            opts = rc.parse_exec_options(request.query)
            found = self.lookup(ns, pod, container)
            if found is None or not found[1].running:
                raise errors.BadRequest(f'container "{container}" in pod "{pod}" is not running on this node')
            runtime, state = found
            try:
                session = await runtime.exec_session(state.cid, list(opts.command), stdin=opts.stdin,
                                                     stdout=opts.stdout, stderr=opts.stderr, tty=opts.tty)
            except LookupError:
                raise errors.BadRequest(f'container "{container}" in pod "{pod}" is not running') from None
            except RuntimeStartError as exc:
                raise errors.HaplaneError(f"error executing command in container: {exc.message}") from None
        except errors.HaplaneError as exc:
            return await self._refuse(ws, exc)
        self.sessions += 1
        try:
            await ws.send_str(orjson.dumps(OK).decode())
            await run_exec(ws, session, opts, v5=ws.ws_protocol == rc.V5)
        finally:
            self.sessions -= 1
            with contextlib.suppress(Exception):
                await session.kill()
        return ws

    # --- port-forward ---------------------------------------------------------------------

    async def _portforward(self, request: web.Request) -> web.StreamResponse:
        ws = await self._open(request, (TUNNEL_PROTOCOL,))
        ns, pod = request.match_info["ns"], request.match_info["pod"]
        try:
            await self.checker.check(request.headers.get("Authorization"), admin=True)
            if ws.ws_protocol != TUNNEL_PROTOCOL:
                raise errors.BadRequest(f"port-forward needs the subprotocol {TUNNEL_PROTOCOL}")
            found = self.pod_lookup(ns, pod)
            if found is None or pick_container(found[1], 0) is None:
                raise errors.BadRequest(f'pod "{pod}" has no running container on this node')
        except errors.HaplaneError as exc:
            return await self._refuse(ws, exc)
        runtime, _ = found

        async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            again = self.pod_lookup(ns, pod)
            state = pick_container(again[1], port) if again else None
            if state is None:
                raise LookupError(f'pod "{pod}" has no running container')
            return await runtime.open_port(state.cid, port)

        session = PortForwardSession(ws.send_bytes, connect)
        self.sessions += 1
        try:
            await ws.send_str(orjson.dumps(OK).decode())
            async for msg in ws:
                if msg.type != WSMsgType.BINARY:
                    break
                await session.feed(msg.data)
        except ProtocolError as exc:
            log.info("port-forward to %s/%s: %s", ns, pod, exc)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.sessions -= 1
            await session.close()
            await ws.close()
        return ws


async def run_exec(ws: web.WebSocketResponse, session: ExecSession, opts: rc.ExecOptions, *, v5: bool) -> None:
    """Copy the command's output to its channels and the client's stdin/resizes to the command;
    when the output ends, send the exit status on the error channel and close. If the client
    goes first, return at once (the caller kills the command)."""

    async def downlink() -> None:
        async for channel, data in session.output():
            await ws.send_bytes(rc.frame(channel, data))

    async def uplink() -> None:
        async for msg in ws:
            if msg.type != WSMsgType.BINARY:
                return
            try:
                channel, payload = rc.parse_frame(msg.data)
                if channel == rc.STDIN and opts.stdin:
                    await session.write(payload)
                elif channel == rc.RESIZE and opts.tty:
                    await session.resize(*rc.parse_resize(payload))
                elif channel == rc.CLOSE and v5 and payload[:1] == bytes([rc.STDIN]):
                    await session.close_stdin()
            except errors.BadRequest as exc:
                log.info("exec: ignored a bad message: %s", exc.message)

    down = asyncio.create_task(downlink())
    up = asyncio.create_task(uplink())
    try:
        done, _ = await asyncio.wait({down, up}, return_when=asyncio.FIRST_COMPLETED)
        if down not in done:
            return  # the client is gone
        if down.exception() is not None:
            log.info("exec output ended: %s", down.exception())
            return
        code = await session.wait()
        await ws.send_bytes(rc.frame(rc.ERROR, orjson.dumps(rc.exit_status(code, opts.command))))
        await ws.close()
    finally:
        for t in (down, up):
            t.cancel()
        await asyncio.gather(down, up, return_exceptions=True)
