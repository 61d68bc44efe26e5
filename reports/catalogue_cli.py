"""`ckc catalogue`: the behaviour catalogue, read out of the tests that declare its rows.

    ckc catalogue                      # table: ID, first kernel, test, sentence
    ckc catalogue 'mem.*' pid.first-is-1 --area cgroup
    ckc catalogue --json [-o FILE]     # {"rows": [...], "sources": {...}, "areas": [...]}

Exit 0; 1 when the declarations do not make a clean catalogue (each problem on stderr); 2 on
bad input (a pattern or area that matches no row).
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import shutil
import sys
import textwrap
from pathlib import Path

from reports.catalogue import SOURCE_DOCUMENTS, Catalogue, Row, repo_root, scan
from reports.schema import write_text_atomic


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ckc catalogue", description=__doc__.split("\n")[0])
    p.add_argument("patterns", nargs="*", metavar="ID",
                   help="row IDs or shell patterns ('mem.*'); default every row")
    p.add_argument("--area", help="only rows whose area name or ID prefix contains this")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("-o", "--output", type=Path, help="write to this file (atomically)")
    p.add_argument("--root", type=Path, default=None, help=argparse.SUPPRESS)  # tests
    return p


def select(cat: Catalogue, patterns: list[str], area: str | None) -> list[Row]:
    rows = list(cat.rows.values())
    if patterns:
        rows = [r for r in rows if any(fnmatch.fnmatchcase(r.id, p) or r.id == p
                                       for p in patterns)]
    if area:
        needle = area.lower()
        rows = [r for r in rows if needle in r.area.lower() or r.id.split(".")[0] == needle]
    return rows


def to_json(cat: Catalogue, rows: list[Row]) -> dict:
    return {"rows": [r.to_json() for r in rows],
            "areas": [a for a in cat.areas if any(r.area == a for r in rows)],
            "sources": {k: v for k, v in SOURCE_DOCUMENTS.items()}}


def table(rows: list[Row], width: int) -> str:
    id_w = max((len(r.id) for r in rows), default=2)
    test_w = max((len(r.test) for r in rows), default=4)
    head = f"{'ID':<{id_w}}  {'SINCE':<5}  {'TEST':<{test_w}}  SENTENCE"
    indent = id_w + test_w + 11
    out, area = [], ""
    for r in rows:
        if r.area != area:
            area = r.area
            out.append(f"\n{area}")
        sentence = textwrap.wrap(r.sentence, max(30, width - indent)) or [""]
        out.append(f"{r.id:<{id_w}}  {r.since:<5}  {r.test:<{test_w}}  {sentence[0]}")
        out += [" " * indent + line for line in sentence[1:]]
    return head + "\n" + "\n".join(out) + f"\n\n{len(rows)} rows\n"


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    cat = scan(args.root or repo_root())
    for problem in cat.problems:
        print(f"ckc catalogue: {problem}", file=sys.stderr)
    rows = select(cat, args.patterns, args.area)
    if not rows and (args.patterns or args.area):
        asked = " ".join(args.patterns) + (f" --area {args.area}" if args.area else "")
        print(f"ckc catalogue: no row matches {asked.strip()} "
              f"({len(cat.rows)} rows; areas: {', '.join(cat.areas)})", file=sys.stderr)
        return 2
    if args.json:
        text = json.dumps(to_json(cat, rows), indent=1, ensure_ascii=False) + "\n"
    else:
        text = table(rows, shutil.get_terminal_size((120, 24)).columns)
    if args.output:
        if cat.problems:  # nothing half right is written: the build stops here
            return 1
        write_text_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    return 1 if cat.problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
