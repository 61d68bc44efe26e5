"""Merge of runs into the compatibility matrix: behaviour ID x (kernel release, cgroup mode).

Use through reports.schema.merge / matrix_to_json. Several runs of one kernel and mode (one per
suite binary, or a host and a VM run) fill one column; when two runs report the same row, the
later-started run wins, except that a `crash` placeholder never replaces a finished outcome.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from reports.schema import BAD_OUTCOMES, CGROUP_MODES, SCHEMA_VERSION, Result, Run


@dataclass
class Cell:
    outcome: str
    reason: str = ""
    details: str = ""
    duration_ms: float = 0.0
    test: str = ""
    suite: str = ""
    source: str = ""
    run_id: str = ""


@dataclass
class Column:
    key: str  # "<release>/<cgroup mode>[+<extra kernel arguments>]"
    release: str
    cgroup_mode: str
    variant: str = ""  # extra kernel arguments of the VM (vm.append), "" for none
    accels: list[str] = field(default_factory=list)  # host, kvm, tcg (several when mixed)
    arch: str = ""
    config_sources: list[str] = field(default_factory=list)
    cmdlines: list[str] = field(default_factory=list)
    lsms: list[str] = field(default_factory=list)
    swap_total_kib: int = 0
    vm_kernels: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    incomplete: bool = False  # a run without "finished" (died or still going)
    console_tail: str = ""
    vm_states: list[str] = field(default_factory=list)  # ok, crash, timeout (vm.state)
    self_tests: dict[str, int] = field(default_factory=dict)  # outcome -> count (id "")
    self_test_problems: list[str] = field(default_factory=list)  # "suite: Test outcome"

    @property
    def emulated(self) -> bool:
        return "tcg" in self.accels


@dataclass
class Matrix:
    columns: list[Column] = field(default_factory=list)
    cells: dict[str, dict[str, Cell]] = field(default_factory=dict)  # row ID -> column key -> cell
    benchmarks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # column key -> entries
    runs: list[Run] = field(default_factory=list)

    @property
    def row_ids(self) -> list[str]:
        return sorted(self.cells)

    def column(self, key: str) -> Column:
        return next(c for c in self.columns if c.key == key)


def variant_of(run: Run) -> str:
    """Extra kernel arguments of a VM run (e.g. cgroup_disable=memory): a column of its own."""
    append = run.vm.get("append", "") if run.vm else ""
    return " ".join(str(append).split())


def column_key(run: Run) -> str:
    """"<release>/<mode>", plus "+<extra kernel arguments>" for a VM booted with --append."""
    variant = variant_of(run)
    return f"{run.kernel.release}/{run.kernel.cgroup_mode}" + (f"+{variant}" if variant else "")


def release_sort_key(release: str) -> tuple[Any, ...]:
    """5.10.0-33-amd64 < 6.1.0-28-amd64 < 6.12.12 < 6.19.0-rc2: numeric where numeric."""
    head = re.match(r"[\d.]+", release)
    numbers = tuple(int(n) for n in (head.group(0) if head else "").split(".") if n)
    return (numbers, release)


def _column_sort_key(col: Column) -> tuple[Any, ...]:
    mode = CGROUP_MODES.index(col.cgroup_mode) if col.cgroup_mode in CGROUP_MODES else 9
    return (release_sort_key(col.release), mode)


def _add_unique(items: list[str], value: str) -> None:
    if value and value not in items:
        items.append(value)


def _update_column(col: Column, run: Run) -> None:
    _add_unique(col.accels, run.machine.accel)
    col.arch = col.arch or run.kernel.arch
    _add_unique(col.config_sources, run.kernel.config_source)
    _add_unique(col.cmdlines, run.kernel.cmdline)
    for lsm in run.kernel.lsms:
        _add_unique(col.lsms, lsm)
    col.swap_total_kib = max(col.swap_total_kib, run.kernel.swap_total_kib)
    _add_unique(col.run_ids, run.run_id)
    _add_unique(col.files, run.path)
    col.incomplete = col.incomplete or run.finished is None
    for r in run.results:
        if not r.id:  # self-tests (host guard, harness): facts of the column, not rows
            col.self_tests[r.outcome] = col.self_tests.get(r.outcome, 0) + 1
            if r.outcome in BAD_OUTCOMES:
                col.self_test_problems.append(f"{r.suite}: {r.test} {r.outcome} {r.details}"[:300])
    if run.vm:
        _add_unique(col.vm_kernels, str(run.vm.get("kernel", "")))
        _add_unique(col.vm_states, str(run.vm.get("state", "")))
        tail = run.vm.get("console_tail")
        if isinstance(tail, str) and tail:
            col.console_tail = tail


def _cell(result: Result, run: Run) -> Cell:
    return Cell(outcome=result.outcome, reason=result.reason, details=result.details,
                duration_ms=result.duration_ms, test=result.test, suite=result.suite,
                source=result.source, run_id=run.run_id)


def _place(row: dict[str, Cell], key: str, cell: Cell) -> None:
    old = row.get(key)
    if old is not None and cell.outcome == "crash" and old.outcome != "crash":
        return
    row[key] = cell


def _unique(runs: list[Run]) -> list[Run]:
    """Drops a run seen twice (a run file and the merged file that also holds it)."""
    seen: set[tuple[str, str, str, int]] = set()
    out = []
    for run in runs:
        content = hash(json.dumps(run.raw.get("results"), sort_keys=True))
        key = (run.run_id, column_key(run), run.started, content)
        if key not in seen:
            seen.add(key)
            out.append(run)
    return out


def merge_runs(runs: list[Run]) -> Matrix:
    runs = _unique(runs)
    matrix = Matrix(runs=list(runs))
    by_key: dict[str, Column] = {}
    for run in sorted(runs, key=lambda r: r.started):
        key = column_key(run)
        col = by_key.setdefault(key, Column(key, run.kernel.release, run.kernel.cgroup_mode,
                                            variant_of(run)))
        _update_column(col, run)
        for result in run.results:
            if result.id:  # "" = self-test, not a catalogue row
                _place(matrix.cells.setdefault(result.id, {}), key, _cell(result, run))
        for bench in run.benchmarks:
            entry = dict(bench, accel=run.machine.accel)
            matrix.benchmarks.setdefault(key, []).append(entry)
    matrix.columns = sorted(by_key.values(), key=_column_sort_key)
    return matrix


def to_json(matrix: Matrix) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "kind": "ckc-compat",
        "columns": [asdict(c) for c in matrix.columns],
        "matrix": {row: {k: asdict(c) for k, c in cells.items()}
                   for row, cells in sorted(matrix.cells.items())},
        "runs": [_raw_run(r) for r in matrix.runs],
    }


def _raw_run(run: Run) -> dict[str, Any]:
    raw = {k: v for k, v in run.raw.items() if k != "schema"}
    raw.setdefault("source_file", run.path)
    return raw


def find_column(matrix: Matrix, spec: str) -> Column:
    """Column for "5.10/v1": release equal to or starting with "5.10." / "5.10-"; mode exact;
    "6.1/v2+cgroup_disable=memory" names the column of a VM booted with those arguments.

    Raises LookupError with a one-line message when none or several match.
    """
    release, _, rest = spec.partition("/")
    mode, _, variant = rest.partition("+")
    if not release or not mode:
        raise LookupError(f"column {spec!r}: expected RELEASE/MODE, e.g. 5.10/v1")
    found = [c for c in matrix.columns if c.cgroup_mode == mode and c.variant == variant and (
        c.release == release or c.release.startswith((release + ".", release + "-")))]
    if len(found) != 1:
        have = ", ".join(c.key for c in matrix.columns) or "none"
        what = "no column" if not found else f"{len(found)} columns"
        raise LookupError(f"{what} matches {spec!r} (columns: {have})")
    return found[0]
