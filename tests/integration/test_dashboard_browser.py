"""The dashboard in a real browser (Debian's headless chromium through chromedriver) against a
real 3-replica cluster with two hollow nodes: sign in, see the three replicas and the leader;
SIGKILL the leader — the replica the page came from — and the page, without a reload, fails over
to another replica and shows the new leader within 5 s; scale a Deployment and see its pods
appear; delete a pod and see it go. A chaos report in the data dir is listed with its verdict."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable
from typing import Any

import pytest

from haplane.client import Client
from haplane.localcluster import LocalCluster
from tests.integration.browser import chromium, replica_roles, shown_leader, shown_pods, sign_in, wait_for
from tests.integration.conftest import running_cluster

pytestmark = pytest.mark.integration

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "main", "image": "busybox:local",
                                                   "command": ["sleep", "3600"]}]}}}}
LEADER_SHOWN_WITHIN = 5.0  # the dashboard's promise: a new leader is on screen this soon after a SIGKILL


def call(lc: LocalCluster, fn: Any) -> Any:
    async def go() -> Any:
        async with Client(lc.endpoints, lc.admin_token, timeout=10.0) as c:
            result: Awaitable[Any] = fn(c)
            return await result
    return asyncio.run(go())


def web_pods(driver: Any) -> set[str]:
    return {p for p in shown_pods(driver) if p.startswith("default/web-")}


def test_dashboard_live_failover_scale_delete(tmp_path) -> None:  # noqa: ANN001
    with running_cluster(tmp_path, agents=2, runtime="hollow") as lc, chromium() as driver:
        leader = lc.wait_ready(timeout=30)
        call(lc, lambda c: c.create(DEPLOYMENT))

        report = lc.path("reports", "kill-leader")  # as `haplane chaos run --report` lays one out
        os.makedirs(report)
        with open(os.path.join(report, "summary.json"), "w", encoding="utf-8") as f:
            json.dump({"ok": False, "scenarios": [{"scenario": "kill-leader", "ok": False, "wall_s": 30.0,
                                                   "verdicts": [{"name": "linearizable", "ok": False}]}]}, f)

        sign_in(driver, f"{lc.members[leader].url}/ui/", lc.admin_token)
        wait_for(driver, lambda d: len(replica_roles(d)) == 3 and shown_leader(d) == leader, 15,
                 f"3 replica rows with {leader} marked leader")
        assert set(replica_roles(driver)) == {"r1", "r2", "r3"}
        assert sorted(replica_roles(driver).values()) == ["follower", "follower", "leader"]
        wait_for(driver, lambda d: len(web_pods(d)) == 1, 20, "the Deployment's one pod")
        wait_for(driver, lambda d: d.execute_script("return document.querySelectorAll('#node-rows tr[data-node]')"
                                                    ".length") == 2, 10, "the two nodes")
        wait_for(driver, lambda d: d.execute_script(
            "const tr = document.querySelector(\"#report-rows tr[data-report-row='kill-leader']\");"
            "return tr && tr.querySelector('.badge.bad')?.textContent") == "failed", 10, "the chaos report's verdict")
        driver.execute_script("window.__notReloaded = true")

        lc.kill(leader)
        killed_at = time.monotonic()
        wait_for(driver, lambda d: shown_leader(d) not in (None, leader), LEADER_SHOWN_WITHIN,
                 f"a new leader on screen within {LEADER_SHOWN_WITHIN}s of SIGKILL of {leader}")
        shown_after = time.monotonic() - killed_at
        new_leader = lc.wait_ready(timeout=15, not_leader=leader)
        wait_for(driver, lambda d: shown_leader(d) == new_leader, 5, f"{new_leader} (the cluster's leader) shown")
        assert driver.execute_script("return window.__notReloaded === true"), "the page was reloaded"
        assert replica_roles(driver)[leader] == "unreachable"
        conn = driver.find_element("id", "conn-text").text
        assert conn.startswith("live from ") and not conn.startswith(f"live from {leader} "), conn
        print(f"new leader {new_leader} shown {shown_after:.2f}s after SIGKILL of {leader}")

        before = web_pods(driver)
        call(lc, lambda c: c.scale("Deployment", "web", 3))
        wait_for(driver, lambda d: len(web_pods(d)) == 3, 20, "three pods after scaling to 3")
        assert before < web_pods(driver)

        victim = sorted(web_pods(driver))[0]
        call(lc, lambda c: c.delete("Pod", victim.split("/", 1)[1], "default"))
        wait_for(driver, lambda d: victim not in web_pods(d), 20, f"{victim} gone after its deletion")
        wait_for(driver, lambda d: len(web_pods(d)) == 3, 20, "its replacement")
