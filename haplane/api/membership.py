"""Raft membership changes over HTTP: list, add and remove voting members.

``GET /cluster/members`` (any user), ``POST /cluster/members {"name", "raft", "http"}`` and
``DELETE /cluster/members/{name}`` (admin). Changes are made by the leader; another replica
forwards the request to it (once: a forwarded request that meets a non-leader gets 503).
Every answer is a Status or a MemberList; every request is bounded in time.

What pysyncobj 0.3.17 does (``syncobj.py``), and what this module adds
-----------------------------------------------------------------------
* **Single-server changes, effective on append.** ``addNodeToCluster`` / ``removeNodeFromCluster``
  log one ``MEMBERSHIP`` entry. The leader switches to the new configuration when it *appends*
  the entry (``_checkCommandsToApply`` → ``__changeCluster`` → ``__doChangeCluster``), a follower
  when it appends it (``append_entries``), and a truncated entry is rolled back. Quorums use the
  new configuration at once.
* **Its one-at-a-time guard is dead code.** ``__changeCluster`` means to refuse a change while
  the previous one is uncommitted, but ``__changeClusterIDx`` is never assigned; only "the new
  leader's no-op is not committed yet" is refused. Two quick changes would overlap, which
  single-server changes do not survive. So here: a change is made only by the leader's API,
  under a lock held until its entry has committed (or, after a timeout, until pysyncobj reports
  its fate); a new leader refuses changes until its no-op commits, which commits whatever its
  predecessor left.
* **A new member would count before it has caught up.** pysyncobj makes it a voter with
  matchIndex 0 the moment the leader appends ``add``: while it receives the snapshot and the
  log, commits need a majority of the *new* configuration among the old members (3 → 4 needs
  all three; 1 → 2 stalls outright). So here a new member is first a **learner**:
  ``haplane server --join`` starts it as a pysyncobj read-only node, which receives the log
  but never votes and never counts toward a commit (:mod:`haplane.store.learner` says why that
  is safe). ``POST /cluster/members`` for a learner answers 202 and starts the leader's
  promotion loop: the leader appends the voting ``add`` only once the learner's lag (commit
  index minus its match index, the leader's view) has stayed within
  :data:`haplane.learners.PROMOTE_LAG` entries for :data:`haplane.learners.PROMOTE_SUSTAIN`
  seconds, and the learner becomes that voter in place when the entry reaches it. The loop
  ends if this replica stops leading; ``haplane cluster add-member`` then asks the new leader.
  ``GET /cluster/members`` lists learners with ``role: learner``, their lag and whether a
  promotion is pending. With ``HAPLANE_JOIN_AS_VOTER=1`` (comparisons only) ``--join`` starts
  a quiet voter instead and the add takes effect at once, as before.
* **A joining voter is refused until added.** Members drop connections from addresses not in
  their configuration. A voter started with ``--peers`` naming the current members would
  meanwhile time out and campaign over and over (its term rising), and once added would
  depose the leader with that term. A promoted learner, and ``--join`` with
  ``HAPLANE_JOIN_AS_VOTER=1``, stay quiet until a leader contacts them (:attr:`RaftNode.joining`).
* **The leader cannot remove itself** (``REQUEST_DENIED``). Removing the leader's name first
  hands leadership over (pysyncobj's TimeoutNow transfer, to the most caught-up follower) and
  forwards the request to the successor.
* **A removed member is not told.** The leader stops talking to it when it appends ``rem``; the
  removed replica keeps running and campaigning in vain (its peers refuse it). Stop it, and wipe
  its data dir before it ever rejoins (it would come back with a high term).
* **The log, not ``--peers``, is the membership.** On restart a replica starts from ``--peers``,
  then takes the configuration stored in its dump and replays the membership entries of its
  journal. ``--peers`` matters only for an empty data dir; keep it current anyway.

Pre-conditions checked by the leader (409 Conflict when they fail)
------------------------------------------------------------------
A peer is *caught up* when it is connected and its matchIndex is within ``CATCH_UP_SLACK``
entries of the commit index. An **add** needs every connected peer caught up (the previous new
member has finished catching up) and enough caught-up voters (the leader included) to form a
majority of the grown configuration — so with a dead member, remove it before adding its
replacement (a lone member may grow anyway). The promotion of a learner checks the same again,
counting the learner, which is caught up by then.
A **remove** needs a majority of the shrunk configuration caught up.

Removal drains first: the member to be removed is told (``POST /cluster/retire``) to refuse
new requests with 503 and to end its watches, so that clients move to other replicas before
it stops hearing the log; requests it accepted after its removal would hang to their deadline.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web
from pysyncobj import FAIL_REASON

from haplane import learners
from haplane.aio import wait_for
from haplane.api.app import MEMBER_KIND, USER, Replica, member_url
from haplane.api.auth import User, authorize
from haplane.api.body import read_json
from haplane.api.resources import respond
from haplane.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    HaplaneError,
    Invalid,
    NotFound,
    OutcomeUnknown,
    Unavailable,
)
from haplane.store import commands
from haplane.store.raft import NOT_APPENDED

log = logging.getLogger(__name__)

CHANGE_TIMEOUT = 10.0  # wait this long for a change to commit, then answer 504
FORWARD_TIMEOUT = CHANGE_TIMEOUT + 10.0
PREFLIGHT_TIMEOUT = 3.0
TRANSFER_TIMEOUT = 5.0
PENDING_GIVE_UP = 60.0  # a change whose fate pysyncobj never reported stops blocking after this
CATCH_UP_SLACK = learners.PROMOTE_LAG
PROMOTE_TIMEOUT = 600.0  # the leader's promotion loop gives up on a learner after this
PROMOTE_POLL = 0.2
PROMOTE_REPORT = 5.0  # log a learner's lag this often while it catches up
PRECONDITION_GRACE = 3.0
DRAIN_TIMEOUT = 3.0
RETIRED_PATHS = frozenset({"/healthz", "/cluster/self", "/cluster/retire"})
FORWARDED = "X-Haplane-Forwarded"
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


@dataclass
class _State:
    lock: asyncio.Lock
    pending: asyncio.Future | None = None
    pending_since: float = 0.0
    retired: bool = False  # this replica is being removed: it refuses requests (see _drain)
    inflight: int = 0  # requests being served, watches and log streams excepted
    promoting: dict[str, asyncio.Task] = field(default_factory=dict)  # learner raft address -> loop


def add_routes(app: web.Application, replica: Replica) -> None:
    """Register the membership routes on the replica's app."""
    state = _State(asyncio.Lock())

    async def list_members(request: web.Request) -> web.Response:
        if not replica.raft.is_leader and request.query.get("local") != "1" and FORWARDED not in request.headers:
            url = member_url(replica, replica.raft.leader)
            if url is not None and url != replica.http_url:
                try:
                    return await _forward(replica, request, url, None)
                except Unavailable:
                    pass  # fall back to this replica's own view
        return respond(member_list(replica, set(state.promoting)))

    async def add_member(request: web.Request) -> web.Response:
        _admin(request)
        body = await read_json(request)
        name, raft_addr, http = _parse_add(body)
        if not replica.raft.is_leader:
            return await _to_leader(replica, request, body)
        async with _exclusive(state):
            return await _add(replica, request, state, name, raft_addr, http)

    async def remove_member(request: web.Request) -> web.Response:
        _admin(request)
        target = request.match_info["name"]
        if not replica.raft.is_leader:
            return await _to_leader(replica, request, None)
        raft_addr, record = _resolve(replica, target)
        if raft_addr == replica.raft.self_addr:
            async with _exclusive(state):
                await _until_allowed(lambda: remove_refusal(replica.raft.progress(), raft_addr, raft_addr))
                await _drain(replica, state)
                try:
                    await _hand_over(replica)
                except BaseException:
                    state.retired = False
                    raise
            # The successor removes this replica (and finds it drained already).
            try:
                resp = await _to_leader(replica, request, None, allow_forwarded=True)
            except BaseException:
                state.retired = False
                raise
            if resp.status >= 300:
                state.retired = False
            return resp
        async with _exclusive(state):
            return await _remove(replica, request, state, target, raft_addr, record)

    async def retire(request: web.Request) -> web.Response:
        _admin(request)
        body = await read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("retire"), bool):
            raise BadRequest('expected {"retire": true|false}')
        if not body["retire"]:
            state.retired = False
        elif not state.retired:
            await _drain(replica, state)
        return respond({"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 200,
                        "message": "retired" if state.retired else "serving"})

    @web.middleware
    async def retired_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        if state.retired and request.path not in RETIRED_PATHS:
            raise Unavailable(f"replica {replica.name} is leaving the cluster (being removed); use another "
                              "replica", retry_after=1.0)
        streaming = request.query.get("watch") in ("1", "true") or request.query.get("follow") in ("1", "true")
        if streaming:
            return await handler(request)
        state.inflight += 1
        try:
            return await handler(request)
        finally:
            state.inflight -= 1

    # Appended before the app is frozen: runs after authentication, around every handler.
    app.middlewares.append(retired_middleware)
    app.router.add_get("/cluster/members", list_members)
    app.router.add_post("/cluster/members", add_member)
    app.router.add_delete("/cluster/members/{name}", remove_member)
    app.router.add_post("/cluster/retire", retire)


# ------------------------------------------------------------------------- views


def member_list(replica: Replica, promoting: set[str] | None = None) -> dict[str, Any]:
    """The voting members as this replica's log has them, with the leader's replication view,
    then the learners connected to this replica (``role: learner``; ``promoting``: this
    leader's promotion loop runs for it)."""
    raft = replica.raft
    records = _records(replica)
    prog = raft.progress()
    commit = prog["commitIndex"] or 0
    leader_raft = raft.leader
    items = []
    for addr in raft.members():
        rec = records.get(addr, {})
        item: dict[str, Any] = {"name": rec.get("name"), "raft": addr, "http": rec.get("http"),
                                "leader": addr == leader_raft, "voter": True,
                                "role": learners.role_of(voter=True, leader=addr == leader_raft)}
        if addr == raft.self_addr:
            item.update(connected=True, matchIndex=prog["appliedIndex"], caughtUp=True, lag=0)
        elif prog["leader"]:
            peer = prog["peers"].get(addr, {"connected": False, "matchIndex": 0})
            item.update(connected=peer["connected"], matchIndex=peer["matchIndex"],
                        caughtUp=_caught_up(peer, commit), lag=learners.lag(commit, peer["matchIndex"]))
        else:
            item.update(connected=prog["peers"].get(addr, {}).get("connected"), matchIndex=None, caughtUp=None,
                        lag=None)
        items.append(item)
    for addr, peer in sorted(prog["learners"].items()):
        if addr in raft.members():
            continue  # just promoted: its read-only connection is on its way out
        rec = records.get(addr, {})
        known = prog["leader"]
        items.append({"name": rec.get("name"), "raft": addr, "http": rec.get("http"), "leader": False,
                      "voter": False, "role": "learner", "connected": peer["connected"],
                      "matchIndex": peer["matchIndex"] if known else None,
                      "caughtUp": _caught_up(peer, commit) if known else None,
                      "lag": learners.lag(commit, peer["matchIndex"]) if known else None,
                      "promoting": addr in (promoting or set())})
    leader_name = records.get(leader_raft or "", {}).get("name")
    return {"apiVersion": "haplane/v1", "kind": "MemberList", "servedBy": replica.name,
            "leader": leader_name or leader_raft, "leaderRaft": leader_raft, "commitIndex": commit,
            "items": items}


def _records(replica: Replica) -> dict[str, dict[str, Any]]:
    """raft address -> {"name", "http", "record"} from the replicated Member records."""
    out: dict[str, dict[str, Any]] = {}
    items, _ = replica.store.fsm.list(MEMBER_KIND, "")
    for rec in items:
        spec = rec.get("spec") or {}
        if spec.get("raft"):
            out[spec["raft"]] = {"name": rec["metadata"]["name"], "http": spec.get("http"), "record": rec}
    return out


def _caught_up(peer: dict[str, Any], commit: int) -> bool:
    return bool(peer.get("connected")) and (peer.get("matchIndex") or 0) >= commit - CATCH_UP_SLACK


# ---------------------------------------------------------------------- changes


async def _add(replica: Replica, request: web.Request, state: _State, name: str, raft_addr: str,
               http: str) -> web.Response:
    raft = replica.raft
    records = _records(replica)
    by_name = {v["name"]: (addr, v) for addr, v in records.items()}
    if name in by_name and by_name[name][0] != raft_addr and by_name[name][0] in raft.members():
        raise AlreadyExists(f'member name "{name}" is taken by the member at {by_name[name][0]}')
    if raft_addr in raft.members():
        rec = records.get(raft_addr)
        if rec is None or (rec["name"] == name and rec["http"] == http):  # e.g. a retried request
            if rec is None:
                await _write_record(replica, name, raft_addr, http)
            return _success(200, f'"{name}" ({raft_addr}) is already a member', name, raft_addr, http, replica)
        raise AlreadyExists(f"{raft_addr} is already a member"
                            + (f' (as "{rec["name"]}")' if rec is not None else ""))
    await _until_allowed(lambda: add_refusal(raft.progress()))
    me = await _preflight(replica, request, name, raft_addr, http)
    if me.get("learner"):
        return await _start_promotion(replica, state, name, raft_addr, http)
    await _change(replica, state, raft.add_member, raft_addr, "add")
    await _write_record(replica, name, raft_addr, http)
    log.info("membership: added %s (%s, %s)", name, raft_addr, http)
    return _success(201, f'"{name}" ({raft_addr}) added; it is catching up', name, raft_addr, http, replica)


async def _start_promotion(replica: Replica, state: _State, name: str, raft_addr: str, http: str) -> web.Response:
    """The new member is a learner: promote it once caught up, in the background (202)."""
    await _until_allowed(lambda: None if raft_addr in replica.raft.learners() else
                         f"{raft_addr} runs as a learner but is not connected to the leader; check its --peers "
                         "and its log")
    task = state.promoting.get(raft_addr)
    if task is None or task.done():
        await _write_record(replica, name, raft_addr, http)
        task = asyncio.create_task(_promote_when_caught_up(replica, state, name, raft_addr, http),
                                   name=f"promote-{name}")
        state.promoting[raft_addr] = task
        task.add_done_callback(lambda t: state.promoting.pop(raft_addr, None)
                               if state.promoting.get(raft_addr) is t else None)
        log.info("membership: %s (%s) is a learner; promoting it to voter once caught up", name, raft_addr)
    return _success(202, f'"{name}" ({raft_addr}) is a learner: it becomes a voter once caught up (lag <= '
                         f"{learners.PROMOTE_LAG} entries for {learners.PROMOTE_SUSTAIN:g}s)", name, raft_addr,
                    http, replica)


async def _promote_when_caught_up(replica: Replica, state: _State, name: str, raft_addr: str, http: str) -> None:
    """The leader's promotion loop: sample the learner's lag; append ``add`` once it has stayed
    caught up (:func:`haplane.learners.promotion_step`) and the grown configuration could commit.
    Ends when this replica stops leading, when the learner is a voter, or after PROMOTE_TIMEOUT."""
    raft = replica.raft
    started = time.monotonic()
    catch_up = learners.CatchUp()
    next_report, reported = started, set()
    while True:
        now = time.monotonic()
        if not raft.is_leader:
            log.info("membership: no longer leading; the promotion of %s is left to the next leader", name)
            return
        if raft_addr in raft.members():
            return
        if now - started > PROMOTE_TIMEOUT:
            log.warning("membership: learner %s did not catch up within %.0fs; giving up its promotion "
                        "(add-member again to retry)", name, PROMOTE_TIMEOUT)
            return
        prog = raft.progress()
        peer = prog["learners"].get(raft_addr)
        commit = prog["commitIndex"] or 0
        lag = learners.lag(commit, peer["matchIndex"]) if peer else None
        step = learners.promotion_step(catch_up, now=now, connected=peer is not None, lag_entries=lag)
        catch_up = step.state
        if now >= next_report:
            log.info("membership: learner %s: %s", name, step.why)
            next_report = now + PROMOTE_REPORT
        if step.promote:
            why = add_refusal(prog, newcomer=peer)
            if why is None:
                try:
                    await _promote(replica, state, name, raft_addr, http, step.why)
                    return
                except HaplaneError as exc:
                    why = str(exc)
            if why not in reported:  # log each reason once
                reported.add(why)
                log.warning("membership: learner %s is caught up but not promoted yet: %s", name, why)
            catch_up = learners.CatchUp()
        await asyncio.sleep(PROMOTE_POLL)


async def _promote(replica: Replica, state: _State, name: str, raft_addr: str, http: str, why: str) -> None:
    while state.lock.locked():  # another change is being made: wait for it, then go
        await asyncio.sleep(PROMOTE_POLL)
    async with _exclusive(state):
        if raft_addr in replica.raft.members():
            return
        await _change(replica, state, replica.raft.add_member, raft_addr, "add")
    log.info("membership: promoted learner %s (%s) to voter: %s", name, raft_addr, why)
    await _write_record(replica, name, raft_addr, http)


async def _remove(replica: Replica, request: web.Request, state: _State, target: str, raft_addr: str | None,
                  record: dict[str, Any] | None) -> web.Response:
    raft = replica.raft
    name = record["metadata"]["name"] if record else target
    task = state.promoting.pop(raft_addr or "", None)
    if task is not None:
        task.cancel()
        log.info("membership: the promotion of learner %s is called off", name)
    if raft_addr is None or raft_addr not in raft.members():
        if record is None:
            raise NotFound(f'no member "{target}"')
        await _delete_record(replica, record)
        return _success(200, f'"{name}" was not a voting member (a learner, or gone); its record is removed; '
                             "stop that replica", name, raft_addr, None, replica)
    await _until_allowed(lambda: remove_refusal(raft.progress(), raft_addr, raft.self_addr))
    http = record.get("spec", {}).get("http") if record else None
    if http:
        log.info("membership: asking %s to drain before its removal", name)
        await _retire_peer(replica, request, http, True)
    try:
        await _change(replica, state, raft.remove_member, raft_addr, "remove")
    except BaseException:
        if http:
            await _retire_peer(replica, request, http, False)
        raise
    if record is not None:
        await _delete_record(replica, record)
    log.info("membership: removed %s (%s)", name, raft_addr)
    return _success(200, f'"{name}" ({raft_addr}) removed; stop that replica and wipe its data dir before '
                         "it ever rejoins", name, raft_addr, None, replica)


async def _until_allowed(refusal: Any) -> None:
    """Raise Conflict unless ``refusal()`` clears within PRECONDITION_GRACE: a new leader learns
    its followers' match indexes only from their first answers, a heartbeat or two after winning."""
    deadline = time.monotonic() + PRECONDITION_GRACE
    while True:
        why = refusal()
        if why is None:
            return
        if time.monotonic() >= deadline:
            raise Conflict(why)
        await asyncio.sleep(0.1)


def add_refusal(progress: dict[str, Any], newcomer: dict[str, Any] | None = None) -> str | None:
    """Why the leader must not add a member now (None: it may). ``progress`` is the leader's
    :meth:`RaftNode.progress`; ``newcomer`` the learner to be promoted (``{"connected",
    "matchIndex"}``), which counts as up to date if it is. Pure."""
    commit = progress["commitIndex"] or 0
    peers = progress["peers"]
    behind = sorted(a for a, p in peers.items() if p["connected"] and not _caught_up(p, commit))
    if behind:
        return (f"{', '.join(behind)} still catching up (matchIndex "
                f"{', '.join(str(peers[a]['matchIndex']) for a in behind)}, commit index {commit}); "
                "wait until it has caught up before the next change")
    n = len(peers) + 1
    up = 1 + sum(1 for p in peers.values() if _caught_up(p, commit)) + \
        (1 if newcomer is not None and _caught_up(newcomer, commit) else 0)
    # (A lone member cannot do better: growing 1 -> 2 stalls commits until the newcomer is in.)
    if up < majority(n + 1) and up < n:
        return (f"only {up} of {n} members are up to date; a {n + 1}-member configuration needs "
                f"{majority(n + 1)} of them to commit while the new member catches up. Remove the dead "
                "member first, then add its replacement")
    return None


def remove_refusal(progress: dict[str, Any], raft_addr: str, self_addr: str) -> str | None:
    """Why the leader (``self_addr``) must not remove ``raft_addr`` now (None: it may). Pure."""
    commit = progress["commitIndex"] or 0
    peers = progress["peers"]
    n = len(peers) + 1
    up = (0 if raft_addr == self_addr else 1) + sum(
        1 for a, p in peers.items() if a != raft_addr and _caught_up(p, commit))
    if up < majority(n - 1):
        return (f"removing {raft_addr} would leave {up} up-to-date member(s) of {n - 1}, short of a "
                "majority; bring members back or let them catch up first")
    return None


def majority(n: int) -> int:
    return n // 2 + 1


@dataclass
class _exclusive:
    """One membership change at a time per leader, including one whose outcome is still pending."""

    state: _State

    async def __aenter__(self) -> None:
        st = self.state
        if st.pending is not None and not st.pending.done():
            if time.monotonic() - st.pending_since < PENDING_GIVE_UP:
                raise Conflict("the previous membership change has not committed yet; retry later")
            log.warning("membership: giving up on the fate of the previous change")
        if st.lock.locked():
            raise Conflict("another membership change is in progress; retry when it is done")
        await st.lock.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.state.lock.release()


async def _change(replica: Replica, state: _State, propose: Any, raft_addr: str, what: str) -> None:
    """Propose one membership entry and wait (bounded) until it has committed on this leader."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[int] = loop.create_future()

    def done(result: Any, err: int) -> None:  # tick thread
        loop.call_soon_threadsafe(lambda: fut.done() or fut.set_result(err))

    state.pending, state.pending_since = fut, time.monotonic()
    propose(raft_addr, done)
    try:
        err = await wait_for(asyncio.shield(fut), CHANGE_TIMEOUT)
    except TimeoutError:
        raise OutcomeUnknown(f"the {what} of {raft_addr} has not committed within {CHANGE_TIMEOUT:.0f}s; it may "
                             "still take effect: check `haplane cluster members` before retrying") from None
    if err == FAIL_REASON.SUCCESS:
        return
    if err == FAIL_REASON.REQUEST_DENIED:
        raise Conflict(f"Raft refused to {what} {raft_addr}: a new leader's first entry is not committed yet, "
                       "or the configuration already has it that way; retry in a moment")
    if err in NOT_APPENDED:
        raise Unavailable(f"the {what} of {raft_addr} was not appended (pysyncobj reason {err}); retry",
                          retry_after=1.0)
    raise OutcomeUnknown(f"the {what} of {raft_addr} may or may not have taken effect (pysyncobj reason "
                         f"{err}): check `haplane cluster members`")


async def _preflight(replica: Replica, request: web.Request, name: str, raft_addr: str,
                     http: str) -> dict[str, Any]:
    """The new replica must be up, and be what the request says it is. Returns its /cluster/self."""
    session: aiohttp.ClientSession = replica.extra["http"]
    try:
        async with session.get(http + "/cluster/self", timeout=aiohttp.ClientTimeout(total=PREFLIGHT_TIMEOUT),
                               headers={"Authorization": request.headers.get("Authorization", "")}) as r:
            if r.status != 200:
                raise Invalid(f"the new member at {http} answered /cluster/self with HTTP {r.status}")
            me = await r.json()
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise Invalid(f"the new member does not answer at {http} ({exc.__class__.__name__}: {exc}); start it "
                      "first: haplane server --join --peers <current members> ...") from None
    wrong = [f"{k} is {me.get(k)!r}, not {v!r}" for k, v in (("name", name), ("raft", raft_addr), ("http", http))
             if me.get(k) != v]
    if wrong:
        raise Invalid(f"the replica at {http} does not match the request: {'; '.join(wrong)}")
    if me.get("role") == "leader":
        raise Invalid(f"the replica at {http} leads a cluster of its own; wipe it and start it with --join")
    return me


async def _hand_over(replica: Replica) -> None:
    """Transfer leadership away from this replica and wait until someone else leads."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[int] = loop.create_future()
    log.info("membership: this replica is to be removed; handing leadership over first")
    replica.raft.transfer_leadership(
        None, lambda res, err: loop.call_soon_threadsafe(lambda: fut.done() or fut.set_result(err)))
    try:
        err = await wait_for(fut, TRANSFER_TIMEOUT)
    except TimeoutError:
        raise Unavailable("leadership transfer did not start; retry", retry_after=1.0) from None
    if err != FAIL_REASON.SUCCESS:
        raise Unavailable("this replica leads and no follower is caught up enough to take over; retry shortly",
                          retry_after=1.0)
    deadline = time.monotonic() + TRANSFER_TIMEOUT
    while time.monotonic() < deadline:
        leader = replica.raft.leader
        if leader is not None and leader != replica.raft.self_addr and member_url(replica, leader):
            log.info("membership: %s leads now", leader)
            return
        await asyncio.sleep(0.05)
    raise Unavailable("leadership transfer did not complete; retry", retry_after=1.0)


# ------------------------------------------------------------------- retiring


async def _drain(replica: Replica, state: _State) -> None:
    """Stop taking requests here and let those in flight finish (bounded): a removed replica no
    longer hears the log, so a request it accepted after its removal would hang to its deadline.
    Open watches end with 410 so that their clients relist at another replica."""
    state.retired = True
    replica.store.hub.end_all(f"replica {replica.name} is leaving the cluster; watch another replica")
    deadline = time.monotonic() + DRAIN_TIMEOUT
    # The drain request itself (or the removal being handled) is one of the requests in flight.
    while state.inflight > 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    log.info("membership: draining: refusing new requests; %d still in flight", state.inflight - 1)


async def _retire_peer(replica: Replica, request: web.Request, http: str, retire: bool) -> None:
    """Best effort: tell a member that is about to be removed to drain (or, if the removal failed,
    to serve again). A dead member does not answer; that is fine."""
    session: aiohttp.ClientSession = replica.extra["http"]
    try:
        async with session.post(http + "/cluster/retire", json={"retire": retire},
                                headers={"Authorization": request.headers.get("Authorization", "")},
                                timeout=aiohttp.ClientTimeout(total=DRAIN_TIMEOUT + 2)) as r:
            await r.read()
    except (aiohttp.ClientError, TimeoutError):
        pass


# ------------------------------------------------------------------ forwarding


async def _to_leader(replica: Replica, request: web.Request, body: Any, *,
                     allow_forwarded: bool = False) -> web.Response:
    if FORWARDED in request.headers and not allow_forwarded:
        raise Unavailable("this replica no longer leads; retry", retry_after=1.0)
    url = member_url(replica, replica.raft.leader)
    if url is None or url == replica.http_url:
        raise Unavailable("no leader known to this replica", retry_after=1.0)
    return await _forward(replica, request, url, body)


async def _forward(replica: Replica, request: web.Request, url: str, body: Any) -> web.Response:
    session: aiohttp.ClientSession = replica.extra["http"]
    headers = {"Authorization": request.headers.get("Authorization", ""), FORWARDED: replica.name}
    if "X-Request-Id" in request.headers:
        headers["X-Request-Id"] = request.headers["X-Request-Id"]
    try:
        async with session.request(request.method, url + request.rel_url.path_qs, json=body, headers=headers,
                                   timeout=aiohttp.ClientTimeout(total=FORWARD_TIMEOUT)) as r:
            data = await r.read()
            if r.status == 503:
                raise Unavailable(f"the leader at {url} is unavailable", retry_after=1.0)
            return web.Response(body=data, status=r.status, content_type="application/json")
    except (aiohttp.ClientError, TimeoutError) as exc:
        if request.method == "GET":
            raise Unavailable(f"the leader at {url} did not answer", retry_after=1.0) from None
        raise OutcomeUnknown(f"the leader at {url} did not answer ({exc.__class__.__name__}); the change may "
                             "have taken effect: check `haplane cluster members`") from None


# ----------------------------------------------------------------------- records


async def _write_record(replica: Replica, name: str, raft_addr: str, http: str) -> None:
    """Create or update the Member record. Best effort: the new replica's own bootstrap writes
    the same record once it has joined, so a failure here is only logged."""
    try:
        await _try_write_record(replica, name, raft_addr, http)
    except HaplaneError as exc:
        log.warning("membership: could not write the record of %s (%s); its bootstrap will", name, exc)


async def _try_write_record(replica: Replica, name: str, raft_addr: str, http: str) -> None:
    store = replica.store
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    spec = {"raft": raft_addr, "http": http}
    for _ in range(5):
        current = store.fsm.get(MEMBER_KIND, "", name)
        try:
            if current is None:
                await store.write(commands.create(MEMBER_KIND, "", {
                    "apiVersion": "haplane/v1", "kind": MEMBER_KIND,
                    "metadata": {"name": name, "uid": str(uuid.uuid4()), "creationTimestamp": now},
                    "spec": spec}))
            elif current.get("spec") != spec:
                await store.write(commands.update(MEMBER_KIND, "", name, dict(current, spec=spec),
                                                  rv=current["metadata"]["resourceVersion"]))
            return
        except (AlreadyExists, Conflict):
            await store.sync()
    raise Conflict(f'the Member record "{name}" kept changing')


async def _delete_record(replica: Replica, record: dict[str, Any]) -> None:
    meta = record["metadata"]
    try:
        await replica.store.write(commands.delete(MEMBER_KIND, "", meta["name"], uid=meta.get("uid")))
    except (NotFound, Conflict):
        pass


def _resolve(replica: Replica, target: str) -> tuple[str | None, dict[str, Any] | None]:
    """(raft address, Member record) of a member named by name or by raft address."""
    for addr, rec in _records(replica).items():
        if rec["name"] == target or addr == target:
            return addr, rec["record"]
    if target in replica.raft.members():
        return target, None
    return None, None


# ------------------------------------------------------------------------ helpers


def _admin(request: web.Request) -> None:
    user: User = request[USER]
    authorize(user, request.method, None, path=request.path)


def _parse_add(body: Any) -> tuple[str, str, str]:
    if not isinstance(body, dict):
        raise BadRequest('expected {"name": ..., "raft": "host:port", "http": "https://host:port"}')
    name, raft_addr, http = body.get("name"), body.get("raft"), body.get("http")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise Invalid("name: a DNS label (lower-case letters, digits, '-') is required")
    if not isinstance(raft_addr, str) or not _is_host_port(raft_addr):
        raise Invalid('raft: "host:port" is required')
    if not isinstance(http, str) or not re.match(r"^https?://[^/\s]+$", http.rstrip("/")):
        raise Invalid('http: the replica\'s API URL ("https://host:port") is required')
    return name, raft_addr, http.rstrip("/")


def _is_host_port(addr: str) -> bool:
    host, sep, port = addr.rpartition(":")
    return bool(sep and host and port.isdigit() and 0 < int(port) < 65536)


def _success(code: int, message: str, name: str, raft_addr: str | None, http: str | None,
             replica: Replica) -> web.Response:
    prog = replica.raft.progress()
    return respond({"kind": "Status", "apiVersion": "v1", "status": "Success", "code": code, "message": message,
                    "details": {"name": name, "raft": raft_addr, "http": http, "index": prog["commitIndex"],
                                "members": replica.raft.members()}}, code)
