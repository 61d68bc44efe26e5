// LSM row (seed D "Linux Security Modules": SELinux and AppArmor; Documentation/admin-guide/LSM:
// /sys/kernel/security/lsm lists the active modules).
#include <sys/mount.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <sstream>

#include "ckc_test.h"
#include "mounts.h"

namespace ckc::test {
namespace {

constexpr const char* kLsmFile = "/sys/kernel/security/lsm";

// The active LSM list: from the host's securityfs if it is mounted, else from a securityfs
// mounted in a child's private mount namespace (needs root).
Result<std::string> ReadLsmList() {
  if (auto text = ReadFile(kLsmFile)) return *text;
  if (::geteuid() != 0) return Failure("read", kLsmFile, "securityfs not mounted and not root");
  std::string dir = TestDir() + "/securityfs";
  CKC_CHECK(MakeDirs(dir));
  CKC_TRY(r, RunInChild(
                 [&](Channel& ch) {
                   CKC_CHILD_CHECK(MakeRootPrivate());
                   CKC_CHILD_TRY(m, MountFs("securityfs", dir, "securityfs",
                                            MS_NOSUID | MS_NODEV | MS_NOEXEC));
                   CKC_CHILD_TRY(text, ReadFile(dir + "/lsm"));
                   Observe(ch, "lsm", text);
                   return 0;
                 },
                 CLONE_NEWNS));
  Observations seen = Parse(r);
  if (!r.status.Exited(0) || !seen.contains("lsm"))
    return Failure("read", "securityfs/lsm", r.Describe());
  return seen["lsm"];
}

bool Listed(const std::string& list, const std::string& name) {
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item == name) return true;
  }
  return false;
}

TEST(Lsm, Active) {
  // Source: D "Linux Security Modules" ("The most popular ones are SELinux and AppArmor");
  // Documentation/admin-guide/LSM/index.rst (/sys/kernel/security/lsm).
  CKC_BEHAVIOUR("lsm.active", "D",
                "the kernel names its active security modules in /sys/kernel/security/lsm, with "
                "the capability module always among them");
  CKC_REQUIRE(Config("CONFIG_SECURITY"));
  if (::geteuid() != 0 && ::access(kLsmFile, R_OK) != 0) {
    GTEST_SKIP() << "needs:root (securityfs is not mounted; mounting it needs CAP_SYS_ADMIN)";
  }
  ASSERT_OK_AND_ASSIGN(std::string lsms, ReadLsmList());
  RecordProperty("lsms", lsms);
  EXPECT_TRUE(Listed(lsms, "capability"))
      << "the capability module is always first: saw `" << lsms << "`";
  bool apparmor = Listed(lsms, "apparmor");
  bool selinux = Listed(lsms, "selinux");
  if (!apparmor && !selinux) GTEST_SKIP() << "lsm:none-active (active LSMs: " << lsms << ")";
  // A real denial needs a policy ckc controls (an AppArmor profile or SELinux module it loads);
  // the machines ckc runs on carry no policy compiler (apparmor_parser, checkpolicy).
  GTEST_SKIP() << "lsm:no-usable-policy (" << (apparmor ? "apparmor" : "selinux")
               << " is active but ckc has no policy of its own to load; active LSMs: " << lsms
               << ")";
}

}  // namespace
}  // namespace ckc::test
