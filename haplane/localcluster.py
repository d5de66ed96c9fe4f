"""A cluster of real haplane processes on loopback, laid out in one data directory.

Used by ``haplane up`` (the laptop cluster), by the integration tests and by the chaos
harness. It knows the layout (ports, node addresses, secrets, tokens) and how to start,
signal and restart processes; it knows nothing about faults beyond signals.

Layout for ``base_port`` P: replica ``rI`` serves HTTP on P+I and Raft on P+100+I; agent
``nI`` has the node address 127.0.1.I (``node_net`` moves it, so that clusters
running side by side do not share node addresses). With ``api_lb`` an API load balancer
(:mod:`haplane.apilb`, member ``lb``) listens on 127.0.0.1:P and every agent runs one on
its node address, port 6443. Everything lives under ``data_dir``: ``secret``,
``tokens``, ``client.json``, ``cluster.json``, ``rI/`` (journal, dump, log), ``nI/``, ``lb/``, and
``reports/``: the chaos reports the dashboard lists (``haplane chaos run --report DATA/reports/NAME``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any

HOST = "127.0.0.1"
AGENT_LB_PORT = 6443  # where each agent's API load balancer listens on its node address (k3s's port)


@dataclass
class Member:
    role: str  # "replica" | "agent" | "lb"
    name: str
    http: str | None = None  # replica, lb: HOST:PORT
    raft: str | None = None
    address: str | None = None  # agent: node address
    pid: int | None = None
    argv: list[str] = field(default_factory=list)
    scheme: str = "http"  # replica: "https" when the cluster serves TLS

    @property
    def url(self) -> str | None:
        return f"{self.scheme}://{self.http}" if self.http else None


class LocalCluster:
    def __init__(self, data_dir: str, *, replicas: int = 3, agents: int = 0, runtime: str = "process",
                 base_port: int = 7000, python: str = sys.executable, env: dict[str, str] | None = None,
                 hollow_count: int = 0, stop_on_exit: bool = True, node_net: str = "127.0.1",
                 tls_dir: str | None = None, api_lb: bool = False) -> None:
        self.data_dir = os.path.abspath(data_dir)
        # With ``tls_dir`` the replicas serve HTTPS with certificates of the CA kept there (made by
        # haplane.certs when missing) and the agents trust it and serve their logs over HTTPS.
        self.tls_dir = os.path.abspath(tls_dir) if tls_dir else None
        self.runtime = runtime
        self.hollow_count = hollow_count  # >0: each agent process runs this many hollow nodes
        # Agents stopped with SIGTERM remove their containers (SIGKILL leaves them, as a crash would).
        self.stop_on_exit = stop_on_exit
        self.base_port = base_port
        self.python = python
        self.env = dict(os.environ, **(env or {}))
        self.procs: dict[str, subprocess.Popen] = {}
        self.members: dict[str, Member] = {}
        for i in range(1, replicas + 1):
            self.members[f"r{i}"] = Member("replica", f"r{i}", http=f"{HOST}:{base_port + i}",
                                           raft=f"{HOST}:{base_port + 100 + i}", scheme=self.scheme)
        for i in range(1, agents + 1):
            self.members[f"n{i}"] = Member("agent", f"n{i}", address=f"{node_net}.{i}")
        self.api_lb = api_lb
        if api_lb:
            self.members["lb"] = Member("lb", "lb", http=f"{HOST}:{base_port}", scheme=self.scheme)
        self.admin_token = ""

    # ------------------------------------------------------------- layout
    @property
    def scheme(self) -> str:
        return "https" if self.tls_dir else "http"

    @property
    def ca_file(self) -> str | None:
        """The CA that verifies the replicas' certificates (None without TLS)."""
        return os.path.join(self.tls_dir, "ca.pem") if self.tls_dir else None

    @property
    def replicas(self) -> list[Member]:
        return [m for m in self.members.values() if m.role == "replica"]

    @property
    def agents(self) -> list[Member]:
        return [m for m in self.members.values() if m.role == "agent"]

    @property
    def endpoints(self) -> list[str]:
        return [m.url for m in self.replicas if m.url]

    @property
    def lb_url(self) -> str | None:
        """The API load balancer's URL (None without ``api_lb``)."""
        lb = self.members.get("lb")
        return lb.url if lb is not None else None

    def agent_lb_url(self, name: str) -> str | None:
        """The URL of agent ``name``'s API load balancer (None without ``api_lb``)."""
        m = self.members[name]
        return f"{self.scheme}://{m.address}:{AGENT_LB_PORT}" if self.api_lb else None

    def server_hosts(self) -> list[str]:
        """Every address the replicas' certificate must name: theirs, and the load balancers'
        (TLS passes through them, so kubectl checks the certificate against their address)."""
        hosts = [HOST, "localhost"]
        if self.api_lb:
            hosts += [str(m.address) for m in self.agents]
        return hosts

    def path(self, *parts: str) -> str:
        return os.path.join(self.data_dir, *parts)

    def prepare(self) -> None:
        """Create the data dir, the cluster secret and the tokens (kept if they exist: resume)."""
        os.makedirs(self.data_dir, exist_ok=True)
        os.chmod(self.data_dir, 0o700)
        if not os.path.exists(self.path("secret")):
            _write_private(self.path("secret"), secrets.token_urlsafe(32) + "\n")
        if not os.path.exists(self.path("tokens")):
            # Hex: a token must never start with "-", or `--token TOKEN` reads as an option.
            lines = [f"{secrets.token_hex(24)},{user},{role}"
                     for user, role in (("admin", "admin"), ("node", "node"), ("viewer", "viewer"))]
            _write_private(self.path("tokens"), "\n".join(lines) + "\n")
        self.admin_token = self.token("admin")
        if self.tls_dir:
            from haplane.certs import covers, generate

            cert = os.path.join(self.tls_dir, "server.pem")
            if not os.path.exists(cert) or not covers(cert, self.server_hosts()):
                generate(self.tls_dir, self.server_hosts())
        client: dict[str, Any] = {"endpoints": self.endpoints, "token": self.admin_token, "ca": self.ca_file}
        if self.lb_url:
            client["loadBalancer"] = self.lb_url
        _write_private(self.path("client.json"), json.dumps(client, indent=2))
        for m in self.members.values():
            os.makedirs(self.path(m.name), exist_ok=True)

    def token(self, role: str) -> str:
        with open(self.path("tokens"), encoding="utf-8") as f:
            for line in f:
                parts = line.strip().split(",")
                if len(parts) == 3 and parts[2] == role:
                    return parts[0]
        raise KeyError(role)

    def replica_argv(self, m: Member) -> list[str]:
        peers = ",".join(r.raft for r in self.replicas if r.raft and r.name != m.name)
        return [self.python, "-m", "haplane.server", "--name", m.name, "--raft", str(m.raft), "--peers", peers,
                "--http", str(m.http), "--data-dir", self.path(m.name),
                "--cluster-secret-file", self.path("secret"), "--tokens-file", self.path("tokens"),
                "--chaos-reports", self.path("reports")] + self._replica_tls_argv()

    def _replica_tls_argv(self) -> list[str]:
        if not self.tls_dir:
            return []
        return ["--tls-cert", os.path.join(self.tls_dir, "server.pem"),
                "--tls-key", os.path.join(self.tls_dir, "server-key.pem"), "--tls-ca", str(self.ca_file)]

    def _agent_tls_argv(self, m: Member) -> list[str]:
        """Agents trust the cluster's CA and serve logs over HTTPS with a certificate for their address."""
        if not self.tls_dir:
            return []
        from haplane.certs import generate

        paths = generate(self.tls_dir, [str(m.address)], name=f"agent-{m.name}")
        return ["--ca", paths.ca, "--tls-cert", paths.cert, "--tls-key", paths.key]

    def lb_argv(self, m: Member) -> list[str]:
        return [self.python, "-m", "haplane.apilb", "--listen", str(m.http), "--servers", ",".join(self.endpoints)] \
            + (["--ca", self.ca_file] if self.ca_file else [])

    def agent_argv(self, m: Member) -> list[str]:
        token_file = self.path(m.name, "token")
        if not os.path.exists(token_file):
            _write_private(token_file, self.token("node") + "\n")
        return [self.python, "-m", "node_agent.agent", "--name", m.name, "--address", str(m.address),
                "--servers", ",".join(self.endpoints), "--token-file", token_file, "--runtime", self.runtime,
                "--state-dir", self.path(m.name)] + (["--hollow-count", str(self.hollow_count)] if self.hollow_count else []) \
            + (["--stop-on-exit"] if self.stop_on_exit else []) + self._agent_tls_argv(m) \
            + (["--api-lb", f"{m.address}:{AGENT_LB_PORT}"] if self.api_lb else [])

    # ---------------------------------------------------------- processes
    def start(self, name: str) -> Member:
        m = self.members[name]
        if name in self.procs and self.procs[name].poll() is None:
            return m
        m.argv = {"replica": self.replica_argv, "agent": self.agent_argv, "lb": self.lb_argv}[m.role](m)
        log = open(self.path(name, "log"), "ab")  # noqa: SIM115 - owned by the child
        self.procs[name] = subprocess.Popen(m.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                            start_new_session=True)
        log.close()
        m.pid = self.procs[name].pid
        self.write_cluster_json()
        return m

    def start_all(self) -> None:
        self.prepare()
        for m in self.replicas:
            self.start(m.name)
        for m in self.agents:
            self.start(m.name)
        if "lb" in self.members:
            self.start("lb")

    def signal(self, name: str, sig: int) -> None:
        proc = self.procs.get(name)
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, sig)

    def kill(self, name: str) -> None:
        """SIGKILL and reap."""
        proc = self.procs.get(name)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            proc.wait(timeout=10)

    def stop(self, name: str, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time."""
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def pause(self, name: str) -> None:
        self.signal(name, signal.SIGSTOP)

    def resume(self, name: str) -> None:
        self.signal(name, signal.SIGCONT)

    def alive(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def wipe(self, name: str) -> None:
        """Delete a stopped member's data (journal and dump) but keep its log file."""
        assert not self.alive(name), "stop the member before wiping it"
        d = self.path(name)
        for entry in os.listdir(d):
            if entry != "log":
                p = os.path.join(d, entry)
                shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)

    def stop_all(self) -> None:
        for m in reversed(list(self.members.values())):
            if m.role in ("agent", "lb"):
                self.stop(m.name)
        for m in self.replicas:
            self.stop(m.name)

    def write_cluster_json(self) -> None:
        doc: dict[str, Any] = {
            "dataDir": self.data_dir, "runtime": self.runtime, "adminToken": self.admin_token,
            "clientConfig": self.path("client.json"), "endpoints": self.endpoints,
            "members": [dict(asdict(m), argv=None) for m in self.members.values()],
        }
        _write_private(self.path("cluster.json"), json.dumps(doc, indent=2))

    # ------------------------------------------------------------- health
    def ssl_context(self) -> ssl.SSLContext | None:
        """Verifies the replicas' certificates (None without TLS)."""
        return ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None

    def get_json(self, name: str, path: str, timeout: float = 2.0) -> Any:
        """GET a replica's path with the admin token (blocking; for harness code)."""
        m = self.members[name]
        req = urllib.request.Request(f"{m.url}{path}", headers={"Authorization": f"Bearer {self.admin_token}"})
        with urllib.request.urlopen(req, timeout=timeout, context=self.ssl_context()) as resp:
            return json.loads(resp.read())

    def wait_ready(self, timeout: float = 30.0, names: list[str] | None = None, not_leader: str | None = None,
                   request_timeout: float = 1.0) -> str:
        """Wait until the named replicas (default: all alive) agree on a leader (other than
        ``not_leader``, when given); return its name. Each probe waits ``request_timeout`` s."""
        deadline = time.monotonic() + timeout
        last_err = ""
        while time.monotonic() < deadline:
            live = names or [m.name for m in self.replicas if self.alive(m.name)]
            try:
                leaders = set()
                for name in live:
                    st = self.get_json(name, "/cluster/self", timeout=request_timeout)
                    leaders.add(st.get("leader"))
                    urllib.request.urlopen(f"{self.members[name].url}/readyz", timeout=request_timeout,
                                           context=self.ssl_context()).read()
                excluded = self.members[not_leader].raft if not_leader else None
                if len(leaders) == 1 and None not in leaders and excluded not in leaders:
                    raft_leader = leaders.pop()
                    for m in self.replicas:
                        if m.raft == raft_leader:
                            return m.name
            except (OSError, urllib.error.URLError, ValueError) as exc:
                last_err = str(exc)
            time.sleep(0.1)
        raise TimeoutError(f"cluster not ready after {timeout}s: {last_err}")


def _write_private(path: str, text: str) -> None:
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(path + ".tmp", path)
