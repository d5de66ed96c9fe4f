"""``haplane up``: a local multi-master cluster in the foreground.

Starts N replicas and M node agents on loopback (see :mod:`haplane.localcluster` for the
layout), waits until they elect a leader, optionally deploys a demo app, prints one line
starting ``haplane ready`` and where to look, then supervises until Ctrl-C / SIGTERM, when it
stops everything cleanly. Running it again with the same data dir resumes the same cluster.

The replicas serve HTTPS with a private CA made offline in ``DATA_DIR/pki`` (kubectl sends
bearer tokens over HTTPS only); an API load balancer (:mod:`haplane.apilb`) listens on
127.0.0.1:P (the base port) and each agent runs one on its node address, port 6443.
``DATA_DIR/kubeconfig`` points kubectl at the first one; ``DATA_DIR/client.json`` (haplane's
own CLI) lists the replicas and carries the CA. ``--plain-http`` serves HTTP instead, without
load balancers or a kubeconfig.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
import time
from typing import Any

from haplane.localcluster import LocalCluster
from haplane.progress import Reporter, make_reporter

DEMO_MANIFEST = os.path.join(os.path.dirname(__file__), "demo.yaml")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--replicas", type=int, default=3, help="API/Raft replicas (default 3)")
    p.add_argument("--agents", type=int, default=2, help="node agents (default 2)")
    p.add_argument("--runtime", choices=["auto", "process", "docker", "hollow"], default="auto",
                   help="the agents' runtime; auto = docker when an engine answers, else process")
    p.add_argument("--data-dir", default=".haplane", help="state directory (default .haplane)")
    p.add_argument("--base-port", type=int, default=7000, help="replica rI serves HTTP on P+I, Raft on P+100+I")
    p.add_argument("--node-net", default="127.0.1", metavar="A.B.C",
                   help="agent nI gets the node address A.B.C.I (default 127.0.1)")
    p.add_argument("--demo", action="store_true", help="deploy a small demo app once the cluster is ready")
    p.add_argument("--ready-timeout", type=float, default=90.0, help="seconds to wait for a leader")
    p.add_argument("--plain-http", action="store_true",
                   help="serve plain HTTP (no TLS, no API load balancer, no kubeconfig: kubectl sends tokens "
                        "over HTTPS only)")


def docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


DEMO_IMAGE = "busybox:local"
BUILD_SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "deploy", "images",
                            "busybox", "build.sh")


def ensure_demo_image() -> bool:
    """Make sure the demo's image exists in the local engine (built offline from busybox-static)."""
    import subprocess

    import docker

    try:
        docker.from_env(timeout=5).images.get(DEMO_IMAGE)
        return True
    except Exception:
        pass
    if not os.path.exists(BUILD_SCRIPT):
        return False
    proc = subprocess.run(["sh", BUILD_SCRIPT, DEMO_IMAGE], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        print(f"haplane up: could not build {DEMO_IMAGE}: {proc.stderr.strip()}", file=sys.stderr)
    return proc.returncode == 0


def agents_available() -> bool:
    return importlib.util.find_spec("node_agent.agent") is not None


def main_up(args: argparse.Namespace) -> int:
    if args.replicas < 1:
        raise SystemExit("haplane up: --replicas must be at least 1 (3 or 5 for high availability)")
    runtime = args.runtime
    if runtime == "auto":
        runtime = "docker" if docker_available() else "process"
        if runtime == "docker" and args.demo and not ensure_demo_image():
            print(f"haplane up: the Docker engine has no {DEMO_IMAGE} image and it cannot be built here; "
                  "using the process runtime", file=sys.stderr)
            runtime = "process"
    elif runtime == "docker" and args.demo:
        ensure_demo_image()
    agents = args.agents
    if agents and not agents_available():
        print("haplane up: node agents are not part of this build yet; starting replicas only", file=sys.stderr)
        agents = 0
    tls = not args.plain_http
    lc = LocalCluster(args.data_dir, replicas=args.replicas, agents=agents, runtime=runtime,
                      base_port=args.base_port, tls_dir=os.path.join(args.data_dir, "pki") if tls else None,
                      api_lb=tls, node_net=args.node_net)
    stop = {"flag": False}

    def on_signal(signum: int, frame: object) -> None:
        stop["flag"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        with make_reporter() as rep:
            rep.note(f"haplane up: starting {args.replicas} replicas and {agents} agents ({runtime} runtime) "
                     f"in {lc.data_dir}")
            try:
                leader = _start_stages(lc, rep, tls=tls, ready_timeout=args.ready_timeout, demo=args.demo)
            except TimeoutError as exc:
                rep.close()
                print(f"haplane up: {exc}; see the logs in {lc.data_dir}/r*/log", file=sys.stderr)
                return 1
        print(f"haplane ready endpoints={','.join(lc.endpoints)} leader={leader} "
              f"config={lc.path('client.json')}"
              + (f" kubeconfig={lc.path('kubeconfig')} lb={lc.lb_url}" if lc.lb_url else ""), flush=True)
        print(_where_to_look(lc), flush=True)
        _supervise(lc, stop)
    finally:
        print("haplane up: stopping", flush=True)
        lc.stop_all()
    return 0


def _start_stages(lc: LocalCluster, rep: Reporter, *, tls: bool, ready_timeout: float, demo: bool) -> str:
    """Start everything, one reported stage at a time (what ``LocalCluster.start_all`` does, then
    the wait for a leader and the demo); returns the leader's name."""
    def stage(text: str) -> Any:
        return rep.stage(text, plain=f"haplane up: {text}")

    with stage("PKI, cluster secret and tokens" if tls else "cluster secret and tokens"):
        lc.prepare()
        if tls:
            write_kubeconfig(lc)
        elif os.path.exists(lc.path("kubeconfig")):
            os.remove(lc.path("kubeconfig"))  # a kubeconfig of an earlier TLS run would point at nothing
    with stage(_count(len(lc.replicas), "replica", "start")):
        for m in lc.replicas:
            lc.start(m.name)
    if lc.agents:
        with stage(_count(len(lc.agents), "node agent", "start") + f" ({lc.runtime} runtime)"):
            for m in lc.agents:
                lc.start(m.name)
    if "lb" in lc.members:
        with stage(f"start the API load balancer on {lc.lb_url}"):
            lc.start("lb")
    with stage("elect a leader"):
        leader = lc.wait_ready(timeout=ready_timeout)
    if demo:
        with stage("deploy the demo app"):
            _deploy_demo(lc)
    return leader


def _count(n: int, noun: str, verb: str) -> str:
    return f"{verb} {n} {noun}{'' if n == 1 else 's'}"


def write_kubeconfig(lc: LocalCluster) -> str:
    """``DATA_DIR/kubeconfig``: the admin token, the CA, the load balancer's address."""
    from haplane import kubeconfig
    from haplane.clientconfig import load_config

    path = lc.path("kubeconfig")
    kubeconfig.write(path, kubeconfig.from_client_config(load_config(lc.path("client.json"))))
    return path


def _supervise(lc: LocalCluster, stop: dict[str, bool]) -> None:
    """Report members that die (the chaos harness kills them on purpose; we do not restart them)."""
    reported: set[str] = set()
    while not stop["flag"]:
        for name in lc.members:
            if name in lc.procs and not lc.alive(name) and name not in reported:
                reported.add(name)
                print(f"haplane up: {name} exited (code {lc.procs[name].returncode}); "
                      f"see {lc.path(name, 'log')}", flush=True)
        time.sleep(0.5)


def _deploy_demo(lc: LocalCluster) -> None:
    from haplane.cli import main as cli_main

    code = cli_main(["--config", lc.path("client.json"), "apply", "-f", DEMO_MANIFEST])
    if code != 0:
        print("haplane up: the demo app could not be deployed (see above)", file=sys.stderr)


def _where_to_look(lc: LocalCluster) -> str:
    cfg = lc.path("client.json")
    cacert = f"--cacert {lc.ca_file} " if lc.ca_file else ""
    lines = [
        "",
        "  Where to look:",
        f"    export HAPLANE_CONFIG={cfg}",
        "    haplane cluster status            # every replica: role, term, commit index",
        "    haplane get nodes,pods,deployments -A",
        f"    dashboard: {lc.endpoints[0]}/ui/ (any replica's /ui/; sign in with a token of {lc.path('tokens')})",
    ]
    if lc.lb_url:
        kubectl = os.path.join(os.path.dirname(sys.executable), "kubectl")
        lines += [
            f"    export KUBECONFIG={lc.path('kubeconfig')}   # kubectl, through the API load balancer "
            f"{lc.lb_url}",
            f"    {kubectl if os.path.exists(kubectl) else 'kubectl'} get nodes,pods -A",
        ]
    lines += [
        f"    curl {cacert}-H 'Authorization: Bearer {lc.admin_token}' {lc.endpoints[0]}/api/v1/namespaces",
        f"    logs: {lc.data_dir}/<member>/log   cluster: {lc.path('cluster.json')}",
        "  Ctrl-C stops the cluster; `haplane up` with the same --data-dir resumes it.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    _p = argparse.ArgumentParser(prog="haplane up")
    add_arguments(_p)
    sys.exit(main_up(_p.parse_args()))

