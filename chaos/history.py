"""Recorded histories of client operations for the linearizability checker.

A :class:`History` is an append-only list of :class:`Op` records. The chaos
workload calls :meth:`History.invoke` just before sending a request and
:meth:`History.complete` once its outcome is known. Both methods are plain,
non-awaiting functions, so any number of asyncio tasks on one event loop may
share a History without locking (it is *not* thread-safe).

Outcome vocabulary (Jepsen's ok / fail / info):

- ``"ok"``: the operation took effect, between ``invoke_t`` and ``complete_t``.
- ``"fail"``: the operation definitely did not take effect (409 on a CAS,
  422, ...). The checker drops it.
- ``"unknown"``: the outcome is indeterminate (timeout, connection lost, 503
  after the request was sent). It may take effect at any time after
  ``invoke_t`` -- even after the history ends -- or never; ``complete_t``
  stays ``None`` (read as +inf by the checker).

An op that was invoked but never completed (the run was cut short) is also
``"unknown"``: that is what :meth:`History.invoke` records until told
otherwise.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

OK, FAIL, UNKNOWN = "ok", "fail", "unknown"
RESULTS = (OK, FAIL, UNKNOWN)
FUNCTIONS = ("read", "write", "cas")


@dataclass
class Op:
    """One client operation on one register (a ConfigMap name).

    ``value``: write -> the new value; cas -> ``(expected, new)``; read -> None.
    ``output``: for an ok read, the value read (None = key absent).
    ``id`` is the op's position in its History (stable across JSON round trips).
    """

    process: int
    key: str
    f: str
    value: Any
    invoke_t: float
    complete_t: float | None = None
    result: str = UNKNOWN
    output: Any = None
    error: str | None = None
    id: int = 0

    def __str__(self) -> str:
        end = "∞" if self.complete_t is None else f"{self.complete_t:.6f}"
        arg = "" if self.f == "read" else repr(self.value)
        out = f" -> {self.output!r}" if self.f == "read" and self.result == OK else ""
        err = f" ({self.error})" if self.error else ""
        return (f"#{self.id} p{self.process} {self.key}.{self.f}({arg}){out} {self.result}{err}"
                f" [{self.invoke_t:.6f}, {end}]")


class History:
    """An append-only record of operations; see the module docstring."""

    def __init__(self, ops: list[Op] | None = None) -> None:
        self.ops: list[Op] = list(ops or [])
        self._open: dict[int, Op] = {}

    def invoke(self, process: int, key: str, f: str, value: Any = None, now: float | None = None) -> Op:
        """Record the invocation of ``f`` by ``process``; returns the Op to complete later.

        A process issues one op at a time: invoking while its previous op is
        still open raises ValueError. (After an unknown outcome a workload may
        keep the same process id: the checker orders ops by time only.)
        """
        if f not in FUNCTIONS:
            raise ValueError(f"unknown function {f!r}")
        if process in self._open:
            raise ValueError(f"process {process} already has an open op: {self._open[process]}")
        if f == "cas":
            expected, new = value
            value = (expected, new)
        op = Op(process, key, f, value, time.monotonic() if now is None else now, id=len(self.ops))
        self.ops.append(op)
        self._open[process] = op
        return op

    def complete(self, op: Op, result: str, output: Any = None, error: str | None = None,
                 now: float | None = None) -> None:
        """Record the outcome of ``op``. Unknown outcomes keep ``complete_t = None``."""
        if result not in RESULTS:
            raise ValueError(f"unknown result {result!r}")
        if self._open.get(op.process) is not op:
            raise ValueError(f"op is not open: {op}")
        del self._open[op.process]
        op.result, op.output, op.error = result, output, error
        if result != UNKNOWN:
            op.complete_t = time.monotonic() if now is None else now

    def by_key(self) -> dict[str, list[Op]]:
        """The ops of each key, in invocation-record order."""
        out: dict[str, list[Op]] = {}
        for op in self.ops:
            out.setdefault(op.key, []).append(op)
        return out

    def summary(self) -> dict[str, int]:
        """Counts: ops, keys, per result, per function, and ops still open."""
        c: Counter[str] = Counter()
        for op in self.ops:
            c[op.result] += 1
            c[op.f] += 1
            c[f"{op.f}_{op.result}"] += 1
        return {"ops": len(self.ops), "keys": len({op.key for op in self.ops}),
                "open": len(self._open), **{r: c[r] for r in RESULTS},
                **{f: c[f] for f in FUNCTIONS},
                **{f"{f}_{r}": c[f"{f}_{r}"] for f in FUNCTIONS for r in RESULTS}}

    def to_jsonl(self, path: str | Path) -> None:
        """Write one JSON object per op. Values must be JSON-serialisable."""
        with open(path, "w", encoding="utf-8") as fh:
            for op in self.ops:
                fh.write(json.dumps(asdict(op), separators=(",", ":")) + "\n")

    @classmethod
    def from_jsonl(cls, path: str | Path) -> History:
        """Read a history written by :meth:`to_jsonl` (CAS values come back as tuples)."""
        ops = []
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    d = json.loads(line)
                    if d["f"] == "cas":
                        d["value"] = tuple(d["value"])
                    ops.append(Op(**d))
        return cls(ops)
