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

    async def check(self, header: str | None) -> None:
        if header != GOOD:
            raise errors.Unauthorized("invalid bearer token")


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
