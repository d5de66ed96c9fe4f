"""``haplane cluster members|add-member|remove-member``: the client side of membership changes.

* ``add-member --name N --raft HOST:PORT --http URL`` — the new replica must already run
  (``haplane server --join --peers <current members> ...``). The leader checks it, commits the
  change, and this command then **waits until the new member has caught up**: pysyncobj counts a
  new member as a voter before it has the log (see :mod:`haplane.api.membership`), so success is
  reported only once the member's applied index has reached the change's commit index (polled
  through ``/cluster/status``), bounded by ``--wait-timeout``.
* ``remove-member NAME`` — removes the member (the leader hands over first if it is the one
  removed). Stop the removed replica afterwards and wipe its data dir before it ever rejoins.
* ``members`` — the voting members as the leader sees them (match index, caught up or not).

Exit status 0 only when the change is done (and, for an add, caught up).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from haplane import errors, output
from haplane.client import Client

CHANGE_TIMEOUT = 30.0
POLL = 0.5


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", help="add-member: the new replica's name (its --name)")
    p.add_argument("--raft", metavar="HOST:PORT", help="add-member: the new replica's Raft address (its --raft)")
    p.add_argument("--http", metavar="URL", help="add-member: the new replica's API URL (its advertised URL)")
    p.add_argument("--wait-timeout", type=float, default=300.0, metavar="SECONDS",
                   help="add-member: how long to wait for the new member to catch up (default 300)")


async def run(client: Client, args: argparse.Namespace) -> int:
    """Dispatch ``haplane cluster ACTION`` for the membership actions."""
    if args.action == "members":
        doc = await client.request("GET", "/cluster/members")
        _print_members(doc, getattr(args, "output", None))
        return 0
    if args.action == "add-member":
        if not (args.name and args.raft and args.http):
            raise errors.BadRequest("add-member needs --name, --raft and --http")
        return await add_member(client, args.name, args.raft, args.http, wait_timeout=args.wait_timeout)
    if not args.member:
        raise errors.BadRequest("remove-member needs the member's NAME")
    return await remove_member(client, args.member)


async def add_member(client: Client, name: str, raft: str, http: str, *, wait_timeout: float = 300.0) -> int:
    """Add a member and wait until it has caught up. Raises HaplaneError; returns 0."""
    t0 = time.monotonic()
    status = await client.request("POST", "/cluster/members", json={"name": name, "raft": raft, "http": http},
                                  timeout=CHANGE_TIMEOUT)
    index = int((status.get("details") or {}).get("index") or 0)
    _say(f"{status.get('message', 'added')} (commit index {index})")
    applied = await wait_caught_up(client, raft, index, timeout=wait_timeout)
    print(f'member "{name}" ({raft}) is a voting member and has caught up: applied index {applied} >= {index} '
          f"after {time.monotonic() - t0:.1f}s")
    return 0


async def wait_caught_up(client: Client, raft: str, index: int, *, timeout: float) -> int:
    """Poll ``/cluster/status`` until the member at ``raft`` follows a leader and has applied
    ``index``; return its applied index. Raises Unavailable on timeout."""
    deadline = time.monotonic() + timeout
    last = "no status yet"
    while True:
        try:
            doc = await client.request("GET", "/cluster/status")
            for m in doc.get("members") or []:
                if m.get("raft") != raft:
                    continue
                applied = m.get("appliedIndex")
                last = f"role {m.get('role')}, applied index {applied}, leader {m.get('leader')}"
                if isinstance(applied, int) and applied >= index and m.get("leader") and \
                        m.get("role") in ("follower", "leader"):
                    return applied
        except (errors.Unavailable, errors.OutcomeUnknown) as exc:
            last = str(exc)
        if time.monotonic() >= deadline:
            raise errors.Unavailable(f"{raft} was added but has not caught up within {timeout:.0f}s ({last}); "
                                     "it still counts as a voter: check its log and `haplane cluster members`")
        await asyncio.sleep(POLL)


async def remove_member(client: Client, name: str) -> int:
    """Remove a member by name (or Raft address). Raises HaplaneError; returns 0."""
    before = await client.request("GET", "/cluster/members")
    known = [m for m in before.get("items") or [] if name in (m.get("name"), m.get("raft"))]
    try:
        status = await client.request("DELETE", f"/cluster/members/{name}", timeout=CHANGE_TIMEOUT)
        message = status.get("message", "removed")
    except errors.NotFound:
        if not known:
            raise
        # It was a member a moment ago: a retry of our own request found it gone.
        message = f'"{name}" removed'
    print(message)
    return 0


def _print_members(doc: dict[str, Any], fmt: str | None) -> None:
    if fmt:
        from haplane.cli import dump

        print(dump(doc, fmt))
        return
    headers = ["NAME", "RAFT", "HTTP", "LEADER", "CONNECTED", "MATCH", "CAUGHT-UP"]
    rows = [[str(m.get("name") or "-"), str(m.get("raft")), str(m.get("http") or "-"),
             "*" if m.get("leader") else "", _yn(m.get("connected")), str(m.get("matchIndex", "-")),
             _yn(m.get("caughtUp"))] for m in doc.get("items") or []]
    print(output.render(headers, rows))
    print(f"commit index {doc.get('commitIndex')}, as seen by {doc.get('servedBy')}", file=sys.stderr)


def _yn(v: Any) -> str:
    return "?" if v is None else ("yes" if v else "no")


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
