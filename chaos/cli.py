"""``haplane chaos list`` and ``haplane chaos run [SCENARIO ...]``.

``run`` starts a fresh cluster per scenario, prints progress as it goes, writes a report
(``--report DIR``: summary.json, index.html, histories) and exits 0 only if every scenario
passed. Imported only when ``haplane chaos`` runs (the CLI registers it lazily).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

from chaos.runner import RunOptions, ScenarioResult, run_scenario
from chaos.scenarios import all_scenarios
from haplane.progress import Reporter, make_reporter


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="chaos_command", metavar="ACTION")
    sub.required = True
    sub.add_parser("list", help="the scenarios, their bounds, and which run in `make test`")
    run = sub.add_parser("run", help="run scenarios against a fresh local cluster each")
    run.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                     help="scenarios to run (default: all); 'quick' = the `make test` subset")
    run.add_argument("--replicas", type=int, choices=[3, 5], default=3, help="replicas per cluster (default 3)")
    run.add_argument("--agents", type=int, default=2, metavar="N",
                     help="node agents of the worker scenarios (default 2, at least 2: pods must have "
                          "somewhere to go); control-plane scenarios run none")
    run.add_argument("--runtime", choices=["process", "docker", "hollow"], default="process",
                     help="the agents' runtime (default process); worker scenarios refuse hollow, whose "
                          "containers the harness cannot see")
    run.add_argument("--duration", type=float, help="seconds of fault phase (default: per scenario)")
    run.add_argument("--seed", type=int, help="random seed (default: random, printed)")
    run.add_argument("--report", metavar="DIR", help="write summary.json, index.html and histories here")
    run.add_argument("--work-dir", metavar="DIR", help="cluster data dirs (default: a temp dir; failed runs kept)")
    run.add_argument("--base-port", type=int, default=11000, help="first port of the clusters (default 11000)")
    run.add_argument("--keep", action="store_true", help="keep data dirs and replica logs of passing runs too")
    run.add_argument("--compaction-entries", type=int, default=500, metavar="N",
                     help="Raft log compaction threshold, small so snapshots happen within a run "
                          "(default 500; 0 = the server's default)")
    run.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                     help="extra environment of the replicas, e.g. HAPLANE_RAFT_ELECTION_MIN=0.3 (repeatable)")
    run.add_argument("--log-format", choices=("text", "json"), default=None,
                     help="the replicas' and agents' log lines (HAPLANE_LOG_FORMAT; default text)")
    run.add_argument("--unsafe-local-reads", action="store_true",
                     help="TEST ONLY: replicas serve reads from local state; the checker must fail the run")
    run.add_argument("--unsafe-forget-containers", action="store_true",
                     help="TEST ONLY: agents adopt no container after a restart (they start every pod again); "
                          "the pod checks must fail a worker scenario that restarts an agent")
    run.add_argument("--unsafe-no-fsync", action="store_true",
                     help="TEST ONLY: replicas run with --unsafe-no-fsync; power-loss must then report "
                          "acknowledged writes lost")


def main(args: argparse.Namespace) -> int:
    scenarios = all_scenarios()
    if args.chaos_command == "list":
        print(f"{'SCENARIO':31} {'QUICK':5} {'DURATION':>8} {'RECOVERY':>8} {'CONVERGE':>8} {'PODS':>6}  SUMMARY")
        for s in scenarios.values():
            pods = f"{s.pod_recovery:5g}s" if s.workers else "     -"
            print(f"{s.name:31} {'yes' if s.quick else '':5} {s.duration:7g}s {s.write_recovery:7g}s "
                  f"{s.converge:7g}s {pods}  {s.summary}")
        return 0
    wanted: list[str] = []
    for name in args.scenarios or list(scenarios):
        if name == "quick":
            wanted += [s.name for s in scenarios.values() if s.quick]
        elif name in scenarios:
            wanted.append(name)
        else:
            print(f"error: unknown scenario {name!r}; see `haplane chaos list`", file=sys.stderr)
            return 2
    workers = [n for n in wanted if scenarios[n].workers]
    if workers:
        from chaos.runner import check_runtime

        if args.agents < 2:
            print("error: worker scenarios need --agents 2 or more (pods must have somewhere to go)",
                  file=sys.stderr)
            return 2
        if why := check_runtime(args.runtime):
            print(f"error: {', '.join(workers)}: {why}", file=sys.stderr)
            return 2
    env: dict[str, str] = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"error: --env expects KEY=VALUE, got {item!r}", file=sys.stderr)
            return 2
        env[key] = value
    if args.log_format:
        env["HAPLANE_LOG_FORMAT"] = args.log_format
    opts = RunOptions(env=env, replicas=args.replicas, duration=args.duration, seed=args.seed, base_port=args.base_port,
                      work_dir=args.work_dir, keep_data=args.keep, unsafe_local_reads=args.unsafe_local_reads,
                      unsafe_forget_containers=args.unsafe_forget_containers, unsafe_no_fsync=args.unsafe_no_fsync,
                      compaction_entries=args.compaction_entries or None, agents=args.agents, runtime=args.runtime)
    return asyncio.run(_cancel_on_sigterm(_run(wanted, opts, args.report)))


async def _cancel_on_sigterm(main: Coroutine[Any, Any, int]) -> int:
    """Run ``main``; SIGTERM cancels it like Ctrl-C does, so every cleanup (processes, iptables
    rules, containers) runs on the way out."""
    task = asyncio.ensure_future(main)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await task
    except asyncio.CancelledError:
        print("haplane chaos: interrupted; cleaned up", file=sys.stderr, flush=True)
        return 130
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def scenario_status(i: int, n: int, name: str, passed: int, failed: int) -> tuple[str, str]:
    """(text, detail) of the live status line while scenario ``i`` of ``n`` runs. Pure."""
    tally = "no verdict yet" if passed + failed == 0 else f"so far {passed} passed, {failed} failed"
    return f"scenario {i} of {n}: {name}", tally


def verdict_lines(r: ScenarioResult) -> list[str]:
    """The lines a finished scenario prints: each verdict (details of the failed ones), then the result."""
    lines: list[str] = []
    for v in r.verdicts:
        mark = {True: "ok  ", False: "FAIL", None: "??  "}[v.ok]
        lines.append(f"    {mark} {v.name}: {v.summary}")
        if v.ok is not True:
            lines += [f"         {line}" for line in v.details[:20]]
    lines.append(f"  => {r.scenario}: {'PASS' if r.ok else 'FAIL'} in {r.wall_s:.1f}s"
                 + (f" (data kept in {r.data_dir})" if r.data_dir else ""))
    return lines


class _ScenarioProgress:
    """The runner's progress callback for one scenario: each phase line as a note (as it always
    printed), and on a terminal the live status (scenario n of m, elapsed, the tally so far)."""

    def __init__(self, rep: Reporter, i: int, n: int, name: str, passed: int, failed: int) -> None:
        self.rep, self.t = rep, time.monotonic()
        self.text, self.tally = scenario_status(i, n, name, passed, failed)
        self.done, self.total = i - 1, n

    def __call__(self, line: str) -> None:
        self.rep.note(line)
        phase = line.strip()
        if phase.startswith("[") and "]" in phase:
            phase = phase[phase.index("]") + 1:].strip()  # the runner's "[  1.2s]": the bar has the time
        self.rep.status(self.text, done=self.done, total=self.total, since=self.t,
                        detail=f"{phase} · {self.tally}", plain="")


async def _run(names: list[str], opts: RunOptions, report_dir: str | None) -> int:
    import random

    if opts.seed is None:
        opts.seed = random.randrange(2**31)
    scenarios = all_scenarios()
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    t0 = time.monotonic()
    results: list[ScenarioResult] = []
    with make_reporter() as rep:
        rep.note(f"haplane chaos: {len(names)} scenario(s), {opts.replicas} replicas, seed {opts.seed}"
                 + (f"; worker scenarios: {opts.agents} {opts.runtime} agents"
                    if any(scenarios[n].workers for n in names) else ""))
        for i, name in enumerate(names, 1):
            rep.note(f"[{i}/{len(names)}] {name}")
            passed = sum(r.ok for r in results)
            r = await run_scenario(scenarios[name], opts,
                                   _ScenarioProgress(rep, i, len(names), name, passed, len(results) - passed))
            results.append(r)
            passed = sum(x.ok for x in results)
            text, tally = scenario_status(i, len(names), name, passed, len(results) - passed)
            rep.status(text, done=i, total=len(names), detail=f"done · {tally}", plain="")
            for line in verdict_lines(r):  # the verdicts as each scenario's come in
                rep.note(line)
    wall = time.monotonic() - t0
    passed = sum(r.ok for r in results)
    print(f"haplane chaos: {passed}/{len(results)} passed in {wall:.1f}s (seed {opts.seed})", flush=True)
    if report_dir:
        from chaos.report import write_report

        meta = {"started": started, "wall_s": round(wall, 1), "replicas": opts.replicas, "seed": opts.seed,
                "agents": opts.agents, "runtime": opts.runtime,
                "duration": opts.duration, "unsafe_local_reads": opts.unsafe_local_reads,
                "unsafe_forget_containers": opts.unsafe_forget_containers, "unsafe_no_fsync": opts.unsafe_no_fsync,
                "compaction_entries": opts.compaction_entries, "env": opts.env,
                "scenarios_run": names}
        page = write_report(report_dir, results, meta)
        print(f"report: {os.path.abspath(page)}", flush=True)
    return 0 if passed == len(results) else 1
