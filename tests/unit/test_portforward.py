"""The port-forward session: kubectl's stream pairs against a real TCP server on loopback,
the client side played with the SPDY codec (what spdystream sends)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from node_agent import spdy
from node_agent.portforward import PortForwardSession


class Client:
    """kubectl's end: frames out through the session, frames back decoded."""

    def __init__(self, session_factory) -> None:  # noqa: ANN001
        self.codec = spdy.HeaderCodec()
        self.reader = spdy.FrameReader()
        self.received: asyncio.Queue[spdy.Frame] = asyncio.Queue()
        self.session = session_factory(self._recv)

    async def _recv(self, data: bytes) -> None:
        for f in self.reader.feed(data):
            self.received.put_nowait(f)

    async def send(self, frame: spdy.Frame) -> None:
        await self.session.feed(spdy.encode(frame, self.codec))

    async def open_pair(self, port: int, rid: str, error_id: int = 1, data_id: int = 3) -> None:
        for sid, stype in ((error_id, "error"), (data_id, "data")):
            await self.send(spdy.SynStream(sid, {"streamtype": [stype], "port": [str(port)], "requestid": [rid]}))

    async def next(self) -> spdy.Frame:
        return await asyncio.wait_for(self.received.get(), 5)

    async def until(self, pred) -> list[spdy.Frame]:  # noqa: ANN001
        seen = []
        while True:
            f = await self.next()
            seen.append(f)
            if pred(f):
                return seen


@pytest.fixture
async def upper_server() -> AsyncIterator[int]:
    """Reads until EOF, answers the upper-cased bytes, closes: a one-shot request/response."""
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        data = await r.read()
        w.write(data.upper())
        await w.drain()
        w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


def make(port_map: dict[int, int] | None = None, **kw):  # noqa: ANN003, ANN201
    async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", (port_map or {}).get(port, port))
    return lambda send: PortForwardSession(send, connect, **kw)


async def test_forward_and_close(upper_server: int) -> None:
    c = Client(make({80: upper_server}))
    await c.open_pair(80, "0")
    assert [await c.next(), await c.next()] == [spdy.SynReply(1, {}), spdy.SynReply(3, {})]
    await c.send(spdy.Data(1, b"", fin=True))  # kubectl half-closes the error stream at once
    await c.send(spdy.Data(3, b"hello "))
    await c.send(spdy.Data(3, b"pod", fin=True))
    frames = await c.until(lambda f: isinstance(f, spdy.Data) and f.stream_id == 3 and f.fin)
    assert b"".join(f.data for f in frames if isinstance(f, spdy.Data)) == b"HELLO POD"
    await c.send(spdy.RstStream(3, spdy.CANCEL))  # kubectl resets the data stream after its FIN
    assert await c.next() == spdy.Data(1, b"", fin=True)  # the error stream ends: no error
    await c.session.close()


async def test_two_requests_share_the_connection(upper_server: int) -> None:
    c = Client(make({80: upper_server}))
    await c.open_pair(80, "0", 1, 3)
    await c.open_pair(80, "1", 5, 7)
    await c.send(spdy.Data(7, b"b", fin=True))
    await c.send(spdy.Data(3, b"a", fin=True))
    got: dict[int, bytes] = {3: b"", 7: b""}
    fins = set()
    while fins != {3, 7}:
        f = await c.next()
        if isinstance(f, spdy.Data) and f.stream_id in got:
            got[f.stream_id] += f.data
            if f.fin:
                fins.add(f.stream_id)
    assert got == {3: b"A", 7: b"B"}
    await c.session.close()


async def test_refused_port_is_reported_on_the_error_stream(unused_tcp_port: int) -> None:
    c = Client(make())
    await c.open_pair(unused_tcp_port, "0")
    frames = await c.until(lambda f: isinstance(f, spdy.Data) and f.stream_id == 1 and f.fin)
    assert spdy.Data(3, b"", fin=True) in frames  # the data stream ends too, or kubectl would wait on it
    message = frames[-1].data.decode()  # type: ignore[union-attr]
    assert message == f"error forwarding port {unused_tcp_port} to pod: connect: connection refused"


@pytest.mark.parametrize(("headers", "status"), [
    pytest.param({"streamtype": ["data"], "port": ["http"], "requestid": ["0"]}, spdy.PROTOCOL_ERROR, id="port-name"),
    pytest.param({"streamtype": ["data"], "port": ["70000"], "requestid": ["0"]}, spdy.PROTOCOL_ERROR, id="port-range"),
    pytest.param({"streamtype": ["stdin"], "port": ["80"], "requestid": ["0"]}, spdy.PROTOCOL_ERROR, id="stream-type"),
    pytest.param({"port": ["80"]}, spdy.PROTOCOL_ERROR, id="no-type"),
])
async def test_bad_streams_are_reset(headers: dict, status: int) -> None:
    c = Client(make())
    await c.send(spdy.SynStream(1, headers))
    assert await c.next() == spdy.RstStream(1, status)


async def test_duplicate_stream_type_is_reset() -> None:
    c = Client(make())
    await c.send(spdy.SynStream(1, {"streamtype": ["error"], "port": ["80"], "requestid": ["0"]}))
    await c.send(spdy.SynStream(3, {"streamtype": ["error"], "port": ["80"], "requestid": ["0"]}))
    assert [await c.next(), await c.next()] == [spdy.SynReply(1, {}), spdy.RstStream(3, spdy.PROTOCOL_ERROR)]


async def test_half_a_pair_expires() -> None:
    c = Client(make(pair_timeout=0.05))
    await c.send(spdy.SynStream(1, {"streamtype": ["error"], "port": ["80"], "requestid": ["0"]}))
    assert await c.next() == spdy.SynReply(1, {})
    assert await c.next() == spdy.RstStream(1, spdy.CANCEL)


async def test_ping_is_answered_and_noise_ignored() -> None:
    c = Client(make())
    await c.send(spdy.Settings(((0, 7, 65536),)))
    await c.send(spdy.WindowUpdate(0, 100))
    await c.send(spdy.Data(99, b"for a stream nobody opened"))
    await c.send(spdy.Ping(1))
    assert await c.next() == spdy.Ping(1)


async def test_a_pod_that_does_not_read_gets_its_stream_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    """No flow control in spdystream: past MAX_BUFFERED unread bytes the data stream is reset
    (and the request ends with an error stream FIN) instead of memory growing."""
    import node_agent.portforward as pf
    monkeypatch.setattr(pf, "MAX_BUFFERED", 1000)
    hold = asyncio.Event()

    async def silent(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await hold.wait()  # never reads
        w.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    c = Client(make({80: port}))
    await c.open_pair(80, "0")
    await c.until(lambda f: f == spdy.SynReply(3, {}))
    await asyncio.sleep(0.1)  # connected
    for _ in range(5):
        await c.send(spdy.Data(3, b"x" * 400))
    frames = await c.until(lambda f: isinstance(f, spdy.Data) and f.stream_id == 1 and f.fin)
    assert spdy.RstStream(3, pf.FLOW_CONTROL_ERROR) in frames
    hold.set()
    server.close()
    await c.session.close()
