"""Watch streams as the watchers recorded them, and what they must show — pure functions.

The watch workload (:mod:`chaos.watchers`) records, per watcher, every line its stream delivered
(:class:`Seen`: type, object name, ``data.value``, resourceVersion, time received) plus markers of
its own: ``RESUME`` (the stream broke; watched again from the revision it had reached), ``GONE``
(a 410: the revision is too old to resume from) and ``RELIST`` (after a 410: a linearizable list
at a revision, from which the watch starts again). The clients' own observations — each
acknowledged write's or create's answer, each ok read, the final lists — are :class:`Version`\\ s:
"object ``name`` held ``value`` from revision ``rv``".

The guarantees (those of etcd's robustness tests that a Kubernetes-shaped watch promises):

* **ordered** (:data:`ORDERED`) — in one watcher's stream, across every resume, revisions
  strictly increase: no revision twice (*unique*), no event at or below a revision the stream
  already reached, whether by an event or by a BOOKMARK (*bookmarkable*: a bookmark at ``r``
  promises that everything up to ``r`` was sent), no bookmark going back. A relist starts the
  order again at its revision (and may not go back either: the list is linearizable).
* **complete** (:data:`COMPLETE`, *reliable*) — a stream covers spans ``(lo, hi]``: ``lo`` is the
  start revision or a relist's, ``hi`` the highest revision the stream reached before its next
  410 (resumes do not end a span: a resumed watch must deliver everything after the revision it
  resumed from). Every *known* change to a watched object whose revision lies in a span appears
  in that span, same object, same value. Known changes are those some source proves happened:
  a client's observation (an acknowledged write's answer, a read, a final list) or another
  watcher's valid event — so an unknown-outcome write that did land is required of every
  watcher as soon as anyone saw it, and one nobody saw is required of nobody. Also *progress*:
  each watcher reached the last known change (``target_rv``) when the run ended.
* **valid** (:data:`VALID`) — every event is a change that happened: to a watched object
  (a register: MODIFIED only, since registers exist before the watch and are never deleted; a
  created object: ADDED only), carrying a value a client wrote (a register write or CAS, or the
  create), by an op that did not definitely fail, received no earlier than that op was sent,
  and at the one revision every source agrees on (a revision is one change; a change is at one
  revision — values are unique per write).

A 410 is allowed: it only ends the span, and the changes between the span and the relist's
revision are excused. Ops with unknown outcome may appear or not.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from chaos.history import FAIL, History
from chaos.invariants import Verdict

ORDERED, COMPLETE, VALID = "watch-ordered", "watch-complete", "watch-valid"
OBJECT_EVENTS = ("ADDED", "MODIFIED", "DELETED")
BOOKMARK, RESUME, GONE, RELIST = "BOOKMARK", "RESUME", "GONE", "RELIST"
MAX_DETAILS = 40  # per verdict; counts are in the summary and data


@dataclass
class Seen:
    """One record of a watcher: an event or bookmark as delivered, or one of its own markers.

    ``rv``: the event's / bookmark's resourceVersion, the revision a RESUME watched from, a
    RELIST's list revision (None for GONE). ``items``: a RELIST's objects ``[name, rv, value]``.
    """

    t: float
    type: str
    rv: int | None
    name: str | None = None
    value: Any = None
    detail: str | None = None
    items: list[list[Any]] | None = None


@dataclass
class WatchStream:
    """Everything one watcher saw. ``via``: the replica it is pinned to, or ``*`` (failover)."""

    name: str
    via: str
    start_rv: int
    records: list[Seen] = field(default_factory=list)
    target_rv: int | None = None       # the last known change when the run ended: must be reached
    caught_up_t: float | None = None   # when it was reached (None: never)

    def events(self) -> list[Seen]:
        return [r for r in self.records if r.type in OBJECT_EVENTS]

    def count(self, kind: str) -> int:
        return sum(1 for r in self.records if r.type == kind)

    def to_doc(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> WatchStream:
        d = dict(doc)
        d["records"] = [Seen(**r) for r in d.get("records", [])]
        return cls(**d)


@dataclass(frozen=True)
class Version:
    """A client saw object ``name`` hold ``value`` as of revision ``rv`` (``source`` says how)."""

    rv: int
    name: str
    value: Any
    source: str


@dataclass(frozen=True)
class Span:
    """Records ``[start, end)`` of a stream cover revisions ``(lo, hi]``."""

    lo: int
    hi: int
    start: int
    end: int


def spans(s: WatchStream) -> list[Span]:
    """The stream's spans: a new one starts at each RELIST; a GONE closes the current one."""
    out: list[Span] = []
    lo = hi = s.start_rv
    begin, closed = 0, False
    for i, r in enumerate(s.records):
        if r.type == RELIST and r.rv is not None:
            out.append(Span(lo, hi, begin, i))
            lo = hi = r.rv
            begin, closed = i + 1, False
        elif r.type == GONE:
            closed = True
        elif not closed and r.rv is not None and (r.type in OBJECT_EVENTS or r.type == BOOKMARK):
            hi = max(hi, r.rv)
    out.append(Span(lo, hi, begin, len(s.records)))
    return out


def reached(s: WatchStream) -> int:
    """The revision the stream had reached when it ended (its last span's end)."""
    return spans(s)[-1].hi


# ----------------------------------------------------------------------------- what clients did


@dataclass(frozen=True)
class Attempt:
    """A client's attempt at a change: its outcome, when it was sent, and how to name it."""

    result: str
    invoke_t: float
    label: str


@dataclass
class Writes:
    """What the clients tried to do to the watched objects (from the history and the creates)."""

    registers: frozenset[str]
    values: dict[tuple[str, Any], Attempt]  # (register, value written) -> the write / CAS
    creates: dict[str, Attempt]             # created object's name -> the create


def writes_of(history: History | Iterable[Any], creates: Iterable[Any], registers: Iterable[str]) -> Writes:
    """``history``: register ops (chaos.history); ``creates``: records with name, result, invoke_t."""
    regs = frozenset(registers)
    ops = history.ops if isinstance(history, History) else list(history)
    values: dict[tuple[str, Any], Attempt] = {}
    for op in ops:
        if op.key in regs and op.f in ("write", "cas"):
            new = op.value if op.f == "write" else op.value[1]
            values[(op.key, _hashable(new))] = Attempt(op.result, op.invoke_t, f"#{op.id} p{op.process} {op.f}")
    made = {c.name: Attempt(c.result, c.invoke_t, f"create p{c.process}") for c in creates}
    return Writes(regs, values, made)


def _hashable(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def why_invalid(r: Seen, w: Writes) -> str | None:
    """Why event ``r`` cannot be a change the clients made (None: it can)."""
    if r.name in w.registers:
        if r.type != "MODIFIED":
            return f"a {r.type} of register {r.name}, which existed before the watch and is only ever updated"
        a = w.values.get((r.name, _hashable(r.value)))
        if a is None:
            return f"value {r.value!r} was never written to {r.name}"
    elif r.name in w.creates:
        if r.type != "ADDED":
            return f"a {r.type} of {r.name}, which is only ever created"
        if r.value != r.name:
            return f"{r.name} was created with value {r.name!r}, not {r.value!r}"
        a = w.creates[r.name]
    else:
        return f"nobody created {r.name!r}"
    if a.result == FAIL:
        return f"written by {a.label}, which definitely failed"
    if r.t < a.invoke_t:
        return f"received {a.invoke_t - r.t:.3f}s before {a.label} was sent"
    return None


def _allowed(name: str, value: Any, w: Writes) -> bool:
    a = w.values.get((name, _hashable(value))) if name in w.registers else \
        (w.creates.get(name) if value == name else None)
    return a is not None and a.result != FAIL


# ----------------------------------------------------------------------------- the verdicts


def _fmt(r: Seen, t0: float) -> str:
    what = f" {r.name}={r.value!r}" if r.name is not None else ""
    extra = f" ({r.detail})" if r.detail else ""
    if r.type == RELIST:
        extra += f" [{len(r.items or [])} objects]"
    return f"+{r.t - t0:8.3f}s {r.type:8} rv={r.rv}{what}{extra}"


def _around(s: WatchStream, i: int, t0: float, before: int = 2, after: int = 2) -> list[str]:
    lo, hi = max(0, i - before), min(len(s.records), i + after + 1)
    return [("  > " if j == i else "    ") + _fmt(s.records[j], t0) for j in range(lo, hi)]


def _order_problems(s: WatchStream, t0: float) -> list[tuple[str, int]]:
    """``(text, record index)`` for every ordering / uniqueness / bookmark violation."""
    out: list[tuple[str, int]] = []
    progress, seen = s.start_rv, set()
    for i, r in enumerate(s.records):
        if r.rv is None:
            continue
        if r.type in OBJECT_EVENTS:
            if r.rv in seen:
                out.append((f"{s.name}: duplicate: rv {r.rv} delivered again", i))
            elif r.rv <= progress:
                out.append((f"{s.name}: out of order: rv {r.rv} after the stream had reached {progress}", i))
            seen.add(r.rv)
            progress = max(progress, r.rv)
        elif r.type == BOOKMARK:
            if r.rv < progress:
                out.append((f"{s.name}: bookmark went back: rv {r.rv} after the stream had reached {progress}", i))
            progress = max(progress, r.rv)
        elif r.type == RELIST:
            if r.rv < progress:
                out.append((f"{s.name}: relisted at rv {r.rv}, older than the {progress} already reached", i))
            progress, seen = r.rv, set()
    return out


def check_watches(streams: Iterable[WatchStream], history: History | Iterable[Any], creates: Iterable[Any],
                  registers: Iterable[str], versions: Iterable[Version], t0: float = 0.0) -> list[Verdict]:
    """The three watch verdicts (:data:`ORDERED`, :data:`COMPLETE`, :data:`VALID`); see the module
    docstring. ``history``/``creates``/``registers`` say what the clients tried, ``versions`` what
    they saw; ``t0`` only shifts the times printed in details."""
    streams, versions = list(streams), list(versions)
    w = writes_of(history, creates, registers)
    stats = {s.name: {"via": s.via, "start_rv": s.start_rv, "events": len(s.events()),
                      "bookmarks": s.count(BOOKMARK), "resumes": s.count(RESUME), "gone": s.count(GONE),
                      "relists": s.count(RELIST), "reached": reached(s), "target_rv": s.target_rv,
                      "spans": [[sp.lo, sp.hi] for sp in spans(s)]} for s in streams}
    n_events = sum(v["events"] for v in stats.values())
    if not streams:
        none = "no watch stream was recorded"
        return [Verdict(name, None, none) for name in (ORDERED, COMPLETE, VALID)]

    # ordered ------------------------------------------------------------------------------
    order_details: list[str] = []
    n_order = 0
    for s in streams:
        probs = _order_problems(s, t0)
        n_order += len(probs)
        stats[s.name]["order_problems"] = len(probs)
        stats[s.name]["problem_t"] = [round(s.records[i].t - t0, 3) for _, i in probs[:50]]
        for text, i in probs[:5]:
            order_details += [text, *_around(s, i, t0)]
    resumes = sum(v["resumes"] for v in stats.values())
    relists = sum(v["relists"] for v in stats.values())
    ordered = Verdict(
        ORDERED, n_order == 0,
        (f"{len(streams)} streams, {n_events} events ({resumes} resumes, {relists} relists after 410): "
         "revisions strictly increasing, none twice, none at or below a bookmark") if n_order == 0 else
        f"{n_order} ordering violation(s) in {sum(1 for v in stats.values() if v['order_problems'])} stream(s)",
        order_details[:MAX_DETAILS * 6], {"streams": stats})

    # valid: every event a real change, every revision one change --------------------------
    valid_details: list[str] = []
    n_invalid = 0
    # rv -> (name, value) -> sources; (name, value) -> rv -> sources
    by_rv: dict[int, dict[tuple[str, Any], list[str]]] = {}
    by_change: dict[tuple[str, Any], dict[int, list[str]]] = {}

    def claim(rv: int, name: str, value: Any, source: str) -> None:
        key = (name, _hashable(value))
        by_rv.setdefault(rv, {}).setdefault(key, []).append(source)
        by_change.setdefault(key, {}).setdefault(rv, []).append(source)

    floor = min(s.start_rv for s in streams)
    where: dict[tuple[str, int], int] = {}  # (stream, rv) -> record index, for the details
    for s in streams:
        bad = 0
        for i, r in enumerate(s.records):
            if r.type in OBJECT_EVENTS:
                why = why_invalid(r, w)
                if why is None:
                    claim(r.rv, r.name, r.value, s.name)  # type: ignore[arg-type]
                    where.setdefault((s.name, r.rv), i)  # type: ignore[index]
                    continue
                bad += 1
                if bad <= 50:
                    stats[s.name]["problem_t"].append(round(r.t - t0, 3))
                if bad <= 5:
                    valid_details += [f"{s.name}: phantom: {why}", *_around(s, i, t0, 1, 1)]
            elif r.type == RELIST:
                for name, rv, value in r.items or []:
                    if rv > floor and _allowed(name, value, w):
                        claim(rv, name, value, f"{s.name} relist")
        n_invalid += bad
        stats[s.name]["phantoms"] = bad
    for v in versions:
        if v.rv > floor and _allowed(v.name, v.value, w):
            claim(v.rv, v.name, v.value, v.source)
    conflicts = 0
    by_name = {s.name: s for s in streams}
    for rv, changes in sorted(by_rv.items()):
        if len(changes) > 1:
            conflicts += 1
            valid_details.append(f"revision {rv} is two changes: " + "; ".join(
                f"{n}={v!r} per {', '.join(sorted(set(src))[:6])}" for (n, v), src in changes.items()))
            # the stream(s) in the minority, with the events around: which replica saw what
            least = min(len(set(src)) for src in changes.values())
            minority = sorted({n for src in changes.values() if len(set(src)) == least for n in src})
            for name in [n for n in minority if (n, rv) in where][:2]:
                if conflicts <= 10:
                    stats[name]["problem_t"].append(round(by_name[name].records[where[(name, rv)]].t - t0, 3))
                    valid_details += [f"  {name} (via {by_name[name].via}):",
                                      *_around(by_name[name], where[(name, rv)], t0, 3, 2)]
    for (n, v), rvs in sorted(by_change.items(), key=lambda kv: str(kv[0])):
        if len(rvs) > 1:
            conflicts += 1
            valid_details.append(f"{n}={v!r} is at several revisions: " + "; ".join(
                f"{rv} per {', '.join(sorted(set(src))[:4])}" for rv, src in sorted(rvs.items())))
    valid = Verdict(
        VALID, n_invalid == 0 and conflicts == 0,
        (f"all {n_events} events are changes the clients made (acknowledged or unknown), each at the one "
         f"revision every source agrees on ({len(by_rv)} revisions known)") if not (n_invalid or conflicts) else
        f"{n_invalid} phantom event(s), {conflicts} revision conflict(s) (one revision, two changes: "
        "some replica applied what the others did not)" if conflicts else f"{n_invalid} phantom event(s)",
        valid_details[:MAX_DETAILS * 4], {"known_changes": len(by_rv), "phantoms": n_invalid,
                                          "conflicts": conflicts})

    # complete: nothing known missing from a span; every stream reached the end -------------
    known = {rv: next(iter(ch)) for rv, ch in by_rv.items() if len(ch) == 1}
    sources = {rv: sorted(set(next(iter(by_rv[rv].values())))) for rv in known}
    known_rvs = sorted(known)
    complete_details: list[str] = []
    n_missing = checked = 0
    for s in streams:
        missing = 0
        for sp in spans(s):
            got = {r.rv for r in s.records[sp.start:sp.end] if r.type in OBJECT_EVENTS}
            a, b = bisect.bisect_right(known_rvs, sp.lo), bisect.bisect_right(known_rvs, sp.hi)
            for rv in known_rvs[a:b]:
                checked += 1
                if rv in got:
                    continue
                missing += 1
                if missing > 50 or not s.records:
                    continue
                i = _position(s, sp, rv)
                stats[s.name]["problem_t"].append(round(s.records[i].t - t0, 3))
                if missing <= 5:
                    name, value = known[rv]
                    complete_details.append(
                        f"{s.name}: missing rv {rv} {name}={value!r} (known from {', '.join(sources[rv][:4])}) "
                        f"inside its span ({sp.lo}, {sp.hi}]; around where it belongs:")
                    complete_details += _around(s, i, t0, 2, 1)
        n_missing += missing
        stats[s.name]["missing"] = missing
    stuck = [s for s in streams if s.target_rv is not None and reached(s) < s.target_rv]
    for s in stuck:
        complete_details.append(f"{s.name} (via {s.via}) never reached rv {s.target_rv}, the last known change: "
                                f"it stopped at {reached(s)}")
        complete_details += _around(s, len(s.records) - 1, t0, 3, 0) if s.records else []
    targets = {s.target_rv for s in streams if s.target_rv is not None}
    complete = Verdict(
        COMPLETE, n_missing == 0 and not stuck,
        (f"every known change inside a watcher's span was delivered to it ({checked} checks over "
         f"{len(known)} known changes); every watcher reached "
         + (f"rv {max(targets)}" if targets else "its end") + ", the last known change")
        if not (n_missing or stuck) else
        f"{n_missing} known change(s) missing from a stream, {len(stuck)} stream(s) never caught up",
        complete_details[:MAX_DETAILS * 5], {"checks": checked, "known": len(known), "missing": n_missing,
                                             "stuck": [s.name for s in stuck]})
    return [ordered, complete, valid]


def _position(s: WatchStream, sp: Span, rv: int) -> int:
    """The index of the first record of span ``sp`` past revision ``rv`` (where it belongs)."""
    for j in range(sp.start, sp.end):
        r = s.records[j]
        if r.rv is not None and r.type in (*OBJECT_EVENTS, BOOKMARK) and r.rv > rv:
            return j
    return max(sp.start, min(sp.end, len(s.records)) - 1)
