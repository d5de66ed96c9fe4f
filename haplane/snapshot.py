"""``haplane snapshot save|restore|inspect``: backups of the store, like ``etcdctl snapshot``.

* ``save FILE`` asks any replica for ``GET /cluster/snapshot`` (admin token), verifies the
  checksum and the state hash, and writes FILE atomically (temp file, fsync, rename).
* ``restore FILE --data-dir DIR --raft HOST:PORT [--peers HOST:PORT,...]`` verifies FILE and
  seeds DIR — which must hold no Raft state — so that a replica started there with the same
  ``--raft``/``--peers`` begins with that state (:mod:`haplane.store.seed`). Restore into every
  replica of the NEW cluster, with the same FILE and membership, before starting any of them.
  Restoring never touches a running cluster.
* ``inspect FILE`` verifies FILE and prints its header.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from haplane.store import seed, snapshotfile

SAVE_TIMEOUT = 60.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["save", "restore", "inspect"])
    p.add_argument("file", metavar="FILE")
    p.add_argument("--data-dir", help="restore: the new replica's (empty) data dir")
    p.add_argument("--raft", metavar="HOST:PORT", help="restore: the new replica's --raft")
    p.add_argument("--peers", default="", metavar="HOST:PORT,...", help="restore: the new replica's --peers")


def main_snapshot(args: argparse.Namespace) -> object:
    if args.action == "save":
        return _save(args)
    if args.action == "inspect":
        snap = _read(args.file)
        print(json.dumps(snap.header, indent=2, sort_keys=True))
        return 0
    return _restore(args)


async def _save(args: argparse.Namespace) -> int:
    from haplane.cli import make_client  # the CLI's client options (lazy: cli imports this module lazily)

    t0 = time.monotonic()
    async with make_client(args) as client:
        _, _, data = await client.request_raw("GET", "/cluster/snapshot", timeout=SAVE_TIMEOUT)
    try:
        snap = snapshotfile.decode(data)
    except snapshotfile.SnapshotError as exc:
        raise SystemExit(f"haplane snapshot save: the server sent a bad snapshot: {exc}") from None
    snapshotfile.write_atomic(args.file, data)
    h = snap.header
    print(f"saved {args.file}: {len(data)} bytes, {h['objects']} objects, revision {h['revision']}, "
          f"epoch {h['epoch']}, taken by {h.get('takenBy')} at applied index {h.get('raftAppliedIndex')} "
          f"in {time.monotonic() - t0:.2f}s\nstate hash {h['stateHash']}")
    return 0


def _restore(args: argparse.Namespace) -> int:
    if not args.data_dir or not args.raft:
        raise SystemExit("haplane snapshot restore: --data-dir and --raft are required "
                         "(the same --raft and --peers the replica will be started with)")
    snap = _read(args.file)
    peers = [p.strip() for p in args.peers.split(",") if p.strip() and p.strip() != args.raft]
    try:
        seed.seed(args.data_dir, snap.state, args.raft, peers, term=snap.header["epoch"])
    except seed.SeedError as exc:
        raise SystemExit(f"haplane snapshot restore: {exc}") from None
    members = ",".join([args.raft, *peers])
    print(f"restored {args.file} into {os.path.abspath(args.data_dir)}: {snap.objects} objects, revision "
          f"{snap.header['revision']}, members {members}\nstate hash {snap.header['stateHash']}\n"
          "Restore the same file into every replica of the new cluster (same members) before starting any.")
    return 0


def _read(path: str) -> snapshotfile.Snapshot:
    try:
        return snapshotfile.read(path)
    except OSError as exc:
        raise SystemExit(f"haplane snapshot: cannot read {path}: {exc}") from None
    except snapshotfile.SnapshotError as exc:
        raise SystemExit(f"haplane snapshot: {path}: {exc}") from None
