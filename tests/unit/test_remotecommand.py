"""The exec channel protocol (v5.channel.k8s.io) as kubectl 1.37 speaks it."""

from __future__ import annotations

import json

import pytest
from multidict import MultiDict

from haplane import errors
from node_agent import remotecommand as rc


def q(*pairs: tuple[str, str]) -> MultiDict:
    return MultiDict(pairs)


@pytest.mark.parametrize(("query", "expected"), [
    pytest.param(q(("command", "ls"), ("stdout", "true")),
                 rc.ExecOptions(("ls",), None, False, True, False, False), id="stdout-only"),
    pytest.param(q(("command", "sh"), ("command", "-c"), ("command", "echo a b"), ("stdin", "true"),
                   ("stdout", "true"), ("stderr", "true"), ("container", "main")),
                 rc.ExecOptions(("sh", "-c", "echo a b"), "main", True, True, True, False), id="repeated-command"),
    pytest.param(q(("command", "sh"), ("stdin", "true"), ("stdout", "true"), ("tty", "true")),
                 rc.ExecOptions(("sh",), None, True, True, False, True), id="tty"),
    pytest.param(q(("command", "x"), ("stdout", "1"), ("stderr", "0")),
                 rc.ExecOptions(("x",), None, False, True, False, False), id="numeric-flags"),
])
def test_parse_exec_options(query: MultiDict, expected: rc.ExecOptions) -> None:
    assert rc.parse_exec_options(query) == expected


@pytest.mark.parametrize(("query", "message"), [
    pytest.param(q(("stdout", "true")), "you must specify at least 1 command", id="no-command"),
    pytest.param(q(("command", "ls")), "at least 1 of stdin, stdout, stderr", id="no-stream"),
    pytest.param(q(("command", "ls"), ("stdout", "true"), ("stderr", "true"), ("tty", "true")),
                 "stderr cannot be requested with a TTY", id="tty-stderr"),
    pytest.param(q(("command", "a\x00b"), ("stdout", "true")), "NUL", id="nul"),
    pytest.param(q(("command", "ls"), ("stdout", "sure")), "stdout: invalid value 'sure'", id="bad-flag"),
])
def test_parse_exec_options_refused(query: MultiDict, message: str) -> None:
    with pytest.raises(errors.BadRequest) as exc:
        rc.parse_exec_options(query)
    assert message in exc.value.message


@pytest.mark.parametrize(("message", "expected"), [
    pytest.param(b"\x00hello", (rc.STDIN, b"hello"), id="stdin"),
    pytest.param(b"\x04{}", (rc.RESIZE, b"{}"), id="resize"),
    pytest.param(b"\xff\x00", (rc.CLOSE, b"\x00"), id="close-stdin"),
    pytest.param(b"\x01", (rc.STDOUT, b""), id="empty-payload"),
])
def test_frames_round_trip(message: bytes, expected: tuple[int, bytes]) -> None:
    assert rc.parse_frame(message) == expected
    assert rc.frame(*expected) == message


def test_empty_frame_refused() -> None:
    with pytest.raises(errors.BadRequest):
        rc.parse_frame(b"")


@pytest.mark.parametrize(("payload", "expected"), [
    pytest.param(b'{"Width":80,"Height":24}', (80, 24), id="kubectl"),
    pytest.param(b'{"Width":0,"Height":0}', (0, 0), id="zero"),
    pytest.param(b'{"Width":-1,"Height":24}', None, id="negative"),
    pytest.param(b'{"Width":true,"Height":24}', None, id="bool"),
    pytest.param(b'{"Height":24}', None, id="missing"),
    pytest.param(b"80x24", None, id="not-json"),
])
def test_parse_resize(payload: bytes, expected: tuple[int, int] | None) -> None:
    if expected is None:
        with pytest.raises(errors.BadRequest):
            rc.parse_resize(payload)
    else:
        assert rc.parse_resize(payload) == expected


@pytest.mark.parametrize(("code", "status", "cause"), [
    pytest.param(0, "Success", None, id="zero"),
    pytest.param(3, "Failure", "3", id="three"),
    pytest.param(137, "Failure", "137", id="killed"),
])
def test_exit_status_as_kubectl_decodes_it(code: int, status: str, cause: str | None) -> None:
    """client-go's errorDecoderV4: Failure + NonZeroExitCode + a cause of type ExitCode."""
    st = json.loads(json.dumps(rc.exit_status(code, ("sh", "-c", "exit"))))
    assert st["status"] == status
    if cause is None:
        assert "details" not in st
    else:
        assert st["reason"] == "NonZeroExitCode"
        assert st["details"]["causes"] == [{"reason": "ExitCode", "message": cause}]
        assert "[sh -c exit]" in st["message"]
