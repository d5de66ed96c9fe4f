"""The quick chaos subset on real replica processes, and proof that the harness bites.

Each scenario starts its own three-replica cluster (plus two process-runtime agents for a
worker scenario), runs the workloads through real faults and must pass every check. A failure writes the run's report (timeline, histories) under the test's
tmp_path and prints the seed.
"""

from __future__ import annotations

import copy
import os

import pytest

from chaos.report import write_report
from chaos.runner import RunOptions, ScenarioResult, run_scenario
from chaos.scenarios import all_scenarios, quick_scenarios
from chaos.watchcheck import COMPLETE, ORDERED, VALID, WatchStream, check_watches
from chaos.workload import WorkloadConfig

pytestmark = pytest.mark.integration

BASE_PORT = int(os.environ.get("HAPLANE_CHAOS_TEST_BASE_PORT", "14000"))


def explain(r: ScenarioResult, report_dir: str) -> str:
    lines = [f"{r.scenario} (seed {r.seed}) failed; report in {report_dir}"]
    for v in r.verdicts:
        lines.append(f"  {v.name}: {v.ok} {v.summary}")
        lines += [f"      {d}" for d in v.details[:10]]
    return "\n".join(lines)


def test_the_quick_subset_is_small_and_covers_each_fault_kind() -> None:
    quick = quick_scenarios()
    control = [s for s in quick if not s.workers]
    assert 3 <= len(control) <= 4
    assert {"kill-leader", "partition-leader"} <= {s.name for s in control}
    assert [s.name for s in quick if s.workers] == ["kill-worker"]


@pytest.mark.parametrize("name", [s.name for s in quick_scenarios()])
async def test_quick_scenario(name: str, tmp_path) -> None:  # noqa: ANN001
    r = await run_scenario(all_scenarios()[name], RunOptions(work_dir=str(tmp_path / "data"), base_port=BASE_PORT),
                           progress=print)
    if not r.ok:
        write_report(str(tmp_path / "report"), [r], {"test": name})
    assert r.ok, explain(r, str(tmp_path / "report"))
    assert r.history.summary()["ok"] > 100, "the workload did not run"
    if all_scenarios()[name].workers:
        assert len(r.pod_samples) > 20 and r.figures["replaced_s"], "the pods were not watched being replaced"
    assert r.figures["watch_events"] > 1000, "the watchers saw (almost) nothing"
    the_watch_checks_bite_on(r)


def _recheck(r: ScenarioResult, streams: list[WatchStream]) -> dict[str, bool | None]:
    registers = sorted({op.key for op in r.history.ops if op.key.startswith("reg-")})
    return {v.name: v.ok for v in check_watches(streams, r.history, r.creates, registers, r.watch_versions)}


def the_watch_checks_bite_on(r: ScenarioResult) -> None:
    """The run's real streams, broken three ways after the fact (no switch in the server): one
    event removed, two swapped, one value no client wrote — each must fail its verdict."""
    assert set(_recheck(r, r.watch_streams).values()) == {True}
    victim = next(i for i, s in enumerate(r.watch_streams) if s.via == "*")
    events = [i for i, rec in enumerate(r.watch_streams[victim].records) if rec.type in ("ADDED", "MODIFIED")]
    mid = events[len(events) // 2]

    def broken(edit) -> list[WatchStream]:  # noqa: ANN001
        streams = copy.deepcopy(r.watch_streams)
        edit(streams[victim].records)
        return streams

    def swap(recs: list) -> None:  # noqa: ANN001
        recs[mid], recs[events[events.index(mid) + 1]] = recs[events[events.index(mid) + 1]], recs[mid]

    def phantom(recs: list) -> None:  # noqa: ANN001
        recs[mid].value = "nobody wrote this"

    assert _recheck(r, broken(lambda recs: recs.pop(mid)))[COMPLETE] is False, "a dropped event went unseen"
    assert _recheck(r, broken(swap))[ORDERED] is False, "two swapped events went unseen"
    assert _recheck(r, broken(phantom))[VALID] is False, "a phantom value went unseen"


async def test_harness_catches_stale_reads_from_an_isolated_leader(tmp_path) -> None:  # noqa: ANN001
    """Test-only broken replicas answer reads from local state: the checker must say so."""
    opts = RunOptions(work_dir=str(tmp_path / "data"), base_port=BASE_PORT, unsafe_local_reads=True,
                      workload=WorkloadConfig(read_weight=0.8, write_weight=0.1, cas_weight=0.1))
    r = await run_scenario(all_scenarios()["partition-leader"], opts, progress=print)
    verdicts = {v.name: v for v in r.verdicts}
    report = str(tmp_path / "report")
    write_report(report, [r], {"test": "bite"})
    assert "scenario-ran" not in verdicts, explain(r, report)
    assert verdicts["linearizable"].ok is False, explain(r, report)
    assert "NOT linearizable" in "\n".join(verdicts["linearizable"].details)
    # ... and the direct evidence: the cut-off old leader acknowledged reads while isolated.
    assert verdicts["isolated-acks-nothing"].ok is False, explain(r, report)
    assert any(".read()" in d for d in verdicts["isolated-acks-nothing"].details)
    # Durability is not what broke: acknowledged writes all survived.
    assert verdicts["no-lost-writes"].ok is True, explain(r, report)


async def test_harness_catches_an_agent_that_adopts_nothing(tmp_path) -> None:  # noqa: ANN001
    """Test-only broken agents forget the containers they find after a restart and start every
    pod again: the pod checks, which watch what really runs, must say so."""
    opts = RunOptions(work_dir=str(tmp_path / "data"), base_port=BASE_PORT, unsafe_forget_containers=True)
    r = await run_scenario(all_scenarios()["kill-agent-only"], opts, progress=print)
    verdicts = {v.name: v for v in r.verdicts}
    report = str(tmp_path / "report")
    write_report(report, [r], {"test": "bite-agent"})
    assert verdicts["single-running-pod"].ok is False, explain(r, report)
    assert any("runs 2 times" in d for d in verdicts["single-running-pod"].details), explain(r, report)
    # The control plane is not what broke.
    assert verdicts["linearizable"].ok is True and verdicts["no-lost-writes"].ok is True, explain(r, report)


@pytest.mark.parametrize("unsafe", [pytest.param(True, id="unsafe-no-fsync-loses-writes"),
                                    pytest.param(False, id="fsync-loses-none")])
async def test_power_loss_bites_without_fsync_and_finds_nothing_with_it(tmp_path, unsafe: bool) -> None:  # noqa: ANN001
    """power-loss cuts every journal back to what it had fsynced: with --unsafe-no-fsync that is
    (almost) nothing, and acknowledged writes must be reported lost; with fsync, none."""
    opts = RunOptions(work_dir=str(tmp_path / "data"), base_port=BASE_PORT, unsafe_no_fsync=unsafe)
    r = await run_scenario(all_scenarios()["power-loss"], opts, progress=print)
    verdicts = {v.name: v for v in r.verdicts}
    report = str(tmp_path / "report")
    write_report(report, [r], {"test": f"power-loss unsafe={unsafe}"})
    assert "scenario-ran" not in verdicts, explain(r, report)
    assert sum(r.figures.get("unsynced_bytes_lost", [])) > 0 or not unsafe, "the nemesis cut nothing"
    durability = {n: verdicts[n].ok for n in ("no-lost-writes", "creates-durable")}
    if unsafe:
        assert False in durability.values(), explain(r, report)
    else:
        assert r.ok, explain(r, report)
