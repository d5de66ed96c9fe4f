"""haplane-agent's options: a clear error for every value that cannot work, and ``--ca``
verifying the replicas on every call the agent makes to the API (a real HTTPS listener on
loopback, certificates from ``haplane certs``)."""

from __future__ import annotations

import argparse
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from haplane import certs, errors
from haplane.client import Client
from haplane.tls import ServerTLS
from node_agent.agent import api_ssl, build_parser, check_args, log_server_ssl, main
from node_agent.logserver import TokenChecker
from tests.systemd_units import unit_argv

TOKEN = "node-token-0123456789abcdef"


def agent_args(servers: str, *extra: str) -> argparse.Namespace:
    return build_parser().parse_args(["--name", "n1", "--address", "127.0.0.1", "--servers", servers,
                                      "--token-file", "/nonexistent/token", *extra])


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("pki")
    mine = certs.generate(str(d / "mine"), ["127.0.0.1", "localhost"])
    other = certs.generate(str(d / "other"), ["127.0.0.1"])
    garbage = d / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    empty = d / "empty.pem"
    empty.write_text("")
    return {"ca": Path(mine.ca), "cert": Path(mine.cert), "key": Path(mine.key), "other_ca": Path(other.ca),
            "garbage": garbage, "empty": empty, "dir": d}


@pytest.mark.parametrize(("servers", "ca", "message"), [
    pytest.param(" , ", None, "--servers needs at least one API URL", id="no-servers"),
    pytest.param("http://127.0.0.1:7001,127.0.0.1:7002", "ca", "--servers has none", id="ca-without-https"),
    pytest.param("https://127.0.0.1:7001", "/nonexistent/ca.pem", "cannot load a CA certificate from "
                 "/nonexistent/ca.pem", id="ca-missing"),
    pytest.param("https://127.0.0.1:7001", "dir", "cannot load a CA certificate", id="ca-is-a-directory"),
    pytest.param("https://127.0.0.1:7001", "garbage", "cannot load a CA certificate", id="ca-not-pem"),
    pytest.param("https://127.0.0.1:7001", "empty", "cannot load a CA certificate", id="ca-empty-file"),
    pytest.param("https://127.0.0.1:7001", "key", "cannot load a CA certificate", id="ca-is-a-private-key"),
    pytest.param("https://127.0.0.1:7001", "", "--ca needs the path of a PEM file", id="ca-empty-path"),
])
def test_bad_options_are_clear_errors(pki: dict[str, Path], servers: str, ca: str | None, message: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    extra = [] if ca is None else ["--ca", str(pki.get(ca, ca))]
    with pytest.raises(ValueError) as exc_info:
        check_args(agent_args(servers, *extra))
    assert message in str(exc_info.value)
    # the process says so and exits 2 before touching the network or the token file
    assert main(["--name", "n1", "--address", "127.0.0.1", "--servers", servers,
                 "--token-file", "/nonexistent/token", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("haplane-agent: ") and message in err, err


@pytest.mark.parametrize("servers", [
    pytest.param("https://127.0.0.1:7001,https://127.0.0.1:7002", id="https"),
    pytest.param("https://10.0.0.11:7001,http://127.0.0.1:7002", id="mixed"),
])
def test_a_loadable_ca_with_https_servers_is_accepted(pki: dict[str, Path], servers: str) -> None:
    args = agent_args(servers, "--ca", str(pki["ca"]))
    check_args(args)
    assert args.ca == str(pki["ca"])


@pytest.mark.parametrize(("extra", "message"), [
    pytest.param(["--tls-cert", "cert"], "--tls-cert and --tls-key go together", id="cert-without-key"),
    pytest.param(["--tls-key", "key"], "--tls-cert and --tls-key go together", id="key-without-cert"),
    pytest.param(["--tls-cert", "", "--tls-key", "key"], "--tls-cert and --tls-key go together", id="empty-cert"),
    pytest.param(["--tls-cert", "garbage", "--tls-key", "key"], "cannot load a certificate and key", id="cert-not-pem"),
    pytest.param(["--tls-cert", "cert", "--tls-key", "ca"], "cannot load a certificate and key", id="key-is-a-cert"),
    pytest.param(["--tls-cert", "/nonexistent/c.pem", "--tls-key", "key"], "cannot load a certificate and key",
                 id="cert-missing"),
    pytest.param(["--log-address", " "], "--log-address needs an address", id="empty-log-address"),
])
def test_bad_log_server_options_are_clear_errors(pki: dict[str, Path], extra: list[str], message: str) -> None:
    argv = [str(pki[a]) if a in pki else a for a in extra]
    with pytest.raises(ValueError, match=message):
        check_args(agent_args("http://127.0.0.1:7001", *argv))
    assert main(["--name", "n1", "--address", "127.0.0.1", "--servers", "http://127.0.0.1:7001",
                 "--token-file", "/nonexistent/token", *argv]) == 2


def test_a_serving_certificate_makes_an_https_log_server(pki: dict[str, Path]) -> None:
    args = agent_args("http://127.0.0.1:7001", "--tls-cert", str(pki["cert"]), "--tls-key", str(pki["key"]))
    check_args(args)
    ctx = log_server_ssl(args.tls_cert, args.tls_key)
    assert ctx is not None and ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert log_server_ssl(None, None) is None


def test_without_ca_nothing_changes() -> None:
    args = agent_args("http://127.0.0.1:7001")
    check_args(args)
    assert args.ca is None and api_ssl(None) is None


@pytest.fixture
async def https_api(pki: dict[str, Path]) -> AsyncIterator[str]:
    """A stand-in for a replica's /cluster/self over HTTPS (the certificate names 127.0.0.1)."""
    async def whoami(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"kind": "Status", "status": "Failure", "reason": "Unauthorized",
                                      "message": "invalid bearer token", "code": 401}, status=401)
        return web.json_response({"name": "r1", "user": "node"})

    app = web.Application()
    app.router.add_get("/cluster/self", whoami)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0,
                       ssl_context=ServerTLS(str(pki["cert"]), str(pki["key"])).server_context())
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_ca_verifies_the_api_for_the_client_and_the_log_servers_token_checks(
        pki: dict[str, Path], https_api: str) -> None:
    tls = api_ssl(str(pki["ca"]))
    assert tls is not None
    async with Client([https_api], TOKEN, ssl=tls, timeout=5.0, max_attempts=1) as c:
        assert (await c.request("GET", "/cluster/self"))["user"] == "node"
    await TokenChecker([https_api], ssl=tls).check(f"Bearer {TOKEN}")
    with pytest.raises(errors.Unauthorized):  # the API answered over TLS and refused the token
        await TokenChecker([https_api], ssl=tls).check("Bearer wrong-token-0123456789")


@pytest.mark.parametrize("ca", [pytest.param(None, id="system-store"), pytest.param("other_ca", id="other-ca")])
async def test_a_replica_the_ca_does_not_vouch_for_is_refused(pki: dict[str, Path], https_api: str,
                                                             ca: str | None) -> None:
    tls = api_ssl(str(pki[ca])) if ca else None
    async with Client([https_api], TOKEN, ssl=tls, timeout=5.0, max_attempts=1) as c:
        with pytest.raises(errors.Unavailable, match="(?i)certificate verify failed"):
            await c.request("GET", "/cluster/self")
    with pytest.raises(errors.Unavailable, match="cannot check the token with the API"):
        await TokenChecker([https_api], ssl=tls, timeout=5.0).check(f"Bearer {TOKEN}")


def test_the_systemd_unit_passes_options_the_agent_takes(pki: dict[str, Path]) -> None:
    systemd = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
    argv = unit_argv(systemd / "haplane-agent.service", systemd / "agent.env.example")
    assert argv[0] == "/opt/haplane/bin/haplane-agent"
    args = build_parser().parse_args(argv[1:])
    assert args.ca == "/etc/haplane/ca.pem" and args.runtime == "docker"
    assert (args.tls_cert, args.tls_key) == ("/etc/haplane/agent.pem", "/etc/haplane/agent-key.pem")
    assert all(e.startswith("https://") for e in args.servers.split(","))
    # the unit's paths exist only on a worker
    args.ca, args.tls_cert, args.tls_key = str(pki["ca"]), str(pki["cert"]), str(pki["key"])
    check_args(args)


@pytest.mark.parametrize(("extra", "env", "expected"), [
    pytest.param([], None, 5.0, id="default"),
    pytest.param([], "1", 1.0, id="from-the-environment"),
    pytest.param(["--stats-period", "2.5"], "1", 2.5, id="the-option-wins"),
    pytest.param(["--stats-period", "0"], None, "between 0.1 and 3600", id="zero"),
    pytest.param([], "soon", "must be a number of seconds", id="env-not-a-number"),
])
def test_stats_period(monkeypatch: pytest.MonkeyPatch, extra: list[str], env: str | None,
                      expected: float | str) -> None:
    from node_agent.agent import stats_period

    if env is None:
        monkeypatch.delenv("HAPLANE_STATS_PERIOD", raising=False)
    else:
        monkeypatch.setenv("HAPLANE_STATS_PERIOD", env)
    args = agent_args("http://127.0.0.1:7001", *extra)
    if isinstance(expected, float):
        assert stats_period(args) == expected
        check_args(args)
    else:
        with pytest.raises(ValueError, match=expected):
            check_args(args)
