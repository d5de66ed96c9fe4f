"""A kubeconfig for kubectl and the official Kubernetes clients: one cluster, one user, one context.

``render`` turns a server URL, a bearer token and the CA that verifies the server into
the YAML text kubectl reads. The CA travels inline (``certificate-authority-data``) so the file
works wherever it is copied. kubectl sends bearer tokens over HTTPS only, so ``server`` must be
an ``https://`` URL.
"""

from __future__ import annotations

import base64
import os
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from haplane.clientconfig import ClientConfig


def render(server: str, token: str, ca_pem: bytes | None, *, name: str = "haplane", user: str = "admin",
           namespace: str | None = None) -> str:
    """The kubeconfig YAML for ``server`` with ``token``; ``ca_pem`` verifies the server."""
    if not server.startswith("https://"):
        raise ValueError(f"kubectl sends tokens over https only; {server!r} is not an https URL")
    cluster: dict[str, object] = {"server": server}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    context: dict[str, object] = {"cluster": name, "user": user}
    if namespace:
        context["namespace"] = namespace
    doc = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": name, "context": context}],
        "current-context": name,
    }
    return yaml.safe_dump(doc, sort_keys=False)


def server_for(endpoints: list[str], load_balancer: str | None, server: str | None = None) -> str:
    """The URL kubectl should use: ``server`` when given, else the API load balancer where one
    runs (it survives the loss of any replica), else the first endpoint."""
    return (server or load_balancer or endpoints[0]).strip().rstrip("/")


def from_client_config(cfg: ClientConfig, server: str | None = None, **kwargs: Any) -> str:
    """The kubeconfig for the cluster a client config describes (its token and CA). Raises
    ValueError when there is no token or the server is not https."""
    if not cfg.token:
        raise ValueError("the client config has no token (add \"token\" or \"tokenFile\", or pass --token)")
    ca_pem = None
    if cfg.ca:
        try:
            with open(cfg.ca, "rb") as f:
                ca_pem = f.read()
        except OSError as exc:
            raise ValueError(f"cannot read the CA file {cfg.ca}: {exc}") from None
    return render(server_for(cfg.endpoints, cfg.load_balancer, server), cfg.token, ca_pem, **kwargs)


def write(path: str, text: str) -> None:
    """Write a kubeconfig (it holds a token: mode 0600), atomically."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
