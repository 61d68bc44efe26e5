// Rows mem.*: the memory controller (D "Memory cgroup", F "cgroups"; cgroup-v1/memory.rst,
// cgroup-v2.rst "Memory").
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <vector>

#include "cg_suite.h"
#include "loopdev.h"

namespace ckc::test {
namespace {

// Free swap the swap rows need: what they push out (32 MiB) with room to spare.
constexpr uint64_t kSwapRowsFree = 64 * kMiB;

// VmSwap of `pid` in bytes (/proc/PID/status): the kernel's per-process count of swapped-out
// pages, there whether or not the memory controller accounts swap.
Result<uint64_t> VmSwapBytes(pid_t pid) {
  CKC_TRY(status, ReadFile(fmt::format("/proc/{}/status", pid)));
  auto at = status.find("VmSwap:");
  if (at == std::string::npos)
    return Failure("read", fmt::format("/proc/{}/status", pid), "no VmSwap");
  return std::strtoull(status.c_str() + at + 7, nullptr, 10) * 1024;
}

TEST(Memory, StatAnonFile) {
  // Source: D "Memory cgroup: accounting" (file vs anonymous pages); cgroup-v2.rst memory.stat
  // anon/file; cgroup-v1/memory.rst 5.2 rss/cache.
  // Negative control: booted with cgroup_disable=memory it skips cmdline:cgroup_disable=memory; a
  // kernel that counted the read pages as anon (or not at all) fails the file expectations.
  CKC_BEHAVIOUR("mem.stat-anon-file", "D",
                "memory.stat tracks anonymous and page-cache memory in separate counters, so "
                "touching anonymous memory grows anon alone and reading a file grows file alone");
  CKC_REQUIRE(Root(), Controller("memory"));
  ASSERT_OK_AND_ASSIGN(LoopDevice loop, LoopDevice::Create(TestDir() + "/disk.img", 64 * kMiB));
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "stat", {"memory"}));
  ASSERT_OK_AND_ASSIGN(InGroup c, StartIn(cg, [&](Channel& ch) {
                         (void)ch.Send("start");
                         if (!ch.Expect("anon").has_value() || !TouchAnon(32 * kMiB)) return 1;
                         (void)ch.Send("anon-done");
                         if (!ch.Expect("file").has_value()) return 1;
                         if (int err = ReadThroughCache(loop.path(), 16 * kMiB, 32 * kMiB))
                           return Report(ch, ErrnoName(err));
                         (void)ch.Send("file-done");
                         return ch.Expect("exit").has_value() ? 0 : 1;
                       }));
  ASSERT_OK(c.ch.Expect("start", 10s));
  ASSERT_OK_AND_ASSIGN(MemoryStat s0, cg.MemoryStats());
  ASSERT_OK(c.ch.Send("anon"));
  ASSERT_OK(c.ch.Expect("anon-done", 20s));
  ASSERT_OK_AND_ASSIGN(MemoryStat s1, cg.MemoryStats());
  ASSERT_OK(c.ch.Send("file"));
  ASSERT_OK(c.ch.Expect("file-done", 20s));
  ASSERT_OK_AND_ASSIGN(MemoryStat s2, cg.MemoryStats());
  ASSERT_OK(c.ch.Send("exit"));
  EXPECT_GE(Grew(s0.anon, s1.anon), int64_t(28 * kMiB))
      << "anon after touching 32 MiB: " << s0.anon << " -> " << s1.anon;
  EXPECT_LT(Grew(s0.file, s1.file), int64_t(4 * kMiB))
      << "file must not grow from anonymous memory: " << s0.file << " -> " << s1.file;
  EXPECT_GE(Grew(s1.file, s2.file), int64_t(28 * kMiB))
      << "file after reading 32 MiB of a block device: " << s1.file << " -> " << s2.file;
  EXPECT_LT(Grew(s1.anon, s2.anon), int64_t(4 * kMiB))
      << "anon must not grow from reading: " << s1.anon << " -> " << s2.anon;
  ASSERT_OK_AND_ASSIGN(ExitStatus st, c.child.Wait(10s));
  EXPECT_TRUE(st.Exited(0)) << st.Describe();
}

TEST(Memory, StatActiveInactive) {
  // Source: D "Memory cgroup: accounting" (active = recently accessed, inactive = candidate for
  // eviction); memory.stat active_anon/inactive_anon/active_file/inactive_file.
  // Negative control: booted with cgroup_disable=memory it skips cmdline:cgroup_disable=memory; a
  // memory.stat without the four LRU keys fails it.
  CKC_BEHAVIOUR("mem.stat-active-inactive", "D",
                "memory.stat reports active and inactive LRU sizes for anonymous and file pages");
  CKC_REQUIRE(Root(), Controller("memory"));
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "lru", {"memory"}));
  ASSERT_OK_AND_ASSIGN(InGroup c, StartIn(cg, [](Channel& ch) {
                         if (!TouchAnon(16 * kMiB)) return ReportErrno(ch, "mmap");
                         (void)ch.Send("touched");
                         return ch.Expect("exit").has_value() ? 0 : 1;
                       }));
  ASSERT_OK(c.ch.Expect("touched", 20s));
  ASSERT_OK_AND_ASSIGN(MemoryStat s, cg.MemoryStats());
  ASSERT_OK(c.ch.Send("exit"));
  for (const char* key : {"active_anon", "inactive_anon", "active_file", "inactive_file"}) {
    EXPECT_TRUE(s.raw.contains(key)) << "memory.stat has no " << key;
  }
  EXPECT_GE(s.active_anon + s.inactive_anon, 14 * kMiB)
      << "the LRU lists hold the 16 MiB touched: active_anon " << s.active_anon
      << ", inactive_anon " << s.inactive_anon;
  ASSERT_OK_AND_ASSIGN(ExitStatus st, c.child.Wait(10s));
  EXPECT_TRUE(st.Exited(0)) << st.Describe();
}

TEST(Memory, LimitOomKill) {
  // Source: F "cgroups": a 4M memory.memsw.limit_in_bytes and `dd if=/dev/zero | read x` ->
  // "killed"; D "Soft limits and hard limits"; cgroup-v2.rst memory.max, memory.events oom_kill.
  // Negative control: booted with cgroup_disable=memory it skips; a child that only stalls is
  // killed by Wait's timeout, which is not the kernel's kill, and oom_kill stays 0: it fails.
  // swapaccount=0 does not skip it (v1 memory.swappiness 0 keeps the group off swap, not memsw).
  CKC_BEHAVIOUR("mem.limit-oom-kill", "F",
                "a process that goes past the group's hard memory limit with nothing left to "
                "reclaim is SIGKILLed by the OOM killer, and the kill is counted in oom_kill");
  CKC_REQUIRE(Root(), Controller("memory"));
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "oom", {"memory"}));
  ASSERT_OK(LimitMemoryNoSwap(cg, 4 * kMiB));
  ASSERT_OK_AND_ASSIGN(Child child, SpawnIn(cg, []() -> int { AllocateForever(); }));
  ASSERT_OK_AND_ASSIGN(ExitStatus st, child.Wait(30s));
  EXPECT_TRUE(st.KilledBy(SIGKILL))  // false when Wait's own timeout killed it
      << "a child allocating without end under a 4 MiB limit: " << st.Describe();
  ASSERT_OK_AND_ASSIGN(MemoryEvents ev, cg.GetMemoryEvents());
  // The memory counter refuses the charges (no memsw limit is set), so its limit hits move too
  // (a memsw limit would refuse first, and 6.18's memsw.failcnt does not count).
  EXPECT_GE(ev.oom_kill, 1u) << "oom_kill counted (v1 memory.oom_control, v2 memory.events)";
  EXPECT_GE(ev.max, 1u) << "limit hits (v1 memory.failcnt, v2 memory.events max)";
}

TEST(Memory, LimitReclaimsCache) {
  // Source: D "Soft limits and hard limits" ("if the kernel cannot reclaim any memory, then the
  // OOM killer is triggered"): page cache is reclaimed first; cgroup-v1/memory.rst 2.5 Reclaim.
  // Negative control: booted with cgroup_disable=memory it skips; a kernel that could not reclaim
  // the cache OOM-kills the reader (oom_kill 1, killed by SIGKILL): it fails. No memsw needed.
  CKC_BEHAVIOUR("mem.limit-reclaims-cache", "D",
                "page cache beyond the group's limit is reclaimed, so reading more than the limit "
                "through the cache triggers no OOM kill");
  CKC_REQUIRE(Root(), Controller("memory"));
  ASSERT_OK_AND_ASSIGN(LoopDevice loop, LoopDevice::Create(TestDir() + "/disk.img", 128 * kMiB));
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "reclaim", {"memory"}));
  ASSERT_OK(LimitMemoryNoSwap(cg, 32 * kMiB));
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunIn(cg, [&](Channel& ch) {
                         if (int err = ReadThroughCache(loop.path(), 0, 128 * kMiB))
                           return Report(ch, ErrnoName(err));
                         return 0;
                       }));
  EXPECT_TRUE(r.status.Exited(0)) << "reading 128 MiB through the cache under a 32 MiB limit: "
                                  << r.Describe();
  ASSERT_OK_AND_ASSIGN(MemoryEvents ev, cg.GetMemoryEvents());
  EXPECT_EQ(ev.oom_kill, 0u) << "no OOM kill while cache can be reclaimed";
  EXPECT_GE(ev.max, 1u) << "the limit was reached (v1 memory.failcnt, v2 memory.events max), so "
                           "reclaim, not room to spare, kept the reader alive";
  ASSERT_OK_AND_ASSIGN(uint64_t usage, cg.MemoryCurrent());
  EXPECT_LE(usage, 32 * kMiB) << "usage stays under the limit";
}

// Allocates `first` MiB, reports, then `second` MiB more, reports.
int AllocateInSteps(Channel& ch, size_t first, size_t second) {
  if (!TouchAnon(first * kMiB)) return ReportErrno(ch, "mmap");
  (void)ch.Send(fmt::format("{} MiB", first));
  if (!TouchAnon(second * kMiB)) return ReportErrno(ch, "mmap");
  (void)ch.Send(fmt::format("{} MiB more", second));
  return 0;
}

TEST(Memory, MemswLimitKill) {
  // Source: D "Setting up a limit with the memory cgroup" (onehundredmegs: memsw 100000000,
  // 80 MB fits, 20 MB more does not); cgroup-v1/memory.rst 2.4 swap extension.
  // Negative control: booted with swapaccount=0 it skips cmdline:swapaccount=0; with no swap or
  // less than 64 MiB of it free, needs:swap; a stall instead of a kill (timed out, oom_kill 0)
  // fails it.
  CKC_BEHAVIOUR("mem.memsw-limit-kill", "D",
                "v1: memory.memsw.limit_in_bytes bounds memory and swap together, so a process can "
                "use 80 MB under a 100 MB cap but is killed when it takes 20 MB more, though swap "
                "is free");
  CKC_REQUIRE(Root(), ServedByCgroupVersion("memory", 1, "v2-has-no-memsw"), Swap(kSwapRowsFree));
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "onehundredmegs", {"memory"}));
  CKC_REQUIRE(SwapAccounting(cg));
  // memsw may not be below limit_in_bytes: a 64 MiB RAM limit, memory+swap 100 MB.
  ASSERT_OK(cg.SetMemoryMax(64 * kMiB));
  ASSERT_OK(cg.Write("memory", "memory.memsw.limit_in_bytes", "100000000"));
  ASSERT_OK_AND_ASSIGN(ChildResult r,
                       RunIn(cg, [](Channel& ch) { return AllocateInSteps(ch, 76, 20); }));
  ASSERT_FALSE(r.reports.empty()) << "80 MB (76 MiB) must fit under memsw 100 MB: " << r.Describe();
  EXPECT_EQ(r.reports[0], "76 MiB") << r.Describe();
  EXPECT_TRUE(r.status.KilledBy(SIGKILL) && r.reports.size() == 1)
      << "20 MB more must be killed although swap is free: " << r.Describe();
  ASSERT_OK_AND_ASSIGN(MemoryEvents ev, cg.GetMemoryEvents());
  EXPECT_GE(ev.oom_kill, 1u) << "the kernel's kill, counted in memory.oom_control oom_kill";
  // The 64 MiB RAM limit refused charges before swap took the rest (memory.failcnt; 6.18 does
  // not count memsw.failcnt, so only the sum is asked for).
  EXPECT_GE(ev.max, 1u) << "memory.failcnt + memory.memsw.failcnt";
}

TEST(Memory, LimitWithoutMemswSwaps) {
  // Source: D "Memory cgroup: limits" (physical memory vs total memory including swap);
  // cgroup-v1/memory.rst 2.4: without memsw a group at its limit swaps out.
  // Negative control: with no swap or less than 64 MiB of it free it skips needs:swap; booted with
  // swapaccount=0 it still runs (the process's VmSwap shows the swapping, not memory.stat); a
  // group that was OOM-killed instead of swapping fails it.
  CKC_BEHAVIOUR("mem.limit-without-memsw-swaps", "D",
                "v1: when only the memory limit is set and swap is available, a process over the "
                "limit keeps running by having its pages swapped out");
  CKC_REQUIRE(Root(), ServedByCgroupVersion("memory", 1, "v2-has-no-memsw"), Swap(kSwapRowsFree));
  ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "swaps", {"memory"}));
  ASSERT_OK(cg.SetMemoryMax(32 * kMiB));  // only the memory limit: memsw stays unlimited
  ASSERT_OK_AND_ASSIGN(InGroup c, StartIn(cg, [](Channel& ch) {
                         if (!TouchAnon(64 * kMiB)) return ReportErrno(ch, "mmap");
                         (void)ch.Send("touched");
                         return ch.Expect("exit").has_value() ? 0 : 1;
                       }));
  auto touched = c.ch.Expect("touched", 30s);
  auto swapped = VmSwapBytes(c.child.pid());
  ASSERT_OK_AND_ASSIGN(MemoryStat s, cg.MemoryStats());
  (void)c.ch.Send("exit");
  ASSERT_OK_AND_ASSIGN(ExitStatus st, c.child.Wait(10s));
  EXPECT_TRUE(touched.has_value() && st.Exited(0))
      << "64 MiB under a 32 MiB limit with swap: " << st.Describe();
  EXPECT_GE(swapped.value_or(0), 24 * kMiB)
      << "VmSwap of the process: "
      << (swapped ? std::to_string(*swapped) : swapped.error().Message());
  if (s.raw.contains("swap")) {  // memory.stat has "swap" only with swap accounting on
    EXPECT_GE(s.raw["swap"], 24 * kMiB) << "memory.stat swap of the group";
  }
}

TEST(Memory, SwapMaxKill) {
  // Source: cgroup-v2.rst memory.swap.max ("swap usage hard limit"): with memory.max reached and
  // no swap allowed, the group is OOM killed; with swap allowed it survives.
  // Negative control: booted with swapaccount=0 it skips cmdline:swapaccount=0 (no
  // memory.swap.max); with less than 64 MiB of swap free needs:swap; a stall (no oom_kill) fails.
  CKC_BEHAVIOUR("mem.swap-max-kill", "K",
                "v2: a process that outgrows memory.max is killed when memory.swap.max is 0 but "
                "keeps running when swap.max leaves it enough swap");
  CKC_REQUIRE(Root(), ServedByCgroupVersion("memory", 2, "v1-has-no-memory.swap.max"),
              Swap(kSwapRowsFree));
  ASSERT_OK_AND_ASSIGN(Cgroup tight, Cgroup::Create(Cgroups(), "noswap", {"memory"}));
  CKC_REQUIRE(SwapAccounting(tight));
  ASSERT_OK(tight.SetMemoryMax(32 * kMiB));
  ASSERT_OK(tight.SetSwapMax(0));
  ASSERT_OK_AND_ASSIGN(ChildResult r0,
                       RunIn(tight, [](Channel& ch) { return AllocateInSteps(ch, 16, 48); }));
  EXPECT_TRUE(r0.status.KilledBy(SIGKILL))
      << "64 MiB with memory.max 32M, swap.max 0: " << r0.Describe();
  ASSERT_OK_AND_ASSIGN(MemoryEvents tight_ev, tight.GetMemoryEvents());
  EXPECT_GE(tight_ev.oom_kill, 1u) << "memory.events oom_kill of the group with swap.max 0";
  ASSERT_OK_AND_ASSIGN(Cgroup loose, Cgroup::Create(Cgroups(), "swap", {"memory"}));
  ASSERT_OK(loose.SetMemoryMax(32 * kMiB));
  ASSERT_OK(loose.SetSwapMax(128 * kMiB));
  ASSERT_OK_AND_ASSIGN(ChildResult r1,
                       RunIn(loose, [](Channel& ch) { return AllocateInSteps(ch, 16, 48); }));
  EXPECT_TRUE(r1.status.Exited(0))
      << "64 MiB with memory.max 32M, swap.max 128M: " << r1.Describe();
  ASSERT_OK_AND_ASSIGN(MemoryEvents loose_ev, loose.GetMemoryEvents());
  EXPECT_EQ(loose_ev.oom_kill, 0u) << "memory.events oom_kill of the group with swap.max 128M";
}

}  // namespace
}  // namespace ckc::test
