"""Cutting node agents off from the replicas with real dropped packets (iptables, loopback only).

An agent of the chaos cluster connects to the API *from its node address* (``haplane-agent
--source-address``), so its traffic is ``<node address> <-> 127.0.0.1:<replica HTTP port>``
on ``lo``. :class:`AgentCut` owns one iptables chain per run (``HPCHAOS-<pid>-<n>``), jumped to
from ``OUTPUT`` (every loopback packet passes ``OUTPUT`` once); cutting an agent adds two DROP
rules to it — packets from the node address to the replicas' HTTP ports, and packets from
those ports back to the node address — so new connections time out on SYN and established
ones (the agent's watch, a heartbeat in flight) go silent, as with a pulled cable. The pods
on that node are untouched: they keep running.

Safety: every rule is restricted to ``-o lo`` and to addresses inside 127.0.0.0/8 (checked
before anything is run); nothing else is ever touched. :meth:`close` removes the jump and the
chain and is called on every exit path of a run (and, as a last resort, at interpreter exit);
:meth:`open` first sweeps chains left behind by harness processes that no longer exist (a
SIGKILLed run). Every iptables call has a timeout.
"""

from __future__ import annotations

import asyncio
import atexit
import ipaddress
import itertools
import logging
import os
import re
import subprocess
from collections.abc import Callable, Iterable

log = logging.getLogger(__name__)

PREFIX = "HPCHAOS"
CALL_TIMEOUT = 10.0
_SEQ = itertools.count(1)
_CHAIN_RE = re.compile(rf"^-N ({PREFIX}-(\d+)-\d+)$")


def chain_name(pid: int, n: int) -> str:
    return f"{PREFIX}-{pid}-{n}"  # iptables allows 28 characters: ample


def _loopback(address: str) -> str:
    ip = ipaddress.ip_address(address)
    if ip.version != 4 or not ip.is_loopback:
        raise ValueError(f"{address} is not in 127.0.0.0/8: the harness only ever cuts loopback traffic")
    return str(ip)


def cut_rules(chain: str, address: str, host: str, ports: Iterable[int]) -> list[list[str]]:
    """The iptables arguments that drop all TCP between ``address`` and ``host:ports``, both
    directions, on ``lo`` only. Pure; raises ValueError for a non-loopback address or no ports."""
    address, host = _loopback(address), _loopback(host)
    ports = sorted({int(p) for p in ports})
    if not ports or len(ports) > 15:
        raise ValueError("between 1 and 15 ports (iptables multiport)")
    plist = ",".join(map(str, ports))
    common = ["-o", "lo", "-p", "tcp"]
    return [
        ["-A", chain, *common, "-s", f"{address}/32", "-d", f"{host}/32", "-m", "multiport", "--dports", plist,
         "-j", "DROP"],
        ["-A", chain, *common, "-s", f"{host}/32", "-d", f"{address}/32", "-m", "multiport", "--sports", plist,
         "-j", "DROP"],
    ]


def stale_chains(listing: str, alive: Callable[[int], bool]) -> list[str]:
    """Chains of this harness (in ``iptables -S`` output) whose owning process is not alive."""
    out = []
    for line in listing.splitlines():
        m = _CHAIN_RE.match(line.strip())
        if m and not alive(int(m.group(2))):
            out.append(m.group(1))
    return out


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run(args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    """One iptables call (blocking; ``-w`` waits for the xtables lock)."""
    proc = subprocess.run(["iptables", "-w", "5", *args], capture_output=True, text=True, timeout=CALL_TIMEOUT)
    if check and proc.returncode != 0:
        raise RuntimeError(f"iptables {' '.join(args)}: {proc.stderr.strip() or proc.returncode}")
    return proc


def _remove_chain(chain: str) -> None:
    """Unhook and delete ``chain`` (idempotent)."""
    while _run(["-D", "OUTPUT", "-j", chain], check=False).returncode == 0:
        pass
    _run(["-F", chain], check=False)
    _run(["-X", chain], check=False)


class AgentCut:
    """This run's iptables chain; see the module docstring. Use from one event loop."""

    def __init__(self, host: str, ports: Iterable[int]) -> None:
        self.host = _loopback(host)
        self.ports = sorted(ports)
        self.chain = chain_name(os.getpid(), next(_SEQ))
        self.cut: set[str] = set()
        self._open = False

    async def _iptables(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(_run, list(args), check)

    async def open(self) -> None:
        """Sweep stale chains of dead harness runs, then create and hook this run's chain."""
        if self._open:
            return
        listing = (await self._iptables("-S")).stdout
        for chain in stale_chains(listing, _pid_alive):
            log.warning("removing iptables chain %s left by a dead chaos run", chain)
            await asyncio.to_thread(_remove_chain, chain)
        await self._iptables("-N", self.chain)
        self._open = True
        atexit.register(self._close_sync)
        await self._iptables("-I", "OUTPUT", "1", "-j", self.chain)

    async def isolate(self, address: str) -> None:
        """Drop every packet between ``address`` and the replicas' HTTP ports (idempotent)."""
        if address in self.cut:
            return
        rules = cut_rules(self.chain, address, self.host, self.ports)  # validates before touching anything
        await self.open()
        for rule in rules:
            await self._iptables(*rule)
        self.cut.add(address)

    async def heal(self) -> None:
        """Remove every cut (the chain stays, empty)."""
        if self._open:
            await self._iptables("-F", self.chain)
        self.cut.clear()

    async def close(self) -> None:
        """Remove the chain and its jump (idempotent; safe to call on any exit path)."""
        await asyncio.to_thread(self._close_sync)

    def _close_sync(self) -> None:
        if not self._open:
            return
        _remove_chain(self.chain)
        self._open = False
        self.cut.clear()
        atexit.unregister(self._close_sync)
