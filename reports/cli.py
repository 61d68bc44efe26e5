"""Command line of the reports: `ckc report {merge,html,diff,junit,tap,kcidb}` and
`ckc check-config`.

    main(["html", "results/*.json", "-o", "out/report.html"]) -> exit code
    main(["junit", "out/", "-o", "junit.xml", "--expectations", "ci/expectations.json"])
    check_config_main(["--config", "/boot/config-6.1.0"]) -> exit code

Also `python3 -m reports.cli {merge,html,diff,junit,tap,kcidb,check-config} ...` from the
repository root. Exit codes: 0 fine; 1 regressions (diff); 2 bad input (a results file that
does not validate, an unknown column, an unreadable config or expectations file). Every bad
input is one line on stderr naming it; merge and html still write what the good inputs hold,
the exports (junit, tap, kcidb) write nothing then: a CI's test tab must not show a partial
matrix as the whole.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from reports import diff as diffmod
from reports import export_junit, export_kcidb, export_tap, html
from reports import catalogue
from reports.config_map import OPTIONS, ConfigError, read_config, running_kernel_config
from reports.expectations import Expectations, ExpectationsError, load_expectations
from reports.exports import Suite, counts, export_suites
from reports.matrix import Matrix, find_column
from reports.schema import SchemaError, load_many, matrix_to_json, merge, write_json_atomic
from reports.schema import write_text_atomic

EXIT_OK, EXIT_REGRESSION, EXIT_BAD_INPUT = 0, 1, 2


def _err(msg: str) -> None:
    print(f"ckc: {msg}", file=sys.stderr)


def expand_inputs(paths: list[str]) -> list[str]:
    """A directory stands for every *.json under it (sorted; hidden temp files left out)."""
    out: list[str] = []
    for p in paths:
        if Path(p).is_dir():
            out += sorted(str(f) for f in Path(p).rglob("*.json")
                          if not f.name.startswith("."))
        else:
            out.append(p)
    return out


def _load(paths: list[str]) -> tuple[Matrix | None, list[SchemaError]]:
    runs, errors = load_many(expand_inputs(paths))
    for e in errors:
        _err(str(e))
    return (merge(runs) if runs else None), errors


def cmd_merge(args: argparse.Namespace) -> int:
    matrix, errors = _load(args.inputs)
    if matrix is None:
        _err("no valid results file among the inputs; nothing written")
        return EXIT_BAD_INPUT
    write_json_atomic(args.output, matrix_to_json(matrix))
    runs, cols = len(matrix.runs), len(matrix.columns)
    print(f"merged {runs} run{'s' * (runs != 1)} into {cols} column{'s' * (cols != 1)} x "
          f"{len(matrix.cells)} rows: {args.output}")
    return EXIT_BAD_INPUT if errors else EXIT_OK


def cmd_html(args: argparse.Namespace) -> int:
    matrix, errors = _load(args.inputs)
    if matrix is None:
        _err("no valid results file among the inputs; no report written")
        return EXIT_BAD_INPUT
    try:
        base = catalogue.load_json(args.catalogue) if args.catalogue \
            else catalogue.project_catalogue()
    except ValueError as err:
        _err(str(err))
        return EXIT_BAD_INPUT
    cat = catalogue.with_results(base, matrix.runs)
    text = html.render_report(matrix, cat, [str(e) for e in errors], args.title)
    write_text_atomic(args.output, text)
    rows = [r for _, ids in html.rows_by_area(matrix, cat) for r in ids]
    differ = sum(html.row_differs(html.row_outcomes(matrix, r)) for r in rows)
    print(f"report: {len(rows)} behaviours x {len(matrix.columns)} kernel/mode columns, "
          f"{differ} rows differ across columns")
    print(Path(args.output).resolve())
    return EXIT_BAD_INPUT if errors else EXIT_OK


def _diff_pairs(args: argparse.Namespace, ma: Matrix, mb: Matrix, same: bool,
                exp: Expectations | None) -> tuple[list[diffmod.ColumnDiff], list[str]]:
    name_a = Path(args.a).name
    name_b = name_a if same else Path(args.b).name
    if args.from_col or args.to_col:
        if not (args.from_col and args.to_col):
            raise LookupError("--from and --to go together")
        ca, cb = find_column(ma, args.from_col), find_column(mb, args.to_col)
        return [diffmod.diff_columns(ma, ca, mb, cb, f"{name_a}:{ca.key}", f"{name_b}:{cb.key}",
                                     args.bench_threshold, exp)], []
    if same:
        raise LookupError("one input: give --from RELEASE/MODE --to RELEASE/MODE")
    pairs, notes = diffmod.pair_columns(ma, mb)
    return [diffmod.diff_columns(ma, a, mb, b, f"{name_a}:{a.key}", f"{name_b}:{b.key}",
                                 args.bench_threshold, exp) for a, b in pairs], notes


def _regressions(diffs: list[diffmod.ColumnDiff], args: argparse.Namespace) -> int:
    count = sum(len(d.regressions) for d in diffs)
    if args.strict:
        count += sum(len(d.of_kind("newly-skipped")) + len(d.of_kind("missing")) for d in diffs)
    if args.fail_on_bench:
        count += sum(1 for d in diffs for c in d.bench_changes if c.after_ns > c.before_ns)
    return count


def _expectations(path: str | None) -> Expectations | None:
    """The --expectations file, or None without one; ExpectationsError when it is bad."""
    return load_expectations(path) if path else None


def cmd_diff(args: argparse.Namespace) -> int:
    same = args.b is None
    try:
        exp = _expectations(args.expectations)
    except ExpectationsError as e:
        _err(str(e))
        return EXIT_BAD_INPUT
    ma, errors = _load([args.a])
    mb, errors_b = (ma, []) if same else _load([args.b])
    if errors or errors_b or ma is None or mb is None:
        return EXIT_BAD_INPUT
    try:
        diffs, notes = _diff_pairs(args, ma, mb, same, exp)
    except LookupError as e:
        _err(str(e).strip("'\""))
        return EXIT_BAD_INPUT
    label = f"{Path(args.a).name}" + (f" ({args.from_col})" if args.from_col else "")
    sys.stdout.write(diffmod.render_text(diffs, notes, label))
    if args.html:
        write_text_atomic(args.html, html.render_diff(diffs, notes, label))
        print(Path(args.html).resolve())
    if not diffs:
        return EXIT_BAD_INPUT
    return EXIT_REGRESSION if _regressions(diffs, args) else EXIT_OK


def _export_err(msg: str) -> None:
    print(f"ckc report: {msg}", file=sys.stderr)


def _render_export(command: str, suites: list[Suite], origin: str) -> str:
    if command == "junit":
        return export_junit.render(suites)
    if command == "tap":
        return export_tap.render(suites)
    return json.dumps(export_kcidb.to_kcidb(suites, origin), indent=1, ensure_ascii=False) + "\n"


def cmd_export(args: argparse.Namespace) -> int:
    """junit / tap / kcidb: every input must be good, else nothing is written (exit 2)."""
    origin = args.origin
    if not export_kcidb.ORIGIN_PATTERN.match(origin):
        _export_err(f"--origin {origin!r}: KCIDB origins are lower-case letters, digits and _")
        return EXIT_BAD_INPUT
    try:
        exp = _expectations(args.expectations)
    except ExpectationsError as e:
        _export_err(str(e))
        return EXIT_BAD_INPUT
    runs, errors = load_many(expand_inputs(args.inputs))
    for e in errors:
        _export_err(f"{e}; nothing written")
    if errors or not runs:
        if not errors:
            _export_err(f"no results file in {' '.join(args.inputs)}; nothing written")
        return EXIT_BAD_INPUT
    matrix = merge(runs)
    suites = export_suites(matrix, exp)
    try:
        write_text_atomic(args.output, _render_export(args.command, suites, origin))
    except OSError as e:
        _export_err(f"{args.output}: cannot write: {e.strerror or e}")
        return EXIT_BAD_INPUT
    total = counts(suites)
    print(f"{args.command}: {total['tests']} results in {len(suites)} kernel/mode columns "
          f"({total['fail']} fail, {total['error']} error, {total['skip']} skip): {args.output}")
    return EXIT_OK


def _export_parser(sub: Any, name: str, what: str, metavar: str) -> argparse.ArgumentParser:
    e = sub.add_parser(name, help=what)
    e.add_argument("inputs", nargs="+", metavar="RESULTS.json|DIR")
    e.add_argument("-o", "--output", required=True, metavar=metavar)
    e.add_argument("--expectations", metavar="FILE",
                   help="tags and known failures shown beside failures (ci/expectations.json)")
    e.set_defaults(func=cmd_export, origin="ckc")
    return e


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ckc report",
                                description="ckc results: merge, HTML, diff, exports")
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("merge", help="merge results files into one compatibility JSON")
    m.add_argument("inputs", nargs="+", metavar="RESULTS.json|DIR")
    m.add_argument("-o", "--output", required=True, metavar="COMPAT.json")
    m.set_defaults(func=cmd_merge)
    h = sub.add_parser("html", help="render the compatibility matrix as one HTML page")
    h.add_argument("inputs", nargs="+", metavar="RESULTS.json|DIR")
    h.add_argument("-o", "--output", default="report.html", metavar="REPORT.html")
    h.add_argument("--catalogue", metavar="CATALOGUE.json",
                   help="rows from `ckc catalogue --json` (default: this checkout's tests; "
                   "the results' own sentences fill in rows it lacks)")
    h.add_argument("--title", default="ckc compatibility report")
    h.set_defaults(func=cmd_html)
    d = sub.add_parser("diff", help="what changed from A to B (or between two columns of A)")
    d.add_argument("a", metavar="A.json")
    d.add_argument("b", metavar="B.json", nargs="?")
    d.add_argument("--from", dest="from_col", metavar="RELEASE/MODE", help="e.g. 5.10/v1")
    d.add_argument("--to", dest="to_col", metavar="RELEASE/MODE", help="e.g. 6.12/v1")
    d.add_argument("--html", metavar="DIFF.html", help="also render the diff as HTML")
    d.add_argument("--bench-threshold", type=float, default=5.0, metavar="PERCENT",
                   help="smallest benchmark change reported, beyond the noise (default 5)")
    d.add_argument("--strict", action="store_true",
                   help="newly skipped and no longer run rows count as regressions")
    d.add_argument("--fail-on-bench", action="store_true",
                   help="benchmark slowdowns beyond their noise count as regressions")
    d.add_argument("--expectations", metavar="FILE",
                   help="known differences (ci/expectations.json): reported as known, not "
                   "counted; expected failures that pass are printed as XPASS")
    d.set_defaults(func=cmd_diff)
    _export_parser(sub, "junit", "JUnit XML: a testsuite per kernel/mode column", "JUNIT.xml")
    _export_parser(sub, "tap", "TAP 13 (kselftest nesting): a stream per column", "OUT.tap")
    k = _export_parser(sub, "kcidb", "KCIDB I/O data (kcidb-io schema v5.3)", "KCIDB.json")
    k.add_argument("--origin", default="ckc",
                   help="KCIDB origin, the prefix of every object ID (default ckc)")
    return p


def main(argv: list[str]) -> int:
    """`ckc report ...`; also accepts `check-config ...` for `python3 -m reports.cli`."""
    if argv and argv[0] == "check-config":
        return check_config_main(argv[1:])
    args = _parser().parse_args(argv)
    return int(args.func(args))


def _print_config(source: str, values: dict[str, str]) -> None:
    """y/m built in or module; n "is not set"; - absent (the kernel has no such option)."""
    print(f"Kernel config: {source}")
    print("  (y built in, m module, n not set, - not in this config: option absent or renamed)")
    area = ""
    counts = {"y": 0, "m": 0, "n": 0, "-": 0}
    for opt in OPTIONS:
        raw = values.get(opt.name)
        value = "-" if raw is None else raw if raw in ("y", "m") else "n"
        counts[value] += 1
        if opt.area != area:
            area = opt.area
            print(f"{area}:")
        mode = f" ({opt.mode} only)" if opt.mode else ""
        flag = "   <- not set" if value == "n" else ""
        print(f"  {opt.name:<32} {value}  {opt.what}{mode}; rows: {' '.join(opt.rows)}{flag}")
    print(f"{counts['y']} built in, {counts['m']} modules, {counts['n']} not set, "
          f"{counts['-']} absent, of {len(OPTIONS)} container-relevant options.")


def check_config_main(argv: list[str]) -> int:
    """`ckc check-config [--config FILE]`: container-relevant options and the rows needing them."""
    p = argparse.ArgumentParser(prog="ckc check-config",
                                description="container-relevant kernel options (y/m/n) and "
                                "the catalogue rows that depend on each")
    p.add_argument("--config", metavar="FILE", help="a kernel config, plain or .gz "
                   "(default: /proc/config.gz, else /boot/config-$(uname -r))")
    args = p.parse_args(argv)
    source = args.config or running_kernel_config()
    if source is None:
        _err("no config of the running kernel found (/proc/config.gz, /boot/config-"
             "$(uname -r)); pass --config FILE")
        return EXIT_BAD_INPUT
    try:
        values = read_config(source)
    except ConfigError as e:
        _err(str(e))
        return EXIT_BAD_INPUT
    _print_config(source, values)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
