"""``wait_for`` that never loses a cancellation.

Python 3.11's ``asyncio.wait_for`` swallows a ``cancel()`` that arrives when the awaited
future has just completed: it returns the result and the task goes on as if it had never been
cancelled (CPython gh-86296, fixed in 3.12 by building ``wait_for`` on ``asyncio.timeout``).
A ``while True`` loop that waits on an event this way can then never be stopped — seen as a
new Raft leader that never started its control loops, because stepping down the time before
was still waiting for a cancelled loop that had shrugged the cancel off. ``asyncio.timeout``
tells a cancel from its own deadline, so this one is built on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def wait_for(aw: Awaitable[T], timeout: float | None) -> T:
    """``await aw``, raising ``TimeoutError`` after ``timeout`` s (None: no limit)."""
    async with asyncio.timeout(timeout):
        return await aw
