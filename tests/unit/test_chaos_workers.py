"""The chaos harness's worker side, pure parts: attributing containers to pods and nodes, the
iptables rules of an agent cut, the Deployment as a register, pod samples."""

from __future__ import annotations

import argparse

import pytest

from chaos import cli as chaos_cli
from chaos.agentcut import chain_name, cut_rules, stale_chains
from chaos.pods import PodSample, judge
from chaos.runner import PORT_STRIDE, node_net
from chaos.runtimes import NAMESPACE_ENV, POD_ENV, RUN_ENV, attribute, attribute_container, parse_environ
from chaos.workload import INITIAL, SCALE_ANNOTATION, deployment, scale_patch, scale_state
from haplane.control.reconcile.podtemplate import HASH_LABEL, template_hash
from haplane.model import registry

NODES = {"127.5.1.1": "n1", "127.5.1.2": "n2"}


def test_parse_environ() -> None:
    raw = b"PATH=/bin\0A=b=c\0EMPTY=\0junk\0=novalue\0"
    assert parse_environ(raw) == {"PATH": "/bin", "A": "b=c", "EMPTY": ""}


def _env(**kw: str) -> dict[str, str]:
    env = {RUN_ENV: "run-1", POD_ENV: "web-x", NAMESPACE_ENV: "default", "HOST_IP": "127.5.1.2"}
    env.update(kw)
    return {k: v for k, v in env.items() if v != "-"}


@pytest.mark.parametrize(("env", "want"), [
    pytest.param(_env(), ("n2", "default/web-x"), id="ours"),
    pytest.param(_env(**{RUN_ENV: "run-2"}), None, id="another-run"),
    pytest.param(_env(**{RUN_ENV: "-"}), None, id="not-a-pod-of-the-harness"),
    pytest.param(_env(**{POD_ENV: "-"}), None, id="no-pod-name"),
    pytest.param(_env(HOST_IP="127.9.9.9"), ("?127.9.9.9", "default/web-x"), id="unknown-node-still-counted"),
    pytest.param(_env(**{NAMESPACE_ENV: "-"}), ("n2", "default/web-x"), id="namespace-defaults"),
])
def test_attribute_process(env: dict[str, str], want: tuple[str, str] | None) -> None:
    assert attribute(env, "run-1", NODES) == want


@pytest.mark.parametrize(("labels", "want"), [
    pytest.param({"haplane.node": "n1@C", "haplane.pod-name": "p", "haplane.namespace": "ns"}, ("n1", "ns/p"),
                 id="ours"),
    pytest.param({"haplane.node": "n1@OTHER", "haplane.pod-name": "p"}, None, id="another-cluster"),
    pytest.param({}, None, id="unlabelled"),
])
def test_attribute_container(labels: dict[str, str], want: tuple[str, str] | None) -> None:
    assert attribute_container(labels, {"n1@C": "n1", "n2@C": "n2"}) == want


def test_cut_rules_drop_both_directions_on_loopback_only() -> None:
    rules = cut_rules("HPCHAOS-1-1", "127.5.1.2", "127.0.0.1", [11003, 11001, 11002])
    assert rules == [
        ["-A", "HPCHAOS-1-1", "-o", "lo", "-p", "tcp", "-s", "127.5.1.2/32", "-d", "127.0.0.1/32", "-m", "multiport",
         "--dports", "11001,11002,11003", "-j", "DROP"],
        ["-A", "HPCHAOS-1-1", "-o", "lo", "-p", "tcp", "-s", "127.0.0.1/32", "-d", "127.5.1.2/32", "-m", "multiport",
         "--sports", "11001,11002,11003", "-j", "DROP"],
    ]


@pytest.mark.parametrize(("address", "host", "ports"), [
    pytest.param("10.0.0.5", "127.0.0.1", [1], id="node-not-loopback"),
    pytest.param("127.5.1.1", "192.168.1.1", [1], id="host-not-loopback"),
    pytest.param("::1", "127.0.0.1", [1], id="ipv6"),
    pytest.param("127.5.1.1", "127.0.0.1", [], id="no-ports"),
    pytest.param("127.5.1.1", "127.0.0.1", range(1, 17), id="too-many-ports"),
    pytest.param("not-an-ip", "127.0.0.1", [1], id="garbage"),
])
def test_cut_rules_refuse_anything_but_loopback(address: str, host: str, ports: list[int]) -> None:
    with pytest.raises(ValueError):
        cut_rules("C", address, host, ports)


def test_stale_chains_are_those_of_dead_harness_processes() -> None:
    listing = "\n".join(["-P OUTPUT ACCEPT", f"-N {chain_name(100, 1)}", f"-N {chain_name(200, 3)}", "-N DOCKER",
                         "-N HPCHAOS-x-1", f"-A OUTPUT -j {chain_name(100, 1)}"])
    assert stale_chains(listing, lambda pid: pid == 200) == [chain_name(100, 1)]
    assert len(chain_name(4194304, 99)) <= 28  # iptables' limit, with the largest pid


@pytest.mark.parametrize(("annotation", "replicas", "want"), [
    pytest.param(INITIAL, 2, INITIAL, id="initial"),
    pytest.param(INITIAL, 3, f"{INITIAL}!3", id="initial-annotation-other-size"),
    pytest.param("700.4/3", 3, "700.4/3", id="a-scale"),
    pytest.param("700.4/3", 1, "700.4/3!1", id="annotation-and-size-disagree"),
    pytest.param(None, 2, "None!2", id="annotation-lost"),
    pytest.param("garbage", 2, "garbage!2", id="annotation-garbage"),
])
def test_scale_state(annotation: str | None, replicas: int, want: str) -> None:
    meta = {"annotations": {SCALE_ANNOTATION: annotation}} if annotation is not None else {}
    assert scale_state({"metadata": meta, "spec": {"replicas": replicas}}, 2) == want


def test_scale_state_of_a_missing_deployment() -> None:
    assert scale_state(None, 2) is None


def test_a_scale_patch_writes_the_value_it_names() -> None:
    dep = deployment("web", "run-1", 2)
    patched = dict(dep, metadata=dict(dep["metadata"], annotations=scale_patch("7.1/4", 4)["metadata"]["annotations"]),
                   spec=dict(dep["spec"], replicas=4))
    assert scale_state(patched, 2) == "7.1/4"
    assert scale_state(dep, 2) == INITIAL


def test_the_deployment_is_valid_and_marks_its_pods() -> None:
    out, warnings = registry.validate("Deployment", deployment("web", "run-1", 2))
    assert warnings == []
    env = {e["name"]: e for e in out["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env[RUN_ENV]["value"] == "run-1"
    assert env[POD_ENV]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def _dep(replicas: int) -> dict:
    return deployment("web", "r", replicas) | {"metadata": {"name": "web", "namespace": "default", "uid": "U"}}


def _pod(name: str, node: str) -> dict:
    return {"metadata": {"name": name, "namespace": "default", "ownerReferences": [{"uid": "RS", "controller": True}],
                         "labels": {HASH_LABEL: template_hash(_dep(1)["spec"]["template"])}},
            "spec": {"nodeName": node}, "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}


@pytest.mark.parametrize(("running", "met", "foreign", "settled"), [
    pytest.param([("n1", "default/a"), ("n2", "default/b")], True, [], True, id="settled"),
    pytest.param([("n1", "default/a")], False, [], False, id="a-ready-pod-is-not-running"),
    pytest.param([("n1", "default/a"), ("n2", "default/b"), ("n2", "default/gone")], True, 1, False,
                 id="a-deleted-pod-still-runs"),
])
def test_judge(running: list, met: bool, foreign: int | list, settled: bool) -> None:
    node = {"metadata": {"name": "n2"}, "status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    rs = {"metadata": {"name": "web-1", "uid": "RS", "ownerReferences": [{"uid": "U", "controller": True}]}}
    s = judge(1.0, running, [_dep(2)], [_pod("a", "n1"), _pod("b", "n2")], [node], [rs])
    assert (s.met, len(s.foreign) if isinstance(foreign, int) else s.foreign, s.settled) == (met, foreign, settled)
    assert s.bound_to("n2") == ["default/b"] and s.node_ready("n2") is False and s.node_ready("n3") is None
    assert s.to_doc(0.0)["per_node"]["n1"] == 1


def test_a_sample_without_the_api_decides_nothing() -> None:
    s = judge(1.0, [("n1", "default/a")], None, None)
    assert s.met is None and not s.settled and s.bound_to("n1") == [] and s.node_ready("n1") is None
    assert isinstance(s, PodSample)


def test_node_networks_are_per_port_block_and_apart_from_other_clusters() -> None:
    nets = {node_net(11000 + PORT_STRIDE * k) for k in range(10)}
    assert len(nets) == 10
    assert all(n.startswith("127.5.") and 1 <= int(n.rsplit(".", 1)[1]) <= 250 for n in nets)


@pytest.mark.parametrize(("argv", "error"), [
    pytest.param(["run", "kill-worker", "--runtime", "hollow"], "the hollow runtime has none", id="hollow"),
    pytest.param(["run", "--runtime", "hollow"], "kill-worker", id="hollow-with-every-scenario"),
    pytest.param(["run", "partition-worker", "--agents", "1"], "--agents 2 or more", id="one-agent"),
])
def test_cli_refuses_worker_runs_it_cannot_judge(argv: list[str], error: str, capsys: pytest.CaptureFixture) -> None:
    parser = argparse.ArgumentParser()
    chaos_cli.add_arguments(parser)
    assert chaos_cli.main(parser.parse_args(argv)) == 2
    assert error in capsys.readouterr().err
