// Rows cpu.* and cpuset.pin (D "CPU cgroup", "Cpuset cgroup"; cgroup-v1/cpuacct.rst,
// scheduler/sched-bwc.rst, cgroup-v2.rst "CPU", "Cpuset").
#include <sched.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <cmath>
#include <numeric>

#include "cg_suite.h"

namespace ckc::test {
namespace {

// v1 counts CPU time in cpuacct, a controller of its own.
Requirement CpuUsage() {
  return {[]() -> std::optional<std::string> {
    auto v = Cgroups().VersionOf("cpu");
    if (!v || *v == CgroupVersion::kV2 || Cgroups().layout().V1Mount("cpuacct"))
      return std::nullopt;
    return "controller:cpuacct (v1 cpu is mounted without cpuacct)";
  }};
}

int LastCpu() { return OnlineCpus() - 1; }

// A child in `cg` that waits for "go", spins for `wall` (pinned to `cpu` if >= 0) and reports its
// own CPU time in microseconds.
Result<InGroup> Spinner(const Cgroup& cg, std::chrono::milliseconds wall, int cpu) {
  return StartIn(cg, [=](Channel& ch) {
    if (cpu >= 0 && !PinTo(cpu)) return ReportErrno(ch, "sched_setaffinity");
    (void)ch.Send("ready");
    if (!ch.Expect("go").has_value()) return 1;
    Spin(wall);
    return Report(ch, std::to_string(SelfCpuUsec()), 0);
  });
}

Result<uint64_t> Finish(InGroup& c) {
  CKC_TRY(msg, c.ch.Recv(20s));
  CKC_TRY(st, c.child.Wait(10s));
  if (!st.Exited(0)) return Failure("child", msg, st.Describe());
  return std::stoull(msg);
}

TEST(Cpu, UsageAccounting) {
  // Source: D "CPU cgroup" ("keeps track of CPU time used by a group ... easier and more
  // accurate than getrusage"); cgroup-v1/cpuacct.rst cpuacct.usage; cgroup-v2.rst cpu.stat.
  CKC_BEHAVIOUR("cpu.usage-accounting", "D",
                "the CPU time a group reports (v1 cpuacct.usage, v2 cpu.stat usage_usec) agrees "
                "with getrusage() of its processes to within 5 %");
  CKC_REQUIRE(Root(), Controller("cpu"), CpuUsage());
  RetryOnce([]() -> Result<std::optional<std::string>> {
    CKC_TRY(cg, Cgroup::Create(Cgroups(), "usage", {"cpu"}));
    CKC_TRY(c, Spinner(cg, 500ms, -1));
    CKC_CHECK(c.ch.Expect("ready", 10s));
    CKC_CHECK(c.ch.Send("go"));
    CKC_TRY(rusage_us, Finish(c));
    CKC_TRY(stat, cg.CpuStats());
    double diff = std::abs(double(stat.usage_usec) - double(rusage_us));
    if (diff <= 0.05 * double(rusage_us) + 2000) return std::nullopt;
    return fmt::format(
        "group usage {} us vs getrusage {} us: off by {:.1f} % (tolerance 5 % + 2 ms)",
        stat.usage_usec, rusage_us, 100.0 * diff / double(std::max<uint64_t>(rusage_us, 1)));
  });
}

TEST(Cpu, PerCpuUsage) {
  // Source: D "CPU cgroup" ("keeps track of usage per CPU as well"); cgroup-v1/cpuacct.rst
  // cpuacct.usage_percpu.
  CKC_BEHAVIOUR("cpu.per-cpu-usage", "D",
                "v1: cpuacct.usage_percpu breaks a group's CPU time down by CPU, and the per-CPU "
                "figures add up to the group's total");
  CKC_REQUIRE(Root(), ServedByCgroupVersion("cpu", 1, "v2-has-no-usage_percpu"), CpuUsage());
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "percpu", {"cpu"}));
  ASSERT_OK_AND_ASSIGN(InGroup c, Spinner(cg, 300ms, LastCpu()));
  ASSERT_OK(c.ch.Expect("ready", 10s));
  ASSERT_OK(c.ch.Send("go"));
  ASSERT_OK_AND_ASSIGN(uint64_t rusage_us, Finish(c));
  ASSERT_OK_AND_ASSIGN(std::vector<uint64_t> per_cpu, cg.CpuUsagePerCpuNs());
  ASSERT_OK_AND_ASSIGN(CpuStat stat, cg.CpuStats());
  ASSERT_EQ(per_cpu.size(), size_t(OnlineCpus())) << "one figure per CPU";
  uint64_t sum_us = std::accumulate(per_cpu.begin(), per_cpu.end(), uint64_t{0}) / 1000;
  EXPECT_NEAR(double(sum_us), double(stat.usage_usec), 0.01 * double(stat.usage_usec) + 1000)
      << "the per-CPU figures sum to cpuacct.usage (tolerance 1 % + 1 ms)";
  EXPECT_GE(per_cpu[LastCpu()] / 1000, uint64_t(0.9 * double(sum_us)))
      << "a child pinned to CPU " << LastCpu()
      << " is counted there; per-CPU ns: " << fmt::format("{}", fmt::join(per_cpu, " "))
      << "; getrusage " << rusage_us << " us";
}

TEST(Cpu, WeightsProportional) {
  // Source: D "CPU cgroup" ("allows to set relative weights"); cgroup-v2.rst cpu.weight;
  // cgroup-v1 cpu.shares (weight 100 = 1024 shares). Both children share one pinned CPU.
  CKC_BEHAVIOUR("cpu.weights-proportional", "D",
                "two CPU-bound groups sharing one CPU with weights in the ratio 1:3 receive CPU "
                "time in roughly that ratio");
  CKC_REQUIRE(Root(), Controller("cpu"), CpuUsage());
  RetryOnce([]() -> Result<std::optional<std::string>> {
    CKC_TRY(light, Cgroup::Create(Cgroups(), "weight100", {"cpu"}));
    CKC_TRY(heavy, Cgroup::Create(Cgroups(), "weight300", {"cpu"}));
    CKC_CHECK(light.SetCpuWeight(100));
    CKC_CHECK(heavy.SetCpuWeight(300));
    CKC_TRY(a, Spinner(light, 2000ms, LastCpu()));
    CKC_TRY(b, Spinner(heavy, 2000ms, LastCpu()));
    CKC_CHECK(a.ch.Expect("ready", 10s));
    CKC_CHECK(b.ch.Expect("ready", 10s));
    CKC_CHECK(a.ch.Send("go"));
    CKC_CHECK(b.ch.Send("go"));
    CKC_TRY(ua, Finish(a));
    CKC_TRY(ub, Finish(b));
    double ratio = double(ub) / double(std::max<uint64_t>(ua, 1));
    if (ratio >= 2.25 && ratio <= 3.75) return std::nullopt;
    return fmt::format(
        "CPU time 1:3 weights on one CPU: {} us vs {} us, ratio {:.2f} (expected 3 +- 25 %)", ua,
        ub, ratio);
  });
}

TEST(Cpu, QuotaThrottles) {
  // Source: scheduler/sched-bwc.rst (cfs_quota_us / cfs_period_us, nr_throttled);
  // cgroup-v2.rst cpu.max. 20 ms per 100 ms period = 20 % of one CPU.
  CKC_BEHAVIOUR("cpu.quota-throttles", "K",
                "a CPU quota of 20 % of one CPU keeps a busy group close to that share, and the "
                "throttling shows up in cpu.stat");
  CKC_REQUIRE(Root(), Controller("cpu"), CpuUsage());
  RetryOnce([]() -> Result<std::optional<std::string>> {
    CKC_TRY(cg, Cgroup::Create(Cgroups(), "quota", {"cpu"}));
    CKC_CHECK(cg.SetCpuMax(20000, 100000));
    CKC_TRY(c, Spinner(cg, 1500ms, -1));
    CKC_CHECK(c.ch.Expect("ready", 10s));
    CKC_CHECK(c.ch.Send("go"));
    CKC_TRY(used_us, Finish(c));
    CKC_TRY(stat, cg.CpuStats());
    double share = double(used_us) / 1.5e6;
    if (share >= 0.15 && share <= 0.25 && stat.nr_throttled > 0) return std::nullopt;
    return fmt::format(
        "share of one CPU {:.3f} over 1.5 s (expected 0.20 +- 0.05), nr_throttled {} "
        "(expected > 0)",
        share, stat.nr_throttled);
  });
}

// In a child: after "go", reports "affinity <cpus>" (sched_getaffinity) and what asking for CPU
// 0 alone gave ("setaffinity(0) ok" or "setaffinity(0) EINVAL").
int ReportAffinity(Channel& ch) {
  if (!ch.Expect("go", 10s)) return 1;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return ReportErrno(ch, "sched_getaffinity");
  std::string cpus;
  for (int i = 0; i < CPU_SETSIZE; ++i) {
    if (CPU_ISSET(i, &set)) cpus += (cpus.empty() ? "" : ",") + std::to_string(i);
  }
  (void)ch.Send("affinity " + cpus);
  CPU_ZERO(&set);
  CPU_SET(0, &set);
  int rc = ::sched_setaffinity(0, sizeof set, &set);
  return Report(ch, rc == 0 ? "setaffinity(0) ok" : "setaffinity(0) " + ErrnoName(errno), 0);
}

TEST(Cpuset, Pin) {
  // Source: D "Cpuset cgroup" ("pin groups to specific CPU(s)"); cgroup-v1/cpusets.rst 1.4;
  // cgroup-v2.rst cpuset.cpus; sched_setaffinity(2) EINVAL "no CPU in the mask is permitted".
  // Both ways into the group: moved there (cgroup.procs), and on cgroup2 also born there
  // (clone3 CLONE_INTO_CGROUP; kernels before the fix "cgroup/cpuset: Make cpuset_fork() handle
  // CLONE_INTO_CGROUP properly" leave such a child the parent's CPUs).
  // Negative control: cpuset.cpus left at the parent's (all CPUs) fails "affinity 0,1".
  CKC_BEHAVIOUR("cpuset.pin", "D",
                "a process in a group with a restricted cpuset.cpus sees only those CPUs in "
                "sched_getaffinity(), and asking for an affinity outside them is refused (EINVAL)");
  CKC_REQUIRE(Root(), Controller("cpuset"), TwoCpus());
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "pin", {"cpuset"}));
  int last = LastCpu();
  ASSERT_OK(cg.SetCpusetCpus(std::to_string(last)));
  std::vector<std::pair<std::string, ChildResult>> seen;
  {  // moved: started where the test runs, then written into cgroup.procs
    ASSERT_OK_AND_ASSIGN(Channel ch, Channel::Create());
    ASSERT_OK_AND_ASSIGN(Child child, Spawn({}, [&] {
                           ch.BecomeChild();
                           return ReportAffinity(ch);
                         }));
    ch.BecomeParent();
    ASSERT_OK(cg.Attach(child.pid()));
    ASSERT_OK(ch.Send("go"));
    ASSERT_OK_AND_ASSIGN(ChildResult r, Collect(child, ch));
    seen.emplace_back("moved into the group", std::move(r));
  }
  if (cg.AllV2()) {  // born: SpawnIn uses CLONE_INTO_CGROUP where the kernel has it
    ASSERT_OK_AND_ASSIGN(InGroup c, StartIn(cg, ReportAffinity));
    ASSERT_OK(c.ch.Send("go"));
    ASSERT_OK_AND_ASSIGN(ChildResult r, Collect(c.child, c.ch));
    seen.emplace_back("started in the group (CLONE_INTO_CGROUP)", std::move(r));
  }
  for (const auto& [how, r] : seen) {
    SCOPED_TRACE(how);
    ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
    ASSERT_EQ(r.reports.size(), 2u) << r.Describe();
    EXPECT_EQ(r.reports[0], "affinity " + std::to_string(last))
        << "sched_getaffinity of a process " << how << " with cpuset.cpus=" << last;
    EXPECT_EQ(r.reports[1], "setaffinity(0) EINVAL") << "affinity outside the set is rejected";
  }
}

}  // namespace
}  // namespace ckc::test
