"""Run-to-run spread of benchmark figures across several runs of the same benchmarks.

    python3 -m bench.compare_runs run1.json run2.json run3.json [--filter REGEX]

Each file is a results file written by `ckc bench` or a binary's Google Benchmark JSON (or
either gzipped, as in bench/results/). Per case
it prints the mean ns/page (or per operation) of every run with the run-to-run CV, and for cases
with an overhead entry the overhead % of every run with its spread: standard deviation in
percentage points, the overhead's own CV, and the CV of the leaf/root cost ratio. One line on
stderr and exit 2 on bad input.
"""
from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import sys
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CaseFigures:
    means: list[float] = field(default_factory=list)
    overheads: list[float] = field(default_factory=list)
    resolved: list[bool] = field(default_factory=list)


def load_entries(path: str) -> list[dict[str, Any]]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        doc = json.load(f)
    entries = doc.get("benchmarks")
    if not isinstance(entries, list):
        raise ValueError(f"{path}: no benchmarks array")
    return entries


def collect(paths: list[str], pattern: str) -> dict[str, CaseFigures]:
    cases: dict[str, CaseFigures] = {}
    for path in paths:
        for e in load_entries(path):
            name = str(e.get("run_name", ""))
            if not re.search(pattern, name):
                continue
            kind = e.get("aggregate_name")
            if kind == "mean":
                cases.setdefault(name, CaseFigures()).means.append(float(e["real_time"]))
            elif kind == "overhead":
                c = cases.setdefault(name, CaseFigures())
                c.overheads.append(float(e["overhead_pct"]))
                c.resolved.append(bool(e.get("resolved")))
    return cases


def describe(name: str, c: CaseFigures) -> str:
    line = f"{name:62s}"
    if len(c.means) >= 2:
        m = statistics.fmean(c.means)
        line += f" {m:10.1f} ns  run-to-run cv {100 * statistics.stdev(c.means) / m:5.2f} %"
    if len(c.overheads) >= 2:
        runs = ", ".join(f"{o:+.2f}{'' if r else '*'}" for o, r in zip(c.overheads, c.resolved))
        mean, sd = statistics.fmean(c.overheads), statistics.stdev(c.overheads)
        cv = f"{100 * sd / abs(mean):.0f} %" if mean else "undefined"
        # The leaf's cost as a multiple of the root's (1 + overhead): its CV is what the
        # per-page figures' noise gives; the overhead's own CV explodes as it nears zero.
        ratios = [1 + o / 100 for o in c.overheads]
        ratio_cv = 100 * statistics.stdev(ratios) / statistics.fmean(ratios)
        line += (f" | overhead {mean:+.2f} % (sd {sd:.2f} pp, cv {cv}; leaf/root ratio cv "
                 f"{ratio_cv:.2f} %; runs {runs})")
    return line


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="compare_runs")
    p.add_argument("files", nargs="+")
    p.add_argument("--filter", default="")
    args = p.parse_args(argv)
    if len(args.files) < 2:
        print("compare_runs: give at least two runs", file=sys.stderr)
        return 2
    try:
        cases = collect(args.files, args.filter)
    except (OSError, EOFError, ValueError, re.error) as err:
        print(f"compare_runs: {err}", file=sys.stderr)
        return 2
    print("(* = that run's interval spans zero: not resolved)")
    for name, c in cases.items():
        print(describe(name, c))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
