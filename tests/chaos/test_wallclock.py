"""The wall-clock nemesis (chaos.wallclock) on a real process: its wall clock steps, its
monotonic clock, sleeps and timed waits do not."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from chaos import wallclock

CHILD = r"""
import datetime, json, sys, threading, time
t0, m0 = time.time(), time.monotonic()
print("ready", flush=True)
sys.stdin.readline()  # stepped meanwhile
time.sleep(0.05)  # (libfaketime 0.9.10 makes this raise EINVAL)
threading.Event().wait(0.05)
print(json.dumps({"wall": time.time() - t0, "mono": time.monotonic() - m0,
                  "datetime": datetime.datetime.now().timestamp() - t0}), flush=True)
"""


@pytest.mark.parametrize("offset", [3600.0, -3600.0, 0.0])
def test_only_the_wall_clock_steps(tmp_path, offset: float) -> None:  # noqa: ANN001
    lib = wallclock.build(str(tmp_path))
    clock_file = str(tmp_path / "clock")
    env = dict(os.environ, **wallclock.env_for(lib, clock_file))
    p = subprocess.Popen([sys.executable, "-c", CHILD], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    try:
        assert p.stdout is not None and p.stdin is not None
        assert p.stdout.readline().strip() == "ready"
        wallclock.write_offset(clock_file, offset)
        p.stdin.write("go\n")
        p.stdin.flush()
        got = json.loads(p.stdout.readline())
    finally:
        p.wait(timeout=10)
    assert p.returncode == 0
    assert got["wall"] == pytest.approx(offset, abs=5.0)
    assert got["datetime"] == pytest.approx(offset, abs=5.0)
    assert 0.09 <= got["mono"] < 5.0, "the monotonic clock (and the sleeps) did not move with the step"
