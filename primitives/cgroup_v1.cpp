// CgroupDriver for cgroup v1 (Documentation/admin-guide/cgroup-v1/*): the v2 vocabulary of
// cgroups.h mapped onto one v1 controller directory.
#include <sys/eventfd.h>
#include <sys/sysmacros.h>

#include <fmt/format.h>

#include <sstream>

#include "cgroup_driver.h"

namespace ckc {

namespace {

// v1 writes -1 for "no limit" and reads back a huge page-aligned number.
std::string V1Value(uint64_t v) { return v == kCgroupUnlimited ? "-1" : std::to_string(v); }
constexpr uint64_t kV1Huge = uint64_t{1} << 62;
constexpr std::string_view kNoMemsw = "swap accounting off";

class V1 final : public CgroupDriver {
 public:
  CgroupVersion version() const override { return CgroupVersion::kV1; }

  // memsw.limit_in_bytes must stay >= limit_in_bytes (EINVAL otherwise), so the pair moves in
  // the order that keeps that true, and the swap allowance (memsw - limit) is kept.
  Status SetMemoryMax(const std::string& dir, uint64_t bytes) const override {
    CKC_TRY(old_text, ReadKnob(dir, "memory.limit_in_bytes"));
    CKC_TRY(old, ParseU64(old_text, "memory.limit_in_bytes"));
    auto memsw_text = ReadKnob(dir, "memory.memsw.limit_in_bytes", kNoMemsw);
    if (!memsw_text) return WriteKnob(dir, "memory.limit_in_bytes", V1Value(bytes));
    CKC_TRY(memsw, ParseU64(*memsw_text, "memory.memsw.limit_in_bytes"));
    uint64_t new_memsw = kCgroupUnlimited;
    if (memsw < kV1Huge && bytes != kCgroupUnlimited && old < kV1Huge)
      new_memsw = bytes + (memsw - old);
    if (bytes == kCgroupUnlimited || bytes > old) {
      CKC_CHECK(WriteKnob(dir, "memory.memsw.limit_in_bytes", V1Value(new_memsw)));
      return WriteKnob(dir, "memory.limit_in_bytes", V1Value(bytes));
    }
    CKC_CHECK(WriteKnob(dir, "memory.limit_in_bytes", V1Value(bytes)));
    return WriteKnob(dir, "memory.memsw.limit_in_bytes", V1Value(new_memsw));
  }

  Status SetSwapMax(const std::string& dir, uint64_t bytes) const override {
    CKC_TRY(limit_text, ReadKnob(dir, "memory.limit_in_bytes"));
    CKC_TRY(limit, ParseU64(limit_text, "memory.limit_in_bytes"));
    uint64_t memsw =
        (bytes == kCgroupUnlimited || limit >= kV1Huge) ? kCgroupUnlimited : limit + bytes;
    return WriteKnob(dir, "memory.memsw.limit_in_bytes", V1Value(memsw), kNoMemsw);
  }

  Status SetMemoryHigh(const std::string& dir, uint64_t bytes) const override {
    return WriteKnob(dir, "memory.soft_limit_in_bytes", V1Value(bytes));
  }

  Result<uint64_t> MemoryCurrent(const std::string& dir) const override {
    CKC_TRY(text, ReadKnob(dir, "memory.usage_in_bytes"));
    return ParseU64(text, "memory.usage_in_bytes");
  }

  Result<MemoryStat> MemoryStats(const std::string& dir) const override {
    CKC_TRY(text, ReadKnob(dir, "memory.stat"));
    return ParseMemoryStat(text, "rss", "cache");
  }

  Result<MemoryEvents> GetMemoryEvents(const std::string& dir) const override {
    CKC_TRY(oom_text, ReadKnob(dir, "memory.oom_control"));
    auto oom = ParseKeyed(oom_text);
    MemoryEvents e;
    e.oom_kill = oom["oom_kill"];
    e.under_oom = oom["under_oom"] != 0;
    CKC_TRY(fail_text, ReadKnob(dir, "memory.failcnt"));
    CKC_TRY(fail, ParseU64(fail_text, "memory.failcnt"));
    e.max = fail;
    if (auto sw = ReadKnob(dir, "memory.memsw.failcnt", kNoMemsw)) {
      if (auto n = ParseU64(*sw, "memory.memsw.failcnt")) e.max += *n;
    }
    return e;
  }

  // cgroup-v1/memory.rst "Memory thresholds" / "OOM Control": an eventfd and an open
  // memory.oom_control written as "<event_fd> <oom_control fd>" to cgroup.event_control.
  Result<UniqueFd> OomNotifier(const std::string& dir, bool disable) const override {
    if (disable) CKC_CHECK(WriteKnob(dir, "memory.oom_control", "1"));
    UniqueFd efd(::eventfd(0, EFD_CLOEXEC));
    if (!efd) return ErrnoError("eventfd");
    CKC_TRY(ofd, OpenFile(dir + "/memory.oom_control", O_RDONLY));
    CKC_CHECK(WriteKnob(dir, "cgroup.event_control", fmt::format("{} {}", efd.get(), ofd.get())));
    return efd;
  }

  Status SetPidsMax(const std::string& dir, uint64_t n) const override {
    return WriteKnob(dir, "pids.max", n == kCgroupUnlimited ? "max" : std::to_string(n));
  }

  // cgroup-v2.rst maps weight 100 to the v1 default of 1024 shares.
  Status SetCpuWeight(const std::string& dir, uint32_t weight) const override {
    uint64_t shares = std::max<uint64_t>(2, uint64_t{weight} * 1024 / 100);
    return WriteKnob(dir, "cpu.shares", std::to_string(shares));
  }

  Status SetCpuMax(const std::string& dir, uint64_t quota_us, uint64_t period_us) const override {
    CKC_CHECK(
        WriteKnob(dir, "cpu.cfs_period_us", std::to_string(period_us), "CONFIG_CFS_BANDWIDTH?"));
    return WriteKnob(dir, "cpu.cfs_quota_us", V1Value(quota_us), "CONFIG_CFS_BANDWIDTH?");
  }

  Result<CpuStat> CpuStats(const std::string& dir, const std::string& usage_dir) const override {
    CpuStat s;
    CKC_TRY(usage_text, ReadKnob(usage_dir, "cpuacct.usage", "cpuacct not mounted?"));
    CKC_TRY(usage_ns, ParseU64(usage_text, "cpuacct.usage"));
    s.usage_usec = usage_ns / 1000;
    if (auto stat = ReadKnob(dir, "cpu.stat")) {
      auto m = ParseKeyed(*stat);
      s.nr_periods = m["nr_periods"];
      s.nr_throttled = m["nr_throttled"];
      s.throttled_usec = m["throttled_time"] / 1000;
    }
    return s;
  }

  Result<std::vector<uint64_t>> CpuUsagePerCpuNs(const std::string& usage_dir) const override {
    CKC_TRY(text, ReadKnob(usage_dir, "cpuacct.usage_percpu"));
    std::vector<uint64_t> out;
    std::istringstream in(text);
    for (uint64_t v; in >> v;) out.push_back(v);
    return out;
  }

  // blkio throttle rules: "<major>:<minor> <bytes per second>"; 0 removes the rule.
  Status SetIoMax(const std::string& dir, dev_t dev, uint64_t rbps, uint64_t wbps) const override {
    auto rule = [&](uint64_t v) {
      return fmt::format("{}:{} {}", major(dev), minor(dev), v == kCgroupUnlimited ? 0 : v);
    };
    CKC_CHECK(
        WriteKnob(dir, "blkio.throttle.read_bps_device", rule(rbps), "CONFIG_BLK_DEV_THROTTLING?"));
    return WriteKnob(dir, "blkio.throttle.write_bps_device", rule(wbps),
                     "CONFIG_BLK_DEV_THROTTLING?");
  }

  // blkio.throttle.io_service_bytes / io_serviced: "<maj:min> Read|Write|Sync|Async|... <n>".
  Result<IoStat> GetIoStat(const std::string& dir, dev_t dev) const override {
    CKC_TRY(bytes, ReadKnob(dir, "blkio.throttle.io_service_bytes"));
    CKC_TRY(ios, ReadKnob(dir, "blkio.throttle.io_serviced"));
    std::string key = fmt::format("{}:{}", major(dev), minor(dev));
    IoStat s;
    s.sync_bytes = 0;
    s.async_bytes = 0;
    auto scan = [&](const std::string& text, bool is_bytes) {
      std::istringstream in(text);
      for (std::string line; std::getline(in, line);) {
        std::istringstream f(line);
        std::string d, op;
        uint64_t v = 0;
        if (!(f >> d >> op >> v) || d != key) continue;
        if (op == "Read") (is_bytes ? s.rbytes : s.rios) = v;
        if (op == "Write") (is_bytes ? s.wbytes : s.wios) = v;
        if (is_bytes && op == "Sync") s.sync_bytes = v;
        if (is_bytes && op == "Async") s.async_bytes = v;
      }
    };
    scan(bytes, true);
    scan(ios, false);
    return s;
  }

  Status Freeze(const std::string& dir, bool frozen) const override {
    return WriteKnob(dir, "freezer.state", frozen ? "FROZEN" : "THAWED");
  }

  Result<std::string> FreezerState(const std::string& dir) const override {
    CKC_TRY(text, ReadKnob(dir, "freezer.state"));
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
  }

  // A v1 cpuset with empty cpus/mems refuses tasks (ENOSPC): start from the parent's.
  Status Prepare(const std::string& dir, std::string_view controller) const override {
    if (controller != "cpuset") return {};
    std::string parent = dir.substr(0, dir.rfind('/'));
    for (std::string_view knob : {"cpuset.cpus", "cpuset.mems"}) {
      CKC_TRY(mine, ReadKnob(dir, knob));
      if (mine != "\n" && !mine.empty()) continue;
      CKC_TRY(theirs, ReadKnob(parent, knob));
      CKC_CHECK(WriteKnob(dir, knob, theirs));
    }
    return {};
  }
};

}  // namespace

const CgroupDriver& V1Driver() {
  static const V1 driver;
  return driver;
}

}  // namespace ckc
