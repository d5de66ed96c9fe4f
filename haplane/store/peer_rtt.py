"""Round-trip time to each Raft peer, measured on the keepalive haplane already sends.

Every keepalive (:mod:`haplane.store.raft`, twice a second per connected peer) carries
``ping``: the sender's monotonic clock when it left. A replica that receives one answers at once
with a :data:`PONG_TYPE` message echoing that number; the sender, reading the pong, records
``now - ping``. Only the sender's own clock is ever compared with itself, so clock skew between
hosts does not enter.

What it measures is the *Raft-level* round trip: the network both ways, the Fernet encryption,
and the time each side's pysyncobj tick thread took to read the message (a busy or paused peer
shows up as a long RTT). That is what a commit waits for, which is why it is worth exporting; it
is not an ICMP ping. Cost: one extra tiny message per keepalive, each way.

Older replicas (before this module) ignore ``ping`` (a keepalive field they do not read) and
never send pongs, so no RTT is reported for them; a pong is a message type pysyncobj ignores.

:class:`PeerRtt` keeps the last sample per peer; :meth:`PeerRtt.current` drops samples older
than ``max_age`` (a peer that went quiet has no RTT rather than a stale one). It is written on
the tick thread and read by the metrics scrape: single dict operations, safe under the GIL.
"""

from __future__ import annotations

import math
from typing import Any

PING = "ping"  # keepalive field: the sender's monotonic clock (seconds)
PONG_TYPE = "haplane_pong"


def pong_for(message: Any) -> dict | None:
    """The answer to a keepalive carrying a usable ``ping``, else None."""
    sent = message.get(PING) if isinstance(message, dict) else None
    if isinstance(sent, int | float) and not isinstance(sent, bool) and math.isfinite(sent):
        return {"type": PONG_TYPE, PING: sent}
    return None


class PeerRtt:
    def __init__(self) -> None:
        self._last: dict[str, tuple[float, float]] = {}  # peer -> (rtt seconds, measured at)

    def record(self, peer: str, message: Any, now: float) -> float | None:
        """Record the RTT a pong shows; returns it, or None for a pong that shows none
        (malformed, or from the future of this clock)."""
        sent = message.get(PING) if isinstance(message, dict) else None
        if not isinstance(sent, int | float) or isinstance(sent, bool) or not math.isfinite(sent):
            return None
        rtt = now - sent
        if rtt < 0:
            return None
        self._last[peer] = (rtt, now)
        return rtt

    def current(self, now: float, max_age: float) -> dict[str, float]:
        """peer -> the last RTT, for the peers measured within ``max_age`` seconds."""
        return {peer: rtt for peer, (rtt, at) in dict(self._last).items() if now - at <= max_age}
