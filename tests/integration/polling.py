"""How integration tests wait and look: poll a check until it holds (or fail saying what), and
GET a page with a timeout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from haplane import errors


async def wait_for(check: Callable[[], Awaitable[Any]], timeout: float, what: str, *,
                   interval: float = 0.2, context: Callable[[], str] | None = None) -> Any:
    """Poll ``check`` until it returns something truthy (haplane errors count as not yet); on
    timeout, fail with the last answer (and ``context()``, e.g. recent logs)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await check()
            if last:
                return last
        except errors.HaplaneError as exc:
            last = exc
        await asyncio.sleep(interval)
    extra = f"\n{context()}" if context is not None else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}{extra}")


async def fetch(url: str) -> str:
    """GET ``url`` (5 s bound); the body as text, or an error for a non-2xx answer."""
    async with aiohttp.ClientSession() as s, s.get(url, timeout=aiohttp.ClientTimeout(total=5)) as r:
        r.raise_for_status()
        return await r.text()
