"""The catalogue read out of the tests: this checkout's rows, and the scanner's refusals (a test
with no row, a row claimed twice, a declaration it cannot read)."""
from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

from reports.catalogue import parse_arguments, project_catalogue, scan

REPO = Path(__file__).resolve().parents[2]

GOOD = '''
// An example in a comment is not a row: CKC_BEHAVIOUR("x.y", "D", "no");
TEST(Pid, FirstIsOne) {
  CKC_BEHAVIOUR("pid.first-is-1", "D",
                "the first process is "  // joined like the compiler joins them
                "PID 1, it says \\"1\\"", "5.6");
}
TEST(Cg, Kill) {
  CKC_BEHAVIOUR("cg.kill", "K", "cgroup.kill kills the subtree");
}
'''


def tree(files: dict[str, str]) -> Path:
    root = Path(tempfile.mkdtemp(prefix="ckc-cat-"))
    atexit.register(shutil.rmtree, root, True)  # each run's trees go with it
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


class ProjectCatalogueTest(unittest.TestCase):
    def test_every_row_declared_once_with_sentence_and_test(self) -> None:
        cat = project_catalogue()
        self.assertEqual(cat.problems, [])
        tests = [r for r in cat.rows.values() if not r.is_benchmark]
        benches = [r for r in cat.rows.values() if r.is_benchmark]
        self.assertGreaterEqual(len(tests), 118)
        self.assertGreaterEqual(len(benches), 8)
        for row in cat.rows.values():
            with self.subTest(row=row.id):
                self.assertGreater(len(row.sentence), 20)
                self.assertTrue(row.test and row.suite and row.where)
                self.assertNotEqual(row.area, row.id.split(".")[0], "prefix has no area name")
        self.assertEqual(len({r.test for r in tests}), len(tests))

    def test_cli_json_lists_rows(self) -> None:
        proc = subprocess.run([sys.executable, str(REPO / "ckc"), "catalogue", "--json"],
                              capture_output=True, text=True, timeout=60, check=False)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        rows = json.loads(proc.stdout)["rows"]
        by_id = {r["id"]: r for r in rows}
        self.assertEqual(by_id["pid.first-is-1"]["test"], "PidNamespace.FirstIs1")
        for key in ("id", "area", "sentence", "source", "test", "suite"):
            self.assertTrue(all(r[key] for r in rows), key)
        self.assertEqual(by_id["ovl.userns-mount"]["since"], "5.11")

    def test_cli_filters_and_bad_pattern(self) -> None:
        run = lambda *a: subprocess.run([sys.executable, str(REPO / "ckc"), "catalogue", *a],
                                        capture_output=True, text=True, timeout=60, check=False)
        table = run("uts.*", "--area", "uts")
        self.assertEqual(table.returncode, 0, table.stderr)
        self.assertIn("uts.hostname-isolated", table.stdout)
        self.assertNotIn("pid.first-is-1", table.stdout)
        bad = run("nosuch.row")
        self.assertEqual(bad.returncode, 2)
        self.assertEqual(len(bad.stderr.strip().splitlines()), 1)
        self.assertIn("no row matches nosuch.row", bad.stderr)

    def test_nothing_reads_outside_the_project(self) -> None:
        needle = "../" + "shared"
        offenders = [str(p.relative_to(REPO)) for p in REPO.rglob("*")
                     if p.is_file() and p.suffix in (".py", ".cpp", ".h", ".md", ".txt", ".sh",
                                                     ".yml", ".json", ".js")
                     and not {"build", ".git", "out"} & set(p.relative_to(REPO).parts)
                     and needle in p.read_text(encoding="utf-8", errors="replace")]
        self.assertEqual(offenders, [])


class ScannerTest(unittest.TestCase):
    def test_reads_rows_joined_literals_and_since(self) -> None:
        cat = scan(tree({"suites/ns/a_test.cpp": GOOD}))
        self.assertEqual(cat.problems, [])
        self.assertEqual(list(cat.rows), ["pid.first-is-1", "cg.kill"])
        row = cat.rows["pid.first-is-1"]
        self.assertEqual(row.sentence, 'the first process is PID 1, it says "1"')
        self.assertEqual((row.since, row.test, row.suite), ("5.6", "Pid.FirstIsOne", "ns"))
        self.assertEqual(row.where, "suites/ns/a_test.cpp:4")

    def test_two_tests_claiming_one_row(self) -> None:
        twice = GOOD + 'TEST(Pid, Again) {\n  CKC_BEHAVIOUR("pid.first-is-1", "D", "again");\n}\n'
        cat = scan(tree({"suites/ns/a_test.cpp": twice}))
        self.assertEqual(len(cat.problems), 1)
        self.assertIn("two tests claim one row", cat.problems[0])

    def test_test_without_row_and_row_without_test(self) -> None:
        cat = scan(tree({"suites/ns/a_test.cpp": 'CKC_BEHAVIOUR("a.b", "D", "outside");\n'
                         "TEST(A, NoRow) {\n  EXPECT_TRUE(true);\n}\n"}))
        self.assertEqual(len(cat.problems), 2, cat.problems)
        self.assertIn("outside any TEST", cat.problems[0])
        self.assertIn("test A.NoRow declares no catalogue row", cat.problems[1])

    def test_unreadable_declarations_are_named(self) -> None:
        cases = {'CKC_BEHAVIOUR(kId, "D", "s")': "argument 1 is not a string literal",
                 'CKC_BEHAVIOUR("a.b", "D")': "takes (id, source, sentence[, since])",
                 'CKC_BEHAVIOUR("a.b", "X", "s")': "source 'X'",
                 'CKC_BEHAVIOUR("a.b", "D", "s", "recent")': "not a kernel version",
                 'CKC_BEHAVIOUR("Not An Id", "D", "s")': "not a row ID"}
        for call, why in cases.items():
            with self.subTest(call=call):
                cat = scan(tree({"suites/ns/a_test.cpp": f"TEST(A, B) {{\n  {call};\n}}\n"}))
                self.assertEqual(len(cat.problems), 1, cat.problems)
                self.assertIn(why, cat.problems[0])

    def test_bench_rows(self) -> None:
        text = ('CKC_BENCH_ROW(kRow, "bench.veth", "D", "BM_Veth",\n'
                '              "veth create and " "delete");\n')
        cat = scan(tree({"bench/veth.cpp": text}))
        self.assertEqual(cat.problems, [])
        row = cat.rows["bench.veth"]
        self.assertEqual((row.test, row.suite, row.sentence, row.area),
                         ("BM_Veth", "bench", "veth create and delete", "Benchmarks"))

    def test_parse_arguments_stops_at_the_closing_parenthesis(self) -> None:
        text = 'X("a", "b" "c") + "not an argument"'
        self.assertEqual(parse_arguments(text, 2), ["a", "bc"])


@unittest.skipUnless(os.environ.get("CKC_BUILD_DIR"), "needs the built suites (ctest sets "
                     "CKC_BUILD_DIR)")
class BinariesTest(unittest.TestCase):
    """The compiled suites run exactly the tests the catalogue names, suite by suite."""

    def test_listed_tests_equal_catalogue_tests(self) -> None:
        build = Path(os.environ["CKC_BUILD_DIR"])
        cat = project_catalogue()
        suites = sorted({r.suite for r in cat.rows.values() if not r.is_benchmark})
        for suite in suites:
            with self.subTest(suite=suite):
                binary = build / "suites" / f"ckc-suite-{suite}"
                self.assertTrue(binary.is_file(), f"{binary} not built")
                out = subprocess.run([str(binary), "--gtest_list_tests"], capture_output=True,
                                     text=True, timeout=60, check=True).stdout
                listed, group = set(), ""
                for line in out.splitlines():
                    if not line.startswith(" "):
                        group = line.split()[0]
                    else:
                        listed.add(group + line.split()[0])
                named = {r.test for r in cat.rows.values() if r.suite == suite}
                self.assertEqual(listed - named, set(), "tests that declare no row")
                self.assertEqual(named - listed, set(), "rows whose test is not in the binary")


if __name__ == "__main__":
    unittest.main()
