"""An interactive command on the host: the process runtime's ``kubectl exec``.

The command runs in its own session and process group, with the container's environment and
working directory; ``kill`` (and the end of the stream) SIGKILLs the whole group. Without a
TTY its stdin/stdout/stderr are pipes (or ``/dev/null`` for the streams not asked for). With
a TTY it gets a pseudo-terminal as its controlling terminal (``setsid --ctty``): stderr is
merged into stdout, Ctrl-C reaches it as SIGINT, ``resize`` sets the window size, and the
end of stdin is an EOT (Ctrl-D) typed on the terminal, as on a real one.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import shutil
import signal
import struct
import subprocess
import termios
from collections.abc import AsyncIterator, Callable

from node_agent.runtime.base import exit_status

_READ = 65536
EOT = b"\x04"


class HostExec:
    """Use from one event loop. Start with :meth:`start`."""

    def __init__(self, proc: asyncio.subprocess.Process | subprocess.Popen[bytes], master: int | None) -> None:
        self._proc = proc
        self._master = master  # the pty's master side (TTY mode), else None
        self._stdin_closed = False
        self._code: int | None = None
        self.on_exit: Callable[[], None] | None = None  # called once the command has been reaped

    @classmethod
    async def start(cls, argv: list[str], *, cwd: str, env: dict[str, str], stdin: bool, stdout: bool,
                    stderr: bool, tty: bool) -> HostExec:
        if not tty:
            proc = await asyncio.create_subprocess_exec(
                *argv, cwd=cwd, env=env, start_new_session=True, close_fds=True,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE if stdout else subprocess.DEVNULL,
                stderr=subprocess.PIPE if stderr else subprocess.DEVNULL)
            return cls(proc, None)
        setsid = shutil.which("setsid") or "setsid"
        master, slave = os.openpty()
        try:
            # setsid(1) makes the child a session leader with the pty as its controlling terminal;
            # the child is not a group leader here, so setsid does not fork
            popen = await asyncio.to_thread(
                subprocess.Popen, [setsid, "--ctty", *argv], cwd=cwd, env=env, stdin=slave, stdout=slave,
                stderr=slave, close_fds=True)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        return cls(popen, master)

    @property
    def pid(self) -> int:
        return self._proc.pid

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        if self._master is not None:
            async for chunk in _read_fd(self._master):
                yield 1, chunk
            return
        proc = self._proc
        assert isinstance(proc, asyncio.subprocess.Process)
        queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        readers = [(ch, r) for ch, r in ((1, proc.stdout), (2, proc.stderr)) if r is not None]

        async def pump(channel: int, reader: asyncio.StreamReader) -> None:
            try:
                while chunk := await reader.read(_READ):
                    await queue.put((channel, chunk))
            finally:
                await queue.put(None)

        tasks = [asyncio.create_task(pump(ch, r)) for ch, r in readers]
        try:
            open_readers = len(tasks)
            while open_readers:
                item = await queue.get()
                if item is None:
                    open_readers -= 1
                else:
                    yield item
        finally:
            for t in tasks:
                t.cancel()

    async def write(self, data: bytes) -> None:
        if self._stdin_closed or not data:
            return
        if self._master is not None:
            await _write_fd(self._master, data)
            return
        proc = self._proc
        assert isinstance(proc, asyncio.subprocess.Process)
        if proc.stdin is None:
            return
        try:
            proc.stdin.write(data)
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            self._stdin_closed = True  # the command stopped reading; what it wrote still flows

    async def close_stdin(self) -> None:
        if self._stdin_closed:
            return
        if self._master is not None:
            await _write_fd(self._master, EOT)
        else:
            proc = self._proc
            assert isinstance(proc, asyncio.subprocess.Process)
            if proc.stdin is not None:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    proc.stdin.close()
        self._stdin_closed = True

    async def resize(self, width: int, height: int) -> None:
        if self._master is not None:
            with contextlib.suppress(OSError):
                fcntl.ioctl(self._master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    async def wait(self) -> int:
        if self._code is None:
            if isinstance(self._proc, asyncio.subprocess.Process):
                rc = await self._proc.wait()
            else:
                rc = await asyncio.to_thread(self._proc.wait)
            self._code = exit_status(rc)
            self._close_master()
            if self.on_exit is not None:
                self.on_exit()
        return self._code

    async def kill(self) -> None:
        # the group outlives its leader while members remain (a pgid is never reused meanwhile)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        if self._unreaped():
            # just started, setsid may not have made the group yet: the leader itself, then
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self._proc.pid, signal.SIGKILL)
        await self.wait()

    def _unreaped(self) -> bool:
        """Is our child not reaped yet (so its pid cannot belong to another process)?"""
        if isinstance(self._proc, asyncio.subprocess.Process):
            return self._proc.returncode is None
        return self._proc.poll() is None

    def _close_master(self) -> None:
        if self._master is not None:
            with contextlib.suppress(OSError):
                os.close(self._master)
            self._master = None


async def _read_fd(fd: int) -> AsyncIterator[bytes]:
    """Chunks from a non-blocking fd until EOF (a pty master reads EIO once the slave closes)."""
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    loop.add_reader(fd, ready.set)
    try:
        while True:
            try:
                chunk = os.read(fd, _READ)
            except BlockingIOError:
                ready.clear()
                await ready.wait()
                continue
            except OSError as exc:
                if exc.errno in (errno.EIO, errno.EBADF):
                    return
                raise
            if not chunk:
                return
            yield chunk
    finally:
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(fd)


async def _write_fd(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            await asyncio.sleep(0.01)  # the terminal's input queue is full: let the command read
            continue
        except OSError:
            return  # the terminal is gone
        view = view[n:]
