"""Bearer-token authentication and the three roles.

The tokens file has one token per line, ``TOKEN,USER,ROLE`` (like Kubernetes' static token
file); blank lines and ``#`` comments are ignored. Roles:

* ``admin``  — everything.
* ``node``   — what a node agent needs: read everything; write Nodes, pod status, Events.
* ``viewer`` — reads and watches only.

Tokens are compared in constant time. /healthz and /readyz need no token.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from haplane.errors import Forbidden, Unauthorized

ROLES = ("admin", "node", "viewer")
READ_METHODS = frozenset({"GET", "HEAD"})
# (kind, subresource) pairs a node may write; "" = the object itself.
CONNECT_SUBRESOURCES = frozenset({("Pod", "exec"), ("Pod", "attach"), ("Pod", "portforward")})
NODE_WRITES = frozenset({("Node", ""), ("Node", "status"), ("Pod", "status"), ("Event", "")})


@dataclass(frozen=True)
class User:
    name: str
    role: str


class TokenAuth:
    def __init__(self, tokens: dict[str, User]) -> None:
        self._tokens = tokens

    @classmethod
    def from_file(cls, path: str) -> TokenAuth:
        with open(path, encoding="utf-8") as f:
            return cls.parse(f.read(), source=path)

    @classmethod
    def parse(cls, text: str, source: str = "tokens") -> TokenAuth:
        tokens: dict[str, User] = {}
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = [p.strip() for p in line.split(",")]
            if len(parts) != 3 or not all(parts) or parts[2] not in ROLES:
                raise ValueError(f"{source}:{lineno}: expected TOKEN,USER,ROLE with ROLE in {ROLES}")
            if len(parts[0]) < 16:
                raise ValueError(f"{source}:{lineno}: token too short (16 characters at least)")
            tokens[parts[0]] = User(parts[1], parts[2])
        if not tokens:
            raise ValueError(f"{source}: no tokens")
        return cls(tokens)

    def authenticate(self, header: str | None) -> User:
        """The user behind an ``Authorization`` header; raises Unauthorized."""
        if not header or not header.startswith("Bearer "):
            raise Unauthorized("missing bearer token")
        presented = header[len("Bearer "):].strip().encode()
        found: User | None = None
        for token, user in self._tokens.items():
            if hmac.compare_digest(token.encode(), presented):
                found = user
        if found is None:
            raise Unauthorized("invalid bearer token")
        return found


def authorize(user: User, method: str, kind: str | None, sub: str = "") -> None:
    """Raise Forbidden unless ``user`` may do ``method`` on ``kind``/``sub`` (None: a non-resource path).
    A stream into a pod (exec, attach, port-forward) is Kubernetes' ``create`` on that subresource,
    whatever the HTTP method of its upgrade: admin only."""
    if user.role == "admin":
        return
    if kind is not None and (kind, sub) in CONNECT_SUBRESOURCES:
        raise Forbidden(f'User "{user.name}" (role {user.role}) cannot create resource "pods/{sub}"')
    if method in READ_METHODS:
        return
    if user.role == "node" and kind is not None and (kind, sub) in NODE_WRITES:
        return
    what = f"{kind}/{sub}" if sub else (kind or "this path")
    raise Forbidden(f'user "{user.name}" (role {user.role}) cannot {method} {what}')
