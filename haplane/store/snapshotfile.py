"""The snapshot file: the whole replicated state, self-describing and self-checking.

Layout (version 1)::

    HAPLANE-SNAPSHOT 1\\n
    {"format": 1, "sha256": ..., "stateHash": ..., "revision": ..., ...}\\n   <- one JSON line
    gzip(msgpack({"rev", "epoch", "epoch_holder", "objects": [[kind, ns, name, obj], ...],
                  "dedup": [[rid, result], ...]}))

``sha256`` covers the compressed body (transport and storage damage); ``stateHash`` is
:meth:`StateMachine.state_hash` of the state the body decodes to (end-to-end: what a restored
replica must report). :func:`decode` checks both. ``head -2 FILE`` shows the header.

The state is captured by :func:`capture` under the state machine's lock, as shallow copies:
stored objects are never mutated in place (the FSM's contract), so the copies stay consistent
after the lock is released and can be encoded off the event loop.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import msgpack

from haplane.store.fsm import StateMachine

MAGIC = b"HAPLANE-SNAPSHOT 1\n"
FORMAT = 1
MAX_HEADER = 64 * 1024


class SnapshotError(ValueError):
    """The file is not a valid, intact haplane snapshot."""


@dataclass
class Snapshot:
    header: dict[str, Any]
    state: dict[str, Any]  # the shape of StateMachine.snapshot()

    @property
    def objects(self) -> int:
        return sum(len(t) for t in self.state["objects"].values())


def capture(fsm: StateMachine) -> dict[str, Any]:
    """A consistent copy of ``fsm``'s replicated state (cheap: tables are copied, objects shared)."""
    with fsm.lock:
        return {"rev": fsm.rev, "epoch": fsm.epoch, "epoch_holder": fsm.epoch_holder,
                "objects": {kind: dict(table) for kind, table in fsm.objects.items()},
                "dedup": OrderedDict(fsm.dedup)}


def state_hash(state: dict[str, Any]) -> str:
    """The state hash a replica holding ``state`` reports."""
    sm = StateMachine()
    sm.restore(state)
    return sm.state_hash()


def encode(state: dict[str, Any], meta: dict[str, Any] | None = None) -> bytes:
    """The file bytes for ``state``; ``meta`` (JSON-able) goes into the header as it is."""
    doc = {"rev": state["rev"], "epoch": state["epoch"], "epoch_holder": state.get("epoch_holder", ""),
           "objects": [[kind, ns, name, obj] for kind in sorted(state["objects"])
                       for (ns, name), obj in sorted(state["objects"][kind].items())],
           "dedup": [[rid, list(result)] for rid, result in state["dedup"].items()]}
    body = gzip.compress(msgpack.packb(doc, use_bin_type=True), compresslevel=6, mtime=0)
    header = dict(meta or {})
    header.update(format=FORMAT, sha256=hashlib.sha256(body).hexdigest(), stateHash=state_hash(state),
                  revision=state["rev"], epoch=state["epoch"], objects=len(doc["objects"]), bodyBytes=len(body))
    return MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n" + body


def decode(data: bytes) -> Snapshot:
    """Parse and verify snapshot bytes. Raises SnapshotError."""
    if not data.startswith(MAGIC):
        raise SnapshotError("not a haplane snapshot (bad magic)")
    nl = data.find(b"\n", len(MAGIC), len(MAGIC) + MAX_HEADER)
    if nl < 0:
        raise SnapshotError("truncated header")
    try:
        header = json.loads(data[len(MAGIC):nl])
    except ValueError as exc:
        raise SnapshotError(f"bad header: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise SnapshotError(f"unsupported snapshot format {header.get('format') if isinstance(header, dict) else '?'}")
    body = data[nl + 1:]
    if hashlib.sha256(body).hexdigest() != header.get("sha256"):
        raise SnapshotError(f"checksum mismatch: the body ({len(body)} bytes) is damaged or truncated")
    try:
        doc = msgpack.unpackb(gzip.decompress(body), raw=False, strict_map_key=False)
        objects: dict[str, dict[tuple[str, str], dict]] = {}
        for kind, ns, name, obj in doc["objects"]:
            objects.setdefault(kind, {})[(ns, name)] = obj
        state = {"rev": doc["rev"], "epoch": doc["epoch"], "epoch_holder": doc.get("epoch_holder", ""),
                 "objects": objects, "dedup": OrderedDict((rid, tuple(res)) for rid, res in doc["dedup"])}
    except (OSError, ValueError, KeyError, TypeError, EOFError, msgpack.ExtraData) as exc:
        raise SnapshotError(f"undecodable body: {exc}") from None
    got = state_hash(state)
    if got != header.get("stateHash"):
        raise SnapshotError(f"state hash mismatch: header says {header.get('stateHash')}, body gives {got}")
    return Snapshot(header, state)


def read(path: str) -> Snapshot:
    """Read and verify a snapshot file. Raises SnapshotError or OSError."""
    with open(path, "rb") as f:
        return decode(f.read())


def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the whole new one."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
