"""What changed between two runs, or two columns (kernel/mode) of the matrix.

    pairs = pair_columns(matrix_a, matrix_b)                 # same kernel+mode, or the only ones
    d = diff_columns(ma, col_a, mb, col_b, label_a, label_b) # ColumnDiff
    print(render_text([d]))

Kinds of change per row: regression (pass -> fail/crash/timeout), new-failure (skipped or
absent -> fail/crash/timeout), fixed (fail/crash/timeout -> pass), now-run (skip -> pass, with
the reason it skipped before: what an older kernel lacked), newly-skipped (-> skip, with
the reason and, for config:CONFIG_X, what the option is), skip-reason-changed, changed (one bad
outcome to another), broken (the newer run could not get to the behaviour: a setup step failed;
listed, never a regression of the kernel), missing (row not in the newer run). Benchmarks are compared only when
both sides ran alike (TCG is emulated and never compared with KVM or host figures).

With expectations (reports.expectations, `--expectations ci/expectations.json`), a change whose
new outcome an entry expects in that column is "known": listed apart with its reason, never
counted as a regression. A row an entry expects to fail that passes in the newer column is an
XPASS: printed, so the entry can be removed or narrowed, and not counted either. Each change
line carries the row's tags (fixing commit, CVE) from the expectations file.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from reports import bench
from reports.config_map import explain_reason
from reports.expectations import Expectation, Expectations
from reports.matrix import Cell, Column, Matrix
from reports.schema import BAD_OUTCOMES

REGRESSION_KINDS = ("regression", "new-failure")
KIND_TITLES = {
    "regression": "Regressions (pass -> fail/crash/timeout)",
    "new-failure": "New failures (skipped or not run before)",
    "fixed": "Fixed (now pass)",
    "now-run": "Now run and pass (skipped before, for the reason shown)",
    "newly-skipped": "Newly skipped",
    "skip-reason-changed": "Skip reason changed",
    "changed": "Changed between bad outcomes",
    "broken": "Broken (a setup step failed: not a verdict on the kernel, not a regression)",
    "missing": "Not run any more",
}


@dataclass(frozen=True)
class RowChange:
    row_id: str
    kind: str
    before: Cell | None
    after: Cell | None
    known: Expectation | None = None  # the expectation this change matches, if any
    tags: tuple[str, ...] = ()

    def line(self) -> str:
        old = self.before.outcome if self.before else "absent"
        new = self.after.outcome if self.after else "absent"
        text = f"  {self.row_id:<36} {old} -> {new}"
        cell = self.after if self.after and self.after.outcome != "pass" else None
        if self.kind == "now-run":
            cell = self.before
        if cell and cell.reason:
            text += f"  {cell.reason}"
        elif cell and cell.details:
            text += f"  ({cell.details.splitlines()[0][:120]})"
        if self.tags:
            text += f"  [{', '.join(self.tags)}]"
        if self.known:
            text += f"\n  {'':<36} {self.known.note()}"
        return text


@dataclass(frozen=True)
class XPass:
    """A row an expectation says fails in this column, which passed."""

    row_id: str
    expectation: Expectation
    tags: tuple[str, ...] = ()

    def line(self) -> str:
        expected = "/".join(self.expectation.outcomes)
        tags = f"  [{', '.join(self.tags)}]" if self.tags else ""
        return (f"  XPASS {self.row_id:<30} expected {expected}, saw pass{tags}\n"
                f"  {'':<36} {self.expectation.note('expected because')}")


@dataclass
class ColumnDiff:
    label_a: str
    label_b: str
    changes: list[RowChange] = field(default_factory=list)
    bench_changes: list[bench.Change] = field(default_factory=list)
    bench_note: str = ""
    unchanged: int = 0
    xpasses: list[XPass] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[RowChange]:
        """Changes of `kind` that no expectation explains."""
        return [c for c in self.changes if c.kind == kind and c.known is None]

    @property
    def regressions(self) -> list[RowChange]:
        return [c for c in self.changes if c.kind in REGRESSION_KINDS and c.known is None]

    @property
    def known(self) -> list[RowChange]:
        return [c for c in self.changes if c.known is not None]


def classify(before: Cell | None, after: Cell | None) -> str:
    """The kind of change from before to after; "" when nothing that matters changed."""
    old = before.outcome if before else ""
    new = after.outcome if after else ""
    if after is None:
        return "missing" if before is not None else ""
    if new == "broken":  # setup failed: nothing is known of the kernel, so no regression
        return "broken" if old != "broken" else ""
    if new in BAD_OUTCOMES:
        if old == "pass":
            return "regression"
        if old in ("", "skip"):
            return "new-failure"
        return "changed" if old != new else ""
    if new == "pass":
        if old == "skip":
            return "now-run"
        return "fixed" if old in BAD_OUTCOMES else ""
    if old != "skip":  # new == "skip"
        return "newly-skipped"
    return "skip-reason-changed" if before and before.reason != after.reason else ""


def _bench_figures(matrix: Matrix, col: Column) -> list[bench.Figure]:
    return bench.figures(matrix.benchmarks.get(col.key, []))


def _change(row: str, kind: str, before: Cell | None, after: Cell | None, col_b: Column,
            exp: Expectations | None) -> RowChange:
    if exp is None:
        return RowChange(row, kind, before, after)
    known = exp.known(row, col_b, after.outcome, after.reason) if after else None
    return RowChange(row, kind, before, after, known, exp.tags_for(row, col_b))


def diff_columns(ma: Matrix, col_a: Column, mb: Matrix, col_b: Column, label_a: str,
                 label_b: str, bench_percent: float = 5.0,
                 expectations: Expectations | None = None) -> ColumnDiff:
    d = ColumnDiff(label_a, label_b)
    rows = sorted(set(ma.cells) | set(mb.cells))
    for row in rows:
        before = ma.cells.get(row, {}).get(col_a.key)
        after = mb.cells.get(row, {}).get(col_b.key)
        kind = classify(before, after)
        if kind:
            d.changes.append(_change(row, kind, before, after, col_b, expectations))
        elif before or after:
            d.unchanged += 1
        if expectations and after:
            hit = expectations.xpass(row, col_b, after.outcome)
            if hit:
                d.xpasses.append(XPass(row, hit, expectations.tags_for(row, col_b)))
    figs_a, figs_b = _bench_figures(ma, col_a), _bench_figures(mb, col_b)
    if figs_a and figs_b:
        if col_a.emulated != col_b.emulated:
            d.bench_note = ("benchmarks not compared: one side is emulated (TCG), the other "
                            "ran on " + "/".join(col_b.accels if col_a.emulated else col_a.accels))
        else:
            d.bench_changes = bench.compare(figs_a, figs_b, bench_percent)
    return d


def _identity(col: Column) -> tuple[str, str]:
    """What a column stands for beyond its exact release: the VM matrix name, or the host."""
    return (",".join(col.vm_kernels) or "host", col.cgroup_mode + "+" + col.variant)


def pair_columns(ma: Matrix, mb: Matrix) -> tuple[list[tuple[Column, Column]], list[str]]:
    """Columns to compare: the only column of each side; else equal kernel+mode; else the same
    matrix kernel (e.g. "bookworm") and mode, so a Debian kernel update still pairs up."""
    if len(ma.columns) == 1 and len(mb.columns) == 1:
        return [(ma.columns[0], mb.columns[0])], []
    left = list(ma.columns)
    right = {c.key: c for c in mb.columns}
    pairs = [(c, right.pop(c.key)) for c in left if c.key in right]
    paired = {a.key for a, _ in pairs}
    for c in left:
        match = next((b for b in right.values() if c.key not in paired
                      and _identity(b) == _identity(c)), None)
        if match is not None:
            pairs.append((c, right.pop(match.key)))
            paired.add(c.key)
    notes = [f"only in A: {c.key}" for c in left if c.key not in paired]
    notes += [f"only in B: {k}" for k in right]
    return pairs, notes


def _section(title: str, changes: list[RowChange]) -> list[str]:
    if not changes:
        return []
    return [f"{title} ({len(changes)}):"] + [c.line() for c in changes]


def config_evidence(changes: list[RowChange]) -> list[str]:
    """One line per CONFIG option that explains a skip among the changes."""
    reasons = sorted({c.after.reason for c in changes
                      if c.after and c.after.outcome == "skip" and c.after.reason})
    return [f"  {r}: {explain_reason(r)}" for r in reasons if explain_reason(r)]


def render_column(d: ColumnDiff) -> list[str]:
    lines = [f"== {d.label_a} -> {d.label_b} =="]
    for kind, title in KIND_TITLES.items():
        lines += _section(title, d.of_kind(kind))
    lines += _section("Known (expected by the expectations file; not counted)", d.known)
    if d.xpasses:
        lines.append(f"XPASS: expected to fail here, passed (not counted; remove or narrow "
                     f"the expectation) ({len(d.xpasses)}):")
        lines += [x.line() for x in d.xpasses]
    evidence = config_evidence(d.changes)
    if evidence:
        lines += ["Config evidence:"] + evidence
    if d.bench_changes:
        lines.append(f"Benchmarks beyond their noise ({len(d.bench_changes)}):")
        for ch in d.bench_changes:
            word = "slower" if ch.after_ns > ch.before_ns else "faster"
            lines.append(f"  {ch.name:<44} {bench.human_ns(ch.before_ns)} -> "
                         f"{bench.human_ns(ch.after_ns)} ({ch.percent:+.1f} %, {word}; "
                         f"noise ±{bench.human_ns(ch.noise_ns)})")
    if d.bench_note:
        lines.append(d.bench_note)
    lines.append(f"{d.unchanged} rows unchanged.")
    return lines


def render_text(diffs: list[ColumnDiff], notes: list[str], baseline: str) -> str:
    lines: list[str] = []
    for d in diffs:
        lines += render_column(d) + [""]
    lines += [f"note: {n}" for n in notes]
    known = sum(len(d.known) for d in diffs)
    xpass = sum(len(d.xpasses) for d in diffs)
    if known or xpass:
        lines.append(f"{known} known difference{'s' * (known != 1)} and {xpass} XPASS, "
                     "explained by the expectations file: not counted.")
    count = sum(len(d.regressions) for d in diffs)
    if not diffs:
        lines.append(f"Nothing to compare with {baseline}: no column in common.")
    elif count == 0:
        lines.append(f"No regressions compared to {baseline}.")
    else:
        lines.append(f"{count} regression{'s' if count != 1 else ''} compared to {baseline}.")
    return "\n".join(lines) + "\n"
