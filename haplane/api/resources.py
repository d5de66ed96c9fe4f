"""Kubernetes-shaped resource endpoints: list / watch / create / get / replace / patch / delete,
the ``status`` and ``scale`` subresources, for every kind in the registry.

Paths (``{prefix}`` is ``/api/v1`` or ``/apis/apps/v1``)::

    {prefix}/namespaces/{ns}/{plural}[/{name}[/{sub}]]    namespaced kinds
    {prefix}/{plural}[/{name}[/{sub}]]                     cluster-scoped kinds
    {prefix}/{plural}                                      a namespaced kind across all namespaces (GET)
"""

from __future__ import annotations

import asyncio
import copy
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from haplane import logformat
from haplane.api import ids, tables
from haplane.api.body import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    PATCH_TYPES,
    duplicate_fields,
    read_body,
    read_json,
)
from haplane.api.deletion import parse_delete_options
from haplane.api.listing import INITIAL_EVENTS_END, encode_continue, parse_list, parse_watch
from haplane.api.logs import pod_logs
from haplane.api.managedfields import server_side_apply, track_update
from haplane.api.mutations import (
    check_identity,
    json_patch,
    merge_patch,
    replicas_from_scale,
    scale_of,
    stamp_new,
)
from haplane.api.strategic import strategic_merge_patch
from haplane.api.streams import STREAM_SUBRESOURCES, pod_stream
from haplane.api.writeopts import WriteOptions, write_options
from haplane.clock import rfc3339, wall_now
from haplane.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    Expired,
    Gone,
    HaplaneError,
    MethodNotAllowed,
    NotFound,
)
from haplane.model import registry
from haplane.model.ownership import FOREGROUND, in_foreground_deletion
from haplane.model.registry import KindInfo
from haplane.model.structure import shape_of
from haplane.store import commands
from haplane.store.fsm import updated_object
from haplane.store.store import Store

SUBRESOURCES = frozenset({"", "status", "scale", "log", "eviction", *STREAM_SUBRESOURCES})
EVICTION_VERSIONS = ("policy/v1", "policy/v1beta1")
BOOKMARK_EVERY = 5.0
PATCH_RETRIES = 8
EXPIRED_CONTINUE = ("The provided continue parameter is too old to display a consistent list result. You can start "
                    "a new list without the continue parameter, or use the continue token in this response to "
                    "retrieve the remainder of the results. Continuing with the provided token results in an "
                    "inconsistent list - objects that were created, modified, or deleted between the time the "
                    "first chunk was returned and now may show up in the list.")


@dataclass(frozen=True)
class Ref:
    info: KindInfo
    ns: str | None  # None: a cluster-scoped kind, or a list across all namespaces
    name: str | None
    sub: str = ""


def parse_path(prefix: str, tail: str) -> Ref:
    """Resolve the path below an API prefix to a resource reference; NotFound when it names none."""
    segs = [s for s in tail.split("/") if s]
    if len(segs) >= 3 and segs[0] == "namespaces":
        info = registry.by_path(prefix, segs[2])
        if info is not None and info.namespaced and len(segs) <= 5:
            return _ref(info, segs[1], segs[3] if len(segs) > 3 else None, segs[4] if len(segs) > 4 else "")
    if 1 <= len(segs) <= 3:
        info = registry.by_path(prefix, segs[0])
        if info is not None:
            if info.namespaced and len(segs) > 1:
                raise NotFound(f"{info.plural} are namespaced: use {prefix}/namespaces/NAMESPACE/{info.plural}")
            return _ref(info, None, segs[1] if len(segs) > 1 else None, segs[2] if len(segs) > 2 else "")
    raise NotFound(f"the server could not find the requested resource ({prefix}/{tail})")


def _ref(info: KindInfo, ns: str | None, name: str | None, sub: str) -> Ref:
    if sub not in SUBRESOURCES or (sub == "status" and not info.has_status) or \
            (sub == "scale" and not info.has_scale) or \
            (sub in ("log", "eviction", *STREAM_SUBRESOURCES) and info.kind != "Pod"):
        raise NotFound(f"{info.plural} have no subresource {sub!r}")
    return Ref(info, ns, name, sub)


def _now() -> str:
    return rfc3339(wall_now())


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def respond(obj: Any, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    resp = web.Response(body=dumps(obj), status=status, content_type="application/json")
    for w in warnings or []:
        escaped = w.replace("\\", "\\\\").replace('"', '\\"')  # a quoted-string (RFC 7234), as client-go parses it
        resp.headers.add("Warning", f'299 - "{escaped}"')
    return resp


class ResourceAPI:
    def __init__(self, store: Store, agent_tls: ssl.SSLContext | None = None) -> None:
        self.store = store
        self.agent_tls = agent_tls  # set when this replica serves HTTPS: how it verifies agents

    # ------------------------------------------------------------ dispatch
    async def handle(self, request: web.Request, ref: Ref, user_name: str) -> web.StreamResponse:
        method = request.method
        collection = ref.name is None
        if collection:
            if method == "GET":
                if watch_requested(request):
                    return await self.watch(request, ref)
                return await self.list(request, ref)
            if method == "POST":
                if ref.info.namespaced and ref.ns is None:
                    raise MethodNotAllowed(f"create {ref.info.plural} in a namespace")
                return await self.create(request, ref, user_name)
        else:
            if ref.sub == "eviction":  # create-only, as in Kubernetes
                if method == "POST":
                    return await self.evict(request, ref, user_name)
                raise MethodNotAllowed(f"{method} is not supported on pods/eviction (POST an Eviction)")
            if method == "GET" and ref.sub == "log":
                return await pod_logs(request, self.store, ref, self.agent_tls)
            if method in ("GET", "POST") and ref.sub in STREAM_SUBRESOURCES:
                return await pod_stream(request, self.store, ref, self.agent_tls)
            if method == "GET":
                return await self.get(request, ref)
            if method == "PUT" and ref.sub != "log":
                return await self.replace(request, ref, user_name)
            if method == "PATCH" and ref.sub in ("", "scale", "status"):
                return await self.patch(request, ref, user_name)
            if method == "DELETE" and ref.sub == "":
                return await self.delete(request, ref, user_name)
        raise MethodNotAllowed(f"{method} is not supported on this path")

    # ----------------------------------------------------------------- read
    async def list(self, request: web.Request, ref: Ref) -> web.Response:
        info = ref.info
        opts = parse_list(info.kind, request.query)
        as_table = tables.table_request(request.headers.get("Accept"), request.query)
        try:
            pg, rev = await self.store.list_page(info.kind, ref.ns if info.namespaced else "", at=opts.at,
                                                 not_older_than=opts.not_older_than, after=opts.after,
                                                 limit=opts.limit, stale=opts.stale, match=opts.match)
        except Expired:
            if opts.after is None:
                raise
            raise Expired(EXPIRED_CONTINUE, continue_token=encode_continue(self.store.fsm.rev, opts.after)) from None
        token = encode_continue(rev, pg.next_key) if pg.next_key is not None else None
        if as_table is not None:
            return respond(tables.table(info.kind, pg.items, datetime.fromtimestamp(wall_now(), UTC), as_table, resource_version=str(rev),
                                        continue_token=token, remaining=pg.remaining if token else None))
        meta: dict[str, Any] = {"resourceVersion": str(rev)}
        if token:
            meta.update({"continue": token, "remainingItemCount": pg.remaining})
        return respond({"apiVersion": info.api_version, "kind": info.list_kind, "metadata": meta, "items": pg.items})

    async def get(self, request: web.Request, ref: Ref) -> web.Response:
        as_table = tables.table_request(request.headers.get("Accept"), request.query) if ref.sub != "scale" else None
        obj = await self._get(ref, stale=_stale(request))
        if as_table is not None:
            return respond(tables.table(ref.info.kind, [obj], datetime.fromtimestamp(wall_now(), UTC), as_table,
                                        resource_version=obj["metadata"].get("resourceVersion")))
        return respond(scale_of(obj) if ref.sub == "scale" else obj)

    async def _get(self, ref: Ref, *, stale: bool = False) -> dict:
        """The object ``ref`` names; NotFound in Kubernetes' words. Dry runs read with
        ``stale=True``: they write nothing, not even a read barrier."""
        assert ref.name is not None
        try:
            return await self.store.get(ref.info.kind, _ns(ref), ref.name, stale=stale)
        except NotFound:
            resource = f"{ref.info.plural}.{ref.info.group}" if ref.info.group else ref.info.plural
            raise NotFound(f'{resource} "{ref.name}" not found') from None  # Kubernetes' wording

    async def watch(self, request: web.Request, ref: Ref) -> web.StreamResponse:
        opts = parse_watch(ref.info.kind, request.query)
        as_table = tables.table_request(request.headers.get("Accept"), request.query)
        kind = ref.info.kind
        ns = ref.ns if ref.info.namespaced else ""
        items, rev, watcher = await self.store.watch(kind, ns, opts.since, stale=opts.stale, match=opts.match)
        headers = [as_table is not None]  # a Table watch sends the column definitions once

        def event(etype: str, obj: dict) -> bytes:
            if as_table is None or etype == "ERROR":
                return _event(etype, obj)
            rows = [] if etype == "BOOKMARK" else [obj]
            out = tables.table(kind, rows, datetime.fromtimestamp(wall_now(), UTC), as_table, headers=headers[0],
                               resource_version=(obj.get("metadata") or {}).get("resourceVersion"))
            headers[0] = False
            return _event(etype, out)

        def bookmark(at: int, annotations: dict[str, str] | None = None) -> bytes:
            meta: dict[str, Any] = {"resourceVersion": str(at)}
            if annotations:
                meta["annotations"] = annotations
            return event("BOOKMARK", {"kind": kind, "apiVersion": ref.info.api_version, "metadata": meta})

        resp = web.StreamResponse(headers={"Content-Type": "application/json", "Cache-Control": "no-cache"})
        try:
            await resp.prepare(request)
            if opts.initial_events:
                for obj in items:
                    await resp.write(event("ADDED", obj))
            if opts.initial_events_end:
                await resp.write(bookmark(rev, {INITIAL_EVENTS_END: "true"}))
            last = rev
            deadline = time.monotonic() + opts.timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    change = await watcher.next(min(BOOKMARK_EVERY, left))
                except Gone as exc:
                    await resp.write(_event("ERROR", exc.to_status()))
                    break
                if change is None:
                    if opts.bookmarks:
                        last = max(last, watcher.last_rv, self.store.hub.delivered_rv)
                        await resp.write(bookmark(last))
                    continue
                await resp.write(event(change.type, change.obj))
                # Let other tasks run when a backlog is drained in one go.
                if watcher.queue.qsize() > 100:
                    await asyncio.sleep(0)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.store.unwatch(watcher)
        return resp

    # ---------------------------------------------------------------- write
    # Every write takes the write options (haplane.api.writeopts): dryRun=All answers the object
    # the write would store and writes nothing; fieldValidation decides what unknown and duplicate
    # fields do; the field manager is recorded in metadata.managedFields (haplane.api.managedfields),
    # stamped here, by the proposer, with this replica's clock.
    async def create(self, request: web.Request, ref: Ref, user: str) -> web.Response:
        opts = _options(request)
        raw, body = await read_body(request)
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        info = ref.info
        obj = stamp_new(body, kind=info.kind, namespaced=info.namespaced, ns=ref.ns, now=_now(),
                        uid=ids.new_uid(), suffix=ids.suffix())
        obj, unknown = registry.validate(info.kind, obj)
        warnings = opts.field_problems(info, unknown, _duplicates(request, raw, opts))
        obj = track_update(None, obj, shape_of(info.model), manager=opts.manager, api_version=info.api_version,
                           now=_now())
        return respond(await self._create(ref, obj, opts, _rid(request, user)), 201, warnings)

    async def _create(self, ref: Ref, obj: dict, opts: WriteOptions, rid: str) -> dict:
        ns = _ns(ref, obj)
        if not opts.dry_run:
            return await self.store.write(commands.create(ref.info.kind, ns, obj, rid=rid))
        # What the state machine's create would check and store, read locally.
        if ns and ref.info.kind != "Namespace":
            try:
                await self.store.get("Namespace", "", ns, stale=True)
            except NotFound:
                raise NotFound(f'namespaces "{ns}" not found') from None
        try:
            await self.store.get(ref.info.kind, ns, obj["metadata"]["name"], stale=True)
        except NotFound:
            obj["metadata"]["generation"] = 1
            return obj
        raise AlreadyExists(f'{ref.info.plural} "{obj["metadata"]["name"]}" already exists')

    async def replace(self, request: web.Request, ref: Ref, user: str) -> web.Response:
        opts = _options(request)
        raw, body = await read_body(request)
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        assert ref.name is not None
        if ref.sub == "scale":
            replicas = replicas_from_scale(body)
            return await self._scale(request, ref, user, opts, lambda _: replicas)
        duplicates = _duplicates(request, raw, opts)
        info = ref.info
        obj = check_identity(body, kind=info.kind, name=ref.name, namespaced=info.namespaced, ns=ref.ns)
        if ref.sub == "status":
            obj, unknown = registry.validate(info.kind, obj)
            warnings = opts.field_problems(info, unknown, duplicates)
            meta = obj["metadata"]
            if opts.dry_run:
                current = await self._get(ref, stale=True)
                _check_preconditions(ref, current, rv=meta.get("resourceVersion"), uid=meta.get("uid"))
                return respond(updated_object(current, obj, status=True), 200, warnings)
            op = commands.update(info.kind, _ns(ref), ref.name, obj, status=True,
                                 rv=meta.get("resourceVersion"), uid=meta.get("uid"), rid=_rid(request, user))
            return respond(await self.store.write(op), 200, warnings)
        return await self._read_modify_write(ref, _rid(request, user), lambda _: obj, opts, duplicates)

    async def patch(self, request: web.Request, ref: Ref, user: str) -> web.Response:
        ctype = request.content_type
        opts = _options(request, apply=ctype == APPLY_PATCH)
        raw, patch = await read_body(request, allowed=PATCH_TYPES)
        rid = _rid(request, user)
        duplicates = _duplicates(request, raw, opts)
        if ctype == APPLY_PATCH:
            if ref.sub:
                raise MethodNotAllowed(f"server-side apply is not supported on the {ref.sub} subresource")
            return await self._apply(ref, rid, patch, opts, duplicates)
        shape = shape_of(ref.info.model)

        def patched(cur: dict) -> Any:
            if ctype == MERGE_PATCH:
                return merge_patch(cur, patch)
            if ctype == JSON_PATCH:
                return json_patch(cur, patch)
            return strategic_merge_patch(cur, patch, shape)
        if ref.sub == "scale":
            return await self._scale(request, ref, user, opts, lambda cur: replicas_from_scale(patched(scale_of(cur))))
        return await self._read_modify_write(ref, rid, patched, opts, duplicates, status=ref.sub == "status")

    async def _apply(self, ref: Ref, rid: str, config: Any, opts: WriteOptions,
                     duplicates: list[str]) -> web.Response:
        """Server-side apply: merge ``config`` as ``opts.manager``'s intent; creates the object when
        there is none. Retried on a CAS conflict like any PATCH."""
        info = ref.info
        assert ref.name is not None
        if not isinstance(config, dict):
            raise BadRequest("an apply patch must be an object")
        config = check_identity(config, kind=info.kind, name=ref.name, namespaced=info.namespaced, ns=ref.ns)
        pinned = config["metadata"].pop("resourceVersion", None)
        shape = shape_of(info.model)
        for attempt in range(PATCH_RETRIES):
            try:
                current: dict | None = await self._get(ref, stale=opts.dry_run)
            except NotFound:
                if pinned:
                    raise
                current = None
            merged = server_side_apply(current, config, shape, manager=opts.manager, api_version=info.api_version,
                                       now=_now(), force=opts.force)
            if current is None:
                obj = stamp_new(merged, kind=info.kind, namespaced=info.namespaced, ns=ref.ns, now=_now(),
                                uid=ids.new_uid(), suffix=ids.suffix())
                obj, unknown = registry.validate(info.kind, obj)
                warnings = opts.field_problems(info, unknown, duplicates)
                try:
                    return respond(await self._create(ref, obj, opts, f"{rid}#{attempt}"), 201, warnings)
                except AlreadyExists:
                    continue
            new, unknown = registry.validate(info.kind, merged)
            warnings = opts.field_problems(info, unknown, duplicates)
            try:
                return respond(await self._update(ref, current, new, opts, f"{rid}#{attempt}", pinned=pinned),
                               200, warnings)
            except Conflict:
                if pinned:
                    raise
        raise Conflict(f'{info.plural} "{ref.name}" kept changing; gave up after {PATCH_RETRIES} attempts')

    async def _scale(self, request: web.Request, ref: Ref, user: str, opts: WriteOptions,
                     replicas_of: Any) -> web.Response:
        def set_replicas(cur: dict) -> dict:
            new = dict(cur)
            new["spec"] = dict(cur.get("spec") or {}, replicas=replicas_of(cur))
            return new
        obj, warnings = await self._modify(ref, _rid(request, user), set_replicas, opts, subresource="scale")
        return respond(scale_of(obj), 200, warnings)

    async def _read_modify_write(self, ref: Ref, rid: str, change: Any, opts: WriteOptions,
                                 duplicates: list[str] | None = None, *, status: bool = False) -> web.Response:
        obj, warnings = await self._modify(ref, rid, change, opts, duplicates, status=status)
        return respond(obj, 200, warnings)

    async def _modify(self, ref: Ref, rid: str, change: Any, opts: WriteOptions,
                      duplicates: list[str] | None = None, *, status: bool = False,
                      subresource: str = "") -> tuple[dict, list[str]]:
        """Apply ``change`` to the current object with a CAS, retrying on conflicts (as Kubernetes
        does for PATCH without a resourceVersion)."""
        info = ref.info
        assert ref.name is not None
        for attempt in range(PATCH_RETRIES):
            current = await self._get(ref, stale=opts.dry_run)
            new = change(copy.deepcopy(current))
            if not isinstance(new, dict):
                raise BadRequest("the patched object is not a JSON object")
            new = check_identity(new, kind=info.kind, name=ref.name, namespaced=info.namespaced, ns=ref.ns)
            new, unknown = registry.validate(info.kind, new)
            warnings = opts.field_problems(info, unknown, duplicates or [])
            pinned = new["metadata"].get("resourceVersion") not in (None, current["metadata"]["resourceVersion"])
            if not status:
                new = track_update(current, new, shape_of(info.model), manager=opts.manager,
                                   api_version=info.api_version, now=_now(), subresource=subresource)
            try:
                return await self._update(ref, current, new, opts, f"{rid}#{attempt}", status=status,
                                          pinned=new["metadata"].get("resourceVersion") if pinned else None), warnings
            except Conflict:
                if pinned:
                    raise
        raise Conflict(f'{info.plural} "{ref.name}" kept changing; gave up after {PATCH_RETRIES} attempts')

    async def _update(self, ref: Ref, current: dict, new: dict, opts: WriteOptions, rid: str, *,
                      status: bool = False, pinned: str | None = None) -> dict:
        """Write ``new`` over ``current`` (CAS on the resourceVersion ``pinned`` or else current's)."""
        assert ref.name is not None
        rv = pinned or current["metadata"]["resourceVersion"]
        uid = new["metadata"].get("uid")
        if opts.dry_run:
            _check_preconditions(ref, current, rv=rv, uid=uid)
            return updated_object(current, new, status=status)
        op = commands.update(ref.info.kind, _ns(ref), ref.name, new, status=status, rv=rv, uid=uid, rid=rid)
        return await self.store.write(op)

    async def delete(self, request: web.Request, ref: Ref, user: str) -> web.Response:
        return await self._delete(request, ref, user, await read_json(request, required=False))

    async def evict(self, request: web.Request, ref: Ref, user: str) -> web.Response:
        """``POST pods/NAME/eviction`` (policy/v1 Eviction): delete the pod with the eviction's
        DeleteOptions. haplane has no PodDisruptionBudgets, so no eviction is ever refused for
        one (Kubernetes would answer 429 while a budget forbids it)."""
        body = await read_json(request)  # kubectl drain sends its evictions as protobuf
        if not isinstance(body, dict):
            raise BadRequest("the body must be an Eviction object")
        if body.get("kind", "Eviction") != "Eviction" or body.get("apiVersion", "policy/v1") not in EVICTION_VERSIONS:
            raise BadRequest(f"expected an Eviction (policy/v1), not {body.get('kind')} ({body.get('apiVersion')})")
        meta = body.get("metadata") or {}
        if not isinstance(meta, dict):
            raise BadRequest("metadata must be an object")
        if meta.get("name") not in (None, ref.name):
            raise BadRequest(f"name in URL does not match name in Eviction object ({meta.get('name')!r})")
        if meta.get("namespace") not in (None, "", _ns(ref)):
            raise BadRequest(f"namespace in URL does not match namespace in Eviction object "
                             f"({meta.get('namespace')!r})")
        options = body.get("deleteOptions")
        if options is not None and not isinstance(options, dict):
            raise BadRequest("deleteOptions must be an object")
        await self._delete(request, ref, user, options)  # its answer is the eviction's Status
        return respond({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201)

    async def _delete(self, request: web.Request, ref: Ref, user: str, body: Any) -> web.Response:
        opts = parse_delete_options(body, request.query)
        assert ref.name is not None
        rid = _rid(request, user)
        if opts.dry_run:
            obj = await self._get(ref, stale=True)  # a dry run reaches nothing in the Raft log
            _check_preconditions(ref, obj, rv=opts.resource_version, uid=opts.uid)
            return respond(obj)
        if opts.policy == "Orphan":
            await self._orphan_dependents(ref, rid)
        elif opts.policy == "Foreground":
            return respond(await self._delete_in_foreground(ref, rid, opts.uid, opts.resource_version), 202)
        uid, rv = opts.uid, opts.resource_version
        if opts.grace_seconds is not None and ref.info.kind == "Pod":
            # The preconditions held for the mark; the delete then goes with the marked pod's uid.
            uid, rv = await self._mark_deleting(ref, rid, opts.grace_seconds, uid, rv), None
        op = commands.delete(ref.info.kind, _ns(ref), ref.name, rv=rv, uid=uid, rid=rid)
        return respond(await self.store.write(op))

    async def _delete_in_foreground(self, ref: Ref, rid: str, uid: str | None, rv: str | None) -> dict:
        """Mark the object for the garbage collector: a deletionTimestamp and the foregroundDeletion
        finalizer. It goes once its blocking dependents are gone (haplane.control.gc)."""
        def mark(cur: dict) -> dict:
            _check_preconditions(ref, cur, rv=rv, uid=uid)
            if in_foreground_deletion(cur):
                return cur
            meta = dict(cur["metadata"])
            meta.setdefault("deletionTimestamp", _now())
            meta["finalizers"] = [*(meta.get("finalizers") or []), FOREGROUND]
            return dict(cur, metadata=meta)
        return (await self._modify(ref, f"{rid}/foreground", mark, API_SERVER))[0]

    async def _mark_deleting(self, ref: Ref, rid: str, grace: int, uid: str | None, rv: str | None) -> str:
        """Give a pod its deletion grace period before it goes, so its node agent stops the
        containers within it (0: at once) rather than within terminationGracePeriodSeconds.
        Returns the pod's uid."""
        def mark(cur: dict) -> dict:
            _check_preconditions(ref, cur, rv=rv, uid=uid)
            meta = dict(cur["metadata"], deletionGracePeriodSeconds=grace)
            meta.setdefault("deletionTimestamp", _now())
            return dict(cur, metadata=meta)
        return str((await self._modify(ref, f"{rid}/grace", mark, API_SERVER))[0]["metadata"]["uid"])

    async def _orphan_dependents(self, ref: Ref, rid: str) -> None:
        """Strip owner references to the object so the garbage collector leaves its dependents."""
        owner = await self._get(ref)
        uid = owner["metadata"]["uid"]
        for kind, info in registry.KINDS.items():
            if ref.info.namespaced and not info.namespaced:
                continue
            items, _ = await self.store.list(kind, _ns(ref) if ref.info.namespaced else None, stale=True)
            for obj in items:
                refs = obj["metadata"].get("ownerReferences") or []
                if any(r.get("uid") == uid for r in refs):
                    dep_ref = Ref(info, obj["metadata"].get("namespace"), obj["metadata"]["name"])

                    def strip(cur: dict) -> dict:
                        meta = dict(cur["metadata"])
                        meta["ownerReferences"] = [r for r in meta.get("ownerReferences") or [] if r.get("uid") != uid]
                        if not meta["ownerReferences"]:
                            del meta["ownerReferences"]
                        return dict(cur, metadata=meta)
                    await self._modify(dep_ref, f"{rid}/orphan/{kind}/{obj['metadata']['name']}", strip, API_SERVER)


# ------------------------------------------------------------------ helpers
# The API server's own writes (orphaning dependents, deletion marks) under one field manager.
API_SERVER = WriteOptions(manager="haplane-api-server")


def _options(request: web.Request, *, apply: bool = False) -> WriteOptions:
    return write_options(request.query, request.headers.get("User-Agent"), apply=apply)


def _duplicates(request: web.Request, raw: bytes, opts: WriteOptions) -> list[str]:
    """Keys given twice in one object of the body (parsed again only when they would be reported)."""
    if opts.validation == "Ignore":
        return []
    return duplicate_fields(raw, request.content_type)


def _check_preconditions(ref: Ref, current: dict, *, rv: str | None, uid: str | None) -> None:
    """The state machine's resourceVersion / uid preconditions, for a dry run."""
    meta = current["metadata"]
    if uid and uid != meta.get("uid"):
        raise Conflict(f'{ref.info.kind} "{ref.name}": precondition failed: uid is {meta.get("uid")}, not {uid}')
    if rv and rv != meta.get("resourceVersion"):
        raise Conflict(f'Operation cannot be fulfilled on {ref.info.plural} "{ref.name}": the object has been '
                       "modified; please apply your changes to the latest version and try again")


def _event(etype: str, obj: dict) -> bytes:
    return orjson.dumps({"type": etype, "object": obj}, option=orjson.OPT_APPEND_NEWLINE)


def _ns(ref: Ref, obj: dict | None = None) -> str:
    if not ref.info.namespaced:
        return ""
    return ref.ns or (obj or {}).get("metadata", {}).get("namespace") or "default"


def watch_requested(request: web.Request) -> bool:
    return _flag(request.query.get("watch"))


def _flag(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes")


def _stale(request: web.Request) -> bool:
    return _flag(request.query.get("stale")) or request.query.get("resourceVersion") == "0"


def _rid(request: web.Request, user: str) -> str:
    given = request.headers.get("X-Request-Id")
    if given is None:
        rid = f"{user}:{ids.new_uid()}"
    elif not (0 < len(given) <= 128) or not given.isprintable():
        raise BadRequest("X-Request-Id must be 1..128 printable characters")
    else:
        rid = f"{user}:{given}"
    logformat.request_id.set(rid)  # every line logged while serving this write carries it
    return rid


__all__ = ["HaplaneError", "ResourceAPI", "Ref", "parse_path"]
