"""``haplane server``: one replica — the Raft member, the HTTP API and (while it leads) the control loops."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web

from haplane import logformat
from haplane import metrics as metrics_mod
from haplane.api.app import MEMBER_KIND, Replica, make_app
from haplane.api.auth import TokenAuth
from haplane.control.leader import Leadership
from haplane.control.manager import control_loops
from haplane.control.nodes import Heartbeats
from haplane.errors import AlreadyExists, Conflict, HaplaneError
from haplane.store import commands
from haplane.store.fsm import StateMachine
from haplane.store.journal import JournalCorrupt
from haplane.store.proposer import Proposer
from haplane.store.raft import RaftNode, RaftTiming
from haplane.store.store import Store
from haplane.store.transport import RaftTransport
from haplane.store.watch import WatchHub
from haplane.tls import ServerTLS, add_server_arguments, server_tls_from_args

log = logging.getLogger("haplane.server")

# Hooks run on every replica once it serves (the control plane registers its leader watcher here).
StartHook = Callable[[Replica], Awaitable[None]]


@dataclass
class ServerConfig:
    name: str
    raft: str
    peers: list[str]
    http: str
    data_dir: str
    secret: str
    auth: TokenAuth
    timing: RaftTiming = field(default_factory=RaftTiming)
    advertise_url: str | None = None
    tls: ServerTLS | None = None
    join: bool = False
    fsync: bool = True
    metrics_address: str | None = None
    chaos_reports: str | None = None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", required=True, help="this replica's name")
    p.add_argument("--raft", required=True, metavar="HOST:PORT", help="this replica's Raft address")
    p.add_argument("--peers", default="", metavar="HOST:PORT,...", help="the other replicas' Raft addresses")
    p.add_argument("--http", required=True, metavar="HOST:PORT", help="where the HTTP API listens")
    p.add_argument("--data-dir", required=True, help="journal and dump live here")
    p.add_argument("--cluster-secret-file", required=True, help="file holding the shared Raft secret")
    p.add_argument("--tokens-file", required=True, help="TOKEN,USER,ROLE per line")
    p.add_argument("--advertise-url", help="the URL other members use for this replica's API")
    p.add_argument("--log-level", default=os.environ.get("HAPLANE_LOG_LEVEL", "INFO"))
    logformat.add_argument(p)
    p.add_argument("--metrics-address", metavar="HOST:PORT", default=None,
                   help="also serve /metrics here, without a token (on the API port it needs viewer or above)")
    p.add_argument("--chaos-reports", metavar="DIR", default=None,
                   help="the dashboard (/ui/) lists the chaos reports found here (haplane chaos run --report DIR/NAME)")
    add_server_arguments(p)
    p.add_argument("--join", action="store_true", help="a new member of a running cluster: with an empty "
                   "data dir, wait to be added (haplane cluster add-member) instead of campaigning")
    p.add_argument("--unsafe-no-fsync", action="store_true",
                   default=os.environ.get("HAPLANE_UNSAFE_NO_FSYNC") == "1",
                   help="do not fsync the Raft journal and dumps (benchmarks only: a power loss of a majority "
                   "then loses acknowledged writes; also HAPLANE_UNSAFE_NO_FSYNC=1)")


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    try:
        with open(args.cluster_secret_file, encoding="utf-8") as f:
            secret = f.read().strip()
    except OSError as exc:
        raise SystemExit(f"haplane server: cannot read the cluster secret: {exc}") from None
    if len(secret) < 16:
        raise SystemExit("haplane server: the cluster secret must be at least 16 characters; "
                         "refusing to run Raft unauthenticated")
    try:
        auth = TokenAuth.from_file(args.tokens_file)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"haplane server: bad tokens file: {exc}") from None
    if args.metrics_address:
        try:
            metrics_mod.parse_address(args.metrics_address)
        except ValueError as exc:
            raise SystemExit(f"haplane server: --metrics-address: {exc}") from None
    peers = [p.strip() for p in args.peers.split(",") if p.strip() and p.strip() != args.raft]
    return ServerConfig(name=args.name, raft=args.raft, peers=peers, http=args.http, data_dir=args.data_dir,
                        secret=secret, auth=auth, advertise_url=args.advertise_url, timing=RaftTiming.from_env(),
                        tls=server_tls_from_args(args), join=args.join, fsync=not args.unsafe_no_fsync,
                        metrics_address=args.metrics_address, chaos_reports=args.chaos_reports)


def main_server(args: argparse.Namespace) -> int:
    logformat.setup(args.log_level, args.log_format, process=args.name)
    cfg = config_from_args(args)
    try:
        asyncio.run(serve(cfg))
    except JournalCorrupt as exc:
        print(f"haplane server: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


def transport_class() -> type:
    """The Raft transport, or the fault-injecting one when the chaos harness asks for it."""
    if os.environ.get("HAPLANE_FAULT_FILE"):
        from haplane.store.faults import FaultyTransport

        return FaultyTransport
    return RaftTransport


async def serve(cfg: ServerConfig, hooks: list[StartHook] | None = None) -> None:
    loop = asyncio.get_running_loop()
    fsm = StateMachine()
    hub = WatchHub(fsm, loop)
    role_events: asyncio.Queue[str] = asyncio.Queue()

    def on_state_change(old: str, new: str) -> None:  # tick thread
        loop.call_soon_threadsafe(role_events.put_nowait, new)

    # Built here, on the main thread (asyncio.run runs us there): pysyncobj's tick thread watches it.
    raft = RaftNode(self_addr=cfg.raft, peers=cfg.peers, data_dir=cfg.data_dir, secret=cfg.secret, fsm=fsm,
                    timing=cfg.timing, on_state_change=on_state_change, transport_class=transport_class(),
                    join=cfg.join, fsync=cfg.fsync)
    proposer = Proposer(raft)
    unsafe = os.environ.get("HAPLANE_UNSAFE_LOCAL_READS") == "1"
    if unsafe:
        log.warning("HAPLANE_UNSAFE_LOCAL_READS=1: reads are NOT linearizable (test-only broken mode)")
    store = Store(fsm, proposer, hub, unsafe_local_reads=unsafe)
    host, port = cfg.http.rsplit(":", 1)
    url = cfg.advertise_url or f"{'https' if cfg.tls else 'http'}://{host}:{port}"
    replica = Replica(name=cfg.name, http_url=url, raft=raft, store=store, auth=cfg.auth)
    replica.extra["role_events"] = role_events
    replica.extra["heartbeats"] = Heartbeats()
    replica.extra["peer_ssl"] = cfg.tls.peer_context() if cfg.tls else None
    replica.extra["chaos_reports_dir"] = os.path.abspath(cfg.chaos_reports) if cfg.chaos_reports else None
    replica.metrics.watch_store(replica)
    raft.on_applied(replica.metrics.raft.applied)
    app = make_app(replica)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, int(port), reuse_address=True, backlog=1024,
                       ssl_context=cfg.tls.server_context() if cfg.tls else None)
    await site.start()
    log.info("serving HTTP on %s, Raft on %s, peers %s", url, cfg.raft, ",".join(cfg.peers) or "-")
    metrics_runner = None
    if cfg.metrics_address:
        metrics_runner = await metrics_mod.serve_unauthenticated(cfg.metrics_address, replica.metrics.render)
        log.info("serving /metrics without a token on %s", cfg.metrics_address)

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    leadership = Leadership(replica, control_loops(replica))
    tasks = [asyncio.create_task(bootstrap(replica, cfg), name="bootstrap"),
             asyncio.create_task(leadership.run(), name="leadership")]
    for hook in hooks or []:
        tasks.append(asyncio.create_task(hook(replica)))
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await runner.cleanup()
        if metrics_runner is not None:
            await metrics_runner.cleanup()
        raft.destroy()


async def bootstrap(replica: Replica, cfg: ServerConfig) -> None:
    """Make sure the ``default`` namespace exists and this replica's member record is current.

    Runs on every replica; request ids make the namespace creation happen once cluster-wide.
    """
    store = replica.store
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ns = {"apiVersion": "v1", "kind": "Namespace",
          "metadata": {"name": "default", "uid": str(uuid.uuid4()), "creationTimestamp": now},
          "spec": {}, "status": {"phase": "Active"}}
    member = {"apiVersion": "haplane/v1", "kind": MEMBER_KIND,
              "metadata": {"name": cfg.name, "uid": str(uuid.uuid4()), "creationTimestamp": now},
              "spec": {"raft": cfg.raft, "http": replica.http_url}}
    pending = {"namespace", "member"}
    delay = 0.2
    while pending:
        try:
            if "namespace" in pending:
                try:
                    await store.write(commands.create("Namespace", "", ns, rid="bootstrap:namespace/default"))
                except AlreadyExists:
                    pass
                pending.discard("namespace")
            if "member" in pending:
                await _register_member(store, cfg.name, member)
                pending.discard("member")
        except HaplaneError as exc:
            log.debug("bootstrap: %s; retrying", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
    log.info("bootstrap done")


async def _register_member(store: Store, name: str, member: dict) -> None:
    while True:
        current = store.fsm.get(MEMBER_KIND, "", name)
        try:
            if current is None:
                await store.write(commands.create(MEMBER_KIND, "", member))
            elif current.get("spec") != member["spec"]:
                await store.write(commands.update(MEMBER_KIND, "", name, dict(current, spec=member["spec"]),
                                                  rv=current["metadata"]["resourceVersion"]))
            return
        except (AlreadyExists, Conflict):
            await store.sync()


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="haplane server")
    add_arguments(_parser)
    sys.exit(main_server(_parser.parse_args()))
