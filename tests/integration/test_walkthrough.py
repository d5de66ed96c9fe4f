"""deploy/README.md section 2, "A three-host walk-through", done for real so that the README and
deploy/systemd cannot silently rot.

The hosts are Linux network namespaces made here: a switch (one bridge) and a, b, c (replicas),
w1, w2 (workers) and admin, each with one veth into the bridge and the README's 10.0.0.x
address. Those addresses exist only inside these namespaces: every process and every check that
talks to them runs inside one (``ip netns exec``); this process never connects to them.

What comes from the README, not from this file: the make-secrets.sh command line (HOSTS,
ENDPOINTS), the workers' ``haplane certs generate`` line, the list of files each kind of host
gets in /etc/haplane, server.env of a and agent.env of w1 (b, c and w2 "alike", checked to follow
the same pattern), and both nftables rule sets. The replicas and agents run the ExecStart of
deploy/systemd's units with their env files; only the path prefixes /opt/haplane/bin,
/etc/haplane and /var/lib are moved to this run's directories. Differences from a real host,
all on purpose: no systemd (no User=haplane, no sandboxing), and no Docker engine inside a
namespace, so the agents get ``--runtime process`` through HAPLANE_AGENT_EXTRA_ARGS.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.polling import wait_for
from tests.systemd_units import parse_env_text, rewrite_path, unit_argv, unit_settings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
README = REPO / "deploy" / "README.md"
SYSTEMD = REPO / "deploy" / "systemd"
VENV_BIN = Path(sys.executable).parent  # where /opt/haplane/bin/haplane{,-agent} are here
IP = shutil.which("ip") or "/usr/sbin/ip"
NFT = shutil.which("nft") or "/usr/sbin/nft"

REPLICAS = {"a": "10.0.0.11", "b": "10.0.0.12", "c": "10.0.0.13"}
WORKERS = {"w1": "10.0.0.21", "w2": "10.0.0.22"}
HOSTS = {**REPLICAS, **WORKERS, "admin": "10.0.0.5"}
RAFT, API, LOGS = 7100, 7001, 10250

# The probes that run inside a namespace (``python -c``), each bounded by its own timeout.
CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()
    print("open")
except (socket.timeout, TimeoutError):
    print("timeout")
except ConnectionRefusedError:
    print("refused")
except OSError as e:
    print("error", e)
"""
HTTPS_GET = """
import ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[2])
print(urllib.request.urlopen(sys.argv[1], context=ctx, timeout=float(sys.argv[3])).read().decode())
"""


# ----------------------------------------------------------------------------- the README


def readme_section(number: int) -> str:
    text = README.read_text()
    start = text.index(f"\n## {number}. ")
    return text[start:text.index("\n## ", start + 1)]


def fenced_blocks(text: str) -> list[str]:
    return re.findall(r"^```[^\n]*\n(.*?)^```", text, re.M | re.S)


def the_block(blocks: list[str], needle: str) -> str:
    found = [b for b in blocks if needle in b]
    assert len(found) == 1, f"deploy/README.md section 2: expected one block with {needle!r}, found {len(found)}"
    return found[0]


def others(host: str) -> list[str]:
    return [addr for name, addr in REPLICAS.items() if name != host]


def server_env(host: str) -> dict[str, str]:
    """server.env on a replica, following the README's pattern for a."""
    ip = REPLICAS[host]
    return {"HAPLANE_NAME": host, "HAPLANE_RAFT": f"{ip}:{RAFT}",
            "HAPLANE_PEERS": ",".join(f"{o}:{RAFT}" for o in others(host)),
            "HAPLANE_HTTP": f"{ip}:{API}", "HAPLANE_ADVERTISE_URL": f"https://{ip}:{API}",
            "HAPLANE_EXTRA_ARGS": ""}


def agent_env(host: str) -> dict[str, str]:
    """agent.env on a worker, following the README's pattern for w1."""
    return {"HAPLANE_NODE_NAME": host, "HAPLANE_NODE_ADDRESS": WORKERS[host],
            "HAPLANE_SERVERS": ",".join(f"https://{ip}:{API}" for ip in REPLICAS.values()),
            "HAPLANE_AGENT_EXTRA_ARGS": ""}


def env_text(env: dict[str, str]) -> str:
    return "".join(f"{k}={v}\n" for k, v in env.items())


@dataclass
class Walkthrough:
    """Everything section 2 says, read from the README."""
    make_secrets: list[str]          # argv after the script: PKI HOSTS ENDPOINTS
    worker_cert: list[str]           # `haplane certs generate ...` for w1
    replica_files: list[str]
    worker_files: list[str]
    server_env_a: str
    agent_env_w1: str
    replica_rules: str               # for a
    worker_rules: str
    kubectl_on_worker: list[list[str]]  # the commands of "kubectl on a worker"

    def replica_rules_for(self, host: str) -> str:
        """b and c alike: the Raft rule admits the two other replicas."""
        return _RAFT_RULE.sub(lambda m: m.group(1) + ", ".join(others(host)) + m.group(3), self.replica_rules)


_RAFT_RULE = re.compile(rf"(tcp dport {RAFT} ip saddr \{{ )([^}}]*?)( \}} accept)")


def read_walkthrough() -> Walkthrough:
    section = readme_section(2)
    blocks = fenced_blocks(section)

    cmd = shlex.split(the_block(blocks, "deploy/make-secrets.sh").replace("\\\n", " "), comments=True)
    assert cmd[:2] == ["deploy/make-secrets.sh", "./pki"] and len(cmd) == 4, cmd

    m = re.search(r"`(haplane certs generate --dir \./pki --name w1 [^`]*)`", section)
    assert m, "deploy/README.md: no `haplane certs generate ... --name w1 ...` for the workers"
    worker_cert = shlex.split(m.group(1))[1:]
    assert worker_cert[worker_cert.index("--hosts") + 1] == WORKERS["w1"], worker_cert

    def file_list(kind: str) -> list[str]:
        m = re.search(rf"^\* {kind}: `([^`]*)`", section, re.M)
        assert m, f"deploy/README.md: no list of the files for the {kind}"
        return m.group(1).split()

    rules = [b for b in blocks if b.startswith("table inet haplane")]
    assert len(rules) == 2, f"deploy/README.md section 2: expected two nftables blocks, found {len(rules)}"
    (replica_rules,) = [b for b in rules if f"dport {RAFT}" in b]
    (worker_rules,) = [b for b in rules if f"dport {LOGS}" in b]
    m = _RAFT_RULE.search(replica_rules)
    assert m and [s.strip() for s in m.group(2).split(",")] == others("a"), replica_rules
    assert f"ip saddr {{ {', '.join(REPLICAS.values())} }} accept" in worker_rules, worker_rules

    kubectl_block = the_block(blocks, "haplane kubeconfig --server https://127.0.0.1:6443")
    kubectl_cmds = [shlex.split(line, comments=True) for line in kubectl_block.replace("\\\n", " ").splitlines()]
    kubectl_cmds = [c for c in kubectl_cmds if c]
    assert [c[:2] for c in kubectl_cmds] == [["haplane", "kubeconfig"], ["kubectl", "get"]], kubectl_cmds

    wt = Walkthrough(make_secrets=cmd[1:], worker_cert=worker_cert, replica_files=file_list("replicas"),
                     worker_files=file_list("workers"), server_env_a=the_block(blocks, "HAPLANE_NAME=a"),
                     agent_env_w1=the_block(blocks, "HAPLANE_NODE_NAME=w1"),
                     replica_rules=replica_rules, worker_rules=worker_rules, kubectl_on_worker=kubectl_cmds)
    # a and w1 as the README writes them follow the pattern that makes b, c and w2 "alike"
    # (as systemd reads them: no trailing comments in an EnvironmentFile)
    assert parse_env_text(wt.server_env_a) == server_env("a"), wt.server_env_a
    assert parse_env_text(wt.agent_env_w1) == agent_env("w1"), wt.agent_env_w1
    return wt


# ----------------------------------------------------------------------------- the lab


def run(*argv: str, timeout: float = 30) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{shlex.join(argv)}: rc={proc.returncode}\n{proc.stdout}{proc.stderr}"
    return proc.stdout


def clean_env() -> dict[str, str]:
    """This environment without HAPLANE_* (a stray HAPLANE_TOKEN or HAPLANE_CA would change the CLI)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("HAPLANE")}


@dataclass
class Lab:
    root: Path
    tag: str = field(default_factory=lambda: f"hw{os.getpid()}")
    namespaces: list[str] = field(default_factory=list)
    switch_links: list[str] = field(default_factory=list)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def ns(self, host: str) -> str:
        return f"{self.tag}-{host}"

    def host_dir(self, host: str) -> Path:
        return self.root / host

    def etc(self, host: str) -> Path:
        return self.host_dir(host) / "etc-haplane"

    def var_lib(self, host: str) -> Path:
        return self.host_dir(host) / "var-lib"

    def log(self, host: str) -> Path:
        return self.host_dir(host) / "output.log"

    # --- network

    def build(self) -> None:
        switch, bridge = self.ns("sw"), f"br{os.getpid()}"
        self._add_ns(switch)
        run(IP, "-n", switch, "link", "add", bridge, "type", "bridge")
        run(IP, "-n", switch, "link", "set", bridge, "up")
        for host, addr in HOSTS.items():
            ns, peer = self.ns(host), f"v{os.getpid()}{host}"  # IFNAMSIZ: at most 15 characters
            self._add_ns(ns)
            # created inside the host and the switch: nothing of this lab ever touches the root namespace
            run(IP, "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", peer, "netns", switch)
            self.switch_links.append(peer)
            run(IP, "-n", switch, "link", "set", peer, "master", bridge, "up")
            run(IP, "-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
            run(IP, "-n", ns, "link", "set", "eth0", "up")
            self.host_dir(host).mkdir(parents=True)

    def _add_ns(self, ns: str) -> None:
        run(IP, "netns", "add", ns)
        self.namespaces.append(ns)
        run(IP, "-n", ns, "link", "set", "lo", "up")

    # --- processes

    def start(self, host: str, argv: list[str]) -> None:
        with open(self.log(host), "ab") as out:
            self.procs[host] = subprocess.Popen(
                [IP, "netns", "exec", self.ns(host), *argv], cwd=self.host_dir(host), env=clean_env(),
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    async def run_in(self, host: str, *argv: str, timeout: float = 20) -> tuple[int, str, str]:
        """``argv`` inside ``host``'s namespace (cwd: its directory), killed after ``timeout``."""
        proc = await asyncio.create_subprocess_exec(
            IP, "netns", "exec", self.ns(host), *argv, cwd=self.host_dir(host), env=clean_env(),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            raise AssertionError(f"on {host}: {shlex.join(argv)} took more than {timeout}s") from None
        return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")

    async def admin(self, *args: str, timeout: float = 20) -> tuple[int, str, str]:
        """The README's ``haplane --config pki/client.json ...`` on the admin machine."""
        return await self.run_in("admin", str(VENV_BIN / "haplane"), "--config", "pki/client.json", *args,
                                 timeout=timeout)

    async def connect(self, host: str, addr: str, port: int, timeout: float = 1.5) -> str:
        rc, out, err = await self.run_in(host, sys.executable, "-c", CONNECT, addr, str(port), str(timeout),
                                         timeout=timeout + 10)
        assert rc == 0, err
        return out.strip()

    def assert_running(self) -> None:
        """Every service still up (systemd would restart a dead one; here it means a broken step)."""
        dead = [host for host, proc in self.procs.items() if proc.poll() is not None]
        assert not dead, f"{', '.join(dead)} exited\n{self.logs()}"

    def logs(self, lines: int = 25) -> str:
        parts = []
        for host in self.procs:
            text = self.log(host).read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {host} (rc={self.procs[host].poll()})\n" + "\n".join(text))
        return "\n".join(parts)

    # --- teardown: only what this lab started, by pid; then the links and namespaces

    def stop(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 8
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        # The agents leave their pods running on exit (so that a restarted agent adopts them);
        # the process runtime's records name them: pid (its own process group) and start time.
        for host in WORKERS:
            for record in self.var_lib(host).glob("**/record.json"):
                with contextlib.suppress(OSError, ValueError, KeyError):
                    rec = json.loads(record.read_text())
                    stat = Path(f"/proc/{rec['pid']}/stat").read_text()
                    if int(stat.rsplit(")", 1)[1].split()[19]) == rec["pid_start"]:
                        os.killpg(rec["pid"], signal.SIGKILL)

    def destroy(self) -> None:
        switch = self.ns("sw")
        for link in self.switch_links:  # one end gone, the veth pair is gone
            subprocess.run([IP, "-n", switch, "link", "del", link], capture_output=True, timeout=30)
        for ns in reversed(self.namespaces):
            subprocess.run([IP, "netns", "del", ns], capture_output=True, timeout=30)
        left = subprocess.run([IP, "netns", "list"], capture_output=True, text=True, timeout=30).stdout
        assert not any(ns in left.split() for ns in self.namespaces), left


# ----------------------------------------------------------------------------- set-up steps


def install_files(src: Path, dest: Path, files: dict[str, str]) -> None:
    """Copy to /etc/haplane: directory 0700, files 0600 (``files``: name in src -> name in dest)."""
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name, target in files.items():
        assert (src / name).is_file(), f"{name} is not in the PKI directory: {sorted(os.listdir(src))}"
        shutil.copyfile(src / name, dest / target)
        (dest / target).chmod(0o600)


def service_argv(lab: Lab, host: str, unit_name: str, env_text_: str) -> list[str]:
    """Install a unit on ``host`` as the README says: its env file where EnvironmentFile= says,
    StateDirectory= made (systemd does that), and ExecStart with this run's paths."""
    unit = SYSTEMD / unit_name
    paths = {"/opt/haplane/bin": str(VENV_BIN), "/etc/haplane": str(lab.etc(host)),
             "/var/lib": str(lab.var_lib(host))}
    (env_file,) = unit_settings(unit, "EnvironmentFile")
    env_path = Path(rewrite_path(env_file, paths))
    assert env_path.parent == lab.etc(host), env_file
    env_path.write_text(env_text_)
    for state in unit_settings(unit, "StateDirectory"):
        (lab.var_lib(host) / state).mkdir(mode=0o700, parents=True, exist_ok=True)
    argv = unit_argv(unit, env_path, paths)
    assert all(not a.startswith(("/etc/haplane", "/opt/haplane", "/var/lib/")) for a in argv), argv
    return argv


def make_secrets(lab: Lab, wt: Walkthrough) -> Path:
    """The README's commands on the admin machine: make-secrets.sh, then each worker's certificate."""
    admin = lab.host_dir("admin")
    pki_arg, hosts, endpoints = wt.make_secrets
    pki = admin / pki_arg
    env = {**clean_env(), "HAPLANE": f"{sys.executable} -m haplane"}
    proc = subprocess.run([str(REPO / "deploy" / "make-secrets.sh"), str(pki), hosts, endpoints],
                          cwd=admin, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for worker, addr in WORKERS.items():
        argv = list(wt.worker_cert)
        argv[argv.index("--name") + 1] = worker
        argv[argv.index("--hosts") + 1] = addr
        argv[argv.index("--dir") + 1] = str(pki)
        proc = subprocess.run([sys.executable, "-m", "haplane", *argv], cwd=admin, env=clean_env(),
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return pki


def apply_rules(lab: Lab, host: str, rules: str) -> None:
    path = lab.host_dir(host) / "haplane.nft"
    path.write_text(rules)
    run(IP, "netns", "exec", lab.ns(host), NFT, "-f", str(path))
    listed = run(IP, "netns", "exec", lab.ns(host), NFT, "list", "table", "inet", "haplane")
    assert "drop" in listed, listed


# ----------------------------------------------------------------------------- the test


async def test_the_three_host_walkthrough_of_deploy_readme(tmp_path: Path) -> None:
    # Fail, never skip, without the tools (.ci/run installs them).
    assert os.access(IP, os.X_OK), f"{IP} is missing: apt-get install iproute2"
    assert os.access(NFT, os.X_OK), f"{NFT} is missing: apt-get install nftables"
    wt = read_walkthrough()
    lab = Lab(tmp_path)
    try:
        lab.build()
        pki = make_secrets(lab, wt)

        for host in REPLICAS:
            install_files(pki, lab.etc(host), {f: f for f in wt.replica_files})
            apply_rules(lab, host, wt.replica_rules_for(host))
            env = wt.server_env_a if host == "a" else env_text(server_env(host))
            argv = service_argv(lab, host, "haplane-server.service", env)
            lab.start(host, argv)
        for host in WORKERS:
            install_files(pki, lab.etc(host), {**{f: f for f in wt.worker_files},
                                               f"{host}.pem": "agent.pem", f"{host}-key.pem": "agent-key.pem"})
            apply_rules(lab, host, wt.worker_rules)
            env = wt.agent_env_w1 if host == "w1" else env_text(agent_env(host))
            # No Docker engine in a namespace: the process runtime. The unit says `--runtime docker`
            # and then $HAPLANE_AGENT_EXTRA_ARGS; argparse keeps the last value given.
            env = re.sub(r"^HAPLANE_AGENT_EXTRA_ARGS=.*$", "HAPLANE_AGENT_EXTRA_ARGS=--runtime process", env,
                         count=1, flags=re.M)
            argv = service_argv(lab, host, "haplane-agent.service", env)
            assert argv[argv.index("--runtime") + 1] == "docker" and argv[-2:] == ["--runtime", "process"], argv
            lab.start(host, argv)

        # **Check:** three members, one leader
        async def cluster_status() -> dict | None:
            lab.assert_running()
            rc, out, _ = await lab.admin("cluster", "status", "-o", "json", "--request-timeout", "3")
            if rc != 0:
                return None
            status = json.loads(out)
            members = status.get("members") or []
            ok = (status.get("leader") in REPLICAS and {m["name"] for m in members} == set(REPLICAS)
                  and sorted(m.get("role") for m in members) == ["follower", "follower", "leader"])
            return status if ok else None

        status = await wait_for(cluster_status, 60, "three members and a leader (cluster status from admin)",
                                interval=0.5, context=lab.logs)
        assert {m["http"] for m in status["members"]} == {f"https://{ip}:{API}" for ip in REPLICAS.values()}
        rc, out, err = await lab.admin("cluster", "members")
        assert rc == 0 and all(f"{ip}:{RAFT}" in out for ip in REPLICAS.values()), out + err

        # `get nodes`: w1 and w2 Ready
        async def nodes_ready() -> bool:
            lab.assert_running()
            rc, out, _ = await lab.admin("get", "nodes", "-o", "json", "--request-timeout", "3")
            if rc != 0:
                return False
            ready = {n["metadata"]["name"] for n in json.loads(out).get("items", [])
                     if any(c.get("type") == "Ready" and c.get("status") == "True"
                            for c in (n.get("status") or {}).get("conditions") or [])}
            return ready == set(WORKERS)

        await wait_for(nodes_ready, 40, "w1 and w2 Ready (get nodes from admin)", interval=0.5, context=lab.logs)

        # kubectl on w1, through its agent's API load balancer on 127.0.0.1:6443 (the replicas'
        # certificate names 127.0.0.1, as the README's HOSTS say), with the README's commands.
        shutil.copyfile(pki / "admin_token", lab.host_dir("w1") / "admin_token")
        make_kubeconfig, get_nodes = wt.kubectl_on_worker
        kubeconfig = lab.host_dir("w1") / "kube-config"
        argv = [rewrite_path(a, {"/etc/haplane": str(lab.etc("w1"))}) for a in make_kubeconfig[1:]]
        argv = [(pki / "admin_token").read_text().strip() if a == "$(cat admin_token)" else
                str(kubeconfig) if a == "~/.kube/config" else a for a in argv]
        rc, out, err = await lab.run_in("w1", str(VENV_BIN / "haplane"), *argv)
        assert rc == 0, out + err

        async def kubectl_nodes() -> str | None:
            lab.assert_running()
            rc, out, _ = await lab.run_in("w1", str(VENV_BIN / "kubectl"), "--kubeconfig", str(kubeconfig),
                                          "--cache-dir", str(lab.host_dir("w1") / "kube-cache"),
                                          *get_nodes[1:], "-o", "name", timeout=30)
            return out if rc == 0 else None

        out = await wait_for(kubectl_nodes, 20, "kubectl get nodes on w1 through 127.0.0.1:6443", interval=0.5,
                             context=lab.logs)
        assert sorted(out.split()) == ["node/w1", "node/w2"], out

        # A pod on w1, and its logs through the replicas (HTTPS to w1's log server, w1.pem).
        marker = f"walkthrough-{uuid.uuid4().hex[:12]}"
        manifest = lab.host_dir("admin") / "pod.yaml"
        manifest.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "walkthrough", "namespace": "default"},
            "spec": {"nodeName": "w1", "terminationGracePeriodSeconds": 1, "containers": [{
                "name": "main", "image": "busybox:local",
                "command": ["sh", "-c", f"echo {marker}; exec sleep 600"]}]}}))
        rc, out, err = await lab.admin("apply", "-f", str(manifest))
        assert rc == 0, out + err

        async def logged() -> str | None:
            lab.assert_running()
            rc, out, err = await lab.admin("logs", "walkthrough", "--request-timeout", "5")
            return out if rc == 0 and marker in out else None

        await wait_for(logged, 40, f"{marker} in `haplane logs walkthrough` from admin", interval=0.5,
                       context=lab.logs)

        # The firewall does what the README says (a dropped SYN: the connect times out).
        probes = {
            # Raft: the other replicas only, every pair of them.
            **{(src, dst, RAFT): "open" for src in REPLICAS for dst in REPLICAS if src != dst},
            ("w1", "a", RAFT): "timeout", ("admin", "a", RAFT): "timeout",
            # The API: clients, agents and the replicas.
            ("w1", "a", API): "open", ("admin", "b", API): "open", ("c", "a", API): "open",
            # The log server: the replicas only.
            ("admin", "w1", LOGS): "timeout", ("w2", "w1", LOGS): "timeout",
            ("a", "w1", LOGS): "open", ("c", "w2", LOGS): "open",
        }
        results = await asyncio.gather(*(lab.connect(src, HOSTS[dst], port, 1.5 if want == "timeout" else 5)
                                         for (src, dst, port), want in probes.items()))
        got = {f"{src} -> {dst}:{port}": r for ((src, dst, port), r) in zip(probes, results, strict=True)}
        assert got == {f"{src} -> {dst}:{port}": want for (src, dst, port), want in probes.items()}
        rc, out, err = await lab.run_in("a", sys.executable, "-c", HTTPS_GET,
                                        f"https://{WORKERS['w1']}:{LOGS}/healthz", str(lab.etc("a") / "ca.pem"),
                                        "5")
        assert rc == 0 and out.strip() == "ok", out + err
        lab.assert_running()
    finally:
        try:
            lab.stop()
        finally:
            lab.destroy()
