// Shared helpers of the cgroups suite: the machine's hierarchies, children started inside a group
// with a channel to the test, and the small workloads (touch memory, burn CPU) rows reuse.
//
//   ASSERT_OK_AND_ASSIGN(Cgroup cg, Cgroup::Create(Cgroups(), "x", {"memory"}));
//   ASSERT_OK_AND_ASSIGN(InGroup c, StartIn(cg, [](Channel& ch) { ...; return 0; }));
//   ASSERT_OK(c.ch.Expect("ready", 10s));
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>

#include <sys/types.h>

#include "cgroups.h"
#include "ckc_test.h"

namespace ckc::test {

// The hierarchies of this machine, read once.
const CgroupSystem& Cgroups();

// cgroup-mode:v1-has-no-cgroup2 unless a cgroup2 tree is mounted.
Requirement Cgroup2Mounted();
// A domain controller (memory, io, hugetlb, rdma, misc) usable in the cgroup2 tree, or a
// controller:... reason. Needed by rows about v2's no-internal-process rule.
Requirement V2DomainController();
// The first such controller, if any.
std::optional<std::string> FirstV2DomainController();
// setup:needs-2-cpus on a single-CPU machine.
Requirement TwoCpus();
// Swap accounting in `cg` (v1 memory.memsw.*, v2 memory.swap.max): when the files are absent,
// cmdline:swapaccount=0 if the kernel was booted so, else kernel:memory.memsw (v1) or
// kernel:memory.swap.max (v2). Only rows about swap limits need it.
Requirement SwapAccounting(const Cgroup& cg);
// Kernel-memory accounting of the memory controller: cmdline:cgroup.memory=nokmem when the
// kernel was booted with it off (the counters then stay at 0; no file tells).
Requirement KmemAccounting();

// memory.max of `cg` = `bytes`, and the group may not swap, so a group over its limit has only
// page cache to give back. With swap on the machine: v1 memory.swappiness 0 (limit reclaim then
// never swaps; no memsw, so swapaccount=0 does not matter, and the memory counter is the one
// that refuses charges, so failcnt moves), v2 memory.swap.max 0 where swap accounting has it
// (else nothing: the group swaps until swap is full). Without swap, the limit alone.
Status LimitMemoryNoSwap(const Cgroup& cg, uint64_t bytes);

// How much a counter grew from `from` to `to`, negative when it shrank (an unsigned difference
// would wrap into a huge growth, and a pass).
inline int64_t Grew(uint64_t from, uint64_t to) { return int64_t(to) - int64_t(from); }

// The cgroup2 directory of a plain group (made with no controllers); "" when it has none.
inline std::string DirOf(const Cgroup& cg) {
  auto dir = cg.Dir("");
  return dir ? *dir : std::string();
}

// A counter in memory shared with forked children (value is null when mmap failed).
struct SharedCounter {
  SharedCounter();
  ~SharedCounter();
  SharedCounter(const SharedCounter&) = delete;
  SharedCounter& operator=(const SharedCounter&) = delete;
  std::atomic<uint64_t>* value;
};

// A child started inside a group, with its end of a channel.
struct InGroup {
  Child child;
  Channel ch;
};
Result<InGroup> StartIn(const Cgroup& cg, const std::function<int(Channel&)>& fn);
// Runs `fn` inside `cg` to the end, collecting its messages (as Collect: a child whose setup
// broke is an error).
Result<ChildResult> RunIn(const Cgroup& cg, const std::function<int(Channel&)>& fn,
                          std::chrono::milliseconds timeout = std::chrono::seconds(30));

// In a child: maps and touches `bytes` of anonymous memory (kept mapped); false on failure.
bool TouchAnon(size_t bytes);
// In a child: reads `len` bytes at `offset` of `path` through the page cache (so the pages are
// charged to the reader's group); 0 or an errno.
int ReadThroughCache(const std::string& path, off_t offset, size_t len);
// In a child: allocates and touches 1 MiB after 1 MiB until it is killed.
[[noreturn]] void AllocateForever();
// Burns CPU on the calling thread until `wall` has passed.
void Spin(std::chrono::milliseconds wall);
// CPU time (user + system) of the calling process, in microseconds.
uint64_t SelfCpuUsec();
// Pins the calling process to `cpu`; false on failure.
bool PinTo(int cpu);
// Polls `pred` every 10 ms until it is true or `timeout` passes.
bool Eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

// A time-based measurement: an error if setup broke, nullopt if within tolerance, else what was
// seen (with the tolerance). RetryOnce runs it again after a miss (noisy 2-CPU machines, TCG)
// and fails the test with both observations if the second misses too; a setup error is
// Broken().
using Attempt = std::function<Result<std::optional<std::string>>()>;
void RetryOnce(const Attempt& attempt);

inline constexpr size_t kMiB = size_t{1} << 20;

}  // namespace ckc::test
