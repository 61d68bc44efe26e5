"""reports.diff and `ckc report diff`: regressions, fixes, newly skipped with reason, benchmarks."""
from __future__ import annotations

import json
import os
import tempfile
import unittest
from pathlib import Path
from typing import Any

from reports import diff
from reports.expectations import ExpectationsError, parse_expectations
from reports.matrix import Cell, Column, find_column
from reports.schema import load_results, merge
from reports.tests.helpers import REPO, fixture, run_cli

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
                 (None, p, ""), (s, p, "now-run")]
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


HOST = "host-6.18-hybrid.json"


def expectations(*entries: dict[str, Any], tags: dict[str, list[str]] | None = None) -> dict:
    return {"ckc_expectations": 1, "expectations": list(entries), "tags": tags or {}}


class GateTest(unittest.TestCase):
    """`ckc report diff OLD NEW --expectations FILE`, the CI's regression gate."""

    def setUp(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def write(self, name: str, doc: Any) -> str:
        path = os.path.join(self.tmp.name, name)
        Path(path).write_text(json.dumps(doc))
        return path

    def host_with(self, outcomes: dict[str, str]) -> str:
        """A copy of the host fixture with some rows' outcomes changed."""
        doc = json.loads(Path(fixture(HOST)).read_text())
        for r in doc["results"]:
            if r["id"] in outcomes:
                r["outcome"] = outcomes[r["id"]]
                r["details"] = f"made to {outcomes[r['id']]} by the test"
        return self.write("changed.json", doc)

    def gate(self, old: str, new: str, *extra: str) -> Any:
        return run_cli("diff", old, new, *extra)

    def test_a_fixture_against_itself_passes_the_gate(self) -> None:
        for name in (HOST, "vm-merged.json"):
            with self.subTest(name=name):
                done = self.gate(fixture(name), fixture(name), "--expectations",
                                 str(REPO / "ci" / "expectations.json"))
                self.assertEqual(done.returncode, 0, done.stdout + done.stderr)

    def test_a_regressed_row_fails_the_gate(self) -> None:
        done = self.gate(fixture(HOST), self.host_with({"pid.first-is-1": "fail"}))
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertRegex(done.stdout, r"pid.first-is-1\s+pass -> fail")
        self.assertIn("1 regression compared to host-6.18-hybrid.json.", done.stdout)

    def test_an_expectation_makes_it_known_and_passes_the_gate(self) -> None:
        exp = self.write("exp.json", expectations(
            {"row": "pid.first-is-1", "outcome": ["fail", "crash"], "reason": "made to fail",
             "match": {"release": "6.18.*", "mode": "hybrid", "kernel": "host"},
             "link": "https://bugs.test/1", "tags": ["CVE-2099-0001"]}))
        done = self.gate(fixture(HOST), self.host_with({"pid.first-is-1": "fail"}),
                         "--expectations", exp)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertIn("Known (expected by the expectations file; not counted) (1):", done.stdout)
        self.assertRegex(done.stdout, r"pid.first-is-1\s+pass -> fail .*\[CVE-2099-0001\]")
        self.assertIn("known: made to fail (https://bugs.test/1)", done.stdout)
        self.assertIn("No regressions compared to", done.stdout)
        self.assertNotIn("Regressions (", done.stdout)

    def test_an_expectation_of_another_column_or_outcome_does_not(self) -> None:
        changed = self.host_with({"pid.first-is-1": "timeout"})
        for match, outcome in (({"mode": "v2"}, "timeout"), ({"release": "6.1.*"}, "timeout"),
                               ({"kernel": "bookworm"}, "timeout"), ({}, "fail")):
            with self.subTest(match=match, outcome=outcome):
                exp = self.write("exp.json", expectations(
                    {"row": "pid.*", "outcome": outcome, "reason": "r", "match": match}))
                done = self.gate(fixture(HOST), changed, "--expectations", exp)
                self.assertEqual(done.returncode, 1, done.stdout)
                self.assertNotIn("known:", done.stdout)

    def test_an_expected_failure_that_passes_is_xpass(self) -> None:
        exp = self.write("exp.json", expectations(
            {"row": "pid.first-is-1", "outcome": "fail", "reason": "fails on 6.18",
             "commit": "0123456789ab"}, tags={"pid.first-is-1": ["fix 0123456789ab"]}))
        done = self.gate(fixture(HOST), fixture(HOST), "--expectations", exp)
        self.assertEqual(done.returncode, 0, done.stdout)
        self.assertRegex(done.stdout, r"XPASS pid.first-is-1\s+expected fail, saw pass  "
                         r"\[fix 0123456789ab\]")
        self.assertIn("expected because: fails on 6.18 (commit 0123456789ab)", done.stdout)
        self.assertIn("0 known differences and 1 XPASS", done.stdout)

    def test_tags_are_shown_next_to_a_failure(self) -> None:
        exp = self.write("exp.json", expectations(tags={"pid.first-is-1": ["CVE-2099-0002"]}))
        done = self.gate(fixture(HOST), self.host_with({"pid.first-is-1": "fail"}),
                         "--expectations", exp)
        self.assertEqual(done.returncode, 1)
        self.assertRegex(done.stdout, r"pid.first-is-1\s+pass -> fail .*  \[CVE-2099-0002\]")

    def test_strict_newly_skipped_can_be_known(self) -> None:
        exp = self.write("exp.json", expectations(
            {"row": "mem.*", "outcome": "skip", "skip_reason": "config:CONFIG_MEMCG_V1",
             "match": {"release": "6.12.*", "mode": "v1"},
             "reason": "Debian 6.12 has no memcg v1"}))
        args = [fixture("vm-merged.json"), "--from", "5.10/v1", "--to", "6.12/v1", "--strict"]
        self.assertEqual(run_cli("diff", *args).returncode, 1)
        done = run_cli("diff", *args, "--expectations", exp)
        self.assertEqual(done.returncode, 0, done.stdout)
        self.assertIn(f"{len(MEM_V1_ROWS)} known differences and 0 XPASS", done.stdout)

    def test_bad_expectations_file_is_bad_input(self) -> None:
        for doc in ({"schema": 1}, expectations({"row": "x", "outcome": "passed", "reason": "r"}),
                    expectations({"row": "x", "outcome": "fail", "reason": "r", "mach": {}})):
            with self.subTest(doc=doc):
                exp = self.write("exp.json", doc)
                done = self.gate(fixture(HOST), fixture(HOST), "--expectations", exp)
                self.assertEqual(done.returncode, 2)
                self.assertEqual(len(done.stderr.strip().splitlines()), 1, done.stderr)
                self.assertIn("exp.json", done.stderr)


class ExpectationsTest(unittest.TestCase):
    COL = Column("6.1.0-28-amd64/v2+cgroup_disable=memory", "6.1.0-28-amd64", "v2",
                 variant="cgroup_disable=memory", accels=["tcg"], vm_kernels=["bookworm"])

    def entry(self, **kw: Any) -> Any:
        e = {"row": "mem.*", "outcome": ["skip", "fail"], "reason": "why", **kw}
        return parse_expectations(expectations(e), "e.json")

    def test_column_match(self) -> None:
        cases = [({}, True), ({"release": "6.1.*"}, True), ({"release": "6.12.*"}, False),
                 ({"kernel": "bookworm"}, True), ({"kernel": "host"}, False),
                 ({"mode": ["v1", "v2"]}, True), ({"mode": "v1"}, False),
                 ({"append": "cgroup_disable=memory"}, True), ({"append": ""}, False),
                 ({"accel": "tcg"}, True), ({"accel": ["kvm", "host"]}, False)]
        for match, hit in cases:
            with self.subTest(match=match):
                exp = self.entry(match=match)
                self.assertEqual(exp.known("mem.oom-group", self.COL, "fail") is not None, hit)

    def test_outcome_skip_reason_and_tags(self) -> None:
        exp = self.entry(skip_reason="controller:*", tags=["t1"])
        exp.tags["mem.oom-group"] = ("t0",)
        self.assertIsNotNone(exp.known("mem.oom-group", self.COL, "skip", "controller:memory"))
        self.assertIsNone(exp.known("mem.oom-group", self.COL, "skip", "needs:swap"))
        self.assertIsNone(exp.known("mem.oom-group", self.COL, "timeout"))
        self.assertIsNone(exp.known("pid.first-is-1", self.COL, "fail"))
        self.assertEqual(exp.tags_for("mem.oom-group", self.COL), ("t0", "t1"))
        self.assertIsNotNone(exp.xpass("mem.oom-group", self.COL, "pass"))
        self.assertIsNone(exp.xpass("mem.oom-group", self.COL, "skip"))

    def test_errors_name_the_entry(self) -> None:
        for entry, words in (({"row": "x", "outcome": "fail"}, "expectations[0].reason: missing"),
                             ({"row": "x", "outcome": "pass", "reason": "r"}, "'pass' is not one"),
                             ({"row": "x", "outcome": "fail", "reason": "r", "skip_reason": "a"},
                              "only with"),
                             ({"row": "x", "outcome": "fail", "reason": "r",
                               "match": {"mode": "v3"}}, "'v3' is not one of")):
            with self.subTest(entry=entry):
                with self.assertRaises(ExpectationsError) as ctx:
                    parse_expectations(expectations(entry), "e.json")
                self.assertIn(words, str(ctx.exception))
                self.assertTrue(str(ctx.exception).startswith("e.json: "))


if __name__ == "__main__":
    unittest.main()
