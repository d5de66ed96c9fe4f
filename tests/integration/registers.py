"""A steady read/write workload on a few registers (ConfigMaps), recorded for the chaos checker.

Each of ``processes`` tasks loops: write a unique value to a random key, or read one, one op at a
time, through one failover :class:`~haplane.client.Client`. Outcomes follow the client's
contract: a write that raised Unavailable was not applied (``fail``), OutcomeUnknown or any
other error leaves it ``unknown``; a failed read is dropped. The history then goes to
``chaos.checker`` (linearizability per key, and no acknowledged write lost).
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from chaos.checker import Result, check_history, check_no_lost_writes, verdict
from chaos.history import FAIL, OK, UNKNOWN, History
from haplane import errors
from haplane.client import Client

INITIAL = "init"


class Registers:
    def __init__(self, client: Client, *, keys: int = 4, processes: int = 3, pause: float = 0.01,
                 namespace: str = "default") -> None:
        self.client = client
        self.keys = [f"reg-{i}" for i in range(keys)]
        self.processes = processes
        self.pause = pause
        self.ns = namespace
        self.history = History()
        self.ok_write_times: list[float] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    def _obj(self, key: str, value: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": key, "namespace": self.ns},
                "data": {"v": value}}

    async def setup(self) -> None:
        for key in self.keys:
            try:
                await self.client.create(self._obj(key, INITIAL))
            except errors.AlreadyExists:
                await self.client.update(self._obj(key, INITIAL))

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._process(p)) for p in range(self.processes)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def _process(self, pid: int) -> None:
        rng = random.Random(pid)
        seq = 0
        while not self._stop.is_set():
            key = rng.choice(self.keys)
            if rng.random() < 0.6:
                seq += 1
                value = f"p{pid}-{seq}"
                op = self.history.invoke(pid, key, "write", value)
                try:
                    await self.client.update(self._obj(key, value))
                except errors.Unavailable as exc:
                    self.history.complete(op, FAIL, error=str(exc)[:200])
                except errors.HaplaneError as exc:
                    self.history.complete(op, UNKNOWN, error=str(exc)[:200])
                else:
                    self.history.complete(op, OK)
                    self.ok_write_times.append(time.monotonic())
            else:
                op = self.history.invoke(pid, key, "read")
                try:
                    obj = await self.client.get("ConfigMap", key, self.ns)
                except errors.HaplaneError as exc:
                    self.history.complete(op, FAIL, error=str(exc)[:200])
                else:
                    self.history.complete(op, OK, output=(obj.get("data") or {}).get("v"))
            await asyncio.sleep(self.pause)

    async def final_values(self) -> dict[str, Any]:
        return {k: ((await self.client.get("ConfigMap", k, self.ns)).get("data") or {}).get("v")
                for k in self.keys}

    async def check(self) -> tuple[dict[str, Result], Result]:
        """(linearizability per key, no-lost-writes) of the recorded history."""
        finals = await self.final_values()
        lin = await asyncio.to_thread(check_history, self.history, INITIAL, budget_s=20.0)
        return lin, check_no_lost_writes(self.history, finals, INITIAL)

    def assert_ok(self, lin: dict[str, Result], lost: Result) -> None:
        assert lost.ok, f"lost write: {lost}"
        assert verdict(lin), "not linearizable: " + "; ".join(str(r) for r in lin.values() if r.ok is not True)

    def longest_write_gap(self, since: float | None = None) -> float:
        """The longest time without an acknowledged write (seconds), from ``since`` on."""
        times = sorted(t for t in self.ok_write_times if since is None or t >= since)
        return max((b - a for a, b in zip(times, times[1:], strict=False)), default=0.0)

    def summary(self) -> dict[str, int]:
        return self.history.summary()
