"""Benchmark charts as inline SVG (no library, no network) for the HTML report.

    html = benchmarks_section(matrix)

The memcg overhead of a leaf cgroup at depth N over the root (depth:0) per kernel, with its 95 %
interval ("not resolved, < bound" when the interval spans zero: only the interval is drawn,
hollow, never a point value); figures combined over replicate runs (random effects); the scale
curves (points, error bars, fitted line, flat/linear as intended); bench.memcg-off: a kernel
next to the same kernel booted with cgroup_disable=memory (a side-by-side table and a chart of
the differences); and the cost of each container piece per kernel. Columns measured under TCG
are drawn in their own section labelled emulated and never share a chart with host or KVM
columns.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from html import escape

from reports import bench
from reports.matrix import Column, Matrix

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000",
           "#F0E442")
LABEL_W, PLOT_W, BAR_H, GAP, TOP = 270, 330, 10, 10, 26


@dataclass(frozen=True)
class Bar:
    value: float
    err: float
    resolved: bool = True


def _fmt(ns: float) -> str:
    return bench.human_ns(ns)


def _scale(values: list[Bar], log: bool) -> tuple[float, float]:
    lows = [b.value - b.err for b in values] + [0.0]
    highs = [b.value + b.err for b in values] + [0.0]
    if log:
        pos = [b.value for b in values if b.value > 0] or [1.0]
        return math.log10(min(pos) / 2), math.log10(max(highs) * 1.2)
    lo, hi = min(lows), max(highs)
    return lo, hi if hi > lo else lo + 1


def _x(v: float, lo: float, hi: float, log: bool) -> float:
    if log:
        v = math.log10(max(v, 10 ** lo))
    return LABEL_W + (v - lo) / (hi - lo) * PLOT_W


def _bound_label(bar: Bar) -> str:
    """An unresolved bar's text: the bound of its magnitude, never its point value."""
    bound = max(abs(bar.value - bar.err), abs(bar.value + bar.err))
    return f"not resolved, < {_fmt(bench._round_up(bound))}"


def _bar_svg(bar: Bar, y: float, color: str, lo: float, hi: float, log: bool, tip: str) -> str:
    """A resolved bar runs from zero to its value with whiskers; an unresolved one is only its
    interval, drawn hollow, so that no point value is shown for it."""
    floor = 10 ** lo if log else -1e300
    if bar.resolved:
        x0, x1 = _x(10 ** lo if log else 0.0, lo, hi, log), _x(bar.value, lo, hi, log)
    else:
        x0 = _x(max(bar.value - bar.err, floor), lo, hi, log)
        x1 = _x(bar.value + bar.err, lo, hi, log)
    left, width = min(x0, x1), max(abs(x1 - x0), 1.0)
    fill = color if bar.resolved else "none"
    parts = [f'<rect x="{left:.1f}" y="{y:.1f}" width="{width:.1f}" height="{BAR_H}" '
             f'fill="{fill}" stroke="{color}" stroke-width="1.5"><title>{escape(tip)}</title>'
             f'</rect>']
    if bar.err > 0 and bar.resolved:
        ea = _x(max(bar.value - bar.err, floor), lo, hi, log)
        eb = _x(bar.value + bar.err, lo, hi, log)
        ym = y + BAR_H / 2
        parts.append(f'<path d="M{ea:.1f},{ym:.1f}H{eb:.1f}M{ea:.1f},{y:.1f}V{y + BAR_H:.1f}'
                     f'M{eb:.1f},{y:.1f}V{y + BAR_H:.1f}" stroke="#222" fill="none"/>')
    label = _fmt(bar.value) if bar.resolved else _bound_label(bar)
    parts.append(f'<text x="{max(x1, x0) + 4:.1f}" y="{y + BAR_H - 1:.1f}" font-size="9">'
                 f'{escape(label)}</text>')
    return "".join(parts)


def hbar_chart(title: str, categories: list[str], series: list[str],
               bars: dict[tuple[str, int], Bar], log: bool = False) -> str:
    """Grouped horizontal bars: one group per category, one bar per series (kernel column)."""
    present = list(bars.values())
    if not present:
        return ""
    lo, hi = _scale(present, log)
    group_h = len(series) * BAR_H + GAP
    height = TOP + len(categories) * group_h + 18 * math.ceil(len(series) / 2) + 10
    width = LABEL_W + PLOT_W + 90
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'role="img" aria-label="{escape(title)}" font-family="sans-serif">']
    if not log and lo < 0:
        zx = _x(0.0, lo, hi, log)
        out.append(f'<line x1="{zx:.1f}" x2="{zx:.1f}" y1="{TOP - 4}" '
                   f'y2="{TOP + len(categories) * group_h}" stroke="#888"/>')
    for ci, cat in enumerate(categories):
        y0 = TOP + ci * group_h
        label = cat[3:] if cat.startswith("BM_") else cat
        out.append(f'<text x="{LABEL_W - 6}" y="{y0 + group_h / 2:.1f}" font-size="10" '
                   f'text-anchor="end">{escape(label)}</text>')
        for si, name in enumerate(series):
            bar = bars.get((cat, si))
            if bar:
                tip = (f"{name} {cat}: {_fmt(bar.value)} ±{_fmt(bar.err)} (95 %)"
                       if bar.resolved else f"{name} {cat}: {_bound_label(bar)} (95 % interval "
                       "spans zero)")
                out.append(_bar_svg(bar, y0 + si * BAR_H, PALETTE[si % len(PALETTE)], lo, hi,
                                    log, tip))
    out.append(_legend_svg(series, TOP + len(categories) * group_h + 6))
    scale = "log scale" if log else "linear scale"
    out.append(f'<text x="{LABEL_W}" y="14" font-size="10" fill="#555">{scale}; '
               f'bars: mean, whiskers: 95 % interval; hollow box = the interval of a '
               f'figure not resolved</text></svg>')
    return f'<figure class="chart"><h3>{escape(title)}</h3>{"".join(out)}</figure>'


def _legend_svg(series: list[str], y: float) -> str:
    parts = []
    for i, name in enumerate(series):
        x = LABEL_W * 0.2 + (i % 2) * 330
        yy = y + (i // 2) * 18
        parts.append(f'<rect x="{x:.0f}" y="{yy:.0f}" width="12" height="10" '
                     f'fill="{PALETTE[i % len(PALETTE)]}"/><text x="{x + 16:.0f}" '
                     f'y="{yy + 9:.0f}" font-size="10">{escape(name)}</text>')
    return "".join(parts)


def _series_name(col: Column) -> str:
    variant = f" +{col.variant}" if col.variant else ""
    return f"{col.release} {col.cgroup_mode}{variant} ({'/'.join(col.accels)})"


def overhead_charts(per_col: list[tuple[Column, list[bench.Figure]]]) -> list[str]:
    """One chart per memcg benchmark (populate, write fault, ...): overhead by depth."""
    series = [_series_name(c) for c, _ in per_col]
    by_base: dict[str, dict[tuple[str, int], Bar]] = {}
    for si, (_, figs) in enumerate(per_col):
        for o in bench.overheads(figs):
            base = re.sub(r"/?depth:\d+", "", o.name)
            depth = re.search(r"depth:(\d+)", o.name)
            cat = f"depth {depth.group(1) if depth else '?'} vs root"
            by_base.setdefault(base, {})[(cat, si)] = Bar(o.delta_ns, o.ci95_ns, o.resolved)
    charts = []
    for base, bars in sorted(by_base.items()):
        cats = sorted({c for c, _ in bars}, key=lambda c: int(re.sub(r"\D", "", c) or 0))
        charts.append(hbar_chart(f"memcg overhead: {base} (ns added per operation)", cats,
                                 series, bars))
    return charts


def cost_charts(per_col: list[tuple[Column, list[bench.Figure]]]) -> list[str]:
    """One chart per bench.* behaviour that is not a memcg depth series."""
    series = [_series_name(c) for c, _ in per_col]
    by_behaviour: dict[str, dict[tuple[str, int], Bar]] = {}
    order: dict[str, list[str]] = {}
    for si, (_, figs) in enumerate(per_col):
        for f in figs:
            if "depth:" in f.name:
                continue
            by_behaviour.setdefault(f.behaviour, {})[(f.name, si)] = Bar(f.mean_ns, f.ci95_ns())
            names = order.setdefault(f.behaviour, [])
            if f.name not in names:
                names.append(f.name)
    charts = []
    for behaviour, bars in sorted(by_behaviour.items()):
        values = [b.value for b in bars.values() if b.value > 0]
        log = bool(values) and max(values) / min(values) > 50
        charts.append(hbar_chart(f"{behaviour}: cost per operation", order[behaviour], series,
                                 bars, log))
    return charts


def _accounting_off_pairs(per_col: list[tuple[Column, list[bench.Figure]]]
                          ) -> list[tuple[Column, list[bench.Figure], Column, list[bench.Figure]]]:
    """(kernel column, its figures, the same kernel booted with cgroup_disable=memory, its
    figures) for every accounting-off column whose plain counterpart is present."""
    by_key = {(c.release, c.cgroup_mode, c.variant): (c, figs) for c, figs in per_col}
    pairs = []
    for col, off_figs in per_col:
        on = by_key.get((col.release, col.cgroup_mode, ""))
        if "cgroup_disable=memory" in col.variant and on is not None:
            pairs.append((on[0], on[1], col, off_figs))
    return pairs


def _off_baseline_name(name: str) -> str | None:
    """The accounting-off figure a figure of the accounting-on kernel compares with: the same
    loop at depth:0 (the only depth an off kernel has), for figures without a limit."""
    m = re.search(r"depth:\d+", name)
    if not m or re.search(r"limit:[1-9]", name):
        return None
    return name[:m.start()] + "depth:0" + name[m.end():]


def _depth(name: str) -> int:
    m = re.search(r"depth:(\d+)", name)
    return int(m.group(1)) if m else -1


def accounting_off_charts(per_col: list[tuple[Column, list[bench.Figure]]]) -> list[str]:
    """bench.memcg-off: each memcg figure (root cgroup and leaves at depth N) of a kernel minus
    the same loop on the same kernel booted with cgroup_disable=memory, the true baseline."""
    pairs = _accounting_off_pairs(per_col)
    series = [_series_name(on) for on, _, _, _ in pairs]
    bars: dict[tuple[str, int], Bar] = {}
    cats: list[str] = []
    for si, (_, on_figs, _, off_figs) in enumerate(pairs):
        off = {f.name: f for f in off_figs}
        for f in sorted(on_figs, key=lambda f: (_off_baseline_name(f.name) or "", _depth(f.name))):
            base = off.get(_off_baseline_name(f.name) or "")
            if base is None:
                continue
            if f.name not in cats:
                cats.append(f.name)
            delta = f.mean_ns - base.mean_ns
            ci = math.hypot(f.ci95_ns(), base.ci95_ns())
            bars[(f.name, si)] = Bar(delta, ci, abs(delta) > ci)
    if not bars:
        return []
    return [hbar_chart("memcg accounting cost: each figure minus the same loop on the same "
                       "kernel booted with cgroup_disable=memory (ns per page)", cats, series,
                       bars)]


def _pct_cell(on: bench.Figure | None, off: bench.Figure) -> str:
    if on is None:
        return "<td></td>"
    delta = on.mean_ns - off.mean_ns
    ci = math.hypot(on.ci95_ns(), off.ci95_ns())
    iv = bench.difference_pct(on, off)
    tip = (f"{_fmt(on.mean_ns)}; difference {_fmt(delta)} ±{_fmt(ci)} (95 %)" if iv.resolved
           else f"{_fmt(on.mean_ns)}; the 95 % interval of the difference spans zero")
    return f'<td title="{escape(tip)}">{escape(bench.describe(iv, " %"))}</td>'



def accounting_off_tables(per_col: list[tuple[Column, list[bench.Figure]]]) -> list[str]:
    """The same figures side by side: per loop, the accounting-off cost per page, then the
    accounting-on kernel's root cgroup and each leaf depth as a percentage over it."""
    out = []
    for on_col, on_figs, off_col, off_figs in _accounting_off_pairs(per_col):
        on = {f.name: f for f in on_figs}
        off_names = {g.name for g in off_figs}
        depths = sorted({_depth(f.name) for f in on_figs
                         if _off_baseline_name(f.name) in off_names})
        if not depths:
            continue
        head = "".join(f"<th>{'root cgroup' if d == 0 else f'depth {d}'}</th>" for d in depths)
        rows = []
        for off in sorted(off_figs, key=lambda f: f.name):
            if "depth:0" not in off.name:
                continue
            cells = "".join(_pct_cell(on.get(off.name.replace("depth:0", f"depth:{d}")), off)
                            for d in depths)
            label = off.name[3:] if off.name.startswith("BM_") else off.name
            rows.append(f"<tr><td>{escape(label)}</td><td>{escape(_fmt(off.mean_ns))}</td>"
                        f"{cells}</tr>")
        out.append(f'<figure class="chart"><h3>{escape(on_col.release)} {on_col.cgroup_mode}: '
                   f'accounting off ({escape(off_col.variant)}) vs on, side by side</h3>'
                   f'<table class="plain"><tr><th>loop</th><th>off, per page</th>{head}</tr>'
                   f'{"".join(rows)}</table><p>On-kernel cost over the off kernel with its 95 % '
                   f'interval; a difference whose interval spans zero is not resolved and '
                   f'shows only the bound of its size.</p></figure>')
    return out


CURVE_W, CURVE_H, CURVE_PAD = 460, 200, 48


def _curve_axes(pts: tuple[bench.Point, ...]) -> tuple[float, float, float, float, bool]:
    """x range, y range and whether x is logarithmic (levels spread over more than 20x). The
    y axis spans the points and their intervals (not from zero), so a slope is visible."""
    xs = [p.x for p in pts]
    log = min(xs) > 0 and max(xs) / min(xs) > 20
    x_lo, x_hi = (math.log10(min(xs)), math.log10(max(xs))) if log else (min(xs), max(xs))
    if x_hi <= x_lo:
        x_hi = x_lo + 1
    y_lo = min(p.mean_ns - p.ci95_ns for p in pts)
    y_hi = max(p.mean_ns + p.ci95_ns for p in pts)
    pad = (y_hi - y_lo) * 0.1 or abs(y_hi) * 0.05 or 1.0
    return x_lo, x_hi, y_lo - pad, y_hi + pad, log


def curve_svg(title: str, curve: bench.Curve, color: str = PALETTE[0]) -> str:
    """Points with 95 % error bars and the least-squares line through their means."""
    pts = curve.points
    if not pts:
        return ""
    x_lo, x_hi, y_lo, y_hi, log = _curve_axes(pts)

    def sx(x: float) -> float:
        v = math.log10(x) if log else x
        return CURVE_PAD + (v - x_lo) / (x_hi - x_lo) * (CURVE_W - 2 * CURVE_PAD)

    def sy(y: float) -> float:
        return CURVE_H - 30 - (y - y_lo) / (y_hi - y_lo) * (CURVE_H - 50)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{CURVE_W}" height="{CURVE_H}" '
           f'role="img" aria-label="{escape(title)}" font-family="sans-serif">',
           f'<line x1="{CURVE_PAD}" x2="{CURVE_W - CURVE_PAD}" y1="{sy(y_lo):.1f}" '
           f'y2="{sy(y_lo):.1f}" stroke="#888"/>']
    for y in (y_lo, y_hi):
        out.append(f'<text x="{CURVE_PAD - 4}" y="{sy(y) + 3:.1f}" font-size="9" '
                   f'text-anchor="end">{escape(_fmt(y))}</text>')
    b, k = curve.line()
    xs = [p.x for p in pts]
    steps = [min(xs) + (max(xs) - min(xs)) * i / 40 for i in range(41)]
    path = "".join(f"{'M' if i == 0 else 'L'}{sx(x):.1f},{sy(b + k * x):.1f}"
                   for i, x in enumerate(steps))
    out.append(f'<path class="fit" d="{path}" stroke="{color}" fill="none" '
               f'stroke-dasharray="4 3"/>')
    for p in pts:
        x, y = sx(p.x), sy(p.mean_ns)
        lo, hi = sy(p.mean_ns - p.ci95_ns), sy(p.mean_ns + p.ci95_ns)
        out.append(f'<path d="M{x:.1f},{lo:.1f}V{hi:.1f}M{x - 3:.1f},{lo:.1f}h6M{x - 3:.1f},'
                   f'{hi:.1f}h6" stroke="#222" fill="none"/><circle class="point" '
                   f'cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"><title>{p.x:g}: '
                   f'{escape(_fmt(p.mean_ns))} ±{escape(_fmt(p.ci95_ns))} (95 %)</title>'
                   f'</circle><text x="{x:.1f}" y="{CURVE_H - 16}" font-size="9" '
                   f'text-anchor="middle">{p.x:g}</text>')
    scale = "log" if log else "linear"
    out.append(f'<text x="{CURVE_PAD}" y="12" font-size="9" fill="#555">mean per level ± 95 % '
               f'({scale} x; y not from 0); dashed: least-squares line</text></svg>')
    return "".join(out)


def _slope_text(s: bench.Slope, key: str = "") -> str:
    reps = f", {s.replicates} replicates combined" if s.replicates > 1 else ""
    unit = f"ns/{key}" if key and s.unit == "ns/level" else s.unit
    return f"slope {bench.describe(s.slope, ' ' + unit)}{reps}"


def curve_charts(per_col: list[tuple[Column, list[dict]]]) -> list[str]:
    """Each slope group per column: the fitted slope with its interval, the check against the
    curve's intended shape (flat or linear), and the points with the fitted line."""
    out = []
    for si, (col, entries) in enumerate(per_col):
        for c in bench.curves(entries):
            verdict = c.verdict()
            r2 = c.r2()
            facts = _slope_text(c.slope, c.key) + (f"; R² {r2:.3f}" if r2 is not None else "")
            cls = "" if not verdict else " ok" if "NOT" not in verdict else " bad"
            head = (f'<h3>{escape(c.slope.group)} ({escape(_series_name(col))})</h3>'
                    f'<p class="curve-check{cls}">{escape(facts)}'
                    + (f': <b>{escape(verdict)}</b>' if verdict else "") + '</p>')
            out.append(f'<figure class="chart curve">{head}'
                       f'{curve_svg(c.slope.group, c, PALETTE[si % len(PALETTE)])}</figure>')
    return out


def _replicate_rows(entries: list[dict]) -> list[str]:
    rows = []
    for e in entries:
        if e.get("aggregate_name") != "replicates":
            continue
        iv = bench.interval_of(e)
        if iv is None:
            continue
        unit = " %" if e.get("of", "overhead") == "overhead" else " " + str(e.get("unit", ""))
        values = [bench.Interval(v, lo, hi, bool(r)) for v, lo, hi, r in zip(
            e.get("values", []), e.get("replicate_lower95", []), e.get("replicate_upper95", []),
            e.get("replicate_resolved", []))]
        per = "; ".join(bench.describe(v, unit) for v in values)
        cv = e.get("cv_pct")
        flag = " DISAGREE" if e.get("disagree") else ""
        rows.append(f"<tr><td>{escape(str(e.get('run_name', '')))}</td><td>{escape(per)}</td>"
                    f"<td>{'' if cv is None else f'{cv:.0f} %'}</td>"
                    f"<td>{escape(bench.describe(iv, unit))}</td>"
                    f"<td>{float(e.get('i2_pct', 0)):.0f} %, p {float(e.get('q_p', 1)):.3g}"
                    f"{flag}</td></tr>")
    return rows


def replicate_tables(per_col: list[tuple[Column, list[dict]]]) -> list[str]:
    """Figures measured in several independent runs: each run's value, the replicate CV and
    the random-effects combination (DerSimonian-Laird, t with k-1 df)."""
    out = []
    for col, entries in per_col:
        rows = _replicate_rows(entries)
        if rows:
            out.append(f'<figure class="chart"><h3>Replicates ({escape(_series_name(col))})</h3>'
                       f'<table class="plain"><tr><th>figure</th><th>each replicate</th>'
                       f'<th>replicate CV</th><th>random effects, 95 %</th><th>I², Cochran Q'
                       f'</th></tr>{"".join(rows)}</table><p>Combined with DerSimonian-Laird '
                       f'(within-run variance from each run\'s interval, between-run tau²), '
                       f'interval with Student\'s t on k-1 df; DISAGREE: the replicates differ '
                       f'beyond their intervals (Q test p &lt; 0.05).</p></figure>')
    return out


def _group(per_col: list[tuple[Column, list[bench.Figure]]],
           raw: list[tuple[Column, list[dict]]], heading: str, cls: str) -> str:
    if not per_col:
        return ""
    charts = (overhead_charts(per_col) + replicate_tables(raw) + accounting_off_tables(per_col)
              + accounting_off_charts(per_col) + curve_charts(raw) + cost_charts(per_col))
    inner = "".join(c.replace('class="chart"', f'class="chart {cls}"') for c in charts if c)
    return f'<h3>{heading}</h3><div class="charts">{inner}</div>'


def benchmarks_section(matrix: Matrix) -> str:
    real: list[tuple[Column, list[bench.Figure]]] = []
    emulated: list[tuple[Column, list[bench.Figure]]] = []
    raw: dict[bool, list[tuple[Column, list[dict]]]] = {False: [], True: []}
    for col in matrix.columns:
        entries = matrix.benchmarks.get(col.key, [])
        figs = bench.figures(entries)
        if figs:
            (emulated if col.emulated else real).append((col, figs))
            raw[col.emulated].append((col, entries))
    if not real and not emulated:
        return ('<section id="benchmarks"><h2>Benchmarks</h2><p>No benchmark figures in '
                'these results.</p></section>')
    return ('<section id="benchmarks"><h2>Benchmarks</h2><p>Figures, not pass/fail. A '
            'difference whose 95 % interval spans zero is not resolved: drawn as its hollow '
            'interval and given only as a bound (&lt; x), never as a point value.</p>'
            + _group(real, raw[False], "Host and KVM", "")
            + _group(emulated, raw[True], '<span class="emulated-tag">Emulated (TCG)</span>: '
                     'timings of a software CPU, not comparable with host or KVM figures',
                     "emulated")
            + '</section>')
