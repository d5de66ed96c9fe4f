"""Byte pipes between two TCP streams, shared by the service proxy and the API load balancer.

Nothing here looks at the bytes: TLS passes through untouched, end to end.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
               count: Callable[[int], object] | None = None) -> None:
    """Copy ``reader`` to ``writer`` until EOF or an error, then half-close ``writer``;
    ``count(n)`` is told every chunk's size (metrics)."""
    try:
        while data := await reader.read(65536):
            if count is not None:
                count(len(data))
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            if writer.can_write_eof():
                writer.write_eof()


async def splice(a: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                 b: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                 count: tuple[Callable[[int], object], Callable[[int], object]] | None = None) -> None:
    """Copy both ways until both directions end; close both writers. ``count`` (a to b, b to a)
    is told every chunk's size."""
    ab, ba = count if count is not None else (None, None)
    try:
        await asyncio.gather(pipe(a[0], b[1], ab), pipe(b[0], a[1], ba))
    finally:
        for w in (a[1], b[1]):
            w.close()
