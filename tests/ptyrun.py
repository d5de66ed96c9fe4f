"""Run a command on a real pseudo-terminal and read what it draws (the CLI's live displays).

The child gets the pty's slave side as stdin, stdout and stderr (so ``isatty()`` is true, as in
a user's terminal) with a fixed window size; a reader thread collects everything it writes.
:meth:`PtyProcess.wait_for` waits for a piece of output, never for a fixed time.
"""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Sequence

ANSI_REDRAW = ("\x1b[2K", "\x1b[1A", "\x1b[F")  # erase line, cursor up: what redrawing in place emits


class PtyProcess:
    def __init__(self, argv: Sequence[str], *, cwd: str | None = None, env: dict[str, str] | None = None,
                 columns: int = 160, rows: int = 50) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        child_env = dict(os.environ if env is None else env)
        child_env["TERM"] = "xterm-256color"
        for k in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE"):
            child_env.pop(k, None)
        self.proc = subprocess.Popen(list(argv), stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=child_env,
                                     start_new_session=True, close_fds=True)
        os.close(slave)
        self._master = master
        self._buf = bytearray()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._eof = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:  # EIO: every slave side is closed (the child exited)
                chunk = b""
            with self._changed:
                if not chunk:
                    self._eof = True
                    self._changed.notify_all()
                    return
                self._buf += chunk
                self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._lock:
            return self._buf.decode(errors="replace")

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        """Wait until ``text`` appears in the output (AssertionError with the output if not)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while text not in self._buf.decode(errors="replace"):
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    break
                self._changed.wait(min(left, 0.5))
            out = self._buf.decode(errors="replace")
        assert text in out, f"{text!r} not in the terminal output:\n{out}"
        return out

    def wait(self, timeout: float = 30.0) -> int:
        """The exit code, once the child ended and its output is read to the end."""
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout)
        return code

    def interrupt(self) -> None:
        """Ctrl-C, as a terminal sends it (SIGINT to the child)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._reader.join(5)
        os.close(self._master)

    def __enter__(self) -> PtyProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
