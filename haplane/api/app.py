"""The replica's HTTP application: middlewares (errors, auth, limits) and the route table."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from haplane import learners, logformat
from haplane import metrics as metrics_mod
from haplane.api import discovery, openapi
from haplane.api.auth import TokenAuth, User, authorize, request_verb
from haplane.api.body import MAX_BODY, read_json
from haplane.api.resources import ResourceAPI, parse_path, respond, watch_requested
from haplane.clock import wall_now
from haplane.errors import BadRequest, HaplaneError, NotFound, RequestEntityTooLarge, Unavailable
from haplane.model.registry import KINDS
from haplane.store.raft import RaftNode
from haplane.store.store import Store
from haplane.tls import peer_ssl

log = logging.getLogger(__name__)

API_PREFIXES = tuple(dict.fromkeys(info.prefix for info in KINDS.values()))  # "/api/v1", "/apis/apps/v1"
OPEN_PATHS = frozenset({"/healthz", "/readyz"})
UI_PREFIX = "/ui"  # the dashboard's static files (haplane.api.ui): no data in them, no token
MEMBER_KIND = "Member"  # internal, cluster-scoped: one record per replica (name, raft, http)
PEER_TIMEOUT = 1.5


@dataclass
class Replica:
    """Everything one replica's handlers need."""

    name: str
    http_url: str
    raft: RaftNode
    store: Store
    auth: TokenAuth
    extra: dict[str, Any] = field(default_factory=dict)
    metrics: metrics_mod.ServerMetrics = field(default_factory=metrics_mod.ServerMetrics)

    def self_status(self, with_hash: bool = False) -> dict[str, Any]:
        status = self.raft.status()
        fsm = self.store.fsm
        status.update(name=self.name, http=self.http_url, revision=fsm.rev, epoch=fsm.epoch,
                      stateHash=fsm.state_hash() if with_hash else None)
        return status


REPLICA = web.AppKey("replica", Replica)
USER = "haplane.user"


@web.middleware
async def errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except HaplaneError as exc:
        return _status_response(exc)
    except web.HTTPRequestEntityTooLarge:
        return _status_response(RequestEntityTooLarge(f"request body over {MAX_BODY} bytes"))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        err = HaplaneError(exc.reason or "error")
        err.code, err.reason = exc.status, {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status, "BadRequest")
        return _status_response(err)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _status_response(HaplaneError("internal error; see the replica's log"))


def _status_response(exc: HaplaneError) -> web.Response:
    resp = respond(exc.to_status(), exc.code)
    if isinstance(exc, Unavailable):
        resp.headers["Retry-After"] = str(max(1, int(round(exc.retry_after))))
    return resp


@web.middleware
async def auth_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    if not is_open(request.path):
        request[USER] = request.app[REPLICA].auth.authenticate(request.headers.get("Authorization"))
    return await handler(request)


def is_open(path: str) -> bool:
    """Paths served without a token: health checks and the dashboard's static files."""
    return path in OPEN_PATHS or path == UI_PREFIX or path.startswith(UI_PREFIX + "/")


@web.middleware
async def metrics_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """apiserver_request_total / _duration_seconds / inflight / longrunning, and the request id
    of the log lines (outermost: it sees the status the error middleware chose)."""
    logformat.request_id.set(request.headers.get("X-Request-Id"))
    api = request.app[REPLICA].metrics.api
    method = request.method
    watch = method == "GET" and request.query_string != "" and watch_requested(request)
    verb, resource, sub = metrics_mod.classify(method, request.path, watch)
    longrunning = metrics_mod.is_longrunning(verb, sub)
    code = "0"  # the client went away before an answer
    start = time.perf_counter()
    gauge = api.longrunning.labels(verb, resource) if longrunning else \
        (api.inflight_write if verb in metrics_mod.WRITE_VERBS else api.inflight_read)
    gauge.inc()
    try:
        resp = await handler(request)
        code = str(resp.status)
        return resp
    except web.HTTPException as exc:
        code = str(exc.status)
        raise
    finally:
        gauge.dec()
        api.requests.labels(verb, resource, sub, code).inc()
        if not longrunning:
            api.duration.labels(verb, resource, sub).observe(time.perf_counter() - start)


def make_app(replica: Replica) -> web.Application:
    from haplane.api import ui  # it imports this module

    app = web.Application(middlewares=[metrics_middleware, errors_middleware, ui.preflight_middleware,
                                       auth_middleware],
                          client_max_size=MAX_BODY)
    app[REPLICA] = replica
    peer_tls = replica.extra.get("peer_ssl")
    api = ResourceAPI(replica.store, peer_tls if isinstance(peer_tls, ssl.SSLContext) else None)

    def resources(prefix: str) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            ref = parse_path(prefix, request.match_info["tail"])
            user: User = request[USER]
            authorize(user, request.method, ref.info.kind, ref.sub, namespace=ref.ns, name=ref.name,
                      verb=request_verb(request.method, named=ref.name is not None,
                                        watch=watch_requested(request)))
            return await api.handle(request, ref, user.name)
        return handler

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(request: web.Request) -> web.Response:
        st = replica.raft.status()
        # Ready = bootstrap done: the default namespace and this replica's member record exist
        # (so a readiness wait does not race the bootstrap's own writes).
        bootstrapped = replica.store.fsm.get("Namespace", "", "default") is not None and \
            replica.store.fsm.get(MEMBER_KIND, "", replica.name) is not None
        if st["leader"] is None or not replica.raft.ready or not bootstrapped:
            raise Unavailable(f"not ready: leader={st['leader']} caught-up={replica.raft.ready} "
                              f"bootstrapped={bootstrapped}")
        return web.Response(text="ok")

    async def metrics(request: web.Request) -> web.Response:
        authorize(request[USER], request.method, None, path=request.path)  # auth.READ_PATHS: every role
        return web.Response(body=replica.metrics.render(), headers={"Content-Type": metrics_mod.CONTENT_TYPE})

    async def cluster_self(request: web.Request) -> web.Response:
        user: User = request[USER]
        return respond(dict(replica.self_status(with_hash=request.query.get("hash") == "1"),
                            caller={"user": user.name, "role": user.role}))

    async def cluster_status(request: web.Request) -> web.Response:
        return respond(await cluster_members_status(replica, request.headers.get("Authorization", "")))

    async def heartbeat(request: web.Request) -> web.Response:
        user: User = request[USER]
        authorize(user, "POST", "Node", "status")
        body = await read_json(request)
        names = body.get("nodes") if isinstance(body, dict) else None
        if not isinstance(names, list) or not all(isinstance(n, str) and 0 < len(n) <= 253 for n in names) \
                or len(names) > 10_000:
            raise BadRequest('expected {"nodes": ["node-name", ...]}')
        if replica.raft.is_leader:
            replica.extra["heartbeats"].record(names, wall_now())  # the control loops' clock
            return respond({"kind": "Status", "status": "Success", "code": 200, "leader": replica.name})
        return await forward_to_leader(replica, request, "/cluster/heartbeat", body)

    async def http_session(app: web.Application) -> Any:
        replica.extra["http"] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PEER_TIMEOUT),
                                                      connector=aiohttp.TCPConnector(ssl=peer_ssl(replica.extra)))
        yield
        await replica.extra.pop("http").close()

    async def not_found(request: web.Request) -> web.Response:
        raise NotFound(f"the server could not find the requested resource ({request.path})")

    discovery.add_routes(app)
    for prefix in API_PREFIXES:
        app.router.add_route("*", prefix + "/{tail:.*}", resources(prefix))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/cluster/self", cluster_self)
    app.router.add_get("/cluster/status", cluster_status)
    openapi.add_routes(app)
    app.router.add_post("/cluster/heartbeat", heartbeat)
    app.cleanup_ctx.append(http_session)
    from haplane.api import access, membership, metricsserver, snapshot  # they import this module
    access.add_routes(app, USER)
    metricsserver.add_routes(app, replica.store, USER, peer_tls if isinstance(peer_tls, ssl.SSLContext) else None)
    membership.add_routes(app, replica)
    snapshot.add_routes(app, replica)
    ui.add_routes(app)
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app


def member_url(replica: Replica, raft_addr: str | None) -> str | None:
    """The HTTP URL of the member at ``raft_addr``, from the replicated member records."""
    if raft_addr is None:
        return None
    records, _ = replica.store.fsm.list(MEMBER_KIND, "")
    for rec in records:
        if rec.get("spec", {}).get("raft") == raft_addr:
            return rec["spec"].get("http")
    return None


async def forward_to_leader(replica: Replica, request: web.Request, path: str, body: Any) -> web.Response:
    """Hand a leader-only request to the leader, bounded by PEER_TIMEOUT."""
    url = member_url(replica, replica.raft.leader)
    if url is None or url == replica.http_url:
        raise Unavailable("no leader known to this replica", retry_after=1.0)
    session: aiohttp.ClientSession = replica.extra["http"]
    try:
        async with session.post(url + path, json=body,
                                headers={"Authorization": request.headers.get("Authorization", "")}) as r:
            return web.Response(body=await r.read(), status=r.status, content_type="application/json")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Unavailable(f"the leader at {url} did not answer: {exc.__class__.__name__}", retry_after=1.0) from None


async def cluster_members_status(replica: Replica, authorization: str) -> dict[str, Any]:
    """Every member as this replica can see it: itself from memory, the others over HTTP."""
    me = replica.self_status()
    records, _ = replica.store.fsm.list(MEMBER_KIND, "")
    members: dict[str, dict[str, Any]] = {}
    for rec in records:
        spec = rec.get("spec", {})
        members[spec.get("raft", "")] = {"name": rec["metadata"]["name"], "raft": spec.get("raft"),
                                         "http": spec.get("http"), "role": "unreachable"}
    for raft_addr in list(me.get("peersConnected", {})) + list(replica.raft.learners()) + [me["raft"]]:
        members.setdefault(raft_addr, {"name": None, "raft": raft_addr, "http": None, "role": "unreachable"})

    async def fetch(session: aiohttp.ClientSession, m: dict[str, Any]) -> None:
        if m["raft"] == me["raft"]:
            m.update(me)
            return
        if not m.get("http"):
            return
        try:
            async with session.get(m["http"] + "/cluster/self", headers={"Authorization": authorization}) as r:
                if r.status == 200:
                    m.update(await r.json())
        except (aiohttp.ClientError, TimeoutError, ValueError):
            pass

    timeout = aiohttp.ClientTimeout(total=PEER_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(ssl=peer_ssl(replica.extra))) as session:
        await asyncio.gather(*(fetch(session, m) for m in members.values()))
    raft_to_name = {m["raft"]: m.get("name") for m in members.values()}
    out = sorted(members.values(), key=lambda m: (m.get("name") or "", m["raft"] or ""))
    _fill_lag(out)
    for m in out:
        if m.get("leader") and m.get("leader") in raft_to_name:
            m["leaderName"] = raft_to_name[m["leader"]]
    leader_raft = me.get("leader")
    return {"name": replica.name, "leader": raft_to_name.get(leader_raft) or leader_raft,
            "leaderRaft": leader_raft, "members": out}


def _fill_lag(members: list[dict[str, Any]]) -> None:
    """Each member's ``lag`` (and ``voter``) from the leader's replication view: its commit index
    minus the member's match index; learners are the members that do not vote."""
    lead = next((m for m in members if m.get("role") == "leader" and m.get("replication") is not None), None)
    if lead is None:
        return
    view, commit = lead["replication"], lead.get("commitIndex")
    for m in members:
        if m is lead:
            m.update(lag=0, voter=True)
            continue
        seen = view.get(m.get("raft") or "")
        if seen is not None:
            m.update(lag=learners.lag(commit, seen.get("matchIndex")), voter=seen.get("voter"))
            if not seen.get("voter") and m.get("role") == "unreachable":
                m["role"] = "learner"
