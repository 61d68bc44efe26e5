// LSM row (seed D "Linux Security Modules": SELinux and AppArmor; Documentation/admin-guide/LSM:
// /sys/kernel/security/lsm lists the active modules; Documentation/userspace-api/landlock.rst).
// The denial is Landlock's: the one LSM an unprivileged process can give a policy of its own, so
// the row needs no policy compiler and changes nothing on the host.
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <algorithm>
#include <sstream>

#include "ckc_test.h"
#include "landlock.h"
#include "mounts.h"
#include "seccomp_filter.h"

namespace ckc::test {
namespace {

constexpr const char* kLsmFile = "/sys/kernel/security/lsm";

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    while (!item.empty() && (item.back() == '\n' || item.back() == ' ')) item.pop_back();
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// securityfs/lsm from a securityfs mounted in a child's private mount namespace (needs root).
Result<std::string> ReadLsmFileInOwnMountNs() {
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

// The active LSMs and where the list came from: the host's securityfs if mounted, else
// lsm_list_modules(2) (6.8, unprivileged), else (as root) a securityfs of a private mount
// namespace. nullopt when none of them is available.
std::optional<std::pair<std::vector<std::string>, std::string>> ActiveLsmList() {
  if (auto text = ReadFile(kLsmFile)) return std::pair{SplitList(*text), std::string(kLsmFile)};
  if (auto ids = ListLsmModules()) return std::pair{*ids, std::string("lsm_list_modules(2)")};
  if (::geteuid() != 0) return std::nullopt;
  if (auto text = ReadLsmFileInOwnMountNs())
    return std::pair{SplitList(*text), std::string("securityfs in a private mount namespace")};
  return std::nullopt;
}

bool Listed(const std::vector<std::string>& list, const std::string& name) {
  return std::ranges::find(list, name) != list.end();
}

std::string Joined(const std::vector<std::string>& list) {
  return fmt::format("{}", fmt::join(list, ","));
}

// The active list is readable: needs:root where neither securityfs nor lsm_list_modules serve it.
Requirement LsmListReadable() {
  return {[]() -> std::optional<std::string> {
    if (ActiveLsmList()) return std::nullopt;
    return "needs:root (securityfs is not mounted and lsm_list_modules(2) is absent; mounting "
           "securityfs needs CAP_SYS_ADMIN)";
  }};
}

// An active LSM this row can make deny something: Landlock answering its ABI query. AppArmor and
// SELinux denials need a policy loaded into the host's kernel, which ckc does not do.
Requirement LsmAbleToDeny() {
  return {[]() -> std::optional<std::string> {
    auto abi = landlock::AbiVersion();
    if (abi) return std::nullopt;
    auto list = ActiveLsmList();
    std::string lsms = list ? Joined(list->first) : "unknown";
    if (list && Listed(list->first, "apparmor") && ::access("/sbin/apparmor_parser", X_OK) != 0 &&
        ::access("/usr/sbin/apparmor_parser", X_OK) != 0) {
      return fmt::format("lsm:apparmor-no-parser (Landlock: {}; active LSMs: {})",
                         abi.error().Message(), lsms);
    }
    if (list && (Listed(list->first, "apparmor") || Listed(list->first, "selinux"))) {
      return fmt::format(
          "lsm:policy-load-changes-host (Landlock: {}; active LSMs: {}; an "
          "AppArmor or SELinux denial needs a policy loaded into the host's kernel)",
          abi.error().Message(), lsms);
    }
    return fmt::format("lsm:none-able-to-deny (Landlock: {}; active LSMs: {})",
                       abi.error().Message(), lsms);
  }};
}

constexpr uint64_t kReadRights = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;

std::string OpenOutcome(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_RDONLY | O_CLOEXEC);
  std::string out = Outcome(fd);
  if (fd >= 0) ::close(fd);
  return out;
}

// In a child: reads outside `inside` once freely, then confines its reads to `inside` with a
// Landlock ruleset and reads inside and outside again.
int ConfineReadsTo(Channel& ch, const std::string& inside, const std::string& outside) {
  Observe(ch, "outside-before", OpenOutcome(outside + "/file", 0));
  CKC_CHILD_TRY(ruleset, landlock::CreateRuleset(kReadRights));
  CKC_CHILD_TRY(dir, OpenFile(inside, O_PATH | O_DIRECTORY));
  CKC_CHILD_CHECK(landlock::AddPathBeneath(ruleset, dir.get(), kReadRights));
  CKC_CHILD_CHECK(SetNoNewPrivs());
  CKC_CHILD_CHECK(landlock::RestrictSelf(ruleset));
  Observe(ch, "inside-file", OpenOutcome(inside + "/file", 0));
  Observe(ch, "inside-dir", OpenOutcome(inside, O_DIRECTORY));
  Observe(ch, "outside-file", OpenOutcome(outside + "/file", 0));
  Observe(ch, "outside-dir", OpenOutcome(outside, O_DIRECTORY));
  return 0;
}

TEST(Lsm, Active) {
  // Source: D "Linux Security Modules" ("The most popular ones are SELinux and AppArmor");
  // Documentation/admin-guide/LSM/index.rst (/sys/kernel/security/lsm); lsm_list_modules(2);
  // Documentation/userspace-api/landlock.rst (unprivileged rulesets, EACCES on denied access).
  // Negative control: lsm= without landlock skips (none-able-to-deny); a rule for outside/ fails.
  CKC_BEHAVIOUR("lsm.active", "D",
                "the kernel names its active security modules, the capability module among them, "
                "and an active module denies: a child confined by a Landlock ruleset to reading "
                "one directory is refused (EACCES) reads outside it and allowed those inside");
  CKC_REQUIRE(Config("CONFIG_SECURITY"), LsmListReadable(), LsmAbleToDeny());
  auto list = ActiveLsmList();
  CKC_ASSERT_SETUP(list.has_value()) << "the active LSM list went unreadable";
  const auto& [lsms, from] = *list;
  RecordProperty("lsms", Joined(lsms));
  EXPECT_TRUE(Listed(lsms, "capability"))
      << "the capability module is always active: " << from << " says `" << Joined(lsms) << "`";
  ASSERT_OK_AND_ASSIGN(int abi, landlock::AbiVersion());
  RecordProperty("landlock_abi", abi);
  EXPECT_TRUE(Listed(lsms, "landlock")) << "Landlock answers (ABI " << abi << ") but " << from
                                        << " does not list it: `" << Joined(lsms) << "`";

  std::string inside = TestDir() + "/landlock-inside", outside = TestDir() + "/landlock-outside";
  ASSERT_OK(MakeDirs(inside));
  ASSERT_OK(MakeDirs(outside));
  ASSERT_OK(WriteFileAtomic(inside + "/file", "in"));
  ASSERT_OK(WriteFileAtomic(outside + "/file", "out"));
  ASSERT_OK_AND_ASSIGN(
      ChildResult r, RunInChild([&](Channel& ch) { return ConfineReadsTo(ch, inside, outside); }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  CKC_ASSERT_SETUP(seen["outside-before"] == "ok")
      << "the outside file must be readable unconfined: " << seen["outside-before"];
  EXPECT_EQ(seen["outside-file"], "!EACCES") << "reading a file outside the allowed directory";
  EXPECT_EQ(seen["outside-dir"], "!EACCES") << "listing a directory outside the allowed one";
  EXPECT_EQ(seen["inside-file"], "ok") << "reading a file beneath the allowed directory";
  EXPECT_EQ(seen["inside-dir"], "ok") << "listing the allowed directory";
  for (const char* other : {"apparmor", "selinux"}) {
    if (Listed(lsms, other)) {
      RecordProperty(fmt::format("{}_denial", other),
                     "not exercised: lsm:policy-load-changes-host (the denial observed is "
                     "Landlock's)");
    }
  }
}

}  // namespace
}  // namespace ckc::test
