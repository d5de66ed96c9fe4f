"""Strategic merge patch: Kubernetes' documented examples (kubectl patch task page, the
strategic-merge-patch and preserve-order design docs), table-driven, plus properties."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haplane.api.mutations import merge_patch
from haplane.api.strategic import strategic_merge_patch
from haplane.errors import BadRequest
from haplane.model.deployment import Deployment
from haplane.model.node import Node
from haplane.model.pod import Pod
from haplane.model.service import Service
from haplane.model.structure import ANY, SCALAR, Shape, shape_of

DEPLOY = shape_of(Deployment)
POD = shape_of(Pod)

# A kind with a list of scalars merged as a set (Kubernetes' metadata.finalizers), built by hand.
FINALIZERS = Shape("struct", fields={"finalizers": Shape("list", item=SCALAR, list_type="set",
                                                         strategy=frozenset({"merge"}))})


def pod_spec(*containers: dict, **extra: object) -> dict:
    return {"spec": {"containers": list(containers), **extra}}


def deploy(*containers: dict, **spec: object) -> dict:
    return {"spec": {**spec, "template": {"spec": {"containers": list(containers)}}}}


NGINX = {"name": "patch-demo-ctr", "image": "nginx"}
REDIS = {"name": "patch-demo-ctr-2", "image": "redis"}


CASES = [
    # kubectl patch task page: a container is added, the other kept (merge key: name)
    # (the page's output lists the new container first: a patch item goes before server-only items
    # unless the live order says otherwise)
    pytest.param(DEPLOY, deploy(NGINX), deploy(REDIS), deploy(REDIS, NGINX), id="containers-merge-by-name"),
    pytest.param(DEPLOY, deploy(NGINX), deploy({"name": "patch-demo-ctr", "image": "nginx:1.27"}),
                 deploy({"name": "patch-demo-ctr", "image": "nginx:1.27"}), id="container-image-changed"),
    # tolerations have no patch strategy: replaced
    pytest.param(POD, pod_spec(NGINX, tolerations=[{"effect": "NoSchedule", "key": "dedicated", "value": "test-team"}]),
                 {"spec": {"tolerations": [{"effect": "NoSchedule", "key": "disktype", "value": "ssd"}]}},
                 pod_spec(NGINX, tolerations=[{"effect": "NoSchedule", "key": "disktype", "value": "ssd"}]),
                 id="tolerations-replaced"),
    # the task page's retainKeys example: Recreate clears rollingUpdate
    pytest.param(DEPLOY, {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}}},
                 {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
                 {"spec": {"strategy": {"type": "Recreate"}}}, id="retainKeys"),
    pytest.param(DEPLOY, {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}}},
                 {"spec": {"strategy": {"type": "Recreate", "rollingUpdate": None}}},
                 {"spec": {"strategy": {"type": "Recreate"}}}, id="null-deletes"),
    # strategic-merge-patch.md: $patch replace on a map
    pytest.param(POD, pod_spec({"name": "nginx", "image": "nginx-1.0"}, restartPolicy="Always"),
                 {"spec": {"$patch": "replace", "containers": [{"name": "log-tailer", "image": "log-tailer-1.0"}]}},
                 pod_spec({"name": "log-tailer", "image": "log-tailer-1.0"}), id="map-replace"),
    pytest.param(POD, {"metadata": {"labels": {"a": "1"}}, "spec": {}}, {"metadata": {"$patch": "delete"}},
                 {"metadata": {}, "spec": {}}, id="map-delete"),
    # ... a list item deleted by its merge key, and the whole list replaced
    pytest.param(POD, pod_spec({"name": "nginx", "image": "nginx-1.0"}, {"name": "log-tailer", "image": "lt"}),
                 {"spec": {"containers": [{"name": "log-tailer", "$patch": "delete"}]}},
                 pod_spec({"name": "nginx", "image": "nginx-1.0"}), id="list-item-delete"),
    pytest.param(POD, pod_spec({"name": "nginx", "image": "nginx-1.0"}, {"name": "log-tailer", "image": "lt"}),
                 {"spec": {"containers": [{"name": "a", "image": "a"}, {"$patch": "replace"}]}},
                 pod_spec({"name": "a", "image": "a"}), id="list-replace"),
    # nested merge keys: ports by containerPort, env by name
    pytest.param(POD, pod_spec({"name": "c", "image": "i", "ports": [{"containerPort": 80}],
                                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}),
                 pod_spec({"name": "c", "ports": [{"containerPort": 443}], "env": [{"name": "B", "value": "3"}]}),
                 pod_spec({"name": "c", "image": "i", "ports": [{"containerPort": 443}, {"containerPort": 80}],
                           "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}]}), id="ports-env-merge"),
    pytest.param(shape_of(Service), {"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]}},
                 {"spec": {"ports": [{"port": 443, "targetPort": 8443}]}},
                 {"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https", "targetPort": 8443}]}},
                 id="service-ports-by-port"),
    pytest.param(shape_of(Node), {"status": {"conditions": [{"type": "Ready", "status": "True"},
                                                            {"type": "MemoryPressure", "status": "False"}]}},
                 {"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Down"}]}},
                 {"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Down"},
                                            {"type": "MemoryPressure", "status": "False"}]}}, id="conditions-by-type"),
    pytest.param(POD, {"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]}},
                 {"metadata": {"ownerReferences": [{"uid": "2", "name": "b"}]}},
                 {"metadata": {"ownerReferences": [{"uid": "2", "name": "b"}, {"uid": "1", "name": "a"}]}},
                 id="ownerReferences-by-uid"),
    # lists the models do not know are atomic; command/args are atomic
    pytest.param(POD, pod_spec(NGINX, volumes=[{"name": "a"}]), {"spec": {"volumes": [{"name": "b"}]}},
                 pod_spec(NGINX, volumes=[{"name": "b"}]), id="unknown-list-atomic"),
    pytest.param(POD, pod_spec({"name": "c", "command": ["a", "b"]}), pod_spec({"name": "c", "command": ["x"]}),
                 pod_spec({"name": "c", "command": ["x"]}), id="command-atomic"),
    # primitive lists with patchStrategy merge: union, and $deleteFromPrimitiveList
    pytest.param(FINALIZERS, {"finalizers": ["a", "b"]}, {"finalizers": ["c", "a"]},
                 {"finalizers": ["c", "a", "b"]}, id="primitive-union"),
    pytest.param(FINALIZERS, {"finalizers": ["a", "b", "c"]}, {"$deleteFromPrimitiveList/finalizers": ["b"]},
                 {"finalizers": ["a", "c"]}, id="deleteFromPrimitiveList"),
    pytest.param(FINALIZERS, {}, {"$deleteFromPrimitiveList/finalizers": ["b"]}, {}, id="deleteFromPrimitiveList-absent"),
    # preserve-order: $setElementOrder orders the named items; server-only ones keep their place
    pytest.param(POD, pod_spec({"name": "a"}, {"name": "b"}, {"name": "c"}),
                 {"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "b"}, {"name": "a"}]}},
                 pod_spec({"name": "c"}, {"name": "b"}, {"name": "a"}), id="setElementOrder-reorders"),
    pytest.param(POD, pod_spec({"name": "a", "image": "1"}, {"name": "b", "image": "1"}, {"name": "c", "image": "1"}),
                 {"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "d"}],
                           "containers": [{"name": "a", "image": "2"}, {"name": "d", "image": "1"}]}},
                 pod_spec({"name": "b", "image": "1"}, {"name": "c", "image": "1"}, {"name": "a", "image": "2"},
                          {"name": "d", "image": "1"}), id="setElementOrder-with-server-only"),
    pytest.param(FINALIZERS, {"finalizers": ["a", "b", "c"]},
                 {"$setElementOrder/finalizers": ["c", "a", "x"], "finalizers": ["x"]},
                 {"finalizers": ["b", "c", "a", "x"]}, id="setElementOrder-primitive"),
    # what kubectl apply sends when a container is removed from the manifest
    pytest.param(DEPLOY, deploy({"name": "a", "image": "1"}, {"name": "b", "image": "1"}),
                 {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "a"}],
                                                 "containers": [{"$patch": "delete", "name": "b"}]}}}},
                 deploy({"name": "a", "image": "1"}), id="apply-removes-container"),
    pytest.param(POD, {"metadata": {"labels": {"a": "1", "b": "2"}}}, {"metadata": {"labels": {"a": None, "c": "3"}}},
                 {"metadata": {"labels": {"b": "2", "c": "3"}}}, id="labels"),
    pytest.param(POD, {}, {"spec": {"containers": [{"name": "c", "image": None, "env": [{"name": "A", "value": None}]}]}},
                 {"spec": {"containers": [{"name": "c", "env": [{"name": "A"}]}]}}, id="new-values-drop-nulls"),
    pytest.param(ANY, {"a": [1, 2]}, {"a": [3]}, {"a": [3]}, id="no-schema-atomic"),
]


@pytest.mark.parametrize(("shape", "original", "patch", "expected"), CASES)
def test_strategic_merge_patch(shape: Shape, original: dict, patch: dict, expected: dict) -> None:
    before, patch_before = copy.deepcopy(original), copy.deepcopy(patch)
    assert strategic_merge_patch(original, patch, shape) == expected
    assert original == before and patch == patch_before  # pure


BAD = [
    pytest.param({"spec": {"$patch": "bogus"}}, id="unknown-map-directive"),
    pytest.param({"spec": {"containers": [{"image": "x"}]}}, id="no-merge-key"),
    pytest.param({"spec": {"containers": [{"$patch": "delete"}]}}, id="delete-without-key"),
    pytest.param({"spec": {"containers": [{"$patch": "merge"}]}}, id="list-merge-directive"),
    pytest.param({"spec": {"containers": [{"name": "a"}, "b"]}}, id="mixed-list"),
    pytest.param({"spec": {"$retainKeys": "x"}}, id="retainKeys-not-list"),
    pytest.param({"spec": {"$retainKeys": ["a"], "b": 1}}, id="retainKeys-mismatch"),
    pytest.param({"spec": {"$setElementOrder/containers": {"name": "a"}}}, id="setElementOrder-not-list"),
    pytest.param({"spec": {"$bogus": 1}}, id="unknown-directive"),
    pytest.param([{"op": "add"}], id="not-an-object"),
]


@pytest.mark.parametrize("patch", BAD)
def test_bad_patches_are_bad_requests(patch: object) -> None:
    with pytest.raises(BadRequest):
        strategic_merge_patch(pod_spec({"name": "a", "image": "x"}), patch, POD)


# --- properties -------------------------------------------------------------------------------
_keys = st.sampled_from(["a", "b", "c", "d"])
_trees = st.recursive(st.one_of(st.integers(), st.text(max_size=3), st.booleans()),
                      lambda inner: st.dictionaries(_keys, inner, max_size=4), max_leaves=12)
_patches = st.recursive(st.one_of(st.integers(), st.text(max_size=3), st.none()),
                        lambda inner: st.dictionaries(_keys, inner, max_size=4), max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_keys, _trees, max_size=4), st.dictionaries(_keys, _patches, max_size=4))
def test_without_lists_it_is_a_json_merge_patch(original: dict, patch: dict) -> None:
    assert strategic_merge_patch(original, patch, ANY) == merge_patch(original, patch)


_env = st.lists(st.builds(lambda n, v: {"name": n, "value": v}, st.sampled_from("ABCDE"), st.text("xy", max_size=2)),
                max_size=5, unique_by=lambda e: e["name"])


@settings(max_examples=200, deadline=None)
@given(_env, _env, st.lists(st.sampled_from("ABCDE"), max_size=3, unique=True))
def test_merging_by_key_is_idempotent_and_keeps_every_key(live: list, env: list, delete: list) -> None:
    patch_env = [e for e in env if e["name"] not in delete] + [{"name": n, "$patch": "delete"} for n in delete]
    patch = pod_spec({"name": "c", "env": patch_env})
    once = strategic_merge_patch(pod_spec({"name": "c", "env": live}), patch, POD)
    assert strategic_merge_patch(once, patch, POD) == once
    names = [e["name"] for e in once["spec"]["containers"][0]["env"]]
    expected = {e["name"] for e in live + env} - set(delete)
    assert sorted(names) == sorted(expected)
    for e in env:  # the patch's values win, in the patch's relative order
        if e["name"] not in delete:
            assert e in once["spec"]["containers"][0]["env"]
    patched = [n for n in names if n in {e["name"] for e in patch_env}]
    assert patched == [e["name"] for e in patch_env if e["name"] in names]
