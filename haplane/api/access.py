"""``kubectl auth can-i`` and ``kubectl auth whoami``: the review resources, answered from the
rule table of :mod:`haplane.api.auth` (the same one every request is checked against).

* ``POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`` — may I do this? (``can-i``)
* ``POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews`` — what may I do? (``can-i --list``)
* ``POST /apis/authentication.k8s.io/v1/selfsubjectreviews`` — who am I? (``whoami``)

They are created, never stored (as in Kubernetes): the answer is the request with its
``status`` filled in, 201. Discovery lists them from ``registry.VIRTUAL_RESOURCES``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from haplane.api.auth import Attributes, Rule, User, allowed, check, rules_of
from haplane.api.body import read_json
from haplane.api.resources import respond
from haplane.errors import BadRequest, Invalid, MethodNotAllowed
from haplane.model.registry import VIRTUAL_RESOURCES, VirtualResource


def _virtual(plural: str) -> VirtualResource:
    return next(r for r in VIRTUAL_RESOURCES if r.plural == plural)


SSAR = _virtual("selfsubjectaccessreviews")
SSRR = _virtual("selfsubjectrulesreviews")
SSR = _virtual("selfsubjectreviews")


def _path(resource: VirtualResource) -> str:
    return f"/apis/{resource.api_version}/{resource.plural}"


_RESOURCE_FIELDS = ("namespace", "verb", "group", "version", "resource", "subresource", "name")


def _strings(obj: Any, fields: tuple[str, ...], where: str) -> dict[str, str]:
    if not isinstance(obj, dict):
        raise Invalid(f"{where} must be an object", details=_causes(where, "must be an object"))
    out: dict[str, str] = {}
    for f in fields:
        value = obj.get(f, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise Invalid(f"{where}.{f} must be a string", details=_causes(f"{where}.{f}", "must be a string"))
        out[f] = value
    return out


def _causes(field: str, message: str) -> dict[str, Any]:
    return {"causes": [{"reason": "FieldValueInvalid", "message": message, "field": field}]}


def review_attributes(spec: Any) -> Attributes:
    """The attributes a SelfSubjectAccessReview's ``spec`` asks about. Raises Invalid."""
    if not isinstance(spec, dict):
        raise Invalid("spec must be an object", details=_causes("spec", "must be an object"))
    res, non = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if (res is None) == (non is None):
        raise Invalid("exactly one of nonResourceAttributes or resourceAttributes must be specified",
                      details=_causes("spec.resourceAttributes",
                                      "exactly one of nonResourceAttributes or resourceAttributes must be specified"))
    if res is not None:
        r = _strings(res, _RESOURCE_FIELDS, "spec.resourceAttributes")
        return Attributes(verb=r["verb"], resource=r["resource"], group=r["group"], subresource=r["subresource"],
                          namespace=r["namespace"], name=r["name"])
    n = _strings(non, ("path", "verb"), "spec.nonResourceAttributes")
    return Attributes(verb=n["verb"], path=n["path"] or "/")


def rules_status(rules: tuple[Rule, ...]) -> dict[str, Any]:
    """A SelfSubjectRulesReview's status: the rule table's rows for one role."""
    resource_rules, non_resource_rules = [], []
    for rule in rules:
        if rule.resources:
            resource_rules.append({"verbs": sorted(rule.verbs), "apiGroups": sorted(rule.groups),
                                   "resources": sorted(rule.resources)})
        if rule.paths:
            non_resource_rules.append({"verbs": sorted(rule.verbs), "nonResourceURLs": sorted(rule.paths)})
    return {"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": False}


def _review(body: Any, resource: VirtualResource) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    kind, api_version = body.get("kind"), body.get("apiVersion")
    if kind not in (None, resource.kind) or api_version not in (None, resource.api_version):
        raise BadRequest(f"expected a {resource.kind} ({resource.api_version}), not {kind} ({api_version})")
    # A review is never stored: its answer carries no metadata of the request's (Kubernetes
    # answers an empty ObjectMeta too), so nothing unvalidated is echoed back.
    return {"kind": resource.kind, "apiVersion": resource.api_version, "metadata": {},
            "spec": body.get("spec") or {}}


def add_routes(app: web.Application, user_key: str) -> None:
    """Register the review routes; ``user_key`` is where the auth middleware leaves the user."""

    async def access_review(request: web.Request) -> web.Response:
        user: User = request[user_key]
        _may_create(user, SSAR)
        review = _review(await read_json(request), SSAR)
        ok = allowed(user, review_attributes(review["spec"]))
        review["status"] = {"allowed": True, "reason": f'allowed by haplane role "{user.role}"'} if ok \
            else {"allowed": False}
        return respond(review, 201)

    async def rules_review(request: web.Request) -> web.Response:
        user: User = request[user_key]
        _may_create(user, SSRR)
        review = _review(await read_json(request), SSRR)
        spec = review["spec"]
        if not isinstance(spec, dict) or not isinstance(spec.get("namespace", ""), str):
            raise Invalid("spec.namespace must be a string", details=_causes("spec.namespace", "must be a string"))
        review["status"] = rules_status(rules_of(user))
        return respond(review, 201)

    async def self_review(request: web.Request) -> web.Response:
        user: User = request[user_key]
        _may_create(user, SSR)
        review = _review(await read_json(request, required=False) or {}, SSR)
        review.pop("spec", None)
        review["status"] = {"userInfo": {"username": user.name, "groups": user.groups}}
        return respond(review, 201)

    def create_only(resource: VirtualResource, handler: Any) -> Any:
        async def route(request: web.Request) -> web.Response:
            if request.method != "POST":
                raise MethodNotAllowed(f"{resource.plural} can only be created (POST), not {request.method}")
            return await handler(request)
        return route

    for resource, handler in ((SSAR, access_review), (SSRR, rules_review), (SSR, self_review)):
        app.router.add_route("*", _path(resource), create_only(resource, handler))


def _may_create(user: User, resource: VirtualResource) -> None:
    check(user, Attributes(verb="create", resource=resource.plural, group=resource.group))
