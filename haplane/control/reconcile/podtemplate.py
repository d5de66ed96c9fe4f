"""Pod templates: their stable hash, and the pods a ReplicaSet stamps from its template.

Pure and deterministic. The hash is Kubernetes' ``pod-template-hash``: the Deployment
controller names each ReplicaSet ``<deployment>-<hash>`` and puts the hash into the
ReplicaSet's selector, template labels and labels, so pods of different templates never
match each other's ReplicaSets.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
from collections.abc import Callable, Mapping
from typing import Any

from haplane.clock import rfc3339

__all__ = [
    "HASH_LABEL", "REVISION_ANNOTATION", "template_hash", "pod_from_template", "pod_name", "random_suffixes",
    "controller_ref", "semantic", "same_template",
]

HASH_LABEL = "pod-template-hash"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
# Kubernetes' SafeEncodeString alphabet: no vowels (no words), no look-alikes (0/o, 1/l, 3/e).
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def _encode(number: int, length: int) -> str:
    out = []
    for _ in range(length):
        number, digit = divmod(number, len(_ALPHABET))
        out.append(_ALPHABET[digit])
    return "".join(out)


def semantic(value: Any) -> Any:
    """``value`` with every empty or null member of an object removed, recursively: what
    Kubernetes' semantic equality ignores (an absent ``resources`` and ``resources: {}`` are the
    same template — kubectl's rollback sends the latter for the former)."""
    if isinstance(value, Mapping):
        out = {}
        for key, sub in value.items():
            sub = semantic(sub)
            if sub is not None and sub != {} and sub != []:
                out[key] = sub
        return out
    if isinstance(value, list):
        return [semantic(item) for item in value]
    return value


def same_template(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Equal as Kubernetes compares pod templates (see :func:`semantic`)."""
    return semantic(a) == semantic(b)


def template_hash(template: Mapping[str, Any], collision_count: int | None = None) -> str:
    """10 DNS-label-safe characters (~47 bits) of the SHA-256 of the template's canonical JSON.

    Stable across processes and Python versions: keys sorted, no whitespace, empty members
    dropped (:func:`semantic`), so two templates that are semantically equal hash the same
    whatever their key order. ``collision_count`` (the Deployment's ``status.collisionCount``)
    is mixed in, as Kubernetes does, so that a name already taken by a foreign ReplicaSet can
    be avoided.
    """
    canonical = json.dumps(semantic(template), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if collision_count:
        canonical += f"#{collision_count}"
    return _encode(int.from_bytes(hashlib.sha256(canonical.encode()).digest()[:8], "big"), 10)


def pod_name(owner_name: str, suffix: str) -> str:
    return f"{owner_name}-{suffix}"


def random_suffixes(rng: random.Random, length: int = 5) -> Callable[[int], list[str]]:
    """A ``new_names`` source for the ReplicaSet reconcile: ``n -> n`` random suffixes."""
    return lambda n: [_encode(rng.getrandbits(64), length) for _ in range(n)]


def controller_ref(owner: Mapping[str, Any]) -> dict[str, Any]:
    """The controller ownerReference a dependent of ``owner`` carries (``blockOwnerDeletion``)."""
    meta = owner.get("metadata") or {}
    return {"apiVersion": owner.get("apiVersion") or "apps/v1", "kind": owner.get("kind", ""),
            "name": meta.get("name", ""), "uid": meta.get("uid", ""), "controller": True,
            "blockOwnerDeletion": True}


def pod_from_template(owner: Mapping[str, Any], name_suffix: str, now: float, uid: str | None = None) -> dict[str, Any]:
    """A new Pod of ``owner``'s ``spec.template`` (a ReplicaSet; deep-copied, the input is not touched).

    Name ``<owner>-<suffix>``; labels and annotations = the template's; a controller
    ownerReference to the owner; ``creationTimestamp`` from ``now``; ``uid`` only when given
    (else the caller assigns one); ``status.phase`` Pending.
    """
    meta = owner.get("metadata") or {}
    template = (owner.get("spec") or {}).get("template") or {}
    tmeta = template.get("metadata") or {}
    pod_meta: dict[str, Any] = {
        "name": pod_name(meta.get("name", ""), name_suffix),
        "namespace": meta.get("namespace") or "default",
        "creationTimestamp": rfc3339(now),
        "labels": dict(tmeta.get("labels") or {}),
        "ownerReferences": [controller_ref(owner)],
    }
    if tmeta.get("annotations"):
        pod_meta["annotations"] = dict(tmeta["annotations"])
    if uid is not None:
        pod_meta["uid"] = uid
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta,
            "spec": copy.deepcopy(dict(template.get("spec") or {})), "status": {"phase": "Pending"}}
