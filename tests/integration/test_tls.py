"""TLS on real replicas: clients that trust the CA get through, the others are refused.

Certificates come from ``haplane certs generate`` (offline). The replicas also talk to each
other over HTTPS (member status, forwarding to the leader), verifying against ``--tls-ca``.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys

import aiohttp
import pytest

from haplane import errors
from haplane.client import Client
from tests.integration.elastic import REPO, ElasticCluster

pytestmark = pytest.mark.integration


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
