"""Log files on the agent's disk: reading one (from its last N lines, optionally following it),
and the output of a container's previous instance, kept across a restart for ``--previous``.

Kubernetes keeps the last dead instance of each container; a haplane runtime removes a
container before restarting it, so it hands the output over first (``keep_file`` moves the
process runtime's file, ``keep_bytes`` stores what the Docker engine returned). One file per
(pod uid, container), replaced by the next restart, deleted when the container goes for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any


class PreviousLogs:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.dir = Path(directory)

    def path(self, pod_uid: str, container: str) -> Path:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in f"{pod_uid}_{container}")
        return self.dir / f"{safe}.log"

    def keep_file(self, pod_uid: str, container: str, source: Path) -> None:
        with contextlib.suppress(OSError):
            self.dir.mkdir(parents=True, exist_ok=True)
            os.replace(source, self.path(pod_uid, container))

    def keep_bytes(self, pod_uid: str, container: str, data: bytes) -> None:
        with contextlib.suppress(OSError):
            self.dir.mkdir(parents=True, exist_ok=True)
            tmp = self.path(pod_uid, container).with_suffix(".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, self.path(pod_uid, container))

    def forget(self, pod_uid: str, container: str) -> None:
        with contextlib.suppress(OSError):
            self.path(pod_uid, container).unlink()

    def read(self, pod_uid: str, container: str, tail: int | None) -> AsyncIterator[bytes] | None:
        path = self.path(pod_uid, container)
        return read_log(path, tail, None) if path.exists() else None


async def read_log(path: Path, tail: int | None, alive: Callable[[], bool] | None) -> AsyncIterator[bytes]:
    """The file from its last ``tail`` lines; with ``alive``, follows it while ``alive()``
    holds, then yields what is left."""
    with open(path, "rb") as f:
        if tail is not None:
            f.seek(_tail_offset(f, tail))
        while True:
            chunk = f.read(65536)
            if chunk:
                yield chunk
                continue
            if alive is None:
                return
            if not alive():
                if rest := f.read():
                    yield rest
                return
            await asyncio.sleep(0.2)


def _tail_offset(f: Any, lines: int) -> int:
    """Offset in the binary file ``f`` where its last ``lines`` lines begin."""
    end = f.seek(0, os.SEEK_END)
    if lines <= 0:
        return end
    pos, seen, block = end, 0, 8192
    # a trailing newline ends the last line; it does not start a new one
    if end:
        f.seek(end - 1)
        if f.read(1) == b"\n":
            pos -= 1
    while pos > 0:
        start = max(0, pos - block)
        f.seek(start)
        data = f.read(pos - start)
        for i in range(len(data) - 1, -1, -1):
            if data[i] == 0x0A:
                seen += 1
                if seen == lines:
                    return start + i + 1
        pos = start
    return 0
