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


class DescribeTest(unittest.TestCase):
    def test_a_resolved_figure_has_its_value_and_interval(self) -> None:
        iv = bench.Interval(2.89, 2.24, 3.55, True)
        self.assertEqual(bench.describe(iv), "+2.89 % [+2.24, +3.55]")

    def test_an_unresolved_figure_has_only_its_bound_rounded_up(self) -> None:
        iv = bench.Interval(0.30, -0.21, 0.79, False)
        self.assertEqual(bench.describe(iv), "not resolved, < 0.79 %")
        self.assertEqual(bench.describe(bench.Interval(-0.91, -1.234, 0.2, False)),
                         "not resolved, < 1.3 %")
        self.assertNotIn("0.3", bench.describe(iv))

    def test_new_counter_names_win_over_the_old(self) -> None:
        e = agg(PAIRED, "overhead", 0.01, overhead_pct=1.0, lower95_pct=0.5, upper95_pct=1.5,
                ci95_lo_pct=-9.0, ci95_hi_pct=9.0, resolved=1)
        self.assertEqual(bench.interval_of(e), bench.Interval(1.0, 0.5, 1.5, True))
        old = agg(PAIRED, "overhead", 0.01, overhead_pct=1.0, ci95_lo_pct=-1.0, ci95_hi_pct=3.0,
                  resolved=0)
        self.assertEqual(bench.interval_of(old), bench.Interval(1.0, -1.0, 3.0, False))


class CombineTest(unittest.TestCase):
    def test_equal_intervals_that_agree_combine_like_a_fixed_effect(self) -> None:
        # Three replicates, each ±1.96 * 0.1 (normal), values 1.0, 1.1, 0.9: Q = 2 = k-1, so
        # tau² = 0; the mean 1.0 with se 0.1/sqrt(3), t(2) = 4.303.
        c = bench.combine([1.0, 1.1, 0.9], [0.1, 0.1, 0.1])
        self.assertAlmostEqual(c.q, 2.0)
        self.assertAlmostEqual(c.tau2, 0.0)
        self.assertAlmostEqual(c.i2_pct, 0.0)
        self.assertAlmostEqual(c.estimate.value, 1.0)
        self.assertAlmostEqual(c.se, 0.1 / 3 ** 0.5)
        self.assertAlmostEqual(c.estimate.upper - c.estimate.value, 4.303 * 0.1 / 3 ** 0.5)
        self.assertAlmostEqual(c.q_p, 0.36787944, places=6)  # chi2(2) sf at 2: exp(-1)
        self.assertFalse(c.disagree)
        self.assertAlmostEqual(c.cv_pct, 10.0)

    def test_replicates_beyond_their_intervals_disagree(self) -> None:
        # 1, 2, 3 each ±0.1: Q = 200, C = 300 - 300²/... = 200, tau² = (200-2)/200 = 0.99;
        # weights 1/(0.01+0.99) = 1: mean 2, se sqrt(1/3).
        c = bench.combine([1.0, 2.0, 3.0], [0.1, 0.1, 0.1])
        self.assertAlmostEqual(c.q, 200.0)
        self.assertAlmostEqual(c.tau2, 0.99)
        self.assertAlmostEqual(c.i2_pct, 99.0)
        self.assertAlmostEqual(c.se, (1 / 3) ** 0.5)
        self.assertTrue(c.disagree)
        self.assertFalse(c.estimate.resolved)  # 2 ± 4.303 * 0.577 spans zero

    def test_standard_error_from_a_t_interval(self) -> None:
        self.assertAlmostEqual(bench.standard_error(1.0, 3.0, 20), 1.0 / 2.093)
        self.assertAlmostEqual(bench.standard_error(1.0, 3.0, None), 1.0 / 1.96)

    def test_chi_square_tail(self) -> None:
        for df, x95 in ((1, 3.841), (2, 5.991), (3, 7.815), (4, 9.488), (7, 14.067)):
            self.assertAlmostEqual(bench.chi2_sf(x95, df), 0.05, places=3)

    def test_figures_take_the_replicates_combination(self) -> None:
        entries = []
        for k, pct in ((1, 2.0), (2, 3.0)):
            entries += [{**agg(PAIRED, "mean", 1000.0 + 10 * k), "replicate": k},
                        {**agg(PAIRED, "overhead", pct / 100, overhead_pct=pct,
                               lower95_pct=pct - 0.5, upper95_pct=pct + 0.5, resolved=1),
                         "replicate": k}]
        entries.append({**agg(PAIRED, "replicates", 0.025), "of": "overhead", "estimate": 2.5,
                        "lower95": 1.0, "upper95": 4.0, "resolved": 1})
        (f,) = bench.figures(entries)
        self.assertEqual(f.replicates, 2)
        self.assertAlmostEqual(f.mean_ns, 1015.0)
        self.assertEqual(f.own_overhead, bench.Interval(2.5, 1.0, 4.0, True))


def curve_entries(means: dict[int, float], slope: float, lo: float, hi: float,
                  **expect: float) -> list[dict]:
    group = "BM_Curve/curve:siblings/op:mkdir"
    out = [agg(f"{group}/siblings:{n}", "mean", m) for n, m in means.items()]
    out += [agg(f"{group}/siblings:{n}", "stddev", 1.0) for n in means]
    out.append({**agg(f"{group}/slope", "slope", slope), "ns_per_sibling": slope,
                "lower95_ns": lo, "upper95_ns": hi, "resolved": int(lo > 0 or hi < 0),
                **expect})
    return out


class CurveTest(unittest.TestCase):
    def test_flat_curve_whose_slope_spans_zero_is_flat_as_intended(self) -> None:
        (c,) = bench.curves(curve_entries({1: 100.0, 10: 101.0, 100: 100.5}, 0.001, -0.01, 0.012,
                                          expect_flat=1))
        self.assertEqual([p.x for p in c.points], [1.0, 10.0, 100.0])
        self.assertEqual(c.slope.unit, "ns/sibling")
        self.assertEqual(c.verdict(), "flat as intended")

    def test_flat_curve_that_grows_is_not_as_intended(self) -> None:
        (c,) = bench.curves(curve_entries({1: 100.0, 10: 120.0, 100: 300.0}, 2.0, 1.8, 2.2,
                                          expect_flat=1))
        self.assertTrue(c.verdict().startswith("NOT as intended"))

    def test_linear_curve(self) -> None:
        (c,) = bench.curves(curve_entries({1: 10.0, 2: 20.0, 4: 40.0, 8: 80.0}, 10.0, 9.0, 11.0,
                                          expect_linear=1))
        self.assertAlmostEqual(c.r2(), 1.0)
        self.assertEqual(c.verdict(), "linear as intended")
        # A knee (flat, then steep) is resolved and positive but not a line.
        (k,) = bench.curves(curve_entries({1: 10.0, 2: 10.0, 4: 10.0, 8: 10.0, 16: 10.0,
                                           32: 400.0}, 10.0, 2.0, 18.0, expect_linear=1))
        self.assertIn("R²", k.verdict())
        self.assertTrue(k.verdict().startswith("NOT"))


class CurveCountersTest(unittest.TestCase):
    def test_the_binarys_level_range_and_base_decide_flatness(self) -> None:
        # 0.02 ns per sibling over 1..1000 on a 100 ns base: +20 % over the range, resolved.
        entries = curve_entries({1: 100.0, 1000: 120.0, 5000: 500.0}, 0.02, 0.01, 0.03,
                                expect_flat=1, level_min=1, level_max=1000, base_ns=100.0,
                                slope_rel_pct=0.02)
        (c,) = bench.curves(entries)
        self.assertEqual([p.x for p in c.points], [1.0, 1000.0])  # 5000 is outside the fit
        self.assertAlmostEqual(c.change_pct(), 100 * 0.02 * 999 / 100.0)
        self.assertIn("NOT as intended (changes +20.0 %", c.verdict())


class CurvePointsTest(unittest.TestCase):
    def test_points_of_a_group_that_leaves_a_segment_out(self) -> None:
        group = "BM_CgroupOps/curve:cg-siblings/controller:memory"
        entries = [agg(f"BM_CgroupOps/curve:cg-siblings/op:mkdir-rmdir/controller:memory/"
                       f"siblings:{n}", "mean", 50.0 + n) for n in (1, 16, 256)]
        entries.append({**agg(f"{group}/slope", "slope", 1.0), "ns_per_level": 1.0,
                        "lower95_ns": 0.9, "upper95_ns": 1.1, "resolved": 1, "level_min": 1,
                        "level_max": 256, "base_ns": 51.0, "expect_flat": 1})
        (c,) = bench.curves(entries)
        self.assertEqual([p.x for p in c.points], [1.0, 16.0, 256.0])

    def test_a_depth_group_takes_its_own_cases_not_the_paired_ones(self) -> None:
        group = "BM_MemcgFaultAnon/loop:populate/limit:0"
        entries = [agg(ROOT, "mean", 1000.0), agg(LEAF, "mean", 1010.0),
                   agg(PAIRED, "mean", 1020.0),
                   {**agg(f"{group}/slope", "slope", 1.0), "ns_per_level": 1.0,
                    "lower95_ns": -1.0, "upper95_ns": 3.0, "resolved": 0}]
        (c,) = bench.curves(entries)
        self.assertEqual([(p.x, p.mean_ns) for p in c.points], [(4.0, 1010.0)])


class ScaleTest(unittest.TestCase):
    def test_large_ns_figures_print_in_ms(self) -> None:
        iv = bench.Interval(-5657060.0, -6729832.0, -4584288.0, True)
        self.assertEqual(bench.describe(iv, " ns/level"), "-5.66 ms/level [-6.73, -4.58]")
        self.assertEqual(bench.describe(bench.Interval(1.0, -2e7, 1e7, False), " ns/alive"),
                         "not resolved, < 20 ms/alive")
        self.assertEqual(bench.describe(bench.Interval(1.0, -2e7, 1e7, False), " %"),
                         "not resolved, < 2e+07 %")
