"""Reaching a replica that stopped for a while (SIGSTOP, a VM pause): the keepalive, the Raft
transport's listen backlog and its abandoning of stuck dials (haplane/store/raft.py,
haplane/store/transport.py).

Real loopback sockets and pysyncobj's real connections, with a stand-in for SyncObj. A stopped
replica is a bound transport that is never ticked: its kernel still queues connections. Where
a test needs a time past the connection timeout, it passes the time in.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pysyncobj import SyncObjConf
from pysyncobj.encryptor import getEncryptor
from pysyncobj.node import TCPNode
from pysyncobj.poller import createPoller
from pysyncobj.tcp_connection import CONNECTION_STATE

from haplane.store.raft import RaftNode
from haplane.store.transport import LISTEN_BACKLOG, RaftTransport

TIMEOUT = 2.0
ENCRYPTOR = getEncryptor("cluster secret")  # the key exchange is what a stopped peer leaves pending


class FakeSyncObj:
    """What the transport and the keepalive use of a SyncObj."""

    def __init__(self, bind: str, timeout: float = TIMEOUT) -> None:
        self.conf = SyncObjConf(connectionTimeout=timeout, connectionRetryTime=0.0, bindAddress=bind)
        self._poller = createPoller("auto")
        self.encryptor = ENCRYPTOR
        self.connected: set[Any] = set()
        self.ticks: list[Callable[[], None]] = []
        self.otherNodes: set[Any] = set()  # noqa: N815 - SyncObj's name
        self.selfNode: Any = bind  # noqa: N815 - SyncObj's name (None would be a learner)
        self._SyncObj__transport: RaftTransport | None = None

    def addOnTickCallback(self, cb: Callable[[], None]) -> None:  # noqa: N802 - SyncObj's name
        self.ticks.append(cb)

    def isNodeConnected(self, node: Any) -> bool:  # noqa: N802 - SyncObj's name
        return node in self.connected

    def tick(self, wait: float = 0.01) -> None:
        for cb in self.ticks:
            cb()
        self._poller.poll(wait)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_transport(addr: str, peers: list[str], timeout: float = TIMEOUT) -> tuple[RaftTransport, FakeSyncObj]:
    sync = FakeSyncObj(bind=addr, timeout=timeout)
    nodes = [TCPNode(p) for p in peers]
    sync.otherNodes = set(nodes)
    t = RaftTransport(sync, TCPNode(addr), nodes)
    t.setOnNodeConnectedCallback(sync.connected.add)
    t.setOnNodeDisconnectedCallback(sync.connected.discard)
    sync._SyncObj__transport = t
    return t, sync


@pytest.fixture
def cleanup() -> Iterator[list[Any]]:
    things: list[Any] = []
    yield things
    for x in things:
        x.destroy() if isinstance(x, RaftTransport) else x.close()


def dial_without_accept(port: int, n: int, opened: list[Any]) -> int:
    """Dial ``port`` up to ``n`` times, nobody accepting; how many TCP handshakes complete
    (stops at the first that does not within 0.5 s: its SYN was dropped, the queue is full)."""
    for done in range(n):
        c = socket.socket()
        opened.append(c)
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))
        _, writable, _ = select.select([], [c], [], 0.5)
        if not writable or c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
            return done
    return n


def full_listener(opened: list[Any]) -> int:
    """A listener that never accepts, its accept queue already full: further SYNs are dropped."""
    srv = socket.socket()
    opened.append(srv)
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    dial_without_accept(port, 2, opened)  # listen(0) queues one; the second is left in SYN-SENT
    return port


def accept_all(sock: socket.socket, opened: list[Any]) -> int:
    sock.setblocking(False)
    n = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return n
        opened.append(conn)
        n += 1


def keepalive(sync: FakeSyncObj) -> RaftNode:
    """RaftNode's keepalive, on the stand-in SyncObj, due on every tick."""
    node = RaftNode.__new__(RaftNode)
    node._sync = sync
    node._keepalive_every = 0.0
    node._next_keepalive = 0.0
    return node


# ------------------------------------------------------------------------------- the keepalive


def test_a_dial_to_a_stopped_replica_waits_and_is_answered_when_it_resumes(cleanup: list[Any]) -> None:
    # The root of test_paused_leader_cannot_land_decisions' flakiness: the keepalive used to send
    # on the pending dial, so the dialler timed it out and redialled every connectionTimeout,
    # one more connection queued at the stopped replica each time (a full queue within ~10 s).
    stopped_addr, dialler_addr = f"127.0.0.1:{free_port()}", f"127.0.0.5:{free_port()}"
    stopped, stopped_sync = make_transport(stopped_addr, [dialler_addr], timeout=0.3)
    dialler, dialler_sync = make_transport(dialler_addr, [stopped_addr], timeout=0.3)
    cleanup += [stopped, dialler]
    stopped._maybeBind()  # it listens, then stops: never ticked while "stopped"
    peer = next(iter(dialler_sync.otherNodes))
    warm = keepalive(dialler_sync)
    dialler_sync.tick()
    first_dial = dialler._lastConnectAttempt[peer]
    until = time.monotonic() + 2.0  # > 6 connection timeouts
    while time.monotonic() < until:
        dialler_sync.tick()
        warm._keep_connections_warm()
    assert dialler._connections[peer].state == CONNECTION_STATE.CONNECTED, "TCP is up, the key exchange pending"
    assert peer not in dialler_sync.connected
    assert dialler._lastConnectAttempt[peer] == first_dial, "one dial queued at the stopped replica, no redials"
    # The stopped replica resumes.
    resumed = time.monotonic()
    while not (dialler_sync.connected and stopped_sync.connected) and time.monotonic() - resumed < 2.0:
        stopped_sync.tick()
        dialler_sync.tick()
        warm._keep_connections_warm()
    # (pysyncobj drops the old dial when the answer arrives, as nothing was read on it for the
    # connection timeout, and dials again: one round trip.)
    assert peer in dialler_sync.connected and stopped_sync.connected, "connected within a few ticks"


def test_keepalive_goes_to_connected_peers_only(cleanup: list[Any]) -> None:
    addr = f"127.0.0.5:{free_port()}"
    t, sync = make_transport(addr, ["127.0.0.1:1", "127.0.0.2:1"])
    cleanup.append(t)
    up, pending = sorted(sync.otherNodes, key=lambda n: n.id)
    sync.connected.add(up)
    sent: list[Any] = []
    t.send = lambda node, message: sent.append(node) or True  # type: ignore[method-assign]
    keepalive(sync)._keep_connections_warm()
    assert sent == [up]


# ------------------------------------------------------------------------------- the transport


def test_the_listen_backlog_holds_many_redials(cleanup: list[Any]) -> None:
    # pysyncobj's listen(5): the 7th connection to a replica that does not accept was dropped.
    port = free_port()
    t, _ = make_transport(f"127.0.0.1:{port}", [])
    cleanup.append(t)
    t._maybeBind()
    assert t.ready
    assert dial_without_accept(port, 40, cleanup) == 40 <= LISTEN_BACKLOG


def test_a_dial_stuck_in_syn_sent_is_abandoned_after_the_connection_timeout(cleanup: list[Any]) -> None:
    port = full_listener(cleanup)
    t, sync = make_transport(f"127.0.0.5:{free_port()}", [f"127.0.0.1:{port}"])
    cleanup.append(t)
    peer = next(iter(sync.otherNodes))
    sync.tick(0.2)  # dials; the SYN is dropped
    conn = t._connections[peer]
    began = t._lastConnectAttempt[peer]
    assert conn.state == CONNECTION_STATE.CONNECTING
    # pysyncobj itself never gives up on it; the kernel's next retry may be a minute away.
    assert t.abandon_stuck_dials(began + TIMEOUT / 2) == []
    assert t.abandon_stuck_dials(began + TIMEOUT + 0.01) == [peer]
    assert conn.state == CONNECTION_STATE.CONNECTING and t._lastConnectAttempt[peer] > began, "dialled afresh"


def test_the_tick_abandons_a_stuck_dial(cleanup: list[Any]) -> None:
    port = full_listener(cleanup)
    t, sync = make_transport(f"127.0.0.5:{free_port()}", [f"127.0.0.1:{port}"], timeout=0.2)
    cleanup.append(t)
    peer = next(iter(sync.otherNodes))
    sync.tick()
    first = t._lastConnectAttempt[peer]
    until = time.monotonic() + 3.0
    while t._lastConnectAttempt[peer] == first and time.monotonic() < until:
        sync.tick(0.05)
    assert t._lastConnectAttempt[peer] > first


def test_dials_that_completed_or_are_not_ours_are_left_alone(cleanup: list[Any]) -> None:
    srv = socket.socket()
    cleanup.append(srv)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)  # accepts in the kernel; the process never answers the key exchange
    t, sync = make_transport(f"127.0.0.5:{free_port()}", [f"127.0.0.1:{srv.getsockname()[1]}"])
    cleanup.append(t)
    peer = next(iter(sync.otherNodes))
    t._onTick()  # dials; not polled yet, so pysyncobj still calls it connecting
    began = t._lastConnectAttempt[peer]
    time.sleep(0.1)
    assert t._connections[peer].state == CONNECTION_STATE.CONNECTING
    assert t.abandon_stuck_dials(began + 10 * TIMEOUT) == [], "the kernel connected it: not stuck"
    sync._poller.poll(0.1)
    assert t._connections[peer].state == CONNECTION_STATE.CONNECTED
    assert t.abandon_stuck_dials(began + 10 * TIMEOUT) == [], "a pending key exchange waits for the peer"
    # A peer with a greater address dials us: nothing of ours to abandon.
    t2, _ = make_transport(f"127.0.0.5:{free_port()}", ["127.0.0.6:1"])
    cleanup.append(t2)
    t2._onTick()
    assert t2.abandon_stuck_dials(time.monotonic() + 10 * TIMEOUT) == []
