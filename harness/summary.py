"""The short terminal summary of a run: per area pass / fail / broken / skip (crash, timeout) and the
most frequent skip reasons."""
from __future__ import annotations

from collections import Counter
from typing import Any

from reports.schema import NOT_RUN_CLEANLY

COLUMNS = ("pass", "fail", "broken", "skip", "crash", "timeout")


def area_of(entry: dict[str, Any]) -> str:
    """The catalogue group of a result (`pid` for `pid.first-is-1`), else its suite."""
    ident = entry.get("id") or ""
    return ident.split(".", 1)[0] if "." in ident else entry.get("suite", "?")


def summarize(results: list[dict[str, Any]], top_reasons: int = 3) -> str:
    per_area: dict[str, Counter[str]] = {}
    reasons: dict[str, Counter[str]] = {}
    for entry in results:
        area = area_of(entry)
        per_area.setdefault(area, Counter())[entry["outcome"]] += 1
        if entry["outcome"] == "skip":
            reasons.setdefault(area, Counter())[entry.get("reason") or "unspecified"] += 1
    lines = [f"  {'area':<10}" + "".join(f"{c:>8}" for c in COLUMNS) + "  top skip reasons"]
    for area in sorted(per_area):
        counts = per_area[area]
        top = ", ".join(f"{r} ×{n}" for r, n in reasons.get(area, Counter()).most_common(top_reasons))
        lines.append(f"  {area:<10}" + "".join(f"{counts[c]:>8}" for c in COLUMNS) + f"  {top}")
    total = Counter(e["outcome"] for e in results)
    lines.append(f"  {'total':<10}" + "".join(f"{total[c]:>8}" for c in COLUMNS))
    return "\n".join(lines)


def line(results: list[dict[str, Any]]) -> str:
    """"3 pass, 1 broken, 2 skip": the outcomes that occur, in column order."""
    total = Counter(e["outcome"] for e in results)
    return ", ".join(f"{total[c]} {c}" for c in COLUMNS if total[c])


def has_failures(results: list[dict[str, Any]]) -> bool:
    """A run is not clean when a row failed, died, or could not get to its behaviour (broken)."""
    return any(e["outcome"] in NOT_RUN_CLEANLY for e in results)
