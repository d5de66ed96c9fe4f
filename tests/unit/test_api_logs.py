"""Where a replica fetches a pod's log from: the Node's published log endpoint (pure)."""

from __future__ import annotations

import pytest

from haplane.api.logs import agent_endpoint
from haplane.errors import Unavailable


def node(endpoint: dict | None, addresses: list[dict] | None = None) -> dict:
    status: dict = {"addresses": addresses if addresses is not None else
                    [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "127.0.1.1"}]}
    if endpoint is not None:
        status["daemonEndpoints"] = {"kubeletEndpoint": endpoint}
    return {"metadata": {"name": "n1"}, "status": status}


@pytest.mark.parametrize(("endpoint", "https_only", "url"), [
    pytest.param({"Port": 10250}, False, "http://127.0.1.1:10250", id="default: http on the InternalIP"),
    pytest.param({"Port": 10251, "Address": "172.31.250.1"}, False, "http://172.31.250.1:10251", id="own address"),
    pytest.param({"Port": 10250, "Scheme": "https"}, False, "https://127.0.1.1:10250", id="https"),
    pytest.param({"Port": 10250, "Scheme": "https"}, True, "https://127.0.1.1:10250", id="https, tls replica"),
    pytest.param({"Port": 10250, "Address": "::1", "Scheme": "https"}, True, "https://[::1]:10250", id="ipv6"),
])
def test_the_agent_endpoint(endpoint: dict, https_only: bool, url: str) -> None:
    assert agent_endpoint(node(endpoint), https_only=https_only) == url


@pytest.mark.parametrize(("n", "https_only", "message"), [
    pytest.param(node(None), False, "does not publish a log endpoint", id="no endpoint"),
    pytest.param(node({"Port": 10250}, []), False, "does not publish a log endpoint", id="no address"),
    pytest.param(node({"Port": 10250}), True, "serves logs over plain HTTP and this cluster uses TLS",
                 id="plain agent, tls replica: no token in clear"),
    pytest.param(node({"Port": 10250, "Scheme": "http"}), True, "--tls-cert and --tls-key", id="explicit http"),
])
def test_no_endpoint_is_a_clear_503(n: dict, https_only: bool, message: str) -> None:
    with pytest.raises(Unavailable, match=message):
        agent_endpoint(n, https_only=https_only)
