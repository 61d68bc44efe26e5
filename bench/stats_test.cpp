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

}  // namespace
}  // namespace ckc::bench
