"""reports.diff and `ckc report diff`: regressions, fixes, newly skipped with reason, benchmarks."""
from __future__ import annotations

import os
import tempfile
import unittest

from reports import diff
from reports.matrix import Cell, find_column
from reports.schema import load_results, merge
from reports.tests.helpers import fixture, run_cli

MEM_V1_ROWS = {"mem.stat-anon-file", "mem.stat-active-inactive", "mem.limit-oom-kill",
               "mem.limit-reclaims-cache", "mem.memsw-limit-kill", "mem.limit-without-memsw-swaps",
               "mem.soft-limit-not-enforced", "mem.oom-disable-freezes",
               "mem.shared-page-first-charge", "mem.charge-stays-after-move",
               "mem.kmem-accounted"}


class ClassifyTest(unittest.TestCase):
    def test_kinds(self) -> None:
        p, f, s, c = Cell("pass"), Cell("fail"), Cell("skip", "needs:swap"), Cell("crash")
        cases = [(p, f, "regression"), (p, c, "regression"), (s, f, "new-failure"),
                 (None, f, "new-failure"), (f, p, "fixed"), (p, s, "newly-skipped"),
                 (f, s, "newly-skipped"), (s, Cell("skip", "needs:root"), "skip-reason-changed"),
                 (f, c, "changed"), (p, None, "missing"), (p, p, ""), (s, s, ""),
                 (None, p, "")]
        for before, after, kind in cases:
            with self.subTest(before=before, after=after):
                self.assertEqual(diff.classify(before, after), kind)


class ColumnsOfOneFileTest(unittest.TestCase):
    def test_5_10_to_6_12_v1_memory_rows_go_to_skip_with_config_reason(self) -> None:
        m = merge(load_results(fixture("vm-merged.json")))
        d = diff.diff_columns(m, find_column(m, "5.10/v1"), m, find_column(m, "6.12/v1"),
                              "a", "b")
        skipped = {c.row_id: c.after.reason if c.after else "" for c in
                   d.of_kind("newly-skipped")}
        self.assertEqual(set(skipped), MEM_V1_ROWS)
        self.assertEqual(set(skipped.values()), {"config:CONFIG_MEMCG_V1"})
        self.assertEqual(d.regressions, [])

    def test_cli_from_to(self) -> None:
        done = run_cli("diff", fixture("vm-merged.json"), "--from", "5.10/v1", "--to", "6.12/v1")
        self.assertEqual(done.returncode, 0, done.stderr)
        for row in MEM_V1_ROWS:
            self.assertRegex(done.stdout, rf"{row}\s+pass -> skip  config:CONFIG_MEMCG_V1")
        self.assertIn("CONFIG_MEMCG_V1 (memory controller in cgroup v1", done.stdout)
        self.assertTrue(done.stdout.rstrip().endswith(
            "No regressions compared to vm-merged.json (5.10/v1)."), done.stdout[-200:])

    def test_cli_unknown_column_is_bad_input(self) -> None:
        done = run_cli("diff", fixture("vm-merged.json"), "--from", "4.19/v1", "--to", "6.12/v1")
        self.assertEqual(done.returncode, 2)
        self.assertEqual(len(done.stderr.strip().splitlines()), 1)
        self.assertIn("no column matches '4.19/v1'", done.stderr)


class TwoRunsTest(unittest.TestCase):
    def test_regression_exit_1_and_benchmarks_beyond_noise(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            page = os.path.join(tmp, "diff.html")
            done = run_cli("diff", fixture("host-6.18-hybrid-baseline.json"),
                           fixture("host-6.18-hybrid.json"), "--html", page)
            self.assertEqual(done.returncode, 1, done.stderr)
            self.assertRegex(done.stdout, r"cpu.weights-proportional\s+pass -> fail")
            self.assertRegex(done.stdout, r"io.weight\s+fail -> pass")
            self.assertRegex(done.stdout, r"hugetlb.limit\s+pass -> skip  setup:no-hugepages")
            self.assertIn("BM_NsCreate/net", done.stdout)
            self.assertNotIn("BM_MemcgFaultAnon", done.stdout)  # within noise
            self.assertIn("1 regression compared to host-6.18-hybrid-baseline.json.",
                          done.stdout)
            with open(page, encoding="utf-8") as f:
                self.assertIn('id="verdict"', f.read())

    def test_same_file_no_regressions_exit_0(self) -> None:
        done = run_cli("diff", fixture("vm-merged.json"), fixture("vm-merged.json"))
        self.assertEqual(done.returncode, 0)
        self.assertIn("No regressions compared to vm-merged.json.", done.stdout)

    def test_emulated_figures_not_compared(self) -> None:
        m = merge(load_results(fixture("vm-merged.json")))
        d = diff.diff_columns(m, find_column(m, "5.10/v1"), m, find_column(m, "6.12/v1"),
                              "a", "b")
        self.assertEqual(d.bench_changes, [])
        h = merge(load_results(fixture("host-6.18-hybrid.json")))
        d2 = diff.diff_columns(h, h.columns[0], m, find_column(m, "6.12/v1"), "a", "b")
        self.assertEqual(d2.bench_changes, [])
        self.assertIn("emulated", d2.bench_note)

    def test_columns_pair_by_matrix_kernel_after_a_package_update(self) -> None:
        a = merge(load_results(fixture("vm-merged.json")))
        b = merge(load_results(fixture("vm-merged.json")))
        col = find_column(b, "6.1/v2")
        b.cells = {r: {("6.1.0-29-amd64/v2" if k == col.key else k): c for k, c in cells.items()}
                   for r, cells in b.cells.items()}
        col.key, col.release = "6.1.0-29-amd64/v2", "6.1.0-29-amd64"
        pairs, notes = diff.pair_columns(a, b)
        self.assertIn(("6.1.0-28-amd64/v2", "6.1.0-29-amd64/v2"),
                      [(x.key, y.key) for x, y in pairs])
        self.assertEqual(len(pairs), 5)
        self.assertEqual(notes, [])

    def test_strict_counts_newly_skipped(self) -> None:
        done = run_cli("diff", fixture("vm-merged.json"), "--from", "5.10/v1", "--to",
                       "6.12/v1", "--strict")
        self.assertEqual(done.returncode, 1)


if __name__ == "__main__":
    unittest.main()
