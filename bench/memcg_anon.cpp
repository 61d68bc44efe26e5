// bench.memcg-fault-anon: the cost of charging anonymous pages to a memory cgroup (seed D: memcg
// accounting "adds some overhead" on every page a process grabs or releases).
//
// Loops (will-it-scale page_fault1 style: map, touch one byte per 4 KiB page, unmap):
//   write     user-mode write faults, one per page, then munmap (charge + uncharge)
//   populate  MAP_POPULATE: the kernel faults the pages in itself; no user-mode fault, so on a
//             hypervisor that traps every user fault the charge is a far larger share
//   thp       MADV_HUGEPAGE on a 2 MiB-aligned range: one charge of 512 pages per fault; each
//             round reads /proc/vmstat's thp_fault_alloc/thp_fault_fallback around its timed
//             cycles and errors ("thp:fallback N of M", "thp:none") unless every fault got a
//             huge page; skipped where THP is off ("thp:never", "thp:unavailable")
//   busy      populate while 8 helper processes on the same CPU charge pages too, each in its own
//             leaf cgroup (> the per-CPU charge stock's cached groups: 7 since 6.16, 1 before)
//             vs all in our leaf; paired, so the difference is the stock thrash alone
// Each runs in the root cgroup and in leaves at depth 1, 2, 4, 8 (16), and `write`, `populate`
// and `thp` also with memory.max at 125 % of the working set (a limit near usage, no reclaim:
// there is no swap). The scale curves (charge cost vs depth, vs sibling groups) are in
// memcg_curves.cpp.
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "checks.h"
#include "fd.h"
#include "memcg_cases.h"
#include "process.h"

namespace ckc::bench {
namespace {

CKC_BENCH_ROW(kFaultAnonRow, "bench.memcg-fault-anon", "D", "BM_MemcgFaultAnon",
              "the cost per 4 KiB anonymous page (and per huge page with THP) of charging it in "
              "the root cgroup and in a leaf memory cgroup at depth 1, 4 and 8, with and without a "
              "limit close to usage, through user write faults and through MAP_POPULATE");

constexpr std::size_t kHuge = 2u << 20;

Result<double> TouchCycle(std::size_t bytes, int extra_flags, bool huge) {
  double t0 = ThreadCpuSeconds();
  std::size_t len = huge ? bytes + kHuge : bytes;
  void* map = ::mmap(nullptr, len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | extra_flags, -1, 0);
  if (map == MAP_FAILED) return ErrnoError("mmap", fmt::format("{} bytes", len));
  auto* p = static_cast<volatile char*>(map);
  if (huge) {
    auto addr = reinterpret_cast<uintptr_t>(map);
    p = reinterpret_cast<volatile char*>((addr + kHuge - 1) & ~(kHuge - 1));
    if (::madvise(const_cast<char*>(p), bytes, MADV_HUGEPAGE) != 0) {
      ::munmap(map, len);
      return ErrnoError("madvise", "MADV_HUGEPAGE");
    }
  }
  if (!(extra_flags & MAP_POPULATE)) {
    for (std::size_t off = 0; off < bytes; off += kPage) p[off] = 1;
  }
  if (::munmap(map, len) != 0) return ErrnoError("munmap", fmt::format("{} bytes", len));
  return ThreadCpuSeconds() - t0;
}

// "" when MADV_HUGEPAGE can give huge pages here, else the skip reason.
std::string ThpUnavailable() {
  auto mode = ReadFile("/sys/kernel/mm/transparent_hugepage/enabled");
  return ThpModeProblem(mode ? std::optional<std::string>(*mode) : std::nullopt);
}

Result<ThpCounters> ReadThpCounters() {
  CKC_TRY(vmstat, ReadFile("/proc/vmstat"));
  return ParseThpCounters(vmstat);
}

// The THP loop's round check: every fault of the round got a huge page (the counters are
// system-wide; the measured CPU is pinned and the round lasts milliseconds).
void AddThpCheck(LoopSpec* thp) {
  auto before = std::make_shared<ThpCounters>();
  thp->round_begin = [before]() -> Status {
    CKC_TRY(now, ReadThpCounters());
    *before = now;
    return {};
  };
  thp->round_end = [before]() -> Result<std::string> {
    CKC_TRY(now, ReadThpCounters());
    return ThpFaultProblem(*before, now);
  };
}

// A helper that keeps charging pages on `cpu` in short bursts, waking often so that it preempts
// the measured process and leaves its own group in the CPU's charge stock.
int BusyHelper(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (::sched_setaffinity(0, sizeof set, &set) != 0) return 1;
  const timespec nap{0, 50'000};
  for (;;) {
    void* p = ::mmap(nullptr, 16 * kPage, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p != MAP_FAILED) ::munmap(p, 16 * kPage);
    ::nanosleep(&nap, nullptr);
  }
}

struct BusySet {
  std::vector<const Cgroup*> helper_groups;  // one per helper (distinct) or ours repeated
  const Cgroup* self = nullptr;
};

void RunBusy(benchmark::State& state, const MemcgEnv& env, const BusySet& set,
             const LoopSpec& spec) {
  std::vector<Child> helpers;
  for (const Cgroup* g : set.helper_groups) {
    int cpu = env.cpu();
    auto c = SpawnIn(*g, [cpu] { return BusyHelper(cpu); });
    if (!c) return Skip(state, c.error(), "setup:helper");
    helpers.push_back(std::move(*c));
  }
  RunLoop(state, env, set.self, spec);
  state.counters["helpers"] = static_cast<double>(helpers.size());
  // ~Child kills and reaps the helpers before their groups can go.
}

Status RegisterBusy(MemcgEnv& env, const LoopSpec& populate) {
  const int helpers = 8;
  CKC_TRY(self, env.Group("busy-self"));
  BusySet shared{std::vector<const Cgroup*>(helpers, self), self};
  BusySet distinct{{}, self};
  for (int i = 0; i < helpers; ++i) {
    CKC_TRY(g, env.Group(fmt::format("busy-h{}", i)));
    distinct.helper_groups.push_back(g);
  }
  std::string base = fmt::format("{}/loop:busy/depth:2/helpers:{}", populate.family, helpers);
  std::string shared_name = base + "/helper_cgroups:1";
  Add({.name = shared_name,
       .id = populate.id,
       .fn = [&env, shared, populate](benchmark::State& s) { RunBusy(s, env, shared, populate); },
       .iterations = populate.iterations,
       .manual_time = true});
  Add({.name = fmt::format("{}/helper_cgroups:{}", base, helpers),
       .id = populate.id,
       .fn = [&env, distinct,
              populate](benchmark::State& s) { RunBusy(s, env, distinct, populate); },
       .baseline = shared_name,
       .iterations = populate.iterations,
       .manual_time = true});
  return {};
}

}  // namespace

Status RegisterAnon(MemcgEnv& env) {
  const std::size_t user_bytes = ByMode<std::size_t>(1u << 20, 16u << 20, 128u << 20);
  const std::size_t kernel_bytes = ByMode<std::size_t>(2u << 20, 32u << 20, 128u << 20);
  LoopSpec write{.family = "BM_MemcgFaultAnon",
                 .id = kFaultAnonRow.id,
                 .loop = "write",
                 .bytes = user_bytes,
                 .iterations = ByMode<int64_t>(1, 1, 2),
                 .limit_pcts = {125},
                 .cycle = [](std::size_t b) { return TouchCycle(b, 0, false); }};
  RegisterDepthSeries(env, write);
  LoopSpec populate = write;
  populate.loop = "populate";
  populate.bytes = kernel_bytes;
  populate.iterations = ByMode<int64_t>(1, 4, 16);
  populate.limit_pcts = {125};
  populate.cycle = [](std::size_t b) { return TouchCycle(b, MAP_POPULATE, false); };
  RegisterDepthSeries(env, populate);
  LoopSpec thp = populate;
  thp.loop = "thp";
  thp.huge_bytes = kHuge;
  thp.unavailable = ThpUnavailable();
  thp.cycle = [](std::size_t b) { return TouchCycle(b, 0, true); };
  AddThpCheck(&thp);
  RegisterDepthSeries(env, thp);
  if (!env.accounting_off().empty()) return {};  // no groups for the helpers to charge
  populate.limit_pcts = {};
  CKC_CHECK(RegisterBusy(env, populate));
  return RegisterCurves(env, populate);
}

}  // namespace ckc::bench
