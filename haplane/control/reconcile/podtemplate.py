"""Pod templates: their stable hash and the pods stamped from them.

Pure and deterministic. The hash plays the part of Kubernetes' ``pod-template-hash``: every pod
a Deployment creates carries it as a label, which is how the controller tells pods of the
current template from older ones without ReplicaSet objects.
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


def template_hash(template: Mapping[str, Any]) -> str:
    """10 DNS-label-safe characters (~47 bits) of the SHA-256 of the template's canonical JSON.

    Stable across processes and Python versions: keys sorted, no whitespace, so two templates
    that are equal as JSON hash the same whatever their key order.
    """
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return _encode(int.from_bytes(hashlib.sha256(canonical.encode()).digest()[:8], "big"), 10)


def pod_name(deployment_name: str, hash_: str, suffix: str) -> str:
    return f"{deployment_name}-{hash_}-{suffix}"


def random_suffixes(rng: random.Random, length: int = 5) -> Callable[[int], list[str]]:
    """A ``new_names`` source for :func:`~.deployment.reconcile`: ``n -> n`` random suffixes."""
    return lambda n: [_encode(rng.getrandbits(64), length) for _ in range(n)]


def pod_from_template(
    deployment: Mapping[str, Any], template_hash: str, name_suffix: str, now: float, uid: str | None = None,
    *, revision: int | str | None = None,
) -> dict[str, Any]:
    """A new Pod of ``deployment``'s ``spec.template`` (deep-copied; the input is not touched).

    Name ``<deploy>-<hash>-<suffix>``; labels = template labels + ``pod-template-hash``;
    annotations = template annotations + ``deployment.kubernetes.io/revision`` (``revision``,
    else the Deployment's own annotation); a controller ownerReference to the Deployment with
    ``blockOwnerDeletion``; ``creationTimestamp`` from ``now``; ``uid`` only when given (else
    the API server assigns one); ``status.phase`` Pending.
    """
    meta = deployment.get("metadata") or {}
    template = (deployment.get("spec") or {}).get("template") or {}
    tmeta = template.get("metadata") or {}
    if revision is None:
        revision = (meta.get("annotations") or {}).get(REVISION_ANNOTATION)
    annotations = dict(tmeta.get("annotations") or {})
    if revision is not None:
        annotations[REVISION_ANNOTATION] = str(revision)
    pod_meta: dict[str, Any] = {
        "name": pod_name(meta.get("name", ""), template_hash, name_suffix),
        "namespace": meta.get("namespace") or "default",
        "creationTimestamp": rfc3339(now),
        "labels": {**(tmeta.get("labels") or {}), HASH_LABEL: template_hash},
        "annotations": annotations,
        "ownerReferences": [{
            "apiVersion": deployment.get("apiVersion") or "apps/v1", "kind": "Deployment",
            "name": meta.get("name", ""), "uid": meta.get("uid", ""),
            "controller": True, "blockOwnerDeletion": True,
        }],
    }
    if uid is not None:
        pod_meta["uid"] = uid
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta,
            "spec": copy.deepcopy(dict(template.get("spec") or {})), "status": {"phase": "Pending"}}
