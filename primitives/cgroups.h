// Cgroups: one interface over cgroup v1 and v2, named in v2 vocabulary and mapped to v1.
//
//   CKC_TRY(sys, CgroupSystem::Current());          // from /proc/self/mountinfo
//   sys.VersionOf("memory")  ->  CgroupVersion::kV1 on a v1/hybrid host, kV2 on a v2 one
//   CKC_TRY(cg, Cgroup::Create(sys, "oom", {"memory"}));   // <mount>/ckc-<run id>/oom
//   cg.SetMemoryMax(4 << 20);  cg.SetSwapMax(0);   // v1: limit_in_bytes, memsw.limit_in_bytes
//   CKC_TRY(child, SpawnIn(cg, [] { ...; return 0; }));     // starts inside the group
//   cg.MemoryEvents()->oom_kill                     // v1 memory.oom_control, v2 memory.events
//   // ~Cgroup kills what is left in it, waits for it and removes the directories.
//
// A knob that does not exist in this version or kernel is an Error whose detail names it:
// "memory.memsw.limit_in_bytes: absent (swap accounting off)". Where the semantics differ
// between versions the caller asks `version(controller)`.
//
// Hierarchies: every group sits under the run-scoped parent <mount>/ckc-<run id> of each
// hierarchy serving one of its controllers (v1: one per controller mount; v2: the unified tree,
// with the controllers enabled in cgroup.subtree_control down the path). In hybrid mode ckc
// never writes the cgroup2 root's subtree_control (that would change the host).
// CgroupSystem takes a root prefix so self-tests run against fixture trees without root.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fd.h"
#include "kernel.h"
#include "process.h"
#include "result.h"

namespace ckc {

enum class CgroupVersion { kV1 = 1, kV2 = 2 };
[[nodiscard]] std::string_view CgroupVersionName(CgroupVersion v);  // "v1" / "v2"

inline constexpr uint64_t kCgroupUnlimited = UINT64_MAX;  // "max" (v2) / -1 (v1)

// The cgroup hierarchies of a machine (or of a fixture tree under `root`).
class CgroupSystem {
 public:
  // The running system: /proc/self/mountinfo, root "".
  [[nodiscard]] static Result<CgroupSystem> Current();
  // A layout whose mount paths are read below `root` (a fixture tree).
  [[nodiscard]] static CgroupSystem FromLayout(CgroupLayout layout, std::string root = "");

  [[nodiscard]] const CgroupLayout& layout() const { return layout_; }
  [[nodiscard]] CgroupMode mode() const { return layout_.mode; }
  // `path` below the root prefix.
  [[nodiscard]] std::string Real(std::string_view path) const { return root_ + std::string(path); }

  // The version that serves `controller` (v2 names: "io" is v1's "blkio"; "cpu" usage is
  // v1's cpuacct). v1 when a v1 hierarchy carries it, else v2 when the cgroup2 root lists it in
  // cgroup.controllers. The error says why it is missing ("memory controller not mounted
  // (CONFIG_MEMCG_V1 not set?)").
  [[nodiscard]] Result<CgroupVersion> VersionOf(std::string_view controller) const;
  // The mount point (real path) of the hierarchy that serves `controller`.
  [[nodiscard]] Result<std::string> MountOf(std::string_view controller) const;
  // The cgroup2 mount point (real path), or an error if there is none.
  [[nodiscard]] Result<std::string> V2Mount() const;
  // The v1 controller names a v2 controller name stands for ("io" -> {"blkio"},
  // "cpu" -> {"cpu", "cpuacct"}); the name itself otherwise.
  [[nodiscard]] static std::vector<std::string> V1Names(std::string_view controller);

 private:
  CgroupLayout layout_;
  std::string root_;
};

struct MemoryStat {
  uint64_t anon = 0;  // v2 anon / v1 rss
  uint64_t file = 0;  // v2 file / v1 cache
  uint64_t active_anon = 0, inactive_anon = 0, active_file = 0, inactive_file = 0;
  std::map<std::string, uint64_t> raw;  // every key of memory.stat as the kernel wrote it
};

struct MemoryEvents {
  uint64_t oom = 0;        // v2 oom / v1: under_oom transitions are not counted (0)
  uint64_t oom_kill = 0;   // v2 memory.events oom_kill / v1 memory.oom_control oom_kill
  uint64_t max = 0;        // v2 memory.events max / v1 memory.failcnt (+ memsw.failcnt)
  uint64_t high = 0;       // v2 only
  bool under_oom = false;  // v1 memory.oom_control under_oom
};

struct CpuStat {
  uint64_t usage_usec = 0;  // v2 cpu.stat usage_usec / v1 cpuacct.usage / 1000
  uint64_t nr_periods = 0;  // cpu.stat (both versions)
  uint64_t nr_throttled = 0;
  uint64_t throttled_usec = 0;  // v2 throttled_usec / v1 throttled_time / 1000
};

struct IoStat {
  uint64_t rbytes = 0, wbytes = 0, rios = 0, wios = 0;
  // v1 only (blkio.throttle.io_service_bytes Sync/Async); nullopt on v2.
  std::optional<uint64_t> sync_bytes, async_bytes;
};

class CgroupDriver;  // cgroup_driver.h: the per-version implementation

// A group in every hierarchy serving its controllers. Owning (removes itself) unless Opened.
class Cgroup {
 public:
  // Creates <run parent>/<name> (name may contain '/') for `controllers` (v2 names).
  // An empty controller list makes a plain node in the cgroup2 tree: no controller knobs, but
  // the v2 core features (cgroup.freeze, device programs, perf_event) answer to "freezer",
  // "devices" and "perf_event" (so a hybrid machine can exercise both versions).
  [[nodiscard]] static Result<Cgroup> Create(const CgroupSystem& sys, std::string_view name,
                                             std::vector<std::string> controllers);
  // An existing group at `relative` (below each mount point), not owned.
  [[nodiscard]] static Result<Cgroup> Open(const CgroupSystem& sys, std::string_view relative,
                                           std::vector<std::string> controllers);
  // A child group `name` with the same controllers (v2: enabled in this group's subtree_control).
  [[nodiscard]] Result<Cgroup> CreateChild(std::string_view name) const;

  Cgroup() = default;
  // A moved-from Cgroup owns nothing.
  Cgroup(Cgroup&& other) noexcept
      : sys_(std::move(other.sys_)),
        relative_(std::move(other.relative_)),
        controllers_(std::move(other.controllers_)),
        nodes_(std::move(other.nodes_)),
        owned_(std::exchange(other.owned_, false)) {}
  Cgroup& operator=(Cgroup&& other) noexcept;
  Cgroup(const Cgroup&) = delete;
  Cgroup& operator=(const Cgroup&) = delete;
  ~Cgroup();

  // Kills the members (thawing first), waits for them to leave and removes the directories.
  [[nodiscard]] Status Remove();
  // Gives up ownership; the directories stay.
  void Release() { owned_ = false; }

  [[nodiscard]] Result<CgroupVersion> version(std::string_view controller) const;
  // The directory that serves `controller` (real path).
  [[nodiscard]] Result<std::string> Dir(std::string_view controller) const;
  // Every distinct directory of the group.
  [[nodiscard]] std::vector<std::string> Dirs() const;
  // The path relative to the mount points ("ckc-<id>/oom"), as /proc/PID/cgroup shows it.
  [[nodiscard]] const std::string& relative() const { return relative_; }
  // True when every directory of the group is in the cgroup2 tree (CLONE_INTO_CGROUP works).
  [[nodiscard]] bool AllV2() const;

  // Moves `pid` (a whole process) into the group in every hierarchy.
  [[nodiscard]] Status Attach(pid_t pid) const;
  // The group's cgroup2 directory, for clone3(CLONE_INTO_CGROUP).
  [[nodiscard]] Result<UniqueFd> OpenV2Dir() const;
  [[nodiscard]] Result<std::vector<pid_t>> Procs(std::string_view controller) const;

  // Raw knob access in the directory serving `controller`; an absent file is an error
  // "<file>: absent (<why>)".
  [[nodiscard]] Result<std::string> Read(std::string_view controller, std::string_view file) const;
  [[nodiscard]] Status Write(std::string_view controller, std::string_view file,
                             std::string_view value) const;
  [[nodiscard]] bool Has(std::string_view controller, std::string_view file) const;
  // "key value" lines (memory.stat, cpu.stat, memory.events) as a map.
  [[nodiscard]] Result<std::map<std::string, uint64_t>> ReadKeyed(std::string_view controller,
                                                                  std::string_view file) const;

  // --- memory -----------------------------------------------------------------------------
  [[nodiscard]] Status SetMemoryMax(uint64_t bytes) const;  // memory.max / limit_in_bytes
  // Swap the group may use on top of memory.max: v2 memory.swap.max; v1 memsw.limit_in_bytes =
  // limit_in_bytes + bytes (memsw counts memory and swap together).
  [[nodiscard]] Status SetSwapMax(uint64_t bytes) const;
  [[nodiscard]] Status SetMemoryHigh(uint64_t bytes) const;  // memory.high / soft_limit_in_bytes
  [[nodiscard]] Result<uint64_t> MemoryCurrent() const;      // memory.current / usage_in_bytes
  [[nodiscard]] Result<MemoryStat> MemoryStats() const;
  [[nodiscard]] Result<MemoryEvents> GetMemoryEvents() const;
  // v1: oom_kill_disable=1 plus an eventfd registered through cgroup.event_control on
  // memory.oom_control; returns the eventfd. v2: an fd of memory.events to poll (POLLPRI).
  [[nodiscard]] Result<UniqueFd> OomNotifier(bool disable_kill) const;

  // --- pids, cpu, cpuset ------------------------------------------------------------------
  [[nodiscard]] Status SetPidsMax(uint64_t n) const;
  [[nodiscard]] Result<uint64_t> PidsCurrent() const;
  [[nodiscard]] Status SetCpuWeight(uint32_t weight) const;  // 1..10000; v1 shares = w*1024/100
  [[nodiscard]] Status SetCpuMax(uint64_t quota_us, uint64_t period_us) const;
  [[nodiscard]] Result<CpuStat> CpuStats() const;
  // v1 cpuacct.usage_percpu (ns per CPU); v2 has no such file.
  [[nodiscard]] Result<std::vector<uint64_t>> CpuUsagePerCpuNs() const;
  [[nodiscard]] Status SetCpusetCpus(std::string_view cpus) const;
  [[nodiscard]] Status SetCpusetMems(std::string_view mems) const;

  // --- io ---------------------------------------------------------------------------------
  // Byte-per-second limits for device `dev` (kCgroupUnlimited = none).
  [[nodiscard]] Status SetIoMax(dev_t dev, uint64_t rbps, uint64_t wbps) const;
  [[nodiscard]] Result<IoStat> GetIoStat(dev_t dev) const;

  // --- freezer ----------------------------------------------------------------------------
  [[nodiscard]] Status Freeze(bool frozen) const;  // cgroup.freeze / freezer.state
  // "FROZEN", "FREEZING" (v1 only) or "THAWED".
  [[nodiscard]] Result<std::string> FreezerState() const;

 private:
  struct Node {
    std::string controller;  // v2 name
    std::string dir;         // real path
    const CgroupDriver* driver = nullptr;
  };
  [[nodiscard]] Result<const Node*> NodeFor(std::string_view controller) const;
  [[nodiscard]] static Result<Cgroup> Make(const CgroupSystem& sys, std::string relative,
                                           std::vector<std::string> controllers, bool create);

  std::shared_ptr<const CgroupSystem> sys_;
  std::string relative_;
  std::vector<std::string> controllers_;
  std::vector<Node> nodes_;
  bool owned_ = false;
};

// Spawns `fn` so that it starts inside `cg`: clone3(CLONE_INTO_CGROUP) when every directory is in
// the cgroup2 tree and the kernel has it, else the child waits on a pipe until the parent has
// attached it. The child never runs `fn` outside the group.
[[nodiscard]] Result<Child> SpawnIn(const Cgroup& cg, const std::function<int()>& fn,
                                    SpawnOptions options = {});

// The cgroup path of `pid` in the hierarchy `hierarchy` of /proc/PID/cgroup: a v1 controller name
// ("memory") or "" for the cgroup2 line ("0::/x").
[[nodiscard]] Result<std::string> ProcCgroupPath(pid_t pid, std::string_view hierarchy);

}  // namespace ckc
