// CgroupDriver: the per-version half of cgroups.h (internal to ckc_cgroup). cgroup_v1.cpp and
// cgroup_v2.cpp implement it over one directory of a group; Cgroup picks the driver that serves
// each controller.
#pragma once

#include <string>
#include <string_view>

#include "cgroups.h"

namespace ckc {

class CgroupDriver {
 public:
  virtual ~CgroupDriver() = default;
  [[nodiscard]] virtual CgroupVersion version() const = 0;
  [[nodiscard]] virtual Status SetMemoryMax(const std::string& dir, uint64_t bytes) const = 0;
  [[nodiscard]] virtual Status SetSwapMax(const std::string& dir, uint64_t bytes) const = 0;
  [[nodiscard]] virtual Status SetMemoryHigh(const std::string& dir, uint64_t bytes) const = 0;
  [[nodiscard]] virtual Result<uint64_t> MemoryCurrent(const std::string& dir) const = 0;
  [[nodiscard]] virtual Result<MemoryStat> MemoryStats(const std::string& dir) const = 0;
  [[nodiscard]] virtual Result<MemoryEvents> GetMemoryEvents(const std::string& dir) const = 0;
  [[nodiscard]] virtual Result<UniqueFd> OomNotifier(const std::string& dir,
                                                     bool disable) const = 0;
  [[nodiscard]] virtual Status SetPidsMax(const std::string& dir, uint64_t n) const = 0;
  [[nodiscard]] virtual Status SetCpuWeight(const std::string& dir, uint32_t weight) const = 0;
  [[nodiscard]] virtual Status SetCpuMax(const std::string& dir, uint64_t quota_us,
                                         uint64_t period_us) const = 0;
  // `usage_dir` is where usage is counted (v1: the cpuacct directory).
  [[nodiscard]] virtual Result<CpuStat> CpuStats(const std::string& dir,
                                                 const std::string& usage_dir) const = 0;
  [[nodiscard]] virtual Result<std::vector<uint64_t>> CpuUsagePerCpuNs(
      const std::string& usage_dir) const = 0;
  [[nodiscard]] virtual Status SetIoMax(const std::string& dir, dev_t dev, uint64_t rbps,
                                        uint64_t wbps) const = 0;
  [[nodiscard]] virtual Result<IoStat> GetIoStat(const std::string& dir, dev_t dev) const = 0;
  [[nodiscard]] virtual Status Freeze(const std::string& dir, bool frozen) const = 0;
  [[nodiscard]] virtual Result<std::string> FreezerState(const std::string& dir) const = 0;
  // Prepares a freshly made directory (v1 cpuset: copy cpus/mems from the parent; v2: enable
  // `controllers` in the parent's cgroup.subtree_control is done before mkdir by Cgroup).
  [[nodiscard]] virtual Status Prepare(const std::string& dir,
                                       std::string_view controller) const = 0;
};

[[nodiscard]] const CgroupDriver& V1Driver();
[[nodiscard]] const CgroupDriver& V2Driver();

// Shared helpers of both drivers.
// "<file>: absent (<why>)" when `dir/file` does not exist, else the file's content.
[[nodiscard]] Result<std::string> ReadKnob(const std::string& dir, std::string_view file,
                                           std::string_view why_absent = "not in this kernel");
[[nodiscard]] Status WriteKnob(const std::string& dir, std::string_view file,
                               std::string_view value,
                               std::string_view why_absent = "not in this kernel");
// "key value" lines.
[[nodiscard]] std::map<std::string, uint64_t> ParseKeyed(std::string_view text);
[[nodiscard]] Result<uint64_t> ParseU64(std::string_view text, std::string_view what);
// memory.stat of either version: the versions name anon and file pages differently (v1 rss and
// cache, v2 anon and file); the LRU list names are the same.
[[nodiscard]] MemoryStat ParseMemoryStat(std::string_view text, const char* anon_key,
                                         const char* file_key);

}  // namespace ckc
