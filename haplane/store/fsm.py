"""The replicated state machine: typed objects keyed by kind / namespace / name.

Contract (hashicorp/raft's FSM contract, restated):

* ``apply_entry`` is **deterministic**: fed the same entries in the same order, every replica
  reaches the same state (compare with :meth:`StateMachine.state_hash`). It reads no clock, no
  randomness and no environment; everything of that kind comes inside the op.
* ``apply_entry`` **never raises**. pysyncobj retries a raising apply forever and stalls the
  cluster, so every failure becomes an error *result* for that op and the state is unchanged.
* Stored objects are never mutated in place: a write stores a fresh dict. Readers on other
  threads may therefore hold references to stored objects without copying, as long as they
  take them under :attr:`lock`.
* ``snapshot`` / ``restore`` round-trip the whole replicated state (objects, revision, epoch,
  request-id table).

Threading: pysyncobj calls ``apply_entry`` on its tick thread; the API reads on the event loop
thread. Both hold :attr:`lock`. The change listener is called with the lock held, so a
reader that lists and subscribes under the lock sees every change exactly once.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import msgpack

from haplane.store import commands

log = logging.getLogger(__name__)

# Results handed back to the proposer (never stored, never compared between replicas).
Result = tuple  # ("ok", obj | None) or ("err", code, reason, message)

DEDUP_LIMIT = 100_000  # request ids remembered; FIFO eviction keeps it deterministic
PROTECTED_NAMESPACES = frozenset({"default"})
SERVER_META = ("uid", "creationTimestamp", "generation", "resourceVersion")


@dataclass(frozen=True, slots=True)
class Change:
    """One mutation, as a watch event: ``type`` is ADDED, MODIFIED or DELETED."""

    rv: int
    type: str
    kind: str
    ns: str
    obj: dict[str, Any]
    prev: dict[str, Any] | None = None  # the object before a MODIFIED or DELETED (selector transitions, rewind)


class OpError(Exception):
    """An op failed; carries the Status fields. Internal to apply: never escapes it."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


class StateMachine:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        self.rev = 0
        self.epoch = 0
        self.epoch_holder = ""
        self.dedup: OrderedDict[str, tuple] = OrderedDict()
        self.applied_entries = 0
        # Not replicated: who hears about changes (the watch hub) and restores.
        self.listener: Callable[[list[Change]], None] | None = None
        self.restore_listener: Callable[[int], None] | None = None

    # ------------------------------------------------------------------ apply
    def apply_entry(self, data: bytes) -> list[Result]:
        """Apply one Raft entry (a batch of ops); return one result per op. Never raises."""
        try:
            ops = commands.decode_entry(data)
        except ValueError as exc:
            log.error("skipping entry: %s", exc)
            return [("err", 400, "BadRequest", str(exc))]
        results: list[Result] = []
        with self.lock:
            self.applied_entries += 1
            changes: list[Change] = []
            for op in ops:
                results.append(self._apply_op(op, changes))
            if changes and self.listener is not None:
                try:
                    self.listener(changes)
                except Exception:  # a broken listener must not stall the log
                    log.exception("change listener failed")
        return results

    def _apply_op(self, op: Any, changes: list[Change]) -> Result:
        if not isinstance(op, dict):
            return ("err", 400, "BadRequest", "op is not a map")
        rid = op.get("rid")
        if isinstance(rid, str) and rid in self.dedup:
            return self._replay(self.dedup[rid])
        mark = len(changes)
        saved = (self.rev,)
        try:
            epoch = op.get("epoch")
            if epoch is not None and (not isinstance(epoch, int) or epoch < self.epoch):
                raise OpError(409, "Conflict", f"fenced: epoch {epoch} is older than the current epoch {self.epoch}")
            handler = _HANDLERS.get(op.get("t"))
            if handler is None:
                raise OpError(400, "BadRequest", f"unknown op type {op.get('t')!r}")
            result: Result = ("ok", handler(self, op, changes))
        except OpError as exc:
            del changes[mark:]
            self.rev = saved[0]
            result = ("err", exc.code, exc.reason, exc.message)
        except Exception as exc:  # malformed op: must not raise out of apply
            del changes[mark:]
            self.rev = saved[0]
            log.exception("op failed")
            result = ("err", 400, "BadRequest", f"malformed op: {exc.__class__.__name__}: {exc}")
        if isinstance(rid, str):
            self._remember(rid, result)
        return result

    def _remember(self, rid: str, result: Result) -> None:
        if result[0] == "ok":
            obj = result[1]
            meta = obj.get("metadata", {}) if isinstance(obj, dict) else {}
            stored: tuple = ("ok", obj.get("kind", "") if isinstance(obj, dict) else "",
                             meta.get("namespace", ""), meta.get("name", ""))
        else:
            stored = result
        self.dedup[rid] = stored
        while len(self.dedup) > DEDUP_LIMIT:
            self.dedup.popitem(last=False)

    def _replay(self, stored: tuple) -> Result:
        if stored[0] == "err":
            return stored
        _, kind, ns, name = stored
        current = self.objects.get(kind, {}).get((ns, name))
        return ("ok", current if current is not None else {"kind": "Status", "status": "Success"})

    # ------------------------------------------------------------- handlers
    def _create(self, op: dict, changes: list[Change]) -> dict:
        kind, ns, obj = op["kind"], op.get("ns", ""), op["obj"]
        name = obj["metadata"]["name"]
        if ns and kind != "Namespace" and ("", ns) not in self.objects.get("Namespace", {}):
            raise OpError(404, "NotFound", f'namespaces "{ns}" not found')
        table = self.objects.setdefault(kind, {})
        if (ns, name) in table:
            raise OpError(409, "AlreadyExists", f'{kind} "{name}" already exists')
        # Ops are freshly decoded from the entry, so they are private to this apply: no copy needed.
        obj["metadata"]["generation"] = 1
        return self._store(kind, ns, name, obj, "ADDED", changes)

    def _update(self, op: dict, changes: list[Change]) -> dict:
        kind, ns, name = op["kind"], op.get("ns", ""), op["name"]
        old = self._existing(kind, ns, name, op.get("pre") or {})
        new = updated_object(old, op["obj"], status=op.get("sub") == "status")
        if _same_ignoring_rv(new, old):
            return old  # a no-op write bumps nothing and wakes no watcher (as Kubernetes does)
        return self._store(kind, ns, name, new, "MODIFIED", changes, prev=old)

    def _delete(self, op: dict, changes: list[Change]) -> dict:
        kind, ns, name = op["kind"], op.get("ns", ""), op["name"]
        self._existing(kind, ns, name, op.get("pre") or {})
        if kind == "Namespace":
            if name in PROTECTED_NAMESPACES:
                raise OpError(403, "Forbidden", f'namespace "{name}" may not be deleted')
            for k in sorted(self.objects):
                for key in sorted(k2 for k2 in self.objects[k] if k2[0] == name):
                    self._remove(k, key[0], key[1], changes)
        return self._remove(kind, ns, name, changes)

    def _claim(self, op: dict, changes: list[Change]) -> dict:
        epoch = op["epoch"]
        if not isinstance(epoch, int) or epoch <= self.epoch:
            raise OpError(409, "Conflict", f"epoch {epoch} is not newer than {self.epoch}")
        self.epoch, self.epoch_holder = epoch, str(op.get("holder", ""))
        return {"epoch": self.epoch, "holder": self.epoch_holder}

    def _barrier(self, op: dict, changes: list[Change]) -> None:
        return None

    # -------------------------------------------------------------- helpers
    def _existing(self, kind: str, ns: str, name: str, pre: dict) -> dict:
        old = self.objects.get(kind, {}).get((ns, name))
        if old is None:
            raise OpError(404, "NotFound", f'{kind} "{name}" not found')
        meta = old["metadata"]
        if pre.get("uid") and pre["uid"] != meta.get("uid"):
            raise OpError(409, "Conflict", f'{kind} "{name}": precondition failed: uid is {meta.get("uid")}, '
                                           f'not {pre["uid"]}')
        if pre.get("rv") and pre["rv"] != meta.get("resourceVersion"):
            raise OpError(409, "Conflict", f'Operation cannot be fulfilled on {kind} "{name}": the object has '
                                           f"been modified; please apply your changes to the latest version "
                                           f"and try again")
        return old

    def _store(self, kind: str, ns: str, name: str, obj: dict, etype: str, changes: list[Change],
               prev: dict | None = None) -> dict:
        self.rev += 1
        obj["metadata"]["resourceVersion"] = str(self.rev)
        self.objects.setdefault(kind, {})[(ns, name)] = obj
        changes.append(Change(self.rev, etype, kind, ns, obj, prev))
        return obj

    def _remove(self, kind: str, ns: str, name: str, changes: list[Change]) -> dict:
        old = self.objects[kind].pop((ns, name))
        self.rev += 1
        gone = dict(old)
        gone["metadata"] = dict(old["metadata"], resourceVersion=str(self.rev))
        changes.append(Change(self.rev, "DELETED", kind, ns, gone, prev=old))
        return gone

    # ------------------------------------------------------------------ reads
    def get(self, kind: str, ns: str, name: str) -> dict | None:
        with self.lock:
            return self.objects.get(kind, {}).get((ns, name))

    def list(self, kind: str, ns: str | None = None) -> tuple[list[dict], int]:
        """Objects of ``kind`` (in ``ns`` unless None), sorted by namespace and name, and the revision."""
        with self.lock:
            table = self.objects.get(kind, {})
            keys = sorted(k for k in table if ns is None or k[0] == ns)
            return [table[k] for k in keys], self.rev

    def kinds(self) -> Iterable[str]:
        return list(self.objects)

    # ------------------------------------------------------- snapshot/restore
    def snapshot(self) -> dict[str, Any]:
        """The replicated state as plain containers (shared, not copied: pickle it at once)."""
        with self.lock:
            return {"rev": self.rev, "epoch": self.epoch, "epoch_holder": self.epoch_holder,
                    "objects": self.objects, "dedup": self.dedup}

    def restore(self, snap: dict[str, Any]) -> None:
        with self.lock:
            self.objects = {k: dict(v) for k, v in snap["objects"].items()}
            self.rev = snap["rev"]
            self.epoch = snap["epoch"]
            self.epoch_holder = snap.get("epoch_holder", "")
            self.dedup = OrderedDict(snap["dedup"])
            if self.restore_listener is not None:
                try:
                    self.restore_listener(self.rev)
                except Exception:
                    log.exception("restore listener failed")

    def state_hash(self) -> str:
        """A digest of the replicated state; equal on replicas that applied the same entries."""
        with self.lock:
            h = hashlib.sha256()
            h.update(msgpack.packb([self.rev, self.epoch, self.epoch_holder, list(self.dedup.items())],
                                   use_bin_type=True))
            for kind in sorted(self.objects):
                for key in sorted(self.objects[kind]):
                    h.update(msgpack.packb([kind, list(key), _canonical(self.objects[kind][key])],
                                           use_bin_type=True))
            return h.hexdigest()


def updated_object(old: dict, incoming: dict, *, status: bool) -> dict:
    """What an update of ``old`` with ``incoming`` stores (before its resourceVersion is stamped):
    a status write takes only ``status``; any other keeps the server-set metadata and the old
    status, and bumps ``generation`` when ``spec`` changes. Pure apart from reusing ``incoming``
    (private to the op); also the API's dry-run preview of an update."""
    if status:
        new = dict(old)
        new["metadata"] = dict(old["metadata"])
        if "status" in incoming:
            new["status"] = incoming["status"]
    else:
        new = incoming
        meta = new.setdefault("metadata", {})
        for key in SERVER_META:
            if key in old["metadata"]:
                meta[key] = old["metadata"][key]
        if "status" in old:
            new["status"] = old["status"]
        else:
            new.pop("status", None)
        if new.get("spec") != old.get("spec"):
            meta["generation"] = old["metadata"].get("generation", 1) + 1
    new["metadata"]["name"], new["metadata"]["namespace"] = old["metadata"]["name"], old["metadata"].get("namespace")
    if new["metadata"]["namespace"] is None:
        new["metadata"].pop("namespace")
    return new


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return [[k, _canonical(value[k])] for k in sorted(value)]
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def _same_ignoring_rv(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for key in a:
        if key == "metadata":
            ma = {k: v for k, v in a[key].items() if k != "resourceVersion"}
            mb = {k: v for k, v in b[key].items() if k != "resourceVersion"}
            if ma != mb:
                return False
        elif a[key] != b[key]:
            return False
    return True


_HANDLERS: dict[str, Callable[[StateMachine, dict, list[Change]], Any]] = {
    "create": StateMachine._create,
    "update": StateMachine._update,
    "delete": StateMachine._delete,
    "claim": StateMachine._claim,
    "barrier": StateMachine._barrier,
}
