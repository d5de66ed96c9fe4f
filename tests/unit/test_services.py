"""Services: endpoint selection (pure), the proxy table (pure), round-robin, and retry of a refused
connection on the next endpoint (real sockets on loopback)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from haplane.control.endpoints import endpoint_subsets, host_port
from node_agent.proxy import Balancer, ServiceProxy, connect_first, proxy_table


def pod(name: str, *, ready: bool = True, labels: dict | None = None, host_ports: dict | None = None,
        phase: str = "Running", host_ip: str | None = "127.0.1.1") -> dict:
    status: dict = {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                    "containerStatuses": [{"name": "web", "hostPorts": {"http": 30001, "8080": 30001} if host_ports is None else host_ports}]}
    if host_ip:
        status["hostIP"] = host_ip
    return {"metadata": {"name": name, "namespace": "shop", "uid": f"u-{name}", "labels": labels or {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "web", "ports": [{"name": "http",
                                                                                  "containerPort": 8080}]}]},
            "status": status}


SVC = {"metadata": {"name": "web", "namespace": "shop", "uid": "s1"},
       "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 18080, "targetPort": "http"}]}}


@pytest.mark.parametrize("target, expected", [
    pytest.param("http", 30001, id="by-name"),
    pytest.param(8080, 30001, id="by-number"),
    pytest.param(9999, None, id="undeclared"),
])
def test_host_port(target: object, expected: int | None) -> None:
    assert host_port(pod("a"), target) == expected


@pytest.mark.parametrize("pods, ready, not_ready", [
    pytest.param([pod("a"), pod("b", host_ports={"http": 30002})], ["a", "b"], [], id="two-ready"),
    pytest.param([pod("a"), pod("b", ready=False)], ["a"], ["b"], id="not-ready-listed-apart"),
    pytest.param([pod("a", labels={"app": "db"})], [], [], id="selector-mismatch"),
    pytest.param([pod("a", phase="Failed")], [], [], id="terminal-pod"),
    pytest.param([pod("a", host_ip=None)], [], [], id="not-running-anywhere-yet"),
    pytest.param([pod("a", host_ports={})], [], [], id="port-not-published-yet"),
])
def test_endpoint_subsets(pods: list, ready: list, not_ready: list) -> None:
    subsets = endpoint_subsets(SVC, pods)
    got_ready = [a["targetRef"]["name"] for s in subsets for a in s.get("addresses", [])]
    got_not = [a["targetRef"]["name"] for s in subsets for a in s.get("notReadyAddresses", [])]
    assert sorted(got_ready) == ready and sorted(got_not) == not_ready
    for s in subsets:
        assert all(p["name"] == "http" and p["port"] in (30001, 30002) for p in s["ports"])


def test_proxy_table_uses_ready_addresses_and_node_port() -> None:
    svc = {"metadata": {"name": "web", "namespace": "shop"},
           "spec": {"ports": [{"name": "http", "port": 18080, "nodePort": 30080}]}}
    ep = {"subsets": [{"addresses": [{"ip": "127.0.1.2"}], "notReadyAddresses": [{"ip": "127.0.1.3"}],
                       "ports": [{"name": "http", "port": 30001}]}]}
    table = proxy_table([svc], {("shop", "web"): ep})
    assert table == {("shop", "web", 18080): [("127.0.1.2", 30001)], ("shop", "web", 30080): [("127.0.1.2", 30001)]}


def test_balancer_round_robin() -> None:
    b = Balancer([("a", 1), ("b", 2), ("c", 3)])
    firsts = [b.order()[0] for _ in range(6)]
    assert firsts == [("a", 1), ("b", 2), ("c", 3), ("a", 1), ("b", 2), ("c", 3)]
    assert sorted(b.order()) == sorted(b.backends)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def echo_server() -> tuple[asyncio.Server, int]:
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"echo:" + await r.read(100))
        await w.drain()
        w.close()
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_refused_connection_is_retried_on_the_next_endpoint() -> None:
    server, port = await echo_server()
    dead = ("127.0.0.1", free_port())  # nothing listens: connection refused
    async with server:
        reader, writer, used = await connect_first([dead, ("127.0.0.1", port)])
        assert used == ("127.0.0.1", port)
        writer.close()
        with pytest.raises(ConnectionError):
            await connect_first([dead])


async def test_proxy_forwards_and_skips_a_dead_endpoint() -> None:
    server, port = await echo_server()
    listen = free_port()
    proxy = ServiceProxy("127.0.0.1", client=None)  # type: ignore[arg-type] # informers are fed by hand
    proxy.services.items = {("shop", "web"): {"metadata": {"name": "web", "namespace": "shop"},
                                              "spec": {"ports": [{"name": "http", "port": listen}]}}}
    proxy.endpoints.items = {("shop", "web"): {"subsets": [{
        "addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "http", "port": port}]}, {
        "addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "http", "port": free_port()}]}]}}
    async with server:
        await proxy.sync()
        try:
            for i in range(4):  # round robin hits the dead endpoint half the time; no client sees it
                reader, writer = await asyncio.open_connection("127.0.0.1", listen)
                writer.write(f"ping{i}".encode())
                await writer.drain()
                assert await asyncio.wait_for(reader.read(100), 5) == f"echo:ping{i}".encode()
                writer.close()
        finally:
            await proxy.close()
