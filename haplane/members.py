"""``haplane cluster members|add-member|remove-member``: the client side of membership changes.

* ``add-member --name N --raft HOST:PORT --http URL`` — the new replica must already run
  (``haplane server --join --peers <current members> ...``), which makes it a **learner**: it
  receives the log without a vote. The leader checks it and answers 202; it promotes the
  learner to voter once it has caught up (see :mod:`haplane.learners`). This command follows
  the learner's lag in ``/cluster/members`` (asking again if the leader changed meanwhile),
  then waits until the new voter has applied the log up to the change's commit index (polled
  through ``/cluster/status``), all bounded by ``--wait-timeout``. A replica started with
  ``HAPLANE_JOIN_AS_VOTER=1`` is added as a voter at once (201), the old way.
* ``remove-member NAME`` — removes the member (the leader hands over first if it is the one
  removed). Stop the removed replica afterwards and wipe its data dir before it ever rejoins.
* ``members`` — the voting members and the learners as the leader sees them (role, match index,
  lag, caught up or not).

Exit status 0 only when the change is done (and, for an add, caught up).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
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


async def add_member(client: Client, name: str, raft: str, http: str, *, wait_timeout: float = 300.0,
                     say: Callable[[str], None] | None = None, out: Callable[[str], None] = print) -> int:
    """Add a member and wait until it has caught up. Raises HaplaneError; returns 0. ``say``
    gets the progress lines (default: stderr), ``out`` the result line (default: stdout)."""
    say = say or _say
    t0 = time.monotonic()
    body = {"name": name, "raft": raft, "http": http}
    status = await client.request("POST", "/cluster/members", json=body, timeout=CHANGE_TIMEOUT)
    index = int((status.get("details") or {}).get("index") or 0)
    say(f"{status.get('message', 'added')} (commit index {index})")
    if status.get("code") == 202:
        index = await wait_promoted(client, body, deadline=t0 + wait_timeout, say=say)
    applied = await wait_caught_up(client, raft, index, timeout=max(1.0, t0 + wait_timeout - time.monotonic()))
    out(f'member "{name}" ({raft}) is a voting member and has caught up: applied index {applied} >= {index} '
        f"after {time.monotonic() - t0:.1f}s")
    return 0


async def wait_promoted(client: Client, body: dict[str, str], *, deadline: float,
                        say: Callable[[str], None] | None = None) -> int:
    """Follow the learner ``body["raft"]`` in ``/cluster/members`` until it is a voter; return the
    leader's commit index then. A learner no promotion loop runs for (the leader changed) is
    asked for again. Raises Unavailable past ``deadline``."""
    say = say or _say
    raft, last, next_say = body["raft"], "no member list yet", 0.0
    while True:
        try:
            doc = await client.request("GET", "/cluster/members")
            item = next((m for m in doc.get("items") or [] if m.get("raft") == raft), None)
            if item is not None and item.get("voter"):
                say(f"{body['name']} is a voter now")
                return int(doc.get("commitIndex") or 0)
            if item is None:
                last = "not connected to the leader as a learner"
            else:
                last = f"learner, lag {item.get('lag')} entries"
                if not item.get("promoting"):
                    await client.request("POST", "/cluster/members", json=body, timeout=CHANGE_TIMEOUT)
            if time.monotonic() >= next_say:
                say(f"{body['name']}: {last}")
                next_say = time.monotonic() + 5.0
        except (errors.Unavailable, errors.OutcomeUnknown, errors.Conflict) as exc:
            last = str(exc)
        if time.monotonic() >= deadline:
            raise errors.Unavailable(f"{raft} is still a learner ({last}); it has not caught up in time: check "
                                     "its log and `haplane cluster members`")
        await asyncio.sleep(POLL)


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


async def remove_member(client: Client, name: str, *, out: Callable[[str], None] = print) -> int:
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
    out(message)
    return 0


def _print_members(doc: dict[str, Any], fmt: str | None) -> None:
    if fmt:
        from haplane.cli import dump

        print(dump(doc, fmt))
        return
    headers = ["NAME", "RAFT", "HTTP", "ROLE", "CONNECTED", "MATCH", "LAG", "CAUGHT-UP"]
    rows = [[str(m.get("name") or "-"), str(m.get("raft")), str(m.get("http") or "-"),
             str(m.get("role") or "-") + (" (promoting)" if m.get("promoting") else ""), _yn(m.get("connected")),
             _dash(m.get("matchIndex")), _dash(m.get("lag")), _yn(m.get("caughtUp"))]
            for m in doc.get("items") or []]
    print(output.render(headers, rows))
    print(f"commit index {doc.get('commitIndex')}, as seen by {doc.get('servedBy')}", file=sys.stderr)


def _dash(v: Any) -> str:
    return "-" if v is None else str(v)


def _yn(v: Any) -> str:
    return "?" if v is None else ("yes" if v else "no")


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
