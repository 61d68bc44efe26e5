"""Benchmark figures out of Google Benchmark entries, with their noise.

    figs = figures(entries)          # list[Figure]: one per benchmark run_name
    overheads(figs)                  # memcg cost per depth vs depth:0, "not resolved" within noise
    compare(a, b)                    # Change if b differs from a beyond both figures' noise
    interval_of(entry)               # an overhead/slope/replicates entry's Interval
    describe(interval, " %")         # "+2.89 % [+2.24, +3.55]" or "not resolved, < 0.8 %"

An unresolved figure (its 95 % interval spans zero) has no point value anywhere: describe()
gives the bound max(|lower|, |upper|) instead, rounded up.

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

# Interval counters of an entry, preferred first: the harness's names since issue 16, then the
# older ci95_* ones (percent, then ns), then the replicates entries' own.
INTERVAL_KEYS = (("lower95_pct", "upper95_pct"), ("ci95_lo_pct", "ci95_hi_pct"),
                 ("lower95_ns", "upper95_ns"), ("ci95_lo_ns", "ci95_hi_ns"),
                 ("lower95", "upper95"))
# The value counter of an entry, preferred first; a slope may name its own unit
# ("ns_per_sibling"), matched after these.
VALUE_KEYS = ("overhead_pct", "estimate", "ns_per_level")


@dataclass(frozen=True)
class Interval:
    """A figure with its 95 % interval; resolved when the interval excludes zero."""
    value: float
    lower: float
    upper: float
    resolved: bool

    @property
    def bound(self) -> float:
        """What an unresolved figure may say: its magnitude is below this (95 %)."""
        return max(abs(self.lower), abs(self.upper))


def _round_up(x: float) -> float:
    """x rounded up to two significant digits (a bound must not shrink when printed)."""
    if x <= 0 or not math.isfinite(x):
        return x
    scale = 10 ** (math.floor(math.log10(x)) - 1)
    return math.ceil(x / scale - 1e-9) * scale


def _num(x: float, signed: bool) -> str:
    text = f"{x:+.2f}" if signed else f"{x:.2f}"
    return text if abs(x) < 1000 else (f"{x:+.0f}" if signed else f"{x:.0f}")


def scale_ns(magnitude: float, unit: str) -> tuple[float, str]:
    """(divisor, unit) that prints a figure in ns-based units (" ns/level") readably: µs or ms
    for large magnitudes; other units unchanged."""
    if unit.strip().startswith("ns"):
        for name, div in (("ms", 1e6), ("µs", 1e3)):
            if magnitude >= div:
                return div, unit.replace("ns", name, 1)
    return 1.0, unit


def describe(iv: Interval, unit: str = " %") -> str:
    """'+2.89 % [+2.24, +3.55]' when resolved, else 'not resolved, < 0.8 %' (no point value).
    Figures in ns-based units of 1 µs and more are printed in µs or ms."""
    div, unit = scale_ns(iv.bound, unit)
    if div != 1.0:
        iv = Interval(iv.value / div, iv.lower / div, iv.upper / div, iv.resolved)
    if not iv.resolved:
        return f"not resolved, < {_round_up(iv.bound):g}{unit}"
    return f"{_num(iv.value, True)}{unit} [{_num(iv.lower, True)}, {_num(iv.upper, True)}]"


def value_key(entry: dict[str, Any]) -> str | None:
    """The counter holding an overhead/slope/replicates entry's value."""
    for key in VALUE_KEYS:
        if key in entry:
            return key
    for key in entry:
        if re.fullmatch(r"[a-z]+_per_[a-z_]+", key) and isinstance(entry[key], (int, float)):
            return key
    return None


def interval_of(entry: dict[str, Any]) -> Interval | None:
    """The value and 95 % interval of an overhead, slope or replicates entry (new counter names
    preferred, the older ci95_* accepted), or None when it has none."""
    key = value_key(entry)
    if key is None:
        return None
    for lo_key, hi_key in INTERVAL_KEYS:
        if lo_key in entry and hi_key in entry:
            try:
                value, lo, hi = float(entry[key]), float(entry[lo_key]), float(entry[hi_key])
            except (TypeError, ValueError):
                return None
            resolved = entry.get("resolved")
            ok = bool(resolved) if resolved is not None else (lo > 0 or hi < 0)
            return Interval(value, lo, hi, ok)
    return None


@dataclass(frozen=True)
class Figure:
    behaviour: str
    name: str  # run_name without the "/real_time" suffix
    mean_ns: float
    stddev_ns: float
    n: int
    accel: str
    # The binary's own overhead figure against its baseline in percent (paired within rounds,
    # so tighter than two means compared here), or None; across replicates, their combination.
    own_overhead: Interval | None = None
    replicates: int = 1

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
    base_ns: float = 0.0
    # The binary's own verdict, when it wrote one (it knows the pairing); else from delta/ci.
    own_resolved: bool | None = None

    @property
    def resolved(self) -> bool:
        if self.own_resolved is not None:
            return self.own_resolved
        return abs(self.delta_ns) > self.ci95_ns > 0 or (self.ci95_ns == 0 and self.delta_ns != 0)

    def percent_interval(self) -> Interval:
        """The overhead in percent of the baseline with its 95 % interval."""
        half = 100 * self.ci95_ns / self.base_ns if self.base_ns else 0.0
        return Interval(self.percent, self.percent - half, self.percent + half, self.resolved)

    def ns_interval(self) -> Interval:
        return Interval(self.delta_ns, self.delta_ns - self.ci95_ns, self.delta_ns + self.ci95_ns,
                        self.resolved)


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


def _one_run(group: list[dict[str, Any]]) -> tuple[float, float, int, Interval | None] | None:
    """(mean ns, stddev ns, samples, own overhead) of one run's entries of one case."""
    aggs = {str(e.get("aggregate_name")): e for e in group if e.get("run_type") == "aggregate"}
    if "mean" in aggs:
        n = int(aggs["mean"].get("repetitions", 1) or 1)
        mean, sd = _ns(aggs["mean"]), _ns(aggs["stddev"]) if "stddev" in aggs else 0.0
    else:
        samples = [_ns(e) for e in group if e.get("run_type", "iteration") == "iteration"]
        if not samples:
            return None
        n, mean = len(samples), statistics.fmean(samples)
        sd = statistics.stdev(samples) if n > 1 else 0.0
    own = interval_of(aggs["overhead"]) if "overhead" in aggs else None
    return mean, sd, n, own


def figures(entries: list[dict[str, Any]]) -> list[Figure]:
    """One Figure per case. Entries of several replicates ("replicate": k) are pooled: the mean
    of the replicates' means, their pooled stddev, and as own overhead the replicates entry
    (random-effects combination) when there is one."""
    groups: dict[str, dict[int, list[dict[str, Any]]]] = {}
    combined: dict[str, Interval] = {}
    for e in entries:
        if not e.get("behaviour") or e.get("error_occurred") is True:
            continue
        if e.get("aggregate_name") == "replicates":
            iv = interval_of(e)
            if iv is not None and e.get("of", "overhead") == "overhead":
                combined[_run_name(e)] = iv
            continue
        groups.setdefault(_run_name(e), {}).setdefault(int(e.get("replicate", 0) or 0),
                                                       []).append(e)
    out = []
    for name, by_rep in groups.items():
        runs = [r for r in (_one_run(g) for g in by_rep.values()) if r is not None]
        if not runs:
            continue
        first = next(iter(by_rep.values()))[0]
        mean = statistics.fmean(r[0] for r in runs)
        sd = math.sqrt(statistics.fmean(r[1] ** 2 for r in runs))
        own = combined.get(name, runs[0][3] if len(runs) == 1 else None)
        out.append(Figure(str(first["behaviour"]), name, mean, sd, sum(r[2] for r in runs),
                          str(first.get("accel", "")), own, len(runs)))
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
            iv = f.own_overhead
            base_ns = f.mean_ns / (1 + iv.value / 100) if iv.value > -100 else 0.0
            out.append(Overhead(f.behaviour, f.name, base_name, f.mean_ns - base_ns,
                                (iv.upper - iv.lower) / 2 / 100 * base_ns, iv.value, base_ns,
                                iv.resolved))
            continue
        base = by_name.get(base_name)
        if base is None:
            continue
        delta = f.mean_ns - base.mean_ns
        ci = math.hypot(f.ci95_ns(), base.ci95_ns())
        pct = 100.0 * delta / base.mean_ns if base.mean_ns else 0.0
        out.append(Overhead(f.behaviour, f.name, base.name, delta, ci, pct, base.mean_ns))
    return out


def difference_pct(after: Figure, before: Figure) -> Interval:
    """after over before in percent, 95 % interval from both figures' spreads (unpaired)."""
    delta = after.mean_ns - before.mean_ns
    ci = math.hypot(after.ci95_ns(), before.ci95_ns())
    scale = 100.0 / before.mean_ns if before.mean_ns else 0.0
    return Interval(delta * scale, (delta - ci) * scale, (delta + ci) * scale, abs(delta) > ci)


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


# ------------------------------------------------------------ replicates: random effects

@dataclass(frozen=True)
class Combined:
    """Independent replicate runs of one figure, combined (DerSimonian-Laird random effects).

    Within-run variance: each replicate's own 95 % interval gives its standard error
    (half-width over Student's t with that run's df). Between-run variance: tau^2 from
    Cochran's Q. The combined interval uses Student's t with k-1 df (k replicates), wider than
    the normal quantile for few replicates."""
    values: tuple[float, ...]
    ses: tuple[float, ...]
    estimate: Interval  # random-effects mean, 95 % interval
    se: float
    tau2: float
    q: float
    q_p: float  # Cochran's Q test: chi-square with k-1 df
    i2_pct: float

    @property
    def k(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def sd(self) -> float:
        return statistics.stdev(self.values) if self.k > 1 else 0.0

    @property
    def spread(self) -> float:
        return max(self.values) - min(self.values)

    @property
    def cv_pct(self) -> float | None:
        """sd over |mean| of the replicate values; None when the mean is 0."""
        return 100 * self.sd / abs(self.mean) if self.mean else None

    @property
    def disagree(self) -> bool:
        """The replicates differ beyond their own intervals (Q test, p < 0.05)."""
        return self.q_p < 0.05


def standard_error(lower: float, upper: float, samples: int | None) -> float:
    """The standard error behind a 95 % t interval over `samples` (normal when unknown)."""
    quantile = t975(samples - 1) if samples and samples > 1 else 1.96
    return (upper - lower) / 2 / quantile


def chi2_sf(x: float, df: int) -> float:
    """P(X >= x) for a chi-square with integer df >= 1 (closed forms, stdlib only)."""
    if x <= 0:
        return 1.0
    half = x / 2
    if df % 2 == 0:
        term, total = 1.0, 1.0
        for j in range(1, df // 2):
            term *= half / j
            total += term
        return min(1.0, math.exp(-half) * total)
    total, term = math.erfc(math.sqrt(half)), math.sqrt(2 * x / math.pi) * math.exp(-half)
    for j in range(1, (df + 1) // 2):
        total += term
        term *= x / (2 * j + 1)
    return min(1.0, total)


def combine(values: list[float], ses: list[float]) -> Combined:
    """DerSimonian-Laird combination of k >= 2 replicate values with their standard errors."""
    k = len(values)
    if k < 2 or len(ses) != k:
        raise ValueError("combine needs at least two values, each with a standard error")
    floor = 1e-12 * max(1.0, max(abs(v) for v in values))
    w = [1 / max(s, floor) ** 2 for s in ses]
    fixed = sum(wi * y for wi, y in zip(w, values)) / sum(w)
    q = sum(wi * (y - fixed) ** 2 for wi, y in zip(w, values))
    c = sum(w) - sum(wi * wi for wi in w) / sum(w)
    tau2 = max(0.0, (q - (k - 1)) / c) if c > 0 else 0.0
    w_star = [1 / (max(s, floor) ** 2 + tau2) for s in ses]
    mu = sum(wi * y for wi, y in zip(w_star, values)) / sum(w_star)
    se = math.sqrt(1 / sum(w_star))
    half = t975(k - 1) * se
    i2 = max(0.0, (q - (k - 1)) / q) * 100 if q > 0 else 0.0
    return Combined(tuple(values), tuple(ses), Interval(mu, mu - half, mu + half,
                                                        mu - half > 0 or mu + half < 0),
                    se, tau2, q, chi2_sf(q, k - 1), i2)


# ------------------------------------------------------------ slopes and scale curves

# A curve meant to be flat passes when its slope's interval contains zero, or when the fitted
# line changes by less than FLAT_PCT of its value at the curve's first point across the
# measured range. One meant to be linear passes when its slope is resolved and positive and a
# straight line explains at least LINEAR_R2 of the point means' variance (3 points or more).
FLAT_PCT = 5.0
LINEAR_R2 = 0.9


@dataclass(frozen=True)
class Slope:
    behaviour: str
    group: str  # run_name without the "/slope" suffix
    accel: str
    slope: Interval
    unit: str  # "ns/level", from the counter ns_per_level
    expect: str  # "flat", "linear" or "" (no expectation)
    rel_pct: float | None  # slope_rel_pct as the binary wrote it (100 k x_min / y_min)
    replicates: int = 1
    levels: tuple[float, float] | None = None  # level_min, level_max of the fit
    base_ns: float | None = None  # the fit's first level's mean (base_ns)


@dataclass(frozen=True)
class Point:
    x: float
    mean_ns: float
    ci95_ns: float


@dataclass(frozen=True)
class Curve:
    slope: Slope
    points: tuple[Point, ...]
    key: str = ""  # the level's name in the case names ("depth", "siblings", "kib")

    def line(self) -> tuple[float, float]:
        """(intercept, slope) of least squares through the point means."""
        xs, ys = [p.x for p in self.points], [p.mean_ns for p in self.points]
        if len(xs) < 2 or len(set(xs)) < 2:
            return (statistics.fmean(ys) if ys else 0.0), 0.0
        k, b = statistics.linear_regression(xs, ys)
        return b, k

    def r2(self) -> float | None:
        ys = [p.mean_ns for p in self.points]
        if len(ys) < 3:
            return None
        b, k = self.line()
        ss_tot = sum((y - statistics.fmean(ys)) ** 2 for y in ys)
        ss_res = sum((p.mean_ns - (b + k * p.x)) ** 2 for p in self.points)
        return 1 - ss_res / ss_tot if ss_tot > 0 else 1.0

    def change_pct(self) -> float | None:
        """The slope's change over the measured range, in percent of the first level's cost
        (the binary's base_ns and level range when it wrote them, else the points)."""
        s = self.slope
        if s.levels is not None and s.base_ns:
            return 100 * s.slope.value * (s.levels[1] - s.levels[0]) / s.base_ns
        if len(self.points) >= 2:
            xs = [p.x for p in self.points]
            b, _ = self.line()
            start = b + self.slope.slope.value * min(xs)
            if start:
                return 100 * self.slope.slope.value * (max(xs) - min(xs)) / start
        return self.slope.rel_pct

    def verdict(self) -> str:
        """"flat as intended", "linear as intended", "NOT as intended (...)", or "" when the
        curve states no expectation."""
        s, expect = self.slope.slope, self.slope.expect
        if expect == "flat":
            change = self.change_pct()
            if not s.resolved:
                return "flat as intended"
            if change is not None and abs(change) < FLAT_PCT:
                return "flat as intended"
            if change is None:
                return "NOT as intended (slope resolved)"
            return f"NOT as intended (changes {change:+.1f} % over the range)"
        if expect == "linear":
            r2 = self.r2()
            if not s.resolved or s.value <= 0:
                return "NOT as intended (no resolved positive slope)"
            if r2 is None:
                return "NOT as intended (fewer than 3 points: linearity not checked)"
            if r2 < LINEAR_R2:
                return f"NOT as intended (R² {r2:.2f} < {LINEAR_R2})"
            return "linear as intended"
        return ""


def _unit(counter: str) -> str:
    head, _, tail = counter.partition("_per_")
    return f"{head}/{tail.replace('_', ' ')}" if tail else counter


def _expectation(e: dict[str, Any]) -> str:
    if e.get("expect_flat"):
        return "flat"
    if e.get("expect_linear"):
        return "linear"
    return str(e.get("expect", "")) if e.get("expect") in ("flat", "linear") else ""


def slopes(entries: list[dict[str, Any]]) -> list[Slope]:
    """One Slope per <group>/slope: a replicates entry's combination when there is one, else
    the single run's own figure (several replicates without a combination are left out)."""
    found: dict[str, list[dict[str, Any]]] = {}
    combined: dict[str, dict[str, Any]] = {}
    for e in entries:
        name = _run_name(e)
        if not name.endswith("/slope") or not e.get("behaviour"):
            continue
        if e.get("aggregate_name") == "replicates" and e.get("of") == "slope":
            combined[name] = e
        elif e.get("aggregate_name") == "slope":
            found.setdefault(name, []).append(e)
    out = []
    for name, group in found.items():
        first, use = group[0], combined.get(name) or (group[0] if len(group) == 1 else None)
        iv = interval_of(use) if use is not None else None
        counter = value_key(first) or "ns_per_level"
        if iv is None:
            continue
        rel, base = first.get("slope_rel_pct"), first.get("base_ns")
        levels = ((float(first["level_min"]), float(first["level_max"]))
                  if "level_min" in first and "level_max" in first else None)
        out.append(Slope(str(first["behaviour"]), name[:-len("/slope")],
                         str(first.get("accel", "")), iv, _unit(counter), _expectation(first),
                         float(rel) if isinstance(rel, (int, float)) else None, len(group),
                         levels, float(base) if isinstance(base, (int, float)) else None))
    return out


def _x_of(name: str, group: str, exact: bool = True) -> tuple[str, float] | None:
    """The level of a case in a slope group: the one numeric key:value segment whose removal
    leaves the group's name (exact), or leaves a name holding the group's segments in order
    (not exact: `.../curve:cg-siblings/op:mkdir-rmdir/controller:memory/siblings:N` in the group
    `.../curve:cg-siblings/controller:memory`)."""
    want = group.split("/")
    for m in re.finditer(r"/([A-Za-z][\w-]*):(\d+(?:\.\d+)?)(?=/|$)", name):
        rest = name[:m.start()] + name[m.end():]
        parts = iter(rest.split("/"))
        if rest == group or (not exact and rest.split("/")[0] == want[0]
                             and all(w in parts for w in want)):
            return m.group(1), float(m.group(2))
    return None


def curves(entries: list[dict[str, Any]]) -> list[Curve]:
    """Each slope group with its points (mean and 95 % interval per level): those within the
    fit's level range (level_min..level_max), else those at level 1 and above (level 0, the
    root cgroup, is not part of a depth fit)."""
    figs = figures(entries)
    out = []
    for s in slopes(entries):
        lo, hi = s.levels or (1.0, math.inf)
        points: list[Point] = []
        key = ""
        for exact in (True, False):  # cases named exactly by the group first
            for f in figs if not points else []:
                found = _x_of(f.name, s.group, exact)
                if found is not None and lo <= found[1] <= hi:
                    key = found[0]
                    points.append(Point(found[1], f.mean_ns, f.ci95_ns()))
        out.append(Curve(s, tuple(sorted(points, key=lambda p: p.x)), key))
    return out
