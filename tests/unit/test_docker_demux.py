"""Docker's multiplexed exec stream: 8-byte headers, stdout/stderr frames, partial frames kept."""

from __future__ import annotations

import pytest

from node_agent.runtime.docker import demux


def fr(stream: int, data: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data


@pytest.mark.parametrize(("wire", "frames", "rest"), [
    pytest.param(fr(1, b"out"), [(1, b"out")], b"", id="stdout"),
    pytest.param(fr(2, b"err") + fr(1, b"o"), [(2, b"err"), (1, b"o")], b"", id="both"),
    pytest.param(fr(1, b"abc")[:6], [], fr(1, b"abc")[:6], id="partial-header"),
    pytest.param(fr(1, b"abc")[:9], [], fr(1, b"abc")[:9], id="partial-body"),
    pytest.param(fr(1, b"") + fr(2, b"x"), [(1, b""), (2, b"x")], b"", id="empty-frame"),
    pytest.param(fr(0, b"in"), [(1, b"in")], b"", id="stdin-echo-as-stdout"),
])
def test_demux(wire: bytes, frames: list, rest: bytes) -> None:
    buf = bytearray(wire)
    assert demux(buf) == frames
    assert bytes(buf) == rest
