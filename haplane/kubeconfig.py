"""A kubeconfig for kubectl and the official Kubernetes clients: one cluster, one user, one context.

Pure: ``render`` turns a server URL, a bearer token and the CA that verifies the server into
the YAML text kubectl reads. The CA travels inline (``certificate-authority-data``) so the file
works wherever it is copied. kubectl sends bearer tokens over HTTPS only, so ``server`` must be
an ``https://`` URL.
"""

from __future__ import annotations

import base64

import yaml


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
