// Requirements of the namespace, pidfd and clone3 rows beyond ckc_test.h's: an interface a
// primitive probes, a user namespace of the test's own (also as root), and running in the
// initial namespace of a type (where nesting depths are counted from).
//
//   CKC_REQUIRE(Interface("kernel:pidfd_getfd", ProbePidfdGetfd), OwnUserns(),
//               InInitialNs(NsType::kPid));
#pragma once

#include <unistd.h>

#include <fmt/format.h>
#include <cerrno>
#include <optional>
#include <string>

#include "ckc_test.h"
#include "namespaces.h"

namespace ckc::test {

// Met unless `probe` fails with an errno that says the kernel lacks the interface (ENOSYS, an
// unknown ioctl, a struct or flag it does not know); any other error leaves the call under test
// to fail on its own, since a probe must not turn a kernel failure into a skip.
inline Requirement Interface(std::string reason, Status (*probe)()) {
  return {[reason, probe]() -> std::optional<std::string> {
    auto st = probe();
    if (st) return std::nullopt;
    int err = st.error().err;
    if (err == ENOSYS || err == ENOTTY || err == EINVAL || err == E2BIG) {
      return fmt::format("{} ({})", reason, st.error().Message());
    }
    return std::nullopt;
  }};
}

// A user namespace the test creates even as root (rows whose setting lives in one): root needs
// the type and a non-zero user.max_user_namespaces; anyone else what RootOrUserns() checks.
inline Requirement OwnUserns() {
  return {[]() -> std::optional<std::string> {
    if (auto why = NamespaceType(NsType::kUser).probe()) return why;
    if (auto max = ReadSysctl("user.max_user_namespaces"); max && *max == "0") {
      return "sysctl:user.max_user_namespaces (is 0)";
    }
    return RootOrUserns().probe();
  }};
}

// The test runs in the initial namespace of `type` (its fixed inode), so a depth counted from
// the caller is the depth below the initial namespace.
inline Requirement InInitialNs(NsType type) {
  return {[type]() -> std::optional<std::string> {
    auto id = NsIdOf(::getpid(), type);
    if (id && id->ino == InitialNsInode(type)) return std::nullopt;
    return fmt::format(
        "needs:initial-{0}-namespace (the test runs in a nested {0} namespace of unknown depth)",
        NsName(type));
  }};
}

}  // namespace ckc::test
