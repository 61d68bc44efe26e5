"""The tables of bench/RESULTS.md, reprinted from the raw files in bench/results/.

    python3 -m bench.compare_runs FILE... [--filter REGEX] [--tables overheads,slopes,...]

Each FILE is a binary's Google Benchmark JSON, a results file written by `ckc bench` (with or
without --replicates) or a merged VM results file (`vm-merged.json`, several runs), any of them
gzipped. Every run in them (every replicate of a --replicates file) is one column. Tables, in
Markdown, each headed by the files it comes from:

  overheads   per overhead figure: each run's value with its 95 % interval ("not resolved,
              < B %" when it spans zero: no point value), the replicate CV and the
              DerSimonian-Laird random-effects interval over the runs (bench/replicates.py)
  slopes      per slope group the same, and for scale curves the points and the check (flat /
              linear as intended, reports/bench.py)
  off         bench.memcg-off: per loop the accounting-off cost and the same kernel's root and
              leaves over it (runs of one release with and without cgroup_disable=memory); with
              k runs of each, each pair's difference and their random-effects combination
  cases       per case: each run's mean and per-round CV, and the run-to-run CV of the means
One line on stderr and exit 2 on bad input.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import statistics
import sys
from dataclasses import dataclass
from typing import Any, Callable

from bench import replicates
from reports import bench, schema

TABLES = ("overheads", "slopes", "off", "cases")


@dataclass(frozen=True)
class RawRun:
    label: str  # the file's name, and the run or replicate within it when there are several
    entries: list[dict[str, Any]]
    release: str = ""
    append: str = ""  # extra kernel arguments of a VM run (cgroup_disable=memory)

    @property
    def memcg_off(self) -> bool:
        return "cgroup_disable=memory" in self.append or any(
            e.get("behaviour") == "bench.memcg-off" for e in self.entries)


def _read(path: str) -> Any:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def _split_replicates(label: str, entries: list[dict[str, Any]], **kw: str) -> list[RawRun]:
    """One RawRun per replicate of a --replicates file; its combined entries are recomputed."""
    entries = [e for e in entries if e.get("aggregate_name") != "replicates"]
    reps = sorted({int(e["replicate"]) for e in entries if e.get("replicate")})
    if not reps:
        return [RawRun(label, entries, **kw)]
    return [RawRun(f"{label} r{k}", [e for e in entries if e.get("replicate") == k], **kw)
            for k in reps]


def load_runs(path: str) -> list[RawRun]:
    doc = _read(path)
    name = os.path.basename(path)
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: not a JSON object")
    if "context" in doc and isinstance(doc.get("benchmarks"), list):  # Google Benchmark JSON
        context = doc.get("context") or {}
        binary = os.path.basename(str(context.get("executable", "")))
        entries = schema.bench_entries(doc, binary, str(context.get("ckc_accel", "host")))
        return _split_replicates(name, entries)
    if "runs" in doc or "run" in doc:
        runs = [r for r in doc.get("runs", [doc]) if isinstance(r, dict) and r.get("benchmarks")]
        out = []
        for i, r in enumerate(runs, 1):
            label = f"{name} run {i}" if len(runs) > 1 else name
            out += _split_replicates(label, r["benchmarks"],
                                     release=str((r.get("kernel") or {}).get("release", "")),
                                     append=str((r.get("vm") or {}).get("append", "")))
        return out
    raise ValueError(f"{path}: neither Google Benchmark JSON nor a ckc results file")


def _cell(iv: bench.Interval | None, unit: str) -> str:
    return "" if iv is None else bench.describe(iv, unit)


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return (["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            + ["| " + " | ".join(r) + " |" for r in rows])


def _figure_rows(runs: list[RawRun], kind: str, pattern: str,
                 extra: Callable[[str, dict[str, Any]], list[str]]) -> list[list[str]]:
    """One row per overhead/slope figure: each run's value, then the replicates' figures."""
    per_run = [{str(e.get("run_name")): e for e in r.entries if e.get("aggregate_name") == kind
                and re.search(pattern, str(e.get("run_name", "")))} for r in runs]
    combined = {str(e["run_name"]): e for e in replicates.combined_entries(
        [list(p.values()) for p in per_run])}
    names = list(dict.fromkeys(n for p in per_run for n in p))
    rows = []
    for name in names:
        first = next(p[name] for p in per_run if name in p)
        unit = " %" if kind == "overhead" else f" {replicates.unit_of(first)}"
        cells = [_cell(bench.interval_of(p[name]), unit) if name in p else "" for p in per_run]
        c = combined.get(name)
        if c is not None:
            cv = "undefined" if c["cv_pct"] is None else f"{c['cv_pct']:.0f} %"
            est = bench.Interval(c["estimate"], c["lower95"], c["upper95"], bool(c["resolved"]))
            div, spread_unit = bench.scale_ns(c["spread"], unit)
            spread_unit = " pp" if kind == "overhead" else spread_unit
            cells += [cv, f"{c['spread'] / div:.2f}{spread_unit}", bench.describe(est, unit),
                      f"{c['i2_pct']:.0f} %, p {c['q_p']:.2g}"
                      + (" DISAGREE" if c["disagree"] else "")]
        elif len(runs) > 1:
            cells += ["", "", "", ""]
        rows.append([f"`{name}`", *cells, *extra(name, first)])
    return rows


def _run_heads(runs: list[RawRun]) -> list[str]:
    heads = [r.label for r in runs]
    if len(runs) > 1:
        heads += ["replicate CV", "spread", "random effects 95 % (DL, t k-1 df)", "I², Cochran Q"]
    return heads


def overheads_table(runs: list[RawRun], pattern: str) -> list[str]:
    rows = _figure_rows(runs, "overhead", pattern, lambda _n, _e: [])
    return _table(["overhead", *_run_heads(runs)], rows) if rows else []


def slopes_table(runs: list[RawRun], pattern: str) -> list[str]:
    pooled = [{**e, "replicate": k} for k, r in enumerate(runs, 1) for e in r.entries]
    pooled += replicates.combined_entries([r.entries for r in runs])
    if len(runs) == 1:
        pooled = runs[0].entries
    curves = {c.slope.group + "/slope": c for c in bench.curves(pooled)}

    def extra(name: str, _e: dict[str, Any]) -> list[str]:
        c = curves.get(name)
        if c is None:
            return ["", ""]
        points = ", ".join(f"{p.x:g}: {bench.human_ns(p.mean_ns)}" for p in c.points)
        r2 = c.r2()
        return [points + (f" (R² {r2:.3f})" if r2 is not None else ""), c.verdict()]

    rows = _figure_rows(runs, "slope", pattern, extra)
    head = ["slope", *_run_heads(runs), "points (mean over runs)", "check"]
    return _table(head, rows) if rows else []


def _off_cells(on: RawRun, off: RawRun, pattern: str) -> tuple[list[int], dict[str, Any]]:
    """The depths the on run has for the off run's loops, and per off loop (depth:0 name) its
    Figure and the on run's Figure at each depth."""
    on_figs = {f.name: f for f in bench.figures(on.entries)}
    off_figs = {f.name: f for f in bench.figures(off.entries)
                if "depth:0" in f.name and re.search(pattern, f.name)}
    depths = sorted({int(m.group(1)) for n in on_figs
                     for m in [re.search(r"depth:(\d+)", n)]
                     if m and re.sub(r"depth:\d+", "depth:0", n) in off_figs})
    return depths, {name: (f, {d: on_figs.get(name.replace("depth:0", f"depth:{d}"))
                               for d in depths}) for name, f in off_figs.items()}


def _single_off_table(on: RawRun, off: RawRun, pattern: str) -> list[str]:
    depths, loops = _off_cells(on, off, pattern)
    rows = []
    for name in sorted(loops):
        f, at = loops[name]
        cells = ["" if at[d] is None else f"{bench.human_ns(at[d].mean_ns)}: "
                 + bench.describe(bench.difference_pct(at[d], f)) for d in depths]
        cv = 100 * f.stddev_ns / f.mean_ns if f.mean_ns else 0.0
        rows.append([f"`{name}`", f"{bench.human_ns(f.mean_ns)} ({cv:.1f} %)", *cells])
    heads = ["root cgroup" if d == 0 else f"depth {d}" for d in depths]
    return ([f"{off.label} (accounting off) vs {on.label} ({on.release}):", ""]
            + _table(["loop", "off, mean (per-round CV)", *heads], rows) + [""])


def _replicated_off_table(pairs: list[tuple[RawRun, RawRun]], pattern: str) -> list[str]:
    """k >= 2 (on, off) pairs of one release: per loop and depth, each pair's on-over-off
    difference and their DerSimonian-Laird combination (bench.combine; each pair's standard
    error from its unpaired interval over the smaller of the two round counts)."""
    per_pair = [_off_cells(on, off, pattern) for on, off in pairs]
    names = sorted(set.intersection(*(set(loops) for _, loops in per_pair)))
    depths = sorted(set.intersection(*(set(d) for d, _ in per_pair)))
    rows = []
    for name in names:
        for d in depths:
            ivs, ses = [], []
            for _, loops in per_pair:
                f, at = loops[name]
                g = at.get(d)
                if g is None:
                    break
                iv = bench.difference_pct(g, f)
                ivs.append(iv)
                ses.append(bench.standard_error(iv.lower, iv.upper, min(f.n, g.n)))
            if len(ivs) != len(pairs):
                continue
            c = bench.combine([iv.value for iv in ivs], ses)
            cv = "undefined" if c.cv_pct is None else f"{c.cv_pct:.0f} %"
            offs = [loops[name][0] for _, loops in per_pair]
            off_mean = statistics.fmean(f.mean_ns for f in offs)
            where = "root cgroup" if d == 0 else f"depth {d}"
            rows.append([f"`{name}`", where, bench.human_ns(off_mean),
                         *(bench.describe(iv) for iv in ivs), cv, f"{c.spread:.2f} pp",
                         bench.describe(c.estimate),
                         f"{c.i2_pct:.0f} %, p {c.q_p:.2g}" + (" DISAGREE" if c.disagree else "")])
    labels = "; ".join(f"{off.label} vs {on.label}" for on, off in pairs)
    release = pairs[0][0].release
    heads = [f"pair {k}" for k in range(1, len(pairs) + 1)]
    return ([f"{len(pairs)} pairs of boots of {release}, accounting on over off ({labels}):", ""]
            + _table(["loop", "on-kernel group", "off, mean over pairs", *heads, "replicate CV",
                      "spread", "random effects 95 % (DL, t k-1 df)", "I², Cochran Q"], rows)
            + [""])


def off_table(runs: list[RawRun], pattern: str) -> list[str]:
    """Runs of one release with and without cgroup_disable=memory: with one of each, per loop
    the accounting-off cost and the on run's root and leaves over it; with k of each (boots
    given in order on, off, on, off... or all on then all off: the k-th on with the k-th off),
    each pair's difference and their random-effects combination."""
    out: list[str] = []
    for release in dict.fromkeys(r.release for r in runs if r.memcg_off):
        offs = [r for r in runs if r.memcg_off and r.release == release]
        ons = [r for r in runs if not r.memcg_off and r.release == release]
        if not ons:
            continue
        if len(offs) >= 2 and len(ons) == len(offs):
            out += _replicated_off_table(list(zip(ons, offs)), pattern)
        else:
            out += [line for off in offs for line in _single_off_table(ons[0], off, pattern)]
    return out


def cases_table(runs: list[RawRun], pattern: str) -> list[str]:
    per_run = [{f.name: f for f in bench.figures(r.entries)} for r in runs]
    names = [n for n in dict.fromkeys(n for p in per_run for n in p) if re.search(pattern, n)]
    rows = []
    for n in names:
        cells = []
        for p in per_run:
            f = p.get(n)
            cv = 100 * f.stddev_ns / f.mean_ns if f and f.mean_ns else 0.0
            cells.append("" if f is None else f"{bench.human_ns(f.mean_ns)} ({cv:.1f} %)")
        means = [p[n].mean_ns for p in per_run if n in p]
        spread = (f"{100 * statistics.stdev(means) / statistics.fmean(means):.1f} %"
                  if len(means) > 1 and statistics.fmean(means) else "")
        rows.append([f"`{n}`", *cells] + ([spread] if len(runs) > 1 else []))
    heads = [f"{r.label}: mean (per-round CV)" for r in runs]
    return _table(["case", *heads] + (["run-to-run CV"] if len(runs) > 1 else []),
                  rows) if rows else []


def render(files: list[str], runs: list[RawRun], tables: list[str], pattern: str) -> str:
    makers = {"overheads": overheads_table, "slopes": slopes_table, "off": off_table,
              "cases": cases_table}
    out = []
    for t in tables:
        lines = makers[t](runs, pattern)
        if lines:
            out += [f"#### {t} (from {', '.join(os.path.basename(f) for f in files)})", "",
                    *lines, ""]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="compare_runs")
    p.add_argument("files", nargs="+")
    p.add_argument("--filter", default="", help="regex over case names")
    p.add_argument("--tables", default=",".join(TABLES), help=",".join(TABLES))
    args = p.parse_args(argv)
    tables = [t.strip() for t in args.tables.split(",") if t.strip()]
    if not tables or any(t not in TABLES for t in tables):
        print(f"compare_runs: --tables takes {','.join(TABLES)}", file=sys.stderr)
        return 2
    try:
        re.compile(args.filter)
        runs = [r for f in args.files for r in load_runs(f)]
    except (OSError, EOFError, ValueError, re.error) as err:
        print(f"compare_runs: {err}", file=sys.stderr)
        return 2
    print(render(args.files, runs, tables, args.filter))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
