"""TLS for the HTTP API: the replica's server options and the SSL contexts built from them.

* ``haplane server --tls-cert F --tls-key F`` serves HTTPS only (TLS 1.2 or newer); the
  certificate must name every address clients and peers use for this replica (its
  ``--advertise-url`` host, and e.g. 127.0.0.1 for local tools).
* ``--tls-ca F`` is the CA bundle this replica trusts when it calls *other* replicas (member
  status, forwarding leader-only requests, membership pre-flight checks). Without it the
  system trust store is used, which will not know a private CA.
* Clients trust a CA through the ``ca`` field of the client config
  (:mod:`haplane.clientconfig`); node agents take ``--ca``.

Certificates are read once at start-up; to rotate them, restart the replica (one at a time).
There is no client-certificate authentication: clients authenticate with bearer tokens.
"""

from __future__ import annotations

import argparse
import ssl
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ServerTLS:
    """Where a replica's certificate, key and peer CA live (PEM files)."""

    cert: str
    key: str
    ca: str | None = None

    def server_context(self) -> ssl.SSLContext:
        """The context the HTTPS listener uses. Raises OSError / ssl.SSLError on bad files."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.cert, self.key)
        return ctx

    def peer_context(self) -> ssl.SSLContext:
        """The context for requests to other replicas: verifies them against ``ca``."""
        ctx = ssl.create_default_context(cafile=self.ca) if self.ca else ssl.create_default_context()
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx


def add_server_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS with this certificate (chain) ...")
    p.add_argument("--tls-key", metavar="PEM", help="... and this private key")
    p.add_argument("--tls-ca", metavar="PEM",
                   help="CA bundle trusted for requests to other replicas (default: the system store)")


def server_tls_from_args(args: argparse.Namespace) -> ServerTLS | None:
    """The TLS options of ``haplane server``, checked: both files or neither, and loadable."""
    cert, key, ca = getattr(args, "tls_cert", None), getattr(args, "tls_key", None), getattr(args, "tls_ca", None)
    if not cert and not key:
        if ca:
            raise SystemExit("haplane server: --tls-ca needs --tls-cert and --tls-key")
        return None
    if not (cert and key):
        raise SystemExit("haplane server: --tls-cert and --tls-key go together")
    tls = ServerTLS(cert, key, ca)
    try:
        tls.server_context()
        tls.peer_context()
    except (OSError, ssl.SSLError) as exc:
        raise SystemExit(f"haplane server: cannot load TLS files: {exc}") from None
    return tls


def ca_context(ca: str | None) -> ssl.SSLContext | None:
    """A client context that verifies servers against the CA bundle ``ca`` (TLS >= 1.2); None
    without one (https then uses the system store). Raises ValueError on a file that cannot be
    loaded."""
    if ca is None:
        return None
    try:
        ctx = ssl.create_default_context(cafile=ca)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot load a CA certificate from {ca}: {exc}") from None
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def peer_ssl(extra: dict[str, Any]) -> ssl.SSLContext | bool:
    """The ``ssl`` argument for a replica's requests to its peers (``Replica.extra["peer_ssl"]``)."""
    ctx = extra.get("peer_ssl")
    return ctx if isinstance(ctx, ssl.SSLContext) else True
