"""Clock steps: one replica's wall clock jumps an hour forward or back (chaos.wallclock), and
nothing may change — no election, no NotReady node, no Event expired, no timestamp an hour off."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from chaos.invariants import Verdict
from chaos.scenarios import Context, scenario
from haplane.client import Client

HOUR = 3600.0
STAMP_SLACK = 600.0  # a timestamp written while a clock was stepped may be off by this much, not an hour


def _seconds(text: str | None) -> float | None:
    try:
        return datetime.strptime(text or "", "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


async def _events(ctx: Context) -> list[dict]:
    async with Client(ctx.cluster.lc.endpoints, ctx.cluster.admin_token, timeout=10.0) as c:
        return (await c.list("Event", None))["items"]


def _stepped_in_log(ctx: Context, name: str) -> bool:
    with open(ctx.cluster.log_path(name), encoding="utf-8", errors="replace") as f:
        return "the system clock stepped by" in f.read()


@scenario("clock-step", "Step the leader's wall clock +1 h, back, then -1 h, back; then a follower's "
          "the same (with agents and a Deployment): the leader keeps its term, no node goes NotReady, "
          "no Event expires, no timestamp written is an hour off", duration=16.0, write_recovery=3.0,
          converge=5.0, workers=True, pod_recovery=10.0, wall_clock=True)
async def clock_step(ctx: Context) -> None:
    nem, pods = ctx.nemesis, ctx.pods
    steady = await nem.expect_steady_leader()
    before = {e["metadata"]["uid"] for e in await _events(ctx)}
    began = time.monotonic()
    step = ctx.duration / 4
    back = began
    for target, seconds in ((steady.leader, HOUR), (steady.leader, -HOUR), (steady.victim, HOUR),
                            (steady.victim, -HOUR)):
        t = await nem.step_clock(target, seconds)
        await ctx.sleep(t + step * 0.7 - time.monotonic())
        back = await nem.step_clock(target, 0.0)
        await ctx.sleep(back + step * 0.3 - time.monotonic())
    nem.steady_victim_healed(back)

    after = await _events(ctx)
    kept = {e["metadata"]["uid"] for e in after}
    gone = before - kept
    nem.verdicts.append(Verdict("no-event-expired", not gone, f"{len(before)} Events before the steps, "
                                f"{len(gone)} of them gone after", sorted(gone)[:20]))
    now = time.time()
    off = []
    for e in after:
        for field in ("lastTimestamp", "firstTimestamp"):
            ts = _seconds(e.get(field))
            if ts is not None and abs(ts - now) > STAMP_SLACK + ctx.duration * 3 + 120:
                off.append(f"{e['metadata']['name']}.{field}={e.get(field)}")
        created = _seconds((e.get("metadata") or {}).get("creationTimestamp"))
        if created is not None and abs(created - now) > STAMP_SLACK + ctx.duration * 3 + 120:
            off.append(f"{e['metadata']['name']}.creationTimestamp")
    nem.verdicts.append(Verdict("no-timestamp-an-hour-off", not off,
                                f"{len(after)} Events; {len(off)} timestamp(s) far from the harness's clock", off[:20]))
    not_ready = []
    if pods is not None:
        for s in pods.samples:
            if s.t >= began:
                not_ready += [f"+{s.t - began:.1f}s {n}" for n in ctx.cluster.agents if s.node_ready(n) is False]
    nem.verdicts.append(Verdict("no-node-not-ready", not not_ready and pods is not None,
                                f"{len(ctx.cluster.agents)} node(s); {len(not_ready)} NotReady sample(s) during the steps",
                                not_ready[:20]))
    seen = [n for n in (steady.leader, steady.victim) if _stepped_in_log(ctx, n)]
    nem.verdicts.append(Verdict("steps-seen", len(seen) == 2, f"the stepped replicas logged the step: {seen}"))
