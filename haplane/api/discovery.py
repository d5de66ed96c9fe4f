"""API discovery as kubectl and client-go read it: ``/version``, ``/api``, ``/apis``,
``/api/v1``, ``/apis/{group}[/{version}]``, legacy and aggregated (``apidiscovery.k8s.io/v2``).

Every document is built from the registry (``KINDS`` and ``VIRTUAL_RESOURCES``): a new kind or
subresource there is discovered with no change here. The builders are pure; ``add_routes``
wires them to aiohttp and picks the form from the ``Accept`` header as the Kubernetes API server
does: aggregated when a ``g=apidiscovery.k8s.io;as=APIGroupDiscoveryList`` JSON type is
acceptable, the legacy APIVersions / APIGroupList otherwise, 406 when nothing is.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from haplane.api.media import JSON_RANGES, media_ranges
from haplane.errors import NotAcceptable, NotFound
from haplane.model.registry import KINDS, VIRTUAL_RESOURCES, KindInfo, VirtualResource

__all__ = [
    "KUBERNETES_VERSION", "Resource", "served_resources", "group_versions", "groups", "version_info",
    "api_versions", "api_group", "api_group_list", "api_resource_list", "aggregated_list", "negotiate",
    "add_routes",
]

# The Kubernetes API version haplane speaks: kubectl warns when its minor differs by more than one.
KUBERNETES_VERSION = "1.37.0"
AGGREGATED_GROUP = "apidiscovery.k8s.io"
AGGREGATED_VERSIONS = ("v2", "v2beta1")  # newest first; client-go 1.37 asks for v2 only

Resource = KindInfo | VirtualResource


# --- what is served -------------------------------------------------------------------------

def served_resources() -> list[Resource]:
    """Every served resource, stored kinds first, in registry order."""
    return [*KINDS.values(), *VIRTUAL_RESOURCES]


def group_versions() -> list[str]:
    """Served group-versions ("v1", "apps/v1", ...) in first-seen order, the core group first."""
    seen: dict[str, None] = {"v1": None} if any(not r.group for r in served_resources()) else {}
    for res in served_resources():
        seen.setdefault(res.api_version, None)
    return list(seen)


def groups() -> dict[str, list[str]]:
    """Named group -> its served versions (newest first as registered); the core group excluded."""
    out: dict[str, list[str]] = {}
    for gv in group_versions():
        group, _, version = gv.rpartition("/")
        if group:
            out.setdefault(group, []).append(version)
    return out


def _resources_of(group_version: str) -> list[Resource]:
    found = [r for r in served_resources() if r.api_version == group_version]
    if not found:
        raise NotFound(f"the server could not find the requested resource (group-version {group_version!r})")
    return found


# --- /version --------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Build:
    git_commit: str
    build_date: str


def _build() -> _Build:
    from importlib.metadata import PackageNotFoundError, version
    try:
        commit = f"haplane-{version('haplane')}"
    except PackageNotFoundError:
        commit = "haplane-unknown"
    mtime = os.path.getmtime(os.path.join(os.path.dirname(__file__), "..", "__init__.py"))
    return _Build(commit, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(mtime)))


def version_info() -> dict[str, Any]:
    """A version.Info: the Kubernetes version haplane answers as (``v1.37.0+haplane``)."""
    major, minor, _ = KUBERNETES_VERSION.split(".")
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    build = _build()
    return {
        "major": major, "minor": minor, "emulationMajor": major, "emulationMinor": minor,
        "minCompatibilityMajor": major, "minCompatibilityMinor": str(int(minor) - 1),
        "gitVersion": f"v{KUBERNETES_VERSION}+haplane", "gitCommit": build.git_commit, "gitTreeState": "clean",
        "buildDate": build.build_date, "goVersion": f"python{platform.python_version()}",
        "compiler": platform.python_implementation().lower(), "platform": f"{sys.platform}/{machine}",
    }


# --- legacy discovery ------------------------------------------------------------------------

def api_versions(server_address: str) -> dict[str, Any]:
    """``/api``: the core group's versions (APIVersions)."""
    versions = [gv for gv in group_versions() if "/" not in gv]
    return {"kind": "APIVersions", "apiVersion": "v1", "versions": versions,
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def api_group(name: str) -> dict[str, Any]:
    """``/apis/{group}``: one named group (APIGroup); NotFound for a group not served."""
    versions = groups().get(name)
    if versions is None:
        raise NotFound(f"the server could not find the requested resource (group {name!r})")
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": entries, "preferredVersion": entries[0]}


def api_group_list() -> dict[str, Any]:
    """``/apis``: every named group (APIGroupList)."""
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [{k: v for k, v in api_group(g).items() if k not in ("kind", "apiVersion")} for g in groups()]}


def _api_resources(res: Resource) -> Iterable[dict[str, Any]]:
    entry: dict[str, Any] = {"name": res.plural, "singularName": res.singular_name, "namespaced": res.namespaced,
                             "kind": res.kind, "verbs": sorted(res.verbs)}
    if res.short_names:
        entry["shortNames"] = list(res.short_names)
    if res.categories:
        entry["categories"] = list(res.categories)
    yield entry
    for sub in res.subresources:
        item: dict[str, Any] = {"name": f"{res.plural}/{sub.name}", "singularName": "", "namespaced": res.namespaced}
        if sub.api_version and sub.api_version != res.api_version:
            group, _, version = sub.api_version.rpartition("/")
            item.update(group=group, version=version)
        item.update(kind=sub.kind or res.kind, verbs=sorted(sub.verbs))
        yield item


def api_resource_list(group_version: str) -> dict[str, Any]:
    """``/api/v1``, ``/apis/apps/v1``...: the resources of one group-version (APIResourceList)."""
    resources = [item for res in _resources_of(group_version) for item in _api_resources(res)]
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}


# --- aggregated discovery (apidiscovery.k8s.io) ----------------------------------------------

def _gvk(api_version: str, kind: str) -> dict[str, str]:
    group, _, version = api_version.rpartition("/")
    return {"group": group, "version": version, "kind": kind}


def _discovery_resource(res: Resource) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": res.plural, "responseKind": _gvk(res.api_version, res.kind),
        "scope": "Namespaced" if res.namespaced else "Cluster", "singularResource": res.singular_name,
        "verbs": sorted(res.verbs),
    }
    if res.short_names:
        entry["shortNames"] = list(res.short_names)
    if res.categories:
        entry["categories"] = list(res.categories)
    if res.subresources:
        entry["subresources"] = [
            {"subresource": sub.name, "responseKind": _gvk(sub.api_version or res.api_version, sub.kind or res.kind),
             "verbs": sorted(sub.verbs)} for sub in res.subresources]
    return entry


def aggregated_list(core: bool, version: str = "v2") -> dict[str, Any]:
    """APIGroupDiscoveryList: the core group for ``/api`` (``core``), the named groups for ``/apis``."""
    items = []
    names = [""] if core else list(groups())
    for name in names:
        versions = [gv for gv in group_versions() if gv.rpartition("/")[0] == name]
        if not versions:
            continue
        metadata: dict[str, Any] = {"creationTimestamp": None}
        if name:
            metadata["name"] = name
        items.append({"metadata": metadata, "versions": [
            {"version": gv.rpartition("/")[2], "resources": [_discovery_resource(r) for r in _resources_of(gv)],
             "freshness": "Current"} for gv in versions]})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": f"{AGGREGATED_GROUP}/{version}", "metadata": {},
            "items": items}


def aggregated_media_type(version: str) -> str:
    return f"application/json;g={AGGREGATED_GROUP};v={version};as=APIGroupDiscoveryList"


def negotiate(accept: str | None) -> str | None:
    """The aggregated version ("v2", "v2beta1") to answer an ``Accept`` header with, "" for the
    legacy JSON document, or None when nothing acceptable is offered (406).

    Types are taken in the order given (client-go lists its preference first); ``q`` is ignored.
    """
    if not accept or not accept.strip():
        return ""
    legacy = False
    for mtype, params in media_ranges(accept):
        if mtype == "application/json" and params.get("g") == AGGREGATED_GROUP:
            if params.get("as") == "APIGroupDiscoveryList" and params.get("v") in AGGREGATED_VERSIONS:
                return params["v"]
            continue
        if mtype in JSON_RANGES and not params:
            legacy = True
    return "" if legacy else None


# --- routes ----------------------------------------------------------------------------------

def _json(obj: Any, content_type: str = "application/json") -> web.Response:
    return web.Response(body=orjson.dumps(obj), headers={"Content-Type": content_type, "Vary": "Accept"})


def _discovery_root(request: web.Request, core: bool) -> web.Response:
    form = negotiate(request.headers.get("Accept"))
    if form is None:
        raise NotAcceptable(f"none of the media types in Accept {request.headers.get('Accept')!r} is served here; "
                            f"use application/json or {aggregated_media_type(AGGREGATED_VERSIONS[0])}")
    if form:
        return _json(aggregated_list(core, form), aggregated_media_type(form))
    return _json(api_versions(request.host) if core else api_group_list())


def add_routes(app: web.Application) -> None:
    """Register the discovery endpoints (before any catch-all route). Any authenticated user may
    read them, as in Kubernetes (system:discovery)."""

    async def version(request: web.Request) -> web.Response:
        return _json(version_info())

    async def core_root(request: web.Request) -> web.Response:
        return _discovery_root(request, core=True)

    async def groups_root(request: web.Request) -> web.Response:
        return _discovery_root(request, core=False)

    async def core_version(request: web.Request) -> web.Response:
        return _json(api_resource_list(request.match_info["version"]))

    async def group(request: web.Request) -> web.Response:
        return _json(api_group(request.match_info["group"]))

    async def group_version(request: web.Request) -> web.Response:
        return _json(api_resource_list(f"{request.match_info['group']}/{request.match_info['version']}"))

    for path, handler in (("/version", version), ("/api", core_root), ("/apis", groups_root),
                          ("/api/{version}", core_version), ("/apis/{group}", group),
                          ("/apis/{group}/{version}", group_version)):
        app.router.add_get(path, handler)
        app.router.add_get(path + "/", handler)
    # aiohttp looks up the longest static prefix first, so ``/apis/apps/v1/`` would reach the
    # resource route ``/apis/apps/v1/{tail}``: each served group-version gets its own static route.
    for gv in group_versions():
        path = f"/apis/{gv}/" if "/" in gv else f"/api/{gv}/"

        async def static(request: web.Request, gv: str = gv) -> web.Response:
            return _json(api_resource_list(gv))
        app.router.add_get(path, static)
