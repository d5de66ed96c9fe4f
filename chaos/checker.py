"""Linearizability checking of read / write / CAS registers (one per key).

Algorithm: Wing & Gong's search with Lowe's just-in-time linearization and
memoization, as in porcupine. Call and return events are sorted by time in a
doubly-linked list; the search repeatedly tries to linearize a pending call at
the front, and backtracks when it meets a return whose op is not linearized
yet. A set of visited ``(linearized-ops bitmask, register state)`` pairs cuts
every path that reaches a configuration seen before, so the cost grows with
2^(ops concurrently pending) per window rather than with n!. Keys are
independent registers and are checked separately (P-compositionality).

Ops with an unknown outcome have no return event: they may be linearized any
time after their invocation, or never. They are what makes histories
expensive (they stay pending), so sound reductions come first. Say a value v
is *observed* by an ok read returning it or by a CAS expecting it, and is
useful until the last ok observation of v (or of a value an unknown CAS
expecting v could produce) has completed. After that, putting the register in
state v can only be followed by writes, so omitting the op loses nothing:

- an unknown write/CAS whose new value is useless from its invocation on is
  dropped; the others are dropped (an "omit" event) once useless;
- an unknown write/CAS that is the only writer of an observed value (other
  than the initial one) must have taken effect before the first ok
  observation completed: it gets a return event there and becomes required;
- identical pending unknown ops (same function and arguments) are
  interchangeable, so they are linearized in invocation order only.

Limits: the search is exponential in the worst case (many ops pending at
once, or -- for a history that is NOT linearizable -- many unknown ops writing
values that other ops also write), so it runs under a step and wall-clock
budget and answers ``ok=None`` when that is exhausted. Workloads should write
unique values: then every unknown op is dropped or bounded, and the cost is
driven by the number of concurrent clients. Events at equal times are taken
as concurrent (calls sort first), even for two ops of one process:
timestamps must be strictly increasing within a process for its ops to count
as sequential.

All functions here are pure and deterministic; they do no I/O.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from chaos.history import FAIL, OK, UNKNOWN, History, Op

_READ, _WRITE, _CAS = 0, 1, 2
_CALL, _RETURN, _OMIT = 0, 1, 2  # event kinds, in tie-break order
_KINDS = {"read": _READ, "write": _WRITE, "cas": _CAS}


@dataclass
class Result:
    """The verdict for one key. ``ok`` is True, False, or None (budget exhausted).

    When not ok: ``prefix`` is the longest linearization found, ``state`` the
    register value after it, ``failed_op`` the op that could not be placed
    after it, and ``message`` a one-line reason. ``str(result)`` is a report.
    """

    ok: bool | None
    key: str
    message: str = ""
    prefix: list[Op] = field(default_factory=list)
    state: Any = None
    failed_op: Op | None = None
    steps: int = 0
    elapsed: float = 0.0

    def __str__(self) -> str:
        verdict = {True: "linearizable", False: "NOT linearizable", None: "unknown"}[self.ok]
        lines = [f"key {self.key!r}: {verdict} ({self.steps} steps, {self.elapsed:.3f}s)"]
        if self.message:
            lines.append(f"  {self.message}")
        if self.ok is not True and (self.prefix or self.failed_op):
            tail = self.prefix[-10:]
            lines.append(f"  longest linearizable prefix: {len(self.prefix)} ops"
                         + (f", last {len(tail)}:" if tail else ""))
            lines += [f"    {op}" for op in tail]
            lines.append(f"  state after prefix: {self.state!r}")
            if self.failed_op is not None:
                lines.append(f"  could not place: {self.failed_op}")
        return "\n".join(lines)


def _freeze(v: Any) -> Any:
    """A hashable stand-in for a value, equal for equal JSON values (list == tuple)."""
    if isinstance(v, dict):
        return ("\0dict", tuple(sorted((k, _freeze(x)) for k, x in v.items())))
    if isinstance(v, list | tuple):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, set | frozenset):
        return frozenset(_freeze(x) for x in v)
    return v


def check_register(ops: list[Op], initial: Any = None, *, key: str | None = None,
                   budget_s: float = 10.0, max_steps: int | None = None) -> Result:
    """Is this single-register history linearizable (starting from ``initial``)?

    ``ops`` all belong to one register. Failed ops and unknown reads are
    ignored; unknown writes/CASes may take effect after their invocation or
    never. An ok op must have a ``complete_t``. Returns ok=None when the search
    exceeds ``budget_s`` seconds or ``max_steps`` steps.
    """
    t0 = time.monotonic()
    deadline = t0 + budget_s
    key = key if key is not None else (ops[0].key if ops else "")
    live = [op for op in ops if op.result != FAIL and not (op.result != OK and op.f == "read")]
    for op in live:
        if op.f not in _KINDS:
            raise ValueError(f"unknown function in {op}")
        if op.result == OK and op.complete_t is None:
            raise ValueError(f"ok op without complete_t: {op}")
        if op.result not in (OK, UNKNOWN):
            raise ValueError(f"unknown result in {op}")

    init = _freeze(initial)
    new_of = [None if op.f == "read" else _freeze(op.value if op.f == "write" else op.value[1])
              for op in live]
    # first_seen / last_seen: completion times of the ok ops that observed a
    # value (an ok read returning it, an ok CAS expecting it).
    first_seen: dict[Any, float] = {}
    last_seen: dict[Any, float] = {}
    writers: dict[Any, int] = {}
    feeds: list[tuple[Any, Any]] = []  # unknown CAS: expected -> new
    for op, new in zip(live, new_of, strict=True):
        if op.result == OK and op.f != "write":
            v = _freeze(op.output if op.f == "read" else op.value[0])
            first_seen[v] = min(first_seen.get(v, math.inf), op.complete_t)
            last_seen[v] = max(last_seen.get(v, -math.inf), op.complete_t)
        if op.f != "read":
            writers[new] = writers.get(new, 0) + 1
        if op.f == "cas" and op.result == UNKNOWN:
            feeds.append((_freeze(op.value[0]), new))
    # useful_until[v]: after this time no op that could still be linearized
    # observes v (directly, or through a chain of unknown CASes).
    useful_until = dict(last_seen)
    changed = True
    while changed:
        changed = False
        for e, n in feeds:
            t = useful_until.get(n, -math.inf)
            if t > useful_until.get(e, -math.inf):
                useful_until[e], changed = t, True

    kept: list[Op] = []
    kind: list[int] = []
    arg: list[Any] = []     # read: expected output; write / cas: new value
    exp: list[Any] = []     # cas: expected value
    end: list[float] = []   # ok: return time; unknown: required-by or omit-at time
    req: list[bool] = []    # must be linearized (ok, or a unique write seen later)
    for op, new in zip(live, new_of, strict=True):
        k = _KINDS[op.f]
        if op.result == OK:
            t, must = op.complete_t, True
        elif useful_until.get(new, -math.inf) < op.invoke_t:
            continue  # nothing can ever observe its effect: omitting it loses nothing
        elif writers[new] == 1 and new != init and new in first_seen and first_seen[new] >= op.invoke_t:
            t, must = first_seen[new], True  # the only writer of a value seen at first_seen
        else:
            t, must = useful_until[new], False
        kept.append(op)
        kind.append(k)
        arg.append(_freeze(op.output) if k == _READ else new)
        exp.append(_freeze(op.value[0]) if k == _CAS else None)
        end.append(t)
        req.append(must)

    n = len(kept)
    # Symmetry: of several pending unknown ops with the same effect, only the
    # earliest-invoked may be linearized next (swapping twins never matters).
    twin_need = [0] * n
    last_twin: dict[tuple[int, Any, Any], int] = {}
    for i in sorted(range(n), key=lambda i: kept[i].invoke_t):
        if not req[i]:
            sig = (kind[i], exp[i], arg[i])
            if sig in last_twin:
                twin_need[i] = 1 << last_twin[sig]
            last_twin[sig] = i

    # Event list, entries 0 = head and 1 = tail sentinels. Kinds: call; return
    # (the op must be linearized by now); omit (an optional op is useless from
    # now on, so it is dropped: after every return at the same time).
    events = [(op.invoke_t, _CALL, i) for i, op in enumerate(kept)]
    events += [(end[i], _RETURN if req[i] else _OMIT, i) for i in range(n) if end[i] != math.inf]
    events.sort()
    m = len(events) + 2
    nxt, prv = [0] * m, [0] * m
    ev_op, ev_kind = [0] * m, [_RETURN] * m
    call_e, end_e = [0] * n, [-1] * n
    order = [0] + list(range(2, m)) + [1]
    for a, b in zip(order, order[1:], strict=False):
        nxt[a], prv[b] = b, a
    for e, (_, ev, i) in enumerate(events, start=2):
        ev_op[e], ev_kind[e] = i, ev
        if ev == _CALL:
            call_e[i] = e
        else:
            end_e[i] = e

    bit = [1 << i for i in range(n)]
    remaining = sum(req)
    state, decided = init, 0  # decided: bitmask of ops linearized or omitted
    cache: set[tuple[int, Any]] = set()
    stack: list[tuple[int, Any, bool]] = []  # (op, state before, omitted?)
    best: tuple[list[int], Any, int] | None = None
    steps, limit = 0, max_steps if max_steps is not None else math.inf
    e = nxt[0]
    while remaining:
        steps += 1
        if steps > limit or (not steps & 0x3FF and time.monotonic() > deadline):
            return _result(None, key, "search budget exhausted", kept, best, steps, t0)
        ev = ev_kind[e]
        if ev != _RETURN:
            i = ev_op[e]
            if ev == _OMIT:
                ok, new = True, state
            elif decided & twin_need[i] != twin_need[i]:
                ok, new = False, None
            elif kind[i] == _READ:
                ok, new = state == arg[i], state
            elif kind[i] == _WRITE:
                ok, new = True, arg[i]
            else:
                ok, new = state == exp[i], arg[i]
            if ok:
                cand = (decided | bit[i], new)
                if cand not in cache:
                    cache.add(cand)
                    stack.append((i, state, ev == _OMIT))
                    decided, state = cand
                    for x in (call_e[i], end_e[i]):  # lift: unlink both entries
                        if x >= 0:
                            nxt[prv[x]], prv[nxt[x]] = nxt[x], prv[x]
                    remaining -= req[i]
                    e = nxt[0]
                    continue
            if ev == _CALL:
                e = nxt[e]
                continue
        # A required op not linearized by its return, or a forced omission that
        # leads somewhere already explored: backtrack past every omission.
        if ev == _RETURN and (best is None or len(stack) > len(best[0])):
            best = ([j for j, _, omitted in stack if not omitted], state, ev_op[e])
        omitted = True
        while omitted and stack:
            i, state, omitted = stack.pop()
            decided ^= bit[i]
            for x in (end_e[i], call_e[i]):  # unlift in reverse order
                if x >= 0:
                    nxt[prv[x]] = prv[nxt[x]] = x
            remaining += req[i]
        if omitted:
            break
        e = nxt[call_e[i]]
    if not remaining:
        return Result(True, key, steps=steps, elapsed=time.monotonic() - t0)
    return _result(False, key, "", kept, best, steps, t0)


def _result(ok: bool | None, key: str, msg: str, kept: list[Op],
            best: tuple[list[int], Any, int] | None, steps: int, t0: float) -> Result:
    prefix, state, failed = best if best else ([], None, None)
    failed_op = kept[failed] if failed is not None else None
    if not msg and failed_op is not None:
        msg = (f"no linearization: op #{failed_op.id} ({failed_op.f}) cannot be placed "
               f"after the longest linearizable prefix ({len(prefix)} ops)")
    return Result(ok, key, msg, [kept[j] for j in prefix], state, failed_op, steps,
                  time.monotonic() - t0)


def check_history(history: History | list[Op], initial: Any = None, *,
                  budget_s: float = 10.0, max_steps: int | None = None) -> dict[str, Result]:
    """Check every key of ``history`` as an independent register; ``budget_s`` is per key."""
    ops = history.ops if isinstance(history, History) else list(history)
    by_key: dict[str, list[Op]] = {}
    for op in ops:
        by_key.setdefault(op.key, []).append(op)
    return {k: check_register(v, initial, key=k, budget_s=budget_s, max_steps=max_steps)
            for k, v in sorted(by_key.items())}


def verdict(results: dict[str, Result]) -> bool:
    """True iff every key is linearizable; an exhausted budget (ok=None) does not pass."""
    return all(r.ok is True for r in results.values())


def check_no_lost_writes(history: History | list[Op], final_values: dict[str, Any],
                         initial: Any = None) -> Result:
    """Is each key's final value one that some write could have left last?

    ``final_values`` maps each key to check to the value read linearizably at
    the end of the run (None = absent); keys not in it are not checked. A
    write or CAS (ok or unknown) can be last unless it completed before some
    other *ok* write/CAS was invoked (an unknown one may never have applied).
    The initial value is acceptable only if no ok write/CAS exists.
    ``key`` of the result is the first offending key (or "*" when all pass).
    """
    t0 = time.monotonic()
    ops = history.ops if isinstance(history, History) else list(history)
    problems: list[tuple[str, Op | None, str]] = []
    for key in sorted(final_values):
        final = _freeze(final_values[key])
        muts = [op for op in ops if op.key == key and op.f != "read" and op.result != FAIL]
        acked = [op for op in muts if op.result == OK]
        last_ok_invoke = max((op.invoke_t for op in acked), default=-math.inf)
        could_be_last = [op for op in muts
                         if op.complete_t is None or op.result != OK or op.complete_t >= last_ok_invoke]
        values = {_freeze(op.value if op.f == "write" else op.value[1]) for op in could_be_last}
        if not acked:
            values.add(_freeze(initial))
        if final not in values:
            # The acknowledged write that must have survived, for the report.
            lost = max(acked, key=lambda op: op.complete_t or 0.0, default=None)
            problems.append((key, lost, f"key {key!r}: final value {final_values[key]!r} is not the value "
                                        f"of any write that could be last ({len(could_be_last)} candidates)"))
    if not problems:
        return Result(True, "*", elapsed=time.monotonic() - t0)
    key, lost, _ = problems[0]
    return Result(False, key, "; ".join(p[2] for p in problems), failed_op=lost,
                  state=final_values[key], elapsed=time.monotonic() - t0)
