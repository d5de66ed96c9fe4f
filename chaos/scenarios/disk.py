"""Scenarios that hit the replicas' disks: power loss (unsynced writes gone), torn and corrupt
journals, a full disk."""

from __future__ import annotations

import asyncio
import os
import time

from chaos.invariants import Verdict
from chaos.scenarios import Context, scenario

REPAIRED = "cut back to the last good entry"
REFUSED = "refusing to start on damaged data"


@scenario("power-loss", "Power-cut a majority (the leader among it), then every replica: SIGKILL and cut "
          "each journal back to what it had fsynced; restart on that data",
          duration=20.0, write_recovery=9.0, converge=5.0)
async def power_loss(ctx: Context) -> None:
    nem, cluster = ctx.nemesis, ctx.cluster
    leader = await nem.leader()
    followers = [n for n in cluster.names if n != leader]
    victims = [leader] + ctx.rng.sample(followers, cluster.quorum - 1)
    survivors = [n for n in cluster.names if n not in victims]
    span = await nem.power_cut(victims)
    await ctx.sleep(2.0)
    restore = time.monotonic()
    nem.quiet_window(survivors, span.start, restore, f"quorum lost ({','.join(victims)} power-cut)")
    nem.outage(span.start, restore, "a majority lost power")
    for v in victims:
        await nem.restart(v)
    nem.recovery_point("majority restarted", restore)
    await nem.leader()
    await ctx.sleep(span.start + ctx.duration / 2 - time.monotonic())
    span = await nem.power_cut(cluster.names)
    await ctx.sleep(2.0)
    restore = time.monotonic()
    nem.outage(span.start, restore, "every replica lost power")
    for n in cluster.names:
        await nem.restart(n)
    nem.recovery_point("all restarted", restore)
    await nem.leader()
    await ctx.sleep(ctx.duration / 2 - 2.0)


def _log_verdict(name: str, replica: str, text: str, needle: str, what: str) -> Verdict:
    ok = needle in text and "Traceback" not in text
    line = next((ln for ln in text.splitlines() if needle in ln), "")
    return Verdict(name, ok, f"{replica}: {what}" if ok else f"{replica}: expected '{needle}' in its log "
                   f"(traceback: {'Traceback' in text})", [line] if line else text.splitlines()[-10:])


@scenario("torn-write", "A follower's journal torn inside its last record, another's last record "
          "corrupted (both cut back and caught up from the leader), a third's corrupted mid-log "
          "(it must refuse to start, then is wiped and rejoins)", duration=18.0, write_recovery=3.0, converge=5.0)
async def torn_write(ctx: Context) -> None:
    nem, cluster = ctx.nemesis, ctx.cluster
    for how in ("tear", "corrupt-last"):
        victim = ctx.rng.choice(await nem.followers())
        at = cluster.log_path(victim)
        offset = _size(at)
        span = await nem.damage_journal(victim, how)
        nem.recovery_point(f"{how}: {victim} killed", span.start)
        await nem.restart(victim)
        await nem.wait_caught_up(victim, span.start)
        nem.verdicts.append(_log_verdict(f"repaired-{how}", victim, _read_from(at, offset), REPAIRED,
                                         "cut its journal back and caught up from the leader"))
        await ctx.sleep(ctx.duration / 6)
    victim = ctx.rng.choice(await nem.followers())
    span = await nem.damage_journal(victim, "corrupt-middle")
    nem.recovery_point(f"corrupt-middle: {victim} killed", span.start)
    code, text = await cluster.start_expecting_refusal(victim)
    v = _log_verdict("refused-corrupt-middle", victim, text, REFUSED, f"refused to start (exit {code}), "
                     "naming the file and offset")
    if code != 2:
        v.ok, v.summary = False, f"{victim}: exit code {code} on a corrupt journal (expected 2): {v.summary}"
    nem.verdicts.append(v)
    span = await nem.wipe_and_replace(victim)  # what the message tells the operator to do
    await nem.wait_caught_up(victim, span.start)
    await ctx.sleep(ctx.duration / 6)


def _size(path: str) -> int:
    return os.path.getsize(path) if os.path.exists(path) else 0


def _read_from(path: str, offset: int) -> str:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


# ------------------------------------------------------------------------------ a full disk
async def journal_problem(ctx: Context, name: str) -> tuple[bool, str | None]:
    """(answered, why its journal is not durable) from ``name``'s /cluster/self."""
    st = await ctx.cluster.status(name)
    if not st:
        return False, None
    return True, (st.get("journal") or {}).get("problem")


async def wait_problem(ctx: Context, name: str, present: bool, since: float, timeout: float) -> str | None:
    """Wait until ``name`` reports a storage problem (``present``) or none; the problem seen."""
    while True:
        answered, problem = await journal_problem(ctx, name)
        if answered and (problem is not None) == present:
            return problem
        if time.monotonic() - since > timeout:
            raise TimeoutError(f"{name}: journal problem {'never reported' if present else 'still reported'} "
                               f"after {timeout:g}s (last: {problem!r})")
        await ctx.sleep(0.1)


async def _disk_full_then_freed(ctx: Context, victim: str, hold: float) -> tuple[float, float]:
    """Fill ``victim``'s disk, check it reports ENOSPC, free it after ``hold`` seconds, wait
    until it is durable again and caught up. Returns (filled at, freed at)."""
    nem = ctx.nemesis
    span = await nem.fill_disk(victim)
    problem = await wait_problem(ctx, victim, True, span.start, 15.0)
    nem.figure("disk_full_seen_s", time.monotonic() - span.start)
    nem.verdicts.append(Verdict(f"disk-full-reported-{victim}", "ENOSPC" in (problem or ""),
                                f"{victim} reported its full disk: {problem}"))
    await ctx.sleep(span.start + hold - time.monotonic())
    freed = await nem.free_disk(victim)
    await wait_problem(ctx, victim, False, freed, 15.0)
    nem.figure("disk_resumed_s", time.monotonic() - freed)
    await nem.wait_caught_up(victim, freed)
    return span.start, freed


@scenario("disk-full-follower", "Fill a follower's disk (every replica's data dir is a small tmpfs): it "
          "acknowledges nothing, the leader keeps leading on the other majority; free it: it is durable "
          "again and catches up by itself", duration=14.0, write_recovery=3.0, converge=5.0, small_disks=True)
async def disk_full_follower(ctx: Context) -> None:
    nem = ctx.nemesis
    victim = (await nem.expect_steady_leader()).victim
    _, freed = await _disk_full_then_freed(ctx, victim, ctx.duration * 0.6)
    nem.steady_victim_healed(freed)
    await ctx.sleep(freed + ctx.duration * 0.3 - time.monotonic())


@scenario("disk-full-leader", "Fill the leader's disk (every replica's data dir is a small tmpfs): it steps "
          "down at its first failed append, a healthy member leads; free it: it is durable again and "
          "catches up by itself", duration=14.0, write_recovery=9.0, converge=5.0, small_disks=True)
async def disk_full_leader(ctx: Context) -> None:
    nem = ctx.nemesis
    leader = await nem.leader()
    filled = time.monotonic()
    nem.recovery_point(f"{leader}'s disk full", filled)
    run = asyncio.create_task(_disk_full_then_freed(ctx, leader, ctx.duration * 0.6))
    await nem.new_leader_after(leader, filled, f"{leader}'s disk full")
    _, freed = await run
    await ctx.sleep(freed + ctx.duration * 0.3 - time.monotonic())
