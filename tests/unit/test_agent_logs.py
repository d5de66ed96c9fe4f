"""The log path: the agent's log server (token check, lookups, tail) on loopback, the CLI's
request building, and the once-per-kind error log every agent loop uses."""

from __future__ import annotations

import argparse
import logging

import aiohttp
import pytest

from haplane import errors
from haplane.cli import UsageError, logs_request
from node_agent.errlog import OnceLogger, error_kind
from node_agent.logserver import LogServer, TokenChecker
from node_agent.runtime.base import ContainerState
from node_agent.runtime.hollow import HollowRuntime

GOOD = "Bearer good-token-0123456789"


class FakeChecker(TokenChecker):
    def __init__(self) -> None:
        super().__init__(["http://127.0.0.1:1"])

    async def check(self, header: str | None, *, admin: bool = False) -> str:
        if header != GOOD:
            raise errors.Unauthorized("invalid bearer token")
        return "admin"


@pytest.fixture
async def server():
    rt = HollowRuntime("n1")
    cid = await rt.start({"metadata": {"uid": "u1", "name": "web", "namespace": "shop"}}, {"name": "main"},
                         epoch=0, host_ip="127.0.0.1")

    def lookup(ns: str, pod: str, container: str) -> tuple[HollowRuntime, ContainerState] | None:
        if (ns, pod, container) == ("shop", "web", "main"):
            return rt, rt.containers[cid]
        return None

    srv = LogServer("127.0.0.1", 0, lookup, FakeChecker())
    port = await srv.start()
    async with aiohttp.ClientSession() as session:
        yield session, f"http://127.0.0.1:{port}", cid
    await srv.close()


async def test_logs_need_a_token_the_api_accepts(server) -> None:
    session, base, _ = server
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}):
        async with session.get(f"{base}/logs/shop/web/main", headers=headers) as r:
            assert r.status == 401
            assert (await r.json())["reason"] == "Unauthorized"


async def test_logs_of_a_container_and_a_clear_404(server) -> None:
    session, base, cid = server
    async with session.get(f"{base}/logs/shop/web/main", headers={"Authorization": GOOD}) as r:
        assert r.status == 200
        assert cid in await r.text()
    async with session.get(f"{base}/logs/shop/nope/main", headers={"Authorization": GOOD}) as r:
        assert r.status == 404
        assert "not on this node" in (await r.json())["message"]
    async with session.get(f"{base}/logs/shop/web/main?tailLines=x", headers={"Authorization": GOOD}) as r:
        assert r.status == 400


@pytest.mark.parametrize(("query", "status", "message"), [
    pytest.param("previous=true", 400, 'previous terminated container "main" in pod "web" not found',
                 id="no-previous"),
    pytest.param("timestamps=true", 400, "the hollow runtime does not record when each line was written",
                 id="no-timestamps"),
    pytest.param("sinceSeconds=0", 400, "sinceSeconds: Invalid value: 0: must be greater than 0", id="bad-since"),
])
async def test_log_options_the_runtime_cannot_serve(server, query: str, status: int, message: str) -> None:
    session, base, _ = server
    async with session.get(f"{base}/logs/shop/web/main?{query}", headers={"Authorization": GOOD}) as r:
        assert r.status == status
        assert message in (await r.json())["message"]


async def test_limit_bytes_cuts_the_stream(server) -> None:
    session, base, cid = server
    async with session.get(f"{base}/logs/shop/web/main?limitBytes=7", headers={"Authorization": GOOD}) as r:
        assert await r.text() == f"hollow container {cid}"[:7]


@pytest.fixture
async def whoami_api():
    """A stand-in replica: /cluster/self names the caller's role by token."""
    from aiohttp import web
    roles = {"Bearer admin-token-0123456789": "admin", "Bearer viewer-token-012345678": "viewer"}

    async def whoami(request: web.Request) -> web.Response:
        role = roles.get(request.headers.get("Authorization", ""))
        if role is None:
            return web.json_response({"kind": "Status", "reason": "Unauthorized", "code": 401, "message": "no"},
                                     status=401)
        return web.json_response({"name": "r1", "caller": {"user": role, "role": role}})

    app = web.Application()
    app.router.add_get("/cluster/self", whoami)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    await runner.cleanup()


@pytest.mark.parametrize(("token", "admin", "outcome"), [
    pytest.param("admin-token-0123456789", True, "admin", id="admin-stream"),
    pytest.param("viewer-token-012345678", False, "viewer", id="viewer-logs"),
    pytest.param("viewer-token-012345678", True, errors.Forbidden, id="viewer-stream-forbidden"),
    pytest.param("other-token-0123456789", False, errors.Unauthorized, id="unknown-token"),
])
async def test_token_checker_roles(whoami_api: str, token: str, admin: bool, outcome: object) -> None:
    checker = TokenChecker([whoami_api], timeout=5.0)
    for _ in range(2):  # the second answer comes from the cache (refusals are asked again)
        if isinstance(outcome, str):
            assert await checker.check(f"Bearer {token}", admin=admin) == outcome
        else:
            with pytest.raises(outcome):  # type: ignore[call-overload]
                await checker.check(f"Bearer {token}", admin=admin)
    assert checker.checks == (2 if outcome is errors.Unauthorized else 1)


def _args(**kw: object) -> argparse.Namespace:
    base = {"pod": "web", "container": None, "tail": None, "follow": False, "namespace": None}
    return argparse.Namespace(**(base | kw))


@pytest.mark.parametrize(("kw", "path", "params"), [
    pytest.param({}, "/api/v1/namespaces/default/pods/web/log", {}, id="plain"),
    pytest.param({"pod": "pod/web", "namespace": "shop", "container": "side", "tail": 3, "follow": True},
                 "/api/v1/namespaces/shop/pods/web/log", {"container": "side", "tailLines": "3", "follow": "1"},
                 id="everything"),
])
def test_logs_request(kw: dict, path: str, params: dict) -> None:
    assert logs_request(_args(**kw)) == (path, params)


@pytest.mark.parametrize("kw", [{"tail": -1}, {"pod": "a/b"}, {"pod": "pod/"}])
def test_logs_request_rejects(kw: dict) -> None:
    with pytest.raises(UsageError):
        logs_request(_args(**kw))


def test_once_logger_logs_each_kind_once_per_episode(caplog: pytest.LogCaptureFixture) -> None:
    once = OnceLogger(logging.getLogger("t"))
    with caplog.at_level(logging.INFO, logger="t"):
        assert once.failed("hb", ConnectionError("refused on port 7001"))
        assert not once.failed("hb", ConnectionError("refused on port 7002")), "numbers do not make a new kind"
        assert once.failed("hb", TimeoutError("slow"))
        once.ok("hb")
        assert once.failed("hb", ConnectionError("refused on port 7001")), "a new episode logs again"
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.WARNING, logging.INFO, logging.WARNING]
    assert "recovered after 3 error(s)" in caplog.records[2].getMessage()
    assert error_kind(ValueError("x 12 y 345")) == "ValueError: x N y N"
