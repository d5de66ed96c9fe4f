"""TLS on real replicas: clients (and node agents) that trust the CA get through, the others are refused.

Certificates come from ``haplane certs generate`` (offline). The replicas also talk to each
other over HTTPS (member status, forwarding to the leader), verifying against ``--tls-ca``.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import uuid
from pathlib import Path

import aiohttp
import pytest

from haplane import errors
from haplane.client import Client
from tests.integration.elastic import REPO, ElasticCluster
from tests.integration.polling import wait_for

pytestmark = pytest.mark.integration

NODE_NET = "127.0.6"  # this module's node addresses (other modules' agents use 127.0.1.x)


def _generate(directory: str, hosts: str) -> None:
    subprocess.run([sys.executable, "-m", "haplane", "certs", "generate", "--dir", directory, "--hosts", hosts],
                   check=True, cwd=REPO, capture_output=True, timeout=60)


async def test_https_api_with_a_private_ca(tmp_path) -> None:  # noqa: ANN001
    certs = str(tmp_path / "certs")
    _generate(certs, "127.0.0.1,localhost")
    assert oct(os.stat(os.path.join(certs, "server-key.pem")).st_mode & 0o777) == "0o600"
    lc = ElasticCluster(str(tmp_path / "c"), tls_dir=certs)
    lc.start_all()
    try:
        leader = await lc.wait_leader()
        cfg = tmp_path / "client.json"
        cfg.write_text(json.dumps({"endpoints": lc.endpoints, "token": lc.admin_token, "ca": "certs/ca.pem"}))

        # The client config's CA (relative to the config file) is honoured.
        async with Client.from_config(str(cfg)) as c:
            status = await c.cluster_status()
            await c.create({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": "tls", "namespace": "default"}})
            # Peers reached each other over HTTPS: every member reports its own progress.
            assert {m["name"] for m in status["members"]} == {"r1", "r2", "r3"}
            assert all(m["role"] in ("leader", "follower") for m in status["members"]), status
            assert all(m["http"].startswith("https://") for m in status["members"])
        # A follower forwards to the leader over HTTPS.
        follower = next(n for n in ("r1", "r2", "r3") if n != leader)
        async with lc.client([follower]) as c:
            assert (await c.request("GET", "/cluster/members"))["servedBy"] == leader

        # No CA: the server's certificate is not trusted; the call fails, it does not hang.
        async with Client(lc.endpoints, lc.admin_token, max_attempts=3, backoff_base=0.01) as c:
            with pytest.raises(errors.Unavailable) as exc_info:
                await c.cluster_status()
            assert "certificate verify failed" in str(exc_info.value).lower() or "ssl" in str(exc_info.value).lower()
        # Another CA: refused as well.
        other = str(tmp_path / "other")
        _generate(other, "127.0.0.1")
        async with Client(lc.endpoints, lc.admin_token, max_attempts=3, backoff_base=0.01,
                          ssl=ssl.create_default_context(cafile=os.path.join(other, "ca.pem"))) as c:
            with pytest.raises(errors.Unavailable):
                await c.cluster_status()
        # Plain HTTP to the HTTPS port gets nothing useful.
        async with aiohttp.ClientSession() as s:
            try:
                async with s.get(f"http://{lc.members['r1'].http}/healthz",
                                 timeout=aiohttp.ClientTimeout(total=5)) as r:
                    status: int | None = r.status
            except aiohttp.ClientError:
                status = None
            assert status is None or status >= 400

        # The CLI: --ca works, no CA fails with "Unable to connect".
        rc, out, err = await lc.cli("cluster", "status")
        assert rc == 0, err
        proc = subprocess.run([sys.executable, "-m", "haplane", "--server", ",".join(lc.endpoints), "--token",
                               lc.admin_token, "--request-timeout", "2", "get", "configmaps"],
                              cwd=REPO, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1 and "Unable to connect" in proc.stderr, proc.stderr
        proc = subprocess.run([sys.executable, "-m", "haplane", "--config", str(cfg), "get", "configmaps"],
                              cwd=REPO, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and "tls" in proc.stdout, proc.stderr
    finally:
        lc.stop_all()




async def test_an_agent_with_the_ca_registers_runs_a_pod_and_serves_its_logs_over_tls(tmp_path) -> None:  # noqa: ANN001
    """``haplane-agent --ca``: the agent's client and its log server's token checks both verify
    the replicas' HTTPS certificates; an agent without the CA never gets in. The agent serves
    logs over HTTPS (``--tls-cert``), and the replicas send no token to one that does not."""
    certs = str(tmp_path / "certs")
    _generate(certs, "127.0.0.1,localhost")
    lc = ElasticCluster(str(tmp_path / "c"), tls_dir=certs, agents=1, runtime="process", node_net=NODE_NET)
    lc.start_all()
    strays: list[subprocess.Popen] = []

    def agent(name: str, *extra: str) -> Path:
        token_file = tmp_path / "node_token"
        token_file.write_text(lc.token("node"))
        log_path = tmp_path / f"{name}.log"
        with open(log_path, "wb") as log:
            strays.append(subprocess.Popen(
                [sys.executable, "-m", "node_agent.agent", "--name", name, "--address", f"{NODE_NET}.{name[1:]}",
                 "--servers", ",".join(lc.endpoints), "--token-file", str(token_file), "--runtime", "process",
                 "--state-dir", str(tmp_path / name), "--port", "0", "--no-proxy", *extra],
                cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        return log_path

    try:
        await lc.wait_leader()
        assert "--ca" in lc.members["n1"].argv and all(e.startswith("https://") for e in lc.endpoints)
        marker = uuid.uuid4().hex
        async with lc.client(timeout=5.0, max_attempts=5) as c:
            async def ready() -> bool:
                node = await c.get("Node", "n1", None)
                return any(x["type"] == "Ready" and x["status"] == "True"
                           for x in node["status"].get("conditions") or [])

            await wait_for(ready, 60, "node n1 registered over HTTPS and Ready")
            await c.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "tls-pod", "namespace": "default"},
                            "spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 2, "containers": [
                                {"name": "main", "image": "busybox:local",
                                 "command": ["sh", "-c", f"echo hello-{marker}; exec sleep 600"]}]}})

            async def running() -> dict | None:
                pod = await c.get("Pod", "tls-pod")
                return pod if (pod.get("status") or {}).get("phase") == "Running" else None

            await wait_for(running, 60, "tls-pod Running (status written by the agent over HTTPS)")

            # The replica proxies the log request to the agent's log server, which checks the
            # caller's token with the API over HTTPS: that check needs the CA as well.
            async def logged() -> bool:
                _, _, body = await c.request_raw("GET", "/api/v1/namespaces/default/pods/tls-pod/log")
                return f"hello-{marker}".encode() in body

            await wait_for(logged, 30, "the pod's log through the replica and the agent's log server")
            endpoint = (await c.get("Node", "n1"))["status"]["daemonEndpoints"]["kubeletEndpoint"]
            assert endpoint.get("Scheme") == "https", endpoint
            with pytest.raises(aiohttp.ClientError):  # the log server speaks TLS only
                async with aiohttp.ClientSession() as plain:
                    await plain.get(f"http://{NODE_NET}.1:{endpoint['Port']}/healthz",
                                    timeout=aiohttp.ClientTimeout(total=5))

            # An agent with --ca but no serving certificate registers, and the replicas refuse to
            # send it a token in clear: its pods' logs are a 503 that says how to fix it.
            plain_log = agent("n3", "--ca", os.path.join(certs, "ca.pem"))
            await wait_for(lambda: c.get("Node", "n3", None), 60, "node n3 (logs over plain HTTP) registered",
                           context=plain_log.read_text)
            await c.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "plain-pod", "namespace": "default"},
                            "spec": {"nodeName": "n3", "containers": [{"name": "main", "image": "busybox:local"}]}})
            async with lc.client(timeout=5.0, max_attempts=1) as once:
                with pytest.raises(errors.Unavailable, match="serves logs over plain HTTP"):
                    await once.request_raw("GET", "/api/v1/namespaces/default/pods/plain-pod/log")

            # Without --ca the same agent never registers, and its log says why.
            log_path = agent("n2")

            async def refused() -> bool:
                assert strays[-1].poll() is None, log_path.read_text()
                return "certificate verify failed" in log_path.read_text().lower()

            await wait_for(refused, 30, "the agent without --ca to log 'certificate verify failed'")
            with pytest.raises(errors.NotFound):
                await c.get("Node", "n2", None)
    finally:
        for stray in strays:
            if stray.poll() is None:
                stray.kill()
                stray.wait(10)
        lc.stop_all()  # agents stop with --stop-on-exit: the pod's process goes with n1
