"""reports.schema.merge: behaviour ID x (release, cgroup mode), kernel facts per column."""
from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import unittest

from reports.matrix import find_column
from reports.schema import load_many, load_results, matrix_to_json, merge, write_json_atomic
from reports.tests.helpers import GOOD, fixture, run_cli


def good_matrix():
    runs, errors = load_many([fixture(n) for n in GOOD])
    assert not errors
    return merge(runs)


class MergeTest(unittest.TestCase):
    def test_columns_sorted_by_kernel_then_mode(self) -> None:
        m = good_matrix()
        self.assertEqual([c.key for c in m.columns], [
            "5.10.0-33-amd64/v1", "5.10.0-33-amd64/v2", "6.1.0-28-amd64/v2",
            "6.12.12-amd64/v1", "6.18.44-ckc/hybrid", "6.19.0-rc2-ckc/v2"])
        self.assertEqual(len(m.cells), 118)

    def test_cells_and_kernel_facts(self) -> None:
        m = good_matrix()
        cell = m.cells["mem.stat-anon-file"]["6.12.12-amd64/v1"]
        self.assertEqual((cell.outcome, cell.reason), ("skip", "config:CONFIG_MEMCG_V1"))
        col = m.column("6.12.12-amd64/v1")
        self.assertEqual(col.accels, ["tcg"])
        self.assertTrue(col.emulated)
        self.assertEqual(col.config_sources, ["/proc/config.gz"])
        self.assertIn("cgroup_no_v1=none", col.cmdlines[0])
        crash = m.column("6.19.0-rc2-ckc/v2")
        self.assertTrue(crash.incomplete)
        self.assertIn("Kernel panic", crash.console_tail)
        self.assertEqual(m.cells["mem.oom-group"][crash.key].outcome, "crash")

    def test_runs_of_one_column_fill_it_and_crash_never_replaces(self) -> None:
        runs = load_results(fixture("vm-6.1-v2.json")) + load_results(fixture("vm-6.1-v2.json"))
        first, second = runs
        second.run_id, second.started = "later", "2026-11-22T23:00:00Z"
        second.results = [dataclasses.replace(r, outcome="crash") for r in second.results[:3]]
        m = merge([first, second])
        self.assertEqual(len(m.columns), 1)
        self.assertEqual(m.columns[0].run_ids, ["a1060102", "later"])
        self.assertEqual(m.cells[first.results[0].id][m.columns[0].key].outcome, "pass")

    def test_duplicate_run_in_two_files_counted_once(self) -> None:
        runs, _ = load_many([fixture("vm-merged.json"), fixture("vm-6.1-v2.json")])
        self.assertEqual(len(merge(runs).runs), 5)

    def test_compat_json_is_readable_again(self) -> None:
        m = good_matrix()
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "compat.json")
            write_json_atomic(path, matrix_to_json(m))
            again = merge(load_results(path))
        self.assertEqual([c.key for c in again.columns], [c.key for c in m.columns])
        self.assertEqual(again.cells["pids.max"].keys(), m.cells["pids.max"].keys())

    def test_vm_with_extra_kernel_arguments_is_its_own_column(self) -> None:
        runs, _ = load_many([fixture("vm-6.1-v2.json"), fixture("vm-6.1-v2-memcg-off.json")])
        m = merge(runs)
        self.assertEqual([c.key for c in m.columns],
                         ["6.1.0-28-amd64/v2", "6.1.0-28-amd64/v2+cgroup_disable=memory"])
        off = find_column(m, "6.1/v2+cgroup_disable=memory")
        self.assertEqual(m.cells["mem.oom-group"][off.key].reason, "controller:memory")
        self.assertEqual(find_column(m, "6.1/v2").variant, "")

    def test_find_column(self) -> None:
        m = good_matrix()
        self.assertEqual(find_column(m, "5.10/v1").key, "5.10.0-33-amd64/v1")
        self.assertEqual(find_column(m, "6.1/v2").key, "6.1.0-28-amd64/v2")
        for bad in ("5.10", "7.0/v1", "6.12/v2"):
            with self.subTest(spec=bad), self.assertRaises(LookupError):
                find_column(m, bad)

    def test_cli_directory_input(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            os.mkdir(os.path.join(tmp, "vm"))
            shutil.copy(fixture("host-6.18-hybrid.json"), tmp)
            shutil.copy(fixture("vm-merged.json"), os.path.join(tmp, "vm"))
            shutil.copy(fixture("vm-6.1-v2.json"), os.path.join(tmp, "vm"))  # also in merged
            with open(os.path.join(tmp, ".partial.json"), "w") as f:
                f.write("{")
            out = os.path.join(tmp, "compat.out")
            done = run_cli("merge", tmp, "-o", out)
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertEqual(len(merge(load_results(out)).runs), 6)

    def test_cli_merge_reports_bad_file_and_merges_the_rest(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "compat.json")
            done = run_cli("merge", fixture("vm-5.10-v1.json"), fixture("truncated.json"),
                           fixture("vm-6.1-v2.json"), "-o", out)
            self.assertEqual(done.returncode, 2)
            self.assertIn("truncated.json: truncated JSON", done.stderr)
            self.assertEqual(len(merge(load_results(out)).columns), 2)


if __name__ == "__main__":
    unittest.main()
