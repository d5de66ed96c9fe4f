"""Command records: what travels through the Raft log.

One Raft entry is one msgpack map ``{"v": SCHEMA_VERSION, "ops": [op, ...]}`` — many API
writes can ride one entry (group commit). Each op is a plain map with a type ``t``:

``create``   kind, ns, obj                      -> AlreadyExists if the name is taken
``update``   kind, ns, name, obj, sub, pre      -> sub "status" replaces only status;
                                                   pre = {"rv": str, "uid": str} preconditions
``delete``   kind, ns, name, pre                -> deleting a Namespace deletes its contents first
``claim``    epoch, holder                      -> a new leader fences out older epochs
``barrier``  (nothing)                          -> a no-op that orders linearizable reads

Every write op may carry ``rid`` (request id: the state machine applies a rid at most once and
answers a retry with the first outcome) and ``epoch`` (controller writes: rejected when older
than the newest claim). Everything that is not deterministic — uids, timestamps, generated
names — is decided by the proposer and travels inside ``obj``.

Compatibility rule for rolling upgrades: a new version may add optional fields and new op
types; it must not change the meaning of existing ones. A replica that meets an op type it
does not know answers it with an error result (it never raises), so old replicas stay
consistent with each other while the new op is rejected everywhere alike — bump
SCHEMA_VERSION only together with a cluster-wide switch.
"""

from __future__ import annotations

from typing import Any

import msgpack

SCHEMA_VERSION = 1
OP_TYPES = frozenset({"create", "update", "delete", "claim", "barrier"})


def encode_entry(ops: list[dict[str, Any]]) -> bytes:
    """Pack a batch of ops into one Raft entry."""
    return msgpack.packb({"v": SCHEMA_VERSION, "ops": ops}, use_bin_type=True)


def decode_entry(data: bytes) -> list[dict[str, Any]]:
    """Unpack one Raft entry. Raises ValueError on anything that is not a valid entry."""
    try:
        entry = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types
        raise ValueError(f"undecodable entry: {exc}") from exc
    if not isinstance(entry, dict) or entry.get("v") != SCHEMA_VERSION or not isinstance(entry.get("ops"), list):
        raise ValueError(f"unsupported entry (schema {entry.get('v') if isinstance(entry, dict) else '?'})")
    return entry["ops"]


def create(kind: str, ns: str, obj: dict[str, Any], *, rid: str | None = None, epoch: int | None = None) -> dict:
    return _op("create", rid, epoch, kind=kind, ns=ns, obj=obj)


def update(
    kind: str, ns: str, name: str, obj: dict[str, Any], *, status: bool = False,
    rv: str | None = None, uid: str | None = None, rid: str | None = None, epoch: int | None = None,
) -> dict:
    return _op("update", rid, epoch, kind=kind, ns=ns, name=name, obj=obj,
               sub="status" if status else "", pre=_pre(rv, uid))


def delete(
    kind: str, ns: str, name: str, *, rv: str | None = None, uid: str | None = None,
    rid: str | None = None, epoch: int | None = None,
) -> dict:
    return _op("delete", rid, epoch, kind=kind, ns=ns, name=name, pre=_pre(rv, uid))


def claim(epoch: int, holder: str) -> dict:
    return {"t": "claim", "epoch": epoch, "holder": holder}


def barrier() -> dict:
    return {"t": "barrier"}


def _pre(rv: str | None, uid: str | None) -> dict[str, str]:
    pre = {}
    if rv:
        pre["rv"] = str(rv)
    if uid:
        pre["uid"] = str(uid)
    return pre


def _op(t: str, rid: str | None, epoch: int | None, **fields: Any) -> dict:
    op: dict[str, Any] = {"t": t, **fields}
    if rid:
        op["rid"] = rid
    if epoch is not None:
        op["epoch"] = epoch
    return op
