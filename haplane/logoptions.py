"""The query of ``GET .../pods/{name}/log`` (Kubernetes' PodLogOptions), parsed and checked (pure).

Both the replica (which answers bad values before dialing the agent) and the agent use it.
``container`` is resolved by the replica; the rest travels to the agent unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from haplane.errors import BadRequest

PASSED_TO_AGENT = ("follow", "tailLines", "previous", "timestamps", "sinceSeconds", "sinceTime", "limitBytes")


@dataclass(frozen=True)
class LogOptions:
    follow: bool = False
    tail: int | None = None  # lines; None: all
    previous: bool = False
    timestamps: bool = False
    since_seconds: int | None = None
    since_time: float | None = None  # epoch seconds
    limit_bytes: int | None = None

    def since(self, now: float) -> float | None:
        """The earliest time asked for, as epoch seconds, or None."""
        if self.since_seconds is not None:
            return now - self.since_seconds
        return self.since_time


def query_flag(query: Any, key: str) -> bool:
    """A boolean query parameter as Kubernetes reads one (absent or empty: false)."""
    value = query.get(key)
    if value is None or value == "":
        return False
    low = str(value).lower()
    if low in ("1", "true", "yes"):
        return True
    if low in ("0", "false", "no"):
        return False
    raise BadRequest(f"{key}: invalid value {value!r}: must be true or false")


def _int(query: Any, key: str, *, minimum: int) -> int | None:
    value = query.get(key)
    if value is None or value == "":
        return None
    try:
        n = int(value)
    except ValueError:
        raise BadRequest(f"{key}: invalid value {value!r}: must be an integer") from None
    if n < minimum:
        raise BadRequest(f"{key}: Invalid value: {n}: must be greater than {'or equal to ' if minimum == 0 else ''}"
                         f"{minimum if minimum == 0 else minimum - 1}")
    return n


def parse_log_options(query: Any) -> LogOptions:
    """Kubernetes' rules: tailLines >= 0, sinceSeconds >= 1, limitBytes >= 1, sinceTime is
    RFC 3339, and at most one of sinceSeconds and sinceTime."""
    since_time = None
    raw_time = query.get("sinceTime")
    if raw_time:
        try:
            since_time = datetime.fromisoformat(str(raw_time).replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise BadRequest(f"sinceTime: invalid value {raw_time!r}: must be an RFC 3339 time") from None
    opts = LogOptions(follow=query_flag(query, "follow"), tail=_int(query, "tailLines", minimum=0),
                      previous=query_flag(query, "previous"), timestamps=query_flag(query, "timestamps"),
                      since_seconds=_int(query, "sinceSeconds", minimum=1), since_time=since_time,
                      limit_bytes=_int(query, "limitBytes", minimum=1))
    if opts.since_seconds is not None and opts.since_time is not None:
        raise BadRequest("at most one of sinceTime or sinceSeconds may be specified")
    return opts
