"""Scenarios that cut or degrade Raft links (through the fault-injecting transport)."""

from __future__ import annotations

import time

from chaos.scenarios import Context, scenario


@scenario("partition-leader", "Cut the leader off from everyone; it must acknowledge nothing and serve "
          "no stale read while the majority elects and serves; heal",
          duration=16.0, write_recovery=9.0, converge=5.0, quick=True)
async def partition_leader(ctx: Context) -> None:
    nem, cluster = ctx.nemesis, ctx.cluster
    old = await nem.leader()
    others = [n for n in cluster.names if n != old]
    t = await nem.partition([old], others)
    nem.recovery_point(f"leader {old} isolated", t)
    await nem.new_leader_after(old, t, f"{old} isolated")
    await ctx.sleep(t + ctx.duration * 0.6 - time.monotonic())
    # The window closes when the heal *begins*: replicas load the new rules one by one, and the
    # old leader may rejoin and acknowledge (rightly) before the last one has loaded them.
    nem.quiet_window([old], t, time.monotonic(), f"{old} isolated")
    healed = await nem.heal_links()
    nem.recovery_point("partition healed", healed)
    await ctx.sleep(ctx.duration * 0.4)


@scenario("partition-follower-then-heal", "Cut a follower off from everyone for longer than an "
          "election timeout, then heal: it rejoins without an election (the leader's term holds)",
          duration=16.0, write_recovery=3.0, converge=5.0)
async def partition_follower(ctx: Context) -> None:
    nem, cluster = ctx.nemesis, ctx.cluster
    victim = (await nem.expect_steady_leader()).victim
    t = await nem.partition([victim], [n for n in cluster.names if n != victim])
    nem.recovery_point(f"follower {victim} isolated", t)
    await ctx.sleep(t + ctx.duration * 0.6 - time.monotonic())
    healed = await nem.heal_links()
    nem.steady_victim_healed(healed)
    nem.recovery_point("partition healed", healed)
    await ctx.sleep(ctx.duration * 0.4)


@scenario("partition-bridge", "Split the cluster in two halves that only one member (the bridge) "
          "can see both of; heal", duration=16.0, write_recovery=9.0, converge=5.0)
async def partition_bridge(ctx: Context) -> None:
    nem, cluster = ctx.nemesis, ctx.cluster
    leader = await nem.leader()
    followers = [n for n in cluster.names if n != leader]
    ctx.rng.shuffle(followers)
    side = (cluster.size - 1) // 2
    left = [leader] + followers[:side - 1]
    bridge = [followers[side - 1]]
    right = followers[side:]
    t = await nem.bridge(left, bridge, right)
    nem.recovery_point(f"bridged by {bridge[0]}", t)
    await ctx.sleep(t + ctx.duration * 0.6 - time.monotonic())
    healed = await nem.heal_links()
    nem.recovery_point("partition healed", healed)
    await ctx.sleep(ctx.duration * 0.4)


@scenario("slow-peer", "Delay every message to and from the leader by 200 ms and lose 10% of them; heal",
          duration=16.0, write_recovery=5.0, converge=5.0, quick=True)
async def slow_peer(ctx: Context) -> None:
    nem = ctx.nemesis
    victim = await nem.leader()
    t = await nem.slow(victim, delay=0.2, loss=0.1)
    nem.recovery_point(f"{victim} slowed", t)
    await ctx.sleep(t + ctx.duration * 0.6 - time.monotonic())
    healed = await nem.heal_links()
    nem.recovery_point("links healed", healed)
    await ctx.sleep(ctx.duration * 0.4)
