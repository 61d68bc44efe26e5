// Helpers of the cgroup v2 rows (memory_v2_test.cpp, controllers_v2_test.cpp): probes for knobs
// that only newer kernels have, the cgroup2 mount's options and features, and the workloads those
// rows share (anonymous memory without huge pages, a child touching memory on cue and timing it).
//
//   CKC_REQUIRE(Root(), V2Knob("memory", "memory.peak"));      // kernel:memory.peak if absent
//   ASSERT_OK_AND_ASSIGN(InGroup c, StartToucher(cg, 16 * kMiB));   // maps, says "ready"
//   ASSERT_OK(c.ch.Send("go"));                                      // touches, reports timing
//   ASSERT_OK_AND_ASSIGN(TouchTiming t, AwaitTouch(c, 30s));         // wall and CPU time
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cg_suite.h"

namespace ckc::test {

// `file` exists in a new group with `controller` (v2 names), else kernel:<file>. A group that
// cannot be made meets the requirement: the row's own setup then reports the broken step.
Requirement V2Knob(std::string controller, std::string file);
// Per-cgroup pressure files (cpu/memory/io.pressure): config:CONFIG_PSI, cmdline:psi=0,
// config:CONFIG_PSI_DEFAULT_DISABLED or kernel:cgroup-psi when they are missing.
Requirement Psi();
// zswap compiled in (config:CONFIG_ZSWAP) and switched on (needs:zswap): the host's setting is
// never changed, a VM may switch it on for its run.
Requirement Zswap();
// Transparent huge pages usable with madvise(MADV_HUGEPAGE): config:CONFIG_TRANSPARENT_HUGEPAGE,
// needs:thp when /sys/kernel/mm/transparent_hugepage/enabled is [never].
Requirement Thp();
// The boot option cgroup.memory=nosocket turns socket accounting off:
// cmdline:cgroup.memory=nosocket.
Requirement SocketAccounting();

// Whether the cgroup2 mount carries `option` among its super options (memory_localevents...).
bool V2MountOption(std::string_view option);
// Whether /sys/kernel/cgroup/features lists `name` (pids_localevents, memory_recursiveprot...).
bool CgroupFeature(std::string_view name);

// memory v2 without swap for `cg`: memory.swap.max 0 where swap is active (without swap
// accounting and without swap there is nothing to turn off).
Status NoSwap(const Cgroup& cg);

// In a child: maps `bytes` of anonymous memory with transparent huge pages off, so charges come
// in 4 KiB pages (a 2 MiB fault would jump past memory.high or a limit in one step). nullptr on
// failure.
char* MapSmallPages(size_t bytes);
// In a child: writes every page of [p, p + bytes), with a pattern distinct per page (so neither
// zero-page nor same-filled-page shortcuts of swap and zswap apply).
void TouchPattern(char* p, size_t bytes);

// Wall and CPU time a child spent on one touch of its memory.
struct TouchTiming {
  uint64_t wall_us = 0;
  uint64_t cpu_us = 0;
  // Time the child was not running: sleeping in the kernel (a memory.high penalty) or waiting.
  [[nodiscard]] uint64_t off_cpu_us() const { return wall_us > cpu_us ? wall_us - cpu_us : 0; }
};
// A child in `cg` that maps `bytes` (small pages), says "ready", touches them when it gets "go",
// reports "<wall_us> <cpu_us>" and keeps the memory until "exit".
Result<InGroup> StartToucher(const Cgroup& cg, size_t bytes);
// Waits for a toucher's report (after "go").
Result<TouchTiming> AwaitTouch(InGroup& c, std::chrono::milliseconds timeout);
// Sends "exit" and waits for the toucher to end with 0.
Status FinishToucher(InGroup& c);

// "some avg10=0.00 avg60=0.00 avg300=0.00 total=12345": the total (microseconds) of `kind`
// ("some" or "full") in a pressure file's text.
std::optional<uint64_t> PressureTotalUs(std::string_view text, std::string_view kind);

}  // namespace ckc::test
