// User-namespace id maps.
//
//   IdMap map{{0, 10000, 2000}};                       // inside 0..1999 -> host 10000..11999
//   CKC_CHECK(WriteIdMaps(child.pid(), map, map));     // setgroups "deny" first when needed
//
// The maps are written once each, by a process in the parent namespace (usually the parent, after
// a hand-shake with the child) or by the namespace's own process for its own single id.
//   CKC_CHECK(BecomeUser(65534, 65534));             // play an unprivileged user (drops all caps)
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "result.h"

namespace ckc {

struct IdRange {
  uint32_t inside = 0;
  uint32_t outside = 0;
  uint32_t count = 1;
};
using IdMap = std::vector<IdRange>;

// "0 10000 2000\n..." as written to uid_map/gid_map.
[[nodiscard]] std::string FormatIdMap(const IdMap& map);

[[nodiscard]] Status WriteUidMap(pid_t pid, const IdMap& map);
[[nodiscard]] Status WriteGidMap(pid_t pid, const IdMap& map);
// Writes "deny" (or "allow") to /proc/PID/setgroups.
[[nodiscard]] Status WriteSetgroups(pid_t pid, bool allow);
// uid_map, then setgroups deny (if deny_setgroups), then gid_map.
[[nodiscard]] Status WriteIdMaps(pid_t pid, const IdMap& uids, const IdMap& gids,
                                 bool deny_setgroups = true);

// Becomes `uid`/`gid` for real, effective and saved ids (supplementary groups cleared when
// privileged), which drops every capability: how a test plays an unprivileged user.
[[nodiscard]] Status BecomeUser(uid_t uid, gid_t gid);

// The overflow ids unmapped ids show as (/proc/sys/kernel/overflowuid, usually 65534).
[[nodiscard]] uint32_t OverflowUid();
[[nodiscard]] uint32_t OverflowGid();

}  // namespace ckc
