"""Scenarios that change the Raft configuration under the write load."""

from __future__ import annotations

from chaos.scenarios import Context, scenario


@scenario("add-member-under-load", "Start a new replica with --join and add it under the write load "
          "(a learner until caught up, then a voter), then remove it again: no commit waits for its "
          "catch-up", duration=16.0, write_recovery=3.0, converge=5.0)
async def add_member_under_load(ctx: Context) -> None:
    nem, cluster = ctx.nemesis, ctx.cluster
    await nem.leader()
    name, index = f"r{cluster.size + 1}", cluster.size + 1
    t = await nem.add_member(name, index)
    nem.recovery_point(f"{name} added", t)
    await ctx.sleep(ctx.duration / 2)
    t = await nem.remove_member(name)
    nem.recovery_point(f"{name} removed", t)
    await ctx.sleep(ctx.duration / 4)
