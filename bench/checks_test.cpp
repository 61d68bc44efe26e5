// Self-tests of bench/checks.h: the judgements that make a THP or page-cache round an error
// instead of a figure (no benchmark runs, no root).
#include "checks.h"

#include <gtest/gtest.h>

namespace ckc::bench {
namespace {

constexpr const char* kVmstat =
    "nr_free_pages 123\nthp_fault_alloc 42220\nthp_fault_fallback 3\n"
    "thp_fault_fallback_charge 1\nthp_collapse_alloc 9\n";

TEST(BenchChecks, ParsesThpFaultCountersOnly) {
  ThpCounters c = ParseThpCounters(kVmstat);
  EXPECT_EQ(c.fault_alloc, 42220u);
  EXPECT_EQ(c.fault_fallback, 3u);  // not thp_fault_fallback_charge's 1
  EXPECT_EQ(ParseThpCounters("nr_free_pages 1\n").fault_alloc, 0u);
}

TEST(BenchChecks, ThpRoundWithFallbacksIsAnError) {
  EXPECT_EQ(ThpFaultProblem({100, 0}, {113, 3}), "thp:fallback 3 of 16");
}

TEST(BenchChecks, ThpRoundWithoutHugePagesIsAnError) {
  EXPECT_EQ(ThpFaultProblem({100, 0}, {100, 0}).rfind("thp:none", 0), 0u);
}

TEST(BenchChecks, ThpRoundWithOnlyHugePagesIsFine) {
  EXPECT_EQ(ThpFaultProblem({100, 2}, {116, 2}), "");
}

TEST(BenchChecks, ThpModeNeverOrAbsentIsASkip) {
  EXPECT_EQ(ThpModeProblem(std::string("always [madvise] never\n")), "");
  std::string never = ThpModeProblem(std::string("always madvise [never]\n"));
  EXPECT_EQ(never, "thp:never (transparent_hugepage/enabled is [never])");
  EXPECT_TRUE(IsSkipReason(never));
  std::string absent = ThpModeProblem(std::nullopt);
  EXPECT_EQ(absent.rfind("thp:unavailable", 0), 0u);
  EXPECT_TRUE(IsSkipReason(absent));
}

TEST(BenchChecks, CacheMustBeDroppedBeforeAReadRound) {
  EXPECT_EQ(CacheDropProblem(0, 4096), "");
  EXPECT_EQ(CacheDropProblem(40, 4096), "");  // <= 1 %: pages in flight
  EXPECT_EQ(CacheDropProblem(4096, 4096),
            "cache:not-dropped 4096 of 4096 pages resident after posix_fadvise(DONTNEED)");
}

TEST(BenchChecks, SkipReasonsAreTheHostsNotTheMeasurements) {
  EXPECT_TRUE(IsSkipReason("needs:loop-device: open(/dev/loop-control): ENOENT"));
  EXPECT_TRUE(IsSkipReason("config:CONFIG_OVERLAY_FS: mount: ENODEV"));
  EXPECT_FALSE(IsSkipReason("thp:fallback 3 of 16"));
  EXPECT_FALSE(IsSkipReason("cache:not-dropped 9 of 512 pages"));
  EXPECT_FALSE(IsSkipReason("setup:attach: write(cgroup.procs): EBUSY"));
}

}  // namespace
}  // namespace ckc::bench
