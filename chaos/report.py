"""Run reports: ``summary.json`` plus one self-contained HTML page (inline CSS and SVG).

Layout of a report directory::

    summary.json            run options and, per scenario, verdicts and figures
    index.html              the page: per scenario a timeline and each checker's verdict
    <scenario>/history.jsonl    every register op (chaos.history format)
    <scenario>/creates.jsonl    every create
    <scenario>/timeline.json    faults, marks, replica samples
    <scenario>/pods.jsonl       worker scenarios: one line per pod sample (what ran where, desired
                                counts, Ready nodes, foreign pods)
    <scenario>/watches.json     every watcher's records and the clients' versions: the whole input
                                of chaos.watchcheck.check_watches besides the history and creates

The timeline (:func:`timeline_svg`) shows, against seconds since the run started: one band per
replica coloured by its Raft role (leader bands carry their term), the faults in force above
it, one row per client process with each op drawn from invocation to completion (green ok,
red fail, grey unknown — an unknown op is drawn to its client timeout), acknowledged writes per
second, one row per watcher (events received per half second, blue ticks where its stream was
resumed, orange where a 410 made it relist, red where a watch verdict found a problem), and the
recovery points as vertical lines. Worker scenarios add one row per node (how
many containers really ran on it; orange while the API said NotReady), a "desired" row (green
while every Deployment was at its desired count with its pods really running) and the
pod-recovery points (green lines). Rendering is pure: strings in, string out.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from chaos.runner import ScenarioResult
from chaos.timeline import Sample

W = 1100          # svg width
LEFT = 90         # label gutter
ROW = 14          # replica band height
OP_ROW = 7        # client row height
COLORS = {"ok": "#2e9d4a", "fail": "#d2413a", "unknown": "#9a9a9a"}
FAULT_COLORS = {"kill": "#b3261e", "wipe": "#6d1b7b", "pause": "#7b5ea7", "partition": "#e07b00",
                "bridge": "#c49000", "slow": "#2a7ab0", "stop": "#8c6d62", "kill-worker": "#7f1d1d",
                "kill-agent": "#c2185b", "cut-worker": "#ad5d00", "disk-full": "#5d4037", "clock": "#00838f"}
POD_COLORS = {"met": "#2e9d4a", "unmet": "#d2413a", "unknown": "#cfcfcf", "notready": "#f08c00"}
TERM_COLORS = ["#1f5fa8", "#0f8b8d", "#7a4fb0", "#b0513a", "#3c7d22", "#a03a72", "#2a4d8f", "#b08a1f"]


def _esc(s: Any) -> str:
    return html.escape(str(s), quote=True)


class _Scale:
    def __init__(self, t0: float, t1: float) -> None:
        self.t0, self.t1 = t0, max(t1, t0 + 1.0)

    def x(self, t: float) -> float:
        return LEFT + (W - LEFT - 10) * (min(max(t, self.t0), self.t1) - self.t0) / (self.t1 - self.t0)


def _role_segments(samples: list[Sample], end: float) -> list[tuple[float, float, str, int | None]]:
    """Consecutive samples of one replica merged into ``(start, end, state, term)`` runs."""
    out: list[tuple[float, float, str, int | None]] = []
    for i, s in enumerate(samples):
        state = (s.role or "?") if s.up else "down"
        term = s.term if state == "leader" else None
        nxt = samples[i + 1].t if i + 1 < len(samples) else end
        if out and out[-1][2] == state and out[-1][3] == term:
            out[-1] = (out[-1][0], nxt, state, term)
        else:
            out.append((s.t, nxt, state, term))
    return out


def timeline_svg(r: ScenarioResult, client_timeout: float = 2.5) -> str:
    tl = r.timeline
    times = [op.complete_t or op.invoke_t for op in r.history.ops] + [s.t for s in tl.samples] + \
        [m.t for m in tl.marks] + [tl.t0 + 1]
    sc = _Scale(tl.t0, max(times))
    names = sorted({s.name for s in tl.samples} | {n for n in r.pinned.values() if n != "*"})
    procs = sorted({op.process for op in r.history.ops} | {c.process for c in r.creates})
    parts: list[str] = []
    y = 20
    # axis
    span = sc.t1 - sc.t0
    step = next(s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600) if span / s <= 14)
    ticks = "".join(
        f'<line x1="{sc.x(tl.t0 + t):.1f}" y1="14" x2="{sc.x(tl.t0 + t):.1f}" y2="{{H}}" class="grid"/>'
        f'<text x="{sc.x(tl.t0 + t):.1f}" y="11" class="tick">{t:g}s</text>'
        for t in range(0, int(span) + 1, step))
    parts.append(ticks)
    # faults
    fault_rows: dict[str, int] = {}
    for s in tl.spans:
        if s.kind in ("heal",):
            continue
        key = s.kind + ":" + ",".join(s.targets)
        fault_rows.setdefault(key, len(fault_rows))
    for s in tl.spans:
        key = s.kind + ":" + ",".join(s.targets)
        if key not in fault_rows:
            continue
        fy = y + fault_rows[key] * 12
        x1, x2 = sc.x(s.start), sc.x(s.end if s.end is not None else sc.t1)
        color = FAULT_COLORS.get(s.kind, "#444")
        label = _esc(s.detail[:70])
        inside = (x2 - x1) > 5.2 * len(s.detail[:70]) + 6
        parts.append(f'<rect x="{x1:.1f}" y="{fy}" width="{max(2.0, x2 - x1):.1f}" height="10" fill="{color}" '
                     f'opacity="0.85"><title>{_esc(s.kind)} {_esc(s.detail)}: +{s.start - tl.t0:.2f}s → '
                     f'{"+%.2fs" % (s.end - tl.t0) if s.end else "end"}</title></rect>'
                     + (f'<text x="{x1 + 3:.1f}" y="{fy + 8}" class="flabel">{label}</text>' if inside else
                        f'<text x="{x2 + 3:.1f}" y="{fy + 8}" class="flabel" fill="{color}" style="fill:{color}">'
                        f'{label}</text>'))
    y += max(1, len(fault_rows)) * 12 + 8
    parts.append(f'<text x="4" y="{y - 10}" class="lab">faults</text>')
    # replica role bands
    for name in names:
        samples = sorted((s for s in tl.samples if s.name == name), key=lambda s: s.t)
        parts.append(f'<text x="4" y="{y + 11}" class="lab">{_esc(name)}</text>')
        for t1, t2, state, term in _role_segments(samples, sc.t1):
            x1, x2 = sc.x(t1), sc.x(t2)
            if state == "leader":
                fill = TERM_COLORS[(term or 0) % len(TERM_COLORS)]
            else:
                fill = {"follower": "#d9dee5", "candidate": "#f2c94c", "down": "#3b3b3b"}.get(state, "#eeeeee")
            label = f"{state}" + (f" term {term}" if term is not None else "")
            parts.append(f'<rect x="{x1:.1f}" y="{y}" width="{max(0.5, x2 - x1):.1f}" height="{ROW}" fill="{fill}">'
                         f'<title>{_esc(name)}: {_esc(label)} +{t1 - tl.t0:.2f}s → +{t2 - tl.t0:.2f}s</title></rect>')
            if state == "leader" and x2 - x1 > 40:
                parts.append(f'<text x="{x1 + 3:.1f}" y="{y + 11}" class="term">leader t{term}</text>')
        y += ROW + 3
    y = _pod_rows(r, sc, parts, y)
    y += 6
    # operations: one row per process, one path per result
    ops_by_proc: dict[int, list[tuple[float, float | None, str, str]]] = {}
    for op in r.history.ops:
        ops_by_proc.setdefault(op.process, []).append((op.invoke_t, op.complete_t, op.result, op.f))
    for c in r.creates:
        ops_by_proc.setdefault(c.process, []).append((c.invoke_t, c.complete_t, c.result, "create"))
    parts.append(f'<text x="4" y="{y + 8}" class="lab">ops</text>')
    for p in procs:
        pinned = r.pinned.get(p, "?")
        paths: dict[str, list[str]] = {"ok": [], "fail": [], "unknown": []}
        for t1, t2, res, _f in ops_by_proc.get(p, []):
            end = t2 if t2 is not None else t1 + client_timeout
            x1, x2 = sc.x(t1), sc.x(end)
            paths.setdefault(res, []).append(f"M{x1:.1f} {y + OP_ROW / 2:.1f}h{max(0.6, x2 - x1):.1f}")
        for res, segs in paths.items():
            if segs:
                parts.append(f'<path d="{"".join(segs)}" stroke="{COLORS.get(res, "#000")}" stroke-width="{OP_ROW - 1}"'
                             f' fill="none"><title>process {p} → {_esc(pinned)}: {len(segs)} {res}</title></path>')
        parts.append(f'<text x="{LEFT - 4}" y="{y + OP_ROW}" class="plab">p{p}→{_esc(pinned)}</text>')
        y += OP_ROW + 1
    y += 8
    # acknowledged writes per second
    buckets: dict[int, int] = {}
    for op in r.history.ops:
        if op.f != "read" and op.result == "ok" and op.complete_t is not None:
            b = int((op.complete_t - tl.t0) * 2)
            buckets[b] = buckets.get(b, 0) + 1
    peak = max(buckets.values(), default=1)
    hbar = 30
    parts.append(f'<text x="4" y="{y + 18}" class="lab">writes/s</text>')
    for b, n in buckets.items():
        x1, x2 = sc.x(tl.t0 + b / 2), sc.x(tl.t0 + (b + 1) / 2)
        h = hbar * n / peak
        parts.append(f'<rect x="{x1:.1f}" y="{y + hbar - h:.1f}" width="{max(0.5, x2 - x1 - 0.5):.1f}" '
                     f'height="{h:.1f}" fill="#2e9d4a"><title>+{b / 2:.1f}s: {n * 2} acked writes/s</title></rect>')
    y += hbar + 10
    y = _watch_rows(r, sc, parts, y)
    # marks
    for m in tl.marks:
        if m.kind not in ("recovery", "pod-recovery", "error"):
            continue
        x = sc.x(m.t)
        cls = {"recovery": "rec", "pod-recovery": "prec"}.get(m.kind, "err")
        parts.append(f'<line x1="{x:.1f}" y1="16" x2="{x:.1f}" y2="{y}" class="{cls}">'
                     f'<title>{_esc(m.kind)}: {_esc(m.detail)} (+{m.t - tl.t0:.2f}s)</title></line>')
    height = y + 6
    body = "".join(parts).replace("{H}", str(height))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" viewBox="0 0 {W} {height}">'
            f'{body}</svg>')


def _watch_rows(r: ScenarioResult, sc: _Scale, parts: list[str], y: int) -> int:
    """One row per watcher: events per half second (shade), resumes, relists, and problems."""
    if not r.watch_streams:
        return y
    t0 = r.timeline.t0
    stats = next((v.data.get("streams", {}) for v in r.verdicts if v.name == "watch-ordered"), {})
    parts.append(f'<text x="4" y="{y + 9}" class="lab">watches</text>')
    for s in r.watch_streams:
        buckets: dict[int, int] = {}
        ticks: list[str] = []
        for rec in s.records:
            if rec.type in ("ADDED", "MODIFIED", "DELETED"):
                b = int((rec.t - t0) * 2)
                buckets[b] = buckets.get(b, 0) + 1
            elif rec.type in ("RESUME", "GONE", "RELIST"):
                cls = "wres" if rec.type == "RESUME" else "wgone"
                ticks.append(f'<line x1="{sc.x(rec.t):.1f}" y1="{y}" x2="{sc.x(rec.t):.1f}" y2="{y + 10}" '
                             f'class="{cls}"><title>{_esc(s.name)} {_esc(rec.type)} rv={rec.rv} '
                             f'+{rec.t - t0:.2f}s {_esc(rec.detail or "")}</title></line>')
        peak = max(buckets.values(), default=1)
        for b, n in buckets.items():
            x1, x2 = sc.x(t0 + b / 2), sc.x(t0 + (b + 1) / 2)
            parts.append(f'<rect x="{x1:.1f}" y="{y}" width="{max(0.5, x2 - x1):.1f}" height="10" fill="#2e9d4a" '
                         f'opacity="{0.2 + 0.8 * n / peak:.2f}"><title>{_esc(s.name)} +{b / 2:.1f}s: {n} events'
                         f'</title></rect>')
        parts += ticks
        for t in (stats.get(s.name) or {}).get("problem_t", []):
            x = sc.x(t0 + t)
            parts.append(f'<line x1="{x:.1f}" y1="{y - 2}" x2="{x:.1f}" y2="{y + 12}" class="err">'
                         f'<title>{_esc(s.name)}: a watch verdict failed here (+{t:.2f}s)</title></line>')
        parts.append(f'<text x="{LEFT - 4}" y="{y + 9}" class="plab" style="font-size:9px">{_esc(s.name)}</text>')
        y += 13
    return y + 6


def _pod_rows(r: ScenarioResult, sc: _Scale, parts: list[str], y: int) -> int:
    """Worker rows: containers per node (from the runtime), then the desired-count verdict."""
    samples = r.pod_samples
    if not samples:
        return y
    nodes = sorted({n for s in samples for n, _ in s.running} | {n for s in samples for n in s.nodes or {}})
    y += 4
    ends = [s.t for s in samples[1:]] + [samples[-1].t + 0.5]
    for node in nodes:
        parts.append(f'<text x="4" y="{y + 11}" class="lab">{_esc(node)}</text>')
        for s, end in zip(samples, ends, strict=True):
            count = sum(1 for n, _ in s.running if n == node)
            x1, x2 = sc.x(s.t), sc.x(end)
            fill = POD_COLORS["notready"] if s.node_ready(node) is False else \
                ("#eef3ee" if count == 0 else f"rgba(46,157,74,{min(1.0, 0.25 + 0.2 * count):.2f})")
            state = "NotReady" if s.node_ready(node) is False else "Ready" if s.node_ready(node) else "?"
            parts.append(f'<rect x="{x1:.1f}" y="{y}" width="{max(0.5, x2 - x1):.1f}" height="{ROW}" fill="{fill}">'
                         f'<title>{_esc(node)} ({state}): {count} container(s) running at '
                         f'+{s.t - r.timeline.t0:.2f}s</title></rect>')
            if x2 - x1 > 8:
                parts.append(f'<text x="{x1 + 2:.1f}" y="{y + 11}" class="cnt">{count}</text>')
        y += ROW + 3
    parts.append(f'<text x="4" y="{y + 11}" class="lab">desired</text>')
    for s, end in zip(samples, ends, strict=True):
        key = "unknown" if s.met is None else "met" if s.met else "unmet"
        desired = {d["metadata"]["name"]: (d.get("spec") or {}).get("replicas") for d in s.deployments or []}
        parts.append(f'<rect x="{sc.x(s.t):.1f}" y="{y}" width="{max(0.5, sc.x(end) - sc.x(s.t)):.1f}" '
                     f'height="{ROW}" fill="{POD_COLORS[key]}"><title>+{s.t - r.timeline.t0:.2f}s: desired '
                     f'{_esc(desired)}: {key}' + (f"; foreign: {_esc(s.foreign)}" if s.foreign else "")
                     + '</title></rect>')
    return y + ROW + 3


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1160px}
h1{font-size:22px}h2{font-size:18px;margin-top:36px;border-top:1px solid #ccc;padding-top:16px}
.pass{color:#fff;background:#2e9d4a;padding:1px 8px;border-radius:4px;font-weight:600}
.fail{color:#fff;background:#d2413a;padding:1px 8px;border-radius:4px;font-weight:600}
.undecided{color:#fff;background:#b08a1f;padding:1px 8px;border-radius:4px;font-weight:600}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;vertical-align:top;text-align:left}
pre{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:12px;max-height:400px}
svg text{font:10px system-ui,sans-serif}.lab{font-weight:600;fill:#333}.tick{fill:#666;text-anchor:middle}
.plab{fill:#666;text-anchor:end;font-size:7px}.flabel{fill:#fff;font-size:9px}.term{fill:#fff;font-size:9px}
.grid{stroke:#eee}.rec{stroke:#1f5fa8;stroke-dasharray:4 3;stroke-width:1.5}.err{stroke:#d2413a;stroke-width:2}
.prec{stroke:#2e9d4a;stroke-dasharray:2 3;stroke-width:1.5}.cnt{fill:#123;font-size:9px}
.wres{stroke:#1f5fa8;stroke-width:1.5}.wgone{stroke:#e07b00;stroke-width:2}
.legend span{display:inline-block;width:12px;height:10px;margin:0 4px 0 12px;vertical-align:middle}
"""


def _badge(ok: bool | None) -> str:
    return {True: '<span class="pass">PASS</span>', False: '<span class="fail">FAIL</span>',
            None: '<span class="undecided">UNDECIDED</span>'}[ok]


def _legend() -> str:
    items = [("#1f5fa8", "leader (colour = term)"), ("#d9dee5", "follower"), ("#f2c94c", "candidate"),
             ("#3b3b3b", "down / paused / silent"), (COLORS["ok"], "op ok"), (COLORS["fail"], "op fail"),
             (COLORS["unknown"], "op unknown")] + [(c, k) for k, c in FAULT_COLORS.items()] + \
        [(POD_COLORS["met"], "desired counts met"), (POD_COLORS["unmet"], "not met"),
         (POD_COLORS["notready"], "node NotReady")]
    return '<p class="legend">' + "".join(f'<span style="background:{c}"></span>{_esc(t)}' for c, t in items) + \
        ' — dashed blue lines: recovery points; dotted green lines: pod-recovery points; ' \
        'red lines: harness errors; node rows: containers really running there; watch rows: events ' \
        'received (shade), resumed (blue), relisted after 410 (orange), a watch check failed (red)</p>'


def render_html(results: Iterable[ScenarioResult], meta: dict[str, Any]) -> str:
    results = list(results)
    ok = all(r.ok for r in results)
    rows = "".join(
        f'<tr><td><a href="#{_esc(r.scenario)}">{_esc(r.scenario)}</a></td><td>{_badge(r.ok)}</td>'
        f'<td>{r.wall_s:.1f}s</td><td>{_esc(_fmt_list(r.figures.get("write_recovery_s")))}</td>'
        f'<td>{_esc(r.figures.get("converge_s"))}</td>'
        f'<td>{_esc(_fmt_list(r.figures.get("pods_recovery_s")))}</td>'
        f'<td>{len(r.pod_samples) if r.pod_samples else "-"}</td><td>{_esc(_watch_cell(r))}</td></tr>'
        for r in results)
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>haplane chaos report</title>"
           f"<style>{_CSS}</style></head><body>",
           f"<h1>haplane chaos run {_badge(ok)}</h1>",
           f"<p>{_esc(json.dumps(meta, sort_keys=True))}</p>",
           "<table><tr><th>scenario</th><th>verdict</th><th>wall</th><th>write recovery (s)</th>"
           "<th>converge (s)</th><th>to desired count (s)</th><th>pod snapshots</th>"
           "<th>watch events (resumes / relists)</th></tr>"
           f"{rows}</table>", _legend()]
    for r in results:
        out.append(f'<h2 id="{_esc(r.scenario)}">{_esc(r.scenario)} {_badge(r.ok)}</h2>')
        workers = f", {r.agents} {r.runtime} agents, {len(r.pod_samples)} pod snapshots" if r.agents else ""
        out.append(f"<p>{_esc(r.summary)}. {r.replicas} replicas{_esc(workers)}, fault phase {r.duration:g}s, "
                   f"seed {r.seed}, wall {r.wall_s:.1f}s.</p>")
        if r.error:
            out.append(f"<p><b>harness error:</b> {_esc(r.error)}</p>")
        out.append(timeline_svg(r))
        out.append("<table><tr><th>check</th><th>verdict</th><th>summary</th></tr>")
        for v in r.verdicts:
            det = ""
            if v.details:
                det = f"<details><summary>details</summary><pre>{_esc(chr(10).join(v.details))}</pre></details>"
            out.append(f"<tr><td>{_esc(v.name)}</td><td>{_badge(v.ok)}</td><td>{_esc(v.summary)}{det}</td></tr>")
        out.append("</table>")
        out.append(f"<p>figures: <code>{_esc(json.dumps(r.figures))}</code></p>")
        notes = [m for m in r.timeline.marks if m.kind in ("phase", "note", "error")]
        if notes:
            out.append("<details><summary>events</summary><pre>" + _esc("\n".join(
                f"+{m.t - r.timeline.t0:7.2f}s {m.kind:6} {m.detail}" for m in notes)) + "</pre></details>")
    out.append("</body></html>")
    return "".join(out)


def _watch_cell(r: ScenarioResult) -> str:
    f = r.figures
    if "watch_events" not in f:
        return "-"
    return f"{f['watch_events']} ({f.get('watch_resumes', 0)} / {f.get('watch_relists', 0)})"


def _fmt_list(xs: Any) -> str:
    if not xs:
        return "-"
    return ", ".join("never" if x is None else f"{x:.2f}" for x in xs)


def write_report(report_dir: str, results: list[ScenarioResult], meta: dict[str, Any]) -> str:
    """Write the directory described in the module docstring; returns the HTML page's path."""
    os.makedirs(report_dir, exist_ok=True)
    for r in results:
        d = os.path.join(report_dir, r.scenario)
        os.makedirs(d, exist_ok=True)
        r.history.to_jsonl(os.path.join(d, "history.jsonl"))
        with open(os.path.join(d, "creates.jsonl"), "w", encoding="utf-8") as f:
            for c in r.creates:
                f.write(json.dumps(c.to_doc(), separators=(",", ":")) + "\n")
        with open(os.path.join(d, "timeline.json"), "w", encoding="utf-8") as f:
            json.dump(r.timeline.to_doc(), f)
        if r.pod_samples:
            with open(os.path.join(d, "pods.jsonl"), "w", encoding="utf-8") as f:
                for sample in r.pod_samples:
                    f.write(json.dumps(sample.to_doc(r.timeline.t0), separators=(",", ":")) + "\n")
        if r.watch_streams:
            with open(os.path.join(d, "watches.json"), "w", encoding="utf-8") as f:
                json.dump({"t0": r.timeline.t0, "streams": [s.to_doc() for s in r.watch_streams],
                           "versions": [asdict(v) for v in r.watch_versions]}, f, separators=(",", ":"))
    summary = {"ok": all(r.ok for r in results), **meta, "scenarios": [r.to_doc() for r in results]}
    with open(os.path.join(report_dir, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2, default=str)
    page = os.path.join(report_dir, "index.html")
    with open(page, "w", encoding="utf-8") as f:
        f.write(render_html(results, meta))
    return page
