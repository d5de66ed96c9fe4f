"""pysyncobj's TCP transport, hardened for a peer that stops accepting for a while.

In pysyncobj the member with the greater address dials the other. When a replica stops running
(SIGSTOP, a VM pause, a starved machine) its kernel still completes the peers' TCP handshakes
and queues the connections for an ``accept`` that does not come. pysyncobj (0.3.17) listens
with a backlog of 5: once that queue is full, the kernel drops the peers' SYNs and retransmits a
dropped SYN only after exponentially growing gaps (measured on this machine: after 20 s in
SYN-SENT the next retry is 16 s away, then 32 s). And pysyncobj never gives up on a connection
that is still connecting — ``send`` skips it, and ``TcpConnection`` checks its timeout only on
a socket event or a send — so a peer waited for the kernel's next retry long *after* the
replica was accepting again: 11-14 s after a 30 s pause, more after longer ones. Meanwhile the resumed replica, hearing no leader, campaigned
through the peers it could reach and deposed a healthy leader (pysyncobj has no pre-vote; ours is
in haplane/store/prevote.py):
tests/integration/test_controllers.py::test_paused_leader_cannot_land_decisions failed so.

What filled the queue was our own keepalive, which made every peer redial every
``connectionTimeout`` (fixed in :meth:`haplane.store.raft.RaftNode._keep_connections_warm`).
This transport removes the trap itself, so that nothing else can spring it:

* it listens with a backlog of :data:`LISTEN_BACKLOG`, so a stopped replica's queue holds
  minutes of redials;
* it abandons a dial still in SYN-SENT ``connectionTimeout`` after it began (pysyncobj's own
  rule for a connection on which nothing arrives) and dials afresh: a new SYN goes out at once
  instead of waiting out the kernel's backoff. A dial whose TCP handshake is done but whose key
  exchange is pending is left alone: it holds one place in the queue, and when the peer runs
  again its answer makes pysyncobj dial afresh at once (the old dial has read nothing for
  ``connectionTimeout``), one round trip.

Both change only *when* connections are made, never what travels on them: Raft's safety does
not depend on them. Threading: pysyncobj calls every transport method on its tick thread.
"""

from __future__ import annotations

import logging
import select
from typing import Any

from pysyncobj.monotonic import monotonic as raft_clock
from pysyncobj.tcp_connection import CONNECTION_STATE
from pysyncobj.transport import TCPTransport

log = logging.getLogger(__name__)

# Room for many redials from every peer while this replica cannot accept (a peer redials at most
# every connectionTimeout); past that, abandoning stuck dials bounds the delay after a resume.
LISTEN_BACKLOG = 128


class RaftTransport(TCPTransport):
    """:class:`pysyncobj.transport.TCPTransport` with a larger listen backlog and a connect timeout."""

    def _maybeBind(self) -> None:  # noqa: N802 - pysyncobj's name
        was_ready = self._ready
        super()._maybeBind()
        if self._ready and not was_ready:
            # pysyncobj's TcpServer.bind() hard-codes listen(5); listen() on a listening socket
            # only changes its backlog.
            sock = getattr(self._server, "_TcpServer__socket", None)  # private (pinned 0.3.17)
            if sock is not None:
                sock.listen(LISTEN_BACKLOG)
            else:
                log.warning("cannot raise the Raft listen backlog (pysyncobj changed)")

    def _onTick(self) -> None:  # noqa: N802 - pysyncobj's name
        self.abandon_stuck_dials(raft_clock())
        super()._onTick()

    def abandon_stuck_dials(self, now: float) -> list[Any]:
        """Close every dial of ours still connecting ``connectionTimeout`` after it began;
        ``_onDisconnected`` dials again at once. Returns the nodes whose dial was abandoned."""
        timeout = self._syncObj.conf.connectionTimeout
        abandoned = []
        for node, conn in list(self._connections.items()):
            if conn.state != CONNECTION_STATE.CONNECTING or not self._shouldConnect(node):
                continue
            began = self._lastConnectAttempt.get(node)
            if began is None or now - began <= timeout or _writable(conn.fileno()):
                continue  # young, or connected (or failed) and not yet seen by pysyncobj's poller
            abandoned.append(node)
            conn.disconnect()
        return abandoned


def _writable(fd: int | None) -> bool:
    """Has the kernel finished this socket's connect (either way)? Without waiting."""
    if fd is None:
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return bool(poller.poll(0))
