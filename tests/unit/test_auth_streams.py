"""Streams into pods are Kubernetes' ``create`` on pods/exec, pods/attach, pods/portforward:
admin only, whatever the HTTP method of the upgrade (kubectl's WebSocket upgrade is a GET)."""

from __future__ import annotations

import pytest

from haplane.api.auth import User, authorize
from haplane.errors import Forbidden


@pytest.mark.parametrize(("role", "method", "sub", "allowed"), [
    pytest.param("admin", "GET", "exec", True, id="admin-exec"),
    pytest.param("admin", "GET", "portforward", True, id="admin-portforward"),
    pytest.param("viewer", "GET", "exec", False, id="viewer-exec-get"),
    pytest.param("viewer", "POST", "exec", False, id="viewer-exec-post"),
    pytest.param("viewer", "GET", "portforward", False, id="viewer-portforward"),
    pytest.param("node", "GET", "attach", False, id="node-attach"),
    pytest.param("viewer", "GET", "log", True, id="viewer-log"),
    pytest.param("viewer", "GET", "", True, id="viewer-get-pod"),
])
def test_pod_streams_need_admin(role: str, method: str, sub: str, allowed: bool) -> None:
    user = User("u", role)
    if allowed:
        authorize(user, method, "Pod", sub)
    else:
        with pytest.raises(Forbidden, match=f'cannot create resource "pods/{sub}"'):
            authorize(user, method, "Pod", sub)
