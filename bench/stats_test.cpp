// Self-tests of bench/stats.h against figures worked out by hand (no benchmark runs).
#include "stats.h"

#include <gtest/gtest.h>

namespace ckc::bench {
namespace {

TEST(BenchStats, SummaryOfKnownSamples) {
  Summary s = Summarize({2, 4, 4, 4, 5, 5, 7, 9});
  EXPECT_DOUBLE_EQ(s.mean, 5.0);
  EXPECT_DOUBLE_EQ(s.median, 4.5);
  EXPECT_NEAR(s.stddev, 2.13809, 1e-5);  // sample (n-1) standard deviation
  EXPECT_NEAR(s.cv, 2.13809 / 5.0, 1e-5);
}

TEST(BenchStats, TQuantileMatchesTables) {
  EXPECT_NEAR(TQuantile975(1), 12.706, 1e-3);
  EXPECT_NEAR(TQuantile975(9), 2.262, 1e-3);
  EXPECT_NEAR(TQuantile975(40), 2.021, 2e-3);
  EXPECT_NEAR(TQuantile975(120), 1.980, 2e-3);
}

TEST(BenchStats, PairedDifferenceCancelsSharedDrift) {
  // The baseline drifts upwards; the case is always 10 above it: the interval is tight at 10.
  Interval d = PairedDifference({110, 130, 150, 170}, {100, 120, 140, 160});
  EXPECT_DOUBLE_EQ(d.mean, 10.0);
  EXPECT_DOUBLE_EQ(d.lo, 10.0);
  EXPECT_TRUE(d.Resolved());
}

TEST(BenchStats, DifferenceWithinNoiseIsNotResolved) {
  Interval d = PairedDifference({101, 99, 102, 98}, {100, 100, 100, 100});
  EXPECT_LT(d.lo, 0);
  EXPECT_GT(d.hi, 0);
  EXPECT_FALSE(d.Resolved());
  EXPECT_FALSE(MeanInterval({5}).Resolved());  // one sample: no interval at all
}

TEST(BenchStats, SlopePerRound) {
  // y = 100 + 3 * level in every round, plus a per-round offset that the slope ignores.
  std::vector<double> levels = {1, 2, 4, 8};
  std::vector<std::vector<double>> by_level;
  for (double l : levels) by_level.push_back({100 + 3 * l, 120 + 3 * l, 90 + 3 * l});
  Interval k = MeanSlope(by_level, levels);
  EXPECT_NEAR(k.mean, 3.0, 1e-9);
  EXPECT_TRUE(k.Resolved());
}

TEST(BenchStats, RelativeSlopeIsZeroWhenFlatAndHundredWhenProportional) {
  std::vector<double> sizes = {4, 64, 1024};
  std::vector<std::vector<double>> flat, proportional;
  for (double x : sizes) {
    flat.push_back({500, 510, 490});
    proportional.push_back({10 * x, 11 * x, 9 * x});  // cost per unit the same at every size
  }
  EXPECT_NEAR(MeanRelativeSlope(flat, sizes).mean, 0.0, 1e-9);
  Interval p = MeanRelativeSlope(proportional, sizes);
  EXPECT_NEAR(p.mean, 100.0, 1e-9);
  EXPECT_TRUE(p.Resolved());
}

TEST(BenchStats, ResolvedIntervalIsDescribedWithItsMean) {
  EXPECT_EQ(DescribeInterval({3.1, 2.5, 3.7, 5}, "%", "overhead"), "+3.10 % [+2.50, +3.70]");
}

TEST(BenchStats, UnresolvedIntervalGivesNoPointValueOnlyItsBound) {
  Interval i{0.2, -0.4, 0.8, 5};
  EXPECT_DOUBLE_EQ(i.Bound(), 0.8);
  std::string text = DescribeInterval(i, "%", "overhead");
  EXPECT_EQ(text, "not resolved, -0.40 % .. +0.80 % (|overhead| < 0.80 %)");
  EXPECT_EQ(text.find("+0.20"), std::string::npos);
  EXPECT_EQ(DescribeInterval({-1.5, -3.0, 0.5, 4}, "ns/level", "slope"),
            "not resolved, -3.00 ns/level .. +0.50 ns/level (|slope| < 3.00 ns/level)");
  EXPECT_EQ(DescribeInterval({7, 7, 7, 1}, "%", "overhead"),
            "not resolved, 1 sample(s): no interval");
}

}  // namespace
}  // namespace ckc::bench
