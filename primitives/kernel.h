// Kernel facts: release, build configuration, cgroup mode, swap, LSMs, sysctls.
//
//   KernelConfig cfg = LoadKernelConfig();         // /proc/config.gz, /boot/config-R, ...
//   cfg.Has("CONFIG_USER_NS")  ->  Tristate::kYes / kNo / kUnknown (no config found)
//   CgroupLayout cg = DetectCgroupLayout(*ReadFile("/proc/self/mountinfo"));
//   cg.mode == CgroupMode::kHybrid
//
// Parsers take text, so self-tests feed them fixture files; loaders read the running kernel.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "result.h"

namespace ckc {

struct KernelRelease {
  std::string release;  // uname -r
  std::string version;  // uname -v
  std::string arch;     // uname -m
};
[[nodiscard]] KernelRelease GetKernelRelease();

enum class Tristate { kYes, kNo, kUnknown };

struct KernelConfig {
  std::string source;                         // where it was read from; empty if none was found
  std::map<std::string, std::string> values;  // CONFIG_X -> "y", "m", "\"str\"", ...
  // kYes for =y or =m, kNo for "is not set" or absent from a config that was found,
  // kUnknown when no config was found at all.
  [[nodiscard]] Tristate Has(std::string_view option) const;
  // "is not set" (or absent) in a config that was found. The *_V1 options only exist since
  // 6.11, so for them only "is not set" counts: absence means an older kernel with v1 built in.
  [[nodiscard]] bool CompiledOut(std::string_view option) const;
};
[[nodiscard]] KernelConfig ParseKernelConfig(std::string_view text, std::string source);
// Tries /proc/config.gz, /boot/config-<release>, /lib/modules/<release>/config, and the file
// named by $CKC_KERNEL_CONFIG first if set.
[[nodiscard]] KernelConfig LoadKernelConfig();
// The process-wide cached config.
[[nodiscard]] const KernelConfig& RunningKernelConfig();

enum class CgroupMode { kNone, kV1, kV2, kHybrid };
[[nodiscard]] std::string_view CgroupModeName(CgroupMode mode);  // "none", "v1", "v2", "hybrid"

struct CgroupMountPoint {
  std::string path;                      // where it is mounted
  std::string root;                      // the cgroup path mounted there ("/" on the host)
  int version = 1;                       // 1 or 2
  std::vector<std::string> controllers;  // v1: from super options (cpu, memory, name=systemd)
};

struct CgroupLayout {
  CgroupMode mode = CgroupMode::kNone;
  std::vector<CgroupMountPoint> mounts;
  // The v1 mount that carries `controller`, if any.
  [[nodiscard]] const CgroupMountPoint* V1Mount(std::string_view controller) const;
  // The (first) cgroup2 mount, if any.
  [[nodiscard]] const CgroupMountPoint* V2Mount() const;
};
// v1: only v1 hierarchies with controllers; v2: only cgroup2; hybrid: v1 controllers plus a
// cgroup2 mount. A v1 hierarchy with no controller (name=systemd only) does not make v1 by itself.
[[nodiscard]] CgroupLayout DetectCgroupLayout(std::string_view mountinfo);
[[nodiscard]] Result<CgroupLayout> CurrentCgroupLayout();

struct SwapInfo {
  uint64_t total_kib = 0;
  uint64_t free_kib = 0;
  int devices = 0;
};
// From /proc/meminfo (SwapTotal, SwapFree) and /proc/swaps.
[[nodiscard]] SwapInfo ParseSwap(std::string_view meminfo, std::string_view swaps);
[[nodiscard]] SwapInfo CurrentSwap();

// Active LSMs from /sys/kernel/security/lsm (empty if securityfs is not mounted or unreadable).
[[nodiscard]] std::vector<std::string> ActiveLsms();

// /proc/sys/a/b/c for "a.b.c"; the value without its trailing newline.
[[nodiscard]] Result<std::string> ReadSysctl(std::string_view dotted_name);

// Decompresses gzip data (for /proc/config.gz).
[[nodiscard]] Result<std::string> Gunzip(std::string_view compressed, std::string_view name);

// Total memory and CPU count of the machine.
[[nodiscard]] uint64_t MemTotalKib();
[[nodiscard]] int OnlineCpus();

// The kernel command line.
[[nodiscard]] std::string KernelCmdline();
// Whether `cmdline` has `key`=`value`, where the value may be one of a comma list: ("swapaccount",
// "0") for swapaccount=0, ("cgroup.memory", "nokmem") for cgroup.memory=nosocket,nokmem.
[[nodiscard]] bool CmdlineHas(std::string_view cmdline, std::string_view key,
                              std::string_view value);
// Whether `cmdline` turns `controller` off (cgroup_disable=memory,io ...).
[[nodiscard]] bool CgroupDisabledOnCmdline(std::string_view cmdline, std::string_view controller);

}  // namespace ckc
