"""What the exports (JUnit XML, TAP 13, KCIDB) share: the matrix as suites of cases.

    suites = export_suites(matrix, expectations)   # list[Suite]: one per (kernel, mode) column
    totals = counts(suites)                        # {"tests": n, "pass": .., "fail": .., ...}
    verdict("crash")                               # "error"

A suite holds one case per catalogue row the column has (the matrix cell: the later run wins,
as in the report) and one per self-test of the column's runs (host guard: ID ""). Verdicts:
pass; fail (the kernel did not behave as documented); error (crash, timeout, broken: no kernel
verdict); skip (a requirement is missing, with its reason). A row's sentence comes from the
results (schema 2), else from the project's catalogue; its tags from the expectations file.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from reports import bench
from reports.catalogue import project_catalogue
from reports.expectations import Expectation, Expectations
from reports.matrix import Column, Matrix, column_key
from reports.schema import Result, Run

VERDICTS = {"pass": "pass", "fail": "fail", "skip": "skip", "crash": "error",
            "timeout": "error", "broken": "error"}
SELF_TEST_AREA = "self-test"
# Characters XML 1.0 cannot carry at all (a console tail holds ESC and the like), and NUL,
# which KCIDB's strings exclude.
_NOT_TEXT = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def verdict(outcome: str) -> str:
    return VERDICTS.get(outcome, "error")


def clean_text(text: str) -> str:
    """`text` without the characters XML cannot hold (each becomes U+FFFD)."""
    return _NOT_TEXT.sub("\ufffd", text)


@dataclass(frozen=True)
class Case:
    row_id: str              # catalogue row; "" for a self-test
    name: str                # the row ID, or "<suite>/<Test>" for a self-test
    outcome: str
    reason: str = ""
    details: str = ""
    duration_ms: float = 0.0
    test: str = ""           # GoogleTest name, "PidNamespace.InitDeathKillsAll"
    suite: str = ""
    source: str = ""
    sentence: str = ""
    since: str = ""
    run_id: str = ""
    started: str = ""        # start of the run that produced it
    tags: tuple[str, ...] = ()
    known: Expectation | None = None

    @property
    def verdict(self) -> str:
        return verdict(self.outcome)

    @property
    def area(self) -> str:
        """The ID prefix ("pid" of pid.init-death-kills-all); self-tests are their own area."""
        return self.row_id.split(".", 1)[0] if self.row_id else SELF_TEST_AREA

    def summary(self) -> str:
        """One line for a message: the first line of what was seen, else the reason."""
        first = next((ln.strip() for ln in self.details.splitlines() if ln.strip()), "")
        return first or self.reason or self.outcome


@dataclass
class Suite:
    column: Column
    cases: list[Case] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)   # the runs of this column
    figures: list[bench.Figure] = field(default_factory=list)

    @property
    def started(self) -> str:
        return min((r.started for r in self.runs if r.started), default="")

    def count(self, what: str) -> int:
        return sum(1 for c in self.cases if c.verdict == what)


def _row_results(matrix: Matrix) -> dict[str, Result]:
    """A result per row ID that carries its sentence where any run has one."""
    out: dict[str, Result] = {}
    for run in matrix.runs:
        for r in run.results:
            if r.id and (r.id not in out or (r.sentence and not out[r.id].sentence)):
                out[r.id] = r
    return out


def _sentences(rows: dict[str, Result]) -> dict[str, str]:
    sentences = {row: r.sentence for row, r in rows.items() if r.sentence}
    if len(sentences) < len(rows):  # schema-1 files: the catalogue of this checkout
        cat = project_catalogue()
        for row in rows:
            if row not in sentences and row in cat.rows:
                sentences[row] = cat.rows[row].sentence
    return sentences


def _known(exp: Expectations | None, row: str, col: Column, outcome: str,
           reason: str) -> tuple[tuple[str, ...], Expectation | None]:
    if exp is None:
        return (), None
    known = exp.known(row, col, outcome, reason) if outcome != "pass" else None
    return exp.tags_for(row, col), known


def _suite(matrix: Matrix, col: Column, rows: dict[str, Result], sentences: dict[str, str],
           exp: Expectations | None) -> Suite:
    runs = [r for r in matrix.runs if column_key(r) == col.key]
    started = {r.run_id: r.started for r in runs}
    suite = Suite(col, runs=runs, figures=bench.figures(matrix.benchmarks.get(col.key, [])))
    for row in matrix.row_ids:
        cell = matrix.cells[row].get(col.key)
        if cell is None:
            continue
        tags, known = _known(exp, row, col, cell.outcome, cell.reason)
        res = rows.get(row)
        suite.cases.append(Case(
            row_id=row, name=row, outcome=cell.outcome, reason=cell.reason,
            details=cell.details, duration_ms=cell.duration_ms, test=cell.test,
            suite=cell.suite, source=cell.source, sentence=sentences.get(row, ""),
            since=res.since if res else "", run_id=cell.run_id,
            started=started.get(cell.run_id, ""), tags=tags, known=known))
    for run in runs:
        for r in run.results:
            if not r.id:
                suite.cases.append(Case(
                    row_id="", name=f"{r.suite}/{r.test}", outcome=r.outcome, reason=r.reason,
                    details=r.details, duration_ms=r.duration_ms, test=r.test, suite=r.suite,
                    run_id=run.run_id, started=run.started))
    return suite


def export_suites(matrix: Matrix, expectations: Expectations | None = None) -> list[Suite]:
    """One suite per column, in the matrix's column order."""
    rows = _row_results(matrix)
    sentences = _sentences(rows)
    return [_suite(matrix, col, rows, sentences, expectations) for col in matrix.columns]


def counts(suites: list[Suite]) -> dict[str, int]:
    out = {"tests": sum(len(s.cases) for s in suites)}
    for what in ("pass", "fail", "error", "skip"):
        out[what] = sum(s.count(what) for s in suites)
    return out


def column_facts(col: Column) -> list[tuple[str, str]]:
    """The kernel facts of a column as (name, value), several values joined by "; "."""
    facts = [("kernel.release", col.release), ("kernel.cgroup_mode", col.cgroup_mode),
             ("kernel.append", col.variant), ("kernel.arch", col.arch),
             ("kernel.config_source", "; ".join(col.config_sources)),
             ("kernel.cmdline", "; ".join(col.cmdlines)), ("kernel.lsms", ",".join(col.lsms)),
             ("kernel.swap_total_kib", str(col.swap_total_kib)),
             ("machine.accel", ",".join(col.accels)), ("vm.kernel", ",".join(col.vm_kernels)),
             ("vm.state", ",".join(col.vm_states)), ("run.ids", ",".join(col.run_ids)),
             ("run.incomplete", "true" if col.incomplete else "false")]
    return [(k, clean_text(v)) for k, v in facts if v]
