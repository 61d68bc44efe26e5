// Row mem.soft-limit-not-enforced: soft limits name an amount without capping it (D "Soft limits
// and hard limits"; cgroup-v1/memory.rst 7 "Soft limits"; cgroup-v2.rst memory.low, memory.high).
// Moved out of memory_test.cpp whole, so the row is declared once.
#include <unistd.h>

#include <fmt/format.h>

#include "cg_suite.h"

namespace ckc::test {
namespace {

constexpr size_t kSoft = 16 * kMiB, kTouch = 48 * kMiB;

// A child in `cg` that touches kTouch of anonymous memory, says "touched" and waits for "exit".
Result<InGroup> StartPastSoftLimit(const Cgroup& cg) {
  return StartIn(cg, [](Channel& ch) {
    if (!TouchAnon(kTouch)) return ReportErrno(ch, "mmap");
    (void)ch.Send("touched");
    return ch.Expect("exit", 60s).has_value() ? 0 : 1;
  });
}

// A soft limit (`knob` = kSoft) the child's kTouch exceeds: the child is not killed and the
// group's usage goes past the soft limit.
void CheckExceededWithoutKill(const std::string& name, const std::string& knob) {
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), name, {"memory"}));
  ASSERT_OK(cg.Write("memory", knob, std::to_string(kSoft)));
  ASSERT_OK_AND_ASSIGN(InGroup c, StartPastSoftLimit(cg));
  auto touched = c.ch.Expect("touched", 20s);
  ASSERT_OK_AND_ASSIGN(uint64_t usage, cg.MemoryCurrent());
  (void)c.ch.Send("exit");
  ASSERT_OK_AND_ASSIGN(ExitStatus st, c.child.Wait(10s));
  ASSERT_OK_AND_ASSIGN(MemoryEvents ev, cg.GetMemoryEvents());
  EXPECT_TRUE(touched.has_value() && st.Exited(0))
      << "48 MiB over " << knob << " 16 MiB: " << st.Describe();
  EXPECT_GE(usage, 40 * kMiB) << "usage past " << knob << " 16 MiB";
  EXPECT_EQ(ev.oom_kill, 0u) << "no OOM kill under " << knob;
}

// v2 memory.high 1 MiB below what the child needs: throttled (it may sleep in reclaim), never
// OOM-killed; memory.events high counts the breaches and the child runs to its end.
void CheckHighBelowNeed() {
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "soft-high", {"memory"}));
  // Without swap accounting the group could swap its way under memory.high; with no swap on the
  // machine there is nothing to set.
  if (auto st = cg.SetSwapMax(0); !st && CurrentSwap().total_kib > 0) ASSERT_OK(st);
  ASSERT_OK_AND_ASSIGN(uint64_t base, cg.MemoryCurrent());
  constexpr size_t kNeed = 17 * kMiB;
  uint64_t high = base + kNeed - kMiB;
  ASSERT_OK(cg.SetMemoryHigh(high));
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunIn(
                                          cg,
                                          [](Channel& ch) {
                                            if (!TouchAnon(kNeed)) return ReportErrno(ch, "mmap");
                                            return Report(ch, "touched", 0);
                                          },
                                          60s));
  ASSERT_OK_AND_ASSIGN(MemoryEvents ev, cg.GetMemoryEvents());
  std::string peak = cg.Read("memory", "memory.peak").value_or("n/a");
  EXPECT_TRUE(r.status.Exited(0)) << "17 MiB under memory.high " << high / 1024
                                  << " KiB: " << r.Describe();
  EXPECT_EQ(ev.oom + ev.oom_kill, 0u) << "memory.high never OOM-kills (events oom " << ev.oom
                                      << ", oom_kill " << ev.oom_kill << ")";
  EXPECT_GE(ev.high, 1u) << "memory.events high counts the group's breaches (memory.peak " << peak
                         << ")";
}

TEST(Memory, SoftLimitNotEnforced) {
  // Source: D "Soft limits and hard limits" ("Soft limits are not enforced"); cgroup-v1/memory.rst
  // 7 (soft_limit_in_bytes); cgroup-v2.rst memory.low (best-effort protection) and memory.high
  // ("never invokes the OOM killer").
  // Negative control: a soft limit enforced as a hard one OOM-kills the child: fails.
  CKC_BEHAVIOUR("mem.soft-limit-not-enforced", "D",
                "soft limits do not kill: a group goes past v1 soft_limit_in_bytes or v2 "
                "memory.low without being killed, and a v2 group whose memory.high is below its "
                "need is throttled (memory.events high grows) yet runs to completion");
  CKC_REQUIRE(Root(), Controller("memory"));
  ASSERT_OK_AND_ASSIGN(CgroupVersion v, Cgroups().VersionOf("memory"));
  if (v == CgroupVersion::kV1) {
    CheckExceededWithoutKill("soft", "memory.soft_limit_in_bytes");
    return;
  }
  CheckExceededWithoutKill("soft-low", "memory.low");
  if (HasFatalFailure()) return;
  CheckHighBelowNeed();
}

}  // namespace
}  // namespace ckc::test
