"""bench.replicates and `ckc bench --replicates`: synthetic replicates with a known answer."""
from __future__ import annotations

import io
import json
import stat
import tempfile
import unittest
from contextlib import redirect_stderr
from pathlib import Path

from bench import cli, replicates
from reports import schema

NAME = "BM_MemcgFaultAnon/loop:populate/paired:root/depth:8/limit:0"


def overhead(pct: float, half: float, resolved: int | None = None, **extra: float) -> dict:
    lo, hi = pct - half, pct + half
    return {"name": f"{NAME}_overhead", "run_name": NAME, "run_type": "aggregate",
            "aggregate_name": "overhead", "real_time": pct / 100, "time_unit": "ns",
            "label": "bench.memcg-fault-anon", "behaviour": "bench.memcg-fault-anon",
            "overhead_pct": pct, "lower95_pct": lo, "upper95_pct": hi, "pairs": 20,
            "resolved": int(lo > 0 or hi < 0) if resolved is None else resolved, **extra}


class CombinedTest(unittest.TestCase):
    def test_three_replicates_known_answer(self) -> None:
        # Each ±0.5 over 20 pairs: se = 0.5 / t(19) = 0.5 / 2.093 = 0.23889. Values 2, 3, 2.5:
        # Q = 0.5 / se² = 8.7613, p = exp(-Q/2) = 0.01252 (chi² 2 df): they disagree;
        # tau² = (Q - 2) / (3w - w) = 0.19293; equal weights: mean 2.5, se sqrt((se²+tau²)/3)
        # = 0.28868, half-width t(2) 4.303 * se = 1.24217; I² = (Q-2)/Q = 77.2 %.
        (e,) = replicates.combined_entries([[overhead(2.0, 0.5)], [overhead(3.0, 0.5)],
                                            [overhead(2.5, 0.5)]])
        self.assertEqual(e["aggregate_name"], "replicates")
        self.assertEqual(e["of"], "overhead")
        self.assertEqual(e["values"], [2.0, 3.0, 2.5])
        self.assertAlmostEqual(e["replicate_se"][0], 0.23889, places=5)
        self.assertAlmostEqual(e["q"], 8.7613, places=3)
        self.assertAlmostEqual(e["q_p"], 0.01252, places=4)
        self.assertAlmostEqual(e["tau2"], 0.19293, places=4)
        self.assertAlmostEqual(e["estimate"], 2.5)
        self.assertAlmostEqual(e["se"], 0.28868, places=4)
        self.assertAlmostEqual(e["upper95"] - e["estimate"], 1.24217, places=4)
        self.assertAlmostEqual(e["i2_pct"], 77.17, places=1)
        self.assertAlmostEqual(e["cv_pct"], 20.0)
        self.assertAlmostEqual(e["spread"], 1.0)
        self.assertEqual((e["quantile"], e["quantile_df"]), ("t", 2))
        self.assertEqual(e["disagree"], 1)
        self.assertIn("replicates-disagree", e["label"])

    def test_a_figure_in_one_replicate_only_is_not_combined(self) -> None:
        self.assertEqual(replicates.combined_entries([[overhead(2.0, 0.5)], []]), [])

    def test_slopes_combine_too(self) -> None:
        slope = {"name": "G/slope", "run_name": "G/slope", "run_type": "aggregate",
                 "aggregate_name": "slope", "behaviour": "bench.x", "ns_per_level": 1.2,
                 "ci95_lo_ns": 0.2, "ci95_hi_ns": 2.2, "resolved": 1, "repetitions": 20}
        (e,) = replicates.combined_entries([[slope], [{**slope, "ns_per_level": 1.4,
                                                         "ci95_lo_ns": 0.4, "ci95_hi_ns": 2.4}]])
        self.assertEqual((e["of"], e["unit"]), ("slope", "ns/level"))
        self.assertAlmostEqual(e["estimate"], 1.3)

    def test_summary_has_no_point_value_for_an_unresolved_figure(self) -> None:
        runs = [[overhead(0.3037, 0.5)], [overhead(0.4142, 0.5)]]
        lines = replicates.summary(runs[0] + runs[1] + replicates.combined_entries(runs))
        text = "\n".join(lines)
        self.assertIn("not resolved, < 0.81 %", text)
        self.assertIn("not resolved, < 0.92 %", text)
        for point in ("0.30", "0.41", "0.36"):
            self.assertNotIn(point, text)
        self.assertIn("random effects (DerSimonian-Laird, t 1 df)", text)


FAKE = """#!/bin/sh
n=$(cat "{counter}" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "{counter}"
for a; do case $a in --json=*) out="${{a#--json=}}";; esac; done
case $n in 1) p=2.0 lo=1.5 hi=2.5;; 2) p=3.0 lo=2.5 hi=3.5;; *) p=2.5 lo=2.0 hi=3.0;; esac
printf '{{"context":{{}},"benchmarks":[{{"name":"{name}_overhead","run_name":"{name}",'\\
'"run_type":"aggregate","aggregate_name":"overhead","real_time":0.02,"time_unit":"ns",'\\
'"label":"bench.memcg-fault-anon","overhead_pct":%s,"lower95_pct":%s,"upper95_pct":%s,'\\
'"resolved":1,"pairs":20}}]}}' $p $lo $hi > "$out"
"""


class CliReplicatesTest(unittest.TestCase):
    def test_three_fresh_runs_are_kept_and_combined(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            build = Path(tmp) / "build"
            (build / "bench").mkdir(parents=True)
            fake = build / "bench" / "ckc-bench-memcg"
            fake.write_text(FAKE.format(counter=Path(tmp) / "n", name=NAME))
            fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
            results = Path(tmp) / "r.json"
            err = io.StringIO()
            with redirect_stderr(err):
                rc = cli.main(["--short", "--build", str(build), "--out", tmp, "--results",
                               str(results), "--binaries", "memcg", "--replicates", "3"])
            self.assertEqual(rc, 0, err.getvalue())
            self.assertEqual((Path(tmp) / "n").read_text().strip(), "3")  # three processes
            for k in (1, 2, 3):
                self.assertTrue((Path(tmp) / f"r.ckc-bench-memcg.r{k}.json").exists())
            (run,) = schema.load_results(results)
            reps = [e for e in run.benchmarks if e["aggregate_name"] == "replicates"]
            self.assertEqual([e.get("replicate") for e in run.benchmarks
                              if e["aggregate_name"] == "overhead"], [1, 2, 3])
            self.assertEqual(len(reps), 1)
            self.assertAlmostEqual(reps[0]["q_p"], 0.01252, places=4)
            self.assertIn("REPLICATES DISAGREE", err.getvalue())
            self.assertIn("+2.50 % [+1.26, +3.74]", err.getvalue())

    def test_replicates_below_one_is_bad_input(self) -> None:
        err = io.StringIO()
        with redirect_stderr(err):
            self.assertEqual(cli.main(["--replicates", "0"]), 2)
        self.assertIn("--replicates", err.getvalue())


if __name__ == "__main__":
    unittest.main()
