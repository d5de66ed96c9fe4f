"""The dashboard's routes (haplane.api.ui) on the real app (make_app) over real HTTP, with a real
state machine and watch hub behind it and a stand-in for the Raft node: the static files are
public, every data call needs a token, the stream carries the objects then their changes then
the status, reports are listed from disk, and only members' origins get CORS answers."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from haplane.api.app import Replica, make_app
from haplane.api.auth import TokenAuth
from haplane.store import commands as c
from haplane.store.fsm import StateMachine
from haplane.store.store import Store
from haplane.store.watch import WatchHub

ADMIN, VIEWER = "a" * 24, "v" * 24
MEMBER_ORIGIN = "http://127.0.0.1:9"  # a member's API URL (nothing listens there)


class StandInRaft:
    """What the status handlers read of a RaftNode."""

    self_addr = "127.0.0.1:8101"
    leader = "127.0.0.1:8101"
    is_leader = True
    ready = True
    term = 7

    def status(self) -> dict[str, Any]:
        return {"raft": self.self_addr, "role": "leader", "term": self.term, "commitIndex": 42, "appliedIndex": 42,
                "leader": self.leader, "hasQuorum": True, "logLength": 1, "peersConnected": {}, "journal": {}}

    def members(self) -> list[str]:
        return [self.self_addr]

    def learners(self) -> dict[str, dict[str, Any]]:
        return {}


def pod(name: str, phase: str = "Pending") -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default", "uid": f"u-{name}"},
            "spec": {"containers": [{"name": "main", "image": "busybox"}]}, "status": {"phase": phase}}


def apply(fsm: StateMachine, *ops: dict) -> None:
    fsm.apply_entry(c.encode_entry(list(ops)))


@dataclass
class Served:
    base: str
    fsm: StateMachine
    hub: WatchHub
    raft: StandInRaft


@pytest.fixture
async def served(tmp_path) -> AsyncIterator[Served]:  # noqa: ANN001
    fsm = StateMachine()
    hub = WatchHub(fsm, asyncio.get_running_loop())
    apply(fsm, c.create("Namespace", "", {"metadata": {"name": "default", "uid": "ns"}}),
          c.create("Member", "", {"apiVersion": "haplane/v1", "kind": "Member", "metadata": {"name": "r1", "uid": "m1"},
                                  "spec": {"raft": StandInRaft.self_addr, "http": "http://127.0.0.1:8001"}}),
          c.create("Member", "", {"apiVersion": "haplane/v1", "kind": "Member", "metadata": {"name": "r2", "uid": "m2"},
                                  "spec": {"raft": "127.0.0.1:8102", "http": MEMBER_ORIGIN}}),
          c.create("Pod", "default", pod("p1")))
    auth = TokenAuth.parse(f"{ADMIN},admin,admin\n{VIEWER},viewer,viewer\n")
    raft = StandInRaft()
    replica = Replica(name="r1", http_url="http://127.0.0.1:8001", raft=raft,  # type: ignore[arg-type]
                      store=Store(fsm, None, hub), auth=auth,  # type: ignore[arg-type]
                      extra={"chaos_reports_dir": str(tmp_path / "reports"), "heartbeats": None})
    async with TestServer(make_app(replica)) as server:
        yield Served(str(server.make_url("")).rstrip("/"), fsm, hub, raft)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_assets_are_public_and_typed(served) -> None:  # noqa: ANN001
    base = served.base
    async with aiohttp.ClientSession() as s:
        for path, ctype, needle in (("/ui/", "text/html", b'id="login-form"'), ("/ui/app.js", "text/javascript", b"/cluster/dashboard/stream"),
                                    ("/ui/style.css", "text/css", b".topbar")):
            async with s.get(base + path) as r:
                assert r.status == 200, path
                assert r.content_type == ctype
                assert needle in await r.read()
        async with s.get(base + "/ui", allow_redirects=False) as r:
            assert r.status == 302 and r.headers["Location"] == "/ui/"
        for path in ("/ui/nope.js", "/ui/..%2Fapp.py", "/ui/index.py", "/ui/.hidden.js"):
            async with s.get(base + path) as r:
                assert r.status == 404, path
                assert (await r.json())["kind"] == "Status"


async def test_data_calls_need_a_token(served) -> None:  # noqa: ANN001
    base = served.base
    async with aiohttp.ClientSession() as s:
        for path in ("/cluster/dashboard/stream", "/cluster/dashboard/reports", "/cluster/dashboard/reports/x"):
            async with s.get(base + path) as r:
                assert r.status == 401, path
                assert (await r.json())["reason"] == "Unauthorized"
            async with s.get(base + path, headers=bearer("w" * 24)) as r:
                assert r.status == 401, path


async def read_until(resp: aiohttp.ClientResponse, pred: Any, timeout: float = 5.0) -> list[dict]:
    """Lines of the stream up to and including the first one ``pred`` accepts."""
    out: list[dict] = []
    async with asyncio.timeout(timeout):
        while True:
            raw = await resp.content.readline()
            assert raw, f"stream ended after {out}"
            out.append(json.loads(raw))
            if pred(out[-1]):
                return out


async def test_stream_sends_objects_then_changes_then_status(served) -> None:  # noqa: ANN001
    base, fsm = served.base, served.fsm
    async with aiohttp.ClientSession() as s, s.get(base + "/cluster/dashboard/stream", headers=bearer(VIEWER)) as r:
        assert r.status == 200
        first = await read_until(r, lambda ev: ev["type"] == "SYNCED" and ev["kind"] == "Event")
        synced = [ev["kind"] for ev in first if ev["type"] == "SYNCED"]
        assert synced == ["Node", "Pod", "Deployment", "Service", "Endpoints", "Event"]
        added = [(ev["kind"], ev["object"]["metadata"]["name"]) for ev in first if ev["type"] == "ADDED"]
        assert added == [("Pod", "p1")]
        status = (await read_until(r, lambda ev: ev["type"] == "STATUS"))[-1]["object"]
        assert status["leader"] == "r1"
        by_name = {m["name"]: m for m in status["members"]}
        assert by_name["r1"]["role"] == "leader" and by_name["r1"]["term"] == 7 and by_name["r1"]["commitIndex"] == 42
        assert by_name["r2"]["role"] == "unreachable"  # nothing listens at its URL
        assert "journal" not in by_name["r1"]  # cut to what the page shows

        apply(fsm, c.create("Pod", "default", pod("p2")))
        ev = (await read_until(r, lambda ev: ev["type"] != "STATUS"))[-1]
        assert (ev["type"], ev["kind"], ev["object"]["metadata"]["name"]) == ("ADDED", "Pod", "p2")
        apply(fsm, c.delete("Pod", "default", "p1"))
        ev = (await read_until(r, lambda ev: ev["type"] != "STATUS"))[-1]
        assert (ev["type"], ev["kind"], ev["object"]["metadata"]["name"]) == ("DELETED", "Pod", "p1")
        # and the status keeps coming, about once a second
        await read_until(r, lambda ev: ev["type"] == "STATUS", timeout=3.0)


async def test_stream_ends_with_an_error_when_its_watches_end(served) -> None:  # noqa: ANN001
    """A retiring replica ends every watch (WatchHub.end_all): the stream says so and ends, and the
    page reconnects elsewhere."""
    base, hub = served.base, served.hub
    async with aiohttp.ClientSession() as s, s.get(base + "/cluster/dashboard/stream", headers=bearer(ADMIN)) as r:
        await read_until(r, lambda ev: ev["type"] == "SYNCED" and ev["kind"] == "Event")
        hub.end_all("replica r1 is leaving the cluster")
        err = (await read_until(r, lambda ev: ev["type"] == "ERROR"))[-1]
        assert err["object"]["code"] == 410 and "leaving" in err["object"]["message"]
        async with asyncio.timeout(5):
            rest = await r.content.read()
        assert all(json.loads(x)["type"] in ("ERROR", "STATUS") for x in rest.splitlines() if x)


async def test_status_comes_at_once_when_the_leader_changes(served, monkeypatch) -> None:  # noqa: ANN001
    """With the periodic STATUS a minute away, a new term on this replica still sends one at once."""
    from haplane.api import ui

    monkeypatch.setattr(ui, "STATUS_EVERY", 60.0)
    async with aiohttp.ClientSession() as s, s.get(served.base + "/cluster/dashboard/stream",
                                                   headers=bearer(VIEWER)) as r:
        first = (await read_until(r, lambda ev: ev["type"] == "STATUS"))[-1]["object"]
        assert {m["name"]: m["term"] for m in first["members"]}["r1"] == 7
        served.raft.term = 8
        nxt = (await read_until(r, lambda ev: ev["type"] == "STATUS", timeout=10.0))[-1]["object"]
        assert {m["name"]: m["term"] for m in nxt["members"]}["r1"] == 8


def write_summary(path: str, doc: Any) -> None:
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "summary.json"), "w", encoding="utf-8") as f:
        f.write(doc if isinstance(doc, str) else json.dumps(doc))


async def test_reports_listed_with_verdicts(served, tmp_path) -> None:  # noqa: ANN001
    base = served.base
    root = str(tmp_path / "reports")
    write_summary(os.path.join(root, "good"), {
        "ok": True, "started": "2026-12-03T10:00:00Z", "wall_s": 61.5,
        "scenarios": [{"scenario": "leader-kill", "ok": True, "wall_s": 30.1, "error": None,
                       "verdicts": [{"name": "linearizable", "ok": True}]}]})
    with open(os.path.join(root, "good", "index.html"), "w", encoding="utf-8") as f:
        f.write("<html>the report</html>")
    write_summary(os.path.join(root, "bad"), {
        "ok": False, "scenarios": [{"scenario": "partition", "ok": False,
                                    "verdicts": [{"name": "linearizable", "ok": False}, {"name": "converged", "ok": True}]}]})
    write_summary(os.path.join(root, "broken"), "{not json")
    os.makedirs(os.path.join(root, "not-a-report"))
    async with aiohttp.ClientSession() as s:
        async with s.get(base + "/cluster/dashboard/reports", headers=bearer(VIEWER)) as r:
            assert r.status == 200
            doc = await r.json()
        got = {d["name"]: d for d in doc["items"]}
        assert set(got) == {"good", "bad", "broken"}
        assert got["good"]["ok"] is True and got["good"]["page"] is True
        assert got["good"]["scenarios"] == [{"scenario": "leader-kill", "ok": True, "wall_s": 30.1, "error": None,
                                             "failed": []}]
        assert got["bad"]["ok"] is False and got["bad"]["scenarios"][0]["failed"] == ["linearizable"]
        assert got["broken"]["ok"] is None and "unreadable" in got["broken"]["error"]
        async with s.get(base + "/cluster/dashboard/reports/good", headers=bearer(VIEWER)) as r:
            assert r.status == 200 and await r.text() == "<html>the report</html>"
        for name in ("bad", "not-a-report", "..", "%2E%2E%2Fsecret"):  # no page / not a report / outside
            async with s.get(base + f"/cluster/dashboard/reports/{name}", headers=bearer(VIEWER)) as r:
                assert r.status == 404, name


async def test_cors_only_for_member_origins(served) -> None:  # noqa: ANN001
    base = served.base
    pre = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
    async with aiohttp.ClientSession() as s:
        async with s.options(base + "/cluster/dashboard/stream", headers=dict(pre, Origin=MEMBER_ORIGIN)) as r:
            assert r.status == 204
            assert r.headers["Access-Control-Allow-Origin"] == MEMBER_ORIGIN
            assert "Authorization" in r.headers["Access-Control-Allow-Headers"]
        async with s.options(base + "/cluster/dashboard/stream", headers=dict(pre, Origin="http://evil.example")) as r:
            assert r.status == 401 and "Access-Control-Allow-Origin" not in r.headers
        async with s.get(base + "/cluster/dashboard/reports", headers=dict(bearer(VIEWER), Origin=MEMBER_ORIGIN)) as r:
            assert r.status == 200 and r.headers["Access-Control-Allow-Origin"] == MEMBER_ORIGIN
        async with s.get(base + "/api/v1/pods", headers=dict(bearer(VIEWER), Origin="http://evil.example")) as r:
            assert "Access-Control-Allow-Origin" not in r.headers


def test_assets_ship_in_the_package_and_fetch_nothing_else() -> None:
    """An installed wheel has the page (package data), and the page loads nothing from elsewhere."""
    import re
    import tomllib
    from pathlib import Path

    from haplane.api.ui import ASSET_TYPES, ASSETS

    root = Path(__file__).resolve().parents[2]
    with open(root / "pyproject.toml", "rb") as f:
        assert "ui/*" in tomllib.load(f)["tool"]["setuptools"]["package-data"]["haplane"]
    names = sorted(p.name for p in ASSETS.iterdir())
    assert {"index.html", "app.js", "style.css"} <= set(names)
    assert all(os.path.splitext(n)[1] in ASSET_TYPES for n in names), names
    for name in names:
        text = (ASSETS / name).read_text(encoding="utf-8")
        refs = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', text) + re.findall(r"url\(([^)]*)\)", text)
        assert all(r.startswith(("/ui/", "#", "data:")) for r in refs), (name, refs)
        assert not re.search(r"https?://", text), name  # no CDN, no external fetch
