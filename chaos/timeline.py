"""What happened during a run, besides the client operations: faults, marks, replica samples.

All times are ``time.monotonic()`` values, the clock :class:`chaos.history.History` uses, so
faults and operations line up; :attr:`Timeline.t0` is the run's origin for reports.
Not thread-safe: one event loop owns a Timeline.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Span:
    """A fault in force from ``start`` to ``end`` (None: never healed within the run)."""

    id: int
    kind: str  # kill | pause | partition | bridge | slow | wipe | ...
    targets: list[str]
    detail: str
    start: float
    end: float | None = None


@dataclass
class Mark:
    """A point event: a phase change, a recovery reference point, a harness error."""

    t: float
    kind: str  # phase | recovery | error | note
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Sample:
    """One replica's view as polled by the monitor (``up`` False: no answer)."""

    t: float
    name: str
    up: bool
    role: str | None = None
    term: int | None = None
    leader: str | None = None  # the leader's replica name, as this replica believes
    commit: int | None = None
    applied: int | None = None


class Timeline:
    def __init__(self, t0: float | None = None) -> None:
        self.t0 = time.monotonic() if t0 is None else t0
        self.spans: list[Span] = []
        self.marks: list[Mark] = []
        self.samples: list[Sample] = []

    @staticmethod
    def now() -> float:
        return time.monotonic()

    def begin(self, kind: str, targets: list[str], detail: str = "", at: float | None = None) -> Span:
        span = Span(len(self.spans), kind, list(targets), detail, self.now() if at is None else at)
        self.spans.append(span)
        return span

    def end(self, span: Span, at: float | None = None) -> None:
        if span.end is None:
            span.end = self.now() if at is None else at

    def open_spans(self, kind: str | None = None, target: str | None = None) -> list[Span]:
        return [s for s in self.spans if s.end is None and (kind is None or s.kind == kind)
                and (target is None or target in s.targets)]

    def mark(self, kind: str, detail: str, at: float | None = None, **data: Any) -> Mark:
        m = Mark(self.now() if at is None else at, kind, detail, data)
        self.marks.append(m)
        return m

    def marks_of(self, kind: str) -> list[Mark]:
        return [m for m in self.marks if m.kind == kind]

    def to_doc(self) -> dict[str, Any]:
        return {"t0": self.t0, "spans": [asdict(s) for s in self.spans],
                "marks": [asdict(m) for m in self.marks], "samples": [asdict(s) for s in self.samples]}
