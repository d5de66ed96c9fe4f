"""Container resource usage: readings, CPU rates over a window, and the readings' parsers. Pure.

A :class:`Sample` is one reading of a container: when, its cumulative CPU time and its memory
now. The CPU *usage* is a rate, so it takes two readings: :func:`rate` divides the CPU time
spent between them by the time between them (nanocores; ``window`` is that time), as
metrics-server does with the kubelet's cumulative counters. :class:`Windows` keeps the last two
readings per container; a counter that went backwards (the container restarted under the same
key, or a process left the group unaccounted) restarts that container's window.

The parsers turn what the runtimes read into samples: ``/proc/PID/stat`` lines summed per
process group (the process runtime), and the Docker engine's stats document (cgroup v1 or v2).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Sample:
    time: float    # wall-clock seconds of the reading
    cpu_ns: int    # cumulative CPU time, nanoseconds (user + system)
    memory: int    # bytes in use now: the working set (Docker) or the resident set (processes)


@dataclass(frozen=True)
class Usage:
    time: float      # the newer reading's time
    window: float    # seconds between the two readings
    nanocores: int   # CPU time per second over the window, in billionths of a core
    memory: int      # bytes, at the newer reading
    cpu_ns: int      # cumulative CPU time at the newer reading

    def __add__(self, other: Usage) -> Usage:
        return Usage(max(self.time, other.time), max(self.window, other.window), self.nanocores + other.nanocores,
                     self.memory + other.memory, self.cpu_ns + other.cpu_ns)


def rate(old: Sample, new: Sample) -> Usage | None:
    """The usage between two readings of one container; None when they cannot give one (no
    time between them, or a CPU counter that went backwards)."""
    window = new.time - old.time
    if window <= 0 or new.cpu_ns < old.cpu_ns:
        return None
    return Usage(new.time, window, round((new.cpu_ns - old.cpu_ns) / window), new.memory, new.cpu_ns)


def total(usages: Iterable[Usage]) -> Usage | None:
    """The sum of several containers' usages (a pod's, a node's); None for none."""
    out: Usage | None = None
    for u in usages:
        out = u if out is None else out + u
    return out


class Windows(Generic[K]):
    """The last two readings of each container (keyed by its id)."""

    def __init__(self) -> None:
        self._samples: dict[K, tuple[Sample | None, Sample]] = {}

    def add(self, key: K, sample: Sample) -> None:
        prev = self._samples.get(key)
        if prev is None or sample.cpu_ns < prev[1].cpu_ns:
            self._samples[key] = (None, sample)  # the first reading, or a counter reset: start again
        elif sample.time > prev[1].time:
            self._samples[key] = (prev[1], sample)
        # else: a reading no newer than the last one (the clock stepped back): ignored

    def usage(self, key: K) -> Usage | None:
        pair = self._samples.get(key)
        if pair is None or pair[0] is None:
            return None
        return rate(pair[0], pair[1])

    def retain(self, keys: Iterable[K]) -> None:
        """Forget every container not in ``keys`` (gone since the last round)."""
        keep = set(keys)
        self._samples = {k: v for k, v in self._samples.items() if k in keep}

    def __len__(self) -> int:
        return len(self._samples)


# --- the process runtime: /proc ------------------------------------------------------------


@dataclass(frozen=True)
class ProcStat:
    pid: int
    state: str
    pgrp: int
    cpu_ticks: int   # utime + stime + cutime + cstime (clock ticks)
    rss_pages: int
    start_time: int  # clock ticks after boot (tells a reused pid from the process it was)


def parse_proc_stat(pid: int, text: str) -> ProcStat | None:
    """One ``/proc/PID/stat`` line; None if it is not one (the command name may hold spaces and ')')."""
    close = text.rfind(")")
    if close < 0:
        return None
    fields = text[close + 2:].split()
    try:
        # fields[0] is field 3 of proc(5), state; pgrp is 5, utime..cstime 14-17, starttime 22, rss 24
        ticks = sum(int(f) for f in fields[11:15])
        return ProcStat(pid, fields[0], int(fields[2]), ticks, int(fields[21]), int(fields[19]))
    except (IndexError, ValueError):
        return None


def group_usage(stats: Iterable[ProcStat], groups: Iterable[int], *, now: float, ticks_per_s: int,
                page_size: int) -> dict[int, Sample]:
    """A sample per process group in ``groups``, summed over its live members.

    A member's CPU time includes that of its children it has reaped (``cutime``/``cstime``), so
    a shell's short-lived commands are counted once: by themselves while they run, then by their
    parent. A member that ends and is reaped outside the group takes its time with it (the sum
    can then go backwards, which restarts the window). RSS counts shared pages once per process.
    """
    wanted = set(groups)
    cpu = dict.fromkeys(wanted, 0)
    rss = dict.fromkeys(wanted, 0)
    alive = set()
    for st in stats:
        if st.pgrp in wanted and st.state not in ("Z", "X"):
            cpu[st.pgrp] += st.cpu_ticks
            rss[st.pgrp] += st.rss_pages
            alive.add(st.pgrp)
        elif st.pgrp in wanted:  # a zombie still holds its own times until it is reaped
            cpu[st.pgrp] += st.cpu_ticks
    return {g: Sample(now, cpu[g] * 1_000_000_000 // ticks_per_s, rss[g] * page_size) for g in alive}


# --- the Docker runtime: the engine's stats ------------------------------------------------


def docker_sample(stats: Mapping[str, Any], read_time: float | None) -> Sample | None:
    """A sample from ``GET /containers/{id}/stats?stream=false&one-shot=true`` read at
    ``read_time`` (its ``read`` field); None when the engine has no numbers (a container that is
    not running reports zeros and the zero time).

    Memory is the working set as the kubelet computes it: usage minus the inactive file cache
    (``total_inactive_file`` on cgroup v1, ``inactive_file`` on v2), never below zero."""
    cpu = ((stats.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage")
    mem = stats.get("memory_stats") or {}
    usage = mem.get("usage")
    if not isinstance(cpu, int) or not isinstance(usage, int) or read_time is None:
        return None
    detail = mem.get("stats") or {}
    inactive = detail.get("total_inactive_file", detail.get("inactive_file", 0))
    return Sample(read_time, cpu, max(0, usage - (inactive if isinstance(inactive, int) else 0)))
