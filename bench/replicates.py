"""Independent replicate runs of the benchmark binaries, combined per figure.

    extra = combined_entries([entries_of_run1, entries_of_run2, ...])   # "replicates" entries
    lines = summary(entries)     # one stderr line per overhead/slope/replicates figure

Each overhead and slope figure present in at least two replicates gets one entry
(aggregate_name "replicates", fields in reports/SCHEMA.md): every replicate's value and 95 %
interval, the between-run spread and CV, and the DerSimonian-Laird random-effects combination
(within-run variance from each replicate's own interval, between-run tau² from Cochran's Q; the
interval uses Student's t with k-1 df), flagged "replicates-disagree" when Cochran's Q test has
p < 0.05. The arithmetic lives in reports.bench (one source for the report and this).
"""
from __future__ import annotations

from typing import Any

from reports import bench

KINDS = ("overhead", "slope")


def _samples(entry: dict[str, Any]) -> int | None:
    """The number of rounds (or pairs) behind an entry's t interval."""
    for key in ("pairs", "rounds", "repetitions"):
        if isinstance(entry.get(key), (int, float)) and entry[key] >= 2:
            return int(entry[key])
    return None


def unit_of(entry: dict[str, Any]) -> str:
    if entry.get("aggregate_name") == "overhead":
        return "%"
    key = bench.value_key(entry) or "ns_per_level"
    head, _, tail = key.partition("_per_")
    return f"{head}/{tail.replace('_', ' ')}" if tail else key


def _by_figure(runs: list[list[dict[str, Any]]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for entries in runs:
        for e in entries:
            kind = e.get("aggregate_name")
            if kind in KINDS and bench.interval_of(e) is not None:
                found.setdefault((str(e.get("run_name") or e.get("name")), str(kind)),
                                 []).append(e)
    return found


def combined_entry(kind: str, group: list[dict[str, Any]]) -> dict[str, Any]:
    """The "replicates" entry of one figure measured in len(group) >= 2 replicates."""
    ivs = [bench.interval_of(e) for e in group]
    ses = [bench.standard_error(iv.lower, iv.upper, _samples(e)) for iv, e in zip(ivs, group)
           if iv is not None]
    values = [iv.value for iv in ivs if iv is not None]
    c = bench.combine(values, ses)
    first, est = group[0], c.estimate
    label = (str(first.get("behaviour") or str(first.get("label", "")).split()[0])
             + ("" if est.resolved else " not-resolved")
             + (" replicates-disagree" if c.disagree else ""))
    keep = {k: first[k] for k in ("behaviour", "accel", "binary", "context", "expect_flat",
                                  "expect_linear", "slope_rel_pct") if k in first}
    return {**keep,
            "name": f"{first.get('run_name')}_replicates", "run_name": first.get("run_name"),
            "run_type": "aggregate", "aggregate_name": "replicates", "label": label,
            "real_time": est.value, "time_unit": "ns", "of": kind, "unit": unit_of(first),
            "replicates": c.k, "values": values,
            "replicate_lower95": [iv.lower for iv in ivs if iv is not None],
            "replicate_upper95": [iv.upper for iv in ivs if iv is not None],
            "replicate_resolved": [int(iv.resolved) for iv in ivs if iv is not None],
            "replicate_se": ses, "mean": c.mean, "sd": c.sd, "spread": c.spread,
            "cv_pct": c.cv_pct, "estimate": est.value, "lower95": est.lower,
            "upper95": est.upper, "resolved": int(est.resolved), "se": c.se, "tau2": c.tau2,
            "q": c.q, "q_df": c.k - 1, "q_p": c.q_p, "i2_pct": c.i2_pct,
            "disagree": int(c.disagree), "method": "DerSimonian-Laird",
            "quantile": "t", "quantile_df": c.k - 1}


def combined_entries(runs: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One "replicates" entry per overhead/slope figure found in two or more runs."""
    return [combined_entry(kind, group) for (_, kind), group in _by_figure(runs).items()
            if len(group) >= 2]


def _unit_text(unit: str) -> str:
    return " %" if unit == "%" else f" {unit}"


def describe_combined(e: dict[str, Any]) -> str:
    unit = _unit_text(str(e.get("unit", "%")))
    each = "; ".join(bench.describe(bench.Interval(v, lo, hi, bool(r)), unit) for v, lo, hi, r in
                     zip(e["values"], e["replicate_lower95"], e["replicate_upper95"],
                         e["replicate_resolved"]))
    cv = "undefined" if e.get("cv_pct") is None else f"{e['cv_pct']:.0f} %"
    est = bench.Interval(e["estimate"], e["lower95"], e["upper95"], bool(e["resolved"]))
    flag = "; REPLICATES DISAGREE" if e.get("disagree") else ""
    div, spread_unit = bench.scale_ns(e["spread"], unit)
    spread_unit = " pp" if e.get("of") == "overhead" else spread_unit
    return (f"{e['replicates']} replicates: {each}; spread {e['spread'] / div:.2f}{spread_unit}, "
            f"CV {cv}; random effects (DerSimonian-Laird, t {e['quantile_df']} df) "
            f"{bench.describe(est, unit)}; I² {e['i2_pct']:.0f} %, Q p {e['q_p']:.2g}{flag}")


def summary(entries: list[dict[str, Any]]) -> list[str]:
    """One line per overhead or slope figure: its combination over the replicates (which names
    each replicate's value) where there is one, else each run's own; an unresolved one gives
    its bound, never a point value."""
    combined = {(str(e.get("run_name")), str(e.get("of"))) for e in entries
                if e.get("aggregate_name") == "replicates"}
    lines = []
    for e in entries:
        kind, name = e.get("aggregate_name"), str(e.get("run_name") or e.get("name"))
        if kind == "replicates":
            lines.append(f"{name}  {describe_combined(e)}")
        elif kind in KINDS and (name, kind) not in combined:
            iv = bench.interval_of(e)
            if iv is None:
                continue
            rep = f" (replicate {e['replicate']})" if e.get("replicate") else ""
            lines.append(f"{name}{rep}  {kind} {bench.describe(iv, _unit_text(unit_of(e)))}")
    return lines
