// LSM row (seed D "Linux Security Modules": SELinux and AppArmor; Documentation/admin-guide/LSM:
// /sys/kernel/security/lsm lists the active modules; Documentation/userspace-api/landlock.rst).
// The denial is Landlock's where the kernel has it: the one LSM an unprivileged process can give
// a policy of its own, so the row needs no policy compiler and changes nothing on the host.
// Without Landlock (before 5.13) it is AppArmor's, only on a machine that lives for one run
// (CKC_DISPOSABLE_MACHINE=1, the VM guests): loading a profile changes the kernel's state.
#include <fcntl.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>
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

std::optional<std::string> ApparmorParser() {
  for (const char* path : {"/usr/sbin/apparmor_parser", "/sbin/apparmor_parser"}) {
    if (::access(path, X_OK) == 0) return path;
  }
  return std::nullopt;
}

bool DisposableMachine() {
  const char* v = std::getenv("CKC_DISPOSABLE_MACHINE");
  return v != nullptr && std::string_view(v) == "1";
}

// Which module the row makes deny: "landlock" (its ABI answers) or "apparmor" (active, its parser
// present, on a disposable machine); else the skip reason.
Result<std::string> Denier() {
  auto abi = landlock::AbiVersion();
  if (abi) return std::string("landlock");
  auto list = ActiveLsmList();
  std::string lsms = list ? Joined(list->first) : "unknown";
  bool apparmor = list && Listed(list->first, "apparmor");
  if (apparmor && ApparmorParser() && DisposableMachine() && ::geteuid() == 0)
    return std::string("apparmor");
  if (apparmor && !ApparmorParser()) {
    return Failure("", "", fmt::format("lsm:apparmor-no-parser (Landlock: {}; active LSMs: {})",
                                       abi.error().Message(), lsms));
  }
  if (list && (Listed(list->first, "apparmor") || Listed(list->first, "selinux"))) {
    return Failure("", "",
                   fmt::format("lsm:policy-load-changes-host (Landlock: {}; active LSMs: {}; an "
                               "AppArmor or SELinux denial needs a policy loaded into the "
                               "kernel, done only where CKC_DISPOSABLE_MACHINE=1 and as root)",
                               abi.error().Message(), lsms));
  }
  return Failure("", "", fmt::format("lsm:none-able-to-deny (Landlock: {}; active LSMs: {})",
                                     abi.error().Message(), lsms));
}

// An active LSM this row can make deny something (Denier).
Requirement LsmAbleToDeny() {
  return {[]() -> std::optional<std::string> {
    auto denier = Denier();
    if (denier) return std::nullopt;
    return denier.error().detail;
  }};
}

// Runs apparmor_parser with `args`; its output goes to `log`. Ok when it exits 0.
Status RunParser(const std::vector<std::string>& args, const std::string& log) {
  auto parser = ApparmorParser();
  if (!parser) return Failure("apparmor_parser", "", "not found");
  std::vector<std::string> argv{*parser};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> raw;
  for (auto& a : argv) raw.push_back(a.data());
  raw.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, raw[0], &actions, nullptr, raw.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    errno = rc;
    return ErrnoError("posix_spawn", *parser);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return ErrnoError("waitpid", *parser);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  auto out = ReadFile(log);
  return Failure(fmt::format("{} {}", *parser, fmt::join(args, " ")), log,
                 fmt::format("exit status {:#x}: {}", status, out ? *out : "no output"));
}

// An AppArmor profile allowing everything but reads under `outside`, loaded for the test's
// lifetime (removed again on destruction).
class DenyingProfile {
 public:
  static Result<DenyingProfile> Load(const std::string& dir, const std::string& outside) {
    DenyingProfile p;
    p.name_ = fmt::format("ckc-lsm-active-{}", ::getpid());
    p.file_ = dir + "/" + p.name_;
    p.log_ = dir + "/apparmor_parser.log";
    CKC_CHECK(WriteFileAtomic(
        p.file_, fmt::format("profile {} flags=(attach_disconnected) {{\n"
                             "  file,\n  capability,\n  network,\n  signal,\n  unix,\n"
                             "  deny {}/ r,\n  deny {}/** r,\n}}\n",
                             p.name_, outside, outside)));
    CKC_CHECK(RunParser({"--skip-cache", "-r", p.file_}, p.log_));
    p.loaded_ = true;
    return p;
  }
  DenyingProfile() = default;
  DenyingProfile(DenyingProfile&& o) noexcept
      : name_(std::move(o.name_)), file_(std::move(o.file_)), log_(std::move(o.log_)),
        loaded_(std::exchange(o.loaded_, false)) {}
  DenyingProfile& operator=(DenyingProfile&&) = delete;
  ~DenyingProfile() {
    if (loaded_) (void)RunParser({"--skip-cache", "-R", file_}, log_);
  }
  [[nodiscard]] const std::string& name() const { return name_; }

 private:
  std::string name_, file_, log_;
  bool loaded_ = false;
};

// In a child: switches the calling process to AppArmor profile `name` (change_profile through
// procfs: the per-LSM attr/apparmor/current where the kernel has it, else attr/current).
Status ChangeProfile(const std::string& name) {
  std::string request = "changeprofile " + name;
  auto st = WriteFile("/proc/thread-self/attr/apparmor/current", request);
  if (!st && st.error().err == ENOENT) st = WriteFile("/proc/thread-self/attr/current", request);
  return st;
}

constexpr uint64_t kReadRights = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;

std::string OpenOutcome(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_RDONLY | O_CLOEXEC);
  std::string out = Outcome(fd);
  if (fd >= 0) ::close(fd);
  return out;
}

// In a child: reads outside `inside` once freely, then confines its reads to `inside` (a
// Landlock ruleset, or the AppArmor profile `profile` when not empty) and reads inside and
// outside again.
int ConfineReadsTo(Channel& ch, const std::string& inside, const std::string& outside,
                   const std::string& profile) {
  Observe(ch, "outside-before", OpenOutcome(outside + "/file", 0));
  if (profile.empty()) {
    CKC_CHILD_TRY(ruleset, landlock::CreateRuleset(kReadRights));
    CKC_CHILD_TRY(dir, OpenFile(inside, O_PATH | O_DIRECTORY));
    CKC_CHILD_CHECK(landlock::AddPathBeneath(ruleset, dir.get(), kReadRights));
    CKC_CHILD_CHECK(SetNoNewPrivs());
    CKC_CHILD_CHECK(landlock::RestrictSelf(ruleset));
  } else {
    CKC_CHILD_CHECK(ChangeProfile(profile));
  }
  Observe(ch, "inside-file", OpenOutcome(inside + "/file", 0));
  Observe(ch, "inside-dir", OpenOutcome(inside, O_DIRECTORY));
  Observe(ch, "outside-file", OpenOutcome(outside + "/file", 0));
  Observe(ch, "outside-dir", OpenOutcome(outside, O_DIRECTORY));
  return 0;
}

TEST(Lsm, Active) {
  // Source: D "Linux Security Modules" ("The most popular ones are SELinux and AppArmor");
  // Documentation/admin-guide/LSM/index.rst (/sys/kernel/security/lsm); lsm_list_modules(2);
  // Documentation/userspace-api/landlock.rst (unprivileged rulesets, EACCES on denied access);
  // apparmor.d(5) deny rules, aa_change_profile(3) (the procfs "changeprofile" request).
  // Negative control: lsm= without landlock or apparmor skips (none-able-to-deny); a rule that
  // allows outside/ (a Landlock rule for it, no deny line in the profile) fails.
  CKC_BEHAVIOUR("lsm.active", "D",
                "the kernel names its active security modules, the capability module among them, "
                "and an active module denies: a child confined (by a Landlock ruleset, else by an "
                "AppArmor profile) to reading one directory is refused (EACCES) reads outside it "
                "and allowed those inside");
  CKC_REQUIRE(Config("CONFIG_SECURITY"), LsmListReadable(), LsmAbleToDeny());
  auto list = ActiveLsmList();
  CKC_ASSERT_SETUP(list.has_value()) << "the active LSM list went unreadable";
  const auto& [lsms, from] = *list;
  RecordProperty("lsms", Joined(lsms));
  EXPECT_TRUE(Listed(lsms, "capability"))
      << "the capability module is always active: " << from << " says `" << Joined(lsms) << "`";
  ASSERT_OK_AND_ASSIGN(std::string denier, Denier());
  RecordProperty("denier", denier);
  EXPECT_TRUE(Listed(lsms, denier))
      << denier << " is usable but " << from << " does not list it: `" << Joined(lsms) << "`";
  if (denier == "landlock") {
    ASSERT_OK_AND_ASSIGN(int abi, landlock::AbiVersion());
    RecordProperty("landlock_abi", abi);
  }

  std::string inside = TestDir() + "/lsm-inside", outside = TestDir() + "/lsm-outside";
  ASSERT_OK(MakeDirs(inside));
  ASSERT_OK(MakeDirs(outside));
  ASSERT_OK(WriteFileAtomic(inside + "/file", "in"));
  ASSERT_OK(WriteFileAtomic(outside + "/file", "out"));
  std::optional<DenyingProfile> profile;
  if (denier == "apparmor") {
    ASSERT_OK_AND_ASSIGN(DenyingProfile loaded, DenyingProfile::Load(TestDir(), outside));
    profile.emplace(std::move(loaded));
  }
  std::string name = profile ? profile->name() : "";
  ASSERT_OK_AND_ASSIGN(ChildResult r, RunInChild([&](Channel& ch) {
                         return ConfineReadsTo(ch, inside, outside, name);
                       }));
  ASSERT_TRUE(r.status.Exited(0)) << r.Describe();
  Observations seen = Parse(r);
  CKC_ASSERT_SETUP(seen["outside-before"] == "ok")
      << "the outside file must be readable unconfined: " << seen["outside-before"];
  EXPECT_EQ(seen["outside-file"], "!EACCES")
      << denier << ": reading a file outside the allowed directory";
  EXPECT_EQ(seen["outside-dir"], "!EACCES")
      << denier << ": listing a directory outside the allowed one";
  EXPECT_EQ(seen["inside-file"], "ok")
      << denier << ": reading a file beneath the allowed directory";
  EXPECT_EQ(seen["inside-dir"], "ok") << denier << ": listing the allowed directory";
  for (const char* other : {"apparmor", "selinux"}) {
    if (Listed(lsms, other) && denier != other) {
      RecordProperty(fmt::format("{}_denial", other),
                     fmt::format("not exercised (the denial observed is {}'s)", denier));
    }
  }
}

}  // namespace
}  // namespace ckc::test
