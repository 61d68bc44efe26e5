#include "landlock_rules.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

namespace ckc::landlock {

namespace {

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#endif
#ifndef __NR_landlock_add_rule
#define __NR_landlock_add_rule 445
#endif

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

}  // namespace ckc::landlock
