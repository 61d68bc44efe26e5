"""bench.smoke.judge: errored entries fail the smoke test, documented skips pass."""
from __future__ import annotations

import unittest

from bench import smoke


def entry(name: str, error: str | None = None) -> dict:
    e = {"name": name, "label": "bench.ns-create", "real_time": 1.0}
    if error is not None:
        e.update(error_occurred=True, error_message=error)
    return e


OK = entry("BM_NsCreate/flag:none")


class JudgeTest(unittest.TestCase):
    def test_clean_run_passes(self) -> None:
        self.assertIsNone(smoke.judge({"benchmarks": [OK]}, False))

    def test_an_errored_entry_fails(self) -> None:
        problem = smoke.judge({"benchmarks": [OK, entry("BM_NsCreate/flag:net",
                                                        "setup:wait: wait(child): EINTR")]},
                              False)
        self.assertIn("BM_NsCreate/flag:net", problem or "")
        self.assertIn("errored", problem or "")

    def test_every_entry_errored_fails_even_when_each_is_a_requirement(self) -> None:
        problem = smoke.judge({"benchmarks": [entry("BM_NsCreate/flag:net", "needs:root: x")]},
                              True)
        self.assertIn("every entry errored", problem or "")

    def test_no_entries_without_a_reason_fails(self) -> None:
        self.assertEqual(smoke.judge({"benchmarks": []}, False), "no benchmark entries")
        self.assertEqual(smoke.judge({"context": {}}, False), "no benchmark entries")

    def test_documented_skips_pass(self) -> None:
        as_nobody = {"context": {"ckc_skipped": "needs:root (euid 65534)"}, "benchmarks": []}
        self.assertIsNone(smoke.judge(as_nobody, True))
        v1_only = {"context": {"ckc_skipped": "config:CONFIG_MEMCG_V1"}, "benchmarks": []}
        self.assertIsNone(smoke.judge(v1_only, False))
        requirement = entry("BM_OverlayCopyUp/size:4096", "config:CONFIG_OVERLAY_FS: ENODEV")
        self.assertIsNone(smoke.judge({"benchmarks": [OK, requirement]}, False))
        v2_depth1 = entry("BM_MemcgFaultAnon/loop:write/depth:1/limit:0",
                          "setup:attach: write(`cgroup.procs`): EBUSY")
        self.assertIsNone(smoke.judge({"benchmarks": [OK, v2_depth1]}, False))

    def test_attach_failing_elsewhere_is_not_documented(self) -> None:
        deep = entry("BM_MemcgFaultAnon/loop:write/depth:4/limit:0", "setup:attach: EBUSY")
        self.assertIsNotNone(smoke.judge({"benchmarks": [OK, deep]}, False))

    def test_as_nobody_a_skip_for_another_reason_fails(self) -> None:
        doc = {"context": {"ckc_skipped": "setup:cgroup"}, "benchmarks": []}
        self.assertIn("another reason", smoke.judge(doc, True) or "")


if __name__ == "__main__":
    unittest.main()
