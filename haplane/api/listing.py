"""The options of a list or watch request, parsed and checked as the Kubernetes API server does.

``limit`` / ``continue``: pages of one consistent list. The continue token is opaque to clients
(base64 of ``{"v": 1, "rv": R, "start": [ns, name]}``): every page shows the state at the first
page's revision ``R`` (:mod:`haplane.store.rewind`). A token older than the replica's change
window is 410 Expired with a fresh token that resumes after the same key at the present
revision — an inconsistent but complete continuation, exactly as Kubernetes offers once etcd
has compacted ``R``.

``resourceVersion`` / ``resourceVersionMatch`` (Kubernetes' table of the two):

================  ==================  =================  ===================  =====================
match             paging              rv unset           rv = "0"             rv = N
================  ==================  =================  ===================  =====================
unset             no limit            most recent        any (local)          not older than N
unset             limit               most recent        any (local)          exact N
unset             continue            the token's        the token's          400
Exact             —                   400                400                  exact N
NotOlderThan      —                   400                any (local)          not older than N
================  ==================  =================  ===================  =====================

Watch: ``resourceVersion`` unset or "0" starts with the current objects as ADDED events (the
legacy semantics); ``sendInitialEvents=true`` (with ``resourceVersionMatch=NotOlderThan`` and
``allowWatchBookmarks=true``, as client-go's streaming lists send it) does the same and then
marks the end of the initial events with a BOOKMARK annotated ``k8s.io/initial-events-end``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import orjson

from haplane.errors import BadRequest
from haplane.model.selectors import for_kind, parse_field_selector, parse_label_selector

__all__ = ["ListOptions", "WatchOptions", "parse_list", "parse_watch", "encode_continue", "decode_continue",
           "MAX_WATCH_SECONDS", "INITIAL_EVENTS_END"]

MAX_WATCH_SECONDS = 3600
MAX_LIMIT = 1_000_000
INITIAL_EVENTS_END = "k8s.io/initial-events-end"
Key = tuple[str, str]
Match = Callable[[dict], bool]


@dataclass(frozen=True)
class ListOptions:
    match: Match
    limit: int | None = None
    at: int | None = None                 # exactly this revision
    not_older_than: int | None = None     # at least this revision
    stale: bool = False                   # any revision this replica has (rv=0, ?stale=1)
    after: Key | None = None              # continue after this key


@dataclass(frozen=True)
class WatchOptions:
    match: Match
    since: int | None                     # None: start with the current objects (ADDED)
    stale: bool
    bookmarks: bool
    timeout: float
    initial_events: bool                  # send the current objects (since=None) as ADDED first
    initial_events_end: bool              # sendInitialEvents=true: BOOKMARK after the initial ADDED


def encode_continue(rev: int, key: Key) -> str:
    raw = orjson.dumps({"v": 1, "rv": rev, "start": list(key)})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, Key]:
    """``(revision, last key served)``; BadRequest for anything this server did not issue."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = orjson.loads(raw)
        rev, start = data["rv"], data["start"]
        if data.get("v") != 1 or not isinstance(rev, int) or isinstance(rev, bool) or rev < 0 or \
                not (isinstance(start, list) and len(start) == 2 and all(isinstance(s, str) for s in start)):
            raise ValueError
    except (ValueError, KeyError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise BadRequest("continue key is not valid: it was not issued by this server") from None
    return rev, (start[0], start[1])


def _flag(query: Mapping[str, str], name: str) -> bool | None:
    raw = query.get(name)
    if raw is None:
        return None
    if raw.lower() in ("1", "true", "yes"):
        return True
    if raw.lower() in ("", "0", "false", "no"):
        return False
    raise BadRequest(f"{name} must be true or false, not {raw[:32]!r}")


def _revision(raw: str, name: str = "resourceVersion") -> int:
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, not {raw[:32]!r}") from None
    if value < 0:
        raise BadRequest(f"{name} must not be negative")
    return value


def _matcher(kind: str, query: Mapping[str, str]) -> Match:
    labels = parse_label_selector(query.get("labelSelector", ""))
    fields = for_kind(kind, parse_field_selector(query.get("fieldSelector", "")))

    def match(obj: dict) -> bool:
        return labels.matches((obj.get("metadata") or {}).get("labels")) and fields.matches(obj)
    return match


def _rv_match(query: Mapping[str, str]) -> Literal["", "Exact", "NotOlderThan"]:
    value = query.get("resourceVersionMatch", "")
    if value not in ("", "Exact", "NotOlderThan"):
        raise BadRequest(f'resourceVersionMatch must be "Exact" or "NotOlderThan", not {value[:32]!r}')
    return value  # type: ignore[return-value]


def parse_list(kind: str, query: Mapping[str, str]) -> ListOptions:
    match = _matcher(kind, query)
    limit: int | None = None
    if query.get("limit") not in (None, "", "0"):
        limit = _revision(query["limit"], "limit")
        limit = min(limit, MAX_LIMIT) or None
    rv, rv_match = query.get("resourceVersion", ""), _rv_match(query)
    stale = bool(_flag(query, "stale"))
    token = query.get("continue", "")
    if token:
        if rv not in ("", "0") or rv_match:
            raise BadRequest("specifying resource version is not allowed when using continue")
        at, after = decode_continue(token)
        return ListOptions(match, limit, at=at, after=after)
    if rv_match and rv == "":
        raise BadRequest(f"resourceVersionMatch is forbidden unless resourceVersion is provided "
                         f"(resourceVersionMatch={rv_match})")
    if rv_match == "Exact" and rv == "0":
        raise BadRequest("resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"0\"")
    if rv == "":
        return ListOptions(match, limit, stale=stale)
    value = _revision(rv)
    if value == 0:
        return ListOptions(match, limit, stale=True)
    if rv_match == "Exact" or (rv_match == "" and limit is not None):
        return ListOptions(match, limit, at=value)
    return ListOptions(match, limit, not_older_than=value, stale=stale)


def parse_watch(kind: str, query: Mapping[str, str]) -> WatchOptions:
    match = _matcher(kind, query)
    rv, rv_match = query.get("resourceVersion", ""), _rv_match(query)
    initial = _flag(query, "sendInitialEvents")
    bookmarks = bool(_flag(query, "allowWatchBookmarks"))
    raw_timeout = query.get("timeoutSeconds")
    timeout = float(MAX_WATCH_SECONDS) if raw_timeout in (None, "") else \
        float(min(_revision(raw_timeout, "timeoutSeconds"), MAX_WATCH_SECONDS))
    stale = bool(_flag(query, "stale")) or rv == "0"
    if initial is not None:
        if rv_match != "NotOlderThan":
            raise BadRequest("sendInitialEvents is forbidden for watch unless resourceVersionMatch is "
                             "\"NotOlderThan\"")
        if initial and not bookmarks:
            raise BadRequest("sendInitialEvents requires setting allowWatchBookmarks to true")
    elif rv_match:
        raise BadRequest("resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided")
    if initial is not None:
        if rv not in ("", "0"):
            _revision(rv)
        # The current state (a linearizable read unless rv=0), with or without its ADDED events.
        return WatchOptions(match, None, stale, bookmarks, timeout, initial, initial)
    if rv in ("", "0"):
        return WatchOptions(match, None, stale, bookmarks, timeout, True, False)
    return WatchOptions(match, _revision(rv), stale, bookmarks, timeout, False, False)
