"""Lists at a past revision, rebuilt from the watch window, and the pages cut from them.

Kubernetes serves ``limit``/``continue`` pages (and ``resourceVersionMatch=Exact``) from etcd's
MVCC history: every page of one list shows the state at the first page's revision. The state
machine keeps only the present, but the watch window holds every change after its floor with
the object before it (``Change.prev``), so the state of one kind at any revision still in the
window is the present with the newer changes undone, newest first. A revision below the floor
is gone, as a compacted one is in etcd (410 Expired).

Pure: :func:`rewind` and :func:`page` take plain values; the caller holds the state machine's
lock while it gathers them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from haplane.store.fsm import Change

Key = tuple[str, str]  # (namespace, name), the order lists are served in


def rewind(present: Mapping[Key, dict[str, Any]], newer: Iterable[Change], kind: str,
           ns: str | None) -> dict[Key, dict[str, Any]]:
    """The objects of ``kind`` (in ``ns`` unless None) before the ``newer`` changes, given the
    present ones. ``newer`` must be every change after the wanted revision, oldest first."""
    state = dict(present)
    for change in reversed(list(newer)):
        if change.kind != kind or (ns is not None and change.ns != ns):
            continue
        key = (change.ns, str(change.obj["metadata"]["name"]))
        if change.type == "ADDED":
            state.pop(key, None)
        elif change.prev is not None:  # MODIFIED or DELETED: the object as it was
            state[key] = change.prev
    return state


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_key: Key | None      # the last key served when more matching objects follow
    remaining: int            # matching objects after this page


def page(state: Mapping[Key, dict[str, Any]], match: Callable[[dict], bool], *, after: Key | None = None,
         limit: int | None = None) -> Page:
    """Objects in key order after ``after`` that ``match``, at most ``limit`` of them."""
    keys: Sequence[Key] = sorted(k for k in state if after is None or k > after)
    items: list[dict[str, Any]] = []
    last: Key | None = None
    remaining = 0
    for key in keys:
        obj = state[key]
        if not match(obj):
            continue
        if limit is not None and len(items) >= limit:
            remaining += 1
            continue
        items.append(obj)
        last = key
    return Page(items, last if remaining else None, remaining)
