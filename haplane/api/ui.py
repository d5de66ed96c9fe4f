"""The web dashboard: its static page at ``/ui/``, its one live stream and the chaos reports.

* ``GET /ui/`` and ``/ui/<asset>`` — plain files shipped in the package (``haplane/ui/``), served
  without a token: they hold no data. The page asks for a token and sends it with every data call.
* ``GET /cluster/dashboard/stream`` — JSON lines, one connection for everything the page shows
  (a browser opens at most six HTTP/1.1 connections to one origin, fewer than the page has kinds
  to watch). Per kind of :data:`STREAM_KINDS` the current objects as ``ADDED`` lines then a
  ``SYNCED`` line, then the changes from the store's watch hub as they happen (``ADDED``,
  ``MODIFIED``, ``DELETED``, each with ``kind``); and once a second a ``STATUS`` line, the
  cluster status of ``/cluster/status`` cut to what the page shows (sooner when this replica
  sees a new leader or term). Reads are local (``stale``):
  a replica without quorum still shows what it has, and its STATUS line says it has no quorum.
  A watcher that falls behind, or a replica that retires, ends the stream with an ``ERROR`` line;
  the page then reconnects (to the next replica when this one stops answering).
* ``GET /cluster/dashboard/reports`` — the chaos reports (``haplane chaos run --report DIR``)
  found under the replica's reports directory; ``.../reports/{name}`` their HTML page.

Cross-origin calls: the page fails over to another replica, a different origin, without a
reload; :func:`cors` lets the members' own URLs (the replicated Member records) call here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from importlib import resources
from typing import Any

import orjson
from aiohttp import web

from haplane.api.app import REPLICA, USER, Replica, cluster_members_status
from haplane.api.auth import User, authorize
from haplane.errors import HaplaneError, NotFound
from haplane.model.registry import KINDS

log = logging.getLogger(__name__)

ASSETS = resources.files("haplane") / "ui"
ASSET_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
STREAM_PATH = "/cluster/dashboard/stream"
REPORTS_PATH = "/cluster/dashboard/reports"
STREAM_KINDS = ("Node", "Pod", "Deployment", "Service", "Endpoints", "Event")
STATUS_EVERY = 1.0
LEADER_CHECK = 0.1
QUEUE_MAX = 2000  # lines not yet written; a full queue holds the watchers back until they fall behind
MEMBER_FIELDS = ("name", "raft", "http", "role", "term", "commitIndex", "appliedIndex", "hasQuorum",
                 "leaderName", "revision")
REPORTS_DIR_KEY = "chaos_reports_dir"


def add_routes(app: web.Application) -> None:
    app.router.add_get("/ui", _redirect)
    app.router.add_get("/ui/", asset)
    app.router.add_get("/ui/{name}", asset)
    app.router.add_get(STREAM_PATH, stream)
    app.router.add_get(REPORTS_PATH, reports)
    app.router.add_get(REPORTS_PATH + "/{name}", report_page)
    app.on_response_prepare.append(_cors_headers)


async def _redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/ui/")


async def asset(request: web.Request) -> web.Response:
    name = request.match_info.get("name") or "index.html"
    ctype = ASSET_TYPES.get(os.path.splitext(name)[1])
    entry = ASSETS / name
    if ctype is None or "/" in name or name.startswith(".") or not entry.is_file():
        raise NotFound(f"no dashboard file {name!r}")
    return web.Response(body=entry.read_bytes(), content_type=ctype,
                        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})


# --------------------------------------------------------------------------- stream


def member_summary(status: dict[str, Any]) -> dict[str, Any]:
    """The cluster status cut to what the page shows (pure)."""
    return {"name": status.get("name"), "leader": status.get("leader"),
            "members": [{k: m.get(k) for k in MEMBER_FIELDS} for m in status.get("members", [])]}


def line(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc) + b"\n"


async def stream(request: web.Request) -> web.StreamResponse:
    replica = request.app[REPLICA]
    user: User = request[USER]
    authorize(user, request.method, None, path=request.path)
    for kind in STREAM_KINDS:
        authorize(user, "GET", kind, verb="watch")
    store = replica.store
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_MAX)
    opened: list[tuple[str, list[dict], int, Any]] = []

    async def pump(kind: str, watcher: Any) -> None:
        try:
            while True:
                change = await watcher.next(30.0)
                if change is not None:
                    await queue.put(line({"type": change.type, "kind": kind, "object": change.obj}))
        except Exception as exc:  # Gone (fell behind, or the replica retires) or a failed watcher: end
            err = exc if isinstance(exc, HaplaneError) else HaplaneError(f"the {kind} watch failed: {exc}")
            await queue.put(line({"type": "ERROR", "kind": kind, "object": err.to_status()}))
            await queue.put(None)

    async def status() -> None:
        """A STATUS line every STATUS_EVERY seconds, and at once when this replica sees the leader
        or the term change (checked every LEADER_CHECK seconds: two attribute reads)."""
        auth = request.headers.get("Authorization", "")
        logged = False
        while True:
            try:
                seen = (replica.raft.leader, replica.raft.term)
                doc = member_summary(await cluster_members_status(replica, auth))
                await queue.put(line({"type": "STATUS", "object": doc}))
            except Exception:  # keep the stream; the page notices the missing lines only if they stay away
                if not logged:
                    log.exception("dashboard stream: the cluster status failed (logged once per stream)")
                    logged = True
            deadline = time.monotonic() + STATUS_EVERY
            while time.monotonic() < deadline and (replica.raft.leader, replica.raft.term) == seen:
                await asyncio.sleep(LEADER_CHECK)

    resp = web.StreamResponse(headers={"Content-Type": "application/json", "Cache-Control": "no-cache"})
    tasks: list[asyncio.Task] = []
    try:
        for kind in STREAM_KINDS:
            items, rev, watcher = await store.watch(kind, None if KINDS[kind].namespaced else "", None, stale=True)
            opened.append((kind, items, rev, watcher))
        await resp.prepare(request)
        for kind, items, rev, _ in opened:
            await resp.write(b"".join(line({"type": "ADDED", "kind": kind, "object": o}) for o in items)
                             + line({"type": "SYNCED", "kind": kind, "resourceVersion": str(rev)}))
        tasks = [asyncio.create_task(pump(kind, w)) for kind, _, _, w in opened]
        tasks.append(asyncio.create_task(status()))
        while (chunk := await queue.get()) is not None:
            await resp.write(chunk)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for _, _, _, w in opened:
            store.unwatch(w)
    return resp


# --------------------------------------------------------------------------- reports


def scan_reports(root: str | None) -> list[dict[str, Any]]:
    """Every chaos report directory under ``root`` (a directory with a ``summary.json``; ``root``
    itself may be one), newest first, with its verdicts. Unreadable summaries are listed as such."""
    if not root or not os.path.isdir(root):
        return []
    dirs = [("", root)] if os.path.isfile(os.path.join(root, "summary.json")) else []
    dirs += [(e.name, e.path) for e in os.scandir(root)
             if e.is_dir() and os.path.isfile(os.path.join(e.path, "summary.json"))]
    out = []
    for name, path in dirs:
        summary_file = os.path.join(path, "summary.json")
        doc: dict[str, Any] = {"name": name or os.path.basename(os.path.normpath(path)), "id": name or ".",
                               "mtime": os.path.getmtime(summary_file),
                               "page": os.path.isfile(os.path.join(path, "index.html"))}
        try:
            with open(summary_file, encoding="utf-8") as f:
                s = json.load(f)
            doc.update(ok=bool(s.get("ok")), started=s.get("started"), wall_s=s.get("wall_s"),
                       scenarios=[{"scenario": sc.get("scenario"), "ok": sc.get("ok"), "wall_s": sc.get("wall_s"),
                                   "error": sc.get("error"),
                                   "failed": [v.get("name") for v in sc.get("verdicts", []) if not v.get("ok")]}
                                  for sc in s.get("scenarios", [])])
        except (OSError, ValueError, AttributeError, TypeError) as exc:
            doc.update(ok=None, error=f"unreadable summary.json: {exc}", scenarios=[])
        out.append(doc)
    return sorted(out, key=lambda d: d["mtime"], reverse=True)


async def reports(request: web.Request) -> web.Response:
    authorize(request[USER], request.method, None, path=request.path)
    root = request.app[REPLICA].extra.get(REPORTS_DIR_KEY)
    items = await asyncio.to_thread(scan_reports, root)
    return web.json_response({"kind": "ChaosReportList", "directory": root, "items": items})


async def report_page(request: web.Request) -> web.Response:
    authorize(request[USER], request.method, None, path=request.path)
    root = request.app[REPLICA].extra.get(REPORTS_DIR_KEY)
    name = request.match_info["name"]
    known = {d["id"] for d in await asyncio.to_thread(scan_reports, root)}
    if not root or name not in known:  # only names the scan found: nothing outside the directory
        raise NotFound(f"no chaos report {name!r}")
    page = os.path.join(root, "" if name == "." else name, "index.html")
    if not os.path.isfile(page):
        raise NotFound(f"chaos report {name!r} has no index.html")
    with open(page, "rb") as f:
        return web.Response(body=f.read(), content_type="text/html")


# --------------------------------------------------------------------------- CORS


def allowed_origins(replica: Replica) -> set[str]:
    """The members' own API URLs: the only origins whose pages may call this replica."""
    records, _ = replica.store.fsm.list("Member", "")
    urls = {str(r.get("spec", {}).get("http", "")).rstrip("/") for r in records}
    return {u for u in urls | {replica.http_url.rstrip("/")} if u}


@web.middleware
async def preflight_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Answer a CORS preflight from a member's page (before authentication: a preflight carries
    no token); anything else goes on."""
    origin = request.headers.get("Origin")
    if request.method != "OPTIONS" or not origin or "Access-Control-Request-Method" not in request.headers \
            or origin not in allowed_origins(request.app[REPLICA]):
        return await handler(request)
    return web.Response(status=204, headers={
        "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE",
        "Access-Control-Allow-Headers": "Authorization, Content-Type",
        "Access-Control-Max-Age": "600"})


async def _cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    origin = request.headers.get("Origin")
    if origin and origin in allowed_origins(request.app[REPLICA]):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers.add("Vary", "Origin")
