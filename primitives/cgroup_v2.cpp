// CgroupDriver for cgroup v2 (Documentation/admin-guide/cgroup-v2.rst) over one directory of the
// unified tree.
#include <sys/sysmacros.h>

#include <fmt/format.h>

#include <sstream>

#include "cgroup_driver.h"

namespace ckc {

namespace {

std::string V2Value(uint64_t v) { return v == kCgroupUnlimited ? "max" : std::to_string(v); }
constexpr std::string_view kNoSwapAccounting =
    "swap accounting off (CONFIG_MEMCG_SWAP / swapaccount=0)";
constexpr std::string_view kNoFreezer = "the v2 freezer is not in this kernel";

class V2 final : public CgroupDriver {
 public:
  CgroupVersion version() const override { return CgroupVersion::kV2; }

  Status SetMemoryMax(const std::string& dir, uint64_t bytes) const override {
    return WriteKnob(dir, "memory.max", V2Value(bytes));
  }
  Status SetSwapMax(const std::string& dir, uint64_t bytes) const override {
    return WriteKnob(dir, "memory.swap.max", V2Value(bytes), kNoSwapAccounting);
  }
  Status SetMemoryHigh(const std::string& dir, uint64_t bytes) const override {
    return WriteKnob(dir, "memory.high", V2Value(bytes));
  }
  Result<uint64_t> MemoryCurrent(const std::string& dir) const override {
    CKC_TRY(text, ReadKnob(dir, "memory.current"));
    return ParseU64(text, "memory.current");
  }

  Result<MemoryStat> MemoryStats(const std::string& dir) const override {
    CKC_TRY(text, ReadKnob(dir, "memory.stat"));
    return ParseMemoryStat(text, "anon", "file");
  }

  Result<MemoryEvents> GetMemoryEvents(const std::string& dir) const override {
    CKC_TRY(text, ReadKnob(dir, "memory.events"));
    auto m = ParseKeyed(text);
    MemoryEvents e;
    e.oom = m["oom"];
    e.oom_kill = m["oom_kill"];
    e.max = m["max"];
    e.high = m["high"];
    return e;
  }

  // cgroup-v2.rst "memory.events": "a value change in this file generates a file modified
  // event", seen as POLLPRI on an open fd or through inotify. v2 has no oom_kill_disable.
  Result<UniqueFd> OomNotifier(const std::string& dir, bool disable) const override {
    if (disable) {
      return Failure("write", dir + "/memory.oom_control",
                     "memory.oom_control: absent (v2 has no oom_kill_disable)");
    }
    CKC_TRY(probe, ReadKnob(dir, "memory.events"));
    (void)probe;
    return OpenFile(dir + "/memory.events", O_RDONLY);
  }

  Status SetPidsMax(const std::string& dir, uint64_t n) const override {
    return WriteKnob(dir, "pids.max", V2Value(n));
  }
  Status SetCpuWeight(const std::string& dir, uint32_t weight) const override {
    return WriteKnob(dir, "cpu.weight", std::to_string(weight));
  }
  Status SetCpuMax(const std::string& dir, uint64_t quota_us, uint64_t period_us) const override {
    return WriteKnob(dir, "cpu.max", fmt::format("{} {}", V2Value(quota_us), period_us),
                     "CONFIG_CFS_BANDWIDTH?");
  }

  Result<CpuStat> CpuStats(const std::string& dir, const std::string&) const override {
    CKC_TRY(text, ReadKnob(dir, "cpu.stat"));
    auto m = ParseKeyed(text);
    return CpuStat{.usage_usec = m["usage_usec"],
                   .nr_periods = m["nr_periods"],
                   .nr_throttled = m["nr_throttled"],
                   .throttled_usec = m["throttled_usec"]};
  }

  Result<std::vector<uint64_t>> CpuUsagePerCpuNs(const std::string& dir) const override {
    return Failure("read", dir + "/cpuacct.usage_percpu",
                   "cpuacct.usage_percpu: absent (v2 has no per-CPU usage)");
  }

  // io.max: "<maj>:<min> rbps=<n|max> wbps=<n|max>".
  Status SetIoMax(const std::string& dir, dev_t dev, uint64_t rbps, uint64_t wbps) const override {
    return WriteKnob(
        dir, "io.max",
        fmt::format("{}:{} rbps={} wbps={}", major(dev), minor(dev), V2Value(rbps), V2Value(wbps)),
        "CONFIG_BLK_DEV_THROTTLING?");
  }

  // io.stat: "<maj>:<min> rbytes=.. wbytes=.. rios=.. wios=.. dbytes=.. dios=..".
  Result<IoStat> GetIoStat(const std::string& dir, dev_t dev) const override {
    CKC_TRY(text, ReadKnob(dir, "io.stat"));
    std::string key = fmt::format("{}:{}", major(dev), minor(dev));
    IoStat s;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      std::istringstream f(line);
      std::string d;
      if (!(f >> d) || d != key) continue;
      for (std::string kv; f >> kv;) {
        auto eq = kv.find('=');
        if (eq == std::string::npos) continue;
        uint64_t v = std::strtoull(kv.c_str() + eq + 1, nullptr, 10);
        std::string k = kv.substr(0, eq);
        if (k == "rbytes") s.rbytes = v;
        if (k == "wbytes") s.wbytes = v;
        if (k == "rios") s.rios = v;
        if (k == "wios") s.wios = v;
      }
    }
    return s;
  }

  Status Freeze(const std::string& dir, bool frozen) const override {
    return WriteKnob(dir, "cgroup.freeze", frozen ? "1" : "0", kNoFreezer);
  }

  // cgroup.events "frozen 1" once every task is frozen.
  Result<std::string> FreezerState(const std::string& dir) const override {
    CKC_TRY(probe, ReadKnob(dir, "cgroup.freeze", kNoFreezer));
    CKC_TRY(text, ReadKnob(dir, "cgroup.events"));
    auto m = ParseKeyed(text);
    if (m["frozen"] == 1) return std::string("FROZEN");
    return std::string(probe.starts_with("1") ? "FREEZING" : "THAWED");
  }

  Status Prepare(const std::string&, std::string_view) const override { return {}; }
};

}  // namespace

const CgroupDriver& V2Driver() {
  static const V2 driver;
  return driver;
}

}  // namespace ckc
