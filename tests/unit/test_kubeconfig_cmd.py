"""``haplane kubeconfig`` offline: which server it writes (flag, the config's load balancer, the
first endpoint), the token and CA it carries, and what it refuses — nothing touches the network."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
import yaml

from haplane.cli import main
from haplane.clientconfig import ConfigError, parse_config

CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def client_config(tmp_path: Path, **extra: object) -> Path:
    (tmp_path / "ca.pem").write_bytes(CA)
    (tmp_path / "admin_token").write_text("t0ken-of-the-admin-0123\n")
    doc = {"endpoints": ["https://10.0.0.11:7001", "https://10.0.0.12:7001"], "tokenFile": "admin_token",
           "ca": "ca.pem", **extra}
    path = tmp_path / "client.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(("extra", "args", "server"), [
    pytest.param({}, [], "https://10.0.0.11:7001", id="first-endpoint"),
    pytest.param({"loadBalancer": "https://127.0.0.1:7000"}, [], "https://127.0.0.1:7000", id="load-balancer"),
    pytest.param({"loadBalancer": "https://127.0.0.1:7000"}, ["--server", "https://127.0.0.1:6443"],
                 "https://127.0.0.1:6443", id="flag-wins"),
])
def test_server_choice(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: dict, args: list[str],
                       server: str) -> None:
    cfg = client_config(tmp_path, **extra)
    assert main(["--config", str(cfg), "kubeconfig", *args]) == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    cluster = doc["clusters"][0]["cluster"]
    assert cluster["server"] == server
    assert base64.b64decode(cluster["certificate-authority-data"]) == CA
    assert doc["users"][0]["user"] == {"token": "t0ken-of-the-admin-0123"}


def test_out_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = client_config(tmp_path)
    out = tmp_path / "kube" / "config"
    assert main(["--config", str(cfg), "kubeconfig", "--out", str(out), "--namespace", "shop"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and f"export KUBECONFIG={out}" in captured.err
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert yaml.safe_load(out.read_text())["contexts"][0]["context"]["namespace"] == "shop"


def test_without_a_config_file_server_and_token_suffice(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("HAPLANE_CONFIG", raising=False)
    (tmp_path / "ca.pem").write_bytes(CA)
    assert main(["kubeconfig", "--server", "https://127.0.0.1:6443", "--token", "abc", "--ca",
                 str(tmp_path / "ca.pem")]) == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    assert doc["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"


@pytest.mark.parametrize(("extra", "args", "message"), [
    pytest.param({}, ["--server", "http://10.0.0.11:7001"], "https", id="plain-http"),
    pytest.param({}, ["--server", "10.0.0.11:7001"], "https", id="no-scheme-means-http"),
    pytest.param({"tokenFile": None}, [], "no token", id="no-token"),
    pytest.param({"ca": "missing.pem"}, [], "cannot read the CA file", id="missing-ca"),
])
def test_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: dict, args: list[str],
                 message: str) -> None:
    cfg = client_config(tmp_path, **extra)
    assert main(["--config", str(cfg), "kubeconfig", *args]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and message in captured.err


def test_load_balancer_must_be_a_url() -> None:
    with pytest.raises(ConfigError):
        parse_config({"endpoints": ["https://a:1"], "loadBalancer": 5})
    assert parse_config({"endpoints": ["https://a:1"], "loadBalancer": "https://b:2/"}).load_balancer == "https://b:2"
