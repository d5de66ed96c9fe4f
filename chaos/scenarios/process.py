"""Scenarios that hit replica processes: SIGKILL, SIGSTOP, restart, wipe."""

from __future__ import annotations

import asyncio
import time

from chaos.scenarios import Context, scenario


@scenario("kill-leader", "SIGKILL the leader, let a new one take over, restart the old one",
          duration=16.0, write_recovery=9.0, converge=5.0, quick=True)
async def kill_leader(ctx: Context) -> None:
    nem = ctx.nemesis
    old = await nem.leader()
    span = await nem.kill(old)
    nem.recovery_point(f"leader {old} killed", span.start)
    await nem.new_leader_after(old, span.start, f"{old} killed")
    await ctx.sleep(span.start + ctx.duration / 2 - time.monotonic())
    await nem.restart(old)
    await ctx.sleep(ctx.duration / 2)


@scenario("kill-follower", "SIGKILL a follower, keep writing, restart it",
          duration=16.0, write_recovery=3.0, converge=5.0)
async def kill_follower(ctx: Context) -> None:
    nem = ctx.nemesis
    victim = ctx.rng.choice(await nem.followers())
    span = await nem.kill(victim)
    nem.recovery_point(f"follower {victim} killed", span.start)
    await ctx.sleep(ctx.duration / 2)
    await nem.restart(victim)
    await ctx.sleep(ctx.duration / 2)


@scenario("kill-quorum-then-restore", "SIGKILL a majority (the leader among it); the survivors "
          "acknowledge nothing; restart them", duration=16.0, write_recovery=9.0, converge=5.0)
async def kill_quorum(ctx: Context) -> None:
    nem, cluster = ctx.nemesis, ctx.cluster
    leader = await nem.leader()
    followers = [n for n in cluster.names if n != leader]
    victims = [leader] + ctx.rng.sample(followers, cluster.quorum - 1)
    for v in victims:
        await nem.kill(v)
    down_t = time.monotonic()
    await ctx.sleep(ctx.duration / 2)
    restore_t = time.monotonic()
    survivors = [n for n in cluster.names if n not in victims]
    nem.quiet_window(survivors, down_t, restore_t, f"quorum lost ({','.join(victims)} killed)")
    nem.outage(down_t, restore_t, "a majority is dead")
    for v in victims:
        await nem.restart(v)
    nem.recovery_point("quorum restored", restore_t)
    await ctx.sleep(ctx.duration / 2)


@scenario("kill-all-then-restart", "SIGKILL every replica at once, restart them all on their data",
          duration=14.0, write_recovery=9.0, converge=5.0)
async def kill_all(ctx: Context) -> None:
    nem, cluster = ctx.nemesis, ctx.cluster
    await nem.leader()
    await asyncio.gather(*(nem.kill(n) for n in cluster.names))
    down_t = time.monotonic()
    await ctx.sleep(2.0)
    t = time.monotonic()
    nem.outage(down_t, t, "every replica is dead")
    for n in cluster.names:
        await nem.restart(n)
    nem.recovery_point("all restarted", t)
    await nem.leader()
    await ctx.sleep(ctx.duration - (time.monotonic() - t) - 2.0)


@scenario("pause-leader", "SIGSTOP the leader through an election, then SIGCONT it",
          duration=16.0, write_recovery=9.0, converge=5.0, quick=True)
async def pause_leader(ctx: Context) -> None:
    nem = ctx.nemesis
    old = await nem.leader()
    span = await nem.pause(old)
    nem.recovery_point(f"leader {old} paused", span.start)
    await nem.new_leader_after(old, span.start, f"{old} paused")
    await ctx.sleep(span.start + ctx.duration / 2 - time.monotonic())
    await nem.resume(old)
    await ctx.sleep(ctx.duration / 2)


@scenario("pause-follower", "SIGSTOP a follower for longer than an election timeout and the peers' "
          "connection timeout, then SIGCONT it: it rejoins without an election (the leader's term holds)",
          duration=16.0, write_recovery=3.0, converge=5.0)
async def pause_follower(ctx: Context) -> None:
    nem = ctx.nemesis
    victim = (await nem.expect_steady_leader()).victim
    span = await nem.pause(victim)
    nem.recovery_point(f"follower {victim} paused", span.start)
    await ctx.sleep(span.start + ctx.duration / 2 - time.monotonic())
    t = await nem.resume(victim)
    nem.steady_victim_healed(t)
    nem.recovery_point(f"follower {victim} resumed", t)
    await ctx.sleep(ctx.duration / 2)


@scenario("member-wipe-and-replace", "Wipe a follower's data and start it empty at the same address; "
          "once it caught up, kill the leader so the quorum depends on it",
          duration=18.0, write_recovery=9.0, converge=5.0)
async def wipe_and_replace(ctx: Context) -> None:
    nem, cluster = ctx.nemesis, ctx.cluster
    leader = await nem.leader()
    victim = ctx.rng.choice([n for n in cluster.names if n != leader])
    span = await nem.wipe_and_replace(victim)
    # Entries committed before the wipe may now live on a bare majority that excludes the
    # victim: no other fault until it holds everything committed at its restart again.
    await nem.wait_caught_up(victim, span.start)
    await ctx.sleep(ctx.duration / 3)
    leader = await nem.leader()
    kill = await nem.kill(leader)
    nem.recovery_point(f"leader {leader} killed after the wipe", kill.start)
    await nem.new_leader_after(leader, kill.start, f"{leader} killed")
    await ctx.sleep(ctx.duration / 3)
    await nem.restart(leader)
    await ctx.sleep(ctx.duration / 3)


@scenario("leader-churn", "Kill the leader every few seconds (restarting the previous one) for a while",
          duration=30.0, write_recovery=9.0, converge=5.0)
async def leader_churn(ctx: Context) -> None:
    nem = ctx.nemesis
    end = time.monotonic() + ctx.duration
    while time.monotonic() < end:
        old = await nem.leader()
        span = await nem.kill(old)
        nem.recovery_point(f"leader {old} killed", span.start)
        await nem.new_leader_after(old, span.start, f"{old} killed")
        await ctx.sleep(1.0)
        await nem.restart(old)
        await ctx.sleep(ctx.rng.uniform(2.0, 4.0))
