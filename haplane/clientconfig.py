"""Where a client finds its cluster: endpoints, token and CA.

The file is JSON::

    {"endpoints": ["http://127.0.0.1:7001", "http://127.0.0.1:7002"], "token": "...", "ca": null,
     "loadBalancer": "https://127.0.0.1:7000"}

It is looked up, first match wins, at: an explicit path, ``$HAPLANE_CONFIG``,
``./.haplane/client.json``, ``~/.haplane/client.json``. ``ca`` (a PEM file) and
``tokenFile`` may be given relative to the config file's directory; ``tokenFile`` is read
when ``token`` is absent. ``loadBalancer`` (optional) is the URL of an API load balancer in
front of the endpoints (:mod:`haplane.apilb`); ``haplane kubeconfig`` points kubectl at it.
haplane's own client does not use it: it fails over between the endpoints itself. Nothing here
touches the network.
"""

from __future__ import annotations

import json
import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from haplane.errors import HaplaneError

ENV_CONFIG = "HAPLANE_CONFIG"


class ConfigError(HaplaneError):
    """The client configuration is missing or malformed (a local error: nothing was sent)."""

    code, reason = 400, "ConfigError"


@dataclass
class ClientConfig:
    endpoints: list[str]
    token: str | None = None
    ca: str | None = None
    path: str | None = field(default=None, compare=False)
    load_balancer: str | None = None

    def ssl_context(self) -> ssl.SSLContext | None:
        """An SSL context trusting ``ca`` or None (system defaults / plain http)."""
        if not self.ca:
            return None
        try:
            return ssl.create_default_context(cafile=self.ca)
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(f"cannot load CA file {self.ca}: {e}") from e


def candidate_paths(path: str | None = None) -> list[Path]:
    """The paths tried, in order (an explicit path, when given, is the only candidate)."""
    if path:
        return [Path(path).expanduser()]
    out: list[Path] = []
    env = os.environ.get(ENV_CONFIG)
    if env:
        out.append(Path(env).expanduser())
    out.append(Path.cwd() / ".haplane" / "client.json")
    out.append(Path.home() / ".haplane" / "client.json")
    return out


def find_config(path: str | None = None) -> Path | None:
    """The first existing candidate, or None."""
    for p in candidate_paths(path):
        if p.is_file():
            return p
    return None


def normalize_endpoint(ep: str) -> str:
    """``host:port`` → ``http://host:port``; strips a trailing slash."""
    ep = ep.strip().rstrip("/")
    if "://" not in ep:
        ep = "http://" + ep
    return ep


def parse_config(data: object, *, base_dir: Path | None = None, source: str = "<config>") -> ClientConfig:
    """Validate a decoded config document. Raises ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a JSON object")
    eps = data.get("endpoints")
    if isinstance(eps, str):
        eps = [e for e in eps.split(",") if e.strip()]
    if not isinstance(eps, list) or not eps or not all(isinstance(e, str) and e.strip() for e in eps):
        raise ConfigError(f"{source}: 'endpoints' must be a non-empty list of URLs")
    token = data.get("token")
    if token is not None and not isinstance(token, str):
        raise ConfigError(f"{source}: 'token' must be a string")
    token_file = data.get("tokenFile")
    if not token and isinstance(token_file, str) and token_file:
        tf = Path(token_file).expanduser()
        if base_dir is not None and not tf.is_absolute():
            tf = base_dir / tf
        try:
            token = tf.read_text().strip()
        except OSError as e:
            raise ConfigError(f"{source}: cannot read tokenFile {tf}: {e}") from e
    ca = data.get("ca")
    if ca is not None and not isinstance(ca, str):
        raise ConfigError(f"{source}: 'ca' must be a path or null")
    if ca:
        cp = Path(ca).expanduser()
        if base_dir is not None and not cp.is_absolute():
            cp = base_dir / cp
        ca = str(cp)
    lb = data.get("loadBalancer")
    if lb is not None and not (isinstance(lb, str) and lb.strip()):
        raise ConfigError(f"{source}: 'loadBalancer' must be a URL or null")
    return ClientConfig(endpoints=[normalize_endpoint(e) for e in eps], token=token or None, ca=ca or None,
                        path=source, load_balancer=normalize_endpoint(lb) if lb else None)


def load_config(path: str | None = None) -> ClientConfig:
    """Find and load the client config. Raises ConfigError naming every path tried."""
    found = find_config(path)
    if found is None:
        tried = ", ".join(str(p) for p in candidate_paths(path))
        raise ConfigError(
            f"no client config found (tried: {tried}); pass --server URL, set ${ENV_CONFIG}, "
            "or start a cluster with `haplane up`")
    try:
        data = json.loads(found.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read client config {found}: {e}") from e
    return parse_config(data, base_dir=found.parent, source=str(found))
