"""Fault injection on the Raft transport: per-peer message loss, partitions and delay.

Test-only. A replica uses :class:`FaultyTransport` instead of pysyncobj's ``TCPTransport``
when the environment variable ``HAPLANE_FAULT_FILE`` names a rules file (see
``haplane.server.transport_class``). The chaos harness rewrites that file to cut, slow or heal
links while the replica runs; the faults are real — Raft messages are really lost or late.

The rules file is JSON, keyed by the *peer's* Raft address::

    {"version": 3,
     "drop":  {"127.0.0.1:7102": 1.0, "127.0.0.1:7103": 0.1},
     "delay": {"127.0.0.1:7103": 0.2}}

* ``drop[p]``: probability that a message is lost, applied independently to every message this
  replica sends to ``p`` *and* every message it receives from ``p``. One file alone therefore
  cuts (1.0) or thins a link in both directions; the harness writes both ends anyway.
* ``drop[p] >= 1.0`` is a partition and behaves like an iptables DROP rule: no new connection to
  or from ``p`` is established, and an established one dies once nothing has been received on it
  for pysyncobj's ``connectionTimeout`` (as a real TCP connection whose peer went silent does).
* ``delay[p]``: seconds every outgoing message to ``p`` is held back (FIFO per peer; a message
  never overtakes an earlier one to the same peer). Delayed messages leave from a tick callback,
  so the granularity is pysyncobj's tick (~50 ms).
* ``version``: opaque; after loading a file the transport writes ``<file>.applied`` holding
  ``{"version": v, "t": <wall clock>}`` so the harness knows when a rule is in force.

The file is re-read when it changes (inode, mtime or size), checked at most every
``RELOAD_INTERVAL`` seconds from the tick thread. An unreadable or invalid file keeps the rules
in force and logs a warning; a missing file means no faults.

Threading: pysyncobj calls every transport method on its tick thread; nothing here locks.
The pure parts (:class:`FaultRules`, :func:`should_drop`, :class:`DelayQueue`,
:class:`RulesWatcher`) take time and randomness as arguments and are unit-tested alone.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pysyncobj.tcp_connection import CONNECTION_STATE

from haplane.store.transport import RaftTransport

log = logging.getLogger(__name__)

FAULT_FILE_ENV = "HAPLANE_FAULT_FILE"
RELOAD_INTERVAL = 0.1
APPLIED_SUFFIX = ".applied"


# ----------------------------------------------------------------------------- rules (pure)


@dataclass(frozen=True)
class FaultRules:
    """Per-peer drop probabilities and delays. Empty rules mean a healthy network."""

    drop: Mapping[str, float] = field(default_factory=dict)
    delay: Mapping[str, float] = field(default_factory=dict)
    version: Any = None

    @classmethod
    def parse(cls, doc: Any) -> FaultRules:
        """Validate a decoded rules document; raises ValueError on anything malformed.

        Probabilities are clamped to [0, 1]; delays must be finite and >= 0.
        """
        if doc is None or doc == {}:
            return cls()
        if not isinstance(doc, dict):
            raise ValueError("fault rules must be a JSON object")
        unknown = set(doc) - {"drop", "delay", "version"}
        if unknown:
            raise ValueError(f"unknown fault rule field(s): {sorted(unknown)}")
        drop = _peer_map(doc.get("drop"), "drop")
        delay = _peer_map(doc.get("delay"), "delay")
        for peer, d in delay.items():
            if d < 0:
                raise ValueError(f"delay for {peer} must be >= 0, got {d}")
        return cls(drop={p: min(1.0, max(0.0, v)) for p, v in drop.items() if v > 0},
                   delay={p: v for p, v in delay.items() if v > 0}, version=doc.get("version"))

    def to_doc(self) -> dict[str, Any]:
        """The JSON document that :meth:`parse` reads back into equal rules."""
        doc: dict[str, Any] = {"drop": dict(self.drop), "delay": dict(self.delay)}
        if self.version is not None:
            doc["version"] = self.version
        return doc

    def drop_probability(self, peer: str) -> float:
        return self.drop.get(peer, 0.0)

    def delay_for(self, peer: str) -> float:
        return self.delay.get(peer, 0.0)

    def is_partitioned(self, peer: str) -> bool:
        """Is the link to ``peer`` cut entirely (every message lost, no connection)?"""
        return self.drop.get(peer, 0.0) >= 1.0

    @property
    def empty(self) -> bool:
        return not self.drop and not self.delay


def _peer_map(value: Any, what: str) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{what} must map peer addresses to numbers")
    out: dict[str, float] = {}
    for peer, v in value.items():
        if not isinstance(peer, str) or not peer:
            raise ValueError(f"{what}: peer keys must be non-empty strings")
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ValueError(f"{what}[{peer}] must be a finite number, got {v!r}")
        out[peer] = float(v)
    return out


def should_drop(rules: FaultRules, peer: str, rng: random.Random) -> bool:
    """Decide the fate of one message to or from ``peer``. Certain at 0 and 1 (no draw)."""
    p = rules.drop_probability(peer)
    if p <= 0.0:
        return False
    if p >= 1.0:
        return True
    return rng.random() < p


class DelayQueue:
    """Messages held back per peer, released in FIFO order once due.

    A message's due time is ``max(now + delay, due time of the previous message to that peer)``:
    lowering a delay never lets a later message overtake an earlier one (TCP keeps order).
    """

    def __init__(self) -> None:
        self._queues: dict[str, deque[tuple[float, Any]]] = {}

    def push(self, peer: str, message: Any, now: float, delay: float) -> float:
        """Queue ``message`` for ``peer``; returns its due time."""
        q = self._queues.setdefault(peer, deque())
        due = now + delay
        if q and q[-1][0] > due:
            due = q[-1][0]
        q.append((due, message))
        return due

    def pop_due(self, now: float) -> Iterator[tuple[str, Any]]:
        """Yield ``(peer, message)`` for every message due at ``now``, per peer in order."""
        for peer in list(self._queues):
            q = self._queues[peer]
            while q and q[0][0] <= now:
                yield peer, q.popleft()[1]
            if not q:
                del self._queues[peer]

    def drop_peer(self, peer: str) -> int:
        """Forget everything queued for ``peer`` (its connection died); returns how many."""
        q = self._queues.pop(peer, None)
        return len(q) if q else 0

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values())


FileKey = tuple[int, int, int]


class RulesWatcher:
    """Re-reads the rules file when it changes, at most once per ``interval`` seconds.

    ``stat(path)`` returns a key that changes whenever the file is replaced or rewritten
    (``(inode, mtime_ns, size)`` by default — the inode catches two atomic replaces within one
    mtime tick) or None when the file is missing; ``read(path)`` returns its text. Both are
    injectable so the reload logic is testable without a file system or a clock.
    """

    def __init__(self, path: str, *, interval: float = RELOAD_INTERVAL,
                 stat: Callable[[str], FileKey | None] | None = None,
                 read: Callable[[str], str] | None = None) -> None:
        self.path = path
        self.interval = interval
        self._stat = stat or _stat_key
        self._read = read or _read_text
        self._next_check = -math.inf
        self._key: FileKey | None = None
        self.rules = FaultRules()
        self.errors = 0

    def poll(self, now: float) -> bool:
        """Reload if due and changed; returns True when new rules were loaded."""
        if now < self._next_check:
            return False
        self._next_check = now + self.interval
        try:
            key = self._stat(self.path)
        except OSError:
            key = None
        if key == self._key:
            return False
        if key is None:
            self._key, self.rules = None, FaultRules()
            return True
        try:
            rules = FaultRules.parse(json.loads(self._read(self.path)))
        except (OSError, ValueError) as exc:
            self.errors += 1
            log.warning("fault rules %s unreadable, keeping the current ones: %s", self.path, exc)
            self._key = key  # do not retry a broken file until it changes again
            return False
        self._key, self.rules = key, rules
        return True


def _stat_key(path: str) -> FileKey | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def write_rules(path: str, rules: FaultRules) -> None:
    """Atomically replace the rules file (harness side)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(rules.to_doc(), f)
    os.replace(tmp, path)


def read_applied(path: str) -> dict[str, Any] | None:
    """The ``<file>.applied`` marker the transport wrote, or None (harness side)."""
    try:
        with open(path + APPLIED_SUFFIX, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


# ----------------------------------------------------------------------------- the transport


def _addr(node: Any) -> str:
    return getattr(node, "address", None) or str(getattr(node, "id", node))


class FaultyTransport(RaftTransport):
    """The Raft transport (:class:`~haplane.store.transport.RaftTransport`) with the rules of
    ``$HAPLANE_FAULT_FILE`` applied per peer."""

    def __init__(self, syncObj: Any, selfNode: Any, otherNodes: Any) -> None:  # noqa: N803 - pysyncobj's names
        # Set before super().__init__: it registers our _onTick and adds the nodes.
        path = os.environ.get(FAULT_FILE_ENV, "")
        if not path:
            raise RuntimeError(f"FaultyTransport needs {FAULT_FILE_ENV}")
        self._watcher = RulesWatcher(path)
        self._rng = random.Random()
        self._delayed = DelayQueue()
        self._last_rx: dict[str, float] = {}
        self._cut_since: dict[str, float] = {}
        self.dropped_out = self.dropped_in = self.delayed_out = 0
        super().__init__(syncObj, selfNode, otherNodes)
        self._reload(time.monotonic())

    @property
    def rules(self) -> FaultRules:
        return self._watcher.rules

    # -------------------------------------------------------------- rules upkeep
    def _reload(self, now: float) -> None:
        old = self._watcher.rules
        if not self._watcher.poll(now):
            return
        new = self._watcher.rules
        for peer in set(old.drop) | set(new.drop):
            if new.is_partitioned(peer) and not old.is_partitioned(peer):
                self._cut_since[peer] = now
            elif not new.is_partitioned(peer):
                self._cut_since.pop(peer, None)
        if not new.empty or not old.empty:
            log.warning("fault rules now in force: %s", json.dumps(new.to_doc(), sort_keys=True))
        self._write_applied(new)

    def _write_applied(self, rules: FaultRules) -> None:
        path = self._watcher.path + APPLIED_SUFFIX
        try:
            with open(path + ".tmp", "w", encoding="utf-8") as f:
                json.dump({"version": rules.version, "t": time.time()}, f)
            os.replace(path + ".tmp", path)
        except OSError as exc:
            log.warning("cannot write %s: %s", path, exc)

    def _onTick(self) -> None:  # noqa: N802 - pysyncobj's name
        now = time.monotonic()
        self._reload(now)
        self._expire_cut_connections(now)
        super()._onTick()
        self._flush_delayed(now)

    def _expire_cut_connections(self, now: float) -> None:
        """A cut link's established connection dies once it has been silent for the timeout."""
        timeout = self._syncObj.conf.connectionTimeout
        for peer, since in self._cut_since.items():
            node = self._nodeAddrToNode.get(peer)
            conn = self._connections.get(node) if node is not None else None
            if conn is None or conn.state == CONNECTION_STATE.DISCONNECTED:
                continue
            if now - max(since, self._last_rx.get(peer, -math.inf)) > timeout:
                self._delayed.drop_peer(peer)
                conn.disconnect()

    def _flush_delayed(self, now: float) -> None:
        for peer, message in self._delayed.pop_due(now):
            node = self._nodeAddrToNode.get(peer)
            conn = self._connections.get(node) if node is not None else None
            if conn is not None and conn.state == CONNECTION_STATE.CONNECTED:
                conn.send(message)

    # -------------------------------------------------------------- message paths
    def send(self, node: Any, message: Any) -> bool:
        peer = _addr(node)
        rules = self._watcher.rules
        if rules.empty:
            return super().send(node, message)
        if node not in self._connections or self._connections[node].state != CONNECTION_STATE.CONNECTED:
            return False
        if should_drop(rules, peer, self._rng):
            self.dropped_out += 1
            return True  # "sent": lost on the wire
        delay = rules.delay_for(peer)
        if delay > 0:
            self.delayed_out += 1
            self._delayed.push(peer, message, time.monotonic(), delay)
            return True
        return super().send(node, message)

    def _onMessageReceived(self, node: Any, message: Any) -> None:  # noqa: N802 - pysyncobj's name
        peer = _addr(node)
        if should_drop(self._watcher.rules, peer, self._rng):
            self.dropped_in += 1
            return
        self._last_rx[peer] = time.monotonic()
        super()._onMessageReceived(node, message)

    def _connectIfNecessarySingle(self, node: Any) -> bool:  # noqa: N802 - pysyncobj's name
        if self._watcher.rules.is_partitioned(_addr(node)):
            conn = self._connections.get(node)
            return conn is not None and conn.state != CONNECTION_STATE.DISCONNECTED
        return super()._connectIfNecessarySingle(node)

    def _onIncomingMessageReceived(self, conn: Any, message: Any) -> None:  # noqa: N802 - pysyncobj's name
        # The handshake names the peer (after the key exchange): refuse a cut peer there.
        if isinstance(message, str) and self._watcher.rules.is_partitioned(message) \
                and message in self._nodeAddrToNode:
            self._unknownConnections.discard(conn)
            conn.disconnect()
            return
        super()._onIncomingMessageReceived(conn, message)
