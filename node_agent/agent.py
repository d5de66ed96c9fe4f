"""``haplane-agent``: the node agent process — wiring only.

One process runs one node (or, with ``--hollow-count K``, K hollow nodes named
``<name>-0 .. <name>-K-1`` sharing one API client, one pod watch, one heartbeat request and
one log server). The pieces, each in its own module:

* :mod:`node_agent.node` — registers the Node(s) and heartbeats;
* :mod:`node_agent.podfeed` — lists and watches the pods bound here;
* :mod:`node_agent.podsync` — per node: reconcile, run containers, probes, pod status, events;
* :mod:`node_agent.logserver` — ``/logs/...`` on the node address, for ``haplane logs``;
* :mod:`node_agent.proxy` — the node's service proxy on the node address (not for hollow
  nodes, which have no workloads to reach; ``--no-proxy`` turns it off);
* :mod:`haplane.apilb` — with ``--api-lb ADDRESS:PORT``, the API load balancer for kubectl on
  this node (as k3s's agent runs one on 127.0.0.1:6443): one address, the healthy replicas
  behind it.

Every loop is supervised: an unexpected exception is logged and the loop restarts after a
pause; nothing a pod or the API does ends the process. SIGTERM/SIGINT stop the agent and
leave the containers running (as kubelet does); the next agent adopts them.

TLS: with ``https://`` servers, every call to the API (the agent's client and the log
server's token checks) verifies the replicas' certificates against ``--ca`` (default: the
system store, which does not know a private CA). There is no fallback to plain HTTP or to no
verification: an untrusted certificate keeps the agent waiting for the API, saying why.

Runtime scoping: process and docker containers are labelled with ``<name>@<cluster id>``
(the uid of the cluster's ``default`` namespace), so two clusters sharing one Docker engine
— or one machine's leftovers from an earlier cluster — never adopt or kill each other's
containers.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import ssl
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from haplane import errors, logformat
from haplane import metrics as metrics_mod
from haplane.aio import wait_for
from haplane.client import Client
from haplane.clientconfig import normalize_endpoint
from haplane.model.quantity import parse_cpu, parse_memory
from haplane.tls import ca_context
from node_agent.errlog import OnceLogger
from node_agent.logserver import LogServer, TokenChecker
from node_agent.metrics import AgentMetrics
from node_agent.node import NodeConfig, NodeGroup, parse_labels, parse_taints
from node_agent.podfeed import PodFeed
from node_agent.podsync import EventRecorder, PodSync
from node_agent.runtime.base import ContainerState, Runtime
from node_agent.stats import DEFAULT_PERIOD as DEFAULT_STATS_PERIOD
from node_agent.stats import StatsCollector
from node_agent.streams import StreamServer

log = logging.getLogger("node_agent")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="haplane-agent", description="haplane node agent")
    p.add_argument("--name", required=True, help="node name (with --hollow-count: the prefix)")
    p.add_argument("--address", required=True, help="the node address (e.g. 127.0.1.1): ports and logs bind here")
    p.add_argument("--source-address", metavar="ADDR", default=None,
                   help="connect to the API from this local address, e.g. the node address, so the network "
                        "sees the agent's calls as the node's (default: the system picks)")
    p.add_argument("--servers", required=True, help="API endpoints, comma-separated")
    p.add_argument("--token-file", required=True, help="file holding a bearer token of role node")
    p.add_argument("--ca", metavar="PEM", default=None,
                   help="CA bundle that verifies the replicas' https certificates (default: the system store); "
                        "every call to the API uses it")
    p.add_argument("--runtime", choices=["docker", "process", "hollow"], default="process")
    p.add_argument("--cpu", default="4", help="cpu capacity (default 4)")
    p.add_argument("--memory", default="8Gi", help="memory capacity (default 8Gi)")
    p.add_argument("--labels", default="", help="extra node labels k=v,...")
    p.add_argument("--taints", default="", help="taints at registration key=value:Effect,...")
    p.add_argument("--port", type=int, default=10250, help="log server port (a free one if taken)")
    p.add_argument("--log-address", metavar="ADDR", default=None,
                   help="where the log server listens, published on the Node for the replicas to call "
                        "(default: --address); for replicas that cannot reach the node address")
    p.add_argument("--tls-cert", metavar="PEM", default=None,
                   help="serve logs over HTTPS with this certificate (it must name the log address; "
                        "replicas that serve HTTPS send tokens to HTTPS agents only) ...")
    p.add_argument("--tls-key", metavar="PEM", default=None, help="... and this private key")
    p.add_argument("--state-dir", default=None, help="process runtime state (default .haplane-agent/NAME)")
    p.add_argument("--heartbeat", type=float, default=1.0, help="seconds between heartbeats")
    p.add_argument("--hollow-count", type=int, default=0, help="run K hollow nodes in this process")
    p.add_argument("--sync-period", type=float, default=None,
                   help="seconds between pod sync rounds when nothing happens (1; hollow 10)")
    p.add_argument("--min-round-gap", type=float, default=0.0,
                   help="seconds between the starts of two pod sync rounds at least (default 0: only the "
                        "adaptive limit, observing the runtime at most half of the time)")
    p.add_argument("--resync", type=float, default=300.0, help="seconds between full pod relists")
    p.add_argument("--stats-period", type=float, default=None,
                   help="seconds between two readings of the containers' CPU and memory, for kubectl top "
                        "(default: $HAPLANE_STATS_PERIOD, else 5); the CPU rate is measured over one period")
    p.add_argument("--no-proxy", action="store_true", help="do not run the service proxy on the node address")
    p.add_argument("--api-lb", metavar="ADDRESS:PORT", default=None,
                   help="run the API load balancer here (e.g. 127.0.0.1:6443): TCP pass-through to the ready "
                        "replicas of --servers, for kubectl and other kubeconfig users on this node")
    p.add_argument("--stop-on-exit", action="store_true",
                   help="on SIGTERM, stop and remove this node's containers (for throwaway local clusters; "
                        "by default they keep running and the next agent adopts them)")
    p.add_argument("--log-level", default="INFO")
    logformat.add_argument(p)
    p.add_argument("--metrics-address", metavar="HOST:PORT", default=None,
                   help="also serve /metrics here, without a token (on the log port it needs a token)")
    return p


def server_list(servers: str) -> list[str]:
    """``--servers`` as normalised endpoint URLs (``host:port`` means ``http://host:port``)."""
    return [normalize_endpoint(e) for e in servers.split(",") if e.strip()]


def api_ssl(ca: str | None) -> ssl.SSLContext | None:
    """The SSL context for the agent's calls to the API: verifies against ``ca`` (TLS >= 1.2);
    None without a CA (https then uses the system store). Raises ValueError on a bad file."""
    if ca is not None and not ca.strip():
        raise ValueError("--ca needs the path of a PEM file")
    try:
        return ca_context(ca)
    except ValueError as exc:
        raise ValueError(f"--ca: {exc}") from None


def log_server_ssl(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """The log server's HTTPS context (TLS >= 1.2), None for plain HTTP. Raises ValueError."""
    if cert is None and key is None:
        return None
    if not cert or not key:
        raise ValueError("--tls-cert and --tls-key go together (the paths of PEM files)")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"--tls-cert/--tls-key: cannot load a certificate and key from {cert}, {key}: "
                         f"{exc}") from None
    return ctx


def check_args(args: argparse.Namespace) -> None:
    """Raise ValueError for option values that cannot work."""
    endpoints = server_list(args.servers)
    if not endpoints:
        raise ValueError("--servers needs at least one API URL")
    if args.ca is not None:
        if not any(e.startswith("https://") for e in endpoints):
            raise ValueError("--ca verifies https:// servers, and --servers has none "
                             "(write the URLs as https://HOST:PORT)")
        api_ssl(args.ca)
    parse_cpu(args.cpu)
    parse_memory(args.memory)
    parse_labels(args.labels)
    parse_taints(args.taints)
    if args.hollow_count < 0 or (args.hollow_count and args.runtime != "hollow"):
        raise ValueError("--hollow-count needs --runtime hollow and a count >= 1")
    if args.heartbeat <= 0:
        raise ValueError("--heartbeat must be positive")
    stats_period(args)
    if not 0 <= args.port <= 65535:
        raise ValueError("--port must be 0..65535")
    if args.metrics_address is not None:
        try:
            metrics_mod.parse_address(args.metrics_address)
        except ValueError as exc:
            raise ValueError(f"--metrics-address: {exc}") from None
    if args.log_address is not None and not args.log_address.strip():
        raise ValueError("--log-address needs an address")
    log_server_ssl(args.tls_cert, args.tls_key)
    if args.api_lb is not None:
        from haplane.apilb import parse_listen

        parse_listen(args.api_lb)


def stats_period(args: argparse.Namespace) -> float:
    """``--stats-period``, else ``$HAPLANE_STATS_PERIOD``, else 5 s. Raises ValueError."""
    raw = args.stats_period if args.stats_period is not None else os.environ.get("HAPLANE_STATS_PERIOD")
    try:
        period = float(raw) if raw not in (None, "") else DEFAULT_STATS_PERIOD
    except ValueError:
        raise ValueError(f"HAPLANE_STATS_PERIOD must be a number of seconds, not {raw!r}") from None
    if not 0.1 <= period <= 3600:
        raise ValueError("--stats-period must be between 0.1 and 3600 seconds")
    return period


def node_names(args: argparse.Namespace) -> list[str]:
    if args.hollow_count:
        return [f"{args.name}-{i}" for i in range(args.hollow_count)]
    return [args.name]


async def supervise(name: str, run: Callable[[], Awaitable[Any]], *, pause: float = 2.0) -> None:
    """Run ``run()`` forever: an exception is logged and the loop restarts after ``pause``."""
    while True:
        try:
            await run()
            log.warning("%s returned; restarting it", name)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed; restarting it in %.0fs", name, pause)
        await asyncio.sleep(pause)


async def wait_for_api(client: Client) -> tuple[str, int]:
    """(cluster id, epoch) once the API answers: the uid of namespace ``default``."""
    errs = OnceLogger(log)
    delay = 0.2
    while True:
        try:
            ns = await client.get("Namespace", "default", None)
            me = await client.request("GET", "/cluster/self")
            errs.ok("api")
            return str(ns["metadata"]["uid"]), int(me.get("epoch") or 0)
        except errors.Unauthorized as exc:
            raise SystemExit(f"haplane-agent: the API refuses the token: {exc.message}") from None
        except Exception as exc:  # noqa: BLE001 - keep waiting for the API
            errs.failed("waiting for the API", exc)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)


async def docker_version() -> str:
    try:
        import docker

        def version() -> str:
            return str(docker.from_env(timeout=5).version().get("Version") or "unknown")

        return await wait_for(asyncio.to_thread(version), 10)
    except Exception as exc:  # noqa: BLE001 - the agent runs anyway; pods will say what is wrong
        log.warning("the Docker engine does not answer (%s); pods will fail until it does", exc)
        return "unknown"


async def stop_everything(runtimes: list[Runtime], grace: float = 5.0) -> None:
    """Stop (``grace`` s, then SIGKILL) and remove every container of these runtimes."""
    for rt in runtimes:
        try:
            states = await rt.list_managed()
            log.info("stopping %d container(s) of %s before exiting", len(states), rt.name)
            await asyncio.gather(*(rt.stop(s.cid, grace) for s in states if s.running), return_exceptions=True)
            await asyncio.gather(*(rt.remove(s.cid) for s in states), return_exceptions=True)
        except Exception as exc:  # noqa: BLE001 - exiting anyway
            log.warning("could not stop the containers of %s: %s", rt.name, exc)


def make_runtime(kind: str, name: str, identity: str, state_dir: str) -> Runtime:
    if kind == "docker":
        from node_agent.runtime.docker import DockerRuntime

        return DockerRuntime(identity, previous_dir=os.path.join(state_dir, "previous"))
    if kind == "process":
        from node_agent.runtime.process import ProcessRuntime

        return ProcessRuntime(os.path.join(state_dir, "containers"), identity)
    from node_agent.runtime.hollow import HollowRuntime

    return HollowRuntime(name)


async def run_agent(args: argparse.Namespace, stop: asyncio.Event) -> int:
    with open(args.token_file, encoding="utf-8") as f:
        token = f.read().strip()
    endpoints = server_list(args.servers)
    tls = api_ssl(args.ca)  # every call to the API: the client, and the log server's token checks
    client = Client(endpoints, token, timeout=10.0, ssl=tls, local_address=args.source_address)
    names = node_names(args)
    syncs: dict[str, PodSync] = {}
    forget = os.environ.get("HAPLANE_UNSAFE_FORGET_CONTAINERS") == "1"
    if forget:
        log.warning("HAPLANE_UNSAFE_FORGET_CONTAINERS=1: containers are NOT adopted (test-only broken mode)")

    def lookup(ns: str, pod: str, container: str) -> tuple[Runtime, ContainerState] | None:
        for sync in syncs.values():
            if (state := sync.find_container(ns, pod, container)) is not None:
                return sync.runtime, state
        return None

    def pod_lookup(ns: str, pod: str) -> tuple[Runtime, list[tuple[ContainerState, dict]]] | None:
        for sync in syncs.values():
            if (found := sync.find_pod(ns, pod)) is not None:
                return sync.runtime, found
        return None

    log_address = args.log_address or args.address
    log_tls = log_server_ssl(args.tls_cert, args.tls_key)
    checker = TokenChecker(endpoints, ssl=tls)
    metrics = AgentMetrics()
    # hollow nodes run nothing: no usage to measure (their /stats/summary is a 404)
    stats = StatsCollector(syncs, period=stats_period(args)) if args.runtime != "hollow" else None
    logs = LogServer(log_address, args.port, lookup, checker, ssl_context=log_tls,
                     streams=StreamServer(lookup, pod_lookup, checker), metrics=metrics.render,
                     stats=stats.summary if stats is not None else None)
    port = await logs.start()
    metrics_runner = None
    if args.metrics_address:
        metrics_runner = await metrics_mod.serve_unauthenticated(args.metrics_address, metrics.render)
        log.info("serving /metrics without a token on %s", args.metrics_address)
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True, limit=64))
    tasks: list[asyncio.Task] = []
    runtimes: list[Runtime] = []
    try:
        cluster_id, epoch = await wait_for_api(client)
        version = {"docker": None, "process": "1", "hollow": "1"}[args.runtime] or await docker_version()
        state_dir = args.state_dir or os.path.join(".haplane-agent", args.name)
        events = EventRecorder(client)
        hollow = args.runtime == "hollow"
        sync_period = args.sync_period or (10.0 if hollow else 1.0)
        configs = []
        for name in names:
            runtime = make_runtime(args.runtime, name, f"{name}@{cluster_id}", state_dir)
            runtimes.append(runtime)
            syncs[name] = PodSync(name, args.address, runtime, client, events, sync_period=sync_period,
                                  min_round_gap=args.min_round_gap, probes=not hollow, epoch=epoch, http=http,
                                  unsafe_forget_containers=forget, metrics=metrics)
            configs.append(NodeConfig(name, args.address, port, args.runtime, version, cpu=args.cpu,
                                      memory=args.memory, labels=parse_labels(args.labels),
                                      taints=tuple(parse_taints(args.taints)),
                                      log_address=log_address, log_https=log_tls is not None))
        nodes = NodeGroup(client, configs, heartbeat=args.heartbeat)
        feed = PodFeed(client, dict(syncs), resync=args.resync)
        loops: dict[str, Callable[[], Awaitable[Any]]] = {"nodes": nodes.run, "pod feed": feed.run,
                                                          "events": events.run}
        loops.update({f"pod sync {n}": s.run for n, s in syncs.items()})
        if stats is not None:
            loops["usage stats"] = stats.run
        if not hollow and not args.no_proxy:
            from node_agent.proxy import ServiceProxy

            async def service_event(svc: dict, reason: str, message: str) -> None:
                events.emit(svc, reason, message, "Warning", host=names[0])

            loops["service proxy"] = lambda: ServiceProxy(args.address, client, on_event=service_event,
                                                          metrics=metrics).run()
        if args.api_lb is not None:
            from haplane.apilb import ApiLoadBalancer, parse_listen

            lb = ApiLoadBalancer(parse_listen(args.api_lb), endpoints, ssl_context=tls)
            loops["api load balancer"] = lb.run
        tasks = [asyncio.create_task(supervise(n, fn), name=n) for n, fn in loops.items()]
        log.info("agent %s up: %d node(s), runtime %s %s, address %s, logs on %s://%s:%d", args.name,
                 len(names), args.runtime, version, args.address, "https" if log_tls else "http", log_address, port)
        await stop.wait()
        if args.stop_on_exit:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await stop_everything(runtimes)
        else:
            log.info("stopping (containers keep running; the next agent adopts them)")
        return 0
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await logs.close()
        if metrics_runner is not None:
            await metrics_runner.cleanup()
        await http.close()
        await client.close()
        for rt in runtimes:
            close = getattr(rt, "close", None)
            if close is not None:
                close()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        check_args(args)
    except ValueError as exc:
        print(f"haplane-agent: {exc}", file=sys.stderr)
        return 2
    logformat.setup(args.log_level, args.log_format)

    async def amain() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await run_agent(args, stop)

    try:
        return asyncio.run(amain())
    except OSError as exc:  # e.g. the node address cannot be bound
        print(f"haplane-agent: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
