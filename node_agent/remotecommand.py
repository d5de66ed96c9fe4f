"""The remote command protocol of ``kubectl exec`` over WebSocket (pure: no I/O).

kubectl 1.37 upgrades ``GET .../pods/{name}/exec?command=sh&command=-c&command=...&stdin=true
&stdout=true&stderr=true&tty=false&container=main`` to a WebSocket offering the subprotocol
``v5.channel.k8s.io`` only (client-go ``NewWebSocketExecutor``; if the upgrade fails it falls
back to SPDY, which haplane does not serve). Every message is binary; its first byte names the
channel:

====  =======  =====================================================================
  0   stdin    client -> server
  1   stdout   server -> client
  2   stderr   server -> client (absent with a TTY: the terminal merges it into stdout)
  3   error    server -> client: one ``metav1.Status`` JSON, written once at the end
  4   resize   client -> server: ``{"Width": 80, "Height": 24}``
255   close    v5 only: ``[255, channel]`` half-closes that channel (stdin EOF)
====  =======  =====================================================================

The exit code travels on the error channel as kubectl expects it: success is
``{"status": "Success"}``; a non-zero code is a ``Failure`` with reason ``NonZeroExitCode`` and a
cause ``{"reason": "ExitCode", "message": "<code>"}``, which kubectl turns into its own exit code
(``command terminated with exit code N``). The server then closes the WebSocket normally
(kubectl reads stdout/stderr until the connection closes). v4 is the same without channel 255.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from haplane.errors import BadRequest
from haplane.logoptions import query_flag

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
PROTOCOLS = (V5, V4)  # preference order

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
MAX_COMMAND_ARGS = 4096
MAX_RESIZE = 65535


@dataclass(frozen=True)
class ExecOptions:
    command: tuple[str, ...]
    container: str | None
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool


def parse_exec_options(query: Any) -> ExecOptions:
    """The exec request's query (a MultiDict: ``command`` repeats) as options, checked as the
    API server checks them."""
    command = tuple(query.getall("command", []))
    if not command:
        raise BadRequest("you must specify at least 1 command")
    if len(command) > MAX_COMMAND_ARGS or any("\x00" in a for a in command):
        raise BadRequest("the command has NUL bytes or too many arguments")
    opts = ExecOptions(command=command, container=query.get("container") or None, stdin=query_flag(query, "stdin"),
                       stdout=query_flag(query, "stdout"), stderr=query_flag(query, "stderr"), tty=query_flag(query, "tty"))
    if not (opts.stdin or opts.stdout or opts.stderr):
        raise BadRequest("you must specify at least 1 of stdin, stdout, stderr")
    if opts.tty and opts.stderr:
        # with a terminal stderr is merged into stdout; kubectl never asks for both
        raise BadRequest("stderr cannot be requested with a TTY (the terminal merges it into stdout)")
    return opts


def frame(channel: int, data: bytes = b"") -> bytes:
    return bytes([channel]) + data


def parse_frame(message: bytes) -> tuple[int, bytes]:
    """(channel, payload) of one binary message; BadRequest for an empty one."""
    if not message:
        raise BadRequest("empty channel message")
    return message[0], message[1:]


def parse_resize(payload: bytes) -> tuple[int, int]:
    """(width, height) of a resize message; BadRequest if it is not the TerminalSize JSON."""
    try:
        size = json.loads(payload)
        width, height = size["Width"], size["Height"]
    except (ValueError, KeyError, TypeError):
        raise BadRequest(f"bad terminal size {payload[:100]!r}") from None
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_RESIZE for v in (width, height)):
        raise BadRequest(f"bad terminal size {payload[:100]!r}")
    return width, height


def exit_status(code: int, command: tuple[str, ...] = ()) -> dict[str, Any]:
    """The Status for the error channel after the command exited with ``code``."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command [{' '.join(command)}], "
                       f"exit code {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def error_status(message: str) -> dict[str, Any]:
    """The Status for the error channel when the command could not run at all."""
    return {"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError",
            "details": {"causes": [{"message": message}]}, "code": 500}
