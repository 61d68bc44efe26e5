"""Self-tests of the host runner: restarts after a crash, kills a hanging test, summaries."""
from __future__ import annotations

import os
import shutil
import tempfile
import unittest
from pathlib import Path

from harness import hostrun, summary

FAKE = Path(__file__).with_name("fake_suite.py")


class HostRunTest(unittest.TestCase):
    def setUp(self) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="ckc-harness-test-"))
        self.binary = self.work / "ckc-suite-fake"
        shutil.copy(FAKE, self.binary)
        self.addCleanup(shutil.rmtree, self.work)
        self.addCleanup(os.environ.pop, "FAKE_MODE", None)

    def run_fake(self, mode: str, timeout: float = 30.0) -> dict[str, str]:
        os.environ["FAKE_MODE"] = mode
        outcome = hostrun.run_suite(self.binary, self.work, timeout, lambda m: None)
        return {e["test"]: e["outcome"] for e in outcome.results}

    def test_clean_run_keeps_every_result(self) -> None:
        self.assertEqual(self.run_fake(""), {"A.One": "pass", "B.Two": "pass", "C.Three": "pass"})

    def test_crash_is_recorded_and_the_rest_still_runs(self) -> None:
        self.assertEqual(self.run_fake("crash"), {"A.One": "pass", "B.Two": "crash", "C.Three": "pass"})

    def test_hanging_test_is_killed_as_timeout(self) -> None:
        self.assertEqual(self.run_fake("hang", timeout=1.0),
                         {"A.One": "pass", "B.Two": "timeout", "C.Three": "pass"})

    def test_lists_tests_like_gtest(self) -> None:
        self.assertEqual(hostrun.list_tests(self.binary), ["A.One", "B.Two", "C.Three"])


class SummaryTest(unittest.TestCase):
    def test_counts_per_area_with_top_skip_reasons(self) -> None:
        results = [
            {"id": "mem.a", "suite": "cgroups", "outcome": "skip", "reason": "needs:swap"},
            {"id": "mem.b", "suite": "cgroups", "outcome": "skip", "reason": "needs:swap"},
            {"id": "mem.c", "suite": "cgroups", "outcome": "pass", "reason": ""},
            {"id": "mem.d", "suite": "cgroups", "outcome": "broken", "reason": "setup"},
            {"id": "", "suite": "guard", "outcome": "fail", "reason": ""},
        ]
        text = summary.summarize(results)
        # columns: pass fail broken skip crash timeout
        self.assertRegex(text, r"mem\s+1\s+0\s+1\s+2\s+0\s+0\s+needs:swap ×2")
        self.assertEqual(summary.line(results), "1 pass, 1 fail, 1 broken, 2 skip")
        self.assertTrue(summary.has_failures(results[3:4]))  # broken alone is not a clean run
        self.assertRegex(text, r"guard\s+0\s+1")
        self.assertTrue(summary.has_failures(results))


if __name__ == "__main__":
    unittest.main()
