// Device allow-lists for a cgroup: v1 devices.deny / devices.allow, v2 a BPF_CGROUP_DEVICE
// program (cgroup-v2.rst "Device controller") loaded through a thin bpf(2) wrapper.
//
//   CKC_CHECK(AllowOnlyDevices(cg, {{'c', 1, 3, "rwm"}}));   // only /dev/null
//
// The v2 program is built from struct bpf_insn (no libbpf needed): for each rule it compares the
// device type, major, minor and requested access of bpf_cgroup_dev_ctx and returns 1 (allow) on a
// match, else 0 (deny: EPERM). It stays attached until the group is removed.
#pragma once

#include <linux/bpf.h>

#include <string>
#include <vector>

#include "cgroups.h"
#include "fd.h"
#include "result.h"

namespace ckc {

struct DeviceRule {
  char type = 'c';  // 'c' or 'b'
  int major = -1;   // -1: any
  int minor = -1;   // -1: any
  std::string access = "rwm";
};

// Denies every device to the group except `allow`.
[[nodiscard]] Status AllowOnlyDevices(const Cgroup& cg, const std::vector<DeviceRule>& allow);

// A thin bpf(BPF_PROG_LOAD): the verifier log is the error's detail on failure.
[[nodiscard]] Result<UniqueFd> BpfProgLoad(int prog_type,
                                           const std::vector<struct bpf_insn>& insns);
// A socket filter (SO_ATTACH_BPF) that accepts only packets whose skb->priority is `priority`:
// how a test sees the priority net_prio gave its packets without any qdisc.
[[nodiscard]] Result<UniqueFd> PrioritySocketFilter(uint32_t priority);

// The v2 pieces, for callers that want them apart.
[[nodiscard]] Result<UniqueFd> LoadDeviceProgram(const std::vector<DeviceRule>& allow);
[[nodiscard]] Status AttachDeviceProgram(int cgroup_dir_fd, int prog_fd);

}  // namespace ckc
