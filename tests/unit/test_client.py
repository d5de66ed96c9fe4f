"""The client against small fake aiohttp servers on 127.0.0.1: failover, retries with one
request id, error mapping, watch resume without duplicates, 410 Gone, config discovery."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict

from haplane import errors
from haplane.client import Client, ConnectionFailed, parse_retry_after, parse_warnings
from haplane.clientconfig import ConfigError, load_config

Handler = Callable[[web.Request, "Fake"], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDict[str]
    body: bytes


@dataclass
class Fake:
    """One fake replica: every request is recorded, then answered by ``handler``."""

    handler: Handler
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(Seen(request.method, request.path, dict(request.query), CIMultiDict(request.headers), body))
        return await self.handler(request, self)


def status(code: int, reason: str, message: str = "", headers: dict[str, str] | None = None) -> web.Response:
    doc = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason,
           "message": message or reason, "code": code}
    return web.json_response(doc, status=code, headers=headers)


def ok(doc: dict | None = None) -> web.Response:
    return web.json_response(doc if doc is not None else {"kind": "Pod", "metadata": {"name": "x"}})


@pytest.fixture
async def serve():
    servers: list[TestServer] = []

    async def start(handler: Handler) -> Fake:
        fake = Fake(handler)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", fake.dispatch)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        fake.url = f"http://127.0.0.1:{server.port}"
        return fake

    yield start
    for s in servers:
        await s.close()


@pytest.fixture
def dead_url() -> str:
    """A loopback port nothing listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
async def make_client():
    clients: list[Client] = []

    def make(endpoints: list[str], **kw: Any) -> Client:
        kw.setdefault("backoff_base", 0.001)
        kw.setdefault("backoff_max", 0.01)
        kw.setdefault("timeout", 3.0)
        kw.setdefault("connect_timeout", 1.0)
        c = Client(endpoints, "tok", **kw)
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.close()


POD_PATH = "/api/v1/namespaces/default/pods/x"


# ------------------------------------------------------------------------------ failover


async def test_dead_endpoint_fails_over_and_sticks(serve, dead_url, make_client):
    live = await serve(lambda req, f: _async(ok()))
    c = make_client([dead_url, live.url])
    assert (await c.request("GET", POD_PATH))["metadata"]["name"] == "x"
    assert c.current_endpoint == live.url
    await c.request("GET", POD_PATH)
    assert len(live.seen) == 2
    assert live.seen[0].headers["Authorization"] == "Bearer tok"


async def test_503_moves_to_next_endpoint_at_once(serve, make_client):
    busy = await serve(lambda req, f: _async(status(503, "ServiceUnavailable", "no leader",
                                                    headers={"Retry-After": "5"})))
    live = await serve(lambda req, f: _async(ok()))
    c = make_client([busy.url, live.url], backoff_max=10.0)
    t0 = time.monotonic()
    await c.request("GET", POD_PATH)
    # Another endpoint was untried: no sleep for the first one's Retry-After.
    assert time.monotonic() - t0 < 2.0
    assert (len(busy.seen), len(live.seen)) == (1, 1)
    assert c.current_endpoint == live.url


async def test_retry_after_is_a_floor_on_the_backoff(serve, make_client):
    async def handler(req: web.Request, f: Fake) -> web.Response:
        if len(f.seen) == 1:
            return status(503, "ServiceUnavailable", headers={"Retry-After": "0.3"})
        return ok()

    only = await serve(handler)
    c = make_client([only.url], backoff_base=0.001, backoff_max=5.0)
    t0 = time.monotonic()
    await c.request("GET", POD_PATH)
    assert time.monotonic() - t0 >= 0.29
    assert len(only.seen) == 2


async def test_504_on_post_is_retried_with_the_same_request_id(serve, make_client):
    async def handler(req: web.Request, f: Fake) -> web.Response:
        if len(f.seen) == 1:
            return status(504, "Timeout", "outcome unknown")
        return web.json_response({"kind": "Pod", "metadata": {"name": "p"}}, status=201)

    srv = await serve(handler)
    c = make_client([srv.url])
    out = await c.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}})
    assert out["metadata"]["name"] == "p"
    ids = [s.headers["X-Request-Id"] for s in srv.seen]
    assert len(ids) == 2 and ids[0] == ids[1]
    uuid.UUID(ids[0])
    await c.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "q"}})
    assert srv.seen[2].headers["X-Request-Id"] != ids[0], "a new logical call gets a new id"


async def test_connection_lost_after_sending_is_retried_with_the_same_id(serve, make_client):
    async def handler(req: web.Request, f: Fake) -> web.StreamResponse:
        if len(f.seen) == 1:
            assert req.transport is not None
            req.transport.close()  # the request arrived; the answer never leaves
            return web.Response()
        return ok({"kind": "Pod", "metadata": {"name": "x"}})

    srv = await serve(handler)
    c = make_client([srv.url])
    await c.patch("pod", "x", {"metadata": {"labels": {"a": "b"}}})
    assert len(srv.seen) == 2
    assert srv.seen[0].headers["X-Request-Id"] == srv.seen[1].headers["X-Request-Id"]
    assert srv.seen[0].headers["Content-Type"] == "application/merge-patch+json"


async def test_writes_that_may_have_applied_raise_outcome_unknown(serve, make_client):
    srv = await serve(lambda req, f: _async(status(504, "Timeout")))
    c = make_client([srv.url], max_attempts=3)
    with pytest.raises(errors.OutcomeUnknown) as ei:
        await c.create({"kind": "Pod", "metadata": {"name": "p"}})
    assert len(srv.seen) == 3
    assert ei.value.details["requestId"] == srv.seen[0].headers["X-Request-Id"]


async def test_non_idempotent_call_is_not_retried_after_it_may_have_applied(serve, make_client):
    srv = await serve(lambda req, f: _async(status(504, "Timeout")))
    c = make_client([srv.url])
    with pytest.raises(errors.OutcomeUnknown):
        await c.request("POST", "/api/v1/namespaces/default/pods", json={}, idempotent=False)
    assert len(srv.seen) == 1


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_all_503_raises_unavailable(serve, make_client, method):
    srv = await serve(lambda req, f: _async(status(503, "ServiceUnavailable", "no quorum")))
    c = make_client([srv.url], max_attempts=4)
    with pytest.raises(errors.Unavailable) as ei:
        await c.request(method, "/api/v1/namespaces/default/pods", json={} if method == "POST" else None)
    # A write refused with 503 every time was never applied: Unavailable, not OutcomeUnknown.
    assert not isinstance(ei.value, ConnectionFailed | errors.OutcomeUnknown)
    assert "no quorum" in ei.value.message
    assert len(srv.seen) == 4


async def test_all_endpoints_dead_raises_connection_failed(dead_url, make_client):
    c = make_client([dead_url, dead_url], max_attempts=5)
    t0 = time.monotonic()
    with pytest.raises(ConnectionFailed):
        await c.request("GET", POD_PATH)
    with pytest.raises(ConnectionFailed):  # refused before sending: a write is known not applied
        await c.request("POST", "/api/v1/namespaces/default/pods", json={})
    assert time.monotonic() - t0 < 5


async def test_every_attempt_has_a_timeout(serve, make_client):
    async def slow(req: web.Request, f: Fake) -> web.Response:
        await asyncio.sleep(5)
        return ok()

    srv = await serve(slow)
    c = make_client([srv.url], timeout=0.2, max_attempts=2)
    t0 = time.monotonic()
    with pytest.raises(errors.Unavailable):
        await c.get("pod", "x")
    assert time.monotonic() - t0 < 2.0
    assert len(srv.seen) == 2


async def test_429_retries_the_same_endpoint(serve, make_client):
    async def handler(req: web.Request, f: Fake) -> web.Response:
        return status(429, "TooManyRequests") if len(f.seen) == 1 else ok()

    a = await serve(handler)
    b = await serve(lambda req, f: _async(ok()))
    c = make_client([a.url, b.url])
    await c.get("pod", "x")
    assert (len(a.seen), len(b.seen)) == (2, 0)


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("code", "body", "exc"),
    [
        pytest.param(404, {"reason": "NotFound"}, errors.NotFound, id="not-found"),
        pytest.param(409, {"reason": "AlreadyExists"}, errors.AlreadyExists, id="already-exists"),
        pytest.param(409, {"reason": "Conflict"}, errors.Conflict, id="conflict"),
        pytest.param(422, {"reason": "Invalid"}, errors.Invalid, id="invalid"),
        pytest.param(410, {"reason": "Gone"}, errors.Gone, id="gone"),
        pytest.param(401, {"reason": "Unauthorized"}, errors.Unauthorized, id="unauthorized"),
        pytest.param(403, {"reason": "Forbidden"}, errors.Forbidden, id="forbidden"),
        pytest.param(404, "<html>nope</html>", errors.NotFound, id="non-status-404"),
        pytest.param(500, "boom", errors.HaplaneError, id="non-status-500"),
    ],
)
async def test_error_responses_raise_their_class(serve, make_client, code, body, exc):
    async def handler(req: web.Request, f: Fake) -> web.Response:
        if isinstance(body, dict):
            return status(code, body["reason"], "the message")
        return web.Response(status=code, text=body)

    srv = await serve(handler)
    c = make_client([srv.url])
    with pytest.raises(exc) as ei:
        await c.get("pod", "x")
    assert type(ei.value) is exc
    assert ei.value.code == code
    assert len(srv.seen) == 1, "a definite error is not retried"
    if isinstance(body, dict):
        assert ei.value.message == "the message"


async def test_server_warnings_reach_the_callback(serve, make_client):
    async def handler(req: web.Request, f: Fake) -> web.Response:
        resp = ok()
        resp.headers.add("Warning", '299 - "unknown field "spec.foo""')
        resp.headers.add("Warning", '299 - "second"')
        return resp

    srv = await serve(handler)
    got: list[str] = []
    c = make_client([srv.url], on_warning=got.append)
    await c.get("pod", "x")
    assert got == ['unknown field "spec.foo"', "second"]


@pytest.mark.parametrize(
    ("values", "want"),
    [
        pytest.param(['299 - "a"'], ["a"], id="plain"),
        pytest.param(['299 haplane "say \\"hi\\""'], ['say "hi"'], id="escaped"),
        pytest.param(["not a warning"], ["not a warning"], id="raw"),
    ],
)
def test_parse_warnings(values, want):
    assert parse_warnings(values) == want


@pytest.mark.parametrize(
    ("value", "want"),
    [pytest.param(None, 0.0, id="absent"), pytest.param("2", 2.0, id="seconds"),
     pytest.param("junk", 0.0, id="junk"), pytest.param("-3", 0.0, id="negative")],
)
def test_parse_retry_after(value, want):
    assert parse_retry_after(value) == want


# ------------------------------------------------------------------------------ paths and verbs


@pytest.mark.parametrize(
    ("args", "want"),
    [
        pytest.param(("pods", "default"), "/api/v1/namespaces/default/pods", id="pods"),
        pytest.param(("po", "shop", "web-1"), "/api/v1/namespaces/shop/pods/web-1", id="short-name"),
        pytest.param(("pods", None), "/api/v1/pods", id="all-namespaces"),
        pytest.param(("Deployment", "shop", "web", "scale"), "/apis/apps/v1/namespaces/shop/deployments/web/scale",
                     id="apps-scale"),
        pytest.param(("node", "default", "n1"), "/api/v1/nodes/n1", id="cluster-scoped-ignores-ns"),
        pytest.param(("namespaces", None, "shop"), "/api/v1/namespaces/shop", id="namespace"),
    ],
)
def test_path_for(args, want):
    assert Client(["http://x"]).path_for(*args) == want


def test_path_for_unknown_kind():
    with pytest.raises(errors.NotFound):
        Client(["http://x"]).path_for("gizmos", "default")


async def test_verbs_use_kubernetes_paths_and_bodies(serve, make_client):
    srv = await serve(lambda req, f: _async(ok({"kind": "X", "metadata": {}})))
    c = make_client([srv.url])
    await c.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}})
    await c.update({"kind": "ConfigMap", "metadata": {"name": "cm", "resourceVersion": "7"}})
    await c.update_status({"kind": "Pod", "metadata": {"name": "p", "namespace": "ns1"}})
    await c.delete("pod", "p", "ns1", uid="u1", resource_version="9")
    await c.delete("node", "n1")
    await c.scale("deployment", "web", 4, "shop")
    await c.patch("pod", "p", [{"op": "add", "path": "/metadata/labels/a", "value": "b"}], "ns1")
    await c.list("pods", None, label_selector="app=web", field_selector="spec.nodeName=n1", stale=True)
    await c.get("pod", "p", "ns1", stale=True)
    got = [(s.method, s.path) for s in srv.seen]
    assert got == [
        ("POST", "/apis/apps/v1/namespaces/shop/deployments"),
        ("PUT", "/api/v1/namespaces/default/configmaps/cm"),
        ("PUT", "/api/v1/namespaces/ns1/pods/p/status"),
        ("DELETE", "/api/v1/namespaces/ns1/pods/p"),
        ("DELETE", "/api/v1/nodes/n1"),
        ("PUT", "/apis/apps/v1/namespaces/shop/deployments/web/scale"),
        ("PATCH", "/api/v1/namespaces/ns1/pods/p"),
        ("GET", "/api/v1/pods"),
        ("GET", "/api/v1/namespaces/ns1/pods/p"),
    ]
    assert json.loads(srv.seen[3].body)["preconditions"] == {"uid": "u1", "resourceVersion": "9"}
    assert srv.seen[4].body == b""
    assert json.loads(srv.seen[5].body)["spec"] == {"replicas": 4}
    assert srv.seen[6].headers["Content-Type"] == "application/json-patch+json"
    assert srv.seen[7].query == {"labelSelector": "app=web", "fieldSelector": "spec.nodeName=n1", "stale": "1"}
    assert all("X-Request-Id" in s.headers for s in srv.seen if s.method != "GET")
    assert all("X-Request-Id" not in s.headers for s in srv.seen if s.method == "GET")


# ------------------------------------------------------------------------------ watch


def _line(etype: str, rv: int | str, name: str = "p") -> bytes:
    obj = {"kind": "Pod", "metadata": {"name": name, "resourceVersion": str(rv)}}
    return (json.dumps({"type": etype, "object": obj}) + "\n").encode()


async def _stream(req: web.Request, chunks: list[bytes], *, drop: bool = True, hold: float = 0.0) -> web.StreamResponse:
    """Send ``chunks``; then cut the connection mid-stream (``drop``) or end it cleanly."""
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(req)
    for ch in chunks:
        await resp.write(ch)
    if hold:
        await asyncio.sleep(hold)
    if drop:
        assert req.transport is not None
        req.transport.close()
        return resp
    await resp.write_eof()
    return resp


async def _take(agen: Any, n: int, timeout: float = 5.0) -> list[dict]:
    out: list[dict] = []

    async def run() -> None:
        async for ev in agen:
            out.append(ev)
            if len(out) == n:
                return

    try:
        await asyncio.wait_for(run(), timeout)
    finally:
        await agen.aclose()
    return out


def _rvs(events: list[dict]) -> list[str]:
    return [e["object"]["metadata"]["resourceVersion"] for e in events]


async def test_watch_resumes_elsewhere_from_the_last_rv_without_duplicates(serve, make_client):
    async def first(req: web.Request, f: Fake) -> web.StreamResponse:
        if len(f.seen) == 1:  # two events and half a line, then the connection drops
            return await _stream(req, [_line("ADDED", 6), _line("MODIFIED", 7), b'{"type":"MODI'])
        return status(503, "ServiceUnavailable", "lost quorum")

    async def second(req: web.Request, f: Fake) -> web.StreamResponse:
        # Replays 7 (already delivered) before the new ones: the client must drop it.
        return await _stream(req, [_line("MODIFIED", 7), _line("MODIFIED", 8), _line("DELETED", 9)], hold=5)

    a = await serve(first)
    b = await serve(second)
    c = make_client([a.url, b.url])
    events = await _take(c.watch("pods", "default", resource_version="5", label_selector="app=web"), 4)
    assert _rvs(events) == ["6", "7", "8", "9"]
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "MODIFIED", "DELETED"]
    assert a.seen[0].query == {"watch": "1", "resourceVersion": "5", "labelSelector": "app=web",
                               "allowWatchBookmarks": "1"}
    assert a.seen[1].query["resourceVersion"] == "7"
    assert b.seen[0].query["resourceVersion"] == "7"
    assert b.seen[0].query["labelSelector"] == "app=web"


async def test_watch_bookmark_advances_the_resume_point(serve, make_client):
    async def handler(req: web.Request, f: Fake) -> web.StreamResponse:
        if len(f.seen) == 1:
            return await _stream(req, [_line("ADDED", 3), _line("BOOKMARK", 10)])
        return await _stream(req, [_line("ADDED", 11)], hold=5)

    srv = await serve(handler)
    c = make_client([srv.url])
    events = await _take(c.watch("pods", "default", resource_version="2"), 3)
    assert [(e["type"], r) for e, r in zip(events, _rvs(events), strict=True)] == [
        ("ADDED", "3"), ("BOOKMARK", "10"), ("ADDED", "11")]
    assert srv.seen[1].query["resourceVersion"] == "10"


@pytest.mark.parametrize("start", [pytest.param(None, id="no-rv"), pytest.param("0", id="rv-0")])
async def test_watch_initial_events_pass_through_in_server_order(serve, make_client, start):
    # A watch from "any" starts with ADDED for existing objects, in any rv order.
    async def handler(req: web.Request, f: Fake) -> web.StreamResponse:
        if len(f.seen) == 1:
            return await _stream(req, [_line("ADDED", 5, "a"), _line("ADDED", 3, "b"), _line("ADDED", 6, "c")])
        return await _stream(req, [_line("ADDED", 6, "c"), _line("MODIFIED", 7, "b")], hold=5)

    srv = await serve(handler)
    c = make_client([srv.url])
    events = await _take(c.watch("pods", resource_version=start), 4)
    assert [(e["object"]["metadata"]["name"], r) for e, r in zip(events, _rvs(events), strict=True)] == [
        ("a", "5"), ("b", "3"), ("c", "6"), ("b", "7")]
    assert srv.seen[0].query.get("resourceVersion") == start
    assert srv.seen[1].query["resourceVersion"] == "6"


@pytest.mark.parametrize("as_event", [pytest.param(True, id="error-event"), pytest.param(False, id="http-410")])
async def test_watch_410_raises_gone(serve, make_client, as_event):
    gone = {"kind": "Status", "status": "Failure", "reason": "Gone", "message": "too old resource version",
            "code": 410}

    async def handler(req: web.Request, f: Fake) -> web.StreamResponse:
        if as_event:
            return await _stream(req, [_line("ADDED", 4), (json.dumps({"type": "ERROR", "object": gone}) + "\n").encode()],
                                 drop=False)
        return web.json_response(gone, status=410)

    srv = await serve(handler)
    c = make_client([srv.url])
    seen: list[dict] = []
    with pytest.raises(errors.Gone):
        async for ev in c.watch("pods", resource_version="1"):
            seen.append(ev)
    assert _rvs(seen) == (["4"] if as_event else [])
    assert len(srv.seen) == 1


async def test_watch_error_503_event_reconnects(serve, make_client):
    unavailable = {"kind": "Status", "status": "Failure", "reason": "ServiceUnavailable", "message": "x", "code": 503}

    async def handler(req: web.Request, f: Fake) -> web.StreamResponse:
        if len(f.seen) == 1:
            return await _stream(req, [_line("ADDED", 4), (json.dumps({"type": "ERROR", "object": unavailable}) + "\n").encode()],
                                 drop=False)
        return await _stream(req, [_line("ADDED", 5)], hold=5)

    srv = await serve(handler)
    c = make_client([srv.url])
    events = await _take(c.watch("pods", resource_version="1"), 2)
    assert _rvs(events) == ["4", "5"]
    assert srv.seen[1].query["resourceVersion"] == "4"


async def test_watch_idle_stream_reconnects(serve, make_client):
    async def handler(req: web.Request, f: Fake) -> web.StreamResponse:
        if len(f.seen) == 1:
            return await _stream(req, [], hold=5)  # silent: headers, then nothing
        return await _stream(req, [_line("ADDED", 8)], hold=5)

    srv = await serve(handler)
    c = make_client([srv.url], watch_idle_timeout=0.3)
    events = await _take(c.watch("pods", resource_version="7"), 1)
    assert _rvs(events) == ["8"]
    assert srv.seen[1].query["resourceVersion"] == "7"


async def test_watch_gives_up_when_no_endpoint_answers(dead_url, make_client):
    c = make_client([dead_url], max_attempts=3)
    with pytest.raises(ConnectionFailed):
        async for _ in c.watch("pods", resource_version="1"):
            pass


# ------------------------------------------------------------------------------ config


def _write(path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))


def test_config_discovery_order(tmp_path, monkeypatch):
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("HAPLANE_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="no client config found"):
        load_config()
    _write(home / ".haplane" / "client.json", {"endpoints": ["127.0.0.1:1"], "token": "h"})
    assert load_config().token == "h"
    _write(cwd / ".haplane" / "client.json", {"endpoints": ["http://127.0.0.1:2/"], "token": "c", "ca": None})
    cfg = load_config()
    assert (cfg.token, cfg.endpoints) == ("c", ["http://127.0.0.1:2"])
    _write(tmp_path / "env.json", {"endpoints": ["http://127.0.0.1:3"], "token": "e"})
    monkeypatch.setenv("HAPLANE_CONFIG", str(tmp_path / "env.json"))
    assert load_config().token == "e"
    _write(tmp_path / "explicit.json", {"endpoints": ["http://127.0.0.1:4"]})
    assert load_config(str(tmp_path / "explicit.json")).endpoints == ["http://127.0.0.1:4"]
    c = Client.from_config(str(tmp_path / "explicit.json"))
    assert c.endpoints == ["http://127.0.0.1:4"] and c.token is None


@pytest.mark.parametrize(
    "doc",
    [pytest.param({}, id="no-endpoints"), pytest.param({"endpoints": []}, id="empty"),
     pytest.param({"endpoints": ["http://x"], "token": 3}, id="bad-token"), pytest.param([], id="not-object")],
)
def test_bad_config_is_a_config_error(tmp_path, doc):
    p = tmp_path / "c.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(ConfigError):
        load_config(str(p))


async def _async(value: Any) -> Any:
    return value


async def test_local_address_is_the_source_of_every_connection(serve, make_client):
    """A node agent talks to the API from its node address (the chaos harness cuts it off there)."""
    fake = await serve(lambda req, f: _async(ok({"kind": "Pod", "metadata": {"name": str(req.remote)}})))
    bound = make_client([fake.url], local_address="127.0.0.7")
    assert (await bound.request("GET", POD_PATH))["metadata"]["name"] == "127.0.0.7"
    default = make_client([fake.url])
    assert (await default.request("GET", POD_PATH))["metadata"]["name"] == "127.0.0.1"
