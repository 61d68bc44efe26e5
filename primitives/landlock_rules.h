// Landlock rights newer than the first ABI (Documentation/userspace-api/landlock.rst, "Previous
// limitations" and "Network flags"): the uapi constants older C library headers lack, and rulesets
// that handle network access (implemented in landlock.cpp).
//
//   CKC_TRY(rs, landlock::CreateRuleset(fs_rights, LANDLOCK_ACCESS_NET_BIND_TCP));  // ABI >= 4
//   CKC_CHECK(landlock::AddNetPort(rs, LANDLOCK_ACCESS_NET_BIND_TCP, 8080));
#pragma once

#include <cstdint>

#include "landlock.h"

#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)  // ABI 3 (Linux 6.2)
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0)  // ABI 4 (Linux 6.7)
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#endif

namespace ckc::landlock {

// The file-system rights the first ABI has (EXECUTE .. MAKE_SYM); REFER came with ABI 2.
inline constexpr uint64_t kAbi1FsRights = (1ULL << 13) - 1;
// Landlock stacks at most this many rulesets on one thread (landlock_restrict_self(2): E2BIG).
inline constexpr int kMaxLayers = 16;

// A ruleset handling file-system rights `handled_fs` and network rights `handled_net` (EINVAL
// from a kernel whose ABI has no network rights).
[[nodiscard]] Result<UniqueFd> CreateRuleset(uint64_t handled_fs, uint64_t handled_net);
// A rule granting `allowed` (LANDLOCK_ACCESS_NET_*) for TCP port `port`.
[[nodiscard]] Status AddNetPort(const UniqueFd& ruleset, uint64_t allowed, uint16_t port);

}  // namespace ckc::landlock
