"""An informer: a local cache of one kind kept current by list + watch (client-go's pattern).

It lists, then watches from the list's resourceVersion; the client resumes dropped watches, and
on 410 Gone the informer relists. After each change it calls ``on_change()`` so the owner can
re-derive what it needs from :attr:`Informer.items`. Every error is logged once per kind of
error and retried with a capped backoff: the informer never gives up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from haplane import errors
from haplane.client import Client

log = logging.getLogger(__name__)


class Informer:
    def __init__(self, client: Client, kind: str, *, namespace: str | None = None, field_selector: str | None = None,
                 on_change: Callable[[], None] | None = None) -> None:
        self.client, self.kind = client, kind
        self.namespace, self.field_selector = namespace, field_selector
        self.on_change = on_change or (lambda: None)
        self.items: dict[tuple[str, str], dict] = {}
        self.synced = asyncio.Event()
        self._last_error = ""

    @staticmethod
    def key(obj: dict) -> tuple[str, str]:
        meta = obj.get("metadata") or {}
        return meta.get("namespace") or "", meta.get("name") or ""

    async def run(self) -> None:
        delay = 0.2
        while True:
            try:
                listed = await self.client.list(self.kind, self.namespace, field_selector=self.field_selector)
                self.items = {self.key(o): o for o in listed["items"]}
                self.synced.set()
                self.on_change()
                rv = listed["metadata"]["resourceVersion"]
                async for ev in self.client.watch(self.kind, self.namespace, resource_version=rv,
                                                  field_selector=self.field_selector):
                    obj = ev.get("object") or {}
                    if ev.get("type") in ("ADDED", "MODIFIED"):
                        self.items[self.key(obj)] = obj
                    elif ev.get("type") == "DELETED":
                        self.items.pop(self.key(obj), None)
                    else:
                        continue
                    self.on_change()
                    delay = 0.2
            except asyncio.CancelledError:
                raise
            except errors.Gone:
                continue  # relist at once
            except Exception as exc:  # network, server errors: retry with backoff
                text = f"{type(exc).__name__}: {exc}"
                if text != self._last_error:
                    log.warning("informer for %s: %s; retrying", self.kind, text)
                    self._last_error = text
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
