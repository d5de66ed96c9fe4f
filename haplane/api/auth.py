"""Bearer-token authentication, and authorisation by role from one rule table.

The tokens file has one token per line, ``TOKEN,USER,ROLE`` (like Kubernetes' static token
file); blank lines and ``#`` comments are ignored. Tokens are compared in constant time.
/healthz, /readyz and the dashboard's static files (``/ui/``) need no token; the
dashboard's data calls (``/cluster/dashboard/*``) do, and every role may make them.

Authorisation works on Kubernetes' request attributes (:class:`Attributes`: verb, API group,
resource, subresource, namespace, name — or a non-resource path) and Kubernetes' RBAC rule
semantics (:class:`Rule`: ``*`` matches any verb / group / resource, ``pods/status`` a
subresource, ``/apis/*`` a path prefix). :data:`ROLE_RULES` is the one table: every request
is checked against it (:func:`authorize`), and ``kubectl auth can-i`` (SelfSubjectAccessReview)
and ``can-i --list`` (SelfSubjectRulesReview) are answered from it (:mod:`haplane.api.access`).

* ``admin``  — everything.
* ``node``   — what a node agent needs: read everything; write Nodes and their status, pod
  status, Events (and its heartbeats, which are ``create nodes/status``).
* ``viewer`` — reads and watches only (and the API's non-resource read paths, ``/metrics`` among them).
* every role — create SelfSubjectAccessReviews, SelfSubjectRulesReviews and SelfSubjectReviews
  (ask what it may do and who it is), as Kubernetes' ``system:basic-user`` does.

A refusal is a 403 Forbidden Status worded as Kubernetes words it
(``pods is forbidden: User "viewer" cannot create resource "pods" in API group "" in the
namespace "default"``), with ``details`` naming the resource, its group and the object.
"""

from __future__ import annotations

import functools
import hmac
from dataclasses import dataclass

from haplane.errors import Forbidden, Unauthorized

ROLES = ("admin", "node", "viewer")
READ_VERBS = frozenset({"get", "list", "watch"})
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
# HTTP method → verb for a request on one object (GET on a collection is list or watch; DELETE on
# one is delete, on a collection deletecollection).
CONNECT_SUBRESOURCES = frozenset({("Pod", "exec"), ("Pod", "attach"), ("Pod", "portforward")})
METHOD_VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete"}


@dataclass(frozen=True)
class User:
    name: str
    role: str

    @property
    def groups(self) -> list[str]:
        """Kubernetes-style groups: the role as ``haplane:ROLE``, and ``system:authenticated``."""
        return [f"haplane:{self.role}", "system:authenticated"]


@dataclass(frozen=True)
class Attributes:
    """What a request does, in Kubernetes' terms. ``path`` is set (and ``resource`` empty) for a
    non-resource request."""

    verb: str
    resource: str = ""
    group: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""

    @property
    def is_resource(self) -> bool:
        return not self.path


@dataclass(frozen=True)
class Rule:
    """One RBAC PolicyRule: resource rules (``resources`` set) or non-resource rules (``paths``)."""

    verbs: frozenset[str]
    groups: frozenset[str] = frozenset()
    resources: frozenset[str] = frozenset()
    paths: frozenset[str] = frozenset()

    def allows(self, a: Attributes) -> bool:
        if "*" not in self.verbs and a.verb not in self.verbs:
            return False
        if not a.is_resource:
            return any(p == "*" or p == a.path or (p.endswith("*") and a.path.startswith(p[:-1]))
                       for p in self.paths)
        if "*" not in self.groups and a.group not in self.groups:
            return False
        wanted = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
        return any(r == "*" or r == wanted or (a.subresource and r == f"*/{a.subresource}")
                   for r in self.resources)


def _rule(verbs: set[str] | frozenset[str], groups: set[str] | None = None, resources: set[str] | None = None,
          paths: set[str] | None = None) -> Rule:
    return Rule(frozenset(verbs), frozenset(groups or ()), frozenset(resources or ()), frozenset(paths or ()))


# The API's non-resource read paths (discovery, OpenAPI, health, the cluster's own status, the
# dashboard's stream and chaos reports):
# readable by every role. /cluster/snapshot is not among them: a snapshot holds every secret.
READ_PATHS = {"/api", "/api/*", "/apis", "/apis/*", "/version", "/version/", "/openapi/*", "/healthz",
              "/readyz", "/livez", "/cluster/self", "/cluster/status", "/cluster/members",
              "/metrics", "/cluster/dashboard/*"}
BASIC_RULES = (
    _rule({"create"}, {"authorization.k8s.io"}, {"selfsubjectaccessreviews", "selfsubjectrulesreviews"}),
    _rule({"create"}, {"authentication.k8s.io"}, {"selfsubjectreviews"}),
    _rule({"get"}, paths=READ_PATHS),
)
ROLE_RULES: dict[str, tuple[Rule, ...]] = {
    "admin": (_rule({"*"}, {"*"}, {"*"}), _rule({"*"}, paths={"*"})),
    "node": (_rule(READ_VERBS, {"*"}, {"*"}),
             _rule(WRITE_VERBS, {""}, {"nodes", "nodes/status", "pods/status", "events"}),
             *BASIC_RULES),
    "viewer": (_rule(READ_VERBS, {"*"}, {"*"}), *BASIC_RULES),
}


def allowed(user: User, a: Attributes) -> bool:
    """Whether ``user``'s role lets it do ``a`` (the one place the rule table is read)."""
    return _decision(user.role, a.verb, a.resource, a.group, a.subresource, a.path)


@functools.lru_cache(maxsize=4096)
def _decision(role: str, verb: str, resource: str, group: str, subresource: str, path: str) -> bool:
    """The rule table's answer, remembered: rules never look at the namespace or the name, and the
    table is fixed, so one decision holds for every request with these attributes (a node agent's
    status writes were spending 13% of a replica's time here on 1,000 nodes)."""
    a = Attributes(verb=verb, resource=resource, group=group, subresource=subresource, path=path)
    return any(rule.allows(a) for rule in ROLE_RULES.get(role, ()))


def rules_of(user: User) -> tuple[Rule, ...]:
    return ROLE_RULES.get(user.role, ())


def forbidden(user: User, a: Attributes) -> Forbidden:
    """The Forbidden error Kubernetes' API server gives for ``a``, word for word."""
    if not a.is_resource:
        return Forbidden(f'forbidden: User "{user.name}" cannot {a.verb} path "{a.path}"')
    resource = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    where = f'in the namespace "{a.namespace}"' if a.namespace else "at the cluster scope"
    why = f'User "{user.name}" cannot {a.verb} resource "{resource}" in API group "{a.group}" {where}'
    qualified = f"{a.resource}.{a.group}" if a.group else a.resource
    head = f'{qualified} "{a.name}" is forbidden' if a.name else f"{qualified} is forbidden"
    details: dict[str, str] = {"group": a.group, "kind": a.resource}
    if a.name:
        details["name"] = a.name
    return Forbidden(f"{head}: {why}", details=details)


def check(user: User, a: Attributes) -> None:
    """Raise Forbidden unless ``user`` may do ``a``."""
    if not allowed(user, a):
        raise forbidden(user, a)


def request_verb(method: str, *, named: bool, watch: bool = False) -> str:
    """Kubernetes' verb for an HTTP request on one object (``named``) or a collection."""
    if method in ("GET", "HEAD") and not named:
        return "watch" if watch else "list"
    if method == "DELETE" and not named:
        return "deletecollection"
    return METHOD_VERBS.get(method, method.lower())


def authorize(user: User, method: str, kind: str | None, sub: str = "", *, namespace: str | None = None,
              name: str | None = None, verb: str | None = None, path: str = "") -> None:
    """Raise Forbidden unless ``user`` may do ``method`` (or ``verb``) on ``kind``/``sub`` (a kind
    of the registry; None: the non-resource ``path``)."""
    if kind is None:  # non-resource requests use the HTTP method, lowercased, as their verb
        check(user, Attributes(verb=verb or method.lower(), path=path or "/"))
        return
    # A stream into a pod is Kubernetes' ``create`` on its subresource, whatever the HTTP method of
    # the upgrade (kubectl's WebSocket upgrade is a GET).
    v = "create" if (kind, sub) in CONNECT_SUBRESOURCES else verb or request_verb(method, named=name is not None)
    from haplane.model.registry import KINDS

    info = KINDS.get(kind)
    resource, group = (info.plural, info.group) if info is not None else (kind.lower() + "s", "")
    check(user, Attributes(verb=v, resource=resource, group=group, subresource=sub, namespace=namespace or "",
                           name=name or ""))


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
        """The user behind an ``Authorization`` header; raises Unauthorized (message
        "Unauthorized", as Kubernetes says it: kubectl then prints "You must be logged in")."""
        if not header or not header.startswith("Bearer "):
            raise Unauthorized("Unauthorized")
        presented = header[len("Bearer "):].strip().encode()
        found: User | None = None
        for token, user in self._tokens.items():
            if hmac.compare_digest(token.encode(), presented):
                found = user
        if found is None:
            raise Unauthorized("Unauthorized")
        return found
