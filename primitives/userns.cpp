#include "userns.h"

#include <grp.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cstdlib>

#include "fd.h"

namespace ckc {

std::string FormatIdMap(const IdMap& map) {
  std::string out;
  for (const auto& r : map) out += fmt::format("{} {} {}\n", r.inside, r.outside, r.count);
  return out;
}

Status WriteUidMap(pid_t pid, const IdMap& map) {
  return WriteFile(fmt::format("/proc/{}/uid_map", pid), FormatIdMap(map));
}

Status WriteGidMap(pid_t pid, const IdMap& map) {
  return WriteFile(fmt::format("/proc/{}/gid_map", pid), FormatIdMap(map));
}

Status WriteSetgroups(pid_t pid, bool allow) {
  return WriteFile(fmt::format("/proc/{}/setgroups", pid), allow ? "allow" : "deny");
}

Status WriteIdMaps(pid_t pid, const IdMap& uids, const IdMap& gids, bool deny_setgroups) {
  CKC_CHECK(WriteUidMap(pid, uids));
  if (deny_setgroups) CKC_CHECK(WriteSetgroups(pid, false));
  return WriteGidMap(pid, gids);
}

Status BecomeUser(uid_t uid, gid_t gid) {
  if (::geteuid() == 0 && ::setgroups(0, nullptr) != 0) return ErrnoError("setgroups", "0 groups");
  if (::setresgid(gid, gid, gid) != 0) return ErrnoError("setresgid", fmt::format("{}", gid));
  if (::setresuid(uid, uid, uid) != 0) return ErrnoError("setresuid", fmt::format("{}", uid));
  // Changing credentials clears the dumpable flag, which makes /proc/self/* root-owned (the new
  // user could not even write its own uid_map); an ordinary process of that user is dumpable.
  if (::prctl(PR_SET_DUMPABLE, 1) != 0) return ErrnoError("prctl", "PR_SET_DUMPABLE");
  return {};
}

namespace {
uint32_t ReadOverflow(const char* path) {
  auto text = ReadFile(path);
  return text ? static_cast<uint32_t>(std::strtoul(text->c_str(), nullptr, 10)) : 65534;
}
}  // namespace

uint32_t OverflowUid() { return ReadOverflow("/proc/sys/kernel/overflowuid"); }
uint32_t OverflowGid() { return ReadOverflow("/proc/sys/kernel/overflowgid"); }

}  // namespace ckc
