"""reports.bench: figures out of Google Benchmark entries, and the overheads they give."""
from __future__ import annotations

import unittest

from reports import bench


def agg(run_name: str, kind: str, value: float, **counters: float) -> dict:
    return {"name": f"{run_name}_{kind}", "run_name": run_name, "run_type": "aggregate",
            "aggregate_name": kind, "repetitions": 30, "real_time": value, "time_unit": "ns",
            "behaviour": "bench.memcg-fault-anon", "accel": "host", **counters}


ROOT = "BM_MemcgFaultAnon/loop:populate/depth:0/limit:0"
LEAF = "BM_MemcgFaultAnon/loop:populate/depth:4/limit:0"
PAIRED = "BM_MemcgFaultAnon/loop:populate/paired:root/depth:4/limit:0"


class OverheadsTest(unittest.TestCase):
    def test_two_means_when_the_binary_gave_no_overhead(self) -> None:
        figs = bench.figures([agg(ROOT, "mean", 1000.0), agg(ROOT, "stddev", 50.0),
                              agg(LEAF, "mean", 1030.0), agg(LEAF, "stddev", 50.0)])
        (o,) = bench.overheads(figs)
        self.assertAlmostEqual(o.delta_ns, 30.0)
        self.assertAlmostEqual(o.percent, 3.0)
        # Unpaired: t(29) 2.045 * hypot(50, 50) / sqrt(30) = 26.4 ns, so 30 ns is resolved.
        self.assertAlmostEqual(o.ci95_ns, 2.045 * (2 * 50.0 ** 2) ** 0.5 / 30 ** 0.5, places=6)
        self.assertTrue(o.resolved)

    def test_few_rounds_get_students_t_not_the_normal(self) -> None:
        (f,) = bench.figures([{**agg(ROOT, "mean", 1000.0), "repetitions": 3},
                              {**agg(ROOT, "stddev", 30.0), "repetitions": 3}])
        self.assertAlmostEqual(f.ci95_ns(), 4.303 * 30.0 / 3 ** 0.5, places=6)

    def test_the_binarys_paired_overhead_wins(self) -> None:
        figs = bench.figures([
            agg(PAIRED, "mean", 1030.0), agg(PAIRED, "stddev", 200.0),
            agg(PAIRED, "overhead", 0.03, overhead_pct=3.0, ci95_lo_pct=2.5, ci95_hi_pct=3.5)])
        (o,) = bench.overheads(figs)
        self.assertAlmostEqual(o.percent, 3.0)
        self.assertAlmostEqual(o.delta_ns, 30.0)  # 1030 over a root of 1000
        self.assertAlmostEqual(o.ci95_ns, 5.0)    # half of 1 percentage point of 1000 ns
        self.assertTrue(o.resolved)

    def test_a_paired_overhead_spanning_zero_is_not_resolved(self) -> None:
        figs = bench.figures([
            agg(PAIRED, "mean", 1003.0),
            agg(PAIRED, "overhead", 0.003, overhead_pct=0.3, ci95_lo_pct=-0.4, ci95_hi_pct=1.0)])
        (o,) = bench.overheads(figs)
        self.assertFalse(o.resolved)


if __name__ == "__main__":
    unittest.main()
