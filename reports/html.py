"""The HTML compatibility matrix: one self-contained page (inline CSS, JS, SVG; no network).

    text = render_report(matrix, catalogue, errors=["bad.json: empty file"])

Rows are behaviours grouped by catalogue area, columns are kernel x cgroup mode. Each cell is a
<td class="cell o-OUTCOME" data-col=KEY> inside <tr class="row" data-row=ID>; the details of
every cell live in a JSON data island (#ckc-data) that assets/report.js reads when a cell is
clicked. The browser test and the html.parser test rely on these class names.
"""
from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reports import charts
from reports.bench import human_ns
from reports.catalogue import SOURCE_DOCUMENTS, Catalogue, area_of
from reports.config_map import explain_reason
from reports.matrix import Cell, Column, Matrix
from reports.schema import OUTCOMES

if TYPE_CHECKING:
    from reports.diff import ColumnDiff

ASSETS = Path(__file__).resolve().parent / "assets"
SYMBOLS = {"pass": "✓", "fail": "✗", "broken": "⊘", "skip": "–", "crash": "!", "timeout": "◷",
           "none": "·"}
LABELS = {"pass": "pass", "fail": "fail", "broken": "broken (setup)", "skip": "skip",
          "crash": "crash",
          "timeout": "timeout", "none": "not run"}


def asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def rows_by_area(matrix: Matrix, cat: Catalogue) -> list[tuple[str, list[str]]]:
    """Areas in catalogue order with their rows; rows only seen in results come after."""
    groups: dict[str, list[str]] = {a: [] for a in cat.areas}
    for row in cat.rows.values():
        if not row.is_benchmark:
            groups[row.area].append(row.id)
    for row_id in matrix.row_ids:
        if row_id not in cat.rows and not row_id.startswith("bench."):
            area = area_of(row_id, cat)
            area = f"Not in the catalogue: {area}" if cat.found else area
            groups.setdefault(area, []).append(row_id)
    return [(a, ids) for a, ids in groups.items() if ids]


def row_outcomes(matrix: Matrix, row_id: str) -> list[str]:
    cells = matrix.cells.get(row_id, {})
    return [cells[c.key].outcome if c.key in cells else "none" for c in matrix.columns]


def row_differs(outcomes: list[str]) -> bool:
    return len(set(outcomes)) > 1


def source_docs(sources: tuple[str, ...] | list[str]) -> str:
    return "; ".join(f"{s} = {SOURCE_DOCUMENTS.get(s, s)}" for s in sources if s)


def _cell_json(cell: Cell) -> dict[str, Any]:
    out: dict[str, Any] = {"o": cell.outcome, "ms": cell.duration_ms, "t": cell.test,
                           "s": cell.suite, "run": cell.run_id}
    for key, value in (("r", cell.reason), ("d", cell.details),
                       ("e", explain_reason(cell.reason))):
        if value:
            out[key] = value
    return out


def data_island(matrix: Matrix, cat: Catalogue, areas: list[tuple[str, list[str]]]) -> str:
    rows: dict[str, Any] = {}
    for area, ids in areas:
        for row_id in ids:
            row = cat.rows.get(row_id)
            srcs = list(row.sources) if row else sorted(
                {s.strip() for c in matrix.cells.get(row_id, {}).values()
                 for s in c.source.split(",") if s.strip()})
            rows[row_id] = {"area": area, "sentence": row.sentence if row else "",
                            "docs": source_docs(srcs)}
    columns = []
    for col in matrix.columns:
        d = dict(col.__dict__, emulated=col.emulated)
        columns.append(d)
    doc = {"columns": columns, "rows": rows, "row_count": len(rows),
           "cells": {r: {k: _cell_json(c) for k, c in matrix.cells.get(r, {}).items()}
                     for r in rows}}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


def _column_head(col: Column) -> str:
    accel = "/".join(col.accels)
    tag = ' class="accel emulated" title="emulated: timings not comparable"' \
        if col.emulated else ' class="accel"'
    extra = " ⚠ incomplete" if col.incomplete else ""
    for state in col.vm_states:
        if state in ("crash", "timeout"):
            extra += f" ⚠ VM {state}"
    if col.self_test_problems:
        extra += " ⚠ self-test"
    return (f'<th class="col" scope="col" data-col="{escape(col.key)}"><button type="button" '
            f'title="kernel facts">{escape(col.release).replace("-", "-<wbr>")}<br>'
            f'<b>{escape(col.cgroup_mode)}</b>'
            f'{"<br><small>+" + escape(col.variant) + "</small>" if col.variant else ""}'
            f'<br><span{tag}>{escape(accel)}{extra}</span></button></th>')


def _summary_cell(matrix: Matrix, col: Column, row_ids: list[str]) -> str:
    counts = Counter((matrix.cells.get(r, {}).get(col.key) or Cell("none")).outcome
                     for r in row_ids)
    parts = [f'<span class="sym o-{o}" title="{LABELS[o]}">{SYMBOLS[o]}</span>{counts[o]}'
             for o in (*OUTCOMES, "none") if counts[o]]
    return f'<td class="sum" data-col="{escape(col.key)}">{"<br>".join(parts)}</td>'


def matrix_head(matrix: Matrix, row_ids: list[str]) -> str:
    cols = "".join(_column_head(c) for c in matrix.columns)
    sums = "".join(_summary_cell(matrix, c, row_ids) for c in matrix.columns)
    return (f'<thead><tr><th class="rowhead">Behaviour</th>{cols}</tr>'
            f'<tr class="summary"><th class="rowhead">Summary per column</th>{sums}</tr></thead>')


def _row_html(matrix: Matrix, cat: Catalogue, row_id: str) -> str:
    outcomes = row_outcomes(matrix, row_id)
    row = cat.rows.get(row_id)
    sentence = escape(row.sentence) if row else ""
    cells = []
    for col, outcome in zip(matrix.columns, outcomes):
        cell = matrix.cells.get(row_id, {}).get(col.key)
        tip = LABELS[outcome] + (f": {cell.reason}" if cell and cell.reason else "")
        cells.append(f'<td class="cell o-{outcome}" data-col="{escape(col.key)}" '
                     f'data-outcome="{outcome}" tabindex="0" title="{escape(tip)}">'
                     f'{SYMBOLS[outcome]}</td>')
    differs = " differs" if row_differs(outcomes) else ""
    return (f'<tr class="row{differs}" data-row="{escape(row_id)}" '
            f'data-outcomes="{" ".join(sorted(set(outcomes)))}"><th class="rowhead" '
            f'title="{sentence}"><code>{escape(row_id)}</code>'
            f'<span class="sentence">{sentence}</span></th>{"".join(cells)}</tr>')


def matrix_body(matrix: Matrix, cat: Catalogue, areas: list[tuple[str, list[str]]]) -> str:
    parts = []
    span = len(matrix.columns) + 1
    for area, ids in areas:
        rows = "".join(_row_html(matrix, cat, r) for r in ids)
        parts.append(f'<tbody class="area" data-area="{escape(area)}"><tr class="area-head">'
                     f'<th colspan="{span}" scope="rowgroup">{escape(area)} '
                     f'<small>({len(ids)})</small></th></tr>{rows}</tbody>')
    return "".join(parts)


def filters(areas: list[tuple[str, list[str]]]) -> str:
    opts = "".join(f'<option value="{escape(a)}">{escape(a)}</option>' for a, _ in areas)
    boxes = "".join(f'<label><input type="checkbox" class="f-outcome" value="{o}" checked> '
                    f'<span class="sym o-{o}">{SYMBOLS[o]}</span> {LABELS[o]}</label>'
                    for o in (*OUTCOMES, "none"))
    return (f'<div id="filters"><label>Area <select id="f-area"><option value="">all areas'
            f'</option>{opts}</select></label><span>Outcome: {boxes}</span>'
            f'<label><input type="checkbox" id="f-differ"> only rows that differ across '
            f'columns</label><span class="count" id="f-count"></span></div>')


def banners(errors: list[str], cat: Catalogue) -> str:
    out = [f'<div class="banner">Input not read: {escape(e)}</div>' for e in errors]
    if not cat.found:
        out.append('<div class="banner info">No catalogue: neither a checkout of ckc nor the '
                   'results carry the rows\' sentences (schema-1 files), so rows show their '
                   'IDs only. Pass --catalogue CATALOGUE.json (from `ckc catalogue --json`).'
                   '</div>')
    return "".join(out)


def differences(matrix: Matrix, row_ids: list[str]) -> dict[tuple[str, str, str], list[str]]:
    """(column, outcome, reason) -> rows where that column is worse than the row's usual outcome.

    Departures to `pass` are left out: the question a reader asks is why a row did not pass.
    """
    groups: dict[tuple[str, str, str], list[str]] = {}
    for row_id in row_ids:
        outcomes = row_outcomes(matrix, row_id)
        if not row_differs(outcomes):
            continue
        counts = Counter(outcomes)
        usual = max(counts, key=lambda o: (counts[o], o == "pass"))
        for col, outcome in zip(matrix.columns, outcomes):
            if outcome != usual and outcome != "pass":
                cell = matrix.cells.get(row_id, {}).get(col.key)
                reason = cell.reason if cell else ""
                groups.setdefault((col.key, outcome, reason), []).append(row_id)
    return groups


def _severity(outcome: str, reason: str) -> int:
    """Order of the "why" list: breakage first, then config evidence, mode skips last."""
    ranks = {"crash": 0, "timeout": 1, "fail": 2}
    if outcome in ranks:
        return ranks[outcome]
    if reason.startswith("config:"):
        return 3
    return 5 if reason.startswith("cgroup-mode:") else 4


def why_differ(matrix: Matrix, row_ids: list[str]) -> str:
    groups = differences(matrix, row_ids)
    if not groups:
        return '<p class="banner info">Every row has the same outcome in every column.</p>'
    order = {c.key: i for i, c in enumerate(matrix.columns)}
    lines = []
    for (key, outcome, reason), rows in sorted(
            groups.items(), key=lambda kv: (_severity(kv[0][1], kv[0][2]), order[kv[0][0]])):
        shown = ", ".join(rows[:6]) + (f", … (+{len(rows) - 6})" if len(rows) > 6 else "")
        evidence = explain_reason(reason)
        lines.append(f'<tr><td class="nowrap">{escape(key)}</td><td class="nowrap"><span class="sym '
                     f'o-{outcome}">{SYMBOLS[outcome]}</span>&nbsp;{LABELS[outcome]}</td>'
                     f'<td><code>{escape(reason)}</code><br><small>{escape(evidence)}</small>'
                     f'</td><td>{len(rows)}</td><td><small>{escape(shown)}</small></td></tr>')
    return ('<details id="why" open><summary><b>Why rows differ</b>: where a column did not pass '
            'a row that most columns agree on, grouped by reason</summary><div class="scroll">'
            '<table class="plain">'
            '<tr><th>Kernel/mode</th><th>Outcome</th><th>Reason (config evidence)</th>'
            f'<th>Rows</th><th>Which</th></tr>{"".join(lines)}</table></div></details>')


def legend() -> str:
    items = "".join(f'<span><span class="sym o-{o}">{SYMBOLS[o]}</span> {LABELS[o]}</span>'
                    for o in (*OUTCOMES, "none"))
    return (f'<p class="legend">{items}<span>≠ outcome differs across columns</span>'
            f'<span>Click a cell for what was seen, a column head for kernel facts.</span></p>')


def page(title: str, body: str, script: str = "") -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{escape(title)}</title><style>{asset("report.css")}</style></head>'
            f'<body>{body}{script}</body></html>\n')


def render_report(matrix: Matrix, cat: Catalogue, errors: list[str] | None = None,
                  title: str = "ckc compatibility report", generated: str | None = None) -> str:
    areas = rows_by_area(matrix, cat)
    row_ids = [r for _, ids in areas for r in ids]
    when = generated or datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    differ = sum(row_differs(row_outcomes(matrix, r)) for r in row_ids)
    meta = (f'<p class="meta">{len(row_ids)} behaviours × {len(matrix.columns)} kernel/mode '
            f'columns from {len(matrix.runs)} runs; {differ} rows differ across columns. '
            f'Generated {escape(when)}.</p>')
    table = (f'<table id="matrix">{matrix_head(matrix, row_ids)}'
             f'{matrix_body(matrix, cat, areas)}</table>')
    panel = ('<aside id="details" role="dialog" aria-label="details" aria-hidden="true" hidden>'
             '<button type="button" class="close" id="details-close" aria-label="close">×'
             '</button><div id="details-body"></div></aside>')
    body = (f'<header><h1>{escape(title)}</h1>{meta}{banners(errors or [], cat)}{legend()}'
            f'{why_differ(matrix, row_ids)}</header>{filters(areas)}{table}{panel}{charts.benchmarks_section(matrix)}')
    script = (f'<script type="application/json" id="ckc-data">'
              f'{data_island(matrix, cat, areas)}</script><script>{asset("report.js")}</script>')
    return page(title, body, script)


def _diff_rows(d: "ColumnDiff") -> str:
    rows = []
    for ch in d.changes:
        old = ch.before.outcome if ch.before else "none"
        new = ch.after.outcome if ch.after else "none"
        cell = ch.after if ch.after and ch.after.outcome != "pass" else None
        reason = cell.reason if cell else ""
        seen = cell.details.splitlines()[0] if cell and cell.details else ""
        rows.append(f'<tr class="change {ch.kind}"><td>{escape(ch.kind)}</td>'
                    f'<td><code>{escape(ch.row_id)}</code></td>'
                    f'<td><span class="sym o-{old}">{SYMBOLS[old]}</span> {LABELS[old]} → '
                    f'<span class="sym o-{new}">{SYMBOLS[new]}</span> {LABELS[new]}</td>'
                    f'<td><code>{escape(reason)}</code><br><small>'
                    f'{escape(explain_reason(reason))}</small></td><td>{escape(seen)}</td></tr>')
    return "".join(rows)


def _bench_rows(d: "ColumnDiff") -> str:
    return "".join(f'<tr><td>{escape(c.name)}</td><td>{human_ns(c.before_ns)}</td>'
                   f'<td>{human_ns(c.after_ns)}</td><td>{c.percent:+.1f} %</td>'
                   f'<td>±{human_ns(c.noise_ns)}</td></tr>' for c in d.bench_changes)


def render_diff(diffs: list["ColumnDiff"], notes: list[str], baseline: str) -> str:
    """The diff as one self-contained page (same CSS as the report, no script)."""
    parts = [f'<h1>ckc diff against {escape(baseline)}</h1>']
    for d in diffs:
        parts.append(f'<h2>{escape(d.label_a)} → {escape(d.label_b)}</h2>')
        if d.changes:
            parts.append('<table class="plain diff"><tr><th>Change</th><th>Behaviour</th>'
                         '<th>Outcome</th><th>Reason</th><th>What was seen</th></tr>'
                         f'{_diff_rows(d)}</table>')
        parts.append(f'<p>{d.unchanged} rows unchanged.</p>')
        if d.bench_changes:
            parts.append('<table class="plain"><tr><th>Benchmark</th><th>Before</th>'
                         '<th>After</th><th>Change</th><th>Noise (95 %)</th></tr>'
                         f'{_bench_rows(d)}</table>')
        if d.bench_note:
            parts.append(f'<p class="banner info">{escape(d.bench_note)}</p>')
    parts += [f'<p class="banner info">{escape(n)}</p>' for n in notes]
    count = sum(len(d.regressions) for d in diffs)
    verdict = (f"No regressions compared to {baseline}." if count == 0 else
               f"{count} regression{'s' if count != 1 else ''} compared to {baseline}.")
    parts.append(f'<p id="verdict" class="banner{" info" if count == 0 else ""}">'
                 f'{escape(verdict)}</p>')
    return page(f"ckc diff against {baseline}", "".join(parts))

