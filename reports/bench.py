"""Benchmark figures out of Google Benchmark entries, with their noise.

    figs = figures(entries)          # list[Figure]: one per benchmark run_name
    overheads(figs)                  # memcg cost per depth vs depth:0, "not resolved" within noise
    compare(a, b)                    # Change if b differs from a beyond both figures' noise

Entries carry "behaviour" (a bench.* catalogue ID). With repetitions, Google Benchmark writes
aggregates (mean, stddev); without, the iteration entries of one run_name are pooled here.
Figures measured under TCG are emulated: callers keep them apart from host/KVM figures.
"""
from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass
from typing import Any

# Two-sided 95 % quantiles of Student's t by degrees of freedom (1-30); beyond, the normal's.
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t975(df: int) -> float:
    return T975[df - 1] if 1 <= df <= len(T975) else 1.96

UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


@dataclass(frozen=True)
class Figure:
    behaviour: str
    name: str  # run_name without the "/real_time" suffix
    mean_ns: float
    stddev_ns: float
    n: int
    accel: str
    # The binary's own overhead figure against its baseline (paired within rounds, so tighter
    # than two means compared here): (percent, 95 % low, 95 % high), or None.
    own_overhead: tuple[float, float, float] | None = None

    @property
    def emulated(self) -> bool:
        return self.accel == "tcg"

    def ci95_ns(self) -> float:
        """Half-width of the 95 % interval of the mean (0 when there is one sample)."""
        return t975(self.n - 1) * self.stddev_ns / math.sqrt(self.n) if self.n > 1 else 0.0


@dataclass(frozen=True)
class Overhead:
    behaviour: str
    name: str  # the depth>0 figure
    baseline: str  # its depth:0 figure
    delta_ns: float
    ci95_ns: float
    percent: float

    @property
    def resolved(self) -> bool:
        return abs(self.delta_ns) > self.ci95_ns > 0 or (self.ci95_ns == 0 and self.delta_ns != 0)


@dataclass(frozen=True)
class Change:
    name: str
    before_ns: float
    after_ns: float
    noise_ns: float

    @property
    def percent(self) -> float:
        return 100.0 * (self.after_ns - self.before_ns) / self.before_ns if self.before_ns else 0.0


def _run_name(entry: dict[str, Any]) -> str:
    name = str(entry.get("run_name") or entry.get("name") or "")
    return re.sub(r"/real_time$|_(mean|median|stddev|cv)$", "", name)


def _ns(entry: dict[str, Any]) -> float:
    return float(entry.get("real_time", 0.0)) * UNIT_NS.get(str(entry.get("time_unit", "ns")), 1.0)


def figures(entries: list[dict[str, Any]]) -> list[Figure]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        if e.get("behaviour") and e.get("error_occurred") is not True:
            groups.setdefault(_run_name(e), []).append(e)
    out = []
    for name, group in groups.items():
        first = group[0]
        aggs = {str(e.get("aggregate_name")): e for e in group if e.get("run_type") == "aggregate"}
        if "mean" in aggs:
            n = int(aggs["mean"].get("repetitions", 1) or 1)
            mean, sd = _ns(aggs["mean"]), _ns(aggs["stddev"]) if "stddev" in aggs else 0.0
        else:
            samples = [_ns(e) for e in group if e.get("run_type", "iteration") == "iteration"]
            if not samples:
                continue
            n, mean = len(samples), statistics.fmean(samples)
            sd = statistics.stdev(samples) if n > 1 else 0.0
        own = None
        if "overhead" in aggs:
            o = aggs["overhead"]
            try:
                own = (float(o["overhead_pct"]), float(o["ci95_lo_pct"]), float(o["ci95_hi_pct"]))
            except (KeyError, TypeError, ValueError):
                own = None
        out.append(Figure(str(first["behaviour"]), name, mean, sd, n, str(first.get("accel", "")),
                          own))
    return out


def overheads(figs: list[Figure]) -> list[Overhead]:
    """depth:N vs depth:0 of the same benchmark (memcg nesting cost). The binary's own paired
    figure is taken when it wrote one; else the two means are compared here."""
    by_name = {f.name: f for f in figs}
    out = []
    for f in figs:
        m = re.search(r"depth:(\d+)", f.name)
        if not m or m.group(1) == "0":
            continue
        base_name = f.name[:m.start()] + "depth:0" + f.name[m.end():]
        if f.own_overhead is not None:
            pct, lo, hi = f.own_overhead
            base_ns = f.mean_ns / (1 + pct / 100) if pct > -100 else 0.0
            out.append(Overhead(f.behaviour, f.name, base_name, f.mean_ns - base_ns,
                                (hi - lo) / 2 / 100 * base_ns, pct))
            continue
        base = by_name.get(base_name)
        if base is None:
            continue
        delta = f.mean_ns - base.mean_ns
        ci = math.hypot(f.ci95_ns(), base.ci95_ns())
        pct = 100.0 * delta / base.mean_ns if base.mean_ns else 0.0
        out.append(Overhead(f.behaviour, f.name, base.name, delta, ci, pct))
    return out


def compare(before: list[Figure], after: list[Figure], min_percent: float = 5.0) -> list[Change]:
    """Figures whose means differ by more than both intervals and at least min_percent."""
    old = {f.name: f for f in before}
    out = []
    for f in after:
        a = old.get(f.name)
        if a is None or a.emulated != f.emulated:
            continue
        noise = math.hypot(a.ci95_ns(), f.ci95_ns())
        if noise == 0:  # single samples: no interval, use a wider relative threshold
            noise = 0.10 * a.mean_ns
        change = Change(f.name, a.mean_ns, f.mean_ns, noise)
        if abs(f.mean_ns - a.mean_ns) > noise and abs(change.percent) >= min_percent:
            out.append(change)
    return out


def human_ns(ns: float) -> str:
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if abs(ns) >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"
