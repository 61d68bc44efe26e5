#include "landlock.h"

#include "landlock_rules.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

namespace ckc {

namespace {

// System calls from 424 on have one number on every architecture but alpha; older C libraries'
// headers may lack the newer ones.
#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#endif
#ifndef __NR_landlock_add_rule
#define __NR_landlock_add_rule 445
#endif
#ifndef __NR_landlock_restrict_self
#define __NR_landlock_restrict_self 446
#endif
#ifndef __NR_lsm_list_modules
#define __NR_lsm_list_modules 461
#endif

std::string Hex(uint64_t v) { return fmt::format("{:#x}", v); }

// include/uapi/linux/lsm.h LSM_ID_* (uapi since 6.8; ids are stable ABI).
std::string LsmName(uint64_t id) {
  static constexpr const char* kNames[] = {
      "capability", "selinux",  "smack", "tomoyo",   "apparmor", "yama", "loadpin",
      "safesetid",  "lockdown", "bpf",   "landlock", "ima",      "evm",  "ipe"};
  constexpr uint64_t kFirst = 100;
  if (id >= kFirst && id - kFirst < std::size(kNames)) return kNames[id - kFirst];
  return fmt::format("lsm-{}", id);
}

}  // namespace

namespace landlock {

Result<int> AbiVersion() {
  long v = ::syscall(__NR_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (v < 0) return ErrnoError("landlock_create_ruleset", "LANDLOCK_CREATE_RULESET_VERSION");
  return static_cast<int>(v);
}

Result<UniqueFd> CreateRuleset(uint64_t handled_fs) {
  landlock_ruleset_attr attr{};
  attr.handled_access_fs = handled_fs;
  // The size passed is that of the first ABI's struct: fields a newer header adds stay unused.
  long fd = ::syscall(__NR_landlock_create_ruleset, &attr, sizeof attr.handled_access_fs, 0);
  if (fd < 0) return ErrnoError("landlock_create_ruleset", "handled_access_fs=" + Hex(handled_fs));
  return UniqueFd(static_cast<int>(fd));
}

Status AddPathBeneath(const UniqueFd& ruleset, int parent_fd, uint64_t allowed) {
  landlock_path_beneath_attr rule{};
  rule.allowed_access = allowed;
  rule.parent_fd = parent_fd;
  if (::syscall(__NR_landlock_add_rule, ruleset.get(), LANDLOCK_RULE_PATH_BENEATH, &rule, 0) != 0) {
    return ErrnoError("landlock_add_rule",
                      fmt::format("fd {} allowed_access={}", parent_fd, Hex(allowed)));
  }
  return {};
}

Status RestrictSelf(const UniqueFd& ruleset) {
  if (::syscall(__NR_landlock_restrict_self, ruleset.get(), 0) != 0) {
    return ErrnoError("landlock_restrict_self", fmt::format("ruleset fd {}", ruleset.get()));
  }
  return {};
}

// --- rights of later ABIs (landlock_rules.h) ---------------------------------------------

namespace {

constexpr int kRuleNetPort = 2;  // LANDLOCK_RULE_NET_PORT

// The ABI 4 layouts (include/uapi/linux/landlock.h), spelled out for older headers.
struct RulesetAttrNet {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
};
struct NetPortAttr {
  uint64_t allowed_access;
  uint64_t port;
};

}  // namespace

Result<UniqueFd> CreateRuleset(uint64_t handled_fs, uint64_t handled_net) {
  RulesetAttrNet attr{handled_fs, handled_net};
  long fd = ::syscall(__NR_landlock_create_ruleset, &attr, sizeof attr, 0);
  if (fd < 0) {
    return ErrnoError(
        "landlock_create_ruleset",
        fmt::format("handled_access_fs={:#x} handled_access_net={:#x}", handled_fs, handled_net));
  }
  return UniqueFd(static_cast<int>(fd));
}

Status AddNetPort(const UniqueFd& ruleset, uint64_t allowed, uint16_t port) {
  NetPortAttr rule{allowed, port};
  if (::syscall(__NR_landlock_add_rule, ruleset.get(), kRuleNetPort, &rule, 0) != 0) {
    return ErrnoError("landlock_add_rule", fmt::format("net port {} allowed={:#x}", port, allowed));
  }
  return {};
}

}  // namespace landlock

Result<std::vector<std::string>> ListLsmModules() {
  uint64_t ids[64] = {};
  uint32_t size = sizeof ids;
  long n = ::syscall(__NR_lsm_list_modules, ids, &size, 0);
  if (n < 0) return ErrnoError("lsm_list_modules");
  std::vector<std::string> out;
  for (long i = 0; i < n && i < static_cast<long>(std::size(ids)); ++i)
    out.push_back(LsmName(ids[i]));
  return out;
}

}  // namespace ckc
