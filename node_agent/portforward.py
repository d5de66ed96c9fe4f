"""The server side of ``kubectl port-forward``: SPDY streams to TCP connections into the pod.

For every local connection kubectl opens two SPDY streams with the headers ``streamType``
(``error``, then ``data``), ``port`` and ``requestID``. The server replies to each, connects
to the pod's port once both arrived, and copies bytes both ways on the data stream. When the
pod closes its side the data stream gets a FIN; when kubectl is done (FIN, or RST after it
read the FIN) the pod connection is closed and the error stream ends with a FIN — with the
reason as its data if the connection failed, which kubectl prints (``error forwarding port``).
kubectl waits for the error stream's end before it forgets the connection, so every request
ends with one.

I/O is behind two callables (``send`` for the bytes to the client, ``connect`` for the pod),
so the session is tested with fakes. Use from one event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from haplane.aio import wait_for
from node_agent import spdy

log = logging.getLogger(__name__)

PROTOCOL = "portforward.k8s.io"
TUNNEL_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
CONNECT_TIMEOUT = 5.0
PAIR_TIMEOUT = 30.0  # kubelet's: both streams of a request must arrive within this
CHUNK = 32768
MAX_OPEN_REQUESTS = 256
# spdystream does no flow control: bytes kubectl sends faster than the pod reads wait here,
# up to this much per connection; past it the stream is reset rather than memory grown
MAX_BUFFERED = 16 << 20
FLOW_CONTROL_ERROR = 7

Connector = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


def header(headers: dict[str, list[str]], name: str) -> str | None:
    values = headers.get(name.lower())
    return values[0] if values else None


@dataclass
class _Request:
    request_id: str
    port: int
    error_id: int | None = None
    data_id: int | None = None
    uplink: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    reset: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    timer: asyncio.TimerHandle | None = None
    buffered: int = 0  # bytes in ``uplink`` not yet written to the pod


class PortForwardSession:
    """One SPDY connection. Feed it the client's bytes with :meth:`feed`; it sends its own
    through ``send`` (serialised, in frame order, so the header compression stays in step)."""

    def __init__(self, send: Callable[[bytes], Awaitable[None]], connect: Connector, *,
                 pair_timeout: float = PAIR_TIMEOUT, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self._send = send
        self._connect = connect
        self._pair_timeout = pair_timeout
        self._connect_timeout = connect_timeout
        self._reader = spdy.FrameReader()
        self._codec = spdy.HeaderCodec()
        self._lock = asyncio.Lock()
        self._requests: dict[str, _Request] = {}
        self._by_stream: dict[int, _Request] = {}
        self.closed = False

    async def send(self, frame: spdy.Frame) -> None:
        async with self._lock:
            if not self.closed:
                await self._send(spdy.encode(frame, self._codec))

    async def feed(self, data: bytes) -> None:
        """Handle the next bytes from the client; raises spdy.ProtocolError on garbage."""
        for frame in self._reader.feed(data):
            await self._handle(frame)

    async def close(self) -> None:
        """The connection is gone: stop every request and close its pod connection."""
        self.closed = True
        tasks = [r.task for r in self._requests.values() if r.task is not None]
        for r in self._requests.values():
            if r.timer is not None:
                r.timer.cancel()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._requests.clear()
        self._by_stream.clear()

    # --- frames ---------------------------------------------------------------------------

    async def _handle(self, frame: spdy.Frame) -> None:
        if isinstance(frame, spdy.SynStream):
            await self._syn_stream(frame)
        elif isinstance(frame, spdy.Data):
            req = self._by_stream.get(frame.stream_id)
            if req is None:
                return  # a stream we already forgot (reset): drop, as spdystream does
            if frame.stream_id == req.data_id and not req.reset.is_set():
                if req.buffered + len(frame.data) > MAX_BUFFERED:
                    log.info("port-forward request %s: the pod does not read; resetting", req.request_id)
                    req.reset.set()
                    req.uplink.put_nowait(None)
                    await self.send(spdy.RstStream(frame.stream_id, FLOW_CONTROL_ERROR))
                    return
                if frame.data:
                    req.buffered += len(frame.data)
                    req.uplink.put_nowait(frame.data)
                if frame.fin:
                    req.uplink.put_nowait(None)
        elif isinstance(frame, spdy.RstStream):
            req = self._by_stream.get(frame.stream_id)
            if req is not None:
                req.reset.set()
                req.uplink.put_nowait(None)
                if req.task is None:
                    self._forget(req)
        elif isinstance(frame, spdy.Ping):
            await self.send(spdy.Ping(frame.ping_id))
        elif isinstance(frame, spdy.GoAway):
            await self.close()
        # SETTINGS, WINDOW_UPDATE (the peer does no flow control), HEADERS, SYN_REPLY: nothing to do

    async def _syn_stream(self, frame: spdy.SynStream) -> None:
        sid, headers = frame.stream_id, frame.headers
        stype, port_s, rid = (header(headers, k) for k in ("streamType", "port", "requestID"))
        try:
            port = int(port_s or "")
            if not 0 < port < 65536:
                raise ValueError
        except ValueError:
            await self.send(spdy.RstStream(sid, spdy.PROTOCOL_ERROR))
            return
        if stype not in ("error", "data") or sid in self._by_stream:
            await self.send(spdy.RstStream(sid, spdy.PROTOCOL_ERROR))
            return
        rid = rid or f"stream-{sid}"  # old clients send no requestID: one pair at a time
        req = self._requests.get(rid)
        if req is None:
            if len(self._requests) >= MAX_OPEN_REQUESTS:
                await self.send(spdy.RstStream(sid, spdy.REFUSED_STREAM))
                return
            req = self._requests[rid] = _Request(rid, port)
            req.timer = asyncio.get_running_loop().call_later(self._pair_timeout, self._expire, req)
        if (stype == "error" and req.error_id is not None) or (stype == "data" and req.data_id is not None):
            await self.send(spdy.RstStream(sid, spdy.PROTOCOL_ERROR))
            return
        if stype == "error":
            req.error_id = sid
        else:
            req.data_id = sid
        self._by_stream[sid] = req
        await self.send(spdy.SynReply(sid, {}))
        if req.error_id is not None and req.data_id is not None and req.task is None:
            if req.timer is not None:
                req.timer.cancel()
            req.task = asyncio.create_task(self._forward(req), name=f"portforward-{rid}")

    def _expire(self, req: _Request) -> None:
        if req.task is None and self._requests.get(req.request_id) is req:
            log.info("port-forward request %s: only one of its two streams arrived", req.request_id)
            for sid in (req.error_id, req.data_id):
                if sid is not None:
                    asyncio.ensure_future(self.send(spdy.RstStream(sid, spdy.CANCEL)))
            self._forget(req)

    def _forget(self, req: _Request) -> None:
        self._requests.pop(req.request_id, None)
        for sid in (req.error_id, req.data_id):
            if sid is not None:
                self._by_stream.pop(sid, None)

    # --- one forwarded connection ---------------------------------------------------------

    async def _forward(self, req: _Request) -> None:
        assert req.error_id is not None and req.data_id is not None
        message = b""
        try:
            try:
                reader, writer = await wait_for(self._connect(req.port), self._connect_timeout)
            except (OSError, LookupError, TimeoutError) as exc:
                message = f"error forwarding port {req.port} to pod: connect: {_reason(exc)}".encode()
                await self.send(spdy.Data(req.data_id, b"", fin=True))
                return
            try:
                await self._copy(req, reader, writer)
            finally:
                writer.close()
                with contextlib.suppress(OSError, ConnectionError):
                    await writer.wait_closed()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - one request fails; the session goes on
            message = f"error forwarding port {req.port} to pod: {_reason(exc)}".encode()
        finally:
            if not self.closed:
                with contextlib.suppress(Exception):
                    await self.send(spdy.Data(req.error_id, message, fin=True))
            self._forget(req)

    async def _copy(self, req: _Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert req.data_id is not None
        data_id = req.data_id

        async def downlink() -> None:
            while chunk := await reader.read(CHUNK):
                await self.send(spdy.Data(data_id, chunk))
            await self.send(spdy.Data(data_id, b"", fin=True))

        async def uplink() -> None:
            while (chunk := await req.uplink.get()) is not None:
                writer.write(chunk)
                await writer.drain()
                req.buffered -= len(chunk)
            if not req.reset.is_set() and writer.can_write_eof():
                with contextlib.suppress(OSError):
                    writer.write_eof()

        down = asyncio.create_task(downlink())
        up = asyncio.create_task(uplink())
        reset = asyncio.create_task(req.reset.wait())
        try:
            # done when the client reset the stream, or when both directions have finished
            pending: set[asyncio.Task] = {down, up}
            while pending:
                done, _ = await asyncio.wait(pending | {reset}, return_when=asyncio.FIRST_COMPLETED)
                if reset in done:
                    break
                for t in done:
                    pending.discard(t)
                    if t.exception() is not None:
                        raise t.exception()  # type: ignore[misc]
        finally:
            for t in (down, up, reset):
                t.cancel()
            await asyncio.gather(down, up, reset, return_exceptions=True)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "connection timed out"
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno).lower()
    return str(exc) or type(exc).__name__
